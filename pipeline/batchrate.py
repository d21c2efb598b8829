"""`anatole batch-rate`: CDR files -> rated CSV or Parquet, streamed in chunks, no database (call centres).

Same parse -> normalise -> rate path as `import cdr`, with bounded memory: each chunk is written before the next
is read. Formats with a block scanner (ingest.cdr.blocks) take the columnar path (pipeline.columnar), the others
the row parser. Rejects go to `<out>.rejects.csv` with file, line, reason and raw text, so nothing is lost.
"""

from __future__ import annotations

import csv
import ctypes
import datetime as dt
import gc
import io
import os
import queue
import re
import stat
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from engine import STATUS_NAMES
from engine.money import format_money
from i18n import _
from ingest._slices import FIXED, INT, MONEY, SLICE, TABLE, TIME, strings, write_csv
from ingest.cdr import CallRecord, ParseContext, Reject, Skipped, parser
from ingest.cdr.blocks import (
    DIRECTIONS,
    DISPOSITIONS,
    NONE,
    Block,
    file_blocks,
    has_scanner,
    raw_blocks,
    scanner,
)
from ingest.dialplan import DialPlan
from pipeline.cdrimport import call_rows
from pipeline.columnar import STATUSES, Rated, rate_block
from pipeline.formatcheck import wrong_format
from pipeline.outfile import OutFile
from pipeline.workspace import Site, Source, Workspace
from store import CALL_COLUMNS
from store.cells import neutralise

CHUNK = 50_000
READ_AHEAD = 2  # blocks read ahead of the one being handed out (file_blocks, on several threads)
_SPECIAL = re.compile(r'[,"\r\n]')
_SPECIAL_BYTES = np.zeros(256, bool)  # the same as bytes (never inside a character UTF-8 writes in several)
_SPECIAL_BYTES[np.frombuffer(b',"\r\n', np.uint8)] = True
COLUMNS = ("file", "line", "id", "start", "direction", "extension", "trunk", "caller", "dialled", "number",
           "disposition", "billable_seconds", "status", "destination", "prefix", "band", "billed_seconds", "cost",
           "currency")
_IDX = {name: CALL_COLUMNS.index(name) for name in CALL_COLUMNS}
_INT_COLUMNS = ("line", "billable_seconds", "billed_seconds")  # int64 in Parquet; the others are text
_PER_CALL = ("line", "id", "start", "caller", "dialled", "number")  # Parquet: no dictionary


class BatchError(Exception):
    pass


@dataclass(frozen=True)
class Span:
    """A part of one input, rated in place (a Dask task): bytes start..end of the file, after the file's leading
    `header` lines (CUCM's names and types: the parser needs them); line numbers shifted by `delta`, the file column
    saying `name` (the file as the user named it)."""

    start: int
    end: int
    header: bytes = b""
    delta: int = 0
    name: str = ""


class _SpanReader(io.RawIOBase):
    """`header`, then bytes start..end of an open file, read where they lie (no copy of the part)."""

    def __init__(self, file: Any, span: Span) -> None:
        self.file, self.head, self.at, self.end = file, memoryview(span.header), span.start, span.end

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        if self.head:
            k = min(len(view), len(self.head))
            view[:k] = self.head[:k]
            self.head = self.head[k:]
            return k
        k = min(len(view), self.end - self.at)
        if k <= 0:
            return 0
        self.file.seek(self.at)
        got = self.file.readinto(view[:k])
        self.at += got
        return got


Progress = Callable[[int, int, int], None]  # (bytes done, bytes in all, rows done): after each part is written


@dataclass
class BatchResult:
    read: int = 0
    calls: int = 0
    rejected: int = 0
    skipped: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)


def check_regular(inputs: list[Path]) -> None:
    """Refuse (BatchError) a pipe or a device among the inputs: the CLI reads the start of each input to check (or
    detect) its format, then reads it again to rate it, and a stream's start, once read, is gone (a pipe on
    /dev/stdin lost its first 64 kB of calls that way)."""
    for path in inputs:
        if not path.is_file():
            raise BatchError(_("{path}: not a regular file (a pipe or a device): batch-rate reads the start of each "
                               "input twice, to check its format and then to rate it; save the stream to a file "
                               "first. Nothing was written.").format(path=path))


