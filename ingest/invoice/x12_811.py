"""ANSI X12 811 consolidated service invoice / statement (US carriers), version-agnostic (3040-4040 segments).

Separators come from the ISA header (element separator = 4th character, component separator = ISA16, segment
terminator = the character after it); a file that starts at ST (no envelope) uses the character after "ST" and
"~" (or line ends). One invoice per ST...SE transaction set.

Our reading of the segments (carrier guides differ; what each carrier means by an HL level code is theirs, we keep
the HL path as the sub-account):
- BIG01 date, BIG02 invoice number; CUR02 currency (default USD); DTM*186/187 billing period; N1*SE/II/PE the
  carrier, N1*BT/BY the customer; REF*11/12/14 before the first HL = the billing account (BAN).
- HL*id*parent*level*child opens a loop; inside it REF*TN (telephone number), REF*ICC (SIM), REF*CKT (circuit)
  name the service (inherited by child loops); REF*11/12 name a sub-account.
- IT1: IT102 quantity (R), IT103 unit, IT104 unit price (R); amount = quantity x price. Category from the unit:
  MO/MON/YR recurring; MJ/MIN/SE/SEC/MB/GB/KB/MSG usage; anything else one-time. PID05 is the description.
- SLN: SLN03 relationship "I" (included) is informational and not summed; "A"/"O"/others are added lines;
  SLN04 quantity, SLN06 unit price (R).
- ITA: ITA01 A = allowance (a discount), C = charge; ITA07 amount is N2 (2 implied decimals); ITA13 description.
- TXI: TXI02 tax amount (R), TXI03 percent (R): a tax charge.
- TCD: itemised call: TCD02 date, TCD03 time (HHMM[SS]), TCD05 calling number, TCD08 called number, TCD10
  duration with TCD11 unit (SE seconds, MJ/MIN minutes; default seconds), TCD13 net amount else TCD12 (R).
  Calls are detail of the usage lines, not added to the invoice total.
- TDS01 (N2) = the invoice total; BAL*type*qualifier*amount(R): PB previous balance, PY/PP payments, AJ/ADJ
  adjustments, CC/TC current charges, TD/DU/YB/AD amount due.
A decimal point inside an N2 field is a carrier error: it is read as written and recorded as a format error.
Times in TCD carry no zone: they are read in the `timezone` given (default UTC).
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from engine.money import SCALE, MoneyError, divide_round, parse_money
from i18n import _
from ingest.invoice.common import iso_date, money_problem
from ingest.invoice.model import CallDetail, Charge, Invoice, InvoiceError, Party, Totals, negate

USAGE_UNITS = {"MJ", "MIN", "SE", "SEC", "MB", "GB", "KB", "MSG", "MG"}
RECURRING_UNITS = {"MO", "MON", "YR", "QT"}
SERVICE_REFS = {"TN": "phone", "ICC": "sim", "CKT": "circuit"}
ACCOUNT_REFS = {"11", "12", "14"}
BAL_FIELDS = {"PB": "previous_balance", "PY": "payments", "PP": "payments", "AJ": "adjustments",
              "ADJ": "adjustments", "CC": "current_charges", "TC": "current_charges", "TD": "amount_due",
              "DU": "amount_due", "YB": "amount_due", "AD": "amount_due"}


def looks_like(head: bytes) -> bool:
    s = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return s.startswith(b"ISA") or (s.startswith(b"ST") and s[3:6] == b"811")


def split_segments(text: str, where: str) -> list[list[str]]:
    """Segments as lists of elements, with the separators the interchange declares."""
    s = text.lstrip("\ufeff \t\r\n")
    if s.startswith("ISA"):
        if len(s) < 106:
            raise InvoiceError(f"{where}: " + _(
                "the ISA header is cut short ({count} characters, 106 expected)").format(count=len(s)))
        elem = s[3]
        # ISA has 16 elements: the component separator follows the 16th element separator
        pos = -1
        for _i in range(16):
            pos = s.find(elem, pos + 1)
            if pos < 0:
                raise InvoiceError(f"{where}: " + _("the ISA header does not have 16 elements"))
        if pos + 2 >= len(s):
            raise InvoiceError(f"{where}: " + _("the ISA header has no segment terminator"))
        term = s[pos + 2]
    elif s.startswith("ST"):
        if len(s) < 3:
            raise InvoiceError(f"{where}: " + _("no X12 segment found"))
        elem = s[2]
        term = "~" if "~" in s else "\n"
    else:
        raise InvoiceError(f"{where}: " + _("not an X12 interchange (no ISA or ST segment at the start)"))
    if elem.isalnum() or elem.isspace():
        raise InvoiceError(f"{where}: " + _("{elem} cannot be the X12 element separator").format(elem=repr(elem)))
    segments = []
    for raw in s.split(term):
        raw = raw.strip("\r\n \t")
        if raw:
            segments.append(raw.split(elem))
    return segments


def parse(data: bytes, where: str, timezone: str = "UTC") -> list[Invoice]:
    """Every ST*811 transaction set of the interchange as an Invoice."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    segments = split_segments(text, where)
    zone = ZoneInfo(timezone)
    out: list[Invoice] = []
    current: _Builder | None = None
    for n, seg in enumerate(segments, 1):
        tag = seg[0].strip().upper()
        at = f"{where}: " + _("segment {number} ({tag})").format(number=n, tag=tag)
        if tag == "ST":
            if current is not None:
                raise InvoiceError(f"{at}: " + _("ST before the SE of the previous transaction set"))
            if _el(seg, 1) != "811":
                raise InvoiceError(f"{at}: " + _(
                    "transaction set {value}, not an 811 invoice").format(value=repr(_el(seg, 1))))
            current = _Builder(where, zone)
            continue
        if tag in ("ISA", "GS", "GE", "IEA"):
            continue
        if current is None:
            raise InvoiceError(f"{at}: " + _("segment outside an ST...SE transaction set"))
        if tag == "SE":
            out.append(current.finish(at))
            current = None
            continue
        current.segment(tag, seg, at)
    if current is not None:
        raise InvoiceError(f"{where}: " + _("the last transaction set has no SE segment (file cut short?)"))
    if not out:
        raise InvoiceError(f"{where}: " + _("no ST*811 transaction set in the file"))
    return out


