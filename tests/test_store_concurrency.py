"""The command line beside a busy writer (the live daemon): `anatole rate` and `anatole import cdr` run while another
process commits write transactions in a loop, and give the right results; a lock held past the limit ends the
command with a message naming who holds it, exit 1, nothing written. A real SQLite file, a real second process."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from serve_support import ipo_line, make_workspace

import pipeline.rerate
from anatole.cli import main
from store.db import StoreBusy, begin_immediate, connect, open_store, write_transaction

# A stand-in for the daemon's writer: write transactions in a loop (BEGIN IMMEDIATE, a row, hold the lock a little,
# COMMIT), each one a new row of `probe`, until the file `stop` appears; prints how many it committed.
WRITER = r"""
import pathlib, sqlite3, sys, time
db, stop, hold = sys.argv[1], pathlib.Path(sys.argv[2]), float(sys.argv[3])
conn = sqlite3.connect(db, timeout=30, isolation_level=None)
conn.execute("PRAGMA journal_mode = WAL")
conn.execute("CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, at REAL)")
n = 0
print("ready", flush=True)
while not stop.exists():
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO probe (at) VALUES (?)", (time.time(),))
    time.sleep(hold)
    conn.execute("COMMIT")
    n += 1
    time.sleep(0.002)
print(n, flush=True)
"""

# Holds the write lock until killed.
HOLDER = r"""
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, at REAL)")
conn.execute("INSERT INTO probe (at) VALUES (1)")
print("locked", flush=True)
time.sleep(600)
"""


@contextlib.contextmanager
def busy_writer(db: Path, hold: float = 0.01) -> Iterator[dict[str, int]]:
    """Another process committing write transactions in a loop while the block runs; yields {"commits": n}
    (filled on exit)."""
    stop = db.parent / "writer.stop"
    stop.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(stop), str(hold)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        result: dict[str, int] = {}
        yield result
        stop.touch()
        out, _ = proc.communicate(timeout=30)
        result["commits"] = int(out.split()[-1])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def lock_held(db: Path) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _workspace(tmp_path: Path, n: int) -> tuple[Path, Path]:
    root = make_workspace(tmp_path / "ws")
    cdr = tmp_path / "calls.txt"
    cdr.write_text("".join(ipo_line(i, day=10 + i // 3600 % 5, seconds=30 + i % 300, ext=str(2000 + i % 40),
                                    number=("0155501234", "0612345678", "0033144556677")[i % 3]) + "\r\n"
                           for i in range(n)))
    return root, cdr


def _cli(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--workspace", str(root), *args], catch_exceptions=False)
    return result.exit_code, result.output


def _costs(db: Path) -> dict[str, tuple]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return {r[0]: tuple(r[1:]) for r in conn.execute(
            "SELECT native_id, status, tariff, cost, currency, billed_seconds FROM calls")}


def test_rate_while_another_process_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, cdr = _workspace(tmp_path, 1500)
    db = root / "anatole.db"
    code, out = _cli(root, "import", "cdr", str(cdr), "--source", "paris-ipo")
    assert code == 0, out
    priced = _costs(db)
    assert len(priced) == 1500 and all(p[2] is not None and p[2] > 0 for p in priced.values())
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:  # forget every price: the re-rate must restore them
        conn.execute("UPDATE calls SET status = 'unrated', tariff = NULL, cost = NULL, currency = NULL, "
                     "billed_seconds = NULL")
    monkeypatch.setattr(pipeline.rerate, "BATCH", 100)  # 15 pages, each its own transaction between the writer's
    with busy_writer(db) as writer:
        code, out = _cli(root, "rate", "--json")
    assert code == 0, out
    assert '"calls": 1500' in out and '"changed": 1500' in out
    assert _costs(db) == priced
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM rating_history").fetchone()[0] == 1500
        assert conn.execute("SELECT COUNT(*) FROM probe").fetchone()[0] == writer["commits"] > 0


def test_import_while_another_process_writes(tmp_path: Path) -> None:
    root, cdr = _workspace(tmp_path, 3000)
    db = root / "anatole.db"
    open_store(db).close()
    with busy_writer(db, hold=0.02) as writer:
        code, out = _cli(root, "import", "cdr", str(cdr), "--source", "paris-ipo", "--json")
        assert code == 0, out
        assert '"read": 3000' in out and '"calls": 3000' in out
        code, out = _cli(root, "import", "cdr", str(cdr), "--source", "paris-ipo", "--json")  # again: nothing new
        assert code == 0, out
        assert '"calls": 0' in out and '"duplicates": 3000' in out
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT native_id) FROM calls").fetchone() == (3000, 3000)
        assert conn.execute("SELECT COUNT(*) FROM imports WHERE finished IS NULL").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM probe").fetchone()[0] == writer["commits"] > 0


def test_lock_held_past_the_limit_names_the_holder_and_writes_nothing(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    root, cdr = _workspace(tmp_path, 300)
    db = root / "anatole.db"
    code, out = _cli(root, "import", "cdr", str(cdr), "--source", "paris-ipo")
    assert code == 0, out
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE calls SET cost = NULL, status = 'unrated'")
    before = _costs(db)
    monkeypatch.setenv("ANATOLE_DB_BUSY_LIMIT", "0.5")
    with lock_held(db) as holder:
        for args in (["rate"], ["import", "cdr", str(cdr), "--source", "paris-ipo"]):
            result = CliRunner().invoke(main, ["--workspace", str(root), *args])
            assert result.exit_code == 1, result.output
            assert isinstance(result.exception, SystemExit)  # a message, not a traceback
            text = " ".join(result.output.split())
            assert "stayed locked by another program" in text and f"pid {holder.pid}" in text, text
            assert "database is locked" not in text
    assert _costs(db) == before
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM rating_history").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM imports").fetchone()[0] == 1


def test_write_transaction_waits_for_a_lock_released_within_the_limit(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    holder = connect(db, check_same_thread=False)
    holder.execute("CREATE TABLE t (v INTEGER)")
    holder.commit()
    begin_immediate(holder)
    release = threading.Timer(0.3, holder.commit)
    release.start()
    conn = connect(db, timeout=0.05)  # SQLite's own wait is short: the retry with back-off does the rest
    began = time.monotonic()
    with write_transaction(conn, what="test", limit=20):
        conn.execute("INSERT INTO t VALUES (1)")
    release.join()
    assert time.monotonic() - began < 20
    assert conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 1


def test_write_transaction_rolls_back_and_joins_an_open_one(tmp_path: Path) -> None:
    conn = connect(tmp_path / "x.db")
    conn.execute("CREATE TABLE t (v INTEGER)")
    conn.commit()
    with pytest.raises(ZeroDivisionError), write_transaction(conn):
        conn.execute("INSERT INTO t VALUES (1)")
        1 / 0  # noqa: B018
    assert not conn.in_transaction and conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0
    begin_immediate(conn)
    with write_transaction(conn):  # inside the caller's transaction: no commit of its own
        conn.execute("INSERT INTO t VALUES (2)")
    assert conn.in_transaction
    conn.rollback()
    assert conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0


def test_busy_past_the_limit_raises_store_busy(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    holder = connect(db)
    holder.execute("CREATE TABLE t (v INTEGER)")
    holder.commit()
    begin_immediate(holder)
    conn = connect(db, timeout=0.05)
    with pytest.raises(StoreBusy, match="stayed locked by another program"):
        begin_immediate(conn, what="test", limit=0.3)
    assert not conn.in_transaction
    holder.rollback()


def test_invoice_import_and_workflow_while_another_process_writes(tmp_path: Path) -> None:
    data = Path(__file__).parent / "data" / "invoices"
    root = tmp_path / "ws"
    root.mkdir()
    (root / "anatole.toml").write_text('[workspace]\ncurrency = "EUR"\n')
    db = root / "anatole.db"
    open_store(db).close()
    with busy_writer(db, hold=0.02) as writer:
        code, out = _cli(root, "import", "invoice", "--json", str(data / "ubl-telecom.xml"),
                         str(data / "x12-811-acme.edi"))
        assert code == 0, out
        code, out = _cli(root, "invoice", "list", "--json")
        assert code == 0, out
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM invoices").fetchone()[0] == 2
        assert conn.execute("SELECT COUNT(*) FROM probe").fetchone()[0] == writer["commits"] > 0


def test_a_raw_database_is_locked_anywhere_in_a_command_is_a_message(tmp_path: Path) -> None:
    """A write that bypassed write_transaction and waited past its busy timeout: the command group turns it into
    the message naming who holds the database, exit 1, never a traceback."""
    import click

    from anatole import clitools

    @click.group(cls=clitools.Group)
    @click.pass_context
    def group(ctx: click.Context) -> None:
        ctx.obj = {"workspace": tmp_path}

    @group.command()
    def write() -> None:
        raise sqlite3.OperationalError("database is locked")

    @group.command()
    def broken() -> None:
        raise sqlite3.OperationalError("no such table: nowhere")

    result = CliRunner().invoke(group, ["write"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "stayed locked by another program" in " ".join(result.output.split())
    assert str(tmp_path / "anatole.db") in result.output.replace("\n", "")
    result = CliRunner().invoke(group, ["broken"])  # anything else is a bug and shows as one
    assert isinstance(result.exception, sqlite3.OperationalError)


def test_checkin_and_checkout_by_hand_while_another_process_writes(tmp_path: Path) -> None:
    from test_hotel_cli import HOTEL

    root = make_workspace(tmp_path / "ws", extra=HOTEL)
    db = root / "anatole.db"
    open_store(db).close()
    with busy_writer(db, hold=0.02) as writer:
        for room, guest in (("214", "Martin, Alice"), ("305", "Keller, Bruno")):
            code, out = _cli(root, "hotel", "checkin", room, "--guest", guest)
            assert code == 0 and f"room {room} checked in" in out, out
        code, out = _cli(root, "hotel", "checkout", "214")
        assert code == 0, out
    with contextlib.closing(sqlite3.connect(db)) as conn:
        stays = conn.execute("SELECT room, checkout IS NULL FROM hotel_stays ORDER BY room").fetchall()
        assert stays == [("214", 0), ("305", 1)]
        assert conn.execute("SELECT COUNT(*) FROM probe").fetchone()[0] == writer["commits"] > 0
