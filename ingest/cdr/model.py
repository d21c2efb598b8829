"""The canonical call record every CDR parser produces, the reject it produces instead, and the parse context.

A record is one *leg* as the PBX wrote it; legs of one call share `group`. Times are UTC epoch seconds (parsers
resolve local times with the source's timezone). Parsers never drop a record candidate: each becomes a CallRecord
or a Reject with its reason and raw text; lines that are not records at all (page headers, banners, blank lines)
are counted in `Skipped`, so that an importer's counts balance.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol
from zoneinfo import ZoneInfo

import msgspec

from i18n import _

DIRECTIONS = ("outgoing", "incoming", "internal", "transit", "")  # "" = the format does not say
DISPOSITIONS = ("answered", "busy", "no_answer", "failed")
_EPOCH = dt.datetime(1970, 1, 1)


class Facts(msgspec.Struct, frozen=True, kw_only=True):
    """What an Asterisk or FreeSWITCH record says about where the call went, as written (no decision):
    ingest.cdr.classify decides direction, extension, trunk and the number sent from these and the site's settings.
    Channels are given without their per-call suffix (`SIP/100-0000001a` -> `SIP/100`,
    `Local/100@ctx-0000001a;1` -> `Local/100@ctx`), so that the distinct facts of a file are few."""

    origin: str = ""  # the calling channel: Asterisk `channel`, FreeSWITCH a-leg channel or `sofia/gateway/<gw>`
    target: str = ""  # the channel that was reached: Asterisk `dstchannel`, FreeSWITCH b-leg channel; "" none
    app: str = ""  # the last dialplan application (Asterisk lastapp, FreeSWITCH last_app)
    context: str = ""  # Asterisk dcontext, FreeSWITCH context
    dial_tech: str = ""  # of a single-target Dial/bridge string: `PJSIP` of `PJSIP/0155501234@trunk`
    dial_peer: str = ""  # ... `trunk`
    dial_number: str = ""  # ... `0155501234`
    leg: str = ""  # FreeSWITCH leg direction: "inbound" (came into the switch) / "outbound" (placed by it)


class CallRecord(msgspec.Struct, kw_only=True):
    line: int  # 1-based line of the record's first line in its input
    native_id: str  # the PBX's own id of this record (uniqueid, Call ID, pkid, historyid, ...); "" if none
    leg: str = ""  # tells apart records that share native_id (IPO segments, CUCM legs); "" when not needed
    group: str = ""  # legs of one call share it (Asterisk linkedid, IPO Call ID, CUCM globalCallID, 3CX callid)
    start: int  # UTC epoch seconds: the call (or leg) started / was originated
    answer: int | None = None  # UTC epoch seconds of answer; None when never answered
    duration: int = 0  # seconds from start to end
    billable: int = 0  # talk seconds (answer to end): what is rated
    direction: str = ""  # one of DIRECTIONS
    disposition: str = "answered"  # one of DISPOSITIONS
    extension: str = ""  # the internal party (our user)
    trunk: str = ""  # trunk / line / gateway used, when known
    caller: str = ""  # calling number (CLI) as written
    dialled: str = ""  # digits as the user dialled them (may hold the outside-line prefix, *codes, #)
    called: str = ""  # number as sent to the network (outpulsed) when the format has it, else ""
    account: str = ""  # account / client matter / bill code
    raw: str = ""  # the record's raw text (decoded with errors="replace")
    notes: list[str] = msgspec.field(default_factory=list)  # e.g. "year inferred", "low precision", "masked"
    facts: Facts | None = None  # Asterisk/FreeSWITCH: the direction is decided from these (ingest.cdr.classify)
    # the format says this leg is the PBX's own (a recording or bridge leg known by a marker, not by its numbers):
    # internal with status service, never priced, as classify's app-internal rule for Asterisk and FreeSWITCH
    service: bool = False


class Reject(msgspec.Struct, kw_only=True):
    line: int
    raw: str
    # names the field and what is wrong: "start: '2025-13-01 10:00' is not a date". The part before the first ': '
    # is a code (the field or the category: start, columns, csv, line, ...) and is never translated: reports group
    # rejects by it and the daemon tests for "line: "; the text after it is in the importing process's language.
    reason: str


class Skipped(msgspec.Struct, kw_only=True):
    line: int
    raw: str
    what: str  # "page header", "blank", "banner", ...


Item = CallRecord | Reject | Skipped

# a call's start and answer must lie in these UTC seconds (1970-01-01 to 2099-12-31): outside, it is a PBX's clock
# gone wrong or a damaged record, and the day, month and report arithmetic downstream needs four-digit years
EARLIEST, LATEST = 0, 4_102_444_800


def when_text(seconds: int) -> str:
    """UTC epoch seconds as ISO text where a datetime can hold them, else the number."""
    try:
        return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).replace(tzinfo=None).isoformat(" ") + " UTC"
    except (OverflowError, OSError, ValueError):
        return str(seconds)


def dated(item: Item) -> Item:
    """A CallRecord whose start or answer lies outside EARLIEST..LATEST as a Reject naming the field (one odd record
    must not reach the store, where a year 9999 call made every monthly report fail); anything else as it is."""
    if isinstance(item, CallRecord):
        for name, value in (("start", item.start), ("answer", item.answer)):
            if value is not None and not EARLIEST <= value < LATEST:
                return Reject(line=item.line, raw=item.raw, reason=f"{name}: " + _(
                    "{when} is outside the years 1970 to 2099 (the PBX's clock?)").format(when=when_text(value)))
    return item


@dataclass
class ParseContext:
    """What a parser needs beyond the bytes."""

    timezone: str = "UTC"  # IANA zone of the PBX's local times
    reference: int | None = None  # UTC epoch "now" for formats without a year (file mtime, receive time)
    profile: dict[str, Any] = field(default_factory=dict)  # column mapping for generic CSV / custom templates
    encoding: str = "utf-8"
    _offsets: dict[int, int | None] = field(default_factory=dict, repr=False)  # local hour -> offset

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local_to_utc(self, when: dt.datetime) -> int:
        """A naive local time of the PBX -> UTC epoch seconds (the earlier instant when it is ambiguous).

        The UTC offset is looked up once per local hour (records arrive by the million, hours by the thousand);
        an hour in which the offset changes is converted record by record."""
        seconds = int((when - _EPOCH).total_seconds())
        offset = self.hour_offset(seconds // 3600)
        if offset is None:
            return int(when.replace(tzinfo=self.zone, fold=0).timestamp())
        return seconds - offset

    def hour_offset(self, hour: int) -> int | None:
        """The UTC offset (seconds) of a whole local hour (naive hours since 1970), None when it changes within
        the hour (a DST transition: convert each time on its own)."""
        offset = self._offsets.get(hour, False)
        if offset is False:
            zone = self.zone
            first = _EPOCH + dt.timedelta(hours=hour)
            a = first.replace(tzinfo=zone, fold=0).utcoffset()
            b = (first + dt.timedelta(minutes=59, seconds=59)).replace(tzinfo=zone, fold=0).utcoffset()
            c = first.replace(tzinfo=zone, fold=1).utcoffset()
            offset = int(a.total_seconds()) if a == b == c else None
            self._offsets[hour] = offset
        return offset

    def local_kind(self, when: dt.datetime) -> str:
        """"" for a plain local time, "ambiguous" (in the repeated hour of a DST fall-back) or "nonexistent" (in the
        gap of a spring-forward); cached per plain hour like local_to_utc."""
        if self.hour_offset(int((when - _EPOCH).total_seconds()) // 3600) is not None:
            return ""
        zone = self.zone
        a, b = when.replace(tzinfo=zone, fold=0), when.replace(tzinfo=zone, fold=1)
        if a.utcoffset() == b.utcoffset():
            return ""
        back = dt.datetime.fromtimestamp(a.timestamp(), zone).replace(tzinfo=None)
        return "ambiguous" if back == when else "nonexistent"

    def infer_year(self, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
        """The year of a date printed without one: the one that puts it nearest `reference`, and never more than a
        day after it (so a 31 Dec record read on 1 Jan is last year's)."""
        ref = dt.datetime.fromtimestamp(self.reference if self.reference is not None else dt.datetime.now().timestamp(),
                                        self.zone).replace(tzinfo=None)
        best = None
        for year in (ref.year - 1, ref.year, ref.year + 1):
            try:
                when = dt.datetime(year, month, day, hour, minute)
            except ValueError:
                continue
            if when - ref > dt.timedelta(days=1):
                continue
            if best is None or abs(when - ref) < abs(best - ref):
                best = when
        if best is None:
            raise ValueError(f"no year makes {month:02d}/{day:02d} a date")
        return best.year


class Parser(Protocol):
    """What each format module provides (ingest/cdr/<format>.py)."""

    NAME: str  # the --format name
    # Optional LEGS: "overlapping" (default: legs of one call to the same number that overlap in time carry one
    # cost, e.g. parallel ringing) or "sequential" (consecutive segments, each billed: IP Office transfers).

    def sniff(self, head: bytes) -> int:
        """0..100: how sure the module is that a file starting with `head` (up to 64 KiB) is its format."""
        ...

    def parse(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[Item]:
        """Every line or record of the input, in order, as a CallRecord, a Reject or a Skipped."""
        ...


def lines(stream: BinaryIO, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """(line number, text) for each line, whatever mixes of CR LF, LF and CR the file has; undecodable bytes are
    replaced (U+FFFD), never fatal. Line numbers count every line, blank ones included."""
    number = 0
    buf = b""
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        buf += chunk
        keep = b"\r" if buf.endswith(b"\r") else b""  # a CR LF may be split across chunks
        parts = buf[: len(buf) - len(keep)].replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        buf = parts.pop() + keep
        for part in parts:
            number += 1
            yield number, part.decode(encoding, errors="replace")
    if buf:
        yield number + 1, buf.rstrip(b"\r").decode(encoding, errors="replace")


def head_lines(head: bytes, limit: int = 50) -> list[str]:
    """The first non-blank complete lines of a sniffed head (the last one is dropped when the head was cut)."""
    text = head.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    parts = text.split("\n")
    if len(parts) > 1 and not text.endswith("\n"):
        parts.pop()  # possibly cut in the middle
    return [p for p in parts if p.strip()][:limit]
