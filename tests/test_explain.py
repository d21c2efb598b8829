"""`import cdr --explain` and `imports explain ID`: what an import stored, computed from the store by import id
(a real SQLite file), with warnings an administrator can act on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_import_cdr import SAMPLES, make_workspace

from anatole.cli import main
from anatole.config import open_workspace
from store import CALL_COLUMNS, open_store
from store.explain import INDEX, explain, explain_import, import_facts, percent, text_lines


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return make_workspace(tmp_path)


def run(workspace: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--workspace", str(workspace), *args])
    return result.exit_code, result.output


@pytest.mark.parametrize(("part", "whole", "want"), [
    (0, 0, 0), (0, 7, 0), (7, 7, 100), (1, 7, 14), (1, 8, 13),  # 12.5 rounds half up
    (1, 1000, 1), (999, 1000, 99),  # some but not all: never 0 % or 100 %
    (5, 200, 3), (1, 200, 1),
])
def test_percent(part: int, whole: int, want: int) -> None:
    assert percent(part, whole) == want


def test_import_with_explain(workspace: Path) -> None:
    code, out = run(workspace, "import", "cdr", str(workspace / "smdr.txt"), "--explain", "--json")
    assert code == 0, out
    got = json.loads(out)
    e = got["explain"]
    assert e["import"]["id"] == got["import_id"] and e["calls"] == got["calls"] == 6
    assert e["extension"] == {"calls": 6, "share": 100, "outgoing": 2, "outgoing_calls": 2, "outgoing_share": 100}
    assert e["directions"] == {"incoming": 3, "outgoing": 2, "internal": 1}
    assert e["statuses"] == got["statuses"] == {"incoming": 3, "rated": 2, "internal": 1}
    assert e["unpriced"] == [] and e["sites"] == ["paris"]
    assert e["warnings"] == ["14 % rejected (1 of 7 records; fields (1)): see `anatole rejects --source paris-ipo`"]
    code, out = run(workspace, "import", "cdr", str(workspace / "smdr.txt"), "--explain")
    assert code == 0
    assert "nothing new: all 6 records were already stored" in out


def test_an_old_import_is_explained_from_the_store(workspace: Path) -> None:
    run(workspace, "import", "cdr", str(workspace / "smdr.txt"))
    (workspace / "smdr.txt").unlink()  # not re-parsed: the store is enough
    code, out = run(workspace, "imports", "list", "--json")
    assert code == 0 and json.loads(out.splitlines()[0])["id"] == 1
    code, out = run(workspace, "imports", "explain", "1")
    assert code == 0, out
    assert "extension: 6 of 6 calls (100 %); outgoing 2 of 2 (100 %)" in out
    assert "direction: incoming 3 · outgoing 2 · internal 1" in out and "14 % rejected" in out
    code, out = run(workspace, "imports", "explain", "1", "--json")
    assert json.loads(out)["calls"] == 6
    code, out = run(workspace, "imports", "explain", "42")
    assert code == 1 and "no import with id 42" in out and "Traceback" not in out


# --- the analysis on stored calls made for it --------------------------------------------------------------


def _row(i: int, **kw: object) -> tuple:
    row = dict.fromkeys(CALL_COLUMNS)
    row.update(source="pbx", site="paris", import_id=1, line=i, native_id=str(i), leg="", grp="", start=1000 + i,
               duration=60, billable=60, direction="outgoing", disposition="answered", number_kind="external",
               billed=1, status="rated", extension="", dialled="", number=None)
    row.update(kw)
    return tuple(row[c] for c in CALL_COLUMNS)


def _store(tmp_path: Path, rows: list[tuple], *, rules: list[str] | None = None, rejected: int = 0):
    store = open_store(tmp_path / "anatole.db")
    import_id = store.begin_import("pbx", "Master.csv", "0" * 64, 1, "asterisk")
    store.insert_calls(rows)
    store.insert_rejects([("pbx", import_id, "Master.csv", "0" * 64, 900 + k, "x", "columns: 3 fields")
                          for k in range(rejected)])
    store.finish_import(import_id, {"read": len(rows) + rejected, "calls": len(rows), "rejected": rejected,
                                    "duplicates": 0, "skipped": 0})
    if rules is not None:
        columns = {r[1] for r in store.conn.execute("PRAGMA table_info(calls)")}
        if "direction_rule" not in columns:  # stores older than the direction rules
            store.conn.execute("ALTER TABLE calls ADD COLUMN direction_rule TEXT")
        for i, rule in enumerate(rules, 1):
            store.conn.execute("UPDATE calls SET direction_rule = ? WHERE line = ?", (rule, i))
        store.conn.commit()
    return store


def test_warnings_a_new_administrator_can_act_on(tmp_path: Path) -> None:
    rows = ([_row(i, number=f"3491{i:07d}", dialled=f"0034910{i:06d}", status="no_rate", tariff="fr.toml")
             for i in range(1, 41)]  # Spain is missing from the tariff
            + [_row(i, number=f"44207{i:07d}", status="no_rate", tariff="fr.toml") for i in range(41, 44)]
            + [_row(i, number="33155501234", status="rated", tariff="fr.toml", cost=10) for i in range(44, 54)]
            + [_row(54, dialled="901", status="invalid"), _row(55, dialled="901", status="invalid"),
               _row(56, number="33612345678", status="no_tariff", trunk="trunk-b")]
            + [_row(i, direction="incoming", status="incoming", number="33155507788") for i in range(57, 61)])
    rules = ["context"] * 41 + ["trunk_channel"] * 15 + ["trunk_channel"] * 4
    store = _store(tmp_path, rows, rules=rules, rejected=2)
    e = explain_import(store, 1)
    assert e is not None
    assert e["extension"] == {"calls": 0, "share": 0, "outgoing": 0, "outgoing_calls": 56, "outgoing_share": 0}
    assert e["rules"] == {"context": 41, "trunk_channel": 19}
    assert e["unpriced"][:3] == [{"number": "901", "status": "invalid", "calls": 2},  # most calls, then by number
                                 {"number": "33612345678", "status": "no_tariff", "calls": 1},
                                 {"number": "34910000001", "status": "no_rate", "calls": 1}]
    assert len(e["unpriced"]) == 10
    w = e["warnings"]
    assert w[0].startswith("0 % of calls have an extension") and "`extensions = [...]` in [[site]] 'paris'" in w[0] \
        and "`internal_channels` in [[source]] 'pbx'" in w[0]
    assert w[1] == ("41 call(s) were classified by context name only: so that channels decide, set `trunk_channels` "
                    "and `internal_channels` in [[source]] 'pbx'")
    assert w[2] == ("77 % of outgoing calls are no_rate (43): the tariff fr.toml lacks prefixes for "
                    "+34 (Spain: 40), +44 (United Kingdom: 3)")
    assert w[3] == "1 outgoing call(s) have no tariff: set `tariff = ...` in [[site]] 'paris' (or `trunk_tariffs` " \
        "for trunk-b)"
    assert w[4].startswith("4 % of outgoing calls (2) have numbers that cannot be dialled") is False  # under 5 %
    assert w[4] == "3 % rejected (2 of 62 records; columns (2)): see `anatole rejects --source pbx`"
    lines = text_lines(e)
    assert "decided by: trunk_channel 19 · context 41" not in lines and "decided by: context 41 · trunk_channel 19" \
        in lines
    assert any(line.startswith("! 0 % of calls have an extension") for line in lines)


def test_a_pbx_seen_with_no_outgoing_calls(tmp_path: Path) -> None:
    rows = [_row(i, direction="incoming", status="incoming", extension="100", number="34911234567")
            for i in range(1, 13)]
    e = explain_import(_store(tmp_path, rows), 1)
    assert e is not None and e["rules"] is None or e["rules"] == {"(none)": 12}
    assert e["warnings"] == ["no call was classified as outgoing (12 incoming): if this PBX calls out, name its "
                             "trunks with `trunk_channels` in [[source]] 'pbx'"]
    assert "decided by" in "\n".join(text_lines(e))


def test_missing_extensions_on_some_outgoing_calls(tmp_path: Path) -> None:
    rows = [_row(i, extension="2001" if i > 2 else "", number="33155501234") for i in range(1, 11)]
    e = explain_import(_store(tmp_path, rows), 1)
    assert e is not None and e["extension"]["outgoing_share"] == 80
    assert e["warnings"] == ["20 % of outgoing calls (2) have no extension: check `extensions` in [[site]] 'paris' "
                             "and `internal_channels` in [[source]] 'pbx'"]


def test_an_import_without_a_source_is_told_to_make_one(tmp_path: Path) -> None:
    rows = [_row(i, source="paris:asterisk", number="33155501234") for i in range(1, 4)]
    store = _store(tmp_path, rows)
    store.conn.execute("UPDATE imports SET source = 'paris:asterisk'")
    store.conn.commit()
    e = explain_import(store, 1)
    assert e is not None and "or `internal_channels` in a [[source]] with site = 'paris' and format = 'asterisk' " \
        "(then import with --source)" in e["warnings"][0]


def test_an_interrupted_import_says_so(tmp_path: Path) -> None:
    store = _store(tmp_path, [_row(1, extension="101", number="33155501234")])
    store.conn.execute("UPDATE imports SET finished = NULL")
    store.conn.commit()
    e = explain_import(store, 1)
    assert e is not None and e["warnings"][0].startswith("this import did not finish")


def test_the_explanation_reads_by_index(tmp_path: Path) -> None:
    store = _store(tmp_path, [_row(1)])
    facts = import_facts(store, 1)
    assert facts is not None and explain(facts)["calls"] == 1
    plan = " ".join(str(r) for r in store.conn.execute(
        "EXPLAIN QUERY PLAN SELECT direction, COUNT(*) FROM calls WHERE import_id = ? GROUP BY 1", (1,)))
    assert INDEX in plan
    assert import_facts(store, 2) is None


def test_the_demo_imports_explain_cleanly(tmp_path: Path) -> None:
    """The demo's files: every call with an extension, no warnings (its tariffs cover what it dials but a few)."""
    from anatole.demo import run_demo

    run_demo(tmp_path / "demo", seed=7, scale=0.1)  # a tenth of the month: the same files, faster
    store = open_store(open_workspace(tmp_path / "demo").db_path)
    for imp in store.imports():
        e = explain_import(store, imp["id"])
        assert e is not None and e["extension"]["share"] == 100 and e["warnings"] == [], (imp["file"], e)
    store.close()


