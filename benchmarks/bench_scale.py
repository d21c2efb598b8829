"""Scale-out: `batch-rate` on one process against N Dask worker processes, on the same generated Asterisk file.

Prints one JSON object per line (all with "bench": "scale"):

  machine         CPU, cores, load average before the run (other processes share the cores), versions
  data            the generated Master.csv (bench_ingest.make_asterisk): rows, bytes
  single_1thread  pipeline.batchrate.batch_rate(threads=1): one core, the baseline of the 0.8 x N target
  single          batch_rate with its default threads (one per core), where batch_rate has threads
  cluster_start   seconds to start a LocalCluster of N worker processes (one thread each)
  dask            pipeline.distributed.distributed_batch_rate on that (warm) cluster: rows/s, speedup against
                  single_1thread and single, parts; `identical` compares its output with the single run's
  dask_loaded     the same warm cluster without shipping (ship=False): each worker opens the workspace and loads
                  the tariff itself, as before the driver shipped them (issue 16 item 6); `--ship yes` skips it
  dask_cold       the same through `--workers N` (cluster start included), as a user runs it once
  summary         speedup, the target (0.8 x N against one process on one core) and whether it is met, the load
                  average after the run; cpu_efficiency (the single run's CPU seconds over the Dask run's) and
                  N x cpu_efficiency, the speedup N idle cores would give: a projection, not a measurement
  model           Amdahl with what was measured: the driver's serial seconds (cutting the files, what is left of
                  putting the CSV parts together after the last part) and the workers' CPU seconds, T(N) = serial
                  + max(workers_cpu / N, the CSV copies' CPU seconds) on idle cores, for N = 1, 2, 4,
                  8, 32: a model, not a measurement

Run from the repository root:

    .venv/bin/python benchmarks/bench_scale.py [--workers 2] [--rows 2000000] [--quick] [--parquet] [--all-distinct]
"""

from __future__ import annotations

import argparse
import filecmp
import inspect
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads
import pyarrow.parquet as pq

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from bench_ingest import SEED, SITE, make_asterisk, make_big_tariff, make_workspace  # noqa: E402

from anatole.config import open_workspace  # noqa: E402
from pipeline.batchrate import batch_rate  # noqa: E402
from pipeline.distributed import distributed_batch_rate  # noqa: E402


def emit(**fields: Any) -> None:
    print(json.dumps({"bench": "scale", **fields}), flush=True)


def _rounds(workers: int) -> int:
    """Transfers in a row to put the shipment on every worker: the driver's to one worker, then Dask's replicate
    rounds (branching factor 2: each worker holding it copies it to two more)."""
    held, rounds = 1, 1
    while held < workers:
        held, rounds = held * 3, rounds + 1
    return rounds


def _forget() -> None:
    """On a worker: forget its opened workspaces and compiled tariffs."""
    import pipeline.distributed as dist
    from tariffs.load import clear_cache

    dist._WORKSPACES.clear()
    clear_cache()


