"""A damaged or foreign anatole.db (random bytes, a truncated copy, a folder) ends every command with a message naming
the file (exit 1), never a raw sqlite3 traceback: the way out is `anatole restore` from a backup."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from anatole.cli import main
from store import open_store


def damaged(tmp_path: Path, kind: str) -> Path:
    (tmp_path / "anatole.toml").write_text('[workspace]\ncurrency = "EUR"\n')
    db = tmp_path / "anatole.db"
    if kind == "garbage":
        db.write_bytes(os.urandom(4096) + b"x" * 8192)
    elif kind == "truncated":
        store = open_store(db)
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        store.close()
        db.write_bytes(db.read_bytes()[:db.stat().st_size // 3])
        for extra in ("-wal", "-shm"):
            Path(str(db) + extra).unlink(missing_ok=True)
    else:
        db.mkdir()
    return db


@pytest.mark.parametrize("kind,said", [("garbage", "is not an anatole database: file is not a database"),
                                       ("truncated", "is not an anatole database: database disk image is malformed"),
                                       ("folder", "cannot read the database")])
@pytest.mark.parametrize("command", [["calls"], ["invoice", "list"], ["imports", "list"], ["alerts"]])
def test_every_command_names_the_damaged_file(tmp_path: Path, kind: str, said: str, command: list[str]) -> None:
    db = damaged(tmp_path, kind)
    result = CliRunner().invoke(main, ["--workspace", str(tmp_path), *command])
    assert result.exit_code == 1, (result.output, result.exception)
    assert str(db) in result.output and said in result.output, result.output
    assert "Traceback" not in result.output


def test_a_backup_of_a_damaged_database_is_refused_with_a_message(tmp_path: Path) -> None:
    db = damaged(tmp_path, "garbage")
    result = CliRunner().invoke(main, ["--workspace", str(tmp_path), "backup", "--to", str(tmp_path / "bk")])
    assert result.exit_code == 1 and f"{db} is not an anatole database" in result.output, result.output
