"""The `anatole` command line: `anatole <noun> <verb>`, every command with --help and, where it reports, --json.

Errors a user can cause (a bad tariff, a number with no rate) print a message naming the file, key or number and
exit non-zero; they never show a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich.markup import escape
from rich.table import Table

import i18n
from anatole import clitools
from anatole.clitools import EXIT_INPUT
from anatole.clitools import console as _console
from anatole.clitools import date as _date
from anatole.clitools import emit_json as _emit_json
from anatole.clitools import fail as _fail
from anatole.clitools import store as _store
from anatole.clitools import tariff as _load
from anatole.clitools import workspace as _workspace
from engine import MAX_DURATION
from engine.durations import parse_duration
from engine.money import SCALE, format_exact, format_money
from engine.reference import Reference
from i18n import N_, _, pgettext
from store import display
from tariffs.compile import CompiledTariff, compile_tariff
from tariffs.errors import TariffError
from tariffs.load import load_tariff
from tariffs.model import ALWAYS, day_from_number


@click.group(cls=clitools.Group, context_settings={"help_option_names": ["-h", "--help"]},
             help=_("anatole: call accounting and telecom expense management."))
@click.version_option(package_name="anatole")
@click.option("--workspace", "-w", type=click.Path(file_okay=False, path_type=Path), envvar="ANATOLE_WORKSPACE",
              help=_("Workspace folder (anatole.toml, anatole.db). Default: ANATOLE_WORKSPACE or the current "
                     "folder."))
@click.option("--lang", type=click.Choice(i18n.LANGUAGES), metavar="en|fr",
              help=_("Language of messages, screens and reports. Default: ANATOLE_LANG, [workspace] language, "
                     "then the locale."))
@click.pass_context
def main(ctx: click.Context, workspace: Path | None, lang: str | None) -> None:
    """anatole: call accounting and telecom expense management."""
    if lang and lang != i18n.current():
        i18n.use(lang)  # run in-process (tests): `anatole` itself chose it before importing this module
    ctx.obj = {"workspace": workspace}


# --- tariff -------------------------------------------------------------------------------------------------


@main.group(help=_("Check, inspect and quote tariffs (TOML + CSV rate deck)."))
def tariff() -> None:
    """Check, inspect and quote tariffs."""


@tariff.command("check", help=_("Validate tariff files: every problem is listed with its file, line or key."))
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=str))
@click.option("--json", "as_json", is_flag=True, help=_("One JSON object per file."))
def tariff_check(files: tuple[str, ...], as_json: bool) -> None:
    """Validate tariff files: every problem is listed with its file, line or key."""
    failed = 0
    results = []
    console = _console()
    for path in files:
        try:
            c = compile_tariff(load_tariff(path))
        except TariffError as exc:
            failed += 1
            results.append({"file": path, "ok": False, "problems": [str(p) for p in exc.problems]})
            if not as_json:
                err = _console(err=True)
                err.print("[bold red]✗[/] " + _("{file}: {count} problem(s)").format(file=escape(path),
                                                                        count=len(exc.problems)))
                for line in exc.render().splitlines():
                    err.print(f"  {line}", markup=False)
            continue
        results.append({"file": path, "ok": True, "name": c.tariff.name, **c.stats})
        if not as_json:
            s = c.stats
            console.print("[green]✓[/] " + _("{file}: {name}, {rows} rows, {prefixes} prefixes, {rates} rates, "
                                            "{destinations} destinations, {bands} bands").format(
                file=path, name=repr(c.tariff.name), rows=s["rows"], prefixes=s["prefixes"], rates=s["rates"],
                destinations=s["destinations"], bands=s["bands"]))
    if as_json:
        _emit_json(results if len(results) > 1 else results[0])
    sys.exit(EXIT_INPUT if failed else 0)


@tariff.command("show", help=_("Show a tariff: settings, bands, versions and its rates."))
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@click.option("--search", metavar="DIGITS", help=_("Only rates whose prefix starts with DIGITS or matches them."))
@click.option("--limit", default=30, show_default=True, type=clitools.COUNT, help=_("Rates to list (0: none)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print JSON."))
def tariff_show(file: str, search: str | None, limit: int, as_json: bool) -> None:
    """Show a tariff: settings, bands, versions and its rates."""
    c = _load(file)
    t = c.tariff
    rates = _rate_rows(c, search)
    info = {
        "file": file,
        "name": t.name,
        "description": t.description,
        "currency": t.currency,
        "timezone": t.timezone,
        "rounding": {"decimals": t.decimals, "mode": t.mode, "increment_decimals": t.increment_decimals},
        "billing": {"anchor": t.anchor, "split": t.split},
        "bands": [{"name": b.name, "start": b.start_text(), "weight": b.weight,
                   "days": sorted(b.days), "dates": sorted(f"{m:02d}-{d:02d}" for m, d in b.dates)
                   + sorted(d.isoformat() for d in b.full_dates),
                   "months": sorted(b.months), "monthdays": sorted(b.monthdays)} for b in t.bands],
        "versions": sorted({day_from_number(int(d)).isoformat() for d in set(t.rows.effective_from.tolist())
                            if d != ALWAYS}),
        "counts": c.stats,
        "rates": rates[:limit] if limit else [],
        "rates_matching": len(rates),
    }
    if as_json:
        _emit_json(info)
        return
    console = _console()
    console.print(f"[bold]{t.name}[/]  ({file})")
    if t.description:
        console.print(t.description, markup=False)
    if t.increment_decimals is not None:
        console.print(_("currency {currency} · timezone {timezone} · rounding {decimals} decimals {mode}, each "
                        "increment rounded half_up to {increment_decimals} decimals").format(
            currency=t.currency, timezone=t.timezone, decimals=t.decimals, mode=t.mode,
            increment_decimals=t.increment_decimals))
    else:
        console.print(_("currency {currency} · timezone {timezone} · rounding {decimals} decimals {mode}, exact "
                        "until the call is rounded").format(currency=t.currency, timezone=t.timezone,
                                                             decimals=t.decimals, mode=t.mode))
    console.print(" · ".join((_("increments anchored at the slot start") if t.anchor == "slot"
                              else _("increments anchored at the call start"),
                              _("calls split at band changes and midnight") if t.split
                              else _("calls priced in their start band"))))
    s = c.stats
    facts = [_("{rows} rows").format(rows=s["rows"]), _("{prefixes} prefixes").format(prefixes=s["prefixes"]),
             _("{rates} rates").format(rates=s["rates"]),
             _("{destinations} destinations").format(destinations=s["destinations"])]
    if info["versions"]:

        days = ", ".join(display.day(dt.date.fromisoformat(v)) for v in info["versions"])
        facts.append(_("versions from {versions}").format(versions=days))
    console.print(" · ".join(facts))
    if t.bands:
        bt = Table(_("band"), _("start"), _("weight"), _("days"), _("dates / months"), title=_("Time bands"),
                   title_justify="left")
        for b in info["bands"]:
            days = ",".join(_(WEEKDAYS[d]) for d in b["days"]) or _("every day")
            extra = ", ".join(b["dates"]) + ((" " + _("months {months}").format(months=b["months"]))
                                             if b["months"] else "") + \
                ((" " + _("days {days}").format(days=b["monthdays"])) if b["monthdays"] else "")
            bt.add_row(b["name"], b["start"], str(b["weight"]), days, extra)
        console.print(bt)
    if limit:
        columns = ["prefix", "destination", "band", "from", "price", "unit", "increment", "connect_fee", "min_cost",
                   "max_cost", "effective_from"]
        shown = rates[:limit]
        # leave out what no listed rate uses, so that the table stays readable in 80 columns
        columns = [col for col in columns if col in ("prefix", "destination", "price")
                   or any(r[col] not in (None, "", "0.00", "*", 0) for r in shown)]
        rt = Table(*(_(RATE_LABELS[col]) for col in columns),
                   title=_("Rates ({shown} of {total})").format(shown=len(shown), total=len(rates)),
                   title_justify="left")
        for r in shown:
            rt.add_row(*(_rate_cell(col, r[col]) for col in columns))
        console.print(rt)


WEEKDAYS = (N_("mon"), N_("tue"), N_("wed"), N_("thu"), N_("fri"), N_("sat"), N_("sun"))
RATE_LABELS = {"prefix": N_("prefix"), "destination": N_("destination"), "band": N_("band"), "from": N_("from"),
               "price": N_("price"), "unit": N_("unit"), "increment": N_("incr"), "connect_fee": N_("connect"),
               "min_cost": N_("min"), "max_cost": N_("max"), "effective_from": N_("effective")}


def _rate_cell(col: str, value: Any) -> str:
    """One cell of `tariff show`'s rates: amounts in the language's style (every digit kept), days too."""
    if col == "prefix" and not value:
        return _("(any)")
    if value is None:
        return ""
    if col in ("price", "connect_fee", "min_cost", "max_cost"):
        return clitools.number(str(value))
    if col == "effective_from":

        return display.day(dt.date.fromisoformat(value))
    return str(value)


def _rate_rows(c: CompiledTariff, search: str | None) -> list[dict[str, Any]]:
    """Deck rows in rate order (prefix, version, band, slot), optionally those related to `search` digits."""
    t, rows = c.tariff, c.tariff.rows
    lo = c.arrays["rate_slot_lo"]
    out = []
    for rate in range(len(c.rate_row)):
        prefix = c.prefixes[int(c.rate_prefix[rate])]
        if search and not (prefix.startswith(search) or search.startswith(prefix)):
            continue
        first = int(c.rate_row[rate])
        for k in range(int(lo[rate]), int(lo[rate + 1])):
            row = int(c.slot_row[k])
            eff = int(rows.effective_from[row])
            out.append({
                "prefix": prefix,
                "destination": rows.destinations[int(rows.destination[first])],
                "band": t.band_name(int(rows.band[row])),
                "from": int(rows.slot_from[row]),
                "price": format_exact(int(rows.price[row])),
                "unit": int(rows.unit[row]),
                "increment": int(rows.increment[row]),
                "connect_fee": format_exact(int(rows.connect_fee[first])),
                "min_cost": format_exact(int(rows.min_cost[first])) if rows.min_cost[first] >= 0 else None,
                "max_cost": format_exact(int(rows.max_cost[first])) if rows.max_cost[first] >= 0 else None,
                "effective_from": day_from_number(eff).isoformat() if eff != ALWAYS else None,
                "where": t.where(row),
            })
    return out


def _parse_start(text: str | None, zone: str) -> int:
    if text is None:
        return int(dt.datetime.now(dt.timezone.utc).timestamp())
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        _fail(_("--start {value} is not an ISO 8601 date and time (e.g. 2026-11-26T09:30 or 2026-11-26T08:30Z)")
              .format(value=repr(text)))
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(zone))  # a local time in the tariff's zone
    return clitools.in_call_years(int(when.timestamp()), "--start", text)


def _clean_number(text: str) -> str:
    digits = re.sub(r"[\s().-]", "", text)
    digits = digits[1:] if digits.startswith("+") else digits
    if not digits or not (digits.isascii() and digits.isdigit()):
        _fail(_("number {value} is not an E.164 number (digits, optionally with + and spaces)").format(
            value=repr(text)))
    return digits


class Duration(click.ParamType):
    """A duration as typed: 90, 90s, 2m, 1m30s, 1h, 1:30 (engine.durations, as the console's quote box)."""

    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            seconds = parse_duration(str(value))
        except ValueError:  # engine/ speaks no language: its message is said again here, in the user's
            self.fail(_("{value} is not a duration: seconds (90) or h/m/s (90s, 2m, 1m30s, 1h) or m:ss (1:30)")
                      .format(value=repr(str(value))), param, ctx)
        if not 0 <= seconds <= MAX_DURATION:
            self.fail(_("{value}: a call lasts 0 to {limit} s").format(value=repr(str(value)), limit=MAX_DURATION),
                      param, ctx)
        return seconds


def _site_number(ctx: click.Context, site_name: str, number: str, file: str | None) -> tuple[str, str]:
    """A number as dialled at a workspace's site -> (E.164 digits, tariff file): the site's dial plan (outside
    line, national and international prefixes, area code) makes it E.164; the tariff is FILE, else the site's."""
    ws = _workspace(ctx)
    site = ws.sites.get(site_name)
    if site is None:
        _fail(_("no site {site} in {file} (sites: {sites})").format(
            site=repr(site_name), file=ws.path / "anatole.toml", sites=", ".join(ws.sites) or _("none")))
    got = site.dialplan.normalise(number, as_dialled=True)
    if got.kind != "external" or not got.e164:
        _fail(_("number {number} dialled at {site} is {kind} ({rule}), not a number a tariff rates").format(
            number=repr(number), site=site_name, kind=got.kind, rule=got.rule))
    if file is None:
        if site.tariff is None:
            _fail(_("site {site} has no tariff in anatole.toml: give the tariff FILE").format(site=repr(site_name)))
        file = str(site.tariff)
    return got.e164, file


@tariff.command("quote", help=_("What would this call cost? Prefix, destination, band(s), billed seconds and cost, "
                                  "with the breakdown. FILE is the tariff; with --site it defaults to that site's "
                                  "tariff."))
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=str))
@click.option("--number", "-n", required=True,
              help=_("Number: E.164 (33612345678, +33 6 12 34 56 78), or as dialled at --site (0612345678)."))
