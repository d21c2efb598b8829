"""k9s-style tables (issue 18 item 5), driven by a Pilot over the fixed store: sort by any column (checked against
the store's own order, id breaking ties), filter by the highlighted cell, page count and last page, column
visibility, export of exactly the view to a chosen path that never overwrites without a confirmation, the command
palette's actions; snapshots of Calls and Rejects at 80×24 and 120×40."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import pytest
from test_tui_calls import ids, stored
from test_tui_support import context, run, settle, until, workspace_copy
from textual.widgets import DataTable, Input, SelectionList

import tui.calls_screen as calls_screen
from engine.money import format_exact
from store import display, open_store
from tui.app import ConsoleApp
from tui.calls_screen import CallsScreen, PagedTable
from tui.rejects_screen import RejectsScreen
from tui.table import ColumnsScreen, ExportScreen, LocalTable, write_rows


@pytest.fixture
def ws() -> Path:
    return workspace_copy()




def headers(table: DataTable) -> list[str]:
    return [c.label.plain for c in table.ordered_columns]


def message(screen: CallsScreen) -> str:
    return str(screen.query_one("#calls-message").render())


async def to_column(pilot, table: DataTable, label: str) -> None:
    """Move the cell cursor to the column whose header starts with `label`."""
    target = next(i for i, h in enumerate(headers(table)) if h.rstrip("▲▼") == label)
    table.move_cursor(column=target)
    await pilot.pause()


async def walk(pilot, screen: CallsScreen) -> list[int]:
    """Every id of the view, page after page with `n`."""
    seen = ids(screen)
    while True:
        before = ids(screen)
        await pilot.press("n")
        await settle(pilot)
        if ids(screen) == before:
            return seen
        seen += ids(screen)


def test_sort_by_any_column_follows_the_store(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`>` on the site column sorts site Z→A in SQL, page by page, id breaking ties; `<` on ext A→Z; a header
    click sorts by that column and a second click flips it; the header carries ▲/▼."""
    monkeypatch.setattr(calls_screen, "PAGE", 25)
    calls = stored(ws)

    def order(key, desc: bool) -> list[int]:
        return [r["id"] for r in sorted(calls, key=lambda r: (key(r), r["id"]), reverse=desc)]

    async def go() -> None:
        app = ConsoleApp(context(ws))
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            screen = app.screen
            table = screen.query_one(PagedTable)
            assert headers(table)[0] == "start▼"
            await to_column(pilot, table, "site")
            await pilot.press("greater_than_sign")
            await settle(pilot)
            assert screen.order == "site_desc" and "site▼" in headers(table) and "start" in headers(table)
            assert await walk(pilot, screen) == order(lambda r: r["site"], True)
            await to_column(pilot, table, "ext")
            await pilot.press("less_than_sign")
            await settle(pilot)
            assert screen.order == "extension_asc" and "ext▲" in headers(table)
            assert await walk(pilot, screen) == order(lambda r: r["extension"] or "", False)
            dur = headers(table).index("dur")
            for desc in (True, False):  # first click: longest first; the second flips
                table.post_message(DataTable.HeaderSelected(table, table.ordered_columns[dur].key, dur,
                                                            table.ordered_columns[dur].label))
                await settle(pilot)
                assert headers(table)[dur] == ("dur▼" if desc else "dur▲")
                assert await walk(pilot, screen) == order(lambda r: r["billable"], desc)

    run(go())


def test_filter_by_the_highlighted_cell(ws: Path) -> None:
    """`f` adds the cell's value to the filter line (replacing the same key), combined with what is typed; `F` and
    escape on the table clear it."""
    calls = stored(ws)

    async def go() -> None:
        app = ConsoleApp(context(ws))
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            screen = app.screen
            table = screen.query_one(PagedTable)
            line = screen.query_one("#calls-filter", Input)
            await pilot.press("slash", *"status:rated", "enter")
            await settle(pilot)
            await to_column(pilot, table, "site")
            site = screen.rows[0]["site"]
            await pilot.press("f")
            await settle(pilot)
            assert line.value == f"status:rated site:{site}"
            want = [r for r in calls if r["site"] == site and r["status"] == "rated"]
            assert sorted(ids(screen)) == sorted(r["id"] for r in want) and "filtered" in message(screen)
            assert f"total {len(want)} calls" in str(screen.query_one("#calls-totals").render())
            await to_column(pilot, table, "ext")
            ext = screen.rows[0]["extension"]
            await pilot.press("f")
            await settle(pilot)
            assert line.value == f"status:rated site:{site} ext:{ext}"
            assert sorted(ids(screen)) == sorted(r["id"] for r in want if r["extension"] == ext)
            await pilot.press("F")
            await settle(pilot)
            assert line.value == "" and "total 60 calls" in str(screen.query_one("#calls-totals").render())
            await to_column(pilot, table, "dir")
            await pilot.press("f")
            await settle(pilot)
            direction = screen.rows[0]["direction"]
            assert all(r["direction"] == direction for r in screen.rows) and line.value.startswith("dir:")
            await pilot.press("escape")
            await settle(pilot)
            assert line.value == "" and screen.filter.empty

    run(go())


