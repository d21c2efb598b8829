"""The subscriber protocol between the daemon (`anatole serve`) and its clients (the console, scripts).

Frames: a 4-byte big-endian length, then one msgpack-encoded message (a msgspec Struct tagged by `type`). No I/O
here and no trio, so `tui/` can import it: the daemon writes frames with trio, the console reads them in a worker.

A client connects to the workspace's socket, receives `Hello`, then sends `Subscribe` with the topics it wants
(`TOPICS`). Money is an integer in units of 10**-8 with its currency (engine.money), times are UTC epoch seconds.
Amounts of different currencies are never added: totals are maps per currency.

Version 2: `Counters.costs_today` / `costs_this_hour` (site -> currency -> amount) replace the per-site sums of
version 1, which are still sent but hold only the amounts in `currency` (the workspace's); `Status.journaled`,
`Status.errors` and `Status.starting`. A client ignores fields it does not know, and fields it misses take
their defaults.
"""

from __future__ import annotations

import struct

import msgspec

from i18n import _

PROTOCOL_VERSION = 2
MAX_FRAME = 1 << 20  # a message larger than this is a protocol error, not a reason to allocate
SOCKET_NAME = "anatole.sock"  # in the workspace folder

TOPICS = ("active", "calls", "alerts", "counters", "sources")


class ProtocolError(Exception):
    pass


# --- daemon -> client ---------------------------------------------------------------------------------------


class SourceState(msgspec.Struct, frozen=True):
    name: str
    format: str
    state: str  # "listening", "connected", "connecting", "reconnecting", "down"
    since: int
    peer: str = ""
    received: int = 0  # records received since the daemon started
    detail: str = ""  # the last error, for "reconnecting"/"down"


class Hello(msgspec.Struct, tag=True, frozen=True):
    version: int
    pid: int
    started: int
    workspace: str
    sources: list[SourceState] = []


class ActiveCall(msgspec.Struct, tag=True, frozen=True):
    """A call in progress (AMI/ESL sources), sent again whenever its state changes; `key` identifies it."""

    key: str
    source: str
    site: str
    start: int
    state: str  # "ringing", "up", "held"
    direction: str = ""
    extension: str = ""
    caller: str = ""
    dialled: str = ""
    number: str = ""  # E.164 when known
    answer: int | None = None


class CallGone(msgspec.Struct, tag=True, frozen=True):
    """An active call ended; its `FinishedCall` follows on the `calls` topic once rated and stored."""

    key: str


class FinishedCall(msgspec.Struct, tag=True, frozen=True):
    """A call as stored, with its rating. `id` is the store's call id."""

    id: int
    source: str
    site: str
    start: int
    duration: int
    billable: int
    direction: str
    disposition: str
    status: str
    extension: str = ""
    caller: str = ""
    dialled: str = ""
    number: str = ""
    destination: str = ""
    band: str = ""
    cost: int | None = None
    currency: str = ""
    person: str = ""
    key: str = ""  # the ActiveCall key it ends, when there was one


class Alert(msgspec.Struct, tag=True, frozen=True):
    id: int
    rule: str  # the [[alert]] name
    kind: str  # "cost", "duration", "destination", "after_hours", "rate", "concurrent", ...
    at: int
    message: str
    severity: str = "warning"  # "info", "warning", "critical"
    site: str = ""
    extension: str = ""
    call_id: int | None = None
    amount: int | None = None
    currency: str = ""
    acknowledged_by: str = ""
    acknowledged_at: int | None = None


class AlertAcknowledged(msgspec.Struct, tag=True, frozen=True):
    id: int
    by: str
    at: int


