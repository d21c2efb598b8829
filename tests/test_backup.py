"""`anatole backup` and `anatole restore` on a real SQLite file: a backup taken while a writer thread commits in a
loop is a consistent copy holding every row committed before it started; retention keeps the N newest; a restore
is refused while a daemon answers on the workspace's socket, and otherwise puts the backup back."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
from pathlib import Path

from click.testing import CliRunner

from anatole.cli import main
from store.backup import backups
from store.live import LiveStore


def run(ws: Path, *args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--workspace", str(ws), *args], input=input)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def _journal_ids(path: Path) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT id FROM journal ORDER BY id")]
    finally:
        conn.close()


def test_backup_while_a_writer_commits_is_consistent(tmp_path: Path) -> None:
    (tmp_path / "anatole.toml").write_text('[workspace]\ncurrency = "EUR"\n')
    live = LiveStore(tmp_path / "anatole.db")
    live.append([("pbx", i, "line", b"x" * 1000) for i in range(3000)])  # some megabytes to copy
    committed = [3000]
    stop = threading.Event()
    started = threading.Event()

    def writer() -> None:  # its own connection (LiveStore's journal one), one commit per row, until told to stop
        n = 0
        while not stop.is_set() and n < 200_000:
            ids = live.append([("pbx", n, "line", b"y" * 100)])
            committed[0] = ids[-1]
            n += 1
            if n == 50:
                started.set()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        assert started.wait(30)
        before = committed[0]  # every row up to here was committed before the backup started
        code, out = run(tmp_path, "backup", "--to", str(tmp_path / "b"), "--json")
    finally:
        stop.set()
        thread.join(30)
    live.close()
    assert code == 0, out
    info = json.loads(out)
    assert info["integrity"] == "ok" and info["schema"]["live"] >= 1 and info["calls"] == 0
    copy = Path(info["file"])
    ids = _journal_ids(copy)
    assert ids == list(range(1, len(ids) + 1))  # no hole: one snapshot, not pages from several moments
    assert before <= len(ids) <= committed[0]
    assert copy.with_suffix(".toml").read_text() == '[workspace]\ncurrency = "EUR"\n'
    conn = sqlite3.connect(copy)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one file, no -wal needed
    conn.close()
    assert not list((tmp_path / "b").glob("*.partial"))


def test_retention_keeps_the_newest(tmp_path: Path) -> None:
    LiveStore(tmp_path / "anatole.db").close()
    made = []
    for _ in range(4):
        code, out = run(tmp_path, "backup", "--keep", "2", "--json")
        assert code == 0, out
        made.append(json.loads(out)["file"])
    kept = backups(tmp_path / "backups")
    assert [str(p) for p in kept] == made[2:]
    assert sorted(p.name for p in (tmp_path / "backups").iterdir()) == sorted(
        [p.name for p in kept] + [p.with_suffix(".toml").name for p in kept if p.with_suffix(".toml").exists()])
    code, out = run(tmp_path.parent / "nowhere", "backup")
    assert code == 1 and "no database at" in out


def test_restore_is_refused_while_a_daemon_runs_then_puts_the_backup_back(tmp_path: Path) -> None:
    db = tmp_path / "anatole.db"
    live = LiveStore(db)
    live.append([("pbx", i, "line", b"before") for i in range(10)])
    live.close()
    code, out = run(tmp_path, "backup", "--json")
    assert code == 0, out
    file = json.loads(out)["file"]
    live = LiveStore(db)
    live.append([("pbx", i, "line", b"after") for i in range(5)])  # work done after the backup
    live.close()
    # a daemon answers on the workspace's socket: refused, nothing changed
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(tmp_path / "anatole.sock"))
    sock.listen(1)
    try:
        code, out = run(tmp_path, "restore", file, "--yes")
    finally:
        sock.close()
    assert code == 1 and "restore refused" in out and "a daemon is serving this workspace" in out
    assert len(_journal_ids(db)) == 15
    # a socket file the dead daemon left does not count; a damaged file is refused
    (tmp_path / "junk.db").write_bytes(b"not a database" * 100)
    code, out = run(tmp_path, "restore", str(tmp_path / "junk.db"), "--yes")
    assert code == 1 and "junk.db" in out and len(_journal_ids(db)) == 15
    code, out = run(tmp_path, "restore", file, input="n\n")
    assert code == 1 and "nothing restored" in out
    code, out = run(tmp_path, "restore", file, "--yes", "--json")
    assert code == 0, out
    info = json.loads(out)
    assert _journal_ids(db) == list(range(1, 11))
    assert len(_journal_ids(Path(info["previous"]))) == 15  # the replaced database is kept
    LiveStore(db).close()  # and the restored one opens as usual
