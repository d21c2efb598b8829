"""Invoices: the carrier invoices in the store (state, totals, findings), one invoice's charges, checks and findings,
reconciliation against the rated calls and history, and the workflow's actions: approve and dispute.

Reading is done here, from `store.invoices` (tui may read the store). What needs `tem` (the workflow's rules, the
reconciliation) is not imported: tem and tui are siblings, so `anatole` hands the callables over in
`ConsoleContext.invoices` (tui.context.InvoiceActions); without them the screen is read-only and says so. Every
database call runs in a thread worker; results come back as messages. Actions are recorded with `ctx.user`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Input, OptionList, SelectionList, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option

from engine.money import MoneyError, parse_money
from i18n import N_, _, ngettext, pgettext
from store import display
from store.db import StoreError
from store.invoices import InvoiceStore, InvoiceStoreError, claim_amount, verdict
from store.invoices import needs_reason as store_needs_reason
from tui.context import ActionError, ConsoleContext
from tui.data import ComponentReader
from tui.keybar import KeyBar
from tui.table import Column, LocalTable, Money, Row, screen_keys, table_commands

STATE_STYLE = {"invalid": "bold red", "in_dispute": "bold magenta", "approved": "green", "allocated": "green",
               "exported": "dim", "validated": "", "received": ""}
RECON_LABELS = {"exact": N_("exact"), "near": N_("near (within tolerance)"), "cost_mismatch": N_("cost mismatch"),
                "only_invoice": N_("only on the invoice"), "only_cdr": N_("only in the CDRs")}


def dispute_status(status: str) -> str:
    return {"open": pgettext("dispute", "open"), "credited": pgettext("dispute", "credited")}.get(status, status)


TOTAL_NAMES = {"lines": N_("lines"), "allowances": N_("allowances"), "charges": N_("charges"), "tax": N_("tax"),
               "payable": N_("payable")}


def read_only_text() -> str:
    return _("read-only: the actions need the workspace (open the console with `anatole ui`)")


def gone_text() -> str:
    """`{number}`: the invoice's id."""
    return _("invoice #{number} is no longer in the store")


def no_call_detail_text() -> str:
    return _("no call detail on this invoice: nothing to reconcile")


def charge_columns(currency: str) -> list[str]:
    """The charges table's headings; the amount columns name the invoice's currency (amounts exact)."""
    def amount(name: str) -> str:
        return f"{name} {currency}".rstrip()

    return ["#", _("category"), _("service"), amount(_("amount")), amount(pgettext("charge", "tax")),
            _("description"), _("qty"), amount(_("price")), _("period")]


def check_columns(currency: str) -> list[str]:
    return ["id", _("result"), _("rule"), _("expected"), _("actual"), f"{_('at stake')} {currency}".rstrip(),
            _("line"), _("source"), pgettext("finding", "dispute")]


# --- data access (no Textual: called from worker threads) --------------------------------------------------------


class InvoiceReader(ComponentReader):
    """The screen's read access to the invoices component (one connection, guarded by a lock)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, InvoiceStore, InvoiceStoreError)

    def invoices(self) -> list[dict[str, Any]]:
        """Every invoice, with the count of its findings (failed checks) and their money at stake."""
        def read(istore: InvoiceStore) -> list[dict[str, Any]]:
            rows = istore.invoices()
            for r in rows:
                failed = [c for c in istore.checks(r["id"]) if not c["ok"]]
                r["findings"] = len(failed)
                r["at_stake"] = sum(c["at_stake"] or 0 for c in failed)
            return rows

        return self._guard(read)

    def detail(self, invoice_id: int) -> dict[str, Any] | None:
        def read(istore: InvoiceStore) -> dict[str, Any] | None:
            inv = istore.invoice(invoice_id)
            if inv is None:
                return None
            calls = istore.call_detail(invoice_id)
            disputes = istore.disputes(invoice_id)
            contested = {cid: d["id"] for d in disputes for cid in d["findings"]}
            checks = istore.checks(invoice_id)
            for c in checks:
                c["dispute"] = contested.get(c["id"])
            return {"invoice": inv, "charges": istore.charges(invoice_id), "taxes": istore.taxes(invoice_id),
                    "checks": checks, "transitions": istore.transitions(invoice_id), "disputes": disputes,
                    "calls": len(calls["start"]), "calls_amount": int(calls["amount"].sum())}

        return self._guard(read)


def money(value: int | None, currency: str = "", *, exact: bool = False) -> str:
    """Lists: the currency's decimals with the currency (store.display); details pass exact=True."""
    return display.money(value, currency, exact=exact)


def exact(value: int | None, currency: str = "") -> str:
    """An invoice's own figure, every decimal kept (detail tables, whose title says "exact")."""
    return display.amount(value, currency, exact=True)


def period_text(start: str | None, end: str | None) -> str:
    """2025-03 for a whole calendar month, else 2025-03-05…04-04 (the year once when both dates share it)."""
    if not start and not end:
        return ""
    if start and end and start[:7] == end[:7] and start[8:] == "01":
        try:
            last = dt.date.fromisoformat(end)
        except ValueError:
            last = None
        if last is not None and (last + dt.timedelta(days=1)).day == 1:
            return start[:7]
    if start and end and start[:4] == end[:4]:
        return f"{start}…{end[5:]}"
    return f"{start or '?'}…{end or '?'}"


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def state_text(inv: dict[str, Any]) -> str:
    """The workflow state, with what else the user must know at a glance: the invoice does not add up (status
    invalid, once it has moved on) or duplicates another."""
    text = display.invoice_state(inv["state"])
    if inv.get("kind") == "information":
        text += " " + _("(info: not payable)")
    elif inv.get("kind") == "credit_note" or inv["credit"]:
        text += " " + _("(credit)")
    if inv["validity"] == "invalid" and inv["state"] != "invalid":
        text += " " + _("(invalid)")
    if inv["duplicate_of"]:
        text += " " + _("(dup)")
    return text


