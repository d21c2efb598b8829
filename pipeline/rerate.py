"""Re-rating stored calls: the same pricing as at import, on what the store holds; changes keep a history row.

The columnar path (`rerate`): the calls of the period are read in keyset pages of PAGE calls (start, id order)
straight into numpy columns (Store.rating_columns), outside any transaction; each tariff's engine tables rate all
of a page's outgoing calls it prices in one call (`price_columns`: the rules of pipeline.cdrimport.price_calls on
arrays).
Only the calls whose (status, tariff, cost, currency) changed become update tuples, written by
Store.update_ratings (which keeps the day summary right) in write transactions of at most BATCH calls.

Beside the live daemon: the daemon's writer waits for one such write transaction at most, never for a read or
the pricing. Inside each write transaction the calls about to be written are read again
(Store.rating_columns(ids=...)); a call that another program changed since the page was read (a concurrent re-rate,
merged legs) is priced again from what is stored now, one deleted meanwhile is left out: the history row always
names the result actually replaced. A call inserted behind the page being read is not re-rated by this run (it
was rated as it was stored). A page with nothing to change writes nothing and takes no lock.

A re-rate stopped half-way (the database locked past the limit, Ctrl-C) leaves every call either re-rated with its
history row or untouched; running it again finishes the job (it is idempotent).

`workers` / `scheduler`: the pricing of pages on Dask workers (each worker loads the workspace and the tariffs
once, as pipeline.distributed does); the driver reads the pages in order, keeps a few in flight, and writes the
results in page order: the outcome is the one-process outcome.

`rerate_rows` is the earlier row path (a Python tuple per call around price_calls, read, priced and written in one
transaction per page of BATCH calls): kept as the reference the tests and the benchmark compare with.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

from engine import STATUS_NAMES
from ingest.dialplan import EXTERNAL, Number
from pipeline.cdrimport import price_calls
from pipeline.workspace import Opener, Workspace, registered_opener
from store import Store
from store.db import RATING_NO_COST, write_transaction

PAGE = 20_000  # calls read and priced at a time (outside any transaction)
BATCH = 2_000  # calls written per write transaction: the live daemon's writer waits for at most one
IN_FLIGHT = 2  # pages priced ahead per Dask worker thread

# calls_for_rating's columns
ID, SITE, TRUNK, NUMBER, KIND, DIRECTION, BILLABLE, START, STATUS, TARIFF, COST, CURRENCY, RATED_AT, BILLED = \
    range(14)
_NOT_EXTERNAL = {"service": "service", "emergency": "emergency", "internal": "internal"}  # else "invalid"


class RerateError(Exception):
    """The re-rate cannot run as asked (Dask missing, no scheduler): nothing was written."""


def rerate(ws: Workspace, store: Store, *, start: int | None, end: int | None, site: str | None,
           tariff: Path | None = None, summary: dict[str, Any] | None = None,
           progress: Callable[[int], None] | None = None, workers: int | None = None,
           scheduler: str | None = None) -> dict[str, Any]:
    """Price again every outgoing call of the period (internal, incoming and service calls have no price).
    Returns counts: calls looked at, changed, and the new statuses. `summary`, when given, is filled as pages are
    committed (what was done before an error). `progress(calls of the period read)` after each page.
    `workers` (a local Dask cluster of N processes) or `scheduler` (tcp://HOST:PORT): price the pages there."""
    summary = {} if summary is None else summary
    summary.update({"calls": 0, "changed": 0, "statuses": {}})
    now = int(time.time())
    read = 0

    def finish(page: dict[str, Any], cols: dict[str, Any], priced: dict[str, np.ndarray]) -> None:
        nonlocal read
        counts = _write(ws, store, page, cols, priced, tariff, now)
        read += len(page["id"])
        _add(summary, counts)
        if progress:
            progress(read)

    pages = _pages(store, start, end, site)
    if workers is None and scheduler is None:
        for page in pages:
            cols = page_columns(page, ws)
            finish(page, cols, price_columns(ws, cols["price"], tariff))
        return summary
    from pipeline.distributed import dask_client

    job = RerateJob(root=str(Path(ws.path).resolve()), configured=True,
                    tariff=str(Path(tariff).resolve()) if tariff is not None else None)
    cargo = shipment(ws, Path(job.tariff) if job.tariff else None)
    with dask_client(scheduler, workers, RerateError) as client:
        info = client.scheduler_info(n_workers=-1).get("workers", {})
        depth = IN_FLIGHT * max(1, sum(int(w.get("nthreads", 1)) for w in info.values()))
        shipped = client.scatter(cargo, broadcast=True, hash=False)  # once to each worker
        pending: deque[tuple[dict[str, Any], dict[str, Any], Any]] = deque()
        for page in pages:
            cols = page_columns(page, ws)
            pending.append((page, cols, client.submit(price_task, cols["price"], job, shipped, pure=False)))
            while len(pending) > depth:
                page_, cols_, future = pending.popleft()
                finish(page_, cols_, future.result())  # in page order; a task's error is raised here
        while pending:
            page_, cols_, future = pending.popleft()
            finish(page_, cols_, future.result())
    return summary


def _pages(store: Store, start: int | None, end: int | None, site: str | None) -> Iterator[dict[str, Any]]:
    """The calls of the period in keyset pages of PAGE (Store.rating_columns), each read whole, with no
    transaction left open."""
    after: tuple[int, int] | None = None
    while True:
        page = store.rating_columns(start=start, end=end, site=site, after=after, limit=PAGE)
        if not len(page["id"]):
            return
        after = (int(page["start"][-1]), int(page["id"][-1]))
        yield page


def _add(summary: dict[str, Any], counts: dict[str, Any]) -> None:
    summary["calls"] += counts["calls"]
    summary["changed"] += counts["changed"]
    for status, n in counts["statuses"].items():
        summary["statuses"][status] = summary["statuses"].get(status, 0) + n


# --- pricing a page's columns -------------------------------------------------------------------------------


def page_columns(page: dict[str, Any], ws: Workspace) -> dict[str, Any]:
    """Of a page (Store.rating_columns), its outgoing calls of the workspace's sites: under "price" what the
    pricing needs (site, trunk, number_kind: object arrays; number: 'S18'; start, billable: int64), "row" their
    index in the page, and their stored results (id, status, tariff, cost, currency, rated_at) to compare with."""
    site = page["site"]
    keep = page["direction"] == "outgoing"
    if not set(site.tolist()) <= ws.sites.keys():
        keep &= np.isin(site, np.array(list(ws.sites), dtype=object))  # a site removed: keeps its last price
    row = np.flatnonzero(keep)
    out: dict[str, Any] = {"row": row, "price": {k: page[c][row] for k, c in (
        ("site", "site"), ("trunk", "trunk"), ("number", "number"), ("kind", "number_kind"), ("start", "start"),
        ("billable", "billable"))}}
    for name in ("id", "status", "tariff", "currency", "rated_at"):
        out[name] = page[name][row]
    cost = page["cost"][row]
    out["cost"] = np.where(cost == RATING_NO_COST, None, cost.astype(object))
    return out


def price_columns(ws: Workspace, cols: dict[str, np.ndarray], tariff: Path | None = None) -> dict[str, np.ndarray]:
    """price_calls on columns of outgoing calls (page_columns' "price"): (status, tariff, prefix, destination, band,
    billed_seconds, cost, currency) as object arrays (str, int or None), each call as price_calls prices it. The
    engine rates each tariff's calls in one call; no Python per call."""
    n = len(cols["kind"])
    kind = cols["kind"]
    external = kind == EXTERNAL
    status = np.where(external, "no_tariff", "invalid").astype(object)
    for k, name in _NOT_EXTERNAL.items():
        status[kind == k] = name
    out = {"status": status, **{k: np.full(n, None, dtype=object) for k in (
        "tariff", "prefix", "destination", "band", "billed_seconds", "cost", "currency")}}
    idx = np.flatnonzero(external)
    for path, at in _by_tariff(ws, cols, idx, tariff).items():
        _rate(ws.tariff(path), path, at, cols, out)
    return out


def _by_tariff(ws: Workspace, cols: dict[str, np.ndarray], idx: np.ndarray, tariff: Path | None
               ) -> dict[Path, np.ndarray]:
    """The calls `idx` by the tariff that prices each (the one given, else ws.tariff_for its site and trunk)."""
    if tariff is not None:
        return {Path(tariff): idx} if len(idx) else {}
    site, trunk = cols["site"][idx], cols["trunk"][idx]
    groups: dict[Path, list[np.ndarray]] = {}
    for name in set(site.tolist()):
        s = ws.sites[name]
        mine = site == name
        rest = mine.copy()
        for t in filter(None, s.trunk_tariffs):  # a trunk's own tariff, else the site's
            on = mine & (trunk == t)
            rest &= ~on
            path = ws.tariff_for(s, t)
            if path is not None and on.any():
                groups.setdefault(path, []).append(idx[on])
        if s.tariff is not None and rest.any():
            groups.setdefault(s.tariff, []).append(idx[rest])
    return {path: np.sort(np.concatenate(parts)) for path, parts in groups.items()}


def _rate(compiled: Any, path: Path, at: np.ndarray, cols: dict[str, np.ndarray], out: dict[str, np.ndarray]) -> None:
    """The calls `at` priced by one tariff, written into `out` as price_calls writes each."""
    t = compiled.tariff
    res = compiled.tables.rate(np.ascontiguousarray(cols["number"][at], dtype="S18"),
                               np.ascontiguousarray(cols["start"][at], dtype=np.int64),
                               np.ascontiguousarray(cols["billable"][at], dtype=np.int32))
    rate = res["rate"]
    used = np.maximum(rate, 0)
    rated = rate >= 0
    # the prefix that priced the call (a shorter one when the longest match has no rate in force)
    pid = np.where(rated, compiled.rate_prefix[used], res["prefix"])
    code = np.asarray(res["status"])
    out["status"][at] = np.array(STATUS_NAMES, dtype=object)[code]
    out["tariff"][at] = str(path.name)
    out["prefix"][at] = _lookup(compiled.prefixes, pid)
    out["destination"][at] = _lookup(t.rows.destinations, np.where(rated, compiled.rate_dest[used], -1))
    out["band"][at] = _lookup([b.name for b in t.bands], np.asarray(res["band"]))
    out["billed_seconds"][at] = np.asarray(res["billed"]).tolist()
    priced = code != STATUS_NAMES.index("no_rate")
    cost = np.full(len(at), None, dtype=object)
    cost[priced] = np.asarray(res["cost"])[priced].tolist()
    out["cost"][at] = cost
    out["currency"][at] = t.currency


def _lookup(names: Any, index: np.ndarray) -> np.ndarray:
    """names[i] for each i of `index` (None for a negative i), each distinct name fetched once."""
    index = np.asarray(index, dtype=np.int64)
    if not len(index):
        return np.empty(0, dtype=object)
    uniq, inverse = np.unique(index, return_inverse=True)
    table = np.array([names[int(i)] if i >= 0 else None for i in uniq.tolist()], dtype=object)
    return table[inverse.ravel()]


# --- writing a page's changes ---------------------------------------------------------------------------------


def _changes(cols: dict[str, Any], priced: dict[str, np.ndarray], now: int
             ) -> tuple[list[tuple], list[tuple], dict[str, Any]]:
    """The update and history tuples (Store.update_ratings) of the calls whose result changed, and the counts."""
    status = priced["status"]
    changed = np.flatnonzero((status != cols["status"]) | (priced["tariff"] != cols["tariff"])
                             | (priced["cost"] != cols["cost"]) | (priced["currency"] != cols["currency"]))
    ids = cols["id"][changed].tolist()
    updates = list(zip(*(priced[k][changed].tolist() for k in (
        "status", "tariff", "prefix", "destination", "band", "billed_seconds", "cost", "currency")),
        repeat(now), ids))
    history = list(zip(ids, [r or now for r in cols["rated_at"][changed].tolist()], cols["tariff"][changed].tolist(),
                       cols["status"][changed].tolist(), cols["cost"][changed].tolist(),
                       cols["currency"][changed].tolist(), repeat(now)))
    counts = {"calls": len(status), "changed": len(ids), "statuses": dict(Counter(status.tolist()))}
    return updates, history, counts


def _write(ws: Workspace, store: Store, page: dict[str, Any], cols: dict[str, Any], priced: dict[str, np.ndarray],
           tariff: Path | None, now: int) -> dict[str, Any]:
    """A priced page's changes into the store, BATCH calls per write transaction, each call checked again inside
    it. Returns the page's counts."""
    updates, history, counts = _changes(cols, priced, now)
    for lo in range(0, len(updates), BATCH):
        ups, hist = updates[lo:lo + BATCH], history[lo:lo + BATCH]
        with write_transaction(store.conn, what="re-rate"):
            ups, hist, moved = _recheck(store, page, ups, hist, now)
            store.update_ratings(ups, hist)
        counts["changed"] += moved
    return counts


def _recheck(store: Store, page: dict[str, Any], ups: list[tuple], hist: list[tuple], now: int
             ) -> tuple[list[tuple], list[tuple], int]:
    """Inside the write transaction: the stored results of the calls about to be written, as they are now. A call
    whose result another program changed since the page was read (a concurrent re-rate) is written only if its
    new price differs from what is stored now, with that in its history row; a call deleted meanwhile is left out.
    (What a call is priced from never changes once stored: only its results and `billed` do.) Returns the updates,
    the history and the change in the count of changed calls."""
    ids = [u[-1] for u in ups]
    stored = store.rating_columns(ids=ids)
    where = dict(zip(page["id"].tolist(), range(len(page["id"]))))
    at = np.array([where[i] for i in stored["id"].tolist()], dtype=np.intp)
    same = np.ones(len(at), dtype=bool)
    for k in ("status", "tariff", "cost", "currency", "rated_at"):
        same &= stored[k] == page[k][at]
    if len(at) == len(ids) and same.all():
        return ups, hist, 0
    now_stored = {i: (s, t, None if c == RATING_NO_COST else c, cur, r) for i, s, t, c, cur, r in zip(*(
        stored[k].tolist() for k in ("id", "status", "tariff", "cost", "currency", "rated_at")))}
    unchanged = set(stored["id"][same].tolist())
    ups2, hist2 = [], []
    for u, h in zip(ups, hist):
        i = u[-1]
        if i in unchanged:
            ups2.append(u)
            hist2.append(h)
        elif i in now_stored:
            status, tariff, cost, currency, rated_at = now_stored[i]
            if (u[0], u[1], u[6], u[7]) != (status, tariff, cost, currency):
                ups2.append(u)
                hist2.append((i, rated_at or now, tariff, status, cost, currency, now))
    return ups2, hist2, len(ups2) - len(ids)


# --- Dask ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RerateJob:
    """What every pricing task needs besides its page's columns: the workspace (opened once per worker process,
    pipeline.distributed._workspace) and the tariff given instead of the sites' (absolute), if any."""

    root: str
    configured: bool
    tariff: str | None
    opener: Opener | None = field(default_factory=registered_opener)  # as pipeline.distributed.Job


def shipment(ws: Workspace, tariff: Path | None) -> Workspace:
    """What the pricing tasks read of the workspace, sent once to each worker: the sites and the compiled tariffs
    that price them (the one given, else every site's and trunk's), so no worker reads anatole.toml or a deck. A
    tariff that does not load here is left out: the worker that needs it raises the same error."""
    from tariffs.errors import TariffError

    paths = [tariff] if tariff is not None else sorted(
        {p for s in ws.sites.values() for p in (s.tariff, *s.trunk_tariffs.values()) if p is not None})
    compiled = {}
    for path in paths:
        try:
            compiled[Path(path)] = ws.tariff(Path(path))
        except (TariffError, OSError):
            continue
    return Workspace(path=Path(ws.path), sites=dict(ws.sites), _tariffs=compiled)


def price_task(cols: dict[str, np.ndarray], job: RerateJob, shipped: Workspace | None = None
               ) -> dict[str, np.ndarray]:
    """A Dask task: price_columns on a worker, with the driver's `shipment` (else the workspace opened on the
    worker, once) and its compiled tariffs kept between tasks."""
    from pipeline.distributed import _workspace

    ws = shipped if shipped is not None else _workspace(job)  # type: ignore[arg-type]  # .root, .configured, .opener
    return price_columns(ws, cols, Path(job.tariff) if job.tariff else None)


# --- the row path (the reference) -----------------------------------------------------------------------------


def rerate_rows(ws: Workspace, store: Store, *, start: int | None, end: int | None, site: str | None,
                tariff: Path | None = None, summary: dict[str, Any] | None = None,
                progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """The row path: each page of BATCH calls read, priced (price_calls) and written in one write transaction.
    Same results as `rerate`; kept as its reference (tests, benchmarks/bench_rerate.py)."""
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
            after = (page[-1][START], page[-1][ID])
            counts = _rerate_page(ws, store, [r for r in page if r[DIRECTION] == "outgoing"], tariff, now)
            read += len(page)
        _add(summary, counts)
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
