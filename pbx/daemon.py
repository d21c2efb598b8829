"""The live collection daemon (`anatole serve`): one trio nursery, one task per source, a journal task, one writer.

Flow: source tasks (TCP listeners, connectors with back-off, AMI/ESL clients) frame what they receive into records
and send them, in per-read bundles, on one bounded channel. The journal task takes everything waiting and appends
it to the journal in one transaction (a group commit, on its own database connection) before any other work,
then hands it to the writer. The writer takes what the journal task committed (a micro-batch) and, in worker
threads: parses it with the format's parser; rates it through the injected `rate` callable (the batch importer's
own classification and engine, so a live call costs what the same call imported from a file costs); stores calls,
rejects and the alerts they raise and marks the journal entries done, in one transaction. Then it publishes
FinishedCall/Alert to subscribers. At start, journal entries left pending by a crash go through the same path
first. `pbx` never imports `anatole`: the command builds a `DaemonConfig`.

One fsync per micro-batch: the journal's group commit is fsynced (synchronous FULL); the writer's transaction is
not (synchronous NORMAL, store/live.py). A `kill -9` loses no committed transaction of either (the WAL is in the
kernel's cache); a power cut may lose the writer's last transactions, and then loses their journal marks with
them (one transaction), and every transaction after them (one WAL, an fsync covers all that precedes it): their
entries are pending again and `_replay` stores them at the next start, as after a crash today (calls and rejects
are inserted ON CONFLICT DO NOTHING). What the journal cannot redo is committed with an fsync: a batch holding an
acknowledgement or an alert raised outside the records, a batch that raises an alert (delivered by mail or webhook
at once: the batch is done again durably, see `_commit`) and, with an extension step (the hotel), every batch.

What a `kill -9` can lose: only records received but not yet committed to the journal, that is the bundles
waiting on the source channel (at most QUEUE bundles, each one read of at most 64 KiB) and the group being
committed (at most batch_max entries). While the writer keeps up, a record waits there for one group commit (an
fsync, plus at most one writer transaction holding SQLite's lock: milliseconds). When the writer is JOURNAL_AHEAD
groups behind, the journal task waits, the channel fills and the sources stop reading: the PBX keeps the records
(TCP back-pressure), the daemon's memory stays bounded. Records the kernel holds in a socket buffer, not yet read,
are lost with the process whatever we do (SMDR has no acknowledgement); a PBX that resends after a reconnect (IP
Office) gives them again, and duplicates are stored once. `Status.journaled` counts the records committed to the
journal: everything counted there survives `kill -9`.

No single record stops a batch (see `_units`, `_commit_split`): one that fails to parse, to rate or to store
becomes a reject with the error; one whose alert rule or extension step (the hotel's charge) fails is stored
without it. Each such failure is a JSON log line `{"event": "error", "where": ...}` and counts in
`Status.errors`. A failure of the database itself (locked, disk full) is retried with back-off, the records
waiting in the journal.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import signal
import socket as stdsocket
import sqlite3
import struct
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

import msgspec
import trio

from i18n import _
from pbx.faults import connection_fault
from pbx.sdnotify import Notifier, journal_prefix

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup

import contextlib

from ingest.cdr import CallRecord, ParseContext, Reject, Skipped, parser
from pbx import parsing, peers
from pbx.alerts import Evaluator, Rule, SiteInfo
from pbx.framing import GARBAGE_LIMIT, GARBAGE_WINDOW, GarbageGate, LineFramer, Overlong
from pbx.hub import QUEUE as SUBSCRIBER_QUEUE
from pbx.hub import Hub, Subscriber
from pbx.notify import AlertDelivery
from pbx.protocol import (
    PROTOCOL_VERSION,
    SOCKET_NAME,
    TOPICS,
    Acknowledge,
    ActiveCall,
    Alert,
    AlertAcknowledged,
    CallGone,
    Counters,
    Error,
    FinishedCall,
    FrameReader,
    Hello,
    ProtocolError,
    SourceState,
    SourceUpdate,
    Status,
    StatusRequest,
    Subscribe,
    encode,
)
from store.db import CALL_COLUMNS
from store.live import LiveStore

# fields of a store row (store.CALL_COLUMNS order) that the writer reads
(_SOURCE, _SITE, _GRP, _START, _DURATION, _BILLABLE, _DIRECTION, _DISPOSITION, _EXTENSION, _CALLER, _DIALLED, _NUMBER,
 _BILLED, _STATUS, _DESTINATION, _BAND, _COST, _CURRENCY, _RAW) = (CALL_COLUMNS.index(c) for c in (
    "source", "site", "grp", "start", "duration", "billable", "direction", "disposition", "extension", "caller",
    "dialled", "number", "billed", "status", "destination", "band", "cost", "currency", "raw"))

LIVE_PARSE_FORMAT = {"asterisk-ami": "asterisk", "freeswitch-esl": "freeswitch-json"}
MAX_CLIENT_MESSAGE = 64 * 1024  # bytes of one subscriber's message (theirs are a few dozen)
MAX_SUBSCRIBERS = 256  # clients on the socket at once; more are told so and closed
PANASONIC_LOGIN = 15.0  # seconds for the PBX's password prompt (what it sends before it is kept, 4 KiB at most)
BATCH_MAX = 5000  # journal entries per micro-batch
QUEUE = 256  # bundles received, waiting for the journal task (not yet durable: kept small)
JOURNAL_AHEAD = 4  # journaled groups waiting for the writer before the journal task waits (memory bound)
PRUNE_EVERY = 3600.0  # seconds between journal prunes while running
PRUNE_AGAIN = 10.0  # seconds, when the last prune had more to do
PRUNE_ROWS = 10_000  # journal rows forgotten per prune (bounded work inside the writer)
UP_STATES = ("listening", "connected")  # a source in another state (connecting, reconnecting, down) is down


class SourceLike(Protocol):
    name: str
    site: str
    format: str
    timezone: str
    encoding: str
    profile: dict[str, Any]
    listen: str | None
    connect: str | None
    username: str | None
    password: str | None


RateFn = Callable[[str, list[CallRecord]], list[tuple]]


@dataclass
class DaemonConfig:
    """Everything the daemon needs, built by the command (anatole/cli_serve.py) from the workspace."""

    workspace: Path
    db_path: Path
    sources: list[Any]  # SourceLike
    rate: RateFn  # (source name, records) -> store rows (store.CALL_COLUMNS order)
    rules: list[Rule] = field(default_factory=list)
    sites: dict[str, SiteInfo] = field(default_factory=dict)
    currency: str = ""
    socket_path: Path | None = None  # default: <workspace>/anatole.sock
    backoff: tuple[float, float] = (1.0, 60.0)  # first and largest reconnect delay, seconds
    shutdown_deadline: float = 10.0
    batch_max: int = BATCH_MAX
    journal_days: int = 7
    counters_every: float = 1.0
    alerts_poll: float = 5.0  # seconds between looks for alerts another process stored (mobile import), published
    subscriber_queue: int = SUBSCRIBER_QUEUE  # messages held for a client before it starts skipping
    garbage_limit: int = GARBAGE_LIMIT  # garbage lines (overlong, binary) kept per source and window
    garbage_window: float = GARBAGE_WINDOW  # seconds; the rest are counted, one summary reject per window
    log: TextIO | None = None  # JSON lines; None: stderr
    extensions: list[Any] = field(default_factory=list)  # add-ons (the hotel's charges and PMS link): Extension
    delivery: Any = None  # pbx.notify.Settings ([smtp], [notify]): alerts by e-mail, webhook, syslog
    # (source name, facts, caller, dialled) -> direction of a call in progress, by the rules that classify its
    # record (pipeline.cdrimport.live_direction); None: calls in progress show no direction until they end
    direction: Callable[[str, Any, str, str], str] | None = None
    metrics: tuple[str, int] | None = None  # (host, port) of the Prometheus endpoint (pbx/metrics.py); None: off
    notifier: Notifier | None = None  # systemd notifications (pbx/sdnotify.py); None: from $NOTIFY_SOCKET
    status_every: float = 15.0  # seconds between two STATUS= lines to systemd


class Extension(Protocol):
    """What an add-on of the daemon may define (each method is optional): a task run beside the sources, a step
    in the writer's transaction that sees each batch's newly stored calls (and may return alerts, as the rules do),
    and a wake-up once that transaction is committed."""

    async def run(self, daemon: Daemon, *, task_status: Any) -> None: ...

    def stored(self, conn: Any, calls: list[dict[str, Any]]) -> list[dict[str, Any]]: ...

    def committed(self) -> None: ...


@dataclass
class Bundle:
    """Records received in one read of one connection, or other work for the writer."""

    source: str
    conn: Any
    received: int  # µs since the epoch
    entries: list[tuple[str, bytes]]  # (journal kind, data)
    final: bool = False  # the connection ended: forget its parser state after these
    ids: list[int] = field(default_factory=list)  # journal ids, once the journal task committed them


@dataclass
class Ack:
    alert: int
    by: str


@dataclass
class ActiveAlerts:
    site: str
    outgoing: int
    at: int


@dataclass
class RaiseAlert:
    """An alert raised outside the records (a refused peer): stored, counted and published by the writer."""

    alert: dict[str, Any]  # as store.live.insert_alerts takes it, dedup key included


class Daemon:
    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self.sources = {s.name: s for s in config.sources}
        self.socket_path = config.socket_path or (config.workspace / SOCKET_NAME)
        self.started = int(time.time())
        self.hub = Hub()
        self.states: dict[str, SourceState] = {
            s.name: SourceState(name=s.name, format=s.format, state="down", since=self.started)
            for s in config.sources}
        self.ports: dict[str, int] = {}  # listen sources: the port actually bound (tests use port 0)
        self.received = 0
        self.received_by: dict[str, int] = {s.name: 0 for s in config.sources}
        self.stored_calls = self.stored_rejects = self.duplicates = 0
        self.journaled = 0  # records committed to the journal by this run (they survive kill -9)
        self.errors = 0  # records whose parsing, rating, storing, alert rule or extension step raised
        self.stored_by: dict[str, int] = {}  # source -> calls stored since start (metrics)
        self.rejects_by: dict[str, int] = {}  # source -> rejects stored since start
        self.last_at: dict[str, float] = {}  # source -> when it last sent records (epoch seconds)
        self._error_times: deque[float] = deque(maxlen=100_000)  # record and database failures, for the last hour
        self.notifier = config.notifier or Notifier()
        self.metrics_port: int | None = None  # the port the metrics endpoint bound (tests use port 0)
        self.processed = 0  # journal entries done (replayed ones excluded: they were not received by this run)
        self.active: dict[str, ActiveCall] = {}
        self.replayed = 0  # journal entries a previous run left pending, processed at start
        self.starting = True  # until those are stored (status answers meanwhile; the sources start after)
        self.evaluator = Evaluator(config.rules, config.sites)
        # alert deliveries (pbx/notify.py): rows written in the writer's transaction, sent by their own task
        self.delivery = AlertDelivery(config.delivery, [(r.name, r.notify) for r in config.rules], config.db_path,
                                      self.log)
        self._steps = any(hasattr(ext, "stored") for ext in config.extensions)  # a step in the writer's transaction
        self._parsers: dict[str, parsing.SourceParsers] = {}
        self._overlapping: dict[str, bool] = {}
        for s in config.sources:
            fmt = LIVE_PARSE_FORMAT.get(s.format, s.format)
            ctx = ParseContext(timezone=s.timezone, profile=s.profile, encoding=s.encoding)
            self._parsers[s.name] = parsing.SourceParsers(fmt, ctx)
            self._overlapping[s.name] = getattr(parser(fmt), "LEGS", "overlapping") == "overlapping"
        self._conn_ids = itertools.count(1)
        self._current: dict[str, tuple[trio.CancelScope, Any]] = {}  # listen source -> its live connection, peer
        self._refusals = peers.RefusalLog()
        self._gates = {s.name: GarbageGate(config.garbage_limit, config.garbage_window, encoding=s.encoding,
                                           classify=_text_garbage(s)) for s in config.sources}
        self._gate_wake = {s.name: trio.Event() for s in config.sources}
        self._send, self._receive = trio.open_memory_channel[Any](QUEUE)
        self._work_send, self._work_receive = trio.open_memory_channel[list[Any]](JOURNAL_AHEAD)
        self._recent: deque[int] = deque()  # finish times of the last minute's calls
        self._day: dict[str, tuple[str, int, dict[str, int]]] = {}  # site -> (local date, calls, currency -> cost)
        self._hour: dict[str, tuple[int, dict[str, int]]] = {}  # site -> (UTC hour, currency -> cost)
        self._days: dict[str, tuple[int, int, str]] = {}  # site -> (local midnight, next midnight, date): _date
        self.alerts_open = 0
        self._alerts_seen = 0  # the highest alert id published or looked at (alerts stored by others: _foreign_alerts)
        self._own_alerts: set[int] = set()  # ids this daemon stored above _alerts_seen (published by _applied)
        self.live: LiveStore | None = None
        self._stopping = trio.Event()
        self._log_stream = config.log
        self._priority = journal_prefix(config.log or sys.stderr)  # "<N>" before each line when journald reads it

    # --- logging -------------------------------------------------------------------------------------------

    def log(self, event: str, **fields: Any) -> None:
        """One JSON object per line: {"ts", "level", "event", ...} (`level`: error, warning or info; journald keeps
        each line as one entry, `journalctl -u anatole -o cat | jq` reads them back)."""
        level = fields.pop("level", None) or ("error" if event == "error" else "info")
        line = json.dumps({"ts": round(time.time(), 3), "level": level, "event": event, **fields}, default=str)
        stream = self._log_stream or sys.stderr
        try:
            stream.write(self._priority(level) + line + "\n")
            stream.flush()
        except (OSError, ValueError):
            pass

    def link_state(self, name: str, fmt: str, state: str, peer: str = "", detail: str = "") -> None:
        """An extension's connection (the PMS link), shown beside the sources in status and on the Live screen."""
        if name not in self.states:
            self.states[name] = SourceState(name=name, format=fmt, state=state, since=int(time.time()))
            self.received_by[name] = 0
        self._state(name, state, peer, detail)

    def _state(self, name: str, state: str, peer: str = "", detail: str = "") -> None:
        old = self.states[name]
        new = msgspec.structs.replace(old, state=state, since=int(time.time()), peer=peer, detail=detail,
                                      received=self.received_by[name])
        self.states[name] = new
        if (old.state, old.peer, old.detail) != (state, peer, detail):
            self.log("source", source=name, state=state, peer=peer, detail=detail,
                     level="warning" if state in ("down", "reconnecting") else "info")
            self.hub.publish(SourceUpdate(source=new))

    # --- lifecycle ----------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask for a graceful shutdown (as SIGTERM does)."""
        self._stopping.set()

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED, signals: bool = True) -> None:
        """Serve until stop() or SIGTERM/SIGINT; `task_status.started()` once the journal is replayed and every
        source and the subscriber socket are listening. The socket answers first: `anatole status` works (and says
        `starting`) while the records a previous run left in the journal are stored, and until the writer has
        drained at shutdown."""
        self._claim_socket()
        self.live = await trio.to_thread.run_sync(LiveStore, self.config.db_path)
        await trio.to_thread.run_sync(self.delivery.open)
        metrics = None
        try:
            await trio.to_thread.run_sync(self._load_counters)
            if self.config.metrics is not None:
                from pbx import metrics as prometheus

                try:
                    metrics = await prometheus.open_listener(*self.config.metrics)
                except OSError as exc:
                    host, port = self.config.metrics
                    raise DaemonError("metrics: " + _("cannot listen on {address}: {error}").format(
                        address=f"{host}:{port}", error=exc.strerror or exc)) from None
                self.metrics_port = metrics.socket.getsockname()[1]
            failed: DaemonError | None = None
            async with trio.open_nursery() as top:
                await top.start(self._serve_subscribers)
                if metrics is not None:
                    top.start_soon(prometheus.serve, self, metrics)
                    self.log("metrics", address=f"{self.config.metrics[0]}:{self.metrics_port}")  # type: ignore
                if self.notifier.enabled:
                    top.start_soon(self._notify_task)
                try:
                    await self._replay()
                except DaemonError as exc:  # raised below, outside the nursery (no exception group around it)
                    failed = exc
                else:
                    self.starting = False
                    await self._serve(task_status, signals)
                top.cancel_scope.cancel()
            if failed is not None:
                raise failed
        finally:
            if metrics is not None:
                with contextlib.suppress(Exception):
                    metrics.socket.close()
            for sub in list(self.hub.subscribers):
                self.hub.remove(sub)
            self.delivery.close()
            if self.live is not None:
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(self.live.close)
            with contextlib.suppress(OSError):
                self.socket_path.unlink()
            self.log("stopped", received=self.received, journaled=self.journaled, calls=self.stored_calls,
                     rejects=self.stored_rejects, duplicates=self.duplicates, errors=self.errors,
                     not_journaled=self.received - self.journaled)  # lost: the journal could not take them in time

    async def _serve(self, task_status: Any, signals: bool) -> None:
        """The journal task, the writer, the extensions and the sources, until stop(); then the drain."""
        async with trio.open_nursery() as outer:
            outer.start_soon(self._journaler)
            outer.start_soon(self._writer)
            async with trio.open_nursery() as inner:
                for ext in self.config.extensions:
                    if hasattr(ext, "run"):
                        await inner.start(ext.run, self)
                for src in self.config.sources:
                    await inner.start(self._source_task, src)
                inner.start_soon(self._counters_task)
                await inner.start(self.delivery.run)
                if signals:
                    await inner.start(self._signals)  # before READY=1: a stop that follows at once is graceful
                self.log("started", pid=os.getpid(), sources=len(self.sources), socket=str(self.socket_path))
                task_status.started()
                self.notifier.ready(self.summary())
                await self._stopping.wait()
                self.log("stopping", deadline=self.config.shutdown_deadline)
                self.notifier.stopping(f"stopping: storing what was received (at most "
                                       f"{self.config.shutdown_deadline:g} s)")
                inner.cancel_scope.cancel()  # stop accepting and reading
            # in-flight records: journal and writer drain what was received, within the deadline
            await self._send.aclose()
            outer.cancel_scope.deadline = trio.current_time() + self.config.shutdown_deadline

    async def _notify_task(self) -> None:
        """STATUS= lines for `systemctl status` now and then, WATCHDOG=1 at half systemd's interval, and while the
        journal replay goes on, a longer start timeout (a big replay must not count as a hung start)."""
        every = self.config.status_every
        if self.notifier.watchdog is not None:
            every = min(every, self.notifier.watchdog)
        while True:
            if self.starting:
                self.notifier.extend_start(max(3 * every, 30.0))
            self.notifier.send(f"STATUS={self.summary()}",
                               *(["WATCHDOG=1"] if self.notifier.watchdog is not None else []))
            await trio.sleep(every)

    def summary(self) -> str:
        """One line for `systemctl status`."""
        if self.starting:
            return f"starting: storing what the last run left in the journal ({self.replayed} so far)"
        up = sum(1 for s in self.states.values() if s.state in UP_STATES)
        return (f"{up}/{len(self.states)} sources up; received {self.received}, calls {self.stored_calls}, rejects "
                f"{self.stored_rejects}, backlog {self.received - self.processed}, errors {self.errors}")

    def errors_last_hour(self) -> int:
        times, limit = self._error_times, time.time() - 3600
        while times and times[0] < limit:
            times.popleft()
        return len(times)

    async def _signals(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            task_status.started()
            async for sig in signals:
                self.log("signal", signal=signal.Signals(sig).name)
                self.stop()
                return

    def _claim_socket(self) -> None:
        """Refuse to start beside a running daemon; remove a socket file a dead one left."""
        path = self.socket_path
        if path.exists():
            probe = stdsocket.socket(stdsocket.AF_UNIX, stdsocket.SOCK_STREAM)
            try:
                probe.connect(str(path))
            except OSError:
                path.unlink()
            else:
                raise DaemonError(_("a daemon is already running for this workspace ({path})").format(path=path))
            finally:
                probe.close()

    # --- the journal: received -> appended and committed, before anything else ----------------------------------

    async def _journaler(self) -> None:
        """Group commit: take every bundle waiting (up to batch_max entries), append them to the journal in one
        transaction, then hand them to the writer. Runs beside the writer on its own connection, so a record is
        durable one commit after it arrives, however far behind parsing, rating and storing are."""
        receive = self._receive
        closed = False
        try:
            while not closed:
                try:
                    work = [await receive.receive()]
                except trio.EndOfChannel:
                    break
                size = _size(work[0])
                while size < self.config.batch_max:
                    try:
                        w = receive.receive_nowait()
                    except trio.WouldBlock:
                        break
                    except trio.EndOfChannel:
                        closed = True
                        break
                    work.append(w)
                    size += _size(w)
                bundles = [w for w in work if isinstance(w, Bundle) and w.entries]
                if bundles:
                    await self._append(bundles)
                await self._work_send.send(work)  # waits when the writer is JOURNAL_AHEAD groups behind
        finally:
            self._work_send.close()

    async def _append(self, bundles: list[Bundle]) -> None:
        rows = [(b.source, b.received, kind, data) for b in bundles for kind, data in b.entries]
        live = self.live
        assert live is not None
        delay, tries = 0.05, 0
        while True:
            try:
                ids = await trio.to_thread.run_sync(live.append, rows)
                break
            except Exception as exc:  # the disk or the database: the records wait in memory, sources push back
                tries += 1
                self._error_times.append(time.time())
                self.log("error", where="journal", error=f"{type(exc).__name__}: {exc}", records=len(rows),
                         attempt=tries)
                await trio.sleep(delay)
                delay = min(delay * 2, 5.0)
        k = 0
        for b in bundles:
            b.ids = ids[k:k + len(b.entries)]
            k += len(b.entries)
        self.journaled += len(rows)

    # --- the writer: parse -> rate -> store -> publish ------------------------------------------------------

    async def _writer(self) -> None:
        receive = self._work_receive
        prune_at = trio.current_time() + PRUNE_EVERY
        poll_at = trio.current_time() + self.config.alerts_poll
        while True:
            work: list[Any] = []
            with trio.move_on_at(min(prune_at, poll_at)):
                try:
                    work = await receive.receive()
                except trio.EndOfChannel:
                    return
            if work:
                size = sum(map(_size, work))
                while size < self.config.batch_max:
                    try:
                        more = receive.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                    work += more
                    size += sum(map(_size, more))
                await self._process(work)
            if trio.current_time() >= prune_at:
                more_to_do = await self._prune()
                prune_at = trio.current_time() + (PRUNE_AGAIN if more_to_do else PRUNE_EVERY)
            if trio.current_time() >= poll_at:
                await self._foreign_alerts()
                poll_at = trio.current_time() + self.config.alerts_poll

    async def _foreign_alerts(self) -> None:
        """Alerts another process stored (the mobile import's [[alert]] rules): published to the subscribers (the
        console's alert list) and counted, as this daemon's own. Between batches, on the writer's connection."""
        live = self.live
        assert live is not None
        try:
            rows = await trio.to_thread.run_sync(live.alerts_after, self._alerts_seen)
        except Exception as exc:
            self.log("error", where="alerts", error=f"{type(exc).__name__}: {exc}")
            return
        for row in rows:
            self._alerts_seen = max(self._alerts_seen, int(row["id"]))
            if row["id"] in self._own_alerts:
                continue
            if row["acknowledged_at"] is None:
                self.alerts_open += 1
            self.hub.publish(Alert(id=row["id"], rule=row["rule"], kind=row["kind"], at=row["at"],
                                   message=row["message"], severity=row["severity"], site=row["site"] or "",
                                   extension=row["extension"] or "", call_id=row["call_id"], amount=row["amount"],
                                   currency=row["currency"] or "", acknowledged_by=row["acknowledged_by"] or "",
                                   acknowledged_at=row["acknowledged_at"]))
            self.log("alert", id=row["id"], rule=row["rule"], kind=row["kind"], message=row["message"],
                     stored_by="another process")
        self._own_alerts = {i for i in self._own_alerts if i > self._alerts_seen}

    async def _prune(self) -> bool:
        """Forget done journal rows older than journal_days, a bounded number per call; True when some are left."""
        live = self.live
        assert live is not None
        try:
            gone = await trio.to_thread.run_sync(live.prune, self.config.journal_days, PRUNE_ROWS)
        except Exception as exc:
            self.log("error", where="prune", error=f"{type(exc).__name__}: {exc}")
            return False
        if gone:
            self.log("pruned", rows=gone)
        return gone >= PRUNE_ROWS

    async def _process(self, work: list[Any]) -> None:
        """Store a batch. A record that fails is isolated inside (_store); what reaches here is the database or the
        disk failing: the records are in the journal, so retry with back-off for as long as it takes (sources
        push back meanwhile); on shutdown they stay pending and the next start stores them."""
        units: list[_Unit] = []
        events: list[Any] = []

        def step() -> None:  # one worker thread hop per batch; a retry only commits what is left
            if not units:
                units.extend(self._prepare(work))
            self._store_units(units, events)

        delay, tries = 0.1, 0
        while True:
            try:
                await trio.to_thread.run_sync(step)
                break
            except Exception as exc:
                tries += 1
                self._error_times.append(time.time())
                self.log("error", where="writer", error=f"{type(exc).__name__}: {exc}", records=len(work),
                         attempt=tries, detail="the batch is in the journal: retrying")
                self.live.rollback()  # type: ignore[union-attr]
                await trio.sleep(delay)
                delay = min(delay * 2, 5.0)
        for event in events:
            self.hub.publish(event)
        self.delivery.wake()
        self._committed()

    def _committed(self) -> None:
        for ext in self.config.extensions:
            if hasattr(ext, "committed"):
                try:
                    ext.committed()
                except Exception as exc:
                    self._error("committed", exc, extension=type(ext).__name__)

    def _prepare(self, work: list[Any]) -> list[_Unit]:
        """In a worker thread: the batch's journaled bundles, parsed and rated (once: a retried commit reuses
        them, the connection's parser state moves on once)."""
        groups: dict[tuple[str, Any], list[parsing.Entry]] = {}
        finals: list[tuple[str, Any]] = []
        for w in work:
            if isinstance(w, Bundle):
                groups.setdefault((w.source, w.conn), []).extend(
                    (jid, w.received, kind, data) for jid, (kind, data) in zip(w.ids, w.entries))
                if w.final:
                    finals.append((w.source, w.conn))
        units = self._units(groups, [w for w in work if not isinstance(w, Bundle)])
        for source, conn in finals:
            if source in self._parsers:
                self._parsers[source].close(conn)
        return units

    def _error(self, where: str, exc: BaseException, **fields: Any) -> None:
        """One record's failure: a JSON log line and the `errors` counter; the batch goes on."""
        self.errors += 1
        self._error_times.append(time.time())
        self.log("error", where=where, error=f"{type(exc).__name__}: {exc}", **fields)

    def _units(self, groups: dict[tuple[str, Any], list[parsing.Entry]], other: list[Any]) -> list[_Unit]:
        """Parse and rate journal entries, each record on its own: one that fails to parse or rate becomes a
        reject with the error."""
        units: list[_Unit] = []
        records: dict[str, list[tuple[int, CallRecord]]] = {}
        for (source, conn), entries in groups.items():
            for jid, item in self._parse(source, conn, entries):
                if isinstance(item, CallRecord):
                    item.line = jid
                    records.setdefault(source, []).append((jid, item))
                elif isinstance(item, Reject):
                    raw = item.raw or next((d.decode("utf-8", "replace") for j, _r, _k, d in entries if j == jid), "")
                    units.append(_Unit("reject", jid, source, _reject_row(source, raw, jid, item.reason)))
                elif isinstance(item, Skipped):
                    units.append(_Unit("skipped", jid, source))
        for source, recs in records.items():
            units += self._rate(source, recs)
        return units + [_Unit("other", None, "", work=w) for w in other]

    def _store_units(self, units: list[_Unit], events: list[Any]) -> None:
        """In a worker thread: commit the units not yet committed (see _commit_split), adding the events to
        publish to `events`. Called again after a database failure, it takes up where the last call stopped."""
        now = int(time.time())
        self._commit_split([u for u in units if not u.done], now, events)

    def _parse(self, source: str, conn: Any, entries: list[parsing.Entry]) -> list[tuple[int, Any]]:
        parsers = self._parsers.get(source)
        if parsers is None:  # a journal entry of a source no longer configured: keep it as a reject
            return [(jid, Reject(line=jid, raw=data.decode("utf-8", "replace"),
                                 reason=_("source {source} is no longer in anatole.toml").format(source=repr(source))))
                    for jid, _r, _k, data in entries]
        try:
            return parsers.parse(conn, entries)
        except Exception:  # one entry made the parser raise: parse them one by one to find it
            parsers.close(conn)
        out: list[tuple[int, Any]] = []
        for entry in entries:
            jid, data = entry[0], entry[3]
            try:
                out += parsers.parse(conn, [entry])
            except Exception as exc:
                parsers.close(conn)
                self._error("parse", exc, source=source, journal=jid)
                out.append((jid, Reject(line=jid, raw=data.decode("utf-8", "replace"),
                                        reason=f"parser error: {type(exc).__name__}: {exc}")))
        return out

    def _rate(self, source: str, recs: list[tuple[int, CallRecord]]) -> list[_Unit]:
        try:
            rows = self.config.rate(source, [r for _jid, r in recs])
            if len(rows) != len(recs):
                raise RuntimeError(f"the rating returned {len(rows)} rows for {len(recs)} records")
            return [_Unit("call", jid, source, row) for (jid, _r), row in zip(recs, rows)]
        except Exception:  # one record made the rating raise: rate them one by one to find it
            pass
        out: list[_Unit] = []
        for jid, rec in recs:
            try:
                rows = self.config.rate(source, [rec])
                out.append(_Unit("call", jid, source, rows[0]))
            except Exception as exc:
                self._error("rate", exc, source=source, journal=jid)
                out.append(_Unit("reject", jid, source, _reject_row(
                    source, rec.raw or "", jid, f"rating error: {type(exc).__name__}: {exc}")))
        return out

    def _commit_split(self, units: list[_Unit], now: int, events: list[Any]) -> None:
        """Commit the units in one transaction; when that fails because of one of them, split the batch in two and
        commit each half, down to the one record that fails, which is stored as a reject with the error (a few
        transactions for one bad record in thousands). A failure that is the database's (locked, I/O, full) is
        raised for the caller to retry."""
        if not units:
            return
        try:
            result = self._commit(units, now)
        except Exception as exc:
            if _environmental(exc):
                raise
            if len(units) > 1:
                mid = len(units) // 2
                self._commit_split(units[:mid], now, events)
                self._commit_split(units[mid:], now, events)
                return
            unit = units[0]
            if unit.kind == "other":
                unit.done = True
                self._error("store", exc, work=type(unit.work).__name__)
                return
            self._error("store", exc, source=unit.source, journal=unit.jid)
            raw = str(unit.row[_RAW] or "") if unit.kind == "call" and unit.row else ""
            if unit.kind == "reject" and unit.row:
                raw = str(unit.row[5] or "")
            reason = f"not stored: {type(exc).__name__}: {exc}"
            # if even the reject cannot be stored, the database is at fault: raise, the batch is retried
            result = self._commit([_Unit("reject", unit.jid, unit.source,
                                         _reject_row(unit.source, raw, unit.jid or 0, reason, unique=True))], now)
        for u in units:
            u.done = True
        events += self._applied(result, now)

    def _commit(self, units: list[_Unit], now: int) -> _Result:
        """One transaction: calls, rejects, alerts, extension steps, acknowledgements and journal marks. Its
        commit is not fsynced (store.live: the journal redoes a lost batch) unless it holds work the journal does
        not have (acknowledgements, alerts raised outside the records) or raises alerts (they are delivered at
        once): a batch found to raise one is rolled back and done again with a durable commit (alerts are rare).
        With an extension step (the hotel's charges) every batch of calls is durable: its step is not done twice."""
        durable = any(u.kind == "other" for u in units) or (self._steps and any(u.kind == "call" for u in units))
        try:
            return self._transaction(units, now, durable)
        except _NeedsDurable:
            return self._transaction(units, now, True)

    def _transaction(self, units: list[_Unit], now: int, durable: bool) -> _Result:
        live = self.live
        assert live is not None
        res = _Result()
        saved = self.evaluator.state() if self.evaluator.stateful else None
        calls = [u for u in units if u.kind == "call"]
        live.begin(durable)
        try:
            ids = live.call_ids([u.row for u in calls])
            rejects = [u for u in units if u.kind == "reject"]
            live.insert_rejects([u.row for u in rejects])
            res.rejects = len(rejects)
            for u in rejects:
                res.rejected_by[u.source] = res.rejected_by.get(u.source, 0) + 1
            res.marks += [("reject", u.jid) for u in rejects if u.jid is not None]
            res.marks += [("skipped", u.jid) for u in units if u.kind == "skipped" and u.jid is not None]
            for u, cid in zip(calls, ids):  # cid None: a stored call's key, or the same record twice in the batch
                if u.jid is not None:
                    res.marks.append(("call" if cid is not None else "duplicate", u.jid))
                if cid is None:
                    res.duplicates += 1
                else:
                    res.calls.append((cid, u.row))
            if self.evaluator.rules or self._steps:  # as dicts, for the rules and the extension steps
                for cid, row in res.calls:
                    d = dict(zip(CALL_COLUMNS, row))
                    d["id"] = cid
                    res.stored.append(d)
            alerts: list[dict[str, Any]] = []
            for d in res.stored if self.evaluator.rules else ():  # (no rules: nothing to keep for them either)
                try:
                    alerts += self.evaluator.call(d)
                except Exception as exc:
                    res.errors.append(("alert", exc, {"call": d["id"], "source": d["source"]}))
            for ext in self.config.extensions:
                if res.stored and hasattr(ext, "stored"):
                    alerts += self._extension(ext, res.stored, res.errors)
            for u in units:
                w = u.work
                if isinstance(w, ActiveAlerts):
                    try:
                        alerts += self.evaluator.active(w.site, w.outgoing, w.at)
                    except Exception as exc:
                        res.errors.append(("alert", exc, {"site": w.site}))
                elif isinstance(w, RaiseAlert):
                    alerts.append(w.alert)
                elif isinstance(w, Ack) and live.acknowledge(w.alert, w.by, now):
                    res.acks.append(AlertAcknowledged(id=w.alert, by=w.by, at=now))
            if alerts and not durable:
                raise _NeedsDurable
            res.alerts = list(zip(alerts, live.insert_alerts(alerts)))
            self.delivery.schedule(live.conn, res.alerts)
            live.mark_done(res.marks)
            for source in {u.source for u in calls}:
                if self._overlapping.get(source):
                    groups_of = [u.row[_GRP] for u in calls if u.source == source and u.row[_GRP]]
                    if groups_of:
                        live.merge_overlapping_legs(source, groups_of)
            live.commit()
        except BaseException:
            live.rollback()
            if saved is not None:
                self.evaluator.restore(saved)
            raise
        return res

    def _extension(self, ext: Any, stored: list[dict[str, Any]], errors: list[tuple]) -> list[dict[str, Any]]:
        """An extension's step (the hotel's charges) under a savepoint; when it raises, again call by call, so
        that one call's failure costs that call's step only (the call itself stays stored)."""
        conn = self.live.conn  # type: ignore[union-attr]
        name = type(ext).__name__
        conn.execute("SAVEPOINT extension")
        try:
            got = list(ext.stored(conn, stored))
            conn.execute("RELEASE extension")
            return got
        except Exception:
            conn.execute("ROLLBACK TO extension")
            conn.execute("RELEASE extension")
        out: list[dict[str, Any]] = []
        for d in stored:
            conn.execute("SAVEPOINT extension")
            try:
                out += ext.stored(conn, [d])
                conn.execute("RELEASE extension")
            except Exception as exc:
                conn.execute("ROLLBACK TO extension")
                conn.execute("RELEASE extension")
                errors.append((name, exc, {"call": d["id"], "source": d["source"]}))
        return out

    def _applied(self, res: _Result, now: int) -> list[Any]:
        """After a commit: counters, log lines and the events to publish."""
        for where, exc, fields in res.errors:
            self._error(where, exc, **fields)
        self.processed += len(res.marks)
        self.stored_calls += len(res.calls)
        self.stored_rejects += res.rejects
        self.duplicates += res.duplicates
        for source, n in res.rejected_by.items():
            self.rejects_by[source] = self.rejects_by.get(source, 0) + n
        events: list[Any] = []
        stored_by = self.stored_by
        for cid, row in res.calls:
            stored_by[row[_SOURCE]] = stored_by.get(row[_SOURCE], 0) + 1
            events.append(self._finished(cid, row))
            self._count(row, now)
        for alert, aid in res.alerts:
            if aid is not None:
                self.alerts_open += 1
                self._own_alerts.add(aid)
                events.append(Alert(id=aid, rule=alert["rule"], kind=alert["kind"], at=alert["at"],
                                    message=alert["message"], severity=alert["severity"], site=alert["site"],
                                    extension=alert["extension"], call_id=alert["call_id"], amount=alert["amount"],
                                    currency=alert["currency"]))
                self.log("alert", id=aid, rule=alert["rule"], kind=alert["kind"], message=alert["message"])
        self.alerts_open = max(0, self.alerts_open - len(res.acks))
        events += res.acks
        return events

    def _finished(self, cid: int, r: tuple) -> FinishedCall:
        """The event of a stored call (`r`: its store row)."""
        key = ""
        source = self.sources.get(r[_SOURCE])
        if source is not None and source.format in LIVE_PARSE_FORMAT and r[_GRP]:
            key = f"{r[_SOURCE]}:{r[_GRP]}"
        return FinishedCall(id=cid, source=r[_SOURCE], site=r[_SITE], start=r[_START], duration=r[_DURATION],
                            billable=r[_BILLABLE], direction=r[_DIRECTION], disposition=r[_DISPOSITION],
                            status=r[_STATUS], extension=r[_EXTENSION] or "", caller=r[_CALLER] or "",
                            dialled=r[_DIALLED] or "", number=r[_NUMBER] or "", destination=r[_DESTINATION] or "",
                            band=r[_BAND] or "", cost=r[_COST], currency=r[_CURRENCY] or "", key=key)

    async def _replay(self) -> None:
        """Process the journal entries a previous run left pending (a crash), before taking new records. A record
        that fails is a reject like any other (see _store); the database failing is retried a few times, then the
        daemon stops with that error (the entries stay pending for the next start)."""
        live = self.live
        assert live is not None
        after, total = 0, 0
        while True:
            try:
                pending = await trio.to_thread.run_sync(live.pending, self.config.batch_max, after)
            except sqlite3.Error as exc:
                raise DaemonError(_("cannot read the journal: {kind}: {error}").format(
                    kind=type(exc).__name__, error=exc)) from None
            if not pending:
                break
            groups: dict[tuple[str, Any], list[parsing.Entry]] = {}
            for jid, source, received, kind, data in pending:
                groups.setdefault((source, "replay"), []).append((jid, received, kind, bytes(data)))
            after = pending[-1][0]
            units = await trio.to_thread.run_sync(self._units, groups, [])
            events: list[Any] = []
            for attempt in range(1, 6):
                try:
                    await trio.to_thread.run_sync(self._store_units, units, events)
                    break
                except Exception as exc:
                    live.rollback()
                    self.log("error", where="replay", error=f"{type(exc).__name__}: {exc}", records=len(pending),
                             attempt=attempt)
                    if attempt == 5:
                        raise DaemonError(_("cannot store the journal's pending records: {kind}: {error}").format(
                            kind=type(exc).__name__, error=exc)) from None
                    await trio.sleep(0.2 * attempt)
            for event in events:
                self.hub.publish(event)
            total += len(pending)
            self.replayed = total
        self._committed()
        for p in self._parsers.values():
            p.close("replay")
        self.replayed = total
        if total:
            self.log("replayed", records=total)
        self.processed = 0  # the replay is not this run's receipts
        self.stored_calls = self.stored_rejects = self.duplicates = 0
        self.stored_by.clear()
        self.rejects_by.clear()

    # --- counters -----------------------------------------------------------------------------------------

    def _load_counters(self) -> None:
        """Today's and this hour's totals from the store, so that a restart does not reset them."""
        live = self.live
        assert live is not None
        now = int(time.time())
        hour = now // 3600
        for site, info in self.config.sites.items():
            midnight, date = _local_midnight(now, info.timezone)
            calls, costs = 0, {}
            for name, currency, n, cost in live.totals_since(midnight):
                if name == site:
                    calls += int(n)
                    if cost:
                        costs[currency or ""] = int(cost)
            if calls:
                self._day[site] = (date, calls, costs)
        for name, currency, _n, cost in live.totals_since(hour * 3600):
            if cost:
                self._hour.setdefault(name, (hour, {}))[1][currency or ""] = int(cost)
        if any(r.kind == "rate" for r in self.config.rules):
            self.evaluator.preload(live.extension_hours((hour - 1) * 3600))
        self.alerts_open = live.open_alerts()
        self._alerts_seen = live.last_alert_id()
        live.prune(self.config.journal_days, PRUNE_ROWS)

    def _count(self, r: tuple, now: int) -> None:
        """A stored call (its store row) in the counters: calls of the last minute, today's and this hour's costs."""
        site = r[_SITE]
        cost = int(r[_COST] or 0) if r[_BILLED] else 0
        currency = r[_CURRENCY] or ""
        self._recent.append(now)
        date = self._date(site, r[_START])
        day = self._day.get(site)
        if day is None or day[0] < date:
            day = self._day[site] = (date, 0, {})
        if day[0] == date:
            costs = day[2]
            if cost:
                costs[currency] = costs.get(currency, 0) + cost
            self._day[site] = (date, day[1] + 1, costs)
        hour = now // 3600
        h = self._hour.get(site)
        if h is None or h[0] != hour:
            h = self._hour[site] = (hour, {})
        if r[_START] >= hour * 3600 and cost:
            h[1][currency] = h[1].get(currency, 0) + cost

    def _date(self, site: str, when: int) -> str:
        """The site's local date at `when`; the day's bounds are kept per site (one time zone look-up a day, not
        one per call)."""
        lo, hi, date = self._days.get(site, (0, 0, ""))
        if lo <= when < hi:
            return date
        info = self.config.sites.get(site)
        if info is None:
            return time.strftime("%Y-%m-%d", time.gmtime(when))
        lo, date = _local_midnight(when, info.timezone)
        hi = _local_midnight(lo + 25 * 3600, info.timezone)[0]  # the next midnight (days are 23 to 25 hours)
        if lo <= when < hi:
            self._days[site] = (lo, hi, date)
        return date

    def counters(self) -> Counters:
        now = int(time.time())
        while self._recent and self._recent[0] < now - 60:
            self._recent.popleft()
        hour = now // 3600
        day = {s: v for s, v in self._day.items() if v[0] == self._date(s, now)}
        hourly = {s: v[1] for s, v in self._hour.items() if v[0] == hour}
        currency = self.config.currency
        return Counters(at=now, active=len(self.active), calls_last_minute=len(self._recent),
                        calls_today=sum(v[1] for v in day.values()),
                        costs_today={s: dict(v[2]) for s, v in day.items()},
                        costs_this_hour={s: dict(c) for s, c in hourly.items()},
                        cost_today={s: v[2].get(currency, 0) for s, v in day.items()},
                        cost_this_hour={s: c.get(currency, 0) for s, c in hourly.items()},
                        currency=currency, alerts_open=self.alerts_open)

    async def _counters_task(self) -> None:
        while True:
            await trio.sleep(self.config.counters_every)
            self.hub.publish(self.counters())

    def status(self) -> Status:
        states = [msgspec.structs.replace(s, received=self.received_by[s.name]) for s in self.states.values()]
        return Status(pid=os.getpid(), started=self.started, workspace=str(self.config.workspace), sources=states,
                      counters=self.counters(), received=self.received, stored_calls=self.stored_calls,
                      stored_rejects=self.stored_rejects, duplicates=self.duplicates,
                      journal_pending=self.received - self.processed, replayed=self.replayed,
                      subscribers=len(self.hub.subscribers), published=self.hub.published,
                      journaled=self.journaled, errors=self.errors, starting=self.starting,
                      errors_last_hour=self.errors_last_hour())


    # --- active calls (AMI/ESL) ------------------------------------------------------------------------------

    def call_active(self, call: ActiveCall) -> None:
        self.active[call.key] = call
        self.hub.publish(call)
        if call.direction == "outgoing" and any(r.kind == "concurrent" for r in self.config.rules):
            n = sum(1 for c in self.active.values() if c.site == call.site and c.direction == "outgoing")
            with contextlib.suppress(trio.WouldBlock, trio.ClosedResourceError):
                self._send.send_nowait(ActiveAlerts(call.site, n, int(time.time())))

    def call_gone(self, key: str) -> None:
        if self.active.pop(key, None) is not None:
            self.hub.publish(CallGone(key=key))

    # --- sources --------------------------------------------------------------------------------------------

    async def submit(self, source: str, conn: Any, entries: list[tuple[str, bytes]], final: bool = False) -> None:
        """Hand received records to the writer (waits when it is behind: back-pressure)."""
        if not entries and not final:
            return
        self.received += len(entries)
        self.received_by[source] += len(entries)
        if entries:
            self.last_at[source] = time.time()
        await self._send.send(Bundle(source, conn, time.time_ns() // 1000, entries, final))

    async def _source_task(self, src: Any, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        if src.format == "asterisk-ami":
            from pbx import ami

            task_status.started()
            await self._connector(src, ami.session)
        elif src.format == "freeswitch-esl":
            from pbx import esl

            task_status.started()
            await self._connector(src, esl.session)
        elif src.listen or src.connect:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._garbage_flusher, src)
                if src.listen:
                    await self._listener(src, task_status)
                else:
                    task_status.started()
                    await self._connector(src, _smdr)
        else:
            self._state(src.name, "down", detail=_("no listen or connect address: file imports only"))
            task_status.started()

    async def _listener(self, src: Any, task_status: Any) -> None:
        host, port = _split(src.listen)
        try:
            listeners = await trio.open_tcp_listeners(port, host=host or None)
        except OSError as exc:
            self._state(src.name, "down", detail=_("cannot listen on {address}: {error}").format(
                address=src.listen, error=exc))
            self.log("error", source=src.name, error=f"cannot listen on {src.listen}: {exc}")
            task_status.started()
            return
        self.ports[src.name] = listeners[0].socket.getsockname()[1]
        self._state(src.name, "listening", peer=f"{host}:{self.ports[src.name]}")

        allow = getattr(src, "allow", None)

        async def handler(stream: trio.SocketStream) -> None:
            peer = _peer(stream)
            host = peer.rpartition(":")[0]
            addr = peers.peer_address(host)
            if not peers.allowed(allow, addr):
                await self._refuse(src, stream, host, peer, _("not in the source's allow list"))
                return
            old = self._current.get(src.name)
            if old is not None:
                # one logical connection per source: a PBX that reconnects (its old socket half-open) replaces it;
                # another address may only when the allow list names it
                if addr != old[1] and allow is None:
                    await self._refuse(src, stream, host, peer, _(
                        "the connection from {address} is live, and without an allow list only that address may "
                        "replace it").format(address=old[1]))
                    return
                self.log("replaced", source=src.name, peer=peer, detail="a new connection replaces the old one")
                old[0].cancel()
            with trio.CancelScope() as scope:
                self._current[src.name] = (scope, addr)
                self._state(src.name, "connected", peer=peer)
                try:
                    await self._smdr_session(src, stream, peer)
                finally:
                    if self._current.get(src.name, (None,))[0] is scope:
                        del self._current[src.name]
                        self._state(src.name, "listening", peer=f"{host}:{self.ports[src.name]}")

        await trio.serve_listeners(handler, listeners, task_status=task_status)

    async def _refuse(self, src: Any, stream: trio.SocketStream, host: str, peer: str, reason: str) -> None:
        """Close a connection at once, without reading from it; log it and raise the "data from an unknown source"
        alert, both rate-limited per peer address (pbx/peers.py)."""
        now = time.time()
        alert, refusals = self._refusals.refuse(src.name, host, now)
        with contextlib.suppress(OSError):  # a reset, not a graceful close: nothing of theirs is taken
            stream.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_LINGER, struct.pack("ii", 1, 0))
        await stream.aclose()
        if refusals is not None:
            self.log("refused", source=src.name, peer=peer, reason=reason, refusals=refusals)
        if alert:
            with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
                await self._send.send(RaiseAlert(peers.refusal_alert(src.name, src.site, host, reason, int(now))))

    async def _connector(self, src: Any, session: Callable[..., Any]) -> None:
        """Connect, run the session, and on failure reconnect with exponential back-off plus jitter."""
        host, port = _split(src.connect)
        first, cap = self.config.backoff
        delay = first
        while True:
            self._state(src.name, "connecting" if delay == first else "reconnecting", peer=src.connect,
                        detail=self.states[src.name].detail)
            began = trio.current_time()
            try:
                stream = await trio.open_tcp_stream(host, port)
            except OSError as exc:
                self._state(src.name, "reconnecting", peer=src.connect, detail=_("connect: {error}").format(error=exc))
            else:
                _keepalive(stream)
                self._state(src.name, "connected", peer=src.connect)
                try:
                    async with stream:
                        await session(self, src, stream, src.connect)
                    detail = _("the PBX closed the connection")
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, SessionError,
                        ExceptionGroup) as exc:
                    detail = connection_fault(exc, (SessionError,))
                self._state(src.name, "reconnecting", peer=src.connect, detail=detail)
                if trio.current_time() - began > 10 * first:
                    delay = first  # it worked for a while: come back quickly
            await trio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, cap)

    async def _smdr_session(self, src: Any, stream: trio.SocketStream, peer: str) -> None:
        """Read an SMDR stream: log in when the format needs it, then frame lines and submit them."""
        conn = next(self._conn_ids)
        framer = LineFramer(telnet=src.format == "panasonic")
        _keepalive(stream)
        if src.format == "panasonic" and src.connect and src.password:
            await _panasonic_login(stream, src)
        try:
            while True:
                data = await stream.receive_some(65536)
                if not data:
                    break
                await self.submit(src.name, conn, _entries(self._gated(src.name, framer.feed(data), peer)))
        finally:
            rest = framer.close()
            kept = self._gated(src.name, [rest], peer) if rest is not None else []
            entries = _entries(kept)
            if entries and entries[0][0] == parsing.LINE:
                entries = [(parsing.PARTIAL, entries[0][1])]
                self.log("partial", source=src.name, bytes=len(rest))  # type: ignore[arg-type]
            with trio.CancelScope(shield=True):
                with trio.move_on_after(self.config.shutdown_deadline):
                    try:
                        await self.submit(src.name, conn, entries, final=True)
                        if self._stopping.is_set():
                            await self._summarise(src.name)
                    except (trio.ClosedResourceError, trio.BrokenResourceError):
                        self.log("error", source=src.name, error="shutting down: partial line not journaled")

    def _gated(self, source: str, pieces: list[bytes | Overlong | None], peer: str) -> list[bytes | Overlong | None]:
        """The framed pieces less the garbage over the source's limit (counted for the next summary)."""
        gate = self._gates[source]
        now = time.time()
        kept = [p for p in pieces if p is None or gate.admit(p, now, peer)]
        if len(kept) < len(pieces):
            self._gate_wake[source].set()
        return kept

    async def _garbage_flusher(self, src: Any) -> None:
        """Store the summary of each window's suppressed garbage when the window ends (and at shutdown)."""
        gate = self._gates[src.name]
        try:
            while True:
                due = gate.due(time.time())
                if due is None:
                    await self._gate_wake[src.name].wait()
                    self._gate_wake[src.name] = trio.Event()
                    continue
                await trio.sleep(due)
                await self._summarise(src.name)
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(self.config.shutdown_deadline), \
                    contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
                await self._summarise(src.name)

    async def _summarise(self, source: str) -> None:
        """One journal entry (stored as a reject) that says how many garbage lines were dropped, whence, when: the
        count is the text's first word, so that lines received = calls + rejects + duplicates + suppressed."""
        got = self._gates[source].summary()
        if got is None:
            return
        count, first, last, who = got
        stamp = "%Y-%m-%dT%H:%M:%SZ"
        text = (f"{count} more garbage lines suppressed from {', '.join(p for p in who if p) or 'the PBX'} between "
                f"{time.strftime(stamp, time.gmtime(first))} and {time.strftime(stamp, time.gmtime(last))}")
        self.log("garbage", source=source, suppressed=count, peers=who, first=round(first, 3), last=round(last, 3))
        await self.submit(source, "garbage", [(parsing.SUPPRESSED, text.encode())])

    # --- subscribers --------------------------------------------------------------------------------------

    async def _serve_subscribers(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
        # made in a private folder (mode 0700), given its mode there, then linked into place: nobody can connect
        # before the mode is right (a chmod after bind leaves a window; umask is per process, not per thread)
        private = Path(tempfile.mkdtemp(prefix=".sock-", dir=self.socket_path.parent))
        try:
            made = private / "s"
            await sock.bind(str(made))
            os.chmod(made, 0o660)
            try:
                os.link(made, self.socket_path)  # fails, rather than replace it, if another daemon just made one
            except FileExistsError:
                sock.close()
                raise DaemonError(_("a daemon is already running for this workspace ({path})").format(
                    path=self.socket_path)) from None
            except OSError:  # a file system without hard links: a rename is as atomic (_claim_socket ran)
                os.rename(made, self.socket_path)
        finally:
            shutil.rmtree(private, ignore_errors=True)
        sock.listen(64)
        listener = trio.SocketListener(sock)
        await trio.serve_listeners(self._subscriber, [listener], task_status=task_status)

    def hello(self) -> Hello:
        return Hello(version=PROTOCOL_VERSION, pid=os.getpid(), started=self.started,
                     workspace=str(self.config.workspace),
                     sources=[msgspec.structs.replace(s, received=self.received_by[s.name])
                              for s in self.states.values()])

    async def _subscriber(self, stream: trio.SocketStream) -> None:
        sub = Subscriber(f"client-{next(self._conn_ids)}", self.config.subscriber_queue)
        reader = FrameReader()
        user = _peer_user(stream)  # who is at the other end, from the kernel: acknowledgements are theirs
        if len(self.hub.subscribers) >= MAX_SUBSCRIBERS:
            await _send_error(stream, _("too many clients ({limit}): try again later").format(limit=MAX_SUBSCRIBERS))
            await stream.aclose()
            return
        try:
            async with stream, trio.open_nursery() as nursery:
                await stream.send_all(encode(self.hello()))
                self.hub.add(sub)
                nursery.start_soon(self._subscriber_writer, stream, sub, nursery.cancel_scope)
                while True:
                    data = await stream.receive_some(65536)
                    if not data:
                        break
                    try:
                        messages = reader.feed(data)
                        if reader.pending > MAX_CLIENT_MESSAGE:
                            raise ProtocolError(_("a client message of more than {limit} bytes").format(
                                limit=MAX_CLIENT_MESSAGE))
                    except ProtocolError as exc:
                        await _send_error(stream, str(exc))
                        break
                    for message in messages:
                        if isinstance(message, Subscribe):
                            unknown = [t for t in message.topics if t not in TOPICS]
                            if unknown:
                                await _send_error(stream, _("unknown topic(s) {unknown}: topics are {topics}").format(
                                    unknown=unknown, topics=list(TOPICS)))
                                return
                            sub.topics = set(message.topics)
                            if "active" in sub.topics:
                                for call in list(self.active.values()):
                                    sub.offer(call, "active")
                            if "counters" in sub.topics:
                                sub.offer(self.counters(), "counters")
                        elif isinstance(message, Acknowledge):
                            by = user or f"{message.by} (unverified)"
                            web = bool(user) and message.by.startswith("web:") and user == _own_user()
                            if web:  # `anatole web` under the daemon's own account, for one of its logins: that
                                by = message.by  # account writes the store anyway, the claim gives it nothing more
                            self.log("acknowledge", alert=message.alert, by=by, client=sub.name,
                                     **({"claimed": message.by} if message.by != by else {}),
                                     **({"peer": user} if web else {}))
                            await self._send.send(Ack(message.alert, by))
                        elif isinstance(message, StatusRequest):
                            sub.offer(self.status(), "")
                        else:
                            await _send_error(stream, _(
                                "{kind} is not a client message").format(kind=type(message).__name__))
                            return
                nursery.cancel_scope.cancel()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        except ExceptionGroup as group:  # the same inside the nursery (a client gone with frames unread: a reset)
            rest = group.subgroup(lambda e: not isinstance(
                e, (trio.BrokenResourceError, trio.ClosedResourceError, ExceptionGroup)))
            if rest is not None:
                raise
        finally:
            self.hub.remove(sub)

    async def _subscriber_writer(self, stream: trio.SocketStream, sub: Subscriber, scope: trio.CancelScope) -> None:
        try:
            while True:
                batch = await sub.next_batch()
                with trio.move_on_after(30) as timer:  # a client that reads nothing for this long is dropped
                    await stream.send_all(b"".join(encode(m) for m in batch))
                if timer.cancelled_caught:
                    self.log("subscriber", client=sub.name, detail="dropped: not reading")
                    break
                sub.delivered += len(batch)
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.EndOfChannel):
            pass
        scope.cancel()


