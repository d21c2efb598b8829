"""Asterisk cdr_csv and cdr_custom parsers: documented rows, fixtures, bad input, random mutations, sniffing."""

from __future__ import annotations

import pytest
from cdr_support import DATA, GARBAGE, mutated_stream, one, other_formats, records
from cdr_support import parse_checked as run
from hypothesis import given

from ingest.cdr import asterisk, asterisk_custom, freeswitch_csv, freeswitch_json
from ingest.cdr.classify import DEFAULT_RULES
from ingest.cdr.model import CallRecord, Facts, ParseContext, Reject, Skipped
from ingest.dialplan import DialPlan

ROW_OUT = (b'"","2001","0155501234","from-internal","""Alice Martin"" <2001>","PJSIP/2001-0000002a",'
           b'"PJSIP/trunk-out-0000002b","Dial","PJSIP/0155501234@trunk-out,60","2025-03-14 10:15:02",'
           b'"2025-03-14 10:15:09","2025-03-14 10:17:41",159,152,"ANSWERED","DOCUMENTATION","1741943702.84",""')
ROW_IN = (b'"","0155507788","2003","from-trunk","""0155507788"" <0155507788>","PJSIP/trunk-in-00000031",'
          b'"PJSIP/2003-00000032","Dial","PJSIP/2003,20","2025-03-14 10:20:11",,"2025-03-14 10:20:31",20,0,'
          b'"NO ANSWER","DOCUMENTATION","1741944011.97",""')
# the documented 21-column tail (uniqueid, userfield, peeraccount, linkedid, sequence) on the inbound row
ROW_21 = ROW_IN.rsplit(b",", 2)[0] + b',"1741944011.97","","","1741944011.97",88'
CUSTOM_ROW = (b'"""Alice Martin"" <2001>","2001","2002","internal","PJSIP/2001-00000040","PJSIP/2002-00000041","Dial",'
              b'"PJSIP/2002,30","2025-03-14 11:02:00","","2025-03-14 11:02:30","30","0","NO ANSWER","DOCUMENTATION",'
              b'"","1741946520.120","",9')

OTHER_FORMATS = other_formats("asterisk", "asterisk-custom")
PLAN = DialPlan("FR", outside_prefix="9", national_prefix="0", extensions=[("2000", "2999")])


def decided(rec: CallRecord) -> tuple[str, str, str, str, str, str]:
    """(direction, rule, status, extension, trunk, called) that the importer decides from the record's facts
    (a French site, extensions 2000-2999, outside-line prefix 9, default channel patterns)."""
    from pipeline.cdrimport import decide_record

    return decide_record(PLAN, DEFAULT_RULES, rec)


# ------------------------------------------------------------------------------------------ documented rows

def test_documented_outbound_row():
    r = one(asterisk, ROW_OUT)
    assert isinstance(r, CallRecord)
    assert r.start == 1741943702  # 10:15:02 Paris = 09:15:02 UTC
    assert r.answer == 1741943709
    assert (r.duration, r.billable) == (159, 152)
    assert (r.native_id, r.group) == ("1741943702.84", "1741943702.84")
    assert (r.direction, r.disposition) == ("", "answered")  # the parser reports facts, the importer decides
    assert r.facts == Facts(origin="PJSIP/2001", target="PJSIP/trunk-out", app="Dial", context="from-internal",
                            dial_tech="PJSIP", dial_peer="trunk-out", dial_number="0155501234")
    assert decided(r) == ("outgoing", "trunk-pattern", "", "2001", "trunk-out", "0155501234")
    assert (r.caller, r.dialled, r.account) == ("2001", "0155501234", "")
    assert r.raw == ROW_OUT.decode()
    assert r.notes == []


def test_documented_unanswered_inbound_row():
    r = one(asterisk, ROW_IN)
    assert isinstance(r, CallRecord)
    assert r.start == 1741944011 and r.answer is None
    assert (r.duration, r.billable, r.disposition) == (20, 0, "no_answer")
    assert (r.caller, r.dialled) == ("0155507788", "2003")
    assert decided(r) == ("incoming", "trunk-pattern", "", "2003", "trunk-in", "")