def test_page_count_and_last_page(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`G` reads the last page by keyset from the other end; the line says page N · rows of total · pages; going
    back from the last page and `g` return the pages of the order."""
    monkeypatch.setattr(calls_screen, "PAGE", 25)
    want = [r["id"] for r in sorted(stored(ws), key=lambda r: (r["start"], r["id"]), reverse=True)]

    async def go() -> None:
        app = ConsoleApp(context(ws))
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            screen = app.screen
            table = screen.query_one(PagedTable)
            assert "page 1 · rows 1–25 of 60 · 3 pages" in message(screen)
            await pilot.press("G")
            await settle(pilot)
            assert ids(screen) == want[35:] and table.cursor_row == 24
            assert "page 3 · rows 36–60 of 60 · 3 pages" in message(screen) and screen.page_no == 3
            await pilot.press("down")  # past the very last row: stays
            await settle(pilot)
            assert ids(screen) == want[35:]
            await pilot.press("b")
            await settle(pilot)
            assert ids(screen) == want[10:35] and "rows 11–35 of 60" in message(screen)
            await pilot.press("g")
            await settle(pilot)
            assert ids(screen) == want[:25] and "page 1 · rows 1–25" in message(screen)

    run(go())


def test_column_visibility_is_kept_for_the_session(ws: Path) -> None:
    """At 80 columns the destination starts hidden (a wide column, k9s-style); `c` shows it and hides others, and
    the choice stays for the session."""
    async def go() -> None:
        app = ConsoleApp(context(ws))
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            screen = app.screen
            table = screen.query_one(PagedTable)
            assert headers(table) == ["start CET▼", "site", "ext", "number", "dur", "cost", "dir", "S"]
            await pilot.press("c")
            await until(pilot, lambda: isinstance(app.screen, ColumnsScreen), "the column checklist")
            checklist = app.screen.query_one(SelectionList)
            assert "destination" not in checklist.selected and "dir" in checklist.selected
            checklist.deselect("site").select("destination")
            await pilot.press("enter")
            await settle(pilot)
            assert headers(table) == ["start CET▼", "ext", "number", "dur", "cost", "destination", "dir", "S"]
            assert table.row_count == len(screen.rows) == 60 and len(table.get_row_at(0)) == 8
            await pilot.press("4")
            await settle(pilot)
            await pilot.press("2")
            await settle(pilot)
            assert headers(app.screen.query_one(PagedTable)) == ["start CET▼", "ext", "number", "dur", "cost",
                                                                 "destination", "dir", "S"]
            await pilot.press("c")  # none shown: refused, the dialog stays
            await until(pilot, lambda: isinstance(app.screen, ColumnsScreen), "the column checklist")
            app.screen.query_one(SelectionList).deselect_all()
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, ColumnsScreen)
            await pilot.press("escape")
            await settle(pilot)
            assert len(headers(table)) == 8

    run(go())


def test_calls_fit_80_columns_with_direction_status_and_currency(ws: Path) -> None:
    """Issue 18: at 80×24 the direction, the status and each cost's currency are in view without scrolling
    sideways; the zone moves to the header (every call of the page is in CET) and the status is one glyph.
    Widened to 120 columns, the same screen shows the full layout (destination, status words, zone per row)."""
    async def go() -> None:
        app = ConsoleApp(context(ws))
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            screen = app.screen
            table = screen.query_one(PagedTable)
            assert table.virtual_size.width <= table.scrollable_content_region.width
            assert table.max_scroll_x == 0
            row = [str(c) for c in table.get_row_at(0)]
            want = screen.rows[0]
            assert row[0] == display.when(want["start"], "Europe/Paris", show_zone=False)
            assert row[5] == display.money(want["cost"], want["currency"]) and row[5].endswith(" EUR")
            assert row[6] == "out" and row[7] == "✓" and want["status"] == "rated"
            await pilot.resize_terminal(120, 40)
            await settle(pilot)
            assert headers(table)[-3:] == ["destination", "dir", "status"] and headers(table)[0] == "start▼"
            row = [str(c) for c in table.get_row_at(0)]
            assert row[0].endswith(" CET") and row[-1] == "rated" and row[-3] == want["destination"][:14]
            assert table.max_scroll_x == 0

    run(go())


async def export(pilot, path: Path, *, confirm: bool = True) -> str:
    """Open the export dialog, type `path`, enter; return the dialog's note if it stays open."""
    await pilot.press("e")
    await until(pilot, lambda: isinstance(pilot.app.screen, ExportScreen), "the export dialog")
    pilot.app.screen.query_one(Input).value = str(path)
    await pilot.press("enter")
    await pilot.pause()
    if isinstance(pilot.app.screen, ExportScreen):
        return str(pilot.app.screen.query_one("#export-note").render())
    return ""


def test_export_exactly_the_view_to_a_chosen_path(ws: Path, tmp_path: Path) -> None:
    """Filter, sort and visible columns are what is written (every page, exact costs with their currency); an
    existing file is overwritten only on a second enter after a note that names it; XLSX by the suffix."""
    calls = stored(ws)
    want = sorted((r for r in calls if r["site"] == "paris"),
                  key=lambda r: ((r["currency"] or "", r["cost"] if r["cost"] is not None else -1), r["id"]),
                  reverse=True)
    target = tmp_path / "view.csv"

    async def go() -> None:
        app = ConsoleApp(context(ws))
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            screen = app.screen
            table = screen.query_one(PagedTable)
            await pilot.press("slash", *"site:paris", "enter")
            await settle(pilot)
            await to_column(pilot, table, "cost")
            await pilot.press("greater_than_sign")
            await settle(pilot)
            await pilot.press("c")
            await until(pilot, lambda: isinstance(app.screen, ColumnsScreen), "the column checklist")
            for key in ("start", "site", "ext", "dur", "dir"):
                app.screen.query_one(SelectionList).deselect(key)
            await pilot.press("enter")
            await settle(pilot)
            await pilot.press("e")
            await until(pilot, lambda: isinstance(app.screen, ExportScreen), "the export dialog")
            default = app.screen.query_one(Input).value  # a new name in the workspace, never an earlier export
            assert default.startswith(str(ws / "calls-")) and default.endswith(".csv")
            await pilot.press("escape")
            assert await export(pilot, target) == ""
            await until(pilot, target.exists, "the export file")
            await settle(pilot)
            assert f"exported 40 calls to {target}" in message(screen)
            target.write_text("precious\n")
            note = await export(pilot, target)
            assert f"{target} exists: enter again to overwrite it" in note
            await pilot.press("escape")  # cancelled at the confirmation: untouched
            await settle(pilot)
            assert target.read_text() == "precious\n"
            note = await export(pilot, target)
            assert "exists" in note
            await pilot.press("enter")  # confirmed
            await until(pilot, lambda: target.read_text() != "precious\n", "the overwrite")
            await settle(pilot)
            assert "exported 40 calls" in message(screen)
            assert "name the file .csv or .xlsx" in await export(pilot, tmp_path / "view.txt")
            await pilot.press("escape")
            assert await export(pilot, tmp_path / "view.xlsx") == ""
            await until(pilot, (tmp_path / "view.xlsx").exists, "the xlsx file")
            await settle(pilot)

    run(go())
    rows = list(csv.reader(target.open()))
    assert rows[0] == ["number", "cost", "currency", "destination", "status"]
    assert [r[1] for r in rows[1:]] == [format_exact(r["cost"]) if r["billed"] and r["cost"] is not None else
                                        ("0.00" if r["cost"] is not None else "") for r in want]
    assert [r[4] for r in rows[1:]] == [r["status"] if r["billed"] else "merged" for r in want]
    with zipfile.ZipFile(tmp_path / "view.xlsx") as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
    assert "currency" in sheet and want[0]["destination"] in sheet and sheet.count("<row ") == 41


def test_write_rows_never_clobbers(tmp_path: Path) -> None:
    target = tmp_path / "a.csv"
    assert write_rows(target, ["x"], [["=1+1"], [2]]) == 2
    assert target.read_text() == "x\n'=1+1\n2\n"  # a formula neutralised
    with pytest.raises(FileExistsError):
        write_rows(target, ["x"], [[3]])
    assert write_rows(target, ["x"], [[3]], overwrite=True) == 1 and target.read_text() == "x\n3\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.csv"]  # no temporary file left


