"""Panasonic KX-TDA / KX-TDE / KX-NCP / KX-NS SMDR, printer style (cdr-formats.md section 6).

The PBX prints calls as a report: a header (``Date Time Ext CO Dial Number Ring Duration Acc code CD``) and a
dash line repeat every page, blank lines separate pages, and non-call lines (LOG IN, LOG OUT, Check in,
Check out, Timed Reminder) come in between. Field widths differ between models (KX-TD816: ext 3, CO 2,
number 25; pattern C: CO 4, number 50), so records are read by *tokens*, not columns::

    record   = date time ext co {number} [ring] duration [account] [cd] [cost] {extra}
    date     = MM/DD/YY (or MM/DD/YYYY)   order MDY, or ctx.profile["date_order"] = "DMY" | "YMD"
    time     = hh:mm AM|PM (suffix glued or one blank apart; without a suffix the time is 24-hour)
    ext      = 1 to 8 letters or digits    the extension
    co       = 1 to 4 digits               the CO line: trunk = "CO" + co as printed
    number   = outgoing digits, or "<I>" + CLI and/or "<D>" + DDI for incoming calls; several tokens are joined
    ring     = m'ss                        ring time
    duration = hh:mm'ss                    conversation time; more than 7 days is rejected
    account  = a token of digits, * or #   account code
    cd       = a token of letters          condition code (TR, FW, NA, ...) kept in notes
    cost     = digits "." digits [currency] (patterns B and C) kept in notes
    (any other token after the duration, or a second account code, rejects the line: "account code: ...")

Mapping: ``<I>``/``<D>`` -> incoming (caller = CLI, called = DDI, dialled = ""), else outgoing (dialled = the
number as printed; the dial plan later tells internal numbers apart). answer = start + ring, duration = ring +
conversation, billable = conversation; a zero conversation -> no_answer, answer None. Masked digits (``XX``)
stay in the number with note "masked". ``**`` printed instead of the date/time (the clock was changed during
the call) -> Reject: the start cannot be derived from the line alone. native_id is synthetic and stable
(date, time, ext, CO, number). The start has minute precision: note "low precision".
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import BinaryIO

from i18n import _
from ingest.cdr.model import CallRecord, Item, ParseContext, Reject, Skipped, lines

NAME = "panasonic"

MAX_DURATION = 7 * 86400
MAX_LINE = 400  # pattern C is 120 characters wide; longer lines are not records
_DATE = re.compile(r"^(\d{1,4})[/.-](\d{1,2})[/.-](\d{1,4})$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})([AaPp][Mm])?$")
_RING = re.compile(r"^(\d{1,3})'(\d{2})$")
_DURATION_LIKE = re.compile(r"^\d+:\d+'\d+$")
_DURATION = re.compile(r"^(\d{1,3}):(\d{2})'(\d{2})$")
_EXT = re.compile(r"^[0-9A-Za-z]{1,8}$")
_CO = re.compile(r"^\d{1,4}$")
_COST = re.compile(r"^\d+\.\d+[A-Za-z]{0,3}$")
_ACCOUNT = re.compile(r"^[0-9*#]+$")
_CD = re.compile(r"^[A-Za-z]{1,4}$")
_MARK = re.compile(r"<([A-Za-z])>([^<]*)")
_HEADER = re.compile(r"\bdate\b.*\btime\b.*\b(ext|co)\b", re.I)
_SEPARATOR = re.compile(r"^[-=_*\s]+$")
_EVENTS = (("timed reminder", "timed reminder"), ("log in", "log in"), ("login", "log in"), ("log out", "log out"),
           ("logout", "log out"), ("check in", "check in"), ("check-in", "check in"), ("check out", "check out"),
           ("check-out", "check out"), ("reminder", "timed reminder"))
_CANDIDATE = re.compile(r"^\s*\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}|\d'\d\d")
_SNIFF_RECORD = re.compile(r"^\s*\d{1,2}/\d{1,2}/\d{2,4}\s+\d{1,2}:\d{2}\s?[AaPp][Mm]\s+\S+\s+\d{1,4}\s"
                           r".*\d:\d{2}'\d{2}")


def sniff(head: bytes) -> int:
    """How sure we are that `head` is Panasonic SMDR: records with a ``hh:mm'ss`` duration, page headers."""
    try:
        text = head.decode("latin-1")
        rows = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if len(rows) > 1 and not text.endswith(("\n", "\r")):
            rows.pop()  # cut off by the 64 KiB limit
        rows = [r for r in rows if r.strip()][:300]
        records = sum(1 for r in rows if _SNIFF_RECORD.match(r))
        headers = sum(1 for r in rows if _HEADER.search(r) and re.search(r"dial|duration|ring", r, re.I))
        other = sum(1 for r in rows if _SEPARATOR.match(r) or _event(r))
    except Exception:  # sniffing never fails, whatever the bytes
        return 0
    if not rows or not (records or headers):
        return 0
    share = (records + headers + other) / len(rows)
    if not records:
        return int(30 + 20 * share)
    return min(98, int(70 + 28 * share)) if share >= 0.5 else int(20 + 40 * share)


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[Item]:
    """Every line of a Panasonic SMDR print-out, in order: a CallRecord, a Reject or a Skipped."""
    order = str(ctx.profile.get("date_order", "MDY")).upper() if isinstance(ctx.profile, dict) else "MDY"
    for number, text in lines(stream, ctx.encoding):
        try:
            yield _item(number, text, ctx, order)
        except Exception as exc:  # a bug must cost one line, never the import
            yield Reject(line=number, raw=text, reason=f"internal error: {type(exc).__name__}: {exc}")


def _event(text: str) -> str:
    low = " ".join(text.lower().split())
    for key, what in _EVENTS:
        if key in low:
            return what
    return ""


