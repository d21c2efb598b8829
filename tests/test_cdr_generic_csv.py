"""Generic CSV through a profile: documented rows read by a profile, an invented export, bad profiles, bad input,
and mutations."""

from __future__ import annotations

import datetime as dt
import io
import random
from typing import Any

import pytest
from cdr_support import DATA, ZONE, local_utc, mixed_newlines, mutated_lines, parse_checked, records
from hypothesis import given
from hypothesis import strategies as st

from ingest.cdr import generic_csv, parser
from ingest.cdr.model import CallRecord, ParseContext, Reject, Skipped

FIXTURE = DATA / "generic.csv"
PROFILE: dict[str, Any] = {
    "delimiter": ";", "time_format": "%d/%m/%Y %H:%M:%S", "duration_format": "hh:mm:ss",
    "id": "Call ID", "start": "Start", "answer": "Answer", "end": "End", "billable": "Talk", "caller": "From",
    "dialled": "To", "extension": "Ext", "trunk": "Trunk", "account": "Account", "disposition": "Status",
    "direction": "Dir",
    "disposition_map": {"ANSWERED": "answered", "NO ANSWER": "no_answer", "BUSY": "busy", "FAILED": "failed"},
    "direction_map": {"IN": "incoming", "OUT": "outgoing", "INT": "internal"},
}
# Asterisk cdr_csv Master.csv (cdr-formats.md 1.1) read as "a format nobody wrote a parser for": no header.
ASTERISK_PROFILE: dict[str, Any] = {
    "header": False, "account": 1, "caller": 2, "dialled": 3, "channel": 6, "dest_channel": 7, "start": 10,
    "answer": 11, "end": 12, "duration": 13, "billable": 14, "disposition": 15, "id": 17,
    "trunk_pattern": r"^PJSIP/(?P<trunk>trunk-[a-z]+)-", "internal_pattern": r"^PJSIP/\d+-",
}
ASTERISK_ROWS = (
    b'"","2001","0155501234","from-internal","""Alice Martin"" <2001>","PJSIP/2001-0000002a",'
    b'"PJSIP/trunk-out-0000002b","Dial","PJSIP/0155501234@trunk-out,60","2025-03-14 10:15:02",'
    b'"2025-03-14 10:15:09","2025-03-14 10:17:41",159,152,"ANSWERED","DOCUMENTATION","1741943702.84",""\n'
    b'"","0155507788","2003","from-trunk","""0155507788"" <0155507788>","PJSIP/trunk-in-00000031",'
    b'"PJSIP/2003-00000032","Dial","PJSIP/2003,20","2025-03-14 10:20:11",,"2025-03-14 10:20:31",20,0,"NO ANSWER",'
    b'"DOCUMENTATION","1741944011.97",""\n'
)


def at(text: str) -> int:
    return local_utc(text, ZONE)


def run(data: bytes, profile: dict[str, Any] | None = None) -> list:
    """Parse with PROFILE (or `profile`). Talk time and duration are each rounded to the second: the parser lets
    talk time pass the duration by one."""
    ctx = ParseContext(timezone=ZONE, reference=at("2025-03-15 12:00"), profile=PROFILE if profile is None else profile)
    return parse_checked(generic_csv, data, ctx, native_ids=True, billable_slack=1)


def with_(**changes: Any) -> dict[str, Any]:
    p = dict(PROFILE)
    p.update(changes)
    return {k: v for k, v in p.items() if v is not None}


HEAD = b"Call ID;Start;Answer;End;Talk;From;To;Ext;Trunk;Account;Status;Dir;Name\n"


def test_registry_and_sniff() -> None:
    assert parser("csv:pbx-export").module is generic_csv  # its parse checks the dates (ingest.cdr._Dated)
    assert generic_csv.sniff(FIXTURE.read_bytes()) == 0 and generic_csv.sniff(b"\xff" * 9) == 0


def test_asterisk_rows_through_a_profile() -> None:
    assert generic_csv.validate_profile(ASTERISK_PROFILE, "csv.asterisk") == []
    out, inc = run(ASTERISK_ROWS, ASTERISK_PROFILE)
    assert (out.start, out.answer, out.duration, out.billable) == (
        at("2025-03-14 10:15:02"), at("2025-03-14 10:15:09"), 159, 152)
    assert (out.direction, out.disposition, out.trunk, out.extension, out.caller, out.dialled, out.native_id) == (
        "outgoing", "answered", "trunk-out", "2001", "2001", "0155501234", "1741943702.84")
    assert (inc.answer, inc.duration, inc.billable, inc.disposition) == (None, 20, 0, "no_answer")
    assert (inc.direction, inc.trunk, inc.extension, inc.caller) == ("incoming", "trunk-in", "2003", "0155507788")


