"""Read a tariff (TOML settings + CSV rate deck or inline [[rate]] tables) and validate every key and cell.

Per-row checks happen here; checks across rows (duplicates, slots, versions) happen in `compile.py`, so that
`load_tariff` + `compile_tariff` together reject everything wrong. The deck is read in columns, without a Python
object per row: tariffs/_deck.pyx splits the CSV exactly as csv.reader does and converts plain cells (ASCII digits)
in C; every other cell goes through the same Python conversion as tariffs/load_reference.py (the row-by-row oracle),
so values, messages and their order are the reference's. `compiled_tariff` loads a tariff once per process.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import os
import re
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from engine.money import DECIMALS, ROUNDING_MODES, MoneyError, parse_money
from i18n import _
from tariffs import _deck
from tariffs.errors import Collector, TariffError, money_problem
from tariffs.model import ALL_BANDS, ALWAYS, DAY_NAMES, NONE, Band, RateRows, Tariff, day_number

if TYPE_CHECKING:
    from tariffs.compile import CompiledTariff

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_PREFIX_DIGITS = 18
MAX_SECONDS = 86_400  # unit, increment: a day at most
MAX_FROM = 7 * 86_400  # slot start: the longest call the engine rates

TOP_KEYS = {"name", "description", "currency", "timezone", "rounding", "billing", "band", "deck", "rate"}
ROUNDING_KEYS = {"decimals", "mode", "increment_decimals"}
BILLING_KEYS = {"anchor", "split"}
BAND_KEYS = {"name", "start", "weight", "days", "dates", "months", "monthdays"}
COLUMNS = (
    "prefix",
    "destination",
    "band",
    "connect_fee",
    "price",
    "unit",
    "increment",
    "from",
    "min_cost",
    "max_cost",
    "effective_from",
)
REQUIRED_COLUMNS = ("prefix", "destination", "price")

_TIME_RE = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_MMDD_RE = re.compile(r"(\d{2})-(\d{2})")
_YMD_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_WORDS = {**{d: i for i, d in enumerate(DAY_NAMES)}, **{d: i for i, d in enumerate(_FULL_DAYS)}}


class DeckReader(Protocol):
    """How a deck becomes RateRows: `read` the CSV file, then `convert` its rows and the inline [[rate]] tables."""

    def read(self, path: Path, errs: Collector) -> Any: ...

    def convert(self, deck: Any, inline: list[tuple[int, dict[str, str]]], band_index: dict[str, int],
                deck_path: Path | None, where: str, errs: Collector) -> tuple[RateRows, int]: ...


def load_tariff(path: str | Path, *, reader: DeckReader | None = None) -> Tariff:
    """Load and validate one tariff file; raise TariffError naming every problem found."""
    path = Path(path)
    where = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TariffError.single(where, None, _("cannot read: {value}").format(value=exc.strerror or exc)) from None
    try:
        doc = tomllib.loads(raw.decode("utf-8-sig"), parse_float=Decimal)  # exact: money is never a float
    except UnicodeDecodeError as exc:
        raise TariffError.single(where, None, _("not UTF-8 text (byte {start})").format(start=exc.start)) from None
    except tomllib.TOMLDecodeError as exc:
        raise TariffError.single(where, None, _("invalid TOML: {error}").format(error=exc)) from None
    return tariff_from_dict(doc, path=path, reader=reader)


def tariff_from_dict(doc: dict[str, Any], *, path: Path | None = None, reader: DeckReader | None = None) -> Tariff:
    """Build a Tariff from parsed TOML; `path` locates the file and its deck. `reader`: the columnar one unless
    told (tests and the benchmark pass tariffs.load_reference.RowReader)."""
    reader = reader or ColumnReader
    where = str(path) if path else "<tariff>"
    errs = Collector()

    for key in sorted(set(doc) - TOP_KEYS):
        errs.add(where, key, _("unknown key (expected one of: {names})").format(names=', '.join(sorted(TOP_KEYS))))

    name = _string(doc, "name", where, errs, required=True)
    description = _string(doc, "description", where, errs) or ""
    currency = _string(doc, "currency", where, errs, required=True)
    if currency and not re.fullmatch(r"[A-Z]{3}", currency):
        errs.add(where, "currency", _(
            "{currency} is not an ISO 4217 code (three capital letters, e.g. EUR)").format(currency=repr(currency)))
    timezone = _string(doc, "timezone", where, errs, required=True)
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            errs.add(where, "timezone", _(
                "{timezone} is not an IANA time zone (e.g. Europe/Paris)").format(timezone=repr(timezone)))

    rounding = _table(doc, "rounding", where, errs, ROUNDING_KEYS)
    decimals = _int(rounding, "decimals", f"{where} [rounding]", errs, default=4, lo=0, hi=DECIMALS)
    mode = _string(rounding, "mode", f"{where} [rounding]", errs) or "half_up"
    if mode not in ROUNDING_MODES:
        errs.add(f"{where} [rounding]", "mode", _(
            "{mode} is not one of {names}").format(mode=repr(mode), names=', '.join(ROUNDING_MODES)))
    inc_dec = _int(rounding, "increment_decimals", f"{where} [rounding]", errs, default=None, lo=0, hi=DECIMALS)

    billing = _table(doc, "billing", where, errs, BILLING_KEYS)
    anchor = _string(billing, "anchor", f"{where} [billing]", errs) or "slot"
    if anchor not in ("slot", "zero"):
        errs.add(f"{where} [billing]", "anchor", _("{anchor} is not 'slot' or 'zero'").format(anchor=repr(anchor)))
    split = billing.get("split", True)
    if not isinstance(split, bool):
        errs.add(f"{where} [billing]", "split", _("{split} is not true or false").format(split=repr(split)))
        split = True

    raw_bands = doc.get("band", [])
    if "deck" not in doc and isinstance(raw_bands, list) and raw_bands and isinstance(raw_bands[-1], dict) \
            and "deck" in raw_bands[-1]:
        # TOML attaches a `deck = ...` written after the last [[band]] to that band; the format's own example
        # does this, so take it as the tariff's deck.
        doc = {**doc, "deck": raw_bands[-1]["deck"], "band": [*raw_bands[:-1],
                                                             {k: v for k, v in raw_bands[-1].items() if k != "deck"}]}
        raw_bands = doc["band"]
    bands = _bands(raw_bands, where, errs)
    band_index = {b.name: i for i, b in enumerate(bands)}

    deck_path: Path | None = None
    deck_data: Any = None
    deck = doc.get("deck")
    if deck is not None:
        if not isinstance(deck, str) or not deck:
            errs.add(where, "deck", _("must be the file name of a CSV rate deck"))
        else:
            deck_path = (path.parent if path else Path.cwd()) / deck
            deck_data = reader.read(deck_path, errs)
    inline = doc.get("rate", [])
    if not isinstance(inline, list) or not all(isinstance(r, dict) for r in inline):
        errs.add(where, "rate", _("must be an array of tables ([[rate]])"))
        inline = []
    inline_cells: list[tuple[int, dict[str, str]]] = []
    for n, table in enumerate(inline, 1):
        for key in sorted(set(table) - set(COLUMNS)):
            errs.add(f"{where} [[rate]] #{n}", key, _(
                "unknown key (expected: {names})").format(names=', '.join(COLUMNS)))
        inline_cells.append((n, {k: _cell_text(v) for k, v in table.items() if k in COLUMNS}))
    if deck is None and not inline:
        errs.add(where, "deck", _("the tariff has no rates: give a deck = 'file.csv' or [[rate]] tables"))

    rows, n_deck = reader.convert(deck_data, inline_cells, band_index, deck_path, where, errs)
    errs.raise_if_any()
    return Tariff(
        name=name or "",
        description=description,
        currency=currency or "",
        timezone=timezone or "UTC",
        decimals=decimals,
        mode=mode,
        increment_decimals=inc_dec,
        anchor=anchor,
        split=split,
        bands=tuple(bands),
        rows=rows,
        path=path,
        deck_path=deck_path,
        n_deck_rows=n_deck,
        band_index=band_index,
    )


# --- once per process -------------------------------------------------------------------------------------

_CACHE_SIZE = 8
_RECENT_NS = 50_000_000  # a deck modified this close to its reading is not cached
_cache: OrderedDict[Path, tuple[tuple, CompiledTariff]] = OrderedDict()
_cache_lock = threading.Lock()


def _identity(path: Path | None) -> tuple:
    """What tells a file changed: size, modification time (ns) and inode; None when it cannot be read."""
    if path is None:
        return ()
    try:
        st = os.stat(path)
    except OSError:
        return (None,)
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def compiled_tariff(path: str | Path) -> CompiledTariff:
    """The tariff at `path` loaded and compiled once per process: the CLI's check and the workspace share it, so a
    command never parses a deck twice. Kept while the TOML file and its deck keep their size, modification time
    and inode (an edited file is read again); the last few tariffs are kept. Raises TariffError."""
    from tariffs.compile import compile_tariff

    key = Path(os.path.abspath(path))
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None:
        (toml_id, deck_id), compiled = hit
        if toml_id == _identity(key) and deck_id == _identity(compiled.tariff.deck_path):
            with _cache_lock:
                _cache.move_to_end(key)
            return compiled
    toml_id = _identity(key)
    began = time.time_ns()
    compiled = compile_tariff(load_tariff(key))
    deck_id = _identity(compiled.tariff.deck_path)
    if len(deck_id) == 3 and deck_id[1] >= began - _RECENT_NS:
        return compiled  # the deck may have changed while it was read (file times are coarse): not kept
    with _cache_lock:
        _cache[key] = ((toml_id, deck_id), compiled)
        _cache.move_to_end(key)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return compiled


def clear_cache() -> None:
    """Forget every cached tariff (tests)."""
    with _cache_lock:
        _cache.clear()


# --- TOML keys ----------------------------------------------------------------------------------------------


def _string(table: dict, key: str, where: str, errs: Collector, *, required: bool = False) -> str | None:
    value = table.get(key)
    if value is None:
        if required:
            errs.add(where, key, _("required key is missing"))
        return None
    if not isinstance(value, str):
        errs.add(where, key, _("{value} is not a string").format(value=repr(value)))
        return None
    if required and not value.strip():
        errs.add(where, key, _("must not be empty"))
    return value


def _int(table: dict, key: str, where: str, errs: Collector, *, default: int | None, lo: int, hi: int) -> Any:
    value = table.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        errs.add(where, key, _("{value} is not a whole number").format(value=repr(value)))
        return default
    if not lo <= value <= hi:
        errs.add(where, key, _("{value} is out of range {lo}..{hi}").format(value=value, lo=lo, hi=hi))
        return default
    return value


def _table(doc: dict, key: str, where: str, errs: Collector, allowed: set[str]) -> dict:
    table = doc.get(key, {})
    if not isinstance(table, dict):
        errs.add(where, key, _("must be a table"))
        return {}
    for k in sorted(set(table) - allowed):
        errs.add(f"{where} [{key}]", k, _(
            "unknown key (expected one of: {names})").format(names=', '.join(sorted(allowed))))
    return table


def _bands(raw: Any, where: str, errs: Collector) -> list[Band]:
    if not isinstance(raw, list) or not all(isinstance(b, dict) for b in raw):
        errs.add(where, "band", _("must be an array of tables ([[band]])"))
        return []
    bands: list[Band] = []
    seen: set[str] = set()
    for n, b in enumerate(raw, 1):
        at = f"{where} [[band]] #{n}"
        for k in sorted(set(b) - BAND_KEYS):
            errs.add(at, k, _("unknown key (expected one of: {names})").format(names=', '.join(sorted(BAND_KEYS))))
        name = _string(b, "name", at, errs, required=True)
        if name is None:
            continue
        if name == "*" or not name.strip():
            errs.add(at, "name", _("{name} is reserved or empty").format(name=repr(name)))
        elif name in seen:
            errs.add(at, "name", _("band {name} is defined twice").format(name=repr(name)))
        seen.add(name)
        start = _time_of_day(b.get("start"), at, errs)
        weight = _int(b, "weight", at, errs, default=10, lo=-(10**6), hi=10**6)
        days = _list(b, "days", at, errs)
        day_set = set()
        for d in days:
            if isinstance(d, str) and d.lower() in _DAY_WORDS:
                day_set.add(_DAY_WORDS[d.lower()])
            else:
                errs.add(at, "days", _("{d} is not a day name (mon, tue, wed, thu, fri, sat, sun)").format(d=repr(d)))
        dates, full_dates = set(), set()
        for d in _list(b, "dates", at, errs):
            parsed = _band_date(d)
            if parsed is None:
                errs.add(at, "dates", _("{d} is not a date 'MM-DD' or 'YYYY-MM-DD'").format(d=repr(d)))
            elif isinstance(parsed, dt.date):
                full_dates.add(parsed)
            else:
                dates.add(parsed)
        months = _int_list(b, "months", at, errs, 1, 12)
        monthdays = _int_list(b, "monthdays", at, errs, 1, 31)
        bands.append(Band(name=name, start=start, weight=weight if weight is not None else 10,
                          days=frozenset(day_set), dates=frozenset(dates), full_dates=frozenset(full_dates),
                          months=frozenset(months), monthdays=frozenset(monthdays)))
    return bands


def _list(table: dict, key: str, where: str, errs: Collector) -> list:
    value = table.get(key, [])
    if not isinstance(value, list):
        errs.add(where, key, _("{value} is not a list").format(value=repr(value)))
        return []
    return value


def _int_list(table: dict, key: str, where: str, errs: Collector, lo: int, hi: int) -> set[int]:
    out = set()
    for v in _list(table, key, where, errs):
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            errs.add(where, key, _("{v} is not a whole number in {lo}..{hi}").format(v=repr(v), lo=lo, hi=hi))
        else:
            out.add(v)
    return out


def _time_of_day(value: Any, where: str, errs: Collector) -> int:
    if value is None:
        errs.add(where, "start", _("required key is missing (a time of day, 'HH:MM')"))
        return 0
    if isinstance(value, dt.time):  # TOML local time: start = 08:00:00
        return value.hour * 3600 + value.minute * 60 + value.second
    m = _TIME_RE.fullmatch(value) if isinstance(value, str) else None
    if m:
        h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        if h < 24 and mi < 60 and s < 60:
            return h * 3600 + mi * 60 + s
    errs.add(where, "start", _(
        "{value} is not a time of day 'HH:MM' or 'HH:MM:SS' (00:00 to 23:59:59)").format(value=repr(value)))
    return 0


def _band_date(value: Any) -> tuple[int, int] | dt.date | None:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        return None
    if m := _YMD_RE.fullmatch(value):
        try:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return None
    if m := _MMDD_RE.fullmatch(value):
        month, day = int(m.group(1)), int(m.group(2))
        try:
            dt.date(2000, month, day)  # a leap year: 02-29 is a valid yearly date
        except ValueError:
            return None
        return (month, day)
    return None


# --- the rate deck ------------------------------------------------------------------------------------------


def _cell_text(value: Any) -> str:
    """Inline [[rate]] values may be TOML numbers (read as Decimal) or dates; treat them as the deck's text."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


