"""The store: SQLite schema, migrations and queries (the only place SQL is written)."""

from store.db import CALL_COLUMNS, REJECT_COLUMNS, SCHEMA_VERSION, Store, StoreError, open_store

__all__ = ["CALL_COLUMNS", "REJECT_COLUMNS", "SCHEMA_VERSION", "Store", "StoreError", "open_store"]
