"""Property tests: on random tariffs and calls, the compiled engine and the Python reference agree exactly."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers import at, compare
from hypothesis import assume, given
from hypothesis import strategies as st

from engine import number_keys
from tariffs.compile import CompiledTariff, compile_tariff
from tariffs.errors import TariffError
from tariffs.load import tariff_from_dict

# zones with DST on whole hours, on half hours (Lord Howe), none, odd offsets, and a southern hemisphere one
ZONES = {
    "Europe/Paris": ["2026-03-29T01:30", "2026-10-25T02:30", "2026-12-31T23:50", "2026-07-14T07:59"],
    "America/New_York": ["2026-03-08T01:30", "2026-11-01T01:30", "2026-01-02T18:59"],
    "Australia/Lord_Howe": ["2026-04-05T01:45", "2026-10-04T01:45"],
    "Asia/Kathmandu": ["2026-05-01T07:58"],
    "UTC": ["2026-02-28T23:59", "2028-02-29T12:00"],
    "America/Sao_Paulo": ["2026-06-01T00:00"],
}

DIGITS = "123"
money = st.builds(lambda whole, frac, places: f"{whole}.{str(frac).zfill(places)[:places]}" if places else str(whole),
                  st.integers(0, 3), st.integers(0, 10**8 - 1), st.integers(0, 8))


@st.composite
def bands(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for i in range(draw(st.integers(0, 4))):
        band: dict[str, Any] = {
            "name": f"b{i}",
            "start": f"{draw(st.integers(0, 23)):02d}:{draw(st.sampled_from([0, 30, 59])):02d}"
                     + draw(st.sampled_from(["", ":00", ":30"])),
            "weight": draw(st.sampled_from([5, 10, 20])),
        }
        if draw(st.booleans()):
            band["days"] = draw(st.lists(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
                                         min_size=1, max_size=5, unique=True))
        if draw(st.integers(0, 4)) == 0:
            band["dates"] = draw(st.lists(st.sampled_from(["01-01", "03-29", "10-25", "12-31", "2026-03-08",
                                                           "2026-11-01", "02-29"]), min_size=1, max_size=2,
                                          unique=True))
        if draw(st.integers(0, 5)) == 0:
            band["months"] = draw(st.lists(st.integers(1, 12), min_size=1, max_size=3, unique=True))
        out.append(band)
    return out


@st.composite
def rates(draw: st.DrawFn, band_names: list[str]) -> list[dict[str, Any]]:
    rows = []
    prefixes = draw(st.lists(st.text(DIGITS, min_size=0, max_size=4), min_size=1, max_size=6, unique=True))
    for prefix in prefixes:
        for band in draw(st.lists(st.sampled_from(["*", *band_names]), min_size=1, max_size=2, unique=True)):
            for effective in draw(st.lists(st.sampled_from(["", "2026-01-01", "2026-03-29", "2026-11-01"]),
                                           min_size=1, max_size=2, unique=True)):
                froms = [0, *sorted(draw(st.lists(st.integers(1, 400), max_size=2, unique=True)))]
                head: dict[str, Any] = {}
                if draw(st.booleans()):
                    head["connect_fee"] = draw(money)
                limits = sorted([draw(money), draw(money)])
                if draw(st.integers(0, 3)) == 0:
                    head["min_cost"] = limits[0]
                if draw(st.integers(0, 3)) == 0:
                    head["max_cost"] = limits[1]
                for k, slot_from in enumerate(froms):
                    row = {
                        "prefix": prefix,
                        "destination": f"d{prefix}",
                        "band": band,
                        "price": draw(money),
                        "unit": str(draw(st.sampled_from([1, 6, 30, 60, 60, 3600]))),
                        "increment": str(draw(st.sampled_from([1, 1, 6, 7, 30, 45, 60, 61]))),
                        "from": str(slot_from),
                        "effective_from": effective,
                    }
                    if k == 0:
                        row.update(head)
                    rows.append(row)
    return rows


@st.composite
def scenario(draw: st.DrawFn) -> tuple[dict[str, Any], list[str], list[int], list[int]]:
    zone = draw(st.sampled_from(sorted(ZONES)))
    band_list = draw(bands())
    doc: dict[str, Any] = {
        "name": "random",
        "currency": "EUR",
        "timezone": zone,
        "rounding": {"decimals": draw(st.integers(0, 8)),
                     "mode": draw(st.sampled_from(["up", "down", "half_up", "half_even"]))},
        "billing": {"anchor": draw(st.sampled_from(["slot", "zero"])), "split": draw(st.booleans())},
        "band": band_list,
        "rate": draw(rates([b["name"] for b in band_list])),
    }
    if draw(st.booleans()):
        doc["rounding"]["increment_decimals"] = draw(st.integers(0, 8))
    around = [at(t, zone) for t in ZONES[zone]]
    n = draw(st.integers(1, 12))
    numbers = [draw(st.text(DIGITS + "4", min_size=1, max_size=7)) for _ in range(n)]
    starts = [draw(st.sampled_from(around)) + draw(st.integers(-2 * 86400, 2 * 86400)) for _ in range(n)]
    durations = [draw(st.one_of(st.integers(0, 400), st.integers(0, 9000))) for _ in range(n)]
    return doc, numbers, starts, durations


def compare_paths(c: CompiledTariff, numbers: list[str], starts: list[int], durations: list[int]) -> None:
    """The reference agrees with `rate`, and `rate_keys` (keys computed once) and the previous kernel
    (`rate_baseline`) give `rate`'s arrays exactly."""
    compare(c, numbers, starts, durations)
    digits = np.array([n.encode() for n in numbers], dtype="S")
    start = np.array(starts, dtype=np.int64)
    duration = np.array(durations, dtype=np.int32)
    want = c.tables.rate(digits, start, duration)
    for name, got in (("rate_keys", c.tables.rate_keys(number_keys(digits), start, duration)),
                      ("rate_baseline", c.tables.rate_baseline(digits, start, duration))):
        for field, array in want.items():
            assert np.array_equal(got[field], array), f"{name} differs on {field}: {got[field]} != {array}"


