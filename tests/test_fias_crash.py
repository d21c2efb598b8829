"""`kill -9` of a real `anatole serve` process while guest calls are being posted, then a restart: every call is
posted to the simulated PMS exactly once (by P#), in order, with the amount its stored cost gives; at most the one
posting in flight at the kill is sent again, with its P#, and flagged."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import trio
from fias_pms import SimulatedPms
from serve_support import make_workspace
from test_fias_link import HOTEL, guest_line
from test_serve_crash import _free_port, _send, _start

from engine.money import parse_money


class PmsThread:
    """The simulated PMS on its own trio loop in a thread (the daemon is another process)."""

    def __init__(self) -> None:
        self.pms = SimulatedPms()
        self.token: Any = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=trio.run, args=(self._main,), daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    async def _main(self) -> None:
        self.token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            await nursery.start(self.pms.serve)
            self.ready.set()
            self._stop = trio.Event()
            await self._stop.wait()
            nursery.cancel_scope.cancel()

    def call(self, fn: Any, *args: Any) -> Any:
        return trio.from_thread.run(fn, *args, trio_token=self.token)

    def stop(self) -> None:
        trio.from_thread.run_sync(self._stop.set, trio_token=self.token)
        self.thread.join(10)


def _wait(predicate: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_kill_9_while_posting_then_restart_posts_each_call_exactly_once(tmp_path: Path) -> None:
    pms = PmsThread()
    port = _free_port()
    root = make_workspace(tmp_path, f"""
[[source]]
name = "paris-ipo"
site = "paris"
format = "avaya-ipo"
listen = "127.0.0.1:{port}"
""", extra=HOTEL.format(port=pms.pms.port, lrc="false", timeout=5))
    proc = _start(root)
    try:
        _wait(lambda: pms.pms.alive.is_set())
        # check-in an hour ago (the calls below ended a minute ago): the link's clock is the daemon's own
        db = sqlite3.connect(root / "anatole.db", timeout=30)
        pms.call(pms.pms.checkin, "214", "880123", "Martin, Alice")
        _wait(lambda: db.execute("SELECT COUNT(*) FROM hotel_stays").fetchone()[0] == 1)
        with db:
            db.execute("UPDATE hotel_stays SET checkin = checkin - 3600")
        lines = [guest_line(n, "2214", seconds=30 + n) for n in range(1, 41)]
        _send(port, lines[:25])
        _wait(lambda: len(pms.pms.records) > 8 + 5)  # a few postings went out
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        proc = _start(root)
        _send(port, lines[20:])  # the PBX resends a few records it is not sure were received
        _wait(lambda: len(pms.pms.postings) == 40)
        time.sleep(0.3)
        costs = [c for (c,) in db.execute("SELECT cost FROM calls WHERE extension = '2214' ORDER BY start DESC")]
        flagged = {str(seq) for (seq,) in db.execute("SELECT seq FROM hotel_postings WHERE flagged = 1")}
        db.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        pms.stop()
    posted = pms.pms.postings
    assert [p.get("P#") for p in posted] == [str(n) for n in range(1, 41)]
    # the one posting outstanding at the kill may have been answered OK before the daemon recorded the PA: it is
    # resent with the same P# (the PMS posts a P# once) and flagged for the front desk; nothing else is resent
    assert len(pms.pms.duplicates) <= 1 and len(flagged) <= 1
    assert {d.get("P#") for d in pms.pms.duplicates} <= flagged
    expected = [-(-max(2 * c + parse_money("0.50"), parse_money("0.60")) // 10**6) for c in costs]
    assert sorted(int(p.get("TA")) for p in posted) == sorted(expected)
