"""Reports on a real workspace: every report builds; CSV, XLSX (with a native chart) and PDF are written; formula
injection is neutralised in CSV and XLSX; scheduled reports are produced once when due and recorded."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from pathlib import Path

import pytest
from test_allocation import CONFIG, build_workspace, run

from anatole.config import open_workspace
from store import open_store
from store.reports import open_queries
from tem import schedule
from tem.reports import REPORTS, Report, safe_text, to_csv

SCHEDULE = """
[reports]
business_hours = "09:00-18:00"
unused_days = 10

[[schedule]]
name = "monthly-cc"
report = "cost-by-cost-centre"
frequency = "monthly"
format = "xlsx"
folder = "out"
recipients = ["finance@example.com"]

[[schedule]]
name = "broken"
report = "top-callers"
format = "pdf"
folder = "anatole.toml"
"""


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return build_workspace(tmp_path, config=CONFIG + SCHEDULE)


def test_every_report_in_every_format(ws: Path) -> None:
    for name in REPORTS:
        code, out = run(ws, "report", name, "--period", "2025-03", "--json")
        assert code == 0, (name, out)
        obj = json.loads(out)
        assert obj["report"] == name and obj["columns"]
        for fmt in ("csv", "xlsx", "pdf"):
            target = ws / f"{name}.{fmt}"
            code, out = run(ws, "report", name, "--period", "2025-03", "--out", str(target))
            assert code == 0 and target.stat().st_size > 0, (name, fmt, out)
    assert (ws / "cost-by-cost-centre.pdf").read_bytes().startswith(b"%PDF")
    with zipfile.ZipFile(ws / "cost-by-cost-centre.xlsx") as z:
        assert any(n.startswith("xl/charts/chart") for n in z.namelist())
    code, out = run(ws, "report", "cost-by-site", "--period", "2025-03", "-f", "xlsx")
    assert code == 1 and "--format xlsx needs --out FILE" in out, out
    code, out = run(ws, "report", "cost-by-site", "--period", "9999-12")
    assert code == 1 and "--period '9999-12': give a month of the years 1970 to 2099" in out, out
    for fmt in ("csv", "xlsx", "pdf"):  # a folder that is not there: the same message in every format
        target = ws / "nowhere" / f"r.{fmt}"
        code, out = run(ws, "report", "cost-by-site", "--period", "2025-03", "--out", str(target))
        assert code == 1 and f"{target}: cannot be written (No such file or directory)" in out, (fmt, out)


def test_cost_reports_match_the_allocation(ws: Path) -> None:
    code, out = run(ws, "report", "cost-by-cost-centre", "--period", "2025-03", "--json")
    rows = {r[0]: r for r in json.loads(out)["rows"]}
    assert rows["SALES"][4] == "47.26" and rows["OPS"][4] == "21.49" and rows["UNASSIGNED"][4] == "0.35"
    assert rows["total"][4] == "69.10"
    code, out = run(ws, "report", "budget-vs-actual", "--period", "2025-03", "--json")
    rows = {r[0]: r for r in json.loads(out)["rows"]}
    assert rows["SALES"][2:] == ["100.00", "47.26", "52.74", "47.3"]
    code, out = run(ws, "report", "cost-by-service-type", "--period", "2025-03", "--json")
    rows = {r[0]: r[4] for r in json.loads(out)["rows"]}
    assert rows == {"recurring": "50.00", "one_time": "16.00", "discount": "-5.00", "usage": "4.25",
                    "calls": "3.85", "total": "69.10"}


def test_unused_lines_and_off_hours(ws: Path) -> None:
    code, out = run(ws, "report", "unused-lines", "--period", "2025-03", "--json")
    # the phone has a usage charge; the SIM pays rental and has no traffic at all
    assert [r[0] for r in json.loads(out)["rows"]] == ["8933150319012345678"]
    code, out = run(ws, "report", "off-hours", "--period", "2025-03", "--json")
    rows = json.loads(out)["rows"]
    # the call at 00:01 on Sunday 16 March, Paris time, and those on the weekend of 22-23 March (the merged leg
    # of 1002 included, at no cost)
    assert sorted((r[1], r[3], r[5]) for r in rows) == [("(none)", "1", "0.10"), ("1001", "1", "0.0001"),
                                                          ("1002", "1", "0.00"), ("1999", "1", "0.25")]


def test_formula_injection_is_neutralised(tmp_path: Path) -> None:
    report = Report("x", "X", "2025-03", [("who", "text"), ("amount", "money")],
                    [["=HYPERLINK(\"http://evil\")", -5 * 10**8], ["+1", 0], ["@SUM(A1)", 1], ["-2+3", 2]],
                    chart=(0, 1))
    rows = list(csv.reader(io.StringIO(to_csv(report))))
    assert [r[0] for r in rows[1:]] == ["'=HYPERLINK(\"http://evil\")", "'+1", "'@SUM(A1)", "'-2+3"]
    assert rows[1][1] == "-5.00"  # a negative amount stays a number
    from tem.reports import write

    write(report, "xlsx", tmp_path / "x.xlsx")
    with zipfile.ZipFile(tmp_path / "x.xlsx") as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
        strings = z.read("xl/sharedStrings.xml").decode()
    assert "<f>" not in sheet and "'=HYPERLINK" in strings and "'@SUM(A1)" in strings
    assert safe_text("plain") == "plain"


def test_run_due_produces_once_and_records(ws: Path) -> None:
    code, out = run(ws, "report", "run-due", "--json")
    results = {r["schedule"]: r for r in json.loads(out)}
    assert code == 1  # the broken schedule (its folder is a file) failed; the other one was still produced
    assert "error" in results["broken"]
    made = results["monthly-cc"]
    assert made["due"] and made["recipients"] == ["finance@example.com"]
    assert Path(made["file"]).parent == ws / "out" and Path(made["file"]).suffix == ".xlsx"
    store = open_store(ws / "anatole.db")
    q = open_queries(store.conn)
    assert [r["schedule"] for r in q.report_runs()] == ["monthly-cc"]
    # not due again for the same month; due again a month later
    wsobj = open_workspace(ws)
    wsobj.schedules = [s for s in wsobj.schedules if s.name == "monthly-cc"]
    made_now: list[str] = []
    later = dt.datetime.now(dt.timezone.utc)
    results = schedule.run_due(wsobj, q, lambda *a: made_now.append(a[1]), now=later)
    assert results == [{"schedule": "monthly-cc", "due": False}] and made_now == []
    store.close()


def test_schedule_config_is_strict(tmp_path: Path) -> None:
    (tmp_path / "anatole.toml").write_text('[workspace]\ncurrency = "EUR"\n[[schedule]]\nname = "a"\n'
                                           'report = "nope"\nformat = "doc"\nevery = 3\n'
                                           '[reports]\nbusiness_hours = "18:00-09:00"\n')
    code, out = run(tmp_path, "report", "list")
    assert code == 0  # listing needs no workspace
    code, out = run(tmp_path, "report", "run-due")
    assert code == 1
    for text in ("every: unknown key", "'nope' is not a report", "'doc' must be one of", "business_hours"):
        assert text in out


def test_due_rules() -> None:
    s = schedule.Schedule("m", "top-callers", "monthly")
    now = dt.datetime(2025, 4, 2, tzinfo=dt.timezone.utc)
    assert schedule.due(s, None, now) == "2025-03"
    assert schedule.due(s, {"period": "2025-03", "produced_at": 0}, now) is None
    w = schedule.Schedule("w", "top-callers", "weekly")
    assert schedule.due(w, {"period": "2025-04", "produced_at": now.timestamp() - 6 * 86400}, now) is None
    assert schedule.due(w, {"period": "2025-04", "produced_at": now.timestamp() - 7 * 86400}, now) == "2025-04"
