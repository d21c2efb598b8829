"""Mobile usage in the store: usage imports, usage records, rejects, each line's plan, and mobile findings.
Component "mobile" with its own migrations (store.schema).

Idempotence: the key of a usage record is (carrier, line, kind, start, destination, zone, volume, amount,
occurrence), where `occurrence` numbers identical records within one file (two identical SMS in the same second
are two messages; the same file read again gives the same keys). A reject's key is (file hash, line). Money is
INTEGER units of 10**-8; volumes INTEGER seconds / messages / bytes.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from store import schema
from store.db import write_transaction

COMPONENT = "mobile"
MIGRATIONS: list[str] = [
    # 1: imports, usage, rejects, line plans, findings
    """
    CREATE TABLE mobile_imports (
        id INTEGER PRIMARY KEY, file TEXT NOT NULL, sha256 TEXT NOT NULL, format TEXT NOT NULL, carrier TEXT,
        at INTEGER NOT NULL, read INTEGER NOT NULL, stored INTEGER NOT NULL, rejected INTEGER NOT NULL,
        duplicates INTEGER NOT NULL
    );
    CREATE TABLE mobile_usage (
        id INTEGER PRIMARY KEY, import_id INTEGER NOT NULL, src_line INTEGER,
        carrier TEXT NOT NULL, account TEXT, invoice TEXT, line TEXT NOT NULL, iccid TEXT,
        kind TEXT NOT NULL, destination TEXT NOT NULL, zone TEXT NOT NULL, start INTEGER NOT NULL,
        day TEXT NOT NULL, volume INTEGER NOT NULL, amount INTEGER NOT NULL, currency TEXT NOT NULL,
        occurrence INTEGER NOT NULL,
        UNIQUE (carrier, line, kind, start, destination, zone, volume, amount, occurrence)
    );
    CREATE INDEX mobile_usage_line_day ON mobile_usage (line, day);
    CREATE INDEX mobile_usage_day ON mobile_usage (day);
    CREATE TABLE mobile_rejects (
        id INTEGER PRIMARY KEY, import_id INTEGER NOT NULL, file TEXT, sha256 TEXT NOT NULL, line INTEGER NOT NULL,
        field TEXT, reason TEXT NOT NULL, raw TEXT,
        UNIQUE (sha256, line)
    );
    CREATE TABLE mobile_lines (
        line TEXT PRIMARY KEY, carrier TEXT NOT NULL, account TEXT, plan TEXT, updated INTEGER NOT NULL
    );
    CREATE TABLE mobile_findings (
        id INTEGER PRIMARY KEY, rule TEXT NOT NULL, line TEXT NOT NULL, carrier TEXT, month TEXT NOT NULL,
        expected TEXT, actual TEXT, at_stake INTEGER NOT NULL, currency TEXT, message TEXT NOT NULL,
        at INTEGER NOT NULL,
        UNIQUE (rule, line, month)
    );
    """,
    # 2: the latest right-sizing per line (what the console's Mobile screen shows without the plan catalogues)
    """
    CREATE TABLE mobile_rightsize (
        line TEXT PRIMARY KEY, carrier TEXT, currency TEXT, plan TEXT, minutes INTEGER, sms INTEGER,
        data_mb INTEGER, best_plan TEXT, current_cost INTEGER, best_cost INTEGER, saving INTEGER,
        months INTEGER NOT NULL, first_month TEXT NOT NULL, last_month TEXT NOT NULL, at INTEGER NOT NULL
    );
    """,
]
RIGHTSIZE_COLUMNS = ("line", "carrier", "currency", "plan", "minutes", "sms", "data_mb", "best_plan", "current_cost",
                     "best_cost", "saving", "months", "first_month", "last_month", "at")
USAGE_KEY = ("carrier", "line", "kind", "start", "destination", "zone", "volume", "amount")
USAGE_COLUMNS = ("import_id", "src_line", "carrier", "account", "invoice", "line", "iccid", "kind", "destination",
                 "zone", "start", "day", "volume", "amount", "currency", "occurrence")


class MobileStoreError(Exception):
    pass


class MobileStore:
    """The mobile part of one open database (shares the calls store's connection)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        schema.migrate_as(conn, COMPONENT, MIGRATIONS, MobileStoreError)

    # --- writing ------------------------------------------------------------------------------------------

    def save_import(self, *, file: str, sha256: str, fmt: str, carrier: str, read: int,
                    records: Sequence[dict[str, Any]], rejects: Sequence[dict[str, Any]],
                    plans: Iterable[tuple[str, str, str, str]] = ()) -> dict[str, Any]:
        """Store one file's records and rejects in one transaction; returns the import's counts
        (read = stored + rejected + duplicates). `plans`: (line, carrier, account, plan) the file names."""
        seen: Counter[tuple[Any, ...]] = Counter()
        with write_transaction(self.conn, what="mobile usage import"):
            cur = self.conn.execute(
                "INSERT INTO mobile_imports (file, sha256, format, carrier, at, read, stored, rejected, duplicates) "
                "VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0)", (file, sha256, fmt, carrier, int(time.time()), read))
            import_id = int(cur.lastrowid or 0)
            sql = (f"INSERT OR IGNORE INTO mobile_usage ({', '.join(USAGE_COLUMNS)}) "
                   f"VALUES ({', '.join('?' for _ in USAGE_COLUMNS)})")
            rows = []
            for r in records:
                key = tuple(r[k] for k in USAGE_KEY)
                seen[key] += 1
                row = {**r, "import_id": import_id, "occurrence": seen[key]}
                rows.append([row.get(c) for c in USAGE_COLUMNS])
            before = self.conn.total_changes
            self.conn.executemany(sql, rows)
            stored = self.conn.total_changes - before  # rows an existing key ignored are not changes
            for j in rejects:
                self.conn.execute(
                    "INSERT OR IGNORE INTO mobile_rejects (import_id, file, sha256, line, field, reason, raw) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)", (import_id, file, sha256, j["line"], j["field"], j["reason"],
                                                     j.get("raw", "")))
            now = int(time.time())
            for line, line_carrier, account, plan in plans:
                self.conn.execute(
                    "INSERT INTO mobile_lines (line, carrier, account, plan, updated) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (line) DO UPDATE SET carrier = excluded.carrier, "
                    "account = COALESCE(NULLIF(excluded.account, ''), account), "
                    "plan = COALESCE(NULLIF(excluded.plan, ''), plan), updated = excluded.updated",
                    (line, line_carrier, account, plan, now))
            counts = {"read": read, "stored": stored, "rejected": len(rejects),
                      "duplicates": len(records) - stored}
            self.conn.execute("UPDATE mobile_imports SET stored = ?, rejected = ?, duplicates = ? WHERE id = ?",
                              (stored, len(rejects), counts["duplicates"], import_id))
        return {"import_id": import_id, **counts}

    def set_plans(self, rows: Iterable[tuple[str, str, str, str]]) -> None:
        """(line, carrier, account, plan) for each line, in one transaction."""
        now = int(time.time())
        with write_transaction(self.conn, what="mobile plans"):
            self.conn.executemany(
                "INSERT INTO mobile_lines (line, carrier, account, plan, updated) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (line) DO UPDATE SET carrier = excluded.carrier, plan = excluded.plan, "
                "account = COALESCE(NULLIF(excluded.account, ''), account), updated = excluded.updated",
                [(line, carrier, account, plan, now) for line, carrier, account, plan in rows])

    def replace_findings(self, rules: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
        """Replace every finding of `rules` by `rows` (a new findings run)."""
        with write_transaction(self.conn, what="mobile findings"):
            self.conn.execute(f"DELETE FROM mobile_findings WHERE rule IN ({', '.join('?' for _ in rules)})",
                              list(rules))
            self._insert_findings(rows)

    def add_findings(self, rows: Sequence[dict[str, Any]]) -> int:
        """Add findings, keeping one per (rule, line, month) (the latest): returns how many were new."""
        with write_transaction(self.conn, what="mobile alerts"):
            return self._insert_findings(rows)

    def add_alerts(self, rows: Sequence[dict[str, Any]],
                   deliveries: Callable[[list[tuple[dict[str, Any], int | None]]], list[tuple[int, str]]]
                   ) -> list[tuple[dict[str, Any], int | None]]:
        """Store alerts (pbx.alerts dicts, dedup key included) in the daemon's alerts table and their deliveries
        (`deliveries` maps the (alert, id or None) pairs to (id, target) rows) in one transaction: an alert stored
        is never without its deliveries; one already stored (same dedup key) gets id None and nothing new."""
        from store import live, notify

        live.migrate(self.conn)
        notify.migrate(self.conn)
        with write_transaction(self.conn, what="mobile alerts"):
            got = list(zip(rows, live.insert_alerts(self.conn, rows)))
            notify.add_alert_deliveries(self.conn, deliveries(got))
        return got

    def _insert_findings(self, rows: Sequence[dict[str, Any]]) -> int:
        new = 0
        now = int(time.time())
        for f in rows:
            exists = self.conn.execute("SELECT 1 FROM mobile_findings WHERE rule = ? AND line = ? AND month = ?",
                                       (f["rule"], f["line"], f["month"])).fetchone()
            new += exists is None
            self.conn.execute(
                "INSERT INTO mobile_findings (rule, line, carrier, month, expected, actual, at_stake, currency, "
                "message, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (rule, line, month) DO UPDATE SET "
                "expected = excluded.expected, actual = excluded.actual, at_stake = excluded.at_stake, "
                "message = excluded.message, at = excluded.at",
                (f["rule"], f["line"], f.get("carrier"), f["month"], f.get("expected"), f.get("actual"),
                 f["at_stake"], f.get("currency"), f["message"], now))
        return new

    def save_rightsize(self, rows: Sequence[dict[str, Any]]) -> None:
        """Replace the stored right-sizing by `rows` (RIGHTSIZE_COLUMNS; money in 10**-8 units, allowances -1 for
        unlimited, None when the line's plan is unknown)."""
        with write_transaction(self.conn, what="mobile right-sizing"):
            self.conn.execute("DELETE FROM mobile_rightsize")
            self.conn.executemany(
                f"INSERT INTO mobile_rightsize ({', '.join(RIGHTSIZE_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in RIGHTSIZE_COLUMNS)})",
                [[r.get(c) for c in RIGHTSIZE_COLUMNS] for r in rows])

    def rightsized(self) -> dict[str, dict[str, Any]]:
        """The stored right-sizing, by line."""
        return {r["line"]: r for r in schema.dicts(self.conn.execute("SELECT * FROM mobile_rightsize"))}

    def months(self) -> list[str]:
        """The months (YYYY-MM) with usage, oldest first."""
        return [r[0] for r in self.conn.execute("SELECT DISTINCT substr(day, 1, 7) FROM mobile_usage ORDER BY 1")]

    # --- reading ------------------------------------------------------------------------------------------

    def imports(self) -> list[dict[str, Any]]:
        return schema.dicts(self.conn.execute("SELECT * FROM mobile_imports ORDER BY id"))

    def rejects(self, import_id: int | None = None) -> list[dict[str, Any]]:
        if import_id is None:
            return schema.dicts(self.conn.execute("SELECT * FROM mobile_rejects ORDER BY id"))
        return schema.dicts(self.conn.execute("SELECT * FROM mobile_rejects WHERE import_id = ? ORDER BY line",
                                              (import_id,)))

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM mobile_usage").fetchone()[0])

    def usage(self, line: str | None = None, first_day: str | None = None, last_day: str | None = None
              ) -> list[dict[str, Any]]:
        """Usage records (oldest first), of one line and/or within [first_day, last_day]."""
        clauses, args = [], []
        for clause, value in (("line = ?", line), ("day >= ?", first_day), ("day <= ?", last_day)):
            if value is not None:
                clauses.append(clause)
                args.append(value)
        sql = "SELECT * FROM mobile_usage" + (" WHERE " + " AND ".join(clauses) if clauses else "") + \
            " ORDER BY line, start, id"
        return schema.dicts(self.conn.execute(sql, args))

    def monthly(self, first_month: str, last_month: str) -> list[dict[str, Any]]:
        """Per line, month (YYYY-MM), kind and zone: volume, billed amount and records, summed."""
        return schema.dicts(self.conn.execute(
            "SELECT line, carrier, currency, substr(day, 1, 7) AS month, kind, zone, SUM(volume) AS volume, "
            "SUM(amount) AS amount, COUNT(*) AS records FROM mobile_usage "
            "WHERE substr(day, 1, 7) BETWEEN ? AND ? GROUP BY line, carrier, currency, month, kind, zone "
            "ORDER BY line, month", (first_month, last_month)))

    def last_day(self) -> str | None:
        row = self.conn.execute("SELECT MAX(day) FROM mobile_usage").fetchone()
        return row[0] if row else None

    def last_use(self) -> dict[str, str]:
        """Each line's latest day of use (any record with a volume)."""
        return {r[0]: r[1] for r in self.conn.execute(
            "SELECT line, MAX(day) FROM mobile_usage WHERE volume > 0 GROUP BY line")}

    def lines(self) -> list[dict[str, Any]]:
        """Every line known to the mobile store: from the plan table and from usage (carrier, account, plan)."""
        return schema.dicts(self.conn.execute(
            "SELECT u.line, COALESCE(l.carrier, u.carrier) AS carrier, COALESCE(NULLIF(l.account, ''), u.account) "
            "AS account, l.plan FROM (SELECT line, MAX(carrier) AS carrier, MAX(account) AS account "
            "FROM mobile_usage GROUP BY line) u LEFT JOIN mobile_lines l ON l.line = u.line "
            "UNION SELECT l.line, l.carrier, l.account, l.plan FROM mobile_lines l "
            "WHERE l.line NOT IN (SELECT line FROM mobile_usage) ORDER BY 1"))

    def findings(self, rule: str | None = None) -> list[dict[str, Any]]:
        if rule is None:
            return schema.dicts(self.conn.execute("SELECT * FROM mobile_findings ORDER BY at_stake DESC, line"))
        return schema.dicts(self.conn.execute(
            "SELECT * FROM mobile_findings WHERE rule = ? ORDER BY at_stake DESC, line", (rule,)))


def open_mobile(conn: sqlite3.Connection) -> MobileStore:
    """The mobile store on an open connection (migrating the "mobile" component if needed)."""
    return MobileStore(conn)
