from typing import Any

import numpy as np

DIRECTIONS: tuple[str, ...]
DISPOSITIONS: tuple[str, ...]
SLICES: tuple[str, ...]
CUCM_COLUMNS: tuple[str, ...]

def count_lines(buf: bytes) -> int: ...
def scan_asterisk(buf: bytes) -> dict[str, Any]: ...
def factorize(buf: bytes, off: np.ndarray, ln: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...
def scan_cucm(
    buf: bytes, begin: int, columns: np.ndarray, header_len: int, prefixes: list[bytes]
) -> dict[str, Any]: ...
