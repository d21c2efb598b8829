"""Journal before queue (issue 13 item 4): a record is committed to the journal by the journal task before the
writer parses, rates or stores it, and `Status.journaled` counts what is durable. Whatever the daemon said it
journaled survives `kill -9` and is stored exactly once at the next start, without the PBX sending it again."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
from serve_support import Client, daemon_for, ipo_line, make_workspace, running, send_lines
from test_serve_crash import _send, _start, _workspace

from anatole.cli_serve import request_status
from pbx.protocol import Status, StatusRequest
from store.live import LiveStore


@pytest.mark.trio
async def test_records_are_journaled_while_the_writer_is_held(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    daemon = daemon_for(root, shutdown_deadline=0.2)
    hold = trio.Event()
    process = daemon._process

    async def held(work: list[Any]) -> None:
        await hold.wait()  # a writer far behind (or stuck): the journal must not wait for it
        await process(work)

    daemon._process = held  # type: ignore[method-assign]
    n = 60
    with trio.fail_after(20):
        async with running(daemon):
            client = await Client.connect(root / "anatole.sock")
            await send_lines(daemon.ports["paris-ipo"], [ipo_line(i) for i in range(n)])
            while True:
                await client.send(StatusRequest())
                status = (await client.wait_for(Status))[0]
                if status.journaled == n:
                    break
                await trio.sleep(0.01)
            assert status.stored_calls == 0 and status.journal_pending == n
            await client.aclose()
        # stopped with the writer still held (as a crash would): the records are pending in the journal
        with sqlite3.connect(root / "anatole.db") as conn:
            assert conn.execute("SELECT COUNT(*) FROM journal WHERE done = 0").fetchone()[0] == n
            assert conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 0
        daemon = daemon_for(root)
        async with running(daemon):
            assert daemon.replayed == n
    with sqlite3.connect(root / "anatole.db") as conn:
        assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT native_id) FROM calls").fetchone() == (n, n)


@pytest.mark.trio
async def test_status_answers_while_the_journal_a_crash_left_is_stored(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    live = LiveStore(root / "anatole.db")
    live.append([("paris-ipo", time.time_ns() // 1000, "line", ipo_line(i).encode()) for i in range(5)])
    live.close()
    daemon = daemon_for(root)
    gate = threading.Event()
    store_units = daemon._store_units

    def held(units: list, events: list) -> None:
        gate.wait(10)  # a long replay
        store_units(units, events)

    daemon._store_units = held  # type: ignore[method-assign]

    async def status() -> Status:
        while True:
            try:
                client = await Client.connect(root / "anatole.sock")
                break
            except OSError:
                await trio.sleep(0.01)
        await client.send(StatusRequest())
        got = (await client.wait_for(Status))[0]
        await client.aclose()
        return got

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(daemon.run, signals=False))
            first = await status()
            assert first.starting and all(s.state == "down" for s in first.sources)
            gate.set()
            while daemon.starting:
                await trio.sleep(0.01)
            second = await status()
            assert not second.starting and second.replayed == 5
            daemon.stop()
    with sqlite3.connect(root / "anatole.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 5


def _wait_journaled(root: Path, at_least: int, deadline: float = 60) -> int:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        status = request_status(root / "anatole.sock")
        if status is not None and status.journaled >= at_least:
            return status.journaled
        time.sleep(0.005)
    raise AssertionError(f"the daemon did not journal {at_least} records")


def _stored(root: Path) -> tuple[int, int, int, int]:
    """(calls, distinct native ids, journal rows, journal rows pending)"""
    with sqlite3.connect(root / "anatole.db", timeout=30) as conn:
        calls, distinct = conn.execute("SELECT COUNT(*), COUNT(DISTINCT native_id) FROM calls").fetchone()
        rows, pending = conn.execute("SELECT COUNT(*), COALESCE(SUM(done = 0), 0) FROM journal").fetchone()
    return calls, distinct, rows, pending


def test_kill_9_loses_nothing_the_daemon_journaled_without_a_resend(tmp_path: Path) -> None:
    root, port = _workspace(tmp_path)
    proc = _start(root)
    # N records, until the daemon says they are journaled; then a stream, killed in the middle
    n = 500
    assert _send(port, [ipo_line(i) for i in range(n)]) == n
    _wait_journaled(root, n)
    more = [ipo_line(n + i, day=10 + i // 3600 % 5) for i in range(6000)]
    stop = threading.Event()
    sender = threading.Thread(target=_send, args=(port, more, stop))
    sender.start()
    try:
        journaled = _wait_journaled(root, n + 2000)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        stop.set()
        sender.join()
    # the next start stores what the journal holds; nothing is sent again
    proc = _start(root)
    try:
        calls, distinct, rows, pending = _stored(root)
        assert pending == 0 and calls == distinct == rows  # every journaled record is a call, none twice
        assert calls >= journaled
        with sqlite3.connect(root / "anatole.db") as conn:
            first = {int(x) for (x,) in conn.execute("SELECT native_id FROM calls WHERE native_id < ?",
                                                       (str(2000000 + n),))}
        assert first == set(range(2000000, 2000000 + n))
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
