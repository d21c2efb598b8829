"""Does an invoice add up? EN 16931 document totals, VAT breakdown, line arithmetic, X12 sums, balance identity.

Policy (from ../shared/reference/invoices.md, verified on the CEN and Factur-X examples):
- BR-CO-10..16 (document totals) are errors, checked exactly to the cent: sums are rounded half_up to 2 decimals
  as the CEN schematrons do (round(x*100) div 100), then compared. Factur-X EXTENDED allows 0.01 per summed part.
- BR-CO-17 (VAT of a category = base x rate / 100) is an error beyond the schematron's +/-1, a warning beyond 0.01.
- BR-x-08 (VAT base of a category = its lines - allowances + charges) is an error to the cent.
- Line arithmetic (Peppol R120: net = qty x price / base qty + charges - allowances, slack 0.02) is only a warning:
  it fails on many official examples (returns, base quantity = price, 0-decimal currencies).
- X12 811: the lines, allowances, charges and taxes must sum to TDS; the call detail of a loop should sum to its usage
  lines (warning); carrier format errors (a decimal point in an N2 field) are errors.
- Balance: previous balance - payments + adjustments + current charges = amount due, where the file states them.
A check that cannot be made because the document does not carry the data (MINIMUM profile: no lines, no VAT
breakdown; CSV: no stated totals) is listed in `not_checked` with the reason, never passed silently.
A failed check never blocks storing: the invoice is stored with status "invalid" and these findings.
"""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction

import msgspec

from engine.money import SCALE, divide_round, format_exact, round_money
from ingest.invoice.model import Invoice

CENT = SCALE // 100
EN16931_FORMATS = ("ubl", "cii", "facturx")
EXEMPT = {"E", "Z", "AE", "K", "G", "O"}  # VAT categories whose tax is 0 by definition


class Check(msgspec.Struct, kw_only=True):
    rule: str
    ok: bool
    severity: str = "error"  # error | warning
    expected: str | None = None
    actual: str | None = None
    message: str = ""
    line: str = ""  # the invoice line (or X12 loop) the check is about; "" for the document
    at_stake: int = 0  # |expected - actual| in 10**-8 units: the money a failed check puts in question


class NotChecked(msgspec.Struct, kw_only=True):
    rule: str
    reason: str


class Validation(msgspec.Struct, kw_only=True):
    status: str  # valid | invalid
    checks: list[Check]
    not_checked: list[NotChecked]

    @property
    def errors(self) -> list[Check]:
        return [c for c in self.checks if not c.ok and c.severity == "error"]


def _s(value: int | None) -> str | None:
    return None if value is None else format_exact(value)


def _cent(value: int) -> int:
    return round_money(value, 2, "half_up")


class _Checks:
    def __init__(self) -> None:
        self.checks: list[Check] = []
        self.skipped: list[NotChecked] = []

    def compare(self, rule: str, expected: int, actual: int | None, message: str, *, slack: int = 0,
                severity: str = "error", line: str = "", rounded: bool = True) -> None:
        if actual is None:
            self.checks.append(Check(rule=rule, ok=False, severity=severity, expected=_s(expected), actual=None,
                                     message=f"{message}: the total is missing", line=line, at_stake=abs(expected)))
            return
        want = _cent(expected) if rounded else expected
        diff = abs(want - actual)
        self.checks.append(Check(rule=rule, ok=diff <= slack, severity=severity, expected=_s(want), actual=_s(actual),
                                 message=message, line=line, at_stake=diff if diff > slack else 0))

    def skip(self, rule: str, reason: str) -> None:
        self.skipped.append(NotChecked(rule=rule, reason=reason))


def validate(inv: Invoice) -> Validation:
    """Every check that applies to `inv`, the ones that could not be made, and the resulting status."""
    c = _Checks()
    for problem in inv.format_errors:
        c.checks.append(Check(rule="FORMAT", ok=False, message=problem))
    if inv.format in EN16931_FORMATS:
        _en16931(inv, c)
    elif inv.format == "x12-811":
        _x12(inv, c)
    else:
        c.skip("TOTALS", "the file states no document totals (CSV detail): totals are summed from its rows")
        _line_arithmetic(inv, c)
    _balance(inv, c)
    invalid = any(not k.ok and k.severity == "error" for k in c.checks)
    return Validation(status="invalid" if invalid else "valid", checks=c.checks, not_checked=c.skipped)


