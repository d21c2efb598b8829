"""Monthly cost allocation: every cost of a period — the priced, billed call legs and every invoice charge — goes to
a cost centre, or to the visible "unassigned" bucket; nothing is dropped.

- Calls go to the cost centre of whoever held the extension at the call's start (the extension's own cost centre
  if it has one, else its holder's). They are summed in SQLite per extension, currency and time segment, where
  the segments are cut at local midnight of every date on which an assignment changes: a month of ten million
  calls comes back as a few thousand groups. The sums come from the per-day summary (call_days) for whole
  site-local days, and from the calls only for a day that a cut does not meet at its midnight (a site whose
  zone in anatole.toml differs from the store's): the same totals, exactly, as summing the calls.
- A charge covers a period (its own, else its invoice's, else its invoice's issue date): the holder of its line
  (DID, SIM, circuit: the inventory's `line` items) over those days takes it, split by days at every change of
  holder (a person moving department mid-month splits the month's rental at the date). A charge with no holder
  goes through the `[[allocation.rule]]`s of anatole.toml (percentages, headcount, usage), first match wins;
  else it is unassigned.
- Every split is a largest-remainder split in whole cents; what is left below a cent goes to the largest share.
  So the parts always add up exactly to the amount, and a run's cost centres plus the unassigned bucket add up
  exactly to its total.

Money is converted to the reporting currency only where costs come in several currencies, with the exact
`exchange_rates` of `[allocation]` (rounded half-even to 10**-8 per cost, before any split).
Charges are taken as the carrier lists them: without VAT where the invoice gives VAT apart (UBL, CII), with the
tax lines where the carrier bills tax as lines (X12). Credit notes count negative. Duplicates of another stored
invoice are left out; headings and information lines too.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from engine.money import SCALE, MoneyError, divide_round, format_exact, format_money, parse_money
from i18n import N_, _, ngettext
from store.cells import neutralise
from store.inventory import InventoryStore
from store.reports import TemQueries
from tem.inventory import normalise_service

CENT = SCALE // 100
UNASSIGNED = "UNASSIGNED"
METHODS = ("percent", "headcount", "usage")
MATCH_KEYS = ("carrier", "account", "category", "service", "service_kind")
RULE_KEYS = {"name", "method", "shares", "cost_centres", *MATCH_KEYS}
ALLOCATION_KEYS = {"unassigned", "exchange_rates", "rule", "gl_account", "gl_columns", "gl_delimiter"}
GL_COLUMNS = ("account", "cost_centre", "period", "amount", "currency", "description", "cost_centre_name")
DEFAULT_GL = ("account", "cost_centre", "period", "amount", "currency", "description")


HOLDER_KINDS = (N_("extension"), N_("line"))  # the words of holder()'s reasons, translated where used


class AllocationError(Exception):
    """The allocation cannot run (no data, a currency with no exchange rate...): the message says what to do."""


@dataclass
class Rule:
    name: str
    method: str
    match: dict[str, str]
    shares: dict[str, int] = field(default_factory=dict)  # percent: cost centre -> percent in 10**-8 units
    cost_centres: list[str] = field(default_factory=list)  # headcount/usage: the pool (empty: all)

    def matches(self, charge: dict[str, Any]) -> bool:
        for key, want in self.match.items():
            have = charge.get(key) or ""
            if key == "service":
                have, want = normalise_service(have), normalise_service(want)
            if have != want:
                return False
        return True


@dataclass
class AllocationConfig:
    unassigned: str = UNASSIGNED
    exchange_rates: dict[str, int] = field(default_factory=dict)  # currency -> reporting units per unit (10**-8)
    rules: list[Rule] = field(default_factory=list)
    gl_account: str = "6260"
    gl_columns: tuple[str, ...] = DEFAULT_GL
    gl_delimiter: str = ","


def _amount(value: Any) -> int:
    """A TOML number or string as an exact decimal (floats through their shortest repr: 33.33 is 33.33)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise MoneyError(_("{value} is not a number").format(value=repr(value)))
    return parse_money(repr(value) if isinstance(value, float) else str(value))


