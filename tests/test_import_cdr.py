"""`anatole import cdr` end to end: real files, a real SQLite store, counts that balance, idempotent re-imports."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from anatole.cli import main
from anatole.config import open_workspace
from store import open_store

SAMPLES = Path(__file__).parent.parent / "tariffs" / "samples"

CONFIG = """
[workspace]
currency = "EUR"

[[site]]
name = "paris"
country = "FR"
timezone = "Europe/Paris"
outside_prefix = "9"
national_prefix = "0"
international_prefix = "00"
extensions = ["2000-2999"]
tariff = "tariffs/fr-business.toml"

[[source]]
name = "paris-ipo"
site = "paris"
format = "avaya-ipo"
listen = "0.0.0.0:8808"
"""

# cdr-formats.md 4.1 examples (invented data), plus a line the parser must reject and a blank line
IPO = (
    "2025/03/14 10:15:02,00:02:32,7,2001,O,0155501234,90155501234,4711,0,1000412,0,E2001,Alice Martin,T9001,"
    "Line 1.3,0,0,,,,,,,,,,,,,,10.1.20.5,3301,10.1.20.5,3302\r\n"
    "2025/03/14 10:30:45,00:00:41,4,0155507788,I,2001,,,0,1000415,1,E2001,Alice Martin,T9001,Line 1.4,0,0,,,,,,,,,"
    ",,,,,10.1.20.5,3311,10.1.20.5,3310\n"
    "2025/03/14 10:30:45,00:03:05,0,0155507788,I,2002,,,0,1000415,0,E2002,Bruno Keller,T9001,Line 1.4,0,0,,,,,,,,,"
    ",,,,,10.1.20.5,3318,10.1.20.5,3310\r"
    "2025/03/14 10:41:07,00:00:00,22,,I,2003,,,0,1000418,0,E2003,Reception,T9002,Line 2.1,0,0,,,,,,,,,,,,,,"
    "10.1.20.5,3320,0.0.0.0,0\n"
    "2025/03/14 10:45:00,00:01:00,3,2002,O,0612345678,90612345678,,0,1000420,0,E2002,Bruno Keller,T9001,"
    "Line 1.3,0,0,,,,,,,,,,,,,,10.1.20.5,3330,10.1.20.5,3331\n"
    "2025/03/14 10:50:00,00:00:30,2,2001,O,2002,2002,,1,1000421,0,E2001,Alice Martin,E2002,Bruno Keller,0,0,,,,,,,"
    ",,,,,,,10.1.20.5,3340,10.1.20.5,3341\n"
    "2025/13/14 10:50:00,00:00:30,2,2001,O,2002\n"
    "\n"
)


def make_workspace(tmp_path: Path) -> Path:
    """The site, its tariff and the IP Office file that these tests and test_explain import."""
    (tmp_path / "tariffs").mkdir()
    for ext in (".toml", ".csv"):
        shutil.copy(SAMPLES / f"fr-business{ext}", tmp_path / "tariffs" / f"fr-business{ext}")
    (tmp_path / "anatole.toml").write_text(CONFIG)
    (tmp_path / "smdr.txt").write_bytes(IPO.encode())
    return tmp_path


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return make_workspace(tmp_path)


def run(workspace: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--workspace", str(workspace), *args])
    return result.exit_code, result.output


def test_import_counts_balance_and_reimport_adds_nothing(workspace: Path) -> None:
    code, out = run(workspace, "import", "cdr", str(workspace / "smdr.txt"), "--json")
    assert code == 0, out
    first = json.loads(out)
    assert first["format"] == "avaya-ipo" and first["detected"] and first["source"] == "paris-ipo"
    assert first["read"] == first["calls"] + first["rejected"] + first["duplicates"] == 7
    assert (first["calls"], first["rejected"], first["duplicates"]) == (6, 1, 0)
    code, out = run(workspace, "import", "cdr", str(workspace / "smdr.txt"), "--json")
    again = json.loads(out)
    assert (again["read"], again["calls"], again["duplicates"], again["rejected"]) == (7, 0, 6, 1)
    store = open_store(open_workspace(workspace).db_path)
    assert store.count("calls") == 6 and store.count("rejects") == 1
    reject = next(store.rejects())
    assert reject["line"] == 7 and reject["reason"]


def test_calls_are_normalised_directed_and_rated(workspace: Path) -> None:
    run(workspace, "import", "cdr", str(workspace / "smdr.txt"))
    code, out = run(workspace, "calls", "--json")
    assert code == 0, out
    calls = [json.loads(line) for line in out.splitlines()]
    first = calls[0]
    assert first["start"] == "2025-03-14T09:15:02Z"  # Paris local time -> UTC
    assert (first["direction"], first["extension"], first["dialled"], first["number"]) == \
        ("outgoing", "2001", "90155501234", "33155501234")
    assert first["status"] == "rated" and first["currency"] == "EUR" and first["billable_seconds"] == 152
    assert first["cost"] == "0.0507"  # 152 s at 0.02/min, peak, per second: 0.050666.. -> 0.0507
    by_status = {c["status"] for c in calls}
    assert {"incoming", "internal", "unanswered"} <= by_status or {"incoming", "internal"} <= by_status
    mobile = next(c for c in calls if c["number"] == "33612345678")
    assert mobile["destination"] == "France Mobile" and mobile["cost"] is not None


def test_rerate_is_idempotent(workspace: Path) -> None:
    run(workspace, "import", "cdr", str(workspace / "smdr.txt"))
    code, out = run(workspace, "rate", "--json")
    assert code == 0, out
    summary = json.loads(out)
    assert summary["changed"] == 0 and summary["calls"] >= 2
    code, out = run(workspace, "rate", "--json")
    assert json.loads(out)["changed"] == 0


def test_rejects_and_csv(workspace: Path) -> None:
    run(workspace, "import", "cdr", str(workspace / "smdr.txt"))
    code, out = run(workspace, "rejects", "--json")
    row = json.loads(out.splitlines()[0])
    assert row["line"] == 7 and row["file"].endswith("smdr.txt") and row["raw"].startswith("2025/13/14")
    code, out = run(workspace, "calls", "--csv")
    lines = out.splitlines()
    assert lines[0].startswith("start,site,") and len(lines) == 7


def test_import_errors_are_clear(workspace: Path) -> None:
    (workspace / "garbage.bin").write_bytes(bytes(range(256)) * 10)
    code, out = run(workspace, "import", "cdr", str(workspace / "garbage.bin"))
    assert code == 1 and "cannot tell the format" in out and "Traceback" not in out
    code, out = run(workspace, "import", "cdr", str(workspace / "smdr.txt"), "--source", "nope")
    assert code == 1 and "no [[source]] named 'nope'" in out
    code, out = run(workspace, "import", "cdr", str(workspace / "missing.txt"))
    assert code == 1 and "no such file" in out
    if hasattr(os, "mkfifo"):  # a pipe (as /dev/stdin is): said so, and not read (no one writes into it)
        os.mkfifo(workspace / "calls.fifo")
        code, out = run(workspace, "import", "cdr", str(workspace / "calls.fifo"))
        assert code == 1 and "calls.fifo: not a regular file (a pipe or a device)" in out


LOCAL_CHANNEL_ROWS = (  # one call to 0155501234 logged twice (a Local channel and the real trunk leg), same linkedid
    '"","2001","00155501234","from-internal","""Alice"" <2001>","Local/00155501234@out-0001;2",'
    '"PJSIP/trunk-out-0000002b","Dial","PJSIP/0155501234@trunk-out,60","2025-03-14 10:15:02","2025-03-14 10:15:09",'
    '"2025-03-14 10:17:41",159,152,"ANSWERED","DOCUMENTATION","1741943702.85","","","1741943702.84",2\n'
    '"","2001","00155501234","from-internal","""Alice"" <2001>","PJSIP/2001-0000002a","PJSIP/trunk-out-0000002b",'
    '"Dial","PJSIP/0155501234@trunk-out,60","2025-03-14 10:15:02","2025-03-14 10:15:08","2025-03-14 10:17:41",'
    '159,153,"ANSWERED","DOCUMENTATION","1741943702.84","","","1741943702.84",1\n'
)


