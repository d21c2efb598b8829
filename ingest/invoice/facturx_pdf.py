"""Factur-X / ZUGFeRD 2.x PDFs: the invoice is the CII XML embedded in the PDF/A-3 (`factur-x.xml`,
`zugferd-invoice.xml`, `xrechnung.xml`).

The attachment's bytes are pulled out with pypdf without parsing them as XML (the factur-x library would parse them
with lxml's default parser, entities and all); they are then parsed only by our hardened parser
(ingest.invoice.common.parse_xml: defusedxml, no DTD, no entity, no network), like any other CII file, and checked
against the official Factur-X XSD of their level. Limits: a PDF over MAX_PDF_BYTES and an attachment over
MAX_ATTACHMENT_BYTES (stored or once decompressed: a compression bomb stops at the limit) are refused with a clear
error. A PDF without an embedded invoice is a clear error, not an empty invoice: the human-readable PDF alone
carries nothing we can check.
"""

from __future__ import annotations

import io
import logging
import zlib
from typing import Any

from i18n import _
from ingest.invoice import cii
from ingest.invoice.common import parse_xml
from ingest.invoice.model import Invoice, InvoiceError, xsd_level

NAMES = ["factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml"]
MAX_PDF_BYTES = 50 * 1024 * 1024
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_TREE_NODES = 10_000  # a name tree larger than this is not an invoice PDF


