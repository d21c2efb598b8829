"""Month archives of calls: `anatole archive export | drop | list`, and what-if over archived months.

A month of one site (in the site's own time zone) is written to one Parquet file of a hive-partitioned dataset,
`<workspace>/archive/calls/month=YYYY-MM/part-<site>.parquet`, that pyarrow, DuckDB, pandas and Dask read as one
table. Every column of the calls table is kept with its type: integers (times, seconds, money in 10**-8 units) as
int64, text as UTF-8 strings, NULLs as nulls. The export reads the month in keyset pages inside one read
transaction (one consistent snapshot, memory bounded by the page, whatever the month's size), writes a hidden
temporary file, reads it back and compares its fingerprint (per currency: calls, SUM(cost), SUM(id), SUM(billed),
SUM(rated_at), SUM(billable)) with the store's, and only then renames it into place and records it (file, sha256,
rows, sums) in the `archives` table.

`drop` deletes a month's calls from the store only when a recorded archive of exactly those calls exists: the file's
sha256 and row count are checked again, and, in the transaction that deletes, the store's fingerprint of the month
must still equal the archived one (a re-rate, a late import or a merge since the export refuses the drop: export
again). The day summaries follow the deletion (Store.delete_calls).

What-if reads the archives whose calls were dropped (and only those: a month still in the store is read from the
store, never twice), each partition on its own, and sums exact integer totals (tem.whatif.merge): the totals are
those of the same calls in the store. With Dask (`--workers N`, `--scheduler ADDR`) each partition is one task.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from i18n import _
from store import archive as arch

PAGE = 50_000  # calls per page read from SQLite and per Parquet row group
FOLDER = Path("archive") / "calls"
INSTALL = "pip install 'anatole[archive]'"


class ArchiveError(Exception):
    """A message for the user: nothing was archived or dropped (or only what the message says)."""


def pyarrow() -> tuple[Any, Any]:
    """(pyarrow, pyarrow.parquet), or ArchiveError saying how to install it."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ArchiveError(_("archives of months are Parquet files and need pyarrow: {install}").format(
            install=INSTALL)) from None
    return pa, pq


def month_range(period: str, zone: str) -> tuple[int, int]:
    """[start, end) in UTC epoch seconds of the month `period` (YYYY-MM) in the time zone `zone`."""
    from tem.allocation import AllocationError, local_midnight, month_bounds

    try:
        first, nxt = month_bounds(period)
    except AllocationError as exc:
        raise ArchiveError(str(exc).replace("--period", "--month")) from None
    return local_midnight(first, zone), local_midnight(nxt, zone)


def part_name(site: str, n: int = 1) -> str:
    """The file of a site's month: part-<site>.parquet (the n-th export of later calls: part-<site>.<n>.parquet);
    the site's name percent-encoded where it is not a plain file name character."""
    safe = quote(site, safe="")
    return f"part-{safe}.parquet" if n == 1 else f"part-{safe}.{n}.parquet"


def _zones(conn: sqlite3.Connection, configured: dict[str, str]) -> dict[str, str]:
    """Each site's time zone: the store's sites table, else anatole.toml's [[site]]."""
    return {**configured, **arch.site_timezones(conn)}


def _sites(conn: sqlite3.Connection, site: str | None, zones: dict[str, str]) -> list[str]:
    if site is not None:
        if site not in zones:
            raise ArchiveError(_("--site {site}: no such site (neither in anatole.toml nor in the store)").format(
                site=site))
        return [site]
    return sorted(zones)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _resolve(root: Path, file: str) -> Path:
    """A recorded file: relative to the workspace, or absolute (an archive written with --to elsewhere)."""
    return root / file


def _recorded_name(root: Path, path: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path.resolve())


# --- export ------------------------------------------------------------------------------------------------------


