"""The filter line of the Calls and Live screens: `key:value` words, parsed into a CallFilter or a FilterError that
names the word at fault (shown inline, under the line).

    from:2025-03-01 to:2025-04-01 site:paris ext:2001 dest:mobile dir:out min:1.50 num:33 status:rated
    month:2025-03   day:2025-03-14   "dest:united kingdom"
    mobile (a bare word: destination)   336 (bare digits: number prefix)

The keys have French names too (du: au: mois: jour: poste: sens: statut: personne:), accepted in any language and
shown in French: they are syntax, so a fixed table (KEY_NAMES), not the message catalog. Values stay the stored
codes (`statut:rated`), plus the French directions (sortant, entrant, interne).

Dates are local to the filtered site (or the workspace's first site); `to:` is exclusive.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any

import i18n
from engine.money import MoneyError, parse_money
from i18n import _

KEYS = ("from", "to", "month", "day", "site", "ext", "dest", "dir", "min", "num", "status", "person", "cc")
DIRECTIONS = {"in": "incoming", "incoming": "incoming", "out": "outgoing", "outgoing": "outgoing",
              "int": "internal", "internal": "internal", "transit": "transit",
              "entrant": "incoming", "sortant": "outgoing", "interne": "internal"}
STATUSES = ("rated", "no_rate", "unanswered", "incoming", "internal", "transit", "service", "emergency", "invalid",
            "no_tariff")
HELP = "from: to: month: day: site: ext: dest: dir: min: num: status:"
KEY_NAMES = {"fr": {"from": "du", "to": "au", "month": "mois", "day": "jour", "ext": "poste", "dir": "sens",
                    "status": "statut", "person": "personne"}}
ALIASES = {local: key for names in KEY_NAMES.values() for key, local in names.items()}


def key_name(key: str) -> str:
    """A filter key as the user's language writes it (``ext`` → ``poste`` in French)."""
    return KEY_NAMES.get(i18n.current(), {}).get(key, key)


def canonical_key(name: str) -> str:
    """The key a typed name stands for (``poste`` → ``ext``)."""
    name = name.lower()
    return ALIASES.get(name, name)


def help_text(keys: tuple[str, ...] = KEYS[:11]) -> str:
    """``from: to: month: ...`` in the user's language: the keys a filter line takes."""
    return " ".join(f"{key_name(k)}:" for k in keys)



class FilterError(ValueError):
    pass


@dataclass(frozen=True)
class CallFilter:
    start: int | None = None
    end: int | None = None
    site: str | None = None
    extension: str | None = None
    destination: str | None = None
    direction: str | None = None
    min_cost: int | None = None
    number: str | None = None
    status: str | None = None
    person: str | None = None  # hooks for the directory (a later issue): parsed, refused by the store query
    cost_centre: str | None = None

    def store_args(self) -> dict[str, Any]:
        """Keyword arguments of Store.calls_page / calls_totals."""
        if self.person or self.cost_centre:
            raise FilterError(_("person: and cc: need the directory of people and cost centres, which this "
                                "version does not have yet"))
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in ("person", "cost_centre") and getattr(self, f.name) is not None}

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def matches(self, *, site: str = "", extension: str = "", direction: str = "", number: str = "",
                destination: str | None = None, start: int | None = None, cost: int | None = None,
                status: str | None = None) -> bool:
        """For the live screen: does a call (finished or, with destination None, in progress) pass?"""
        if self.site is not None and site != self.site:
            return False
        if self.extension is not None and extension != self.extension:
            return False
        if self.direction is not None and direction and direction != self.direction:
            return False
        if self.number is not None and not (number or "").startswith(self.number):
            return False
        if destination is not None:
            if self.destination is not None and self.destination.lower() not in destination.lower():
                return False
            if self.min_cost is not None and (cost is None or cost < self.min_cost):
                return False
            if self.status is not None and status != self.status:
                return False
        if start is not None:
            if self.start is not None and start < self.start:
                return False
            if self.end is not None and start >= self.end:
                return False
        return True


