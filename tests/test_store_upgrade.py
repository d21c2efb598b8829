"""A workspace written before the day summary (calls layout 2) opens with this version: backed up first, said so,
upgraded in place, nothing lost, and allocation gives the same amounts as before the upgrade."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from anatole.cli import main
from anatole.demo import calls as demo
from store.db import SCHEMA_VERSION


def cli(path: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--workspace", str(path), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def to_layout_2(db: Path) -> None:
    """The database as anatole wrote it before layout 3: no summary tables, the calls component at version 2."""
    conn = sqlite3.connect(db)
    conn.executescript("BEGIN; DROP TRIGGER calls_days_update; DROP TRIGGER calls_days_delete; "
                       "DROP TABLE call_days; DROP TABLE call_days_state; DROP TABLE tz_offsets; "
                       "UPDATE schema_versions SET version = 2 WHERE component = 'calls'; COMMIT;")
    conn.close()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("upgrade") / "ws"
    demo.run_demo(path, seed=5, scale=0.2)
    return path


def test_an_older_workspace_is_backed_up_upgraded_and_allocates_the_same(workspace):
    code, before, _ = cli(workspace, "allocate", "--period", "2026-10", "--dry-run", "--json")
    assert code == 0
    db = workspace / "anatole.db"
    calls = sqlite3.connect(db).execute("SELECT COUNT(*), SUM(cost), SUM(billable) FROM calls").fetchone()
    to_layout_2(db)

    code, after, err = cli(workspace, "allocate", "--period", "2026-10", "--dry-run", "--json")
    assert code == 0, err
    assert f"from layout 2 to {SCHEMA_VERSION}" in err and "backup verified at" in err
    backup = next((workspace / "backups").glob("anatole-*.db"))
    assert sqlite3.connect(backup).execute(
        "SELECT version FROM schema_versions WHERE component = 'calls'").fetchone() == (2,)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*), SUM(cost), SUM(billable) FROM calls").fetchone() == calls
    assert conn.execute("SELECT SUM(calls), SUM(seconds) FROM call_days").fetchone() == (calls[0], calls[2])
    strip = ("run", "id", "created_at", "at", "started", "finished")

    def amounts(out: str) -> dict:
        return {k: v for k, v in json.loads(out).items() if k not in strip}

    assert amounts(after) == amounts(before)
    code, _, err = cli(workspace, "allocate", "--period", "2026-10", "--dry-run", "--json")
    assert code == 0 and "upgrading" not in err  # once only
    assert len(list((workspace / "backups").glob("anatole-*.db"))) == 1


def test_an_upgrade_that_cannot_back_up_changes_nothing(workspace, monkeypatch):
    db = workspace / "anatole.db"
    to_layout_2(db)
    from store import backup

    def full(*_a, **_k):
        raise backup.BackupError("/backups: 0 bytes free, the database needs up to 9000000: nothing written")

    monkeypatch.setattr(backup, "backup", full)
    code, _, err = cli(workspace, "allocate", "--period", "2026-10", "--dry-run", "--json")
    assert code != 0
    assert "needs a backup first" in err and "nothing was changed" in err and "Traceback" not in err
    assert sqlite3.connect(db).execute(
        "SELECT version FROM schema_versions WHERE component = 'calls'").fetchone() == (2,)
