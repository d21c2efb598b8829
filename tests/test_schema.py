"""Per-component schema versions: applied once, in order, and a newer database is refused."""

import sqlite3

import pytest

from store import open_store
from store.db import StoreError
from store.schema import SchemaError, migrate, version


def test_components_migrate_independently(tmp_path):
    conn = sqlite3.connect(tmp_path / "a.db")
    assert migrate(conn, "one", ["CREATE TABLE a (x);"]) == 1
    assert migrate(conn, "two", ["CREATE TABLE b (x);", "ALTER TABLE b ADD COLUMN y;"]) == 2
    assert migrate(conn, "one", ["CREATE TABLE a (x);", "CREATE TABLE c (x);"]) == 2
    assert (version(conn, "one"), version(conn, "two"), version(conn, "three")) == (2, 2, 0)
    assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")} >= {"a", "b", "c"}


def test_failed_migration_applies_nothing(tmp_path):
    conn = sqlite3.connect(tmp_path / "a.db")
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, "one", ["CREATE TABLE a (x); CREATE TABLE a (x);"])
    assert version(conn, "one") == 0
    assert conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'a'").fetchone()[0] == 0


def test_newer_database_is_refused(tmp_path):
    conn = sqlite3.connect(tmp_path / "a.db")
    migrate(conn, "one", ["CREATE TABLE a (x);", "CREATE TABLE b (x);"])
    with pytest.raises(SchemaError, match="version 2, newer than this program's 1"):
        migrate(conn, "one", ["CREATE TABLE a (x);"])


def test_store_refuses_newer_calls_schema(tmp_path):
    open_store(tmp_path / "s.db").close()
    conn = sqlite3.connect(tmp_path / "s.db")
    conn.execute("UPDATE schema_versions SET version = 99 WHERE component = 'calls'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="upgrade anatole"):
        open_store(tmp_path / "s.db")


def test_processes_migrating_one_file_at_once_apply_each_migration_once(tmp_path):
    """The daemon starting and a command run beside it open a new file at the same moment: each migration is
    applied once (the second waits for the write lock and finds it done), none fails with 'already exists'."""
    import threading

    from store.db import connect

    scripts = ["CREATE TABLE a (x);\nCREATE INDEX a_x ON a (x);",
               "CREATE TABLE b (x TEXT DEFAULT ';');\n"
               "CREATE TRIGGER b_t AFTER INSERT ON b BEGIN UPDATE b SET x = x; END;",
               "-- a comment; with a semicolon\nALTER TABLE a ADD COLUMN y;"]

    def open_it(path, start: threading.Barrier, errors: list) -> None:
        conn = None
        try:
            start.wait()  # all open the new file at once too (the switch to WAL can be refused at once: retried)
            conn = connect(path)
            assert migrate(conn, "one", scripts) == 3
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            start.abort()
        finally:
            if conn is not None:
                conn.close()

    for round_ in range(5):
        path = tmp_path / f"r{round_}.db"
        errors: list[BaseException] = []
        start = threading.Barrier(4)
        threads = [threading.Thread(target=open_it, args=(path, start, errors)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors, errors
        conn = sqlite3.connect(path)
        assert version(conn, "one") == 3
        assert [r[1] for r in conn.execute("PRAGMA table_info(a)")] == ["x", "y"]
        names = "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('a', 'b', 'a_x', 'b_t')"
        assert conn.execute(names).fetchone()[0] == 4
