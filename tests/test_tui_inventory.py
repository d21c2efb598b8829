"""The Inventory screen on a real store: the cost-centre tree, every kind as it stood on a date (a person who moved
department mid-month), the filter, one item's versions and changes, the preview of a CSV import (nothing written),
and a snapshot."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_tui_support import NOW, context, run, settle, until, workspace_copy
from textual.widgets import DataTable, Input, Select, Static

from anatole.config import open_workspace
from anatole.console_actions import inventory_actions
from store import open_store
from store.inventory import open_inventory
from tem.inventory import import_file
from tui.app import ConsoleApp
from tui.inventory_screen import ImportPreviewScreen, InventoryScreen, ItemScreen, parse_day, tree_order
from tui.table import ExportScreen, LocalTable

CENTRES = ("code,name,parent,gl_account,budget\n"
           "HQ,Head office,,6100,\nSALES,Sales,HQ,6110,1500.00\nOPS,Operations,HQ,6120,800\n"
           "SALES-EU,Sales Europe,SALES,6111,\n")
PEOPLE = ("Employee ID,Full Name,Email,Cost Center,Site,Extension\n"
          "E1,Ann Martin,ann@example.com,SALES,paris,2001\n"
          "E2,Bob Durand,bob@example.com,OPS,paris,2002 2003\n"
          "E3,Cid Petit,cid@example.com,SALES-EU,lyon,4001\n")
MOVE = "Employee ID,Full Name,Email,Cost Center,Site,Extension\nE2,Bob Durand,bob@example.com,SALES,paris,2002 2003\n"
LINES = ("service,name,type,carrier,account,contract,site,owner,cost_centre\n"
         "+33 1 55 50 12 34,Paris SIP trunk,did,Orange,ACC-1,C-100,paris,,OPS\n"
         "+33 6 12 34 56 78,Ann's mobile,mobile,SFR,ACC-2,C-200,paris,E1,SALES\n")
DEVICES = "serial,model,type,owner,site,extension\nSN-1,Yealink T54W,desk phone,E1,paris,2001\n"
CONTRACTS = ("contract,name,carrier,account,tariff,monthly_fee,notice_days,from,to\n"
             "C-100,SIP trunk 30 channels,Orange,ACC-1,fr-business,450.00,90,2024-01-01,2026-01-01\n"
             "C-200,Mobile fleet,SFR,ACC-2,,12.50,30,2024-06-01,\n")
FEE = "contract,monthly_fee,from,to\nC-100,480.00,2025-06-01,2026-01-01\n"  # a dearer fee from June


def inventory_workspace() -> Path:
    """The console's fixed workspace with an inventory: Bob moves from OPS to SALES on 2025-03-10."""
    ws = workspace_copy()
    files = {"cc.csv": CENTRES, "people.csv": PEOPLE, "move.csv": MOVE, "lines.csv": LINES, "devices.csv": DEVICES,
             "contracts.csv": CONTRACTS, "fee.csv": FEE}
    for name, text in files.items():
        (ws / name).write_text(text)
    store = open_store(ws / "anatole.db")
    inv = open_inventory(store.conn)
    for name, kind, effective, partial in (("cc.csv", "cost_centre", "2025-01-01", False),
                                           ("people.csv", "person", "2025-01-01", False),
                                           ("move.csv", "person", "2025-03-10", True),
                                           ("lines.csv", "line", "2025-01-01", False),
                                           ("devices.csv", "device", "2025-02-01", False),
                                           ("contracts.csv", "contract", "2025-01-01", False),
                                           ("fee.csv", "contract", "2025-01-01", True)):
        _, batch = import_file(inv, ws / name, kind, effective=effective, partial=partial, apply_it=True,
                               actor="hr-sync")
        assert batch is not None
    store.conn.execute("UPDATE inventory_history SET at = ?", (NOW - 86400,))  # a fixed "when" for the screen
    store.conn.commit()
    store.close()
    return ws


@pytest.fixture(scope="module")
def ws() -> Path:
    return inventory_workspace()


def app_for(ws: Path, **kw: object) -> ConsoleApp:
    ctx = context(ws, inventory=inventory_actions(ws / "anatole.db"), **kw)
    return ConsoleApp(ctx, start="inventory")


