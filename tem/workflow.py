"""Invoice import and workflow: parse -> validate -> store (one transaction), then received -> validated/invalid ->
in dispute -> approved -> allocated -> exported, every transition logged with who, when and why.

French e-invoicing lifecycle statuses (CDV codes, XP Z12-012) are stored beside our states where one applies:
received 202 (Reçue), validated 203 (Mise à disposition), invalid 204 (Prise en charge: under review), in_dispute
207 (En litige), approved 205 (Approuvée). allocated and exported are internal steps with no CDV status: the
invoice keeps 205. A credit note whose BillingReference names a disputed invoice of the same carrier and account is
matched to the oldest open dispute of that invoice.
"""

from __future__ import annotations

import csv
import getpass
import hashlib
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from i18n import _
from ingest.invoice import InvoiceError, read_invoices
from ingest.invoice.model import NON_PAYABLE_TYPE_CODES, Invoice
from store import display
from store.cells import neutralise
from store.invoices import InvoiceStore, StaleState, claim_amount, needs_reason, verdict
from tem.validate import Validation, validate

STATES = ("received", "validated", "invalid", "in_dispute", "approved", "allocated", "exported")
LIFECYCLE = {"received": "202", "validated": "203", "invalid": "204", "in_dispute": "207", "approved": "205",
             "allocated": None, "exported": None}
ALLOWED = {
    "received": {"validated", "invalid"},
    "validated": {"in_dispute", "approved"},
    "invalid": {"in_dispute", "approved"},
    "in_dispute": {"in_dispute", "approved"},
    "approved": {"allocated", "exported", "in_dispute"},
    "allocated": {"exported", "in_dispute"},
    "exported": set(),
}
TOTAL_KEYS = ("lines", "allowances", "charges", "tax_exclusive", "tax", "tax_inclusive", "prepaid", "rounding",
              "payable", "previous_balance", "payments", "adjustments", "current_charges", "amount_due")


class WorkflowError(Exception):
    """An action the invoice's state or the input does not allow; the message says why."""


def actor_name(given: str | None = None) -> str:
    if given:
        return given
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a container
        return "unknown"


@dataclass
class FileResult:
    file: str
    format: str = ""
    already_imported: bool = False
    invoices: list[dict[str, Any]] = field(default_factory=list)  # one summary per invoice (see summary())


