"""Fixed-point money: the one scale used from file to screen.

Every amount is an integer count of 10**-8 currency units (SCALE = 10**8). int64 holds +/-92 billion units, which
covers any single call, invoice line or invoice; totals are summed as Python ints. Decimal strings are the only
other form money takes, at the edges (files, JSON, the screen). No float ever carries money.
"""

from __future__ import annotations

import re
from typing import Literal

DECIMALS = 8
SCALE = 10**DECIMALS
INT64_MAX = 2**63 - 1

RoundingMode = Literal["up", "down", "half_up", "half_even"]
ROUNDING_MODES: tuple[str, ...] = ("up", "down", "half_up", "half_even")

_DECIMAL_RE = re.compile(r"[+-]?(\d+)(?:\.(\d*))?|[+-]?\.(\d+)")


class MoneyError(ValueError):
    """A decimal string that is not an exact amount at our scale."""


def parse_money(text: str, *, max_decimals: int = DECIMALS) -> int:
    """Parse a plain decimal string ("0.05", "-12", ".5") into units of 10**-8, exactly.

    Exponents, thousands separators, spaces inside the number and more than `max_decimals` decimals are refused:
    an amount the scale cannot hold exactly must be an error, never a silent rounding.
    """
    s = text.strip()
    m = _DECIMAL_RE.fullmatch(s)
    if m is None:
        raise MoneyError(f"{text!r} is not a decimal number")
    if m.group(3) is not None:
        whole, frac = "0", m.group(3)
    else:
        whole, frac = m.group(1), m.group(2) or ""
    frac = frac.rstrip("0") if len(frac) > max_decimals else frac
    if len(frac) > max_decimals:
        raise MoneyError(f"{text!r} has more than {max_decimals} decimals")
    value = int(whole) * SCALE + (int(frac.ljust(DECIMALS, "0")) if frac else 0)
    if s.startswith("-"):
        value = -value
    if abs(value) > INT64_MAX:
        raise MoneyError(f"{text!r} is too large")
    return value


def format_money(value: int, decimals: int = 2) -> str:
    """Format units of 10**-8 as a decimal string with exactly `decimals` places.

    The value must already be rounded to `decimals` (the rating rounds explicitly); digits that would be cut are an
    error rather than a hidden truncation.
    """
    if not 0 <= decimals <= DECIMALS:
        raise ValueError(f"decimals must be 0..{DECIMALS}")
    quantum = 10 ** (DECIMALS - decimals)
    if value % quantum:
        raise ValueError(f"{value} is not rounded to {decimals} decimals")
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), SCALE)
    if decimals == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac // quantum:0{decimals}d}"


def format_exact(value: int) -> str:
    """Format units of 10**-8 with as many decimals as needed (at least 2), nothing lost."""
    return format_amount(value, 2)


# ISO 4217 minor units of the currencies that do not use 2 (the rest do). Display only: amounts stay exact.
CURRENCY_DECIMALS: dict[str, int] = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0, "UGX": 0,
    "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "CLF": 4, "UYW": 4,
}


def currency_decimals(currency: str | None) -> int:
    """The decimals a currency is shown with (its ISO 4217 minor unit; 2 when unknown or empty)."""
    return CURRENCY_DECIMALS.get((currency or "").upper(), 2)


def format_amount(value: int, decimals: int | None = None, currency: str | None = None) -> str:
    """Format units of 10**-8 for display, never raising on an integer amount and never hiding a digit.

    At least `decimals` places (default: the currency's, see currency_decimals), more when the amount has more
    significant ones: 9.8067 EUR shows as "9.8067", 9.8 EUR as "9.80", 1500 JPY as "1500". Lists and totals use
    this; format_money (which refuses an unrounded amount) is for exports that promise a fixed number of places.
    """
    places = currency_decimals(currency) if decimals is None else max(0, min(int(decimals), DECIMALS))
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(int(value)), SCALE)
    digits = f"{frac:0{DECIMALS}d}".rstrip("0")
    digits = digits.ljust(places, "0")
    return f"{sign}{whole}.{digits}" if digits else f"{sign}{whole}"


def divide_round(numerator: int, denominator: int, mode: str) -> int:
    """numerator / denominator rounded to an integer by the named mode (denominator > 0).

    up = towards +infinity (ceiling), down = towards -infinity (floor), half_up = nearest with ties away from zero,
    half_even = nearest with ties to even. These are the four modes of the tariff format.
    """
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    q, r = divmod(numerator, denominator)  # floor division: 0 <= r < denominator
    if r == 0 or mode == "down":
        return q
    if mode == "up":
        return q + 1
    twice = 2 * r
    if twice > denominator:
        return q + 1
    if twice < denominator:
        return q
    # exactly half way between q and q + 1
    if mode == "half_up":
        return q + 1 if numerator > 0 else q
    if mode == "half_even":
        return q + (q & 1)
    raise ValueError(f"unknown rounding mode {mode!r}")


def round_money(value: int, decimals: int, mode: str) -> int:
    """Round units of 10**-8 to `decimals` decimals by the named mode."""
    quantum = 10 ** (DECIMALS - decimals)
    return divide_round(value, quantum, mode) * quantum


def format_totals(by_currency: dict[str, int], empty: str = "0") -> str:
    """Totals kept per currency, each shown with its currency ("12.3456 EUR, 1.20 USD"), never added together."""
    parts = [f"{format_amount(v, currency=c)} {c}".strip() for c, v in sorted(by_currency.items()) if v]
    return ", ".join(parts) or empty
