"""Tariffs screen: the workspace's tariff, a prefix search, and quoting a number (the same cost as the engine),
with nonsense in the quote box answered inline."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from test_tui_support import NOW, context, run, settle, until, workspace_copy
from textual.widgets import DataTable, Input

from engine.money import format_money
from ingest.dialplan import DialPlan
from tariffs.compile import compile_tariff
from tariffs.load import load_tariff
from tui.app import ConsoleApp
from tui.data import rate_rows
from tui.table import LocalTable
from tui.tariffs_screen import TariffsScreen, parse_quote


def test_search_and_quote() -> None:
    ws = workspace_copy()
    c = compile_tariff(load_tariff(ws / "tariffs" / "fr-business.toml"))
    start = int(dt.datetime(2026, 11, 26, 9, 30, tzinfo=ZoneInfo("Europe/Paris")).timestamp())
    engine = c.describe(c.rate(["33612345678"], [start], [125]), 0)

    async def go() -> None:
        app = ConsoleApp(context(ws), start="tariffs")
        async with app.run_test(size=(100, 36)) as pilot:
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, TariffsScreen)
            info = screen.query_one("#tariff-info")
            await until(pilot, lambda: "Sample carrier FR" in str(info.render()), "the tariff's summary")
            await pilot.press("slash", *"3375")
            await settle(pilot)
            table = screen.query_one("#rates", DataTable)
            prefixes = {str(table.get_row_at(i)[0]) for i in range(table.row_count)}
            assert prefixes and all("3375".startswith(p) or p.startswith("3375") for p in prefixes)
            await pilot.press("escape", "n", *"+33 6 12 34 56 78", "enter")  # spaces: not one number
            await settle(pilot)
            result = screen.query_one("#quote-result")
            assert "'12' is not a start time" in str(result.render()) and result.has_class("error")
            screen.query_one("#quote-input", Input).value = "+33612345678 2:05 2026-11-26T09:30"
            await pilot.press("enter")
            await settle(pilot)
            text = str(result.render())
            assert not result.has_class("error")
            assert f"(exact {format_money(engine['cost'], c.tariff.decimals)} EUR)" in text
            assert f"prefix {engine['prefix']}" in text and engine["band"] in text and "billed 125 s" in text

    run(go())


def test_quote_box_grammar() -> None:
    assert parse_quote("+33 1", "Europe/Paris", NOW) == ("33", 1, NOW)
    assert parse_quote("0033(1)4", "UTC", NOW) == ("003314", 60, NOW)
    assert parse_quote("33612345678 90 2025-03-14T10:00Z", "Europe/Paris", NOW)[1:] == (90, 1741946400)
    for text, message in (("", "type a number"), ("abc", "not a number"),
                          ("33 12 tomorrow", "'tomorrow' is not a start time"), ("33 6 12 34", "without spaces"),
                          ("33 12 2025-03-14 x", "unexpected 'x'")):
        try:
            parse_quote(text, "UTC", NOW)
        except ValueError as exc:
            assert message in str(exc)
        else:
            raise AssertionError(f"{text!r} was accepted")


def test_no_tariffs(tmp_path: Path) -> None:
    async def go() -> None:
        ctx = context(workspace_copy())
        ctx.tariffs = {}
        app = ConsoleApp(ctx, start="tariffs")
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert "no tariffs" in str(app.screen.query_one("#tariff-info").render())

    run(go())


def paris_plan() -> DialPlan:
    return DialPlan(country="FR", outside_prefix="9", national_prefix="0", international_prefix="00",
                    extensions=[("2000", "2999")])


def test_quote_box_numbers_as_dialled_and_durations() -> None:
    plan = paris_plan()
    assert parse_quote("0612345678 60", "Europe/Paris", NOW, plan, "paris") == ("33612345678", 60, NOW)
    assert parse_quote("90612345678 90s", "UTC", NOW, plan)[:2] == ("33612345678", 90)
    assert parse_quote("+44 2m", "UTC", NOW, plan)[:2] == ("44", 120)  # E.164 with + whatever the site
    assert parse_quote("0033612345678 1m30s", "UTC", NOW, plan)[:2] == ("33612345678", 90)
    assert parse_quote("33612345678 1h", "UTC", NOW)[:2] == ("33612345678", 3600)  # no site: E.164
    for text, message in (("2001 60", "internal"), ("0612345678 90x", "'90x' is not a duration"),
                          ("0612345678 2m1h", "1m30s")):
        try:
            parse_quote(text, "UTC", NOW, plan, "paris")
        except ValueError as exc:
            assert message in str(exc)
        else:
            raise AssertionError(f"{text!r} was accepted")


def test_quote_at_the_tariffs_site_and_full_destination_names() -> None:
    """The quote box reads numbers as dialled at the tariff's first site (`s` picks another, or none); a
    destination name is shown whole."""
    ws = workspace_copy()
    ctx = context(ws)
    ctx.sites = {name: dataclasses.replace(info, dialplan=paris_plan()) for name, info in ctx.sites.items()}
    c = compile_tariff(load_tariff(ws / "tariffs" / "fr-business.toml"))
    engine = c.describe(c.rate(["33612345678"], [NOW], [90]), 0)
    whole = {r["destination"] for r in rate_rows(c, None, 500)[0]}

    async def go() -> None:
        app = ConsoleApp(ctx, start="tariffs")
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, TariffsScreen)
            info = screen.query_one("#tariff-info")
            await until(pilot, lambda: "Sample carrier FR" in str(info.render()), "the tariff's summary")
            table = screen.query_one("#rates", DataTable)
            names = [str(table.get_row_at(i)[-1]) for i in range(table.row_count)]
            assert set(names) == whole and max(len(n) for n in names) > 24  # none cut
            assert screen.quote_site == "paris"
            box = screen.query_one("#quote-input", Input)
            assert "as dialled at paris" in box.placeholder
            await pilot.press("n", *"0612345678 90s", "enter")
            await settle(pilot)
            result = screen.query_one("#quote-result")
            text = str(result.render())
            assert not result.has_class("error"), text
            assert "0612345678 at paris = +33612345678" in text
            assert f"(exact {format_money(engine['cost'], c.tariff.decimals)} EUR)" in text and "billed" in text
            await pilot.press("escape", "s")  # the next site, then none
            assert screen.quote_site == "lyon"
            await pilot.press("escape", "s")
            assert screen.quote_site is None and "E.164" in box.placeholder
            box.value = "0612345678 60"
            await pilot.press("enter")
            await settle(pilot)
            assert "no rate" in str(result.render()) or result.has_class("error")

    run(go())


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_tariffs_snapshot_quote_at_a_site(size: tuple[int, int], snap_compare) -> None:
    ws = workspace_copy()
    ctx = context(ws)
    ctx.sites = {name: dataclasses.replace(info, dialplan=paris_plan()) for name, info in ctx.sites.items()}

    async def before(pilot) -> None:
        await settle(pilot)
        await until(pilot, lambda: "Sample carrier FR" in str(pilot.app.screen.query_one("#tariff-info").render()),
                    "the tariff's summary")
        await pilot.press("n")
        pilot.app.screen.query_one("#quote-input", Input).value = "0612345678 1m30s 2025-03-14T10:00"
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("escape")

    assert snap_compare(ConsoleApp(ctx, start="tariffs"), terminal_size=size, run_before=before)


def test_rates_sort_by_a_column_and_filter_by_a_cell() -> None:
    """The rate table's list keys: `>` sorts by the highlighted column (prices as amounts, not as text), `f`
    keeps the rows with the cell's value, `F` clears; the summary says what is shown."""
    ws = workspace_copy()

    async def go() -> None:
        app = ConsoleApp(context(ws), start="tariffs")
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            screen = app.screen
            info = screen.query_one("#tariff-info")
            await until(pilot, lambda: "Sample carrier FR" in str(info.render()), "the tariff's summary")
            table = screen.query_one("#rates", LocalTable)
            await until(pilot, lambda: table.row_count > 3, "the rates")
            table.focus()
            total = table.row_count
            price = [c.key for c in table.visible].index("price")
            table.move_cursor(row=0, column=price)
            await pilot.press("greater_than_sign")
            await settle(pilot)
            prices = [Decimal(str(table.get_row_at(i)[price])) for i in range(table.row_count)]
            assert prices == sorted(prices, reverse=True) and prices[0] > prices[-1]
            assert "sorted by EUR/unit ▼" in str(info.render())
            band = [c.key for c in table.visible].index("band")
            table.move_cursor(row=0, column=band)
            chosen = str(table.get_row_at(0)[band])
            await pilot.press("f")
            await settle(pilot)
            bands = {str(table.get_row_at(i)[band]) for i in range(table.row_count)}
            assert bands == {chosen} and 0 < table.row_count < total
            assert f"band = {chosen}" in str(info.render())
            await pilot.press("F")
            await settle(pilot)
            assert table.row_count == total

    run(go())
