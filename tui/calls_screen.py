"""Calls: an explorer over the stored calls, one keyset page at a time (a 10-million-call store opens as fast as a
small one), with a filter line, sorting by any column in SQL, page count and last page, column visibility, a totals
row counted in the background, a detail view that explains the rating, and export of exactly the view (CSV, XLSX)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from engine.money import format_exact
from i18n import _
from store.display import totals
from tariffs.errors import TariffError
from tui.data import PAGE, StoreError, duration_text, local_time, money, quote, quote_text
from tui.filters import HELP, CallFilter, FilterError, parse_filter
from tui.table import (
    DOWN,
    UP,
    Column,
    ColumnsScreen,
    ExportScreen,
    combine_filter,
    default_export_path,
    header,
    write_rows,
)

__all__ = ["CallDetailScreen", "CallsScreen", "ExportScreen", "PagedTable"]

ORDERS = ("start_desc", "start_asc", "cost_desc", "duration_desc")  # what `s` cycles through
ORDER_TEXT = {"start_desc": "newest first", "start_asc": "oldest first", "cost_desc": "dearest first per currency",
              "duration_desc": "longest first", "cost_asc": "cheapest first per currency",
              "duration_asc": "shortest first"}
DIRECTION_SHORT = {"outgoing": "out", "incoming": "in", "internal": "int", "transit": "tr"}
# what 80 columns show first (the cost with its currency before the destination); direction and status follow
COLUMNS = (Column("start", "start"), Column("site", "site"), Column("ext", "ext"), Column("number", "number"),
           Column("dur", "dur"), Column("cost", "cost"), Column("destination", "destination"), Column("dir", "dir"),
           Column("status", "status"))
LABELS = {c.key: c.label for c in COLUMNS}
# column -> store.db PAGE_ORDERS name (without _asc/_desc); a new sort starts with the direction given here
SORTS = {"start": ("start", True), "site": ("site", False), "ext": ("extension", False),
         "number": ("number", False), "dur": ("duration", True), "cost": ("cost", True),
         "destination": ("destination", False), "dir": ("direction", False), "status": ("status", False)}
SORT_COLUMN = {base: col for col, (base, _) in SORTS.items()}
# column -> the filter word its value becomes (tui/filters.py); dur has none
FILTER_KEYS = {"start": "day", "site": "site", "ext": "ext", "number": "num", "cost": "min", "destination": "dest",
               "dir": "dir", "status": "status"}


def split_order(order: str) -> tuple[str, bool]:
    """`cost_desc` -> ("cost", True): the column of the Calls table and whether descending."""
    base, _, way = order.rpartition("_")
    return SORT_COLUMN[base], way == "desc"


def reverse_order(order: str) -> str:
    base, _, way = order.rpartition("_")
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
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("s", "sort", "Sort: newest, oldest, dearest, longest", show=False),
        Binding("less_than_sign", "sort_column(False)", "Sort", key_display="< >"),
        Binding("greater_than_sign", "sort_column(True)", "Sort by the column ▼", key_display=">", show=False),
        Binding("f", "filter_cell", "By cell"),
        Binding("F", "clear_filter", "Clear filter", show=False),
        Binding("enter", "detail", "Detail", show=False),
        Binding("n", "page(True)", "Next page", show=False),
        Binding("b", "page(False)", "Prev page", show=False),
        Binding("g", "first_page", "First page", show=False),
        Binding("G", "last_page", "Last page", show=False),
        Binding("c", "columns", "Columns"),
        Binding("e", "export", "Export"),
        Binding("r", "reload", "Reload", show=False),
        Binding("escape", "leave_filter", "Back to the table / clear the filter", show=False),
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
        self.hidden: set[str] = set()  # columns hidden for the session (`c`)

    def compose(self) -> ComposeResult:
        yield Static("Calls", classes="title", id="calls-title")
        yield Input(placeholder=f"/ filter: {HELP}", id="calls-filter", classes="line-input")
        yield Static("", id="calls-message", classes="message")
        yield PagedTable(id="calls-table", cursor_type="cell", zebra_stripes=True)
        yield Static("", id="calls-totals", classes="totals")
        yield Footer()

    def on_mount(self) -> None:
        self._columns()
        self.query_one(PagedTable).focus()
        self.reload()

    # --- where we are -------------------------------------------------------------------------------------

    @property
    def visible(self) -> list[Column]:
        return [c for c in COLUMNS if c.key not in self.hidden]

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
            self.notify("last page" if message.forward else "first page", timeout=2)
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

    def _cells(self, r: dict[str, Any]) -> dict[str, Any]:
        """One call as the table shows it: each call in its site's zone, the zone shown (CET, BST)."""
        cost = money(r["cost"], r["currency"]) if r["billed"] else ("merged" if r["cost"] is not None else "")
        return {"start": local_time(r["start"], self.app.ctx.zone(r["site"])), "site": r["site"],
                "ext": r["extension"] or "", "number": r["number"] or r["dialled"] or r["caller"] or "",
                "dur": Text(duration_text(r["billable"]), justify="right"), "cost": Text(cost, justify="right"),
                "destination": (r["destination"] or f"({r['direction']})")[:14],
                "dir": DIRECTION_SHORT.get(r["direction"], r["direction"]), "status": r["status"]}

    def _columns(self) -> None:
        table = self.query_one(PagedTable)
        table.clear(columns=True)
        for c in self.visible:
            table.add_column(header(c, self.sort), key=c.key)

    def _fill(self, cursor_row: int = 0, keep_column: bool = True) -> None:
        table = self.query_one(PagedTable)
        column = table.cursor_column if keep_column else 0
        with self.app.batch_update():
            self._columns()
            visible = self.visible
            for r in self.rows:
                cells = self._cells(r)
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
        return ORDER_TEXT.get(self.order) or f"by {LABELS[column]} {DOWN if desc else UP}"

    def _show_status(self) -> None:
        first = self._first_row()
        total = self.totals["calls"] if self.totals is not None else None
        if not self.rows:
            shown = "no calls"
        elif first is None:
            shown = f"last {len(self.rows)} rows"
        else:
            shown = f"rows {first}–{first + len(self.rows) - 1}" + (f" of {total:,}" if total is not None else "")
        pages = f" · {self.pages:,} page{'s' if self.pages != 1 else ''}" if self.pages is not None else ""
        what = "all calls" if self.filter.empty else "filtered"
        self._message(f"{what} · {self.order_text()} · page {self.page_no} · {shown}{pages}")
        self._show_totals()

    def _show_totals(self) -> None:
        widget = self.query_one("#calls-totals", Static)
        t = self.totals
        if t is None:
            widget.update("totals: counting…")
            return
        costs = totals(t["cost"], empty="no cost")  # one figure per currency, never one sum
        widget.update(f"total {t['calls']:,} calls · {duration_text(t['seconds'])} billable · {costs}")

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
            self.notify(f"no filter for the {LABELS[column]} column here (use / for from:, to:, min:...)",
                        severity="warning", timeout=3)
            return
        self._apply_filter_text(combine_filter(self.filter_text, FILTER_KEYS[column], value))

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
            self._message(f"{self.order_text()} · reading the page…")

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
                self.hidden = hidden
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
                self._message(f"exporting to {path}…")

        title = _("Export the calls of this view (every page; .csv or .xlsx) to:")
        self.app.push_screen(ExportScreen(default, title), chosen)

    def export_header(self, columns: list[str]) -> list[str]:
        out = []
        for c in columns:
            out += {"dur": ["dur_seconds"], "cost": ["cost", "currency"]}.get(c, [LABELS[c]])
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
            self.post_message(Exported(path, 0, f"{path} appeared meanwhile: not overwritten"))
            return
        except (StoreError, FilterError, OSError, ValueError) as exc:
            self.post_message(Exported(path, 0, str(exc)))
            return
        self.post_message(Exported(path, count))

    def on_exported(self, message: Exported) -> None:
        if message.error:
            self._message(f"export failed: {message.error}", error=True)
        else:
            self._message(f"exported {message.count:,} calls to {message.path}")
            self.notify(f"exported {message.count:,} calls to {message.path}", timeout=4)

    # --- the command palette ------------------------------------------------------------------------------

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        """(title, help, callback) for the app's command palette: what this screen does."""
        out: list[tuple[str, str, Any]] = [
            ("Calls: export the view…", "CSV or XLSX of every call of the filter, sort and columns shown (e)",
             self.action_export),
            ("Calls: filter by the highlighted cell", "Add the cell's value to the filter line (f)",
             self.action_filter_cell),
            ("Calls: clear the filter", "Show every call (F, or escape on the table)", self.action_clear_filter),
            ("Calls: edit the filter line", HELP, self.action_filter),
            ("Calls: show or hide columns…", "Pick the columns for a narrow terminal (c)", self.action_columns),
            ("Calls: last page", "G (g: first page)", self.action_last_page),
        ]
        for c in COLUMNS:
            for desc in (False, True):
                out.append((f"Calls: sort by {c.label} {DOWN if desc else UP}",
                            "In the store, page by page; < and > sort by the highlighted column",
                            lambda key=c.key, d=desc: self.sort_by(key, d)))
        return out