async def _smdr(daemon: Daemon, src: Any, stream: trio.SocketStream, peer: str) -> None:
    await daemon._smdr_session(src, stream, peer)


class _NeedsDurable(Exception):
    """A batch transaction without a durable commit raised an alert: done again with one (Daemon._commit)."""


class DaemonError(Exception):
    """The daemon cannot start (another one runs, the socket cannot be made)."""


class SessionError(Exception):
    """A PBX session failed in a way that calls for a reconnect (login refused, protocol error)."""


SELF_CONTAINED = {"avaya-ipo", "mitel", "panasonic", "asterisk"}  # one record per line, no header needed to read it


def _text_garbage(src: Any) -> Callable[[bytes], bool] | None:
    """For the garbage gate: whether the source's format rejects a printable line read on its own. Only for formats
    whose lines stand alone (not CSV read through a header row, not multi-line documents)."""
    if src.format not in SELF_CONTAINED:
        return None
    ctx = ParseContext(timezone=src.timezone, profile=src.profile, encoding=src.encoding)

    def rejected(line: bytes) -> bool:
        ctx.reference = int(time.time())
        return isinstance(parsing.one_line(src.format, line, ctx), Reject)

    return rejected


def _entries(pieces: list[bytes | Overlong | None]) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    for p in pieces:
        if p is None:
            continue
        if isinstance(p, Overlong):
            out.append((parsing.OVERLONG, p.head + f" ... ({p.size} bytes)".encode()))
        else:
            out.append((parsing.LINE, p))
    return out


