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
from store import display


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


@click.group("mobile")
def mobile() -> None:
    """Mobile lines: usage detail, plans, right-sizing and findings."""


@mobile.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--profile", "-p", help="The [mobile_csv.NAME] profile (default: the one whose columns the header has).")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_context
def import_cmd(ctx: click.Context, files: tuple[Path, ...], profile: str | None, as_json: bool) -> None:
    """Import usage detail files (carrier CSV with a profile, or an invoice's usage lines)."""
    from pbx.alerts import USAGE_KINDS, parse_rules
    from tem.mobile import MobileError, import_file

    ws, _, mstore = _open(ctx)
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
            clitools.console(err=True).print(f"[bold red]error:[/] {escape(r['error'])}")
            continue
        out.print(f"{escape(r['file'])} ({escape(r['format'])}, {escape(r['carrier'] or '?')}): read {r['read']} = "
                  f"stored {r['stored']} + rejected {r['rejected']} + duplicates {r['duplicates']}")
        for j in r["rejects"][:20]:
            out.print(f"  reject: {escape(j['reason'])}")
        if len(r["rejects"]) > 20:
            out.print(f"  ... and {len(r['rejects']) - 20} more rejects")
        for a in r["alerts"]:
            out.print(f"  [yellow]{a['rule']}[/] {a['line']}: {escape(a['message'])}")
        for a in r["raised"]:
            out.print(f"  [bold yellow]alert #{a['id']}[/] {escape(a['message'])}")
        for n in r["notes"]:
            out.print(f"  note: {escape(n)}")
    sys.exit(clitools.EXIT_INPUT if failed else 0)


@mobile.command("assign")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def assign_cmd(ctx: click.Context, file: Path) -> None:
    """Set each line's carrier and plan from a CSV line list (line, carrier, plan[, account])."""
    from tem.mobile import MobileError, assign_file

    _, _, mstore = _open(ctx)
    try:
        r = assign_file(mstore, file)
    except MobileError as exc:
        clitools.fail(str(exc))
    clitools.console().print(f"{escape(r['file'])}: {r['lines']} line(s) assigned a plan")


@mobile.command("lines")
@click.option("--month", help="The month to show (YYYY-MM; default: the latest with usage).")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def lines_cmd(ctx: click.Context, month: str | None, as_json: bool) -> None:
    """Each line with its plan and its usage of the month against the plan's allowances."""
    from tem.mobile import MobileError, lines_view

    ws, _, mstore = _open(ctx)
    try:
        view = lines_view(ws, mstore, month)
    except MobileError as exc:
        clitools.fail(str(exc))
    if as_json:
        clitools.emit_json(view)
        return
    t = Table(title=f"Mobile lines, {view['month'] or 'no usage'}")
    for col in ("line", "carrier", "plan", "voice", "sms", "data", "roaming", "billed", "suggested", "saving/month"):
        t.add_column(col, justify="right" if col in ("billed", "saving/month", "roaming") else "left")
    for r in view["lines"]:
        t.add_row(r["line"], r["carrier"], r["plan"] or "?", r["voice"], r["sms"], r["data"], r["roaming"],
                  r["billed"], r["suggested"] or "", r["saving"] or "")
    clitools.console().print(t)


@mobile.command("plans")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def plans_cmd(ctx: click.Context, as_json: bool) -> None:
    """The plan catalogues of [mobile] plans, validated."""
    from tem.mobile_plans import PlanError, load_catalogues

    ws = clitools.workspace(ctx)
    try:
        plans = load_catalogues(ws.mobile.plans)
    except PlanError as exc:
        clitools.fail(str(exc))
    if as_json:
        clitools.emit_json([p.as_json() for p in plans])
        return
    t = Table(title="Mobile plans")
    for col in ("carrier", "contract", "code", "name", "fee", "minutes", "SMS", "data MB", "pooled", "from", "to"):
        t.add_column(col)
    for p in plans:
        t.add_row(p.carrier, p.contract, p.code, p.name, display.money(p.fee, p.currency),
                  _allow(p.minutes), _allow(p.sms), _allow(p.data_mb), "yes" if p.pooled else "no",
                  p.valid_from, p.valid_to or "")
    clitools.console().print(t)


def _allow(v: int) -> str:
    return "unlimited" if v < 0 else str(v)


@mobile.command("rightsize")
@click.option("--months", "-n", type=click.IntRange(1, 36),
              help="Months of usage to evaluate (default [mobile] months).")
@click.option("--last", "last_month", help="The last month evaluated (YYYY-MM; default: the latest with usage).")
@click.option("--all", "show_all", is_flag=True, help="List every line, not only those with a saving.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def rightsize_cmd(ctx: click.Context, months: int | None, last_month: str | None, show_all: bool,
                  as_json: bool) -> None:
    """What each line's last N months would have cost on each plan: the cheapest plan and the saving."""
    from tem.mobile import MobileError, rightsize

    ws, _, mstore = _open(ctx)
    try:
        result = rightsize(ws, mstore, months=months, last_month=last_month)
    except MobileError as exc:
        clitools.fail(str(exc))
    if as_json:
        clitools.emit_json(result)
        return
    out = clitools.console()
    t = Table(title=f"Right-sizing, {result['first_month']}…{result['last_month']} ({result['months']} months)")
    for col in ("line", "carrier", "plan", "cost now", "best plan", "cost then", "saving"):
        t.add_column(col, justify="right" if col in ("cost now", "cost then", "saving") else "left")
    for r in result["lines"]:
        if show_all or r.get("saving_value", 0) > 0:
            t.add_row(r["line"], r["carrier"], r["plan"] or "?", r["current_cost"] or "", r["best_plan"],
                      r["best_cost"], r["saving"] or "")
    out.print(t)
    for p in result["pools"]:
        out.print(f"pool {escape(p['carrier'])} / {escape(p['account'] or '-')} ({p['lines']} lines): best individual "
                  f"plans {p['individual_cost']}; best pooled plan {p['best_pooled_plan'] or '-'} "
                  f"{p['best_pooled_cost'] or ''}")
    if result["carriers_without_plans"]:
        out.print(f"no plan catalogue for {escape(', '.join(result['carriers_without_plans']))} (the catalogue's "
                  "carrier must be the usage profile's carrier): their lines are not priced")
    if result["lines_without_current_plan"]:
        out.print(f"{result['lines_without_current_plan']} line(s) with no known plan: best plan shown, no saving "
                  "(name the plan in the usage file, `anatole mobile assign`, or the inventory contract's tariff)")
    for cur, v in sorted(result["saving_total"].items()):
        out.print(f"[bold]total saving over {result['months']} months: {v} {cur}[/]")


@mobile.command("findings")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def findings_cmd(ctx: click.Context, as_json: bool) -> None:
    """Run the mobile checks (unused lines, roaming spikes, usage after cancellation, overage on included usage)
    and list them with the threshold alerts raised at import."""
    from tem.mobile import MobileError, run_findings

    ws, _, mstore = _open(ctx)
    try:
        rows = run_findings(ws, mstore)
    except MobileError as exc:
        clitools.fail(str(exc))
    if as_json:
        clitools.emit_json(rows)
        return
    t = Table(title="Mobile findings")
    for col in ("rule", "line", "month", "at stake", "message"):
        t.add_column(col, justify="right" if col == "at stake" else "left")
    for f in rows:
        t.add_row(f["rule"], f["line"], f["month"], display.money(f["at_stake"], f["currency"]), f["message"])
    clitools.console().print(t)


COMMANDS = (mobile,)
