"""Asterisk cdr_csv `Master.csv`: quoted CSV, no header, 16 to 21 columns depending on the module's options.

The column count of each line picks the layout (loguniqueid adds `uniqueid`, loguserfield `userfield`,
newcdrcolumns `peeraccount, linkedid, sequence`), so one file that spans an upgrade still parses line by line.
The usual counts are 16, 17, 18 and 21; 19 and 20 (newcdrcolumns without one or both of the others) are read too
when the row ends in a bare `sequence` and has the amaflags word at column 16, so that a cdr_custom row of 19
columns is rejected rather than misread. A 17th (or 18th of 20) column that is not shaped like a uniqueid
(`1741943702.84`, `pbx1-1741943702.84`, a uuid) is taken as the userfield.
The CSV splitting, time handling and the field semantics shared with cdr_custom (asterisk_custom.py) and the
FreeSWITCH CSV parser live here too. A record carries no direction: its Facts (channels without their per-call
suffix, last application, context, Dial target) go to ingest.cdr.classify, which decides with the site's settings.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO

from i18n import _
from ingest.cdr.classify import INCOMING_CONTEXT, INTERNAL_CONTEXT, channel_base  # noqa: F401  (pbx.ami)
from ingest.cdr.model import CallRecord, Facts, Item, ParseContext, Reject, Skipped, head_lines, lines

NAME = "asterisk"

BASE = ["accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp", "lastdata", "start",
        "answer", "end", "duration", "billsec", "disposition", "amaflags"]
NEW = ["peeraccount", "linkedid", "sequence"]
LAYOUTS = {
    16: BASE,
    17: [*BASE, "uniqueid"],
    18: [*BASE, "uniqueid", "userfield"],
    19: [*BASE, *NEW],
    20: [*BASE, "uniqueid", *NEW],
    21: [*BASE, "uniqueid", "userfield", *NEW],
}
FIELDS = frozenset(LAYOUTS[21])

MAX_SECONDS = 7 * 86400  # a longer "call" is a corrupt record, not a call
DISPOSITIONS = {"ANSWERED": "answered", "NO ANSWER": "no_answer", "NOANSWER": "no_answer", "BUSY": "busy",
                "FAILED": "failed", "CONGESTION": "failed",
                # ${CDR(disposition,u)} in cdr_custom prints the raw enum value
                "0": "no_answer", "1": "failed", "2": "failed", "4": "busy", "8": "answered", "16": "failed"}
AMAFLAGS = frozenset({"DOCUMENTATION", "BILLING", "OMIT", "DEFAULT", "Unknown"})
SERVICE_DSTS = frozenset({"s", "h", "t", "i", "o", "a", "e"})  # dialplan special extensions, kept as dialled


# one CSV field: "quoted, with "" doubled" or bare (no comma, no quote), followed by a comma or the end
_FIELD = re.compile(r'"((?:[^"]|"")*)"(?=,|$)|([^,"]*)(?=,|$)')
_QUOTED_OR_BARE = r'(?:"(?:[^"]|"")*"|[^,"]*)'
_WELL_QUOTED = re.compile(f"{_QUOTED_OR_BARE}(?:,{_QUOTED_OR_BARE})*")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d{1,6})?")
_EPOCH = re.compile(r"\d{9,11}(?:\.\d{1,6})?|0+(?:\.0*)?")  # 0: ${CDR(answer,u)} of an unanswered call
_INT = re.compile(r"-?\d+")
_CLID_NUMBER = re.compile(r"<([^<>]*)>\s*$")
_UNIQUEID = re.compile(r"^(?:[\w.-]+-)?\d{9,11}\.\d+$|^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                       r"[0-9a-fA-F]{12}$")
_DIAL_AT = re.compile(r"^[A-Za-z0-9_]+/([^@/&,]+)@([^/&,]+)$")  # PJSIP/0155501234@trunk-out
_DIAL_SLASH = re.compile(r"^[A-Za-z0-9_]+/([^/&,]+)/([^/&,]+)$")  # SIP/trunk-out/0155501234, DAHDI/g0/0155...


class CsvError(ValueError):
    """A line whose quoting cannot be read (unterminated quote, text after a closing quote)."""


def split_csv(text: str) -> list[tuple[str, bool]]:
    """The fields of one CSV line as (value, was_quoted); raises CsvError naming the column that is broken.

    Written here rather than with the csv module because the quoting itself is evidence: cdr_csv writes numbers
    bare and strings quoted, and a truncated line (unterminated quote) must be rejected, not silently repaired."""
    out: list[tuple[str, bool]] = []
    pos, end = 0, len(text)
    while True:
        m = _FIELD.match(text, pos)
        if m is None:
            rest = text[pos:]
            if rest.startswith('"'):
                problem = _("column {number}: unterminated quoted string (truncated line?)") \
                    if rest.count('"') % 2 else _("column {number}: text after the closing quote")
            else:
                problem = _("column {number}: stray quote in an unquoted value")
            raise CsvError(problem.format(number=len(out) + 1))
        if m.group(1) is not None:
            out.append((m.group(1).replace('""', '"'), True))
        else:
            out.append((m.group(2), False))
        pos = m.end()
        if pos >= end:
            return out
        pos += 1  # the comma
        if pos == end:  # trailing comma: one more empty field
            out.append(("", False))
            return out


def fast_split(text: str) -> list[str] | None:
    """The csv module's split of a well-formed line (C speed), or None when the line needs split_csv: a quote
    that is not a whole quoted field somewhere (truncated or broken lines, whose reason split_csv gives)."""
    if '"' in text and not _WELL_QUOTED.fullmatch(text):
        return None
    try:
        return next(csv.reader((text,), strict=True))
    except (csv.Error, StopIteration):
        return None


def short(value: str, limit: int = 60) -> str:
    """A value quoted for a reason, cut so that a garbage line does not make a garbage-sized reason."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


