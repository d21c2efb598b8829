"""Schema versions per component. Each part of the product (calls, journal, invoices, inventory, hotel) owns its
tables and their ordered migrations in its own `store/` module, so parts evolve independently in one database."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from i18n import _


class SchemaError(Exception):
    pass


def migrate(conn: sqlite3.Connection, component: str, migrations: Sequence[str]) -> int:
    """Apply the migrations of `component` not yet applied, each in its own transaction; returns the version.
    A database newer than this program is refused rather than guessed at. Each migration takes the write lock
    first and reads the version again under it: two processes opening a new file at once (the daemon starting, a
    command run beside it) apply each migration once, the second waiting for the first (busy timeout) and then
    finding it done."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)")
    current = version(conn, component)
    latest = len(migrations)
    if current > latest:
        raise SchemaError(_(
            "the database's {component} schema is version {current}, newer than this program's {latest}: upgrade "
            "anatole").format(component=component, current=current, latest=latest))
    for number in range(current + 1, latest + 1):
        if conn.in_transaction:
            conn.commit()
        conn.execute("BEGIN IMMEDIATE")
        try:
            if version(conn, component) < number:  # not applied meanwhile by another process
                for statement in _statements(migrations[number - 1]):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_versions (component, version) VALUES (?, ?) "
                             "ON CONFLICT (component) DO UPDATE SET version = excluded.version", (component, number))
            conn.execute("COMMIT")
        except sqlite3.Error:
            if conn.in_transaction:
                conn.rollback()
            raise
    return latest


def _statements(script: str) -> list[str]:
    """The statements of a migration script, each complete (a trigger's body, a ';' in a literal or a comment
    stay inside theirs: sqlite3.complete_statement decides)."""
    out, pending = [], ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if _sql_text(pending):
                out.append(pending)
            pending = ""
    if _sql_text(pending):
        raise SchemaError(f"an incomplete statement ends a migration: {pending.strip()[:80]}")
    return out


def _sql_text(statement: str) -> bool:
    """Whether a piece holds more than whitespace, semicolons and comments."""
    lines = [line.split("--", 1)[0] for line in statement.splitlines()]
    return bool("".join(lines).strip(" \t\r\n;"))


def version(conn: sqlite3.Connection, component: str) -> int:
    try:
        row = conn.execute("SELECT version FROM schema_versions WHERE component = ?", (component,)).fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(row[0]) if row else 0


def migrate_as(conn: sqlite3.Connection, component: str, migrations: Sequence[str], error: type[Exception]) -> int:
    """migrate(), a SchemaError raised as the component's own `error` (what its callers catch and show)."""
    try:
        return migrate(conn, component, migrations)
    except SchemaError as exc:
        raise error(str(exc)) from None


def dicts(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    """A cursor's rows as dicts by column name (the component stores' readers)."""
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur]
