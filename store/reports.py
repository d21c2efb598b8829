"""Read-only queries across components (calls, invoices, inventory) for allocation, reports and what-if, plus the
"reports" component: what scheduled reporting produced. The only place their SQL is written.

Aggregations run in SQLite (GROUP BY) so that a month of ten million calls comes back as a few thousand groups,
never as ten million Python objects; what-if reads its columns straight into numpy arrays.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from store import schema

COMPONENT = "reports"
MIGRATIONS: list[str] = [
    # 1: what scheduled reporting produced
    """
    CREATE TABLE report_runs (
        id INTEGER PRIMARY KEY, schedule TEXT NOT NULL, report TEXT NOT NULL, period TEXT NOT NULL,
        format TEXT NOT NULL, file TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL, recipients TEXT,
        produced_at INTEGER NOT NULL
    );
    CREATE INDEX report_runs_schedule ON report_runs (schedule, produced_at);
    """,
]
# charges that are headings or information, not money owed (as in the FOCUS export)
NOT_COSTS = ("GROUP", "INFORMATION")


def _dicts(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur]


def _has(conn: sqlite3.Connection, table: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone() \
        is not None


def _segment(boundaries: Sequence[int]) -> str:
    """SQL for the index of the time segment a call's start falls in (boundaries ascending, bound as params)."""
    if not boundaries:
        return "0"
    return "CASE " + " ".join(f"WHEN start < ? THEN {i}" for i in range(len(boundaries))) + \
        f" ELSE {len(boundaries)} END"