def test_overlapping_legs_of_one_call_are_billed_once(workspace: Path) -> None:
    (workspace / "Master.csv").write_text(LOCAL_CHANNEL_ROWS)
    code, out = run(workspace, "import", "cdr", str(workspace / "Master.csv"), "--site", "paris", "--json")
    assert code == 0, out
    assert json.loads(out)["calls"] == 2
    code, out = run(workspace, "calls", "--json")
    legs = [json.loads(line) for line in out.splitlines()]
    assert sorted(c["status"] for c in legs) == ["merged", "rated"]
    rated = next(c for c in legs if c["status"] == "rated")
    assert rated["billable_seconds"] == 153 and rated["number"] == "33155501234"


@pytest.mark.parametrize(("given", "dialled", "called", "caller", "extension", "direction", "number"), [
    ("", "90155501234", "", "2001", "2001", "outgoing", "33155501234"),  # outside prefix 9 stripped
    ("", "2002", "", "2001", "2001", "internal", None),
    ("", "2001", "", "0155507788", "", "incoming", "33155507788"),  # an outside caller: the CLI is the number
    ("outgoing", "2002", "", "2001", "2001", "internal", None),  # the format said outgoing, but it stayed inside
    ("outgoing", "9*88", "", "2001", "2001", "outgoing", None),  # a service code: not a number
    ("outgoing", "90155501234", "0612345678", "2001", "2001", "outgoing", "33612345678"),  # as sent wins
    ("incoming", "2001", "", "+442071234567", "2001", "incoming", "442071234567"),
])
def test_classify(workspace: Path, given: str, dialled: str, called: str, caller: str, extension: str,
                  direction: str, number: str | None) -> None:
    from ingest.cdr import CallRecord
    from pipeline.cdrimport import classify

    ws = open_workspace(workspace)
    rec = CallRecord(line=1, native_id="x", start=0, direction=given, dialled=dialled, called=called, caller=caller,
                     extension=extension)
    got_direction, got_number = classify(ws.sites["paris"], ws.sources["paris-ipo"], rec)
    assert (got_direction, got_number.e164) == (direction, number)