class PrefixColumn(Sequence[str]):
    """The prefix column as an 'S' array, seen as a sequence of str: no Python string per row until one is read."""

    __slots__ = ("digits",)

    def __init__(self, digits: np.ndarray):
        self.digits = digits

    def __len__(self) -> int:
        return len(self.digits)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return PrefixColumn(self.digits[i])
        return self.digits[i].decode("ascii")

    def __iter__(self) -> Iterator[str]:
        return (b.decode("ascii") for b in self.digits.tolist())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PrefixColumn):
            return len(self) == len(other) and bool(np.array_equal(self.digits, other.digits))
        if isinstance(other, (list, tuple)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.array(list(self), dtype=dtype)

    def __repr__(self) -> str:
        return f"PrefixColumn({len(self)} prefixes)"


def prefix_bytes(prefixes: Sequence[str]) -> np.ndarray:
    """Prefixes as an 'S' array (the compiler's input): free for a PrefixColumn, converted for a list."""
    if isinstance(prefixes, PrefixColumn):
        return prefixes.digits
    return np.array(prefixes, dtype=f"S{MAX_PREFIX_DIGITS}") if len(prefixes) else np.zeros(0, "S1")


@dataclass
class DeckCells:
    """Cells in columns, as tariffs/_deck.pyx's kernels take them: field k is buf[bounds[k]:bounds[k+1]] (UTF-8;
    field 0 is empty), and each column is (idx, off): row i's cell is field idx[i] + off (a deck's columns share
    idx, each record's first field; a column the deck lacks is absent). `line` is each row's CSV line, or inline
    [[rate]] number. `buf` ends with a spare 0 byte."""

    buf: np.ndarray  # uint8
    bounds: np.ndarray  # int64
    cols: dict[str, tuple[np.ndarray, int]]  # int64 field numbers, offset
    line: np.ndarray  # int64
    n: int

    @classmethod
    def from_rows(cls, rows: list[tuple[int, dict[str, str]]]) -> DeckCells:
        """Cells from (line, {column: text}) rows: the inline [[rate]] tables, or csv.reader's rows."""
        n = len(rows)
        parts: list[bytes] = []
        bounds = [0, 0]
        fields: dict[str, np.ndarray] = {}
        for i, (_line, cells) in enumerate(rows):
            for name, text in cells.items():
                if name not in fields:
                    fields[name] = np.zeros(n, np.int64)
                b = text.encode("utf-8", "surrogatepass")
                fields[name][i] = len(bounds) - 1
                bounds.append(bounds[-1] + len(b))
                parts.append(b)
        return cls(np.frombuffer(b"".join(parts) + b"\0", np.uint8), np.array(bounds, np.int64),
                   {name: (idx, 0) for name, idx in fields.items()}, np.array([ln for ln, _c in rows], dtype=np.int64),
                   n)

    def extend(self, other: DeckCells) -> DeckCells:
        """These rows, then `other`'s."""
        if other.n == 0:
            return self
        shift = len(self.bounds)  # other's field k becomes field shift + k
        cols = {}
        for name in {*self.cols, *other.cols}:
            mine, theirs = self.column(name), other.column(name)
            cols[name] = np.concatenate([mine[0] + mine[1], theirs[0] + (theirs[1] + shift)]), 0
        return DeckCells(np.concatenate([self.buf, other.buf]),
                         np.concatenate([self.bounds, other.bounds + len(self.buf)]), cols,
                         np.concatenate([self.line, other.line]), self.n + other.n)

    def column(self, name: str) -> tuple[np.ndarray, int]:
        """The column's (idx, off) (field 0, empty, for every row when the deck lacks the column)."""
        return self.cols.get(name) or (np.zeros(self.n, np.int64), 0)

    def text(self, field: int) -> str:
        """A field as str, stripped as the reference strips cells."""
        return self.buf[self.bounds[field]:self.bounds[field + 1]].tobytes().decode("utf-8", "surrogatepass").strip()

    def texts(self, fields: np.ndarray) -> tuple[list[str], bool, bool]:
        """Many fields as str, stripped as `text` strips them, decoded in C (tariffs/_deck.pyx `texts`): 100,000
        distinct destinations without a slice and a decode each from Python. Also says whether Unicode white space
        was stripped from any (fields distinct by bytes may then give equal str), and whether any is empty."""
        out, edge, first_empty = _deck.texts(self.buf, self.bounds, np.ascontiguousarray(fields, dtype=np.int64))
        changed, empty = False, first_empty >= 0
        for k in np.flatnonzero(edge).tolist():  # ASCII white space is gone; Unicode white space is Python's
            cell = out[k].strip()
            if len(cell) != len(out[k]):
                changed, empty, out[k] = True, empty or not cell, cell
        return out, changed, empty


class ColumnReader:
    """The columnar deck reader (DeckReader): tariffs/_deck.pyx scans, numpy and C convert."""

    @staticmethod
    def read(path: Path, errs: Collector) -> DeckCells | None:
        return _read_deck_columns(path, errs)

    @staticmethod
    def convert(deck: DeckCells | None, inline: list[tuple[int, dict[str, str]]], band_index: dict[str, int],
                deck_path: Path | None, where: str, errs: Collector) -> tuple[RateRows, int]:
        n_deck = deck.n if deck is not None else 0
        cells = (deck or DeckCells.from_rows([])).extend(DeckCells.from_rows(inline))
        line = cells.line

        def at(i: int) -> str:
            return f"{deck_path}:{line[i]}" if i < n_deck else f"{where} [[rate]] #{line[i]}"

        return _convert_columns(cells, band_index, at, errs), n_deck


def _read_into_array(path: Path) -> tuple[np.ndarray, int]:
    """The file's bytes in a writable array with one spare byte (the scanner works in place): (array, size)."""
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        data = _deck.zeroed(size + 1)  # a large deck in 2 MB pages
        view = memoryview(data)
        got = 0
        while got < size:
            k = f.readinto(view[got:size])
            if not k:
                break
            got += k
        rest = f.read()  # a file that grew since fstat
    if rest:
        data = np.concatenate([data[:got], np.frombuffer(rest, np.uint8), np.zeros(1, np.uint8)])
        got += len(rest)
    return data, got


def _read_deck_columns(path: Path, errs: Collector) -> DeckCells | None:
    """The deck's data rows in columns, with the reference reader's problems (same text, same order)."""
    try:
        data, size = _read_into_array(path)
    except OSError as exc:
        errs.add(str(path), None, _("cannot read the rate deck: {value}").format(value=exc.strerror or exc))
        return None
    if _deck.utf8_valid(data, size) >= 0:
        try:  # Python's own decoder, for its message
            data[:size].tobytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            errs.add(str(path), None, _("not UTF-8 text (byte {start})").format(start=exc.start))
            return None
    begin = len(codecs.BOM_UTF8) if data[:size][:3].tobytes() == codecs.BOM_UTF8 else 0
    scanned = _deck.scan(data, begin, size, csv.field_size_limit())  # in place: data is the scanner's output
    if scanned is None:  # a field longer than csv's limit: csv.reader reads (and reports) it as it always did
        from tariffs.load_reference import _read_deck

        return DeckCells.from_rows(_read_deck(path, errs))
    buf, bounds, lo, rec_line = scanned
    cells = DeckCells(buf, bounds, {}, rec_line, 0)
    # skipped as the reference skips them: no field, fields[0].startswith("#"), or one field blank once stripped
    nf, skip = _deck.records(buf, bounds, lo)
    for r in np.flatnonzero(skip == _deck.FALLBACK).tolist():  # one field with non-ASCII edges: Python strips
        skip[r] = _deck.OK if cells.text(int(lo[r])) else _deck.EMPTY
    kept = np.flatnonzero(skip == _deck.OK)
    if len(kept) == 0:
        errs.add(str(path), None, _("the rate deck is empty (a header row is required)"))
        return None
    h = int(kept[0])
    at = f"{path}:{rec_line[h]}"
    header = [cells.text(k).lower() for k in range(lo[h], lo[h + 1])]
    bad = False
    for name in header:
        if name not in COLUMNS:
            errs.add(at, name or "(empty)", _("unknown column (expected: {names})").format(names=', '.join(COLUMNS)))
            bad = True
    for name in {h for h in header if header.count(h) > 1}:
        errs.add(at, name, _("column appears twice"))
        bad = True
    for name in REQUIRED_COLUMNS:
        if name not in header:
            errs.add(at, name, _("required column is missing"))
            bad = True
    if bad:
        return None
    data = kept[1:]
    fits = nf[data] == len(header)
    for r in data[~fits]:
        errs.add(f"{path}:{rec_line[r]}", None,
                 _(
                     "expected {count} fields ({names}), found {value}").format(
                     count=len(header), names=','.join(header), value=nf[r]))
    rows = data[fits]
    base = lo[rows]
    return DeckCells(buf, bounds, {name: (base, j) for j, name in enumerate(header)}, rec_line[rows], len(rows))


def _convert_columns(cells: DeckCells, band_index: dict[str, int], at: Callable[[int], str],
                     errs: Collector) -> RateRows:
    """Every column converted as the reference `_convert_rows` does, problems in the same order: prefix,
    destination, empty prices, then band, connect_fee, price, unit, increment, from, min_cost, max_cost,
    effective_from (a bad value once per distinct text, at its first row), then min_cost > max_cost."""
    buf, bounds, column = cells.buf, cells.bounds, cells.column

    def text(col: tuple[np.ndarray, int], i: int) -> str:
        return cells.text(int(col[0][i]) + col[1])

    prefix_col = column("prefix")
    digits, status = _deck.digits(buf, bounds, *prefix_col, MAX_PREFIX_DIGITS)
    for i in np.flatnonzero(status == _deck.FALLBACK):
        p = text(prefix_col, i)
        if not (p.isdigit() and p.isascii()) and p:
            message = _("{prefix} must be digits only (write E.164 digits without '+')") if p.startswith("+") \
                else _("{prefix} must be digits only")
            errs.add(at(i), "prefix", message.format(prefix=repr(p)))
        elif len(p) > MAX_PREFIX_DIGITS:
            errs.add(at(i), "prefix", _(
                "{prefix} is longer than {limit} digits").format(prefix=repr(p), limit=MAX_PREFIX_DIGITS))
        else:  # plain digits once Unicode white space is stripped
            digits[i] = p.encode("ascii")

    dest_col = column("destination")
    ids, first = _deck.unique(buf, bounds, *dest_col)  # distinct by bytes, in order of first appearance
    names, stripped, has_empty = cells.texts(dest_col[0][first] + dest_col[1])
    destinations, dest = names, ids
    if stripped:  # Unicode white space stripped: two cells may now be one name (kept at its first appearance)
        destinations = list(dict.fromkeys(names))
        if len(destinations) < len(names):
            index = {name: j for j, name in enumerate(destinations)}
            dest = np.array([index[name] for name in names], dtype=np.int32)[ids]
    if has_empty:
        for i in np.flatnonzero(dest == destinations.index("")):
            errs.add(at(i), "destination", _("required value is empty"))

    price_col = column("price")
    price, price_status = _deck.money(buf, bounds, *price_col, DECIMALS)
    price_empty = price_status == _deck.EMPTY
    for i in np.flatnonzero(price_status == _deck.FALLBACK):
        price_empty[i] = not text(price_col, i)
    for i in np.flatnonzero(price_empty):
        errs.add(at(i), "price", _("required value is empty"))

    def by_value(name: str, conv: Callable[[str], int], default: int, dtype: Any) -> np.ndarray:
        """A column of few distinct values (band, effective_from): converted once per distinct cell."""
        if name not in cells.cols:
            return np.full(cells.n, default, dtype=dtype)
        col = column(name)
        ids, first = _deck.unique(buf, bounds, *col)
        cache: dict[str, int] = {}
        values = np.array([_convert_cell(cell, conv, default, cache, at, row, name, errs)
                           for cell, row in zip(cells.texts(col[0][first] + col[1])[0], first.tolist())],
                          dtype=np.int64)
        return values[ids].astype(dtype)

    def by_kernel(name: str, default: int, dtype: Any, conv: Callable[[str], int], lo: int | None = None,
                  hi: int | None = None, known: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """A numeric column: plain cells converted in C, the rest (and out-of-range ones) by `conv`."""
        if name not in cells.cols and known is None:
            return np.full(cells.n, default, dtype=dtype)
        col = column(name)
        if known is not None:
            values, status = known
            if default:
                values[status == _deck.EMPTY] = default
        elif lo is None:
            values, status = _deck.money(buf, bounds, *col, DECIMALS, default)
        else:  # out of lo..hi: FALLBACK, for conv's message
            values, status = _deck.whole(buf, bounds, *col, lo, hi, default)
        cache: dict[str, int] = {}
        for i in np.flatnonzero(status == _deck.FALLBACK).tolist():
            values[i] = _convert_cell(text(col, i), conv, default, cache, at, i, name, errs)
        return values.astype(dtype, copy=False)

    rows = RateRows(
        prefix=PrefixColumn(digits),
        destination=dest.astype(np.int32),
        destinations=destinations,
        band=by_value("band", _band_of(band_index), ALL_BANDS, np.int16),
        connect_fee=by_kernel("connect_fee", 0, np.int64, _money),
        price=by_kernel("price", 0, np.int64, _money, known=(price, price_status)),
        unit=by_kernel("unit", 60, np.int32, _seconds(1, MAX_SECONDS), 1, MAX_SECONDS),
        increment=by_kernel("increment", 1, np.int32, _seconds(1, MAX_SECONDS), 1, MAX_SECONDS),
        slot_from=by_kernel("from", 0, np.int32, _seconds(0, MAX_FROM), 0, MAX_FROM),
        min_cost=by_kernel("min_cost", NONE, np.int64, _money),
        max_cost=by_kernel("max_cost", NONE, np.int64, _money),
        effective_from=by_value("effective_from", _effective, ALWAYS, np.int32),
        line=cells.line.astype(np.int32),
    )
    both = (rows.min_cost != NONE) & (rows.max_cost != NONE) & (rows.min_cost > rows.max_cost)
    for i in np.flatnonzero(both)[:100]:
        errs.add(at(int(i)), "min_cost", _("is greater than max_cost"))
    return rows


def _convert_cell(text: str, conv: Callable[[str], int], default: int, cache: dict[str, int],
                  at: Callable[[int], str], row: int, name: str, errs: Collector) -> int:
    """One cell as the reference converts it: empty -> default; a bad text is reported once, at its first row."""
    if not text:
        return default
    value = cache.get(text)
    if value is None:
        try:
            value = conv(text)
        except ValueError as exc:
            errs.add(at(row), name, str(exc))
            value = default
        cache[text] = value
    return value


def _band_of(band_index: dict[str, int]) -> Callable[[str], int]:
    def conv(text: str) -> int:
        if text == "*":
            return ALL_BANDS
        if text not in band_index:
            known = ", ".join(band_index) or "none defined"
            raise ValueError(_(
                "unknown band {text} (bands: {known}; '*' for every band)").format(text=repr(text), known=known))
        return band_index[text]

    return conv


def _effective(text: str) -> int:
    m = _YMD_RE.fullmatch(text)
    try:
        if m is None:
            raise ValueError
        return day_number(dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))))
    except ValueError:
        raise ValueError(_("{text} is not a date 'YYYY-MM-DD'").format(text=repr(text))) from None


def _money(text: str) -> int:
    try:
        value = parse_money(text)
    except MoneyError as exc:
        raise ValueError(money_problem(exc)) from None
    if value < 0:
        raise ValueError(_("{text} is negative (prices, fees and limits are >= 0)").format(text=repr(text)))
    return value


def _seconds(lo: int, hi: int) -> Callable[[str], int]:
    def conv(text: str) -> int:
        if not (text.isdigit() and text.isascii()):
            raise ValueError(_("{text} is not a whole number of seconds").format(text=repr(text)))
        value = int(text)
        if not lo <= value <= hi:
            raise ValueError(_("{value} is out of range {lo}..{hi}").format(value=value, lo=lo, hi=hi))
        return value

    return conv
