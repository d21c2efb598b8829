"""Property tests of the kernel's interval search (first-bits table, counts over windows of 8 starts, aligned
groups of 8 for dense blocks) and its leaf rows (a prefix and the rate of each band, ancestors resolved).

Oracles: a Python longest-prefix match for the prefix, numpy.searchsorted over the interval starts for raw keys,
the previous kernel (`rate_baseline`: a binary search and the (prefix, band) table walked up the parents) for
every field, and the Python reference on a sample. Tariffs are dense on purpose (hundreds of prefixes under one
lead, nested), so that blocks hold more than 8 and more than 17 groups of 8 intervals."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import numpy as np
import pytest
from helpers import at, compare
from hypothesis import given, settings
from hypothesis import strategies as st

import engine._rate as kernel
from engine import number_keys
from tariffs.compile import CompiledTariff, compile_tariff
from tariffs.load import tariff_from_dict

KEY_DIGITS = 18
BANDS = [{"name": "peak", "days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "weight": 10},
         {"name": "night", "start": "20:00", "weight": 10}]
STARTS = [at("2026-05-04T09:00"), at("2026-05-04T21:30"), at("2026-05-09T03:00"), at("2026-05-04T19:59:30")]


def tariff(prefixes: list[str], bands: list[str], banded: bool) -> CompiledTariff:
    """One rate per prefix (its band '*', or a band only, so that a call may take an ancestor's rate)."""
    rates = [{"prefix": p, "destination": f"d{p}", "band": b, "price": f"0.{(i * 37) % 97 + 1:02d}",
              "increment": ("1", "6", "60")[i % 3]} for i, (p, b) in enumerate(zip(prefixes, bands, strict=True))]
    doc: dict[str, Any] = {"name": "dense", "currency": "EUR", "timezone": "Europe/Paris", "rate": rates,
                           "billing": {"split": True}}
    if banded:
        doc["band"] = BANDS
    return compile_tariff(tariff_from_dict(doc))


@st.composite
def dense_prefixes(draw: st.DrawFn) -> list[str]:
    """Up to 400 prefixes, most under one lead, nesting (a prefix and its extensions), sometimes '' (all)."""
    lead = draw(st.text("0123456789", min_size=0, max_size=3))
    alphabet = draw(st.sampled_from(["01", "019", "0123456789", "59"]))
    count = draw(st.integers(1, 400))
    tails = draw(st.lists(st.text(alphabet, min_size=0, max_size=6), min_size=count, max_size=count))
    others = draw(st.lists(st.text("0123456789", min_size=1, max_size=5), max_size=20))
    out = sorted({lead + t for t in tails} | set(others))
    if "" in out and draw(st.booleans()):
        out.remove("")
    return out or ["7"]


def boundary_numbers(prefixes: list[str], rng: np.random.Generator) -> list[str]:
    """Each prefix, just inside its ends, and just before it; digits past the 18th; a few random numbers."""
    out = []
    for p in prefixes:
        out += [p, p + "0", p + "9" * 6, p + "5" * 20]
        if p and p[-1] != "0":
            out.append(p[:-1] + str(int(p[-1]) - 1) + "9" * 8)
    out += ["".join(rng.choice(list("0123456789"), rng.integers(1, 16))) for _ in range(50)]
    return [n for n in out if n] + [""]


def lpm(prefixes: list[str], number: str) -> int:
    """The index of the longest prefix of `number` (the key's 18 digits), -1: none or an empty number."""
    if not number:
        return -1
    ids = {p: i for i, p in enumerate(prefixes)}
    head = number[:KEY_DIGITS]
    for k in range(len(head), -1, -1):
        if head[:k] in ids:
            return ids[head[:k]]
    return -1


def interval_keys(c: CompiledTariff) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The interval starts as 18-digit keys with their prefixes, and keys at and around every interval start
    and every first-bits block edge (the places a count or a halving step could be off by one)."""
    starts = c.arrays["iv_start"].astype(np.uint64) * np.uint64(11 ** (KEY_DIGITS - c.arrays["key_len"]))
    bits = min(20, max(4, int(len(starts)).bit_length()))
    edges = np.arange(1 << bits, dtype=np.uint64) << np.uint64(63 - bits)
    edges = edges[edges < np.uint64(11**KEY_DIGITS)]
    around = np.concatenate([starts, edges])
    keys = np.concatenate([around, around + np.uint64(1), around[around > 0] - np.uint64(1),
                           np.array([0, 1, 11**KEY_DIGITS - 1], np.uint64)])
    return starts, c.arrays["iv_prefix"], keys


def same(want: dict[str, np.ndarray], got: dict[str, np.ndarray], what: str) -> None:
    for field, array in want.items():
        assert np.array_equal(got[field], array), f"{what} differs on {field}"


@settings(max_examples=60, deadline=None)
@given(dense_prefixes(), st.booleans(), st.randoms(use_true_random=False))
def test_dense_tariffs_agree_with_the_oracles(prefixes: list[str], banded: bool, rnd: Any) -> None:
    rng = np.random.default_rng(rnd.randrange(2**32))
    bands = [("*", "peak", "night")[rng.integers(0, 3)] if banded else "*" for _ in prefixes]
    c = tariff(prefixes, bands, banded)
    ids = [c.prefixes.index(p) for p in prefixes]

    # numbers: prefix = the longest matching prefix; every field as the previous kernel's
    numbers = boundary_numbers(prefixes, rng)
    digits = np.array([n.encode() for n in numbers], dtype="S")
    n = len(numbers)
    start = np.array([STARTS[i % len(STARTS)] for i in range(n)], dtype=np.int64)
    duration = rng.choice(np.array([0, 1, 59, 61, 3700], np.int32), n)
    got = c.tables.rate_keys(number_keys(digits), start, duration)
    want = c.tables.rate_baseline(digits, start, duration)
    same(want, got, "rate_keys against rate_baseline")
    same(want, c.tables.rate(digits, start, duration), "rate against rate_baseline")
    expect = [ids[k] if (k := lpm(prefixes, x)) >= 0 else -1 for x in numbers]
    assert got["prefix"].tolist() == expect

    # raw keys at interval starts and block edges, and their neighbours
    starts, labels, keys = interval_keys(c)
    zero = np.zeros(len(keys), np.int32)
    out = c.tables.rate_keys(keys, np.full(len(keys), STARTS[0], np.int64), zero)
    oracle = labels[np.searchsorted(starts, keys, side="right") - 1]
    oracle[keys == 0] = -1
    assert np.array_equal(out["prefix"], oracle)
    assert np.array_equal(out["status"] == 3, keys == 0)  # 0 = invalid key, and only 0


@settings(max_examples=6, deadline=None)
@given(dense_prefixes())
def test_dense_tariffs_agree_with_the_reference(prefixes: list[str]) -> None:
    bands = [("*", "peak", "night")[i % 3] for i in range(len(prefixes))]
    c = tariff(prefixes, bands, True)
    numbers = boundary_numbers(prefixes[:12], np.random.default_rng(len(prefixes)))[:40]
    compare(c, numbers, [STARTS[i % len(STARTS)] for i in range(len(numbers))],
            [(0, 61, 3700, 1)[i % 4] for i in range(len(numbers))])


def test_one_prefix_and_the_empty_prefix() -> None:
    for prefixes in (["33"], [""], ["", "1"]):
        c = tariff(prefixes, ["*"] * len(prefixes), False)
        digits = np.array([b"33", b"3", b"34", b"331234567890123456789", b"", b"1", b"x1"])
        start = np.full(len(digits), STARTS[0], np.int64)
        duration = np.full(len(digits), 61, np.int32)
        same(c.tables.rate_baseline(digits, start, duration), c.tables.rate_keys(number_keys(digits), start,
                                                                                 duration), str(prefixes))


def test_a_tariff_without_rates_rates_nothing() -> None:
    base = tariff(["1"], ["*"], False)
    rows = base.tariff.rows
    empty = dataclasses.replace(rows, **{f.name: getattr(rows, f.name)[:0] for f in dataclasses.fields(rows)
                                         if f.name != "destinations"})
    c = compile_tariff(dataclasses.replace(base.tariff, rows=empty, n_deck_rows=0))
    digits = np.array([b"1", b"", b"123456"])
    out = c.tables.rate_keys(number_keys(digits), np.full(3, STARTS[0], np.int64), np.full(3, 60, np.int32))
    assert out["prefix"].tolist() == [-1, -1, -1]
    assert out["status"].tolist() == [1, 3, 1]  # no rate, invalid, no rate


def test_threads_and_pickling_give_the_same_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    prefixes = sorted({"33" + "".join(rng.choice(list("0123456789"), rng.integers(0, 5))) for _ in range(300)})
    c = tariff(prefixes, [("*", "peak", "night")[i % 3] for i in range(len(prefixes))], True)
    n = 5000
    digits = np.array([("33" + "".join(rng.choice(list("0123456789"), 9))).encode() for _ in range(n)])
    start = np.array(STARTS, np.int64)[rng.integers(0, len(STARTS), n)]
    duration = rng.integers(0, 4000, n).astype(np.int32)
    keys = number_keys(digits)
    want = c.tables.rate_keys(keys, start, duration)
    monkeypatch.setattr(kernel, "MIN_SLICE", 100)
    for threads in (2, 3, 7):
        same(want, c.tables.rate_keys(keys, start, duration, threads=threads), f"rate_keys threads={threads}")
        same(want, c.tables.rate(digits, start, duration, threads=threads), f"rate threads={threads}")
    same(want, pickle.loads(pickle.dumps(c.tables)).rate_keys(keys, start, duration), "unpickled")
    with pytest.raises(ValueError, match="threads"):
        c.tables.rate_keys(keys, start, duration, threads=0)


def test_a_block_of_thousands_of_intervals() -> None:
    """Thousands of intervals in one first-bits block: several halving steps over the groups before the counts."""
    rng = np.random.default_rng(16)
    prefixes = sorted({"4444" + "".join(rng.choice(list("0123456789"), rng.integers(1, 7))) for _ in range(3000)})
    c = tariff(prefixes, ["*"] * len(prefixes), False)
    starts, labels, keys = interval_keys(c)
    inside = starts[(starts > 0) & (starts < starts[-1])]
    keys = np.concatenate([keys, inside + np.uint64(7), inside - np.uint64(7)])
    out = c.tables.rate_keys(keys, np.full(len(keys), STARTS[0], np.int64), np.full(len(keys), 30, np.int32))
    oracle = labels[np.searchsorted(starts, keys, side="right") - 1]
    oracle[keys == 0] = -1
    assert np.array_equal(out["prefix"], oracle)
    digits = np.array([(p + "123456789").encode() for p in prefixes])
    start = np.full(len(digits), STARTS[0], np.int64)
    duration = np.full(len(digits), 61, np.int32)
    same(c.tables.rate_baseline(digits, start, duration), c.tables.rate_keys(number_keys(digits), start, duration),
         "rate_keys against rate_baseline")
