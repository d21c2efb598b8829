"""The reconciliation kernel (engine._recon.match) against its plain-Python oracle (engine.recon_reference), plus
the rule on hand-made cases: nearest first, one to one, deterministic ties, classes, exact 128-bit totals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import _recon
from engine import recon_reference as ref

FIELDS = ("inv_class", "inv_match", "cdr_class", "cdr_match")


def run_both(inv: list[tuple[int, int, int, int]], cdr: list[tuple[int, int, int, int]], tol_start: int,
             tol_duration: int, tol_amount: int) -> dict:
    """Run the kernel and the reference on (number, start, duration, amount) rows; assert they agree; return the
    kernel's result."""
    def cols(rows: list[tuple[int, int, int, int]]) -> list[np.ndarray]:
        return [np.array([r[k] for r in rows], dtype=t) for k, t in
                enumerate((np.int64, np.int64, np.int32, np.int64))]

    got = _recon.match(*cols(inv), *cols(cdr), tol_start, tol_duration, tol_amount)
    want = ref.match(*zip(*inv) if inv else ([], [], [], []), *zip(*cdr) if cdr else ([], [], [], []),
                     tol_start, tol_duration, tol_amount)
    for key in FIELDS:
        assert got[key].tolist() == list(want[key]), key
    assert got["totals"] == want["totals"]
    return got


def classes(res: dict, side: str = "inv") -> list[str]:
    return [ref.CLASS_NAMES[c] for c in res[f"{side}_class"].tolist()]


def test_class_names_agree() -> None:
    assert tuple(_recon.CLASS_NAMES) == ref.CLASS_NAMES


def test_each_class() -> None:
    inv = [(1, 1000, 60, 100), (2, 2000, 60, 100), (3, 3000, 60, 999), (4, 4000, 60, 100)]
    cdr = [(1, 1000, 60, 100), (2, 2003, 61, 100), (3, 3000, 60, 100), (5, 5000, 60, 70)]
    res = run_both(inv, cdr, 60, 5, 0)
    assert classes(res) == ["exact", "near", "cost_mismatch", "only_invoice"]
    assert classes(res, "cdr") == ["exact", "near", "cost_mismatch", "only_cdr"]
    assert res["inv_match"].tolist() == [0, 1, 2, -1]
    t = res["totals"]
    assert t["cost_mismatch"] == {"count": 1, "invoice": 999, "cdr": 100, "over": 899, "under": 0}
    assert t["only_invoice"] == {"count": 1, "invoice": 100, "cdr": 0, "over": 100, "under": 0}
    assert t["only_cdr"] == {"count": 1, "invoice": 0, "cdr": 70, "over": 0, "under": 70}


def test_tolerances_are_inclusive_and_needed_on_both_start_and_duration() -> None:
    inv = [(1, 1000, 60, 0), (2, 1000, 60, 0), (3, 1000, 60, 0)]
    cdr = [(1, 1060, 65, 0), (2, 1061, 60, 0), (3, 1000, 66, 0)]
    res = run_both(inv, cdr, 60, 5, 0)
    assert classes(res) == ["near", "only_invoice", "only_invoice"]


def test_nearest_in_time_wins_even_when_it_comes_later() -> None:
    # invoice line 0 at 100 could take the CDR at 130, but line 1 at 128 is nearer: greedy by distance, not order
    inv = [(7, 100, 60, 0), (7, 128, 60, 0)]
    cdr = [(7, 130, 60, 0)]
    res = run_both(inv, cdr, 60, 5, 0)
    assert res["inv_match"].tolist() == [-1, 0]


def test_one_to_one_a_duplicate_billing_leaves_one_line_unmatched() -> None:
    inv = [(7, 100, 60, 50), (7, 100, 60, 50)]
    cdr = [(7, 100, 60, 50)]
    res = run_both(inv, cdr, 60, 5, 0)
    assert classes(res) == ["exact", "only_invoice"]  # the tie goes to the lower invoice index


def test_ties_break_on_duration_then_amount_then_index() -> None:
    inv = [(7, 100, 60, 50)]
    cdr = [(7, 110, 64, 50), (7, 90, 61, 50), (7, 110, 61, 50)]
    res = run_both(inv, cdr, 60, 5, 0)
    assert res["inv_match"].tolist() == [1]  # |dt| 10 for all three: the smaller |dduration| (1), lower index
    cdr = [(7, 110, 61, 58), (7, 90, 61, 51)]
    assert run_both(inv, cdr, 60, 5, 0)["inv_match"].tolist() == [1]  # same time and duration: nearer amount


def test_different_numbers_never_match() -> None:
    res = run_both([(1, 100, 60, 0)], [(2, 100, 60, 0)], 60, 5, 0)
    assert classes(res) == ["only_invoice"]


