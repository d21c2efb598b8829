"""`anatole mobile import|lines|plans|rightsize|findings`: mobile usage detail, plans, right-sizing and findings.

Registered in anatole/cli.py. An import reads carrier usage CSV files (`[mobile_csv.NAME]` profiles) or the usage
lines of invoices and stores every row as a record or a reject (counts balance); a file that cannot be read at all
exits 1 naming it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from anatole import clitools
from i18n import _
from store import display


def _amount(text: str | None) -> str:
    """An amount of tem.mobile (``"12.50"``) grouped in the language's style (``12,50``)."""
    return display.from_text(text, None, exact=True, code=False) if text else ""


def _open(ctx: click.Context) -> tuple[Any, Any, Any]:
    """(workspace, calls store, mobile store), or exit with a clear message."""
    from store.mobile import MobileStoreError, open_mobile

    ws = clitools.workspace(ctx)
    store = clitools.store(ws)
    try:
        return ws, store, open_mobile(store.conn)
    except MobileStoreError as exc:
        clitools.fail(str(exc))
    raise AssertionError  # unreachable: fail exits


def _volume(kind: str, v: int) -> str:
    if kind == "voice":
        return f"{v // 60}:{v % 60:02d} min"
    if kind == "data":
        return f"{v / 10**6:,.1f} MB"  # display only: the stored volume is the exact byte count
    return f"{v} msg"


@click.group("mobile", help=_("Mobile lines: usage detail, plans, right-sizing and findings."))
def mobile() -> None:
    """Mobile lines."""


@mobile.command("import", help=_("Import usage detail files (carrier CSV with a profile, or an invoice's usage "
                                 "lines)."))
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--profile", "-p", help=_("The [mobile_csv.NAME] profile (default: the one whose columns the header "
                                        "has)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the counts as JSON."))
@click.pass_context
def import_cmd(ctx: click.Context, files: tuple[Path, ...], profile: str | None, as_json: bool) -> None:
    """Import usage detail files."""
    from pbx.alerts import USAGE_KINDS, parse_rules
    from tem.mobile import MobileError, import_file

    ws, _st, mstore = _open(ctx)
    rules, problems = parse_rules(ws.alerts, str(ws.path / "anatole.toml"))
    if problems:
        clitools.fail("\n".join(str(p) for p in problems))
    rules = [r for r in rules if r.kind in USAGE_KINDS]
    results, failed = [], False
    for f in files:
        try:
            results.append(import_file(mstore, f, profiles=ws.mobile_profiles, profile=profile,
                                       invoice_profiles=ws.invoice_profiles, settings=ws.mobile, rules=rules,
                                       delivery=ws.delivery))
        except MobileError as exc:
            failed = True
            results.append({"file": str(f), "error": str(exc)})
    if as_json:
        clitools.emit_json(results)
        sys.exit(clitools.EXIT_INPUT if failed else 0)
    out = clitools.console()
    for r in results:
        if "error" in r:
            word = _("error:")
            clitools.console(err=True).print(f"[bold red]{escape(word)}[/] {escape(r['error'])}")
            continue
        out.print(escape(_("{file} ({format}, {carrier}): read {read} = stored {stored} + rejected {rejected} + "
                           "duplicates {duplicates}").format(
            file=r["file"], format=r["format"], carrier=r["carrier"] or "?", read=r["read"], stored=r["stored"],
            rejected=r["rejected"], duplicates=r["duplicates"])))
        for j in r["rejects"][:20]:
            out.print("  " + escape(_("reject: {reason}").format(reason=j["reason"])))
        if len(r["rejects"]) > 20:
            out.print("  " + escape(_("... and {count} more rejects").format(count=len(r["rejects"]) - 20)))
        for a in r["alerts"]:
            out.print(f"  [yellow]{a['rule']}[/] {a['line']}: {escape(a['message'])}")
        for a in r["raised"]:
            alert = _("alert #{id}").format(id=a["id"])
            out.print(f"  [bold yellow]{escape(alert)}[/] {escape(a['message'])}")
        for n in r["notes"]:
            out.print("  " + escape(_("note: {text}").format(text=n)))
    sys.exit(clitools.EXIT_INPUT if failed else 0)


