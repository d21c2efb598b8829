"""Reports: pick one of the reports `tem.reports` offers and a month, read the table with a bar chart of its main
column, and export it to CSV, XLSX (with a native chart) or PDF.

tem is a sibling of tui: `anatole` hands the list of reports, the building and the export over as
`ConsoleContext.reports` (tui.context.ReportActions). Building runs in a thread worker (a cost report may compute
the month's allocation); results come back as messages, and a result for a report or month no longer asked for is
dropped.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from engine.money import SCALE, MoneyError, parse_money
from i18n import N_, _, ngettext
from store import display
from tui.context import ActionError, ConsoleContext, zoneinfo
from tui.keybar import KeyBar
from tui.table import Column, LocalTable, Money, Row, screen_keys, table_commands

PARTS = " ▏▎▍▌▋▊▉█"  # eighths of a cell, for bars
LEVELS = " ▁▂▃▄▅▆▇█"  # eighths of a line, for columns
TEXT_WIDTH = 24  # the widest a text column of the table gets
MIN_TEXT = 10  # the narrowest a text column is squeezed to before the table scrolls sideways
LIST_WIDE, LIST_NARROW = 24, 3  # the report list's width beside the table (reports.tcss), at 100+ and under
SCROLLBAR = 2

# What the table shows of each report on screen, by column index (the headings themselves come from tem, in the
# process language): shorter headings, and the columns hidden first when the table is wider than the screen
# (`c` shows them again; the report's export, `x`, always has every column with its full heading). Amounts are
# never cut and the month's are never hidden (month over month: earlier months go first): the redundant (a
# currency column beside amounts that carry it) and the least read go first, then text columns are narrowed.
_INCOMING = {"answered": N_("answ."), "abandoned": N_("aband."), "answered %": N_("answ. %"),
             "avg ring s": N_("ring s"), "p90 ring s": N_("p90 s"), "missed after hours": N_("after hrs")}
SHORT: dict[str, dict[int, str]] = {
    "incoming": {1: N_("ext."), 3: _INCOMING["answered"], 5: _INCOMING["abandoned"], 6: _INCOMING["answered %"],
                 7: _INCOMING["avg ring s"], 8: _INCOMING["p90 ring s"], 9: _INCOMING["missed after hours"]},
    "incoming-groups": {1: N_("group"), 4: _INCOMING["answered"], 6: _INCOMING["abandoned"],
                        7: _INCOMING["answered %"], 8: _INCOMING["avg ring s"], 9: _INCOMING["p90 ring s"],
                        10: _INCOMING["missed after hours"]},
    "incoming-hours": {2: _INCOMING["answered"], 4: _INCOMING["abandoned"], 5: _INCOMING["answered %"],
                       6: _INCOMING["avg ring s"], 7: _INCOMING["p90 ring s"], 8: _INCOMING["missed after hours"]},
    "trunks": {3: N_("min"), 5: N_("erl."), 6: N_("peak"), 8: N_("block. %"), 9: N_("need 1 %")},
    "trunk-usage": {3: N_("min"), 5: N_("erl.")},
    "busy-hour": {3: N_("erl./day")},
    "unused-lines": {5: N_("rental")},
}
HIDE_FIRST: dict[str, tuple[int, ...]] = {
    "month-over-month": (1, 2, 3, 4, 5),  # the oldest months; the latest and the change stay
    "budget-vs-actual": (1,),  # the name (the code stays)
    "top-callers": (1,),  # the currency: every cost carries it
    "top-destinations": (1,),
    "off-hours": (2,),
    "international": (2,),
    "unused-lines": (4, 1),
    "trunk-usage": (4, 3),
    "trunks": (4, 3, 6, 2),
    "incoming": (8, 7, 9, 5, 6),
    "incoming-groups": (2, 9, 8, 10, 6, 7),
    "incoming-hours": (7, 6, 8, 4),
}
_TOTAL = "total"  # the first cell of tem's total rows (the same word in French)
MAX_BARS = 8  # a ranking shows its first bars; other series of more points than this are drawn as columns


def parse_period(text: str) -> str:
    """'YYYY-MM' (or 'YYYY-M'), or 'MM/YYYY' as a French clerk writes it; ValueError says what is wrong."""
    m = re.fullmatch(r"(?P<y>\d{4})-(?P<m>\d{1,2})|(?P<m2>\d{1,2})[/.](?P<y2>\d{4})", text.strip())
    month = int((m.group("m") or m.group("m2")) if m else 0)
    if not m or not 1 <= month <= 12:
        raise ValueError(_("{text} is not a month: write YYYY-MM (e.g. 2025-03)").format(text=repr(text.strip())))
    return f"{int(m.group('y') or m.group('y2')):04d}-{month:02d}"


def shift_period(period: str, months: int) -> str:
    y, m = map(int, period.split("-"))
    n = y * 12 + m - 1 + months
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


def chart_currencies(data: dict[str, Any]) -> list[str]:
    """The currencies of the charted rows (one chart each: two currencies never share a scale)."""
    rows, currencies = data.get("rows", []), data.get("currencies") or []
    return sorted({c for row, c in zip(rows, currencies) if c and row and row[0] != _TOTAL})


def chart_points(data: dict[str, Any], currency: str | None = None) -> list[tuple[str, Decimal]]:
    """(label, value) of the charted column, the total row left out; cells that are not numbers are skipped.
    With `currency`, only that currency's rows, each value rounded half-even to the currency's decimals."""
    if not data.get("chart"):
        return []
    cat, val = data["chart"]
    currencies = data.get("currencies") or []
    out = []
    for i, row in enumerate(data["rows"]):
        if not row or row[0] == _TOTAL:
            continue
        if currency is not None and i < len(currencies) and currencies[i] != currency:
            continue
        try:
            value = Decimal(row[val])
        except (InvalidOperation, IndexError):
            continue
        if currency:
            value = value.quantize(Decimal(1).scaleb(-display.decimals_for(currency)), rounding=ROUND_HALF_EVEN)
        out.append((row[cat] or _("(none)"), value))
    return out


def fit_columns(kinds: list[str], natural: list[int], hide: tuple[int, ...], room: int) -> tuple[set[int], list[int]]:
    """(hidden column indexes, widths) that fit `room` cells: the columns of `hide` are hidden in order while the
    table is too wide, then text columns are narrowed, the widest first, down to MIN_TEXT (never a number or an
    amount). Each column takes its width plus 2 of padding."""
    widths, hidden = list(natural), set()

    def total() -> int:
        return sum(w + 2 for i, w in enumerate(widths) if i not in hidden)

    for i in hide:
        if total() <= room:
            break
        if i < len(widths) and len(widths) - len(hidden) > 1:
            hidden.add(i)
    while total() > room:
        texts = [i for i, k in enumerate(kinds) if k == "text" and i not in hidden and widths[i] > MIN_TEXT]
        if not texts:
            break  # still too wide: the table scrolls sideways, nothing is cut
        widths[max(texts, key=lambda i: widths[i])] -= 1
    return hidden, widths


def _fmt(value: Decimal) -> str:
    """A charted number that is not money (erlangs, minutes) as the table shows it: the language's decimal mark."""
    from babel.numbers import get_decimal_symbol

    text = format(value.normalize(), "f") if value == value.to_integral() else str(value)
    return text.replace(".", get_decimal_symbol(display.locale()))


