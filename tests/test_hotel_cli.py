"""`anatole hotel rooms|checkin|checkout|folio|late-charges|postings` on a real workspace and store, and `anatole
serve --check` with a [pms]; the daemon charging calls of a hand-checked-in guest without a PMS."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import trio
from click.testing import CliRunner
from serve_support import daemon_for, hotel_config, make_workspace, running, send_lines, settle
from test_fias_link import guest_line

from anatole.cli import main

HOTEL = hotel_config()
PARIS = ZoneInfo("Europe/Paris")


def run(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--workspace", str(root), "hotel", *args])
    return result.exit_code, result.output


def earlier(minutes: int) -> str:
    return (dt.datetime.now(PARIS) - dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S")


@pytest.mark.trio
async def test_front_desk_without_pms(tmp_path: Path) -> None:
    root = make_workspace(tmp_path, extra=HOTEL)
    code, out = run(root, "checkin", "214", "--guest", "Martin, Alice", "--reservation", "880123", "--at",
                    earlier(60))
    assert code == 0 and "room 214 checked in: Martin, Alice, reservation 880123" in out
    code, out = run(root, "checkin", "214", "--guest", "Someone Else")
    assert code == 1 and "room 214 already has an open stay for Martin, Alice (reservation 880123" in out
    code, out = run(root, "checkin", "999", "--guest", "Nobody")
    assert code == 1 and "room '999' is not in the room map" in out
    daemon = daemon_for(root)
    with trio.fail_after(20):
        async with running(daemon):
            await send_lines(daemon.ports["paris-ipo"], [guest_line(1, "2214"), guest_line(2, "2214"),
                                                          guest_line(3, "2305", number="0155507788"),
                                                          guest_line(4, "2214", number="0800123456")])
            await settle(daemon, 4)
    code, out = run(root, "rooms", "--json")
    rooms = {r["room"]: r for r in json.loads(out)["rooms"]}
    assert rooms["214"]["status"] == "occupied" and rooms["214"]["calls"] == 3 and rooms["214"]["guest"] == \
        "Martin, Alice"
    assert rooms["305"]["status"] == "vacant" and rooms["305"]["vacant_calls"] == 1
    code, out = run(root, "folio", "214", "--json")
    folio = json.loads(out)
    assert code == 0 and sorted(c["status"] for c in folio["calls"]) == ["folio", "folio", "free"]
    # each call: cost x 2 + 0.50, rounded up to the cent; the total is their sum
    total = sum(int(c["charge"].replace(".", "")) for c in folio["calls"])
    assert folio["total"] == f"{total // 100}.{total % 100:02d}" and folio["posted"] == "0.00"
    assert all(c["charge"] > "0.50" for c in folio["calls"] if c["status"] == "folio")
    code, out = run(root, "checkout", "214")
    assert code == 0 and "room 214: Martin, Alice, reservation 880123" in out and f"total {folio['total']}" in out
    code, out = run(root, "checkout", "214")
    assert code == 1 and "has no guest checked in" in out
    code, out = run(root, "folio", "214", "--reservation", "880123", "--json")
    assert json.loads(out)["checkout"] is not None
    code, out = run(root, "late-charges")
    assert code == 0 and "no late charges" in out
    code, out = run(root, "rooms")
    assert code == 0 and "2 rooms, 0 occupied" in out
    code, out = run(root, "postings")
    assert code == 0 and "no postings" in out


def test_not_a_hotel_and_bad_times(tmp_path: Path) -> None:
    plain = make_workspace(tmp_path / "plain")
    code, out = run(plain, "rooms")
    assert code == 1 and "this workspace is not a hotel" in out
    root = make_workspace(tmp_path / "hotel", extra=HOTEL)
    code, out = run(root, "checkin", "214", "--guest", "X", "--at", "yesterday")
    assert code == 1 and "is not a date and time" in out
    code, out = run(root, "checkin", "214", "--guest", "X", "--at", "0001-01-01T00:00")  # it printed "at -621..."
    assert code == 1 and "--at '0001-01-01T00:00': give a time in the years 1970 to 2099" in out, out
    code, out = run(root, "checkin", "214", "--guest", " ")
    assert code == 1 and "--guest: give the guest's name" in out, out
    code, out = run(root, "checkin", "214", "--guest", "Martin, Alice", "--at", earlier(60))
    assert code == 0, out
    before = earlier(120)
    code, out = run(root, "checkout", "214", "--at", before)  # it was moved to the check-in, unsaid
    assert code == 1 and f"--at {before} is before the guest's check-in at" in out, out
    code, out = run(root, "checkout", "214", "--at", earlier(30))
    assert code == 0, out
    code, out = run(root, "folio", "305")
    assert code == 1 and "room 305 has had no guest" in out


def test_serve_check_with_a_pms(tmp_path: Path) -> None:
    root = make_workspace(tmp_path, extra=HOTEL + '[pms]\nprotocol = "fias"\nconnect = "127.0.0.1:5010"\n')
    result = CliRunner().invoke(main, ["--workspace", str(root), "serve", "--check"])
    assert result.exit_code == 0, result.output
    bad = make_workspace(tmp_path / "bad", extra='[hotel]\nsurcharge = "x"\n')
    result = CliRunner().invoke(main, ["--workspace", str(bad), "serve", "--check"])
    assert result.exit_code == 1 and "surcharge" in result.output
