"""The compiled dial plan (ingest._dialplan) gives exactly what the Python DialPlan gives, on random digits and on
real-looking numbers of every country the samples use, on random site settings; phonenumbers stays the oracle."""

from __future__ import annotations

import itertools
import re

import numpy as np
import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest._dialplan import normalise_slices
from ingest.dialplan import RULES, UNKNOWN_CC, DialPlan, Number, Numbers, _dfa, _parse_impossible, parse_ranges

COUNTRIES = ["FR", "GB", "US", "DE", "ES", "BE", "CH", "SE", "IT", "NL", "IE", "PT", "AT", "PL", "CA", "AU", "IN",
             "BR", "MX", "AR", "JP", "CN", "RU", "ZA", "MA", "SN", "CI", "TN", "DZ", "LU", "MC", "NO", "DK", "FI"]
TYPES = [phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE,
         phonenumbers.PhoneNumberType.TOLL_FREE, phonenumbers.PhoneNumberType.PREMIUM_RATE,
         phonenumbers.PhoneNumberType.SHARED_COST, phonenumbers.PhoneNumberType.VOIP,
         phonenumbers.PhoneNumberType.UAN]


def python_and_compiled(plan: DialPlan, values: list[str], as_dialled: bool) -> tuple[list[Number], list[Number]]:
    fresh = DialPlan(plan.country, plan.outside_prefix, plan.national_prefix, plan.international_prefix,
                     plan.area_code, list(plan.extensions))  # its own memo: nothing shared with the compiled run
    return [fresh.normalise(v, as_dialled=as_dialled) for v in values], \
        list(plan.normalise_all(values, as_dialled=as_dialled))


