"""3CX CSV call log: column order (default, profile, header row), Ext.NNN parties, fractional durations, bad input."""

from __future__ import annotations

import pytest
from cdr_support import DATA, PARIS, ZONE, local_utc, mutated_rows, one, other_formats, parse_checked, records
from hypothesis import given
from hypothesis import strategies as st

from ingest.cdr import CallRecord, ParseContext, Reject, Skipped, threecx
from ingest.cdr.model import Item

# The invented lines of cdr-formats.md section 10.
OUTBOUND = ("Call 104233,00000C3A11B2F9E4_1187,00:02:32,2025/03/14 10:15:02,2025/03/14 10:15:09,2025/03/14 10:17:41,"
            "TerminatedBySrc,Ext.201,0155501234,201,10000,90155501234,,0155501234,10000,,,,,"
            "Chain: Ext.201'0155501234;")
MISSED = ("Call 104241,00000C3A11B30F77_1191,00:00:00,2025/03/14 10:41:07,,2025/03/14 10:41:29,TerminatedBySrc,"
          "0155507788,Ext.203,10000,203,203,,Ext.203,203,,,,,Chain: 0155507788'Ext.203;")

OTHERS = other_formats("3cx")


def run(data: bytes, ctx: ParseContext = PARIS) -> list[Item]:
    return parse_checked(threecx, data, ctx)


def utc(text: str) -> int:
    return local_utc(text, ZONE)


# ---------------------------------------------------------------- the documented examples


def test_examples() -> None:
    out, missed = records(run(f"{OUTBOUND}\n{MISSED}\n".encode()))
    assert (out.native_id, out.group, out.leg) == ("104233", "00000C3A11B2F9E4_1187", "")
    assert out.start == 1741943702  # 10:15:02 Paris = 09:15:02 UTC
    assert (out.answer, out.duration, out.billable) == (1741943709, 159, 152)
    assert (out.direction, out.disposition, out.extension, out.trunk) == ("outgoing", "answered", "201", "10000")
    assert (out.caller, out.dialled, out.called, out.account) == ("201", "90155501234", "0155501234", "")
    assert out.notes == []

    assert (missed.answer, missed.billable, missed.duration, missed.disposition) == (None, 0, 22, "no_answer")
    assert (missed.direction, missed.extension, missed.trunk, missed.caller) == ("incoming", "203", "10000",
                                                                                 "0155507788")
    assert missed.called == "203"


# ---------------------------------------------------------------- fixture


def test_fixture() -> None:
    items = run((DATA / "3cx-cdr.log").read_bytes())
    assert isinstance(items[0], Skipped) and items[0].what == "header"
    assert not [i for i in items if isinstance(i, Reject)]
    r = {i.line: i for i in records(items)}
    assert len(r) == 12
    assert r[4].billable == 66 and any("rounded" in n for n in r[4].notes)  # 00:01:05.6
    assert (r[5].direction, r[5].account, r[5].trunk, r[5].extension) == ("internal", "PRJ42", "", "201")
    assert (r[6].answer, r[6].disposition, r[6].direction) == (None, "no_answer", "outgoing")
    assert (r[7].direction, r[7].extension, r[7].dialled) == ("incoming", "204", "201")  # forwarded 201 -> 204
    assert (r[8].start, r[8].account, r[8].trunk) == (utc("2025-03-14T11:10:00"), "CLIENT7", "10001")  # ISO dashes
    assert r[9].billable == 3600 and any("rounded" in n for n in r[9].notes)
    assert (r[10].disposition, r[10].extension) == ("no_answer", "800")
    assert (r[12].direction, r[12].extension, r[12].trunk) == ("transit", "", "10001")
    assert r[13].start == utc("2025-03-15T00:05:00")


# ---------------------------------------------------------------- column orders


def test_profile_columns() -> None:
    cols = ["callid", "historyid", "time-start", "time-answered", "time-end", "duration", "from-no", "to-no",
            "from-dn", "to-dn", "final-number", "bill-code"]
    row = ("X1,Call 7,2025/03/14 10:15:02,2025/03/14 10:15:09,2025/03/14 10:17:41,00:02:32,Ext.201,0155501234,"
           "201,10000,0155501234,ACC1")
    [r] = records(run(row.encode(), ParseContext(timezone="Europe/Paris", profile={"columns": cols})))
    assert (r.native_id, r.group, r.billable, r.account, r.direction) == ("7", "X1", 152, "ACC1", "outgoing")
    # the profile's count is exact
    [bad] = run((row + ",extra").encode(), ParseContext(profile={"columns": cols}))
    assert isinstance(bad, Reject) and "12" in bad.reason


def test_header_with_types_and_all_columns() -> None:
    header = ",".join(threecx.DEFAULT_COLUMNS).upper()  # names matched case-insensitively
    row = ('Call 9,CID9,00:01:00,2025/03/14 10:00:00,2025/03/14 10:00:05,2025/03/14 10:01:05,TerminatedBySrc,'
           '0155500000,Ext.300,10000,300,300,,Ext.300,300,,,,,Chain: x;,VOIPPROVIDER,extension,Extension,'
           '"Doe, Jane",Reception,Reception,0')
    items = run(f"{header}\n{row}\n".encode())
    r = items[1]
    assert isinstance(r, CallRecord)
    assert (r.direction, r.extension, r.trunk) == ("incoming", "300", "10000")


