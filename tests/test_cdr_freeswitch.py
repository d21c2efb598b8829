"""FreeSWITCH mod_cdr_csv and mod_json_cdr parsers: documented rows, fixtures, bad input, mutations, sniffing."""

from __future__ import annotations

import json

import pytest
from cdr_support import DATA, GARBAGE, mutated_stream, one, other_formats, records
from cdr_support import parse_checked as run
from hypothesis import given

from ingest.cdr import asterisk, asterisk_custom, freeswitch_csv, freeswitch_json
from ingest.cdr.classify import DEFAULT_RULES
from ingest.cdr.model import CallRecord, ParseContext, Reject, Skipped
from ingest.dialplan import DialPlan

ROW_OUT = (b'"Alice Martin","2001","0155501234","default","2025-03-14 10:15:02","2025-03-14 10:15:09",'
           b'"2025-03-14 10:17:41","159","152","NORMAL_CLEARING","6f1c0d2e-3b4a-4c5d-9e8f-0a1b2c3d4e5f",'
           b'"a93b7c61-2d4e-4f80-8a1b-5c6d7e8f9012","2001","PCMA","PCMA"')
ROW_IN = (b'"","0155507788","2003","public","2025-03-14 10:20:11","","2025-03-14 10:20:31","20","0","NO_ANSWER",'
          b'"0c9d8e7f-1a2b-4c3d-8e9f-a0b1c2d3e4f5","","","PCMA","PCMA"')
SPREADSHEET = (b"Alice Martin,2001,0155501234,default,2020/2/10 22:41,2020/2/10 22:41,2020/2/10 22:44,159,152,"
               b"NORMAL_CLEARING,6f1c0d2e-3b4a-4c5d-9e8f-0a1b2c3d4e5f,,2001,PCMA,PCMA")
DOC = b"""{"core-uuid":"1b2c3d4e-aaaa-4bbb-8ccc-0d0e0f101112","switchname":"fs1",
 "channel_data":{"direction":"outbound","state":"CS_REPORTING"},
 "variables":{"uuid":"6f1c0d2e-3b4a-4c5d-9e8f-0a1b2c3d4e5f","direction":"outbound","start_epoch":"1741943702",
  "answer_stamp":"2025-03-14%2010%3A15%3A09","duration":"159","billsec":"152","billmsec":"151870",
  "hangup_cause":"NORMAL_CLEARING","sip_gateway_name":"carrier_a","accountcode":"2001"},
 "callflow":[{"caller_profile":{"caller_id_number":"2001","destination_number":"0155501234"},
  "times":{"created_time":"1741943702120455","answered_time":"1741943709004120","hangup_time":"1741943860874310"}}]}
"""
PLAN = DialPlan("FR", outside_prefix="9", national_prefix="0", extensions=[("2000", "2999")])


def decided(rec: CallRecord) -> tuple[str, str, str, str, str, str]:
    """(direction, rule, status, extension, trunk, called) the importer decides from the record's facts (French
    site, extensions 2000-2999, default channel patterns)."""
    from pipeline.cdrimport import decide_record

    return decide_record(PLAN, DEFAULT_RULES, rec)


N = len(DOC.splitlines())
OTHER_FORMATS = other_formats("freeswitch", "freeswitch-json")


# ------------------------------------------------------------------------------------------ CSV

def test_csv_documented_rows():
    a, b = run(freeswitch_csv, ROW_OUT + b"\n" + ROW_IN + b"\n")
    assert isinstance(a, CallRecord) and isinstance(b, CallRecord)
    assert (a.start, a.answer, a.duration, a.billable) == (1741943702, 1741943709, 159, 152)
    assert (a.native_id, a.group, a.disposition) == ("6f1c0d2e-3b4a-4c5d-9e8f-0a1b2c3d4e5f",) * 2 + ("answered",)
    assert (a.caller, a.dialled, a.account, a.direction) == ("2001", "0155501234", "2001", "")
    assert (b.start, b.answer, b.duration, b.billable, b.disposition) == (1741944011, None, 20, 0, "no_answer")
    assert (b.caller, b.dialled) == ("0155507788", "2003")
    assert decided(a) == ("outgoing", "dialplan", "", "2001", "", "")  # default context, a b-leg: a number
    assert decided(b) == ("incoming", "context", "", "2003", "", "")  # public context


