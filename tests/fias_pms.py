"""A simulated PMS speaking FIAS as the Oracle interface (IFC) does: the TCP server side of the link, for the tests,
the benchmark and the demo.

On each connection it sends LS, waits for our LD/LR.../LA and answers LA; it answers LS with LA, PS with PA (OK by
default, or what `policy` says: another AS code, or None for no answer at all), and LE with LE. A new connection
replaces the previous one (as IFC drops the first client when a second connects). It posts each P# once (as a PMS
with duplicate protection would) and counts the PS it received again with a P# already posted.

Stand-alone (demo): `python tests/fias_pms.py --port 5010 --checkin 214:880123:Martin` prints what it receives.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from typing import Any

import trio

from pbx.fias import Deframer, FrameError, Record, RecordError, build, frame, parse_record


class SimulatedPms:
    def __init__(self, *, lrc: bool = False, encoding: str = "cp850", answer_la: bool = True) -> None:
        self.lrc = lrc
        self.encoding = encoding
        self.answer_la = answer_la
        self.answer_ls = True  # False: keep-alive LS goes unanswered (a hung PMS)
        self.policy: Callable[[Record], str | None] = lambda rec: "OK"
        self.port = 0
        self.records: list[Record] = []  # everything received, in order
        self.postings: list[Record] = []  # PS posted (first receipt of each P#)
        self.duplicates: list[Record] = []  # PS received again with a P# already posted
        self.refused: list[Record] = []
        self.frame_errors: list[FrameError] = []
        self.connections = 0
        self.alive = trio.Event()
        self.changed = trio.Event()
        self._stream: trio.SocketStream | None = None
        self._scope: trio.CancelScope | None = None
        self._posted: set[str] = set()
        self._listeners: list[Any] = []
        self._serving = trio.CancelScope()
        self.on_record: Callable[[Record], None] | None = None
        # a PS for which this says True is answered, then the PMS closes the connection at once (FIN, no LE)
        self.hang_up_after: Callable[[Record], bool] = lambda rec: False

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED, port: int = 0) -> None:
        self._listeners = await trio.open_tcp_listeners(port, host="127.0.0.1")
        self.port = self._listeners[0].socket.getsockname()[1]
        with trio.CancelScope() as self._serving:
            try:
                await trio.serve_listeners(self._handler, self._listeners, task_status=task_status)
            finally:
                for listener in self._listeners:
                    with trio.CancelScope(shield=True):
                        await listener.aclose()

    def _notify(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    async def _handler(self, stream: trio.SocketStream) -> None:
        if self._scope is not None:
            self._scope.cancel()  # one client at a time: the new one wins
        self.connections += 1
        if self.alive.is_set():
            self.alive = trio.Event()
        with trio.CancelScope() as scope:
            self._scope, self._stream = scope, stream
            try:
                async with stream:
                    await self.send(build("LS", self._stamp()))
                    deframer = Deframer(use_lrc=self.lrc)
                    while True:
                        data = await stream.receive_some(65536)
                        if not data:
                            break
                        for item in deframer.feed(data):
                            if isinstance(item, FrameError):
                                self.frame_errors.append(item)
                                continue
                            try:
                                rec = parse_record(item, self.encoding)
                            except RecordError:
                                continue
                            await self._received(rec)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            finally:
                if self._scope is scope:
                    self._scope = self._stream = None
                    if self.alive.is_set():
                        self.alive = trio.Event()
                self._notify()

    async def _received(self, rec: Record) -> None:
        self.records.append(rec)
        if self.on_record is not None:
            self.on_record(rec)
        if rec.kind == "LA" and not self.alive.is_set():
            if self.answer_la:
                await self.send(build("LA", self._stamp()))
                self.alive.set()
        elif rec.kind == "LS":
            if self.answer_la and self.answer_ls:
                await self.send(build("LA", self._stamp()))
        elif rec.kind == "LE":
            await self.send(build("LE", self._stamp()))
        elif rec.kind == "PS":
            code = self.policy(rec)
            if code is not None:
                number = rec.get("P#")
                if code == "OK":
                    if number in self._posted:
                        self.duplicates.append(rec)
                    else:
                        self._posted.add(number)
                        self.postings.append(rec)
                else:
                    self.refused.append(rec)
                await self.send(build("PA", [("RN", rec.get("RN")), ("AS", code), ("P#", number),
                                             ("DA", rec.get("DA")), ("TI", rec.get("TI"))]
                                      + ([("CT", "NO GUEST")] if code == "NG" else [])))
                if self.hang_up_after(rec):
                    self._notify()
                    assert self._stream is not None
                    await self._stream.aclose()  # the PA is on the wire; then FIN
                    return
        self._notify()

    def _stamp(self) -> list[tuple[str, str]]:
        now = dt.datetime.now()
        return [("DA", now.strftime("%y%m%d")), ("TI", now.strftime("%H%M%S"))]

    async def send(self, record: str) -> None:
        if self._stream is None:
            raise RuntimeError("no client connected")
        await self._stream.send_all(frame(record, use_lrc=self.lrc, encoding=self.encoding))

    async def send_raw(self, data: bytes) -> None:
        assert self._stream is not None
        await self._stream.send_all(data)

    async def checkin(self, room: str, reservation: str, name: str, **extra: str) -> None:
        await self.send(build("GI", [("RN", room), ("G#", reservation), ("GN", name), ("GL", "EN"), ("GS", "N"),
                                     *extra.items()]))

    async def checkout(self, room: str, reservation: str = "") -> None:
        await self.send(build("GO", [("RN", room), *([("G#", reservation)] if reservation else []), ("GS", "N")]))

    async def move(self, old: str, new: str, reservation: str, name: str = "") -> None:
        await self.send(build("GC", [("RN", new), ("RO", old), ("G#", reservation), ("GN", name), ("GS", "N")]))

    async def drop(self) -> None:
        """Cut the connection (a network fault): no LE."""
        if self._scope is not None:
            self._scope.cancel()
        await trio.sleep(0)

    async def close(self) -> None:
        """Stop listening and drop the client: the PMS is down."""
        self._serving.cancel()
        await trio.sleep(0.01)

    async def wait(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self.changed.wait()

    def posted(self, room: str | None = None) -> list[Record]:
        return [p for p in self.postings if room is None or p.get("RN") == room]


async def _demo(port: int, lrc: bool, checkins: list[str]) -> None:
    pms = SimulatedPms(lrc=lrc)
    pms.on_record = lambda rec: print(rec.kind, rec.fields, flush=True)
    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: pms.serve(task_status=task_status, port=port))
        print(f"simulated PMS (FIAS) listening on 127.0.0.1:{pms.port}", flush=True)
        while True:
            await pms.alive.wait()
            for spec in checkins:
                room, reservation, name = (spec.split(":") + ["", ""])[:3]
                await pms.checkin(room, reservation or room, name or f"Guest {room}")
            while pms.alive.is_set():
                await pms.changed.wait()


def main() -> None:  # pragma: no cover - the demo
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5010)
    parser.add_argument("--lrc", action="store_true")
    parser.add_argument("--checkin", action="append", default=[], help="ROOM[:RESERVATION[:NAME]] once the link is up")
    args = parser.parse_args()
    trio.run(_demo, args.port, args.lrc, args.checkin)


if __name__ == "__main__":  # pragma: no cover
    main()