def _summed_lines(inv: Invoice) -> list:
    """Invoice lines that count in BT-106: plain lines and French DETAIL sub-lines (not GROUP/INFORMATION)."""
    return [ch for ch in inv.charges if ch.level == "line" and ch.status_code in ("", "DETAIL")]


def _en16931(inv: Invoice, c: _Checks) -> None:
    t = inv.totals
    lines = _summed_lines(inv)
    doc_allow = [ch for ch in inv.charges if ch.level == "document" and ch.category == "discount"]
    doc_charge = [ch for ch in inv.charges if ch.level == "document" and ch.category != "discount"]
    extended = "extended" in inv.profile.lower()

    def slack(parts: int) -> int:
        return CENT * max(parts, 1) if extended else 0

    if not lines and t.lines is None:
        c.skip("BR-CO-10", f"no invoice lines (profile {inv.profile or 'unknown'} carries no line detail)")
    else:
        c.compare("BR-CO-10", sum(ch.amount for ch in lines), t.lines,
                  "sum of line net amounts = LineTotalAmount (BT-106)", slack=slack(len(lines)))
    if t.allowances is not None or doc_allow:
        c.compare("BR-CO-11", -sum(ch.amount for ch in doc_allow), t.allowances if t.allowances is not None else 0,
                  "sum of document allowances = AllowanceTotalAmount (BT-107)", slack=slack(len(doc_allow)))
    if t.charges is not None or doc_charge:
        c.compare("BR-CO-12", sum(ch.amount for ch in doc_charge), t.charges if t.charges is not None else 0,
                  "sum of document charges = ChargeTotalAmount (BT-108)", slack=slack(len(doc_charge)))
    if t.lines is None:
        c.skip("BR-CO-13", "no LineTotalAmount (BT-106) to derive the amount without VAT from")
    else:
        c.compare("BR-CO-13", t.lines - (t.allowances or 0) + (t.charges or 0), t.tax_exclusive,
                  "LineTotal - AllowanceTotal + ChargeTotal = TaxExclusive / TaxBasisTotal (BT-109)",
                  slack=slack(3) if extended else 0)
    if not inv.taxes:
        c.skip("BR-CO-14", f"no VAT breakdown (profile {inv.profile or 'unknown'} carries none)")
    else:
        c.compare("BR-CO-14", sum(x.amount for x in inv.taxes), t.tax if t.tax is not None else 0,
                  "sum of VAT category amounts = TaxTotalAmount (BT-110)", slack=slack(len(inv.taxes)))
    if t.tax_exclusive is not None:
        c.compare("BR-CO-15", t.tax_exclusive + (t.tax or 0), t.tax_inclusive,
                  "TaxExclusive + TaxTotal = TaxInclusive / GrandTotal (BT-112)", slack=slack(2) if extended else 0)
    if t.tax_inclusive is not None:
        c.compare("BR-CO-16", t.tax_inclusive - (t.prepaid or 0) + (t.rounding or 0) + (t.third_party or 0),
                  t.payable, "GrandTotal - Prepaid + Rounding = PayableAmount / DuePayableAmount (BT-115)",
                  slack=slack(3) if extended else 0)
    else:
        c.skip("BR-CO-16", "no GrandTotal (BT-112)")
    _vat_breakdown(inv, c, lines)
    _line_arithmetic(inv, c)


def _rate(text: str) -> Fraction | None:
    try:
        return Fraction(text) if text else None
    except (ValueError, ZeroDivisionError):
        return None


