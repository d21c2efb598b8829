"""The per-day summary of the calls (`call_days`) and the sites' UTC offsets (`tz_offsets`) it is keyed by.

Allocation, reports and totals over a month of a large store read a few thousand summary rows instead of millions of
calls. The summary is kept in the same transaction as the calls by every writer, per batch, never per row (a row
trigger made inserts 2.7x slower, see docs/store.md):

- after inserting calls, `summarise_new` folds every call above the watermark (`call_days_state.upto`, the highest
  call id summarised) into call_days: new call ids are always above it (rowids grow; `forget_ids` lowers the mark
  when the newest calls are deleted, so the next ones are again above it);
- around an UPDATE or DELETE of calls, `apply` subtracts the affected calls before and adds them back after;
  an UPDATE or DELETE from anywhere else (by hand in the sqlite3 shell) is kept right by row triggers.

A day is the call's start as a date in its site's timezone (days since 1970-01-01), from `tz_offsets`: the site's
UTC offset in force from each instant, computed with zoneinfo for 1970-2100 when the site is recorded. A call of a
site not recorded in `sites` counts in UTC.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any
from zoneinfo import ZoneInfo

KEY = ("site", "day", "extension", "direction", "number_kind", "destination", "status", "currency", "billed")
VALUES = ("calls", "answered", "seconds", "billed_seconds", "priced", "cost")

def _day_sql(conn: sqlite3.Connection, where: str, args: Sequence[Any]) -> tuple[str, list[Any]] | None:
    """The site-local day of `calls c` as an SQL expression with the offsets in force over the calls matching
    `where` written in (a CASE on the site, then on the instant: a few comparisons a call, where a lookup in
    tz_offsets per call cost 4 us); None when no call matches."""
    lo, hi = conn.execute(f"SELECT MIN(c.start), MAX(c.start) FROM calls c WHERE {where}", args).fetchone()
    if lo is None:
        return None
    sites, params = [], []
    for (site,) in conn.execute("SELECT DISTINCT site FROM tz_offsets").fetchall():
        steps = []  # (since, offset), newest first, down to the one in force at `lo`
        for since, offset in conn.execute("SELECT since, offset FROM tz_offsets WHERE site = ? AND since <= ? "
                                          "ORDER BY since DESC", (site, hi)):
            steps.append((since, offset))
            if since <= lo:
                break
        inner = " ".join("WHEN c.start >= ? THEN ?" for _ in steps[:-1])
        sites.append(f"WHEN ? THEN CASE {inner} ELSE ? END" if inner else "WHEN ? THEN ?")
        params += [site, *[v for step in steps[:-1] for v in step], steps[-1][1]]
    expr = f"(c.start + CASE c.site {' '.join(sites)} ELSE 0 END) / 86400" if sites else "c.start / 86400"
    return expr, params


def _fold(conn: sqlite3.Connection, where: str, args: Sequence[Any], sign: int) -> None:
    """Add (sign 1) or subtract (-1) the calls matching `where` (over `calls c`) to call_days."""
    day = _day_sql(conn, where, args)
    if day is None:
        return
    conn.execute(
        f"INSERT INTO call_days ({', '.join(KEY + VALUES)}) "
        f"SELECT c.site, {day[0]}, IFNULL(c.extension, ''), c.direction, c.number_kind, IFNULL(c.destination, ''), "
        f"c.status, IFNULL(c.currency, ''), c.billed, {sign} * COUNT(*), {sign} * SUM(c.billable > 0), "
        f"{sign} * SUM(c.billable), {sign} * SUM(IFNULL(c.billed_seconds, 0)), {sign} * COUNT(c.cost), "
        f"{sign} * IFNULL(SUM(c.cost), 0) FROM calls c WHERE {where} GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9 "
        "ON CONFLICT DO UPDATE SET " + ", ".join(f"{v} = {v} + excluded.{v}" for v in VALUES), (*day[1], *args))
    if sign < 0:
        conn.execute("DELETE FROM call_days WHERE calls = 0")


def _one_call(ref: str, sign: int) -> str:
    """A trigger's statement adding (1) or subtracting (-1) one call (OLD or NEW) to call_days."""
    day = (f"({ref}.start + IFNULL((SELECT t.offset FROM tz_offsets t WHERE t.site = {ref}.site "
           f"AND t.since <= {ref}.start ORDER BY t.since DESC LIMIT 1), 0)) / 86400")
    return (f"INSERT INTO call_days ({', '.join(KEY + VALUES)}) VALUES ({ref}.site, {day}, "
            f"IFNULL({ref}.extension, ''), {ref}.direction, {ref}.number_kind, IFNULL({ref}.destination, ''), "
            f"{ref}.status, IFNULL({ref}.currency, ''), {ref}.billed, {sign}, {sign} * ({ref}.billable > 0), "
            f"{sign} * {ref}.billable, {sign} * IFNULL({ref}.billed_seconds, 0), {sign} * ({ref}.cost IS NOT NULL), "
            f"{sign} * IFNULL({ref}.cost, 0)) "
            "ON CONFLICT DO UPDATE SET " + ", ".join(f"{v} = {v} + excluded.{v}" for v in VALUES) + ";")


