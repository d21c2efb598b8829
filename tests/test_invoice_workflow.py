"""`anatole import invoice` and `anatole invoice ...` end to end on a real SQLite file: idempotent imports, duplicate
invoices, nothing half-stored, the workflow (who/when/why, lifecycle codes), disputes, export, audit."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import make_tariff

from anatole.cli import main
from anatole.config import ConfigError, parse_config
from engine.money import parse_money
from store import open_store
from store.invoices import open_invoices
from tem import audit as audit_mod
from tem import workflow

DATA = Path(__file__).parent / "data" / "invoices"
SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "samples" / "invoices"

CONFIG = '[workspace]\ncurrency = "EUR"\n\n' + (DATA / "orange-detail.toml").read_text(encoding="utf-8")
TABLES = ("invoice_files", "invoices", "invoice_charges", "invoice_taxes", "invoice_calls", "invoice_checks",
          "invoice_transitions")


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    (tmp_path / "anatole.toml").write_text(CONFIG)
    for f in DATA.iterdir():
        shutil.copy(f, tmp_path / f.name)
    return tmp_path


def run(ws: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--workspace", str(ws), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def counts(ws: Path) -> dict[str, int]:
    store = open_store(ws / "anatole.db")
    istore = open_invoices(store.conn)
    out = {t: istore.count(t) for t in TABLES}
    store.close()
    return out


def test_import_json_and_idempotence(ws: Path) -> None:
    code, out = run(ws, "import", "invoice", "--json", str(ws / "ubl-telecom.xml"), str(ws / "x12-811-acme.edi"),
                    str(ws / "orange-detail-2025-03.csv"))
    assert code == 0, out
    objs = [json.loads(line) for line in out.splitlines()]
    assert [(o["format"], o["number"], o["currency"], o["status"]) for o in objs] == [
        ("ubl", "TEL-2025-03-0001", "EUR", "valid"), ("x12-811", "INV778812", "USD", "valid"),
        ("csv:orange-detail", "F-2025-03", "EUR", "valid")]
    assert objs[0]["totals"] == {"lines": "70.25", "allowances": "5.00", "charges": None, "tax_exclusive": "65.25",
                                 "tax": "13.05", "tax_inclusive": "78.30", "payable": "78.30"}
    assert all({"rule", "ok", "expected", "actual"} <= set(c) for o in objs for c in o["checks"])
    assert objs[0]["file"].endswith("ubl-telecom.xml") and not objs[0]["already_imported"]
    before = counts(ws)
    assert before["invoices"] == 3 and before["invoice_calls"] == 4 and before["invoice_transitions"] == 6
    code, out = run(ws, "import", "invoice", "--json", str(ws / "ubl-telecom.xml"))
    assert code == 0 and json.loads(out)["already_imported"] is True
    assert counts(ws) == before  # the same file twice adds nothing
    code, out = run(ws, "import", "invoice", str(ws / "ubl-telecom.xml"))
    assert "already imported" in out


def test_same_number_from_another_file_is_a_duplicate_invoice(ws: Path) -> None:
    text = (ws / "ubl-telecom.xml").read_text()
    (ws / "resent.xml").write_text(text.replace("<!-- Invented", "<!-- Re-sent. Invented"))
    run(ws, "import", "invoice", str(ws / "ubl-telecom.xml"))
    code, out = run(ws, "import", "invoice", "--json", str(ws / "resent.xml"))
    obj = json.loads(out)
    assert code == 0 and obj["duplicate_of"] == 1
    assert any(c["rule"] == "DUPLICATE-INVOICE" and not c["ok"] for c in obj["checks"])
    code, out = run(ws, "invoice", "approve", str(obj["id"]))
    assert code == 1 and "duplicates invoice #1" in out


def test_invalid_invoice_is_stored_with_findings(ws: Path) -> None:
    text = (ws / "ubl-telecom.xml").read_text().replace(">78.30</cbc:PayableAmount>", ">87.30</cbc:PayableAmount>")
    (ws / "bad-total.xml").write_text(text)
    code, out = run(ws, "import", "invoice", "--json", str(ws / "bad-total.xml"))
    obj = json.loads(out)
    assert code == 0 and obj["status"] == "invalid" and obj["state"] == "invalid" and obj["lifecycle_code"] == "204"
    bad = [c for c in obj["checks"] if not c["ok"]]
    assert [(c["rule"], c["expected"], c["actual"], c["at_stake"]) for c in bad] == [
        ("BR-CO-16", "78.30", "87.30", "9.00")]
    code, out = run(ws, "import", "invoice", str(ws / "bad-total.xml"))
    assert "invalid" in out and "BR-CO-16" in out


def test_bad_files_store_nothing_and_exit_1(ws: Path) -> None:
    (ws / "bomb.xml").write_bytes(b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaa">]><Invoice>&a;</Invoice>')
    (ws / "cut.xml").write_text((ws / "ubl-telecom.xml").read_text()[:2000])
    code, out = run(ws, "import", "invoice", str(ws / "bomb.xml"), str(ws / "cut.xml"))
    assert code == 1
    assert "bomb.xml" in out and "DTD" in out and "cut.xml" in out and "malformed XML" in out
    assert "nothing stored" in out and "Traceback" not in out
    assert set(counts(ws).values()) == {0}
    code, out = run(ws, "import", "invoice", "--json", str(ws / "bomb.xml"))
    assert code == 1 and "error" in json.loads(out)


def test_nothing_half_stored(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure while writing the call detail leaves no file, invoice, charge or check behind."""
    import store.invoices as si

    real = si._insert

    def failing(conn: sqlite3.Connection, table: str, columns, rows) -> None:
        if table == "invoice_calls":
            raise sqlite3.OperationalError("disk I/O error (simulated)")
        real(conn, table, columns, rows)

    monkeypatch.setattr(si, "_insert", failing)
    store = open_store(ws / "anatole.db")
    istore = open_invoices(store.conn)
    with pytest.raises(sqlite3.OperationalError):
        workflow.import_file(istore, ws / "x12-811-acme.edi")
    assert {t: istore.count(t) for t in TABLES} == dict.fromkeys(TABLES, 0)
    monkeypatch.setattr(si, "_insert", real)
    result = workflow.import_file(istore, ws / "x12-811-acme.edi")  # and a retry then stores it whole
    assert not result.already_imported and istore.count("invoice_calls") == 2
    store.close()


