"""`anatole archive export | drop | list`: months of calls to verified Parquet files, and out of the store once
archived (anatole/archive.py does the work). Registered in anatole/cli.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from anatole import clitools


def _open(ctx: click.Context) -> tuple[Any, Any, dict[str, str]]:
    """(workspace, calls store, each configured site's time zone)."""
    ws = clitools.workspace(ctx)
    store = clitools.store(ws)
    return ws, store, {n: s.timezone for n, s in ws.sites.items()}


def _sums(sums: dict[str, int]) -> str:
    from store.display import money

    return ", ".join(money(v, c, exact=True) for c, v in sorted(sums.items()) if c) or "no cost"


@click.group("archive")
def archive() -> None:
    """Months of calls in Parquet files (archive/calls/month=YYYY-MM/part-<site>.parquet in the workspace, one
    dataset that pyarrow, DuckDB, pandas and Dask read), and out of the store once archived. Needs pyarrow:
    pip install 'anatole[archive]'."""


@archive.command("export")
@click.option("--month", "period", required=True, metavar="YYYY-MM", help="The month, in each site's time zone.")
@click.option("--site", help="Only this site (default: every site).")
@click.option("--to", "folder", type=click.Path(file_okay=False, path_type=Path),
              help="Write archive/calls/... under this folder instead of the workspace.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def export_cmd(ctx: click.Context, period: str, site: str | None, folder: Path | None, as_json: bool) -> None:
    """Write the month's calls (every column, NULLs and integer money kept) to one Parquet file per site, read it
    back and compare it with the store (calls and cost per currency), then record it. The calls stay in the store
    until `anatole archive drop`. Exporting a month again replaces its file (until it is dropped)."""
    from anatole.archive import ArchiveError, export_month
    from store.db import StoreError

    ws, store, zones = _open(ctx)
    try:
        results = export_month(store.conn, ws.path, period, site=site, to=folder, configured=zones)
    except (ArchiveError, StoreError, OSError) as exc:
        clitools.fail(str(exc))
    if as_json:
        clitools.emit_json({"month": period, "archives": [
            {**r, "sums": {k: str(v) for k, v in r["sums"].items()}} for r in results]})
        return
    out = clitools.console()
    for r in results:
        if r["file"] is None:
            out.print(f"{r['site']} {period}: no calls in the store, nothing archived", markup=False)
        else:
            out.print(f"{r['site']} {period}: {r['rows']} call(s), {_sums(r['sums'])} → {r['file']} (verified)",
                      markup=False)


@archive.command("drop")
@click.option("--month", "period", required=True, metavar="YYYY-MM", help="The month, in each site's time zone.")
@click.option("--site", help="Only this site (default: every site).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def drop_cmd(ctx: click.Context, period: str, site: str | None, yes: bool, as_json: bool) -> None:
    """Delete the month's calls from the store, only where a verified archive of exactly those calls exists (its
    file's sha256 and rows checked again, the calls unchanged since the export); otherwise nothing is deleted
    and the command exits 1 saying why. The day summaries are kept right; what-if reads the archive."""
    from anatole.archive import ArchiveError, drop_month
    from store.db import StoreError

    ws, store, zones = _open(ctx)
    what = f"{site} {period}" if site else f"{period} (every site)"
    if not yes and not click.confirm(f"Delete the calls of {what} from {ws.db_path} (kept in their archive)?",
                                     default=False):
        clitools.fail("nothing dropped")
    try:
        results = drop_month(store, ws.path, period, site=site, configured=zones)
    except (ArchiveError, StoreError, OSError) as exc:
        clitools.fail(str(exc))
    if as_json:
        clitools.emit_json({"month": period, "dropped": [
            {**r, "sums": {k: str(v) for k, v in r["sums"].items()}} for r in results]})
        return
    out = clitools.console()
    if not results:
        out.print(f"{what}: no calls in the store, nothing to drop", markup=False)
    for r in results:
        out.print(f"{r['site']} {period}: {r['dropped']} call(s) removed from the store; they are in {r['file']}",
                  markup=False)


@archive.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool) -> None:
    """The archives: month, site, calls, cost per currency, file, whether the calls were dropped from the store,
    and how many calls of that month the store holds now (late imports after a drop)."""
    from anatole.archive import listing
    from store.display import when

    ws, store, _ = _open(ctx)
    rows = listing(store.conn, ws.path)
    if as_json:
        clitools.emit_json([{**r, "sums": {k: str(v) for k, v in r["sums"].items()}} for r in rows])
        return
    out = clitools.console()
    if not rows:
        out.print("no archives (anatole archive export --month YYYY-MM)", markup=False)
    for r in rows:
        state = f"dropped {when(r['dropped_at'], 'UTC')}" if r["dropped_at"] else "still in the store"
        late = f", {r['in_store']} call(s) of the month in the store now" if r["dropped_at"] and r["in_store"] else ""
        out.print(f"{r['month']} {r['site']}: {r['rows']} call(s), {_sums(r['sums'])}, {r['file']} ({state}{late})",
                  markup=False)