# A call changed or deleted by anything but the store's batch writers (an administrator's UPDATE in the sqlite3
# shell, a tool of their own) is taken out of and put back into the summary row by row; the batch writers pause
# this (`batched`) and keep the summary per batch, which is several times cheaper.
_WHEN = "WHEN (SELECT paused = 0 AND upto >= OLD.id FROM call_days_state WHERE id = 1)"
TRIGGERS = f"""
    CREATE TRIGGER calls_days_update AFTER UPDATE OF site, start, extension, direction, number_kind, destination,
        status, currency, billed, billable, billed_seconds, cost ON calls {_WHEN}
    BEGIN {_one_call("OLD", -1)} {_one_call("NEW", 1)} DELETE FROM call_days WHERE calls = 0; END;
    CREATE TRIGGER calls_days_delete AFTER DELETE ON calls {_WHEN}
    BEGIN {_one_call("OLD", -1)} DELETE FROM call_days WHERE calls = 0; END;
"""


@contextlib.contextmanager
def batched(conn: sqlite3.Connection) -> Iterator[None]:
    """Inside the caller's transaction: the row triggers stand aside while a batch writer keeps the summary."""
    conn.execute("UPDATE call_days_state SET paused = 1 WHERE id = 1")
    try:
        yield
    finally:
        conn.execute("UPDATE call_days_state SET paused = 0 WHERE id = 1")


def upto(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT upto FROM call_days_state WHERE id = 1").fetchone()[0])


def summarise_new(conn: sqlite3.Connection) -> int:
    """Fold the calls inserted since the last call of this into call_days; returns how many. Call it inside the
    transaction that inserted them."""
    mark = upto(conn)
    top = conn.execute("SELECT MAX(id) FROM calls").fetchone()[0]
    if top is None or top <= mark:
        return 0
    _fold(conn, "c.id > ? AND c.id <= ?", (mark, top), 1)
    conn.execute("UPDATE call_days_state SET upto = ? WHERE id = 1", (top,))
    return int(top) - mark


def apply(conn: sqlite3.Connection, where: str, args: Sequence[Any], sign: int) -> None:
    """Subtract (-1, before an UPDATE or DELETE) or add back (1, after an UPDATE) the summarised calls matching
    `where` (SQL over `calls c`). Calls above the watermark are not in the summary yet and are left alone."""
    _fold(conn, f"({where}) AND c.id <= (SELECT upto FROM call_days_state WHERE id = 1)", args, sign)


def forget_ids(conn: sqlite3.Connection) -> None:
    """After deleting calls: lower the watermark to the highest id left, so calls inserted later (which take ids
    from there up) are summarised."""
    top = conn.execute("SELECT MAX(id) FROM calls").fetchone()[0] or 0
    conn.execute("UPDATE call_days_state SET upto = MIN(upto, ?) WHERE id = 1", (top,))


def rebuild(conn: sqlite3.Connection, site: str | None = None) -> None:
    """Recompute call_days from the calls (one site, or all), inside the caller's transaction."""
    if site is None:
        conn.execute("DELETE FROM call_days")
        conn.execute("UPDATE call_days_state SET upto = 0 WHERE id = 1")
        summarise_new(conn)
        return
    conn.execute("DELETE FROM call_days WHERE site = ?", (site,))
    _fold(conn, "c.site = ? AND c.id <= (SELECT upto FROM call_days_state WHERE id = 1)", (site,), 1)


# --- the sites' UTC offsets ---------------------------------------------------------------------------------

FIRST, LAST = 0, int(dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc).timestamp())


def offsets(timezone: str) -> list[tuple[int, int]]:
    """(since, offset seconds) of `timezone` from 1970 to 2100: each change found by day, then to the second."""
    zone = ZoneInfo(timezone)

    def off(t: int) -> int:
        return int(dt.datetime.fromtimestamp(t, zone).utcoffset().total_seconds())  # type: ignore[union-attr]

    out = [(FIRST, off(FIRST))]
    for day in range(FIRST + 86400, LAST, 86400):
        if off(day) != out[-1][1]:
            lo, hi = day - 86400, day  # off(lo) is the last offset, off(hi) the new one
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if off(mid) == out[-1][1] else (lo, mid)
            out.append((hi, off(hi)))
    return out


def record_site(conn: sqlite3.Connection, site: str, timezone: str) -> bool:
    """Keep `site`'s offsets in step with its timezone (inside the caller's transaction); when they change, the
    site's summary is recomputed, its days being other days. Returns whether anything changed."""
    row = conn.execute("SELECT timezone FROM tz_offsets WHERE site = ? LIMIT 1", (site,)).fetchone()
    if row is not None and row[0] == timezone:
        return False
    try:
        table = offsets(timezone)
    except (KeyError, ValueError, OSError):  # an unknown zone: config validation names it; count the site in UTC
        table = [(FIRST, 0)]
    conn.execute("DELETE FROM tz_offsets WHERE site = ?", (site,))
    conn.executemany("INSERT INTO tz_offsets (site, since, offset, timezone) VALUES (?, ?, ?, ?)",
                     [(site, since, offset, timezone) for since, offset in table])
    if row is not None or conn.execute("SELECT 1 FROM call_days WHERE site = ? LIMIT 1", (site,)).fetchone():
        rebuild(conn, site)
    return True


def local_day(conn: sqlite3.Connection, site: str, instant: int) -> int:
    """The site-local day (days since 1970-01-01) of a UTC instant, as call_days counts it."""
    row = conn.execute("SELECT offset FROM tz_offsets WHERE site = ? AND since <= ? ORDER BY since DESC LIMIT 1",
                       (site, instant)).fetchone()
    return (instant + (int(row[0]) if row else 0)) // 86400
