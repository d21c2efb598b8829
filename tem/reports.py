"""Reports: what telecom costs, where, and where money is wasted — as tables with a chart, written to CSV, XLSX (with
a native chart) or PDF.

Each report is a `Report`: columns with a type (text, int, money, seconds, number), rows, and the column to chart.
Money stays an int of 10**-8 units until it is written: CSV gets exact decimal strings, XLSX and PDF get the
amount for display (spreadsheets store numbers as doubles; the CSV is the exact copy). Text cells that begin with
= + - @ are neutralised (a leading apostrophe) in CSV and XLSX, so that a caller name or a description cannot run
as a formula in a spreadsheet.

Cost reports read the allocation of the period (the stored run, else one computed on the spot and not stored).
Traffic reports (TRAFFIC: incoming calls, internal pairs, trunk blocking) read the calls alone, each site over its own
local month; their per-call work runs in SQLite (legs folded by GROUP BY) and numpy, never a Python loop per call.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from engine.money import format_amount, format_exact
from i18n import N_, _, pgettext
from store import display
from store.cells import neutralise

REPORTS = {  # the English titles (marked with N_); title(name) gives a report's title in the process language
    "cost-by-cost-centre": N_("Cost by cost centre"),
    "cost-by-site": N_("Cost by site"),
    "cost-by-carrier": N_("Cost by carrier"),
    "cost-by-service-type": N_("Cost by service type"),
    "month-over-month": N_("Cost by cost centre, month over month"),
    "budget-vs-actual": N_("Budget vs actual by cost centre"),
    "top-callers": N_("Top callers"),
    "top-destinations": N_("Top destinations"),
    "off-hours": N_("Calls outside business hours"),
    "international": N_("International calls"),
    "unused-lines": N_("Unused lines (rental billed, no traffic)"),
    "trunk-usage": N_("Trunk usage and busy hour"),
    "busy-hour": N_("Traffic by hour of day"),
    "incoming": N_("Incoming calls by extension"),
    "incoming-groups": N_("Incoming calls by hunt group"),
    "incoming-hours": N_("Incoming calls by hour of day"),
    "internal": N_("Internal traffic: who calls whom"),
    "trunks": N_("Trunk occupancy and blocking (Erlang B)"),
}
# Column ids (English, the machine form: --json "columns", Report.ids) and their headings for people (exports,
# screen, terminal) in the process language; a money heading carries its currency ("total EUR" → "total EUR").
HEADINGS = {h: h for h in (
    N_("cost centre"), N_("site"), N_("carrier"), N_("service type"), N_("name"), N_("calls"), N_("charges"),
    N_("total"), N_("change"), N_("budget"), N_("actual"), N_("variance"), N_("used %"), N_("extension"),
    N_("destination"), N_("currency"), N_("answered"), N_("minutes"), N_("cost"), N_("service"), N_("kind"),
    N_("holder"), N_("rental in period"), N_("hour"), N_("erlangs (average day)"), N_("trunk"), N_("busy hour"),
    N_("erlangs in busy hour"), N_("missed"), N_("abandoned"), N_("answered %"), N_("avg ring s"), N_("p90 ring s"),
    N_("missed after hours"), N_("hunt group"), N_("members"), "from", "to", N_("peak simultaneous"),
    N_("lines"), N_("blocking % (Erlang B)"))}
_LINES_FOR = re.compile(r"lines for (\S+) %")


def title(name: str) -> str:
    """A report's title in the process language."""
    return _(REPORTS[name]) if name in REPORTS else name


def heading(column: str) -> str:
    """The heading people read for a column id, in the process language (the id itself when it is a month)."""
    if column == "from":  # the caller of an internal pair
        return pgettext("report column", "from")
    if column == "to":
        return pgettext("report column", "to")
    if column in HEADINGS:
        return _(column)
    word, _sep, currency = column.rpartition(" ")
    if word in HEADINGS and len(currency) == 3 and currency.isalpha() and currency.isupper():
        return _("{heading} {currency}").format(heading=_(word), currency=currency)
    if m := _LINES_FOR.fullmatch(column):
        return _("lines for {percent} %").format(percent=m.group(1))
    return column
FORMATS = ("csv", "xlsx", "pdf")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SETTINGS_KEYS = {"business_hours", "business_days", "unused_days", "top", "abandon_seconds"}
TRAFFIC = ("incoming", "incoming-groups", "incoming-hours", "internal", "trunks")  # the reports that cost nothing
BLOCKING_TARGET = 0.01  # the grade of service the `trunks` report sizes lines for (1 % of calls blocked)
Hours = tuple[tuple[tuple[int, ...], int, int], ...]  # (weekdays 0 = Monday, start, end minutes after midnight)


class ReportError(Exception):
    """A report cannot be produced (unknown name or format, nothing to report on): the message says why."""


@dataclass
class ReportSettings:
    business_start: int = 8 * 60  # minutes after local midnight
    business_end: int = 19 * 60
    business_days: tuple[int, ...] = (0, 1, 2, 3, 4)
    unused_days: int = 30
    top: int = 20
    abandon_seconds: int = 10  # an incoming call that rang out sooner than this was abandoned by the caller


