import os
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

AVAILABLE: bool
REASON: str
API_NAMES: tuple[str, ...]

class Unavailable(RuntimeError): ...

def database_path(conn: sqlite3.Connection) -> str: ...
def read_columns(source: sqlite3.Connection | str | os.PathLike[str], sql: str, args: Sequence[Any] = (),
                 spec: Sequence[tuple[str, Any, Any]] = (), *, timeout: float = 5.0,
                 cut: Sequence[str] = ()) -> dict[str, np.ndarray]: ...
def insert_rows(conn: sqlite3.Connection, sql: str, rows: Iterable[Sequence[Any]]) -> int: ...
