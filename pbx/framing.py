"""Line framing of SMDR streams: bytes in, whole lines out, with a bounded buffer.

Terminators: LF, CR LF, lone CR (and NEC's CR LF LF, which yields an empty line that is dropped). Empty lines are
not records and are dropped here (counted). A line longer than `limit` without a terminator is not a record: its
head is returned as an `Overlong` (to be stored as a reject) and the rest of it is discarded up to the next
terminator (resync), so a stream of garbage costs bounded memory. Telnet IAC sequences (Panasonic's telnet-style
port) are removed when `telnet` is set.

`GarbageGate` keeps a flood of lines that cannot be records from growing the journal and the rejects without limit:
per source, the first `limit` of them in each window are kept as usual (stored as rejects with their raw text), the
rest are only counted, and one summary per window says how many were dropped, from which peer(s), between which
times. Overlong and binary lines (`is_binary`) are garbage on sight. A printable line is garbage only when the
source's format rejects it on its own (`classify`, given for formats whose records are one self-contained line), and
that check runs on one line in `sample` until half of a window's samples fail (a flood: then on every line, until
the window ends), so that a normal stream pays for it on a few lines only. A slow stream of lines in a wrong
format (a misconfigured PBX, under `limit` a window) is never dropped: those are kept to be imported again.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

MAX_LINE = 64 * 1024  # the widest SMDR record is a few hundred bytes
GARBAGE_LIMIT = 100  # garbage lines kept per source and window
GARBAGE_WINDOW = 60.0  # seconds
SAMPLE = 32  # outside a flood, one printable line in SAMPLE is checked with the format's parser
FLOOD_SAMPLES = 8  # a window with at least this many samples, half of them rejected, is a flood
HEAD = 200  # bytes of an overlong line kept
_TEXT = bytes(range(0x20, 0x7F)) + b"\t\x0b\x0c\x00"  # printable ASCII, tab, VT, FF; NUL (padding) is no evidence
_HIGH = bytes(range(0x80, 0x100))
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
                out.append(Overlong(piece[:HEAD], len(piece)))
            elif piece:
                out.append(piece)
            else:
                self.blank += 1
        rest = data[start:]
        if self._discarding:
            self._discarding += len(rest)
        elif len(self._buffer) + len(rest) > self.limit:
            whole = bytes(self._buffer) + rest
            self._head = whole[:HEAD]
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


def is_binary(line: bytes, encoding: str = "utf-8") -> bool:
    """Whether a line is not text, so cannot be a record: NUL padding aside, one byte in eight is a control byte, or
    one in sixteen is and it does not decode in the source's encoding with half of it control or non-ASCII bytes
    (random bytes: about 10% and 60%). Text in another encoding than the configured one has no control bytes, so it
    is never binary (its records still parse). A line of NULs only is not text either."""
    size = len(line) - line.count(0)
    if size == 0:
        return bool(line)
    odd = line.translate(None, _TEXT)
    if not odd:
        return False
    controls = len(odd.translate(None, _HIGH))
    if controls * 8 >= size:
        return True
    if controls * 16 < size:
        return False
    try:
        line.decode(encoding)
        return False
    except (UnicodeDecodeError, LookupError):
        return len(odd) * 2 >= size


class GarbageGate:
    """Per source: the first `limit` garbage lines of each window pass, the others are counted and dropped, and a
    summary of what was dropped is due when the window ends (`due`, `summary`)."""

    def __init__(self, limit: int = GARBAGE_LIMIT, window: float = GARBAGE_WINDOW, *, encoding: str = "utf-8",
                 classify: Callable[[bytes], bool] | None = None, sample: int = SAMPLE) -> None:
        self.limit = limit
        self.window = window
        self.encoding = encoding
        self.classify = classify  # a printable line -> whether the format rejects it on its own
        self.sample = sample
        self._start: float | None = None  # the current window's start
        self._seen = 0  # garbage lines in the current window
        self.suppressed = 0  # dropped, not yet summarised
        self.total = 0  # dropped since start (all summaries)
        self._first = self._last = 0.0
        self._peers: dict[str, int] = {}
        self._probe_start = float("-inf")  # the sampling window: its start, printable lines, samples, rejected
        self._lines = self._samples = self._bad = 0
        self.flood = False  # in this sampling window, every printable line is checked

    def garbage(self, piece: bytes | Overlong, now: float = 0.0) -> bool:
        if isinstance(piece, Overlong) or is_binary(piece, self.encoding):
            return True
        if self.classify is None:
            return False
        if now >= self._probe_start + self.window:
            self._probe_start, self._lines, self._samples, self._bad, self.flood = now, 0, 0, 0, False
        if self.flood:
            return self._rejected(piece)
        self._lines += 1
        if self._lines % self.sample:
            return False
        bad = self._rejected(piece)
        self._samples += 1
        self._bad += bad
        if self._samples >= FLOOD_SAMPLES and self._bad * 2 >= self._samples:
            self.flood = True
        return bad

    def _rejected(self, line: bytes) -> bool:
        try:
            return bool(self.classify(line))  # type: ignore[misc]
        except Exception:  # the check must not fail a line: the writer's parser will say what is wrong with it
            return False

    def admit(self, piece: bytes | Overlong, now: float, peer: str = "") -> bool:
        """True: keep the line (a record, or garbage within the limit); False: counted in the next summary."""
        if not self.garbage(piece, now):
            return True
        # a new window, unless a summary is pending: then the window ends when the summary is taken
        if (self._start is None or now >= self._start + self.window) and not self.suppressed:
            self._start, self._seen = now, 0
        self._seen += 1
        if self._seen <= self.limit:
            return True
        if not self.suppressed:
            self._first = now
        self.suppressed += 1
        self.total += 1
        self._last = now
        if peer in self._peers or len(self._peers) < 8:
            self._peers[peer] = self._peers.get(peer, 0) + 1
        return False

    def due(self, now: float) -> float | None:
        """Seconds until a summary is due (0: now), None when nothing was dropped."""
        if not self.suppressed or self._start is None:
            return None
        return max(0.0, self._start + self.window - now)

    def summary(self) -> tuple[int, float, float, list[str]] | None:
        """(lines dropped, first and last drop time, peers) since the last summary, and a new window; None if none."""
        if not self.suppressed:
            return None
        got = (self.suppressed, self._first, self._last, list(self._peers))
        self.suppressed, self._seen, self._start = 0, 0, None
        self._peers = {}
        return got
