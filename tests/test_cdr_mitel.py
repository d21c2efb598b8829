"""Mitel MiVoice Business SMDR: the documented example, an invented fixture, bad input, and mutations."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from cdr_support import DATA, ZONE, local_utc, mixed_newlines, mutated_lines, other_formats, parse_checked
from hypothesis import given
from hypothesis import strategies as st

from ingest.cdr import mitel
from ingest.cdr.model import CallRecord, ParseContext, Reject, Skipped

FIXTURE = DATA / "mitel-smdr.txt"
DOC_EXAMPLE = " 03/14 10:15P 00:02:32 2001  007 0155501234                  A      T001      4711"


def at(text: str) -> int:
    return local_utc(text, ZONE)


REF = at("2025-03-15 12:00")


def run(data: bytes, reference: int = REF) -> list:
    return parse_checked(mitel, data, ParseContext(timezone=ZONE, reference=reference), native_ids=True)


def one(line: str, reference: int = REF):
    (item,) = run(line.encode(), reference)
    return item


def test_doc_example() -> None:
    r = one(DOC_EXAMPLE)
    assert isinstance(r, CallRecord)
    assert r.start == at("2025-03-14 22:15")  # 10:15P: 12-hour mode
    assert (r.duration, r.billable, r.answer) == (152, 152, r.start)
    assert (r.direction, r.disposition) == ("outgoing", "answered")
    assert (r.extension, r.trunk, r.caller, r.dialled, r.called, r.account) == (
        "2001", "T001", "2001", "0155501234", "", "4711")
    assert (r.leg, r.group) == ("", "")
    assert r.native_id == "03142215-2001-0155501234-152"
    assert "year inferred" in r.notes and "low precision" in r.notes
    assert r.raw == DOC_EXAMPLE


@pytest.mark.parametrize("width", [90, 101, 112, 120])
def test_record_widths(width: int) -> None:
    r = one(DOC_EXAMPLE.ljust(width))
    assert isinstance(r, CallRecord) and r.account == "4711" and len(r.raw) == width


def test_fixture() -> None:
    items = run(FIXTURE.read_bytes())
    assert len(items) == 16
    skipped = {it.line: it.what for it in items if isinstance(it, Skipped)}
    assert skipped == {1: "not a record (no date or time)", 4: "blank"}
    assert not [it for it in items if isinstance(it, Reject)]
    got = {it.line: (it.direction, it.disposition, it.extension, it.trunk, it.dialled, it.account, it.billable)
           for it in items if isinstance(it, CallRecord)}
    assert got == {
        2: ("outgoing", "answered", "2001", "T001", "0155501234", "4711", 152),
        3: ("incoming", "answered", "241", "T162", "", "", 186),  # attendant, no DID, transferred to 215
        5: ("incoming", "no_answer", "2003", "T162", "2003", "", 0),  # *** = never answered
        6: ("outgoing", "busy", "2002", "T001", "0155501111", "", 0),
        7: ("internal", "answered", "2002", "", "2003", "", 70),
        8: ("outgoing", "answered", "2004", "T002", "00441632960123", "9001", 2100),  # meter pulses, AS flags
        9: ("outgoing", "answered", "2005", "T001", "112", "", 40),  # 3 digits dialled, not a time to answer
        10: ("internal", "answered", "ATT1", "", "*94300#2777", "", 20),
        11: ("outgoing", "failed", "2006", "T001", "00900123456", "", 0),  # I = toll denied
        12: ("incoming", "answered", "2007", "T003", "2007", "4711", 390),  # 120-char ANI/DNIS layout
        13: ("transit", "answered", "", "T001", "0155500200", "", 60),  # trunk to trunk
        14: ("incoming", "answered", "2008", "X021", "2008", "", 45),
        15: ("outgoing", "answered", "2001", "T001", "0155501234", "", 720),
        16: ("outgoing", "answered", "2009", "T001", "0155501234", "", 30),
    }
    by_line = {it.line: it for it in items}
    assert by_line[3].start == at("2025-03-14 08:02")  # no suffix after a P: a morning time
    assert "attendant" in by_line[3].notes and "transferred with 215" in by_line[3].notes
    assert by_line[5].answer is None
    assert "conference with 2010" in by_line[16].notes
    assert all(not any("long-call" in n for n in it.notes) for it in items if isinstance(it, CallRecord))
    ids = [it.native_id for it in items if isinstance(it, CallRecord)]
    assert len(set(ids)) == len(ids)
    assert [it.native_id for it in run(FIXTURE.read_bytes()) if isinstance(it, CallRecord)] == ids  # stable


def test_twelve_hour_mode() -> None:
    base = " 03/14 {} 00:01:00 2001      2002                                2002"
    noon, pm, later = (run((base.format(t)).encode())[0] for t in ("12:05", "12:05P", "01:30P"))
    assert noon.start == at("2025-03-14 12:05")  # no suffix seen yet: 24-hour
    assert pm.start == at("2025-03-14 12:05") and later.start == at("2025-03-14 13:30")
    items = run("\n".join(base.format(t) for t in ("01:30P", "12:10", "12:10A", "09:00")).encode())
    assert [it.start for it in items] == [at("2025-03-14 13:30"), at("2025-03-14 00:10"), at("2025-03-14 00:10"),
                                          at("2025-03-14 09:00")]
    bad = one(base.format("13:05P"))
    assert isinstance(bad, Reject) and bad.reason.startswith("time:")


def test_year_around_new_year() -> None:
    line = " {} {} 00:01:00 2001      0155501234                   A      T001"
    late = one(line.format("12/31", "23:50"), reference=at("2026-01-01 00:10"))
    assert late.start == at("2025-12-31 23:50")  # read on 1 Jan: last year's
    early = one(line.format("01/01", "00:05"), reference=at("2025-12-31 23:59"))
    assert early.start == at("2026-01-01 00:05")  # a few minutes ahead of the clock: next year
    leap = one(line.format("02/29", "10:00"), reference=at("2025-03-01 12:00"))
    assert leap.start == at("2024-02-29 10:00")


def test_dst_does_not_crash() -> None:
    line = " {} 02:30 00:01:00 2001      0155501234                   A      T001"
    gap = one(line.format("03/30"), reference=at("2025-04-01 00:00"))
    fold = one(line.format("10/26"), reference=at("2025-10-27 00:00"))
    assert isinstance(gap, CallRecord) and isinstance(fold, CallRecord)
    assert fold.start == int(dt.datetime(2025, 10, 26, 0, 30, tzinfo=dt.timezone.utc).timestamp())  # the earlier 02:30


@pytest.mark.parametrize(("line", "field"), [
    (" 03/14 10:15P 00:02:32", "truncated"),
    (" 03/14 10:15P", "truncated"),
    (" 03/14", "truncated"),
    (" 03/14 10:15P 00:02:32 2001", "called party"),
    (" 03/14 10:15P 00:02:32 Q001 0155501234  A  T001", "calling party"),
    (" 13/45 10:15 00:02:32 2001 0155501234 A T001", "date"),
    (" 02/30 10:15 00:02:32 2001 0155501234 A T001", "date"),
    (" 3-14 10:15 00:02:32 2001 0155501234 A T001", "date"),
    (" 03/14 25:15 00:02:32 2001 0155501234 A T001", "time"),
    (" 03/14 10:75 00:02:32 2001 0155501234 A T001", "time"),
    (" 03/14 10:15 00:62:32 2001 0155501234 A T001", "duration"),
    (" 03/14 10:15 999:00:00 2001 0155501234 A T001", "duration"),
    (" 03/14 10:15 -0:01:00 2001 0155501234 A T001", "duration"),
    (" 03/14 10:15 2:32 2001 0155501234 A T001", "duration"),
    (" 03/14 10:15 00:02:32 2001 0155\xff501234 A T001", "called party"),
])
def test_bad_lines_are_rejected_with_the_field(line: str, field: str) -> None:
    item = one(line)
    assert isinstance(item, Reject), item
    assert item.reason.startswith(field), item.reason
    assert item.raw == line


def test_absurd_duration_limit() -> None:
    ok = one(" 03/14 10:15 168:00:00 2001 0155501234 A T001")
    assert isinstance(ok, CallRecord) and ok.duration == 7 * 86400
    too_long = one(" 03/14 10:15 168:00:01 2001 0155501234 A T001")
    assert isinstance(too_long, Reject) and "7 days" in too_long.reason


def test_long_call_flag_mismatch_is_noted() -> None:
    r = one("+03/14 10:15 00:02:32 2001 0155501234 A T001")
    assert isinstance(r, CallRecord) and any("long-call flag" in n for n in r.notes)


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    data = DOC_EXAMPLE.encode() + b"\n\xff\xfe\x80 garbage\n" + DOC_EXAMPLE.encode().replace(b"4711", b"47\xff1")
    items = run(data)
    assert isinstance(items[0], CallRecord) and isinstance(items[1], Skipped)
    assert isinstance(items[2], CallRecord)  # the damaged account code is left unread, the call is kept
    assert items[2].account == "" and "\ufffd" in items[2].raw


def test_mixed_line_endings() -> None:
    mixed = mixed_newlines(FIXTURE.read_bytes())
    want = [(type(it), getattr(it, "native_id", None)) for it in run(FIXTURE.read_bytes())]
    assert [(type(it), getattr(it, "native_id", None)) for it in run(mixed)] == want


def test_empty_and_banner_only() -> None:
    assert run(b"") == []
    items = run(b"\r\n\n SMDR \r\n")
    assert [it.what for it in items] == ["blank", "blank", "not a record (no date or time)"]


def test_binary_garbage() -> None:
    data = random.Random(1752).randbytes(8192) + bytes(range(256)) * 4
    run(data)
    assert mitel.sniff(data) < 30


def test_overlong_line() -> None:
    item = one(DOC_EXAMPLE + " 1" * 200)
    assert isinstance(item, Reject) and item.reason.startswith("record:")


OTHER_FORMATS = other_formats("mitel")


def test_sniff() -> None:
    assert mitel.sniff(FIXTURE.read_bytes()) >= 90
    assert mitel.sniff(DOC_EXAMPLE.encode()) >= 70
    assert mitel.sniff(FIXTURE.read_bytes()[:200]) >= 70  # cut mid-line
    for head in OTHER_FORMATS.values():
        assert mitel.sniff(head) < 30, head
    assert mitel.sniff(b"") == 0 and mitel.sniff(b"\x00\xff" * 100) == 0


VALID = [line for line in FIXTURE.read_text().splitlines() if line.strip()]
PIECES = [b" ", b"  ", b"*", b"***", b"/", b":", b"P", b"A", b"T", b"X", b"-", b"+", b"%", b"9", b"\xff", b"\r", b"\n",
          b"\r\n", b"\t", b"\x00"]


@given(mutated_lines(VALID, PIECES), st.integers(at("2020-01-01 00:00"), at("2030-12-31 23:59")))
def test_mutations_never_raise(data: bytes, reference: int) -> None:
    run(data, reference)
    mitel.sniff(data)
