"""The live writer's durability and its fast paths (issue 17): one fsync per micro-batch (the journal's), a writer
batch lost in a power cut redone from the journal, durable commits where the journal cannot redo the work, call ids
without a read-back, journal marks as id ranges, the counters' local day from cached bounds."""

from __future__ import annotations

import datetime as dt
import random
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
import trio
from serve_support import daemon_for, ipo_line, make_workspace, running

from pbx.daemon import Ack, Bundle, Daemon, _local_midnight
from store.db import CALL_COLUMNS
from store.live import LiveStore, _runs

EXPENSIVE = '\n[[alert]]\nname = "expensive"\nwhen = "cost > 0.01"\n'


def _synchronous(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA synchronous").fetchone()[0])  # 1 NORMAL, 2 FULL


def _batch(daemon: Daemon, lines: list[str], other: list[Any] = ()) -> list[Any]:  # type: ignore[assignment]
    """Journal `lines` as one bundle of the IPO source and store them (the writer's steps, without trio); returns
    the events to publish."""
    live = daemon.live
    assert live is not None
    entries = [("line", line.encode()) for line in lines]
    bundle = Bundle("paris-ipo", "conn", time.time_ns() // 1000, entries)
    bundle.ids = live.append([(bundle.source, bundle.received, k, d) for k, d in entries])
    events: list[Any] = []
    daemon._store_units(daemon._prepare([bundle, *other]), events)
    return events


def _daemon(root: Path) -> Daemon:
    daemon = daemon_for(root)
    daemon.live = LiveStore(daemon.config.db_path)
    return daemon


def _begins(daemon: Daemon) -> list[bool]:
    """Record the `durable` flag of every batch transaction the daemon opens."""
    live = daemon.live
    assert live is not None
    seen: list[bool] = []
    begin = live.begin

    def recording(durable: bool = False) -> None:
        seen.append(durable)
        begin(durable)

    live.begin = recording  # type: ignore[method-assign]
    return seen


def test_the_journal_commits_with_fsync_and_the_writer_without(tmp_path: Path) -> None:
    live = LiveStore(tmp_path / "anatole.db")
    try:
        assert _synchronous(live.jconn) == 2 and _synchronous(live.conn) == 1
        live.begin(durable=True)
        live.commit()
        assert _synchronous(live.conn) == 2  # set before the transaction (SQLite refuses it inside one)
        live.begin()
        assert _synchronous(live.conn) == 1
        live.rollback()
    finally:
        live.close()


def test_a_writer_batch_lost_in_a_power_cut_is_stored_at_the_next_start(tmp_path: Path) -> None:
    """The disk after a power cut: the WAL as far as the journal's last fsync; the writer's batch after it (never
    fsynced) gone. The entries are pending again, and the next start stores each call once."""
    root = make_workspace(tmp_path / "ws")
    db = root / "anatole.db"
    daemon = _daemon(root)
    lines = [ipo_line(i) for i in range(6)]
    live = daemon.live
    assert live is not None
    live.append([("paris-ipo", time.time_ns() // 1000, "line", line.encode()) for line in lines])  # fsynced
    synced = (db.parent / "anatole.db-wal").read_bytes()
    daemon._store_units(daemon._units({("paris-ipo", "replay"): [
        (jid, r, k, bytes(d)) for jid, _s, r, k, d in live.pending()]}, []), [])  # the batch: committed, no fsync
    assert live.conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 6
    assert len((db.parent / "anatole.db-wal").read_bytes()) > len(synced)
    cut = make_workspace(tmp_path / "after")
    shutil.copy(db, cut / "anatole.db")
    (cut / "anatole.db-wal").write_bytes(synced)  # what the disk holds: no -shm, the WAL up to the last fsync
    live.close()
    with sqlite3.connect(cut / "anatole.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM journal WHERE done = 0").fetchone()[0] == 6

    async def restart() -> int:
        async with running(daemon_for(cut)) as again:
            return again.replayed

    assert trio.run(restart) == 6
    with sqlite3.connect(cut / "anatole.db") as conn:
        assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT native_id) FROM calls").fetchone() == (6, 6)
        assert conn.execute("SELECT COUNT(*) FROM journal WHERE done = 0").fetchone()[0] == 0


def test_a_batch_that_raises_an_alert_is_done_again_durably(tmp_path: Path) -> None:
    daemon = _daemon(make_workspace(tmp_path, extra=EXPENSIVE))
    begins = _begins(daemon)
    _batch(daemon, [ipo_line(1, seconds=1)])  # 1 s: under the rule's 0.01
    assert begins == [False]
    events = _batch(daemon, [ipo_line(2, seconds=600)])
    assert begins == [False, False, True]  # rolled back when the alert appeared, done again with an fsync
    live = daemon.live
    assert live is not None
    assert live.conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 2
    assert live.conn.execute("SELECT COUNT(*) FROM alerts").fetchone()[0] == 1
    assert [type(e).__name__ for e in events] == ["FinishedCall", "Alert"]  # published once
    assert daemon.stored_calls == 2 and daemon.duplicates == 0
    live.close()


def test_an_acknowledgement_is_committed_durably(tmp_path: Path) -> None:
    daemon = _daemon(make_workspace(tmp_path, extra=EXPENSIVE))
    _batch(daemon, [ipo_line(1, seconds=600)])
    live = daemon.live
    assert live is not None
    (alert,) = [i for (i,) in live.conn.execute("SELECT id FROM alerts")]
    begins = _begins(daemon)
    events = _batch(daemon, [ipo_line(2, seconds=1)], [Ack(alert, "alice")])
    assert begins == [True]
    assert [type(e).__name__ for e in events] == ["FinishedCall", "AlertAcknowledged"]
    assert live.conn.execute("SELECT acknowledged_by FROM alerts").fetchone()[0] == "alice"
    live.close()


@pytest.mark.parametrize("fast", [True, False], ids=["insert_rows", "executemany"])
def test_call_ids_without_a_read_back_and_with_duplicates(tmp_path: Path, monkeypatch: Any, fast: bool) -> None:
    from store import live as live_module

    monkeypatch.setattr(live_module, "FAST_INSERTS", fast)
    monkeypatch.setattr(live_module, "FAST_CHUNK", 2)  # batches over several insert_rows calls
    live = LiveStore(tmp_path / "anatole.db")

    def row(native: str, leg: str = "") -> tuple:
        r = dict.fromkeys(CALL_COLUMNS)
        r.update(source="s", site="paris", native_id=native, leg=leg, grp="", start=100, duration=10, billable=10,
                 direction="outgoing", disposition="answered", number_kind="external", billed=1, status="rated")
        return tuple(r.values())

    live.begin()
    first = live.call_ids([row("1"), row("2"), row("3")])  # all new: ids from last_insert_rowid
    again = live.call_ids([row("4"), row("2"), row("4"), row("5", "b")])  # a stored key, a repeat in the batch
    live.commit()
    assert again[1] is None and again[2] is None
    stored = dict(live.conn.execute("SELECT id, native_id || leg FROM calls"))
    assert {i: stored[i] for i in first} == dict(zip(first, ["1", "2", "3"]))
    assert stored[again[0]] == "4" and stored[again[3]] == "5b"
    assert live.call_ids([]) == []
    live.begin()
    bad = dict(zip(CALL_COLUMNS, row("7")))
    with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"):  # the same error either way: a reject
        live.call_ids([row("6"), row("8"), tuple({**bad, "site": None}.values())])
    live.rollback()
    ids = live.append([("s", 1, "line", b"\x00\xffbytes"), ("s", 2, "line", b"x")])
    assert [bytes(d) for (d,) in live.conn.execute("SELECT data FROM journal WHERE id IN (?, ?) ORDER BY id",
                                                     ids)] == [b"\x00\xffbytes", b"x"]
    live.close()


def test_journal_marks_as_runs_of_ids(tmp_path: Path) -> None:
    marks = [("call", 5), ("call", 3), ("call", 4), ("reject", 6), ("call", 7), ("call", 9), ("skipped", 10)]
    assert _runs(marks) == [("call", 3, 5), ("reject", 6, 6), ("call", 7, 7), ("call", 9, 9), ("skipped", 10, 10)]
    live = LiveStore(tmp_path / "anatole.db")
    ids = live.append([("s", 0, "line", b"x")] * 12)
    rng = random.Random(17)
    marks = [(rng.choice(("call", "duplicate", "reject")), i) for i in ids if i % 4 != 0]  # every 4th pending
    live.begin()
    live.mark_done(marks)
    live.commit()
    got = dict(live.conn.execute("SELECT id, COALESCE(outcome, 'pending') FROM journal"))
    assert got == {i: dict((j, o) for o, j in marks).get(i, "pending") for i in ids}
    live.close()


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/Santiago", "Australia/Lord_Howe", "UTC"])
def test_the_counters_local_date_from_cached_day_bounds(tmp_path: Path, zone: str) -> None:
    """Over two years (DST both ways, half-hour shifts), in time order and shuffled: the cached bounds give the
    date the zone gives."""
    from pbx.alerts import SiteInfo

    daemon = daemon_for(make_workspace(tmp_path), sites={"paris": SiteInfo(timezone=zone, country_code="33")})
    rng = random.Random(zone)
    base = 1_700_000_000
    times = sorted(base + rng.randrange(0, 2 * 366 * 86400) for _ in range(3000))
    times += [t + d for t in (1_711_846_800, 1_729_990_800) for d in range(-7200, 7200, 900)]  # Paris' changes
    for when in times + rng.sample(times, len(times)):
        assert daemon._date("paris", when) == _local_midnight(when, zone)[1], when


def test_the_day_summary_follows_the_live_writer(tmp_path: Path) -> None:
    """call_days, kept by the writer in each batch's transaction (new calls, duplicates, a call in the first hour
    of a local day), equals call_days rebuilt from the stored calls."""
    from store import days
    from store.db import open_store

    root = make_workspace(tmp_path)
    store = open_store(root / "anatole.db")
    store.upsert_site("paris", "FR", "Europe/Paris", None)
    store.close()
    daemon = _daemon(root)
    _batch(daemon, [ipo_line(i, seconds=30 * i) for i in range(5)])
    _batch(daemon, [ipo_line(3, seconds=90), ipo_line(7), ipo_line(8, hour=0), ipo_line(9, day=15, hour=0)])
    live = daemon.live
    assert live is not None
    query = f"SELECT {', '.join(days.KEY + days.VALUES)} FROM call_days ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9"
    kept = live.conn.execute(query).fetchall()
    assert sum(r[len(days.KEY)] for r in kept) == 8  # calls: 5 + 3 new (one duplicate)
    march_14 = (dt.date(2025, 3, 14) - dt.date(1970, 1, 1)).days  # 00:xx in Paris: that day, not the UTC day before
    assert {r[1] for r in kept} == {march_14, march_14 + 1}
    live.conn.execute("BEGIN IMMEDIATE")
    days.rebuild(live.conn)
    assert live.conn.execute(query).fetchall() == kept
    live.rollback()
    live.close()
