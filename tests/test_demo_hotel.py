"""`anatole demo --hotel`: a hotel workspace a front-desk user can try (rooms, guests, a day of charged calls with
late charges and calls from a vacant room, a [pms] on 127.0.0.1), and `anatole hotel simulate-pms` answering the
daemon's FIAS link."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import trio
from click.testing import CliRunner
from test_tui_support import run, until
from textual.widgets import DataTable, Static

from anatole import pmssim
from anatole.cli import main
from anatole.cli_ui import console_context
from anatole.config import open_workspace
from anatole.demo import DemoError
from anatole.demo.hotel import run_hotel_demo
from pbx.fias import Deframer, build, frame, parse_record
from store import hotel as db
from tui.app import ConsoleApp
from tui.frontdesk_screen import FrontDeskScreen

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=ZoneInfo("Europe/Paris")).timestamp()


@pytest.fixture(scope="module")
def hotel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("hotel") / "ws"
    return root, run_hotel_demo(root, seed=7, now=NOW)


def test_the_hotel_workspace(hotel: tuple[Path, dict]) -> None:
    root, summary = hotel
    ws = open_workspace(root)
    assert ws.hotel is not None and len(ws.hotel.rooms) == 12 and ws.hotel.site == "hotel"
    assert ws.hotel.pms is not None and ws.hotel.pms.connect == "127.0.0.1:5010"
    assert summary["day"] == "2026-12-05" and summary["occupied"] == 6
    assert summary["calls"]["rejected"] == 0 and summary["calls"]["calls"] == summary["calls"]["read"]
    conn = db.connect(ws.db_path)
    try:
        late = db.late_charges(conn)
        rooms = {r["room"]: r for r in db.rooms_overview(conn)}
    finally:
        conn.close()
    assert {c["room"] for c in late} == {"103", "105"}  # on the phone at check-out
    assert all(c["reason"].startswith("ended after check-out") for c in late)
    assert rooms["206"]["vacant_calls"] == 2 and summary["vacant_room_calls"] == 2
    assert summary["guest_calls"] == sum(r["calls"] or 0 for r in rooms.values()) > 10
    assert all(r["unposted"] for r in rooms.values() if r["stay_id"] is not None)  # waiting for the PMS


def test_demo_hotel_command_and_a_plain_folder_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--hotel", "--workspace", str(tmp_path / "h"), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["rooms"] == 12 and out["late_charges"] >= 1 and out["pms"] == "127.0.0.1:5010"
    text = CliRunner().invoke(main, ["demo", "--hotel", "-w", str(tmp_path / "h")])  # a demo folder: again
    assert text.exit_code == 0 and "hotel simulate-pms" in text.output and "ui" in text.output
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(DemoError, match="not empty"):
        run_hotel_demo(tmp_path / "mine")


def test_front_desk_on_the_demo_at_80x24(hotel: tuple[Path, dict]) -> None:
    root, _ = hotel
    ctx = dataclasses.replace(console_context(open_workspace(root)), clock=lambda: NOW, retry_seconds=0.2,
                              flash=False)

    async def go() -> None:
        app = ConsoleApp(ctx, screens=("frontdesk",), start="frontdesk")
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            assert isinstance(screen, FrontDeskScreen)
            late = screen.query_one("#late", DataTable)
            await until(pilot, lambda: late.row_count == 2, "the demo's late charges")
            assert all(str(late.get_row(k)[2]).startswith("ended after check-out") for k in late.rows)
            await until(pilot, lambda: "Martin, Alice · in 2026-12-04 15:00" in str(
                screen.query_one("#folio-title", Static).render()), "room 101's folio, check-in in Paris time")
            assert "daemon: not running" in str(screen.query_one("#desk-status", Static).render())

    run(go())


@pytest.mark.trio
async def test_simulated_pms_answers_postings_once() -> None:
    lines: list[str] = []
    sim = pmssim.PmsSimulator(say=lines.append)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(lambda task_status: sim.serve(0, task_status=task_status))
            stream = await trio.open_tcp_stream("127.0.0.1", sim.port)
            deframer = Deframer()

            async def receive(kind: str) -> dict:
                while True:
                    for item in deframer.feed(await stream.receive_some(4096)):
                        rec = parse_record(item)
                        if rec.kind == kind:
                            return rec.fields

            assert (await receive("LS"))
            await stream.send_all(frame(build("LA", [("DA", "261206"), ("TI", "120000")])))
            await receive("LA")
            posting = build("PS", [("RN", "101"), ("PT", "C"), ("TA", "117"), ("P#", "25")])
            for _ in range(2):  # sent again (no answer seen): answered, posted once
                await stream.send_all(frame(posting))
                assert (await receive("PA"))["AS"] == "OK"
            await stream.aclose()
            nursery.cancel_scope.cancel()
    assert list(sim.posted) == ["25"] and sim.resent == 1
    assert any(line.startswith("PS RN=101") for line in lines)


def test_simulator_listens_on_loopback_only() -> None:
    async def go() -> None:
        sim = pmssim.PmsSimulator()
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(lambda task_status: sim.serve(0, task_status=task_status))
            assert all(lst.socket.getsockname()[0] == "127.0.0.1" for lst in listeners)
            nursery.cancel_scope.cancel()

    trio.run(go)


def test_simulate_pms_is_bounded(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["hotel", "simulate-pms", "--port", "0", "--seconds", "0.2",
                                       "-w", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "listening on 127.0.0.1:" in result.output and "posted 0 charge(s)" in result.output


def test_simulate_pms_on_a_port_in_use_is_a_message(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["hotel", "simulate-pms", "--port", str(port), "--seconds", "0.2",
                                           "-w", str(tmp_path)])
    assert result.exit_code == 1, (result.output, result.exception)
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.output
