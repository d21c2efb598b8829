"""The columnar path (ingest.cdr.blocks + pipeline.columnar) against the row parser: same records line by line, same
rejects and skips, and `batch-rate` writes the same bytes whichever path it takes."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pipeline.batchrate as batchrate
from anatole.config import open_workspace
from ingest._slices import decode
from ingest.cdr import asterisk
from ingest.cdr._scan import count_lines
from ingest.cdr.blocks import DIRECTIONS, DISPOSITIONS, NONE, SLICES, blocks
from ingest.cdr.model import CallRecord, Facts, ParseContext

ZONE = "America/New_York"
FACT_SLICES = ("origin", "target", "app", "context", "dial_tech", "dial_peer", "dial_number")
CONTEXTS = ["from-internal", "from-internal", "from-internal", "from-trunk", "from-pstn", "from-did", "from-external",
            "public", "internal", "ext-queues", "From-Trunk-x", "publicx", "from-internalx", "internal_x", ""]
CHANNELS = ["PJSIP/2001-0000002a", "PJSIP/trunk-out-0000002b", "SIP/gw1-00ab", "PJSIP/carrier-b-1f;2", "SIP/xgw-1",
            "PJSIP/Provider-9", "PJSIP/sip-out-1", "PJSIP/pstn", "PJSIP/OUTBOUND-ff", "PJSIP/2002-1", "PJSIP/sipout",
            "Local/2002@from-internal-0000001a;1", "DAHDI/g0-1", "PJSIP/2002", "IAX2/sbc-edge-12", "PJSIP/-1", "", "x"]
APPS = ["Dial", "dial", "Queue", "Hangup", "VoiceMail", ""]
DATA = ["PJSIP/0155501234@trunk-out,60", "PJSIP/2002,30", "PJSIP/0155501234@sbc-edge,60", "PJSIP/2002@gw1",
        "SIP/trunk-out/0155501234", "PJSIP/2002&PJSIP/2003,20",
        " PJSIP/0155501234@gw1 ,60", "PJSIP/@x", "PJSIP/a@b/c", "PJSIP/12@a@b", "", "s,1"]
NUMBERS = ["2001", "2002", "0155501234", "90155501234", "9011441234567890", "+442071234567", "s", "h", "*88", "911",
           "", "5551234", "18005551234", "2003#"]
CLIDS = ['"Alice Martin" <2001>', "<0155507788>", '"Bob" <>', '"Name with , comma" <2002>', 'plain', '"quoted"',
         "", "  <2001>  ", 'x <a"b>', "<<1>>"]
STAMPS = ["2026-04-01 09:00:00", "2026-03-08 02:30:00", "2026-11-01 01:30:00", "2026-02-29 10:00:00",
          "2024-02-29 10:00:00", "2026-12-31 23:59:59", "2026-04-01 9:00:00", "2026-04-01 09:00:00.5",
          "1969-12-31 23:00:00", "2026-13-01 00:00:00"]
DISPOSITION_WORDS = ["ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CONGESTION", "answered", "NOANSWER", "WEIRD", "8"]


def quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


@st.composite
def stamp(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(STAMPS))  # DST changes, leap days, impossible or oddly written times
    month, day = draw(st.integers(1, 12)), draw(st.integers(1, 28))
    hour, minute, second = draw(st.integers(0, 23)), draw(st.integers(0, 59)), draw(st.integers(0, 59))
    return f"2026-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}"


def pick(options: list[str], rare: list[str] | None = None) -> st.SearchStrategy[str]:
    return st.sampled_from(options * 8 + (rare or []))


@st.composite
def cdr_line(draw: st.DrawFn) -> str:
    """A Master.csv line: mostly well formed (so that the scanner takes it), sometimes odd or broken in one of the
    ways the scanner must leave to the row parser."""
    billsec = draw(st.sampled_from([0, 0, 5, 59, 600, 3600]))
    duration = billsec + draw(st.sampled_from([0, 3, 20]))
    if draw(st.integers(0, 19)) == 0:
        duration, billsec = draw(st.sampled_from([(604801, 0), (5, 6), (-1, 0)]))
    answered = billsec > 0 or draw(st.booleans())
    cells = [quoted(draw(pick(["", "acct1"], ["src", "a,b"]))), quoted(draw(st.sampled_from(NUMBERS))),
             quoted(draw(st.sampled_from(NUMBERS))), quoted(draw(st.sampled_from(CONTEXTS))),
             quoted(draw(st.sampled_from(CLIDS))), quoted(draw(st.sampled_from(CHANNELS))),
             quoted(draw(st.sampled_from(CHANNELS))), quoted(draw(st.sampled_from(APPS))),
             quoted(draw(st.sampled_from(DATA))), quoted(draw(stamp())),
             quoted(draw(stamp())) if answered else "", quoted(draw(stamp())), str(duration), str(billsec),
             quoted(draw(pick(["ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CONGESTION"], DISPOSITION_WORDS))),
             quoted("DOCUMENTATION")]
    width = draw(st.sampled_from([16, 18, 18, 21, 21, 21, 21, 17, 19, 20]))
    tail = [quoted(draw(st.sampled_from(["1775016164.1", "", "pbx-1775016164.12"]))), quoted(""), quoted(""),
            quoted(draw(st.sampled_from(["1775016164.1", ""]))), str(draw(st.integers(0, 99)))]
    if width == 17:
        cells += [tail[0]]
    elif width == 18:
        cells += tail[:2]
    elif width == 19:
        cells += tail[2:]
    elif width == 20:
        cells += [tail[0], *tail[2:]]
    elif width == 21:
        cells += tail
    line = ",".join(cells)
    damage = draw(st.sampled_from(["none"] * 15 + ["truncate", "utf8", "tab", "blank", "garbage"]))
    if damage == "truncate":
        line = line[:draw(st.integers(0, len(line)))]
    elif damage == "utf8":
        line = line.replace("Alice", "Zoë")
    elif damage == "tab":
        line = line.replace(",", "\t,", 1)
    elif damage == "blank":
        line = draw(st.sampled_from(["", "   "]))
    elif damage == "garbage":
        line = draw(st.text(max_size=40))
    return line


def columnar_items(data: bytes, ctx: ParseContext, block_bytes: int, fmt: str = "asterisk") -> dict[int, object]:
    """line -> CallRecord built from the scanned columns, or the row parser's item for the lines left to it."""
    out: dict[int, object] = {}
    for block in blocks(io.BytesIO(data), fmt, ctx, block_bytes=block_bytes):
        groups = block.group_keys(block.rows)
        cols = {name: decode(block.buf, block.off[:, k], block.len[:, k], block.rows) for k, name in enumerate(SLICES)}
        for j, r in enumerate(block.rows.tolist()):
            out[int(block.line[r])] = CallRecord(
                line=int(block.line[r]), native_id=cols["native_id"][j], leg=cols["leg"][j], group=groups[j],
                start=int(block.start[r]), answer=None if block.answer[r] == NONE else int(block.answer[r]),
                duration=int(block.duration[r]), billable=int(block.billable[r]),
                direction=DIRECTIONS[block.direction[r]], disposition=DISPOSITIONS[block.disposition[r]],
                extension=cols["extension"][j], trunk=cols["trunk"][j], caller=cols["caller"][j],
                dialled=cols["dialled"][j], called=cols["called"][j], account=cols["account"][j], raw=cols["raw"][j],
                notes=[], facts=Facts(**{name: cols[name][j] for name in FACT_SLICES}) if block.facts else None)
        for i, item in block.items:
            assert item.line == block.line[i]
            out[item.line] = item
    return out


