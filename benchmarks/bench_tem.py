"""Benchmark of allocation and what-if: prints one JSON line per figure, baselines measured in the same run.

    python benchmarks/bench_tem.py            # 10,000,000 calls + 50,000 invoice charges; what-if x 5 tariffs
    python benchmarks/bench_tem.py --quick    # 200,000 calls + 5,000 charges
    python benchmarks/bench_tem.py --calls N --charges M --tariffs K

A store is generated in a temporary folder (3 sites, 2,000 extensions held by 2,000 people in 20 cost centres, 10 %
of them moving cost centre mid-month; one month of calls; invoice charges on 2,000 lines plus account-level
charges shared by headcount). Figures: allocation (the SQL aggregation and everything after it), the baseline of
reading every call into Python (what a per-call allocation would at least cost), what-if load (one SQL query into
numpy) and rating (threads vs one thread), each with calls/s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from store import CALL_COLUMNS, open_store  # noqa: E402
from store.inventory import open_inventory  # noqa: E402
from store.invoices import open_invoices  # noqa: E402
from store.reports import open_queries  # noqa: E402
from tariffs.compile import compile_tariff  # noqa: E402
from tariffs.load import load_tariff  # noqa: E402
from tem import allocation, inventory, whatif  # noqa: E402

SITES = {"paris": ("Europe/Paris", "33", "FR"), "london": ("Europe/London", "44", "GB"),
         "new-york": ("America/New_York", "1212", "US")}
PERIOD = "2026-10"


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def build(path: Path, n_calls: int, n_charges: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    store = open_store(path)
    conn = store.conn
    conn.execute("PRAGMA synchronous = OFF")
    start0 = int(allocation.local_midnight("2026-10-01", "UTC"))
    names = list(SITES)
    idx = {c: i for i, c in enumerate(CALL_COLUMNS)}
    chunk = 500_000
    for lo in range(0, n_calls, chunk):
        k = min(chunk, n_calls - lo)
        site = rng.integers(0, 3, k)
        ext = 1000 + rng.integers(0, 667, k) + site * 1000
        start = start0 + 3600 + rng.integers(0, 29 * 86400, k)
        secs = rng.integers(0, 600, k)
        cost = rng.integers(0, 5_000_000, k)
        num = rng.integers(10**8, 10**9, k)
        rows = []
        for i in range(k):
            s = names[site[i]]
            row = [None] * len(CALL_COLUMNS)
            row[idx["source"]], row[idx["site"]], row[idx["native_id"]] = s, s, str(lo + i)
            row[idx["leg"]], row[idx["grp"]] = "", ""
            row[idx["start"]], row[idx["duration"]], row[idx["billable"]] = int(start[i]), int(secs[i]), int(secs[i])
            row[idx["direction"]], row[idx["disposition"]] = "outgoing", "answered"
            row[idx["extension"]], row[idx["number"]] = str(ext[i]), f"{SITES[s][1]}{num[i]}"
            row[idx["number_kind"]], row[idx["billed"]], row[idx["status"]] = "external", 1, "rated"
            row[idx["cost"]], row[idx["currency"]] = int(cost[i]), "EUR"
            rows.append(row)
        conn.executemany(f"INSERT INTO calls ({', '.join(CALL_COLUMNS)}) VALUES ({', '.join('?' * len(CALL_COLUMNS))})",
                         rows)
        conn.commit()
    inv = open_inventory(conn)
    centres = "code,name\n" + "".join(f"CC{i:02d},Centre {i}\n" for i in range(20))
    p = inventory.preview(inv, centres.encode(), "cost_centre", "cc.csv", effective="2026-01-01")
    inventory.apply(inv, p, actor="bench")
    people = ["id,cost centre,site,extension,from,to"]
    for s_i, s in enumerate(names):
        for e in range(667):
            pid = f"P{s_i}-{e}"
            ext = 1000 + e + s_i * 1000
            if e % 10 == 0:
                people.append(f"{pid},CC{e % 20:02d},{s},{ext},2026-01-01,2026-10-16")
                people.append(f"{pid},CC{(e + 1) % 20:02d},{s},{ext},2026-10-16,")
            else:
                people.append(f"{pid},CC{e % 20:02d},{s},{ext},2026-01-01,")
    p = inventory.preview(inv, "\n".join(people).encode(), "person", "people.csv", effective="2026-01-01")
    inventory.apply(inv, p, actor="bench", accept=True)
    lines = "service,owner\n" + "".join(f"3361{i:07d},P{i % 3}-{i % 667}\n" for i in range(2000))
    p = inventory.preview(inv, lines.encode(), "line", "lines.csv", effective="2026-01-01")
    inventory.apply(inv, p, actor="bench", accept=True)
    charges = []
    for i in range(n_charges):
        service = f"3361{i % 2000:07d}" if i % 10 else None
        charges.append((i + 1, None, "line", "recurring" if i % 3 else "usage", service, "phone", None, "charge",
                        None, None, None, None, None, 0, 0, int(rng.integers(0, 10**10)), None, None, None, None))
    istore = open_invoices(conn)
    istore.add_file({"sha256": "bench", "file": "bench", "size": 0, "format": "bench", "content": b"",
                     "imported_at": start0}, [{
                         "seq": 1, "format": "bench", "profile": None, "carrier": "carrier", "carrier_name": None,
                         "account": "A1", "number": "INV-1", "type_code": None, "credit": 0, "issue_date": None,
                         "due_date": None, "period_start": "2026-10-01", "period_end": "2026-10-31",
                         "currency": "EUR", **{k: None for k in ("lines", "allowances", "charges", "tax_exclusive",
                                                                 "tax", "tax_inclusive", "prepaid", "rounding",
                                                                 "payable", "previous_balance", "payments",
                                                                 "adjustments", "current_charges", "amount_due")},
                         "validity": "valid", "state": "approved", "lifecycle_code": "205", "duplicate_of": None,
                         "refs": "[]", "notes": "[]", "not_checked": "[]", "imported_at": start0,
                         "charges_rows": charges, "taxes_rows": [], "calls_rows": [], "checks_rows": [],
                         "transitions_rows": []}])
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--calls", type=int)
    ap.add_argument("--charges", type=int)
    ap.add_argument("--tariffs", type=int, default=5)
    ap.add_argument("--dir", type=Path, help="Keep the generated store here (default: a temporary folder).")
    args = ap.parse_args()
    n_calls = args.calls or (200_000 if args.quick else 10_000_000)
    n_charges = args.charges or (5_000 if args.quick else 50_000)
    folder = args.dir or Path(tempfile.mkdtemp(prefix="bench-tem-"))
    db = folder / "anatole.db"
    emit(bench="machine", python=platform.python_version(), numpy=np.__version__, cpus=os.cpu_count(),
         machine=platform.machine(), calls=n_calls, charges=n_charges)
    if not db.exists():
        t = time.perf_counter()
        build(db, n_calls, n_charges)
        emit(bench="build store", seconds=round(time.perf_counter() - t, 2), db_mb=round(db.stat().st_size / 2**20))
    store = open_store(db)
    q = open_queries(store.conn)
    inv = open_inventory(store.conn)
    zones = {s: z for s, (z, _, _) in SITES.items()}

    t = time.perf_counter()
    result = allocation.allocate(q, inv, period=PERIOD, currency="EUR", zones=zones)
    elapsed = time.perf_counter() - t
    assert sum(result.by_cost_centre.values()) + result.unassigned == result.total
    emit(bench="allocation", calls=result.calls, charges=len(q.charges()), seconds=round(elapsed, 3),
         calls_per_s=round(result.calls / elapsed), target_s=10, lines=len(result.lines))

    sample = min(n_calls, 2_000_000)
    t = time.perf_counter()
    rows = 0
    owners: dict[tuple[str, str], int] = {}
    for site, ext, _start, cost in store.conn.execute(
            f"SELECT site, extension, start, cost FROM calls WHERE billed = 1 LIMIT {sample}"):
        owners[(site, ext)] = owners.get((site, ext), 0) + cost
        rows += 1
    base = time.perf_counter() - t
    emit(bench="baseline: read each call into Python (no owner lookup)", calls=rows, seconds=round(base, 3),
         calls_per_s=round(rows / base), projected_s_for_all=round(base * n_calls / max(rows, 1), 2))

    files = [ROOT / "tariffs" / "samples" / f"{n}-business.toml" for n in ("fr", "uk", "us")]
    compiled = [(f"{f.stem}#{i}", compile_tariff(load_tariff(f))) for i, f in
                zip(range(args.tariffs), (files * args.tariffs)[:args.tariffs])]
    t = time.perf_counter()
    cols = q.whatif_columns(0, 2**40, list(SITES))
    load = time.perf_counter() - t
    emit(bench="what-if load (one query into numpy)", calls=len(cols["number"]), seconds=round(load, 3),
         calls_per_s=round(len(cols["number"]) / load))
    types = np.zeros(len(cols["number"]), dtype=np.int8)  # destination types: measured apart below
    for threads in (os.cpu_count() or 1, 1):
        t = time.perf_counter()
        out = whatif.compare(cols, list(SITES), {s: c for s, (_, _, c) in SITES.items()}, compiled,
                             threads=threads, types=types)
        rate = time.perf_counter() - t
        emit(bench=f"what-if rating x {len(compiled)} tariffs", threads=threads, calls=out["calls"],
             seconds=round(rate, 3), ratings_per_s=round(out["calls"] * len(compiled) / rate),
             total_with_load_s=round(rate + load, 3), target_s=5)
    t = time.perf_counter()
    from tariffs.classify import destination_type

    for i, (_, _, country) in enumerate(SITES.values()):
        destination_type(cols["number"][cols["site"] == i], country)
    emit(bench="what-if destination types (phonenumbers, once per unique number)",
         seconds=round(time.perf_counter() - t, 3), unique_numbers=len(np.unique(cols["number"])))
    store.close()


if __name__ == "__main__":
    main()
