"""What the invoice importers share: safe XML parsing, exact amounts with a clear error, charge categories.

Untrusted XML is parsed with defusedxml (stdlib ElementTree underneath): a DTD, an entity declaration or an external
reference is refused outright, which stops entity-expansion bombs and external entities (XXE) before any expansion.
Real invoices never need a DTD. No network access is ever made.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # noqa: N817 - only for the types and the ParseError class
from collections.abc import Iterable

import defusedxml
import defusedxml.ElementTree as SafeET  # noqa: N812

from engine.money import MoneyError, parse_money
from ingest.invoice.model import InvoiceError

MAX_XML_BYTES = 200 * 1024 * 1024  # far above any invoice; refuses runaway inputs before parsing


def parse_xml(data: bytes, where: str) -> ET.Element:
    """Parse untrusted XML bytes safely, or raise InvoiceError naming the file and the problem."""
    if len(data) > MAX_XML_BYTES:
        raise InvoiceError(f"{where}: {len(data)} bytes is too large for an invoice")
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden:
        raise InvoiceError(f"{where}: the XML declares a DTD (<!DOCTYPE>), which invoices never need; refused "
                           "(it can carry entity-expansion bombs or external entities)") from None
    except defusedxml.EntitiesForbidden as exc:
        raise InvoiceError(f"{where}: the XML declares entity {exc.name!r}; refused (entity expansion / external "
                           "entities are not allowed)") from None
    except defusedxml.ExternalReferenceForbidden:
        raise InvoiceError(f"{where}: the XML refers to an external resource; refused") from None
    except ET.ParseError as exc:
        line, col = getattr(exc, "position", (0, 0))
        raise InvoiceError(f"{where}:{line}:{col}: malformed XML: {_reason(exc)}") from None
    except (ValueError, RecursionError) as exc:  # e.g. odd encodings declared, absurd nesting
        raise InvoiceError(f"{where}: not readable XML: {exc}") from None


def _reason(exc: Exception) -> str:
    return re.sub(r":? line \d+, column \d+$", "", str(exc))


def amount(text: str | None, where: str, field: str) -> int:
    """A money or quantity string -> 10**-8 units; a clear error otherwise."""
    if text is None:
        raise InvoiceError(f"{where}: {field}: missing")
    try:
        return parse_money(text.strip())
    except MoneyError as exc:
        raise InvoiceError(f"{where}: {field}: {exc}") from None


def optional_amount(text: str | None, where: str, field: str) -> int | None:
    return None if text is None or not text.strip() else amount(text, where, field)


def iso_date(text: str | None, where: str, field: str, fmt: str = "") -> str | None:
    """YYYY-MM-DD from ISO (2024-01-31) or UN/CEFACT format 102 (20240131); None when absent."""
    if text is None or not text.strip():
        return None
    s = text.strip()
    m = re.fullmatch(r"(\d{4})-?(\d{2})-?(\d{2})(?:[T ].*)?", s)
    if m is None or (fmt and fmt != "102"):
        raise InvoiceError(f"{where}: {field}: {s!r} is not a date (YYYY-MM-DD or YYYYMMDD)")
    y, mo, d = (int(g) for g in m.groups())
    import datetime as dt

    try:
        return dt.date(y, mo, d).isoformat()
    except ValueError:
        raise InvoiceError(f"{where}: {field}: {s!r} is not a valid date") from None


# Charge categories from free text. The EN 16931 syntaxes have no charge category, so a line is classified from its
# description (English and French telecom wording); a line with a billing period and no usage wording is rental.
_USAGE = re.compile(r"\b(usage|calls?|appels?|communications?|consommations?|minutes?|sms|mms|data|roaming|"
                    r"itin[ée]rance|traffic|trafic|hors forfait|overage|conso)\b", re.I)
_RECURRING = re.compile(r"\b(subscription|abonnement|rental|location|monthly|mensuel(le)?|forfait|plan|line rent|"
                        r"recurring|option|bundle|licen[cs]e|quarterly|trimestriel)\b", re.I)
_TAX = re.compile(r"\b(tax|taxe|tva|vat|surcharge fiscale|levy)\b", re.I)
_DISCOUNT = re.compile(r"\b(discount|remise|rabais|credit|avoir|promotion|ristourne|rebate)\b", re.I)


def categorise(text: str, *, has_period: bool = False, amount_value: int = 0) -> str:
    """FOCUS-style category of a line from its wording: usage, recurring, tax, discount, else one_time."""
    if _TAX.search(text):
        return "tax"
    if _DISCOUNT.search(text) or amount_value < 0:
        return "discount"
    if _USAGE.search(text):
        return "usage"
    if _RECURRING.search(text) or has_period:
        return "recurring"
    return "one_time"


def first(values: Iterable[str | None]) -> str:
    for v in values:
        if v is not None and v.strip():
            return v.strip()
    return ""
