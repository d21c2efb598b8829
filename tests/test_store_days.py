"""The day summary (store/days.py) always equals the calls it summarises, through every writer, and an older store
is upgraded to it (after a backup) without losing a call."""

from __future__ import annotations

import datetime as dt
import sqlite3
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store import days
from store.db import CALL_COLUMNS, MIGRATIONS, SCHEMA_VERSION, open_existing, open_store

ZONES = {"paris": "Europe/Paris", "delhi": "Asia/Kolkata", "kathmandu": "Asia/Kathmandu"}
INSERT = f"INSERT INTO calls ({', '.join(CALL_COLUMNS)}) VALUES ({', '.join('?' * len(CALL_COLUMNS))})"
T0 = int(dt.datetime(2026, 10, 24, 20, 0, tzinfo=dt.timezone.utc).timestamp())  # the night Paris leaves summer time


def row(i: int, *, site: str = "paris", start: int = T0, extension: str | None = "1001", cost: int | None = 5_000_000,
        currency: str | None = "EUR", billed: int = 1, status: str = "rated", billable: int = 60, grp: str = "",
        number: str = "+33612345678", direction: str = "outgoing") -> tuple:
    values = dict.fromkeys(CALL_COLUMNS)
    values.update(source=f"src-{site}", site=site, native_id=f"n{i}", leg="", grp=grp, start=start, duration=billable,
                  billable=billable, direction=direction, disposition="answered", extension=extension,
                  number=number, number_kind="external", billed=billed, status=status, cost=cost,
                  currency=currency, destination="France mobile" if cost is not None else None,
                  billed_seconds=billable if cost is not None else None)
    return tuple(values[c] for c in CALL_COLUMNS)


def expected(conn: sqlite3.Connection) -> dict[tuple, tuple]:
    """call_days recomputed in Python from the calls, each day from zoneinfo (not from tz_offsets)."""
    zones = dict(conn.execute("SELECT name, timezone FROM sites"))
    out: dict[tuple, list[int]] = {}
    for (site, start, ext, direction, kind, dest, status, cur, billed, billable, bsec, cost) in conn.execute(
            "SELECT site, start, extension, direction, number_kind, destination, status, currency, billed, billable, "
            "billed_seconds, cost FROM calls"):
        zone = ZoneInfo(zones.get(site, "UTC"))
        local = dt.datetime.fromtimestamp(start, zone).date()
        day = (local - dt.date(1970, 1, 1)).days
        key = (site, day, ext or "", direction, kind, dest or "", status, cur or "", billed)
        acc = out.setdefault(key, [0] * 6)
        for k, v in enumerate((1, billable > 0, billable, bsec or 0, cost is not None, cost or 0)):
            acc[k] += int(v)
    return {k: tuple(v) for k, v in out.items()}


def stored(conn: sqlite3.Connection) -> dict[tuple, tuple]:
    cols = ", ".join(days.KEY + days.VALUES)
    return {r[:9]: r[9:] for r in conn.execute(f"SELECT {cols} FROM call_days")}


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "anatole.db")
    for name, zone in ZONES.items():
        s.upsert_site(name, "FR", zone, None)
    yield s
    s.close()


def test_offsets_follow_the_zone_to_the_second():
    paris = dict(days.offsets("Europe/Paris"))
    autumn = int(dt.datetime(2026, 10, 25, 1, 0, tzinfo=dt.timezone.utc).timestamp())
    spring = int(dt.datetime(2026, 3, 29, 1, 0, tzinfo=dt.timezone.utc).timestamp())
    assert paris[autumn] == 3600 and paris[spring] == 7200
    assert [o for _, o in days.offsets("Asia/Kathmandu")][-1] == 5 * 3600 + 45 * 60
    assert days.offsets("UTC") == [(days.FIRST, 0)]


def test_days_are_the_sites_own(store):
    # 22:30 UTC on 24 Oct is the 25th in Paris (UTC+2), 04:00 the 26th in Delhi; 23:30 UTC on the 25th is the 26th
    # in Paris (UTC+1 after the change) and in Kathmandu (UTC+5:45)
    late = T0 + 2 * 3600 + 1800
    store.insert_calls([row(1, start=late), row(2, site="delhi", start=late),
                        row(3, start=late + 86400 + 3600), row(4, site="kathmandu", start=late + 86400 + 3600)])
    assert stored(store.conn) == expected(store.conn)
    assert {k[1] for k in stored(store.conn)} == {20751, 20752}
    assert days.local_day(store.conn, "paris", late) == 20751


