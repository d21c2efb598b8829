"""Number intelligence: what kind of destination a dialled E.164 number is, seen from a site's country.

Classified with `phonenumbers` once per unique number (cached), never per call on a hot path: high-risk first
(satellite and international networks, the Caribbean NANP codes of docs rating-semantics §9, revenue-share hot
spots), then international when the number is outside the country, else by its phonenumbers type.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import phonenumbers
from phonenumbers import PhoneNumber, PhoneNumberType

from engine import NO_RATE

DEST_TYPES = ("local/national", "mobile", "international", "toll-free", "premium", "high-risk", "unrated")
NATIONAL, MOBILE, INTERNATIONAL, TOLL_FREE, PREMIUM, HIGH_RISK, UNRATED = range(len(DEST_TYPES))

# Regions that count as "home" for a site's country (calls to them are national).
HOME_REGIONS = {"FR": {"FR"}, "GB": {"GB", "GG", "JE", "IM"}, "US": {"US", "AS", "GU", "MP", "PR", "VI"}}
# Satellite and international networks (+870, the retired +871..874, +878 UPT, +881..883) and the international
# premium rate +979; not +880 (Bangladesh) or +886 (Taiwan).
HIGH_RISK_PREFIXES = ("870", "871", "872", "873", "874", "878", "881", "882", "883", "979")
# Non-US NANP area codes from the rating semantics, section 9 (US territories and 900/976 left out: they are
# domestic, and premium is its own type).
CARIBBEAN_NPA = frozenset({"242", "246", "264", "268", "284", "345", "441", "473", "649", "658", "664", "721",
                           "758", "767", "784", "809", "829", "849", "868", "869", "876"})
# Calling codes known for revenue-share fraud (the "D" zone of the sample tariffs).
IRSF_CODES = frozenset({53, 224, 231, 232, 235, 239, 246, 247, 252, 290, 291, 500, 672, 674, 675, 677, 678,
                        682, 683, 686, 688, 690, 691, 692, 850})
_TYPE_OF = {
    PhoneNumberType.MOBILE: MOBILE,
    PhoneNumberType.TOLL_FREE: TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE: PREMIUM,
    PhoneNumberType.SHARED_COST: PREMIUM,
}  # everything else at home (FIXED_LINE, FIXED_LINE_OR_MOBILE, VOIP, UAN, PERSONAL_NUMBER, ...) is national
_NANP_REGION: dict[str, str] = {}


def destination_type(numbers: np.ndarray | Sequence[str | bytes], country: str,
                     status: np.ndarray | None = None) -> np.ndarray:
    """The kind of destination (one of DEST_TYPES) of each number called from a site in `country`.

    Each unique number is classified once (and cached across calls) with phonenumbers: high-risk (satellite and
    international networks, the Caribbean NANP codes, revenue-share hot spots) first, then international when
    the number is outside the country, else by its number type. Where `status` is given, calls the engine
    could not price (`no_rate`) are "unrated".
    """
    arr = np.asarray(numbers)
    if arr.dtype.kind != "S":
        arr = np.array([str(x).encode("ascii", "replace") for x in arr.tolist()], dtype="S18")
    uniq, inv = np.unique(arr, return_inverse=True)
    home_cc = phonenumbers.country_code_for_region(country)
    home = HOME_REGIONS.get(country, {country})
    codes = np.array([_classify(u.decode("ascii", "replace"), country, home_cc, home) for u in uniq.tolist()],
                     dtype=np.int8)
    kind = codes[inv.ravel()]
    if status is not None:
        kind = np.where(np.asarray(status) == NO_RATE, UNRATED, kind)
    return np.array(DEST_TYPES)[kind]


_CLASS_CACHE: dict[tuple[str, str], int] = {}
CACHE_MAX = 500_000  # numbers kept classified (about 100 MB); a call centre's month has millions of distinct ones


def _classify(digits: str, country: str, home_cc: int, home: set[str]) -> int:
    key = (digits, country)
    got = _CLASS_CACHE.get(key)
    if got is None:
        if len(_CLASS_CACHE) >= CACHE_MAX:
            _CLASS_CACHE.clear()  # bounded memory: the next numbers are classified again
        got = _CLASS_CACHE[key] = _classify_one(digits, home_cc, home)
    return got


def _classify_one(digits: str, home_cc: int, home: set[str]) -> int:
    if not digits.isdigit() or not digits.isascii():
        return UNRATED  # not a number: nothing can price it
    if digits.startswith(HIGH_RISK_PREFIXES) or (digits[:1] == "1" and digits[1:4] in CARIBBEAN_NPA):
        return HIGH_RISK
    cc = next((int(digits[:k]) for k in (1, 2, 3) if int(digits[:k]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE),
              None)
    if cc is None:
        return INTERNATIONAL  # an unassigned calling code: abroad, wherever it leads
    if cc in IRSF_CODES:
        return HIGH_RISK
    if cc != home_cc:
        return INTERNATIONAL
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[cc]
    nsn = digits[len(str(cc)):]
    if not home.issuperset(regions):
        # a calling code shared with other countries (e.g. Canada and the Caribbean in +1): where is it?
        # In the NANP the area code decides, so the answer is kept per area code.
        region = _NANP_REGION.get(digits[:4]) if cc == 1 else None
        if region is None:
            region = phonenumbers.region_code_for_number(PhoneNumber(country_code=cc, national_number=int(nsn)))
            if region and cc == 1:  # an invalid number says nothing about its area code
                _NANP_REGION[digits[:4]] = region
        if region and region not in home:
            return INTERNATIONAL  # e.g. Canada from the US
    try:
        kind = phonenumbers.number_type(PhoneNumber(country_code=cc, national_number=int(nsn or 0)))
    except (ValueError, phonenumbers.NumberParseException):
        return NATIONAL
    return _TYPE_OF.get(kind, NATIONAL)
