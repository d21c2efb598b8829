"""The compiled engine on hand-made cases: each rule of docs/rating.md, checked against the reference too."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import at, compare, engine_one, make_tariff

from engine import INVALID, RATED, UNANSWERED, number_keys

PEAK_OFFPEAK = {
    "band": [{"name": "offpeak", "start": "00:00"},
             {"name": "peak", "start": "08:00", "days": ["mon", "tue", "wed", "thu", "fri"]},
             {"name": "evening", "start": "19:00", "days": ["mon", "tue", "wed", "thu", "fri"]}],
}


def rate(prefix: str, price: str, **kw: str) -> dict[str, str]:
    return {"prefix": prefix, "destination": kw.pop("destination", f"d{prefix}"), "price": price, **kw}


def test_longest_prefix_wins() -> None:
    c = make_tariff([rate("", "9"), rate("3", "1"), rate("33", "2"), rate("336", "3"), rate("3361", "4")])
    assert engine_one(c, "33612", at("2026-11-26T10:00"), 60)["prefix"] == "3361"
    assert engine_one(c, "3362", at("2026-11-26T10:00"), 60)["prefix"] == "336"
    assert engine_one(c, "36", at("2026-11-26T10:00"), 60)["prefix"] == "3"
    assert engine_one(c, "44", at("2026-11-26T10:00"), 60)["prefix"] == ""  # the catch-all
    assert engine_one(c, "33", at("2026-11-26T10:00"), 60)["prefix"] == "33"  # a number shorter than a prefix
    assert engine_one(c, "336", at("2026-11-26T10:00"), 60)["cost"] == 3 * 10**8


def test_unmatched_number_is_not_rated_without_catch_all() -> None:
    c = make_tariff([rate("33", "1")])
    out = engine_one(c, "4420", at("2026-11-26T10:00"), 60)
    assert (out["status"], out["cost"], out["prefix"]) == ("no_rate", 0, None)


def test_statuses() -> None:
    c = make_tariff([rate("33", "1")])
    out = c.rate(["331", "331", "3a1", "", "331", "331"], [at("2026-11-26T10:00")] * 6, [60, 0, 60, 60, -1, 604_801])
    assert out["status"].tolist() == [RATED, UNANSWERED, INVALID, INVALID, INVALID, INVALID]
    assert out["cost"].tolist() == [10**8, 0, 0, 0, 0, 0]
    assert out["prefix"][1] == 0  # an unanswered call still has its destination, for reports


def test_band_rate_wins_over_star_and_fallback_to_shorter_prefix() -> None:
    c = make_tariff([rate("33", "1", band="*"), rate("33", "2", band="peak"), rate("3", "5", band="*"),
                     rate("34", "7", band="peak")], **PEAK_OFFPEAK)
    thursday_10 = at("2026-11-26T10:00")
    assert engine_one(c, "331", thursday_10, 60)["cost"] == 2 * 10**8  # peak row beats "*"
    assert engine_one(c, "331", at("2026-11-26T20:00"), 60)["cost"] == 1 * 10**8  # evening: only "*"
    out = engine_one(c, "341", at("2026-11-26T20:00"), 60)  # 34 has no evening rate: prefix 3 prices it
    assert (out["prefix"], out["cost"]) == ("3", 5 * 10**8)


def test_effective_dates_pick_the_version_in_force_at_start() -> None:
    c = make_tariff([rate("33", "1"), rate("33", "2", effective_from="2026-11-01"),
                     rate("331", "9", effective_from="2027-01-01")])
    assert engine_one(c, "3312", at("2026-10-31T23:59:59"), 60)["cost"] == 1 * 10**8
    assert engine_one(c, "3312", at("2026-11-01T00:00:00"), 60)["cost"] == 2 * 10**8
    # a call that starts before a version and ends after it is priced entirely by the start version
    assert engine_one(c, "3312", at("2026-10-31T23:59:00"), 120)["cost"] == 2 * 10**8
    assert engine_one(c, "3312", at("2027-01-01T00:00:00"), 60)["cost"] == 9 * 10**8  # 331 exists from 2027


def test_split_at_midnight_and_weekend() -> None:
    c = make_tariff([rate("33", "0.10", band="peak"), rate("33", "0.02", band="offpeak"),
                     rate("33", "0.03", band="evening")], **PEAK_OFFPEAK)
    # Friday 23:59 -> Saturday: evening then offpeak
    out = engine_one(c, "331", at("2026-11-27T23:59:00"), 120)
    assert (out["band"], out["parts"], out["cost"]) == ("evening", 2, 5_000_000)
    no_split = make_tariff([rate("33", "0.10", band="peak"), rate("33", "0.02", band="offpeak"),
                            rate("33", "0.03", band="evening")], billing={"split": False}, **PEAK_OFFPEAK)
    assert engine_one(no_split, "331", at("2026-11-27T23:59:00"), 120)["cost"] == 6_000_000


def test_increment_running_past_a_band_change_pushes_the_rest() -> None:
    """A 60 s increment that starts at 07:59:30 is priced off-peak; the next one starts at 08:00:30, peak."""
    c = make_tariff([rate("33", "1", band="peak", increment="60"), rate("33", "2", band="offpeak", increment="60")],
                    **PEAK_OFFPEAK)
    out = engine_one(c, "331", at("2026-11-26T07:59:30"), 90)
    assert (out["billed_seconds"], out["cost"]) == (120, 3 * 10**8)


def test_dst_day_is_23_hours() -> None:
    """2026-03-29 in Paris: a call from 01:59 lasting 2 h ends at 04:59 local; bands see local time."""
    c = make_tariff([rate("33", "1", band="offpeak", unit="1"), rate("33", "100", band="day", unit="1")],
                    band=[{"name": "offpeak", "start": "00:00"}, {"name": "day", "start": "04:00"}])
    out = engine_one(c, "331", at("2026-03-29T01:59:00"), 7200)
    # 01:59 -> 04:00 local is only 1 h 01 min of real time (02:00 -> 03:00 does not exist)
    assert out["cost"] == (3660 * 1 + 3540 * 100) * 10**8


def test_cap_then_round_then_minimum() -> None:
    c = make_tariff([rate("1", "0.7", max_cost="0.5", min_cost="0.3")], rounding={"decimals": 1, "mode": "up"})
    assert engine_one(c, "1", at("2026-11-26T10:00"), 60)["cost"] == 50_000_000  # 0.70 capped to 0.50
    assert engine_one(c, "1", at("2026-11-26T10:00"), 10)["cost"] == 30_000_000  # 0.1167 -> 0.2 -> minimum 0.3
    assert engine_one(c, "1", at("2026-11-26T10:00"), 40)["cost"] == 50_000_000  # 0.4667 -> up -> 0.5


@pytest.mark.parametrize(("mode", "cost"), [("up", 2), ("down", 1), ("half_up", 2), ("half_even", 2)])
def test_rounding_modes(mode: str, cost: int) -> None:
    c = make_tariff([rate("1", "0.15", unit="1")], rounding={"decimals": 1, "mode": mode})
    assert engine_one(c, "1", at("2026-11-26T10:00"), 1)["cost"] == cost * 10**7


def test_half_even_tie_to_even() -> None:
    c = make_tariff([rate("1", "0.25", unit="1")], rounding={"decimals": 1, "mode": "half_even"})
    assert engine_one(c, "1", at("2026-11-26T10:00"), 1)["cost"] == 2 * 10**7


def test_cgrates_per_increment_rounding() -> None:
    """rating-semantics §6: 0.07/min per second at 5 decimals: 60 s = 0.0702, 100 s = 0.1170."""
    c = make_tariff([rate("1", "0.07")], rounding={"decimals": 4, "increment_decimals": 5})
    assert engine_one(c, "1", at("2026-11-26T10:00"), 60)["cost"] == 7_020_000
    assert engine_one(c, "1", at("2026-11-26T10:00"), 100)["cost"] == 11_700_000
    exact = make_tariff([rate("1", "0.07")], rounding={"decimals": 4})
    assert engine_one(exact, "1", at("2026-11-26T10:00"), 100)["cost"] == 11_670_000


def test_slot_example_of_rating_semantics() -> None:
    """§4: connect 0.10; 0.20 per 60 s in 60 s increments, then 0.06/min per second: 95 s = 0.335, 20 s = 0.30."""
    c = make_tariff([rate("1", "0.20", increment="60", connect_fee="0.10"), rate("1", "0.06", **{"from": "60"})],
                    rounding={"decimals": 4})
    assert engine_one(c, "1", at("2026-11-26T10:00"), 95)["cost"] == 33_500_000
    assert engine_one(c, "1", at("2026-11-26T10:00"), 20)["cost"] == 30_000_000


def test_numbers_longer_than_the_key_and_wide_arrays() -> None:
    c = make_tariff([rate("4479", "1"), rate("44", "2")])
    numbers = np.array([b"44791234567890123456789", b"4478", b"447"], dtype="S30")
    out = c.rate(numbers, [at("2026-11-26T10:00")] * 3, [60] * 3)
    assert [c.prefixes[p] for p in out["prefix"]] == ["4479", "44", "44"]


def test_output_arrays_can_be_reused() -> None:
    c = make_tariff([rate("1", "1")])
    out = c.rate(["1", "2"], [0, 0], [60, 60])
    again = c.tables.rate(np.array([b"1", b"1"]), np.array([0, 0], np.int64), np.array([120, 60], np.int32), out=out)
    assert again is out and out["cost"].tolist() == [2 * 10**8, 10**8]


def test_a_week_long_call_is_priced_exactly() -> None:
    c = make_tariff([rate("33", "0.10", band="peak", increment="60"), rate("33", "0.02", band="offpeak", increment="7"),
                     rate("33", "0.03", band="evening", increment="60")], **PEAK_OFFPEAK)
    compare(c, ["331"], [at("2026-11-23T07:00")], [604_800 - 1])
    out = engine_one(c, "331", at("2026-11-23T07:00"), 604_800 - 1)
    assert out["parts"] > 10


def test_sample_tariffs_agree_with_reference() -> None:
    from pathlib import Path

    from tariffs.compile import compile_tariff
    from tariffs.load import load_tariff

    rng = np.random.default_rng(5)
    for path in sorted((Path(__file__).parent.parent / "tariffs" / "samples").glob("*.toml")):
        c = compile_tariff(load_tariff(path))
        prefixes = rng.choice(c.prefixes, 300)
        numbers = [p + "".join(rng.choice(list("0123456789"), 12 - len(p))) for p in prefixes]
        starts = rng.integers(at("2025-12-20T00:00"), at("2026-01-10T00:00"), 300).tolist()
        durations = rng.integers(0, 3600, 300).tolist()
        compare(c, numbers, starts, durations)


def test_keys_computed_once_rate_against_any_tariff() -> None:
    """number_keys does not depend on the tariff: the same keys rate against decks of different key lengths."""
    short = make_tariff([rate("3", "1"), rate("33", "2")])
    long = make_tariff([rate("3", "1"), rate("336123456789", "5"), rate("44", "3")])
    digits = np.array([b"33612345678901", b"3361234", b"", b"33a", b"4", b"9"], dtype="S14")
    start = np.full(6, at("2026-11-26T10:00"), np.int64)
    duration = np.array([60, 60, 60, 60, 60, 0], np.int32)
    keys = number_keys(digits)
    assert keys[2] == 0 and keys[3] == 0  # empty and non-digit: invalid
    for c in (short, long):
        want = c.tables.rate(digits, start, duration)
        got = c.tables.rate_keys(keys, start, duration)
        assert all(np.array_equal(got[k], want[k]) for k in want)
    assert long.describe(long.tables.rate_keys(keys, start, duration), 0)["prefix"] == "336123456789"


def test_empty_batch_and_mismatched_lengths() -> None:
    c = make_tariff([rate("1", "1")], **PEAK_OFFPEAK)
    empty = c.tables.rate_keys(np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros(0, np.int32))
    assert all(len(v) == 0 for v in empty.values())
    with pytest.raises(ValueError, match="same length"):
        c.tables.rate_keys(np.zeros(2, np.uint64), np.zeros(1, np.int64), np.zeros(1, np.int32))


def test_batch_over_many_years_uses_bands_outside_its_window() -> None:
    """A batch's band timeline spans at most 800 days around its median start; calls far from it (1970, 2099,
    a DST day years away) are priced by the calendar, the same way."""
    c = make_tariff([rate("33", "0.10", band="peak"), rate("33", "0.02", band="offpeak"),
                     rate("33", "0.03", band="evening")], **PEAK_OFFPEAK)
    starts = [at(f"{year}-{month:02d}-{day:02d}T{hour:02d}:59:30") for year in (1970, 2024, 2026, 2029, 2099)
              for month, day, hour in ((3, 29, 1), (10, 25, 7), (11, 27, 18), (12, 31, 23))]
    compare(c, ["331"] * len(starts), starts, [3 * 3600] * len(starts))
    digits = np.array([b"331"] * len(starts))
    start, duration = np.array(starts, np.int64), np.full(len(starts), 3 * 3600, np.int32)
    want = c.tables.rate_baseline(digits, start, duration)
    got = c.tables.rate_keys(number_keys(digits), start, duration)
    assert all(np.array_equal(got[k], want[k]) for k in want)
