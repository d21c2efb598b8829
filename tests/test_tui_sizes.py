"""Every console screen at 80×24 (the smallest terminal an operator uses) and at 120×40, on fixed data and a fixed
clock (pytest-textual-snapshot). The workspaces are built once for the module; the screens only read them.
After a deliberate change of the look: `pytest tests/test_tui_sizes.py --snapshot-update`, then read the SVGs'
text to check that no amount lost its currency and that no total, footer or column that matters is cut."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_tui_inventory import inventory_workspace
from test_tui_invoices import invoice_workspace
from test_tui_mobile import mobile_workspace
from test_tui_support import NOW, FakeDaemon, context, settle, until, workspace_copy
from textual.widgets import DataTable

from anatole.cli_ui import invoice_actions
from anatole.config import open_workspace
from anatole.console_actions import inventory_actions, report_actions
from engine.money import SCALE
from pbx.protocol import Alert, Counters, FinishedCall
from store import display
from tui.app import ConsoleApp

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


@pytest.fixture(scope="module")
def base() -> Path:
    return workspace_copy()


@pytest.fixture(scope="module")
def invoices_ws() -> Path:
    return invoice_workspace()


@pytest.fixture(scope="module")
def inventory_ws() -> Path:
    return inventory_workspace()


@pytest.fixture(scope="module")
def mobile_ws() -> Path:
    return mobile_workspace()


@pytest.mark.parametrize("size", SIZES)
def test_live(size: tuple[int, int], snap_compare) -> None:
    ws = workspace_copy()  # its own: the daemon's socket lives in the workspace
    daemon = FakeDaemon(ws / "anatole.sock")

    async def before(pilot) -> None:
        screen = pilot.app.screen
        await until(pilot, lambda: screen.connected is not None, "connected")
        await settle(pilot)
        daemon.send(
            *(FinishedCall(id=10_000 + i, source="paris-ami", site="paris", start=NOW - 600 + 60 * i, duration=95,
                           billable=90, direction="outgoing", disposition="answered", status="rated",
                           extension="2003", number=f"4420794600{i:02d}", destination="United Kingdom",
                           band="peak", cost=(1500 + i * 1234567) * SCALE // 10000, currency="EUR")
              for i in range(4)),
            *(Alert(id=7 + k, rule="expensive call", kind="cost", at=NOW - 30 * k,
                    message=f"2003 called 44207946000{k}: {18 + k}.00 EUR over the 10.00 EUR limit",
                    severity="critical" if k % 2 else "warning", site="paris", extension="2003")
              for k in range(5)),
            Counters(at=NOW - 60, active=0, calls_last_minute=3, calls_today=125,
                     cost_today={"paris": 123456789 * SCALE // 100, "lyon": 250 * SCALE // 100},
                     cost_this_hour={"paris": 1234 * SCALE // 100}, currency="EUR", alerts_open=5))
        await until(pilot, lambda: len(screen.alerts) == 5 and screen.counters is not None
                    and "10003" in screen.query_one("#finished").rows, "the daemon's messages")
        await settle(pilot)

    try:
        assert snap_compare(ConsoleApp(context(ws), screens=("live",), start="live"), terminal_size=size,
                            run_before=before)
    finally:
        daemon.close()


@pytest.mark.parametrize("size", SIZES)
def test_invoices(invoices_ws: Path, size: tuple[int, int], snap_compare) -> None:
    ctx = context(invoices_ws, invoices=invoice_actions(invoices_ws / "anatole.db", "Europe/Paris"))
    assert snap_compare(ConsoleApp(ctx, start="invoices"), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_invoice_detail(invoices_ws: Path, size: tuple[int, int], snap_compare) -> None:
    async def before(pilot) -> None:
        await settle(pilot)
        pilot.app.screen.query_one("#invoices", DataTable).move_cursor(row=1)  # the invalid one: a finding
        await pilot.press("enter")
        await until(pilot, lambda: getattr(pilot.app.screen, "detail", None), "the invoice's detail")
        await settle(pilot)
        await pilot.press("f")  # its checks and findings
        await settle(pilot)

    ctx = context(invoices_ws, invoices=invoice_actions(invoices_ws / "anatole.db", "Europe/Paris"))
    assert snap_compare(ConsoleApp(ctx, start="invoices"), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_inventory(inventory_ws: Path, size: tuple[int, int], snap_compare) -> None:
    async def before(pilot) -> None:
        await settle(pilot)
        for _ in range(5):  # contracts: the money column
            await pilot.press("right_square_bracket")
            await settle(pilot)

    ctx = context(inventory_ws, inventory=inventory_actions(inventory_ws / "anatole.db"))
    assert snap_compare(ConsoleApp(ctx, start="inventory"), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_mobile(mobile_ws: Path, size: tuple[int, int], snap_compare) -> None:
    assert snap_compare(ConsoleApp(context(mobile_ws), start="mobile"), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_reports(base: Path, size: tuple[int, int], snap_compare) -> None:
    async def before(pilot) -> None:
        screen = pilot.app.screen
        await until(pilot, lambda: screen.data is not None, "the first report")
        screen.query_one("#report-table", DataTable).focus()
        await settle(pilot)

    ctx = context(base, reports=report_actions(open_workspace(base)))
    assert snap_compare(ConsoleApp(ctx, start="reports"), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_tariffs(base: Path, size: tuple[int, int], snap_compare) -> None:
    async def before(pilot) -> None:
        await settle(pilot)
        await until(pilot, lambda: "Sample carrier FR" in str(pilot.app.screen.query_one("#tariff-info").render()),
                    "the tariff's summary")

    assert snap_compare(ConsoleApp(context(base), start="tariffs"), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_help(base: Path, size: tuple[int, int], snap_compare) -> None:
    async def before(pilot) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)

    # the screens of this pass (Calls and Rejects have their own help snapshot in test_tui_snapshots.py)
    app = ConsoleApp(context(base), screens=("live", "tariffs", "invoices", "frontdesk", "inventory", "reports",
                                             "mobile"), start="tariffs")
    assert snap_compare(app, terminal_size=size, run_before=before)


# --- [workspace] locale: grouping and decimal marks on screen, never in exports -------------------------------


@pytest.fixture
def french(tmp_path: Path):
    ws = workspace_copy()
    config = (ws / "anatole.toml").read_text()
    (ws / "anatole.toml").write_text(config.replace('currency = "EUR"', 'currency = "EUR"\nlocale = "fr_FR"', 1))
    yield ws
    display.set_locale(None)  # the module-wide setting: back to the default for the tests that follow


def test_locale_changes_the_marks_on_screen_not_the_exact_forms(french: Path) -> None:
    ws = open_workspace(french)
    assert ws.locale == "fr_FR"
    value = 123_456_789 * SCALE // 100
    # CLDR fr: narrow no-break space, decimal comma, the currency's French symbol after a no-break space
    assert display.money(value, "EUR") == "1\u202f234\u202f567,89\xa0€"
    assert display.totals({"EUR": value, "JPY": 1500 * SCALE}) == "1\u202f234\u202f567,89\xa0€ · 1\u202f500\xa0JPY"
    assert display.plain(value) == "1234567.89"  # exports and JSON keep the machine form
    open_workspace(workspace_copy())  # a workspace without the setting: English marks again
    assert display.money(value, "EUR") == "1,234,567.89 EUR"


def test_locale_on_the_console_not_in_json(french: Path) -> None:
    from click.testing import CliRunner
    from test_tui_support import run

    from anatole.cli import main

    async def go() -> None:
        open_workspace(french)
        app = ConsoleApp(context(french), screens=("live",), start="live")
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: "cost today" in str(app.screen.query_one("#live-counters").render()),
                        "the counters from the store")
            costs = str(app.screen.query_one("#live-counters").render()).split("cost today", 1)[1]
            assert re.search(r"\d,\d\d\s€", costs) and not re.search(r"\d\.\d\d EUR", costs), costs

    run(go())
    result = CliRunner().invoke(main, ["--workspace", str(french), "--json", "calls", "--limit", "1"])
    assert result.exit_code == 0, result.output
    assert '"cost": "0.0880"' in result.output  # JSON keeps the machine form whatever the locale


@pytest.mark.parametrize("value", ["xx_YY", "english", ""])
def test_an_unknown_locale_is_refused_by_name(tmp_path: Path, value: str) -> None:
    from anatole.config import ConfigError

    ws = workspace_copy()
    config = (ws / "anatole.toml").read_text()
    (ws / "anatole.toml").write_text(config.replace('currency = "EUR"', f'currency = "EUR"\nlocale = "{value}"', 1))
    with pytest.raises(ConfigError) as err:
        open_workspace(ws)
    assert "[workspace]" in str(err.value) and "locale" in str(err.value) and "Babel" in str(err.value)


def test_from_text_shows_an_exact_summary_string_in_its_currency() -> None:
    """`anatole demo`'s printed summary: JSON strings at the tariff's decimals, shown at the currency's."""
    assert display.from_text("1696.9337", "EUR") == "1,696.93 EUR"
    assert display.from_text("0.125", "EUR") == "0.12 EUR"  # half-even
    assert display.from_text("1500.4", "JPY", code=False) == "1,500"
    assert display.from_text("14.7095", "USD", exact=True) == "14.7095 USD"
    assert display.from_text("n/a", "EUR") == "n/a" and display.from_text("", "EUR") == ""
