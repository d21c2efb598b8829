"""Columnar reads (store.reports.read_columns): the C path (store._fast, SQLite's own stepping into numpy) and the
Python cursor path give identical columns and identical errors, on generated data and on the what-if and report
queries of a real store."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_allocation import call_row

from store import open_store, reports
from store.reports import open_queries, read_columns_py

fast = pytest.importorskip("store._fast")
needs_fast = pytest.mark.skipif(not fast.AVAILABLE, reason=f"store._fast unavailable: {fast.REASON}")

SPEC = [("a", "int64", None), ("b", "int32", -1), ("c", "int16", 7), ("d", "int8", 0), ("t", "S6", b"-"),
        ("k", "cat", ""), ("x", "S4", None)]


def make_db(path: Path, rows: list[tuple[Any, ...]], *, wal: bool = True) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = OFF")  # test files: no fsync
    if wal:
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a, b, c, d, t, k, x)")
    conn.executemany("INSERT INTO t (a, b, c, d, t, k, x) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()


def both(conn_or_path: Any, sql: str, args: tuple[Any, ...], spec: list[tuple[str, Any, Any]]
         ) -> tuple[Any, Any]:
    """(C result or exception, Python result or exception)."""
    conn = sqlite3.connect(conn_or_path) if not isinstance(conn_or_path, sqlite3.Connection) else conn_or_path
    out: list[Any] = []
    for f in (lambda: fast.read_columns(conn_or_path, sql, args, spec), lambda: read_columns_py(conn, sql, args,
                                                                                                  spec)):
        try:
            out.append(f())
        except Exception as exc:  # noqa: BLE001 - compared below
            out.append(exc)
    if conn is not conn_or_path:
        conn.close()
    return out[0], out[1]


def assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        assert a[k].tolist() == b[k].tolist(), k


texts = st.one_of(st.none(), st.text(st.sampled_from("ab€é1 "), max_size=2), st.binary(max_size=4),
                  st.integers(-99, 999))
rows_st = st.lists(st.tuples(
    st.integers(-2**63, 2**63 - 1), st.one_of(st.none(), st.integers(-2**31, 2**31 - 1)),
    st.one_of(st.none(), st.integers(-2**15, 2**15 - 1)), st.one_of(st.none(), st.integers(-128, 127)),
    texts, st.one_of(st.none(), st.sampled_from(["EUR", "GBP", "", "é", "USD"])), st.text("xyz", max_size=4)),
    max_size=40)


@needs_fast
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows_st)
def test_generated_rows_read_the_same_both_ways(rows: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "t.db"
        make_db(db, rows)
        a, b = both(db, "SELECT a, b, c, d, t, k, x FROM t WHERE id > ? ORDER BY id", (0,), SPEC)
        assert not isinstance(a, Exception), a
        assert not isinstance(b, Exception), b
        assert_same(a, b)
        assert len(a["a"]) == len(rows)
        assert [a["k_values"][c] for c in a["k"]] == [r[5] if r[5] is not None else "" for r in rows]


@needs_fast
@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(-2**40, 2**40), st.one_of(st.none(), st.text("abc", max_size=8))),
                max_size=20))
def test_bad_values_fail_alike(rows: list[tuple[int, str | None]]) -> None:
    """Out of range, NULL without a fill, text too long: both paths fail on the same row with the same message."""
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "t.db"
        make_db(db, [(a, None, None, None, t, None, None) for a, t in rows])
        for spec in ([("a", "int32", None), ("t", "S4", b"")], [("a", "int64", 0), ("t", "S8", None)]):
            a, b = both(db, "SELECT a, t FROM t ORDER BY id", (), spec)
            assert type(a) is type(b)
            if isinstance(a, Exception):
                assert isinstance(a, ValueError) and str(a) == str(b)
            else:
                assert_same(a, b)


@needs_fast
def test_empty_result_and_growth(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    n = 70_000  # past the first buffers (4,096 rows, doubled) and one pass between signal checks (65,536)
    make_db(db, [(i, i % 1000, None, i % 100, f"n{i % 7}", ["EUR", None][i % 2], "") for i in range(n)])
    a, b = both(db, "SELECT a, b, c, d, t, k, x FROM t WHERE a < 0", (), SPEC)
    assert_same(a, b)
    assert [len(v) for v in a.values()] == [0] * 7 + [0]
    assert a["t"].dtype == np.dtype("S6") and a["k"].dtype == np.int32
    a, b = both(db, "SELECT a, b, c, d, t, k, x FROM t ORDER BY id", (), SPEC)
    assert_same(a, b)
    assert a["a"].tolist() == list(range(n)) and a["c"].tolist() == [7] * n
    assert a["k_values"].tolist() == ["EUR", ""]


@needs_fast
def test_long_text_is_an_error_not_a_cut(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    make_db(db, [(1, 1, 1, 1, "abcdef", "EUR", ""), (2, 2, 2, 2, "abcdefg", "EUR", "")])
    a, b = both(db, "SELECT t FROM t ORDER BY id", (), [("t", "S6", None)])
    assert isinstance(a, ValueError)
    assert str(a) == str(b) == "column t, row 2: 7 bytes do not fit S6 (text is never cut)"


@needs_fast
def test_types_that_do_not_convert(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    make_db(db, [(1.5, "12", b"\x00", 300, 2.5, 1, "")])
    for col, kind, what in (("a", "int64", "a real number"), ("b", "int64", "text"), ("c", "int32", "a blob"),
                            ("t", "S8", "a real number")):
        a, b = both(db, f"SELECT {col} FROM t", (), [(col, kind, None)])
        assert isinstance(a, ValueError) and str(a) == str(b), (a, b)
        assert what in str(a)
    a, b = both(db, "SELECT d FROM t", (), [("d", "int8", None)])
    assert isinstance(a, ValueError) and str(a) == str(b) == "column d, row 1: 300 is out of range for int8"
    a, b = both(db, "SELECT k, k FROM t", (), [("k", "cat", None), ("j", "S1", None)])  # an integer as text
    assert_same(a, b)
    assert a["k_values"].tolist() == ["1"] and a["j"].tolist() == [b"1"]


@needs_fast
def test_spec_and_sql_errors(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    make_db(db, [])
    with pytest.raises(ValueError, match="returns 2 columns"):
        fast.read_columns(db, "SELECT a, b FROM t", (), [("a", "int64", 0)])
    with pytest.raises(ValueError, match="column kind"):
        fast.read_columns(db, "SELECT a FROM t", (), [("a", "float64", 0)])
    with pytest.raises(sqlite3.OperationalError, match="no such table: nope"):
        fast.read_columns(db, "SELECT a FROM nope", (), [("a", "int64", 0)])
    with pytest.raises(sqlite3.ProgrammingError, match="uses 1"):
        fast.read_columns(db, "SELECT a FROM t WHERE a = ?", (), [("a", "int64", 0)])
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        fast.read_columns(db, "INSERT INTO t (a) VALUES (1) RETURNING a", (), [("a", "int64", 0)])


@needs_fast
def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere.db: no such database file"):
        fast.read_columns(tmp_path / "nowhere.db", "SELECT 1", (), [("one", "int64", None)])
    assert not (tmp_path / "nowhere.db").exists()  # read-only: never created


@needs_fast
def test_locked_database_is_an_operational_error(tmp_path: Path) -> None:
    """A rollback-journal database under another connection's exclusive lock: the read waits its busy timeout and
    fails as Python's module does."""
    db = tmp_path / "t.db"
    make_db(db, [(1, 1, 1, 1, "a", "EUR", "")], wal=False)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            fast.read_columns(db, "SELECT a FROM t", (), [("a", "int64", None)], timeout=0.05)
        reader = sqlite3.connect(db, timeout=0.05)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            read_columns_py(reader, "SELECT a FROM t", (), [("a", "int64", None)])
        reader.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert fast.read_columns(db, "SELECT a FROM t", (), [("a", "int64", None)])["a"].tolist() == [1]


