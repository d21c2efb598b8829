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
from textual.widgets import DataTable, Footer, Input, OptionList, SelectionList, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option

from engine.money import MoneyError, format_exact, parse_money
from store import display
from store.db import StoreError
from store.invoices import InvoiceStore, InvoiceStoreError, claim_amount, verdict
from store.invoices import needs_reason as store_needs_reason
from tui.context import ActionError, ConsoleContext
from tui.data import ComponentReader
from tui.table import Column, LocalTable, Money, Row, screen_keys, table_commands

STATE_STYLE = {"invalid": "bold red", "in_dispute": "bold magenta", "approved": "green", "allocated": "green",
               "exported": "dim", "validated": "", "received": ""}
RECON_LABELS = {"exact": "exact", "near": "near (within tolerance)", "cost_mismatch": "cost mismatch",
                "only_invoice": "only on the invoice", "only_cdr": "only in the CDRs"}


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
    text = inv["state"]
    if inv.get("kind") == "information":
        text += " (info: not payable)"
    elif inv.get("kind") == "credit_note" or inv["credit"]:
        text += " (credit)"
    if inv["validity"] == "invalid" and inv["state"] != "invalid":
        text += " (invalid)"
    if inv["duplicate_of"]:
        text += " (dup)"
    return text


def when_text(epoch: int, zone: str) -> str:
    return display.when(epoch, zone)


def _number(value: int | None) -> str:
    """A fixed-point quantity (not money): every decimal."""
    return "" if value is None else format_exact(value)


def needs_reason(detail: dict[str, Any]) -> str:
    """Why approving this invoice needs a reason (the workflow's one rule, store.invoices.needs_reason), or ""."""
    return store_needs_reason(detail["invoice"], detail["checks"], detail["disputes"])


