"""store.display: the one money/time formatter for screens and the CLI."""

from __future__ import annotations

import datetime as dt

from babel.numbers import list_currencies
from hypothesis import given
from hypothesis import strategies as st

from engine.money import SCALE
from store import display
from store.display import ago, amount, clock, cost_sort_key, decimals_for, money, round_display, totals, when


def test_per_currency_decimals_from_cldr() -> None:
    assert decimals_for("JPY") == 0 and decimals_for("EUR") == 2 and decimals_for("BHD") == 3
    assert money(1500 * SCALE, "JPY") == "1,500 JPY"
    assert money(123_456_789 * SCALE // 100, "EUR") == "1,234,567.89 EUR"
    assert money(125 * SCALE // 1000, "BHD") == "0.125 BHD"
    assert money(0, "EUR") == "0.00 EUR"
    assert money(None, "EUR") == ""


def test_display_rounding_is_half_even_and_named() -> None:
    assert display.DISPLAY_ROUNDING == "half_even"
    assert money(1_234_565 * SCALE // 1000, "EUR") == "1,234.56 EUR"  # tie to even, down
    assert money(1_234_575 * SCALE // 1000, "EUR") == "1,234.58 EUR"  # tie to even, up
    assert money(278_031_728 * SCALE // 1_000_000, "EUR") == "278.03 EUR"
    assert money(-5 * SCALE // 10, "JPY") == "0 JPY"
    assert round_display(25 * SCALE // 10, "JPY") == 2 * SCALE
    assert round_display(-25 * SCALE // 10, "JPY") == -2 * SCALE


def test_exact_keeps_every_significant_decimal() -> None:
    assert money(278_031_728 * SCALE // 1_000_000, "EUR", exact=True) == "278.031728 EUR"
    assert money(98 * SCALE // 10, "EUR", exact=True) == "9.80 EUR"
    assert money(1, "JPY", exact=True) == "0.00000001 JPY"
    assert amount(123_456_789_012_345, "USD", exact=True) == "1,234,567.89012345"


def test_totals_never_add_currencies() -> None:
    assert totals({"EUR": 1_500 * SCALE, "GBP": 2 * SCALE, "JPY": 30 * SCALE}) == "1,500.00 EUR · 2.00 GBP · 30 JPY"
    assert totals({}) == "—"


def test_cost_sort_groups_by_currency() -> None:
    rows = [(5 * SCALE, "USD"), (100 * SCALE, "JPY"), (7 * SCALE, "EUR"), (1 * SCALE, "EUR")]
    ordered = sorted(rows, key=lambda r: cost_sort_key(*r))
    assert ordered == [(7 * SCALE, "EUR"), (1 * SCALE, "EUR"), (100 * SCALE, "JPY"), (5 * SCALE, "USD")]


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1), st.sampled_from(sorted(list_currencies())),
       st.booleans())
def test_never_raises_on_int64_and_iso_currency(value: int, currency: str, exact: bool) -> None:
    text = money(value, currency, exact=exact)
    assert text.endswith(" " + currency)
    places = decimals_for(currency)
    number = text[: -len(currency) - 1]
    if not exact:
        assert (len(number.rsplit(".", 1)[1]) if "." in number else 0) == places


@given(st.integers(), st.text(max_size=5))
def test_never_raises_on_odd_codes(value: int, currency: str) -> None:
    assert isinstance(money(value, currency), str)


def test_time_style() -> None:
    winter = dt.datetime(2026, 10, 31, 13, 5, tzinfo=dt.timezone.utc).timestamp()
    summer = dt.datetime(2026, 7, 1, 13, 5, tzinfo=dt.timezone.utc).timestamp()
    assert when(winter, "Europe/Paris") == "2026-10-31 14:05 CET"
    assert when(summer, "Europe/London") == "2026-07-01 14:05 BST"
    assert when(winter, None) == "2026-10-31 13:05 UTC"
    assert when(winter, "Europe/Paris", seconds=True) == "2026-10-31 14:05:00 CET"
    assert clock(winter, "Europe/Paris", winter + 60) == "14:05:00 CET"
    assert clock(winter, "Europe/Paris", winter + 86400) == "2026-10-31 14:05 CET"
    assert when(None) == ""


def test_ago() -> None:
    assert ago(1000, 1003) == "just now"
    assert ago(1000, 1000 + 125) == "2 min ago"
    assert ago(0, 3 * 3600 + 5) == "3 h ago"
    assert ago(0, 4 * 86400) == "4 d ago"


def test_plain_is_the_exact_machine_form() -> None:
    assert display.plain(123_456_789_012_345) == "1234567.89012345" and display.plain(None) is None
