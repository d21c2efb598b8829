"""The whole hotel path against the simulated PMS (tests/fias_pms.py), on real TCP sockets on 127.0.0.1: check-in
over FIAS, a guest call ends on a simulated PBX (IP Office SMDR), the posting reaches the PMS with the right amount;
the link down, ended (LE) or dropped in the middle of a posting; NG, RY and silent PMS answers; bad frames; room
moves; a daemon restart. Each posting arrives exactly once."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import trio
from fias_pms import SimulatedPms
from serve_support import Client, daemon_for, hotel_config, make_workspace, running, send_lines, settle

from engine.money import parse_money
from pbx.daemon import Daemon
from pbx.fias import FiasLink, frame
from pbx.protocol import Alert
from store import hotel as db

pytestmark = pytest.mark.trio
PARIS = ZoneInfo("Europe/Paris")
SHIFT = 3600  # the link's clock runs an hour behind: stays begin before the calls the test makes "now"

HOTEL = hotel_config(minimum="0.60") + """
[pms]
protocol = "fias"
connect = "127.0.0.1:{port}"
lrc = {lrc}
timeout = {timeout}
keepalive = 30
start_wait = 0.5
retry = 0
"""


def guest_line(n: int, ext: str, *, number: str = "0155501234", seconds: int = 152) -> str:
    """An outgoing IP Office record of a call that ended a minute ago (Call ID 3000000 + n)."""
    start = dt.datetime.now(PARIS).replace(microsecond=0) - dt.timedelta(seconds=seconds + 60 + n)
    h, rest = divmod(seconds, 3600)
    return (f"{start:%Y/%m/%d %H:%M:%S},{h:02d}:{rest // 60:02d}:{rest % 60:02d},3,{ext},O,{number},9{number},,0,"
            f"{3000000 + n},0,E{ext},Room {ext},T9001,Line 1.3,0,0,,,,,,,,,,,,,,10.1.20.5,3301,10.1.20.5,3302")


def hotel_daemon(root: Path, **options: Any) -> tuple[Daemon, FiasLink]:
    daemon = daemon_for(root, **options)
    link = next(e for e in daemon.config.extensions if isinstance(e, FiasLink))
    link.backoff = (0.05, 0.2)
    link.clock = lambda: time.time() - SHIFT
    return daemon, link


def workspace(tmp_path: Path, port: int, *, lrc: bool = False, timeout: float = 5, keepalive: float = 30) -> Path:
    extra = HOTEL.format(port=port, lrc=str(lrc).lower(), timeout=timeout)
    return make_workspace(tmp_path, extra=extra.replace("keepalive = 30", f"keepalive = {keepalive:g}"))


@asynccontextmanager
async def hotel_link(tmp_path: Path, pms: SimulatedPms, *, limit: float = 20, **settings: Any
                     ) -> AsyncIterator[tuple[Path, Daemon, FiasLink, trio.Nursery]]:
    """The setup every test here shares: `pms` serving on 127.0.0.1, the hotel workspace ([pms] `settings`: lrc,
    timeout, keepalive), the daemon running and the link up (the PMS has seen LD..LA); yields (workspace, daemon,
    link, the nursery the PMS runs in, for more tasks). All of it stops when the block ends, within `limit` s."""
    async with trio.open_nursery() as nursery:
        await nursery.start(pms.serve)
        root = workspace(tmp_path, pms.port, **settings)
        daemon, link = hotel_daemon(root)
        with trio.fail_after(limit):
            async with running(daemon):
                await pms.alive.wait()
                yield root, daemon, link, nursery
        nursery.cancel_scope.cancel()


async def wait_for(predicate: Any, pause: float = 0.01) -> None:
    while not predicate():
        await trio.sleep(pause)


def conn(root: Path) -> Any:
    return db.connect(root / "anatole.db")


async def checked_in(root: Path, room: str) -> None:
    c = conn(root)
    try:
        await wait_for(lambda: db.open_stay(c, room) is not None)
    finally:
        c.close()


def expected_amount(root: Path, call_ids: list[int] | None = None) -> list[tuple[int, int]]:
    """(call id, TA) from the stored calls' cost: x2 + 0.50, at least 0.60, rounded up to the cent."""
    c = conn(root)
    try:
        rows = c.execute("SELECT id, cost FROM calls WHERE extension = '2214' ORDER BY id").fetchall()
    finally:
        c.close()
    out = []
    for cid, cost in rows:
        price = max(2 * cost + parse_money("0.50"), parse_money("0.60"))
        out.append((cid, -(-price // 10**6)))
    return out


@pytest.mark.parametrize("lrc", [False, True])
async def test_checkin_call_posting_and_vacant_room_alert(tmp_path: Path, lrc: bool) -> None:
    pms = SimulatedPms(lrc=lrc)
    async with hotel_link(tmp_path, pms, lrc=lrc) as (root, daemon, link, _):
        sent = [r.kind for r in pms.records]
        assert sent[0] == "LD" and sent[-1] == "LA" and sent.count("LR") == 5
        assert pms.records[0].get("IF") == "CA"
        client = await Client.connect(root / "anatole.sock", ["alerts", "calls"])
        await pms.checkin("214", "880123", "Martin, Alice")
        await checked_in(root, "214")
        await send_lines(daemon.ports["paris-ipo"], [guest_line(1, "2214"), guest_line(2, "2305"),
                                                      guest_line(3, "2001")])
        await pms.wait(lambda: len(pms.postings) == 1)
        alert = (await client.wait_for(Alert))[0]
        await client.aclose()
        await settle(daemon, 3)
    ps = pms.postings[0]
    [(call_id, amount)] = expected_amount(root)
    assert ps.get("RN") == "214" and ps.get("PT") == "C" and ps.get("TA") == str(amount) and ps.get("P#") == "1"
    assert ps.get("DD") == "0155501234" and ps.get("DU") == "000232"
    assert "vacant room: room 305" in alert.message and alert.extension == "2305"
    c = conn(root)
    assert db.postings(c)[0]["state"] == "ok" and db.charges_of(c, [call_id])[0]["status"] == "posted"
    folio = db.folio(c, db.open_stay(c, "214")["id"])
    assert [(f["call_id"], f["charge"] // 10**6) for f in folio] == [(call_id, amount)]
    c.close()
    assert pms.duplicates == [] and pms.frame_errors == []


async def test_link_down_queues_postings_and_delivers_them_once_in_order(tmp_path: Path) -> None:
    pms = SimulatedPms()
    async with hotel_link(tmp_path, pms, limit=30) as (root, daemon, link, nursery):
        await pms.checkin("214", "880123", "Martin, Alice")
        await checked_in(root, "214")
        await pms.close()  # the PMS goes away
        await wait_for(lambda: link.state in ("reconnecting", "connecting"))
        await send_lines(daemon.ports["paris-ipo"], [guest_line(n, "2214") for n in range(1, 5)])
        await settle(daemon, 4)
        c = conn(root)
        assert db.posting_counts(c) == {"pending": 4}  # durable while the link is down
        c.close()
        assert daemon.status().sources[-1].name == "pms:fias"
        pms2 = SimulatedPms()
        await nursery.start(lambda task_status: pms2.serve(task_status=task_status, port=pms.port))
        await pms2.wait(lambda: len(pms2.postings) == 4)
    assert [p.get("P#") for p in pms2.postings] == ["1", "2", "3", "4"]
    assert [int(p.get("TA")) for p in pms2.postings] == [a for _c, a in expected_amount(root)]
    assert pms2.duplicates == [] and pms.postings == []


async def test_le_from_the_pms_ends_the_link_and_it_comes_back(tmp_path: Path) -> None:
    pms = SimulatedPms()
    async with hotel_link(tmp_path, pms) as (root, daemon, link, _):
        await pms.checkin("214", "1", "Guest")
        await checked_in(root, "214")
        await pms.send("LE|DA250315|TI120000|")
        await pms.wait(lambda: any(r.kind == "LE" for r in pms.records))  # we answer LE
        await wait_for(lambda: pms.connections == 2 and pms.alive.is_set())
        await send_lines(daemon.ports["paris-ipo"], [guest_line(1, "2214")])
        await pms.wait(lambda: len(pms.postings) == 1)
    assert pms.duplicates == []


async def test_ng_retry_silence_and_a_drop_in_the_middle_of_a_posting(tmp_path: Path) -> None:
    pms = SimulatedPms()
    answers = {"1": ["NG"], "2": ["RY", "OK"], "3": [None, "OK"], "4": ["drop", "OK"]}

    def policy(rec: Any) -> str | None:
        todo = answers.get(rec.get("P#"), ["OK"])
        return todo.pop(0) if len(todo) > 1 else todo[0]

    dropped = trio.Event()

    def answer(rec: Any) -> str | None:
        code = policy(rec)
        if code == "drop":
            dropped.set()
            return None
        return code

    pms.policy = answer

    async def dropper() -> None:
        await dropped.wait()
        await pms.drop()  # the link drops while P# 4 awaits its PA

    async with hotel_link(tmp_path, pms, timeout=0.3, limit=30) as (root, daemon, link, nursery):
        nursery.start_soon(dropper)
        await pms.checkin("214", "880123", "Martin, Alice")
        await checked_in(root, "214")
        await send_lines(daemon.ports["paris-ipo"], [guest_line(n, "2214") for n in range(1, 5)])
        await pms.wait(lambda: len(pms.postings) == 3)
        c = conn(root)
        await wait_for(lambda: db.posting_counts(c).get("ok") == 3)
    assert sorted(p.get("P#") for p in pms.postings) == ["2", "3", "4"]
    assert pms.duplicates == []  # P# 3 was received twice but answered (posted) once; P# 4 likewise
    assert [r.get("P#") for r in pms.records if r.kind == "PS"].count("3") == 2
    rows = {p["seq"]: p for p in db.postings(c)}
    assert rows[1]["state"] == "rejected" and rows[1]["answer"] == "NG"
    assert rows[2]["state"] == "ok" and rows[2]["attempts"] == 2 and not rows[2]["flagged"]
    assert rows[3]["state"] == "ok" and rows[3]["flagged"] == 1  # resent once with the same P#: flagged
    assert rows[4]["state"] == "ok" and rows[4]["flagged"] == 1
    late = db.late_charges(c)
    assert {x["posting"] for x in late} == {1, 3, 4}
    assert "PMS answered NG: NO GUEST" in next(x["reason"] for x in late if x["posting"] == 1)
    c.close()


async def test_bad_frames_unknown_records_and_unknown_rooms_do_not_break_the_link(tmp_path: Path) -> None:
    pms = SimulatedPms(lrc=True)
    async with hotel_link(tmp_path, pms, lrc=True) as (root, daemon, link, _):
        bad = bytearray(frame("GI|RN305|G#9|GNNobody|", use_lrc=True))
        bad[-1] ^= 0x55  # wrong LRC: the check-in is not applied
        await pms.send_raw(bytes(bad) + b"garbage\x02GI|RN3")
        await pms.send("ZZ|XX1|")  # an unknown record type
        await pms.send("RE|RN214|CS2|DNN|")  # a known one we do not use
        await pms.checkout("999")  # a room nobody is in (and not in the map)
        await pms.checkin("777", "5", "Not mapped")
        await pms.checkin("214", "880123", "Martin, Alice")
        await checked_in(root, "214")
        await send_lines(daemon.ports["paris-ipo"], [guest_line(1, "2214")])
        await pms.wait(lambda: len(pms.postings) == 1)
        assert link.counts["frame_errors"] == 3 and link.counts["unknown"] == 2
    c = conn(root)
    assert db.open_stay(c, "305") is None and db.open_stay(c, "777")["guest"] == "Not mapped"
    c.close()
    log = daemon.config.log.getvalue()
    assert "wrong LRC" in log and "unknown record type 'ZZ'" in log and "GO for room 999" in log
    assert "no [[room]] maps" in log
    assert pms.connections == 1


async def test_room_move_repoints_queued_postings_and_ng_is_reposted_to_the_new_room(tmp_path: Path) -> None:
    pms = SimulatedPms()
    first = trio.Event()
    moved = trio.Event()

    def policy(rec: Any) -> str | None:
        if rec.get("P#") == "1":
            first.set()
            return "NG" if moved.is_set() else None  # answer only after the move (then: no guest in 214)
        return "OK"

    pms.policy = policy
    async with hotel_link(tmp_path, pms, timeout=5, limit=30) as (root, daemon, link, _):
        await pms.checkin("214", "880123", "Martin, Alice")
        await checked_in(root, "214")
        await send_lines(daemon.ports["paris-ipo"], [guest_line(1, "2214"), guest_line(2, "2214")])
        await first.wait()
        await settle(daemon, 2)
        await pms.move("214", "305", "880123")
        await checked_in(root, "305")
        moved.set()
        await pms.send("PA|RN214|ASNG|P#1|CTNO GUEST|")  # the late answer to P# 1
        await pms.wait(lambda: len(pms.postings) == 2)
    # P# 2 was queued for 214 and re-pointed to 305 by the move; P# 1 was refused, then re-posted as P# 3
    assert sorted((p.get("P#"), p.get("RN")) for p in pms.postings) == [("2", "305"), ("3", "305")]
    c = conn(root)
    assert db.stay_at(c, "214", int(time.time())) is None
    assert {p["seq"]: p["replaces"] for p in db.postings(c)} == {1: None, 2: None, 3: 1}
    c.close()


async def test_restart_resends_an_unanswered_posting_once_and_posts_nothing_twice(tmp_path: Path) -> None:
    pms = SimulatedPms()
    silent = {"on": True}
    pms.policy = lambda rec: None if (silent["on"] and rec.get("P#") == "2") else "OK"
    async with trio.open_nursery() as nursery:
        await nursery.start(pms.serve)
        root = workspace(tmp_path, pms.port, timeout=30)
        daemon, link = hotel_daemon(root)
        with trio.fail_after(30):
            async with running(daemon):
                await pms.alive.wait()
                await pms.checkin("214", "880123", "Martin, Alice")
                await checked_in(root, "214")
                lines = {n: guest_line(n, "2214") for n in (1, 2, 3, 4)}  # the same record when resent
                await send_lines(daemon.ports["paris-ipo"], [lines[n] for n in (1, 2, 3)])
                await pms.wait(lambda: [r.get("P#") for r in pms.records if r.kind == "PS"] == ["1", "2"])
                await settle(daemon, 3)
            # stopped while P# 2 awaited its PA (state sent) and P# 3 was queued
            silent["on"] = False
            daemon2, _ = hotel_daemon(root)
            async with running(daemon2):
                await send_lines(daemon2.ports["paris-ipo"], [lines[n] for n in (3, 4)])  # 3 again: a duplicate
                await pms.wait(lambda: len(pms.postings) == 4)
                await settle(daemon2, 2)
                await trio.sleep(0.2)
        nursery.cancel_scope.cancel()
    assert [p.get("P#") for p in pms.postings] == ["1", "2", "3", "4"]
    assert pms.duplicates == []
    c = conn(root)
    rows = {p["seq"]: p for p in db.postings(c)}
    assert len(rows) == 4 and rows[2]["flagged"] == 1 and all(p["state"] == "ok" for p in rows.values())
    c.close()


async def test_keepalive_without_answer_reconnects_and_night_audit_holds_postings(tmp_path: Path) -> None:
    pms = SimulatedPms()
    seen: list[str] = []

    def policy(rec: Any) -> str | None:
        seen.append(rec.get("P#"))
        return "NA" if len(seen) == 1 else "OK"  # the first answer: night audit running

    pms.policy = policy
    async with hotel_link(tmp_path, pms, timeout=0.3, keepalive=0.2) as (root, daemon, link, _):
        await pms.checkin("214", "1", "Guest")
        await checked_in(root, "214")
        await send_lines(daemon.ports["paris-ipo"], [guest_line(1, "2214"), guest_line(2, "2214")])
        await wait_for(lambda: link.night_audit)
        await trio.sleep(0.5)  # held: nothing more is sent during the audit (keep-alives answered)
        assert seen == ["1"] and pms.postings == []
        await pms.send("NE|DA250315|TI033000|")
        await pms.wait(lambda: len(pms.postings) == 2)
        assert seen == ["1", "1", "2"]  # P# 1 again, same number, then P# 2
        pms.answer_ls = False  # the PMS hangs: keep-alive LS unanswered -> the link is re-opened
        await wait_for(lambda: pms.connections == 2)
    assert "keep-alive: no LA" in daemon.config.log.getvalue()
    assert pms.duplicates == []


async def test_a_pa_followed_at_once_by_the_pms_closing_the_link_is_applied(tmp_path: Path) -> None:
    """Issue 13 item 3: the PMS answers P# 1 and closes the connection straight after. The PA was read: it is
    applied (posted, not flagged) and P# 1 is not sent again after the reconnect."""
    pms = SimulatedPms()
    hung: set[str] = set()

    def hang_up(rec: Any) -> bool:  # after the first answer to P# 1 and to P# 3
        number = rec.get("P#")
        if number in ("1", "3") and number not in hung:
            hung.add(number)
            return True
        return False

    pms.hang_up_after = hang_up
    async with hotel_link(tmp_path, pms, limit=30) as (root, daemon, link, _):
        await pms.checkin("214", "880123", "Martin, Alice")
        await checked_in(root, "214")
        await send_lines(daemon.ports["paris-ipo"], [guest_line(n, "2214") for n in (1, 2, 3, 4)])
        await pms.wait(lambda: len(pms.postings) == 4)
        c = conn(root)
        await wait_for(lambda: db.posting_counts(c).get("ok") == 4)
    assert [r.get("P#") for r in pms.records if r.kind == "PS"] == ["1", "2", "3", "4"]
    assert pms.duplicates == [] and pms.connections == 3
    rows = {p["seq"]: p for p in db.postings(c)}
    assert all(p["state"] == "ok" and p["attempts"] == 1 and not p["flagged"] for p in rows.values())
    assert db.late_charges(c) == []
    c.close()


async def test_a_database_fault_in_the_link_reconnects_it_and_the_daemon_serves_on(tmp_path: Path,
                                                                                   monkeypatch: Any) -> None:
    """The link's queue read fails once (the database locked past the store's limit): the session ends, the link
    reconnects and posts; the daemon is not taken down."""
    from pbx import fias

    real, failed = fias.db.next_posting, []

    def next_posting(conn: Any, now: int) -> Any:
        got = real(conn, now)
        if got is not None and not failed:
            failed.append(got["seq"])
            raise fias.StoreError("the database stayed locked by another program for 120 s")
        return got

    monkeypatch.setattr(fias.db, "next_posting", next_posting)
    pms = SimulatedPms()
    async with hotel_link(tmp_path, pms) as (root, daemon, link, _):
        await pms.checkin("214", "880123", "Martin, Alice")
        await checked_in(root, "214")
        await send_lines(daemon.ports["paris-ipo"], [guest_line(1, "2214")])
        await pms.wait(lambda: len(pms.postings) == 1)
        await send_lines(daemon.ports["paris-ipo"], [guest_line(2, "2214")])
        await pms.wait(lambda: len(pms.postings) == 2)
    assert failed == [1] and pms.connections == 2 and pms.duplicates == []
    assert "stayed locked" in daemon.config.log.getvalue()