def parse_settings(raw: Any, where: str, add: Any) -> ReportSettings:
    """Validate the [reports] table; `add(at, key, message)` records each problem (unknown keys too)."""
    s = ReportSettings()
    if not isinstance(raw, dict):
        add(where, "reports", _("must be a table ([reports])"))
        return s
    at = f"{where} [reports]"
    for key in sorted(set(raw) - SETTINGS_KEYS):
        add(at, key, _("unknown key (expected one of: {keys})").format(keys=", ".join(sorted(SETTINGS_KEYS))))
    hours = raw.get("business_hours", "08:00-19:00")
    m = re.fullmatch(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})", hours) if isinstance(hours, str) else None
    if not m or int(m.group(1)) * 60 + int(m.group(2)) >= int(m.group(3)) * 60 + int(m.group(4)) or \
            int(m.group(3)) * 60 + int(m.group(4)) > 24 * 60:
        add(at, "business_hours", _("{value} must be \"HH:MM-HH:MM\" with the start before the end").format(
            value=repr(hours)))
    else:
        s.business_start = int(m.group(1)) * 60 + int(m.group(2))
        s.business_end = int(m.group(3)) * 60 + int(m.group(4))
    days = raw.get("business_days", list(DAYS[:5]))
    if not isinstance(days, list) or not days or any(d not in DAYS for d in days):
        add(at, "business_days", _("{value} must be a list of: {days}").format(value=repr(days), days=", ".join(DAYS)))
    else:
        s.business_days = tuple(sorted(DAYS.index(d) for d in days))
    for key in ("unused_days", "top", "abandon_seconds"):
        value = raw.get(key, getattr(s, key))
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            add(at, key, _("{value} must be a whole number of at least 1").format(value=repr(value)))
        else:
            setattr(s, key, value)
    return s


@dataclass
class Report:
    name: str
    title: str
    period: str
    columns: list[tuple[str, str]]  # (heading, type: text | int | money | seconds | number); see build()
    rows: list[list[Any]] = field(default_factory=list)
    chart: tuple[int, int] | None = None  # (category column, value column)
    notes: list[str] = field(default_factory=list)
    currency: str = ""  # of the money columns when the rows have no "currency" column (the workspace's)
    ids: list[str] = field(default_factory=list)  # the columns' English ids (--json), when the headings are translated

    def cell(self, value: Any, kind: str) -> str:
        if value is None:
            return ""
        if kind == "money":
            return format_exact(int(value))
        if kind == "seconds":
            return f"{int(value) / 60:.1f}"
        return str(value)

    def text_rows(self) -> list[list[str]]:
        """Exact cells (exports, --json): every decimal of every amount."""
        return [[self.cell(v, k) for v, (_unused, k) in zip(row, self.columns)] for row in self.rows]

    def row_currency(self, row: list[Any], heading: str = "") -> str:
        """The currency of a row's amounts: its "currency" column, else the money column's heading ("total EUR")."""
        for i, (name, kind) in enumerate(self.columns):
            if (self.ids[i] if i < len(self.ids) else name) == "currency" and kind == "text" and i < len(row):
                return str(row[i] or "")
        last = heading.rsplit(" ", 1)[-1]
        return last if len(last) == 3 and last.isalpha() and last.isupper() else self.currency

    def display_rows(self) -> list[list[str]]:
        """Cells for a screen or a terminal table: amounts with their currency's decimals and the currency
        (store.display); the exact figures stay in text_rows and the exports."""
        out = []
        for row in self.rows:
            cells = []
            for v, (heading, kind) in zip(row, self.columns):
                if kind == "money" and v is not None:
                    cur = self.row_currency(row, heading)
                    cells.append(display.money(int(v), cur))
                elif kind in ("seconds", "number"):
                    cells.append(_local_number(self.cell(v, kind)))
                else:
                    cells.append(self.cell(v, kind))
            out.append(cells)
        return out

    def row_currencies(self) -> list[str]:
        """Each row's currency (see row_currency, for the charted column): charts never mix two currencies."""
        heading = self.columns[self.chart[1]][0] if self.chart else ""
        return [self.row_currency(row, heading) for row in self.rows]

    def as_json(self) -> dict[str, Any]:
        return {"report": self.name, "title": self.title, "period": self.period,
                "columns": self.ids or [c for c, _k in self.columns], "rows": self.text_rows(), "notes": self.notes}


def _local_number(text: str) -> str:
    """A decimal cell ("12.5", "0.125") in the locale's style on screen ("12,5" in French), its decimals kept;
    English keeps the plain figure (as the exports write it)."""
    if not text or display.locale().split("_")[0] == "en":
        return text
    try:
        from babel.numbers import format_decimal

        places = len(text.partition(".")[2])
        return format_decimal(Decimal(text), format="#,##0" + ("." + "0" * places if places else ""),
                              locale=display.locale(), decimal_quantization=True)
    except Exception:  # never fail on screen
        return text


# --- building ----------------------------------------------------------------------------------------------


class Context:
    """What reports read: the workspace (sites, settings), the queries, the inventory, and allocations (cached)."""

    def __init__(self, ws: Any, q: Any, istore: Any):
        self.ws, self.q, self.istore = ws, q, istore
        self.settings: ReportSettings = ws.report_settings or ReportSettings()
        self._alloc: dict[str, Any] = {}

    def allocation(self, period: str) -> Any:
        """The period's allocation: the latest stored run's lines, else computed now (not stored)."""
        from tem import allocation as al

        if period not in self._alloc:
            run = self.istore.latest_run(period)
            if run is not None:
                lines = [tuple(r[c] for c in ("cost_centre", "person", "source", "ref", "site", "carrier", "service",
                                               "category", "method", "original", "original_currency", "amount"))
                         for r in self.istore.run_lines(run["id"])]
                first, _end = al.month_bounds(period)
                result = al.Allocation(period, run["currency"], lines,
                                       unassigned_code=(self.ws.allocation or al.AllocationConfig()).unassigned,
                                       parents=al.Owners(self.istore, first, al.month_bounds(period)[1])
                                       .parents(first))
            else:
                result = al.allocate(self.q, self.istore, period=period, currency=self.ws.currency,
                                     zones={n: s.timezone for n, s in self.ws.sites.items()},
                                     config=self.ws.allocation)
            self._alloc[period] = result
        return self._alloc[period]

    def span(self, period: str) -> tuple[int, int]:
        """[start, end) instants of the month, widened to cover every site's local month."""
        from tem.allocation import local_midnight, month_bounds

        first, nxt = month_bounds(period)
        zones = [s.timezone for s in self.ws.sites.values()] or ["UTC"]
        return min(local_midnight(first, z) for z in zones), max(local_midnight(nxt, z) for z in zones)

    def site_spans(self, period: str) -> list[tuple[str, int, int]]:
        """(site, start, end) of every site with calls in the month, each over its own local month (a site missing
        from anatole.toml in UTC)."""
        from tem.allocation import local_midnight, month_bounds

        first, nxt = month_bounds(period)
        start, end = self.span(period)
        out = []
        for site in self.q.call_sites(start, end):
            zone = self.ws.sites[site].timezone if site in self.ws.sites else "UTC"
            out.append((site, local_midnight(first, zone), local_midnight(nxt, zone)))
        return out

    def names(self, kind: str, period: str) -> dict[str, str]:
        from tem.allocation import month_bounds

        first, nxt = month_bounds(period)
        return {r["key"]: r["name"] or "" for r in self.istore.items(kind, overlapping=(first, nxt))}