def check_formats(inputs: list[Path], fmt: str, *, detected: bool, timezone: str = "UTC",
                  profile: dict[str, Any] | None = None, encoding: str = "utf-8") -> None:
    """Refuse (BatchError) before anything is written when most of the first lines of an input are rejected as
    `fmt` (pipeline.formatcheck: the same rule and message as `import cdr`). The CLI checks every input before
    rating on one machine or on Dask (whose tasks see parts of files, too little to judge a file by), after
    check_regular (a stream's start, once read here, would be gone)."""
    for k, path in enumerate(inputs):
        ctx = ParseContext(timezone=timezone, reference=int(path.stat().st_mtime), profile=profile or {},
                           encoding=encoding)
        how = "given" if not detected else "detected" if k == 0 else f"detected on {inputs[0]}"
        refused = wrong_format(path, fmt, ctx, how, outcome=_("Nothing was written."))
        if refused:
            raise BatchError(refused)


def batch_rate(inputs: list[Path], *, tariff: Path, fmt: str, out: Path, site: Site | None = None,
               timezone: str = "UTC", ws: Workspace | None = None, profile: dict[str, Any] | None = None,
               threads: int | None = None, span: Span | None = None, progress: Progress | None = None
               ) -> BatchResult:
    """Rate `inputs` into `out`; blocks of scanned formats are rated on `threads` threads (default: one per core),
    written in file order. `span`: rate only that part of the one input (pipeline.distributed). `progress` is
    called after each block or chunk is written."""
    if span is not None and len(inputs) != 1:
        raise BatchError("a span is a part of one input")
    check_output(out)
    ws = ws or Workspace(Path.cwd())
    if profile is None:  # a Dask task: the profile of a csv:NAME format from the shipped workspace
        profile = csv_profile(ws, fmt)
    _keep_freed_memory()
    compiled = ws.tariff(tariff)
    if site is None:  # numbers must already be international (+CC...)
        site = Site(name="", country="ZZ", timezone=timezone, dialplan=DialPlan("ZZ", international_prefix=""),
                    tariff=tariff)
    else:  # --tariff prices every call, whatever the site's own tariffs
        site = replace(site, tariff=tariff, trunk_tariffs={})
    source = Source(name="batch", site=site.name, format=fmt, timezone=site.timezone if site.name else timezone,
                    profile=profile or {})
    module = parser(fmt)
    result = BatchResult()
    tables = _tables(tariff, compiled)
    rejects_path = out.with_name(out.name + ".rejects.csv")
    # both files are written under names of their own and renamed into place once complete: a run that fails or
    # is interrupted leaves the previous output (or none), never a half-written one
    staged = out.with_name(f".{out.name}.partial-{uuid.uuid4().hex[:8]}")
    staged_rejects = staged.with_name(staged.name + ".rejects.csv")
    writer = None
    try:
        writer = _writer(out, staged)
        _batch(inputs, writer, staged_rejects, result, ws, source, site, module, tables, threads, span, progress)
        writer.close()
        os.replace(staged, out)
        os.replace(staged_rejects, rejects_path)
    except BaseException as exc:
        if writer is not None:
            writer.abort()
        staged.unlink(missing_ok=True)
        staged_rejects.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # a full disk, a file gone: said with the file, not as a traceback
            ours = exc.filename in (None, str(staged), str(staged_rejects))
            raise BatchError(f"{'--out ' + str(out) if ours else exc.filename}: {exc.strerror or exc}") from None
        raise
    return result


def csv_profile(ws: Workspace, fmt: str) -> dict[str, Any] | None:
    """The [csv.NAME] profile of a `csv:NAME` format (None for the other formats); BatchError when there is none."""
    if fmt.partition(":")[0] != "csv":
        return None
    profile = ws.csv_profiles.get(fmt.partition(":")[2])
    if not profile:
        raise BatchError(_("format {fmt!r}: no [csv.{profile}] profile in anatole.toml").format(
            fmt=fmt, profile=fmt.partition(":")[2]))
    return profile


