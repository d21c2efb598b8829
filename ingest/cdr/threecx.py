"""3CX call log CSV (cdr.log, file per call, or a socket capture).

The admin chooses the fields and their order, so the column order comes from, in this order of preference: a header
row in the file (skipped), ctx.profile["columns"], or the v16 default list. Records captured in the wild stop after
`chain` (20 fields); the default list accepts 20 up to all 27. `historyid` carries a literal "Call " prefix,
extensions are written "Ext.NNN", `duration` is talk time as hh:mm:ss (maybe fractional), times are local.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterator
from typing import BinaryIO

from i18n import _
from ingest.cdr.model import CallRecord, Item, ParseContext, Reject, Skipped, head_lines, lines

NAME = "3cx"

DEFAULT_COLUMNS: tuple[str, ...] = (
    "historyid", "callid", "duration", "time-start", "time-answered", "time-end", "reason-terminated", "from-no",
    "to-no", "from-dn", "to-dn", "dial-no", "reason-changed", "final-number", "final-dn", "bill-code", "bill-rate",
    "bill-cost", "bill-name", "chain", "from-type", "to-type", "final-type", "from-dispname", "to-dispname",
    "final-dispname", "missed-queue-calls",
)
DEFAULT_MIN = 20  # through `chain`: the shape of the lines quoted from real logs
REQUIRED = ("historyid", "duration", "time-start", "time-answered", "from-no", "to-no")
MAX_SECONDS = 7 * 86400
# Party types that are the outside world; any other non-empty type (Extension, Queue, IVR, RingGroup...) is ours.
EXTERNAL_TYPES = frozenset({"line", "voipprovider", "provider", "gateway", "trunk", "bridge", "external"})
_KNOWN = frozenset(DEFAULT_COLUMNS) | {"src_participant_terminated", "dst_participant_terminated"}
_HISTORY_RE = re.compile(r"^(?:call\s+)?(\d+)$", re.IGNORECASE)
_DURATION_RE = re.compile(r"^(\d{1,4}):(\d{2}):(\d{2}(?:\.\d+)?)$")
_TIME_RE = re.compile(r"^(\d{4})[/-](\d{1,2})[/-](\d{1,2})[ T](\d{1,2}):(\d{2}):(\d{2})(?:\.\d+)?$")
_EXT_RE = re.compile(r"^ext\.\s*", re.IGNORECASE)


class _Bad(ValueError):
    """A field that cannot be read: becomes a Reject with this message."""


def _split(text: str) -> list[str] | None:
    """One CSV line -> fields; None when the csv module cannot read it."""
    try:
        return next(csv.reader([text]), [])
    except csv.Error:
        return None


def _norm(name: str) -> str:
    """Column names are matched case-insensitively."""
    return name.strip().lower()


def _is_header(fields: list[str]) -> bool:
    """A row of column names: mostly known names, historyid among them."""
    names = [_norm(f) for f in fields if f.strip()]
    if not names or "historyid" not in names:
        return False
    return sum(1 for n in names if n in _KNOWN) * 2 >= len(names)


def _profile_columns(ctx: ParseContext) -> tuple[str, ...] | None:
    cols = ctx.profile.get("columns") if isinstance(ctx.profile, dict) else None
    if isinstance(cols, str):
        cols = cols.split(",")
    if isinstance(cols, (list, tuple)) and cols:
        return tuple(_norm(str(c)) for c in cols)
    return None


def sniff(head: bytes) -> int:
    """High when lines start with "Call NNN," (the historyid prefix) or the first line names 3CX columns."""
    try:
        rows = head_lines(head, 200)
        if not rows:
            return 0
        score = 0
        first = _split(rows[0]) or []
        if _is_header(first):
            names = {_norm(f) for f in first}
            score = 90 if {"callid", "time-start"} <= names else 70
            rows = rows[1:]
            if not rows:
                return score
        good = sum(1 for r in rows if re.match(r"^\"?Call \d+\"?,", r))
        if good:
            score = max(score, 40 + int(55 * good / len(rows)))
        return score
    except Exception:
        return 0


def _local(ctx: ParseContext, when: dt.datetime, notes: list[str]) -> int:
    """Local server time -> UTC epoch; notes a DST gap or overlap (the earlier instant is taken)."""
    zone = ctx.zone
    a, b = when.replace(tzinfo=zone, fold=0), when.replace(tzinfo=zone, fold=1)
    if a.utcoffset() != b.utcoffset():
        back = a.astimezone(dt.timezone.utc).astimezone(zone).replace(tzinfo=None)
        note = "nonexistent local time (DST gap)" if back != when else "ambiguous local time (DST overlap)"
        if note not in notes:
            notes.append(note)
    return ctx.local_to_utc(when)


def _later(ctx: ParseContext, value: str, when: int, start: int) -> int:
    """A time read before `start` that falls in the repeated hour of a fall-back: take its second (later) reading."""
    m = _TIME_RE.match(value.strip())
    if when >= start or not m:
        return when
    local = dt.datetime(*(int(g) for g in m.groups()))
    second = int(local.replace(tzinfo=ctx.zone, fold=1).timestamp())
    return second if second >= start else when


def _time(value: str, name: str, ctx: ParseContext, notes: list[str]) -> int:
    v = value.strip()
    fmt = ctx.profile.get("date_format") if isinstance(ctx.profile, dict) else None
    try:
        if fmt:
            when = dt.datetime.strptime(v, str(fmt))
        else:
            m = _TIME_RE.match(v)
            if not m:
                raise _Bad(f"{name}: " + _("{value} is not YYYY/MM/DD HH:MM:SS").format(value=repr(value)))
            when = dt.datetime(*(int(g) for g in m.groups()))
    except ValueError as exc:
        if isinstance(exc, _Bad):
            raise
        raise _Bad(f"{name}: " + _("{value} is not a date").format(value=repr(value))) from None
    return _local(ctx, when, notes)


def _duration(value: str, notes: list[str]) -> int:
    m = _DURATION_RE.match(value.strip())
    if not m:
        raise _Bad("duration: " + _("{value} is not hh:mm:ss").format(value=repr(value)))
    h, mi, s = int(m.group(1)), int(m.group(2)), float(m.group(3))
    if mi > 59 or s >= 60:
        raise _Bad("duration: " + _("{value} is not hh:mm:ss").format(value=repr(value)))
    exact = h * 3600 + mi * 60 + s
    if exact > MAX_SECONDS:
        raise _Bad("duration: " + _("{value} is longer than 7 days").format(value=repr(value)))
    seconds = int(exact + 0.5)
    if exact != int(exact):
        notes.append(f"duration {value.strip()} rounded to {seconds} s")
    return seconds


def _party(number: str, kind: str) -> bool:
    """True when the party is ours: its type says so, or (no type) it is written "Ext.NNN"."""
    k = kind.strip().lower().replace(" ", "").replace("_", "")
    if k:
        return k not in EXTERNAL_TYPES
    return bool(_EXT_RE.match(number.strip()))


def _ext(value: str) -> str:
    """Ext.201 -> 201; anything else as written."""
    return _EXT_RE.sub("", value.strip())


def _record(number: int, text: str, fields: list[str], col: dict[str, int], ctx: ParseContext) -> CallRecord:
    def get(name: str) -> str:
        i = col.get(name)
        return fields[i].strip() if i is not None and i < len(fields) else ""

    notes: list[str] = []
    hid = _HISTORY_RE.match(get("historyid"))
    if not hid:
        raise _Bad("historyid: " + _("{value} is not 'Call NNN'").format(value=repr(get('historyid'))))
    billable = _duration(get("duration"), notes)
    start = _time(get("time-start"), "time-start", ctx, notes)
    answered = get("time-answered")
    answer = _later(ctx, answered, _time(answered, "time-answered", ctx, notes), start) if answered else None
    if answer is not None and answer < start:
        raise _Bad("time-answered: " + _("{value} is before time-start").format(value=repr(answered)))
    ended = get("time-end")
    if ended:
        end = _later(ctx, ended, _time(ended, "time-end", ctx, notes), start)
        if end < start:
            raise _Bad("time-end: " + _("{value} is before time-start").format(value=repr(ended)))
        duration = end - start
    else:
        duration = (answer - start if answer is not None else 0) + billable
        notes.append("no time-end: duration derived")
    if duration > MAX_SECONDS:
        raise _Bad("time-end: " + _("call of {seconds} s is longer than 7 days").format(seconds=duration))

    from_no, to_no, final_no = get("from-no"), get("to-no"), get("final-number")
    from_dn, to_dn, final_dn = get("from-dn"), get("to-dn"), get("final-dn")
    from_ours = _party(from_no, get("from-type"))
    to_ours = _party(to_no, get("to-type"))
    final_ours = _party(final_no, get("final-type")) if final_no else to_ours
    extension = trunk = ""
    if from_ours and to_ours:
        direction, extension = "internal", _ext(from_no) or from_dn
    elif from_ours:
        direction, extension, trunk = "outgoing", _ext(from_no) or from_dn, to_dn or final_dn
    elif to_ours:
        direction, trunk = "incoming", from_dn
        extension = (_ext(final_no) or final_dn) if final_ours and final_no else (_ext(to_no) or to_dn)
    else:
        direction, trunk = "transit", to_dn
    disposition = "answered"
    if answer is None:
        if billable:
            notes.append(f"duration {get('duration')} without time-answered: not billable")
            billable = 0
        disposition = "busy" if "busy" in get("reason-terminated").lower() else "no_answer"
    return CallRecord(
        line=number,
        native_id=hid.group(1),
        group=get("callid"),
        start=start,
        answer=answer,
        duration=duration,
        billable=billable,
        direction=direction,
        disposition=disposition,
        extension=extension,
        trunk=trunk,
        caller=_ext(from_no),
        dialled=get("dial-no"),
        called=_ext(final_no),
        account=get("bill-code"),
        raw=text,
        notes=notes,
    )


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[Item]:
    """Every line of a 3CX CDR log as a CallRecord, Skipped (blank, header row) or Reject, in order."""
    profile = _profile_columns(ctx)
    columns = profile or DEFAULT_COLUMNS
    lowest = DEFAULT_MIN if profile is None else len(columns)
    col = {name: i for i, name in reversed(list(enumerate(columns)))}
    for number, text in lines(stream, ctx.encoding):
        try:
            if not text.strip():
                yield Skipped(line=number, raw=text, what="blank")
                continue
            fields = _split(text)
            if fields is None:
                yield Reject(line=number, raw=text, reason="line: " + _("not readable as CSV"))
                continue
            if _is_header(fields):
                columns = tuple(_norm(f) for f in fields)
                while columns and not columns[-1]:
                    columns = columns[:-1]  # a trailing comma
                lowest = len(columns)
                col = {name: i for i, name in reversed(list(enumerate(columns)))}
                yield Skipped(line=number, raw=text, what="header")
                continue
            if len(fields) > len(columns) and not any(f.strip() for f in fields[len(columns):]):
                fields = fields[: len(columns)]  # trailing empty fields (a final comma)
            if not lowest <= len(fields) <= len(columns):
                want = str(len(columns)) if lowest == len(columns) else f"{lowest} to {len(columns)}"
                yield Reject(line=number, raw=text, reason="columns: " + _(
                    "{count}, expected {expected}").format(count=len(fields), expected=want))
                continue
            missing = [n for n in REQUIRED if n not in col]
            if missing:
                yield Reject(line=number, raw=text, reason="columns: " + _(
                    "no {value} in the column list").format(value=repr(missing[0])))
                continue
            yield _record(number, text, fields, col, ctx)
        except _Bad as bad:
            yield Reject(line=number, raw=text, reason=str(bad))
        except Exception as exc:  # the invariant: one item per line, never an exception
            yield Reject(line=number, raw=text, reason="line: " + _(
                "unexpected error {kind}: {error}").format(kind=type(exc).__name__, error=exc))
