"""The hotel model: [hotel]/[[room]]/[pms] validation, guest prices (exact, one named rounding), free numbers, stays
and room moves in the store, and the charging hook on stored calls (occupancy at call start, late and vacant)."""

from __future__ import annotations

import sqlite3
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from serve_support import make_workspace

from anatole.config import ConfigError, open_workspace
from engine.money import SCALE, parse_money
from hotel.live import HotelHook
from hotel.model import ChargeRules
from store import hotel as db
from store import open_store

HOTEL = """
[hotel]
markup_percent = "50"
surcharge = "0.30"
minimum = "0.50"
tax_percent = "10"
rounding = "up"
free_numbers = ["339", "2000"]
admin_extensions = ["2900-2999"]

[[room]]
number = "214"
extension = "2214"

[[room]]
number = 305
extension = 2305
class_of_service = 2
"""


def test_config_reads_rooms_rules_csv_and_pms(tmp_path: Path) -> None:
    (tmp_path / "rooms.csv").write_text("number,extension,class_of_service\n401,2401,3\n402,2402,\n")
    root = make_workspace(tmp_path, extra=HOTEL + '[pms]\nprotocol = "fias"\nconnect = "127.0.0.1:5010"\nlrc = true\n')
    text = (root / "anatole.toml").read_text().replace("[hotel]\n", '[hotel]\nrooms_csv = "rooms.csv"\n')
    (root / "anatole.toml").write_text(text)
    ws = open_workspace(root)
    cfg = ws.hotel
    assert cfg.site == "paris"
    assert [(r.number, r.extension, r.class_of_service) for r in cfg.rooms] == [
        ("214", "2214", None), ("305", "2305", 2), ("401", "2401", 3), ("402", "2402", None)]
    assert cfg.rules == ChargeRules(markup=50 * SCALE, surcharge=parse_money("0.30"), minimum=parse_money("0.50"),
                                    tax=10 * SCALE, decimals=2, rounding="up")
    assert cfg.pms.lrc is True and cfg.pms.posting == "C" and cfg.pms.timeout == 30
    assert open_workspace(make_workspace(tmp_path / "plain")).hotel is None


@pytest.mark.parametrize("extra, expected", [
    ('[hotel]\nmarkup = "5"\n', "unknown key"),
    ('[hotel]\nsurcharge = 0.5\n', "never a float"),
    ('[hotel]\nsurcharge = "0.505"\n', "more decimals"),
    ('[hotel]\nrounding = "bankers"\n', "rounding"),
    ('[hotel]\nsite = "lyon"\n', "no [[site]]"),
    ('[[room]]\nnumber = "2 14"\nextension = "2214"\n', "room number"),
    ('[[room]]\nnumber = "214"\nextension = "22x"\n', "extension"),
    ('[[room]]\nnumber = "214"\nextension = "2214"\n[[room]]\nnumber = "215"\nextension = "2214"\n',
     "extension 2214 is mapped to rooms 214 and 215"),
    ('[hotel]\nadmin_extensions = ["2200-2299"]\n[[room]]\nnumber = "214"\nextension = "2214"\n',
     "also listed as an admin"),
    ('[pms]\nprotocol = "hl7"\nconnect = "h:1"\n', "protocol"),
    ('[pms]\nprotocol = "fias"\nconnect = "nowhere"\n', "HOST:PORT"),
    ('[pms]\nprotocol = "fias"\nconnect = "h:1"\nposting = "X"\n', "posting"),
    ('[pms]\nprotocol = "fias"\nconnect = "h:1"\nencoding = "klingon"\n', "encoding"),
    ('[pms]\nprotocol = "fias"\nconnect = "h:1"\ntimeout = -1\n', "timeout"),
    ('[hotel]\nrooms_csv = "missing.csv"\n', "no such file"),
])
def test_config_problems_name_the_key(tmp_path: Path, extra: str, expected: str) -> None:
    root = make_workspace(tmp_path, extra=extra)
    with pytest.raises(ConfigError) as err:
        open_workspace(root)
    assert expected in str(err.value), str(err.value)


def test_rooms_csv_problems_name_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "rooms.csv").write_text("number,extension\n214,2214\n215,abc\n")
    root = make_workspace(tmp_path, extra='[hotel]\nrooms_csv = "rooms.csv"\n')
    with pytest.raises(ConfigError) as err:
        open_workspace(root)
    assert "rooms.csv:3: extension" in str(err.value)


