"""The console's data access: keyset pages agree with a full ordering, totals with a sum, export neutralises
formulas, and a missing, locked, newer or foreign database gives a message instead of a traceback."""

from __future__ import annotations

import csv
import functools
import sqlite3
from pathlib import Path

import pytest
from test_tui_support import context, workspace_copy

from engine.money import SCALE
from store import CALL_COLUMNS, StoreError, open_store
from store.db import PAGE_ORDERS, open_existing
from tui.data import Reader, TariffBook, quote, rate_rows, safe_cell
from tui.filters import CallFilter


@pytest.fixture(scope="module")
def ws() -> Path:
    return workspace_copy()


@pytest.fixture
def reader(ws: Path):
    r = Reader(ws / "anatole.db")
    yield r
    r.close()


def all_calls(ws: Path) -> list[dict]:
    store = open_store(ws / "anatole.db")
    rows = list(store.calls())
    store.close()
    return rows


@pytest.mark.parametrize("order", sorted(PAGE_ORDERS))
def test_pages_walk_the_whole_order_both_ways(ws: Path, reader: Reader, order: str) -> None:
    flt = CallFilter()
    pages, after = [], None
    while True:
        page = reader.page(flt, order=order, after=after, limit=7)
        if not page:
            break
        pages.append(page)
        after = (page[-1]["sort_key"], page[-1]["id"])
    seen = [r["id"] for p in pages for r in p]
    expr, desc = PAGE_ORDERS[order]
    key = {"start": lambda r: r["start"], "billable": lambda r: r["billable"],
           PAGE_ORDERS["cost_desc"][0]: lambda r: (r["currency"] or "", -1 if r["cost"] is None else r["cost"]),
           **{PAGE_ORDERS[f"{c}_asc"][0]: functools.partial(lambda col, r: r[col] or "", c)
              for c in ("site", "extension", "status", "destination", "direction")},
           PAGE_ORDERS["number_asc"][0]: lambda r: r["number"] or r["dialled"] or r["caller"] or ""}[expr]
    want = [r["id"] for r in sorted(all_calls(ws), key=lambda r: (key(r), r["id"]), reverse=desc)]
    assert seen == want and len(seen) == 60
    for previous, page in zip(pages, pages[1:]):  # going back from any page gives the page before it
        back = reader.page(flt, order=order, before=(page[0]["sort_key"], page[0]["id"]), limit=7)
        assert [r["id"] for r in back] == [r["id"] for r in previous]


def test_filtered_pages_and_totals(ws: Path, reader: Reader) -> None:
    flt = CallFilter(site="paris", min_cost=SCALE // 100, destination="mobile")
    rows = reader.page(flt, limit=1000)
    want = [r for r in all_calls(ws) if r["site"] == "paris" and r["cost"] is not None
            and r["cost"] >= SCALE // 100 and "mobile" in (r["destination"] or "").lower()]
    assert {r["id"] for r in rows} == {r["id"] for r in want} and want
    totals = reader.totals(flt)
    assert totals == {"calls": len(want), "seconds": sum(r["billable"] for r in want),
                      "cost": {"EUR": sum(r["cost"] for r in want if r["billed"])}}
    everything = reader.totals(CallFilter())
    assert everything["calls"] == 60


def test_export_writes_every_row_and_neutralises_formulas(ws: Path, tmp_path: Path) -> None:
    copy = tmp_path / "anatole.db"
    store = open_store(ws / "anatole.db")
    store.conn.execute("VACUUM INTO ?", (str(copy),))
    store.close()
    store = open_store(copy)
    row = dict.fromkeys(CALL_COLUMNS)
    row.update(source="paris-ipo", site="paris", native_id="x1", leg="", grp="", start=1742500000, duration=5,
               billable=5, direction="incoming", disposition="answered", extension="2001",
               caller="=HYPERLINK(\"http://x\")", number_kind="external", billed=1, status="incoming")
    assert store.insert_calls([[row[c] for c in CALL_COLUMNS]]) == 1
    store.close()
    r = Reader(copy)
    out = tmp_path / "view.csv"
    n = r.export(out, CallFilter(), "start_desc", context(ws))
    r.close()
    lines = list(csv.reader(out.open()))
    assert n == 61 and len(lines) == 62
    header = lines[0]
    assert lines[1][header.index("caller")] == "'=HYPERLINK(\"http://x\")"
    assert safe_cell("-12.50") == "-12.50" and safe_cell("+33 1") == "'+33 1" and safe_cell(None) == ""


def test_missing_database(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no database at .*anatole import cdr"):
        Reader(tmp_path / "anatole.db").open()
    assert not (tmp_path / "anatole.db").exists()  # looking did not create one


def test_newer_schema(ws: Path, tmp_path: Path) -> None:
    db = tmp_path / "anatole.db"
    shutil_copy(ws / "anatole.db", db)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE schema_versions SET version = 99 WHERE component = 'calls'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer than this program"):
        open_existing(db)


def test_locked_database(ws: Path, tmp_path: Path) -> None:
    db = tmp_path / "anatole.db"
    shutil_copy(ws / "anatole.db", db)
    holder = sqlite3.connect(db)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked by another program"):
            open_existing(db, timeout=0.1)
    finally:
        holder.rollback()
        holder.close()


def test_not_a_database(tmp_path: Path) -> None:
    (tmp_path / "anatole.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not an anatole database"):
        open_existing(tmp_path / "anatole.db")


def test_rates_search_and_quote_agree_with_the_engine(ws: Path) -> None:
    book = TariffBook(context(ws))
    [entry] = book.entries()
    assert entry.sites == ("paris", "lyon")
    c = book.compiled(entry.path)
    rows, matching = rate_rows(c, "336", limit=1000)
    assert rows and matching == len(rows)
    assert all("336".startswith(r["prefix"]) or r["prefix"].startswith("336") for r in rows)
    start = 1741946400  # 2025-03-14 11:00 Paris, a Friday
    q = quote(c, "33612345678", start, 125)
    engine = c.describe(c.rate(["33612345678"], [start], [125]), 0)
    assert (q["status"], q["prefix"], q["cost"], q["billed_seconds"]) == \
        (engine["status"], engine["prefix"], engine["cost"], engine["billed_seconds"]) == ("rated", "336", q["cost"],
                                                                                          125)
    assert q["parts"] and q["destination"] == engine["destination"]


def shutil_copy(src: Path, dst: Path) -> None:
    store = open_store(src)
    store.conn.execute("VACUUM INTO ?", (str(dst),))
    store.close()