@click.option("--site", metavar="NAME",
              help=_("A site of the workspace: the number as dialled there (its dial plan), its tariff by default."))
@click.option("--start", "-s",
              help=_("Call start, ISO 8601; without an offset, local time of the tariff. Default: now."))
@click.option("--duration", "-d", required=True, type=Duration(),
              help=_("Billable time: 90, 90s, 2m, 1m30s, 1h or 1:30."))
@click.option("--json", "as_json", is_flag=True, help=_("Print one JSON object."))
@click.pass_context
def tariff_quote(ctx: click.Context, file: str | None, number: str, site: str | None, start: str | None,
                 duration: int, as_json: bool) -> None:
    """What would this call cost? Prefix, destination, band(s), billed seconds and cost, with the breakdown.
    FILE is the tariff; with --site it defaults to that site's tariff."""
    if site is not None:
        digits, file = _site_number(ctx, site, number, file)
    elif file is None:
        _fail(_("give the tariff FILE, or --site NAME for a site's tariff and dial plan"))
    else:
        digits = _clean_number(number)
    c = _load(file)
    t = c.tariff
    instant = _parse_start(start, t.timezone)
    result = c.rate([digits], [instant], [duration])
    info = c.describe(result, 0)
    explain = Reference(t).quote(digits, instant, duration)
    if info["status"] in ("no_rate", "invalid"):
        if info["status"] == "invalid":
            _fail(_("number {number} has no rate in {file}: the duration is out of range (0 to 604800 s)").format(
                number=digits, file=file))
        if info["prefix"] is None:
            _fail(_("number {number} has no rate in {file}: no prefix of the tariff matches it").format(
                number=digits, file=file))
        _fail(_("number {number} has no rate in {file}: prefix {prefix} has no rate in force for this time").format(
            number=digits, file=file, prefix=info["prefix"]))
    band_names: list[str] = []
    for part in explain.parts:
        name = t.bands[part.band].name if part.band >= 0 else None
        if name and (not band_names or band_names[-1] != name):
            band_names.append(name)
    start_utc = dt.datetime.fromtimestamp(instant, dt.timezone.utc)
    out = {
        "number": digits,
        **({"dialled": number, "site": site} if site is not None else {}),
        "start": start_utc.isoformat().replace("+00:00", "Z"),
        "start_local": start_utc.astimezone(ZoneInfo(t.timezone)).isoformat(),
        "duration": duration,
        "status": info["status"],
        "prefix": info["prefix"],
        "destination": info["destination"],
        "band": info["band"],
        "bands": band_names,
        "billed_seconds": info["billed_seconds"],
        "cost": format_money(info["cost"], t.decimals),
        "currency": t.currency,
        "parts": [{
            "band": t.bands[p.band].name if p.band >= 0 else None,
            "prefix": p.rate.prefix,
            "slot_from": p.slot.start,
            "from": p.begin,
            "to": p.end,
            "increments": p.increments,
            "increment": p.slot.increment,
            "price": f"{format_exact(p.slot.price)}/{p.slot.unit}s",
            "amount": _fraction_text(p.cost),
        } for p in explain.parts],
    }
    if explain.rate is not None:
        out["connect_fee"] = format_exact(explain.rate.connect_fee)
        out["unrounded"] = _fraction_text(explain.unrounded)
    if explain.cost != info["cost"] and info["status"] == "rated":  # pragma: no cover - a bug, never expected
        _fail(_("internal error: engine cost {cost} differs from the reference {reference}").format(
            cost=info["cost"], reference=explain.cost))
    if as_json:
        _emit_json(out)
        return
    console = _console()
    head = {"number": f"[bold]+{digits}[/]", "destination": out["destination"], "prefix": out["prefix"] or _("(any)")}
    if site is not None:
        console.print(_("{dialled} at {site} = {number} → {destination} (prefix {prefix})").format(
            dialled=escape(number), site=escape(site), **head))
    else:
        console.print(_("{number} → {destination} (prefix {prefix})").format(**head))

    console.print(_("start {start} · {duration} s · band {bands}").format(
        start=display.when(instant, t.timezone, seconds=True), duration=duration,
        bands=" → ".join(band_names) or _("(none)")))
    table = Table(_("band"), _("prefix"), _("from"), _("to"), _("increments"), _("price"), _("amount"),
                  title_justify="left")
    for p in out["parts"]:
        table.add_row(p["band"] or "*", p["prefix"] or _("(any)"), str(p["from"]), str(p["to"]),
                      f"{p['increments']} × {p['increment']} s", _price_text(p["price"]), clitools.number(p["amount"]))
    if out["parts"]:
        console.print(table)
    if explain.rate is not None and explain.rate.connect_fee:
        console.print(_("connect fee {fee}").format(fee=clitools.number(out["connect_fee"])))
    cost = f"[bold]{clitools.number(out['cost'])} {t.currency}[/]"
    console.print(_("billed {seconds} s · cost {cost}").format(seconds=out["billed_seconds"], cost=cost))


