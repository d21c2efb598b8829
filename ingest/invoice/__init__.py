"""Carrier invoice formats, one module per format: bytes -> canonical invoices (ingest.invoice.model).

`detect` tells the format from the content (never the file name): a PDF is Factur-X/ZUGFeRD; X12 starts with ISA
or ST*811; XML is told by its root element and namespace (UBL Invoice/CreditNote, CII CrossIndustryInvoice);
anything else is CSV detail, read with the `[invoice_csv.NAME]` profile whose header columns it has.
`read_invoices` returns one or more invoices (an X12 interchange may hold several) or raises InvoiceError with a
message that names the file and what is wrong.
"""

from __future__ import annotations

from typing import Any

from i18n import _
from ingest.invoice.model import Invoice, InvoiceError, xsd_level

FORMATS = ("ubl", "cii", "facturx", "x12-811", "csv:<profile>")


def detect(data: bytes, where: str, profiles: dict[str, dict[str, Any]] | None = None) -> str:
    """The format of an invoice file from its first bytes (and root element for XML)."""
    from ingest.invoice import csv_detail, x12_811

    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        raise InvoiceError(f"{where}: " + _("empty file"))
    if head.startswith(b"%PDF"):
        return "facturx"
    if x12_811.looks_like(head):
        return "x12-811"
    if head.startswith(b"<") or head.startswith(b"\xff\xfe") or head.startswith(b"\xfe\xff"):
        return _xml_format(data, where)
    matches = [name for name, p in (profiles or {}).items() if csv_detail.header_matches(data, p)]
    if len(matches) == 1:
        return f"csv:{matches[0]}"
    if len(matches) > 1:
        raise InvoiceError(f"{where}: " + _(
            "the header fits several [invoice_csv] profiles ({names}); name one with --profile").format(
            names=', '.join(sorted(matches))))
    raise InvoiceError(f"{where}: " + _(
        "not a recognised invoice format (expected UBL or CII XML, a Factur-X PDF, X12 811, or a CSV whose header "
        "fits an [invoice_csv.NAME] profile of anatole.toml)"))


def _xml_format(data: bytes, where: str) -> str:
    from ingest.invoice import cii, ubl
    from ingest.invoice.common import parse_xml

    root = parse_xml(data, where)
    if root.tag in ubl.ROOTS:
        return "ubl"
    if root.tag == cii.ROOT:
        return "cii"
    if root.tag.endswith("}CrossIndustryDocument"):
        raise InvoiceError(f"{where}: " + _(
            "ZUGFeRD 1.0 (CrossIndustryDocument) is not supported: ask for ZUGFeRD 2.x / Factur-X "
            "(CrossIndustryInvoice)"))
    ns, _brace, local = root.tag[1:].partition("}") if root.tag.startswith("{") else ("", "", root.tag)
    raise InvoiceError(f"{where}: " + _(
        "XML root {local} in namespace {value} is not an invoice format we read (UBL 2.1 Invoice/CreditNote, "
        "UN/CEFACT CII CrossIndustryInvoice)").format(local=repr(local), value=repr(ns or '(none)')))


def read_invoices(data: bytes, where: str, *, fmt: str = "auto", profiles: dict[str, dict[str, Any]] | None = None,
                  stem: str = "", timezone: str = "UTC") -> tuple[str, list[Invoice]]:
    """(format, invoices) of one file's bytes. Raises InvoiceError for anything that is not a readable invoice."""
    from ingest.invoice import cii, csv_detail, facturx_pdf, ubl, x12_811
    from ingest.invoice.common import parse_xml

    if fmt == "auto":
        fmt = detect(data, where, profiles)
    try:
        if fmt in ("ubl", "cii"):
            root = parse_xml(data, where)
            expected = ubl.ROOTS if fmt == "ubl" else {cii.ROOT}
            if root.tag not in expected:
                raise InvoiceError(f"{where}: " + _(
                    "root element {tag} is not {value}").format(tag=repr(root.tag), value=fmt.upper()))
            inv = (ubl.parse if fmt == "ubl" else cii.parse)(root, where)
            from ingest.invoice.schema import check_cii, check_ubl

            if fmt == "cii":
                check_cii(inv, data, xsd_level(fmt, inv.profile))
            else:
                check_ubl(inv, data, root.tag.endswith("}CreditNote"))
            return fmt, [inv]
        if fmt == "facturx":
            return fmt, [facturx_pdf.parse(data, where)]
        if fmt == "x12-811":
            return fmt, x12_811.parse(data, where, timezone)
        if fmt.startswith("csv:"):
            name = fmt[4:]
            if name not in (profiles or {}):
                raise InvoiceError(f"{where}: " + _(
                    "no [invoice_csv.{name}] profile in anatole.toml").format(name=name))
            return fmt, [csv_detail.parse(data, where, name, (profiles or {})[name], stem)]
    except RecursionError:
        raise InvoiceError(f"{where}: " + _("nesting too deep to be an invoice")) from None
    raise InvoiceError(f"{where}: " + _(
        "unknown invoice format {fmt} (expected {names} or auto)").format(fmt=repr(fmt), names=', '.join(FORMATS)))


__all__ = ["FORMATS", "Invoice", "InvoiceError", "detect", "read_invoices"]