# --- a wrong format is an error (pipeline.formatcheck) ----------------------------------------------------------

DATA = Path(__file__).parent / "data" / "cdr"


def _nothing_stored(workspace: Path) -> bool:
    store = open_store(open_workspace(workspace).db_path)
    try:
        return (store.count("calls"), store.count("rejects"), store.count("imports")) == (0, 0, 0)
    finally:
        store.close()


def test_a_wrong_explicit_format_is_refused_and_stores_nothing(workspace: Path) -> None:
    code, out = run(workspace, "import", "cdr", str(workspace / "smdr.txt"), "--format", "cucm")
    assert code == 1 and "Traceback" not in out
    assert "7 of 7 lines rejected as cucm (--format cucm)" in out  # the blank line is no record
    assert "looks like avaya-ipo (confidence" in out and "try --format avaya-ipo or leave --format out" in out
    assert _nothing_stored(workspace)
    code, out = run(workspace, "import", "cdr", str(workspace / "smdr.txt"), "--format", "cucm", "--json")
    assert code == 1 and "looks like avaya-ipo" in json.loads(out)["error"]


def test_a_source_of_another_format_is_refused(workspace: Path) -> None:
    shutil.copy(DATA / "asterisk-master.csv", workspace / "Master.csv")
    code, out = run(workspace, "import", "cdr", str(workspace / "Master.csv"), "--source", "paris-ipo")
    assert code == 1
    assert "14 of 14 lines rejected as avaya-ipo (source 'paris-ipo' is avaya-ipo)" in out
    assert "looks like asterisk" in out and "--format asterisk" in out
    assert _nothing_stored(workspace)


def test_a_lenient_parser_that_recognises_nothing_is_refused_too(workspace: Path) -> None:
    # Panasonic's parser skips lines it does not recognise ("not a record") rather than rejecting them
    code, out = run(workspace, "import", "cdr", str(DATA / "asterisk-master.csv"), "--format", "panasonic",
                    "--site", "paris")
    assert code == 1 and "14 of 14 lines rejected as panasonic" in out and "looks like asterisk" in out
    assert _nothing_stored(workspace)


def test_a_file_no_format_reads_says_so(workspace: Path) -> None:
    code, out = run(workspace, "import", "cdr", str(DATA / "generic.csv"), "--format", "cucm", "--site", "paris")
    assert code == 1 and "auto-detection cannot tell the format either" in out and _nothing_stored(workspace)