def _price_text(price: str) -> str:
    """``0.08/60s`` (a price per unit of seconds) with the amount in the language's style."""
    amount, _slash, unit = price.partition("/")
    return clitools.number(amount) + (f"/{unit}" if unit else "")


def _fraction_text(value: Fraction) -> str:
    """An exact amount (a Fraction of 10**-8 units) for display; '≈' marks one cut at 12 decimals."""
    if value.denominator == 1:
        return format_exact(value.numerator)
    approx = (Decimal(value.numerator) / Decimal(value.denominator) / SCALE).quantize(Decimal("1e-12"))
    return f"≈{approx.normalize():f}"


# --- workspace commands: import, calls, rejects, rate -------------------------------------------------------


@main.group("import", help=_("Import files into the workspace's store."))
def import_() -> None:
    """Import files into the workspace's store."""


@import_.command("cdr", help=_(
    "Import CDR/SMDR files: every record becomes a call, a duplicate or a reject (read = calls + rejected + "
    "duplicates). Re-importing a file adds nothing. A file whose first lines are mostly rejected by the format (a "
    "wrong --format) is refused: nothing is stored, and the message says which format the file looks like."))
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "-f", "fmt", default="auto", show_default=True,
              help=_("asterisk, asterisk-custom, freeswitch, freeswitch-json, cucm, avaya-ipo, mitel, panasonic, "
                     "3cx, csv:<profile>, or auto (from the content)."))
