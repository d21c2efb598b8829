"""Reconciliation: the carrier's call detail (what the invoice bills, call by call) against the calls the PBX saw
and we rated. The matching itself is the compiled kernel `engine._recon.match`; this module chooses the two sides,
turns them into columns, runs it and shapes the result for the CLI, the TUI and JSON.

The sides:
* invoice: every call of the detail; the number matched is the *dialled* number (E.164 digits).
* calls: stored calls that are outgoing, answered (billable > 0) and not merged into another leg (billed = 1), in the
  period (widened by the start tolerance so that a call at the edge can still meet its line), optionally of one
  site and some trunks. The start compared is the answer time where the PBX gives one (carriers bill from answer),
  else the call start; the duration is the billable (talk) time; the amount is the rated cost (0 for a call with
  no cost, e.g. no_rate: it then shows as a cost mismatch, with its status).
A call in the widened margin that matches nothing is left out: it belongs to the neighbouring period.

Default tolerances, and why:
* start +/-60 s: PBX clocks drift and some SMDR formats give the start to the minute only; where the PBX has no
  answer time, ringing (typically under 30 s) separates the two starts.
* duration +/-5 s: network and PBX answer/release signalling differ by a second or two at each end, and both sides
  truncate to whole seconds. Carriers whose detail shows the billed (rounded up) duration need the increment here
  (e.g. --tolerance-duration 60).
* cost 0.005 (half a cent): amounts that agree to the cent; a carrier that rounds each call up or down where our
  tariff keeps 4 decimals shows up as cost mismatches, which is a finding (set the tariff's rounding to match).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from engine import _recon
from engine.money import MoneyError, format_exact, parse_money
from i18n import _
from ingest.cdr.model import EARLIEST, LATEST

CLASS_NAMES: tuple[str, ...] = tuple(_recon.CLASS_NAMES)
EXACT, NEAR, COST_MISMATCH, ONLY_INVOICE, ONLY_CDR = range(5)
MAX_KEY_DIGITS = 18  # "1" + 18 digits < 2**63


class ReconcileError(Exception):
    """Input that cannot be reconciled (a bad detail file, mixed currencies): the message says where and why."""


@dataclass(frozen=True)
class Tolerances:
    start: int = 60  # seconds
    duration: int = 5  # seconds
    amount: int = 500_000  # 10**-8 units: 0.005

    def as_json(self) -> dict[str, Any]:
        return {"start_s": self.start, "duration_s": self.duration, "cost": format_exact(self.amount)}


@dataclass
class Detail:
    """The carrier's call detail as columns. `line`: the line (or sequence number) of each call in its source."""

    number: np.ndarray  # object: dialled digits as given
    start: np.ndarray  # int64 UTC epoch seconds
    duration: np.ndarray  # int32 seconds
    amount: np.ndarray  # int64, 10**-8 units
    line: np.ndarray  # int64
    service: np.ndarray  # object: the billed line, "" when unknown

    def __len__(self) -> int:
        return len(self.start)


@dataclass
class Calls:
    """Rated calls as columns (store.recon.calls_for_reconciliation)."""

    id: np.ndarray  # int64
    number: np.ndarray  # object
    start: np.ndarray  # int64: answer time, else start
    duration: np.ndarray  # int32: billable seconds
    cost: np.ndarray  # int64 (0 where the call has no cost)
    status: np.ndarray  # object
    currency: np.ndarray  # object
    extension: np.ndarray  # object

    def __len__(self) -> int:
        return len(self.id)


