"""Line framing of SMDR streams: bytes in, whole lines out, with a bounded buffer.

Terminators: LF, CR LF, lone CR (and NEC's CR LF LF, which yields an empty line that is dropped). Empty lines are
not records and are dropped here (counted). A line longer than `limit` without a terminator is not a record: its
head is returned as an `Overlong` (to be stored as a reject) and the rest of it is discarded up to the next
terminator (resync), so a stream of garbage costs bounded memory. Telnet IAC sequences (Panasonic's telnet-style
port) are removed when `telnet` is set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LINE = 64 * 1024  # the widest SMDR record is a few hundred bytes
_TERMINATOR = re.compile(rb"\r\n|\n|\r")
_IAC = re.compile(rb"\xff[\xfb-\xfe][\x00-\xff]|\xff[\xf0-\xfa]|\xff\xff")


@dataclass(frozen=True)
class Overlong:
    """A line over the limit: `head` is its first bytes, `size` how many bytes it had (at least)."""

    head: bytes
    size: int


class LineFramer:
    def __init__(self, limit: int = MAX_LINE, *, telnet: bool = False) -> None:
        self.limit = limit
        self.telnet = telnet
        self._buffer = bytearray()
        self._discarding = 0  # > 0: inside an overlong line, this many bytes seen so far
        self._head = b""
        self.blank = 0  # empty lines dropped
        self._cr = False  # the last chunk ended with CR: a LF at the start of the next one belongs to it

    def feed(self, data: bytes) -> list[bytes | Overlong]:
        """Whole lines (without terminator) and overlong markers, in order."""
        if self.telnet and b"\xff" in data:
            data = _IAC.sub(b"", data)
        if self._cr and data.startswith(b"\n"):
            data = data[1:]
        self._cr = data.endswith(b"\r")
        out: list[bytes | Overlong] = []
        start = 0
        for m in _TERMINATOR.finditer(data):
            piece = data[start:m.start()]
            start = m.end()
            if self._discarding:
                out.append(Overlong(self._head, self._discarding + len(piece)))
                self._discarding = 0
                continue
            if self._buffer:
                self._buffer += piece
                piece = bytes(self._buffer)
                self._buffer.clear()
            if len(piece) > self.limit:
                out.append(Overlong(piece[:200], len(piece)))
            elif piece:
                out.append(piece)
            else:
                self.blank += 1
        rest = data[start:]
        if self._discarding:
            self._discarding += len(rest)
        elif len(self._buffer) + len(rest) > self.limit:
            whole = bytes(self._buffer) + rest
            self._head = whole[:200]
            self._discarding = len(whole)
            self._buffer.clear()
        else:
            self._buffer += rest
        return out

    def close(self) -> bytes | Overlong | None:
        """What is left at disconnect: a partial line (or the overlong one being discarded), else None."""
        if self._discarding:
            got: bytes | Overlong | None = Overlong(self._head, self._discarding)
        else:
            got = bytes(self._buffer) if self._buffer else None
        self._buffer.clear()
        self._discarding = 0
        return got

    @property
    def pending(self) -> int:
        return len(self._buffer)
