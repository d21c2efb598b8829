"""`anatole inventory import|list|show|history`, `anatole allocate`, `anatole chargeback` and `anatole gl-export`.

Registered in anatole/cli.py. An import previews by default and writes only with --apply (all in one transaction,
refused while problems are open unless --accept); a file that cannot be read exits 1 naming the file and line.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from anatole import clitools
from i18n import _
from store import display

FILE_KINDS = ("people", "cost-centres", "sites", "extensions", "lines", "devices", "contracts")  # inventory import -k


def _open(ctx: click.Context) -> tuple[Any, Any, Any]:
    """(workspace, calls store, inventory store), or exit with a clear message."""
    from store.inventory import InventoryStoreError, open_inventory

    ws = clitools.workspace(ctx)
    store = clitools.store(ws)
    try:
        return ws, store, open_inventory(store.conn)
    except InventoryStoreError as exc:
        clitools.fail(str(exc))


def _day(text: str | None, option: str) -> str | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        clitools.fail(_("{option} {value} is not a date (YYYY-MM-DD)").format(option=option, value=repr(text)))
    return None


@click.group("inventory", help=_("Cost centres, people, extensions, lines, devices and contracts (effective-dated, "
                                 "with history)."))
def inventory() -> None:
    """The inventory (tem.inventory)."""


@inventory.command("import", help=_("Import a CSV file (an HR or directory export, a line list...): preview adds, "
                                    "changes, removals and problems; --apply writes them in one transaction."))
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--kind", "-k", "file_kind", default="people", metavar="KIND", type=click.Choice(FILE_KINDS),
              help=_("What the file lists: {kinds} (default: {default}).").format(
                  kinds=", ".join(f"`{k}`" for k in FILE_KINDS), default="`people`"))
@click.option("--preview/--apply", "preview_only", default=True, show_default=True,
              help=_("Show what would change (default), or write it."))
@click.option("--accept", is_flag=True, help=_("Apply despite unknown/missing cost centres, duplicates and "
                                               "overlaps."))
@click.option("--effective", metavar="DATE", help=_("Date the file is true from, for rows without a from column, "
                                                    "and of removals (default: today)."))
@click.option("--partial", is_flag=True, help=_("The file lists only some items: remove nothing."))
@click.option("--by", "actor", help=_("Who imports (recorded in the history); default: the login name."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the preview as JSON."))
@click.pass_context
def import_cmd(ctx: click.Context, file: Path, file_kind: str, preview_only: bool, accept: bool,
               effective: str | None, partial: bool, actor: str | None, as_json: bool) -> None:
    """Import an inventory CSV file: preview, or --apply in one transaction."""
    from tem.inventory import FILE_KINDS, InventoryError, import_file
    from tem.workflow import actor_name

    _ws, store, istore = _open(ctx)
    try:
        p, batch = import_file(istore, file, FILE_KINDS[file_kind], effective=_day(effective, "--effective"),
                               partial=partial, apply_it=not preview_only, accept=accept, actor=actor_name(actor))
    except InventoryError as exc:
        if as_json and not preview_only:
            clitools.emit_json({"file": str(file), "applied": False, "error": str(exc)})
            sys.exit(clitools.EXIT_INPUT)
        clitools.fail(str(exc))
    if as_json:
        clitools.emit_json({**p.as_json(), "applied": batch is not None, "batch": batch})
        sys.exit(clitools.EXIT_INPUT if preview_only and p.blocking else 0)
    console = clitools.console()
    head = _("{file}: {rows} row(s) of {kind}, effective {effective}").format(
        file=file, rows=p.rows, kind=file_kind, effective=p.effective)
    console.print(escape(head + (_(" (partial)") if partial else "")))
    for title, rows, mark in (("add", p.adds, "+"), ("change", p.changes, "~"), ("remove", p.removals, "-")):
        for r in rows:
            span = f"{r['from']}..{r.get('to') or ''}"
            detail = ", ".join(f"{k}={v}" for k, v in r["fields"].items() if v is not None)
            if title == "change" and r.get("before"):
                diff = [f"{k}: {r['before'].get(k)} → {v}" for k, v in r["fields"].items()
                        if r["before"].get(k) != v]
                detail = ", ".join(diff) or _("dates")
            console.print(f"  {mark} {r['kind']} {r['key']} [{span}] {detail}", markup=False)
    console.print("  " + _("{adds} add(s), {changes} change(s), {removals} removal(s), {unchanged} unchanged").format(
        adds=len(p.adds), changes=len(p.changes), removals=len(p.removals), unchanged=p.unchanged))
    for prob in p.problems:
        tag = _("accepted") if batch is not None else (_("fix") if not prob.acceptable else _("problem"))
        console.print(f"  ! [{tag}] {prob.code}: {prob.message}", markup=False)
    if batch is not None:
        console.print(_("applied as batch #{batch}").format(batch=batch))
    elif p.blocking:
        message = _("some rows cannot be read: fix the file")
        console.print(f"[bold red]{escape(message)}[/]")
        sys.exit(clitools.EXIT_INPUT)
    elif p.problems:
        console.print(_("resolve the problems, or give --apply --accept to apply anyway"))
    else:
        console.print(_("preview only: give --apply to write it"))


@inventory.command("list", help=_("The inventory on a date (or every version with --all)."))
@click.option("--kind", "-k", type=click.Choice(["cost_centre", "person", "site", "extension", "line", "device",
                                                 "contract"]), help=_("Only this kind."))
@click.option("--at", "at", metavar="DATE", help=_("Items valid on this date (default: today); --all for history."))
@click.option("--all", "everything", is_flag=True, help=_("Every version, past and future."))
@click.option("--json", "as_json", is_flag=True, help=_("One JSON object per line."))
@click.pass_context
def list_cmd(ctx: click.Context, kind: str | None, at: str | None, everything: bool, as_json: bool) -> None:
    """The inventory on a date."""
    import json

    from tem.inventory import describe

    _ws, _st, istore = _open(ctx)
    day = None if everything else (_day(at, "--at") or dt.date.today().isoformat())
    rows = [describe(r) for r in istore.items(kind, at=day)]
    if as_json:
        for r in rows:
            click.echo(json.dumps(r, ensure_ascii=False))
        return
    table = Table(_("kind"), _("key"), _("from"), _("to"), _("details"), box=None)
    for r in rows:
        table.add_row(r["kind"], r["key"], display.iso_day(r["from"]), display.iso_day(r["to"]),
                      escape(", ".join(f"{k}={v}" for k, v in r.items()
                                       if k not in ("kind", "key", "from", "to") and v is not None)))
    console = clitools.console()
    console.print(table)
    console.print(_("{count} item(s) valid on {day}").format(count=len(rows), day=display.iso_day(day)) if day
                  else _("{count} item(s)").format(count=len(rows)))


@inventory.command("show", help=_("Every version of one item, and its history."))
@click.argument("key")
@click.option("--kind", "-k", help=_("The kind, where the key is ambiguous."))
@click.option("--json", "as_json", is_flag=True, help=_("Print one JSON object."))
@click.pass_context
def show_cmd(ctx: click.Context, key: str, kind: str | None, as_json: bool) -> None:
    """One item's versions and history."""
    from tem.inventory import describe

    _ws, _st, istore = _open(ctx)
    versions = [describe(r) for r in istore.items(kind, key=key)]
    history = istore.history(kind, key)
    if not versions and not history:
        clitools.fail(_("no inventory item {key} of kind {kind}").format(key=repr(key), kind=kind) if kind
                      else _("no inventory item {key}").format(key=repr(key)))
    if as_json:
        clitools.emit_json({"key": key, "versions": versions, "history": history})
        return
    console = clitools.console()
    for v in versions:
        console.print(f"{v['kind']} {v['key']} {v['from']}..{v['to'] or ''}: " + ", ".join(
            f"{k}={val}" for k, val in v.items() if k not in ("kind", "key", "from", "to") and val is not None),
            markup=False)
    _print_history(console, history)


