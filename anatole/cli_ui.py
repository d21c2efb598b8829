"""`anatole ui` and `anatole monitor`: the Textual console over the workspace's store and the daemon's socket.

The workspace (anatole.toml) is read here and handed to `tui` as plain data (tui.context.ConsoleContext): `tui`
sits below `anatole` and never imports it.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Any

import click


def console_context(ws: Any) -> Any:
    """The console's view of a workspace: sites with their zones and tariffs, tariffs by file name."""
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
    return ConsoleContext(workspace=ws.path, currency=ws.currency, user=user, tariffs=tariffs,
                          sites={s.name: SiteInfo(s.name, s.timezone, s.tariff) for s in ws.sites.values()})


def _check_terminal() -> None:
    from anatole.clitools import fail as _fail

    if not sys.stdout.isatty() or not sys.stdin.isatty():
        _fail("the console needs a terminal (run it in a terminal or over ssh -t); for scripts use "
              "`anatole calls --json`")


@click.command("ui")
@click.option("--light", is_flag=True, help="Start with the light theme (t switches).")
@click.option("--screen", type=click.Choice(["calls", "live", "tariffs", "rejects"]), default="calls",
              show_default=True, help="The screen to open first.")
@click.pass_context
def ui(ctx: click.Context, light: bool, screen: str) -> None:
    """The console: Live, Calls, Tariffs, Rejects and imports (keys 1-4, ? for help, ctrl+p for commands)."""
    from anatole.clitools import workspace as _workspace
    from tui.app import ConsoleApp

    ws = _workspace(ctx)
    _check_terminal()
    ConsoleApp(console_context(ws), start=screen, light=light).run()


@click.command("monitor")
@click.option("--light", is_flag=True, help="Start with the light theme (t switches).")
@click.pass_context
def monitor(ctx: click.Context, light: bool) -> None:
    """Live calls, costs and alerts from the daemon (`anatole serve`); without it, the latest stored calls."""
    from anatole.clitools import workspace as _workspace
    from tui.app import ConsoleApp

    ws = _workspace(ctx)
    _check_terminal()
    ConsoleApp(console_context(ws), screens=("live",), start="live", light=light).run()
