"""Calls: an explorer over the stored calls, one keyset page at a time (a 10-million-call store opens as fast as a
small one), with a filter line, sorting by any column in SQL, page count and last page, column visibility, a totals
row counted in the background, a detail view that explains the rating, and export of exactly the view (CSV, XLSX)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static

from engine.money import format_exact
from i18n import _, ngettext, pgettext
from store.display import totals
from tariffs.errors import TariffError
from tui.data import (
    PAGE,
    StoreError,
    direction_label,
    direction_word,
    duration_text,
    local_time,
    money,
    quote,
    quote_text,
    status_glyph,
    status_label,
    zone_name,
)
from tui.filters import CallFilter, FilterError, canonical_key, help_text, key_name, parse_filter
from tui.keybar import KeyBar
from tui.table import (
    DOWN,
    UP,
    Column,
    ColumnsScreen,
    ExportScreen,
    cell_width,
    combine_filter,
    count,
    default_export_path,
    header,
    write_rows,
)

__all__ = ["CallDetailScreen", "CallsScreen", "ExportScreen", "PagedTable"]

ORDERS = ("start_desc", "start_asc", "cost_desc", "duration_desc")  # what `s` cycles through
ORDER_TEXT = {"start_desc": _("newest first"), "start_asc": _("oldest first"),
              "cost_desc": _("dearest first per currency"), "duration_desc": _("longest first"),
              "cost_asc": _("cheapest first per currency"), "duration_asc": _("shortest first")}
DIRECTION_SHORT = {"outgoing": "out", "incoming": "in", "internal": "int", "transit": "tr"}  # the `dir:` words
COLUMNS = (Column("start", _("start")), Column("site", _("site")), Column("ext", _("ext")),
           Column("number", _("number")), Column("dur", _("dur")), Column("cost", _("cost")),
           Column("destination", _("destination")), Column("dir", _("dir")), Column("status", _("status")))
LABELS = {c.key: c.label for c in COLUMNS}
# Below this width (80×24 terminals) the table is narrow, k9s-style: the destination is a wide column, hidden
# unless chosen with `c` (the detail shows it); the status is one glyph (htop's S column, legend in the help); the
# start's zone moves to the header when every call of the page shares it. Direction, status and each cost's
# currency stay in view without scrolling sideways.
WIDE = 100
NARROW_HIDDEN = frozenset({"destination"})
STATUS_NARROW = pgettext("status column, one letter", "S")
# column -> store.db PAGE_ORDERS name (without _asc/_desc); a new sort starts with the direction given here
SORTS = {"start": ("start", True), "site": ("site", False), "ext": ("extension", False),
         "number": ("number", False), "dur": ("duration", True), "cost": ("cost", True),
         "destination": ("destination", False), "dir": ("direction", False), "status": ("status", False)}
SORT_COLUMN = {base: col for col, (base, _first) in SORTS.items()}
# column -> the filter word its value becomes (tui/filters.py); dur has none
FILTER_KEYS = {"start": "day", "site": "site", "ext": "ext", "number": "num", "cost": "min", "destination": "dest",
               "dir": "dir", "status": "status"}


def split_order(order: str) -> tuple[str, bool]:
    """`cost_desc` -> ("cost", True): the column of the Calls table and whether descending."""
    base, _sep, way = order.rpartition("_")
    return SORT_COLUMN[base], way == "desc"


def reverse_order(order: str) -> str:
    base, _sep, way = order.rpartition("_")
    return f"{base}_{'asc' if way == 'desc' else 'desc'}"


class PagedTable(DataTable):
    """A DataTable holding one page; moving past its first or last row asks the screen for the page beyond."""

    class Edge(Message):
        def __init__(self, forward: bool) -> None:
            super().__init__()
            self.forward = forward

    def _at_end(self) -> bool:
        return self.row_count > 0 and self.cursor_row >= self.row_count - 1

    def _at_start(self) -> bool:
        return self.row_count > 0 and self.cursor_row <= 0

    def action_cursor_down(self) -> None:
        if self._at_end():
            self.post_message(self.Edge(True))
        else:
            super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if self._at_start():
            self.post_message(self.Edge(False))
        else:
            super().action_cursor_up()

    def action_page_down(self) -> None:
        if self._at_end():
            self.post_message(self.Edge(True))
        else:
            super().action_page_down()

    def action_page_up(self) -> None:
        if self._at_start():
            self.post_message(self.Edge(False))
        else:
            super().action_page_up()


class PageLoaded(Message):
    def __init__(self, generation: int, rows: list[dict[str, Any]], mode: str, error: str = "") -> None:
        super().__init__()
        self.generation, self.rows, self.mode, self.error = generation, rows, mode, error

    @property
    def forward(self) -> bool | None:
        return {"next": True, "prev": False}.get(self.mode)


class TotalsLoaded(Message):
    def __init__(self, generation: int, totals: dict[str, Any] | None, error: str = "") -> None:
        super().__init__()
        self.generation, self.totals, self.error = generation, totals, error


class Exported(Message):
    def __init__(self, path: Path, count: int, error: str = "") -> None:
        super().__init__()
        self.path, self.count, self.error = path, count, error


class CallsScreen(Screen):
    CSS_PATH = "calls.tcss"
    BINDINGS = [
        Binding("slash", "filter", _("Filter"), key_display="/"),
        Binding("s", "sort", _("Sort: newest, oldest, dearest, longest"), show=False),
        Binding("less_than_sign", "sort_column(False)", _("Sort"), key_display="< >"),
        Binding("greater_than_sign", "sort_column(True)", _("Sort by the column ▼"), key_display=">", show=False),
        Binding("f", "filter_cell", _("By cell")),
        Binding("F", "clear_filter", _("Clear filter"), show=False),
        Binding("enter", "detail", _("Detail"), show=False),
        Binding("n", "page(True)", _("Next page"), show=False),
        Binding("b", "page(False)", _("Prev page"), show=False),
        Binding("g", "first_page", _("First page"), show=False),
        Binding("G", "last_page", _("Last page"), show=False),
        Binding("c", "columns", _("Columns")),
        Binding("e", "export", _("Export")),
        Binding("r", "reload", _("Reload"), show=False),
        Binding("escape", "leave_filter", _("Back to the table / clear the filter"), show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter = CallFilter()
        self.filter_text = ""
        self.order = "start_desc"
        self.rows: list[dict[str, Any]] = []
        # where the page shown sits: ("start", its first row's 1-based number) or ("end", rows after its last)
        self.position: tuple[str, int] = ("start", 1)
        self.generation = 0
        self.totals: dict[str, Any] | None = None
        self.loading = False
        self.chosen: set[str] | None = None  # columns hidden for the session (`c`); None: the width's default
        self.narrow = False

    def compose(self) -> ComposeResult:
        yield Static(_("Calls"), classes="title", id="calls-title")
        yield Input(placeholder=_("/ filter: {keys}").format(keys=help_text()), id="calls-filter",
                    classes="line-input")
        yield Static("", id="calls-message", classes="message")
        yield PagedTable(id="calls-table", cursor_type="cell", zebra_stripes=True)
        yield Static("", id="calls-totals", classes="totals")
        yield KeyBar()

    def on_mount(self) -> None:
        self.narrow = self.app.size.width < WIDE
        self._columns()
        self.query_one(PagedTable).focus()
        self.reload()

    def on_resize(self) -> None:
        narrow = self.app.size.width < WIDE
        if narrow != self.narrow:
            self.narrow = narrow
            self._fill(cursor_row=max(self.query_one(PagedTable).cursor_row, 0))

    # --- where we are -------------------------------------------------------------------------------------

    @property
    def hidden(self) -> set[str]:
        """The columns not shown: the user's choice (`c`), else the narrow layout's wide columns."""
        if self.chosen is not None:
            return self.chosen
        return set(NARROW_HIDDEN) if self.narrow else set()

    @property
    def visible(self) -> list[Column]:
        return [c for c in COLUMNS if c.key not in self.hidden]

    def _page_zone(self) -> str | None:
        """The zone abbreviation every call of the page shares, when narrow: the start column's header shows it
        once instead of on every row."""
        if not self.narrow or not self.rows:
            return None
        zones = {zone_name(r["start"], self.app.ctx.zone(r["site"])) for r in self.rows}
        return zones.pop() if len(zones) == 1 else None

    @property
    def sort(self) -> tuple[str, bool]:
        return split_order(self.order)

    def _first_row(self) -> int | None:
        kind, n = self.position
        if kind == "start":
            return n
        if self.totals is None:
            return None
        return max(1, self.totals["calls"] - n - len(self.rows) + 1)

    @property
    def page_no(self) -> int:
        first = self._first_row()
        if first is None:
            return self.pages or 1
        last = first + len(self.rows) - 1
        if self.pages is not None and self.totals is not None and last >= self.totals["calls"]:
            return self.pages
        return (first - 1) // PAGE + 1

    @property
    def pages(self) -> int | None:
        if self.totals is None:
            return None
        return max(1, -(-self.totals["calls"] // PAGE))

    # --- loading ------------------------------------------------------------------------------------------

    def reload(self) -> None:
        self.generation += 1
        self.position = ("start", 1)
        self.totals = None
        self._request(None, None, "first")
        self._totals(self.generation, self.filter)
        self._show_status()

    def _request(self, after: tuple[Any, int] | None, before: tuple[Any, int] | None, mode: str) -> None:
        self.loading = True
        self._load_page(self.generation, self.filter, self.order, after, before, mode)

    @work(thread=True, exclusive=True, group="calls-page")
    def _load_page(self, generation: int, flt: CallFilter, order: str, after: Any, before: Any, mode: str) -> None:
        try:
            if mode == "last":  # keyset from the other end: the reverse order's first page, reversed
                rows = self.app.reader.page(flt, order=reverse_order(order), limit=PAGE)[::-1]
            else:
                rows = self.app.reader.page(flt, order=order, after=after, before=before, limit=PAGE)
        except (StoreError, FilterError) as exc:
            self.post_message(PageLoaded(generation, [], mode, str(exc)))
            return
        self.post_message(PageLoaded(generation, rows, mode))

    @work(thread=True, exclusive=True, group="calls-totals")
    def _totals(self, generation: int, flt: CallFilter) -> None:
        try:
            totals = self.app.reader.totals(flt)
        except (StoreError, FilterError) as exc:
            self.post_message(TotalsLoaded(generation, None, str(exc)))
            return
        if totals is not None:
            self.post_message(TotalsLoaded(generation, totals))

    def on_page_loaded(self, message: PageLoaded) -> None:
        if message.generation != self.generation:
            return
        self.loading = False
        if message.error:
            self._message(message.error, error=True)
            self.rows = []
            self.query_one(PagedTable).clear()
            return
        if message.mode in ("next", "prev") and not message.rows:
            self.notify(_("last page") if message.forward else _("first page"), timeout=2)
            return
        kind, n = self.position
        if message.mode == "next":
            self.position = (kind, n + len(self.rows) if kind == "start" else max(0, n - len(message.rows)))
        elif message.mode == "prev":
            self.position = (kind, max(1, n - len(message.rows)) if kind == "start" else n + len(self.rows))
        elif message.mode == "last":
            self.position = ("end", 0)
        elif message.mode == "first":
            self.position = ("start", 1)
        self.rows = message.rows
        self._fill(cursor_row=len(self.rows) - 1 if message.mode in ("prev", "last") else 0)
        self._show_status()

    def _cells(self, r: dict[str, Any], zone_in_header: bool = False) -> dict[str, Any]:
        """One call as the table shows it: each call in its site's zone, the zone shown (CET, BST) on the row or,
        narrow, in the header when the whole page shares it."""
        if r["billed"]:
            cost = money(r["cost"], r["currency"])
        else:
            cost = pgettext("cost", "merged") if r["cost"] is not None else ""
        status = status_glyph(r["status"]) if self.narrow else status_label(r["status"])
        return {"start": local_time(r["start"], self.app.ctx.zone(r["site"]), show_zone=not zone_in_header),
                "site": r["site"], "ext": r["extension"] or "",
                "number": r["number"] or r["dialled"] or r["caller"] or "",
                "dur": Text(duration_text(r["billable"]), justify="right"), "cost": Text(cost, justify="right"),
                "destination": (r["destination"] or f"({direction_word(r['direction'])})")[:14],
                "dir": direction_label(r["direction"]),
                "status": Text(status, justify="center") if self.narrow else status}

    def _columns(self, zone: str | None = None, page: Sequence[dict[str, Any]] = ()) -> None:
        """The columns, as wide as the page's cells (tui.table.cell_width) when it has rows."""
        table = self.query_one(PagedTable)
        table.clear(columns=True)
        for c in self.visible:
            if c.key == "start" and zone:
                c = Column(c.key, f"{c.label} {zone}")
            elif c.key == "status" and self.narrow:
                c = Column(c.key, STATUS_NARROW)
            label = header(c, self.sort)
            width = max([cell_width(label)] + [cell_width(cells[c.key]) for cells in page]) if page else None
            table.add_column(label, key=c.key, width=width)

    def _fill(self, cursor_row: int = 0, keep_column: bool = True) -> None:
        table = self.query_one(PagedTable)
        column = table.cursor_column if keep_column else 0
        with self.app.batch_update():
            zone = self._page_zone()
            page = [self._cells(r, zone_in_header=zone is not None) for r in self.rows]
            self._columns(zone, page)
            visible = self.visible
            for r, cells in zip(self.rows, page):
                table.add_row(*(cells[c.key] for c in visible), key=str(r["id"]))
            if self.rows:
                table.move_cursor(row=min(cursor_row, len(self.rows) - 1), column=min(column, len(visible) - 1))

    def on_totals_loaded(self, message: TotalsLoaded) -> None:
        if message.generation != self.generation:
            return
        if message.error:
            self._message(message.error, error=True)
            return
        self.totals = message.totals
        self._show_status()

    # --- display ------------------------------------------------------------------------------------------

    def _message(self, text: str, *, error: bool = False) -> None:
        widget = self.query_one("#calls-message", Static)
        widget.update(Text(text))
        widget.set_class(error, "error")

    def order_text(self) -> str:
        column, desc = self.sort
        return ORDER_TEXT.get(self.order) or _("by {column} {arrow}").format(column=LABELS[column],
                                                                             arrow=DOWN if desc else UP)

    def _show_status(self) -> None:
        first = self._first_row()
        total = self.totals["calls"] if self.totals is not None else None
        if not self.rows:
            shown = _("no calls")
        elif first is None:
            shown = ngettext("last {n} row", "last {n} rows", len(self.rows)).format(n=len(self.rows))
        elif total is not None:
            shown = _("rows {first}–{last} of {total}").format(first=first, last=first + len(self.rows) - 1,
                                                               total=count(total))
        else:
            shown = _("rows {first}–{last}").format(first=first, last=first + len(self.rows) - 1)
        parts = [_("all calls") if self.filter.empty else _("filtered"), self.order_text(),
                 _("page {n}").format(n=self.page_no), shown]
        if self.pages is not None:
            parts.append(ngettext("{n} page", "{n} pages", self.pages).format(n=count(self.pages)))
        self._message(" · ".join(parts))
        self._show_totals()

    def _show_totals(self) -> None:
        widget = self.query_one("#calls-totals", Static)
        t = self.totals
        if t is None:
            widget.update(_("totals: counting…"))
            return
        costs = totals(t["cost"], empty=_("no cost"))  # one figure per currency, never one sum
        widget.update(ngettext("total {n} call · {duration} billable · {costs}",
                               "total {n} calls · {duration} billable · {costs}", t["calls"])
                      .format(n=count(t["calls"]), duration=duration_text(t["seconds"]), costs=costs))

    # --- filter -------------------------------------------------------------------------------------------

    def action_filter(self) -> None:
        self.query_one("#calls-filter", Input).focus()

    def action_leave_filter(self) -> None:
        """Escape: from the filter line back to the table; on the table, clear the filter (k9s)."""
        table = self.query_one(PagedTable)
        if table.has_focus and self.filter_text:
            self.action_clear_filter()
        table.focus()

    @on(Input.Submitted, "#calls-filter")
    def apply_filter(self, event: Input.Submitted) -> None:
        self._apply_filter_text(event.value)

    def _apply_filter_text(self, text: str) -> bool:
        ctx = self.app.ctx
        try:
            flt = parse_filter(text, zone_of=ctx.zone, sites=ctx.sites)
            flt.store_args()
        except FilterError as exc:
            self._message(str(exc), error=True)
            return False
        self.filter, self.filter_text = flt, text
        self.query_one("#calls-filter", Input).value = text
        self.query_one(PagedTable).focus()
        self.reload()
        return True

    def action_filter_cell(self) -> None:
        """The highlighted cell's value as a filter word, added to (or replacing the same key in) the filter line."""
        table = self.query_one(PagedTable)
        if not self.rows or not 0 <= table.cursor_row < len(self.rows):
            return
        column = self.visible[min(table.cursor_column, len(self.visible) - 1)].key
        value = self._filter_value(self.rows[table.cursor_row], column)
        if not value:
            self.notify(_("no filter for the {column} column here (use / for from:, to:, min:...)").format(
                column=LABELS[column]), severity="warning", timeout=3)
            return
        self._apply_filter_text(combine_filter(self.filter_text, key_name(FILTER_KEYS[column]), value,
                                               canonical=canonical_key))

    def _filter_value(self, r: dict[str, Any], column: str) -> str:
        if column not in FILTER_KEYS:
            return ""
        if column == "start":
            return local_time(r["start"], self.app.ctx.zone(r["site"]), show_zone=False)[:10]
        if column == "number":
            digits = (r["number"] or r["dialled"] or r["caller"] or "").removeprefix("+")
            return digits if digits.isdigit() else ""
        if column == "cost":  # at least this amount (the filter line has no equality on money)
            return format_exact(r["cost"]) if r["cost"] is not None and r["billed"] else ""
        if column == "dir":
            return DIRECTION_SHORT.get(r["direction"], "")
        value = {"site": r["site"], "ext": r["extension"], "destination": r["destination"], "status": r["status"]}
        return value[column] or ""

    def action_clear_filter(self) -> None:
        if self.filter_text or not self.filter.empty:
            self._apply_filter_text("")

    # --- sort, pages, columns -----------------------------------------------------------------------------

    def _set_order(self, order: str) -> None:
        self.order = order
        self.generation += 1
        self.position = ("start", 1)
        self._request(None, None, "first")
        self._columns_and_status()
        self._reading()

    def _columns_and_status(self) -> None:
        self._fill(keep_column=True)
        self._show_status()

    def action_sort(self) -> None:
        """`s`: cycle the usual orders (newest, oldest, dearest per currency, longest)."""
        self._set_order(ORDERS[(ORDERS.index(self.order) + 1) % len(ORDERS)] if self.order in ORDERS else ORDERS[0])

    def sort_by(self, column: str, desc: bool | None = None) -> None:
        """Sort by `column` in SQL (keyset pages, id breaks ties); desc None: flip when already sorted by it, else
        the column's natural first direction (newest, dearest, longest; A to Z)."""
        current, current_desc = self.sort
        if desc is None:
            desc = not current_desc if current == column else SORTS[column][1]
        self._set_order(f"{SORTS[column][0]}_{'desc' if desc else 'asc'}")

    def action_sort_column(self, desc: bool) -> None:
        table = self.query_one(PagedTable)
        self.sort_by(self.visible[min(max(table.cursor_column, 0), len(self.visible) - 1)].key, desc)

    @on(DataTable.HeaderSelected, "#calls-table")
    def header_clicked(self, event: DataTable.HeaderSelected) -> None:
        self.sort_by(str(event.column_key.value))

    def action_reload(self) -> None:
        self.reload()

    def action_first_page(self) -> None:
        self.generation += 1
        self.position = ("start", 1)
        self._request(None, None, "first")

    def action_last_page(self) -> None:
        self.generation += 1
        self._request(None, None, "last")
        self._reading()

    def _reading(self) -> None:
        """Sorting a big store by a column without an index scans it: say so until the page is in."""
        if self.loading:
            self._message(_("{order} · reading the page…").format(order=self.order_text()))

    def action_page(self, forward: bool) -> None:
        if self.loading or not self.rows:
            return
        if forward:
            self._request((self.rows[-1]["sort_key"], self.rows[-1]["id"]), None, "next")
        elif self.page_no > 1 or self.position[0] == "end":
            self._request(None, (self.rows[0]["sort_key"], self.rows[0]["id"]), "prev")

    def on_paged_table_edge(self, message: PagedTable.Edge) -> None:
        self.action_page(message.forward)

    def action_columns(self) -> None:
        def chosen(hidden: set[str] | None) -> None:
            if hidden is not None:
                self.chosen = hidden
                table = self.query_one(PagedTable)
                self._fill(cursor_row=max(table.cursor_row, 0))

        self.app.push_screen(ColumnsScreen(COLUMNS, self.hidden), chosen)

    # --- detail -------------------------------------------------------------------------------------------

    @on(DataTable.CellSelected, "#calls-table")
    def cell_selected(self, event: DataTable.CellSelected) -> None:
        if event.cell_key.row_key.value is not None:
            self.app.push_screen(CallDetailScreen(int(event.cell_key.row_key.value)))

    def action_detail(self) -> None:
        table = self.query_one(PagedTable)
        if self.rows and table.row_count:
            self.app.push_screen(CallDetailScreen(int(self.rows[table.cursor_row]["id"])))

    # --- export -------------------------------------------------------------------------------------------

    def action_export(self) -> None:
        ctx = self.app.ctx
        default = str(default_export_path(ctx.workspace, "calls", ctx.clock()))

        def chosen(choice: tuple[Path, bool] | None) -> None:
            if choice:
                path, overwrite = choice
                self._export(path, overwrite, self.filter, self.order, [c.key for c in self.visible])
                self._message(_("exporting to {path}…").format(path=path))

        title = _("Export the calls of this view (every page; .csv or .xlsx) to:")
        self.app.push_screen(ExportScreen(default, title), chosen)

    def export_header(self, columns: list[str]) -> list[str]:
        out = []
        for c in columns:
            out += {"dur": ["dur_seconds"], "cost": ["cost", "currency"]}.get(c, [c])  # ids, as `calls --csv`
        return out

    def export_values(self, r: dict[str, Any], columns: list[str]) -> list[Any]:
        """One call as exported: the visible columns, exact (seconds, the exact cost and its currency, the full
        destination and direction)."""
        out: list[Any] = []
        for c in columns:
            if c == "start":
                out.append(local_time(r["start"], self.app.ctx.zone(r["site"]), seconds=True))
            elif c == "dur":
                out.append(r["billable"])
            elif c == "cost":
                out += [format_exact(r["cost"]) if r["cost"] is not None and r["billed"] else
                        ("0.00" if r["cost"] is not None else None), r["currency"]]
            elif c == "destination":
                out.append(r["destination"])
            elif c == "dir":
                out.append(r["direction"])
            elif c == "status":
                out.append(r["status"] if r["billed"] else "merged")
            else:
                out.append(self._cells(r)[c])
        return out

    @work(thread=True, group="calls-export")
    def _export(self, path: Path, overwrite: bool, flt: CallFilter, order: str, columns: list[str]) -> None:
        def rows() -> Any:
            after = None
            while True:
                page = self.app.reader.page(flt, order=order, after=after, limit=5000)
                for r in page:
                    yield self.export_values(r, columns)
                if len(page) < 5000:
                    return
                after = (page[-1]["sort_key"], page[-1]["id"])

        try:
            count = write_rows(path, self.export_header(columns), rows(), overwrite=overwrite)
        except FileExistsError:
            self.post_message(Exported(path, 0, _("{path} appeared meanwhile: not overwritten").format(path=path)))
            return
        except (StoreError, FilterError, OSError, ValueError) as exc:
            self.post_message(Exported(path, 0, str(exc)))
            return
        self.post_message(Exported(path, count))

    def on_exported(self, message: Exported) -> None:
        if message.error:
            self._message(_("export failed: {error}").format(error=message.error), error=True)
        else:
            text = ngettext("exported {count} call to {path}", "exported {count} calls to {path}",
                            message.count).format(count=count(message.count), path=message.path)
            self._message(text)
            self.notify(text, timeout=4)

    # --- the command palette ------------------------------------------------------------------------------

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        """(title, help, callback) for the app's command palette: what this screen does."""
        out: list[tuple[str, str, Any]] = [
            (_("Calls: export the view…"), _("CSV or XLSX of every call of the filter, sort and columns shown (e)"),
             self.action_export),
            (_("Calls: filter by the highlighted cell"), _("Add the cell's value to the filter line (f)"),
             self.action_filter_cell),
            (_("Calls: clear the filter"), _("Show every call (F, or escape on the table)"),
             self.action_clear_filter),
            (_("Calls: edit the filter line"), help_text(), self.action_filter),
            (_("Calls: show or hide columns…"), _("Pick the columns for a narrow terminal (c)"), self.action_columns),
            (_("Calls: last page"), _("G (g: first page)"), self.action_last_page),
        ]
        for c in COLUMNS:
            for desc in (False, True):
                out.append((_("Calls: sort by {column} {arrow}").format(column=c.label, arrow=DOWN if desc else UP),
                            _("In the store, page by page; < and > sort by the highlighted column"),
                            lambda key=c.key, d=desc: self.sort_by(key, d)))
        return out