@dataclass
class Reconciliation:
    """The outcome: a class and a partner per line of each side, totals per class, the money at stake."""

    detail: Detail
    calls: Calls
    tolerances: Tolerances
    period: tuple[int, int]  # [from, to) UTC epoch seconds
    inv_class: np.ndarray
    inv_match: np.ndarray
    cdr_class: np.ndarray
    cdr_match: np.ndarray
    in_scope: np.ndarray  # bool per call: inside the period, or matched
    totals: dict[str, dict[str, int]] = field(default_factory=dict)
    currency: str | None = None

    @property
    def money_at_stake(self) -> int:
        """What the carrier billed beyond the rated calls: the excess of cost mismatches plus the lines billed for
        calls the PBX never saw. (Undercharges are reported per class, not netted against it.)"""
        return self.totals["cost_mismatch"]["over"] + self.totals["only_invoice"]["over"]

    def lines(self, *, include_exact: bool = False) -> list[dict[str, Any]]:
        """One display row per invoice line (in detail order), then the calls nobody billed (in time order)."""
        out = []
        for i in range(len(self.detail)):
            cls = int(self.inv_class[i])
            if cls == EXACT and not include_exact:
                continue
            j = int(self.inv_match[i])
            out.append(self._row(cls, i, j if j >= 0 else None))
        for j in np.flatnonzero((self.cdr_class == ONLY_CDR) & self.in_scope).tolist():
            out.append(self._row(ONLY_CDR, None, j))
        return out

    def _row(self, cls: int, i: int | None, j: int | None) -> dict[str, Any]:
        d, c = self.detail, self.calls
        row: dict[str, Any] = {"class": CLASS_NAMES[cls]}
        a = int(d.amount[i]) if i is not None else 0
        b = int(c.cost[j]) if j is not None else 0
        if i is not None:
            row.update(invoice_line=int(d.line[i]), service=str(d.service[i]), number=str(d.number[i]),
                       invoice_start=_iso(int(d.start[i])), invoice_duration=int(d.duration[i]),
                       invoice_amount=format_exact(a))
        if j is not None:
            row.update(call_id=int(c.id[j]), call_number=str(c.number[j]), call_start=_iso(int(c.start[j])),
                       call_duration=int(c.duration[j]), call_cost=format_exact(b), call_status=str(c.status[j]),
                       extension=str(c.extension[j] or ""))
        if i is not None and j is not None:
            row.update(start_diff=int(d.start[i]) - int(c.start[j]),
                       duration_diff=int(d.duration[i]) - int(c.duration[j]))
        row["amount_diff"] = format_exact(a - b)
        return row

    def summary(self) -> dict[str, Any]:
        classes = {name: {"count": t["count"], "invoice": format_exact(t["invoice"]), "cdr": format_exact(t["cdr"]),
                          "difference": format_exact(t["invoice"] - t["cdr"]), "over": format_exact(t["over"]),
                          "under": format_exact(t["under"])} for name, t in self.totals.items()}
        offsets = self.detail.start[self.inv_match >= 0] - self.calls.start[self.inv_match[self.inv_match >= 0]]
        return {
            "tolerances": self.tolerances.as_json(),
            "period": {"from": _iso(self.period[0]), "to": _iso(self.period[1])},
            "currency": self.currency,
            "invoice_lines": len(self.detail),
            "calls": int(self.in_scope.sum()),
            "matched": int((self.inv_match >= 0).sum()),
            "classes": classes,
            "money_at_stake": format_exact(self.money_at_stake),
            "unbilled_calls_cost": format_exact(self.totals["only_cdr"]["cdr"]),
            # the carrier's clock minus the PBX's, median over the matched pairs: a steady offset is clock skew
            "median_start_offset_s": int(np.median(offsets)) if len(offsets) else None,
        }


def number_keys(numbers: Sequence[Any]) -> np.ndarray:
    """E.164 digit strings -> int64 keys ("1" + digits, so that leading zeros count). '+', spaces, dots, dashes and
    brackets are ignored. A number that is not digits (or has more than 18) gets a key of its own (negative, never
    equal to another), so it matches nothing."""
    out = np.empty(len(numbers), np.int64)
    memo: dict[Any, int] = {}
    for k, text in enumerate(numbers):
        key = memo.get(text)
        if key is None:
            digits = _DIGIT_NOISE.sub("", str(text or "")).lstrip("+")
            key = int("1" + digits) if digits.isascii() and digits.isdigit() and len(digits) <= MAX_KEY_DIGITS \
                else 0
            memo[text] = key
        out[k] = key if key else -1 - k
    return out


