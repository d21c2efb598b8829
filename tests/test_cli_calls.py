"""`anatole calls` as text: amounts shown through store.display (currency decimals, grouping, currency attached,
totals per currency), while `--json` keeps the exact amounts."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from test_import_cdr import make_workspace, run

from anatole.config import open_workspace


def _imported(tmp_path: Path) -> Path:
    ws = make_workspace(tmp_path)
    code, out = run(ws, "import", "cdr", str(ws / "smdr.txt"))
    assert code == 0, out
    return ws


def test_text_listing_rounds_to_currency_decimals_and_json_stays_exact(tmp_path: Path) -> None:
    ws = _imported(tmp_path)
    code, out = run(ws, "calls")
    assert code == 0, out
    assert "0.05 EUR" in out and "0.13 EUR" in out  # 0.0507 and 0.1300 EUR: two decimals, half-even
    assert "0.0507" not in out
    assert out.rstrip().endswith("6 call(s), total 0.18 EUR")  # 0.1807 summed exactly, rounded once when shown
    code, out = run(ws, "calls", "--json")
    costs = [json.loads(line)["cost"] for line in out.splitlines()]
    assert "0.0507" in costs and "0.1300" in costs  # exact, unchanged


def test_text_listing_groups_and_never_adds_currencies(tmp_path: Path) -> None:
    ws = _imported(tmp_path)
    conn = sqlite3.connect(open_workspace(ws).db_path)
    ids = [r[0] for r in conn.execute("SELECT rowid FROM calls WHERE cost IS NOT NULL ORDER BY rowid")]
    conn.execute("UPDATE calls SET cost = ?, currency = 'JPY' WHERE rowid = ?", (123_456_700_000_000, ids[0]))
    conn.execute("UPDATE calls SET cost = ? WHERE rowid = ?", (123_456_789, ids[1]))
    conn.commit()
    conn.close()
    code, out = run(ws, "calls")
    assert code == 0, out
    assert "1,234,567 JPY" in out and "1.23 EUR" in out
    assert "total 1.23 EUR, 1,234,567 JPY" in out  # one figure per currency, never one sum
