"""`kill -9` of a real `anatole serve` process under load, then a restart: the journal loses nothing and nothing is
stored twice; SIGTERM stops it cleanly; `anatole status` and `serve --check` from the command line."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from serve_support import ipo_line, make_workspace

from anatole.cli_serve import request_status

PYTHON = sys.executable
CLI = "from anatole.cli import main; main()"  # (python -m anatole.cli imports anatole.cli twice)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _workspace(tmp_path: Path) -> tuple[Path, int]:
    port = _free_port()
    root = make_workspace(tmp_path, f"""
[[source]]
name = "paris-ipo"
site = "paris"
format = "avaya-ipo"
listen = "127.0.0.1:{port}"
""")
    return root, port


def _start(root: Path) -> subprocess.Popen:
    proc = subprocess.Popen([PYTHON, "-c", CLI, "--workspace", str(root), "serve"],
                            stdout=subprocess.DEVNULL, stderr=open(root / "serve.log", "ab"))  # noqa: SIM115 (the child keeps it)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            status = request_status(root / "anatole.sock", timeout=1)
            if status is not None and not status.starting:  # (status answers while the journal is replayed)
                return proc
        except (OSError, TimeoutError):
            pass
        assert proc.poll() is None, (root / "serve.log").read_text()
        time.sleep(0.05)
    raise AssertionError("the daemon did not start")


def _send(port: int, lines: list[str], stop: threading.Event | None = None) -> int:
    """Send lines in small bursts; returns how many were written before `stop` or a broken connection."""
    sent = 0
    deadline = time.monotonic() + 15
    while True:  # the daemon answers status before every listener is bound: wait for the PBX's port
        try:
            conn = socket.create_connection(("127.0.0.1", port))
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                return 0
            time.sleep(0.05)
    try:
        with conn as s:
            for i in range(0, len(lines), 50):
                if stop is not None and stop.is_set():
                    break
                s.sendall("".join(line + "\r\n" for line in lines[i:i + 50]).encode())
                sent = i + 50
    except OSError:
        pass
    return min(sent, len(lines))


def _db(root: Path) -> sqlite3.Connection:
    return sqlite3.connect(root / "anatole.db", timeout=30)


def test_kill_9_under_load_then_restart_loses_nothing_and_stores_nothing_twice(tmp_path: Path) -> None:
    root, port = _workspace(tmp_path)
    n = 20_000
    lines = [ipo_line(i, day=10 + i // 3600 % 5, ext=str(2000 + i % 50)) for i in range(n)]
    garbage = [f"garbage record {i}, not SMDR" for i in range(200)]
    records = [x for pair in zip(lines[:200], garbage) for x in pair] + lines[200:]
    proc = _start(root)
    stop = threading.Event()
    sender = threading.Thread(target=_send, args=(port, records, stop))
    sender.start()
    # under load: wait until the daemon has journaled some records, then kill it without warning
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with _db(root) as conn:
            try:
                journaled = conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
            except sqlite3.OperationalError:
                journaled = 0
        if journaled > 2000:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stop.set()
    sender.join()
    with _db(root) as conn:
        journal = conn.execute("SELECT COUNT(*), SUM(done = 0) FROM journal").fetchone()
    assert journal[0] > 2000
    # restart: the journal's pending records are processed first, every journaled record has its outcome
    proc = _start(root)
    with _db(root) as conn:
        assert conn.execute("SELECT COUNT(*) FROM journal WHERE done = 0").fetchone()[0] == 0
        outcomes = dict(conn.execute("SELECT outcome, COUNT(*) FROM journal GROUP BY outcome").fetchall())
        calls = conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
        rejects = conn.execute("SELECT COUNT(*) FROM rejects").fetchone()[0]
    assert outcomes.get("call", 0) == calls and outcomes.get("reject", 0) == rejects
    assert sum(outcomes.values()) == journal[0]
    # the PBX replays everything it sent (as IP Office does after a reconnect): nothing twice, nothing missing
    assert _send(port, records) == len(records)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = request_status(root / "anatole.sock")
        if status.received >= len(records) and status.journal_pending == 0:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert not (root / "anatole.sock").exists()
    with _db(root) as conn:
        calls, distinct = conn.execute("SELECT COUNT(*), COUNT(DISTINCT native_id) FROM calls").fetchone()
        rejects = conn.execute("SELECT COUNT(*) FROM rejects").fetchone()[0]
        pending = conn.execute("SELECT COUNT(*) FROM journal WHERE done = 0").fetchone()[0]
    assert calls == distinct == n and rejects == len(garbage) and pending == 0
    assert calls + rejects == len(records)
    log = [json.loads(x) for x in (root / "serve.log").read_text().splitlines() if x.startswith("{")]
    assert {"started", "stopping", "stopped"} <= {e["event"] for e in log}


def test_status_without_daemon_and_check(tmp_path: Path) -> None:
    root, _port = _workspace(tmp_path)
    run = subprocess.run([PYTHON, "-c", CLI, "status", "--workspace", str(root)], capture_output=True,
                         text=True)
    assert run.returncode == 3 and "no daemon is running" in run.stderr
    run = subprocess.run([PYTHON, "-c", CLI, "serve", "--check", "--json", "--workspace", str(root)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    plan = json.loads(run.stdout)
    assert plan["ok"] and plan["sources"][0]["name"] == "paris-ipo"
    with (root / "anatole.toml").open("a") as f:
        f.write('\n[[alert]]\nname = "x"\nwhen = "cost > lots"\n')
    run = subprocess.run([PYTHON, "-c", CLI, "serve", "--check", "--workspace", str(root)],
                         capture_output=True, text=True)
    assert run.returncode == 1 and "[[alert]] #1" in run.stderr and "when" in run.stderr and "lots" in run.stderr