def test_call_detail_columns(ws: Path) -> None:
    store = open_store(ws / "anatole.db")
    istore = open_invoices(store.conn)
    res = workflow.import_file(istore, ws / "orange-detail-2025-03.csv", profiles=parse_config(
        __import__("tomllib").loads(CONFIG), ws).invoice_profiles)
    cols = istore.call_detail(res.invoices[0]["id"])
    assert cols["service"].tolist() == ["33612345678", "33612345678"]
    assert cols["start"].dtype.name == "int64" and cols["start"].tolist() == [1740816900, 1740920410]
    assert cols["duration"].tolist() == [150, 60]
    assert cols["dialled"].tolist() == ["0142123456", "0612345679"]
    assert cols["amount"].tolist() == [parse_money("0.15"), parse_money("0.10")]
    store.close()


def test_workflow_dispute_approve_export(ws: Path) -> None:
    text = (ws / "ubl-telecom.xml").read_text().replace(">78.30</cbc:PayableAmount>", ">87.30</cbc:PayableAmount>")
    (ws / "bad-total.xml").write_text(text)
    run(ws, "import", "invoice", str(ws / "bad-total.xml"))
    code, out = run(ws, "invoice", "approve", "1")
    assert code == 1 and "give --reason" in out
    code, out = run(ws, "invoice", "export", "1", "--out", str(ws / "gl.csv"))
    assert code == 1 and "only approved" in out and not (ws / "gl.csv").exists()
    code, out = run(ws, "invoice", "dispute", "1", "--reason", "payable does not add up", "--by", "alice")
    assert code == 0 and "claimed 9.00 EUR" in out
    code, out = run(ws, "invoice", "dispute", "1", "--reason", "x", "--finding", "999")
    assert code == 1 and "no finding(s) 999" in out
    code, out = run(ws, "invoice", "approve", "1", "--reason", "carrier confirmed 78.30", "--by", "bob")
    assert code == 0
    code, out = run(ws, "invoice", "export", "1", "1", "--out", str(ws / "gl.csv"), "--by", "carol")
    assert code == 1 and "invoice #1 is given twice" in out and not (ws / "gl.csv").exists()
    assert json.loads(run(ws, "invoice", "show", "1", "--json")[1])["state"] == "approved"
    code, out = run(ws, "invoice", "export", "1", "--out", str(ws / "gl.csv"), "--by", "carol")
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO((ws / "gl.csv").read_text())))
    assert len(rows) == 5 and rows[0]["ChargeCategory"] == "Purchase" and rows[0]["ChargeFrequency"] == "Recurring"
    assert rows[1]["ChargeFrequency"] == "Usage-Based" and rows[1]["x_ServiceId"] == "33612345678"
    assert sum(parse_money(r["BilledCost"]) for r in rows) == parse_money("65.25")
    code, out = run(ws, "invoice", "show", "1", "--json")
    info = json.loads(out)
    assert info["state"] == "exported"
    assert [(h["from"], h["to"], h["lifecycle_code"], h["by"]) for h in info["history"]] == [
        (None, "received", "202", info["history"][0]["by"]), ("received", "invalid", "204", info["history"][0]["by"]),
        ("invalid", "in_dispute", "207", "alice"), ("in_dispute", "approved", "205", "bob"),
        ("approved", "exported", None, "carol")]
    assert info["history"][3]["reason"] == "carrier confirmed 78.30"
    (d,) = info["disputes"]
    assert d["amount_claimed"] == "9.00" and d["by"] == "alice" and len(d["findings"]) == 1
    assert info["lifecycle_code"] == "205"
    code, out = run(ws, "invoice", "dispute", "1", "--reason", "late")
    assert code == 1 and "cannot be disputed" in out
    code, out = run(ws, "invoice", "list", "--json")
    assert json.loads(out)["state"] == "exported"