class DetailLoaded(Message):
    def __init__(self, row: dict[str, Any] | None, requote: str, error: str = "") -> None:
        super().__init__()
        self.row, self.requote, self.error = row, requote, error


class CallDetailScreen(Screen):
    """One call: what the PBX wrote, how it was classified and rated, and the tariff's explanation today."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back", key_display="esc")]
    CSS_PATH = "calls.tcss"

    def __init__(self, call_id: int) -> None:
        super().__init__()
        self.call_id = call_id

    def compose(self) -> ComposeResult:
        yield Static(f"Call {self.call_id}", classes="title")
        with VerticalScroll(id="detail-body"):
            yield Static("loading…", id="detail-call")
            yield Static("", id="detail-rating")
            yield Static("", id="detail-raw")
        yield Footer()

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
                requote = f"the tariff {row['tariff']} is no longer in this workspace"
            else:
                try:
                    requote = quote_text(quote(compiled, row["number"], row["start"], row["billable"]))
                except (TariffError, ValueError) as exc:
                    requote = f"cannot quote: {exc}"
        self.post_message(DetailLoaded(row, requote))

    def on_detail_loaded(self, message: DetailLoaded) -> None:
        call = self.query_one("#detail-call", Static)
        if message.error or message.row is None:
            call.update(Text(message.error or f"call {self.call_id} is no longer in the store", style="bold red"))
            return
        r = message.row
        zone = self.app.ctx.zone(r["site"])
        fields = [
            ("start", f"{local_time(r['start'], zone, seconds=True)} ({zone})"),
            ("answered", local_time(r["answer"], zone, seconds=True) if r["answer"] else "no"),
            ("duration", f"{r['duration']} s, billable {r['billable']} s"),
            ("site / source", f"{r['site']} / {r['source']} (import {r['import_id'] or '—'}, line {r['line'] or '—'})"),
            ("direction", f"{r['direction']} · {r['disposition']}"),
            ("extension", r["extension"] or ""), ("caller", r["caller"] or ""), ("dialled", r["dialled"] or ""),
            ("number", f"{r['number'] or ''} ({r['number_kind']}"
                       f"{', ' + r['number_rule'] if r['number_rule'] else ''})"),
            ("trunk", r["trunk"] or ""), ("account", r["account"] or ""),
            ("PBX id / leg", f"{r['native_id']} / {r['leg']} (group {r['grp'] or '—'})"),
        ]
        if r["notes"]:
            fields.append(("notes", r["notes"]))
        call.update(_fields_text("Call", fields))
        billed = "" if r["billed"] else " — merged: this leg's cost is carried by another leg of the call"
        rating = [
            ("status", f"{r['status']}{billed}"), ("tariff", r["tariff"] or "—"),
            ("prefix", r["prefix"] or "—"), ("destination", r["destination"] or "—"), ("band", r["band"] or "—"),
            ("billed seconds", "" if r["billed_seconds"] is None else str(r["billed_seconds"])),
            ("cost (exact)", money(r["cost"], r["currency"], exact=True) or "—"),
            ("rated at", local_time(r["rated_at"], zone, seconds=True)),
        ]
        text = _fields_text("How it was rated", rating)
        if message.requote:
            text.append("\nThe tariff today, for this number, start and duration:\n", style="bold")
            text.append(message.requote + "\n")
        self.query_one("#detail-rating", Static).update(text)
        raw = Text("Raw record\n", style="bold")
        raw.append(r["raw"] or "(none stored)")
        self.query_one("#detail-raw", Static).update(raw)


def _fields_text(title: str, fields: list[tuple[str, str]]) -> Text:
    text = Text(f"{title}\n", style="bold")
    for name, value in fields:
        text.append(f"  {name:<15}", style="dim")
        text.append(f"{value}\n")
    return text