@click.option("--source", help=_("The [[source]] of anatole.toml the files come from (site, timezone, format)."))
@click.option("--site", help=_("The [[site]] the files belong to, when no source is named."))
@click.option("--json", "as_json", is_flag=True, help=_("One JSON object per file."))
@click.option("--explain", is_flag=True, help=_("After each file: extensions, directions, statuses, the rules that "
              "decided, unpriced numbers and what to fix (also `anatole imports explain ID`)."))
@click.pass_context
def import_cdr(ctx: click.Context, paths: tuple[Path, ...], fmt: str, source: str | None, site: str | None,
               as_json: bool, explain: bool) -> None:
    """Import CDR/SMDR files: every record becomes a call, a duplicate or a reject (read = calls + rejected +
    duplicates). Re-importing a file adds nothing. A file whose first lines are mostly rejected by the format
    (a wrong --format) is refused: nothing is stored, and the message says which format the file looks like."""
    from pipeline.cdrimport import expected_calls

    ws = _workspace(ctx)
    store = _store(ws)
    files = clitools.files_in(paths)
    with store.bulk_load(expected_calls(files)):  # a large import builds the reader indexes once, at the end
        failed = _import_files(ws, store, files, fmt, source, site, as_json, explain)
    store.close()
    sys.exit(EXIT_INPUT if failed else 0)