def test_csv_spreadsheet_resave():
    r = one(freeswitch_csv, SPREADSHEET)
    assert isinstance(r, CallRecord)
    assert r.start == 1581370860  # 2020-02-10 22:41 Paris = 21:41 UTC
    assert r.notes == ["low precision"]
    assert (r.duration, r.billable) == (159, 152)


def test_csv_fixture():
    items = run(freeswitch_csv, (DATA / "freeswitch-master.csv").read_bytes())
    recs = records(items)
    assert len(recs) == len(items) == 12
    disp = [r.disposition for r in recs]
    assert disp == ["answered", "no_answer", "answered", "no_answer", "answered", "busy", "no_answer", "failed",
                    "answered", "answered", "failed", "answered"]
    assert recs[3].dialled == "2003" and recs[3].billable == 0  # LOSE_RACE: the parallel-ring loser
    assert recs[8].dialled == "*98"
    assert recs[9].billable == 180  # MEDIA_TIMEOUT after talk: answered, rated
    assert "invalid utf-8 replaced" in recs[11].notes
    assert len({r.native_id for r in recs}) == 12


def test_csv_profile_with_direction_and_gateway():
    ctx = ParseContext(timezone="Europe/Paris", profile={"columns": [
        "${uuid}", "${originating_leg_uuid}", "${direction}", "${sip_gateway_name}", "${caller_id_number}",
        "${destination_number}", "${start_epoch}", "${answer_epoch}", "${end_epoch}", "${billsec}",
        "${hangup_cause}"]})
    data = (b"uuid,originating_leg_uuid,direction,sip_gateway_name,caller_id_number,destination_number,start_epoch,"
            b"answer_epoch,end_epoch,billsec,hangup_cause\n"
            b'"b-1","a-1","outbound","carrier_a","2001","0155501234","1741943702","1741943709","1741943861","152",'
            b'"NORMAL_CLEARING"\n'
            b'"a-2","","inbound","carrier_a","0155507788","0155500100","1741944011","0","1741944031","0",'
            b'"ORIGINATOR_CANCEL"\n'
            b'"a-3","","inbound","","2001","2002","1741944011","0","1741944031","0","USER_BUSY"\n')
    head, out, inc, internal = run(freeswitch_csv, data, ctx)
    assert isinstance(head, Skipped) and head.what == "header"
    assert isinstance(out, CallRecord) and isinstance(inc, CallRecord) and isinstance(internal, CallRecord)
    assert out.group == "a-1"
    assert decided(out) == ("outgoing", "trunk-pattern", "", "2001", "carrier_a", "0155501234")
    assert (out.start, out.answer, out.duration, out.billable) == (1741943702, 1741943709, 159, 152)
    assert (inc.disposition, inc.answer) == ("no_answer", None)
    assert decided(inc) == ("incoming", "trunk-pattern", "", "0155500100", "carrier_a", "")
    assert internal.disposition == "busy" and decided(internal)[:2] == ("internal", "dialplan")


def test_csv_bad_profile():
    items = run(freeswitch_csv, ROW_OUT + b"\n", ParseContext(profile={"columns": ["uuid", "duration"]}))
    assert isinstance(items[0], Reject) and items[0].reason.startswith("profile:")


def test_csv_empty_blank_header_garbage():
    assert run(freeswitch_csv, b"") == []
    assert all(isinstance(it, Skipped) for it in run(freeswitch_csv, b"\n\r\n \r"))
    header = b'"caller_id_name","caller_id_number","destination_number","context","start_stamp","answer_stamp",' \
             b'"end_stamp","duration","billsec","hangup_cause","uuid","bleg_uuid","accountcode","read_codec",' \
             b'"write_codec"\r\n'
    (h,) = run(freeswitch_csv, header)
    assert isinstance(h, Skipped) and h.what == "header"
    assert not records(run(freeswitch_csv, GARBAGE))


def test_csv_truncated_and_wrong_columns():
    items = run(freeswitch_csv, ROW_OUT[:120] + b"\n" + ROW_OUT + b',"x"\n' + b'"a","b"\n' + ROW_IN)
    assert isinstance(items[0], Reject) and "unterminated" in items[0].reason
    assert isinstance(items[1], Reject) and items[1].reason == "columns: 16 fields, the template has 15"
    assert isinstance(items[2], Reject) and items[2].reason == "columns: 2 fields, the template has 15"
    assert isinstance(items[3], CallRecord)


