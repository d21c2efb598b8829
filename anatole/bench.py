"""`anatole bench`: the benchmark suite on this machine at a chosen size, and a capacity plan from its figures.

The suite reuses the generators and measured steps of the scripts in `benchmarks/` (loaded by path: they are
scripts, not part of the installed package), at sizes that fit a one-minute run (`quick`) or the scripts' own
defaults (`large`). Each area is measured next to the baseline its script already measures, in the same run:

  rate     the engine (RateTables.rate, one thread) against a Python dict longest-prefix loop
  ingest   batch_rate (parse, normalise, rate, write CSV) of an Asterisk file against pyarrow's CSV reader
  store    import_file into a fresh SQLite store (calls/s, bytes per stored call) against Store.insert_calls
           alone on ready rows (the SQLite ceiling)
  recon    the reconciliation kernel against pandas.merge_asof and DuckDB's ASOF JOIN
  live     the daemon (`anatole serve`, N TCP connections) against `anatole import cdr` of the same records

`plan()` turns the figures into a capacity plan for a profile (extensions, calls per extension per day, busy-hour
share, retention, sites): live headroom in the busy hour, the time to re-rate a month and the Dask workers that
brings into a window, the storage the retention needs against the free disk, and what to add.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import platform
import shutil
import socket
import sqlite3
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from i18n import _

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
DAYS_PER_MONTH = 365.25 / 12
LIVE_MARGIN = 10.0  # live capacity / busy-hour mean rate: bursts within the hour, batch work beside the daemon
STORAGE_MARGIN = 2.0  # free disk / data: VACUUM and a backup copy need as much again
SCALE_EFFICIENCY = 0.8  # Dask workers: throughput per worker against one process (the target)
OUTGOING_SHARE = 0.6  # share of calls that are outgoing (what a carrier invoice bills): the ingest data's

# size -> rows per area; `quick` is about a minute on a 2-core VM, `large` the scripts' own defaults
SIZES: dict[str, dict[str, Any]] = {
    "quick": {"rate_calls": 500_000, "rate_prefixes": 20_000, "python_sample": 20_000, "ingest_rows": 100_000,
              "import_rows": 50_000, "sqlite_rows": 20_000, "recon_lines": 200_000, "live_records": 20_000,
              "live_connections": 2, "live_rate": 500, "live_seconds": 2.0, "repeat": 1},
    "standard": {"rate_calls": 2_000_000, "rate_prefixes": 100_000, "python_sample": 100_000,
                 "ingest_rows": 500_000, "import_rows": 200_000, "sqlite_rows": 100_000, "recon_lines": 1_000_000,
                 "live_records": 100_000, "live_connections": 4, "live_rate": 1000, "live_seconds": 5.0,
                 "repeat": 2},
    "large": {"rate_calls": 10_000_000, "rate_prefixes": 100_000, "python_sample": 200_000,
              "ingest_rows": 5_000_000, "import_rows": 1_000_000, "sqlite_rows": 200_000, "recon_lines": 5_000_000,
              "live_records": 200_000, "live_connections": 4, "live_rate": 1000, "live_seconds": 10.0, "repeat": 3},
}
AREAS = ("rate", "ingest", "store", "recon", "live")


class BenchError(Exception):
    pass


def rounded(x: float, digits: int = 4) -> float:
    return float(f"{x:.{digits}g}")


def load_script(name: str) -> ModuleType:
    """benchmarks/bench_<name>.py as a module (loaded once per process)."""
    key = f"anatole_bench_{name}"
    if key in sys.modules:
        return sys.modules[key]
    path = BENCHMARKS / f"bench_{name}.py"
    if not path.exists():
        raise BenchError(_("{path} not found: run anatole bench from a source checkout").format(path=path))
    spec = importlib.util.spec_from_file_location(key, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[key] = module
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    except BaseException:
        del sys.modules[key]
        raise
    return module


def machine() -> dict[str, Any]:
    """What ran the suite, and how busy it was (other processes share the cores)."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    mem = 0
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo") as f:
        mem = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemTotal:"))
    return {"host": socket.gethostname(), "cpu": cpu, "cores": os.cpu_count(), "memory_bytes": mem,
            "platform": platform.platform(), "python": platform.python_version(), "numpy": np.__version__,
            "sqlite": sqlite3.sqlite_version, "load_average_before": [round(x, 2) for x in load]}


# --- the areas ------------------------------------------------------------------------------------------------


