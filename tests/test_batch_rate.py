"""`anatole batch-rate`: CDR files to a rated CSV without a database; one row per call, rejects beside it."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from anatole.cli import main

DATA = Path(__file__).parent / "data" / "cdr"
SAMPLES = Path(__file__).parent.parent / "tariffs" / "samples"

ROWS = (
    '"","2001","+33155501234","from-internal","""Alice"" <2001>","PJSIP/2001-0000002a","PJSIP/trunk-out-0000002b",'
    '"Dial","PJSIP/+33155501234@trunk-out,60","2025-03-14 10:15:02","2025-03-14 10:15:09","2025-03-14 10:17:41",'
    '159,152,"ANSWERED","DOCUMENTATION","1741943702.84",""\n'
    '"","2002","+33612345678","from-internal","""Bruno"" <2002>","PJSIP/2002-0000002c","PJSIP/trunk-out-0000002d",'
    '"Dial","PJSIP/+33612345678@trunk-out,60","2025-03-14 11:00:00",,"2025-03-14 11:00:20",20,0,"NO ANSWER",'
    '"DOCUMENTATION","1741946400.90",""\n'
    '"","2003","+33612345678","from-internal","truncated\n'
)


def test_international_numbers_need_no_site(tmp_path: Path) -> None:
    cdr = tmp_path / "Master.csv"
    cdr.write_text(ROWS)
    out = tmp_path / "rated.csv"
    result = CliRunner().invoke(main, ["batch-rate", str(cdr), "--tariff", str(SAMPLES / "fr-business.toml"),
                                       "--format", "asterisk", "--timezone", "Europe/Paris", "--out", str(out),
                                       "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["read"], summary["calls"], summary["rejected"]) == (3, 2, 1)
    rows = list(csv.DictReader(out.open()))
    assert [r["number"] for r in rows] == ["33155501234", "33612345678"]
    assert rows[0]["status"] == "rated" and rows[0]["cost"] == "0.0507" and rows[0]["currency"] == "EUR"
    assert rows[1]["status"] == "unanswered" and rows[1]["cost"] == "0.0000"
    rejects = list(csv.DictReader((tmp_path / "rated.csv.rejects.csv").open()))
    assert len(rejects) == 1 and rejects[0]["line"] == "3" and rejects[0]["reason"]


def test_with_a_site_dial_plan(tmp_path: Path) -> None:
    (tmp_path / "tariffs").mkdir()
    for ext in (".toml", ".csv"):
        shutil.copy(SAMPLES / f"fr-business{ext}", tmp_path / "tariffs" / f"fr-business{ext}")
    (tmp_path / "anatole.toml").write_text(
        '[[site]]\nname = "paris"\ncountry = "FR"\ntimezone = "Europe/Paris"\noutside_prefix = ""\n'
        'extensions = ["2000-2999"]\ntariff = "tariffs/fr-business.toml"\n')
    out = tmp_path / "rated.csv"
    result = CliRunner().invoke(main, ["--workspace", str(tmp_path), "batch-rate", str(DATA / "asterisk-master.csv"),
                                       "--tariff", str(tmp_path / "tariffs" / "fr-business.toml"), "--site", "paris",
                                       "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["format"] == "asterisk"
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == summary["calls"] and summary["read"] == summary["calls"] + summary["rejected"]
    assert {"number", "cost"} <= set(rows[0])
    assert any(r["status"] == "rated" for r in rows)


def test_bad_arguments(tmp_path: Path) -> None:
    cdr = tmp_path / "Master.csv"
    cdr.write_text(ROWS)
    result = CliRunner().invoke(main, ["batch-rate", str(cdr), "--tariff", str(SAMPLES / "fr-business.toml"),
                                       "--format", "asterisk", "--out", str(tmp_path / "x.txt")])
    assert result.exit_code == 1 and "give a .csv or .parquet file" in result.output


def test_a_wrong_format_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "rated.csv"
    args = ["batch-rate", "--tariff", str(SAMPLES / "fr-business.toml"), "--out", str(out)]
    result = CliRunner().invoke(main, [*args[:1], str(DATA / "avaya-ipo.txt"), *args[1:], "--format", "cucm"])
    assert result.exit_code == 1
    assert "12 of 12 lines rejected as cucm (--format cucm)" in result.output
    assert "looks like avaya-ipo (confidence" in result.output and "Nothing was written" in result.output
    assert not out.exists() and not (tmp_path / "rated.csv.rejects.csv").exists()
    # detected on the first input, the second is of another format: refused before the first is rated
    result = CliRunner().invoke(main, [*args[:1], str(DATA / "asterisk-master.csv"), str(DATA / "avaya-ipo.txt"),
                                       *args[1:]])
    assert result.exit_code == 1 and "rejected as asterisk (detected on" in result.output
    assert "give --format avaya-ipo" in result.output and not out.exists()


def test_a_wrong_format_is_refused_before_dask_starts(tmp_path: Path) -> None:
    """The whole file is judged by the driver: Dask tasks see parts of files, too little to judge one by."""
    out = tmp_path / "rated.csv"
    result = CliRunner().invoke(main, ["batch-rate", str(DATA / "avaya-ipo.txt"), "--tariff",
                                       str(SAMPLES / "fr-business.toml"), "--format", "asterisk", "--out", str(out),
                                       "--workers", "2"])
    assert result.exit_code == 1 and "12 of 12 lines rejected as asterisk" in result.output
    assert not out.exists()
