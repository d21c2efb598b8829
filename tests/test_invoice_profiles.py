"""Profile-aware EN 16931 rules, document types, charge categories from codes, and safe Factur-X extraction.

Public samples come from ../shared/samples/invoices (skipped where absent); the BASIC WL sample is the akretion/factur-x
fixture (BSD) kept in tests/data/invoices; the rest are edits of those files made here."""

from __future__ import annotations

import io
import re
import zlib
from pathlib import Path

import pytest

from ingest.invoice import InvoiceError, facturx_pdf, read_invoices
from ingest.invoice.common import categorise
from tem.validate import validate

DATA = Path(__file__).parent / "data" / "invoices"
SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "samples" / "invoices"
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared/samples/invoices is not here (a user's clone)")


def one(data: bytes, where: str = "test"):
    fmt, invoices = read_invoices(data, where)
    assert len(invoices) == 1
    return fmt, invoices[0]


def rules(v, ok: bool | None = None) -> set[str]:
    return {c.rule for c in v.checks if ok is None or c.ok == ok}


# --- profiles ---------------------------------------------------------------------------------------------------


def test_basic_wl_is_valid_without_lines_and_gets_its_schematron_rules() -> None:
    _, inv = one((DATA / "factur-x-basicwl.xml").read_bytes())
    v = validate(inv)
    assert v.status == "valid", v.errors
    assert not inv.charges or all(c.level == "document" for c in inv.charges)
    passed = rules(v, True)
    # BASIC WL's schematron: totals and VAT, no line rules
    assert {"BR-12", "BR-13", "BR-14", "BR-15", "BR-CO-11", "BR-CO-12", "BR-CO-13", "BR-CO-14", "BR-CO-15",
            "BR-CO-16", "BR-CO-17", "BR-CO-18", "XSD", "BR-E-10", "BR-K-10"} <= passed
    assert not rules(v) & {"BR-16", "BR-CO-10", "BR-S-08", "BR-S-01"}


def test_basic_wl_with_a_wrong_total_names_the_rule() -> None:
    data = (DATA / "factur-x-basicwl.xml").read_text().replace(
        "<ram:TaxBasisTotalAmount>100.00", "<ram:TaxBasisTotalAmount>101.00")
    v = validate(one(data.encode())[1])
    assert v.status == "invalid" and {"BR-CO-13", "BR-CO-15"} <= {c.rule for c in v.errors}


@needs_samples
def test_minimum_is_valid_with_its_own_rules_only() -> None:
    _, inv = one((SAMPLES / "facturx" / "factur-x-minimum.xml").read_bytes())
    v = validate(inv)
    assert v.status == "valid", v.errors
    assert {"BR-13", "BR-14", "BR-15", "XSD"} <= rules(v, True)
    assert not rules(v) & {"BR-12", "BR-16", "BR-CO-10", "BR-CO-14", "BR-CO-18"}
    assert any(n.rule == "BR-CO-10..18" and "MINIMUM" in n.reason for n in v.not_checked)


@needs_samples
def test_minimum_without_amounts_is_invalid() -> None:
    data = (SAMPLES / "facturx" / "factur-x-minimum.xml").read_text()
    data = re.sub(r"<ram:(TaxBasisTotalAmount|GrandTotalAmount|DuePayableAmount)>[^<]*</ram:\1>", "", data)
    v = validate(one(data.encode())[1])
    assert v.status == "invalid"
    assert {"BR-13", "BR-14", "BR-15"} <= {c.rule for c in v.errors}


@needs_samples
def test_en16931_without_lines_is_invalid_with_the_rule_named() -> None:
    x = (SAMPLES / "ubl" / "ubl-tc434-example2.xml").read_text()
    y = re.sub(r"<cac:InvoiceLine>.*?</cac:InvoiceLine>\s*", "", x, flags=re.S)
    v = validate(one(y.encode())[1])
    assert v.status == "invalid"
    errors = {c.rule for c in v.errors}
    assert {"BR-16", "BR-CO-10"} <= errors
    assert not any("carries no line detail" in n.reason for n in v.not_checked)


@needs_samples
def test_en16931_without_totals_fails_br_co_15_instead_of_dropping_it() -> None:
    x = (SAMPLES / "ubl" / "ubl-tc434-example2.xml").read_text()
    y = re.sub(r"<cac:InvoiceLine>.*?</cac:InvoiceLine>\s*", "", x, flags=re.S)
    y = re.sub(r"<cbc:(LineExtensionAmount|TaxExclusiveAmount)[^>]*>[^<]*</cbc:\1>", "", y)
    v = validate(one(y.encode())[1])
    errors = {c.rule for c in v.errors}
    assert {"BR-12", "BR-13", "BR-16", "BR-CO-13", "BR-CO-15"} <= errors
    assert "BR-CO-15" not in {n.rule for n in v.not_checked}


@needs_samples
def test_a_document_with_no_amounts_at_all_is_invalid() -> None:
    x = (SAMPLES / "ubl" / "ubl-tc434-example2.xml").read_text()
    for pattern in (r"<cac:InvoiceLine>.*?</cac:InvoiceLine>", r"<cac:TaxTotal>.*?</cac:TaxTotal>",
                    r"<cac:AllowanceCharge>.*?</cac:AllowanceCharge>"):
        x = re.sub(pattern, "", x, flags=re.S)
    x = re.sub(r"<cac:LegalMonetaryTotal>.*?</cac:LegalMonetaryTotal>", "<cac:LegalMonetaryTotal/>", x, flags=re.S)
    v = validate(one(x.encode())[1])
    assert v.status == "invalid" and "AMOUNTS" in {c.rule for c in v.errors}


@needs_samples
def test_cii_schema_error_is_reported() -> None:
    data = (SAMPLES / "cii" / "CII_example1.xml").read_text().replace(
        "<ram:LineTotalAmount>", "<ram:Bogus>1</ram:Bogus><ram:LineTotalAmount>", 1)
    _, inv = one(data.encode())
    v = validate(inv)
    assert inv.xsd == "failed" and "XSD" in {c.rule for c in v.errors}
    assert any("Bogus" in c.message for c in v.errors)


def test_vat_category_rules() -> None:
    data = (DATA / "factur-x-basicwl.xml").read_text()
    # an exempt (E) breakdown that charges VAT and gives no exemption reason
    bad = data.replace("<ram:CalculatedAmount>0.00</ram:CalculatedAmount>", "<ram:CalculatedAmount>1.00"
                       "</ram:CalculatedAmount>", 1).replace("<ram:ExemptionReason>DEBOURS</ram:ExemptionReason>", "")
    bad = bad.replace("<ram:ExemptionReasonCode>VATEX-EU-79-C</ram:ExemptionReasonCode>", "")
    v = validate(one(bad.encode())[1])
    assert {"BR-E-09", "BR-E-10"} <= {c.rule for c in v.errors}


# --- document types ---------------------------------------------------------------------------------------------


def test_document_kinds() -> None:
    data = (DATA / "factur-x-basicwl.xml").read_text()
    for code, kind in (("380", "invoice"), ("384", "invoice"), ("389", "invoice"), ("381", "credit_note"),
                       ("751", "information")):
        _, inv = one(data.replace("<ram:TypeCode>380</ram:TypeCode>", f"<ram:TypeCode>{code}</ram:TypeCode>")
                     .encode())
        assert inv.kind == kind, code
        assert (inv.totals.payable < 0) == (kind == "credit_note")
    _, inv = one(data.replace("<ram:TypeCode>380</ram:TypeCode>", "<ram:TypeCode>999</ram:TypeCode>").encode())
    assert "BR-04" in {c.rule for c in validate(inv).errors}


# --- charge categories ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text,kw,expected", [
    ("Newspaper (VAT 6%)", {}, "one_time"),
    ("Road tax", {}, "one_time"),
    ("Road tax", {"words_may_say_tax": True}, "one_time"),
    ("VAT 20%", {"words_may_say_tax": True}, "tax"),
    ("VAT 20%", {}, "one_time"),  # an EN 16931 line is never VAT: VAT is the breakdown
    ("Samtal till mobil", {"unit": "MIN"}, "usage"),
    ("Fast avgift", {"unit": "MIN", "has_period": True}, "usage"),
    ("Mobile data", {"unit": "E34"}, "usage"),
    ("Anything", {"unit": "4L"}, "usage"),
    ("Line rental", {"unit": "MON"}, "recurring"),
    ("Calls", {"unit": "MON"}, "recurring"),  # the unit code wins over the wording
    ("Handset", {"unit": "C62"}, "one_time"),
    ("SMS", {"unit": "C62"}, "usage"),  # C62 decides nothing alone: the wording (last resort) does
    ("Item", {"classifications": ["43191501"]}, "one_time"),
    ("Item", {"classifications": ["83111603"], "has_period": True}, "usage"),
    ("Refund", {"amount_value": -1}, "discount"),
])
def test_categories_from_codes(text: str, kw: dict, expected: str) -> None:
    assert categorise(text, **kw) == expected


