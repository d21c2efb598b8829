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
from i18n import _, pgettext
from store import display


def _istore(ctx: click.Context) -> tuple[Any, Any, Any]:
    """(workspace, calls store, invoice store), or exit with a clear message."""
    from store.invoices import InvoiceStoreError, open_invoices

    ws = clitools.workspace(ctx)
    store = clitools.store(ws)
    try:
        return ws, store, open_invoices(store.conn)
    except InvoiceStoreError as exc:
        clitools.fail(str(exc))


def _validity(status: str) -> str:
    return {"valid": pgettext("invoice validity", "valid"), "invalid": pgettext("invoice validity", "invalid")}.get(
        status, status)


def _amount(text: str | None, currency: str | None) -> str:
    """An exact amount (tem.workflow.money) as a person reads it: grouped for the language, every decimal kept."""
    return display.from_text(text, currency, exact=True, code=False)


def _line(summary: dict[str, Any]) -> str:
    t = summary["totals"]
    cur = summary["currency"]
    labels = {"lines": _("lines {amount}"), "allowances": _("allowances {amount}"), "charges": _("charges {amount}"),
              "tax": _("tax {amount}"), "payable": _("payable {amount}")}
    parts = " · ".join(labels[k].format(amount=_amount(t[k], cur)) for k in labels if t.get(k) is not None)
    if summary.get("kind") == "credit_note":
        kind = (_("credit note (credits invoice #{id})").format(id=summary["credits"]) if summary.get("credits")
                else _("credit note"))
    elif summary.get("kind") == "information":
        kind = _("type {code} information document (not a payable)").format(code=summary["type_code"])
    else:
        kind = _("credit note") if summary["credit"] else _("invoice")
    return _("{format} {kind} {number} (#{id}) from {carrier}, account {account}, {currency}: {totals}").format(
        format=summary["format"], kind=kind, number=summary["number"], id=summary["id"],
        carrier=summary["carrier_name"] or summary["carrier"], account=summary["account"], currency=cur,
        totals=parts)


def _print_checks(console: Any, summary: dict[str, Any], *, all_checks: bool = False) -> None:
    from store.invoices import verdict

    checks = summary["checks"]
    errors = [c for c in checks if not c["ok"] and c["severity"] == "error"]
    warnings = [c for c in checks if not c["ok"] and c["severity"] != "error"]
    style = "green" if summary["status"] == "valid" else "bold red"
    said = verdict(summary["status"], [(c["rule"], c["ok"], c["severity"]) for c in checks
                                       if c["source"] == "validate"], len(summary["not_checked"]))
    audit = [c for c in checks if not c["ok"] and c["source"] != "validate"]
    word, _sep, rest = said.partition(":")
    tail = [_("audit: {count} finding(s)").format(count=len(audit))] if audit else []
    tail.append(_("state {state}").format(state=display.invoice_state(summary["state"])))
    if summary["duplicate_of"]:
        tail.append(_("duplicate of invoice #{id}").format(id=summary["duplicate_of"]))
    console.print(f"  [{style}]{escape(word)}[/]:{escape(rest)}; " + escape("; ".join(tail)), markup=True)
    for c in checks if all_checks else errors + warnings:
        mark = "✓" if c["ok"] else ("✗" if c["severity"] == "error" else "!")
        exp = _(" expected {expected}, got {actual}").format(expected=c["expected"], actual=c["actual"]) \
            if c["expected"] is not None else (f" ({c['actual']})" if c["actual"] else "")
        console.print(f"    {mark} [{c['id']}] {c['rule']}: {c['message']}{exp}", markup=False)
    for n in summary["not_checked"]:
        console.print("    - " + _("{rule} not checked: {reason}").format(rule=n["rule"], reason=n["reason"]),
                      markup=False)


@click.command("invoice", help=_("Import carrier invoices (UBL, CII, Factur-X PDF, X12 811, carrier CSV): check "
                                 "their totals and store them with their findings. Re-importing a file adds "
                                 "nothing."))
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "-f", "fmt", default="auto", show_default=True,
              help=_("ubl, cii, facturx, x12-811, csv:<profile>, or auto (from the content)."))
@click.option("--profile", help=_("The [invoice_csv.NAME] profile of a carrier CSV file (same as -f csv:NAME)."))
@click.option("--timezone", default="UTC", show_default=True,
              help=_("Zone of X12 call-detail times (they carry none)."))
