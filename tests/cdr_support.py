"""Shared helpers of the CDR parser tests (tests/test_cdr_*.py): the invariant every parser keeps, the documented
example rows of each format (for "sniff scores other formats low"), garbage bytes, and hypothesis strategies that
mutate valid lines."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from ingest.cdr.model import DIRECTIONS, DISPOSITIONS, CallRecord, Item, ParseContext, Reject, Skipped, lines

DATA = Path(__file__).parent / "data" / "cdr"
ZONE = "Europe/Paris"
PARIS = ParseContext(timezone=ZONE)
MAX_SECONDS = 7 * 86400  # longer is a corrupt record, not a call: every parser rejects it

ParseFn = Callable[[BinaryIO, ParseContext], Iterable[Item]]


def parse_checked(parser: Any, data: bytes, ctx: ParseContext = PARIS, *, native_ids: bool = False,
                  billable_slack: int = 0) -> list[Item]:
    """Parse `data` with a parser module (or its parse function) and check the invariant: one item per line, in
    order; every Reject says why (and is no internal error), every Skipped says what; every CallRecord has a known
    direction and disposition, 0 <= duration <= 7 days and 0 <= billable <= duration (+ `billable_slack` for
    formats that round talk time up). `native_ids`: every record has one (formats that make one up when the PBX
    writes none)."""
    parse: ParseFn = getattr(parser, "parse", parser)
    items = list(parse(io.BytesIO(data), ctx))
    count = sum(1 for _ in lines(io.BytesIO(data)))  # lines() splits bytes: the count does not depend on encoding
    assert len(items) == count
    assert [it.line for it in items] == list(range(1, count + 1))
    for it in items:
        if isinstance(it, Reject):
            assert it.reason and not it.reason.startswith("internal error"), it
        elif isinstance(it, Skipped):
            assert it.what, it
        else:
            assert isinstance(it, CallRecord), it
            assert 0 <= it.duration <= MAX_SECONDS, it
            assert 0 <= it.billable <= it.duration + billable_slack, it
            assert it.disposition in DISPOSITIONS and it.direction in DIRECTIONS, it
            assert it.native_id or not native_ids, it
    return items


def one(parser: Any, data: bytes, ctx: ParseContext = PARIS, **checks: Any) -> Item:
    """The single item of a one-line input, the invariant checked (`checks`: as for parse_checked)."""
    items = parse_checked(parser, data, ctx, **checks)
    assert len(items) == 1
    return items[0]


def records(items: Iterable[Item]) -> list[CallRecord]:
    return [it for it in items if isinstance(it, CallRecord)]


def local_utc(text: str, zone: str) -> int:
    """An ISO local time in `zone` -> UTC epoch seconds (the earlier instant in a DST fall-back hour)."""
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp())


# ------------------------------------------------------------------------------------------ other formats

# The invented example rows of each format in cdr-formats.md, for "sniff scores another format low". Line ends as
# the format is written: CR LF for the Avaya and Panasonic streams, LF for files.
OTHER_FORMATS: dict[str, bytes] = {
    "asterisk": b'"","2001","0155501234","from-internal","""Alice Martin"" <2001>","PJSIP/2001-0000002a",'
                b'"PJSIP/trunk-out-0000002b","Dial","PJSIP/0155501234@trunk-out,60","2025-03-14 10:15:02",'
                b'"2025-03-14 10:15:09","2025-03-14 10:17:41",159,152,"ANSWERED","DOCUMENTATION","1741943702.84",""\n'
                b'"","0155507788","2003","from-trunk","""0155507788"" <0155507788>","PJSIP/trunk-in-00000031",'
                b'"PJSIP/2003-00000032","Dial","PJSIP/2003,20","2025-03-14 10:20:11",,"2025-03-14 10:20:31",20,0,'
                b'"NO ANSWER","DOCUMENTATION","1741944011.97",""\n',
    "asterisk-custom": b'"""Alice Martin"" <2001>","2001","2002","internal","PJSIP/2001-00000040",'
                       b'"PJSIP/2002-00000041","Dial","PJSIP/2002,30","2025-03-14 11:02:00","","2025-03-14 11:02:30",'
                       b'"30","0","NO ANSWER","DOCUMENTATION","","1741946520.120","",9\n',
    "freeswitch": b'"Alice Martin","2001","0155501234","default","2025-03-14 10:15:02","2025-03-14 10:15:09",'
                  b'"2025-03-14 10:17:41","159","152","NORMAL_CLEARING","6f1c0d2e-3b4a-4c5d-9e8f-0a1b2c3d4e5f",'
                  b'"a93b7c61-2d4e-4f80-8a1b-5c6d7e8f9012","2001","PCMA","PCMA"\n'
                  b'"","0155507788","2003","public","2025-03-14 10:20:11","","2025-03-14 10:20:31","20","0",'
                  b'"NO_ANSWER","0c9d8e7f-1a2b-4c3d-8e9f-a0b1c2d3e4f5","","","PCMA","PCMA"\n',
    "freeswitch-json": b"""{"core-uuid":"1b2c3d4e-aaaa-4bbb-8ccc-0d0e0f101112","switchname":"fs1",
 "channel_data":{"direction":"outbound","state":"CS_REPORTING"},
 "variables":{"uuid":"6f1c0d2e-3b4a-4c5d-9e8f-0a1b2c3d4e5f","direction":"outbound","start_epoch":"1741943702",
  "answer_stamp":"2025-03-14%2010%3A15%3A09","duration":"159","billsec":"152","billmsec":"151870",
  "hangup_cause":"NORMAL_CLEARING","sip_gateway_name":"carrier_a","accountcode":"2001"},
 "callflow":[{"caller_profile":{"caller_id_number":"2001","destination_number":"0155501234"},
  "times":{"created_time":"1741943702120455","answered_time":"1741943709004120","hangup_time":"1741943860874310"}}]}
""",
    "cucm": b'1,1,730115,31550201,1741943702,1,0,588513546,"2001","",0,0,4,0,0,0,0,0,0,0,0,0,0,"0","0",31550202,1,0,'
            b'167837962,"90155501234","90155501234","",0,16,4,0,0,0,0,0,0,0,0,0,0,"0","0",1741943709,1741943861,"",'
            b'"3f2a9c1e-5b7d-4e60-9a41-0c8d2e7f1b55","PT_PSTN","PT_INTERNAL","PT_PSTN","",152,"SEP0A1B2C3D4E5F",'
            b'"SIPTRK_PSTN_A",12,0,0,0,0,0,0,"ANATOLE-LAB",0,"","",0,"4711",0,0,0,0,0,0,"","0155500001",'
            b'"0155501234","10.1.20.35","10.1.1.10",0,0,0,0,0,0,0,0,0,0,0,0,0,"",0,"",0,0,0,"","",2,"","","","","",'
            b'"","","",0,0,"","","","","","","","",0,0,0,"9.@","9.@","","","","","",""\n',
    # the head of a CUCM file as written: quoted names, unquoted types, then data
    "cucm-header": b'"cdrRecordType","globalCallID_callManagerId","globalCallID_callId"\nINTEGER,INTEGER,INTEGER\n'
                   b"1,1,730115\n",
    "avaya-ipo": b"2025/03/14 10:15:02,00:02:32,7,2001,O,0155501234,90155501234,4711,0,1000412,0,E2001,Alice Martin,"
                 b"T9001,Line 1.3,0,0,,,,,,,,,,,,,,10.1.20.5,3301,10.1.20.5,3302\r\n"
                 b"2025/03/14 10:30:45,00:00:41,4,0155507788,I,2001,,,0,1000415,1,E2001,Alice Martin,T9001,"
                 b"Line 1.4,0,0,,,,,,,,,,,,,,10.1.20.5,3311,10.1.20.5,3310\r\n"
                 b"2025/03/14 10:30:45,00:03:05,0,0155507788,I,2002,,,0,1000415,0,E2002,Bruno Keller,T9001,"
                 b"Line 1.4,0,0,,,,,,,,,,,,,,10.1.20.5,3318,10.1.20.5,3310\r\n"
                 b"2025/03/14 10:41:07,00:00:00,22,,I,2003,,,0,1000418,0,E2003,Reception,T9002,Line 2.1,0,0,,,,,,,,,,,"
                 b",,,10.1.20.5,3320,0.0.0.0,0\r\n",
    "avaya-cm": b"031425 1015 00152 7 9    101  0155501234         2001            4711       003\r\n",
    "mitel": b" 03/14 10:15P 00:02:32 2001  007 0155501234                  A      T001      4711\n",
    "panasonic": b"03/14/25 10:15AM   201 01 0155501234                0'07 00:02'32      \r\n"
                 b"03/14/25 02:40PM   202 02 <I>0155507788             0'12 00:01'05      \r\n",
    "3cx": b"Call 104233,00000C3A11B2F9E4_1187,00:02:32,2025/03/14 10:15:02,2025/03/14 10:15:09,2025/03/14 10:17:41,"
           b"TerminatedBySrc,Ext.201,0155501234,201,10000,90155501234,,0155501234,10000,,,,,"
           b"Chain: Ext.201'0155501234;\n"
           b"Call 104241,00000C3A11B30F77_1191,00:00:00,2025/03/14 10:41:07,,2025/03/14 10:41:29,TerminatedBySrc,"
           b"0155507788,Ext.203,10000,203,203,,Ext.203,203,,,,,Chain: 0155507788'Ext.203;\n",
    "teams": b'{"id":"5d0c1a2b-7e3f-4a5b-9c8d-1e2f3a4b5c6d","correlationId":"a1b2c3d4-0000-4e5f-8a9b-0c1d2e3f4a5b",'
             b'"startDateTime":"2025-03-14T09:15:09.120Z","duration":152,"callType":"ByotOut"}\n',
}


