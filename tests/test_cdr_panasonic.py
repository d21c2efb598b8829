"""Panasonic KX-TDA/TDE/NS printer-style SMDR: documented lines, an invented print-out, bad input, mutations."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from cdr_support import DATA, ZONE, local_utc, mixed_newlines, mutated_lines, other_formats, parse_checked
from hypothesis import given
from hypothesis import strategies as st

from ingest.cdr import panasonic
from ingest.cdr.model import CallRecord, ParseContext, Reject, Skipped

FIXTURE = DATA / "panasonic-smdr.txt"
DOC_LINES = [
    "03/14/25 10:15AM   201 01 0155501234                0'07 00:02'32      ",
    "03/14/25 02:40PM   202 02 <I>0155507788             0'12 00:01'05      ",
]


def at(text: str) -> int:
    return local_utc(text, ZONE)


def run(data: bytes, profile: dict | None = None) -> list:
    ctx = ParseContext(timezone=ZONE, reference=at("2025-03-15 12:00"), profile=profile or {})
    return parse_checked(panasonic, data, ctx, native_ids=True)


def one(line: str, profile: dict | None = None):
    (item,) = run(line.encode(), profile)
    return item


def test_doc_examples() -> None:
    out, inc = run("\n".join(DOC_LINES).encode())
    assert out.start == at("2025-03-14 10:15") and out.answer == out.start + 7
    assert (out.duration, out.billable) == (7 + 152, 152)
    assert (out.direction, out.disposition, out.extension, out.trunk, out.caller, out.dialled, out.called) == (
        "outgoing", "answered", "201", "CO01", "201", "0155501234", "")
    assert out.native_id == "202503141015-201-01-0155501234" and out.raw == DOC_LINES[0]
    assert inc.start == at("2025-03-14 14:40")
    assert (inc.duration, inc.billable) == (12 + 65, 65)
    assert (inc.direction, inc.extension, inc.trunk, inc.caller, inc.dialled) == (
        "incoming", "202", "CO02", "0155507788", "")


def test_fixture() -> None:
    items = run(FIXTURE.read_bytes())
    assert len(items) == 24
    skipped = {it.line: it.what for it in items if isinstance(it, Skipped)}
    assert skipped == {1: "separator", 2: "not a record", 3: "blank", 4: "page header", 5: "separator",
                       11: "log in", 15: "log out", 16: "blank", 17: "page header", 18: "separator",
                       21: "check in", 22: "check out", 23: "timed reminder"}
    rejects = {it.line: it.reason for it in items if isinstance(it, Reject)}
    assert list(rejects) == [12] and "clock changed" in rejects[12]
    got = {it.line: (it.direction, it.disposition, it.extension, it.trunk, it.caller, it.dialled, it.called,
                     it.account, it.billable) for it in items if isinstance(it, CallRecord)}
    assert got == {
        6: ("outgoing", "answered", "201", "CO01", "201", "0155501234", "", "", 152),
        7: ("incoming", "answered", "202", "CO02", "0155507788", "", "", "", 65),
        8: ("incoming", "no_answer", "203", "CO02", "", "", "", "", 0),  # no CLI, never answered
        9: ("outgoing", "answered", "201", "CO01", "201", "01555012XX", "", "4711", 600),
        10: ("incoming", "answered", "204", "CO03", "0155507799", "", "2040", "", 250),  # DDI + CLI
        13: ("outgoing", "answered", "205", "CO01", "205", "0033155501234", "", "", 3723),
        14: ("outgoing", "answered", "205", "CO01", "205", "0155501234", "", "", 30),
        19: ("outgoing", "answered", "1001", "CO0012", "1001", "00441632960123", "", "1234567", 60),  # wide layout
        20: ("outgoing", "answered", "206", "CO01", "206", "*67#", "", "", 5),
        24: ("outgoing", "answered", "207", "CO01", "207", "08XXXXXX99", "", "", 45),
    }
    by_line = {it.line: it for it in items}
    assert by_line[8].answer is None and "CD NA" in by_line[8].notes
    assert "masked" in by_line[9].notes and "masked" in by_line[24].notes and "masked" not in by_line[6].notes
    assert by_line[13].start == at("2025-03-14 12:05")  # 12:05PM is noon
    assert by_line[14].start == at("2025-03-14 00:10")  # 12:10AM is just after midnight
    assert "cost 00560.00EUR" in by_line[19].notes and "CD FW" in by_line[19].notes
    ids = [it.native_id for it in items if isinstance(it, CallRecord)]
    assert len(set(ids)) == len(ids)


def test_date_order_profile() -> None:
    line = "14/03/25 10:15AM   201 01 0155501234                0'07 00:02'32"
    assert isinstance(one(line), Reject)
    assert one(line, {"date_order": "DMY"}).start == at("2025-03-14 10:15")
    assert one("2025/03/14 10:15 201 01 0155501234 0'07 00:02'32", {"date_order": "YMD"}).start == at(
        "2025-03-14 10:15")


def test_time_variants() -> None:
    assert one("03/14/25 10:15 PM 201 01 0155501234 0'07 00:02'32").start == at("2025-03-14 22:15")
    assert one("03/14/2025 22:15 201 01 0155501234 0'07 00:02'32").start == at("2025-03-14 22:15")
    assert one("03/14/25 10:15AM 201 01 0155501234 00:02'32").answer == at("2025-03-14 10:15")  # no ring


def test_new_year_and_dst() -> None:
    assert one("12/31/25 11:59PM 201 01 0155501234 0'01 00:00'10").start == at("2025-12-31 23:59")
    gap = one("03/30/25 02:30AM 201 01 0155501234 0'01 00:00'10")
    fold = one("10/26/25 02:30AM 201 01 0155501234 0'01 00:00'10")
    assert isinstance(gap, CallRecord) and isinstance(fold, CallRecord)
    assert fold.start == int(dt.datetime(2025, 10, 26, 0, 30, tzinfo=dt.timezone.utc).timestamp())


@pytest.mark.parametrize(("line", "field"), [
    ("03/14/25 10:15AM   201", "truncated"),
    ("03/14/25 10:15AM   201 01 0155501234", "duration"),
    ("03/14/25 10:15AM   201 01 0155501234                0'07 00:02", "duration"),
    ("03/14/25 10:15AM   00:02'32", "truncated"),
    ("03/14/25 10:15AM   201 0'07 00:02'32", "truncated"),
    ("03/14/25 10:15AM   201 0155501234 0'07 00:02'32", "CO"),
    ("03/14/25 10:15AM   <I>0155 01 0155501234 0'07 00:02'32", "extension"),
    ("13/45/25 10:15AM   201 01 0155501234 0'07 00:02'32", "date"),
    ("02/30/25 10:15AM   201 01 0155501234 0'07 00:02'32", "date"),
    ("03/14/125 10:15AM   201 01 0155501234 0'07 00:02'32", "date"),
    ("03/14/25 13:15PM   201 01 0155501234 0'07 00:02'32", "time"),
    ("03/14/25 10:75AM   201 01 0155501234 0'07 00:02'32", "time"),
    ("03/14/25 1015AM   201 01 0155501234 0'07 00:02'32", "time"),
    ("03/14/25 10:15AM   201 01 0155501234 0'75 00:02'32", "ring"),
    ("03/14/25 10:15AM   201 01 0155501234 0'07 00:72'32", "duration"),
    ("03/14/25 10:15AM   201 01 0155501234 0'07 999:00'00", "duration"),
    ("03/14/25 10:15AM   201 01 0155501234 0'07 -1:00'00", "duration"),
    ("03/14/25 10:15AM   201 01 0155501234 0'07 00:02'32 12.5.3", "account code"),
    ("**/**/** **:**AM   201 01 0155501234 0'07 00:02'32", "date: clock changed"),
    ("03/14/25 **:**AM   201 01 0155501234 0'07 00:02'32", "date: clock changed"),
])
def test_bad_lines_are_rejected_with_the_field(line: str, field: str) -> None:
    item = one(line)
    assert isinstance(item, Reject), item
    assert item.reason.startswith(field), item.reason
    assert item.raw == line


def test_seven_day_limit() -> None:
    assert one("03/14/25 10:15AM 201 01 0155501234 0'00 168:00'00").duration == 7 * 86400
    item = one("03/14/25 10:15AM 201 01 0155501234 0'01 168:00'00")
    assert isinstance(item, Reject) and "7 days" in item.reason


def test_invalid_utf8() -> None:
    data = b"03/14/25 10:15AM   201 01 0155501234 0'07 00:02'32  \xff\xfe\n\xe9t\xe9 \x80\x81\n" + DOC_LINES[1].encode()
    items = run(data)
    assert isinstance(items[0], Reject) and "account code" in items[0].reason  # garbage where the account goes
    assert isinstance(items[1], Skipped) and isinstance(items[2], CallRecord)


def test_mixed_line_endings() -> None:
    mixed = mixed_newlines(FIXTURE.read_bytes(), (b"\r\n", b"\r", b"\n"))
    want = [(type(it), getattr(it, "native_id", None)) for it in run(FIXTURE.read_bytes())]
    assert [(type(it), getattr(it, "native_id", None)) for it in run(mixed)] == want


def test_empty_and_header_only() -> None:
    assert run(b"") == []
    head = b"Date     Time    Ext CO Dial Number     Ring Duration  Acc code  CD\r\n------------------\r\n"
    assert [it.what for it in run(head)] == ["page header", "separator"]
    assert 0 < panasonic.sniff(head) < 70


def test_form_feed_and_prompt_lines() -> None:
    items = run(b"\x0cDate  Time  Ext CO Dial Number  Ring Duration\n-\nEnter Password:\n")
    assert [it.what for it in items] == ["page header", "separator", "not a record"]


def test_binary_garbage() -> None:
    data = random.Random(2300).randbytes(8192) + bytes(range(256)) * 4
    run(data)
    assert panasonic.sniff(data) < 30


OTHER_FORMATS = other_formats("panasonic")


def test_sniff() -> None:
    assert panasonic.sniff(FIXTURE.read_bytes()) >= 90
    assert panasonic.sniff("\n".join(DOC_LINES).encode()) >= 70
    for head in OTHER_FORMATS.values():
        assert panasonic.sniff(head) < 30, head
    assert panasonic.sniff(b"") == 0 and panasonic.sniff(b"\x00\xff" * 100) == 0


VALID = [line for line in FIXTURE.read_text().splitlines() if line.strip()]
PIECES = [b" ", b"  ", b"*", b"**", b"/", b":", b"'", b"AM", b"PM", b"<I>", b"<D>", b"X", b"-", b"9", b"\xff", b"\r",
          b"\n", b"\r\n", b"\t", b"\x0c", b"\x00"]


@given(mutated_lines(VALID, PIECES, cell_sep=None), st.sampled_from(["MDY", "DMY", "YMD", "bogus"]))
def test_mutations_never_raise(data: bytes, order: str) -> None:
    run(data, {"date_order": order})
    panasonic.sniff(data)
