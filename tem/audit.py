"""Invoice audit: what a correct-looking invoice can still get wrong. Each finding has the rule, expected, actual
and the money at stake, and is stored with the invoice (source "audit"; re-running replaces the previous audit
findings, except those a dispute already contests).

Rules:
- DUPLICATE-CHARGE: the same charge (service, category, description, period, amount, VAT category and rate) twice
  on one invoice.
- DUPLICATE-CALL: the same call (service, start, dialled number, amount) twice in one invoice's call detail.
- MISSING-INVOICE: an account billed for months M1 and M3 but not M2 (per carrier + account, by billing period or,
  without one, issue month).
- PERIOD-OVERLAP: two invoices (not credit notes, not flagged duplicates) of one account whose billing periods
  overlap: rental billed twice.
- RATE-MISMATCH: a call of the call detail whose amount differs from the contract tariff's price for it (the call
  re-rated with the engine); NO-RATE when the tariff has no rate for the number.
- Duplicate invoices (same carrier + account + number from another file) are flagged at import (DUPLICATE-INVOICE).
Not yet: charges on lines not in the inventory or outside their active dates, and recurring charges that differ
from the contract, need the inventory and contracts component (a later issue); they are not checked here.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from typing import Any

import msgspec

from engine.money import format_exact
from store.invoices import InvoiceStore


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


def duplicate_charges(istore: InvoiceStore, invoice_id: int) -> list[Finding]:
    out = []
    charges = [c for c in istore.charges(invoice_id) if c["status_code"] not in ("GROUP", "INFORMATION")]
    keys = Counter((c["service"], c["category"], c["description"], c["period_start"], c["period_end"], c["amount"],
                    c["tax_category"], c["tax_rate"]) for c in charges if c["category"] not in ("tax", "usage"))
    for (service, category, desc, _ps, _pe, amount, _tc, _tr), n in sorted(keys.items(), key=str):
        if n > 1 and amount:
            out.append(Finding(invoice_id=invoice_id, rule="DUPLICATE-CHARGE", expected="1", actual=str(n),
                               at_stake=abs(amount) * (n - 1), line=service or "(account)",
                               message=f"{category} charge {desc!r} of {format_exact(amount)} on "
                                       f"{service or 'the account'} is billed {n} times"))
    calls = istore.call_detail(invoice_id)
    seen = Counter(zip(calls["service"].tolist(), calls["start"].tolist(), calls["dialled"].tolist(),
                       calls["amount"].tolist()))
    for (service, start, dialled, amount), n in sorted(seen.items(), key=str):
        if n > 1:
            out.append(Finding(invoice_id=invoice_id, rule="DUPLICATE-CALL", expected="1", actual=str(n),
                               at_stake=abs(int(amount)) * (n - 1), line=service,
                               message=f"call from {service} to {dialled} at {start} billed {n} times"))
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
        if not r["credit"] and r["duplicate_of"] is None:
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
                                       message=f"account {account} of {carrier}: no invoice for {month}"))
        dated = sorted((r for r in rows if r["period_start"] and r["period_end"]), key=lambda r: r["period_start"])
        for i, a in enumerate(dated):
            for b in dated[i + 1:]:
                if b["period_start"] < a["period_end"] or b["period_start"] == a["period_start"]:
                    out.append(Finding(invoice_id=b["id"], rule="PERIOD-OVERLAP",
                                       expected=f"after {a['period_end']}",
                                       actual=f"{b['period_start']}…{b['period_end']}", at_stake=0,
                                       line=f"invoice {a['number']}",
                                       message=f"billing period {b['period_start']}…{b['period_end']} overlaps invoice "
                                               f"{a['number']} ({a['period_start']}…{a['period_end']})"))
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
                        actual=inv["currency"], at_stake=0, message="the tariff and the invoice are in different "
                        "currencies: calls not re-rated")]
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
                               message=f"call to {number} ({int(calls['duration'][i])} s): the contract tariff has no "
                                       f"rate for it ({info['status']})"))
        elif info["cost"] != billed:
            out.append(Finding(invoice_id=invoice_id, rule="RATE-MISMATCH", expected=format_exact(info["cost"]),
                               actual=format_exact(billed), at_stake=abs(billed - info["cost"]),
                               line=f"{calls['service'][i]}→{number}@{when}",
                               message=f"call to {number} ({info['destination']}, {int(calls['duration'][i])} s) "
                                       f"billed {format_exact(billed)}, contract price {format_exact(info['cost'])}"))
    return out


def audit(istore: InvoiceStore, invoice_ids: list[int], *, tariff: Any = None, dialplan: Any = None
          ) -> dict[int, list[Finding]]:
    """Run every audit rule on the invoices and store the findings with them. Returns the findings per invoice."""
    found: dict[int, list[Finding]] = {iid: [] for iid in invoice_ids}
    for iid in invoice_ids:
        found[iid] += duplicate_charges(istore, iid)
        if tariff is not None:
            found[iid] += rerate_calls(istore, iid, tariff, dialplan)
    for f in account_gaps_and_overlaps(istore):
        if f.invoice_id in found:
            found[f.invoice_id].append(f)
    now = int(time.time())
    for iid, findings in found.items():
        istore.add_checks(iid, [(f.rule, 0, f.severity, f.expected, f.actual, f.message, f.line, f.at_stake, now)
                                for f in findings], source="audit")
    return found
