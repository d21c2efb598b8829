"""`anatole reconcile`: an invoice's call detail against the rated calls (tem.reconcile, engine._recon)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from anatole.clitools import console as _console
from anatole.clitools import date as _date
from anatole.clitools import emit_json as _emit_json
from anatole.clitools import fail as _fail
from anatole.clitools import store as _store
from anatole.clitools import whole as _whole
from anatole.clitools import workspace as _workspace
from engine.money import MoneyError, parse_money
from i18n import N_, _, pgettext
from store import display

CLASS_LABELS = {"exact": N_("exact"), "near": N_("near (within tolerance)"), "cost_mismatch": N_("cost mismatch"),
                "only_invoice": N_("only on the invoice"), "only_cdr": N_("only in the CDRs (not billed)")}


def _class_short(name: str) -> str:
    """A class in the differences table: the short code in English, a short word in French."""
    return {"exact": pgettext("reconcile class, short", "exact"), "near": pgettext("reconcile class, short", "near"),
            "cost_mismatch": pgettext("reconcile class, short", "cost_mismatch"),
            "only_invoice": pgettext("reconcile class, short", "only_invoice"),
            "only_cdr": pgettext("reconcile class, short", "only_cdr")}.get(name, name)


def _instant(text: str | None, *, seconds: bool = False) -> str:
    """An ISO UTC instant of the summary (``2026-10-01T08:00:00Z``) as a person reads it, in UTC."""
    if not text:
        return ""
    try:
        epoch = dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return text
    return display.when(epoch, "UTC", seconds=seconds, show_zone=not seconds)


def _amount(text: str | None, currency: str | None) -> str:
    """An exact amount of the summary, grouped for the language (every significant decimal kept)."""
    return display.from_text(text, currency, exact=True, code=False)


@click.command("reconcile", help=_("Match an invoice's call detail to the rated calls, one to one: exact, near, cost "
                                   "mismatch, only on the invoice (billed, never seen by the PBX), only in the "
                                   "CDRs; totals per class and the money at stake."))
@click.argument("invoice", required=False)
@click.option("--detail", "detail_file", type=click.Path(dir_okay=False, path_type=Path),
              help=_("Take the call detail from a CSV (header: number,start,duration,amount[,service]) instead of a "
                     "stored invoice; INVOICE is then only a label."))
@click.option("--tolerance-start", type=click.IntRange(0, 86400), default=60, show_default=True, metavar="S",
              help=_("Seconds the carrier's and the PBX's call starts may differ."))
@click.option("--tolerance-duration", type=click.IntRange(0, 86400), default=5, show_default=True, metavar="S",
              help=_("Seconds the durations may differ (the increment, for carriers that list billed durations)."))
@click.option("--tolerance-cost", default="0.005", show_default=True, metavar="AMOUNT",
              help=_("Largest difference of amounts that still agree."))
@click.option("--site", help=_("Only calls of this [[site]] (its time zone also reads local times and dates)."))
@click.option("--trunk", "trunks", multiple=True, help=_("Only calls over this trunk (repeatable)."))
@click.option("--from", "start", metavar="DATE", help=_("Period start (default: the invoice's billing period, else "
                                                        "the detail's first call)."))
@click.option("--to", "end", metavar="DATE", help=_("Day (or instant) after the period, exclusive."))
@click.option("--all", "show_all", is_flag=True, help=_("List exact matches too."))
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True,
              help=_("Lines to list (0: none); --json lists them all."))
@click.option("--json", "as_json", is_flag=True, help=_("One JSON object: summary, classes and the lines."))
@click.pass_context
def reconcile_cmd(ctx: click.Context, invoice: str | None, detail_file: Path | None, tolerance_start: int,
                  tolerance_duration: int, tolerance_cost: str, site: str | None, trunks: tuple[str, ...],
                  start: str | None, end: str | None, show_all: bool, limit: int, as_json: bool) -> None:
    """An invoice's call detail against the rated calls."""
    from store.recon import call_scopes, calls_for_reconciliation
    from tem.reconcile import ReconcileError, Tolerances, calls_from_columns, detail_extent, read_detail_csv, reconcile

    if invoice is None and detail_file is None:
        _fail(_("give an INVOICE (number or id of an imported invoice) or --detail FILE.csv"))
    try:
        tol = Tolerances(start=tolerance_start, duration=tolerance_duration, amount=parse_money(tolerance_cost))
    except MoneyError as exc:
        _fail(f"--tolerance-cost: {exc}")
    if tol.amount < 0:
        _fail(_("--tolerance-cost must not be negative"))
    ws = _workspace(ctx)
    if site is not None and site not in ws.sites:
        _fail(_("no [[site]] named {site} in anatole.toml (sites: {sites})").format(
            site=repr(site), sites=", ".join(ws.sites) or _("none")))
    zone = ws.sites[site].timezone if site else (next(iter(ws.sites.values())).timezone if len(ws.sites) == 1
                                                 else "UTC")
    store = _store(ws)
    try:
        if detail_file is not None:
            detail = read_detail_csv(detail_file, zone)
            label, currency, period = invoice or detail_file.name, None, None
        else:
            label, detail, currency, period = _stored_invoice(store, invoice or "", zone)
        if start is not None or end is not None:
            first, last = period or detail_extent(detail)
            period = (_date(start, zone, "--from") if start else first, _date(end, zone, "--to") if end else last)
        if period is None:
            period = detail_extent(detail)
        cols = calls_for_reconciliation(store, start=period[0] - tol.start, end=period[1] + tol.start, site=site,
                                        trunks=trunks)
        # the calls of the period span several sites or trunks, and none was named: say so (the console asks)
        scopes = [] if site or trunks else call_scopes(store, start=period[0] - tol.start, end=period[1] + tol.start)
        result = reconcile(detail, calls_from_columns(cols), tol, period, currency)
    except ReconcileError as exc:
        store.close()
        _fail(str(exc))
    store.close()
    summary = {"invoice": label, **result.summary()}
    spans = [{"site": s, "trunk": t, "calls": n} for s, t, n in scopes] if len(scopes) > 1 else []
    if as_json:
        _emit_json({**summary, "spans": spans, "lines": result.lines(include_exact=show_all)})
        return
    _render(summary, result.lines(include_exact=show_all), limit)
    if spans:
        no_site = _("(no site)")
        listed = ", ".join(f"{s['site'] or no_site}/{s['trunk'] or '-'} ({s['calls']})" for s in spans)
        _console().print(_("note: the period's calls span several sites/trunks: {spans}; calls the carrier does not "
                           "bill show as 'only in the CDRs': name the billed ones with --site / --trunk").format(
            spans=escape(listed)), style="yellow")


