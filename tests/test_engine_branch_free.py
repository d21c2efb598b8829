"""The kernel's branch-free paths (engine._rate): the increments' reciprocals, the Schemes as the kernel reads them,
and groups where every kind of call (rated, unanswered, invalid, out-of-range durations, no rate, rate_one's) runs
the same instructions and is masked afterwards. Every path must agree with the Python reference on every field."""

from __future__ import annotations

import mmap
from typing import Any

import numpy as np
import pytest
from helpers import at
from hypothesis import given, settings
from hypothesis import strategies as st

import engine._rate as kernel
from engine import number_keys
from tariffs.compile import compile_tariff
from tariffs.load import tariff_from_dict
from tariffs.model import NONE
from tests.test_engine_vs_reference import compare_paths

# the increments a deck may have (1 s .. a day) and the edges of the reciprocals' range
INCREMENTS = [1, 2, 3, 6, 7, 30, 45, 60, 61, 600, 3600, 86_399, 86_400, kernel.MAX_MAGIC_INC - 1]


@pytest.mark.parametrize("inc", INCREMENTS)
def test_reciprocals_divide_exactly(inc: int) -> None:
    """n // inc == (n * magic) >> 40 for every n below 2**21 (durations and their last increment fit)."""
    n = np.arange(1 << 21, dtype=np.uint64)
    m = np.uint64(kernel.magic(inc))
    assert np.array_equal((n * m) >> np.uint64(kernel.MAGIC_SHIFT), n // np.uint64(inc))


@given(st.integers(1, kernel.MAX_MAGIC_INC - 1), st.integers(0, (1 << 21) - 1))
def test_reciprocals_at_random(inc: int, n: int) -> None:
    m = int(kernel.magic(inc))
    assert (n * m) >> kernel.MAGIC_SHIFT == n // inc and n * m < 2**63


def test_kernel_schemes_bounds_and_fallbacks() -> None:
    """Absent bounds become the widest int64s, max_cost is scaled, increments past the reciprocals' range (and
    scheme 0) divide by 1 and are left to rate_one."""
    schemes = np.zeros(5, kernel.SCHEME_DTYPE)
    schemes["min_cost"] = [0, NONE, 5, NONE, 7]
    schemes["max_cost"] = [0, NONE, 9, 2**62, 8]
    schemes["start1"] = [0, 2**31 - 1, 60, 30, 10]
    schemes["inc0"] = [0, 60, 1, 6, kernel.MAX_MAGIC_INC]
    schemes["inc1"] = [0, 1, 6, 6, 1]
    schemes["simple"] = [0, 1, 1, 1, 1]
    big = np.iinfo(np.int64)
    for anchor_zero in (False, True):
        ks = kernel.kernel_schemes(schemes, 1000, anchor_zero)
        assert ks.dtype.itemsize == 64
        assert ks["min_cost"].tolist() == [0, big.min, 5, big.min, 7]
        assert ks["max_scaled"].tolist() == [0, big.max, 9000, big.max, 8000]
        assert ks["simple"].tolist() == [0, 1, 1, 1, 0]
        assert ks["inc0"].tolist() == [1, 60, 1, 6, 1] and ks["inc1"].tolist() == [1, 1, 6, 6, 1]
        assert ks["start1"].tolist() == [2**31 - 1, 2**31 - 1, 60, 30, 2**31 - 1]
        assert ks["anchor1"].tolist() == ([0] * 5 if anchor_zero else ks["start1"].tolist())
        assert ks["magic0"].tolist() == [int(kernel.magic(i)) for i in ks["inc0"]]


STARTS = ["2026-03-02T09:00", "2026-03-02T19:59:30", "2026-03-07T03:00"]
# durations of every kind, side by side in one group of 32: negative, unanswered, valid, too long
DURATIONS = [-5, 0, 1, 59, 60, 61, 604_801, 2**31 - 1, -(2**31), 29, 31, 3600, 7]
LONG = [86_399, 86_400, 86_401, 604_799, 604_800]  # against rate_baseline only (the reference walks increments)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["1", "6", "60", "86400", "7"]), st.sampled_from(["0", "30", "60"]),
                          st.sampled_from(["1", "6", "86400"]), st.sampled_from([{}, {"min_cost": "0.3"},
                                                                                  {"max_cost": "0.8"}])),
                min_size=1, max_size=4),
       st.sampled_from(["slot", "zero"]), st.booleans(), st.sampled_from(["up", "down", "half_up", "half_even"]))