@click.option("--by", "actor", help=_("Who imports (recorded in the workflow); default: the login name."))
@click.option("--json", "as_json", is_flag=True, help=_("One JSON object per invoice, one per line."))
@click.pass_context
def import_invoice(ctx: click.Context, paths: tuple[Path, ...], fmt: str, profile: str | None, timezone: str,
                   actor: str | None, as_json: bool) -> None:
    """Import carrier invoices; a file that cannot be read stores nothing (exit 1)."""

    from ingest.invoice import InvoiceError
    from tem.workflow import import_file

    clitools.zone(timezone)
    if profile:
        fmt = f"csv:{profile}"
    ws, store, istore = _istore(ctx)
    if fmt.startswith("csv:") and fmt[4:] not in ws.invoice_profiles:
        clitools.fail(_("no [invoice_csv.{name}] profile in anatole.toml (profiles: {profiles})").format(
            name=fmt[4:], profiles=", ".join(ws.invoice_profiles) or _("none")))
    console = clitools.console()
    failed = 0
    files = clitools.files_in(paths)
    for path in files:
        try:
            result = import_file(istore, path, fmt=fmt, profiles=ws.invoice_profiles, timezone=timezone,
                                 actor=actor)
        except InvoiceError as exc:
            failed += 1
            if as_json:
                click.echo(json.dumps({"file": str(path), "error": str(exc)}, ensure_ascii=False))
            else:
                word = _("error:")
                clitools.console(err=True).print(f"[bold red]{escape(word)}[/] "
                                                 + escape(_("{error} (nothing stored)").format(error=exc)),
                                                 markup=True)
            continue
        for summary in result.invoices:
            if as_json:
                click.echo(json.dumps({**summary, "file": str(path), "already_imported": result.already_imported},
                                      ensure_ascii=False))
                continue
            console.print(f"{escape(str(path))}: {escape(_line(summary))}")
            if result.already_imported:
                console.print("  " + _("already imported (invoice #{id}): nothing added").format(id=summary["id"]))
            _print_checks(console, summary)
    store.close()
    sys.exit(clitools.EXIT_INPUT if failed else 0)


@click.group("invoice", help=_("Carrier invoices: list, show, approve, dispute, export, audit (import with "
                               "`anatole import invoice`)."))
def invoice() -> None:
    """Carrier invoices."""


@invoice.command("list", help=_("Stored invoices with their totals and workflow state."))
@click.option("--state", type=click.Choice(["received", "validated", "invalid", "in_dispute", "approved",
                                            "allocated", "exported"]), help=_("Only the invoices in this state."))
@click.option("--account", help=_("Only this billing account."))
@click.option("--json", "as_json", is_flag=True, help=_("One JSON object per line."))
@click.pass_context
def invoice_list(ctx: click.Context, state: str | None, account: str | None, as_json: bool) -> None:
    """Stored invoices."""
    from tem.workflow import money

    _ws, store, istore = _istore(ctx)
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
        table = Table("id", _("number"), _("carrier"), _("account"), _("issued"), _("period"), _("payable"),
                      pgettext("invoice validity", "status"), _("state"), box=None, pad_edge=False)
        clitools.whole(table, _("payable"))
        notes = {"credit_note": _(" (credit)"), "information": _(" (info: not payable)")}
        for r in rows:
            table.add_row(str(r["id"]), r["number"], (r["carrier_name"] or r["carrier"])[:24], r["account"][:20],
                          display.iso_day(r["issue_date"]),
                          f"{display.iso_day(r['period_start'])}…{display.iso_day(r['period_end'])}",
                          display.money(r["payable"], r["currency"], exact=True), _validity(r["validity"]),
                          display.invoice_state(r["state"]) + (_(" (dup)") if r["duplicate_of"] else "")
                          + notes.get(r["kind"], ""))
        clitools.console().print(table)
        clitools.console().print(_("{count} invoice(s)").format(count=len(rows)))
    store.close()


@invoice.command("show", help=_("One invoice: totals, checks and findings, VAT breakdown, charges, call detail "
                                "count, history, disputes."))