def _mb(n: int) -> str:
    if n >= 1024 * 1024:
        return _("{count} MB").format(count=n // (1024 * 1024))
    return _("{count} bytes").format(count=n)


def _embedded(root: Any) -> list[tuple[str, Any]]:
    """(file name, file specification) of every embedded file: the EmbeddedFiles name tree, then /AF."""
    out: list[tuple[str, Any]] = []
    seen = 0

    def walk(node: Any, depth: int) -> None:
        nonlocal seen
        node = node.get_object()
        seen += 1
        if depth > 32 or seen > MAX_TREE_NODES:
            raise InvoiceError(_("the PDF's embedded-files tree is too deep or too large"))
        names = node.get("/Names")
        if names is not None:
            names = names.get_object()
            for i in range(0, len(names) - 1, 2):
                out.append((str(names[i]), names[i + 1].get_object()))
        for kid in node.get("/Kids") or []:
            walk(kid, depth + 1)

    names = root.get("/Names")
    tree = names.get_object().get("/EmbeddedFiles") if names is not None else None
    if tree is not None:
        walk(tree, 0)
    for spec in (root.get("/AF") or []):
        spec = spec.get_object()
        name = spec.get("/UF") or spec.get("/F") or ""
        out.append((str(name), spec))
    return out


def _file_bytes(spec: Any, name: str) -> bytes:
    """The bytes of an embedded file, decoded (FlateDecode only) within MAX_ATTACHMENT_BYTES."""
    ef = spec.get("/EF")
    stream = (ef.get_object().get("/F") or ef.get_object().get("/UF")) if ef is not None else None
    if stream is None:
        raise InvoiceError(f"{name}: " + _("the attachment has no embedded file stream"))
    stream = stream.get_object()
    raw = getattr(stream, "_data", None)  # the stored (still encoded) bytes: never decoded without a limit
    if not isinstance(raw, bytes):
        raise InvoiceError(f"{name}: " + _("the attachment's stream cannot be read"))
    if len(raw) > MAX_ATTACHMENT_BYTES:
        raise InvoiceError(f"{name}: " + _(
            "the attachment is {count} bytes, over the {value} limit").format(
            count=len(raw), value=_mb(MAX_ATTACHMENT_BYTES)))
    filters = stream.get("/Filter")
    filters = [] if filters is None else [str(f) for f in filters] if isinstance(filters, list) else [str(filters)]
    if not filters:
        return raw
    if filters != ["/FlateDecode"] or stream.get("/DecodeParms") is not None:
        how = " ".join(filters) + (" with decode parameters" if stream.get("/DecodeParms") is not None else "")
        raise InvoiceError(f"{name}: " + _(
            "the attachment is encoded with {how}, which an invoice attachment never needs; not read").format(how=how))
    d = zlib.decompressobj()
    try:
        data = d.decompress(raw, MAX_ATTACHMENT_BYTES + 1)
    except zlib.error as exc:
        raise InvoiceError(f"{name}: " + _(
            "the attachment's compressed data is damaged ({error})").format(error=exc)) from None
    if len(data) > MAX_ATTACHMENT_BYTES or d.unconsumed_tail:
        raise InvoiceError(f"{name}: " + _(
            "the attachment decompresses to more than {value}; refused (a compression bomb or not an invoice)").format(
            value=_mb(MAX_ATTACHMENT_BYTES)))
    return data


def extract_xml(data: bytes, where: str) -> tuple[str, bytes]:
    """(attachment name, XML bytes) of the invoice embedded in a PDF, or InvoiceError. The bytes are not parsed."""
    if len(data) > MAX_PDF_BYTES:
        raise InvoiceError(f"{where}: " + _(
            "the PDF is {count} bytes, over the {value} limit for an invoice").format(
            count=len(data), value=_mb(MAX_PDF_BYTES)))
    from pypdf import PdfReader

    quiet = [logging.getLogger(name) for name in ("pypdf", "pypdf._reader")]
    levels = [log.level for log in quiet]
    for log in quiet:
        log.setLevel(logging.CRITICAL)
    try:
        try:
            reader = PdfReader(io.BytesIO(data), strict=False)
            found = _embedded(reader.trailer["/Root"].get_object())
        except InvoiceError as exc:
            raise InvoiceError(f"{where}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - pypdf raises many types on damaged PDFs; all mean the same to a user
            raise InvoiceError(f"{where}: " + _(
                "not a readable PDF ({kind}: {error})").format(kind=type(exc).__name__, error=exc)) from None
        by_name = {}
        for name, spec in found:
            by_name.setdefault(name.rsplit("/", 1)[-1].lower(), (name, spec))
        pick = next((by_name[n] for n in NAMES if n in by_name), None)
        if pick is None:
            xml = [v for k, v in by_name.items() if k.endswith(".xml")]
            pick = xml[0] if len(xml) == 1 else None
        if pick is None:
            raise InvoiceError(f"{where}: " + _(
                "the PDF has no embedded Factur-X/ZUGFeRD invoice XML (looked for {names}; found {value}); a PDF "
                "alone cannot be checked: ask the carrier for the Factur-X PDF or the XML").format(
                names=', '.join(NAMES), value=', '.join(sorted(by_name)) or _("no attachment")))
        name, spec = pick
        try:
            return name, _file_bytes(spec, name)
        except InvoiceError as exc:
            raise InvoiceError(f"{where}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a damaged stream object
            raise InvoiceError(f"{where}: " + _(
                "{name}: the attachment cannot be read ({kind}: {error})").format(
                name=name, kind=type(exc).__name__, error=exc)) \
                from None
    finally:
        for log, level in zip(quiet, levels):
            log.setLevel(level)


def parse(data: bytes, where: str) -> Invoice:
    name, xml = extract_xml(data, where)
    at = f"{where} ({name})"
    root = parse_xml(xml, at)
    if root.tag != cii.ROOT:
        raise InvoiceError(f"{at}: " + _(
            "the embedded XML is {tag}, not a CII CrossIndustryInvoice (ZUGFeRD 1.0 CrossIndustryDocument is not "
            "supported)").format(tag=repr(root.tag)))
    inv = cii.parse(root, at, fmt="facturx")
    from ingest.invoice.schema import check_cii

    check_cii(inv, xml, xsd_level(inv.format, inv.profile))
    inv.notes.append(_("XML extracted from the PDF attachment {name}").format(name=name))
    return inv