def test_a_genuine_file_with_bad_lines_imports(workspace: Path) -> None:
    # 3 good records and 2 bad ones: under half rejected; 4 bad of 4: too few records to judge, imported as rejects
    good = IPO.splitlines(keepends=True)[:3]
    bad = ["2025/13/14 10:50:00,00:00:30,2,2001,O,2002\n", "garbage\n"]
    (workspace / "mixed.txt").write_text("".join(good + bad))
    (workspace / "tiny.txt").write_text("".join(bad * 2))
    code, out = run(workspace, "import", "cdr", str(workspace / "mixed.txt"), "--json")
    assert code == 0, out
    assert (json.loads(out)["calls"], json.loads(out)["rejected"]) == (3, 2)
    code, out = run(workspace, "import", "cdr", str(workspace / "tiny.txt"), "--format", "avaya-ipo", "--json")
    assert code == 0 and json.loads(out)["rejected"] == 4


def test_the_sample_bounds_the_check(workspace: Path) -> None:
    """A file whose first SAMPLE_LINES lines are good imports, however bad its tail; a bad head refuses a file
    however good its tail (and only the head is read to say so)."""
    from pipeline.formatcheck import SAMPLE_LINES

    good = IPO.splitlines(keepends=True)[0]
    bad = "garbage\n"
    (workspace / "tail.txt").write_text(good * SAMPLE_LINES + bad * (SAMPLE_LINES + 5))
    (workspace / "head.txt").write_text(bad * (SAMPLE_LINES // 2 + 1) + good * SAMPLE_LINES * 2)
    code, out = run(workspace, "import", "cdr", str(workspace / "tail.txt"), "--format", "avaya-ipo", "--json")
    assert code == 0 and json.loads(out)["rejected"] == SAMPLE_LINES + 5
    code, out = run(workspace, "import", "cdr", str(workspace / "head.txt"), "--format", "avaya-ipo")
    assert code == 1 and f"{SAMPLE_LINES // 2 + 1} of the first {SAMPLE_LINES} lines rejected" in out


def test_a_site_tariff_that_cannot_be_used_is_a_message_and_no_import(tmp_path: Path) -> None:
    """A site's tariff that does not parse: `import cdr` says so before storing anything (no import row), and
    `calls` and `rate`, which load it too, give the same message rather than a traceback."""
    ws = make_workspace(tmp_path)
    base = ["--workspace", str(ws)]
    assert CliRunner().invoke(main, [*base, "import", "cdr", str(ws / "smdr.txt")]).exit_code == 0
    deck = ws / "tariffs" / "fr-business.toml"
    deck.write_text(deck.read_text() + "\ngarbage = = =\n")
    (ws / "more.txt").write_bytes(IPO.replace("1000412", "2000412").encode())
    result = CliRunner().invoke(main, [*base, "import", "cdr", str(ws / "more.txt")])
    assert result.exit_code == 1, (result.output, result.exception)
    assert "site paris: its tariff cannot be used, nothing was imported" in result.output
    assert f"{deck}: invalid TOML" in result.output
    store = open_store(ws / "anatole.db")
    assert store.conn.execute("SELECT COUNT(*) FROM imports").fetchone()[0] == 1
    store.close()
    for command in (["calls"], ["rate"]):
        result = CliRunner().invoke(main, [*base, *command])
        assert result.exit_code == 1 and f"{deck}: invalid TOML" in result.output, (result.output, result.exception)


def test_a_source_of_another_site_is_refused(workspace: Path) -> None:
    (workspace / "anatole.toml").write_text(CONFIG.replace('[[source]]', '[[site]]\nname = "lyon"\ncountry = "FR"\n'
                                                           'timezone = "Europe/Paris"\n\n[[source]]', 1))
    code, out = run(workspace, "import", "cdr", "--source", "paris-ipo", "--site", "lyon", str(workspace / "smdr.txt"))
    assert code == 1 and "source 'paris-ipo' is of site 'paris', not 'lyon'" in out, out
    code, out = run(workspace, "import", "cdr", "--source", "paris-ipo", "--site", "paris", str(workspace / "smdr.txt"))
    assert code == 0, out
