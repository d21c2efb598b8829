"""Rating throughput: the engine against a Python dict loop, numpy searchsorted, marisa-trie and SQLite.

Builds a carrier-like deck (country codes plus area/mobile sub-prefixes, bands, slots, connect fees) and a
batch of calls (skewed destinations, business-hours start times, exponential durations), then prints one JSON
object per line. Run from the repository root:

    .venv/bin/python benchmarks/bench_rate.py [--quick] [--calls N] [--prefixes N] [--repeat R]

benchmarks/README.md explains every line.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import sqlite3
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import phonenumbers

from engine import STATUS_NAMES, number_keys
from tariffs.compile import CompiledTariff, compile_tariff, digit_keys, local_midnight, tz_table
from tariffs.load import load_tariff, tariff_from_dict
from tariffs.model import ALL_BANDS, ALWAYS, NONE, RateRows, Tariff, day_number

SEED = 20260501
TIMEZONE = "Europe/Paris"
MONTH = dt.date(2026, 5, 1)  # calls are spread over May 2026 (no daylight-saving change inside)
DAYS = 31
HOLIDAYS = ["05-01", "05-08", "2026-05-14", "2026-05-25"]  # yearly MM-DD and one-off dates
NEW_VERSION = dt.date(2026, 5, 15)  # some prefixes get a new '*' price in force from this day on
PREFIX_WIDTH = 9  # prefixes are 4 to 9 digits (plus the bare country codes)
NUMBER_WIDTH = 15  # calls are 'S15'; numbers have 11 to 13 digits
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
SETTINGS: dict[str, Any] = {
    "name": "bench",
    "currency": "EUR",
    "timezone": TIMEZONE,
    "rounding": {"decimals": 4, "mode": "half_up"},
    "billing": {"anchor": "slot", "split": True},
    "band": [
        {"name": "peak", "days": WEEKDAYS, "start": "08:00", "weight": 10},
        {"name": "offpeak", "days": WEEKDAYS, "start": "19:00", "weight": 10},
        {"name": "weekend", "days": ["sat", "sun"], "start": "00:00", "weight": 10},
        {"name": "holiday", "dates": HOLIDAYS, "start": "00:00", "weight": 100},
    ],
}
# band name -> (share of prefixes with a rate for it, price in % of the prefix's base price); weekdays before
# 08:00 have no band, so the '*' rate applies then, and wherever a prefix has no rate for the active band
BAND_RATES = {"*": (1.0, 60), "peak": (1.0, 100), "offpeak": (0.30, 50), "weekend": (0.25, 40),
              "holiday": (0.05, 150)}
# billing schemes: (share of prefixes, slots as (from, increment))
SCHEMES = [(0.50, ((0, 60), (60, 1))), (0.35, ((0, 30), (30, 6))), (0.15, ((0, 1),))]
SIMPLE_INCREMENTS = np.array([1, 6, 30, 60], dtype=np.int32)  # the 1M-row deck: one slot per prefix
HOUR_WEIGHTS = np.array([1, 0.5, 0.3, 0.3, 0.3, 0.5, 1, 3, 7, 10, 10, 9,  # local hours 0..11
                         6, 7, 9, 10, 9, 7, 4, 3, 2.5, 2, 1.5, 1])  # 12..23
MONEY = 10**8


def emit(**fields: Any) -> None:
    """Print one JSON line."""
    print(json.dumps({"bench": "rate", **fields}), flush=True)


def rounded(x: float, digits: int = 4) -> float:
    """Round to `digits` significant digits, for readable JSON."""
    return float(f"{x:.{digits}g}")


# --- the deck -----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Deck:
    """Unique prefixes (sorted 'S9') with their destination, before they become rate rows."""

    prefixes: np.ndarray  # 'S9'
    destination: np.ndarray  # int32 index into destinations
    destinations: list[str]


def country_codes() -> tuple[np.ndarray, list[str]]:
    """E.164 country codes ('S3', a prefix-free set) and their main region."""
    codes = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
    regions = [phonenumbers.COUNTRY_CODE_TO_REGION_CODE[c][0] for c in codes]
    names = ["International" if r == "001" else r for r in regions]
    return np.array([str(c) for c in codes], dtype="S3"), names


def make_deck(rng: np.random.Generator, n: int) -> Deck:
    """n unique prefixes: every country code, then sub-prefixes of 4 to 9 digits, countries Zipf-weighted."""
    ccs, regions = country_codes()
    cc_len = np.char.str_len(ccs)
    cc_bytes = np.zeros((len(ccs), PREFIX_WIDTH), np.uint8)
    cc_bytes[:, :3] = ccs.view(np.uint8).reshape(-1, 3)
    weight = 1.0 / np.arange(1, len(ccs) + 1) ** 0.8
    weight = weight[rng.permutation(len(ccs))]
    weight /= weight.sum()
    pos = np.arange(PREFIX_WIDTH)
    found = np.zeros(0, np.uint64)  # base-11 keys: unique and sorted like the digit strings
    while len(found) < n - len(ccs):
        m = int((n - len(ccs) - len(found)) * 1.5) + 100
        c = rng.choice(len(ccs), m, p=weight)
        length = rng.integers(np.maximum(4, cc_len[c] + 1), PREFIX_WIDTH + 1)
        digits = rng.integers(48, 58, (m, PREFIX_WIDTH), dtype=np.uint8)
        # no 0 right after the country code
        digits[np.arange(m), cc_len[c]] = rng.integers(49, 58, m, dtype=np.uint8)
        np.copyto(digits, cc_bytes[c], where=pos < cc_len[c][:, None])
        np.copyto(digits, 0, where=pos >= length[:, None])
        found = np.sort(np.concatenate([found, prefix_keys(digits)]))
        found = found[np.append(True, found[1:] != found[:-1])]  # np.unique hashes: slower here
    keep = np.sort(rng.choice(len(found), max(0, n - len(ccs)), replace=False))
    keys = np.concatenate([prefix_keys(cc_bytes), found[keep]])
    prefixes = key_digits(np.sort(keys)[:n]).view(f"S{PREFIX_WIDTH}").ravel()
    # destination: the country (prefix-free codes: exactly one is a prefix) and fixed/mobile by the next digit
    raw = prefixes.view(np.uint8).reshape(len(prefixes), PREFIX_WIDTH)
    country = np.full(len(prefixes), -1, np.int32)
    for k in (1, 2, 3):
        head = np.ascontiguousarray(raw[:, :k]).view(f"S{k}").ravel()
        idx = np.searchsorted(ccs, head)
        hit = (idx < len(ccs)) & (ccs[np.minimum(idx, len(ccs) - 1)] == head)
        country[hit] = idx[hit]
    plen = np.char.str_len(prefixes)
    next_digit = raw[np.arange(len(prefixes)), np.minimum(cc_len[country], PREFIX_WIDTH - 1)]
    kind = np.where(plen == cc_len[country], 0, np.where(np.isin(next_digit, (ord("6"), ord("7"))), 2, 1))
    destinations = [f"{r} {k}" for r in regions for k in ("all", "fixed", "mobile")]
    return Deck(prefixes, (country * 3 + kind).astype(np.int32), destinations)


def prefix_keys(digits: np.ndarray) -> np.ndarray:
    """uint64 base-11 keys of zero-padded digit rows ('0'..'9' -> 1..10, padding -> 0)."""
    key = np.zeros(len(digits), np.uint64)
    for j in range(digits.shape[1]):
        col = digits[:, j].astype(np.uint64)
        key = key * np.uint64(11) + np.where(col == 0, col, col - np.uint64(47))
    return key


def key_digits(keys: np.ndarray) -> np.ndarray:
    """The zero-padded digit rows (uint8, PREFIX_WIDTH wide) of prefix_keys()."""
    out = np.zeros((len(keys), PREFIX_WIDTH), np.uint8)
    rest = keys.copy()
    for j in range(PREFIX_WIDTH - 1, -1, -1):
        d = (rest % np.uint64(11)).astype(np.uint8)
        out[:, j] = np.where(d == 0, 0, d + 47)
        rest //= np.uint64(11)
    return out


def money_int(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    """Log-uniform amounts in [lo, hi], in 10**-8 units, rounded to 5 decimals."""
    x = np.exp(rng.uniform(np.log(lo), np.log(hi), n))
    return (np.round(x * 1e5).astype(np.int64) * 1000).astype(np.int64)


def rows_from_columns(deck: Deck, pid: np.ndarray, **cols: np.ndarray) -> RateRows:
    """RateRows from per-row columns; `pid` indexes deck.prefixes."""
    n = len(pid)
    prefix_text = deck.prefixes.astype(f"U{PREFIX_WIDTH}")
    return RateRows(
        prefix=prefix_text[pid].tolist(),
        destination=deck.destination[pid],
        destinations=deck.destinations,
        band=cols["band"].astype(np.int16),
        connect_fee=cols["connect_fee"].astype(np.int64),
        price=cols["price"].astype(np.int64),
        unit=np.full(n, 60, np.int32),
        increment=cols["increment"].astype(np.int32),
        slot_from=cols["slot_from"].astype(np.int32),
        min_cost=np.full(n, NONE, np.int64),
        max_cost=np.full(n, NONE, np.int64),
        effective_from=cols["effective_from"].astype(np.int32),
        line=np.arange(1, n + 1, dtype=np.int32),
    )


def banded_rows(rng: np.random.Generator, deck: Deck, band_index: dict[str, int]) -> RateRows:
    """The benchmark deck: per prefix a '*' and a peak rate, some offpeak/weekend/holiday rates, a few new
    versions, slots 60/1, 30/6 or 1/1, connect fees on some prefixes."""
    n = len(deck.prefixes)
    base = money_int(rng, 0.005, 0.5, n)
    fee = np.where(rng.random(n) < 0.10, money_int(rng, 0.02, 0.10, n), 0)
    scheme = rng.choice(len(SCHEMES), n, p=[s for s, _ in SCHEMES])
    r_pid, r_band, r_price, r_eff = [], [], [], []
    for name, (share, percent) in BAND_RATES.items():
        sel = np.flatnonzero(rng.random(n) < share)
        r_pid.append(sel)
        r_band.append(np.full(len(sel), ALL_BANDS if name == "*" else band_index[name]))
        r_price.append(base[sel] * percent // 100 // 1000 * 1000)
        r_eff.append(np.full(len(sel), ALWAYS))
    sel = np.flatnonzero(rng.random(n) < 0.02)
    r_pid.append(sel)
    r_band.append(np.full(len(sel), ALL_BANDS))
    r_price.append(base[sel] * 70 // 100 // 1000 * 1000)
    r_eff.append(np.full(len(sel), day_number(NEW_VERSION)))
    rate_pid, rate_band, rate_price, rate_eff = (np.concatenate(c) for c in (r_pid, r_band, r_price, r_eff))
    names = ("band", "price", "effective_from", "slot_from", "increment", "connect_fee")
    pid: list[np.ndarray] = []
    cols: dict[str, list[np.ndarray]] = {k: [] for k in names}
    for k, (_, slots) in enumerate(SCHEMES):
        of = np.flatnonzero(scheme[rate_pid] == k)
        for frm, inc in slots:
            pid.append(rate_pid[of])
            cols["band"].append(rate_band[of])
            cols["price"].append(rate_price[of])
            cols["effective_from"].append(rate_eff[of])
            cols["slot_from"].append(np.full(len(of), frm))
            cols["increment"].append(np.full(len(of), inc))
            cols["connect_fee"].append(fee[rate_pid[of]] if frm == 0 else np.zeros(len(of), np.int64))
    return rows_from_columns(deck, np.concatenate(pid), **{k: np.concatenate(v) for k, v in cols.items()})


def simple_rows(rng: np.random.Generator, deck: Deck) -> RateRows:
    """A wholesale-style deck: one '*' row per prefix, one slot (1, 6, 30 or 60 s), connect fees on some."""
    n = len(deck.prefixes)
    return rows_from_columns(
        deck, np.arange(n),
        band=np.full(n, ALL_BANDS), price=money_int(rng, 0.005, 0.5, n), effective_from=np.full(n, ALWAYS),
        slot_from=np.zeros(n), increment=rng.choice(SIMPLE_INCREMENTS, n),
        connect_fee=np.where(rng.random(n) < 0.10, money_int(rng, 0.02, 0.10, n), 0),
    )


def settings_tariff() -> Tariff:
    """The settings and bands, validated by the real loader (with one throwaway inline rate)."""
    return tariff_from_dict({**SETTINGS, "rate": [{"prefix": "1", "destination": "x", "price": "0.01"}]})


def with_rows(tariff: Tariff, rows: RateRows) -> Tariff:
    """The tariff with its rows replaced (as if they were inline [[rate]] tables)."""
    return dataclasses.replace(tariff, rows=rows, n_deck_rows=0)


# --- the calls ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Calls:
    """A batch of calls, as the engine takes them."""

    digits: np.ndarray  # 'S15'
    start: np.ndarray  # int64 UTC epoch seconds
    duration: np.ndarray  # int32 seconds


def unmatched_leads(prefixes: np.ndarray) -> np.ndarray:
    """3-digit strings that no prefix starts with or is a prefix of: numbers starting so match nothing."""
    text = set(prefixes.astype(str).tolist())
    heads = {p[:3] for p in text}
    leads = [f"{i:03d}" for i in range(1000)]
    leads = [s for s in leads if s not in heads and not any(s[:k] in text for k in (1, 2, 3))]
    return np.array(leads, dtype="S3")


def make_numbers(rng: np.random.Generator, prefixes: np.ndarray, dest: np.ndarray) -> np.ndarray:
    """'S15' numbers: prefix `dest` plus random digits up to 11-13 digits; 1% start with an unmatched lead."""
    n = len(dest)
    leads = unmatched_leads(prefixes)
    digits = rng.integers(48, 58, (n, NUMBER_WIDTH), dtype=np.uint8)
    pos = np.arange(NUMBER_WIDTH, dtype=np.uint8)
    raw = prefixes.view(np.uint8).reshape(len(prefixes), PREFIX_WIDTH)
    plen = np.char.str_len(prefixes).astype(np.uint8)[dest]
    np.copyto(digits[:, :PREFIX_WIDTH], raw[dest], where=pos[:PREFIX_WIDTH] < plen[:, None])
    unmatched = np.flatnonzero(rng.random(n) < 0.01)
    digits[unmatched, :3] = leads[rng.integers(0, len(leads), len(unmatched))].view(np.uint8).reshape(-1, 3)
    np.copyto(digits, 0, where=pos >= rng.integers(11, 14, n, dtype=np.uint8)[:, None])
    return digits.view(f"S{NUMBER_WIDTH}").ravel()


def zipf_destinations(rng: np.random.Generator, n_prefixes: int, n: int, s: float = 1.0) -> np.ndarray:
    """Prefix indices with a Zipf(s) popularity over a random ranking of the prefixes."""
    weight = 1.0 / np.arange(1, n_prefixes + 1) ** s
    cdf = np.cumsum(weight[rng.permutation(n_prefixes)])
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), n_prefixes - 1)


def make_times(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Starts over the month in the tariff's timezone, business-hours and weekday weighted; durations
    exponential (mean 180 s, ceiling, at most 4 h) with 20% unanswered (0)."""
    zone = ZoneInfo(TIMEZONE)
    days = [MONTH + dt.timedelta(days=d) for d in range(DAYS)]
    day_start = np.array([local_midnight(d, zone) for d in days], dtype=np.int64)
    holiday = {d for d in days if d.strftime("%m-%d") in HOLIDAYS or d.isoformat() in HOLIDAYS}
    day_w = np.array([0.4 if d in holiday else 0.35 if d.weekday() >= 5 else 1.0 for d in days])
    day = rng.choice(DAYS, n, p=day_w / day_w.sum())
    hour = rng.choice(24, n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    start = day_start[day] + hour * 3600 + rng.integers(0, 3600, n)  # exact: no DST change in the month
    duration = np.minimum(np.ceil(rng.exponential(180.0, n)), 4 * 3600).astype(np.int32)
    duration = np.maximum(duration, 1)
    duration[rng.random(n) < 0.20] = 0
    return start.astype(np.int64), duration


# --- implementations ----------------------------------------------------------------------------------------


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """Best wall time of `repeat` runs of fn(), and its last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        result = None
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def dict_lpm(numbers: list[str], ids: dict[str, int], max_len: int) -> list[int]:
    """Longest prefix by slicing the number, longest first, and probing a dict."""
    out = []
    for number in numbers:
        pid = -1
        for k in range(min(len(number), max_len), 0, -1):
            hit = ids.get(number[:k])
            if hit is not None:
                pid = hit
                break
        out.append(pid)
    return out


def marisa_lpm(numbers: list[str], trie: Any, ids: dict[str, int]) -> list[int]:
    """marisa-trie: all prefixes of the number present in the trie (shortest first), take the last."""
    out = []
    for number in numbers:
        found = trie.prefixes(number)
        out.append(ids[found[-1]] if found else -1)
    return out


def sqlite_db(prefixes: list[str]) -> sqlite3.Connection:
    """In-memory table of prefixes, indexed by its primary key."""
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE prefix (digits TEXT PRIMARY KEY, id INTEGER NOT NULL) WITHOUT ROWID")
    con.executemany("INSERT INTO prefix VALUES (?, ?)", ((p, i) for i, p in enumerate(prefixes)))
    return con


def sqlite_in_lpm(numbers: list[str], con: sqlite3.Connection, max_len: int) -> list[int]:
    """One indexed query per call: every prefix of the number in an IN list, longest first."""
    sql = (f"SELECT id FROM prefix WHERE digits IN ({', '.join('?' * max_len)}) "
           "ORDER BY length(digits) DESC LIMIT 1")
    out = []
    for number in numbers:
        row = con.execute(sql, [number[: min(k, len(number))] for k in range(1, max_len + 1)]).fetchone()
        out.append(row[0] if row else -1)
    return out


def sqlite_like_lpm(numbers: list[str], con: sqlite3.Connection) -> list[int]:
    """The classic query: a full scan matching `number LIKE prefix || '%'`."""
    sql = "SELECT id FROM prefix WHERE ? LIKE digits || '%' ORDER BY length(digits) DESC LIMIT 1"
    out = []
    for number in numbers:
        row = con.execute(sql, (number,)).fetchone()
        out.append(row[0] if row else -1)
    return out


def searchsorted_lpm(digits: np.ndarray, arrays: dict[str, Any]) -> np.ndarray:
    """Vectorised LPM: base-11 keys of the numbers, then a binary search in the compiled interval starts."""
    keys = digit_keys(digits, arrays["key_len"])
    return arrays["iv_prefix"][np.searchsorted(arrays["iv_start"], keys, side="right") - 1]


# --- measurements -------------------------------------------------------------------------------------------


def machine(args: argparse.Namespace) -> dict[str, Any]:
    """What ran the benchmark."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "load_average": load_average(), "platform": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__, "sqlite": sqlite3.sqlite_version,
            "args": vars(args)}


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the platform has none): the figures follow them."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def rss_kib(field: str) -> int:
    """A VmRSS/VmHWM figure of this process, in KiB (0 where /proc is not there)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def memory_line(compiled: CompiledTariff, calls: Calls) -> int:
    """Bytes per call: the arrays in and out, the peak of numpy allocations, and the peak RSS increase."""
    n = len(calls.start)
    bytes_in = calls.digits.itemsize + calls.start.itemsize + calls.duration.itemsize
    tracemalloc.start()
    result = compiled.tables.rate(calls.digits, calls.start, calls.duration)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    bytes_out = sum(a.itemsize for a in result.values())
    del result
    before = rss_kib("VmRSS")
    reset = reset_peak_rss()
    result = compiled.tables.rate(calls.digits, calls.start, calls.duration)
    rss_peak = (rss_kib("VmHWM") - before) * 1024 if reset else None
    del result
    emit(impl="engine_memory", calls=n, bytes_in_per_call=bytes_in, bytes_out_per_call=bytes_out,
         working_bytes_per_call=bytes_in + bytes_out, traced_alloc_bytes_per_call=rounded(traced_peak / n),
         rss_increase_bytes_per_call=rounded(rss_peak / n) if rss_peak is not None else None,
         target_bytes_per_call=64, ok=bytes_in + bytes_out < 64,
         notes="working = input arrays + output arrays; traced = peak of allocations during rate() "
               "(tracemalloc sees numpy buffers: the output arrays); rss = VmHWM growth during rate(), "
               "0 when the allocator reuses pages freed earlier in the run")
    return bytes_in + bytes_out


def compile_line(rng: np.random.Generator, n_prefixes: int, repeat: int) -> dict[str, Any]:
    """Compile time of an n-prefix one-row-per-prefix deck, from in-memory columns and from a CSV deck."""
    t0 = time.perf_counter()
    deck = make_deck(rng, n_prefixes)
    rows = simple_rows(rng, deck)
    build = time.perf_counter() - t0
    tariff = with_rows(settings_tariff(), rows)
    tz_table.cache_clear()
    t0 = time.perf_counter()
    tz_table(TIMEZONE)
    tz_seconds = time.perf_counter() - t0
    compile_seconds, compiled = best_of(max(1, min(repeat, 2)), lambda: compile_tariff(tariff))
    stats = compiled.stats
    del compiled
    with tempfile.TemporaryDirectory() as tmp:
        deck_path = Path(tmp) / "deck.csv"
        t0 = time.perf_counter()
        write_deck(deck_path, rows)
        toml = Path(tmp) / "bench.toml"
        toml.write_text(toml_text("deck.csv"))
        write_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        loaded = load_tariff(toml)
        load_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        compile_tariff(loaded)
        csv_compile_seconds = time.perf_counter() - t0
        size = deck_path.stat().st_size
    same = same_rows(loaded.rows, rows)
    result = {"prefixes": stats["prefixes"], "rows": stats["rows"], "intervals": stats["intervals"],
              "build_rows_seconds": rounded(build), "compile_seconds": rounded(compile_seconds),
              "tz_table_seconds": rounded(tz_seconds), "csv_bytes": size,
              "csv_write_seconds": rounded(write_seconds),
              "csv_load_seconds": rounded(load_seconds), "csv_compile_seconds": rounded(csv_compile_seconds),
              "csv_rows_same_as_in_memory": same, "target_compile_seconds": 2.0, "ok": compile_seconds < 2.0}
    emit(impl="compile", **result,
         notes="one '*' row per prefix (1 slot); compile_seconds: compile_tariff on RateRows built in memory "
               "(best of repeats, timezone table cached; its one-off cost is tz_table_seconds); csv_*: "
               "tariffs.load.load_tariff of a TOML + CSV deck in a temp dir, then compile_tariff, timed once")
    return result


def money_text(v: int) -> str:
    """10**-8 units as a decimal string."""
    whole, frac = divmod(int(v), MONEY)
    return f"{whole}.{frac:08d}".rstrip("0").rstrip(".")


def write_deck(path: Path, rows: RateRows) -> None:
    """The rows as a CSV rate deck (columns the simple deck uses)."""
    money: dict[int, str] = {}

    def m(v: int) -> str:
        text = money.get(v)
        if text is None:
            text = money[v] = money_text(v)
        return text

    lines = ["prefix,destination,band,connect_fee,price,increment,from"]
    for p, d, b, fee, price, inc, frm in zip(rows.prefix, rows.destination.tolist(), rows.band.tolist(),
                                             rows.connect_fee.tolist(), rows.price.tolist(),
                                             rows.increment.tolist(), rows.slot_from.tolist(), strict=True):
        band = "*" if b == ALL_BANDS else SETTINGS["band"][b]["name"]
        lines.append(f"{p},{rows.destinations[d]},{band},{m(fee) if fee else ''},{m(price)},{inc},{frm}")
    path.write_text("\n".join(lines) + "\n")


def toml_text(deck: str) -> str:
    """The benchmark tariff as TOML, with a deck file."""
    out = [f'name = "{SETTINGS["name"]}"', f'currency = "{SETTINGS["currency"]}"',
           f'timezone = "{TIMEZONE}"', f'deck = "{deck}"', "[rounding]", "decimals = 4", 'mode = "half_up"',
           "[billing]", 'anchor = "slot"', "split = true"]
    for band in SETTINGS["band"]:
        out.append("[[band]]")
        out.extend(f"{k} = {json.dumps(v)}" for k, v in band.items())
    return "\n".join(out) + "\n"


def same_rows(a: RateRows, b: RateRows) -> bool:
    """Whether two RateRows hold the same deck (destination names compared, not their indices)."""
    cols = ("band", "connect_fee", "price", "unit", "increment", "slot_from", "min_cost", "max_cost",
            "effective_from")
    if a.prefix != b.prefix or not all(np.array_equal(getattr(a, c), getattr(b, c)) for c in cols):
        return False
    return [a.destinations[i] for i in a.destination] == [b.destinations[i] for i in b.destination]


def lookup_line(impl: str, n: int, seconds: float, engine_cps: float, agree: bool | None, notes: str,
                **extra: Any) -> float:
    """Emit one implementation's line; returns its calls/s."""
    cps = n / seconds
    emit(impl=impl, calls=n, seconds=rounded(seconds), calls_per_s=rounded(cps),
         ratio_vs_engine=rounded(cps / engine_cps), agree_with_engine=agree, **extra, notes=notes)
    return cps