@click.argument("invoice_id", type=int)
@click.option("--lines", "limit", default=50, show_default=True, help=_("Charges to list (0: none)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print one JSON object."))
@click.pass_context
def invoice_show(ctx: click.Context, invoice_id: int, limit: int, as_json: bool) -> None:
    """One invoice in full."""
    from tem.workflow import WorkflowError, money, stored_summary

    _ws, store, istore = _istore(ctx)
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
    console = clitools.console()
    cur = summary["currency"]
    console.print(escape(_line(summary)))
    console.print("  " + escape(_("file {file} · profile {profile} · issued {issued} · period {start} … {end} · "
                                  "lifecycle {code}").format(
        file=summary["file"], profile=summary["profile"] or "-", issued=display.iso_day(summary["issue_date"]),
        start=display.iso_day(summary["period"][0]), end=display.iso_day(summary["period"][1]),
        code=summary["lifecycle_code"] or "-")))
    _print_checks(console, summary, all_checks=True)
    if info["vat"]:
        console.print(_("  VAT: ") + "; ".join(_("{category} {rate}%: base {base} tax {amount}").format(
            category=v["category"], rate=v["rate"], base=_amount(v["base"], cur), amount=_amount(v["amount"], cur))
            for v in info["vat"]), markup=False)
    if limit and charges:
        table = Table("#", _("category"), _("service"), _("description"), _("qty"), _("price"), _("amount"),
                      box=None, pad_edge=False, title=_("Charges ({shown} of {total})").format(
                          shown=min(limit, len(charges)), total=len(charges)), title_justify="left")
        clitools.whole(table, _("qty"), _("price"), _("amount"))
        for c in info["charges"][:limit]:
            table.add_row(str(c["seq"]), display.charge_category(c["category"]), c["service"] or _("(account)"),
                          (c["description"] or "")[:40], _amount(c["quantity"], None) if c["quantity"] else "",
                          _amount(c["unit_price"], cur) if c["unit_price"] else "", _amount(c["amount"], cur))
        console.print(table)
    if info["calls"]["count"]:
        console.print("  " + _("call detail: {count} call(s), {amount}").format(
            count=info["calls"]["count"], amount=display.from_text(info["calls"]["amount"], cur, exact=True)))
    for h in info["history"]:
        when = display.when(h["at"], "UTC")
        console.print("  " + _("{when} {before} → {after} ({code}) by {who}: {reason}").format(
            when=when, before=display.invoice_state(h["from"]) if h["from"] else "-",
            after=display.invoice_state(h["to"]),
            code=h["lifecycle_code"] or "-", who=h["by"], reason=h["reason"]), markup=False)
    for d in info["disputes"]:
        args = dict(id=d["id"], status=d["status"], who=d["by"], reason=d["reason"],
                    claimed=display.from_text(d["amount_claimed"], d["currency"], exact=True), findings=d["findings"],
                    credited=_amount(d["credited"], d["currency"]), invoice=d["credit_invoice"])
        line = _("dispute #{id} ({status}) by {who}: {reason}; claimed {claimed}; findings {findings}; credited "
                 "{credited} by invoice #{invoice}").format(**args) if d["credit_invoice"] else \
            _("dispute #{id} ({status}) by {who}: {reason}; claimed {claimed}; findings {findings}").format(**args)
        console.print("  " + line, markup=False)


def _act(ctx: click.Context, fn: Any, *args: Any, **kwargs: Any) -> Any:
    from tem.workflow import WorkflowError

    _ws, store, istore = _istore(ctx)
    try:
        return fn(istore, *args, **kwargs)
    except WorkflowError as exc:
        clitools.fail(str(exc))
    finally:
        store.close()


@invoice.command("approve", help=_("Approve an invoice for payment (lifecycle 205)."))
@click.argument("invoice_id", type=int)
@click.option("--reason", default="", help=_("Why (required for an invoice that is invalid, duplicated, disputed or "
                                             "has open findings)."))
@click.option("--by", "actor", help=_("Who approves; default: the login name."))
@click.pass_context
def invoice_approve(ctx: click.Context, invoice_id: int, reason: str, actor: str | None) -> None:
    """Approve an invoice for payment."""
    from tem.workflow import approve

    _act(ctx, approve, invoice_id, actor=actor, reason=reason)
    clitools.console().print(_("invoice #{id} approved").format(id=invoice_id))


@invoice.command("dispute", help=_("Open a dispute with the carrier (lifecycle 207) on the findings it contests, "
                                   "claiming an amount."))
@click.argument("invoice_id", type=int)
@click.option("--reason", required=True, help=_("What is contested, for the carrier."))
@click.option("--finding", "findings", multiple=True, type=int,
              help=_("A finding id (from `invoice show`) the dispute contests; repeat. Default: every failed "
                     "check."))