class FieldError(ValueError):
    """A field that cannot be read; the message is the Reject reason."""


def parse_local(name: str, value: str) -> dt.datetime:
    """`YYYY-MM-DD HH:MM:SS` -> naive local datetime, or FieldError with the reason."""
    m = _DATE.fullmatch(value.strip())
    if m is None:
        raise FieldError(f"{name}: " + _("{value} is not a date 'YYYY-MM-DD HH:MM:SS'").format(value=short(value)))
    try:
        return dt.datetime(*map(int, m.groups()))
    except ValueError:
        raise FieldError(f"{name}: " + _("{value} is not a date 'YYYY-MM-DD HH:MM:SS'").format(value=short(value))) \
            from None


def parse_seconds(name: str, value: str) -> int:
    """A duration in whole seconds, 0..7 days."""
    v = value.strip()
    if not _INT.fullmatch(v):
        raise FieldError(f"{name}: " + _("{value} is not a whole number of seconds").format(value=short(value)))
    n = int(v)
    if n < 0:
        raise FieldError(f"{name}: " + _("{number} is negative").format(number=n))
    if n > MAX_SECONDS:
        raise FieldError(f"{name}: " + _("{seconds} s is more than 7 days").format(seconds=n))
    return n


def local_fold(ctx: ParseContext, when: dt.datetime) -> str:
    """"" for a plain local time, "ambiguous" (DST fall-back hour) or "nonexistent" (spring-forward gap)."""
    return ctx.local_kind(when)


class Stamp:
    """A time read from a field: either a naive local time (resolved with ctx) or an absolute UTC epoch."""

    __slots__ = ("local", "epoch")

    def __init__(self, local: dt.datetime | None = None, epoch: int | None = None) -> None:
        self.local, self.epoch = local, epoch


def to_utc(ctx: ParseContext, s: Stamp) -> tuple[int, str]:
    """(UTC epoch, "" / "ambiguous" / "nonexistent") of a stamp; the earlier instant when ambiguous."""
    if s.epoch is not None:
        return s.epoch, ""
    assert s.local is not None
    return ctx.local_to_utc(s.local), local_fold(ctx, s.local)


