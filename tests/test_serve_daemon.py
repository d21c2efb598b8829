"""`anatole serve` in-process: SMDR over real TCP sockets on 127.0.0.1, the journal, rating equal to file import,
subscribers on the Unix socket, bad input."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import trio
from click.testing import CliRunner
from serve_support import (
    IPO_LINES,
    Client,
    daemon_for,
    ipo_line,
    make_workspace,
    running,
    send_lines,
    settle,
)

from anatole.cli import main
from pbx.protocol import Counters, FinishedCall, Hello, Skipped, SourceUpdate, Status, StatusRequest
from store import open_store
from store.live import journal_summary

pytestmark = pytest.mark.trio


def _calls(root: Path) -> list[dict]:
    store = open_store(root / "anatole.db")
    try:
        return list(store.calls())
    finally:
        store.close()


async def test_listen_source_rates_and_publishes_like_a_file_import(tmp_path: Path) -> None:
    live = make_workspace(tmp_path / "live")
    daemon = daemon_for(live)
    with trio.fail_after(20):
        async with running(daemon):
            sock = live / "anatole.sock"
            assert stat.S_IMODE(os.stat(sock).st_mode) == 0o660
            client = await Client.connect(sock, ["calls", "sources"])
            hello = await client.next()
            assert isinstance(hello, Hello) and hello.sources[0].state == "listening"
            await send_lines(daemon.ports["paris-ipo"], IPO_LINES)
            finished = await client.wait_for(FinishedCall, 4)
            await settle(daemon, 5)
            await client.aclose()
    assert {f.direction for f in finished} == {"outgoing", "incoming"}
    outgoing = [f for f in finished if f.direction == "outgoing"]
    assert all(f.cost is not None and f.cost > 0 and f.currency == "EUR" for f in outgoing)
    # the same lines imported from a file into another workspace: identical rows, cost included
    batch = make_workspace(tmp_path / "batch")
    (batch / "smdr.txt").write_text("\r\n".join(IPO_LINES) + "\r\n")
    result = CliRunner().invoke(main, ["--workspace", str(batch), "import", "cdr", str(batch / "smdr.txt")])
    assert result.exit_code == 0, result.output
    keep = ("source", "start", "native_id", "leg", "direction", "number", "status", "tariff", "prefix", "band",
            "billed_seconds", "cost", "currency", "billed", "extension")
    live_rows = sorted(tuple(r[k] for k in keep) for r in _calls(live))
    batch_rows = sorted(tuple(r[k] for k in keep) for r in _calls(batch))
    assert live_rows == batch_rows and len(live_rows) == 4
    store = open_store(live / "anatole.db")
    rejects = list(store.rejects())
    assert len(rejects) == 1 and rejects[0]["reason"].startswith(("Call Start", "fields"))
    assert journal_summary(store) == {"call": 4, "reject": 1}
    store.close()


async def test_garbage_overlong_line_and_silent_client_do_not_stop_the_source(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    daemon = daemon_for(root)
    with trio.fail_after(20):
        async with running(daemon):
            port = daemon.ports["paris-ipo"]
            silent = await trio.open_tcp_stream("127.0.0.1", port)  # connects and says nothing
            stream = await trio.open_tcp_stream("127.0.0.1", port)  # replaces it (one connection per source)
            await stream.send_all(b"\x00\xff\xfe garbage \x01\x02\r\n")
            await stream.send_all(b"A" * (1 << 20))  # 1 MB without a newline
            await stream.send_all(b"\n" + ipo_line(1).encode() + b"\n" + ipo_line(2).encode())  # resync
            await stream.aclose()  # the last line is partial: a reject, not lost
            await settle(daemon, 4)
            await send_lines(port, [ipo_line(3)])
            await settle(daemon, 5)
            await silent.aclose()
    store = open_store(root / "anatole.db")
    reasons = sorted(r["reason"].split(":")[0] for r in store.rejects())
    assert store.count("calls") == 2 and len(reasons) == 3
    assert "line" in reasons
    summary = journal_summary(store)
    assert summary == {"call": 2, "reject": 3}
    store.close()


async def test_subscriber_status_counters_and_slow_client(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    daemon = daemon_for(root, subscriber_queue=500)
    with trio.fail_after(30):
        async with running(daemon):
            slow = await Client.connect(root / "anatole.sock", ["calls"])  # subscribes, then never reads
            fast = await Client.connect(root / "anatole.sock", ["calls", "counters"])
            await fast.send(StatusRequest())
            status = (await fast.wait_for(Status))[0]
            assert status.sources[0].name == "paris-ipo" and status.received == 0
            n, rounds = 400, 15  # in all more than a subscriber's queue plus what its socket buffers
            for r in range(rounds):
                await send_lines(daemon.ports["paris-ipo"], [ipo_line(r * n + i) for i in range(n)])
                got = await fast.wait_for(FinishedCall, n)
                assert len({f.id for f in got}) == n
            counters = await fast.wait_for(Counters)
            assert counters[0].calls_today >= 0
            await fast.send(StatusRequest())
            status = (await fast.wait_for(Status))[0]
            assert status.received == n * rounds and status.stored_calls == n * rounds
            assert status.journal_pending == 0 and status.subscribers == 2
            # the slow client lost messages and is told so, in order, once it reads again
            skipped = await slow.wait_for(Skipped)
            assert skipped[0].topic == "calls" and skipped[0].count > 0
            await slow.aclose()
            await fast.aclose()


async def test_connect_source_reconnects_after_the_pbx_drops_and_when_it_was_down_at_start(tmp_path: Path) -> None:
    # a Mitel-style PBX (we connect to it): down at start, then up, dropping the connection every 2 records
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    await listeners[0].aclose()  # nothing listens: the PBX is down
    root = make_workspace(tmp_path, f"""
[[source]]
name = "paris-pbx"
site = "paris"
format = "avaya-ipo"
connect = "127.0.0.1:{port}"
""")
    daemon = daemon_for(root)
    lines = [ipo_line(i) for i in range(10)]
    with trio.fail_after(20):
        async with running(daemon):
            client = await Client.connect(root / "anatole.sock", ["sources"])
            while daemon.states["paris-pbx"].state != "reconnecting":
                await trio.sleep(0.01)
            pbx = (await trio.open_tcp_listeners(port, host="127.0.0.1"))[0]
            sent = 0
            while sent < len(lines):
                stream = await pbx.accept()
                await stream.send_all("".join(line + "\r\n" for line in lines[sent:sent + 2]).encode())
                sent += 2
                await stream.aclose()
            await settle(daemon, 10)
            updates = []
            with trio.move_on_after(1):
                while len(updates) < 3:
                    m = await client.next()
                    if isinstance(m, SourceUpdate):
                        updates.append(m.source.state)
            await pbx.aclose()
            await client.aclose()
    assert "connected" in updates and "reconnecting" in updates
    assert len(_calls(root)) == 10


async def test_duplicates_resent_after_reconnect_are_stored_once(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    daemon = daemon_for(root)
    with trio.fail_after(20):
        async with running(daemon):
            port = daemon.ports["paris-ipo"]
            await send_lines(port, [ipo_line(i) for i in range(5)] + ["bad record"])
            await settle(daemon, 6)
            await send_lines(port, [ipo_line(i) for i in range(3, 8)] + ["bad record"])  # IPO replays its buffer
            await settle(daemon, 12)
            assert daemon.duplicates == 2
    store = open_store(root / "anatole.db")
    assert store.count("calls") == 8 and store.count("rejects") == 1
    store.close()