@needs_fast
def test_busy_wal_writer_does_not_block_and_uncommitted_rows_fall_back(tmp_path: Path) -> None:
    """WAL: a writer's open transaction does not block the C read, which sees the committed rows only; on the writing
    connection itself read_columns takes the Python path, which sees its uncommitted rows."""
    db = tmp_path / "t.db"
    make_db(db, [(1, 1, 1, 1, "a", "EUR", "")])
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO t (a) VALUES (2)")
    assert conn.in_transaction
    spec = [("a", "int64", None)]
    assert fast.read_columns(db, "SELECT a FROM t ORDER BY a", (), spec)["a"].tolist() == [1]
    with pytest.raises(fast.Unavailable, match="uncommitted"):
        fast.read_columns(conn, "SELECT a FROM t ORDER BY a", (), spec)
    assert reports.read_columns(conn, "SELECT a FROM t ORDER BY a", (), spec)["a"].tolist() == [1, 2]
    conn.commit()
    assert fast.read_columns(conn, "SELECT a FROM t ORDER BY a", (), spec)["a"].tolist() == [1, 2]
    conn.close()


def test_in_memory_database_takes_the_python_path() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a)")
    conn.execute("INSERT INTO t VALUES (3)")
    conn.commit()
    if fast.AVAILABLE:
        with pytest.raises(fast.Unavailable, match="in-memory"):
            fast.read_columns(conn, "SELECT a FROM t", (), [("a", "int64", None)])
    assert reports.read_columns(conn, "SELECT a FROM t", (), [("a", "int64", None)])["a"].tolist() == [3]


