"""Cisco CUCM CDR flat files: header-name mapping, headerless profiles, record types, bad input never raises."""

from __future__ import annotations

import csv

import pytest
from cdr_support import DATA, PARIS, mutated_rows, one, other_formats, parse_checked, records
from hypothesis import given
from hypothesis import strategies as st

from ingest.cdr import CallRecord, ParseContext, Reject, Skipped, cucm
from ingest.cdr.model import Item

# The invented 133-column end record of cdr-formats.md section 3.
EXAMPLE = (
    '1,1,730115,31550201,1741943702,1,0,588513546,"2001","",0,0,4,0,0,0,0,0,0,0,0,0,0,"0","0",31550202,1,0,'
    '167837962,"90155501234","90155501234","",0,16,4,0,0,0,0,0,0,0,0,0,0,"0","0",1741943709,1741943861,"",'
    '"3f2a9c1e-5b7d-4e60-9a41-0c8d2e7f1b55","PT_PSTN","PT_INTERNAL","PT_PSTN","",152,"SEP0A1B2C3D4E5F",'
    '"SIPTRK_PSTN_A",12,0,0,0,0,0,0,"ANATOLE-LAB",0,"","",0,"4711",0,0,0,0,0,0,"","0155500001","0155501234",'
    '"10.1.20.35","10.1.1.10",0,0,0,0,0,0,0,0,0,0,0,0,0,"",0,"",0,0,0,"","",2,"","","","","","","","",0,0,"","",'
    '"","","","","","",0,0,0,"9.@","9.@","","","","","",""'
)

OTHERS = other_formats("cucm", "cucm-header")


def run(data: bytes, ctx: ParseContext = PARIS) -> list[Item]:
    return parse_checked(cucm, data, ctx)


def header(names: tuple[str, ...] | list[str]) -> str:
    return ",".join(f'"{n}"' for n in names)


def fields(row: str) -> list[str]:
    return next(csv.reader([row]))


def join(values: list[str]) -> str:
    return ",".join(values)


# ---------------------------------------------------------------- the documented example


def check_example(r: CallRecord) -> None:
    assert r.native_id == "3f2a9c1e-5b7d-4e60-9a41-0c8d2e7f1b55"
    assert r.group == "1-730115"
    assert r.leg == "31550201"
    assert r.start == 1741943702  # UTC epoch as written, no timezone conversion
    assert r.answer == 1741943709
    assert r.duration == 159
    assert r.billable == 152
    assert r.direction == "outgoing"
    assert r.disposition == "answered"
    assert r.extension == "2001"
    assert r.trunk == "SIPTRK_PSTN_A"
    assert r.caller == "2001"
    assert r.dialled == "90155501234"
    assert r.called == "0155501234"  # outpulsedCalledPartyNumber: the number to rate
    assert r.account == "4711"


def test_example_headerless_133() -> None:
    items = run(EXAMPLE.encode())
    [r] = records(items)
    check_example(r)
    assert r.raw == EXAMPLE


def test_example_with_header_and_types() -> None:
    names = cucm.PROFILES[133]
    types = ",".join("INTEGER" for _ in names)
    items = run(f"{header(names)}\n{types}\n{EXAMPLE}\n".encode())
    assert [type(i).__name__ for i in items] == ["Skipped", "Skipped", "CallRecord"]
    assert (items[0].what, items[1].what) == ("header", "types")
    check_example(items[2])


def test_example_headerless_129() -> None:
    row = join(fields(EXAMPLE)[:129])
    [r] = records(run(row.encode()))
    check_example(r)


def test_header_order_is_followed() -> None:
    """Columns moved and inserted mid-row (as CM versions do): found by name, whatever their position."""
    names = list(cucm.PROFILES[133])
    values = fields(EXAMPLE)
    names = names[:40] + ["insertedA", "insertedB"] + names[40:]
    values = values[:40] + ["x", "y"] + values[40:]
    pairs = list(zip(names, values))[::-1]  # reversed order
    text = header([n for n, _ in pairs]) + "\n" + join([f'"{v}"' for _, v in pairs]) + "\n"
    [r] = records(run(text.encode()))
    check_example(r)