def _import_files(ws: Any, store: Any, files: list[Path], fmt: str, source: str | None, site: str | None,
                  as_json: bool, explain: bool) -> int:
    """Each file imported and reported; returns how many failed."""
    from pipeline.cdrimport import CdrImportError, import_file
    from store.explain import explain_import, text_lines

    console = _console()
    failed = 0
    for path in files:
        try:
            with clitools.progress(_("import {file}").format(file=path.name),
                                   path.stat().st_size if path.is_file() else None,
                                   quiet=as_json) as update:  # on a terminal only
                result = import_file(ws, store, path, fmt=fmt, source=source, site=site, progress=update)
        except CdrImportError as exc:
            failed += 1
            if as_json:
                click.echo(json.dumps({"file": str(path), "error": str(exc)}))
            else:
                _console(err=True).print("[bold red]" + _("error:") + "[/] " + escape(str(exc)), markup=True)
            continue
        explained = explain_import(store, result.import_id) if explain and result.import_id else None
        if as_json:
            click.echo(json.dumps({**result.as_json(), **({"explain": explained} if explained else {})},
                                  ensure_ascii=False))
        else:
            count = clitools.count
            fields = {"file": path, "format": result.format, "source": result.source, "site": result.site,
                      "read": count(result.read), "calls": count(result.calls), "rejected": count(result.rejected),
                      "duplicates": count(result.duplicates)}
            line = _("{file}: {format} (detected), source {source}, site {site}: read {read} · calls {calls} · "
                     "rejected {rejected} · duplicates {duplicates}") if result.detected else \
                _("{file}: {format} (given), source {source}, site {site}: read {read} · calls {calls} · "
                  "rejected {rejected} · duplicates {duplicates}")
            line = line.format(**fields)
            if result.skipped:
                line += " · " + _("skipped lines {count}").format(count=count(result.skipped))
            console.print(line)
            for line in text_lines(explained) if explained else ():
                console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    return failed


CALL_FIELDS = ("start", "site", "source", "direction", "extension", "trunk", "caller", "dialled", "number",
               "disposition", "billable_seconds", "billed_seconds", "destination", "prefix", "band", "cost",
               "currency", "status", "account")


def _call_out(row: dict[str, Any], decimals: dict[str, int]) -> dict[str, Any]:
    cost = row["cost"]
    places = decimals.get(row["tariff"] or "", 4)
    return {
        "start": dt.datetime.fromtimestamp(row["start"], dt.timezone.utc).isoformat().replace("+00:00", "Z"),
        "site": row["site"], "source": row["source"], "direction": row["direction"],
        "extension": row["extension"], "trunk": row["trunk"], "caller": row["caller"], "dialled": row["dialled"],
        "number": row["number"], "disposition": row["disposition"], "billable_seconds": row["billable"],
        "billed_seconds": row["billed_seconds"], "destination": row["destination"], "prefix": row["prefix"],
        "band": row["band"],
        "cost": (format_money(cost, places) if cost % 10 ** (8 - places) == 0 else format_exact(cost))
        if cost is not None and row["billed"] else (None if cost is None else "0." + "0" * places),
        "currency": row["currency"], "status": row["status"] if row["billed"] else "merged",
        "account": row["account"],
    }


def _before(first: int | None, last: int | None, start: str | None, end: str | None) -> None:
    if first is not None and last is not None and first >= last:
        _fail(_("--from {start} is not before --to {end}: no call can be in between").format(start=start, end=end))


@main.command(help=_("List stored calls with their cost."))
@click.option("--from", "start", metavar="DATE",
              help=_("First day (or instant), site-local unless it has an offset."))
@click.option("--to", "end", metavar="DATE", help=_("Day (or instant) after the last, exclusive."))
@click.option("--site", help=_("Only the calls of this site."))
@click.option("--extension", help=_("Only the calls of this extension."))
@click.option("--direction", type=click.Choice(["outgoing", "incoming", "internal", "transit"]),
              help=_("Only the calls of this direction."))
@click.option("--status", help=_("rated, no_rate, unanswered, incoming, internal, service, emergency, invalid, "
                                 "no_tariff"))
