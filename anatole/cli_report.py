"""`anatole report NAME --period P --format F --out FILE`, `anatole report list`, `anatole report run-due` and
`anatole whatif`. Registered in anatole/cli.py through anatole/cli_inventory.py's COMMANDS.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from anatole import clitools
from i18n import _
from store import display


def _context(ctx: click.Context) -> tuple[Any, Any, Any]:
    """(workspace, calls store, reports context)."""
    from store.inventory import open_inventory
    from store.reports import open_queries
    from tem.reports import Context

    ws = clitools.workspace(ctx)
    store = clitools.store(ws)
    return ws, store, Context(ws, open_queries(store.conn), open_inventory(store.conn))


def produce(rctx: Any, name: str, period: str, fmt: str, out: Path) -> Any:
    """Build one report and write it (raises ReportError / AllocationError with a message)."""
    from tem.reports import build, write

    report = build(rctx, name, period)
    write(report, fmt, out)
    return report


def _one(name: str) -> click.Command:
    from tem.reports import FORMATS, REPORTS

    @click.command(name, help=_("{title}: to the screen, or to --out in --format.").format(title=_(REPORTS[name])))
    @click.option("--period", metavar="YYYY-MM", help=_("The month (default: the latest month with data)."))
    @click.option("--format", "-f", "fmt", type=click.Choice(FORMATS),
                  help=_("csv, xlsx or pdf (default: from --out)."))
    @click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help=_("The file to write."))
    @click.option("--json", "as_json", is_flag=True, help=_("Print the table as JSON."))
    @click.pass_context
    def command(ctx: click.Context, period: str | None, fmt: str | None, out: Path | None, as_json: bool) -> None:
        from anatole.cli_inventory import _period
        from tem.allocation import AllocationError
        from tem.reports import ReportError, build, write

        if fmt is not None and out is None:  # it printed the table on the screen instead
            clitools.fail(_("--format {format} needs --out FILE").format(format=fmt))
        _ws, _st, rctx = _context(ctx)
        period = _period(ctx, rctx.q, period)
        try:
            report = build(rctx, name, period)
            if out is not None:
                fmt = fmt or out.suffix.lstrip(".").lower()
                write(report, fmt, out)
        except (ReportError, AllocationError) as exc:
            clitools.fail(str(exc))
        except OSError as exc:
            clitools.fail(_("{file}: cannot be written ({error})").format(file=out, error=exc.strerror or exc))
        if as_json:
            clitools.emit_json(report.as_json())
            return
        if out is not None:
            clitools.console().print(escape(_("{file}: {title}, {period}, {count} row(s) ({format})").format(
                file=out, title=report.title, period=period, count=len(report.rows), format=fmt)))
            return
        console = clitools.console()
        table = Table(*[escape(c) for c, _kind in report.columns], title=f"{report.title} — {period}", box=None)
        for row in report.display_rows():  # each currency's decimals; --json and the exports stay exact
            table.add_row(*[escape(v) for v in row])
        console.print(table)
        for note in report.notes:
            console.print(note, markup=False)

    return command


class ReportGroup(click.Group):
    """`anatole report NAME ...` for every report name, besides `list` and `run-due`."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from tem.reports import REPORTS

        return [*super().list_commands(ctx), *REPORTS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        from tem.reports import REPORTS

        if cmd_name in REPORTS:
            return _one(cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group("report", cls=ReportGroup, help=_(
    "Reports (cost by cost centre/site/carrier/service type, month over month, budget, top callers and "
    "destinations, off-hours, international, unused lines, trunks and busy hour; and the traffic that costs nothing: "
    "incoming calls by extension, hunt group and hour, internal who-calls-whom, trunk blocking by Erlang B) to the "
    "screen, CSV, XLSX or PDF."))
def report() -> None:
    """Reports to the screen or a file."""


@report.command("list", help=_("The reports there are."))
def list_cmd() -> None:
    """The reports there are."""
    from tem.reports import REPORTS

    for name, title in REPORTS.items():
        click.echo(f"{name:24} {_(title)}")


@report.command("run-due", help=_("Produce every scheduled report that is due ([[schedule]] in anatole.toml), record "
                                  "each file and, with an [smtp] table, mail it to its recipients (a mail that failed "
                                  "is sent by the next run-due; none is sent twice); fit for cron or a systemd timer. "
                                  "Exits 1 if any report or mail failed."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the results as JSON."))
@click.pass_context
def run_due_cmd(ctx: click.Context, as_json: bool) -> None:
    """The scheduled reports that are due, produced and mailed."""
    from tem.schedule import mail_reports, run_due

    ws, store, rctx = _context(ctx)
    results = run_due(ws, rctx.q, lambda name, period, fmt, path: produce(rctx, name, period, fmt, path))
    smtp = getattr(ws.delivery, "smtp", None)
    if smtp is not None:
        from pbx.notify import send_mail

        mail_reports(store.conn, results, lambda msg: send_mail(smtp, msg), retries=ws.delivery.retries)
    else:
        for r in results:
            if r.get("run") and r.get("recipients"):
                r["mail"] = _("not mailed: no [smtp] table in anatole.toml")
    failed = [r for r in results if r.get("error") or any(d.get("error") for d in r.get("deliveries", []))]
    if as_json:
        clitools.emit_json(results)
    else:
        console = clitools.console()
        if not results:
            console.print(escape(_("no [[schedule]] in anatole.toml")))
        for r in results:
            if r.get("error"):
                console.print(_("{schedule}: {period}: failed: {error}").format(
                    schedule=r["schedule"], period=r["period"], error=r["error"]), markup=False)
            elif r["due"]:
                line = f"{r['schedule']}: {r['period']} → {r['file']}"
                if r["recipients"]:
                    line += _(" (for {recipients})").format(recipients=", ".join(r["recipients"]))
                console.print(line + (f": {r['mail']}" if r.get("mail") else ""), markup=False)
            else:
                console.print(_("{schedule}: not due").format(schedule=r["schedule"]), markup=False)
            for d in r.get("deliveries", []):
                if d["state"] == "sent":
                    console.print(_("{schedule}: mailed to {to}").format(schedule=r["schedule"], to=d["to"]),
                                  markup=False)
                elif d["state"] == "failed":
                    console.print(_("{schedule}: mail to {to} failed (try {tries}, gave up): {error}").format(
                        schedule=r["schedule"], to=d["to"], tries=d["tries"], error=d["error"]), markup=False)
                else:
                    console.print(_("{schedule}: mail to {to} failed (try {tries}, tried again by the next "
                                    "run-due): {error}").format(schedule=r["schedule"], to=d["to"],
                                                                tries=d["tries"], error=d["error"]), markup=False)
    sys.exit(clitools.EXIT_INPUT if failed else 0)


@click.command("whatif", help=_("Re-rate every outgoing external call of a month against each candidate tariff and "
                                "compare the totals by destination type and site (the stored costs are left as they "
                                "are)."))
@click.option("--period", metavar="YYYY-MM", help=_("The month (default: the latest month with data)."))
@click.option("--tariff", "tariffs", multiple=True, required=True, type=click.Path(dir_okay=False, path_type=Path),
              help=_("A candidate tariff (repeat for each)."))
@click.option("--site", "only_sites", multiple=True, help=_("Only the calls of these sites."))
@click.option("--workers", type=int, metavar="N", help=_("Rate on a local Dask cluster of N processes, one task per "
                                                         "archived month partition."))
@click.option("--scheduler", metavar="tcp://HOST:PORT", help=_("Rate on this Dask cluster, one task per archived "
                                                               "month partition (the workers must see the archive "
                                                               "files at the same paths)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print one JSON object."))
@click.pass_context
def whatif_cmd(ctx: click.Context, period: str | None, tariffs: tuple[Path, ...], only_sites: tuple[str, ...],
               workers: int | None, scheduler: str | None, as_json: bool) -> None:
    """A month's outgoing external calls re-rated against candidate tariffs."""
    from anatole.cli_inventory import _period
    from tem.allocation import local_midnight, month_bounds
    from tem.whatif import compare, tariff_label

    ws, _st, rctx = _context(ctx)
    period = _period(ctx, rctx.q, period)
    compiled = [(tariff_label(p, c), c) for p in tariffs for c in [clitools.tariff(str(p))]]
    first, nxt = month_bounds(period)
    sites = list(only_sites or ws.sites) or sorted(set(rctx.q.call_sites(0, 2**62)))
    unknown = [s for s in only_sites if s not in ws.sites]
    if unknown:
        clitools.fail(_("no [[site]] named {site} in anatole.toml").format(site=", ".join(unknown)))
    zones = [ws.sites[s].timezone for s in sites if s in ws.sites] or ["UTC"]
    start = min(local_midnight(first, z) for z in zones)
    end = max(local_midnight(nxt, z) for z in zones)
    cols = rctx.q.whatif_columns(start, end, sites)
    if only_sites:
        keep = cols["site"] >= 0
        cols = {k: (v[keep] if k != "currencies" else v) for k, v in cols.items()}
    from anatole.archive import ArchiveError, archived_parts, whatif

    parts = archived_parts(rctx.q.conn, ws.path, start, end, sites if only_sites else None)
    if parts or workers is not None or scheduler is not None:  # months archived and dropped, or Dask: archive.py
        try:
            with clitools.progress("whatif", quiet=as_json) as update:
                result = whatif(cols, parts, start, end, sites, bool(only_sites),
                                {n: s.country for n, s in ws.sites.items()}, compiled,
                                paths=[str(p) for p in tariffs], workers=workers, scheduler=scheduler,
                                progress=update)
        except ArchiveError as exc:
            clitools.fail(str(exc))
    else:
        with clitools.progress("whatif", len(cols["number"]) * len(compiled), quiet=as_json) as update:  # terminal
            result = compare(cols, sites, {n: s.country for n, s in ws.sites.items()}, compiled, progress=update)
    result = {"period": period, **result}
    if as_json:
        clitools.emit_json(result)
        return
    console = clitools.console()
    console.print(escape(_("{period}: {calls} outgoing external call(s), {answered} answered; stored cost "
                           "{cost}").format(period=period, calls=result["calls"], answered=result["answered"],
                                            cost=", ".join(display.from_text(v, k, exact=True)
                                                           for k, v in result["current"].items()))))
    if parts:
        console.print(_("({count} archived month partition(s) read besides the store)").format(count=len(parts)),
                      markup=False)
    names = [c["tariff"] for c in result["candidates"]]
    table = Table("", *[escape(n) for n in names], box=None)
    clitools.whole(table, *[escape(n) for n in names])  # every candidate's column holds amounts
    cands = result["candidates"]

    def amount_of(text: str, currency: str) -> str:
        return display.from_text(text, currency, exact=True, code=False)

    total = _("total")
    table.add_row(f"[bold]{escape(total)}[/]", *[display.from_text(c["total"], c["currency"], exact=True)
                                                      for c in cands])
    table.add_row(escape(_("no rate (calls)")), *[str(c["no_rate"]) for c in cands])
    for key in sorted({k for c in cands for k in c["by_type"]}):
        table.add_row(escape(key), *[amount_of(c["by_type"].get(key, "0"), c["currency"]) for c in cands])
    for key in sorted({k for c in cands for k in c["by_site"]}):
        table.add_row(escape(_("site {site}").format(site=key)),
                      *[amount_of(c["by_site"].get(key, "0"), c["currency"]) for c in cands])
    console.print(table)
    for cur, name in result["cheapest"].items():
        console.print(_("cheapest in {currency}: {tariff}").format(currency=cur, tariff=name), markup=False)
