"""Cisco Unified CM CDR flat files (cdr_<cluster>_<node>_<stamp>_<seq>), read by header name.

Line 1 holds the quoted column names and line 2 their types; both are skipped. Columns are looked up by name,
case-insensitively, because CM versions insert columns mid-row (123/129/133 columns) and exports change the case.
Headerless dumps fall back on a profile chosen by the column count: columns 0-93 are the same in every version,
and every column this parser reads lies there, so the profiles only need to be exact up to column 93.

Only end records (cdrRecordType 1) are calls; start records (0) and CMRs (2) are counted as skipped.
Times are UTC epoch seconds: no timezone conversion.

Direction comes from the two devices. Inside devices are phones (SEP, CSF, BOT, TCT, TAB, ATA, AN<mac> analog
ports, and a cucm source's `phone_prefixes`) and voicemail ports (CiscoUM..., `voicemail_prefixes`); any
other device is a trunk or gateway. Phone to phone or voicemail is internal; inside to trunk outgoing; trunk to
inside incoming; trunk to trunk transit (its extension: lastRedirectDn, the user who forwarded or transferred
it out). An empty destination device (busy, failed, abandoned) takes the direction
from the origin: from an inside device the call is outgoing (the dial plan makes it internal when an extension was
dialled, emergency when 911/112 was), never incoming. Recording and built-in-bridge legs (a calling or called
number `b<digits>`, the bridge numbers CM makes up, or a recording marker in the `comment` column) are internal
legs with status service (CallRecord.service), never priced. The extension is the phone's own number:
callingPartyNumber when the origin is inside, the final called number (the mailbox owner for voicemail:
lastRedirectDn) when the call came in; a masked calling number (`X`s or other non-digits) is no extension. A
`+`-globalised DN is kept as written here; the site's dial plan turns it back into the extension
(ingest.dialplan.DialPlan.own_extension).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from typing import BinaryIO

from i18n import _
from ingest.cdr.model import CallRecord, Item, ParseContext, Reject, Skipped, head_lines, lines

NAME = "cucm"

# Columns 0-93: identical in CM 8.x to 15 (checked against the key positions of the format notes).
STABLE_COLUMNS: tuple[str, ...] = (
    "cdrRecordType", "globalCallID_callManagerId", "globalCallID_callId", "origLegCallIdentifier",
    "dateTimeOrigination", "origNodeId", "origSpan", "origIpAddr", "callingPartyNumber",
    "callingPartyUnicodeLoginUserID", "origCause_location", "origCause_value", "origPrecedenceLevel",
    "origMediaTransportAddress_IP", "origMediaTransportAddress_Port", "origMediaCap_payloadCapability",
    "origMediaCap_maxFramesPerPacket", "origMediaCap_g723BitRate", "origVideoCap_Codec", "origVideoCap_Bandwidth",
    "origVideoCap_Resolution", "origVideoTransportAddress_IP", "origVideoTransportAddress_Port", "origRSVPAudioStat",
    "origRSVPVideoStat", "destLegIdentifier", "destNodeId", "destSpan", "destIpAddr", "originalCalledPartyNumber",
    "finalCalledPartyNumber", "finalCalledPartyUnicodeLoginUserID", "destCause_location", "destCause_value",
    "destPrecedenceLevel", "destMediaTransportAddress_IP", "destMediaTransportAddress_Port",
    "destMediaCap_payloadCapability", "destMediaCap_maxFramesPerPacket", "destMediaCap_g723BitRate",
    "destVideoCap_Codec", "destVideoCap_Bandwidth", "destVideoCap_Resolution", "destVideoTransportAddress_IP",
    "destVideoTransportAddress_Port", "destRSVPAudioStat", "destRSVPVideoStat", "dateTimeConnect",
    "dateTimeDisconnect", "lastRedirectDn", "pkid", "originalCalledPartyNumberPartition",
    "callingPartyNumberPartition", "finalCalledPartyNumberPartition", "lastRedirectDnPartition", "duration",
    "origDeviceName", "destDeviceName", "origCallTerminationOnBehalfOf", "destCallTerminationOnBehalfOf",
    "origCalledPartyRedirectOnBehalfOf", "lastRedirectRedirectOnBehalfOf", "origCalledPartyRedirectReason",
    "lastRedirectRedirectReason", "destConversationId", "globalCallId_ClusterID", "joinOnBehalfOf", "comment",
    "authCodeDescription", "authorizationLevel", "clientMatterCode", "origDTMFMethod", "destDTMFMethod",
    "callSecuredStatus", "origConversationId", "origMediaCap_Bandwidth", "destMediaCap_Bandwidth",
    "authorizationCodeValue", "outpulsedCallingPartyNumber", "outpulsedCalledPartyNumber", "origIpv4v6Addr",
    "destIpv4v6Addr", "origVideoCap_Codec_Channel2", "origVideoCap_Bandwidth_Channel2",
    "origVideoCap_Resolution_Channel2", "origVideoTransportAddress_IP_Channel2",
    "origVideoTransportAddress_Port_Channel2", "origVideoChannel_Role_Channel2", "destVideoCap_Codec_Channel2",
    "destVideoCap_Bandwidth_Channel2", "destVideoCap_Resolution_Channel2", "destVideoTransportAddress_IP_Channel2",
    "destVideoTransportAddress_Port_Channel2", "destVideoChannel_Role_Channel2",
)
assert len(STABLE_COLUMNS) == 94

# The 129-column order (CM 11.x/12.0), as published field lists give it.
_TAIL_129: tuple[str, ...] = (
    "IncomingProtocolID", "IncomingProtocolCallRef", "OutgoingProtocolID", "OutgoingProtocolCallRef",
    "currentRoutingReason", "origRoutingReason", "lastRedirectingRoutingReason", "huntPilotPartition", "huntPilotDN",
    "calledPartyPatternUsage", "IncomingICID", "IncomingOrigIOI", "IncomingTermIOI", "OutgoingICID",
    "OutgoingOrigIOI", "OutgoingTermIOI", "outpulsedOriginalCalledPartyNumber", "outpulsedLastRedirectingNumber",
    "wasCallQueued", "totalWaitTimeInQueue", "callingPartyNumber_uri", "originalCalledPartyNumber_uri",
    "finalCalledPartyNumber_uri", "lastRedirectDn_uri", "mobileCallingPartyNumber", "finalMobileCalledPartyNumber",
    "origMobileDeviceName", "destMobileDeviceName", "origMobileCallDuration", "destMobileCallDuration",
    "mobileCallType", "originalCalledPartyPattern", "finalCalledPartyPattern", "lastRedirectingPartyPattern",
    "huntPilotPattern",
)
# Headerless profiles by column count. Only 0-93 are relied on. The 129 tail follows the published list; the 133
# tail (129 + four device type/session columns at the end) matches the shape of the format notes' example but is
# unverified; the 123 tail (CM 10.5) is not known column by column and is left unnamed.
PROFILES: dict[int, tuple[str, ...]] = {
    123: STABLE_COLUMNS + tuple(f"column{i}" for i in range(94, 123)),
    129: STABLE_COLUMNS + _TAIL_129,
    133: STABLE_COLUMNS + _TAIL_129 + ("origDeviceType", "destDeviceType", "origDeviceSessionID",
                                       "destDeviceSessionID"),
}
APPROXIMATE_PROFILES = (123, 133)

# Device name prefixes of endpoints (our users); any other device is a trunk, gateway port or media resource.
# SEP = IP phone, ATA = analog adapter, CSF = Jabber desktop, BOT/TCT/TAB = Jabber Android/iPhone/tablet.
PHONE_PREFIXES: tuple[str, ...] = ("SEP", "ATA", "CSF", "BOT", "TCT", "TAB")
# Unity Connection / Unity voicemail ports: inside the site, never a trunk.
VOICEMAIL_PREFIXES: tuple[str, ...] = ("CISCOUM",)
# SCCP analog gateway ports: AN + the gateway's MAC (+ port): a phone. Only with the MAC, so that a trunk named
# "ANATOLE-GW" stays a trunk.
_ANALOG_RE = re.compile(r"^AN[0-9A-F]{12}", re.I)
# a called number that CM makes up for a bridge: b + digits (built-in bridge, conference bridge, recorder legs)
_BRIDGE_RE = re.compile(r"^[bB]\d+$")
_RECORDING_RE = re.compile(r"(?i)record|\bBIB\b")
# what the block scanner is told about device names: phones, and "!" + prefixes whose lines it leaves to us
SCAN_FALLBACK = "!"

MAX_SECONDS = 7 * 86400
_MAX_EPOCH = 4_102_444_800  # 2100-01-01: anything later is not a CM timestamp
_TYPE_RE = re.compile(r"^[A-Za-z]+(\(\d+\))?$")
_INT_RE = re.compile(r"^-?\d+$")
_NEEDED = ("cdrRecordType", "globalCallID_callManagerId", "globalCallID_callId", "origLegCallIdentifier",
           "dateTimeOrigination", "callingPartyNumber", "origCause_value", "originalCalledPartyNumber",
           "finalCalledPartyNumber", "destCause_value", "dateTimeConnect", "pkid", "duration", "origDeviceName",
           "destDeviceName")


def _split(text: str) -> list[str] | None:
    """One CSV line -> fields (quoted or not); None when the csv module cannot read it."""
    try:
        return next(csv.reader([text]), [])
    except csv.Error:
        return None


def _index(names: list[str] | tuple[str, ...]) -> dict[str, int]:
    """Lower-cased column name -> position (first one wins if a name repeats)."""
    out: dict[str, int] = {}
    for i, name in enumerate(names):
        out.setdefault(name.strip().lower(), i)
    return out


_PROFILE_INDEX = {count: _index(names) for count, names in PROFILES.items()}


def _is_types_row(fields: list[str]) -> bool:
    """Line 2 of a CDR file: INTEGER, VARCHAR(50), UNIQUEIDENTIFIER..."""
    if not fields or fields[0].strip().upper() != "INTEGER":
        return False
    typed = sum(1 for f in fields if _TYPE_RE.match(f.strip()))
    return typed * 2 >= len(fields)


def is_phone(device: str, prefixes: tuple[str, ...] = PHONE_PREFIXES) -> bool:
    """True when a device name is an endpoint (phone, soft client, ATA, analog port) rather than a trunk or gateway."""
    return device.upper().startswith(prefixes) or bool(_ANALOG_RE.match(device))


def is_recording(comment: str, *numbers: str) -> bool:
    """A recording or built-in-bridge leg: a `b<digits>` number (the bridge calling the recorder, or a bridge
    called), or a recording marker in the comment."""
    return any(_BRIDGE_RE.match(n) for n in numbers if n) or bool(comment and _RECORDING_RE.search(comment))


def own_number(number: str) -> str:
    """The phone's number as an extension: "" when it is masked (X's, '*', other non-digits after a leading '+')."""
    digits = number[1:] if number.startswith("+") else number
    return number if digits.isdigit() and digits.isascii() else ""


def sniff(head: bytes) -> int:
    """High for the CDR header names, or for rows of 123/129/133 columns starting with a record type and epochs."""
    try:
        rows = head_lines(head, 200)
        if not rows:
            return 0
        first = rows[0].lower()
        if "cdrrecordtype" in first:
            return 95 if "globalcallid_callid" in first else 75
        good = bad = 0
        for row in rows[:50]:
            fields = _split(row)
            if (fields and len(fields) in PROFILES and fields[0].strip() in ("0", "1", "2")
                    and _INT_RE.match(fields[4].strip()) and _INT_RE.match(fields[2].strip())):
                good += 1
            else:
                bad += 1
        if good == 0:
            return 0
        return int(85 * good / (good + bad))
    except Exception:
        return 0


def _int(value: str, name: str) -> int:
    v = value.strip()
    if not _INT_RE.match(v):
        raise _Bad(f"{name}: " + _("{value} is not an integer").format(value=repr(value)))
    return int(v)


def _epoch(value: str, name: str, zero_ok: bool) -> int:
    v = value.strip()
    if not _INT_RE.match(v):
        raise _Bad(f"{name}: " + _("{value} is not an epoch").format(value=repr(value)))
    n = int(v)
    if n == 0 and zero_ok:
        return 0
    if n <= 0 or n >= _MAX_EPOCH:
        raise _Bad(f"{name}: " + _("{value} is not a plausible epoch").format(value=repr(value)))
    return n


class _Bad(ValueError):
    """A field that cannot be read: becomes a Reject with this message."""


def _disposition(answer: int | None, dest_cause: int, orig_cause: int) -> str:
    """Answered when connected; else the Q.850 cause: 17 busy, 16/18/19 (or none) no answer, anything else failed."""
    if answer is not None:
        return "answered"
    cause = dest_cause or orig_cause
    if cause == 17 or orig_cause == 17:
        return "busy"
    if cause in (0, 16, 18, 19):
        return "no_answer"
    return "failed"


def _record(number: int, text: str, fields: list[str], col: dict[str, int], prefixes: tuple[str, ...],
            voicemail: tuple[str, ...] = VOICEMAIL_PREFIXES) -> CallRecord:
    def get(name: str) -> str:
        i = col.get(name.lower())
        return fields[i].strip() if i is not None and i < len(fields) else ""

    cm = _int(get("globalCallID_callManagerId"), "globalCallID_callManagerId")
    call_id = _int(get("globalCallID_callId"), "globalCallID_callId")
    start = _epoch(get("dateTimeOrigination"), "dateTimeOrigination", zero_ok=False)
    connect = _epoch(get("dateTimeConnect"), "dateTimeConnect", zero_ok=True)
    billable = _int(get("duration"), "duration")
    if billable < 0 or billable > MAX_SECONDS:
        raise _Bad("duration: " + _("{seconds} s is out of range (0 to 7 days)").format(seconds=billable))
    answer = connect or None
    if answer is not None and answer < start:
        raise _Bad("dateTimeConnect: " + _(
            "{value} is before dateTimeOrigination {start}").format(value=connect, start=start))
    notes: list[str] = []
    disconnect_text = get("dateTimeDisconnect")
    if "datetimedisconnect" in col and disconnect_text not in ("", "0"):
        disconnect = _epoch(disconnect_text, "dateTimeDisconnect", zero_ok=False)
        if disconnect < start:
            raise _Bad("dateTimeDisconnect: " + _("{value} is before dateTimeOrigination {start}").format(
                value=disconnect, start=start))
        duration = disconnect - start
    else:
        duration = (answer - start if answer is not None else 0) + billable
        notes.append("no dateTimeDisconnect: duration derived")
    if duration > MAX_SECONDS:
        raise _Bad("dateTimeDisconnect: " + _("call of {seconds} s is longer than 7 days").format(seconds=duration))
    dest_cause = _int(get("destCause_value") or "0", "destCause_value")
    orig_cause = _int(get("origCause_value") or "0", "origCause_value")

    orig_dev, dest_dev = get("origDeviceName"), get("destDeviceName")
    caller, original, final = get("callingPartyNumber"), get("originalCalledPartyNumber"), get("finalCalledPartyNumber")
    orig_kind = _device_kind(orig_dev, prefixes, voicemail)
    dest_kind = _device_kind(dest_dev, prefixes, voicemail)
    called_in = final
    if dest_kind == "voicemail":  # a call forwarded to voicemail: the mailbox is the user's
        called_in = get("lastRedirectDn") or original or final
    direction, trunk, extension = "", "", ""
    if orig_kind in ("phone", "voicemail"):
        extension = own_number(caller)
        if caller and not extension and not _BRIDGE_RE.match(caller):
            notes.append("callingPartyNumber masked: no extension")
        if dest_kind in ("phone", "voicemail"):
            direction = "internal"
        elif dest_kind == "trunk":
            direction, trunk = "outgoing", dest_dev
        else:
            direction = "outgoing"  # from inside: the dial plan makes it internal or emergency by the number
            notes.append("destDeviceName empty: direction from the origin device")
    elif orig_kind == "trunk":
        if dest_kind in ("phone", "voicemail"):
            direction, trunk, extension = "incoming", orig_dev, called_in
        elif dest_kind == "trunk":  # forwarded or transferred out: the user who did it is the extension
            direction, trunk, extension = "transit", dest_dev, own_number(get("lastRedirectDn"))
        else:
            direction, trunk, extension = "incoming", orig_dev, final
            notes.append("destDeviceName empty: assumed incoming")
    else:
        extension = final
        notes.append("origDeviceName empty: direction unknown")
    service = is_recording(get("comment"), original, final, caller)
    if service:
        direction, trunk = "internal", ""
        notes.append("recording or built-in-bridge leg: internal, never priced")
    return CallRecord(
        line=number,
        native_id=get("pkid"),
        leg=get("origLegCallIdentifier"),
        group=f"{cm}-{call_id}",
        start=start,
        answer=answer,
        duration=duration,
        billable=billable,
        direction=direction,
        disposition=_disposition(answer, dest_cause, orig_cause),
        extension=extension,
        trunk=trunk,
        caller=caller,
        dialled=get("originalCalledPartyNumber"),
        called=get("outpulsedCalledPartyNumber") or final,
        account=get("clientMatterCode") or get("authCodeDescription"),
        raw=text,
        notes=notes,
        service=service,
    )


def _device_kind(device: str, phones: tuple[str, ...], voicemail: tuple[str, ...]) -> str:
    """"phone", "voicemail", "trunk" (any other device: trunks, gateways, media resources) or "" (none)."""
    if not device:
        return ""
    if is_phone(device, phones):
        return "phone"
    return "voicemail" if device.upper().startswith(voicemail) else "trunk"


def _prefixes(ctx: ParseContext, key: str = "phone_prefixes", builtin: tuple[str, ...] = PHONE_PREFIXES
              ) -> tuple[str, ...]:
    """Built-in phone prefixes plus any a site adds with profile["phone_prefixes"] (Cisco Webex, CTI ports...);
    the same for profile["voicemail_prefixes"]."""
    extra = ctx.profile.get(key) if isinstance(ctx.profile, dict) else None
    if isinstance(extra, str):
        extra = extra.split(",")
    if isinstance(extra, (list, tuple)):
        return builtin + tuple(str(p).strip().upper() for p in extra if str(p).strip())
    return builtin


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[Item]:
    """Every line of a CUCM CDR file as a CallRecord (end records), Skipped (header, types, start, CMR, blank) or
    Reject (unreadable end record), in order."""
    reader = Reader(ctx)
    for number, text in lines(stream, ctx.encoding):
        yield reader.line(number, text)


class Reader:
    """The line-by-line state of a file: the column map of the last header line seen."""

    def __init__(self, ctx: ParseContext) -> None:
        self.phones = _prefixes(ctx)
        self.voicemail = _prefixes(ctx, "voicemail_prefixes", VOICEMAIL_PREFIXES)
        # for the block scanner (ingest.cdr.blocks): phone prefixes, then "!" + prefixes of devices whose lines it
        # leaves to this parser (voicemail ports, analog ports)
        self.prefixes = self.phones + tuple(SCAN_FALLBACK + p for p in (*self.voicemail, "AN"))
        self.header: dict[str, int] | None = None
        self.header_len = 0
        self.missing: list[str] = []

    def line(self, number: int, text: str) -> Item:
        try:
            if not text.strip():
                return Skipped(line=number, raw=text, what="blank")
            fields = _split(text)
            if fields is None:
                return Reject(line=number, raw=text, reason="line: " + _("not readable as CSV"))
            if not fields[0].strip().lstrip("-").isdigit() and any(f.strip().lower() == "cdrrecordtype"
                                                                      for f in fields):  # data rows start with a number
                self.header, self.header_len = _index(fields), len(fields)
                self.missing = [n for n in _NEEDED if n.lower() not in self.header]
                return Skipped(line=number, raw=text, what="header")
            if _is_types_row(fields):
                return Skipped(line=number, raw=text, what="types")
            header = self.header
            at = header.get("cdrrecordtype", 0) if header is not None else 0
            first = fields[at].strip() if at < len(fields) else ""
            if first == "0":
                return Skipped(line=number, raw=text, what="start record")
            if first == "2":
                return Skipped(line=number, raw=text, what="CMR")
            if first != "1":
                return Reject(line=number, raw=text, reason="cdrRecordType: " + _(
                    "{value} is not 0, 1 or 2").format(value=repr(first[:40])))
            if header is not None:
                if self.missing:
                    return Reject(line=number, raw=text, reason="header: " + _(
                        "no column {value}").format(value=repr(self.missing[0])))
                if len(fields) != self.header_len:
                    return Reject(line=number, raw=text,
                                  reason="columns: " + _(
                                      "{count}, the header has {expected}").format(
                                      count=len(fields), expected=self.header_len))
                col = header
            else:
                if len(fields) not in PROFILES:
                    return Reject(line=number, raw=text,
                                  reason="columns: " + _(
                                      "{count}, a headerless record has 123, 129 or 133").format(count=len(fields)))
                col = _PROFILE_INDEX[len(fields)]  # every column read is < 94: exact in all three profiles
            return _record(number, text, fields, col, self.phones, self.voicemail)
        except _Bad as bad:
            return Reject(line=number, raw=text, reason=str(bad))
        except Exception as exc:  # the invariant: one item per line, never an exception
            return Reject(line=number, raw=text, reason="line: " + _(
                "unexpected error {kind}: {error}").format(kind=type(exc).__name__, error=exc))
