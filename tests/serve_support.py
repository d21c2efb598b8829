"""Helpers of the live daemon tests (tests/test_serve_*.py, tests/test_pbx_*.py): a workspace with a tariff, the
daemon run in-process on port 0, a subscriber on its Unix socket, and the IP Office lines of the import tests."""

from __future__ import annotations

import io
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from anatole.cli_serve import build_config
from anatole.config import open_workspace
from pbx.daemon import Daemon
from pbx.protocol import FrameReader, Message, Subscribe, encode

SAMPLES = Path(__file__).parent.parent / "tariffs" / "samples"

SITE = """
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
"""



def rows(root: Path, table: str) -> list[dict[str, Any]]:
    """Every row of a table of the workspace's store, as dicts, in id order."""
    from store import open_store

    store = open_store(root / "anatole.db")
    try:
        cur = store.conn.execute(f"SELECT * FROM {table} ORDER BY id")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]
    finally:
        store.close()


def hotel_config(*, minimum: str | None = None) -> str:
    """The hotel tests' [hotel] (calls at cost x2 + 0.50, rounded up to the cent, at least `minimum`) and its two
    rooms: 214 (extension 2214) and 305 (extension 2305)."""
    floor = f'minimum = "{minimum}"\n' if minimum else ""
    return ('\n[hotel]\nmarkup_percent = "100"\nsurcharge = "0.50"\n' + floor + 'rounding = "up"\n'
            '\n[[room]]\nnumber = "214"\nextension = "2214"\n\n[[room]]\nnumber = "305"\nextension = "2305"\n')


IPO_SOURCE = """
[[source]]
name = "paris-ipo"
site = "paris"
format = "avaya-ipo"
listen = "127.0.0.1:0"
"""

IPO_LINES = [
    "2025/03/14 10:15:02,00:02:32,7,2001,O,0155501234,90155501234,4711,0,1000412,0,E2001,Alice Martin,T9001,"
    "Line 1.3,0,0,,,,,,,,,,,,,,10.1.20.5,3301,10.1.20.5,3302",
    "2025/03/14 10:30:45,00:00:41,4,0155507788,I,2001,,,0,1000415,1,E2001,Alice Martin,T9001,Line 1.4,0,0,,,,,,,,,"
    ",,,,,10.1.20.5,3311,10.1.20.5,3310",
    "2025/03/14 10:30:45,00:03:05,0,0155507788,I,2002,,,0,1000415,0,E2002,Bruno Keller,T9001,Line 1.4,0,0,,,,,,,,,"
    ",,,,,10.1.20.5,3318,10.1.20.5,3310",
    "2025/03/14 10:45:00,00:01:00,3,2002,O,0612345678,90612345678,,0,1000420,0,E2002,Bruno Keller,T9001,"
    "Line 1.3,0,0,,,,,,,,,,,,,,10.1.20.5,3330,10.1.20.5,3331",
    "2025/13/14 10:50:00,00:00:30,2,2001,O,2002",
]


def ipo_line(n: int, *, seconds: int = 60, number: str = "0155501234", ext: str = "2001",
             day: int = 14, hour: int = 10) -> str:
    """A distinct outgoing IP Office record (Call ID 2000000 + n)."""
    minute, second = divmod(n % 3600, 60)
    start = f"2025/03/{day:02d} {hour:02d}:{minute:02d}:{second:02d}"
    h, rest = divmod(seconds, 3600)
    return (f"{start},{h:02d}:{rest // 60:02d}:{rest % 60:02d},3,{ext},O,{number},9{number},,0,{2000000 + n},0,"
            f"E{ext},User {ext},T9001,Line 1.3,0,0,,,,,,,,,,,,,,10.1.20.5,3301,10.1.20.5,3302")


def make_workspace(root: Path, sources: str = IPO_SOURCE, extra: str = "") -> Path:
    (root / "tariffs").mkdir(parents=True, exist_ok=True)
    for ext in (".toml", ".csv"):
        shutil.copy(SAMPLES / f"fr-business{ext}", root / "tariffs" / f"fr-business{ext}")
    (root / "anatole.toml").write_text(SITE + sources + extra)
    return root


def daemon_for(root: Path, **options: Any) -> Daemon:
    ws = open_workspace(root)
    config, problems = build_config(ws, log=io.StringIO())
    assert not problems, problems
    config.backoff = (0.05, 0.2)
    config.counters_every = 0.2
    for key, value in options.items():
        setattr(config, key, value)
    return Daemon(config)


@asynccontextmanager
async def running(daemon: Daemon) -> AsyncIterator[Daemon]:
    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: daemon.run(task_status=task_status, signals=False))
        try:
            yield daemon
        finally:
            daemon.stop()


class Client:
    """A subscriber on the daemon's socket."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.reader = FrameReader()
        self.pending: list[Message] = []

    @classmethod
    async def connect(cls, path: Path, topics: list[str] | None = None) -> Client:
        client = cls(await trio.open_unix_socket(str(path)))
        if topics is not None:
            await client.send(Subscribe(topics=topics))
        return client

    async def send(self, message: Message) -> None:
        await self.stream.send_all(encode(message))

    async def next(self) -> Message:
        while not self.pending:
            data = await self.stream.receive_some(65536)
            if not data:
                raise EOFError("the daemon closed the socket")
            self.pending += self.reader.feed(data)
        return self.pending.pop(0)

    async def wait_for(self, kind: type, count: int = 1) -> list[Any]:
        got = []
        while len(got) < count:
            m = await self.next()
            if isinstance(m, kind):
                got.append(m)
        return got

    async def aclose(self) -> None:
        await self.stream.aclose()


async def daemon_status(root: Path) -> Any:
    """The running daemon's Status, asked over its socket as `anatole status` does."""
    from pbx.protocol import Status, StatusRequest

    client = await Client.connect(root / "anatole.sock")
    try:
        await client.send(StatusRequest())
        return (await client.wait_for(Status))[0]
    finally:
        await client.aclose()


async def send_lines(port: int, lines: list[str], end: bytes = b"\r\n") -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(b"".join(line.encode() + end for line in lines))


async def settle(daemon: Daemon, received: int) -> None:
    """Wait until the daemon has processed `received` records."""
    while daemon.received < received or daemon.processed < daemon.received:
        await trio.sleep(0.01)
