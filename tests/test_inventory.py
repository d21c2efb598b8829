"""Inventory import on a real SQLite file: preview of adds/changes/removals, the four kinds of problems, nothing
applied until they are resolved or accepted, one transaction, effective-dated changes and the history."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from anatole.cli import main
from store import open_store
from store.inventory import open_inventory
from tem.inventory import InventoryError, apply, normalise_service, preview, read_csv

CENTRES = "code,name,parent,budget\nHQ,Head office,,\nSALES,Sales,HQ,1000.50\nOPS,Ops,HQ,\n"
GOOD = ("Employee ID;Full Name;Email;Cost Center;Site;Extension\n"
        "E1;Ann;ann@example.com;SALES;paris;1001\n"
        "E2;Bob;bob@example.com;OPS;paris;1002, 1003\n")
BAD = ("Employee ID,Full Name,Cost Center,Site,Extension,From,To\n"
       "E1,Ann,SALES,paris,1001,2026-01-01,\n"
       "E2,Bob,NOPE,paris,1001,2026-01-01,\n"          # unknown cost centre, extension already Ann's
       "E3,Cid,,paris,1005,2026-01-01,\n"              # no cost centre
       "E4,Dan,OPS,paris,1006,2026-01-01,2026-06-01\n"
       "E4,Dan,SALES,paris,1006,2026-05-01,\n")        # overlaps the row above


def run(ws: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--workspace", str(ws), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    (tmp_path / "anatole.toml").write_text('[workspace]\ncurrency = "EUR"\n')
    (tmp_path / "cc.csv").write_text(CENTRES)
    code, out = run(tmp_path, "inventory", "import", "-k", "cost-centres", str(tmp_path / "cc.csv"), "--apply",
                    "--effective", "2026-01-01")
    assert code == 0, out
    return tmp_path


def count(ws: Path) -> tuple[int, int]:
    store = open_store(ws / "anatole.db")
    inv = open_inventory(store.conn)
    out = inv.count(), len(inv.history())
    store.close()
    return out


def test_preview_then_apply(ws: Path) -> None:
    (ws / "people.csv").write_text(GOOD)
    before = count(ws)
    code, out = run(ws, "inventory", "import", str(ws / "people.csv"), "--effective", "2026-02-01", "--json")
    obj = json.loads(out)
    assert code == 0 and not obj["applied"] and obj["problems"] == []
    assert [(a["kind"], a["key"]) for a in obj["adds"]] == [
        ("person", "E1"), ("extension", "paris/1001"), ("person", "E2"), ("extension", "paris/1002"),
        ("extension", "paris/1003")]
    assert count(ws) == before  # a preview writes nothing
    code, out = run(ws, "inventory", "import", str(ws / "people.csv"), "--effective", "2026-02-01", "--apply")
    assert code == 0 and "applied as batch" in out
    assert count(ws)[0] == before[0] + 5
    # the same file again changes nothing
    code, out = run(ws, "inventory", "import", str(ws / "people.csv"), "--effective", "2026-02-01", "--json")
    obj = json.loads(out)
    assert obj["adds"] == obj["changes"] == obj["removals"] == [] and obj["unchanged"] == 5


def test_move_mid_month_and_removal_are_effective_dated(ws: Path) -> None:
    (ws / "people.csv").write_text(GOOD)
    run(ws, "inventory", "import", str(ws / "people.csv"), "--effective", "2026-02-01", "--apply")
    moved = GOOD.replace("E1;Ann;ann@example.com;SALES", "E1;Ann;ann@example.com;OPS").replace(
        "E2;Bob;bob@example.com;OPS;paris;1002, 1003\n", "")
    (ws / "people2.csv").write_text(moved)
    code, out = run(ws, "inventory", "import", str(ws / "people2.csv"), "--effective", "2026-03-16", "--json")
    obj = json.loads(out)
    assert [(c["key"], c["before"]["cost_centre"], c["fields"]["cost_centre"]) for c in obj["changes"]] == [
        ("E1", "SALES", "OPS")]
    assert sorted(r["key"] for r in obj["removals"]) == ["E2", "paris/1002", "paris/1003"]
    code, out = run(ws, "inventory", "import", str(ws / "people2.csv"), "--effective", "2026-03-16", "--apply")
    assert code == 0, out
    code, out = run(ws, "inventory", "show", "E1", "--json")
    shown = json.loads(out)
    assert [(v["from"], v["to"], v["cost_centre"]) for v in shown["versions"]] == [
        ("2026-02-01", "2026-03-16", "SALES"), ("2026-03-16", None, "OPS")]
    assert [h["action"] for h in shown["history"]] == ["change", "add"]
    assert shown["history"][0]["before"]["cost_centre"] == "SALES"
    code, out = run(ws, "inventory", "list", "--at", "2026-03-01", "--kind", "person", "--json")
    assert [json.loads(line)["key"] for line in out.splitlines()] == ["E1", "E2"]
    code, out = run(ws, "inventory", "list", "--at", "2026-04-01", "--kind", "person", "--json")
    assert [json.loads(line)["key"] for line in out.splitlines()] == ["E1"]


def test_problems_block_until_accepted(ws: Path) -> None:
    (ws / "bad.csv").write_text(BAD)
    before = count(ws)
    code, out = run(ws, "inventory", "import", str(ws / "bad.csv"), "--json")
    obj = json.loads(out)
    assert sorted((p["line"], p["code"]) for p in obj["problems"]) == [
        (3, "duplicate_extension"), (3, "unknown_cost_centre"), (4, "no_cost_centre"), (6, "overlapping_dates")]
    code, out = run(ws, "inventory", "import", str(ws / "bad.csv"), "--apply")
    assert code == 1 and "4 problem(s)" in out and "nothing applied" in out
    assert count(ws) == before
    code, out = run(ws, "inventory", "import", str(ws / "bad.csv"), "--apply", "--accept")
    assert code == 0, out
    store = open_store(ws / "anatole.db")
    inv = open_inventory(store.conn)
    # the first holder keeps the extension; the overlapping later row is skipped; the rest is stored as given
    assert [r["person"] for r in inv.items("extension", key="paris/1001")] == ["E1"]
    assert [(r["valid_from"], r["cost_centre"]) for r in inv.items("person", key="E4")] == [("2026-01-01", "OPS")]
    assert inv.items("person", key="E2")[0]["cost_centre"] == "NOPE"
    assert json.loads(inv.batches()[-1]["accepted"])[0]["code"] in ("duplicate_extension", "unknown_cost_centre")
    store.close()


def test_bad_values_cannot_be_accepted_and_nothing_is_half_applied(ws: Path) -> None:
    (ws / "bad.csv").write_text("id,name,cost centre,from\nE1,Ann,SALES,2026-01-01\nE2,Bob,OPS,2026-13-01\n")
    before = count(ws)
    code, out = run(ws, "inventory", "import", str(ws / "bad.csv"), "--apply", "--accept")
    assert code == 1 and "line 3" in out and "'2026-13-01' is not a date" in out
    assert count(ws) == before
    (ws / "nokey.csv").write_text("name,cost centre\nAnn,SALES\n")
    code, out = run(ws, "inventory", "import", str(ws / "nokey.csv"))
    assert code == 1 and "no key column for person" in out


def test_apply_is_one_transaction(ws: Path) -> None:
    store = open_store(ws / "anatole.db")
    inv = open_inventory(store.conn)
    p = preview(inv, GOOD.encode(), "person", "people.csv", effective="2026-02-01")
    p.operations.append({"op": "set", "kind": "person", "key": "E9", "valid_from": None, "fields": {}})
    before = inv.count(), len(inv.batches())
    with pytest.raises(sqlite3.IntegrityError):
        apply(inv, p, actor="test")
    assert (inv.count(), len(inv.batches())) == before
    store.close()


def test_cost_centre_loops_are_refused(ws: Path) -> None:
    store = open_store(ws / "anatole.db")
    inv = open_inventory(store.conn)
    p = preview(inv, b"code,parent\nHQ,OPS\n", "cost_centre", "loop.csv", effective="2026-02-01", partial=True)
    assert [x.code for x in p.problems] == ["bad_value"] and "loop back" in p.problems[0].message
    with pytest.raises(InventoryError):
        apply(inv, p, accept=True)
    store.close()


def test_service_identifiers() -> None:
    assert normalise_service("+33 (0)6.12-34") == "330612" + "34"
    assert normalise_service(" CKT-12/AB ") == "CKT-12/AB"


def test_absent_columns_keep_the_stored_values(ws: Path) -> None:
    (ws / "people.csv").write_text(GOOD)
    run(ws, "inventory", "import", str(ws / "people.csv"), "--effective", "2026-02-01", "--apply")
    (ws / "cc-only.csv").write_text("id,cost centre\nE1,OPS\nE2,OPS\n")
    code, out = run(ws, "inventory", "import", str(ws / "cc-only.csv"), "--effective", "2026-03-01", "--json")
    obj = json.loads(out)
    assert [(c["key"], c["fields"]["email"], c["fields"]["cost_centre"]) for c in obj["changes"]] == [
        ("E1", "ann@example.com", "OPS")]
    assert obj["removals"] == [] and obj["unchanged"] == 1  # extensions are left as they are


@given(st.binary(max_size=300))
def test_any_bytes_read_or_fail_cleanly(data: bytes) -> None:
    try:
        versions, problems, rows = read_csv(data, "person", "x.csv", effective="2026-01-01")
    except InventoryError as exc:
        assert "x.csv" in str(exc)
        return
    assert rows >= len({v.line for v in versions})
    assert all(p.code == "bad_value" for p in problems)
