"""Mitel MiVoice Business / 3300 ICP SMDR (cdr-formats.md section 5).

Mitel writes one fixed-width record per call (90 characters; 101 with extended digit length; 112/120 with
ANI/DNIS). The byte positions in our reference are unverified, so this parser reads the record by *tokens* in
the documented field order instead of by columns, and copes with fields that fixed-width output glues together
(the attendant flag and the time to answer, the completion status, the S/F flag and the called party, the
transfer flag and the third party).

Grammar accepted (``d`` = digit; tokens are separated by blanks unless "glued" is said)::

    record   = [flag] date time duration calling [att] [tta] [digits] [pulses] [status] called
               [xfer third] [account] [sysid] {extra}
    flag     = "-" | "%" | "+"            long-call flag (5-9:59, 10-29:59, 30+ min); may be glued to the date
    date     = d{1,2} "/" d{1,2}          month/day, no year: ParseContext.infer_year
    time     = d{1,2} ":" dd ["P" | "A"]  start; a P/A suffix means 12-hour mode (see below)
    duration = d{1,3} ":" dd ":" dd       hh:mm:ss; more than 7 days is rejected
    party    = "ATT" d* | ("T" | "X") d+ | d+        station, attendant console, trunk
    calling  = party
    att      = "*"                        attendant involved; may be glued to calling and to tta
    tta      = ddd | "***"                time to answer in seconds; "***" = never answered
    digits   = [0-9*#]+                   digits dialled (26 max)
    pulses   = ddddd                      meter pulses (exactly five digits)
    status   = letter [S | F] | S | F     completion status, then speed-call / forward flag; must follow a blank;
                                          may be glued to the called party ("AS2002")
    called   = party
    xfer     = "T" | "C" | "X"            transfer / conference; may be glued to third ("T2003")
    third    = party
    account  = d+ ;  sysid = ddd          account code, system id
    extra    = any token                  ANI / DNIS of the 112/120 layouts: kept in raw only

Where tokens are ambiguous:

* a 3-digit token (or ``***``) right after the calling party is the time to answer, except when the calling
  party is a station or attendant and nothing else could be the digits dialled: a station always dials, so
  ``2001 112 A T001`` is a call to 112, not 112 s to answer;
* a digit string followed directly by the tail (``241T 215``) is the called party, not digits dialled (an
  incoming call without DID digits): the called party is the only mandatory field after the time to answer;
* after the called party, the first digit token is the account code and the second the system id: a record
  carrying a system id but no account code reads its system id as the account code (the layouts cannot be
  told apart without verified columns);
* ``12:mm`` without a suffix is noon unless a P/A suffix was seen earlier in the stream (12-hour mode, where
  morning times carry no suffix), then it is 00:mm.

Mapping: a trunk calling party (T/X) -> incoming, extension = called party; else a trunk called party ->
outgoing, extension = calling party; else internal. Trunk to trunk -> transit. trunk = the T/X party.
Disposition: tta ``***`` -> no_answer; status B -> busy; E, T or I -> failed; else answered (the meaning of
the status letters is marked [verify] in our docs: older SX-200 manuals use T for "toll reversal received").
billable = duration for answered calls, 0 otherwise; answer = start (Mitel gives no answer time).
Mitel has no call id: native_id is synthetic and stable (date, 24-hour time, calling party, digits, duration);
leg and group stay empty and the importer dedupes on it. Every record is noted "year inferred" and "low
precision" (the start has no seconds).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from i18n import _
from ingest.cdr.model import CallRecord, Item, ParseContext, Reject, Skipped, lines

NAME = "mitel"

MAX_DURATION = 7 * 86400
MAX_LINE = 300  # the widest layout is 120 characters; longer lines are not records
_PARTY = r"ATT\d*|[TX]\d+|\d+"
_HEAD = re.compile(r"^\s*(?P<flag>[-%+])?\s*(?P<date>\S+)(?:\s+(?P<time>\S+))?(?:\s+(?P<dur>\S+))?"
                   r"(?:\s+(?P<rest>.*?))?\s*$")
_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})([AaPp])?$")
_DURATION = re.compile(r"^(\d{1,3}):(\d{2}):(\d{2})$")
_REST = re.compile(
    rf"""
    (?P<calling>{_PARTY})(?=[\s*]|$)
    (?:\s*(?P<att>\*))?
    (?:\s*(?P<tta>\d{{3}}|\*{{3}})(?=\s|$))?
    (?:\s+(?P<digits>[0-9*\#]+)(?=\s))?
    (?:\s+(?P<pulses>\d{{5}})(?=\s|[A-Z]))?
    (?:\s*(?<=[\s\d])(?P<status>[A-Z])??(?P<sf>[SF])??)?
    \s*(?P<called>{_PARTY})
    (?:\s*(?P<xfer>[TCX])\s*(?P<third>{_PARTY}))?
    (?=\s|$)
    (?:\s+(?P<account>\d+))?
    (?:\s+(?P<sysid>\d{{3}}))?
    (?P<extra>(?:\s+\S+)*)
    \s*$
    """,
    re.X,
)
_CALLING = re.compile(rf"^(?:{_PARTY})(?:\*|\s|$)")
_TRUNK = re.compile(r"^[TX]\d+$")
_CANDIDATE = re.compile(r"\d{1,2}/\d{1,2}|\d:\d\d")
_FAILED = frozenset("ETI")


@dataclass
class _State:
    twelve_hour: bool = False  # a P/A suffix was seen: unsuffixed times are morning times


def sniff(head: bytes) -> int:
    """How sure we are that `head` is Mitel SMDR: the share of its non-blank lines that read as records."""
    try:
        text = head.decode("latin-1")
        rows = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if len(rows) > 1 and not text.endswith(("\n", "\r")):
            rows.pop()  # cut off by the 64 KiB limit
        rows = [r for r in rows if r.strip()][:200]
        if not rows:
            return 0
        good = sum(1 for r in rows if isinstance(_read(r, _State()), dict))
    except Exception:  # sniffing never fails, whatever the bytes
        return 0
    if not good:
        return 0
    share = good / len(rows)
    return min(98, int(70 + 28 * share)) if share >= 0.5 else int(20 + 40 * share)


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[Item]:
    """Every line of a Mitel SMDR stream, in order: a CallRecord, a Reject with its reason, or a Skipped."""
    state = _State()
    for number, text in lines(stream, ctx.encoding):
        try:
            yield _item(number, text, ctx, state)
        except Exception as exc:  # a bug must cost one line, never the import
            yield Reject(line=number, raw=text, reason=f"internal error: {type(exc).__name__}: {exc}")


def _item(number: int, text: str, ctx: ParseContext, state: _State) -> Item:
    if not text.strip():
        return Skipped(line=number, raw=text, what="blank")
    if not _CANDIDATE.search(text):
        return Skipped(line=number, raw=text, what="not a record" + _(" (no date or time)"))
    got = _read(text, state)
    if isinstance(got, str):
        return Reject(line=number, raw=text, reason=got)
    month, day, hour, minute = got["month"], got["day"], got["hour"], got["minute"]
    try:
        year = ctx.infer_year(month, day, hour, minute)
    except ValueError:
        return Reject(line=number, raw=text, reason="date: " + _(
            "{value} is not a date in any year").format(value=repr(got['date'])))
    start = ctx.local_to_utc(dt.datetime(year, month, day, hour, minute))
    return _record(number, text, got, start)


def _read(text: str, state: _State) -> dict | str:
    """The fields of one record line, or the reason it cannot be read."""
    if len(text) > MAX_LINE:
        return "record: " + _(
            "{count} characters, longer than any Mitel layout (90 to 120)").format(count=len(text))
    head = _HEAD.match(text)
    if head is None:
        return "truncated: " + _("not a record")
    date_s, time_s, dur_s, rest = head["date"], head["time"], head["dur"], head["rest"]
    m = _DATE.match(date_s)
    if m is None:
        return "date: " + _("{value} is not mm/dd").format(value=repr(date_s))
    month, day = int(m[1]), int(m[2])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return "date: " + _("{value} is not a date").format(value=repr(date_s))
    if time_s is None:
        return "truncated: " + _("time, duration and parties missing")
    t = _TIME.match(time_s)
    if t is None:
        return "time: " + _("{value} is not hh:mm with an optional P/A").format(value=repr(time_s))
    hour, minute, suffix = int(t[1]), int(t[2]), (t[3] or "").upper()
    if minute > 59:
        return "time: " + _("{value} is not a time").format(value=repr(time_s))
    if suffix:
        if not 1 <= hour <= 12:
            return "time: " + _("{value} is not a 12-hour time").format(value=repr(time_s))
        hour = hour % 12 + (12 if suffix == "P" else 0)
        state.twelve_hour = True
    elif hour > 23:
        return "time: " + _("{value} is not a time").format(value=repr(time_s))
    elif hour == 12 and state.twelve_hour:
        hour = 0
    if dur_s is None:
        return "truncated: " + _("duration and parties missing")
    d = _DURATION.match(dur_s)
    if d is None:
        return "duration: " + _("{value} is not hh:mm:ss").format(value=repr(dur_s))
    if int(d[2]) > 59 or int(d[3]) > 59:
        return "duration: " + _("{value} has minutes or seconds over 59").format(value=repr(dur_s))
    duration = int(d[1]) * 3600 + int(d[2]) * 60 + int(d[3])
    if duration > MAX_DURATION:
        return "duration: " + _("{value} is longer than 7 days").format(value=repr(dur_s))
    if not rest:
        return "truncated: " + _("calling and called party missing after the duration")
    rest = " ".join(rest.split())  # tokens matter, not column widths
    r = _REST.match(rest)
    if r is None:
        if not _CALLING.match(rest):
            return "calling party: " + _(
                "{value} is not a station, ATTn, Tnnn or Xnnn").format(value=repr(rest.split()[0]))
        return "called party: " + _("missing or unreadable in {value}").format(value=repr(rest))
    fields = r.groupdict()
    digits, tta = fields["digits"] or "", fields["tta"] or ""
    if not digits and tta.isdigit() and not _TRUNK.match(fields["calling"]):
        digits, tta = tta, ""  # a station always dials: the 3 digits are the number, not a time to answer
    fields.update(date=date_s, month=month, day=day, hour=hour, minute=minute, flag=head["flag"] or "",
                  duration=duration, digits=digits, tta=tta, dur_text=dur_s)
    return fields


def _record(number: int, text: str, f: dict, start: int) -> CallRecord:
    calling, called, digits, duration = f["calling"], f["called"], f["digits"], f["duration"]
    calling_trunk, called_trunk = bool(_TRUNK.match(calling)), bool(_TRUNK.match(called))
    if calling_trunk and called_trunk:
        direction, extension, trunk = "transit", "", calling
    elif calling_trunk:
        direction, extension, trunk = "incoming", called, calling
    elif called_trunk:
        direction, extension, trunk = "outgoing", calling, called
    else:
        direction, extension, trunk = "internal", calling, ""
    status = f["status"] or ""
    if f["tta"] == "***":
        disposition = "no_answer"
    elif status == "B":
        disposition = "busy"
    elif status in _FAILED:
        disposition = "failed"
    else:
        disposition = "answered"
    answered = disposition == "answered"
    notes = ["year inferred", "low precision"]
    expected = "" if duration < 300 else "-" if duration < 600 else "%" if duration < 1800 else "+"
    if f["flag"] and f["flag"] != expected:
        notes.append(f"long-call flag {f['flag']!r} disagrees with duration {f['dur_text']}")
    if f["att"]:
        notes.append("attendant")
    if f["xfer"]:
        kind = {"T": "transferred", "C": "conference", "X": "transfer/conference"}[f["xfer"]]
        notes.append(f"{kind} with {f['third']}")
    native_id = f"{f['month']:02d}{f['day']:02d}{f['hour']:02d}{f['minute']:02d}-{calling}-{digits}-{duration}"
    return CallRecord(
        line=number, native_id=native_id, leg="", group="", start=start, answer=start if answered else None,
        duration=duration, billable=duration if answered else 0, direction=direction, disposition=disposition,
        extension=extension, trunk=trunk, caller="" if calling_trunk else calling, dialled=digits,
        called="" if called_trunk else called, account=f["account"] or "", raw=text, notes=notes)
