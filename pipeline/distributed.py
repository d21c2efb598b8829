"""`anatole batch-rate --workers N | --scheduler tcp://HOST:PORT`: the same parse -> normalise -> rate path on Dask
distributed workers, one task per file or file chunk, for volumes one machine cannot rate in time.

Each task runs `pipeline.batchrate.batch_rate` itself, so the distributed result is the single-process result by
construction; the driver only cuts files and puts the pieces back together:

- A file of a format whose lines do not depend on each other (SPLIT) is cut at line ends into byte ranges of about
  `chunk_bytes`. A task reads its range where it lies in the file (batchrate.Span: no copy), after the file's
  leading header lines (CUCM's column names and types: the parser needs them); batch_rate writes the range's rows
  with the original file's line numbers and name straight into the parts folder, and the header lines' skips are
  taken out of the counts. A file whose header appears again further down (concatenated exports) is rated whole.
- Other formats (IP Office segments, Mitel and generic CSV records carry state from line to line) are one task
  per file.
- Parquet output is a directory of `part-NNNNN.parquet` files in input order (a dataset pyarrow, pandas, DuckDB
  and Spark read as one table); CSV output is one file: the driver's Joiner copies each part to its place as
  soon as the parts before it are done, while the others are still rated. Rejects go to `<out>.rejects.csv` as in
  the single-process run.

Workers must see the input files at the same absolute paths, and the output folder (a shared file system) when
the scheduler is remote. The driver ships the site (its compiled dial plan) and the compiled tariff once to each
worker (`shipment`, Dask scatter with broadcast: engine RateTables and ingest._dialplan.Tables pickle as their
arrays), and every part on that worker uses them. With `ship=False` each worker process opens the workspace
instead (kept by workspace path and anatole.toml's mtime) and loads the tariff (tariffs.load.compiled_tariff,
keyed by path, size, mtime and inode), once.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from i18n import _
from pipeline.batchrate import COLUMNS, BatchError, BatchResult, Progress, Span, batch_rate, check_output
from pipeline.workspace import ConfigError, Opener, Workspace, registered_opener

# format -> a pattern of the lines that change the parser's state after the file's leading header (None: every
# line stands alone). Files of these formats are split into byte ranges.
SPLIT: dict[str, re.Pattern[bytes] | None] = {
    "asterisk": None,
    "cucm": re.compile(rb"(?i)cdrrecordtype"),
}
CHUNK_BYTES = 32 << 20
MIN_AUTO_CHUNK = 4 << 20  # parts are made smaller for many workers, down to this
PARTS_PER_THREAD = 4
HEAD_BYTES = 1 << 20  # the leading header lines are looked for in the first MiB
SCAN_PIECE = 1 << 20  # the ranges' lines are counted in pieces of this size
# the local cluster's workers: no statistical profiler (its sampling costs CPU), and glibc's malloc left to keep
# the blocks' memory. Dask's default MALLOC_TRIM_THRESHOLD_=65536 also fixes the mmap threshold at 128 KiB, so
# every block's arrays are mapped and unmapped again (page faults): 40-90 % more CPU per row, measured here.
WORKER_CONFIG = {"distributed.worker.profile.enabled": False,
                 "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": 1 << 28,
                 "distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_": 1 << 26}
_CSV_END = b"\r\n"  # the csv module's line end, which batch_rate's CSV writer uses too
JOIN_THREADS = 2  # the driver's threads copying CSV parts into the output (one copy's reads overlap another's)


@dataclass(frozen=True)
class Part:
    """One task: a byte range of one input (end = -1: the whole file, read in place)."""

    index: int
    input: int  # index of the file in the inputs
    name: str  # the file as the user named it: what the output's file column says
    path: str  # its absolute path, as the workers open it
    start: int = 0
    end: int = -1
    first_line: int = 1  # number of the range's first line in the file
    header: bytes = b""  # the file's leading lines, written before the range (not for the first range)
    header_lines: int = 0


@dataclass(frozen=True)
class Job:
    """What every task needs besides its part; small, so that it travels with each task."""

    root: str  # the workspace folder
    configured: bool  # True: open anatole.toml there (a --site was given); False: a bare Workspace
    site: str | None
    tariff: str  # absolute
    fmt: str
    timezone: str
    parquet: bool
    parts_dir: str  # where tasks write their parts (the Parquet dataset itself, or a staging folder for CSV)
    # the loader of anatole.toml (anatole.config.open_workspace, registered on import): pickled by name
    opener: Opener | None = field(default_factory=registered_opener)


@dataclass
class Plan:
    parts: list[Part] = field(default_factory=list)
    split_files: int = 0  # files cut into more than one part


Mapper = Callable[[Callable[[Any], Any], list[Any]], list[Any]]  # map(fn, items) -> results in order, anywhere


def plan_parts(inputs: list[Path], fmt: str, encoding: str = "utf-8", chunk_bytes: int = CHUNK_BYTES,
               mapper: Mapper | None = None) -> Plan:
    """The tasks for these files: byte ranges of the big files of a SPLIT format, whole files otherwise.

    The driver only seeks to the cut points (after the first line end past every `chunk_bytes`) and reads the
    header lines; the ranges' lines are counted (and the state-changing lines looked for) by `mapper`, on the
    workers in parallel (anatole.distributed_batch_rate), so that no serial pass reads the whole input."""
    from ingest.cdr.blocks import ASCII_ENCODINGS

    mapper = mapper or (lambda fn, items: [fn(x) for x in items])
    cut: list[tuple[int, Path, list[int], bytes, int]] = []  # (input, path, starts + [size], header, its lines)
    for i, path in enumerate(inputs):
        size = path.stat().st_size
        if fmt in SPLIT and encoding.lower() in ASCII_ENCODINGS and size > chunk_bytes:
            header, header_lines = _header(path, fmt, encoding)
            cut.append((i, path, _cuts(path, size, chunk_bytes, len(header)) + [size], header, header_lines))
        else:
            cut.append((i, path, [0], b"", 0))
    scans = [(str(path), starts[k], starts[k + 1], len(header) if k == 0 else 0, fmt)
             for _unused, path, starts, header, _unused in cut if len(starts) > 2 for k in range(len(starts) - 1)]
    found = iter(mapper(scan_range, scans) if scans else [])
    plan = Plan()
    for i, path, starts, header, header_lines in cut:
        absolute = str(path.resolve())
        counted = [next(found) for _unused in range(len(starts) - 1)] if len(starts) > 2 else []
        if not counted or any(marked for _unused, marked in counted):  # small, not split, or its header comes again:
            plan.parts.append(Part(index=len(plan.parts), input=i, name=str(path), path=absolute, start=0, end=-1,
                                   first_line=1, header=b"", header_lines=0))  # one task reads it in order
            continue
        plan.split_files += 1
        first = 1
        for k, (lines, _marked) in enumerate(counted):
            plan.parts.append(Part(index=len(plan.parts), input=i, name=str(path), path=absolute, start=starts[k],
                                   end=starts[k + 1], first_line=first, header=header if k else b"",
                                   header_lines=header_lines if k else 0))
            first += lines
    return plan


def _cuts(path: Path, size: int, chunk_bytes: int, skip: int) -> list[int]:
    """Where the ranges of a file start: 0, then just after the first LF at or past each `chunk_bytes` from the
    previous start (and past the header's `skip` bytes). A CR LF is never cut; found by seeking, not reading."""
    starts = [0]
    at = max(chunk_bytes, skip)
    with path.open("rb") as f:
        while at < size:
            f.seek(at)
            end = -1
            while end < 0:
                buf = f.read(1 << 16)
                if not buf:
                    break
                k = buf.find(b"\n")
                if k >= 0:
                    end = f.tell() - len(buf) + k + 1
            if end < 0 or end >= size:
                break
            starts.append(end)
            at = end + chunk_bytes
    return starts


def scan_range(item: tuple[str, int, int, int, str]) -> tuple[int, bool]:
    """(lines, marked) of bytes start..end of a file: its line count (CR LF, LF and CR end a line, as
    ingest.cdr.blocks numbers lines) and whether a line that changes the parser's state (SPLIT[fmt]) appears past
    its first `skip` bytes (a task). Read in 1 MiB pieces into one buffer: no copy of the range."""
    from ingest.cdr._scan import count_lines

    path, start, end, skip, fmt = item
    marker = SPLIT.get(fmt)
    keep = 64  # bytes of the previous piece searched again: a marker is never cut
    size = SCAN_PIECE
    buf = bytearray(keep + size)
    view = memoryview(buf)
    lines, marked, filled, at, last = 0, False, 0, start, -1
    with open(path, "rb") as f:
        f.seek(start)
        while at < end:
            got = f.readinto(view[keep:keep + min(size, end - at)])
            if not got:
                break
            piece = view[keep:keep + got]
            lines += count_lines(piece)
            if last == 13 and piece[0] == 10:
                lines -= 1  # a CR LF cut between two pieces: one line end, counted twice
            last = piece[got - 1]
            if last not in (10, 13):
                lines -= 1  # count_lines counts a last line without its end: the next piece ends it
            if marker is not None and not marked:  # buf[keep + x - at] is byte x of the file
                lo = max(keep - filled, keep + start + skip - at)
                marked = lo <= keep + got and marker.search(buf, lo, keep + got) is not None
            view[:keep] = bytes(view[got:got + keep])  # the last `keep` bytes seen, before the next piece
            filled = min(keep, filled + got)
            at += got
    return lines + (last not in (10, 13, -1)), marked  # the range's last line, without an end (the file's end)


def _header(path: Path, fmt: str, encoding: str) -> tuple[bytes, int]:
    """The file's leading lines that the parser skips before its first record or reject (CUCM's names and types
    lines, a header some collectors add, blank lines), as bytes with their line ends, and how many."""
    from ingest.cdr import CallRecord, ParseContext, Reject, parser

    with path.open("rb") as f:
        head = f.read(HEAD_BYTES)
    count = 0
    for item in parser(fmt).parse(io.BytesIO(head), ParseContext(encoding=encoding, reference=0)):
        if isinstance(item, CallRecord | Reject):
            count = item.line - 1
            break
    else:
        return b"", 0  # no record in the first MiB: _ranges then splits with no header
    at = 0
    for _line in range(count):  # past `count` line ends (CR LF, LF or CR, as ingest.cdr.model.lines counts them)
        ends = [k for k in (head.find(b"\n", at), head.find(b"\r", at)) if k >= 0]
        at = min(ends) + 1
        if head[at - 1:at] == b"\r" and head[at:at + 1] == b"\n":
            at += 1
    return head[:at], count


# --- on the workers -------------------------------------------------------------------------------------------

_WORKSPACES: dict[tuple[str, bool, float], Any] = {}  # per worker process: the workspace and its compiled tariffs
_FIRST = [True]  # this worker process has not rated a part yet (its first part also warms imports and caches)


def _workspace(job: Job) -> Workspace:
    root = Path(job.root)
    config = root / "anatole.toml"
    key = (job.root, job.configured, config.stat().st_mtime if job.configured and config.exists() else 0.0)
    if key not in _WORKSPACES:
        try:
            if job.configured and job.opener is None:
                raise BatchError(_("{host}: {config}: no loader of anatole.toml was registered "
                                   "(pipeline.workspace.register_opener)").format(host=socket.gethostname(),
                                                                                  config=config))
            _WORKSPACES[key] = job.opener(root) if job.configured and job.opener else Workspace(root)
        except ConfigError as exc:
            raise BatchError(_("{host}: {config} is not valid: {problems}").format(
                host=socket.gethostname(), config=config, problems="; ".join(str(p) for p in exc.problems))) from None
    return _WORKSPACES[key]


def rate_part(part: Part, job: Job, shipped: Workspace | None = None) -> dict[str, Any]:
    """Rate one part with batch_rate into the job's parts folder; returns its counts (a Dask task) and its CPU
    seconds: the worker's setup (workspace and tariff, the first time only) and the rating. `shipped`: the
    driver's workspace part with the site and the compiled tariff (see `shipment`), which Dask hands every task
    of a worker as one object; without it the worker opens the workspace and loads the tariff itself, once."""
    began = time.thread_time()  # this task's thread: not the worker's communication threads
    ws = shipped if shipped is not None else _workspace(job)
    site = ws.sites.get(job.site) if job.site else None
    if job.site and site is None:
        raise BatchError(_("{host}: no [[site]] named {site!r} in {config}").format(
            host=socket.gethostname(), site=job.site, config=Path(job.root) / "anatole.toml"))
    ws.tariff(Path(job.tariff))  # once per worker process (cached): timed apart from the part's own work
    setup = time.thread_time() - began
    parts = Path(job.parts_dir)
    stem = f"part-{part.index:05d}"
    # a range is read where it lies, after the file's header lines; the part's lines and file column come out as
    # the whole file's (Span), so the outputs are written straight into the parts folder
    whole = part.end < 0
    span = Span(0 if whole else part.start, os.path.getsize(part.path) if whole else part.end,
                b"" if whole else part.header, 0 if whole else part.first_line - 1 - part.header_lines, part.name)
    out = parts / (f"{stem}.parquet" if job.parquet else f"{stem}.csv")
    try:
        result = batch_rate([Path(part.path)], tariff=Path(job.tariff), fmt=job.fmt, out=out, site=site,
                            timezone=job.timezone, ws=ws, span=span, threads=1)  # a worker per core fills
        # the machine (Dask runs one task per worker thread): threads of the task's own would compete for the cores
        os.replace(out.with_name(out.name + ".rejects.csv"), parts / f"{stem}.rejects.csv")
    except OSError as exc:
        raise BatchError(f"{socket.gethostname()}: {exc}") from None
    return {"index": part.index, "input": part.input, "read": result.read, "calls": result.calls,
            "rejected": result.rejected, "skipped": result.skipped - part.header_lines, "statuses": result.statuses,
            "cpu_seconds": {"setup": setup, "rate": time.thread_time() - began - setup},
            "first": bool(_FIRST and _FIRST.pop())}


def shipment(root: Path, site: str | None, tariff: Path, ws: Workspace | None = None) -> Workspace:
    """What every worker needs, built once by the driver and sent once to each worker (Dask scatter, broadcast):
    the site with its compiled dial plan and the compiled tariff (engine.RateTables and ingest._dialplan.Tables
    pickle as their arrays), in a bare workspace. A worker then neither reads anatole.toml nor loads the deck.
    `ws`: the workspace the caller already opened (else opened here with the registered loader)."""
    if ws is None:
        if site is None:
            ws = Workspace(root)
        else:
            opener = registered_opener()
            if opener is None:
                raise BatchError(_("{config}: no loader of anatole.toml was registered "
                                   "(pipeline.workspace.register_opener)").format(config=root / "anatole.toml"))
            try:
                ws = opener(root)
            except ConfigError as exc:
                raise BatchError(_("{config} is not valid: {problems}").format(
                    config=root / "anatole.toml", problems="; ".join(str(p) for p in exc.problems))) from None
    found = ws.sites.get(site) if site else None
    if site and found is None:
        raise BatchError(_("no [[site]] named {site!r} in {config}").format(site=site, config=root / "anatole.toml"))
    if found is not None:
        found.dialplan.compiled  # noqa: B018  built here (cached on the plan), shipped built
    return Workspace(path=root, sites={site: found} if site and found else {}, csv_profiles=dict(ws.csv_profiles),
                     _tariffs={tariff: ws.tariff(tariff)})


def _cell(value: str) -> bytes:
    """One CSV field as the csv module writes it."""
    text = io.StringIO()
    csv.writer(text).writerow([value])
    return text.getvalue()[:-2].encode("utf-8")


# --- the driver -----------------------------------------------------------------------------------------------


def distributed_batch_rate(inputs: list[Path], *, tariff: Path, fmt: str, out: Path, site: str | None = None,
                           workspace: Path | None = None, timezone: str = "UTC", scheduler: str | None = None,
                           workers: int | None = None, chunk_bytes: int = CHUNK_BYTES, encoding: str = "utf-8",
                           progress: Progress | None = None, ws: Workspace | None = None,
                           ship: bool = True) -> tuple[BatchResult, dict[str, Any]]:
    """batch_rate on Dask: a LocalCluster of `workers` processes, or the cluster at `scheduler`. Returns the
    merged counts (as batch_rate's) and facts about the run (parts, workers, the scheduler's address).
    `progress` is called as each part is done (bytes of the parts done, of all, rows read). `ws`: the workspace
    the caller opened at `workspace`, if any. `ship`: send the compiled site and tariff to each worker once
    (`shipment`); False: each worker opens the workspace and loads the tariff itself (the older path)."""
    try:
        from distributed import as_completed
    except ImportError:
        raise BatchError(_("--workers and --scheduler need Dask: pip install 'anatole[dask]'")) from None
    parquet = out.suffix.lower() == ".parquet"
    check_output(out, folder_ok=parquet)
    if parquet:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise BatchError(_("Parquet output needs pyarrow: pip install 'anatole[parquet]'")) from None
    root = (workspace or (ws.path if ws is not None else Path.cwd())).resolve()
    began = time.perf_counter()
    cargo = shipment(root, site, tariff.resolve(), ws) if ship else None  # before the cluster: errors come first
    building = time.perf_counter() - began
    with dask_client(scheduler, workers, BatchError) as client:
        info = client.scheduler_info(n_workers=-1).get("workers", {})
        threads = sum(int(w.get("nthreads", 1)) for w in info.values()) or 1
        total = sum(p.stat().st_size for p in inputs)
        # parts: at most chunk_bytes, and small enough that every worker thread gets several (the last ones finish
        # together), but not so small that the per-part costs show
        chunk = min(chunk_bytes, max(MIN_AUTO_CHUNK, total // (PARTS_PER_THREAD * threads)))
        began = time.perf_counter()
        counting = [0.0]

        def on_workers(fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
            t0 = time.perf_counter()
            try:
                return client.gather(client.map(fn, items, pure=False))
            finally:
                counting[0] += time.perf_counter() - t0

        plan = plan_parts(inputs, fmt, encoding, chunk, mapper=on_workers)
        planned = time.perf_counter() - began - counting[0]
        try:
            parts_dir = _prepare(out, parquet)
        except OSError as exc:
            _raise_output_error(exc, out)
        job = Job(root=str(root), configured=site is not None, site=site,
                  tariff=str(tariff.resolve()), fmt=fmt, timezone=timezone, parquet=parquet,
                  parts_dir=str(parts_dir))
        t0 = time.perf_counter()
        shipped = client.scatter(cargo, broadcast=True, hash=False) if cargo is not None else None
        shipping = time.perf_counter() - t0
        futures = client.map(rate_part, plan.parts, job=job, shipped=shipped, pure=False)
        sizes = {p.index: (p.end - p.start if p.end >= 0 else Path(p.path).stat().st_size) for p in plan.parts}
        done_bytes = done_rows = 0
        joiner = None if parquet else Joiner(out, parts_dir, len(plan.parts))
        try:
            results = []
            for future in as_completed(futures):
                results.append(future.result())  # a task's error is raised here
                if joiner is not None:
                    joiner.done(results[-1]["index"])
                if progress:
                    done_bytes += sizes[results[-1]["index"]]
                    done_rows += results[-1]["read"]
                    progress(done_bytes, total, done_rows)
        except BaseException as exc:  # a task's error (its message names the host), an interrupt, or the joiner's
            if joiner is not None:  # copies (a full disk): no half output
                joiner.abort()
            _cleanup(out, parts_dir, parquet)
            _raise_output_error(exc, out)
            raise
        address = client.scheduler.address
    result = _merge(inputs, results)
    began = time.perf_counter()
    try:
        joined = _assemble(out, parts_dir, parquet, len(plan.parts), joiner)
    except BaseException as exc:
        if joiner is not None:
            joiner.abort()
        _cleanup(out, parts_dir, parquet)
        _raise_output_error(exc, out)
        raise
    assembled = time.perf_counter() - began
    facts = {"parts": len(plan.parts), "split_files": plan.split_files, "workers": len(info), "threads": threads,
             "chunk_bytes": chunk, "scheduler": address,
             # the driver's own (serial) seconds: cutting, and assembling after the last part (the rejects, the
             # CSV copies still running); the wall seconds of counting the ranges' lines on the workers (parallel)
             "driver_seconds": {"plan": round(planned, 3), "assemble": round(assembled, 3)},
             # the CPU seconds of the CSV parts' copies into the output (the Joiner): overlapped with the rating
             "join_cpu_seconds": round(joined, 3),
             # once per run: the shipment built (site, tariff), then sent to every worker (grows with them)
             "ship_seconds": {"build": round(building, 3), "send": round(shipping, 3)},
             "count_seconds": round(counting[0], 3),
             "task_cpu_seconds": _task_cpu(results),
             "output": "parquet dataset (folder)" if parquet else "csv"}
    return result, facts


def _raise_output_error(exc: BaseException, out: Path) -> None:
    """An OSError of the driver's own writing (the parts folder, the joined output: a full disk) as a message
    naming --out; any other error is left to the caller to raise."""
    if isinstance(exc, OSError):
        raise BatchError(f"--out {out}: {exc.strerror or exc}") from None


def check_cluster_args(scheduler: str | None, workers: int | None, error: type[Exception] = BatchError) -> None:
    if (scheduler is None) == (workers is None):
        raise error(_("give either --workers N or --scheduler tcp://HOST:PORT"))
    if workers is not None and workers < 1:
        raise error(_("--workers {workers}: give 1 or more").format(workers=workers))
    found = scheduler is not None and _ADDRESS.fullmatch(scheduler)
    if scheduler is not None and not (found and int(found.group(1)) <= 65535):
        raise error(_("--scheduler {scheduler}: not an address like tcp://HOST:PORT").format(scheduler=repr(scheduler)))


# what a Dask scheduler prints: tcp://HOST:PORT (or tls, ucx; an IPv6 host in brackets)
_ADDRESS = re.compile(r"(?:tcp|tls|ucx)://(?:\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):(\d{1,5})")


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int | None,
                error: type[Exception] = BatchError) -> Iterator[Any]:
    """A Dask client: on a LocalCluster of `workers` processes (one thread each, WORKER_CONFIG), or on the cluster
    at `scheduler` once a worker has joined. Bad arguments and an unreachable scheduler raise `error` with a
    message for the user (batch-rate's BatchError, archive's ArchiveError)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise error(_("--workers and --scheduler need Dask: pip install 'anatole[dask]'")) from None
    check_cluster_args(scheduler, workers, error)
    with contextlib.ExitStack() as stack:
        if scheduler is not None:
            try:
                client = stack.enter_context(Client(scheduler, timeout="20s"))
                client.wait_for_workers(1, timeout=60)
            except (OSError, TimeoutError) as exc:
                raise error(_("--scheduler {scheduler}: cannot connect, or no worker joined in a minute ({why})"
                              ).format(scheduler=scheduler, why=exc or type(exc).__name__)) from None
        else:
            import dask

            with dask.config.set(WORKER_CONFIG):
                cluster = stack.enter_context(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                           dashboard_address=":0", silence_logs=40))
            client = stack.enter_context(Client(cluster))
        yield client


def _task_cpu(results: list[dict[str, Any]]) -> dict[str, float]:
    """The tasks' CPU seconds: worker setup (workspace, tariff), rating in each worker's first part (which also
    warms imports and caches) and in the others, with the rows of each: what a scale model needs."""
    out = {"setup": 0.0, "first_rate": 0.0, "first_rows": 0, "rate": 0.0, "rows": 0}
    for r in results:
        out["setup"] += r["cpu_seconds"]["setup"]
        key = "first_" if r.get("first") else ""
        out[key + "rate"] += r["cpu_seconds"]["rate"]
        out[key + "rows"] += r["read"]
    return {k: round(v, 3) for k, v in out.items()}


def _prepare(out: Path, parquet: bool) -> Path:
    """The folder the tasks write to, empty: the dataset folder itself (Parquet) or a staging folder (CSV)."""
    if parquet:
        if out.is_file():
            out.unlink()  # the single-process run writes a file of that name: replace it as it would
        elif out.is_dir():
            # parts, and what a run killed on the way leaves (batch_rate's staged files, the joined rejects)
            ours = (r"part-\d{5}\.(parquet|rejects\.csv)|\.part-\d{5}\.parquet\.partial-\w+(\.rejects\.csv)?"
                    r"|rejects\.joined")
            others = [p.name for p in out.iterdir() if not re.fullmatch(ours, p.name)]
            if others:
                raise BatchError(_("--out {out}: the folder holds files that are not parts of an earlier run "
                                   "({names}): give a new name").format(out=out, names=", ".join(sorted(others)[:3])))
            shutil.rmtree(out)
        out.mkdir(parents=True)
        return out
    staging = out.with_name(f".{out.name}.parts-{uuid.uuid4().hex[:8]}")
    staging.mkdir(parents=True)
    return staging


def _cleanup(out: Path, parts_dir: Path, parquet: bool) -> None:
    """After a failed run: no partial output (the dataset folder was emptied for this run, so all of it is ours)."""
    shutil.rmtree(parts_dir, ignore_errors=True)


class Joiner:
    """The CSV output put together while the workers rate. Part i's rows (after its header line) go to their
    place in the output as soon as parts 0..i are done, their sizes giving the place: os.copy_file_range with both
    offsets (in the kernel, server-side on NFS 4.2, a reflink where the file system shares blocks) on two threads
    of the driver, each part deleted once copied. What is left after the last part is that part's own copy, not a
    serial pass over the whole output. The output is staged in the parts folder and renamed into place by `close`:
    a failed run leaves none."""

    def __init__(self, out: Path, parts_dir: Path, n: int, threads: int = JOIN_THREADS) -> None:
        self.out, self.parts_dir, self.n = out, parts_dir, n
        self.head = b",".join(_cell(c) for c in COLUMNS) + _CSV_END  # every part's first line, and the output's
        self.staged = parts_dir / "joined.csv"
        self.fd = os.open(self.staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        os.write(self.fd, self.head)
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="anatole-join")
        self.copies: list[Future[float]] = []  # each copy's CPU seconds
        self.sizes: dict[int, int] = {}
        self.ready, self.at = 0, len(self.head)  # parts 0..ready-1 are placed up to byte `at`

    def done(self, index: int) -> None:
        """Part `index` is written: place it, and the parts after it that wait only for it."""
        self.sizes[index] = os.path.getsize(self.parts_dir / f"part-{index:05d}.csv") - len(self.head)
        while self.ready in self.sizes:
            self.copies.append(self.pool.submit(self._copy, self.ready, self.at))
            self.at += self.sizes.pop(self.ready)
            self.ready += 1

    def _copy(self, index: int, at: int) -> float:
        began = time.thread_time()
        src = self.parts_dir / f"part-{index:05d}.csv"
        with src.open("rb") as f:
            if f.read(len(self.head)) != self.head:
                raise BatchError(_("{part}: a part of the output does not begin with its header line").format(
                    part=src))
            _copy_range(f.fileno(), self.fd, len(self.head), os.fstat(f.fileno()).st_size - len(self.head), at)
        src.unlink()
        return time.thread_time() - began

    def close(self) -> float:
        """Wait for the copies and put the output in place; returns the copies' CPU seconds. That, not their wall
        seconds, is what a core must give them: a file system takes one file's writes one at a time (its inode lock),
        and on a busy machine a copy's wall seconds also count the time other processes held the cores."""
        try:
            if self.ready != self.n:
                raise BatchError(f"{self.out}: {self.n - self.ready} parts of {self.n} were not placed")
            seconds = sum(c.result() for c in self.copies)
        finally:
            self.abort()
        os.replace(self.staged, self.out)
        return seconds

    def abort(self) -> None:
        """Stop: the copies not begun are dropped, the output left staged (the caller removes the folder)."""
        self.pool.shutdown(cancel_futures=True)
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _copy_range(src: int, dst: int, start: int, length: int, at: int) -> None:
    """`length` bytes of src from `start` to dst at `at`, both positioned (threads share dst): in the kernel where
    it can (os.copy_file_range), else by reads and writes."""
    try:
        while length > 0:
            done = os.copy_file_range(src, dst, min(length, 1 << 30), start, at)
            if done == 0:
                break
            start, at, length = start + done, at + done, length - done
    except (AttributeError, OSError):  # no copy_file_range here (another OS, across file systems)
        pass
    while length > 0:
        piece = os.pread(src, min(length, 1 << 20), start)
        if not piece:
            raise BatchError(f"fd {src}: ended {length} bytes early")
        os.pwrite(dst, piece, at)
        start, at, length = start + len(piece), at + len(piece), length - len(piece)


def _assemble(out: Path, parts_dir: Path, parquet: bool, n: int, joiner: Joiner | None = None) -> float:
    """Every part's rejects into `<out>.rejects.csv`; for CSV, the parts into `out` in order (through `joiner`,
    which the caller fed as the parts came, or here). Returns the copies' CPU seconds."""
    rejects = parts_dir / "rejects.joined"  # renamed beside the output at the end, as the output is
    with rejects.open("wb") as f:
        f.write(b"file,line,reason,raw" + _CSV_END)
        for i in range(n):
            part = parts_dir / f"part-{i:05d}.rejects.csv"
            with part.open("rb") as src:
                src.readline()  # each part's header line
                shutil.copyfileobj(src, f, 1 << 20)
            part.unlink()
    if parquet:
        os.replace(rejects, out.with_name(out.name + ".rejects.csv"))
        return 0.0
    if joiner is None:
        joiner = Joiner(out, parts_dir, n)
        for i in range(n):
            joiner.done(i)
    seconds = joiner.close()
    os.replace(rejects, out.with_name(out.name + ".rejects.csv"))
    shutil.rmtree(parts_dir)
    return seconds


def _merge(inputs: list[Path], results: list[dict[str, Any]]) -> BatchResult:
    """The tasks' counts as one BatchResult, per file in input order (as the single-process run gives them)."""
    merged = BatchResult()
    files = [{"file": str(p), "read": 0, "calls": 0, "rejected": 0, "skipped": 0} for p in inputs]
    for r in sorted(results, key=lambda r: r["index"]):
        for key in ("read", "calls", "rejected", "skipped"):
            files[r["input"]][key] += r[key]
            setattr(merged, key, getattr(merged, key) + r[key])
        for status, k in r["statuses"].items():
            merged.statuses[status] = merged.statuses.get(status, 0) + k
    merged.files = files
    return merged


# --- what-if over archived month partitions (anatole whatif --workers N | --scheduler ADDR) ------------------------


@dataclass(frozen=True)
class WhatifJob:
    """What every what-if task needs besides its partition's file."""

    start: int
    end: int
    sites: list[str]
    only: bool  # --site given: the calls of other sites left out
    countries: dict[str, str]
    tariffs: list[tuple[str, str]]  # (label, absolute path of the tariff's TOML)
    # the archive's reader (anatole.archive: whatif_columns, keep_sites, ArchiveError), passed in by the caller
    # (arrows point down) and pickled by name
    read: Callable[..., dict[str, Any]]
    keep: Callable[[dict[str, Any]], dict[str, Any]]
    error: type[Exception]


def whatif_part(path: str, job: WhatifJob, shipped: list[tuple[str, Any]] | None = None) -> dict[str, Any]:
    """A Dask task: one archived month partition rated with every candidate tariff (`shipped`: the driver's
    compiled tariffs, sent once to each worker; else loaded once per worker process), as tem.whatif.totals:
    exact integers the driver sums."""
    from tariffs.load import compiled_tariff
    from tem.whatif import totals

    try:
        compiled = shipped if shipped is not None else [(label, compiled_tariff(p)) for label, p in job.tariffs]
        cols = job.read(path, job.start, job.end, job.sites)
    except (OSError, job.error) as exc:
        raise job.error(f"{socket.gethostname()}: {exc}") from None
    if job.only:
        cols = job.keep(cols)
    return totals(cols, job.sites, job.countries, compiled, threads=1)  # a worker per core: no threads of its own


def distributed_whatif(cols: dict[str, Any], parts: list[str], start: int, end: int, sites: list[str], only: bool,
                       countries: dict[str, str], tariffs: list[tuple[str, Any]], paths: list[str], *,
                       scheduler: str | None = None, workers: int | None = None,
                       progress: Callable[..., None] | None = None, read: Callable[..., dict[str, Any]],
                       keep: Callable[[dict[str, Any]], dict[str, Any]], error: type[Exception]) -> dict[str, Any]:
    """What-if with one Dask task per archived month partition (`parts`, files the workers open at the same
    paths); the store's calls `cols` are rated here meanwhile. The integer totals are summed: the result is the
    single-process one."""
    from distributed import as_completed

    from tem import whatif as wi

    check_cluster_args(scheduler, workers, error)
    if not parts:  # no archived month in the period: nothing for the workers (no cluster started for nothing)
        return wi.report(wi.totals(cols, sites, countries, tariffs), sites)
    job = WhatifJob(start=start, end=end, sites=list(sites), only=only, countries=dict(countries),
                    tariffs=[(label, str(Path(p).resolve())) for (label, _unused), p in zip(tariffs, paths)],
                    read=read, keep=keep, error=error)
    with dask_client(scheduler, workers, error) as client:
        [shipped] = client.scatter([list(tariffs)], broadcast=True, hash=False)  # the compiled tariffs, once each
        futures = client.map(whatif_part, parts, job=job, shipped=shipped, pure=False)
        results = [wi.totals(cols, sites, countries, tariffs)]
        for k, future in enumerate(as_completed(futures), start=1):
            results.append(future.result())  # a task's error is raised here
            if progress:
                progress(k, len(parts))
    return wi.report(wi.merge(results), sites)
