"""The reference rate-deck path: csv.reader rows into one dict per row, then per-column list comprehensions.

This was tariffs/load.py's deck reader before the columnar one (tariffs/_deck.pyx). It stays as the oracle: the
tests and benchmarks/bench_tariff.py compare the columnar loader with it (same Tariff, same problems, same order).
Settings (TOML) are read by the same code in both: only the deck path differs.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from i18n import _
from tariffs import load
from tariffs.errors import Collector
from tariffs.load import COLUMNS, MAX_FROM, MAX_PREFIX_DIGITS, MAX_SECONDS, REQUIRED_COLUMNS, _money, _seconds
from tariffs.model import ALL_BANDS, ALWAYS, NONE, RateRows, Tariff


def load_tariff(path: str | Path) -> Tariff:
    """tariffs.load.load_tariff with the reference deck reader."""
    return load.load_tariff(path, reader=RowReader)


def tariff_from_dict(doc: dict[str, Any], *, path: Path | None = None) -> Tariff:
    return load.tariff_from_dict(doc, path=path, reader=RowReader)


class RowReader:
    """The deck reader protocol of tariffs.load (read the deck, then convert deck and inline rows)."""

    @staticmethod
    def read(path: Path, errs: Collector) -> list[tuple[int, dict[str, str]]]:
        return _read_deck(path, errs)

    @staticmethod
    def convert(deck: list[tuple[int, dict[str, str]]] | None, inline: list[tuple[int, dict[str, str]]],
                band_index: dict[str, int], deck_path: Path | None, where: str,
                errs: Collector) -> tuple[RateRows, int]:
        cells = [*(deck or []), *inline]
        n_deck = len(cells) - len(inline)

        def at(i: int) -> str:
            ln = cells[i][0]
            return f"{deck_path}:{ln}" if i < n_deck else f"{where} [[rate]] #{ln}"

        return _convert_rows(cells, band_index, at, errs), n_deck


def _read_deck(path: Path, errs: Collector) -> list[tuple[int, dict[str, str]]]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        errs.add(str(path), None, _("cannot read the rate deck: {value}").format(value=exc.strerror or exc))
        return []
    except UnicodeDecodeError as exc:
        errs.add(str(path), None, _("not UTF-8 text (byte {start})").format(start=exc.start))
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
                                 _("unknown column (expected: {names})").format(names=', '.join(COLUMNS)))
                        bad = True
                for h in {h for h in header if header.count(h) > 1}:
                    errs.add(f"{path}:{reader.line_num}", h, _("column appears twice"))
                    bad = True
                for h in REQUIRED_COLUMNS:
                    if h not in header:
                        errs.add(f"{path}:{reader.line_num}", h, _("required column is missing"))
                        bad = True
                if bad:
                    return []
                continue
            if len(fields) != len(header):
                errs.add(f"{path}:{reader.line_num}", None,
                         _(
                             "expected {count} fields ({names}), found {count2}").format(
                             count=len(header), names=','.join(header), count2=len(fields)))
                continue
            out.append((reader.line_num, dict(zip(header, fields))))
    except csv.Error as exc:
        errs.add(f"{path}:{reader.line_num}", None, _("malformed CSV: {error}").format(error=exc))
    if header is None:
        errs.add(str(path), None, _("the rate deck is empty (a header row is required)"))
    return out


def _convert_rows(cells: list[tuple[int, dict[str, str]]], band_index: dict[str, int],
                  at: Callable[[int], str], errs: Collector) -> RateRows:
    n = len(cells)

    def column(name: str) -> list[str]:
        return [c.get(name, "").strip() for _line, c in cells]

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
            message = _("{prefix} must be digits only (write E.164 digits without '+')") if p.startswith("+") \
                else _("{prefix} must be digits only")
            errs.add(at(i), "prefix", message.format(prefix=repr(p)))
        elif len(p) > MAX_PREFIX_DIGITS:
            errs.add(at(i), "prefix", _(
                "{prefix} is longer than {limit} digits").format(prefix=repr(p), limit=MAX_PREFIX_DIGITS))

    dest_names = column("destination")
    destinations: list[str] = []
    dest_ids: dict[str, int] = {}
    dest = np.empty(n, dtype=np.int32)
    for i, d in enumerate(dest_names):
        if not d:
            errs.add(at(i), "destination", _("required value is empty"))
        j = dest_ids.get(d)
        if j is None:
            j = dest_ids[d] = len(destinations)
            destinations.append(d)
        dest[i] = j

    band_of = load._band_of(band_index)

    def required(name: str) -> None:
        for i, (_line, c) in enumerate(cells):
            if not c.get(name, "").strip():
                errs.add(at(i), name, _("required value is empty"))

    required("price")


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
        effective_from=np.array(convert("effective_from", load._effective, ALWAYS), dtype=np.int32),
        line=np.array([ln for ln, _c in cells], dtype=np.int32),
    )
    both = (rows.min_cost != NONE) & (rows.max_cost != NONE) & (rows.min_cost > rows.max_cost)
    for i in np.flatnonzero(both)[:100]:
        errs.add(at(int(i)), "min_cost", _("is greater than max_cost"))
    return rows
