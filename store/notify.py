"""Deliveries of alerts and scheduled reports beyond the console (component "notify", its own migrations).

One row per (alert, target) or (report run, recipient): `pending` until sent, `held` when the target's hourly
limit is reached (sent later as one digest), `sent` once the server accepted it (never sent again), `failed` after
the last try. The row of an alert is written in the daemon writer's transaction that stores the alert, so an
alert that is stored is never left without its deliveries; a restart finds the pending rows and sends them.
`notify_log` keeps one row per message sent (an alert, a digest, a report) to count a target's last hour.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from store import schema
from store.db import StoreError, write_transaction

MIGRATIONS: list[str] = [
    """
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY, alert_id INTEGER, report_run INTEGER, target TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending', tries INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL DEFAULT 0,
        last_error TEXT, created INTEGER NOT NULL, sent_at INTEGER, digest INTEGER NOT NULL DEFAULT 0,
        UNIQUE (alert_id, target), UNIQUE (report_run, target)
    );
    CREATE INDEX deliveries_due ON deliveries (next_at) WHERE state IN ('pending', 'held');
    CREATE TABLE notify_log (id INTEGER PRIMARY KEY, target TEXT NOT NULL, at REAL NOT NULL, alerts INTEGER);
    CREATE INDEX notify_log_target ON notify_log (target, at);
    """,
]
COLUMNS = ("id", "alert_id", "report_run", "target", "state", "tries", "next_at", "last_error", "created", "sent_at",
           "digest")


def migrate(conn: sqlite3.Connection) -> None:
    try:
        schema.migrate(conn, "notify", MIGRATIONS)
    except schema.SchemaError as exc:
        raise StoreError(str(exc)) from None


def add_alert_deliveries(conn: sqlite3.Connection, rows: Sequence[tuple[int, str]]) -> None:
    """(alert id, target) rows, pending now; part of the caller's open transaction (the daemon's writer)."""
    now = int(time.time())
    conn.executemany("INSERT OR IGNORE INTO deliveries (alert_id, target, created) VALUES (?, ?, ?)",
                     [(a, t, now) for a, t in rows])


def add_report_deliveries(conn: sqlite3.Connection, run: int, recipients: Sequence[str]) -> None:
    """One pending delivery per recipient of a report run (committed)."""
    now = int(time.time())
    with write_transaction(conn, what="report delivery"):
        conn.executemany("INSERT OR IGNORE INTO deliveries (report_run, target, created) VALUES (?, ?, ?)",
                         [(run, r, now) for r in recipients])


def due(conn: sqlite3.Connection, now: float, *, reports: bool = False, limit: int = 1000) -> list[dict[str, Any]]:
    """Pending or held deliveries whose time has come (alerts, or report runs), oldest first."""
    kind = "report_run" if reports else "alert_id"
    cur = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM deliveries WHERE state IN ('pending', 'held') "
                       f"AND next_at <= ? AND {kind} IS NOT NULL ORDER BY id LIMIT ?", (now, limit))
    return [dict(zip(COLUMNS, r)) for r in cur]


def next_due(conn: sqlite3.Connection) -> float | None:
    """When the earliest pending or held alert delivery is due (epoch seconds), None when there is none."""
    row = conn.execute("SELECT MIN(next_at) FROM deliveries WHERE state IN ('pending', 'held') "
                       "AND alert_id IS NOT NULL").fetchone()
    return None if row[0] is None else float(row[0])


def sent(conn: sqlite3.Connection, ids: Sequence[int], target: str, now: float, *, digest: bool = False) -> None:
    """The server accepted the message of these deliveries (one message: an alert, a digest or a report)."""
    with write_transaction(conn, what="delivery"):
        conn.executemany("UPDATE deliveries SET state = 'sent', sent_at = ?, tries = tries + 1, last_error = NULL, "
                         "digest = ? WHERE id = ?", [(int(now), int(digest), i) for i in ids])
        conn.execute("INSERT INTO notify_log (target, at, alerts) VALUES (?, ?, ?)", (target, now, len(ids)))


def retry(conn: sqlite3.Connection, ids: Sequence[int], error: str, next_at: float | None, state: str = "pending"
          ) -> None:
    """A try failed: again at `next_at`, or `failed` for good when next_at is None."""
    with write_transaction(conn, what="delivery"):
        conn.executemany("UPDATE deliveries SET tries = tries + 1, last_error = ?, state = ?, next_at = ? WHERE id = ?",
                         [(error[:500], "failed" if next_at is None else state, next_at or 0, i) for i in ids])


def postpone(conn: sqlite3.Connection, ids: Sequence[int], next_at: float) -> None:
    """Not tried now (their target just failed): at `next_at`, no try counted."""
    with write_transaction(conn, what="delivery"):
        conn.executemany("UPDATE deliveries SET next_at = ? WHERE id = ?", [(next_at, i) for i in ids])


def hold(conn: sqlite3.Connection, ids: Sequence[int], until: float) -> None:
    """Over the target's hourly limit: kept for the digest sent at `until`."""
    with write_transaction(conn, what="delivery"):
        conn.executemany("UPDATE deliveries SET state = 'held', next_at = ? WHERE id = ?", [(until, i) for i in ids])