def parse_config(raw: Any, where: str, add: Any) -> AllocationConfig:
    """Validate the [allocation] table; `add(at, key, message)` records each problem (strict: unknown keys too)."""
    cfg = AllocationConfig()
    if not isinstance(raw, dict):
        add(where, "allocation", _("must be a table ([allocation])"))
        return cfg
    at = f"{where} [allocation]"
    for key in sorted(set(raw) - ALLOCATION_KEYS):
        add(at, key, _("unknown key (expected one of: {keys})").format(keys=", ".join(sorted(ALLOCATION_KEYS))))
    for key in ("unassigned", "gl_account", "gl_delimiter"):
        if key in raw and (not isinstance(raw[key], str) or not raw[key]):
            add(at, key, _("{value} must be a non-empty string").format(value=repr(raw[key])))
    cfg.unassigned = str(raw.get("unassigned", UNASSIGNED))
    cfg.gl_account = str(raw.get("gl_account", "6260"))
    cfg.gl_delimiter = str(raw.get("gl_delimiter", ","))
    if len(cfg.gl_delimiter) != 1:
        add(at, "gl_delimiter", _("{value} must be one character").format(value=repr(cfg.gl_delimiter)))
        cfg.gl_delimiter = ","
    cols = raw.get("gl_columns", list(DEFAULT_GL))
    if not isinstance(cols, list) or not cols or any(c not in GL_COLUMNS for c in cols):
        add(at, "gl_columns", _("{value} must be a list of: {choices}").format(value=repr(cols),
                                                                              choices=", ".join(GL_COLUMNS)))
    else:
        cfg.gl_columns = tuple(cols)
    rates = raw.get("exchange_rates", {})
    if not isinstance(rates, dict):
        add(at, "exchange_rates", _("must be a table like {{ GBP = \"1.15\" }} (reporting currency per unit)").format())
        rates = {}
    for cur, value in rates.items():
        if not re.fullmatch(r"[A-Z]{3}", cur):
            add(at, f"exchange_rates.{cur}", _("not an ISO 4217 code"))
            continue
        try:
            cfg.exchange_rates[cur] = _amount(value)
            if cfg.exchange_rates[cur] <= 0:
                raise MoneyError(_("must be positive"))
        except MoneyError as exc:
            add(at, f"exchange_rates.{cur}", _("{value}: {error}").format(value=repr(value), error=exc))
    rules = raw.get("rule", [])
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        add(at, "rule", _("must be an array of tables ([[allocation.rule]])"))
        rules = []
    for n, r in enumerate(rules, 1):
        rat = f"{where} [[allocation.rule]] #{n}"
        for key in sorted(set(r) - RULE_KEYS):
            add(rat, key, _("unknown key (expected one of: {keys})").format(keys=", ".join(sorted(RULE_KEYS))))
        name = r.get("name")
        if not isinstance(name, str) or not name:
            add(rat, "name", _("required: a name for the rule"))
        method = r.get("method")
        if method not in METHODS:
            add(rat, "method", _("{value} must be one of: {choices}").format(value=repr(method),
                                                                              choices=", ".join(METHODS)))
        match = {k: r[k] for k in MATCH_KEYS if k in r}
        for k, v in match.items():
            if not isinstance(v, str):
                add(rat, k, _("{value} must be a string").format(value=repr(v)))
        rule = Rule(str(name), str(method), {k: str(v) for k, v in match.items()})
        if method == "percent":
            shares = r.get("shares")
            if not isinstance(shares, dict) or not shares:
                add(rat, "shares", _("required for method = \"percent\": a table like {{ SALES = 60, OPS = 40 "
                                     "}}").format())
            else:
                try:
                    rule.shares = {str(k): _amount(v) for k, v in shares.items()}
                    if any(v < 0 for v in rule.shares.values()):
                        raise MoneyError(_("a share cannot be negative"))
                    if sum(rule.shares.values()) != 100 * SCALE:
                        raise MoneyError(_("the shares add up to {total}, not 100").format(
                            total=format_exact(sum(rule.shares.values()))))
                except MoneyError as exc:
                    add(rat, "shares", str(exc))
        elif "shares" in r:
            add(rat, "shares", _("only for method = \"percent\""))
        pool = r.get("cost_centres", [])
        if not isinstance(pool, list) or not all(isinstance(c, str) for c in pool):
            add(rat, "cost_centres", _("must be a list of cost centre codes"))
        else:
            rule.cost_centres = list(pool)
        cfg.rules.append(rule)
    return cfg