def test_every_writer_keeps_the_summary(store):
    rows = [row(i, start=T0 + 300 * i - 290 * (i % 2), extension=f"10{i % 3}",
                cost=None if i % 5 == 0 else 1_000_000 * i, status="unrated" if i % 5 == 0 else "rated",
                grp=f"g{i // 2}") for i in range(40)]
    assert store.insert_calls(rows) == 40
    assert store.insert_calls(rows[:10]) == 0  # duplicates change nothing
    assert stored(store.conn) == expected(store.conn)
    # re-rating: new costs and statuses
    ids = [r[0] for r in store.conn.execute("SELECT id FROM calls ORDER BY id LIMIT 7")]
    store.update_ratings([("rated", "t", "+33", "France", "peak", 60, 42, "GBP", T0, i) for i in ids], [])
    assert stored(store.conn) == expected(store.conn)
    # merged legs: same group and number, overlapping
    assert store.merge_overlapping_legs("src-paris", [f"g{i}" for i in range(20)]) > 0
    assert stored(store.conn) == expected(store.conn)
    # archiving the newest calls, then new ones: they take the freed ids and are summarised
    assert store.delete_calls(T0 + 300 * 30, T0 + 300 * 40, "paris") == 10
    assert stored(store.conn) == expected(store.conn)
    store.insert_calls([row(100 + i, start=T0 + 300 * (30 + i)) for i in range(3)])
    assert stored(store.conn) == expected(store.conn)
    assert sum(v[0] for v in stored(store.conn).values()) == 33


def test_a_site_moving_zone_gets_its_days_again(store):
    store.insert_calls([row(i, start=T0 + 3 * 3600 + 60 * i) for i in range(3)])  # 23:00 UTC: the 25th in Paris
    store.upsert_site("paris", "FR", "America/New_York", None)  # the 24th there
    assert stored(store.conn) == expected(store.conn)
    assert {k[1] for k in stored(store.conn)} == {20750}


def test_calls_written_around_the_store_are_folded_in_at_open(tmp_path):
    path = tmp_path / "anatole.db"
    s = open_store(path)
    s.upsert_site("paris", "FR", "Europe/Paris", None)
    with s.conn:  # what a benchmark's bulk load or an old tool does: no summary
        s.conn.executemany(INSERT, [row(i) for i in range(5)])
    s.close()
    s = open_store(path)
    assert stored(s.conn) == expected(s.conn) and sum(v[0] for v in stored(s.conn).values()) == 5


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(list(ZONES)), st.integers(0, 4 * 86400), st.sampled_from(["1", "2", None]),
                          st.one_of(st.none(), st.integers(0, 10**9)), st.sampled_from([0, 1]),
                          st.sampled_from(["EUR", "USD", None])), min_size=1, max_size=30),
       st.integers(0, 40), st.integers(0, 4 * 86400))
def test_summary_equals_the_calls_whatever_happens(tmp_path_factory, calls, cut, archive_from):
    s = open_store(tmp_path_factory.mktemp("h") / "anatole.db")
    for name, zone in ZONES.items():
        s.upsert_site(name, "FR", zone, None)
    rows = [row(i, site=site, start=T0 + t, extension=ext, cost=cost, billed=billed, currency=cur)
            for i, (site, t, ext, cost, billed, cur) in enumerate(calls)]
    s.insert_calls(rows[:cut])
    s.insert_calls(rows[cut:])
    ids = [r[0] for r in s.conn.execute("SELECT id FROM calls WHERE id % 2 = 0")]
    s.update_ratings([("rated", "t", "+33", "x", "peak", 1, 7, "EUR", T0, i) for i in ids], [])
    s.delete_calls(T0 + archive_from, T0 + 5 * 86400)
    s.insert_calls(rows[:3])
    assert stored(s.conn) == expected(s.conn)
    s.close()


