"""Carrier CSV detail files (per-line charges and per-call usage) read through a mapping profile.

Carriers' CSV layouts are not standard, so each is described by an `[invoice_csv.NAME]` profile in anatole.toml:
which column holds which canonical field, the date and number formats, the sign convention and how the carrier's
charge types map to our categories. Every row is a charge; a row with a call start and a dialled number is also a
call of the call detail (what reconciliation matches). A CSV states no document totals: they are summed from the
rows and reported as such. One bad row refuses the whole file (an invoice is stored whole or not at all), naming
the line and column.
"""

from __future__ import annotations

import csv
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from engine.money import SCALE, MoneyError, divide_round, parse_money
from i18n import _
from ingest import csvprofile
from ingest.invoice.common import categorise, money_problem
from ingest.invoice.model import CATEGORIES, CallDetail, Charge, Invoice, InvoiceError, Party, Totals, service_kind

COLUMN_KEYS = ("invoice", "account", "service", "category", "description", "amount", "quantity", "unit_price", "tax",
               "period_start", "period_end", "start", "duration", "dialled", "issue_date", "unit")
OPTION_KEYS = {"carrier", "currency", "delimiter", "encoding", "skip_lines", "decimal", "sign", "date_format",
               "start_format", "timezone", "duration_format", "default_account", "category_map", "header"}
PROFILE_KEYS = set(COLUMN_KEYS) | OPTION_KEYS
DURATION_FORMATS = csvprofile.DURATION_FORMATS


def validate_profile(profile: dict[str, Any], where: str) -> list[str]:
    """Every problem of an [invoice_csv.NAME] profile, each naming the key and what is wrong (empty if fine)."""
    out = csvprofile.check_common(profile, where, keys=PROFILE_KEYS, column_keys=COLUMN_KEYS,
                                  required=("carrier", "currency", "amount"))
    if profile.get("header", True) is not True:
        out.append(f"{where}: " + _("header: must be true (columns are named by their header)"))
    for key in ("date_format", "start_format", "default_account"):
        if key in profile and not isinstance(profile[key], str):
            out.append(f"{where}: " + _("{key}: {value} must be a string").format(key=key, value=repr(profile[key])))
    cmap = profile.get("category_map", {})
    if not isinstance(cmap, dict):
        out.append(f"{where}: " + _("category_map: must be a table (carrier value = category)"))
    else:
        for raw, cat in cmap.items():
            if cat not in CATEGORIES:
                out.append(f"{where}: " + _(
                    "category_map.{raw}: {cat} is not one of {names}").format(
                    raw=raw, cat=repr(cat), names=', '.join(CATEGORIES)))
    if ("start" in profile) != ("dialled" in profile):
        out.append(f"{where}: " + _("start/dialled: call detail needs both columns (or neither)"))
    return out


def header_matches(data: bytes, profile: dict[str, Any]) -> bool:
    """Does the file's header row hold every column the profile names? (content-based detection)"""
    return csvprofile.header_matches(data, profile, COLUMN_KEYS)


