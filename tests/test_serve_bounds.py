"""Every network read is bounded: a 10 MB line, an AMI banner or ESL header that never ends, a silent login, an
oversized subscriber message, and a flood of garbage lines (rate-limited per source, summarised, counts balance).
Real sockets on 127.0.0.1 port 0."""

from __future__ import annotations

import contextlib
import os
import struct
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import trio
from serve_support import Client, daemon_for, ipo_line, make_workspace, rows, running, send_lines, settle

from pbx import ami, esl
from pbx import daemon as daemon_module
from pbx.daemon import SessionError
from pbx.framing import HEAD, MAX_LINE, GarbageGate, LineFramer, Overlong, is_binary
from pbx.protocol import Error

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import ExceptionGroup

TEN_MB = 10 << 20
BINARY = b"\x01\x02\x03\x04 garbage \x05\x06\x07"  # control bytes: no PBX sends these in a record


def _garbage(n: int, start: int = 0) -> bytes:
    """n distinct binary lines (identical ones would be stored once, as a resent record is)."""
    return b"".join(BINARY + b"%d\r\n" % i for i in range(start, start + n))


# --- the line framer ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("telnet", [False, True])
def test_a_10_mb_line_costs_bounded_memory_and_one_small_reject(telnet: bool) -> None:
    framer = LineFramer(telnet=telnet)
    chunk = b"A" * 65536
    out: list[bytes | Overlong] = []
    high = 0
    for _ in range(TEN_MB // len(chunk)):
        out += framer.feed(chunk)
        high = max(high, framer.pending)
    out += framer.feed(b"\r\n" + ipo_line(1).encode() + b"\r\n")
    assert high <= MAX_LINE  # never more than one line limit held
    assert len(out) == 2 and isinstance(out[0], Overlong)
    assert out[0].size == TEN_MB and len(out[0].head) == HEAD
    assert out[1] == ipo_line(1).encode()  # resynced at the line end


def test_binary_lines_are_told_from_records() -> None:
    assert is_binary(BINARY) and is_binary(b"\x00\x00\x00")
    assert sum(is_binary(os.urandom(200)) for _ in range(200)) > 190  # random bytes
    assert not is_binary(ipo_line(1).encode())
    assert not is_binary(ipo_line(1).encode() + b"\x00" * 40)  # NUL-padded records (Avaya CM)
    assert not is_binary("2001,O,Алексей Петров Иванович Смирнов Петров Иванович".encode("cp1251"))  # wrong encoding
    assert not is_binary("ext 2001 \tMüller\x0c".encode("latin-1"), "latin-1")


def test_garbage_gate_keeps_the_limit_per_window_and_counts_the_rest() -> None:
    gate = GarbageGate(limit=3, window=60.0)
    assert all(gate.admit(ipo_line(n).encode(), 0.0) for n in range(50))  # records always pass
    kept = [gate.admit(BINARY, t / 10, "10.0.0.5:1") for t in range(10)]
    assert kept == [True] * 3 + [False] * 7
    assert gate.admit(Overlong(b"x", 70000), 2.0, "10.0.0.5:2") is False  # overlong lines are garbage too
    assert gate.due(2.0) == 58.0 and gate.due(70.0) == 0.0
    assert gate.admit(BINARY, 65.0, "10.0.0.5:2") is False  # window over, summary not yet taken: still counted
    count, first, last, peers = gate.summary()  # type: ignore[misc]
    assert (count, first, last, peers) == (9, 0.3, 65.0, ["10.0.0.5:1", "10.0.0.5:2"])
    assert gate.summary() is None and gate.due(66.0) is None
    assert [gate.admit(BINARY, 66.0) for _ in range(4)] == [True, True, True, False]  # a new window
    assert gate.total == 10


def test_printable_garbage_is_found_by_sampling_then_checked_line_by_line() -> None:
    checked: list[bytes] = []

    def rejected(line: bytes) -> bool:  # the format's own verdict on a line read alone
        checked.append(line)
        return line.startswith(b"GET ")

    gate = GarbageGate(limit=5, window=60.0, classify=rejected, sample=4)
    assert all(gate.admit(b"record %d" % i, 0.0) for i in range(40))
    assert len(checked) == 10 and not gate.flood  # a normal stream: one line in four is checked
    kept = [gate.admit(b"GET /probe/%d" % i, 1.0) for i in range(200)]
    assert gate.flood  # half the samples rejected: every line is checked now
    assert gate.admit(b"record in the flood", 1.0)  # records still pass
    assert sum(kept) < 40 and gate.suppressed == 200 - sum(kept)
    assert not gate.admit(b"GET /late", 59.0)
    assert gate.admit(b"GET /next window, not sampled", 61.0) and not gate.flood  # a new window samples afresh
    broken = GarbageGate(limit=1, classify=lambda line: 1 / 0, sample=1)
    assert all(broken.admit(b"x %d" % i, 0.0) for i in range(10))  # a failing check never drops a line


# --- the daemon ----------------------------------------------------------------------------------------------


@pytest.mark.trio
async def test_daemon_stores_a_10_mb_line_as_one_small_reject(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    daemon = daemon_for(root)
    with trio.fail_after(30):
        async with running(daemon):
            stream = await trio.open_tcp_stream("127.0.0.1", daemon.ports["paris-ipo"])
            chunk = b"\xff" * 65536
            for _ in range(TEN_MB // len(chunk)):
                await stream.send_all(chunk)
            await stream.send_all(b"\r\n" + ipo_line(1).encode() + b"\r\n")
            await settle(daemon, 2)
            await stream.aclose()
    rejects = rows(root, "rejects")
    assert len(rejects) == 1 and rejects[0]["reason"].startswith("line: longer than the line limit")
    assert len(rejects[0]["raw"].encode()) < 1000 and f"({TEN_MB} bytes)" in rejects[0]["raw"]
    assert len(rows(root, "calls")) == 1  # the record after it: the source still serves
    assert max(len(j["data"]) for j in rows(root, "journal")) < 100_000  # the journal kept the head, not 10 MB


@pytest.mark.trio
async def test_a_garbage_flood_is_summarised_and_counts_balance(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    daemon = daemon_for(root, garbage_limit=5, garbage_window=3600.0)  # one window: the summary comes at stop
    binary, overlong, good = 1000, 3, 3
    with trio.fail_after(30):
        async with running(daemon):
            stream = await trio.open_tcp_stream("127.0.0.1", daemon.ports["paris-ipo"])
            await stream.send_all(ipo_line(1).encode() + b"\r\n" + _garbage(500))
            await stream.send_all((b"B" * (MAX_LINE + 10) + b"\n") * overlong + ipo_line(2).encode() + b"\n")
            await stream.send_all(_garbage(500, 500) + ipo_line(3).encode() + b"\n")
            await settle(daemon, good + 5)  # the calls and the first 5 garbage lines; the rest is only counted
            assert daemon.received == good + 5
            await stream.aclose()
    calls = rows(root, "calls")
    rejects = rows(root, "rejects")
    summaries = [r for r in rejects if r["reason"].startswith("line: garbage flood")]
    kept = [r for r in rejects if r not in summaries]
    assert len(calls) == good and len(kept) == 5 and len(summaries) == 1
    assert summaries[0]["raw"].startswith(f"{binary + overlong - 5} more garbage lines suppressed from 127.0.0.1:")
    # lines sent = calls + rejects kept + the count each summary starts with
    suppressed = sum(int(r["raw"].split()[0]) for r in summaries)
    assert len(calls) + len(kept) + suppressed == good + binary + overlong
    assert sum(len(r["raw"]) for r in rejects) < 10_000  # what the flood cost the database


@pytest.mark.trio
async def test_a_text_flood_is_summarised_and_records_inside_it_are_kept(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    daemon = daemon_for(root, garbage_limit=5, garbage_window=3600.0)
    junk, good = 3000, 10
    with trio.fail_after(30):
        async with running(daemon):
            stream = await trio.open_tcp_stream("127.0.0.1", daemon.ports["paris-ipo"])
            for k in range(good):  # a scanner's requests, with the PBX's records among them
                await stream.send_all(b"".join(b"GET /probe/%d HTTP/1.1 user-agent: scan\r\n" % (k * 300 + i)
                                               for i in range(junk // good)) + ipo_line(k).encode() + b"\r\n")
            while daemon.stored_calls < good:
                await trio.sleep(0.01)
            await stream.aclose()
    rejects = rows(root, "rejects")
    summaries = [r for r in rejects if r["reason"].startswith("line: garbage flood")]
    assert len(rows(root, "calls")) == good
    assert len(rejects) < 300 and summaries  # not one row per junk line
    suppressed = sum(int(r["raw"].split()[0]) for r in summaries)
    assert good + len(rejects) - len(summaries) + suppressed == good + junk


@pytest.mark.trio
async def test_each_window_gets_its_summary_while_running(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    daemon = daemon_for(root, garbage_limit=10, garbage_window=0.2)
    sent = 0
    with trio.fail_after(30):
        async with running(daemon):
            port = daemon.ports["paris-ipo"]
            for k in range(2):
                stream = await trio.open_tcp_stream("127.0.0.1", port)
                async with stream:
                    await stream.send_all(_garbage(400, 400 * k))
                sent += 400
                while not any(r["reason"].startswith("line: garbage flood") for r in rows(root, "rejects")):
                    await trio.sleep(0.05)  # the window ends without more input: the summary comes anyway
                await settle(daemon, daemon.received)
            await send_lines(port, [ipo_line(1)])
            await settle(daemon, daemon.received)
    rejects = rows(root, "rejects")
    summaries = [r for r in rejects if r["reason"].startswith("line: garbage flood")]
    assert 1 <= len(summaries) <= 3
    suppressed = sum(int(r["raw"].split()[0]) for r in summaries)
    assert len(rows(root, "calls")) == 1
    assert len(rejects) - len(summaries) + suppressed == sent


# --- AMI, ESL: the login phase ---------------------------------------------------------------------------------


def _stubs() -> tuple[Any, Any]:
    daemon = SimpleNamespace(submit=None, call_active=lambda call: None, call_gone=lambda key: None)
    src = SimpleNamespace(name="pbx", site="paris", username="user", password="secret")
    return daemon, src


async def _server(handler: Any) -> tuple[trio.SocketStream, trio.Nursery, Any]:
    """A one-connection TCP server on 127.0.0.1:0 running `handler(stream)`; returns the client stream."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]

    async def serve_one(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        stream = await listeners[0].accept()
        async with stream:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await handler(stream)
        await listeners[0].aclose()

    return port, serve_one


async def _session_error(session: Any, handler: Any) -> str:
    """The SessionError the session ends with (alone, or from inside its nursery, as the daemon sees it)."""
    port, serve_one = await _server(handler)
    async with trio.open_nursery() as nursery:
        await nursery.start(serve_one)
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        daemon, src = _stubs()
        try:
            with pytest.raises((SessionError, ExceptionGroup)) as info:
                async with stream:
                    await session(daemon, src, stream, "pbx")
        finally:
            nursery.cancel_scope.cancel()
    exc = info.value
    while isinstance(exc, ExceptionGroup):
        assert len(exc.exceptions) == 1
        exc = exc.exceptions[0]
    assert isinstance(exc, SessionError)
    return str(exc)


async def _flood(stream: trio.SocketStream, first: bytes = b"") -> None:
    await stream.send_all(first)
    for _ in range(TEN_MB // 65536):
        await stream.send_all(b"x" * 65536)


@pytest.mark.trio
async def test_ami_banner_that_never_ends_is_refused_after_a_few_kib() -> None:
    with trio.fail_after(20):
        message = await _session_error(ami.session, _flood)
    assert f"no banner line in the first {ami.MAX_BANNER} bytes" in message


@pytest.mark.trio
async def test_ami_silent_server_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ami, "LOGIN_TIMEOUT", 0.2)

    async def banner_only(stream: trio.SocketStream) -> None:
        await stream.send_all(b"Asterisk Call Manager/7.0.3\r\n")
        await trio.sleep_forever()

    async def nothing(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    with trio.fail_after(20):
        assert "no answer to Login" in await _session_error(ami.session, banner_only)
        assert "no banner within" in await _session_error(ami.session, nothing)


@pytest.mark.trio
async def test_ami_packet_flood_after_login_is_bounded() -> None:
    async def flood_after_login(stream: trio.SocketStream) -> None:
        await stream.send_all(b"Asterisk Call Manager/7.0.3\r\n")
        await stream.receive_some(4096)  # the Login action
        await _flood(stream, b"Response: Success\r\nMessage: Authentication accepted\r\n\r\nEvent: Cdr\r\n")

    with trio.fail_after(20):
        assert f"more than {ami.MAX_PACKET} bytes" in await _session_error(ami.session, flood_after_login)


@pytest.mark.trio
async def test_panasonic_login_chatter_is_bounded_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(daemon_module, "PANASONIC_LOGIN", 0.3)

    async def login(daemon: Any, src: Any, stream: trio.SocketStream, peer: str) -> None:
        await daemon_module._panasonic_login(stream, src)

    async def chatter(stream: trio.SocketStream) -> None:  # talks and talks, never asks for the password
        while True:
            await stream.send_all(b"Welcome " * 512)
            await trio.sleep(0.01)

    with trio.fail_after(20):
        assert "no password prompt within 0.3 s" in await _session_error(login, chatter)


def test_ami_packet_reader_joins_a_crlf_split_across_reads() -> None:
    reader = ami.PacketReader()
    assert reader.feed(b"Response: Success\r\nMessage: ok\r") == []
    assert reader.feed(b"\n\r") == []
    assert reader.feed(b"\nEvent: Cdr\r\n\r\n") == ["Response: Success\nMessage: ok", "Event: Cdr"]


@pytest.mark.trio
async def test_esl_header_flood_and_silence_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(esl, "LOGIN_TIMEOUT", 0.2)

    async def silent(stream: trio.SocketStream) -> None:
        await stream.send_all(b"Content-Type: auth/request\n\n")
        await trio.sleep_forever()

    with trio.fail_after(20):
        assert "header block of more than" in await _session_error(esl.session, _flood)
        assert "not logged in" in await _session_error(esl.session, silent)


# --- the subscriber socket ------------------------------------------------------------------------------------


@pytest.mark.trio
async def test_an_oversized_client_message_is_refused_not_buffered(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    daemon = daemon_for(root)
    with trio.fail_after(20):
        async with running(daemon):
            client = await Client.connect(root / "anatole.sock")
            await client.stream.send_all(struct.pack(">I", 900_000) + b"\x00" * 200_000)  # under MAX_FRAME
            error = (await client.wait_for(Error))[0]
            assert "more than 65536 bytes" in error.message
            with pytest.raises((EOFError, trio.BrokenResourceError)):
                while True:
                    await client.next()
            await client.aclose()