def test_csv_invalid_utf8_and_mixed_newlines():
    data = ROW_OUT.replace(b"Alice", b"Al\xffce") + b"\r\n" + ROW_IN + b"\r" + SPREADSHEET + b"\n\r\n" + ROW_OUT
    kinds = [type(it).__name__ for it in run(freeswitch_csv, data)]
    assert kinds == ["CallRecord"] * 3 + ["Skipped", "CallRecord"]


@pytest.mark.parametrize(("old", "new", "reason"), [
    (b'"159","152"', b'"9999999","152"', "duration: 9999999 is more than 7 days"),
    (b'"159","152"', b'"-1","0"', "duration: -1 is negative"),
    (b'"159","152"', b'"159","abc"', "billsec: 'abc' is not a whole number of seconds"),
    (b'"159","152"', b'"100","152"', "billsec: 152 is more than duration 100"),
    (b'"2025-03-14 10:15:02"', b'"2025-13-45 10:00:00"',
     "start_stamp: '2025-13-45 10:00:00' is not a date 'YYYY-MM-DD HH:MM:SS'"),
    (b'"2025-03-14 10:15:09"', b'"yesterday"', "answer_stamp: 'yesterday' is not a date 'YYYY-MM-DD HH:MM:SS'"),
    (b'"2025-03-14 10:15:02"', b'""', "start: empty"),
])
def test_csv_bad_fields(old, new, reason):
    r = one(freeswitch_csv, ROW_OUT.replace(old, new, 1))
    assert isinstance(r, Reject) and r.reason == reason


def test_csv_dst_ambiguous_start():
    row = ROW_OUT.replace(b'"2025-03-14 10:15:02","2025-03-14 10:15:09","2025-03-14 10:17:41","159","152"',
                          b'"2025-10-26 02:30:00","2025-10-26 02:30:10","2025-10-26 03:10:00","2400","2390"')
    r = one(freeswitch_csv, row)
    assert isinstance(r, CallRecord) and r.start == 1761442200 and r.answer == 1761442210


def test_dispositions():
    d = freeswitch_csv.disposition
    assert d("NORMAL_CLEARING", True) == "answered"
    assert d("NORMAL_CLEARING", False) == "failed"
    assert d("USER_BUSY", False) == "busy"
    assert d("17", False) == "busy"
    for cause in ("NO_ANSWER", "ORIGINATOR_CANCEL", "NO_USER_RESPONSE", "LOSE_RACE"):
        assert d(cause, False) == "no_answer"
    assert d("GATEWAY_DOWN", False) == "failed"
    assert d("", False) == "failed"


# ------------------------------------------------------------------------------------------ JSON

def test_json_documented_document():
    items = run(freeswitch_json, DOC)
    r = items[0]
    assert isinstance(r, CallRecord)
    assert all(isinstance(it, Skipped) and it.what == "continuation" for it in items[1:]) and len(items) == N
    assert (r.start, r.answer, r.duration, r.billable) == (1741943702, 1741943709, 159, 152)
    assert (r.native_id, r.group) == ("6f1c0d2e-3b4a-4c5d-9e8f-0a1b2c3d4e5f",) * 2
    assert r.caller == "2001" and decided(r) == ("outgoing", "trunk-pattern", "", "2001", "carrier_a", "0155501234")
    assert (r.dialled, r.account, r.disposition) == ("0155501234", "2001", "answered")
    assert r.raw == DOC.decode().splitlines()[0]


def test_json_fixture_pretty():
    items = run(freeswitch_json, (DATA / "freeswitch.json").read_bytes())
    recs = records(items)
    assert len(recs) == 12
    assert not [it for it in items if isinstance(it, Reject)]
    assert all(it.what == "continuation" for it in items if isinstance(it, Skipped))
    a_leg, b_leg = recs[0], recs[1]
    assert a_leg.line == 1 and b_leg.line > 1
    # a-leg from the phone bridged to sofia/gateway/carrier_a/...: outgoing, outpulsed number from the dial string
    assert a_leg.dialled == "90155501234"
    assert decided(a_leg) == ("outgoing", "trunk-pattern", "", "2001", "carrier_a", "0155501234")
    # the b-leg through the gateway belongs to the a-leg's call
    assert b_leg.group == a_leg.native_id and b_leg.native_id != a_leg.native_id
    assert decided(b_leg)[:5] == ("outgoing", "trunk-pattern", "", "2001", "carrier_a")
    # incoming via the gateway, ringing two phones in parallel
    inbound, lost, won = recs[2:5]
    assert decided(inbound)[0] == decided(lost)[0] == decided(won)[0] == "incoming"
    assert lost.group == won.group == inbound.native_id
    assert (lost.disposition, won.disposition) == ("no_answer", "answered")
    assert [r.disposition for r in recs[5:9]] == ["no_answer", "busy", "no_answer", "failed"]
    assert recs[9].dialled == "*98" and decided(recs[9])[:3] == ("internal", "app-internal", "service")
    assert recs[10].start == 1741948200 and decided(recs[10])[0] == "incoming"  # URL-encoded values


