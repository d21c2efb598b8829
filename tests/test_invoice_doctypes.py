"""Document types and workflow honesty end to end on a real SQLite file: a credit note is linked to the invoice it
credits and never a duplicate of it; a 751 (accounting information) is stored but never approved for payment;
approving with open findings needs a reason; a dispute claims each overcharge once."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from anatole.cli import main
from engine.money import parse_money
from store import open_store
from store.invoices import claim_amount, open_invoices
from tem import audit as audit_mod

DATA = Path(__file__).parent / "data" / "invoices"
CONFIG = '[workspace]\ncurrency = "EUR"\n\n' + (DATA / "orange-detail.toml").read_text(encoding="utf-8")
NUMBER = "<cbc:ID>TEL-2025-03-0001</cbc:ID>"
TYPE = "<cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    (tmp_path / "anatole.toml").write_text(CONFIG)
    shutil.copy(DATA / "ubl-telecom.xml", tmp_path / "invoice.xml")
    return tmp_path


def run(ws: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--workspace", str(ws), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def variant(ws: Path, name: str, *replacements: tuple[str, str]) -> Path:
    text = (ws / "invoice.xml").read_text()
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    (ws / name).write_text(text)
    return ws / name


def show(ws: Path, iid: int) -> dict:
    code, out = run(ws, "invoice", "show", str(iid), "--json")
    assert code == 0, out
    return json.loads(out)


def test_a_credit_note_and_its_invoice_are_not_duplicates(ws: Path) -> None:
    assert run(ws, "import", "invoice", str(ws / "invoice.xml"))[0] == 0
    # the carrier numbers the credit note like the invoice it credits, and references it (BT-25)
    credit = variant(ws, "credit.xml", (TYPE, "<cbc:InvoiceTypeCode>381</cbc:InvoiceTypeCode>"),
                     ("<cac:AccountingSupplierParty>", "<cac:BillingReference><cac:InvoiceDocumentReference>"
                      "<cbc:ID>TEL-2025-03-0001</cbc:ID></cac:InvoiceDocumentReference></cac:BillingReference>"
                      "<cac:AccountingSupplierParty>"))
    code, out = run(ws, "import", "invoice", "--json", str(credit))
    assert code == 0, out
    info = json.loads(out)
    assert info["kind"] == "credit_note" and info["credit"] is True and info["duplicate_of"] is None
    assert info["credits"] == 1 and parse_money(info["totals"]["payable"]) == -parse_money("78.30")
    rules = {(c["rule"], c["ok"]) for c in info["checks"]}
    assert ("CREDITED-INVOICE", True) in rules and not any(r == "DUPLICATE-INVOICE" for r, _ in rules)
    assert info["status"] == "valid"
    # the same credit note again from another file is a duplicate of the credit note, not of the invoice
    again = variant(ws, "credit-again.xml", (TYPE, "<cbc:InvoiceTypeCode>381</cbc:InvoiceTypeCode>"))
    info = json.loads(run(ws, "import", "invoice", "--json", str(again))[1])
    assert info["duplicate_of"] == 2
    # and the invoice itself is no duplicate either
    assert show(ws, 1)["duplicate_of"] is None
    # the audit does not count credit notes as months billed, nor overlap them with their invoice
    code, out = run(ws, "invoice", "audit", "--json")
    assert code == 0 and not any(json.loads(line)["rule"] == "PERIOD-OVERLAP" for line in out.splitlines())


def test_a_751_is_information_never_approved_for_payment(ws: Path) -> None:
    info751 = variant(ws, "info.xml", (TYPE, "<cbc:InvoiceTypeCode>751</cbc:InvoiceTypeCode>"))
    code, out = run(ws, "import", "invoice", "--json", str(info751))
    assert code == 0, out
    info = json.loads(out)
    assert info["kind"] == "information" and info["status"] == "valid" and not info["credit"]
    code, out = run(ws, "invoice", "approve", "1", "--reason", "pay it anyway")
    assert code == 1 and "not a payable" in out and "751" in out and "cannot be approved for payment" in out
    assert show(ws, 1)["state"] == "validated"
    code, out = run(ws, "invoice", "show", "1")
    assert "information document (not a payable)" in out
    # the payable invoice with the same number is not its duplicate
    info = json.loads(run(ws, "import", "invoice", "--json", str(ws / "invoice.xml"))[1])
    assert info["kind"] == "invoice" and info["duplicate_of"] is None


def _add_findings(ws: Path, iid: int, rows: list[tuple]) -> None:
    store = open_store(ws / "anatole.db")
    try:
        now = int(time.time())
        open_invoices(store.conn).add_checks(iid, [(*r, now) for r in rows], source="audit")
    finally:
        store.close()


def test_approving_with_open_findings_needs_a_reason(ws: Path) -> None:
    run(ws, "import", "invoice", str(ws / "invoice.xml"))
    assert show(ws, 1)["state"] == "validated"
    _add_findings(ws, 1, [("CONTRACT-FEE", 0, "error", "20.00", "40.00", "over the contract", "33612345678",
                           parse_money("20"))])
    code, out = run(ws, "invoice", "approve", "1")
    assert code == 1 and "1 finding(s) are open (CONTRACT-FEE)" in out and "--reason" in out
    code, out = run(ws, "invoice", "approve", "1", "--reason", "fee increase agreed by phone", "--by", "bob")
    assert code == 0, out
    info = show(ws, 1)
    assert info["state"] == "approved" and info["history"][-1]["reason"] == "fee increase agreed by phone"
    # a warning is not an open finding
    run(ws, "import", "invoice", str(variant(ws, "other.xml", (NUMBER, "<cbc:ID>TEL-2025-03-0002</cbc:ID>"))))
    _add_findings(ws, 2, [("NO-RATE", 0, "warning", None, "1.00", "no rate", "x", parse_money("1"))])
    assert run(ws, "invoice", "approve", "2")[0] == 0


def test_a_dispute_claims_each_overcharge_once(ws: Path) -> None:
    run(ws, "import", "invoice", str(ws / "invoice.xml"))
    twenty = parse_money("20")
    _add_findings(ws, 1, [
        ("DUPLICATE-CHARGE", 0, "error", "1", "2", "rental billed twice", "33612345678", twenty),
        ("CONTRACT-FEE", 0, "error", "20.00", "40.00", "40.00 for a 20.00 contract", "33612345678", twenty),
        ("RATE-MISMATCH", 0, "error", "0.10", "0.60", "call overcharged", "33612345678→3361@1", parse_money("0.5")),
    ])
    code, out = run(ws, "invoice", "dispute", "1", "--reason", "rental billed twice, one call overcharged")
    assert code == 0, out
    (d,) = show(ws, 1)["disputes"]
    assert d["amount_claimed"] == "20.50"  # 20.00 once (not 40.00) + the call's 0.50


def test_claim_amount_groups() -> None:
    def f(rule: str, line: str, stake: str, source: str = "audit", actual: str = "") -> dict:
        return {"rule": rule, "line": line, "at_stake": parse_money(stake), "source": source, "actual": actual}

    assert claim_amount([f("DUPLICATE-CHARGE", "336", "20"), f("CONTRACT-FEE", "336", "20")]) == parse_money("20")
    assert claim_amount([f("DUPLICATE-CHARGE", "336", "20"), f("CONTRACT-FEE", "337", "20")]) == parse_money("40")
    # totals rules of one document: one wrong total, one amount
    assert claim_amount([f("BR-CO-10", "", "9", "validate"), f("BR-S-08", "VAT S 20%", "9", "validate")]) \
        == parse_money("9")
    # calls on an unknown line are their own money, beside the line's charges
    assert claim_amount([f("LINE-UNKNOWN", "336", "5"), f("LINE-UNKNOWN", "336", "3", actual="4 call(s)")]) \
        == parse_money("8")


def test_duplicate_charge_line_is_the_normalised_service(ws: Path) -> None:
    text = (ws / "invoice.xml").read_text()
    line3 = text[text.index("<cac:InvoiceLine>\n    <cbc:ID>3</cbc:ID>"):text.index("<cac:InvoiceLine>\n    <cbc:ID>4")]
    (ws / "dup.xml").write_text(text.replace(line3, line3 + line3.replace("<cbc:ID>3</cbc:ID>", "<cbc:ID>3b</cbc:ID>")))
    run(ws, "import", "invoice", str(ws / "dup.xml"))
    store = open_store(ws / "anatole.db")
    try:
        found = audit_mod.audit(open_invoices(store.conn), [1])[1]
    finally:
        store.close()
    (dup,) = [f for f in found if f.rule == "DUPLICATE-CHARGE"]
    assert not dup.line.startswith("+")


def test_migration_gives_stored_documents_their_kind(tmp_path: Path) -> None:
    import sqlite3

    from store import schema
    from store.invoices import MIGRATIONS

    conn = sqlite3.connect(tmp_path / "old.db")
    schema.migrate(conn, "invoices", MIGRATIONS[:1])  # a database of the previous version
    conn.execute("INSERT INTO invoice_files (id, sha256, file, size, format, content, imported_at) "
                 "VALUES (1, 'x', 'f', 1, 'ubl', x'00', 0)")
    for iid, code, credit in ((1, "380", 0), (2, "381", 1), (3, "751", 0)):
        conn.execute("INSERT INTO invoices (id, file_id, seq, format, carrier, account, number, type_code, credit, "
                     "currency, validity, state, imported_at) VALUES (?, 1, ?, 'ubl', 'c', 'a', 'n', ?, ?, 'EUR', "
                     "'valid', 'validated', 0)", (iid, iid, code, credit))
    conn.commit()
    istore = open_invoices(conn)
    assert [istore.invoice(i)["kind"] for i in (1, 2, 3)] == ["invoice", "credit_note", "information"]
    conn.close()
