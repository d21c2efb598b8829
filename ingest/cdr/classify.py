"""Direction, extension, trunk and number sent of Asterisk and FreeSWITCH calls, decided from the record's facts.

These PBXs write no direction: the parsers report what the record says (ingest.cdr.model.Facts: the calling and the
reached channel, the last application, the context, the Dial/bridge string) and `decide` turns those facts, the
site's extension ranges and the source's channel patterns into a Decision. It lives here, beside the parsers,
because it is knowledge of those PBXs' channel names and applications, pure and without I/O. The row path
(pipeline.cdrimport.call_rows, which `import cdr`, `batch-rate` and the live daemon use) applies it per record, the
columnar path (pipeline.columnar) once per distinct fact tuple of a block: one function, two paths, the same calls.

Rules, in order; the first that applies decides, and its id is stored with the call (`direction_rule`):

1. `trunk-pattern`: a source's `trunk_channels` pattern (defaults: TRUNK_CHANNELS) matches the calling channel
   (incoming; transit when the reached channel or Dial target is a trunk too), or the reached channel or the Dial
   target (outgoing: `DAHDI/g0/0155501234` reaches `DAHDI/1-1`). `internal-pattern`: `internal_channels` match
   both channels (internal). A channel matching `internal_channels` is never a trunk.
2. `app-internal`: nothing was reached and the call ended in an application that stays inside the PBX (Echo,
   VoiceMail, Playback, Queue, ... INTERNAL_APPS), or the dialled digits are a placeholder (`s`, `h`, `i`, `t`) or a
   feature code (`*43`): internal with status `service`, never priced; incoming when the caller came from outside.
3. `dst-channel-extension`: the reached channel is a site extension (or the endpoint of the dialled extension):
   internal, or incoming when the caller came from outside.
4. `dial-string`: a single-target Dial (`PJSIP/0155501234@carrier`, `SIP/carrier/0155501234`, FreeSWITCH
   `sofia/gateway/<gw>/<number>`) to a number that is not an extension, through the reached channel (or nothing was
   reached): outgoing, the number as sent is that of the Dial string.
5. `context`: an incoming context name (`from-trunk`, `from-pstn`, `from-did`, `from-external`, `incoming`,
   `inbound`, FreeSWITCH `public`): incoming.
6. `dialplan`: the numbers: a dialled extension from inside is internal, a caller with an external number is
   incoming, anything else is outgoing.

"From outside" means: the calling channel matches a trunk pattern, else is a site extension or matches an internal
pattern (inside), else the context says so, else the caller's number does (external number: outside).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Iterable
from typing import NamedTuple

import numpy as np

from i18n import _
from ingest._slices import Interner
from ingest.cdr.model import Facts
from ingest.dialplan import EXTERNAL, INTERNAL, SERVICE, DialPlan, Number

TRUNK_CHANNELS = (
    # a peer named like a trunk: SIP/trunk-out, PJSIP/carrier_15_1, IAX2/sbc-edge, SIP/gw1, PJSIP/sip-out
    r"(?i)^[^/]+/[^@/]*(trunk|gateway|\bgw|pstn|carrier|provider|sbc|sip-?out|outbound|itsp)",
    r"(?i)^sofia/(gateway|external)/",  # FreeSWITCH gateways and its external profile
    r"(?i)^DAHDI/[igr]\d",  # DAHDI ISDN spans and dial groups (DAHDI/i1/..., DAHDI/g0)
)
INTERNAL_CHANNELS: tuple[str, ...] = ()
RULES = ("trunk-pattern", "internal-pattern", "app-internal", "dst-channel-extension", "dial-string", "context",
         "dialplan")
# the rule of calls whose format says their direction itself (IP Office, CUCM, ...), else "dialplan"
FORMAT_RULE = "format"

# applications that answer or end a call inside the PBX (Asterisk and FreeSWITCH names, lower case)
INTERNAL_APPS = frozenset({
    "hangup", "echo", "playback", "background", "read", "voicemail", "voicemailmain", "confbridge", "meetme",
    "musiconhold", "park", "parkedcall", "answer", "wait", "congestion", "busy", "festival", "saydigits",
    "saynumber", "sayalpha", "sayunixtime", "queue", "directory", "vmauthenticate", "record", "milliwatt",
    "playtones", "progress", "ringing", "morsecode", "delay_echo", "conference", "ivr", "sleep", "info",
    "voicemail_leave_message", "respond", "ring_ready",
})
NO_BLEG = "(answered, no b-leg)"  # FreeSWITCH CSV: answered by the switch itself (no bleg_uuid, no last_app)
INCOMING_CONTEXT = re.compile(r"^(from-trunk|from-pstn|from-did|from-external|public|incoming|inbound)\b", re.I)
INTERNAL_CONTEXT = re.compile(r"^(from-internal|internal)\b", re.I)

# choices of where the extension and the trunk come from (a record field; the columnar path takes its slice)
CALLER, DIALLED, ORIGIN, TARGET, DIAL = "caller", "dialled", "origin", "target", "dial"


class Decision(NamedTuple):
    direction: str  # outgoing | incoming | internal | transit
    rule: str  # one of RULES
    status: str = ""  # "service": never priced whatever the number; "" the usual pricing
    extension: str = ""  # "", CALLER, DIALLED, ORIGIN (its peer) or TARGET (its peer)
    trunk: str = ""  # "", ORIGIN, TARGET (their peers) or DIAL (the Dial string's peer)
    called: bool = False  # the number sent is the Dial string's number


# channel classes (bits): what decide() needs to know of a channel, so that the distinct keys of a file are few
PRESENT, PEER, TRUNK, INTERNAL_PATTERN, EXTENSION, LOCAL = 1, 2, 4, 8, 16, 32


class Key(NamedTuple):
    """What decide() needs: classes of the facts (channel_class, context_class, app_class, dial_class) and of the
    numbers (caller_kind, dialled_kind, dial_kind), and how some of them relate."""

    origin: int  # channel_class of the calling channel
    target: int  # channel_class of the reached channel
    app: str  # app_class(): "internal" | "no-bleg" | ""
    context: str  # context_class(): "incoming" | "internal" | ""
    dial: int  # dial_class(): 0 no Dial target, PEER a Dial target, PEER | TRUNK one through a trunk pattern
    target_is_dial_peer: bool  # the reached channel's peer is the Dial target's peer
    caller: str  # caller_kind(): "extension" | "external" | "empty" | "other"
    dialled: str  # dialled_kind(): "extension" | "code" | "other"
    target_is_dialled: bool  # the reached channel's peer is the dialled digits (the extension's own endpoint)
    dial_number: str  # dial_kind(): "" none | "extension" | "other"


class Channels:
    """What the columnar path works out per channel (its class, its peer's span and text), kept from block to block
    under ids that last (ingest._slices.Interner): each channel is decoded and classified once per run, not once per
    block. The blocks of a batch are decided on several threads, hence the lock."""

    LIMIT = 100_000  # channels kept (then forgotten: memory stays bounded whatever the input)

    def __init__(self, classify: Callable[[str], int]) -> None:
        self.classify = classify
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.ids = Interner()
        self.cls = np.zeros(0, np.int64)
        self.start = np.zeros(0, np.int64)
        self.length = np.zeros(0, np.int32)
        self.peers: list[str] = []

    def of(self, buf: bytes | bytearray, off: np.ndarray, ln: np.ndarray, rows: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        """(class, peer start, peer length, peer text) of the channels buf[off[r]:off[r] + ln[r]] for r in rows."""
        with self.lock:
            if len(self.ids) > self.LIMIT:
                self.reset()
            ids = self.ids.ids(buf, off, ln, rows)
            new = self.ids.values(len(self.peers))
            if new:
                spans = [peer_span(v) for v in new]
                self.cls = np.concatenate([self.cls, np.array([self.classify(v) for v in new], np.int64)])
                self.start = np.concatenate([self.start, np.array([a for a, b in spans], np.int64)])
                self.length = np.concatenate([self.length, np.array([b - a for a, b in spans], np.int32)])
                self.peers += [v[a:b] for v, (a, b) in zip(new, spans)]
            peers = self.peers
            return self.cls[ids], self.start[ids], self.length[ids], [peers[i] for i in ids.tolist()]


class ChannelRules:
    """A source's channel patterns (regular expressions searched in `TECH/peer` channel names without their per-call
    suffix, and in `TECH/peer` of Dial strings)."""

    def __init__(self, trunk: Iterable[str] = TRUNK_CHANNELS, internal: Iterable[str] = INTERNAL_CHANNELS) -> None:
        self.trunk_patterns = tuple(trunk)
        self.internal_patterns = tuple(internal)
        self._trunk = [re.compile(p) for p in self.trunk_patterns]
        self._internal = [re.compile(p) for p in self.internal_patterns]
        self.is_trunk = functools.lru_cache(4096)(self._is_trunk)
        self.is_internal = functools.lru_cache(4096)(self._is_internal)
        self._channels: dict[int, tuple[DialPlan, Channels]] = {}

    def __reduce__(self) -> tuple:  # picklable (a Source may travel to a Dask worker): rebuilt from its patterns
        return ChannelRules, (self.trunk_patterns, self.internal_patterns)

    def channels(self, plan: DialPlan) -> Channels:
        """What the columnar path works out per channel with this plan, kept from block to block."""
        got = self._channels.get(id(plan))
        if got is None or got[0] is not plan:
            got = self._channels[id(plan)] = (plan, Channels(lambda c: channel_class(c, self, plan.is_extension)))
        return got[1]

    def _is_internal(self, channel: str) -> bool:
        return bool(channel) and any(p.search(channel) for p in self._internal)

    def _is_trunk(self, channel: str) -> bool:
        return bool(channel) and not self.is_internal(channel) and any(p.search(channel) for p in self._trunk)


DEFAULT_RULES = ChannelRules()


def compile_patterns(values: object, key: str) -> tuple[list[str], list[str]]:
    """(patterns, problems) of a `trunk_channels`/`internal_channels` setting: a list of regular expressions."""
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return [], [f"{key}: {values!r} is not a list of regular expressions (e.g. [\"^(PJSIP|SIP)/carrier\"])"]
    good, problems = [], []
    for v in values:
        try:
            re.compile(v)
            good.append(v)
        except re.error as exc:
            problems.append(f"{key}: " + _("{value} is not a regular expression ({error})").format(
                value=repr(v), error=exc))
    return good, problems


# ------------------------------------------------------------------------------------------ channel names

_LOCAL_SUFFIX = re.compile(r";\d+$")
_HEX = re.compile(r"[0-9a-fA-F]+")


def channel_base(channel: str) -> str:
    """An Asterisk channel without its per-call suffix: `SIP/100-0000001a` -> `SIP/100`, `DAHDI/1-1` -> `DAHDI/1`,
    `Local/100@ctx-0000001a;1` -> `Local/100@ctx` (the scanner's rule, _scan.pyx channel_base)."""
    if "/" not in channel:
        return channel
    tech, name = channel.split("/", 1)
    name = _LOCAL_SUFFIX.sub("", name)
    base, _dash, suffix = name.rpartition("-")
    if base and suffix and _HEX.fullmatch(suffix):
        name = base
    return f"{tech}/{name}"


def peer_span(channel: str) -> tuple[int, int]:
    """(start, end) of the peer in a base channel: after its last '/', up to an '@' (`SIP/100` -> `100`,
    `Local/100@ctx` -> `100`, `sofia/internal/1001` -> `1001`, `sofia/gateway/carrier` -> `carrier`)."""
    slash = channel.rfind("/")
    if slash < 0:
        return 0, 0
    at = channel.find("@", slash + 1)
    return slash + 1, at if at >= 0 else len(channel)


def peer(channel: str) -> str:
    a, b = peer_span(channel)
    return channel[a:b]


# ------------------------------------------------------------------------------------------ numbers

def caller_kind(plan: DialPlan, caller: str) -> str:
    return number_kind("caller", plan.normalise(caller, as_dialled=False)) if caller else "empty"


def dialled_kind(plan: DialPlan, dialled: str) -> str:
    return number_kind("dialled", plan.normalise(dialled))


def number_kind(what: str, n: Number) -> str:
    """caller_kind/dialled_kind of a normalised number (the columnar path reuses the block's normalised numbers:
    whether a number is an extension or a code does not depend on the outside-line prefix)."""
    if n.kind == INTERNAL:
        return "extension"
    if what == "caller":
        return "external" if n.kind == EXTERNAL else "other"
    return "code" if n.kind == SERVICE and n.rule == "code" else "other"


def dial_kind(plan: DialPlan, number: str) -> str:
    if not number:
        return ""
    return "extension" if plan.is_extension(number) else "other"


# ------------------------------------------------------------------------------------------ the decision

def channel_class(channel: str, rules: ChannelRules, is_extension: Callable[[str], bool]) -> int:
    """The bits of a (base) channel: PRESENT, PEER (it has one), TRUNK / INTERNAL_PATTERN (the source's patterns),
    EXTENSION (its peer is a site extension), LOCAL (an Asterisk Local channel)."""
    if not channel:
        return 0
    p = peer(channel)
    bits = PRESENT | (PEER if p else 0) | (LOCAL if channel[:6].lower() == "local/" else 0)
    if rules.is_trunk(channel):
        bits |= TRUNK
    if rules.is_internal(channel):
        bits |= INTERNAL_PATTERN
    if p and is_extension(p):
        bits |= EXTENSION
    return bits


def context_class(context: str, leg: str) -> str:
    """"incoming" (from-trunk, from-pstn, public, ...), "internal" (from-internal, internal; FreeSWITCH default)
    or "" (a name that says nothing)."""
    if INCOMING_CONTEXT.match(context):
        return "incoming"
    if INTERNAL_CONTEXT.match(context) or (leg and context.lower() == "default"):
        return "internal"
    return ""


def app_class(app: str) -> str:
    if app == NO_BLEG:
        return "no-bleg"
    return "internal" if app.lower() in INTERNAL_APPS else ""


def dial_class(dial_tech: str, dial_peer: str, rules: ChannelRules) -> int:
    if not dial_peer:
        return 0
    return PEER | (TRUNK if rules.is_trunk(f"{dial_tech}/{dial_peer}") else 0)


def key(f: Facts, caller: str, dialled: str, rules: ChannelRules, plan: DialPlan) -> Key:
    """The Key of a record (the row path; the columnar path builds the same per distinct value)."""
    is_ext = plan.is_extension
    tp = peer(f.target)
    return Key(channel_class(f.origin, rules, is_ext), channel_class(f.target, rules, is_ext), app_class(f.app),
               context_class(f.context, f.leg), dial_class(f.dial_tech, f.dial_peer, rules),
               bool(tp) and tp == f.dial_peer, caller_kind(plan, caller), dialled_kind(plan, dialled),
               bool(tp) and tp == dialled, dial_kind(plan, f.dial_number))


@functools.lru_cache(maxsize=4096)
def decide(k: Key) -> Decision:
    """The direction of a call with these facts, the rule that decided it, and where its extension, trunk and number
    sent come from (see the module docstring for the rules)."""
    o, t = k.origin, k.target
    target = bool(t & PRESENT)
    o_trunk, o_local, o_ext = bool(o & TRUNK), bool(o & LOCAL), bool(o & EXTENSION)
    d_trunk = bool(k.dial & TRUNK)
    t_trunk = bool(t & TRUNK) or d_trunk
    t_local = bool(t & LOCAL)
    t_ext = bool(t & PEER) and (bool(t & EXTENSION) or k.target_is_dialled)
    dial_peer = bool(k.dial & PEER)

    # where the caller is: (side, the rule that says so)
    if o_trunk:
        side, side_rule = "outside", "trunk-pattern"
    elif o & INTERNAL_PATTERN:
        side, side_rule = "inside", "internal-pattern"
    elif o_ext:
        side, side_rule = "inside", "dst-channel-extension"
    elif k.context == "incoming":
        side, side_rule = "outside", "context"
    elif k.context == "internal":
        side, side_rule = "inside", "context"
    elif k.caller == "external":
        side, side_rule = "outside", "dialplan"
    else:
        side, side_rule = "inside", "dialplan"

    if o_ext:
        ext_out = ORIGIN
    elif k.caller == "extension":
        ext_out = CALLER
    elif o & PEER and not o_trunk and not o_local:
        ext_out = ORIGIN  # a user-named endpoint (SIP/alice)
    else:
        ext_out = CALLER if k.caller != "empty" else ""
    if t & EXTENSION:
        ext_in = TARGET
    elif k.dialled == "extension":
        ext_in = DIALLED
    elif t & PEER and not t_trunk and not t_local:
        ext_in = TARGET
    else:
        ext_in = DIALLED if k.dialled != "code" else ""
    reached = target and not t_local and (t & TRUNK or not d_trunk)  # the trunk is the reached channel's peer
    out_trunk = TARGET if reached else (DIAL if dial_peer else "")
    in_trunk = ORIGIN if o & PRESENT and not o_local else ""
    sent = dial_peer and k.dial_number == "other" and (not target or k.target_is_dial_peer)

    # 1. explicit channel patterns
    if o_trunk:
        if t_trunk:
            return Decision("transit", "trunk-pattern", trunk=ORIGIN)
        return Decision("incoming", "trunk-pattern", extension=ext_in, trunk=ORIGIN)
    if t_trunk:
        return Decision("outgoing", "trunk-pattern", extension=ext_out, trunk=out_trunk,
                        called=dial_peer and k.dial_number == "other"
                        and (not target or k.target_is_dial_peer or d_trunk))
    if target and o & INTERNAL_PATTERN and t & INTERNAL_PATTERN:
        return Decision("internal", "internal-pattern", extension=ext_out)
    # 2. nothing reached, an application answered or ended it
    if not target and (k.app == "internal" or k.dialled == "code" or (k.app == "no-bleg" and k.dialled != "extension")):
        if side == "outside":
            return Decision("incoming", side_rule, extension=ext_in, trunk=in_trunk)
        return Decision("internal", "app-internal", status="service", extension=ext_out)
    # 3. an extension's own channel was reached
    if target and t_ext:
        if side == "outside":
            return Decision("incoming", "dst-channel-extension", extension=ext_in, trunk=in_trunk)
        return Decision("internal", "dst-channel-extension", extension=ext_out)
    # 4. a number dialled through a peer
    if sent:
        return Decision("outgoing", "dial-string", extension=ext_out, trunk=out_trunk, called=True)
    # 5. context names
    if side == "outside" and side_rule == "context":
        return Decision("incoming", "context", extension=ext_in, trunk=in_trunk)
    # 6. the numbers
    if k.dialled == "extension" and side != "outside":
        return Decision("internal", "dialplan", extension=ext_out)
    if side == "outside":
        return Decision("incoming", side_rule, extension=ext_in, trunk=in_trunk)
    return Decision("outgoing", "dialplan", extension=ext_out, trunk=out_trunk if target else "")