def _day(iso: str | None) -> str:
    """An ISO day as the language writes it (store.display)."""
    try:
        return display.day(dt.date.fromisoformat(iso)) if iso else ""
    except ValueError:
        return iso or ""


def when_text(epoch: int, zone: str) -> str:
    return display.when(epoch, zone)


def _number(value: int | None) -> str:
    """A fixed-point quantity (not money): every decimal."""
    return "" if value is None else display.amount(value, None, exact=True)  # the language's marks


def needs_reason(detail: dict[str, Any]) -> str:
    """Why approving this invoice needs a reason (the workflow's one rule, store.invoices.needs_reason), or ""."""
    return store_needs_reason(detail["invoice"], detail["checks"], detail["disputes"])


def kind_text(inv: dict[str, Any]) -> str:
    """What the document is: an invoice, a credit note (and the invoice it credits), or information only."""
    kind = inv.get("kind") or ("credit_note" if inv["credit"] else "invoice")
    if kind == "credit_note":
        if inv.get("credits"):
            return _("credit note crediting invoice #{number}").format(number=inv["credits"])
        return _("credit note")
    if kind == "information":
        return _("type {code}: information only, not a payable").format(code=inv["type_code"])
    return _("invoice")


# --- messages ----------------------------------------------------------------------------------------------------


class InvoicesLoaded(Message):
    def __init__(self, rows: list[dict[str, Any]], error: str = "") -> None:
        super().__init__()
        self.rows, self.error = rows, error


class InvoiceLoaded(Message):
    def __init__(self, invoice_id: int, detail: dict[str, Any] | None, error: str = "", then: str = "") -> None:
        super().__init__()
        self.invoice_id, self.detail, self.error, self.then = invoice_id, detail, error, then


class Reconciled(Message):
    def __init__(self, invoice_id: int, summary: dict[str, Any] | None, error: str = "") -> None:
        super().__init__()
        self.invoice_id, self.summary, self.error = invoice_id, summary, error


class ActionDone(Message):
    def __init__(self, ok: bool, text: str) -> None:
        super().__init__()
        self.ok, self.text = ok, text


# --- the list ----------------------------------------------------------------------------------------------------

# what is decided on first (period, amount, state, findings): in view at 80 columns; who bills after
LIST_COLUMNS = (Column("id", "#"), Column("number", _("number")), Column("period", _("period")),
                Column("payable", _("payable")), Column("state", _("state")), Column("findings", _("find.")),
                Column("carrier", _("carrier")), Column("account", _("account")))


def list_row(r: dict[str, Any]) -> Row:
    """An invoice's cells (cut to fit) and what they sort, filter and export by: whole texts, the period by its
    start, the payable exact in its own currency (never sorted across currencies by face value)."""
    style = STATE_STYLE.get(r["state"], "")
    findings = Text(str(r["findings"]) if r["findings"] else "", style="bold yellow" if r["findings"] else "")
    period = period_text(r["period_start"], r["period_end"])
    cells = {"id": str(r["id"]), "number": clip(r["number"], 18), "period": period,
             "payable": Text(money(r["payable"], r["currency"]), justify="right"),
             "state": Text(state_text(r), style=style), "findings": findings,
             "carrier": clip(r["carrier_name"] or r["carrier"], 16), "account": clip(r["account"], 12)}
    values = {"id": r["id"], "number": r["number"], "period": period,
              "payable": None if r["payable"] is None else Money(r["payable"], r["currency"]),
              "findings": r["findings"], "carrier": r["carrier_name"] or r["carrier"], "account": r["account"]}
    return Row(str(r["id"]), cells, values)



