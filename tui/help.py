"""The help screen: every key of every screen, read from the screens' own bindings (so it cannot go stale)."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from i18n import _, pgettext
from tui.data import status_legend
from tui.keybar import KeyBar


def _bindings(cls: Any) -> list[Binding]:
    out = []
    for b in getattr(cls, "BINDINGS", []):
        out.append(b if isinstance(b, Binding) else Binding(*b))
    return out


def sections(app: Any) -> list[tuple[str, list[Binding]]]:
    from tui.app import TITLES
    from tui.calls_screen import CallDetailScreen, CallsScreen
    from tui.inventory_screen import ImportPreviewScreen, InventoryScreen, ItemScreen
    from tui.invoices_screen import DisputeDialog, InvoiceDetailScreen, InvoicesScreen
    from tui.live_screen import LiveScreen
    from tui.rejects_screen import RejectsScreen
    from tui.reports_screen import ExportDialog, ReportsScreen
    from tui.tariffs_screen import TariffsScreen

    classes = {"live": LiveScreen, "calls": CallsScreen, "tariffs": TariffsScreen, "rejects": RejectsScreen,
               "invoices": InvoicesScreen}
    classes.update(inventory=InventoryScreen, reports=ReportsScreen)
    from tui.frontdesk_screen import CheckinDialog, FrontDeskScreen  # the hotel's screen

    classes.update(frontdesk=FrontDeskScreen)
    from tui.mobile_screen import MobileScreen  # the mobile lines

    classes.update(mobile=MobileScreen)
    out = [(_("Everywhere"), [b for b in _bindings(type(app)) if not (b.action.startswith("screen(")
                                                                   and b.action[8:-2] not in app.names)])]
    out[0][1].append(Binding("ctrl+p", "command_palette", _("Command palette: screens, theme, keys")))
    for name in app.names:
        out.append((_(TITLES[name]), _bindings(classes[name])))
        if name == "calls":
            out.append((_("Call detail"), _bindings(CallDetailScreen)))
        if name == "invoices":
            out.append((_("Invoice detail"), _bindings(InvoiceDetailScreen)))
            out.append((_("Approve, dispute"), [Binding("enter", "", _("Approve / open the dispute")),
                                                *_bindings(DisputeDialog),
                                                Binding("space", "", _("Dispute: toggle a finding"))]))
        if name == "inventory":
            out.append((_("Inventory item"), _bindings(ItemScreen)))
            out.append((_("Import preview"), _bindings(ImportPreviewScreen)))
        if name == "frontdesk":
            out.append((_("Check-in dialog"), [Binding("enter", "", _("Next field / check in")),
                                               *_bindings(CheckinDialog)]))
        if name == "reports":
            out.append((_("Report export"), [Binding("enter", "", _("Write the file (csv, xlsx, pdf: its extension)")),
                                              *_bindings(ExportDialog)]))
    out.append((_("Tables"), [Binding("up,down", "", _("Move")),
                              Binding("pageup,pagedown", "", _("Page (Calls: the next page at the end)")),
                              Binding("ctrl+home,ctrl+end", "", _("First, last row")),
                              Binding("tab", "", _("Next field or table"))]))
    if "calls" in app.names:  # what the one-glyph status column of a narrow Calls table means
        out.append((_("Calls: S column"), [Binding(f"status-{i}", "", meaning, key_display=glyph)
                                           for i, (glyph, meaning) in enumerate(status_legend())]))
    return out


class HelpScreen(Screen):
    """Every key, by screen. Escape or ? closes it."""

    BINDINGS = [Binding("escape,question_mark", "app.pop_screen", _("Close"), key_display="esc")]
    CSS = """
    HelpScreen DataTable { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield Static(_("anatole — keys"), classes="title")
        yield DataTable(id="help-keys", cursor_type="row", zebra_stripes=True)
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(_("screen"), pgettext("keyboard", "key"), _("what it does"))
        for title, bindings in sections(self.app):
            for b in bindings:
                keys = b.key_display or ", ".join(self.app.get_key_display(Binding(k.strip(), ""))
                                                  for k in b.key.split(","))
                table.add_row(title, keys, b.description or b.action)
        table.focus()
