"""The kernel's IRecs (one per interval and band column: the prefix, the rate to try and that rate's Hot16) and
rate_simple's rounding folded into its division (engine._rate.rounding_offset).

A usual call reads its interval's IRec for its band and nothing else of its rate, so each IRec must hold exactly
what the HotRec of its resolved rate holds, in 32-bit fields and with the effective date as an index into a table
of the deck's dates. What does not fit (a fee or a price negative or of 2**32 or more, dates past SINCE_LIMIT)
gets scheme 0 and its calls the general path: the tariffs here put such values among usual ones, and every path
must still agree with the reference and the previous kernel on every field."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine._rate as kernel
from tariffs.compile import CompiledTariff, compile_tariff
from tariffs.load import tariff_from_dict
from tests.test_engine_hot_records import calls, numbers_for
from tests.test_engine_vs_reference import compare_paths

MODES = ["up", "down", "half_up", "half_even"]
BANDS = [{"name": "peak", "days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "weight": 10},
         {"name": "night", "start": "20:00", "weight": 10}]


def rounded(total: int, divisor: int, mode: int) -> int:
    """total / divisor rounded by mode, from exact fractions (total >= 0)."""
    x = Fraction(total, divisor)
    q, r = divmod(total, divisor)
    if mode == 0:
        return q + (r != 0)
    if mode == 1:
        return q
    if x - q > Fraction(1, 2) or (x - q == Fraction(1, 2) and (mode == 2 or q % 2 == 1)):
        return q + 1
    return q


def folded(total: int, divisor: int, mode: int) -> int:
    """What rate_simple computes: (total + add) // divisor, less 1 on a half_even tie with an odd quotient."""
    add, tie = kernel.rounding_offset(divisor, mode)
    n = total + add
    q = n // divisor
    return q - (q & (n == q * divisor) & tie)