def check_output(out: Path, folder_ok: bool = False) -> None:
    """--out checked before anything is read or written: a .csv or .parquet name, its folder there and writable,
    not itself a folder (`folder_ok`: a Parquet dataset folder, as Dask writes)."""
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise BatchError(_("--out {out}: give a .csv or .parquet file").format(out=out))
    folder = out.parent
    if not folder.is_dir():
        raise BatchError(_("--out {out}: the folder {folder} does not exist").format(out=out, folder=folder))
    if out.is_dir() and not folder_ok:
        raise BatchError(_("--out {out} is a folder: give a file name").format(out=out))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise BatchError(_("--out {out}: no permission to write in {folder}").format(out=out, folder=folder))


def _batch(inputs: list[Path], writer: _CsvWriter | _ParquetWriter, rejects_path: Path, result: BatchResult,
           ws: Workspace, source: Source, site: Site, module: Any, tables: _Tables, threads: int | None,
           span: Span | None, progress: Progress | None) -> None:
    """batch_rate's work: every input's calls to `writer`, its rejects to `rejects_path`, the counts to `result`."""
    threads = threads or os.cpu_count() or 1
    total = span.end - span.start if span else sum(p.stat().st_size for p in inputs)
    done_bytes = done_rows = 0
    with _no_cycle_collector(), rejects_path.open("w", newline="", encoding="utf-8") as rf, \
            ThreadPoolExecutor(threads) as pool:
        rejects = csv.writer(rf)
        rejects.writerow(("file", "line", "reason", "raw"))
        for path in inputs:
            label, delta = (Path(span.name or path), span.delta) if span else (path, 0)
            counts = {"file": str(label), "read": 0, "calls": 0, "rejected": 0, "skipped": 0}
            ctx = ParseContext(timezone=source.timezone, reference=int(path.stat().st_mtime), profile=source.profile,
                               encoding=source.encoding)
            with path.open("rb") as file:
                stream = io.BufferedReader(_SpanReader(file, span), 1 << 20) if span else file
                if has_scanner(source.format, source.encoding):
                    # a whole regular file rated on other threads: read around the page cache (file_blocks), on
                    # a thread of its own (the reads wait for the disk while this thread writes); a part through
                    # its span reader, a pipe as a stream, and on one thread all in line, through the page cache
                    several = threads > 1
                    if several and span is None and stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                        reads = _read_ahead(file_blocks(path), READ_AHEAD)
                    else:
                        reads = raw_blocks(stream)
                    # one block queued beyond the threads: a thread that is done while this one writes the
                    # output finds its next block waiting
                    parts = _in_order(pool, _block_tasks(ws, source, site, label, delta, reads, ctx, tables,
                                                         writer.arrow), threads + 1 if several else 1)
                else:
                    since = _tell(stream)
                    parts = (_rows_part(ws, source, site, label, delta, chunk, tables.decimals, since)
                             for chunk in _chunks(module.parse(stream, ctx)))
                for part in parts:
                    writer.write(part.data)
                    if progress:
                        done_bytes += part.nbytes
                        done_rows += part.calls + part.rejected
                        progress(min(done_bytes, total), total, done_rows)
                    rejects.writerows([tuple(neutralise(c) for c in r) for r in part.rejects])  # raw text
                    for key in ("calls", "rejected", "skipped"):
                        counts[key] += getattr(part, key)
                    for status, k in part.statuses.items():
                        result.statuses[status] = result.statuses.get(status, 0) + k
            counts["read"] = counts["calls"] + counts["rejected"]
            for key in ("read", "calls", "rejected", "skipped"):
                setattr(result, key, getattr(result, key) + counts[key])
            result.files.append(counts)


@contextmanager
def _no_cycle_collector() -> Iterator[None]:
    """Python's cycle collector paused while a batch runs: its passes over the long-lived objects (a tariff's
    hundreds of thousands of strings) took 8-14 % of a batch's CPU, and a batch makes a handful of cycles, collected
    once it is done."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _keep_freed_memory() -> None:
    """glibc only: serve the blocks' buffers (8 to 30 MB each) from memory freed by the blocks before instead of
    fresh mappings, and keep up to 256 MB freed rather than give it back. Each block otherwise touches new pages,
    and on a VM a first touch costs some 3.6 us per 4 kB page: 25-30,000 of them per million rows on two threads,
    about 5 % of the CPU. Elsewhere (or if refused) nothing changes."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD (its largest value): below it, no mapping of its own
        libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