def test_result_does_not_depend_on_input_order() -> None:
    rng = np.random.default_rng(5)
    n = 400
    cols = [rng.integers(0, 20, n), rng.integers(0, 600, n), rng.integers(0, 5, n), rng.integers(0, 3, n)]
    inv = [tuple(int(c[k]) for c in cols) for k in range(n)]
    cdr = [(a, b + int(rng.integers(-3, 4)), d, e) for a, b, d, e in inv[: n // 2]]
    base = run_both(inv, cdr, 30, 2, 0)
    perm = rng.permutation(len(cdr))
    shuffled = run_both(inv, [cdr[k] for k in perm], 30, 2, 0)
    # the same pairs, seen through the permutation (shuffled position k is original CDR perm[k])
    assert [int(perm[j]) if j >= 0 else -1 for j in shuffled["inv_match"].tolist()] == base["inv_match"].tolist()
    assert (base["inv_match"] >= 0).sum() > n // 4  # the data does match, so the comparison means something
    assert shuffled["totals"] == base["totals"]


def test_totals_are_exact_beyond_int64() -> None:
    big = 2**62
    inv = [(k, 100 * k, 60, big) for k in range(8)]
    res = run_both(inv, [], 60, 5, 0)
    assert res["totals"]["only_invoice"]["invoice"] == 8 * big  # 2**65: would overflow an int64 sum


def test_extreme_keys_and_starts() -> None:
    lo, hi = -(2**63), 2**63 - 1
    inv = [(lo, 0, 0, 0), (hi, 2**32 - 1, 0, 0)]
    cdr = [(lo, 5, 1, 0), (hi, 2**32 - 2, 0, 0)]
    res = run_both(inv, cdr, 2**40, 1, 0)
    assert classes(res) == ["near", "near"]


def test_bad_input_is_refused() -> None:
    one = [np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.int32), np.zeros(1, np.int64)]
    with pytest.raises(ValueError, match="same length"):
        _recon.match(np.zeros(2, np.int64), *one[1:], *one, 1, 1, 1)
    with pytest.raises(ValueError, match="negative"):
        _recon.match(*one[:2], np.array([-1], np.int32), one[3], *one, 1, 1, 1)
    with pytest.raises(ValueError, match="amount"):
        _recon.match(*one[:3], np.array([2**62 + 1], np.int64), *one, 1, 1, 1)
    with pytest.raises(ValueError, match="span"):
        _recon.match(*one, one[0], np.array([2**32], np.int64), *one[2:], 1, 1, 1)
    with pytest.raises(ValueError, match="tolerances"):
        _recon.match(*one, *one, -1, 1, 1)


row = st.tuples(st.integers(0, 3), st.integers(0, 120), st.integers(0, 8), st.integers(-3, 3))


@given(st.lists(row, max_size=40), st.lists(row, max_size=40), st.integers(0, 30), st.integers(0, 4),
       st.integers(0, 3), st.sampled_from([1, 7, 1_000_003]))
def test_engine_matches_reference(inv: list, cdr: list, tol_start: int, tol_duration: int, tol_amount: int,
                                  spread: int) -> None:
    """Few numbers, few distinct starts and durations: clusters, ties and contention on every draw. `spread`
    scales the starts so that some draws have all lines far apart."""
    inv = [(n * 1_000_003 - 2, t * spread, d, a) for n, t, d, a in inv]
    cdr = [(n * 1_000_003 - 2, t * spread, d, a) for n, t, d, a in cdr]
    res = run_both(inv, cdr, tol_start, tol_duration, tol_amount)
    matched = [j for j in res["inv_match"].tolist() if j >= 0]
    assert len(matched) == len(set(matched))  # one to one
    t = res["totals"]
    assert sum(v["count"] for k, v in t.items() if k != "only_cdr") == len(inv)
    assert sum(v["count"] for k, v in t.items() if k != "only_invoice") == len(cdr)


@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10**6), st.integers(0, 3600),
                          st.integers(-10**9, 10**9)), max_size=60),
       st.data())
def test_engine_matches_reference_on_perturbed_copies(calls: list, data: st.DataObject) -> None:
    """An invoice that is the CDRs with small shifts, some lines dropped and some added: the realistic shape."""
    inv = []
    for n, t, d, a in calls:
        if data.draw(st.booleans()):
            inv.append((n, t + data.draw(st.integers(-3, 3)), max(0, d + data.draw(st.integers(-2, 2))),
                        a + data.draw(st.sampled_from([0, 0, 1, 10**6]))))
    inv += data.draw(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10**6), st.integers(0, 3600),
                                        st.integers(0, 10**9)), max_size=5))
    run_both(inv, calls, 60, 5, 500_000)
