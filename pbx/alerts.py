"""Alert rules (toll fraud and budget): the `when` language of `[[alert]]` tables, and their evaluation.

One condition per rule (anatole.toml `[[alert]] when = "..."`, case-insensitive):

| when                                       | kind         | fires                                                  |
|--------------------------------------------|--------------|--------------------------------------------------------|
| `cost > 5` (also >=)                       | cost         | a call costs more (currency units of the call's tariff)|
| `duration > 1h` (s, m, h; bare = seconds)  | duration     | a call lasts longer                                    |
| `destination in premium, satellite, 1900`  | destination  | an outgoing call to a premium-rate / satellite number  |
|                                            |              | or to an E.164 prefix in the list                      |
| `international outside 08:00-19:00 mon-fri`| after_hours  | an outgoing international call outside those hours     |
| `calls per hour > 20`                      | rate         | an extension places more calls in one hour             |
| `cost per hour > 50`                       | rate         | an extension's calls in one hour cost more             |
| `concurrent > 10`                          | concurrent   | more outgoing calls of one site at once                |
| `roaming > 50 MB` (B, KB, MB, GB, TB)      | roaming      | a mobile line's roaming data in one month, at import   |
| `roaming cost > 20`                        | roaming      | a mobile line's billed roaming (any kind) in one month |
| `data > 10 GB`                             | data         | a mobile line's data (all zones) in one month          |

`sites = [...]` and `extensions = ["1000-1099", "2001"]` restrict a rule; `notify = ["monitor", "email:ADDRESS",
"webhook:URL", "syslog"]` says who hears of it besides the console (pbx/notify.py delivers). Money is exact
(engine.money); hours are the site's local time. Evaluation is in memory and bounded (rate windows keep two
hours, concurrency 2,000 calls per site); each alert has a dedup key so that a record processed twice raises it once.
The mobile kinds (roaming, data) are evaluated by `anatole mobile import` as usage arrives (usage_alerts), once per
line and month; volumes are decimal (1 MB = 10**6 bytes), as the carriers bill them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers

from engine.money import SCALE, parse_money
from i18n import _, ngettext, pgettext
from pbx.notify import parse_target
from store import display
from tariffs.errors import Problem

KINDS = ("cost", "duration", "destination", "after_hours", "rate", "concurrent", "roaming", "data")
USAGE_KINDS = ("roaming", "data")  # mobile usage: evaluated at import (tem.mobile), not by the daemon
SATELLITE = ("870", "881", "882", "883")  # Inmarsat, GMSS (Iridium, Thuraya...), international networks
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SEVERITY = {"cost": "warning", "duration": "warning", "destination": "critical", "after_hours": "warning",
            "rate": "warning", "concurrent": "critical", "roaming": "warning", "data": "warning"}

_CMP = r"\s*(>=|>)\s*"
_COST = re.compile(rf"^cost{_CMP}(\S+)$")
_DURATION = re.compile(rf"^duration{_CMP}(\d+)\s*([smh]?)$")
_DEST = re.compile(r"^(?:destination|number|prefix)\s+in\s+(.+)$")
_HOURS = re.compile(r"^international\s+outside\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})"
                    r"(?:\s+(\w{3})\s*-\s*(\w{3}))?$")
_RATE = re.compile(rf"^(calls|cost)\s+per\s+hour{_CMP}(\S+)$")
_CONCURRENT = re.compile(rf"^concurrent(?:\s+outgoing)?{_CMP}(\d+)$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600}
_USAGE_COST = re.compile(rf"^roaming\s+cost{_CMP}(\S+)$")
_USAGE_VOLUME = re.compile(rf"^(roaming|data){_CMP}(\d+)\s*([a-z]*)$")
BYTES = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}  # decimal, as carriers bill data


@dataclass
class Rule:
    name: str
    kind: str
    threshold: int = 0  # money units (cost), seconds (duration), count (rate, concurrent)
    inclusive: bool = False  # >= rather than >
    money: bool = False  # rate rules: cost per hour rather than calls per hour; roaming: cost rather than volume
    unit: str = ""  # roaming / data volume rules: the unit the rule was written in (messages show it)
    classes: frozenset[str] = frozenset()  # destination: premium, satellite
    prefixes: tuple[str, ...] = ()
    open_from: int = 0  # after_hours: minutes after local midnight
    open_to: int = 0
    days: frozenset[int] = frozenset(range(5))
    sites: frozenset[str] = frozenset()
    extensions: list[tuple[str, str]] = field(default_factory=list)
    notify: list[str] = field(default_factory=lambda: ["monitor"])  # pbx.notify targets; monitor: the console

    def over(self, value: int) -> bool:
        return value >= self.threshold if self.inclusive else value > self.threshold

    def applies(self, site: str, extension: str) -> bool:
        if self.sites and site not in self.sites:
            return False
        return not self.extensions or any(len(extension) == len(lo) and lo <= extension <= hi
                                          for lo, hi in self.extensions)


def parse_rules(raw: list[dict[str, Any]], where: str = "anatole.toml") -> tuple[list[Rule], list[Problem]]:
    """Rules from the `[[alert]]` tables (already checked for known keys by the config); problems name the key."""
    rules: list[Rule] = []
    problems: list[Problem] = []
    for n, table in enumerate(raw, 1):
        at = f"{where} [[alert]] #{n}"
        before = len(problems)
        rule = _rule(table, at, problems)
        if rule is not None and len(problems) == before:
            rules.append(rule)
    return rules, problems


def _rule(table: dict[str, Any], at: str, problems: list[Problem]) -> Rule | None:
    name = str(table.get("name", ""))
    when = table.get("when")
    if not isinstance(when, str):
        problems.append(Problem(at, "when", _("required: a condition such as 'cost > 5'")))
        return None
    text = " ".join(when.strip().lower().split())
    rule: Rule | None = None
    if m := _COST.match(text):
        try:
            rule = Rule(name, "cost", parse_money(m.group(2)), m.group(1) == ">=")
        except ValueError:
            problems.append(Problem(at, "when", _("{when}: {value} is not an amount (e.g. 5 or 2.50)").format(
                when=repr(when), value=repr(m.group(2)))))
            return None
    elif m := _DURATION.match(text):
        rule = Rule(name, "duration", int(m.group(2)) * _UNIT[m.group(3)], m.group(1) == ">=")
    elif m := _DEST.match(text):
        classes, prefixes = set(), []
        for word in (w.strip() for w in m.group(1).replace(";", ",").split(",")):
            w = word.lstrip("+")
            if w in ("premium", "satellite"):
                classes.add(w)
            elif w.isdigit():
                prefixes.append(w)
            else:
                problems.append(Problem(at, "when", _("{when}: {word} is not premium, satellite or an E.164 prefix "
                                                      "(digits, country code first)").format(when=repr(when),
                                                                                             word=repr(word))))
                return None
        rule = Rule(name, "destination", classes=frozenset(classes), prefixes=tuple(prefixes))
    elif m := _HOURS.match(text):
        h1, m1, h2, m2 = (int(x) for x in m.group(1, 2, 3, 4))
        if h1 > 24 or h2 > 24 or m1 > 59 or m2 > 59 or h1 * 60 + m1 >= h2 * 60 + m2:
            problems.append(Problem(at, "when", _("{when}: business hours must be HH:MM-HH:MM, start before "
                                                  "end").format(when=repr(when))))
            return None
        days = frozenset(range(5))
        if m.group(5):
            if m.group(5) not in DAYS or m.group(6) not in DAYS:
                problems.append(Problem(at, "when", _("{when}: days are mon..sun, e.g. mon-fri").format(
                    when=repr(when))))
                return None
            a, b = DAYS.index(m.group(5)), DAYS.index(m.group(6))
            days = frozenset(range(a, b + 1)) if a <= b else frozenset([*range(a, 7), *range(0, b + 1)])
        rule = Rule(name, "after_hours", open_from=h1 * 60 + m1, open_to=h2 * 60 + m2, days=days)
    elif m := _RATE.match(text):
        money = m.group(1) == "cost"
        try:
            value = parse_money(m.group(3)) if money else int(m.group(3))
        except ValueError:
            problems.append(Problem(at, "when", _("{when}: {value} is not a number").format(
                when=repr(when), value=repr(m.group(3)))))
            return None
        rule = Rule(name, "rate", value, m.group(2) == ">=", money=money)
    elif m := _CONCURRENT.match(text):
        rule = Rule(name, "concurrent", int(m.group(2)), m.group(1) == ">=")
    elif m := _USAGE_COST.match(text):
        try:
            rule = Rule(name, "roaming", parse_money(m.group(2)), m.group(1) == ">=", money=True)
        except ValueError:
            problems.append(Problem(at, "when", _("{when}: {value} is not an amount (e.g. 20 or 19.90)").format(
                when=repr(when), value=repr(m.group(2)))))
            return None
    elif m := _USAGE_VOLUME.match(text):
        unit = m.group(4)
        if unit not in BYTES:
            problems.append(Problem(at, "when", _("{when}: a volume needs its unit: B, KB, MB, GB or TB "
                                                  "(e.g. 'data > 10 GB')").format(when=repr(when))))
            return None
        rule = Rule(name, m.group(1), int(m.group(3)) * BYTES[unit], m.group(2) == ">=", unit=unit)
    else:
        problems.append(Problem(at, "when", _("{when} is not a condition I know: cost > X, duration > N[s|m|h], "
                                              "destination in premium, satellite, <prefix>..., international outside "
                                              "HH:MM-HH:MM [mon-fri], calls per hour > N, cost per hour > X, "
                                              "concurrent > N, roaming > N MB, roaming cost > X, data > N GB").format(
                                                  when=repr(when))))
        return None
    sites = table.get("sites", [])
    if not isinstance(sites, list) or not all(isinstance(s, str) for s in sites):
        problems.append(Problem(at, "sites", _("must be a list of site names")))
        return None
    rule.sites = frozenset(sites)
    exts = table.get("extensions", [])
    if rule.kind in USAGE_KINDS and (sites or exts):
        problems.append(Problem(at, "sites" if sites else "extensions",
                                _("a {kind} rule watches every mobile line: sites and extensions do not "
                                  "apply").format(kind=rule.kind)))
        return None
    if not isinstance(exts, list):
        problems.append(Problem(at, "extensions", _("must be a list like [\"1000-1099\", \"2001\"]")))
        return None
    for item in exts:
        lo, _sep, hi = str(item).partition("-")
        hi = hi or lo
        if not (lo.isdigit() and hi.isdigit() and len(lo) == len(hi) and lo <= hi):
            problems.append(Problem(at, "extensions", _("{item} is not an extension or a range like "
                                                        "1000-1099").format(item=repr(item))))
            return None
        rule.extensions.append((lo, hi))
    notify = table.get("notify", ["monitor"])
    if not isinstance(notify, list):
        problems.append(Problem(at, "notify", _("{notify} must be a list such as [\"monitor\", "
                                                "\"email:ops@example.com\", \"webhook:https://...\", "
                                                "\"syslog\"]").format(notify=repr(notify))))
        return None
    targets: list[str] = []
    for entry in notify:
        try:
            target = parse_target(entry)
        except ValueError as exc:
            problems.append(Problem(at, "notify", _("rule {name}: {error}").format(name=repr(name), error=exc)))
            return None
        if target not in targets:
            targets.append(target)
    rule.notify = targets or ["monitor"]
    return rule


@dataclass(frozen=True)
class SiteInfo:
    timezone: str
    country_code: str  # "33"


class Evaluator:
    """Rules applied to stored calls (dicts with store.CALL_COLUMNS keys and `id`), with bounded state."""

    def __init__(self, rules: list[Rule], sites: dict[str, SiteInfo]) -> None:
        self.rules = [r for r in rules if r.kind not in USAGE_KINDS]  # mobile usage rules: usage_alerts
        self.sites = sites
        self._zones: dict[str, ZoneInfo] = {}
        self._classes: dict[str, str] = {}
        self._rates: dict[tuple[str, str, str, int], list[int]] = {}  # (rule, site, ext, hour) -> [calls, cost]
        self._latest_hour = 0
        self._recent: dict[str, deque[tuple[int, int]]] = {}  # site -> (from, to) of recent outgoing calls

    def call(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        """The alerts one stored call raises (alert dicts for store.live.LiveStore.insert_alerts)."""
        out: list[dict[str, Any]] = []
        site, ext = row["site"] or "", row["extension"] or ""
        outgoing = row["direction"] == "outgoing"
        cost, currency = row["cost"], row["currency"] or ""
        start = int(row["start"])
        talk_from = int(row["answer"] or start)
        talk_to = talk_from + int(row["billable"] or 0)
        if outgoing and row["billable"]:
            recent = self._recent.setdefault(site, deque(maxlen=2000))
            recent.append((talk_from, talk_to))
        for rule in self.rules:
            if not rule.applies(site, ext):
                continue
            alert = None
            if rule.kind == "cost":
                if cost is not None and row["billed"] and rule.over(int(cost)):
                    alert = ("cost", _("call to {number} cost {cost} (over {threshold})").format(
                        number=row["number"] or row["dialled"], cost=display.money(int(cost), currency, exact=True),
                        threshold=display.amount(rule.threshold, currency, exact=True)), int(cost))
            elif rule.kind == "duration":
                if rule.over(int(row["duration"] or 0)):
                    alert = ("duration", _("call of {minutes} min {seconds} s (over {threshold} s)").format(
                        minutes=int(row["duration"]) // 60, seconds=int(row["duration"]) % 60,
                        threshold=rule.threshold), None)
            elif rule.kind == "destination":
                if outgoing and row["number"]:
                    what = self._destination(rule, row["number"])
                    if what:
                        alert = ("destination", _("{what} call to +{number}").format(what=what, number=row["number"]),
                                 cost)
            elif rule.kind == "after_hours":
                if outgoing and row["number"] and site in self.sites and \
                        not row["number"].startswith(self.sites[site].country_code) and \
                        not self._open(rule, site, start):
                    alert = ("after_hours", _("international call to +{number} outside business hours").format(
                        number=row["number"]), cost)
            elif rule.kind == "rate":
                if outgoing:
                    out += self._rate(rule, row, site, ext, start, cost)
                continue
            elif rule.kind == "concurrent":
                if outgoing and row["billable"]:
                    n = sum(1 for a, b in self._recent.get(site, ()) if a <= talk_from < b)
                    if rule.over(n):
                        out.append(_alert(rule, "concurrent", start,
                                          _("{n} outgoing calls at once at {site}").format(n=n, site=site),
                                          site, "", None, None, "", f"{rule.name}:{site}:{talk_from // 60}"))
                continue
            if alert is not None:
                kind, message, amount = alert
                out.append(_alert(rule, kind, start, message, site, ext, row["id"], amount,
                                  currency if amount is not None else "", f"{rule.name}:call:{row['id']}"))
        return out

    def state(self) -> tuple[Any, ...]:
        """A copy of the rolling state (rate windows, recent calls), to put back with restore() when the batch
        that evaluated some calls is rolled back and done again: a call is counted once."""
        return ({k: list(v) for k, v in self._rates.items()}, self._latest_hour,
                {k: deque(v, maxlen=v.maxlen) for k, v in self._recent.items()})

    def restore(self, state: tuple[Any, ...]) -> None:
        self._rates, self._latest_hour, self._recent = state

    def preload(self, rows: list[tuple[str, str, int, int, int]]) -> None:
        """The rate windows from the store (site, extension, hour, calls, cost), so that a restart neither
        forgets the calls of this hour nor raises an alert twice (its dedup key is per hour)."""
        for site, ext, hour, calls, cost in rows:
            self._latest_hour = max(self._latest_hour, int(hour))
            for rule in self.rules:
                if rule.kind == "rate" and rule.applies(site or "", ext or ""):
                    got = self._rates.setdefault((rule.name, site or "", ext or "", int(hour)), [0, 0])
                    got[0] += int(calls)
                    got[1] += int(cost)

    @property
    def stateful(self) -> bool:
        return any(r.kind in ("rate", "concurrent") for r in self.rules)

    def active(self, site: str, outgoing: int, now: int) -> list[dict[str, Any]]:
        """Concurrency rules against the calls in progress (AMI/ESL sources)."""
        return [_alert(rule, "concurrent", now, _("{n} outgoing calls in progress at {site}").format(
                    n=outgoing, site=site), site, "", None,
                       None, "", f"{rule.name}:{site}:{now // 60}")
                for rule in self.rules if rule.kind == "concurrent" and rule.applies(site, "") and rule.over(outgoing)
                and not rule.extensions]

    def _destination(self, rule: Rule, number: str) -> str:
        for p in rule.prefixes:
            if number.startswith(p):
                return _("listed prefix +{prefix}:").format(prefix=p)
        if rule.classes:
            cls = self._class(number)
            if cls in rule.classes:
                return _("premium-rate:") if cls == "premium" else _("satellite:")
        return ""

    def _class(self, number: str) -> str:
        got = self._classes.get(number)
        if got is None:
            if number.startswith(SATELLITE):
                got = "satellite"
            else:
                try:
                    kind = phonenumbers.number_type(phonenumbers.parse("+" + number))
                except phonenumbers.NumberParseException:
                    kind = None
                got = "premium" if kind in (phonenumbers.PhoneNumberType.PREMIUM_RATE,) else ""
            if len(self._classes) > 100_000:
                self._classes.clear()
            self._classes[number] = got
        return got

    def _open(self, rule: Rule, site: str, start: int) -> bool:
        zone = self._zones.get(site)
        if zone is None:
            zone = self._zones[site] = ZoneInfo(self.sites[site].timezone)
        local = dt.datetime.fromtimestamp(start, zone)
        minute = local.hour * 60 + local.minute
        return local.weekday() in rule.days and rule.open_from <= minute < rule.open_to

    def _rate(self, rule: Rule, row: dict[str, Any], site: str, ext: str, start: int, cost: int | None
              ) -> list[dict[str, Any]]:
        if not ext:
            return []
        hour = start // 3600
        if hour > self._latest_hour:
            self._latest_hour = hour
            for key in [k for k in self._rates if k[3] < hour - 1]:
                del self._rates[key]
        if hour < self._latest_hour - 1:
            return []  # an old record replayed: its hour is no longer tracked
        key = (rule.name, site, ext, hour)
        got = self._rates.setdefault(key, [0, 0])
        was = got[1] if rule.money else got[0]
        got[0] += 1
        got[1] += int(cost or 0) if row["billed"] else 0
        now = got[1] if rule.money else got[0]
        if rule.over(now) and not rule.over(was):
            message = (_("extension {extension}: {cost} in one hour").format(
                extension=ext, cost=display.money(now, row["currency"] or "", exact=True)) if rule.money else
                ngettext("extension {extension}: {n} call in one hour", "extension {extension}: {n} calls in one hour",
                         now).format(extension=ext, n=now))
            return [_alert(rule, "rate", start, message, site, ext, row["id"],
                           now if rule.money else None, (row["currency"] or "") if rule.money else "",
                           f"{rule.name}:{site}:{ext}:{hour}")]
        return []


def usage_alerts(rules: list[Rule], totals: dict[tuple[str, str], dict[str, Any]], at: int) -> list[dict[str, Any]]:
    """The mobile usage alerts of (line, month) totals: dicts with `roaming_bytes` (data outside the home zone),
    `roaming_cost` (billed outside the home zone, 10**-8 units), `data_bytes` and `currency`. One alert per rule,
    line and month (its dedup key), so that importing more usage of the same month, or the same file again, raises
    nothing new. `at`: when the usage arrived (the import)."""
    out: list[dict[str, Any]] = []
    for rule in rules:
        if rule.kind not in USAGE_KINDS:
            continue
        for (line, month), t in sorted(totals.items()):
            currency = t.get("currency") or ""
            if rule.kind == "roaming" and rule.money:
                value = int(t["roaming_cost"])
                message = _("line {line}: roaming billed {cost} in {month} (over {threshold})").format(
                    line=line, cost=display.money(value, currency, exact=True), month=month,
                    threshold=display.amount(rule.threshold, currency, exact=True))
            else:
                value = int(t["roaming_bytes" if rule.kind == "roaming" else "data_bytes"])
                if rule.kind == "roaming":
                    fmt = _("line {line}: {volume} of roaming data in {month} (over {threshold})")
                else:
                    fmt = _("line {line}: {volume} of data in {month} (over {threshold})")
                message = fmt.format(line=line, volume=_bytes(value, rule.unit), month=month,
                                     threshold=_bytes(rule.threshold, rule.unit))
            if rule.over(value):
                out.append(_alert(rule, rule.kind, at, message, "", line, None,
                                  value if rule.money else None, currency if rule.money else "",
                                  f"{rule.name}:{rule.kind}:{line}:{month}"))
    return out


def _bytes(value: int, unit: str) -> str:
    """A volume in the rule's unit, one decimal, rounded down (never shows over a threshold it is not over)."""
    per = BYTES.get(unit, 10**6)
    tenths = value * 10 // per
    units = {"b": pgettext("bytes", "B"), "kb": pgettext("bytes", "KB"), "mb": pgettext("bytes", "MB"),
             "gb": pgettext("bytes", "GB"), "tb": pgettext("bytes", "TB")}
    try:
        from babel.numbers import get_decimal_symbol

        point = get_decimal_symbol(display.locale())  # "," in French
    except Exception:  # never fail on an alert
        point = "."
    return f"{tenths // 10}{point}{tenths % 10} {units.get(unit, unit.upper())}"


def _alert(rule: Rule, kind: str, at: int, message: str, site: str, ext: str, call_id: int | None,
           amount: int | None, currency: str, dedup: str) -> dict[str, Any]:
    return {"rule": rule.name, "kind": kind, "at": at, "message": _("{rule}: {message}").format(rule=rule.name,
                                                                                              message=message),
            "severity": SEVERITY[kind], "site": site, "extension": ext, "call_id": call_id, "amount": amount,
            "currency": currency, "dedup": dedup}


__all__ = ["KINDS", "SCALE", "USAGE_KINDS", "Evaluator", "Rule", "SiteInfo", "parse_rules", "usage_alerts"]
