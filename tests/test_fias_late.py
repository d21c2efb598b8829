"""Issue 13 item 6, against the simulated PMS on 127.0.0.1: a GI or GO that reaches us late carries the PMS's own
date and time (DA/TI); the stay takes that time, so the calls the guest made meanwhile (stored as vacant-room calls)
are charged to them and posted once, and calls made after the real check-out are taken off the guest."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import trio
from fias_pms import SimulatedPms
from serve_support import running, send_lines, settle
from test_fias_link import conn, expected_amount, guest_line, hotel_daemon, wait_for, workspace

from store import hotel as db

pytestmark = pytest.mark.trio
PARIS = ZoneInfo("Europe/Paris")


def pms_time(minutes_ago: float) -> dict[str, str]:
    """DA/TI fields of a record the PMS made `minutes_ago` (in the site's zone, as the PMS sends them)."""
    when = dt.datetime.now(PARIS) - dt.timedelta(minutes=minutes_ago)
    return {"DA": when.strftime("%y%m%d"), "TI": when.strftime("%H%M%S")}


def stamped(record: str, minutes_ago: float) -> str:
    return record + "".join(f"{k}{v}|" for k, v in pms_time(minutes_ago).items())


def charges(root: Path) -> dict[int, dict[str, Any]]:
    c = conn(root)
    try:
        return {r["call_id"]: r for room in ("214", "305") for r in db.room_charges(c, room, 0)}
    finally:
        c.close()


async def test_a_late_check_in_charges_and_posts_the_calls_made_meanwhile(tmp_path: Path) -> None:
    pms = SimulatedPms()
    async with trio.open_nursery() as nursery:
        await nursery.start(pms.serve)
        root = workspace(tmp_path, pms.port)
        daemon, link = hotel_daemon(root)
        link.clock = time.time  # the PMS's clock and ours agree
        with trio.fail_after(20):
            async with running(daemon):
                await pms.alive.wait()
                # the guest checked in 10 minutes ago, but the GI has not reached us: their calls are vacant-room
                await send_lines(daemon.ports["paris-ipo"], [guest_line(1, "2214"), guest_line(2, "2214")])
                await settle(daemon, 2)
                assert {c["status"] for c in charges(root).values()} == {"vacant"} and pms.postings == []
                await pms.checkin("214", "880123", "Martin, Alice", **pms_time(10))
                await pms.wait(lambda: len(pms.postings) == 2)
                # a GI whose DA/TI cannot be believed (tomorrow) is applied now
                await pms.checkin("305", "880200", "Keller, Bruno", **pms_time(-24 * 60))
                c = conn(root)
                await wait_for(lambda: db.open_stay(c, "305") is not None)
                await wait_for(lambda: db.posting_counts(c).get("ok") == 2)
        nursery.cancel_scope.cancel()
    stay = db.open_stay(c, "214")
    assert abs(stay["checkin"] - (time.time() - 600)) < 120  # the PMS's time, not when the GI reached us
    got = charges(root)
    assert [got[cid]["status"] for cid in sorted(got)] == ["posted", "posted"]
    assert all(g["stay_id"] == stay["id"] and g["reservation"] == "880123" for g in got.values())
    assert sorted(int(p.get("TA")) for p in pms.postings) == sorted(a for _c, a in expected_amount(root))
    assert pms.duplicates == []
    assert abs(db.open_stay(c, "305")["checkin"] - time.time()) < 300  # not tomorrow
    c.close()
    log = daemon.config.log.getvalue()
    assert "reached us 10 min late" in log and "ahead of our clock" in log


async def test_a_late_check_out_takes_later_calls_off_the_guest(tmp_path: Path) -> None:
    pms = SimulatedPms()
    async with trio.open_nursery() as nursery:
        await nursery.start(pms.serve)
        root = workspace(tmp_path, pms.port)
        daemon, link = hotel_daemon(root)
        link.clock = time.time
        with trio.fail_after(20):
            async with running(daemon):
                await pms.alive.wait()
                await pms.checkin("214", "880123", "Martin, Alice", **pms_time(30))
                c = conn(root)
                await wait_for(lambda: db.open_stay(c, "214") is not None)
                await send_lines(daemon.ports["paris-ipo"], [guest_line(1, "2214")])
                await pms.wait(lambda: len(pms.postings) == 1)  # call 1 is posted at once
                await pms.send(stamped("NS|", 0))  # night audit: postings held from now on
                await wait_for(lambda: link.night_audit)
                await send_lines(daemon.ports["paris-ipo"], [guest_line(2, "2214")])
                await settle(daemon, 2)
                await wait_for(lambda: db.posting_counts(c).get("pending") == 1)
                # the guest left 20 minutes ago, before both calls; the GO reaches us only now
                await pms.send(stamped("GO|RN214|G#880123|", 20))
                await wait_for(lambda: db.posting_counts(c).get("cancelled") == 1)
                await pms.send(stamped("NE|", 0))
                await wait_for(lambda: not link.night_audit)
                await trio.sleep(0.3)  # nothing goes out after the audit: the one queued posting was cancelled
        nursery.cancel_scope.cancel()
    assert len(pms.postings) == 1 and pms.postings[0].get("P#") == "1"
    got = charges(root)
    one, two = (got[cid] for cid in sorted(got))
    assert two["status"] == "vacant" and two["stay_id"] is None and two["posting_state"] == "cancelled"
    assert one["status"] == "posted" and one["late"] == 1 and "settle by hand" in one["reason"]  # listed
    assert {x["call_id"] for x in db.late_charges(c)} == {one["call_id"]}
    assert abs(db.last_stay(c, "214")["checkout"] - (time.time() - 1200)) < 120
    c.close()
