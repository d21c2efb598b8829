"""Reads for reconciliation (tem.reconcile): the rated calls a carrier's call detail is matched against, as columns.

No tables of its own: it reads the calls component's `calls` table.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from store.db import Store

RINGING_MARGIN = 3600  # seconds: a call's answer is at most this long after its start (keeps the start index usable)


def calls_for_reconciliation(store: Store, *, start: int, end: int, site: str | None = None,
                             trunks: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Outgoing, answered calls (billable > 0) that carry their own cost (billed = 1), whose answer time (or start,
    where the PBX gives no answer time) is in [start, end); optionally of one site and some trunks. Columns: id,
    number (E.164 digits), start (answer, else start), duration (billable seconds), cost (0 where NULL), status,
    currency, extension; in time order."""
    clauses = ["direction = 'outgoing'", "billed = 1", "billable > 0", "start >= ?", "start < ?",
               "COALESCE(answer, start) >= ?", "COALESCE(answer, start) < ?"]
    args: list[object] = [start - RINGING_MARGIN, end, start, end]
    if site is not None:
        clauses.append("site = ?")
        args.append(site)
    if trunks:
        clauses.append(f"trunk IN ({', '.join('?' * len(trunks))})")
        args.extend(trunks)
    rows = store.conn.execute(
        "SELECT id, number, COALESCE(answer, start), billable, COALESCE(cost, 0), status, currency, extension "
        f"FROM calls WHERE {' AND '.join(clauses)} ORDER BY COALESCE(answer, start), id", args).fetchall()
    cols = list(zip(*rows)) if rows else [()] * 8
    return {
        "id": np.array(cols[0], dtype=np.int64),
        "number": np.array(cols[1], dtype=object),
        "start": np.array(cols[2], dtype=np.int64),
        "duration": np.array(cols[3], dtype=np.int32),
        "cost": np.array(cols[4], dtype=np.int64),
        "status": np.array(cols[5], dtype=object),
        "currency": np.array(cols[6], dtype=object),
        "extension": np.array(cols[7], dtype=object),
    }


def call_scopes(store: Store, *, start: int, end: int) -> list[tuple[str | None, str | None, int]]:
    """(site, trunk, calls) of the calls calls_for_reconciliation would take in [start, end): what an invoice's
    period spans, so that the user can say which site / trunk the carrier bills. Largest first."""
    rows = store.conn.execute(
        "SELECT site, trunk, COUNT(*) FROM calls WHERE direction = 'outgoing' AND billed = 1 AND billable > 0 "
        "AND start >= ? AND start < ? AND COALESCE(answer, start) >= ? AND COALESCE(answer, start) < ? "
        "GROUP BY site, trunk ORDER BY COUNT(*) DESC, site, trunk",
        (start - RINGING_MARGIN, end, start, end)).fetchall()
    return [(r[0], r[1], int(r[2])) for r in rows]
