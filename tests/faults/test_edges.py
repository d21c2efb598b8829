"""Faults at the daemon's edges, on real sockets and a real SQLite file: a second peer connecting, garbage floods,
a slow subscriber, another process holding the database's write lock for seconds, the PMS closing the link right
after each PA (a 10 MB line: tests/test_serve_bounds.py). After each: nothing lost that was journaled, nothing
stored twice, and the daemon still serving (status answers, a following good record is stored)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio
from fault_support import EXPENSIVE, check_store
from serve_support import (
    IPO_SOURCE,
    Client,
    daemon_for,
    daemon_status,
    ipo_line,
    make_workspace,
    running,
    send_lines,
    settle,
)

from pbx.daemon import Daemon
from pbx.protocol import FinishedCall, Skipped

pytestmark = pytest.mark.trio


async def _still_serving(daemon: Daemon, root: Path, n: int) -> None:
    """Status answers with nothing in flight, and a good record sent now is stored."""
    before = daemon.stored_calls
    await send_lines(daemon.ports["paris-ipo"], [ipo_line(n)])
    while daemon.stored_calls == before:
        await trio.sleep(0.01)
    status = await daemon_status(root)
    assert status.journal_pending == 0


async def _open_from(ip: str, port: int) -> trio.SocketStream:
    """A TCP connection to 127.0.0.1:port from another loopback address (another machine, as far as the daemon
    can tell)."""
    sock = trio.socket.socket()
    await sock.bind((ip, 0))
    await sock.connect(("127.0.0.1", port))
    return trio.SocketStream(sock)


@pytest.mark.parametrize("allow", [None, '["127.0.0.1"]'])
async def test_a_second_peer_cannot_push_the_pbx_off_nor_inject_records(tmp_path: Path, allow: str | None) -> None:
    source = IPO_SOURCE + (f"allow = {allow}\n" if allow else "")
    root = make_workspace(tmp_path, source)
    daemon = daemon_for(root)
    with trio.fail_after(20):
        async with running(daemon):
            port = daemon.ports["paris-ipo"]
            pbx = await trio.open_tcp_stream("127.0.0.1", port)
            await pbx.send_all(ipo_line(1).encode() + b"\r\n")
            await settle(daemon, 1)
            intruder = await _open_from("127.0.0.2", port)
            with pytest.raises((trio.BrokenResourceError, trio.ClosedResourceError)):
                for _ in range(50):  # refused: the connection is reset, nothing of it is read
                    await intruder.send_all(ipo_line(900).encode() + b"\r\n")
                    await trio.sleep(0.02)
            await intruder.aclose()
            await pbx.send_all(ipo_line(2).encode() + b"\r\n")  # the PBX's connection is still the live one
            await settle(daemon, 2)
            assert daemon.stored_calls == 2
            await pbx.aclose()
            await _still_serving(daemon, root, 3)
    counts = check_store(root)
    conn = sqlite3.connect(root / "anatole.db")
    ids = {n for (n,) in conn.execute("SELECT native_id FROM calls")}
    messages = [m for (m,) in conn.execute("SELECT message FROM alerts")]
    conn.close()
    assert ids == {"2000001", "2000002", "2000003"} and counts["rejects"] == 0
    assert len(messages) == 1 and "unknown source" in messages[0] and "127.0.0.2" in messages[0], messages


@pytest.mark.parametrize("kind", ["binary", "text"])  # text: lines the source's format rejects on their own
async def test_a_garbage_flood_keeps_memory_and_the_database_bounded(tmp_path: Path, kind: str) -> None:
    n = 20_000
    if kind == "binary":  # line noise, a wrong baud rate: bytes that are no text
        flood = [bytes([0x80 + i % 100, 0, 0xFF, i % 256, i // 256 % 256]) + b"\x01\x02garbage" for i in range(n)]
    else:  # printable but not SMDR: a scanner, a misdirected log stream
        flood = [f"GET /probe/{i} HTTP/1.1 host: x user-agent: scanner {i}".encode() for i in range(n)]
    root = make_workspace(tmp_path)
    daemon = daemon_for(root)
    with trio.fail_after(40):
        async with running(daemon):
            stream = await trio.open_tcp_stream("127.0.0.1", daemon.ports["paris-ipo"])
            await stream.send_all(ipo_line(1).encode() + b"\r\n")
            await stream.send_all(b"".join(line + b"\r\n" for line in flood))
            await stream.send_all(ipo_line(2).encode() + b"\r\n")
            while daemon.stored_calls < 2:
                await trio.sleep(0.01)
            await stream.aclose()
            await _still_serving(daemon, root, 3)
    counts = check_store(root)
    conn = sqlite3.connect(root / "anatole.db")
    journaled = conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
    conn.close()
    assert counts["calls"] == 3
    # rate-limited and summarised: the store grows by a bounded amount, not by one row per garbage line
    assert counts["rejects"] <= 1000 and journaled <= 1000, (counts, journaled)


async def test_a_slow_subscriber_does_not_hold_up_the_daemon(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    daemon = daemon_for(root, subscriber_queue=50)
    n = 3000
    with trio.fail_after(30):
        async with running(daemon):
            slow = await Client.connect(root / "anatole.sock", ["calls"])  # subscribes, then reads nothing
            await send_lines(daemon.ports["paris-ipo"], [ipo_line(i) for i in range(n)])
            await settle(daemon, n)
            assert daemon.stored_calls == n
            await _still_serving(daemon, root, n)
            skipped = await slow.wait_for(Skipped)  # told what it missed once it reads again
            assert skipped[0].topic == "calls" and skipped[0].count > 0
            await slow.aclose()
    assert check_store(root)["calls"] == n + 1


HOLD = r"""
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()  # until the test says so (or 20 s)
conn.execute("ROLLBACK")
"""


async def test_a_database_locked_by_another_process_for_seconds(tmp_path: Path) -> None:
    root = make_workspace(tmp_path, extra=EXPENSIVE)
    daemon = daemon_for(root)
    with trio.fail_after(40):
        async with running(daemon):
            port = daemon.ports["paris-ipo"]
            await send_lines(port, [ipo_line(i, seconds=300) for i in range(5)])
            await settle(daemon, 5)
            holder = subprocess.Popen([sys.executable, "-c", HOLD, str(root / "anatole.db")],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            try:
                assert holder.stdout is not None and holder.stdin is not None
                assert await trio.to_thread.run_sync(holder.stdout.readline) == "locked\n"
                await send_lines(port, [ipo_line(i, seconds=300) for i in range(5, 50)])
                while daemon.received < 50:
                    await trio.sleep(0.01)
                await trio.sleep(1)  # the writer waits on the lock meanwhile
                status = await daemon_status(root)  # and the daemon answers
                assert status.received == 50 and status.stored_calls == 5
                holder.stdin.write("go\n")
                holder.stdin.flush()
                await settle(daemon, 50)
            finally:
                holder.stdin.close()  # type: ignore[union-attr]
                await trio.to_thread.run_sync(holder.wait)
            assert holder.returncode == 0
            await _still_serving(daemon, root, 50)
    counts = check_store(root)
    assert counts["calls"] == 51 and counts["rejects"] == 0
    assert counts["alerts"] == 51  # every call over 0.01, each alert once


async def test_the_pms_closing_the_link_after_every_pa(tmp_path: Path) -> None:
    from fias_pms import SimulatedPms
    from test_fias_link import checked_in, guest_line, hotel_link

    pms = SimulatedPms()
    pms.hang_up_after = lambda rec: True  # answers each PS, then closes the connection at once
    async with hotel_link(tmp_path, pms, limit=30) as (root, daemon, _link, _):
        await pms.checkin("214", "880123", "Martin, Alice")
        await checked_in(root, "214")
        await send_lines(daemon.ports["paris-ipo"], [guest_line(k, "2214") for k in range(1, 6)])
        await pms.wait(lambda: len(pms.postings) == 5)
        await _still_serving(daemon, root, 1)
        conn = sqlite3.connect(root / "anatole.db")
        states: dict[str, Any] = {}
        while states.get("ok") != 5:
            states = dict(conn.execute("SELECT state, COUNT(*) FROM hotel_postings GROUP BY state"))
            await trio.sleep(0.02)
        conn.close()
    assert [r.get("P#") for r in pms.records if r.kind == "PS"] == ["1", "2", "3", "4", "5"]  # none resent
    assert pms.duplicates == []
    assert check_store(root)["calls"] == 6


async def test_finished_calls_reach_a_subscriber_once_each_across_faults(tmp_path: Path) -> None:
    """A subscriber that keeps up sees each stored call once, garbage and an overlong line in between."""
    root = make_workspace(tmp_path)
    daemon = daemon_for(root)
    with trio.fail_after(20):
        async with running(daemon):
            client = await Client.connect(root / "anatole.sock", ["calls"])
            stream = await trio.open_tcp_stream("127.0.0.1", daemon.ports["paris-ipo"])
            for i in range(20):
                await stream.send_all(ipo_line(i).encode() + b"\r\n\x00\xff\x01 noise\r\n")
            await stream.send_all(b"8" * 200_000 + b"\r\n" + ipo_line(20).encode() + b"\r\n")
            got = await client.wait_for(FinishedCall, 21)
            assert len({f.id for f in got}) == 21
            await stream.aclose()
            await client.aclose()
    assert check_store(root)["calls"] == 21
