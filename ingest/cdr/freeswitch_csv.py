"""FreeSWITCH mod_cdr_csv: one CSV line per leg, columns from a template in cdr_csv.conf.xml.

Without a profile the stock "example" template (15 columns, all quoted) is assumed; a site that added columns
(`${direction}`, `${sip_gateway_name}`, ...) passes its variable names in order as ctx.profile["columns"].
The meaning of FreeSWITCH variables (times, Q.850 causes, leg direction, gateways) is in `fs_record`, which the
mod_json_cdr parser (freeswitch_json.py) shares.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

from i18n import _
from ingest.cdr.asterisk import (
    MAX_SECONDS,
    CsvError,
    FieldError,
    Stamp,
    is_header,
    parse_template,
    resolve_times,
    score,
    short,
    split_csv,
    template_spec,
    to_utc,
)
from ingest.cdr.classify import NO_BLEG
from ingest.cdr.model import CallRecord, Facts, Item, ParseContext, Reject, head_lines

NAME = "freeswitch"

EXAMPLE = ["caller_id_name", "caller_id_number", "destination_number", "context", "start_stamp", "answer_stamp",
           "end_stamp", "duration", "billsec", "hangup_cause", "uuid", "bleg_uuid", "accountcode", "read_codec",
           "write_codec"]
KNOWN = frozenset([*EXAMPLE, "direction", "sip_gateway_name", "start_epoch", "answer_epoch", "end_epoch",
                   "start_uepoch", "answer_uepoch", "end_uepoch", "billmsec", "originating_leg_uuid",
                   "hangup_cause_q850", "sip_hangup_disposition", "last_app", "last_arg", "network_addr",
                   "channel_name", "effective_caller_id_number", "bridge_channel"])

# Q.850 cause names as FreeSWITCH prints them (switch_channel.c CAUSE_CHART); used to recognise the format
_CAUSE_NAMES = """
UNALLOCATED_NUMBER NO_ROUTE_TRANSIT_NET NO_ROUTE_DESTINATION CHANNEL_UNACCEPTABLE CALL_AWARDED_DELIVERED
NORMAL_CLEARING USER_BUSY NO_USER_RESPONSE NO_ANSWER SUBSCRIBER_ABSENT CALL_REJECTED NUMBER_CHANGED
REDIRECTION_TO_NEW_DESTINATION EXCHANGE_ROUTING_ERROR DESTINATION_OUT_OF_ORDER INVALID_NUMBER_FORMAT
FACILITY_REJECTED RESPONSE_TO_STATUS_ENQUIRY NORMAL_UNSPECIFIED NORMAL_CIRCUIT_CONGESTION NETWORK_OUT_OF_ORDER
NORMAL_TEMPORARY_FAILURE SWITCH_CONGESTION ACCESS_INFO_DISCARDED REQUESTED_CHAN_UNAVAIL PRE_EMPTED
FACILITY_NOT_SUBSCRIBED OUTGOING_CALL_BARRED INCOMING_CALL_BARRED BEARERCAPABILITY_NOTAUTH BEARERCAPABILITY_NOTAVAIL
SERVICE_UNAVAILABLE BEARERCAPABILITY_NOTIMPL CHAN_NOT_IMPLEMENTED FACILITY_NOT_IMPLEMENTED SERVICE_NOT_IMPLEMENTED
INVALID_CALL_REFERENCE INCOMPATIBLE_DESTINATION INVALID_MSG_UNSPECIFIED MANDATORY_IE_MISSING MESSAGE_TYPE_NONEXIST
WRONG_MESSAGE IE_NONEXIST INVALID_IE_CONTENTS WRONG_CALL_STATE RECOVERY_ON_TIMER_EXPIRE MANDATORY_IE_LENGTH_ERROR
PROTOCOL_ERROR INTERWORKING SUCCESS ORIGINATOR_CANCEL CRASH SYSTEM_SHUTDOWN LOSE_RACE MANAGER_REQUEST
BLIND_TRANSFER ATTENDED_TRANSFER ALLOTTED_TIMEOUT USER_CHALLENGE MEDIA_TIMEOUT PICKED_OFF USER_NOT_REGISTERED
PROGRESS_TIMEOUT INVALID_GATEWAY GATEWAY_DOWN INVALID_URL INVALID_PROFILE NO_PICKUP SRTP_READ_ERROR BOWOUT
BUSY_EVERYWHERE DECLINE DOES_NOT_EXIST_ANYWHERE NOT_ACCEPTABLE UNWANTED NO_IDENTITY BAD_IDENTITY_INFO
UNSUPPORTED_CERTIFICATE INVALID_IDENTITY STALE_DATE
"""
CAUSES = frozenset(_CAUSE_NAMES.split())
BUSY_CAUSES = frozenset({"USER_BUSY", "BUSY_EVERYWHERE"})
NO_ANSWER_CAUSES = frozenset({"NO_ANSWER", "ORIGINATOR_CANCEL", "NO_USER_RESPONSE", "LOSE_RACE", "PICKED_OFF",
                              "NO_PICKUP", "CALL_AWARDED_DELIVERED"})
Q850_NUMBERS = {"16": "NORMAL_CLEARING", "17": "USER_BUSY", "18": "NO_USER_RESPONSE", "19": "NO_ANSWER",
                "21": "CALL_REJECTED", "34": "NORMAL_CIRCUIT_CONGESTION", "487": "ORIGINATOR_CANCEL"}

_STAMP = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?")
_EPOCH = re.compile(r"\d+")
_NUMBER = re.compile(r"(\d+)(?:\.0*)?")  # a spreadsheet may have written 159 as 159.0
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_GATEWAY_DIAL = re.compile(r"sofia/gateway/([^/\s,|\]]+)/([^,|\s\]]+)")
_VAR = re.compile(r"^\$?\{?\s*([A-Za-z0-9_]+)\s*\}?$")


def read_stamp(name: str, value: str, notes: list[str]) -> Stamp | None:
    """`YYYY-MM-DD HH:MM:SS` local stamp -> Stamp; None when empty. A spreadsheet re-save (`2020/2/10 22:41`,
    seconds lost) is accepted with the note "low precision"."""
    v = value.strip()
    if not v:
        return None
    m = _STAMP.fullmatch(v)
    if m is None:
        raise FieldError(f"{name}: " + _("{value} is not a date 'YYYY-MM-DD HH:MM:SS'").format(value=short(value)))
    y, mo, d, h, mi, s = m.groups()
    try:
        when = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0))
    except ValueError:
        raise FieldError(f"{name}: " + _("{value} is not a date 'YYYY-MM-DD HH:MM:SS'").format(
            value=short(value))) from None
    if s is None and "low precision" not in notes:
        notes.append("low precision")
    return Stamp(local=when)


def read_epoch(name: str, value: str, scale: int) -> Stamp | None:
    """An epoch variable (s or µs); None for empty or "0" (FreeSWITCH's "never")."""
    v = value.strip()
    if not v or v == "0":
        return None
    if not _EPOCH.fullmatch(v):
        raise FieldError(f"{name}: " + _("{value} is not an epoch").format(value=short(value)))
    return Stamp(epoch=int(v) // scale)


def read_time(f: Mapping[str, str], what: str, notes: list[str]) -> Stamp | None:
    """The `what` (start/answer/end) time from whichever variable the source has: µs epoch, s epoch, stamp."""
    for suffix, scale in (("uepoch", 1_000_000), ("epoch", 1)):
        key = f"{what}_{suffix}"
        if f.get(key, "").strip():
            return read_epoch(key, f[key], scale)
    key = f"{what}_stamp"
    return read_stamp(key, f.get(key, ""), notes)


def read_seconds(name: str, value: str) -> int:
    v = value.strip()
    m = _NUMBER.fullmatch(v)
    if m is None:
        if v.startswith("-") and _NUMBER.fullmatch(v[1:]):
            raise FieldError(f"{name}: " + _("{number} is negative").format(number=v))
        raise FieldError(f"{name}: " + _("{value} is not a whole number of seconds").format(value=short(value)))
    n = int(m.group(1))
    if n > MAX_SECONDS * (1000 if name.endswith("msec") else 1):
        raise FieldError(f"{name}: " + _("{seconds} is more than 7 days").format(seconds=n))
    return n


def disposition(cause: str, answered: bool) -> str:
    """Q.850 cause -> disposition. Any leg with talk time is answered whatever the cause (the time is rated);
    otherwise busy, no_answer (no answer, caller cancel, parallel-ring losers) or failed (the rest, including an
    unanswered NORMAL_CLEARING)."""
    if answered:
        return "answered"
    c = cause.strip().upper()
    c = Q850_NUMBERS.get(c, c)
    if c in BUSY_CAUSES:
        return "busy"
    if c in NO_ANSWER_CAUSES:
        return "no_answer"
    return "failed"


def fs_channel(name: str) -> str:
    """A FreeSWITCH channel name without its host: `sofia/internal/1001@10.0.0.5` -> `sofia/internal/1001`."""
    name = name.strip()
    slash = name.rfind("/")
    at = name.find("@", slash + 1)
    return name[:at] if at >= 0 else name


def fs_facts(f: Mapping[str, str], answered: bool) -> Facts:
    """What a leg's variables say about where the call went (ingest.cdr.classify decides from it).

    FreeSWITCH "inbound" = the leg came into the switch (an a-leg: its channel is the caller's), "outbound" = the
    switch placed it (a b-leg: its channel is the one reached). A gateway leg's channel is `sofia/gateway/<gw>`; an
    a-leg's bridge string `sofia/gateway/<gw>/<number>` is its Dial target. An answered leg with an empty
    `bleg_uuid` and no `last_app` was answered by the switch itself (echo, voicemail, conference, IVR): NO_BLEG."""
    leg = f.get("direction", "").strip().lower()
    gateway = f.get("sip_gateway_name", "").strip()
    channel = fs_channel(f.get("channel_name", ""))
    app = f.get("last_app", "").strip()
    bridge = f.get("bridge_target", "") or (f.get("last_arg", "") if app == "bridge" else "")
    m = _GATEWAY_DIAL.search(bridge)
    tech, via, number = ("sofia/gateway", m.group(1), m.group(2)) if m else ("", "", "")
    if leg == "outbound":
        origin, target = "", f"sofia/gateway/{gateway}" if gateway else channel
        if gateway:
            tech, via, number = "sofia/gateway", gateway, f.get("destination_number", "")
    else:
        origin = f"sofia/gateway/{gateway}" if gateway else channel
        target = fs_channel(f.get("bridge_channel", ""))
        if not target and bridge and not m:
            target = fs_channel(bridge.split(",", 1)[0].split("|", 1)[0].rsplit("]", 1)[-1])  # user/1001@domain
    if not app and answered and "bleg_uuid" in f and not f["bleg_uuid"].strip() and leg != "outbound":
        app = NO_BLEG
    return Facts(origin=origin, target=target, app=app, context=f.get("context", "").strip(), dial_tech=tech,
                 dial_peer=via, dial_number=number, leg=leg)


def fs_record(f: Mapping[str, str], line: int, raw: str, ctx: ParseContext,
              notes: list[str] | None = None) -> CallRecord | Reject:
    """One leg from FreeSWITCH variables (by name; absent names are absent) -> CallRecord or Reject."""
    notes = notes if notes is not None else []
    try:
        start = read_time(f, "start", notes)
        if start is None:
            raise FieldError("start: " + _("empty"))
        answer = read_time(f, "answer", notes)
        end = read_time(f, "end", notes)
        s0 = to_utc(ctx, start)[0]
        e0 = to_utc(ctx, end)[0] if end is not None else None
        if f.get("duration", "").strip():
            duration = read_seconds("duration", f["duration"])
        else:
            duration = max(0, e0 - s0) if e0 is not None else 0
            if duration > MAX_SECONDS:
                raise FieldError("duration: " + _(
                    "{seconds} s (end - start) is more than 7 days").format(seconds=duration))
        if f.get("billsec", "").strip():
            billable = read_seconds("billsec", f["billsec"])
        elif f.get("billmsec", "").strip():
            billable = (read_seconds("billmsec", f["billmsec"]) + 500) // 1000
        elif answer is not None and e0 is not None:
            billable = max(0, e0 - to_utc(ctx, answer)[0])
        else:
            billable = 0
        if billable > duration:
            raise FieldError("billsec: " + _("{billable} is more than duration {duration}").format(
                billable=billable, duration=duration))
        start_utc, answer_utc = resolve_times(ctx, start, answer, end, duration, billable, notes)

        cause = f.get("hangup_cause", "") or f.get("hangup_cause_q850", "")
        disp = disposition(cause, billable > 0 or answer is not None)

        number = f.get("caller_id_number", "") or f.get("effective_caller_id_number", "")
        dest = f.get("destination_number", "")
        uuid = f.get("uuid", "").strip()
        group = f.get("originating_leg_uuid", "").strip() or uuid
        if "\ufffd" in raw and "invalid utf-8 replaced" not in notes:
            notes.append("invalid utf-8 replaced")
        return CallRecord(line=line, native_id=uuid, group=group, start=start_utc, answer=answer_utc,
                          duration=duration, billable=billable, disposition=disp, caller=number, dialled=dest,
                          account=f.get("accountcode", ""), raw=raw, notes=notes,
                          facts=fs_facts(f, disp == "answered"))
    except FieldError as e:
        return Reject(line=line, raw=raw, reason=str(e))
    except Exception as e:  # a parser never lets a line abort the file
        return Reject(line=line, raw=raw, reason=f"unreadable: {type(e).__name__}: {e}")


def columns(profile: dict[str, Any]) -> list[str]:
    """The template's variable names (`${uuid}` -> `uuid`); raises ValueError when unusable."""
    spec = template_spec(profile, "FreeSWITCH variable names")
    if spec is None:
        return EXAMPLE
    out = []
    for i, s in enumerate(spec):
        m = _VAR.match(s.strip())
        out.append(m.group(1).lower() if m else f"_{i}")
    if not any(n in out for n in ("start_stamp", "start_epoch", "start_uepoch")):
        raise ValueError("profile: " + _("'columns' has no start_stamp, start_epoch or start_uepoch"))
    return out


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[Item]:
    """Each line of a mod_cdr_csv file: a CallRecord, a Reject with its reason, or Skipped (blank, header)."""

    def record(fields: dict[str, str], number: int, text: str) -> Item:
        return fs_record(fields, number, text, ctx)

    yield from parse_template(stream, ctx, columns, KNOWN, record, template_in_header=True)


def is_cause(value: str) -> bool:
    return value in CAUSES


def sniff(head: bytes) -> int:
    """The "example" shape (15 columns, FreeSWITCH stamp at 5, Q.850 cause at 10, uuid at 11) scores high; another
    template with a uuid, a Q.850 cause and a stamp somewhere scores 75."""
    try:
        exact = loose = considered = 0
        for text in head_lines(head):
            try:
                cells = split_csv(text)
            except CsvError:
                considered += 1
                continue
            v = [c for c, _unused in cells]
            if is_header(v, KNOWN):
                continue
            considered += 1
            if (len(v) == 15 and _STAMP.fullmatch(v[4]) and is_cause(v[9]) and _UUID.fullmatch(v[10])
                    and (not v[11] or _UUID.fullmatch(v[11]))):
                exact += 1
            elif (any(_UUID.fullmatch(x) for x in v) and any(is_cause(x) for x in v)
                  and any(_STAMP.fullmatch(x) or (x.isdigit() and len(x) in (10, 16)) for x in v)):
                loose += 1
        if exact:
            return score(exact + loose, considered)
        return min(75, score(loose, considered))
    except Exception:  # sniffing garbage answers 0, never raises
        return 0