# --- splitting ---------------------------------------------------------------------------------------------


def split(amount: int, weights: Sequence[int], quantum: int = CENT) -> list[int]:
    """Split `amount` (10**-8 units) in proportion to `weights` (>= 0, not all 0) by largest remainder in whole
    quanta (cents); the part below a quantum goes to the largest weight. The parts add up exactly to `amount`,
    and each is within one quantum (plus that rest) of its exact share. Ties go to the earlier weight."""
    total = sum(weights)
    if total <= 0 or any(w < 0 for w in weights):
        raise ValueError("weights must be >= 0 and not all 0")
    sign = -1 if amount < 0 else 1
    units, rest = divmod(abs(amount), quantum)
    shares = [units * w // total for w in weights]
    remainders = [units * w % total for w in weights]
    left = units - sum(shares)
    for i in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        shares[i] += 1
    out = [s * quantum for s in shares]
    out[max(range(len(weights)), key=lambda i: (weights[i], -i))] += rest
    return [sign * x for x in out]


# --- who holds what, when -----------------------------------------------------------------------------------

END_OF_TIME = "9999-12-31"


class Owners:
    """Effective-dated ownership from the inventory, for one period: who holds an extension or a line on a date,
    and the cost centre that pays for it."""

    def __init__(self, istore: InventoryStore, start: str, end: str):
        rows = istore.items(overlapping=(start, end))
        self.versions: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in rows:
            self.versions.setdefault((r["kind"], r["key"]), []).append(r)
        self.cost_centres = {k for (kind, k) in self.versions if kind == "cost_centre"}
        self.changes = sorted({d for r in rows for d in (r["valid_from"], r["valid_to"]) if d and start < d < end})

    def _at(self, kind: str, key: str, day: str) -> dict[str, Any] | None:
        for r in self.versions.get((kind, key), ()):
            if r["valid_from"] <= day < (r["valid_to"] or END_OF_TIME):
                return r
        return None

    def holder(self, kind: str, key: str, day: str) -> tuple[str | None, str | None, str]:
        """(cost centre, person, why) of an extension or line on `day`; cost centre None when unassigned."""
        row = None
        if kind == "extension":
            site, _sep, number = key.partition("/")
            row = self._at("extension", key, day) or self._at("extension", number, day)
        else:
            row = self._at(kind, key, day)
        if row is None:
            return None, None, _("{kind} {key} is not in the inventory on {day}").format(kind=_(kind), key=key, day=day)
        person = row["person"]
        code = row["cost_centre"]
        if not code and person:
            p = self._at("person", person, day)
            if p is None:
                return None, person, _("person {person} (holder of {kind} {key}) is not in the inventory on "
                                       "{day}").format(person=person, kind=_(kind), key=key, day=day)
            code = p["cost_centre"]
            if not code:
                return None, person, _("person {person} has no cost centre on {day}").format(person=person, day=day)
        if not code:
            return None, person, _("{kind} {key} has no holder on {day}").format(kind=_(kind), key=key, day=day)
        if code not in self.cost_centres:
            return None, person, _("cost centre {code} (of {kind} {key}) is not in the inventory on {day}").format(
                code=code, kind=_(kind), key=key, day=day)
        return code, person, "direct"

    def site(self, kind: str, key: str, day: str) -> str | None:
        row = self._at(kind, key, day)
        return row["site"] if row else None

    def headcount(self, day: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for (kind, _key), rows in self.versions.items():
            if kind != "person":
                continue
            for r in rows:
                if r["valid_from"] <= day < (r["valid_to"] or END_OF_TIME) and r["cost_centre"] in self.cost_centres:
                    out[r["cost_centre"]] = out.get(r["cost_centre"], 0) + 1
        return out

    def parents(self, day: str) -> dict[str, str | None]:
        return {key: (self._at("cost_centre", key, day) or {}).get("parent") for key in self.cost_centres}


# --- the run -------------------------------------------------------------------------------------------------


@dataclass
class Allocation:
    period: str
    currency: str
    lines: list[tuple[Any, ...]] = field(default_factory=list)  # store.inventory.LINE_COLUMNS without run_id
    unassigned_code: str = UNASSIGNED
    calls: int = 0
    invoices: list[int] = field(default_factory=list)
    original: dict[str, int] = field(default_factory=dict)  # currency -> total before conversion
    parents: dict[str, str | None] = field(default_factory=dict)
    run_id: int | None = None
    marked: list[int] = field(default_factory=list)

    def by(self, column: int) -> dict[str, int]:
        out: dict[str, int] = {}
        for line in self.lines:
            out[line[column] or ""] = out.get(line[column] or "", 0) + line[-1]
        return out

    @property
    def total(self) -> int:
        return sum(line[-1] for line in self.lines)

    @property
    def unassigned(self) -> int:
        return sum(line[-1] for line in self.lines if line[0] == self.unassigned_code)

    @property
    def by_cost_centre(self) -> dict[str, int]:
        return {k: v for k, v in sorted(self.by(0).items()) if k != self.unassigned_code}

    def rollup(self) -> dict[str, int]:
        """Each cost centre's amount plus that of every cost centre below it."""
        out: dict[str, int] = {}
        for code, amount in self.by_cost_centre.items():
            seen = set()
            while code and code not in seen:
                seen.add(code)
                out[code] = out.get(code, 0) + amount
                code = self.parents.get(code)
        return dict(sorted(out.items()))

    def as_json(self) -> dict[str, Any]:
        unassigned_why: dict[str, int] = {}
        for line in self.lines:
            if line[0] == self.unassigned_code:
                unassigned_why[line[8]] = unassigned_why.get(line[8], 0) + line[-1]
        by_source = self.by(2)
        return {
            "period": self.period, "currency": self.currency, "total": format_exact(self.total),
            "allocated": format_exact(self.total - self.unassigned), "unassigned": format_exact(self.unassigned),
            "by_cost_centre": {k: format_exact(v) for k, v in self.by_cost_centre.items()},
            "rollup": {k: format_exact(v) for k, v in self.rollup().items()},
            "by_source": {k: format_exact(v) for k, v in sorted(by_source.items())},
            "unassigned_reasons": {k: format_exact(v) for k, v in sorted(unassigned_why.items(),
                                                                         key=lambda kv: -abs(kv[1]))[:20]},
            "original_currencies": {k: format_exact(v) for k, v in sorted(self.original.items())},
            "calls": self.calls, "invoices": self.invoices, "run": self.run_id, "marked_allocated": self.marked,
        }


def month_bounds(period: str) -> tuple[str, str]:
    """'YYYY-MM' -> (first day, first day of the next month) as ISO dates."""
    m = re.fullmatch(r"(\d{4})-(\d{2})", period or "")
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise AllocationError(_("--period {period} is not a month (YYYY-MM)").format(period=repr(period)))
    if not 1970 <= int(m.group(1)) <= 2099:  # the years calls can have (ingest.cdr.model.EARLIEST, LATEST)
        raise AllocationError(_("--period {period}: give a month of the years 1970 to 2099").format(
            period=repr(period)))
    y, mo = int(m.group(1)), int(m.group(2))
    nxt = dt.date(y + (mo == 12), mo % 12 + 1, 1)
    return dt.date(y, mo, 1).isoformat(), nxt.isoformat()


def local_midnight(day: str, zone: str) -> int:
    return int(dt.datetime.combine(dt.date.fromisoformat(day), dt.time(), ZoneInfo(zone)).timestamp())


def latest_period(q: TemQueries, zones: dict[str, str] | None = None) -> str | None:
    """The latest month with data: of the last call (in its site's time zone), or of the latest charge period."""
    months = []
    last = q.last_call()
    if last is not None:
        zone = ZoneInfo((zones or {}).get(last[1], "UTC"))
        months.append(dt.datetime.fromtimestamp(last[0], zone).strftime("%Y-%m"))
    for c in q.charges():
        start, _end = charge_span(c)
        months.append(start[:7])
    return max(months) if months else None


def charge_span(c: dict[str, Any]) -> tuple[str, str]:
    """The days [start, end) a charge pays for: its own period, else its invoice's, else the issue date, else the
    import date (end dates on invoices are inclusive)."""
    start = c.get("charge_start") or c.get("period_start")
    end = c.get("charge_end") if c.get("charge_start") else c.get("period_end")
    if not start:
        start = c.get("issue_date") or dt.datetime.fromtimestamp(c["imported_at"], dt.timezone.utc).date().isoformat()
        end = None
    try:
        first = dt.date.fromisoformat(start[:10])
        last = dt.date.fromisoformat(end[:10]) if end else first
    except ValueError:
        first = last = dt.datetime.fromtimestamp(c["imported_at"], dt.timezone.utc).date()
    if last < first:
        last = first
    return first.isoformat(), (last + dt.timedelta(days=1)).isoformat()


def _days(a: str, b: str) -> int:
    return (dt.date.fromisoformat(b) - dt.date.fromisoformat(a)).days


def allocate(q: TemQueries, istore: InventoryStore, *, period: str, currency: str, zones: dict[str, str],
             config: AllocationConfig | None = None, only: str | None = None) -> Allocation:
    """Allocate every cost of `period` (YYYY-MM); `zones` maps site names to their IANA time zone (others: UTC).
    With `only`, just the costs in that currency (no conversion). Raises AllocationError when costs come in a
    currency with no exchange rate."""
    cfg = config or AllocationConfig()
    first, nxt = month_bounds(period)
    owners = Owners(istore, first, nxt)
    out = Allocation(period, currency, unassigned_code=cfg.unassigned, parents=owners.parents(first))
    missing: set[str] = set()

    def convert(amount: int, cur: str) -> int:
        out.original[cur] = out.original.get(cur, 0) + amount
        if cur == currency or not cur:
            return amount
        rate = cfg.exchange_rates.get(cur)
        if rate is None:
            missing.add(cur)
            return 0
        return divide_round(amount * rate, SCALE, "half_even")

    # calls: per site, in segments cut at the dates where any assignment changes
    lo_all = local_midnight(first, "UTC") - 2 * 86400
    hi_all = local_midnight(nxt, "UTC") + 2 * 86400
    usage: dict[str, int] = {}
    for site in q.call_sites(lo_all, hi_all):
        zone = zones.get(site, "UTC")
        days = [first, *owners.changes]
        bounds = [local_midnight(d, zone) for d in owners.changes]
        for ext, cur, seg, cost, n in q.call_costs_summary(site, local_midnight(first, zone),
                                                           local_midnight(nxt, zone), bounds):
            if only and cur != only:
                continue
            out.calls += n
            amount = convert(cost, cur)
            key = f"{site}/{ext}"
            if ext:
                code, person, why = owners.holder("extension", key, days[seg])
            else:
                code, person, why = None, None, _("calls of {site} with no extension").format(site=site)
            code = code or cfg.unassigned
            if code != cfg.unassigned:
                usage[code] = usage.get(code, 0) + amount
            out.lines.append((code, person, "calls", key, site, None, ext or None, "calls",
                              "direct" if why == "direct" else why, cost, cur, amount))

    # charges: by the holder of their line over the days they pay for, else by rule, else unassigned
    pending_rules = []
    invoices = set()
    spans: dict[tuple[Any, ...], tuple[str, str]] = {}
    # a line's holders over a span are the same for every charge of that line and span (an invoice has many)
    holders: dict[tuple[str, str, str], tuple[str | None, list[tuple[str | None, str | None, str, int]]]] = {}
    for c in q.charges():
        span_key = tuple(c.get(k) for k in ("charge_start", "charge_end", "period_start", "period_end",
                                            "issue_date", "imported_at"))
        if span_key not in spans:
            spans[span_key] = charge_span(c)
        start, end = spans[span_key]
        if not (first <= start < nxt) or (only and c["currency"] != only):
            continue
        invoices.add(c["invoice_id"])
        amount = -c["amount"] if c["credit"] else c["amount"]
        value = convert(amount, c["currency"])
        ref = f"{c['number']}#{c['seq']}"
        key = (c["service"] or "", start, end)
        if key not in holders:
            holders[key] = _line_holders(owners, c["service"], start, end)
        site, pieces = holders[key]  # pieces: (code, person, why, days)
        base = (c["carrier"], c["service"], c["category"], amount, c["currency"], site)
        if not pieces or all(p[0] is None for p in pieces):
            pending_rules.append((c, value, ref, base, pieces, start))
            continue
        shares = [value] if len(pieces) == 1 else split(value, [p[3] for p in pieces])
        for (code, person, why, _days), share in zip(pieces, shares):
            out.lines.append(_charge_line(code or cfg.unassigned, person, ref, c, "direct" if code else why,
                                          base, share))
    for c, value, ref, base, pieces, start in pending_rules:
        rule = next((r for r in cfg.rules if r.matches(c)), None)
        why = pieces[0][2] if pieces else _("no service identifier")
        if rule is None:
            out.lines.append(_charge_line(cfg.unassigned, None, ref, c, why, base, value))
            continue
        if rule.method == "percent":
            weights = dict(rule.shares)
        elif rule.method == "headcount":
            weights = owners.headcount(start)
        else:
            weights = {k: v for k, v in usage.items() if v > 0}
        if rule.cost_centres:
            weights = {k: v for k, v in weights.items() if k in rule.cost_centres}
        weights = {k: v for k, v in sorted(weights.items()) if v > 0}
        if not weights:
            out.lines.append(_charge_line(cfg.unassigned, None, ref, c, _("rule {name}: nothing to share by "
                                                                          "({method})").format(
                name=rule.name, method=rule.method), base, value))
            continue
        codes = list(weights)
        for code, share in zip(codes, split(value, list(weights.values()))):
            known = code in owners.cost_centres
            out.lines.append(_charge_line(code if known else cfg.unassigned, None, ref, c,
                                          _("rule {name} ({method})").format(name=rule.name, method=rule.method)
                                          if known else _("rule {name}: cost centre {code} is not in the "
                                                          "inventory").format(name=rule.name, code=code),
                                          base, share))
    if missing:
        example = ", ".join(f'{m} = "1.00"' for m in sorted(missing))
        raise AllocationError(ngettext(
            "costs of {period} are in {currencies} as well as {currency}, and anatole.toml has no exchange rate for "
            "it: add [allocation] exchange_rates = {{ {example} }} (units of {currency} per unit, exact decimals), "
            "or allocate one currency at a time with --currency",
            "costs of {period} are in {currencies} as well as {currency}, and anatole.toml has no exchange rate for "
            "them: add [allocation] exchange_rates = {{ {example} }} (units of {currency} per unit, exact "
            "decimals), or allocate one currency at a time with --currency", len(missing)).format(
                period=period, currencies=", ".join(sorted(missing)), currency=currency, example=example))
    out.invoices = sorted(invoices)
    return out


def _line_holders(owners: Owners, service: str | None, start: str, end: str
                  ) -> tuple[str | None, list[tuple[str | None, str | None, str, int]]]:
    """(site, pieces) of a line over the days [start, end): (cost centre, person, why, days) per run of days with
    the same holder; no pieces without a service."""
    if not service:
        return None, []
    line = normalise_service(service)
    pieces: list[tuple[str | None, str | None, str, int]] = []
    cuts = [start, *[d for d in owners.changes if start < d < end], end]
    for a, b in zip(cuts, cuts[1:]):
        code, person, why = owners.holder("line", line, a)
        if pieces and pieces[-1][:3] == (code, person, why):
            pieces[-1] = (code, person, why, pieces[-1][3] + _days(a, b))
        else:
            pieces.append((code, person, why, _days(a, b)))
    return owners.site("line", line, start), pieces


def _charge_line(code: str, person: str | None, ref: str, c: dict[str, Any], why: str, base: tuple, amount: int
                 ) -> tuple[Any, ...]:
    carrier, service, category, original, cur, site = base
    return (code, person, "charge", ref, site, carrier, service, category, why, original, cur, amount)


# --- statements and the ledger ---------------------------------------------------------------------------------


def statement(istore: InventoryStore, run: dict[str, Any], *, cost_centre: str | None = None,
              person: str | None = None) -> dict[str, Any]:
    """A chargeback statement: the lines of one cost centre or person in a stored run, with totals by kind."""
    lines = istore.run_lines(run["id"], cost_centre=cost_centre, person=person)
    by_category: dict[str, int] = {}
    for line in lines:
        by_category[line["category"] or ""] = by_category.get(line["category"] or "", 0) + line["amount"]
    return {
        "period": run["period"], "currency": run["currency"], "cost_centre": cost_centre, "person": person,
        "total": format_exact(sum(line["amount"] for line in lines)),
        "by_category": {k: format_exact(v) for k, v in sorted(by_category.items())},
        "lines": [{"cost_centre": line["cost_centre"], "person": line["person"], "source": line["source"],
                   "ref": line["ref"], "carrier": line["carrier"], "service": line["service"],
                   "category": line["category"], "method": line["method"], "amount": format_exact(line["amount"]),
                   "original": format_exact(line["original"]), "original_currency": line["original_currency"]}
                  for line in lines],
    }


def gl_lines(run: dict[str, Any], by_cost_centre: dict[str, int], accounts: dict[str, str | None],
             names: dict[str, str | None], cfg: AllocationConfig) -> list[dict[str, str]]:
    """Journal lines of a run, one per cost centre (unassigned included), rounded to cents by largest remainder so
    that the journal adds up to the run's total rounded to the cent."""
    codes = [k for k, v in sorted(by_cost_centre.items()) if v != 0]
    total = sum(by_cost_centre[k] for k in codes)
    rounded_total = divide_round(total, CENT, "half_even") * CENT
    if codes:
        weights = [abs(by_cost_centre[k]) for k in codes]
        # split the rounded total like the exact amounts; signs kept per line through the exact part
        exact = [by_cost_centre[k] for k in codes]
        cents = [divide_round(v, CENT, "half_even") * CENT for v in exact]
        diff = (rounded_total - sum(cents)) // CENT
        order = sorted(range(len(codes)), key=lambda i: (-weights[i], i))
        for i in order[:abs(diff)]:
            cents[i] += CENT if diff > 0 else -CENT
    else:
        cents = []
    return [{"account": accounts.get(code) or cfg.gl_account, "cost_centre": code, "period": run["period"],
             "amount": format_money(amount, 2), "currency": run["currency"],
             "description": _("telecom costs {period}").format(period=run["period"]),
             "cost_centre_name": names.get(code) or ""}
            for code, amount in zip(codes, cents)]


def gl_csv(lines: list[dict[str, str]], cfg: AllocationConfig) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=cfg.gl_delimiter, lineterminator="\n")
    writer.writerow(cfg.gl_columns)
    for line in lines:
        # cost centre names and accounts come from the inventory's files: neutralised; amounts keep their sign
        writer.writerow([neutralise(line[c]) for c in cfg.gl_columns])
    return out.getvalue()


def period_days(period: str) -> int:
    y, m = map(int, period.split("-"))
    return calendar.monthrange(y, m)[1]
