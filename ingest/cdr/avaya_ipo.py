"""Avaya IP Office SMDR: one comma-separated line per call segment, 34 fields (35 from R11), no header.

Every segment of a call repeats the call's start and Call ID; Call IDs restart at 1000000 when the system reboots,
so the group is Call ID + start. Times are local to the PBX. The file (or TCP capture) may mix CR, LF and CR LF.

A header line ("Call Start,Connected Time,Ring Time,Caller,...", as "Output call details header" and collectors
write it: quoted or not, with or without spaces or a byte-order mark) is skipped wherever it appears.

A transfer to an outside number ends with a trunk-to-trunk segment (Party1Device T..., Party2Device T...) that
names no extension; it is charged to the extension of the latest earlier segment of the same call (the user who
transferred it). That needs state across lines: the parser remembers, for calls whose last segment said more
follow (Continuation 1), the latest extension, in a map bounded to PENDING_LIMIT calls (the oldest forgotten
first). The live daemon keeps one parse per connection, so this holds within a file and within a connection.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import OrderedDict
from collections.abc import Iterator
from typing import BinaryIO

from i18n import _
from ingest.cdr.model import CallRecord, Item, ParseContext, Reject, Skipped, head_lines, lines

NAME = "avaya-ipo"
# A transferred call is logged as consecutive segments, each with its own talk time: every one is billed.
LEGS = "sequential"

FIELDS: tuple[str, ...] = (
    "Call Start", "Connected Time", "Ring Time", "Caller", "Direction", "Called Number", "Dialled Number",
    "Account Code", "Is Internal", "Call ID", "Continuation", "Party1Device", "Party1Name", "Party2Device",
    "Party2Name", "Hold Time", "Park Time", "AuthValid", "AuthCode", "User Charged", "Call Charge", "Currency",
    "Amount at Last User Change", "Call Units", "Units at Last User Change", "Cost per Unit", "Mark Up",
    "External Targeting Cause", "External Targeter Id", "External Targeted Number", "Calling Party Server IP Address",
    "Unique Call Id for the Caller Extension", "Called Party Server IP Address",
    "Unique Call Id for the Called Extension", "SMDR Recording Time",
)
COUNTS = (34, 35)
PENDING_LIMIT = 4096  # calls remembered as "more segments follow": bounded, so memory does not grow with the file
MAX_SECONDS = 7 * 86400
_START_RE = re.compile(r"^(\d{4})/(\d{2})/(\d{2}) (\d{2}):(\d{2}):(\d{2})$")
_HMS_RE = re.compile(r"^(\d{1,4}):(\d{2}):(\d{2})$")
_SNIFF_RE = re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2},\d{1,4}:\d{2}:\d{2},\d+,")


class _Bad(ValueError):
    """A field that cannot be read: becomes a Reject with this message."""


def sniff(head: bytes) -> int:
    """High when most lines start "YYYY/MM/DD HH:MM:SS,HH:MM:SS,n," and have 34 or 35 fields."""
    try:
        rows = head_lines(head, 200)
        if not rows:
            return 0
        good = sum(1 for r in rows if _SNIFF_RE.match(r) and r.count(",") + 1 in COUNTS)
        if good == 0:
            return 0
        return 40 + int(55 * good / len(rows))
    except Exception:
        return 0


def _local(ctx: ParseContext, when: dt.datetime, notes: list[str]) -> int:
    """Local PBX time -> UTC epoch; notes a DST gap or overlap (the earlier instant is taken)."""
    zone = ctx.zone
    a, b = when.replace(tzinfo=zone, fold=0), when.replace(tzinfo=zone, fold=1)
    if a.utcoffset() != b.utcoffset():
        back = a.astimezone(dt.timezone.utc).astimezone(zone).replace(tzinfo=None)
        notes.append("nonexistent local time (DST gap)" if back != when else "ambiguous local time (DST overlap)")
    return ctx.local_to_utc(when)


def _start(value: str) -> dt.datetime:
    m = _START_RE.match(value.strip())
    if not m:
        raise _Bad("Call Start: " + _("{value} is not YYYY/MM/DD HH:MM:SS").format(value=repr(value)))
    try:
        return dt.datetime(*(int(g) for g in m.groups()))
    except ValueError:
        raise _Bad("Call Start: " + _("{value} is not a date").format(value=repr(value))) from None


def _hms(value: str, name: str) -> int:
    m = _HMS_RE.match(value.strip())
    if not m:
        raise _Bad(f"{name}: " + _("{value} is not HH:MM:SS").format(value=repr(value)))
    h, mi, s = (int(g) for g in m.groups())
    if mi > 59 or s > 59:
        raise _Bad(f"{name}: " + _("{value} is not HH:MM:SS").format(value=repr(value)))
    total = h * 3600 + mi * 60 + s
    if total > MAX_SECONDS:
        raise _Bad(f"{name}: " + _("{value} is longer than 7 days").format(value=repr(value)))
    return total


def _seconds(value: str, name: str) -> int:
    v = value.strip()
    if not v.isdigit() or not v.isascii():
        raise _Bad(f"{name}: " + _("{value} is not a number of seconds").format(value=repr(value)))
    n = int(v)
    if n > MAX_SECONDS:
        raise _Bad(f"{name}: " + _("{seconds} s is longer than 7 days").format(seconds=n))
    return n


def _device_number(device: str) -> str:
    """E2001 -> 2001."""
    return device[1:]


def is_header(text: str) -> bool:
    """The SMDR header line: its first field is "Call Start" (any case, quoted or not, spaces or not, a BOM)."""
    first = text.partition(",")[0].strip().lstrip("\ufeff").strip().strip('"').strip()
    return first.replace(" ", "").replace("_", "").lower() == "callstart"


def _record(number: int, text: str, f: list[str], ctx: ParseContext, pending: OrderedDict[str, str]) -> CallRecord:
    notes: list[str] = []
    start_text = f[0].strip()
    start = _local(ctx, _start(start_text), notes)
    connected = _hms(f[1], "Connected Time")
    ring = _seconds(f[2], "Ring Time")
    direction_flag = f[4].strip().upper()
    if direction_flag not in ("I", "O"):
        raise _Bad("Direction: " + _("{value} is not I or O").format(value=repr(f[4])))
    internal_flag = f[8].strip()
    if internal_flag not in ("0", "1"):
        raise _Bad("Is Internal: " + _("{value} is not 0 or 1").format(value=repr(f[8])))
    call_id = f[9].strip()
    if not call_id.isdigit() or not call_id.isascii():
        raise _Bad("Call ID: " + _("{value} is not a number").format(value=repr(f[9])))
    more = f[10].strip()
    if more not in ("0", "1"):
        raise _Bad("Continuation: " + _("{value} is not 0 or 1").format(value=repr(f[10])))
    group = f"{call_id}@{start_text}"
    p1_dev, p1_name, p2_dev, p2_name = (x.strip() for x in f[11:15])
    parties = ((p1_dev, p1_name), (p2_dev, p2_name))
    # Party2 first: on a trunk-to-trunk (transfer) segment it is the outgoing trunk, the one that costs money
    trunk_party = next(((d, n) for d, n in reversed(parties) if d[:1].upper() == "T"), None)
    ext_party = next((d for d, _unused in parties if d[:1].upper() == "E"), None)

    trunk_to_trunk = all(d[:1].upper() == "T" for d, _unused in parties)
    if internal_flag == "1":
        direction = "internal"
    elif direction_flag == "I" and not (trunk_to_trunk and group in pending):
        direction = "incoming"  # (a later trunk-to-trunk segment seized a second line: outgoing, whatever the flag)
    elif trunk_party is None:
        direction = "internal"  # IPO writes internal calls as O; without a trunk device nothing left the site
    else:
        direction = "outgoing"
    answer = None
    if connected > 0:
        answer = start + ring
        notes.append("answer = call start + ring time (approximate)")
    extension = _device_number(ext_party) if ext_party else ""
    if group in pending:
        notes.append("later segment: start is the whole call's start")
        if not extension and trunk_to_trunk and pending[group]:
            extension = pending[group]  # trunk to trunk after a transfer: the user who transferred it
            notes.append("extension from an earlier segment (transfer)")
        if more == "0":
            del pending[group]
        else:
            pending[group] = extension or pending[group]
            pending.move_to_end(group)
    elif more == "1":
        pending[group] = extension
        if len(pending) > PENDING_LIMIT:
            pending.popitem(last=False)
    return CallRecord(
        line=number,
        native_id=call_id,
        leg=f"{p1_dev}|{p2_dev}",
        group=group,
        start=start,
        answer=answer,
        duration=ring + connected,
        billable=connected,
        direction=direction,
        disposition="answered" if connected > 0 else "no_answer",
        extension=extension,
        trunk=trunk_party[0] if trunk_party else "",  # the T device; its "Line 5.1" name varies by channel
        caller=f[3].strip(),
        dialled=f[6].strip(),
        called=f[5].strip(),
        account=f[7].strip(),
        raw=text,
        notes=notes,
    )


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[Item]:
    """Every line of an IPO SMDR file or capture as a CallRecord (one per segment), Skipped (blank, a header line
    some collectors add) or Reject, in order."""
    # calls whose last segment said more segments follow -> the latest extension among their segments
    pending: OrderedDict[str, str] = OrderedDict()
    for number, text in lines(stream, ctx.encoding):
        try:
            if not text.strip():
                yield Skipped(line=number, raw=text, what="blank")
                continue
            if is_header(text):
                yield Skipped(line=number, raw=text, what="header")
                continue
            fields = text.split(",")
            if len(fields) not in COUNTS:
                yield Reject(line=number, raw=text, reason="fields: " + _(
                    "{count}, an SMDR record has 34 or 35").format(count=len(fields)))
                continue
            yield _record(number, text, fields, ctx, pending)
        except _Bad as bad:
            yield Reject(line=number, raw=text, reason=str(bad))
        except Exception as exc:  # the invariant: one item per line, never an exception
            yield Reject(line=number, raw=text, reason="line: " + _(
                "unexpected error {kind}: {error}").format(kind=type(exc).__name__, error=exc))
