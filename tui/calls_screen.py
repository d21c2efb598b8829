"""Calls: an explorer over the stored calls, one keyset page at a time (a 10-million-call store opens as fast as a
small one), with a filter line, sorting, a totals row counted in the background, a detail view that explains the
rating, and CSV export of the whole view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Static

from store.display import totals
from tariffs.errors import TariffError
from tui.data import PAGE, StoreError, duration_text, local_time, money, quote, quote_text
from tui.filters import HELP, CallFilter, FilterError, parse_filter

ORDERS = ("start_desc", "start_asc", "cost_desc", "duration_desc")
ORDER_TEXT = {"start_desc": "newest first", "start_asc": "oldest first", "cost_desc": "dearest first per currency",
              "duration_desc": "longest first"}
DIRECTION_SHORT = {"outgoing": "out", "incoming": "in", "internal": "int", "transit": "tr"}
# what 80 columns show first (the cost with its currency before the destination); direction and status follow
COLUMNS = ("start", "site", "ext", "number", "dur", "cost", "destination", "dir", "status")


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
    def __init__(self, generation: int, rows: list[dict[str, Any]], forward: bool | None, error: str = "") -> None:
        super().__init__()
        self.generation, self.rows, self.forward, self.error = generation, rows, forward, error


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
        Binding("s", "sort", "Sort"),
        Binding("enter", "detail", "Detail", show=False),
        Binding("n", "page(True)", "Next page", show=False),
        Binding("b", "page(False)", "Prev page", show=False),
        Binding("g", "first_page", "First page", show=False),
        Binding("e", "export", "Export CSV"),
        Binding("r", "reload", "Reload"),
        Binding("escape", "leave_filter", "Back to the table", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter = CallFilter()
        self.order = "start_desc"
        self.rows: list[dict[str, Any]] = []
        self.page_no = 1
        self.generation = 0
        self.totals: dict[str, Any] | None = None
        self.loading = False

    def compose(self) -> ComposeResult:
        yield Static("Calls", classes="title", id="calls-title")
        yield Input(placeholder=f"/ filter: {HELP}", id="calls-filter", classes="line-input")
        yield Static("", id="calls-message", classes="message")
        yield PagedTable(id="calls-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="calls-totals", classes="totals")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(PagedTable)
        for key in COLUMNS:
            table.add_column(key, key=key)
        table.focus()
        self.reload()

    # --- loading ------------------------------------------------------------------------------------------

    def reload(self) -> None:
        self.generation += 1
        self.page_no = 1
        self.totals = None
        self._request(None, None, None)
        self._totals(self.generation, self.filter)
        self._show_status()

    def _request(self, after: tuple[Any, int] | None, before: tuple[Any, int] | None, forward: bool | None) -> None:
        self.loading = True
        self._load_page(self.generation, self.filter, self.order, after, before, forward)

    @work(thread=True, exclusive=True, group="calls-page")
    def _load_page(self, generation: int, flt: CallFilter, order: str, after: Any, before: Any,
                   forward: bool | None) -> None:
        try:
            rows = self.app.reader.page(flt, order=order, after=after, before=before, limit=PAGE)
        except (StoreError, FilterError) as exc:
            self.post_message(PageLoaded(generation, [], forward, str(exc)))
            return
        self.post_message(PageLoaded(generation, rows, forward))

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
        if message.forward is not None and not message.rows:
            self.notify("last page" if message.forward else "first page", timeout=2)
            return
        if message.forward is True:
            self.page_no += 1
        elif message.forward is False:
            self.page_no = max(1, self.page_no - 1)
        self.rows = message.rows
        table = self.query_one(PagedTable)
        with self.app.batch_update():
            table.clear()
            ctx = self.app.ctx
            for r in self.rows:  # each call in its site's zone, the zone shown (CET, BST): what its detail says
                cost = money(r["cost"], r["currency"]) if r["billed"] else ("merged" if r["cost"] is not None else "")
                table.add_row(local_time(r["start"], ctx.zone(r["site"])), r["site"], r["extension"] or "",
                              r["number"] or r["dialled"] or r["caller"] or "",
                              Text(duration_text(r["billable"]), justify="right"), Text(cost, justify="right"),
                              (r["destination"] or f"({r['direction']})")[:14],
                              DIRECTION_SHORT.get(r["direction"], r["direction"]), r["status"], key=str(r["id"]))
            if self.rows:
                table.move_cursor(row=0 if message.forward is not False else len(self.rows) - 1)
        self._show_status()

    def on_totals_loaded(self, message: TotalsLoaded) -> None:
        if message.generation != self.generation:
            return
        if message.error:
            self._message(message.error, error=True)
            return
        self.totals = message.totals
        self._show_totals()

    # --- display ------------------------------------------------------------------------------------------

    def _message(self, text: str, *, error: bool = False) -> None:
        widget = self.query_one("#calls-message", Static)
        widget.update(Text(text))
        widget.set_class(error, "error")

    def _show_status(self) -> None:
        first = (self.page_no - 1) * PAGE + 1
        shown = f"rows {first}–{first + len(self.rows) - 1}" if self.rows else "no calls"
        what = "all calls" if self.filter.empty else "filtered"
        self._message(f"{what} · {ORDER_TEXT[self.order]} · page {self.page_no} · {shown} · times: each site's zone")
        self._show_totals()

    def _show_totals(self) -> None:
        widget = self.query_one("#calls-totals", Static)
        t = self.totals
        if t is None:
            widget.update("totals: counting…")
            return
        costs = totals(t["cost"], empty="no cost")  # one figure per currency, never one sum
        widget.update(f"total {t['calls']:,} calls · {duration_text(t['seconds'])} billable · {costs}")

    # --- actions ------------------------------------------------------------------------------------------

    def action_filter(self) -> None:
        self.query_one("#calls-filter", Input).focus()

    def action_leave_filter(self) -> None:
        self.query_one(PagedTable).focus()

    @on(Input.Submitted, "#calls-filter")
    def apply_filter(self, event: Input.Submitted) -> None:
        ctx = self.app.ctx
        try:
            flt = parse_filter(event.value, zone_of=ctx.zone, sites=ctx.sites)
            flt.store_args()
        except FilterError as exc:
            self._message(str(exc), error=True)
            return
        self.filter = flt
        self.query_one(PagedTable).focus()
        self.reload()

    def action_sort(self) -> None:
        self.order = ORDERS[(ORDERS.index(self.order) + 1) % len(ORDERS)]
        self.generation += 1
        self.page_no = 1
        self._request(None, None, None)
        self._show_status()

    def action_reload(self) -> None:
        self.reload()

    def action_first_page(self) -> None:
        self.generation += 1
        self.page_no = 1
        self._request(None, None, None)

    def action_page(self, forward: bool) -> None:
        if self.loading or not self.rows:
            return
        if forward:
            self._request((self.rows[-1]["sort_key"], self.rows[-1]["id"]), None, True)
        elif self.page_no > 1:
            self._request(None, (self.rows[0]["sort_key"], self.rows[0]["id"]), False)

    def on_paged_table_edge(self, message: PagedTable.Edge) -> None:
        self.action_page(message.forward)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.app.push_screen(CallDetailScreen(int(event.row_key.value)))

    def action_detail(self) -> None:
        table = self.query_one(PagedTable)
        if self.rows and table.row_count:
            self.app.push_screen(CallDetailScreen(int(self.rows[table.cursor_row]["id"])))

    def action_export(self) -> None:
        default = str(self.app.ctx.workspace / "calls-export.csv")

        def chosen(path: str | None) -> None:
            if path:
                self._export(Path(path), self.filter, self.order)
                self._message(f"exporting to {path}…")

        self.app.push_screen(ExportScreen(default), chosen)

    @work(thread=True, group="calls-export")
    def _export(self, path: Path, flt: CallFilter, order: str) -> None:
        try:
            count = self.app.reader.export(path, flt, order, self.app.ctx)
        except (StoreError, FilterError, OSError) as exc:
            self.post_message(Exported(path, 0, str(exc)))
            return
        self.post_message(Exported(path, count))

    def on_exported(self, message: Exported) -> None:
        if message.error:
            self._message(f"export failed: {message.error}", error=True)
        else:
            self._message(f"exported {message.count:,} calls to {message.path}")
            self.notify(f"exported {message.count:,} calls", timeout=3)


class ExportScreen(ModalScreen[str | None]):
    """Where to write the CSV file (Enter: write, Escape: cancel)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    CSS = """
    ExportScreen { align: center middle; }
    #export-box { width: 70; height: auto; border: round $primary; padding: 0 1; background: $surface; }
    #export-path { border: none; height: 1; background: $boost; }
    """

    def __init__(self, default: str) -> None:
        super().__init__()
        self.default = default

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="export-box"):
            yield Static("Export the current view (every page) to CSV:")
            yield Input(self.default, id="export-path")
            yield Static("enter: write · escape: cancel", classes="message")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def done(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


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
