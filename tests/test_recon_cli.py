"""`anatole reconcile` end to end: Asterisk CDRs imported into a real SQLite store and rated, then a carrier detail
(a CSV given with --detail, or an imported carrier CSV invoice) with planted differences: a call the PBX never made,
a duplicate billing, a cost mismatch, a near match, a call nobody billed."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from click.testing import CliRunner

from anatole.cli import main
from anatole.config import open_workspace
from engine.money import format_exact, parse_money
from pipeline.cdrimport import import_file
from store import open_store
from tem.reconcile import Calls, Detail, ReconcileError, Tolerances, number_keys, read_detail_csv, reconcile

SAMPLES = Path(__file__).parent.parent / "tariffs" / "samples"
ZONE = ZoneInfo("Europe/Paris")

CONFIG = """
[workspace]
currency = "EUR"

[[site]]
name = "paris"
country = "FR"
timezone = "Europe/Paris"
outside_prefix = ""
national_prefix = "0"
international_prefix = "00"
extensions = ["2000-2999"]
tariff = "tariffs/fr-business.toml"

[invoice_csv.carrier]
carrier = "Carrier SA"
currency = "EUR"
invoice = "invoice"
service = "line"
start = "start"
dialled = "dialled"
duration = "seconds"
amount = "amount"
period_start = "from"
period_end = "to"
timezone = "UTC"
"""


def ast(uid: int, src: str, dst: str, context: str, start: str, ring: int, talk: int, disposition: str = "ANSWERED"
        ) -> str:
    """One Asterisk Master.csv line; times are Paris local."""
    t0 = dt.datetime.fromisoformat(start)
    answer = (t0 + dt.timedelta(seconds=ring)).strftime("%Y-%m-%d %H:%M:%S") if talk else ""
    end = (t0 + dt.timedelta(seconds=ring + talk)).strftime("%Y-%m-%d %H:%M:%S")
    chan = "PJSIP/trunk-in-0001" if context == "from-trunk" else f"PJSIP/{src}-0001"
    return (f'"","{src}","{dst}","{context}","""{src}"" <{src}>","{chan}","PJSIP/trunk-out-0002","Dial",'
            f'"PJSIP/{dst}@trunk-out,60","{start}",' + (f'"{answer}"' if answer else "") + f',"{end}",'
            f'{ring + talk},{talk},"{disposition}","DOCUMENTATION","17419437{uid:02d}.{uid}",""\n')


CDRS = "".join([
    ast(1, "2001", "0155501234", "from-internal", "2026-03-10 10:15:02", 7, 152),  # billed exactly (and twice)
    ast(2, "2002", "0612345678", "from-internal", "2026-03-10 11:00:00", 5, 60),  # billed 3 s later, 1 s longer
    ast(3, "2003", "0155507788", "from-internal", "2026-03-10 12:00:00", 4, 300),  # billed 0.50 too much
    ast(4, "2001", "0140000000", "from-internal", "2026-03-10 14:00:00", 3, 45),  # never billed
    ast(5, "0155507788", "2003", "from-trunk", "2026-03-10 16:00:00", 2, 90),  # incoming: not a billed call
    ast(6, "2001", "2002", "from-internal", "2026-03-10 16:30:00", 2, 30),  # internal
    ast(7, "2001", "0155501234", "from-internal", "2026-03-10 17:00:00", 20, 0, "NO ANSWER"),  # unanswered
])


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "tariffs").mkdir()
    for ext in (".toml", ".csv"):
        shutil.copy(SAMPLES / f"fr-business{ext}", tmp_path / "tariffs" / f"fr-business{ext}")
    (tmp_path / "anatole.toml").write_text(CONFIG)
    (tmp_path / "Master.csv").write_text(CDRS)
    ws = open_workspace(tmp_path)
    store = open_store(ws.db_path)
    result = import_file(ws, store, tmp_path / "Master.csv", fmt="asterisk")
    assert (result.calls, result.rejected) == (7, 0), result
    store.close()
    return tmp_path


def rated(workspace: Path) -> dict[str, dict]:
    """The stored outgoing answered calls by number."""
    store = open_store(workspace / "anatole.db")
    rows = {r["number"]: r for r in store.calls(direction="outgoing") if r["billable"]}
    store.close()
    assert set(rows) == {"33155501234", "33612345678", "33155507788", "33140000000"}
    assert all(r["status"] == "rated" and r["cost"] > 0 for r in rows.values())
    return rows


