"""Fixed-point money: parsing, formatting and the four named roundings."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.money import SCALE, MoneyError, divide_round, format_exact, format_money, parse_money, round_money


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
