"""Avaya IP Office SMDR: segments, Call ID resets, internal O calls, local time and DST, bad input never raises."""

from __future__ import annotations

import io

import pytest
from cdr_support import DATA, PARIS, ZONE, local_utc, mutated_rows, one, other_formats, parse_checked, records
from hypothesis import given
from hypothesis import strategies as st

from ingest.cdr import CallRecord, ParseContext, Reject, Skipped, avaya_ipo, lines
from ingest.cdr.model import Item

# The invented rows of cdr-formats.md section 4.1.
OUTBOUND = ("2025/03/14 10:15:02,00:02:32,7,2001,O,0155501234,90155501234,4711,0,1000412,0,E2001,Alice Martin,"
            "T9001,Line 1.3,0,0,,,,,,,,,,,,,,10.1.20.5,3301,10.1.20.5,3302")
INBOUND_1 = ("2025/03/14 10:30:45,00:00:41,4,0155507788,I,2001,,,0,1000415,1,E2001,Alice Martin,T9001,Line 1.4,0,0,"
             ",,,,,,,,,,,,,10.1.20.5,3311,10.1.20.5,3310")
INBOUND_2 = ("2025/03/14 10:30:45,00:03:05,0,0155507788,I,2002,,,0,1000415,0,E2002,Bruno Keller,T9001,Line 1.4,0,0,"
             ",,,,,,,,,,,,,10.1.20.5,3318,10.1.20.5,3310")
MISSED = ("2025/03/14 10:41:07,00:00:00,22,,I,2003,,,0,1000418,0,E2003,Reception,T9002,Line 2.1,0,0,,,,,,,,,,,,,,"
          "10.1.20.5,3320,0.0.0.0,0")
EXAMPLES = [OUTBOUND, INBOUND_1, INBOUND_2, MISSED]

OTHERS = other_formats("avaya-ipo")


def run(data: bytes, ctx: ParseContext = PARIS) -> list[Item]:
    return parse_checked(avaya_ipo, data, ctx)


def utc(text: str) -> int:
    """Europe/Paris local -> UTC epoch (March 2025: UTC+1)."""
    return local_utc(text, ZONE)


# ---------------------------------------------------------------- the documented examples


def test_examples() -> None:
    out, in1, in2, missed = records(run("\n".join(EXAMPLES).encode()))
    assert out.start == 1741943702  # 2025-03-14 10:15:02 Paris = 09:15:02 UTC
    assert (out.answer, out.billable, out.duration) == (1741943709, 152, 159)
    assert (out.native_id, out.leg, out.group) == ("1000412", "E2001|T9001", "1000412@2025/03/14 10:15:02")
    assert (out.direction, out.disposition, out.extension, out.trunk) == ("outgoing", "answered", "2001",
                                                                          "T9001")
    assert (out.caller, out.dialled, out.called, out.account) == ("2001", "90155501234", "0155501234", "4711")
    assert any("approximate" in n for n in out.notes)

    assert in1.group == in2.group == "1000415@2025/03/14 10:30:45"
    assert (in1.leg, in2.leg) == ("E2001|T9001", "E2002|T9001")
    assert (in1.direction, in1.extension, in1.billable) == ("incoming", "2001", 41)
    assert (in2.direction, in2.extension, in2.billable) == ("incoming", "2002", 185)
    assert in1.start == in2.start == utc("2025-03-14T10:30:45")
    assert any("later segment" in n for n in in2.notes)
    assert not any("later segment" in n for n in in1.notes)

    assert (missed.answer, missed.billable, missed.duration, missed.disposition) == (None, 0, 22, "no_answer")
    assert (missed.caller, missed.extension, missed.direction) == ("", "2003", "incoming")


# ---------------------------------------------------------------- fixture


def test_fixture() -> None:
    data = (DATA / "avaya-ipo.txt").read_bytes()
    assert b"\r\n" in data and b"\r2025" in data and b"\n2025" in data.replace(b"\r\n", b"")  # mixed CR / LF / CRLF
    items = run(data)
    assert len(items) == 12 and all(isinstance(i, CallRecord) for i in items)
    r = {i.line: i for i in records(items)}
    assert (r[5].direction, r[5].extension, r[5].trunk) == ("internal", "2001", "")  # Is Internal 1, Direction O
    assert r[6].direction == "internal"  # O, Is Internal 0, but no trunk device (voicemail)
    assert r[7].dialled == "*882001"  # feature code kept as dialled
    assert r[8].group == r[9].group and r[8].leg != r[9].leg  # transfer out: trunk-to-trunk segment
    # ...charged to the extension that transferred it (issue 14: it used to have none)
    assert (r[9].extension, r[9].trunk, r[9].called) == ("2001", "T9002", "0612345678")
    assert r[9].direction == "outgoing" and any("transfer" in n for n in r[9].notes)
    assert r[10].dialled == "90155509999#" and r[10].billable == 60  # 35-field (R11) line
    assert r[11].native_id == r[1].native_id == "1000412"  # Call ID reset after a reboot...
    assert r[11].group != r[1].group  # ...but another call: the start is part of the group
    assert (r[12].disposition, r[12].caller) == ("no_answer", "0155508888")


