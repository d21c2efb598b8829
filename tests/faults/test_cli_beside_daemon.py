"""Issue 13's "database is locked": `anatole rate` and `anatole import cdr` (real processes) run while the real daemon
stores a stream, and all three finish with the right results; no command shows "database is locked"."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import trio
from click.testing import CliRunner
from fault_support import cli
from serve_support import daemon_for, ipo_line, make_workspace, running, settle

from anatole.cli import main

pytestmark = pytest.mark.trio
STORED, FRESH = 2500, 1000  # calls already stored (re-rated: two pages), calls of a file imported meanwhile


async def test_rate_and_import_while_the_daemon_stores_a_stream(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws")
    stored, fresh = tmp_path / "stored.txt", tmp_path / "fresh.txt"
    stored.write_text("".join(ipo_line(100_000 + i, day=1 + i % 9, seconds=20 + i % 200) + "\r\n"
                              for i in range(STORED)))
    fresh.write_text("".join(ipo_line(200_000 + i, day=1 + i % 9) + "\r\n" for i in range(FRESH)))
    run = CliRunner().invoke(main, ["--workspace", str(root), "import", "cdr", str(stored), "--source", "paris-ipo"])
    assert run.exit_code == 0, run.output
    db = sqlite3.connect(root / "anatole.db")
    with db:  # forget the prices of the stored calls: the re-rate must restore them
        before = dict(db.execute("SELECT native_id, cost FROM calls"))
        db.execute("UPDATE calls SET cost = NULL, status = 'unrated'")
    daemon = daemon_for(root)
    results: dict[str, object] = {}

    async def command(name: str, *args: str) -> None:
        results[name] = await trio.to_thread.run_sync(lambda: cli(root, *args))

    with trio.fail_after(60):
        async with running(daemon):
            port = daemon.ports["paris-ipo"]
            async with trio.open_nursery() as nursery:
                nursery.start_soon(command, "rate", "rate", "--json")
                nursery.start_soon(command, "import", "import", "cdr", str(fresh), "--source", "paris-ipo", "--json")
                stream = await trio.open_tcp_stream("127.0.0.1", port)
                live = 0
                while len(results) < 2:  # the daemon writes all along, 2,000 records/s, until both commands end
                    await stream.send_all("".join(ipo_line(300_000 + i, day=12) + "\r\n"
                                                  for i in range(live, live + 20)).encode())
                    live += 20
                    await trio.sleep(0.01)
                await settle(daemon, live)
                await stream.aclose()
            assert daemon.stored_calls == live
    for name in ("rate", "import"):
        got = results[name]
        assert got.returncode == 0 and "locked" not in got.stderr, (name, got.stderr)  # type: ignore[attr-defined]
    rated = json.loads(results["rate"].stdout)  # type: ignore[attr-defined]
    imported = json.loads(results["import"].stdout)  # type: ignore[attr-defined]
    assert rated["calls"] >= STORED and rated["changed"] >= STORED
    assert imported["calls"] == FRESH and imported["read"] == FRESH
    after = {k: cost for k, cost in db.execute("SELECT native_id, cost FROM calls") if k in before}
    total, distinct = db.execute("SELECT COUNT(*), COUNT(DISTINCT native_id) FROM calls").fetchone()
    pending = db.execute("SELECT COUNT(*) FROM journal WHERE done = 0").fetchone()[0]
    db.close()
    assert after == before  # every stored call re-rated to its price
    assert total == distinct == STORED + FRESH + live and pending == 0
