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
from i18n import _
from ingest.invoice.model import InvoiceError
from tariffs.errors import money_problem  # engine.money's errors in the user's language, for decks and invoices

MAX_XML_BYTES = 200 * 1024 * 1024  # far above any invoice; refuses runaway inputs before parsing


def parse_xml(data: bytes, where: str) -> ET.Element:
    """Parse untrusted XML bytes safely, or raise InvoiceError naming the file and the problem."""
    if len(data) > MAX_XML_BYTES:
        raise InvoiceError(f"{where}: " + _("{count} bytes is too large for an invoice").format(count=len(data)))
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden:
        raise InvoiceError(f"{where}: " + _(
            "entity declarations are refused (XXE/entity bomb): the XML declares a DTD (<!DOCTYPE>), which invoices "
            "never need")) from None
    except defusedxml.EntitiesForbidden as exc:
        raise InvoiceError(f"{where}: " + _(
            "entity declarations are refused (XXE/entity bomb): the XML declares entity {name}").format(
            name=repr(exc.name))) from None
    except defusedxml.ExternalReferenceForbidden:
        raise InvoiceError(f"{where}: " + _("the XML refers to an external resource; refused")) from None
    except ET.ParseError as exc:
        line, col = getattr(exc, "position", (0, 0))
        raise InvoiceError(_(
            "{where}:{line}:{col}: malformed XML: {value}").format(
            where=where, line=line, col=col, value=_reason(exc))) from None
    except (ValueError, RecursionError) as exc:  # e.g. odd encodings declared, absurd nesting
        raise InvoiceError(f"{where}: " + _("not readable XML: {error}").format(error=exc)) from None


def _reason(exc: Exception) -> str:
    return re.sub(r":? line \d+, column \d+$", "", str(exc))


def amount(text: str | None, where: str, field: str) -> int:
    """A money or quantity string -> 10**-8 units; a clear error otherwise."""
    if text is None:
        raise InvoiceError(f"{where}: " + _("{field}: missing").format(field=field))
    try:
        return parse_money(text.strip())
    except MoneyError as exc:
        raise InvoiceError(f"{where}: {field}: {money_problem(exc)}") from None


def optional_amount(text: str | None, where: str, field: str) -> int | None:
    return None if text is None or not text.strip() else amount(text, where, field)


def iso_date(text: str | None, where: str, field: str, fmt: str = "") -> str | None:
    """YYYY-MM-DD from ISO (2024-01-31) or UN/CEFACT format 102 (20240131); None when absent."""
    if text is None or not text.strip():
        return None
    s = text.strip()
    m = re.fullmatch(r"(\d{4})-?(\d{2})-?(\d{2})(?:[T ].*)?", s)
    if m is None or (fmt and fmt != "102"):
        raise InvoiceError(f"{where}: " + _(
            "{field}: {s} is not a date (YYYY-MM-DD or YYYYMMDD)").format(field=field, s=repr(s)))
    y, mo, d = (int(g) for g in m.groups())
    import datetime as dt

    try:
        return dt.date(y, mo, d).isoformat()
    except ValueError:
        raise InvoiceError(f"{where}: " + _(
            "{field}: {s} is not a valid date").format(field=field, s=repr(s))) from None