def test_every_kind_of_call_in_one_group(schemes: list[tuple[str, str, str, dict[str, str]]], anchor: str,
                                         banded: bool, mode: str) -> None:
    """Prefixes with one or two slots (increments up to a day), bounds, anchors and rounding modes; calls of every
    status and duration edge interleaved, plus numbers without a rate, empty and invalid ones."""
    rates: list[dict[str, Any]] = []
    for k, (inc0, second, inc1, bounds) in enumerate(schemes):
        prefix = f"3{k}"
        rates.append({"prefix": prefix, "destination": f"d{k}", "price": "0.1234", "unit": "60", "increment": inc0,
                      "connect_fee": "0.01" if k % 2 else "", **bounds})
        if second != "0":
            rates.append({"prefix": prefix, "destination": f"d{k}", "price": "0.05", "unit": "60",
                          "increment": inc1, "from": second})
    rates.append({"prefix": "4", "destination": "peak only", "band": "peak" if banded else "*", "price": "0.2"})
    doc: dict[str, Any] = {"name": "t", "currency": "EUR", "timezone": "Europe/Paris", "rate": rates,
                           "rounding": {"decimals": 3, "mode": mode}, "billing": {"anchor": anchor, "split": True}}
    if banded:
        doc["band"] = [{"name": "peak", "days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00",
                        "weight": 10}, {"name": "night", "start": "20:00", "weight": 10}]
    c = compile_tariff(tariff_from_dict(doc))
    heads = [f"3{k}" for k in range(len(schemes))] + ["4", "5", "", "3x"]
    numbers, starts, durations = [], [], []
    for j in range(2 * len(DURATIONS)):
        for h, head in enumerate(heads):
            numbers.append(head + "1234567")
            starts.append(at(STARTS[(j + h) % len(STARTS)]))
            durations.append(DURATIONS[(j + 3 * h) % len(DURATIONS)])
    compare_paths(c, numbers, starts, durations)
    digits = np.array([n.encode() for n in numbers], dtype="S")
    start = np.array(starts, dtype=np.int64)
    duration = np.array(durations, dtype=np.int32)
    duration[::3] = np.resize(LONG, len(duration[::3]))
    want = c.tables.rate_baseline(digits, start, duration)
    for got in (c.tables.rate(digits, start, duration), c.tables.rate_keys(number_keys(digits), start, duration)):
        for field, array in want.items():
            assert np.array_equal(got[field], array), field


