"""Read-only queries across components (calls, invoices, inventory) for allocation, reports and what-if, plus the
"reports" component: what scheduled reporting produced. The only place their SQL is written.

Aggregations run in SQLite (GROUP BY) so that a month of ten million calls comes back as a few thousand groups,
never as ten million Python objects; what-if reads its columns straight into numpy arrays.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import sqlite3
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from operator import itemgetter
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


_FAR = 2**62


def _day(pieces: Sequence[tuple[int, int, int]], instant: int) -> int:
    """The site-local day of an instant under `TemQueries._offsets` pieces, as store.days counts it."""
    for a, b, off in pieces:
        if a <= instant < b:
            return (instant + off) // 86400
    return instant // 86400


def _segment(boundaries: Sequence[int]) -> str:
    """SQL for the index of the time segment a call's start falls in (boundaries ascending, bound as params)."""
    if not boundaries:
        return "0"
    return "CASE " + " ".join(f"WHEN start < ? THEN {i}" for i in range(len(boundaries))) + \
        f" ELSE {len(boundaries)} END"


# call_groups: the group's key over calls and over call_days (NULL is '' there; no destination: the number kind)
_GROUP_CALLS = {"site": "site", "extension": "IFNULL(extension, '')",
                "destination": "COALESCE(NULLIF(destination, ''), number_kind)", "trunk": "IFNULL(trunk, '')",
                "number": "IFNULL(number, '')", "tariff": "IFNULL(tariff, '')", "direction": "direction",
                "status": "status"}
_GROUP_DAYS = {"site": "site", "extension": "extension",
               "destination": "CASE WHEN destination = '' THEN number_kind ELSE destination END",
               "direction": "direction", "status": "status"}
_GROUP_WHERE = {"": "", "outgoing": " AND direction = 'outgoing'",
                "international": " AND direction = 'outgoing' AND number_kind = 'external'"}
_CALL_COST = "SUM(CASE WHEN billed = 1 THEN IFNULL(cost, 0) ELSE 0 END)"


def _add_groups(groups: dict[tuple[str, str], list[int]], rows: Any) -> None:
    """Add (key, currency, calls, answered, seconds, cost) rows into `groups`."""
    for k, cur, *values in rows:
        acc = groups.setdefault((k or "", cur or ""), [0, 0, 0, 0])
        for i, v in enumerate(values):
            acc[i] += int(v or 0)


