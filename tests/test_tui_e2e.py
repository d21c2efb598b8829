"""End to end: a real `anatole serve` process, a simulated PBX (Avaya IP Office SMDR) streaming calls to it over TCP
on 127.0.0.1, and the monitor (`anatole monitor`: the Live screen, built from the workspace as the command builds
it) driven by Pilot on the daemon's real Unix socket. The calls must appear on the monitor, streamed (not read back
from the store), each with the cost the daemon rated and stored."""

from __future__ import annotations

import asyncio
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from serve_support import ipo_line, make_workspace
from test_tui_support import run, until
from textual.widgets import DataTable

from anatole.cli_serve import request_status
from anatole.cli_ui import console_context
from anatole.config import open_workspace
from tui.app import ConsoleApp
from tui.data import money
from tui.live_screen import LiveScreen

CLI = "from anatole.cli import main; main()"  # (python -m anatole.cli imports anatole.cli twice)
# (seconds, dialled national number): a landline, a mobile, an international call and a free number
CALLS = [(62, "0155501234"), (125, "0612345678"), (47, "00441632960123"), (305, "0800123456"), (90, "0388123456")]


def _start(root: Path) -> tuple[subprocess.Popen, int]:
    """Start `anatole serve` (its SMDR source listens on port 0) and return it with the port it bound."""
    with (root / "serve.log").open("ab") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen([sys.executable, "-c", CLI, "--workspace", str(root), "serve"],
                                stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, (root / "serve.log").read_text()
        try:
            status = request_status(root / "anatole.sock", timeout=1)
        except (OSError, TimeoutError):
            status = None
        if status is not None and status.sources and status.sources[0].state == "listening":
            return proc, int(status.sources[0].peer.rsplit(":", 1)[1])
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"the daemon did not start: {(root / 'serve.log').read_text()}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _stored_costs(root: Path) -> dict[str, tuple[int, str]]:
    conn = sqlite3.connect(root / "anatole.db")
    try:
        return {number: (cost, currency) for number, cost, currency in conn.execute(
            "SELECT number, cost, currency FROM calls WHERE direction = 'outgoing'")}
    finally:
        conn.close()


def test_calls_streamed_by_a_pbx_appear_on_the_monitor_with_their_cost() -> None:
    base = Path(tempfile.mkdtemp(prefix="e2e"))  # short: Unix socket paths are limited to 107 bytes
    root = make_workspace(base / "ws")
    proc, port = _start(root)
    shown: dict[str, list[str]] = {}
    try:
        async def go() -> None:
            ctx = console_context(open_workspace(root))  # as `anatole monitor` builds it
            ctx.retry_seconds, ctx.flash = 0.2, False
            app = ConsoleApp(ctx, screens=("live",), start="live")
            async with app.run_test(size=(100, 30)) as pilot:
                screen = app.screen
                assert isinstance(screen, LiveScreen)
                await until(pilot, lambda: screen.connected is not None, "connected to the daemon", 10)
                assert "connected to the daemon" in str(screen.query_one("#live-status").render())
                assert screen.processed == 0
                # the PBX streams its SMDR records, one at a time, over TCP
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                for n, (seconds, number) in enumerate(CALLS):
                    writer.write(ipo_line(n, seconds=seconds, number=number, ext=f"200{n + 1}").encode() + b"\r\n")
                    await writer.drain()
                    await pilot.pause(0.05)
                table = screen.query_one("#finished", DataTable)
                await until(pilot, lambda: screen.processed >= len(CALLS) and table.row_count >= len(CALLS),
                            "every call on the monitor", 10)
                writer.close()
                await writer.wait_closed()
                for key in table.rows:
                    row = [str(c) for c in table.get_row(key)]
                    shown[row[4]] = row  # ended, site, ext, dir, number, dur, cost, destination

        run(go())
    finally:
        _stop(proc)
    try:
        stored = _stored_costs(root)
        assert len(stored) == len(CALLS) and len(shown) == len(CALLS)
        for number, (cost, currency) in stored.items():
            row = shown[number]  # every call, by its E.164 number
            assert cost is not None and currency == "EUR"
            assert row[6] == money(cost, "EUR"), (number, row)  # the cost the daemon rated and stored
            assert row[1] == "paris" and row[3] == "out"
        assert {row[2] for row in shown.values()} == {f"200{n + 1}" for n in range(len(CALLS))}
        assert any(cost > 0 for cost, _ in stored.values())
    finally:
        shutil.rmtree(base, ignore_errors=True)
