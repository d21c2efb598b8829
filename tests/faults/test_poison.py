"""A record that raises in each stage of the daemon's writer (parse, rate, alert rule, hotel hook), live and in the
replay at start: it is stored (as a call without the failed step, or as a reject naming the error), the error is
counted, the batch around it and the records after it are stored, nothing twice, and the daemon still serves.

The faults are injected by wrapping the real stage for one marked record (Call ID 2000666): the stages' own
inputs cannot be made to fail on demand, and the point here is what the writer does when they do."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio
from fault_support import EXPENSIVE, check_store
from serve_support import daemon_for, daemon_status, ipo_line, make_workspace, running, send_lines, settle

from pbx import parsing
from pbx.daemon import Daemon
from store.live import LiveStore

pytestmark = pytest.mark.trio
POISON = 666  # ipo_line(666): Call ID 2000666
POISON_ID = str(2000000 + POISON)
STAGES = ("parse", "rate", "alert", "hook")


class Boom(Exception):
    pass


class Hook:
    """A daemon extension (as the hotel's charges are) that notes each stored call in its own table, in the
    writer's transaction, and raises on the poison call."""

    def stored(self, conn: sqlite3.Connection, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        conn.execute("CREATE TABLE IF NOT EXISTS hook_seen (call_id INTEGER PRIMARY KEY)")
        for d in calls:
            conn.execute("INSERT INTO hook_seen (call_id) VALUES (?)", (d["id"],))
            if d["native_id"] == POISON_ID:
                raise Boom("the hotel hook failed on this call")
        return []


def _poison(daemon: Daemon, stage: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `stage` raise on the poison record, for this daemon."""
    if stage == "parse":
        real_parse = parsing.SourceParsers.parse

        def parse(self: Any, conn: Any, entries: list[Any]) -> Any:
            if any(f",{POISON_ID},".encode() in e[3] for e in entries):
                raise Boom("the parser failed on this line")
            return real_parse(self, conn, entries)

        monkeypatch.setattr(parsing.SourceParsers, "parse", parse)
    elif stage == "rate":
        real_rate = daemon.config.rate

        def rate(source: str, records: list[Any]) -> list[tuple]:
            if any(r.native_id == POISON_ID for r in records):
                raise Boom("the rating failed on this record")
            return real_rate(source, records)

        daemon.config.rate = rate
    elif stage == "alert":
        real_call = daemon.evaluator.call

        def call(d: dict[str, Any]) -> list[dict[str, Any]]:
            if d["native_id"] == POISON_ID:
                raise Boom("the alert rule failed on this call")
            return real_call(d)

        monkeypatch.setattr(daemon.evaluator, "call", call)
    else:
        daemon.config.extensions.append(Hook())


def _check(root: Path, stage: str, good: list[int]) -> None:
    counts = check_store(root)
    conn = sqlite3.connect(root / "anatole.db")
    try:
        ids = {n for (n,) in conn.execute("SELECT native_id FROM calls")}
        assert {str(2000000 + i) for i in good} <= ids
        alerted = {n for (n,) in conn.execute(
            "SELECT c.native_id FROM alerts a JOIN calls c ON c.id = a.call_id WHERE a.rule = 'expensive'")}
        assert {str(2000000 + i) for i in good} <= alerted  # every good call raised its alert
        if stage in ("parse", "rate"):  # no call: a reject naming the error, with the raw line
            assert POISON_ID not in ids
            reasons = [r for (r,) in conn.execute("SELECT reason FROM rejects WHERE raw LIKE ?",
                                                  (f"%,{POISON_ID},%",))]
            assert len(reasons) == 1 and "Boom" in reasons[0], reasons
        else:  # the call is stored; only the failed step is missing
            assert POISON_ID in ids
            assert counts["rejects"] == 0
            if stage == "alert":
                assert POISON_ID not in alerted
            else:
                seen = {n for (n,) in conn.execute(
                    "SELECT c.native_id FROM hook_seen h JOIN calls c ON c.id = h.call_id")}
                assert seen == {str(2000000 + i) for i in good}  # the poison's step rolled back, no other
    finally:
        conn.close()
    assert counts["calls"] == len(good) + (stage in ("alert", "hook"))


@pytest.mark.parametrize("stage", STAGES)
async def test_a_record_that_raises_in_each_stage_is_isolated(tmp_path: Path, stage: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_workspace(tmp_path, extra=EXPENSIVE)
    daemon = daemon_for(root)
    _poison(daemon, stage, monkeypatch)
    good = [1, 2, 3, 4]
    with trio.fail_after(20):
        async with running(daemon):
            port = daemon.ports["paris-ipo"]
            # one batch holding the poison between good records
            await send_lines(port, [ipo_line(i, seconds=300) for i in (1, 2, POISON, 3)])
            await settle(daemon, 4)
            status = await daemon_status(root)
            assert status.errors >= 1 and status.journal_pending == 0
            await send_lines(port, [ipo_line(4, seconds=300)])  # the daemon goes on
            await settle(daemon, 5)
            assert daemon.stored_calls == len(good) + (stage in ("alert", "hook"))
    _check(root, stage, good)


@pytest.mark.parametrize("stage", STAGES)
async def test_a_poison_record_left_in_the_journal_does_not_stop_the_next_start(
        tmp_path: Path, stage: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What wedged the daemon for good in issue 13: a record that raises, pending in the journal at start."""
    root = make_workspace(tmp_path, extra=EXPENSIVE)
    live = LiveStore(root / "anatole.db")  # a crash left these journaled, not processed
    live.append([("paris-ipo", 1, parsing.LINE, ipo_line(i, seconds=300).encode()) for i in (1, POISON, 2)])
    live.close()
    daemon = daemon_for(root)
    _poison(daemon, stage, monkeypatch)
    with trio.fail_after(20):
        async with running(daemon):
            assert daemon.replayed == 3
            await send_lines(daemon.ports["paris-ipo"], [ipo_line(3, seconds=300)])
            await settle(daemon, 1)
            assert (await daemon_status(root)).journal_pending == 0
    _check(root, stage, [1, 2, 3])
