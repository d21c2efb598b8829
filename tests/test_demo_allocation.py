"""The demo's inventory and allocation (anatole/demo/inventory.py): the inventory goes in through the import path a
user runs, every planted invoice error is found, and `anatole allocate` on the demo workspace assigns the month's
costs so that they add up exactly, to the 10**-8 unit, to the invoices' charges plus the billed rated calls,
counted here straight from the store; the person who moves department mid-month has their calls split at the date."""

from __future__ import annotations

import datetime as dt
import io
import json
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from rich.console import Console

from anatole.cli import main
from anatole.config import open_workspace
from anatole.demo import calls as demo
from anatole.demo import inventory as demoinventory
from engine.money import SCALE, format_exact, parse_money
from store import open_store
from store.inventory import open_inventory
from store.invoices import open_invoices

MONTH = "2026-10"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A smaller demo than the default (another seed, half the calls), then the month's costs from the store."""
    path = tmp_path_factory.mktemp("demo-allocation") / "ws"
    summary = demo.run_demo(path, seed=3, scale=0.5)
    ws = open_workspace(path)
    store = open_store(ws.db_path)
    try:
        calls = [r for r in store.calls() if r["billed"] == 1 and r["cost"] is not None]
        istore = open_invoices(store.conn)
        charges = [(inv["currency"], c) for inv in istore.invoices() for c in istore.charges(inv["id"])]
        inventory = open_inventory(store.conn)
        batches = inventory.batches()
        run_row = inventory.latest_run(MONTH)
        run_lines = inventory.run_lines(run_row["id"])
    finally:
        store.close()
    return {"path": path, "ws": ws, "summary": summary, "calls": calls, "charges": charges, "batches": batches,
            "run": run_row, "run_lines": run_lines}