class DayReads:
    """Reads of calls through the day summary (call_days) on one open connection, with no write (the console's
    totals use it on a read connection)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    # --- calls through the day summary (call_days) -----------------------------------------------------------
    # Whole site-local days inside one time segment come from call_days (store/days.py); the calls of a day that a
    # range end or a segment boundary cuts (not at the site's local midnight), and any call not summarised yet
    # (above the watermark), are read from `calls`. Totals are those of the call-level query, exactly.

    def _offsets(self, site: str) -> list[tuple[int, int, int]]:
        """(from, to, UTC offset) pieces of a site as call_days counts its days (no offsets recorded: UTC)."""
        rows = [(int(a), int(b)) for a, b in self.conn.execute(
            "SELECT since, offset FROM tz_offsets WHERE site = ? ORDER BY since", (site,))]
        if not rows or rows[0][0] > -_FAR:
            rows.insert(0, (-_FAR, 0))
        return [(a, b, off) for (a, off), (b, _) in zip(rows, [*rows[1:], (_FAR, 0)])]

    def day_plan(self, site: str, start: int, end: int, boundaries: Sequence[int]
                 ) -> tuple[dict[int, int], list[tuple[int, int]]]:
        """How to read one site's calls in [start, end) cut at `boundaries` (ascending instants): {day: segment}
        of the site-local days that lie wholly inside the range and inside one segment (read from call_days),
        and the merged [from, to) instant intervals of the other days' parts inside the range (read from calls)."""
        days: dict[int, list[tuple[int, int]]] = {}
        for a, b, off in self._offsets(site):
            lo, hi = max(a, start - 3 * 86400), min(b, end + 3 * 86400)  # offsets never pass a day
            if lo >= hi:
                continue
            for day in range((lo + off) // 86400, (hi - 1 + off) // 86400 + 1):
                x, y = max(lo, day * 86400 - off), min(hi, (day + 1) * 86400 - off)
                if x < y:
                    days.setdefault(day, []).append((x, y))
        whole: dict[int, int] = {}
        parts: list[tuple[int, int]] = []
        for day, spans in sorted(days.items()):
            inside = [(max(x, start), min(y, end)) for x, y in spans if max(x, start) < min(y, end)]
            if not inside:
                continue
            segs = {bisect.bisect_right(boundaries, t) for x, y in spans for t in (x, y - 1)}
            if inside == spans and len(segs) == 1:
                whole[day] = segs.pop()
            else:
                parts.extend(inside)
        merged: list[tuple[int, int]] = []
        for x, y in sorted(parts):
            if merged and merged[-1][1] == x:
                merged[-1] = (merged[-1][0], y)
            else:
                merged.append((x, y))
        return whole, merged

    def _unsummarised(self) -> int:
        """The highest call id that call_days counts (calls above it are read from `calls`)."""
        return int(self.conn.execute("SELECT upto FROM call_days_state WHERE id = 1").fetchone()[0])

    def has_summary(self) -> bool:
        return _has(self.conn, "call_days")

    @contextlib.contextmanager
    def _snapshot(self) -> Any:
        """One read transaction around reads of call_days and calls together: a writer committing between them
        (calls and their summary change in one transaction) is either wholly seen or not at all."""
        if self.conn.in_transaction:
            yield
            return
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            if self.conn.in_transaction:
                self.conn.execute("COMMIT")

    def calls_totals(self, start: int, end: int, filters: dict[str, str]) -> dict[str, Any]:
        """What Store.calls_totals returns for the calls in [start, end) equal to `filters` on site, extension,
        direction or status: count, billable seconds, cost of the billed priced legs per currency; call_days for
        whole days, the calls for the rest: exactly the same figures."""
        cond = "".join(f" AND {k} = ?" for k in filters if k != "site")
        fargs = [v for k, v in filters.items() if k != "site"]
        out: dict[str, Any] = {"calls": 0, "seconds": 0, "cost": {}}

        def add(cur: str, n: int, seconds: int, priced: int, cost: int) -> None:
            out["calls"] += n
            out["seconds"] += seconds or 0
            if cur and priced:
                out["cost"][cur] = out["cost"].get(cur, 0) + cost

        with self._snapshot():
            upto = self._unsummarised()
            sites = [filters["site"]] if "site" in filters else sorted(
                {r[0] for r in self.conn.execute("SELECT DISTINCT site FROM call_days")}
                | {r[0] for r in self.conn.execute("SELECT DISTINCT site FROM calls NOT INDEXED WHERE id > ?",
                                                   (upto,))})
            for site in sites:
                whole, parts = self.day_plan(site, start, end, ())
                if whole:
                    for row in self.conn.execute(
                            "SELECT currency, SUM(calls), SUM(seconds), SUM(CASE WHEN billed = 1 THEN priced END), "
                            "SUM(CASE WHEN billed = 1 THEN cost ELSE 0 END) FROM call_days WHERE site = ? "
                            f"AND day IN ({', '.join(map(str, whole))}){cond} GROUP BY currency", (site, *fargs)):
                        add(*row)
                for x, y in parts:
                    for row in self.conn.execute(
                            "SELECT IFNULL(currency, ''), COUNT(*), SUM(billable), COUNT(CASE WHEN billed = 1 THEN "
                            "cost END), SUM(CASE WHEN billed = 1 THEN IFNULL(cost, 0) ELSE 0 END) FROM calls "
                            f"WHERE site = ? AND start >= ? AND start < ?{cond} GROUP BY 1", (site, x, y, *fargs)):
                        add(*row)
                offsets = self._offsets(site)  # calls not summarised yet, on whole days (the cut days had them)
                for cur, t, seconds, priced, cost in self.conn.execute(
                        "SELECT IFNULL(currency, ''), start, billable, billed = 1 AND cost IS NOT NULL, "
                        "CASE WHEN billed = 1 THEN IFNULL(cost, 0) ELSE 0 END FROM calls NOT INDEXED WHERE id > ? "
                        f"AND site = ? AND start >= ? AND start < ?{cond}", (upto, site, start, end, *fargs)):
                    if _day(offsets, t) in whole:
                        add(cur, 1, seconds, priced, cost)
        return out


class TemQueries(DayReads):
    """Queries of allocation, reports and what-if on one open connection."""

    def __init__(self, conn: sqlite3.Connection):
        super().__init__(conn)
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

    def call_costs_summary(self, site: str, start: int, end: int, boundaries: Sequence[int]
                           ) -> list[tuple[str, str, int, int, int]]:
        """What `call_costs` returns (one row per extension, currency and segment; NULL and '' extensions or
        currencies are one group, ''), from call_days for whole days and from calls for cut days: exactly the
        same sums."""
        if not self.has_summary():
            return self.call_costs(site, start, end, boundaries)
        with self._snapshot():
            return self._call_costs_summary(site, start, end, boundaries)

    def _call_costs_summary(self, site: str, start: int, end: int, boundaries: Sequence[int]
                            ) -> list[tuple[str, str, int, int, int]]:
        whole, parts = self.day_plan(site, start, end, boundaries)
        out: dict[tuple[str, str, int], list[int]] = {}

        def add(ext: str | None, cur: str | None, seg: int, cost: int, n: int) -> None:
            acc = out.setdefault((ext or "", cur or "", int(seg)), [0, 0])
            acc[0] += int(cost)
            acc[1] += int(n)

        if whole:
            case = "CASE day " + " ".join(f"WHEN {d} THEN {s}" for d, s in whole.items()) + " END"
            for row in self.conn.execute(
                    f"SELECT extension, currency, {case} AS seg, SUM(cost), SUM(priced) FROM call_days "
                    f"WHERE site = ? AND day IN ({', '.join(map(str, whole))}) AND billed = 1 AND priced > 0 "
                    f"GROUP BY extension, currency, seg", (site,)):
                add(*row)
        seg = _segment(boundaries)
        for x, y in parts:
            for row in self.conn.execute(
                    f"SELECT extension, currency, {seg} AS seg, SUM(cost), COUNT(*) FROM calls "
                    f"WHERE site = ? AND start >= ? AND start < ? AND billed = 1 AND cost IS NOT NULL "
                    f"GROUP BY extension, currency, seg", (*boundaries, site, x, y)):
                add(*row)
        # calls not summarised yet (written around the Store): on whole days only, the cut days read them above.
        # NOT INDEXED: along the rowid from the watermark (normally nothing), never the month through (site, start)
        offsets = self._offsets(site)
        for ext, cur, t, cost in self.conn.execute(
                "SELECT extension, currency, start, cost FROM calls NOT INDEXED WHERE id > ? AND site = ? "
                "AND start >= ? AND start < ? AND billed = 1 AND cost IS NOT NULL",
                (self._unsummarised(), site, start, end)):
            if _day(offsets, t) in whole:
                add(ext, cur, bisect.bisect_right(boundaries, t), cost, 1)
        return sorted((k[0], k[1], k[2], v[0], v[1]) for k, v in out.items())

    def last_call(self) -> tuple[int, str] | None:
        """(start, site) of the latest call."""
        row = self.conn.execute("SELECT start, site FROM calls ORDER BY start DESC LIMIT 1").fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def call_groups(self, start: int, end: int, by: str, *, where: str = "", limit: int | None = None,
                    order: str = "cost", summary: bool = True) -> list[dict[str, Any]]:
        """Calls in [start, end) grouped by one column: calls, answered, seconds, cost per currency (a missing
        key or currency is ''; a missing destination is the number kind). By site, extension, destination,
        direction or status they come from call_days (`summary`, exactly the same sums), else from the calls."""
        if by not in _GROUP_CALLS:
            raise ValueError(by)
        filt = _GROUP_WHERE[where]
        if summary and by in _GROUP_DAYS and self.has_summary():
            with self._snapshot():
                groups = self._call_groups_summary(start, end, by, filt)
        else:
            groups = {}
            _add_groups(groups, self.conn.execute(
                f"SELECT {_GROUP_CALLS[by]} AS k, IFNULL(currency, ''), COUNT(*), SUM(billable > 0), SUM(billable), "
                f"{_CALL_COST} FROM calls WHERE start >= ? AND start < ?{filt} GROUP BY k, 2", (start, end)))
        rows = [{"k": k, "currency": cur, "calls": v[0], "answered": v[1], "seconds": v[2], "cost": v[3]}
                for (k, cur), v in groups.items()]
        rows.sort(key=lambda r: (-r["cost"], -r["calls"], r["k"], r["currency"]) if order == "cost" else
                  (-r["calls"], r["k"], r["currency"]))
        return rows[:limit] if limit else rows

    def _call_groups_summary(self, start: int, end: int, by: str, filt: str) -> dict[tuple[str, str], list[int]]:
        groups: dict[tuple[str, str], list[int]] = {}
        upto = self._unsummarised()
        sites = {r[0] for r in self.conn.execute(
            "WITH RECURSIVE s(site) AS (SELECT MIN(site) FROM call_days UNION ALL "
            "SELECT (SELECT MIN(site) FROM call_days WHERE site > s.site) FROM s WHERE s.site IS NOT NULL) "
            "SELECT site FROM s WHERE site IS NOT NULL")}
        sites.update(r[0] for r in self.conn.execute("SELECT DISTINCT site FROM calls NOT INDEXED WHERE id > ?",
                                                     (upto,)))
        for site in sorted(sites):
            whole, parts = self.day_plan(site, start, end, ())
            if whole:
                _add_groups(groups, self.conn.execute(
                    f"SELECT {_GROUP_DAYS[by]} AS k, currency, SUM(calls), SUM(answered), SUM(seconds), "
                    f"SUM(CASE WHEN billed = 1 THEN cost ELSE 0 END) FROM call_days WHERE site = ? "
                    f"AND day IN ({', '.join(map(str, whole))}){filt} GROUP BY k, currency", (site,)))
            for x, y in parts:
                _add_groups(groups, self.conn.execute(
                    f"SELECT {_GROUP_CALLS[by]} AS k, IFNULL(currency, ''), COUNT(*), SUM(billable > 0), "
                    f"SUM(billable), {_CALL_COST} FROM calls WHERE site = ? AND start >= ? AND start < ?{filt} "
                    f"GROUP BY k, 2", (site, x, y)))
            offsets = self._offsets(site)
            _add_groups(groups, ((k, cur, 1, n, secs, cost) for k, cur, t, n, secs, cost in self.conn.execute(
                f"SELECT {_GROUP_CALLS[by]}, IFNULL(currency, ''), start, billable > 0, billable, "
                f"CASE WHEN billed = 1 THEN IFNULL(cost, 0) ELSE 0 END FROM calls NOT INDEXED WHERE id > ? "
                f"AND site = ? AND start >= ? AND start < ?{filt}", (upto, site, start, end))
                if _day(offsets, t) in whole))
        return groups

    def outgoing_starts(self, start: int, end: int) -> dict[str, np.ndarray]:
        """Columns of the outgoing calls in [start, end) for time-of-day reports: site (object), extension (object),
        start (int64), seconds (int64), cost (int64, 0 where not billed), currency (object), number (object)."""
        cols = read_columns(
            self.conn,
            "SELECT site, extension, start, billable, CASE WHEN billed = 1 THEN COALESCE(cost, 0) ELSE 0 END, "
            "currency, number FROM calls WHERE start >= ? AND start < ? AND direction = 'outgoing'", (start, end),
            [("site", "cat", ""), ("extension", "cat", ""), ("start", "int64", None), ("seconds", "int64", None),
             ("cost", "int64", None), ("currency", "cat", ""), ("number", "cat", "")])
        return _decoded(cols, ("site", "extension", "start", "seconds", "cost", "currency", "number"))

    def trunk_calls(self, start: int, end: int) -> dict[str, np.ndarray]:
        """site, trunk, answer-or-start instant and seconds of answered calls on a trunk, for busy-hour reports."""
        cols = read_columns(
            self.conn,
            "SELECT site, trunk, COALESCE(answer, start), billable FROM calls WHERE start >= ? AND start < ? "
            "AND trunk IS NOT NULL AND trunk != '' AND billable > 0", (start, end),
            [("site", "cat", ""), ("trunk", "cat", ""), ("start", "int64", None), ("seconds", "int64", None)])
        return _decoded(cols, ("site", "trunk", "start", "seconds"))

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
        without a Python object per call (`read_column_parts`: one query per slice of time, the slices read at once
        on threads, in start order): site (int16 index into `sites`, -1 for others), number ('S18' E.164 digits: at
        most 15; a longer stored number is cut at 18, as the columnar import stores it), start (int64), seconds
        (int32), cost (int64, the stored cost, 0 for none), currency index (int16, into the sorted currencies
        returned under 'currencies', '' for none)."""
        cols = read_column_parts(
            self.conn,
            "SELECT site, number, start, billable, cost, currency FROM calls "
            "WHERE start >= ? AND start < ? AND direction = 'outgoing' AND number_kind = 'external' AND billed = 1",
            self._slices(start, end, os.cpu_count() or 1),
            [("site", "cat", None), ("number", "S18", b""), ("start", "int64", None), ("seconds", "int32", None),
             ("cost", "int64", 0), ("currency", "cat", "")], cut=("number",))
        index = {s: i for i, s in enumerate(sites)}  # codes (a hash per call, cheaper than a CASE in SQL) to `sites`
        cols["site"] = np.array([index.get(s, -1) for s in cols.pop("site_values").tolist()],
                                dtype=np.int16)[cols["site"]]
        names = cols.pop("currency_values")
        order = np.argsort(names.astype(str), kind="stable") if len(names) else np.empty(0, dtype=np.intp)
        rank = np.empty(len(names), dtype=np.int16)
        rank[order] = np.arange(len(names), dtype=np.int16)
        cols["currency"] = rank[cols["currency"]]
        cols["currencies"] = np.array([str(names[i]) for i in order], dtype=object)
        return cols

    def _slices(self, start: int, end: int, n: int) -> list[tuple[int, int]]:
        """[start, end) cut into `n` equal spans of time between its first and last call (two index probes)."""
        lo, hi = (self.conn.execute(f"SELECT {f}(start) FROM calls WHERE start >= ? AND start < ?", (start, end))
                  .fetchone()[0] for f in ("MIN", "MAX"))  # apart: MIN and MAX in one query scan the range
        if lo is None or n <= 1 or hi - lo < n:
            return [(start, end)]
        cuts = [lo + (hi + 1 - lo) * i // n for i in range(1, n)]
        return list(zip([start, *cuts], [*cuts, end]))

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


# --- columnar reads ------------------------------------------------------------------------------------------
# One SELECT into numpy columns: in C (store._fast: SQLite's own stepping, no Python object per value, the GIL
# released) when it can be used, else through the Python cursor with exactly the same results and errors.
# spec: one (name, kind, fill) per result column: kind int64/int32/int16/int8 (out of range is an error), 'S<n>'
# (text or blob as bytes, longer than n is an error, never a cut) or 'cat' (text as int32 codes in first-seen order,
# a NULL's fill too; the str values under name + '_values'); fill: what a NULL becomes, None when a NULL is an error.

try:
    from store import _fast
except ImportError:  # not built: the Python path
    _fast = None  # type: ignore[assignment]

FAST_READS = True  # False: always the Python cursor (the benchmark's baseline, tests of both paths)
_CHUNK = 65_536


def read_columns(conn: sqlite3.Connection, sql: str, args: Sequence[Any], spec: Sequence[tuple[str, Any, Any]], *,
                 cut: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """The columns of one SELECT (see above); `cut`: names of 'S<n>' columns whose longer text is cut, deliberately.
    The C path reads the committed database file on a read-only connection of its own (with `conn`'s busy
    timeout); it is not taken for an in-memory database or while `conn` has uncommitted changes, which only `conn`
    sees."""
    return read_column_parts(conn, sql, [args], spec, cut=cut)


def read_column_parts(conn: sqlite3.Connection, sql: str, parts: Sequence[Sequence[Any]],
                      spec: Sequence[tuple[str, Any, Any]], *, cut: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """read_columns of one SELECT run once per args in `parts` (slices of a range, say), the columns concatenated in
    that order ('cat' codes renumbered in first-seen order over the whole). The C path reads the parts at once on
    threads (one connection each, the GIL released while stepping); the Python path one after the other."""
    path = ""
    if FAST_READS and _fast is not None and _fast.AVAILABLE:
        with contextlib.suppress(_fast.Unavailable):
            path = _fast.database_path(conn)
    if not path:
        return _concat([read_columns_py(conn, sql, args, spec, cut=cut) for args in parts], spec)
    timeout = int(conn.execute("PRAGMA busy_timeout").fetchone()[0]) / 1000

    def one(args: Sequence[Any]) -> dict[str, np.ndarray]:
        return _fast.read_columns(path, sql, args, spec, timeout=timeout, cut=cut)

    if len(parts) == 1:
        return one(parts[0])
    with ThreadPoolExecutor(min(len(parts), os.cpu_count() or 1)) as pool:
        return _concat(list(pool.map(one, parts)), spec)


def _concat(results: list[dict[str, np.ndarray]], spec: Sequence[tuple[str, Any, Any]]) -> dict[str, np.ndarray]:
    if len(results) == 1:
        return results[0]
    out: dict[str, np.ndarray] = {}
    for name, *_ in spec:
        if name + "_values" not in results[0]:
            out[name] = np.concatenate([r[name] for r in results])
            continue
        table: dict[str, int] = {}
        codes = []
        for r in results:
            remap = np.array([table.setdefault(v, len(table)) for v in r[name + "_values"].tolist()], dtype=np.int32)
            codes.append(remap[r[name]] if len(remap) else r[name])
        out[name] = np.concatenate(codes)
        vals = np.empty(len(table), dtype=object)
        vals[:] = list(table)
        out[name + "_values"] = vals
    return out


def _decoded(cols: dict[str, np.ndarray], names: Sequence[str]) -> dict[str, np.ndarray]:
    """`names` of read_columns' output, its 'cat' columns as object arrays of str."""
    return {k: cols[k + "_values"][cols[k]] if k + "_values" in cols else cols[k] for k in names}


def _text(v: Any) -> bytes:
    if isinstance(v, str):
        return v.encode("utf-8")
    if isinstance(v, bytes):
        return v
    if isinstance(v, int):
        return str(v).encode()
    raise ValueError(v)


def _cell_error(v: Any, name: str, dt: np.dtype, fill: Any, kind: Any, cat: bool, cut: bool, row: int
                ) -> str | None:
    """What is wrong with one value, as the C path says it, or None."""
    where = f"column {name}, row {row}"
    if v is None:
        return None if fill is not None else f"{where}: NULL where a value is required"
    if type(v) is float or not isinstance(v, (int, str, bytes)) or (dt.kind == "i" and not cat and type(v) is not int):
        what = {float: "a real number", str: "text", bytes: "a blob"}.get(type(v), "a value")
        return f"{where}: {what} where {kind} is expected"
    if dt.kind == "i" and not cat and not np.iinfo(dt).min <= v <= np.iinfo(dt).max:
        return f"{where}: {v} is out of range for {kind}"
    if dt.kind == "S" and not cut and len(_text(v)) > dt.itemsize:
        return f"{where}: {len(_text(v))} bytes do not fit {kind} (text is never cut)"
    return None


def _convert(values: Sequence[Any], dt: np.dtype, fill: Any, table: dict[str, int] | None, cut: bool
             ) -> np.ndarray:
    """One chunk of one column; ValueError (any) when a value does not convert (_cell_error says which)."""
    if None in values:
        if fill is None:
            raise ValueError(None)
        values = [fill if v is None else v for v in values]
    types = set(map(type, values))
    if table is not None:
        if types != {str}:
            values = [v if isinstance(v, str) else _text(v).decode("utf-8") for v in values]
        for v in dict.fromkeys(values):  # the new values in first-seen order, at C speed
            table.setdefault(v, len(table))
        return np.array(list(map(table.__getitem__, values)), dtype=np.int32)
    if dt.kind == "S":
        texts = list(map(str.encode, values)) if types == {str} else [_text(v) for v in values]
        if max(map(len, texts)) > dt.itemsize:
            if not cut:
                raise ValueError(texts)
            texts = [t[:dt.itemsize] for t in texts]
        return np.array(texts, dtype=dt)
    if types != {int}:
        raise ValueError(values)
    arr = np.array(values, dtype=np.int64)
    info = np.iinfo(dt)
    if ((arr < info.min) | (arr > info.max)).any():
        raise ValueError(values)
    return arr.astype(dt)


def read_columns_py(conn: sqlite3.Connection, sql: str, args: Sequence[Any], spec: Sequence[tuple[str, Any, Any]],
                    *, cut: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """read_columns through the Python cursor, in chunks (the reference of the C path and its fallback)."""
    spec = [tuple(s) for s in spec]
    cut = {cut} if isinstance(cut, str) else set(cut)
    kinds: list[tuple[str, np.dtype, Any, Any]] = []
    cats: list[dict[str, int] | None] = []
    for name, kind, fill in spec:
        if isinstance(kind, str) and kind == "cat":
            dt = np.dtype(np.int32)
            cats.append({})
            if fill is not None:
                fill = fill.decode("utf-8") if isinstance(fill, bytes) else str(fill)
        else:
            dt = np.dtype(kind)
            if not ((dt.kind == "S" and dt.itemsize > 0) or dt in (np.int64, np.int32, np.int16, np.int8)):
                raise ValueError(f"column kind {kind!r}: use int64, int32, int16, int8, S<n> (n > 0) or 'cat'")
            cats.append(None)
            if dt.kind == "S" and fill is not None:
                fill = fill.encode("utf-8") if isinstance(fill, str) else bytes(fill)
                if len(fill) > dt.itemsize:
                    raise ValueError(f"column {name}: fill {fill!r} is longer than {dt.itemsize} bytes")
            elif dt.kind == "i" and fill is not None and not (np.iinfo(dt).min <= int(fill) <= np.iinfo(dt).max):
                raise ValueError(f"column {name}: fill {fill!r} does not fit {dt}")
        kinds.append((name, dt, fill, kind))
    cur = conn.execute(sql, tuple(args))
    if len(cur.description or ()) != len(spec):
        got = [d[0] for d in cur.description or ()]
        raise ValueError(f"the query returns {len(got)} columns {got}, the spec names {len(spec)}: "
                         f"{[s[0] for s in spec]}")
    parts: list[list[np.ndarray]] = [[] for _ in spec]
    done = 0
    while rows := cur.fetchmany(_CHUNK):
        try:
            chunk = [_convert(list(map(itemgetter(j), rows)), dt, fill, cats[j], name in cut)  # not zip(*rows): slow
                     for j, (name, dt, fill, _) in enumerate(kinds)]
        except (ValueError, OverflowError):  # the first bad value in row order, as the C path finds it
            for i, row in enumerate(rows):
                for v, (name, dt, fill, kind), table in zip(row, kinds, cats):
                    if msg := _cell_error(v, name, dt, fill, kind, table is not None, name in cut, done + i + 1):
                        raise ValueError(msg) from None
            raise
        for j, arr in enumerate(chunk):
            parts[j].append(arr)
        done += len(rows)
    out: dict[str, np.ndarray] = {}
    for j, (name, dt, _fill, _kind) in enumerate(kinds):
        out[name] = np.concatenate(parts[j]) if parts[j] else np.empty(0, dtype=dt)
        table = cats[j]
        if table is not None:
            vals = np.empty(len(table), dtype=object)
            vals[:] = list(table)
            out[name + "_values"] = vals
    return out
