"""Benchmark runs in the store (`anatole bench`): every figure of a run and its capacity plan, as JSON, so that runs
can be compared over time and across machines (`anatole bench compare`). Component "bench" with its own
migrations; it shares the calls store's connection."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from store import schema

COMPONENT = "bench"
MIGRATIONS: list[str] = [
    # 1: one row per run; figures and plan are the JSON objects `anatole bench --json` prints
    """
    CREATE TABLE bench_runs (
        id INTEGER PRIMARY KEY, at INTEGER NOT NULL, host TEXT NOT NULL, size TEXT NOT NULL,
        cores INTEGER, cpu TEXT, seconds REAL NOT NULL, figures TEXT NOT NULL, plan TEXT
    );
    CREATE INDEX bench_runs_at ON bench_runs (at, id);
    """,
]


class BenchStoreError(Exception):
    pass


class BenchStore:
    """The benchmark runs of one open database."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        try:
            schema.migrate(conn, COMPONENT, MIGRATIONS)
        except schema.SchemaError as exc:
            raise BenchStoreError(str(exc)) from None

    def save(self, *, at: int, host: str, size: str, cores: int | None, cpu: str | None, seconds: float,
             figures: dict[str, Any], plan: dict[str, Any] | None) -> int:
        """Store one run; returns its id."""
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO bench_runs (at, host, size, cores, cpu, seconds, figures, plan) VALUES (?, ?, ?, ?, ?, ?, "
                "?, ?)", (at, host, size, cores, cpu, seconds, json.dumps(figures), json.dumps(plan)))
        return int(cur.lastrowid)

    def runs(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The runs, newest first, without their figures."""
        sql = "SELECT id, at, host, size, cores, cpu, seconds FROM bench_runs ORDER BY at DESC, id DESC"
        rows = self.conn.execute(sql + (" LIMIT ?" if limit else ""), (limit,) if limit else ()).fetchall()
        return [dict(zip(("id", "at", "host", "size", "cores", "cpu", "seconds"), r)) for r in rows]

    def run(self, run_id: int) -> dict[str, Any] | None:
        """One run with its figures and plan, or None."""
        row = self.conn.execute("SELECT id, at, host, size, cores, cpu, seconds, figures, plan FROM bench_runs "
                                "WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        run = dict(zip(("id", "at", "host", "size", "cores", "cpu", "seconds"), row[:7]))
        run["figures"] = json.loads(row[7])
        run["plan"] = json.loads(row[8]) if row[8] else None
        return run
