"""Shared pieces of the console tests (no tests here): a small fixed workspace and store, a console context with a
fixed clock, a fake daemon speaking pbx/protocol on a real Unix socket, and helpers to drive a Pilot."""

from __future__ import annotations

import asyncio
import atexit
import datetime as dt
import random
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from anatole.config import open_workspace
from pbx.protocol import (
    Acknowledge,
    AlertAcknowledged,
    FrameReader,
    Hello,
    SourceState,
    Status,
    StatusRequest,
    Subscribe,
    encode,
)
from pipeline.cdrimport import import_file
from store import open_store
from tui.context import ConsoleContext, SiteInfo

SAMPLES = Path(__file__).parent.parent / "tariffs" / "samples"
PARIS = ZoneInfo("Europe/Paris")
NOW = int(dt.datetime(2025, 3, 14, 12, 0, tzinfo=PARIS).timestamp())  # the console's fixed clock
RATED_AT = int(dt.datetime(2025, 3, 14, 6, 0, tzinfo=PARIS).timestamp())

CONFIG = """
[workspace]
currency = "EUR"

[[site]]
name = "paris"
country = "FR"
timezone = "Europe/Paris"
outside_prefix = "9"
national_prefix = "0"
international_prefix = "00"
extensions = ["2000-2999"]
tariff = "tariffs/fr-business.toml"

[[site]]
name = "lyon"
country = "FR"
timezone = "Europe/Paris"
outside_prefix = "9"
national_prefix = "0"
international_prefix = "00"
extensions = ["4000-4999"]
tariff = "tariffs/fr-business.toml"

[[source]]
name = "paris-ipo"
site = "paris"
format = "avaya-ipo"
listen = "0.0.0.0:8808"

[[source]]
name = "lyon-ipo"
site = "lyon"
format = "avaya-ipo"
listen = "0.0.0.0:8809"
"""

NUMBERS = ["0155501234", "0612345678", "0778901234", "00441632960123", "0388123456", "0800123456",
           "004930123456", "0147200000", "0698765432", "0032212345678"]