def test_documented_21_column_tail():
    r = one(asterisk, ROW_21)
    assert isinstance(r, CallRecord)
    assert (r.native_id, r.group, r.leg) == ("1741944011.97", "1741944011.97", "88")


def test_19_20_columns_and_a_17th_userfield():
    base = ROW_IN.rsplit(b",", 2)[0]  # the 16 base columns
    r = one(asterisk, base + b',"","1741944000.90",7')  # newcdrcolumns only
    assert isinstance(r, CallRecord) and (r.native_id, r.group, r.leg) == ("", "1741944000.90", "7")
    r = one(asterisk, base + b',"1741944011.97","","1741944000.90",7')  # + loguniqueid
    assert isinstance(r, CallRecord) and (r.native_id, r.group, r.leg) == ("1741944011.97", "1741944000.90", "7")
    r = one(asterisk, base + b',"customer-42"')  # loguserfield only
    assert isinstance(r, CallRecord) and r.native_id == ""
    r = one(asterisk, base + b',"customer-42","","1741944000.90",7')
    assert isinstance(r, CallRecord) and (r.native_id, r.group) == ("", "1741944000.90")
    r = one(asterisk, base + b',"","1741944000.90","7"')  # a quoted sequence: not what cdr_csv writes
    assert isinstance(r, Reject) and "cdr_custom" in r.reason
    assert asterisk.sniff(base + b',"","1741944000.90",7\n') >= 70


def test_utc_files_and_other_zones():
    r = one(asterisk, ROW_OUT, ParseContext(timezone="UTC"))
    assert r.start == 1741947302  # usegmtime=yes: the stamps are UTC


def test_documented_custom_row():
    r = one(asterisk_custom, CUSTOM_ROW)
    assert isinstance(r, CallRecord)
    assert r.start == 1741946520 and r.answer is None
    assert (r.duration, r.billable, r.disposition) == (30, 0, "no_answer")
    assert (r.native_id, r.group, r.leg) == ("1741946520.120", "1741946520.120", "9")
    assert (r.caller, r.dialled) == ("2001", "2002")
    assert decided(r) == ("internal", "dst-channel-extension", "", "2001", "", "")


# ------------------------------------------------------------------------------------------ fixtures

def test_master_fixture():
    items = run(asterisk, (DATA / "asterisk-master.csv").read_bytes())
    recs = records(items)
    assert len(recs) == len(items) == 14
    by_line = {r.line: r for r in recs}
    # 16/17/18/21 columns mixed
    assert by_line[3].native_id == "" and decided(by_line[3])[:4] == ("internal", "dst-channel-extension", "", "2001")
    assert by_line[4].native_id == "1741939800.20" and by_line[4].disposition == "busy"
    assert decided(by_line[4])[4:] == ("trunk-out", "0155509999") and by_line[4].account == "4711"
    # parallel Dial: same uniqueid and linkedid, told apart by sequence; the loser is unanswered
    loser, winner = by_line[5], by_line[6]
    assert loser.group == winner.group == "1741946400.101"
    assert (loser.native_id, loser.leg) != (winner.native_id, winner.leg)
    assert (loser.disposition, loser.billable) == ("no_answer", 0)
    assert (winner.disposition, winner.billable) == ("answered", 120)
    # Local channel halves: own uniqueid, shared linkedid
    assert by_line[7].group == by_line[8].group == "1741948200.110"
    assert by_line[7].native_id != by_line[8].native_id
    assert decided(by_line[7])[:2] == ("incoming", "trunk-pattern")  # the queue answered by a member's Local half
    assert decided(by_line[8])[:4] == ("internal", "dst-channel-extension", "", "2005")  # its ;2 half: inside
    # calls ending in the dial plan keep s/h as dialled, and are never priced
    assert by_line[9].dialled == "s" and decided(by_line[9])[:4] == ("incoming", "trunk-pattern", "", "")
    assert by_line[10].dialled == "h" and decided(by_line[10])[:4] == ("internal", "app-internal", "service", "2003")
    # invalid UTF-8 in the caller name
    assert "\ufffd" in by_line[11].raw and "invalid utf-8 replaced" in by_line[11].notes
    assert by_line[11].native_id == "pbx1-1741953600.140"
    assert by_line[12].disposition == "failed"  # CONGESTION
    assert by_line[13].dialled == "*72" and by_line[13].disposition == "failed"
    assert by_line[14].dialled == "90155504444#" and decided(by_line[14])[5] == "0155504444"


