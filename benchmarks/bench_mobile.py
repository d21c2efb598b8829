"""Right-sizing benchmark: every line x every plan x every month priced in one numpy pass, beside the plain
Python loop (tem.mobile_plans.reference_cost) on a subset of the lines, scaled to the full size.

    python benchmarks/bench_mobile.py                 # 50,000 lines x 30 plans x 12 months
    python benchmarks/bench_mobile.py --lines 5000    # quicker

Prints one JSON object per line: the machine, the numpy kernel (best of --repeat), the Python loop (timed on
--python-lines lines and scaled linearly, which the line says), and a summary. The kernel's result on the
subset is checked equal to the loop's, cell by cell.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from engine.money import SCALE
from tem.mobile_plans import UNLIMITED, Plan, evaluate, plan_set, reference_cost


def _plans(rng: np.random.Generator, n: int) -> list[Plan]:
    out = []
    for i in range(n):
        minutes = int(rng.choice([60, 120, 300, 600, UNLIMITED]))
        data_mb = int(rng.choice([1000, 5000, 20000, 50000, UNLIMITED]))
        rates = [int(x) for x in rng.integers(0, 2 * SCALE, 6) // (SCALE // 100) * (SCALE // 100)]
        if i % 3 == 0:  # a third of the plans price data in tenths of a cent: their line-months need rounding
            rates[2] = int(rng.integers(1, 20)) * SCALE // 1000
        out.append(Plan(carrier="C", contract="K", currency="EUR", code=f"P{i:02d}", name=f"plan {i}",
                        fee=int(rng.integers(5, 60)) * SCALE, minutes=minutes, sms=int(rng.choice([100, UNLIMITED])),
                        data_mb=data_mb, pooled=False, rates=tuple(rates), valid_from="2020-01-01", valid_to=None))
    return out


def _usage(rng: np.random.Generator, lines: int, months: int) -> np.ndarray:
    u = np.zeros((6, lines, months), np.int64)
    u[0] = rng.exponential(6000, (lines, months)).astype(np.int64)  # seconds of home + EU voice
    u[1] = rng.poisson(40, (lines, months))
    u[2] = rng.exponential(4e9, (lines, months)).astype(np.int64)  # bytes
    roam = rng.random((lines, months)) < 0.05
    u[3] = np.where(roam, rng.exponential(600, (lines, months)), 0).astype(np.int64)
    u[4] = np.where(roam, rng.poisson(5, (lines, months)), 0)
    u[5] = np.where(roam, rng.exponential(2e8, (lines, months)), 0).astype(np.int64)
    return u


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=50_000)
    ap.add_argument("--plans", type=int, default=30)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--python-lines", type=int, default=500, help="lines the Python loop prices (then scaled)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(20)
    months = [f"2026-{m:02d}" for m in range(1, 13)][: args.months] if args.months <= 12 else \
        [f"{2026 + i // 12}-{i % 12 + 1:02d}" for i in range(args.months)]
    plans = _plans(rng, args.plans)
    usage = _usage(rng, args.lines, len(months))
    print(json.dumps({"bench": "mobile", "impl": "machine", "cpu": _cpu(), "cores": os.cpu_count(),
                      "platform": platform.platform(), "python": platform.python_version(),
                      "numpy": np.__version__, "args": vars(args)}))
    ps = plan_set(plans, months)
    counts = np.ones(args.lines, np.int64)
    best = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        cost = evaluate(usage, counts, ps)
        totals = cost.sum(axis=2)
        cheapest = totals.argmin(axis=1)
        best = min(best, time.perf_counter() - t0)
    cells = args.lines * args.plans * len(months)
    print(json.dumps({"bench": "mobile", "impl": "numpy", "lines": args.lines, "plans": args.plans,
                      "months": len(months), "cells": cells, "seconds": round(best, 4),
                      "cells_per_s": round(cells / best), "includes": "evaluate + sum over months + argmin"}))
    n = min(args.python_lines, args.lines)
    by_key = {(p.carrier, p.code): p for p in plans}
    t0 = time.perf_counter()
    ref = np.zeros((n, len(plans), len(months)), np.int64)
    for r in range(n):
        for pi, key in enumerate(ps.keys):
            plan = by_key[key]
            for m in range(len(months)):
                ref[r, pi, m] = reference_cost(tuple(int(x) for x in usage[:, r, m]), plan)
    ref_best = [int(np.argmin(ref[r].sum(axis=1))) for r in range(n)]
    py = time.perf_counter() - t0
    scaled = py * args.lines / n
    agree = bool((ref == cost[:n]).all() and ref_best == cheapest[:n].tolist())
    print(json.dumps({"bench": "mobile", "impl": "python_loop", "lines_timed": n, "seconds_timed": round(py, 4),
                      "seconds_scaled_to_all_lines": round(scaled, 2), "scaled": n < args.lines,
                      "cells_per_s": round(n * args.plans * len(months) / py), "agree_with_numpy": agree}))
    print(json.dumps({"bench": "mobile", "impl": "summary", "numpy_seconds": round(best, 4),
                      "python_seconds_scaled": round(scaled, 2), "speedup": round(scaled / best, 1),
                      "agree": agree}))


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
