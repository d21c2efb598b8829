"""The audit rules that need the inventory (tem/audit.py): charges on lines not in the inventory or outside their
active dates (whole charges, the inactive days' share of a rental, calls of the call detail on their own date), and
recurring charges that differ from the contract's monthly fee (whole months exact, partial months prorated by
days). A real workspace: the inventory and the invoice go in through the commands a user runs."""

from __future__ import annotations

import datetime as dt
import json
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from anatole.cli import main
from engine.money import parse_money
from store import open_store
from store.inventory import open_inventory
from store.invoices import open_invoices
from tem.audit import _active_days, audit, months_covered

CONFIG = """
[workspace]
currency = "EUR"

[[site]]
name = "paris"
country = "FR"
timezone = "Europe/Paris"
outside_prefix = "0"
extensions = ["1000-1999"]

[invoice_csv.acme]
carrier = "Acme Telecom"
currency = "EUR"
invoice = "Invoice"
account = "Account"
issue_date = "Bill Date"
service = "Service"
category = "Type"
description = "Description"
period_start = "From"
period_end = "To"
start = "Call Date"
duration = "Seconds"
dialled = "Number"
amount = "Amount"
date_format = "%Y-%m-%d"
start_format = "%Y-%m-%d %H:%M:%S"
timezone = "Europe/Paris"

[invoice_csv.acme.category_map]
MRC = "recurring"
USAGE = "usage"
OTC = "one_time"
CREDIT = "discount"
TAX = "tax"
"""
CONTRACTS = ("contract,name,carrier,account,monthly_fee,from\n"
             "C-TRUNK,SIP trunk,Acme Telecom,A-1,100.00,2025-01-01\n"
             "C-LINE,Analogue line,Acme Telecom,A-1,20.00,2025-01-01\n")
LINES = ("service,name,carrier,account,contract,from,to\n"
         "+33 1 99 00 01 00,trunk,Acme Telecom,A-1,C-TRUNK,2025-01-01,\n"
         "+33 1 99 00 01 50,cancelled on 15 March,Acme Telecom,A-1,C-LINE,2025-01-01,2025-03-16\n"
         "+33 1 99 00 01 60,cancelled end of February,Acme Telecom,A-1,C-LINE,2025-01-01,2025-03-01\n"
         "+33 1 99 00 01 70,installed on 11 March,Acme Telecom,A-1,C-LINE,2025-03-11,\n"
         "+33 1 99 00 01 80,billed right,Acme Telecom,A-1,C-LINE,2025-01-01,\n"
         "+33 1 99 00 01 81,no contract,Acme Telecom,A-1,,2025-01-01,\n"
         "+33 1 99 00 01 85,prorated,Acme Telecom,A-1,C-LINE,2025-03-11,\n"
         "+33 1 99 00 01 90,overbilled,Acme Telecom,A-1,C-LINE,2025-01-01,\n"
         "+33 1 99 00 01 95,underbilled,Acme Telecom,A-1,C-LINE,2025-01-01,\n")
HEAD = "Invoice,Account,Bill Date,Service,Type,Description,From,To,Call Date,Seconds,Number,Amount\n"
ROWS = [  # (service, type, description, from, to, call date, amount)
    ("+33199000100", "MRC", "trunk rental", "", "", "", "100.00"),
    ("+33199000100", "USAGE", "call", "", "", "2025-03-05 10:00:00", "0.50"),
    ("+33199000150", "MRC", "line rental", "", "", "", "20.00"),
    ("+33199000150", "USAGE", "call", "", "", "2025-03-05 10:00:00", "0.30"),
    ("+33199000150", "USAGE", "call", "", "", "2025-03-20 10:00:00", "0.40"),
    ("+33199000160", "MRC", "line rental", "", "", "", "20.00"),
    ("+33199000160", "CREDIT", "loyalty", "", "", "", "-2.00"),
    ("+33199000170", "MRC", "line rental", "", "", "", "20.00"),
    ("+33199000180", "MRC", "line rental", "", "", "", "20.00"),
    ("+33199000181", "MRC", "line rental", "", "", "", "33.00"),
    ("+33199000185", "MRC", "line rental", "2025-03-11", "2025-03-31", "", "13.55"),
    ("+33199000190", "MRC", "line rental", "", "", "", "25.00"),
    ("+33199000195", "MRC", "line rental", "", "", "", "15.00"),
    ("+33199000999", "MRC", "line rental", "", "", "", "9.99"),
    ("+33199000999", "OTC", "installation", "", "", "", "5.00"),
    ("", "TAX", "VAT", "", "", "", "55.00"),
]