def bench_rate(n: dict[str, Any], work: Path) -> dict[str, Any]:
    """The engine on a Zipf batch of a carrier-like deck, against a Python dict longest-prefix loop."""
    br = load_script("rate")
    rng = np.random.default_rng(br.SEED)
    base = br.settings_tariff()
    deck = br.make_deck(rng, n["rate_prefixes"])
    compiled = br.compile_tariff(br.with_rows(base, br.banded_rows(rng, deck, base.band_index)))
    calls = n["rate_calls"]
    start, duration = br.make_times(rng, calls)
    digits = br.make_numbers(rng, deck.prefixes, br.zipf_destinations(rng, n["rate_prefixes"], calls))
    seconds, _result = br.best_of(n["repeat"], lambda: compiled.tables.rate(digits, start, duration))
    ids = {p: i for i, p in enumerate(compiled.prefixes)}
    max_len = max(len(p) for p in compiled.prefixes)
    sample = digits[:n["python_sample"]].astype(str).tolist()
    py_seconds, _result = br.best_of(1, lambda: br.dict_lpm(sample, ids, max_len))
    engine, python = calls / seconds, len(sample) / py_seconds
    return {"calls": calls, "prefixes": n["rate_prefixes"], "engine_calls_per_s": rounded(engine),
            "python_dict_calls_per_s": rounded(python), "vs_python_dict": rounded(engine / python),
            "threads": 1}


def _ingest_setup(n: dict[str, Any], work: Path) -> tuple[ModuleType, Path, Path]:
    bi = load_script("ingest")
    ws = work / "workspace"
    if not ws.exists():
        bi.make_workspace(work)
    path = work / "asterisk.csv"
    if not path.exists():
        bi.make_asterisk(path, n["ingest_rows"], 0.1, bi.SEED)
    return bi, ws, path


def bench_ingest(n: dict[str, Any], work: Path) -> dict[str, Any]:
    """batch_rate of a generated Asterisk Master.csv to CSV, against pyarrow.csv.read_csv of the same file."""
    bi, ws, path = _ingest_setup(n, work)
    spec = {"fmt": "asterisk", "path": str(path), "ws": str(ws), "out": str(work / "rated.csv")}
    batch = bi.step_batch(spec)
    out: dict[str, Any] = {"rows": batch["rows"], "file_bytes": path.stat().st_size,
                           "batch_seconds": rounded(batch["seconds"]),
                           "batch_rows_per_s": rounded(batch["rows"] / batch["seconds"]),
                           "rejected": batch["rejected"]}
    try:
        arrow = bi.step_pyarrow(spec)
    except ImportError:
        out["pyarrow"] = "skipped: pyarrow is not installed"
    else:
        out["pyarrow_seconds"] = rounded(arrow["seconds"])
        out["pyarrow_rows_per_s"] = rounded(arrow["rows"] / arrow["seconds"])
        out["seconds_vs_pyarrow"] = rounded(batch["seconds"] / arrow["seconds"])
    return out


def bench_store(n: dict[str, Any], work: Path) -> dict[str, Any]:
    """import_file into a fresh store (calls/s, bytes per stored call), against Store.insert_calls on ready rows."""
    bi, ws, path = _ingest_setup(n, work)
    small = work / "import.csv"
    bi.make_asterisk(small, n["import_rows"], 0.1, bi.SEED + 1)
    imp = bi.step_import({"fmt": "asterisk", "path": str(small), "ws": str(ws), "db": str(work / "import.db")})
    small.unlink()
    ceiling = bi.step_sqlite({"fmt": "asterisk", "path": str(path), "ws": str(ws), "db": str(work / "insert.db"),
                              "insert_rows": n["sqlite_rows"]})
    return {"calls": imp["stored"], "import_seconds": rounded(imp["seconds"]),
            "import_calls_per_s": rounded(imp["calls"] / imp["seconds"]),
            "bytes_per_call": round(imp["db_bytes"] / max(1, imp["stored"])),
            "insert_calls_per_s": rounded(ceiling["rows"] / ceiling["variants"]["store"]),
            "insert_in_memory_calls_per_s": rounded(ceiling["rows"] / ceiling["variants"]["in_memory"]),
            "import_vs_insert": rounded(ceiling["rows"] / ceiling["variants"]["store"]
                                        / (imp["calls"] / imp["seconds"]))}