def parse_filter(text: str, *, zone_of: Callable[[str | None], str], sites: Iterable[str] = ()) -> CallFilter:
    """Parse the filter line; raise FilterError naming the first word that is wrong."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise FilterError(_("{error}: close the quote").format(error=exc)) from None
    values: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition(":")
        if word.startswith(("cost>=", "min>=")):
            key, sep, value = "min", ":", word.split(">=", 1)[1]
        if not sep:
            key, value = ("num", word) if re.fullmatch(r"\+?\d+", word) else ("dest", word)
        key = canonical_key(key)
        if key not in KEYS:
            raise FilterError(_("{word}: unknown filter {key} (use {keys})").format(word=repr(word), key=repr(key),
                                                                                    keys=help_text()))
        if not value:
            raise FilterError(_("{word}: give a value after {key}:").format(word=repr(word), key=key))
        if key in values:
            raise FilterError(_("{key}: is given twice").format(key=key))
        values[key] = value
    known = set(sites)
    site = values.get("site")
    if site is not None and known and site not in known:
        raise FilterError(_("site:{site}: no such site (sites: {sites})").format(site=site,
                                                                                  sites=", ".join(sorted(known))))
    zone = zone_of(site)
    start = end = None
    if "month" in values:
        m = re.fullmatch(r"(\d{4})-(\d{2})", values["month"])
        if not m or not 1 <= int(m[2]) <= 12:
            raise FilterError(_("month:{value}: not a month (YYYY-MM)").format(value=values["month"]))
        y, mo = int(m[1]), int(m[2])
        start = _instant(dt.datetime(y, mo, 1), zone)
        end = _instant(dt.datetime(y + mo // 12, mo % 12 + 1, 1), zone)
    if "day" in values:
        day = _date(values["day"], "day")
        start, end = _instant(day, zone), _instant(day + dt.timedelta(days=1), zone)
    if "from" in values:
        start = _instant(_date(values["from"], "from"), zone)
    if "to" in values:
        end = _instant(_date(values["to"], "to"), zone)
    if start is not None and end is not None and end <= start:
        raise FilterError(_("to: must be after from: (to: is exclusive)"))
    direction = None
    if "dir" in values:
        direction = DIRECTIONS.get(values["dir"].lower())
        if direction is None:
            raise FilterError(_("dir:{value}: use in, out, int or transit").format(value=values["dir"]))
    min_cost = None
    if "min" in values:
        try:
            min_cost = parse_money(values["min"])
        except MoneyError as exc:
            message = _("min:{value}: not an amount ({error})").format(value=values["min"], error=exc)
            raise FilterError(message) from None
        if min_cost < 0:
            raise FilterError(_("min:{value}: an amount of zero or more").format(value=values["min"]))
    number = values.get("num")
    if number is not None:
        number = number.removeprefix("+")
        if not number.isdigit() or not number.isascii():
            raise FilterError(_("num:{value}: digits only (a number or its first digits)").format(value=values["num"]))
    status = values.get("status")
    if status is not None and status not in STATUSES:
        raise FilterError(_("status:{value}: one of {statuses}").format(value=status, statuses=", ".join(STATUSES)))
    return CallFilter(start=start, end=end, site=site, extension=values.get("ext"), destination=values.get("dest"),
                      direction=direction, min_cost=min_cost, number=number, status=status,
                      person=values.get("person"), cost_centre=values.get("cc"))


def _date(text: str, key: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        message = _("{key}:{value}: not a date (YYYY-MM-DD, or YYYY-MM-DDTHH:MM)").format(key=key, value=text)
        raise FilterError(message) from None
    return when


def _instant(when: dt.datetime, zone: str) -> int:
    from tui.context import zoneinfo

    if when.tzinfo is None:
        when = when.replace(tzinfo=zoneinfo(zone))
    return int(when.timestamp())
