"""systemd notifications (issue 21): a Unix datagram socket stands in for systemd; the daemon says READY=1 once it
serves, STATUS= now and then, WATCHDOG=1 when asked, STOPPING=1 on shutdown; its log lines are JSON with a level."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import trio
from serve_support import IPO_LINES, daemon_for, make_workspace, running, send_lines, settle

from pbx.sdnotify import Notifier, socket_address


def _fake_systemd(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(10)
    return sock


def test_address_forms() -> None:
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("@private/notify") == b"\0private/notify"
    assert socket_address("") is None and socket_address("vsock:2:1") is None


def test_outside_systemd_nothing_is_sent() -> None:
    notifier = Notifier({})
    assert not notifier.enabled and not notifier.ready() and not notifier.ping()
    gone = Notifier({"NOTIFY_SOCKET": "/nonexistent/notify"})
    assert gone.enabled and gone.ready() is False  # a manager that went away costs nothing


def test_messages_and_watchdog(tmp_path: Path) -> None:
    sock = _fake_systemd(tmp_path / "notify")
    with sock:
        notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "30000000"})
        assert notifier.watchdog == 15.0  # half the interval
        assert notifier.ready("serving 2 sources")
        assert sock.recv(4096) == b"READY=1\nSTATUS=serving 2 sources"
        assert notifier.ping() and sock.recv(4096) == b"WATCHDOG=1"
        assert notifier.status("a\nb") and sock.recv(4096) == b"STATUS=a b"  # one message, one line
    other = Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": str(os.getpid() + 1)})
    assert other.watchdog is None  # meant for another process


def test_abstract_namespace() -> None:
    name = f"anatole-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(10)
    with sock:
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).stopping()
        assert sock.recv(4096) == b"STOPPING=1"


async def _messages(sock: trio.socket.SocketType, until: str) -> list[str]:
    got: list[str] = []
    while until not in got:
        got += (await sock.recv(4096)).decode().split("\n")
    return got


@pytest.mark.trio
async def test_daemon_ready_status_watchdog_stopping(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws")
    path = tmp_path / "notify"
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    await sock.bind(str(path))
    notifier = Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "100000"})
    daemon = daemon_for(root, notifier=notifier)
    with sock, trio.fail_after(20):
        async with running(daemon):
            before = await _messages(sock, "READY=1")
            assert daemon.ports["paris-ipo"]  # ready means listening
            assert not any(m.startswith("STOPPING") for m in before)
            await send_lines(daemon.ports["paris-ipo"], IPO_LINES)
            await settle(daemon, len(IPO_LINES))
            seen = await _messages(sock, "WATCHDOG=1")
            while not any(m.startswith("STATUS=1/1 sources up; received 5") for m in seen):
                seen = await _messages(sock, "WATCHDOG=1")
        after = await _messages(sock, "STOPPING=1")
    assert any(m.startswith("STATUS=stopping") for m in after)
    lines = daemon.config.log.getvalue().splitlines()  # type: ignore[union-attr]
    events = [json.loads(x) for x in lines]
    assert all(e["level"] in ("info", "warning", "error") for e in events)
    assert {"started", "stopping", "stopped"} <= {e["event"] for e in events}


def test_serve_under_a_fake_systemd(tmp_path: Path) -> None:
    """`anatole serve` as systemd runs it: NOTIFY_SOCKET set, SIGTERM to stop; stderr holds only JSON lines."""
    root = make_workspace(tmp_path / "ws")
    sock = _fake_systemd(tmp_path / "notify")
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify")}
    env.pop("WATCHDOG_USEC", None)
    program = [sys.executable, "-c", "from anatole.cli import main; main()", "serve", "--workspace", str(root)]
    proc = subprocess.Popen(program, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        with sock:
            got: list[str] = []
            while "READY=1" not in got:
                got += sock.recv(4096).decode().split("\n")
            assert (root / "anatole.sock").exists()
            proc.send_signal(signal.SIGTERM)
            while "STOPPING=1" not in got:
                got += sock.recv(4096).decode().split("\n")
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    events = [json.loads(line) for line in err.splitlines()]  # every line is one JSON object
    assert [e["event"] for e in events if e["event"] in ("started", "stopping", "stopped")] == \
        ["started", "stopping", "stopped"]
    assert all("level" in e for e in events)


def test_journald_priority_prefix(tmp_path: Path) -> None:
    """Under journald ($JOURNAL_STREAM names stderr) each line starts with its syslog priority, which journald
    strips: `journalctl -p warning` filters, `-o cat | jq` reads JSON. Elsewhere, no prefix."""
    from pbx.sdnotify import journal_prefix

    with (tmp_path / "log").open("w") as f:
        st = os.fstat(f.fileno())
        assert journal_prefix(f, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})("error") == "<3>"
        assert journal_prefix(f, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})("info") == "<6>"
        assert journal_prefix(f, {"JOURNAL_STREAM": "1:2"})("error") == ""
        assert journal_prefix(f, {})("error") == ""
    assert journal_prefix(object(), {"JOURNAL_STREAM": "1:2"})("error") == ""  # no file behind it


@pytest.mark.trio
async def test_daemon_log_under_journald(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws")
    log = (tmp_path / "stderr").open("w+")
    st = os.fstat(log.fileno())
    os.environ["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
    try:
        daemon = daemon_for(root, log=log)
    finally:
        del os.environ["JOURNAL_STREAM"]
    with log, trio.fail_after(20):
        async with running(daemon):
            pass
        log.seek(0)
        lines = log.read().splitlines()
    assert lines and all(line.startswith("<6>{") or line.startswith(("<4>{", "<3>{")) for line in lines)
    assert {json.loads(line[3:])["event"] for line in lines} >= {"started", "stopped"}
