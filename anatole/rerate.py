"""Re-rating stored calls: the same pricing as at import, on what the store holds; changes keep a history row.

Runs beside the live daemon: each page of calls is read, priced and written back in one short write transaction
(BEGIN IMMEDIATE, store.db.write_transaction), so the daemon waits at most one page and no read cursor stays open
across a write. A re-rate stopped half-way (the database locked past the limit, Ctrl-C) leaves every call either
re-rated with its history row or untouched; running it again finishes the job (it is idempotent).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from anatole.cdrimport import price_calls
from anatole.config import Workspace
from ingest.dialplan import Number
from store import Store
from store.db import write_transaction

BATCH = 2_000  # calls per transaction: the live daemon's writer waits for at most one (about 0.1 s)


def rerate(ws: Workspace, store: Store, *, start: int | None, end: int | None, site: str | None,
           tariff: Path | None = None, summary: dict[str, Any] | None = None,
           progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Price again every outgoing call of the period (internal, incoming and service calls have no price).
    Returns counts: calls looked at, changed, and the new statuses. `summary`, when given, is filled as pages are
    committed (what was done before an error). `progress(calls of the period read)` after each page."""
    read = 0
    now = int(time.time())
    summary = {} if summary is None else summary
    summary.update({"calls": 0, "changed": 0, "statuses": {}})
    after: tuple[int, int] | None = None
    while True:
        with write_transaction(store.conn, what="re-rate"):
            page = store.calls_for_rating(start=start, end=end, site=site, after=after, limit=BATCH)
            if not page:
                break
            after = (page[-1][7], page[-1][0])  # (start, id) of the last call of the page
            counts = _rerate_page(ws, store, [r for r in page if r[5] == "outgoing"], tariff, now)
            read += len(page)
        summary["calls"] += counts["calls"]
        summary["changed"] += counts["changed"]
        for status, n in counts["statuses"].items():
            summary["statuses"][status] = summary["statuses"].get(status, 0) + n
        if progress:
            progress(read)
    return summary


def _rerate_page(ws: Workspace, store: Store, batch: list[tuple], tariff: Path | None, now: int) -> dict[str, Any]:
    counts: dict[str, Any] = {"calls": 0, "changed": 0, "statuses": {}}
    by_site: dict[str, list[tuple]] = {}
    for row in batch:
        by_site.setdefault(row[1], []).append(row)
    updates, history = [], []
    for name, rows in by_site.items():
        if name not in ws.sites:
            continue  # a site removed from anatole.toml: its calls keep their last price
        priced = price_calls(ws, ws.sites[name], [
            (r[2] or "", Number(r[4], r[3]), r[7], r[6], r[5]) for r in rows], tariff)
        for r, p in zip(rows, priced):
            counts["calls"] += 1
            counts["statuses"][p[0]] = counts["statuses"].get(p[0], 0) + 1
            old = (r[8], r[9], r[10], r[11])
            if (p[0], p[1], p[6], p[7]) != old:
                counts["changed"] += 1
                history.append((r[0], r[12] or now, r[9], r[8], r[10], r[11], now))
                updates.append((*p, now, r[0]))
    store.update_ratings(updates, history)
    return counts