def test_unavailable_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the SQLite functions the module says so and callers get the Python path."""
    monkeypatch.setenv("ANATOLE_NO_FAST_SQLITE", "1")
    assert fast._find_api() == ([], "disabled by ANATOLE_NO_FAST_SQLITE")
    monkeypatch.setattr(fast, "AVAILABLE", False)
    monkeypatch.setattr(fast, "REASON", "test")
    with pytest.raises(fast.Unavailable, match="test"):
        fast.read_columns("x.db", "SELECT 1", (), [("one", "int64", None)])


@needs_fast
def test_store_queries_identical_both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """whatif_columns, outgoing_starts and trunk_calls on a real store: C path == Python cursor path."""
    store = open_store(tmp_path / "anatole.db")
    rng = np.random.default_rng(3)
    rows = []
    for i in range(300):
        rows.append(call_row(
            start=1_740_000_000 + int(rng.integers(0, 10**6)), native_id=str(i), site=["paris", "lyon", "x"][i % 3],
            number=None if i % 50 == 0 else f"33{int(rng.integers(10**8, 10**9))}" + ("1234567890" if i == 8 else ""),
            cost=None if i % 11 == 0 else int(rng.integers(0, 10**8)),
            currency=[None, "EUR", "GBP", "CHF"][i % 4], extension=None if i % 5 == 0 else str(1000 + i % 13),
            trunk=["", None, "t1", "t2"][i % 4], billable=int(rng.integers(0, 500)), billed=int(i % 9 != 0),
            direction="outgoing" if i % 7 else "incoming", number_kind="external" if i % 13 else "internal"))
    store.insert_calls(rows)
    q = open_queries(store.conn)
    calls: list[Any] = []
    try:
        for flag in (True, False):
            monkeypatch.setattr(reports, "FAST_READS", flag)
            calls.append((q.whatif_columns(0, 2**40, ["paris", "lyon"]), q.outgoing_starts(0, 2**40),
                          q.trunk_calls(0, 2**40)))
    finally:
        store.close()
    (w1, o1, t1), (w2, o2, t2) = calls
    for a, b in ((w1, w2), (o1, o2), (t1, t2)):
        assert_same(a, b)
    assert len(w1["number"]) > 100 and w1["currencies"].tolist() == ["", "CHF", "EUR", "GBP"]
    assert max(len(n) for n in w1["number"].tolist()) == 18  # the over-long number, cut at 18 in SQL both ways
    assert set(o1["currency"].tolist()) == {"", "EUR", "GBP", "CHF"} and o1["site"].dtype == object
    assert set(t1["trunk"].tolist()) == {"t1", "t2"}


@needs_fast
def test_parts_concatenate_like_one_query_and_cut_is_asked_for(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts read at once on threads = the same query over the whole range; 'cat' codes renumbered over the whole;
    a column named in `cut` is cut at its width on both paths (and is an error when not named)."""
    db = tmp_path / "t.db"
    make_db(db, [(i, None, None, None, "x" * (i % 5), ["EUR", "GBP", None, "CHF"][(i * 7) // 50 % 4], "")
                 for i in range(200)])
    conn = sqlite3.connect(db)
    sql = "SELECT a, t, k FROM t WHERE a >= ? AND a < ? ORDER BY id"
    spec = [("a", "int64", None), ("t", "S3", None), ("k", "cat", "-")]
    got = []
    for flag in (True, False):
        monkeypatch.setattr(reports, "FAST_READS", flag)
        with pytest.raises(ValueError, match="column t, row 4: 3 bytes do not fit S2"):
            reports.read_columns(conn, sql, (0, 10**9), [("a", "int64", None), ("t", "S2", None), ("k", "cat", "-")])
        whole = reports.read_columns(conn, sql, (0, 10**9), spec, cut=("t",))
        parts = reports.read_column_parts(conn, sql, [(0, 60), (60, 61), (61, 130), (130, 10**9)], spec, cut=("t",))
        assert_same(whole, parts)
        got.append(whole)
    assert_same(*got)
    assert got[0]["k_values"].tolist() == ["EUR", "GBP", "-", "CHF"]
    assert got[0]["t"].tolist()[:6] == [b"", b"x", b"xx", b"xxx", b"xxx", b""]
    conn.close()


# --- insert_rows: executemany with the binds in C ---------------------------------------------------------------

values_st = st.one_of(st.none(), st.integers(-2**63, 2**63 - 1), st.text(max_size=5), st.binary(max_size=4),
                      st.floats(allow_nan=False), st.booleans())


@needs_fast
@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(values_st, values_st, values_st), max_size=30))
def test_insert_rows_stores_what_executemany_stores(rows: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        got = []
        for name in ("fast", "python"):
            conn = sqlite3.connect(Path(d) / f"{name}.db")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a, b, c)")
            conn.commit()
            sql = "INSERT INTO t (a, b, c) VALUES (?, ?, ?)"
            if name == "fast":
                assert fast.insert_rows(conn, sql, iter(rows)) == len(rows)
            else:
                conn.executemany(sql, rows)
            began = conn.in_transaction  # executemany begins one even for no rows
            conn.commit()
            got.append((began, conn.execute("SELECT id, a, typeof(a), b, typeof(b), c, typeof(c) FROM t").fetchall()))
            conn.close()
        assert got[0] == got[1]


