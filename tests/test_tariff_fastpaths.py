"""The fast paths of loading and compiling a tariff (issue 16, second round) against what they replace: the cell
kernels of tariffs/_deck.pyx against Python, and each shortcut of tariffs/compile.py against the numpy or Python
code it stands for (kept here as the oracle). The whole loader is compared with the row-by-row reference in
tests/test_tariff_columnar.py; this file pins each piece, including the cases the sample decks never reach."""

from __future__ import annotations

import csv
import datetime as dt
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from i18n import _
from tariffs import _deck
from tariffs import compile as compile_mod
from tariffs.errors import Collector, TariffError
from tariffs.load import DeckCells
from tariffs.model import ALL_BANDS, DAY_NAMES, Band, RateRows, Tariff

# --- cell kernels -------------------------------------------------------------------------------------------------

CELL_TEXT = st.text(alphabet=st.sampled_from(["a", "b", "é", " ", "\t", "\u00a0", "\u2003", "\x00", "\x85", ",", "€"]),
                    max_size=6)


def column(texts: list[str]) -> tuple[DeckCells, np.ndarray]:
    """A DeckCells of one column and its field numbers."""
    rows = [(i + 1, {"destination": t}) for i, t in enumerate(texts)]
    cells = DeckCells.from_rows(rows)
    idx, off = cells.column("destination")
    return cells, idx + off


@given(st.lists(CELL_TEXT, max_size=30))
def test_texts_decodes_and_strips_like_text(texts: list[str]) -> None:
    cells, fields = column(texts)
    names, changed, empty = cells.texts(fields)
    expected = [cells.text(int(k)) for k in fields]
    assert names == expected
    assert empty == ("" in expected)
    # changed: some name lost Unicode white space that the C strip (ASCII) left
    ascii_stripped = [t.strip(" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f") for t in texts]
    assert changed == (ascii_stripped != expected)


def test_texts_kernel_flags() -> None:
    cells, fields = column(["a", " ", "\u00a0b", "c\u2003", "é", ""])
    out, edge, first_empty = _deck.texts(cells.buf, cells.bounds, fields)
    assert out == ["a", "", "\u00a0b", "c\u2003", "é", ""]  # ASCII stripped only
    assert edge.tolist() == [0, 0, 1, 1, 1, 0] and first_empty == 1
    out, edge, first_empty = _deck.texts(cells.buf, cells.bounds, fields[:0])
    assert out == [] and len(edge) == 0 and first_empty == -1


@settings(max_examples=60)
@given(st.lists(st.sampled_from([f"v{k}" for k in range(300)] + [" v1", "v1 ", "", "  "]), max_size=1500))
def test_unique_grows_and_keeps_first_appearance(texts: list[str]) -> None:
    cells, fields = column(texts)
    ids, first = _deck.unique(cells.buf, cells.bounds, fields, 0)
    seen: dict[str, int] = {}
    expected_ids, expected_first = [], []
    for i, t in enumerate(texts):
        key = t.strip(" ")
        if key not in seen:
            seen[key] = len(seen)
            expected_first.append(i)
        expected_ids.append(seen[key])
    assert ids.tolist() == expected_ids and first.tolist() == expected_first


def test_unique_all_distinct_many() -> None:
    texts = [f"US {k}" for k in range(5000)]
    cells, fields = column(texts + texts[::-1])
    ids, first = _deck.unique(cells.buf, cells.bounds, fields, 0)
    assert first.tolist() == list(range(5000))
    assert ids.tolist() == list(range(5000)) + list(range(4999, -1, -1))