def test_rejects_sort_filter_columns_last_and_export(ws: Path, tmp_path: Path) -> None:
    store = open_store(ws / "anatole.db")
    store.conn.executemany("INSERT INTO rejects (source, import_id, file, sha256, line, raw, reason) "
                           "VALUES (?, 1, ?, ?, ?, ?, ?)",
                           [("paris-ipo", "/x/extra.txt", f"h{i}", i, f"raw {i}", "bad date" if i % 2 else "short")
                            for i in range(1, 9)])
    store.conn.commit()
    store.close()
    target = tmp_path / "rejects.csv"

    async def go() -> None:
        app = ConsoleApp(context(ws), start="rejects")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, RejectsScreen)
            table = screen.query_one("#rejects", LocalTable)
            assert table.row_count == 10 and "Rejects: 10" in str(screen.query_one("#rejects-title").render())
            await to_column(pilot, table, "line")
            await pilot.press("greater_than_sign")
            await pilot.pause()
            lines = [r.value("line") for r in table.view]
            assert lines == sorted(lines, reverse=True) and "line▼" in headers(table)
            await to_column(pilot, table, "reason")
            table.move_cursor(row=next(i for i, r in enumerate(table.view) if r.value("reason") == "short"))
            await pilot.press("f")
            await pilot.pause()
            assert [r.value("reason") for r in table.view] == ["short"] * 4
            assert "4 of 10 · reason = short · sorted by line ▼" in str(screen.query_one("#rejects-title").render())
            await pilot.press("G")
            assert table.cursor_row == 3 and "short" in str(screen.query_one("#reject-raw").render())
            await pilot.press("g")
            assert table.cursor_row == 0
            await pilot.press("c")
            await until(pilot, lambda: isinstance(app.screen, ColumnsScreen), "the column checklist")
            app.screen.query_one(SelectionList).deselect("source")
            await pilot.press("enter")
            await pilot.pause()
            assert headers(table) == ["file", "line▼", "reason"]
            assert await export(pilot, target) == ""
            await until(pilot, target.exists, "the export")
            assert "exists" in await export(pilot, target)
            await pilot.press("escape")
            await pilot.press("F")
            await pilot.pause()
            assert table.row_count == 10

    run(go())
    rows = list(csv.reader(target.open()))
    assert rows == [["file", "line", "reason"]] + [["extra.txt", str(n), "short"] for n in (8, 6, 4, 2)]


