"""Helpers of the fault-injection suite (tests/faults/): a real `anatole serve` process started and killed, a paced
PBX sender that knows how far the daemon acknowledged (Status.journaled), and the checks every fault test makes:
nothing lost that was journaled, nothing stored twice, the daemon still serving."""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from anatole.cli_serve import request_status

PYTHON = sys.executable
CLI = "from anatole.cli import main; main()"  # (python -m anatole.cli imports anatole.cli twice)
EXPENSIVE = """
[[alert]]
name = "expensive"
when = "cost > 0.01"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listen_source(port: int, allow: str = "") -> str:
    return f"""
[[source]]
name = "paris-ipo"
site = "paris"
format = "avaya-ipo"
listen = "127.0.0.1:{port}"
{allow}
"""


def wait(predicate: Callable[[], Any], timeout: float = 30, what: str = "") -> Any:
    """Poll until `predicate()` is truthy (returns it); fails after `timeout` s (a bound, not a timing check)."""
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what or predicate}"
        time.sleep(0.02)


def status(root: Path, timeout: float = 5) -> Any:
    """The daemon's Status, or None when none answers."""
    try:
        return request_status(root / "anatole.sock", timeout=timeout)
    except (OSError, TimeoutError):
        return None


def spawn_daemon(root: Path) -> subprocess.Popen:
    """`anatole serve` in its own process, not waited for (its log appended to serve.log)."""
    log = open(root / "serve.log", "ab")  # noqa: SIM115 (the child keeps it)
    proc = subprocess.Popen([PYTHON, "-c", CLI, "--workspace", str(root), "serve"], stdout=subprocess.DEVNULL,
                            stderr=log)
    log.close()
    return proc


def start_daemon(root: Path) -> subprocess.Popen:
    """`anatole serve` in its own process, once it answers status and its listener accepts."""
    proc = spawn_daemon(root)

    def up() -> bool:
        assert proc.poll() is None, (root / "serve.log").read_text()[-3000:]
        got = status(root, timeout=1)
        return got is not None and all(s.state != "down" for s in got.sources if s.format == "avaya-ipo")

    wait(up, 60, "the daemon to start")
    return proc


def kill_9(proc: subprocess.Popen) -> None:
    proc.kill()  # SIGKILL: no cleanup at all
    proc.wait(10)


def stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.terminate()
        try:
            return proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            raise
    return proc.returncode


def cli(root: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-c", CLI, "--workspace", str(root), *args], capture_output=True, text=True,
                          timeout=timeout)


class Sender:
    """A PBX sending `lines` from `start` at `rate` lines/s (bursts every 10 ms) on one TCP connection, in a thread.
    `acked` is how far the daemon acknowledged by journaling: `start` plus the Status.journaled last seen (a record
    is journaled in the order received), updated by `poll()`; after a crash only `lines[acked:]` are sent again."""

    def __init__(self, root: Path, port: int, lines: list[str], start: int = 0, rate: float = 2000,
                 source_ip: str | None = None) -> None:
        self.root, self.port, self.lines, self.start, self.rate = root, port, lines, start, rate
        self.source_ip = source_ip
        self.sent = start
        self.acked = start
        self.error: BaseException | None = None
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            conn = socket.create_connection(("127.0.0.1", self.port), timeout=10,
                                            source_address=(self.source_ip, 0) if self.source_ip else None)
        except OSError as exc:
            self.error = exc
            return
        burst = max(1, int(self.rate / 100))
        began = time.monotonic()
        try:
            with conn:
                for i in range(self.start, len(self.lines), burst):
                    if self.stopped.is_set():
                        return
                    due = began + (i - self.start) / self.rate
                    delay = due - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    conn.sendall("".join(line + "\r\n" for line in self.lines[i:i + burst]).encode())
                    self.sent = min(i + burst, len(self.lines))
                # the PBX keeps the connection open (as IP Office does) until told to stop
                self.stopped.wait(120)
        except OSError:
            pass  # the daemon went away: what it did not acknowledge is sent again by the next Sender

    def poll(self) -> Any:
        got = status(self.root, timeout=2)
        if got is not None:
            self.acked = max(self.acked, self.start + got.journaled)
        return got

    def done(self) -> bool:
        return self.sent >= len(self.lines)

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(10)


@contextlib.contextmanager
def db(root: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(root / "anatole.db", timeout=30)
    try:
        yield conn
    finally:
        conn.close()


def check_store(root: Path) -> dict[str, int]:
    """The invariants after any fault: every journal entry done with an outcome that is in the store, no call stored
    twice, each alert raised once. Returns counts for the test's own checks."""
    with db(root) as conn:
        pending = conn.execute("SELECT COUNT(*) FROM journal WHERE done = 0").fetchone()[0]
        assert pending == 0, f"{pending} journal entries left pending"
        outcomes = dict(conn.execute("SELECT outcome, COUNT(*) FROM journal GROUP BY outcome").fetchall())
        calls, keys = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT source || '|' || start || '|' || native_id || '|' || leg) "
            "FROM calls").fetchone()
        assert calls == keys
        assert outcomes.get("call", 0) == calls, (outcomes, calls)
        twice = conn.execute("SELECT rule, call_id, COUNT(*) FROM alerts WHERE call_id IS NOT NULL "
                             "GROUP BY rule, call_id HAVING COUNT(*) > 1").fetchall()
        assert not twice, twice
        rejects = conn.execute("SELECT COUNT(*) FROM rejects").fetchone()[0]
        alerts = conn.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]
    return {"calls": calls, "rejects": rejects, "alerts": alerts, **outcomes}