@settings(max_examples=80)
@given(st.lists(cdr_line(), min_size=1, max_size=12), st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=1),
       st.sampled_from([64, 300, 1 << 20]), st.booleans())
def test_blocks_give_the_row_parsers_items(lines, ends, block_bytes, final_end):
    data = "".join(line + ends[i % len(ends)] for i, line in enumerate(lines))
    if not final_end:
        data = data.rstrip("\r\n")
    raw = data.encode("utf-8")
    expected = {item.line: item for item in asterisk.parse(io.BytesIO(raw), ParseContext(timezone=ZONE))}
    assert columnar_items(raw, ParseContext(timezone=ZONE), block_bytes) == expected


def test_most_plain_lines_take_the_scanner():
    line = ('"","2001","90155501234","from-internal","""Alice"" <2001>","PJSIP/2001-0000002a",'
            '"PJSIP/trunk-out-0000002b","Dial","PJSIP/0155501234@trunk-out,60","2026-04-01 09:00:00",'
            '"2026-04-01 09:00:05","2026-04-01 09:01:05",65,60,"ANSWERED","DOCUMENTATION","1.1","","","1.1",1\n')
    dst_change = line.replace("2026-04-01 09:00:00", "2026-11-01 01:30:00")
    (block,) = blocks(io.BytesIO((line * 3 + dst_change + "\n").encode()), "asterisk", ParseContext(timezone=ZONE))
    assert block.rows.tolist() == [0, 1, 2]  # the DST-ambiguous start and the blank line go to the row parser
    assert [i for i, _ in block.items] == [3, 4]
    assert block.start[0] == 1775048400  # 09:00 EDT