@click.option("--number", metavar="DIGITS", help=_("E.164 number or prefix."))
@click.option("--min-cost", metavar="AMOUNT", help=_("Only calls costing at least this."))
@click.option("--limit", type=clitools.COUNT, default=None, help=_("At most this many calls."))
@click.option("--json", "as_json", is_flag=True, help=_("One JSON object per line per call."))
@click.option("--csv", "as_csv", is_flag=True, help=_("CSV with a header row."))
@click.pass_context
def calls(ctx: click.Context, start: str | None, end: str | None, site: str | None, extension: str | None,
          direction: str | None, status: str | None, number: str | None, min_cost: str | None, limit: int | None,
          as_json: bool, as_csv: bool) -> None:
    """List stored calls with their cost."""
    import csv as csvmod

    from engine.money import MoneyError, parse_money

    ws = _workspace(ctx)
    store = _store(ws)
    zone = ws.sites[site].timezone if site in ws.sites else (next(iter(ws.sites.values())).timezone
                                                             if ws.sites else "UTC")
    try:
        floor = parse_money(min_cost) if min_cost else None
    except MoneyError as exc:
        _fail(_("--min-cost: {problem}").format(problem=exc))
    decimals = {p.name: ws.tariff(p).tariff.decimals for s in ws.sites.values() for p in
                [s.tariff, *s.trunk_tariffs.values()] if p is not None}
    from pipeline.columnar import STATUSES

    if status is not None and status not in STATUSES:
        _fail(_("--status {status} is not one of: {statuses}").format(status=repr(status),
                                                                       statuses=", ".join(STATUSES)))
    first, last = _date(start, zone, "--from"), _date(end, zone, "--to")
    _before(first, last, start, end)
    if site is not None and site not in ws.sites and not list(store.calls(site=site, limit=1)):  # a site of
        _fail(_("no site {site} in {file} and no call of it in the store (sites: {sites})").format(  # anatole.toml
            site=repr(site), file=ws.path / "anatole.toml", sites=", ".join(ws.sites) or _("none")))  # or stored
    rows = store.calls(start=first, end=last, site=site, extension=extension, direction=direction, status=status,
                       number=number, min_cost=floor, limit=limit)
    if as_json:
        for row in rows:
            click.echo(json.dumps(_call_out(row, decimals), ensure_ascii=False))
    elif as_csv:
        writer = csvmod.writer(sys.stdout, lineterminator="\n")
        writer.writerow(CALL_FIELDS)
        for row in rows:
            out = _call_out(row, decimals)
            writer.writerow([_safe_cell(out[k]) for k in CALL_FIELDS])
    else:
        zones = {name: s.timezone for name, s in ws.sites.items()}
        listed: list[tuple[str, str, list[str]]] = []  # (start with its zone, the zone's name, the other cells)
        totals: dict[str, int] = {}  # currency -> money, summed exactly
        for row in rows:
            out = _call_out(row, decimals)
            tz = zones.get(row["site"], zone)
            listed.append((display.when(row["start"], tz), tz, [
                out["site"], _direction_label(out["direction"]), out["extension"] or "",
                out["number"] or out["dialled"] or "", out["destination"] or "", str(out["billable_seconds"]),
                display.money(row["cost"], row["currency"]) if row["cost"] is not None else "",
                display.call_status(out["status"])]))
            if row["cost"] and row["billed"]:
                display.add_total(totals, row["cost"], row["currency"])  # per currency, exact; rounded when shown
        shown = len(listed)
        # one site's zone (the usual listing): its abbreviation once, in the header, and the column stays narrow
        one_zone = len({tz for _start, tz, _cells in listed}) == 1
        start_title = _("start")
        if one_zone:
            start_title += " (" + "/".join(sorted({s.rpartition(" ")[2] for s, _tz, _cells in listed})) + ")"
        starts = [s.rpartition(" ")[0] if one_zone else s for s, _tz, _cells in listed]
        table = Table(box=None, pad_edge=False, padding=(0, 1, 0, 0))
        # every column keeps its widest cell, but the destination: 80 columns shorten the destination only
        widths = {"start": max(map(len, [start_title, *starts]))}
        for i, name in enumerate(("site", "dir", "ext", "number", None, "secs", "cost", "status")):
            if name:
                widths[name] = max([len(_(name)), *(len(cells[i]) for _s, _tz, cells in listed)])
        console = _console()
        room = max(3, min(24, console.width - sum(widths.values()) - len(widths) - 1))  # one space between columns
        for name, justify in ((N_("start"), "left"), (N_("site"), "left"), (N_("dir"), "left"), (N_("ext"), "left"),
                              (N_("number"), "left"), (N_("destination"), "left"), (N_("secs"), "right"),
                              (N_("cost"), "right"), (N_("status"), "left")):
            table.add_column(start_title if name == "start" else _(name), justify=justify, no_wrap=True,
                             overflow="ellipsis", max_width=room if name == "destination" else None,
                             min_width=widths.get(name))
        for start_text, (_s, _tz, cells) in zip(starts, listed):
            table.add_row(start_text, *cells)
        console.print(table)
        total = display.totals(totals, empty="", sep=", ")
        shown_text = clitools.count(shown)
        _console().print(_("{count} call(s), total {total}").format(count=shown_text, total=total) if total
                         else _("{count} call(s)").format(count=shown_text))
    store.close()


def _direction_label(direction: str) -> str:
    """The direction as the list shows it: its first three letters in English (out, inc, int, tra), a short word in
    French; --direction and --json keep the English value."""
    labels = {"outgoing": pgettext("direction", "out"), "incoming": pgettext("direction", "inc"),
              "internal": pgettext("direction", "int"), "transit": pgettext("direction", "tra")}
    return labels.get(direction, direction[:3])