def data_line(compiled: CompiledTariff, result: dict[str, np.ndarray], **timings: float) -> None:
    """What the deck and the calls look like, from the engine's results."""
    n = len(result["status"])
    status = np.bincount(result["status"], minlength=len(STATUS_NAMES))
    rated = result["status"] == 0
    matched = result["prefix"][result["prefix"] >= 0]
    stats = ("prefixes", "rows", "rates", "intervals", "destinations", "bands")
    emit(impl="data", **{k: compiled.stats[k] for k in stats}, calls=n,
         **{k: rounded(v) for k, v in timings.items()},
         status_share={name: rounded(int(c) / n, 3) for name, c in zip(STATUS_NAMES, status, strict=True)},
         split_share=rounded(float(np.mean(result["parts"][rated] > 1)), 3),
         mean_billed_s=rounded(float(result["billed"][rated].mean())),
         top_prefix_share=rounded(float(np.bincount(matched).max()) / n, 3),
         kernel_table_mb={k: rounded(v / 1e6, 3) for k, v in compiled.tables.kernel_bytes().items()})


def rounds(repeat: int, fns: dict[str, Callable[[], Any]]) -> dict[str, dict[str, list[float]]]:
    """Run every fn once per round, in turn, for `repeat` rounds: on a shared machine, ratios taken within one
    round compare like with like. Per fn: wall seconds and CPU seconds of this thread (time on a core)."""
    out: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            w0, c0 = time.perf_counter(), time.thread_time()
            fn()
            out[name]["cpu"].append(time.thread_time() - c0)
            out[name]["wall"].append(time.perf_counter() - w0)
    return out