US_TOML = """
[[site]]
name = "nyc"
country = "US"
timezone = "America/New_York"
outside_prefix = "9"
national_prefix = "1"
international_prefix = "011"
area_code = "212"
extensions = ["2000-2999"]
tariff = "tariffs/us-business.toml"
"""


def us_workspace(tmp_path_factory):
    """A workspace with the New York site and the us-business sample tariff."""
    folder = tmp_path_factory.mktemp("ws")
    (folder / "tariffs").mkdir()
    root = Path(__file__).resolve().parents[1] / "tariffs" / "samples"
    for name in ("us-business.toml", "us-business.csv"):
        (folder / "tariffs" / name).write_bytes((root / name).read_bytes())
    (folder / "anatole.toml").write_text(US_TOML, encoding="utf-8")
    return folder, open_workspace(folder)


@settings(max_examples=40, deadline=None)
@given(st.lists(cdr_line(), min_size=1, max_size=30))
def test_batch_rate_writes_the_same_bytes_on_both_paths(tmp_path_factory, lines):
    folder, ws = us_workspace(tmp_path_factory)
    cdr = folder / "Master.csv"
    cdr.write_text("\n".join(lines) + "\n", encoding="utf-8")
    site = ws.sites["nyc"]
    outputs = []
    for scanner in (True, False):
        out = folder / f"out-{scanner}.csv"
        original = batchrate.has_scanner
        if not scanner:
            batchrate.has_scanner = lambda fmt, enc: False
        try:
            result = batchrate.batch_rate([cdr], tariff=site.tariff, fmt="asterisk", out=out, site=site, ws=ws)
        finally:
            batchrate.has_scanner = original
        outputs.append((out.read_bytes(), (folder / f"out-{scanner}.csv.rejects.csv").read_bytes(), result.read,
                        result.calls, result.rejected, result.skipped, result.statuses))
    assert outputs[0] == outputs[1]
    assert outputs[0][2] + outputs[0][5] == count_lines(cdr.read_bytes())  # a garbage line may hold line ends