@pytest.mark.parametrize("mode", range(4))
def test_rounding_offset_at_every_remainder(mode: int) -> None:
    for divisor in list(range(1, 41)) + [600_000, 600_001, 10**8, 2**40 + 1]:
        for total in list(range(0, 3 * min(divisor, 50) + 3)) + [divisor // 2, divisor // 2 + 1, 5 * divisor // 2,
                                                                   7 * divisor // 2 + 1, 2**61]:
            assert folded(total, divisor, mode) == rounded(total, divisor, mode), (total, divisor, mode)


@given(st.integers(0, 2**61), st.integers(1, 2**40), st.integers(0, 3))
def test_rounding_offset_on_large_totals(total: int, divisor: int, mode: int) -> None:
    assert folded(total, divisor, mode) == rounded(total, divisor, mode)


HOT_FIELDS = ("connect", "scaled0", "scaled1")


@st.composite
def hot_array(draw: st.DrawFn) -> np.ndarray:
    """HotRecs with values around the 32-bit edges and a few or many effective dates."""
    n = draw(st.integers(0, 40))
    hot = np.zeros(n, kernel.HOT_DTYPE)
    edge = st.sampled_from([0, 1, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**40, -1, -(2**31)])
    dates = draw(st.lists(st.integers(-kernel.EFF_LIMIT, kernel.EFF_LIMIT - 1), min_size=1, max_size=8))
    for i in range(n):
        eff = draw(st.sampled_from(dates))
        hot["eff_scheme"][i] = eff * (1 << 16) + draw(st.integers(0, 5))
        for name in HOT_FIELDS:
            hot[name][i] = draw(edge | st.integers(0, 10**9))
    return hot


@settings(max_examples=80, deadline=None)
@given(hot_array(), st.sampled_from([None, 1, 2, 3]), st.none() | st.lists(st.booleans(), min_size=6, max_size=6),
       st.none() | st.tuples(st.integers(1, 10**6), st.integers(-3, 3) | st.integers(2**61, 2**62)))
def test_compact_records_hold_exactly_what_fits(hot: np.ndarray, limit: int | None, simple: list[bool] | None,
                                                bound: tuple[int, int] | None) -> None:
    """...and a rate whose Scheme rate_simple cannot price (KScheme.simple 0) gets scheme 0 too, so that the kernel
    tells the general path's calls by the scheme alone, as does a rate whose calls could reach `limit` (then
    rate_simple does not test the total): never one at or past it, always one clearly below."""
    saved = kernel.SINCE_LIMIT
    denom, total_limit = bound if bound is not None else (1, None)
    if total_limit is not None and total_limit < 2**61 and len(hot):  # at the first record's most, give or take
        total_limit = max(1, int(hot["connect"][0]) * denom
                          + (int(hot["scaled0"][0]) + int(hot["scaled1"][0])) * 2**20 + total_limit)
    try:
        if limit is not None:
            kernel.SINCE_LIMIT = limit
        h16, since = kernel.compact_records(hot, None if simple is None else np.array(simple), denom, total_limit)
        cap = kernel.SINCE_LIMIT
    finally:
        kernel.SINCE_LIMIT = saved
    assert h16.dtype.itemsize == 16 and since.dtype == np.int64 and len(since) >= 1
    assert (np.diff(since) > 0).all()
    eff = hot["eff_scheme"] >> 16
    for i in range(len(hot)):
        fits = all(0 <= int(hot[name][i]) < 2**32 for name in HOT_FIELDS)
        dates_before = len(np.unique(eff[eff < eff[i]]))
        fits = fits and dates_before < cap
        fits = fits and (simple is None or simple[int(hot["eff_scheme"][i]) & 0xFFFF])
        most = int(hot["connect"][i]) * denom + (int(hot["scaled0"][i]) + int(hot["scaled1"][i])) * 2**20
        if total_limit is not None and most >= total_limit * (1 - 2**-29):  # near the limit: either is right
            assert int(h16["scheme"][i]) == 0 or (fits and most < total_limit)
            continue
        if fits:
            assert int(h16["scheme"][i]) == int(hot["eff_scheme"][i]) & 0xFFFF
            assert int(since[h16["since"][i]]) == int(eff[i])
            for name in HOT_FIELDS:
                assert int(h16[name][i]) == int(hot[name][i])
        else:
            assert int(h16["scheme"][i]) == 0


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_interval_records_inline_the_resolved_rate(data: st.DataObject) -> None:
    n_pref = data.draw(st.integers(0, 12))
    cols = data.draw(st.integers(1, 5))
    n_rates = data.draw(st.integers(0, 20))
    rate = st.integers(-1, n_rates - 1) if n_rates else st.just(-1)
    res = np.array(data.draw(st.lists(rate, min_size=n_pref * cols, max_size=n_pref * cols)),
                   dtype=np.int32).reshape(n_pref, cols)
    prefix = st.integers(-1, n_pref - 1) if n_pref else st.just(-1)
    iv_prefix = np.array(data.draw(st.lists(prefix, min_size=1, max_size=15)), dtype=np.int32)
    h16 = np.zeros(n_rates, kernel.HOT16_DTYPE)
    h16.view(np.uint8)[:] = np.random.default_rng(n_rates).integers(0, 256, h16.nbytes, dtype=np.uint8)
    for out in (None, kernel.aligned_empty(len(iv_prefix) * cols, kernel.IREC_DTYPE)):
        rec = kernel.interval_records(iv_prefix, res, h16, out).reshape(len(iv_prefix), cols)
        for i, p in enumerate(iv_prefix):
            for c in range(cols):
                r = int(res[p, c]) if p >= 0 else -1
                assert int(rec["prefix"][i, c]) == p and int(rec["rate"][i, c]) == r
                want = h16[r].tobytes() if r >= 0 else bytes(16)
                assert rec["h"][i, c].tobytes() == want


def tariff(rates: list[dict[str, Any]], banded: bool, mode: str = "half_up") -> CompiledTariff:
    doc: dict[str, Any] = {"name": "edges", "currency": "EUR", "timezone": "Europe/Paris", "rate": rates,
                           "rounding": {"decimals": 4, "mode": mode}, "billing": {"split": True}}
    if banded:
        doc["band"] = BANDS
    return compile_tariff(tariff_from_dict(doc))


@st.composite
def edge_rates(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Nested prefixes whose rates mix usual values with fees and prices past 32 bits, and effective dates of
    every era (before 1901, after 2038): the IRecs of the first go to the general path, the others do not."""
    prefixes = draw(st.lists(st.text("12", min_size=1, max_size=4), min_size=1, max_size=12, unique=True))
    rows: list[dict[str, Any]] = []
    for prefix in prefixes:
        for band in draw(st.lists(st.sampled_from(["*", "peak", "night"]), min_size=1, max_size=3, unique=True)):
            versions = draw(st.lists(st.sampled_from(["", "1890-01-01", "2026-03-03", "2040-06-01"]),
                                     min_size=1, max_size=3, unique=True))
            for effective in versions:
                row = {"prefix": prefix, "destination": f"d{prefix}", "band": band,
                       "price": draw(st.sampled_from(["0.05", "0.1234", "45", "120"])), "unit": "60",
                       "increment": draw(st.sampled_from(["1", "30", "60"])), "effective_from": effective}
                fee = draw(st.sampled_from(["", "", "0.02", "43", "50"]))
                if fee:
                    row["connect_fee"] = fee
                rows.append(row)
    return rows


STARTS = ["1889-06-01T10:00", "1950-01-02T09:00", "2026-03-02T09:00", "2026-03-04T21:30", "2041-01-07T03:00"]


@settings(max_examples=50, deadline=None)
@given(edge_rates(), st.booleans(), st.sampled_from(MODES), st.sampled_from([None, 1, 2]),
       st.lists(st.integers(0, 4000), min_size=1, max_size=4))
def test_values_past_the_compact_fields_agree_with_the_reference(rates: list[dict[str, Any]], banded: bool,
                                                                 mode: str, limit: int | None,
                                                                 durations: list[int]) -> None:
    if not banded:  # one '*' rate per prefix and date
        rates = list({(r["prefix"], r["effective_from"]): {**r, "band": "*"} for r in rates}.values())
    saved = kernel.SINCE_LIMIT
    try:
        if limit is not None:
            kernel.SINCE_LIMIT = limit
        c = tariff(rates, banded, mode)
    finally:
        kernel.SINCE_LIMIT = saved
    compare_paths(c, *calls(numbers_for(c), durations, STARTS))  # each number at each start of every era


def test_a_usual_tariff_keeps_the_compact_path() -> None:
    """The general path is for what does not fit: a usual deck's IRecs all have their scheme."""
    c = tariff([{"prefix": "33", "destination": "France", "price": "0.1", "unit": "60", "increment": "30",
                 "connect_fee": "0.05"},
                {"prefix": "331", "destination": "Paris", "band": "peak", "price": "0.2", "unit": "60",
                 "increment": "60", "effective_from": "2026-03-03"}], True)
    src = c.tables.__reduce__()[1][0]
    fast = kernel.fast_records(np.ascontiguousarray(src["rate_rec"]), np.ascontiguousarray(src["slot_rec"]))
    hot, _ = kernel.hot_records(fast, True)
    h16, since = kernel.compact_records(hot)
    assert (h16["scheme"] > 0).all() and len(since) == 2
    compare_paths(c, *calls(["33", "331", "3312", "34", ""], [0, 1, 29, 31, 600]))
