"""Inventory: cost centres (as a tree), people, extensions, lines and services, devices, contracts and sites as they
stood on a date (the inventory is effective-dated: a person who moved department mid-month shows the department of
that day), a filter, every version and change of one item, and the preview of a CSV import.

The items and their history are read here from `store.inventory` (tui may read the store). The import preview needs
`tem.inventory`, a sibling of `tui`: `anatole` hands it over as `ConsoleContext.inventory`
(tui.context.InventoryActions); nothing is applied from the console (the preview shows the command that does).
Every database call runs in a thread worker; results come back as messages.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Checkbox, DataTable, Input, Select, Static, Tab, Tabs

from i18n import N_, _, ngettext, pgettext
from store import display
from store.db import StoreError
from store.inventory import InventoryStore, InventoryStoreError
from tui.context import ActionError, ConsoleContext, zoneinfo
from tui.data import ComponentReader
from tui.keybar import KeyBar
from tui.table import Column, LocalTable, Money, Row, screen_keys, table_commands

KINDS = ("cost_centre", "person", "extension", "line", "device", "contract", "site")
KIND_TITLES = {"cost_centre": N_("Cost centres"), "person": N_("People"), "extension": N_("Extensions"),
               "line": N_("Lines"), "device": N_("Devices"), "contract": N_("Contracts"), "site": N_("Sites")}
MONEY_FIELDS = ("budget", "monthly_fee")
ROW_LIMIT = 500  # rows put in the table (a filter narrows a big directory; the count says how many match)
# what each kind shows: (heading, how to get the cell from an item and the day's lookups)
Getter = Callable[[dict[str, Any], "Lookups"], str]


# --- data access (no Textual: called from worker threads) --------------------------------------------------------


class InventoryReader(ComponentReader):
    """The screen's read access to the inventory component (one connection, guarded by a lock)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, InventoryStore, InventoryStoreError)

    def on_day(self, day: str) -> dict[str, list[dict[str, Any]]]:
        """Every item valid on `day` (ISO date), by kind; a contract also gets `contract_end`, the end of its last
        version (a version of the day may end only because a later one changes the fee)."""
        rows, contracts = self._guard(lambda inv: (inv.items(at=day), inv.items("contract")))
        out: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
        for row in rows:
            out.setdefault(row["kind"], []).append(row)
        ends = {r["key"]: r["valid_to"] for r in contracts}  # oldest first: the last version's end wins
        for row in out["contract"]:
            row["contract_end"] = ends.get(row["key"], row["valid_to"])
        return out

    def item(self, kind: str, key: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Every version of one item (oldest first) and its history (newest first)."""
        return self._guard(lambda inv: (inv.items(kind, key=key), inv.history(kind, key)))


class Lookups:
    """What a row shows of other items valid the same day: names of people and cost centres, extensions held,
    head counts."""

    def __init__(self, items: dict[str, list[dict[str, Any]]], currency: str = "") -> None:
        self.currency = currency  # the workspace's: budgets and fees are kept in it
        self.people = {r["key"]: r["name"] or "" for r in items.get("person", [])}
        self.centres = {r["key"]: r["name"] or "" for r in items.get("cost_centre", [])}
        self.extensions: dict[str, list[str]] = {}
        for r in items.get("extension", []):
            if r["person"]:
                self.extensions.setdefault(r["person"], []).append(r["extension"] or r["key"])
        self.heads: dict[str, int] = {}
        for r in items.get("person", []):
            if r["cost_centre"]:
                self.heads[r["cost_centre"]] = self.heads.get(r["cost_centre"], 0) + 1


def money(value: int | None, currency: str = "", *, exact: bool = False) -> str:
    """Budgets and fees with the workspace's currency (store.display): its decimals in lists, exact in history."""
    return display.money(None if value is None else int(value), currency, exact=exact)


def _f(name: str) -> Getter:
    return lambda r, _lk: "" if r.get(name) is None else str(r[name])


def _person(r: dict[str, Any], lk: Lookups) -> str:
    key = r.get("person")
    if not key:
        return ""
    name = lk.people.get(key, "")
    return f"{key} {name}" if name else key


def notice_by(r: dict[str, Any]) -> str:
    """The last day to give notice (ISO): the contract's end less the notice period."""
    end = r.get("contract_end", r["valid_to"])
    if not end or r["notice_days"] is None:
        return ""
    return (dt.date.fromisoformat(end) - dt.timedelta(days=int(r["notice_days"]))).isoformat()


def _day(iso: str | None) -> str:
    """An ISO day as the language writes it (store.display: 2025-03-01 in English, 01/03/2025 in French)."""
    if not iso:
        return ""
    try:
        return display.day(dt.date.fromisoformat(iso))
    except ValueError:
        return iso


def _dated(name: str) -> Getter:
    return lambda r, _lk: _day(r.get(name))


_FROM, _TO = (N_("from"), _dated("valid_from")), (N_("to"), _dated("valid_to"))
COLUMNS: dict[str, list[tuple[str, Getter]]] = {  # headings in English: the columns' keys, shown translated
    "cost_centre": [(N_("code"), _f("key")), (N_("name"), _f("name")), (N_("parent"), _f("parent")),
                    (N_("GL"), _f("gl_account")), (N_("budget"), lambda r, lk: money(r["budget"], lk.currency)),
                    (N_("people"), lambda r, lk: str(lk.heads.get(r["key"], 0) or "")), _FROM, _TO],
    "person": [(N_("id"), _f("key")), (N_("name"), _f("name")), (N_("email"), _f("email")),
               (N_("cost centre"), _f("cost_centre")), (N_("site"), _f("site")),
               (N_("extensions"), lambda r, lk: " ".join(sorted(lk.extensions.get(r["key"], [])))), _FROM, _TO],
    "extension": [(N_("number"), lambda r, _lk: r["extension"] or r["key"]), (N_("site"), _f("site")),
                  (N_("person"), _person), (N_("cost centre"), _f("cost_centre")), _FROM, _TO],
    "line": [(N_("service"), _f("key")), (N_("name"), _f("name")), (N_("type"), _f("service_kind")),
             (N_("carrier"), _f("carrier")), (N_("account"), _f("account")), (N_("contract"), _f("contract")),
             (N_("site"), _f("site")), (N_("holder"), _person), (N_("cost centre"), _f("cost_centre")),
             (N_("ext."), _f("extension")), _FROM, _TO],
    "device": [(N_("device"), _f("key")), (N_("name"), _f("name")), (N_("type"), _f("service_kind")),
               (N_("holder"), _person), (N_("site"), _f("site")), (N_("ext."), _f("extension")),
               (N_("line"), _f("line")), (N_("cost centre"), _f("cost_centre")), _FROM, _TO],
    "contract": [(N_("contract"), _f("key")), (N_("name"), _f("name")), (N_("carrier"), _f("carrier")),
                 (N_("account"), _f("account")), (N_("tariff"), _f("tariff")),
                 (N_("monthly fee"), lambda r, lk: money(r["monthly_fee"], lk.currency)),
                 (N_("notice d."), _f("notice_days")), (N_("notice by"), lambda r, _lk: _day(notice_by(r))),
                 _FROM, _TO],
    "site": [(N_("site"), _f("key")), (N_("name"), _f("name")), (N_("cost centre"), _f("cost_centre")), _FROM, _TO],
}
RIGHT = {"budget", "people", "monthly fee", "notice d."}
MONEY_COLUMNS = {"budget": "budget", "monthly fee": "monthly_fee"}
COUNT_COLUMNS = {"notice d.": "notice_days"}


def table_columns(kind: str) -> list[Column]:
    return [Column(heading, label(heading)) for heading, _g in COLUMNS[kind]]


def label(heading: str) -> str:
    """A column's heading in the language; `from` and `to` are the days an item is valid."""
    if heading == "from":
        return pgettext("valid", "from")
    if heading == "to":
        return pgettext("valid", "to")
    return _(heading)


def list_row(kind: str, r: dict[str, Any], cells: list[str], currency: str, heads: int | None = None) -> Row:
    """One item's cells and what they sort, filter and export by: a cost centre's code without the tree marks,
    budgets and fees exact with the workspace's currency, counts as numbers."""
    headings = [h for h, _g in COLUMNS[kind]]
    shown = {h: Text(c, justify="right") if h in RIGHT else c for h, c in zip(headings, cells, strict=True)}
    values: dict[str, Any] = {headings[0]: r["key"] if kind == "cost_centre" else cells[0]}
    for h, name in MONEY_COLUMNS.items():
        if h in shown:
            values[h] = None if r.get(name) is None else Money(int(r[name]), currency)
    for h, name in COUNT_COLUMNS.items():
        if h in shown:
            values[h] = r.get(name)
    if kind == "cost_centre":
        values["people"] = heads
    values.update(dated_values(r))
    return Row(str(r["id"]), shown, values)


def dated_values(r: dict[str, Any]) -> dict[str, str]:
    """The days of an item as they sort and export: ISO, whatever the language shows."""
    out = {"from": r.get("valid_from") or "", "to": r.get("valid_to") or ""}
    if "notice_days" in r:
        out["notice by"] = notice_by(r)
    return out


def tree_order(rows: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Cost centres depth first under their parents, with their depth; a centre whose parent is not valid that day
    is a root, and a loop (refused on import, but the store is not trusted blindly) cannot hang the screen."""
    by_key = {r["key"]: r for r in rows}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for r in rows:
        parent = r["parent"] if r["parent"] in by_key and r["parent"] != r["key"] else None
        children.setdefault(parent, []).append(r)
    out: list[tuple[int, dict[str, Any]]] = []
    seen: set[str] = set()

    def walk(parent: str | None, depth: int) -> None:
        for r in sorted(children.get(parent, []), key=lambda x: x["key"]):
            if r["key"] in seen:
                continue
            seen.add(r["key"])
            out.append((depth, r))
            walk(r["key"], depth + 1)

    walk(None, 0)
    out += [(0, r) for r in sorted(rows, key=lambda x: x["key"]) if r["key"] not in seen]  # inside a loop
    return out


def table_rows(kind: str, items: dict[str, list[dict[str, Any]]], currency: str = "",
               ) -> list[tuple[dict[str, Any], list[str]]]:
    """(item, cells) of one kind, in display order (the cost centres as a tree, indented)."""
    lk = Lookups(items, currency)
    rows = items.get(kind, [])
    ordered = tree_order(rows) if kind == "cost_centre" else [(0, r) for r in rows]
    out = []
    for depth, r in ordered:
        cells = [get(r, lk) for _h, get in COLUMNS[kind]]
        if depth:
            cells[0] = "  " * (depth - 1) + "└ " + cells[0]
        out.append((r, cells))
    return out


def parse_day(text: str) -> str:
    """A day as ISO (YYYY-MM-DD) or as the language writes it (store.display: 01/03/2025 in French) → ISO;
    ValueError says what is wrong."""
    text = text.strip()
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    try:
        return dt.datetime.strptime(text, display.date_pattern()).date().isoformat()
    except ValueError:
        raise ValueError(_("{text} is not a date: write YYYY-MM-DD (e.g. 2025-03-01)").format(text=repr(text))) \
            from None


def change_text(h: dict[str, Any], currency: str = "") -> str:
    """What one history row changed, in a line (amounts exact)."""
    before, after = h["before"] or {}, h["after"] or {}

    def show(k: str, v: Any) -> str:
        if k in MONEY_FIELDS and isinstance(v, int):
            return money(v, currency, exact=True)
        return "" if v is None else str(v)

    if h["action"] == "remove":
        return _("ended")
    if before and after:
        diff = [f"{k}: {show(k, before.get(k)) or '-'} → {show(k, v) or '-'}" for k, v in after.items()
                if k in before and before.get(k) != v]
        return ", ".join(diff) or _("dates")
    return ", ".join(f"{k}={show(k, v)}" for k, v in after.items() if v is not None)


# --- messages ----------------------------------------------------------------------------------------------------


class InventoryLoaded(Message):
    """The items of a day with their table rows, made in the worker (cells and search text of a big directory
    take a while to build; filtering them on the event loop is then a substring scan)."""

    def __init__(self, day: str, items: dict[str, list[dict[str, Any]]],
                 rows: dict[str, list[tuple[dict[str, Any], list[str], str]]], error: str = "") -> None:
        super().__init__()
        self.day, self.items, self.rows, self.error = day, items, rows, error


class ItemLoaded(Message):
    def __init__(self, versions: list[dict[str, Any]], history: list[dict[str, Any]], error: str = "") -> None:
        super().__init__()
        self.versions, self.history, self.error = versions, history, error


class PreviewDone(Message):
    def __init__(self, result: dict[str, Any] | None, error: str = "") -> None:
        super().__init__()
        self.result, self.error = result, error


# --- the screen --------------------------------------------------------------------------------------------------


class InventoryScreen(Screen):
    """The inventory on a date, one kind at a time."""

    CSS_PATH = "inventory.tcss"
    BINDINGS = [
        Binding("enter", "open", _("Detail"), show=False),
        # the footer fits 80 columns with the table's keys: one entry for both kind keys; /, d and i are named on
        # the filter line and the message line, reload in the help
        Binding("left_square_bracket", "kind(-1)", _("Kind"), key_display="[ ]"),
        Binding("right_square_bracket", "kind(1)", _("Next kind"), key_display="]", show=False),
        Binding("slash", "filter", _("Filter"), key_display="/", show=False),
        Binding("d", "date", _("Date"), show=False),
        Binding("i", "import_preview", _("Import preview"), show=False),
        Binding("r", "reload", _("Reload"), show=False),
        Binding("escape", "leave_input", _("Back to the table"), show=False),
        # the table's own keys (LocalTable), here too so that they work from the inputs and show in the help
        *screen_keys(clear=_("Clear the cell filter")),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.reader: InventoryReader | None = None
        self.by_id: dict[str, dict[str, Any]] = {}
        self.matching = 0
        self.kind = "cost_centre"
        self.day = ""
        self.items: dict[str, list[dict[str, Any]]] = {}
        self.rows: dict[str, list[tuple[dict[str, Any], list[str], str]]] = {}
        self.shown: list[dict[str, Any]] = []
        self.error = ""

    def compose(self) -> ComposeResult:
        yield Static(_("Inventory"), classes="title", id="inventory-title")
        yield Tabs(*[Tab(_(KIND_TITLES[k]), id=f"kind-{k}") for k in KINDS], id="inventory-kinds")
        with Horizontal(id="inventory-bar"):
            yield Input(id="inventory-date", classes="line-input", restrict=r"[0-9./-]*", max_length=10)
            yield Input(placeholder=_("/ filter: words in any column"), id="inventory-filter", classes="line-input")
        ctx = self.app.ctx
        yield LocalTable(table_columns(self.kind), name_for_export="inventory", workspace=lambda: ctx.workspace,
                         clock=ctx.clock, id="inventory")
        yield Static("", id="inventory-message", classes="message")
        yield KeyBar()

    def on_mount(self) -> None:
        self.reader = InventoryReader(self.app.ctx.db_path)
        ctx: ConsoleContext = self.app.ctx
        self.day = dt.datetime.fromtimestamp(ctx.clock(), zoneinfo(ctx.zone())).date().isoformat()
        self.query_one("#inventory-date", Input).value = self.day
        self.query_one("#inventory-kinds", Tabs).can_focus = False
        self.table().focus()
        self._load(self.day)

    def table(self) -> LocalTable:
        return self.query_one("#inventory", LocalTable)

    async def action_table(self, action: str) -> None:
        await self.table().run_action(action)

    def on_unmount(self) -> None:
        if self.reader is not None:
            self.reader.close()

    def _message(self, text: str | Text, *, error: bool = False) -> None:
        line = self.query_one("#inventory-message", Static)
        line.update(text if isinstance(text, Text) else Text(text))
        line.set_class(error, "error")

    @work(thread=True, exclusive=True, group="inventory")
    def _load(self, day: str) -> None:
        assert self.reader is not None
        try:
            items = self.reader.on_day(day)
        except StoreError as exc:
            self.post_message(InventoryLoaded(day, {}, {}, str(exc)))
            return
        cur = self.app.ctx.currency
        rows = {k: [(r, cells, " ".join(cells).lower()) for r, cells in table_rows(k, items, cur)] for k in KINDS}
        self.post_message(InventoryLoaded(day, items, rows))

    def on_inventory_loaded(self, message: InventoryLoaded) -> None:
        self.error = message.error
        if message.error:
            self._message(message.error, error=True)
            return
        self.day, self.items, self.rows = message.day, message.items, message.rows
        self._show()

    def _show(self) -> None:
        """The items the words of the filter line match (the first ROW_LIMIT), then the table's own filter by cell
        and sort."""
        table = self.table()
        words = self.query_one("#inventory-filter", Input).value.lower().split()
        matching = [(r, cells) for r, cells, text in self.rows.get(self.kind, []) if all(w in text for w in words)]
        rows = matching[:ROW_LIMIT]
        self.matching = len(matching)
        self.by_id = {str(r["id"]): r for r, _c in rows}
        cur = self.app.ctx.currency
        heads = Lookups(self.items).heads if self.kind == "cost_centre" else {}
        with self.app.batch_update():
            table.set_rows([list_row(self.kind, r, cells, cur, heads.get(r["key"])) for r, cells in rows])
        kind = _(KIND_TITLES[self.kind]).lower()
        if not any(self.items.values()):
            self._message(_("no inventory on this date: import one with `anatole inventory import FILE --kind ...` "
                            "(i: preview a file here)"))
        elif not rows:
            self._message(_("{kind}: none match").format(kind=kind) if words else
                          _("{kind}: none on {day}").format(kind=kind, day=_day(self.day)))
        elif len(matching) > len(rows):
            self._message(_("the first {n} of {total} shown: / filter to narrow them").format(n=len(rows),
                                                                                          total=len(matching)))
        else:
            self._message(_("enter: every version and change of the item · d date · i import preview"))

    @on(LocalTable.Changed, "#inventory")
    def table_changed(self, event: LocalTable.Changed) -> None:
        """The title: the kind, the day, how many match the filter line, and the table's cell filter and sort."""
        self.shown = [self.by_id[r.key] for r in event.table.view if r.key in self.by_id]
        total = len(self.items.get(self.kind, []))
        count = _("{shown} of {matching}").format(shown=self.matching, matching=total) \
            if self.query_one("#inventory-filter", Input).value.split() else str(total)
        more = f" · {event.table.summary()}" if event.table.filters or event.table.sort else ""
        self.query_one("#inventory-title", Static).update(
            _("Inventory · {kind} on {day}: {count}").format(kind=_(KIND_TITLES[self.kind]).lower(),
                                                             day=_day(self.day), count=count) + more)

    # --- kinds, date, filter ----------------------------------------------------------------------------

    def action_kind(self, step: int) -> None:
        self._set_kind(KINDS[(KINDS.index(self.kind) + step) % len(KINDS)])

    def _set_kind(self, kind: str) -> None:
        tabs = self.query_one("#inventory-kinds", Tabs)
        if tabs.active != f"kind-{kind}":
            tabs.active = f"kind-{kind}"
        if kind != self.kind:
            self.kind = kind
            table = self.table()  # another kind, other columns: its own sort and filter start afresh
            table.all_columns, table.sort, table.filters, table.hidden = table_columns(kind), None, {}, set()
            table.export_name = f"inventory-{KIND_TITLES[kind].lower().replace(' ', '-')}"
            table.set_rows([])
            table.move_cursor(row=0, column=0)
            self._show()

    @on(Tabs.TabActivated, "#inventory-kinds")
    def tab_activated(self, event: Tabs.TabActivated) -> None:
        if event.tab is not None and event.tab.id:
            self._set_kind(event.tab.id.removeprefix("kind-"))

    def action_date(self) -> None:
        self.query_one("#inventory-date", Input).focus()

    def action_filter(self) -> None:
        self.query_one("#inventory-filter", Input).focus()

    def action_leave_input(self) -> None:
        self.table().focus()

    def action_reload(self) -> None:
        self._load(self.day)

    @on(Input.Submitted, "#inventory-date")
    def date_submitted(self, event: Input.Submitted) -> None:
        try:
            day = parse_day(event.value)
        except ValueError as exc:
            self._message(str(exc), error=True)
            return
        self.table().focus()
        self._load(day)

    @on(Input.Changed, "#inventory-filter")
    def filter_changed(self) -> None:
        if not self.error:
            self._show()

    @on(Input.Submitted, "#inventory-filter")
    def filter_done(self) -> None:
        self.table().focus()

    # --- detail and import ------------------------------------------------------------------------------

    def _current(self) -> dict[str, Any] | None:
        row = self.table().current_row()
        return None if row is None else self.by_id.get(row.key)

    def action_open(self) -> None:
        item = self._current()
        if item is not None and self.reader is not None:
            self.app.push_screen(ItemScreen(item["kind"], item["key"], self.reader, self.day))

    @on(DataTable.CellSelected, "#inventory")
    def selected(self) -> None:
        self.action_open()

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        """(title, help, callback) for the app's command palette: the screen's actions and the table's keys."""
        table = self.table()
        out: list[tuple[str, str, Any]] = [
            (_("Inventory: open the highlighted item"), _("Every version and change (enter)"), self.action_open),
            (_("Inventory: preview a CSV import…"), _("What importing a file would do; nothing written (i)"),
             self.action_import_preview),
            (_("Inventory: another date…"), _("The inventory as it stood on a day (d)"), self.action_date),
        ]
        out += [(_("Inventory: {kind}").format(kind=_(KIND_TITLES[k]).lower()), _("[ and ] step through the kinds"),
                 lambda k=k: self._set_kind(k)) for k in KINDS]
        return out + table_commands(table, _("Inventory"), "item")

    def action_import_preview(self) -> None:
        self.app.push_screen(ImportPreviewScreen(self.day))


def _file_name(text: str) -> str:
    """A key as a piece of a file name (an export's default name)."""
    return re.sub(r"[^\w.-]+", "-", text).strip("-") or "item"


class ItemScreen(Screen):
    """One item: every version (the effective-dated history of its fields) and every recorded change, as
    LocalTables (sort, filter by cell, columns, export of the view)."""

    CSS_PATH = "inventory.tcss"
    BINDINGS = [Binding("escape", "app.pop_screen", _("Back"), key_display="esc"),
                Binding("v", "show('#item-versions')", _("Tables"), key_display="v h"),
                Binding("h", "show('#item-history')", _("Changes"), show=False),
                *screen_keys()]

    def __init__(self, kind: str, key: str, reader: InventoryReader, day: str) -> None:
        super().__init__()
        self.kind, self.key, self.reader, self.day = kind, key, reader, day
        self.history: dict[str, dict[str, Any]] = {}
        self.summary = ""

    def compose(self) -> ComposeResult:
        ctx = self.app.ctx
        name = f"inventory-{_file_name(self.key)}"
        yield Static(f"{_(KIND_TITLES[self.kind])} · {self.key}", classes="title", id="item-title")
        yield Static(_("Versions (effective-dated; ▸ the one in force on the screen's date)"), classes="subtitle")
        yield LocalTable(self._version_columns(), name_for_export=f"{name}-versions", workspace=lambda: ctx.workspace,
                         clock=ctx.clock, id="item-versions")
        yield Static(_("Changes (newest first)"), classes="subtitle")
        yield LocalTable(HISTORY_COLUMNS, name_for_export=f"{name}-changes", workspace=lambda: ctx.workspace,
                         clock=ctx.clock, id="item-history")
        yield Static("", id="item-message", classes="message")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#item-versions", LocalTable).focus()
        self._load()

    def _getters(self) -> list[tuple[str, Getter]]:
        """The columns of a version: those of the list, less the dates and what is counted over a day's items."""
        return [(h, g) for h, g in COLUMNS[self.kind] if h not in ("from", "to", "extensions", "people")]

    def _version_columns(self) -> list[Column]:
        return [Column("now", "▸"), *[Column(h, label(h)) for h, _g in self._getters()],
                Column("from", label("from")), Column("to", label("to"))]

    def action_show(self, selector: str) -> None:
        self.query_one(selector).focus()

    async def action_table(self, action: str) -> None:
        """The table keys act on the table that has the focus (the versions when neither has)."""
        focused = self.focused if isinstance(self.focused, LocalTable) else self.query_one("#item-versions")
        await focused.run_action(action)

    @work(thread=True, exclusive=True, group="inventory-item")
    def _load(self) -> None:
        try:
            versions, history = self.reader.item(self.kind, self.key)
        except StoreError as exc:
            self.post_message(ItemLoaded([], [], str(exc)))
            return
        self.post_message(ItemLoaded(versions, history))

    def on_item_loaded(self, message: ItemLoaded) -> None:
        line = self.query_one("#item-message", Static)
        if message.error:
            line.update(Text(message.error))
            line.add_class("error")
            return
        cur = self.app.ctx.currency
        lk = Lookups({}, cur)
        getters = self._getters()
        rows = []
        for r in message.versions:
            current = r["valid_from"] <= self.day and (r["valid_to"] is None or r["valid_to"] > self.day)
            cells: dict[str, Any] = {"now": "▸" if current else ""}
            cells.update({h: Text(g(r, lk), justify="right") if h in RIGHT else g(r, lk) for h, g in getters})
            cells.update({"from": _day(r["valid_from"]), "to": _day(r["valid_to"])})
            values: dict[str, Any] = {h: None if r.get(f) is None else Money(int(r[f]), cur)
                                      for h, f in MONEY_COLUMNS.items() if h in cells}
            values.update({h: r.get(f) for h, f in COUNT_COLUMNS.items() if h in cells})
            values.update({k: v for k, v in dated_values(r).items() if k in cells})
            rows.append(Row(str(r["id"]), cells, values))
        self.query_one("#item-versions", LocalTable).set_rows(rows)
        zone = self.app.ctx.zone()
        self.history = {str(h["id"]): h for h in message.history}
        self.query_one("#item-history", LocalTable).set_rows([history_row(h, zone, cur) for h in message.history])
        self.summary = " · ".join([
            ngettext("{n} version", "{n} versions", len(message.versions)).format(n=len(message.versions)),
            ngettext("{n} change", "{n} changes", len(message.history)).format(n=len(message.history)),
            _("`anatole inventory show {key}` prints the same").format(key=self.key)])
        line.update(self.summary)

    @on(DataTable.CellHighlighted, "#item-history")
    def change_highlighted(self) -> None:
        """The whole of a change, which the table's column may cut."""
        table = self.query_one("#item-history", LocalTable)
        row = table.current_row()
        if table.has_focus and row is not None and row.key in self.history:
            h = self.history[row.key]
            self.query_one("#item-message", Static).update(
                Text(_("{action} from {day}: {what}").format(action=action_name(h["action"]), day=_day(h["valid_from"]),
                                                             what=change_text(h, self.app.ctx.currency))
                     + (f" ({h['note']})" if h["note"] else "")))

    @on(DataTable.CellHighlighted, "#item-versions")
    def version_highlighted(self) -> None:
        if self.summary:
            self.query_one("#item-message", Static).update(self.summary)

    @on(LocalTable.Changed)
    def table_changed(self, event: LocalTable.Changed) -> None:
        """What a filter or a sort leaves of a table, on the message line."""
        if self.summary and (event.table.filters or event.table.sort):
            text = _("versions: {shown}") if event.table.id == "item-versions" else _("changes: {shown}")
            self.query_one("#item-message", Static).update(Text(text.format(shown=event.table.summary())))

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        """(title, help, callback) for the app's command palette: both tables' keys."""
        return (table_commands(self.query_one("#item-versions", LocalTable), _("Versions"))
                + table_commands(self.query_one("#item-history", LocalTable), _("Changes")))


HISTORY_COLUMNS = [Column("when", _("when")), Column("who", _("who")), Column("batch", _("batch")),
                   Column("action", _("action")), Column("from", label("from")), Column("to", label("to")),
                   Column("what", _("what (amounts exact)")), Column("source", _("source"))]


def action_name(action: str) -> str:
    """A recorded change's action (stored in English) as the language says it."""
    return {"add": pgettext("inventory change", "add"), "change": pgettext("inventory change", "change"),
            "remove": pgettext("inventory change", "remove")}.get(action, action)


def history_row(h: dict[str, Any], zone: str, currency: str) -> Row:
    """One recorded change: sorted by its instant and its batch number, not by their text."""
    cells = {"when": display.when(h["at"], zone), "who": h["actor"] or "",
             "batch": f"#{h['batch_id']}" if h["batch_id"] else "", "action": action_name(h["action"]),
             "from": _day(h["valid_from"]), "to": _day(h["valid_to"]), "what": change_text(h, currency),
             "source": h["note"] or ""}
    at = "" if h["at"] is None else dt.datetime.fromtimestamp(h["at"], dt.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S UTC")  # sorts as it reads, exports unambiguous
    return Row(str(h["id"]), cells, {"when": at, "batch": h["batch_id"], "from": h["valid_from"] or "",
                                     "to": h["valid_to"] or ""})


class ImportPreviewScreen(Screen):
    """What importing a CSV file would do — adds, changes, removals and problems — without writing anything."""

    CSS_PATH = "inventory.tcss"
    BINDINGS = [Binding("escape", "app.pop_screen", _("Back"), key_display="esc"),
                Binding("ctrl+r", "run", _("Preview"), key_display="ctrl+r"),
                *screen_keys()]

    def __init__(self, day: str) -> None:
        super().__init__()
        self.day = day
        self.summary = ""

    def compose(self) -> ComposeResult:
        kinds = self.app.ctx.inventory.kinds if self.app.ctx.inventory is not None else ("people",)
        yield Static(_("Inventory · preview of a CSV import (nothing is written)"), classes="title")
        with Horizontal(id="preview-bar"):
            yield Input(placeholder=_("CSV file (relative to the workspace), enter: preview"), id="preview-file",
                        classes="line-input")
            yield Select([(k, k) for k in kinds], value=kinds[0], allow_blank=False, id="preview-kind",
                         compact=True)
        with Horizontal(id="preview-options"):
            yield Static(_("effective"), classes="label")
            yield Input(value=self.day, id="preview-effective", classes="line-input", restrict=r"[0-9./-]*",
                        max_length=10)
            yield Checkbox(_("partial (remove nothing)"), id="preview-partial", compact=True)
        yield Static("", id="preview-summary", classes="totals")
        ctx = self.app.ctx
        yield LocalTable(PREVIEW_COLUMNS, name_for_export="inventory-preview", workspace=lambda: ctx.workspace,
                         clock=ctx.clock, id="preview")
        yield Static("", id="preview-message", classes="message")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#preview-file", Input).focus()
        if self.app.ctx.inventory is None:
            self._message(_("the preview needs the workspace: open the console with `anatole ui`"), error=True)

    def _message(self, text: str, *, error: bool = False) -> None:
        line = self.query_one("#preview-message", Static)
        line.update(Text(text))
        line.set_class(error, "error")

    @on(Input.Submitted, "#preview-file")
    @on(Input.Submitted, "#preview-effective")
    def submitted(self) -> None:
        self.action_run()

    def action_run(self) -> None:
        ctx: ConsoleContext = self.app.ctx
        if ctx.inventory is None:
            self._message(_("the preview needs the workspace: open the console with `anatole ui`"), error=True)
            return
        text = self.query_one("#preview-file", Input).value.strip()
        if not text:
            self._message(_("give the CSV file to preview"), error=True)
            return
        effective = self.query_one("#preview-effective", Input).value.strip()
        try:
            effective = parse_day(effective) if effective else ""
        except ValueError as exc:
            self._message(_("effective: {problem}").format(problem=exc), error=True)
            return
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = ctx.workspace / path
        kind = str(self.query_one("#preview-kind", Select).value)
        partial = self.query_one("#preview-partial", Checkbox).value
        self._message(_("reading {path}…").format(path=ctx.shown(path)))
        self._preview(path, kind, effective or None, partial)

    @work(thread=True, exclusive=True, group="inventory-preview")
    def _preview(self, path: Path, kind: str, effective: str | None, partial: bool) -> None:
        assert self.app.ctx.inventory is not None
        try:
            result = self.app.ctx.inventory.preview(path, kind, effective, partial)
        except ActionError as exc:
            self.post_message(PreviewDone(None, str(exc)))
            return
        self.post_message(PreviewDone({**result, "path": str(path), "file_kind": kind}))

    async def action_table(self, action: str) -> None:
        await self.query_one("#preview", LocalTable).run_action(action)

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        """(title, help, callback) for the app's command palette: the preview and the table's keys."""
        return [(_("Preview: run"), _("What importing the file would do (ctrl+r)"), self.action_run),
                *table_commands(self.query_one("#preview", LocalTable), _("Preview"))]

    @on(LocalTable.Changed, "#preview")
    def table_changed(self, event: LocalTable.Changed) -> None:
        more = " · " + _("shown: {what}").format(what=event.table.summary()) \
            if event.table.filters or event.table.sort else ""
        self.query_one("#preview-summary", Static).update(Text(self.summary + more))

    def on_preview_done(self, message: PreviewDone) -> None:
        table = self.query_one("#preview", LocalTable)
        summary = self.query_one("#preview-summary", Static)
        if message.result is None:
            self.summary = ""
            table.set_rows([])
            summary.update("")
            self._message(message.error, error=True)
            return
        p = message.result
        rows = []
        for n, prob in enumerate(p["problems"]):
            rows.append(Row(f"problem-{n}", {"mark": Text("!", style="bold red" if not prob["acceptable"]
                                                          else "bold yellow"),
                                             "kind": prob["code"], "key": prob["key"], "from": "", "to": "",
                                             "what": prob["message"]}, {"mark": pgettext("import preview", "problem")}))
        for mark, found, word in (("+", p["adds"], pgettext("import preview", "add")),
                                  ("~", p["changes"], pgettext("import preview", "change")),
                                  ("-", p["removals"], pgettext("import preview", "removal"))):
            for n, r in enumerate(found):  # the mark filters and exports as a word (a spreadsheet reads "-" as a sign)
                rows.append(Row(f"{mark}{n}", {"mark": Text(mark, style="bold"), "kind": r["kind"], "key": r["key"],
                                               "from": _day(r["from"]), "to": _day(r.get("to")),
                                               "what": _preview_what(mark, r)},
                                {"mark": word, "from": r["from"] or "", "to": r.get("to") or ""}))  # ISO
        n_add, n_change, n_remove = len(p["adds"]), len(p["changes"]), len(p["removals"])
        problems = ngettext("{n} problem", "{n} problems", len(p["problems"])).format(n=len(p["problems"]))
        if p["blocking"]:
            problems = ngettext("{problems}, {n} to fix in the file", "{problems}, {n} to fix in the file",
                                p["blocking"]).format(problems=problems, n=p["blocking"])
        self.summary = " · ".join([
            ngettext("{n} row", "{n} rows", p["rows"]).format(n=p["rows"]),
            ", ".join([ngettext("{n} addition", "{n} additions", n_add).format(n=n_add),
                       ngettext("{n} change", "{n} changes", n_change).format(n=n_change),
                       ngettext("{n} removal", "{n} removals", n_remove).format(n=n_remove),
                       ngettext("{n} unchanged", "{n} unchanged", p["unchanged"]).format(n=p["unchanged"])]),
            problems, _("effective {day}").format(day=_day(p["effective"]))])
        with self.app.batch_update():
            table.set_rows(rows)
        shown = self.app.ctx.shown(Path(p["path"]))
        command = f"anatole inventory import {_quote(shown)} --kind {p['file_kind']} --effective {p['effective']}" \
            + (" --partial" if p["partial"] else "") + " --apply"
        if p["blocking"]:
            self._message(_("some rows cannot be read: fix the file, then preview again"), error=True)
        elif p["problems"]:
            self._message(_("resolve the problems, or apply anyway with: {command}").format(
                command=f"{command} --accept"))
        elif p["adds"] or p["changes"] or p["removals"]:
            self._message(_("to apply: {command}").format(command=command))
        else:
            self._message(_("nothing would change"))


PREVIEW_COLUMNS = [Column("mark", "±"), Column("kind", _("kind")), Column("key", _("key")),
                   Column("from", label("from")), Column("to", label("to")), Column("what", _("what"))]


def _preview_what(mark: str, r: dict[str, Any]) -> str:
    fields = r.get("fields") or {}
    if mark == "~" and r.get("before"):
        diff = [f"{k}: {r['before'].get(k) or '-'} → {v or '-'}" for k, v in fields.items()
                if r["before"].get(k) != v]
        return ", ".join(diff) or _("dates")
    return ", ".join(f"{k}={v}" for k, v in fields.items() if v is not None)


def _quote(text: str) -> str:
    return text if re.fullmatch(r"[\w./@:+-]+", text) else "'" + text.replace("'", "'\\''") + "'"