def test_credit_note_is_matched_to_the_open_dispute(ws: Path) -> None:
    run(ws, "import", "invoice", str(ws / "ubl-telecom.xml"))
    run(ws, "invoice", "dispute", "1", "--reason", "activation fee not ordered", "--amount", "16.00")
    credit = (ws / "ubl-telecom.xml").read_text()
    credit = credit.replace("<cbc:ID>TEL-2025-03-0001</cbc:ID>", "<cbc:ID>AV-0001</cbc:ID>").replace(
        "<cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>",
        "<cbc:InvoiceTypeCode>381</cbc:InvoiceTypeCode><cac:BillingReference><cac:InvoiceDocumentReference>"
        "<cbc:ID>TEL-2025-03-0001</cbc:ID></cac:InvoiceDocumentReference></cac:BillingReference>")
    (ws / "credit.xml").write_text(credit)
    code, out = run(ws, "import", "invoice", "--json", str(ws / "credit.xml"))
    assert code == 0 and json.loads(out)["credit"] is True
    info = json.loads(run(ws, "invoice", "show", "1", "--json")[1])
    (d,) = info["disputes"]
    assert d["status"] == "credited" and d["credit_invoice"] == 2 and d["credited"] == "78.30"


def test_config_rejects_bad_invoice_profile(tmp_path: Path) -> None:
    import tomllib

    doc = tomllib.loads(CONFIG.replace('decimal = ","', 'decimal = ","\nfoo = 1'))
    with pytest.raises(ConfigError, match="invoice_csv.orange-detail: foo: unknown key"):
        parse_config(doc, tmp_path)
    ws = parse_config(tomllib.loads(CONFIG), tmp_path)
    assert "orange-detail" in ws.invoice_profiles


def test_audit_findings(ws: Path) -> None:
    # a duplicated rental line, two consecutive months and a gap, overlapping periods
    text = (ws / "ubl-telecom.xml").read_text()
    line3 = text[text.index("<cac:InvoiceLine>\n    <cbc:ID>3</cbc:ID>"):text.index("<cac:InvoiceLine>\n    <cbc:ID>4")]
    dup = text.replace(line3, line3 + line3.replace("<cbc:ID>3</cbc:ID>", "<cbc:ID>3b</cbc:ID>"))
    (ws / "dup.xml").write_text(dup)
    may = text.replace("TEL-2025-03-0001", "TEL-2025-05-0001").replace("2025-03-01", "2025-05-01").replace(
        "2025-03-31", "2025-05-31")
    (ws / "may.xml").write_text(may)
    overlap = text.replace("TEL-2025-03-0001", "TEL-2025-03-0002").replace(
        "<cbc:StartDate>2025-03-01</cbc:StartDate><cbc:EndDate>2025-03-31</cbc:EndDate></cac:InvoicePeriod>\n  <cac"
        ":AccountingSupplierParty>", "<cbc:StartDate>2025-03-15</cbc:StartDate><cbc:EndDate>2025-04-14</cbc:EndDate>"
        "</cac:InvoicePeriod>\n  <cac:AccountingSupplierParty>")
    (ws / "overlap.xml").write_text(overlap)
    for name in ("dup.xml", "may.xml", "overlap.xml"):
        assert run(ws, "import", "invoice", str(ws / name))[0] == 0
    code, out = run(ws, "invoice", "audit", "--json")
    assert code == 0, out
    findings = [json.loads(line) for line in out.splitlines()]
    rules = {(f["invoice"], f["rule"]) for f in findings}
    assert (1, "DUPLICATE-CHARGE") in rules
    assert next(f for f in findings if f["rule"] == "DUPLICATE-CHARGE")["at_stake"] == "25.00"
    assert (3, "PERIOD-OVERLAP") in rules
    assert not any(f["rule"] == "MISSING-INVOICE" for f in findings)  # April is covered by the overlapping one
    # audits are idempotent: running again replaces, never adds
    store = open_store(ws / "anatole.db")
    n = open_invoices(store.conn).count("invoice_checks")
    store.close()
    run(ws, "invoice", "audit")
    store = open_store(ws / "anatole.db")
    assert open_invoices(store.conn).count("invoice_checks") == n
    store.close()