def test_fixture_line_endings_do_not_matter() -> None:
    data = (DATA / "avaya-ipo.txt").read_bytes()
    unix = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    a, b = records(run(data)), records(run(unix))
    assert [(x.line, x.start, x.group, x.leg) for x in a] == [(x.line, x.start, x.group, x.leg) for x in b]


# ---------------------------------------------------------------- DST


def test_dst_gap_and_overlap() -> None:
    gap = OUTBOUND.replace("2025/03/14 10:15:02", "2025/03/30 02:30:00")
    overlap = OUTBOUND.replace("2025/03/14 10:15:02", "2025/10/26 02:30:00")
    g, o = records(run(f"{gap}\n{overlap}\n".encode()))
    assert any("DST gap" in n for n in g.notes)
    assert any("DST overlap" in n for n in o.notes)
    assert o.start == utc("2025-10-26T02:30:00")  # the earlier instant (still CEST)
    assert g.start > utc("2025-03-30T01:59:59")


# ---------------------------------------------------------------- bad input


def with_field(index: int, value: str, row: str = OUTBOUND) -> bytes:
    f = row.split(",")
    f[index] = value
    return ",".join(f).encode()


def only_reject(data: bytes) -> Reject:
    item = one(avaya_ipo, data)
    assert isinstance(item, Reject), item
    return item


def test_truncated_line() -> None:
    assert "fields: " in only_reject(OUTBOUND[:40].encode()).reason


def test_wrong_field_count() -> None:
    assert "34 or 35" in only_reject((OUTBOUND + ",x,y").encode()).reason


@pytest.mark.parametrize(("value", "field"), [("2025/13/01 10:00:00", "Call Start"), ("2025/02/30 10:00:00",
                                              "Call Start"), ("14/03/2025 10:00", "Call Start")])
def test_bad_dates(value: str, field: str) -> None:
    r = only_reject(with_field(0, value))
    assert r.reason.startswith(field) and value in r.reason


@pytest.mark.parametrize(("index", "value", "field"), [
    (1, "200:00:00", "Connected Time"), (1, "00:61:00", "Connected Time"), (1, "-00:01:00", "Connected Time"),
    (2, "-3", "Ring Time"), (2, "99999999", "Ring Time"), (2, "x", "Ring Time"),
    (4, "X", "Direction"), (8, "2", "Is Internal"), (9, "abc", "Call ID"), (10, "9", "Continuation"),
])
def test_bad_fields(index: int, value: str, field: str) -> None:
    assert only_reject(with_field(index, value)).reason.startswith(field)


def test_invalid_utf8() -> None:
    data = OUTBOUND.encode().replace(b"Alice Martin", b"Alice \xff\xfeMartin")
    [r] = records(run(data))
    assert "\ufffd" in r.raw and r.extension == "2001"


def test_mixed_line_endings() -> None:
    data = (OUTBOUND + "\r\n" + INBOUND_1 + "\r" + INBOUND_2 + "\n\r\n" + MISSED).encode()
    items = run(data)
    assert [type(i).__name__ for i in items] == ["CallRecord"] * 3 + ["Skipped", "CallRecord"]


def test_empty_file() -> None:
    assert run(b"") == []


def test_header_only() -> None:
    header = ",".join(avaya_ipo.FIELDS[:34])
    [item] = run(header.encode() + b"\r\n")
    assert isinstance(item, Skipped) and item.what == "header"


def test_binary_garbage() -> None:
    data = bytes(range(256)) * 8 + b",,,,\x00\x00" + bytes(range(255, -1, -1))
    items = run(data)
    assert not records(items)
    assert avaya_ipo.sniff(data) < 30


# ---------------------------------------------------------------- random mutations

VALID = [line for _, line in lines(io.BytesIO((DATA / "avaya-ipo.txt").read_bytes()))]


@given(mutated_rows(VALID, max_rows=6, max_delete=10, extra_ops=["digit"]))
def test_mutations_never_raise(data: bytes) -> None:
    run(data)


@given(st.binary(max_size=600))
def test_sniff_never_raises(head: bytes) -> None:
    assert 0 <= avaya_ipo.sniff(head) <= 100


# ---------------------------------------------------------------- sniff


def test_sniff_fixture() -> None:
    assert avaya_ipo.sniff((DATA / "avaya-ipo.txt").read_bytes()) >= 70
    assert avaya_ipo.sniff(("\n".join(EXAMPLES) + "\n").encode()) >= 70
    assert avaya_ipo.sniff(OUTBOUND.encode()) >= 70  # one line, no newline


@pytest.mark.parametrize("name", sorted(OTHERS))
def test_sniff_other_formats(name: str) -> None:
    assert avaya_ipo.sniff(OTHERS[name]) < 30