def csv_read_back(path: Path):
    """The CSV output read with the Parquet output's types: what the Parquet output must hold (an empty field null,
    and only an empty one)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    schema = pa.schema([(c, pa.int64() if c in ("line", "billable_seconds", "billed_seconds") else pa.string())
                        for c in batchrate.COLUMNS])
    return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
        column_types=schema, strings_can_be_null=True, null_values=[""], quoted_strings_can_be_null=False))


@settings(max_examples=30, deadline=None)
@given(st.lists(cdr_line(), min_size=1, max_size=30))
def test_parquet_holds_what_the_csv_says(tmp_path_factory, lines):
    """Parquet output, built from the blocks' columns (and the row path's lines read back from CSV), holds the CSV
    output's values: same rows, same order, same text, nulls where the CSV field is empty."""
    pq = pytest.importorskip("pyarrow.parquet")
    folder, ws = us_workspace(tmp_path_factory)
    cdr = folder / "Master.csv"
    cdr.write_text("\n".join(lines + ['"","2001","NA","null","","","","","","2026-04-01 09:00:00","",'
                                      '"2026-04-01 09:00:01",1,0,"BUSY","x"']) + "\n", encoding="utf-8")
    site = ws.sites["nyc"]
    for suffix in (".csv", ".parquet"):
        batchrate.batch_rate([cdr], tariff=site.tariff, fmt="asterisk", out=folder / f"out{suffix}", site=site, ws=ws)
    got, want = pq.read_table(folder / "out.parquet"), csv_read_back(folder / "out.csv")
    assert got.schema == want.schema
    assert got.to_pylist() == want.to_pylist()
    # dictionary pages only for the columns whose values repeat (batchrate._PER_CALL: none)
    meta = pq.ParquetFile(folder / "out.parquet").metadata.row_group(0)
    for k, name in enumerate(batchrate.COLUMNS):
        dictionary = meta.column(k).dictionary_page_offset is not None
        assert dictionary is (name not in batchrate._PER_CALL), name


@settings(max_examples=20, deadline=None)
@given(st.lists(cdr_line(), min_size=1, max_size=30))
def test_numbers_not_deduplicated_give_the_same_bytes(tmp_path_factory, lines):
    """A block whose numbers are mostly distinct (an outbound call centre's) normalises every row instead of each
    distinct value (pipeline.columnar.mostly_distinct): the output is the row path's all the same."""
    from pipeline import columnar

    original = columnar.mostly_distinct
    columnar.mostly_distinct = lambda *args: True
    try:
        test_batch_rate_writes_the_same_bytes_on_both_paths.hypothesis.inner_test(tmp_path_factory, lines)
    finally:
        columnar.mostly_distinct = original


def test_mostly_distinct_is_judged_on_a_sample():
    """Distinct numbers skip the hashing, repeated ones keep it, small blocks always keep it."""
    from pipeline.columnar import SAMPLE, mostly_distinct

    def block(numbers: list[bytes]) -> tuple:
        off = np.cumsum([0] + [len(v) for v in numbers[:-1]]).astype(np.int64)
        return (SimpleNamespace(buf=b"".join(numbers)), off, np.array([len(v) for v in numbers], np.int32),
                np.arange(len(numbers), dtype=np.int64))

    distinct = [b"1212%07d" % k for k in range(4 * SAMPLE)]
    assert mostly_distinct(*block(distinct))
    assert not mostly_distinct(*block([distinct[k % 100] for k in range(4 * SAMPLE)]))
    assert not mostly_distinct(*block(distinct[:4 * SAMPLE - 1]))


def test_no_line_is_lost_across_blocks():
    line = b'"","1","2","public","","","","","","2026-04-01 09:00:00","","2026-04-01 09:00:01",1,0,"BUSY","x"\n'
    data = line * 1000
    got = list(blocks(io.BytesIO(data), "asterisk", ParseContext(timezone=ZONE), block_bytes=1000))
    assert len(got) > 10
    assert np.concatenate([b.line for b in got]).tolist() == list(range(1, 1001))
    assert sum(len(b.rows) for b in got) == 1000


def stored_on_both_paths(folder: Path, ws, cdr: Path, fmt: str = "asterisk", site: str = "nyc") -> list[dict]:
    """Import `cdr` once through the block scanner and once through the row parser (fresh stores): the stored
    calls must be the same, column by column; returns them."""
    import pipeline.cdrimport as cdrimport
    from store import CALL_COLUMNS, open_store

    columns = [c for c in CALL_COLUMNS if c != "rated_at"]
    stored = []
    for scanner in (True, False):
        store = open_store(folder / f"{cdr.stem}-{scanner}.db")
        original = cdrimport.has_scanner
        if not scanner:
            cdrimport.has_scanner = lambda fmt, enc: False
        try:
            cdrimport.import_file(ws, store, cdr, fmt=fmt, site=site)
        finally:
            cdrimport.has_scanner = original
        stored.append(store.conn.execute(f"SELECT {', '.join(columns)} FROM calls ORDER BY id").fetchall())
        store.close()
    assert stored[0] == stored[1]
    return [dict(zip(columns, row)) for row in stored[0]]