def reference_skips(cells: DeckCells, lo: np.ndarray) -> np.ndarray:
    """Which records the loader keeps, as tariffs/load.py computed it before `_deck.records`."""
    buf, bounds = cells.buf, cells.bounds
    nf = np.diff(lo)
    first = np.where(nf > 0, lo[:-1], 0)
    comment = (bounds[first + 1] > bounds[first]) & (buf[bounds[first]] == ord("#"))
    ss, se, edge = _deck.strip(buf, bounds, first, 0)
    single = nf == 1
    blank = single & (ss == se)
    for r in np.flatnonzero(single & (edge != 0)):
        blank[r] = not cells.text(int(first[r]))
    return np.flatnonzero(~((nf == 0) | comment | blank))


@given(st.text(alphabet=st.sampled_from(["a", "#", ",", " ", "\n", "\r", '"', "\u00a0", "é"]), max_size=40))
def test_records_keeps_what_the_reference_keeps(text: str) -> None:
    data = text.encode()
    scanned = _deck.scan(np.frombuffer(data + b"\0", np.uint8).copy(), 0, len(data), csv.field_size_limit())
    assert scanned is not None
    buf, bounds, lo, lines = scanned
    cells = DeckCells(buf, bounds, {}, lines, 0)
    nf, skip = _deck.records(buf, bounds, lo)
    assert nf.tolist() == np.diff(lo).tolist()
    for r in np.flatnonzero(skip == _deck.FALLBACK).tolist():
        skip[r] = _deck.OK if cells.text(int(lo[r])) else _deck.EMPTY
    assert np.flatnonzero(skip == _deck.OK).tolist() == reference_skips(cells, lo).tolist()


@given(st.lists(st.text(alphabet="0123456789", max_size=6), max_size=20))
def test_lengths_are_numpy_lengths(texts: list[str]) -> None:
    digits = np.array([t.encode() for t in texts], dtype="S6")
    raw = digits.view(np.uint8).reshape(len(texts), 6)
    assert _deck.lengths(raw).tolist() == (raw != 0).sum(axis=1).tolist()


# --- compile shortcuts --------------------------------------------------------------------------------------------


@given(st.lists(st.integers(0, 11**3 - 1), max_size=300), st.sampled_from([3, 17, 18]))
def test_stable_argsort_is_numpy_stable_argsort(keys: list[int], key_len: int) -> None:
    arr = np.array(keys, dtype=np.uint64)
    assert compile_mod.stable_argsort(arr, key_len).tolist() == np.argsort(arr, kind="stable").tolist()


def test_stable_argsort_with_large_keys() -> None:
    rng = np.random.default_rng(5)
    keys = rng.integers(0, 11**11, 50_000).astype(np.uint64)
    keys[::7] = keys[3]  # ties
    by_key = compile_mod.stable_argsort(keys, 11)
    assert by_key.dtype == np.intp
    assert np.array_equal(by_key, np.argsort(keys, kind="stable"))


@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 2), st.integers(-1, 1), st.integers(0, 1)),
                min_size=1, max_size=40))
def test_ordered_within_tells_when_lexsort_is_the_key_order(rows: list[tuple[int, int, int, int]]) -> None:
    pid = np.array([r[0] for r in rows], dtype=np.int32)
    sort_keys = [np.array([r[k] for r in rows], dtype=np.int64) for k in (1, 2, 3)]
    by_key = np.argsort(pid, kind="stable")
    lex = np.lexsort((*sort_keys, pid))
    assert compile_mod._ordered_within(sort_keys, pid, by_key) == bool(np.array_equal(lex, by_key))
    assert compile_mod._ordered_within([], pid, by_key)


def reference_band_rate(rate_pid: np.ndarray, rate_band: np.ndarray, n_pref: int, n_bands: int) -> np.ndarray:
    """tariffs.compile._band_rate before this round (np.unique per band)."""
    table = np.full((n_pref, n_bands + 1), -1, dtype=np.int32)
    for band in range(-1, n_bands):
        applies = np.flatnonzero((rate_band == band) | (rate_band == ALL_BANDS))
        pids, first = np.unique(rate_pid[applies], return_index=True)
        table[pids, band + 1] = applies[first]
    return table.reshape(-1)