def test_guest_price_examples() -> None:
    rules = ChargeRules(markup=50 * SCALE, surcharge=parse_money("0.30"), minimum=parse_money("0.50"),
                        tax=10 * SCALE, decimals=2, rounding="up")
    # 0.0507 x 1.5 + 0.30 = 0.37605 -> minimum 0.50 -> x 1.1 = 0.55
    assert rules.price(parse_money("0.0507")) == parse_money("0.55")
    # 1.2345 x 1.5 + 0.30 = 2.15175 -> x 1.1 = 2.366925 -> up: 2.37
    assert rules.price(parse_money("1.2345")) == parse_money("2.37")
    assert rules.minor_units(parse_money("2.37")) == 237
    assert ChargeRules(decimals=0, rounding="half_even").price(parse_money("2.5")) == 2 * SCALE
    assert ChargeRules().price(0) == 0


@given(st.integers(0, 10**12), st.integers(0, 300 * SCALE), st.integers(0, 5 * SCALE), st.integers(0, 5 * SCALE),
       st.integers(0, 30 * SCALE), st.sampled_from(["up", "down", "half_up", "half_even"]), st.integers(0, 4))
def test_guest_price_is_exact_and_rounded_once(base: int, markup: int, surcharge: int, minimum: int, tax: int,
                                               mode: str, decimals: int) -> None:
    quantum = 10 ** (8 - decimals)
    rules = ChargeRules(markup=markup, surcharge=surcharge // quantum * quantum, minimum=minimum // quantum * quantum,
                        tax=tax, decimals=decimals, rounding=mode)
    price = rules.price(base)
    exact = max(Fraction(base) * (1 + Fraction(markup, 100 * SCALE)) + rules.surcharge, rules.minimum) \
        * (1 + Fraction(tax, 100 * SCALE))
    assert price % quantum == 0
    assert abs(price - exact) < quantum
    if mode == "up":
        assert price >= exact
    if mode == "down":
        assert price <= exact


def test_free_numbers(tmp_path: Path) -> None:
    cfg = open_workspace(make_workspace(tmp_path, extra=HOTEL)).hotel
    assert cfg.is_free("33155501234", "0155501234", "rated") == ""
    assert cfg.is_free("33800123456", "0800123456", "rated") == "toll-free number"
    assert cfg.is_free("18005551234", "0018005551234", "rated") == "toll-free number"
    assert cfg.is_free(None, "112", "emergency") == "emergency number"
    assert cfg.is_free(None, "2000", "internal") == "free number 2000"
    assert cfg.is_free("33912345678", "0912345678", "rated") == "free number 339"


def _conn(tmp_path: Path) -> sqlite3.Connection:
    open_store(tmp_path / "anatole.db").close()
    return db.connect(tmp_path / "anatole.db")


def test_stays_checkin_checkout_and_room_move(tmp_path: Path) -> None:
    conn = _conn(tmp_path)
    sid, closed = db.checkin(conn, "214", "880123", "Martin, Alice", 1000, "fias")
    assert closed is None and db.stay_at(conn, "214", 1000)["id"] == sid
    assert db.stay_at(conn, "214", 999) is None
    # the same reservation again (a PMS resending GI) updates it, another one closes it
    assert db.checkin(conn, "214", "880123", "Martin, Alice B.", 1100, "fias")[0] == sid
    with pytest.raises(db.RoomOccupied, match=r"room 214 already has an open stay for Martin, Alice B\. \(reservation "
                                              r"880123\)"):
        db.checkin(conn, "214", "1", "Other", 1200, "manual", replace=False)
    conn.execute("INSERT INTO hotel_postings (call_id, room, reservation, amount, digits, duration, start, state, "
                 "created) VALUES (1, '214', '880123', 120, '0155', 10, 1500, 'pending', 1500)")
    conn.commit()
    new, repointed = db.move(conn, "214", "305", "880123", "", 2000, "fias")
    assert repointed == 1 and db.postings(conn)[0]["room"] == "305"
    assert db.stay_at(conn, "214", 1999)["id"] == sid and db.stay_at(conn, "214", 2000) is None
    moved = db.stay_at(conn, "305", 2000)
    assert moved["id"] == new and moved["guest"] == "Martin, Alice B." and moved["moved_from"] == "214"
    assert db.checkout(conn, "214", 3000) is None  # nobody there any more
    assert db.checkout(conn, "305", 3000, "999") is None  # not that reservation
    assert db.checkout(conn, "305", 3000)["reservation"] == "880123"
    assert db.open_stays(conn) == {}
    conn.close()