def cli(path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--workspace", str(path), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def month_costs(run: dict) -> tuple[dict[str, int], dict[str, int]]:
    """(invoice charges, billed rated calls) of the month per currency, summed from the stored rows."""
    invoices: dict[str, int] = {}
    for cur, c in run["charges"]:
        if c["status_code"] not in ("GROUP", "INFORMATION"):
            invoices[cur] = invoices.get(cur, 0) + c["amount"]
    calls: dict[str, int] = {}
    for c in run["calls"]:
        local = dt.datetime.fromtimestamp(c["start"], ZoneInfo(run["ws"].sites[c["site"]].timezone))
        if local.strftime("%Y-%m") == MONTH:
            calls[c["currency"]] = calls.get(c["currency"], 0) + c["cost"]
    return invoices, calls


def test_allocate_json_adds_up_exactly_to_the_invoices_plus_the_rated_calls(run: dict) -> None:
    code, out = cli(run["path"], "allocate", "--json", "--dry-run")  # the latest month with data: the demo's
    assert code == 0, out
    got = json.loads(out)
    assert got["period"] == MONTH and got["currency"] == "EUR"
    invoices, calls = month_costs(run)
    assert set(invoices) == {"EUR", "USD"} and set(calls) == {"EUR", "GBP", "USD"}
    # in each currency, to the 10**-8 unit
    assert {k: parse_money(v) for k, v in got["original_currencies"].items()} == {
        cur: invoices.get(cur, 0) + calls.get(cur, 0) for cur in calls}
    # converted at the demo's exchange rates (exact decimals): the total is the exact sum
    rates = {"EUR": Fraction(1), **{k: Fraction(parse_money(v), SCALE)
                                    for k, v in demoinventory.EXCHANGE_RATES.items()}}
    expected = sum(rates[cur] * (invoices.get(cur, 0) + calls.get(cur, 0)) for cur in calls)
    assert expected.denominator == 1 and parse_money(got["total"]) == expected
    total, allocated, unassigned = (parse_money(got[k]) for k in ("total", "allocated", "unassigned"))
    assert allocated + unassigned == total
    assert sum(parse_money(v) for v in got["by_cost_centre"].values()) == allocated
    # the one cost nobody pays for: the rental billed on the cancelled line (the audit's LINE-INACTIVE)
    assert unassigned == parse_money("29.90")
    assert list(got["unassigned_reasons"]) == ["line 33199000199 is not in the inventory on 2026-10-01"]
    # every cost centre of the hierarchy rolls up to the company
    assert parse_money(got["rollup"]["CORP"]) == allocated
    assert set(got["by_cost_centre"]) == {"SALES-EU", "SALES-US", "OPS-EU", "OPS-US", "FIN", "IT"}


def test_the_demo_stores_the_same_allocation_and_says_it_adds_up(run: dict) -> None:
    a = run["summary"]["allocation"]
    assert a["check"] == {**a["check"], "in_each_currency": True, "converted": True, "adds_up": True}
    code, out = cli(run["path"], "allocate", "--period", MONTH, "--json", "--dry-run")
    assert code == 0, out
    got = json.loads(out)
    for key in ("total", "allocated", "unassigned", "by_cost_centre", "rollup"):
        assert a[key] == got[key], key
    assert (run["run"]["id"], format_exact(run["run"]["total"])) == (a["run"], a["total"])
    assert format_exact(sum(line["amount"] for line in run["run_lines"])) == a["total"]
    invoices, calls = month_costs(run)
    assert a["check"]["invoices"] == {k: format_exact(v) for k, v in sorted(invoices.items())}
    assert a["check"]["rated_calls"] == {k: format_exact(v) for k, v in sorted(calls.items())}


def test_the_mover_is_split_at_the_date(run: dict) -> None:
    move = run["summary"]["inventory"]["move"]
    assert (move["from"], move["to"], move["date"]) == ("OPS-EU", "SALES-EU", "2026-10-16")
    site, ext = move["extension"].split("/")
    zone = ZoneInfo(run["ws"].sites[site].timezone)
    moved = dt.datetime(2026, 10, 16, tzinfo=zone).timestamp()
    before = sum(c["cost"] for c in run["calls"] if c["site"] == site and c["extension"] == ext
                 and c["start"] < moved)
    after = sum(c["cost"] for c in run["calls"] if c["site"] == site and c["extension"] == ext
                and c["start"] >= moved)
    assert before > 0 and after > 0
    assert run["summary"]["allocation"]["move"]["calls"] == {"OPS-EU": format_exact(before),
                                                             "SALES-EU": format_exact(after)}
    lines = [line for line in run["run_lines"] if line["person"] == move["person"]]
    assert {line["cost_centre"] for line in lines} == {"OPS-EU", "SALES-EU"}


def test_every_planted_error_is_found(run: dict) -> None:
    inv = run["summary"]["invoices"]
    assert {p["error"] for p in inv["planted"]} == {"duplicate charge", "charge on a cancelled line",
                                                     "rate overcharge", "calls never made"}
    for p in inv["planted"]:
        assert p["found"] and p["lines"] > 0 and parse_money(p["at_stake"]) > 0, p
    assert inv["unexplained"] == []


def test_the_inventory_went_in_through_the_import_path(run: dict) -> None:
    batches = run["batches"]
    assert [(b["kind"], Path(b["file"]).name, b["actor"]) for b in batches] == [
        ("cost_centre", "cost-centres.csv", "anatole demo"), ("contract", "contracts.csv", "anatole demo"),
        ("person", "people.csv", "anatole demo"), ("line", "lines.csv", "anatole demo")]
    assert all(json.loads(b["accepted"]) == [] for b in batches)  # nothing had to be accepted
    # the files and the store agree: importing them again (a preview) changes nothing
    for kind, name in (("cost-centres", "cost-centres.csv"), ("contracts", "contracts.csv"),
                       ("people", "people.csv"), ("lines", "lines.csv")):
        code, out = cli(run["path"], "inventory", "import", "-k", kind, str(run["path"] / "inventory" / name),
                        "--effective", "2026-10-01", "--json")
        assert code == 0, out
        preview = json.loads(out)
        assert (preview["adds"], preview["changes"], preview["removals"], preview["problems"]) == ([], [], [], [])
    items = run["summary"]["inventory"]["items"]
    assert items["cost_centre"] == len(demoinventory.COST_CENTRES) and items["line"] == 7
    assert items["person"] == items["extension"] == sum(s["extensions"] for s in run["summary"]["sites"])


def test_the_summary_shows_the_allocation_in_80_columns(run: dict) -> None:
    out = io.StringIO()
    demo.render_summary(run["summary"], Console(file=out, width=80, force_terminal=False, color_system=None))
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    a = run["summary"]["allocation"]
    for needle in ("Allocation of October 2026", "SALES-EU Sales Europe", "unassigned", "Exact:",
                   "line 33199000199 is not in the inventory", a["move"]["person"]):
        assert needle in text, needle
    assert "Does not add up" not in text