# --- field fixtures, end to end ------------------------------------------------------------------------------

PLAIN = Path(__file__).parent / "data" / "cdr" / "explain-plain-asterisk.csv"  # a hand-written dialplan, SIP peers


@pytest.mark.parametrize(("outside_prefix", "warning"), [
    ('""', None),
    # the PBX dials 0034... straight out: with an outside-line prefix "0" those digits are no possible number
    ('"0"', "86 % of outgoing calls (6) have numbers that cannot be dialled (0034912345678, 00882161234567, "
            "0033144556677, 0034612345678): check `outside_prefix`, `national_prefix` and `area_code` of [[site]] "
            "'paris'"),
])
def test_a_wrong_site_setting_is_named(tmp_path: Path, outside_prefix: str, warning: str | None) -> None:
    (tmp_path / "tariffs").mkdir()
    for ext in (".toml", ".csv"):
        shutil.copy(SAMPLES / f"fr-business{ext}", tmp_path / "tariffs" / f"fr-business{ext}")
    (tmp_path / "anatole.toml").write_text(
        f'[[site]]\nname = "paris"\ncountry = "FR"\ntimezone = "Europe/Paris"\noutside_prefix = {outside_prefix}\n'
        f'extensions = ["100-199"]\ntariff = "tariffs/fr-business.toml"\n\n'
        f'[[source]]\nname = "paris-pbx"\nsite = "paris"\nformat = "asterisk"\n')
    code, out = run(tmp_path, "import", "cdr", str(PLAIN), "--explain", "--json")
    assert code == 0, out
    e = json.loads(out)["explain"]
    assert e["extension"]["outgoing_share"] == 100 and e["directions"] == {"outgoing": 7, "internal": 3, "incoming": 1}
    assert e["rules"] == {"trunk-pattern": 8, "app-internal": 2, "dst-channel-extension": 1}
    rejected = "8 % rejected (1 of 12 records; start (1)): see `anatole rejects --source paris-pbx`"
    assert e["warnings"] == ([warning] if warning else []) + [rejected]


def test_the_asterisk_field_fixture_explained(tmp_path: Path) -> None:
    """tests/data/cdr/field/asterisk-paris.csv (hand-checked in test_field_asterisk) with a tariff that has no rate
    for Belarus: the A2Billing call is the one unpriced number, and the warning names the country."""
    from field_support import DATA as FIELD
    from field_support import make_workspace

    from pipeline.cdrimport import import_file

    root = make_workspace(tmp_path)
    ws = open_workspace(root)
    store = open_store(ws.db_path)
    result = import_file(ws, store, FIELD / "asterisk-paris.csv", fmt="asterisk", site="paris")
    e = explain_import(store, result.import_id)
    store.close()
    assert e is not None and e["calls"] == 26
    assert e["extension"]["outgoing_share"] == 100
    assert e["rules"] == {"trunk-pattern": 14, "app-internal": 7, "dst-channel-extension": 4, "dialplan": 1}
    assert e["unpriced"] == [{"number": "375232569865", "status": "no_rate", "calls": 1}]
    assert e["warnings"] == ["11 % of outgoing calls are no_rate (1): the tariff field-gbp.toml lacks prefixes for "
                             "+375 (Belarus: 1)"]