def test_fixture() -> None:
    items = run(FIXTURE.read_bytes())
    assert len(items) == 17
    skipped = {it.line: it.what for it in items if isinstance(it, Skipped)}
    assert skipped == {1: "header", 5: "blank", 8: "continuation of the record on line 7", 12: "header (repeated)",
                       14: "empty row"}
    assert not [it for it in items if isinstance(it, Reject)]
    got = {it.line: (it.native_id, it.direction, it.disposition, it.extension, it.trunk, it.dialled, it.account,
                     it.duration, it.billable) for it in records(items)}
    assert got == {
        2: ("c-1001", "outgoing", "answered", "2001", "SIP-A", "0155501234", "4711", 159, 152),
        3: ("c-1002", "incoming", "no_answer", "2003", "SIP-A", "2003", "", 20, 0),
        4: ("c-1003", "internal", "answered", "2001", "", "2002", "", 64, 60),  # delimiter inside quotes
        6: ("c-1004", "outgoing", "busy", "2002", "SIP-B", "0155509999", "", 12, 0),  # doubled quotes
        7: ("c-1005", "outgoing", "answered", "2004", "SIP-B", "00441632960123", "9001", 3605, 3600),  # 2 lines
        9: (f"{at('2025-03-14 10:40:00')}-2005-*97-63", "internal", "answered", "2005", "", "*97", "", 63, 60),
        10: ("c-1007", "outgoing", "answered", "2001", "SIP-A", "0155501234", "", 65, 60),
        11: ("c-1008", "outgoing", "answered", "2001", "SIP-A", "0155501234", "", 65, 60),
        13: ("c-1009", "incoming", "answered", "2003", "SIP-A", "2003", "", 130, 120),
        15: ("c-1010", "outgoing", "failed", "2006", "SIP-A", "0155501234", "", 32, 30),
        16: ("c-1011", "incoming", "no_answer", "2003", "SIP-A", "2003", "", 0, 0),
        17: ("c-1012", "", "answered", "2007", "SIP-A", "0155501234", "", 61, 60),
    }
    by_line = {it.line: it for it in items}
    assert by_line[2].start == at("2025-03-14 10:15:02") and by_line[2].answer == at("2025-03-14 10:15:09")
    assert by_line[3].answer is None
    assert "two lines" in by_line[7].raw
    assert by_line[10].start == int(dt.datetime(2025, 10, 26, 0, 30, tzinfo=dt.timezone.utc).timestamp())  # fold
    assert isinstance(by_line[11], CallRecord)  # 02:30 does not exist on 30 March: no crash


def test_header_false_and_other_time_formats() -> None:
    base = {"header": False, "start": 1, "dialled": 2, "duration": 3}
    epoch = run(b"1741943702,0155501234,152\n", {**base, "time_format": "epoch"})
    assert (epoch[0].start, epoch[0].duration, epoch[0].billable) == (1741943702, 152, 152)
    assert "billable from duration" in epoch[0].notes
    ms = run(b"1741943702120,0155501234,2.5\n", {**base, "time_format": "epoch_ms", "duration_format": "minutes"})
    assert (ms[0].start, ms[0].duration) == (1741943702, 150)
    iso = run(b"2025-03-14T09:15:09Z,0155501234,151.6\n2025-03-14 10:15:09,0155501234,10\n",
              {**base, "time_format": "iso"})
    assert iso[0].start == 1741943709 and iso[0].duration == 152  # an explicit offset wins over the zone
    assert iso[1].start == at("2025-03-14 10:15:09")
    tz = run(b"2025-03-14 10:15:09,0155501234,10\n", {**base, "timezone": "America/New_York"})
    assert tz[0].start == int(dt.datetime(2025, 3, 14, 14, 15, 9, tzinfo=dt.timezone.utc).timestamp())


