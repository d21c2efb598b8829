"""Read a tariff (TOML settings + CSV rate deck or inline [[rate]] tables) and validate every key and cell.

Per-row checks happen here; checks across rows (duplicates, slots, versions) happen in `compile.py`, so that
`load_tariff` + `compile_tariff` together reject everything wrong. Columns are converted with a per-column cache:
a deck of a million rows has few distinct prices, so parsing stays in the seconds.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from engine.money import DECIMALS, ROUNDING_MODES, MoneyError, parse_money
from tariffs.errors import Collector, TariffError
from tariffs.model import ALL_BANDS, ALWAYS, DAY_NAMES, NONE, Band, RateRows, Tariff, day_number

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


def load_tariff(path: str | Path) -> Tariff:
    """Load and validate one tariff file; raise TariffError naming every problem found."""
    path = Path(path)
    where = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TariffError.single(where, None, f"cannot read: {exc.strerror or exc}") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8-sig"), parse_float=Decimal)  # exact: money is never a float
    except UnicodeDecodeError as exc:
        raise TariffError.single(where, None, f"not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise TariffError.single(where, None, f"invalid TOML: {exc}") from None
    return tariff_from_dict(doc, path=path)


def tariff_from_dict(doc: dict[str, Any], *, path: Path | None = None) -> Tariff:
    """Build a Tariff from parsed TOML; `path` locates the file and its deck."""
    where = str(path) if path else "<tariff>"
    errs = Collector()

    for key in sorted(set(doc) - TOP_KEYS):
        errs.add(where, key, f"unknown key (expected one of: {', '.join(sorted(TOP_KEYS))})")

    name = _string(doc, "name", where, errs, required=True)
    description = _string(doc, "description", where, errs) or ""
    currency = _string(doc, "currency", where, errs, required=True)
    if currency and not re.fullmatch(r"[A-Z]{3}", currency):
        errs.add(where, "currency", f"{currency!r} is not an ISO 4217 code (three capital letters, e.g. EUR)")
    timezone = _string(doc, "timezone", where, errs, required=True)
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            errs.add(where, "timezone", f"{timezone!r} is not an IANA time zone (e.g. Europe/Paris)")

    rounding = _table(doc, "rounding", where, errs, ROUNDING_KEYS)
    decimals = _int(rounding, "decimals", f"{where} [rounding]", errs, default=4, lo=0, hi=DECIMALS)
    mode = _string(rounding, "mode", f"{where} [rounding]", errs) or "half_up"
    if mode not in ROUNDING_MODES:
        errs.add(f"{where} [rounding]", "mode", f"{mode!r} is not one of {', '.join(ROUNDING_MODES)}")
    inc_dec = _int(rounding, "increment_decimals", f"{where} [rounding]", errs, default=None, lo=0, hi=DECIMALS)

    billing = _table(doc, "billing", where, errs, BILLING_KEYS)
    anchor = _string(billing, "anchor", f"{where} [billing]", errs) or "slot"
    if anchor not in ("slot", "zero"):
        errs.add(f"{where} [billing]", "anchor", f"{anchor!r} is not 'slot' or 'zero'")
    split = billing.get("split", True)
    if not isinstance(split, bool):
        errs.add(f"{where} [billing]", "split", f"{split!r} is not true or false")
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
    deck_cells: list[tuple[int, dict[str, str]]] = []
    deck = doc.get("deck")
    if deck is not None:
        if not isinstance(deck, str) or not deck:
            errs.add(where, "deck", "must be the file name of a CSV rate deck")
        else:
            deck_path = (path.parent if path else Path.cwd()) / deck
            deck_cells = _read_deck(deck_path, errs)
    inline = doc.get("rate", [])
    if not isinstance(inline, list) or not all(isinstance(r, dict) for r in inline):
        errs.add(where, "rate", "must be an array of tables ([[rate]])")
        inline = []
    for n, table in enumerate(inline, 1):
        for key in sorted(set(table) - set(COLUMNS)):
            errs.add(f"{where} [[rate]] #{n}", key, f"unknown key (expected: {', '.join(COLUMNS)})")
        deck_cells.append((n, {k: _cell_text(v) for k, v in table.items() if k in COLUMNS}))
    if deck is None and not inline:
        errs.add(where, "deck", "the tariff has no rates: give a deck = 'file.csv' or [[rate]] tables")

    n_deck = len(deck_cells) - len(inline)

    def at(i: int) -> str:
        ln = deck_cells[i][0]
        return f"{deck_path}:{ln}" if i < n_deck else f"{where} [[rate]] #{ln}"

    rows = _convert_rows(deck_cells, band_index, at, errs)
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


# --- TOML keys ----------------------------------------------------------------------------------------------


def _string(table: dict, key: str, where: str, errs: Collector, *, required: bool = False) -> str | None:
    value = table.get(key)
    if value is None:
        if required:
            errs.add(where, key, "required key is missing")
        return None
    if not isinstance(value, str):
        errs.add(where, key, f"{value!r} is not a string")
        return None
    if required and not value.strip():
        errs.add(where, key, "must not be empty")
    return value


def _int(table: dict, key: str, where: str, errs: Collector, *, default: int | None, lo: int, hi: int) -> Any:
    value = table.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        errs.add(where, key, f"{value!r} is not a whole number")
        return default
    if not lo <= value <= hi:
        errs.add(where, key, f"{value} is out of range {lo}..{hi}")
        return default
    return value


def _table(doc: dict, key: str, where: str, errs: Collector, allowed: set[str]) -> dict:
    table = doc.get(key, {})
    if not isinstance(table, dict):
        errs.add(where, key, "must be a table")
        return {}
    for k in sorted(set(table) - allowed):
        errs.add(f"{where} [{key}]", k, f"unknown key (expected one of: {', '.join(sorted(allowed))})")
    return table


def _bands(raw: Any, where: str, errs: Collector) -> list[Band]:
    if not isinstance(raw, list) or not all(isinstance(b, dict) for b in raw):
        errs.add(where, "band", "must be an array of tables ([[band]])")
        return []
    bands: list[Band] = []
    seen: set[str] = set()
    for n, b in enumerate(raw, 1):
        at = f"{where} [[band]] #{n}"
        for k in sorted(set(b) - BAND_KEYS):
            errs.add(at, k, f"unknown key (expected one of: {', '.join(sorted(BAND_KEYS))})")
        name = _string(b, "name", at, errs, required=True)
        if name is None:
            continue
        if name == "*" or not name.strip():
            errs.add(at, "name", f"{name!r} is reserved or empty")
        elif name in seen:
            errs.add(at, "name", f"band {name!r} is defined twice")
        seen.add(name)
        start = _time_of_day(b.get("start"), at, errs)
        weight = _int(b, "weight", at, errs, default=10, lo=-(10**6), hi=10**6)
        days = _list(b, "days", at, errs)
        day_set = set()
        for d in days:
            if isinstance(d, str) and d.lower() in _DAY_WORDS:
                day_set.add(_DAY_WORDS[d.lower()])
            else:
                errs.add(at, "days", f"{d!r} is not a day name (mon, tue, wed, thu, fri, sat, sun)")
        dates, full_dates = set(), set()
        for d in _list(b, "dates", at, errs):
            parsed = _band_date(d)
            if parsed is None:
                errs.add(at, "dates", f"{d!r} is not a date 'MM-DD' or 'YYYY-MM-DD'")
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
        errs.add(where, key, f"{value!r} is not a list")
        return []
    return value


def _int_list(table: dict, key: str, where: str, errs: Collector, lo: int, hi: int) -> set[int]:
    out = set()
    for v in _list(table, key, where, errs):
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            errs.add(where, key, f"{v!r} is not a whole number in {lo}..{hi}")
        else:
            out.add(v)
    return out


def _time_of_day(value: Any, where: str, errs: Collector) -> int:
    if value is None:
        errs.add(where, "start", "required key is missing (a time of day, 'HH:MM')")
        return 0
    if isinstance(value, dt.time):  # TOML local time: start = 08:00:00
        return value.hour * 3600 + value.minute * 60 + value.second
    m = _TIME_RE.fullmatch(value) if isinstance(value, str) else None
    if m:
        h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        if h < 24 and mi < 60 and s < 60:
            return h * 3600 + mi * 60 + s
    errs.add(where, "start", f"{value!r} is not a time of day 'HH:MM' or 'HH:MM:SS' (00:00 to 23:59:59)")
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


def _read_deck(path: Path, errs: Collector) -> list[tuple[int, dict[str, str]]]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        errs.add(str(path), None, f"cannot read the rate deck: {exc.strerror or exc}")
        return []
    except UnicodeDecodeError as exc:
        errs.add(str(path), None, f"not UTF-8 text (byte {exc.start})")
        return []
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    out: list[tuple[int, dict[str, str]]] = []
    try:
        for fields in reader:
            if not fields or (len(fields) == 1 and not fields[0].strip()) or fields[0].startswith("#"):
                continue
            if header is None:
                header = [h.strip().lower() for h in fields]
                bad = False
                for h in header:
                    if h not in COLUMNS:
                        errs.add(f"{path}:{reader.line_num}", h or "(empty)",
                                 f"unknown column (expected: {', '.join(COLUMNS)})")
                        bad = True
                for h in {h for h in header if header.count(h) > 1}:
                    errs.add(f"{path}:{reader.line_num}", h, "column appears twice")
                    bad = True
                for h in REQUIRED_COLUMNS:
                    if h not in header:
                        errs.add(f"{path}:{reader.line_num}", h, "required column is missing")
                        bad = True
                if bad:
                    return []
                continue
            if len(fields) != len(header):
                errs.add(f"{path}:{reader.line_num}", None,
                         f"expected {len(header)} fields ({','.join(header)}), found {len(fields)}")
                continue
            out.append((reader.line_num, dict(zip(header, fields))))
    except csv.Error as exc:
        errs.add(f"{path}:{reader.line_num}", None, f"malformed CSV: {exc}")
    if header is None:
        errs.add(str(path), None, "the rate deck is empty (a header row is required)")
    return out


def _convert_rows(cells: list[tuple[int, dict[str, str]]], band_index: dict[str, int],
                  at: Callable[[int], str], errs: Collector) -> RateRows:
    n = len(cells)

    def column(name: str) -> list[str]:
        return [c.get(name, "").strip() for _, c in cells]

    def convert(name: str, conv: Callable[[str], Any], default: Any) -> list[Any]:
        cache: dict[str, Any] = {}
        out = []
        for i, text in enumerate(column(name)):
            if not text:
                out.append(default)
                continue
            value = cache.get(text)
            if value is None:
                try:
                    value = conv(text)
                except ValueError as exc:
                    errs.add(at(i), name, str(exc))
                    value = default if default is not None else 0
                cache[text] = value
            out.append(value)
        return out

    prefixes = column("prefix")
    for i, p in enumerate(prefixes):
        if not (p.isdigit() and p.isascii()) and p:
            hint = " (write E.164 digits without '+')" if p.startswith("+") else ""
            errs.add(at(i), "prefix", f"{p!r} must be digits only{hint}")
        elif len(p) > MAX_PREFIX_DIGITS:
            errs.add(at(i), "prefix", f"{p!r} is longer than {MAX_PREFIX_DIGITS} digits")

    dest_names = column("destination")
    destinations: list[str] = []
    dest_ids: dict[str, int] = {}
    dest = np.empty(n, dtype=np.int32)
    for i, d in enumerate(dest_names):
        if not d:
            errs.add(at(i), "destination", "required value is empty")
        j = dest_ids.get(d)
        if j is None:
            j = dest_ids[d] = len(destinations)
            destinations.append(d)
        dest[i] = j

    def band_of(text: str) -> int:
        if text == "*":
            return ALL_BANDS
        if text not in band_index:
            known = ", ".join(band_index) or "none defined"
            raise ValueError(f"unknown band {text!r} (bands: {known}; '*' for every band)")
        return band_index[text]

    def required(name: str) -> None:
        for i, (_, c) in enumerate(cells):
            if not c.get(name, "").strip():
                errs.add(at(i), name, "required value is empty")

    required("price")

    def effective(text: str) -> int:
        m = _YMD_RE.fullmatch(text)
        try:
            if m is None:
                raise ValueError
            return day_number(dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))))
        except ValueError:
            raise ValueError(f"{text!r} is not a date 'YYYY-MM-DD'") from None

    rows = RateRows(
        prefix=prefixes,
        destination=dest,
        destinations=destinations,
        band=np.array(convert("band", band_of, ALL_BANDS), dtype=np.int16),
        connect_fee=np.array(convert("connect_fee", _money, 0), dtype=np.int64),
        price=np.array(convert("price", _money, 0), dtype=np.int64),
        unit=np.array(convert("unit", _seconds(1, MAX_SECONDS), 60), dtype=np.int32),
        increment=np.array(convert("increment", _seconds(1, MAX_SECONDS), 1), dtype=np.int32),
        slot_from=np.array(convert("from", _seconds(0, MAX_FROM), 0), dtype=np.int32),
        min_cost=np.array(convert("min_cost", _money, NONE), dtype=np.int64),
        max_cost=np.array(convert("max_cost", _money, NONE), dtype=np.int64),
        effective_from=np.array(convert("effective_from", effective, ALWAYS), dtype=np.int32),
        line=np.array([ln for ln, _ in cells], dtype=np.int32),
    )
    both = (rows.min_cost != NONE) & (rows.max_cost != NONE) & (rows.min_cost > rows.max_cost)
    for i in np.flatnonzero(both)[:100]:
        errs.add(at(int(i)), "min_cost", "is greater than max_cost")
    return rows


def _money(text: str) -> int:
    try:
        value = parse_money(text)
    except MoneyError as exc:
        raise ValueError(str(exc)) from None
    if value < 0:
        raise ValueError(f"{text!r} is negative (prices, fees and limits are >= 0)")
    return value


def _seconds(lo: int, hi: int) -> Callable[[str], int]:
    def conv(text: str) -> int:
        if not (text.isdigit() and text.isascii()):
            raise ValueError(f"{text!r} is not a whole number of seconds")
        value = int(text)
        if not lo <= value <= hi:
            raise ValueError(f"{value} is out of range {lo}..{hi}")
        return value

    return conv
