"""Snapshots of every screen on the fixed store and a fixed clock (pytest-textual-snapshot). After a deliberate
change of the look, regenerate with `pytest tests/test_tui_snapshots.py --snapshot-update` and review the SVGs."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_tui_support import NOW, FakeDaemon, context, settle, until, workspace_copy
from textual.widgets import DataTable, Input

from engine.money import SCALE
from pbx.protocol import ActiveCall, Alert, Counters, FinishedCall
from tui.app import ConsoleApp


@pytest.fixture
def ws() -> Path:
    return workspace_copy()


def test_calls(ws: Path, snap_compare) -> None:
    assert snap_compare(ConsoleApp(context(ws)), run_before=settle)


def test_calls_filtered_light_large(ws: Path, snap_compare) -> None:
    async def before(pilot) -> None:
        await settle(pilot)
        await pilot.press("slash")
        pilot.app.screen.query_one("#calls-filter", Input).value = "site:paris dir:out min:0.05"
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(ConsoleApp(context(ws), light=True), terminal_size=(120, 36), run_before=before)


def test_calls_bad_filter(ws: Path, snap_compare) -> None:
    async def before(pilot) -> None:
        await settle(pilot)
        await pilot.press("slash")
        pilot.app.screen.query_one("#calls-filter", Input).value = "from:2025-02-30 min:abc"
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(ConsoleApp(context(ws)), run_before=before)


def test_call_detail(ws: Path, snap_compare) -> None:
    async def before(pilot) -> None:
        await settle(pilot)
        await pilot.press("s", "s")  # dearest first
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await until(pilot, lambda: "rated" in str(pilot.app.screen.query_one("#detail-rating").render()), "detail")

    assert snap_compare(ConsoleApp(context(ws)), terminal_size=(100, 40), run_before=before)


def test_tariffs_quote(ws: Path, snap_compare) -> None:
    async def before(pilot) -> None:
        await settle(pilot)
        await pilot.press("n")
        pilot.app.screen.query_one("#quote-input", Input).value = "+33612345678 125 2025-03-14T10:00"
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("escape")

    assert snap_compare(ConsoleApp(context(ws), start="tariffs"), terminal_size=(100, 30), run_before=before)


def test_rejects(ws: Path, snap_compare) -> None:
    assert snap_compare(ConsoleApp(context(ws), start="rejects"), run_before=settle)


def test_help(ws: Path, snap_compare) -> None:
    async def before(pilot) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)

    assert snap_compare(ConsoleApp(context(ws)), run_before=before)


def test_live_without_daemon(ws: Path, snap_compare) -> None:
    async def before(pilot) -> None:
        await until(pilot, lambda: pilot.app.screen.status_text.startswith("no daemon"), "no daemon")
        await settle(pilot)
        table = pilot.app.screen.query_one("#finished", DataTable)  # the newest calls scrolled into view (deferred)
        await until(pilot, lambda: 0 < table.max_scroll_y <= table.scroll_y, "newest in view")  # rows overflow here

    ctx = context(ws, retry_seconds=30)
    assert snap_compare(ConsoleApp(ctx, screens=("live",), start="live"), run_before=before)


def test_live_with_daemon(ws: Path, snap_compare) -> None:
    daemon = FakeDaemon(ws / "anatole.sock")

    async def before(pilot) -> None:
        screen = pilot.app.screen
        await until(pilot, lambda: screen.connected is not None, "connected")
        await settle(pilot)
        daemon.send(
            ActiveCall(key="c1", source="paris-ami", site="paris", start=NOW - 65, state="up", direction="outgoing",
                       extension="2001", number="33612345678", answer=NOW - 60),
            ActiveCall(key="c2", source="paris-ami", site="paris", start=NOW - 5, state="ringing",
                       direction="incoming", extension="2002", caller="33155501234"),
            *(FinishedCall(id=10_000 + i, source="paris-ami", site="paris", start=NOW - 600 + 60 * i, duration=95,
                           billable=90, direction="outgoing", disposition="answered", status="rated",
                           extension="2003", number=f"4420794600{i:02d}", destination="United Kingdom",
                           band="peak", cost=(15 + i) * SCALE // 100, currency="EUR") for i in range(4)),
            Alert(id=7, rule="expensive call", kind="cost", at=NOW - 30, message="2003 called 442079460003: 18 EUR",
                  severity="critical", site="paris", extension="2003"),
            *(Counters(at=NOW - 60 * (5 - k), active=2, calls_last_minute=k * 3 % 7 + 1, calls_today=120 + k,
                       cost_today={"paris": (1234 + k * 40) * SCALE // 100, "lyon": 250 * SCALE // 100},
                       cost_this_hour={"paris": (100 + k * 25) * SCALE // 100}, currency="EUR", alerts_open=1)
              for k in range(6)))
        await until(pilot, lambda: len(screen.alerts) == 1 and screen.counters is not None
                    and screen.counters.calls_today == 125 and len(screen.active) == 2
                    and "10003" in screen.query_one("#finished").rows, "the daemon's messages")
        await settle(pilot)

    try:
        assert snap_compare(ConsoleApp(context(ws), screens=("live",), start="live"), terminal_size=(80, 30),
                            run_before=before)
    finally:
        daemon.close()
