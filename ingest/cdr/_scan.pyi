import numpy as np
from typing import Any

DIRECTIONS: tuple[str, ...]
DISPOSITIONS: tuple[str, ...]
SLICES: tuple[str, ...]

def count_lines(buf: bytes) -> int: ...
def scan_asterisk(buf: bytes) -> dict[str, Any]: ...
def scan_cucm(buf: bytes, start: int, columns: np.ndarray, header_len: int, prefixes: list[bytes]) -> dict[str, Any]: ...
