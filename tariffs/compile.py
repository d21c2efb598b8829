"""Compile a validated Tariff into the engine's arrays, checking everything that spans several rows.

Prefixes become disjoint intervals of base-11 keys (digit d -> d+1, 0 pads a short number, so a number shorter
than a prefix never falls inside it) labelled with the longest covering prefix; a table on the first digits narrows
each binary search. Bands become one schedule per kind of day; the timezone becomes a table of UTC offsets.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

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
    lens = (digits.view(np.uint8).reshape(n, digits.dtype.itemsize) != 0).sum(axis=1) if n else np.zeros(0, int)
    key_len = max(1, int(lens.max(initial=1)))

    # --- prefixes -> ids, intervals, parents ---
    keys = digit_keys(digits, key_len)
    by_key = np.argsort(keys, kind="stable")  # one stable sort: the prefix ids, their first rows, the rate order
    sorted_keys = keys[by_key]
    new_key = np.ones(n, dtype=bool)
    new_key[1:] = sorted_keys[1:] != sorted_keys[:-1]
    uniq_keys = sorted_keys[new_key]
    row_pid = np.empty(n, dtype=np.int32)
    row_pid[by_key] = np.cumsum(new_key) - 1
    n_pref = len(uniq_keys)
    first_row = by_key[new_key]  # stable: the first row of each prefix
    prefixes = PrefixColumn(digits[first_row])
    plen = lens[first_row].astype(np.int64)
    width = np.array([11**k for k in range(key_len + 1)], dtype=np.uint64)[key_len - plen]
    lo = uniq_keys  # sorted: a prefix comes before the longer prefixes it contains
    hi = lo + (width - np.uint64(1))
    iv_start, iv_prefix, parent = build_intervals(lo, hi, np.arange(n_pref, dtype=np.int64))
    # a first-digits table about as long as the interval list, at most 11**5 entries (644 kB: stays in cache)
    top_digits = max(0, min(key_len, math.ceil(math.log(max(len(iv_start), 2), 11)), 5))
    block = np.arange(11**top_digits + 1, dtype=np.uint64) * np.uint64(11 ** (key_len - top_digits))
    top_index = (np.searchsorted(iv_start, block, side="right") - 1).astype(np.int32)
    top_index[-1] = len(iv_start) - 1

    # --- effective dates -> UTC instants at local midnight ---
    zone = ZoneInfo(tariff.timezone)
    eff_days = rows.effective_from
    eff = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    for day in np.unique(eff_days[eff_days != ALWAYS]):
        eff[eff_days == day] = local_midnight(day_from_number(int(day)), zone)

    # --- rows -> rates (prefix, band, effective) -> slots ---
    is_all = (rows.band == ALL_BANDS).astype(np.int8)
    # constant keys change no comparison of a stable sort: leaving them out gives the same order, faster
    sort_keys = [k for k in (rows.slot_from, rows.band, is_all, ~eff) if n and k.min() != k.max()]
    # by prefix alone (the usual deck: one '*' row per prefix), the stable sort by key is that order already
    order = np.lexsort((*sort_keys, row_pid)) if sort_keys else by_key
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
    prefix_rate_lo = np.concatenate([[0], np.cumsum(np.bincount(rate_pid, minlength=n_pref))]).astype(np.int32)
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
        for u in np.unique(unit):
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
        incprice = half_up(price * inc, unit * inc_quantum) * inc_quantum if worst < INT64_MAX // 2 else scaled
    if worst >= INT64_MAX // 2:
        raise TariffError.single(str(tariff.path), "price", _(
            "prices are too large to be summed exactly over a 7-day call; check the price and unit columns"))

    day_class, special_day, special_sched, sched_lo, seg_start, seg_band = _schedules(tariff)
    tz_at, tz_off = tz_table(tariff.timezone)

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
        "rate_rec": _records(RATE_DTYPE, eff=r_eff[starts], connect=rows.connect_fee[rate_row],
                             min_cost=rows.min_cost[rate_row], max_cost=rows.max_cost[rate_row],
                             slot_lo=rate_slot_lo[:-1], slot_hi=rate_slot_lo[1:], band=r_band[starts]),
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


def _band_rate(rate_pid: np.ndarray, rate_band: np.ndarray, n_pref: int, n_bands: int) -> np.ndarray:
    """For each prefix and band (column 0: no band), its first rate that applies to the band in scan order
    (latest version first), or -1: the engine starts its search there instead of scanning the prefix's rates."""
    table = np.full((n_pref, n_bands + 1), -1, dtype=np.int32)
    for band in range(-1, n_bands):
        applies = np.flatnonzero((rate_band == band) | (rate_band == ALL_BANDS))
        pids, first = np.unique(rate_pid[applies], return_index=True)
        table[pids, band + 1] = applies[first]
    return table.reshape(-1)