def _compile_or_skip(doc: dict[str, Any]):
    try:
        return compile_tariff(tariff_from_dict(doc))
    except TariffError as exc:
        # random bands may tie (same start and weight on a shared day): the tariff is rejected, as it must be
        assert "both start at" in str(exc), str(exc)
        assume(False)


@given(scenario())
def test_engine_agrees_with_reference(case: tuple[dict[str, Any], list[str], list[int], list[int]]) -> None:
    doc, numbers, starts, durations = case
    compare_paths(_compile_or_skip(doc), numbers, starts, durations)


@given(scenario(), st.integers(20_000, 200_000))
def test_long_calls_agree(case: tuple[dict[str, Any], list[str], list[int], list[int]], duration: int) -> None:
    """Calls of several hours or days cross many band changes, midnights and DST changes."""
    doc, numbers, starts, _ = case
    for row in doc["rate"]:  # keep the reference's per-increment walk short
        row["increment"] = str(max(int(row["increment"]), 600))
    compare_paths(_compile_or_skip(doc), numbers[:2], starts[:2], [duration] * len(numbers[:2]))


@given(scenario(), st.lists(st.integers(-40 * 365 * 86400, 70 * 365 * 86400), min_size=1, max_size=4))
def test_batches_spanning_years_agree(case: tuple[dict[str, Any], list[str], list[int], list[int]],
                                      far: list[int]) -> None:
    """A batch's band timeline covers at most 800 days around its median start: calls years away (1930 to
    2096) are priced outside it, the same way."""
    doc, numbers, starts, durations = case
    extra = [numbers[k % len(numbers)] for k in range(len(far))]
    compare_paths(_compile_or_skip(doc), numbers + extra, starts + [starts[0] + f for f in far],
                  durations + [durations[k % len(durations)] for k in range(len(far))])


@given(st.lists(st.text("0123456789", max_size=22) | st.text("0123456789a+ #", max_size=6), max_size=30))
def test_number_keys_order_like_the_digits(numbers: list[str]) -> None:
    """A key is 0 for an invalid number; otherwise keys sort like the padded digit strings (first 18 digits), so
    a prefix's numbers are one range of keys."""
    keys = number_keys(np.array([n.encode() for n in numbers], dtype="S"))
    for number, key in zip(numbers, keys.tolist(), strict=True):
        valid = number.isascii() and number.isdigit()
        assert (key == 0) == (not valid), (number, key)
        if valid:
            digits = number[:18]
            assert key == sum((ord(ch) - 47) * 11 ** (17 - i) for i, ch in enumerate(digits))


@pytest.mark.parametrize("zone", sorted(ZONES))
def test_every_second_of_a_dst_day(zone: str) -> None:
    """Band boundaries at every second around a DST change: one-second calls sample the band function."""
    doc = {
        "name": "dst", "currency": "EUR", "timezone": zone,
        "band": [{"name": "night", "start": "00:00"}, {"name": "early", "start": "01:59:59"},
                 {"name": "day", "start": "02:30", "weight": 10}, {"name": "eve", "start": "03:00:01"}],
        "rate": [{"prefix": "1", "destination": "x", "band": name, "price": str(k + 1), "unit": "1"}
                 for k, name in enumerate(["night", "early", "day", "eve"])],
    }
    c = compile_tariff(tariff_from_dict(doc))
    base = at(ZONES[zone][0], zone) - 3 * 3600
    starts = list(range(base, base + 6 * 3600, 7))
    compare_paths(c, ["1"] * len(starts), starts, [1] * len(starts))
    compare_paths(c, ["1"] * 50, starts[::len(starts) // 50][:50], [3600] * 50)
