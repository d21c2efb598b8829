"""The live daemon's tables: the receive journal and the alerts (component "live", its own migrations).

Journal: every record the daemon receives is appended (and committed) here before it is parsed; it is marked done
in the same transaction that stores its call or reject, so after a crash the rows still pending are exactly the
records to process again, and nothing is stored twice. Done rows stay as a raw capture for `journal_days` (re-parse
after a parser fix), then are pruned, a bounded number of rows at a time, while the daemon runs.

Alerts: one row per alert raised; `dedup` makes raising the same alert twice (a replayed record) a no-op.

Two connections, one per daemon task: the journal task appends on its own (`append`), so a group commit of new
records never waits for parsing and rating; the writer does everything else, one batch transaction at a time
(check_same_thread is off because each runs in worker threads, one call after the other). SQLite serialises the
two writers on its lock; a batch transaction is short (rows only, the parsing and rating are done before it).

Durability: the journal connection commits with `synchronous = FULL` (an fsync per group commit: a record counted
as journaled survives a power cut). The writer's connection commits with `synchronous = NORMAL` (no fsync of its
own): everything a batch transaction stores (calls, rejects, journal marks) is redone from the journal if that
transaction is lost, because the marks are in the same transaction as the rows they mark, so a lost batch leaves its
entries pending and the start-up replay stores them again (`Daemon._replay`; calls and rejects are inserted with ON
CONFLICT DO NOTHING, so a batch that did survive is not stored twice). Both connections write the one WAL file,
in commit order, and an fsync of it covers every frame before: a batch is made durable by the next journal group
commit at the latest, and a lost batch implies every later transaction is lost too (nothing newer survives an
older loss). The writer asks for a durable commit (`begin(durable=True)`) when its transaction holds what the
journal cannot give again or what leaves the database at once: acknowledgements, alerts (e-mailed, posted to a
webhook right after the commit), an extension's step (pbx.daemon: the hotel). One fsync per micro-batch in the
common case instead of two.

Calls are inserted with `ON CONFLICT DO NOTHING`, which skips only a row that repeats a stored call's key (a real
duplicate); a row that breaks another rule (NOT NULL...) raises, and the daemon stores that record as a reject
with the reason, instead of counting it as a duplicate as `INSERT OR IGNORE` would.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlite_utils

from store import days, schema
from store.db import CALL_COLUMNS, REJECT_COLUMNS, Store, StoreError, insert_many, open_store

FAST_INSERTS = True  # False: always executemany (the benchmark's baseline, tests of both paths)
FAST_CHUNK = 256  # rows per insert_rows call: the GIL is let go between them

MIGRATIONS: list[str] = [
    """
    CREATE TABLE journal (
        id INTEGER PRIMARY KEY, source TEXT NOT NULL, received INTEGER NOT NULL, kind TEXT NOT NULL,
        data BLOB NOT NULL, done INTEGER NOT NULL DEFAULT 0, outcome TEXT
    );
    CREATE INDEX journal_pending ON journal (id) WHERE done = 0;
    CREATE INDEX journal_received ON journal (received);
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY, rule TEXT NOT NULL, kind TEXT NOT NULL, at INTEGER NOT NULL, message TEXT NOT NULL,
        severity TEXT NOT NULL, site TEXT, extension TEXT, call_id INTEGER, amount INTEGER, currency TEXT,
        acknowledged_by TEXT, acknowledged_at INTEGER, dedup TEXT NOT NULL UNIQUE
    );
    CREATE INDEX alerts_at ON alerts (at);
    """,
]
ALERT_COLUMNS = ("id", "rule", "kind", "at", "message", "severity", "site", "extension", "call_id", "amount",
                 "currency", "acknowledged_by", "acknowledged_at")
_CALL_INSERT = (f"INSERT INTO calls ({', '.join(CALL_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(CALL_COLUMNS))}) ON CONFLICT (source, start, native_id, leg) DO NOTHING")
_KEY = tuple(CALL_COLUMNS.index(c) for c in ("source", "start", "native_id", "leg"))  # the calls' UNIQUE key
_REJECT_INSERT = (f"INSERT INTO rejects ({', '.join(REJECT_COLUMNS)}) "
                  f"VALUES ({', '.join('?' * len(REJECT_COLUMNS))}) ON CONFLICT (source, sha256, line) DO NOTHING")


def migrate(conn: sqlite3.Connection) -> None:
    schema.migrate_as(conn, "live", MIGRATIONS, StoreError)


class LiveStore:
    """The daemon's writer: journal appends, batch commits of calls + rejects + alerts + journal marks."""

    def __init__(self, path: Path | str) -> None:
        open_store(path).close()  # creates the file, sets WAL and migrates the calls component
        self.conn = _connect(path, "NORMAL")  # the writer: its batches are redone from the journal if lost
        self._durable = False  # whether the writer connection's synchronous setting is FULL now
        self.store = Store(sqlite_utils.Database(self.conn))
        migrate(self.conn)
        self.jconn = _connect(path, "FULL")  # the journal task's own connection: every group commit is fsynced

    def close(self) -> None:
        for conn in (self.jconn, self.conn):
            if conn.in_transaction:
                conn.rollback()
        self.jconn.close()
        self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        self.conn.close()

    # --- journal --------------------------------------------------------------------------------------------

    def append(self, rows: Sequence[tuple[str, int, str, bytes]]) -> list[int]:
        """Append (source, received µs, kind, data) rows and commit (on the journal connection); returns their
        journal ids, in order."""
        conn = self.jconn
        conn.execute("BEGIN IMMEDIATE")
        try:
            last = conn.execute("SELECT COALESCE(MAX(id), 0) FROM journal").fetchone()[0]
            _insert(conn, "INSERT INTO journal (source, received, kind, data) VALUES (?, ?, ?, ?)", rows)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        return list(range(last + 1, last + 1 + len(rows)))

    def pending(self, limit: int = 10_000, after: int = 0) -> list[tuple[int, str, int, str, bytes]]:
        """(id, source, received, kind, data) of records not yet done, oldest first."""
        return self.conn.execute(
            "SELECT id, source, received, kind, data FROM journal WHERE done = 0 AND id > ? ORDER BY id LIMIT ?",
            (after, limit)).fetchall()

    def prune(self, days: int, limit: int = 10_000) -> int:
        """Forget done journal rows older than `days` days, at most `limit` of them (bounded work: call again
        while it returns `limit`). The newest row is always kept, so that journal ids never go back."""
        cur = self.conn.execute(
            "DELETE FROM journal WHERE id IN (SELECT id FROM journal WHERE done = 1 AND received < ? "
            "AND id < (SELECT MAX(id) FROM journal) ORDER BY id LIMIT ?)",
            ((int(time.time()) - days * 86400) * 1_000_000, int(limit)))
        self.conn.commit()
        return cur.rowcount

    # --- one batch: calls, rejects, alerts and journal marks in one transaction ---------------------------------

    def begin(self, durable: bool = False) -> None:
        """Open the batch transaction. `durable`: its commit is fsynced (synchronous FULL), for a transaction
        that holds what the journal cannot redo or what acts outside the database at once (see the module
        docstring); otherwise it is made durable by the next journal commit (synchronous NORMAL)."""
        if durable != self._durable:  # SQLite takes this setting between transactions only
            self.conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            self._durable = durable
        self.conn.execute("BEGIN IMMEDIATE")

    def insert_calls(self, rows: Sequence[Sequence[Any]]) -> dict[tuple[str, int, str, str], int]:
        """As call_ids, the ids of the new calls by their key (source, start, native_id, leg)."""
        k0, k1, k2, k3 = _KEY
        return {(r[k0], r[k1], r[k2], r[k3]): i for r, i in zip(rows, self.call_ids(rows)) if i is not None}

    def call_ids(self, rows: Sequence[Sequence[Any]]) -> list[int | None]:
        """Insert call rows (store.CALL_COLUMNS order), duplicates (same key) skipped, and fold the new ones into
        the day summary; returns each row's new id, None for a row not stored (its key was stored already, or
        repeats an earlier row's). Inside begin()..commit(). A row that breaks another constraint raises
        sqlite3.IntegrityError (the caller finds and rejects it)."""
        if not rows:
            return []
        conn = self.conn
        last = conn.execute("SELECT COALESCE(MAX(id), 0) FROM calls").fetchone()[0]
        before = conn.total_changes
        _insert(conn, _CALL_INSERT, rows)
        new = conn.total_changes - before
        end = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
        if new == len(rows) and end == last + new:  # every row stored, in order, under our lock: ids last+1..end
            ids: list[int | None] = list(range(last + 1, end + 1))
        else:
            k0, k1, k2, k3 = _KEY
            got = {(s, st, n, leg): i for i, s, st, n, leg in conn.execute(
                "SELECT id, source, start, native_id, leg FROM calls WHERE id > ?", (last,))}
            ids = [got.pop((r[k0], r[k1], r[k2], r[k3]), None) for r in rows]  # pop: a repeat gets None
        if new:
            days.summarise_new(conn)  # the calls' day summary, in the transaction that inserted them
        return ids

    def insert_rejects(self, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            _insert(self.conn, _REJECT_INSERT, rows)

    def insert_alerts(self, rows: Sequence[dict[str, Any]]) -> list[int | None]:
        """Insert alerts (dicts with ALERT_COLUMNS but id, plus dedup); returns each one's id, None for one that
        was already stored."""
        return insert_alerts(self.conn, rows)

    def acknowledge(self, alert: int, by: str, at: int) -> bool:
        cur = self.conn.execute(
            "UPDATE alerts SET acknowledged_by = ?, acknowledged_at = ? WHERE id = ? AND acknowledged_at IS NULL",
            (by, at, alert))
        return cur.rowcount > 0

    def mark_done(self, marks: Sequence[tuple[str, int]]) -> None:
        """(outcome, journal id) pairs: 'call', 'duplicate', 'reject', 'skipped'. Runs of consecutive ids with
        one outcome (most of a batch) are one UPDATE each."""
        if marks:
            _insert(self.conn, "UPDATE journal SET done = 1, outcome = ? WHERE id BETWEEN ? AND ?", _runs(marks))

    def merge_overlapping_legs(self, source: str, groups: list[str]) -> None:
        """As store.Store.merge_overlapping_legs, as part of the batch's transaction (begin()..commit())."""
        assert self.conn.in_transaction
        self.store.merge_overlapping_legs(source, groups)

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.rollback()

    # --- reads for the counters ---------------------------------------------------------------------------

    def totals_since(self, since: int) -> list[tuple[str, str, int, int]]:
        """(site, currency, calls, cost of billed legs) of calls started since `since`, per site and currency
        (for the counters at start; never a sum across currencies)."""
        return self.conn.execute(
            "SELECT site, COALESCE(currency, ''), COUNT(*), COALESCE(SUM(CASE WHEN billed = 1 THEN cost END), 0) "
            "FROM calls WHERE start >= ? GROUP BY site, COALESCE(currency, '')", (since,)).fetchall()

    def extension_hours(self, since: int) -> list[tuple[str, str, int, int, int]]:
        """(site, extension, hour, calls, cost of billed legs) of outgoing calls started since `since`, per UTC
        hour (start // 3600): the alert rules' rate windows, loaded again at start."""
        return self.conn.execute(
            "SELECT site, extension, start / 3600, COUNT(*), COALESCE(SUM(CASE WHEN billed = 1 THEN cost END), 0) "
            "FROM calls WHERE direction = 'outgoing' AND start >= ? AND COALESCE(extension, '') != '' "
            "GROUP BY site, extension, start / 3600", (since,)).fetchall()

    def last_alert_id(self) -> int:
        return int(self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM alerts").fetchone()[0])

    def alerts_after(self, after: int, limit: int = 1000) -> list[dict[str, Any]]:
        """Alerts stored with an id above `after`, oldest first (those another process stored: the mobile import)."""
        cur = self.conn.execute(f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts WHERE id > ? ORDER BY id LIMIT ?",
                                (after, limit))
        return [dict(zip(ALERT_COLUMNS, r)) for r in cur]

    def open_alerts(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM alerts WHERE acknowledged_at IS NULL").fetchone()[0])

    def journal_counts(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT done, COUNT(*) FROM journal GROUP BY done").fetchall()
        got = {int(d): int(n) for d, n in rows}
        return {"pending": got.get(0, 0), "done": got.get(1, 0)}


def insert_alerts(conn: sqlite3.Connection, rows: Sequence[dict[str, Any]]) -> list[int | None]:
    """Insert alerts in the caller's open transaction (the daemon's batch, the mobile import); returns each one's
    id, None for one already stored (same dedup key)."""
    ids: list[int | None] = []
    for row in rows:
        cur = conn.execute(
            "INSERT OR IGNORE INTO alerts (rule, kind, at, message, severity, site, extension, call_id, amount, "
            "currency, dedup) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row["rule"], row["kind"], row["at"], row["message"], row["severity"], row.get("site", ""),
             row.get("extension", ""), row.get("call_id"), row.get("amount"), row.get("currency", ""),
             row["dedup"]))
        ids.append(int(cur.lastrowid) if cur.rowcount else None)
    return ids


def _insert(conn: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """store.db.insert_many, FAST_CHUNK rows per C call. executemany lets the GIL go at every row and must take it
    back for the next; with the daemon's other threads busy in Python that wait is the cost (measured on call rows:
    12 µs a row alone, 196 µs beside a busy Python thread, 37 µs through insert_rows). Inside the caller's
    transaction, which holds the write lock already (BEGIN IMMEDIATE), so no row waits for a lock with the GIL held;
    a chunk takes a few ms, so the daemon's event loop is never held up longer."""
    insert_many(conn, sql, rows, chunk=FAST_CHUNK, fast=FAST_INSERTS)


def _runs(marks: Sequence[tuple[str, int]]) -> list[tuple[str, int, int]]:
    """(outcome, first id, last id) of each run of consecutive journal ids with the same outcome."""
    ordered = sorted(marks, key=lambda m: m[1])
    runs: list[tuple[str, int, int]] = []
    outcome, first = ordered[0]
    last = first
    for o, i in ordered[1:]:
        if o == outcome and i == last + 1:
            last = i
            continue
        runs.append((outcome, first, last))
        outcome, first, last = o, i, i
    runs.append((outcome, first, last))
    return runs


def _connect(path: Path | str, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    return conn


# --- readers for the CLI (no daemon needed) ------------------------------------------------------------------


def list_alerts(store: Store, *, open_only: bool = False, limit: int | None = None) -> Iterator[dict[str, Any]]:
    migrate(store.conn)
    sql = f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts"
    if open_only:
        sql += " WHERE acknowledged_at IS NULL"
    sql += " ORDER BY id DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    for row in store.conn.execute(sql):
        yield dict(zip(ALERT_COLUMNS, row))


def get_alert(store: Store, alert: int) -> dict[str, Any] | None:
    migrate(store.conn)
    row = store.conn.execute(f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts WHERE id = ?", (alert,)).fetchone()
    return dict(zip(ALERT_COLUMNS, row)) if row else None


def journal_summary(store: Store) -> dict[str, int]:
    migrate(store.conn)
    rows = store.conn.execute("SELECT COALESCE(outcome, 'pending'), COUNT(*) FROM journal GROUP BY 1").fetchall()
    return {str(k): int(v) for k, v in rows}