def cells(screen: InventoryScreen) -> list[list[str]]:
    table = screen.query_one("#inventory", DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def test_tree_order_puts_children_under_parents_and_survives_a_loop() -> None:
    rows = [{"key": k, "parent": p} for k, p in (("B", "A"), ("A", None), ("C", "B"), ("D", None), ("X", "Y"),
                                                  ("Y", "X"))]
    assert [(d, r["key"]) for d, r in tree_order(rows)] == [(0, "A"), (1, "B"), (2, "C"), (0, "D"), (0, "X"),
                                                             (0, "Y")]
    assert parse_day(" 2025-03-01 ") == "2025-03-01"
    with pytest.raises(ValueError, match="not a date"):
        parse_day("2025-02-30")
    from store import display

    with display.in_locale("fr_FR"):  # also as the language writes a day (ISO always)
        assert parse_day("01/03/2025") == parse_day("2025-03-01") == "2025-03-01"
        with pytest.raises(ValueError, match="not a date"):
            parse_day("30/02/2025")
    with pytest.raises(ValueError, match="not a date"):
        parse_day("01/03/2025")  # English: ISO only (03/01 or 01/03?)


def test_sort_by_a_column_and_filter_by_a_cell(ws: Path) -> None:
    async def go() -> None:
        app = app_for(ws)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, InventoryScreen)
            table = screen.query_one("#inventory", LocalTable)
            await pilot.press("right_square_bracket")  # people
            await settle(pilot)
            assert screen.kind == "person"
            table.move_cursor(column=1)  # name
            await pilot.press("greater_than_sign")
            await settle(pilot)
            names = [r[1] for r in cells(screen)]
            assert names == sorted(names, key=str.lower, reverse=True) and len(names) == 3
            assert "name▼" in str(table.ordered_columns[1].label)
            title = str(screen.query_one("#inventory-title", Static).render())
            assert "sorted by name ▼" in title
            # the cost centre of the highlighted person: only the people of that centre
            row = next(i for i, r in enumerate(cells(screen)) if r[3] == "SALES")
            table.move_cursor(row=row, column=3)
            await pilot.press("f")
            await settle(pilot)
            assert {r[3] for r in cells(screen)} == {"SALES"}
            assert "cost centre = SALES" in str(screen.query_one("#inventory-title", Static).render())
            await pilot.press("enter")  # the highlighted person, found by key
            await settle(pilot)
            assert isinstance(app.screen, ItemScreen) and app.screen.key == cells(screen)[table.cursor_row][0]
            await pilot.press("escape")
            await settle(pilot)
            await pilot.press("F")
            await settle(pilot)
            assert len(cells(screen)) == 3
            # another kind starts unsorted and unfiltered, with its own columns
            await pilot.press("left_square_bracket")
            await settle(pilot)
            assert [r[0] for r in cells(screen)] == ["HQ", "└ OPS", "└ SALES", "  └ SALES-EU"]
            assert table.sort is None and not table.filters

    run(go())