_DIGIT_NOISE = re.compile(r"[\s().\-/]")


def reconcile(detail: Detail, calls: Calls, tolerances: Tolerances = Tolerances(),
              period: tuple[int, int] | None = None, currency: str | None = None) -> Reconciliation:
    """Match `detail` to `calls` and classify. `calls` may include a margin around `period` (tolerances.start on
    each side): calls there count only when they match an invoice line."""
    if period is None:
        period = detail_extent(detail)
    if currency:
        rated = {str(x) for x, cost in zip(calls.currency.tolist(), calls.cost.tolist()) if x and cost}
        other = sorted(rated - {currency})
        if other:
            raise ReconcileError(_("the invoice is in {currency} but calls in scope are rated in {others}: narrow the "
                                   "calls with --site/--trunk").format(currency=currency, others=", ".join(other)))
    try:
        res = _recon.match(number_keys(detail.number), _col(detail.start, np.int64), _col(detail.duration, np.int32),
                           _col(detail.amount, np.int64), number_keys(calls.number), _col(calls.start, np.int64),
                           _col(calls.duration, np.int32), _col(calls.cost, np.int64), tolerances.start,
                           tolerances.duration, tolerances.amount)
    except ValueError as exc:
        raise ReconcileError(_("cannot reconcile: {error}").format(error=exc)) from None
    in_period = (calls.start >= period[0]) & (calls.start < period[1])
    in_scope = in_period | (res["cdr_class"] != ONLY_CDR)
    totals = res["totals"]
    dropped = calls.cost[~in_scope]
    if len(dropped):  # unmatched calls of the margins belong to the neighbouring periods
        t = totals["only_cdr"]
        t["count"] -= len(dropped)
        values = [int(x) for x in dropped.tolist()]
        t["cdr"] -= sum(values)
        t["over"] -= sum(-x for x in values if x < 0)
        t["under"] -= sum(x for x in values if x > 0)
    return Reconciliation(detail, calls, tolerances, period, res["inv_class"], res["inv_match"], res["cdr_class"],
                          res["cdr_match"], in_scope, totals, currency)


def _col(values: np.ndarray, dtype: type) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=dtype)


def detail_extent(detail: Detail) -> tuple[int, int]:
    """The period a detail covers when nothing else says: its first start to one second after its last."""
    if not len(detail):
        return (0, 0)
    return (int(detail.start.min()), int(detail.start.max()) + 1)


def period_of_dates(first: str, last: str, zone: str) -> tuple[int, int]:
    """[first 00:00, the day after last 00:00) in `zone`, as UTC epoch seconds (invoice billing periods are dates,
    the last one included)."""
    tz = ZoneInfo(zone)
    start = dt.datetime.combine(dt.date.fromisoformat(first), dt.time(), tz)
    end = dt.datetime.combine(dt.date.fromisoformat(last) + dt.timedelta(days=1), dt.time(), tz)
    return int(start.timestamp()), int(end.timestamp())


def detail_from_columns(cols: dict[str, np.ndarray]) -> Detail:
    """The invoice store's call detail (store.invoices.InvoiceStore.call_detail) as a Detail."""
    n = len(cols["start"])
    return Detail(number=np.asarray(cols["dialled"], dtype=object), start=np.asarray(cols["start"], np.int64),
                  duration=np.asarray(cols["duration"]).astype(np.int32), amount=np.asarray(cols["amount"], np.int64),
                  line=np.arange(1, n + 1, dtype=np.int64), service=np.asarray(cols["service"], dtype=object))


def calls_from_columns(cols: dict[str, np.ndarray]) -> Calls:
    return Calls(**{name: cols[name] for name in ("id", "number", "start", "duration", "cost", "status",
                                                  "currency", "extension")})


# --- the plain CSV detail file (`anatole reconcile --detail FILE.csv`) -------------------------------------------