def _stored_invoice(store: Any, key: str, zone: str) -> tuple[str, Any, str | None, tuple[int, int] | None]:
    """(label, detail, currency, period) of an imported invoice given by id or number."""
    from store.invoices import open_invoices
    from tem.reconcile import detail_from_columns, period_of_dates

    invoices = open_invoices(store.conn)
    found = [inv for inv in invoices.invoices() if inv["number"] == key]
    if not found and key.isdigit():
        by_id = invoices.invoice(int(key))
        found = [by_id] if by_id else []
    if not found:
        _fail(_("no imported invoice with number or id {key} (see `anatole invoice list`, or give --detail "
                "FILE)").format(key=repr(key)))
    if len(found) > 1:
        _fail(_("{count} invoices have the number {key} (ids {ids}): give the id").format(
            count=len(found), key=repr(key), ids=", ".join(str(i["id"]) for i in found)))
    inv = found[0]
    detail = detail_from_columns(invoices.call_detail(inv["id"]))
    if not len(detail):
        _fail(_("invoice {number} (id {id}) has no call detail to reconcile").format(number=inv["number"],
                                                                                     id=inv["id"]))
    period = period_of_dates(inv["period_start"], inv["period_end"], zone) \
        if inv.get("period_start") and inv.get("period_end") else None
    return f"{inv['number']} (id {inv['id']})", detail, inv.get("currency"), period


def _render(summary: dict[str, Any], lines: list[dict[str, Any]], limit: int) -> None:
    console = _console()
    tol = summary["tolerances"]
    cur = summary["currency"]
    console.print(_(
        "{invoice}: {billed} billed call(s) against {rated} rated call(s), {start} to {end} (tolerances: start "
        "±{start_s} s, duration ±{duration_s} s, cost {cost})").format(
        invoice=f"[bold]{escape(summary['invoice'])}[/]", billed=summary["invoice_lines"], rated=summary["calls"],
        start=_instant(summary["period"]["from"]), end=_instant(summary["period"]["to"]), start_s=tol["start_s"],
        duration_s=tol["duration_s"],
        cost=_amount(tol["cost"], cur)))
    table = Table(_("class"), _("lines"), _("invoice"), _("rated"), _("difference"), title_justify="left", box=None,
                  pad_edge=False)
    _whole(table, _("invoice"), _("rated"), _("difference"))
    for name, t in summary["classes"].items():
        table.add_row(_(CLASS_LABELS[name]), str(t["count"]), _amount(t["invoice"], cur), _amount(t["cdr"], cur),
                      _amount(t["difference"], cur))
    console.print(table)
    console.print(_("money at stake: [bold]{at_stake}[/] (overcharges + calls never made); calls not billed: "
                    "{unbilled}").format(at_stake=display.from_text(summary["money_at_stake"], cur, exact=True),
                                         unbilled=display.from_text(summary["unbilled_calls_cost"], cur, exact=True)))
    if summary["median_start_offset_s"]:
        console.print(_("the carrier's clock is {offset} s from the PBX's (median)").format(
            offset=f"{summary['median_start_offset_s']:+d}"))
    if not limit or not lines:
        return
    shown = lines[:limit]
    rows = Table(_("class"), _("line"), _("number"), _("billed start"), "s", _("amount"), _("call"), "s", _("cost"),
                 _("Δ amount"), title=_("Differences ({shown} of {total})").format(shown=len(shown), total=len(lines)),
                 title_justify="left", box=None, pad_edge=False)
    _whole(rows, _("amount"), _("cost"), _("Δ amount"))
    for r in shown:
        rows.add_row(_class_short(r["class"]), str(r.get("invoice_line", "")),
                     r.get("number") or r.get("call_number", ""),
                     _instant(r.get("invoice_start") or r.get("call_start", ""), seconds=True),
                     str(r.get("invoice_duration", "")), _amount(r.get("invoice_amount", ""), cur),
                     str(r.get("call_id", "")), str(r.get("call_duration", "")), _amount(r.get("call_cost", ""), cur),
                     _amount(r["amount_diff"], cur))
    console.print(rows)
