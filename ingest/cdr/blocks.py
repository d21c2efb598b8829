"""Columnar reading of a CDR file: blocks of lines scanned in Cython into arrays, for formats that have a scanner.

A block holds its bytes, the scanned fields of the lines the scanner could take whole (numbers in arrays, strings as
(offset, length) slices of the bytes) and, for every other line, the row parser's item (record, reject or skip with
its reason). Both kinds together are every line of the block, so the counts balance exactly as with the row parser,
and the records are the same: tests check the columnar path against the row parser line by line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, BinaryIO

import numpy as np

from ingest.cdr import asterisk
from ingest.cdr._asterisk_scan import DIRECTIONS, DISPOSITIONS, SLICES, count_lines, scan
from ingest.cdr.model import Item, ParseContext

NONE = np.iinfo(np.int64).min  # an absent time or amount in the int64 columns
BLOCK_BYTES = 8 << 20
_MIN_LOCAL, _MAX_LOCAL = 0, 4_102_444_800  # 1970..2100 naive local seconds: others go to the row parser

# format -> (block scanner, the row parser of one line)
SCANNERS: dict[str, tuple[Callable[[bytes], dict[str, Any]], Callable[[int, str, ParseContext], Item]]] = {
    "asterisk": (scan, asterisk.parse_line),
}
RAW = SLICES.index("raw")
ASCII_ENCODINGS = frozenset({"utf-8", "utf8", "ascii", "us-ascii", "latin-1", "iso-8859-1", "cp1252"})

__all__ = ["DIRECTIONS", "DISPOSITIONS", "NONE", "SLICES", "Block", "blocks", "has_scanner", "raw_blocks", "scan_block"]


@dataclass
class Block:
    buf: bytes
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
    format: str = "asterisk"

    def without(self, lines: np.ndarray, ctx: ParseContext) -> Block:
        """The same block with these scanned lines handed to the row parser instead."""
        _, parse_line = SCANNERS[self.format]
        items = dict(self.items)
        for i in lines.tolist():
            items[i] = parse_line(int(self.line[i]), self.buf[self.off[i, RAW]:self.off[i, RAW] + self.len[i, RAW]]
                                  .decode("ascii"), ctx)
        return replace(self, rows=np.setdiff1d(self.rows, lines), items=sorted(items.items(), key=lambda x: x[0]))

    def slice(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(offsets, lengths) of one string field, for every line (meaningful on `rows`)."""
        k = SLICES.index(name)
        return self.off[:, k], self.len[:, k]


def has_scanner(fmt: str, encoding: str) -> bool:
    return fmt in SCANNERS and encoding.lower() in ASCII_ENCODINGS


def blocks(stream: BinaryIO, fmt: str, ctx: ParseContext, block_bytes: int = BLOCK_BYTES) -> Iterator[Block]:
    """The file as scanned blocks of whole lines, numbered as `ingest.cdr.model.lines` does."""
    for buf, first in raw_blocks(stream, block_bytes):
        yield scan_block(buf, first, ctx, fmt)


def raw_blocks(stream: BinaryIO, block_bytes: int = BLOCK_BYTES) -> Iterator[tuple[bytes, int]]:
    """(bytes, number of the first line) of blocks of whole lines (a CR LF is never split), ready for scan_block:
    the split is cheap and in order, the scans may then run on several threads."""
    rest = b""
    first = 1
    while True:
        data = stream.read(block_bytes)
        buf = rest + data if rest else data
        if not data:
            if buf:
                yield buf, first
            return
        cut = buf.rfind(b"\n") + 1
        if cut == 0:
            rest = buf  # no line end yet: a very long line, read on
            continue
        rest = buf[cut:]
        yield buf[:cut], first
        first += count_lines(buf[:cut])


def scan_block(buf: bytes, first: int, ctx: ParseContext, fmt: str) -> Block:
    """Scan one block of whole lines; the lines the scanner leaves are parsed by the row parser."""
    scanner, parse_line = SCANNERS[fmt]
    s = scanner(buf)
    n = int(s["lines"])
    fallback = s["fallback"]
    start, answer = s["start"], s["answer"]
    taken = ~fallback
    answered = taken & (answer != NONE)
    # local -> UTC by whole local hours; times out of 1970..2100 or in an hour with a DST change: row parser
    out_of_range = taken & ((start < _MIN_LOCAL) | (start >= _MAX_LOCAL))
    out_of_range |= answered & ((answer < _MIN_LOCAL) | (answer >= _MAX_LOCAL))
    fallback |= out_of_range
    taken = ~fallback
    answered &= taken
    utc_start = np.full(n, NONE, np.int64)
    utc_answer = np.full(n, NONE, np.int64)
    if taken.any():
        stamps = np.concatenate([start[taken], answer[answered]])
        hours, inverse = np.unique(stamps // 3600, return_inverse=True)
        offsets = np.array([ctx.hour_offset(int(h)) for h in hours], dtype=object)
        unknown = np.array([o is None for o in offsets], dtype=bool)
        offset = np.where(unknown, 0, offsets).astype(np.int64)
        utc = stamps - offset[inverse]
        bad = unknown[inverse]
        k = int(taken.sum())
        utc_start[taken] = utc[:k]
        utc_answer[answered] = utc[k:]
        bad_rows = np.zeros(n, bool)
        bad_rows[np.flatnonzero(taken)[bad[:k]]] = True
        bad_rows[np.flatnonzero(answered)[bad[k:]]] = True
        fallback |= bad_rows
    items: list[tuple[int, Item]] = []
    if fallback.any():
        starts, ends = s["line_start"], s["line_end"]
        for i in np.flatnonzero(fallback).tolist():
            text = buf[starts[i]:ends[i]].decode(ctx.encoding, errors="replace")
            items.append((i, parse_line(first + i, text, ctx)))
    return Block(buf=buf, first_line=first, rows=np.flatnonzero(~fallback).astype(np.int64),
                 line=np.arange(first, first + n, dtype=np.int64), start=utc_start, answer=utc_answer,
                 duration=s["duration"], billable=s["billable"], disposition=s["disposition"],
                 direction=s["direction"], off=s["off"], len=s["len"], items=items, format=fmt)