class InvoicesScreen(Screen):
    """Every stored invoice: carrier, account, number, period, payable, status and state, findings."""

    CSS_PATH = "invoices.tcss"
    BINDINGS = [
        Binding("enter", "open", _("Open"), show=False),
        # approve and dispute are named on the message line (and in the help, the palette): the footer fits 80
        # columns with the table's keys
        Binding("a", "act('approve')", _("Approve"), show=False),
        Binding("d", "act('dispute')", _("Dispute"), show=False),
        Binding("slash", "filter", _("Filter"), key_display="/"),
        Binding("r", "reload", _("Reload"), show=False),
        Binding("escape", "leave_filter", _("Back to the table"), show=False),
        # the table's own keys (LocalTable), here too so that they work from the filter line and show in the help
        *screen_keys(clear=_("Clear the cell filter")),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []
        self.by_id: dict[str, dict[str, Any]] = {}
        self.shown: list[dict[str, Any]] = []
        self.reader: InvoiceReader | None = None
        self.error = ""
        self.notice = ""  # the outcome of the last action, kept across reloads

    def compose(self) -> ComposeResult:
        yield Static(_("Invoices"), classes="title", id="invoices-title")
        yield Input(placeholder=_("/ filter: words in carrier, account, number, period, status or state"),
                    id="invoices-filter", classes="line-input")
        ctx = self.app.ctx
        yield LocalTable(LIST_COLUMNS, name_for_export="invoices", workspace=lambda: ctx.workspace, clock=ctx.clock,
                         id="invoices")
        yield Static("", id="invoices-summary", classes="totals")
        yield Static("", id="invoices-message", classes="message")
        yield KeyBar()

    def on_mount(self) -> None:
        self.reader = InvoiceReader(self.app.ctx.db_path)
        self.table().focus()
        self._load()

    def table(self) -> LocalTable:
        return self.query_one("#invoices", LocalTable)

    async def action_table(self, action: str) -> None:
        await self.table().run_action(action)

    def on_unmount(self) -> None:
        if self.reader is not None:
            self.reader.close()

    def _message(self, text: str, *, error: bool = False) -> None:
        line = self.query_one("#invoices-message", Static)
        line.update(Text(text))
        line.set_class(error, "error")

    def action_reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="invoices")
    def _load(self) -> None:
        """(Also the detail screen's on_change: an action there reloads the list.)"""
        assert self.reader is not None
        try:
            self.post_message(InvoicesLoaded(self.reader.invoices()))
        except StoreError as exc:
            self.post_message(InvoicesLoaded([], str(exc)))

    def on_invoices_loaded(self, message: InvoicesLoaded) -> None:
        self.error = message.error
        if message.error:
            self._message(message.error, error=True)
            return
        self.rows = message.rows
        self._show()
        if not self.rows:
            self._message(_("no invoices yet: import some with `anatole import invoice FILE...`"))
        elif self.app.ctx.invoices is None:
            self._message(read_only_text())
        else:
            self._message(self.notice or _("enter: charges, findings, reconciliation · a approve · d dispute"))

    def _matches(self, row: dict[str, Any], words: list[str]) -> bool:
        text = " ".join([*(str(row[k] or "") for k in ("carrier", "carrier_name", "account", "number", "period_start",
                                                       "period_end", "validity", "state", "currency")),
                         display.invoice_state(row["state"])]).lower()  # the state as stored and as shown
        return all(w in text for w in words)

    def _show(self) -> None:
        """The rows the words of the filter line match, then the table's own filter by cell and sort."""
        words = self.query_one("#invoices-filter", Input).value.lower().split()
        self.by_id = {str(r["id"]): r for r in self.rows}
        self.table().set_rows([list_row(r) for r in self.rows if self._matches(r, words)])

    @on(LocalTable.Changed, "#invoices")
    def table_changed(self, event: LocalTable.Changed) -> None:
        """The totals of what is shown (per currency), and the title with the count, filters and sort."""
        self.shown = [self.by_id[r.key] for r in event.table.view if r.key in self.by_id]
        self.query_one("#invoices-title", Static).update(f"{_('Invoices')} · {event.table.summary()}"
                                                         if event.table.filters or event.table.sort else _("Invoices"))
        by_cur: dict[str, int] = {}
        for r in self.shown:
            by_cur[r["currency"]] = by_cur.get(r["currency"], 0) + (r["payable"] or 0)
        invalid = sum(1 for r in self.shown if r["validity"] == "invalid")
        disputed = sum(1 for r in self.shown if r["state"] == "in_dispute")
        findings = sum(r["findings"] for r in self.shown)
        n, total = len(self.shown), len(self.rows)
        count = ngettext("{n} of {total} invoice", "{n} of {total} invoices", total).format(n=n, total=total) \
            if n != total else ngettext("{n} invoice", "{n} invoices", n).format(n=n)
        self.query_one("#invoices-summary", Static).update(" · ".join([
            count, _("payable {amounts}").format(amounts=display.totals(by_cur, empty="0")),
            ngettext("{n} invalid", "{n} invalid", invalid).format(n=invalid),
            ngettext("{n} in dispute", "{n} in dispute", disputed).format(n=disputed),
            ngettext("{n} finding", "{n} findings", findings).format(n=findings)]))

    def _current(self) -> dict[str, Any] | None:
        row = self.table().current_row()
        return None if row is None else self.by_id.get(row.key)

    def action_open(self) -> None:
        row = self._current()
        if row is not None:
            self.app.push_screen(InvoiceDetailScreen(int(row["id"]), self.reader, on_change=self._load))

    @on(DataTable.CellSelected, "#invoices")
    def selected(self, event: DataTable.CellSelected) -> None:
        if event.cell_key.row_key.value is not None:
            self.app.push_screen(InvoiceDetailScreen(int(event.cell_key.row_key.value), self.reader,
                                                     on_change=self._load))

    def action_act(self, kind: str) -> None:
        row = self._current()
        if row is None:
            return
        if self.app.ctx.invoices is None:
            self._message(read_only_text(), error=True)
            return
        self._fetch(int(row["id"]), kind)

    @work(thread=True, group="invoice-act")
    def _fetch(self, invoice_id: int, kind: str) -> None:
        assert self.reader is not None
        try:
            self.post_message(InvoiceLoaded(invoice_id, self.reader.detail(invoice_id), then=kind))
        except StoreError as exc:
            self.post_message(InvoiceLoaded(invoice_id, None, str(exc), then=kind))

    def on_invoice_loaded(self, message: InvoiceLoaded) -> None:
        if message.detail is None:
            self._message(message.error or gone_text().format(number=message.invoice_id), error=True)
            return
        open_action(self, message.then, message.detail, self._after_action)

    def _after_action(self, text: str | None) -> None:
        if text:
            self.notice = text
            self._message(text)
            self.notify(text, timeout=4)
            self._load()

    def action_filter(self) -> None:
        self.query_one("#invoices-filter", Input).focus()

    def action_leave_filter(self) -> None:
        self.table().focus()

    @on(Input.Changed, "#invoices-filter")
    def filter_changed(self, event: Input.Changed) -> None:
        if self.rows:
            self._show()

    @on(Input.Submitted, "#invoices-filter")
    def filter_done(self, event: Input.Submitted) -> None:
        self.table().focus()

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        """(title, help, callback) for the app's command palette: the workflow's actions and the table's keys."""
        table = self.table()
        out: list[tuple[str, str, Any]] = [
            (_("Invoices: approve the highlighted invoice…"), _("For payment, with a reason where needed (a)"),
             lambda: self.action_act("approve")),
            (_("Invoices: dispute the highlighted invoice…"), _("Reason, findings contested, amount claimed (d)"),
             lambda: self.action_act("dispute")),
            (_("Invoices: open the highlighted invoice"), _("Charges, findings, reconciliation, history (enter)"),
             self.action_open),
        ]
        return out + table_commands(table, _("Invoices"))


