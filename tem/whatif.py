"""What-if: what the outgoing external calls of a period would have cost with other tariffs — how a manager
chooses a carrier.

The calls come from one SQL query straight into numpy columns (site, E.164 number, start, billable seconds, stored
cost); each candidate tariff rates all of them with the compiled engine in batches, several batches at once on
threads (the engine's loop runs without the GIL and its caches are per tariff and thread-safe). Totals are summed
per site and destination type as Python ints from int64 sums, exact. Calls a tariff has no rate for are counted
apart (`no_rate`), never priced at zero silently. Destination types are classified once per unique number
(`tariffs.classify`), from each site's country.

A period can come in parts (the store's calls, archived month partitions, Dask tasks): totals() gives each part's
figures as exact integers, merge() sums them and report() formats them, the same as compare() over all the calls.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine import NO_RATE, RATED, number_keys
from engine.money import format_exact
from tariffs.classify import DEST_TYPES, destination_type
from tariffs.compile import CompiledTariff

BATCH = 262_144
OTHER = "(other)"  # by_site: calls of sites not in the list


@dataclass
class Candidate:
    name: str
    currency: str
    total: int = 0
    rated: int = 0
    no_rate: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    by_site: dict[str, int] = field(default_factory=dict)


def rate_all(tariff: CompiledTariff, keys: np.ndarray, start: np.ndarray, seconds: np.ndarray,
             threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(cost int64, status int8) of every call with one tariff, in batches on threads; `keys`: the numbers as
    engine.number_keys gives them, computed once for every candidate."""
    n = len(keys)
    cost = np.zeros(n, dtype=np.int64)
    status = np.zeros(n, dtype=np.int8)
    spans = [(i, min(n, i + BATCH)) for i in range(0, n, BATCH)]

    def work(span: tuple[int, int]) -> None:
        a, b = span
        res = tariff.tables.rate_keys(keys[a:b], start[a:b], seconds[a:b])
        cost[a:b] = res["cost"]
        status[a:b] = res["status"]

    workers = threads or min(len(spans), os.cpu_count() or 1) or 1
    if workers <= 1 or len(spans) <= 1:
        for span in spans:
            work(span)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(work, spans))
    return cost, status


