"""`anatole ui` and `anatole monitor`: the Textual console over the workspace's store and the daemon's socket.

The workspace (anatole.toml) is read here and handed to `tui` as plain data (tui.context.ConsoleContext): `tui`
sits below `anatole` and never imports it.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import click

from i18n import _
from tui import SCREENS_UI


def console_context(ws: Any) -> Any:
    """The console's view of a workspace: sites with their zones and tariffs, tariffs by file name."""
    from anatole.console_actions import inventory_actions, report_actions
    from tui.context import ConsoleContext, SiteInfo

    tariffs: dict[str, Path] = {}
    for site in ws.sites.values():
        for path in (site.tariff, *site.trunk_tariffs.values()):
            if path is not None:
                tariffs.setdefault(Path(path).name, Path(path))
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        user = "operator"
    zone = next(iter(ws.sites.values())).timezone if len(ws.sites) == 1 else "UTC"  # as `anatole reconcile`
    return ConsoleContext(workspace=ws.path, currency=ws.currency, user=user, tariffs=tariffs,
                          sites={s.name: SiteInfo(s.name, s.timezone, s.tariff, s.dialplan) for s in ws.sites.values()},
                          invoices=invoice_actions(ws.db_path, zone), inventory=inventory_actions(ws.db_path),
                          reports=report_actions(ws), hotel_site=ws.hotel.site if ws.hotel else None)


# --- the Invoices screen's actions ------------------------------------------------------------------------------
# tui and tem are siblings (DESIGN.md: anatole -> tui, pbx, tem): the screen reads invoices from the store itself,
# and what needs tem (the workflow's rules, the reconciliation) is handed to it here as plain callables. Each opens
# its own connection (it runs in one of the console's worker threads) and turns tem's errors into ActionError.


def invoice_actions(db_path: Path, zone: str = "UTC") -> Any:
    """tui.context.InvoiceActions over the database at `db_path`; `zone` reads invoice billing periods (dates)."""
    from tui.context import InvoiceActions

    return InvoiceActions(approve=partial(_approve, Path(db_path)), dispute=partial(_dispute, Path(db_path)),
                          reconcile=partial(_reconcile, Path(db_path), zone))


@contextmanager
def _invoice_store(db_path: Path) -> Iterator[tuple[Any, Any]]:
    from anatole.console_actions import guard
    from store.invoices import open_invoices

    with guard(db_path) as store:
        yield store, open_invoices(store.conn)


def _approve(db_path: Path, invoice_id: int, actor: str, reason: str) -> None:
    from tem.workflow import approve

    with _invoice_store(db_path) as (_store, istore):
        approve(istore, invoice_id, actor=actor, reason=reason)


def _dispute(db_path: Path, invoice_id: int, actor: str, reason: str, findings: list[int],
             amount: int | None) -> int:
    from tem.workflow import dispute

    with _invoice_store(db_path) as (_store, istore):
        return dispute(istore, invoice_id, reason=reason, actor=actor, findings=findings or None, amount=amount)


def _reconcile(db_path: Path, zone: str, invoice_id: int, site: str | None = None, trunks: tuple[str, ...] = (),
               ask: bool = True) -> dict[str, Any] | None:
    """`anatole reconcile ID [--site S] [--trunk T]` with the default tolerances, as its JSON summary; None without
    call detail. With `ask` and no site/trunk, when the invoice's period spans calls of several sites or trunks:
    {"choose": [{"site", "trunk", "calls"}...]} instead, for the user to say which one the carrier bills."""
    from store.recon import call_scopes, calls_for_reconciliation
    from tem.reconcile import Tolerances, calls_from_columns, detail_extent, detail_from_columns, period_of_dates
    from tem.reconcile import reconcile as run
    from tui.context import ActionError

    with _invoice_store(db_path) as (store, istore):
        inv = istore.invoice(invoice_id)
        if inv is None:
            raise ActionError(_("no invoice #{id}").format(id=invoice_id))
        detail = detail_from_columns(istore.call_detail(invoice_id))
        if not len(detail):
            return None
        period = period_of_dates(inv["period_start"], inv["period_end"], zone) \
            if inv["period_start"] and inv["period_end"] else detail_extent(detail)
        tol = Tolerances()
        if ask and site is None and not trunks:
            scopes = call_scopes(store, start=period[0] - tol.start, end=period[1] + tol.start)
            if len(scopes) > 1:
                return {"choose": [{"site": s, "trunk": t, "calls": n} for s, t, n in scopes]}
        cols = calls_for_reconciliation(store, start=period[0] - tol.start, end=period[1] + tol.start, site=site,
                                        trunks=trunks)
        return run(detail, calls_from_columns(cols), tol, period, inv["currency"]).summary()


def _check_terminal() -> None:
    from anatole.clitools import fail as _fail

    if not sys.stdout.isatty() or not sys.stdin.isatty():
        _fail(_("the console needs a terminal (run it in a terminal or over ssh -t); for scripts use "
                "`anatole calls --json`"))


@click.command("ui", help=_("The console: Live, Calls, Tariffs, Rejects and imports, Invoices, Inventory, Reports "
                            "(number keys, ? for help, ctrl+p for commands)."))
@click.option("--light", is_flag=True, help=_("Start with the light theme (t switches)."))
@click.option("--screen", type=click.Choice(list(SCREENS_UI)), default="calls",
              help=_("The screen to open first (default: `calls`)."))
@click.pass_context
def ui(ctx: click.Context, light: bool, screen: str) -> None:
    """The console: Live, Calls, Tariffs, Rejects and imports, Invoices, Inventory, Reports (number keys, ? for
    help, ctrl+p for commands)."""
    from anatole.clitools import workspace as _workspace
    from tui.app import ConsoleApp

    ws = _workspace(ctx)
    _check_terminal()
    ConsoleApp(console_context(ws), start=screen, light=light).run()


@click.command("monitor", help=_("Live calls, costs and alerts from the daemon (`anatole serve`); without it, the "
                                 "latest stored calls."))
@click.option("--light", is_flag=True, help=_("Start with the light theme (t switches)."))
@click.pass_context
def monitor(ctx: click.Context, light: bool) -> None:
    """Live calls, costs and alerts from the daemon (`anatole serve`); without it, the latest stored calls."""
    from anatole.clitools import workspace as _workspace
    from tui.app import ConsoleApp

    ws = _workspace(ctx)
    _check_terminal()
    ConsoleApp(console_context(ws), screens=("live",), start="live", light=light).run()
