"""The Reports screen on the console's fixed store: the reports tem offers, the latest month by default, choosing a
report and a month (and a nonsense month), the chart, the export to CSV, XLSX and PDF (the CSV byte for byte what
`anatole report` writes), a refused export, and a snapshot."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_tui_support import context, run, settle, until, workspace_copy
from textual.widgets import DataTable, Input, OptionList, Static

from anatole.cli import main
from anatole.config import open_workspace
from anatole.console_actions import report_actions
from tem.reports import REPORTS
from tui.app import ConsoleApp
from tui.help import HelpScreen
from tui.inventory_screen import InventoryScreen
from tui.reports_screen import (
    MIN_TEXT,
    BarChart,
    ExportDialog,
    ReportsScreen,
    ReportTable,
    chart_points,
    fit_columns,
    parse_period,
    shift_period,
)


@pytest.fixture(scope="module")
def ws() -> Path:
    return workspace_copy()


def app_for(ws: Path, **kw: object) -> ConsoleApp:
    return ConsoleApp(context(ws, reports=report_actions(open_workspace(ws))), start="reports", **kw)


def table_rows(screen: ReportsScreen) -> list[list[str]]:
    table = screen.query_one("#report-table", DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def visible(screen: ReportsScreen, rows: list[list[str]]) -> list[list[str]]:
    """`rows` (every column of the report) as the table shows them: without the columns hidden to fit the screen."""
    keep = [int(c.key[1:]) for c in screen.query_one("#report-table", ReportTable).visible]
    return [[r[i] for i in keep] for r in rows]


async def choose(pilot, name: str) -> None:
    screen = pilot.app.screen
    await until(pilot, lambda: screen.names and screen.period, "the report list and the latest month")
    options = screen.query_one("#report-list", OptionList)
    options.focus()
    while screen.names[options.highlighted or 0] != name:
        await pilot.press("down")
    await settle(pilot)
    await until(pilot, lambda: screen.data is not None and screen.data["name"] == name
                and screen.data["period"] == screen.period, f"the report {name}")


def test_periods_and_chart_points() -> None:
    assert parse_period(" 2025-3 ") == "2025-03" and shift_period("2025-01", -1) == "2024-12"
    assert parse_period("3/2025") == parse_period("03.2025") == "2025-03"  # as a French clerk writes it
    assert shift_period("2024-12", 1) == "2025-01"
    for bad in ("2025-13", "2025", "25-03", "", "13/2025", "2025/03"):
        with pytest.raises(ValueError, match="not a month"):
            parse_period(bad)
    data = {"chart": (0, 2), "rows": [["a", "x", "1.50"], ["b", "y", "-2"], ["c", "z", ""], ["total", "", "9"]]}
    assert chart_points(data) == [("a", Decimal("1.50")), ("b", Decimal("-2"))]


def test_choose_a_report_and_a_month(ws: Path) -> None:
    async def go() -> None:
        app = app_for(ws)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.screen
            assert isinstance(screen, ReportsScreen)
            await choose(pilot, "top-destinations")
            assert screen.period == "2025-03" and screen.names == list(REPORTS)  # the latest month with calls
            rows = table_rows(screen)
            expected = app.ctx.reports.build("top-destinations", "2025-03")["display_rows"]
            assert rows == visible(screen, expected) and rows[0][0] == "France Mobile"
            chart = screen.query_one("#report-chart", BarChart)
            assert chart.display and [p[0] for p in chart.points] == [r[0] for r in rows][:len(chart.points)]
            assert "France Mobile" in str(chart.render())
            info = str(screen.query_one("#report-info", Static).render())
            assert "Top destinations · " in info
            # the previous month has no calls: an empty table, said so, no chart
            await pilot.press("left_square_bracket")
            await until(pilot, lambda: screen.data is not None and screen.data["period"] == "2025-02", "2025-02")
            assert screen.query_one("#report-period", Input).value == "2025-02" and table_rows(screen) == []
            assert "nothing to report for 2025-02" in str(screen.query_one("#report-message", Static).render())
            assert not chart.display
            # a nonsense month: a clear message, nothing rebuilt
            await pilot.press("p")
            period = screen.query_one("#report-period", Input)
            assert period.has_focus
            period.value = "2025-13"
            await pilot.press("enter")
            message = screen.query_one("#report-message", Static)
            assert "'2025-13' is not a month" in str(message.render()) and message.has_class("error")
            assert screen.period == "2025-02"
            period.value = "2025-03"
            await pilot.press("enter")
            await until(pilot, lambda: screen.data is not None and screen.data["period"] == "2025-03", "2025-03")
            assert table_rows(screen) == visible(screen, expected)
            # a cost report: the allocation of the month computed on the spot, with its total row
            await choose(pilot, "cost-by-site")
            rows = table_rows(screen)
            assert [r[0] for r in rows] == ["paris", "lyon", "total"]
            assert rows[2][4].endswith(" EUR")  # on screen: the currency's decimals and the currency
            exact = app.ctx.reports.build("cost-by-site", "2025-03")["rows"]  # the exact figures add up
            assert Decimal(exact[0][4]) + Decimal(exact[1][4]) == Decimal(exact[2][4])
            assert [p[0] for p in screen.query_one("#report-chart", BarChart).points] == ["paris", "lyon"]

    run(go())


def test_export_to_every_format(ws: Path) -> None:
    async def go() -> None:
        app = app_for(ws)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = app.screen
            await choose(pilot, "top-callers")
            for typed, target in (("", "reports/top-callers-2025-03.csv"), ("xlsx", "reports/top-callers-2025-03.xlsx"),
                                  ("out/callers.pdf", "out/callers.pdf")):
                await pilot.press("x")
                await settle(pilot)
                dialog = app.screen
                assert isinstance(dialog, ExportDialog)
                field = dialog.query_one("#export-path", Input)
                assert field.value == "reports/top-callers-2025-03.csv"
                if typed:
                    field.value = typed
                await pilot.press("enter")
                await until(pilot, lambda: app.screen is screen, f"the export to {target}")
                assert f"wrote {target}" in str(screen.query_one("#report-message", Static).render())
            # a file name whose extension is not a format: refused in the dialog, which stays open
            await pilot.press("x")
            await settle(pilot)
            app.screen.query_one("#export-path", Input).value = "report.doc"
            await pilot.press("enter")
            await settle(pilot)
            message = app.screen.query_one("#export-message", Static)
            assert "report.doc: the extension must be one of: .csv, .xlsx, .pdf" in str(message.render())
            assert isinstance(app.screen, ExportDialog)
            await pilot.press("escape")
            assert app.screen is screen

    run(go())
    assert (ws / "reports" / "top-callers-2025-03.xlsx").read_bytes()[:2] == b"PK"
    assert (ws / "out" / "callers.pdf").read_bytes()[:5] == b"%PDF-"
    assert not (ws / "report.doc").exists()
    result = CliRunner().invoke(main, ["--workspace", str(ws), "report", "top-callers", "--period", "2025-03",
                                       "--out", str(ws / "cli.csv")])
    assert result.exit_code == 0, result.output
    assert (ws / "reports" / "top-callers-2025-03.csv").read_bytes() == (ws / "cli.csv").read_bytes()


def test_keys_reach_both_screens_and_help_lists_their_keys(ws: Path) -> None:
    async def go() -> None:
        app = ConsoleApp(context(ws), screens=("calls", "inventory", "reports"))
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("7")
            await settle(pilot)
            assert isinstance(app.screen, InventoryScreen)
            await pilot.press("8")
            await settle(pilot)
            assert isinstance(app.screen, ReportsScreen)
            # without the workspace's report actions the screen says what to do
            message = app.screen.query_one("#report-message", Static)
            assert "reports need the workspace" in str(message.render()) and message.has_class("error")
            titles = [c.title for c in app.get_system_commands(app.screen)]
            assert "Inventory screen (7)" in titles and "Reports screen (8)" in titles
            await pilot.press("question_mark")
            await settle(pilot)
            assert isinstance(app.screen, HelpScreen)
            table = app.screen.query_one(DataTable)
            listed = {(str(table.get_row_at(i)[0]), str(table.get_row_at(i)[2])) for i in range(table.row_count)}
            for pair in (("Everywhere", "Inventory"), ("Everywhere", "Reports"), ("Inventory", "Next kind"),
                         ("Inventory", "Import preview"), ("Inventory item", "Changes"), ("Reports", "Export report"),
                         ("Reports", "Prev./next month"), ("Report export", "Cancel")):
                assert pair in listed, pair

    run(go())


def test_snapshot(ws: Path, snap_compare) -> None:
    async def before(pilot) -> None:
        await choose(pilot, "top-destinations")
        pilot.app.screen.query_one("#report-table", DataTable).focus()
        await settle(pilot)

    assert snap_compare(app_for(ws), terminal_size=(100, 30), run_before=before)


def test_a_missing_database_is_a_message_on_both_screens(tmp_path: Path) -> None:
    (tmp_path / "anatole.toml").write_text('[workspace]\ncurrency = "EUR"\n')

    async def go() -> None:
        app = ConsoleApp(context(tmp_path, reports=report_actions(open_workspace(tmp_path))),
                         screens=("inventory", "reports"), start="reports")
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            message = app.screen.query_one("#report-message", Static)
            assert "no database at" in str(message.render()) and message.has_class("error")
            await pilot.press("7")
            await settle(pilot)
            message = app.screen.query_one("#inventory-message", Static)
            assert "no database at" in str(message.render()) and message.has_class("error")

    run(go())


def test_traffic_reports_are_listed_and_shown(ws: Path) -> None:
    """The reports that cost nothing are on the list and show the same table as the report actions build."""
    async def go() -> None:
        app = app_for(ws)
        async with app.run_test(size=(120, 30)) as pilot:
            screen = app.screen
            await until(pilot, lambda: screen.names and screen.period, "the report list")
            for name in ("incoming", "incoming-groups", "incoming-hours", "internal", "trunks"):
                assert name in screen.names
            for name in ("incoming", "incoming-hours", "trunks"):
                await choose(pilot, name)
                expected = app.ctx.reports.build(name, "2025-03")
                assert table_rows(screen) == visible(screen, expected["display_rows"]) and expected["rows"], name
            # trunks: the erlangs of the busy hour, no lines configured: said in the notes, blocking left blank
            rows = screen.data["display_rows"]
            assert [r[1] for r in rows] == ["T9001", "T9001"] and all(r[8] == "" for r in rows)
            assert "no trunk_lines set for" in str(screen.query_one("#report-message", Static).render())
            await choose(pilot, "incoming")
            info = str(screen.query_one("#report-info", Static).render())
            assert "Incoming calls by extension · " in info
            total = screen.data["display_rows"][-1]
            assert table_rows(screen)[-1] == visible(screen, [total])[0]
            assert total[0] == "total" and int(total[2]) == int(total[3]) + int(total[4]) + int(total[5])

    run(go())


def test_sort_by_a_column_and_filter_by_a_cell(ws: Path) -> None:
    """k9s keys on the report's table: `<`/`>` sort by the highlighted column (amounts within their currency), the
    total row stays last; `f` keeps the rows with the cell's value (the total, of every row, leaves), `F` clears."""
    async def go() -> None:
        app = app_for(ws)
        async with app.run_test(size=(120, 30)) as pilot:
            screen = app.screen
            await choose(pilot, "incoming")
            table = screen.query_one("#report-table", ReportTable)
            table.focus()
            before = table_rows(screen)
            assert before[-1][0] == "total" and len(before) > 3
            calls = [c.label for c in table.all_columns].index("calls")
            table.move_cursor(row=0, column=calls)
            await pilot.press("greater_than_sign")
            await settle(pilot)
            rows = table_rows(screen)
            counts = [int(r[calls]) for r in rows[:-1]]
            assert counts == sorted(counts, reverse=True) and rows[-1] == before[-1]  # total still last
            assert "▼" in str(table.columns[table.ordered_columns[calls].key].label)
            await pilot.press("less_than_sign")
            await settle(pilot)
            counts = [int(r[calls]) for r in table_rows(screen)[:-1]]
            assert counts == sorted(counts)
            assert "sorted by calls ▲" in str(screen.query_one("#report-info", Static).render())
            # filter by the highlighted cell's value: only rows with that count, no total
            table.move_cursor(row=0, column=calls)
            value = table_rows(screen)[0][calls]
            await pilot.press("f")
            await settle(pilot)
            rows = table_rows(screen)
            assert rows and all(r[calls] == value for r in rows) and all(r[0] != "total" for r in rows)
            assert f"calls = {value}" in str(screen.query_one("#report-info", Static).render())
            await pilot.press("F")
            await settle(pilot)
            assert len(table_rows(screen)) == len(before)

    run(go())