@dataclass
class _Part:
    """One block's or chunk's output, applied in order by the caller."""

    data: bytes | memoryview = b""  # a block's CSV lines as the writer made them (not copied)
    nbytes: int = 0  # input bytes the part covers (for progress)
    rejects: list[tuple] = field(default_factory=list)
    calls: int = 0
    rejected: int = 0
    skipped: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    def add(self, other: _Part) -> None:
        self.data += other.data
        self.nbytes += other.nbytes
        self.rejects += other.rejects
        self.calls += other.calls
        self.rejected += other.rejected
        self.skipped += other.skipped
        for status, k in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + k


def _in_order(pool: ThreadPoolExecutor, tasks: Iterator[Callable[[], _Part]], ahead: int) -> Iterator[_Part]:
    """Run tasks on the pool, at most `ahead` past the one being written (bounded memory), results in order; with
    one thread, here (a profiler then sees them, and Dask workers, which run one thread each, save the hand-off)."""
    if ahead <= 1:
        yield from (task() for task in tasks)
        return
    pending: deque[Future[_Part]] = deque()
    for task in tasks:
        pending.append(pool.submit(task))
        if len(pending) > ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _read_ahead(items: Iterator[Any], depth: int) -> Iterator[Any]:
    """`items` made on a thread of their own, at most `depth` ahead of the caller (blocks read while the caller
    writes); an error there is raised here, and stopping early stops that thread and closes `items`."""
    ready: queue.Queue[tuple[bool, Any]] = queue.Queue(depth)
    stop = threading.Event()

    def put(entry: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            try:
                ready.put(entry, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    def run() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((False, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            put((False, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=run, name="anatole-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            more, item = ready.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stop.set()
        worker.join()


def _tell(stream: Any) -> Callable[[], int]:
    """The input bytes read since the last call (a row chunk's share, for progress)."""
    last = [0]

    def since() -> int:
        try:
            now = stream.tell()
        except (OSError, ValueError):
            return 0
        got, last[0] = now - last[0], now
        return got

    return since


def _rows_part(ws: Workspace, source: Source, site: Site, path: Path, delta: int, items: list[Any], decimals: int,
               nbytes: Callable[[], int] | None = None) -> _Part:
    """The row path: parsed items -> CSV lines of their calls, rejects, counts; lines shifted by `delta`."""
    part = _Part(nbytes=nbytes() if nbytes else 0)
    records = []
    for item in items:
        if isinstance(item, CallRecord):
            records.append(item)
        elif isinstance(item, Reject):
            part.rejects.append((str(path), item.line + delta, item.reason, item.raw))
            part.rejected += 1
        elif isinstance(item, Skipped):
            part.skipped += 1
    if records:
        part.calls = len(records)
        rows = call_rows(ws, source, site, records, None)
        for row in rows:
            part.statuses[row[_IDX["status"]]] = part.statuses.get(row[_IDX["status"]], 0) + 1
        text = io.StringIO()
        csv.writer(text).writerows(_out_row(path, r, decimals, delta) for r in rows)
        part.data = text.getvalue().encode("utf-8")
    return part


def _block_tasks(ws: Workspace, source: Source, site: Site, path: Path, delta: int,
                 reads: Iterator[tuple[bytearray, int, int]], ctx: ParseContext, tables: _Tables, arrow: bool = False
                 ) -> Iterator[Callable[[], _Part]]:
    """One task per block of `reads` (raw_blocks, file_blocks); a format whose blocks carry state from one to the
    next is scanned here, in order."""
    scan = scanner(source.format, ctx)
    for buf, first, lines in reads:
        block: Callable[[], Block] = partial(scan.block, buf, first, lines)
        if not scan.stateless:
            block = partial(lambda b: b, block())
        yield partial(_block_part, ws, source, site, path, delta, block, tables, len(buf), arrow)


def _block_part(ws: Workspace, source: Source, site: Site, path: Path, delta: int, get_block: Callable[[], Block],
                tables: _Tables, nbytes: int = 0, arrow: bool = False) -> _Part:
    """The columnar path of one block: the scanned rows written by the Cython writer, the other lines by the row
    path, in line order (the scanner leaves few lines, so the runs between them are long). Runs on a pool thread:
    the scan, the engine and the writer release the GIL. `arrow`: the scanned rows as Arrow tables for the Parquet
    writer (part.data is then a list of tables and CSV texts, in line order)."""
    block = get_block()
    rated = rate_block(ws, site, source, block, tables.path)
    columns = tables.columns(path, block, rated, delta, raw=arrow)
    def write(rows: np.ndarray) -> Any:
        return _arrow_table(block.buf, columns, rows) if arrow else write_csv(block.buf, rows, columns)

    part = _Part(calls=len(rated.rows))
    # counts per status code (a code of -1, never given, would count as STATUSES[-1] as indexing does)
    for code, k in enumerate(np.bincount(rated.status.astype(np.int64) % len(STATUSES), minlength=len(STATUSES))):
        if k:
            part.statuses[STATUSES[code]] = int(k)
    pieces: list[Any] = []
    done = 0  # rows of rated.rows written
    for index, item in block.items:
        upto = int(np.searchsorted(rated.rows, index))
        if upto > done:
            pieces.append(write(rated.rows[done:upto]))
            done = upto
        slow = _rows_part(ws, source, site, path, delta, [item], tables.decimals)
        pieces.append(slow.data)
        slow.data = b""
        part.add(slow)
    if done < len(rated.rows):
        pieces.append(write(rated.rows[done:]))
    if arrow:
        part.data = pieces
    else:
        part.data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
    part.nbytes = nbytes
    return part


def _arrow_table(buf: bytes | bytearray, columns: list[tuple], rows: np.ndarray) -> Any:
    """The rows of a block as an Arrow table of the Parquet output's schema, from the write_csv column specs (raw
    text tables): the values write_csv writes, unquoted, empty ones null, as the CSV output read back by pyarrow
    (_ParquetWriter.from_csv) gives them."""
    import pyarrow as pa

    arrays = []
    for name, spec in zip(COLUMNS, columns):
        if name in _INT_COLUMNS:
            values = np.asarray(spec[1])[rows]
            arrays.append(pa.array(values, pa.int64(), mask=values == NONE))
        else:
            offsets, data, valid = strings(buf, rows, spec)
            arrays.append(pa.StringArray.from_buffers(len(rows), pa.py_buffer(offsets), pa.py_buffer(data),
                                                      pa.py_buffer(np.packbits(valid, bitorder="little"))))
    return pa.Table.from_arrays(arrays, names=list(COLUMNS))


_LAST_TABLES: list[_Tables] = []  # the last tariff's tables: a Dask worker rates many parts with one tariff


def _tables(path: Path, compiled: Any) -> _Tables:
    """The output's text tables of this compiled tariff, made once while the same tariff is used."""
    last = _LAST_TABLES[:1]
    if last and last[0].compiled is compiled and last[0].path == path:
        return last[0]
    tables = _Tables(path, compiled)
    _LAST_TABLES[:] = [tables]
    return tables


class _Tables:
    """The output's text tables, encoded and CSV-quoted once per run (a deck has up to millions of prefixes); as
    they are (not quoted) too, for Parquet, made when first asked for."""

    def __init__(self, path: Path, compiled: Any) -> None:
        t = compiled.tariff
        self.path, self.compiled = path, compiled
        self.decimals = t.decimals
        self.text = {"prefix": getattr(compiled.prefixes, "digits", compiled.prefixes),
                     "destination": t.rows.destinations, "band": [b.name for b in t.bands], "currency": [t.currency],
                     "direction": DIRECTIONS, "disposition": DISPOSITIONS, "status": STATUSES}
        self.quoted = {name: _widest(_joined(values)) for name, values in self.text.items()}
        self._raw: dict[str, tuple[bytes, np.ndarray, int]] = {}

    def tables(self, raw: bool) -> dict[str, tuple[bytes, np.ndarray, int]]:
        if raw and not self._raw:
            self._raw = {name: _widest(_joined(values, quote=False)) for name, values in self.text.items()}
        return self._raw if raw else self.quoted

    def columns(self, path: Path, block: Block, rated: Rated, delta: int = 0, raw: bool = False) -> list[tuple]:
        """write_csv column specs in COLUMNS order, arrays indexed by the block's line index; `raw`: text tables not
        quoted (for Parquet)."""
        n = len(block.line)
        tables = self.tables(raw)

        def spread(values: np.ndarray, fill: int, dtype: Any) -> np.ndarray:
            if len(rated.rows) == n:  # every line is a row (the usual block)
                return values.astype(dtype, copy=False)
            full = np.full(n, fill, dtype)
            full[rated.rows] = values
            return full

        engine = (rated.status >= 0) & (rated.status < len(STATUS_NAMES)) & (rated.tariff >= 0)
        return [
            (TABLE, np.zeros(n, np.int32), _joined([str(path)], quote=not raw)),
            (INT, block.line + delta if delta else block.line),
            (SLICE, *block.slice("native_id")),
            (TIME, block.start),
            (TABLE, spread(rated.direction, -1, np.int32), tables["direction"]),
            (SLICE, *block.slice("extension")),
            (SLICE, *block.slice("trunk")),
            (SLICE, *block.slice("caller")),
            (SLICE, *block.slice("dialled")),
            (FIXED, spread(rated.number, -1, np.int32), rated.numbers.e164),  # as they are: no table per block
            (TABLE, block.disposition.astype(np.int32), tables["disposition"]),
            (INT, block.billable.astype(np.int64)),
            (TABLE, spread(rated.status, -1, np.int32), tables["status"]),
            (TABLE, spread(rated.destination, -1, np.int32), tables["destination"]),
            (TABLE, spread(rated.prefix, -1, np.int32), tables["prefix"]),
            (TABLE, spread(rated.band, -1, np.int32), tables["band"]),
            (INT, spread(rated.billed, NONE, np.int64)),
            (MONEY, spread(rated.cost, NONE, np.int64), self.decimals),
            (TABLE, spread(np.where(engine, 0, -1), -1, np.int32), tables["currency"]),
        ]


def _widest(table: tuple[bytes, np.ndarray]) -> tuple[bytes, np.ndarray, int]:
    """A text table with its longest entry, which write_csv would otherwise find again for every block."""
    return (*table, int(np.diff(table[1]).max(initial=0)))


def _joined(values: Any, quote: bool = True) -> tuple[bytes, np.ndarray]:
    """A text table for write_csv as (cells end to end, int64 starts[len + 1]), the cells as _cell writes them
    (`quote`) or as they are. An 'S' array (numbers, prefixes) is joined with numpy, no Python object per entry;
    strings are checked for quoting once over the whole table, and only the ones that need it go through the csv
    module."""
    if isinstance(values, np.ndarray) and values.dtype.kind == "S":
        n, width = len(values), values.dtype.itemsize
        if n == 0 or width == 0:
            return b"", np.zeros(n + 1, np.int64)
        raw = np.ascontiguousarray(values).view(np.uint8).reshape(n, width)
        if not quote or not np.isin(raw, np.frombuffer(b'\r\n,"', np.uint8)).any():
            lengths = np.char.str_len(values).astype(np.int64)
            starts = np.zeros(n + 1, np.int64)
            np.cumsum(lengths, out=starts[1:])
            return raw[np.arange(width) < lengths[:, None]].tobytes(), starts
        values = [v.decode("utf-8") for v in values.tolist()]
    values = list(values)
    lengths = np.fromiter(map(len, values), np.int64, len(values))
    data = "".join(values).encode("utf-8")
    if len(data) != lengths.sum():  # lengths in bytes as written: each character's continuation bytes added
        at = np.flatnonzero((np.frombuffer(data, np.uint8) & 0xC0) == 0x80)
        at -= np.arange(1, len(at) + 1)  # the character each continuation byte belongs to
        lengths += np.bincount(np.searchsorted(np.cumsum(lengths), at, side="right"), minlength=len(values))
    if quote:  # the few entries with a comma, quote or line end: quoted by the csv module, spliced in
        ends = np.cumsum(lengths)
        special = np.flatnonzero(_SPECIAL_BYTES[np.frombuffer(data, np.uint8)])
        quoted = sorted(set(np.searchsorted(ends, special, side="right").tolist()))
        pieces, at = [], 0
        for k in quoted:
            cell = _cell(values[k])
            pieces += [data[at:ends[k] - lengths[k]], cell]
            at, lengths[k] = int(ends[k]), len(cell)
        if quoted:
            data = b"".join([*pieces, data[at:]])
    starts = np.zeros(len(values) + 1, np.int64)
    np.cumsum(lengths, out=starts[1:])
    return data, starts


def _cell_row(values: tuple[str, ...]) -> bytes:
    text = io.StringIO()
    csv.writer(text).writerow(values)
    return text.getvalue().encode("utf-8")


def _cell(value: str) -> bytes:
    """One CSV field as the csv module writes it (QUOTE_MINIMAL)."""
    if not _SPECIAL.search(value):
        return value.encode("utf-8")
    text = io.StringIO()
    csv.writer(text).writerow([value, ""])
    return text.getvalue()[:-3].encode("utf-8")  # drop ",\r\n"


def _chunks(items: Iterator[Any]) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _out_row(path: Path, row: tuple, decimals: int, delta: int = 0) -> tuple:
    status = row[_IDX["status"]]
    cost = row[_IDX["cost"]]
    return (str(path), row[_IDX["line"]] + delta, row[_IDX["native_id"]],
            dt.datetime.fromtimestamp(row[_IDX["start"]], dt.timezone.utc).isoformat().replace("+00:00", "Z"),
            row[_IDX["direction"]], row[_IDX["extension"]], row[_IDX["trunk"]], row[_IDX["caller"]],
            row[_IDX["dialled"]], row[_IDX["number"]], row[_IDX["disposition"]], row[_IDX["billable"]], status,
            row[_IDX["destination"]], row[_IDX["prefix"]], row[_IDX["band"]], row[_IDX["billed_seconds"]],
            format_money(cost, decimals) if cost is not None else None, row[_IDX["currency"]])


class _CsvWriter:
    """The output written around the page cache where the file system allows it (pipeline.outfile)."""

    arrow = False  # takes CSV text

    def __init__(self, out: Path):
        self.file = OutFile(out)
        self.file.write(_cell_row(COLUMNS))

    def write(self, data: bytes) -> None:
        self.file.write(data)

    def close(self) -> None:
        self.file.close()

    def abort(self) -> None:
        with suppress(OSError):
            self.file.close()


class _ParquetWriter:
    """Blocks come as Arrow tables built from their columns (_arrow_table), the row path's lines as CSV text read
    back by pyarrow's CSV reader with the output's types; both give the same values: the CSV output's, an empty
    field null (and only an empty one: not "NA" or "null", which pyarrow would take as null by default)."""

    arrow = True  # takes a block's pieces: Arrow tables and CSV texts

    def __init__(self, out: Path):
        try:
            import pyarrow as pa
            import pyarrow.csv as pacsv
            import pyarrow.parquet as pq
        except ImportError:
            raise BatchError(_("Parquet output needs pyarrow: pip install 'anatole[parquet]'")) from None
        self.pa, self.pacsv = pa, pacsv
        self.schema = pa.schema([(c, pa.int64() if c in _INT_COLUMNS else pa.string()) for c in COLUMNS])
        # dictionary pages for the columns whose values repeat; for the ones nearly every call has its own (an
        # outbound call centre's numbers), a dictionary only fills up and is dropped: 23 % of the writer's time
        # (500k all-distinct rows), and a slightly bigger file
        self.writer = pq.ParquetWriter(str(out), self.schema, use_dictionary=[c for c in COLUMNS if c not in _PER_CALL])

    def from_csv(self, data: bytes) -> Any:
        return self.pacsv.read_csv(
            self.pa.py_buffer(data), read_options=self.pacsv.ReadOptions(column_names=list(COLUMNS)),
            convert_options=self.pacsv.ConvertOptions(column_types=self.schema, strings_can_be_null=True,
                                                      null_values=[""], quoted_strings_can_be_null=False))

    def write(self, data: Any) -> None:
        for piece in data if isinstance(data, list) else [data]:
            if isinstance(piece, self.pa.Table):
                self.writer.write_table(piece)
            elif piece:
                self.writer.write_table(self.from_csv(piece))

    def close(self) -> None:
        self.writer.close()

    def abort(self) -> None:
        with suppress(Exception):  # pyarrow raises its own errors for a file it could not finish
            self.writer.close()


def _writer(out: Path, path: Path) -> _CsvWriter | _ParquetWriter:
    """The writer of `out`'s kind (by its suffix: check_output), writing to `path`."""
    return _ParquetWriter(path) if out.suffix.lower() == ".parquet" else _CsvWriter(path)