@mobile.command("assign", help=_("Set each line's carrier and plan from a CSV line list (line, carrier, plan[, "
                                 "account])."))
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def assign_cmd(ctx: click.Context, file: Path) -> None:
    """Each line's carrier and plan from a CSV line list."""
    from tem.mobile import MobileError, assign_file

    ws, _st, mstore = _open(ctx)
    try:
        r = assign_file(mstore, file, ws)
    except MobileError as exc:
        clitools.fail(str(exc))
    clitools.console().print(escape(_("{file}: {count} line(s) assigned a plan").format(file=r["file"],
                                                                                      count=r["lines"])))


@mobile.command("lines", help=_("Each line with its plan and its usage of the month against the plan's "
                                "allowances."))
@click.option("--month", help=_("The month to show (YYYY-MM; default: the latest with usage)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print as JSON."))
@click.pass_context
def lines_cmd(ctx: click.Context, month: str | None, as_json: bool) -> None:
    """The lines and their usage of a month."""
    from tem.mobile import MobileError, lines_view

    ws, _st, mstore = _open(ctx)
    try:
        view = lines_view(ws, mstore, month)
    except MobileError as exc:
        clitools.fail(str(exc))
    if as_json:
        clitools.emit_json(view)
        return
    t = Table(title=_("Mobile lines, {month}").format(month=view["month"] or _("no usage")))
    for col, right in ((_("line"), False), (_("carrier"), False), (_("plan"), False), (_("voice"), False),
                       (_("sms"), False), (_("data"), False), (_("roaming"), True), (_("billed"), True),
                       (_("suggested"), False), (_("saving/month"), True)):
        t.add_column(col, justify="right" if right else "left", no_wrap=right)
    for r in view["lines"]:
        t.add_row(r["line"], r["carrier"], r["plan"] or "?", r["voice"], r["sms"], r["data"], _amount(r["roaming"]),
                  _amount(r["billed"]), r["suggested"] or "", _amount(r["saving"]))
    clitools.console().print(t)


@mobile.command("plans", help=_("The plan catalogues of [mobile] plans, validated."))
@click.option("--json", "as_json", is_flag=True, help=_("Print as JSON."))
@click.pass_context
def plans_cmd(ctx: click.Context, as_json: bool) -> None:
    """The plan catalogues."""
    from tem.mobile_plans import PlanError, load_catalogues

    ws = clitools.workspace(ctx)
    try:
        plans = load_catalogues(ws.mobile.plans)
    except PlanError as exc:
        clitools.fail(str(exc))
    if as_json:
        clitools.emit_json([p.as_json() for p in plans])
        return
    t = Table(title=_("Mobile plans"))
    for col in (_("carrier"), _("contract"), _("code"), _("name"), _("fee"), _("minutes"), "SMS", _("data MB"),
                _("pooled"), _("from"), _("to")):
        t.add_column(col)
    clitools.whole(t, _("fee"))
    for p in plans:
        t.add_row(p.carrier, p.contract, p.code, p.name, display.money(p.fee, p.currency),
                  _allow(p.minutes), _allow(p.sms), _allow(p.data_mb), _("yes") if p.pooled else _("no"),
                  _day(p.valid_from), _day(p.valid_to))
    clitools.console().print(t)


def _day(text: str | None) -> str:
    """An ISO day (``2024-01-01``) in the language's style (``01/01/2024``)."""
    import datetime as dt

    if not text:
        return ""
    try:
        return display.day(dt.date.fromisoformat(str(text)))
    except ValueError:
        return str(text)


def _allow(v: int) -> str:
    return _("unlimited") if v < 0 else str(v)


@mobile.command("rightsize", help=_("What each line's last N months would have cost on each plan: the cheapest "
                                    "plan and the saving."))
@click.option("--months", "-n", type=click.IntRange(1, 36),
              help=_("Months of usage to evaluate (default [mobile] months)."))