def resolve_times(ctx: ParseContext, start: Stamp, answer: Stamp | None, end: Stamp | None, duration: int,
                  billable: int, notes: list[str]) -> tuple[int, int | None]:
    """(start, answer) in UTC epoch seconds. Local stamps in the DST fall-back hour are ambiguous: when the end
    stamp is not, start = end - duration and answer = end - billable (the rule of section 0); otherwise the
    earlier instant is taken (answer from start + ring time) and a note says so."""
    s_utc, s_fold = to_utc(ctx, start)
    a_utc, a_fold = to_utc(ctx, answer) if answer is not None else (None, "")
    end_utc: int | None = None  # the end, when it is a trustworthy instant
    if end is not None:
        e_utc, e_fold = to_utc(ctx, end)
        end_utc = None if e_fold else e_utc
    if s_fold:
        if end_utc is not None:
            s_utc = end_utc - duration
            notes.append(f"{s_fold} local start resolved from end - duration")
        else:
            notes.append(f"{s_fold} local start")
    if a_utc is not None and a_fold:
        a_utc = end_utc - billable if end_utc is not None else s_utc + duration - billable
        notes.append(f"{a_fold} local answer resolved from " + ("end" if end_utc is not None else "start"))
    return s_utc, a_utc


def dial_target(lastapp: str, lastdata: str) -> tuple[str, str, str]:
    """(tech, number, peer) of a single-target Dial such as `PJSIP/0155501234@trunk-out,60` or
    `SIP/trunk-out/0155501234`; ("", "", "") otherwise (the scanner's rule, _scan.pyx dial_target)."""
    if lastapp.lower() != "dial":
        return "", "", ""
    target = lastdata.split(",", 1)[0].strip(" ")
    if "&" in target:
        return "", "", ""
    m = _DIAL_AT.match(target)
    if m:
        return target.split("/", 1)[0], m.group(1), m.group(2)
    m = _DIAL_SLASH.match(target)
    if m:
        return target.split("/", 1)[0], m.group(2), m.group(1)
    return "", "", ""


def facts(f: Mapping[str, str]) -> Facts:
    """What the record says about where the call went (ingest.cdr.classify decides from it)."""
    tech, number, via = dial_target(f.get("lastapp", ""), f.get("lastdata", ""))
    return Facts(origin=channel_base(f.get("channel", "")), target=channel_base(f.get("dstchannel", "")),
                 app=f.get("lastapp", ""), context=f.get("dcontext", ""), dial_tech=tech, dial_peer=via,
                 dial_number=number)


def caller_number(clid: str, src: str) -> str:
    """The number of `"Name" <num>`, else src, else the clid as written."""
    m = _CLID_NUMBER.search(clid)
    if m:
        return m.group(1).strip()
    return src or clid.strip().strip('"')


def read_time(name: str, value: str, *, allow_epoch: bool = False) -> Stamp:
    """A cdr time field: local `YYYY-MM-DD HH:MM:SS`, or (cdr_custom `${CDR(start,u)}`) a UTC epoch."""
    v = value.strip()
    if allow_epoch and _EPOCH.fullmatch(v):
        return Stamp(epoch=int(float(v)))
    return Stamp(local=parse_local(name, v))