@dataclass
class _Unit:
    """One item of a batch for the store: a rated call row, a reject row, a skipped line, or other work (an
    acknowledgement, a concurrency check)."""

    kind: str  # "call", "reject", "skipped", "other"
    jid: int | None
    source: str
    row: tuple | None = None
    work: Any = None
    done: bool = False  # committed (a retried batch skips it)


@dataclass
class _Result:
    """What one committed transaction did."""

    calls: list[tuple[int, tuple]] = field(default_factory=list)  # (id, store row) of each call stored
    stored: list[dict[str, Any]] = field(default_factory=list)  # the same as dicts, when rules or steps need them
    rejects: int = 0
    rejected_by: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    marks: list[tuple[str, int]] = field(default_factory=list)
    alerts: list[tuple[dict[str, Any], int | None]] = field(default_factory=list)
    acks: list[AlertAcknowledged] = field(default_factory=list)
    errors: list[tuple[str, BaseException, dict[str, Any]]] = field(default_factory=list)


def _size(work: Any) -> int:
    return len(work.entries) if isinstance(work, Bundle) else 1


def _reject_row(source: str, raw: str, jid: int, reason: str, *, unique: bool = False) -> tuple:
    """A live reject (store.REJECT_COLUMNS order). `unique`: keyed by the journal entry, not the content."""
    raw = raw[:65536]
    digest = f"journal:{jid}" if unique else _digest(source, raw, jid, reason)
    return (source, None, f"live:{source}", digest, 0, raw, reason[:2000])