@click.option("--amount", help=_("Amount claimed; default: the money at stake of the contested findings."))
@click.option("--by", "actor", help=_("Who disputes; default: the login name."))
@click.pass_context
def invoice_dispute(ctx: click.Context, invoice_id: int, reason: str, findings: tuple[int, ...], amount: str | None,
                    actor: str | None) -> None:
    """Open a dispute with the carrier."""
    from engine.money import MoneyError, parse_money
    from tem.workflow import dispute

    try:
        claimed = parse_money(amount) if amount is not None else None
    except MoneyError as exc:
        clitools.fail(f"--amount: {exc}")
    did = _act(ctx, dispute, invoice_id, reason=reason, actor=actor, findings=list(findings) or None,
               amount=claimed)
    _ws, store, istore = _istore(ctx)
    d = next(x for x in istore.disputes(invoice_id) if x["id"] == did)
    store.close()
    clitools.console().print(_("dispute #{id} opened on invoice #{invoice}: {count} finding(s), claimed "
                               "{claimed}").format(id=did, invoice=invoice_id, count=len(d["findings"]),
                                                   claimed=display.money(d["amount_claimed"], d["currency"],
                                                                         exact=True)))


@invoice.command("export", help=_("Export approved invoices' charges for the general ledger and mark them "
                                  "exported."))
@click.argument("invoice_ids", nargs=-1, required=True, type=int)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help=_("The CSV file to write (FOCUS-style columns, one row per charge)."))
@click.option("--by", "actor", help=_("Who exports; default: the login name."))
@click.pass_context
def invoice_export(ctx: click.Context, invoice_ids: tuple[int, ...], out: Path, actor: str | None) -> None:
    """Export approved invoices' charges and mark them exported."""
    from tem.workflow import export_csv, mark_exported

    text = _act(ctx, export_csv, list(invoice_ids))
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        clitools.fail(_("{file}: cannot be written ({error}); nothing marked exported").format(
            file=out, error=exc.strerror or exc))
    _act(ctx, mark_exported, list(invoice_ids), actor=actor, reason=_("exported to {file}").format(file=out.name))
    clitools.console().print(_("{file}: {charges} charge(s) of {invoices} invoice(s); marked exported").format(
        file=out, charges=text.count(chr(10)) - 1, invoices=len(invoice_ids)))


@invoice.command("audit", help=_("Audit invoices (default: all): duplicate charges and calls, missing invoices, "
                                 "overlapping periods, usage billed at other rates than the contract tariff. "
                                 "Findings are stored with each invoice."))
@click.argument("invoice_ids", nargs=-1, type=int)
@click.option("--tariff", "tariff_file", type=click.Path(dir_okay=False, path_type=Path),
              help=_("The contract tariff: re-rate the invoices' call detail with it and report calls billed at "
                     "other prices."))
@click.option("--site", help=_("A [[site]] whose dial plan turns the carrier's national numbers into E.164."))
@click.option("--json", "as_json", is_flag=True, help=_("One JSON object per finding, one per line."))
@click.pass_context
def invoice_audit(ctx: click.Context, invoice_ids: tuple[int, ...], tariff_file: Path | None, site: str | None,
                  as_json: bool) -> None:
    """Audit invoices; findings are stored with each invoice."""
    from engine.money import format_exact
    from tem.audit import audit

    ws, store, istore = _istore(ctx)
    if site and site not in ws.sites:
        clitools.fail(_("no [[site]] named {site} in anatole.toml").format(site=repr(site)))
    tariff = clitools.tariff(str(tariff_file)) if tariff_file else None
    ids = list(invoice_ids) or [r["id"] for r in istore.invoices()]
    missing = [i for i in ids if istore.invoice(i) is None]
    if missing:
        clitools.fail(_("no invoice #{ids}").format(ids=", #".join(map(str, missing))))
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
                clitools.console().print(_("#{id} {rule}: {message} (at stake {amount})").format(
                    id=iid, rule=f.rule, message=f.message,
                    amount=display.money(f.at_stake, currency[iid], exact=True)), markup=False)
    if not as_json:
        stake: dict[str, int] = {}  # per currency: invoices in two currencies are never added together
        for iid, fs in found.items():
            for f in fs:
                display.add_total(stake, f.at_stake, currency[iid])
        clitools.console().print(_("{invoices} invoice(s) audited: {findings} finding(s), {amount} at stake").format(
            invoices=len(ids), findings=total, amount=display.totals(stake, empty=_("nothing"))))