def ipo_lines(seed: int, first_ext: int, first_id: int, n: int) -> list[str]:
    """Avaya IP Office SMDR lines (cdr-formats.md 4.1 layout), deterministic for `seed`."""
    rng = random.Random(seed)
    day = dt.datetime(2025, 3, 10, 8, 0)
    out = []
    for i in range(n):
        start = day + dt.timedelta(minutes=rng.randrange(0, 5 * 24 * 60 // 2) * 2 + i)
        ext = first_ext + rng.randrange(0, 6)
        secs = rng.choice([0, 12, 47, 65, 130, 305, 1250])
        dur = f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"
        call_id = first_id + i
        if rng.random() < 0.25:
            caller = NUMBERS[rng.randrange(len(NUMBERS))]
            out.append(f"{start:%Y/%m/%d %H:%M:%S},{dur},4,{caller},I,{ext},,,0,{call_id},0,E{ext},Person {ext},"
                       f"T9001,Line 1.4,0,0,,,,,,,,,,,,,,10.1.20.5,3311,10.1.20.5,3310")
        else:
            number = NUMBERS[rng.randrange(len(NUMBERS))]
            out.append(f"{start:%Y/%m/%d %H:%M:%S},{dur},3,{ext},O,{number},9{number},,0,{call_id},0,E{ext},"
                       f"Person {ext},T9001,Line 1.3,0,0,,,,,,,,,,,,,,10.1.20.5,3330,10.1.20.5,3331")
    return out


def make_workspace(path: Path) -> Path:
    """The fixed workspace: two sites, the FR sample tariff, 60 calls and 2 rejects imported."""
    (path / "tariffs").mkdir(parents=True)
    for ext in (".toml", ".csv"):
        shutil.copy(SAMPLES / f"fr-business{ext}", path / "tariffs" / f"fr-business{ext}")
    (path / "anatole.toml").write_text(CONFIG)
    paris = ipo_lines(1, 2001, 1000400, 40) + ["2025/13/14 10:50:00,00:00:30,2,2001,O,2002"]
    lyon = ipo_lines(2, 4001, 2000400, 20) + ["not an smdr line at all"]
    (path / "paris.txt").write_text("\r\n".join(paris) + "\r\n")
    (path / "lyon.txt").write_text("\n".join(lyon) + "\n")
    ws = open_workspace(path)
    store = open_store(ws.db_path)
    import_file(ws, store, path / "paris.txt", source="paris-ipo")
    import_file(ws, store, path / "lyon.txt", source="lyon-ipo")
    # fixed instants where the import wrote "now", so that snapshots are stable
    store.conn.execute("UPDATE calls SET rated_at = ? WHERE rated_at IS NOT NULL", (RATED_AT,))
    store.conn.execute("UPDATE imports SET started = ?, finished = ?", (RATED_AT, RATED_AT))
    store.conn.commit()
    store.close()
    return path


_TEMPLATE: Path | None = None
_MADE: list[Path] = []


def workspace_copy() -> Path:
    """A fresh copy of the fixed workspace in a short /tmp path (Unix socket paths are limited to 107 bytes);
    removed when the test run ends."""
    global _TEMPLATE
    if _TEMPLATE is None:
        _MADE.append(Path(tempfile.mkdtemp(prefix="tuiws")))
        _TEMPLATE = make_workspace(_MADE[-1] / "ws")
    _MADE.append(Path(tempfile.mkdtemp(prefix="tui")))
    target = _MADE[-1] / "ws"
    shutil.copytree(_TEMPLATE, target)
    return target


@atexit.register
def _cleanup() -> None:
    for path in _MADE:
        shutil.rmtree(path, ignore_errors=True)


def context(path: Path, **kw: object) -> ConsoleContext:
    tariff = path / "tariffs" / "fr-business.toml"
    options: dict = {"user": "tester", "clock": lambda: NOW, "retry_seconds": 0.2, "flash": False}
    options.update(kw)
    return ConsoleContext(workspace=path, tariffs={"fr-business.toml": tariff},
                          sites={"paris": SiteInfo("paris", "Europe/Paris", tariff),
                                 "lyon": SiteInfo("lyon", "Europe/Paris", tariff)}, **options)


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def until(pilot: object, condition: Callable[[], bool], what: str, limit: float = 10.0) -> None:
    """Let the app run until `condition` holds (a deadline, not a timing assertion: fails only if it never does)."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        await pilot.pause(0.02)  # type: ignore[attr-defined]


async def settle(pilot: object) -> None:
    """Wait for every worker that can finish (not the socket reader) and for the messages they posted."""
    app = pilot.app  # type: ignore[attr-defined]
    for _ in range(3):
        await pilot.pause()  # type: ignore[attr-defined]
        pending = [w for w in app.workers if w.group not in ("live-socket",) and not w.is_finished]
        for w in pending:
            await w.wait()
    await pilot.pause()  # type: ignore[attr-defined]


HELLO = Hello(version=1, pid=4242, started=NOW - 3600, workspace="ws",
              sources=[SourceState("paris-ipo", "avaya-ipo", "listening", NOW - 3600, received=12),
                       SourceState("paris-ami", "asterisk-ami", "connected", NOW - 3600, peer="10.0.0.5:5038")])


class FakeDaemon:
    """A real Unix socket server thread speaking the subscriber protocol: greets with Hello, expects Subscribe,
    sends what the test queues, records what the client sends and answers Acknowledge with AlertAcknowledged."""

    def __init__(self, path: Path, hello: Hello = HELLO) -> None:
        self.path = Path(path)
        self.hello = hello
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(self.path))
        self.server.listen(4)
        self.server.settimeout(0.1)
        self.received: list[object] = []
        self.rejects = 0  # what a StatusRequest is answered with
        self.subscribed = threading.Event()
        self.conn: socket.socket | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.sendall(encode(self.hello))
            reader = FrameReader()
            conn.settimeout(0.1)
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not data:
                    break
                for m in reader.feed(data):
                    self.received.append(m)
                    if isinstance(m, Subscribe):
                        with self._lock:
                            self.conn = conn
                        self.subscribed.set()
                    elif isinstance(m, Acknowledge):
                        self.send(AlertAcknowledged(id=m.alert, by=m.by, at=NOW))
                    elif isinstance(m, StatusRequest):
                        self.send(Status(pid=self.hello.pid, started=self.hello.started, workspace="ws",
                                         sources=self.hello.sources, stored_rejects=self.rejects))
            with self._lock:
                self.conn = None
            conn.close()

    def send(self, *messages: object) -> None:
        assert self.subscribed.wait(10), "the console never subscribed"
        with self._lock:
            assert self.conn is not None
            self.conn.sendall(b"".join(encode(m) for m in messages))  # type: ignore[arg-type]

    def close(self) -> None:
        self._stop.set()
        self.server.close()
        self.thread.join(5)
        self.path.unlink(missing_ok=True)
