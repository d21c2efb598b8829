"""Dial plans: digits as a PBX wrote them -> E.164, internal, service or emergency."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.dialplan import DialPlan, parse_ranges

PARIS = DialPlan("FR", outside_prefix="0", national_prefix="0", international_prefix="00",
                 extensions=parse_ranges(["1000-1999"]))
NEW_YORK = DialPlan("US", outside_prefix="9", national_prefix="1", international_prefix="011", area_code="212",
                    extensions=parse_ranges(["3000-3999"]))
MILAN = DialPlan("IT", outside_prefix="0", national_prefix="", international_prefix="00", area_code="")


@pytest.mark.parametrize(("plan", "digits", "kind", "e164"), [
    (PARIS, "00155501234", "external", "33155501234"),  # 0 (outside line) + 01 55 50 12 34
    (PARIS, "000441234567890", "external", "441234567890"),  # 0 + 00 44 ...
    (PARIS, "+33612345678", "external", "33612345678"),
    (PARIS, "1234", "internal", None),
    (PARIS, "*88", "service", None),
    (PARIS, "#31#", "service", None),
    (PARIS, "s", "service", None),
    (PARIS, "0112", "emergency", None),
    (PARIS, "112", "emergency", None),
    (PARIS, "00612345678#", "external", "33612345678"),  # a '#' terminator is not part of the number
    (PARIS, "0 01 55 50 12 34", "external", "33155501234"),  # spaces
    (PARIS, "", "invalid", None),
    (NEW_YORK, "912125551234", "external", "12125551234"),
    (NEW_YORK, "95551234", "external", "12125551234"),  # local: area code added
    (NEW_YORK, "9011442071234567", "external", "442071234567"),
    (NEW_YORK, "911", "emergency", None),
    (NEW_YORK, "9911", "emergency", None),
    (NEW_YORK, "3001", "internal", None),
    (MILAN, "00612345678", "external", "390612345678"),  # no trunk prefix in Italy: the 0 of 06 stays
])
def test_normalise(plan: DialPlan, digits: str, kind: str, e164: str | None) -> None:
    n = plan.normalise(digits)
    assert (n.kind, n.e164) == (kind, e164)


def test_network_numbers_have_no_outside_prefix() -> None:
    assert NEW_YORK.normalise("12125551234", as_dialled=False).e164 == "12125551234"
    assert PARIS.normalise("0155501234", as_dialled=False).e164 == "33155501234"


@pytest.mark.parametrize("spec", ["1000-199", "abc", "2000-1000", "12-ab"])
def test_bad_ranges(spec: str) -> None:
    with pytest.raises(ValueError, match="is not an extension range"):
        parse_ranges([spec])


@given(st.text(max_size=30))
def test_never_raises(text: str) -> None:
    n = PARIS.normalise(text)
    assert n.kind in ("external", "internal", "service", "emergency", "invalid")
    assert (n.e164 is not None) == (n.kind == "external")
    assert n.e164 is None or (n.e164.isdigit() and n.e164.isascii())


@given(st.datetimes(min_value=__import__("datetime").datetime(1971, 1, 1),
                    max_value=__import__("datetime").datetime(2090, 12, 31)),
       st.sampled_from(["Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "UTC"]))
def test_local_to_utc_cache_agrees_with_zoneinfo(when, zone: str) -> None:  # noqa: ANN001
    """ParseContext caches the UTC offset per local hour; the result is zoneinfo's, DST hours included."""
    from zoneinfo import ZoneInfo

    from ingest.cdr.model import ParseContext

    ctx = ParseContext(timezone=zone)
    want = int(when.replace(tzinfo=ZoneInfo(zone), fold=0).timestamp())
    assert ctx.local_to_utc(when) == want
    assert ctx.local_to_utc(when) == want  # from the cache


@given(st.text(alphabet="0123456789", min_size=0, max_size=18))
def test_memoised_possible_number_is_phonenumbers_answer(digits):
    from ingest.dialplan import _parse_possible, _possible

    assert _possible(digits) == _parse_possible(digits)
    assert _possible(digits) == _parse_possible(digits)  # memoised the second time


def test_memoised_possible_number_on_numbers_of_many_countries():
    import random

    import phonenumbers

    from ingest.dialplan import _parse_possible, _possible

    rng = random.Random(7)
    codes = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
    for _ in range(5000):
        number = str(rng.choice(codes)) + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 14)))
        assert _possible(number) == _parse_possible(number), number
