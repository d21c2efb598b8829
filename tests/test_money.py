"""Fixed-point money: parsing, formatting and the four named roundings."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.money import (
    SCALE,
    MoneyError,
    currency_decimals,
    divide_round,
    format_amount,
    format_exact,
    format_money,
    format_totals,
    parse_money,
    round_money,
)


@pytest.mark.parametrize(("text", "value"), [
    ("0.05", 5_000_000), ("12", 12 * SCALE), (".5", 50_000_000), ("-1.25", -125_000_000),
    ("0.00000001", 1), ("1.000000000", SCALE), (" 3.10 ", 310_000_000),
])
def test_parse(text: str, value: int) -> None:
    assert parse_money(text) == value


@pytest.mark.parametrize("text", ["", "abc", "1e3", "1,5", "0.000000001", "1.2.3", "99999999999999"])
def test_parse_refuses(text: str) -> None:
    with pytest.raises(MoneyError):
        parse_money(text)


def test_format() -> None:
    assert format_money(70_000_000, 4) == "0.7000"
    assert format_money(-125_000_000, 2) == "-1.25"
    assert format_money(5 * SCALE, 0) == "5"
    assert format_exact(167_000) == "0.00167"
    assert format_exact(SCALE) == "1.00"
    with pytest.raises(ValueError, match="not rounded"):
        format_money(123, 2)


def test_format_amount_never_raises_and_hides_no_digit() -> None:
    # the case that wedged the daemon: a 4-decimal cost shown where format_money(value, 2) raised
    assert format_amount(980_670_000) == "9.8067"
    assert format_amount(980_000_000) == "9.80"
    assert format_amount(-1) == "-0.00000001"
    assert format_amount(0) == "0.00"
    assert format_amount(1500 * SCALE, currency="JPY") == "1500"
    assert format_amount(150 * SCALE // 100, currency="JPY") == "1.5"  # an exact amount keeps its decimals
    assert format_amount(1234 * SCALE // 1000, currency="KWD") == "1.234"
    assert format_amount(5 * SCALE, 4) == "5.0000"
    assert (currency_decimals("eur"), currency_decimals(""), currency_decimals("BHD")) == (2, 2, 3)
    assert format_totals({"USD": 98_067_000, "EUR": 1234 * SCALE // 100, "GBP": 0}) == "12.34 EUR, 0.98067 USD"
    assert format_totals({}) == "0"


@given(st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1), st.sampled_from(["", "EUR", "JPY", "KWD", "XYZ"]))
def test_format_amount_round_trips(value: int, currency: str) -> None:
    assert parse_money(format_amount(value, currency=currency)) == value


DECIMAL_MODES = {"up": ROUND_CEILING, "down": ROUND_FLOOR, "half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN}


@given(st.integers(-(10**15), 10**15), st.integers(1, 10**9), st.sampled_from(sorted(DECIMAL_MODES)))
def test_divide_round_matches_decimal(n: int, d: int, mode: str) -> None:
    """Each named mode is the Decimal rounding of the same name (up = ceiling, down = floor)."""
    with localcontext() as ctx:
        ctx.prec = 60
        want = (Decimal(n) / Decimal(d)).quantize(Decimal(1), rounding=DECIMAL_MODES[mode])
    assert divide_round(n, d, mode) == want


@pytest.mark.parametrize(("value", "mode", "want"), [
    (25_000, "half_up", 30_000), (25_000, "half_even", 20_000), (35_000, "half_even", 40_000),
    (20_001, "up", 30_000), (29_999, "down", 20_000), (-25_000, "half_up", -30_000), (-20_001, "up", -20_000),
])
def test_round_money_at_4_decimals(value: int, mode: str, want: int) -> None:
    assert round_money(value, 4, mode) == want


@given(st.one_of(st.integers(0, 2**62 - 1), st.sampled_from([0, 1, 2**62 - 1, 2**61, 10**18])),
       st.one_of(st.integers(1, 10**14), st.sampled_from([1, 2, 3, 60, 10**8, 60 * 10**4, 2**40, 3600 * 10**8])))
def test_kernel_division_by_reciprocal_is_exact(n: int, d: int) -> None:
    """The kernel rounds a call's total by multiplying with a reciprocal instead of dividing: same quotient."""
    from engine._rate import floor_div_by_multiplying

    assert floor_div_by_multiplying(n, d) == n // d
