"""A large import builds the readers' indexes once at the end, and they are back whatever happens to it."""

from __future__ import annotations

import sqlite3

import pytest

from store import db
from store.db import READER_INDEXES, open_store


def indexes(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'calls'")}


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "anatole.db")
    yield s
    s.close()


def test_a_small_import_keeps_the_indexes(store):
    with store.bulk_load(db.BULK_MIN - 1) as bulk:
        assert bulk is False
        assert set(READER_INDEXES) <= indexes(store.conn)


def test_a_large_import_drops_them_then_builds_them(store):
    with store.bulk_load(db.BULK_MIN) as bulk:
        assert bulk is True
        assert not set(READER_INDEXES) & indexes(store.conn)
        assert {"calls_group"} <= indexes(store.conn)  # merging legs needs it during the import
    assert set(READER_INDEXES) <= indexes(store.conn)


def test_they_come_back_when_the_import_fails(store):
    with pytest.raises(RuntimeError), store.bulk_load(db.BULK_MIN):
        raise RuntimeError("disk gone")
    assert set(READER_INDEXES) <= indexes(store.conn)


def test_they_come_back_at_the_next_open_after_a_kill(tmp_path):
    s = open_store(tmp_path / "anatole.db")
    with s.conn:  # what a killed bulk import leaves behind
        for name in READER_INDEXES:
            s.conn.execute(f"DROP INDEX {name}")
    s.close()
    s = open_store(tmp_path / "anatole.db")
    assert set(READER_INDEXES) <= indexes(s.conn)
    s.close()


def test_an_import_small_beside_the_store_keeps_them(store, monkeypatch):
    monkeypatch.setattr(db, "BULK_MIN", 10)
    with store.conn:
        store.conn.execute("INSERT INTO calls (id, source, site, native_id, leg, grp, start, duration, billable, "
                           "direction, disposition, number_kind, status) VALUES (1000, 's', 'x', 'n', '', '', 0, 0, "
                           "0, 'outgoing', 'answered', 'external', 'rated')")
    with store.bulk_load(400) as bulk:  # 400 < half of 1000
        assert bulk is False
    with store.bulk_load(600) as bulk:
        assert bulk is True