def test_short_headings_stand_for_the_reports_own() -> None:
    """The screen's short headings are keyed by column index: each still stands for tem's heading at that index."""
    from tui.reports_screen import HIDE_FIRST, SHORT

    full = {"ext.": "extension", "group": "hunt group", "min": "minutes", "erl.": "erlangs in busy hour",
            "peak": "peak simultaneous", "block. %": "blocking % (Erlang B)", "need 1 %": "lines for 1 %",
            "erl./day": "erlangs (average day)", "rental": "rental in period", "answ.": "answered",
            "aband.": "abandoned", "answ. %": "answered %", "ring s": "avg ring s", "p90 s": "p90 ring s",
            "after hrs": "missed after hours"}
    ws_path = workspace_copy()
    actions = report_actions(open_workspace(ws_path))
    for name in set(SHORT) | set(HIDE_FIRST):
        columns = actions.build(name, "2025-03")["columns"]
        for i, short in SHORT.get(name, {}).items():
            assert columns[i][0] == full[short], (name, i)
        if name != "month-over-month":  # earlier months may go; amounts of the month never
            assert all(columns[i][1] != "money" for i in HIDE_FIRST.get(name, ())), name


def test_fit_columns_hides_in_order_then_narrows_text() -> None:
    kinds = ["text", "text", "money", "int", "money"]
    assert fit_columns(kinds, [10, 20, 12, 5, 12], (1,), 80) == (set(), [10, 20, 12, 5, 12])  # 69 fits
    assert fit_columns(kinds, [10, 20, 12, 5, 12], (3,), 60) == ({3}, [10, 18, 12, 5, 12])  # then narrowed
    assert fit_columns(kinds, [10, 20, 12, 5, 12], (3, 1), 50) == ({1, 3}, [10, 20, 12, 5, 12])
    hidden, widths = fit_columns(kinds, [30, 30, 12, 5, 12], (), 20)  # too narrow: text down to MIN_TEXT only
    assert hidden == set() and widths == [MIN_TEXT, MIN_TEXT, 12, 5, 12]


