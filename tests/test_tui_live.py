"""Live screen (`anatole monitor`) against a fake daemon on a real Unix socket: rows keyed and updated in place,
alerts acknowledged over the socket, pause/resume, filters, and life without a daemon (history, retries)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_tui_support import NOW, FakeDaemon, context, run, settle, until, workspace_copy
from textual.widgets import DataTable, Input

from engine.money import SCALE
from pbx.protocol import (
    Acknowledge,
    ActiveCall,
    Alert,
    CallGone,
    Counters,
    FinishedCall,
    Hello,
    SourceState,
    SourceUpdate,
)
from tui.app import ConsoleApp
from tui.live_screen import LiveScreen


def finished(i: int, site: str = "paris", cost: int = 12 * SCALE // 100, key: str = "") -> FinishedCall:
    return FinishedCall(id=10_000 + i, source=f"{site}-ami", site=site, start=NOW - 300 + i, duration=95,
                        billable=90, direction="outgoing", disposition="answered", status="rated",
                        extension="2001" if site == "paris" else "4002", number=f"3361234{i:04d}",
                        destination="France Mobile", band="peak", cost=cost, currency="EUR", key=key)


@pytest.fixture
def ws() -> Path:
    return workspace_copy()


def monitor(ws: Path) -> ConsoleApp:
    return ConsoleApp(context(ws), screens=("live",), start="live")


def test_active_calls_alerts_and_acknowledge(ws: Path) -> None:
    daemon = FakeDaemon(ws / "anatole.sock")

    async def go() -> None:
        app = monitor(ws)
        async with app.run_test(size=(100, 40)) as pilot:
            screen = app.screen
            assert isinstance(screen, LiveScreen)
            await until(pilot, lambda: screen.connected is not None, "connected")
            assert "connected to the daemon (pid 4242" in str(screen.query_one("#live-status").render())
            await until(pilot, lambda: "● paris-ami up · ● paris-ipo up" in str(
                screen.query_one("#live-sources").render()), "each source by name")
            active = screen.query_one("#active", DataTable)
            a1 = ActiveCall(key="c1", source="paris-ami", site="paris", start=NOW - 65, state="ringing",
                            direction="outgoing", extension="2001", number="33612345678")
            a2 = ActiveCall(key="c2", source="paris-ami", site="paris", start=NOW - 5, state="up",
                            direction="incoming", extension="2002", caller="33155501234")
            daemon.send(a1, a2)
            await until(pilot, lambda: active.row_count == 2, "two calls in progress")
            assert [str(c) for c in active.get_row("c1")] == ["11:58:55 CET", "paris", "2001", "out", "33612345678",
                                                              "ringing", "1:05"]
            updates: list[tuple] = []
            original = active.update_cell
            active.update_cell = lambda row, col, value, **kw: (updates.append((row, col, str(value))),  # type: ignore
                                                                 original(row, col, value, **kw))
            daemon.send(ActiveCall(**{**{f: getattr(a1, f) for f in a1.__struct_fields__}, "state": "up",
                                      "answer": NOW - 60}))
            await until(pilot, lambda: updates, "an update")
            assert updates == [("c1", "state", "up")]  # only the cell that changed, in the same row
            assert active.row_count == 2
            daemon.send(CallGone(key="c2"), finished(1, key="c1"))
            await until(pilot, lambda: active.row_count == 0, "both calls ended")
            table = screen.query_one("#finished", DataTable)
            await until(pilot, lambda: "10001" in table.rows, "the finished call")
            assert [str(c) for c in table.get_row("10001")][5:7] == ["1:30", "0.12 EUR"]

            daemon.send(Alert(id=7, rule="expensive call", kind="cost", at=NOW - 30, message="2001 → 0.12 EUR",
                              severity="critical", site="paris", extension="2001"),
                        Counters(at=NOW, active=0, calls_last_minute=4, calls_today=120,
                                 cost_today={"paris": 1234 * SCALE // 100}, cost_this_hour={"paris": 3 * SCALE},
                                 currency="EUR", alerts_open=1,
                                 costs_today={"paris": {"EUR": 1234 * SCALE // 100, "USD": 98_067_000},
                                              "tokyo": {"JPY": 1500 * SCALE}},
                                 costs_this_hour={"paris": {"EUR": 3 * SCALE}}))
            alerts = screen.query_one("#alerts", DataTable)
            await until(pilot, lambda: alerts.row_count == 1, "the alert")
            assert str(alerts.get_cell("7", "state")) == "OPEN"
            # each currency on its own, with its own decimals (and every significant one): never one sum
            assert "cost today paris 12.34 EUR, 0.98 USD; tokyo 1,500 JPY · this hour paris 3.00 EUR" in str(
                screen.query_one("#live-counters").render())
            assert screen.cost_hour[-1] == 3 * SCALE  # the sparkline follows the workspace's currency
            await pilot.press("a")
            await until(pilot, lambda: str(alerts.get_cell("7", "state")) == "ack tester", "the acknowledgement")
            assert Acknowledge(alert=7, by="tester") in daemon.received
            await pilot.press("a")  # nothing open any more: a message, nothing sent
            await settle(pilot)
            assert daemon.received.count(Acknowledge(alert=7, by="tester")) == 1
            daemon.send(SourceUpdate(SourceState("paris-ami", "asterisk-ami", "reconnecting", NOW, detail="timeout")))
            sources = screen.query_one("#live-sources")
            await until(pilot, lambda: "○ paris-ami reconnecting (timeout)" in str(sources.render()),
                        "the source's new state, by name")
            assert "● paris-ipo up" in str(sources.render())

    try:
        run(go())
    finally:
        daemon.close()


def test_pause_resume_and_filter(ws: Path) -> None:
    daemon = FakeDaemon(ws / "anatole.sock")

    async def go() -> None:
        app = monitor(ws)
        async with app.run_test(size=(100, 40)) as pilot:
            screen = app.screen
            await until(pilot, lambda: screen.connected is not None, "connected")
            await settle(pilot)
            table = screen.query_one("#finished", DataTable)
            history = table.row_count
            assert history == 60  # the store's calls, before any live one
            await pilot.press("p")
            daemon.send(*(finished(i) for i in range(3)))
            await until(pilot, lambda: screen.held_count == 3, "three calls held")
            assert table.row_count == history and "PAUSED (3 new)" in str(screen.query_one("#live-status").render())
            await pilot.press("p")
            await settle(pilot)
            assert table.row_count == history + 3 and "PAUSED" not in str(screen.query_one("#live-status").render())
            daemon.send(finished(10, site="lyon"))
            await until(pilot, lambda: "10010" in table.rows, "the lyon call")
            await pilot.press("slash")
            screen.query_one("#live-filter", Input).value = "site:lyon dest:mobile"
            await pilot.press("enter")
            await settle(pilot)
            sites = {str(table.get_row_at(i)[1]) for i in range(table.row_count)}
            assert sites == {"lyon"} and "10010" in table.rows and "10001" not in table.rows
            screen.query_one("#live-filter", Input).value = "dir:sideways"
            await pilot.press("slash", "enter")
            await settle(pilot)
            assert "dir:sideways: use in, out" in str(screen.query_one("#live-status").render())

    try:
        run(go())
    finally:
        daemon.close()


def test_without_a_daemon_then_it_starts(ws: Path) -> None:
    holder: list[FakeDaemon] = []

    async def go() -> None:
        app = monitor(ws)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await until(pilot, lambda: screen.status_text.startswith("no daemon running"), "no daemon")
            await settle(pilot)
            status = str(screen.query_one("#live-status").render())
            assert "no daemon running (no socket) at anatole.sock" in status and "retrying every 0.2 s" in status
            assert screen.query_one("#finished", DataTable).row_count == 60  # history from the store
            holder.append(FakeDaemon(ws / "anatole.sock"))
            await until(pilot, lambda: screen.connected is not None, "connected after a retry")
            holder[0].close()  # the daemon goes away: the screen says so and keeps trying
            await until(pilot, lambda: screen.connected is None, "disconnected")
            assert "closed the connection" in screen.status_text or "no daemon" in screen.status_text

    try:
        run(go())
    finally:
        for d in holder:
            d.close()


def alert(i: int, at: int, message: str = "", ack: str = "") -> Alert:
    return Alert(id=i, rule="expensive call", kind="cost", at=at, severity="warning", site="paris", extension="2001",
                 message=message or f"alert {i}", acknowledged_by=ack, acknowledged_at=NOW if ack else 0)


def test_alerts_pane_open_first_newest_first_full_message_and_maximise(ws: Path) -> None:
    daemon = FakeDaemon(ws / "anatole.sock")
    long = "2001 called 447700900123 for 3,600 s: 182.40 EUR, above the 50.00 EUR limit of the expensive-call rule " \
           "for site paris; acknowledged alerts stay listed below the open ones"

    async def go() -> None:
        app = monitor(ws)
        async with app.run_test(size=(100, 40)) as pilot:
            screen = app.screen
            await until(pilot, lambda: screen.connected is not None, "connected")
            daemon.send(alert(1, NOW - 500), alert(2, NOW - 100, ack="lea"), alert(3, NOW - 300, message=long),
                        alert(4, NOW - 50))
            alerts = screen.query_one("#alerts", DataTable)
            await until(pilot, lambda: alerts.row_count == 4, "four alerts")
            order = [alerts.coordinate_to_cell_key((i, 0)).row_key.value for i in range(4)]
            assert order == ["4", "3", "1", "2"]  # open ones newest first, then the acknowledged one
            assert [str(alerts.get_cell(k, "state")) for k in order] == ["OPEN", "OPEN", "OPEN", "ack lea"]
            assert list(alerts.columns)[:3] == [alerts.columns[k].key for k in ("time", "sev", "state")]
            alerts.focus()
            alerts.move_cursor(row=0)
            await pilot.press("down")  # the long one: its whole message in the detail line
            await settle(pilot)
            detail = str(screen.query_one("#alert-detail").render())
            assert long in detail.replace("\n", " ") or long in detail
            assert "#3 warning · OPEN" in detail and "CET" in detail and "min ago" in detail
            daemon.send(alert(5, NOW - 10))  # a new one goes to the top; the cursor stays on #3
            await until(pilot, lambda: alerts.row_count == 5, "a fifth alert")
            assert alerts.coordinate_to_cell_key((0, 0)).row_key.value == "5"
            assert screen._highlighted_alert().id == 3
            finished_table = screen.query_one("#finished", DataTable)
            assert finished_table.display and alerts.size.height <= 6
            await pilot.press("z")
            await settle(pilot)
            assert screen.has_class("alerts-max") and not finished_table.display
            assert alerts.size.height > 6
            await pilot.press("z")
            await settle(pilot)
            assert not screen.has_class("alerts-max") and finished_table.display

    try:
        run(go())
    finally:
        daemon.close()


def test_stale_marker_when_the_daemon_stops_and_rejects_counter(ws: Path) -> None:
    daemon = FakeDaemon(ws / "anatole.sock")
    daemon.rejects = 3

    async def go() -> None:
        app = monitor(ws)
        async with app.run_test(size=(100, 40)) as pilot:
            screen = app.screen
            await until(pilot, lambda: screen.connected is not None, "connected")
            daemon.send(Counters(at=NOW, active=0, calls_last_minute=2, calls_today=40, currency="EUR",
                                 costs_today={"paris": {"EUR": 1_234_567 * SCALE // 100}}))
            counters = screen.query_one("#live-counters")
            await until(pilot, lambda: "rejects 3" in str(counters.render())
                        and "cost today" in str(counters.render()), "rejects and counters")  # either comes first
            assert "cost today paris 12,345.67 EUR" in str(counters.render())
            assert "FROZEN" not in str(counters.render())
            daemon.close()  # the daemon stops
            await until(pilot, lambda: screen.connected is None, "disconnected")
            await settle(pilot)
            status = str(screen.query_one("#live-status").render())
            assert "daemon gone since 12:00 CET" in status and "figures frozen" in status
            assert "FROZEN at" in str(counters.render()) or "daemon gone — from the store" in str(counters.render())

    run(go())


def test_smdr_sources_explain_the_empty_in_progress_table(ws: Path) -> None:
    hello = Hello(version=1, pid=4242, started=NOW - 3600, workspace="ws",
                  sources=[SourceState("paris-ipo", "avaya-ipo", "listening", NOW - 3600),
                           SourceState("lyon-smdr", "panasonic", "down", NOW - 120, detail="refused")])
    daemon = FakeDaemon(ws / "anatole.sock", hello=hello)

    async def go() -> None:
        app = monitor(ws)
        async with app.run_test(size=(100, 40)) as pilot:
            screen = app.screen
            await until(pilot, lambda: screen.connected is not None, "connected")
            await settle(pilot)
            note = screen.query_one("#active-note")
            assert note.display and "report calls when they end" in str(note.render())
            assert not screen.query_one("#active", DataTable).display
            sources = str(screen.query_one("#live-sources").render())
            assert "○ lyon-smdr down (refused) since 11:58 CET" in sources and "● paris-ipo up" in sources

    try:
        run(go())
    finally:
        daemon.close()


def test_without_a_daemon_counters_come_from_the_store(ws: Path) -> None:
    async def go() -> None:
        app = monitor(ws)
        async with app.run_test(size=(100, 40)) as pilot:
            screen = app.screen
            await until(pilot, lambda: screen.store_counters is not None, "the store's figures")
            await settle(pilot)
            text = str(screen.query_one("#live-counters").render())
            assert "no daemon:" in text and "(from the store)" in text

    run(go())
