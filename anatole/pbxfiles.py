"""Real PBX call-record files from generated calls: Asterisk `Master.csv`, a Cisco CUCM CDR flat file and an Avaya
IP Office SMDR capture, laid out as ../shared/reference/cdr-formats.md sections 1.1, 3 and 4.1 describe them.

The writers take the calls of one site as columns (`PbxCalls`) and the site's dial plan (any object with the
attributes of `anatole.demo.Site`: `country`, `timezone`, `outside_prefix`, `national_prefix`,
`international_prefix`, `area_code`). Numbers are E.164 digits; each writer turns them into what that PBX records:
the digits as the user dialled them (outside-line prefix included), the number as sent to the network, the caller
ID of incoming calls. Local times use the site's IANA zone, DST included. Records are written in the order a PBX
writes them, at the end of each call (or segment). Everything is deterministic for `PbxCalls.seed`: ids, MAC
addresses and UUIDs come from it, never from the clock or the OS.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

import numpy as np
import phonenumbers

OUTGOING, INCOMING, INTERNAL = 0, 1, 2
DIRECTIONS = ("outgoing", "incoming", "internal")
ANSWERED, NO_ANSWER, BUSY = 0, 1, 2


class DialPlanSite(Protocol):
    name: str
    country: str
    timezone: str
    outside_prefix: str
    national_prefix: str
    international_prefix: str
    area_code: str


@dataclass
class PbxCalls:
    """The calls of one site as columns, in any order (the writers sort them as their PBX would).

    `other` is the outside party's E.164 digits (the called number of outgoing calls, the caller of incoming ones)
    or, for internal calls, the called extension. An incoming call with `transfer` > 0 was answered by `extension`
    for `talk` seconds, then transferred to extension `transfer`, who talked `transfer_talk` seconds more."""

    direction: np.ndarray  # int8: OUTGOING, INCOMING, INTERNAL
    extension: np.ndarray  # int32: our user (the caller of outgoing and internal calls, the callee of incoming)
    other: np.ndarray  # 'S15'
    start: np.ndarray  # int64 UTC epoch seconds: the call was originated (or arrived)
    ring: np.ndarray  # int32 seconds from start to answer (or to giving up)
    talk: np.ndarray  # int32 seconds from answer to end; 0 when not answered
    outcome: np.ndarray  # int8: ANSWERED, NO_ANSWER, BUSY
    account: np.ndarray  # 'U8' account / client matter code, "" for none
    transfer: np.ndarray  # int32: extension an incoming call was transferred to, 0 for none
    transfer_talk: np.ndarray  # int32 seconds talked after the transfer
    seed: int = 0

    def __len__(self) -> int:
        return len(self.start)


# --- numbers ------------------------------------------------------------------------------------------------


def _country_code(site: DialPlanSite) -> str:
    return str(phonenumbers.country_code_for_region(site.country))


def sent_number(e164: str, site: DialPlanSite) -> str:
    """The number as the PBX sends it to the network: national form (or local, without the site's own area code)
    for domestic numbers, the international prefix and E.164 for foreign ones. NANP numbers are all domestic."""
    cc = _country_code(site)
    if not e164.startswith(cc):
        return site.international_prefix + e164
    nsn = e164[len(cc):]
    if site.area_code and nsn.startswith(site.area_code) and len(nsn) > len(site.area_code) + 4:
        return nsn[len(site.area_code):]
    return site.national_prefix + nsn


def dialled_number(e164: str, site: DialPlanSite) -> str:
    """The digits a user at the site dials: the outside-line prefix, then the number as sent."""
    return site.outside_prefix + sent_number(e164, site)


def caller_id(e164: str, site: DialPlanSite) -> str:
    """The caller ID of an incoming call as the network presents it: national form (ten digits in NANP) for
    domestic callers, international prefix and E.164 for foreign ones."""
    cc = _country_code(site)
    if not e164.startswith(cc):
        return site.international_prefix + e164
    nsn = e164[len(cc):]
    return nsn if cc == "1" else site.national_prefix + nsn


def _numbers(calls: PbxCalls, site: DialPlanSite) -> tuple[list[str], list[str], list[str]]:
    """(dialled, sent, caller id) for every call, computed once per distinct number; internal calls get the
    extension in all three."""
    uniq, inv = np.unique(calls.other, return_inverse=True)
    text = [u.decode("ascii") for u in uniq.tolist()]
    dialled = np.array([dialled_number(t, site) for t in text], dtype=object)
    sent = np.array([sent_number(t, site) for t in text], dtype=object)
    cli = np.array([caller_id(t, site) for t in text], dtype=object)
    inv = inv.ravel()
    internal = calls.direction == INTERNAL
    raw = np.array(text, dtype=object)[inv]
    out = []
    for arr in (dialled, sent, cli):
        col = arr[inv]
        col[internal] = raw[internal]
        out.append(col.tolist())
    return out[0], out[1], out[2]


# --- times --------------------------------------------------------------------------------------------------


def _local(utc: np.ndarray, zone: str) -> np.ndarray:
    """Wall-clock seconds in `zone` (as if it were UTC) of UTC instants; offsets looked up per quarter hour."""
    z = ZoneInfo(zone)
    utc = np.asarray(utc, dtype=np.int64)
    quarters, inv = np.unique(utc // 900, return_inverse=True)
    offsets = np.array([int(dt.datetime.fromtimestamp(int(q) * 900, z).utcoffset().total_seconds())
                        for q in quarters.tolist()], dtype=np.int64)
    return utc + offsets[inv.ravel()]


def _stamps(seconds: np.ndarray) -> np.ndarray:
    """'YYYY-MM-DDTHH:MM:SS' strings of epoch seconds."""
    return np.datetime_as_string(np.asarray(seconds, dtype=np.int64).astype("datetime64[s]"), unit="s")


# --- people and devices -------------------------------------------------------------------------------------

FIRST_NAMES = ("Alice", "Bruno", "Chloe", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jack", "Karim",
               "Laura", "Marc", "Nina", "Oscar", "Paula", "Quentin", "Rosa", "Samir", "Tara", "Ugo", "Vera",
               "Walter", "Yasmin", "Zoe")
LAST_NAMES = ("Martin", "Keller", "Dubois", "Smith", "Garcia", "Nguyen", "Bernard", "Okafor", "Rossi", "Moreau",
              "Cohen", "Walsh", "Laurent", "Silva", "Schmidt", "Fournier", "Patel", "Evans", "Lambert", "Novak")


def user_name(extension: int) -> str:
    """A made-up name for an extension (the same one in every file)."""
    return f"{FIRST_NAMES[extension * 7 % len(FIRST_NAMES)]} {LAST_NAMES[extension * 11 % len(LAST_NAMES)]}"


def _mac(seed: int, extension: int) -> str:
    """The MAC address of an extension's desk phone, deterministic for the seed."""
    return f"{(0x00_1B_D4_00_00_00 + (seed * 104_729 + extension * 7_919) % 0x100_0000):012X}"


def _ip(site_byte: int, extension: int) -> str:
    """The desk phone's address in the site's 10.<site>.0.0/16 (one per extension below 40000)."""
    return f"10.{site_byte}.{20 + extension // 200 % 200}.{10 + extension % 200}"


def _cucm_ip_int(ip: str) -> int:
    """CUCM's origIpAddr/destIpAddr: the IPv4 bytes read little-endian as a signed 32-bit int."""
    value = int.from_bytes(bytes(int(x) for x in ip.split(".")), "little")
    return value - (1 << 32) if value >= 1 << 31 else value


def _order(end: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Record order: by end time (PBXs write a record when the call or segment ends), then start."""
    return np.lexsort((np.asarray(start), np.asarray(end)))


def _write(path: Path, lines: list[str], newline: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(newline.join(lines))
        if lines:
            f.write(newline)


def _q(text: str) -> str:
    """A quoted CSV string, quotes doubled."""
    return '"' + text.replace('"', '""') + '"'


# --- Asterisk cdr_csv ---------------------------------------------------------------------------------------

ASTERISK_TRUNK_OUT = "trunk-out"
ASTERISK_TRUNK_IN = "trunk-in"


def write_asterisk_csv(path: Path, calls: PbxCalls, site: DialPlanSite) -> int:
    """Asterisk cdr_csv `Master.csv` with loguniqueid, loguserfield and newcdrcolumns (21 columns): strings quoted,
    integers bare, local times, an empty unquoted answer when unanswered. Outgoing calls dial `PJSIP/<number as
    sent>@trunk-out` from context from-internal with `dst` the digits as dialled; incoming calls arrive in from-trunk
    on `trunk-in`; internal calls dial `PJSIP/<extension>`. A transferred incoming call is written as its first
    leg, talk time included (Asterisk's transfer CDRs are out of scope here). Returns the number of records."""
    n = len(calls)
    dialled, sent, cli = _numbers(calls, site)
    talk = calls.talk + np.where(calls.transfer > 0, calls.transfer_talk, 0)
    answered = calls.outcome == ANSWERED
    answer = calls.start + calls.ring
    end = answer + talk
    local = _local(np.concatenate([calls.start, answer, end]), site.timezone)
    text = np.char.replace(_stamps(local), "T", " ").astype(object)
    start_s, answer_s, end_s = text[:n].tolist(), text[n:2 * n].tolist(), text[2 * n:].tolist()
    base = (calls.seed * 7_919) % 4096  # channel and uniqueid counters: they start anywhere after a reboot
    disposition = np.array(["ANSWERED", "NO ANSWER", "BUSY"], dtype=object)[calls.outcome].tolist()
    direction, ext = calls.direction.tolist(), calls.extension.tolist()
    account, dur = calls.account.tolist(), (calls.ring + talk).tolist()
    talk_l, answered_l, start_l = talk.tolist(), answered.tolist(), calls.start.tolist()
    seq_of = np.empty(n, dtype=np.int64)  # ids are handed out as calls start; records are written as they end
    seq_of[np.argsort(calls.start, kind="stable")] = base + np.arange(n)
    seq_l = seq_of.tolist()
    rows = []
    for i in _order(end, calls.start).tolist():
        seq = seq_l[i]
        a = _q(answer_s[i]) if answered_l[i] else ""
        e = ext[i]
        chan_a, chan_b = f"{2 * seq:08x}", f"{2 * seq + 1:08x}"
        if direction[i] == OUTGOING:
            fields = (_q(account[i]), _q(str(e)), _q(dialled[i]), '"from-internal"',
                      _q(f'"{user_name(e)}" <{e}>'), _q(f"PJSIP/{e}-{chan_a}"),
                      _q(f"PJSIP/{ASTERISK_TRUNK_OUT}-{chan_b}"), '"Dial"',
                      _q(f"PJSIP/{sent[i]}@{ASTERISK_TRUNK_OUT},60"))
        elif direction[i] == INCOMING:
            fields = ('""', _q(cli[i]), _q(str(e)), '"from-trunk"', _q(f'"{cli[i]}" <{cli[i]}>'),
                      _q(f"PJSIP/{ASTERISK_TRUNK_IN}-{chan_a}"), _q(f"PJSIP/{e}-{chan_b}"), '"Dial"',
                      _q(f"PJSIP/{e},20"))
        else:
            to = dialled[i]
            fields = ('""', _q(str(e)), _q(to), '"from-internal"', _q(f'"{user_name(e)}" <{e}>'),
                      _q(f"PJSIP/{e}-{chan_a}"), _q(f"PJSIP/{to}-{chan_b}"), '"Dial"', _q(f"PJSIP/{to},20"))
        uid = f"{start_l[i]}.{seq}"
        rows.append(",".join((*fields, _q(start_s[i]), a, _q(end_s[i]), str(dur[i]), str(talk_l[i]),
                              _q(disposition[i]), '"DOCUMENTATION"', _q(uid), '""', '""', _q(uid), str(seq))))
    _write(Path(path), rows, "\n")
    return len(rows)


# --- Cisco Unified CM CDR flat file -------------------------------------------------------------------------

# Column names and types of a CM 14/15 CDR file (133 columns). 0-93 are the same in every version; 94-128 are the
# CM 11/12 tail (129 columns, with the IOI/ICID group and huntPilotPartition before huntPilotDN); 129-132 came with
# CM 14. Types: I = INTEGER, V = VARCHAR(50), U = UNIQUEIDENTIFIER.
_CUCM_SPEC = """
    cdrRecordType I
    globalCallID_callManagerId I
    globalCallID_callId I
    origLegCallIdentifier I
    dateTimeOrigination I
    origNodeId I
    origSpan I
    origIpAddr I
    callingPartyNumber V
    callingPartyUnicodeLoginUserID V
    origCause_location I
    origCause_value I
    origPrecedenceLevel I
    origMediaTransportAddress_IP I
    origMediaTransportAddress_Port I
    origMediaCap_payloadCapability I
    origMediaCap_maxFramesPerPacket I
    origMediaCap_g723BitRate I
    origVideoCap_Codec I
    origVideoCap_Bandwidth I
    origVideoCap_Resolution I
    origVideoTransportAddress_IP I
    origVideoTransportAddress_Port I
    origRSVPAudioStat V
    origRSVPVideoStat V
    destLegIdentifier I
    destNodeId I
    destSpan I
    destIpAddr I
    originalCalledPartyNumber V
    finalCalledPartyNumber V
    finalCalledPartyUnicodeLoginUserID V
    destCause_location I
    destCause_value I
    destPrecedenceLevel I
    destMediaTransportAddress_IP I
    destMediaTransportAddress_Port I
    destMediaCap_payloadCapability I
    destMediaCap_maxFramesPerPacket I
    destMediaCap_g723BitRate I
    destVideoCap_Codec I
    destVideoCap_Bandwidth I
    destVideoCap_Resolution I
    destVideoTransportAddress_IP I
    destVideoTransportAddress_Port I
    destRSVPAudioStat V
    destRSVPVideoStat V
    dateTimeConnect I
    dateTimeDisconnect I
    lastRedirectDn V
    pkid U
    originalCalledPartyNumberPartition V
    callingPartyNumberPartition V
    finalCalledPartyNumberPartition V
    lastRedirectDnPartition V
    duration I
    origDeviceName V
    destDeviceName V
    origCallTerminationOnBehalfOf I
    destCallTerminationOnBehalfOf I
    origCalledPartyRedirectOnBehalfOf I
    lastRedirectRedirectOnBehalfOf I
    origCalledPartyRedirectReason I
    lastRedirectRedirectReason I
    destConversationId I
    globalCallId_ClusterID V
    joinOnBehalfOf I
    comment V
    authCodeDescription V
    authorizationLevel I
    clientMatterCode V
    origDTMFMethod I
    destDTMFMethod I
    callSecuredStatus I
    origConversationId I
    origMediaCap_Bandwidth I
    destMediaCap_Bandwidth I
    authorizationCodeValue V
    outpulsedCallingPartyNumber V
    outpulsedCalledPartyNumber V
    origIpv4v6Addr V
    destIpv4v6Addr V
    origVideoCap_Codec_Channel2 I
    origVideoCap_Bandwidth_Channel2 I
    origVideoCap_Resolution_Channel2 I
    origVideoTransportAddress_IP_Channel2 I
    origVideoTransportAddress_Port_Channel2 I
    origVideoChannel_Role_Channel2 I
    destVideoCap_Codec_Channel2 I
    destVideoCap_Bandwidth_Channel2 I
    destVideoCap_Resolution_Channel2 I
    destVideoTransportAddress_IP_Channel2 I
    destVideoTransportAddress_Port_Channel2 I
    destVideoChannel_Role_Channel2 I
    IncomingProtocolID I
    IncomingProtocolCallRef V
    OutgoingProtocolID I
    OutgoingProtocolCallRef V
    currentRoutingReason I
    origRoutingReason I
    lastRedirectingRoutingReason I
    huntPilotPartition V
    huntPilotDN V
    calledPartyPatternUsage I
    IncomingICID V
    IncomingOrigIOI V
    IncomingTermIOI V
    OutgoingICID V
    OutgoingOrigIOI V
    OutgoingTermIOI V
    outpulsedOriginalCalledPartyNumber V
    outpulsedLastRedirectingNumber V
    wasCallQueued I
    totalWaitTimeInQueue I
    callingPartyNumber_uri V
    originalCalledPartyNumber_uri V
    finalCalledPartyNumber_uri V
    lastRedirectDn_uri V
    mobileCallingPartyNumber V
    finalMobileCalledPartyNumber V
    origMobileDeviceName V
    destMobileDeviceName V
    origMobileCallDuration I
    destMobileCallDuration I
    mobileCallType I
    originalCalledPartyPattern V
    finalCalledPartyPattern V
    lastRedirectingPartyPattern V
    huntPilotPattern V
    origDeviceType V
    destDeviceType V
    origDeviceSessionID V
    destDeviceSessionID V
    """
CUCM_COLUMNS: tuple[tuple[str, str], ...] = tuple((line.split()[0], line.split()[1])
                                                  for line in _CUCM_SPEC.splitlines() if line.strip())
assert len(CUCM_COLUMNS) == 133
CUCM_TYPES = {"I": "INTEGER", "V": "VARCHAR(50)", "U": "UNIQUEIDENTIFIER"}
CUCM_TRUNK = "SIPTRK_PSTN_A"
CUCM_CLUSTER = "ANATOLE-CL1"
CUCM_SBC_IP = "10.{site}.1.10"
# values of the columns every record shares (the rest are 0 or "")
_CUCM_FIXED = {"cdrRecordType": 1, "origNodeId": 1, "origPrecedenceLevel": 4, "destNodeId": 1,
               "destPrecedenceLevel": 4, "origRSVPAudioStat": "0", "origRSVPVideoStat": "0",
               "destRSVPAudioStat": "0", "destRSVPVideoStat": "0", "globalCallId_ClusterID": CUCM_CLUSTER,
               "origCallTerminationOnBehalfOf": 12}
# the columns that vary per record, in the order of the values given to the row template
_CUCM_VARYING = ("globalCallID_callManagerId", "globalCallID_callId", "origLegCallIdentifier", "dateTimeOrigination",
                 "origIpAddr", "callingPartyNumber", "destLegIdentifier", "destIpAddr", "originalCalledPartyNumber",
                 "finalCalledPartyNumber", "destCause_value", "dateTimeConnect", "dateTimeDisconnect", "pkid",
                 "originalCalledPartyNumberPartition", "callingPartyNumberPartition",
                 "finalCalledPartyNumberPartition", "duration", "origDeviceName", "destDeviceName",
                 "clientMatterCode", "outpulsedCallingPartyNumber", "outpulsedCalledPartyNumber", "origIpv4v6Addr",
                 "destIpv4v6Addr", "calledPartyPatternUsage", "originalCalledPartyPattern", "finalCalledPartyPattern")


def _cucm_template() -> str:
    """One data row as a str.format template: fixed values in place, `{}` where a record's values go (strings are
    quoted by the caller)."""
    cells = []
    for name, kind in CUCM_COLUMNS:
        if name in _CUCM_VARYING:
            cells.append("{}")
        elif name in _CUCM_FIXED:
            value = _CUCM_FIXED[name]
            cells.append(str(value) if kind == "I" else _q(str(value)))
        else:
            cells.append("0" if kind == "I" else '""')
    order = [name for name, _ in CUCM_COLUMNS if name in _CUCM_VARYING]
    assert tuple(order) == _CUCM_VARYING, "the varying columns must be listed in file order"
    return ",".join(cells)


def write_cucm(path: Path, calls: PbxCalls, site: DialPlanSite, *, site_byte: int = 2) -> int:
    """A Cisco Unified CM 14 CDR flat file: quoted header names, unquoted types, then one end record
    (cdrRecordType 1) per call leg; 133 columns. Times are UTC epochs; dateTimeConnect is 0 when unanswered;
    duration is the talk time; destCause_value 16 answered, 19 no answer, 17 busy. Outgoing calls go from the
    user's phone (SEP<MAC>) to the SIP trunk SIPTRK_PSTN_A, with the digits as dialled (outside-line prefix
    included) in original/finalCalledPartyNumber and the number as sent in outpulsedCalledPartyNumber. A
    transferred incoming call is two records of one globalCallID: the first answerer's, then the transferee's.
    Returns the number of records."""
    template = _cucm_template()
    rng = np.random.default_rng([calls.seed, 0xC0])
    pkid_bytes = rng.bytes(16 * (len(calls) + int((calls.transfer > 0).sum())))
    dialled, sent, cli = _numbers(calls, site)
    sbc = CUCM_SBC_IP.format(site=site_byte)
    cause = np.array([16, 19, 17])[calls.outcome].tolist()
    ext, direction = calls.extension.tolist(), calls.direction.tolist()
    start, ring, talk = calls.start.tolist(), calls.ring.tolist(), calls.talk.tolist()
    outcome, account = calls.outcome.tolist(), calls.account.tolist()
    transfer, transfer_talk = calls.transfer.tolist(), calls.transfer_talk.tolist()
    call_base = 700_000 + (calls.seed * 7_919) % 100_000
    leg_base = 31_000_000 + (calls.seed * 104_729) % 1_000_000
    records: list[tuple[int, int, tuple]] = []  # (disconnect, origination, values)
    n_pkid = 0
    for k, i in enumerate(np.argsort(calls.start, kind="stable").tolist()):
        e = ext[i]
        call_id = call_base + k
        leg = leg_base + 4 * k
        manager = 1 + k % 2  # two subscribers share the calls
        connect = start[i] + ring[i] if outcome[i] == ANSWERED else 0
        disconnect = start[i] + ring[i] + talk[i]
        phone_ip = _ip(site_byte, e)
        acct = account[i]
        if direction[i] == OUTGOING:
            legs = [(str(e), phone_ip, f"SEP{_mac(calls.seed, e)}", dialled[i], sent[i], CUCM_TRUNK, sbc,
                     "PT_PSTN", "PT_INTERNAL", 2, "9.@", start[i], connect, disconnect, talk[i], cause[i])]
        elif direction[i] == INTERNAL:
            to = int(dialled[i])
            legs = [(str(e), phone_ip, f"SEP{_mac(calls.seed, e)}", str(to), "", f"SEP{_mac(calls.seed, to)}",
                     _ip(site_byte, to), "PT_INTERNAL", "PT_INTERNAL", 2, "", start[i], connect, disconnect,
                     talk[i], cause[i])]
        else:
            first = (cli[i], sbc, CUCM_TRUNK, str(e), "", f"SEP{_mac(calls.seed, e)}", phone_ip,
                     "PT_INTERNAL", "PT_PSTN", 2, "", start[i], connect, disconnect, talk[i], cause[i])
            legs = [first]
            if transfer[i]:
                to = transfer[i]
                begin = disconnect
                legs.append((cli[i], sbc, CUCM_TRUNK, str(to), "", f"SEP{_mac(calls.seed, to)}",
                             _ip(site_byte, to), "PT_INTERNAL", "PT_PSTN", 2, "", begin, begin,
                             begin + transfer_talk[i], transfer_talk[i], 16))
        for j, (calling, orig_ip, orig_dev, called, outpulsed, dest_dev, dest_ip, called_pt, calling_pt,
                usage, pattern, origination, conn, disc, seconds, dcause) in enumerate(legs):
            pkid = str(uuid.UUID(bytes=pkid_bytes[16 * n_pkid:16 * n_pkid + 16], version=4))
            n_pkid += 1
            values = (manager, call_id, leg + 2 * j, origination, _cucm_ip_int(orig_ip), _q(calling),
                      leg + 2 * j + 1, _cucm_ip_int(dest_ip), _q(called), _q(called), dcause, conn, disc, _q(pkid),
                      _q(called_pt), _q(calling_pt), _q(called_pt), seconds, _q(orig_dev), _q(dest_dev),
                      _q(acct if direction[i] == OUTGOING else ""), _q(""),
                      _q(outpulsed), _q(orig_ip), _q(dest_ip), usage, _q(pattern), _q(pattern))
            records.append((disc, origination, values))
    records.sort(key=lambda r: (r[0], r[1]))
    lines = [",".join(_q(name) for name, _ in CUCM_COLUMNS), ",".join(CUCM_TYPES[k] for _, k in CUCM_COLUMNS)]
    lines += [template.format(*values) for _, _, values in records]
    _write(Path(path), lines, "\n")
    return len(records)


# --- Avaya IP Office SMDR -----------------------------------------------------------------------------------

IPO_TRUNK = "T9001"
IPO_SERVER_IP = "10.{site}.20.5"


def write_ipo_smdr(path: Path, calls: PbxCalls, site: DialPlanSite, *, site_byte: int = 1) -> int:
    """An Avaya IP Office SMDR capture: one 34-field line per call segment, CR LF, no header, written when the
    segment ends. Call Start is local `YYYY/MM/DD HH:MM:SS` (the whole call's start, on every segment); Connected
    Time HH:MM:SS; Ring Time in seconds; Called Number is the number as sent, Dialled Number the digits as dialled
    with the outside-line prefix; Call IDs count up from 1000000 in start order. Outgoing and internal calls are
    `O` (internal ones with Is Internal 1 and an E device as party 2), incoming calls `I` with the caller ID. A
    transferred incoming call is two segments with the same Call ID and start: continuation 1, then 0. Returns
    the number of lines."""
    dialled, sent, cli = _numbers(calls, site)
    local = _local(calls.start, site.timezone)
    start_text = np.char.replace(np.char.replace(_stamps(local), "-", "/"), "T", " ").tolist()
    ext, direction = calls.extension.tolist(), calls.direction.tolist()
    start, ring, talk = calls.start.tolist(), calls.ring.tolist(), calls.talk.tolist()
    account, transfer, transfer_talk = calls.account.tolist(), calls.transfer.tolist(), calls.transfer_talk.tolist()
    server = IPO_SERVER_IP.format(site=site_byte)
    lines: list[tuple[int, int, str]] = []
    ref = 3300 + (calls.seed * 7_919) % 5000  # the servers' own call references
    for k, i in enumerate(np.argsort(calls.start, kind="stable").tolist()):
        e = ext[i]
        call_id = 1_000_000 + k
        line_channel = f"Line 5.{1 + k % 30}"
        end = start[i] + ring[i] + talk[i]
        ref += 2
        if direction[i] == OUTGOING:
            segs = [(ring[i], talk[i], str(e), "O", sent[i], dialled[i], account[i], 0, f"E{e}", user_name(e),
                     IPO_TRUNK, line_channel, server, ref, server, ref + 1, end)]
        elif direction[i] == INTERNAL:
            to = int(dialled[i])
            segs = [(ring[i], talk[i], str(e), "O", str(to), str(to), "", 1, f"E{e}", user_name(e), f"E{to}",
                     user_name(to), server, ref, server, ref + 1, end)]
        else:
            segs = [(ring[i], talk[i], cli[i], "I", str(e), "", "", 0, f"E{e}", user_name(e), IPO_TRUNK,
                     line_channel, server, ref + 1, server if talk[i] else "0.0.0.0", ref if talk[i] else 0, end)]
            if transfer[i]:
                to = transfer[i]
                segs.append((0, transfer_talk[i], cli[i], "I", str(to), "", "", 0, f"E{to}", user_name(to),
                             IPO_TRUNK, line_channel, server, ref + 1, server, ref + 2, end + transfer_talk[i]))
                ref += 1
        for j, (rg, tk, caller, flag, called, digits, acct, internal, p1, n1, p2, n2, ip1, id1, ip2, id2,
                seg_end) in enumerate(segs):
            more = 1 if j < len(segs) - 1 else 0
            hms = f"{tk // 3600:02d}:{tk % 3600 // 60:02d}:{tk % 60:02d}"
            text = (f"{start_text[i]},{hms},{rg},{caller},{flag},{called},{digits},{acct},{internal},{call_id},"
                    f"{more},{p1},{n1},{p2},{n2},0,0,,,,,,,,,,,,,,{ip1},{id1},{ip2},{id2}")
            lines.append((seg_end, k, text))
    lines.sort(key=lambda r: (r[0], r[1]))
    _write(Path(path), [t for _, _, t in lines], "\r\n")
    return len(lines)


__all__ = [
    "BUSY",
    "INCOMING",
    "INTERNAL",
    "NO_ANSWER",
    "OUTGOING",
    "PbxCalls",
    "caller_id",
    "dialled_number",
    "sent_number",
    "user_name",
    "write_asterisk_csv",
    "write_cucm",
    "write_ipo_smdr",
]