def test_header_case_insensitive_and_unquoted() -> None:
    names = [n.upper() for n in cucm.PROFILES[133]]
    text = ",".join(names) + "\n" + EXAMPLE.replace('"', "") + "\n"
    [r] = records(run(text.encode()))
    check_example(r)


def test_header_missing_needed_column() -> None:
    names = list(cucm.PROFILES[133])
    names[50] = "notPkid"
    items = run(f"{header(names)}\n{EXAMPLE}\n".encode())
    assert isinstance(items[1], Reject)
    assert "pkid" in items[1].reason


# ---------------------------------------------------------------- fixtures


def test_fixture_133() -> None:
    items = run((DATA / "cucm-133.csv").read_bytes())
    skipped = [(i.line, i.what) for i in items if isinstance(i, Skipped)]
    assert skipped == [(1, "header"), (2, "types"), (3, "start record"), (5, "CMR")]
    assert not [i for i in items if isinstance(i, Reject)]
    recs = {r.line: r for r in records(items)}
    assert len(recs) == 11
    out = recs[4]  # the documented call, with another pkid
    assert (out.native_id, out.group, out.start, out.answer, out.duration, out.billable) == (
        "3f2a9c1e-5b7d-4e60-9a41-0c8d2e7f1b02", "1-730115", 1741943702, 1741943709, 159, 152)
    assert (out.direction, out.called, out.account, out.trunk) == ("outgoing", "0155501234", "4711", "SIPTRK_PSTN_A")
    fwd = recs[6]  # forwarded: original 2001, final 2005
    assert (fwd.direction, fwd.dialled, fwd.called, fwd.extension) == ("incoming", "2001", "2005", "2005")
    assert fwd.trunk == "SIPTRK_PSTN_A"
    missed = recs[7]
    assert (missed.answer, missed.billable, missed.disposition) == (None, 0, "no_answer")
    assert missed.duration == 20
    assert recs[8].disposition == "busy"
    assert (recs[9].direction, recs[9].trunk, recs[9].extension) == ("internal", "", "2001")
    # trunk to trunk, forwarded by 2004: charged to 2004 (issue 14: it had no extension)
    assert (recs[10].direction, recs[10].trunk, recs[10].extension) == ("transit", "SIPTRK_PSTN_B", "2004")
    assert recs[11].disposition == "failed"
    assert recs[12].account == "Sales"  # authCodeDescription when no client matter code
    assert recs[12].called == "900441632960000"  # nothing outpulsed: final called number
    assert recs[13].group == recs[14].group == "1-730160"
    assert recs[13].leg != recs[14].leg
    assert (recs[15].extension, recs[15].trunk, recs[15].direction) == ("2005", "S0/SU2/DS1-0@gw1", "outgoing")


def test_fixture_headerless_123_matches_133() -> None:
    """The 123-column headerless dump holds the same calls: same fields as with the 133-column header."""
    with_header = records(run((DATA / "cucm-133.csv").read_bytes()))
    headerless = records(run((DATA / "cucm-headerless-123.csv").read_bytes()))

    def key(r: CallRecord) -> tuple:
        return (r.native_id, r.leg, r.group, r.start, r.answer, r.duration, r.billable, r.direction, r.disposition,
                r.extension, r.trunk, r.caller, r.dialled, r.called, r.account)

    assert [key(r) for r in headerless] == [key(r) for r in with_header]


def test_phone_prefixes_from_profile() -> None:
    row = fields(EXAMPLE)
    row[56] = "CTIPORT_2001"
    text = join([f'"{v}"' for v in row])
    [r] = records(run(text.encode()))
    assert r.direction == "transit"
    [r] = records(run(text.encode(), ParseContext(profile={"phone_prefixes": ["CTIPORT"]})))
    assert (r.direction, r.extension) == ("outgoing", "2001")


@pytest.mark.parametrize("device", cucm.PHONE_PREFIXES)
def test_phone_prefixes(device: str) -> None:
    assert cucm.is_phone(device + "0A1B2C")
    assert not cucm.is_phone("SIPTRK_" + device)


# ---------------------------------------------------------------- bad input


def with_field(index: int, value: str) -> bytes:
    row = fields(EXAMPLE)
    row[index] = value
    return join([v if v.lstrip("-").isdigit() else f'"{v}"' for v in row]).encode()