# Charge categories come from codes first (the EN 16931 syntaxes carry no charge category):
# - the unit of the quantity (UN/ECE Rec 20, or the words of carrier CSV files): minutes, seconds, hours of calls,
#   messages and data volumes are usage; a month,
#   quarter, year (or week, day) of service is recurring. C62 ("one"), H87 (piece) and EA are used for handsets and
#   messages alike: they decide nothing alone.
# - the item classification (UNSPSC, scheme TST): telephone communications are usage, telephones and network
#   equipment are one-time purchases.
# - document level: an allowance is a discount, a charge is one-time (UNTDID 5189 / 7161 reason codes carry no
#   recurring or usage meaning); VAT is never a line (it is the VAT breakdown), so an XML line is never "tax".
# Wording is the last resort, only when no code decides: usage / recurring words, and for carrier CSV files whose
# profile names no category, a line that *is* a tax ("VAT", "Taxe ...", "Sales tax" at its start) - never a line
# that merely mentions one ("Newspaper (VAT 6%)", "Road tax" are purchases).
USAGE_UNITS = frozenset({"MIN", "SEC", "HUR", "D62", "AD", "2P", "4L", "E34", "E35", "E36", "A99", "D36", "E4G"})
RECURRING_UNITS = frozenset({"MON", "ANN", "QAN", "WEE", "DAY", "SAN"})
# the words carrier CSV files write in a unit column, as Rec 20 codes ("MO" is left out: a month in X12, a megabyte
# in French); messages (SMS/MMS) are usage
UNIT_WORDS = {"MINUTE": "MIN", "MINUTES": "MIN", "MINS": "MIN", "MN": "MIN", "SECOND": "SEC", "SECONDS": "SEC",
              "SECS": "SEC", "S": "SEC", "HOUR": "HUR", "HOURS": "HUR", "H": "HUR", "KB": "2P", "KO": "2P",
              "MB": "4L", "GB": "E34", "GO": "E34", "TB": "E35", "TO": "E35", "SMS": "SMS", "MMS": "SMS",
              "MSG": "SMS", "MESSAGE": "SMS", "MESSAGES": "SMS", "MONTH": "MON", "MONTHS": "MON", "MOIS": "MON",
              "MONTHLY": "MON", "YEAR": "ANN", "YEARS": "ANN", "QUARTER": "QAN"}
USAGE_CLASSES = ("831115", "831116", "831117")  # UNSPSC: local/long distance, mobile, facsimile communications
ONE_TIME_CLASSES = ("4319", "4320", "4322")  # UNSPSC: communications devices, components, network equipment
_USAGE = re.compile(r"\b(usage|calls?|appels?|communications?|consommations?|minutes?|sms|mms|data|roaming|"
                    r"itin[ée]rance|traffic|trafic|hors forfait|overage|conso)\b", re.I)
_RECURRING = re.compile(r"\b(subscription|abonnement|rental|location|monthly|mensuel(le)?|forfait|plan|line rent|"
                        r"recurring|option|bundle|licen[cs]e|quarterly|trimestriel)\b", re.I)
_TAX = re.compile(r"^\s*(vat|tva|sales tax|taxes?|taxe|excise|levy|surcharge fiscale)\b", re.I)
_DISCOUNT = re.compile(r"\b(discount|remise|rabais|credit|avoir|promotion|ristourne|rebate)\b", re.I)


def category_from_codes(unit: str = "", classifications: Iterable[str] = (), *, has_period: bool = False
                        ) -> str | None:
    """The category the codes of a line decide (see above), or None when they decide nothing."""
    u = unit.strip().upper()
    u = UNIT_WORDS.get(u, u)
    if u in USAGE_UNITS or u == "SMS":
        return "usage"
    if u in RECURRING_UNITS:
        return "recurring"
    for code in classifications:
        c = code.strip().replace(" ", "")
        if c.startswith(USAGE_CLASSES):
            return "usage"
        if c.startswith(ONE_TIME_CLASSES):
            return "one_time"
    return None


def categorise(text: str, *, has_period: bool = False, amount_value: int = 0, unit: str = "",
               classifications: Iterable[str] = (), words_may_say_tax: bool = False) -> str:
    """FOCUS-style category of a line: a negative amount is a discount; then its codes; then (last resort) its
    wording; a line with a billing period is rental, else one-time. `words_may_say_tax`: only carrier CSV rows may
    be tax lines (an EN 16931 line never is: VAT is the breakdown)."""
    if amount_value < 0:
        return "discount"
    by_code = category_from_codes(unit, classifications, has_period=has_period)
    if by_code is not None:
        return by_code
    if words_may_say_tax and _TAX.search(text):
        return "tax"
    if words_may_say_tax and _DISCOUNT.search(text):
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
