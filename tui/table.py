"""What every list of the console does, k9s-style: sort by any column (`<` ascending, `>` descending, or a click on
its header; the header shows ▲/▼), filter by the highlighted cell's value (`f`, `F` clears), first and last page or
row (`g`, `G`), column visibility for narrow terminals (`c`), and export of exactly the view (`e`) to a path the
user edits, never overwriting a file without a confirmation that names it.

The Calls screen pages from the store (SQL sort, keyset pages) and uses the pieces here; lists held in memory
(rejects, imports) use LocalTable, which does all of it by itself.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, SelectionList, Static
from textual.widgets.selection_list import Selection

from i18n import _, ngettext

UP, DOWN = "▲", "▼"
FORMATS = (".csv", ".xlsx")
KEYS_HELP = _("< > sort · f filter by cell · F clear · g/G first/last · c columns · e export")


def count(n: int) -> str:
    """A count grouped for the language (``1,234`` in English, ``1 234`` in French)."""
    try:
        from babel.numbers import format_decimal

        from store import display

        return format_decimal(int(n), locale=display.locale())
    except Exception:  # never raise on screen
        return f"{n:,}"


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int | None = None


def header(column: Column, sort: tuple[str, bool] | None) -> Text:
    """The column's label, with ▲ (ascending) or ▼ (descending) when the view is sorted by it."""
    if sort is not None and sort[0] == column.key:
        return Text(f"{column.label}{DOWN if sort[1] else UP}", style="bold")
    return Text(column.label)


