"""Benchmark of re-rating (`anatole rate`): prints one JSON line per figure, the old path measured in the same run.

    python benchmarks/bench_rerate.py --quick        # 200,000 calls
    python benchmarks/bench_rerate.py                # 1,000,000 calls
    python benchmarks/bench_rerate.py --calls N --dir /var/tmp/rerate   # the store kept there, reused after
    python benchmarks/bench_rerate.py --profile      # cProfile of each path: where the time goes

A workspace (4 sites: three with the sample FR, UK and US tariffs, Paris with a trunk priced by the UK tariff, one
site without a tariff) and a store of one month of calls are generated: 80 % outgoing (external numbers of the
sites' own countries and abroad, some no tariff has; service, emergency and invalid numbers), 10 % incoming, 10 %
internal; stored unrated, as an import without a tariff leaves them. Each path re-rates its own copy of the
store twice: the first run prices and writes every outgoing external call ("all changed"), the second finds
nothing to change ("none changed", the re-rate of a period with the same tariffs). Both copies must end identical.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from anatole.config import open_workspace  # noqa: E402
from pipeline import rerate as rr  # noqa: E402
from store import CALL_COLUMNS, open_store  # noqa: E402

SAMPLES = ROOT / "tariffs" / "samples"
START = 1790812800  # 2026-10-01 00:00 UTC
CONFIG = """
[workspace]
currency = "EUR"

[[site]]
name = "paris"
country = "FR"
timezone = "Europe/Paris"
extensions = ["1000-1999"]
tariff = "tariffs/fr-business.toml"
trunk_tariffs = { "T9" = "tariffs/uk-business.toml" }

[[site]]
name = "london"
country = "GB"
timezone = "Europe/London"
extensions = ["2000-2999"]
tariff = "tariffs/uk-business.toml"

[[site]]
name = "new-york"
country = "US"
timezone = "America/New_York"
extensions = ["3000-3999"]
tariff = "tariffs/us-business.toml"

