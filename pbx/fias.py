"""The FIAS link to the hotel PMS (Oracle Hospitality IFC8 "Fidelio" interface), as the call-accounting client.

The PMS interface is the TCP server; we hold one connection, reconnecting with back-off. Records are framed
STX record ETX, with the LRC byte after ETX only when configured (`[pms] lrc`: serial-style peers). A record is a
two-letter ID and `|`-terminated fields, each a two-character field ID and its value, in any order.

Link start: the PMS sends LS (we wait `start_wait` for it), we send LD (our version and interface family), one LR
per record type we use, and LA; the PMS answers LA and the link is alive. Keep-alive: LS every `keepalive`
seconds, answered LA, or the link is dropped and re-opened. LE from the PMS: we answer LE and reconnect; charges
stay queued meanwhile (SQLite, store/hotel.py) and are sent in order once the link is alive again.

From the PMS: GI (check-in), GO (check-out), GC (guest change; a room move when RO is given) update the stays, at the
PMS's own DA/TI when given and plausible (a record that reached us late), re-attributing the room's calls stored
since then (hotel.live.HotelHook.reattribute, passed in as `reattribute`) in the same transaction.

Every frame read is applied, its database effect committed (a shielded step), before the next is read: a PA
followed at once by the PMS closing the link is recorded, not lost; a session we end ourselves first applies what
the PMS had already written (`_drain`).
To the PMS: one PS per charged guest call, in sequence order, **one outstanding at a time**: we wait for its PA
(matched on P#). The P# is the posting's queue sequence, fixed when the charge was queued, so a resend carries the
same P#. A PA that never comes is not blindly resent: the posting is marked unconfirmed (flagged for the front
desk), the link is checked (LS -> LA), and it is resent once with the same P#; no answer again drops the link.
PA answers: OK posted; RY retried later; NA held until the night audit ends (NE); NG and the other refusals go to
the late-charge list (an NG after a room move is re-posted to the guest's new room, with a new P#).
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import trio

from i18n import _
from pbx.faults import connection_fault
from store import hotel as db
from store.db import StoreError

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

STX, ETX = 0x02, 0x03
MAX_FRAME = 8192  # bytes of one record; a longer run without ETX is garbage
DRAIN_WAIT, DRAIN_BYTES = 0.5, 1 << 20  # reading what the PMS wrote before a session we end ourselves
NAME = "pms:fias"  # the link's name among the daemon's sources (status, Live screen)
FINAL_REFUSALS = {"NG": "guest or room not found", "NP": "no-post set", "CO": "credit limit", "IA": "invalid account",
                  "DN": "denied", "FX": "feature not allowed", "UR": "unprocessable", "DM": "subtotal mismatch",
                  "DE": "deleted"}
# the records we declare with LR (record -> the fields we may send or understand)
LINK_RECORDS = {"GI": "RNG#GNGLGSCSSF", "GO": "RNG#GSSF", "GC": "RNG#GNGLROGSCS",
                "PS": "RNPTTADATIDUDDP#G#", "PA": "RNASP#DATICT"}
HANDLED = {"LS", "LA", "LE", "LD", "LR", "GI", "GO", "GC", "PA", "NS", "NE"}
KNOWN = HANDLED | {"LC", "DR", "DS", "DE", "RE", "WR", "WC", "WA", "XL", "XM", "XR", "XC", "PR", "PL", "LP", "XI", "XD",
                   "XT", "XK"}


# --- framing --------------------------------------------------------------------------------------------------


def lrc(body: bytes) -> int:
    """The check byte: XOR of every byte after STX up to and including ETX (`body` excludes STX and ETX)."""
    value = ETX
    for b in body:
        value ^= b
    return value


def frame(record: str, *, use_lrc: bool = False, encoding: str = "cp850") -> bytes:
    body = record.encode(encoding, errors="replace")
    out = b"\x02" + body + b"\x03"
    return out + bytes([lrc(body)]) if use_lrc else out


@dataclass(frozen=True)
class FrameError:
    """Bytes that are not a good frame (garbage between frames, a frame cut short, a wrong LRC): logged, skipped."""

    reason: str
    raw: bytes


class Deframer:
    """Bytes from the socket -> record bodies (between STX and ETX) and FrameErrors, across any split of reads."""

    def __init__(self, *, use_lrc: bool = False) -> None:
        self.use_lrc = use_lrc
        self.state = "idle"  # idle | body | lrc
        self.buf = bytearray()
        self.garbage = bytearray()

    def feed(self, data: bytes) -> list[bytes | FrameError]:
        out: list[bytes | FrameError] = []
        i, n = 0, len(data)
        while i < n:
            if self.state == "idle":
                j = data.find(b"\x02", i)
                if j < 0:
                    self._junk(data[i:])
                    break
                self._junk(data[i:j])
                self._flush_junk(out)
                self.state, i = "body", j + 1
                self.buf.clear()
            elif self.state == "body":
                e = data.find(b"\x03", i)
                s = data.find(b"\x02", i)
                if s >= 0 and (e < 0 or s < e):
                    out.append(FrameError("frame cut short by a new STX before its ETX", bytes(self.buf + data[i:s])))
                    self.buf.clear()
                    i = s + 1
                    continue
                if e < 0:
                    self.buf += data[i:]
                    if len(self.buf) > MAX_FRAME:
                        out.append(FrameError(f"no ETX within {MAX_FRAME} bytes", bytes(self.buf[:80])))
                        self.buf.clear()
                        self.state = "idle"
                    break
                self.buf += data[i:e]
                i = e + 1
                if self.use_lrc:
                    self.state = "lrc"
                else:
                    out.append(bytes(self.buf))
                    self.state = "idle"
            else:  # one check byte, whatever its value (it may equal STX, ETX or '|')
                got, i = data[i], i + 1
                want = lrc(self.buf)
                if got == want:
                    out.append(bytes(self.buf))
                else:
                    out.append(FrameError(f"wrong LRC: got 0x{got:02X}, computed 0x{want:02X}", bytes(self.buf)))
                self.state = "idle"
        return out

    def _junk(self, data: bytes) -> None:
        self.garbage += data.strip(b"\r\n\x00 ")  # line ends and padding between frames are harmless
        if len(self.garbage) > MAX_FRAME:
            del self.garbage[:-MAX_FRAME]

    def _flush_junk(self, out: list[bytes | FrameError]) -> None:
        if self.garbage:
            out.append(FrameError(f"{len(self.garbage)} byte(s) outside any frame skipped", bytes(self.garbage[:80])))
            self.garbage.clear()


# --- records --------------------------------------------------------------------------------------------------


class RecordError(ValueError):
    """A frame whose content is not a FIAS record."""


@dataclass
class Record:
    kind: str
    fields: dict[str, str] = field(default_factory=dict)

    def get(self, key: str, default: str = "") -> str:
        return self.fields.get(key, default)


def parse_record(body: bytes, encoding: str = "cp850") -> Record:
    """`GI|RN214|G#880123|GNMartin, Alice|` -> Record("GI", {"RN": "214", ...}); fields in any order."""
    text = body.decode(encoding, errors="replace")
    parts = text.split("|")
    kind = parts[0]
    if len(kind) != 2 or not kind.isascii() or not kind.isalnum() or not kind.isupper():
        raise RecordError(f"not a record: the record ID {kind[:10]!r} is not two capital letters")
    fields: dict[str, str] = {}
    for part in parts[1:]:
        if not part:
            continue
        if len(part) < 2:
            raise RecordError(f"{kind}: field {part!r} is shorter than its two-character ID")
        fields[part[:2]] = part[2:]
    return Record(kind, fields)


def _clean(value: str) -> str:
    """Field data: no control characters, no field separator."""
    return "".join(" " if ch == "|" else ch for ch in value if ch >= " " and ch != "\x7f")


def build(kind: str, fields: list[tuple[str, str]]) -> str:
    return kind + "|" + "".join(f"{k}{_clean(str(v))}|" for k, v in fields)


def stamp(when: float, zone: ZoneInfo) -> list[tuple[str, str]]:
    local = dt.datetime.fromtimestamp(when, zone)
    return [("DA", local.strftime("%y%m%d")), ("TI", local.strftime("%H%M%S"))]


def hhmmss(seconds: int) -> str:
    seconds = max(0, min(int(seconds), 99 * 3600 + 3599))
    return f"{seconds // 3600:02d}{seconds // 60 % 60:02d}{seconds % 60:02d}"


MAX_LATE = 7 * 86400  # a GI/GO's own DA/TI older than this is not believed (the PMS's clock, a resync)
SKEW = 300  # nor one further ahead of our clock than this
LATE_NOTE = 120  # a record applied at a time this much older than now is logged as late


def event_time(rec: Record, now: int, zone: ZoneInfo) -> tuple[int, str]:
    """When a GI/GO/GC took effect: the PMS's own DA (YYMMDD) and TI (HHMMSS) in the site's zone when given and
    plausible (not ahead of `now` by more than SKEW, not older than MAX_LATE), capped at `now`; else `now`, with
    the reason it was not used ("" when it was, or when the record has no DA)."""
    da, ti = rec.get("DA"), rec.get("TI")
    if not da:
        return now, ""
    try:
        if len(da) != 6 or not da.isdigit() or len(ti) not in (4, 6) or not ti.isdigit():
            raise ValueError
        local = dt.datetime(2000 + int(da[:2]), int(da[2:4]), int(da[4:]), int(ti[:2]), int(ti[2:4]),
                            int(ti[4:6] or 0), tzinfo=zone)
    except ValueError:
        return now, f"DA/TI {da!r}/{ti!r} is not a date and time: applied now"
    at = int(local.timestamp())
    if at > now + SKEW:
        return now, f"DA/TI {_local(at, zone)} is ahead of our clock by more than {SKEW} s: applied now"
    if at < now - MAX_LATE:
        return now, f"DA/TI {_local(at, zone)} is more than {MAX_LATE // 86400} days old: applied now"
    return min(at, now), ""


def _local(when: int, zone: ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(when, zone).strftime("%Y-%m-%d %H:%M:%S")


def p_number(seq: int) -> int:
    """FIAS P# runs 1..99999999: the queue sequence, wrapping."""
    return (seq - 1) % 99_999_999 + 1


