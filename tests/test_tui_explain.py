"""The console's imports view explains the highlighted import (Pilot, real SQLite file): the same explanation as
`anatole imports explain ID`, following the cursor, and a message instead of a traceback when the store fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from test_tui_support import context, run, settle, until, workspace_copy
from textual.widgets import DataTable, Static

from anatole.cli import main
from tui.app import ConsoleApp
from tui.data import StoreError
from tui.rejects_screen import RejectsScreen


@pytest.fixture(scope="module")
def ws() -> Path:
    return workspace_copy()


def _panel(app: ConsoleApp) -> str:
    return str(app.screen.query_one("#import-explain", Static).render())


def test_the_highlighted_import_is_explained(ws: Path) -> None:
    cli = CliRunner().invoke(main, ["--workspace", str(ws), "imports", "explain", "1"])
    assert cli.exit_code == 0, cli.output
    lines = [line.strip() for line in cli.output.splitlines()[1:]]

    async def go() -> None:
        app = ConsoleApp(context(ws), start="rejects")
        async with app.run_test(size=(120, 50)) as pilot:
            await settle(pilot)
            assert isinstance(app.screen, RejectsScreen)
            await until(pilot, lambda: "Import 2:" in _panel(app), "the newest import explained")
            text = _panel(app)
            assert "lyon.txt" in text and "extension: 20 of 20 calls (100 %)" in text
            assert "! 5 % rejected (1 of 21 records" in text
            await pilot.press("i", "down")  # the imports table, then the older import (paris)
            await until(pilot, lambda: "Import 1:" in _panel(app), "the highlighted import explained")
            shown = [line.strip() for line in _panel(app).splitlines()[1:]]
            assert shown == lines  # the same lines as `anatole imports explain 1`

    run(go())


def test_a_store_error_is_shown_not_raised(ws: Path) -> None:
    async def go() -> None:
        app = ConsoleApp(context(ws), start="rejects")
        async with app.run_test(size=(120, 50)) as pilot:
            await settle(pilot)

            def broken(import_id: int) -> None:
                raise StoreError("the database is locked by another program: try again in a moment")

            app.reader.explain = broken  # type: ignore[method-assign]
            app.screen.query_one("#imports", DataTable).focus()
            await pilot.press("down")
            await until(pilot, lambda: "locked" in _panel(app), "the error shown")
            assert app.screen.query_one("#import-explain", Static).has_class("error")

    run(go())