def compare(columns: dict[str, np.ndarray], sites: list[str], countries: dict[str, str],
            tariffs: list[tuple[str, CompiledTariff]], *, threads: int | None = None,
            types: np.ndarray | None = None, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Rate the calls (`store.reports.TemQueries.whatif_columns`) against each tariff and total them by
    destination type and site. `types` (index into DEST_TYPES per call) is computed when not given.
    `progress(calls rated so far, over all tariffs)` after each tariff."""
    return report(totals(columns, sites, countries, tariffs, threads=threads, types=types, progress=progress),
                  sites)


def totals(columns: dict[str, np.ndarray], sites: list[str], countries: dict[str, str],
           tariffs: list[tuple[str, CompiledTariff]], *, threads: int | None = None,
           types: np.ndarray | None = None, progress: Callable[[int], None] | None = None,
           done: int = 0) -> dict[str, Any]:
    """compare()'s figures for one set of calls as exact integers (10**-8 units), not yet formatted: what each part
    of a period (the store, an archived month partition, a Dask task) returns, summed by merge() and shown by
    report() — the same figures as one call of compare() over all the calls. `progress(done + calls rated)`."""
    number, start = columns["number"], columns["start"]
    seconds = np.ascontiguousarray(columns["seconds"], dtype=np.int32)
    site = columns["site"]
    if types is None:
        types = np.zeros(len(number), dtype=np.int8)
        lookup = {name: i for i, name in enumerate(DEST_TYPES)}
        for i, name in enumerate(sites):
            sel = site == i
            if sel.any():
                kinds = destination_type(number[sel], countries.get(name, ""))
                uniq, inv = np.unique(kinds, return_inverse=True)
                types[sel] = np.array([lookup[str(k)] for k in uniq.tolist()], dtype=np.int8)[inv.ravel()]
    answered = seconds > 0
    out: dict[str, Any] = {"calls": int(len(number)), "answered": int(answered.sum()), "current": {},
                           "candidates": []}
    cur_codes = columns.get("currencies")
    for code in np.unique(columns["currency"]).tolist():
        name = str(cur_codes[code]) if cur_codes is not None and code >= 0 else ""
        out["current"][name] = out["current"].get(name, 0) + int(columns["cost"][columns["currency"] == code].sum())
    keys = number_keys(np.ascontiguousarray(number, dtype="S18"))
    for name, tariff in tariffs:
        cost, status = rate_all(tariff, keys, start, seconds, threads)
        c = Candidate(name, tariff.tariff.currency)
        priced = status == RATED
        c.rated = int(priced.sum())
        c.no_rate = int((status == NO_RATE).sum())
        cost = np.where(priced, cost, 0)
        c.total = int(cost.sum())
        for t in range(len(DEST_TYPES)):
            sel = types == t
            if sel.any():
                c.by_type[DEST_TYPES[t]] = int(cost[sel].sum())
        for i, s in enumerate(sites):
            sel = site == i
            if sel.any():
                c.by_site[s] = int(cost[sel].sum())
        other = site < 0
        if other.any():
            c.by_site[OTHER] = int(cost[other].sum())
        out["candidates"].append({"tariff": c.name, "currency": c.currency, "total": c.total, "rated": c.rated,
                                  "no_rate": c.no_rate, "by_type": c.by_type, "by_site": c.by_site})
        if progress:
            progress(done + len(out["candidates"]) * len(number))
    return out


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The sum of totals() of disjoint sets of calls (rated with the same tariffs, in the same order): exact
    integer sums, so the order of the parts does not matter."""
    if not parts:
        raise ValueError("merge() needs at least one part")
    out: dict[str, Any] = {"calls": 0, "answered": 0, "current": {},
                           "candidates": [{"tariff": c["tariff"], "currency": c["currency"], "total": 0, "rated": 0,
                                           "no_rate": 0, "by_type": {}, "by_site": {}}
                                          for c in parts[0]["candidates"]]}
    for part in parts:
        out["calls"] += part["calls"]
        out["answered"] += part["answered"]
        _add(out["current"], part["current"])
        if [c["tariff"] for c in part["candidates"]] != [c["tariff"] for c in out["candidates"]]:
            raise ValueError("merge(): the parts were rated with different tariffs")
        for into, c in zip(out["candidates"], part["candidates"]):
            for key in ("total", "rated", "no_rate"):
                into[key] += c[key]
            _add(into["by_type"], c["by_type"])
            _add(into["by_site"], c["by_site"])
    return out


def _add(into: dict[str, int], more: dict[str, int]) -> None:
    for k, v in more.items():
        into[k] = into.get(k, 0) + v


def report(t: dict[str, Any], sites: list[str]) -> dict[str, Any]:
    """totals() (or merge()d ones) as compare() gives them: exact decimal strings, destination types in
    DEST_TYPES order, sites in `sites` order then (other), the cheapest candidate per currency."""
    site_order = {s: i for i, s in enumerate([*sites, OTHER])}
    type_order = {s: i for i, s in enumerate(DEST_TYPES)}
    out: dict[str, Any] = {"calls": t["calls"], "answered": t["answered"],
                           "current": {k: format_exact(v) for k, v in sorted(t["current"].items()) if k},
                           "candidates": []}
    for c in t["candidates"]:
        out["candidates"].append({
            "tariff": c["tariff"], "currency": c["currency"], "total": format_exact(c["total"]), "rated": c["rated"],
            "no_rate": c["no_rate"],
            "by_type": {k: format_exact(v) for k, v in sorted(c["by_type"].items(), key=lambda kv: type_order[kv[0]])},
            "by_site": {k: format_exact(v) for k, v in sorted(c["by_site"].items(),
                                                              key=lambda kv: site_order.get(kv[0], len(site_order)))}})
    ranked = sorted(out["candidates"], key=lambda x: (x["currency"], _units(x["total"])))
    out["cheapest"] = {cur: next(x["tariff"] for x in ranked if x["currency"] == cur)
                       for cur in sorted({x["currency"] for x in ranked})}
    return out


def _units(text: str) -> int:
    from engine.money import parse_money

    return parse_money(text)


def tariff_label(path: Path, compiled: CompiledTariff) -> str:
    return f"{compiled.tariff.name} ({path.name})"
