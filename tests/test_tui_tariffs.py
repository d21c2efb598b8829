"""Tariffs screen: the workspace's tariff, a prefix search, and quoting a number (the same cost as the engine),
with nonsense in the quote box answered inline."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from test_tui_support import NOW, context, run, settle, until, workspace_copy
from textual.widgets import DataTable, Input

from engine.money import format_money
from tariffs.compile import compile_tariff
from tariffs.load import load_tariff
from tui.app import ConsoleApp
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
            await pilot.press("escape", "c", *"+33 6 12 34 56 78", "enter")  # spaces: not one number
            await settle(pilot)
            result = screen.query_one("#quote-result")
            assert "'12' is not a start time" in str(result.render()) and result.has_class("error")
            screen.query_one("#quote-input", Input).value = "+33612345678 2:05 2026-11-26T09:30"
            await pilot.press("enter")
            await settle(pilot)
            text = str(result.render())
            assert not result.has_class("error")
            assert f"cost {format_money(engine['cost'], c.tariff.decimals)} EUR" in text
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