def default_export_path(workspace: Path, name: str, now: float, suffix: str = ".csv") -> Path:
    """`<workspace>/exports/<name>-YYYYMMDD-HHMMSS.csv` when the workspace has an exports folder, else the workspace
    itself: a new name each time, so the default never points at an earlier export."""
    folder = workspace / "exports" if (workspace / "exports").is_dir() else workspace
    stamp = dt.datetime.fromtimestamp(now, dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return folder / f"{name}-{stamp}{suffix}"


def write_rows(target: Path, header_row: Sequence[str], rows: Any, *, overwrite: bool = False) -> int:
    """Write `rows` (an iterable of value lists) as CSV or XLSX (by the suffix) to `target`; returns the count.

    Written to a temporary file first, then linked into place: without `overwrite`, an existing target (even one
    created meanwhile) is refused with FileExistsError and left untouched. Text cells are neutralised against
    spreadsheet formulas (store.cells); XLSX cells are written as text or integers, never floats."""
    from store.cells import neutralise

    target = Path(target)
    suffix = target.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(_("{name}: name the file .csv or .xlsx").format(name=target.name))
    if not overwrite and target.exists():
        raise FileExistsError(_("{path} exists").format(path=target))
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    count = 0
    try:
        if suffix == ".csv":
            with tmp.open("w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f, lineterminator="\n")
                writer.writerow(header_row)
                for row in rows:
                    writer.writerow([neutralise(v) for v in row])
                    count += 1
        else:
            import xlsxwriter

            book = xlsxwriter.Workbook(str(tmp), {"constant_memory": True})
            sheet = book.add_worksheet()
            bold = book.add_format({"bold": True})
            for c, name in enumerate(header_row):
                sheet.write_string(0, c, str(name), bold)
            for row in rows:
                count += 1
                for c, v in enumerate(row):
                    if isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2**53:
                        sheet.write_number(count, c, v)
                    elif v is not None:
                        sheet.write_string(count, c, str(v))  # never a formula, whatever the text
            book.close()
        if overwrite:
            tmp.replace(target)
        else:
            os.link(tmp, target)  # fails if the target appeared meanwhile: never clobbered
    finally:
        tmp.unlink(missing_ok=True)
    return count


class ExportScreen(ModalScreen["tuple[Path, bool] | None"]):
    """Where to write the view: the path is editable (.csv or .xlsx); an existing file is overwritten only after a
    second step that names it. Dismissed with (path, overwrite) or None. `title`: the whole first line (one
    sentence to translate), by default the current view's."""

    BINDINGS = [Binding("escape", "cancel", _("Cancel"))]
    CSS = """
    ExportScreen { align: center middle; }
    #export-box { width: 76; max-width: 100%; height: auto; border: round $primary; padding: 0 1;
                  background: $surface; }
    #export-path { border: none; height: 1; background: $boost; }
    #export-note.error { color: $error; }
    """

    def __init__(self, default: str, title: str | None = None) -> None:
        super().__init__()
        self.default = default
        self.title_text = title or _("Export the current view (every page; .csv or .xlsx) to:")
        self.confirming: Path | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="export-box"):
            yield Static(self.title_text, id="export-title")
            yield Input(self.default, id="export-path")
            yield Static(_("enter: write · escape: cancel"), id="export-note", classes="message")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def _note(self, text: str, error: bool = False) -> None:
        note = self.query_one("#export-note", Static)
        note.update(Text(text))
        note.set_class(error, "error")

    @on(Input.Changed)
    def edited(self) -> None:
        if self.confirming is not None:
            self.confirming = None
            self._note(_("enter: write · escape: cancel"))

    @on(Input.Submitted)
    def done(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        path = Path(text).expanduser()
        if path.suffix.lower() not in FORMATS:
            self._note(_("{name}: name the file .csv or .xlsx").format(name=path.name), error=True)
            return
        if not path.parent.is_dir():
            self._note(_("{folder}: no such folder").format(folder=path.parent), error=True)
            return
        if path.exists():
            if self.confirming != path:
                self.confirming = path
                self._note(_("{path} exists: enter again to overwrite it, or edit the name").format(path=path),
                           error=True)
                return
            self.dismiss((path, True))
            return
        self.dismiss((path, False))

    def action_cancel(self) -> None:
        self.dismiss(None)


class ColumnsScreen(ModalScreen["set[str] | None"]):
    """Which columns to show (space toggles, enter applies, escape cancels): for narrow terminals."""

    BINDINGS = [Binding("escape", "cancel", _("Cancel")), Binding("enter", "apply", _("Apply"), priority=True)]
    CSS = """
    ColumnsScreen { align: center middle; }
    #columns-box { width: 40; height: auto; max-height: 90%; border: round $primary; background: $surface; }
    #columns-list { height: auto; max-height: 16; border: none; }
    """

    def __init__(self, columns: Sequence[Column], hidden: set[str]) -> None:
        super().__init__()
        self.columns, self.hidden = list(columns), set(hidden)

    def compose(self) -> ComposeResult:
        with Vertical(id="columns-box"):
            yield Static(_("Columns to show"), classes="title")
            yield SelectionList[str](*(Selection(c.label, c.key, c.key not in self.hidden) for c in self.columns),
                                     id="columns-list")
            yield Static(_("space: show/hide · enter: apply · escape: cancel"), classes="message")

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()

    def action_apply(self) -> None:
        shown = set(self.query_one(SelectionList).selected)
        if not shown:
            self.notify(_("keep at least one column"), severity="warning", timeout=2)
            return
        self.dismiss({c.key for c in self.columns} - shown)

    def action_cancel(self) -> None:
        self.dismiss(None)


def combine_filter(text: str, key: str, value: str, canonical: Callable[[str], str] = str.lower) -> str:
    """The filter line with `key:value` put in place of any word for the same key (quoted when it has spaces);
    `canonical` names the key a typed name stands for (another language's name for it)."""
    import shlex

    try:
        words = shlex.split(text)
    except ValueError:
        words = []
    words = [w for w in words if ":" not in w or canonical(w.split(":", 1)[0]) != canonical(key)]
    words.append(f"{key}:{value}")
    return " ".join(shlex.quote(w) if (" " in w or '"' in w or "'" in w) else w for w in words)


# --- a list held in memory ---------------------------------------------------------------------------------


@dataclass
class Row:
    """One row of a LocalTable: its key, what each column shows, and the values it sorts, filters and exports by."""

    key: str
    cells: dict[str, Any]
    values: dict[str, Any] = field(default_factory=dict)

    def value(self, column: str) -> Any:
        v = self.values.get(column, self.cells.get(column))
        return v.plain if isinstance(v, Text) else v


@dataclass(frozen=True)
class Money:
    """A money value of a LocalTable row: sorts within its currency (currencies grouped, never by face value
    across them), filters and exports as the exact amount with its currency."""

    amount: int
    currency: str

    def sort_key(self) -> tuple[str, int]:
        return (self.currency.upper(), self.amount)

    def __str__(self) -> str:
        from store import display

        return display.money(self.amount, self.currency, exact=True)


def _sort_value(v: Any) -> tuple[int, Any]:
    if v is None or v == "":
        return (0, 0)
    if isinstance(v, Money):
        return (3, v.sort_key())
    if isinstance(v, int | float):
        return (1, v)
    return (2, str(v).lower())


def cell_width(cell: Any) -> int:
    """A cell's width as DataTable measures it (a string cell is markup). Tables give their columns this width as
    the rows are given rather than leave it to DataTable, which measures them when the app is next idle: rows drawn
    before that (a small tariff loads in milliseconds; any page on a busy machine) had their columns as wide as the
    labels, the values cut short."""
    text = cell if isinstance(cell, Text) else Text.from_markup(cell) if isinstance(cell, str) else Text(str(cell))
    return max((cell_len(line) for line in text.plain.split("\n")), default=0)


def _width(column: Column, label: Text, rows: list[Row]) -> int:
    """A column's width: its widest cell or its label (cell_width)."""
    return max([cell_width(label)] + [cell_width(r.cells.get(column.key, "")) for r in rows])


class LocalTable(DataTable):
    """A DataTable over rows held in memory, with the keys of every console list. Posts Changed after each change
    of the view so that the screen can show what is shown (`summary()`)."""

    BINDINGS = [
        Binding("less_than_sign", "sort(False)", _("Sort"), key_display="< >"),
        Binding("greater_than_sign", "sort(True)", _("Sort by the column ▼"), key_display=">", show=False),
        Binding("f", "filter_cell", _("By cell")),
        Binding("F", "clear_filter", _("Clear filter"), show=False),
        Binding("g", "first", _("First"), show=False),
        Binding("G", "last", _("Last"), show=False),
        Binding("c", "columns", _("Columns")),
        Binding("e", "export", _("Export")),
    ]

    class Changed(Message):
        def __init__(self, table: LocalTable) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> LocalTable:
            return self.table

    def __init__(self, columns: Sequence[Column], *, name_for_export: str, workspace: Callable[[], Path],
                 clock: Callable[[], float], **kw: Any) -> None:
        kw.setdefault("cursor_type", "cell")
        kw.setdefault("zebra_stripes", True)
        super().__init__(**kw)
        self.all_columns = list(columns)
        self.export_name = name_for_export
        self._workspace, self._clock = workspace, clock
        self.rows_all: list[Row] = []
        self.view: list[Row] = []
        self.sort: tuple[str, bool] | None = None
        self.filters: dict[str, str] = {}
        self.hidden: set[str] = set()

    # --- the view ------------------------------------------------------------------------------------------

    @property
    def visible(self) -> list[Column]:
        return [c for c in self.all_columns if c.key not in self.hidden]

    def set_rows(self, rows: list[Row]) -> None:
        self.rows_all = rows
        self.refresh_view(keep=True)

    def refresh_view(self, keep: bool = False) -> None:
        """Filter, sort and show the rows; the cursor stays on its row (by key) when `keep`."""
        current = self.current_row()
        view = [r for r in self.rows_all if all(str(r.value(k) or "") == v for k, v in self.filters.items())]
        if self.sort is not None:
            key, desc = self.sort
            view.sort(key=lambda r: _sort_value(r.value(key)), reverse=desc)
        self.view = view
        col = self.cursor_column
        self.clear(columns=True)
        for c in self.visible:
            self.add_column(header(c, self.sort), key=c.key, width=c.width or _width(c, header(c, self.sort), view))
        for r in view:
            self.add_row(*(r.cells.get(c.key, "") for c in self.visible), key=r.key)
        if view:
            row = 0
            if keep and current is not None:
                row = next((i for i, r in enumerate(view) if r.key == current.key), 0)
            self.move_cursor(row=row, column=min(col, len(self.visible) - 1))
        self.post_message(self.Changed(self))

    def current_row(self) -> Row | None:
        if not self.view or not 0 <= self.cursor_row < len(self.view):
            return None
        return self.view[self.cursor_row]

    def current_column(self) -> Column | None:
        visible = self.visible
        return visible[self.cursor_column] if 0 <= self.cursor_column < len(visible) else None

    def summary(self) -> str:
        """`12 of 1,000` and the filters and the sort, for the screen's title."""
        shown = count(len(self.view))
        parts = [_("{shown} of {total}").format(shown=shown, total=count(len(self.rows_all))) if self.filters
                 else shown]
        if self.filters:
            parts.append(" ".join(f"{self._label(k)} = {v}" for k, v in self.filters.items()))
        if self.sort is not None:
            parts.append(_("sorted by {column} {arrow}").format(column=self._label(self.sort[0]),
                                                                  arrow=DOWN if self.sort[1] else UP))
        return " · ".join(parts)

    def _label(self, key: str) -> str:
        return next((c.label for c in self.all_columns if c.key == key), key)

    # --- actions -------------------------------------------------------------------------------------------

    def sort_by(self, key: str, desc: bool | None = None) -> None:
        """Sort by column `key`; desc None: flip when already sorted by it, else ascending."""
        if desc is None:
            desc = not self.sort[1] if self.sort is not None and self.sort[0] == key else False
        self.sort = (key, desc)
        self.refresh_view(keep=True)

    def action_sort(self, desc: bool) -> None:
        column = self.current_column()
        if column is not None:
            self.sort_by(column.key, desc)

    @on(DataTable.HeaderSelected)
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.sort_by(str(event.column_key.value))

    def action_filter_cell(self) -> None:
        row, column = self.current_row(), self.current_column()
        if row is None or column is None:
            return
        self.filters[column.key] = str(row.value(column.key) or "")
        self.refresh_view()

    def action_clear_filter(self) -> None:
        if self.filters:
            self.filters.clear()
            self.refresh_view(keep=True)

    def action_first(self) -> None:
        if self.view:
            self.move_cursor(row=0)

    def action_last(self) -> None:
        if self.view:
            self.move_cursor(row=len(self.view) - 1)

    def action_columns(self) -> None:
        def chosen(hidden: set[str] | None) -> None:
            if hidden is not None:
                self.hidden = hidden
                self.refresh_view(keep=True)

        self.app.push_screen(ColumnsScreen(self.all_columns, self.hidden), chosen)

    def export_rows(self) -> tuple[list[str], list[list[Any]]]:
        """The view as written: the visible columns, the rows in the order shown."""
        visible = self.visible
        return [c.label for c in visible], [[r.value(c.key) for c in visible] for r in self.view]

    def action_export(self) -> None:
        default = default_export_path(self._workspace(), self.export_name, self._clock())

        def chosen(choice: tuple[Path, bool] | None) -> None:
            if choice is None:
                return
            path, overwrite = choice
            head, rows = self.export_rows()
            try:
                written = write_rows(path, head, rows, overwrite=overwrite)
            except (OSError, ValueError) as exc:
                self.notify(_("export failed: {error}").format(error=exc), severity="error", timeout=6)
                return
            self.notify(ngettext("exported {count} row to {path}", "exported {count} rows to {path}", written)
                        .format(count=count(written), path=path), timeout=6)

        self.app.push_screen(ExportScreen(str(default)), chosen)


def screen_keys(export: str | None = None, clear: str | None = None) -> list[Binding]:
    """A LocalTable's keys bound on its screen (its `action_table` runs them on the table), so that they work while
    another widget has focus and are listed in the help; out of the footer, which they would crowd at 80 columns.
    `export`, `clear`: the screen's own descriptions of those two keys (already translated)."""
    return [
        Binding("less_than_sign", "table('sort(False)')", _("Sort by the column ▲ (a header click too)"),
                key_display="<", show=False),
        Binding("greater_than_sign", "table('sort(True)')", _("Sort by the column ▼"), key_display=">", show=False),
        Binding("f", "table('filter_cell')", _("Filter by the cell's value"), show=False),
        Binding("F", "table('clear_filter')", clear or _("Clear the filter"), show=False),
        Binding("g", "table('first')", _("First row"), show=False),
        Binding("G", "table('last')", _("Last row"), show=False),
        Binding("c", "table('columns')", _("Columns to show"), show=False),
        Binding("e", "table('export')", export or _("Export the view (CSV, XLSX)"), show=False),
    ]


def table_commands(table: LocalTable, name: str, thing: str = "row") -> list[tuple[str, str, Any]]:
    """(title, help, callback) palette entries for a LocalTable's keys: export the view, filter by the highlighted
    cell, clear, columns, and a sort by each column both ways. `name`: the screen's name, translated ("Invoices").

    `thing` is no longer used (kept so that callers need not change): the help says "rows", because a noun glued
    into a sentence cannot be translated (French agrees "tous les appels" but "toutes les factures")."""
    del thing
    out: list[tuple[str, str, Any]] = [
        (_("{name}: export the view…").format(name=name),
         _("CSV or XLSX of the rows shown, with their sort and columns (e)"), table.action_export),
        (_("{name}: filter by the highlighted cell").format(name=name), _("Only the rows with this value (f)"),
         table.action_filter_cell),
        (_("{name}: clear the filter").format(name=name), _("Every row again (F)"), table.action_clear_filter),
        (_("{name}: show or hide columns…").format(name=name), _("Pick the columns for a narrow terminal (c)"),
         table.action_columns),
    ]
    for c in table.all_columns:
        for desc in (False, True):
            out.append((_("{name}: sort by {column} {arrow}").format(name=name, column=c.label,
                                                                     arrow=DOWN if desc else UP),
                        _("< and > sort by the highlighted column; a click on a header too"),
                        lambda key=c.key, d=desc: table.sort_by(key, d)))
    return out