def test_ubl_minutes_are_usage() -> None:
    data = (DATA / "ubl-telecom.xml").read_text()
    _, inv = one(data.replace("<cbc:Name>Appels hors forfait</cbc:Name>", "<cbc:Name>Tele 2 (VAT 25%)</cbc:Name>")
                 .encode())
    by_unit = {c.unit: c.category for c in inv.charges if c.level == "line"}
    assert by_unit["MIN"] == "usage" and by_unit["MON"] == "recurring"


# --- Factur-X extraction ----------------------------------------------------------------------------------------


def _pdf(attachments: dict[str, bytes]) -> bytes:
    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(100, 100)
    for name, content in attachments.items():
        w.add_attachment(name, content)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100">&lol2;
</rsm:CrossIndustryInvoice>"""


def test_hostile_attachment_is_refused_precisely() -> None:
    with pytest.raises(InvoiceError, match=r"factur-x\.xml\): entity declarations are refused \(XXE/entity bomb\)"):
        read_invoices(_pdf({"factur-x.xml": BOMB}), "bad.pdf")


def test_attachment_bytes_are_read_without_the_factur_x_library(monkeypatch: pytest.MonkeyPatch) -> None:
    import facturx

    def boom(*a, **k):
        raise AssertionError("the factur-x library must not parse untrusted attachments")

    monkeypatch.setattr(facturx, "get_xml_from_pdf", boom)
    xml = (DATA / "factur-x-basicwl.xml").read_bytes()
    fmt, inv = one(_pdf({"factur-x.xml": xml}), "ok.pdf")
    assert fmt == "facturx" and inv.number == "F20260023" and inv.xsd == "passed"
    assert validate(inv).status == "valid"


def test_pdf_and_attachment_size_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(facturx_pdf, "MAX_PDF_BYTES", 1000)
    with pytest.raises(InvoiceError, match="big.pdf: the PDF is 2009 bytes, over the 1000 bytes limit"):
        read_invoices(b"%PDF-1.7\n" + b" " * 2000, "big.pdf")
    monkeypatch.setattr(facturx_pdf, "MAX_PDF_BYTES", 50 * 1024 * 1024)
    monkeypatch.setattr(facturx_pdf, "MAX_ATTACHMENT_BYTES", 4096)
    with pytest.raises(InvoiceError, match="factur-x.xml: the attachment is 100007 bytes, over the 4096 bytes"):
        read_invoices(_pdf({"factur-x.xml": b"<a>" + b" " * 100_000 + b"</a>"}), "big-xml.pdf")
    # compresses to a few bytes, expands past the limit: refused without decompressing it all
    from pypdf.generic import DictionaryObject, EncodedStreamObject, NameObject

    stream = EncodedStreamObject()
    stream._data = zlib.compress(b" " * 100_000)
    assert len(stream._data) < 4096
    stream[NameObject("/Filter")] = NameObject("/FlateDecode")
    spec = DictionaryObject({NameObject("/EF"): DictionaryObject({NameObject("/F"): stream})})
    with pytest.raises(InvoiceError, match="decompresses to more than 4096 bytes"):
        facturx_pdf._file_bytes(spec, "factur-x.xml")
    stream._data = zlib.compress(b"<a/>")
    assert facturx_pdf._file_bytes(spec, "factur-x.xml") == b"<a/>"


def test_pdf_with_another_attachment_only() -> None:
    with pytest.raises(InvoiceError, match="no embedded Factur-X.*found notes.txt"):
        read_invoices(_pdf({"notes.txt": b"hello"}), "other.pdf")


def test_carrier_csv_categories_from_unit_codes_then_words() -> None:
    from ingest.invoice import csv_detail

    profile = {"carrier": "Tele2", "currency": "SEK", "amount": "Belopp", "description": "Text", "unit": "Enhet",
               "quantity": "Antal", "service": "Nummer"}
    rows = ["Nummer,Text,Antal,Enhet,Belopp",
            "46701234567,Samtal till mobil,42,MIN,21.00",  # minutes: usage, whatever the words
            "46701234567,Fast avgift,1,MON,99.00",
            "46701234567,Surf,2.5,E34,10.00",
            "46701234567,Road tax,1,,5.00",  # mentions a tax: a purchase
            "46701234567,Newspaper (VAT 6%),1,,3.00",
            ",VAT 25%,,,34.50",  # is a tax: the profile gives nothing else, the wording decides
            "46701234567,Utlandssamtal,3,minutes,6.00",  # unit words of carrier files
            "46701234567,Meddelanden,12,SMS,4.80",
            "46701234567,Tillval,1,month,19.00",
            ]
    inv = csv_detail.parse(("\n".join(rows) + "\n").encode(), "tele2.csv", "tele2", profile, "tele2-2026-01")
    cats = [(c.description, c.category) for c in inv.charges]
    assert cats == [("Samtal till mobil", "usage"), ("Fast avgift", "recurring"), ("Surf", "usage"),
                    ("Road tax", "one_time"), ("Newspaper (VAT 6%)", "one_time"), ("VAT 25%", "tax"),
                    ("Utlandssamtal", "usage"), ("Meddelanden", "usage"), ("Tillval", "recurring")]
    assert [c.unit for c in inv.charges][:3] == ["MIN", "MON", "E34"]


def test_line_fields_are_required_from_basic_up() -> None:
    data = (DATA / "ubl-telecom.xml").read_text()
    bad = data.replace('<cbc:InvoicedQuantity unitCode="MIN">42.5</cbc:InvoicedQuantity>',
                       "<cbc:InvoicedQuantity>42.5</cbc:InvoicedQuantity>")
    assert bad != data
    v = validate(one(bad.encode())[1])
    (br23,) = [c for c in v.errors if c.rule == "BR-23"]
    assert "1 line(s) without a unit of measure code" in br23.message and br23.actual == "2"


def test_an_invoicing_period_that_ends_before_it_starts_fails_br_29_and_br_30() -> None:
    data = (DATA / "ubl-telecom.xml").read_text()
    _, inv = one(data.encode())
    v = validate(inv)
    assert {"BR-29", "BR-30"} <= rules(v, ok=True) and not {"BR-29", "BR-30"} & {c.rule for c in v.errors}
    head, first, rest = data.partition("<cbc:StartDate>2025-03-01</cbc:StartDate><cbc:EndDate>2025-03-31</cbc:EndDate>")
    _, inv = one((head + "<cbc:StartDate>2025-03-31</cbc:StartDate><cbc:EndDate>2025-03-01</cbc:EndDate>" + rest)
                 .encode())  # the document's period reversed, its lines' as they were
    errors = [c for c in validate(inv).errors]
    assert [c.rule for c in errors] == ["BR-29"]
    assert errors[0].message == "the invoicing period ends (2025-03-01) before it starts (2025-03-31)"
    line = "</cbc:EndDate></cac:InvoicePeriod>\n    <cac:DocumentReference>"  # a line's period, not the document's
    _, inv = one(data.replace("<cbc:EndDate>2025-03-31" + line, "<cbc:EndDate>2025-02-28" + line, 1).encode())
    assert [c.rule for c in validate(inv).errors] == ["BR-30"]