def test_sniff_other_fixtures() -> None:
    for other in ("cucm-133.csv", "cucm-headerless-123.csv", "3cx-cdr.log"):
        assert avaya_ipo.sniff((DATA / other).read_bytes()) < 30
    assert avaya_ipo.sniff(b"") == 0


# ---------------------------------------------------------------- header lines and transfers (issue 14)

HEADERS = [
    ",".join(avaya_ipo.FIELDS[:30]),  # the 30 names of older releases
    "Call Start,Connected Time,Ring Time,Caller,Direction,Called Number,Dialled Number,Account,Is Internal,"
    "Call ID,Continuation,Party1Device,Party1Name,Party2Device,Party2Name,Hold Time,Park Time,AuthValid,AuthCode,"
    "UserCharged,CallCharge,Currency,AmountAtLastUserChange,CallUnits,UnitsAtLastUserChange,CostPerUnit,MarkUp,"
    "ExternalTargetingCause,ExternalTargeterId,ExternalTargetedNumber",
    "\ufeffCall Start,Connected Time,Ring Time,Caller,Direction",  # a byte-order mark (Windows collectors)
    '"Call Start","Connected Time","Ring Time","Caller","Direction"',  # quoted
    "CallStart,ConnectedTime,RingTime,Caller,Direction",
    "call_start,connected_time,ring_time,caller",
    "  CALL START , Connected Time",
]


@pytest.mark.parametrize("header", HEADERS)
def test_header_lines_are_skipped_wherever_they_are(header: str) -> None:
    data = (header + "\r\n" + OUTBOUND + "\r\n" + header + "\r\n" + MISSED + "\r\n").encode()
    items = run(data)
    assert [type(i).__name__ for i in items] == ["Skipped", "CallRecord", "Skipped", "CallRecord"]
    assert {i.what for i in items if isinstance(i, Skipped)} == {"header"}


def test_a_record_is_never_taken_for_a_header() -> None:
    assert not any(avaya_ipo.is_header(row) for row in EXAMPLES)


TRANSFER = [  # answered by 2001, passed to 2002, who transfers it to a mobile: the last segment is trunk to trunk
    "2025/03/14 11:00:00,00:00:30,5,0155507700,I,2001,,,0,1000425,1,E2001,Alice Martin,T9001,Line 1.5,0,0,"
    ",,,,,,,,,,,,,10.1.20.5,3301,10.1.20.5,3302",
    "2025/03/14 11:00:00,00:01:00,0,0155507700,I,2002,,,0,1000425,1,E2002,Bruno Keller,T9001,Line 1.5,0,0,"
    ",,,,,,,,,,,,,10.1.20.5,3301,10.1.20.5,3302",
    "2025/03/14 11:00:00,00:04:00,0,0155507700,O,0612345678,90612345678,,0,1000425,0,T9001,Line 1.5,T9002,"
    "Line 2.2,0,0,,,,,,,,,,,,,,10.1.20.5,3301,10.1.20.5,3302",
]


def test_the_trunk_to_trunk_segment_is_charged_to_the_user_who_transferred_it() -> None:
    a, b, c = records(run("\r\n".join(TRANSFER).encode()))
    assert (a.extension, b.extension, c.extension) == ("2001", "2002", "2002")
    assert (c.direction, c.trunk, c.dialled) == ("outgoing", "T9002", "90612345678")


def test_a_later_trunk_to_trunk_segment_is_outgoing_whatever_its_direction_flag() -> None:
    """Releases differ in the I/O flag of the transfer's last segment: it seized a second line, so it costs."""
    flagged_in = TRANSFER[2].replace(",O,0612345678,", ",I,0612345678,")
    *_, c = records(run("\r\n".join([*TRANSFER[:2], flagged_in]).encode()))
    assert (c.direction, c.extension, c.trunk) == ("outgoing", "2002", "T9002")
    (alone,) = records(run(flagged_in.encode()))  # no earlier segment: the flag stands
    assert alone.direction == "incoming"


def test_a_trunk_to_trunk_segment_alone_has_no_extension() -> None:
    """No earlier segment of the call (the stream started after it, or another call): nothing is made up."""
    (c,) = records(run(TRANSFER[2].encode()))
    assert c.extension == "" and c.direction == "outgoing"
    other_call = TRANSFER[0].replace("1000425", "1000426")  # same start, another Call ID
    _, c = records(run((other_call + "\r\n" + TRANSFER[2]).encode()))
    assert c.extension == ""


def test_the_transfer_map_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Calls whose last segment never comes (a PBX restart) are forgotten, oldest first."""
    monkeypatch.setattr(avaya_ipo, "PENDING_LIMIT", 3)
    opened = [TRANSFER[0].replace("1000425", str(2000000 + k)) for k in range(5)]
    finish = [TRANSFER[2].replace("1000425", str(2000000 + k)) for k in (0, 4)]
    got = records(run("\r\n".join(opened + finish).encode()))
    assert [r.extension for r in got[-2:]] == ["", "2001"]  # call 0 was forgotten, call 4 was not
