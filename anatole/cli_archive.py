"""`anatole archive export | drop | list`: months of calls to verified Parquet files, and out of the store once
archived (anatole/archive.py does the work). Registered in anatole/cli.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from anatole import clitools
from i18n import _


def _open(ctx: click.Context) -> tuple[Any, Any, dict[str, str]]:
    """(workspace, calls store, each configured site's time zone)."""
    ws = clitools.workspace(ctx)
    store = clitools.store(ws)
    return ws, store, {n: s.timezone for n, s in ws.sites.items()}


def _sums(sums: dict[str, int]) -> str:
    from store.display import money

    return ", ".join(money(v, c, exact=True) for c, v in sorted(sums.items()) if c) or _("no cost")


@click.group("archive", help=_(
    "Months of calls in Parquet files (archive/calls/month=YYYY-MM/part-<site>.parquet in the workspace, one dataset "
    "that pyarrow, DuckDB, pandas and Dask read), and out of the store once archived. Needs pyarrow: pip install "
    "'anatole[archive]'."))
def archive() -> None:
    """`anatole archive` (its help, translated, is the decorator's)."""


@archive.command("export", help=_(
    "Write the month's calls (every column, NULLs and integer money kept) to one Parquet file per site, read it back "
    "and compare it with the store (calls and cost per currency), then record it. The calls stay in the store until "
    "`anatole archive drop`. Exporting a month again replaces its file (until it is dropped)."))
@click.option("--month", "period", required=True, metavar="YYYY-MM", help=_("The month, in each site's time zone."))
@click.option("--site", help=_("Only this site (default: every site)."))
@click.option("--to", "folder", type=click.Path(file_okay=False, path_type=Path),
              help=_("Write archive/calls/... under this folder instead of the workspace."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON."))
@click.pass_context
def export_cmd(ctx: click.Context, period: str, site: str | None, folder: Path | None, as_json: bool) -> None:
    """`anatole archive export` (its help, translated, is the decorator's)."""
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
            out.print(_("{site} {month}: no calls in the store, nothing archived").format(site=r["site"], month=period),
                      markup=False)
        else:
            out.print(_("{site} {month}: {count} call(s), {sums} → {file} (verified)").format(
                site=r["site"], month=period, count=r["rows"], sums=_sums(r["sums"]), file=r["file"]), markup=False)


@archive.command("drop", help=_(
    "Delete the month's calls from the store, only where a verified archive of exactly those calls exists (its "
    "file's sha256 and rows checked again, the calls unchanged since the export); otherwise nothing is deleted and "
    "the command exits 1 saying why. The day summaries are kept right; what-if reads the archive."))
@click.option("--month", "period", required=True, metavar="YYYY-MM", help=_("The month, in each site's time zone."))
@click.option("--site", help=_("Only this site (default: every site)."))
@click.option("--yes", is_flag=True, help=_("Do not ask for confirmation."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON."))
@click.pass_context
def drop_cmd(ctx: click.Context, period: str, site: str | None, yes: bool, as_json: bool) -> None:
    """`anatole archive drop` (its help, translated, is the decorator's)."""
    from anatole.archive import ArchiveError, drop_month
    from store.db import StoreError

    ws, store, zones = _open(ctx)
    what = f"{site} {period}" if site else _("{month} (every site)").format(month=period)
    if not yes and not click.confirm(_("Delete the calls of {what} from {database} (kept in their archive)?").format(
            what=what, database=ws.db_path), default=False):
        clitools.fail(_("nothing dropped"))
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
        out.print(_("{what}: no calls in the store, nothing to drop").format(what=what), markup=False)
    for r in results:
        out.print(_("{site} {month}: {count} call(s) removed from the store; they are in {file}").format(
            site=r["site"], month=period, count=r["dropped"], file=r["file"]), markup=False)


@archive.command("list", help=_(
    "The archives: month, site, calls, cost per currency, file, whether the calls were dropped from the store, and "
    "how many calls of that month the store holds now (late imports after a drop)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON."))
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool) -> None:
    """`anatole archive list` (its help, translated, is the decorator's)."""
    from anatole.archive import listing
    from store.display import when

    ws, store, _zones = _open(ctx)
    rows = listing(store.conn, ws.path)
    if as_json:
        clitools.emit_json([{**r, "sums": {k: str(v) for k, v in r["sums"].items()}} for r in rows])
        return
    out = clitools.console()
    if not rows:
        out.print(_("no archives (anatole archive export --month YYYY-MM)"), markup=False)
    for r in rows:
        state = _("dropped {when}").format(when=when(r["dropped_at"], "UTC")) if r["dropped_at"] \
            else _("still in the store")
        if r["dropped_at"] and r["in_store"]:
            state += ", " + _("{count} call(s) of the month in the store now").format(count=r["in_store"])
        out.print(_("{month} {site}: {count} call(s), {sums}, {file} ({state})").format(
            month=r["month"], site=r["site"], count=r["rows"], sums=_sums(r["sums"]), file=r["file"], state=state),
            markup=False)