def other_formats(*own: str) -> dict[str, bytes]:
    """OTHER_FORMATS without the formats a test file is about."""
    assert set(own) <= set(OTHER_FORMATS), own
    return {name: rows for name, rows in OTHER_FORMATS.items() if name not in own}


# Every byte value, line ends of each kind, a PNG signature, JSON openers and a quote: no format's record.
GARBAGE = bytes(range(256)) + b"\x00\xff\xfe\r\r\n\n\x89PNG\r\n\x1a\n{{{\"\\" + bytes(range(255, -1, -3))


def mixed_newlines(data: bytes, ends: Sequence[bytes] = (b"\r\n", b"\n", b"\r")) -> bytes:
    """`data` (LF-ended lines) with its line ends taken from `ends` in turn; LF where a CR would come before an empty
    line (CR then LF would read as one CR LF)."""
    rows = data.split(b"\n")[:-1]
    cycle = [ends[i % len(ends)] for i in range(len(rows))]
    cycle = [b"\n" if end == b"\r" and rows[i + 1:i + 2] == [b""] else end for i, end in enumerate(cycle)]
    return b"".join(row + end for row, end in zip(rows, cycle))


# ------------------------------------------------------------------------------------------ random mutations

NEWLINES = [b"\n", b"\r\n", b"\r"]


