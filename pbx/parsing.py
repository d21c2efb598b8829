"""Journal entries -> parsed items, with the same per-format parsers as file import (ingest/cdr).

SMDR lines go through the format's own `parse(stream, ctx)`, kept alive for the whole connection over a stream
fed line by line: parsers that carry state across lines (IP Office continuation segments, Mitel's 12/24-hour
guess) see the connection's lines in order, exactly as they would see a capture file. Every parser yields one item
per line, and the item's `line` says which fed line it belongs to, so each journal entry gets its item back.
AMI `Cdr` events are turned into the cdr_csv line they would have written (and parsed by the asterisk parser);
ESL `CHANNEL_HANGUP_COMPLETE` events into the mod_json_cdr document they would have written (freeswitch-json).
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Iterator
from typing import Any

from i18n import _
from ingest.cdr import CallRecord, Item, ParseContext, Reject, Skipped, parser
from ingest.cdr.model import dated

# journal kinds
LINE, OVERLONG, PARTIAL, AMI, ESL = "line", "overlong", "partial", "ami", "esl"
SUPPRESSED = "suppressed"  # the summary of a garbage flood (pbx.framing.GarbageGate): "N more garbage lines ..."
Entry = tuple[int, int, str, bytes]  # (journal id, received µs, kind, data)


class _Feed:
    """A read()-able stream the daemon pushes whole lines into; empty means 'no more for now'."""

    def __init__(self) -> None:
        self.chunks: deque[bytes] = deque()

    def read(self, _size: int = -1) -> bytes:
        return self.chunks.popleft() if self.chunks else b""


class LineParser:
    """One long-lived parse of a connection's lines."""

    def __init__(self, fmt: str, ctx: ParseContext) -> None:
        self.fmt = fmt
        self.ctx = ctx
        self.module = parser(fmt)
        self._start()

    def _start(self) -> None:
        self.feed = _Feed()
        self.gen: Iterator[Item] = self.module.parse(self.feed, self.ctx)  # type: ignore[arg-type]
        self.fed = 0  # lines fed to this generator

    def parse(self, entries: list[Entry]) -> list[tuple[int, Item]]:
        out: list[tuple[int, Item]] = []
        by_line: dict[int, int] = {}
        base = self.fed
        for k, (jid, _received, _kind, _data) in enumerate(entries):
            by_line[base + k + 1] = jid
        self.fed += len(entries)
        self.feed.chunks.append(b"".join(e[3] + b"\n" for e in entries))
        seen: set[int] = set()
        last = self.fed
        while True:
            try:
                self.ctx.reference = entries[min(len(seen), len(entries) - 1)][1] // 1_000_000
                item = next(self.gen)
            except StopIteration:  # the parser swallowed a line (should not happen): start afresh
                self._start()
                break
            jid = by_line.get(item.line)
            if jid is None or jid in seen:
                continue  # a second item for one line: the first one stands
            seen.add(jid)
            out.append((jid, item))
            if item.line == last:
                break
        for number, jid in by_line.items():
            if jid not in seen:
                out.append((jid, Reject(line=number, raw="", reason=_("parser produced nothing for this line"))))
        return out


class SourceParsers:
    """The parsers of one source: a LineParser per connection, and the stateless live-event conversions."""

    def __init__(self, fmt: str, ctx: ParseContext) -> None:
        self.fmt = fmt
        self.ctx = ctx
        self.lines: dict[Any, LineParser] = {}

    def close(self, conn: Any) -> None:
        self.lines.pop(conn, None)

    def parse(self, conn: Any, entries: list[Entry]) -> list[tuple[int, Item]]:
        out: list[tuple[int, Item]] = []
        run: list[Entry] = []
        for entry in entries:
            jid, received, kind, data = entry
            if kind == LINE:
                run.append(entry)
                continue
            if run:
                out += self._lines(conn, run)
                run = []
            text = data.decode(self.ctx.encoding, errors="replace")
            if kind == OVERLONG:
                out.append((jid, Reject(line=jid, raw=text, reason="line: " + _(
                    "longer than the line limit without a terminator (garbage?); skipped to the next"))))
            elif kind == PARTIAL:
                out.append((jid, Reject(line=jid, raw=text, reason="line: " + _(
                    "connection closed in the middle of it"))))
            elif kind == SUPPRESSED:
                count = text.split(" ", 1)[0]
                out.append((jid, Reject(line=jid, raw=text, reason="line: " + _(
                    "garbage flood: {count} line(s) counted, not kept (rate limit per source)").format(count=count))))
            elif kind == AMI:
                from pbx import ami

                self.ctx.reference = received // 1_000_000
                out.append((jid, dated(ami.cdr_item(text, jid, self.ctx))))
            elif kind == ESL:
                from pbx import esl

                self.ctx.reference = received // 1_000_000
                out.append((jid, dated(esl.hangup_item(text, jid, self.ctx))))
            else:
                out.append((jid, Reject(line=jid, raw=text, reason="journal: " + _(
                    "unknown record kind {kind}").format(kind=repr(kind)))))
        if run:
            out += self._lines(conn, run)
        return out

    def _lines(self, conn: Any, run: list[Entry]) -> list[tuple[int, Item]]:
        lp = self.lines.get(conn)
        if lp is None:
            if len(self.lines) > 256:
                self.lines.pop(next(iter(self.lines)))
            lp = self.lines[conn] = LineParser(self.fmt, self.ctx)
        return lp.parse(run)


def one_line(fmt: str, line: bytes, ctx: ParseContext) -> Item:
    """The item of a single line parsed on its own (tests, and the live-event conversions)."""
    items = list(parser(fmt).parse(io.BytesIO(line + b"\n"), ctx))
    return items[0] if items else Skipped(line=1, raw="", what="blank")


__all__ = ["AMI", "ESL", "LINE", "OVERLONG", "PARTIAL", "SUPPRESSED", "CallRecord", "LineParser", "SourceParsers",
           "one_line"]