def test_every_direction_rule_on_a_grid_of_fields(tmp_path_factory):
    """Direction, rule, extension, trunk and called depend on channels x context x Dial target x dst: every
    combination of the samples, decided per distinct fact tuple on the columnar path and per record on the row path,
    stored the same."""
    lines = []
    for channel in ["PJSIP/2001-0000002a", "PJSIP/trunk-in-0000ab", "SIP/alice-01", "Local/2001@from-internal-1;2"]:
        for context in ["from-internal", "from-trunk", "phones", ""]:
            for dstchannel in CHANNELS:
                for app, data in [("Dial", d) for d in DATA] + [("Queue", "q1"), ("VoiceMail", "2002@default")]:
                    for dst in ["2002", "0155501234", "s"]:
                        lines.append(",".join([
                            quoted(""), quoted("2001"), quoted(dst), quoted(context), quoted('"A" <2001>'),
                            quoted(channel), quoted(dstchannel), quoted(app), quoted(data),
                            quoted("2026-04-01 09:00:00"), quoted("2026-04-01 09:00:05"), quoted("2026-04-01 09:01:05"),
                            "65", "60", quoted("ANSWERED"), quoted("DOCUMENTATION"), quoted(f"1.{len(lines)}"),
                            quoted("")]))
    folder, ws = us_workspace(tmp_path_factory)
    cdr = folder / "grid.csv"
    cdr.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = stored_on_both_paths(folder, ws, cdr)
    assert len(rows) == len(lines)
    assert {r["direction"] for r in rows} == {"outgoing", "incoming", "internal", "transit"}
    assert {r["direction_rule"] for r in rows} == {"trunk-pattern", "app-internal", "dst-channel-extension",
                                                   "dial-string", "context", "dialplan"}
    assert {r["status"] for r in rows if r["direction_rule"] == "app-internal"} == {"service"}


def test_target_peer_facts_decide_on_both_paths(tmp_path_factory):
    """The two facts that compare a row's target with its other fields: the target's peer is the Dial string's
    peer (not a trunk: `xgw`), so the number dialled through it is sent (rule dial-string, called set); the target's
    peer is the dialled digits without being a site extension (`alice`), so it is the extension's own channel.
    Each with the fact false beside it (another peer, other digits): decided the same on both paths."""
    def line(k: int, dstchannel: str, data: str, dst: str) -> str:
        return ",".join([quoted(""), quoted("2001"), quoted(dst), quoted("from-internal"), quoted('"A" <2001>'),
                         quoted("PJSIP/2001-0000002a"), quoted(dstchannel), quoted("Dial"), quoted(data),
                         quoted("2026-04-01 09:00:00"), quoted("2026-04-01 09:00:05"),
                         quoted("2026-04-01 09:01:05"), "65", "60", quoted("ANSWERED"), quoted("DOCUMENTATION"),
                         quoted(f"1.{k}"), quoted("")])
    cases = [("SIP/xgw-1", "PJSIP/0155501234@xgw,60", "90155501234"),  # target is the Dial peer
             ("SIP/ygw-1", "PJSIP/0155501234@xgw,60", "90155501234"),  # another peer
             ("SIP/alice-01", "SIP/alice,30", "alice"),  # target's peer is the dialled digits
             ("SIP/alice-01", "SIP/alice,30", "bob")]
    lines = [line(k, *case) for k, case in enumerate(cases)]
    folder, ws = us_workspace(tmp_path_factory)
    cdr = folder / "peers.csv"
    cdr.write_text("\n".join(lines * 3) + "\n", encoding="utf-8")
    rows = stored_on_both_paths(folder, ws, cdr)
    got = [(r["direction"], r["direction_rule"], r["called"], r["extension"]) for r in rows[:4]]
    assert got[0] == ("outgoing", "dial-string", "0155501234", "2001")
    assert got[1][1] != "dial-string" and got[1][2] in (None, "")
    assert got[2][:2] == ("internal", "dst-channel-extension")
    assert got[3][1] != "dst-channel-extension"