def parse(data: bytes, where: str, name: str, profile: dict[str, Any], stem: str) -> Invoice:
    """The invoice of one carrier CSV file read with profile `name`."""
    problems = validate_profile(profile, f"invoice_csv.{name}")
    if problems:
        raise InvoiceError(f"{where}: " + _(
            "profile {name} is not valid: {value}").format(name=repr(name), value=problems[0]))
    reader, header, cols = csvprofile.open_rows(data, where, f"invoice_csv.{name}", profile, COLUMN_KEYS,
                                                InvoiceError)
    zone = ZoneInfo(str(profile.get("timezone", "UTC")))
    negate = profile.get("sign", "as_is") == "negate"
    decimal = profile.get("decimal", ".")
    cmap = {str(k).strip().lower(): v for k, v in profile.get("category_map", {}).items()}
    charges: list[Charge] = []
    calls: list[CallDetail] = []
    numbers: set[str] = set()
    accounts: set[str] = set()
    issue: str | None = None
    period: list[str] = []
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) < len(header):
                row = row + [""] * (len(header) - len(row))

            def get(key: str, row: list[str] = row) -> str:
                return row[cols[key]].strip() if key in cols else ""

            def money(key: str, line: int = line) -> int | None:
                raw = get(key)
                if not raw:
                    return None
                s = raw.replace(" ", "").replace("\u00a0", "")
                if decimal == ",":
                    s = s.replace(".", "").replace(",", ".")
                try:
                    value = parse_money(s)
                except MoneyError as exc:
                    raise InvoiceError(f"{where}: " + _(
                        "line {line}: {value}: {error}").format(
                        line=line, value=profile[key], error=money_problem(exc))) from None
                return -value if negate and key in ("amount", "tax") else value

            amount = money("amount")
            if amount is None:
                raise InvoiceError(f"{where}: " + _(
                    "line {line}: {value}: empty amount").format(line=line, value=profile['amount']))
            if get("invoice"):
                numbers.add(get("invoice"))
            if get("account"):
                accounts.add(get("account"))
            if get("issue_date"):
                issue = _date(get("issue_date"), profile, where, line, "issue_date")
            p_start = _date(get("period_start"), profile, where, line, "period_start")
            p_end = _date(get("period_end"), profile, where, line, "period_end")
            period += [d for d in (p_start, p_end) if d]
            raw_cat = get("category")
            description = get("description")
            unit = get("unit").upper()
            if raw_cat.lower() in CATEGORIES:
                category = raw_cat.lower()
            elif raw_cat.lower() in cmap:
                category = cmap[raw_cat.lower()]
            else:  # the unit code, else (last resort: the profile maps no category) the wording
                category = categorise(f"{raw_cat} {description}".strip(), has_period=bool(p_start),
                                      amount_value=amount, unit=unit, words_may_say_tax=True)
            service = get("service")
            kind = service_kind(service)
            if kind == "phone":
                service = service.lstrip("+").replace(" ", "")
            is_call = bool(get("start") and get("dialled"))
            if is_call:
                category = "usage" if category not in ("discount", "tax") else category
                calls.append(CallDetail(
                    seq=len(calls) + 1, service=service, start=_instant(get("start"), profile, zone, where, line),
                    duration=_duration(get("duration"), profile, where, line),
                    dialled=get("dialled").lstrip("+").replace(" ", ""), amount=amount, description=description))
            charges.append(Charge(
                seq=len(charges) + 1, line_id=str(line), category=category, service=service, unit=unit,
                service_kind=kind, description=description or raw_cat, period_start=p_start, period_end=p_end,
                quantity=money("quantity"), unit_price=money("unit_price"), amount=amount, tax=money("tax")))
    except csv.Error as exc:
        raise InvoiceError(f"{where}: " + _(
            "line {line_num}: {error}").format(line_num=reader.line_num, error=exc)) from None
    if len(numbers) > 1:
        raise InvoiceError(f"{where}: " + _(
            "the file holds several invoice numbers ({names}); one file must be one invoice").format(
            names=', '.join(sorted(numbers))))
    if len(accounts) > 1:
        raise InvoiceError(f"{where}: " + _(
            "the file holds several accounts ({names}); one file must be one invoice of one account").format(
            names=', '.join(sorted(accounts))))
    if not charges:
        raise InvoiceError(f"{where}: " + _("no charge rows after the header"))
    lines = sum(c.amount for c in charges if c.category not in ("discount", "tax"))
    allowances = -sum(c.amount for c in charges if c.category == "discount")
    tax_rows = sum(c.amount for c in charges if c.category == "tax")
    tax = tax_rows + sum(c.tax or 0 for c in charges if c.category != "tax")
    inv = Invoice(format=f"csv:{name}", profile=name, number=numbers.pop() if numbers else stem,
                  issue_date=issue, period_start=min(period) if period else None,
                  period_end=max(period) if period else None, currency=profile["currency"],
                  seller=Party(name=profile["carrier"], id=profile["carrier"]),
                  account=accounts.pop() if accounts else str(profile.get("default_account", "")),
                  charges=charges, calls=calls,
                  totals=Totals(lines=lines, allowances=allowances, charges=0, tax_exclusive=lines - allowances,
                                tax=tax, tax_inclusive=lines - allowances + tax,
                                payable=lines - allowances + tax))
    inv.notes.append(_("a CSV detail file states no document totals: totals are summed from its rows"))
    if not numbers and not any(k == "invoice" for k in cols):
        inv.notes.append(_(
            "no invoice number column: the file name {stem} is used as the invoice number").format(stem=repr(stem)))
    return inv


def _date(text: str, profile: dict[str, Any], where: str, line: int, key: str) -> str | None:
    if not text:
        return None
    fmt = profile.get("date_format", "%Y-%m-%d")
    try:
        return dt.datetime.strptime(text, fmt).date().isoformat()
    except ValueError:
        raise InvoiceError(f"{where}: " + _(
            "line {line}: {value}: {text} does not match date_format {fmt}").format(
            line=line, value=profile[key], text=repr(text), fmt=repr(fmt))) from None


def _instant(text: str, profile: dict[str, Any], zone: ZoneInfo, where: str, line: int) -> int:
    fmt = profile.get("start_format", "%Y-%m-%d %H:%M:%S")
    try:
        if fmt == "epoch":
            return int(text)
        if fmt == "iso":
            when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        else:
            when = dt.datetime.strptime(text, fmt)
    except ValueError:
        raise InvoiceError(f"{where}: " + _(
            "line {line}: {value}: {text} does not match start_format {fmt}").format(
            line=line, value=profile['start'], text=repr(text), fmt=repr(fmt))) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    return int(when.timestamp())


def _duration(text: str, profile: dict[str, Any], where: str, line: int) -> int:
    fmt = profile.get("duration_format", "seconds")
    col = profile.get("duration", "duration")
    if not text:
        return 0
    try:
        if fmt == "hh:mm:ss":
            parts = [int(p) for p in text.split(":")]
            if len(parts) not in (2, 3) or any(p < 0 for p in parts):
                raise ValueError
            seconds = 0
            for p in parts:
                seconds = seconds * 60 + p
            return seconds
        value = parse_money(text.replace(",", "."))
        if value < 0:
            raise ValueError
        return divide_round(value * (60 if fmt == "minutes" else 1), SCALE, "half_up")
    except (ValueError, MoneyError):
        raise InvoiceError(f"{where}: " + _(
            "line {line}: {col}: {text} is not a duration ({fmt})").format(
            line=line, col=col, text=repr(text), fmt=fmt)) from None
