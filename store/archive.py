"""Month archives of calls (component "archive", its own migrations): the SQL that reads one site's month of calls
in keyset pages for the Parquet export, the month's fingerprint that proves a file holds exactly the calls still in
the store, and the record of each archive file.

An archive is one site's calls that started in one month of the site's own time zone ([period_start, period_end)
in UTC epoch seconds), written to one Parquet file. `dropped_at` is set once those calls were deleted from the
store: from then on the file is where they are (what-if reads it).
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from store import schema
from store.db import StoreError, write_transaction

MIGRATIONS: list[str] = [
    """
    CREATE TABLE archives (
        id INTEGER PRIMARY KEY, site TEXT NOT NULL, month TEXT NOT NULL, timezone TEXT NOT NULL,
        period_start INTEGER NOT NULL, period_end INTEGER NOT NULL,
        file TEXT NOT NULL UNIQUE, sha256 TEXT NOT NULL, size INTEGER NOT NULL, rows INTEGER NOT NULL,
        sums TEXT NOT NULL, fingerprint TEXT NOT NULL, columns TEXT NOT NULL,
        exported_at INTEGER NOT NULL, dropped_at INTEGER, dropped INTEGER
    );
    CREATE INDEX archives_site_month ON archives (site, month);
    """,
]
COLUMNS = ("id", "site", "month", "timezone", "period_start", "period_end", "file", "sha256", "size", "rows", "sums",
           "fingerprint", "columns", "exported_at", "dropped_at", "dropped")


class ArchiveStoreError(StoreError):
    pass


def migrate(conn: sqlite3.Connection) -> None:
    schema.migrate_as(conn, "archive", MIGRATIONS, ArchiveStoreError)


def call_columns(conn: sqlite3.Connection) -> list[tuple[str, str, bool]]:
    """(name, declared type, NOT NULL) of every column of the calls table, in table order: what an archive keeps."""
    return [(str(r[1]), str(r[2] or "").upper(), bool(r[3])) for r in conn.execute("PRAGMA table_info(calls)")]


def site_timezones(conn: sqlite3.Connection) -> dict[str, str]:
    """Each site's IANA time zone as the store has it (the sites table)."""
    return {str(n): str(z) for n, z in conn.execute("SELECT name, timezone FROM sites")}


def month_page(conn: sqlite3.Connection, columns: list[str], site: str, start: int, end: int,
               after: tuple[int, int] | None, limit: int) -> list[tuple]:
    """One page of a site's calls that started in [start, end), in (start, id) order strictly after the keyset
    `after` (the last page's (start, id)); `columns` first, then start and id. Along the (site, start) index: a
    page costs the same at any depth."""
    where = "site = ? AND start >= ? AND start < ?"
    args: list[Any] = [site, start, end]
    if after is not None:
        where += " AND start >= ? AND (start > ? OR id > ?)"
        args += [after[0], after[0], after[1]]
    names = ", ".join(f'"{c}"' for c in columns)
    return conn.execute(f"SELECT {names}, start, id FROM calls WHERE {where} ORDER BY start, id LIMIT {int(limit)}",
                        args).fetchall()


def fingerprint(conn: sqlite3.Connection, site: str, start: int, end: int) -> dict[str, list[int]]:
    """Per currency ('' for none) of a site's calls in [start, end): [calls, SUM(cost), SUM(id), SUM(billed),
    SUM(rated_at), SUM(billable)], exact integers. Equal fingerprints: the same calls with the same costs, ratings
    and merge marks (a re-rate, a late import or a merge changes it)."""
    out: dict[str, list[int]] = {}
    for row in conn.execute(
            "SELECT COALESCE(currency, ''), COUNT(*), SUM(cost), SUM(id), SUM(billed), SUM(rated_at), SUM(billable) "
            "FROM calls WHERE site = ? AND start >= ? AND start < ? GROUP BY 1", (site, start, end)):
        out[str(row[0])] = [int(v or 0) for v in row[1:]]
    return out


def count_calls(conn: sqlite3.Connection, site: str, start: int, end: int) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM calls WHERE site = ? AND start >= ? AND start < ?",
                            (site, start, end)).fetchone()[0])


def record(conn: sqlite3.Connection, *, site: str, month: str, timezone: str, period_start: int, period_end: int,
           file: str, sha256: str, size: int, rows: int, sums: dict[str, int], fingerprint: dict[str, list[int]],
           columns: list[str], replaces: int | None = None) -> int:
    """Record a verified archive file (committed); `replaces`: the id of the not yet dropped archive of the same
    site and month that this export supersedes (its file was overwritten)."""
    values = (site, month, timezone, period_start, period_end, file, sha256, size, rows,
              json.dumps({k: str(v) for k, v in sums.items()}), json.dumps(fingerprint), json.dumps(columns),
              int(time.time()))
    with write_transaction(conn, what="archive"):
        if replaces is not None:
            conn.execute("DELETE FROM archives WHERE id = ? AND dropped_at IS NULL", (replaces,))
        cur = conn.execute(
            "INSERT INTO archives (site, month, timezone, period_start, period_end, file, sha256, size, rows, sums, "
            "fingerprint, columns, exported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
    return int(cur.lastrowid)


def mark_dropped(conn: sqlite3.Connection, archive_id: int, rows: int) -> None:
    """Part of the caller's transaction (the one that deleted the calls)."""
    conn.execute("UPDATE archives SET dropped_at = ?, dropped = ? WHERE id = ?", (int(time.time()), rows, archive_id))


def archives(conn: sqlite3.Connection, *, site: str | None = None, month: str | None = None) -> list[dict[str, Any]]:
    """The recorded archives (oldest month first), sums and fingerprint decoded."""
    clauses, args = [], []
    if site is not None:
        clauses.append("site = ?")
        args.append(site)
    if month is not None:
        clauses.append("month = ?")
        args.append(month)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = schema.dicts(conn.execute(f"SELECT {', '.join(COLUMNS)} FROM archives{where} ORDER BY month, site, id",
                                     args))
    for r in rows:
        r["sums"] = {k: int(v) for k, v in json.loads(r["sums"]).items()}
        r["fingerprint"] = json.loads(r["fingerprint"])
        r["columns"] = json.loads(r["columns"])
    return rows


def dropped_overlapping(conn: sqlite3.Connection, start: int, end: int) -> list[dict[str, Any]]:
    """The archives whose calls are no longer in the store and that hold calls of [start, end) (what-if)."""
    ids = [int(r[0]) for r in conn.execute(
        "SELECT id FROM archives WHERE dropped_at IS NOT NULL AND period_start < ? AND period_end > ?", (end, start))]
    return [a for a in archives(conn) if a["id"] in ids]
