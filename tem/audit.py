"""Invoice audit: what a correct-looking invoice can still get wrong. Each finding has the rule, expected, actual
and the money at stake, and is stored with the invoice (source "audit"; re-running replaces the previous audit
findings, except those a dispute already contests).

Rules:
- DUPLICATE-CHARGE: the same charge (service, category, description, period, amount, VAT category and rate) twice
  on one invoice.
- DUPLICATE-CALL: the same call (service, start, dialled number, amount) twice in one invoice's call detail.
- MISSING-INVOICE: an account billed for months M1 and M3 but not M2 (per carrier + account, by billing period or,
  without one, issue month). Only payable invoices count: credit notes and information documents (751) do not.
- PERIOD-OVERLAP: two invoices (not credit notes, not flagged duplicates) of one account whose billing periods
  overlap: rental billed twice.
- RATE-MISMATCH: a call of the call detail whose amount differs from the contract tariff's price for it (the call
  re-rated with the engine); NO-RATE when the tariff has no rate for the number.
- Duplicate invoices (same carrier + account + number from another file) are flagged at import (DUPLICATE-INVOICE).
- Against the inventory (`tem.inventory`: its `line` and `contract` items, effective-dated), once it holds any line:
  LINE-UNKNOWN: a charge (or calls of the call detail) on a service that is not in the inventory at all;
  LINE-INACTIVE: a charge on a line outside its active dates (billed after cancellation, before installation): the
  whole charge is at stake when the line is active on none of the days it pays for; a recurring charge that covers
  the line's last or first days is at stake for its inactive days' share (by days, half_up to the cent); usage
  and one-time charges that touch an active day cannot be placed in time and are left to the call detail, whose
  calls are each checked on their own date (UTC);
  CONTRACT-FEE: the recurring charges of an active line for a period differ from the monthly fee of the line's
  contract for that period (fee x months; a period that is not whole months is prorated by days and rounded
  half_up to the cent, with one cent of tolerance). The fee is per line: a contract covering several lines at one
  price states the price of one line. A line active on only some days of the period is left to LINE-INACTIVE.
  Charges on one service are summed into one finding per rule and service; credit notes, tax lines, headings and
  amounts <= 0 are not checked. With no line in the inventory these rules are not run (nothing to compare with).
- Mobile (tem.mobile, once mobile usage is imported and `anatole mobile findings` has run): the stored findings on
  the lines this invoice bills, for the months of its period, are repeated on the invoice so that a dispute can
  contest them: MOBILE-OVERAGE-INCLUDED (usage billed that the plan includes), MOBILE-ZERO-USE (a line paid for
  but unused: a warning, the carrier billed right), MOBILE-ROAMING-SPIKE (a warning). AFTER-CANCEL is not
  repeated: LINE-INACTIVE already prices charges on a cancelled line.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter, defaultdict
from fractions import Fraction
from typing import Any

import msgspec
import numpy as np

from engine.money import SCALE, divide_round, format_exact
from i18n import _
from store import display
from store.inventory import InventoryStore, InventoryStoreError, open_inventory
from store.invoices import InvoiceStore
from tem.inventory import normalise_service

CENT = SCALE // 100
NOT_CHARGES = ("GROUP", "INFORMATION")  # status codes of headings and information lines: no money


class Finding(msgspec.Struct, kw_only=True):
    invoice_id: int
    rule: str
    expected: str | None
    actual: str | None
    at_stake: int
    message: str
    line: str = ""
    severity: str = "error"


def _s(v: int | None) -> str | None:
    return None if v is None else format_exact(v)


def _said(value: int) -> str:
    """An exact amount inside a finding's text: every decimal, in the writer's locale style (French: 1 234,50);
    English keeps the plain exact figure of the expected/actual columns."""
    if display.locale().split("_")[0] == "en":
        return format_exact(value)
    return display.amount(value, exact=True)


def duplicate_charges(istore: InvoiceStore, invoice_id: int) -> list[Finding]:
    out = []
    charges = [c for c in istore.charges(invoice_id) if c["status_code"] not in ("GROUP", "INFORMATION")]
    keys = Counter((c["service"], c["category"], c["description"], c["period_start"], c["period_end"], c["amount"],
                    c["tax_category"], c["tax_rate"]) for c in charges if c["category"] not in ("tax", "usage"))
    for (service, category, desc, _ps, _pe, amount, _tc, _tr), n in sorted(keys.items(), key=str):
        if n > 1 and amount:
            out.append(Finding(invoice_id=invoice_id, rule="DUPLICATE-CHARGE", expected="1", actual=str(n),
                               at_stake=abs(amount) * (n - 1),
                               line=normalise_service(service) if service else "(account)",
                               message=(_("{category} charge {description} of {amount} on {service} is billed {n} "
                                          "times") if service else
                                        _("{category} charge {description} of {amount} on the account is billed {n} "
                                          "times")).format(category=category, description=repr(desc),
                                                           amount=_said(amount), service=service, n=n)))
    calls = istore.call_detail(invoice_id)
    seen = Counter(zip(calls["service"].tolist(), calls["start"].tolist(), calls["dialled"].tolist(),
                       calls["amount"].tolist()))
    for (service, start, dialled, amount), n in sorted(seen.items(), key=str):
        if n > 1:
            out.append(Finding(invoice_id=invoice_id, rule="DUPLICATE-CALL", expected="1", actual=str(n),
                               at_stake=abs(int(amount)) * (n - 1), line=service,
                               message=_("call from {service} to {dialled} at {start} billed {n} times").format(
                                   service=service, dialled=dialled, start=start, n=n)))
    return out


def _months(start: str | None, end: str | None, issued: str | None) -> list[str]:
    """The YYYY-MM months a billing period covers (a period ending on the 1st does not cover that month)."""
    if not start:
        return [issued[:7]] if issued else []
    end = end or start
    y, m = int(start[:4]), int(start[5:7])
    ey, em = int(end[:4]), int(end[5:7])
    if end[8:10] == "01" and (ey, em) > (y, m):
        ey, em = (ey, em - 1) if em > 1 else (ey - 1, 12)
    out = []
    while (y, m) <= (ey, em) and len(out) < 120:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y, m + 1) if m < 12 else (y + 1, 1)
    return out


def account_gaps_and_overlaps(istore: InvoiceStore) -> list[Finding]:
    """MISSING-INVOICE and PERIOD-OVERLAP over every stored invoice."""
    out: list[Finding] = []
    by_account: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in istore.accounts_periods():
        if not r["credit"] and r["duplicate_of"] is None and r.get("kind", "invoice") == "invoice":
            by_account[(r["carrier"], r["account"])].append(r)
    for (carrier, account), rows in by_account.items():
        covered: dict[str, int] = {}
        for r in rows:
            for month in _months(r["period_start"], r["period_end"], r["issue_date"]):
                covered.setdefault(month, r["id"])
        months = sorted(covered)
        if months:
            expected = _months(months[0] + "-01", months[-1] + "-01", None)
            for month in expected:
                if month not in covered:
                    after = next(covered[m] for m in months if m > month)
                    out.append(Finding(invoice_id=after, rule="MISSING-INVOICE", expected=month, actual=None,
                                       at_stake=0, line=month, severity="warning",
                                       message=_("account {account} of {carrier}: no invoice for {month}").format(
                                           account=account, carrier=carrier, month=month)))
        dated = sorted((r for r in rows if r["period_start"] and r["period_end"]), key=lambda r: r["period_start"])
        for i, a in enumerate(dated):
            for b in dated[i + 1:]:
                if b["period_start"] < a["period_end"] or b["period_start"] == a["period_start"]:
                    out.append(Finding(invoice_id=b["id"], rule="PERIOD-OVERLAP",
                                       expected=f"after {a['period_end']}",
                                       actual=f"{b['period_start']}…{b['period_end']}", at_stake=0,
                                       line=f"invoice {a['number']}",
                                       message=_("billing period {start}…{end} overlaps invoice {number} "
                                                 "({other_start}…{other_end})").format(
                                           start=b["period_start"], end=b["period_end"], number=a["number"],
                                           other_start=a["period_start"], other_end=a["period_end"])))
    return out


def rerate_calls(istore: InvoiceStore, invoice_id: int, tariff: Any, dialplan: Any = None) -> list[Finding]:
    """RATE-MISMATCH / NO-RATE: re-rate the invoice's call detail with the contract tariff (a CompiledTariff) and
    compare each call's billed amount with the tariff's price. `dialplan` (ingest.dialplan.DialPlan) turns national
    numbers into E.164; without one the dialled digits must already be E.164."""
    inv = istore.invoice(invoice_id)
    calls = istore.call_detail(invoice_id)
    if inv is None or not len(calls["start"]):
        return []
    if tariff.tariff.currency != inv["currency"]:
        return [Finding(invoice_id=invoice_id, rule="RATE-CURRENCY", expected=tariff.tariff.currency,
                        actual=inv["currency"], at_stake=0, message=_("the tariff and the invoice are in different "
                                                                      "currencies: calls not re-rated"))]
    numbers = []
    for d in calls["dialled"].tolist():
        if dialplan is not None:
            n = dialplan.normalise(d, as_dialled=False)
            numbers.append(n.e164 or d)
        else:
            numbers.append(d[2:] if d.startswith("00") else d)
    result = tariff.rate(numbers, calls["start"], calls["duration"])
    out = []
    for i, number in enumerate(numbers):
        billed = int(calls["amount"][i])
        info = tariff.describe(result, i)
        when = int(calls["start"][i])
        if info["status"] != "rated":
            out.append(Finding(invoice_id=invoice_id, rule="NO-RATE", expected=None, actual=format_exact(billed),
                               at_stake=abs(billed), line=f"{calls['service'][i]}→{number}@{when}",
                               severity="warning",
                               message=_("call to {number} ({seconds} s): the contract tariff has no rate for it "
                                         "({status})").format(number=number, seconds=int(calls["duration"][i]),
                                                              status=info["status"])))
        elif info["cost"] != billed:
            out.append(Finding(invoice_id=invoice_id, rule="RATE-MISMATCH", expected=format_exact(info["cost"]),
                               actual=format_exact(billed), at_stake=abs(billed - info["cost"]),
                               line=f"{calls['service'][i]}→{number}@{when}",
                               message=_("call to {number} ({destination}, {seconds} s) billed {billed}, contract "
                                         "price {price}").format(number=number, destination=info["destination"],
                                                                 seconds=int(calls["duration"][i]),
                                                                 billed=_said(billed),
                                                                 price=_said(info["cost"]))))
    return out


# --- against the inventory ----------------------------------------------------------------------------------

END_OF_TIME = dt.date.max
DAY = dt.timedelta(days=1)


class Inventory:
    """The inventory's lines and contracts (every version), read once for an audit run."""

    def __init__(self, istore: InventoryStore):
        self.lines = _by_key(istore.items("line"))
        self.contracts = _by_key(istore.items("contract"))

    @property
    def empty(self) -> bool:
        return not self.lines