def rounded(x: float, digits: int = 4) -> float:
    return float(f"{x:.{digits}g}")


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def same(a: Path, b: Path) -> bool:
    if a.suffix == ".parquet":
        return pq.read_table(a).equals(pads.dataset(b).to_table())
    return filecmp.cmp(a, b, shallow=False) and filecmp.cmp(a.with_name(a.name + ".rejects.csv"),
                                                            b.with_name(b.name + ".rejects.csv"), shallow=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2, help="Dask worker processes (default 2)")
    ap.add_argument("--rows", type=int, default=2_000_000, help="rows of the Asterisk file (default 2,000,000)")
    ap.add_argument("--quick", action="store_true", help="300,000 rows")
    ap.add_argument("--chunk-mb", type=int, default=32, help="part size (default 32 MiB)")
    ap.add_argument("--parquet", action="store_true", help="write Parquet (a dataset folder) instead of CSV")
    ap.add_argument("--workdir", type=Path, help="where the files go (default: a temporary folder)")
    ap.add_argument("--all-distinct", action="store_true",
                    help="every row its own number, rated with a 100,000-prefix tariff (the call centre case)")
    ap.add_argument("--ship", choices=("both", "yes"), default="both",
                    help="both (default): the warm-cluster run without shipping the compiled site and tariff, "
                         "then with; yes: only with")
    args = ap.parse_args()
    from distributed import Client, LocalCluster
    from distributed import __version__ as dask_version

    rows = 300_000 if args.quick else args.rows
    n = args.workers
    cpu = platform.processor() or platform.machine()
    if Path("/proc/cpuinfo").exists():
        cpu = next((x.split(":", 1)[1].strip() for x in Path("/proc/cpuinfo").read_text().splitlines()
                    if x.startswith("model name")), cpu)
    emit(impl="machine", cpu=cpu, cores=os.cpu_count(), load_average_before=load(),
         python=platform.python_version(), distributed=dask_version, workers=n, rows=rows, chunk_mb=args.chunk_mb,
         notes="timings on a shared machine: compare lines of the same run")
    ext = "parquet" if args.parquet else "csv"
    with tempfile.TemporaryDirectory(prefix="bench-scale-", dir=args.workdir) as tmp:
        work = Path(tmp)
        wsdir = make_workspace(work)
        ws = open_workspace(wsdir)
        site = ws.sites[SITE]
        tariff = make_big_tariff(wsdir, 100_000) if args.all_distinct else site.tariff
        path = work / "Master.csv"
        t0 = time.perf_counter()
        make_asterisk(path, rows, 0.1, SEED, unique=args.all_distinct)
        emit(impl="data", rows=rows, bytes=path.stat().st_size, seconds_to_generate=rounded(time.perf_counter() - t0))

        def single(threads: int | None, out: Path) -> tuple[float, float]:
            """Wall and CPU seconds (all of this process's threads) of one batch_rate run."""
            extra = {"threads": threads} if threads else {}
            t0, c0 = time.perf_counter(), time.process_time()
            r = batch_rate([path], tariff=tariff, fmt="asterisk", out=out, site=site, ws=ws, **extra)
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
            assert r.read == rows, (r.read, rows)
            return seconds, cpu

        has_threads = "threads" in inspect.signature(batch_rate).parameters
        one = work / f"one.{ext}"
        s1, cpu1 = single(1 if has_threads else None, one)
        emit(impl="single_1thread", rows=rows, seconds=rounded(s1), rows_per_s=rounded(rows / s1),
             cpu_seconds=rounded(cpu1), cores_obtained=rounded(cpu1 / s1),
             threads=1 if has_threads else "batch_rate has no threads option")
        sd = None
        if has_threads:
            sd, _ = single(None, work / f"default.{ext}")
            emit(impl="single", rows=rows, seconds=rounded(sd), rows_per_s=rounded(rows / sd),
                 threads=os.cpu_count(), identical=same(one, work / f"default.{ext}"))
            shutil.rmtree(work / f"default.{ext}", ignore_errors=True)
            (work / f"default.{ext}").unlink(missing_ok=True)
        t0 = time.perf_counter()
        import dask

        import pipeline.distributed as dist

        with dask.config.set(getattr(dist, "WORKER_CONFIG", {})), \
                LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                             silence_logs=40) as cluster, Client(cluster) as client:  # as --workers N starts it
            start = time.perf_counter() - t0
            emit(impl="cluster_start", workers=n, seconds=rounded(start))
            client.run(lambda: __import__("pipeline.distributed"))  # imports on the workers, outside the timing
            many = work / f"many.{ext}"

            def warm_run(ship: bool) -> tuple[float, float, float, dict[str, Any]]:
                """Wall seconds, driver and workers' CPU seconds, facts of one run on the warm cluster, the
                workers' workspaces and tariffs forgotten first (each run loads or receives them)."""
                client.run(_forget)
                shutil.rmtree(many, ignore_errors=True)
                many.unlink(missing_ok=True)
                before = client.run(time.process_time)
                t0, c0 = time.perf_counter(), time.process_time()
                _, facts = distributed_batch_rate([path], tariff=tariff, fmt="asterisk", out=many, site=SITE,
                                                  workspace=wsdir, scheduler=cluster.scheduler_address,
                                                  chunk_bytes=args.chunk_mb << 20, ship=ship)
                seconds, cpu_driver = time.perf_counter() - t0, time.process_time() - c0
                after = client.run(time.process_time)
                return seconds, cpu_driver, sum(after[w] - before[w] for w in after), facts

            if args.ship == "both":
                sl, cdl, cwl, fl = warm_run(False)
                emit(impl="dask_loaded", workers=n, rows=rows, seconds=rounded(sl), rows_per_s=rounded(rows / sl),
                     speedup_vs_single_1thread=rounded(s1 / sl), cpu_seconds_workers=rounded(cwl),
                     cpu_seconds_driver=rounded(cdl), cpu_efficiency=rounded(cpu1 / (cwl + cdl)),
                     identical=same(one, many), task_cpu_seconds=fl.get("task_cpu_seconds"),
                     notes="ship=False: each worker opens anatole.toml and loads the tariff from the deck itself")
            sdask, cpu_driver, cpu_workers, facts = warm_run(True)
        speedup = s1 / sdask
        efficiency = cpu1 / (cpu_workers + cpu_driver)
        emit(impl="dask", workers=n, rows=rows, seconds=rounded(sdask), rows_per_s=rounded(rows / sdask),
             speedup_vs_single_1thread=rounded(speedup),
             speedup_vs_single=rounded(sd / sdask) if sd else None, parts=facts["parts"],
             chunk_bytes=facts.get("chunk_bytes"), cpu_seconds_workers=rounded(cpu_workers),
             cpu_seconds_driver=rounded(cpu_driver), cores_obtained=rounded((cpu_workers + cpu_driver) / sdask),
             cpu_efficiency=rounded(efficiency), identical=same(one, many), driver_seconds=facts.get("driver_seconds"),
             ship_seconds=facts.get("ship_seconds"),
             task_cpu_seconds=facts.get("task_cpu_seconds"),
             notes="warm cluster: workers started and imported; the driver ships the compiled site and tariff "
                   "to each worker inside the timing (ship_seconds). cpu_efficiency: single_1thread's "
                   "CPU seconds over the workers' and the driver's (1.0 = no overhead); cores_obtained: CPU "
                   "seconds over wall seconds (what the shared machine gave this run)")
        shutil.rmtree(many, ignore_errors=True)
        many.unlink(missing_ok=True)
        t0 = time.perf_counter()
        distributed_batch_rate([path], tariff=tariff, fmt="asterisk", out=many, site=SITE, workspace=wsdir,
                               workers=n, chunk_bytes=args.chunk_mb << 20)
        cold = time.perf_counter() - t0
        emit(impl="dask_cold", workers=n, rows=rows, seconds=rounded(cold), rows_per_s=rounded(rows / cold),
             speedup_vs_single_1thread=rounded(s1 / cold), notes="--workers N: LocalCluster start included")
    target = 0.8 * n
    emit(impl="summary", workers=n, rows=rows, speedup=rounded(speedup), target=target, meets_target=speedup >= target,
         cpu_efficiency=rounded(efficiency), projected_speedup_on_idle_cores=rounded(n * efficiency),
         cores=os.cpu_count(), load_average_after=load(),
         notes=f"speedup: single process on one thread against {n} Dask worker processes on a warm cluster; the "
               "cores are shared with whatever else runs (see the load averages)")
    serial = sum((facts.get("driver_seconds") or {}).values())
    ship = facts.get("ship_seconds") or {"build": 0.0, "send": 0.0}  # once per run; the sending once per worker
    tasks = facts.get("task_cpu_seconds") or {"setup": 0.0, "rate": cpu_workers, "rows": rows}  # older: no split
    per_row = tasks["rate"] / max(1, tasks["rows"])  # parts after each worker's first: the steady state
    warm = max(0.0, tasks.get("first_rate", 0.0) - per_row * tasks.get("first_rows", 0)) / n
    setup = tasks["setup"] / n + warm  # each worker, once: workspace and tariff, imports and caches
    single_setup = tasks["setup"] / n  # the single run loads the workspace and tariff once too
    count = facts.get("count_seconds", 0.0) * n  # the ranges' line counts ran on the n workers: parallel work
    # CSV: the driver copies each part into the output while the workers rate the next ones (overlapped: the
    # slower of the two sets the pace), one copy at a time (a file system takes one file's writes in turn), at the
    # copies' CPU seconds: page cache, the disk keeping up; what is left after the last part is in "assemble"
    join = facts.get("join_cpu_seconds", 0.0)
    sizes = {"this_file": rows, "issue_50M_calls": 50_000_000}
    model: dict[str, dict[int, float]] = {}
    for name, r in sizes.items():  # the driver's part (cutting, assembling) and the counting grow with the bytes
        # one core rates at the tasks' own steady CPU per row (the single run's varies with the machine's load)
        one_core = single_setup + per_row * r
        model[name] = {k: rounded(one_core / ((serial + count / k) * r / rows + ship["build"]
                                              + ship["send"] * _rounds(k) / _rounds(n) + setup
                                              + max(per_row * r / k, join * r / rows)))
                       for k in (1, 2, 4, 8, 32)}
    emit(impl="model", serial_seconds=rounded(serial), count_seconds=rounded(count), ship_seconds=ship,
         join_cpu_seconds=rounded(join),
         setup_cpu_seconds_per_worker=rounded(setup),
         rate_cpu_us_per_row=rounded(per_row * 1e6), single_1thread_cpu_us_per_row=rounded(
             (cpu1 - single_setup) / rows * 1e6), workers_cpu_seconds=rounded(cpu_workers),
         single_1thread_cpu_seconds=rounded(cpu1), speedup_on_idle_cores=model,
         meets_0_8N={name: {k: v >= 0.8 * k for k, v in m.items()} for name, m in model.items()},
         notes="Amdahl from this run's measurements: T(N) = the driver's serial seconds (plan + assemble after the "
               "last part, scaled with the rows) + building the shipment + sending it (to one worker, then Dask's "
               "replicate: "
               "each holder copies to 2 more per round, so 1 + ceil(log3 N) transfers in a row) "
               "+ counting lines / N + a worker's setup (workspace, tariff, its first part's "
               "warm-up) + the larger of rows x the tasks' steady rating CPU per row / N and the CSV parts' "
               "copies' CPU seconds (they overlap, one copy at a time), against one core doing the setup "
               "once and the same rating CPU per row; assumes idle cores, one worker per core, parts enough for "
               "every worker and the disk keeping up: a model, not a measurement")

if __name__ == "__main__":
    main()