def _vat_breakdown(inv: Invoice, c: _Checks, lines: list) -> None:
    by_key: dict[tuple[str, Fraction | None], int] = defaultdict(int)
    for ch in lines + [ch for ch in inv.charges if ch.level == "document"]:
        by_key[(ch.tax_category, _rate(ch.tax_rate))] += ch.amount
    for x in inv.taxes:
        rate = _rate(x.rate)
        label = f"VAT {x.category} {x.rate or ''}%".replace(" %", "")
        if rate is not None or x.category in EXEMPT:
            exact = Fraction(x.base) * (rate or 0) / 100  # 10**-8 units, rounded once, half_up to the cent
            expected = divide_round(exact.numerator, exact.denominator * CENT, "half_up") * CENT
            diff = abs(expected - x.amount)
            c.checks.append(Check(rule="BR-CO-17", ok=diff <= SCALE, expected=_s(expected), actual=_s(x.amount),
                                  message=f"{label}: base x rate / 100 = category tax (within 1.00)", line=label,
                                  at_stake=diff if diff > SCALE else 0))
            if diff > CENT and diff <= SCALE:
                c.checks.append(Check(rule="VAT-ROUND", ok=False, severity="warning", expected=_s(expected),
                                      actual=_s(x.amount), message=f"{label}: tax differs by more than 0.01",
                                      line=label, at_stake=diff))
        if lines:
            key = (x.category, rate)
            if key in by_key:
                c.compare(f"BR-{x.category or 'S'}-08", by_key[key], x.base,
                          f"{label}: lines - allowances + charges at this category = taxable base", line=label)


def _line_arithmetic(inv: Invoice, c: _Checks) -> None:
    bad = 0
    checked = 0
    for ch in inv.charges:
        if ch.level != "line" or ch.quantity is None or ch.unit_price is None or ch.category == "tax":
            continue
        checked += 1
        base = ch.base_quantity or SCALE
        exact = Fraction(ch.quantity * ch.unit_price, base) + ch.charges - ch.allowances
        expected = divide_round(exact.numerator, exact.denominator, "half_up")
        diff = abs(expected - ch.amount)
        if diff > 2 * CENT:
            bad += 1
            c.checks.append(Check(rule="LINE-ARITHMETIC", ok=False, severity="warning", expected=_s(expected),
                                  actual=_s(ch.amount), line=ch.line_id,
                                  message=f"line {ch.line_id}: quantity x price / base quantity + charges - "
                                          f"allowances = line amount (Peppol R120, slack 0.02)", at_stake=diff))
        if ch.quantity < 0 and not inv.credit and ch.amount < 0:
            c.checks.append(Check(rule="NEGATIVE-QUANTITY", ok=False, severity="warning", actual=_s(ch.quantity),
                                  line=ch.line_id, message=f"line {ch.line_id}: negative quantity on an invoice "
                                  "(a return or correction: check it is expected)"))
    if checked and not bad:
        c.checks.append(Check(rule="LINE-ARITHMETIC", ok=True, severity="warning",
                              message=f"all {checked} priced lines: quantity x price = line amount (slack 0.02)"))


def _x12(inv: Invoice, c: _Checks) -> None:
    t = inv.totals
    computed = (t.lines or 0) - (t.allowances or 0) + (t.charges or 0) + (t.tax or 0)
    c.compare("X12-TDS", computed, t.payable, "IT1/SLN lines - ITA allowances + ITA charges + TXI taxes = TDS01",
              rounded=False)
    usage: dict[str, int] = defaultdict(int)
    calls: dict[str, int] = defaultdict(int)
    for ch in inv.charges:
        if ch.category == "usage" and ch.status_code != "INFORMATION":
            usage[ch.service] += ch.amount
    for call in inv.calls:
        calls[call.service] += call.amount
    for service, total in sorted(calls.items()):
        if service in usage:
            c.compare("X12-TCD", total, usage[service], f"{service or 'account'}: call detail (TCD) = usage lines",
                      line=service, severity="warning", rounded=False)
    if t.current_charges is not None and t.payable is not None:
        c.compare("X12-BAL-CURRENT", t.payable, t.current_charges, "TDS01 = BAL current charges", rounded=False)


def _balance(inv: Invoice, c: _Checks) -> None:
    t = inv.totals
    if t.amount_due is None or t.current_charges is None and t.payable is None:
        if inv.format == "x12-811":
            c.skip("BALANCE", "no BAL amount due: the balance identity cannot be checked")
        return
    current = t.current_charges if t.current_charges is not None else t.payable or 0
    c.compare("BALANCE", (t.previous_balance or 0) - (t.payments or 0) + (t.adjustments or 0) + current,
              t.amount_due, "previous balance - payments + adjustments + current charges = amount due", rounded=False)
