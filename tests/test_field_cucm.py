"""Cisco CUCM field patterns (issue 14): invented calls in tests/data/cdr/field/cucm-sanjose.csv, one per pattern
seen in real CDR files, each with its extension, direction, number, status and cost checked by hand, and the same
result through the row parser, the columnar scanner and batch-rate.

Site San Jose: US, outside line 9, area code 408, extensions 1000-1999; tariff +1 at 0.06 per started minute, +44
at 0.12 (tests/field_support.py)."""

from __future__ import annotations

import io

import pytest
from field_support import DATA, every_path, make_workspace, money, outgoing_answered_share_with_extension

from ingest.cdr import CallRecord, ParseContext, cucm

FILE = DATA / "cucm-sanjose.csv"

# line -> (extension, direction, number, status, cost)
EXPECTED = {
    3: ("1001", "outgoing", "14155550123", "rated", money("0.18")),  # +14085551001 is 1001; 152 s = 3 min x 0.06
    4: ("1002", "outgoing", "14155550199", "unanswered", 0),  # busy, no destination device: still outgoing
    5: ("1002", "internal", None, "internal", None),  # busy to extension 1003, no destination device
    6: ("1004", "outgoing", None, "emergency", None),  # 911 through the E911 trunk
    7: ("1005", "outgoing", None, "emergency", None),  # 9911 from Jabber (CSF), +14085551005 is 1005
    8: ("1006", "internal", None, "service", None),  # built-in-bridge recording leg to b00105401002
    9: ("1006", "internal", None, "service", None),  # recording leg known by its comment only (recorder 5401)
    10: ("1007", "incoming", "14155550142", "incoming", None),  # forwarded to voicemail: 1007's mailbox
    11: ("1008", "internal", None, "internal", None),  # a user calls the voicemail port
    12: ("1010", "outgoing", "14155550177", "rated", money("0.12")),  # analog port AN...; 61 s = 2 min x 0.06
    13: ("1011", "incoming", "12125550100", "incoming", None),  # the DN +14085551011 is extension 1011
    14: ("1012", "outgoing", "442071234567", "rated", money("0.24")),  # Jabber iPhone (TCT); 61 s = 2 min x 0.12
    15: ("1013", "internal", None, "internal", None),  # Jabber desktop to desk phone
    16: ("1015", "outgoing", None, "invalid", None),  # 9 then 555: no possible number, not priced
    17: ("1016", "outgoing", None, "service", None),  # 411 directory assistance: a short number
    18: ("", "outgoing", "14155550188", "unanswered", 0),  # masked calling number: no extension made up
    19: ("1018", "transit", "14155550166", "transit", None),  # forwarded by 1018 to a mobile: trunk to trunk
    20: ("1019", "internal", None, "service", None),  # a conference bridge leg (b0029901001)
    21: ("", "internal", None, "service", None),  # the phone's built-in bridge (b00105401003) calls the recorder
}
ANSWERED = {3, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 19, 20, 21}


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple]:
    root = make_workspace(tmp_path_factory.mktemp("field-cucm"))
    return every_path(root, FILE, "cucm", "sanjose")


@pytest.mark.parametrize("line", sorted(EXPECTED))
def test_each_pattern(rows: dict[int, tuple], line: int) -> None:
    assert rows[line] == (line, *EXPECTED[line])


def test_every_line_is_a_call(rows: dict[int, tuple]) -> None:
    assert sorted(rows) == sorted(EXPECTED)


def test_no_application_or_bridge_leg_is_priced_and_outgoing_calls_carry_an_extension(rows: dict[int, tuple]) -> None:
    assert not [r for r in rows.values() if r[2] == "internal" and r[5] is not None]
    assert outgoing_answered_share_with_extension(rows, ANSWERED) >= 0.99


def test_the_parser_says_where_each_decision_came_from() -> None:
    """Notes on the records whose direction or extension needed a rule beyond the two devices."""
    records = {r.line: r for r in cucm.parse(FILE.open("rb"), ParseContext()) if isinstance(r, CallRecord)}
    assert any("direction from the origin device" in n for n in records[4].notes)
    assert any("recording" in n for n in records[8].notes)
    assert any("masked" in n for n in records[18].notes)
    assert records[10].trunk == "SJC_SIPTRK_PSTN" and records[11].trunk == ""
    assert records[8].trunk == ""  # the recorder trunk is not a trunk that costs money


def test_voicemail_prefixes_from_the_profile() -> None:
    data = FILE.read_bytes().replace(b"CiscoUM1-VI4", b"UNITY-PORT-4")

    def parsed(ctx: ParseContext) -> dict[int, CallRecord]:
        return {r.line: r for r in cucm.parse(io.BytesIO(data), ctx) if isinstance(r, CallRecord)}

    assert parsed(ParseContext())[11].direction == "outgoing"  # an unknown device is taken for a trunk...
    assert parsed(ParseContext(profile={"voicemail_prefixes": ["UNITY"]}))[11].direction == "internal"  # ...unless


def test_device_prefixes_from_the_source_settings(tmp_path) -> None:  # noqa: ANN001
    """`phone_prefixes` / `voicemail_prefixes` on a cucm [[source]] reach the parser (import and batch paths)."""
    from field_support import imported

    root = make_workspace(tmp_path)
    with (root / "anatole.toml").open("a") as f:
        f.write('\n[[source]]\nname = "sj-cucm"\nsite = "sanjose"\nformat = "cucm"\n'
                'phone_prefixes = ["CTIPORT"]\nvoicemail_prefixes = ["UNITY"]\n')
    data = FILE.read_bytes().replace(b"CiscoUM1-VI4", b"UNITY-PORT-4").replace(b"SEP0A1B2C3D4E16", b"CTIPORT16")
    path = tmp_path / "cdr.csv"
    path.write_bytes(data)
    for scanner in (True, False):
        rows = imported(root, path, "cucm", "sanjose", scanner=scanner)
        assert rows[11][1:] == ("1008", "internal", None, "internal", None)  # a voicemail port, not a trunk
        assert rows[17][1:] == EXPECTED[17]  # a CTI port is a phone


def test_dask_parts_give_the_single_process_output(tmp_path) -> None:  # noqa: ANN001
    """batch-rate --workers cuts a big CUCM file into parts (each gets the header lines): the parts, rated as the Dask
    workers rate them (in this process: no cluster), give the single process's bytes."""
    from anatole.config import open_workspace
    from pipeline.batchrate import batch_rate
    from pipeline.distributed import Job, _assemble, _prepare, plan_parts, rate_part

    root = make_workspace(tmp_path / "ws")
    lines = FILE.read_bytes().splitlines(keepends=True)
    big = tmp_path / "big.csv"
    big.write_bytes(b"".join(lines[:2] + lines[2:] * 12))
    ws = open_workspace(root)
    site = ws.sites["sanjose"]
    batch_rate([big], tariff=site.tariff, fmt="cucm", out=tmp_path / "one.csv", site=site, ws=ws)
    plan = plan_parts([big], "cucm", chunk_bytes=8000)
    assert len(plan.parts) > 3
    out = tmp_path / "many.csv"
    parts_dir = _prepare(out, parquet=False)
    job = Job(root=str(root), configured=True, site="sanjose", tariff=str(site.tariff), fmt="cucm", timezone="UTC",
              parquet=False, parts_dir=str(parts_dir))
    for part in plan.parts:
        rate_part(part, job)
    _assemble(out, parts_dir, False, len(plan.parts))
    assert out.read_bytes() == (tmp_path / "one.csv").read_bytes()