def export_month(conn: sqlite3.Connection, root: Path, period: str, *, site: str | None = None,
                 to: Path | None = None, configured: dict[str, str] | None = None,
                 page: int = PAGE) -> list[dict[str, Any]]:
    """Archive `period` of `site` (or of every site) to Parquet; one dict per site: its file (None when the month
    has no calls there), rows, sums per currency (10**-8 units), sha256. Raises ArchiveError."""
    pyarrow()
    arch.migrate(conn)
    zones = _zones(conn, configured or {})
    base = (to or root) / FOLDER / f"month={period}"
    out = []
    for s in _sites(conn, site, zones):
        start, end = month_range(period, zones[s])
        out.append(_export_one(conn, root, base, period, s, zones[s], start, end, page))
    return out


def _export_one(conn: sqlite3.Connection, root: Path, base: Path, period: str, site: str, zone: str, start: int,
                end: int, page: int) -> dict[str, Any]:
    existing = arch.archives(conn, site=site, month=period)
    pending = next((a for a in existing if a["dropped_at"] is None), None)
    result: dict[str, Any] = {"site": site, "month": period, "timezone": zone, "start": start, "end": end,
                              "file": None, "rows": 0, "sums": {}, "sha256": None,
                              "dropped_before": sum(a["rows"] for a in existing if a["dropped_at"] is not None)}
    if pending is not None:
        final = _resolve(root, pending["file"])  # a new export of the same calls replaces the file not yet dropped
        if final.parent.resolve() != base.resolve():  # --to elsewhere: it was ignored, the old place rewritten
            raise ArchiveError(_("{site} {month} is archived at {file}, not dropped yet: export it again without "
                                 "--to (the file there is replaced), or drop the month first").format(
                site=site, month=period, file=final))
    else:
        taken = {_resolve(root, a["file"]).resolve() for a in existing}
        n = 1
        while (base / part_name(site, n)).resolve() in taken:
            n += 1
        final = base / part_name(site, n)
    tmp = final.with_name(f".{final.name}.tmp")  # hidden: dataset readers skip it
    columns = arch.call_columns(conn)
    names = [c[0] for c in columns]
    if conn.in_transaction:
        conn.commit()
    conn.execute("BEGIN")  # one read snapshot: the fingerprint and every page see the same calls
    try:
        expected = arch.fingerprint(conn, site, start, end)
        rows = sum(v[0] for v in expected.values())
        if rows == 0:
            return result
        final.parent.mkdir(parents=True, exist_ok=True)
        _write(conn, tmp, columns, site, start, end, page)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        conn.rollback()
    try:
        found = file_fingerprint(tmp)
        if found != expected:
            raise ArchiveError(_("{site} {month}: the file written does not read back as the store's calls (store "
                                 "{expected}, file {found}): nothing archived").format(
                site=site, month=period, expected=expected, found=found))
        _fsync(tmp)
        os.replace(tmp, final)
        _fsync(final.parent)
    finally:
        tmp.unlink(missing_ok=True)
    sums = {cur: v[1] for cur, v in sorted(expected.items())}
    digest = _sha256(final)
    arch.record(conn, site=site, month=period, timezone=zone, period_start=start, period_end=end,
                file=_recorded_name(root, final), sha256=digest, size=final.stat().st_size, rows=rows, sums=sums,
                fingerprint=expected, columns=names, replaces=pending["id"] if pending else None)
    result.update(file=str(final), rows=rows, sums=sums, sha256=digest, replaced=pending is not None)
    return result


def arrow_schema(columns: list[tuple[str, str, bool]], metadata: dict[str, str] | None = None) -> Any:
    """The calls table's columns as Arrow types: INTEGER -> int64, anything else -> string; NOT NULL kept."""
    pa, _pq = pyarrow()
    return pa.schema([pa.field(name, pa.int64() if "INT" in kind else pa.string(), nullable=not notnull)
                      for name, kind, notnull in columns], metadata=metadata)