def build_record(f: Mapping[str, str], line: int, raw: str, ctx: ParseContext, *,
                 allow_epoch: bool = False) -> CallRecord | Reject:
    """One Asterisk CDR (fields by Asterisk name; absent names are absent from `f`) -> CallRecord or Reject.

    Shared by cdr_csv and cdr_custom, whose fields mean the same."""
    try:
        notes: list[str] = []
        if not f.get("start", "").strip():
            raise FieldError("start: " + _("empty"))
        start = read_time("start", f["start"], allow_epoch=allow_epoch)
        if start.epoch == 0:
            raise FieldError("start: " + _("{value} is not a time").format(value=short(f["start"])))
        answer_text = f.get("answer", "").strip()
        answer = read_time("answer", answer_text, allow_epoch=allow_epoch) if answer_text else None
        if answer is not None and answer.epoch == 0:
            answer = None  # ${CDR(answer,u)} of an unanswered call
        end_text = f.get("end", "").strip()
        end = read_time("end", end_text, allow_epoch=allow_epoch) if end_text else None
        if end is not None and end.epoch == 0:
            end = None
        duration = parse_seconds("duration", f["duration"]) if "duration" in f else None
        billable = parse_seconds("billsec", f["billsec"]) if "billsec" in f else None
        if duration is None or billable is None:  # a custom template without them: derive from the stamps
            s0 = to_utc(ctx, start)[0]
            e0 = to_utc(ctx, end)[0] if end is not None else None
            a0 = to_utc(ctx, answer)[0] if answer is not None else None
            if billable is None:
                billable = max(0, e0 - a0) if e0 is not None and a0 is not None else 0
            if duration is None:
                if e0 is not None:
                    duration = max(0, e0 - s0, billable)  # whole-second stamps can undercut billsec by 1
                else:
                    duration = billable
                    notes.append("duration unknown: billsec used")
            for name, n in (("duration", duration), ("billsec", billable)):
                if n > MAX_SECONDS:
                    raise FieldError(f"{name}: " + _(
                        "{seconds} s (from the stamps) is more than 7 days").format(seconds=n))
        if billable > duration:
            raise FieldError("billsec: " + _("{billable} is more than duration {duration}").format(
                billable=billable, duration=duration))
        start_utc, answer_utc = resolve_times(ctx, start, answer, end, duration, billable, notes)

        word = f.get("disposition", "").strip()
        disposition = DISPOSITIONS.get(word.upper())
        if disposition is None:
            disposition = "answered" if billable > 0 or answer is not None else "failed"
            notes.append(f"disposition {short(word)} unknown: {disposition} inferred")

        src, dst = f.get("src", ""), f.get("dst", "")
        uniqueid = f.get("uniqueid", "")
        linkedid = f.get("linkedid", "")
        leg = f.get("sequence", "") or f.get("dstchannel", "")
        if "\ufffd" in raw:
            notes.append("invalid utf-8 replaced")
        return CallRecord(line=line, native_id=uniqueid, leg=leg, group=linkedid or uniqueid, start=start_utc,
                          answer=answer_utc, duration=duration, billable=billable, disposition=disposition,
                          caller=caller_number(f.get("clid", ""), src), dialled=dst,
                          account=f.get("accountcode", ""), raw=raw, notes=notes, facts=facts(f))
    except FieldError as e:
        return Reject(line=line, raw=raw, reason=str(e))
    except Exception as e:  # a parser never lets a line abort the file
        return Reject(line=line, raw=raw, reason=f"unreadable: {type(e).__name__}: {e}")


def is_header(values: list[str], names: frozenset[str]) -> bool:
    """A header row someone added (cdr_csv has none): most of its values are field names."""
    hits = sum(1 for v in values if v.strip().lower() in names)
    return hits >= 3 and hits * 2 >= len(values)


def layout_for(cells: list[tuple[str, bool]]) -> tuple[list[str] | None, str]:
    """The column names for a row of this many cells, or None and the reason it has no cdr_csv layout."""
    n = len(cells)
    layout = LAYOUTS.get(n)
    if layout is None:
        return None, "columns: " + _("{count} fields, cdr_csv has 16 to 21").format(count=n)
    if n in (19, 20):
        last, quoted = cells[-1]
        if quoted or not last.isdigit() or cells[15][0] not in AMAFLAGS:
            return None, "columns: " + _("{count} fields without amaflags at 16 and a bare sequence at the end "
                                         "(cdr_csv writes 16, 17, 18 or 21; a cdr_custom file?)").format(count=n)
    if n in (17, 20) and cells[16][0] and not _UNIQUEID.match(cells[16][0]):
        layout = [*layout[:16], "userfield", *layout[17:]]
    return layout, ""


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[Item]:
    """Each line of a Master.csv: a CallRecord, a Reject with its reason, or Skipped (blank, header)."""
    for number, text in lines(stream, ctx.encoding):
        yield parse_line(number, text, ctx)


def parse_line(number: int, text: str, ctx: ParseContext) -> Item:
    """One line of a Master.csv (also the columnar path's answer for the lines its scanner leaves)."""
    if not text.strip():
        return Skipped(line=number, raw=text, what="blank")
    values = fast_split(text)
    cells: list[tuple[str, bool]] | None = None
    if values is None or len(values) in (17, 19, 20):  # the quoting itself is needed: read it exactly
        try:
            cells = split_csv(text)
        except CsvError as e:
            return Reject(line=number, raw=text, reason=f"csv: {e}")
        values = [v for v, _unused in cells]
    if values[0].strip().lower() in FIELDS and is_header(values, FIELDS):
        return Skipped(line=number, raw=text, what="header")
    if cells is not None:
        layout, problem = layout_for(cells)
    else:
        layout = LAYOUTS.get(len(values))
        problem = "" if layout else "columns: " + _("{count} fields, cdr_csv has 16 to 21").format(count=len(values))
    if layout is None:
        return Reject(line=number, raw=text, reason=problem)
    return build_record(dict(zip(layout, values)), number, text, ctx)