def sent_since(conn: sqlite3.Connection, target: str, since: float) -> list[float]:
    """When each message to `target` since `since` was sent, oldest first."""
    return [float(r[0]) for r in conn.execute("SELECT at FROM notify_log WHERE target = ? AND at > ? ORDER BY at",
                                              (target, since))]


def prune_log(conn: sqlite3.Connection, before: float) -> None:
    with write_transaction(conn, what="delivery"):
        conn.execute("DELETE FROM notify_log WHERE at < ?", (before,))


def alerts(conn: sqlite3.Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The stored alerts by id (what a message says)."""
    from store.live import ALERT_COLUMNS

    out: dict[int, dict[str, Any]] = {}
    for i in range(0, len(ids), 500):
        chunk = list(ids[i:i + 500])
        cur = conn.execute(f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts WHERE id IN "
                           f"({', '.join('?' * len(chunk))})", chunk)
        out.update({int(r[0]): dict(zip(ALERT_COLUMNS, r)) for r in cur})
    return out


def report_run(conn: sqlite3.Connection, run: int) -> dict[str, Any] | None:
    cur = conn.execute("SELECT * FROM report_runs WHERE id = ?", (run,))
    row = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], row)) if row else None


def summary(conn: sqlite3.Connection) -> dict[str, int]:
    """Deliveries per state (status, metrics)."""
    migrate(conn)
    return {str(s): int(n) for s, n in conn.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state")}


def listing(conn: sqlite3.Connection, *, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The newest deliveries first (of one state), with their alert's message or their report's schedule."""
    migrate(conn)
    where = "WHERE d.state = ?" if state else ""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    alert = "a.message" if "alerts" in tables else "NULL"
    report = "r.schedule || ' ' || r.period" if "report_runs" in tables else "NULL"
    joins = ("LEFT JOIN alerts a ON a.id = d.alert_id " if "alerts" in tables else "") + \
        ("LEFT JOIN report_runs r ON r.id = d.report_run " if "report_runs" in tables else "")
    cur = conn.execute(
        f"SELECT {', '.join('d.' + c for c in COLUMNS)}, COALESCE({alert}, {report}) "
        f"FROM deliveries d {joins}{where} ORDER BY d.id DESC LIMIT ?",
        (*([state] if state else []), int(limit)))
    return [dict(zip((*COLUMNS, "what"), r)) for r in cur]


def retry_failed(conn: sqlite3.Connection) -> int:
    """Failed deliveries pending again, their tries counted from 0 (the daemon or the next run-due sends them)."""
    migrate(conn)
    with write_transaction(conn, what="delivery"):
        return conn.execute("UPDATE deliveries SET state = 'pending', tries = 0, next_at = 0 "
                            "WHERE state = 'failed'").rowcount