[[site]]
name = "berlin"
country = "DE"
timezone = "Europe/Berlin"
extensions = ["4000-4999"]
"""
SITES = ("paris", "london", "new-york", "berlin")
PREFIXES = (("331", 8), ("336", 8), ("337", 8), ("3380", 6), ("4420", 8), ("447", 9), ("1212", 7), ("1646", 7),
            ("49", 10), ("86", 11), ("999", 9))  # 999: no tariff prices it (no_rate)


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def make_workspace(root: Path) -> Path:
    (root / "tariffs").mkdir(parents=True, exist_ok=True)
    for name in ("fr", "uk", "us"):
        for ext in (".toml", ".csv"):
            shutil.copy(SAMPLES / f"{name}-business{ext}", root / "tariffs" / f"{name}-business{ext}")
    (root / "anatole.toml").write_text(CONFIG)
    return root


def call_rows(n: int, seed: int = 11, first: int = 0, days: int = 30) -> list[tuple]:
    """`n` generated calls in CALL_COLUMNS order, in start order, unrated."""
    rng = np.random.default_rng(seed + first)
    site = rng.integers(0, len(SITES), n)
    start = np.sort(START + rng.integers(0, days * 86400, n))
    billable = np.where(rng.random(n) < 0.2, 0, rng.integers(1, 1800, n))
    kind_draw = rng.random(n)
    direction = np.where(kind_draw < 0.8, 0, np.where(kind_draw < 0.9, 1, 2))  # outgoing, incoming, internal
    prefix = rng.integers(0, len(PREFIXES), n)
    tail = rng.integers(0, 10**11, n)
    special = rng.random(n)
    trunk = rng.integers(0, 4, n)
    ext = rng.integers(0, 500, n)
    rows = []
    names = ("outgoing", "incoming", "internal")
    for i, (s, t0, sec, d, p, tl, sp, tr, e) in enumerate(zip(
            site.tolist(), start.tolist(), billable.tolist(), direction.tolist(), prefix.tolist(), tail.tolist(),
            special.tolist(), trunk.tolist(), ext.tolist())):
        head, digits = PREFIXES[p]
        number, kind = head + str(tl % 10**digits).zfill(digits), "external"
        if d == 2:
            number, kind = str(1000 * (s + 1) + (tl % 1000)), "internal"
        elif d == 0 and sp < 0.02:
            number, kind = ("112", "emergency") if sp < 0.005 else (None, "invalid") if sp < 0.01 else \
                ("3450", "service")
        values = dict.fromkeys(CALL_COLUMNS)
        values.update(source=f"src-{SITES[s]}", site=SITES[s], native_id=f"c{first + i}", leg="", grp="",
                      start=t0, duration=sec + 5, billable=sec, direction=names[d],
                      disposition="answered" if sec else "no answer", extension=str(1000 * (s + 1) + e),
                      trunk=f"T{tr + 7}", number=number, number_kind=kind, billed=1, status="unrated")
        rows.append(tuple(values[c] for c in CALL_COLUMNS))
    return rows


def build(db: Path, n: int) -> float:
    """The store at `db` with `n` calls, inserted by Store.insert_calls in chunks of 100,000 (the day summary with
    them); built under another name, renamed when whole. Returns the seconds."""
    part = db.with_name(db.name + ".building")
    part.unlink(missing_ok=True)
    began = time.perf_counter()
    store = open_store(part)
    ws = open_workspace(db.parent)
    for s in ws.sites.values():
        store.upsert_site(s.name, s.country, s.timezone, str(s.tariff) if s.tariff else None)
    with store.bulk_load(n):
        for lo in range(0, n, 100_000):
            store.insert_calls(call_rows(min(100_000, n - lo), first=lo))
    store.close()
    part.rename(db)
    return time.perf_counter() - began


def snapshot(db: Path) -> tuple[list, list, int]:
    """What a re-rate leaves: every call's rating, the day summary, the history's size."""
    import sqlite3

    with sqlite3.connect(db) as conn:
        calls = conn.execute("SELECT id, status, tariff, prefix, destination, band, billed_seconds, cost, currency "
                             "FROM calls ORDER BY id").fetchall()
        summary = conn.execute("SELECT * FROM call_days ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9").fetchall()
        history = conn.execute("SELECT COUNT(*) FROM rating_history").fetchone()[0]
    return calls, summary, history


def run(root: Path, db: Path, fn: Any, label: str, profile: bool, **kw: Any) -> dict[str, Any]:
    ws = open_workspace(root)
    store = open_store(db)
    out = {}
    for what in ("all changed", "none changed"):
        prof = cProfile.Profile() if profile else None
        began = time.perf_counter()
        if prof:
            prof.enable()
        got = fn(ws, store, start=None, end=None, site=None, **kw)
        if prof:
            prof.disable()
        took = time.perf_counter() - began
        n = store.count_for_rating(start=None, end=None, site=None)
        emit(bench=f"re-rate, {label}, {what}", calls=n, priced=got["calls"], changed=got["changed"],
             seconds=round(took, 3), calls_per_s=round(n / took))
        out[what] = n / took
        if prof:
            text = io.StringIO()
            pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(14)
            print(text.getvalue(), file=sys.stderr)
    store.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200,000 calls")
    ap.add_argument("--calls", type=int)
    ap.add_argument("--dir", type=Path, help="Keep the workspace and its generated store here (reused after).")
    ap.add_argument("--profile", action="store_true", help="cProfile each path (stderr); slower figures")
    ap.add_argument("--workers", type=int, help="Also the new path priced on a local Dask cluster of N workers.")
    ap.add_argument("--no-old", action="store_true", help="Skip the old path (about 1 minute per million calls).")
    args = ap.parse_args()
    n = args.calls or (200_000 if args.quick else 1_000_000)
    root = make_workspace(args.dir or Path(tempfile.mkdtemp(prefix="bench-rerate-")))
    db = root / f"calls-{n}.db"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    emit(bench="machine", python=platform.python_version(), numpy=np.__version__, cpus=os.cpu_count(),
         machine=platform.machine(), load_1min=load, calls=n)
    if not db.exists():
        took = build(db, n)
        emit(bench="build store (Store.insert_calls, 100,000 a chunk)", calls=n, seconds=round(took, 2),
             calls_per_s=round(n / took), db_mb=round(db.stat().st_size / 2**20))
    paths: list[tuple[str, Any, dict[str, Any]]] = []
    if not args.no_old:
        paths.append(("old path (row tuples, price_calls, pages of 2,000)", rr.rerate_rows, {}))
    paths.append((f"new path (columnar pages of {rr.PAGE:,})", rr.rerate, {}))
    if args.workers:
        paths.append((f"new path on Dask, {args.workers} workers", rr.rerate, {"workers": args.workers}))
    figures, results = {}, []
    for label, fn, kw in paths:
        copy = root / "anatole.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{copy}{suffix}").unlink(missing_ok=True)
        shutil.copy(db, copy)
        figures[label] = run(root, copy, fn, label, args.profile, **kw)
        results.append(snapshot(copy))
    if len(paths) > 1:
        same = all(r == results[0] for r in results[1:])
        base = figures[paths[0][0]]
        for label, _, _ in paths[1:]:
            emit(bench=f"speed-up, {label} over {paths[0][0]}", identical=same,
                 **{k.replace(" ", "_"): round(v / base[k], 2) for k, v in figures[label].items()})
        assert same, "the paths' stores differ"


if __name__ == "__main__":
    main()