@given(st.lists(st.tuples(st.integers(0, 6), st.integers(-1, 2)), max_size=40))
def test_band_rate_is_the_unique_version(rates: list[tuple[int, int]]) -> None:
    rates = sorted(rates, key=lambda r: r[0])  # rates come sorted by prefix
    pid = np.array([r[0] for r in rates], dtype=np.int32)
    band = np.array([r[1] for r in rates], dtype=np.int16)
    assert np.array_equal(compile_mod._band_rate(pid, band, 7, 3), reference_band_rate(pid, band, 7, 3))


def test_distinct_is_numpy_unique() -> None:
    values = np.array([60, 1, 60, 6, 1, 30], dtype=np.int32)
    assert compile_mod._distinct(values).tolist() == np.unique(values).tolist()
    assert compile_mod._distinct(values[:0]).tolist() == []


def test_top_index_is_the_searchsorted_table(tmp_path: Any) -> None:
    rng = np.random.default_rng(2)
    lens = rng.integers(1, 8, 3000)
    prefixes = sorted({str(int(v))[:k] for v, k in zip(rng.integers(10**7, 10**8, 3000), lens)})
    deck = "prefix,destination,price\n" + "".join(f"{p},D,0.1\n" for p in prefixes)
    (tmp_path / "deck.csv").write_text(deck)
    (tmp_path / "t.toml").write_text('name = "t"\ncurrency = "EUR"\ntimezone = "UTC"\ndeck = "deck.csv"\n')
    from tariffs.load import load_tariff

    arrays = compile_mod.compile_tariff(load_tariff(tmp_path / "t.toml")).arrays
    key_len, top, iv_start = arrays["key_len"], arrays["top_digits"], arrays["iv_start"]
    block = np.arange(11**top + 1, dtype=np.uint64) * np.uint64(11 ** (key_len - top))
    expected = (np.searchsorted(iv_start, block, side="right") - 1).astype(np.int32)
    expected[-1] = len(iv_start) - 1
    assert arrays["top_index"].dtype == np.int32 and np.array_equal(arrays["top_index"], expected)


# --- day schedules: memoised per set of bands, same tables and messages --------------------------------------------


def reference_schedules(tariff: Tariff) -> tuple[np.ndarray, ...]:
    """tariffs.compile._schedules before this round: every day computed."""
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


BAND = st.builds(
    lambda name, start, weight, days, months, monthdays, dates, full: Band(
        name=name, start=start, weight=weight, days=frozenset(days), dates=frozenset(dates),
        full_dates=frozenset(full), months=frozenset(months), monthdays=frozenset(monthdays)),
    st.sampled_from(["a", "b", "c", "d"]), st.sampled_from([0, 8 * 3600, 19 * 3600]), st.sampled_from([5, 10]),
    st.sets(st.integers(0, 6), max_size=3), st.sets(st.integers(1, 12), max_size=2),
    st.sets(st.integers(1, 31), max_size=2), st.sets(st.sampled_from([(1, 1), (12, 25), (5, 1)]), max_size=2),
    st.sets(st.sampled_from([dt.date(2026, 12, 24), dt.date(2027, 1, 1)]), max_size=1))


def outcome(fn: Any, tariff: Tariff) -> Any:
    try:
        return [a.tolist() for a in fn(tariff)]
    except TariffError as exc:
        return [str(p) for p in exc.problems]


def banded(bands: list[Band]) -> Tariff:
    return Tariff(name="t", description="", currency="EUR", timezone="UTC", decimals=4, mode="half_up",
                  increment_decimals=None, anchor="slot", split=True, bands=tuple(bands),
                  rows=RateRows.__new__(RateRows), band_index={b.name: i for i, b in enumerate(bands)})