def posting_record(post: dict[str, Any], *, posting: str, mode: str, zone: ZoneInfo) -> str:
    """The PS record of a queued posting: room, type, amount (C) or duration and digits only (T), call start."""
    fields: list[tuple[str, str]] = [("RN", post["room"]), ("PT", posting)]
    if posting == "C":
        fields.append(("TA", str(post["amount"])))
    fields += stamp(post["start"], zone)
    fields += [("DU", hhmmss(post["duration"])), ("DD", post["digits"]), ("P#", str(p_number(post["seq"])))]
    if mode == "guest" and post["reservation"]:
        fields.append(("G#", post["reservation"]))
    return build("PS", fields)


# --- the link -------------------------------------------------------------------------------------------------


class LinkError(Exception):
    """The link must be dropped and opened again (no answer, LE, closed by the PMS)."""


class FiasLink:
    """The daemon extension (pbx.daemon.Extension) that owns the PMS connection and sends the posting queue."""

    def __init__(self, pms: Any, db_path: Path, *, timezone: str, rooms: set[str] | None = None,
                 version: str = "anatole 0.1", backoff: tuple[float, float] = (1.0, 60.0),
                 clock: Callable[[], float] = time.time,
                 reattribute: Callable[[Any, str, int], dict[str, int]] | None = None) -> None:
        self.pms = pms  # hotel.model.PmsConfig
        # (connection, room, since) -> counts: re-attributes a room's charges after a stay changed in the past
        # (hotel.live.HotelHook.reattribute); run inside the stay change's transaction
        self.reattribute = reattribute
        self.db_path = Path(db_path)
        self.zone = ZoneInfo(timezone)
        self.rooms = rooms or set()
        self.version = version
        self.backoff = backoff
        self.clock = clock
        self.log: Callable[..., None] = lambda event, **fields: None
        self.daemon: Any = None
        self.state = "down"
        self.conn: Any = None
        self._lock = trio.Lock()  # one database call at a time on our connection
        self._send_lock = trio.Lock()
        self._wake = trio.Event()
        self._alive = trio.Event()
        self._la = trio.Event()
        self._ls = trio.Event()
        self._night_over = trio.Event()
        self.night_audit = False
        self._stream: Any = None
        self._outstanding: dict[str, Any] | None = None  # the posting whose PA we await
        self._answer: Record | None = None
        self._deframer = Deframer()
        self._eof = False
        self._answered = trio.Event()
        self.sent: list[float] = []  # trio.current_time() of each PS written (benchmarks), bounded
        self.counts = {"sent": 0, "ok": 0, "rejected": 0, "retry": 0, "unconfirmed": 0, "frame_errors": 0,
                       "unknown": 0}

    # --- daemon extension protocol ------------------------------------------------------------------------

    def committed(self) -> None:
        """A batch was committed: there may be new postings."""
        self._wake.set()

    async def run(self, daemon: Any, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        self.daemon = daemon
        self.log = daemon.log
        self.conn = await trio.to_thread.run_sync(
            lambda: db.connect(self.db_path, report=lambda line: self.log("pms", warning=f"schema upgrade: {line}")))
        flagged = await self._db(db.sent_to_unconfirmed, self.conn)
        if flagged:
            self.log("pms", detail=f"{flagged} posting(s) were sent without an answer before the last stop: "
                                   "resending with the same P#, flagged")
        self._set("connecting")
        task_status.started()
        try:
            await self._connector()
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self.conn.close)

    def _set(self, state: str, detail: str = "") -> None:
        self.state = state
        if self.daemon is not None and hasattr(self.daemon, "link_state"):
            self.daemon.link_state(NAME, "fias", state, self.pms.connect, detail)

    async def _db(self, fn: Callable[..., Any], *args: Any) -> Any:
        """One database step, shielded: once begun it commits (or fails) before a cancellation (the link dropping,
        the daemon stopping) takes effect, so what a received record did is never half done or lost."""
        with trio.CancelScope(shield=True):
            async with self._lock:
                return await trio.to_thread.run_sync(fn, *args)

    # --- connection -----------------------------------------------------------------------------------------

    async def _connector(self) -> None:
        host, _colon, port = self.pms.connect.rpartition(":")
        first, cap = self.backoff
        delay = first
        while True:
            began = trio.current_time()
            try:
                stream = await trio.open_tcp_stream(host.strip("[]"), int(port))
            except OSError as exc:
                self._set("reconnecting", _("connect: {error}").format(error=exc))
            else:
                detail = _("the PMS closed the connection")
                try:
                    async with stream:
                        await self._session(stream)
                except (LinkError, trio.BrokenResourceError, trio.ClosedResourceError, OSError, sqlite3.Error,
                        StoreError, BaseExceptionGroup) as exc:
                    # a database fault (locked past the store's limit) ends the session, not the daemon: the
                    # queue is durable, the link reconnects and carries on where the database says
                    detail = connection_fault(exc, (LinkError, sqlite3.Error, StoreError))
                self._outstanding = None
                self._alive = trio.Event()
                self._set("reconnecting", detail)
                self.log("pms", state="down", detail=detail)
                if trio.current_time() - began > 10 * first:
                    delay = first
            await trio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, cap)

    async def _session(self, stream: trio.SocketStream) -> None:
        self._stream = stream
        self._la, self._ls, self._alive = trio.Event(), trio.Event(), trio.Event()
        self._set("starting")
        # a posting written on the last connection and never answered (the link dropped meanwhile): resend it
        # with the same P#, flagged
        await self._db(db.sent_to_unconfirmed, self.conn)
        self._deframer, self._eof = Deframer(use_lrc=self.pms.lrc), False
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._reader, stream, nursery)
                with trio.move_on_after(self.pms.start_wait):
                    await self._ls.wait()
                await self._start_link()
                nursery.start_soon(self._keepalive)
                await self._sender()
        except (LinkError, trio.BrokenResourceError, trio.ClosedResourceError, OSError, BaseExceptionGroup):
            if not self._eof:
                await self._drain(stream)
            raise

    async def _start_link(self) -> None:
        """LD, the LRs and LA; alive when the PMS answers LA."""
        self._la = trio.Event()
        now = self.clock()
        await self._send(build("LD", [*stamp(now, self.zone), ("V#", self.version), ("IF", self.pms.interface)]))
        for kind, fields in LINK_RECORDS.items():
            await self._send(build("LR", [("RI", kind), ("FL", fields)]))
        await self._send(build("LA", stamp(now, self.zone)))
        with trio.move_on_after(self.pms.timeout):
            await self._la.wait()
        if not self._la.is_set():
            raise LinkError(_(
                "link start: no LA from the PMS within {seconds} s").format(seconds=f"{self.pms.timeout:g}"))
        self._alive.set()
        self._set("alive")
        self.log("pms", state="alive", peer=self.pms.connect)
        self._wake.set()

    async def _send(self, record: str) -> None:
        data = frame(record, use_lrc=self.pms.lrc, encoding=self.pms.encoding)
        async with self._send_lock:
            await self._stream.send_all(data)

    async def _probe(self) -> bool:
        """LS -> LA: is the PMS still there?"""
        self._la = trio.Event()
        await self._send(build("LS", stamp(self.clock(), self.zone)))
        with trio.move_on_after(self.pms.timeout):
            await self._la.wait()
        return self._la.is_set()

    async def _keepalive(self) -> None:
        while True:
            await trio.sleep(self.pms.keepalive)
            if self._outstanding is not None:
                continue  # a posting awaits its PA: its own timeout checks the link
            if not await self._probe():
                raise LinkError(_("keep-alive: no LA to LS within {seconds} s").format(seconds=f"{self.pms.timeout:g}"))

    # --- receiving ---------------------------------------------------------------------------------------------

    async def _reader(self, stream: trio.SocketStream, nursery: trio.Nursery) -> None:
        while True:
            data = await stream.receive_some(65536)
            if not data:
                self._eof = True
                raise LinkError(_("the PMS closed the connection"))
            if await self._received(data, nursery):
                self.log("pms", detail="the PMS ended the link (LE): charges stay queued until it is alive again")
                self._alive = trio.Event()
                self._eof = True  # nothing may follow an LE
                await self._send(build("LE", stamp(self.clock(), self.zone)))
                raise LinkError(_("link ended by the PMS (LE)"))

    async def _received(self, data: bytes, nursery: trio.Nursery | None) -> bool:
        """Apply every complete frame in `data`, in order, each one's database effect committed before the next
        (`_db` is shielded, and nothing else here waits): a PA followed at once by the PMS closing the link, or by
        our own timeout, is applied, not resent. True when one of them was LE (answered by the caller, last)."""
        ended = False
        for item in self._deframer.feed(data):
            if isinstance(item, FrameError):
                self.counts["frame_errors"] += 1
                self.log("pms", error=f"bad frame: {item.reason}", raw=item.raw.decode("latin-1"))
                continue
            try:
                record = parse_record(item, self.pms.encoding)
            except RecordError as exc:
                self.counts["frame_errors"] += 1
                self.log("pms", error=str(exc), raw=item.decode("latin-1"))
                continue
            if record.kind == "LE":
                ended = True
                continue
            try:
                await self._dispatch(record, nursery)
            except Exception as exc:  # one odd record (a database fault) must not drop the link
                self.counts["frame_errors"] += 1
                self.log("pms", error=f"{record.kind} not applied: {type(exc).__name__}: {exc}", fields=record.fields)
        return ended

    async def _drain(self, stream: trio.SocketStream) -> None:
        """The session is failing on our side (no answer in time, a send failed): apply the frames the PMS wrote
        before that and that still wait in the socket, so an answer that crossed our timeout is not lost. Bounded:
        DRAIN_WAIT seconds and DRAIN_BYTES; never sends."""
        got = 0
        with trio.move_on_after(DRAIN_WAIT):
            while got < DRAIN_BYTES:
                try:
                    data = await stream.receive_some(65536)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    return
                if not data:
                    return
                got += len(data)
                await self._received(data, None)

    async def _dispatch(self, rec: Record, nursery: trio.Nursery | None) -> None:
        kind = rec.kind
        if kind == "LS":
            self._ls.set()
            if self._alive.is_set() and nursery is not None:  # the PMS restarted its side: describe ourselves again
                self._alive = trio.Event()
                self._set("starting", _("the PMS sent LS: link restart"))
                nursery.start_soon(self._start_link)
        elif kind == "LA":
            self._la.set()
        elif kind == "PA":
            await self._posting_answer(rec)
        elif kind in ("GI", "GO", "GC"):
            await self._guest(rec)
        elif kind == "NS":
            self.night_audit = True
            self._night_over = trio.Event()
            self.log("pms", detail="night audit started (NS)")
        elif kind == "NE":
            self.night_audit = False
            self._night_over.set()
            self._wake.set()
            self.log("pms", detail="night audit ended (NE)")
        elif kind in ("LD", "LR"):
            pass  # the PMS describing itself: nothing we need
        elif kind in KNOWN:
            self.counts["unknown"] += 1
            self.log("pms", detail=f"record {kind} is not used by call accounting: ignored", fields=rec.fields)
        else:
            self.counts["unknown"] += 1
            self.log("pms", error=f"unknown record type {kind!r}: ignored", fields=rec.fields)

    async def _guest(self, rec: Record) -> None:
        """GI, GO, GC: the stays, each record in one transaction with the re-attribution of the room's charges when
        it takes effect in the past (the PMS's own DA/TI of a record that reached us late)."""
        room, reservation, guest = rec.get("RN"), rec.get("G#"), rec.get("GN")
        now = int(self.clock())
        if not room:
            self.log("pms", error=f"{rec.kind} without a room number (RN): ignored", fields=rec.fields)
            return
        if self.rooms and room not in self.rooms:
            self.log("pms", warning=f"{rec.kind} for room {room}, which no [[room]] maps to an extension: "
                                    "recorded, but no call can be charged to it")
        at, why = event_time(rec, now, self.zone)
        if why:
            self.log("pms", warning=f"{rec.kind} room {room}: {why}", fields=rec.fields)
        elif now - at > LATE_NOTE:
            self.log("pms", detail=f"{rec.kind} room {room} reached us {(now - at) // 60} min late: applied at the "
                                   f"PMS's time {_local(at, self.zone)}")
        cos = int(rec.get("CS")) if rec.get("CS").isdigit() else None
        if rec.kind == "GI":
            if rec.get("GS") == "Y":
                current = await self._db(db.open_stay, self.conn, room)
                if current is not None and current["reservation"] != reservation:
                    self.log("pms", detail=f"GI: sharer {reservation} in room {room}: calls stay on reservation "
                                           f"{current['reservation']}")
                    return
            _sid, closed, moved = await self._db(self._checkin, room, reservation, guest, at, rec.get("GL"), cos)
            if closed is not None:
                self.log("pms", warning=f"GI for room {room} while reservation {closed['reservation']} "
                                        f"({closed['guest']}) was still checked in (origin {closed['origin']}): that "
                                        "stay is closed, the PMS's check-in applies")
            self.log("pms", detail=f"check-in room {room} reservation {reservation}", **moved)
        elif rec.kind == "GO":
            left, moved = await self._db(self._checkout, room, at, reservation or None)
            if left is None:
                self.log("pms", warning=f"GO for room {room}" + (f" reservation {reservation}" if reservation else "")
                         + " with no such guest checked in: ignored")
            else:
                self.log("pms", detail=f"check-out room {room} reservation {left['reservation']}", **moved)
        else:  # GC: a room move (RO = old room) or new guest data
            old = rec.get("RO")
            if old and old != room:
                moved = await self._db(self._move, old, room, reservation, guest, at)
                self.log("pms", detail=f"room move {old} -> {room} reservation {reservation}: {moved} queued "
                                       "posting(s) re-pointed")
                self._wake.set()
                return
            current = await self._db(db.open_stay, self.conn, room)
            if current is None:
                self.log("pms", warning=f"GC for room {room} with no guest checked in: ignored")
                return
            await self._db(lambda: db.checkin(self.conn, room, current["reservation"], guest, current["checkin"],
                                              "fias", language=rec.get("GL"), class_of_service=cos))
        self._wake.set()

    def _checkin(self, room: str, reservation: str, guest: str, at: int, language: str, cos: int | None
                 ) -> tuple[int, dict[str, Any] | None, dict[str, int]]:
        """(In a worker thread.) The PMS's check-in wins over an open stay of another reservation (a check-in by
        hand, a GO we never got): that stay is closed. Should a check-in by hand commit between our read and our
        write, the schema refuses the second open stay and we apply the GI again over it."""
        for attempt in (1, 2):
            try:
                with db.write(self.conn):
                    sid, closed = db.checkin(self.conn, room, reservation, guest, at, "fias", language=language,
                                             class_of_service=cos)
                    moved = self._reattribute(room, min(at, closed["checkout"]) if closed else at)
                return sid, closed, moved
            except db.RoomOccupied as exc:
                if attempt == 2:
                    raise
                self.log("pms", warning=f"GI room {room}: {exc}; applying the PMS's check-in over it")
        raise AssertionError("unreachable")

    def _checkout(self, room: str, at: int, reservation: str | None) -> tuple[dict[str, Any] | None, dict[str, int]]:
        with db.write(self.conn):
            left = db.checkout(self.conn, room, at, reservation)
            return left, (self._reattribute(room, left["checkout"]) if left is not None else {})

    def _move(self, old: str, new: str, reservation: str, guest: str, at: int) -> int:
        with db.write(self.conn):
            _sid, moved = db.move(self.conn, old, new, reservation, guest, at, "fias")
            self._reattribute(old, at)
            self._reattribute(new, at)
            return moved

    def _reattribute(self, room: str, since: int) -> dict[str, int]:
        if self.reattribute is None or since >= int(self.clock()):
            return {}
        return self.reattribute(self.conn, room, since)

    async def _posting_answer(self, rec: Record) -> None:
        """Apply a PA at once (committed before the next frame is read), then wake the sender waiting for it."""
        number = rec.get("P#")
        if not number.isdigit():
            self.log("pms", error="PA without a P#: cannot tell which posting it answers", fields=rec.fields)
            return
        post = self._outstanding
        if post is not None and int(number) == p_number(post["seq"]):
            if self._answered.is_set():
                self.log("pms", warning=f"a second PA for P# {number}: ignored", fields=rec.fields)
                return
            await self._apply(post, rec)
            self._answer = rec
            self._answered.set()
            return
        # a PA for a posting we are no longer waiting for (it came after our timeout, or after the link dropped
        # and came back): record it rather than resend
        post = await self._db(db.awaiting_answer, self.conn, int(number))
        if post is None:
            self.log("pms", warning=f"PA for P# {number}, which awaits no answer: ignored", fields=rec.fields)
            return
        self.log("pms", detail=f"late PA for P# {number} recorded: {rec.get('AS')}")
        await self._apply(post, rec)
        self._wake.set()

    # --- sending ------------------------------------------------------------------------------------------------

    async def _sender(self) -> None:
        while True:
            await self._alive.wait()
            if self.night_audit:
                await self._night_over.wait()
                continue
            self._wake = trio.Event()
            now = int(self.clock())
            post = await self._db(db.next_posting, self.conn, now)
            if post is None:
                retry = await self._db(db.earliest_retry, self.conn)
                with trio.move_on_after(max(0.05, retry - now) if retry is not None else 3600):
                    await self._wake.wait()
                continue
            await self._post(post)

    async def _post(self, post: dict[str, Any]) -> None:
        """Send one posting and wait for its PA (applied by the reader as it arrives); no answer: unconfirmed,
        flagged, the link checked, and the same P# sent once more."""
        seq = post["seq"]
        record = posting_record(post, posting=self.pms.posting, mode=self.pms.mode, zone=self.zone)
        self._outstanding, self._answer, self._answered = post, None, trio.Event()
        try:
            for attempt in (1, 2):
                if not await self._db(db.mark_sent, self.conn, seq, int(self.clock())):
                    return  # answered meanwhile (a PA that crossed our timeout)
                await self._send(record)
                self.counts["sent"] += 1
                self.sent.append(trio.current_time())
                if len(self.sent) > 100_000:
                    del self.sent[:50_000]
                with trio.move_on_after(self.pms.timeout):
                    await self._answered.wait()
                if self._answered.is_set():
                    return
                self.counts["unconfirmed"] += 1
                await self._db(db.mark_unconfirmed, self.conn, seq)
                if attempt == 2:
                    raise LinkError(_("no PA for P# {number} sent twice: reconnecting (it stays unconfirmed)").format(
                        number=p_number(seq)))
                self.log("pms", warning=f"no PA for P# {p_number(seq)} within {self.pms.timeout:g} s: checking the "
                                        "link, then resending it once with the same P# (flagged for the front desk)")
                if not await self._probe():
                    raise LinkError(_("no LA to LS after a posting went unanswered"))
                if self._answered.is_set():
                    return
        finally:
            self._outstanding = None

    async def _apply(self, post: dict[str, Any], rec: Record) -> None:
        """What a PA means for its posting: OK posted; RY back in the queue for later; NA held until NE; any other
        code refused (late-charge list), an NG for a guest who moved re-posted to the new room."""
        seq, code, text = post["seq"], rec.get("AS") or "??", rec.get("CT")
        now = int(self.clock())
        if code == "RY":
            self.counts["retry"] += 1
            await self._db(db.mark_retry, self.conn, seq, code, text, now, now + int(self.pms.retry))
            return
        if code == "NA":
            self.night_audit = True
            self._night_over = trio.Event()
            await self._db(db.mark_retry, self.conn, seq, code, text, now, now)
            self.log("pms", detail=f"P# {p_number(seq)} answered NA (night audit): postings held until NE")
            return
        if await self._db(db.mark_answer, self.conn, seq, code, text, now) is None:
            return
        if code == "OK":
            self.counts["ok"] += 1
            return
        self.counts["rejected"] += 1
        why = FINAL_REFUSALS.get(code, "unknown answer code")
        self.log("pms", warning=f"P# {p_number(seq)} room {post['room']} refused: {code} ({why}) {text}".rstrip()
                 + ": on the late-charge list")
        if code == "NG" and post["reservation"]:
            moved = await self._db(db.open_stay_of, self.conn, post["reservation"])
            if moved is not None and moved["room"] != post["room"]:
                new = await self._db(db.repost, self.conn, post, moved["room"], post["reservation"], now)
                self.log("pms", detail=f"reservation {post['reservation']} moved to room {moved['room']}: "
                                       f"re-posted as P# {p_number(new)}")
