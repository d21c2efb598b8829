"""Dial plans: digits as a PBX wrote them -> E.164, internal, service or emergency."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.dialplan import DialPlan, Number, parse_ranges

PARIS = DialPlan("FR", outside_prefix="0", national_prefix="0", international_prefix="00",
                 extensions=parse_ranges(["1000-1999"]))
NEW_YORK = DialPlan("US", outside_prefix="9", national_prefix="1", international_prefix="011", area_code="212",
                    extensions=parse_ranges(["3000-3999"]))
MILAN = DialPlan("IT", outside_prefix="0", national_prefix="", international_prefix="00", area_code="")
LONDON = DialPlan("GB", outside_prefix="9", national_prefix="0", international_prefix="00",
                  extensions=parse_ranges(["200-299"]))


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
    # impossible numbers are invalid, never priced (phonenumbers' possible lengths)
    (PARIS, "608966", "invalid", None),  # 6 digits: a French number has 9 after the 0
    (PARIS, "00608966", "invalid", None),
    (PARIS, "0003361234567890", "invalid", None),  # too long
    (PARIS, "0000612345678", "invalid", None),  # +61 2345678: too short for Australia
    (PARIS, "+3361234", "invalid", None),
    (PARIS, "0000", "invalid", None),  # 0 + 00 and nothing after it
    (LONDON, "901", "invalid", None),  # outside line, then 01 and the user hung up
    (LONDON, "90", "invalid", None),
    (NEW_YORK, "9555", "invalid", None),
    (NEW_YORK, "955512345", "invalid", None),  # neither 7 digits (local) nor 10
    # short numbers of the country are services; emergency numbers stay emergency
    (PARIS, "03631", "service", None),
    (PARIS, "0118218", "service", None),
    (LONDON, "9118118", "service", None),  # possible only as a local number: as E.164 it lacks digits
    (LONDON, "9100", "service", None),
    (NEW_YORK, "9411", "service", None),
    (LONDON, "999", "emergency", None),
    (LONDON, "9999", "emergency", None),
    (PARIS, "015", "emergency", None),
    # an outside-line digit then a national number
    (PARIS, "00155667788", "external", "33155667788"),
    (PARIS, "000447911123456", "external", "447911123456"),
    (LONDON, "9608966", "invalid", None),  # never read whole as 9608966 (a 7-digit number UK lengths allow)
    (NEW_YORK, "90118713123456789", "external", "8713123456789"),  # a retired code: the tariff decides (no_rate)
])
def test_normalise(plan: DialPlan, digits: str, kind: str, e164: str | None) -> None:
    n = plan.normalise(digits)
    assert (n.kind, n.e164) == (kind, e164)


def test_network_numbers_have_no_outside_prefix() -> None:
    assert NEW_YORK.normalise("12125551234", as_dialled=False).e164 == "12125551234"
    assert PARIS.normalise("0155501234", as_dialled=False).e164 == "33155501234"


@pytest.mark.parametrize(("plan", "digits", "rule"), [
    (PARIS, "000447911123456", "no country code"),  # 00 then 0447...: a prefix dialled twice
    (PARIS, "00155667788", "too short"),  # +1 55667788: 8 digits for a NANP number
    (PARIS, "00336123456789", "too long"),
    (LONDON, "01", "too short"),
])
def test_numbers_as_sent_that_are_impossible(plan: DialPlan, digits: str, rule: str) -> None:
    """The number as sent to the network (as_dialled=False) says why it is impossible, so that the call's number
    falls back on the dialled digits (pipeline.cdrimport.classify)."""
    assert plan.normalise(digits, as_dialled=False) == Number("invalid", None, rule)


@given(st.sampled_from(["FR", "GB", "US", "DE", "IT", "ES", "BE", "CH", "IN", "AU", "BR", "JP"]),
       st.text(alphabet="0123456789", min_size=1, max_size=16))
def test_an_external_number_is_always_a_possible_number(country: str, digits: str) -> None:
    """Whatever the digits, an external result is a possible number for phonenumbers (a full number: local-only
    lengths are too short), or one of a country code phonenumbers does not know."""
    import phonenumbers

    plan = DialPlan(country, outside_prefix="9", national_prefix="0", international_prefix="00")
    n = plan.normalise(digits)
    if n.kind == "external":
        try:
            parsed = phonenumbers.parse("+" + n.e164)
        except phonenumbers.NumberParseException:
            return  # an unknown country code
        reason = phonenumbers.is_possible_number_with_reason(parsed)
        assert reason in (phonenumbers.ValidationResult.IS_POSSIBLE,
                          phonenumbers.ValidationResult.INVALID_COUNTRY_CODE), (digits, n)


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


@given(st.text(alphabet="0123456789", min_size=1, max_size=18))
def test_the_memoised_reason_is_phonenumbers_reason(digits):
    import phonenumbers

    from ingest.dialplan import _impossible, _parse_impossible

    assert _impossible(digits) == _parse_impossible(digits)
    try:
        reason = phonenumbers.is_possible_number_with_reason(phonenumbers.parse("+" + digits))
    except phonenumbers.NumberParseException:
        assert _impossible(digits)
        return
    assert (_impossible(digits) == "") == (reason == phonenumbers.ValidationResult.IS_POSSIBLE)


def test_memoised_possible_number_on_numbers_of_many_countries():
    import random

    import phonenumbers

    from ingest.dialplan import _parse_possible, _possible

    rng = random.Random(7)
    codes = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
    for _ in range(5000):
        number = str(rng.choice(codes)) + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 14)))
        assert _possible(number) == _parse_possible(number), number


SAN_JOSE = DialPlan("US", outside_prefix="9", national_prefix="1", international_prefix="011", area_code="408",
                    extensions=parse_ranges(["1000-1999", "20000-20999"]))


@pytest.mark.parametrize(("number", "extension"), [
    ("+14085551234", "1234"),  # a globalised DN (CUCM): the extension its last digits are
    ("14085551234", "1234"),
    ("+14085520123", "20123"),  # the longest range that fits
    ("+16505551234", "1234"),  # another area code of the same site
    ("1234", "1234"),
    ("+14085552234", "+14085552234"),  # no range says so: kept as written
    ("+33155501234", "+33155501234"),  # another country
    ("40855512XX", "40855512XX"),
    ("", ""),
])
def test_own_extension(number: str, extension: str) -> None:
    assert SAN_JOSE.own_extension(number) == extension
    assert DialPlan("US").own_extension(number) == number  # no ranges: nothing to go by


@pytest.mark.parametrize(("plan", "digits"), [(LONDON, "999"), (LONDON, "112"), (NEW_YORK, "911")])
def test_emergency_numbers_win_over_extension_ranges(plan: DialPlan, digits: str) -> None:
    wide = DialPlan(plan.country, plan.outside_prefix, plan.national_prefix, plan.international_prefix,
                    extensions=parse_ranges(["100-999"]))
    assert wide.normalise(digits).kind == "emergency"
    assert wide.normalise("250").kind == "internal"