def _grouped(alloc: Any, column: int) -> list[tuple[str, int, int, int]]:
    """(group, calls cost, charges cost, total) of an allocation by one of its line columns."""
    out: dict[str, list[int]] = {}
    for line in alloc.lines:
        key = line[column] or (pgettext("report row", "calls") if line[2] == "calls" and column == 5 else _("(none)"))
        acc = out.setdefault(key, [0, 0])
        acc[0 if line[2] == "calls" else 1] += line[-1]
    return sorted(((k, a, b, a + b) for k, (a, b) in out.items()), key=lambda r: -abs(r[3]))


def build(ctx: Context, name: str, period: str) -> Report:
    """Build one report of `period` (YYYY-MM); amounts without a currency column are in the workspace's. The
    title, headings and notes are in the process language (what people read: screen, CSV, XLSX, PDF); the column
    ids stay English in `ids` (--json)."""
    r = _build(ctx, name, period)
    r.currency = r.currency or ctx.ws.currency
    r.ids = [c for c, _kind in r.columns]
    r.columns = [(heading(c), kind) for c, kind in r.columns]
    return r


def _build(ctx: Context, name: str, period: str) -> Report:
    if name not in REPORTS:
        raise ReportError(_("no report {name} (reports: {names})").format(name=repr(name), names=", ".join(REPORTS)))
    title = _(REPORTS[name])
    cur = ctx.ws.currency
    if name in ("cost-by-cost-centre", "cost-by-site", "cost-by-carrier", "cost-by-service-type"):
        alloc = ctx.allocation(period)
        column = {"cost-by-cost-centre": 0, "cost-by-site": 4, "cost-by-carrier": 5, "cost-by-service-type": 7}[name]
        label = {0: "cost centre", 4: "site", 5: "carrier", 7: "service type"}[column]
        r = Report(name, title, period, [(label, "text"), ("name", "text"), (f"calls {alloc.currency}", "money"),
                                         (f"charges {alloc.currency}", "money"), (f"total {alloc.currency}", "money")],
                   chart=(0, 4))
        names = ctx.names("cost_centre", period) if column == 0 else {}
        for key, calls, charges, total in _grouped(alloc, column):
            r.rows.append([key, names.get(key, ""), calls, charges, total])
        r.rows.append(["total", "", sum(x[2] for x in r.rows), sum(x[3] for x in r.rows),
                       sum(x[4] for x in r.rows)])
        # the currency's decimals and the exact figure; no locale: the notes go into the exports as they are
        shown = format_amount(display.round_display(alloc.unassigned, alloc.currency),
                              display.decimals_for(alloc.currency))
        r.notes.append(_("unassigned: {amount} {currency} (exact {exact})").format(
            amount=shown, currency=alloc.currency, exact=format_exact(alloc.unassigned)))
        return r
    if name == "month-over-month":
        periods = _months_back(period, 6)
        r = Report(name, title, period, [("cost centre", "text")] + [(p, "money") for p in periods]
                   + [("change", "money")], chart=(0, len(periods)))
        table: dict[str, list[int]] = {}
        for i, p in enumerate(periods):
            for code, amount in _by_code(ctx.allocation(p)).items():
                table.setdefault(code, [0] * len(periods))[i] = amount
        for code, values in sorted(table.items()):
            r.rows.append([code, *values, values[-1] - values[-2] if len(values) > 1 else 0])
        return r
    if name == "budget-vs-actual":
        alloc = ctx.allocation(period)
        rollup = alloc.rollup()
        r = Report(name, title, period, [("cost centre", "text"), ("name", "text"), (f"budget {cur}", "money"),
                                         (f"actual {cur}", "money"), ("variance", "money"), ("used %", "number")],
                   chart=(0, 3))
        from tem.allocation import month_bounds

        first, nxt = month_bounds(period)
        for row in ctx.istore.items("cost_centre", overlapping=(first, nxt)):
            if row["valid_from"] > first:
                continue
            actual = rollup.get(row["key"], 0)
            budget = row["budget"]
            used = f"{Decimal(actual) * 100 / Decimal(budget):.1f}" if budget else ""
            r.rows.append([row["key"], row["name"] or "", budget, actual,
                           (budget - actual) if budget is not None else None, used])
        return r
    if name in ("incoming", "incoming-groups", "incoming-hours", "internal"):
        return {"incoming": _incoming_by_extension, "incoming-groups": _incoming_by_group,
                "incoming-hours": _incoming_by_hour, "internal": _internal}[name](ctx, period, title)
    start, end = ctx.span(period)
    if name in ("top-callers", "top-destinations"):
        by = "extension" if name == "top-callers" else "destination"
        rows = ctx.q.call_groups(start, end, by, where="outgoing", limit=ctx.settings.top)
        r = Report(name, title, period, [(by, "text"), ("currency", "text"), ("calls", "int"), ("answered", "int"),
                                         ("minutes", "seconds"), ("cost", "money")], chart=(0, 5))
        for g in rows:
            r.rows.append([g["k"] or _("(none)"), g["currency"] or "", g["calls"], g["answered"], g["seconds"],
                           g["cost"]])
        return r
    if name in ("off-hours", "international"):
        cols = ctx.q.outgoing_starts(start, end)
        mask = _off_hours(ctx, cols) if name == "off-hours" else _international(ctx, cols)
        r = Report(name, title, period, [("site", "text"), ("extension", "text"), ("currency", "text"),
                                         ("calls", "int"), ("minutes", "seconds"), ("cost", "money")], chart=(1, 5))
        groups: dict[tuple[str, str, str], list[int]] = {}
        for site, ext, currency, secs, cost in zip(cols["site"][mask].tolist(), cols["extension"][mask].tolist(),
                                                   cols["currency"][mask].tolist(), cols["seconds"][mask].tolist(),
                                                   cols["cost"][mask].tolist()):
            acc = groups.setdefault((site, ext, currency), [0, 0, 0])
            acc[0] += 1
            acc[1] += secs
            acc[2] += cost
        for (site, ext, currency), (n, secs, cost) in sorted(groups.items(), key=lambda kv: -kv[1][2])[:200]:
            r.rows.append([site, ext or _("(none)"), currency, n, secs, cost])
        r.notes.append(_("{n} of {total} outgoing call(s)").format(n=int(mask.sum()), total=len(mask)))
        return r
    if name == "unused-lines":
        return _unused(ctx, period, title)
    if name in ("trunk-usage", "busy-hour"):
        return _traffic(ctx, name, period, title, start, end)
    if name == "trunks":
        return _trunks(ctx, period, title, start, end)
    raise ReportError(name)  # pragma: no cover


