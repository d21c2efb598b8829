"""How the core CLI shows numbers to a person (issue 19): counts grouped, exact decimal strings with every digit,
months and shares in the locale's style, in English and French. In-process through store.display.in_locale (the
reader's locale), so no language switch is needed; the French commands themselves run in tests/test_i18n_french.py
and tests/test_cli_calls.py."""

from __future__ import annotations

import pytest

from anatole.clitools import count, number
from anatole.demo.text import month_title, percent
from store import display


@pytest.mark.parametrize(("locale", "expected"), [("en", "1,234,567"), ("fr_FR", "1\u202f234\u202f567")])
def test_counts_are_grouped_for_the_locale(locale: str, expected: str) -> None:
    with display.in_locale(locale):
        assert count(1234567) == expected
        assert count(999) == "999"


@pytest.mark.parametrize(("text", "en", "fr"), [
    ("0.1200", "0.1200", "0,1200"),  # a tariff's four decimals stay four: the trailing zeros are the deck's
    ("≈0.012345678901", "≈0.012345678901", "≈0,012345678901"),  # a cut exact fraction keeps its mark and digits
    ("1234.5", "1,234.5", "1\u202f234,5"),
    ("12", "12", "12"),
    ("-0.5", "-0.5", "-0,5"),
    ("n/a", "n/a", "n/a"),  # not a number: unchanged, never an error
])
def test_exact_decimal_strings_keep_every_digit(text: str, en: str, fr: str) -> None:
    with display.in_locale("en"):
        assert number(text) == en
    with display.in_locale("fr_FR"):
        assert number(text) == fr


def test_months_and_shares() -> None:
    with display.in_locale("en"):
        assert (month_title("2026-10"), percent(0.0041)) == ("October 2026", "0.4%")
    with display.in_locale("fr_FR"):
        assert (month_title("2026-10"), percent(0.0041)) == ("octobre 2026", "0,4\xa0%")
    assert month_title("not a month") == "not a month"
