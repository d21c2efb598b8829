"""Allocation and report sums through the day summary (call_days) against the same sums over the calls, on a real
SQLite file: cuts at local midnight and mid-day, DST change days (one with the change at midnight), sites in
different zones, a site with no zone recorded, several currencies, unpriced calls, billed = 0 legs, NULL and ''
extensions, and calls written around the Store (not summarised yet). Every figure must be identical."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from store import CALL_COLUMNS, open_store
from store.reports import open_queries
from tem import allocation

SITES = {"paris": "Europe/Paris", "new-york": "America/New_York", "santiago": "America/Santiago",
         "howe": "Australia/Lord_Howe"}  # Santiago changes at midnight; Lord Howe by half an hour
UNRECORDED = "nowhere"  # no zone recorded: its days are UTC days


def midnight(day: str, zone: str) -> int:
    return allocation.local_midnight(day, zone)


def rows(n: int, seed: int, lo: int, hi: int, ids: int = 0) -> list[tuple[Any, ...]]:
    """Calls spread over [lo, hi), a third of them within minutes of some site's local midnight."""
    rng = random.Random(seed)
    marks = [midnight((dt.date(2026, 8, 25) + dt.timedelta(days=d)).isoformat(), z)
             for d in range(90) for z in ("UTC", *SITES.values())]
    out = []
    for i in range(n):
        site = rng.choice([*SITES, UNRECORDED])
        start = rng.choice(marks) + rng.randint(-300, 300) if rng.random() < 0.35 else rng.randrange(lo, hi)
        row = {c: None for c in CALL_COLUMNS}
        cost = rng.choice([None, 0, rng.randrange(1, 10**8), rng.randrange(10**6)])
        row.update(source=site, site=site, native_id=f"{ids + i}", leg="", grp="", start=start, duration=60,
                   billable=rng.choice([0, 0, rng.randrange(1, 900)]), disposition="answered",
                   direction=rng.choice(["outgoing", "outgoing", "incoming", "internal"]),
                   number_kind=rng.choice(["external", "internal", "emergency"]),
                   extension=rng.choice([None, "", "100", "101", "102"]), billed=rng.choice([1, 1, 1, 0]),
                   destination=rng.choice([None, "", "mobile", "national"]),
                   status="rated" if cost is not None else rng.choice(["no_rate", "service"]),
                   currency=rng.choice(["EUR", "EUR", "USD", "GBP", None]) if cost is not None else None,
                   cost=cost, number="33145678901")
        out.append(tuple(row[c] for c in CALL_COLUMNS))
    return out