def test_custom_fixture():
    items = run(asterisk_custom, (DATA / "asterisk-custom.csv").read_bytes())
    recs = records(items)
    assert len(recs) == len(items) == 12
    assert recs[1].account == "4711" and decided(recs[1])[0] == "outgoing" and decided(recs[1])[4] == "trunk-out"
    assert recs[7].dialled == "s" and recs[8].dialled == "h"
    assert "invalid utf-8 replaced" in recs[9].notes
    assert [r.leg for r in recs] == [str(n) for n in range(9, 21)]


def test_custom_profile_template():
    ctx = ParseContext(timezone="Europe/Paris", profile={"columns": [
        "${CDR(start,u)}", "${CDR(answer,u)}", "${CDR(src)}", "${CDR(dst)}", "${CDR(billsec)}",
        "${CDR(disposition)}", "${CDR(uniqueid)}", "${CDR(linkedid)}", "note"]})
    data = (b'"1741943702.120","1741943709.004","2001","0155501234","152","ANSWERED","1741943702.84",'
            b'"1741943702.80","x"\n'
            b'"1741944011","0","0155507788","2003","0","NO ANSWER","1741944011.97","1741944011.97",""\n'
            b'"1741944011","0","0155507788","2003","0","NO ANSWER","1741944011.97"\n')
    items = run(asterisk_custom, data, ctx)
    a, b, c = items
    assert isinstance(a, CallRecord) and isinstance(b, CallRecord)
    assert (a.start, a.answer, a.billable, a.group) == (1741943702, 1741943709, 152, "1741943702.80")
    assert a.duration == 152 and "duration unknown: billsec used" in a.notes
    assert b.answer is None and b.disposition == "no_answer"
    assert isinstance(c, Reject) and c.reason == "columns: 7 fields, the template has 9"


def test_custom_bad_profile_rejects_every_record_line():
    for profile in ({"columns": 5}, {"columns": []}, {"columns": ["src", "dst"]}):
        items = run(asterisk_custom, CUSTOM_ROW + b"\n\n", ParseContext(profile=profile))
        assert isinstance(items[0], Reject) and items[0].reason.startswith("profile:")
        assert isinstance(items[1], Skipped)


def test_custom_profile_as_string_and_header():
    ctx = ParseContext(profile={"columns": "start,src,dst,duration,billsec,disposition"})
    data = b"start,src,dst,duration,billsec,disposition\n2025-03-14 10:00:00,2001,2002,10,5,ANSWERED\n"
    head, rec = run(asterisk_custom, data, ctx)
    assert isinstance(head, Skipped) and head.what == "header"
    assert isinstance(rec, CallRecord) and rec.billable == 5


# ------------------------------------------------------------------------------------------ bad input

@pytest.mark.parametrize("module", [asterisk, asterisk_custom])
def test_empty_blank_and_garbage(module):
    assert run(module, b"") == []
    blank = run(module, b"\n\r\n   \r\t\n")
    assert all(isinstance(it, Skipped) and it.what == "blank" for it in blank) and len(blank) == 4
    items = run(module, GARBAGE)
    assert not records(items)


def test_header_only():
    header = b'"accountcode","src","dst","dcontext","clid","channel","dstchannel","lastapp","lastdata","start",' \
             b'"answer","end","duration","billsec","disposition","amaflags","uniqueid","userfield"\n'
    (item,) = run(asterisk, header)
    assert isinstance(item, Skipped) and item.what == "header"


def test_truncated_line():
    cut = ROW_OUT[:150]
    items = run(asterisk, ROW_IN + b"\n" + cut + b"\n" + ROW_IN)
    assert isinstance(items[0], CallRecord) and isinstance(items[2], CallRecord)
    assert isinstance(items[1], Reject) and "unterminated" in items[1].reason
    cut_at_comma = ROW_OUT[: ROW_OUT.index(b',"ANSWERED"')]
    r = one(asterisk, cut_at_comma)
    assert isinstance(r, Reject) and r.reason == "columns: 14 fields, cdr_csv has 16 to 21"