def test_epoch_zero_answer_means_never() -> None:
    prof = {"header": False, "start": 1, "answer": 2, "end": 3, "dialled": 4, "time_format": "epoch"}
    (r,) = run(b"1741943702,0,1741943722,0155501234\n", prof)
    assert (r.answer, r.duration, r.billable, r.disposition) == (None, 20, 0, "no_answer")


def test_direction_patterns_on_trunk_column() -> None:
    prof = {"start": "s", "dialled": "d", "duration": "t", "trunk": "tr", "trunk_pattern": r"^SIP/(\w+)",
            "internal_pattern": "^LOCAL$"}
    rows = run(b"s,d,t,tr\n2025-03-14 10:00:00,2002,5,LOCAL\n2025-03-14 10:00:00,0155501234,5,SIP/carrier-0001\n",
               prof)
    assert [(r.direction, r.trunk) for r in records(rows)] == [("internal", ""), ("", "carrier")]


def test_latin1_encoding_and_tab_delimiter() -> None:
    prof = {"start": "Début", "dialled": "Numéro", "duration": "Durée", "delimiter": "\t", "encoding": "cp1252"}
    rows = run("Début\tNuméro\tDurée\n2025-03-14 10:00:00\t0155501234\t42\n".encode("cp1252"), prof)
    assert records(rows)[0].duration == 42


BAD_PROFILES = [
    ({"start": "s", "dialled": "d"}, ["no talk-time source"]),
    ({"dialled": "d", "duration": "t"}, ["missing required column mapping 'start'"]),
    ({"start": "s", "dialed": "d", "duration": "t"}, ["csv.x.dialed: unknown key (did you mean 'dialled'?)",
                                                       "missing required column mapping 'dialled'"]),
    ({**PROFILE, "header": "yes"}, ["csv.x.header = 'yes': must be true or false"]),
    ({**PROFILE, "header": False}, ["csv.x.start = 'Start': header = false: give the column as a 1-based number"]),
    ({**PROFILE, "start": 0}, ["csv.x.start = 0: column numbers start at 1"]),
    ({**PROFILE, "start": ["a"]}, ["csv.x.start = ['a']: must be a column name"]),
    ({**PROFILE, "delimiter": ";;"}, ["csv.x.delimiter = ';;': must be exactly one character"]),
    ({**PROFILE, "quotechar": ";"}, ["csv.x.quotechar = ';': must differ from the delimiter"]),
    ({**PROFILE, "encoding": "klingon"}, ["csv.x.encoding = 'klingon': is not a known text encoding"]),
    ({**PROFILE, "encoding": "base64"}, ["csv.x.encoding = 'base64': is not a known text encoding"]),
    ({**PROFILE, "time_format": "YYYY-MM-DD"}, ["csv.x.time_format = 'YYYY-MM-DD': must be a strptime format"]),
    ({**PROFILE, "time_format": "%H:%M:%S"}, ["csv.x.time_format = '%H:%M:%S': does not hold a full date and time"]),
    ({**PROFILE, "time_format": "%Y-%m-%d %H:%M:%Q"}, ["csv.x.time_format = '%Y-%m-%d %H:%M:%Q': is not a usable"]),
    ({**PROFILE, "duration_format": "hms"}, ["csv.x.duration_format = 'hms': must be one of seconds, hh:mm:ss"]),
    ({**PROFILE, "timezone": "Paris"}, ["csv.x.timezone = 'Paris': is not an IANA time zone"]),
    ({**PROFILE, "skip_lines": -1}, ["csv.x.skip_lines = -1: must be a whole number >= 0"]),
    ({**PROFILE, "disposition_map": {"OK": "success"}}, ["csv.x.disposition_map.OK = 'success': must be one of"]),
    ({**PROFILE, "direction_map": "IN=incoming"}, ["csv.x.direction_map = 'IN=incoming': must be a table"]),
    ({**with_(disposition=None)}, ["csv.x.disposition_map = {", "no 'disposition' column is mapped"]),
    ({**PROFILE, "trunk_pattern": "(["}, ["csv.x.trunk_pattern = '([': is not a regular expression"]),
    ({"start": "s", "dialled": "d", "duration": "t", "internal_pattern": "^x"},
     ["csv.x.internal_pattern = '^x': needs a 'channel', 'dest_channel' or 'trunk' column"]),
]