@settings(max_examples=40, deadline=None)
@given(st.lists(BAND, max_size=4, unique_by=lambda b: b.name))
def test_schedules_are_the_day_by_day_schedules(bands: list[Band]) -> None:
    tariff = banded(bands)
    assert outcome(compile_mod._schedules, tariff) == outcome(reference_schedules, tariff)


@pytest.mark.parametrize("bands", [
    [Band(name="a", start=0, weight=10), Band(name="b", start=0, weight=10, days=frozenset({0}))],
    [Band(name="a", start=3600, weight=5, months=frozenset({12})),
     Band(name="b", start=3600, weight=5, dates=frozenset({(12, 25)}), full_dates=frozenset({dt.date(2026, 7, 4)}))],
    [Band(name="a", start=0, weight=1, full_dates=frozenset({dt.date(2026, 7, 4)})),
     Band(name="b", start=0, weight=1, days=frozenset({5}))],
])
def test_tied_bands_are_reported_for_every_day_as_before(bands: list[Band]) -> None:
    """A tie is not remembered with its set of bands: each day is named, as the day-by-day schedules did."""
    tariff = banded(bands)
    mine = outcome(compile_mod._schedules, tariff)
    assert mine == outcome(reference_schedules, tariff)
    assert all("give one a higher weight" in p for p in mine)


def test_scanner_runs_inside_quotes_like_csv_reader() -> None:
    """Long quoted names (the scanner copies runs inside quotes without its state machine): same records, same
    line numbers as csv.reader, with commas, doubled quotes, line ends and non-ASCII inside the quotes."""
    import io

    text = ('prefix,destination,price\r\n1,"Korea, Republic of 1234567890",0.1\n'
            '2,"Côte d\'Ivoire, ""Abidjan""\nmobile, line two",0.2\r'
            '3,"São Tomé\r\nand Príncipe, ' + "x" * 300 + '",0.3\n4,"open to the end')
    data = text.encode()
    scanned = _deck.scan(np.frombuffer(data + b"\0", np.uint8).copy(), 0, len(data), csv.field_size_limit())
    assert scanned is not None
    buf, bounds, lo, lines = scanned
    raw = buf.tobytes()
    mine = [(int(lines[r]), [raw[bounds[k]:bounds[k + 1]].decode() for k in range(lo[r], lo[r + 1])])
            for r in range(len(lines))]
    reader = csv.reader(io.StringIO(text, newline=""))
    assert mine == [(reader.line_num, fields) for fields in reader]


@given(st.lists(st.tuples(st.integers(0, 10**9), st.sampled_from([1, 6, 30, 60]), st.sampled_from([1, 60, 3600])),
                min_size=1, max_size=40), st.sampled_from([1, 1000, 10**8]), st.booleans())
def test_increment_prices_round_half_up(rows: list[tuple[int, int, int]], quantum: int, one_unit: bool) -> None:
    """Each increment's price, rounded half up to `quantum` (the rounding of [rounding] increment_decimals), with a
    single unit (a scalar divisor) or several; exact halves round up."""
    price = np.array([r[0] for r in rows], dtype=np.int64)
    inc = np.array([r[1] for r in rows], dtype=np.int64)
    unit = np.array([rows[0][2] if one_unit else r[2] for r in rows], dtype=np.int64)
    expected = []
    for p, i, u in zip(price.tolist(), inc.tolist(), unit.tolist()):  # Python integers: exact
        q, r = divmod(p * i, u * quantum)
        expected.append((q + (2 * r >= u * quantum)) * quantum)
    assert compile_mod._increment_prices(price, inc, unit, quantum).tolist() == expected


def test_increment_prices_exact_half_rounds_up() -> None:
    price, inc, unit = (np.array([v], dtype=np.int64) for v in (5, 1, 10))
    assert compile_mod._increment_prices(price, inc, unit, 1).tolist() == [1]  # 5 / 10 = 0.5 -> 1
    assert compile_mod._increment_prices(price - 1, inc, unit, 1).tolist() == [0]  # 0.4 -> 0