def median(values: list[float]) -> float:
    return float(np.median(values))


def bench_engine(compiled: CompiledTariff, zipf: Calls, uniform: Calls, repeat: int, threads: int = 1,
                 **timings: float) -> dict[str, Any]:
    """The kernel (keys computed once), `rate` from digits, the previous kernel and numpy.searchsorted (lookup
    only), on Zipf and uniform destinations, interleaved in rounds; with threads > 1 the kernel on that many
    threads too (all cores: not the per-core figure). Returns the figures the summary needs."""
    tables = compiled.tables
    n = len(zipf.start)
    zkeys, ukeys = number_keys(zipf.digits), number_keys(uniform.digits)
    result = tables.rate(zipf.digits, zipf.start, zipf.duration)
    data_line(compiled, result, **timings)
    same = {name: all(np.array_equal(got[k], result[k]) for k in result) for name, got in (
        ("rate_keys", tables.rate_keys(zkeys, zipf.start, zipf.duration)),
        ("rate_keys_threads", tables.rate_keys(zkeys, zipf.start, zipf.duration, threads=threads)),
        ("rate_baseline", tables.rate_baseline(zipf.digits, zipf.start, zipf.duration)))}
    pid = searchsorted_lpm(zipf.digits, compiled.arrays)
    ss_agree = bool(np.array_equal(pid, result["prefix"]))
    del pid
    out = {k: v.copy() for k, v in result.items()}
    keys_out = np.empty(n, np.uint64)
    fns: dict[str, Callable[[], Any]] = {
        "engine_keys": lambda: tables.rate_keys(zkeys, zipf.start, zipf.duration, out=out),
        "engine": lambda: tables.rate(zipf.digits, zipf.start, zipf.duration),
        "engine_baseline": lambda: tables.rate_baseline(zipf.digits, zipf.start, zipf.duration, out=out),
        "numpy_searchsorted": lambda: searchsorted_lpm(zipf.digits, compiled.arrays),
        "number_keys": lambda: number_keys(zipf.digits, out=keys_out),
        "engine_keys_uniform": lambda: tables.rate_keys(ukeys, uniform.start, uniform.duration, out=out),
        "engine_uniform": lambda: tables.rate(uniform.digits, uniform.start, uniform.duration),
        "engine_baseline_uniform": lambda: tables.rate_baseline(uniform.digits, uniform.start, uniform.duration,
                                                                out=out),
    }
    if threads > 1:
        fns["engine_keys_threads"] = lambda: tables.rate_keys(zkeys, zipf.start, zipf.duration, out=out,
                                                              threads=threads)
    times = rounds(repeat, fns)
    cps = {name: n / median(t["wall"]) for name, t in times.items()}
    kernel = cps["engine_keys"]

    def ratio(a: str, b: str) -> float:
        """Median over rounds of a's calls/s over b's in the same round."""
        return rounded(median([tb / ta for ta, tb in zip(times[a]["wall"], times[b]["wall"], strict=True)]))

    notes = {
        "engine_keys": "the kernel: RateTables.rate_keys on keys computed once (number_keys, e.g. when the "
                       "numbers are scanned); full rating (LPM, bands, split, slots, cost); Zipf destinations; "
                       "out= reused",
        "engine": "RateTables.rate from the digits ('S15'): keys computed a chunk at a time, then the kernel; "
                  "allocates its output arrays",
        "engine_baseline": "the previous kernel (RateTables.rate_baseline: keys parsed per call and a calendar "
                           "per call for bands), out= reused",
        "numpy_searchsorted": "lookup only (no bands, slots or increments): tariffs.compile.digit_keys + "
                              "np.searchsorted on the compiled iv_start/iv_prefix",
        "number_keys": "engine.number_keys alone: digits to keys (what a scanner would do once per number)",
        "engine_keys_uniform": "the kernel, destinations uniform over the prefixes (worst case for caches)",
        "engine_uniform": "RateTables.rate from the digits, uniform destinations",
        "engine_baseline_uniform": "the previous kernel, uniform destinations",
        "engine_keys_threads": f"the kernel on {threads} threads (rate_keys(..., threads={threads})), Zipf: all "
                               "cores at once, not the per-core figure (calls_per_s_cpu: the calling thread's "
                               "CPU time only, not meaningful here)",
    }
    for name, t in times.items():
        agree = {"engine_keys": same["rate_keys"], "engine_baseline": same["rate_baseline"],
                 "numpy_searchsorted": ss_agree, "engine_keys_threads": same["rate_keys_threads"]}.get(name)
        emit(impl=name, calls=n, seconds=rounded(median(t["wall"])), calls_per_s=rounded(cps[name]),
             calls_per_s_best=rounded(n / min(t["wall"])), calls_per_s_cpu=rounded(n / median(t["cpu"])),
             ratio_vs_engine=rounded(cps[name] / kernel), agree_with_engine=agree,
             threads=threads if name == "engine_keys_threads" else 1, rounds=repeat,
             notes=notes[name] + "; median of rounds (calls_per_s_cpu: on this thread's CPU time)")
    figures = {
        "kernel_calls_per_s": kernel,
        "kernel_uniform_calls_per_s": cps["engine_keys_uniform"],
        "rate_calls_per_s": cps["engine"],
        "rate_uniform_calls_per_s": cps["engine_uniform"],
        "baseline_calls_per_s": cps["engine_baseline"],
        "searchsorted_calls_per_s": cps["numpy_searchsorted"],
        "kernel_vs_searchsorted": ratio("engine_keys", "numpy_searchsorted"),
        "kernel_uniform_vs_searchsorted": ratio("engine_keys_uniform", "numpy_searchsorted"),
        "rate_vs_searchsorted": ratio("engine", "numpy_searchsorted"),
        "kernel_vs_baseline": ratio("engine_keys", "engine_baseline"),
        "kernel_uniform_vs_baseline": ratio("engine_keys_uniform", "engine_baseline_uniform"),
        "kernel_cpu_calls_per_s": n / median(times["engine_keys"]["cpu"]),
        "kernel_uniform_cpu_calls_per_s": n / median(times["engine_keys_uniform"]["cpu"]),
    }
    if threads > 1:
        figures["kernel_threads_calls_per_s"] = cps["engine_keys_threads"]
        figures["threads_speedup"] = ratio("engine_keys_threads", "engine_keys")
    emit(impl="ratios", **{k: rounded(v) for k, v in figures.items()},
         notes="calls/s: medians of the rounds; ratios: median over rounds of the two figures of one round")
    return {**figures, "prefix": result["prefix"]}