@pytest.mark.parametrize(("profile", "expected"), BAD_PROFILES)
def test_bad_profiles_give_clear_messages(profile: dict[str, Any], expected: list[str]) -> None:
    errors = generic_csv.validate_profile(profile, "csv.x")
    for want in expected:
        assert any(want in e for e in errors), (want, errors)

    class Unreadable(io.BytesIO):
        def read(self, *args: Any) -> bytes:
            raise AssertionError("read before the profile was checked")

    with pytest.raises(ValueError) as exc:
        generic_csv.parse(Unreadable(), ParseContext(profile=profile))  # raises at the call, reads nothing
    assert expected[0] in str(exc.value).replace("csv profile", "csv.x")


def test_valid_profiles_and_non_table() -> None:
    assert generic_csv.validate_profile(PROFILE, "csv.x") == []
    assert generic_csv.validate_profile("start=1", "csv.x") == ["csv.x: must be a table of settings, not str"]


def test_missing_header_column() -> None:
    items = run(HEAD.replace(b"Talk", b"Talk time") + b"c;14/03/2025 10:00:00;;;;1;2;3;;;BUSY;OUT;\n")
    assert isinstance(items[0], Reject) and "billable = 'Talk'" in items[0].reason
    assert isinstance(items[1], Reject) and items[1].reason == items[0].reason


@pytest.mark.parametrize(("row", "reason"), [
    (b"c;14/03/2025 10:00:00;;;;2001;0155501234;2001;;;BUSY;OUT\n", "fields: 12 fields, the header on line 1 has 13"),
    (b"c;14/03/2025 10:00:00;;;;2001;0155501234;2001;;;BUSY;OUT;x;y\n", "fields: 14 fields"),
    (b"c\n", "fields: 1 fields"),
    (b"c;2025-03-14 10:00:00;;;00:00:10;2001;0155501234;2001;;;ANSWERED;OUT;\n", "start: '2025-03-14 10:00:00' is not"),
    (b"c;31/02/2025 10:00:00;;;00:00:10;2001;0155501234;2001;;;ANSWERED;OUT;\n", "start: '31/02/2025 10:00:00'"),
    (b"c;;;;00:00:10;2001;0155501234;2001;;;ANSWERED;OUT;\n", "start: empty"),
    (b"c;14/03/2025 10:00:00;;;00:99:10;2001;0155501234;2001;;;ANSWERED;OUT;\n", "billable: '00:99:10' is not"),
    (b"c;14/03/2025 10:00:00;;;-00:00:10;2001;0155501234;2001;;;ANSWERED;OUT;\n", "billable: '-00:00:10' is not"),
    (b"c;14/03/2025 10:00:00;;;999:00:00;2001;0155501234;2001;;;ANSWERED;OUT;\n", "longer than 7 days"),
    (b"c;14/03/2025 10:00:00;;14/03/2025 09:00:00;;2001;0155501234;2001;;;ANSWERED;OUT;\n", "end: '14/03/2025 09"),
    (b"c;14/03/2025 10:00:00;;24/03/2025 10:00:00;;2001;0155501234;2001;;;NO ANSWER;OUT;\n", "longer than 7 days"),
    (b"c;14/03/2025 10:00:00;14/03/2025 10:00:01;14/03/2025 10:00:11;00:05:00;2001;0155501234;2001;;;ANSWERED;OUT;"
     b"\n", "billable: 300 s is longer than the duration of 11 s"),
    (b"c;14/03/2025 10:00:00;;;00:00:10;2001;0155501234;2001;;;CONGESTION;OUT;\n", "disposition: 'CONGESTION' is not"),
    (b"c;14/03/2025 10:00:00;;;00:00:10;2001;0155501234;2001;;;ANSWERED;SIDEWAYS;\n", "direction: 'SIDEWAYS' is not"),
])
def test_bad_rows_are_rejected_with_the_field(row: bytes, reason: str) -> None:
    items = run(HEAD + row)
    assert isinstance(items[1], Reject), items[1]
    assert reason in items[1].reason, items[1].reason


def test_empty_answer_means_no_talk_time() -> None:
    (r,) = records(run(HEAD + b"c;14/03/2025 10:00:00;;;;2001;0155501234;2001;;;ANSWERED;OUT;\n"))
    assert (r.billable, r.duration, r.answer) == (0, 0, None)