def bench_recon(n: dict[str, Any], work: Path) -> dict[str, Any]:
    """The reconciliation kernel on time-ordered sides, against pandas.merge_asof and DuckDB's ASOF JOIN."""
    brc = load_script("recon")
    lines = n["recon_lines"]
    inv, cdr, _truth = brc.make_data(lines, np.random.default_rng(brc.SEED))
    seconds, _result = brc.run_engine(inv, cdr, n["repeat"])
    out: dict[str, Any] = {"lines_per_side": lines, "engine_seconds": rounded(seconds),
                           "engine_lines_per_s": rounded(2 * lines / seconds)}
    for name, run in (("pandas", lambda: brc.run_pandas(inv, cdr, True, 1)),
                      ("duckdb_1thread", lambda: brc.run_duckdb(inv, cdr, 1, 1))):
        got = run()
        if got is None:
            out[name] = "skipped: not installed"
        else:
            out[f"{name}_seconds"] = rounded(got[0])
            out[f"{name}_vs_engine"] = rounded(got[0] / seconds)
    return out


def bench_live(n: dict[str, Any], work: Path) -> dict[str, Any]:
    """The daemon fed by N simulated PBXs over TCP, against `anatole import cdr` of as many records."""
    import trio

    bl = load_script("live")
    records, connections = n["live_records"], n["live_connections"]
    base = work / "live-baseline"
    base.mkdir()
    bl.workspace(base, 1)
    file_import = bl.file_import(base, records)
    root = work / "live"
    root.mkdir()
    ports = bl.workspace(root, connections)
    proc = bl.start_daemon(root)
    try:
        got = trio.run(bl.throughput, root, ports, records // connections)
        lat = trio.run(bl.latency, root, ports[0], n["live_rate"], n["live_seconds"], 5_000_000)
        rss = bl.rss_kib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return {"records": got["records"], "connections": connections, "records_per_s": got["records_per_s"],
            "file_import_records_per_s": file_import["records_per_s"],
            "vs_file_import": rounded(got["records_per_s"] / file_import["records_per_s"]),
            "latency_rate": lat["rate"], "latency_p50_ms": lat["p50_ms"], "latency_p99_ms": lat["p99_ms"],
            "daemon_rss_mib": round(rss / 1024, 1)}


BENCHES: dict[str, Callable[[dict[str, Any], Path], dict[str, Any]]] = {
    "rate": bench_rate, "ingest": bench_ingest, "store": bench_store, "recon": bench_recon, "live": bench_live,
}


def run_suite(size: str = "quick", areas: tuple[str, ...] = AREAS, workdir: Path | None = None,
              progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every area's figures at `size`; an area that cannot run says why ({"skipped": reason}) instead of
    stopping the others. Files go to a temporary folder (or `workdir`), removed at the end."""
    if size not in SIZES:
        raise BenchError(_("unknown size {size} (known: {sizes})").format(size=repr(size), sizes=", ".join(SIZES)))
    sizes = SIZES[size]
    figures: dict[str, Any] = {"machine": machine(), "size": size, "sizes": sizes}
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="anatole-bench-", dir=workdir) as tmp:
        for area in areas:
            if progress:
                progress(area)
            work = Path(tmp) / area
            work.mkdir()
            if area in ("ingest", "store"):  # both use the one generated file
                work = Path(tmp) / "ingest"
                work.mkdir(exist_ok=True)
            t0 = time.perf_counter()
            try:
                got = BENCHES[area](sizes, work)
            except BenchError as exc:
                got = {"skipped": str(exc)}
            except Exception as exc:  # a broken area must not cost the others' figures
                last = traceback.extract_tb(exc.__traceback__)[-1]
                got = {"skipped": _("failed: {problem} ({where})").format(
                    problem=f"{type(exc).__name__}: {exc}", where=f"{Path(last.filename).name}:{last.lineno}")}
            got["seconds"] = rounded(time.perf_counter() - t0, 3)
            figures[area] = got
    figures["seconds"] = rounded(time.perf_counter() - t_all, 3)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    figures["machine"]["load_average_after"] = [round(x, 2) for x in load]
    return figures


# --- the capacity plan ----------------------------------------------------------------------------------------


@dataclass
class Profile:
    """A site's traffic: `extensions` in all (over every site); each of the `sites` is one PBX connection."""

    extensions: int = 500
    calls_per_extension_per_day: float = 20.0
    busy_hour_share: float = 0.15  # of a day's calls, in its busiest hour
    retention_months: int = 24
    sites: int = 1
    rerate_hours: float = 1.0  # a month of calls re-rated within this window


def _n(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _dur(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.3g} s"
    return f"{seconds / 60:.3g} min" if seconds < 7200 else f"{seconds / 3600:.3g} h"


def plan(figures: dict[str, Any], profile: Profile, disk_path: Path | None = None) -> dict[str, Any]:
    """Whether this machine suffices for `profile`, with what headroom, and what to add."""
    day = profile.extensions * profile.calls_per_extension_per_day
    month = day * DAYS_PER_MONTH
    busy = day * profile.busy_hour_share / 3600
    cores = int(figures["machine"].get("cores") or 1)
    checks: list[dict[str, Any]] = []
    add: list[str] = []

    live = figures.get("live", {})
    ingest = figures.get("ingest", {})
    store = figures.get("store", {})
    capacity, basis = live.get("records_per_s"), _("live daemon")
    if capacity is None:
        capacity, basis = store.get("import_calls_per_s"), _("file import (live not measured)")
    if capacity:
        headroom = capacity / busy if busy else math.inf
        ok = headroom >= LIVE_MARGIN
        checks.append({"check": "live collection", "need": _("{rate} calls/s (busy hour)").format(rate=_n(busy)),
                       "have": _("{rate} calls/s ({basis})").format(rate=_n(capacity), basis=basis),
                       "headroom": rounded(headroom, 3), "ok": ok,
                       "rule": _("headroom >= {margin}x the busy hour's mean rate").format(margin=f"{LIVE_MARGIN:g}")})
        if not ok:
            add.append(_("live collection: split the sites over {count} collectors like this one (`anatole serve` on "
                         "each, with its sites' sources)").format(count=math.ceil(LIVE_MARGIN * busy / capacity)))

    rows_per_s = ingest.get("batch_rows_per_s")
    if rows_per_s:
        window = profile.rerate_hours * 3600
        seconds = month / rows_per_s
        workers = max(1, math.ceil(seconds / (window * SCALE_EFFICIENCY)))
        spare = max(1, cores - 1)  # one core stays with the daemon
        ok = seconds <= window or workers <= spare
        checks.append({"check": "batch re-rating (a month)",
                       "need": _("{calls} calls in {hours} h").format(calls=_n(month),
                                                                     hours=f"{profile.rerate_hours:g}"),
                       "have": _("{duration} on 1 process ({rate} rows/s)").format(duration=_dur(seconds),
                                                                                   rate=_n(rows_per_s)),
                       "headroom": rounded(window / seconds, 3) if seconds else math.inf, "ok": ok,
                       "workers_needed": workers,
                       "rule": _("Dask workers at {efficiency}x each").format(efficiency=f"{SCALE_EFFICIENCY:g}")})
        if not ok:
            machines = math.ceil((workers - spare) / max(1, cores))
            add.append(_("re-rating: {workers} Dask workers in all (`anatole batch-rate --scheduler ...`): this "
                         "machine gives {spare}, add {machines} machine(s) of {cores} cores like it").format(
                workers=workers, spare=spare, machines=machines, cores=cores))

    per_call = store.get("bytes_per_call")
    if per_call:
        need = month * profile.retention_months * per_call
        free = shutil.disk_usage(disk_path or Path.cwd()).free
        ok = need * STORAGE_MARGIN <= free
        checks.append({"check": "storage",
                       "need": _("{size} GB ({months} months, {per_call} B/call)").format(
                           size=f"{need / 1e9:.3g}", months=profile.retention_months, per_call=per_call),
                       "have": _("{size} GB free").format(size=f"{free / 1e9:.3g}"),
                       "headroom": rounded(free / need, 3) if need else math.inf, "ok": ok,
                       "rule": _("free disk >= {margin}x the data (VACUUM, backups)").format(
                           margin=f"{STORAGE_MARGIN:g}")})
        if not ok:
            add.append(_("storage: {size} GB more disk for the workspace").format(
                size=math.ceil((need * STORAGE_MARGIN - free) / 1e9)))

    recon = figures.get("recon", {})
    if recon.get("engine_lines_per_s"):
        lines = month * OUTGOING_SHARE
        seconds = 2 * lines / recon["engine_lines_per_s"]
        checks.append({"check": "reconciliation (a month)",
                       "need": _("{lines} invoice lines x as many calls").format(lines=_n(lines)),
                       "have": _dur(seconds), "headroom": rounded(3600 / seconds, 3) if seconds else math.inf,
                       "ok": seconds <= 3600, "rule": _("under an hour per carrier invoice")})
        if seconds > 3600:
            add.append(_("reconciliation: split the invoice by carrier or by week"))

    return {"profile": asdict(profile), "calls_per_day": round(day), "calls_per_month": round(month),
            "busy_hour_calls_per_s": rounded(busy, 3), "checks": checks,
            "suffices": all(c["ok"] for c in checks) if checks else None, "add": add}


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}: the figures of two runs side by side (compare)."""
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: obj}
