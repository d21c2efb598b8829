"""A site's dial plan: turn digits as a PBX wrote them into E.164, or say what else they are.

Order (CONFIG.md): strip the outside-line prefix where the digits are as dialled; a leading `+` or the international
prefix gives E.164 directly; a leading national prefix is replaced by the country code; otherwise the number is
local and gets the country code and area code. Extensions are internal; `*`/`#` codes, dial-by-name and dialplan
placeholders (`s`, `h`) are service codes; emergency numbers are recognised with phonenumbers. Results are cached
per distinct string: a PBX dials the same numbers all day.

An E.164 result must be a possible number (phonenumbers' possible lengths of its country, full national number: a
local-only length is too short once the area code is in). Otherwise the digits are tried as the site's short
numbers (directory enquiries, operator, carrier services: `service`), and else they are `invalid` ("too short",
"too long", ...), never priced: a user who hung up after `901`, or a 6-digit French number, is not a call to price.
Digits as dialled that start with the outside-line prefix are read without it, and never with it: reading `9608966`
whole when `608966` is impossible would make up a number nobody dialled.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import phonenumbers
from phonenumbers import shortnumberinfo

EXTERNAL, INTERNAL, SERVICE, EMERGENCY, INVALID = "external", "internal", "service", "emergency", "invalid"
UNKNOWN_CC = "unknown country code"
_NOISE = re.compile(r"[\s().\-/]")
CACHE_LIMIT = 100_000


@dataclass(frozen=True)
class Number:
    kind: str  # external | internal | service | emergency | invalid
    e164: str | None = None  # digits without '+', for external numbers
    rule: str = ""  # which rule produced it: "+", "international", "national", "local", "extension", ...


@dataclass
class DialPlan:
    country: str  # ISO 3166 alpha-2
    outside_prefix: str = ""
    national_prefix: str = ""
    international_prefix: str = "00"
    area_code: str = ""
    extensions: list[tuple[str, str]] = field(default_factory=list)  # inclusive ranges of equal-length digits
    _cache: dict[tuple[str, bool], Number] = field(default_factory=dict, repr=False)
    _own: dict[str, str] = field(default_factory=dict, repr=False)

    @functools.cached_property
    def country_code(self) -> str:
        return str(phonenumbers.country_code_for_region(self.country))

    def is_extension(self, digits: str) -> bool:
        return any(len(digits) == len(lo) and lo <= digits <= hi for lo, hi in self.extensions)

    def own_extension(self, number: str) -> str:
        """A phone's own number as the site's extension: a `+`-globalised or full national DN (`+14085551234`,
        CUCM's globalised dial plans) whose last digits are in the site's extension ranges becomes that extension
        (`1234` with ranges "1000-1999"); anything else is returned as it is. Only numbers of the site's own
        country (any area code: DIDs of one site may span several): a foreign number stays a number."""
        if not number or self.is_extension(number) or not self.extensions:
            return number
        got = self._own.get(number)
        if got is None:
            got = number
            n = self.normalise(number, as_dialled=False)
            if n.kind == EXTERNAL and n.e164.startswith(self.country_code):
                for width in sorted({len(lo) for lo, _ in self.extensions}, reverse=True):
                    if len(n.e164) > width and self.is_extension(n.e164[-width:]):
                        got = n.e164[-width:]
                        break
            if len(self._own) >= CACHE_LIMIT:
                self._own.clear()
            self._own[number] = got
        return got

    def normalise(self, raw: str, *, as_dialled: bool = True) -> Number:
        """Classify digits. `as_dialled`: the digits may start with the outside-line prefix (a user's dialling);
        False for numbers as sent to or received from the network (outpulsed, CLI)."""
        key = (raw, as_dialled)
        got = self._cache.get(key)
        if got is None:
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()  # bounded memory however large the file: a month's numbers fit many times
            got = self._cache[key] = self._normalise(raw, as_dialled)
        return got

    def _normalise(self, raw: str, as_dialled: bool) -> Number:
        text = _NOISE.sub("", raw or "")
        if text.endswith("#") and text[:-1].lstrip("+").isdigit():
            text = text[:-1]  # a '#' terminator is not part of the number
        if not text:
            return Number(INVALID, rule="empty")
        if text.startswith("+"):
            rest = text[1:]
            if not (rest.isdigit() and rest.isascii()):
                return Number(SERVICE if not rest.isdigit() else INVALID, rule="+")
            why = _impossible(rest)
            return Number(EXTERNAL, rest, "+") if why in ("", UNKNOWN_CC) else Number(INVALID, rule=why)
        if not (text.isdigit() and text.isascii()):
            return Number(SERVICE, rule="code")  # *88, #31#, dial by name, 's', 'h', 'i', ...
        if self._is_emergency(text):  # before the extension ranges: 112 or 999 inside "100-999" is still 999
            return Number(EMERGENCY, rule="emergency")
        if self.is_extension(text):
            return Number(INTERNAL, rule="extension")
        if as_dialled and self.outside_prefix and text.startswith(self.outside_prefix) \
                and len(text) > len(self.outside_prefix):
            stripped = text[len(self.outside_prefix):]
            if self._is_emergency(stripped):
                return Number(EMERGENCY, rule="emergency")
            return self._checked(stripped)
        return self._checked(text)

    def _is_emergency(self, digits: str) -> bool:
        return len(digits) <= 6 and shortnumberinfo.is_emergency_number(digits, self.country)

    def _checked(self, digits: str) -> Number:
        """Digits as sent to the network: a possible E.164 number, else a short number of the site's country
        (service), else invalid with the reason."""
        got = self._external(digits)
        if got.kind != EXTERNAL or self.country_code == "0":  # no numbering plan (batch-rate without a site)
            return got
        why = _impossible(got.e164)
        if not why or why == UNKNOWN_CC:  # a code phonenumbers does not know (retired +871...): the tariff decides
            return got
        if len(digits) <= 8 and _short_number(digits, self.country):
            return Number(SERVICE, rule="short number")
        return Number(INVALID, rule=why)

    def _external(self, digits: str) -> Number:
        cc = self.country_code
        if self.international_prefix and digits.startswith(self.international_prefix):
            rest = digits[len(self.international_prefix):]
            return Number(EXTERNAL, rest, "international") if len(rest) >= 3 else Number(INVALID, rule="too short")
        if self.national_prefix and digits.startswith(self.national_prefix):
            return Number(EXTERNAL, cc + digits[len(self.national_prefix):], "national")
        local = cc + self.area_code + digits
        if self.area_code and not _possible(local) and _possible(cc + digits):
            return Number(EXTERNAL, cc + digits, "national")  # dialled with its area code, without a prefix
        return Number(EXTERNAL, local, "local")


@functools.lru_cache(maxsize=4096)
def _short_number(digits: str, country: str) -> bool:
    """A valid short number of the country (118 218, 3631, 100...): a service, not a call to an E.164 number."""
    try:
        return shortnumberinfo.is_valid_short_number_for_region(phonenumbers.parse(digits, country), country)
    except phonenumbers.NumberParseException:
        return False


def _possible(e164: str) -> bool:
    """+e164 is a possible full number (see _impossible)."""
    return not _impossible(e164)


def _impossible(e164: str) -> str:
    """"" when +e164 is a possible full number, else why not ("too short", "too long", "invalid length", "unknown
    country code"); phonenumbers' answer, memoised by (country code, national length) where that alone decides it:
    parsing strips a national prefix only where the region's national-prefix-for-parsing pattern matches at the
    start of the national number; otherwise the answer depends on the length only. The other numbers are parsed
    each time (a PBX dials hundreds of thousands of distinct numbers a month)."""
    if e164[:1] in ("", "0"):
        return "no country code"  # none starts with 0: an international prefix dialled twice, or a bad number
    head = e164[:3]
    split = _HEADS.get(head)
    if split is None:
        split = _HEADS[head] = _country_code(head)
    cc, prefix = split
    if not cc:
        return _parse_impossible(e164)
    national = e164[len(cc):]
    if prefix is not None and prefix.match(national):
        return _parse_impossible(e164)
    key = (cc, len(national))
    got = _BY_LENGTH.get(key)
    if got is None:
        got = _BY_LENGTH[key] = _parse_impossible(e164)
    return got


_BY_LENGTH: dict[tuple[str, int], str] = {}
_HEADS: dict[str, tuple[str, re.Pattern[str] | None]] = {}  # first 3 digits -> (country code, its NP pattern)


def _country_code(head: str) -> tuple[str, re.Pattern[str] | None]:
    """The country code a number starting with `head` has ("" when none is known), and its region's
    national-prefix-for-parsing pattern."""
    for i in range(1, len(head) + 1):
        cc = int(head[:i])
        if cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return head[:i], _national_prefix_for_parsing(cc)
    return "", None
_REASONS = {
    phonenumbers.ValidationResult.IS_POSSIBLE: "",
    # possible only when dialled inside its area: as a full E.164 number it lacks digits
    phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "too short",
    phonenumbers.ValidationResult.TOO_SHORT: "too short",
    phonenumbers.ValidationResult.TOO_LONG: "too long",
    phonenumbers.ValidationResult.INVALID_LENGTH: "invalid length",
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: UNKNOWN_CC,
}


@functools.cache
def _national_prefix_for_parsing(cc: int) -> re.Pattern[str] | None:
    region = phonenumbers.region_code_for_country_code(cc)
    meta = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(cc, region)
    pattern = meta.national_prefix_for_parsing if meta is not None else None
    return re.compile(pattern) if pattern else None


def _parse_possible(e164: str) -> bool:
    return not _parse_impossible(e164)


def _parse_impossible(e164: str) -> str:
    """_impossible without the memo: phonenumbers parses +e164 (the oracle of the tests)."""
    if e164[:1] in ("", "0"):
        return "no country code"
    try:
        number = phonenumbers.parse("+" + e164)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            return UNKNOWN_CC
        return "too long" if exc.error_type == phonenumbers.NumberParseException.TOO_LONG else "too short"
    return _REASONS.get(phonenumbers.is_possible_number_with_reason(number), "invalid length")


def parse_ranges(specs: list[str]) -> list[tuple[str, str]]:
    """"1000-1999" or "2001" -> inclusive ranges of equal-length digit strings; ValueError names the bad one."""
    out = []
    for spec in specs:
        lo, _, hi = str(spec).partition("-")
        lo, hi = lo.strip(), (hi or lo).strip()
        if not (lo.isdigit() and hi.isdigit() and lo.isascii() and hi.isascii()) or len(lo) != len(hi) or lo > hi:
            raise ValueError(f"{spec!r} is not an extension range like '1000-1999' (same number of digits)")
        out.append((lo, hi))
    return out