def test_types_override_ext_prefix() -> None:
    """A party typed as an extension is ours even when not written Ext.NNN."""
    cols = ["historyid", "duration", "time-start", "time-answered", "time-end", "from-no", "to-no", "from-dn",
            "to-dn", "from-type", "to-type"]
    row = "Call 1,00:00:10,2025/03/14 10:00:00,2025/03/14 10:00:01,2025/03/14 10:00:11,201,0155501234,201,10000,"
    [r] = records(run((row + "Extension,Line").encode(), ParseContext(profile={"columns": cols})))
    assert r.direction == "outgoing"
    [r] = records(run((row + "extension,extension").encode(), ParseContext(profile={"columns": cols})))
    assert r.direction == "internal"


def test_date_format_profile() -> None:
    row = OUTBOUND.replace("2025/03/14", "14.03.2025")
    ctx = ParseContext(timezone="Europe/Paris", profile={"date_format": "%d.%m.%Y %H:%M:%S"})
    [r] = records(run(row.encode(), ctx))
    assert r.start == 1741943702


def test_dst() -> None:
    gap = OUTBOUND.replace("2025/03/14 10:", "2025/03/30 02:")
    overlap = OUTBOUND.replace("2025/03/14 10:", "2025/10/26 02:")
    g, o = records(run(f"{gap}\n{overlap}\n".encode()))
    assert any("DST gap" in n for n in g.notes)
    assert any("DST overlap" in n for n in o.notes)
    assert (o.start, o.billable, o.duration) == (utc("2025-10-26T02:15:02"), 152, 159)


def test_call_across_fall_back() -> None:
    """Started 02:59 summer time, ended 02:01 winter time: the end is read in the second pass of the hour."""
    row = (OUTBOUND.replace("2025/03/14 10:15:02", "2025/10/26 02:59:00")
           .replace("2025/03/14 10:15:09", "2025/10/26 02:59:07").replace("2025/03/14 10:17:41", "2025/10/26 02:01:39"))
    [r] = records(run(row.encode()))
    assert (r.duration, r.billable) == (159, 152)


# ---------------------------------------------------------------- bad input


def only_reject(data: bytes) -> Reject:
    item = one(threecx, data)
    assert isinstance(item, Reject), item
    return item


def test_truncated_line() -> None:
    assert "columns" in only_reject(OUTBOUND[:70].encode()).reason


def test_wrong_column_count() -> None:
    assert "20 to 27" in only_reject((OUTBOUND + ",a,b,c,d,e,f,g,h").encode()).reason


@pytest.mark.parametrize(("old", "new", "field"), [
    ("2025/03/14 10:15:02", "2025/02/30 10:15:02", "time-start"),
    ("2025/03/14 10:15:02", "yesterday", "time-start"),
    ("2025/03/14 10:15:09", "2025/03/14 10:14:00", "time-answered"),
    ("2025/03/14 10:17:41", "2025/03/14 10:00:00", "time-end"),
    ("2025/03/14 10:17:41", "2025/03/24 10:00:00", "time-end"),
    ("00:02:32", "999:00:00", "duration"),
    ("00:02:32", "-00:00:05", "duration"),
    ("00:02:32", "00:99:00", "duration"),
    ("Call 104233", "Kall 104233", "historyid"),
])
def test_bad_fields(old: str, new: str, field: str) -> None:
    r = only_reject(OUTBOUND.replace(old, new, 1).encode())
    assert r.reason.startswith(field), r.reason


def test_invalid_utf8() -> None:
    data = OUTBOUND.encode().replace(b"Chain: ", b"Chain \xff\xfe: ")
    [r] = records(run(data))
    assert "\ufffd" in r.raw


def test_mixed_line_endings() -> None:
    header = ",".join(threecx.DEFAULT_COLUMNS[:20])
    data = f"{header}\r\n{OUTBOUND}\r{MISSED}\n\n{OUTBOUND}".encode()
    assert [type(i).__name__ for i in run(data)] == ["Skipped", "CallRecord", "CallRecord", "Skipped", "CallRecord"]


def test_empty_file() -> None:
    assert run(b"") == []


def test_header_only() -> None:
    [item] = run(",".join(threecx.DEFAULT_COLUMNS).encode() + b"\n")
    assert isinstance(item, Skipped) and item.what == "header"


def test_binary_garbage() -> None:
    data = bytes(range(256)) * 8 + b'Call 1,"\x00' + bytes(range(255, -1, -1))
    assert not records(run(data))
    assert threecx.sniff(data) < 30


def test_unanswered_with_talk_time_is_not_billable() -> None:
    [r] = records(run(MISSED.replace("00:00:00", "00:00:05").encode()))
    assert r.billable == 0 and r.notes


# ---------------------------------------------------------------- random mutations

VALID = (DATA / "3cx-cdr.log").read_text().splitlines()


@given(mutated_rows(VALID, max_rows=6, max_delete=10, extra_ops=["quote"]))
def test_mutations_never_raise(data: bytes) -> None:
    run(data)


@given(st.binary(max_size=600))
def test_sniff_never_raises(head: bytes) -> None:
    assert 0 <= threecx.sniff(head) <= 100


# ---------------------------------------------------------------- sniff


def test_sniff_fixture() -> None:
    assert threecx.sniff((DATA / "3cx-cdr.log").read_bytes()) >= 70
    assert threecx.sniff(f"{OUTBOUND}\n{MISSED}\n".encode()) >= 70
    assert threecx.sniff(",".join(threecx.DEFAULT_COLUMNS).encode() + b"\n") >= 70


@pytest.mark.parametrize("name", sorted(OTHERS))
def test_sniff_other_formats(name: str) -> None:
    assert threecx.sniff(OTHERS[name]) < 30


def test_sniff_other_fixtures() -> None:
    for other in ("cucm-133.csv", "cucm-headerless-123.csv", "avaya-ipo.txt"):
        assert threecx.sniff((DATA / other).read_bytes()) < 30
    assert threecx.sniff(b"") == 0
