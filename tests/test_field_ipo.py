"""Avaya IP Office field patterns (issue 14): invented SMDR lines in tests/data/cdr/field/ipo-london.txt, one per
pattern seen in real captures (header lines, a transfer's trunk-to-trunk segment, impossible and short numbers),
each with its extension, direction, number, status and cost checked by hand; the row path, batch-rate and the live
daemon give the same calls.

Site London: GB, outside line 9, extensions 200-299; tariff +44 at 0.10 per started minute, +447 at 0.30, +33 at
0.20 (tests/field_support.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from field_support import DATA, every_path, make_workspace, money, outgoing_answered_share_with_extension
from serve_support import daemon_for, running, send_lines, settle

from store import open_store

FILE = DATA / "ipo-london.txt"

# line -> (extension, direction, number, status, cost); lines 1 and 9 are header lines (skipped, not rejected)
EXPECTED = {
    2: ("201", "outgoing", "441632960123", "rated", money("0.30")),  # 2:32 = 3 started minutes x 0.10
    3: ("202", "outgoing", None, "invalid", None),  # 9 then 01: the user hung up; never priced
    4: ("203", "incoming", "441632960777", "incoming", None),  # answered by 203 (more segments follow)...
    5: ("203", "outgoing", "447700900123", "rated", money("1.20")),  # ...who transferred it out: 3:01 = 4 x 0.30
    6: ("204", "internal", None, "internal", None),  # Is Internal 1
    7: ("205", "internal", None, "service", None),  # *17 voicemail: answered by the PBX itself
    8: ("206", "outgoing", None, "emergency", None),  # 9 then 999
    10: ("207", "outgoing", "33155667788", "rated", money("0.20")),  # R11 35-field line to Paris: 1 min x 0.20
    11: ("208", "incoming", "441632960999", "incoming", None),  # missed
    12: ("209", "outgoing", None, "service", None),  # 118 118 directory enquiries: a short number
    13: ("201", "outgoing", None, "invalid", None),  # 608966: too short for any UK number
}
ANSWERED = {2, 3, 4, 5, 6, 7, 8, 10, 12, 13}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("field-ipo"))


@pytest.fixture(scope="module")
def rows(workspace: Path) -> dict[int, tuple]:
    return every_path(workspace, FILE, "avaya-ipo", "london")


@pytest.mark.parametrize("line", sorted(EXPECTED))
def test_each_pattern(rows: dict[int, tuple], line: int) -> None:
    assert rows[line] == (line, *EXPECTED[line])


def test_header_lines_are_skipped_not_rejected(workspace: Path, rows: dict[int, tuple]) -> None:
    assert sorted(rows) == sorted(EXPECTED)  # every other line is a call: nothing rejected
    store = open_store(workspace / "import-False.db")
    try:
        assert list(store.rejects()) == []
    finally:
        store.close()


def test_nothing_internal_is_priced_and_outgoing_calls_carry_an_extension(rows: dict[int, tuple]) -> None:
    assert not [r for r in rows.values() if r[2] == "internal" and r[5] is not None]
    assert outgoing_answered_share_with_extension(rows, ANSWERED) >= 0.99


@pytest.mark.trio
async def test_the_live_daemon_stores_the_same_calls(tmp_path: Path, rows: dict[int, tuple]) -> None:
    """The file's lines sent by a simulated IP Office over TCP, header lines included: the same calls, the
    transfer's extension known from the earlier segment of the same connection."""
    root = make_workspace(tmp_path / "live")
    lines = FILE.read_text().splitlines()
    daemon = daemon_for(root)
    with trio.fail_after(20):
        async with running(daemon):
            await send_lines(daemon.ports["london-ipo"], lines)
            await settle(daemon, len(EXPECTED))
    store = open_store(root / "anatole.db")
    try:
        live = sorted(((r["extension"], r["direction"], r["number"], r["status"], r["cost"]) for r in store.calls()),
                      key=repr)
        assert list(store.rejects()) == []
    finally:
        store.close()
    assert live == sorted((r[1:] for r in rows.values()), key=repr)