def _records(dtype: np.dtype, **columns: np.ndarray) -> np.ndarray:
    n = len(next(iter(columns.values())))
    out = np.zeros(n, dtype=dtype)
    fields = []
    for name, values in columns.items():
        ftype, offset = dtype.fields[name][:2]
        column = np.ascontiguousarray(np.asarray(values).astype(ftype, copy=False))
        fields.append((offset, column.view(np.uint8).reshape(n, ftype.itemsize)))
    if n:
        _deck.interleave(out.view(np.uint8).reshape(n, dtype.itemsize), fields)  # one pass, not one per field
    return out


def digit_keys(digits: np.ndarray, key_len: int) -> np.ndarray:
    """Base-11 keys of digit strings ('S' array), truncated or padded to key_len digits: '0'..'9' -> 1..10."""
    n = len(digits)
    width = digits.dtype.itemsize
    if n == 0 or width == 0:
        return np.zeros(n, dtype=np.uint64)
    # one pass in C (tariffs/_deck.pyx); bytes strings have no embedded NULs, so pads are trailing
    return _deck.keys(np.ascontiguousarray(digits).view(np.uint8).reshape(n, width), key_len)


def half_up(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den rounded half up, for non-negative int64 arrays."""
    q, r = np.divmod(num, den)
    return q + (2 * r >= den)


def local_midnight(day: dt.date, zone: ZoneInfo) -> int:
    """UTC instant where the local date `day` begins (the first instant after a gap when midnight is skipped)."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())


@lru_cache(maxsize=64)
def tz_table(name: str) -> tuple[np.ndarray, np.ndarray]:
    """UTC offsets of a zone as (instants, offsets): offsets[i] applies from instants[i] on (instants[0] is the
    smallest int64). Found by sampling every day from 1970 to 2100 and bisecting each change to the second."""
    zone = ZoneInfo(name)

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


def _schedules(tariff: Tariff) -> tuple[np.ndarray, ...]:
    """One schedule (segments of the day: start second, band) per kind of day; special days for YYYY-MM-DD."""
    bands = tariff.bands
    schedules: dict[tuple[tuple[int, int], ...], int] = {}
    lows: list[int] = [0]
    seg_start: list[int] = []
    seg_band: list[int] = []
    errs = Collector()

    def schedule(matching: list[int], what: str) -> int:
        segs: list[tuple[int, int]] = []
        for t in sorted({bands[b].start for b in matching}):
            live = [b for b in matching if bands[b].start <= t]
            best = max(live, key=lambda b: (bands[b].weight, bands[b].start))
            tied = [b for b in live if (bands[b].weight, bands[b].start) == (bands[best].weight, bands[best].start)]
            if len(tied) > 1:
                names = " and ".join(repr(bands[b].name) for b in tied)
                errs.add(str(tariff.path), "band", _(
                    "bands {names} both start at {value} with weight {weight} on {what}: give one a higher weight")
                    .format(names=names, value=bands[best].start_text(), weight=bands[best].weight, what=what))
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
        return schedules[key]

    day_class = np.zeros(7 * 12 * 31, dtype=np.int16)
    for wd in range(7):
        for month in range(1, 13):
            for mday in range(1, 32):
                matching = [i for i, b in enumerate(bands) if b.matches_parts(wd, month, mday, None)]
                what = f"{DAY_NAMES[wd]} {month:02d}-{mday:02d}"
                day_class[(wd * 12 + month - 1) * 31 + mday - 1] = schedule(matching, what)
    specials = sorted({d for b in bands for d in b.full_dates})
    special_sched = [schedule([i for i, b in enumerate(bands) if b.matches(d)], d.isoformat()) for d in specials]
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
