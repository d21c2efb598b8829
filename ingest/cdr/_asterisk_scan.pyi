from typing import Any

DIRECTIONS: tuple[str, ...]
DISPOSITIONS: tuple[str, ...]
SLICES: tuple[str, ...]

def count_lines(buf: bytes) -> int: ...
def scan(buf: bytes) -> dict[str, Any]: ...
