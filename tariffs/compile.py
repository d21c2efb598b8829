"""Compile a validated Tariff into the engine's arrays, checking everything that spans several rows.

Prefixes become disjoint intervals of base-11 keys (digit d -> d+1, 0 pads a short number, so a number shorter
than a prefix never falls inside it) labelled with the longest covering prefix; a table on the first digits narrows
each binary search. Bands become one schedule per kind of day; the timezone becomes a table of UTC offsets.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

try:  # the pure-Python zoneinfo: how tz_table reads a zone's transitions (private, but stdlib; see _offset_marks)
    from zoneinfo import _zoneinfo as _pyzoneinfo
except ImportError:  # pragma: no cover - tz_table then samples every day
    _pyzoneinfo = None

import numpy as np

from engine import MAX_DURATION, STATUS_NAMES, RateTables, build_intervals
from engine.money import DECIMALS, INT64_MAX
from i18n import _
from tariffs import _deck
from tariffs.errors import Collector, TariffError
from tariffs.load import PrefixColumn, prefix_bytes
from tariffs.model import ALL_BANDS, ALWAYS, DAY_NAMES, NONE, Tariff, day_from_number

MAX_DENOM = 1_000_000
# Record layouts of the engine's IvRec, RateRec and SlotRec (engine/_rate.pyx): C struct order, C alignment.
RATE_DTYPE = np.dtype([("eff", np.int64), ("connect", np.int64), ("min_cost", np.int64), ("max_cost", np.int64),
                       ("slot_lo", np.int32), ("slot_hi", np.int32), ("band", np.int16)], align=True)
IV_DTYPE = np.dtype([("start", np.uint64), ("prefix", np.int32)], align=True)
SLOT_DTYPE = np.dtype([("price", np.int64), ("scaled", np.int64), ("incprice", np.int64), ("start", np.int32),
                       ("inc", np.int32), ("unit", np.int32)], align=True)
TZ_FIRST_YEAR, TZ_LAST_YEAR = 1970, 2100


@dataclass
class CompiledTariff:
    """A tariff ready to rate: the engine's tables plus what is needed to show results."""

    tariff: Tariff
    tables: RateTables
    arrays: dict[str, Any]
    prefixes: Sequence[str]  # prefix id -> digits (a tariffs.load.PrefixColumn: str on access)
    rate_row: np.ndarray  # rate id -> first deck row (its from=0 slot)
    slot_row: np.ndarray  # slot id -> deck row
    rate_prefix: np.ndarray  # rate id -> prefix id
    rate_dest: np.ndarray  # rate id -> destination index
    stats: dict[str, int] = field(default_factory=dict)

    def rate(self, numbers: Any, starts: Any, durations: Any) -> dict[str, np.ndarray]:
        """Rate a batch: numbers as a sequence of digit strings or an 'S' array, starts as UTC epoch seconds,
        durations in seconds. Returns the engine's dict of result arrays."""
        digits = numbers if isinstance(numbers, np.ndarray) and numbers.dtype.kind == "S" else \
            np.array([str(n).encode("ascii", "replace") for n in numbers], dtype="S")
        return self.tables.rate(digits, np.ascontiguousarray(starts, dtype=np.int64),
                                np.ascontiguousarray(durations, dtype=np.int32))

    def destination(self, rate: int) -> str:
        return self.tariff.rows.destinations[int(self.rate_dest[rate])]

    def describe(self, result: dict[str, np.ndarray], i: int) -> dict[str, Any]:
        """One call's result as plain values (prefix digits, destination, band name, status name)."""
        rate = int(result["rate"][i])
        band = int(result["band"][i])
        # the prefix whose rate priced the call (a shorter one when the longest match has no rate in force)
        pid = int(self.rate_prefix[rate]) if rate >= 0 else int(result["prefix"][i])
        return {
            "status": STATUS_NAMES[int(result["status"][i])],
            "prefix": self.prefixes[pid] if pid >= 0 else None,
            "destination": self.destination(rate) if rate >= 0 else None,
            "band": self.tariff.bands[band].name if band >= 0 else None,
            "parts": int(result["parts"][i]),
            "billed_seconds": int(result["billed"][i]),
            "cost": int(result["cost"][i]),
        }