def _environmental(exc: BaseException) -> bool:
    """A failure of the database or the machine (not of one record): retried as a whole, never rejected."""
    if isinstance(exc, (OSError, MemoryError)):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        return any(w in text for w in ("locked", "busy", "disk", "full", "i/o", "readonly", "unable to open"))
    return False


def _digest(source: str, raw: str, jid: int, reason: str) -> str:
    """The synthetic 'file hash' of a live reject: the content, so that a record resent after a reconnect is one
    reject (as a resent call is one call); lines the framer cut (partial, overlong) are kept per receipt."""
    import hashlib

    if reason.startswith("line: "):
        return f"journal:{jid}"
    return hashlib.sha256(f"{source}\n{raw}".encode()).hexdigest()


def _split(address: str) -> tuple[str, int]:
    host, _colon, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def _peer(stream: trio.SocketStream) -> str:
    try:
        host, port = stream.socket.getpeername()[:2]
        return f"{host}:{port}"
    except (OSError, ValueError, TypeError):
        return ""


def _peer_user(stream: trio.SocketStream) -> str:
    """The user name of the process at the other end of a Unix socket (SO_PEERCRED, Linux), "uid N" when the uid
    has no name, "" when the system does not tell (the client's own claim is then marked unverified)."""
    try:
        creds = stream.socket.getsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
    except (AttributeError, OSError, struct.error):
        return ""
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _own_user() -> str:
    """This process's user name, as _peer_user names a peer."""
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return f"uid {os.getuid()}"


