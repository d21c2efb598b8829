"""The Front desk screen (Pilot): rooms with status, guest and running charges, the selected room's folio, the
late-charge list, check-in and check-out by hand, and live updates from the daemon's socket (a call ends, a vacant
room calls out, the PMS link changes state)."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from serve_support import make_workspace
from test_hotel_model import HOTEL, _call
from test_tui_support import NOW, FakeDaemon, context, run, until
from textual.widgets import DataTable, Input, Static

from anatole.config import open_workspace
from hotel.live import HotelHook
from pbx.protocol import Alert, FinishedCall, Hello, SourceState, SourceUpdate
from store import hotel as db
from store import open_store
from store.display import when
from tui.app import ConsoleApp
from tui.frontdesk_screen import ConfirmDialog, FrontDeskScreen


@pytest.fixture
def ws() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="desk"))  # short: Unix socket paths are limited
    make_workspace(root, extra=HOTEL)
    cfg = open_workspace(root).hotel
    open_store(root / "anatole.db").close()
    conn = db.connect(root / "anatole.db")
    db.sync_rooms(conn, [(r.number, r.extension, r.class_of_service) for r in cfg.rooms])
    db.checkin(conn, "214", "880123", "Martin, Alice", NOW - 7200, "manual")
    conn.execute("BEGIN IMMEDIATE")
    HotelHook(cfg, currency="EUR").stored(conn, [_call(1, "2214", NOW - 3600), _call(2, "2214", NOW - 1800,
                                                                                       cost=123_450_000),
                                                 _call(3, "2305", NOW - 600)])
    conn.commit()
    conn.close()
    yield root
    shutil.rmtree(root, ignore_errors=True)


def desk(root: Path) -> ConsoleApp:
    return ConsoleApp(context(root), screens=("frontdesk",), start="frontdesk")


def cells(table: DataTable, key: str) -> list[str]:
    return [str(c) for c in table.get_row(key)]


def test_rooms_folio_late_and_vacant(ws: Path) -> None:
    async def go() -> None:
        app = desk(ws)
        async with app.run_test(size=(140, 40)) as pilot:
            screen = app.screen
            assert isinstance(screen, FrontDeskScreen)
            rooms = screen.query_one("#rooms", DataTable)
            await until(pilot, lambda: rooms.row_count == 2, "two rooms")
            assert cells(rooms, "214") == ["214", "occupied", "Martin, Ali…", "2.92 EUR", "2", "", "2214"]
            assert cells(rooms, "305")[1:5:3] == ["vacant!", "1"]
            folio = screen.query_one("#folio", DataTable)
            await until(pilot, lambda: folio.row_count == 2, "the folio of room 214")
            assert [cells(folio, k)[2:4] for k in ("1", "2")] == [["0.55 EUR", "folio"], ["2.37 EUR", "folio"]]
            assert "charged 2.92 EUR" in str(screen.query_one("#folio-total", Static).render())
            await pilot.press("down")  # room 305: the call it made while vacant
            await until(pilot, lambda: folio.row_count == 1 and "3" in [k.value for k in folio.rows], "305's calls")
            assert cells(folio, "3")[3] == "vacant"
            late = screen.query_one("#late", DataTable)
            assert late.row_count == 0
            await until(pilot, lambda: "2 rooms, 1 occupied · daemon: not running · queue: empty" in str(
                screen.query_one("#desk-status", Static).render()), "the header without a daemon")

    run(go())


def test_checkin_and_checkout_by_hand(ws: Path) -> None:
    async def go() -> None:
        app = desk(ws)
        async with app.run_test(size=(140, 40)) as pilot:
            screen = app.screen
            rooms = screen.query_one("#rooms", DataTable)
            await until(pilot, lambda: rooms.row_count == 2, "rooms")
            await pilot.press("i")  # 214 is occupied: refused, says why
            message = screen.query_one("#desk-message", Static)
            await until(pilot, lambda: "occupied by Martin, Alice" in str(message.render()), "refused")
            await pilot.press("down", "i")
            await until(pilot, lambda: isinstance(app.screen.focused, Input), "the check-in dialog")
            await pilot.press(*"Bruno Keller", "enter", *"4711", "enter")
            await until(pilot, lambda: cells(rooms, "305")[2] == "Bruno Keller", "305 occupied")
            assert cells(rooms, "305")[1] == "occupied"
            await pilot.press("up", "o")
            await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the check-out confirmation")
            detail = str(app.screen.query_one("#confirm-detail", Static).render())
            assert "2 calls charged · total 2.92 EUR" in detail and "every charge is posted" in detail
            await pilot.press("y")
            await until(pilot, lambda: cells(rooms, "214")[1] == "vacant", "214 checked out")
            assert "room 214 checked out: Martin, Alice, 2 calls, total 2.92 EUR" in str(
                screen.query_one("#desk-message", Static).render())
        conn = db.connect(ws / "anatole.db")
        assert db.open_stay(conn, "305")["reservation"] == "4711"
        assert db.open_stay(conn, "214") is None
        conn.close()

    run(go())


def test_live_updates_from_the_daemon(ws: Path) -> None:
    hello = Hello(version=1, pid=4242, started=NOW - 60, workspace=str(ws),
                  sources=[SourceState("pms:fias", "fias", "alive", NOW - 60, peer="127.0.0.1:5010")])
    daemon = FakeDaemon(ws / "anatole.sock", hello)

    async def go() -> None:
        app = desk(ws)
        async with app.run_test(size=(140, 40)) as pilot:
            screen = app.screen
            rooms = screen.query_one("#rooms", DataTable)
            status = screen.query_one("#desk-status", Static)
            await until(pilot, lambda: rooms.row_count == 2, "rooms")
            await until(pilot, lambda: "PMS alive" in str(status.render()), "the PMS link state")
            # the daemon stores a new call from 214 and charges it, then says so
            conn = db.connect(ws / "anatole.db")
            conn.execute("BEGIN IMMEDIATE")
            HotelHook(open_workspace(ws).hotel, currency="EUR").stored(conn, [_call(4, "2214", NOW - 60)])
            conn.commit()
            conn.close()
            daemon.send(FinishedCall(id=4, source="paris-ipo", site="paris", start=NOW - 60, duration=157,
                                     billable=152, direction="outgoing", disposition="answered", status="rated",
                                     extension="2214", number="33155501234", cost=5_070_000, currency="EUR"),
                        Alert(id=9, rule="vacant room", kind="hotel", at=NOW, message="vacant room: room 305 called "
                              "33155501234", severity="critical", site="paris", extension="2305"),
                        SourceUpdate(source=SourceState("pms:fias", "fias", "reconnecting", NOW,
                                                        detail="connection lost")))
            await until(pilot, lambda: cells(rooms, "214")[4] == "3", "the new call on room 214")
            assert cells(rooms, "214")[3] == "3.47 EUR"
            await until(pilot, lambda: "PMS reconnecting (connection lost)" in str(status.render()), "link down")
            assert "vacant room: room 305" in str(screen.query_one("#desk-message", Static).render())

    try:
        run(go())
    finally:
        daemon.close()


def test_front_desk_is_a_console_screen(ws: Path) -> None:
    async def go() -> None:
        app = ConsoleApp(context(ws), start="calls")
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.press("6")
            await until(pilot, lambda: isinstance(app.screen, FrontDeskScreen), "the Front desk screen")

    run(go())


@pytest.fixture
def busy(ws: Path) -> Path:
    """The fixture's hotel after a day: room 305's guest left while a call was on (a late charge), 214's first call
    waits for the PMS (queued) and its second was refused by it."""
    cfg = open_workspace(ws).hotel
    conn = db.connect(ws / "anatole.db")
    db.checkin(conn, "305", "880200", "Keller, Bruno", NOW - 9000, "manual")
    db.checkout(conn, "305", NOW - 3900)
    conn.execute("BEGIN IMMEDIATE")
    zone = next(iter(open_workspace(ws).sites.values())).timezone  # the site's, as the daemon
    HotelHook(cfg, currency="EUR", timezone=zone).stored(conn, [_call(5, "2305", NOW - 4000)])  # ends after check-out
    db.update_charge(conn, 1, status="queued")
    db.update_charge(conn, 2, status="rejected")
    conn.commit()
    conn.close()
    return ws


def shown_width(table: DataTable, columns: int) -> int:
    return sum(c.get_render_width(table) for c in list(table.columns.values())[:columns])


def test_front_desk_at_80x24(busy: Path) -> None:
    async def go() -> None:
        app = desk(busy)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            rooms = screen.query_one("#rooms", DataTable)
            folio = screen.query_one("#folio", DataTable)
            late = screen.query_one("#late", DataTable)
            await until(pilot, lambda: rooms.row_count == 2 and folio.row_count == 2 and late.row_count == 2,
                        "rooms, 214's folio, the late charges")
            # the folio's time, number, charge and state are in view at 80 columns
            assert [str(c.label) for c in list(folio.columns.values())[:4]] == ["time", "number", "charge", "state"]
            assert shown_width(folio, 4) <= folio.scrollable_content_region.width
            assert shown_width(rooms, 4) <= rooms.scrollable_content_region.width  # the room's charges
            assert [cells(folio, k)[2:4] for k in ("1", "2")] == [["0.55 EUR", "queued"], ["2.37 EUR", "REFUSED"]]
            assert cells(folio, "1")[0] == "11:00"  # today, in the hotel's zone (the title names it)
            assert "queued: waits for the PMS" in str(screen.query_one("#folio-total", Static).render())
            assert "France" in str(screen.query_one("#folio-detail", Static).render())
            # the late charges say why, in view
            assert shown_width(late, 3) <= late.scrollable_content_region.width
            whys = {k.value: str(late.get_row(k)[2]) for k in late.rows}
            zone = next(iter(open_workspace(busy).sites.values())).timezone
            assert whys["5"] == f"ended after check-out ({when(NOW - 3900, zone)})"
            assert re.fullmatch(r"ended after check-out \(\d{4}-\d\d-\d\d \d\d:\d\d [A-Z][A-Za-z0-9+-]+\)",
                                whys["5"])  # four-digit year and the zone's abbreviation, as display.when
            assert whys["2"] == "refused by the PMS (no answer code)"
            header = str(screen.query_one("#desk-status", Static).render())
            await until(pilot, lambda: "daemon: not running" in str(screen.query_one("#desk-status", Static)
                                                                     .render()), "the header")
            assert "no daemon" not in header
            title = str(screen.query_one("#folio-title", Static).render())
            assert "Martin, Alice · in 10:00 CET" in title  # checked in at 10:00 Paris time, today
            await pilot.press("o")
            await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the check-out confirmation")
            detail = str(app.screen.query_one("#confirm-detail", Static).render())
            assert "2 calls charged · total 2.92 EUR" in detail
            assert "1 charge not posted to the PMS yet" in detail and "1 charge refused by the PMS" in detail
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, FrontDeskScreen), "back at the desk")
            assert cells(rooms, "214")[1] == "occupied"

    run(go())


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_front_desk_snapshot(busy: Path, size: tuple[int, int], snap_compare) -> None:
    async def before(pilot) -> None:
        screen = pilot.app.screen
        await until(pilot, lambda: screen.query_one("#late", DataTable).row_count == 2
                    and screen.query_one("#folio", DataTable).row_count == 2
                    and "not running" in str(screen.query_one("#desk-status", Static).render()), "the desk")
        for _ in range(3):
            await pilot.pause()  # the columns' widths follow their new content on the next refresh

    # a fixed folder name: the workspace path is not on screen, the snapshot does not depend on it
    assert snap_compare(desk(busy), terminal_size=size, run_before=before)


def test_desk_lists_sort_and_filter_by_a_cell(busy: Path) -> None:
    """The desk's lists have the list keys: `>` sorts the late charges by the highlighted column (charges as
    amounts), `f` keeps the rows with the cell's value, `F` clears; the rooms filter by status the same way and the
    footer keeps check-in and check-out."""
    async def go() -> None:
        app = desk(busy)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            late = screen.query_one("#late", DataTable)
            rooms = screen.query_one("#rooms", DataTable)
            await until(pilot, lambda: late.row_count == 2 and rooms.row_count == 2, "the rooms, the late charges")
            await pilot.press("l")  # the late charges
            late.move_cursor(row=0, column=1)  # charge
            await pilot.press("greater_than_sign")
            await pilot.pause()
            assert [str(late.get_row_at(i)[1]) for i in range(2)] == ["2.37 EUR", "0.55 EUR"]
            await pilot.press("less_than_sign")
            await pilot.pause()
            assert [str(late.get_row_at(i)[1]) for i in range(2)] == ["0.55 EUR", "2.37 EUR"]
            late.move_cursor(row=0, column=0)  # room 305
            await pilot.press("f")
            await pilot.pause()
            assert late.row_count == 1 and str(late.get_row_at(0)[0]) == "305"
            await pilot.press("F")
            await pilot.pause()
            assert late.row_count == 2
            await pilot.press("m")  # the rooms
            assert rooms.has_focus
            rooms.move_cursor(row=0, column=1)  # 214's status: occupied
            await pilot.press("f")
            await pilot.pause()
            assert rooms.row_count == 1 and str(rooms.get_row_at(0)[0]) == "214"
            await until(pilot, lambda: rooms.row_count == 1, "the filter kept over the reload")

    run(go())


def test_folio_times_are_short_on_other_days() -> None:
    """A stay of several days: a folio line of another day shows the day without its year (the line under the
    folio has it all), as the language writes a day, so that the charge stays in view at 80 columns."""
    from store import display
    from tui.frontdesk_screen import _hhmm

    zone = "Europe/Paris"
    assert _hhmm(NOW - 3600, zone, NOW) == "11:00"  # NOW: 2025-03-14 12:00 in Paris
    assert _hhmm(NOW - 86400 - 3600, zone, NOW) == "03-13 11:00"
    with display.in_locale("fr_FR"):
        assert _hhmm(NOW - 86400 - 3600, zone, NOW) == "13/03 11:00"