def test_wrong_column_counts():
    for data in (ROW_OUT + b',"extra"', b'"a","b","c"', CUSTOM_ROW):
        r = one(asterisk, data)
        assert isinstance(r, Reject) and r.reason.startswith("columns:")
    r = one(asterisk_custom, ROW_OUT)
    assert isinstance(r, Reject) and r.reason == "columns: 18 fields, the template has 19"


def test_quoting_errors():
    r = one(asterisk, ROW_OUT.replace(b'"Dial"', b'"Dial"x'))
    assert isinstance(r, Reject) and "text after the closing quote" in r.reason
    r = one(asterisk, ROW_OUT.replace(b"159,", b'15"9,'))
    assert isinstance(r, Reject) and "stray quote" in r.reason


def test_invalid_utf8_and_mixed_newlines():
    data = ROW_OUT.replace(b"Alice Martin", b"Al\xffce \xc3(") + b"\r\n" + ROW_IN + b"\r" + ROW_OUT + b"\n\n" + ROW_21
    items = run(asterisk, data)
    assert [type(it).__name__ for it in items] == ["CallRecord"] * 3 + ["Skipped", "CallRecord"]
    assert "invalid utf-8 replaced" in items[0].notes


@pytest.mark.parametrize(("old", "new", "reason"), [
    (b"159,152", b"999999,152", "duration: 999999 s is more than 7 days"),
    (b"159,152", b"-5,0", "duration: -5 is negative"),
    (b"159,152", b"159,x", "billsec: 'x' is not a whole number of seconds"),
    (b"159,152", b"100,152", "billsec: 152 is more than duration 100"),
    (b'"2025-03-14 10:15:02"', b'"2025-13-45 10:00:00"',
     "start: '2025-13-45 10:00:00' is not a date 'YYYY-MM-DD HH:MM:SS'"),
    (b'"2025-03-14 10:15:09"', b'"14/03/2025 10:15"', "answer: '14/03/2025 10:15' is not a date 'YYYY-MM-DD HH:MM:SS'"),
    (b'"2025-03-14 10:17:41"', b'"2025-02-30 10:17:41"',
     "end: '2025-02-30 10:17:41' is not a date 'YYYY-MM-DD HH:MM:SS'"),
    (b'"2025-03-14 10:15:02"', b'""', "start: empty"),
])
def test_bad_fields(old, new, reason):
    r = one(asterisk, ROW_OUT.replace(old, new, 1))
    assert isinstance(r, Reject)
    assert r.reason == reason
    assert r.raw == ROW_OUT.replace(old, new, 1).decode()


def test_custom_bad_fields():
    r = one(asterisk_custom, CUSTOM_ROW.replace(b'"30","0"', b'"30","40"'))
    assert isinstance(r, Reject) and r.reason == "billsec: 40 is more than duration 30"
    r = one(asterisk_custom, CUSTOM_ROW.replace(b'"30","0"', b'"8000000","0"'))
    assert isinstance(r, Reject) and r.reason.startswith("duration:")


def test_unknown_disposition_is_kept_with_a_note():
    r = one(asterisk, ROW_OUT.replace(b'"ANSWERED"', b'"WEIRD"'))
    assert isinstance(r, CallRecord) and r.disposition == "answered"
    assert any("unknown" in n for n in r.notes)


def test_dst_fall_back_and_spring_forward():
    # 26 Oct 2025, Paris: 02:00-03:00 happens twice. The end (03:10 CET = 02:10 UTC) is not ambiguous, so the
    # start is end - duration = 01:30 UTC, the second 02:30.
    row = ROW_OUT.replace(b'"2025-03-14 10:15:02","2025-03-14 10:15:09","2025-03-14 10:17:41",159,152',
                          b'"2025-10-26 02:30:00","2025-10-26 02:30:10","2025-10-26 03:10:00",2400,2390')
    r = one(asterisk, row)
    assert isinstance(r, CallRecord)
    assert r.start == 1761442200 and r.answer == 1761442210
    assert any("ambiguous" in n for n in r.notes)
    # 30 Mar 2025 02:30 does not exist in Paris: read, never a crash
    row = ROW_OUT.replace(b'"2025-03-14 10:15:02","2025-03-14 10:15:09","2025-03-14 10:17:41"',
                          b'"2025-03-30 02:30:00","2025-03-30 02:30:07","2025-03-30 03:33:00"')
    r = one(asterisk, row)
    assert isinstance(r, CallRecord) and any("nonexistent" in n for n in r.notes)