@pytest.fixture(scope="module")
def queries(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path: Path = tmp_path_factory.mktemp("days") / "anatole.db"
    store = open_store(path)
    for name, zone in SITES.items():
        store.upsert_site(name, "FR", zone, None)
    lo, hi = midnight("2026-08-28", "UTC"), midnight("2026-11-05", "UTC")
    store.insert_calls(rows(6000, 1, lo, hi))
    # written around the Store: not in call_days (above its watermark) until the next summarise_new
    with store.conn:
        store.conn.executemany(f"INSERT INTO calls ({', '.join(CALL_COLUMNS)}) "
                               f"VALUES ({', '.join('?' * len(CALL_COLUMNS))})", rows(400, 2, lo, hi, ids=10**6))
    q = open_queries(store.conn)
    yield q
    store.close()


def by_key(found: list[tuple[str, str, int, int, int]]) -> dict[tuple[str, str, int], tuple[int, int]]:
    """call_costs keeps NULL and '' apart (one row each); the summary has them as one: compare the sums per key."""
    out: dict[tuple[str, str, int], tuple[int, int]] = {}
    for ext, cur, seg, cost, n in found:
        a, b = out.get((ext, cur, seg), (0, 0))
        out[(ext, cur, seg)] = (a + cost, b + n)
    return out


def cuts(zone: str) -> list[tuple[str, int, int, list[int]]]:
    """(what, start, end, boundaries) of one site: months and cuts at its midnights, mid-day, other zones' midnights
    and the DST change days."""
    month = (midnight("2026-10-01", zone), midnight("2026-11-01", zone))
    sept = (midnight("2026-09-01", zone), midnight("2026-10-01", zone))
    local = [midnight(d, zone) for d in ("2026-10-16", "2026-10-25", "2026-10-26", "2026-11-01")]
    return [
        ("month, no cut", *month, []),
        ("month, local midnights (DST days)", *month, local),
        ("september, Santiago's midnight change", *sept, [midnight("2026-09-06", zone), midnight("2026-09-07", zone)]),
        ("month, mid-day cuts", *month, [month[0] + 86400 * 3 + 4321, month[0] + 86400 * 17 + 7 * 3600]),
        ("month, UTC midnights", *month, [midnight("2026-10-10", "UTC"), midnight("2026-10-25", "UTC")]),
        ("UTC month, New York cuts", midnight("2026-10-01", "UTC"), midnight("2026-11-01", "UTC"),
         [midnight("2026-10-31", "America/New_York"), midnight("2026-11-01", "America/New_York")]),
        ("mid-day to mid-day", month[0] + 5000, month[1] - 5000, [month[0] + 86400 * 25 + 1800]),
        ("an empty range", month[0], month[0], []),
    ]


@pytest.mark.parametrize("site", [*SITES, UNRECORDED])
def test_call_costs_from_the_summary_equal_the_calls(queries: Any, site: str) -> None:
    zone = SITES.get(site, "UTC")
    for what, start, end, bounds in cuts(zone):
        expected = by_key(queries.call_costs(site, start, end, bounds))
        found = queries.call_costs_summary(site, start, end, bounds)
        assert by_key(found) == expected, (site, what)
        assert len({(e, c, s) for e, c, s, _, _ in found}) == len(found)
    assert sum(n for *_, n in queries.call_costs(site, *cuts(zone)[0][1:])) > 50  # the data covers each site


def test_local_midnight_cuts_read_no_call(queries: Any) -> None:
    """Cuts at the site's own midnights, DST days included: every day comes from call_days."""
    for site, zone in SITES.items():
        start, end = midnight("2026-10-01", zone), midnight("2026-11-01", zone)
        whole, parts = queries.day_plan(site, start, end, [midnight(d, zone) for d in ("2026-10-25", "2026-11-01")])
        assert parts == [] and len(whole) == 31, site
        assert sorted(set(whole.values())) == [0, 1]
    start, end = midnight("2026-09-01", "America/Santiago"), midnight("2026-10-01", "America/Santiago")
    whole, parts = queries.day_plan("santiago", start, end, [midnight("2026-09-06", "America/Santiago")])
    assert parts == [] and len(whole) == 30


def test_mid_day_cut_reads_only_that_day(queries: Any) -> None:
    zone = SITES["paris"]
    start, end = midnight("2026-10-01", zone), midnight("2026-11-01", zone)
    cut = midnight("2026-10-25", zone) + 5 * 3600  # the DST day (23 hours), five hours in
    whole, parts = queries.day_plan("paris", start, end, [cut])
    assert parts == [(midnight("2026-10-25", zone), midnight("2026-10-26", zone))]
    assert len(whole) == 30


@pytest.mark.parametrize("by", ["site", "extension", "destination", "direction", "status"])
@pytest.mark.parametrize("where", ["", "outgoing", "international"])
def test_call_groups_from_the_summary_equal_the_calls(queries: Any, by: str, where: str) -> None:
    for start, end in ((midnight("2026-10-01", "Europe/Paris"), midnight("2026-11-01", "America/New_York")),
                       (midnight("2026-09-01", "UTC") + 777, midnight("2026-10-29", "UTC") - 999)):
        found = queries.call_groups(start, end, by, where=where)
        assert found == queries.call_groups(start, end, by, where=where, summary=False), (by, where)
        assert sum(r["calls"] for r in found) > 100


def test_allocation_through_the_summary_equals_the_call_level_query(queries: Any, monkeypatch: Any) -> None:
    from store.inventory import open_inventory

    inv = open_inventory(queries.conn)
    zones = dict(SITES)
    rates = allocation.AllocationConfig(exchange_rates={"USD": 90_000_000, "GBP": 115_000_000})
    for zs in (zones, {**zones, "paris": "Asia/Kolkata"}):  # a zone other than the store's: cut days from calls
        got = allocation.allocate(queries, inv, period="2026-10", currency="EUR", zones=zs, config=rates)
        with monkeypatch.context() as m:
            m.setattr(queries, "call_costs_summary", queries.call_costs)
            want = allocation.allocate(queries, inv, period="2026-10", currency="EUR", zones=zs, config=rates)
        assert (got.calls, got.total, got.original, got.by(3)) == (want.calls, want.total, want.original, want.by(3))
        assert got.calls > 500


def test_allocation_reads_the_summary(queries: Any, monkeypatch: Any) -> None:
    """With the store's zones, a month is read without touching a single call row of a whole day."""
    from store.inventory import open_inventory

    seen: list[tuple[int, int]] = []
    plan = queries.day_plan

    def spy(*args: Any) -> Any:
        whole, parts = plan(*args)
        seen.extend(parts)
        return whole, parts

    monkeypatch.setattr(queries, "day_plan", spy)
    rates = allocation.AllocationConfig(exchange_rates={"USD": 90_000_000, "GBP": 115_000_000})
    allocation.allocate(queries, open_inventory(queries.conn), period="2026-10", currency="EUR",
                        zones={**SITES, UNRECORDED: "UTC"}, config=rates)
    assert seen == []


def test_offsets_match_zoneinfo_days(queries: Any) -> None:
    """day_plan's days are the days of the zone (the same as a call's local date)."""
    from store.reports import _day

    pieces = queries._offsets("santiago")
    for t in range(midnight("2026-09-04", "UTC"), midnight("2026-09-09", "UTC"), 1799):
        local = dt.datetime.fromtimestamp(t, ZoneInfo("America/Santiago")).date()
        assert _day(pieces, t) == (local - dt.date(1970, 1, 1)).days


def test_one_snapshot_while_a_writer_summarises(tmp_path: Path, monkeypatch: Any) -> None:
    """Calls not summarised yet are counted even when another connection folds them into call_days (and moves the
    watermark) between our read of call_days and our read of the calls."""
    from store import days
    from store.db import connect, write_transaction

    store = open_store(tmp_path / "anatole.db")
    store.upsert_site("paris", "FR", "Europe/Paris", None)
    lo, hi = midnight("2026-10-01", "Europe/Paris"), midnight("2026-11-01", "Europe/Paris")
    store.insert_calls([r for r in rows(300, 3, lo, hi) if r[CALL_COLUMNS.index("site")] == "paris"])
    with store.conn:
        store.conn.executemany(f"INSERT INTO calls ({', '.join(CALL_COLUMNS)}) VALUES "
                               f"({', '.join('?' * len(CALL_COLUMNS))})",
                               [r for r in rows(300, 4, lo, hi, ids=10**6) if r[CALL_COLUMNS.index("site")] == "paris"])
    q = open_queries(store.conn)
    bounds = [midnight("2026-10-16", "Europe/Paris")]
    expected = by_key(q.call_costs("paris", lo, hi, bounds))
    other = connect(tmp_path / "anatole.db")
    mark = q._unsummarised

    def writer_in_between() -> int:
        with write_transaction(other):
            assert days.summarise_new(other) > 0
        return mark()

    monkeypatch.setattr(q, "_unsummarised", writer_in_between)
    assert by_key(q.call_costs_summary("paris", lo, hi, bounds)) == expected
    assert not store.conn.in_transaction
    monkeypatch.undo()
    assert by_key(q.call_costs_summary("paris", lo, hi, bounds)) == expected  # now all from call_days
    other.close()
    store.close()