@settings(max_examples=25, deadline=None)
@given(st.lists(cdr_line(), min_size=1, max_size=30))
def test_import_stores_the_same_rows_on_both_paths(tmp_path_factory, lines):
    import pipeline.cdrimport as cdrimport
    from store import CALL_COLUMNS, open_store

    folder, ws = us_workspace(tmp_path_factory)
    cdr = folder / "Master.csv"
    cdr.write_text("\n".join(lines * 2) + "\n", encoding="utf-8")  # twice: duplicates within the file too
    columns = ", ".join(c for c in CALL_COLUMNS if c != "rated_at")
    stored = []
    for scanner in (True, False):
        store = open_store(folder / f"{scanner}.db")
        original = cdrimport.has_scanner
        if not scanner:
            cdrimport.has_scanner = lambda fmt, enc: False
        try:
            # random lines, mostly rejects: the wrong-format check (pipeline.formatcheck) would refuse them
            first = cdrimport.import_file(ws, store, cdr, fmt="asterisk", site="nyc", check_format=False).as_json()
            again = cdrimport.import_file(ws, store, cdr, fmt="asterisk", site="nyc", check_format=False).as_json()
        finally:
            cdrimport.has_scanner = original
        assert again["calls"] == 0 and again["read"] == first["read"]
        stored.append((first, store.conn.execute(f"SELECT id, {columns} FROM calls ORDER BY id").fetchall(),
                       store.conn.execute("SELECT line, reason, raw FROM rejects ORDER BY id").fetchall()))
        store.close()
    assert stored[0] == stored[1]


# ------------------------------------------------------------------------------------------------ CUCM

CUCM_NAMES = list(__import__("ingest.cdr.cucm", fromlist=["PROFILES"]).PROFILES[133])
CUCM_TYPES = ",".join("VARCHAR(50)" if i % 3 else "INTEGER" for i in range(len(CUCM_NAMES)))
DEVICES = ["SEP00AB12C24EF0", "sep00ab", "CSFALICE", "SIPTRK_PSTN_A", "GW_1", "", "ATA1", "BOT", "CiscoUM1-VI3",
           "AN0A1B2C3D4E5F001", "ANATOLE-GW", "CFB_2", "TAB"]