def import_file(istore: InvoiceStore, path: Path, *, fmt: str = "auto", profiles: dict[str, dict] | None = None,
                timezone: str = "UTC", actor: str | None = None) -> FileResult:
    """Import one invoice file: every invoice in it is stored with its checks and status, or nothing is (an
    InvoiceError names the file and what is wrong). The same file again stores nothing and says so."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvoiceError(_("{path}: cannot be read ({error})").format(path=path,
                                                                     error=exc.strerror or exc)) from None
    sha = hashlib.sha256(data).hexdigest()
    known = istore.file_invoices(sha)
    if known:
        return FileResult(str(path), known[0]["format"], True, [stored_summary(istore, r["id"]) for r in known])
    fmt, invoices = read_invoices(data, str(path), fmt=fmt, profiles=profiles, stem=path.stem, timezone=timezone)
    who = actor_name(actor)
    now = int(time.time())
    rows = []
    validations = []
    for seq, inv in enumerate(invoices, 1):
        v = validate(inv)
        validations.append(v)
        rows.append(_rows(inv, v, seq, now, who))
    ids = istore.add_file({"sha256": sha, "file": str(path), "size": len(data), "format": fmt, "content": data,
                           "imported_at": now}, rows)
    if ids is None:  # a concurrent import of the same file won
        known = istore.file_invoices(sha)
        return FileResult(str(path), fmt, True, [stored_summary(istore, r["id"]) for r in known])
    for iid, inv in zip(ids, invoices):
        if inv.credit and inv.references:
            match_credit(istore, iid, inv)
    return FileResult(str(path), fmt, False, [stored_summary(istore, iid) for iid in ids])


def _rows(inv: Invoice, v: Validation, seq: int, now: int, who: str) -> dict[str, Any]:
    t = inv.totals
    state = "validated" if v.status == "valid" else "invalid"
    return {
        "seq": seq, "format": inv.format, "profile": inv.profile, "carrier": inv.carrier,
        "carrier_name": inv.seller.name, "account": inv.account, "number": inv.number, "type_code": inv.type_code,
        "credit": int(inv.credit), "issue_date": inv.issue_date, "due_date": inv.due_date,
        "period_start": inv.period_start, "period_end": inv.period_end, "currency": inv.currency,
        **{k: getattr(t, k) for k in TOTAL_KEYS},
        "validity": v.status, "state": state, "lifecycle_code": LIFECYCLE[state], "duplicate_of": None,
        "kind": inv.kind, "credits": None,
        "refs": json.dumps(inv.references), "notes": json.dumps(inv.notes),
        "not_checked": json.dumps([{"rule": n.rule, "reason": n.reason} for n in v.not_checked]),
        "imported_at": now,
        "charges_rows": [(c.seq, c.line_id, c.level, c.category, c.service, c.service_kind, c.sub_account,
                          c.description, c.period_start, c.period_end, c.quantity, c.base_quantity, c.unit_price,
                          c.allowances, c.charges, c.amount, c.tax_category, c.tax_rate, c.tax, c.status_code,
                          c.unit or None)
                         for c in inv.charges],
        "taxes_rows": [(n, x.category, x.rate, x.base, x.amount) for n, x in enumerate(inv.taxes, 1)],
        "calls_rows": [(c.seq, c.service, c.start, c.duration, c.dialled, c.amount, c.description) for c in inv.calls],
        "checks_rows": [("validate", c.rule, int(c.ok), c.severity, c.expected, c.actual, c.message, c.line,
                         c.at_stake, now) for c in v.checks],
        "transitions_rows": [(None, "received", LIFECYCLE["received"], who, now, "imported"),
                        ("received", state, LIFECYCLE[state], who, now,
                         verdict(v.status, [(c.rule, c.ok, c.severity) for c in v.checks], len(v.not_checked)))],
    }


def money(value: int | None) -> str | None:
    """Exact, plain (JSON and exports): store.display.plain."""
    return display.plain(value)


def stored_summary(istore: InvoiceStore, invoice_id: int) -> dict[str, Any]:
    """What `import invoice --json` and `invoice show` print for one stored invoice."""
    inv = istore.invoice(invoice_id)
    if inv is None:
        raise WorkflowError(_("no invoice #{id}").format(id=invoice_id))
    checks = istore.checks(invoice_id)
    return {
        "id": inv["id"], "file": inv["file"], "format": inv["format"], "profile": inv["profile"],
        "number": inv["number"], "type_code": inv["type_code"], "credit": bool(inv["credit"]),
        "kind": inv["kind"], "credits": inv["credits"],
        "carrier": inv["carrier"], "carrier_name": inv["carrier_name"], "account": inv["account"],
        "issue_date": inv["issue_date"], "period": [inv["period_start"], inv["period_end"]],
        "currency": inv["currency"],
        "status": inv["validity"],
        "state": inv["state"], "lifecycle_code": inv["lifecycle_code"], "duplicate_of": inv["duplicate_of"],
        "totals": {k: money(inv[k]) for k in TOTAL_KEYS if inv[k] is not None or k in
                   ("lines", "allowances", "charges", "tax", "payable")},
        "checks": [{"id": c["id"], "rule": c["rule"], "ok": bool(c["ok"]), "severity": c["severity"],
                    "expected": c["expected"], "actual": c["actual"], "message": c["message"], "line": c["line"],
                    "at_stake": money(c["at_stake"]), "source": c["source"]} for c in checks],
        "not_checked": inv["not_checked"], "notes": inv["notes"], "references": inv["refs"],
    }


# --- transitions -----------------------------------------------------------------------------------------------


def _move(istore: InvoiceStore, invoice_id: int, to_state: str, actor: str | None, reason: str) -> dict[str, Any]:
    inv = istore.invoice(invoice_id)
    if inv is None:
        raise WorkflowError(_("no invoice #{id}").format(id=invoice_id))
    if to_state not in ALLOWED[inv["state"]]:
        raise WorkflowError(_("invoice #{id} is {state}: it cannot become {to} (allowed: {allowed})").format(
            id=invoice_id, state=repr(inv["state"]), to=repr(to_state),
            allowed=", ".join(sorted(ALLOWED[inv["state"]])) or _("nothing, it is final")))
    try:
        istore.transition(invoice_id, inv["state"], to_state, LIFECYCLE[to_state], actor_name(actor), reason)
    except StaleState as exc:
        raise WorkflowError(_("{error}: someone else acted on it; look again").format(error=exc)) from None
    return inv


def approval_needs_reason(istore: InvoiceStore, invoice_id: int) -> str:
    """Why approving this invoice for payment needs a reason ("" if it does not), in words for the user."""
    inv = istore.invoice(invoice_id)
    if inv is None:
        raise WorkflowError(_("no invoice #{id}").format(id=invoice_id))
    return needs_reason(inv, istore.checks(invoice_id), istore.disputes(invoice_id))


def approve(istore: InvoiceStore, invoice_id: int, *, actor: str | None = None, reason: str = "") -> None:
    """Approve for payment. An invoice that is invalid, duplicated, disputed or has open findings needs a reason:
    that is the audit trail of why it was paid anyway. A document that is not a payable (751 accounting
    information, proforma) is never approved, whatever the reason."""
    inv = istore.invoice(invoice_id)
    if inv is None:
        raise WorkflowError(_("no invoice #{id}").format(id=invoice_id))
    if inv["kind"] == "information":
        what = NON_PAYABLE_TYPE_CODES.get(inv["type_code"] or "", "not a payable")
        raise WorkflowError(_("invoice #{id} is a type {code} document ({what}), not a payable: it is kept for "
                              "information and cannot be approved for payment").format(
            id=invoice_id, code=inv["type_code"], what=what))
    why = approval_needs_reason(istore, invoice_id)
    if why and not reason.strip():
        raise WorkflowError(_("invoice #{id}: {why}; give --reason to approve it anyway").format(id=invoice_id,
                                                                                                 why=why))
    _move(istore, invoice_id, "approved", actor, reason.strip() or _("approved"))


def allocate(istore: InvoiceStore, invoice_id: int, *, actor: str | None = None, reason: str = "") -> None:
    """Mark an approved invoice as allocated to cost centres (the allocation itself is a later component)."""
    _move(istore, invoice_id, "allocated", actor, reason or _("allocated"))


def dispute(istore: InvoiceStore, invoice_id: int, *, reason: str, actor: str | None = None,
            findings: list[int] | None = None, amount: int | None = None) -> int:
    """Open a dispute contesting `findings` (check ids of this invoice; default: every failed error check) and
    claiming `amount` (default: the sum of the money at stake of those findings). Returns the dispute id."""
    if not reason.strip():
        raise WorkflowError(_("a dispute needs a reason (--reason)"))
    inv = istore.invoice(invoice_id)
    if inv is None:
        raise WorkflowError(_("no invoice #{id}").format(id=invoice_id))
    if "in_dispute" not in ALLOWED[inv["state"]]:
        raise WorkflowError(_("invoice #{id} is {state}: it cannot be disputed").format(id=invoice_id,
                                                                                        state=repr(inv["state"])))
    checks = {c["id"]: c for c in istore.checks(invoice_id)}
    if findings:
        unknown = [f for f in findings if f not in checks]
        if unknown:
            raise WorkflowError(_("invoice #{id} has no finding(s) {ids} (see `anatole invoice show {id}`)").format(
                id=invoice_id, ids=", ".join(map(str, unknown))))
        chosen = findings
    else:
        chosen = [cid for cid, c in checks.items() if not c["ok"]]
    if amount is None:
        amount = claim_amount([checks[c] for c in chosen])
    if amount < 0:
        raise WorkflowError(_("the amount claimed cannot be negative"))
    try:
        return istore.open_dispute(invoice_id, inv["state"], LIFECYCLE["in_dispute"], actor_name(actor), reason,
                                   amount, inv["currency"], chosen)
    except StaleState as exc:
        raise WorkflowError(_("{error}: someone else acted on it; look again").format(error=exc)) from None


def match_credit(istore: InvoiceStore, credit_id: int, inv: Invoice) -> int | None:
    """Link a credit note to the oldest open dispute of the invoice it references (same carrier and account)."""
    for ref in inv.references:
        for row in istore.invoices(carrier=inv.carrier, account=inv.account):
            if row["number"] != ref or row["id"] == credit_id:
                continue
            for d in istore.disputes(row["id"]):
                if d["status"] == "open":
                    istore.credit_dispute(d["id"], credit_id, -(inv.totals.payable or 0))
                    return int(d["id"])
    return None


# --- export ------------------------------------------------------------------------------------------------------

FOCUS_COLUMNS = ("InvoiceId", "BillingAccountId", "x_Carrier", "BillingPeriodStart", "BillingPeriodEnd",
                 "ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory", "ChargeFrequency", "ChargeClass",
                 "x_ServiceId", "x_ServiceKind", "ChargeDescription", "ConsumedQuantity", "BilledCost",
                 "BillingCurrency", "x_TaxCategory", "x_TaxRate", "x_AnatoleInvoice", "x_LineId")
FOCUS_CATEGORY = {"recurring": ("Purchase", "Recurring"), "usage": ("Usage", "Usage-Based"),
                  "one_time": ("Purchase", "One-Time"), "discount": ("Credit", ""), "tax": ("Tax", "")}


def export_csv(istore: InvoiceStore, invoice_ids: list[int]) -> str:
    """FOCUS-style CSV of the charges of approved (or allocated) invoices. All or nothing: an id that is not
    exportable refuses the whole export. Call mark_exported once the file is written."""
    rows: list[dict[str, Any]] = []
    invs = []
    for k, iid in enumerate(invoice_ids):
        if iid in invoice_ids[:k]:  # its charges would be written twice, and marking it a second time fails
            raise WorkflowError(_("invoice #{id} is given twice").format(id=iid))
        inv = istore.invoice(iid)
        if inv is None:
            raise WorkflowError(_("no invoice #{id}").format(id=iid))
        if "exported" not in ALLOWED[inv["state"]]:
            raise WorkflowError(_("invoice #{id} is {state}: only approved or allocated invoices are exported").format(
                id=iid, state=repr(inv["state"])))
        invs.append(inv)
    out = io.StringIO()
    writer = csv.DictWriter(out, FOCUS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for inv in invs:
        for c in istore.charges(inv["id"]):
            if c["level"] == "line" and c["status_code"] in ("GROUP", "INFORMATION"):
                continue
            category, frequency = FOCUS_CATEGORY.get(c["category"], ("Purchase", "One-Time"))
            rows.append({  # every text that came from the carrier's file is neutralised; our numbers are not
                "InvoiceId": neutralise(inv["number"]), "BillingAccountId": neutralise(inv["account"]),
                "x_Carrier": neutralise(inv["carrier"]),
                "BillingPeriodStart": inv["period_start"] or "", "BillingPeriodEnd": inv["period_end"] or "",
                "ChargePeriodStart": c["period_start"] or inv["period_start"] or "",
                "ChargePeriodEnd": c["period_end"] or inv["period_end"] or "",
                "ChargeCategory": category, "ChargeFrequency": frequency,
                "ChargeClass": "Correction" if inv["credit"] else "", "x_ServiceId": neutralise(c["service"]),
                "x_ServiceKind": c["service_kind"] or "", "ChargeDescription": neutralise(c["description"]),
                "ConsumedQuantity": money(c["quantity"]) or "", "BilledCost": money(c["amount"]),
                "BillingCurrency": neutralise(inv["currency"]), "x_TaxCategory": neutralise(c["tax_category"]),
                "x_TaxRate": neutralise(c["tax_rate"]), "x_AnatoleInvoice": inv["id"],
                "x_LineId": neutralise(c["line_id"])})
    writer.writerows(rows)
    return out.getvalue()


def mark_exported(istore: InvoiceStore, invoice_ids: list[int], *, actor: str | None = None,
                  reason: str = "") -> None:
    for iid in invoice_ids:
        _move(istore, iid, "exported", actor, reason or _("exported (FOCUS CSV)"))