def open_action(screen: Screen, kind: str, detail: dict[str, Any], done: Any) -> None:
    """Push the approve or dispute dialog for `detail`; `done(text or None)` runs when it closes."""
    ctx: ConsoleContext = screen.app.ctx
    if ctx.invoices is None:
        return
    if kind == "approve":
        screen.app.push_screen(ApproveDialog(detail), done)
    else:
        screen.app.push_screen(DisputeDialog(detail), done)


# --- one invoice -------------------------------------------------------------------------------------------------


class InvoiceDetailScreen(Screen):
    """One invoice: totals and state, then its charges, its checks and findings, the reconciliation of its call
    detail with the rated calls, and its history (transitions, disputes)."""

    CSS_PATH = "invoices.tcss"
    BINDINGS = [
        Binding("escape", "app.pop_screen", _("Back"), key_display="esc"),
        Binding("a", "act('approve')", _("Approve")),
        Binding("d", "act('dispute')", _("Dispute")),
        Binding("c", "tab('charges')", _("Charges"), show=False),  # the tabs' titles show these keys
        Binding("f", "tab('checks')", _("Checks and findings"), show=False),
        Binding("m", "tab('recon')", _("Reconciliation (matching)"), show=False),
        Binding("h", "tab('history')", _("History"), show=False),
    ]

    def __init__(self, invoice_id: int, reader: InvoiceReader | None = None, *, on_change: Any = None) -> None:
        super().__init__()
        self.invoice_id = invoice_id
        self.reader = reader
        self.own_reader = reader is None
        self.on_change = on_change
        self.detail: dict[str, Any] | None = None
        self.recon: dict[str, Any] | None = None
        self.recon_state = "none"  # none, choosing, running, done, error, unavailable
        self.scopes: list[tuple[str | None, tuple[str, ...], bool]] = []  # the choices offered: (site, trunks, ask)
        self.scope_label = ""

    def compose(self) -> ComposeResult:
        yield Static(_("Invoice #{number}").format(number=self.invoice_id), classes="title", id="inv-title")
        yield Static(_("loading…"), id="inv-summary")
        with TabbedContent(initial="charges", id="inv-tabs"):
            with TabPane(_("Charges (c)"), id="charges"):
                yield DataTable(id="inv-charges", cursor_type="row", zebra_stripes=True)
            with TabPane(_("Checks and findings (f)"), id="checks"):
                yield DataTable(id="inv-checks", cursor_type="row", zebra_stripes=True)
                yield Static("", id="inv-check-text", classes="message")
            with TabPane(_("Reconciliation (m)"), id="recon"), VerticalScroll(id="inv-recon-box"):
                yield Static("", id="inv-recon")
                yield OptionList(id="inv-recon-scope", classes="hidden")
            with TabPane(_("History (h)"), id="history"), VerticalScroll(id="inv-history-box"):
                yield Static("", id="inv-history")
        yield Static("", id="inv-message", classes="message")
        yield KeyBar()

    def on_mount(self) -> None:
        if self.reader is None:
            self.reader = InvoiceReader(self.app.ctx.db_path)
        self.query_one("#inv-charges", DataTable).add_columns(*charge_columns(""))
        self.query_one("#inv-checks", DataTable).add_columns(*check_columns(""))
        self.query_one("#inv-charges", DataTable).focus()
        self._load()

    def on_unmount(self) -> None:
        if self.own_reader and self.reader is not None:
            self.reader.close()

    def _message(self, text: str, *, error: bool = False) -> None:
        line = self.query_one("#inv-message", Static)
        line.update(Text(text))
        line.set_class(error, "error")

    @work(thread=True, exclusive=True, group="invoice-detail")
    def _load(self) -> None:
        assert self.reader is not None
        try:
            self.post_message(InvoiceLoaded(self.invoice_id, self.reader.detail(self.invoice_id)))
        except StoreError as exc:
            self.post_message(InvoiceLoaded(self.invoice_id, None, str(exc)))

    def on_invoice_loaded(self, message: InvoiceLoaded) -> None:
        message.stop()
        if message.detail is None:
            self.query_one("#inv-summary", Static).update(
                Text(message.error or gone_text().format(number=self.invoice_id), style="bold red"))
            return
        self.detail = message.detail
        self._show(message.detail)
        if self.recon_state == "none":
            self._start_reconcile(message.detail)

    def _show(self, d: dict[str, Any]) -> None:
        inv = d["invoice"]
        ctx: ConsoleContext = self.app.ctx
        kind = kind_text(inv)
        self.query_one("#inv-title", Static).update(" · ".join([
            f"{kind[0].upper() + kind[1:]} {inv['number']} (#{inv['id']})", inv["carrier_name"] or inv["carrier"],
            _("account {account}").format(account=inv["account"])]))
        text = Text()
        profile = inv["profile"] or ""
        if profile in inv["format"] or len(profile) > 30:  # (a Peppol customization URN says nothing here)
            profile = ""
        head = [f"{inv['format']}{' / ' + profile if profile else ''}", ctx.shown(Path(inv["file"]))]
        if inv["issue_date"]:
            head.append(_("issued {day}").format(day=_day(inv["issue_date"])))
        if inv["period_start"] or inv["period_end"]:
            head.append(_("period {period}").format(period=period_text(inv["period_start"], inv["period_end"])))
        text.append(" · ".join(head) + "\n")
        totals = [(k, inv[k]) for k in ("lines", "allowances", "charges", "tax", "payable") if inv[k] is not None]
        cur = inv["currency"]
        text.append(" · ".join(f"{_(TOTAL_NAMES[k])} {exact(v, cur)}" for k, v in totals)
                    + " " + _("{currency} (exact)").format(currency=cur) + "\n", style="bold")
        failed = [c for c in d["checks"] if not c["ok"]]
        # the validation verdict, worded as in the history; the audit's findings are counted apart
        validation = [(c["rule"], bool(c["ok"]), c["severity"]) for c in d["checks"] if c["source"] == "validate"]
        said = verdict(inv["validity"], validation, len(inv["not_checked"] or []))
        head_word, _sep, rest = said.partition(":")
        text.append(head_word, style="bold red" if inv["validity"] == "invalid" else "green")
        text.append(":" + rest)
        others = [c for c in failed if c["source"] != "validate"]
        if others:
            errors = sum(1 for c in others if c["severity"] == "error")
            audit = ngettext("audit: {n} finding, {errors} error(s), {amount} at stake",
                             "audit: {n} findings, {errors} error(s), {amount} at stake", len(others)).format(
                n=len(others), errors=errors, amount=money(claim_amount(others), cur, exact=True))
            text.append(" · " + audit, style="bold" if errors else "")
        text.append(" · " + _("state") + " ")
        text.append(display.invoice_state(inv["state"]), style=STATE_STYLE.get(inv["state"], "") or "bold")
        text.append(f" ({inv['lifecycle_code'] or '-'})")
        if inv["duplicate_of"]:
            text.append(" · " + _("duplicate of invoice #{number}").format(number=inv["duplicate_of"]),
                        style="bold yellow")
        last = []
        if d["calls"]:
            last.append(ngettext("call detail: {n} call, {amount}", "call detail: {n} calls, {amount}",
                                 d["calls"]).format(n=d["calls"], amount=money(d["calls_amount"], cur, exact=True)))
        if d["taxes"]:
            last.append(_("VAT {rates}").format(rates="; ".join(
                _("{category} {rate}%: base {base} tax {amount}").format(
                    category=t["category"] or "?", rate=t["rate"] or "?", base=exact(t["base"], cur),
                    amount=money(t["amount"], cur, exact=True)) for t in d["taxes"])))
        if last:
            text.append("\n" + " · ".join(last))
        self.query_one("#inv-summary", Static).update(text)

        charges = self.query_one("#inv-charges", DataTable)
        charges.clear(columns=True)  # the amount columns name the invoice's currency (amounts exact: see above)
        charges.add_columns(*charge_columns(cur))
        for c in d["charges"]:
            info = c["status_code"] in ("GROUP", "INFORMATION")
            charges.add_row(str(c["seq"]), display.charge_category(c["category"]), c["service"] or _("(account)"),
                            Text(exact(c["amount"], cur), justify="right", style="dim" if info else ""),
                            Text(exact(c["tax"], cur), justify="right"), clip(c["description"] or "", 32),
                            _number(c["quantity"]), exact(c["unit_price"], cur),
                            period_text(c["period_start"], c["period_end"]), key=str(c["seq"]))

        checks = self.query_one("#inv-checks", DataTable)
        checks.clear(columns=True)
        checks.add_columns(*check_columns(cur))
        ordered = failed + [c for c in d["checks"] if c["ok"]]  # the findings first
        for c in ordered:
            result = Text(pgettext("check", "ok"), style="green") if c["ok"] else \
                Text(pgettext("check", "FAIL"), style="bold red") if c["severity"] == "error" else \
                Text(pgettext("check", "warn"), style="bold yellow")
            checks.add_row(str(c["id"]), result, c["rule"], c["expected"] or "", c["actual"] or "",
                           exact(c["at_stake"], cur) if c["at_stake"] else "", (c["line"] or "")[:16], c["source"],
                           f"#{c['dispute']}" if c["dispute"] else "", key=str(c["id"]))
        d["ordered_checks"] = ordered
        if ordered:
            self._show_check(ordered[0])
        else:
            self.query_one("#inv-check-text", Static).update(_("no checks stored"))

        zone = ctx.zone()
        history = Text()
        for t in d["transitions"]:
            history.append(_("{when}  {before} → {after} ({code}) by {actor}: {reason}").format(
                when=when_text(t["at"], zone),
                before=display.invoice_state(t["from_state"]) if t["from_state"] else "-",
                after=display.invoice_state(t["to_state"]), code=t["lifecycle_code"] or "-", actor=t["actor"],
                reason=t["reason"]) + "\n")
        for disp in d["disputes"]:
            history.append("\n" + _("dispute #{number} ({status}) opened {when} by {actor}: {reason}").format(
                number=disp["id"], status=dispute_status(disp["status"]), when=when_text(disp["opened_at"], zone),
                actor=disp["actor"], reason=disp["reason"]) + "\n", style="bold")
            history.append("  " + _("claimed {amount} · findings {findings}").format(
                amount=money(disp["amount_claimed"], disp["currency"], exact=True),
                findings=", ".join(str(f) for f in disp["findings"]) or _("none")))
            if disp["credit_invoice_id"]:
                history.append(" · " + _("credited {amount} by invoice #{number}").format(
                    amount=money(disp["credited_amount"], disp["currency"], exact=True),
                    number=disp["credit_invoice_id"]))
            history.append("\n")
        self.query_one("#inv-history", Static).update(history or Text(_("no history")))

    def _show_check(self, c: dict[str, Any]) -> None:
        self.query_one("#inv-check-text", Static).update(Text(f"{c['rule']}: {c['message'] or ''}"))

    @on(DataTable.RowHighlighted, "#inv-checks")
    def check_highlighted(self, event: DataTable.RowHighlighted) -> None:
        ordered = (self.detail or {}).get("ordered_checks", [])
        if 0 <= event.cursor_row < len(ordered):
            self._show_check(ordered[event.cursor_row])

    # --- reconciliation ----------------------------------------------------------------------------------------

    def _start_reconcile(self, d: dict[str, Any]) -> None:
        recon = self.query_one("#inv-recon", Static)
        if not d["calls"]:
            self.recon_state = "unavailable"
            recon.update(no_call_detail_text())
            return
        if self.app.ctx.invoices is None:
            self.recon_state = "unavailable"
            recon.update(_("the reconciliation needs the workspace (open the console with `anatole ui`), or run "
                           "`anatole reconcile {number}`").format(number=self.invoice_id))
            return
        self.recon_state = "running"
        recon.update(ngettext("reconciling {n} billed call with the rated calls…",
                              "reconciling {n} billed calls with the rated calls…", d["calls"]).format(n=d["calls"]))
        self._reconcile(self.invoice_id)

    @work(thread=True, exclusive=True, group="invoice-recon")
    def _reconcile(self, invoice_id: int, site: str | None = None, trunks: tuple[str, ...] = (),
                   ask: bool = True) -> None:
        actions = self.app.ctx.invoices
        assert actions is not None
        try:
            self.post_message(Reconciled(invoice_id, actions.reconcile(invoice_id, site, trunks, ask)))
        except ActionError as exc:
            self.post_message(Reconciled(invoice_id, None, str(exc)))

    def on_reconciled(self, message: Reconciled) -> None:
        recon = self.query_one("#inv-recon", Static)
        if message.error:
            self.recon_state = "error"
            recon.update(Text(_("cannot reconcile: {problem}").format(problem=message.error), style="bold red"))
            return
        if message.summary is not None and "choose" in message.summary:
            self._ask_scope(message.summary["choose"])
            return
        self.recon_state = "done"
        self.recon = message.summary
        if message.summary is None:
            recon.update(no_call_detail_text())
            return
        text = recon_text(message.summary, self.invoice_id)
        if self.scope_label:
            text = Text(_("calls of {scope}").format(scope=self.scope_label) + "\n", style="bold") + text
        recon.update(text)

    def _ask_scope(self, scopes: list[dict[str, Any]]) -> None:
        """The invoice's period spans calls of several sites or trunks: ask which one the carrier bills."""
        self.recon_state = "choosing"
        inv = (self.detail or {}).get("invoice") or {}
        carrier = inv.get("carrier_name") or inv.get("carrier") or _("the carrier")
        self.query_one("#inv-recon", Static).update(Text(
            _("The invoice's period has rated calls on several sites or trunks: which one does {carrier} bill? "
              "(enter chooses)").format(carrier=carrier), style="bold"))
        by_site: dict[str | None, list[dict[str, Any]]] = {}
        for s in scopes:
            by_site.setdefault(s["site"], []).append(s)
        self.scopes, options = [], []
        for site, rows in by_site.items():
            if site is None:
                continue  # calls with no site: only in "all"
            trunks = [r for r in rows if r["trunk"]]
            total = sum(r["calls"] for r in rows)
            if len(rows) > 1:
                options.append(ngettext("site {site}, all its trunks ({n} call)",
                                        "site {site}, all its trunks ({n} calls)", total).format(site=site, n=total))
            elif trunks:
                options.append(ngettext("site {site}, trunk {trunk} ({n} call)",
                                        "site {site}, trunk {trunk} ({n} calls)", total).format(
                    site=site, trunk=trunks[0]["trunk"], n=total))
            else:
                options.append(ngettext("site {site} ({n} call)", "site {site} ({n} calls)", total).format(site=site,
                                                                                                        n=total))
            self.scopes.append((site, (), False))
            if len(rows) > 1:
                for r in trunks:
                    options.append(ngettext("site {site}, trunk {trunk} ({n} call)",
                                            "site {site}, trunk {trunk} ({n} calls)", r["calls"]).format(
                        site=site, trunk=r["trunk"], n=r["calls"]))
                    self.scopes.append((site, (r["trunk"],), False))
        every = sum(s["calls"] for s in scopes)
        options.append(ngettext("all sites and trunks ({n} call)", "all sites and trunks ({n} calls)", every).format(
            n=every))
        self.scopes.append((None, (), False))
        choice = self.query_one("#inv-recon-scope", OptionList)
        choice.clear_options()
        choice.add_options([Option(text, id=str(i)) for i, text in enumerate(options)])
        choice.remove_class("hidden")
        choice.highlighted = 0
        if self.query_one("#inv-tabs", TabbedContent).active == "recon":
            choice.focus()

    @on(OptionList.OptionSelected, "#inv-recon-scope")
    def scope_chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if self.recon_state != "choosing":
            return
        site, trunks, ask = self.scopes[int(event.option.id or 0)]
        if site and trunks:
            self.scope_label = _("site {site}, trunk {trunks}").format(site=site, trunks=", ".join(trunks))
        elif site:
            self.scope_label = _("site {site}").format(site=site)
        else:
            self.scope_label = _("all sites")
        event.option_list.add_class("hidden")
        self.recon_state = "running"
        self.query_one("#inv-recon", Static).update(
            _("reconciling with the calls of {scope}…").format(scope=self.scope_label))
        self._reconcile(self.invoice_id, site, trunks, ask)

    # --- actions -----------------------------------------------------------------------------------------------

    def action_tab(self, name: str) -> None:
        self.query_one("#inv-tabs", TabbedContent).active = name
        target = {"charges": "#inv-charges", "checks": "#inv-checks",
                  "recon": "#inv-recon-scope" if self.recon_state == "choosing" else "#inv-recon-box",
                  "history": "#inv-history-box"}[name]
        self.query_one(target).focus()

    def action_act(self, kind: str) -> None:
        if self.app.ctx.invoices is None:
            self._message(read_only_text(), error=True)
            return
        if self.detail is not None:
            open_action(self, kind, self.detail, self._after_action)

    def _after_action(self, text: str | None) -> None:
        if text:
            self._message(text)
            self.notify(text, timeout=4)
            self._load()
            if self.on_change is not None:
                self.on_change()


