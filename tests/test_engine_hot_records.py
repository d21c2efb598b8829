"""The kernel's 32-byte rate records (HotRec) and the Schemes they share (engine._rate.hot_records).

A usual call reads its rate's HotRec (when it is in force, connect fee, the prices of its first two slots) and
that rate's Scheme (where slot 1 begins, the increments, the cost bounds), shared by every rate with the same
ones. Tariffs here draw their rates from a small palette on purpose: many rates share a scheme and even a whole
record, some differ only in effective date or only in min/max cost; the kernel, `rate_baseline` and the Python
reference must agree on every field, also when only a few schemes may be kept (the others go to rate_one)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers import at
from hypothesis import given, settings
from hypothesis import strategies as st

import engine._rate as kernel
from tariffs.compile import CompiledTariff, compile_tariff
from tariffs.load import tariff_from_dict
from tests.test_engine_vs_reference import compare_paths

PRICES = ["0.05", "0.1234", "1"]
SCHEMES = [("60", "0", "0"), ("30", "0", "0"), ("1", "0", "0"), ("6", "30", "6"), ("60", "60", "1")]
BANDS = [{"name": "peak", "days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "weight": 10},
         {"name": "night", "start": "20:00", "weight": 10}]
STARTS = ["2026-03-02T09:00", "2026-03-02T21:30", "2026-03-07T03:00", "2026-03-02T19:59:30", "2026-01-05T10:00"]


@st.composite
def palette_rates(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Up to 25 prefixes, each with one to three rates drawn from a few prices, slot schemes and bounds."""
    rows: list[dict[str, Any]] = []
    prefixes = draw(st.lists(st.text("12", min_size=1, max_size=4), min_size=1, max_size=25, unique=True))
    for prefix in prefixes:
        for band in draw(st.lists(st.sampled_from(["*", "peak", "night"]), min_size=1, max_size=2, unique=True)):
            # the same rate in force from two dates, or with other bounds: records differing in one field only
            versions = draw(st.lists(st.sampled_from(["", "2026-02-01", "2026-03-03"]), min_size=1, max_size=2,
                                     unique=True))
            first, second, inc2 = draw(st.sampled_from(SCHEMES))
            head: dict[str, Any] = {}
            if draw(st.integers(0, 3)) == 0:
                head["connect_fee"] = "0.02"
            for effective in versions:
                bounds = draw(st.sampled_from([{}, {"min_cost": "0.1"}, {"max_cost": "0.5"},
                                               {"min_cost": "0.1", "max_cost": "0.5"}]))
                row = {"prefix": prefix, "destination": f"d{prefix}", "band": band,
                       "price": draw(st.sampled_from(PRICES)), "unit": "60", "increment": first, "from": "0",
                       "effective_from": effective, **head, **bounds}
                rows.append(row)
                if second != "0":
                    rows.append({"prefix": prefix, "destination": f"d{prefix}", "band": band,
                                 "price": draw(st.sampled_from(PRICES)), "unit": "60", "increment": inc2,
                                 "from": second, "effective_from": effective})
    return rows


def tariff(rates: list[dict[str, Any]], banded: bool) -> CompiledTariff:
    doc: dict[str, Any] = {"name": "palette", "currency": "EUR", "timezone": "Europe/Paris", "rate": rates,
                           "rounding": {"decimals": 4, "mode": "half_up"}, "billing": {"split": True}}
    if banded:
        doc["band"] = BANDS
    return compile_tariff(tariff_from_dict(doc))


def numbers_for(c: CompiledTariff) -> list[str]:
    return [p + tail for p in c.prefixes for tail in ("", "2", "1212")] + ["3", "21", ""]


def calls(numbers: list[str], durations: list[int], starts: list[str] = STARTS
          ) -> tuple[list[str], list[int], list[int]]:
    """Each number at each start time, with durations in turn."""
    out_n, out_s, out_d = [], [], []
    for k, number in enumerate(numbers):
        for j, text in enumerate(starts):
            out_n.append(number)
            out_s.append(at(text))
            out_d.append(durations[(k + j) % len(durations)])
    return out_n, out_s, out_d