def only_reject(data: bytes) -> Reject:
    item = one(cucm, data)
    assert isinstance(item, Reject), item
    return item


def test_truncated_line() -> None:
    r = only_reject(EXAMPLE[: len(EXAMPLE) // 2].encode())
    assert "columns" in r.reason


def test_wrong_column_count_with_header() -> None:
    names = cucm.PROFILES[133]
    items = run(f"{header(names)}\n{EXAMPLE},0\n{EXAMPLE}\n".encode())
    assert isinstance(items[1], Reject) and "133" in items[1].reason
    assert isinstance(items[2], CallRecord)


def test_bad_epoch() -> None:
    r = only_reject(with_field(4, "abc"))
    assert r.reason.startswith("dateTimeOrigination") and "'abc'" in r.reason


def test_zero_origination() -> None:
    assert "dateTimeOrigination" in only_reject(with_field(4, "0")).reason


def test_connect_before_origination() -> None:
    assert "dateTimeConnect" in only_reject(with_field(47, "1741943000")).reason


@pytest.mark.parametrize("value", ["999999999", "-5", "1.5"])
def test_absurd_duration(value: str) -> None:
    assert only_reject(with_field(55, value)).reason.startswith("duration")


def test_absurd_disconnect() -> None:
    assert "dateTimeDisconnect" in only_reject(with_field(48, str(1741943702 + 8 * 86400))).reason


def test_bad_record_type() -> None:
    assert only_reject(b"X" + EXAMPLE[1:].encode()).reason.startswith("cdrRecordType")


def test_invalid_utf8() -> None:
    data = EXAMPLE.encode().replace(b'"ANATOLE-LAB"', b'"ANATOLE\xff\xfeLAB"').replace(b'"2001"', b'"20\xc301"')
    [r] = records(run(data))
    assert "\ufffd" in r.caller and r.raw.count("\ufffd") >= 3


def test_mixed_line_endings() -> None:
    names = cucm.PROFILES[133]
    data = (header(names) + "\r\n" + "INTEGER\r" + EXAMPLE + "\n\n" + EXAMPLE + "\r\n" + EXAMPLE).encode()
    items = run(data)
    assert [type(i).__name__ for i in items] == ["Skipped", "Skipped", "CallRecord", "Skipped", "CallRecord",
                                                 "CallRecord"]
    assert items[3].what == "blank"


def test_empty_file() -> None:
    assert run(b"") == []


def test_header_only() -> None:
    names = cucm.PROFILES[133]
    items = run(f"{header(names)}\r\n{','.join('INTEGER' for _ in names)}\r\n".encode())
    assert [i.what for i in items] == ["header", "types"]


def test_binary_garbage() -> None:
    data = bytes(range(256)) * 8 + b"\x00\x00,\x01\"\"\"" + bytes(range(255, -1, -1))
    items = run(data)
    assert not records(items)
    assert cucm.sniff(data) < 30


def test_unbalanced_quotes_and_nul() -> None:
    items = run(b'1,"unterminated,2,3\n1,\x00,2\n"' + b"x" * 200_000 + b"\n")
    assert all(isinstance(i, Reject) for i in items)


# ---------------------------------------------------------------- random mutations

VALID = [*(DATA / "cucm-133.csv").read_text().splitlines()[2:], EXAMPLE]


@given(mutated_rows(VALID, max_rows=5, max_delete=20))
def test_mutations_never_raise(data: bytes) -> None:
    run(data)


@given(st.binary(max_size=600))
def test_sniff_never_raises(head: bytes) -> None:
    assert 0 <= cucm.sniff(head) <= 100


# ---------------------------------------------------------------- sniff


def test_sniff_fixtures() -> None:
    assert cucm.sniff((DATA / "cucm-133.csv").read_bytes()) >= 70
    assert cucm.sniff((DATA / "cucm-headerless-123.csv").read_bytes()) >= 70
    assert cucm.sniff(EXAMPLE.encode() + b"\n") >= 70


def test_sniff_cut_head() -> None:
    data = (DATA / "cucm-headerless-123.csv").read_bytes()
    assert cucm.sniff(data[: len(data) - 100]) >= 70  # a head that ends mid-record


@pytest.mark.parametrize("name", sorted(OTHERS))
def test_sniff_other_formats(name: str) -> None:
    assert cucm.sniff(OTHERS[name]) < 30


def test_sniff_other_fixtures() -> None:
    for other in ("avaya-ipo.txt", "3cx-cdr.log"):
        assert cucm.sniff((DATA / other).read_bytes()) < 30
    assert cucm.sniff(b"") == 0


# ---------------------------------------------------------------- devices, recording legs, extensions (issue 14)


def with_fields(**values: str) -> bytes:
    """EXAMPLE with named columns replaced (the 133-column profile's names)."""
    col = {n: i for i, n in enumerate(cucm.PROFILES[133])}
    row = fields(EXAMPLE)
    for name, value in values.items():
        row[col[name]] = value
    return join([v if v.lstrip("-").isdigit() else f'"{v}"' for v in row]).encode()


@pytest.mark.parametrize(("orig", "dest", "direction", "trunk"), [
    ("SEP0A1B2C3D4E5F", "", "outgoing", ""),  # busy or failed: a phone is inside, never incoming
    ("CSFJDOE", "", "outgoing", ""),
    ("AN0A1B2C3D4E5F001", "SIPTRK_PSTN_A", "outgoing", "SIPTRK_PSTN_A"),  # an analog gateway port is a phone
    ("ANATOLE-GW", "SEP0A1B2C3D4E5F", "incoming", "ANATOLE-GW"),  # ...a trunk named AN... is not
    ("SIPTRK_PSTN_A", "CiscoUM1-VI3", "incoming", "SIPTRK_PSTN_A"),  # voicemail ports are inside, never transit
    ("SEP0A1B2C3D4E5F", "CiscoUM1-VI3", "internal", ""),
    ("CiscoUM1-VI3", "SEP0A1B2C3D4E5F", "internal", ""),
    ("CiscoUM1-VI3", "SIPTRK_PSTN_A", "outgoing", "SIPTRK_PSTN_A"),  # a message notification call-out
    ("SIPTRK_PSTN_A", "", "incoming", "SIPTRK_PSTN_A"),
])
def test_direction_from_the_devices(orig: str, dest: str, direction: str, trunk: str) -> None:
    [r] = records(run(with_fields(origDeviceName=orig, destDeviceName=dest)))
    assert (r.direction, r.trunk) == (direction, trunk)


def test_voicemail_extension_is_the_mailbox_owner() -> None:
    data = with_fields(origDeviceName="SIPTRK_PSTN_A", destDeviceName="CiscoUM1-VI3", callingPartyNumber="0155507788",
                       originalCalledPartyNumber="2001", finalCalledPartyNumber="2999", lastRedirectDn="2001")
    [r] = records(run(data))
    assert (r.direction, r.extension) == ("incoming", "2001")


@pytest.mark.parametrize(("values", "recording"), [
    ({"originalCalledPartyNumber": "b00105401002", "finalCalledPartyNumber": "b00105401002"}, True),
    ({"finalCalledPartyNumber": "B0029901001"}, True),  # a conference bridge
    ({"comment": "RecordingCall: far end"}, True),
    ({"comment": "x;BIB;y"}, True),
    ({"comment": "ANATOLE-LAB"}, False),
    ({"callingPartyNumber": "b00105401002"}, True),  # the phone's built-in bridge calls the recorder
])
def test_recording_and_bridge_legs_are_internal(values: dict[str, str], recording: bool) -> None:
    [r] = records(run(with_fields(**values)))
    assert (r.direction == "internal") == recording
    assert any("recording" in n for n in r.notes) == recording
    if recording:
        assert r.trunk == ""


@pytest.mark.parametrize(("calling", "extension"), [
    ("2001", "2001"), ("+14085552001", "+14085552001"),  # globalised: the site's dial plan maps it (own_extension)
    ("40855520XX", ""), ("2001*", ""), ("+", ""),
])
def test_the_extension_is_the_phones_own_number(calling: str, extension: str) -> None:
    [r] = records(run(with_fields(callingPartyNumber=calling)))
    assert r.extension == extension and r.caller == calling
    assert any("masked" in n for n in r.notes) == (extension == "")
