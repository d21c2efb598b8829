"""Inventory and allocation in the store: effective-dated inventory items, their change history, import batches,
allocation runs and their lines. Component "inventory" with its own migrations.

Every inventory item is a row of `inventory` valid over [valid_from, valid_to) (ISO dates; valid_to NULL = still
valid): a person moving department is two rows of the same (kind, key). One wide table with the columns every
kind may use keeps the effective-dating rules (cut, insert, close) in one place; tem/inventory.py says which
columns each kind uses. Changes are written in one transaction per batch, each with a history row (before/after).
Money columns are INTEGER units of 10**-8.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Any

from store import schema
from store.db import begin_immediate

COMPONENT = "inventory"
MIGRATIONS: list[str] = [
    # 1: inventory items, history, batches, allocation runs and lines
    """
    CREATE TABLE inventory (
        id INTEGER PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL,
        valid_from TEXT NOT NULL, valid_to TEXT,
        name TEXT, parent TEXT, cost_centre TEXT, person TEXT, site TEXT, extension TEXT, email TEXT,
        service_kind TEXT, carrier TEXT, account TEXT, contract TEXT, line TEXT, tariff TEXT, gl_account TEXT,
        budget INTEGER, monthly_fee INTEGER, notice_days INTEGER,
        batch_id INTEGER
    );
    CREATE INDEX inventory_kind_key ON inventory (kind, key, valid_from);
    CREATE TABLE inventory_batches (
        id INTEGER PRIMARY KEY, at INTEGER NOT NULL, actor TEXT NOT NULL, file TEXT, sha256 TEXT, kind TEXT NOT NULL,
        effective TEXT, accepted TEXT NOT NULL DEFAULT '[]', summary TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE inventory_history (
        id INTEGER PRIMARY KEY, batch_id INTEGER, at INTEGER NOT NULL, actor TEXT NOT NULL, kind TEXT NOT NULL,
        key TEXT NOT NULL, action TEXT NOT NULL, valid_from TEXT, valid_to TEXT, before TEXT, after TEXT, note TEXT
    );
    CREATE INDEX inventory_history_key ON inventory_history (kind, key);
    CREATE TABLE allocation_runs (
        id INTEGER PRIMARY KEY, period TEXT NOT NULL, at INTEGER NOT NULL, actor TEXT NOT NULL, currency TEXT NOT NULL,
        total INTEGER NOT NULL, allocated INTEGER NOT NULL, unassigned INTEGER NOT NULL, summary TEXT NOT NULL
    );
    CREATE INDEX allocation_runs_period ON allocation_runs (period, id);
    CREATE TABLE allocation_lines (
        run_id INTEGER NOT NULL REFERENCES allocation_runs (id), cost_centre TEXT NOT NULL, person TEXT,
        source TEXT NOT NULL, ref TEXT NOT NULL, site TEXT, carrier TEXT, service TEXT, category TEXT,
        method TEXT NOT NULL, original INTEGER NOT NULL, original_currency TEXT NOT NULL, amount INTEGER NOT NULL
    );
    CREATE INDEX allocation_lines_run ON allocation_lines (run_id, cost_centre);
    """,
]
ITEM_COLUMNS = ("kind", "key", "valid_from", "valid_to", "name", "parent", "cost_centre", "person", "site",
                "extension", "email", "service_kind", "carrier", "account", "contract", "line", "tariff",
                "gl_account", "budget", "monthly_fee", "notice_days", "batch_id")
LINE_COLUMNS = ("run_id", "cost_centre", "person", "source", "ref", "site", "carrier", "service", "category",
                "method", "original", "original_currency", "amount")


class InventoryStoreError(Exception):
    pass


class InventoryStore:
    """The inventory part of one open database (shares the calls store's connection)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        schema.migrate_as(conn, COMPONENT, MIGRATIONS, InventoryStoreError)

    # --- reading ------------------------------------------------------------------------------------------

    def items(self, kind: str | None = None, *, key: str | None = None, at: str | None = None,
              overlapping: tuple[str, str] | None = None) -> list[dict[str, Any]]:
        """Item versions: of `kind`, of `key`, valid on date `at`, or overlapping [from, to)."""
        clauses, args = [], []
        if kind is not None:
            clauses.append("kind = ?")
            args.append(kind)
        if key is not None:
            clauses.append("key = ?")
            args.append(key)
        if at is not None:
            clauses.append("valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)")
            args += [at, at]
        if overlapping is not None:
            clauses.append("valid_from < ? AND (valid_to IS NULL OR valid_to > ?)")
            args += [overlapping[1], overlapping[0]]
        sql = "SELECT * FROM inventory" + (" WHERE " + " AND ".join(clauses) if clauses else "") + \
            " ORDER BY kind, key, valid_from"
        return schema.dicts(self.conn.execute(sql, args))

    def history(self, kind: str | None = None, key: str | None = None, limit: int | None = None
                ) -> list[dict[str, Any]]:
        clauses, args = [], []
        for col, value in (("kind", kind), ("key", key)):
            if value is not None:
                clauses.append(f"{col} = ?")
                args.append(value)
        sql = "SELECT * FROM inventory_history" + (" WHERE " + " AND ".join(clauses) if clauses else "") + \
            " ORDER BY id DESC" + (f" LIMIT {int(limit)}" if limit else "")
        rows = schema.dicts(self.conn.execute(sql, args))
        for r in rows:
            for k in ("before", "after"):
                r[k] = json.loads(r[k]) if r[k] else None
        return rows

    def batches(self) -> list[dict[str, Any]]:
        return schema.dicts(self.conn.execute("SELECT * FROM inventory_batches ORDER BY id"))

    def count(self, kind: str | None = None) -> int:
        if kind is None:
            return int(self.conn.execute("SELECT COUNT(*) FROM inventory").fetchone()[0])
        return int(self.conn.execute("SELECT COUNT(*) FROM inventory WHERE kind = ?", (kind,)).fetchone()[0])

    # --- writing: one batch, one transaction ---------------------------------------------------------------

    def apply(self, batch: dict[str, Any], operations: Sequence[dict[str, Any]], actor: str) -> int:
        """Apply a batch of operations in one transaction and return its id. Each operation is
        {"op": "set", "kind", "key", "valid_from", "valid_to", "fields": {...}, "action", "before", "note"} (the key
        takes these fields over [valid_from, valid_to), earlier and later versions are cut around it) or
        {"op": "close", "kind", "key", "valid_from", ...} (the key ends at valid_from). Nothing is written if any
        operation fails."""
        now = int(time.time())
        conn = self.conn
        try:
            begin_immediate(conn, what="inventory change")  # waits for the daemon's writer
            cur = conn.execute(
                "INSERT INTO inventory_batches (at, actor, file, sha256, kind, effective, accepted, summary) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (now, actor, batch.get("file"), batch.get("sha256"), batch["kind"], batch.get("effective"),
                 json.dumps(batch.get("accepted", [])), json.dumps(batch.get("summary", {}))))
            batch_id = int(cur.lastrowid)
            for op in operations:
                self._cut(op["kind"], op["key"], op["valid_from"], op.get("valid_to") if op["op"] == "set" else None)
                if op["op"] == "set":
                    row = {c: None for c in ITEM_COLUMNS}
                    row.update(op["fields"])
                    row.update(kind=op["kind"], key=op["key"], valid_from=op["valid_from"],
                               valid_to=op.get("valid_to"), batch_id=batch_id)
                    conn.execute(f"INSERT INTO inventory ({', '.join(ITEM_COLUMNS)}) "
                                 f"VALUES ({', '.join('?' * len(ITEM_COLUMNS))})", [row[c] for c in ITEM_COLUMNS])
                conn.execute(
                    "INSERT INTO inventory_history (batch_id, at, actor, kind, key, action, valid_from, valid_to, "
                    "before, after, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (batch_id, now, actor, op["kind"], op["key"], op.get("action", op["op"]), op["valid_from"],
                     op.get("valid_to"), json.dumps(op.get("before")) if op.get("before") is not None else None,
                     json.dumps(op.get("fields")) if op["op"] == "set" else None, op.get("note")))
            conn.execute("COMMIT")
            return batch_id
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _cut(self, kind: str, key: str, start: str, end: str | None) -> None:
        """Remove [start, end) (end None: onwards) from the versions of (kind, key), keeping what lies outside."""
        rows = schema.dicts(self.conn.execute(
            "SELECT * FROM inventory WHERE kind = ? AND key = ? AND (valid_to IS NULL OR valid_to > ?)"
            + (" AND valid_from < ?" if end is not None else ""),
            (kind, key, start, end) if end is not None else (kind, key, start)))
        for r in rows:
            self.conn.execute("DELETE FROM inventory WHERE id = ?", (r["id"],))
            pieces = []
            if r["valid_from"] < start:
                pieces.append((r["valid_from"], start))
            if end is not None and (r["valid_to"] is None or r["valid_to"] > end):
                pieces.append((end, r["valid_to"]))
            for lo, hi in pieces:
                vals = dict(r, valid_from=lo, valid_to=hi)
                self.conn.execute(f"INSERT INTO inventory ({', '.join(ITEM_COLUMNS)}) "
                                  f"VALUES ({', '.join('?' * len(ITEM_COLUMNS))})", [vals[c] for c in ITEM_COLUMNS])

    # --- allocation runs ---------------------------------------------------------------------------------

    def save_run(self, period: str, actor: str, currency: str, totals: tuple[int, int, int], summary: dict[str, Any],
                 lines: Iterable[Sequence[Any]]) -> int:
        """Store one allocation run and its lines (LINE_COLUMNS without run_id) in one transaction."""
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO allocation_runs (period, at, actor, currency, total, allocated, unassigned, summary) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (period, int(time.time()), actor, currency, *totals, json.dumps(summary)))
            run_id = int(cur.lastrowid)
            self.conn.executemany(
                f"INSERT INTO allocation_lines ({', '.join(LINE_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(LINE_COLUMNS))})",
                [(run_id, *line) for line in lines])
        return run_id

    def latest_run(self, period: str | None = None) -> dict[str, Any] | None:
        sql = "SELECT * FROM allocation_runs" + (" WHERE period = ?" if period else "") + " ORDER BY id DESC LIMIT 1"
        rows = schema.dicts(self.conn.execute(sql, (period,) if period else ()))
        if not rows:
            return None
        rows[0]["summary"] = json.loads(rows[0]["summary"])
        return rows[0]

    def run_periods(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT period FROM allocation_runs ORDER BY period")]

    def run_lines(self, run_id: int, *, cost_centre: str | None = None, person: str | None = None
                  ) -> list[dict[str, Any]]:
        sql = "SELECT * FROM allocation_lines WHERE run_id = ?"
        args: list[Any] = [run_id]
        if cost_centre is not None:
            sql += " AND cost_centre = ?"
            args.append(cost_centre)
        if person is not None:
            sql += " AND person = ?"
            args.append(person)
        return schema.dicts(self.conn.execute(sql + " ORDER BY cost_centre, source, ref", args))

    def run_totals(self, run_id: int, by: str) -> list[tuple[str, str, int]]:
        """(group value, category, amount) of a run, grouped by one of its columns."""
        if by not in ("cost_centre", "person", "site", "carrier", "source", "category", "method"):
            raise ValueError(by)
        return [(r[0] or "", r[1] or "", int(r[2])) for r in self.conn.execute(
            f"SELECT {by}, source, SUM(amount) FROM allocation_lines WHERE run_id = ? GROUP BY {by}, source "
            f"ORDER BY {by}, source", (run_id,))]


def open_inventory(conn: sqlite3.Connection) -> InventoryStore:
    """The inventory store on an open connection (migrating the "inventory" component if needed)."""
    return InventoryStore(conn)