def test_palette_holds_the_screens_actions(ws: Path) -> None:
    async def go() -> None:
        app = ConsoleApp(context(ws))
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            commands = {c.title: c for c in app.get_system_commands(app.screen)}
            for title in ("Calls: export the view…", "Calls: filter by the highlighted cell", "Calls: clear the filter",
                          "Calls: show or hide columns…", "Calls: last page", "Calls: sort by cost ▼"):
                assert title in commands
            commands["Calls: sort by cost ▼"].callback()
            await settle(pilot)
            assert app.screen.order == "cost_desc"
            await pilot.press("4")
            await settle(pilot)
            titles = {c.title for c in app.get_system_commands(app.screen)}
            assert {"Rejects: export the view…", "Rejects: sort by reason ▲",
                    "Rejects: show or hide columns…"} <= titles
            await pilot.press("i")
            titles = {c.title for c in app.get_system_commands(app.screen)}
            assert "Imports: sort by read ▼" in titles

    run(go())


FRENCH_80 = """
import asyncio, json, sys
from pathlib import Path
import i18n
i18n.use("fr")
sys.path.insert(0, sys.argv[1])
from test_tui_support import context, settle
from tui.app import ConsoleApp
from tui.calls_screen import PagedTable

async def go():
    app = ConsoleApp(context(Path(sys.argv[2])))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(PagedTable)
        print(json.dumps({"headers": [c.label.plain for c in table.ordered_columns],
                          "row": [str(c) for c in table.get_row_at(0)], "scroll": table.max_scroll_x}))

asyncio.run(go())
"""


def test_calls_fit_80_columns_in_french(ws: Path) -> None:
    """French headers, directions and money are longer: still no sideways scrolling at 80 columns (a subprocess:
    the labels are translated when the modules are imported)."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", FRENCH_80, str(Path(__file__).parent), str(ws)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["headers"] == ["début CET▼", "site", "poste", "numéro", "durée", "coût", "sens", "É"]
    assert got["scroll"] == 0
    assert got["row"][5].endswith("€") and got["row"][6] in ("sort.", "entr.") and got["row"][7] in "✓·"


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_calls_snapshot(ws: Path, snap_compare, size: tuple[int, int]) -> None:
    async def before(pilot) -> None:
        await settle(pilot)
        table = pilot.app.screen.query_one(PagedTable)
        await to_column(pilot, table, "cost")
        await pilot.press("greater_than_sign")
        await settle(pilot)

    assert snap_compare(ConsoleApp(context(ws)), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_rejects_snapshot(ws: Path, snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(ConsoleApp(context(ws), start="rejects"), terminal_size=size, run_before=settle)
