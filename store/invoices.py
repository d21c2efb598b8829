"""Carrier invoices in the store: files (original bytes + hash), invoices, charges, VAT breakdown, call detail,
checks/findings, workflow transitions and disputes. Component "invoices" with its own migrations.

Money columns are INTEGER units of 10**-8; call starts are UTC epoch seconds. Idempotence: a file is known by its
SHA-256, so the same file twice adds nothing; the same invoice number from the same carrier and account in another
file is stored but flagged (`duplicate_of`). Nothing is half-stored: one file (all its invoices, lines, calls and
checks) is written in one transaction. This module takes plain rows: it knows nothing of the parsers (store sits
below ingest and tem).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from i18n import _
from store import schema
from store.db import begin_immediate

MIGRATIONS: list[str] = [
    # 1: invoices and everything hanging off them
    """
    CREATE TABLE invoice_files (
        id INTEGER PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE, file TEXT NOT NULL, size INTEGER NOT NULL,
        format TEXT NOT NULL, content BLOB NOT NULL, imported_at INTEGER NOT NULL
    );
    CREATE TABLE invoices (
        id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL REFERENCES invoice_files (id), seq INTEGER NOT NULL,
        format TEXT NOT NULL, profile TEXT, carrier TEXT NOT NULL, carrier_name TEXT, account TEXT NOT NULL,
        number TEXT NOT NULL, type_code TEXT, credit INTEGER NOT NULL DEFAULT 0,
        issue_date TEXT, due_date TEXT, period_start TEXT, period_end TEXT, currency TEXT NOT NULL,
        lines INTEGER, allowances INTEGER, charges INTEGER, tax_exclusive INTEGER, tax INTEGER, tax_inclusive INTEGER,
        prepaid INTEGER, rounding INTEGER, payable INTEGER, previous_balance INTEGER, payments INTEGER,
        adjustments INTEGER, current_charges INTEGER, amount_due INTEGER,
        validity TEXT NOT NULL, state TEXT NOT NULL, lifecycle_code TEXT, duplicate_of INTEGER,
        refs TEXT NOT NULL DEFAULT '[]', notes TEXT NOT NULL DEFAULT '[]', not_checked TEXT NOT NULL DEFAULT '[]',
        imported_at INTEGER NOT NULL,
        UNIQUE (file_id, seq)
    );
    CREATE INDEX invoices_identity ON invoices (carrier, account, number);
    CREATE INDEX invoices_account_period ON invoices (carrier, account, period_start);
    CREATE TABLE invoice_charges (
        invoice_id INTEGER NOT NULL REFERENCES invoices (id), seq INTEGER NOT NULL, line_id TEXT, level TEXT NOT NULL,
        category TEXT NOT NULL, service TEXT, service_kind TEXT, sub_account TEXT, description TEXT,
        period_start TEXT, period_end TEXT, quantity INTEGER, base_quantity INTEGER, unit_price INTEGER,
        allowances INTEGER NOT NULL DEFAULT 0, charges INTEGER NOT NULL DEFAULT 0, amount INTEGER NOT NULL,
        tax_category TEXT, tax_rate TEXT, tax INTEGER, status_code TEXT,
        PRIMARY KEY (invoice_id, seq)
    );
    CREATE INDEX invoice_charges_service ON invoice_charges (service);
    CREATE TABLE invoice_taxes (
        invoice_id INTEGER NOT NULL REFERENCES invoices (id), seq INTEGER NOT NULL, category TEXT, rate TEXT,
        base INTEGER NOT NULL, amount INTEGER NOT NULL, PRIMARY KEY (invoice_id, seq)
    );
    CREATE TABLE invoice_calls (
        invoice_id INTEGER NOT NULL REFERENCES invoices (id), seq INTEGER NOT NULL, service TEXT NOT NULL,
        start INTEGER NOT NULL, duration INTEGER NOT NULL, dialled TEXT NOT NULL, amount INTEGER NOT NULL,
        description TEXT, PRIMARY KEY (invoice_id, seq)
    );
    CREATE INDEX invoice_calls_service_start ON invoice_calls (service, start);
    CREATE TABLE invoice_checks (
        id INTEGER PRIMARY KEY, invoice_id INTEGER NOT NULL REFERENCES invoices (id), source TEXT NOT NULL,
        rule TEXT NOT NULL, ok INTEGER NOT NULL, severity TEXT NOT NULL, expected TEXT, actual TEXT, message TEXT,
        line TEXT, at_stake INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL
    );
    CREATE INDEX invoice_checks_invoice ON invoice_checks (invoice_id);
    CREATE TABLE invoice_transitions (
        id INTEGER PRIMARY KEY, invoice_id INTEGER NOT NULL REFERENCES invoices (id), from_state TEXT,
        to_state TEXT NOT NULL, lifecycle_code TEXT, actor TEXT NOT NULL, at INTEGER NOT NULL, reason TEXT NOT NULL
    );
    CREATE INDEX invoice_transitions_invoice ON invoice_transitions (invoice_id);
    CREATE TABLE invoice_disputes (
        id INTEGER PRIMARY KEY, invoice_id INTEGER NOT NULL REFERENCES invoices (id), opened_at INTEGER NOT NULL,
        actor TEXT NOT NULL, reason TEXT NOT NULL, amount_claimed INTEGER NOT NULL, currency TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'open', credit_invoice_id INTEGER REFERENCES invoices (id),
        credited_amount INTEGER
    );
    CREATE TABLE invoice_dispute_findings (
        dispute_id INTEGER NOT NULL REFERENCES invoice_disputes (id),
        check_id INTEGER NOT NULL REFERENCES invoice_checks (id), PRIMARY KEY (dispute_id, check_id)
    );
    """,
    # 2: document kinds (invoice, credit_note, information: never paid), the invoice a credit note credits, and
    # the unit code of each charge's quantity
    """
    ALTER TABLE invoices ADD COLUMN kind TEXT NOT NULL DEFAULT 'invoice';
    ALTER TABLE invoices ADD COLUMN credits INTEGER;
    UPDATE invoices SET kind = 'credit_note' WHERE credit = 1;
    UPDATE invoices SET kind = 'information' WHERE credit = 0 AND type_code IN ('751', '325', '130');
    ALTER TABLE invoice_charges ADD COLUMN unit TEXT;
    """,
]
COMPONENT = "invoices"
INVOICE_COLUMNS = (
    "file_id", "seq", "format", "profile", "carrier", "carrier_name", "account", "number", "type_code", "credit",
    "issue_date", "due_date", "period_start", "period_end", "currency", "lines", "allowances", "charges",
    "tax_exclusive", "tax", "tax_inclusive", "prepaid", "rounding", "payable", "previous_balance", "payments",
    "adjustments", "current_charges", "amount_due", "validity", "state", "lifecycle_code", "duplicate_of", "refs",
    "notes", "not_checked", "imported_at", "kind", "credits")
CHARGE_COLUMNS = (
    "invoice_id", "seq", "line_id", "level", "category", "service", "service_kind", "sub_account", "description",
    "period_start", "period_end", "quantity", "base_quantity", "unit_price", "allowances", "charges", "amount",
    "tax_category", "tax_rate", "tax", "status_code", "unit")
TAX_COLUMNS = ("invoice_id", "seq", "category", "rate", "base", "amount")
CALL_COLUMNS = ("invoice_id", "seq", "service", "start", "duration", "dialled", "amount", "description")
CHECK_COLUMNS = ("invoice_id", "source", "rule", "ok", "severity", "expected", "actual", "message", "line",
                 "at_stake", "created_at")
TRANSITION_COLUMNS = ("invoice_id", "from_state", "to_state", "lifecycle_code", "actor", "at", "reason")


class InvoiceStoreError(Exception):
    pass


class StaleState(InvoiceStoreError):
    """The invoice changed state since it was read (another user acted first)."""


def _insert(conn: sqlite3.Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    if rows:
        conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows)


def _dicts(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur]


class InvoiceStore:
    """The invoices part of one open database (shares the calls store's connection)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        try:
            schema.migrate(conn, COMPONENT, MIGRATIONS)
        except schema.SchemaError as exc:
            raise InvoiceStoreError(str(exc)) from None

    # --- import ---------------------------------------------------------------------------------------------

    def file_invoices(self, sha256: str) -> list[dict[str, Any]]:
        """The invoices already stored from the file with this hash ([] if the file is new)."""
        return _dicts(self.conn.execute(
            "SELECT i.* FROM invoices i JOIN invoice_files f ON f.id = i.file_id WHERE f.sha256 = ? ORDER BY i.seq",
            (sha256,)))

    def same_invoice(self, carrier: str, account: str, number: str, kind: str = "invoice") -> int | None:
        """The first stored document of this kind with this carrier + account + number (a duplicate), if any. Kinds
        never match each other: a credit note is not a duplicate of the invoice it credits, even with its number."""
        row = self.conn.execute("SELECT MIN(id) FROM invoices WHERE carrier = ? AND account = ? AND number = ? "
                                "AND kind = ?", (carrier, account, number, kind)).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def add_file(self, file: dict[str, Any], invoices: Sequence[dict[str, Any]]) -> list[int] | None:
        """Store one file and all of its invoices in one transaction. Each invoice dict holds the INVOICE_COLUMNS
        (but file_id) plus row lists, each row without its invoice_id: `charges_rows` (CHARGE_COLUMNS),
        `taxes_rows`, `calls_rows`, `checks_rows` and `transitions_rows`. Returns the new invoice ids, or None
        when a file with this hash is already stored (nothing is written)."""
        conn = self.conn
        try:
            begin_immediate(conn, what="invoice import")  # waits for the daemon's writer
            if conn.execute("SELECT 1 FROM invoice_files WHERE sha256 = ?", (file["sha256"],)).fetchone():
                conn.execute("ROLLBACK")
                return None
            cur = conn.execute(
                "INSERT INTO invoice_files (sha256, file, size, format, content, imported_at) VALUES (?,?,?,?,?,?)",
                (file["sha256"], file["file"], file["size"], file["format"], file["content"], file["imported_at"]))
            file_id = int(cur.lastrowid)
            ids = []
            for inv in invoices:
                row = dict(inv, file_id=file_id)
                row.setdefault("kind", "invoice")
                if row.get("duplicate_of") is None:
                    row["duplicate_of"] = self.same_invoice(row["carrier"], row["account"], row["number"], row["kind"])
                if row["kind"] == "credit_note" and row.get("credits") is None:
                    refs = json.loads(row["refs"]) if isinstance(row["refs"], str) else list(row["refs"])
                    row["credits"] = next((i for i in (self.same_invoice(row["carrier"], row["account"], r)
                                                       for r in refs) if i is not None), None)
                row.setdefault("credits", None)
                marks = ", ".join("?" * len(INVOICE_COLUMNS))
                cur = conn.execute(f"INSERT INTO invoices ({', '.join(INVOICE_COLUMNS)}) VALUES ({marks})",
                                   [row[c] for c in INVOICE_COLUMNS])
                iid = int(cur.lastrowid)
                ids.append(iid)
                _insert(conn, "invoice_charges", CHARGE_COLUMNS, [(iid, *r) for r in inv["charges_rows"]])
                _insert(conn, "invoice_taxes", TAX_COLUMNS, [(iid, *r) for r in inv["taxes_rows"]])
                _insert(conn, "invoice_calls", CALL_COLUMNS, [(iid, *r) for r in inv["calls_rows"]])
                checks = list(inv["checks_rows"])
                if row["duplicate_of"] is not None:
                    checks.append(("import", "DUPLICATE-INVOICE", 0, "warning", None, None,
                                   f"invoice {row['number']} of account {row['account']} from {row['carrier']} is "
                                   f"already stored (invoice #{row['duplicate_of']}) from another file", "",
                                   row["payable"] or 0, row["imported_at"]))
                if row["kind"] == "credit_note":
                    refs = json.loads(row["refs"]) if isinstance(row["refs"], str) else list(row["refs"])
                    if row["credits"] is not None:
                        checks.append(("import", "CREDITED-INVOICE", 1, "warning", None, str(row["credits"]),
                                       f"credit note {row['number']} credits invoice #{row['credits']} "
                                       f"({', '.join(refs)})", "", 0, row["imported_at"]))
                    elif refs:
                        checks.append(("import", "CREDITED-INVOICE", 0, "warning", ", ".join(refs), None,
                                       f"credit note {row['number']} credits {', '.join(refs)}, which is not stored "
                                       f"for account {row['account']} of {row['carrier']}", "", 0,
                                       row["imported_at"]))
                _insert(conn, "invoice_checks", CHECK_COLUMNS, [(iid, *r) for r in checks])
                _insert(conn, "invoice_transitions", TRANSITION_COLUMNS, [(iid, *r) for r in inv["transitions_rows"]])
            conn.execute("COMMIT")
            return ids
        except sqlite3.IntegrityError:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if conn.execute("SELECT 1 FROM invoice_files WHERE sha256 = ?", (file["sha256"],)).fetchone():
                return None  # stored by a concurrent import of the same file
            raise
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # --- reading ------------------------------------------------------------------------------------------

    def invoices(self, *, state: str | None = None, carrier: str | None = None, account: str | None = None,
                 limit: int | None = None) -> list[dict[str, Any]]:
        clauses, args = [], []
        for col, value in (("state", state), ("carrier", carrier), ("account", account)):
            if value is not None:
                clauses.append(f"{col} = ?")
                args.append(value)
        sql = "SELECT i.*, f.file, f.sha256 FROM invoices i JOIN invoice_files f ON f.id = i.file_id" + \
            (" WHERE " + " AND ".join(clauses) if clauses else "") + " ORDER BY i.id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [_decode(r) for r in _dicts(self.conn.execute(sql, args))]

    def invoice(self, invoice_id: int) -> dict[str, Any] | None:
        rows = _dicts(self.conn.execute(
            "SELECT i.*, f.file, f.sha256 FROM invoices i JOIN invoice_files f ON f.id = i.file_id WHERE i.id = ?",
            (invoice_id,)))
        return _decode(rows[0]) if rows else None

    def charges(self, invoice_id: int) -> list[dict[str, Any]]:
        return _dicts(self.conn.execute("SELECT * FROM invoice_charges WHERE invoice_id = ? ORDER BY seq",
                                        (invoice_id,)))

    def taxes(self, invoice_id: int) -> list[dict[str, Any]]:
        return _dicts(self.conn.execute("SELECT * FROM invoice_taxes WHERE invoice_id = ? ORDER BY seq",
                                        (invoice_id,)))

    def checks(self, invoice_id: int) -> list[dict[str, Any]]:
        return _dicts(self.conn.execute("SELECT * FROM invoice_checks WHERE invoice_id = ? ORDER BY id",
                                        (invoice_id,)))

    def transitions(self, invoice_id: int) -> list[dict[str, Any]]:
        return _dicts(self.conn.execute("SELECT * FROM invoice_transitions WHERE invoice_id = ? ORDER BY id",
                                        (invoice_id,)))

    def disputes(self, invoice_id: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM invoice_disputes" + (" WHERE invoice_id = ?" if invoice_id is not None else "") + \
            " ORDER BY id"
        out = _dicts(self.conn.execute(sql, (invoice_id,) if invoice_id is not None else ()))
        for d in out:
            d["findings"] = [r[0] for r in self.conn.execute(
                "SELECT check_id FROM invoice_dispute_findings WHERE dispute_id = ? ORDER BY check_id", (d["id"],))]
        return out

    def content(self, invoice_id: int) -> bytes:
        row = self.conn.execute("SELECT f.content FROM invoice_files f JOIN invoices i ON i.file_id = f.id "
                                "WHERE i.id = ?", (invoice_id,)).fetchone()
        return bytes(row[0]) if row else b""

    def call_detail(self, invoice_id: int) -> dict[str, np.ndarray]:
        """The carrier's call detail of one invoice as columns, in (service, start) order, for reconciliation:
        service (str), start (int64 UTC epoch s), duration (int64 s), dialled (str), amount (int64, 10**-8 units)."""
        rows = self.conn.execute("SELECT service, start, duration, dialled, amount FROM invoice_calls "
                                 "WHERE invoice_id = ? ORDER BY service, start, seq", (invoice_id,)).fetchall()
        return {
            "service": np.array([r[0] for r in rows], dtype=object),
            "start": np.array([r[1] for r in rows], dtype=np.int64),
            "duration": np.array([r[2] for r in rows], dtype=np.int64),
            "dialled": np.array([r[3] for r in rows], dtype=object),
            "amount": np.array([r[4] for r in rows], dtype=np.int64),
        }

    def accounts_periods(self) -> list[dict[str, Any]]:
        """(carrier, account, period_start, period_end, id, number) of every invoice, for audit."""
        return _dicts(self.conn.execute(
            "SELECT id, carrier, account, number, period_start, period_end, issue_date, credit, duplicate_of, kind "
            "FROM invoices ORDER BY carrier, account, period_start, id"))

    def count(self, table: str) -> int:
        if table not in ("invoice_files", "invoices", "invoice_charges", "invoice_taxes", "invoice_calls",
                         "invoice_checks", "invoice_transitions", "invoice_disputes"):
            raise ValueError(table)
        return int(self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    # --- workflow -------------------------------------------------------------------------------------------

    def transition(self, invoice_id: int, from_state: str, to_state: str, code: str | None, actor: str,
                   reason: str, *, at: int | None = None) -> None:
        """Move an invoice from `from_state` to `to_state`, logging who, when and why; refuses if another user
        changed the state meanwhile."""
        with self.conn:
            self._transition(invoice_id, from_state, to_state, code, actor, reason, at or int(time.time()))

    def _transition(self, invoice_id: int, from_state: str, to_state: str, code: str | None, actor: str,
                    reason: str, at: int) -> None:
        cur = self.conn.execute(
            "UPDATE invoices SET state = ?, lifecycle_code = COALESCE(?, lifecycle_code) WHERE id = ? AND state = ?",
            (to_state, code, invoice_id, from_state))
        if cur.rowcount != 1:
            raise StaleState(_(
                "invoice #{invoice_id} is no longer {from_state}").format(
                invoice_id=invoice_id, from_state=repr(from_state)))
        _insert(self.conn, "invoice_transitions", TRANSITION_COLUMNS,
                [(invoice_id, from_state, to_state, code, actor, at, reason)])

    def open_dispute(self, invoice_id: int, from_state: str, code: str, actor: str, reason: str, amount: int,
                     currency: str, check_ids: Sequence[int], *, at: int | None = None) -> int:
        """Open a dispute on the findings `check_ids` claiming `amount`, and move the invoice to in_dispute."""
        at = at or int(time.time())
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO invoice_disputes (invoice_id, opened_at, actor, reason, amount_claimed, currency) "
                "VALUES (?, ?, ?, ?, ?, ?)", (invoice_id, at, actor, reason, amount, currency))
            did = int(cur.lastrowid)
            _insert(self.conn, "invoice_dispute_findings", ("dispute_id", "check_id"), [(did, c) for c in check_ids])
            self._transition(invoice_id, from_state, "in_dispute", code, actor, f"dispute #{did}: {reason}", at)
        return did

    def credit_dispute(self, dispute_id: int, credit_invoice_id: int, credited: int) -> None:
        """Link a received credit note to the dispute it answers."""
        with self.conn:
            self.conn.execute("UPDATE invoice_disputes SET status = 'credited', credit_invoice_id = ?, "
                              "credited_amount = ? WHERE id = ?", (credit_invoice_id, credited, dispute_id))

    def add_checks(self, invoice_id: int, rows: Sequence[Sequence[Any]], *, source: str) -> None:
        """Replace the findings of `source` (e.g. "audit") for one invoice (re-running an audit is idempotent);
        findings already contested by a dispute are kept."""
        with self.conn:
            self.conn.execute(
                "DELETE FROM invoice_checks WHERE invoice_id = ? AND source = ? AND id NOT IN "
                "(SELECT check_id FROM invoice_dispute_findings)", (invoice_id, source))
            kept = {(r[0], r[1]) for r in self.conn.execute(
                "SELECT rule, line FROM invoice_checks WHERE invoice_id = ? AND source = ?", (invoice_id, source))}
            _insert(self.conn, "invoice_checks", CHECK_COLUMNS,
                    [(invoice_id, source, *r) for r in rows if (r[0], r[6]) not in kept])


def verdict(validity: str, checks: Iterable[tuple[str, bool, str]], not_checked: int = 0) -> str:
    """The validation verdict in one sentence, written the same in the invoice's header and in its history:
    `checks` are the (rule, ok, severity) of its validation checks (not the audit's findings)."""
    checks = list(checks)
    errors = sorted({rule for rule, ok, sev in checks if not ok and sev == "error"})
    n_errors = sum(1 for _r, ok, sev in checks if not ok and sev == "error")
    warnings = sum(1 for _r, ok, sev in checks if not ok and sev != "error")
    passed = sum(1 for _r, ok, _s in checks if ok)
    extra = (_(", {count} warning(s)").format(count=warnings) if warnings else "") \
        + (_(", {count} not checked").format(count=not_checked) if not_checked else "")
    if validity == "invalid" or n_errors:
        shown = ", ".join(errors[:6]) + (", ..." if len(errors) > 6 else "")
        return _("invalid: {failed} of {total} checks failed ({rules}){extra}").format(
            failed=n_errors, total=len(checks), rules=shown, extra=extra)
    if checks:
        return _("valid: {passed} checks passed{extra}").format(passed=passed, extra=extra)
    return _("valid: no check applies{extra}").format(extra=extra)


def needs_reason(inv: dict[str, Any], checks: Sequence[dict[str, Any]], disputes: Sequence[dict[str, Any]]) -> str:
    """Why approving `inv` for payment needs a reason, in words ("" if it does not): it is invalid, duplicates
    another invoice, has open disputes, or has open findings (failed error checks, validation or audit). The one
    rule for the CLI (tem.workflow.approve) and the console's dialog."""
    if inv["state"] in ("approved", "allocated", "exported"):
        return ""  # already past approval: the workflow says why it cannot be approved again
    why = []
    if inv["state"] == "invalid":
        why.append(_("it is invalid"))
    if inv["duplicate_of"]:
        why.append(_("it duplicates invoice #{number}").format(number=inv["duplicate_of"]))
    opened = [d for d in disputes if d["status"] == "open"]
    if opened:
        why.append(_("{count} dispute(s) are open").format(count=len(opened)))
    findings = [c for c in checks if not c["ok"] and c["severity"] == "error"]
    if findings and inv["state"] != "invalid":
        rules = sorted({c["rule"] for c in findings})
        why.append(_("{count} finding(s) are open ({rules})").format(
            count=len(findings), rules=", ".join(rules[:5]) + (", ..." if len(rules) > 5 else "")))
    return "; ".join(why)


# findings that put the same money in question: the recurring charges of one service (billed twice, above the
# contract fee, billed while inactive, on an unknown line), and the document totals of one invoice (one wrong total
# fails several sums). Within a group the claim is the largest amount at stake, never their sum.
CHARGE_RULES = frozenset({"DUPLICATE-CHARGE", "CONTRACT-FEE", "LINE-INACTIVE", "LINE-UNKNOWN"})


def claim_amount(findings: Sequence[dict[str, Any]]) -> int:
    """The money a dispute claims for `findings` (failed checks, 10**-8 units): each overcharged amount once.
    DUPLICATE-CHARGE and CONTRACT-FEE on the same service's charge are one overcharge of 20.00, not 40.00."""
    groups: dict[tuple[str, str], int] = {}
    total = 0
    for f in findings:
        stake = int(f["at_stake"] or 0)
        if f["rule"] in CHARGE_RULES and "call(s)" not in (f["actual"] or ""):
            key = ("charges", f["line"] or "(account)")
        elif f["source"] == "validate":
            key = ("totals", "")
        else:
            total += stake
            continue
        groups[key] = max(groups.get(key, 0), stake)
    return total + sum(groups.values())


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("refs", "notes", "not_checked"):
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    return row


def open_invoices(conn: sqlite3.Connection) -> InvoiceStore:
    """The invoices store on an open connection (migrating the "invoices" component if needed)."""
    return InvoiceStore(conn)
