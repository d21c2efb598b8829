"""`anatole batch-rate`: CDR files to a rated CSV without a database; one row per call, rejects beside it."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest
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
    base = ["batch-rate", str(cdr), "--tariff", str(SAMPLES / "fr-business.toml")]
    result = CliRunner().invoke(main, [*base, "--format", "asterisk", "--out", str(tmp_path / "x.txt")])
    assert result.exit_code == 1 and "give a .csv or .parquet file" in result.output
    result = CliRunner().invoke(main, [*base, "--timezone", "Mars/Olympus", "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 1 and "--timezone 'Mars/Olympus' is not an IANA time zone" in result.output
    assert "rejected" not in result.output  # said before the file is judged: not every line blamed for it


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


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
@pytest.mark.parametrize("fmt", ["asterisk", "auto"])
def test_a_pipe_is_refused_before_its_start_is_read(tmp_path: Path, fmt: str) -> None:
    """A pipe (here a named one, as /dev/stdin is) would lose the start the format check reads before the rating
    reads it again: refused, naming it, before anything reads it or is written (before, /dev/stdin lost its first
    64 kB of calls and said nothing). Nobody writes into the pipe: any read of it would hang the test."""
    import signal

    fifo = tmp_path / "calls.fifo"
    os.mkfifo(fifo)
    out = tmp_path / "rated.csv"

    def hung(*args: object) -> None:
        raise TimeoutError("the pipe was opened for reading")

    was = signal.signal(signal.SIGALRM, hung)
    signal.alarm(30)
    try:  # the pipe first: the format's detection (auto) reads the first input
        result = CliRunner().invoke(main, ["batch-rate", str(fifo), str(DATA / "asterisk-master.csv"), "--tariff",
                                           str(SAMPLES / "fr-business.toml"), "--format", fmt, "--out", str(out)])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, was)
    assert result.exit_code == 1, result.output
    assert f"{fifo}: not a regular file (a pipe or a device)" in result.output
    assert "save the stream to a file first" in result.output and "Nothing was written" in result.output
    assert not out.exists() and not (tmp_path / "rated.csv.rejects.csv").exists()


def test_a_wrong_format_is_refused_before_dask_starts(tmp_path: Path) -> None:
    """The whole file is judged by the driver: Dask tasks see parts of files, too little to judge one by."""
    out = tmp_path / "rated.csv"
    result = CliRunner().invoke(main, ["batch-rate", str(DATA / "avaya-ipo.txt"), "--tariff",
                                       str(SAMPLES / "fr-business.toml"), "--format", "asterisk", "--out", str(out),
                                       "--workers", "2"])
    assert result.exit_code == 1 and "12 of 12 lines rejected as asterisk" in result.output
    assert not out.exists()


@pytest.mark.parametrize("dask", [False, True])
def test_a_bad_output_is_refused_before_anything_is_written(tmp_path: Path, dask: bool) -> None:
    """A missing or unwritable folder, a folder, another suffix: a message naming --out, exit 1, nothing created
    (not even the missing folder, which Dask's staging once made), on one process and before Dask starts."""
    cdr = tmp_path / "Master.csv"
    cdr.write_text(ROWS)
    (tmp_path / "taken.csv").mkdir()
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    cases = [(tmp_path / "nowhere" / "x.csv", f"the folder {tmp_path / 'nowhere'} does not exist"),
             (tmp_path / "taken.csv", "is a folder: give a file name"),
             (tmp_path / "x.txt", "give a .csv or .parquet file")]
    if os.geteuid() != 0:  # root may write anywhere
        cases.append((locked / "x.csv", f"no permission to write in {locked}"))
    before = sorted(tmp_path.rglob("*"))
    for out, message in cases:
        result = CliRunner().invoke(main, ["batch-rate", str(cdr), "--tariff", str(SAMPLES / "fr-business.toml"),
                                           "--format", "asterisk", "--out", str(out),
                                           *(["--workers", "1"] if dask else [])])
        assert result.exit_code == 1 and f"--out {out}" in result.output and message in result.output, result.output
        assert "Traceback" not in result.output
        assert sorted(tmp_path.rglob("*")) == before


def test_a_failed_or_interrupted_run_keeps_the_previous_output(tmp_path: Path, monkeypatch) -> None:
    """The output and its rejects are written under names of their own and renamed once complete: a full disk
    (said as such, naming --out) or an interrupt leaves the previous run's files as they were, and no other."""
    import errno

    from pipeline import batchrate

    cdr = tmp_path / "Master.csv"
    cdr.write_text(ROWS)
    out = tmp_path / "rated.csv"
    args = ["batch-rate", str(cdr), "--tariff", str(SAMPLES / "fr-business.toml"), "--format", "asterisk",
            "--out", str(out)]
    assert CliRunner().invoke(main, args).exit_code == 0
    kept = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert set(kept) == {"Master.csv", "rated.csv", "rated.csv.rejects.csv"}

    def full(self, data) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(batchrate._CsvWriter, "write", full)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and f"--out {out}: No space left on device" in result.output, result.output
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == kept

    def interrupted(self, data) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(batchrate._CsvWriter, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        batchrate.batch_rate([cdr], tariff=SAMPLES / "fr-business.toml", fmt="asterisk", out=out)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == kept


def _reference_table(values, quote: bool = True) -> list[bytes]:
    """The writer's text tables as they were built before _joined: one CSV cell (bytes) per entry (`quote`), or
    the entry as it is."""
    import numpy as np

    from pipeline.batchrate import _cell

    if isinstance(values, np.ndarray):
        values = [v.decode("utf-8") for v in values.tolist()]
    return [_cell(v) if quote else v.encode("utf-8") for v in values]


def test_joined_tables_are_the_cells_end_to_end() -> None:
    import numpy as np

    from pipeline.batchrate import _joined

    cases = [[], [""], ["331", "33", ""], ["Aruba", "Bonaire, Sint Eustatius and Saba", "", 'say "hi"', "Zambia"],
             ['Paris, "mobile"', "Zürich", "a\nb", "plain"], ["x\r", ","],
             np.array([b"33612345678", b"", b"1212555"], "S"), np.array([b"a,b", b'q"'], "S"), np.array([], "S3")]
    for values in cases:
        text, starts = _joined(values)
        cells = _reference_table(values)
        assert starts.dtype == np.int64 and len(starts) == len(cells) + 1 and starts[0] == 0
        assert [text[starts[k]:starts[k + 1]] for k in range(len(cells))] == cells


FIXTURES = ["asterisk-master.csv", "cucm-133.csv", "cucm-headerless-123.csv", "explain-plain-asterisk.csv",
            "freeswitch-master.csv", "generic.csv", "mitel-smdr.txt", "panasonic-smdr.txt", "3cx-cdr.log"]


def test_the_writer_gives_the_reference_writers_bytes(tmp_path: Path, monkeypatch) -> None:
    """Every CDR fixture (and the field-pattern files) rated with the joined tables and with the per-entry lists
    the writer took before: the same output bytes, Parquet included."""
    from anatole.config import open_workspace
    from ingest.cdr import UnknownFormat, detect
    from pipeline import batchrate

    root = tmp_path / "ws"
    (root / "tariffs").mkdir(parents=True)
    for ext in (".toml", ".csv"):
        shutil.copy(SAMPLES / f"fr-business{ext}", root / "tariffs" / f"fr-business{ext}")
    (root / "anatole.toml").write_text(
        '[[site]]\nname = "paris"\ncountry = "FR"\ntimezone = "Europe/Paris"\noutside_prefix = ""\n'
        'extensions = ["2000-2999"]\ntariff = "tariffs/fr-business.toml"\n')
    ws = open_workspace(root)
    site = ws.sites["paris"]
    files = [DATA / name for name in FIXTURES] + sorted((DATA / "field").iterdir())
    suffixes = [".csv"]
    try:
        import pyarrow  # noqa: F401
        suffixes.append(".parquet")
    except ImportError:
        pass
    checked = 0
    for path in files:
        try:
            fmt, _ = detect(path.read_bytes()[:65536])
        except UnknownFormat:
            continue
        for suffix in suffixes:
            outs = []
            for joined in (batchrate._joined, _reference_table):
                monkeypatch.setattr(batchrate, "_joined", joined)
                out = tmp_path / f"{path.stem}-{len(outs)}{suffix}"
                batchrate.batch_rate([path], tariff=site.tariff, fmt=fmt, out=out, site=site, ws=ws)
                outs.append(out)
            monkeypatch.undo()
            if suffix == ".csv":
                assert outs[0].read_bytes() == outs[1].read_bytes(), path
            else:
                import pyarrow.parquet as pq

                assert pq.read_table(outs[0]).equals(pq.read_table(outs[1])), path
            checked += 1
    assert checked >= 8


def test_the_cycle_collector_is_paused_for_the_batch_and_back_after(tmp_path: Path, monkeypatch) -> None:
    """batch_rate pauses Python's cycle collector while it runs (its passes over a tariff's strings cost 8-14 % of
    the CPU) and turns it back on after, also when the batch fails."""
    import gc

    import pipeline.batchrate as br

    seen = []
    real = br._block_part

    def spy(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(br, "_block_part", spy)
    cdr = tmp_path / "Master.csv"
    cdr.write_text(ROWS)
    args = dict(tariff=SAMPLES / "fr-business.toml", fmt="asterisk", out=tmp_path / "rated.csv",
                timezone="Europe/Paris", threads=1)
    assert gc.isenabled()
    br.batch_rate([cdr], **args)
    assert seen and not any(seen) and gc.isenabled()

    def fail(*args, **kwargs):
        raise RuntimeError("a block failed")

    monkeypatch.setattr(br, "_block_part", fail)
    with pytest.raises(RuntimeError, match="a block failed"):
        br.batch_rate([cdr], **args)
    assert gc.isenabled()


def test_read_ahead_in_order_bounded_and_closed() -> None:
    """pipeline.batchrate._read_ahead: the items in order, never more than `depth` (and the one being made) ahead
    of the caller, an error raised to the caller after the items before it, and stopping early closes the source."""
    import threading

    import pipeline.batchrate as br

    made: list[int] = []
    closed = threading.Event()

    def source(n: int, fail_at: int | None = None):
        try:
            for k in range(n):
                if k == fail_at:
                    raise OSError(5, "Input/output error")
                made.append(k)
                yield k
        finally:
            closed.set()

    got = []
    for k in br._read_ahead(source(50), 2):
        assert len(made) - k <= 4  # this one, two queued, one being put
        got.append(k)
    assert got == list(range(50)) and closed.is_set()

    made.clear()
    closed.clear()
    got = []
    with pytest.raises(OSError, match="Input/output"):
        for k in br._read_ahead(source(50, fail_at=7), 2):
            got.append(k)
    assert got == list(range(7)) and closed.is_set()

    made.clear()
    closed.clear()
    reads = br._read_ahead(source(10_000), 2)
    assert [next(reads) for _ in range(3)] == [0, 1, 2]
    reads.close()  # the caller stops early: the thread stops and the source is closed
    assert closed.is_set() and len(made) < 10


@pytest.mark.parametrize("address", ["abc", "127.0.0.1", "tcp://", "tcp://:abc", "http://x:8786", "tcp://h:99999"])
def test_a_malformed_scheduler_address_is_a_message(tmp_path: Path, address: str) -> None:
    cdr = tmp_path / "Master.csv"
    cdr.write_text(ROWS)
    result = CliRunner().invoke(main, ["batch-rate", str(cdr), "--tariff", str(SAMPLES / "fr-business.toml"),
                                       "--format", "asterisk", "--out", str(tmp_path / "o.csv"),
                                       "--scheduler", address])
    assert result.exit_code == 1, (result.output, result.exception)
    assert f"--scheduler {address!r}: not an address like tcp://HOST:PORT" in result.output
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("dask", [False, True])
def test_a_generic_csv_profile_from_the_workspace(tmp_path: Path, dask: bool) -> None:
    """`--format csv:NAME` takes the [csv.NAME] profile of anatole.toml, on one process and on Dask workers; a
    profile that is not there is a message, not the parser's error."""
    (tmp_path / "anatole.toml").write_text(
        '[workspace]\ncurrency = "EUR"\n\n[csv.export]\nstart = "Start"\ndialled = "To"\nbillable = "Talk"\n'
        'time_format = "%Y-%m-%d %H:%M:%S"\n')
    cdr = tmp_path / "calls.csv"
    cdr.write_text("Start,To,Talk\n2025-03-14 10:15:02,+33155501234,152\n2025-03-14 11:00:00,+33612345678,65\n")
    out = tmp_path / "rated.csv"
    base = ["--workspace", str(tmp_path), "batch-rate", str(cdr), "--tariff", str(SAMPLES / "fr-business.toml"),
            "--out", str(out), *(["--workers", "1"] if dask else [])]
    result = CliRunner().invoke(main, [*base, "--format", "csv:export", "--json"])
    assert result.exit_code == 0, (result.output, result.exception)
    rows = list(csv.DictReader(out.open()))
    assert [(r["number"], r["status"]) for r in rows] == [("33155501234", "rated"), ("33612345678", "rated")]
    result = CliRunner().invoke(main, [*base, "--format", "csv:nope"])
    assert result.exit_code == 1 and "'csv:nope': no [csv.nope] profile in anatole.toml" in result.output