def _write(conn: sqlite3.Connection, path: Path, columns: list[tuple[str, str, bool]], site: str, start: int,
           end: int, page: int) -> None:
    pa, pq = pyarrow()
    names = [c[0] for c in columns]
    schema = arrow_schema(columns, {"anatole.site": site, "anatole.start": str(start), "anatole.end": str(end),
                                    "anatole.money_scale": "1e-8"})
    after: tuple[int, int] | None = None
    with pq.ParquetWriter(str(path), schema, compression="zstd") as writer:
        while True:
            rows = arch.month_page(conn, names, site, start, end, after, page)
            if not rows:
                break
            after = (rows[-1][-2], rows[-1][-1])
            cols = list(zip(*rows))
            ids = cols[-1]
            arrays = [_array(pa, cols[i], schema.field(i), ids) for i in range(len(names))]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema), row_group_size=page)
            if len(rows) < page:
                break


def _array(pa: Any, values: tuple, field: Any, ids: tuple) -> Any:
    """One page's column as an Arrow array of the field's type; a value SQLite stored with another type (its
    columns are not strict) is refused with the call's id, never converted silently."""
    try:
        return pa.array(values, type=field.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
        want = int if pa.types.is_integer(field.type) else str
        for v, i in zip(values, ids):
            if v is not None and not isinstance(v, want):
                message = _("call id {id}: column {column} holds {value} ({type}), not an integer: nothing archived") \
                    if want is int else \
                    _("call id {id}: column {column} holds {value} ({type}), not text: nothing archived")
                raise ArchiveError(message.format(id=i, column=field.name, value=repr(v),
                                                  type=type(v).__name__)) from None
        raise


def file_fingerprint(path: Path) -> dict[str, list[int]]:
    """store.archive.fingerprint() of the calls in a Parquet archive, read back in row groups."""
    _pa, pq = pyarrow()
    out: dict[str, list[int]] = {}
    f = pq.ParquetFile(str(path))
    keys = ["cost", "id", "billed", "rated_at", "billable"]
    for batch in f.iter_batches(batch_size=PAGE, columns=["currency", *keys]):
        table = _table_of(batch)
        grouped = table.group_by("currency").aggregate([("id", "count"), *[(k, "sum") for k in keys]]).to_pylist()
        for g in grouped:
            cur = g["currency"] or ""
            into = out.setdefault(cur, [0] * 6)
            into[0] += int(g["id_count"])
            for j, k in enumerate(keys, start=1):
                into[j] += int(g[f"{k}_sum"] or 0)  # per batch of PAGE rows in int64: no overflow; then Python ints
    if f.metadata.num_rows != sum(v[0] for v in out.values()):
        raise ArchiveError(_("{path}: {rows} rows in its metadata, {read} read").format(
            path=path, rows=f.metadata.num_rows, read=sum(v[0] for v in out.values())))
    return out


def _table_of(batch: Any) -> Any:
    pa, _pq = pyarrow()
    return pa.Table.from_batches([batch])


# --- drop --------------------------------------------------------------------------------------------------------


def drop_month(store: Any, root: Path, period: str, *, site: str | None = None,
               configured: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Delete `period`'s calls of `site` (or of every site) from the store, each site only if a verified archive
    of exactly those calls exists; all sites or none (one transaction). Returns one dict per site with calls.
    Raises ArchiveError naming every site refused, and then deletes nothing."""
    from store.db import write_transaction

    conn = store.conn
    arch.migrate(conn)
    pyarrow()
    zones = _zones(conn, configured or {})
    plans, refused = [], []
    for s in _sites(conn, site, zones):
        pending = next((a for a in arch.archives(conn, site=s, month=period) if a["dropped_at"] is None), None)
        if pending is None:
            start, end = month_range(period, zones[s])
            n = arch.count_calls(conn, s, start, end)
            if n:
                refused.append(_("{site} {month}: {count} call(s) in the store and no archive of them (run "
                                 "`anatole archive export --month {month} --site {site}` first)").format(
                    site=s, month=period, count=n))
            continue
        problem = _check_file(root, pending)
        if problem:
            refused.append(f"{s} {period}: {problem}")
            continue
        plans.append(pending)
    if refused:
        raise ArchiveError(_("nothing dropped: {reasons}").format(reasons="; ".join(refused)))
    out = []
    with write_transaction(conn, what="archive"):
        for a in plans:
            now = arch.fingerprint(conn, a["site"], a["period_start"], a["period_end"])
            if now != a["fingerprint"]:
                raise ArchiveError(_(
                    "nothing dropped: {site} {month}: the calls in the store changed since the archive was written "
                    "({count} call(s) now, {archived} archived; re-rated, imported or merged since?): run `anatole "
                    "archive export --month {month} --site {site}` again").format(
                        site=a["site"], month=period, count=_count(now), archived=a["rows"]))
            n = store.delete_calls(a["period_start"], a["period_end"], a["site"])
            if n != a["rows"]:
                raise ArchiveError(_("nothing dropped: {site} {month}: {count} call(s) to delete, {archived} archived")
                                   .format(site=a["site"], month=period, count=n, archived=a["rows"]))
            arch.mark_dropped(conn, a["id"], n)
            out.append({"site": a["site"], "month": period, "dropped": n, "file": str(_resolve(root, a["file"])),
                        "sums": a["sums"]})
    return out


def _count(fp: dict[str, list[int]]) -> int:
    return sum(v[0] for v in fp.values())


def _check_file(root: Path, a: dict[str, Any]) -> str | None:
    """Why the archive's file cannot be trusted any more (missing, changed, rows), or None."""
    _pa, pq = pyarrow()
    path = _resolve(root, a["file"])
    if not path.is_file():
        return _("the archive {path} is missing").format(path=path)
    digest = _sha256(path)
    if digest != a["sha256"]:
        return _("the archive {path} changed since it was written (sha256 {digest}…, recorded {recorded}…): export "
                 "the month again").format(path=path, digest=digest[:12], recorded=a["sha256"][:12])
    try:
        rows = pq.ParquetFile(str(path)).metadata.num_rows
    except Exception as exc:  # noqa: BLE001  (any unreadable file: pyarrow raises several kinds)
        return _("the archive {path} cannot be read ({problem})").format(path=path, problem=exc)
    if rows != a["rows"]:
        return _("the archive {path} holds {rows} row(s), {recorded} recorded").format(path=path, rows=rows,
                                                                                      recorded=a["rows"])
    return None


def listing(conn: sqlite3.Connection, root: Path) -> list[dict[str, Any]]:
    """Every recorded archive, with the calls of its site and month still (or again) in the store."""
    arch.migrate(conn)
    out = []
    for a in arch.archives(conn):
        out.append({"site": a["site"], "month": a["month"], "timezone": a["timezone"], "rows": a["rows"],
                    "sums": a["sums"], "file": str(_resolve(root, a["file"])), "sha256": a["sha256"],
                    "size": a["size"], "exported_at": a["exported_at"], "dropped_at": a["dropped_at"],
                    "in_store": arch.count_calls(conn, a["site"], a["period_start"], a["period_end"])})
    return out


# --- what-if over archived months ---------------------------------------------------------------------------------

WHATIF_COLUMNS = ["site", "number", "start", "billable", "cost", "currency", "direction", "number_kind", "billed"]


def whatif_columns(path: Path | str, start: int, end: int, sites: list[str]) -> dict[str, np.ndarray]:
    """store.reports.TemQueries.whatif_columns, read from a Parquet archive: the outgoing external billed legs that
    started in [start, end), as the same numpy columns."""
    pa, pq = pyarrow()
    import pyarrow.compute as pc

    if not Path(path).is_file():
        raise ArchiveError(_("the archive {path} is missing: its calls are no longer in the store (put the file "
                             "back, or restore a backup taken before the drop)").format(path=path))
    try:
        table = _read(pq, path, start, end)
    except (OSError, pa.ArrowException) as exc:
        raise ArchiveError(_("the archive {path} cannot be read: {problem}").format(path=path, problem=exc)) from None
    index = {s: i for i, s in enumerate(sites)}
    site_codes, site_names = _codes(pc, table.column("site"))
    site = np.array([index.get(s, -1) for s in site_names], dtype=np.int16)[site_codes]
    cur_codes, cur_names = _codes(pc, pc.fill_null(table.column("currency"), ""))
    order = np.argsort(np.array(cur_names, dtype=object)) if cur_names else np.zeros(0, dtype=np.intp)
    rank = np.empty(len(order), dtype=np.int16)
    rank[order] = np.arange(len(order), dtype=np.int16)  # codes in sorted currency order, as the store's query
    number = pc.cast(pc.fill_null(table.column("number"), ""), pa.binary()).to_numpy(zero_copy_only=False)
    return {"site": site,
            "number": number.astype("S18"),
            "start": table.column("start").to_numpy().astype(np.int64),
            "seconds": table.column("billable").to_numpy().astype(np.int32),
            "cost": pc.fill_null(table.column("cost"), 0).to_numpy().astype(np.int64),
            "currency": rank[cur_codes] if len(rank) else np.zeros(0, dtype=np.int16),
            "currencies": np.array(sorted(cur_names), dtype=object)}


def _read(pq: Any, path: Path | str, start: int, end: int) -> Any:
    return pq.read_table(str(path), columns=WHATIF_COLUMNS, filters=[
        ("start", ">=", start), ("start", "<", end), ("direction", "=", "outgoing"),
        ("number_kind", "=", "external"), ("billed", "=", 1)])


def _codes(pc: Any, column: Any) -> tuple[np.ndarray, list[str]]:
    """A string column as (int32 codes, the distinct values): no Python object per row."""
    if not len(column):
        return np.zeros(0, dtype=np.int32), []
    enc = pc.dictionary_encode(column.combine_chunks())
    return enc.indices.to_numpy(zero_copy_only=False).astype(np.int32), enc.dictionary.to_pylist()


def keep_sites(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Only the calls of the listed sites (whatif --site)."""
    keep = cols["site"] >= 0
    return {k: (v[keep] if k != "currencies" else v) for k, v in cols.items()}


def archived_parts(conn: sqlite3.Connection, root: Path, start: int, end: int, sites: list[str] | None
                   ) -> list[str]:
    """The files of the dropped archives holding calls of [start, end) (of `sites`), absolute: what what-if reads
    besides the store."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "archives" not in tables:
        return []
    return [str(_resolve(root, a["file"]).resolve()) for a in arch.dropped_overlapping(conn, start, end)
            if sites is None or a["site"] in sites]


def whatif(cols: dict[str, np.ndarray], parts: list[str], start: int, end: int, sites: list[str], only: bool,
           countries: dict[str, str], tariffs: list[tuple[str, Any]], *, paths: list[str] | None = None,
           scheduler: str | None = None, workers: int | None = None,
           progress: Callable[..., None] | None = None) -> dict[str, Any]:
    """tem.whatif.compare over the store's calls `cols` and the archive partitions `parts`: each part totalled on
    its own (in this process, or one Dask task per partition with `scheduler`/`workers`, the tariffs then loaded
    on the workers from `paths`), the exact integer totals summed. The same result as compare() over all the calls
    in one set."""
    from tem import whatif as wi

    if scheduler is not None or workers is not None:
        from pipeline.distributed import distributed_whatif

        if paths is None:
            raise ArchiveError(_("the tariffs' files are needed to rate on Dask workers"))
        return distributed_whatif(cols, parts, start, end, sites, only, countries, tariffs, paths,
                                  scheduler=scheduler, workers=workers, progress=progress, read=whatif_columns,
                                  keep=keep_sites, error=ArchiveError)
    done = [0]
    known = [len(cols["number"]) * len(tariffs)]

    def tick(n: int) -> None:
        if progress:
            progress(n, known[0])

    totals = [wi.totals(cols, sites, countries, tariffs, progress=tick)]
    done[0] = known[0]
    for path in parts:
        part = whatif_columns(path, start, end, sites)
        if only:
            part = keep_sites(part)
        known[0] += len(part["number"]) * len(tariffs)
        totals.append(wi.totals(part, sites, countries, tariffs, progress=tick, done=done[0]))
        done[0] = known[0]
    return wi.report(wi.merge(totals), sites)