class Counters(msgspec.Struct, tag=True, frozen=True):
    at: int
    active: int  # calls in progress
    calls_last_minute: int
    calls_today: int
    cost_today: dict[str, int] = {}  # version 1: site -> cost since local midnight, in `currency` only
    cost_this_hour: dict[str, int] = {}  # version 1: likewise, calls started this hour
    currency: str = ""  # the workspace's currency
    alerts_open: int = 0
    costs_today: dict[str, dict[str, int]] = {}  # site -> currency -> cost of billed calls since local midnight
    costs_this_hour: dict[str, dict[str, int]] = {}  # site -> currency -> cost of billed calls started this hour


class SourceUpdate(msgspec.Struct, tag=True, frozen=True):
    """A source's connection state changed (topic "sources")."""

    source: SourceState


class Status(msgspec.Struct, tag=True, frozen=True):
    """The reply to `StatusRequest`: what `anatole status` prints."""

    pid: int
    started: int
    workspace: str
    sources: list[SourceState] = []
    counters: Counters | None = None
    received: int = 0  # records received since start
    stored_calls: int = 0  # new calls stored since start
    stored_rejects: int = 0
    duplicates: int = 0
    journal_pending: int = 0  # received, not yet stored
    replayed: int = 0  # records a previous run left in the journal, stored at start
    subscribers: int = 0
    published: int = 0
    journaled: int = 0  # records received since start and committed to the journal (they survive kill -9)
    errors: int = 0  # records whose parsing, rating, storing, alert rule or extension step failed (see the log)
    starting: bool = False  # storing what a previous run left in the journal (`replayed` so far); sources wait
    errors_last_hour: int = 0  # of `errors`, and the database failures retried, those of the last hour


class Skipped(msgspec.Struct, tag=True, frozen=True):
    """The client was too slow: `count` messages of `topic` were dropped for it (it should reload from the store)."""

    topic: str
    count: int


# --- client -> daemon ---------------------------------------------------------------------------------------


class Subscribe(msgspec.Struct, tag=True, frozen=True):
    topics: list[str]


class Acknowledge(msgspec.Struct, tag=True, frozen=True):
    alert: int
    by: str


class StatusRequest(msgspec.Struct, tag=True, frozen=True):
    """Ask the daemon for a `Status` reply (no subscription needed)."""


class Error(msgspec.Struct, tag=True, frozen=True):
    """Either side: the peer sent something wrong; the connection is closed after it."""

    message: str


Message = (Hello | ActiveCall | CallGone | FinishedCall | Alert | AlertAcknowledged | Counters | Skipped | Subscribe
           | Acknowledge | Error | SourceUpdate | Status | StatusRequest)

TOPIC_OF: dict[type, str] = {ActiveCall: "active", CallGone: "active", FinishedCall: "calls", Alert: "alerts",
                             AlertAcknowledged: "alerts", Counters: "counters", Hello: "sources",
                             SourceUpdate: "sources"}

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Message)
_LENGTH = struct.Struct(">I")


def encode(message: Message) -> bytes:
    """One frame: length prefix and body."""
    body = _encoder.encode(message)
    if len(body) > MAX_FRAME:
        raise ProtocolError(_("message of {size} bytes exceeds the {limit}-byte frame limit").format(
            size=len(body), limit=MAX_FRAME))
    return _LENGTH.pack(len(body)) + body


def decode(body: bytes) -> Message:
    """One frame body (without its length prefix)."""
    try:
        return _decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise ProtocolError(_("undecodable frame: {error}").format(error=exc)) from None


class FrameReader:
    """Incremental framing: feed bytes as they arrive, get whole messages out. Partial frames wait for more."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        self._buffer += data
        messages: list[Message] = []
        while len(self._buffer) >= 4:
            (length,) = _LENGTH.unpack_from(self._buffer)
            if length > MAX_FRAME:
                raise ProtocolError(_("frame of {size} bytes announced, over the {limit}-byte limit").format(
                    size=length, limit=MAX_FRAME))
            if len(self._buffer) < 4 + length:
                break
            body = bytes(self._buffer[4:4 + length])
            del self._buffer[:4 + length]
            messages.append(decode(body))
        return messages

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held."""
        return len(self._buffer)