def compile_tariff(tariff: Tariff) -> CompiledTariff:
    """Check the rows as a whole and build the engine's tables; raise TariffError naming the rows at fault."""
    errs = Collector()
    rows = tariff.rows
    n = len(rows)
    digits = prefix_bytes(rows.prefix)  # 'S' array: no Python string per row
    lens = _deck.lengths(np.ascontiguousarray(digits).view(np.uint8).reshape(n, digits.dtype.itemsize)) if n \
        else np.zeros(0, np.int64)
    key_len = max(1, int(lens.max(initial=1)))

    # --- prefixes -> ids, intervals, parents ---
    keys = digit_keys(digits, key_len)
    by_key = stable_argsort(keys, key_len)  # one stable sort: the prefix ids, their first rows, the rate order
    sorted_keys = keys[by_key]
    new_key = np.ones(n, dtype=bool)
    new_key[1:] = sorted_keys[1:] != sorted_keys[:-1]
    uniq_keys = sorted_keys[new_key]
    row_pid = np.empty(n, dtype=np.int32)
    pid_sorted = np.cumsum(new_key, dtype=np.int32)
    pid_sorted -= 1
    row_pid[by_key] = pid_sorted
    n_pref = len(uniq_keys)
    first_row = by_key[new_key]  # stable: the first row of each prefix
    prefixes = PrefixColumn(np.take(digits, first_row, out=_deck.zeroed(n_pref * digits.dtype.itemsize).view(
        digits.dtype)))  # kept: in 2 MB pages when large
    plen = lens[first_row].astype(np.int64)
    width = np.array([11**k for k in range(key_len + 1)], dtype=np.uint64)[key_len - plen]
    lo = uniq_keys  # sorted: a prefix comes before the longer prefixes it contains
    hi = lo + (width - np.uint64(1))
    iv_start, iv_prefix, parent = build_intervals(lo, hi, np.arange(n_pref, dtype=np.int64))
    # a first-digits table about as long as the interval list, at most 11**5 entries (644 kB: stays in cache)
    top_digits = max(0, min(key_len, math.ceil(math.log(max(len(iv_start), 2), 11)), 5))
    # block b starts at key b * step; its entry is the last interval starting at or before that key: the count of
    # starts <= b * step (those whose ceiling block is <= b), less one (a searchsorted of each block, in O(n))
    step = np.uint64(11 ** (key_len - top_digits))
    ceiling = np.asarray(iv_start, dtype=np.uint64) + (step - np.uint64(1))  # (in place below: fewer new pages)
    ceiling //= step
    top_index = np.cumsum(np.bincount(ceiling.view(np.int64), minlength=11**top_digits + 1), dtype=np.int32)
    top_index -= 1
    top_index[-1] = len(iv_start) - 1

    # --- effective dates -> UTC instants at local midnight ---
    zone = ZoneInfo(tariff.timezone)
    eff_days = rows.effective_from
    eff = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    for day in _distinct(eff_days[eff_days != ALWAYS]).tolist():
        eff[eff_days == day] = local_midnight(day_from_number(int(day)), zone)

    # --- rows -> rates (prefix, band, effective) -> slots ---
    is_all = (rows.band == ALL_BANDS).astype(np.int8)
    # constant keys change no comparison of a stable sort: leaving them out gives the same order, faster
    sort_keys = [k for k in (rows.slot_from, rows.band, is_all, ~eff) if n and k.min() != k.max()]
    # by prefix alone (the usual deck: one '*' row per prefix), the stable sort by key is that order already; so
    # it is when each prefix's rows come in the deck in the order of the other keys (slots written from 0 up)
    order = by_key if _ordered_within(sort_keys, row_pid, by_key) else np.lexsort((*sort_keys, row_pid))
    r_pid, r_band, r_eff, r_from = row_pid[order], rows.band[order], eff[order], rows.slot_from[order]
    same_rate = np.zeros(n, dtype=bool)
    if n > 1:
        same_rate[1:] = (r_pid[1:] == r_pid[:-1]) & (r_band[1:] == r_band[:-1]) & (r_eff[1:] == r_eff[:-1])
    dup = np.zeros(n, dtype=bool)
    dup[1:] = same_rate[1:] & (r_from[1:] == r_from[:-1])
    for k in np.flatnonzero(dup)[:50]:
        errs.add(tariff.where(int(order[k])), None,
                 _("duplicate row: prefix {prefix}, band {band}, from {start} and effective_from are the same as "
                   "at {other}").format(prefix=repr(prefixes[r_pid[k]]), band=repr(tariff.band_name(int(r_band[k]))),
                                        start=int(r_from[k]), other=tariff.where(int(order[k - 1]))))
    starts = np.flatnonzero(~same_rate)  # first row of each rate, in rate order
    for k in starts[r_from[starts] != 0][:50]:
        errs.add(tariff.where(int(order[k])), "from",
                 _("prefix {prefix} band {band}: the first slot starts at {start}; a rate needs a row with "
                   "from = 0").format(prefix=repr(prefixes[r_pid[k]]), band=repr(tariff.band_name(int(r_band[k]))),
                                      start=int(r_from[k])))
    rate_of_row = np.cumsum(~same_rate) - 1
    first = order[starts][rate_of_row]  # for each sorted row, the from=0 row of its rate
    rest = np.flatnonzero(same_rate)
    for name, col, empty in (("destination", rows.destination, None), ("connect_fee", rows.connect_fee, 0),
                             ("min_cost", rows.min_cost, NONE), ("max_cost", rows.max_cost, NONE)):
        mine, theirs = col[order[rest]], col[first[rest]]
        bad = (mine != theirs) if empty is None else ((mine != theirs) & (mine != empty))
        for k in rest[bad][:50]:
            errs.add(tariff.where(int(order[k])), name,
                     _(
                         "differs from the rate's first slot at {first}: {name} belongs to the whole rate (give it on "
                         "the from = 0 row only)").format(first=tariff.where(int(first[k])), name=name))
    errs.raise_if_any()

    rate_row = order[starts]
    n_rates = len(starts)
    rate_pid = r_pid[starts]
    # rate_pid is sorted: a prefix's first rate is the count of rates of smaller prefixes (= searchsorted, in O(n))
    prefix_rate_lo = np.zeros(n_pref + 1, dtype=np.int32)
    np.cumsum(np.bincount(rate_pid, minlength=n_pref), out=prefix_rate_lo[1:])
    rate_slot_lo = np.append(starts, n).astype(np.int32)
    band_rate = _band_rate(rate_pid, r_band[starts], n_pref, len(tariff.bands))

    # --- money scale: exact fractions over a common denominator, or per-increment rounding ---
    unit = rows.unit[order].astype(np.int64)
    price = rows.price[order]
    inc = rows.increment[order].astype(np.int64)
    max_price, max_connect = int(price.max(initial=0)), int(rows.connect_fee.max(initial=0))
    seconds = MAX_DURATION + 86_400  # the longest call plus its last increment
    if tariff.increment_decimals is None:
        denom = 1
        for u in _distinct(unit).tolist():
            denom = math.lcm(denom, int(u))
        if denom > MAX_DENOM:
            raise TariffError.single(str(tariff.path), "unit", _(
                "the units' least common multiple ({denom}) exceeds {limit}: use fewer distinct units").format(
                denom=denom, limit=MAX_DENOM))
        inc_quantum = 0
        worst = max_price * denom * seconds + max_connect * denom
        scaled = price * (denom // unit) if worst < INT64_MAX // 2 else price
        incprice = np.zeros(n, dtype=np.int64)
    else:
        denom = 1
        inc_quantum = 10 ** (DECIMALS - tariff.increment_decimals)
        worst = max_price * int(inc.max(initial=1)) * seconds + max_connect
        scaled = np.zeros(n, dtype=np.int64)
        incprice = _increment_prices(price, inc, unit, inc_quantum) if worst < INT64_MAX // 2 else scaled
    if worst >= INT64_MAX // 2:
        raise TariffError.single(str(tariff.path), "price", _(
            "prices are too large to be summed exactly over a 7-day call; check the price and unit columns"))

    day_class, special_day, special_sched, sched_lo, seg_start, seg_band = _schedules(tariff)
    tz_at, tz_off = tz_table(tariff.timezone)

    # each rate's fields from its from = 0 row, and its slots
    rate_rec = _records(RATE_DTYPE, rate_row, eff=eff, connect=rows.connect_fee, min_cost=rows.min_cost,
                        max_cost=rows.max_cost, band=rows.band)
    rate_rec["slot_lo"], rate_rec["slot_hi"] = rate_slot_lo[:-1], rate_slot_lo[1:]
    arrays: dict[str, Any] = {
        "key_len": key_len,
        "top_digits": top_digits,
        "n_bands": len(tariff.bands),
        "mode": tariff.mode,
        "anchor": tariff.anchor,
        "split": tariff.split,
        "denom": denom,
        "quantum": 10 ** (DECIMALS - tariff.decimals),
        "inc_quantum": inc_quantum,
        "iv_start": iv_start,
        "iv_prefix": iv_prefix,
        "iv_rec": _records(IV_DTYPE, start=iv_start, prefix=iv_prefix),
        "top_index": top_index,
        "prefix_parent": parent,
        "prefix_rate_lo": prefix_rate_lo,
        "band_rate": band_rate,
        "rate_rec": rate_rec,
        "slot_rec": _records(SLOT_DTYPE, price=price, scaled=scaled, incprice=incprice, start=r_from, inc=inc,
                             unit=unit),
        "rate_slot_lo": rate_slot_lo,
        "day_class": day_class,
        "special_day": special_day,
        "special_sched": special_sched,
        "sched_lo": sched_lo,
        "seg_start": seg_start,
        "seg_band": seg_band,
        "tz_at": tz_at,
        "tz_off": tz_off,
    }
    return CompiledTariff(
        tariff=tariff,
        tables=RateTables(arrays),
        arrays=arrays,
        prefixes=prefixes,
        rate_row=rate_row,
        slot_row=order,
        rate_prefix=rate_pid,
        rate_dest=rows.destination[rate_row],
        stats={"rows": n, "prefixes": n_pref, "rates": n_rates, "intervals": len(iv_start),
               "destinations": len(rows.destinations), "bands": len(tariff.bands),
               "schedules": len(sched_lo) - 1},
    )


def stable_argsort(keys: np.ndarray, key_len: int) -> np.ndarray:
    """np.argsort(keys, kind="stable") of base-11 keys (< 11**key_len). When a key and a row number fit in 64 bits
    together, one sort of key * 2**b + row gives that order (keys tie only with their row numbers in order) and
    numpy's unstable sort of plain integers is some five times faster than its stable sort."""
    n = len(keys)
    bits = max(1, (n - 1).bit_length())
    if n < 2 or 11**key_len > 2 ** (64 - bits):
        return np.argsort(keys, kind="stable")
    packed = (keys.astype(np.uint64) << np.uint64(bits)) | np.arange(n, dtype=np.uint64)
    packed.sort()
    return (packed & np.uint64((1 << bits) - 1)).astype(np.intp)


def _ordered_within(sort_keys: list[np.ndarray], row_pid: np.ndarray, by_key: np.ndarray) -> bool:
    """Whether np.lexsort((*sort_keys, row_pid)) is `by_key` (rows by prefix, stable): true when, inside each
    prefix, the rows already come in the order of the other keys (the last one first), ties included."""
    if not sort_keys:
        return True
    pid = row_pid[by_key]
    pairs = np.flatnonzero(pid[1:] == pid[:-1])  # a row and the next one, of the same prefix
    a, b = by_key[pairs], by_key[pairs + 1]
    undecided = np.ones(len(pairs), dtype=bool)
    for key in reversed(sort_keys):  # lexsort's last key is its first
        x, y = key[a], key[b]
        if np.any(undecided & (x > y)):
            return False
        undecided &= x == y
    return True


def _band_rate(rate_pid: np.ndarray, rate_band: np.ndarray, n_pref: int, n_bands: int) -> np.ndarray:
    """For each prefix and band (column 0: no band), its first rate that applies to the band in scan order
    (latest version first), or -1: the engine starts its search there instead of scanning the prefix's rates.
    One pass in C (tariffs/_deck.pyx band_rate): a '*' rate applies to every column."""
    return _deck.band_rate(np.ascontiguousarray(rate_pid, dtype=np.int32),
                           np.ascontiguousarray(rate_band, dtype=np.int16), n_pref, n_bands, ALL_BANDS)


def _distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values (np.unique, without its first-call import of numpy.ma: 20 ms a command)."""
    ordered = np.sort(values)
    keep = np.ones(len(ordered), dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep]


def _records(dtype: np.dtype, rows: np.ndarray | None = None, **columns: np.ndarray) -> np.ndarray:
    """A record array of `dtype` from columns (record i: each column's row i, or its row rows[i]), filled in C
    (tariffs/_deck.pyx interleave): no strided pass per field, no gathered copy of a column."""
    n = len(rows) if rows is not None else len(next(iter(columns.values())))
    out = _deck.zeroed(n * dtype.itemsize).view(dtype)  # kept with the tariff: in 2 MB pages when large
    pick = None if rows is None else np.ascontiguousarray(rows, dtype=np.int64)
    fields = []
    for name, values in columns.items():
        ftype, offset = dtype.fields[name][:2]
        column = np.ascontiguousarray(np.asarray(values).astype(ftype, copy=False))
        fields.append((offset, column.view(np.uint8).reshape(len(column), ftype.itemsize), pick))
    if n:
        _deck.interleave(out.view(np.uint8).reshape(n, dtype.itemsize), fields)
    return out


def digit_keys(digits: np.ndarray, key_len: int) -> np.ndarray:
    """Base-11 keys of digit strings ('S' array), truncated or padded to key_len digits: '0'..'9' -> 1..10."""
    n = len(digits)
    width = digits.dtype.itemsize
    if n == 0 or width == 0:
        return np.zeros(n, dtype=np.uint64)
    # one pass in C (tariffs/_deck.pyx); bytes strings have no embedded NULs, so pads are trailing
    return _deck.keys(np.ascontiguousarray(digits).view(np.uint8).reshape(n, width), key_len)


def _increment_prices(price: np.ndarray, inc: np.ndarray, unit: np.ndarray, quantum: int) -> np.ndarray:
    """Each increment's price: price * inc / (unit * quantum) rounded half up (a remainder of half the divisor or
    more rounds up; all non-negative), times quantum. In place in two new arrays (each new
    array of a 1M-row deck is 2,000 first-touched pages). A single unit makes the divisor a scalar."""
    num = price * inc
    den: Any = int(unit[0]) * quantum if len(unit) and unit.min() == unit.max() else unit * quantum
    rem = np.empty_like(num)
    np.divmod(num, den, out=(num, rem))  # num is now the quotient
    rem *= 2
    num += rem >= den
    num *= quantum
    return num


def local_midnight(day: dt.date, zone: ZoneInfo) -> int:
    """UTC instant where the local date `day` begins (the first instant after a gap when midnight is skipped)."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())


@lru_cache(maxsize=64)
def tz_table(name: str) -> tuple[np.ndarray, np.ndarray]:
    """UTC offsets of a zone as (instants, offsets): offsets[i] applies from instants[i] on (instants[0] is the
    smallest int64). Defined as sampling the offset every day from 1970 to 2100 and bisecting each change to the
    second (`_tz_table_by_days`, 52,000 datetime calls: a tenth of a second that every command paid); computed
    here from the few instants where the offset can change, with the same result (tests/test_tariff_tz.py compares
    them zone by zone)."""
    zone = ZoneInfo(name)
    t0 = int(dt.datetime(TZ_FIRST_YEAR, 1, 1, tzinfo=dt.timezone.utc).timestamp())
    t1 = int(dt.datetime(TZ_LAST_YEAR + 1, 1, 1, tzinfo=dt.timezone.utc).timestamp())
    try:
        marks = _offset_marks(name, t0, t1)
    except Exception:  # noqa: BLE001 - the pure-Python zoneinfo's internals moved: the slow way still works
        marks = None
    table = _tz_table_from_marks(zone, marks, t0, t1) if marks is not None else None
    return table if table is not None else _tz_table_by_days(zone, t0, t1)


def _utc_offset(zone: ZoneInfo, t: int) -> int:
    return int(dt.datetime.fromtimestamp(t, zone).utcoffset().total_seconds())


def _offset_marks(name: str, t0: int, t1: int) -> list[int]:
    """Instants in [t0, t1] after which the zone's offset may differ (a superset of the real changes, t0 first),
    read from the zone's own data: its TZif transitions, then the yearly rule of its POSIX TZ string, as the
    pure-Python zoneinfo reads them (the C zoneinfo reads the same file with the same rules). Generous on purpose
    (each rule change, and one fold or gap on each side of it): an extra mark costs two datetime calls, while a
    missing one is caught only if the offset just before the next mark differs (tests/test_tariff_tz.py)."""
    pyzi = _pyzoneinfo  # private, but stdlib: tz_table falls back to day sampling if it ever changes
    zone = pyzi.ZoneInfo.no_cache(name)
    trans = [int(t) for t in zone._trans_utc]
    marks = {t0, *trans}
    if trans:
        marks.add(trans[-1] + 1)  # after the last transition the TZ string's rule takes over
    after = zone._tz_after
    if isinstance(after, pyzi._TZStr):
        offs = {int(after.std.utcoff.total_seconds()), int(after.dst.utcoff.total_seconds())}
        span = abs(int(after.dst_diff))
        last_year = dt.datetime.fromtimestamp(trans[-1], dt.timezone.utc).year if trans else TZ_FIRST_YEAR
        for year in range(max(TZ_FIRST_YEAR, last_year) - 1, TZ_LAST_YEAR + 2):
            new_year = int(dt.datetime(year, 1, 1, tzinfo=dt.timezone.utc).timestamp())
            # the rule is applied per year (UTC year for instants, local year for local times)
            marks.add(new_year)
            for t in (new_year, *after.transitions(year)):
                for o in offs:
                    marks.update((t - o, t - o - span, t - o + span))  # the change, and the fold or gap around it
    elif not isinstance(after, pyzi._ttinfo):
        raise TypeError(after)
    return sorted(m for m in marks if t0 <= m <= t1)


def _tz_table_from_marks(zone: ZoneInfo, marks: list[int], t0: int, t1: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The day-by-day table computed from a step function: the zone is asked at each mark and just before the
    next one (None if those differ: a change between two marks, so `marks` was not a superset), then the daily
    sampling and each bisection are replayed on the steps, exactly as `_tz_table_by_days` runs them."""
    if not marks or marks[0] != t0:
        return None
    ends = [*marks[1:], t1 + 1]
    values = [_utc_offset(zone, m) for m in marks]
    for m, end, v in zip(marks, ends, values):
        if end - 1 > m and _utc_offset(zone, end - 1) != v:
            return None
    # the daily samples t0 + k * 86400 change value only at the first sample at or after a mark: sample k takes the
    # value of the last mark whose first sample is <= k (no need to look at all 47,848 samples)
    mark_arr = np.array(marks, dtype=np.int64)
    first_sample = -(-(mark_arr - t0) // 86_400)
    last = np.flatnonzero(np.append(first_sample[1:] != first_sample[:-1], True))  # each sample's last mark
    ks, vs = first_sample[last].tolist(), [values[j] for j in last.tolist()]
    at = [np.iinfo(np.int64).min]
    off = [vs[0]]  # sample 0 is t0, the first mark
    for i in range(1, len(ks)):
        if vs[i] == vs[i - 1]:
            continue
        prev_off, new_off = vs[i - 1], vs[i]
        lo, hi = t0 + (ks[i] - 1) * 86_400, t0 + ks[i] * 86_400
        # the steps in (lo, hi]: when the offset leaves prev_off at one and never comes back before hi, the
        # bisection ends on that step's mark (its test is then monotone); otherwise it is replayed step by step
        a, b = bisect.bisect_right(marks, lo), bisect.bisect_right(marks, hi)
        left = [j for j in range(a, b) if values[j] != prev_off]
        if left and all(values[j] != prev_off for j in range(left[0], b)):
            at.append(marks[left[0]])
            off.append(new_off)
            continue
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if values[bisect.bisect_right(marks, mid) - 1] == prev_off:
                lo = mid
            else:
                hi = mid
        at.append(hi)
        off.append(new_off)
    return np.array(at, dtype=np.int64), np.array(off, dtype=np.int32)


def _tz_table_by_days(zone: ZoneInfo, t0: int, t1: int) -> tuple[np.ndarray, np.ndarray]:
    """The table's definition, and the fallback: sample every day, bisect each change to the second."""
    at = [np.iinfo(np.int64).min]
    off = [_utc_offset(zone, t0)]
    prev_t, prev_off = t0, off[0]
    for t in range(t0 + 86_400, t1 + 1, 86_400):
        o = _utc_offset(zone, t)
        if o != prev_off:
            lo, hi = prev_t, t  # offset(lo) == prev_off, offset(hi) == o
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _utc_offset(zone, mid) == prev_off:
                    lo = mid
                else:
                    hi = mid
            at.append(hi)
            off.append(o)
            prev_off = o
        prev_t = t
    return np.array(at, dtype=np.int64), np.array(off, dtype=np.int32)


def _schedules(tariff: Tariff) -> tuple[np.ndarray, ...]:
    """One schedule (segments of the day: start second, band) per kind of day; special days for YYYY-MM-DD."""
    bands = tariff.bands
    schedules: dict[tuple[tuple[int, int], ...], int] = {}
    lows: list[int] = [0]
    seg_start: list[int] = []
    seg_band: list[int] = []
    errs = Collector()

    memo: dict[tuple[int, ...], int] = {}

    def schedule(matching: list[int], what: Callable[[], str]) -> int:
        """The schedule of a day whose bands are `matching`; computed once per set of bands unless it has a
        problem (then once per day, each day named in its own message)."""
        done = memo.get(tuple(matching))
        if done is not None:
            return done
        n_problems = len(errs.problems)
        segs: list[tuple[int, int]] = []
        for t in sorted({bands[b].start for b in matching}):
            live = [b for b in matching if bands[b].start <= t]
            best = max(live, key=lambda b: (bands[b].weight, bands[b].start))
            tied = [b for b in live if (bands[b].weight, bands[b].start) == (bands[best].weight, bands[best].start)]
            if len(tied) > 1:
                names = " and ".join(repr(bands[b].name) for b in tied)
                errs.add(str(tariff.path), "band", _(
                    "bands {names} both start at {value} with weight {weight} on {what}: give one a higher weight")
                    .format(names=names, value=bands[best].start_text(), weight=bands[best].weight, what=what()))
            if not segs or segs[-1][1] != best:
                segs.append((t, best))
        if not segs or segs[0][0] != 0:
            segs.insert(0, (0, -1))
        key = tuple(segs)
        if key not in schedules:
            schedules[key] = len(schedules)
            seg_start.extend(s for s, _b in segs)
            seg_band.extend(b for _s, b in segs)
            lows.append(len(seg_start))
        if len(errs.problems) == n_problems:
            memo[tuple(matching)] = schedules[key]
        return schedules[key]

    day_class = np.zeros(7 * 12 * 31, dtype=np.int16)  # no band (a deck's usual case): every day is schedule 0
    for wd in range(7 if bands else 0):
        for month in range(1, 13):
            for mday in range(1, 32):
                matching = [i for i, b in enumerate(bands) if b.matches_parts(wd, month, mday, None)]
                what = functools.partial("{} {:02d}-{:02d}".format, DAY_NAMES[wd], month, mday)
                day_class[(wd * 12 + month - 1) * 31 + mday - 1] = schedule(matching, what)
    if not bands:
        schedule([], str)
    specials = sorted({d for b in bands for d in b.full_dates})
    special_sched = [schedule([i for i, b in enumerate(bands) if b.matches(d)], d.isoformat) for d in specials]
    if errs.problems:
        errs.problems = list({str(p): p for p in errs.problems}.values())[:10]
        errs.raise_if_any()
    return (
        day_class,
        np.array([(d - dt.date(1970, 1, 1)).days for d in specials], dtype=np.int32),
        np.array(special_sched, dtype=np.int16),
        np.array(lows, dtype=np.int32),
        np.array(seg_start, dtype=np.int32),
        np.array(seg_band, dtype=np.int16),
    )