def _item(number: int, text: str, ctx: ParseContext, order: str) -> Item:
    stripped = text.strip()
    if not stripped:
        return Skipped(line=number, raw=text, what="blank")
    if _SEPARATOR.match(stripped) and "**" not in stripped:
        return Skipped(line=number, raw=text, what="separator")
    if _HEADER.search(stripped):
        return Skipped(line=number, raw=text, what="page header")
    event = _event(stripped)
    if event:
        return Skipped(line=number, raw=text, what=event)
    if not _CANDIDATE.search(stripped):
        return Skipped(line=number, raw=text, what="not a record")
    if len(text) > MAX_LINE:
        return Reject(line=number, raw=text, reason="record: " + _(
            "{count} characters, longer than any layout").format(count=len(text)))
    got = _read(stripped.split(), ctx, order, number, text)
    return Reject(line=number, raw=text, reason=got) if isinstance(got, str) else got


def _read(tokens: list[str], ctx: ParseContext, order: str, number: int, raw: str) -> CallRecord | str:
    """One record from its tokens, or the reason it cannot be read."""
    if "*" in tokens[0] or (len(tokens) > 1 and "**" in tokens[1]):
        return "date: " + _("clock changed during the call (the PBX printed ** instead of the date and time)")
    m = _DATE.match(tokens[0])
    if m is None:
        return "date: " + _("{value} is not MM/DD/YY").format(value=repr(tokens[0]))
    parts = {"MDY": (m[1], m[2], m[3]), "DMY": (m[2], m[1], m[3]), "YMD": (m[2], m[3], m[1])}.get(order)
    if parts is None:
        return "date: " + _("date_order {value} is not MDY, DMY or YMD").format(value=repr(order))
    month, day, year = int(parts[0]), int(parts[1]), int(parts[2])
    if len(parts[2]) == 2:
        year += 2000 if year < 70 else 1900
    elif len(parts[2]) != 4:
        return "date: " + _("{value} has no 2- or 4-digit year").format(value=repr(tokens[0]))
    if len(tokens) < 2:
        return "truncated: " + _("time, extension, CO and duration missing")
    time_s = tokens[1]
    rest = tokens[2:]
    if rest and rest[0].upper() in ("AM", "PM") and not time_s[-2:].isalpha():
        time_s += rest.pop(0)
    t = _TIME.match(time_s)
    if t is None:
        return "time: " + _("{value} is not hh:mmAM/PM").format(value=repr(time_s))
    hour, minute, suffix = int(t[1]), int(t[2]), (t[3] or "").upper()
    if minute > 59 or hour > 23 or (suffix and not 1 <= hour <= 12):
        return "time: " + _("{value} is not a time").format(value=repr(time_s))
    if suffix:
        hour = hour % 12 + (12 if suffix == "PM" else 0)
    try:
        local = dt.datetime(year, month, day, hour, minute)
    except ValueError:
        return "date: " + _("{value} is not a date").format(value=repr(tokens[0]))
    where = next((i for i, tok in enumerate(rest) if _DURATION_LIKE.match(tok)), None)
    if where is None:
        if len(rest) < 2:
            return "truncated: " + _("extension, CO or duration missing")
        return "duration: " + _("no hh:mm'ss field (truncated record?)")
    d = _DURATION.match(rest[where])
    if d is None or int(d[2]) > 59 or int(d[3]) > 59:
        return "duration: " + _("{value} is not hh:mm'ss").format(value=repr(rest[where]))
    talk = int(d[1]) * 3600 + int(d[2]) * 60 + int(d[3])
    body, tail = rest[:where], rest[where + 1:]
    ring = 0
    r = _RING.match(body[-1]) if body else None
    if r is not None:
        body.pop()
        if int(r[2]) > 59:
            return "ring: " + _("{value} is not m'ss").format(value=repr(r[0]))
        ring = int(r[1]) * 60 + int(r[2])
    if len(body) < 2:
        return "truncated: " + _("extension or CO missing before the duration")
    ext, co, dial = body[0], body[1], "".join(body[2:])
    if not _EXT.match(ext):
        return "extension: " + _("{value} is not an extension number").format(value=repr(ext))
    if not _CO.match(co):
        return "CO: " + _("{value} is not a CO line number").format(value=repr(co))
    if ring + talk > MAX_DURATION:
        return "duration: " + _("{value} is longer than 7 days").format(value=repr(rest[where]))
    notes = ["low precision"]
    account = ""
    for tok in tail:
        if _COST.match(tok):
            notes.append(f"cost {tok}")
        elif _CD.match(tok):
            notes.append(f"CD {tok.upper()}")
        elif _ACCOUNT.match(tok) and not account:
            account = tok
        else:
            return "account code: " + _(
                "{value} is not an account code, condition code or cost").format(value=repr(tok))
    marks = {k.upper(): v for k, v in _MARK.findall(dial)}
    lead = dial.split("<", 1)[0]
    incoming = "I" in marks or "D" in marks
    if "X" in _MARK.sub(lambda mk: mk[2], dial).upper():
        notes.append("masked")
    start = ctx.local_to_utc(local)
    answered = talk > 0
    return CallRecord(
        line=number, native_id=f"{year:04d}{month:02d}{day:02d}{hour:02d}{minute:02d}-{ext}-{co}-{dial}",
        start=start, answer=start + ring if answered else None, duration=ring + talk, billable=talk,
        direction="incoming" if incoming else "outgoing", disposition="answered" if answered else "no_answer",
        extension=ext, trunk=f"CO{co}", caller=marks.get("I", "") if incoming else ext,
        dialled="" if incoming else lead, called=marks.get("D", "") if incoming else "", account=account,
        raw=raw, notes=notes)