def _el(seg: list[str], i: int) -> str:
    return seg[i].strip() if len(seg) > i else ""


class _Builder:
    def __init__(self, where: str, zone: ZoneInfo):
        self.where, self.zone = where, zone
        self.number = ""
        self.issue: str | None = None
        self.currency = "USD"
        self.period: list[str | None] = [None, None]
        self.seller, self.buyer = Party(), Party()
        self.account = ""
        self.hl: dict[str, dict] = {}
        self.cur_hl: dict | None = None
        self.charges: list[Charge] = []
        self.calls: list[CallDetail] = []
        self.last: Charge | None = None
        self.tds: int | None = None
        self.bal: dict[str, int] = {}
        self.errors: list[str] = []
        self.credit = False
        self.ita: set[int] = set()  # seqs of ITA allowances/charges (the rest are lines or taxes)

    # --- element readers ---------------------------------------------------------------------------------

    def n2(self, text: str, at: str, field: str) -> int:
        """An N2 number (2 implied decimals) -> 10**-8 units."""
        t = text.strip()
        if "." in t:
            self.errors.append(f"{at}: " + _(
                "{field} {t} has a decimal point in an N2 field (2 implied decimals): read as written").format(
                field=field, t=repr(t)))
            return self.r(t, at, field)
        if not re.fullmatch(r"-?\d+", t):
            raise InvoiceError(f"{at}: " + _("{field}: {t} is not an N2 number").format(field=field, t=repr(t)))
        return int(t) * (SCALE // 100)

    def r(self, text: str, at: str, field: str) -> int:
        try:
            return parse_money(text)
        except MoneyError as exc:
            raise InvoiceError(f"{at}: {field}: {money_problem(exc)}") from None

    # --- segments ----------------------------------------------------------------------------------------

    def segment(self, tag: str, seg: list[str], at: str) -> None:
        hl = self.cur_hl
        if tag == "BIG":
            self.issue = iso_date(_el(seg, 1), at, "BIG01")
            self.number = _el(seg, 2)
            if _el(seg, 7) in ("CR", "CN"):
                self.credit = True
        elif tag == "CUR":
            if not re.fullmatch(r"[A-Z]{3}", _el(seg, 2)):
                raise InvoiceError(f"{at}: " + _(
                    "CUR02 {value} is not an ISO 4217 currency code").format(value=repr(_el(seg, 2))))
            self.currency = _el(seg, 2)
        elif tag == "DTM":
            if _el(seg, 1) in ("186", "187"):
                self.period[_el(seg, 1) == "187"] = iso_date(_el(seg, 2), at, "DTM02")
        elif tag == "N1":
            party = Party(name=_el(seg, 2), id=_el(seg, 4))
            if _el(seg, 1) in ("SE", "II", "PE") and not (self.seller.name or self.seller.id):
                self.seller = party
            elif _el(seg, 1) in ("BT", "BY"):
                self.buyer = party
        elif tag == "REF":
            qual, value = _el(seg, 1), _el(seg, 2)
            if hl is None:
                if qual in ACCOUNT_REFS and not self.account:
                    self.account = value
            elif qual in SERVICE_REFS:
                hl["service"], hl["kind"] = (value.lstrip("+") if qual == "TN" else value), SERVICE_REFS[qual]
            elif qual in ACCOUNT_REFS:
                hl["account"] = value
        elif tag == "HL":
            hid, parent = _el(seg, 1), _el(seg, 2)
            if not hid:
                raise InvoiceError(f"{at}: " + _("HL01 (the loop id) is empty"))
            if hid in self.hl:
                raise InvoiceError(f"{at}: " + _("HL id {hid} is used twice").format(hid=repr(hid)))
            if parent and parent not in self.hl:
                raise InvoiceError(f"{at}: " + _(
                    "HL parent {parent} is not an earlier HL loop").format(parent=repr(parent)))
            up = self.hl.get(parent)
            self.cur_hl = self.hl[hid] = {
                "id": hid, "path": f"{up['path']}/{hid}" if up else hid, "level": _el(seg, 3),
                "service": up["service"] if up else "", "kind": up["kind"] if up else "account",
                "account": up["account"] if up else ""}
            self.last = None
        elif tag == "IT1":
            qty = self.r(_el(seg, 2) or "1", at, "IT102")
            price = self.r(_el(seg, 4) or "0", at, "IT104")
            unit = _el(seg, 3).upper()
            cat = "recurring" if unit in RECURRING_UNITS else "usage" if unit in USAGE_UNITS else "one_time"
            self.add(Charge(seq=0, line_id=_el(seg, 1), category=cat, quantity=qty, unit_price=price, unit=unit,
                            amount=_times(qty, price), description=_el(seg, 7)))
        elif tag == "SLN":
            qty = self.r(_el(seg, 4) or "1", at, "SLN04")
            price = self.r(_el(seg, 6) or "0", at, "SLN06")
            unit = _el(seg, 5).upper()
            cat = "recurring" if unit in RECURRING_UNITS else "usage" if unit in USAGE_UNITS else "one_time"
            self.add(Charge(seq=0, line_id=f"{_el(seg, 2)}.{_el(seg, 1)}" if _el(seg, 2) else _el(seg, 1),
                            category=cat, quantity=qty, unit_price=price, unit=unit, amount=_times(qty, price),
                            status_code="INFORMATION" if _el(seg, 3) == "I" else ""))
        elif tag == "PID":
            if self.last is not None and _el(seg, 5):
                self.last.description = _el(seg, 5)
        elif tag == "ITA":
            kind = _el(seg, 1)
            if kind not in ("A", "C", "N"):
                raise InvoiceError(f"{at}: " + _(
                    "ITA01 {kind} is not A (allowance), C (charge) or N").format(kind=repr(kind)))
            value = self.n2(_el(seg, 7) or "0", at, "ITA07")
            desc = _el(seg, 13) or _el(seg, 3) or ("allowance" if kind == "A" else "charge")
            self.add(Charge(seq=0, line_id=f"ITA{len(self.charges) + 1}", level="line" if hl else "document",
                            category="discount" if kind == "A" else "one_time",
                            amount=-abs(value) if kind == "A" else value, description=desc), keep_last=True)
            self.ita.add(len(self.charges))
        elif tag == "TXI":
            value = self.r(_el(seg, 2) or "0", at, "TXI02")
            self.add(Charge(seq=0, line_id=f"TXI{len(self.charges) + 1}", level="line" if hl else "document",
                            category="tax", amount=value, tax=value, tax_category=_el(seg, 1),
                            tax_rate=_el(seg, 3), description=f"tax {_el(seg, 1)}".strip()), keep_last=True)
        elif tag == "TCD":
            self.call(seg, at)
        elif tag == "TDS":
            self.tds = self.n2(_el(seg, 1), at, "TDS01")
        elif tag == "BAL":
            field = BAL_FIELDS.get(_el(seg, 2))
            if _el(seg, 1) == "P" and _el(seg, 2) == "YB":
                field = "previous_balance"
            if field:
                self.bal[field] = self.r(_el(seg, 3), at, "BAL03")

    def add(self, charge: Charge, keep_last: bool = False) -> None:
        hl = self.cur_hl
        charge.seq = len(self.charges) + 1
        if hl is not None:
            charge.service, charge.service_kind, charge.sub_account = hl["service"], hl["kind"], hl["path"]
        self.charges.append(charge)
        if not keep_last:
            self.last = charge

    def call(self, seg: list[str], at: str) -> None:
        date, time = _el(seg, 2), _el(seg, 3)
        if not re.fullmatch(r"\d{8}", date) or not re.fullmatch(r"\d{4}(\d{2})?(\d{1,2})?", time):
            raise InvoiceError(f"{at}: " + _(
                "TCD02/TCD03 {date} {time} is not a date CCYYMMDD and time HHMM[SS]").format(
                date=repr(date), time=repr(time)))
        try:
            local = dt.datetime(int(date[:4]), int(date[4:6]), int(date[6:8]), int(time[:2]), int(time[2:4]),
                                int(time[4:6] or 0), tzinfo=self.zone)
        except ValueError:
            raise InvoiceError(f"{at}: " + _(
                "TCD02/TCD03 {date} {time} is not a valid date and time").format(
                date=repr(date), time=repr(time))) from None
        qty = _el(seg, 10) or "0"
        if not re.fullmatch(r"\d+(\.\d+)?", qty):
            raise InvoiceError(f"{at}: " + _("TCD10 duration {qty} is not a number").format(qty=repr(qty)))
        unit = _el(seg, 11).upper()
        seconds = parse_money(qty) * (60 if unit in ("MJ", "MIN") else 1)
        hl = self.cur_hl or {}
        self.calls.append(CallDetail(
            seq=len(self.calls) + 1, service=hl.get("service") or _el(seg, 5).lstrip("+"),
            start=int(local.timestamp()), duration=divide_round(seconds, SCALE, "half_up"),
            dialled=_el(seg, 8).lstrip("+"), amount=self.r(_el(seg, 13) or _el(seg, 12) or "0", at, "TCD13"),
            description=hl.get("path", "")))

    def finish(self, at: str) -> Invoice:
        if not self.number:
            raise InvoiceError(f"{at}: " + _("no BIG segment with the invoice number (BIG02)"))
        if self.tds is None:
            raise InvoiceError(f"{at}: " + _("no TDS segment (the invoice total is mandatory)"))
        summed = [c for c in self.charges if c.status_code != "INFORMATION"]
        lines = sum(c.amount for c in summed if c.seq not in self.ita and c.category != "tax")
        allowances = -sum(c.amount for c in summed if c.seq in self.ita and c.amount < 0)
        charges = sum(c.amount for c in summed if c.seq in self.ita and c.amount >= 0)
        tax = sum(c.amount for c in summed if c.category == "tax")
        inv = Invoice(format="x12-811", profile="X12 811", number=self.number, issue_date=self.issue,
                      period_start=self.period[0], period_end=self.period[1], currency=self.currency,
                      seller=self.seller, buyer=self.buyer, account=self.account or self.buyer.id or self.buyer.name,
                      charges=self.charges, calls=self.calls, format_errors=self.errors,
                      totals=Totals(lines=lines, allowances=allowances, charges=charges,
                                    tax_exclusive=lines - allowances + charges, tax=tax,
                                    tax_inclusive=lines - allowances + charges + tax, payable=self.tds,
                                    **self.bal))
        inv.notes.append(_(
            "lines, allowances, charges and tax totals are summed from IT1/SLN/ITA/TXI (an 811 states only the TDS "
            "total)"))
        if self.credit:
            negate(inv)
        return inv


def _times(qty: int, price: int) -> int:
    """quantity x unit price, both in 10**-8 units, rounded half_up to 10**-8 (named rounding)."""
    return divide_round(qty * price, SCALE, "half_up")