@inventory.command("history", help=_("Every change, newest first: who, when, what before and after."))
@click.option("--kind", "-k", help=_("Only this kind."))
@click.option("--key", help=_("Only this item."))
@click.option("--limit", default=50, show_default=True, type=clitools.COUNT, help=_("The newest N changes."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the changes as JSON."))
@click.pass_context
def history_cmd(ctx: click.Context, kind: str | None, key: str | None, limit: int, as_json: bool) -> None:
    """The inventory's changes, newest first."""
    _ws, _st, istore = _open(ctx)
    rows = istore.history(kind, key, limit)
    if as_json:
        clitools.emit_json(rows)
        return
    _print_history(clitools.console(), rows)


def _print_history(console: Any, rows: list[dict[str, Any]]) -> None:
    for h in rows:
        args = dict(when=display.when(h["at"], "UTC", show_zone=False), who=h["actor"], batch=h["batch_id"],
                    action=h["action"], kind=h["kind"], key=h["key"], start=display.iso_day(h["valid_from"]),
                    end=display.iso_day(h["valid_to"]))
        line = (_("{when} {who} batch #{batch}: {action} {kind} {key} from {start} to {end}") if h["valid_to"]
                else _("{when} {who} batch #{batch}: {action} {kind} {key} from {start}")).format(**args)
        console.print(line + (f" ({h['note']})" if h["note"] else ""), markup=False)


# --- allocation ----------------------------------------------------------------------------------------------


def _period(ctx: click.Context, q: Any, period: str | None) -> str:
    from tem.allocation import AllocationError, latest_period, month_bounds

    if period is None:
        zones = {n: s.timezone for n, s in clitools.workspace(ctx).sites.items()} if ctx is not None else {}
        period = latest_period(q, zones)
        if period is None:
            clitools.fail(_("no calls and no invoices in the store: nothing to allocate (import calls or invoices "
                            "first)"))
    try:
        month_bounds(period)
    except AllocationError as exc:
        clitools.fail(str(exc))
    return str(period)


def run_allocation(ws: Any, store: Any, istore: Any, period: str | None, *, currency: str | None = None,
                   save: bool = True, mark: bool = True, actor: str | None = None, ctx: Any = None) -> Any:
    """Allocate a period (default: the latest month with data), store the run and mark its approved invoices
    allocated; exits with a message on bad input."""
    from store.invoices import open_invoices
    from store.reports import open_queries
    from tem import workflow
    from tem.allocation import AllocationConfig, AllocationError, allocate

    if currency is not None:
        if not re.fullmatch(r"[A-Za-z]{3}", currency):
            clitools.fail(_("--currency {value} is not an ISO 4217 code (e.g. EUR)").format(value=repr(currency)))
        currency = currency.upper()  # eur is EUR (it allocated nothing)
    q = open_queries(store.conn)
    period = _period(ctx, q, period)
    cfg = ws.allocation or AllocationConfig()
    zones = {n: s.timezone for n, s in ws.sites.items()}
    try:
        result = allocate(q, istore, period=period, currency=currency or ws.currency, zones=zones, config=cfg,
                          only=currency)
    except AllocationError as exc:
        clitools.fail(str(exc))
    if currency is not None and not result.lines:  # nothing stored or marked for a currency nothing is billed in
        clitools.fail(_("no cost in {currency} in {period}: nothing to allocate").format(currency=currency,
                                                                                       period=period))
    if save:
        result.run_id = istore.save_run(period, workflow.actor_name(actor), result.currency,
                                        (result.total, result.total - result.unassigned, result.unassigned),
                                        result.as_json(), result.lines)
    if mark and save:
        istore_inv = open_invoices(store.conn)
        for iid in result.invoices:
            inv = istore_inv.invoice(iid)
            if inv is not None and inv["state"] == "approved":
                workflow.allocate(istore_inv, iid, actor=actor, reason=_("allocated: run #{run} of {period}").format(
                    run=result.run_id, period=period))
                result.marked.append(iid)
    return result


@click.command("allocate", help=_("Allocate every cost of a month (rated calls and invoice charges) to cost "
                                  "centres; what cannot be is kept in the unassigned bucket. Stores the run and marks "
                                  "approved invoices allocated."))
@click.option("--period", metavar="YYYY-MM", help=_("The month (default: the latest month with calls or "
                                                    "invoices)."))
@click.option("--currency", metavar="CUR", help=_("Allocate only the costs in this currency (no conversion)."))
@click.option("--dry-run", is_flag=True, help=_("Do not store the run or mark invoices."))
@click.option("--by", "actor", help=_("Who runs it (recorded); default: the login name."))
@click.option("--json", "as_json", is_flag=True, help=_("Print one JSON object."))
@click.pass_context
def allocate_cmd(ctx: click.Context, period: str | None, currency: str | None, dry_run: bool, actor: str | None,
                 as_json: bool) -> None:
    """Allocate a month's costs to cost centres."""
    ws, store, istore = _open(ctx)
    result = run_allocation(ws, store, istore, period, currency=currency, save=not dry_run, mark=not dry_run,
                            actor=actor, ctx=ctx)
    if as_json:
        clitools.emit_json(result.as_json())
        return
    obj = result.as_json()
    console = clitools.console()
    cur = obj["currency"]

    def amount_of(text: str) -> str:
        return display.from_text(text, cur, exact=True, code=False)

    head = _("{period}: total {total} = allocated {allocated} + unassigned {unassigned} ({calls} call(s), "
             "{invoices} invoice(s))").format(
        period=obj["period"], total=display.from_text(obj["total"], cur, exact=True),
        allocated=amount_of(obj["allocated"]), unassigned=amount_of(obj["unassigned"]), calls=obj["calls"],
        invoices=len(obj["invoices"]))
    console.print(escape(head + (_("; run #{run}").format(run=obj["run"]) if obj["run"] else _(" (dry run)"))))
    table = Table(_("cost centre"), _("amount"), _("with sub-centres"), box=None)
    clitools.whole(table, _("amount"), _("with sub-centres"))
    for code, amount in obj["by_cost_centre"].items():
        table.add_row(escape(code), amount_of(amount), amount_of(obj["rollup"].get(code, amount)))
    for code in obj["rollup"]:
        if code not in obj["by_cost_centre"]:
            table.add_row(escape(code), amount_of("0"), amount_of(obj["rollup"][code]))
    unassigned = _("unassigned")
    table.add_row(f"[bold]{escape(unassigned)}[/]", amount_of(obj["unassigned"]), "")
    console.print(table)
    for why, amount in obj["unassigned_reasons"].items():
        console.print("  " + _("unassigned {amount}: {why}").format(amount=amount_of(amount), why=why), markup=False)
    if result.marked:
        console.print(_("invoices marked allocated: {ids}").format(ids=", ".join(f"#{i}" for i in result.marked)))


def _run(ctx: click.Context, q: Any, istore: Any, period: str | None) -> dict[str, Any]:
    period = _period(ctx, q, period)
    run = istore.latest_run(period)
    if run is None:
        clitools.fail(_("no allocation of {period} yet: run `anatole allocate --period {period}`").format(
            period=period))
    return run


@click.command("chargeback", help=_("Chargeback statement of a cost centre or a person, from the period's stored "
                                    "allocation."))
@click.option("--period", metavar="YYYY-MM", help=_("The month (default: the latest month with data)."))
@click.option("--cost-centre", "cost_centre", help=_("The statement of one cost centre."))
@click.option("--person", help=_("The statement of one person."))
@click.option("--json", "as_json", is_flag=True, help=_("Print one JSON object."))
@click.pass_context
def chargeback_cmd(ctx: click.Context, period: str | None, cost_centre: str | None, person: str | None,
                   as_json: bool) -> None:
    """A chargeback statement from the stored allocation."""
    from store.reports import open_queries
    from tem.allocation import statement

    _ws, store, istore = _open(ctx)
    if bool(cost_centre) == bool(person):  # one of the two, not both (the person was ignored)
        clitools.fail(_("give --cost-centre CODE or --person ID"))
    run = _run(ctx, open_queries(store.conn), istore, period)
    st = statement(istore, run, cost_centre=cost_centre, person=person)
    if not st["lines"] and not istore.items("cost_centre" if cost_centre else "person", key=cost_centre or person):
        clitools.fail((_("no cost centre {key} in the inventory, nor in the allocation of {period}") if cost_centre
                       else _("no person {key} in the inventory, nor in the allocation of {period}")).format(
            key=repr(cost_centre or person), period=run["period"]))  # a typo gave a statement of 0.00
    if as_json:
        clitools.emit_json(st)
        return
    console = clitools.console()
    cur = st["currency"]
    total = display.from_text(st["total"], cur, exact=True)
    console.print(_("Chargeback statement, cost centre {code}, {period}: {total}").format(
        code=cost_centre, period=st["period"], total=total) if cost_centre else
        _("Chargeback statement, person {person}, {period}: {total}").format(
        person=person, period=st["period"], total=total), markup=False)
    for cat, amount in st["by_category"].items():
        console.print(f"  {cat}: {display.from_text(amount, cur, exact=True, code=False)}", markup=False)
    table = Table(_("source"), _("ref"), _("carrier"), _("service"), _("category"), _("how"), _("amount"), box=None)
    clitools.whole(table, _("amount"))
    for line in st["lines"]:
        cells = [escape(str(line[k] or "")) for k in ("source", "ref", "carrier", "service", "category", "method")]
        table.add_row(*cells, escape(display.from_text(str(line["amount"] or ""), cur, exact=True, code=False)))
    console.print(table)


@click.command("gl-export", help=_("Journal lines of the period's stored allocation as CSV (account, cost centre, "
                                   "period, amount; the layout of [allocation] gl_columns)."))
@click.option("--period", metavar="YYYY-MM", help=_("The month (default: the latest month with data)."))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help=_("The CSV file to write."))
@click.pass_context
def gl_export_cmd(ctx: click.Context, period: str | None, out: Path) -> None:
    """The stored allocation's journal lines as CSV."""
    from store.reports import open_queries
    from tem.allocation import AllocationConfig, gl_csv, gl_lines

    ws, store, istore = _open(ctx)
    run = _run(ctx, open_queries(store.conn), istore, period)
    cfg = ws.allocation or AllocationConfig()
    amounts: dict[str, int] = {}
    for code, _source, amount in istore.run_totals(run["id"], "cost_centre"):
        amounts[code] = amounts.get(code, 0) + amount
    first = f"{run['period']}-01"
    centres = {r["key"]: r for r in istore.items("cost_centre", at=first)}
    lines = gl_lines(run, amounts, {k: r["gl_account"] for k, r in centres.items()},
                     {k: r["name"] for k, r in centres.items()}, cfg)
    try:
        out.write_text(gl_csv(lines, cfg), encoding="utf-8")
    except OSError as exc:
        clitools.fail(_("{file}: cannot be written ({error})").format(file=out, error=exc.strerror or exc))
    clitools.console().print(escape(_("{file}: {count} journal line(s) for {period} (run #{run})").format(
        file=out, count=len(lines), period=run["period"], run=run["id"])))


from anatole.cli_report import report, whatif_cmd  # noqa: E402

COMMANDS: list[click.Command] = [inventory, allocate_cmd, chargeback_cmd, gl_export_cmd, report, whatif_cmd]