def _call(cid: int, ext: str, start: int, *, cost: int | None = 5_070_000, number: str = "33155501234",
          status: str = "rated", direction: str = "outgoing", billable: int = 152) -> dict:
    return {"id": cid, "site": "paris", "extension": ext, "start": start, "duration": billable + 5,
            "billable": billable, "direction": direction, "status": status, "number": number,
            "dialled": "9" + number[2:] if number else "112", "destination": "France", "cost": cost,
            "currency": "EUR", "trunk": ""}


def test_hook_charges_guest_calls_by_occupancy_at_call_start(tmp_path: Path) -> None:
    root = make_workspace(tmp_path, extra=HOTEL + '[pms]\nprotocol = "fias"\nconnect = "127.0.0.1:5010"\n')
    cfg = open_workspace(root).hotel
    conn = _conn(tmp_path)
    db.checkin(conn, "214", "880123", "Martin", 1000, "fias")
    db.checkout(conn, "214", 5000)
    hook = HotelHook(cfg, currency="EUR")
    calls = [
        _call(1, "2214", 2000),  # in the stay: queued for posting
        _call(2, "2214", 4900),  # started before check-out, ended after it: late, still posted
        _call(3, "2305", 2000),  # room 305 is vacant: no posting, an alert
        _call(4, "2214", 2100, number="33800123456"),  # toll-free: free, not posted
        _call(5, "2214", 2200, cost=None, status="no_rate"),  # cannot be priced: listed
        _call(6, "2900", 2000),  # an admin extension: not a room
        _call(7, "2214", 2300, direction="incoming"),  # incoming: not charged
        _call(8, "2214", 2400, billable=0, status="unanswered"),  # unanswered: not charged
    ]
    conn.execute("BEGIN IMMEDIATE")
    alerts = hook.stored(conn, calls)
    conn.commit()
    charges = {c["call_id"]: c for c in db.charges_of(conn, range(1, 9))}
    assert sorted(charges) == [1, 2, 3, 4, 5]
    assert charges[1]["status"] == "queued" and charges[1]["charge"] == parse_money("0.55")
    assert charges[1]["cost"] == 5_070_000 and charges[1]["reservation"] == "880123"
    assert charges[2]["late"] == 1 and charges[2]["status"] == "queued" and "after check-out" in charges[2]["reason"]
    assert charges[3]["status"] == "vacant" and charges[3]["stay_id"] is None
    assert charges[4]["status"] == "free" and charges[4]["charge"] == 0
    assert charges[5]["status"] == "unpriced"
    assert [a["call_id"] for a in alerts] == [3] and "vacant room: room 305" in alerts[0]["message"]
    posts = db.postings(conn)
    assert sorted(p["call_id"] for p in posts) == [1, 2] and {p["amount"] for p in posts} == {55}
    assert {c["call_id"] for c in db.late_charges(conn)} == {2, 5}
    # a replayed batch charges nothing twice
    conn.execute("BEGIN IMMEDIATE")
    assert hook.stored(conn, calls) == []
    conn.commit()
    assert len(db.postings(conn)) == 2
    conn.close()


def test_hook_without_pms_keeps_a_folio_only(tmp_path: Path) -> None:
    cfg = open_workspace(make_workspace(tmp_path, extra=HOTEL)).hotel
    conn = _conn(tmp_path)
    db.sync_rooms(conn, [(r.number, r.extension, r.class_of_service) for r in cfg.rooms])
    sid, _ = db.checkin(conn, "214", "1", "Guest", 1000, "manual")
    conn.execute("BEGIN IMMEDIATE")
    HotelHook(cfg, currency="EUR").stored(conn, [_call(1, "2214", 2000), _call(2, "2214", 2500, cost=123_450_000)])
    conn.commit()
    assert [c["status"] for c in db.folio(conn, sid)] == ["folio", "folio"]
    assert db.postings(conn) == []
    overview = {r["room"]: r for r in db.rooms_overview(conn)}
    assert overview["214"]["charges"] == parse_money("0.55") + parse_money("2.37")
    assert overview["214"]["status"] == "occupied" and overview["305"]["status"] == "vacant"
    conn.close()
