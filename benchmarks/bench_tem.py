"""Benchmark of allocation and what-if: prints one JSON line per figure, baselines measured in the same run.

    python benchmarks/bench_tem.py            # 10,000,000 calls + 50,000 invoice charges; what-if x 5 tariffs
    python benchmarks/bench_tem.py --quick    # 200,000 calls + 5,000 charges
    python benchmarks/bench_tem.py --calls N --charges M --tariffs K
    python benchmarks/bench_tem.py --calls 10000000 --db /var/tmp/bench10m.db   # generated once, reused after

A store is generated (in a temporary folder, or at --db once and reused: one transaction, indexes built after the
load, the day summary built once; a few minutes for 10M calls) with 3 sites, 2,000 extensions held by 2,000 people
in 20 cost centres, 10 % of them moving cost centre mid-month; one month of calls; invoice charges on 2,000 lines
plus account-level charges shared by headcount. Figures: allocation (call sums from the day summary, call_days, and
everything after it), its calls part alone, the baseline allocation summing the calls (the query before call_days;
totals must be identical), the top-callers report both ways, the baseline of reading every call into Python,
what-if load (one SQL query into numpy) and rating (threads vs one thread), each with calls/s.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from store import CALL_COLUMNS, days, open_store  # noqa: E402
from store.db import write_transaction  # noqa: E402
from store.inventory import open_inventory  # noqa: E402
from store.invoices import CHARGE_COLUMNS, open_invoices  # noqa: E402
from store.reports import open_queries  # noqa: E402
from tariffs.compile import compile_tariff  # noqa: E402
from tariffs.load import load_tariff  # noqa: E402
from tem import allocation, inventory, whatif  # noqa: E402

SITES = {"paris": ("Europe/Paris", "33", "FR"), "london": ("Europe/London", "44", "GB"),
         "new-york": ("America/New_York", "1212", "US")}
PERIOD = "2026-10"


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


DESTINATIONS = ("national", "mobile", "local", "international", "special", "toll_free")


def build(path: Path, n_calls: int, n_charges: int, seed: int = 7) -> dict[str, float]:
    """Generate the store at `path` (built under another name, renamed when complete: a store that exists is
    whole). Calls go in by one executemany per 100,000 rows in one transaction, in start order, inside
    Store.bulk_load (the reader indexes built once after the load), the day summary folded once (store.days), as a
    large import does. Returns the seconds of each step."""
    rng = np.random.default_rng(seed)
    part = path.with_name(path.name + ".building")
    for leftover in (part, Path(f"{part}-wal"), Path(f"{part}-shm")):
        leftover.unlink(missing_ok=True)
    took: dict[str, float] = {}
    store = open_store(part)
    for name, (zone, _, country) in SITES.items():
        store.upsert_site(name, country, zone, None)
    conn = store.conn
    conn.execute("PRAGMA synchronous = OFF")  # a build that stops half-way is never renamed to `path`
    conn.execute("PRAGMA cache_size = -1000000")  # 1 GB: the index builds sort in memory
    start0 = int(allocation.local_midnight("2026-10-01", "UTC"))
    names = list(SITES)
    exts = [str(1000 + i) for i in range(3000)]
    t = time.perf_counter()
    starts = np.sort(start0 + 3600 + rng.integers(0, 29 * 86400, n_calls))  # as a PBX writes them: in time order
    fixed = {"leg": "", "grp": "", "direction": "outgoing", "disposition": "answered", "number_kind": "external",
             "billed": 1, "status": "rated", "currency": "EUR"}
    sql = f"INSERT INTO calls ({', '.join(CALL_COLUMNS)}) VALUES ({', '.join('?' * len(CALL_COLUMNS))})"
    with store.bulk_load(n_calls):  # the reader indexes dropped, built once when it ends (as a large import)
        with write_transaction(conn, what="import"):
            chunk = 100_000
            for lo in range(0, n_calls, chunk):
                k = min(chunk, n_calls - lo)
                site = rng.integers(0, 3, k)
                ext = rng.integers(0, 667, k) + site * 1000
                secs = rng.integers(0, 600, k).tolist()
                num = rng.integers(10**8, 10**9, k)
                site_names = [names[s] for s in site.tolist()]
                cols: dict[str, Any] = {
                    "source": site_names, "site": site_names, "native_id": map(str, range(lo, lo + k)),
                    "start": starts[lo:lo + k].tolist(), "duration": secs, "billable": secs,
                    "extension": [exts[e] for e in ext.tolist()],
                    "number": [f"{SITES[s][1]}{n}" for s, n in zip(site_names, num.tolist())],
                    "destination": [DESTINATIONS[d] for d in rng.integers(0, len(DESTINATIONS), k).tolist()],
                    "cost": rng.integers(0, 5_000_000, k).tolist()}
                conn.executemany(sql, zip(*(cols[c] if c in cols else itertools.repeat(fixed.get(c), k)
                                            for c in CALL_COLUMNS)))
            took["load_s"] = time.perf_counter() - t
            t = time.perf_counter()
            days.summarise_new(conn)  # as Store.insert_calls does, once for the whole load
            took["summary_s"] = time.perf_counter() - t
        t = time.perf_counter()
    took["indexes_s"] = time.perf_counter() - t
    t = time.perf_counter()
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
        charge = {"seq": i + 1, "level": "line", "category": "recurring" if i % 3 else "usage", "service": service,
                  "service_kind": "phone", "description": "charge", "allowances": 0, "charges": 0,
                  "amount": int(rng.integers(0, 10**10))}
        charges.append(tuple(charge.get(c) for c in CHARGE_COLUMNS[1:]))  # by name: the columns grow
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
    took["inventory_charges_s"] = time.perf_counter() - t
    store.close()
    part.rename(path)
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--calls", type=int)
    ap.add_argument("--charges", type=int)
    ap.add_argument("--tariffs", type=int, default=5)
    ap.add_argument("--db", type=Path, help="The store: generated there if missing, else reused as it is (a "
                    "10M-call store takes minutes to generate: keep it for reruns).")
    ap.add_argument("--dir", type=Path, help="Keep the generated store in this folder (as DIR/anatole.db).")
    ap.add_argument("--no-baseline", action="store_true",
                    help="Skip the allocation baseline over the calls (about 16 s per million calls).")
    ap.add_argument("--allocation-only", action="store_true", help="Stop after the allocation and report figures.")
    args = ap.parse_args()
    n_calls = args.calls or (200_000 if args.quick else 10_000_000)
    n_charges = args.charges or (5_000 if args.quick else 50_000)
    db = args.db or (args.dir or Path(tempfile.mkdtemp(prefix="bench-tem-"))) / "anatole.db"
    emit(bench="machine", python=platform.python_version(), numpy=np.__version__, cpus=os.cpu_count(),
         machine=platform.machine(), calls=n_calls, charges=n_charges)
    if not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        steps = build(db, n_calls, n_charges)
        took = time.perf_counter() - t
        emit(bench="build store", calls=n_calls, seconds=round(took, 2), calls_per_s=round(n_calls / took),
             **{k: round(v, 2) for k, v in steps.items()}, db_mb=round(db.stat().st_size / 2**20), db=str(db))
    store = open_store(db)
    q = open_queries(store.conn)
    inv = open_inventory(store.conn)
    zones = {s: z for s, (z, _, _) in SITES.items()}
    stored = store.conn.execute("SELECT MAX(id) FROM calls").fetchone()[0] or 0
    if stored != n_calls:
        emit(bench="note", message=f"{db} holds {stored} calls (generated before), not {n_calls}")

    def run_allocation(queries: Any, what: str, **extra: Any) -> allocation.Allocation:
        t = time.perf_counter()
        result = allocation.allocate(queries, inv, period=PERIOD, currency="EUR", zones=zones)
        elapsed = time.perf_counter() - t
        assert sum(result.by_cost_centre.values()) + result.unassigned == result.total
        emit(bench=what, calls=result.calls, seconds=round(elapsed, 3), calls_per_s=round(result.calls / elapsed),
             lines=len(result.lines), **extra)
        return result

    result = run_allocation(q, "allocation (calls from call_days + charges)", charges=len(q.charges()), target_s=10)
    no_charges = open_queries(store.conn)
    no_charges.charges = list  # type: ignore[method-assign]
    run_allocation(no_charges, "allocation: the calls part alone (call_days)")
    if not args.no_baseline:
        calls_level = open_queries(store.conn)
        calls_level.call_costs_summary = calls_level.call_costs  # type: ignore[method-assign]
        base = run_allocation(calls_level, "baseline: allocation summing the calls (the query before call_days)",
                              charges=len(q.charges()))
        assert (base.total, base.calls, base.by(3)) == (result.total, result.calls, result.by(3)), "not identical"
    start, end = allocation.local_midnight("2026-10-01", "Europe/Paris"), \
        allocation.local_midnight("2026-11-01", "America/New_York")
    for summary in (True, False):
        t = time.perf_counter()
        groups = q.call_groups(start, end, "extension", where="outgoing", summary=summary)
        emit(bench=f"report top-callers (call_groups by extension{', call_days' if summary else ', baseline: calls'})",
             groups=len(groups), calls=sum(g["calls"] for g in groups), seconds=round(time.perf_counter() - t, 3))
    if args.allocation_only:
        store.close()
        return

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
    # what-if load: the C reader (store._fast) and, as the baseline in the same run, the Python cursor path
    from store import reports

    reports.FAST_READS = False
    t = time.perf_counter()
    slow = q.whatif_columns(0, 2**40, list(SITES))
    base = time.perf_counter() - t
    reports.FAST_READS = True
    emit(bench="baseline: what-if load through the Python cursor", calls=len(slow["number"]), seconds=round(base, 3),
         calls_per_s=round(len(slow["number"]) / base))
    t = time.perf_counter()
    cols = q.whatif_columns(0, 2**40, list(SITES))
    load = time.perf_counter() - t
    assert all(np.array_equal(cols[k], slow[k]) for k in cols), "the two what-if loads differ"
    del slow
    from store import _fast

    emit(bench="what-if load (one query into numpy, C reader)", calls=len(cols["number"]), seconds=round(load, 3),
         calls_per_s=round(len(cols["number"]) / load), c_reader=_fast.AVAILABLE, speedup=round(base / load, 1))
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
