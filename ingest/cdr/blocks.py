"""Columnar reading of a CDR file: blocks of lines scanned in Cython into arrays, for formats that have a scanner.

A block holds its bytes, the scanned fields of the lines the scanner could take whole (numbers in arrays, strings as
(offset, length) slices of the bytes) and, for every other line, the row parser's item (record, reject or skip with
its reason). Both kinds together are every line of the block, so the counts balance exactly as with the row parser,
and the records are the same: tests check the columnar path against the row parser line by line.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from ingest._slices import buffer, decode
from ingest.cdr import asterisk, cucm
from ingest.cdr._scan import (
    CUCM_COLUMNS,
    DIRECTIONS,
    DISPOSITIONS,
    SLICES,
    count_lines,
    hours_present,
    local_hours,
    scan_asterisk,
    scan_cucm,
    to_utc,
)
from ingest.cdr.model import EARLIEST, LATEST, CallRecord, Item, ParseContext, Skipped, dated

NONE = np.iinfo(np.int64).min  # an absent time or amount in the int64 columns
BLOCK_BYTES = 8 << 20
TAIL_ROOM = 64 << 10  # room past a block's bytes for the rest of its last line (raw_blocks)
ALIGN = 4096  # what O_DIRECT reads need of offsets, sizes and buffers (file_blocks)
HEAD = 64 << 10  # room before a block's aligned bytes for the rest of the line the block before left (file_blocks)
RAW = SLICES.index("raw")
ASCII_ENCODINGS = frozenset({"utf-8", "utf8", "ascii", "us-ascii", "latin-1", "iso-8859-1", "cp1252"})
_MIN_LOCAL, _MAX_LOCAL = 0, 4_102_444_800  # 1970..2100 naive local seconds: others go to the row parser

__all__ = ["DIRECTIONS", "DISPOSITIONS", "NONE", "SLICES", "Block", "blocks", "has_scanner", "raw_blocks",
           "scanner"]


@dataclass
class Block:
    buf: bytes | bytearray  # raw_blocks gives bytearrays (read in place); never changed once scanned
    first_line: int  # the number of the block's first line
    rows: np.ndarray  # int64: the scanned lines taken whole (indexes into the arrays below)
    line: np.ndarray  # int64 line numbers of every line of the block
    start: np.ndarray  # int64 UTC epoch seconds
    answer: np.ndarray  # int64 UTC epoch seconds, NONE when unanswered
    duration: np.ndarray  # int32
    billable: np.ndarray  # int32
    disposition: np.ndarray  # int8 code into DISPOSITIONS
    direction: np.ndarray  # int8 code into DIRECTIONS
    off: np.ndarray  # int64 (lines, len(SLICES)): where each string field starts in buf
    len: np.ndarray  # int32 (lines, len(SLICES))
    items: list[tuple[int, Item]]  # (line index, row parser item) for every other line, in order
    groups: np.ndarray | None = None  # int64 (lines, 2) where the group key is made of two numbers (CUCM)
    facts: bool = False  # the rows carry Facts slices (Asterisk): pipeline.columnar decides their direction
    # with facts: ids of each line's origin, target and (app, context, dial_tech, dial_peer) values, numbered within
    # the block by the scanner (int64 (lines, 3), -1 for lines it left), and the first line of each id (3 arrays)
    fact_ids: np.ndarray | None = None
    fact_first: list[np.ndarray] | None = None

    def group_keys(self, rows: np.ndarray) -> list[str]:
        if self.groups is None:
            off, ln = self.slice("group")
            return decode(self.buf, off, ln, rows)
        return [f"{a}-{b}" for a, b in self.groups[rows].tolist()]

    def slice(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(offsets, lengths) of one string field, for every line (meaningful on `rows`)."""
        k = SLICES.index(name)
        return self.off[:, k], self.len[:, k]


def has_scanner(fmt: str, encoding: str) -> bool:
    return fmt in _SCANNERS and encoding.lower() in ASCII_ENCODINGS


def scanner(fmt: str, ctx: ParseContext) -> _Scanner:
    """The block scanner of a format, for one file (it may carry state from block to block)."""
    return _SCANNERS[fmt](ctx)


def blocks(stream: BinaryIO, fmt: str, ctx: ParseContext, block_bytes: int = BLOCK_BYTES) -> Iterator[Block]:
    """The file as scanned blocks of whole lines, numbered as `ingest.cdr.model.lines` does."""
    scan = scanner(fmt, ctx)
    for buf, first, lines in raw_blocks(stream, block_bytes):
        yield scan.block(buf, first, lines)


