"""The SQLite store (WAL): schema, migrations and every query. The only place SQL is written.

Money is INTEGER in units of 10**-8 (engine.money). Times are INTEGER UTC epoch seconds. A call row is one leg as
the PBX wrote it; `billed` = 0 marks a leg whose cost is already carried by another leg of the same call.
Idempotence: the key of a call is (source, start, native_id, leg), never the PBX id alone (PBX ids reset); the
key of a reject is (source, file hash, line).
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from i18n import N_, _
from store import days, schema

try:
    from store import _fast
except ImportError:  # not built (a source tree without build_ext): the Python paths
    _fast = None  # type: ignore[assignment]

MIGRATIONS: list[str] = [
    # 1: calls, rejects, imports, sites, sources, rating history
    """
    CREATE TABLE sites (
        name TEXT PRIMARY KEY, country TEXT NOT NULL, timezone TEXT NOT NULL, tariff TEXT
    );
    CREATE TABLE sources (
        name TEXT PRIMARY KEY, site TEXT NOT NULL, format TEXT NOT NULL
    );
    CREATE TABLE imports (
        id INTEGER PRIMARY KEY, source TEXT NOT NULL, file TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER,
        format TEXT NOT NULL, started INTEGER NOT NULL, finished INTEGER,
        read INTEGER DEFAULT 0, calls INTEGER DEFAULT 0, rejected INTEGER DEFAULT 0, duplicates INTEGER DEFAULT 0,
        skipped INTEGER DEFAULT 0
    );
    CREATE TABLE calls (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL, site TEXT NOT NULL, import_id INTEGER, line INTEGER,
        native_id TEXT NOT NULL, leg TEXT NOT NULL, grp TEXT NOT NULL,
        start INTEGER NOT NULL, answer INTEGER, duration INTEGER NOT NULL, billable INTEGER NOT NULL,
        direction TEXT NOT NULL, disposition TEXT NOT NULL,
        extension TEXT, trunk TEXT, caller TEXT, dialled TEXT, called TEXT, account TEXT,
        number TEXT, number_kind TEXT NOT NULL, number_rule TEXT,
        billed INTEGER NOT NULL DEFAULT 1,
        status TEXT NOT NULL, tariff TEXT, prefix TEXT, destination TEXT, band TEXT, billed_seconds INTEGER,
        cost INTEGER, currency TEXT, rated_at INTEGER,
        notes TEXT, raw TEXT,
        UNIQUE (source, start, native_id, leg)
    );
    CREATE INDEX calls_start ON calls (start);
    CREATE INDEX calls_site_start ON calls (site, start);
    CREATE INDEX calls_extension ON calls (extension, start);
    CREATE INDEX calls_group ON calls (source, grp);
    CREATE TABLE rejects (
        id INTEGER PRIMARY KEY, source TEXT NOT NULL, import_id INTEGER, file TEXT, sha256 TEXT NOT NULL,
        line INTEGER NOT NULL, raw TEXT, reason TEXT NOT NULL,
        UNIQUE (source, sha256, line)
    );
    CREATE TABLE rating_history (
        id INTEGER PRIMARY KEY, call_id INTEGER NOT NULL, rated_at INTEGER NOT NULL, tariff TEXT, status TEXT,
        cost INTEGER, currency TEXT, replaced_at INTEGER NOT NULL
    );
    """,
    # 2: which rule decided each call's direction (ingest.cdr.classify RULES, "format", "dialplan"); NULL before
    """
    ALTER TABLE calls ADD COLUMN direction_rule TEXT;
    """,
    # 3: per-day summaries kept with the calls (allocation, reports and totals read them instead of every call);
    # each site's UTC offsets, so a day is the site's own; filled by Store.migrate (Python: zoneinfo)
    """
    CREATE TABLE tz_offsets (
        site TEXT NOT NULL, since INTEGER NOT NULL, offset INTEGER NOT NULL, timezone TEXT NOT NULL,
        PRIMARY KEY (site, since)
    ) WITHOUT ROWID;
    CREATE TABLE call_days (
        site TEXT NOT NULL, day INTEGER NOT NULL, extension TEXT NOT NULL, direction TEXT NOT NULL,
        number_kind TEXT NOT NULL, destination TEXT NOT NULL, status TEXT NOT NULL, currency TEXT NOT NULL,
        billed INTEGER NOT NULL,
        calls INTEGER NOT NULL, answered INTEGER NOT NULL, seconds INTEGER NOT NULL, billed_seconds INTEGER NOT NULL,
        priced INTEGER NOT NULL, cost INTEGER NOT NULL,
        PRIMARY KEY (site, day, extension, direction, number_kind, destination, status, currency, billed)
    ) WITHOUT ROWID;
    CREATE TABLE call_days_state (id INTEGER PRIMARY KEY CHECK (id = 1), upto INTEGER NOT NULL);
    INSERT INTO call_days_state (id, upto) VALUES (1, 0);
    """,
    # 4: the summary kept right for calls changed by hand (row triggers, paused by the batch writers), and the rows a
    # subtraction emptied found at once
    """
    CREATE INDEX call_days_empty ON call_days (calls) WHERE calls = 0;
    ALTER TABLE call_days_state ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;
    """ + days.TRIGGERS,
]
SCHEMA_VERSION = len(MIGRATIONS)

CALL_COLUMNS = (
    "source", "site", "import_id", "line", "native_id", "leg", "grp", "start", "answer", "duration", "billable",
    "direction", "disposition", "extension", "trunk", "caller", "dialled", "called", "account", "number",
    "number_kind", "number_rule", "billed", "status", "tariff", "prefix", "destination", "band", "billed_seconds",
    "cost", "currency", "rated_at", "notes", "raw", "direction_rule",
)
REJECT_COLUMNS = ("source", "import_id", "file", "sha256", "line", "raw", "reason")

# The indexes of calls that only readers need. A large import drops them and builds each once at the end, in one
# sort (~0.8 us a call), instead of keeping them row by row (~8 us a call for the three: docs/store.md). The
# UNIQUE key (idempotence) and calls_group (merging legs reads it during the import) always stay.
READER_INDEXES = {
    "calls_start": "CREATE INDEX IF NOT EXISTS calls_start ON calls (start)",
    "calls_site_start": "CREATE INDEX IF NOT EXISTS calls_site_start ON calls (site, start)",
    "calls_extension": "CREATE INDEX IF NOT EXISTS calls_extension ON calls (extension, start)",
    # "dearest first" within each currency, page by page: 0.4 ms a page at 10M calls instead of 9-15 s of scan
    "calls_cost": "CREATE INDEX IF NOT EXISTS calls_cost ON calls (IFNULL(currency, ''), IFNULL(cost, -1))",
}
BULK_MIN = 100_000  # calls: a smaller import keeps the indexes
BULK_SHARE = 0.5  # ... and so does one smaller than this share of the calls already stored
RATING_NO_COST = -(2**63)  # Store.rating_columns: the cost of a call without one (NULL)
_RATING_SELECT = ("id, start, billable, IFNULL(rated_at, 0), cost, SUBSTR(CAST(number AS BLOB), 1, 18), site, trunk, "
                  "number_kind, direction, status, tariff, currency")


class StoreError(Exception):
    pass


def insert_many(conn: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]], *, chunk: int | None = None,
                fast: bool = True) -> None:
    """executemany(sql, rows), the values bound in C when store._fast can (2.3x on a call row), else executemany:
    the same rows stored, the same errors (store/_fast.pyx). `chunk`: rows per C call, the GIL let go between
    them (the daemon's writer, beside its event loop); `fast` False: always executemany."""
    if fast and _fast is not None and _fast.AVAILABLE:
        step = chunk or max(1, len(rows))
        try:
            _fast.insert_rows(conn, sql, rows[:step])
        except _fast.Unavailable:  # raised before anything is bound: an unknown connection layout
            conn.executemany(sql, rows)
            return
        for k in range(step, len(rows), step):
            _fast.insert_rows(conn, sql, rows[k:k + step])
        return
    conn.executemany(sql, rows)


# --- sharing the file with the daemon (and with other commands) ------------------------------------------------
# SQLite has one writer at a time. Every connection waits on a lock (busy timeout) instead of failing at once, and
# every write transaction takes the write lock up front (BEGIN IMMEDIATE, through `write_transaction`): a
# transaction that read first and then writes cannot get SQLITE_BUSY half-way (the snapshot it read may be stale:
# SQLite refuses the upgrade without waiting). Starting the transaction is retried with back-off up to a generous
# limit; past it the user gets StoreBusy naming the programs that have the database open, and nothing was written.

BUSY_TIMEOUT = 10.0  # seconds SQLite itself waits on a lock, on every connection the store opens
BUSY_LIMIT = 120.0  # seconds a write transaction waits to start, in all (env ANATOLE_DB_BUSY_LIMIT overrides)


class StoreBusy(StoreError):
    """The database stayed locked by another program longer than the limit: nothing was written."""


def busy_limit() -> float:
    try:
        return max(0.0, float(os.environ.get("ANATOLE_DB_BUSY_LIMIT", BUSY_LIMIT)))
    except ValueError:
        return BUSY_LIMIT


def connect(path: Path | str, *, timeout: float = BUSY_TIMEOUT, check_same_thread: bool = True) -> sqlite3.Connection:
    """A connection as every part of the product should open one: WAL, synchronous FULL, a busy timeout."""
    conn = sqlite3.connect(str(path), timeout=timeout, check_same_thread=check_same_thread)
    deadline, delay = time.monotonic() + timeout, 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            break
        except sqlite3.OperationalError as exc:
            # several connections opening a new file at once (the daemon and a command): SQLite may refuse the
            # switch to WAL at once, without waiting in its busy handler; retried as long as the busy timeout
            if not is_busy(exc) or time.monotonic() >= deadline:
                conn.close()
                raise
            time.sleep(delay)
            delay = min(2 * delay, 0.2)
    conn.execute("PRAGMA synchronous = FULL")  # a commit that returned survives a power cut, not only a crash
    return conn


def is_busy(exc: BaseException) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED (any extended code): another connection holds a lock."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    text = str(exc)
    return "locked" in text or "busy" in text


def begin_immediate(conn: sqlite3.Connection, *, what: str = "write", limit: float | None = None) -> None:
    """BEGIN IMMEDIATE, retried with back-off (jittered, doubling to 2 s) while another connection holds the write
    lock, for at most `limit` seconds (busy_limit()); then StoreBusy. Each attempt also waits in SQLite's own busy
    handler, never past the limit."""
    limit = busy_limit() if limit is None else limit
    deadline = time.monotonic() + limit
    timeout_ms = int(conn.execute("PRAGMA busy_timeout").fetchone()[0])
    delay = 0.02
    try:
        while True:
            left = deadline - time.monotonic()
            conn.execute(f"PRAGMA busy_timeout = {max(0, min(timeout_ms, int(left * 1000)))}")
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise StoreBusy(busy_message(conn, what, limit)) from None
            time.sleep(min(delay * random.uniform(0.5, 1.0), max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 2.0)
    finally:
        with contextlib.suppress(sqlite3.Error):
            conn.execute(f"PRAGMA busy_timeout = {timeout_ms}")


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection, *, what: str = "write",
                      limit: float | None = None) -> Iterator[sqlite3.Connection]:
    """`with write_transaction(conn, what="re-rate"):` all the statements inside, or none of them.

    Starts with begin_immediate (so it waits for, never fails on, a busy database up to the limit), commits at
    the end, rolls back on any exception. Inside a transaction already open on `conn` it is part of that one:
    the outer transaction commits or rolls back (the daemon's batch calls the same Store methods)."""
    if conn.in_transaction:
        yield conn
        return
    begin_immediate(conn, what=what, limit=limit)
    try:
        yield conn
        conn.commit()
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise


# what the user can do after StoreBusy stopped a long job made of several transactions
_AFTERWARDS = {
    "import": N_("what it stored before stays; importing the same file again completes it (nothing is stored twice)"),
    "re-rate": N_("the calls re-rated before stay so; running it again finishes the job"),
}


def busy_message(conn: sqlite3.Connection, what: str, waited: float) -> str:
    """The database, how long we waited, who has it open, and what to do."""
    path = ""
    with contextlib.suppress(sqlite3.Error, IndexError, TypeError):
        path = conn.execute("PRAGMA database_list").fetchone()[2]
    return locked_message(path, what, waited)


def locked_message(path: str, what: str, waited: float | None) -> str:
    holders = database_holders(path) if path else []
    # the optional clauses are whole phrases of their own, inserted where the sentence has room for them
    held = _(" (open in {programs})").format(programs=", ".join(holders)) if holders else ""
    after = _AFTERWARDS.get(what)
    took = _(" for {seconds} s").format(seconds=f"{waited:.0f}") if waited is not None else ""
    return _("the database {path} stayed locked by another program{held}{took}: this {what} step wrote "
             "nothing{after}; run it again once that program is done (ANATOLE_DB_BUSY_LIMIT sets how long to "
             "wait)").format(path=path or _("(in memory)"), held=held, took=took, what=what,
                             after=f" ({_(after)})" if after else "")


def database_holders(path: str) -> list[str]:
    """'pid N (command)' of the other processes that have the database file open (Linux /proc; [] elsewhere)."""
    names = {os.path.realpath(path + suffix) for suffix in ("", "-wal", "-shm")}
    found: list[str] = []
    with contextlib.suppress(OSError):
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    with contextlib.suppress(OSError):
                        if os.readlink(f"/proc/{pid}/fd/{fd}") in names:
                            with open(f"/proc/{pid}/cmdline", "rb") as f:
                                argv = f.read().decode("utf-8", "replace").split("\0")
                            found.append(f"pid {pid} ({_command(argv)})")
                            break
    return found


_COMMANDS = {"serve", "import", "rate", "hotel", "invoice", "inventory", "monitor", "ui", "demo", "reconcile"}


def _command(argv: list[str]) -> str:
    """`anatole serve` for any way of starting anatole; else the program's first words."""
    argv = [a for a in argv if a]
    if argv and (Path(argv[0]).name == "anatole" or any("anatole.cli" in a for a in argv[1:3])):
        return "anatole " + next((a for a in argv[1:] if a in _COMMANDS), "").strip()
    words = [" ".join(a.split()) for a in argv[:3]]
    return " ".join(w if len(w) < 40 else w[:37] + "..." for w in words) or "?"


@dataclass
class Store:
    """One open database. Use `open_store(path)`."""

    db: sqlite_utils.Database

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    def close(self) -> None:
        self.conn.close()

    # --- schema -------------------------------------------------------------------------------------------

    def version(self) -> int:
        return schema.version(self.conn, "calls")

    def migrate(self) -> None:
        try:
            schema.migrate(self.conn, "calls", MIGRATIONS)
        except schema.SchemaError as exc:
            raise StoreError(str(exc)) from None
        except sqlite3.OperationalError as exc:
            if is_busy(exc):
                raise
            raise StoreError(_(
                "upgrading the call store to layout {version} failed ({error}): the step was rolled back, the "
                "database is as it was before it").format(version=SCHEMA_VERSION, error=exc)) from None
        self.ensure_indexes()  # a large import that was killed before it rebuilt them
        if days.upto(self.conn) < (self.conn.execute("SELECT MAX(id) FROM calls").fetchone()[0] or 0):
            # calls stored before the summary existed (or written around the Store): fold them in, in the sites' days
            with write_transaction(self.conn, what="upgrade"):
                for name, timezone in self.conn.execute("SELECT name, timezone FROM sites").fetchall():
                    days.record_site(self.conn, name, timezone)
                days.summarise_new(self.conn)

    def ensure_indexes(self) -> None:
        missing = [ddl for name, ddl in READER_INDEXES.items() if not self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)).fetchone()]
        if missing:
            with write_transaction(self.conn, what="import"):
                for ddl in missing:
                    self.conn.execute(ddl)

    @contextlib.contextmanager
    def bulk_load(self, calls: int) -> Iterator[bool]:
        """Around an import of about `calls` calls: when that is large beside the store (BULK_MIN, BULK_SHARE), the
        reader indexes are dropped for its duration and rebuilt at the end, even when it fails (and at the next
        open when the process was killed). Yields whether it did. Readers meanwhile still get right answers,
        only slower."""
        stored = self.conn.execute("SELECT MAX(id) FROM calls").fetchone()[0] or 0
        if calls < BULK_MIN or calls < BULK_SHARE * stored:
            yield False
            return
        with write_transaction(self.conn, what="import"):
            for name in READER_INDEXES:
                self.conn.execute(f"DROP INDEX IF EXISTS {name}")
        try:
            yield True
        finally:
            self.ensure_indexes()

    # --- configuration mirrors --------------------------------------------------------------------------------

    def upsert_site(self, name: str, country: str, timezone: str, tariff: str | None) -> None:
        with write_transaction(self.conn, what="import"):
            self.conn.execute(
                "INSERT INTO sites (name, country, timezone, tariff) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO "
                "UPDATE SET country = excluded.country, timezone = excluded.timezone, tariff = excluded.tariff",
                (name, country, timezone, tariff))
            days.record_site(self.conn, name, timezone)

    def upsert_source(self, name: str, site: str, fmt: str) -> None:
        with write_transaction(self.conn, what="import"):
            self.conn.execute(
                "INSERT INTO sources (name, site, format) VALUES (?, ?, ?) ON CONFLICT (name) DO "
                "UPDATE SET site = excluded.site, format = excluded.format", (name, site, fmt))

    # --- imports --------------------------------------------------------------------------------------------

    def begin_import(self, source: str, file: str, sha256: str, size: int, fmt: str) -> int:
        with write_transaction(self.conn, what="import"):
            cur = self.conn.execute(
                "INSERT INTO imports (source, file, sha256, size, format, started) VALUES (?, ?, ?, ?, ?, ?)",
                (source, file, sha256, size, fmt, int(time.time())))
        return int(cur.lastrowid)

    def finish_import(self, import_id: int, counts: dict[str, int]) -> None:
        with write_transaction(self.conn, what="import"):
            self.conn.execute(
                "UPDATE imports SET finished = ?, read = ?, calls = ?, rejected = ?, duplicates = ?, skipped = ? "
                "WHERE id = ?",
                (int(time.time()), counts["read"], counts["calls"], counts["rejected"], counts["duplicates"],
                 counts["skipped"], import_id))

    def insert_calls(self, rows: Sequence[Sequence[Any]]) -> int:
        """Insert call rows (CALL_COLUMNS order), ignoring those already stored, and fold the new ones into the
        day summary; returns how many were new. Commits (unless inside an open transaction): once this returns,
        the rows are durable."""
        with write_transaction(self.conn, what="import"):
            before = self.conn.total_changes
            insert_many(self.conn, f"INSERT OR IGNORE INTO calls ({', '.join(CALL_COLUMNS)}) "
                                   f"VALUES ({', '.join('?' * len(CALL_COLUMNS))})", rows)
            new = self.conn.total_changes - before
            days.summarise_new(self.conn)
        return new

    def insert_rejects(self, rows: Sequence[Sequence[Any]]) -> int:
        before = self.conn.total_changes
        with write_transaction(self.conn, what="import"):
            insert_many(self.conn, f"INSERT OR IGNORE INTO rejects ({', '.join(REJECT_COLUMNS)}) "
                                   f"VALUES ({', '.join('?' * len(REJECT_COLUMNS))})", rows)
        return self.conn.total_changes - before

    def merge_overlapping_legs(self, source: str, groups: Iterable[str]) -> int:
        """Within each call group, several answered outgoing legs to the same number that overlap in time (parallel
        ringing, Local channels, transfers logged twice) carry one cost: keep the longest billed, mark the others
        billed = 0. Returns the number of legs marked. One transaction (or part of the caller's)."""
        with write_transaction(self.conn, what="import"):
            return self._merge_overlapping_legs(source, list(set(groups)))

    def _merge_overlapping_legs(self, source: str, groups: list[str]) -> int:
        marked = 0
        for chunk in _chunks(groups, 500):
            marks = f"({', '.join('?' * len(chunk))})"
            ids = [r[0] for r in self.conn.execute(f"""
                    SELECT DISTINCT b.id FROM calls a JOIN calls b
                      ON a.source = b.source AND a.grp = b.grp AND a.number = b.number AND a.id != b.id
                     AND a.direction = 'outgoing' AND b.direction = 'outgoing'
                     AND a.billable > 0 AND b.billable > 0 AND a.billed = 1
                     AND COALESCE(b.answer, b.start) < COALESCE(a.answer, a.start) + a.billable
                     AND COALESCE(a.answer, a.start) < COALESCE(b.answer, b.start) + b.billable
                     AND (b.billable < a.billable OR (b.billable = a.billable AND b.id > a.id))
                    WHERE a.source = ? AND a.grp IN {marks} AND a.grp != '' AND b.billed = 1""", (source, *chunk))]
            marked += self._update_summarised("UPDATE calls SET billed = 0 WHERE id = ?", [(i,) for i in ids])
        return marked

    def _update_summarised(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """executemany(sql, rows), each row's last parameter a call id, with those calls' day summary taken out
        before and put back after (inside the caller's transaction); returns the number of calls changed."""
        changed = 0
        with days.batched(self.conn):
            for chunk in _chunks(list(rows), 500):
                ids = [r[-1] for r in chunk]
                where = f"c.id IN ({', '.join('?' * len(ids))})"
                days.apply(self.conn, where, ids, -1)
                changed += self.conn.executemany(sql, chunk).rowcount
                days.apply(self.conn, where, ids, 1)
        return changed

    # --- queries ------------------------------------------------------------------------------------------

    def calls(self, *, start: int | None = None, end: int | None = None, site: str | None = None,
              extension: str | None = None, direction: str | None = None, status: str | None = None,
              min_cost: int | None = None, number: str | None = None, limit: int | None = None,
              order: str = "start") -> Iterator[dict[str, Any]]:
        where, args = _filters(start=start, end=end, site=site, extension=extension, direction=direction,
                               status=status, min_cost=min_cost, number=number)
        sql = f"SELECT * FROM calls {where} ORDER BY {'cost DESC' if order == 'cost' else 'start, id'}"
        if limit:
            sql += f" LIMIT {int(limit)}"
        cur = self.conn.execute(sql, args)
        names = [d[0] for d in cur.description]
        for row in cur:
            yield dict(zip(names, row))

    def calls_for_rating(self, *, start: int | None, end: int | None, site: str | None,
                         after: tuple[int, int] | None = None, limit: int = 5000) -> list[tuple]:
        """One page of the calls to re-rate, in (start, id) order strictly after the keyset `after` (the last
        page's last (start, id)), read whole: no cursor stays open across the writes that follow (a read snapshot
        held open makes the next write fail as soon as another program, such as the daemon, has committed). The
        keyset follows the start indexes: a page costs the same at any depth, with or without a site."""
        where, args = _filters(start=start, end=end, site=site)
        if after is not None:
            where = (where + " AND " if where else "WHERE ") + "start >= ? AND (start > ? OR id > ?)"
            args += [after[0], after[0], after[1]]
        return self.conn.execute(
            f"SELECT id, site, trunk, number, number_kind, direction, billable, start, status, tariff, cost, "
            f"currency, rated_at, billed FROM calls {where} ORDER BY start, id LIMIT {int(limit)}", args).fetchall()

    def rating_columns(self, *, start: int | None = None, end: int | None = None, site: str | None = None,
                       after: tuple[int, int] | None = None, limit: int = 20_000,
                       ids: Sequence[int] | None = None) -> dict[str, Any]:
        """calls_for_rating's page as numpy columns, read by store.reports.read_columns (in C when it can: no Python
        object per call, the committed database read on a connection of its own): id, start, billable, rated_at
        (int64; 0 for none), cost (int64, RATING_NO_COST for none), number ('S18' bytes: the stored text cut at 18
        bytes, b"" for none), and site, trunk, number_kind, direction, status, tariff, currency as object arrays
        of str (None for NULL; trunk '' for none). With `ids`: the stored results (id, rated_at, cost, status,
        tariff, currency) of those calls still stored, in id order, through this connection: what a re-rate
        checks again inside its write transaction."""
        import numpy as np

        if ids is not None:  # a few thousand calls inside a write transaction: through this connection
            rows: list[tuple] = []
            for chunk in _chunks(sorted(ids), 500):
                rows += self.conn.execute(
                    "SELECT id, IFNULL(rated_at, 0), IFNULL(cost, ?), status, tariff, currency FROM calls "
                    f"WHERE id IN ({', '.join('?' * len(chunk))}) ORDER BY id", (RATING_NO_COST, *chunk)).fetchall()
            got = list(zip(*rows)) or [()] * 6
            return {"id": np.array(got[0], dtype=np.int64), "rated_at": np.array(got[1], dtype=np.int64),
                    "cost": np.array(got[2], dtype=np.int64), "status": np.array(got[3], dtype=object),
                    "tariff": np.array(got[4], dtype=object), "currency": np.array(got[5], dtype=object)}
        where, args = _filters(start=start, end=end, site=site)
        if after is not None:
            where = (where + " AND " if where else "WHERE ") + "start >= ? AND (start > ? OR id > ?)"
            args += [after[0], after[0], after[1]]
        return self._rating_columns(f"{where.removeprefix('WHERE ') or '1'} ORDER BY start, id LIMIT {int(limit)}",
                                    args)

    def _rating_columns(self, where: str, args: Sequence[Any]) -> dict[str, Any]:
        import numpy as np

        from store.reports import read_columns

        none = "\0"  # a NULL text (never a stored value): None after the read
        cols = read_columns(self.conn, f"SELECT {_RATING_SELECT} FROM calls WHERE {where}", args, [
            ("id", "int64", None), ("start", "int64", None), ("billable", "int64", None), ("rated_at", "int64", None),
            ("cost", "int64", RATING_NO_COST), ("number", "S18", b""), ("site", "cat", None), ("trunk", "cat", ""),
            ("number_kind", "cat", None), ("direction", "cat", None), ("status", "cat", None),
            ("tariff", "cat", none), ("currency", "cat", none)])
        for name in ("site", "trunk", "number_kind", "direction", "status", "tariff", "currency"):
            values = np.array([None if v == none else str(v) for v in cols.pop(name + "_values")] or [None],
                              dtype=object)
            cols[name] = values[cols[name]]
        return cols

    def count_for_rating(self, *, start: int | None, end: int | None, site: str | None) -> int:
        """How many calls calls_for_rating pages through (a progress bar's total)."""
        where, args = _filters(start=start, end=end, site=site)
        return int(self.conn.execute(f"SELECT COUNT(*) FROM calls {where}", args).fetchone()[0])

    def update_ratings(self, rows: Sequence[tuple], history: Sequence[tuple]) -> None:
        """rows: (status, tariff, prefix, destination, band, billed_seconds, cost, currency, rated_at, id);
        history: the results they replace, (call_id, rated_at, tariff, status, cost, currency, replaced_at).
        One transaction (or part of the caller's: the re-rate reads, prices and writes a page in one)."""
        with write_transaction(self.conn, what="re-rate"):
            self.conn.executemany(
                "INSERT INTO rating_history (call_id, rated_at, tariff, status, cost, currency, replaced_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", history)
            self._update_summarised(
                "UPDATE calls SET status = ?, tariff = ?, prefix = ?, destination = ?, band = ?, billed_seconds = ?, "
                "cost = ?, currency = ?, rated_at = ? WHERE id = ?", rows)

    def delete_calls(self, start: int, end: int, site: str | None = None) -> int:
        """Delete the calls that started in [start, end) (of one site), their day summary with them: what
        archiving a month does once the month is safely elsewhere. One transaction; returns how many."""
        where = "c.start >= ? AND c.start < ?" + (" AND c.site = ?" if site is not None else "")
        args = (start, end) + ((site,) if site is not None else ())
        with write_transaction(self.conn, what="archive"), days.batched(self.conn):
            days.apply(self.conn, where, args, -1)
            n = self.conn.execute(f"DELETE FROM calls AS c WHERE {where}", args).rowcount
            days.forget_ids(self.conn)
        return n

    def rejects(self, *, source: str | None = None, limit: int | None = None) -> Iterator[dict[str, Any]]:
        sql = "SELECT * FROM rejects" + (" WHERE source = ?" if source else "") + " ORDER BY id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        cur = self.conn.execute(sql, (source,) if source else ())
        names = [d[0] for d in cur.description]
        for row in cur:
            yield dict(zip(names, row))

    def imports(self, limit: int | None = None) -> list[dict[str, Any]]:
        cur = self.conn.execute("SELECT * FROM imports ORDER BY id DESC" + (f" LIMIT {int(limit)}" if limit else ""))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur]

    def count(self, table: str) -> int:
        if table not in ("calls", "rejects", "imports"):
            raise ValueError(table)
        return int(self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    # --- console reads (keyset pages: a 10-million-call store opens as fast as an empty one) ------------------

    def calls_page(self, *, order: str = "start_desc", after: tuple[Any, int] | None = None,
                   before: tuple[Any, int] | None = None, limit: int = 100, **filters: Any) -> list[dict[str, Any]]:
        """One page of calls in `order` (PAGE_ORDERS), strictly after the keyset `after` (sort value, id) or, going
        back, strictly before `before`. Keyset rather than OFFSET: page N costs what page 1 costs."""
        expr, desc = PAGE_ORDERS[order]
        keys = expr if isinstance(expr, tuple) else (expr,)
        where, args = _page_filters(**filters)
        clauses = [where[6:]] if where else []
        backwards = before is not None
        anchor = before if backwards else after
        if anchor is not None:
            less = desc != backwards
            op = "<" if less else ">"
            if len(keys) == 1:
                # "(k, id) < (?, ?)" written so that the leading range on k can use the index on k
                clauses.append(f"{expr} {op}= ? AND ({expr} {op} ? OR id {op} ?)")
                args += [anchor[0], anchor[0], anchor[1]]
            else:  # a row value over an index's columns (calls_cost): SQLite walks the index from the anchor
                clauses.append(f"({', '.join(keys)}, id) {op} ({', '.join('?' * (len(keys) + 1))})")
                args += [*anchor[0], anchor[1]]
        direction = "DESC" if desc != backwards else "ASC"
        named = ", ".join(f"{k} AS sort_key_{i}" for i, k in enumerate(keys))
        sql = (f"SELECT *, {named} FROM calls" + (" WHERE " + " AND ".join(clauses) if clauses else "")
               + f" ORDER BY {', '.join(f'{k} {direction}' for k in keys)}, id {direction} LIMIT {int(limit)}")
        cur = self.conn.execute(sql, args)
        names = [d[0] for d in cur.description]
        rows = []
        for values in cur:
            row = dict(zip(names, values))
            parts = tuple(row.pop(f"sort_key_{i}") for i in range(len(keys)))
            row["sort_key"] = parts[0] if len(keys) == 1 else parts  # opaque to callers: handed back as the anchor
            rows.append(row)
        return rows[::-1] if backwards else rows

    def calls_totals(self, **filters: Any) -> dict[str, Any]:
        """Count, billable seconds and cost per currency of the calls matching `filters` (merged legs: no cost).
        A period with equality filters on site, extension, direction or status is summed from the day summary
        (DayReads.calls_totals: a month of a 10M-call store in well under a second); other filters read the
        calls."""
        given = {k: v for k, v in filters.items() if v is not None}
        if set(given) <= {"start", "end", "site", "extension", "direction", "status"}:
            lo, hi = given.pop("start", None), given.pop("end", None)
            if lo is None or hi is None:
                first, last = self.conn.execute("SELECT MIN(start), MAX(start) FROM calls").fetchone()
                if first is None:
                    return {"calls": 0, "seconds": 0, "cost": {}}
                lo, hi = first if lo is None else lo, last + 1 if hi is None else hi
            from store.reports import DayReads  # store.reports reads this module's tables

            return DayReads(self.conn).calls_totals(lo, hi, given)
        return self.scan_totals(**filters)

    def scan_totals(self, **filters: Any) -> dict[str, Any]:
        """calls_totals read from the calls themselves (any filter; the summary's test oracle)."""
        where, args = _page_filters(**filters)
        out: dict[str, Any] = {"calls": 0, "seconds": 0, "cost": {}}
        for currency, n, seconds, cost in self.conn.execute(
                f"SELECT currency, COUNT(*), SUM(billable), SUM(CASE WHEN billed = 1 THEN cost END) FROM calls {where} "
                f"GROUP BY currency", args):
            out["calls"] += n
            out["seconds"] += seconds or 0
            if currency and cost is not None:
                out["cost"][currency] = out["cost"].get(currency, 0) + cost
        return out

    def call(self, call_id: int) -> dict[str, Any] | None:
        cur = self.conn.execute("SELECT * FROM calls WHERE id = ?", (call_id,))
        row = cur.fetchone()
        return dict(zip([d[0] for d in cur.description], row)) if row else None

    def rejects_page(self, *, before_id: int | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """The most recent rejects first, keyset by id."""
        args = (before_id,) if before_id is not None else ()
        cur = self.conn.execute("SELECT * FROM rejects" + (" WHERE id < ?" if args else "")
                                + f" ORDER BY id DESC LIMIT {int(limit)}", args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur]

    def call_sites(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM sites ORDER BY name")]


def _filters(**f: Any) -> tuple[str, list[Any]]:
    clauses, args = [], []
    for key, sql in (("start", "start >= ?"), ("end", "start < ?"), ("site", "site = ?"),
                     ("extension", "extension = ?"), ("direction", "direction = ?"), ("status", "status = ?"),
                     ("min_cost", "cost >= ?"), ("number", "number LIKE ? || '%'")):
        if f.get(key) is not None:
            clauses.append(sql)
            args.append(f[key])
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", args


# sort orders of calls_page: name -> (SQL expression, or a tuple of them, descending). Each expression is never
# NULL, so that the keyset (expressions, id) orders every call exactly once; each column has its _asc and _desc
# (the console's last page reads the reverse order, then reverses it).
COST_ORDER = ("IFNULL(currency, '')", "IFNULL(cost, -1)")  # the expressions of the calls_cost index, exactly
_TEXT_ORDERS = {"site": "site", "extension": "IFNULL(extension, '')", "status": "status",
                "number": "COALESCE(NULLIF(number, ''), NULLIF(dialled, ''), caller, '')",
                "destination": "IFNULL(destination, '')", "direction": "direction"}
PAGE_ORDERS: dict[str, tuple[str | tuple[str, ...], bool]] = {
    "start_desc": ("start", True), "start_asc": ("start", False),
    # dearest per currency (no exchange rates): never GBP against JPY by face value
    "cost_desc": (COST_ORDER, True), "cost_asc": (COST_ORDER, False),
    "duration_desc": ("billable", True), "duration_asc": ("billable", False),
    **{f"{name}_{way}": (expr, way == "desc") for name, expr in _TEXT_ORDERS.items() for way in ("asc", "desc")},
}


def _page_filters(*, destination: str | None = None, **f: Any) -> tuple[str, list[Any]]:
    """_filters plus the console's: destination (a case-insensitive substring)."""
    where, args = _filters(**f)
    if destination:
        where = (where + " AND " if where else "WHERE ") + "destination LIKE '%' || ? || '%'"
        args.append(destination)
    return where, args


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def open_store(path: Path | str) -> Store:
    """Open (creating if needed) the database in WAL mode and bring its schema up to date (after a backup, when
    there are calls in an older layout). A file that is not a database, or one that cannot be opened, raises
    StoreError with a message for the user; a locked one what SQLite raised (the callers wait or name the holder)."""
    try:
        conn = connect(path)
        db = sqlite_utils.Database(conn)
        conn.execute("PRAGMA foreign_keys = ON")
        store = Store(db)
        _backup_before_upgrade(conn, Path(path))
        store.migrate()
    except sqlite3.OperationalError as exc:
        if is_busy(exc):
            raise
        raise StoreError(_("cannot read the database {path}: {text}").format(path=path, text=exc)) from None
    except sqlite3.DatabaseError as exc:
        raise StoreError(_("{path} is not an anatole database: {error}").format(path=path, error=exc)) from None
    return store


def _backup_before_upgrade(conn: sqlite3.Connection, path: Path) -> None:
    """Before the calls schema of a database that holds calls is upgraded: a verified backup in <folder>/backups,
    and a message on stderr saying what happens and where the backup is (an upgrade rewrites tables)."""
    current = schema.version(conn, "calls")
    if current in (0, SCHEMA_VERSION) or current > SCHEMA_VERSION:
        return
    calls = conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    if not calls:
        return
    from store.backup import BackupError, backup  # store.backup imports this module

    sys.stderr.write("anatole: " + _("upgrading the call store {path} from layout {current} to {version} ({calls} "
                                     "calls); backing it up first...").format(
        path=path, current=current, version=SCHEMA_VERSION, calls=calls) + "\n")
    try:
        taken = backup(path, path.parent / "backups")
    except (BackupError, OSError, sqlite3.Error) as exc:
        raise StoreError(f"{path}: " + _(
            "the upgrade needs a backup first and it failed ({error}): nothing was changed; free some space or take "
            "one with `anatole backup --to DIR`, then try again").format(error=exc)) from None
    sys.stderr.write("anatole: " + _("backup verified at {file}; upgrading (this can take a minute per 10 million "
                                     "calls)").format(file=taken["file"]) + "\n")


def open_existing(path: Path | str, *, timeout: float = 2.0) -> Store:
    """Open a database that must already exist, for a reader that may run in several threads (the console).

    A missing file, a locked or unreadable database and a schema newer than this program raise StoreError with a
    message for the user; an older schema is migrated (as `open_store` would)."""
    path = Path(path)
    if not path.is_file():
        raise StoreError(_(
            "no database at {path}: import calls first (`anatole import cdr FILE`) or run `anatole demo`").format(
            path=path))
    try:
        conn = sqlite3.connect(str(path), timeout=timeout, check_same_thread=False)  # reads: no WAL switch here
        current = schema.version(conn, "calls")
        store = Store(sqlite_utils.Database(conn))
        if current != SCHEMA_VERSION:
            conn.execute("PRAGMA journal_mode = WAL")
            _backup_before_upgrade(conn, path)
            store.migrate()
        conn.execute("SELECT COUNT(*) FROM calls WHERE id = 0").fetchone()
    except sqlite3.OperationalError as exc:
        text = str(exc)
        if "locked" in text or "busy" in text:
            raise StoreError(_(
                "the database {path} is locked by another program (an import or a re-rate in progress?): try again in "
                "a moment").format(path=path)) from None
        raise StoreError(_("cannot read the database {path}: {text}").format(path=path, text=text)) from None
    except sqlite3.DatabaseError as exc:
        raise StoreError(_("{path} is not an anatole database: {error}").format(path=path, error=exc)) from None
    return store