def mutated_lines(valid: Sequence[str], pieces: Sequence[bytes], *, max_lines: int = 4, cell_sep: bytes | None = b" ",
                  head: bytes = b"") -> st.SearchStrategy[bytes]:
    """1 to `max_lines` lines from `valid`, each edited 0 to 4 times: delete 1-8 bytes, insert a piece or up to 4
    random bytes, replace a byte by a piece, truncate, or swap two cells split on `cell_sep` (None: on white
    space); then joined by one line end (LF, CR LF or CR), with or without a last one. `head`, if any, comes first
    as a line of its own."""

    @st.composite
    def strategy(draw: st.DrawFn) -> bytes:
        out = []
        for _ in range(draw(st.integers(1, max_lines))):
            line = draw(st.sampled_from(valid)).encode()
            for _ in range(draw(st.integers(0, 4))):
                i = draw(st.integers(0, len(line)))
                op = draw(st.sampled_from(["delete", "insert", "replace", "truncate", "swap"]))
                if op == "delete":
                    line = line[:i] + line[i + draw(st.integers(1, 8)):]
                elif op == "insert":
                    line = line[:i] + draw(st.sampled_from(pieces) | st.binary(max_size=4)) + line[i:]
                elif op == "replace":
                    line = line[:i] + draw(st.sampled_from(pieces)) + line[i + 1:]
                elif op == "truncate":
                    line = line[:i]
                else:
                    cells = line.split(cell_sep)
                    if cells:
                        j, k = draw(st.integers(0, len(cells) - 1)), draw(st.integers(0, len(cells) - 1))
                        cells[j], cells[k] = cells[k], cells[j]
                        line = (b" " if cell_sep is None else cell_sep).join(cells)
            out.append(line)
        sep = draw(st.sampled_from(NEWLINES))
        return (head + sep if head else b"") + sep.join(out) + draw(st.sampled_from([b"", sep]))

    return strategy()