def utc(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def planted(workspace: Path) -> list[tuple[str, str, int, int]]:
    """The carrier's detail: (number, start, duration, amount) with the planted differences."""
    calls = rated(workspace)
    a, b, c = calls["33155501234"], calls["33612345678"], calls["33155507788"]
    return [
        ("+33155501234", utc(a["answer"]), a["billable"], a["cost"]),  # exact
        ("+33612345678", utc(b["answer"] + 3), b["billable"] + 1, b["cost"]),  # near
        ("+33155507788", utc(c["answer"]), c["billable"], c["cost"] + parse_money("0.50")),  # cost mismatch
        ("+33155509999", "2026-03-10T14:00:00Z", 120, parse_money("0.30")),  # a call the PBX never made
        ("+33155501234", utc(a["answer"]), a["billable"], a["cost"]),  # the first call billed twice
    ]


def write_detail(path: Path, rows: list[tuple[str, str, int, int]]) -> Path:
    path.write_text("number,start,duration,amount\n" + "".join(
        f"{n},{s},{d},{format_exact(a)}\n" for n, s, d, a in rows))
    return path


def run(workspace: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--workspace", str(workspace), *args])
    return result.exit_code, result.output


def test_reconcile_detail_file_finds_every_planted_difference(workspace: Path) -> None:
    rows = planted(workspace)
    detail = write_detail(workspace / "detail.csv", rows)
    code, out = run(workspace, "reconcile", "INV-2026-03", "--detail", str(detail), "--from", "2026-03-01",
                    "--to", "2026-04-01", "--json")
    assert code == 0, out
    res = json.loads(out)
    counts = {k: v["count"] for k, v in res["classes"].items()}
    assert counts == {"exact": 1, "near": 1, "cost_mismatch": 1, "only_invoice": 2, "only_cdr": 1}
    assert res["calls"] == 4 and res["invoice_lines"] == 5 and res["matched"] == 3
    cost_a = rated(workspace)["33155501234"]["cost"]
    assert res["money_at_stake"] == format_exact(parse_money("0.50") + parse_money("0.30") + cost_a)
    assert res["unbilled_calls_cost"] == format_exact(rated(workspace)["33140000000"]["cost"])
    by_class: dict[str, list[dict]] = {}
    for line in res["lines"]:
        by_class.setdefault(line["class"], []).append(line)
    assert "exact" not in by_class  # listed with --all only
    assert by_class["near"][0]["start_diff"] == 3 and by_class["near"][0]["duration_diff"] == 1
    assert by_class["cost_mismatch"][0]["amount_diff"] == "0.50"
    assert sorted(x["invoice_line"] for x in by_class["only_invoice"]) == [5, 6]  # file lines of the two extras
    assert by_class["only_cdr"][0]["call_number"] == "33140000000"


def test_reconcile_tolerances_change_the_classes(workspace: Path) -> None:
    detail = write_detail(workspace / "detail.csv", planted(workspace))
    code, out = run(workspace, "reconcile", "--detail", str(detail), "--tolerance-start", "2", "--json")
    assert code == 0, out
    counts = {k: v["count"] for k, v in json.loads(out)["classes"].items()}
    assert counts["near"] == 0 and counts["only_invoice"] == 3  # the near line is now 1 s too far
    code, out = run(workspace, "reconcile", "--detail", str(detail), "--tolerance-cost", "0.50", "--json")
    counts = {k: v["count"] for k, v in json.loads(out)["classes"].items()}
    assert counts["cost_mismatch"] == 0 and counts["near"] == 1 and counts["exact"] == 2


def test_reconcile_prints_a_readable_summary(workspace: Path) -> None:
    detail = write_detail(workspace / "detail.csv", planted(workspace))
    code, out = run(workspace, "reconcile", "INV-1", "--detail", str(detail), "--all")
    assert code == 0, out
    assert "INV-1" in out and "money at stake" in out and "cost mismatch" in out
    assert "Differences (6 of 6)" in out  # 5 invoice lines (exact included with --all) + 1 unbilled call


def test_reconcile_a_stored_invoice(workspace: Path) -> None:
    """A carrier CSV invoice imported by `anatole import invoice`, then reconciled by its number."""
    rows = planted(workspace)
    csv_text = "invoice,line,start,dialled,seconds,amount,from,to\n" + "".join(
        f"F-778,33155500001,{s[:-1].replace('T', ' ')},{n},{d},{format_exact(a)},2026-03-01,2026-03-31\n"
        for n, s, d, a in rows)
    (workspace / "carrier.csv").write_text(csv_text)
    code, out = run(workspace, "import", "invoice", str(workspace / "carrier.csv"), "--profile", "carrier", "--json")
    assert code == 0, out
    code, out = run(workspace, "reconcile", "F-778", "--json")
    assert code == 0, out
    res = json.loads(out)
    assert res["currency"] == "EUR" and res["period"]["from"] == "2026-02-28T23:00:00Z"  # Paris dates
    counts = {k: v["count"] for k, v in res["classes"].items()}
    assert counts == {"exact": 1, "near": 1, "cost_mismatch": 1, "only_invoice": 2, "only_cdr": 1}
    code, out = run(workspace, "reconcile", "NO-SUCH")
    assert code == 1 and "no imported invoice" in out


def test_bad_detail_file_names_line_and_field(workspace: Path) -> None:
    bad = workspace / "bad.csv"
    bad.write_text("number,start,duration,amount\n+33155501234,2026-03-10T10:00:00Z,60,0.10\n"
                   "+3315550x,2026-03-10T10:00:00Z,60,0.10\n+33155501234,yesterday,60,0.10\n"
                   "+33155501234,2026-03-10T10:00:00Z,1:00,1e3\n")
    code, out = run(workspace, "reconcile", "--detail", str(bad))
    assert code == 1
    assert "bad.csv:3: number" in out and "bad.csv:4: start" in out and "bad.csv:5: amount" in out
    assert "Traceback" not in out
    (workspace / "nohead.csv").write_text("number,start\n")
    code, out = run(workspace, "reconcile", "--detail", str(workspace / "nohead.csv"))
    assert code == 1 and "missing column(s) duration, amount" in out
    code, out = run(workspace, "reconcile")
    assert code == 1 and "INVOICE" in out
    (workspace / "years.csv").write_text("number,start,duration,amount\n+33155501234,0001-01-01T00:00:00,60,0.1\n"
                                         "+33155501234,9999-12-31T23:00:00Z,60,0.1\n")
    code, out = run(workspace, "reconcile", "--detail", str(workspace / "years.csv"))
    assert code == 1 and "years.csv:2: start: '0001-01-01T00:00:00' is outside the years 1970 to 2099" in out, out
    assert "years.csv:3: start" in out and "Traceback" not in out
    good = workspace / "good.csv"
    good.write_text("number,start,duration,amount\n+33155501234,2026-03-10T10:00:00Z,60,0.10\n")
    code, out = run(workspace, "reconcile", "--detail", str(good), "--from", "0001-01-01")
    assert code == 1 and "--from '0001-01-01': give a date in the years 1970 to 2099" in out, out
    code, out = run(workspace, "reconcile", "--detail", str(good), "--tolerance-start", str(10**20))
    assert code == 2 and "--tolerance-start" in out, out


def test_detail_local_times_and_durations(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("start,number,amount,duration,service\n2026-03-10 11:00:00,+33 1 55 50 12 34,0.10,01:02,l1\n"
                    "1773136800,33155501234,-0.10,62,l2\n")
    d = read_detail_csv(path, "Europe/Paris")
    assert d.start.tolist() == [int(dt.datetime(2026, 3, 10, 11, tzinfo=ZONE).timestamp()), 1773136800]
    assert d.duration.tolist() == [62, 62] and d.amount.tolist() == [10**7, -(10**7)]
    assert d.line.tolist() == [2, 3] and d.service.tolist() == ["l1", "l2"]
    assert number_keys(d.number).tolist() == [133155501234, 133155501234]


def test_number_keys_keep_leading_zeros_and_isolate_garbage() -> None:
    keys = number_keys(["0123", "123", "+123", "abc", "", None, "1" * 19]).tolist()
    assert keys[0] != keys[1] and keys[1] == keys[2]
    assert len({*keys[3:]}) == 4 and all(k < 0 for k in keys[3:])


def test_currency_mismatch_is_refused_and_margin_calls_left_out() -> None:
    detail = Detail(number=np.array(["331"], dtype=object), start=np.array([1000], np.int64),
                    duration=np.array([60], np.int32), amount=np.array([5], np.int64), line=np.array([2]),
                    service=np.array([""], dtype=object))

    def calls(currency: str, starts: list[int]) -> Calls:
        n = len(starts)
        return Calls(id=np.arange(n, dtype=np.int64), number=np.array(["331"] * n, dtype=object),
                     start=np.array(starts, np.int64), duration=np.full(n, 60, np.int32),
                     cost=np.full(n, 5, np.int64), status=np.array(["rated"] * n, dtype=object),
                     currency=np.array([currency] * n, dtype=object), extension=np.array([""] * n, dtype=object))

    with pytest.raises(ReconcileError, match="rated in USD"):
        reconcile(detail, calls("USD", [1000]), Tolerances(), (0, 2000), "EUR")
    # a call in the margin before the period that matches nothing is not "only in the CDRs"
    res = reconcile(detail, calls("EUR", [-50, 1000, 1990]), Tolerances(), (0, 2000), "EUR")
    assert res.totals["only_cdr"]["count"] == 1 and res.totals["only_cdr"]["cdr"] == 5
    assert res.summary()["calls"] == 2 and res.money_at_stake == 0
    assert [line["class"] for line in res.lines()] == ["only_cdr"]


def test_reconcile_says_when_the_calls_span_several_sites() -> None:
    """The console's two-site workspace (paris and lyon calls in the invoice's period): without --site the result
    names the sites and trunks the calls span; with --site there is nothing to say."""
    from test_tui_invoices import invoice_workspace

    ws = invoice_workspace()
    code, out = run(ws, "reconcile", "F-2025-03", "--json")
    assert code == 0, out
    spans = json.loads(out)["spans"]
    assert {s["site"] for s in spans} == {"paris", "lyon"} and all(s["calls"] > 0 for s in spans)
    code, out = run(ws, "reconcile", "F-2025-03")
    assert code == 0 and "span several sites/trunks" in out and "--site" in out
    code, out = run(ws, "reconcile", "F-2025-03", "--site", "paris", "--json")
    assert code == 0 and json.loads(out)["spans"] == []