def undecided(plan: DialPlan, values: list[str], as_dialled: bool = True) -> int:
    """How many of the values the tables leave to the Python plan (once the country codes met are in them)."""
    plan.normalise_all(values, as_dialled=as_dialled)
    encoded = [v.encode() for v in values]
    lengths = np.array([len(b) for b in encoded], np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    buf = np.frombuffer(b"".join(encoded) or b"\0", np.uint8)
    wanted = np.zeros(len(plan.compiled.cc_npp), np.uint8)
    return int(normalise_slices(plan.compiled.tables, buf, offsets, lengths, np.arange(len(values), dtype=np.int64),
                                as_dialled, wanted)[3].sum())


@st.composite
def sites(draw: st.DrawFn) -> DialPlan:
    country = draw(st.sampled_from(COUNTRIES))
    meta = phonenumbers.PhoneMetadata.metadata_for_region(country)
    national = draw(st.sampled_from([meta.national_prefix or "", "", "0"]))
    international = draw(st.sampled_from([meta.preferred_international_prefix or "00", "00", "011", ""]))
    width = draw(st.integers(2, 6))
    lo = draw(st.integers(0, 10 ** width - 1))
    hi = draw(st.integers(lo, 10 ** width - 1))
    ranges = draw(st.sampled_from([[], [f"{lo:0{width}d}-{hi:0{width}d}"], ["1000-1999", "200-299"]]))
    return DialPlan(country, outside_prefix=draw(st.sampled_from(["", "0", "9", "00"])), national_prefix=national,
                    international_prefix=international, area_code=draw(st.sampled_from(["", "", "212", "1", "20"])),
                    extensions=parse_ranges(ranges))


@st.composite
def real_looking(draw: st.DrawFn, plan: DialPlan) -> str:
    """An example number of a sample country and type, perhaps altered, written as a PBX may write it."""
    country = draw(st.sampled_from([plan.country] * 3 + COUNTRIES))
    example = phonenumbers.example_number_for_type(country, draw(st.sampled_from(TYPES)))
    if example is None:
        example = phonenumbers.example_number(country)
    nsn = phonenumbers.national_significant_number(example)
    cut = draw(st.integers(0, len(nsn)))
    nsn = draw(st.sampled_from([nsn, nsn[:cut], nsn + "1", nsn[:cut] + "7" + nsn[cut + 1:], nsn[:-2] + "00"]))
    cc = str(example.country_code)
    meta = phonenumbers.PhoneMetadata.metadata_for_region(country)
    forms = ["+" + cc + nsn, "00" + cc + nsn, (plan.international_prefix or "00") + cc + nsn,
             (meta.national_prefix or "") + nsn, nsn, "+" + cc + " " + nsn[:2] + " " + nsn[2:]]
    digits = draw(st.sampled_from(forms))
    short = draw(st.sampled_from(["112", "15", "17", "18", "911", "999", "118218", "3631", "118118", "100", "411",
                                  "1013", "3000", "*88", "#31#", "s", "h"]))
    digits = draw(st.sampled_from([digits, digits, short]))
    digits = draw(st.sampled_from(["", plan.outside_prefix, plan.outside_prefix])) + digits
    return draw(st.sampled_from([digits, digits, digits + "#", "-".join(re.findall("..?", digits)) or digits]))


@settings(max_examples=150, deadline=None)
@given(sites(), st.data(), st.booleans())
def test_real_looking_numbers(plan: DialPlan, data: st.DataObject, as_dialled: bool) -> None:
    values = data.draw(st.lists(real_looking(plan), min_size=1, max_size=30))
    python, compiled = python_and_compiled(plan, values, as_dialled)
    assert compiled == python, [(v, p, c) for v, p, c in zip(values, python, compiled) if p != c]


@settings(max_examples=200, deadline=None)
@given(sites(), st.lists(st.text(alphabet="0123456789", min_size=0, max_size=18), min_size=1, max_size=30),
       st.booleans())
def test_random_digits(plan: DialPlan, values: list[str], as_dialled: bool) -> None:
    python, compiled = python_and_compiled(plan, values, as_dialled)
    assert compiled == python, [(v, p, c) for v, p, c in zip(values, python, compiled) if p != c]


@settings(max_examples=200, deadline=None)
@given(sites(), st.lists(st.text(alphabet="0123456789+*# -().s/:\t\u00a0\u0663", max_size=16) | st.text(max_size=8),
                         min_size=1, max_size=20))
def test_random_text(plan: DialPlan, values: list[str]) -> None:
    """Punctuation, letters, Unicode digits and spaces: the tables decide what they can, the rest is the
    Python plan's, so the results are the same."""
    python, compiled = python_and_compiled(plan, values, True)
    assert compiled == python


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789", min_size=1, max_size=20))
def test_e164_possible_lengths_are_phonenumbers_answer(digits: str) -> None:
    """The oracle itself: '+digits' is external exactly when phonenumbers finds it possible (or does not know its
    country code), else invalid with phonenumbers' reason."""
    plan = DialPlan("FR", outside_prefix="0", national_prefix="0")
    got = plan.normalise_all(["+" + digits])[0]
    why = _parse_impossible(digits)
    if why in ("", UNKNOWN_CC):
        assert got == Number("external", digits, "+")
    else:
        assert got == Number("invalid", None, why)


@pytest.mark.parametrize("country", ["FR", "GB", "US", "DE", "ES", "BE", "CH", "SE", "IT"])
def test_every_short_string(country: str) -> None:
    """Every digit string of up to 4 digits (emergency numbers, short codes, extensions, truncated dialling), with
    and without the outside-line prefix: the same answers, and the tables decide nearly all of them."""
    meta = phonenumbers.PhoneMetadata.metadata_for_region(country)
    plan = DialPlan(country, outside_prefix="9" if country in ("GB", "US") else "0",
                    national_prefix=meta.national_prefix or "",
                    international_prefix=meta.preferred_international_prefix or meta.international_prefix,
                    extensions=parse_ranges(["200-299", "1000-1999"]))
    values = ["".join(p) for n in range(1, 5) for p in itertools.product("0123456789", repeat=n)]
    python, compiled = python_and_compiled(plan, values, True)
    assert compiled == python
    python, compiled = python_and_compiled(plan, values[:1110], False)  # up to 3 digits
    assert compiled == python
    assert undecided(plan, values) < len(values) // 50


@pytest.mark.parametrize("country", ["FR", "GB", "US"])
def test_realistic_numbers_are_decided_by_the_tables(country: str) -> None:
    """National, international and mobile numbers never need the Python plan (the speed of a call centre's
    month of distinct numbers depends on it)."""
    plan = DialPlan(country, outside_prefix="0", national_prefix=phonenumbers.PhoneMetadata.metadata_for_region(
        country).national_prefix or "", international_prefix="00")
    values = []
    for region in ("FR", "GB", "US", "DE", "ES", "BE", "CH", "SE"):
        for kind in TYPES[:4]:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                values.append("000" + str(example.country_code) + phonenumbers.national_significant_number(example))
    assert values and undecided(plan, values) == 0


def test_dfa_agrees_with_re_on_metadata_patterns() -> None:
    """The DFA compiler on the short-number patterns of the sample countries: fullmatch as `re` says."""
    rng = np.random.default_rng(5)
    samples = ["".join(map(str, rng.integers(0, 10, rng.integers(0, 9)))) for _ in range(3000)]
    for country in COUNTRIES:
        meta = phonenumbers.PhoneMetadata.short_metadata_for_region(country)
        for desc in (meta.emergency, meta.short_code, meta.general_desc):
            if desc is None or not desc.national_number_pattern:
                continue
            pattern = desc.national_number_pattern
            table, accept = _dfa(pattern)
            compiled = re.compile(pattern)
            for s in samples:
                state = 0
                for ch in s:
                    state = table[state, int(ch)]
                    if state < 0:
                        break
                if state >= 0 and not accept[state] and table[state, 10] >= 0:
                    state = table[state, 10]  # `$`
                assert (state >= 0 and bool(accept[state])) == bool(compiled.fullmatch(s)), (pattern, s)


def test_numbers_sequence() -> None:
    plan = DialPlan("FR", outside_prefix="0", national_prefix="0", extensions=parse_ranges(["1000-1999"]))
    got = plan.normalise_all(["0155501234", "1234", "0608966"], as_dialled=False)
    assert isinstance(got, Numbers) and len(got) == 3
    assert list(got + got[1:]) == [Number("external", "33155501234", "national"), Number("internal", None,
                                   "extension"), Number("invalid", None, "too short"),
                                   Number("internal", None, "extension"), Number("invalid", None, "too short")]
    assert RULES[got.rule[2]] == "too short" and got.e164[0] == b"33155501234"
    assert list(plan.normalise_all([])) == []


def test_a_plan_without_a_numbering_plan_and_odd_settings() -> None:
    """An unknown country (batch-rate without a site) and settings that are not digits: same answers."""
    for plan in (DialPlan("ZZ"), DialPlan("ZZ", international_prefix=""), DialPlan("FR", outside_prefix="x"),
                 DialPlan("fr", national_prefix="0")):
        values = ["0155501234", "+33155501234", "33155501234", "00447911123456", "112", "abc", "",
                  "12345678901234567890123", "+8713123456789"]
        python, compiled = python_and_compiled(plan, values, True)
        assert compiled == python


def test_numbers_of_every_country_code_against_phonenumbers() -> None:
    """'+' and a number of each country code phonenumbers knows (national prefixes of the trunk included, `$` in
    some of their patterns): the compiled answer is phonenumbers' own, and the tables decide nearly all."""
    rng = np.random.default_rng(11)
    plan = DialPlan("FR", outside_prefix="0", national_prefix="0")
    values = []
    for cc in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        for length in range(0, 16, 2):
            values.append(str(cc) + "".join(map(str, rng.integers(0, 10, length))))
            values.append(str(cc) + "0" + "".join(map(str, rng.integers(0, 10, length))))
    got = plan.normalise_all(["+" + v for v in values])
    for v, n in zip(values, got):
        why = _parse_impossible(v)
        assert n == (Number("external", v, "+") if why in ("", UNKNOWN_CC) else Number("invalid", None, why)), v
    # the first of each pair: a national number after the country code as dialled (not a trunk prefix)
    assert undecided(plan, ["+" + v for v in values[::2]]) < len(values[::2]) // 10


def test_a_compiled_plan_pickles() -> None:
    """A site's plan goes to Dask workers with its tables built."""
    import pickle

    plan = DialPlan("GB", outside_prefix="9", national_prefix="0", extensions=parse_ranges(["200-299"]))
    values = ["902079460000", "250", "9999", "9118118", "901", "+447911123456"]
    want = list(plan.normalise_all(values))
    copy = pickle.loads(pickle.dumps(plan))
    assert "compiled" in copy.__dict__ and list(copy.normalise_all(values)) == want


def test_country_codes_are_added_when_first_met() -> None:
    """A fresh plan holds its own country code; others are added by the first block that has their numbers, and
    that block is decided by the tables too."""
    plan = DialPlan("FR", outside_prefix="0", national_prefix="0")
    ready = plan.compiled.cc_npp != -3
    assert ready.sum() == 1
    values = ["0004930123456", "0003225123456", "00155501234"]
    assert list(plan.normalise_all(values)) == [Number("external", "4930123456", "international"),
                                                Number("external", "3225123456", "international"),
                                                Number("external", "33155501234", "national")]
    assert (plan.compiled.cc_npp != -3).sum() == 3 and undecided(plan, values) == 0