def _keepalive(stream: trio.SocketStream) -> None:
    """Detect dead peers on silent streams (SMDR says nothing at night)."""
    try:
        stream.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_KEEPALIVE, 1)
        if hasattr(stdsocket, "TCP_KEEPIDLE"):
            stream.setsockopt(stdsocket.IPPROTO_TCP, stdsocket.TCP_KEEPIDLE, 60)
            stream.setsockopt(stdsocket.IPPROTO_TCP, stdsocket.TCP_KEEPINTVL, 15)
            stream.setsockopt(stdsocket.IPPROTO_TCP, stdsocket.TCP_KEEPCNT, 4)
    except OSError:
        pass


async def _panasonic_login(stream: trio.SocketStream, src: Any) -> None:
    """The telnet-style dialogue: send the user ("SMDR"), wait for the password prompt, send the password."""
    await stream.send_all((src.username or "SMDR").encode() + b"\r\n")
    seen = b""
    with trio.move_on_after(PANASONIC_LOGIN) as timer:
        while b"password" not in seen.lower():
            data = await stream.receive_some(4096)
            if not data:
                raise SessionError("login: " + _("the PBX closed the connection before asking for the password"))
            seen = (seen + data)[-4096:]  # bounded: the prompt is the last thing it sends
    if timer.cancelled_caught:
        raise SessionError("login: " + _(
            "no password prompt within {seconds} s").format(seconds=f"{PANASONIC_LOGIN:g}"))
    await stream.send_all(src.password.encode() + b"\r\n")


async def _send_error(stream: trio.SocketStream, message: str) -> None:
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        await stream.send_all(encode(Error(message=message)))


def _local_midnight(when: int, zone: str) -> tuple[int, str]:
    import datetime as dt
    from zoneinfo import ZoneInfo

    local = dt.datetime.fromtimestamp(when, ZoneInfo(zone))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return int(midnight.timestamp()), local.strftime("%Y-%m-%d")
