"""`anatole import invoice` and `anatole invoice list|show|approve|dispute|export|audit`: carrier invoices.

Registered in anatole/cli.py. A file that cannot be read as an invoice prints a message naming the file and what is
wrong, stores nothing and makes the command exit 1; an invoice that reads but does not add up is stored with status
"invalid" and its findings (exit 0): a failed check never blocks storing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from anatole import clitools


def _istore(ctx: click.Context) -> tuple[Any, Any, Any]:
    """(workspace, calls store, invoice store), or exit with a clear message."""
    from store.invoices import InvoiceStoreError, open_invoices

    ws = clitools.workspace(ctx)
    store = clitools.store(ws)
    try:
        return ws, store, open_invoices(store.conn)
    except InvoiceStoreError as exc:
        clitools.fail(str(exc))


def _line(summary: dict[str, Any]) -> str:
    t = summary["totals"]
    parts = " · ".join(f"{k} {t[k]}" for k in ("lines", "allowances", "charges", "tax", "payable")
                       if t.get(k) is not None)
    kind = {"credit_note": "credit note" + (f" (credits invoice #{summary['credits']})" if summary.get("credits")
                                            else ""),
            "information": f"type {summary['type_code']} information document (not a payable)"}.get(
        summary.get("kind") or "", "credit note" if summary["credit"] else "invoice")
    return (f"{summary['format']} {kind} {summary['number']} (#{summary['id']}) from "
            f"{summary['carrier_name'] or summary['carrier']}, account {summary['account']}, {summary['currency']}: "
            f"{parts}")


def _print_checks(console: Any, summary: dict[str, Any], *, all_checks: bool = False) -> None:
    from store.invoices import verdict

    checks = summary["checks"]
    errors = [c for c in checks if not c["ok"] and c["severity"] == "error"]
    warnings = [c for c in checks if not c["ok"] and c["severity"] != "error"]
    style = "green" if summary["status"] == "valid" else "bold red"
    said = verdict(summary["status"], [(c["rule"], c["ok"], c["severity"]) for c in checks
                                       if c["source"] == "validate"], len(summary["not_checked"]))
    audit = [c for c in checks if not c["ok"] and c["source"] != "validate"]
    word, _, rest = said.partition(":")
    console.print(f"  [{style}]{word}[/]:{escape(rest)}; " + (f"audit: {len(audit)} finding(s); " if audit else "")
                  + f"state {summary['state']}"
                  + (f"; duplicate of invoice #{summary['duplicate_of']}" if summary["duplicate_of"] else ""),
                  markup=True)
    for c in checks if all_checks else errors + warnings:
        mark = "✓" if c["ok"] else ("✗" if c["severity"] == "error" else "!")
        exp = f" expected {c['expected']}, got {c['actual']}" if c["expected"] is not None else \
            (f" ({c['actual']})" if c["actual"] else "")
        console.print(f"    {mark} [{c['id']}] {c['rule']}: {c['message']}{exp}", markup=False)
    for n in summary["not_checked"]:
        console.print(f"    - {n['rule']} not checked: {n['reason']}", markup=False)


@click.command("invoice")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "-f", "fmt", default="auto", show_default=True,
              help="ubl, cii, facturx, x12-811, csv:<profile>, or auto (from the content).")
@click.option("--profile", help="The [invoice_csv.NAME] profile of a carrier CSV file (same as -f csv:NAME).")
@click.option("--timezone", default="UTC", show_default=True, help="Zone of X12 call-detail times (they carry none).")
@click.option("--by", "actor", help="Who imports (recorded in the workflow); default: the login name.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per invoice, one per line.")
@click.pass_context
def import_invoice(ctx: click.Context, paths: tuple[Path, ...], fmt: str, profile: str | None, timezone: str,
                   actor: str | None, as_json: bool) -> None:
    """Import carrier invoices (UBL, CII, Factur-X PDF, X12 811, carrier CSV): check their totals and store them
    with their findings. Re-importing a file adds nothing."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from ingest.invoice import InvoiceError
    from tem.workflow import import_file

    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        clitools.fail(f"--timezone {timezone!r} is not an IANA time zone")
    if profile:
        fmt = f"csv:{profile}"
    ws, store, istore = _istore(ctx)
    if fmt.startswith("csv:") and fmt[4:] not in ws.invoice_profiles:
        clitools.fail(f"no [invoice_csv.{fmt[4:]}] profile in anatole.toml "
                  f"(profiles: {', '.join(ws.invoice_profiles) or 'none'})")
    console = clitools.console()
    failed = 0
    files = [p for path in paths for p in (sorted(x for x in path.rglob("*") if x.is_file()) if path.is_dir()
                                           else [path])]
    for path in files:
        try:
            result = import_file(istore, path, fmt=fmt, profiles=ws.invoice_profiles, timezone=timezone,
                                 actor=actor)
        except InvoiceError as exc:
            failed += 1
            if as_json:
                click.echo(json.dumps({"file": str(path), "error": str(exc)}, ensure_ascii=False))
            else:
                clitools.console(err=True).print(f"[bold red]error:[/] {escape(str(exc))} (nothing stored)",
                                                 markup=True)
            continue
        for summary in result.invoices:
            if as_json:
                click.echo(json.dumps({**summary, "file": str(path), "already_imported": result.already_imported},
                                      ensure_ascii=False))
                continue
            console.print(f"{escape(str(path))}: {escape(_line(summary))}")
            if result.already_imported:
                console.print(f"  already imported (invoice #{summary['id']}): nothing added")
            _print_checks(console, summary)
    store.close()
    sys.exit(clitools.EXIT_INPUT if failed else 0)


