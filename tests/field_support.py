"""Helpers of the field-pattern tests (tests/test_field_*.py): a workspace with two sites whose hand-made tariffs
make every cost checkable by hand, and the same file imported through each path the product has (row parser,
columnar scanner, batch-rate), read back as one tuple per call.

Tariffs (every price per started minute, no connect fee, one band all week):
- field-usd (San Jose, USD): +1 0.06, +44 0.12
- field-gbp (London, GBP): +44 0.10, +447 0.30, +33 0.20
"""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pipeline.batchrate as batchrate
import pipeline.cdrimport as cdrimport
from anatole.config import open_workspace
from store import open_store

DATA = Path(__file__).parent / "data" / "cdr" / "field"

CONFIG = """
[workspace]
currency = "USD"

[[site]]
name = "sanjose"
country = "US"
timezone = "America/Los_Angeles"
outside_prefix = "9"
national_prefix = "1"
international_prefix = "011"
area_code = "408"
extensions = ["1000-1999"]
tariff = "tariffs/field-usd.toml"

[[site]]
name = "london"
country = "GB"
timezone = "Europe/London"
outside_prefix = "9"
national_prefix = "0"
international_prefix = "00"
extensions = ["200-299"]
tariff = "tariffs/field-gbp.toml"

[[site]]
name = "paris"
country = "FR"
timezone = "Europe/Paris"
outside_prefix = "0"
national_prefix = "0"
international_prefix = "00"
extensions = ["1000-1999"]
tariff = "tariffs/field-gbp.toml"

[[source]]
name = "london-ipo"
site = "london"
format = "avaya-ipo"
listen = "127.0.0.1:0"
"""

TARIFF = """
name = "{name}"
currency = "{currency}"
timezone = "UTC"
deck = "{name}.csv"

[rounding]
decimals = 4
mode = "up"

[billing]
anchor = "slot"
split = false

[[band]]
name = "all"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
start = "00:00"
weight = 10
"""
DECK_HEAD = "prefix,destination,band,connect_fee,price,unit,increment,from,min_cost,max_cost,effective_from\n"
DECKS = {
    "field-usd": ("USD", [("1", "North America", "0.06"), ("44", "United Kingdom", "0.12")]),
    "field-gbp": ("GBP", [("44", "United Kingdom", "0.10"), ("447", "United Kingdom mobile", "0.30"),
                          ("33", "France", "0.20")]),
}
KEEP = ("line", "extension", "direction", "number", "status", "cost")


def make_workspace(root: Path) -> Path:
    (root / "tariffs").mkdir(parents=True, exist_ok=True)
    for name, (currency, rows) in DECKS.items():
        (root / "tariffs" / f"{name}.toml").write_text(TARIFF.format(name=name, currency=currency))
        (root / "tariffs" / f"{name}.csv").write_text(
            DECK_HEAD + "".join(f"{p},{d},all,,{price},60,60,0,,,\n" for p, d, price in rows))
    (root / "anatole.toml").write_text(CONFIG)
    return root


def money(text: str | None) -> int | None:
    """A decimal amount as the store keeps it (units of 10**-8)."""
    return None if text is None else int(Decimal(text) * 10**8)


def imported(root: Path, path: Path, fmt: str, site: str, *, scanner: bool = True) -> dict[int, tuple]:
    """line -> (line, extension, direction, number, status, cost) of the calls `import cdr` stores, through the
    columnar scanner (where the format has one) or the row parser only."""
    ws = open_workspace(root)
    db = root / f"import-{scanner}.db"
    db.unlink(missing_ok=True)
    store = open_store(db)
    original = cdrimport.has_scanner
    if not scanner:
        cdrimport.has_scanner = lambda fmt, enc: False
    try:
        result = cdrimport.import_file(ws, store, path, fmt=fmt, site=site)
        assert result.read == result.calls + result.rejected + result.duplicates
        rows = {r["line"]: tuple(r[k] for k in KEEP) for r in store.calls()}
        assert len(rows) == result.calls
    finally:
        cdrimport.has_scanner = original
        store.close()
    return rows


def batch_rated(root: Path, path: Path, fmt: str, site: str, *, scanner: bool = True) -> dict[int, tuple]:
    """The same tuples from `batch-rate` (its CSV output), cost as units of 10**-8."""
    ws = open_workspace(root)
    out = root / f"batch-{scanner}.csv"
    original = batchrate.has_scanner
    if not scanner:
        batchrate.has_scanner = lambda fmt, enc: False
    try:
        s = ws.sites[site]
        batchrate.batch_rate([path], tariff=s.tariff, fmt=fmt, out=out, site=s, ws=ws)
    finally:
        batchrate.has_scanner = original
    got: dict[int, tuple] = {}
    with out.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            got[int(row["line"])] = (int(row["line"]), row["extension"], row["direction"], row["number"] or None,
                                     row["status"], money(row["cost"]) if row["cost"] else None)
    return got


def every_path(root: Path, path: Path, fmt: str, site: str) -> dict[int, tuple]:
    """The stored calls, after checking that the row path, the columnar path and batch-rate (both ways) agree."""
    rows = imported(root, path, fmt, site, scanner=False)
    assert imported(root, path, fmt, site, scanner=True) == rows
    for scanner in (True, False):
        batch = batch_rated(root, path, fmt, site, scanner=scanner)
        assert batch == {k: (*v[:5], v[5] if v[4] in ("rated", "unanswered", "no_rate") else None)
                         for k, v in rows.items()}, scanner
    return rows


def outgoing_answered_share_with_extension(rows: dict[int, tuple], answered: set[int]) -> float:
    out = [r for line, r in rows.items() if r[2] == "outgoing" and line in answered]
    return sum(1 for r in out if r[1]) / len(out) if out else 1.0


__all__ = ["DATA", "every_path", "imported", "make_workspace", "money", "outgoing_answered_share_with_extension"]
