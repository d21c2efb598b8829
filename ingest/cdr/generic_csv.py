"""Any CSV call list, read through a profile: a format nobody wrote a parser for can still be imported.

The profile is the ``[csv.<name>]`` table of anatole.toml (``format = "csv:<name>"`` on a source), passed as
``ParseContext.profile``. It is never guessed: ``sniff`` always answers 0. Example::

    [csv.pbx-export]
    header = true                      # first row holds column names (false: columns are 1-based numbers)
    skip_lines = 0                     # lines to skip before the header / data (titles, banners)
    delimiter = ";"                    # one character; "\\t" for tabs. Default ","
    quotechar = '"'                    # default '"'
    encoding = "cp1252"                # default: the source's (utf-8)
    time_format = "%d/%m/%Y %H:%M:%S"  # strptime format, or "epoch", "epoch_ms", "iso". Default "%Y-%m-%d %H:%M:%S"
    duration_format = "hh:mm:ss"       # "seconds" (default, decimals allowed), "hh:mm:ss" (or mm:ss), "minutes"
    timezone = "Europe/Paris"          # zone of local times; default: the source's site
    # columns: a header name (header = true) or a 1-based number (either header setting)
    start = "Start Time"               # required
    dialled = "To"                     # required
    answer = "Answer"                  # empty = never answered; 0 too with epoch formats
    end = "End"
    duration = "Duration"              # start to end
    billable = "Talk"                  # talk time, what is rated
    caller = "From"
    called = "Outpulsed"
    extension = "Ext"
    trunk = "Trunk"
    account = "Account"
    id = "Call ID"                     # native id; without it a stable one is made from start, parties, duration
    group = "Linked ID"
    leg = "Leg"
    disposition = "Status"
    direction = "Dir"
    channel = "Channel"                # calling side's channel / device, for the direction patterns
    dest_channel = "Dest Channel"      # called side's channel / device
    trunk_pattern = "^PJSIP/(?P<trunk>trunk-[a-z]+)-"   # regex: a channel that is a trunk ((?P<trunk>) or group 1
                                                        # names it; else the whole match)
    internal_pattern = "^PJSIP/\\\\d{4}-"                 # regex: a channel that is an extension

    [csv.pbx-export.disposition_map]   # column value (case-insensitive) -> answered | busy | no_answer | failed
    ANSWERED = "answered"
    "NO ANSWER" = "no_answer"

    [csv.pbx-export.direction_map]     # column value -> outgoing | incoming | internal | transit
    IN = "incoming"
    OUT = "outgoing"

Required: ``start``, ``dialled``, and a talk-time source: ``billable``, ``duration``, or ``answer`` with ``end``.

Rules: talk time = billable column, else end - answer, else 0 when the answer column is empty, else the
duration for answered calls (note "billable from duration"). duration = column, else end - start, else
billable + ring. Disposition = mapped column value (a value that already is a disposition name is accepted),
else answered when there is talk time or an answer time, else no_answer; a value in neither -> Reject.
Direction = mapped direction column value; else, with channels mapped, trunk_pattern on the calling channel ->
incoming, on the called channel -> outgoing (both -> transit), internal_pattern on the channels -> internal;
without channels the patterns test the trunk column (internal_pattern -> internal). Trunk = trunk column,
reduced by trunk_pattern when set (no match -> ""), else taken from the matching channel. Extension = column,
else the caller (outgoing, internal) or the called/dialled number (incoming).

Framing: quoted fields may hold delimiters, doubled quotes and line breaks. A record spread over several lines
yields its CallRecord (or Reject) on its first line and a Skipped "continuation" for each further line. A quote
left open for more than 50 lines (or at the end of the input) rejects the line that opened it, and reading
resumes on the next line. With a header, a row whose field count differs from the header's is rejected (a
stray delimiter shifts every column). Blank lines, rows of empty cells and repeated header rows are Skipped.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import datetime as dt
import difflib
import re
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from i18n import _
from ingest.cdr.model import DIRECTIONS, DISPOSITIONS, CallRecord, Item, ParseContext, Reject, Skipped, lines

NAME = "csv"

ROLES = ("start", "answer", "end", "duration", "billable", "caller", "dialled", "called", "extension", "trunk",
         "account", "id", "group", "leg", "disposition", "direction", "channel", "dest_channel")
OPTIONS = ("header", "skip_lines", "delimiter", "quotechar", "encoding", "time_format", "duration_format",
           "timezone", "disposition_map", "direction_map", "trunk_pattern", "internal_pattern")
TIME_KINDS = ("epoch", "epoch_ms", "iso")
DURATION_FORMATS = ("seconds", "hh:mm:ss", "minutes")
DEFAULT_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_DURATION = 7 * 86400
MAX_RECORD_LINES = 50  # a quoted field may span lines, but not forever: memory stays bounded
MAX_RECORD_CHARS = 1 << 20
_TIMES = ("start", "answer", "end")
_SAMPLE = dt.datetime(2025, 3, 14, 21, 47, 2, tzinfo=dt.timezone.utc)


def sniff(head: bytes) -> int:
    """Never: a CSV without a profile cannot be read, so the generic parser is only used when named."""
    return 0


# --- profile -------------------------------------------------------------------------------------------------

def validate_profile(profile: Any, where: str) -> list[str]:
    """Everything wrong with a ``[csv.<name>]`` profile, one message per problem ("where.key: value: what is
    wrong"); an empty list means the profile is usable. Called by the config loader, and by parse()."""
    if not isinstance(profile, dict):
        return [f"{where}: " + _("must be a table of settings, not {kind}").format(kind=type(profile).__name__)]
    errors: list[str] = []

    def bad(key: str, problem: str) -> None:
        errors.append(f"{where}.{key} = {profile[key]!r}: {problem}" if key in profile else f"{where}: {problem}")

    known = ROLES + OPTIONS
    for key in profile:
        if key not in known:
            near = difflib.get_close_matches(str(key), known, n=1)
            hint = _("unknown key (did you mean {name}?)").format(name=repr(near[0])) if near else \
                _("unknown key; known keys: {names}").format(names=", ".join(known))
            errors.append(f"{where}.{key}: {hint}")

    header = profile.get("header", True)
    if not isinstance(header, bool):
        bad("header", _("must be true or false"))
        header = True
    for role in ROLES:
        if role not in profile:
            continue
        value = profile[role]
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            bad(role, _("must be a column name (string) or a 1-based column number"))
        elif isinstance(value, int) and value < 1:
            bad(role, _("column numbers start at 1"))
        elif isinstance(value, str) and not header:
            bad(role, _("header = false: give the column as a 1-based number, or set header = true to use names"))
        elif isinstance(value, str) and not value.strip():
            bad(role, _("is an empty column name"))
    for role in ("start", "dialled"):
        if role not in profile:
            errors.append(f"{where}: " + _("missing required column mapping {name} (e.g. {key} = \"...\")").format(
                name=repr(role), key=role))
    if not ("billable" in profile or "duration" in profile or ("answer" in profile and "end" in profile)):
        errors.append(f"{where}: " + _("no talk-time source: map 'billable', 'duration', or both 'answer' and 'end'"))

    if "skip_lines" in profile:
        value = profile["skip_lines"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            bad("skip_lines", _("must be a whole number >= 0"))
    for key, default in (("delimiter", ","), ("quotechar", '"')):
        value = profile.get(key, default)
        if not isinstance(value, str) or len(value) != 1:
            bad(key, _("must be exactly one character"))
        elif value in "\r\n":
            bad(key, _("cannot be a line break"))
    if profile.get("delimiter", ",") == profile.get("quotechar", '"'):
        bad("quotechar", _("must differ from the delimiter"))
    if "encoding" in profile:
        value = profile["encoding"]
        try:
            if not isinstance(value, str):
                raise LookupError
            codecs.lookup(value)
            b"abc".decode(value)
        except (LookupError, TypeError, ValueError):
            bad("encoding", _("is not a known text encoding (e.g. utf-8, cp1252, latin-1)"))
    if "time_format" in profile:
        problem = _time_format_problem(profile["time_format"])
        if problem:
            bad("time_format", problem)
    if "duration_format" in profile and profile["duration_format"] not in DURATION_FORMATS:
        bad("duration_format", _("must be one of {values}").format(values=", ".join(DURATION_FORMATS)))
    if "timezone" in profile:
        value = profile["timezone"]
        try:
            if not isinstance(value, str) or not value:
                raise ValueError
            ZoneInfo(value)
        except Exception:
            bad("timezone", _("is not an IANA time zone (e.g. Europe/Paris)"))
    for key, allowed, role in (("disposition_map", DISPOSITIONS, "disposition"),
                               ("direction_map", tuple(d for d in DIRECTIONS if d), "direction")):
        if key not in profile:
            continue
        table = profile[key]
        if not isinstance(table, dict):
            bad(key, _("must be a table: column value = one of {values}").format(values=", ".join(allowed)))
            continue
        if role not in profile:
            bad(key, _("is given but no {name} column is mapped").format(name=repr(role)))
        for value, meaning in table.items():
            if meaning not in allowed:
                errors.append(f"{where}.{key}.{value} = {meaning!r}: " + _("must be one of {values}").format(
                    values=", ".join(allowed)))
    for key in ("trunk_pattern", "internal_pattern"):
        if key not in profile:
            continue
        value = profile[key]
        if not isinstance(value, str) or not value:
            bad(key, _("must be a non-empty regular expression"))
            continue
        try:
            re.compile(value)
        except re.error as exc:
            bad(key, _("is not a regular expression: {error}").format(error=exc))
            continue
        if not any(r in profile for r in ("channel", "dest_channel", "trunk")):
            bad(key, _("needs a 'channel', 'dest_channel' or 'trunk' column to test"))
    return errors


def _time_format_problem(value: Any) -> str:
    if value in TIME_KINDS:
        return ""
    if not isinstance(value, str) or "%" not in value:
        return _("must be a strptime format such as {example}, or one of {kinds}").format(
            example=repr(DEFAULT_TIME_FORMAT), kinds=", ".join(TIME_KINDS))
    try:
        back = dt.datetime.strptime(_SAMPLE.strftime(value), value)
    except ValueError as exc:
        return _("is not a usable strptime format ({error})").format(error=exc)
    if back.replace(second=0, microsecond=0, tzinfo=None) != _SAMPLE.replace(second=0, tzinfo=None):
        return _("does not hold a full date and time (year, month, day, hour and minute are needed)")
    return ""


@dataclasses.dataclass
class _Profile:
    columns: dict[str, str | int]
    header: bool
    skip_lines: int
    delimiter: str
    quotechar: str
    encoding: str | None
    time_format: str
    duration_format: str
    timezone: str | None
    disposition_map: dict[str, str]
    direction_map: dict[str, str]
    trunk_pattern: re.Pattern[str] | None
    internal_pattern: re.Pattern[str] | None

    @classmethod
    def from_dict(cls, p: dict[str, Any]) -> _Profile:
        def rx(key: str) -> re.Pattern[str] | None:
            return re.compile(p[key]) if key in p else None

        return cls(
            columns={r: p[r] for r in ROLES if r in p}, header=p.get("header", True),
            skip_lines=p.get("skip_lines", 0), delimiter=p.get("delimiter", ","), quotechar=p.get("quotechar", '"'),
            encoding=p.get("encoding"), time_format=p.get("time_format", DEFAULT_TIME_FORMAT),
            duration_format=p.get("duration_format", "seconds"), timezone=p.get("timezone"),
            disposition_map={_key(k): v for k, v in p.get("disposition_map", {}).items()},
            direction_map={_key(k): v for k, v in p.get("direction_map", {}).items()},
            trunk_pattern=rx("trunk_pattern"), internal_pattern=rx("internal_pattern"))


def _key(value: str) -> str:
    return " ".join(str(value).split()).casefold()


# --- parsing -------------------------------------------------------------------------------------------------

def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[Item]:
    """Every line of the CSV, in order, through the profile in ctx.profile. Raises ValueError at once (before
    reading anything) when the profile is invalid, with one line per problem."""
    errors = validate_profile(ctx.profile, "csv profile")
    if errors:
        raise ValueError(_("invalid csv profile:") + "\n" + "\n".join(errors))
    prof = _Profile.from_dict(ctx.profile)
    if prof.timezone:
        ctx = dataclasses.replace(ctx, timezone=prof.timezone)
    return _Reader(prof, ctx).run(lines(stream, prof.encoding or ctx.encoding))


class _Reader:
    def __init__(self, prof: _Profile, ctx: ParseContext) -> None:
        self.prof = prof
        self.ctx = ctx
        self.names: list[str] | None = None  # the header, normalised
        self.header_line = 0
        self.index: dict[str, int] = {}  # role -> 0-based column
        self.header_problem = ""
        if not prof.header:
            self.index = {role: int(col) - 1 for role, col in prof.columns.items()}

    def run(self, source: Iterable[tuple[int, str]]) -> Iterator[Item]:
        """Group physical lines into CSV records (a quoted field may span lines) and read each."""
        it = iter(source)
        queue: deque[tuple[int, str]] = deque()
        pending: list[tuple[int, str]] = []
        size = 0
        while True:
            if not queue:
                nxt = next(it, None)
                if nxt is None:
                    if not pending:
                        return
                    yield self._unclosed(pending[0], _(
                        "the quote opened on line {line} is never closed (the input ends "
                                                       "first); reading resumes on the next line"))
                    queue.extend(pending[1:])
                    pending, size = [], 0
                    continue
                queue.append(nxt)
            number, text = queue.popleft()
            if not pending:
                if number <= self.prof.skip_lines:
                    yield Skipped(line=number, raw=text, what="skip_lines")
                    continue
                if not text.strip():
                    yield Skipped(line=number, raw=text, what="blank")
                    continue
                if not self._open(text, False):
                    yield from self._safe([(number, text)])
                    continue
                pending, size = [(number, text)], len(text)
                continue
            pending.append((number, text))
            size += len(text)
            if not self._open(text, True):
                yield from self._safe(pending)
                pending, size = [], 0
            elif len(pending) >= MAX_RECORD_LINES or size > MAX_RECORD_CHARS:
                yield self._unclosed(pending[0], _("the quote opened on line {line} is not closed within {count} "
                                                   "lines; reading resumes on the next line"), count=len(pending))
                queue.extendleft(reversed(pending[1:]))
                pending, size = [], 0

    def _unclosed(self, first: tuple[int, str], message: str, **values: int) -> Reject:
        """`message` (translated) is formatted with the line the quote opened on and `values`."""
        return Reject(line=first[0], raw=first[1], reason="quoted field: " + message.format(line=first[0], **values))

    def _open(self, text: str, in_quotes: bool) -> bool:
        """Whether a quoted field is still open at the end of `text` (the csv module's rules)."""
        q, d = self.prof.quotechar, self.prof.delimiter
        if q not in text:
            return in_quotes
        at_start = not in_quotes
        i, n = 0, len(text)
        while i < n:
            c = text[i]
            if in_quotes:
                if c == q:
                    if i + 1 < n and text[i + 1] == q:
                        i += 2
                        continue
                    in_quotes = False
            elif c == q and at_start:
                in_quotes = True
                at_start = False
                i += 1
                continue
            else:
                at_start = c == d
            i += 1
        return in_quotes

    def _safe(self, parts: list[tuple[int, str]]) -> Iterator[Item]:
        first, raw = parts[0][0], "\n".join(t for _unused, t in parts)
        try:
            item = self._record(first, raw, parts)
        except Exception as exc:  # a bug must cost one record, never the import
            item = Reject(line=first, raw=raw, reason=f"internal error: {type(exc).__name__}: {exc}")
        yield item
        for number, text in parts[1:]:
            yield Skipped(line=number, raw=text, what=f"continuation of the record on line {first}")

    def _record(self, number: int, raw: str, parts: list[tuple[int, str]]) -> Item:
        try:
            rows = list(csv.reader([t + "\n" for _unused, t in parts], delimiter=self.prof.delimiter,
                                   quotechar=self.prof.quotechar, strict=False))
        except csv.Error as exc:
            return Reject(line=number, raw=raw, reason=f"csv: {exc}")
        if len(rows) != 1:
            return Reject(line=number, raw=raw, reason="csv: " + _(
                "{value} records where one was expected").format(value=len(rows)))
        row = rows[0]
        if not any(cell.strip() for cell in row):
            return Skipped(line=number, raw=raw, what="empty row")
        if self.prof.header and self.names is None:
            return self._take_header(number, raw, row)
        if self.names is not None and [_key(c.lstrip("\ufeff")) for c in row] == self.names:
            return Skipped(line=number, raw=raw, what="header (repeated)")
        if self.header_problem:
            return Reject(line=number, raw=raw, reason=self.header_problem)
        if self.names is not None and len(row) != len(self.names):
            return Reject(line=number, raw=raw, reason="fields: " + _(
                "{count} fields, the header on line {line} has {expected}").format(
                count=len(row), line=self.header_line, expected=len(self.names)))
        values: dict[str, str] = {}
        for role, col in self.index.items():
            if col >= len(row):
                return Reject(line=number, raw=raw, reason="fields: " + _(
                    "{count} fields, {role} is column {column}").format(count=len(row), role=role, column=col + 1))
            values[role] = row[col].strip()
        got = _build(values, self.prof, self.ctx)
        if isinstance(got, str):
            return Reject(line=number, raw=raw, reason=got)
        got.line, got.raw = number, raw
        return got

    def _take_header(self, number: int, raw: str, row: list[str]) -> Item:
        self.names = [_key(c.lstrip("\ufeff")) for c in row]
        self.header_line = number
        missing = []
        for role, col in self.prof.columns.items():
            if isinstance(col, int):
                if col > len(row):
                    missing.append(f"{role} = {col} (the header has {len(row)} columns)")
                else:
                    self.index[role] = col - 1
            elif _key(col) in self.names:
                self.index[role] = self.names.index(_key(col))
            else:
                missing.append(f"{role} = {col!r}")
        if missing:
            self.header_problem = "header: " + _(
                "the header on line {line} lacks the profile's columns {columns}").format(
                line=number, columns=", ".join(missing))
            return Reject(line=number, raw=raw, reason=self.header_problem)
        return Skipped(line=number, raw=raw, what="header")


def _build(v: dict[str, str], prof: _Profile, ctx: ParseContext) -> CallRecord | str:
    """A CallRecord from the mapped cells of one row, or the reason it cannot be read."""
    times: dict[str, int | None] = {}
    for role in _TIMES:
        if role not in v:
            continue
        got = _time(v[role], prof.time_format, ctx, role)
        if isinstance(got, str):
            return got
        times[role] = got
    start, answer, end = times.get("start"), times.get("answer"), times.get("end")
    if start is None:
        return "start: " + _("empty")
    secs: dict[str, int | None] = {}
    for role in ("duration", "billable"):
        if role in v:
            got = _seconds(v[role], prof.duration_format, role)
            if isinstance(got, str):
                return got
            secs[role] = got
    duration, billable = secs.get("duration"), secs.get("billable")
    notes: list[str] = []
    for role, when in (("answer", answer), ("end", end)):
        if when is not None and when < start:
            return f"{role}: " + _("{value} is before the start {start}").format(
                value=repr(v[role]), start=repr(v["start"]))
    if answer is not None and end is not None and end < answer:
        return "end: " + _("{value} is before the answer {answer}").format(
            value=repr(v["end"]), answer=repr(v["answer"]))
    if duration is None and end is not None:
        duration = end - start
    if billable is None and end is not None and answer is not None:
        billable = end - answer
    if billable is None and "answer" in v and answer is None:
        billable = 0

    disposition = ""
    if v.get("disposition"):
        raw = _key(v["disposition"])
        disposition = prof.disposition_map.get(raw) or next((d for d in DISPOSITIONS if raw.replace(" ", "_") == d),
                                                            "")
        if not disposition:
            return "disposition: " + _(
                "{value} is not in disposition_map nor a disposition name").format(value=repr(v["disposition"]))
    if billable is None:
        if duration is None:
            return "duration: " + _("no talk time (billable, duration and end are all empty)")
        billable = duration if disposition in ("", "answered") else 0
        notes.append("billable from duration")
    if duration is None:
        duration = billable + (answer - start if answer is not None else 0)
    if duration > MAX_DURATION:
        return "duration: " + _("{seconds} s is longer than 7 days").format(seconds=duration)
    if billable > duration + 1:
        return "billable: " + _("{billable} s is longer than the duration of {duration} s").format(
            billable=billable, duration=duration)
    if not disposition:
        disposition = "answered" if billable > 0 or answer is not None else "no_answer"
    if answer is None and disposition == "answered" and "answer" not in v:
        answer = start + max(0, duration - billable)

    direction = ""
    if v.get("direction"):
        raw = _key(v["direction"])
        direction = prof.direction_map.get(raw) or next((d for d in DIRECTIONS if d and raw == d), "")
        if not direction:
            return "direction: " + _(
                "{value} is not in direction_map nor a direction name").format(value=repr(v["direction"]))
    trunk = v.get("trunk", "")
    if trunk and prof.trunk_pattern is not None:
        trunk = _trunk_name(prof.trunk_pattern, trunk)
    pattern_direction, channel_trunk = _by_pattern(v, prof)
    direction = direction or pattern_direction
    trunk = trunk or channel_trunk

    caller, dialled, called = v.get("caller", ""), v.get("dialled", ""), v.get("called", "")
    extension = v.get("extension", "")
    if not extension:
        extension = (called or dialled) if direction == "incoming" else caller if direction != "transit" else ""
    native_id = v.get("id", "") or f"{start}-{caller}-{dialled}-{duration}"
    return CallRecord(line=0, native_id=native_id, leg=v.get("leg", ""), group=v.get("group", ""), start=start,
                      answer=answer, duration=duration, billable=billable, direction=direction,
                      disposition=disposition, extension=extension, trunk=trunk, caller=caller, dialled=dialled,
                      called=called, account=v.get("account", ""), notes=notes)


def _trunk_name(pattern: re.Pattern[str], value: str) -> str:
    m = pattern.search(value)
    if m is None:
        return ""
    if "trunk" in pattern.groupindex:
        return m["trunk"] or ""
    return (m[1] or "") if pattern.groups else m[0]


def _by_pattern(v: dict[str, str], prof: _Profile) -> tuple[str, str]:
    """(direction, trunk) from the channel columns and the patterns; ("", "") when they tell nothing."""
    tp, ip = prof.trunk_pattern, prof.internal_pattern
    if "channel" in v or "dest_channel" in v:
        src, dst = v.get("channel", ""), v.get("dest_channel", "")
        src_trunk = _trunk_name(tp, src) if tp is not None and src and tp.search(src) else None
        dst_trunk = _trunk_name(tp, dst) if tp is not None and dst and tp.search(dst) else None
        if src_trunk is not None and dst_trunk is not None:
            return "transit", src_trunk
        if src_trunk is not None:
            return "incoming", src_trunk
        if dst_trunk is not None:
            return "outgoing", dst_trunk
        if ip is not None and src and ip.search(src) and (not dst or ip.search(dst)):
            return "internal", ""
        return "", ""
    if ip is not None and v.get("trunk") and ip.search(v["trunk"]):
        return "internal", ""
    return "", ""


def _time(text: str, fmt: str, ctx: ParseContext, role: str) -> int | None | str:
    """UTC epoch seconds of a cell, None when empty, or the reason it is not a time."""
    if not text:
        return None
    try:
        if fmt in ("epoch", "epoch_ms"):
            value = float(text) / (1000 if fmt == "epoch_ms" else 1)
            if value != value or abs(value) > 1e11:
                raise ValueError
            if value == 0 and role != "start":
                return None  # 0 = never (answered / ended), as in CUCM exports
            return int(value // 1)
        when = dt.datetime.fromisoformat(text) if fmt == "iso" else dt.datetime.strptime(text, fmt)
    except (ValueError, OverflowError):
        if fmt == "iso":
            return f"{role}: " + _("{value} is not a date/time in ISO 8601").format(value=repr(text))
        return f"{role}: " + _(
            "{value} is not a date/time in format {format}").format(value=repr(text), format=repr(fmt))
    if when.tzinfo is not None:
        return int(when.timestamp())
    try:
        return ctx.local_to_utc(when)
    except (ValueError, OverflowError):
        return f"{role}: " + _("{value} is out of range").format(value=repr(text))


_HMS = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")


def _not_a_number(text: str, fmt: str) -> str:
    if fmt == "minutes":
        return _("{value} is not a number of minutes").format(value=repr(text))
    return _("{value} is not a number of seconds").format(value=repr(text))


def _seconds(text: str, fmt: str, role: str) -> int | None | str:
    """Seconds of a duration cell, None when empty, or the reason it cannot be read."""
    if not text:
        return None
    if fmt == "hh:mm:ss":
        m = _HMS.match(text)
        if m is None or int(m[2]) > 59 or float(m[3]) >= 60:
            return f"{role}: " + _("{value} is not hh:mm:ss").format(value=repr(text))
        value = int(m[1] or 0) * 3600 + int(m[2]) * 60 + float(m[3])
    else:
        try:
            value = float(text.replace(",", ".")) * (60 if fmt == "minutes" else 1)
        except ValueError:
            return f"{role}: " + _not_a_number(text, fmt)
        if value != value or value in (float("inf"), float("-inf")):
            return f"{role}: " + _not_a_number(text, fmt)
    if value < 0:
        return f"{role}: " + _("{value} is negative").format(value=repr(text))
    if value > MAX_DURATION:
        return f"{role}: " + _("{value} is longer than 7 days").format(value=repr(text))
    return int(value + 0.5)