DETAIL_COLUMNS = ("number", "start", "duration", "amount")
_HMS = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{2})")


def read_detail_csv(path: Path | str, zone: str = "UTC") -> Detail:
    """A CSV with a header row naming at least number, start, duration, amount (any order; a `service` column is
    kept if present). start: ISO 8601 (without an offset: local time in `zone`) or epoch seconds; duration: seconds
    or [H:]MM:SS; amount: a decimal with a point. Every bad cell is reported with its line and column."""
    path = Path(path)
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReconcileError(_("unknown time zone {zone}").format(zone=repr(zone))) from None
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReconcileError(_("{path}: cannot read it: {error}").format(path=path, error=exc)) from None
    rows = csv.reader(text.splitlines())
    header = next(rows, None)
    if header is None:
        raise ReconcileError(_("{path}: empty file (expected a header: {header})").format(
            path=path, header=",".join(DETAIL_COLUMNS)))
    names = [h.strip().lower() for h in header]
    missing = [c for c in DETAIL_COLUMNS if c not in names]
    if missing:
        raise ReconcileError(_("{path}:1: missing column(s) {columns} (header: {header})").format(
            path=path, columns=", ".join(missing), header=",".join(names)))
    at = {name: names.index(name) for name in (*DETAIL_COLUMNS, "service") if name in names}
    problems: list[str] = []
    number, start, duration, amount, line, service = [], [], [], [], [], []
    for lineno, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(names):
            problems.append(f"{path}:{lineno}: " + _("{n} cells, the header has {expected}").format(
                n=len(row), expected=len(names)))
            continue
        cells = {name: row[k].strip() for name, k in at.items()}
        got = _detail_row(cells, tz)
        if isinstance(got, str):
            problems.append(f"{path}:{lineno}: {got}")
            continue
        number.append(cells["number"])
        start.append(got[0])
        duration.append(got[1])
        amount.append(got[2])
        line.append(lineno)
        service.append(cells.get("service", ""))
    if problems:
        more = "\n" + _("... and {n} more").format(n=len(problems) - 20) if len(problems) > 20 else ""
        raise ReconcileError("\n".join(problems[:20]) + more)
    return Detail(number=np.array(number, dtype=object), start=np.array(start, np.int64),
                  duration=np.array(duration, np.int32), amount=np.array(amount, np.int64),
                  line=np.array(line, np.int64), service=np.array(service, dtype=object))


def _detail_row(cells: dict[str, str], tz: ZoneInfo) -> tuple[int, int, int] | str:
    digits = _DIGIT_NOISE.sub("", cells["number"]).lstrip("+")
    if not digits or not digits.isascii() or not digits.isdigit() or len(digits) > MAX_KEY_DIGITS:
        return "number: " + _("{value} is not an E.164 number (digits, optionally with +)").format(
            value=repr(cells["number"]))
    raw = cells["start"]
    if raw.lstrip("-").isdigit():
        start = int(raw)
    else:
        try:
            when = dt.datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return "start: " + _("{value} is not an ISO 8601 date and time or epoch seconds").format(value=repr(raw))
        start = int((when if when.tzinfo else when.replace(tzinfo=tz)).timestamp())
    if not EARLIEST <= start < LATEST:  # the years a call can have (ingest.cdr.model): Python's datetime ends too
        return "start: " + _("{value} is outside the years 1970 to 2099").format(value=repr(raw))
    raw = cells["duration"]
    m = _HMS.fullmatch(raw)
    if raw.isdigit():
        seconds = int(raw)
    elif m:
        seconds = int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60 + int(m.group(3))
    else:
        return "duration: " + _("{value} is not seconds or [H:]MM:SS").format(value=repr(raw))
    if seconds >= 2**31:
        return "duration: " + _("{value} is too long").format(value=repr(raw))
    try:
        money = parse_money(cells["amount"])
    except MoneyError as exc:
        return f"amount: {exc}"
    return start, seconds, money


def _iso(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat().replace("+00:00", "Z")
