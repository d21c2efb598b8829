"""`anatole demo`: a workspace for a made-up company, a month of its calls, rated and summarised.

The company has three sites (Paris, London, New York) with the sample tariffs shipped in `tariffs.samples`.
`generate_calls` makes a realistic month of outgoing calls, vectorised with numpy and deterministic for a seed:

- every extension has a caller *profile* (sales people call far more than the rest, a few people mostly call
  abroad) and its own activity level, so a few extensions make most of the calls;
- calls follow office hours in the site's local time (weekdays 08:00-19:00 with a lunch dip, a little evening and
  weekend traffic); the month's hours are turned into UTC instants with the site's IANA zone, DST included;
- the destination mix is that of an office: local/national fixed lines, mobiles, international (mostly the
  neighbours and the other two sites' countries, some far away), toll-free, premium and shared-cost numbers, a
  few high-risk destinations, and about 0.5 % of calls to ranges that no row of the site's tariff matches (France
  0806-0809, UK 055/056, the retired Inmarsat codes +871..874), so that some calls are unrated, as in life;
- people call the same numbers again and again: each (site, kind of destination) has a pool of numbers, and calls
  pick from it with a skewed distribution;
- about 17 % of calls are unanswered (duration 0); talk times are log-normal (median about 90 s, longer for
  international and toll-free calls, a tail to over an hour);
- one night, a London extension is used for toll fraud: a burst of ~4-minute calls at 3 am to satellite and
  revenue-share destinations (the pattern described in the rating semantics, section 9).

Each site's PBX writes its month as a real call-record file in `<workspace>/cdr/` (`anatole.pbxfiles`): Paris has
an Avaya IP Office (SMDR), London a Cisco Unified CM (CDR flat file), New York an Asterisk (`Master.csv`). Besides
the outgoing calls, the files hold incoming calls, internal calls and a few transferred calls (`pbx_calls`), with
the numbers as the PBX records them: dialled digits with the outside-line prefix, the number as sent, caller IDs.
`run_demo` imports those files into the workspace's store through `pipeline.cdrimport.import_file`, as
`anatole import cdr` does (format detected, source and dial plan from anatole.toml), and summarises what is
stored (`summarise_store`).

`rate_calls` rates the generated calls directly with each site's compiled tariff, in one batch: the reference the
imported calls must match. `tariffs.classify.destination_type` classifies each unique number once with
`phonenumbers`, relative to the site's country. `summarise` adds it all up with money as Python ints (units of
10**-8), and `render_summary` shows it with rich.

Costs are in each site's tariff currency (EUR, GBP, USD); the summary of the calls never converts money. Only the
order of the "top destinations" table uses indicative exchange rates (exact fractions, `RANKING_FX`), to compare
costs across currencies; the month's allocation (`anatole.demo.inventory`, after the inventory is imported and the
invoices `anatole.demo.invoices` writes are audited) converts to EUR with the `[allocation] exchange_rates` of the
demo's anatole.toml, as `anatole allocate` does.
"""

from __future__ import annotations

import calendar
import datetime as dt
import importlib.resources
import math
import sqlite3
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
import phonenumbers
from phonenumbers import PhoneNumberType

from anatole import pbxfiles
from anatole.config import ConfigError, Workspace, open_workspace
from anatole.demo import inventory as demoinventory
from anatole.demo import invoices as demoinvoices
from anatole.demo import mobile as demomobile
from anatole.demo.text import count, headed, month_title, percent
from engine import NO_RATE, RATED, STATUS_NAMES
from engine.money import format_money
from i18n import N_, _, pgettext
from pipeline.cdrimport import CdrImportError, import_file
from store import Store, display, open_store
from tariffs.classify import DEST_TYPES, destination_type
from tariffs.compile import compile_tariff
from tariffs.errors import TariffError
from tariffs.load import load_tariff

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

if TYPE_CHECKING:  # rich is imported where it is used
    from rich.console import Console

MARKER = "# anatole demo workspace"
CDR_FOLDER = "cdr"
TARIFF_FILES = ("fr-business", "uk-business", "us-business")


class DemoError(Exception):
    """The demo cannot run: the message says why and what to do."""


# --- the company ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    name: str
    country: str  # ISO 3166-1 alpha-2
    timezone: str
    outside_prefix: str
    national_prefix: str
    international_prefix: str
    extension_range: tuple[int, int]  # the site's internal numbers, inclusive
    people: int  # extensions in use
    tariff: str  # file stem in tariffs/
    source: dict[str, Any]  # the [[source]] table of anatole.toml (strings, and the allow list)
    lunch: tuple[int, ...]  # local hours of the lunch dip
    cdr_file: str  # the PBX's file of the month in <workspace>/cdr/ ({month} = YYYY-MM)
    area_code: str = ""  # home area code: local numbers are dialled without it


SITES: tuple[Site, ...] = (
    Site("paris", "FR", "Europe/Paris", "0", "0", "00", (1000, 1999), 80, "fr-business",
         {"name": "paris-ipo", "format": "avaya-ipo", "listen": "0.0.0.0:8808",
          "allow": ["192.0.2.10", "127.0.0.1", "::1"]}, (12, 13),
         "paris-ipo-{month}.txt"),
    Site("london", "GB", "Europe/London", "9", "0", "00", (2000, 2999), 48, "uk-business",
         {"name": "london-cucm", "format": "cucm"}, (12,), "london-cucm-{month}.csv"),
    Site("new-york", "US", "America/New_York", "9", "1", "011", (3000, 3999), 32, "us-business",
         {"name": "new-york-asterisk", "format": "asterisk"}, (12,), "new-york-Master.csv", "212"),
)
SITE_NAMES = tuple(s.name for s in SITES)

# Kinds of destination, as generated (and, for the summary, as classified by `destination_type`).
NATIONAL, MOBILE, INTERNATIONAL, TOLL_FREE, PREMIUM, HIGH_RISK, UNRATED = range(len(DEST_TYPES))

# Caller profiles: share of the extensions, calls per working day, then the share of each kind of destination
# (mobile, international, toll-free, premium); local/national takes the rest. High-risk and unrated shares are
# the same for everyone (HIGH_RISK_SHARE, UNRATED_SHARE).
PROFILES = (
    # name          share  calls/day  mobile  intl   toll-free premium
    ("sales",       0.14,  22.0,      0.36,   0.12,  0.020,    0.006),
    ("office",      0.44,  7.0,       0.29,   0.13,  0.035,    0.010),
    ("international", 0.07, 10.0,     0.24,   0.42,  0.020,    0.006),
    ("light",       0.25,  2.0,       0.30,   0.10,  0.045,    0.015),
    ("rare",        0.10,  0.3,       0.25,   0.08,  0.060,    0.020),
)
HIGH_RISK_SHARE = 0.0006
UNRATED_SHARE = 0.006  # a quarter of them unanswered: about 0.45 % of all calls end up unrated
# Premium-rate share relative to the profile's, per country: NANP has no shared-cost numbers, only 900 premium
# lines with a high minimum charge, which an office rarely calls.
PREMIUM_FACTOR = {"US": 0.15}
ACTIVITY_SIGMA = 0.45  # log-normal spread of activity between people of the same profile