def test_an_older_store_is_backed_up_then_upgraded(tmp_path, capsys):
    path = tmp_path / "anatole.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    for version, sql in enumerate(MIGRATIONS[:2], 1):  # what anatole wrote before the day summary
        conn.executescript(f"BEGIN; {sql}; INSERT OR REPLACE INTO schema_versions VALUES ('calls', {version}); COMMIT;"
                           if version > 1 else "CREATE TABLE schema_versions (component TEXT PRIMARY KEY, "
                           f"version INTEGER NOT NULL); BEGIN; {sql}; INSERT INTO schema_versions VALUES ('calls', 1); "
                           "COMMIT;")
    conn.execute("INSERT INTO sites (name, country, timezone) VALUES ('paris', 'FR', 'Europe/Paris')")
    conn.executemany(INSERT, [row(i, start=T0 + 3600 * i) for i in range(50)])
    conn.commit()
    before = conn.execute("SELECT * FROM calls ORDER BY id").fetchall()
    conn.close()

    s = open_existing(path)  # the console opens it the same way as the CLI
    err = capsys.readouterr().err
    assert "from layout 2 to" in err and "backup verified at" in err
    backups = list((tmp_path / "backups").glob("anatole-*.db"))
    assert len(backups) == 1
    old = sqlite3.connect(backups[0])
    assert old.execute("SELECT version FROM schema_versions WHERE component = 'calls'").fetchone() == (2,)
    assert old.execute("SELECT COUNT(*) FROM calls").fetchone() == (50,)
    assert s.version() == SCHEMA_VERSION
    assert s.conn.execute("SELECT * FROM calls ORDER BY id").fetchall() == before
    assert stored(s.conn) == expected(s.conn)
    s.close()
    open_store(path).close()  # already upgraded: no second backup
    assert len(list((tmp_path / "backups").glob("anatole-*.db"))) == 1


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(list(ZONES)), st.integers(0, 4 * 86400), st.sampled_from(["1", "2", None]),
                          st.one_of(st.none(), st.integers(0, 10**9)), st.sampled_from([0, 1]),
                          st.sampled_from(["EUR", "USD", None]), st.sampled_from(["outgoing", "incoming"])),
                max_size=30),
       st.integers(0, 30), st.one_of(st.none(), st.integers(-86400, 5 * 86400)),
       st.one_of(st.none(), st.integers(0, 6 * 86400)),
       st.fixed_dictionaries({}, optional={"site": st.sampled_from(list(ZONES)),
                                           "extension": st.sampled_from(["1", "2"]), "direction": st.just("outgoing"),
                                           "status": st.just("rated")}))
def test_totals_from_the_summary_equal_the_calls(tmp_path_factory, calls, around, lo, span, filters):
    s = open_store(tmp_path_factory.mktemp("t") / "anatole.db")
    for name, zone in ZONES.items():
        s.upsert_site(name, "FR", zone, None)
    rows = [row(i, site=site, start=T0 + t, extension=ext, cost=cost, billed=billed, currency=cur, direction=way)
            for i, (site, t, ext, cost, billed, cur, way) in enumerate(calls)]
    s.insert_calls(rows[around:])
    with s.conn:  # some calls not summarised yet: written around the store
        s.conn.executemany(INSERT, rows[:around])
    period = {"start": None if lo is None else T0 + lo, "end": None if span is None or lo is None else T0 + lo + span}
    args = {**period, **filters}
    assert s.calls_totals(**args) == s.scan_totals(**args)
    s.close()


def test_totals_count_calls_not_summarised_yet_on_whole_days(store):
    rows = [row(i, start=T0 + i * 7200, extension=str(i % 2)) for i in range(60)]  # five days, every 2 h
    store.insert_calls(rows[30:])
    with store.conn:  # the first 30 written around the store: above the summary's watermark
        store.conn.executemany(INSERT, rows[:30])
    for filters in ({}, {"site": "paris"}, {"extension": "1"}, {"start": T0 + 86400, "end": T0 + 3 * 86400}):
        assert store.calls_totals(**filters) == store.scan_totals(**filters)
    assert store.calls_totals()["calls"] == 60


def test_calls_changed_by_hand_keep_the_summary(store):
    """An administrator's UPDATE or DELETE in the sqlite3 shell, not through the store: row triggers."""
    store.insert_calls([row(i, start=T0 + 3000 * i, extension=str(i % 3)) for i in range(40)])
    with store.conn:
        store.conn.execute("UPDATE calls SET cost = cost * 2, currency = 'GBP' WHERE id % 3 = 0")
        store.conn.execute("UPDATE calls SET start = start + 86400, site = 'delhi' WHERE id % 5 = 0")
        store.conn.execute("DELETE FROM calls WHERE id % 7 = 0")
    assert stored(store.conn) == expected(store.conn)
    assert store.conn.execute("SELECT paused FROM call_days_state").fetchone() == (0,)
