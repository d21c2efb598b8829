"""Reports: what telecom costs, where, and where money is wasted — as tables with a chart, written to CSV, XLSX (with
a native chart) or PDF.

Each report is a `Report`: columns with a type (text, int, money, seconds, number), rows, and the column to chart.
Money stays an int of 10**-8 units until it is written: CSV gets exact decimal strings, XLSX and PDF get the
amount for display (spreadsheets store numbers as doubles; the CSV is the exact copy). Text cells that begin with
= + - @ are neutralised (a leading apostrophe) in CSV and XLSX, so that a caller name or a description cannot run
as a formula in a spreadsheet.

Cost reports read the allocation of the period (the stored run, else one computed on the spot and not stored).
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

from engine.money import format_exact
from store.cells import neutralise

REPORTS = {
    "cost-by-cost-centre": "Cost by cost centre",
    "cost-by-site": "Cost by site",
    "cost-by-carrier": "Cost by carrier",
    "cost-by-service-type": "Cost by service type",
    "month-over-month": "Cost by cost centre, month over month",
    "budget-vs-actual": "Budget vs actual by cost centre",
    "top-callers": "Top callers",
    "top-destinations": "Top destinations",
    "off-hours": "Calls outside business hours",
    "international": "International calls",
    "unused-lines": "Unused lines (rental billed, no traffic)",
    "trunk-usage": "Trunk usage and busy hour",
    "busy-hour": "Traffic by hour of day",
}
FORMATS = ("csv", "xlsx", "pdf")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SETTINGS_KEYS = {"business_hours", "business_days", "unused_days", "top"}


class ReportError(Exception):
    """A report cannot be produced (unknown name or format, nothing to report on): the message says why."""


@dataclass
class ReportSettings:
    business_start: int = 8 * 60  # minutes after local midnight
    business_end: int = 19 * 60
    business_days: tuple[int, ...] = (0, 1, 2, 3, 4)
    unused_days: int = 30
    top: int = 20


def parse_settings(raw: Any, where: str, add: Any) -> ReportSettings:
    """Validate the [reports] table; `add(at, key, message)` records each problem (unknown keys too)."""
    s = ReportSettings()
    if not isinstance(raw, dict):
        add(where, "reports", "must be a table ([reports])")
        return s
    at = f"{where} [reports]"
    for key in sorted(set(raw) - SETTINGS_KEYS):
        add(at, key, f"unknown key (expected one of: {', '.join(sorted(SETTINGS_KEYS))})")
    hours = raw.get("business_hours", "08:00-19:00")
    m = re.fullmatch(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})", hours) if isinstance(hours, str) else None
    if not m or int(m.group(1)) * 60 + int(m.group(2)) >= int(m.group(3)) * 60 + int(m.group(4)) or \
            int(m.group(3)) * 60 + int(m.group(4)) > 24 * 60:
        add(at, "business_hours", f"{hours!r} must be \"HH:MM-HH:MM\" with the start before the end")
    else:
        s.business_start = int(m.group(1)) * 60 + int(m.group(2))
        s.business_end = int(m.group(3)) * 60 + int(m.group(4))
    days = raw.get("business_days", list(DAYS[:5]))
    if not isinstance(days, list) or not days or any(d not in DAYS for d in days):
        add(at, "business_days", f"{days!r} must be a list of: {', '.join(DAYS)}")
    else:
        s.business_days = tuple(sorted(DAYS.index(d) for d in days))
    for key in ("unused_days", "top"):
        value = raw.get(key, getattr(s, key))
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            add(at, key, f"{value!r} must be a whole number of at least 1")
        else:
            setattr(s, key, value)
    return s


@dataclass
class Report:
    name: str
    title: str
    period: str
    columns: list[tuple[str, str]]  # (heading, type: text | int | money | seconds | number)
    rows: list[list[Any]] = field(default_factory=list)
    chart: tuple[int, int] | None = None  # (category column, value column)
    notes: list[str] = field(default_factory=list)

    def cell(self, value: Any, kind: str) -> str:
        if value is None:
            return ""
        if kind == "money":
            return format_exact(int(value))
        if kind == "seconds":
            return f"{int(value) / 60:.1f}"
        return str(value)

    def text_rows(self) -> list[list[str]]:
        return [[self.cell(v, k) for v, (_, k) in zip(row, self.columns)] for row in self.rows]

    def as_json(self) -> dict[str, Any]:
        return {"report": self.name, "title": self.title, "period": self.period,
                "columns": [c for c, _ in self.columns], "rows": self.text_rows(), "notes": self.notes}


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
                first, _ = al.month_bounds(period)
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

    def names(self, kind: str, period: str) -> dict[str, str]:
        from tem.allocation import month_bounds

        first, nxt = month_bounds(period)
        return {r["key"]: r["name"] or "" for r in self.istore.items(kind, overlapping=(first, nxt))}


def _grouped(alloc: Any, column: int) -> list[tuple[str, int, int, int]]:
    """(group, calls cost, charges cost, total) of an allocation by one of its line columns."""
    out: dict[str, list[int]] = {}
    for line in alloc.lines:
        key = line[column] or ("calls" if line[2] == "calls" and column == 5 else "(none)")
        acc = out.setdefault(key, [0, 0])
        acc[0 if line[2] == "calls" else 1] += line[-1]
    return sorted(((k, a, b, a + b) for k, (a, b) in out.items()), key=lambda r: -abs(r[3]))


def build(ctx: Context, name: str, period: str) -> Report:
    """Build one report of `period` (YYYY-MM)."""
    if name not in REPORTS:
        raise ReportError(f"no report {name!r} (reports: {', '.join(REPORTS)})")
    title = REPORTS[name]
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
        r.notes.append(f"unassigned: {format_exact(alloc.unassigned)} {alloc.currency}")
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
    start, end = ctx.span(period)
    if name in ("top-callers", "top-destinations"):
        by = "extension" if name == "top-callers" else "destination"
        rows = ctx.q.call_groups(start, end, by, where="outgoing", limit=ctx.settings.top)
        r = Report(name, title, period, [(by, "text"), ("currency", "text"), ("calls", "int"), ("answered", "int"),
                                         ("minutes", "seconds"), ("cost", "money")], chart=(0, 5))
        for g in rows:
            r.rows.append([g["k"] or "(none)", g["currency"] or "", g["calls"], g["answered"], g["seconds"],
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
            r.rows.append([site, ext or "(none)", currency, n, secs, cost])
        r.notes.append(f"{int(mask.sum())} of {len(mask)} outgoing call(s)")
        return r
    if name == "unused-lines":
        return _unused(ctx, period, title)
    if name in ("trunk-usage", "busy-hour"):
        return _traffic(ctx, name, period, title, start, end)
    raise ReportError(name)  # pragma: no cover


def _by_code(alloc: Any) -> dict[str, int]:
    out = dict(alloc.by_cost_centre)
    if alloc.unassigned:
        out[alloc.unassigned_code] = alloc.unassigned
    return out


def _months_back(period: str, n: int) -> list[str]:
    y, m = map(int, period.split("-"))
    out = []
    for _ in range(n):
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
    minute, weekday = _local(ctx, cols)
    s = ctx.settings
    inside = np.isin(weekday, s.business_days) & (minute >= s.business_start) & (minute < s.business_end)
    return ~inside & (cols["seconds"] > 0)


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
    _, end = ctx.span(period)
    traffic = {normalise_service(n) for n in ctx.q.numbers_with_traffic(end - days * 86400, end) if n}
    rental: dict[str, list[Any]] = {}
    used: set[str] = set()
    for c in ctx.q.charges():
        start, _ = charge_span(c)
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
    r.notes.append(f"lines with a recurring charge in {period} and no usage charge and no call in the last {days} "
                   f"day(s) of the period")
    return r


def _traffic(ctx: Context, name: str, period: str, title: str, start: int, end: int) -> Report:
    cols = ctx.q.trunk_calls(start, end)
    minute, _ = _local(ctx, cols)
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
    keys = sorted(set(zip(cols["site"].tolist(), cols["trunk"].tolist())))
    clock = cols["start"] // 3600
    for site, trunk in keys:
        sel = (cols["site"] == site) & (cols["trunk"] == trunk)
        secs = cols["seconds"][sel]
        hours, inv = np.unique(clock[sel], return_inverse=True)
        load = np.zeros(len(hours), dtype=np.int64)
        np.add.at(load, inv.ravel(), secs)
        best = int(np.argmax(load)) if len(load) else 0
        zone = ZoneInfo(ctx.ws.sites[site].timezone if site in ctx.ws.sites else "UTC")
        when = dt.datetime.fromtimestamp(int(hours[best]) * 3600, zone).strftime("%Y-%m-%d %H:00") if len(load) \
            else ""
        r.rows.append([site, trunk, int(sel.sum()), int(secs.sum()), when,
                       f"{int(load[best]) / 3600:.3f}" if len(load) else "0"])
    r.notes.append("erlangs: talk seconds started in the hour / 3600")
    return r


# --- writing -----------------------------------------------------------------------------------------------


def safe_text(text: str) -> str:
    """Neutralise a spreadsheet formula (a cell starting with = + - @, or a tab/CR trick) with a leading
    apostrophe: store.cells.neutralise, the one neutraliser."""
    return neutralise(text)


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([safe_text(c) for c, _ in report.columns])
    for row in report.rows:
        writer.writerow([report.cell(v, k) if k in ("money", "int", "seconds") else safe_text(report.cell(v, k))
                         for v, (_, k) in zip(row, report.columns)])
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
        sheet = wb.add_worksheet(report.name[:31])
        bold = wb.add_format({"bold": True})
        money = wb.add_format({"num_format": "#,##0.00##"})
        sheet.write_string(0, 0, safe_text(f"{report.title} — {report.period}"), bold)
        for c, (heading, _) in enumerate(report.columns):
            sheet.write_string(2, c, safe_text(heading), bold)
            sheet.set_column(c, c, max(12, len(heading) + 2))
        for r, row in enumerate(report.rows, 3):
            for c, (value, (_, kind)) in enumerate(zip(row, report.columns)):
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
        top = max((abs(v) for _, v in pairs), default=0) or 1
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
    widths = [max(18, min(60, 4 + 2 * max([len(c) for c, _ in report.columns][i:i + 1] +
                                            [len(r[i]) for r in rows[:200]]))) for i in range(len(report.columns))]
    scale = min(1.0, (pdf.w - 2 * pdf.l_margin) / sum(widths))
    widths = [w * scale for w in widths]
    pdf.set_font("Helvetica", "B", 8)
    for (heading, _), w in zip(report.columns, widths):
        pdf.cell(w, 5, _latin(heading), border="B")
    pdf.ln()
    pdf.set_font("Helvetica", "", 8)
    for row in rows:
        for (value, (_, kind)), w in zip(zip(row, report.columns), widths):
            pdf.cell(w, 4.5, _latin(value)[: int(w / 1.6)], align="L" if kind == "text" else "R")
        pdf.ln()
    pdf.output(str(path))


def _latin(text: str) -> str:
    """The core PDF fonts are Latin-1: other characters become '?' rather than failing."""
    return text.replace("—", "-").replace("→", "->").encode("latin-1", "replace").decode("latin-1")


def write(report: Report, fmt: str, path: Path) -> None:
    """Write a report as csv, xlsx or pdf to `path`."""
    if fmt not in FORMATS:
        raise ReportError(f"format {fmt!r} is not one of: {', '.join(FORMATS)}")
    path = Path(path)
    if fmt == "csv":
        path.write_text(to_csv(report), encoding="utf-8")
    elif fmt == "xlsx":
        to_xlsx(report, path)
    else:
        to_pdf(report, path)