@st.composite
def cucm_line(draw: st.DrawFn) -> str:
    """An end record (mostly), a start record or CMR, or a damaged line, in the 133-column layout."""
    values = {name: "0" for name in CUCM_NAMES}
    start = draw(st.sampled_from([1775016145, 1775016145, 0, -5, 4102444800, 1775020000]))
    connect = draw(st.sampled_from([0, start + 3, start - 1, start]))
    billable = draw(st.sampled_from([0, 60, 600, 604801, -1]))
    disconnect = draw(st.sampled_from([(connect or start) + max(billable, 0), 0, start - 1, start + 700000]))
    values.update({
        "cdrRecordType": draw(st.sampled_from(["1"] * 8 + ["0", "2", "x"])),
        "globalCallID_callManagerId": draw(st.sampled_from(["1", "2", "007", "-3", "a"])),
        "globalCallID_callId": str(draw(st.integers(0, 10**6))), "origLegCallIdentifier": "2000001",
        "dateTimeOrigination": str(start), "dateTimeConnect": str(connect), "dateTimeDisconnect": str(disconnect),
        "duration": str(billable), "origCause_value": draw(st.sampled_from(["0", "16", "17", "", "41"])),
        "destCause_value": draw(st.sampled_from(["0", "16", "17", "19", "", "41", "x"])),
        "callingPartyNumber": draw(st.sampled_from(['"2590"', '" 2590 "', '"0155501234"', '""', '"+14085552590"',
                                                    '"40855525XX"', '"+"', '"b00105401003"'])),
        "originalCalledPartyNumber": draw(st.sampled_from(['"918762095708"', '"2591"', '"*88"', '""', '"b00105401002"',
                                                           '"911"'])),
        "finalCalledPartyNumber": draw(st.sampled_from(['"918762095708"', '"2591"', '""', '"B0029901001"'])),
        "lastRedirectDn": draw(st.sampled_from(['"2591"', '""'])),
        "comment": draw(st.sampled_from(['""', '""', '"0"', '"RecordingCall"', '"x=1;BIB"', '"note"'])),
        "outpulsedCalledPartyNumber": draw(st.sampled_from(['"18762095708"', '""'])),
        "origDeviceName": '"' + draw(st.sampled_from(DEVICES)) + '"',
        "destDeviceName": '"' + draw(st.sampled_from(DEVICES)) + '"',
        "pkid": '"3f2a9c1e-0000-4e60-9a41-000000000000"',
        "clientMatterCode": draw(st.sampled_from(['""', '"1234"'])),
        "authCodeDescription": draw(st.sampled_from(['""', '"sales"'])),
    })
    line = ",".join(values[name] for name in CUCM_NAMES)
    damage = draw(st.sampled_from(["none"] * 12 + ["truncate", "quote", "blank", "garbage", "extra"]))
    if damage == "truncate":
        line = line[:draw(st.integers(0, len(line)))]
    elif damage == "quote":
        line = line.replace('"2590"', '"25""90"')
    elif damage == "blank":
        line = ""
    elif damage == "garbage":
        line = draw(st.text(max_size=40))
    elif damage == "extra":
        line += ",0"
    return line


def cucm_file(lines: list[str], header_again: int | None) -> bytes:
    header = ",".join(f'"{n}"' for n in CUCM_NAMES)
    body = list(lines)
    if header_again is not None:  # a second file appended: another header, columns in another order
        names = CUCM_NAMES[:4] + CUCM_NAMES[5:] + [CUCM_NAMES[4]]
        moved = [",".join((c := line.split(","))[:4] + c[5:] + c[4:5]) for line in lines[header_again:]]
        body = body[:header_again] + [",".join(f'"{n}"' for n in names)] + moved
    return ("\r\n".join([header, CUCM_TYPES, *body]) + "\r\n").encode()


@settings(max_examples=60, deadline=None)
@given(st.lists(cucm_line(), min_size=1, max_size=12), st.none() | st.integers(0, 11),
       st.sampled_from([200, 1500, 1 << 20]))
def test_cucm_blocks_give_the_row_parsers_items(lines, header_again, block_bytes):
    raw = cucm_file(lines, header_again if header_again is not None and header_again < len(lines) else None)
    expected = {item.line: item for item in __import__("ingest.cdr.cucm", fromlist=["parse"]).parse(
        io.BytesIO(raw), ParseContext())}
    assert columnar_items(raw, ParseContext(), block_bytes, fmt="cucm") == expected


def test_cucm_end_records_take_the_scanner():
    ok = ",".join({"cdrRecordType": "1", "dateTimeOrigination": "1775016145", "dateTimeConnect": "1775016148",
                   "dateTimeDisconnect": "1775016208", "duration": "60", "origDeviceName": '"SEP1"',
                   "destDeviceName": '"SIPTRK"', "callingPartyNumber": '"2590"'}.get(n, "0") for n in CUCM_NAMES)
    (block,) = blocks(io.BytesIO(cucm_file([ok] * 5, None)), "cucm", ParseContext())
    assert block.rows.tolist() == [2, 3, 4, 5, 6]
    assert [item.what for _, item in block.items] == ["header", "types"]
    assert block.duration[2] == 63 and block.billable[2] == 60 and DIRECTIONS[block.direction[2]] == "outgoing"