def _by_code(alloc: Any) -> dict[str, int]:
    out = dict(alloc.by_cost_centre)
    if alloc.unassigned:
        out[alloc.unassigned_code] = alloc.unassigned
    return out


def _months_back(period: str, n: int) -> list[str]:
    y, m = map(int, period.split("-"))
    out = []
    for _i in range(n):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return out[::-1]


def _local(ctx: Context, cols: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Local minute of the day and weekday (0 = Monday) of each call, per site's time zone (UTC offsets of the
    month's hours computed once per site and hour, not per call)."""
    minute = np.zeros(len(cols["start"]), dtype=np.int64)
    weekday = np.zeros(len(cols["start"]), dtype=np.int64)
    for site in set(cols["site"].tolist()):
        sel = cols["site"] == site
        zone = ZoneInfo(ctx.ws.sites[site].timezone if site in ctx.ws.sites else "UTC")
        starts = cols["start"][sel]
        hours = starts // 3600
        uniq, inv = np.unique(hours, return_inverse=True)
        offsets = np.array([int(dt.datetime.fromtimestamp(int(h) * 3600, zone).utcoffset().total_seconds())
                            for h in uniq.tolist()], dtype=np.int64)
        local = starts + offsets[inv.ravel()]
        minute[sel] = (local % 86400) // 60
        weekday[sel] = (local // 86400 + 3) % 7  # 1970-01-01 was a Thursday
    return minute, weekday


def _off_hours(ctx: Context, cols: dict[str, np.ndarray]) -> np.ndarray:
    return ~_inside(ctx, cols) & (cols["seconds"] > 0)


def _international(ctx: Context, cols: dict[str, np.ndarray]) -> np.ndarray:
    import phonenumbers

    mask = np.zeros(len(cols["start"]), dtype=bool)
    for site in set(cols["site"].tolist()):
        sel = cols["site"] == site
        country = ctx.ws.sites[site].country if site in ctx.ws.sites else ""
        cc = str(phonenumbers.country_code_for_region(country)) if country else ""
        numbers = cols["number"][sel].astype(str)
        mask[sel] = (np.char.str_len(numbers) > 0) & ~np.char.startswith(numbers, cc) if cc else \
            np.char.str_len(numbers) > 0
    return mask & (cols["seconds"] > 0)


def _unused(ctx: Context, period: str, title: str) -> Report:
    from tem.allocation import charge_span, month_bounds
    from tem.inventory import normalise_service

    first, nxt = month_bounds(period)
    days = ctx.settings.unused_days
    r = Report("unused-lines", title, period, [("service", "text"), ("kind", "text"), ("carrier", "text"),
                                               ("holder", "text"), ("currency", "text"),
                                               ("rental in period", "money")], chart=(0, 5))
    _start, end = ctx.span(period)
    traffic = {normalise_service(n) for n in ctx.q.numbers_with_traffic(end - days * 86400, end) if n}
    rental: dict[str, list[Any]] = {}
    used: set[str] = set()
    for c in ctx.q.charges():
        start, _end = charge_span(c)
        if not c["service"] or not (first <= start < nxt):
            continue
        service = normalise_service(c["service"])
        if c["category"] == "usage" and c["amount"]:
            used.add(service)
        if c["category"] == "recurring":
            acc = rental.setdefault(service, [c["service_kind"] or "", c["carrier"], c["currency"], 0])
            acc[3] += c["amount"]
    lines = {row["key"]: row for row in ctx.istore.items("line", overlapping=(first, nxt))}
    for service, (kind, carrier, currency, amount) in sorted(rental.items(), key=lambda kv: -kv[1][3]):
        if service in used or service in traffic:
            continue
        holder = (lines.get(service) or {}).get("person") or (lines.get(service) or {}).get("cost_centre") or ""
        r.rows.append([service, kind, carrier, holder, currency, amount])
    r.notes.append(_("lines with a recurring charge in {period} and no usage charge and no call in the last {days} "
                     "day(s) of the period").format(period=period, days=days))
    return r


def _traffic(ctx: Context, name: str, period: str, title: str, start: int, end: int) -> Report:
    cols = ctx.q.trunk_calls(start, end)
    minute, _day = _local(ctx, cols)
    hour_of_day = minute // 60
    if name == "busy-hour":
        r = Report(name, title, period, [("hour", "text"), ("calls", "int"), ("minutes", "seconds"),
                                         ("erlangs (average day)", "number")], chart=(0, 3))
        days = max(1, round((end - start) / 86400))
        for h in range(24):
            sel = hour_of_day == h
            secs = int(cols["seconds"][sel].sum())
            r.rows.append([f"{h:02d}:00", int(sel.sum()), secs, f"{secs / 3600 / days:.3f}"])
        return r
    r = Report(name, title, period, [("site", "text"), ("trunk", "text"), ("calls", "int"), ("minutes", "seconds"),
                                     ("busy hour", "text"), ("erlangs in busy hour", "number")], chart=(1, 3))
    for site, trunk, calls, secs, when, erl, _peak in _busy_hours(ctx, cols):
        r.rows.append([site, trunk, calls, secs, when, f"{erl:.3f}" if when else "0"])
    r.notes.append(_("erlangs: talk seconds started in the hour / 3600"))
    return r


# --- traffic that costs nothing: incoming, internal, trunks ------------------------------------------------


def parse_hours(value: Any) -> Hours:
    """`business_hours` of a [[site]]: "mon-fri 08:00-18:00", or a list of such for several spans
    (["mon-fri 08:00-12:30", "mon-fri 13:30-18:00", "sat 09:00-12:00"]). Days are mon..sun, single or as a range
    (a range may wrap: "fri-mon"), several joined by commas; times are local, the end excluded, "24:00" allowed.
    ValueError says what is wrong."""
    specs = [value] if isinstance(value, str) else value
    if not isinstance(specs, list) or not specs or not all(isinstance(x, str) for x in specs):
        raise ValueError(_("{value} must be \"DAYS HH:MM-HH:MM\" (e.g. \"mon-fri 08:00-18:00\") or a list of "
                           "them").format(value=repr(value)))
    out = []
    for spec in specs:
        m = re.fullmatch(r"\s*([a-z,\- ]+?)\s+(\d{2}):(\d{2})\s*-\s*(\d{2}):(\d{2})\s*", spec.lower())
        if not m:
            raise ValueError(_("{value} must be \"DAYS HH:MM-HH:MM\" (e.g. \"mon-fri 08:00-18:00\")").format(
                value=repr(spec)))
        days: set[int] = set()
        for part in m.group(1).replace(" ", "").split(","):
            lo, _sep, hi = part.partition("-")
            if lo not in DAYS or (hi and hi not in DAYS):
                raise ValueError(_("{value}: {part} is not a day or a range of days ({days})").format(
                    value=repr(spec), part=repr(part), days=", ".join(DAYS)))
            a, b = DAYS.index(lo), DAYS.index(hi or lo)
            days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        start = int(m.group(2)) * 60 + int(m.group(3))
        end = int(m.group(4)) * 60 + int(m.group(5))
        if int(m.group(3)) > 59 or int(m.group(5)) > 59 or not start < end <= 24 * 60:
            raise ValueError(_("{value}: the hours must be HH:MM-HH:MM with the start before the end").format(
                value=repr(spec)))
        out.append((tuple(sorted(days)), start, end))
    return tuple(out)


def site_hours(ctx: Context, site: str) -> Hours:
    """The site's business hours, else those of [reports] (business_hours, business_days)."""
    own = ctx.ws.sites[site].business_hours if site in ctx.ws.sites else None
    s = ctx.settings
    return own or ((s.business_days, s.business_start, s.business_end),)


def _inside(ctx: Context, cols: dict[str, np.ndarray]) -> np.ndarray:
    """Whether each call (site, start) started inside its site's business hours, in the site's local time."""
    minute, weekday = _local(ctx, cols)
    inside = np.zeros(len(minute), dtype=bool)
    for site in set(cols["site"].tolist()):
        sel = cols["site"] == site
        for days, start, end in site_hours(ctx, site):
            inside |= sel & np.isin(weekday, days) & (minute >= start) & (minute < end)
    return inside


def erlang_b(erlangs: float, lines: int) -> float:
    """The probability that a call finds all `lines` busy when `erlangs` of traffic are offered (Erlang B), by the
    stable recurrence B(E, 0) = 1, B(E, m) = E·B(E, m-1) / (m + E·B(E, m-1)). Floats: a probability, not money."""
    if lines < 0 or erlangs < 0:
        raise ValueError("erlang_b needs erlangs >= 0 and lines >= 0")
    b = 1.0
    for m in range(1, lines + 1):
        b = erlangs * b / (m + erlangs * b)
    return b


def lines_needed(erlangs: float, target: float = BLOCKING_TARGET) -> int:
    """The fewest lines that keep the Erlang B blocking of `erlangs` at or under `target` (0 for no traffic)."""
    if erlangs <= 0:
        return 0
    b, m = 1.0, 0
    while b > target:
        m += 1
        b = erlangs * b / (m + erlangs * b)
    return m


def _p90(keys: np.ndarray, values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, 90th percentile) of `values` per group index in `keys` (0..n-1), NaN / -1 for an empty group. The
    percentile is the nearest rank: the smallest value that at least 90 % of the group's values do not exceed."""
    counts = np.bincount(keys, minlength=n)
    sums = np.bincount(keys, weights=values, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / counts
    order = np.lexsort((values, keys))
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = first + np.maximum(0, -(-9 * counts // 10) - 1)  # ceil(0.9 n) - 1
    p90 = np.where(counts > 0, values[order][np.minimum(rank, max(0, len(values) - 1))] if len(values) else -1, -1)
    return mean, p90


INCOMING_COLUMNS = [("calls", "int"), ("answered", "int"), ("missed", "int"), ("abandoned", "int"),
                    ("answered %", "number"), ("avg ring s", "number"), ("p90 ring s", "int"),
                    ("missed after hours", "int")]


def _incoming_stats(keys: np.ndarray, n: int, c: dict[str, np.ndarray]) -> list[list[Any]]:
    """The INCOMING_COLUMNS cells of each group index 0..n-1 of the calls `c` (with outcome columns)."""
    calls = np.bincount(keys, minlength=n)
    answered = np.bincount(keys, weights=c["answered"], minlength=n).astype(np.int64)
    missed = np.bincount(keys, weights=c["missed"], minlength=n).astype(np.int64)
    abandoned = np.bincount(keys, weights=c["abandoned"], minlength=n).astype(np.int64)
    after = np.bincount(keys, weights=c["missed"] & ~c["inside"], minlength=n).astype(np.int64)
    timed = c["answered"] & (c["ring"] >= 0)
    mean, p90 = _p90(keys[timed], c["ring"][timed].astype(np.int64), n)
    out = []
    for i in range(n):
        out.append([int(calls[i]), int(answered[i]), int(missed[i]), int(abandoned[i]),
                    f"{100 * answered[i] / calls[i]:.1f}" if calls[i] else None,
                    None if np.isnan(mean[i]) else f"{mean[i]:.1f}", None if p90[i] < 0 else int(p90[i]),
                    int(after[i])])
    return out


def _incoming(ctx: Context, period: str) -> dict[str, dict[str, np.ndarray]]:
    """Each site's incoming calls of its own local month, with their outcome: answered, missed (busy, failed, or
    rang out) or abandoned (rang out sooner than abandon_seconds: the caller hung up), and whether they started
    inside business hours."""
    out = {}
    for site, start, end in ctx.site_spans(period):
        c = ctx.q.incoming_calls(site, start, end)
        if not len(c["start"]):
            continue
        c["site"] = np.full(len(c["start"]), site, dtype=object)
        c["abandoned"] = ~c["answered"] & c["rang_out"] & (c["ring"] < ctx.settings.abandon_seconds)
        c["missed"] = ~c["answered"] & ~c["abandoned"]
        c["inside"] = _inside(ctx, c)
        out[site] = c
    return out


def _incoming_note(site: str, c: dict[str, np.ndarray]) -> str:
    n = len(c["start"])
    a = int(c["answered"].sum())
    return _("{site}: {n} incoming call(s), {answered} answered ({percent} %), {missed} missed ({after} outside "
             "business hours), {abandoned} abandoned").format(
        site=site, n=n, answered=a, percent=f"{100 * a / n:.1f}" if n else "0.0", missed=int(c["missed"].sum()),
        after=int((c["missed"] & ~c["inside"]).sum()), abandoned=int(c["abandoned"].sum()))


def _abandon_note(ctx: Context) -> str:
    return _("a call is one call group (its legs folded); abandoned: not answered, rang out in under {seconds} s; "
             "missed: busy, failed or rang out longer; ring: seconds to the first answer (p90: nearest "
             "rank)").format(seconds=ctx.settings.abandon_seconds)


def _incoming_by_extension(ctx: Context, period: str, title: str) -> Report:
    r = Report("incoming", title, period, [("site", "text"), ("extension", "text"), *INCOMING_COLUMNS],
               chart=(1, 2))
    sites = _incoming(ctx, period)
    rows = []
    for site, c in sites.items():
        exts, keys = np.unique(c["extension"].astype(str), return_inverse=True)
        for ext, cells in zip(exts.tolist(), _incoming_stats(keys.ravel(), len(exts), c)):
            rows.append([site, ext or _("(none)"), *cells])
    rows.sort(key=lambda row: (-row[2], -row[4], row[0], row[1]))
    r.rows = rows
    if sites:
        every = {k: np.concatenate([c[k] for c in sites.values()]) for k in next(iter(sites.values()))}
        r.rows.append(["total", "", *_incoming_stats(np.zeros(len(every["start"]), dtype=np.int64), 1, every)[0]])
    r.notes += [_incoming_note(site, c) for site, c in sites.items()] + [_abandon_note(ctx)]
    return r


def _in_ranges(ext: np.ndarray, ranges: list[tuple[str, str]]) -> np.ndarray:
    mask = np.zeros(len(ext), dtype=bool)
    lengths = np.char.str_len(ext) if len(ext) else np.zeros(0, dtype=np.int64)
    for lo, hi in ranges:
        mask |= (lengths == len(lo)) & (ext >= lo) & (ext <= hi)
    return mask


def _incoming_by_group(ctx: Context, period: str, title: str) -> Report:
    """Hunt groups: those configured on the site (hunt_groups: a call is the group's when the extension that took
    it, or was rung first, is a member); a call that rang several extensions outside any configured group is shown
    under the set of extensions it rang."""
    r = Report("incoming-groups", title, period, [("site", "text"), ("hunt group", "text"), ("members", "text"),
                                                   *INCOMING_COLUMNS], chart=(1, 3))
    for site, c in _incoming(ctx, period).items():
        ext = c["extension"].astype(str)
        groups = ctx.ws.sites[site].hunt_groups if site in ctx.ws.sites else {}
        member = np.zeros(len(ext), dtype=bool)
        for name, ranges in groups.items():
            sel = _in_ranges(ext, ranges)
            member |= sel
            cells = _incoming_stats(np.zeros(int(sel.sum()), dtype=np.int64), 1, {k: v[sel] for k, v in c.items()})
            r.rows.append([site, name, ", ".join(lo if lo == hi else f"{lo}-{hi}" for lo, hi in ranges), *cells[0]])
        # not configured: the calls that rang more than one extension, by the set of extensions they rang
        label = np.where(c["rung"] != "", c["rung"].astype(str) + "," + ext, "")
        candidates = np.flatnonzero(~member & (label != ""))
        uniq, inv = np.unique(label[candidates], return_inverse=True)
        names = np.array([",".join(sorted(set(filter(None, u.split(","))))) for u in uniq.tolist()], dtype=object)
        several = np.array(["," in n for n in names.tolist()], dtype=bool)[inv.ravel()]
        named, keys = np.unique(names[inv.ravel()][several].astype(str), return_inverse=True)
        sub = {k: v[candidates[several]] for k, v in c.items()}
        found = [[site, _("(rang {n})").format(n=len(name.split(","))), name, *row]
                 for name, row in zip(named.tolist(), _incoming_stats(keys.ravel(), len(named), sub))]
        r.rows += sorted(found, key=lambda row: (-row[3], row[2]))
    r.notes.append(_("configured groups: [[site]] hunt_groups; '(rang N)': calls that rang N extensions of no "
                     "configured group"))
    r.notes.append(_abandon_note(ctx))
    return r


def _incoming_by_hour(ctx: Context, period: str, title: str) -> Report:
    r = Report("incoming-hours", title, period, [("hour", "text"), *INCOMING_COLUMNS], chart=(0, 1))
    sites = _incoming(ctx, period)
    if not sites:
        return r
    every = {k: np.concatenate([c[k] for c in sites.values()]) for k in next(iter(sites.values()))}
    minute, _day = _local(ctx, every)
    for h, cells in enumerate(_incoming_stats((minute // 60).astype(np.int64), 24, every)):
        r.rows.append([f"{h:02d}:00", *cells])
    r.notes.append(_("hours in each site's local time"))
    r.notes.append(_abandon_note(ctx))
    return r


def _internal(ctx: Context, period: str, title: str) -> Report:
    top = ctx.settings.top
    r = Report("internal", title, period, [("site", "text"), ("from", "text"), ("to", "text"), ("calls", "int"),
                                           ("answered", "int"), ("minutes", "seconds")], chart=None)
    for site, start, end in ctx.site_spans(period):
        rows, totals = ctx.q.internal_pairs(site, start, end, top)
        if not totals["calls"]:
            continue
        for g in rows:
            r.rows.append([site, g["caller"] or _("(none)"), g["callee"] or _("(none)"), g["calls"], g["answered"],
                           g["seconds"]])
        r.notes.append(_("{site}: {n} internal call(s) between {pairs} pair(s), {answered} answered, {minutes} "
                         "minutes; the top {top} pairs shown").format(
            site=site, n=totals["calls"], pairs=totals["pairs"], answered=totals["answered"],
            minutes=f"{totals['seconds'] / 60:.1f}", top=top))
    r.notes.append(_("a pair: the extension that called and the number it dialled (each leg counted)"))
    return r


def _busy_hours(ctx: Context, cols: dict[str, np.ndarray]) -> list[list[Any]]:
    """[site, trunk, calls, talk seconds, busy hour (local text), erlangs in it (float), peak simultaneous calls]
    of each trunk: the busy hour is the clock hour with the most talk seconds started in it; erlangs = those
    seconds / 3600; the peak counts the answered calls in progress at once (their talk time)."""
    out = []
    clock = cols["start"] // 3600
    for site, trunk in sorted(set(zip(cols["site"].tolist(), cols["trunk"].tolist()))):
        sel = (cols["site"] == site) & (cols["trunk"] == trunk)
        secs = cols["seconds"][sel]
        hours, inv = np.unique(clock[sel], return_inverse=True)
        load = np.zeros(len(hours), dtype=np.int64)
        np.add.at(load, inv.ravel(), secs)
        best = int(np.argmax(load)) if len(load) else 0
        zone = ZoneInfo(ctx.ws.sites[site].timezone if site in ctx.ws.sites else "UTC")
        when = dt.datetime.fromtimestamp(int(hours[best]) * 3600, zone).strftime("%Y-%m-%d %H:00") if len(load) \
            else ""
        t0 = cols["start"][sel]
        times = np.concatenate([t0, t0 + secs])
        steps = np.concatenate([np.ones(len(t0), np.int64), -np.ones(len(t0), np.int64)])
        order = np.lexsort((steps, times))  # an end before a start at the same instant
        peak = int(np.cumsum(steps[order]).max()) if len(times) else 0
        out.append([site, trunk, int(sel.sum()), int(secs.sum()), when,
                    int(load[best]) / 3600 if len(load) else 0.0, peak])
    return out


def _trunks(ctx: Context, period: str, title: str, start: int, end: int) -> Report:
    r = Report("trunks", title, period, [("site", "text"), ("trunk", "text"), ("calls", "int"),
                                         ("minutes", "seconds"), ("busy hour", "text"),
                                         ("erlangs in busy hour", "number"), ("peak simultaneous", "int"),
                                         ("lines", "int"), ("blocking % (Erlang B)", "number"),
                                         (f"lines for {100 * BLOCKING_TARGET:g} %", "int")], chart=(1, 5))
    unset = []
    for site, trunk, calls, secs, when, erl, peak in _busy_hours(ctx, ctx.q.trunk_calls(start, end)):
        erl = round(erl, 3)  # the figure shown is the figure used
        lines = ctx.ws.sites[site].trunk_lines.get(trunk) if site in ctx.ws.sites else None
        if lines is None:
            unset.append(f"{site}/{trunk}")
        blocking = f"{100 * erlang_b(erl, lines):.2f}" if lines is not None else None
        r.rows.append([site, trunk, calls, secs, when, f"{erl:.3f}", peak, lines, blocking,
                       lines_needed(erl)])
    seen = {(row[0], row[1]) for row in r.rows}
    idle = [(site.name, trunk, n) for site in ctx.ws.sites.values() for trunk, n in site.trunk_lines.items()
            if (site.name, trunk) not in seen]
    for site, trunk, n in sorted(idle):  # lines paid for that carried nothing this month
        r.rows.append([site, trunk, 0, 0, "", "0.000", 0, n, "0.00", 0])
    if idle:
        r.notes.append(_("no traffic on: {trunks}").format(trunks=", ".join(f"{s}/{t}" for s, t, _n in sorted(idle))))
    r.notes.append(_("erlangs: talk seconds started in the busiest clock hour of the month / 3600; blocking: Erlang "
                     "B for that traffic on the trunk's lines ([[site]] trunk_lines)"))
    if unset:
        r.notes.append(_("no trunk_lines set for: {trunks}").format(trunks=", ".join(unset)))
    return r


# --- writing -----------------------------------------------------------------------------------------------


def safe_text(text: str) -> str:
    """Neutralise a spreadsheet formula (a cell starting with = + - @, or a tab/CR trick) with a leading
    apostrophe: store.cells.neutralise, the one neutraliser."""
    return neutralise(text)


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([safe_text(c) for c, _unused in report.columns])
    for row in report.rows:
        writer.writerow([report.cell(v, k) if k in ("money", "int", "seconds") else safe_text(report.cell(v, k))
                         for v, (_unused, k) in zip(row, report.columns)])
    return out.getvalue()


def _number(value: Any, kind: str) -> Any:
    if value is None or value == "":
        return None
    if kind == "money":
        return float(Decimal(format_exact(int(value))))  # display only: the CSV is the exact copy
    if kind == "seconds":
        return round(int(value) / 60, 1)
    if kind == "number":
        return float(Decimal(str(value)))
    return int(value)


def to_xlsx(report: Report, path: Path) -> None:
    """An XLSX workbook: the table (numbers as numbers, text neutralised) and a native bar chart."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_numbers": False})
    try:
        # the sheet is named for people (the title, in the process language) without the characters Excel refuses
        sheet = wb.add_worksheet(re.sub(r"[\[\]:*?/\\]", " ", report.title).strip()[:31] or report.name[:31])
        bold = wb.add_format({"bold": True})
        money = wb.add_format({"num_format": "#,##0.00##"})
        sheet.write_string(0, 0, safe_text(f"{report.title} — {report.period}"), bold)
        for c, (heading, _kind) in enumerate(report.columns):
            sheet.write_string(2, c, safe_text(heading), bold)
            sheet.set_column(c, c, max(12, len(heading) + 2))
        for r, row in enumerate(report.rows, 3):
            for c, (value, (_heading, kind)) in enumerate(zip(row, report.columns)):
                if kind == "text":
                    sheet.write_string(r, c, safe_text("" if value is None else str(value)))
                else:
                    num = _number(value, kind)
                    if num is None:
                        sheet.write_blank(r, c, None)
                    else:
                        sheet.write_number(r, c, num, money if kind == "money" else None)
        for n, note in enumerate(report.notes):
            sheet.write_string(len(report.rows) + 4 + n, 0, safe_text(note))
        data_rows = [i for i, row in enumerate(report.rows) if row and row[0] != "total"]
        if report.chart and data_rows:
            cat, val = report.chart
            chart = wb.add_chart({"type": "bar"})
            last = 3 + max(data_rows)
            chart.add_series({"name": report.columns[val][0],
                              "categories": [sheet.name, 3, cat, min(last, 3 + 29), cat],
                              "values": [sheet.name, 3, val, min(last, 3 + 29), val]})
            chart.set_title({"name": report.title})
            chart.set_legend({"none": True})
            sheet.insert_chart(2, len(report.columns) + 1, chart, {"x_scale": 1.4, "y_scale": 1.6})
    finally:
        wb.close()


def to_pdf(report: Report, path: Path) -> None:
    """A PDF: title, a bar chart of the charted column (top 15 rows) and the table."""
    from fpdf import FPDF

    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(True, margin=12)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 8, _latin(f"{report.title} - {report.period}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    for note in report.notes:
        pdf.cell(0, 5, _latin(note), new_x="LMARGIN", new_y="NEXT")
    rows = report.text_rows()
    if report.chart and report.rows:
        cat, val = report.chart
        pairs = [(rows[i][cat], _number(row[val], report.columns[val][1]) or 0)
                 for i, row in enumerate(report.rows) if row[0] != "total"][:15]
        top = max((abs(v) for _unused, v in pairs), default=0) or 1
        x0, width = pdf.l_margin + 45, 180
        for label, value in pairs:
            y = pdf.get_y() + 0.5
            pdf.set_xy(pdf.l_margin, y)
            pdf.cell(44, 4, _latin(label)[:30])
            pdf.set_fill_color(70, 110, 180)
            pdf.rect(x0, y + 0.5, max(0.3, width * abs(value) / top), 3, style="F")
            pdf.set_xy(x0 + width + 2, y)
            pdf.cell(30, 4, f"{value:,.2f}" if isinstance(value, float) else str(value))
            pdf.set_y(y + 4.5)
        pdf.ln(3)
    widths = [max(18, min(60, 4 + 2 * max([len(c) for c, _unused in report.columns][i:i + 1] +
                                            [len(r[i]) for r in rows[:200]]))) for i in range(len(report.columns))]
    scale = min(1.0, (pdf.w - 2 * pdf.l_margin) / sum(widths))
    widths = [w * scale for w in widths]
    pdf.set_font("Helvetica", "B", 8)
    for (heading, _kind), w in zip(report.columns, widths):
        pdf.cell(w, 5, _latin(heading), border="B")
    pdf.ln()
    pdf.set_font("Helvetica", "", 8)
    for row in rows:
        for (value, (_heading, kind)), w in zip(zip(row, report.columns), widths):
            pdf.cell(w, 4.5, _latin(value)[: int(w / 1.6)], align="L" if kind == "text" else "R")
        pdf.ln()
    pdf.output(str(path))


def _latin(text: str) -> str:
    """The core PDF fonts are Latin-1: other characters become '?' rather than failing."""
    return text.replace("—", "-").replace("→", "->").encode("latin-1", "replace").decode("latin-1")


def write(report: Report, fmt: str, path: Path) -> None:
    """Write a report as csv, xlsx or pdf to `path`."""
    if fmt not in FORMATS:
        raise ReportError(_("format {format} is not one of: {formats}").format(format=repr(fmt),
                                                                               formats=", ".join(FORMATS)))
    path = Path(path)
    if fmt == "csv":
        path.write_text(to_csv(report), encoding="utf-8")
    elif fmt == "xlsx":
        from xlsxwriter.exceptions import FileCreateError

        try:
            to_xlsx(report, path)
        except FileCreateError as exc:  # xlsxwriter's wrapper of the OSError: raised as the other formats raise it
            raise (exc.args[0] if exc.args and isinstance(exc.args[0], OSError) else OSError(str(exc))) from None
    else:
        to_pdf(report, path)