def test_duration_formats() -> None:
    base = {"header": False, "start": 1, "dialled": 2, "billable": 3}
    items = run(b"".join(b"2025-03-14 10:00:00,1,%s\n" % v for v in (b"12", b"12.5", b"1e400", b"x")), base)
    assert [getattr(it, "billable", None) for it in items] == [12, 13, None, None]
    assert "billable: '1e400'" in items[2].reason and "billable: 'x' is not a number of seconds" in items[3].reason
    items = run(b"2025-03-14 10:00:00,1,2:05\n2025-03-14 10:00:00,1,1:02:05.4\n2025-03-14 10:00:00,1,5\n",
                {**base, "duration_format": "hh:mm:ss"})
    assert [getattr(it, "billable", None) for it in items[:2]] == [125, 3725]
    assert "billable: '5' is not hh:mm:ss" in items[2].reason


def test_unclosed_quote_at_the_end() -> None:
    good = b"c-2;14/03/2025 11:00:00;;;00:00:10;2001;0155501234;2001;;;ANSWERED;OUT;\n"
    items = run(HEAD + b'c-1;14/03/2025 10:00:00;;;00:00:10;2001;0155501234;2001;;;ANSWERED;OUT;"oops\n' + good)
    assert isinstance(items[1], Reject) and items[1].reason.startswith("quoted field: the quote opened on line 2")
    assert isinstance(items[2], CallRecord) and items[2].native_id == "c-2"  # reading resumed


def test_unclosed_quote_is_bounded() -> None:
    good = b"".join(b"c-%d;14/03/2025 11:00:00;;;00:00:10;2001;0155501234;2001;;;ANSWERED;OUT;\n" % i
                    for i in range(200))
    items = run(HEAD + b'"c-1;14/03/2025 10:00:00\n' + good)
    assert isinstance(items[1], Reject) and "not closed within 50 lines" in items[1].reason
    assert len(records(items)) == 200


def test_invalid_utf8() -> None:
    row = b"c-\xff;14/03/2025 10:00:00;;;00:00:10;2001;0155501234;2001;;;ANSWERED;OUT;Ren\xe9\n"
    bad_start = b"c;14/03/2025 1\xff:00:00;;;00:00:10;2001;0155501234;2001;;;ANSWERED;OUT;\n"
    items = run(HEAD + row + bad_start)
    assert isinstance(items[1], CallRecord) and items[1].native_id == "c-\ufffd"
    assert isinstance(items[2], Reject) and items[2].reason.startswith("start:")


def test_mixed_line_endings() -> None:
    mixed = mixed_newlines(FIXTURE.read_bytes())
    want = [(type(it), getattr(it, "native_id", None)) for it in run(FIXTURE.read_bytes())]
    assert [(type(it), getattr(it, "native_id", None)) for it in run(mixed)] == want


def test_empty_header_only_skip_lines_and_bom() -> None:
    assert run(b"") == []
    assert [it.what for it in run(HEAD)] == ["header"]
    items = run(b"Export of 14/03/2025\n\xef\xbb\xbf" + HEAD + b"\n", {**PROFILE, "skip_lines": 1})
    assert [it.what for it in items] == ["skip_lines", "header", "blank"]


def test_binary_garbage() -> None:
    data = random.Random(4711).randbytes(8192) + bytes(range(256)) * 4
    run(data)
    run(data, ASTERISK_PROFILE)
    run(HEAD + data)


VALID = [line for line in FIXTURE.read_text().splitlines()[1:] if line.strip()]
PIECES = [b";", b'"', b'""', b"\n", b"\r", b"\r\n", b":", b"/", b" ", b"-", b"9", b"\xff", b"\x00", b"ANSWERED",
          b"IN", b"99:99:99"]


HEADERLESS = {**{role: i + 1 for i, role in enumerate(
    ("id", "start", "answer", "end", "billable", "caller", "dialled", "extension", "trunk", "account", "disposition",
     "direction"))}, **{k: PROFILE[k] for k in ("delimiter", "time_format", "duration_format", "disposition_map",
                                                "direction_map")}, "header": False}


@given(mutated_lines(VALID, PIECES, max_lines=5, cell_sep=b";", head=HEAD.rstrip(b"\n")), st.booleans())
def test_mutations_never_raise(data: bytes, headerless: bool) -> None:
    if headerless:
        run(data.split(HEAD.rstrip(b"\n"), 1)[-1], HEADERLESS)
    else:
        run(data)