def test_cucm_every_disposition_and_direction_rule_on_a_grid():
    """Disposition and direction depend on connect x causes x devices: every combination, scanned and row-parsed."""
    lines = []
    for connect in ("0", "1775016148"):
        for orig_cause in ("0", "16", "17", "", "41"):
            for dest_cause in ("0", "16", "17", "18", "19", ""):
                for orig in DEVICES[:-1]:
                    for dest in DEVICES[:-1]:
                        lines.append(",".join({
                            "cdrRecordType": "1", "dateTimeOrigination": "1775016145", "dateTimeConnect": connect,
                            "dateTimeDisconnect": "1775016208", "duration": "60" if connect != "0" else "0",
                            "origCause_value": orig_cause, "destCause_value": dest_cause,
                            "origDeviceName": f'"{orig}"', "destDeviceName": f'"{dest}"',
                            "callingPartyNumber": '"2590"', "finalCalledPartyNumber": '"2591"',
                        }.get(n, "0") for n in CUCM_NAMES))
    raw = cucm_file(lines, None)
    expected = {item.line: item for item in __import__("ingest.cdr.cucm", fromlist=["parse"]).parse(
        io.BytesIO(raw), ParseContext())}
    got = columnar_items(raw, ParseContext(), 1 << 20, fmt="cucm")
    assert sum(isinstance(v, CallRecord) for v in got.values()) == len(lines)
    assert {r.disposition for r in expected.values() if isinstance(r, CallRecord)} == {"answered", "busy",
                                                                                        "no_answer", "failed"}
    assert got == expected


@settings(max_examples=30, deadline=None)
@given(st.lists(cucm_line(), min_size=1, max_size=20))
def test_cucm_batch_rate_writes_the_same_bytes_on_both_paths(tmp_path_factory, lines):
    """CUCM lines of every device kind, recording legs, masked and globalised numbers: batch-rate's output (direction,
    extension, number, status, cost) is the same whether the scanner or the row parser reads them."""
    folder, ws = us_workspace(tmp_path_factory)
    cdr = folder / "cdr.csv"
    cdr.write_bytes(cucm_file(lines, None))
    site = ws.sites["nyc"]
    outputs = []
    for scanner in (True, False):
        out = folder / f"out-{scanner}.csv"
        original = batchrate.has_scanner
        if not scanner:
            batchrate.has_scanner = lambda fmt, enc: False
        try:
            result = batchrate.batch_rate([cdr], tariff=site.tariff, fmt="cucm", out=out, site=site, ws=ws)
            outputs.append((out.read_bytes(), result.read, result.calls, result.rejected, result.skipped,
                            result.statuses))
        except batchrate.BatchError as exc:  # mostly damaged lines: refused as a wrong format, on both paths
            outputs.append(str(exc))
        finally:
            batchrate.has_scanner = original
    assert outputs[0] == outputs[1]


def test_number_kinds_as_the_row_path_for_every_kind_and_rule():
    """pipeline.columnar.number_kinds (one gather in a table made from the row path's number_kind) gives
    number_kind's answer for every (kind, rule) pair of the compiled plan's codes, for callers and dialled numbers."""
    from ingest.cdr.classify import number_kind
    from ingest.dialplan import KINDS, RULES, Number
    from pipeline.columnar import _CALLER_KINDS, _DIALLED_KINDS, number_kinds

    kind = np.repeat(np.arange(len(KINDS), dtype=np.int8), len(RULES))
    rule = np.tile(np.arange(len(RULES), dtype=np.int16), len(KINDS))
    numbers = SimpleNamespace(kind=kind, rule=rule)
    for what, names in (("caller", _CALLER_KINDS), ("dialled", _DIALLED_KINDS)):
        got = [names[c] for c in number_kinds(what, numbers).tolist()]
        assert got == [number_kind(what, Number(KINDS[k], rule=RULES[r])) for k, r in zip(kind, rule)]
        assert {"extension", "other"} <= set(got)