class BarChart(Widget):
    """A text chart that fits its width: horizontal bars for a few points, columns for many (a day's hours)."""

    DEFAULT_CSS = """
    BarChart { height: auto; max-height: 10; padding: 0 1; }
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.points: list[tuple[str, Decimal]] = []
        self.heading = ""
        self.currency: str | None = None

    def show(self, points: list[tuple[str, Decimal]], heading: str, currency: str | None = None) -> None:
        """Chart these points; a ranking (largest first) longer than MAX_BARS is cut to its head. With a currency
        the values are amounts: shown as the table shows them (its decimals, grouped; the heading names it)."""
        self.currency = currency
        ranking = all(abs(a[1]) >= abs(b[1]) for a, b in zip(points, points[1:]))
        if ranking and len(points) > MAX_BARS:
            heading = _("{heading} (the first {n} of {total})").format(heading=heading, n=MAX_BARS, total=len(points))
            points = points[:MAX_BARS]
        self.points, self.heading = points, heading
        self.display = bool(points)
        self.refresh(layout=True)

    def _value(self, value: Decimal) -> str:
        if self.currency:
            return display.amount(int(value * SCALE), self.currency)
        return _fmt(value)

    def get_content_height(self, container: Any, viewport: Any, width: int) -> int:
        if not self.points:
            return 0
        return 1 + (len(self.points) if len(self.points) <= MAX_BARS else 6)

    def render(self) -> Text:
        width = max(10, self.content_size.width)
        text = Text(f"{self.heading}\n", style="bold")
        if not self.points:
            return text
        top = max(abs(v) for _lbl, v in self.points) or Decimal(1)
        if len(self.points) <= MAX_BARS:
            label_w = min(18, max(len(lbl) for lbl, _v in self.points))
            value_w = max(len(self._value(v)) for _lbl, v in self.points)
            bar_w = max(4, width - label_w - value_w - 3)
            for i, (label, value) in enumerate(self.points):
                eighths = int(abs(value) * bar_w * 8 / top)
                bar = "█" * (eighths // 8) + (PARTS[eighths % 8] if eighths % 8 else "")
                text.append(f"{label[:label_w]:<{label_w}} ")
                text.append(f"{bar:<{bar_w}}", style="red" if value < 0 else "green")
                text.append(f" {self._value(value):>{value_w}}" + ("\n" if i < len(self.points) - 1 else ""))
            return text
        # columns: 4 lines of eighths, labels of the first, middle and last point underneath
        n = len(self.points)
        col_w = max(1, min(4, (width - 1) // n))
        shown = self.points[: max(1, width // col_w)]
        height = 4
        for line in range(height, 0, -1):
            for _lbl, value in shown:
                eighths = int(abs(value) * height * 8 / top)
                level = min(8, max(0, eighths - (line - 1) * 8))
                cell = LEVELS[level] * max(1, col_w - 1 if col_w > 1 else 1) + (" " if col_w > 1 else "")
                text.append(cell, style="red" if value < 0 else "green")
            text.append("\n")
        axis = [" "] * (len(shown) * col_w)
        for idx in (0, len(shown) // 2, len(shown) - 1):
            label = shown[idx][0]
            start = min(idx * col_w, max(0, len(axis) - len(label)))
            axis[start:start + len(label)] = list(label)[: len(axis) - start]
        text.append("".join(axis), style="dim")
        return text


class ReportTable(LocalTable):
    """The report's rows as a LocalTable (sort, filter by cell, columns, export of the view); its total rows stay
    under the rows whatever the sort, and are left out while a filter is on (they total every row, not the shown)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__([], **kw)
        self.totals: list[Row] = []
        self.auto_hidden: set[str] = set()  # hidden to fit the screen; the user's choice (c) differs from it
        self.report = ""

    def set_report(self, columns: list[Column], rows: list[Row], totals: list[Row],
                   fit: set[str] | None = None, report: str = "") -> None:
        """A new table: sort, filter and the columns the user chose kept while it is the same report (another
        month); `fit`: the columns hidden so that the table fits the screen, unless the user chose (c)."""
        if (report, [c.key for c in columns]) != (self.report, [c.key for c in self.all_columns]):
            self.sort, self.filters, self.hidden = None, {}, set(fit or ())
        elif self.hidden == self.auto_hidden:
            self.hidden = set(fit or ())
        self.auto_hidden, self.report = set(fit or ()), report
        self.all_columns, self.totals = columns, totals
        self.set_rows(rows)

    def refresh_view(self, keep: bool = False) -> None:
        super().refresh_view(keep)
        if not self.filters:
            for r in self.totals:
                self.add_row(*(r.cells.get(c.key, "") for c in self.visible), key=r.key)

    def export_rows(self) -> tuple[list[str], list[list[Any]]]:
        head, rows = super().export_rows()
        if not self.filters:
            rows += [[r.value(c.key) for c in self.visible] for r in self.totals]
        return head, rows


