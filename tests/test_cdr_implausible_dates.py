"""A call dated outside 1970..2099 (a PBX whose clock was reset, a damaged record) is a reject naming the field, on
the row parsers, the block scanners and the daemon's live events alike: one such record once made every monthly
report of the workspace fail (year 9999) or `calls` and the import itself raise (year 1)."""

from __future__ import annotations

import io
from pathlib import Path

from click.testing import CliRunner

from anatole.cli import main
from ingest.cdr import CallRecord, ParseContext, Reject, parser
from ingest.cdr.blocks import blocks
from ingest.cdr.model import LATEST, dated

DATA = Path(__file__).parent / "data" / "cdr"
SAMPLES = Path(__file__).parent.parent / "tariffs" / "samples"


def asterisk_line(start: str, answer: str, end: str, uid: str) -> bytes:
    return (f'"","2001","+33155501234","from-internal","""Alice"" <2001>","PJSIP/2001-0000002a",'
            f'"PJSIP/trunk-out-0000002b","Dial","PJSIP/+33155501234@trunk-out,60","{start}","{answer}","{end}",'
            f'159,152,"ANSWERED","DOCUMENTATION","{uid}",""\n').encode()


LINES = [
    asterisk_line("2025-03-14 10:15:02", "2025-03-14 10:15:09", "2025-03-14 10:17:41", "1.1"),
    asterisk_line("0001-01-01 10:15:02", "0001-01-01 10:15:09", "0001-01-01 10:17:41", "1.2"),
    asterisk_line("9999-12-31 10:15:02", "9999-12-31 10:15:09", "9999-12-31 10:17:41", "1.3"),
    # local times the scanner takes (before 2100 locally) that are 2100 in UTC (New York is 5 hours behind)
    asterisk_line("2099-12-31 23:30:00", "2099-12-31 23:30:07", "2099-12-31 23:32:39", "1.4"),
    asterisk_line("2099-12-31 18:30:00", "2100-01-01 00:00:01", "2100-01-01 00:02:00", "1.5"),
    asterisk_line("2025-03-14 11:15:02", "2025-03-14 11:15:09", "2025-03-14 11:17:41", "1.6"),
]
EXPECTED = {2: "start: 0001-01-01", 3: "start: 9999-12-31", 4: "start: 2100-01-01 04:30:00 UTC",
            5: "answer: 2100-01-01 05:00:01 UTC"}


def reasons(items: list) -> dict[int, str]:
    return {i.line: i.reason for i in items if isinstance(i, Reject)}


def test_the_row_parser_and_the_block_scanner_reject_the_same_lines() -> None:
    data = b"".join(LINES)
    ctx = ParseContext(timezone="America/New_York")
    rows = list(parser("asterisk").parse(io.BytesIO(data), ctx))
    (block,) = list(blocks(io.BytesIO(data), "asterisk", ParseContext(timezone="America/New_York")))
    scanned = [item for _i, item in block.items]
    for got in (reasons(rows), reasons(scanned)):
        assert set(got) == set(EXPECTED)
        for line, start in EXPECTED.items():
            assert got[line].startswith(start) and "outside the years 1970 to 2099" in got[line], got[line]
    assert [r.line for r in rows if isinstance(r, CallRecord)] == [1, 6]
    assert (block.line[block.rows] == [1, 6]).all()  # the scanned rows: the odd ones taken out
    assert all(item.raw for item in scanned)  # with the line's text, as the row parser gives it


def test_a_row_format_rejects_year_9999_and_year_1() -> None:
    good = (DATA / "avaya-ipo.txt").read_bytes().splitlines(keepends=True)[0]
    data = good.replace(b"2025/03/14", b"9999/12/31") + good.replace(b"2025/03/14", b"0001/01/01") + good
    items = list(parser("avaya-ipo").parse(io.BytesIO(data), ParseContext(timezone="Europe/Paris")))
    got = reasons(items)
    assert set(got) == {1, 2} and got[1].startswith("start: 9999-12-31") and got[2].startswith("start: ")
    assert isinstance(items[2], CallRecord)


def test_dated_keeps_everything_else() -> None:
    record = CallRecord(line=7, native_id="x", start=LATEST - 1, answer=None, raw="r")
    assert dated(record) is record
    assert isinstance(dated(CallRecord(line=7, native_id="x", start=-1, raw="r")), Reject)
    reject = Reject(line=1, raw="", reason="line: x")
    assert dated(reject) is reject


def test_batch_rate_puts_them_with_the_rejects(tmp_path: Path) -> None:
    cdr = tmp_path / "Master.csv"
    cdr.write_bytes(b"".join(LINES) + LINES[0] * 20)  # mostly good: a file of bad lines is refused whole
    out = tmp_path / "rated.csv"
    result = CliRunner().invoke(main, ["batch-rate", str(cdr), "--tariff", str(SAMPLES / "fr-business.toml"),
                                       "--format", "asterisk", "--timezone", "America/New_York", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 23  # the header and the calls of 2025
    rejects = (tmp_path / "rated.csv.rejects.csv").read_text()
    assert rejects.count("outside the years 1970 to 2099") == 4