def test_every_report_fits_80_columns(ws: Path) -> None:
    """At 80×24 no report scrolls sideways: the redundant and least read columns are hidden (said in the title
    line, `c` brings them back) and long names narrowed; every amount stays whole. A choice made with `c` is kept
    for the next month."""
    async def go() -> None:
        app = app_for(ws)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await until(pilot, lambda: screen.names and screen.period, "the report list and the latest month")
            for name in REPORTS:
                screen.query_one("#report-list", OptionList).highlighted = screen.names.index(name)
                await until(pilot, lambda n=name: screen.data is not None and screen.data["name"] == n, name)
                table = screen.query_one("#report-table", ReportTable)
                table.focus()
                await settle(pilot)
                assert table.virtual_size.width <= table.scrollable_content_region.width, name
                kinds = [kind for _h, kind in screen.data["columns"]]
                shown = {int(c.key[1:]) for c in table.visible}
                money = {i for i, k in enumerate(kinds) if k == "money"}
                if name == "month-over-month":
                    money = {len(kinds) - 2, len(kinds) - 1}  # the month and the change
                assert money <= shown, name
                cells = [visible(screen, [r])[0] for r in screen.data["display_rows"]]
                assert table_rows(screen) == cells, name  # nothing cut but the narrowed text
                info = str(screen.query_one("#report-info", Static).render())
                assert (f"{len(table.hidden)} hidden (c)" in info) == bool(table.hidden), name
                chart = screen.query_one("#report-chart", BarChart)  # erlangs or minutes are not money
                if screen.data["chart"] and kinds[screen.data["chart"][1]] != "money":
                    assert chart.currency is None and not chart.heading.endswith(" EUR"), name
            screen.query_one("#report-list", OptionList).highlighted = screen.names.index("month-over-month")
            await until(pilot, lambda: screen.data["name"] == "month-over-month", "month-over-month")
            table = screen.query_one("#report-table", ReportTable)
            labels = [c.label for c in table.visible]
            assert labels[-2:] == ["2025-03", "change"] and "2024-10" not in labels  # the oldest months go first
            # a wider terminal shows them again, a narrower one fits again
            await pilot.resize_terminal(160, 24)
            await settle(pilot)
            assert not table.hidden and len(table.visible) == len(screen.data["columns"])
            await pilot.resize_terminal(80, 24)
            await settle(pilot)
            assert [c.label for c in table.visible] == labels
            # the user's choice (c) is kept, not fitted again
            table.hidden = set()
            screen.action_month(-1)
            await until(pilot, lambda: screen.data["period"] == "2025-02", "2025-02")
            assert len(table.visible) == len(screen.data["columns"])

    run(go())
