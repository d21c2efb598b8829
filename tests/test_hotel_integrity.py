"""Issue 13, the hotel's guarantees on a real SQLite file: one open stay per room (the schema refuses a second one, a
migration closes the duplicates an older database holds and reports them, a check-in by hand racing the PMS's never
opens two), overlapping legs of one call charged and posted once, a call that cannot be charged listed rather than
stopping the batch, and calls re-attributed when a stay changes in the past."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from serve_support import hotel_config, make_workspace

from anatole.cli import main
from anatole.config import open_workspace
from engine.money import parse_money
from hotel.live import HotelHook
from store import hotel as db
from store import open_store, schema
from store.db import CALL_COLUMNS

HOTEL = hotel_config() + """
[pms]
protocol = "fias"
connect = "127.0.0.1:5010"
"""


def _db(tmp_path: Path) -> Path:
    path = tmp_path / "anatole.db"
    open_store(path).close()
    return path


def _hook(tmp_path: Path, **options: Any) -> tuple[HotelHook, sqlite3.Connection]:
    root = make_workspace(tmp_path, extra=HOTEL)
    cfg = open_workspace(root).hotel
    conn = db.connect(_db(tmp_path))
    db.sync_rooms(conn, [(r.number, r.extension, r.class_of_service) for r in cfg.rooms])
    return HotelHook(cfg, currency="EUR", outside_prefix="9", **options), conn


# --- one open stay per room ------------------------------------------------------------------------------------


def test_migration_closes_duplicate_open_stays_and_reports_them(tmp_path: Path) -> None:
    path = _db(tmp_path)
    old = sqlite3.connect(path)
    schema.migrate(old, "hotel", db.MIGRATIONS[:1])  # a database of the previous release
    old.executemany("INSERT INTO hotel_stays (room, reservation, guest, checkin, origin) VALUES (?, ?, ?, ?, ?)",
                    [("214", "1", "Hand", 1000, "manual"), ("214", "2", "Pms", 1005, "fias"),
                     ("214", "3", "Same time", 1005, "fias"), ("305", "4", "Alone", 900, "fias")])
    old.commit()
    old.close()
    reported: list[str] = []
    conn = db.connect(path, report=reported.append)
    # the latest check-in stays open (ties: the later row); the others close at its check-in
    assert db.open_stays(conn)["214"]["reservation"] == "3" and db.open_stays(conn)["305"]["reservation"] == "4"
    closed = {s["reservation"]: s["checkout"] for s in (db.last_stay(conn, "214", r) for r in "12")}
    assert closed == {"1": 1005, "2": 1005}
    assert len(reported) == 2 and "stay 1 (reservation 1, Hand) was open beside stay 3" in reported[0]
    assert [r["stay_id"] for r in db.repairs(conn)] == [1, 2]
    conn.close()
    again: list[str] = []
    db.connect(path, report=again.append).close()
    assert again == []  # reported once, when the migration ran
    # the schema itself now refuses a second open stay, whoever writes
    raw = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError):
        raw.execute("INSERT INTO hotel_stays (room, reservation, guest, checkin, origin) "
                    "VALUES ('214', '9', 'x', 2000, 'manual')")
    raw.close()


def test_a_check_in_by_hand_racing_the_pms_never_opens_two_stays(tmp_path: Path) -> None:
    path = _db(tmp_path)
    db.connect(path).close()
    rooms = [f"R{n}" for n in range(30)]
    outcomes: dict[str, list[str]] = {r: [] for r in rooms}

    def desk(room: str, barrier: threading.Barrier) -> None:
        conn = db.connect(path)
        barrier.wait()
        try:
            db.checkin(conn, room, "hand", "By Hand", 1000, "manual", replace=False)
            outcomes[room].append("desk ok")
        except db.RoomOccupied as exc:
            assert f"room {room} already has an open stay for From Pms (reservation pms)" in str(exc)
            outcomes[room].append("desk refused")
        finally:
            conn.close()

    def pms(room: str, barrier: threading.Barrier) -> None:
        conn = db.connect(path)
        barrier.wait()
        try:
            db.checkin(conn, room, "pms", "From Pms", 1000, "fias")  # the PMS is the truth: replaces
            outcomes[room].append("pms ok")
        finally:
            conn.close()

    for room in rooms:
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=f, args=(room, barrier)) for f in (desk, pms)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    conn = db.connect(path)
    opened = db.open_stays(conn)
    for room in rooms:
        assert "pms ok" in outcomes[room] and len(outcomes[room]) == 2
        assert opened[room]["reservation"] == "pms"  # whatever the order, the PMS's stay is the open one
        n = conn.execute("SELECT COUNT(*) FROM hotel_stays WHERE room = ? AND checkout IS NULL", (room,)).fetchone()
        assert n[0] == 1
    conn.close()


def test_cli_check_in_waits_for_a_writer_and_refuses_an_occupied_room(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANATOLE_DB_BUSY_LIMIT", "20")  # a failure must not take the store's two minutes
    root = make_workspace(tmp_path, extra=HOTEL.replace('[pms]\nprotocol = "fias"\nconnect = "127.0.0.1:5010"\n', ""))
    path = _db(root)
    db.connect(path).close()
    writer = sqlite3.connect(path, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")  # the daemon in the middle of a batch
    writer.execute("INSERT INTO hotel_rooms (number, extension) VALUES ('999', '2999')")
    released = threading.Timer(0.5, writer.commit)
    released.start()
    result = CliRunner().invoke(main, ["--workspace", str(root), "hotel", "checkin", "214", "--guest", "Martin, Alice",
                                       "--reservation", "880123", "--at", "2025-03-14T10:00"])
    released.join()
    writer.close()
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["--workspace", str(root), "hotel", "checkin", "214", "--guest", "Other"])
    assert result.exit_code == 1
    assert ("room 214 already has an open stay for Martin, Alice (reservation 880123, origin manual) since "
            "2025-03-14 10:00") in result.output
    assert "Traceback" not in result.output


# --- overlapping legs of one call: one charge, one posting ------------------------------------------------------


def _leg(n: int, *, grp: str = "g1", start: int = 2000, answer: int | None = None, billable: int = 120,
         ext: str = "2214", number: str = "33155501234", source: str = "pbx") -> dict[str, Any]:
    row = dict.fromkeys(CALL_COLUMNS)
    row.update(source=source, site="paris", native_id=f"leg{n}", leg=str(n), grp=grp, start=start,
               answer=answer if answer is not None else start, duration=billable + 5, billable=billable,
               direction="outgoing", disposition="answered", extension=ext, dialled="9" + "0" + number[2:],
               number=number, number_kind="national", billed=1, status="rated", destination="France",
               cost=5_000_000 + billable * 10_000, currency="EUR")
    return row


def _store(conn: sqlite3.Connection, hook: HotelHook, legs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the daemon's writer does: insert the calls, then call the hook, in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    stored = []
    sql = f"INSERT INTO calls ({', '.join(CALL_COLUMNS)}) VALUES ({', '.join('?' * len(CALL_COLUMNS))})"
    for leg in legs:
        cur = conn.execute(sql, [leg[k] for k in CALL_COLUMNS])
        stored.append({**leg, "id": cur.lastrowid})
    alerts = hook.stored(conn, stored)
    conn.commit()
    return alerts


def test_overlapping_legs_in_one_batch_are_charged_once_on_the_longest(tmp_path: Path) -> None:
    hook, conn = _hook(tmp_path)
    db.checkin(conn, "214", "880123", "Martin", 1000, "fias")
    legs = [_leg(1, billable=118), _leg(2, billable=120, answer=2001), _leg(3, billable=119),
            _leg(4, grp="g2", start=5000)]  # another call
    _store(conn, hook, legs)
    charges = {c["call_id"]: c for c in db.charges_of(conn, [1, 2, 3, 4])}
    assert {k: c["status"] for k, c in charges.items()} == {1: "merged", 2: "queued", 3: "merged", 4: "queued"}
    assert "another leg of call 2" in charges[1]["reason"] and charges[1]["charge"] is None
    assert sorted(p["call_id"] for p in db.postings(conn)) == [2, 4]
    # the hook and the daemon's merge agree on the leg that carries the cost
    open_store(tmp_path / "anatole.db").merge_overlapping_legs("pbx", ["g1"])
    billed = [r[0] for r in conn.execute("SELECT id FROM calls WHERE grp = 'g1' AND billed = 1")]
    assert billed == [2]
    # replayed: nothing more
    conn.execute("BEGIN IMMEDIATE")
    assert hook.stored(conn, [{**leg, "id": i} for i, leg in enumerate(legs, 1)]) == []
    conn.commit()
    assert len(db.postings(conn)) == 2
    # the call is charged from its billed leg: cost 0.062 x 2 + 0.50 = 0.624, rounded up to 0.63
    folio = db.folio(conn, db.open_stay(conn, "214")["id"])
    assert [(c["call_id"], c["charge"]) for c in folio if c["charge"]] == [(2, parse_money("0.63")),
                                                                          (4, parse_money("0.63"))]


def test_a_longer_leg_arriving_later_takes_over_a_pending_charge_or_is_listed(tmp_path: Path) -> None:
    hook, conn = _hook(tmp_path)
    db.checkin(conn, "214", "880123", "Martin", 1000, "fias")
    _store(conn, hook, [_leg(1, billable=100)])  # the first leg alone: charged, posting pending
    _store(conn, hook, [_leg(2, billable=130)])  # the longer leg of the same call, next batch
    charges = {c["call_id"]: c for c in db.charges_of(conn, [1, 2])}
    assert charges[1]["status"] == "merged" and charges[2]["status"] == "queued"
    posts = {p["call_id"]: p for p in db.postings(conn)}
    assert posts[1]["state"] == "cancelled" and posts[2]["state"] == "pending"
    assert len([p for p in posts.values() if p["state"] == "pending"]) == 1
    # a call whose first leg was already sent to the PMS: the longer leg is listed, not posted again
    _store(conn, hook, [_leg(3, grp="g2", start=4000, billable=60)])
    seq = next(p["seq"] for p in db.postings(conn) if p["call_id"] == 3)
    assert db.mark_sent(conn, seq, 4100)
    _store(conn, hook, [_leg(4, grp="g2", start=4000, billable=90)])
    four = db.charges_of(conn, [4])[0]
    assert four["status"] == "merged" and four["late"] == 1 and "already sent to the PMS" in four["reason"]
    assert 4 in {c["call_id"] for c in db.late_charges(conn)}
    assert [p["call_id"] for p in db.postings(conn) if p["state"] in ("pending", "sent")] == [3, 2]


def test_legs_of_a_group_that_do_not_overlap_or_come_from_another_source_are_separate_calls(tmp_path: Path) -> None:
    hook, conn = _hook(tmp_path, overlapping={"pbx"})
    db.checkin(conn, "214", "880123", "Martin", 1000, "fias")
    _store(conn, hook, [_leg(1, billable=60), _leg(2, start=3000, billable=60),  # same group, an hour apart
                        _leg(3, source="ipo", grp="x"), _leg(4, source="ipo", grp="x", billable=119)])  # sequential
    assert [c["status"] for c in db.charges_of(conn, [1, 2, 3, 4])] == ["queued"] * 4


# --- one odd call never stops the batch --------------------------------------------------------------------------


def test_a_call_that_cannot_be_charged_is_listed_and_the_others_are_charged(tmp_path: Path) -> None:
    def guest_price(calls: list[dict[str, Any]]) -> list[int | None]:
        if any(c["number"].endswith("666") for c in calls):
            raise ValueError("guest tariff: no band for 666")
        return [c["cost"] for c in calls]

    hook, conn = _hook(tmp_path, guest_price=guest_price)
    db.checkin(conn, "214", "880123", "Martin", 1000, "fias")
    odd = _leg(2, grp="g2", number="33155500666")
    broken = {**_leg(3, grp="g3"), "start": None}  # a row the hook cannot work with
    _store(conn, hook, [_leg(1), odd, _leg(4, grp="g4", start=6000)])
    conn.execute("BEGIN IMMEDIATE")
    hook.stored(conn, [{**broken, "id": 99}])
    conn.commit()
    charges = {c["call_id"]: c for c in db.charges_of(conn, [1, 2, 3, 99])}
    assert charges[1]["status"] == "queued" and charges[3]["status"] == "queued"
    assert charges[2]["status"] == "failed" and "no band for 666" in charges[2]["reason"]
    assert charges[99]["status"] == "failed" and "could not be charged" in charges[99]["reason"]
    assert {c["call_id"] for c in db.late_charges(conn)} == {2, 99}
    assert hook.failed == 2


# --- a stay that changed in the past ------------------------------------------------------------------------------


def test_a_check_in_in_the_past_charges_the_vacant_calls_and_a_check_out_takes_later_ones_off(tmp_path: Path
                                                                                           ) -> None:
    hook, conn = _hook(tmp_path)
    alerts = _store(conn, hook, [_leg(1, grp="a", start=2000), _leg(2, grp="b", start=3000),
                                 _leg(3, grp="c", start=9000)])
    assert len(alerts) == 3 and db.postings(conn) == []  # nobody was checked in: vacant-room calls
    with db.write(conn):
        db.checkin(conn, "214", "880123", "Martin", 1500, "fias")  # a GI that reached us late
        counts = hook.reattribute(conn, "214", 1500, now=10_000)
    assert counts == {"charged": 3, "uncharged": 0, "flagged": 0}
    assert [c["status"] for c in db.charges_of(conn, [1, 2, 3])] == ["queued"] * 3
    seqs = {p["call_id"]: p["seq"] for p in db.postings(conn)}
    assert db.mark_sent(conn, seqs[3], 9500)  # call 3 is already with the PMS
    with db.write(conn):
        db.checkout(conn, "214", 2500)  # a GO that reached us late: calls 2 and 3 were after it
        counts = hook.reattribute(conn, "214", 2500, now=10_000)
    assert counts == {"charged": 0, "uncharged": 1, "flagged": 1}
    charges = {c["call_id"]: c for c in db.charges_of(conn, [1, 2, 3])}
    assert charges[1]["status"] == "queued" and charges[2]["status"] == "vacant" and charges[2]["stay_id"] is None
    assert charges[3]["late"] == 1 and "settle by hand" in charges[3]["reason"]
    assert {p["call_id"]: p["state"] for p in db.postings(conn)} == {1: "pending", 2: "cancelled", 3: "sent"}
    # checked in again from before call 2: it is charged again, with its one posting (the same P#)
    with db.write(conn):
        db.checkin(conn, "214", "880124", "Keller", 2600, "fias")
        hook.reattribute(conn, "214", 2600, now=10_000)
    assert {p["call_id"]: (p["seq"], p["state"], p["reservation"]) for p in db.postings(conn)}[2] == (
        seqs[2], "pending", "880124")
    conn.close()


def test_cli_check_in_and_out_in_the_past_re_attribute_the_rooms_calls(tmp_path: Path) -> None:
    root = make_workspace(tmp_path, extra=HOTEL)
    hook, conn = _hook(tmp_path)
    t0 = 1_741_942_800  # 2025-03-14 10:00 in Paris
    _store(conn, hook, [_leg(1, grp="a", start=t0 + 600), _leg(2, grp="b", start=t0 + 3000)])
    assert [c["status"] for c in db.charges_of(conn, [1, 2])] == ["vacant", "vacant"]

    def cli(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["--workspace", str(root), "hotel", *args])
        return result.exit_code, result.output

    code, out = cli("checkin", "214", "--guest", "Martin, Alice", "--reservation", "880123", "--at",
                    "2025-03-14T10:05")
    assert code == 0 and "2 call(s) made since then charged to the stay" in out
    assert [(c["status"], c["reservation"]) for c in db.charges_of(conn, [1, 2])] == [("queued", "880123")] * 2
    code, out = cli("checkout", "214", "--at", "2025-03-14T10:30", "--json")
    assert code == 0
    assert [c["call_id"] for c in json.loads(out)["calls"]] == [1]
    assert {p["call_id"]: p["state"] for p in db.postings(conn)} == {1: "pending", 2: "cancelled"}
    assert db.charges_of(conn, [2])[0]["status"] == "vacant"
    conn.close()