def _by_key(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        out[r["key"]].append(r)
    return dict(out)


def _bounds(v: dict[str, Any]) -> tuple[dt.date, dt.date]:
    """[from, to) of an inventory version as dates (to: the day after its last, END_OF_TIME when open)."""
    return dt.date.fromisoformat(v["valid_from"]), (dt.date.fromisoformat(v["valid_to"]) if v["valid_to"]
                                                    else END_OF_TIME)


def _at(versions: list[dict[str, Any]], day: dt.date) -> dict[str, Any] | None:
    for v in versions:
        lo, hi = _bounds(v)
        if lo <= day < hi:
            return v
    return None


def _active_days(versions: list[dict[str, Any]], first: dt.date, last: dt.date) -> int:
    """Days of [first, last] (inclusive) on which the line is in the inventory (its versions never overlap)."""
    days = 0
    for v in versions:
        lo, hi = _bounds(v)
        lo = max(lo, first)
        hi_incl = min(hi - DAY if hi != END_OF_TIME else END_OF_TIME, last)
        days += max(0, (hi_incl - lo).days + 1)
    return days


def _active_text(versions: list[dict[str, Any]]) -> str:
    parts = []
    for v in versions:
        lo, hi = _bounds(v)
        parts.append(f"{lo.isoformat()}…{(hi - DAY).isoformat()}" if hi != END_OF_TIME else
                     _("from {date}").format(date=lo.isoformat()))
    return _("active {periods}").format(periods=", ".join(parts))


def _span(charge: dict[str, Any], inv: dict[str, Any]) -> tuple[dt.date, dt.date] | None:
    """The days [first, last] a charge pays for: its own period, else its invoice's, else the issue date."""
    if charge["period_start"]:
        start, end = charge["period_start"], charge["period_end"] or charge["period_start"]
    elif inv["period_start"]:
        start, end = inv["period_start"], inv["period_end"] or inv["period_start"]
    elif inv["issue_date"]:
        start = end = inv["issue_date"]
    else:
        return None
    try:
        first, last = dt.date.fromisoformat(start[:10]), dt.date.fromisoformat(end[:10])
    except ValueError:
        return None
    return first, max(first, last)


def months_covered(first: dt.date, last: dt.date) -> Fraction:
    """How many months [first, last] covers: whole calendar months count 1, the rest by days of their month."""
    total = Fraction(0)
    day = first
    while day <= last:
        nxt = dt.date(day.year + (day.month == 12), day.month % 12 + 1, 1)
        in_month = (nxt - dt.date(day.year, day.month, 1)).days
        total += Fraction((min(nxt - DAY, last) - day).days + 1, in_month)
        day = nxt
    return total


def _span_text(first: dt.date, last: dt.date) -> str:
    return first.isoformat() if first == last else f"{first.isoformat()}…{last.isoformat()}"


class _Group:
    """Charges of one service under one rule: how many, money at stake, the days they cover."""

    def __init__(self) -> None:
        self.count = 0
        self.at_stake = 0
        self.first: dt.date | None = None
        self.last: dt.date | None = None

    def add(self, at_stake: int, first: dt.date, last: dt.date) -> None:
        self.count += 1
        self.at_stake += at_stake
        self.first = first if self.first is None else min(self.first, first)
        self.last = last if self.last is None else max(self.last, last)


def inventory_checks(istore: InvoiceStore, invoice_id: int, inventory: Inventory) -> list[Finding]:
    """LINE-UNKNOWN, LINE-INACTIVE and CONTRACT-FEE for one invoice (see the module docstring)."""
    inv = istore.invoice(invoice_id)
    if inv is None or inv["credit"] or inv.get("kind", "invoice") != "invoice" or inventory.empty:
        return []
    unknown: dict[str, _Group] = defaultdict(_Group)
    inactive: dict[str, _Group] = defaultdict(_Group)
    fees: dict[tuple[str, dt.date, dt.date], int] = defaultdict(int)
    usage_flagged: set[str] = set()  # services whose usage charges were flagged whole: their calls too
    for c in istore.charges(invoice_id):
        if c["status_code"] in NOT_CHARGES or c["category"] == "tax" or not c["service"] or c["amount"] <= 0:
            continue
        span = _span(c, inv)
        if span is None:
            continue
        first, last = span
        key = normalise_service(c["service"])
        versions = inventory.lines.get(key)
        if not versions:
            unknown[key].add(c["amount"], first, last)
            continue
        days = (last - first).days + 1
        active = _active_days(versions, first, last)
        if active == 0:
            inactive[key].add(c["amount"], first, last)
            if c["category"] != "recurring":
                usage_flagged.add(key)
        elif active < days:
            if c["category"] == "recurring":
                share = divide_round(c["amount"] * (days - active), days * CENT, "half_up") * CENT
                inactive[key].add(share, first, last)
        elif c["category"] == "recurring":
            fees[(key, first, last)] += c["amount"]
    out = []
    for key, g in sorted(unknown.items()):
        out.append(Finding(invoice_id=invoice_id, rule="LINE-UNKNOWN", expected=_("in the inventory"),
                           actual=_("billed {span}").format(span=_span_text(g.first, g.last)), at_stake=g.at_stake,
                           line=key, message=_("{n} charge(s) of {amount} on {line}, which is not in the "
                                               "inventory").format(n=g.count, amount=_said(g.at_stake),
                                                                   line=key)))
    for key, g in sorted(inactive.items()):
        out.append(Finding(invoice_id=invoice_id, rule="LINE-INACTIVE", expected=_active_text(inventory.lines[key]),
                           actual=_("billed {span}").format(span=_span_text(g.first, g.last)), at_stake=g.at_stake,
                           line=key, message=_("{n} charge(s) on {line} for {span}, outside the line's dates "
                                               "({active}): {amount} billed for days it was not in service").format(
                               n=g.count, line=key, span=_span_text(g.first, g.last),
                               active=_active_text(inventory.lines[key]), amount=_said(g.at_stake))))
    for (key, first, last), billed in sorted(fees.items()):
        line = _at(inventory.lines[key], first)
        code = (line or {}).get("contract")
        contract = _at(inventory.contracts.get(code, []), first) if code else None
        if contract is None or contract["monthly_fee"] is None:
            continue
        fee = contract["monthly_fee"]
        months = months_covered(first, last)
        if months.denominator == 1:
            expected, tolerance = fee * months.numerator, 0
        else:
            expected = divide_round(fee * months.numerator, months.denominator * CENT, "half_up") * CENT
            tolerance = CENT
        diff = billed - expected
        if abs(diff) <= tolerance:
            continue
        over = diff > 0
        how = _("a month") if months == 1 else _("a month x {months}").format(months=months)
        out.append(Finding(invoice_id=invoice_id, rule="CONTRACT-FEE", expected=format_exact(expected),
                           actual=format_exact(billed), at_stake=abs(diff), line=key,
                           severity="error" if over else "warning",
                           message=(_("recurring charges on {line} for {span}: {billed}, {diff} more than contract "
                                      "{contract} ({fee} {how})") if over else
                                    _("recurring charges on {line} for {span}: {billed}, {diff} less than contract "
                                      "{contract} ({fee} {how})")).format(
                               line=key, span=_span_text(first, last), billed=_said(billed),
                               diff=_said(abs(diff)), contract=code, fee=_said(fee), how=how)))
    out += _call_detail_lines(istore, invoice_id, inventory, set(unknown) | usage_flagged)
    return out


def _call_detail_lines(istore: InvoiceStore, invoice_id: int, inventory: Inventory, flagged: set[str]
                       ) -> list[Finding]:
    """LINE-UNKNOWN / LINE-INACTIVE for the calls of the call detail, each on its own (UTC) date. `flagged`: the
    services whose usage charges were already flagged whole (a carrier CSV lists each call as a usage charge too),
    not reported twice."""
    calls = istore.call_detail(invoice_id)
    if not len(calls["start"]):
        return []
    services = np.array([normalise_service(s) for s in calls["service"].tolist()], dtype=object)
    days = calls["start"].astype(np.int64) // 86400
    amounts = calls["amount"]
    out = []
    for key in sorted(set(services.tolist()) - flagged):
        mask = services == key
        versions = inventory.lines.get(key)
        if not versions:
            n, stake = int(mask.sum()), int(amounts[mask].sum())
            out.append(Finding(invoice_id=invoice_id, rule="LINE-UNKNOWN", expected=_("in the inventory"),
                               actual=_("{n} call(s)").format(n=n), at_stake=stake, line=key,
                               message=_("{n} call(s) of {amount} billed on {line}, which is not in the "
                                         "inventory").format(n=n, amount=_said(stake), line=key)))
            continue
        covered = np.zeros(len(days), dtype=bool)
        epoch = dt.date(1970, 1, 1)
        for v in versions:
            lo, hi = _bounds(v)
            covered |= (days >= (lo - epoch).days) & (days < (hi - epoch).days if hi != END_OF_TIME else True)
        bad = mask & ~covered
        if bad.any():
            n, stake = int(bad.sum()), int(amounts[bad].sum())
            when = [dt.date.fromordinal(epoch.toordinal() + int(d)) for d in (days[bad].min(), days[bad].max())]
            out.append(Finding(invoice_id=invoice_id, rule="LINE-INACTIVE", expected=_active_text(versions),
                               actual=_("{n} call(s) {span}").format(n=n, span=_span_text(*when)), at_stake=stake,
                               line=key, message=_("{n} call(s) of {amount} billed on {line} on {span}, outside the "
                                                   "line's dates ({active})").format(
                                   n=n, amount=_said(stake), line=key, span=_span_text(*when),
                                   active=_active_text(versions))))
    return out


MOBILE_RULES = {"OVERAGE-INCLUDED": "error", "ZERO-USE": "warning", "ROAMING-SPIKE": "warning"}


def mobile_checks(istore: InvoiceStore, invoice_id: int) -> list[Finding]:
    """The stored mobile findings on the lines this invoice bills, in its period's months (see the docstring)."""
    from store import schema
    from store.mobile import open_mobile

    inv = istore.invoice(invoice_id)
    if inv is None or inv["credit"] or inv.get("kind", "invoice") != "invoice" or \
            schema.version(istore.conn, "mobile") == 0:  # no mobile usage was ever imported
        return []
    services = {normalise_service(c["service"]) for c in istore.charges(invoice_id) if c["service"]}
    months = set(_months(inv["period_start"], inv["period_end"], inv["issue_date"]))
    out = []
    for f in open_mobile(istore.conn).findings():
        if f["rule"] in MOBILE_RULES and f["line"] in services and f["month"] in months and \
                f["currency"] in (None, inv["currency"]):
            out.append(Finding(invoice_id=invoice_id, rule=f"MOBILE-{f['rule']}", expected=f["expected"],
                               actual=f["actual"], at_stake=f["at_stake"],
                               message=_("{month}: {message}").format(month=f["month"], message=f["message"]),
                               line=f["line"], severity=MOBILE_RULES[f["rule"]]))
    return out


def audit(istore: InvoiceStore, invoice_ids: list[int], *, tariff: Any = None, dialplan: Any = None,
          inventory: InventoryStore | None = None) -> dict[int, list[Finding]]:
    """Run every audit rule on the invoices and store the findings with them. Returns the findings per invoice.
    The inventory rules read the inventory of the same database (`inventory`: an open InventoryStore, else opened
    on the invoices' connection); they are not run while it holds no line."""
    found: dict[int, list[Finding]] = {iid: [] for iid in invoice_ids}
    try:
        lines = Inventory(inventory if inventory is not None else open_inventory(istore.conn))
    except InventoryStoreError as exc:
        lines = None
        for iid in invoice_ids:
            found[iid].append(Finding(invoice_id=iid, rule="INVENTORY", expected=None, actual=None, at_stake=0,
                                      severity="warning", message=_("the inventory cannot be read ({error}): lines "
                                                                    "and contract fees not checked").format(
                                          error=exc)))
    for iid in invoice_ids:
        found[iid] += duplicate_charges(istore, iid)
        if tariff is not None:
            found[iid] += rerate_calls(istore, iid, tariff, dialplan)
        if lines is not None:
            found[iid] += inventory_checks(istore, iid, lines)
        found[iid] += mobile_checks(istore, iid)
    for f in account_gaps_and_overlaps(istore):
        if f.invoice_id in found:
            found[f.invoice_id].append(f)
    now = int(time.time())
    for iid, findings in found.items():
        istore.add_checks(iid, [(f.rule, 0, f.severity, f.expected, f.actual, f.message, f.line, f.at_stake, now)
                                for f in findings], source="audit")
    return found