ROW_OPS = ("cut", "insert", "delete", "replace", "comma")


def mutated_rows(valid: Sequence[str], *, max_rows: int, max_delete: int,
                 extra_ops: Sequence[str] = ()) -> st.SearchStrategy[bytes]:
    """1 to `max_rows` rows from `valid`, each edited 0 to 3 times: cut, insert 1-8 random bytes, delete 1 to
    `max_delete` bytes, replace a byte by a random one, insert a comma; `extra_ops` adds "quote" (insert a double
    quote) and/or "digit" (replace a byte by a digit). Each row gets its own line end (LF, CR LF or CR)."""
    assert set(extra_ops) <= {"quote", "digit"}, extra_ops
    ops = [*ROW_OPS, *extra_ops]

    @st.composite
    def strategy(draw: st.DrawFn) -> bytes:
        rows = draw(st.lists(st.sampled_from(valid), min_size=1, max_size=max_rows))
        out = []
        for row in rows:
            b = bytearray(row.encode())
            for _ in range(draw(st.integers(0, 3))):
                op = draw(st.sampled_from(ops))
                at = draw(st.integers(0, len(b)))
                if op == "cut":
                    b = b[:at]
                elif op == "insert":
                    b[at:at] = draw(st.binary(min_size=1, max_size=8))
                elif op == "delete":
                    del b[at:at + draw(st.integers(1, max_delete))]
                elif op == "replace" and at < len(b):
                    b[at] = draw(st.integers(0, 255))
                elif op == "comma":
                    b[at:at] = b","
                elif op == "quote":
                    b[at:at] = b'"'
                elif op == "digit" and at < len(b):
                    b[at] = draw(st.sampled_from(b"0123456789"))
            out.append(bytes(b))
        ends = draw(st.lists(st.sampled_from(NEWLINES), min_size=len(out), max_size=len(out)))
        return b"".join(x + e for x, e in zip(out, ends))

    return strategy()


def mutated_stream(valid: Sequence[bytes], inserts: Sequence[bytes], *,
                   breaks: Sequence[bytes] = (b"\n", b"\r", b"\r\n"), sep: bytes = b"\n",
                   max_pieces: int = 5) -> st.SearchStrategy[bytes]:
    """1 to `max_pieces` valid pieces (lines, or whole documents with `sep` b""), each followed by `sep`, then 0 to 6
    edits anywhere in the stream: delete 1-20 bytes, insert one of `inserts`, replace a byte, insert up to 12 random
    bytes, split (insert one of `breaks`), join (drop the next LF), truncate."""

    @st.composite
    def strategy(draw: st.DrawFn) -> bytes:
        data = bytearray(sep.join(draw(st.lists(st.sampled_from(valid), min_size=1, max_size=max_pieces))) + sep)
        for _ in range(draw(st.integers(0, 6))):
            op = draw(st.sampled_from(["delete", "insert", "replace", "bytes", "split", "join", "truncate"]))
            pos = draw(st.integers(0, len(data)))
            if op == "delete":
                del data[pos:pos + draw(st.integers(1, 20))]
            elif op == "insert":
                data[pos:pos] = draw(st.sampled_from(inserts))
            elif op == "replace" and pos < len(data):
                data[pos] = draw(st.integers(0, 255))
            elif op == "bytes":
                data[pos:pos] = draw(st.binary(max_size=12))
            elif op == "split":
                data[pos:pos] = draw(st.sampled_from(breaks))
            elif op == "join":
                nl = data.find(b"\n", pos)
                if nl >= 0:
                    del data[nl]
            elif op == "truncate":
                del data[pos:]
        return bytes(data)

    return strategy()
