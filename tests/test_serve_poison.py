"""No single record stops the live daemon (issue 13 item 1): a record that raises while it is parsed, rated,
stored, checked by an alert rule or charged by an extension is stored as a reject with the error, or stored without
that step; the error is a JSON log line and counts in Status.errors; the batch and the daemon go on. The same at
start, when the journal is replayed. Display helpers never raise on a legitimate amount."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
import trio
from click.testing import CliRunner
from serve_support import Client, daemon_for, ipo_line, make_workspace, running, send_lines, settle

from anatole.cli import main
from pbx.protocol import Alert
from store.live import LiveStore

RULE = """
[[alert]]
name = "expensive"
when = "cost > 0.01"
"""


def _log(daemon: Any) -> list[dict[str, Any]]:
    return [json.loads(x) for x in daemon.config.log.getvalue().splitlines()]


def _db(root: Path) -> sqlite3.Connection:
    return sqlite3.connect(root / "anatole.db")


@pytest.mark.trio
async def test_a_cost_alert_on_a_four_decimal_cost_is_raised_and_shown(tmp_path: Path) -> None:
    # the demo's case: a tariff rounding to 4 decimals, a `cost > X` rule; format_money used to raise here
    root = make_workspace(tmp_path, extra=RULE)
    lines = [ipo_line(i, seconds=61 + 7 * i) for i in range(6)]
    daemon = daemon_for(root)
    with trio.fail_after(20):
        async with running(daemon):
            client = await Client.connect(root / "anatole.sock", ["alerts"])
            await send_lines(daemon.ports["paris-ipo"], lines)
            alerts = await client.wait_for(Alert, len(lines))
            await settle(daemon, len(lines))
            await client.aclose()
            status = await trio.to_thread.run_sync(
                lambda: CliRunner().invoke(main, ["--workspace", str(root), "status"]))
            assert status.exit_code == 0, status.output
            assert "cost today: none" in status.output  # (calls of 2025: not today)
            assert daemon.errors == 0 and daemon.stored_calls == len(lines)
    with _db(root) as conn:
        costs = [c for (c,) in conn.execute("SELECT cost FROM calls ORDER BY id")]
    unrounded = [c for c in costs if c % 1_000_000]
    assert unrounded, "the sample tariff should give costs with more than 2 decimals"
    for alert in alerts:
        assert alert.amount in costs and alert.currency == "EUR"
    exact = f"{unrounded[0] // 10**8}.{unrounded[0] % 10**8:08d}".rstrip("0")
    assert any(exact in a.message for a in alerts)  # every significant decimal shown
    result = CliRunner().invoke(main, ["--workspace", str(root), "alerts", "--open"])
    assert result.exit_code == 0, result.output
    assert "expensive" in result.output and exact in result.output


class _Failing:
    """An extension whose step raises for one extension's calls."""

    def __init__(self, extension: str) -> None:
        self.extension = extension
        self.seen: list[int] = []

    def stored(self, conn: sqlite3.Connection, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for c in calls:
            if c["extension"] == self.extension:
                raise ValueError(f"cannot charge extension {self.extension}")
        self.seen += [c["id"] for c in calls]
        return []


@pytest.mark.trio
async def test_a_record_that_raises_in_each_stage_costs_that_record_only(tmp_path: Path) -> None:
    root = make_workspace(tmp_path, extra=RULE)
    daemon = daemon_for(root)
    ext = _Failing("2077")
    daemon.config.extensions.append(ext)
    rate = daemon.config.rate

    def poisoned_rate(source: str, records: list) -> list[tuple]:
        if any(r.native_id == "2000003" for r in records):
            raise ZeroDivisionError("rating blew up")
        rows = rate(source, records)
        # a row that breaks a NOT NULL rule of the calls table (must not pass for a duplicate)
        return [(r[0], None, *r[2:]) if r[4] == "2000004" else r for r in rows]

    daemon.config.rate = poisoned_rate
    call = daemon.evaluator.call

    def poisoned_call(row: dict[str, Any]) -> list[dict[str, Any]]:
        if row["native_id"] == "2000005":
            raise KeyError("alert rule blew up")
        return call(row)

    daemon.evaluator.call = poisoned_call  # type: ignore[method-assign]
    parsers = daemon._parsers["paris-ipo"]
    parse = parsers.parse

    def poisoned_parse(conn: Any, entries: list) -> list:
        if any(b"POISON" in e[3] for e in entries):
            raise RuntimeError("parser blew up")
        return parse(conn, entries)

    parsers.parse = poisoned_parse  # type: ignore[method-assign]
    lines = [ipo_line(i, seconds=61 + 7 * i) for i in range(2, 7)]  # 2000002..2000006
    lines.insert(1, "2025/03/14 10:15:02,POISON")
    lines.append(ipo_line(7, ext="2077"))  # its extension step raises
    with trio.fail_after(20):
        async with running(daemon):
            await send_lines(daemon.ports["paris-ipo"], lines)
            await settle(daemon, len(lines))
            # still serving: another record is stored
            await send_lines(daemon.ports["paris-ipo"], [ipo_line(8)])
            await settle(daemon, len(lines) + 1)
            status = daemon.status()
    assert status.errors == 5 and daemon.errors == 5
    errors = [e for e in _log(daemon) if e["event"] == "error"]
    assert sorted(e["where"] for e in errors) == ["_Failing", "alert", "parse", "rate", "store"]
    with _db(root) as conn:
        calls = dict(conn.execute("SELECT native_id, id FROM calls"))
        rejects = [r for (r,) in conn.execute("SELECT reason FROM rejects ORDER BY id")]
        outcomes = dict(conn.execute("SELECT outcome, COUNT(*) FROM journal GROUP BY outcome"))
        alerted = {c for (c,) in conn.execute("SELECT call_id FROM alerts")}
    # stored: 2000002, 2000005 (without its alert), 2000006, 2000007 (without its extension step), 2000008
    assert set(calls) == {"2000002", "2000005", "2000006", "2000007", "2000008"}
    assert len(rejects) == 3
    assert any(r.startswith("parser error: RuntimeError: parser blew up") for r in rejects)
    assert any(r.startswith("rating error: ZeroDivisionError") for r in rejects)
    assert any("NOT NULL constraint failed: calls.site" in r for r in rejects)
    assert outcomes == {"call": 5, "reject": 3}  # nothing counted as a duplicate, nothing left pending
    assert calls["2000005"] not in alerted and calls["2000006"] in alerted
    assert calls["2000007"] not in ext.seen and calls["2000008"] in ext.seen


@pytest.mark.trio
async def test_the_replay_at_start_isolates_a_poison_entry(tmp_path: Path) -> None:
    # a crash left records in the journal, one of which raises when rated: the daemon starts all the same
    root = make_workspace(tmp_path, extra=RULE)
    daemon_for(root)  # creates the database
    live = LiveStore(root / "anatole.db")
    now = time.time_ns() // 1000
    live.append([("paris-ipo", now, "line", ipo_line(i, seconds=61 + 7 * i).encode()) for i in range(5)])
    live.close()
    daemon = daemon_for(root)
    rate = daemon.config.rate

    def poisoned_rate(source: str, records: list) -> list[tuple]:
        if any(r.native_id == "2000002" for r in records):
            raise ValueError("poison")
        return rate(source, records)

    daemon.config.rate = poisoned_rate
    with trio.fail_after(20):
        async with running(daemon):
            assert daemon.replayed == 5 and daemon.errors == 1
    with _db(root) as conn:
        assert conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 4
        assert conn.execute("SELECT COUNT(*) FROM journal WHERE done = 0").fetchone()[0] == 0
        (reason,) = conn.execute("SELECT reason FROM rejects").fetchone()
        assert conn.execute("SELECT COUNT(*) FROM alerts").fetchone()[0] == 4
    assert reason == "rating error: ValueError: poison"


def test_a_duplicate_is_told_apart_from_a_constraint_failure(tmp_path: Path) -> None:
    from store.db import CALL_COLUMNS

    live = LiveStore(tmp_path / "anatole.db")
    row = dict.fromkeys(CALL_COLUMNS)
    row.update(source="s", site="paris", native_id="1", leg="", grp="", start=100, duration=10, billable=10,
               direction="outgoing", disposition="answered", number_kind="external", billed=1, status="rated")
    live.begin()
    assert len(live.insert_calls([tuple(row.values())])) == 1
    assert live.insert_calls([tuple(row.values())]) == {}  # the same key again: a duplicate, skipped
    with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"):
        live.insert_calls([tuple({**row, "native_id": "2", "site": None}.values())])
    live.rollback()
    live.close()


def test_the_journal_is_pruned_in_bounded_steps(tmp_path: Path) -> None:
    live = LiveStore(tmp_path / "anatole.db")
    old = (int(time.time()) - 30 * 86400) * 1_000_000
    ids = live.append([("s", old, "line", b"x")] * 25)
    live.begin()
    live.mark_done([("call", i) for i in ids[:-3]])  # the last three are still pending
    live.commit()
    assert [live.prune(7, 10), live.prune(7, 10), live.prune(7, 10)] == [10, 10, 2]
    assert live.journal_counts() == {"pending": 3, "done": 0}
    live.close()


def test_merging_overlapping_legs_is_part_of_the_batch_transaction(tmp_path: Path) -> None:
    from store.db import CALL_COLUMNS

    live = LiveStore(tmp_path / "anatole.db")
    row = dict.fromkeys(CALL_COLUMNS)
    row.update(source="s", site="paris", native_id="1", leg="a", grp="g1", start=100, duration=70, billable=60,
               direction="outgoing", disposition="answered", number="33155501234", number_kind="external",
               billed=1, status="rated", cost=10)
    live.begin()
    live.insert_calls([tuple(row.values()), tuple({**row, "leg": "b", "billable": 30}.values())])
    live.merge_overlapping_legs("s", ["g1"])
    assert live.conn.in_transaction  # not committed half-way: the batch commits or rolls back as a whole
    assert live.conn.execute("SELECT leg, billed FROM calls ORDER BY leg").fetchall() == [("a", 1), ("b", 0)]
    live.rollback()
    assert live.conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 0
    live.close()


@pytest.mark.trio
async def test_a_database_that_keeps_failing_at_start_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    from pbx.daemon import DaemonError

    root = make_workspace(tmp_path)
    live = LiveStore(root / "anatole.db")
    live.append([("paris-ipo", time.time_ns() // 1000, "line", ipo_line(0).encode())])
    live.close()
    daemon = daemon_for(root)

    def broken(units: list, events: list) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    daemon._store_units = broken  # type: ignore[method-assign]
    with trio.fail_after(20), pytest.raises(DaemonError, match="disk I/O error"):
        await daemon.run(signals=False)
    assert not (root / "anatole.sock").exists()
    with _db(root) as conn:  # the record stays pending for the next start
        assert conn.execute("SELECT COUNT(*) FROM journal WHERE done = 0").fetchone()[0] == 1