def _safe_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in exported text (store.cells.neutralise: the one neutraliser)."""
    from store.cells import neutralise

    return neutralise(value)


@main.command(help=_("What was quarantined, where it came from (file and line) and why."))
@click.option("--source", help=_("Only the rejects of this source."))
@click.option("--limit", type=clitools.COUNT, default=None, help=_("At most this many rejects."))
@click.option("--json", "as_json", is_flag=True, help=_("One JSON object per line."))
@click.pass_context
def rejects(ctx: click.Context, source: str | None, limit: int | None, as_json: bool) -> None:
    """What was quarantined, where it came from (file and line) and why."""
    ws = _workspace(ctx)
    store = _store(ws)
    rows = list(store.rejects(source=source, limit=limit))
    if as_json:
        for r in rows:
            click.echo(json.dumps({k: r[k] for k in ("source", "file", "line", "reason", "raw")}, ensure_ascii=False))
    else:
        table = Table(_("source"), _("file:line"), _("reason"), _("raw"))
        for r in rows:
            table.add_row(r["source"], f"{Path(r['file']).name}:{r['line']}", r["reason"], (r["raw"] or "")[:60])
        _console().print(table)
        _console().print(_("{count} reject(s)").format(count=clitools.count(len(rows))))
    store.close()


@main.command(help=_("Re-rate stored calls of a period with the tariff versions in force at each call. Idempotent: "
                     "results are replaced, never added; the replaced ones are kept in the rating history."))
@click.option("--from", "start", metavar="DATE", help=_("First day, site-local."))
@click.option("--to", "end", metavar="DATE", help=_("Day after the last, exclusive."))
@click.option("--site", help=_("Only the calls of this site."))
@click.option("--tariff", "tariff_file", type=click.Path(dir_okay=False, path_type=Path),
              help=_("Price with this tariff instead of each site's (what-if, or a corrected deck)."))
@click.option("--workers", type=int, help=_("Price the pages on a local Dask cluster of N worker processes."))
@click.option("--scheduler", metavar="tcp://HOST:PORT", help=_("Price the pages on this Dask cluster."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON."))
@click.pass_context
def rate(ctx: click.Context, start: str | None, end: str | None, site: str | None, tariff_file: Path | None,
         workers: int | None, scheduler: str | None, as_json: bool) -> None:
    """Re-rate stored calls of a period with the tariff versions in force at each call. Idempotent: results are
    replaced, never added; the replaced ones are kept in the rating history."""
    from pipeline.batchrate import BatchError
    from pipeline.rerate import RerateError, rerate
    from store.db import StoreBusy

    ws = _workspace(ctx)
    store = _store(ws)
    if tariff_file is not None:
        _load(str(tariff_file))  # exits with the problems if the tariff is invalid
    zone = ws.sites[site].timezone if site in ws.sites else "UTC"
    summary: dict[str, Any] = {}
    if site is not None and site not in ws.sites:
        _fail(_("no [[site]] named {site} in anatole.toml (sites: {sites})").format(
            site=repr(site), sites=", ".join(ws.sites) or _("none")))
    first, last = _date(start, zone, "--from"), _date(end, zone, "--to")
    _before(first, last, start, end)
    try:
        with clitools.progress(_("re-rate"), lambda: store.count_for_rating(start=first, end=last, site=site),
                               quiet=as_json) as update:  # on a terminal only
            rerate(ws, store, start=first, end=last, site=site, tariff=tariff_file, summary=summary, progress=update,
                   workers=workers, scheduler=scheduler)
    except StoreBusy as exc:
        _fail(_("{problem}; {count} call(s) had been re-rated").format(problem=exc, count=summary.get("calls", 0)))
    except (RerateError, BatchError) as exc:  # Dask missing or unreachable, a worker's workspace not valid
        _fail(_("{problem}; {count} call(s) had been re-rated").format(problem=exc, count=summary.get("calls", 0)))
    finally:
        store.close()
    if as_json:
        _emit_json(summary)
    else:
        count = clitools.count
        _console().print(_("re-rated {count} call(s): {changed} changed ({statuses})").format(
            count=count(summary["calls"]), changed=count(summary["changed"]),
            statuses=", ".join(f"{display.call_status(k)} {count(v)}" for k, v in summary["statuses"].items())
            or _("none")))


@main.command("batch-rate", help=_("Rate CDR files straight to a CSV or Parquet file, without a database (one row "
                                   "per call)."))
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tariff", "tariff_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help=_("The tariff to rate with (its TOML file, beside its CSV rate deck)."))
@click.option("--format", "-f", "fmt", default="auto", show_default=True, help=_("CDR format, or auto."))
@click.option("--site", help=_("A [[site]] of the workspace, for its dial plan; not needed for +CC numbers."))
@click.option("--timezone", default="UTC", show_default=True, help=_("PBX local time zone when no site is given."))
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help=_("OUT.csv or OUT.parquet (rejects go to OUT.<ext>.rejects.csv)."))
@click.option("--workers", type=int, help=_("Rate on a local Dask cluster of N worker processes."))
@click.option("--scheduler", help=_("Rate on the Dask cluster at tcp://HOST:PORT (Parquet: a folder of parts)."))
@click.option("--chunk-mb", default=32, show_default=True, type=click.IntRange(min=1),
              help=_("With Dask: split big files into parts of this size."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON."))
@click.pass_context
def batch_rate_cmd(ctx: click.Context, inputs: tuple[Path, ...], tariff_file: Path, fmt: str, site: str | None,
                   timezone: str, out: Path, workers: int | None, scheduler: str | None, chunk_mb: int,
                   as_json: bool) -> None:
    """Rate CDR files straight to a CSV or Parquet file, without a database (one row per call)."""
    from anatole.config import Workspace
    from ingest.cdr import UnknownFormat, detect
    from pipeline.batchrate import BatchError, batch_rate, check_formats, check_regular, csv_profile

    try:
        check_regular(list(inputs))  # before anything reads a stream's start (the format's detection below)
    except BatchError as exc:
        _fail(str(exc))
    _load(str(tariff_file))  # exits listing the problems when the tariff is invalid
    clitools.zone(timezone)
    ws = _workspace(ctx) if site or fmt.partition(":")[0] == "csv" else Workspace(Path.cwd())  # csv:NAME: its profile
    if site and site not in ws.sites:
        _fail(_("no [[site]] named {site} in anatole.toml").format(site=repr(site)))
    try:
        profile = csv_profile(ws, fmt)
    except BatchError as exc:
        _fail(str(exc))
    detected = fmt == "auto"
    if detected:
        try:
            with inputs[0].open("rb") as f:
                fmt, _confidence = detect(f.read(65536))
        except UnknownFormat as exc:
            _fail(f"{inputs[0]}: {exc}")
    dask: dict = {}
    try:
        check_formats(list(inputs), fmt, detected=detected,  # a wrong format: nothing written, exit 1
                      timezone=ws.sites[site].timezone if site else timezone, profile=profile)
        label = _("batch-rate → {file}").format(file=out.name)
        with clitools.progress(label, quiet=as_json) as update:  # on a terminal only
            if workers is not None or scheduler is not None:  # the same path on Dask workers (pipeline/distributed.py)
                from pipeline.distributed import distributed_batch_rate

                result, dask = distributed_batch_rate(list(inputs), tariff=tariff_file, fmt=fmt, out=out, site=site,
                                                      workspace=ws.path, timezone=timezone, scheduler=scheduler,
                                                      workers=workers, chunk_bytes=max(1, chunk_mb) << 20,
                                                      progress=update, ws=ws)
            else:
                result = batch_rate(list(inputs), tariff=tariff_file, fmt=fmt, out=out,
                                    site=ws.sites[site] if site else None, timezone=timezone, ws=ws, progress=update,
                                    profile=profile)
    except (BatchError, UnknownFormat) as exc:
        _fail(str(exc))
    summary = {"format": fmt, "out": str(out), "read": result.read, "calls": result.calls,
               "rejected": result.rejected, "skipped": result.skipped, "statuses": result.statuses,
               "files": result.files, **({"dask": dask} if dask else {})}
    if as_json:
        _emit_json(summary)
    else:
        count = clitools.count
        _console().print(_("{out}: {count} call(s) from {files} file(s) ({format}); rejected {rejected}; {statuses}")
                         .format(out=out, count=count(result.calls), files=count(len(inputs)), format=fmt,
                                 rejected=count(result.rejected),
                                 statuses=", ".join(f"{display.call_status(k)} {count(v)}"
                                                    for k, v in result.statuses.items())))


# --- demo ---------------------------------------------------------------------------------------------------


@main.command(help=_("Create a demo workspace with a month of calls for a made-up company, rate them and show a "
                     "summary."))
@click.option("--seed", default=7, show_default=True, help=_("Random seed of the generated calls."))
@click.option("--hotel", is_flag=True, help=_("A hotel instead (default folder ./anatole-hotel): rooms, guests, a day "
              "of guest calls with late charges, a PMS link for `anatole hotel simulate-pms`; try `anatole ui`, 6."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the summary as JSON."))
@click.pass_context
def demo(ctx: click.Context, seed: int, hotel: bool, as_json: bool) -> None:
    """Create a demo workspace with a month of calls for a made-up company, rate them and show a summary."""
    from anatole.demo import DemoError, render_summary, run_demo

    if hotel:
        from anatole.demo.hotel import render, run_hotel_demo

        try:
            summary = run_hotel_demo(ctx.obj["workspace"] or Path.cwd() / "anatole-hotel", seed=seed)
        except DemoError as exc:
            _fail(str(exc))
        if as_json:
            _emit_json(summary)
        else:
            render(summary, _console())
        return
    workspace = ctx.obj["workspace"] or Path.cwd() / "anatole-demo"
    try:
        summary = run_demo(workspace, seed=seed)
    except DemoError as exc:
        _fail(str(exc))
    if as_json:
        _emit_json(summary)
    else:
        render_summary(summary, _console())


# --- the commands of the other modules (they import anatole.clitools, never this module) ---------------------

from anatole.cli_archive import archive  # noqa: E402  (months of calls to Parquet: export, drop, list)
from anatole.cli_backup import backup, restore  # noqa: E402  (anatole backup, anatole restore)
from anatole.cli_bench import bench  # noqa: E402  (anatole bench: benchmarks here and a capacity plan)
from anatole.cli_hotel import hotel  # noqa: E402  (the hotel front desk: rooms, folios, late charges, PMS postings)
from anatole.cli_imports import imports  # noqa: E402  (past imports: list, explain)
from anatole.cli_inventory import COMMANDS as TEM_COMMANDS  # noqa: E402  (inventory, allocation, reports, what-if)
from anatole.cli_invoice import import_invoice, invoice  # noqa: E402  (carrier invoices: import, workflow)
from anatole.cli_mobile import mobile  # noqa: E402  (mobile lines: usage, plans, right-sizing, findings)
from anatole.cli_notify import deliveries  # noqa: E402  (alerts and reports sent by mail, webhook, syslog)
from anatole.cli_recon import reconcile_cmd  # noqa: E402  (invoice call detail against rated calls)
from anatole.cli_serve import alerts, serve, status  # noqa: E402  (live daemon commands)
from anatole.cli_service import service  # noqa: E402  (systemd units: anatole service print)
from anatole.cli_ui import monitor, ui  # noqa: E402  (the console: anatole ui, anatole monitor)
from anatole.cli_web import web  # noqa: E402  (the console in a browser: anatole web)

import_.add_command(import_invoice)
main.add_command(backup)
main.add_command(archive)
main.add_command(restore)
main.add_command(deliveries)
for _command in (invoice, reconcile_cmd, serve, status, alerts, ui, monitor, bench, hotel, imports, mobile,
                 *TEM_COMMANDS):
    main.add_command(_command)
main.add_command(service)
main.add_command(web)


if __name__ == "__main__":  # pragma: no cover
    main()