def kind_text(inv: dict[str, Any]) -> str:
    """What the document is: an invoice, a credit note (and the invoice it credits), or information only."""
    kind = inv.get("kind") or ("credit_note" if inv["credit"] else "invoice")
    if kind == "credit_note":
        return "credit note" + (f" crediting invoice #{inv['credits']}" if inv.get("credits") else "")
    if kind == "information":
        return f"type {inv['type_code']}: information only, not a payable"
    return "invoice"


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
LIST_COLUMNS = (Column("id", "#"), Column("number", "number"), Column("period", "period"),
                Column("payable", "payable"), Column("state", "state"), Column("findings", "find."),
                Column("carrier", "carrier"), Column("account", "account"))


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
        Binding("enter", "open", "Open", show=False),
        # approve and dispute are named on the message line (and in the help, the palette): the footer fits 80
        # columns with the table's keys
        Binding("a", "act('approve')", "Approve", show=False),
        Binding("d", "act('dispute')", "Dispute", show=False),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("r", "reload", "Reload", show=False),
        Binding("escape", "leave_filter", "Back to the table", show=False),
        # the table's own keys (LocalTable), here too so that they work from the filter line and show in the help
        *screen_keys(clear="Clear the cell filter"),
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
        yield Static("Invoices", classes="title", id="invoices-title")
        yield Input(placeholder="/ filter: words in carrier, account, number, period, status or state",
                    id="invoices-filter", classes="line-input")
        ctx = self.app.ctx
        yield LocalTable(LIST_COLUMNS, name_for_export="invoices", workspace=lambda: ctx.workspace, clock=ctx.clock,
                         id="invoices")
        yield Static("", id="invoices-summary", classes="totals")
        yield Static("", id="invoices-message", classes="message")
        yield Footer()

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
            self._message("no invoices yet: import some with `anatole import invoice FILE...`")
        elif self.app.ctx.invoices is None:
            self._message("read-only: the actions need the workspace (open the console with `anatole ui`)")
        else:
            self._message(self.notice or "enter: charges, findings, reconciliation · a approve · d dispute")

    def _matches(self, row: dict[str, Any], words: list[str]) -> bool:
        text = " ".join(str(row[k] or "") for k in ("carrier", "carrier_name", "account", "number", "period_start",
                                                    "period_end", "validity", "state", "currency")).lower()
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
        self.query_one("#invoices-title", Static).update(f"Invoices · {event.table.summary()}"
                                                         if event.table.filters or event.table.sort else "Invoices")
        by_cur: dict[str, int] = {}
        for r in self.shown:
            by_cur[r["currency"]] = by_cur.get(r["currency"], 0) + (r["payable"] or 0)
        invalid = sum(1 for r in self.shown if r["validity"] == "invalid")
        disputed = sum(1 for r in self.shown if r["state"] == "in_dispute")
        findings = sum(r["findings"] for r in self.shown)
        of = f" of {len(self.rows)}" if len(self.shown) != len(self.rows) else ""
        self.query_one("#invoices-summary", Static).update(
            f"{len(self.shown)}{of} invoice(s) · payable "
            f"{display.totals(by_cur, empty='0')} · {invalid} invalid · "
            f"{disputed} in dispute · {findings} finding(s)")

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
            self._message("read-only: the actions need the workspace (open the console with `anatole ui`)",
                          error=True)
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
            self._message(message.error or f"invoice #{message.invoice_id} is no longer in the store", error=True)
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
            ("Invoices: approve the highlighted invoice…", "For payment, with a reason where needed (a)",
             lambda: self.action_act("approve")),
            ("Invoices: dispute the highlighted invoice…", "Reason, findings contested, amount claimed (d)",
             lambda: self.action_act("dispute")),
            ("Invoices: open the highlighted invoice", "Charges, findings, reconciliation, history (enter)",
             self.action_open),
        ]
        return out + table_commands(table, "Invoices", "invoice")


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
        Binding("escape", "app.pop_screen", "Back", key_display="esc"),
        Binding("a", "act('approve')", "Approve"),
        Binding("d", "act('dispute')", "Dispute"),
        Binding("c", "tab('charges')", "Charges", show=False),  # the tabs' titles show these keys
        Binding("f", "tab('checks')", "Checks and findings", show=False),
        Binding("m", "tab('recon')", "Reconciliation (matching)", show=False),
        Binding("h", "tab('history')", "History", show=False),
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
        yield Static(f"Invoice #{self.invoice_id}", classes="title", id="inv-title")
        yield Static("loading…", id="inv-summary")
        with TabbedContent(initial="charges", id="inv-tabs"):
            with TabPane("Charges (c)", id="charges"):
                yield DataTable(id="inv-charges", cursor_type="row", zebra_stripes=True)
            with TabPane("Checks and findings (f)", id="checks"):
                yield DataTable(id="inv-checks", cursor_type="row", zebra_stripes=True)
                yield Static("", id="inv-check-text", classes="message")
            with TabPane("Reconciliation (m)", id="recon"), VerticalScroll(id="inv-recon-box"):
                yield Static("", id="inv-recon")
                yield OptionList(id="inv-recon-scope", classes="hidden")
            with TabPane("History (h)", id="history"), VerticalScroll(id="inv-history-box"):
                yield Static("", id="inv-history")
        yield Static("", id="inv-message", classes="message")
        yield Footer()

    def on_mount(self) -> None:
        if self.reader is None:
            self.reader = InvoiceReader(self.app.ctx.db_path)
        self.query_one("#inv-charges", DataTable).add_columns("#", "category", "service", "amount", "tax",
                                                              "description", "qty", "price", "period")
        self.query_one("#inv-checks", DataTable).add_columns("id", "result", "rule", "expected", "actual",
                                                             "at stake", "line", "source", "dispute")
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
                Text(message.error or f"invoice #{self.invoice_id} is no longer in the store", style="bold red"))
            return
        self.detail = message.detail
        self._show(message.detail)
        if self.recon_state == "none":
            self._start_reconcile(message.detail)

    def _show(self, d: dict[str, Any]) -> None:
        inv = d["invoice"]
        ctx: ConsoleContext = self.app.ctx
        kind = kind_text(inv)
        self.query_one("#inv-title", Static).update(
            f"{kind[0].upper() + kind[1:]} {inv['number']} (#{inv['id']}) · {inv['carrier_name'] or inv['carrier']} "
            f"· account {inv['account']}")
        text = Text()
        profile = inv["profile"] or ""
        if profile in inv["format"] or len(profile) > 30:  # (a Peppol customization URN says nothing here)
            profile = ""
        head = [f"{inv['format']}{' / ' + profile if profile else ''}", ctx.shown(Path(inv["file"]))]
        if inv["issue_date"]:
            head.append(f"issued {inv['issue_date']}")
        if inv["period_start"] or inv["period_end"]:
            head.append(f"period {period_text(inv['period_start'], inv['period_end'])}")
        text.append(" · ".join(head) + "\n")
        totals = [(k, inv[k]) for k in ("lines", "allowances", "charges", "tax", "payable") if inv[k] is not None]
        cur = inv["currency"]
        text.append(" · ".join(f"{k} {exact(v, cur)}" for k, v in totals) + f" {cur} (exact)\n", style="bold")
        failed = [c for c in d["checks"] if not c["ok"]]
        # the validation verdict, worded as in the history; the audit's findings are counted apart
        validation = [(c["rule"], bool(c["ok"]), c["severity"]) for c in d["checks"] if c["source"] == "validate"]
        said = verdict(inv["validity"], validation, len(inv["not_checked"] or []))
        head_word, _, rest = said.partition(":")
        text.append(head_word, style="bold red" if inv["validity"] == "invalid" else "green")
        text.append(":" + rest)
        others = [c for c in failed if c["source"] != "validate"]
        if others:
            errors = sum(1 for c in others if c["severity"] == "error")
            text.append(f" · audit: {len(others)} finding(s), {errors} error(s), "
                        f"{money(claim_amount(others), cur, exact=True)} at stake", style="bold" if errors else "")
        text.append(" · state ")
        text.append(inv["state"], style=STATE_STYLE.get(inv["state"], "") or "bold")
        text.append(f" ({inv['lifecycle_code'] or '-'})")
        if inv["duplicate_of"]:
            text.append(f" · duplicate of invoice #{inv['duplicate_of']}", style="bold yellow")
        last = []
        if d["calls"]:
            last.append(f"call detail: {d['calls']} call(s), {money(d['calls_amount'], cur, exact=True)}")
        if d["taxes"]:
            last.append("VAT " + "; ".join(f"{t['category'] or '?'} {t['rate'] or '?'}%: base "
                                           f"{exact(t['base'], cur)} tax {money(t['amount'], cur, exact=True)}"
                                           for t in d["taxes"]))
        if last:
            text.append("\n" + " · ".join(last))
        self.query_one("#inv-summary", Static).update(text)

        charges = self.query_one("#inv-charges", DataTable)
        charges.clear(columns=True)  # the amount columns name the invoice's currency (amounts exact: see above)
        charges.add_columns("#", "category", "service", f"amount {cur}", f"tax {cur}", "description", "qty",
                            f"price {cur}", "period")
        for c in d["charges"]:
            info = c["status_code"] in ("GROUP", "INFORMATION")
            charges.add_row(str(c["seq"]), c["category"], c["service"] or "(account)",
                            Text(exact(c["amount"], cur), justify="right", style="dim" if info else ""),
                            Text(exact(c["tax"], cur), justify="right"), clip(c["description"] or "", 32),
                            _number(c["quantity"]), exact(c["unit_price"], cur),
                            period_text(c["period_start"], c["period_end"]), key=str(c["seq"]))

        checks = self.query_one("#inv-checks", DataTable)
        checks.clear(columns=True)
        checks.add_columns("id", "result", "rule", "expected", "actual", f"at stake {cur}", "line", "source",
                           "dispute")
        ordered = failed + [c for c in d["checks"] if c["ok"]]  # the findings first
        for c in ordered:
            result = Text("ok", style="green") if c["ok"] else \
                Text("FAIL", style="bold red") if c["severity"] == "error" else Text("warn", style="bold yellow")
            checks.add_row(str(c["id"]), result, c["rule"], c["expected"] or "", c["actual"] or "",
                           exact(c["at_stake"], cur) if c["at_stake"] else "", (c["line"] or "")[:16], c["source"],
                           f"#{c['dispute']}" if c["dispute"] else "", key=str(c["id"]))
        d["ordered_checks"] = ordered
        if ordered:
            self._show_check(ordered[0])
        else:
            self.query_one("#inv-check-text", Static).update("no checks stored")

        zone = ctx.zone()
        history = Text()
        for t in d["transitions"]:
            history.append(f"{when_text(t['at'], zone)}  {t['from_state'] or '-'} → {t['to_state']} "
                           f"({t['lifecycle_code'] or '-'}) by {t['actor']}: {t['reason']}\n")
        for disp in d["disputes"]:
            history.append(f"\ndispute #{disp['id']} ({disp['status']}) opened {when_text(disp['opened_at'], zone)} "
                           f"by {disp['actor']}: {disp['reason']}\n", style="bold")
            history.append(f"  claimed {money(disp['amount_claimed'], disp['currency'], exact=True)} · findings "
                           f"{', '.join(str(f) for f in disp['findings']) or 'none'}")
            if disp["credit_invoice_id"]:
                history.append(f" · credited {money(disp['credited_amount'], disp['currency'], exact=True)} "
                               f"by invoice #{disp['credit_invoice_id']}")
            history.append("\n")
        self.query_one("#inv-history", Static).update(history or Text("no history"))

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
            recon.update("no call detail on this invoice: nothing to reconcile")
            return
        if self.app.ctx.invoices is None:
            self.recon_state = "unavailable"
            recon.update("the reconciliation needs the workspace (open the console with `anatole ui`), or run "
                         f"`anatole reconcile {self.invoice_id}`")
            return
        self.recon_state = "running"
        recon.update(f"reconciling {d['calls']} billed call(s) with the rated calls…")
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
            recon.update(Text(f"cannot reconcile: {message.error}", style="bold red"))
            return
        if message.summary is not None and "choose" in message.summary:
            self._ask_scope(message.summary["choose"])
            return
        self.recon_state = "done"
        self.recon = message.summary
        if message.summary is None:
            recon.update("no call detail on this invoice: nothing to reconcile")
            return
        text = recon_text(message.summary, self.invoice_id)
        if self.scope_label:
            text = Text(f"calls of {self.scope_label}\n", style="bold") + text
        recon.update(text)

    def _ask_scope(self, scopes: list[dict[str, Any]]) -> None:
        """The invoice's period spans calls of several sites or trunks: ask which one the carrier bills."""
        self.recon_state = "choosing"
        inv = (self.detail or {}).get("invoice") or {}
        carrier = inv.get("carrier_name") or inv.get("carrier") or "the carrier"
        self.query_one("#inv-recon", Static).update(Text(
            f"The invoice's period has rated calls on several sites or trunks: which one does {carrier} bill? "
            "(enter chooses)", style="bold"))
        by_site: dict[str | None, list[dict[str, Any]]] = {}
        for s in scopes:
            by_site.setdefault(s["site"], []).append(s)
        self.scopes, options = [], []
        for site, rows in by_site.items():
            if site is None:
                continue  # calls with no site: only in "all"
            trunks = [r for r in rows if r["trunk"]]
            total = sum(r["calls"] for r in rows)
            label = f"site {site}" + (f", trunk {trunks[0]['trunk']}" if len(rows) == 1 and trunks else "")
            options.append(f"{label}{', all its trunks' if len(rows) > 1 else ''} ({total} calls)")
            self.scopes.append((site, (), False))
            if len(rows) > 1:
                for r in trunks:
                    options.append(f"site {site}, trunk {r['trunk']} ({r['calls']} calls)")
                    self.scopes.append((site, (r["trunk"],), False))
        options.append(f"all sites and trunks ({sum(s['calls'] for s in scopes)} calls)")
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
        self.scope_label = (f"site {site}" if site else "all sites") + (f", trunk {', '.join(trunks)}" if trunks
                                                                         else "")
        event.option_list.add_class("hidden")
        self.recon_state = "running"
        self.query_one("#inv-recon", Static).update(f"reconciling with the calls of {self.scope_label}…")
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
            self._message("read-only: the actions need the workspace (open the console with `anatole ui`)",
                          error=True)
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
    text.append(f"{s['invoice_lines']} billed call(s) against {s['calls']} rated call(s), {s['matched']} matched\n",
                style="bold")
    first, last = (s["period"][k][:16].replace("T", " ") for k in ("from", "to"))
    text.append(f"period {first} to {last} UTC\ntolerances: start ±{tol['start_s']} s, duration "
                f"±{tol['duration_s']} s, cost {tol['cost']}{cur}\n\n")
    text.append(f"{'class':<26}{'lines':>6}{'invoice' + cur:>12}{'rated' + cur:>12}{'difference':>12}\n",
                style="bold")
    for name, t in s["classes"].items():
        style = "" if name == "exact" or not t["count"] else "yellow"
        text.append(f"{RECON_LABELS.get(name, name):<26}{t['count']:>6}{shown(t['invoice'], with_code=False):>12}"
                    f"{shown(t['cdr'], with_code=False):>12}{shown(t['difference'], with_code=False):>12}\n",
                    style=style)
    text.append("\nmoney at stake: ")
    stake = shown(s["money_at_stake"])
    text.append(stake, style="bold" if stake == shown("0") else "bold red")
    text.append(f" (overcharges + calls the PBX never made) · calls not billed: {shown(s['unbilled_calls_cost'])}\n")
    if s.get("median_start_offset_s"):
        text.append(f"the carrier's clock is {s['median_start_offset_s']:+d} s from the PBX's (median)\n")
    text.append(f"line by line: `anatole reconcile {invoice_id}`", style="dim")
    return text