def raw_blocks(stream: BinaryIO, block_bytes: int = BLOCK_BYTES) -> Iterator[tuple[bytearray, int, int]]:
    """(bytes, number of the first line, lines) of blocks of whole lines (a CR LF is never split), in order: about
    `block_bytes` read into a new buffer, then the rest of its last line. Each byte is copied once, from the file
    into the block (no joining of a block's tail to the next read, no slicing): the buffer has room for a last line
    of up to TAIL_ROOM bytes, so the rest of the line is put in place (a longer one grows it, copying the block)."""
    first = 1
    while True:
        buf = buffer(block_bytes + TAIL_ROOM)  # not zeroed: readinto fills it, the rest is cut off below
        with memoryview(buf) as view:
            got = stream.readinto(view[:block_bytes])
        if not got:
            return
        if buf[got - 1] != 10:  # '\n': the rest of the last line (through its LF; a file without any LF is one block)
            rest = stream.readline()
            buf[got:got + len(rest)] = rest
            got += len(rest)
        del buf[got:]
        lines = count_lines(buf)
        yield buf, first, lines
        first += lines


def file_blocks(path: str | os.PathLike[str], block_bytes: int = BLOCK_BYTES) -> Iterator[tuple[bytearray, int, int]]:
    """raw_blocks of a whole file, read around the page cache (O_DIRECT) where the system allows it: the disk puts
    each block's bytes in its buffer. Through the page cache, a file not cached yet first fills fresh cache pages
    (on the development VM 1.24 CPU-s for 595 MB the first time, against 0.09-0.10 s this way), and a nightly batch
    pushes everything else out of the cache; a cached file is only copied (0.12 CPU-s). Each read is `block_bytes` at
    an aligned offset into an aligned place of a new buffer; the start of the line the block before did not end is
    put just in front of it, and the block ends at its last line feed (a line longer than HEAD is joined with a
    copy). Where O_DIRECT is refused (tmpfs, a read failing with EINVAL, systems without it), the same reads go
    through the page cache. A short read is the end of the file: a file still growing is read as it was then."""
    if block_bytes <= 0 or block_bytes % ALIGN:
        raise ValueError(f"file_blocks: block_bytes must be a positive multiple of {ALIGN}")
    if not hasattr(os, "preadv"):  # (Windows) as a stream
        with open(path, "rb") as stream:
            yield from raw_blocks(stream, block_bytes)
        return
    direct = getattr(os, "O_DIRECT", 0)
    try:
        fd = os.open(path, os.O_RDONLY | direct)
    except OSError as exc:
        if not direct or exc.errno != errno.EINVAL:
            raise
        fd, direct = os.open(path, os.O_RDONLY), 0
    try:
        first, offset = 1, 0
        carry: list[bytes] = []  # the start of the line the last block did not end (more than one read: a long line)
        while True:
            buf = buffer(HEAD + block_bytes + ALIGN)  # not zeroed: the read fills it, the rest is cut off below
            with memoryview(buf) as view:
                skip = HEAD + (-(np.frombuffer(view, np.uint8, 1).ctypes.data + HEAD)) % ALIGN
                while True:
                    try:
                        got = _read_fully(fd, view[skip:skip + block_bytes], offset)
                        break
                    except OSError as exc:
                        if not direct or exc.errno != errno.EINVAL:
                            raise
                        os.close(fd)  # refused after all: the page cache, from the same offset
                        fd, direct = os.open(path, os.O_RDONLY), 0
            offset += got
            done = got < block_bytes
            end = skip + got if done else buf.rfind(b"\n", skip, skip + got) + 1
            if not end:  # no line ends in these bytes: all of them the start of a longer line
                carry.append(bytes(buf[skip:skip + got]))
                continue
            head = b"".join(carry)
            rest = bytes(buf[end:skip + got])
            if len(head) <= skip:
                buf[skip - len(head):skip] = head
                del buf[end:]
                del buf[:skip - len(head)]  # (a bytearray drops its front without moving the rest)
            else:
                buf = bytearray(head) + buf[skip:end]
            carry = [rest] if rest else []
            if buf:
                lines = count_lines(buf)
                yield buf, first, lines
                first += lines
            if done:
                return
    finally:
        os.close(fd)


def _read_fully(fd: int, view: memoryview, offset: int) -> int:
    """Read into all of `view` from `offset`, less only at the end of the file."""
    got = 0
    while got < len(view):
        k = os.preadv(fd, [view[got:]], offset + got)
        if not k:
            break
        got += k
    return got