def test_kinds_on_a_date_filter_and_detail(ws: Path) -> None:
    async def go() -> None:
        app = app_for(ws)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, InventoryScreen) and screen.day == "2025-03-14"
            # the cost-centre tree: children under their parents, indented; head counts of the day
            assert [r[0] for r in cells(screen)] == ["HQ", "└ OPS", "└ SALES", "  └ SALES-EU"]
            assert [r[5] for r in cells(screen)] == ["", "", "2", "1"]  # Bob moved to SALES on 2025-03-10
            await pilot.press("right_square_bracket")
            await settle(pilot)
            assert screen.kind == "person"
            rows = {r[0]: r for r in cells(screen)}
            assert rows["E2"][3] == "SALES" and rows["E2"][5] == "2002 2003" and rows["E2"][6] == "2025-03-10"
            # the same people before the move
            await pilot.press("d")
            date = screen.query_one("#inventory-date", Input)
            assert date.has_focus
            date.value = "2025-03-01"
            await pilot.press("enter")
            await settle(pilot)
            assert {r[0]: r for r in cells(screen)}["E2"][3] == "OPS"
            # a bad date: a clear message, the table left as it was
            await pilot.press("d")
            date.value = "2025-02-30"
            await pilot.press("enter")
            await settle(pilot)
            message = str(screen.query_one("#inventory-message", Static).render())
            assert "'2025-02-30' is not a date" in message and screen.day == "2025-03-01"
            assert len(cells(screen)) == 3
            # the filter: every word must match some column
            await pilot.press("escape", "slash")
            await pilot.press(*"sales")
            await settle(pilot)
            assert [r[0] for r in cells(screen)] == ["E1", "E3"]  # SALES and SALES-EU on 2025-03-01
            assert "2 of 3" in str(screen.query_one("#inventory-title", Static).render())
            screen.query_one("#inventory-filter", Input).value = "sales lyon"
            await settle(pilot)
            assert [r[0] for r in cells(screen)] == ["E3"]
            screen.query_one("#inventory-filter", Input).value = "bob"
            await pilot.press("enter")
            await settle(pilot)
            assert [r[0] for r in cells(screen)] == ["E2"]
            assert screen.query_one("#inventory", DataTable).has_focus
            # the item: both versions (the one in force on the screen's date marked) and both changes
            await pilot.press("enter")
            await settle(pilot)
            item = app.screen
            assert isinstance(item, ItemScreen)
            await until(pilot, lambda: item.query_one("#item-history", DataTable).row_count == 2, "the history")
            versions = item.query_one("#item-versions", DataTable)
            rows = [[str(c) for c in versions.get_row_at(i)] for i in range(versions.row_count)]
            assert [(r[0], r[4], r[-2], r[-1]) for r in rows] == [("▸", "OPS", "2025-01-01", "2025-03-10"),
                                                                  ("", "SALES", "2025-03-10", "")]
            history = item.query_one("#item-history", DataTable)
            newest = [str(c) for c in history.get_row_at(0)]
            assert newest[1] == "hr-sync" and newest[3] == "change" and "cost_centre: OPS → SALES" in newest[6]
            # both are LocalTables: the changes sort by their batch as a number (< ascending), h focuses them
            await pilot.press("h")
            assert history.has_focus
            history.move_cursor(row=0, column=2)
            await pilot.press("less_than_sign")
            await settle(pilot)
            assert [str(c) for c in history.get_row_at(1)] == newest and history.sort == ("batch", False)
            assert "changes: 2 · sorted by batch ▲" in str(item.query_one("#item-message", Static).render())
            await pilot.press("escape")
            assert app.screen is screen
            # the other kinds: lines keyed by E.164 digits, contracts with the last day to give notice
            for _ in range(2):
                await pilot.press("right_square_bracket")
            await settle(pilot)
            assert screen.kind == "line"
            screen.query_one("#inventory-filter", Input).value = ""
            await settle(pilot)
            lines = {r[0]: r for r in cells(screen)}
            assert set(lines) == {"33155501234", "33612345678"} and lines["33612345678"][7] == "E1 Ann Martin"
            await pilot.press("right_square_bracket", "right_square_bracket")
            await settle(pilot)
            contracts = {r[0]: r for r in cells(screen)}  # notice: 90 days before the contract's end, not the fee's
            assert contracts["C-100"][5] == "450.00 EUR" and contracts["C-100"][7] == "2025-10-03"
            assert contracts["C-100"][9] == "2025-06-01"
            await pilot.press("left_square_bracket")
            await settle(pilot)
            assert screen.kind == "device" and cells(screen)[0][3] == "E1 Ann Martin"

    run(go())


