"""Re-rating stored calls: the same pricing as at import, on what the store holds; changes keep a history row."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from anatole.cdrimport import price_calls
from anatole.config import Workspace
from ingest.dialplan import Number
from store import Store

BATCH = 50_000


def rerate(ws: Workspace, store: Store, *, start: int | None, end: int | None, site: str | None,
           tariff: Path | None = None) -> dict[str, Any]:
    """Price again every outgoing call of the period (internal, incoming and service calls have no price).
    Returns counts: calls looked at, changed, and the new statuses."""
    now = int(time.time())
    summary: dict[str, Any] = {"calls": 0, "changed": 0, "statuses": {}}
    batch: list[tuple] = []

    def flush() -> None:
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
                summary["calls"] += 1
                summary["statuses"][p[0]] = summary["statuses"].get(p[0], 0) + 1
                old = (r[8], r[9], r[10], r[11])
                if (p[0], p[1], p[6], p[7]) != old:
                    summary["changed"] += 1
                    history.append((r[0], r[12] or now, r[9], r[8], r[10], r[11], now))
                    updates.append((*p, now, r[0]))
        store.update_ratings(updates, history)
        batch.clear()

    for row in store.calls_for_rating(start=start, end=end, site=site):
        if row[5] != "outgoing":
            continue
        batch.append(row)
        if len(batch) >= BATCH:
            flush()
    flush()
    return summary