@needs_fast
def test_insert_rows_errors_and_transaction(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "t.db", timeout=0.05)
    conn.execute("CREATE TABLE u (a UNIQUE, b)")
    conn.commit()
    sql = "INSERT INTO u VALUES (?, ?)"
    with pytest.raises(sqlite3.IntegrityError, match="row 3: UNIQUE constraint failed: u.a"):
        fast.insert_rows(conn, sql, [(1, "x"), (2, "y"), (1, "z")])
    assert conn.in_transaction and conn.execute("SELECT COUNT(*) FROM u").fetchone()[0] == 2  # as executemany
    conn.rollback()
    with pytest.raises(sqlite3.ProgrammingError, match="uses 2, and there are 1"):
        fast.insert_rows(conn, sql, [(1,)])
    with pytest.raises(sqlite3.ProgrammingError, match="one statement"):
        fast.insert_rows(conn, sql + "; SELECT 1", [(1, 2)])
    with pytest.raises(sqlite3.ProgrammingError, match="return no rows"):
        fast.insert_rows(conn, "SELECT ?", [(1,)])
    with pytest.raises(OverflowError):
        fast.insert_rows(conn, sql, [(2**64, 1)])
    with pytest.raises(sqlite3.ProgrammingError, match="not supported"):
        fast.insert_rows(conn, sql, [(object(), 1)])
    conn.rollback()
    assert fast.insert_rows(conn, sql, [(bytearray(b"ab"), memoryview(b"cd")), (True, 1.5)]) == 2
    conn.commit()
    assert conn.execute("SELECT a, b FROM u").fetchall() == [(b"ab", b"cd"), (1, 1.5)]
    other = sqlite3.connect(tmp_path / "t.db", timeout=0.05)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        fast.insert_rows(conn, sql, [(5, 5)])
    other.rollback()
    other.close()
    conn.rollback()
    auto = sqlite3.connect(tmp_path / "t.db", isolation_level=None)  # no implicit transaction: each row commits
    assert fast.insert_rows(auto, sql, [(7, 7)]) == 1 and not auto.in_transaction
    auto.close()
    conn.close()


@needs_fast
def test_insert_rows_needs_a_checkable_handle() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a)")
    with pytest.raises(fast.Unavailable, match="in-memory"):
        fast.insert_rows(conn, "INSERT INTO t VALUES (?)", [(1,)])
    conn.close()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        fast.insert_rows(conn, "INSERT INTO t VALUES (?)", [(1,)])


@needs_fast
def test_insert_rows_keeps_fresh_values_alive(tmp_path: Path) -> None:
    """A row whose items are made on each access (no one else holds them): what is stored is still those values."""

    class Fresh:
        def __init__(self, i: int) -> None:
            self.i = i

        def __len__(self) -> int:
            return 2

        def __getitem__(self, k: int) -> Any:
            if k >= 2:
                raise IndexError(k)
            return "".join(["vw"[k], str(self.i), "-" * 40, str(k)])  # the same size: a freed one would be reused

    conn = sqlite3.connect(tmp_path / "t.db")
    conn.execute("CREATE TABLE t (a, b)")
    assert fast.insert_rows(conn, "INSERT INTO t VALUES (?, ?)", (Fresh(i) for i in range(500))) == 500
    conn.commit()
    assert conn.execute("SELECT a, b FROM t").fetchall() == [(f"v{i}{'-' * 40}0", f"w{i}{'-' * 40}1")
                                                            for i in range(500)]
    conn.close()