def test_helpers():
    from ingest.cdr.classify import channel_base, peer

    assert channel_base("PJSIP/trunk-out-0000002b") == "PJSIP/trunk-out"
    assert channel_base("Local/2005@from-queue-00000007;2") == "Local/2005@from-queue"
    assert channel_base("DAHDI/i1/0155507788-1") == "DAHDI/i1/0155507788"
    assert channel_base("") == "" and channel_base("x-1") == "x-1"
    assert peer("Local/2005@from-queue") == "2005" and peer("sofia/gateway/carrier_a") == "carrier_a"
    assert asterisk.dial_target("Dial", "SIP/375232569865@carrier_15_1,60") == ("SIP", "375232569865",
                                                                               "carrier_15_1")
    assert asterisk.dial_target("Dial", "DAHDI/g0/0155501234") == ("DAHDI", "0155501234", "g0")
    assert asterisk.split_csv('"a""b",1,,"",') == [('a"b', True), ("1", False), ("", False), ("", True),
                                                  ("", False)]
    assert asterisk.caller_number('"Alice" <2001>', "x") == "2001"
    assert asterisk.caller_number("", "2001") == "2001"


# ------------------------------------------------------------------------------------------ random mutations

MASTER_LINES = (DATA / "asterisk-master.csv").read_bytes().splitlines()
CUSTOM_LINES = (DATA / "asterisk-custom.csv").read_bytes().splitlines()


INSERTS = [b",", b'"', b'""', b"\\", b"-", b":", b" ", b"9", b"\xe9"]


@given(mutated_stream(MASTER_LINES, INSERTS))
def test_mutations_master(data):
    run(asterisk, data)


@given(mutated_stream(CUSTOM_LINES, INSERTS))
def test_mutations_custom(data):
    run(asterisk_custom, data)


# ------------------------------------------------------------------------------------------ sniffing

def test_sniff_fixtures():
    master = (DATA / "asterisk-master.csv").read_bytes()
    custom = (DATA / "asterisk-custom.csv").read_bytes()
    assert asterisk.sniff(master) >= 70
    assert asterisk_custom.sniff(custom) >= 70
    assert asterisk.sniff(custom) < 30
    assert asterisk_custom.sniff(master) < asterisk.sniff(master)
    for module in (freeswitch_csv, freeswitch_json):
        assert module.sniff(master) < 30 and module.sniff(custom) < 30
    for name in ("freeswitch-master.csv", "freeswitch.json", "freeswitch-lines.json"):
        data = (DATA / name).read_bytes()
        assert asterisk.sniff(data) < 30 and asterisk_custom.sniff(data) < 30


def test_sniff_documented_rows():
    assert asterisk.sniff(ROW_OUT + b"\n" + ROW_IN + b"\n") >= 70
    assert asterisk.sniff(ROW_21 + b"\n") >= 70
    assert asterisk_custom.sniff(CUSTOM_ROW + b"\n") >= 70
    assert asterisk.sniff(CUSTOM_ROW + b"\n") < 30


@pytest.mark.parametrize("name", sorted(OTHER_FORMATS))
def test_sniff_other_formats_low(name):
    assert asterisk.sniff(OTHER_FORMATS[name]) < 30
    assert asterisk_custom.sniff(OTHER_FORMATS[name]) < 30


def test_sniff_garbage():
    for head in (b"", GARBAGE, b"\xff" * 70000, b'"' * 1000, b"\n" * 100):
        assert asterisk.sniff(head) == 0
        assert asterisk_custom.sniff(head) == 0


def test_sniff_cut_head():
    master = (DATA / "asterisk-master.csv").read_bytes()
    assert asterisk.sniff(master[: len(master) - 40]) >= 70  # a head cut mid-line