def bench_others(compiled: CompiledTariff, digits: np.ndarray, engine_pid: np.ndarray, engine_cps: float,
                 samples: dict[str, int], repeat: int) -> float:
    """The lookup-only alternatives; returns the Python dict loop's calls/s."""
    ids = {p: i for i, p in enumerate(compiled.prefixes)}
    max_len = max(len(p) for p in compiled.prefixes)
    n_py, n_sql, n_like = samples["python"], samples["sqlite"], samples["like"]
    numbers = digits[:n_py].astype(str).tolist()

    def agree(pid: Any, n: int) -> bool:
        return bool(np.array_equal(np.asarray(pid), engine_pid[:n]))

    seconds, pid = best_of(min(repeat, 3), lambda: dict_lpm(numbers, ids, max_len))
    full_seconds, _ = best_of(min(repeat, 3), lambda: dict_lpm(numbers, ids, NUMBER_WIDTH))
    py_cps = lookup_line("python_dict", n_py, seconds, engine_cps, agree(pid, n_py),
                         calls_per_s_from_full_length=rounded(n_py / full_seconds),
                         notes=f"lookup only; sample of the first {n_py} calls; for k from "
                               "min(len(number), longest prefix) down to 1: dict.get(number[:k]) (the faster "
                               "variant, used for the target); calls_per_s_from_full_length: k from "
                               "len(number)")

    try:
        import marisa_trie
    except ImportError:
        emit(impl="marisa_trie", skipped=True,
             notes="skipped: marisa_trie is not importable (pip install -e '.[bench]')")
    else:
        t0 = time.perf_counter()
        trie = marisa_trie.Trie(compiled.prefixes)
        build = time.perf_counter() - t0
        seconds, pid = best_of(min(repeat, 3), lambda: marisa_lpm(numbers, trie, ids))
        lookup_line("marisa_trie", n_py, seconds, engine_cps, agree(pid, n_py), build_seconds=rounded(build),
                    notes=f"lookup only; sample of the first {n_py} calls; Trie.prefixes(number)[-1] "
                          "(the longest), then its id from a dict")

    con = sqlite_db(compiled.prefixes)
    seconds, pid = best_of(1, lambda: sqlite_in_lpm(numbers[:n_sql], con, max_len))
    lookup_line("sqlite_in", n_sql, seconds, engine_cps, agree(pid, n_sql),
                notes=f"lookup only; sample of {n_sql} calls; in-memory table, TEXT PRIMARY KEY; one query "
                      f"per call: WHERE digits IN (all {max_len} prefixes of the number) "
                      "ORDER BY length(digits) DESC LIMIT 1")
    seconds, pid = best_of(1, lambda: sqlite_like_lpm(numbers[:n_like], con))
    lookup_line("sqlite_like", n_like, seconds, engine_cps, agree(pid, n_like),
                notes=f"lookup only; sample of {n_like} calls; WHERE ? LIKE digits || '%' "
                      "ORDER BY length(digits) DESC LIMIT 1 (scans the whole table per call)")
    con.close()
    return py_cps


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, help="calls in the engine batch (default 10,000,000)")
    ap.add_argument("--prefixes", type=int, help="prefixes in the deck (default 100,000)")
    ap.add_argument("--compile-prefixes", type=int, help="prefixes of the compile test (default 1,000,000)")
    ap.add_argument("--quick", action="store_true",
                    help="1M calls, 20k prefixes, 100k-prefix compile test, smaller samples")
    ap.add_argument("--repeat", type=int, default=3,
                    help="rounds of the engine lines (medians) and repeats of the others (best; default 3)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="threads of the all-cores kernel line (default: every core; 1: no such line)")
    ap.add_argument("--kernel-only", action="store_true",
                    help="only the engine lines and numpy.searchsorted (no Python, SQLite, memory or compile lines)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Build the data, run every implementation, print the JSON lines."""
    args = parse_args(argv)
    quick = args.quick
    n_calls = args.calls or (1_000_000 if quick else 10_000_000)
    n_prefixes = args.prefixes or (20_000 if quick else 100_000)
    n_compile = args.compile_prefixes or (100_000 if quick else 1_000_000)
    samples = {"python": min(n_calls, 50_000 if quick else 200_000),
               "sqlite": min(n_calls, 5_000 if quick else 20_000),
               "like": min(n_calls, 50 if quick else 200)}
    repeat = max(1, args.repeat)
    emit(impl="machine", **machine(args))

    rng = np.random.default_rng(SEED)
    t0 = time.perf_counter()
    base = settings_tariff()
    deck = make_deck(rng, n_prefixes)
    rows = banded_rows(rng, deck, base.band_index)
    deck_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    compiled = compile_tariff(with_rows(base, rows))
    compile_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    start, duration = make_times(rng, n_calls)
    zipf_dest = zipf_destinations(rng, n_prefixes, n_calls)
    zipf = Calls(make_numbers(rng, deck.prefixes, zipf_dest), start, duration)
    uniform = Calls(make_numbers(rng, deck.prefixes, rng.integers(0, n_prefixes, n_calls)), start, duration)
    del zipf_dest
    calls_seconds = time.perf_counter() - t0

    fig = bench_engine(compiled, zipf, uniform, repeat, max(1, args.threads),
                       deck_seconds=deck_seconds, compile_seconds=compile_seconds, calls_seconds=calls_seconds)
    engine_cps = fig["kernel_calls_per_s"]
    targets = {
        "kernel_calls_per_s_per_core>=30M": engine_cps >= 30e6,
        "kernel_vs_numpy_searchsorted>=5x": fig["kernel_vs_searchsorted"] >= 5,
    }
    extra: dict[str, Any] = {}
    if not args.kernel_only:
        py_cps = bench_others(compiled, zipf.digits, fig["prefix"], engine_cps, samples, repeat)
        bytes_per_call = memory_line(compiled, zipf)
        del zipf, uniform, compiled
        comp = compile_line(np.random.default_rng(SEED + 1), n_compile, repeat)
        targets.update({
            "vs_python_dict>=25x": engine_cps / py_cps >= 25,
            "working_bytes_per_call<64": bytes_per_call < 64,
            f"compile_{n_compile}_prefixes<2s": comp["compile_seconds"] < 2.0,
        })
        extra = {"vs_python_dict": rounded(engine_cps / py_cps), "working_bytes_per_call": bytes_per_call,
                 "compile_seconds": comp["compile_seconds"]}
    if "kernel_threads_calls_per_s" in fig:
        extra.update(engine_threads_calls_per_s=rounded(fig["kernel_threads_calls_per_s"]),
                     threads=args.threads, threads_speedup=fig["threads_speedup"])
    emit(impl="summary", engine_calls_per_s=rounded(engine_cps),
         engine_cpu_calls_per_s=rounded(fig["kernel_cpu_calls_per_s"]),
         engine_uniform_calls_per_s=rounded(fig["kernel_uniform_calls_per_s"]),
         engine_uniform_cpu_calls_per_s=rounded(fig["kernel_uniform_cpu_calls_per_s"]),
         rate_calls_per_s=rounded(fig["rate_calls_per_s"]),
         vs_numpy_searchsorted=fig["kernel_vs_searchsorted"], vs_baseline=fig["kernel_vs_baseline"], **extra,
         targets=targets, meets_targets=all(targets.values()), load_average=load_average(),
         notes="engine = the kernel on keys computed once (rate_keys), one thread: calls/s is per core; "
               "medians of interleaved rounds")


if __name__ == "__main__":
    main()