class _Scanner:
    """Scans blocks of one file. `stateless`: blocks may be scanned in any order, on several threads."""

    stateless = True

    def __init__(self, ctx: ParseContext) -> None:
        self.ctx = ctx

    def block(self, buf: bytes | bytearray, first: int, lines: int = -1) -> Block:
        """The block of `buf`, whose first line is number `first`; `lines`: count_lines(buf) if known."""
        raise NotImplementedError

    def _finish(self, buf: bytes | bytearray, first: int, s: dict[str, Any], items: list[tuple[int, Item]]) -> Block:
        fallback = s["fallback"]
        n = int(s["lines"])
        # the dates the row parsers check (model.dated): a scanned line whose start or answer lies outside
        # 1970..2099 is rejected with its text, as the row parser would
        start, answer = s["start"], s["answer"]
        odd = ~fallback & ((start < EARLIEST) | (start >= LATEST) | ((answer != NONE) & ((answer < EARLIEST)
                                                                                          | (answer >= LATEST))))
        items = [(i, dated(item)) for i, item in items]
        if odd.any():
            for i in np.flatnonzero(odd).tolist():
                raw = buf[s["line_start"][i]:s["line_end"][i]].decode(self.ctx.encoding, errors="replace")
                record = CallRecord(line=first + i, native_id="", start=int(start[i]), raw=raw,
                                    answer=None if answer[i] == NONE else int(answer[i]))
                items.append((i, dated(record)))
            fallback = fallback | odd
            items.sort(key=lambda pair: pair[0])
        return Block(buf=buf, first_line=first, rows=np.flatnonzero(~fallback).astype(np.int64),
                     line=np.arange(first, first + n, dtype=np.int64), start=s["start"], answer=s["answer"],
                     duration=s["duration"], billable=s["billable"], disposition=s["disposition"],
                     direction=s["direction"], off=s["off"], len=s["len"], items=items, groups=s.get("group"))


class _Asterisk(_Scanner):
    def block(self, buf: bytes | bytearray, first: int, lines: int = -1) -> Block:
        ctx = self.ctx
        s = scan_asterisk(buf, lines)
        fallback = s["fallback"]
        start, answer = s["start"], s["answer"]
        flags = fallback.view(np.uint8)
        # local -> UTC by whole local hours; times out of 1970..2100 or in an hour with a DST change: row parser
        low, high = local_hours(start, answer, flags, _MIN_LOCAL, _MAX_LOCAL)
        offset = np.zeros(high - low + 1, np.int64)
        known = np.zeros(high - low + 1, np.uint8)
        for at in np.flatnonzero(hours_present(start, answer, flags, low, high - low + 1)).tolist():
            hour_offset = ctx.hour_offset(low + at)
            if hour_offset is not None:
                offset[at], known[at] = hour_offset, 1
        to_utc(start, answer, flags, offset, known, low)
        starts, ends = s["line_start"], s["line_end"]
        items = [(i, asterisk.parse_line(first + i, buf[starts[i]:ends[i]].decode(ctx.encoding, errors="replace"),
                                         ctx))
                 for i in np.flatnonzero(fallback).tolist()]
        block = self._finish(buf, first, s, items)
        block.facts, block.fact_ids, block.fact_first = True, s["fact_ids"], s["fact_first"]
        return block


class _Cucm(_Scanner):
    """The header line sets the column map for the lines after it, so blocks are scanned in order."""

    stateless = False

    def __init__(self, ctx: ParseContext) -> None:
        super().__init__(ctx)
        self.reader = cucm.Reader(ctx)
        self.prefixes = [p.encode("ascii") for p in self.reader.prefixes]

    def _columns(self) -> tuple[np.ndarray, int]:
        header = self.reader.header
        if header is None:
            return np.full(len(CUCM_COLUMNS), -1, np.int32), 0
        return np.array([header.get(name.lower(), -1) for name in CUCM_COLUMNS], np.int32), self.reader.header_len

    def block(self, buf: bytes | bytearray, first: int, lines: int = -1) -> Block:
        parts: list[dict[str, Any]] = []
        items: list[tuple[int, Item]] = []
        begin, base = 0, 0  # byte offset and line index where the current scan starts
        while True:
            columns, width = self._columns()
            s = scan_cucm(buf, begin, columns, width, self.prefixes)
            restart = None
            for i in np.flatnonzero(s["fallback"]).tolist():
                text = buf[s["line_start"][i]:s["line_end"][i]].decode(self.ctx.encoding, errors="replace")
                item = self.reader.line(first + base + i, text)
                items.append((base + i, item))
                if isinstance(item, Skipped) and item.what == "header":
                    restart = i  # the lines after it have another column map: scan them again
                    break
            if restart is None:
                parts.append(s)
                break
            parts.append({key: (value[:restart + 1] if isinstance(value, np.ndarray) else restart + 1)
                          for key, value in s.items()})
            begin = int(s["line_end"][restart])
            begin += 2 if buf[begin:begin + 2] == b"\r\n" else 1
            base += restart + 1
            if begin >= len(buf):
                break
        merged = {key: (np.concatenate([p[key] for p in parts]) if isinstance(parts[0][key], np.ndarray)
                        else sum(p[key] for p in parts)) for key in parts[0]}
        return self._finish(buf, first, merged, items)


_SCANNERS: dict[str, type[_Scanner]] = {"asterisk": _Asterisk, "cucm": _Cucm}