@click.group("invoice")
def invoice() -> None:
    """Carrier invoices: list, show, approve, dispute, export, audit (import with `anatole import invoice`)."""


@invoice.command("list")
@click.option("--state", type=click.Choice(["received", "validated", "invalid", "in_dispute", "approved",
                                            "allocated", "exported"]))
@click.option("--account", help="Only this billing account.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def invoice_list(ctx: click.Context, state: str | None, account: str | None, as_json: bool) -> None:
    """Stored invoices with their totals and workflow state."""
    from tem.workflow import money

    _, store, istore = _istore(ctx)
    rows = istore.invoices(state=state, account=account)
    if as_json:
        for r in rows:
            click.echo(json.dumps({"id": r["id"], "number": r["number"], "carrier": r["carrier"],
                                   "carrier_name": r["carrier_name"], "account": r["account"],
                                   "issue_date": r["issue_date"], "period": [r["period_start"], r["period_end"]],
                                   "currency": r["currency"], "payable": money(r["payable"]),
                                   "status": r["validity"], "state": r["state"],
                                   "lifecycle_code": r["lifecycle_code"], "duplicate_of": r["duplicate_of"],
                                   "kind": r["kind"], "credits": r["credits"], "type_code": r["type_code"],
                                   "file": r["file"]}, ensure_ascii=False))
    else:
        table = Table("id", "number", "carrier", "account", "issued", "period", "payable", "status", "state",
                      box=None, pad_edge=False)
        for r in rows:
            table.add_row(str(r["id"]), r["number"], (r["carrier_name"] or r["carrier"])[:24], r["account"][:20],
                          r["issue_date"] or "", f"{r['period_start'] or ''}…{r['period_end'] or ''}",
                          f"{money(r['payable'])} {r['currency']}", r["validity"],
                          r["state"] + (" (dup)" if r["duplicate_of"] else "")
                          + {"credit_note": " (credit)", "information": " (info: not payable)"}.get(r["kind"], ""))
        clitools.console().print(table)
        clitools.console().print(f"{len(rows)} invoice(s)")
    store.close()


@invoice.command("show")
@click.argument("invoice_id", type=int)
@click.option("--lines", "limit", default=50, show_default=True, help="Charges to list (0: none).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def invoice_show(ctx: click.Context, invoice_id: int, limit: int, as_json: bool) -> None:
    """One invoice: totals, checks and findings, VAT breakdown, charges, call detail count, history, disputes."""
    from tem.workflow import WorkflowError, money, stored_summary

    _, store, istore = _istore(ctx)
    try:
        summary = stored_summary(istore, invoice_id)
    except WorkflowError as exc:
        clitools.fail(str(exc))
    charges = istore.charges(invoice_id)
    calls = istore.call_detail(invoice_id)
    info = {
        **summary,
        "vat": [{"category": t["category"], "rate": t["rate"], "base": money(t["base"]), "amount": money(t["amount"])}
                for t in istore.taxes(invoice_id)],
        "charges": [{"seq": c["seq"], "line_id": c["line_id"], "level": c["level"], "category": c["category"],
                     "service": c["service"], "service_kind": c["service_kind"], "description": c["description"],
                     "period": [c["period_start"], c["period_end"]], "quantity": money(c["quantity"]),
                     "unit_price": money(c["unit_price"]), "amount": money(c["amount"]),
                     "tax_category": c["tax_category"], "tax_rate": c["tax_rate"], "status_code": c["status_code"]}
                    for c in charges],
        "calls": {"count": len(calls["start"]), "amount": money(int(calls["amount"].sum()))},
        "history": [{"from": t["from_state"], "to": t["to_state"], "lifecycle_code": t["lifecycle_code"],
                     "by": t["actor"], "at": t["at"], "reason": t["reason"]} for t in istore.transitions(invoice_id)],
        "disputes": [{"id": d["id"], "opened_at": d["opened_at"], "by": d["actor"], "reason": d["reason"],
                      "amount_claimed": money(d["amount_claimed"]), "currency": d["currency"], "status": d["status"],
                      "findings": d["findings"], "credit_invoice": d["credit_invoice_id"],
                      "credited": money(d["credited_amount"])} for d in istore.disputes(invoice_id)],
    }
    store.close()
    if as_json:
        clitools.emit_json(info)
        return
    import datetime as dt

    console = clitools.console()
    console.print(escape(_line(summary)))
    console.print(f"  file {escape(summary['file'])} · profile {escape(summary['profile'] or '-')} · issued "
                  f"{summary['issue_date']} · period {summary['period'][0]} … {summary['period'][1]} · lifecycle "
                  f"{summary['lifecycle_code'] or '-'}")
    _print_checks(console, summary, all_checks=True)
    if info["vat"]:
        console.print("  VAT: " + "; ".join(f"{v['category']} {v['rate']}%: base {v['base']} tax {v['amount']}"
                                            for v in info["vat"]), markup=False)
    if limit and charges:
        table = Table("#", "category", "service", "description", "qty", "price", "amount", box=None, pad_edge=False,
                      title=f"Charges ({min(limit, len(charges))} of {len(charges)})", title_justify="left")
        for c in info["charges"][:limit]:
            table.add_row(str(c["seq"]), c["category"], c["service"] or "(account)", (c["description"] or "")[:40],
                          c["quantity"] or "", c["unit_price"] or "", c["amount"])
        console.print(table)
    if info["calls"]["count"]:
        console.print(f"  call detail: {info['calls']['count']} call(s), {info['calls']['amount']} "
                      f"{summary['currency']}")
    for h in info["history"]:
        when = dt.datetime.fromtimestamp(h["at"], dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        console.print(f"  {when} {h['from'] or '-'} → {h['to']} ({h['lifecycle_code'] or '-'}) by {h['by']}: "
                      f"{h['reason']}", markup=False)
    for d in info["disputes"]:
        console.print(f"  dispute #{d['id']} ({d['status']}) by {d['by']}: {d['reason']}; claimed "
                      f"{d['amount_claimed']} {d['currency']}; findings {d['findings']}"
                      + (f"; credited {d['credited']} by invoice #{d['credit_invoice']}" if d["credit_invoice"]
                         else ""), markup=False)


def _act(ctx: click.Context, fn: Any, *args: Any, **kwargs: Any) -> Any:
    from tem.workflow import WorkflowError

    _, store, istore = _istore(ctx)
    try:
        return fn(istore, *args, **kwargs)
    except WorkflowError as exc:
        clitools.fail(str(exc))
    finally:
        store.close()


@invoice.command("approve")
@click.argument("invoice_id", type=int)
@click.option("--reason", default="", help="Why (required for an invoice that is invalid, duplicated, disputed or "
              "has open findings).")
@click.option("--by", "actor", help="Who approves; default: the login name.")
@click.pass_context
def invoice_approve(ctx: click.Context, invoice_id: int, reason: str, actor: str | None) -> None:
    """Approve an invoice for payment (lifecycle 205)."""
    from tem.workflow import approve

    _act(ctx, approve, invoice_id, actor=actor, reason=reason)
    clitools.console().print(f"invoice #{invoice_id} approved")


@invoice.command("dispute")
@click.argument("invoice_id", type=int)
@click.option("--reason", required=True, help="What is contested, for the carrier.")
@click.option("--finding", "findings", multiple=True, type=int,
              help="A finding id (from `invoice show`) the dispute contests; repeat. Default: every failed check.")
@click.option("--amount", help="Amount claimed; default: the money at stake of the contested findings.")
@click.option("--by", "actor", help="Who disputes; default: the login name.")
@click.pass_context
def invoice_dispute(ctx: click.Context, invoice_id: int, reason: str, findings: tuple[int, ...], amount: str | None,
                    actor: str | None) -> None:
    """Open a dispute with the carrier (lifecycle 207) on the findings it contests, claiming an amount."""
    from engine.money import MoneyError, format_exact, parse_money
    from tem.workflow import dispute

    try:
        claimed = parse_money(amount) if amount is not None else None
    except MoneyError as exc:
        clitools.fail(f"--amount: {exc}")
    did = _act(ctx, dispute, invoice_id, reason=reason, actor=actor, findings=list(findings) or None,
               amount=claimed)
    _, store, istore = _istore(ctx)
    d = next(x for x in istore.disputes(invoice_id) if x["id"] == did)
    store.close()
    clitools.console().print(f"dispute #{did} opened on invoice #{invoice_id}: {len(d['findings'])} finding(s), "
                             f"claimed {format_exact(d['amount_claimed'])} {d['currency']}")


@invoice.command("export")
@click.argument("invoice_ids", nargs=-1, required=True, type=int)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The CSV file to write (FOCUS-style columns, one row per charge).")
@click.option("--by", "actor", help="Who exports; default: the login name.")
@click.pass_context
def invoice_export(ctx: click.Context, invoice_ids: tuple[int, ...], out: Path, actor: str | None) -> None:
    """Export approved invoices' charges for the general ledger and mark them exported."""
    from tem.workflow import export_csv, mark_exported

    text = _act(ctx, export_csv, list(invoice_ids))
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        clitools.fail(f"{out}: cannot be written ({exc.strerror or exc}); nothing marked exported")
    _act(ctx, mark_exported, list(invoice_ids), actor=actor, reason=f"exported to {out.name}")
    clitools.console().print(f"{out}: {text.count(chr(10)) - 1} charge(s) of {len(invoice_ids)} invoice(s); marked "
                         "exported")


@invoice.command("audit")
@click.argument("invoice_ids", nargs=-1, type=int)
@click.option("--tariff", "tariff_file", type=click.Path(dir_okay=False, path_type=Path),
              help="The contract tariff: re-rate the invoices' call detail with it and report calls billed at "
                   "other prices.")
@click.option("--site", help="A [[site]] whose dial plan turns the carrier's national numbers into E.164.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per finding, one per line.")
@click.pass_context
def invoice_audit(ctx: click.Context, invoice_ids: tuple[int, ...], tariff_file: Path | None, site: str | None,
                  as_json: bool) -> None:
    """Audit invoices (default: all): duplicate charges and calls, missing invoices, overlapping periods, usage
    billed at other rates than the contract tariff. Findings are stored with each invoice."""
    from engine.money import format_exact
    from store import display
    from tem.audit import audit

    ws, store, istore = _istore(ctx)
    if site and site not in ws.sites:
        clitools.fail(f"no [[site]] named {site!r} in anatole.toml")
    tariff = clitools.tariff(str(tariff_file)) if tariff_file else None
    ids = list(invoice_ids) or [r["id"] for r in istore.invoices()]
    missing = [i for i in ids if istore.invoice(i) is None]
    if missing:
        clitools.fail(f"no invoice #{', #'.join(map(str, missing))}")
    found = audit(istore, ids, tariff=tariff, dialplan=ws.sites[site].dialplan if site else None)
    currency = {iid: (istore.invoice(iid) or {}).get("currency") or "" for iid in found}
    store.close()
    total = 0
    for iid, findings in found.items():
        for f in findings:
            total += 1
            if as_json:
                click.echo(json.dumps({"invoice": iid, "rule": f.rule, "severity": f.severity, "expected": f.expected,
                                       "actual": f.actual, "at_stake": format_exact(f.at_stake), "line": f.line,
                                       "message": f.message}, ensure_ascii=False))
            else:
                clitools.console().print(f"#{iid} {f.rule}: {f.message} (at stake "
                                         f"{display.money(f.at_stake, currency[iid], exact=True)})",
                                     markup=False)
    if not as_json:
        stake: dict[str, int] = {}  # per currency: invoices in two currencies are never added together
        for iid, fs in found.items():
            for f in fs:
                display.add_total(stake, f.at_stake, currency[iid])
        clitools.console().print(f"{len(ids)} invoice(s) audited: {total} finding(s), "
                                 f"{display.totals(stake, empty='nothing')} at stake")