def test_json_fixture_lines_matches_pretty():
    pretty = records(run(freeswitch_json, (DATA / "freeswitch.json").read_bytes()))
    compact = records(run(freeswitch_json, (DATA / "freeswitch-lines.json").read_bytes()))
    assert [r.line for r in compact] == list(range(1, 13))
    key = [(r.native_id, r.group, r.start, r.answer, r.duration, r.billable, r.facts, r.disposition, r.dialled)
           for r in pretty]
    assert key == [(r.native_id, r.group, r.start, r.answer, r.duration, r.billable, r.facts, r.disposition,
                    r.dialled) for r in compact]
    assert "invalid utf-8 replaced" in compact[6].notes


def test_json_url_encoded_variables_only():
    doc = {"variables": {"uuid": "u-1", "start_stamp": "2025-03-14%2010%3A15%3A02",
                         "answer_stamp": "2025-03-14%2010%3A15%3A09", "end_stamp": "2025-03-14%2010%3A17%3A41",
                         "caller_id_number": "2001", "destination_number": "%2A98%23",
                         "hangup_cause": "NORMAL_CLEARING"}}
    r = one(freeswitch_json, json.dumps(doc).encode())
    assert isinstance(r, CallRecord)
    assert (r.start, r.answer, r.duration, r.billable, r.dialled) == (1741943702, 1741943709, 159, 152, "*98#")


def test_json_unparseable_document():
    bad = DOC.replace(b'"duration":"159",', b'"duration":"159",,')
    items = run(freeswitch_json, bad + DOC)
    assert isinstance(items[0], Reject) and items[0].reason.startswith("json:")
    assert all(isinstance(it, Skipped) and it.what == "continuation of rejected document" for it in items[1:N])
    assert isinstance(items[N], CallRecord)
    # a stray closing brace ends the document early: one Reject, its remains are continuation up to the next one
    early = DOC.replace(b'"duration":"159",', b'"duration":"159"}},')
    items = run(freeswitch_json, early + DOC)
    assert isinstance(items[0], Reject)
    assert [it.what for it in items[1:N]] == ["continuation of rejected document"] * (N - 1)
    assert isinstance(items[N], CallRecord)


def test_json_truncated_documents():
    cut = b"\n".join(DOC.splitlines()[:3]) + b"\n"
    items = run(freeswitch_json, cut + DOC + cut)
    assert isinstance(items[0], Reject) and "truncated" in items[0].reason and "line 4" in items[0].reason
    assert isinstance(items[3], CallRecord) and items[3].line == 4
    assert isinstance(items[3 + N], Reject) and "input ends" in items[3 + N].reason
    assert all(isinstance(it, Skipped) for it in items[4 + N:])
    # a JSON line cut in the middle of a string
    line = json.dumps(json.loads(DOC)).encode()
    items = run(freeswitch_json, line[:200] + b"\n" + line + b"\n")
    assert isinstance(items[0], Reject) and isinstance(items[1], CallRecord)


def test_json_odd_documents():
    items = run(freeswitch_json, b'{}\n{"variables":{"uuid":"x"}}\n[1,2]\nnot json\n[\n' + DOC + b"]\n")
    assert isinstance(items[0], Reject) and "not a FreeSWITCH CDR" in items[0].reason
    assert isinstance(items[1], Reject) and items[1].reason == "start: empty"
    assert isinstance(items[2], Reject) and "outside any document" in items[2].reason
    assert isinstance(items[3], Reject)
    assert isinstance(items[4], Skipped) and items[4].what == "json punctuation"
    assert isinstance(items[5], CallRecord)
    assert isinstance(items[-1], Skipped) and items[-1].what == "json punctuation"