@settings(max_examples=60, deadline=None)
@given(palette_rates(), st.sampled_from([None, 0, 1, 2]), st.lists(st.integers(0, 700), min_size=1, max_size=5))
def test_shared_records_agree_with_the_reference(rates: list[dict[str, Any]], limit: int | None,
                                                 durations: list[int]) -> None:
    """Rates sharing schemes and whole records; with `limit`, only that many schemes kept (0: none, every call
    through rate_one)."""
    saved = kernel.SCHEME_LIMIT
    try:
        if limit is not None:
            kernel.SCHEME_LIMIT = limit
        c = tariff(rates, True)
    finally:
        kernel.SCHEME_LIMIT = saved
    compare_paths(c, *calls(numbers_for(c), durations))


@settings(max_examples=60, deadline=None)
@given(palette_rates(), st.booleans())
def test_every_hot_record_matches_its_rate(rates: list[dict[str, Any]], simple: bool) -> None:
    """A rate's HotRec and Scheme hold exactly its own fields; scheme 0 (rate_one) only where the kernel needs it."""
    c = tariff(rates, True)
    src = c.tables.__reduce__()[1][0]
    fast = kernel.fast_records(np.ascontiguousarray(src["rate_rec"]), np.ascontiguousarray(src["slot_rec"]))
    hot, schemes = kernel.hot_records(fast, simple)
    assert schemes["simple"][0] == 0 and (schemes["simple"][1:] == 1).all()
    ids = hot["eff_scheme"] & 0xFFFF
    assert np.array_equal(hot["eff_scheme"] >> 16, np.clip(fast["eff"], -kernel.EFF_LIMIT, kernel.EFF_LIMIT - 1))
    assert np.array_equal(ids == 0, (fast["nslots"] > 2) | (not simple))
    for name in ("connect", "scaled0", "scaled1"):
        assert np.array_equal(hot[name], fast[name])
    used = ids > 0
    for name in ("min_cost", "max_cost", "start1", "inc0", "inc1"):
        assert np.array_equal(schemes[name][ids[used]], fast[name][used])
    assert len(np.unique(schemes[1:].view("V32"))) == len(schemes) - 1  # each scheme once


def test_far_effective_dates_and_the_scheme_limit() -> None:
    """A rate in force only past 2**47 s goes to rate_one; past SCHEME_LIMIT distinct schemes, the rest too."""
    fast = np.zeros(5, kernel.FAST_DTYPE)
    fast["eff"] = [np.iinfo(np.int64).min, 0, kernel.EFF_LIMIT, 5, 7]
    fast["nslots"] = [1, 2, 1, 2, 3]
    fast["inc0"] = [1, 6, 1, 60, 1]
    hot, schemes = kernel.hot_records(fast, True)
    assert (hot["eff_scheme"] & 0xFFFF).tolist() == [1, 2, 0, 3, 0]
    assert (hot["eff_scheme"] >> 16).tolist() == [-kernel.EFF_LIMIT, 0, kernel.EFF_LIMIT - 1, 5, 7]
    assert schemes["inc0"].tolist() == [0, 1, 6, 60]
    saved = kernel.SCHEME_LIMIT
    try:
        kernel.SCHEME_LIMIT = 2
        hot, schemes = kernel.hot_records(fast, True)
    finally:
        kernel.SCHEME_LIMIT = saved
    assert (hot["eff_scheme"] & 0xFFFF).tolist() == [1, 2, 0, 0, 0] and len(schemes) == 3


@pytest.mark.parametrize("banded", [False, True])
def test_a_one_rate_tariff(banded: bool) -> None:
    rates = [{"prefix": "33", "destination": "France", "price": "0.1", "unit": "60", "increment": "30",
              "min_cost": "0.05"}]
    c = tariff(rates, banded)
    compare_paths(c, *calls(["33", "331", "3", "34", ""], [0, 1, 29, 31, 600]))


def test_a_tariff_without_rates() -> None:
    """Rate-less: no HotRec at all, one Scheme (entry 0); every call is no rate or invalid."""
    fast = np.zeros(0, kernel.FAST_DTYPE)
    hot, schemes = kernel.hot_records(fast, True)
    assert len(hot) == 0 and len(schemes) == 1


@given(st.lists(st.integers(-(2**62), 2**62), max_size=50) | st.lists(st.integers(-5, 5), max_size=50))
def test_factorize_ranks_like_unique(values: list[int]) -> None:
    array = np.array(values, dtype=np.int64)
    codes, uniq = kernel.factorize(array)
    want_uniq, want_codes = np.unique(array, return_inverse=True)
    assert np.array_equal(uniq, want_uniq) and np.array_equal(codes, want_codes.reshape(-1))
