"""The console application: `anatole ui` (every screen) and `anatole monitor` (the Live screen alone).

Screens are Textual modes, reached by number keys (? for help) and by the command palette (ctrl+p). Blocking work
(SQLite, compiling tariffs, the daemon's socket) runs in thread workers that post their results as messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from i18n import N_, _
from tui import SCREENS_UI
from tui.context import ConsoleContext
from tui.data import Reader, TariffBook

# marked with N_ and translated where shown (_(TITLES[name])): a table built at import
TITLES = {"live": N_("Live"), "calls": N_("Calls"), "tariffs": N_("Tariffs"), "rejects": N_("Rejects and imports"),
          "invoices": N_("Invoices"), "frontdesk": N_("Front desk"), "inventory": N_("Inventory"),
          "reports": N_("Reports"), "mobile": N_("Mobile")}
DESCRIPTIONS = {"live": N_("Calls in progress, finished calls, counters and alerts from the daemon"),
                "calls": N_("Explore the stored calls: filter, sort, totals, detail, export"),
                "tariffs": N_("The workspace's tariffs: rates, prefix search, quote a number"),
                "rejects": N_("What was quarantined and why; import batches and their counts"),
                "invoices": N_("Carrier invoices: charges, findings, reconciliation; approve or dispute"),
                "frontdesk": N_("Hotel rooms, guests, running call charges, folios, late charges, PMS postings"),
                "inventory": N_("Cost centres, people, extensions, lines, devices, contracts on a date; import "
                                "preview"),
                "reports": N_("Cost, usage and savings reports by month, with a chart; export to CSV, XLSX, PDF"),
                "mobile": N_("Mobile lines: plan, usage against the allowances, suggested plan and saving")}


# Textual's own palette entries, translated where they are yielded (their titles and help are Textual's English)
TEXTUAL_COMMANDS = (N_("Theme"), N_("Change the current theme"), N_("Quit"),
                    N_("Quit the application as soon as possible"), N_("Keys"),
                    N_("Hide the keys and widget help panel"),
                    N_("Show help for the focused widget and a summary of available keys"), N_("Minimize"),
                    N_("Minimize the widget and restore to normal size"), N_("Maximize"),
                    N_("Maximize the focused widget"), N_("Screenshot"),
                    N_("Save an SVG 'screenshot' of the current screen"))


class ConsoleApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "anatole"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("q", "quit", _("Quit"), id="quit"),
        Binding("question_mark", "help", _("Help"), key_display="?", id="help"),
        Binding("1", "screen('live')", _("Live"), show=False, id="screen-live"),
        Binding("2", "screen('calls')", _("Calls"), show=False, id="screen-calls"),
        Binding("3", "screen('tariffs')", _("Tariffs"), show=False, id="screen-tariffs"),
        Binding("4", "screen('rejects')", _("Rejects"), show=False, id="screen-rejects"),
        Binding("5", "screen('invoices')", _("Invoices"), show=False, id="screen-invoices"),
        Binding("6", "screen('frontdesk')", _("Front desk"), show=False, id="screen-frontdesk"),
        Binding("7", "screen('inventory')", _("Inventory"), show=False, id="screen-inventory"),
        Binding("8", "screen('reports')", _("Reports"), show=False, id="screen-reports"),
        Binding("9", "screen('mobile')", _("Mobile"), show=False, id="screen-mobile"),
        Binding("t", "toggle_theme", _("Theme"), show=False, id="theme"),
    ]

    def __init__(self, ctx: ConsoleContext, *, screens: Iterable[str] = SCREENS_UI, start: str = "calls",
                 light: bool = False) -> None:
        super().__init__()
        self.ctx = ctx
        self.names = tuple(screens)
        self.first = start if start in self.names else self.names[0]
        self.reader = Reader(ctx.db_path)
        self.tariffs = TariffBook(ctx)
        self.theme = "textual-light" if light else "textual-dark"
        for name in self.names:
            self.add_mode(name, partial(_make_screen, name))

    def on_mount(self) -> None:
        self.switch_mode(self.first)

    def on_unmount(self) -> None:
        self.reader.close()

    def action_screen(self, name: str) -> None:
        if name in self.names and self.current_mode != name:
            self.switch_mode(name)

    def action_help(self) -> None:
        from tui.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for name in self.names:
            n = SCREENS_UI.index(name) + 1  # its number key, also when the app shows only some screens
            yield SystemCommand(_("{title} screen ({key})").format(title=_(TITLES[name]), key=n),
                                _(DESCRIPTIONS[name]), partial(self.action_screen, name))
        for title, help_text, callback in getattr(screen, "palette_commands", list)():  # the screen's own actions
            yield SystemCommand(title, help_text, callback)
        yield SystemCommand(_("Help: every key"), _("List the keys of every screen"), self.action_help)
        yield SystemCommand(_("Light or dark theme"), _("Switch between the light and the dark theme"),
                            self.action_toggle_theme)
        for command in super().get_system_commands(screen):
            yield command._replace(title=_(command.title), help=_(command.help))

    def action_command_palette(self) -> None:
        """Textual's palette, its search line in the user's language."""
        from textual.command import CommandPalette

        if self.use_command_palette and not CommandPalette.is_open(self):
            self.push_screen(CommandPalette(id="--command-palette", placeholder=_("Search for commands…")))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "screen":
            return parameters[0] in self.names
        return True


def _make_screen(name: str) -> Screen:
    if name == "live":
        from tui.live_screen import LiveScreen

        return LiveScreen()
    if name == "calls":
        from tui.calls_screen import CallsScreen

        return CallsScreen()
    if name == "tariffs":
        from tui.tariffs_screen import TariffsScreen

        return TariffsScreen()
    if name == "invoices":
        from tui.invoices_screen import InvoicesScreen

        return InvoicesScreen()
    if name == "frontdesk":
        from tui.frontdesk_screen import FrontDeskScreen

        return FrontDeskScreen()
    if name == "inventory":
        from tui.inventory_screen import InventoryScreen

        return InventoryScreen()
    if name == "reports":
        from tui.reports_screen import ReportsScreen

        return ReportsScreen()
    if name == "mobile":
        from tui.mobile_screen import MobileScreen

        return MobileScreen()
    from tui.rejects_screen import RejectsScreen

    return RejectsScreen()


def run_ui(ctx: ConsoleContext, *, light: bool = False) -> None:
    ConsoleApp(ctx, light=light).run()


def run_monitor(ctx: ConsoleContext, *, light: bool = False) -> None:
    ConsoleApp(ctx, screens=("live",), start="live", light=light).run()