# --- the dialogs -------------------------------------------------------------------------------------------------


class ApproveDialog(ModalScreen[str | None]):
    """Approve for payment: Enter confirms (with a reason where the workflow needs one), Escape cancels. A refusal
    (wrong state, missing reason) is shown here and the dialog stays open."""

    CSS_PATH = "invoices.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, detail: dict[str, Any]) -> None:
        super().__init__()
        self.detail = detail
        self.busy = False

    def compose(self) -> ComposeResult:
        inv = self.detail["invoice"]
        why = needs_reason(self.detail)
        with Vertical(classes="dialog", id="approve-box"):
            yield Static(f"Approve {inv['number']} (#{inv['id']}) of {inv['carrier_name'] or inv['carrier']} for "
                         f"payment: {money(inv['payable'], inv['currency'], exact=True)}", classes="dialog-title")
            if inv.get("kind") == "information":
                yield Static(f"This document is {kind_text(inv)}: it cannot be approved for payment.",
                             id="approve-hint")
            else:
                yield Static(f"A reason is required: {why}." if why else "Reason (optional):", id="approve-hint")
            yield Input(placeholder="reason", id="approve-reason")
            yield Static(f"enter: approve as {self.app.ctx.user} · escape: cancel", id="approve-message",
                         classes="message")

    def on_mount(self) -> None:
        self.query_one("#approve-reason", Input).focus()

    @on(Input.Submitted, "#approve-reason")
    def submit(self, event: Input.Submitted) -> None:
        if self.busy:
            return
        reason = event.value.strip()
        if needs_reason(self.detail) and not reason:
            _error(self.query_one("#approve-message", Static), "give a reason: "
                   f"{needs_reason(self.detail)}")
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
        self.post_message(ActionDone(True, f"invoice #{invoice_id} approved by {ctx.user}"))

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
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, detail: dict[str, Any]) -> None:
        super().__init__()
        self.detail = detail
        self.findings = [c for c in detail["checks"] if not c["ok"]]
        self.busy = False

    def compose(self) -> ComposeResult:
        inv = self.detail["invoice"]
        cur = inv["currency"]
        with Vertical(classes="dialog", id="dispute-box"):
            yield Static(f"Dispute {inv['number']} (#{inv['id']}) with {inv['carrier_name'] or inv['carrier']} "
                         f"(payable {money(inv['payable'], inv['currency'], exact=True)})", classes="dialog-title")
            yield Input(placeholder="reason (required), for the carrier", id="dispute-reason")
            if self.findings:
                yield Static("Findings contested (space: toggle):")
                yield SelectionList[int](
                    *[(f"{c['id']:>4} {c['rule']:<18} "
                       f"{money(c['at_stake'], cur, exact=True) if c['at_stake'] else '':>14}  "
                       f"{(c['line'] or '')[:16]}", c["id"], True) for c in self.findings], id="dispute-findings")
            else:
                yield Static("This invoice has no findings: the dispute contests none.")
            yield Input(id="dispute-amount", restrict=r"[0-9.]*")
            yield Static(f"enter: open the dispute as {self.app.ctx.user} · tab: next field · escape: cancel",
                         id="dispute-message", classes="message")

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
            f"amount claimed (empty: {money(total, self.detail['invoice']['currency'], exact=True)}, the findings' " \
            "money at stake)"

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
            _error(message, "a dispute needs a reason")
            self.query_one("#dispute-reason", Input).focus()
            return
        findings = self.chosen()
        if self.findings and not findings:
            _error(message, "choose at least one finding to contest (space toggles)")
            return
        text = self.query_one("#dispute-amount", Input).value.strip()
        amount = None
        if text:
            try:
                amount = parse_money(text)
            except MoneyError as exc:
                _error(message, f"amount: {exc}")
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
        self.post_message(ActionDone(True, f"dispute #{did} opened on invoice #{invoice_id} by {ctx.user}"))

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
