"""Getting around by keyboard alone: screen keys, the command palette, the help screen (every key of every
screen), the theme switch and quitting; `anatole monitor` is the Live screen alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from test_tui_support import context, run, settle, until, workspace_copy

from anatole.cli import main
from tui.app import ConsoleApp
from tui.calls_screen import CallDetailScreen, CallsScreen
from tui.help import HelpScreen, _bindings
from tui.live_screen import LiveScreen
from tui.rejects_screen import RejectsScreen
from tui.tariffs_screen import TariffsScreen


@pytest.fixture(scope="module")
def ws() -> Path:
    return workspace_copy()


def test_keys_reach_every_screen_and_help_lists_every_key(ws: Path) -> None:
    async def go() -> None:
        app = ConsoleApp(context(ws))
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert isinstance(app.screen, CallsScreen)
            for key, cls in (("3", TariffsScreen), ("4", RejectsScreen), ("1", LiveScreen), ("2", CallsScreen)):
                await pilot.press(key)
                await settle(pilot)
                assert isinstance(app.screen, cls), key
            await pilot.press("question_mark")
            await settle(pilot)
            assert isinstance(app.screen, HelpScreen)
            table = app.screen.query_one("DataTable")
            listed = {(str(table.get_row_at(i)[0]), str(table.get_row_at(i)[2])) for i in range(table.row_count)}
            for title, cls in (("Everywhere", ConsoleApp), ("Live", LiveScreen), ("Calls", CallsScreen),
                               ("Tariffs", TariffsScreen), ("Rejects and imports", RejectsScreen),
                               ("Call detail", CallDetailScreen)):
                for b in _bindings(cls):
                    assert (title, b.description) in listed, (title, b.key)
            await pilot.press("escape")
            assert isinstance(app.screen, CallsScreen)
            theme = app.theme
            await pilot.press("t")
            assert app.theme != theme and {theme, app.theme} == {"textual-dark", "textual-light"}
            await pilot.press("q")
            await until(pilot, lambda: not app.is_running, "quit")

    run(go())


def test_command_palette_opens_a_screen(ws: Path) -> None:
    async def go() -> None:
        app = ConsoleApp(context(ws))
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            titles = [c.title for c in app.get_system_commands(app.screen)]
            assert titles[:4] == ["Live screen (1)", "Calls screen (2)", "Tariffs screen (3)",
                                  "Rejects and imports screen (4)"]
            await pilot.press("ctrl+p")
            await settle(pilot)
            await pilot.press(*"Tariffs screen")
            await pilot.pause(0.3)
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, TariffsScreen), "the Tariffs screen")

    run(go())


def test_monitor_is_the_live_screen_alone(ws: Path) -> None:
    async def go() -> None:
        app = ConsoleApp(context(ws), screens=("live",), start="live")
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert isinstance(app.screen, LiveScreen)
            await pilot.press("2", "3")
            assert isinstance(app.screen, LiveScreen)
            assert [c.title for c in app.get_system_commands(app.screen)][0] == "Live screen (1)"
            await pilot.press("question_mark")
            await settle(pilot)
            table = app.screen.query_one("DataTable")
            screens = {str(table.get_row_at(i)[0]) for i in range(table.row_count)}
            assert screens == {"Everywhere", "Live", "Tables"}

    run(go())


def test_commands_need_a_terminal_and_a_valid_workspace(ws: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--workspace", str(ws), "monitor"])
    assert result.exit_code == 1 and "needs a terminal" in result.output
    result = CliRunner().invoke(main, ["--workspace", str(tmp_path), "ui"])
    assert result.exit_code == 1 and "anatole.toml" in result.output and "Traceback" not in result.output