@click.option("--last", "last_month", help=_("The last month evaluated (YYYY-MM; default: the latest with usage)."))
@click.option("--all", "show_all", is_flag=True, help=_("List every line, not only those with a saving."))
@click.option("--json", "as_json", is_flag=True, help=_("Print as JSON."))
@click.pass_context
def rightsize_cmd(ctx: click.Context, months: int | None, last_month: str | None, show_all: bool,
                  as_json: bool) -> None:
    """Right-sizing: the cheapest plan of each line and the saving."""
    from tem.mobile import MobileError, rightsize

    ws, _st, mstore = _open(ctx)
    try:
        result = rightsize(ws, mstore, months=months, last_month=last_month)
    except MobileError as exc:
        clitools.fail(str(exc))
    if as_json:
        clitools.emit_json(result)
        return
    out = clitools.console()
    t = Table(title=_("Right-sizing, {first}…{last} ({months} months)").format(
        first=result["first_month"], last=result["last_month"], months=result["months"]))
    for col, right in ((_("line"), False), (_("carrier"), False), (_("plan"), False), (_("cost now"), True),
                       (_("best plan"), False), (_("cost then"), True), (_("saving"), True)):
        t.add_column(col, justify="right" if right else "left", no_wrap=right)
    for r in result["lines"]:
        if show_all or r.get("saving_value", 0) > 0:
            t.add_row(r["line"], r["carrier"], r["plan"] or "?", _amount(r["current_cost"]), r["best_plan"],
                      _amount(r["best_cost"]), _amount(r["saving"]))
    out.print(t)
    for p in result["pools"]:
        out.print(escape(_("pool {carrier} / {account} ({lines} lines): best individual plans {individual}; best "
                           "pooled plan {plan} {cost}").format(
            carrier=p["carrier"], account=p["account"] or "-", lines=p["lines"],
            individual=_amount(p["individual_cost"]), plan=p["best_pooled_plan"] or "-",
            cost=_amount(p["best_pooled_cost"]))))
    if result["carriers_without_plans"]:
        out.print(escape(_("no plan catalogue for {carriers} (the catalogue's carrier must be the usage profile's "
                           "carrier): their lines are not priced").format(
            carriers=", ".join(result["carriers_without_plans"]))))
    if result["lines_without_current_plan"]:
        out.print(escape(_("{count} line(s) with no known plan: best plan shown, no saving (name the plan in the "
                           "usage file, `anatole mobile assign`, or the inventory contract's tariff)").format(
            count=result["lines_without_current_plan"])))
    for cur, v in sorted(result["saving_total"].items()):
        total = _("total saving over {months} months: {amount}").format(
            months=result["months"], amount=display.from_text(v, cur, exact=True))
        out.print(f"[bold]{escape(total)}[/]")


@mobile.command("findings", help=_("Run the mobile checks (unused lines, roaming spikes, usage after cancellation, "
                                   "overage on included usage) and list them with the threshold alerts raised at "
                                   "import."))
@click.option("--json", "as_json", is_flag=True, help=_("Print as JSON."))
@click.pass_context
def findings_cmd(ctx: click.Context, as_json: bool) -> None:
    """The mobile checks and the threshold alerts raised at import."""
    from tem.mobile import MobileError, run_findings

    ws, _st, mstore = _open(ctx)
    try:
        rows = run_findings(ws, mstore)
    except MobileError as exc:
        clitools.fail(str(exc))
    if as_json:
        clitools.emit_json(rows)
        return
    t = Table(title=_("Mobile findings"))
    for col, right in ((_("rule"), False), (_("line"), False), (_("month"), False), (_("at stake"), True),
                       (_("message"), False)):
        t.add_column(col, justify="right" if right else "left", no_wrap=right)
    for f in rows:
        t.add_row(f["rule"], f["line"], f["month"], display.money(f["at_stake"], f["currency"]), f["message"])
    clitools.console().print(t)


COMMANDS = (mobile,)