@pytest.mark.parametrize("huge", [True, False])
def test_aligned_tables(huge: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables copied to 64-byte boundaries, in a mapping of their own on 2 MiB boundaries from 2 MiB up (or, with
    the mappings turned off, in numpy's memory): the same contents either way."""
    monkeypatch.setattr(kernel, "USE_HUGE_PAGES", huge)
    for n in (1, 1000, (kernel.HUGE_PAGE >> 3) + 5):
        a = np.arange(n, dtype=np.uint64) * np.uint64(7)
        out = kernel.aligned(a)
        assert out.ctypes.data % 64 == 0 and out.dtype == a.dtype and np.array_equal(out, a)
        if huge and a.nbytes >= kernel.HUGE_PAGE and hasattr(mmap, "MADV_HUGEPAGE"):
            assert out.ctypes.data % kernel.HUGE_PAGE == 0


def test_tables_without_huge_pages_rate_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    doc: dict[str, Any] = {"name": "t", "currency": "EUR", "timezone": "Europe/Paris",
                           "rate": [{"prefix": f"{p}", "destination": "x", "price": "0.01", "increment": "6"}
                                    for p in range(10, 99)]}
    c = compile_tariff(tariff_from_dict(doc))
    digits = np.array([f"{p}123".encode() for p in range(0, 120)], dtype="S")
    start = np.full(len(digits), at("2026-03-02T09:00"), np.int64)
    duration = np.arange(len(digits), dtype=np.int32) * 7 - 3
    want = c.tables.rate(digits, start, duration)
    monkeypatch.setattr(kernel, "USE_HUGE_PAGES", False)
    again = kernel.RateTables(c.tables.__reduce__()[1][0])
    got = again.rate(digits, start, duration)
    for field, array in want.items():
        assert np.array_equal(got[field], array), field


def versions_tariff(split: bool, older_slots: int) -> Any:
    """France with 1-3 slots until 2026-03-05 and one after; Paris (331) with a peak rate from that date only."""
    rates: list[dict[str, Any]] = []
    for k, (frm, inc) in enumerate([("0", "30"), ("30", "6"), ("120", "60")][:older_slots]):
        rates.append({"prefix": "33", "destination": "France", "price": f"0.{k + 1}", "unit": "60",
                      "increment": inc, "from": frm, "connect_fee": "0.01" if k == 0 else "", "band": "*"})
    rates.append({"prefix": "33", "destination": "France", "price": "0.07", "unit": "60", "increment": "60",
                  "effective_from": "2026-03-05", "band": "*"})
    rates.append({"prefix": "331", "destination": "Paris", "price": "0.2", "increment": "1", "band": "peak",
                  "effective_from": "2026-03-05"})
    doc: dict[str, Any] = {"name": "t", "currency": "EUR", "timezone": "Europe/Paris", "rate": rates,
                           "rounding": {"decimals": 4, "mode": "half_up"}, "billing": {"split": split},
                           "band": [{"name": "peak", "days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00",
                                     "weight": 10}, {"name": "night", "start": "20:00", "weight": 10}]}
    return compile_tariff(tariff_from_dict(doc))


WHENS = ("2026-03-02T09:00", "2026-03-02T19:58", "2026-03-04T23:59:30", "2026-03-05T09:00", "2026-03-07T03:00")


@pytest.mark.parametrize("split", [True, False])
@pytest.mark.parametrize("older_slots", [1, 2, 3])
def test_calls_before_the_latest_version(split: bool, older_slots: int) -> None:
    """A call made before its prefix's latest version is in force is priced by the version in force then: by
    rate_simple when that version allows it (one or two slots), by rate_one otherwise (three slots, or a call
    across a band change with split billing)."""
    c = versions_tariff(split, older_slots)
    numbers, starts, durations = [], [], []
    for when in WHENS:
        for number in ("3312", "3399", "33"):
            for duration in (0, 1, 29, 31, 125, 190, 3600):
                numbers.append(number)
                starts.append(at(when))
                durations.append(duration)
    compare_paths(c, numbers, starts, durations)


@pytest.mark.parametrize("split", [True, False])
@pytest.mark.parametrize("older_slots", [2, 3])
def test_many_calls_set_aside_for_the_general_path(split: bool, older_slots: int,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """rate_block sets the general path's calls aside and prices them DEFER at a time (RateTables.deferred):
    thousands of such calls shuffled among usual ones, unanswered and unknown numbers, rated in one batch (sets
    flushed within a block, at a block's end, per chunk of digits, per thread's slice) price as the previous
    kernel prices them, call by call."""
    c = versions_tariff(split, older_slots)
    rng = np.random.default_rng(7)
    n = 20_000
    digits = rng.choice(np.array([b"3312", b"3399", b"33", b"3312345", b"49", b""], dtype="S8"), n)
    start = np.array([at(w) for w in WHENS], dtype=np.int64)[rng.integers(0, len(WHENS), n)]
    start += rng.integers(0, 600, n)
    duration = rng.choice(np.array([0, 1, 29, 31, 125, 190, 3600, 7200], dtype=np.int32), n)
    want = c.tables.rate_baseline(digits, start, duration)
    assert np.count_nonzero(want["parts"] > 1) > (100 if split else -1)  # across a band change: rate_one
    older = (want["status"] == 0) & (start < at("2026-03-05T00:00"))
    assert np.count_nonzero(older) > 1000  # an older version than the IRec's
    monkeypatch.setattr(kernel, "MIN_SLICE", 1000)
    got = [c.tables.rate(digits, start, duration), c.tables.rate_keys(number_keys(digits), start, duration),
           c.tables.rate_keys(number_keys(digits), start, duration, threads=3)]
    for result in got:
        for field, array in want.items():
            assert np.array_equal(result[field], array), field