def recon_text(s: dict[str, Any], invoice_id: int) -> Text:
    tol = s["tolerances"]
    code = s["currency"] or ""
    cur = f" {code}" if code else ""

    def shown(value: Any, *, with_code: bool = True) -> str:
        """The summary's exact strings at the currency's decimals (`anatole reconcile` shows them exact)."""
        return display.from_text(None if value is None else str(value), code, code=with_code)

    text = Text()
    text.append(ngettext("{billed} billed call against {rated} rated call(s), {matched} matched",
                         "{billed} billed calls against {rated} rated call(s), {matched} matched",
                         s["invoice_lines"]).format(billed=s["invoice_lines"], rated=s["calls"],
                                                    matched=s["matched"]) + "\n", style="bold")
    first, last = (s["period"][k][:16].replace("T", " ") for k in ("from", "to"))
    text.append(_("period {first} to {last} UTC").format(first=first, last=last) + "\n")
    cost = display.from_text(str(tol["cost"]), code, exact=True, code=False) + cur
    text.append(_("tolerances: start ±{start} s, duration ±{duration} s, cost {cost}").format(
        start=tol["start_s"], duration=tol["duration_s"], cost=cost) + "\n\n")
    text.append(f"{_('class'):<26}{_('lines'):>6}{_('invoice') + cur:>12}{_('rated') + cur:>12}"
                f"{_('difference'):>12}\n", style="bold")
    for name, t in s["classes"].items():
        style = "" if name == "exact" or not t["count"] else "yellow"
        text.append(f"{_(RECON_LABELS[name]) if name in RECON_LABELS else name:<26}{t['count']:>6}"
                    f"{shown(t['invoice'], with_code=False):>12}{shown(t['cdr'], with_code=False):>12}"
                    f"{shown(t['difference'], with_code=False):>12}\n", style=style)
    text.append("\n" + _("money at stake:") + " ")
    stake = shown(s["money_at_stake"])
    text.append(stake, style="bold" if stake == shown("0") else "bold red")
    text.append(" " + _("(overcharges + calls the PBX never made) · calls not billed: {amount}").format(
        amount=shown(s["unbilled_calls_cost"])) + "\n")
    if s.get("median_start_offset_s"):
        text.append(_("the carrier's clock is {offset} s from the PBX's (median)").format(
            offset=f"{s['median_start_offset_s']:+d}") + "\n")
    text.append(_("line by line: `anatole reconcile {number}`").format(number=invoice_id), style="dim")
    return text


