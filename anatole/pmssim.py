"""`anatole hotel simulate-pms`: a PMS on this machine that speaks FIAS as Oracle's interface (IFC) does, to try
the front desk and the daemon's PMS link without a hotel system (the demo's [pms] points at it).

It is the server side of the link: on each connection it sends LS, answers our LD/LR.../LA with LA, LS with LA,
LE with LE, and each posting (PS) with PA AS=OK, once per P# (a PS sent again is answered but not posted twice).
Loopback only (it listens on 127.0.0.1), one client at a time (a new connection replaces the old one, as IFC
does), and bounded: `seconds` ends it; each record it receives is printed as one line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import trio

from i18n import _
from pbx.fias import Deframer, FrameError, Record, RecordError, build, frame, parse_record


class PmsSimulator:
    def __init__(self, *, lrc: bool = False, encoding: str = "cp850",
                 say: Callable[[str], None] = lambda line: None) -> None:
        self.lrc, self.encoding, self.say = lrc, encoding, say
        self.port = 0
        self.posted: dict[str, Record] = {}  # P# -> the first PS with it
        self.resent = 0  # PS received again with a P# already posted
        self.records = 0
        self._scope: trio.CancelScope | None = None

    async def serve(self, port: int, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(port, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        await trio.serve_listeners(self._client, listeners, task_status=task_status)

    async def _client(self, stream: trio.SocketStream) -> None:
        if self._scope is not None:
            self._scope.cancel()  # one client at a time: the new one wins
        with trio.CancelScope() as scope:
            self._scope = scope
            self.say(_("client connected"))
            try:
                async with stream:
                    await self._send(stream, "LS", self._stamp())
                    deframer = Deframer(use_lrc=self.lrc)
                    while data := await stream.receive_some(65536):
                        for item in deframer.feed(data):
                            if isinstance(item, FrameError):
                                self.say(_("bad frame: {error}").format(error=item))
                                continue
                            try:
                                rec = parse_record(item, self.encoding)
                            except RecordError as exc:
                                self.say(_("bad record: {error}").format(error=exc))
                                continue
                            await self._answer(stream, rec)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            finally:
                if self._scope is scope:
                    self._scope = None
                self.say(_("client gone"))

    async def _answer(self, stream: trio.SocketStream, rec: Record) -> None:
        self.records += 1
        self.say(f"{rec.kind} {' '.join(f'{k}={v}' for k, v in rec.fields.items())}")
        if rec.kind in ("LA", "LS"):
            await self._send(stream, "LA", self._stamp())
        elif rec.kind == "LE":
            await self._send(stream, "LE", self._stamp())
        elif rec.kind == "PS":
            number = rec.get("P#")
            if number in self.posted:
                self.resent += 1
            else:
                self.posted[number] = rec
            await self._send(stream, "PA", [("RN", rec.get("RN")), ("AS", "OK"), ("P#", number),
                                            ("DA", rec.get("DA")), ("TI", rec.get("TI"))])

    async def _send(self, stream: trio.SocketStream, kind: str, fields: list[tuple[str, str]]) -> None:
        await stream.send_all(frame(build(kind, fields), use_lrc=self.lrc, encoding=self.encoding))

    @staticmethod
    def _stamp() -> list[tuple[str, str]]:
        now = dt.datetime.now()
        return [("DA", now.strftime("%y%m%d")), ("TI", now.strftime("%H%M%S"))]


async def run(port: int, *, lrc: bool = False, seconds: float | None = None,
              say: Callable[[str], None] = print) -> PmsSimulator:
    """Serve until `seconds` have passed (None: until interrupted); returns the simulator (what it posted)."""
    sim = PmsSimulator(lrc=lrc, say=say)
    with trio.move_on_after(seconds if seconds is not None else float("inf")):
        async with trio.open_nursery() as nursery:
            await nursery.start(lambda task_status: sim.serve(port, task_status=task_status))
            say(_("simulated PMS (FIAS) listening on 127.0.0.1:{port}").format(port=sim.port))
    return sim