def test_audit_missing_month(ws: Path) -> None:
    text = (ws / "ubl-telecom.xml").read_text()
    (ws / "may.xml").write_text(text.replace("TEL-2025-03-0001", "TEL-2025-05-0001").replace(
        "2025-03-01", "2025-05-01").replace("2025-03-31", "2025-05-31"))
    run(ws, "import", "invoice", str(ws / "ubl-telecom.xml"), str(ws / "may.xml"))
    code, out = run(ws, "invoice", "audit", "--json")
    (f,) = [json.loads(line) for line in out.splitlines()]
    assert (f["rule"], f["expected"], f["invoice"]) == ("MISSING-INVOICE", "2025-04", 2)


def test_audit_rerates_call_detail_with_the_contract_tariff(ws: Path) -> None:
    from ingest.dialplan import DialPlan

    store = open_store(ws / "anatole.db")
    istore = open_invoices(store.conn)
    import tomllib

    res = workflow.import_file(istore, ws / "orange-detail-2025-03.csv",
                               profiles=parse_config(tomllib.loads(CONFIG), ws).invoice_profiles)
    iid = res.invoices[0]["id"]
    # contract: 0.06/min national fixed per second, mobiles 0.10/min per minute: the first call (150 s national)
    # should cost 0.15, the second (60 s to a mobile) 0.10 -> both right; then a cheaper contract finds the overcharge
    right = make_tariff([{"prefix": "331", "destination": "FR fixed", "price": "0.06", "unit": "60"},
                         {"prefix": "336", "destination": "FR mobile", "price": "0.10", "unit": "60",
                          "increment": "60"}], rounding={"decimals": 2})
    plan = DialPlan(country="FR", national_prefix="0", international_prefix="00")
    assert audit_mod.rerate_calls(istore, iid, right, plan) == []
    cheaper = make_tariff([{"prefix": "331", "destination": "FR fixed", "price": "0.04", "unit": "60"},
                           {"prefix": "336", "destination": "FR mobile", "price": "0.10", "unit": "60",
                            "increment": "60"}], rounding={"decimals": 2})
    (f,) = audit_mod.rerate_calls(istore, iid, cheaper, plan)
    assert (f.rule, f.expected, f.actual, f.at_stake) == ("RATE-MISMATCH", "0.10", "0.15", parse_money("0.05"))
    none = make_tariff([{"prefix": "44", "destination": "UK", "price": "0.10"}], rounding={"decimals": 2})
    assert {x.rule for x in audit_mod.rerate_calls(istore, iid, none, plan)} == {"NO-RATE"}
    store.close()


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared/samples/invoices is not here (a user's clone)")
def test_cli_imports_every_sample(ws: Path) -> None:
    files = sorted(str(p) for p in SAMPLES.rglob("*") if p.suffix in (".xml", ".pdf"))
    code, out = run(ws, "import", "invoice", "--json", *files)
    assert code == 0
    objs = [json.loads(line) for line in out.splitlines()]
    assert len(objs) == len(files) and all(o["status"] == "valid" for o in objs)
    minimum = next(o for o in objs if o["file"].endswith("factur-x-minimum.xml"))
    assert {n["rule"] for n in minimum["not_checked"]} >= {"BR-CO-10..18"}