class DetailLoaded(Message):
    def __init__(self, row: dict[str, Any] | None, requote: str, error: str = "") -> None:
        super().__init__()
        self.row, self.requote, self.error = row, requote, error


class CallDetailScreen(Screen):
    """One call: what the PBX wrote, how it was classified and rated, and the tariff's explanation today."""

    BINDINGS = [Binding("escape", "app.pop_screen", _("Back"), key_display="esc")]
    CSS_PATH = "calls.tcss"

    def __init__(self, call_id: int) -> None:
        super().__init__()
        self.call_id = call_id

    def compose(self) -> ComposeResult:
        yield Static(_("Call {id}").format(id=self.call_id), classes="title")
        with VerticalScroll(id="detail-body"):
            yield Static(_("loading…"), id="detail-call")
            yield Static("", id="detail-rating")
            yield Static("", id="detail-raw")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#detail-body").focus()
        self._load(self.call_id)

    @work(thread=True)
    def _load(self, call_id: int) -> None:
        try:
            row = self.app.reader.call(call_id)
        except StoreError as exc:
            self.post_message(DetailLoaded(None, "", str(exc)))
            return
        requote = ""
        if row is not None and row["number"] and row["tariff"]:
            compiled = self.app.tariffs.for_call(row)
            if compiled is None:
                requote = _("the tariff {tariff} is no longer in this workspace").format(tariff=row["tariff"])
            else:
                try:
                    requote = quote_text(quote(compiled, row["number"], row["start"], row["billable"]))
                except (TariffError, ValueError) as exc:
                    requote = _("cannot quote: {error}").format(error=exc)
        self.post_message(DetailLoaded(row, requote))

    def on_detail_loaded(self, message: DetailLoaded) -> None:
        call = self.query_one("#detail-call", Static)
        if message.error or message.row is None:
            call.update(Text(message.error or _("call {id} is no longer in the store").format(id=self.call_id),
                             style="bold red"))
            return
        r = message.row
        zone = self.app.ctx.zone(r["site"])
        rule = f", {r['number_rule']}" if r["number_rule"] else ""
        fields = [
            (_("start"), f"{local_time(r['start'], zone, seconds=True)} ({zone})"),
            (pgettext("call detail", "answered"), local_time(r["answer"], zone, seconds=True) if r["answer"]
             else _("no")),
            (_("duration"), _("{duration} s, billable {billable} s").format(duration=r["duration"],
                                                                           billable=r["billable"])),
            (_("site / source"), _("{site} / {source} (import {import_id}, line {line})").format(
                site=r["site"], source=r["source"], import_id=r["import_id"] or "—", line=r["line"] or "—")),
            (_("direction"), f"{direction_word(r['direction'])} · {disposition_word(r['disposition'])}"),
            (_("extension"), r["extension"] or ""), (_("caller"), r["caller"] or ""),
            (_("dialled"), r["dialled"] or ""),
            (_("number"), f"{r['number'] or ''} ({number_kind_word(r['number_kind'])}{rule})"),
            (_("trunk"), r["trunk"] or ""), (_("account"), r["account"] or ""),
            (_("PBX id / leg"), _("{native_id} / {leg} (group {group})").format(
                native_id=r["native_id"], leg=r["leg"], group=r["grp"] or "—")),
        ]
        if r["notes"]:
            fields.append((_("notes"), r["notes"]))
        call.update(_fields_text(_("Call"), fields))
        status = status_label(r["status"])
        if not r["billed"]:
            status = _("{status} — merged: this leg's cost is carried by another leg of the call").format(
                status=status)
        rating = [
            (_("status"), status), (_("tariff"), r["tariff"] or "—"),
            (_("prefix"), r["prefix"] or "—"), (_("destination"), r["destination"] or "—"),
            (_("band"), r["band"] or "—"),
            (_("billed seconds"), "" if r["billed_seconds"] is None else str(r["billed_seconds"])),
            (_("cost (exact)"), money(r["cost"], r["currency"], exact=True) or "—"),
            (_("rated at"), local_time(r["rated_at"], zone, seconds=True)),
        ]
        text = _fields_text(_("How it was rated"), rating)
        if message.requote:
            text.append("\n" + _("The tariff today, for this number, start and duration:") + "\n", style="bold")
            text.append(message.requote + "\n")
        self.query_one("#detail-rating", Static).update(text)
        raw = Text(_("Raw record") + "\n", style="bold")
        raw.append(r["raw"] or _("(none stored)"))
        self.query_one("#detail-raw", Static).update(raw)


def disposition_word(disposition: str | None) -> str:
    """How the call ended (the stored code) in the user's language."""
    words = {"answered": pgettext("disposition", "answered"), "no_answer": pgettext("disposition", "no answer"),
             "busy": pgettext("disposition", "busy"), "failed": pgettext("disposition", "failed")}
    return words.get(disposition or "", disposition or "")


def number_kind_word(kind: str | None) -> str:
    """What the dial plan made of the number (ingest.dialplan's kinds) in the user's language; its rule stays."""
    words = {"external": pgettext("number kind", "external"), "internal": pgettext("number kind", "internal"),
             "service": pgettext("number kind", "service"), "emergency": pgettext("number kind", "emergency"),
             "invalid": pgettext("number kind", "invalid")}
    return words.get(kind or "", kind or "")


def _fields_text(title: str, fields: list[tuple[str, str]]) -> Text:
    text = Text(f"{title}\n", style="bold")
    width = max(15, *(len(name) + 1 for name, _value in fields))  # French names are longer
    for name, value in fields:
        text.append(f"  {name:<{width}}", style="dim")
        text.append(f"{value}\n")
    return text
