"""Reconciliation throughput: the kernel (engine._recon.match) against DuckDB's ASOF JOIN and pandas.merge_asof,
on the same data, in the same run. Prints one JSON object per line. Run from the repository root:

    .venv/bin/python benchmarks/bench_recon.py [--quick] [--lines N] [--repeat R]

benchmarks/README.md explains every line. Only the kernel matches one to one with a start and a duration tolerance
and classifies; the baselines do less (see `computes` in each line), which flatters them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from engine import _recon

SEED = 20260501
MONTH_START = int(dt.datetime(2026, 5, 1, tzinfo=dt.timezone.utc).timestamp())
SPAN = 31 * 86400
TOL_START, TOL_DURATION, TOL_AMOUNT = 60, 5, 500_000  # the CLI's defaults (0.005 in 10**-8 units)
RATE = 16_667  # 10**-8 units per second (about 0.01/min)


def emit(**fields: Any) -> None:
    print(json.dumps({"bench": "recon", **fields}), flush=True)


def rounded(x: float, digits: int = 4) -> float:
    return float(f"{x:.{digits}g}")


def make_data(n: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict]:
    """CDRs and an invoice built from them: 97% billed with small shifts (start -2..+2 s, duration -1..+1 s; 2% of
    them 0.05 dearer), 3% unbilled, and as many invoice lines again for calls never made. Both sides are n lines,
    in time order. Numbers: n/5 distinct E.164 keys ("1" + 11 to 12 digits), Zipf-like popularity."""
    pool = np.unique(10**11 + rng.integers(33_100_000_000, 49_999_999_999, n // 5 + 1, dtype=np.int64))
    weights = 1.0 / np.arange(1, len(pool) + 1) ** 0.8
    number = pool[rng.choice(len(pool), n, p=weights / weights.sum())]
    start = np.sort(MONTH_START + rng.integers(0, SPAN, n)).astype(np.int64)
    duration = np.minimum(np.ceil(rng.exponential(180, n)), 4 * 3600).astype(np.int32)
    cost = duration.astype(np.int64) * RATE
    cdr = {"number": number, "start": start, "duration": duration, "amount": cost}
    billed = rng.random(n) >= 0.03
    k = int(billed.sum())
    shift = np.where(rng.random(k) < 0.4, 0, rng.integers(-2, 3, k))
    inv_amount = cost[billed] + np.where(rng.random(k) < 0.02, 5_000_000, 0)
    extra = n - k
    inv = {
        "number": np.concatenate([number[billed], pool[rng.integers(0, len(pool), extra)]]),
        "start": np.concatenate([start[billed] + shift, MONTH_START + rng.integers(0, SPAN, extra)]).astype(np.int64),
        "duration": np.concatenate([np.maximum(duration[billed] + rng.integers(-1, 2, k), 0),
                                    rng.integers(1, 900, extra)]).astype(np.int32),
        "amount": np.concatenate([inv_amount, rng.integers(1, 10**8, extra)]).astype(np.int64),
    }
    order = np.argsort(inv["start"], kind="stable")
    inv = {key: np.ascontiguousarray(v[order]) for key, v in inv.items()}
    info = {"lines_invoice": n, "lines_cdr": n, "distinct_numbers": int(len(np.unique(number))),
            "top_number_share": rounded(float(weights[0] / weights.sum())), "billed_share": rounded(k / n),
            "planted_never_made": extra}
    return inv, cdr, info


def permuted(side: dict[str, np.ndarray], perm: np.ndarray) -> dict[str, np.ndarray]:
    return {key: np.ascontiguousarray(v[perm]) for key, v in side.items()}


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def claims(j: np.ndarray) -> int:
    """CDRs claimed by more than one invoice line (what one-to-one forbids)."""
    j = j[j >= 0]
    if not len(j):
        return 0
    counts = np.bincount(j)
    return int((counts > 1).sum())


def agreement(j: np.ndarray, engine_j: np.ndarray) -> float:
    return rounded(float((j == engine_j).mean())) if len(j) else 1.0


def run_engine(inv: dict, cdr: dict, repeat: int) -> tuple[float, dict]:
    def go() -> dict:
        return _recon.match(inv["number"], inv["start"], inv["duration"], inv["amount"], cdr["number"],
                            cdr["start"], cdr["duration"], cdr["amount"], TOL_START, TOL_DURATION, TOL_AMOUNT)

    return best_of(repeat, go)


def run_duckdb(inv: dict, cdr: dict, threads: int, repeat: int) -> tuple[float, np.ndarray] | None:
    try:
        import duckdb
        import pyarrow as pa
    except ImportError:
        return None
    con = duckdb.connect(config={"threads": threads})
    for name, side, key in (("inv", inv, "i"), ("cdr", cdr, "j")):
        table = pa.table({key: np.arange(len(side["start"]), dtype=np.int64), **side})
        con.register(f"{name}_src", table)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_src")  # loaded before the clock starts
        con.unregister(f"{name}_src")
    sql = ("SELECT inv.i, cdr.j FROM inv ASOF LEFT JOIN cdr ON inv.number = cdr.number AND inv.start >= cdr.start "
           "ORDER BY inv.i")
    seconds, res = best_of(repeat, lambda: con.execute(sql).fetchnumpy())
    con.close()
    j = np.asarray(res["j"])
    j = np.where(np.ma.getmaskarray(j), -1, np.ma.getdata(j)).astype(np.int64) if np.ma.isMaskedArray(j) else \
        np.nan_to_num(j.astype(np.float64), nan=-1).astype(np.int64)
    return seconds, j


def run_pandas(inv: dict, cdr: dict, presorted: bool, repeat: int) -> tuple[float, np.ndarray] | None:
    try:
        import pandas as pd
    except ImportError:
        return None
    left = pd.DataFrame({"i": np.arange(len(inv["start"]), dtype=np.int64), **inv})
    right = pd.DataFrame({"j": np.arange(len(cdr["start"]), dtype=np.int64), **cdr})

    def go() -> Any:
        lft, rgt = (left, right) if presorted else (left.sort_values("start", kind="stable"),
                                                    right.sort_values("start", kind="stable"))
        return pd.merge_asof(lft, rgt[["start", "number", "j"]], on="start", by="number", direction="nearest",
                             tolerance=TOL_START)

    seconds, res = best_of(repeat, go)
    out = np.full(len(inv["start"]), -1, np.int64)
    out[res["i"].to_numpy()] = res["j"].fillna(-1).astype(np.int64).to_numpy()
    return seconds, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=5_000_000, help="lines per side (default 5,000,000)")
    ap.add_argument("--quick", action="store_true", help="200,000 lines per side")
    ap.add_argument("--repeat", type=int, default=3, help="best of R runs for the kernel (baselines: best of 2)")
    args = ap.parse_args()
    n = 200_000 if args.quick else args.lines
    import sqlite3

    versions = {"numpy": np.__version__, "sqlite": sqlite3.sqlite_version}
    for mod in ("duckdb", "pandas", "pyarrow"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            versions[mod] = None
    cpu = platform.processor()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    emit(impl="machine", cpu=cpu, cores=os.cpu_count(), platform=platform.platform(),
         python=platform.python_version(), **versions, lines=n, repeat=args.repeat)
    rng = np.random.default_rng(SEED)
    t = time.perf_counter()
    inv, cdr, info = make_data(n, rng)
    emit(impl="data", seconds_to_generate=rounded(time.perf_counter() - t), **info)
    threads = os.cpu_count() or 1
    summary: dict[str, Any] = {}
    perm_i, perm_c = rng.permutation(n), rng.permutation(n)
    for order in ("time", "shuffled"):
        a, b = (inv, cdr) if order == "time" else (permuted(inv, perm_i), permuted(cdr, perm_c))
        seconds, res = run_engine(a, b, args.repeat)
        counts = {k: v["count"] for k, v in res["totals"].items()}
        emit(impl="engine", order=order, computes="one-to-one greedy nearest match, start +/-60 s and duration +/-5 s,"
             " classes and totals", seconds=rounded(seconds), lines_per_s=rounded(2 * n / seconds), classes=counts,
             money_at_stake=res["totals"]["cost_mismatch"]["over"] + res["totals"]["only_invoice"]["over"],
             stats={**res["stats"], "seconds": {k: rounded(v) for k, v in res["stats"]["seconds"].items()}})
        engine_j = res["inv_match"]
        summary[f"engine_{order}_s"] = rounded(seconds)
        del res
        for label, nthreads in (("duckdb_asof_1thread", 1), (f"duckdb_asof_{threads}threads", threads)):
            got = run_duckdb(a, b, nthreads, 2)
            if got is None:
                emit(impl=label, order=order, skipped=True, reason="duckdb or pyarrow not installed")
                continue
            s, j = got
            emit(impl=label, order=order, threads=nthreads,
                 computes="for each invoice line, the latest CDR of the same number starting at or before it "
                          "(backward ASOF, no tolerance, not one to one, no classes)",
                 seconds=rounded(s), lines_per_s=rounded(2 * n / s), matched=int((j >= 0).sum()),
                 cdrs_claimed_twice_or_more=claims(j), same_partner_as_engine=agreement(j, engine_j),
                 ratio_vs_engine=rounded(s / seconds))
            summary[f"{label}_{order}_s"] = rounded(s)
        got = run_pandas(a, b, order == "time", 2)
        if got is None:
            emit(impl="pandas_merge_asof", order=order, skipped=True, reason="pandas not installed")
        else:
            s, j = got
            emit(impl="pandas_merge_asof", order=order,
                 computes="for each invoice line, the nearest CDR of the same number within 60 s (no duration check, "
                          "not one to one, no classes)" + ("" if order == "time" else "; both sides sorted by start "
                                                           "inside the timing (merge_asof needs it)"),
                 seconds=rounded(s), lines_per_s=rounded(2 * n / s), matched=int((j >= 0).sum()),
                 cdrs_claimed_twice_or_more=claims(j), same_partner_as_engine=agreement(j, engine_j),
                 ratio_vs_engine=rounded(s / seconds))
            summary[f"pandas_{order}_s"] = rounded(s)
    duck = summary.get("duckdb_asof_1thread_time_s")
    emit(impl="summary", lines_per_side=n, **summary,
         target_under_1s_per_core=summary["engine_time_s"] < 1.0 if n >= 5_000_000 else None,
         target_no_slower_than_duckdb_1thread=None if duck is None else summary["engine_time_s"] <= duck,
         sizes_as_issue=n >= 5_000_000)


if __name__ == "__main__":
    main()
