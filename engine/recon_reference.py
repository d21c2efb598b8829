"""The reconciliation rule in plain Python: the test oracle of the compiled kernel (engine._recon.match).

Written for clarity, not speed (quadratic per number): list every candidate pair, sort by the greedy key, accept a
pair when both of its lines are free, classify. The kernel must give the same matches, classes and totals.

The rule:
1. Candidates: invoice line i and CDR j with the same number, |start_i - start_j| <= tol_start and
   |duration_i - duration_j| <= tol_duration.
2. Greedy, nearest first: candidates in increasing (|dstart|, |dduration|, |damount|, i, j); a pair is taken when
   neither line is taken yet. One to one; deterministic (the key is a total order).
3. Classes: a pair whose amounts differ by more than tol_amount is `cost_mismatch`; else `exact` when start and
   duration are equal; else `near`. Unmatched lines are `only_invoice` and `only_cdr`.
4. Totals per class: count, sum of invoice amounts, sum of CDR amounts, and the sums of the positive (`over`) and
   negative (`under`, as a positive number) parts of invoice - cdr per line (an unmatched line counts its missing
   side as 0).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

CLASS_NAMES = ("exact", "near", "cost_mismatch", "only_invoice", "only_cdr")
EXACT, NEAR, COST_MISMATCH, ONLY_INVOICE, ONLY_CDR = range(5)


def match(inv_number: Sequence[int], inv_start: Sequence[int], inv_duration: Sequence[int],
          inv_amount: Sequence[int], cdr_number: Sequence[int], cdr_start: Sequence[int],
          cdr_duration: Sequence[int], cdr_amount: Sequence[int], tol_start: int, tol_duration: int,
          tol_amount: int) -> dict[str, Any]:
    """Same arguments and result as engine._recon.match, with lists for arrays and no `stats`."""
    na, nb = len(inv_number), len(cdr_number)
    by_number: dict[int, list[int]] = defaultdict(list)
    for j in range(nb):
        by_number[int(cdr_number[j])].append(j)
    candidates = []
    for i in range(na):
        for j in by_number.get(int(inv_number[i]), ()):
            dt = abs(int(inv_start[i]) - int(cdr_start[j]))
            dd = abs(int(inv_duration[i]) - int(cdr_duration[j]))
            if dt <= tol_start and dd <= tol_duration:
                candidates.append((dt, dd, abs(int(inv_amount[i]) - int(cdr_amount[j])), i, j))
    candidates.sort()
    inv_match = [-1] * na
    cdr_match = [-1] * nb
    for _dt, _dd, _da, i, j in candidates:
        if inv_match[i] < 0 and cdr_match[j] < 0:
            inv_match[i], cdr_match[j] = j, i
    inv_class = [ONLY_INVOICE] * na
    cdr_class = [ONLY_CDR] * nb
    totals = {name: {"count": 0, "invoice": 0, "cdr": 0, "over": 0, "under": 0} for name in CLASS_NAMES}
    for i in range(na):
        j = inv_match[i]
        a = int(inv_amount[i])
        b = int(cdr_amount[j]) if j >= 0 else 0
        if j < 0:
            cls = ONLY_INVOICE
        elif abs(a - b) > tol_amount:
            cls = COST_MISMATCH
        elif int(inv_start[i]) == int(cdr_start[j]) and int(inv_duration[i]) == int(cdr_duration[j]):
            cls = EXACT
        else:
            cls = NEAR
        inv_class[i] = cls
        if j >= 0:
            cdr_class[j] = cls
        _add(totals[CLASS_NAMES[cls]], a, b)
    for j in range(nb):
        if cdr_match[j] < 0:
            _add(totals["only_cdr"], 0, int(cdr_amount[j]))
    return {"inv_class": inv_class, "inv_match": inv_match, "cdr_class": cdr_class, "cdr_match": cdr_match,
            "totals": totals}


def _add(total: dict[str, int], invoice: int, cdr: int) -> None:
    total["count"] += 1
    total["invoice"] += invoice
    total["cdr"] += cdr
    diff = invoice - cdr
    if diff > 0:
        total["over"] += diff
    else:
        total["under"] -= diff
