"""Calls screen, driven by a Pilot over the fixed store: paging, filtering (and nonsense in the filter), sorting,
the detail view, export, and a missing database shown as a message."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from test_tui_support import context, run, settle, until, workspace_copy
from textual.widgets import Input

import tui.calls_screen as calls_screen
from engine.money import SCALE, format_exact
from store import open_store
from store.display import money
from tui.app import ConsoleApp
from tui.calls_screen import CallDetailScreen, CallsScreen, PagedTable


@pytest.fixture(scope="module")
def ws() -> Path:
    return workspace_copy()


def stored(ws: Path) -> list[dict]:
    store = open_store(ws / "anatole.db")
    rows = list(store.calls())
    store.close()
    return rows


def ids(screen: CallsScreen) -> list[int]:
    return [r["id"] for r in screen.rows]


def test_pages_forward_and_back(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calls_screen, "PAGE", 25)

    async def go() -> None:
        app = ConsoleApp(context(ws))
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, CallsScreen)
            table = screen.query_one(PagedTable)
            first = ids(screen)
            assert len(first) == 25 and table.row_count == 25
            want = [r["id"] for r in sorted(stored(ws), key=lambda r: (r["start"], r["id"]), reverse=True)]
            assert first == want[:25]
            await pilot.press("ctrl+end", "down")  # past the last row: the next page
            await settle(pilot)
            assert ids(screen) == want[25:50] and screen.page_no == 2 and table.cursor_row == 0
            await pilot.press("n")
            await settle(pilot)
            assert ids(screen) == want[50:] and screen.page_no == 3
            await pilot.press("n")  # there is no page 4: stay
            await settle(pilot)
            assert ids(screen) == want[50:]
            await pilot.press("up")  # above the first row: the page before, cursor on its last row
            await settle(pilot)
            assert ids(screen) == want[25:50] and table.cursor_row == 24
            assert "page 2 · rows 26–50" in str(screen.query_one("#calls-message").render())
            await pilot.press("g")
            await settle(pilot)
            assert ids(screen) == want[:25]

    run(go())


def test_filter_totals_and_sort(ws: Path) -> None:
    async def go() -> None:
        app = ConsoleApp(context(ws))
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            screen = app.screen
            assert "total 60 calls" in str(screen.query_one("#calls-totals").render())
            await pilot.press("slash", *"site:lyon min:0.05", "enter")
            await settle(pilot)
            want = [r for r in stored(ws) if r["site"] == "lyon" and (r["cost"] or 0) >= 5 * SCALE // 100]
            assert want and sorted(ids(screen)) == sorted(r["id"] for r in want)
            total = money(sum(r["cost"] for r in want if r["billed"]), "EUR")
            assert f"total {len(want)} calls" in str(screen.query_one("#calls-totals").render())
            assert total in str(screen.query_one("#calls-totals").render())
            await pilot.press("s", "s")  # newest, oldest, dearest first
            await settle(pilot)
            costs = [(r["currency"] or "", r["cost"] if r["cost"] is not None else -1) for r in screen.rows]
            assert costs == sorted(costs, reverse=True) and screen.order == "cost_desc"  # per currency, dearest

    run(go())


def test_nonsense_in_the_filter_is_an_inline_message(ws: Path) -> None:
    async def go() -> None:
        app = ConsoleApp(context(ws))
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            screen = app.screen
            before = ids(screen)
            for text, message in (("from:2025-02-30", "from:2025-02-30: not a date"),
                                  ("min:1O", "min:1O: not an amount"), ("ext:2001 person:alice", "directory")):
                await pilot.press("slash")
                screen.query_one("#calls-filter", Input).value = text
                await pilot.press("enter")
                await settle(pilot)
                line = screen.query_one("#calls-message")
                assert message in str(line.render()) and line.has_class("error")
                assert ids(screen) == before  # the view did not change

    run(go())


def test_detail_explains_the_rating(ws: Path) -> None:
    rated = [r for r in stored(ws) if r["status"] == "rated"]
    target = max(rated, key=lambda r: (r["cost"], r["id"]))

    async def go() -> None:
        app = ConsoleApp(context(ws))
        async with app.run_test(size=(100, 40)) as pilot:
            await settle(pilot)
            await pilot.press("s", "s")  # dearest first: the target is on the first row
            await settle(pilot)
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, CallDetailScreen), "detail screen")
            await settle(pilot)
            rating = str(app.screen.query_one("#detail-rating").render())
            assert f"prefix         {target['prefix']}" in rating
            assert f"cost (exact)   {format_exact(target['cost'])} EUR" in rating
            assert "The tariff today" in rating and f"prefix {target['prefix']}" in rating
            assert target["raw"] in str(app.screen.query_one("#detail-raw").render())
            await pilot.press("escape")
            assert isinstance(app.screen, CallsScreen)

    run(go())


def test_export_current_view(ws: Path, tmp_path: Path) -> None:
    target = tmp_path / "paris.csv"

    async def go() -> None:
        app = ConsoleApp(context(ws))
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("slash", *"site:paris", "enter")
            await settle(pilot)
            await pilot.press("e")
            await pilot.pause()
            app.screen.query_one(Input).value = str(target)
            await pilot.press("enter")
            await until(pilot, target.exists, "the export file")
            await settle(pilot)
            assert "exported 40 calls" in str(app.screen.query_one("#calls-message").render())

    run(go())
    rows = list(csv.DictReader(target.open()))
    assert len(rows) == 40 and {r["site"] for r in rows} == {"paris"}


def test_missing_database_is_a_message(tmp_path: Path) -> None:
    async def go() -> None:
        app = ConsoleApp(context(tmp_path))
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            line = app.screen.query_one("#calls-message")
            assert "no database at" in str(line.render()) and line.has_class("error")
            await pilot.press("4")
            await settle(pilot)
            assert "no database at" in str(app.screen.query_one("#reject-raw").render())

    run(go())


def test_totals_and_dearest_per_currency() -> None:
    """Calls in three currencies: one total per currency (never one sum), each with its own decimals, and "dearest
    first" ranks within each currency instead of comparing GBP and JPY by face value."""
    import sqlite3

    ws = workspace_copy()  # its own copy: the module's workspace stays in one currency
    conn = sqlite3.connect(ws / "anatole.db")
    with conn:
        ids_ = [r[0] for r in conn.execute("SELECT id FROM calls WHERE billed = 1 AND cost > 0 ORDER BY id")]
        conn.execute(f"UPDATE calls SET currency = 'GBP', cost = 123456789 WHERE id IN ({ids_[0]}, {ids_[1]})")
        conn.execute(f"UPDATE calls SET currency = 'JPY', cost = 150000000000 WHERE id = {ids_[2]}")
    conn.close()
    rows = stored(ws)
    eur = sum(r["cost"] for r in rows if r["billed"] and r["currency"] == "EUR")

    async def go() -> None:
        app = ConsoleApp(context(ws))
        async with app.run_test(size=(140, 40)) as pilot:
            await settle(pilot)
            screen = app.screen
            totals = str(screen.query_one("#calls-totals").render())
            assert f"{money(eur, 'EUR')} · 2.47 GBP · 1,500 JPY" in totals
            await pilot.press("s", "s")  # dearest first, per currency
            await settle(pilot)
            currencies = [r["currency"] for r in screen.rows]
            assert currencies[:1] == ["JPY"] and currencies[1:3] == ["GBP", "GBP"]  # grouped, never interleaved
            table = screen.query_one(PagedTable)
            assert str(table.get_row_at(0)[5]) == "1,500 JPY" and str(table.get_row_at(1)[5]) == "1.23 GBP"
            assert "dearest first per currency" in str(screen.query_one("#calls-message").render())

    run(go())


def test_columns_are_as_wide_as_the_page_without_waiting_for_idle(ws: Path) -> None:
    """The page's columns get their width when the rows are given (tui.table.cell_width), not when the app is next
    idle (DataTable's own measure): on a busy machine a page drawn before that had its columns as wide as their
    labels, the values cut short (a CI snapshot caught it). Checked on the page as filled, before any pause."""
    from tui.table import cell_width

    async def go() -> None:
        app = ConsoleApp(context(ws))
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            screen = app.screen
            table = screen.query_one(PagedTable)
            screen._fill()  # the page again, measured now: no pause before looking
            zone = screen._page_zone()
            page = [screen._cells(r, zone_in_header=zone is not None) for r in screen.rows]
            assert page
            for column in table.columns.values():
                key = column.key.value
                assert not column.auto_width, key
                assert column.width == max(cell_width(column.label), *(cell_width(c[key]) for c in page)), key

    run(go())
