"""The demo's carrier invoices (anatole/demo/invoices.py): written as real files, imported as a user would, valid,
agreeing with the rated calls except for the planted errors, and every planted error found by the audit or the
reconciliation with its money at stake; nothing else reported but what the summary explains."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import xml.etree.ElementTree as ET  # noqa: N817 - reading our own generated file
from collections import Counter, defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from rich.console import Console

from anatole.cli import main
from anatole.config import open_workspace
from anatole.demo import calls as demo
from anatole.demo import invoices as demoinvoices
from engine.money import format_exact, parse_money
from ingest.invoice import detect
from store import display, open_store
from store.invoices import open_invoices

UBL = {"cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
       "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}
PARIS_FILE, NY_FILE = "lutece-2026-10.xml", "hudson-2026-10.csv"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One full demo run, then what it stored: the calls, the invoices with their checks."""
    path = tmp_path_factory.mktemp("demo-invoices") / "ws"
    summary = demo.run_demo(path, seed=7)
    ws = open_workspace(path)
    store = open_store(ws.db_path)
    try:
        calls = [r for r in store.calls() if r["direction"] == "outgoing"]
        istore = open_invoices(store.conn)
        invoices = {r["number"]: r for r in istore.invoices()}
        checks = {n: istore.checks(r["id"]) for n, r in invoices.items()}
        charges = {n: istore.charges(r["id"]) for n, r in invoices.items()}
    finally:
        store.close()
    with open(path / "invoices" / NY_FILE, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {"path": path, "ws": ws, "summary": summary, "inv": summary["invoices"], "calls": calls,
            "invoices": invoices, "checks": checks, "charges": charges, "rows": rows}


def _paris_number(run: dict) -> str:
    return next(f["number"] for f in run["inv"]["files"] if f["site"] == "paris")


def _ny_number(run: dict) -> str:
    return next(f["number"] for f in run["inv"]["files"] if f["site"] == "new-york")


def _ny_calls(run: dict) -> dict[tuple[str, int], dict]:
    """New York's answered calls the tariff rated, by (number, answer time)."""
    out = {}
    for c in run["calls"]:
        if c["site"] == "new-york" and c["status"] == "rated" and c["billable"] > 0:
            out[(c["number"], c["answer"] or c["start"])] = c
    return out


def _call_rows(run: dict) -> list[tuple[str, int, int, int, str]]:
    """The call rows of the New York CSV as (number, start UTC, seconds, amount, description)."""
    zone = ZoneInfo("America/New_York")
    out = []
    for r in run["rows"]:
        if r["Charge Type"] == "USAGE":
            start = dt.datetime.strptime(r["Call Date"], "%m/%d/%Y %H:%M:%S").replace(tzinfo=zone)
            out.append((r["Called Number"].lstrip("+"), int(start.timestamp()), int(r["Seconds"]),
                        parse_money(r["Amount"]), r["Description"]))
    return out


def _failed(run: dict, number: str) -> list[dict]:
    return [c for c in run["checks"][number] if not c["ok"]]


# --- the files and their import --------------------------------------------------------------------------------


def test_invoices_are_written_in_two_formats_and_import_valid(run: dict) -> None:
    folder = run["path"] / "invoices"
    assert sorted(p.name for p in folder.iterdir()) == sorted([PARIS_FILE, NY_FILE])
    profiles = run["ws"].invoice_profiles
    assert detect((folder / PARIS_FILE).read_bytes(), PARIS_FILE, profiles) == "ubl"
    assert detect((folder / NY_FILE).read_bytes(), NY_FILE, profiles) == "csv:hudson-detail"
    files = {f["file"]: f for f in run["inv"]["files"]}
    assert {n: (f["format"], f["status"], f["state"], f["currency"]) for n, f in files.items()} == {
        PARIS_FILE: ("ubl", "valid", "validated", "EUR"), NY_FILE: ("csv:hudson-detail", "valid", "validated", "USD")}
    for number, inv in run["invoices"].items():
        assert inv["validity"] == "valid" and inv["period_start"] == "2026-10-01" and inv["period_end"] == "2026-10-31"
        validation = [c for c in run["checks"][number] if c["source"] == "validate"]
        assert all(c["ok"] for c in validation), [c for c in validation if not c["ok"]]
    paris = {c["rule"] for c in run["checks"][_paris_number(run)] if c["source"] == "validate"}
    assert {"BR-CO-10", "BR-CO-13", "BR-CO-14", "BR-CO-15", "BR-CO-16", "BR-CO-17", "BR-S-08"} <= paris
    assert files[NY_FILE]["not_checked"] == ["TOTALS"]  # a CSV states no totals: reported, not passed silently
    assert files[NY_FILE]["calls"] == len(_call_rows(run)) > 3000


def test_the_ubl_invoice_adds_up(run: dict) -> None:
    root = ET.parse(run["path"] / "invoices" / PARIS_FILE).getroot()
    lines = [Decimal(x.text) for x in root.findall("cac:InvoiceLine/cbc:LineExtensionAmount", UBL)]
    total = root.find("cac:LegalMonetaryTotal", UBL)
    assert sum(lines) == Decimal(total.find("cbc:LineExtensionAmount", UBL).text)
    tax = Decimal(root.find("cac:TaxTotal/cbc:TaxAmount", UBL).text)
    assert tax == (sum(lines) * Decimal("0.20")).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert Decimal(total.find("cbc:PayableAmount", UBL).text) == sum(lines) + tax
    stored = run["invoices"][_paris_number(run)]
    assert (stored["payable"], stored["tax"]) == (parse_money(str(sum(lines) + tax)), parse_money(str(tax)))
    # one rental per line, the service on each line
    services = [c["service"] for c in run["charges"][_paris_number(run)] if c["category"] == "recurring"]
    assert Counter(services) == {"33199000100": 3, "33199000150": 1, "33199000151": 1, "33199000199": 1}


def test_the_csv_totals_are_the_rows(run: dict) -> None:
    rows = run["rows"]
    net = sum(parse_money(r["Amount"]) for r in rows if r["Charge Type"] != "TAX")
    tax = sum(parse_money(r["Amount"]) for r in rows if r["Charge Type"] == "TAX")
    for r in rows:
        if r["Charge Type"] == "TAX":
            rate = Decimal(r["Description"].rsplit(" ", 1)[1].rstrip("%"))
            expected = (Decimal(format_exact(net)) * rate / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
            assert Decimal(r["Amount"]) == expected
    stored = run["invoices"][_ny_number(run)]
    assert (stored["lines"], stored["tax"], stored["payable"]) == (net, tax, net + tax)
    assert {r["Invoice Number"] for r in rows} == {_ny_number(run)} and len(rows) == len(_call_rows(run)) + 6


def test_importing_the_invoices_again_adds_nothing(run: dict, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--workspace", str(run["path"]), "import", "invoice",
                                       str(run["path"] / "invoices"), "--json"])
    assert result.exit_code == 0, result.output
    again = [json.loads(line) for line in result.output.splitlines()]
    assert sorted(r["number"] for r in again) == sorted(run["invoices"])
    assert all(r["already_imported"] and r["status"] == "valid" for r in again)
    store = open_store(run["ws"].db_path)
    try:
        assert len(open_invoices(store.conn).invoices()) == 2
    finally:
        store.close()


# --- the invoices agree with the calls, except where errors were planted ----------------------------------------


def test_the_call_detail_is_the_rated_calls_plus_the_planted_errors(run: dict) -> None:
    calls = _ny_calls(run)
    billed = {(n, s): (d, a, desc) for n, s, d, a, desc in _call_rows(run)}
    assert len(billed) == len(_call_rows(run))  # one row per call
    assert set(calls) <= set(billed)  # every rated, answered call is billed ...
    phantom = set(billed) - set(calls)  # ... and nine more
    assert len(phantom) == demoinvoices.PHANTOM_CALLS
    overcharged = {k for k in calls if k[0].startswith("44") and not k[0].startswith("447")}
    assert len(overcharged) >= 20
    for key, call in calls.items():
        seconds, amount, description = billed[key]
        assert seconds == call["billable"]
        if key in overcharged:
            assert amount > call["cost"] and description == "Call to United Kingdom Mobile"
        else:
            assert amount == call["cost"], key  # billed at the rated cost, to the 10**-8 unit
            assert description == f"Call to {call['destination']}"
    # calls the tariff has no rate for are not billed
    no_rate = [c for c in run["calls"] if c["site"] == "new-york" and c["status"] == "no_rate" and c["billable"]]
    assert no_rate and not {(c["number"], c["answer"] or c["start"]) for c in no_rate} & set(billed)


def test_the_paris_usage_is_the_rated_calls(run: dict) -> None:
    sums: dict[str, list] = defaultdict(lambda: [0, Decimal(0)])
    for c in run["calls"]:
        if c["site"] == "paris" and c["status"] == "rated" and c["billable"] > 0:
            n = c["number"]
            kind = ("Appels internationaux" if not n.startswith("33") else "Appels vers mobiles"
                    if n.startswith(("336", "337")) else "Appels vers numéros spéciaux" if n.startswith("338")
                    else "Appels vers fixes nationaux")
            sums[kind][0] += 1
            sums[kind][1] += Decimal(format_exact(c["cost"]))
    usage = {c["description"]: (c["quantity"], c["amount"]) for c in run["charges"][_paris_number(run)]
             if c["category"] == "usage"}
    assert usage == {k: (n * 10**8, parse_money(str(total.quantize(Decimal("0.01"), ROUND_HALF_UP))))
                     for k, (n, total) in sums.items()}


# --- every planted error is found, with its money at stake ------------------------------------------------------


def test_the_duplicate_charge_is_found(run: dict) -> None:
    found = [c for c in _failed(run, _paris_number(run)) if c["rule"] == "DUPLICATE-CHARGE"]
    assert [(c["line"], c["at_stake"], c["source"]) for c in found] == [("33199000100", parse_money("20.00"),
                                                                          "audit")]
    # against the demo's inventory: the trunk's rentals exceed its contract's monthly fee by the duplicate
    fee = [c for c in _failed(run, _paris_number(run)) if c["rule"] == "CONTRACT-FEE"]
    assert [(c["line"], c["expected"], c["actual"], c["at_stake"]) for c in fee] == [
        ("33199000100", "200.00", "220.00", parse_money("20.00"))]
    planted = next(p for p in run["inv"]["planted"] if p["error"] == "duplicate charge")
    assert planted["found"] and planted["at_stake"] == "20.00" and planted["currency"] == "EUR"
    assert planted["detections"] == [{"by": "audit", "rule": "DUPLICATE-CHARGE", "lines": 1, "at_stake": "20.00"},
                                     {"by": "audit", "rule": "CONTRACT-FEE", "lines": 1, "at_stake": "20.00"}]


def test_the_rate_overcharge_is_found_by_the_audit_and_the_reconciliation(run: dict) -> None:
    calls = _ny_calls(run)
    over = {(n, s): a - calls[(n, s)]["cost"] for n, s, _, a, _ in _call_rows(run)
            if (n, s) in calls and n.startswith("44") and not n.startswith("447")}
    stake = sum(over.values())
    assert stake > 0 and all(v > parse_money("0.005") for v in over.values())  # beyond the cost tolerance
    audit = [c for c in _failed(run, _ny_number(run)) if c["rule"] == "RATE-MISMATCH"]
    assert {c["line"] for c in audit} == {f"12125550100→{n}@{s}" for n, s in over}
    assert sum(c["at_stake"] for c in audit) == stake
    recon = run["inv"]["reconciliation"]["classes"]["cost_mismatch"]
    assert (recon["count"], parse_money(recon["over"])) == (len(over), stake)
    planted = next(p for p in run["inv"]["planted"] if p["error"] == "rate overcharge")
    assert planted["found"] and (planted["lines"], planted["at_stake"]) == (len(over), format_exact(stake))
    assert [(d["by"], d["rule"], d["lines"], d["at_stake"]) for d in planted["detections"]] == [
        ("audit", "RATE-MISMATCH", len(over), format_exact(stake)),
        ("reconcile", "cost_mismatch", len(over), format_exact(stake))]


def test_the_calls_never_made_are_found_by_the_reconciliation(run: dict) -> None:
    calls = _ny_calls(run)
    phantom = [(n, s, a) for n, s, _, a, _ in _call_rows(run) if (n, s) not in calls]
    stake = sum(a for _, _, a in phantom)
    assert len(phantom) == 9 and stake > 0
    assert not {n for n, _, _ in phantom} & {c["number"] for c in run["calls"]}  # nobody ever dialled them
    recon = run["inv"]["reconciliation"]["classes"]["only_invoice"]
    assert (recon["count"], parse_money(recon["invoice"])) == (9, stake)
    planted = next(p for p in run["inv"]["planted"] if p["error"] == "calls never made")
    assert planted["found"] and (planted["lines"], planted["at_stake"]) == (9, format_exact(stake))
    # the audit re-rates them at the contract price: they are priced right, only the reconciliation sees them
    assert not [c for c in _failed(run, _ny_number(run)) if c["rule"] == "RATE-MISMATCH"
                and c["line"].split("→")[1].split("@")[0] in {n for n, _, _ in phantom}]


def test_the_cancelled_line_is_found_by_the_inventory_audit(run: dict) -> None:
    billed = [c for c in run["charges"][_paris_number(run)] if c["service"] == "33199000199"]
    assert [(c["category"], c["amount"]) for c in billed] == [("recurring", parse_money("29.90"))]
    found = [c for c in _failed(run, _paris_number(run)) if "33199000199" in (c["line"] or "") + c["message"]]
    assert [(c["rule"], c["source"], c["at_stake"], c["expected"], c["actual"]) for c in found] == [
        ("LINE-INACTIVE", "audit", parse_money("29.90"), "active 2021-03-01…2026-09-30",
         "billed 2026-10-01…2026-10-31")]
    # the inventory the demo imported says so: the line ends the day before the month
    lines = list(csv.DictReader(io.StringIO((run["path"] / "inventory" / "lines.csv").read_text(encoding="utf-8"))))
    alarm = next(r for r in lines if r["service"] == "+33199000199")
    assert (alarm["from"], alarm["to"]) == ("2021-03-01", "2026-10-01")
    planted = next(p for p in run["inv"]["planted"] if p["error"] == "charge on a cancelled line")
    assert planted["found"] and planted["at_stake"] == "29.90" and "note" not in planted
    assert planted["detections"] == [{"by": "audit", "rule": "LINE-INACTIVE", "lines": 1, "at_stake": "29.90"}]


def test_the_reconcile_command_finds_the_same(run: dict) -> None:
    """What a user runs: `anatole reconcile INVOICE --site new-york` and `anatole invoice audit ID --tariff`."""
    runner = CliRunner()
    result = runner.invoke(main, ["--workspace", str(run["path"]), "reconcile", _ny_number(run), "--site",
                                  "new-york", "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    planted = {p["error"]: p for p in run["inv"]["planted"]}
    assert got["classes"]["cost_mismatch"]["count"] == planted["rate overcharge"]["lines"]
    assert got["classes"]["only_invoice"]["count"] == planted["calls never made"]["lines"]
    assert got["classes"]["near"]["count"] == 0
    assert parse_money(got["money_at_stake"]) == parse_money(planted["rate overcharge"]["at_stake"]) + parse_money(
        planted["calls never made"]["at_stake"])
    ny_id = run["invoices"][_ny_number(run)]["id"]
    result = runner.invoke(main, ["--workspace", str(run["path"]), "invoice", "audit", str(ny_id), "--tariff",
                                  str(run["path"] / "tariffs" / "us-business.toml"), "--json"])
    assert result.exit_code == 0, result.output
    findings = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert Counter(f["rule"] for f in findings) == {"RATE-MISMATCH": planted["rate overcharge"]["lines"]}
    assert sum(parse_money(f["at_stake"]) for f in findings) == parse_money(planted["rate overcharge"]["at_stake"])


# --- nothing else ---------------------------------------------------------------------------------------------


def test_nothing_unplanted_is_reported(run: dict) -> None:
    inv = run["inv"]
    assert inv["unexplained"] == []
    assert Counter(c["rule"] for c in _failed(run, _paris_number(run))) == {
        "DUPLICATE-CHARGE": 1, "CONTRACT-FEE": 1, "LINE-INACTIVE": 1}
    assert all(p["found"] for p in inv["planted"])
    overcharged = next(p for p in inv["planted"] if p["error"] == "rate overcharge")["lines"]
    assert Counter(c["rule"] for c in _failed(run, _ny_number(run))) == {"RATE-MISMATCH": overcharged}
    # the only other thing the reconciliation reports: answered calls with no rate, which the carrier does not bill
    no_rate = [c for c in run["calls"] if c["site"] == "new-york" and c["status"] == "no_rate" and c["billable"]]
    classes = inv["reconciliation"]["classes"]
    assert classes["only_cdr"]["count"] == len(no_rate) > 0 and classes["only_cdr"]["cdr"] == "0.00"
    assert [(e["rule"], e["lines"]) for e in inv["explained"]] == [("only_cdr", len(no_rate))]
    assert classes["near"]["count"] == 0
    assert classes["exact"]["count"] == len(_ny_calls(run)) - overcharged


def test_the_summary_shows_the_invoices_in_80_columns(run: dict) -> None:
    out = io.StringIO()
    demo.render_summary(run["summary"], Console(file=out, width=80, force_terminal=False, color_system=None))
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    for needle in ("Carrier invoices", PARIS_FILE, NY_FILE, "Planted errors", "duplicate charge",
                   "audit DUPLICATE-CHARGE", "audit LINE-INACTIVE", "reconcile only_invoice"):
        assert needle in text, needle
    assert "Unexplained" not in text and "NOT DETECTED" not in text and "MISSED" not in text
    for p in run["inv"]["planted"]:
        assert display.from_text(p["at_stake"], p["currency"]) in text  # the currency's decimals, grouped


def test_the_demo_toml_profile_is_valid(run: dict) -> None:
    assert list(run["ws"].invoice_profiles) == ["hudson-detail"]
    text = (run["path"] / "anatole.toml").read_text(encoding="utf-8")
    assert "\n".join(demoinvoices.profile_toml()) in text
