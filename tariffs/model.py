"""The tariff as loaded and validated: settings, time bands, and the rate rows in columns.

Rows stay columnar (numpy arrays) because decks reach a million rows; `compile.py` turns them into the lookup
arrays of the engine. Money is in units of 10**-8 (engine.money); NONE (-1) marks an absent min/max cost.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ALL_BANDS = -1  # band column value of a "*" row: applies in every band
NONE = -1  # min_cost / max_cost not set
ALWAYS = np.iinfo(np.int32).min  # effective_from not set: the row applies since forever
EPOCH = dt.date(1970, 1, 1)
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Band:
    """A time band: day filters, a start time of day and a weight. Bands have a start, never an end."""

    name: str
    start: int  # second of the day, 0..86399, in the tariff's timezone
    weight: int
    days: frozenset[int] = frozenset()  # 0 = monday .. 6 = sunday; empty = every day
    dates: frozenset[tuple[int, int]] = frozenset()  # (month, day) every year
    full_dates: frozenset[dt.date] = frozenset()  # one day of one year
    months: frozenset[int] = frozenset()
    monthdays: frozenset[int] = frozenset()

    def matches(self, day: dt.date) -> bool:
        """Whether the band's day filters admit this local date (all given filters must hold)."""
        return self.matches_parts(day.weekday(), day.month, day.day, day)

    def matches_parts(self, weekday: int, month: int, monthday: int, day: dt.date | None) -> bool:
        """Same as matches(); with day=None, a band restricted to full dates (YYYY-MM-DD) only matches when
        one of its MM-DD dates does, which is how the compiler builds the schedule of an ordinary day."""
        if self.days and weekday not in self.days:
            return False
        if (self.dates or self.full_dates) and not (
            (month, monthday) in self.dates or (day is not None and day in self.full_dates)
        ):
            return False
        if self.months and month not in self.months:
            return False
        return not (self.monthdays and monthday not in self.monthdays)

    def start_text(self) -> str:
        h, rem = divmod(self.start, 3600)
        m, s = divmod(rem, 60)
        return f"{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")


@dataclass
class RateRows:
    """The rate deck in columns, one entry per CSV row or inline [[rate]] table."""

    prefix: list[str]
    destination: np.ndarray  # int32 index into `destinations`
    destinations: list[str]
    band: np.ndarray  # int16 index into Tariff.bands, or ALL_BANDS
    connect_fee: np.ndarray  # int64 money
    price: np.ndarray  # int64 money per `unit` seconds
    unit: np.ndarray  # int32 seconds
    increment: np.ndarray  # int32 seconds
    slot_from: np.ndarray  # int32 elapsed seconds at which this slot starts
    min_cost: np.ndarray  # int64 money or NONE
    max_cost: np.ndarray  # int64 money or NONE
    effective_from: np.ndarray  # int32 days since 1970-01-01 (tariff timezone) or ALWAYS
    line: np.ndarray  # int32: CSV line, or the 1-based number of the inline [[rate]] table

    def __len__(self) -> int:
        return len(self.prefix)


@dataclass
class Tariff:
    name: str
    currency: str
    timezone: str
    decimals: int
    mode: str  # up | down | half_up | half_even
    increment_decimals: int | None
    anchor: str  # slot | zero
    split: bool
    bands: tuple[Band, ...]
    rows: RateRows
    path: Path | None = None
    deck_path: Path | None = None
    n_deck_rows: int = 0  # rows [0, n_deck_rows) come from the deck, the rest are inline [[rate]] tables
    description: str = ""
    band_index: dict[str, int] = field(default_factory=dict)

    def where(self, row: int) -> str:
        """Where row `row` was written, for messages: 'deck.csv:12' or 'plan.toml [[rate]] #3'."""
        line = int(self.rows.line[row])
        if row < self.n_deck_rows and self.deck_path is not None:
            return f"{self.deck_path}:{line}"
        return f"{self.path or '<tariff>'} [[rate]] #{line}"

    def band_name(self, index: int) -> str:
        return "*" if index == ALL_BANDS else self.bands[index].name


def day_number(day: dt.date) -> int:
    return (day - EPOCH).days


def day_from_number(n: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(n))
