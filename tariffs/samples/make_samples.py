"""Write the sample tariffs shipped with anatole: fr-business, uk-business and us-business (TOML + CSV deck).

Run from the repository root:  python tariffs/samples/make_samples.py

The output is deterministic: no randomness, every set is iterated in sorted order, and the only input is
the `phonenumbers` package (country calling codes, region names, and the leading digits that carve a region
out of a shared calling code, e.g. +7 7 Kazakhstan or the NANP area codes of the Caribbean). A newer
`phonenumbers` may add calling codes; the script then stops and asks for a name rather than writing a
nameless destination.

The prices are plausible for business plans in 2025/2026 but invented: samples, not anyone's price list.
Before writing, the script checks what the loader's cross-row step also checks (no duplicate rows, a
from = 0 slot per rate, whole-rate columns on that slot only, one destination per rate) and that every
prefix has a rate in every band, so that no call to a listed prefix falls through to "no_rate".
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import phonenumbers
from phonenumbers import PhoneMetadata, geocoder

HERE = Path(__file__).resolve().parent
COLUMNS = ("prefix", "destination", "band", "connect_fee", "price", "unit", "increment", "from",
           "min_cost", "max_cost", "effective_from")
MAX_ROWS, MIN_ROWS = 2000, 300

# --- billing schemes: (from, increment) of each slot --------------------------------------------------
PER_SECOND = ((0, 1),)
FIRST_MINUTE_THEN_SECOND = ((0, 60), (60, 1))  # first 60 s indivisible, then per second
THIRTY_SIX = ((0, 30), (30, 6))  # "30/6": 30 s minimum, then 6 s increments
SIX_SIX = ((0, 6),)  # "6/6"
PER_MINUTE = ((0, 60),)  # "60/60"

# --- names ------------------------------------------------------------------------------------------
# English names where phonenumbers has none (non-geographic codes, a few territories) or an awkward one.
REGION_NAMES = {
    "AC": "Ascension Island",
    "TA": "Tristan da Cunha",
    "XK": "Kosovo",
    "CD": "DR Congo",
    "CG": "Congo",
    "SZ": "Eswatini",
    "MK": "North Macedonia",
    "SX": "Sint Maarten",
    "VA": "Vatican City",
    "IO": "Diego Garcia",
    "RE": "Reunion / Mayotte",
}
NONGEO_NAMES = {  # calling codes of region "001" (global services)
    800: "International Freephone (UIFN)",
    808: "International Shared Cost (ISCS)",
    870: "Satellite Inmarsat",
    878: "Universal Personal Telecommunications",
    881: "Satellite GMSS",
    882: "International Networks",
    883: "International Networks",
    888: "UN OCHA Humanitarian",
    979: "International Premium Rate (IPRS)",
}
SATELLITE_SUBRANGES = {  # carved out of 881 / 882, priced on their own
    "8816": "Satellite Iridium",
    "8817": "Satellite Iridium",
    "8818": "Satellite Globalstar",
    "8819": "Satellite Globalstar",
    "88216": "Satellite Thuraya",
}


def region_name(rc: str) -> str:
    """English name of a region code (ISO 3166 alpha-2), from phonenumbers, tidied."""
    name = REGION_NAMES.get(rc)
    if name is None:
        example = phonenumbers.example_number(rc)
        name = geocoder.country_name_for_number(example, "en") if example is not None else ""
        if not name:  # no example number (small territories): the geocoder's own table of region names
            name = getattr(geocoder, "_region_display_name", lambda _rc, _lang: "")(rc, "en")
    name = re.sub(r"(?<= )(And|Of|The)(?= )", lambda m: m.group(1).lower(), name)
    if not name:
        sys.exit(f"make_samples: no English name for region {rc!r}; add it to REGION_NAMES")
    return name


def country_name(cc: int) -> str:
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[cc]
    if regions[0] == "001":
        if cc not in NONGEO_NAMES:
            sys.exit(f"make_samples: no name for the non-geographic code +{cc}; add it to NONGEO_NAMES")
        return NONGEO_NAMES[cc]
    return region_name(regions[0])


def calling_codes() -> list[int]:
    return sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def nanp_area_codes() -> dict[str, str]:
    """NANP area code (3 digits) -> region, for the regions of +1 other than the US and Canada, from the
    leading digits in phonenumbers' metadata (e.g. JM: 658|876). Only 3-digit matches: DO's '8001' is not an
    area code."""
    out: dict[str, str] = {}
    for rc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1]:
        ld = PhoneMetadata.metadata_for_region(rc).leading_digits
        if not ld:
            continue
        pattern = re.compile(f"(?:{ld})$")
        for ac in range(200, 1000):
            if pattern.match(str(ac)):
                out[str(ac)] = rc
    return dict(sorted(out.items()))


def canada_area_codes() -> list[str]:
    """Canadian area codes: those whose numbers phonenumbers assigns to CA."""
    out = []
    for ac in range(200, 1000):
        number = phonenumbers.parse(f"+1{ac}2345678")
        if phonenumbers.region_code_for_number(number) == "CA":
            out.append(str(ac))
    return out


def subregion_prefixes(cc: int) -> list[tuple[str, str]]:
    """(national prefix, region) for the non-main regions of a shared calling code other than +1, from their
    leading digits (e.g. +7: KZ '7' -> 77; +39: VA '06698'), expanded to the shortest digit strings (<= 5)."""
    out = []
    for rc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[cc][1:]:
        md = PhoneMetadata.metadata_for_region(rc)
        ld = md.leading_digits if md is not None else None
        if not ld:
            continue
        pattern = re.compile(f"(?:{ld})")
        found: list[str] = []
        for length in range(1, 6):
            for n in range(10**length):
                s = str(n).zfill(length)
                m = pattern.match(s)
                if m and m.end() == length and not any(s.startswith(f) for f in found):
                    found.append(s)
        out += [(s, rc) for s in found]
    return sorted(out)


# Crown dependencies: +44 but not Great Britain. Isle of Man comes from phonenumbers' leading digits;
# Guernsey and Jersey have none there, so their fixed area codes and main mobile ranges are listed here
# (each checked with phonenumbers.region_code_for_number).
CHANNEL_ISLANDS = {
    "1481": "GG", "7781": "GG", "7839": "GG", "7911": "GG",
    "1534": "JE", "7509": "JE", "7797": "JE", "7829": "JE", "7937": "JE",
}

# Mobile ranges (national significant number prefixes) of the main European countries.
MOBILE_PREFIXES = {
    30: ["69"],                                    # Greece
    31: ["6"],                                     # Netherlands 06
    32: ["46", "47", "48", "49"],                  # Belgium 046x-049x (04 alone is also Liege fixed)
    33: ["6", "7"],                                # France 06, 07
    34: ["6", "7"],                                # Spain
    36: ["20", "30", "31", "50", "70"],            # Hungary
    39: ["3"],                                     # Italy 3xx
    40: ["7"],                                     # Romania 07
    41: ["75", "76", "77", "78", "79"],            # Switzerland 075-079
    43: ["6"],                                     # Austria 06xx
    44: ["7"],                                     # United Kingdom 07 (070 and 076 carved out below)
    46: ["70", "72", "73", "76", "79"],            # Sweden
    47: ["4", "9"],                                # Norway
    48: ["45", "50", "51", "53", "57", "60", "66", "69", "72", "73", "78", "79", "88"],  # Poland
    49: ["15", "16", "17"],                        # Germany 015x-017x
    351: ["9"],                                    # Portugal 9x
    352: ["6"],                                    # Luxembourg
    353: ["83", "85", "86", "87", "89"],           # Ireland 08x
    358: ["4", "50"],                              # Finland
    420: ["6", "7"],                               # Czechia
    421: ["9"],                                    # Slovakia
}
UK_SPECIAL = {"70": "United Kingdom Personal Numbering", "76": "United Kingdom Pagers"}

# --- price zones of the international section -------------------------------------------------------
ZONE_A = {  # EU / EEA / UK / Switzerland and the European microstates
    30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49,
    350, 351, 352, 353, 354, 356, 357, 358, 359, 370, 371, 372, 376, 377, 378, 385, 386, 420, 421, 423,
}
ZONE_B = {  # rest of Europe, the Mediterranean, the Gulf, large markets of Asia, the Americas and Oceania
    7, 20, 27, 51, 52, 54, 55, 56, 57, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91,
    212, 213, 216, 262, 298, 355, 373, 374, 375, 380, 381, 382, 383, 387, 389, 502, 503, 506, 507,
    590, 594, 596, 598, 852, 853, 886, 961, 962, 965, 966, 968, 971, 972, 973, 974,
}
HIGH_RISK = {  # destinations known for international revenue share fraud and high termination rates
    53, 224, 231, 232, 235, 239, 246, 247, 252, 290, 291, 500,
    672, 674, 675, 677, 678, 682, 683, 686, 688, 690, 691, 692, 850,
}
HIGH_RISK_REGIONS = {"TA"}  # Tristan da Cunha (+290 8)
# Non-geographic and satellite services, per minute in EUR (converted for the other currencies).
SPECIAL_EUR = {
    "800": "0.30", "808": "0.30", "870": "6.50", "878": "2.00", "881": "7.50", "8816": "9.00",
    "8817": "9.00", "8818": "6.00", "8819": "6.00", "882": "5.00", "88216": "4.50", "883": "4.00",
    "888": "2.00", "979": "3.00",
}
NANP_TERRITORIES = {"AS", "GU", "MP", "PR", "VI"}  # US territories: domestic for a US plan

# Per-minute prices of each zone, per currency. "caribbean": NANP Caribbean area codes (a fraud hot spot).
ZONES = {
    "EUR": {"A": "0.04", "A_mobile": "0.10", "B": "0.12", "B_mobile": "0.20", "C": "0.30", "D": "1.50",
            "caribbean": "0.55", "factor": "1"},
    "GBP": {"A": "0.035", "A_mobile": "0.085", "B": "0.10", "B_mobile": "0.17", "C": "0.26", "D": "1.25",
            "caribbean": "0.45", "factor": "0.85"},
    "USD": {"A": "0.025", "A_mobile": "0.09", "B": "0.14", "B_mobile": "0.22", "C": "0.35", "D": "1.75",
            "caribbean": "0.45", "factor": "1.1"},
}


def convert(eur: str, factor: str) -> str:
    value = Decimal(eur) * Decimal(factor)
    value = value.quantize(Decimal("0.01") if value >= 1 else Decimal("0.001"))
    return money(value)


def money(value: str | Decimal) -> str:
    """Plain decimal text, at least 2 decimals (0.10, 0.012, 9.99) except 0."""
    d = Decimal(value).normalize()
    if d == 0:
        return "0"
    if d.as_tuple().exponent > -2:
        d = d.quantize(Decimal("0.01"))
    return format(d, "f")


def zone_of(cc: int, rc: str | None = None) -> str:
    if rc in HIGH_RISK_REGIONS or cc in HIGH_RISK:
        return "D"
    if cc in ZONE_A:
        return "A"
    if cc in ZONE_B:
        return "B"
    return "C"


# --- building decks ---------------------------------------------------------------------------------


class Deck:
    def __init__(self, bands: list[str]):
        self.bands = bands  # band names of the tariff, in order
        self.rows: list[dict[str, str]] = []

    def rate(self, prefix: str, destination: str, price: str, slots=PER_SECOND, *, band: str = "*",
             connect_fee: str = "", min_cost: str = "", max_cost: str = "", effective_from: str = "",
             prices: dict[int, str] | None = None) -> None:
        """One rate = one row per slot; `prices` may give a different price per slot start."""
        for start, increment in slots:
            first = start == 0
            self.rows.append({
                "prefix": prefix,
                "destination": destination,
                "band": band,
                "connect_fee": money(connect_fee) if first and connect_fee else "",
                "price": money((prices or {}).get(start, price)),
                "unit": "60",
                "increment": str(increment),
                "from": str(start),
                "min_cost": money(min_cost) if first and min_cost else "",
                "max_cost": money(max_cost) if first and max_cost else "",
                "effective_from": effective_from,
            })

    def banded(self, prefix: str, destination: str, by_band: dict[str, str], slots=PER_SECOND, **kw) -> None:
        """One rate per band of the tariff (every band must be priced)."""
        missing = set(self.bands) - set(by_band)
        if missing:
            raise AssertionError(f"{prefix}: no price for band(s) {sorted(missing)}")
        for band in self.bands:
            self.rate(prefix, destination, by_band[band], slots, band=band, **kw)


def international(deck: Deck, currency: str, home: int, slots=THIRTY_SIX) -> None:
    """Every calling code of phonenumbers but the home one, with sub-regions and European mobile ranges."""
    z = ZONES[currency]
    special = {p: convert(v, z["factor"]) for p, v in SPECIAL_EUR.items()}
    for cc in calling_codes():
        if cc == home:
            continue
        name = country_name(cc)
        if str(cc) in special:
            deck.rate(str(cc), name, special[str(cc)], slots)
            for sub, sub_name in SATELLITE_SUBRANGES.items():
                if sub.startswith(str(cc)):
                    deck.rate(sub, sub_name, special[sub], slots)
            continue
        if cc == 1:  # only for non-NANP plans: the US and Canada, then the other NANP regions by area code
            deck.rate("1", "United States and Canada", z["A"], slots)
            for ac, rc in nanp_area_codes().items():
                price = z["A"] if rc in {"PR", "VI"} else z["C"] if rc in NANP_TERRITORIES else z["caribbean"]
                deck.rate("1" + ac, region_name(rc), price, slots)
            continue
        zone = zone_of(cc)
        deck.rate(str(cc), name, z[zone], slots)
        mobile_price = z.get(f"{zone}_mobile", z[zone])
        for mp in MOBILE_PREFIXES.get(cc, []):
            deck.rate(f"{cc}{mp}", f"{name} Mobile", mobile_price, slots)
        if cc == 44:
            for sub, label in UK_SPECIAL.items():
                deck.rate(f"44{sub}", label, z["C"], slots)
            crown = subregion_prefixes(44) + sorted(CHANNEL_ISLANDS.items())
            for sub, rc in sorted(crown):
                mobile = sub.startswith("7")
                deck.rate(f"44{sub}", region_name(rc) + (" Mobile" if mobile else ""),
                          z["B_mobile"] if mobile else z["A"], slots)
        else:
            for sub, rc in subregion_prefixes(cc):
                sub_zone = zone_of(cc, rc) if rc not in {"KZ", "BQ"} else "C"
                deck.rate(f"{cc}{sub}", region_name(rc), z[sub_zone], slots)


def france() -> tuple[str, Deck]:
    deck = Deck(["offpeak", "peak", "evening", "holiday"])
    off = "0.012"
    regions = {"1": "Paris / Ile-de-France", "2": "North-West", "3": "North-East", "4": "South-East",
               "5": "South-West"}
    for digit, region in regions.items():
        deck.banded(f"33{digit}", f"France Fixed 0{digit} {region}",
                    {"peak": "0.02", "offpeak": off, "evening": off, "holiday": off})
    deck.banded("339", "France Non-geographic 09",
                {"peak": "0.02", "offpeak": off, "evening": off, "holiday": off})
    # Mobiles: connect fee, first minute indivisible then per second; prices lowered from 2026-01-01.
    for mp in ("6", "7"):
        for eff, peak, offp in (("", "0.10", "0.08"), ("2026-01-01", "0.08", "0.06")):
            deck.banded(f"33{mp}", "France Mobile",
                        {"peak": peak, "offpeak": offp, "evening": offp, "holiday": offp},
                        FIRST_MINUTE_THEN_SECOND, connect_fee="0.03", effective_from=eff)
    for n in range(6):  # 0800-0805: free to the caller, at any time
        deck.rate(f"3380{n}", "France Freephone 080", "0")
    deck.rate("3381", "France Shared Cost 081", "0.10", FIRST_MINUTE_THEN_SECOND)
    deck.rate("3382", "France Shared Cost 082", "0.25", FIRST_MINUTE_THEN_SECOND)
    deck.rate("3389", "France Premium Rate 089", "0.80", PER_SECOND, connect_fee="0.10", min_cost="1.00")
    international(deck, "EUR", home=33)
    holidays = ["01-01", "05-01", "05-08", "07-14", "08-15", "11-01", "11-11", "12-25"]
    description = (
        "France business plan in EUR: per-second national calls with peak (weekdays 08:00-19:00) and "
        "off-peak prices, French public holidays off-peak, mobiles with a connect fee and an indivisible "
        "first minute (cheaper from 2026-01-01), special numbers, and every international calling code "
        "billed 30/6. Sample prices."
    )
    toml = top("a French business fixed-line plan", "Sample carrier FR, business fixed line", description,
               "EUR", "Europe/Paris", "fr-business.csv") + f'''
[rounding]
decimals = 4
mode = "half_up"

[billing]
anchor = "slot"
split = true                    # a call that crosses 08:00, 19:00 or midnight is priced part by part

[[band]]
name = "offpeak"                # nights and weekends: every day from 00:00...
start = "00:00"
weight = 10

[[band]]
name = "peak"                   # ...weekdays from 08:00...
days = ["mon", "tue", "wed", "thu", "fri"]
start = "08:00"
weight = 10

[[band]]
name = "evening"                # ...and weekdays from 19:00 (priced as off-peak)
days = ["mon", "tue", "wed", "thu", "fri"]
start = "19:00"
weight = 10

[[band]]
name = "holiday"                # French fixed-date public holidays, all day (off-peak prices)
dates = {json.dumps(holidays)}
start = "00:00"
weight = 20

'''
    return toml, deck


def united_kingdom() -> tuple[str, Deck]:
    deck = Deck(["night", "day", "evening", "weekend"])
    # Geographic 01/02 and 03 (charged as geographic): per second; weekend calls capped; April price rise.
    for eff, day, eve, wkd in (("", "0.015", "0.01", "0.005"), ("2026-04-01", "0.017", "0.012", "0.006")):
        for p, label in (("1", "United Kingdom Geographic 01"), ("2", "United Kingdom Geographic 02"),
                         ("3", "United Kingdom Non-geographic 03")):
            for band, price in (("night", eve), ("day", day), ("evening", eve), ("weekend", wkd)):
                deck.rate(f"44{p}", label, price, band=band, effective_from=eff,
                          max_cost="0.30" if band == "weekend" else "")
    deck.banded("447", "United Kingdom Mobile",
                {"night": "0.03", "day": "0.04", "evening": "0.03", "weekend": "0.02"},
                FIRST_MINUTE_THEN_SECOND)
    deck.rate("4470", "United Kingdom Personal Numbering 070", "0.40", connect_fee="0.05")
    deck.rate("4476", "United Kingdom Pagers 076", "0.35", connect_fee="0.05")
    # Mobiles of the Crown dependencies (their fixed lines are charged as geographic, under 441).
    crown = subregion_prefixes(44) + sorted(CHANNEL_ISLANDS.items())
    for sub, rc in sorted(c for c in crown if c[0].startswith("7")):
        deck.rate(f"44{sub}", f"{region_name(rc)} Mobile", "0.20", FIRST_MINUTE_THEN_SECOND)
    deck.rate("44800", "United Kingdom Freephone 0800", "0")
    deck.rate("44808", "United Kingdom Freephone 0808", "0")
    deck.rate("4484", "United Kingdom Service 084", "0.07")
    deck.rate("4487", "United Kingdom Service 087", "0.13")
    deck.rate("449", "United Kingdom Premium Rate 09", "1.20", PER_MINUTE, min_cost="1.50")
    international(deck, "GBP", home=44)
    description = (
        "UK business plan in GBP: daytime (weekdays 08:00-18:00), evening (weekdays 18:00-08:00) and "
        "weekend prices, per-second national calls with weekend calls capped and an April 2026 price rise, "
        "mobiles with an indivisible first minute, 070/076 and Crown dependency mobiles priced apart, "
        "freephone, 084/087 service numbers, 09 premium rate per minute with a minimum charge, and every "
        "international calling code billed 30/6. Sample prices."
    )
    toml = top("a UK business plan", "Sample carrier UK, business plan", description,
               "GBP", "Europe/London", "uk-business.csv") + '''
[rounding]
decimals = 4
mode = "up"

[billing]
anchor = "slot"
split = false                   # the whole call is priced in the band of its start

# Weekdays: night (00:00, priced as evening) -> day (08:00) -> evening (18:00). Weekends: weekend all day.
[[band]]
name = "night"
days = ["mon", "tue", "wed", "thu", "fri"]
start = "00:00"
weight = 10

[[band]]
name = "day"
days = ["mon", "tue", "wed", "thu", "fri"]
start = "08:00"
weight = 10

[[band]]
name = "evening"
days = ["mon", "tue", "wed", "thu", "fri"]
start = "18:00"
weight = 10

[[band]]
name = "weekend"
days = ["sat", "sun"]
start = "00:00"
weight = 10

'''
    return toml, deck


def united_states() -> tuple[str, Deck]:
    deck = Deck([])
    deck.rate("1", "United States", "0.012", SIX_SIX)
    area = nanp_area_codes()
    for ac, rc in area.items():  # US territories: domestic
        if rc in NANP_TERRITORIES:
            deck.rate("1" + ac, region_name(rc), "0.012", SIX_SIX)
    for ac in canada_area_codes():
        deck.rate("1" + ac, "Canada", "0.015", SIX_SIX)
    for ac, rc in area.items():  # the Caribbean: NANP numbers, international prices
        if rc not in NANP_TERRITORIES:
            deck.rate("1" + ac, region_name(rc), ZONES["USD"]["caribbean"], SIX_SIX)
    for ac in ("800", "833", "844", "855", "866", "877", "888"):
        deck.rate("1" + ac, "United States Toll-free", "0", SIX_SIX)
    deck.rate("1900", "United States Premium 900", "3.99", PER_MINUTE, min_cost="9.99")
    deck.rate("1976", "United States Premium 976", "2.49", PER_MINUTE, min_cost="4.99")
    international(deck, "USD", home=1)
    description = (
        "US business plan in USD: a flat per-minute price for all NANP domestic calls (US and territories) "
        "billed 6/6, Canada slightly higher, toll-free free, 900/976 premium with a high minimum charge, the "
        "Caribbean NANP area codes priced as international, and every other calling code (dialled with 011) "
        "billed 30/6. Each increment is rounded to 5 decimals (the CGRateS convention). Sample prices."
    )
    toml = top("a US business plan", "Sample carrier US, business plan", description,
               "USD", "America/New_York", "us-business.csv") + '''
[rounding]
decimals = 4
mode = "up"
increment_decimals = 5          # each 6 s / 30 s increment is priced and rounded on its own, then summed

[billing]
anchor = "slot"
split = false

# No [[band]]: the same prices at every hour (the deck has no band column, so every row is "*").

'''
    return toml, deck


def top(what: str, name: str, description: str, currency: str, timezone: str, deck: str) -> str:
    """The top-level keys of a tariff file (they must come before any [table] in TOML)."""
    return (
        f"# Sample tariff: {what}.\n"
        "# Generated by tariffs/samples/make_samples.py: edit that script, not this file.\n"
        f"name = {json.dumps(name)}\n"
        f"description = {json.dumps(description, ensure_ascii=False)}\n"
        f"currency = {json.dumps(currency)}\n"
        f"timezone = {json.dumps(timezone)}\n"
        f"deck = {json.dumps(deck)}  # the rate deck, beside this file\n"
    )


# --- checks and output ------------------------------------------------------------------------------


def check(name: str, deck: Deck) -> None:
    """The cross-row rules of the format, and full band coverage of every prefix."""
    problems: list[str] = []
    seen: set[tuple[str, str, str, str]] = set()
    rates: dict[tuple[str, str, str], list[dict[str, str]]] = defaultdict(list)
    for r in deck.rows:
        key = (r["prefix"], r["band"], r["effective_from"], r["from"])
        if key in seen:
            problems.append(f"duplicate row {key}")
        seen.add(key)
        rates[key[:3]].append(r)
        if not r["prefix"].isdigit() or len(r["prefix"]) > 18:
            problems.append(f"bad prefix {r['prefix']!r} (a catch-all is not wanted either)")
        if not r["destination"]:
            problems.append(f"{key}: empty destination")
        if r["band"] != "*" and r["band"] not in deck.bands:
            problems.append(f"{key}: unknown band")
        for col in ("connect_fee", "price", "min_cost", "max_cost"):
            if r[col] and (Decimal(r[col]) < 0 or -Decimal(r[col]).as_tuple().exponent > 8):
                problems.append(f"{key}: {col} {r[col]} is negative or has over 8 decimals")
        if r["min_cost"] and r["max_cost"] and Decimal(r["min_cost"]) > Decimal(r["max_cost"]):
            problems.append(f"{key}: min_cost > max_cost")
    for key, slots in rates.items():
        firsts = [s for s in slots if s["from"] == "0"]
        if len(firsts) != 1:
            problems.append(f"rate {key}: {len(firsts)} slots with from = 0")
        if len({s["destination"] for s in slots}) != 1:
            problems.append(f"rate {key}: several destinations")
        for s in slots:
            if s["from"] != "0" and (s["connect_fee"] or s["min_cost"] or s["max_cost"]):
                problems.append(f"rate {key}: connect_fee/min_cost/max_cost on a slot other than from = 0")
    versions: dict[tuple[str, str], set[str]] = defaultdict(set)
    for prefix, band, eff in rates:
        versions[(prefix, eff)].add(band)
    for (prefix, eff), bands in versions.items():
        if "*" not in bands and set(deck.bands) - bands:
            missing = sorted(set(deck.bands) - bands)
            problems.append(f"prefix {prefix} (effective {eff or 'always'}): no rate for band(s) {missing}")
    if not MIN_ROWS <= len(deck.rows) <= MAX_ROWS:
        problems.append(f"{len(deck.rows)} rows, expected {MIN_ROWS}..{MAX_ROWS}")
    if problems:
        sys.exit(f"make_samples: {name} is wrong:\n  " + "\n  ".join(problems[:50]))


def write(stem: str, toml: str, deck: Deck) -> None:
    check(stem, deck)
    columns = [c for c in COLUMNS if c != "band" or deck.bands]
    with open(HERE / f"{stem}.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for r in deck.rows:
            writer.writerow([r[c] for c in columns])
    (HERE / f"{stem}.toml").write_text(toml, encoding="utf-8")
    rates = {(r["prefix"], r["band"], r["effective_from"]) for r in deck.rows}
    prefixes = {r["prefix"] for r in deck.rows}
    print(f"{stem}: {len(deck.rows)} rows, {len(rates)} rates, {len(prefixes)} prefixes")


def main() -> None:
    builders = (("fr-business", france), ("uk-business", united_kingdom), ("us-business", united_states))
    for stem, build in builders:
        toml, deck = build()
        write(stem, toml, deck)


if __name__ == "__main__":
    main()