def _cell_value(exact: str, kind: str, currency: str) -> Any:
    """What a report cell sorts, filters and exports by: amounts as Money in the row's currency (never compared
    across currencies), counts as numbers, text as it is."""
    if exact == "":
        return ""
    try:
        if kind == "money":
            return Money(parse_money(exact), currency)
        if kind == "int":
            return int(exact)
        if kind in ("seconds", "number"):
            return float(exact)  # minutes, percentages: not money
    except (MoneyError, ValueError):
        pass
    return exact


class ReportBuilt(Message):
    def __init__(self, name: str, period: str, data: dict[str, Any] | None, error: str = "") -> None:
        super().__init__()
        self.report, self.period, self.data, self.error = name, period, data, error


class Exported(Message):
    def __init__(self, ok: bool, text: str) -> None:
        super().__init__()
        self.ok, self.text = ok, text


class ReportsScreen(Screen):
    """One report of one month: its table, a chart, its notes; export to a file."""

    CSS_PATH = "reports.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]  # reports.tcss: the list folds away under 100 columns
    BINDINGS = [
        Binding("x", "export_report", _("Export report")),
        Binding("l", "list", _("Reports")),
        Binding("p", "period", _("Period")),
        Binding("left_square_bracket", "month(-1)", _("Prev./next month"), key_display="[ ]"),
        Binding("right_square_bracket", "month(1)", _("Next month"), key_display="]", show=False),
        Binding("r", "reload", _("Reload"), show=False),
        Binding("C", "chart_currency", _("Chart currency"), show=False),
        Binding("escape", "leave_input", _("Back to the table"), show=False),
        *screen_keys(_("Export the table's view (CSV, XLSX)")),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self.report = ""
        self.period = ""
        self.data: dict[str, Any] | None = None
        self.chart_currency = 0  # which currency the chart shows when the rows have several
        self._fit_hidden: set[str] = set()

    def compose(self) -> ComposeResult:
        yield Static(_("Reports"), classes="title", id="reports-title")
        with Horizontal():
            yield OptionList(id="report-list")
            with Vertical(id="report-main"):
                with Horizontal(id="report-bar"):
                    yield Static(_("month"), classes="label")
                    yield Input(placeholder=_("YYYY-MM"), id="report-period", classes="line-input",
                                restrict=r"[0-9./-]*", max_length=7)
                    yield Static("", id="report-info")
                ctx = self.app.ctx
                yield ReportTable(name_for_export="report", workspace=lambda: ctx.workspace, clock=ctx.clock,
                                  id="report-table")
                yield BarChart(id="report-chart")
                yield Static("", id="report-message", classes="message")
        yield KeyBar()

    def on_mount(self) -> None:
        ctx: ConsoleContext = self.app.ctx
        self.query_one("#report-chart", BarChart).display = False
        if ctx.reports is None:
            self._message(_("reports need the workspace: open the console with `anatole ui`"), error=True)
            return
        options = self.query_one("#report-list", OptionList)
        self.names = list(ctx.reports.reports)
        for name, title in ctx.reports.reports.items():  # titles in the language (`anatole report NAME` names it)
            options.add_option(Option(_(title), id=name))  # whole, on two lines if need be
        self._message(_("reading the latest month with data…"))
        self._latest()

    def _message(self, text: str | Text, *, error: bool = False) -> None:
        line = self.query_one("#report-message", Static)
        line.update(text if isinstance(text, Text) else Text(text))
        line.set_class(error, "error")

    @work(thread=True, exclusive=True, group="report-latest")
    def _latest(self) -> None:
        ctx: ConsoleContext = self.app.ctx
        assert ctx.reports is not None
        try:
            period = ctx.reports.latest()
        except ActionError as exc:
            self.post_message(ReportBuilt("", "", None, str(exc)))
            return
        if period is None:  # no data yet: the month of today
            period = dt.datetime.fromtimestamp(ctx.clock(), zoneinfo(ctx.zone())).strftime("%Y-%m")
        self.app.call_from_thread(self._start, period)

    def _start(self, period: str) -> None:
        self.period = period
        self.query_one("#report-period", Input).value = period
        options = self.query_one("#report-list", OptionList)
        options.highlighted = 0
        options.focus()

    # --- choosing -------------------------------------------------------------------------------------------

    @on(OptionList.OptionHighlighted, "#report-list")
    def picked(self, event: OptionList.OptionHighlighted) -> None:
        name = self.names[event.option_index]
        if name != self.report:
            self.report = name
            self._build()

    @on(OptionList.OptionSelected, "#report-list")
    def chosen(self) -> None:
        self.query_one("#report-table", ReportTable).focus()

    def action_list(self) -> None:
        self.query_one("#report-list", OptionList).focus()

    def action_period(self) -> None:
        self.query_one("#report-period", Input).focus()

    def action_leave_input(self) -> None:
        self.query_one("#report-table", ReportTable).focus()

    def action_month(self, step: int) -> None:
        if self.period:
            self._set_period(shift_period(self.period, step))

    def action_reload(self) -> None:
        self._build()

    @on(Input.Submitted, "#report-period")
    def period_submitted(self, event: Input.Submitted) -> None:
        try:
            period = parse_period(event.value)
        except ValueError as exc:
            self._message(str(exc), error=True)
            return
        self.query_one("#report-table", ReportTable).focus()
        self._set_period(period)

    def _set_period(self, period: str) -> None:
        self.period = period
        self.query_one("#report-period", Input).value = period
        self._build()

    def _build(self) -> None:
        if not self.report or not self.period or self.app.ctx.reports is None:
            return
        title = _(self.app.ctx.reports.reports[self.report])  # tem's English titles, in the catalog
        self.query_one("#report-info", Static).update(Text(_("{title} — building…").format(title=title), style="dim"))
        self._run(self.report, self.period)

    @work(thread=True, exclusive=True, group="report")
    def _run(self, name: str, period: str) -> None:
        ctx: ConsoleContext = self.app.ctx
        assert ctx.reports is not None
        try:
            self.post_message(ReportBuilt(name, period, ctx.reports.build(name, period)))
        except ActionError as exc:
            self.post_message(ReportBuilt(name, period, None, str(exc)))

    def on_report_built(self, message: ReportBuilt) -> None:
        if message.report and (message.report, message.period) != (self.report, self.period):
            return  # an answer to a question no longer asked
        table = self.query_one("#report-table", ReportTable)
        chart = self.query_one("#report-chart", BarChart)
        info = self.query_one("#report-info", Static)
        if message.data is None:
            self.data = None
            table.set_report([], [], [])
            chart.show([], "")
            info.update("")
            self._message(message.error, error=True)
            return
        d = self.data = message.data
        columns = self._columns()
        rows, totals = [], []
        shown_rows = d.get("display_rows") or d["rows"]  # each currency's decimals; sort values and exports exact
        currencies = d.get("currencies") or []
        for n, (exact, shown) in enumerate(zip(d["rows"], shown_rows)):
            total = bool(shown) and shown[0] == _TOTAL
            style = "bold" if total else ""
            cells = {c.key: Text(v, style=style, justify="left" if kind == "text" else "right",
                                 overflow="ellipsis", no_wrap=True)
                     for c, v, (_h, kind) in zip(columns, shown, d["columns"])}
            currency = currencies[n] if n < len(currencies) else ""
            values = {c.key: _cell_value(str(e), kind, currency)
                      for c, e, (_h, kind) in zip(columns, exact, d["columns"])}
            (totals if total else rows).append(Row(f"{'total' if total else 'row'}-{n}", cells, values))
        with self.app.batch_update():
            table.set_report(columns, rows, totals, self._fit_hidden, d["name"])
        self._chart()
        self._info()
        notes = d["notes"] if d["rows"] else [_("nothing to report for {period}").format(period=d["period"]),
                                               *d["notes"]]
        self._message(" · ".join(notes))

    def _columns(self) -> list[Column]:
        """The report's columns as the screen shows them: short headings, widths and the columns hidden so that
        the table fits the screen (kept in `_fit_hidden` for the table)."""
        d = self.data
        assert d is not None
        shown_rows = d.get("display_rows") or d["rows"]
        kinds = [kind for _h, kind in d["columns"]]
        short = SHORT.get(d["name"], {})
        labels = [_(short[i]) if i in short else heading for i, (heading, _k) in enumerate(d["columns"])]
        natural = []
        for i, (label, kind) in enumerate(zip(labels, kinds)):
            width = max([len(label) + 1] + [len(r[i]) for r in shown_rows if i < len(r)])  # +1: the sort mark
            natural.append(min(TEXT_WIDTH, width) if kind == "text" else width)
        hidden, widths = fit_columns(kinds, natural, HIDE_FIRST.get(d["name"], ()), self._room())
        self._fit_hidden = {f"c{i}" for i in hidden}
        return [Column(f"c{i}", label, width) for i, (label, width) in enumerate(zip(labels, widths))]

    def _room(self) -> int:
        """The table's width when it has the focus: the screen less the report list (folded under 100 columns)."""
        width = self.size.width or self.app.size.width
        return width - (LIST_WIDE if width >= 100 else LIST_NARROW) - SCROLLBAR

    def on_resize(self) -> None:
        """Fit the table again, unless the user chose its columns (c)."""
        if self.data is None or not self.data["columns"]:
            return
        table = self.table()
        if table.hidden != table.auto_hidden:
            return
        columns = self._columns()
        if [c.width for c in columns] != [c.width for c in table.all_columns] or \
                self._fit_hidden != table.hidden:
            table.all_columns, table.hidden = columns, set(self._fit_hidden)
            table.auto_hidden = set(self._fit_hidden)
            table.refresh_view(keep=True)

    def _chart(self) -> None:
        """The chart of one currency at a time (c: the next one); never two currencies on one scale."""
        d = self.data
        chart = self.query_one("#report-chart", BarChart)
        if d is None or not d.get("chart"):
            chart.show([], "")
            return
        # a currency only for amounts (erlangs or minutes charted are not money, whatever the report's currency)
        currencies = chart_currencies(d) if d["columns"][d["chart"][1]][1] == "money" else []
        heading = _("{value} by {category}").format(value=d["columns"][d["chart"][1]][0],
                                                    category=d["columns"][d["chart"][0]][0])
        if not currencies:
            chart.show(chart_points(d), heading)
            return
        cur = currencies[self.chart_currency % len(currencies)]
        others = [c for c in currencies if c != cur]
        heading = _("{heading}, {currency} (C: {others})").format(heading=heading, currency=cur,
                                                                  others=", ".join(others)) if others \
            else f"{heading}, {cur}"
        chart.show(chart_points(d, cur), heading, cur)

    def table(self) -> ReportTable:
        return self.query_one("#report-table", ReportTable)

    async def action_table(self, action: str) -> None:
        await self.table().run_action(action)

    @on(LocalTable.Changed, "#report-table")
    def table_changed(self, event: LocalTable.Changed) -> None:
        self._info()

    def _info(self) -> None:
        """The report's title, the columns hidden, and the rows; what is shown of them while a filter or a sort is
        on."""
        d, table = self.data, self.table()
        if d is None:
            return
        shown = table.summary() if table.filters or table.sort else \
            ngettext("{n} row", "{n} rows", len(d["rows"])).format(n=len(d["rows"]))
        parts = [d["title"]]  # the month is in the field beside it
        if table.hidden:
            parts.append(ngettext("{n} hidden (c)", "{n} hidden (c)", len(table.hidden)).format(n=len(table.hidden)))
        text = " · ".join([*parts, shown])
        self.query_one("#report-info", Static).update(Text(text, style="bold"))

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        """(title, help, callback) for the app's command palette: the report's export and the table's keys."""
        table = self.table()
        out: list[tuple[str, str, Any]] = [
            (_("Report: export to CSV, XLSX or PDF…"), _("As `anatole report NAME --out FILE` (x)"),
             self.action_export_report),
            (_("Report: next chart currency"), _("One currency at a time on the chart (C)"),
             self.action_chart_currency),
        ]
        return out + table_commands(table, _("Report"))

    def action_chart_currency(self) -> None:
        self.chart_currency += 1
        self._chart()

    # --- export ---------------------------------------------------------------------------------------------

    def action_export_report(self) -> None:
        ctx: ConsoleContext = self.app.ctx
        if ctx.reports is None or self.data is None:
            self._message(_("choose a report and a month first"), error=True)
            return
        self.app.push_screen(ExportDialog(self.report, self.period), self._exported)

    def _exported(self, text: str | None) -> None:
        if text:
            self._message(text)
            self.notify(text, timeout=4)


class ExportDialog(ModalScreen[str | None]):
    """Where to write the report: the file's extension says the format (csv, xlsx or pdf); a bare format name
    writes the default file in that format. A refusal is shown here and the dialog stays open."""

    CSS_PATH = "reports.tcss"
    BINDINGS = [Binding("escape", "cancel", _("Cancel"))]

    def __init__(self, name: str, period: str) -> None:
        super().__init__()
        self.report, self.period = name, period
        self.busy = False

    def default(self, fmt: str) -> str:
        return f"reports/{self.report}-{self.period}.{fmt}"

    def compose(self) -> ComposeResult:
        formats = self.app.ctx.reports.formats
        with Vertical(classes="dialog", id="export-box"):
            yield Static(_("Export {title} — {period}").format(title=_(self.app.ctx.reports.reports[self.report]),
                                                                period=self.period), classes="dialog-title")
            yield Static(_("File (relative to the workspace); its extension gives the format: {formats}. A format "
                           "alone writes {default}.").format(formats=", ".join(formats),
                                                             default=self.default(_("FORMAT"))))
            yield Input(value=self.default(formats[0]), id="export-path")
            yield Static(_("enter: write · escape: cancel"), id="export-message", classes="message")

    def on_mount(self) -> None:
        self.query_one("#export-path", Input).focus()

    def target(self, text: str) -> tuple[Path, str]:
        """(path, format) of what was typed; ValueError says what is wrong."""
        ctx: ConsoleContext = self.app.ctx
        assert ctx.reports is not None
        text = text.strip()
        if text.lower() in ctx.reports.formats:
            text = self.default(text.lower())
        if not text:
            raise ValueError(_("give a file name"))
        path = Path(text).expanduser()
        fmt = path.suffix.lstrip(".").lower()
        if fmt not in ctx.reports.formats:
            raise ValueError(_("{name}: the extension must be one of: {extensions}").format(
                name=path.name, extensions=", ".join("." + f for f in ctx.reports.formats)))
        return (path if path.is_absolute() else ctx.workspace / path), fmt

    @on(Input.Submitted, "#export-path")
    def submit(self, event: Input.Submitted) -> None:
        if self.busy:
            return
        try:
            path, fmt = self.target(event.value)
        except ValueError as exc:
            self._error(str(exc))
            return
        self.busy = True
        self.query_one("#export-message", Static).update(
            Text(_("writing {path}…").format(path=self.app.ctx.shown(path))))
        self._write(path, fmt)

    @work(thread=True, group="report-export")
    def _write(self, path: Path, fmt: str) -> None:
        ctx: ConsoleContext = self.app.ctx
        assert ctx.reports is not None
        try:
            ctx.reports.export(self.report, self.period, fmt, path)
        except ActionError as exc:
            self.post_message(Exported(False, str(exc)))
            return
        self.post_message(Exported(True, _("wrote {path} ({format})").format(path=ctx.shown(path), format=fmt)))

    def on_exported(self, message: Exported) -> None:
        self.busy = False
        if message.ok:
            self.dismiss(message.text)
        else:
            self._error(message.text)

    def _error(self, text: str) -> None:
        line = self.query_one("#export-message", Static)
        line.update(Text(text))
        line.add_class("error")

    def action_cancel(self) -> None:
        self.dismiss(None)