@pytest.mark.parametrize(("key", "value", "reason"), [
    ("duration", "9999999", "duration: 9999999 is more than 7 days"),
    ("duration", "-3", "duration: -3 is negative"),
    ("billsec", "x", "billsec: 'x' is not a whole number of seconds"),
    ("start_epoch", "soon", "start_epoch: 'soon' is not an epoch"),
])
def test_json_bad_values(key, value, reason):
    doc = json.loads(DOC)
    doc["variables"][key] = value
    if key == "start_epoch":
        del doc["callflow"]
    r = one(freeswitch_json, json.dumps(doc).encode())
    assert isinstance(r, Reject) and r.reason == reason


def test_json_empty_blank_garbage_mixed_newlines():
    assert run(freeswitch_json, b"") == []
    assert all(isinstance(it, Skipped) for it in run(freeswitch_json, b"\n\r\n  \r"))
    assert not records(run(freeswitch_json, GARBAGE))
    assert not records(run(freeswitch_json, b"{" * 5000 + b"\n" + b"}" * 4000))
    mixed = DOC.replace(b"\n", b"\r\n", 2).replace(b"\n", b"\r", 1)
    items = run(freeswitch_json, mixed)
    assert isinstance(items[0], CallRecord)


def test_json_document_size_cap(monkeypatch):
    monkeypatch.setattr(freeswitch_json, "MAX_DOC_LINES", 3)
    items = run(freeswitch_json, DOC)
    assert isinstance(items[0], Reject) and "not closed" in items[0].reason


# ------------------------------------------------------------------------------------------ random mutations

CSV_LINES = (DATA / "freeswitch-master.csv").read_bytes().splitlines() + [SPREADSHEET]
JSON_LINES = (DATA / "freeswitch-lines.json").read_bytes().splitlines()
PRETTY = (DATA / "freeswitch.json").read_bytes().splitlines(keepends=True)
PRETTY_DOCS = [b"".join(PRETTY[:61]), b"".join(PRETTY[61:123]), DOC]


INSERTS = [b",", b'"', b"{", b"}", b"[", b"\\", b":", b"9", b"\xe9", b"%"]
BREAKS = [b"\n", b"\r", b"\r\n", b"\n{"]


def mutated(base: list[bytes], sep: bytes = b"\n"):
    return mutated_stream(base, INSERTS, breaks=BREAKS, sep=sep, max_pieces=4)


@given(mutated(CSV_LINES))
def test_mutations_csv(data):
    run(freeswitch_csv, data)


@given(mutated(JSON_LINES))
def test_mutations_json_lines(data):
    run(freeswitch_json, data)


@given(mutated(PRETTY_DOCS, b""))
def test_mutations_json_pretty(data):
    run(freeswitch_json, data)


# ------------------------------------------------------------------------------------------ sniffing

def test_sniff_fixtures():
    fs_csv = (DATA / "freeswitch-master.csv").read_bytes()
    pretty = (DATA / "freeswitch.json").read_bytes()
    compact = (DATA / "freeswitch-lines.json").read_bytes()
    assert freeswitch_csv.sniff(fs_csv) >= 70
    assert freeswitch_json.sniff(pretty) >= 70 and freeswitch_json.sniff(compact) >= 70
    assert freeswitch_json.sniff(pretty[:2000]) >= 70  # a head cut inside the first document
    for data in (pretty, compact):
        assert freeswitch_csv.sniff(data) < 30
    assert freeswitch_json.sniff(fs_csv) < 30
    for module in (asterisk, asterisk_custom):
        assert module.sniff(fs_csv) < 30
    for name in ("asterisk-master.csv", "asterisk-custom.csv"):
        data = (DATA / name).read_bytes()
        assert freeswitch_csv.sniff(data) < 30 and freeswitch_json.sniff(data) < 30


def test_sniff_documented_rows():
    assert freeswitch_csv.sniff(ROW_OUT + b"\n" + ROW_IN + b"\n") >= 70
    assert freeswitch_csv.sniff(SPREADSHEET + b"\n") >= 70
    assert freeswitch_json.sniff(DOC) >= 70


@pytest.mark.parametrize("name", sorted(OTHER_FORMATS))
def test_sniff_other_formats_low(name):
    assert freeswitch_csv.sniff(OTHER_FORMATS[name]) < 30
    assert freeswitch_json.sniff(OTHER_FORMATS[name]) < 30


def test_sniff_garbage():
    for head in (b"", GARBAGE, b"\xff" * 70000, b"{" * 1000, b'"' * 1000):
        assert freeswitch_csv.sniff(head) == 0
        assert freeswitch_json.sniff(head) < 30
