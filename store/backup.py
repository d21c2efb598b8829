"""Online backups and restores of the workspace's database (`anatole backup`, `anatole restore`).

A backup is taken with SQLite's backup API in one step: it reads one snapshot of the database, so the copy holds
exactly the transactions committed when it started, however busy the daemon is meanwhile (in WAL mode a reader
does not stop the writer, and the writer does not disturb the reader). The copy is written beside its final name,
switched out of WAL mode (one self-contained file), checked with `PRAGMA integrity_check`, and only then renamed
to `anatole-YYYYMMDDTHHMMSSZ.db`: a file with that name is always a complete, verified backup. Retention deletes
the oldest backups of the folder only after a new one is verified.

A restore refuses while a daemon serves the workspace or another program has the database open; it checks the
file first, keeps the current database as `anatole.db.before-restore-<time>`, then copies the backup into place
through SQLite (never a file copy over a database in WAL mode).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

from i18n import _
from store.db import SCHEMA_VERSION, database_holders

NAME = re.compile(r"^anatole-(\d{8}T\d{6}Z)(?:-(\d+))?\.db$")


class BackupError(Exception):
    pass


def _stamp(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")


def backups(folder: Path) -> list[Path]:
    """The backups in `folder`, oldest first."""
    if not folder.is_dir():
        return []
    found = [(m.group(1), int(m.group(2) or 1), p) for p in folder.iterdir() if (m := NAME.match(p.name))]
    return [p for _unused, _unused, p in sorted(found)]


def verify(path: Path) -> dict[str, Any]:
    """integrity_check, the schema versions and the number of calls of a database file; BackupError if it is
    damaged or not an anatole database."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as exc:
        raise BackupError(f"{path}: " + _("cannot be opened: {error}").format(error=exc)) from None
    try:
        result = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        if result != ["ok"]:
            raise BackupError(f"{path}: " + _(
                "integrity_check failed: {names}").format(names='; '.join(map(str, result[:5]))))
        try:
            versions = dict(conn.execute("SELECT component, version FROM schema_versions").fetchall())
            calls = int(conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0])
        except sqlite3.Error:
            raise BackupError(f"{path}: " + _("not an anatole database (no schema_versions or calls table)")) from None
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: " + _("not a database: {error}").format(error=exc)) from None
    finally:
        conn.close()
    return {"integrity": "ok", "schema": versions, "calls": calls}


def backup(db: Path, folder: Path, *, config: Path | None = None, keep: int | None = None) -> dict[str, Any]:
    """Back `db` up into `folder` (verified), copy `config` beside it, then keep only the `keep` newest backups."""
    if not db.is_file():
        raise BackupError(_("no database at {db}: nothing to back up").format(db=db))
    folder.mkdir(parents=True, exist_ok=True)
    size = db.stat().st_size + sum(p.stat().st_size for p in (Path(f"{db}-wal"),) if p.exists())
    free = shutil.disk_usage(folder).free
    if free < size:
        raise BackupError(_(
            "{folder}: {free} bytes free, the database needs up to {size}: nothing written").format(
            folder=folder, free=free, size=size))
    stamp = _stamp()
    # a second backup in the same second is -2, -3...: after every backup of that second, even deleted ones
    taken = [int(m.group(2) or 1) for p in folder.iterdir() if (m := NAME.match(p.name)) and m.group(1) == stamp]
    n = max(taken, default=0) + 1
    final = folder / (f"anatole-{stamp}.db" if n == 1 else f"anatole-{stamp}-{n}.db")
    partial = final.with_name(final.name + ".partial")
    started = time.monotonic()
    try:
        src = sqlite3.connect(str(db), timeout=30)
        dst = sqlite3.connect(str(partial))
        try:
            src.backup(dst)  # pages=-1: the whole database in one step, from one snapshot
            dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            dst.commit()
        finally:
            dst.close()
            src.close()
        info = verify(partial)
        with contextlib.suppress(OSError):
            os.chmod(partial, db.stat().st_mode & 0o660)  # call records: no wider than the database itself
        with open(partial, "rb") as f:
            os.fsync(f.fileno())
        os.replace(partial, final)
        _fsync_dir(folder)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    config_copy = None
    if config is not None and config.is_file():
        config_copy = final.with_suffix(".toml")
        shutil.copy2(config, config_copy)
    removed: list[str] = []
    if keep is not None:
        for old in [p for p in backups(folder)[:-keep] if p != final]:
            for p in (old, old.with_suffix(".toml")):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            removed.append(str(old))
    return {"file": str(final), "size": final.stat().st_size, "seconds": round(time.monotonic() - started, 3),
            "config": str(config_copy) if config_copy else None, "removed": removed, **info}


def daemon_running(socket_path: Path) -> bool:
    """A daemon answers on the workspace's socket (a file a dead one left does not count)."""
    if not socket_path.exists():
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(socket_path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def restore(file: Path, db: Path, socket_path: Path) -> dict[str, Any]:
    """Replace the workspace's database by the backup `file` (see the module's docstring)."""
    if daemon_running(socket_path):
        raise BackupError(_(
            "a daemon is serving this workspace ({socket_path}): stop it first (systemctl stop anatole), then restore")
            .format(socket_path=socket_path))
    holders = database_holders(str(db)) if db.exists() else []
    if holders:
        raise BackupError(_(
            "{db} is open in {names}: stop those programs first, then restore").format(db=db, names=', '.join(holders)))
    if not file.is_file():
        raise BackupError(f"{file}: " + _("no such file"))
    info = verify(file)
    if info["schema"].get("calls", 0) > SCHEMA_VERSION:
        raise BackupError(_(
            "{file} was written by a newer anatole (calls schema {value}, this program knows {version}): "
            "upgrade anatole first").format(file=file, value=info['schema']['calls'], version=SCHEMA_VERSION))
    kept = None
    if db.exists():
        kept = db.with_name(f"{db.name}.before-restore-{_stamp()}")
        src = sqlite3.connect(str(db), timeout=30)
        dst = sqlite3.connect(str(kept))
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
            src.close()
    src = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
    dst = sqlite3.connect(str(db), timeout=30)
    try:
        dst.execute("PRAGMA journal_mode = WAL")
        src.backup(dst)
        dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        dst.close()
        src.close()
    after = verify(db)
    return {"restored": str(file), "database": str(db), "previous": str(kept) if kept else None, **after}


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
