"""A tariff's table of UTC offsets (tariffs.compile.tz_table): computed from the zone's own transitions, it must be
exactly the table of its definition, the day-by-day sampling kept below as the oracle."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import numpy as np
import pytest

from tariffs import compile as compile_mod
from tariffs.compile import TZ_FIRST_YEAR, TZ_LAST_YEAR, tz_table

# the zones the product's samples, demo and tests use, then zones with odd histories: double and negative daylight
# saving, half-hour and 2-hour shifts, a day skipped (Apia), Ramadan suspensions (Casablanca), renamed (Godthab)
ZONES = ["Europe/Paris", "America/New_York", "Europe/London", "UTC", "America/Santiago", "Australia/Lord_Howe",
         "Asia/Kathmandu", "Europe/Berlin", "Asia/Kolkata", "Pacific/Kiritimati", "Pacific/Honolulu",
         "America/Sao_Paulo", "America/Los_Angeles", "Africa/Casablanca", "Pacific/Apia", "Europe/Dublin",
         "Asia/Tehran", "America/Godthab", "America/Nuuk", "Antarctica/Troll"]


def reference_tz_table(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The table as tariffs/compile.py built it before (2026-12-06): sample every day from 1970 to 2100, bisect
    each change to the second. 52,000 datetime calls a zone: the oracle, not the product."""
    zone = zoneinfo.ZoneInfo(name)

    def offset(t: int) -> int:
        return int(dt.datetime.fromtimestamp(t, zone).utcoffset().total_seconds())

    t0 = int(dt.datetime(TZ_FIRST_YEAR, 1, 1, tzinfo=dt.timezone.utc).timestamp())
    t1 = int(dt.datetime(TZ_LAST_YEAR + 1, 1, 1, tzinfo=dt.timezone.utc).timestamp())
    at = [np.iinfo(np.int64).min]
    off = [offset(t0)]
    prev_t, prev_off = t0, off[0]
    for t in range(t0 + 86_400, t1 + 1, 86_400):
        o = offset(t)
        if o != prev_off:
            lo, hi = prev_t, t  # offset(lo) == prev_off, offset(hi) == o
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if offset(mid) == prev_off:
                    lo = mid
                else:
                    hi = mid
            at.append(hi)
            off.append(o)
            prev_off = o
        prev_t = t
    return np.array(at, dtype=np.int64), np.array(off, dtype=np.int32)


def fresh(name: str, monkeypatch: pytest.MonkeyPatch) -> tuple[np.ndarray, np.ndarray]:
    """tz_table computed now (not from the process's cache), failing if it had to fall back to day sampling."""

    def no_fallback(*args: object) -> None:
        raise AssertionError(f"{name}: the transitions did not give the table (fell back to day sampling)")

    monkeypatch.setattr(compile_mod, "_tz_table_by_days", no_fallback)
    tz_table.cache_clear()
    try:
        return tz_table(name)
    finally:
        tz_table.cache_clear()


@pytest.mark.parametrize("name", ZONES)
def test_tz_table_is_the_day_by_day_table(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at, off = fresh(name, monkeypatch)
    ref_at, ref_off = reference_tz_table(name)
    assert at.dtype == ref_at.dtype and off.dtype == ref_off.dtype
    assert at.tolist() == ref_at.tolist()
    assert off.tolist() == ref_off.tolist()


def test_a_missed_change_falls_back_to_day_sampling(monkeypatch: pytest.MonkeyPatch) -> None:
    """A mark missing (here: the change to summer time of 1990) is caught by the check at the end of the mark
    before it (the offset differs there), and the table is still the definition's. (Marks missing on both sides of
    a period would not be: the marks come from the zone's own data, and the tests above compare every zone.)"""
    real = compile_mod._offset_marks
    spring_1990 = int(dt.datetime(1990, 3, 25, 1, tzinfo=dt.timezone.utc).timestamp())

    def one_short(name: str, t0: int, t1: int) -> list[int]:
        marks = real(name, t0, t1)
        assert spring_1990 in marks
        return [m for m in marks if m != spring_1990]

    monkeypatch.setattr(compile_mod, "_offset_marks", one_short)
    calls = []
    by_days = compile_mod._tz_table_by_days
    monkeypatch.setattr(compile_mod, "_tz_table_by_days", lambda *a: calls.append(a) or by_days(*a))
    tz_table.cache_clear()
    try:
        at, off = tz_table("Europe/Paris")
    finally:
        tz_table.cache_clear()
    assert len(calls) == 1
    ref_at, ref_off = reference_tz_table("Europe/Paris")
    assert at.tolist() == ref_at.tolist() and off.tolist() == ref_off.tolist()


def test_zoneinfo_internals_gone_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """If the pure-Python zoneinfo ever changes its internals, the day-by-day definition still answers."""

    def broken(name: str, t0: int, t1: int) -> list[int]:
        raise AttributeError("_trans_utc")

    monkeypatch.setattr(compile_mod, "_offset_marks", broken)
    tz_table.cache_clear()
    try:
        at, off = tz_table("America/Sao_Paulo")
    finally:
        tz_table.cache_clear()
    ref_at, ref_off = reference_tz_table("America/Sao_Paulo")
    assert at.tolist() == ref_at.tolist() and off.tolist() == ref_off.tolist()


def test_marks_cover_every_change() -> None:
    """Every change of the reference table is one of the marks (the marks are a superset of the real changes)."""
    t0 = int(dt.datetime(TZ_FIRST_YEAR, 1, 1, tzinfo=dt.timezone.utc).timestamp())
    t1 = int(dt.datetime(TZ_LAST_YEAR + 1, 1, 1, tzinfo=dt.timezone.utc).timestamp())
    for name in ("Europe/Dublin", "Australia/Lord_Howe", "Antarctica/Troll"):
        marks = set(compile_mod._offset_marks(name, t0, t1))
        at, _off = reference_tz_table(name)
        assert set(at[1:].tolist()) <= marks, name
