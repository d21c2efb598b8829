"""The kernel's first-bits table (engine._rate.first_bits_table), counted per block, against numpy.searchsorted
over the block edges: interval starts anywhere, exactly on block edges, clustered in one block, at every table
size the kernel uses (4 to 22 bits)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine._rate import first_bits_table


def searched(starts: np.ndarray, bits: int) -> np.ndarray:
    """The table as the kernel built it before: the last start <= each block's first key."""
    edges = np.arange((1 << bits) + 1, dtype=np.uint64) << np.uint64(63 - bits)
    want = (np.searchsorted(starts, edges, side="right") - 1).astype(np.int32)
    want[-1] = len(starts) - 1
    return want


@st.composite
def starts_and_bits(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    bits = draw(st.integers(4, 22))
    shift = 63 - bits
    anywhere = st.integers(1, 2**63 - 1)
    on_edges = st.integers(1, 2**bits - 1).map(lambda b: b << shift)
    one_block = st.integers(1, 2**bits - 1).flatmap(
        lambda b: st.integers(0, 2**shift - 1).map(lambda off: (b << shift) + off))
    values = draw(st.lists(st.one_of(anywhere, on_edges, one_block), max_size=200))
    return np.unique(np.array([0, *values], dtype=np.uint64)), bits


@settings(max_examples=200, deadline=None)
@given(starts_and_bits())
def test_first_bits_table_counts_like_a_search(case: tuple[np.ndarray, int]) -> None:
    starts, bits = case
    assert np.array_equal(first_bits_table(starts, bits), searched(starts, bits))


def test_one_interval() -> None:
    """A tariff of one interval (no prefix, or '' only): every block points at it."""
    starts = np.zeros(1, np.uint64)
    assert np.array_equal(first_bits_table(starts, 4), np.zeros(17, np.int32))