# Local hour weights of a working day; the lunch hours are damped per site; weekends are a small fraction.
WEEKDAY_HOURS = np.array([0.002, 0.001, 0.001, 0.001, 0.001, 0.003, 0.01, 0.08, 0.55, 1.0, 1.15, 1.05,
                          1.0, 1.0, 1.0, 1.05, 0.95, 0.75, 0.4, 0.12, 0.05, 0.03, 0.012, 0.005])
LUNCH_FACTOR = 0.42
WEEKEND_FACTOR = 0.06

UNANSWERED_SHARE = (0.16, 0.21, 0.17, 0.06, 0.12, 0.20, 0.25)  # per kind of destination
MEDIAN_SECONDS = (90, 75, 150, 210, 110, 180, 90)  # talk time of answered calls, per kind of destination
DURATION_SIGMA = 1.05
MAX_SECONDS = 2 * 3600

# Pool of distinct numbers per (site, kind), as a fraction of that kind's calls, and the skew of the picks
# (index = pool * u ** SKEW): the top 1 % of a pool gets about 1/6 of its calls.
POOL_RATIO = (0.45, 0.40, 0.50, 0.12, 0.30, 0.50, 0.40)
SKEW = 2.4

# Templates: (E.164 digits before the random part, number of random digits, weight). The random part of the
# NANP templates is NXX-XXXX with N in 2..9 (see _nanp).
NATIONAL_NUMBERS = {
    "FR": [("331", 8, 55), ("333", 8, 7), ("339", 8, 11)] + [(f"332{d}", 7, 0.8) for d in "012345789"]
    + [(f"334{d}", 7, 1.3) for d in "123456789"] + [(f"335{d}", 7, 0.9) for d in "012345678"],
    "GB": [("44207", 7, 30), ("44203", 7, 14), ("44208", 7, 10), ("44161", 7, 7), ("441212", 6, 3),
           ("441214", 6, 3), ("441312", 6, 2), ("441314", 6, 2), ("44141", 7, 4), ("441132", 6, 2),
           ("441134", 6, 2), ("441173", 6, 2), ("441179", 6, 2), ("441223", 6, 3), ("441865", 6, 3),
           ("44330", 7, 4), ("44345", 7, 3)],
    "US": [("1212", -7, 22), ("1646", -7, 8), ("1718", -7, 9), ("1516", -7, 5), ("1914", -7, 4),
           ("1201", -7, 5), ("1973", -7, 4), ("1203", -7, 3), ("1415", -7, 4), ("1312", -7, 4),
           ("1617", -7, 4), ("1202", -7, 4), ("1305", -7, 3), ("1404", -7, 3), ("1713", -7, 3),
           ("1214", -7, 3), ("1310", -7, 4), ("1206", -7, 2), ("1303", -7, 2), ("1512", -7, 2)],
}
MOBILE_NUMBERS = {
    "FR": [(f"336{d}", 7, 8) for d in "01245678"] + [(f"337{d}", 7, 6) for d in "3456789"],
    "GB": [(f"447{d}", 8, 10) for d in ("4", "5", "7", "8", "9")] + [("4473", 8, 4)],
    # NANP mobiles are ordinary geographic numbers (phonenumbers says FIXED_LINE_OR_MOBILE)
    "US": [("1917", -7, 10), ("1347", -7, 6), ("1929", -7, 4), ("1646", -7, 6), ("1201", -7, 2)],
}
TOLL_FREE_NUMBERS = {
    "FR": [(f"3380{d}", 6, 4 - int(d) // 2) for d in "012345"],
    "GB": [("44800", 7, 6), ("44808", 7, 3)],
    "US": [(f"1{ac}", -7, w) for ac, w in (("800", 8), ("833", 1), ("844", 2), ("855", 2), ("866", 3),
                                           ("877", 3), ("888", 3))],
}
PREMIUM_NUMBERS = {  # premium rate and shared cost
    "FR": [("33810", 6, 3), ("33811", 6, 1), ("33820", 6, 3), ("33825", 6, 2), ("33891", 6, 2),
           ("33892", 6, 2), ("33899", 6, 1)],
    "GB": [("44843", 7, 3), ("44844", 7, 3), ("44870", 7, 3), ("44871", 7, 2), ("44906", 7, 1),
           ("44909", 7, 1)],
    "US": [("1900", -7, 1)],
}
# Ranges that the sample tariffs do not list: calls to them are `no_rate`.
UNRATED_NUMBERS = {
    "FR": [("33806", 6, 4), ("33809", 6, 4), ("8713", 9, 1)],  # 0806-0809 (not in the deck); old Inmarsat
    "GB": [("4455", 8, 3), ("4456", 8, 4), ("8713", 9, 1)],  # 055 corporate and 056 VoIP ranges
    "US": [("8713", 9, 3), ("8743", 9, 2)],  # Inmarsat's retired ocean-region codes (+871..874)
}
HIGH_RISK_NUMBERS = [  # satellite, Caribbean NANP and revenue-share hot spots
    ("8816", 9, 3), ("8818", 8, 1), ("8707", 8, 2), ("88216", 8, 1), ("1876", -7, 4), ("1809", -7, 3),
    ("1268", -7, 1), ("1473", -7, 1), ("1649", -7, 1), ("1284", -7, 1), ("535", 7, 3), ("68250", 3, 1),
    ("2399", 6, 1), ("23177", 7, 1), ("67570", 6, 1),
]
# International destinations per site: region -> weight (the sites' own countries are among them).
INTERNATIONAL_MIX = {
    "FR": {"GB": 12, "DE": 14, "BE": 10, "ES": 9, "IT": 9, "CH": 8, "US": 10, "NL": 5, "LU": 3, "PT": 4,
           "IE": 2, "MA": 3, "TN": 1.5, "DZ": 1.5, "PL": 2, "AT": 1.5, "SE": 1, "CA": 1.5, "CN": 1.5,
           "JP": 1, "IN": 1.5, "BR": 1, "SN": 1, "AE": 1, "SG": 0.5, "AU": 0.5, "ZA": 0.5},
    "GB": {"US": 18, "FR": 12, "IE": 12, "DE": 10, "ES": 6, "NL": 6, "IT": 5, "IN": 6, "BE": 3, "CH": 3,
           "PL": 3, "CA": 3, "AU": 3, "ZA": 2, "HK": 2, "SG": 2, "AE": 2, "JP": 1, "CN": 1.5, "NG": 1.5,
           "PK": 1.5},
    "US": {"CA": 25, "GB": 14, "FR": 8, "MX": 12, "DE": 7, "IN": 8, "CN": 5, "JP": 4, "BR": 3, "IL": 2,
           "KR": 2, "PH": 3, "AU": 2, "IE": 2, "CO": 2, "IT": 2, "ES": 2, "NL": 1, "CH": 1},
}
INTERNATIONAL_MOBILE_SHARE = 0.4
FRAUD_CALLS = 38

# Only to order the "top destinations" table across currencies: indicative EUR per unit, exact fractions.
RANKING_FX = {"EUR": Fraction(1), "GBP": Fraction(115, 100), "USD": Fraction(92, 100)}


# --- the workspace ------------------------------------------------------------------------------------------


def create_workspace(path: Path) -> Path:
    """Create the demo workspace at `path`: anatole.toml and the three sample tariffs in tariffs/.

    The folder must be new, empty, or a previous demo workspace (its anatole.toml starts with MARKER), which is
    overwritten; anything else raises DemoError.
    """
    path = Path(path)
    check_folder(path)
    tariffs = path / "tariffs"
    try:
        tariffs.mkdir(parents=True, exist_ok=True)
        samples = importlib.resources.files("tariffs.samples")
        for stem in TARIFF_FILES:
            for ext in (".toml", ".csv"):
                (tariffs / f"{stem}{ext}").write_bytes(samples.joinpath(stem + ext).read_bytes())
        (path / "anatole.toml").write_text(workspace_toml(), encoding="utf-8")
    except OSError as exc:
        raise DemoError(_("cannot create the demo workspace in {folder}: {problem}").format(
            folder=path, problem=exc.strerror or exc)) from None
    return path


def check_folder(path: Path) -> None:
    """Refuse a folder the demo must not write into (a file, or a folder of someone else's)."""
    if path.exists() and not path.is_dir():
        raise DemoError(_("{path} exists and is not a folder: choose another place for the demo workspace").format(
            path=path))
    if path.is_dir() and any(path.iterdir()) and not is_demo_workspace(path):
        raise DemoError(_("{path} is not empty and is not an anatole demo workspace (no anatole.toml with the line "
                          "{marker}): the demo will not write into it; choose a new or empty folder").format(
            path=path, marker=repr(MARKER)))


def is_demo_workspace(path: Path) -> bool:
    """True when `path` holds an anatole.toml written by the demo (it carries MARKER)."""
    try:
        text = (Path(path) / "anatole.toml").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(line.strip() == MARKER for line in text.splitlines())


def workspace_toml() -> str:
    """The demo's anatole.toml (the keys of CONFIG.md only)."""

    def q(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    out = [
        MARKER,
        "# Written by `anatole demo`: a made-up company with three sites. Running the demo again on this folder",
        "# overwrites this file and the tariffs; delete the first line to keep your changes.",
        "",
        "[workspace]",
        'currency = "EUR"',
    ]
    for s in SITES:
        lo, hi = s.extension_range
        out += [
            "",
            "[[site]]",
            f"name = {q(s.name)}",
            f"country = {q(s.country)}",
            f"timezone = {q(s.timezone)}",
            f"outside_prefix = {q(s.outside_prefix)}",
            f"national_prefix = {q(s.national_prefix)}",
            f"international_prefix = {q(s.international_prefix)}",
            f"area_code = {q(s.area_code)}",
            f'extensions = ["{lo}-{hi}"]',
            f"tariff = {q(f'tariffs/{s.tariff}.toml')}",
        ]
    for s in SITES:
        out += ["", "[[source]]", f"name = {q(s.source['name'])}", f"site = {q(s.name)}"]
        for k, v in s.source.items():
            if k == "allow":  # who may connect: the PBX, and this machine (a simulator, a test)
                out += ["# only these peers may connect (addresses or CIDR networks): put your PBX's address here",
                        f"allow = [{', '.join(q(a) for a in v)}]"]
            elif k != "name":
                out.append(f"{k} = {q(v)}")
    out += [
        "",
        "[[alert]]",
        'name = "expensive call"',
        'when = "cost > 5"',
        'notify = ["monitor"]',
        "",
        "[[alert]]",
        'name = "long call"',
        'when = "duration > 3600"',
        'notify = ["monitor"]',
        "",
    ]
    out += demoinvoices.profile_toml()  # the New York carrier's CSV detail format
    out += demoinventory.allocation_toml()  # exchange rates and the rule for the New York taxes
    out += demomobile.profile_toml()  # the mobile carriers' usage detail formats and plan catalogues
    return "\n".join(out)


# --- calls --------------------------------------------------------------------------------------------------


@dataclass
class CallBatch:
    """A columnar batch of outgoing calls; `site` indexes `sites`."""

    site: np.ndarray  # int8
    extension: np.ndarray  # int32
    number: np.ndarray  # 'S15' E.164 digits
    start: np.ndarray  # int64 UTC epoch seconds
    duration: np.ndarray  # int32 seconds, 0 = unanswered
    sites: tuple[str, ...] = SITE_NAMES
    month: str = ""

    def __len__(self) -> int:
        return len(self.number)


def generate_calls(seed: int, month: str = "2026-10", *, scale: float = 1.0, fraud: bool = True) -> CallBatch:
    """A month of outgoing calls of the demo company, deterministic for `seed`.

    `scale` multiplies the traffic (1.0: about 23,000 calls from 160 people: the size at which `run_demo`, whose
    import path parses and stores every record in Python, takes a few seconds); `fraud` adds the night of toll
    fraud in London.
    """
    year, mon = _parse_month(month)
    rng = np.random.default_rng(seed)
    shares = np.array([p[1] for p in PROFILES])
    per_day = np.array([p[2] for p in PROFILES])
    parts: list[tuple[np.ndarray, ...]] = []
    for si, site in enumerate(SITES):
        premium = PREMIUM_FACTOR.get(site.country, 1.0)
        mixes = np.array([_mix(p[3], p[4], p[5], p[6] * premium) for p in PROFILES])  # profile -> kind shares
        slot_utc, slot_p, working_days = _hour_slots(site, year, mon)
        lo, hi = site.extension_range
        ext = np.sort(rng.choice(hi - lo + 1, size=site.people, replace=False)).astype(np.int32) + lo
        profile = rng.choice(len(PROFILES), size=site.people, p=shares / shares.sum())
        activity = rng.lognormal(-ACTIVITY_SIGMA**2 / 2, ACTIVITY_SIGMA, site.people)
        n_per_ext = rng.poisson(per_day[profile] * activity * working_days * scale)
        caller = np.repeat(np.arange(site.people), n_per_ext)
        n = len(caller)
        start = slot_utc[rng.choice(len(slot_utc), size=n, p=slot_p)] + rng.integers(0, 3600, n)
        cum = np.cumsum(mixes[profile[caller]], axis=1)
        kind = (rng.random(n)[:, None] > cum[:, :-1]).sum(axis=1)
        number = np.empty(n, dtype="S15")
        for k in range(len(DEST_TYPES)):
            idx = np.flatnonzero(kind == k)
            if len(idx) == 0:
                continue
            pool = _pool(rng, site, k, max(3, math.ceil(len(idx) * POOL_RATIO[k])))
            number[idx] = pool[(len(pool) * rng.random(len(idx)) ** SKEW).astype(np.int64)]
        duration = _durations(rng, kind)
        parts.append((np.full(n, si, np.int8), ext[caller], number, start, duration))
        if fraud and site.country == "GB":
            parts.append(_fraud(rng, si, site, ext, profile, year, mon))
    site_a, ext_a, num_a, start_a, dur_a = (np.concatenate(cols) for cols in zip(*parts))
    order = np.lexsort((ext_a, site_a, start_a))  # by start time, as a PBX would emit them
    return CallBatch(site=site_a[order], extension=ext_a[order].astype(np.int32), number=num_a[order],
                     start=start_a[order].astype(np.int64), duration=dur_a[order].astype(np.int32),
                     sites=SITE_NAMES, month=f"{year:04d}-{mon:02d}")


def _parse_month(month: str) -> tuple[int, int]:
    try:
        year, mon = (int(x) for x in month.split("-"))
        dt.date(year, mon, 1)
    except (ValueError, TypeError):
        raise DemoError(_("month {month} is not a month 'YYYY-MM'").format(month=repr(month))) from None
    if not 1971 <= year <= 2099:
        raise DemoError(_("month {month} is out of range (1971 to 2099)").format(month=repr(month)))
    return year, mon


def _mix(mobile: float, intl: float, toll_free: float, premium: float) -> np.ndarray:
    m = np.zeros(len(DEST_TYPES))
    m[[MOBILE, INTERNATIONAL, TOLL_FREE, PREMIUM, HIGH_RISK, UNRATED]] = (
        mobile, intl, toll_free, premium, HIGH_RISK_SHARE, UNRATED_SHARE)
    m[NATIONAL] = 1.0 - m.sum()
    return m


def _hour_slots(site: Site, year: int, mon: int) -> tuple[np.ndarray, np.ndarray, float]:
    """UTC instants of the month's local hours, the probability of a call in each, and the number of working
    days' worth of traffic the month holds."""
    zone = ZoneInfo(site.timezone)
    hours = WEEKDAY_HOURS.copy()
    hours[list(site.lunch)] *= LUNCH_FACTOR
    days = calendar.monthrange(year, mon)[1]
    utc = np.empty(days * 24, dtype=np.int64)
    weight = np.empty(days * 24)
    for d in range(days):
        weekend = dt.date(year, mon, d + 1).weekday() >= 5
        weight[d * 24:(d + 1) * 24] = hours * (WEEKEND_FACTOR if weekend else 1.0)
        for h in range(24):
            utc[d * 24 + h] = int(dt.datetime(year, mon, d + 1, h, tzinfo=zone).timestamp())
    total = weight.sum()
    return utc, weight / total, total / hours.sum()


def _durations(rng: np.random.Generator, kind: np.ndarray) -> np.ndarray:
    n = len(kind)
    median = np.array(MEDIAN_SECONDS, dtype=float)[kind]
    talk = np.rint(median * np.exp(rng.normal(0.0, DURATION_SIGMA, n)))
    talk = np.clip(talk, 1, MAX_SECONDS)
    unanswered = rng.random(n) < np.array(UNANSWERED_SHARE)[kind]
    return np.where(unanswered, 0, talk).astype(np.int32)


def _pool(rng: np.random.Generator, site: Site, kind: int, size: int) -> np.ndarray:
    """`size` numbers of one kind for one site, made from weighted templates (duplicates are harmless)."""
    if kind == INTERNATIONAL:
        templates = _international_templates(site.country)
    else:
        templates = {
            NATIONAL: NATIONAL_NUMBERS, MOBILE: MOBILE_NUMBERS, TOLL_FREE: TOLL_FREE_NUMBERS,
            PREMIUM: PREMIUM_NUMBERS, UNRATED: UNRATED_NUMBERS,
        }.get(kind, {}).get(site.country, HIGH_RISK_NUMBERS)
    w = np.array([t[2] for t in templates], dtype=float)
    which = rng.choice(len(templates), size=size, p=w / w.sum())
    out = []
    for t, u in zip(which.tolist(), rng.random(size).tolist()):
        head, k, _size = templates[t]
        out.append(head + (_nanp(u) if k < 0 else str(int(u * 10**k)).zfill(k)))
    return np.array(out, dtype="S15")


def _nanp(u: float) -> str:
    """A NANP exchange and line number, NXX-XXXX (N = 2..9), from a uniform draw."""
    v = int(u * 8_000_000)
    return f"{2 + v // 1_000_000}{v % 1_000_000:06d}"


_INTL_CACHE: dict[str, list[tuple[str, int, float]]] = {}


def _international_templates(country: str) -> list[tuple[str, int, float]]:
    """Templates from phonenumbers' example numbers of each destination: keep the head, randomise the tail."""
    if country in _INTL_CACHE:
        return _INTL_CACHE[country]
    out: list[tuple[str, int, float]] = []
    for region, weight in INTERNATIONAL_MIX[country].items():
        for ptype, share in ((PhoneNumberType.FIXED_LINE, 1 - INTERNATIONAL_MOBILE_SHARE),
                             (PhoneNumberType.MOBILE, INTERNATIONAL_MOBILE_SHARE)):
            example = phonenumbers.example_number_for_type(region, ptype)
            if example is None:
                continue
            digits = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)[1:]
            cc = len(str(example.country_code))
            if region in ("US", "CA"):  # NPA kept, NXX-XXXX random
                out.append((digits[:4], -7, weight * share))
                continue
            k = min(6, len(digits) - cc - 3)
            out.append((digits[:-k], k, weight * share))
    _INTL_CACHE[country] = out
    return out


def _fraud(rng: np.random.Generator, si: int, site: Site, ext: np.ndarray, profile: np.ndarray,
           year: int, mon: int) -> tuple[np.ndarray, ...]:
    """A night of toll fraud: a quiet extension calls revenue-share numbers back to back from 03:00."""
    zone = ZoneInfo(site.timezone)
    saturdays = [d for d in range(1, calendar.monthrange(year, mon)[1] + 1) if dt.date(year, mon, d).weekday() == 5]
    day = saturdays[min(2, len(saturdays) - 1)]
    quiet = np.flatnonzero(profile == len(PROFILES) - 1)
    who = int(ext[quiet[rng.integers(len(quiet))]] if len(quiet) else ext[-1])
    targets = np.array(["8816" + str(int(rng.integers(10**8, 10**9))),  # two Iridium numbers and Cuba
                        "8816" + str(int(rng.integers(10**8, 10**9))),
                        "535" + str(int(rng.integers(2 * 10**6, 10**7)))], dtype="S15")
    n = FRAUD_CALLS
    duration = np.clip(np.rint(rng.normal(240, 18, n)), 150, 330).astype(np.int32)
    gaps = duration + rng.integers(5, 40, n)
    t0 = int(dt.datetime(year, mon, day, 3, 0, tzinfo=zone).timestamp()) + int(rng.integers(0, 900))
    start = t0 + np.concatenate(([0], np.cumsum(gaps[:-1]))).astype(np.int64)
    number = targets[rng.choice(3, n, p=[0.45, 0.35, 0.2])]
    return (np.full(n, si, np.int8), np.full(n, who, np.int32), number, start, duration)


# --- the PBX files ------------------------------------------------------------------------------------------

INCOMING_RATIO = 0.35  # incoming calls per outgoing call
INTERNAL_RATIO = 0.20  # internal calls per outgoing call
INCOMING_UNANSWERED = 0.14
INTERNAL_UNANSWERED = 0.22
BUSY_SHARE = 0.2  # of the calls that are not answered
TRANSFER_SHARE = 0.03  # of the answered incoming calls
ACCOUNT_PEOPLE = 0.08  # share of the extensions that key in an account code ...
ACCOUNT_CALLS = 0.6  # ... on this share of their outgoing calls
ACCOUNT_CODES = ("1024", "2208", "3150", "4711", "5005", "7310")


def pbx_calls(batch: CallBatch, si: int, seed: int) -> pbxfiles.PbxCalls:
    """Everything one site's PBX saw in the month: the batch's outgoing calls of that site (unanswered ones split
    into no answer and busy, with ring times and some account codes), plus incoming calls from the numbers the
    site calls, internal calls between its extensions, and a few incoming calls transferred to a colleague.
    Deterministic for the seed; the outgoing calls are exactly the batch's."""
    rng = np.random.default_rng([seed, 0x9B, si])
    m = batch.site == si
    ext, number, start, talk = batch.extension[m], batch.number[m], batch.start[m], batch.duration[m]
    n_out = len(start)
    if n_out == 0:
        z = np.zeros(0, dtype=np.int32)
        return pbxfiles.PbxCalls(np.zeros(0, np.int8), z, np.zeros(0, "S15"), z.astype(np.int64), z, z,
                                 np.zeros(0, np.int8), np.zeros(0, "U8"), z, z, seed)
    people = np.unique(ext)

    def outcomes(answered: np.ndarray) -> np.ndarray:
        busy = rng.random(len(answered)) < BUSY_SHARE
        return np.where(answered, pbxfiles.ANSWERED, np.where(busy, pbxfiles.BUSY, pbxfiles.NO_ANSWER)).astype(
            np.int8)

    def rings(outcome: np.ndarray) -> np.ndarray:
        k = len(outcome)
        return np.select([outcome == pbxfiles.ANSWERED, outcome == pbxfiles.BUSY],
                         [rng.integers(3, 26, k), rng.integers(1, 5, k)], rng.integers(18, 46, k)).astype(np.int32)

    def talks(k: int, median: float, unanswered: float) -> np.ndarray:
        t = np.clip(np.rint(median * np.exp(rng.normal(0.0, DURATION_SIGMA, k))), 1, MAX_SECONDS)
        return np.where(rng.random(k) < unanswered, 0, t).astype(np.int32)

    def around(k: int) -> np.ndarray:  # instants in office hours: near the site's outgoing calls
        t = start[rng.integers(0, n_out, k)] + rng.integers(-1800, 1800, k)
        return np.clip(t, start.min(), start.max()).astype(np.int64)

    # outgoing: the batch's calls
    out_outcome = outcomes(talk > 0)
    billing = people[rng.random(len(people)) < ACCOUNT_PEOPLE]
    with_code = np.isin(ext, billing) & (rng.random(n_out) < ACCOUNT_CALLS)
    account = np.where(with_code, np.array(ACCOUNT_CODES)[rng.integers(0, len(ACCOUNT_CODES), n_out)], "")
    # incoming: people and companies the site calls call back (not from service, premium or satellite numbers)
    n_in = round(n_out * INCOMING_RATIO)
    site = next(s for s in SITES if s.name == batch.sites[si])
    callers = number[_calls_back(number, site.country)]
    if len(callers) == 0:
        callers = number
    in_talk = talks(n_in, 120, INCOMING_UNANSWERED)
    in_outcome = outcomes(in_talk > 0)
    transferred = (in_talk > 0) & (rng.random(n_in) < TRANSFER_SHARE)
    in_ext = ext[rng.integers(0, n_out, n_in)]
    colleague = people[rng.integers(0, len(people), n_in)]
    colleague = np.where(colleague == in_ext, people[(np.searchsorted(people, colleague) + 1) % len(people)],
                         colleague)
    # internal: colleagues call each other
    n_int = round(n_out * INTERNAL_RATIO)
    int_ext = ext[rng.integers(0, n_out, n_int)]
    callee = people[rng.integers(0, len(people), n_int)]
    callee = np.where(callee == int_ext, people[(np.searchsorted(people, callee) + 1) % len(people)], callee)
    int_talk = talks(n_int, 60, INTERNAL_UNANSWERED)
    int_outcome = outcomes(int_talk > 0)

    outcome = np.concatenate([out_outcome, in_outcome, int_outcome])
    return pbxfiles.PbxCalls(
        direction=np.repeat(np.array([pbxfiles.OUTGOING, pbxfiles.INCOMING, pbxfiles.INTERNAL], np.int8),
                            [n_out, n_in, n_int]),
        extension=np.concatenate([ext, in_ext, int_ext]).astype(np.int32),
        other=np.concatenate([number, callers[rng.integers(0, len(callers), n_in)],
                              np.char.encode(callee.astype("U15"), "ascii")]).astype("S15"),
        start=np.concatenate([start, around(n_in), around(n_int)]),
        ring=rings(outcome),
        talk=np.concatenate([talk, in_talk, int_talk]).astype(np.int32),
        outcome=outcome,
        account=np.concatenate([account, np.full(n_in + n_int, "")]).astype("U8"),
        transfer=np.concatenate([np.zeros(n_out, np.int32), np.where(transferred, colleague, 0),
                                 np.zeros(n_int, np.int32)]).astype(np.int32),
        transfer_talk=np.concatenate([np.zeros(n_out, np.int32), np.where(transferred, talks(n_in, 150, 0.0), 0),
                                      np.zeros(n_int, np.int32)]).astype(np.int32),
        seed=seed,
    )


def _calls_back(number: np.ndarray, country: str) -> np.ndarray:
    """Which numbers may call the site: domestic fixed lines and mobiles, and foreign numbers other than the
    high-risk and unrated ranges."""
    cc = str(phonenumbers.country_code_for_region(country)).encode()
    usual = tuple(h.encode() for h, *_rest in NATIONAL_NUMBERS[country] + MOBILE_NUMBERS[country])
    odd = tuple(h.encode() for h, *_rest in HIGH_RISK_NUMBERS + UNRATED_NUMBERS[country])
    uniq, inv = np.unique(number, return_inverse=True)
    ok = np.array([n.startswith(usual) if n.startswith(cc) else not n.startswith(odd) for n in uniq.tolist()],
                  dtype=bool)
    return ok[inv.ravel()]


WRITERS = {"avaya-ipo": pbxfiles.write_ipo_smdr, "cucm": pbxfiles.write_cucm,
           "asterisk": pbxfiles.write_asterisk_csv}


def write_pbx_files(path: Path, batch: CallBatch, seed: int) -> list[Path]:
    """Each site's month as its PBX writes it, in <workspace>/cdr/: IP Office SMDR for Paris, a CUCM CDR file for
    London, Asterisk's Master.csv for New York."""
    folder = Path(path) / CDR_FOLDER
    files = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for si, site in enumerate(SITES):
            file = folder / site.cdr_file.format(month=batch.month)
            fmt = site.source["format"]
            options = {} if fmt == "asterisk" else {"site_byte": si + 1}  # the site's 10.x.0.0/16 network
            WRITERS[fmt](file, pbx_calls(batch, si, seed), site, **options)
            files.append(file)
    except OSError as exc:
        raise DemoError(_("cannot write the PBX files in {folder}: {problem}").format(
            folder=folder, problem=exc.strerror or exc)) from None
    return files


# --- rating -------------------------------------------------------------------------------------------------


@dataclass
class RatedBatch:
    """The engine's results for a CallBatch, call by call, plus each site's tariff facts."""

    status: np.ndarray  # int8, engine.STATUS_NAMES
    cost: np.ndarray  # int64, units of 10**-8 of the site's currency
    billed: np.ndarray  # int32 seconds
    destination: np.ndarray  # object: the tariff's destination name ("" when no prefix matches)
    prefix_matched: np.ndarray  # bool: some deck prefix matches the number
    currency: tuple[str, ...]  # per site
    decimals: tuple[int, ...]  # per site: the tariff's rounding decimals
    tariff: tuple[str, ...] = field(default_factory=tuple)  # per site: the tariff's name


def site_tariffs(ws: Path) -> dict[str, Path]:
    """Site name -> tariff file, from the workspace's anatole.toml."""
    conf = Path(ws) / "anatole.toml"
    try:
        doc = tomllib.loads(conf.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DemoError(_("cannot read {file}: {problem}").format(file=conf, problem=exc.strerror or exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise DemoError(_("{file}: invalid TOML: {problem}").format(file=conf, problem=exc)) from None
    out = {}
    for s in doc.get("site", []):
        if isinstance(s, dict) and isinstance(s.get("name"), str) and isinstance(s.get("tariff"), str):
            out[s["name"]] = Path(ws) / s["tariff"]
    return out


def rate_calls(ws: Path, batch: CallBatch) -> RatedBatch:
    """Rate each site's calls with that site's tariff from the workspace: one engine call per site."""
    paths = site_tariffs(ws)
    n = len(batch)
    status = np.full(n, -1, dtype=np.int8)
    cost = np.zeros(n, dtype=np.int64)
    billed = np.zeros(n, dtype=np.int32)
    matched = np.zeros(n, dtype=bool)
    destination = np.empty(n, dtype=object)
    currency, decimals, names = [], [], []
    for si, name in enumerate(batch.sites):
        if name not in paths:
            raise DemoError(_("{file}: no [[site]] named {site} with a tariff").format(
                file=Path(ws) / "anatole.toml", site=repr(name)))
        try:
            compiled = compile_tariff(load_tariff(paths[name]))
        except TariffError as exc:
            raise DemoError(_("site {site}: the tariff does not load:\n{problem}").format(
                site=repr(name), problem=exc)) from None
        t = compiled.tariff
        currency.append(t.currency)
        decimals.append(t.decimals)
        names.append(t.name)
        mask = batch.site == si
        if not mask.any():
            continue
        res = compiled.rate(batch.number[mask], batch.start[mask], batch.duration[mask])
        status[mask] = res["status"]
        cost[mask] = res["cost"]
        billed[mask] = res["billed"]
        # destination: of the rate used, else (unanswered calls) of the longest matching prefix's first rate
        n_pref = len(compiled.prefixes)
        pref_dest = np.full(n_pref + 1, -1, dtype=np.int64)
        pref_dest[compiled.rate_prefix[::-1]] = compiled.rate_dest[::-1]
        rate_dest = np.append(np.asarray(compiled.rate_dest, dtype=np.int64), -1)
        rate, prefix = np.asarray(res["rate"]), np.asarray(res["prefix"])
        d = np.where(rate >= 0, rate_dest[rate], pref_dest[prefix])
        labels = np.array(list(t.rows.destinations) + [""], dtype=object)
        destination[mask] = labels[d]
        matched[mask] = prefix >= 0
    return RatedBatch(status=status, cost=cost, billed=billed, destination=destination, prefix_matched=matched,
                      currency=tuple(currency), decimals=tuple(decimals), tariff=tuple(names))


# --- destination types --------------------------------------------------------------------------------------


def call_types(batch: CallBatch, rated: RatedBatch | None = None) -> np.ndarray:
    """destination_type for every call of a batch, each site's numbers relative to its country."""
    out = np.empty(len(batch), dtype=f"U{max(len(t) for t in DEST_TYPES)}")
    countries = {s.name: s.country for s in SITES}
    for si, name in enumerate(batch.sites):
        mask = batch.site == si
        if mask.any():
            out[mask] = destination_type(batch.number[mask], countries[name],
                                         None if rated is None else rated.status[mask])
    return out


# --- summary ------------------------------------------------------------------------------------------------


def summarise(batch: CallBatch, rated: RatedBatch, types: np.ndarray | None = None) -> dict[str, Any]:
    """Totals per site, per destination type, the unrated calls and the top 5 destinations by cost.

    JSON-serialisable: money as decimal strings at each tariff's decimals, in each site's currency.
    """
    if types is None:
        types = call_types(batch, rated)
    countries = {s.name: s.country for s in SITES}
    status, cost, dur = rated.status, rated.cost, batch.duration
    answered_mask = dur > 0
    currencies = list(dict.fromkeys(rated.currency))
    dec_of = {}
    for cur, d in zip(rated.currency, rated.decimals):
        dec_of[cur] = max(dec_of.get(cur, 0), d)

    def money(value: int, cur: str) -> str:
        return format_money(value, dec_of[cur])

    def totals(mask: np.ndarray) -> dict[str, Any]:
        seconds = int(dur[mask].sum(dtype=np.int64))
        return {"calls": int(mask.sum()), "answered": int((mask & answered_mask).sum()),
                "seconds": seconds, "minutes": round(seconds / 60, 1)}

    sites = []
    site_cost: dict[str, int] = dict.fromkeys(currencies, 0)
    for si, name in enumerate(batch.sites):
        m = batch.site == si
        cur = rated.currency[si]
        c = sum(cost[m].tolist())  # Python ints: exact, whatever the total
        site_cost[cur] += c
        sites.append({"name": name, "country": countries.get(name, ""), "tariff": rated.tariff[si],
                      "currency": cur, "extensions": len(np.unique(batch.extension[m])), **totals(m),
                      "unrated": int((m & (status == NO_RATE)).sum()), "cost": money(c, cur)})

    by_type = []
    for t in DEST_TYPES:
        m = types == t
        costs = {}
        for si in range(len(batch.sites)):
            cur = rated.currency[si]
            costs[cur] = costs.get(cur, 0) + sum(cost[m & (batch.site == si)].tolist())
        by_type.append({"type": t, **totals(m), "cost": {cur: money(v, cur) for cur, v in costs.items()}})

    unrated_mask = status == NO_RATE
    reasons = []
    for label, m in ((N_("no tariff row matches the number"), unrated_mask & ~rated.prefix_matched),
                     (N_("no rate in force for the call's band or date"), unrated_mask & rated.prefix_matched)):
        if m.any():
            top = _unmatched_ranges(batch.number[m])[:4]
            reasons.append({"reason": label, "calls": int(m.sum()),
                            "prefixes": [{"prefix": h, "calls": c} for h, c in top]})

    # top destinations by cost: (site, destination) groups, costs summed exactly
    top_rows = []
    rated_mask = status == RATED
    for si, name in enumerate(batch.sites):
        m = rated_mask & (batch.site == si)
        if not m.any():
            continue
        dests, inv = np.unique(rated.destination[m].astype(str), return_inverse=True)
        inv = inv.ravel()
        sums = [0] * len(dests)
        for g, c in zip(inv.tolist(), cost[m].tolist()):
            sums[g] += c
        calls = np.bincount(inv, minlength=len(dests))
        secs = np.bincount(inv, weights=dur[m], minlength=len(dests))
        cur = rated.currency[si]
        for g, d in enumerate(dests.tolist()):
            top_rows.append((sums[g] * RANKING_FX.get(cur, Fraction(1)), {
                "destination": d, "site": name, "calls": int(calls[g]), "minutes": round(float(secs[g]) / 60, 1),
                "cost": money(sums[g], cur), "currency": cur}))
    top_rows.sort(key=lambda r: (-r[0], r[1]["site"], r[1]["destination"]))

    starts = batch.start
    return {
        "month": batch.month,
        "first_call": _iso(int(starts.min())) if len(batch) else None,
        "last_call": _iso(int(starts.max())) if len(batch) else None,
        **totals(np.ones(len(batch), dtype=bool)),
        "status": {name: int((status == i).sum()) for i, name in enumerate(STATUS_NAMES)},
        "cost": {cur: money(v, cur) for cur, v in site_cost.items()},
        "sites": sites,
        "by_type": by_type,
        "unrated": {"calls": int(unrated_mask.sum()), "reasons": reasons},
        "top_destinations": [r[1] for r in top_rows[:5]],
    }


def type_label(kind: str) -> str:
    """A destination type (tariffs.classify.DEST_TYPES, kept in English in JSON) as a person reads it."""
    labels = {"local/national": pgettext("destination type", "local/national"),
              "mobile": pgettext("destination type", "mobile"),
              "international": pgettext("destination type", "international"),
              "toll-free": pgettext("destination type", "toll-free"),
              "premium": pgettext("destination type", "premium"),
              "high-risk": pgettext("destination type", "high-risk"),
              "unrated": pgettext("destination type", "unrated")}
    return labels.get(kind, kind)


def _unmatched_ranges(numbers: np.ndarray) -> list[tuple[str, int]]:
    """Group numbers by their first 4 digits, or 5 where those split into at most two ranges (33806, 33809):
    ("+head", calls), most called first."""
    nums, counts = np.unique(numbers, return_counts=True)
    by_head: dict[str, dict[str, int]] = {}
    for num, cnt in zip(nums.tolist(), counts.tolist()):
        text = num.decode("ascii", "replace")
        sub = by_head.setdefault(text[:4], {})
        sub[text[:5]] = sub.get(text[:5], 0) + cnt
    out: list[tuple[str, int]] = []
    for head, sub in by_head.items():
        if len(sub) <= 2:
            out += [("+" + h, c) for h, c in sub.items()]
        else:
            out.append(("+" + head, sum(sub.values())))
    return sorted(out, key=lambda hc: (-hc[1], hc[0]))


def _iso(t: int) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_summary(summary: dict[str, Any], console: Console) -> None:
    """Show a summary (from `summarise` or `run_demo`) as rich tables that fit 80 columns."""
    from rich import box
    from rich.table import Table

    month = summary.get("month") or ""
    title = month_title(month) if month else ""
    currencies = list(summary["cost"])
    people = sum(s["extensions"] for s in summary["sites"])
    console.print("[bold]anatole demo[/bold]: " + _("{month}, {sites} sites, {extensions} extensions calling out")
                  .format(month=title, sites=len(summary["sites"]), extensions=count(people)))
    console.print(_("{calls} outgoing calls, {answered} answered, {minutes} minutes of talk time").format(
        calls=count(summary["calls"]), answered=count(summary["answered"]), minutes=count(round(summary["minutes"]))))
    traffic = summary.get("traffic") or {}
    if traffic:
        incoming = sum(t.get("incoming", 0) for t in traffic.values())
        internal = sum(t.get("internal", 0) for t in traffic.values())
        console.print(_("(and {incoming} incoming and {internal} internal calls, not costed)").format(
            incoming=count(incoming), internal=count(internal)))
    console.print()

    def table(title: str) -> Table:
        # no outer edge and one space each side of the column rules: 7 columns fit 80
        return Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD,
                     show_edge=False, padding=(0, 1, 0, 0), pad_edge=False)

    def num(value: float) -> str:
        return count(round(value))

    if summary.get("imports"):
        t = table(_("Imported from the PBX files ({folder})").format(folder=f"{CDR_FOLDER}/"))
        for col in (N_("File"), N_("Format"), N_("Read"), N_("Calls"), N_("Rejected"), N_("Duplicates")):
            t.add_column(_(col), justify="left" if col in ("File", "Format") else "right", no_wrap=True,
                         overflow="ellipsis", max_width=28 if col == "File" else None)
        for r in summary["imports"]:
            t.add_row(r["file"], r["format"], num(r["read"]), num(r["calls"]), num(r["rejected"]),
                      num(r["duplicates"]))
        console.print(t)
        console.print()

    t = table(_("By site"))
    for col in (N_("Site"), N_("Calls"), N_("Answered"), N_("Minutes"), N_("Unrated"), N_("Cost")):
        t.add_column(_(col), justify="left" if col == "Site" else "right", no_wrap=True)
    for s in summary["sites"]:
        t.add_row(f"{s['name']} ({s['country']})", num(s["calls"]), num(s["answered"]), num(s["minutes"]),
                  num(s["unrated"]), display.from_text(s["cost"], s["currency"]))
    console.print(t)
    console.print()

    t = table(_("By destination type (cost in each site's currency)"))
    t.add_column(_("Type"), no_wrap=True)
    for col in (_("Calls"), _("Answered"), _("Minutes"), *currencies):
        t.add_column(col, justify="right", no_wrap=True)
    for row in summary["by_type"]:
        if row["calls"]:
            t.add_row(type_label(row["type"]), num(row["calls"]), num(row["answered"]), num(row["minutes"]),
                      *(display.from_text(row["cost"].get(c, "0"), c, code=False) for c in currencies))
    t.add_section()
    t.add_row(_("total"), num(summary["calls"]), num(summary["answered"]), num(summary["minutes"]),
              *(display.from_text(summary["cost"][c], c, code=False) for c in currencies), style="bold")
    console.print(t)
    console.print()

    unrated = summary["unrated"]
    if unrated["calls"]:
        share = unrated["calls"] / max(summary["calls"], 1)
        text = _("{calls} calls ({share}) have no price until the tariffs cover them").format(
            calls=count(unrated["calls"]), share=percent(share))
        console.print(headed(_("Unrated"), text))
        for r in unrated["reasons"]:
            heads = ", ".join(f"{p['prefix']}… {count(p['calls'])}" for p in r["prefixes"])
            line = _("{calls}: {reason} ({prefixes})").format(calls=count(r["calls"]), reason=_(r["reason"]),
                                                              prefixes=heads)
            console.print(f"  {line}")
        console.print()

    t = table(_("Top destinations by cost"))
    for col, just in (("#", "right"), (N_("Destination"), "left"), (N_("Site"), "left"), (N_("Calls"), "right"),
                      (N_("Minutes"), "right"), (N_("Cost"), "right")):
        t.add_column(_(col) if col != "#" else col, justify=just, no_wrap=True, overflow="ellipsis",
                     max_width=34 if col == "Destination" else None)
    for i, d in enumerate(summary["top_destinations"], 1):
        t.add_row(str(i), d["destination"], d["site"], num(d["calls"]), num(d["minutes"]),
                  display.from_text(d["cost"], d["currency"]))
    console.print(t)
    if summary.get("invoices"):
        console.print()
        demoinvoices.render(summary["invoices"], console)
    if summary.get("allocation"):
        console.print()
        demoinventory.render(summary["allocation"], console)
    if summary.get("mobile"):
        console.print()
        demomobile.render(summary["mobile"], console)
    if summary.get("workspace"):
        console.print()
        command = f"anatole --workspace {summary['workspace']} calls --csv"
        console.print(_("Every call: {command}").format(command=command))


# --- from the store -----------------------------------------------------------------------------------------


def stored_batch(store: Store, ws: Workspace, month: str = "") -> tuple[CallBatch, RatedBatch, dict[str, dict]]:
    """The stored outgoing calls as a CallBatch and their stored ratings as a RatedBatch (sites in SITES order,
    then any other site of the store), and the number of calls per site and direction.

    A stored status outside the engine's (service, emergency, no_tariff) counts as `invalid`; a leg whose cost
    another leg of the same call carries (billed = 0) counts at no cost."""
    names = list(SITE_NAMES)
    traffic: dict[str, dict[str, int]] = {}
    site, ext, number, start, billable, status, cost, billed, dest, matched = ([] for _column in range(10))
    status_index = {name: i for i, name in enumerate(STATUS_NAMES)}
    for row in store.calls():
        name = row["site"]
        if name not in names:
            names.append(name)
        counts = traffic.setdefault(name, {})
        counts[row["direction"]] = counts.get(row["direction"], 0) + 1
        if row["direction"] != "outgoing":
            continue
        site.append(names.index(name))
        ext.append(int(row["extension"]) if (row["extension"] or "").isdigit() else -1)
        number.append(row["number"] or "")
        start.append(row["start"])
        billable.append(row["billable"])
        status.append(status_index.get(row["status"], status_index["invalid"]))
        cost.append((row["cost"] or 0) if row["billed"] else 0)
        billed.append(row["billed_seconds"] or 0)
        dest.append(row["destination"] or "")
        matched.append(row["prefix"] is not None)
    currency, decimals, tariffs = [], [], []
    for name in names:
        cfg = ws.sites.get(name)
        if cfg is None or cfg.tariff is None:
            currency.append(ws.currency)
            decimals.append(2)
            tariffs.append("")
            continue
        t = ws.tariff(cfg.tariff).tariff
        currency.append(t.currency)
        decimals.append(t.decimals)
        tariffs.append(t.name)
    batch = CallBatch(site=np.array(site, dtype=np.int8), extension=np.array(ext, dtype=np.int32),
                      number=np.array(number, dtype="S15"), start=np.array(start, dtype=np.int64),
                      duration=np.array(billable, dtype=np.int32), sites=tuple(names), month=month)
    rated = RatedBatch(status=np.array(status, dtype=np.int8), cost=np.array(cost, dtype=np.int64),
                       billed=np.array(billed, dtype=np.int32), destination=np.array(dest, dtype=object),
                       prefix_matched=np.array(matched, dtype=bool), currency=tuple(currency),
                       decimals=tuple(decimals), tariff=tuple(tariffs))
    return batch, rated, {name: traffic.get(name, {}) for name in names}


def summarise_store(store: Store, ws: Workspace, month: str = "") -> dict[str, Any]:
    """`summarise` of the outgoing calls in the store, plus `traffic`: the stored calls per site and direction."""
    batch, rated, traffic = stored_batch(store, ws, month)
    return {**summarise(batch, rated), "traffic": traffic}


def import_files(path: Path, files: list[Path], month: str = "") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Import the PBX files into a new store in the workspace, the way `anatole import cdr FILE...` does (format
    detected, source found from anatole.toml); returns the store's summary and each file's import counts. The
    anatole.db of a previous demo run is deleted first."""
    try:
        ws = open_workspace(path)
    except ConfigError as exc:
        raise DemoError(_("the demo workspace does not load:\n{problem}").format(problem=exc)) from None
    try:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{ws.db_path}{suffix}").unlink(missing_ok=True)
        store = open_store(ws.db_path)
    except (OSError, sqlite3.Error) as exc:
        raise DemoError(_("cannot create {file}: {problem}").format(file=ws.db_path, problem=exc)) from None
    try:
        results = []
        for f in files:
            try:
                result = import_file(ws, store, f)
            except CdrImportError as exc:
                raise DemoError(_("cannot import {file}: {problem}").format(file=f, problem=exc)) from None
            results.append({**result.as_json(), "file": f.name})
        summary = summarise_store(store, ws, month)
    finally:
        store.close()
    return summary, results


# --- everything ---------------------------------------------------------------------------------------------


def run_demo(path: Path, seed: int = 7, *, month: str = "2026-10", scale: float = 1.0,
             console: Console | None = None) -> dict:
    """Create the workspace, generate a month of calls, write them as each site's PBX would (cdr/), import those
    files into the workspace's store as a user would, and return the summary of what is stored
    (JSON-serialisable) with each file's import counts; with a console, also show it."""
    path = create_workspace(Path(path))
    batch = generate_calls(seed, month, scale=scale)
    files = write_pbx_files(path, batch, seed)
    summary, imports = import_files(path, files, batch.month)
    summary = {"workspace": str(path), "seed": seed, **summary, "month": batch.month, "imports": imports}
    try:  # the inventory; a month of carrier invoices with planted errors, imported, audited and reconciled;
        # then the month's allocation to cost centres
        summary["inventory"] = demoinventory.load_in_workspace(path, batch)
        summary["invoices"] = demoinvoices.run_in_workspace(path, batch.month, seed)
        summary["allocation"] = demoinventory.allocate_in_workspace(path, batch.month,
                                                                    summary["inventory"]["move"])
        summary["mobile"] = demomobile.run_in_workspace(path, batch.month, seed)  # the fleet, right-sized
    except (demoinvoices.DemoInvoiceError, demoinventory.DemoInventoryError, demomobile.DemoMobileError) as exc:
        raise DemoError(str(exc)) from None
    if console is not None:
        render_summary(summary, console)
    return summary


__all__ = [
    "DEST_TYPES",
    "MARKER",
    "SITES",
    "CallBatch",
    "DemoError",
    "RatedBatch",
    "call_types",
    "create_workspace",
    "destination_type",
    "generate_calls",
    "import_files",
    "is_demo_workspace",
    "pbx_calls",
    "rate_calls",
    "render_summary",
    "run_demo",
    "stored_batch",
    "summarise",
    "summarise_store",
    "write_pbx_files",
]
