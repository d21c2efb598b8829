"""Factur-X / ZUGFeRD 2.x PDFs: the invoice is the CII XML embedded in the PDF/A-3 (`factur-x.xml`,
`zugferd-invoice.xml`, `xrechnung.xml`).

The `factur-x` library finds the attachment; its bytes are then parsed with our safe XML parser like any other CII
file (the library's own XML parse is not trusted with untrusted input). A PDF without an embedded invoice is a clear
error, not an empty invoice: the human-readable PDF alone carries nothing we can check.
"""

from __future__ import annotations

import logging

from ingest.invoice import cii
from ingest.invoice.common import parse_xml
from ingest.invoice.model import Invoice, InvoiceError

NAMES = ["factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml", "*.xml"]


def extract_xml(data: bytes, where: str) -> tuple[str, bytes]:
    """(attachment name, XML bytes) of the invoice embedded in a PDF, or InvoiceError."""
    import facturx

    quiet = [logging.getLogger(name) for name in ("facturx", "factur-x", "pypdf", "pypdf._reader")]
    levels = [log.level for log in quiet]
    for log in quiet:
        log.setLevel(logging.CRITICAL)
    try:
        name, xml = facturx.get_xml_from_pdf(data, check_xsd=False, filenames=list(NAMES))
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types on damaged PDFs; all mean the same to a user
        raise InvoiceError(f"{where}: not a readable PDF ({type(exc).__name__}: {exc})") from None
    finally:
        for log, level in zip(quiet, levels):
            log.setLevel(level)
    if not xml:
        raise InvoiceError(f"{where}: the PDF has no embedded Factur-X/ZUGFeRD invoice XML (looked for "
                           f"{', '.join(NAMES[:3])}); a PDF alone cannot be checked: ask the carrier for the "
                           "Factur-X PDF or the XML")
    return str(name), bytes(xml)


def parse(data: bytes, where: str) -> Invoice:
    name, xml = extract_xml(data, where)
    at = f"{where} ({name})"
    root = parse_xml(xml, at)
    if root.tag != cii.ROOT:
        raise InvoiceError(f"{at}: the embedded XML is {root.tag!r}, not a CII CrossIndustryInvoice (ZUGFeRD 1.0 "
                           "CrossIndustryDocument is not supported)")
    inv = cii.parse(root, at, fmt="facturx")
    inv.notes.append(f"XML extracted from the PDF attachment {name}")
    return inv
