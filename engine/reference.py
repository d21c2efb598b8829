"""Pure-Python reference pricing: docs/rating.md written as code, for clarity and never for speed.

It shares nothing with the compiled path (no compiled tables, no schedules, no offset table): it walks the call one
billing increment at a time, asks zoneinfo for the local time of each, and sums exact Fractions. The property
tests require the engine to agree with it on every field. It also explains a price (`Quote.parts`), which is what
`anatole tariff quote` shows. It reads the tariff by duck typing (tariffs.model.Tariff's attributes): the engine
package imports nothing else of the project.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from engine.money import DECIMALS, divide_round

MAX_DURATION = 604_800
ALL_BANDS = -1
NONE = -1
ALWAYS_DAY = -(2**31)


@dataclass(frozen=True)
class Slot:
    start: int  # `from`
    increment: int
    price: int  # money per `unit`
    unit: int


@dataclass(frozen=True)
class Rate:
    row: int  # the deck row of its from=0 slot
    prefix: str
    band: int
    effective: int | None  # UTC instant, None = always
    destination: str
    connect_fee: int
    min_cost: int
    max_cost: int
    slots: tuple[Slot, ...]


@dataclass
class Part:
    """A run of consecutive increments in one band, rate and slot."""

    band: int
    rate: Rate
    slot: Slot
    begin: int  # billing position where the run starts
    end: int
    increments: int
    cost: Fraction


@dataclass
class Quote:
    status: str  # rated | no_rate | unanswered | invalid
    prefix: str | None = None  # longest deck prefix matching the number
    rate: Rate | None = None  # the rate of the first increment
    band: int = -1
    parts: list[Part] = field(default_factory=list)
    billed: int = 0
    unrounded: Fraction = Fraction(0)
    cost: int = 0

    @property
    def part_count(self) -> int:
        """Runs of increments with the same band (the engine's `parts`)."""
        count, last = 0, None
        for part in self.parts:
            if part.band != last:
                count, last = count + 1, part.band
        return count


class Reference:
    """Rates calls one at a time from a loaded tariff (tariffs.model.Tariff or anything with its attributes)."""

    def __init__(self, tariff: Any):
        self.tariff = tariff
        self.zone = ZoneInfo(tariff.timezone)
        self.bands = tariff.bands
        rows = tariff.rows
        groups: dict[tuple[str, int, int], list[int]] = {}
        for i in range(len(rows)):
            key = (rows.prefix[i], int(rows.band[i]), int(rows.effective_from[i]))
            groups.setdefault(key, []).append(i)
        self.rates: dict[str, list[Rate]] = {}
        for (prefix, band, eff_day), members in groups.items():
            members.sort(key=lambda i: int(rows.slot_from[i]))
            head = members[0]
            effective = None
            if eff_day != ALWAYS_DAY:
                day = dt.date(1970, 1, 1) + dt.timedelta(days=eff_day)
                effective = int(dt.datetime(day.year, day.month, day.day, tzinfo=self.zone).timestamp())
            slots = tuple(Slot(int(rows.slot_from[i]), int(rows.increment[i]), int(rows.price[i]),
                               int(rows.unit[i])) for i in members)
            rate = Rate(head, prefix, band, effective, rows.destinations[int(rows.destination[head])],
                        int(rows.connect_fee[head]), int(rows.min_cost[head]), int(rows.max_cost[head]), slots)
            self.rates.setdefault(prefix, []).append(rate)

    # --- the rules of docs/rating.md, one function each ---

    def band_at(self, instant: int) -> int:
        """Section 1: the active band at a UTC instant, in the tariff's local time (-1: none)."""
        local = dt.datetime.fromtimestamp(instant, self.zone)
        seconds = local.hour * 3600 + local.minute * 60 + local.second
        day = local.date()
        candidates = [i for i, band in enumerate(self.bands) if band.start <= seconds and band.matches(day)]
        return max(candidates, key=lambda i: (self.bands[i].weight, self.bands[i].start), default=-1)

    def rate_for(self, number: str, band: int, start: int) -> Rate | None:
        """Section 2: the longest prefix with a rate in force at `start` that applies to `band`."""
        for k in range(min(len(number), 18), -1, -1):
            candidates = [r for r in self.rates.get(number[:k], [])
                          if (r.effective is None or r.effective <= start) and r.band in (band, ALL_BANDS)]
            if candidates:
                return max(candidates, key=lambda r: (r.effective if r.effective is not None else -(2**63),
                                                      r.band != ALL_BANDS))
        return None

    def longest_prefix(self, number: str) -> str | None:
        for k in range(min(len(number), 18), -1, -1):
            if number[:k] in self.rates:
                return number[:k]
        return None

    def increment_price(self, slot: Slot, length: int) -> Fraction:
        """Section 3.5: exact, or rounded half-up to increment_decimals."""
        if self.tariff.increment_decimals is None:
            return Fraction(slot.price * length, slot.unit)
        quantum = 10 ** (DECIMALS - self.tariff.increment_decimals)
        return Fraction(divide_round(slot.price * length, slot.unit * quantum, "half_up") * quantum)

    def quote(self, number: str, start: int, duration: int) -> Quote:
        digits = number.isascii() and number.isdigit()
        if not digits or not 0 <= duration <= MAX_DURATION:
            return Quote("invalid", prefix=self.longest_prefix(number) if digits else None)
        quote = Quote("rated", prefix=self.longest_prefix(number))
        if duration == 0:
            quote.status = "unanswered"
            return quote
        if quote.prefix is None:
            quote.status = "no_rate"
            return quote
        start_band = self.band_at(start)
        position = 0
        total = Fraction(0)
        while position < duration:
            band = self.band_at(start + position) if self.tariff.split else start_band
            rate = self.rate_for(number, band, start)
            if rate is None:
                return Quote("no_rate", prefix=quote.prefix, band=band if quote.rate is None else quote.band)
            if quote.rate is None:
                quote.rate, quote.band = rate, band
                total += rate.connect_fee
            slot = [s for s in rate.slots if s.start <= position][-1]
            anchor = slot.start if self.tariff.anchor == "slot" else 0
            end = anchor + ((position - anchor) // slot.increment + 1) * slot.increment
            price = self.increment_price(slot, end - position)
            total += price
            last = quote.parts[-1] if quote.parts else None
            if last and (last.band, last.rate, last.slot, last.end) == (band, rate, slot, position):
                last.end, last.increments, last.cost = end, last.increments + 1, last.cost + price
            else:
                quote.parts.append(Part(band, rate, slot, position, end, 1, price))
            position = end
        quote.billed = position
        first = quote.rate
        assert first is not None
        if first.max_cost != NONE and total > first.max_cost:
            total = Fraction(first.max_cost)
        quote.unrounded = total
        quantum = 10 ** (DECIMALS - self.tariff.decimals)
        cost = divide_round(total.numerator, total.denominator * quantum, self.tariff.mode) * quantum
        if first.min_cost != NONE and cost < first.min_cost:
            cost = first.min_cost
        quote.cost = cost
        return quote