class TemQueries:
    """Queries of allocation, reports and what-if on one open connection."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        schema.migrate(conn, COMPONENT, MIGRATIONS)

    # --- calls --------------------------------------------------------------------------------------------

    def call_sites(self, start: int, end: int) -> list[str]:
        """The sites with calls (a skip scan of the (site, start) index: one probe per site, not one per call); a site
        is listed when it has a call in [start, end)."""
        sites = [r[0] for r in self.conn.execute(
            "WITH RECURSIVE s(site) AS (SELECT MIN(site) FROM calls UNION ALL "
            "SELECT (SELECT MIN(site) FROM calls WHERE site > s.site) FROM s WHERE s.site IS NOT NULL) "
            "SELECT site FROM s WHERE site IS NOT NULL")]
        return [site for site in sites if self.conn.execute(
            "SELECT 1 FROM calls WHERE site = ? AND start >= ? AND start < ? LIMIT 1", (site, start, end)).fetchone()]

    def call_costs(self, site: str, start: int, end: int, boundaries: Sequence[int]
                   ) -> list[tuple[str, str, int, int, int]]:
        """(extension, currency, segment, cost, calls) of the billed, priced legs of one site in [start, end),
        grouped by extension, currency and the time segment between `boundaries` (ascending instants)."""
        seg = _segment(boundaries)
        return [(r[0] or "", r[1] or "", int(r[2]), int(r[3]), int(r[4])) for r in self.conn.execute(
            f"SELECT extension, currency, {seg} AS seg, SUM(cost), COUNT(*) FROM calls "
            f"WHERE site = ? AND start >= ? AND start < ? AND billed = 1 AND cost IS NOT NULL "
            f"GROUP BY extension, currency, seg", (*boundaries, site, start, end))]

    def last_call(self) -> tuple[int, str] | None:
        """(start, site) of the latest call."""
        row = self.conn.execute("SELECT start, site FROM calls ORDER BY start DESC LIMIT 1").fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def call_groups(self, start: int, end: int, by: str, *, where: str = "", limit: int | None = None,
                    order: str = "cost") -> list[dict[str, Any]]:
        """Calls in [start, end) grouped by one column: calls, answered, seconds, cost per currency."""
        cols = {"site": "site", "extension": "extension", "destination": "COALESCE(destination, number_kind)",
                "trunk": "trunk", "number": "number", "tariff": "tariff", "direction": "direction",
                "status": "status"}
        if by not in cols:
            raise ValueError(by)
        filt = {"": "", "outgoing": " AND direction = 'outgoing'",
                "international": " AND direction = 'outgoing' AND number_kind = 'external'"}[where]
        sql = (f"SELECT {cols[by]} AS k, currency, COUNT(*) AS calls, SUM(billable > 0) AS answered, "
               f"SUM(billable) AS seconds, SUM(CASE WHEN billed = 1 THEN COALESCE(cost, 0) ELSE 0 END) AS cost "
               f"FROM calls WHERE start >= ? AND start < ?{filt} GROUP BY k, currency")
        rows = _dicts(self.conn.execute(sql, (start, end)))
        rows.sort(key=lambda r: (-(r["cost"] or 0), -(r["calls"] or 0)) if order == "cost" else
                  (-(r["calls"] or 0),))
        return rows[:limit] if limit else rows

    def outgoing_starts(self, start: int, end: int) -> dict[str, np.ndarray]:
        """Columns of the outgoing calls in [start, end) for time-of-day reports: site (object), extension (object),
        start (int64), seconds (int64), cost (int64, 0 where not billed), currency (object), number (object)."""
        cur = self.conn.execute(
            "SELECT site, COALESCE(extension, ''), start, billable, CASE WHEN billed = 1 THEN COALESCE(cost, 0) "
            "ELSE 0 END, COALESCE(currency, ''), COALESCE(number, '') FROM calls "
            "WHERE start >= ? AND start < ? AND direction = 'outgoing'", (start, end))
        rows = cur.fetchall()
        cols = list(zip(*rows)) if rows else [()] * 7
        return {"site": np.array(cols[0], dtype=object), "extension": np.array(cols[1], dtype=object),
                "start": np.array(cols[2], dtype=np.int64), "seconds": np.array(cols[3], dtype=np.int64),
                "cost": np.array(cols[4], dtype=np.int64), "currency": np.array(cols[5], dtype=object),
                "number": np.array(cols[6], dtype=object)}

    def trunk_calls(self, start: int, end: int) -> dict[str, np.ndarray]:
        """site, trunk, answer-or-start instant and seconds of answered calls on a trunk, for busy-hour reports."""
        rows = self.conn.execute(
            "SELECT site, trunk, COALESCE(answer, start), billable FROM calls WHERE start >= ? AND start < ? "
            "AND trunk IS NOT NULL AND trunk != '' AND billable > 0", (start, end)).fetchall()
        cols = list(zip(*rows)) if rows else [()] * 4
        return {"site": np.array(cols[0], dtype=object), "trunk": np.array(cols[1], dtype=object),
                "start": np.array(cols[2], dtype=np.int64), "seconds": np.array(cols[3], dtype=np.int64)}

    def incoming_calls(self, site: str, start: int, end: int) -> dict[str, np.ndarray]:
        """The incoming calls of one site that started in [start, end), one row per call (the legs of a call group
        folded in SQL; a leg without a group is a call of its own), as columns:
        start (int64, the first leg's), answered (bool: a leg was answered), ring (int64 seconds: first answer -
        start when answered, last leg's end - start when not; -1 when an answered call has no answer time),
        rang_out (bool: an unanswered call with a leg that rang out, no_answer, rather than busy or failed),
        extension (object: the extension that answered first, else the first one rung), rung (object: the other
        extensions rung without answering, comma-separated, '' for none)."""
        cur = self.conn.execute(
            "SELECT MIN(start), MAX(disposition = 'answered'), "
            "COALESCE(MIN(CASE WHEN disposition = 'answered' THEN answer END) - MIN(start), "
            "CASE WHEN MAX(disposition = 'answered') THEN -1 END, MAX(start + duration) - MIN(start)), "
            "MAX(disposition = 'no_answer'), "
            "SUBSTR(COALESCE(MIN(CASE WHEN disposition = 'answered' THEN printf('%012d', COALESCE(answer, start)) "
            "|| COALESCE(extension, '') END), MIN(printf('%012d', start) || COALESCE(extension, ''))), 13), "
            "COALESCE(GROUP_CONCAT(DISTINCT CASE WHEN disposition != 'answered' THEN NULLIF(extension, '') END), '') "
            "FROM calls WHERE site = ? AND start >= ? AND start < ? AND direction = 'incoming' "
            "GROUP BY source, CASE WHEN grp = '' THEN -id ELSE grp END", (site, start, end))
        rows = cur.fetchall()
        cols = list(zip(*rows)) if rows else [()] * 6
        return {"start": np.array(cols[0], dtype=np.int64), "answered": np.array(cols[1], dtype=bool),
                "ring": np.array(cols[2], dtype=np.int64), "rang_out": np.array(cols[3], dtype=bool),
                "extension": np.array(cols[4], dtype=object), "rung": np.array(cols[5], dtype=object)}

    def internal_pairs(self, site: str, start: int, end: int, limit: int) -> tuple[list[dict[str, Any]],
                                                                                      dict[str, Any]]:
        """Who calls whom at one site in [start, end): the `limit` busiest (extension, number dialled) pairs of
        internal legs by calls, then talk seconds, with calls, answered and seconds; and the site's totals
        (calls, answered, seconds, pairs)."""
        pair = "COALESCE(NULLIF(called, ''), NULLIF(dialled, ''), '')"
        cur = self.conn.execute(
            f"WITH p AS (SELECT COALESCE(extension, '') AS caller, {pair} AS callee, COUNT(*) AS calls, "
            f"SUM(disposition = 'answered') AS answered, SUM(billable) AS seconds FROM calls "
            f"WHERE site = ? AND start >= ? AND start < ? AND direction = 'internal' GROUP BY caller, callee) "
            f"SELECT caller, callee, calls, answered, seconds, SUM(calls) OVER (), SUM(answered) OVER (), "
            f"SUM(seconds) OVER (), COUNT(*) OVER () FROM p "
            f"ORDER BY calls DESC, seconds DESC, caller, callee LIMIT ?", (site, start, end, limit))
        found = cur.fetchall()
        rows = [dict(zip(("caller", "callee", "calls", "answered", "seconds"), r[:5])) for r in found]
        totals = dict(zip(("calls", "answered", "seconds", "pairs"), found[0][5:] if found else (0, 0, 0, 0)))
        return rows, totals

    def numbers_with_traffic(self, start: int, end: int) -> set[str]:
        """Every number that appears as caller, called or dialled number of a call in [start, end)."""
        out: set[str] = set()
        for col in ("number", "caller", "called"):
            out.update(r[0] for r in self.conn.execute(
                f"SELECT DISTINCT {col} FROM calls WHERE start >= ? AND start < ? AND {col} IS NOT NULL",
                (start, end)))
        return out

    def whatif_columns(self, start: int, end: int, sites: Sequence[str]) -> dict[str, np.ndarray]:
        """The outgoing external billed legs (a merged leg's cost is carried by another) in [start, end) as columns,
        in one query and without a Python object per call: site (int16 index into `sites`, -1 for others), number
        ('S18' E.164 digits), start (int64), seconds (int32), cost (int64, the stored cost), currency index (int16,
        into the sorted currencies returned under 'currencies')."""
        site_case = "CASE site " + " ".join(f"WHEN ? THEN {i}" for i in range(len(sites))) + " ELSE -1 END" \
            if sites else "-1"
        dtype = np.dtype([("site", np.int16), ("number", "S18"), ("start", np.int64), ("seconds", np.int32),
                          ("cost", np.int64), ("currency", "S3")])
        cur = self.conn.execute(
            f"SELECT {site_case}, CAST(number AS BLOB), start, billable, COALESCE(cost, 0), "
            f"CAST(COALESCE(currency, '') AS BLOB) FROM calls WHERE start >= ? AND start < ? "
            f"AND direction = 'outgoing' AND number_kind = 'external' AND billed = 1", (*sites, start, end))
        arr = np.fromiter(cur, dtype=dtype)
        codes, index = np.unique(arr["currency"], return_inverse=True)
        currencies = [c.decode("ascii", "replace") for c in codes.tolist()]
        arr = arr[list(dtype.names or ())[:-1]]
        out: dict[str, np.ndarray] = {k: np.ascontiguousarray(arr[k]) for k in (dtype.names or ())[:-1]}
        out["currency"] = index.ravel().astype(np.int16)
        out["currencies"] = np.array(currencies, dtype=object)
        return out

    # --- invoices -----------------------------------------------------------------------------------------

    def charges(self) -> list[dict[str, Any]]:
        """Every cost line of every stored invoice that is not a duplicate of another (headings and information
        lines left out), with what allocation needs of its invoice."""
        if not _has(self.conn, "invoice_charges"):
            return []
        marks = ", ".join("?" * len(NOT_COSTS))
        return _dicts(self.conn.execute(
            "SELECT c.invoice_id, c.seq, c.category, c.service, c.service_kind, c.description, c.amount, "
            "c.period_start AS charge_start, c.period_end AS charge_end, i.number, i.carrier, i.account, "
            "i.currency, i.credit, i.state, i.period_start, i.period_end, i.issue_date, i.imported_at "
            "FROM invoice_charges c JOIN invoices i ON i.id = c.invoice_id "
            f"WHERE i.duplicate_of IS NULL AND COALESCE(c.status_code, '') NOT IN ({marks}) "
            "ORDER BY c.invoice_id, c.seq", NOT_COSTS))

    # --- scheduled reports ----------------------------------------------------------------------------------

    def record_report(self, schedule: str, report: str, period: str, fmt: str, file: str, sha256: str, size: int,
                      recipients: str) -> int:
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO report_runs (schedule, report, period, format, file, sha256, size, recipients, "
                "produced_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (schedule, report, period, fmt, file, sha256, size, recipients, int(time.time())))
        return int(cur.lastrowid)

    def report_runs(self, schedule: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM report_runs" + (" WHERE schedule = ?" if schedule else "") + " ORDER BY id"
        return _dicts(self.conn.execute(sql, (schedule,) if schedule else ()))

    def last_report(self, schedule: str) -> dict[str, Any] | None:
        rows = _dicts(self.conn.execute(
            "SELECT * FROM report_runs WHERE schedule = ? ORDER BY produced_at DESC, id DESC LIMIT 1", (schedule,)))
        return rows[0] if rows else None


def open_queries(conn: sqlite3.Connection) -> TemQueries:
    return TemQueries(conn)