# --- the dialogs -------------------------------------------------------------------------------------------------


class ApproveDialog(ModalScreen[str | None]):
    """Approve for payment: Enter confirms (with a reason where the workflow needs one), Escape cancels. A refusal
    (wrong state, missing reason) is shown here and the dialog stays open."""

    CSS_PATH = "invoices.tcss"
    BINDINGS = [Binding("escape", "cancel", _("Cancel"))]

    def __init__(self, detail: dict[str, Any]) -> None:
        super().__init__()
        self.detail = detail
        self.busy = False

    def compose(self) -> ComposeResult:
        inv = self.detail["invoice"]
        why = needs_reason(self.detail)
        with Vertical(classes="dialog", id="approve-box"):
            yield Static(_("Approve {number} (#{id}) of {carrier} for payment: {amount}").format(
                number=inv["number"], id=inv["id"], carrier=inv["carrier_name"] or inv["carrier"],
                amount=money(inv["payable"], inv["currency"], exact=True)), classes="dialog-title")
            if inv.get("kind") == "information":
                yield Static(_("This document is {kind}: it cannot be approved for payment.").format(
                    kind=kind_text(inv)), id="approve-hint")
            else:
                yield Static(_("A reason is required: {why}.").format(why=why) if why else _("Reason (optional):"),
                             id="approve-hint")
            yield Input(placeholder=_("reason"), id="approve-reason")
            yield Static(_("enter: approve as {user} · escape: cancel").format(user=self.app.ctx.user),
                         id="approve-message", classes="message")

    def on_mount(self) -> None:
        self.query_one("#approve-reason", Input).focus()

    @on(Input.Submitted, "#approve-reason")
    def submit(self, event: Input.Submitted) -> None:
        if self.busy:
            return
        reason = event.value.strip()
        if needs_reason(self.detail) and not reason:
            _error(self.query_one("#approve-message", Static),
                   _("give a reason: {why}").format(why=needs_reason(self.detail)))
            return
        self.busy = True
        self._run(int(self.detail["invoice"]["id"]), reason)

    @work(thread=True, group="invoice-approve")
    def _run(self, invoice_id: int, reason: str) -> None:
        ctx: ConsoleContext = self.app.ctx
        assert ctx.invoices is not None
        try:
            ctx.invoices.approve(invoice_id, ctx.user, reason)
        except ActionError as exc:
            self.post_message(ActionDone(False, str(exc)))
            return
        self.post_message(ActionDone(True, _("invoice #{number} approved by {user}").format(number=invoice_id,
                                                                                            user=ctx.user)))

    def on_action_done(self, message: ActionDone) -> None:
        self.busy = False
        if message.ok:
            self.dismiss(message.text)
        else:
            _error(self.query_one("#approve-message", Static), message.text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class DisputeDialog(ModalScreen[str | None]):
    """Open a dispute: the reason (required), the findings contested (space toggles; all failed checks to start
    with) and the amount claimed (empty: the money at stake of the findings chosen). Enter in a field submits."""

    CSS_PATH = "invoices.tcss"
    BINDINGS = [Binding("escape", "cancel", _("Cancel"))]

    def __init__(self, detail: dict[str, Any]) -> None:
        super().__init__()
        self.detail = detail
        self.findings = [c for c in detail["checks"] if not c["ok"]]
        self.busy = False

    def compose(self) -> ComposeResult:
        inv = self.detail["invoice"]
        cur = inv["currency"]
        with Vertical(classes="dialog", id="dispute-box"):
            yield Static(_("Dispute {number} (#{id}) with {carrier} (payable {amount})").format(
                number=inv["number"], id=inv["id"], carrier=inv["carrier_name"] or inv["carrier"],
                amount=money(inv["payable"], inv["currency"], exact=True)), classes="dialog-title")
            yield Input(placeholder=_("reason (required), for the carrier"), id="dispute-reason")
            if self.findings:
                yield Static(_("Findings contested (space: toggle):"))
                yield SelectionList[int](
                    *[(f"{c['id']:>4} {c['rule']:<18} "
                       f"{money(c['at_stake'], cur, exact=True) if c['at_stake'] else '':>14}  "
                       f"{(c['line'] or '')[:16]}", c["id"], True) for c in self.findings], id="dispute-findings")
            else:
                yield Static(_("This invoice has no findings: the dispute contests none."))
            yield Input(id="dispute-amount", restrict=r"[0-9.,]*")
            yield Static(_("enter: open the dispute as {user} · tab: next field · escape: cancel").format(
                user=self.app.ctx.user), id="dispute-message", classes="message")

    def on_mount(self) -> None:
        self._default_amount()
        self.query_one("#dispute-reason", Input).focus()

    def chosen(self) -> list[int]:
        if not self.findings:
            return []
        return list(self.query_one("#dispute-findings", SelectionList).selected)

    def _default_amount(self) -> None:
        picked = set(self.chosen())
        total = claim_amount([c for c in self.findings if c["id"] in picked])  # each overcharge once
        self.query_one("#dispute-amount", Input).placeholder = \
            _("amount claimed (empty: {amount}, the findings' money at stake)").format(
                amount=money(total, self.detail["invoice"]["currency"], exact=True))

    @on(SelectionList.SelectedChanged, "#dispute-findings")
    def findings_changed(self) -> None:
        self._default_amount()

    @on(Input.Submitted)
    def submit(self) -> None:
        if self.busy:
            return
        message = self.query_one("#dispute-message", Static)
        reason = self.query_one("#dispute-reason", Input).value.strip()
        if not reason:
            _error(message, _("a dispute needs a reason"))
            self.query_one("#dispute-reason", Input).focus()
            return
        findings = self.chosen()
        if self.findings and not findings:
            _error(message, _("choose at least one finding to contest (space toggles)"))
            return
        text = self.query_one("#dispute-amount", Input).value.strip()
        amount = None
        if text:
            try:
                amount = parse_money(text.replace(",", "."))  # a decimal comma as typed in French
            except MoneyError as exc:
                _error(message, _("amount: {problem}").format(problem=exc))
                self.query_one("#dispute-amount", Input).focus()
                return
        self.busy = True
        self._run(int(self.detail["invoice"]["id"]), reason, findings, amount)

    @work(thread=True, group="invoice-dispute")
    def _run(self, invoice_id: int, reason: str, findings: list[int], amount: int | None) -> None:
        ctx: ConsoleContext = self.app.ctx
        assert ctx.invoices is not None
        try:
            did = ctx.invoices.dispute(invoice_id, ctx.user, reason, findings, amount)
        except ActionError as exc:
            self.post_message(ActionDone(False, str(exc)))
            return
        self.post_message(ActionDone(True, _("dispute #{dispute} opened on invoice #{number} by {user}").format(
            dispute=did, number=invoice_id, user=ctx.user)))

    def on_action_done(self, message: ActionDone) -> None:
        self.busy = False
        if message.ok:
            self.dismiss(message.text)
        else:
            _error(self.query_one("#dispute-message", Static), message.text)

    def action_cancel(self) -> None:
        self.dismiss(None)


def _error(line: Static, text: str) -> None:
    line.update(Text(text))
    line.add_class("error")