def invoice_csv(rows: list[tuple[str, ...]]) -> str:
    out = [HEAD]
    for service, kind, desc, frm, to, call, amount in rows:
        frm, to = (frm, to) if frm or call else ("2025-03-01", "2025-03-31")
        number = "33140000000" if call else ""
        seconds = "60" if call else ""
        out.append(f"F-03,A-1,2025-04-02,{service},{kind},{desc},{frm},{to},{call},{seconds},{number},{amount}\n")
    return "".join(out)


def run(ws: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--workspace", str(ws), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    (tmp_path / "anatole.toml").write_text(CONFIG)
    (tmp_path / "contracts.csv").write_text(CONTRACTS)
    (tmp_path / "lines.csv").write_text(LINES)
    (tmp_path / "acme-2025-03.csv").write_text(invoice_csv(ROWS))
    code, out = run(tmp_path, "import", "invoice", str(tmp_path / "acme-2025-03.csv"))
    assert code == 0, out
    return tmp_path


def load_inventory(ws: Path) -> None:
    for kind, name in (("contracts", "contracts.csv"), ("lines", "lines.csv")):
        code, out = run(ws, "inventory", "import", "-k", kind, str(ws / name), "--apply", "--effective", "2025-01-01")
        assert code == 0, out


def audit_json(ws: Path) -> list[dict]:
    code, out = run(ws, "invoice", "audit", "--json")
    assert code == 0, out
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_without_an_inventory_the_inventory_rules_do_not_run(ws: Path) -> None:
    assert audit_json(ws) == []


def test_the_invoice_audit_command_finds_every_inventory_finding(ws: Path) -> None:
    load_inventory(ws)
    found = audit_json(ws)
    got = sorted((f["rule"], f["line"], f["at_stake"], f["severity"]) for f in found)
    assert got == sorted([
        # 16 of the 31 days of March after the cancellation on the 15th: 20.00 x 16/31 = 10.3225..., half_up
        ("LINE-INACTIVE", "33199000150", "10.32", "error"),
        # its call of the 20th is after the cancellation, the one of the 5th is not
        ("LINE-INACTIVE", "33199000150", "0.40", "error"),
        # cancelled before the month: the whole rental (the credit on it is not money at stake)
        ("LINE-INACTIVE", "33199000160", "20.00", "error"),
        # installed on the 11th, billed the whole month: 10 days of 31
        ("LINE-INACTIVE", "33199000170", "6.45", "error"),
        ("CONTRACT-FEE", "33199000190", "5.00", "error"),
        ("CONTRACT-FEE", "33199000195", "5.00", "warning"),
        # two charges, one finding
        ("LINE-UNKNOWN", "33199000999", "14.99", "error"),
    ])
    by = {(f["rule"], f["line"]): f for f in found}
    fee = by[("CONTRACT-FEE", "33199000190")]
    assert (fee["expected"], fee["actual"]) == ("20.00", "25.00") and "C-LINE" in fee["message"]
    cancelled = by[("LINE-INACTIVE", "33199000160")]
    assert cancelled["expected"] == "active 2025-01-01…2025-02-28"
    assert cancelled["actual"] == "billed 2025-03-01…2025-03-31"
    assert "2 charge(s)" in by[("LINE-UNKNOWN", "33199000999")]["message"]
    # stored with the invoice like the other audit findings, once, whatever the number of runs
    assert audit_json(ws) == found
    store = open_store(ws / "anatole.db")
    try:
        istore = open_invoices(store.conn)
        checks = [c for c in istore.checks(1) if c["source"] == "audit"]
    finally:
        store.close()
    assert sorted((c["rule"], c["line"], c["at_stake"]) for c in checks) == sorted(
        (r, line, parse_money(s)) for r, line, s, _ in got)


def test_a_partial_month_is_prorated_and_wholemonths_covered_are_exact() -> None:
    d = dt.date
    assert months_covered(d(2025, 3, 1), d(2025, 3, 31)) == 1
    assert months_covered(d(2025, 1, 1), d(2025, 3, 31)) == 3
    assert months_covered(d(2025, 3, 11), d(2025, 3, 31)) == Fraction(21, 31)
    assert months_covered(d(2025, 1, 15), d(2025, 2, 14)) == Fraction(17, 31) + Fraction(14, 28)
    assert months_covered(d(2024, 12, 31), d(2025, 1, 1)) == Fraction(1, 31) + Fraction(1, 31)


def test_the_rules_follow_the_inventory_dates(ws: Path) -> None:
    """The same invoice against another inventory: the cancelled line reinstated for March, the trunk gone."""
    load_inventory(ws)
    lines = LINES.replace("C-LINE,2025-01-01,2025-03-01", "C-LINE,2025-01-01,")
    lines = "\n".join(line for line in lines.splitlines() if "trunk" not in line) + "\n"
    (ws / "lines.csv").write_text(lines)
    code, out = run(ws, "inventory", "import", "-k", "lines", str(ws / "lines.csv"), "--apply", "--effective",
                    "2025-02-01")
    assert code == 0, out
    store = open_store(ws / "anatole.db")
    try:
        found = audit(open_invoices(store.conn), [1], inventory=open_inventory(store.conn))[1]
    finally:
        store.close()
    got = {(f.rule, f.line): f for f in found}
    assert ("LINE-INACTIVE", "33199000160") not in got
    # the trunk is gone from 1 February: its rental and its call (a usage charge, which the carrier also lists as
    # a call of the call detail) are billed for days it was not in service, reported once
    trunk = [f for f in found if f.line == "33199000100"]
    assert [(f.rule, f.at_stake) for f in trunk] == [("LINE-INACTIVE", parse_money("100.50"))]
    assert "2 charge(s)" in trunk[0].message and trunk[0].expected == "active 2025-01-01…2025-01-31"



DAYS = st.integers(min_value=0, max_value=800)


@given(cuts=st.lists(DAYS, min_size=2, max_size=8, unique=True), open_end=st.booleans(), a=DAYS, b=DAYS)
def test_active_days_count_the_days_a_line_is_in_service(cuts: list[int], open_end: bool, a: int, b: int) -> None:
    """Against a day-by-day count: versions [c0, c1), [c2, c3)... (the last one open when open_end)."""
    base = dt.date(2024, 1, 1)
    cuts = sorted(cuts)
    spans = [(cuts[i], cuts[i + 1] if i + 1 < len(cuts) else None) for i in range(0, len(cuts), 2)]
    if not open_end:
        spans = [(lo, hi) for lo, hi in spans if hi is not None]
    versions = [{"valid_from": (base + dt.timedelta(lo)).isoformat(),
                 "valid_to": None if hi is None else (base + dt.timedelta(hi)).isoformat()} for lo, hi in spans]
    first, last = min(a, b), max(a, b)
    expected = sum(1 for d in range(first, last + 1) if any(lo <= d and (hi is None or d < hi) for lo, hi in spans))
    assert _active_days(versions, base + dt.timedelta(first), base + dt.timedelta(last)) == expected


@given(a=DAYS, b=DAYS, c=DAYS)
def test_months_covered_adds_up_over_consecutive_periods(a: int, b: int, c: int) -> None:
    base = dt.date(2024, 1, 1)
    x, y, z = sorted((a, b, c))
    if y == z:
        return
    whole = months_covered(base + dt.timedelta(x), base + dt.timedelta(z))
    parts = months_covered(base + dt.timedelta(x), base + dt.timedelta(y)) + months_covered(
        base + dt.timedelta(y + 1), base + dt.timedelta(z))
    assert whole == parts and 0 < whole <= 27
