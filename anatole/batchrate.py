"""`anatole batch-rate`: CDR files -> rated CSV or Parquet, streamed in chunks, no database (call centres).

Same parse -> normalise -> rate path as `import cdr`, with bounded memory: each chunk is written before the next
is read. Rejects go to `<out>.rejects.csv` with file, line, reason and raw text, so nothing is lost.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anatole.cdrimport import call_rows
from anatole.config import Site, Source, Workspace
from engine.money import format_money
from ingest.cdr import CallRecord, ParseContext, Reject, Skipped, parser
from ingest.dialplan import DialPlan
from store import CALL_COLUMNS

CHUNK = 50_000
COLUMNS = ("file", "line", "id", "start", "direction", "extension", "trunk", "caller", "dialled", "number",
           "disposition", "billable_seconds", "status", "destination", "prefix", "band", "billed_seconds", "cost",
           "currency")
_IDX = {name: CALL_COLUMNS.index(name) for name in CALL_COLUMNS}


class BatchError(Exception):
    pass


@dataclass
class BatchResult:
    read: int = 0
    calls: int = 0
    rejected: int = 0
    skipped: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)


def batch_rate(inputs: list[Path], *, tariff: Path, fmt: str, out: Path, site: Site | None = None,
               timezone: str = "UTC", ws: Workspace | None = None, profile: dict[str, Any] | None = None
               ) -> BatchResult:
    ws = ws or Workspace(Path.cwd())
    compiled = ws.tariff(tariff)
    decimals = compiled.tariff.decimals
    if site is None:  # numbers must already be international (+CC...)
        site = Site(name="", country="ZZ", timezone=timezone, dialplan=DialPlan("ZZ", international_prefix=""),
                    tariff=tariff)
    source = Source(name="batch", site=site.name, format=fmt, timezone=site.timezone if site.name else timezone,
                    profile=profile or {})
    module = parser(fmt)
    result = BatchResult()
    writer = _writer(out)
    rejects_path = out.with_name(out.name + ".rejects.csv")
    with rejects_path.open("w", newline="", encoding="utf-8") as rf:
        rejects = csv.writer(rf)
        rejects.writerow(("file", "line", "reason", "raw"))
        for path in inputs:
            counts = {"file": str(path), "read": 0, "calls": 0, "rejected": 0, "skipped": 0}
            ctx = ParseContext(timezone=source.timezone, reference=int(path.stat().st_mtime), profile=source.profile)
            with path.open("rb") as stream:
                for chunk in _chunks(module.parse(stream, ctx)):
                    records = [x for x in chunk if isinstance(x, CallRecord)]
                    for item in chunk:
                        if isinstance(item, Reject):
                            rejects.writerow((str(path), item.line, item.reason, item.raw))
                            counts["rejected"] += 1
                        elif isinstance(item, Skipped):
                            counts["skipped"] += 1
                    rows = call_rows(ws, source, site, records, None)
                    writer.write([_out_row(path, r, decimals, result) for r in rows])
                    counts["calls"] += len(records)
            counts["read"] = counts["calls"] + counts["rejected"]
            for key in ("read", "calls", "rejected", "skipped"):
                setattr(result, key, getattr(result, key) + counts[key])
            result.files.append(counts)
    writer.close()
    return result


def _chunks(items: Iterator[Any]) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _out_row(path: Path, row: tuple, decimals: int, result: BatchResult) -> tuple:
    status = row[_IDX["status"]]
    result.statuses[status] = result.statuses.get(status, 0) + 1
    cost = row[_IDX["cost"]]
    return (str(path), row[_IDX["line"]], row[_IDX["native_id"]],
            dt.datetime.fromtimestamp(row[_IDX["start"]], dt.timezone.utc).isoformat().replace("+00:00", "Z"),
            row[_IDX["direction"]], row[_IDX["extension"]], row[_IDX["trunk"]], row[_IDX["caller"]],
            row[_IDX["dialled"]], row[_IDX["number"]], row[_IDX["disposition"]], row[_IDX["billable"]], status,
            row[_IDX["destination"]], row[_IDX["prefix"]], row[_IDX["band"]], row[_IDX["billed_seconds"]],
            format_money(cost, decimals) if cost is not None else None, row[_IDX["currency"]])


class _CsvWriter:
    def __init__(self, out: Path):
        self.file = out.open("w", newline="", encoding="utf-8")
        self.csv = csv.writer(self.file)
        self.csv.writerow(COLUMNS)

    def write(self, rows: list[tuple]) -> None:
        self.csv.writerows(rows)

    def close(self) -> None:
        self.file.close()


class _ParquetWriter:
    def __init__(self, out: Path):
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise BatchError("Parquet output needs pyarrow: pip install 'anatole[parquet]'") from None
        self.pa = pa
        self.schema = pa.schema([(c, pa.int64() if c in ("line", "billable_seconds", "billed_seconds")
                                  else pa.string()) for c in COLUMNS])
        self.writer = pq.ParquetWriter(str(out), self.schema)

    def write(self, rows: list[tuple]) -> None:
        if rows:
            columns = list(zip(*rows))
            self.writer.write_table(self.pa.table({c: list(v) for c, v in zip(COLUMNS, columns)}, schema=self.schema))

    def close(self) -> None:
        self.writer.close()


def _writer(out: Path) -> _CsvWriter | _ParquetWriter:
    if out.suffix.lower() == ".parquet":
        return _ParquetWriter(out)
    if out.suffix.lower() != ".csv":
        raise BatchError(f"--out {out}: give a .csv or .parquet file")
    return _CsvWriter(out)
