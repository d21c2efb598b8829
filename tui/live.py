"""The console's side of the subscriber protocol: a plain blocking Unix socket read in a worker thread.

`LiveClient.run` connects, waits for Hello, subscribes, and hands every batch of decoded messages (all the whole
frames of one recv) to `post`; when the daemon is not there or goes away it reports why and retries every
`retry` seconds until `stop()`. `send` (acknowledging an alert) may be called from any thread.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from i18n import _
from pbx.protocol import TOPICS, Error, FrameReader, Hello, Message, ProtocolError, Subscribe, encode


@dataclass(frozen=True)
class Connected:
    hello: Hello


@dataclass(frozen=True)
class Disconnected:
    reason: str
    retry: float


@dataclass(frozen=True)
class Batch:
    messages: list[Message]


Event = Connected | Disconnected | Batch


class LiveClient:
    def __init__(self, path: Path, *, topics: tuple[str, ...] = TOPICS, retry: float = 5.0,
                 coalesce: float = 0.2) -> None:
        self.path = Path(path)
        self.topics = topics
        self.retry = retry
        self.coalesce = coalesce  # at most one batch per this many seconds: the screen redraws once per batch
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._send_lock = threading.Lock()

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def send(self, message: Message) -> bool:
        """Send one message to the daemon; False when not connected."""
        with self._send_lock:
            sock = self._sock
            if sock is None:
                return False
            try:
                sock.sendall(encode(message))
            except OSError:
                return False
            return True

    def run(self, post: Callable[[Event], None]) -> None:
        """Until stop(): connect, stream, and on any failure report it and retry."""
        while not self._stop.is_set():
            reason = self._session(post)
            if self._stop.is_set():
                break
            post(Disconnected(reason, self.retry))
            self._stop.wait(self.retry)

    def _session(self, post: Callable[[Event], None]) -> str:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(2.0)
            try:
                sock.connect(str(self.path))
            except FileNotFoundError:
                return _("no daemon running (no socket)")
            except ConnectionRefusedError:
                return _("no daemon running (socket refused)")
            except OSError as exc:
                return _("cannot reach the daemon: {error}").format(error=exc.strerror or exc)
            reader = FrameReader()
            tick = min(0.25, self.coalesce) if self.coalesce > 0 else 0.25
            sock.settimeout(tick)  # wake up regularly to notice stop() and to flush what is pending
            hello: Hello | None = None
            waited = 0.0
            pending: list[Message] = []
            last_post = time.monotonic()
            while not self._stop.is_set():
                try:
                    data = sock.recv(1 << 18)
                except TimeoutError:
                    if pending:
                        post(Batch(pending))
                        pending, last_post = [], time.monotonic()
                    if hello is None:
                        waited += tick
                        if waited >= 5.0:
                            return _("the daemon did not greet (no Hello within 5 s)")
                    continue
                except OSError as exc:
                    return _("connection lost: {error}").format(error=exc.strerror or exc)
                if not data:
                    return _("the daemon closed the connection")
                try:
                    messages = reader.feed(data)
                except ProtocolError as exc:
                    return _("protocol error: {error}").format(error=exc)
                if hello is None and messages:
                    first = messages.pop(0)
                    if isinstance(first, Error):
                        return _("the daemon refused: {message}").format(message=first.message)
                    if not isinstance(first, Hello):
                        return _("protocol error: expected Hello, got {kind}").format(kind=type(first).__name__)
                    hello = first
                    with self._send_lock:
                        sock.sendall(encode(Subscribe(list(self.topics))))
                        self._sock = sock
                    post(Connected(hello))
                pending.extend(messages)
                errors = [m for m in messages if isinstance(m, Error)]
                now = time.monotonic()
                if pending and (errors or now - last_post >= self.coalesce):
                    post(Batch(pending))
                    pending, last_post = [], now
                if errors:
                    return _("the daemon reported: {message}").format(message=errors[0].message)
            return _("stopped")
        finally:
            with self._send_lock:
                self._sock = None
            sock.close()