# ---------------------------------------------------------------------------------------------- site templates

def template_spec(profile: Mapping[str, Any], what: str) -> list[str] | None:
    """The column names a site template gives in profile["columns"] (a list, or one comma-separated string), as
    written; None when there is none. Raises ValueError when it is unusable (`what`: the names it should hold)."""
    spec = profile.get("columns")
    if spec is None:
        return None
    if isinstance(spec, str):
        spec = [s.strip() for s in spec.split(",")]
    if not isinstance(spec, (list, tuple)) or not spec or not all(isinstance(s, str) for s in spec):
        raise ValueError("profile: " + _("'columns' must be a non-empty list of {what}").format(what=what))
    return list(spec)


def parse_template(stream: BinaryIO, ctx: ParseContext, columns: Callable[[dict[str, Any]], list[str]],
                   header_names: frozenset[str], record: Callable[[dict[str, str], int, str], Item], *,
                   template_in_header: bool = False) -> Iterator[Item]:
    """Each line of a CSV whose columns a site template names (cdr_custom, mod_cdr_csv): Skipped (blank, header),
    a Reject (bad quoting, another column count; every line when `columns(profile)` finds the template unusable),
    else `record(values by column name, line number, text)`. A header is a line of mostly `header_names` (with
    `template_in_header`, the template's own names count too)."""
    try:
        names: list[str] | None = columns(ctx.profile or {})
        problem = ""
    except ValueError as e:
        names, problem = None, str(e)
    if template_in_header:
        header_names = header_names | frozenset(names or ())
    for number, text in lines(stream, ctx.encoding):
        if not text.strip():
            yield Skipped(line=number, raw=text, what="blank")
            continue
        if names is None:
            yield Reject(line=number, raw=text, reason=problem)
            continue
        try:
            cells = split_csv(text)
        except CsvError as e:
            yield Reject(line=number, raw=text, reason=f"csv: {e}")
            continue
        values = [v for v, _unused in cells]
        if is_header(values, header_names):
            yield Skipped(line=number, raw=text, what="header")
            continue
        if len(values) != len(names):
            yield Reject(line=number, raw=text,
                         reason="columns: " + _("{count} fields, the template has {expected}").format(
                             count=len(values), expected=len(names)))
            continue
        yield record(dict(zip(names, values)), number, text)


# ---------------------------------------------------------------------------------------------- detection

def is_date(value: str) -> bool:
    return _DATE.fullmatch(value) is not None


def csv_shape(cells: list[tuple[str, bool]]) -> bool:
    """The 16-21-column cdr_csv shape: dates at 10-12, bare ints at 13-14, disposition and amaflags words."""
    n = len(cells)
    if layout_for(cells)[0] is None:
        return False
    v = [c for c, _unused in cells]
    if not (is_date(v[9]) and (v[10] == "" or is_date(v[10])) and is_date(v[11])):
        return False
    if not (v[12].isdigit() and v[13].isdigit()):
        return False
    if v[14].upper() not in DISPOSITIONS or v[14].isdigit() or v[15] not in AMAFLAGS:
        return False
    if n in (18, 21) and v[16] and not _UNIQUEID.match(v[16]):
        return False
    return not (n >= 19 and not (v[-1].isdigit() and not cells[-1][1]))


def score(matched: int, considered: int) -> int:
    """Confidence from the share of sampled lines that have the shape."""
    if matched == 0 or considered == 0:
        return 0
    share = matched / considered
    return int(60 + 35 * share) if share >= 0.5 else int(60 * share)


def sniff(head: bytes) -> int:
    """How sure we are that `head` starts a cdr_csv file: the share of its first lines with the cdr_csv shape."""
    try:
        sample = head_lines(head)
        matched = considered = 0
        for text in sample:
            try:
                cells = split_csv(text)
            except CsvError:
                considered += 1
                continue
            if is_header([v for v, _unused in cells], FIELDS):
                continue
            considered += 1
            matched += csv_shape(cells)
        return score(matched, considered)
    except Exception:  # sniffing garbage answers 0, never raises
        return 0