def test_import_preview_shows_changes_and_problems_and_writes_nothing(ws: Path) -> None:
    (ws / "new-people.csv").write_text(
        "Employee ID,Full Name,Cost Center,Site,Extension\n"
        "E1,Ann Martin,SALES,paris,2001\n"
        "E2,Bob Durand,OPS,paris,2002 2003\n"   # back to OPS: a change
        "E4,Dee Moreau,NOPE,lyon,4002\n")       # a new person in an unknown cost centre
    store = open_store(ws / "anatole.db")
    before = (open_inventory(store.conn).count(), len(open_inventory(store.conn).history()))
    store.close()

    async def go() -> None:
        app = app_for(ws)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            await pilot.press("i")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, ImportPreviewScreen)
            assert screen.query_one("#preview-kind", Select).value == "people"
            screen.query_one("#preview-file", Input).value = "missing.csv"
            await pilot.press("enter")
            await settle(pilot)
            message = screen.query_one("#preview-message", Static)
            assert "missing.csv: cannot be read" in str(message.render()) and message.has_class("error")
            screen.query_one("#preview-file", Input).value = "new-people.csv"
            await pilot.press("enter")
            await settle(pilot)
            table = screen.query_one("#preview", DataTable)
            rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
            marks = {(r[0], r[1], r[2]) for r in rows}
            assert ("+", "person", "E4") in marks and ("~", "person", "E2") in marks
            assert ("-", "person", "E3") in marks  # not in the file: removed from the effective date
            assert ("!", "unknown_cost_centre", "E4") in marks
            change = next(r for r in rows if r[:3] == ["~", "person", "E2"])
            assert "cost_centre: SALES → OPS" in change[5]
            summary = str(screen.query_one("#preview-summary", Static).render())
            assert "3 rows" in summary and "1 problem" in summary and "effective 2025-03-14" in summary
            assert "--accept" in str(message.render())
            # a LocalTable: filter by the highlighted cell (the additions), export exactly that view to a path
            table = screen.query_one("#preview", LocalTable)
            table.focus()
            table.move_cursor(row=[r[0] for r in rows].index("+"), column=0)
            await pilot.press("f")
            await settle(pilot)
            assert {str(table.get_row_at(i)[0]) for i in range(table.row_count)} == {"+"}
            assert "shown: 2 of 6 · ± = add" in str(screen.query_one("#preview-summary", Static).render())
            target = ws / "preview-view.csv"
            await pilot.press("e")
            await until(pilot, lambda: isinstance(app.screen, ExportScreen), "the export dialog")
            app.screen.query_one(Input).value = str(target)
            await pilot.press("enter")
            await until(pilot, target.exists, "the export")
            assert target.read_text().splitlines() == [
                "±,kind,key,from,to,what", 'add,person,E4,2025-03-14,,"name=Dee Moreau, cost_centre=NOPE, site=lyon"',
                'add,extension,lyon/4002,2025-03-14,,"site=lyon, extension=4002, person=E4"']
            await settle(pilot)
            await pilot.press("escape")
            assert isinstance(app.screen, InventoryScreen)

    run(go())
    store = open_store(ws / "anatole.db")
    assert (open_inventory(store.conn).count(), len(open_inventory(store.conn).history())) == before
    store.close()


def test_without_the_workspace_the_preview_says_so_and_an_empty_store_is_explained() -> None:
    ws = workspace_copy()  # calls, no inventory

    async def go() -> None:
        app = ConsoleApp(context(ws), start="inventory")
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert "no inventory on this date" in str(app.screen.query_one("#inventory-message", Static).render())
            await pilot.press("i")
            await settle(pilot)
            screen = app.screen
            screen.query_one("#preview-file", Input).value = "people.csv"
            await pilot.press("enter")
            await settle(pilot)
            assert "needs the workspace" in str(screen.query_one("#preview-message", Static).render())

    run(go())


def test_the_cli_wires_the_preview() -> None:
    ws = inventory_workspace()
    from anatole.cli_ui import console_context

    ctx = console_context(open_workspace(ws))
    assert ctx.inventory is not None and "people" in ctx.inventory.kinds
    result = ctx.inventory.preview(ws / "people.csv", "people", "2025-03-14", True)
    assert result["rows"] == 3 and result["blocking"] == 0
    assert ctx.reports is not None and ctx.reports.latest() == "2025-03" and "top-callers" in ctx.reports.reports


def test_snapshot(snap_compare) -> None:
    ws = inventory_workspace()

    async def before(pilot) -> None:
        await settle(pilot)
        await pilot.press("right_square_bracket")
        await settle(pilot)

    assert snap_compare(app_for(ws), terminal_size=(100, 24), run_before=before)


def test_a_big_list_is_cut_and_the_filter_finds_the_rest(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tui.inventory_screen as screen_module

    monkeypatch.setattr(screen_module, "ROW_LIMIT", 2)

    async def go() -> None:
        app = app_for(ws)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            screen = app.screen
            await pilot.press("right_square_bracket")
            await settle(pilot)
            assert [r[0] for r in cells(screen)] == ["E1", "E2"]
            assert "the first 2 of 3 shown" in str(screen.query_one("#inventory-message", Static).render())
            screen.query_one("#inventory-filter", Input).value = "cid"
            await settle(pilot)
            assert [r[0] for r in cells(screen)] == ["E3"]

    run(go())
