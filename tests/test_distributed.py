"""`anatole batch-rate --workers N | --scheduler ADDR`: the Dask path gives exactly the single-process result.

One LocalCluster of two worker processes serves the module (its start is the slow part); the CLI test starts its
own with --workers 2. The splitting itself (byte ranges, header lines, line numbers) is also checked without Dask,
over random chunk sizes, by running the tasks in this process.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from anatole.config import open_workspace
from pipeline.batchrate import batch_rate
from pipeline.distributed import Job, _assemble, _merge, _prepare, plan_parts, rate_part

distributed = pytest.importorskip("distributed")

DATA = Path(__file__).parent / "data" / "cdr"
SAMPLES = Path(__file__).parent.parent / "tariffs" / "samples"
CONFIG = ('[[site]]\nname = "paris"\ncountry = "FR"\ntimezone = "Europe/Paris"\noutside_prefix = ""\n'
          'extensions = ["2000-2999"]\ntariff = "tariffs/fr-business.toml"\n')
BAD = b'"","2003","+33612345678","from-internal","truncated\n'


def make_workspace(root: Path) -> Path:
    (root / "tariffs").mkdir(parents=True)
    for ext in (".toml", ".csv"):
        shutil.copy(SAMPLES / f"fr-business{ext}", root / "tariffs" / f"fr-business{ext}")
    (root / "anatole.toml").write_text(CONFIG)
    return root


def asterisk_file(path: Path, copies: int = 12) -> Path:
    """The sample Master.csv many times over, with rejects, blank lines, CR LF and CR line ends, no final end."""
    lines = (DATA / "asterisk-master.csv").read_bytes().splitlines(keepends=True)
    out = []
    for k in range(copies):
        for i, line in enumerate(lines):
            body = line.rstrip(b"\r\n")
            out.append(body + (b"\r\n", b"\n", b"\r")[(i + k) % 3])
        out.append(BAD if k % 2 else b"\n")
    path.write_bytes(b"".join(out).rstrip(b"\r\n"))
    return path


def cucm_file(path: Path, copies: int = 15, header_again: bool = False) -> Path:
    """The sample CUCM file (names and types lines, then records) with its records many times over."""
    lines = (DATA / "cucm-133.csv").read_bytes().splitlines(keepends=True)
    head, body = lines[:2], lines[2:]
    out = head + body * copies
    if header_again:
        out[len(out) // 2:len(out) // 2] = head
    path.write_bytes(b"".join(out))
    return path


def single(ws: Path, inputs: list[Path], fmt: str, out: Path) -> dict:
    w = open_workspace(ws)
    r = batch_rate(inputs, tariff=w.sites["paris"].tariff, fmt=fmt, out=out, site=w.sites["paris"], ws=w)
    return {"read": r.read, "calls": r.calls, "rejected": r.rejected, "skipped": r.skipped, "statuses": r.statuses,
            "files": r.files}


def dask_run(ws: Path, inputs: list[Path], fmt: str, out: Path, address: str, chunk: int) -> tuple[dict, dict]:
    from pipeline.distributed import distributed_batch_rate

    w = open_workspace(ws)
    r, facts = distributed_batch_rate(inputs, tariff=w.sites["paris"].tariff, fmt=fmt, out=out, site="paris",
                                      workspace=ws, scheduler=address, chunk_bytes=chunk)
    return {"read": r.read, "calls": r.calls, "rejected": r.rejected, "skipped": r.skipped, "statuses": r.statuses,
            "files": r.files}, facts


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=40) as c:
        yield c.scheduler_address


def test_csv_identical_to_single_process(tmp_path: Path, cluster: str) -> None:
    ws = make_workspace(tmp_path / "ws")
    inputs = [asterisk_file(tmp_path / "a.csv"), asterisk_file(tmp_path / "b.csv", copies=3)]
    expected = single(ws, inputs, "asterisk", tmp_path / "one.csv")
    got, facts = dask_run(ws, inputs, "asterisk", tmp_path / "many.csv", cluster, chunk=1500)
    assert facts["split_files"] == 2 and facts["parts"] > 6 and facts["workers"] == 2
    assert got == expected and expected["files"][0]["rejected"] == 6 and expected["files"][0]["skipped"] > 0
    assert (tmp_path / "many.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
    assert (tmp_path / "many.csv.rejects.csv").read_bytes() == (tmp_path / "one.csv.rejects.csv").read_bytes()
    assert not list(tmp_path.glob(".many.csv.parts-*"))  # the staging folder is gone


def test_parquet_dataset_identical_to_single_process(tmp_path: Path, cluster: str) -> None:
    ds = pytest.importorskip("pyarrow.dataset")
    pq = pytest.importorskip("pyarrow.parquet")

    ws = make_workspace(tmp_path / "ws")
    inputs = [asterisk_file(tmp_path / "a.csv")]
    expected = single(ws, inputs, "asterisk", tmp_path / "one.parquet")
    for k in range(2):  # a second run replaces the first run's parts, and what a killed run left there
        if k:
            for left in (".part-00002.parquet.partial-0123abcd", ".part-00002.parquet.partial-0123abcd.rejects.csv",
                         "rejects.joined"):
                (tmp_path / "many.parquet" / left).write_bytes(b"half")
        got, facts = dask_run(ws, inputs, "asterisk", tmp_path / "many.parquet", cluster, chunk=2000)
    assert got == expected
    parts = sorted(p.name for p in (tmp_path / "many.parquet").iterdir())
    assert parts == [f"part-{i:05d}.parquet" for i in range(facts["parts"])] and facts["parts"] > 3
    one = pq.read_table(tmp_path / "one.parquet")
    many = ds.dataset(tmp_path / "many.parquet").to_table()
    assert one.num_rows == expected["calls"] and many.equals(one)
    assert (tmp_path / "many.parquet.rejects.csv").read_bytes() == (tmp_path / "one.parquet.rejects.csv").read_bytes()


def test_cucm_header_lines_go_with_every_part(tmp_path: Path, cluster: str) -> None:
    ws = make_workspace(tmp_path / "ws")
    for again in (False, True):
        cdr = cucm_file(tmp_path / f"cucm-{again}.csv", header_again=again)
        expected = single(ws, [cdr], "cucm", tmp_path / "one.csv")
        got, facts = dask_run(ws, [cdr], "cucm", tmp_path / "many.csv", cluster, chunk=4000)
        assert (facts["parts"] == 1) if again else (facts["parts"] > 3 and facts["split_files"] == 1)
        assert got == expected and expected["skipped"] >= 2
        assert (tmp_path / "many.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()


def test_a_worker_error_is_a_message(tmp_path: Path, cluster: str) -> None:
    from pipeline.batchrate import BatchError
    from pipeline.distributed import distributed_batch_rate

    ws = make_workspace(tmp_path / "ws")
    cdr = asterisk_file(tmp_path / "a.csv")
    with pytest.raises(BatchError, match="no \\[\\[site\\]\\] named 'lyon'"):
        distributed_batch_rate([cdr], tariff=ws / "tariffs" / "fr-business.toml", fmt="asterisk",
                               out=tmp_path / "x.csv", site="lyon", workspace=ws, scheduler=cluster)
    assert not list(tmp_path.glob(".x.csv.parts-*"))


def test_a_failed_parquet_run_leaves_no_dataset(tmp_path: Path, cluster: str) -> None:
    pytest.importorskip("pyarrow")
    from pipeline.batchrate import BatchError
    from pipeline.distributed import distributed_batch_rate

    ws = make_workspace(tmp_path / "ws")
    cdr = asterisk_file(tmp_path / "a.csv")
    with pytest.raises(BatchError, match="lyon"):
        distributed_batch_rate([cdr], tariff=ws / "tariffs" / "fr-business.toml", fmt="asterisk",
                               out=tmp_path / "x.parquet", site="lyon", workspace=ws, scheduler=cluster)
    assert not (tmp_path / "x.parquet").exists()  # no half dataset
    (tmp_path / "taken.parquet").mkdir()
    (tmp_path / "taken.parquet" / "notes.txt").write_text("mine")
    with pytest.raises(BatchError, match="not parts of an earlier run"):
        distributed_batch_rate([cdr], tariff=ws / "tariffs" / "fr-business.toml", fmt="asterisk",
                               out=tmp_path / "taken.parquet", site="paris", workspace=ws, scheduler=cluster)
    assert (tmp_path / "taken.parquet" / "notes.txt").read_text() == "mine"


def test_cli_workers_gives_the_single_process_output(tmp_path: Path) -> None:
    from anatole.cli import main

    ws = make_workspace(tmp_path / "ws")
    cdr = asterisk_file(tmp_path / "a.csv")
    base = ["--workspace", str(ws), "batch-rate", str(cdr), "--tariff", str(ws / "tariffs" / "fr-business.toml"),
            "--site", "paris", "--json"]
    one = CliRunner().invoke(main, [*base, "--out", str(tmp_path / "one.csv")])
    many = CliRunner().invoke(main, [*base, "--out", str(tmp_path / "many.csv"), "--workers", "2",
                                     "--chunk-mb", "1"])
    assert one.exit_code == 0 and many.exit_code == 0, many.output
    a, b = json.loads(one.output), json.loads(many.output)
    assert b.pop("dask")["workers"] == 2
    assert {**a, "out": None} == {**b, "out": None}
    assert (tmp_path / "many.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
    bad = CliRunner().invoke(main, [*base, "--out", str(tmp_path / "x.csv"), "--workers", "0"])
    assert bad.exit_code == 1 and "--workers 0" in bad.output


def test_formats_that_carry_state_are_not_split(tmp_path: Path) -> None:
    big = tmp_path / "ipo.txt"
    big.write_bytes((DATA / "avaya-ipo.txt").read_bytes() * 50)
    plan = plan_parts([big, asterisk_file(tmp_path / "a.csv")], "avaya-ipo", chunk_bytes=1000)
    assert [(p.input, p.start, p.end) for p in plan.parts] == [(0, 0, -1), (1, 0, -1)] and plan.split_files == 0


@settings(max_examples=25)
@given(chunk=st.integers(min_value=1000, max_value=20000), copies=st.integers(min_value=1, max_value=6))
def test_parts_rated_in_process_match_the_whole_file(tmp_path_factory: pytest.TempPathFactory, chunk: int,
                                                     copies: int) -> None:
    """Any cut of the file into ranges gives the same rows, line numbers, rejects and counts."""
    tmp = tmp_path_factory.mktemp("parts")
    ws = make_workspace(tmp / "ws")
    cdr = asterisk_file(tmp / "a.csv", copies=copies)
    expected = single(ws, [cdr], "asterisk", tmp / "one.csv")
    plan = plan_parts([cdr], "asterisk", chunk_bytes=chunk)
    out = tmp / "many.csv"
    parts_dir = _prepare(out, parquet=False)
    job = Job(root=str(ws), configured=True, site="paris", tariff=str(ws / "tariffs" / "fr-business.toml"),
              fmt="asterisk", timezone="UTC", parquet=False, parts_dir=str(parts_dir))
    results = [rate_part(p, job) for p in plan.parts]
    merged = _merge([cdr], results)
    _assemble(out, parts_dir, False, len(plan.parts))
    assert out.read_bytes() == (tmp / "one.csv").read_bytes()
    rejects = list(csv.reader(io.StringIO((tmp / "many.csv.rejects.csv").read_text())))
    assert rejects == list(csv.reader(io.StringIO((tmp / "one.csv.rejects.csv").read_text())))
    assert (merged.read, merged.calls, merged.rejected, merged.skipped, merged.statuses, merged.files) == (
        expected["read"], expected["calls"], expected["rejected"], expected["skipped"], expected["statuses"],
        expected["files"])


def test_a_worker_loads_the_workspace_and_tariff_once_and_reads_parts_in_place(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many parts on one worker process: one workspace (dial plans), one tariff compile, and no temporary copy of
    any part (nothing is written outside the parts folder)."""
    import tempfile

    import anatole.config
    import tariffs.compile
    from pipeline import distributed as dist
    from tariffs.load import clear_cache

    ws = make_workspace(tmp_path / "ws")
    cdr = asterisk_file(tmp_path / "a.csv", copies=6)
    plan = plan_parts([cdr], "asterisk", chunk_bytes=2000)
    assert len(plan.parts) > 3
    counts = {"compile": 0, "open": 0}
    compile_tariff, open_workspace_ = tariffs.compile.compile_tariff, anatole.config.open_workspace

    def counted(name, real):
        def call(*a, **k):
            counts[name] += 1
            return real(*a, **k)
        return call

    monkeypatch.setattr(tariffs.compile, "compile_tariff", counted("compile", compile_tariff))
    monkeypatch.setattr(tempfile, "TemporaryDirectory", None)  # a part copied aside would fail here
    monkeypatch.setattr(dist, "_WORKSPACES", {})
    clear_cache()
    out = tmp_path / "many.csv"
    parts_dir = _prepare(out, parquet=False)
    job = Job(root=str(ws), configured=True, site="paris", tariff=str(ws / "tariffs" / "fr-business.toml"),
              fmt="asterisk", timezone="UTC", parquet=False, parts_dir=str(parts_dir),
              opener=counted("open", open_workspace_))  # the loader the CLI registered, counted
    before = set(tmp_path.rglob("*"))
    results = [rate_part(p, job) for p in plan.parts]
    assert counts == {"compile": 1, "open": 1}
    assert {p for p in set(tmp_path.rglob("*")) - before if p.parent != parts_dir} == set()
    _assemble(out, parts_dir, False, len(plan.parts))
    expected = single(ws, [cdr], "asterisk", tmp_path / "one.csv")
    assert out.read_bytes() == (tmp_path / "one.csv").read_bytes()
    assert _merge([cdr], results).calls == expected["calls"]


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(st.tuples(st.text("ab,cdrRecordType", max_size=20), st.sampled_from(["\r\n", "\n", "\r", ""])),
                      max_size=30),
       piece=st.integers(min_value=1, max_value=40), cut=st.data())
def test_ranges_are_counted_as_the_blocks_number_lines(tmp_path_factory: pytest.TempPathFactory, lines, piece,
                                                       cut) -> None:
    """scan_range over any piece size gives count_lines of the whole range and the marker search past `skip`."""
    from ingest.cdr._scan import count_lines
    from pipeline import distributed as dist

    data = "".join(text + end for text, end in lines).encode()
    start = cut.draw(st.integers(0, len(data)))
    end = cut.draw(st.integers(start, len(data)))
    skip = cut.draw(st.integers(0, end - start))
    path = tmp_path_factory.mktemp("scan") / "f.csv"
    path.write_bytes(data)
    original = dist.SCAN_PIECE
    dist.SCAN_PIECE = piece
    try:
        got = dist.scan_range((str(path), start, end, skip, "cucm"))
    finally:
        dist.SCAN_PIECE = original
    body = data[start:end]
    assert got == (count_lines(body), dist.SPLIT["cucm"].search(body, skip) is not None)


def _worker_caches() -> tuple[int, int]:
    """(workspaces opened, tariffs loaded) in this worker process."""
    from pipeline import distributed as dist
    from tariffs import load

    return len(dist._WORKSPACES), len(load._cache)


def _forget() -> None:
    from pipeline import distributed as dist
    from tariffs.load import clear_cache

    dist._WORKSPACES.clear()
    clear_cache()


def test_workers_get_the_compiled_site_and_tariff_from_the_driver(tmp_path: Path, cluster: str) -> None:
    """The driver ships the compiled dial plan and tariff once to each worker: no worker opens anatole.toml or
    loads the deck, and the output is the single process's. Without shipping (ship=False) each worker loads both
    itself, with the same output."""
    from pipeline.distributed import distributed_batch_rate

    ws = make_workspace(tmp_path / "ws")
    cdr = asterisk_file(tmp_path / "a.csv", copies=6)
    expected = single(ws, [cdr], "asterisk", tmp_path / "one.csv")
    tariff = ws / "tariffs" / "fr-business.toml"
    with distributed.Client(cluster) as client:
        client.run(_forget)
        r, facts = distributed_batch_rate([cdr], tariff=tariff, fmt="asterisk", out=tmp_path / "shipped.csv",
                                          site="paris", workspace=ws, scheduler=cluster, chunk_bytes=1500)
        assert facts["parts"] > 3 and facts["ship_seconds"]["send"] >= 0
        assert set(client.run(_worker_caches).values()) == {(0, 0)}
        r2, _ = distributed_batch_rate([cdr], tariff=tariff, fmt="asterisk", out=tmp_path / "loaded.csv",
                                       site="paris", workspace=ws, scheduler=cluster, chunk_bytes=1500, ship=False)
        loaded = client.run(_worker_caches).values()
        client.run(_forget)
    assert any(w == 1 and t >= 1 for w, t in loaded)  # the older path: the workers opened and loaded them
    assert r.calls == r2.calls == expected["calls"] and r.read == expected["read"]
    assert (tmp_path / "shipped.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
    assert (tmp_path / "loaded.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()


@settings(max_examples=60, deadline=None)
@given(bodies=st.lists(st.binary(max_size=3000), min_size=1, max_size=9), order=st.randoms(use_true_random=False),
       threads=st.integers(min_value=1, max_value=4), kernel=st.booleans())
def test_the_joiner_places_parts_finished_in_any_order(tmp_path_factory: pytest.TempPathFactory, bodies, order,
                                                       threads, kernel) -> None:
    """Parts announced in any order land in input order after one header line; each part is deleted once
    copied; without copy_file_range (another OS, across file systems) the reads and writes give the same bytes."""
    import os

    from pipeline import distributed as dist

    tmp = tmp_path_factory.mktemp("join")
    out = tmp / "out.csv"
    parts_dir = _prepare(out, parquet=False)
    head = b",".join(dist._cell(c) for c in dist.COLUMNS) + b"\r\n"
    for i, body in enumerate(bodies):
        (parts_dir / f"part-{i:05d}.csv").write_bytes(head + body)
    real = os.copy_file_range

    def refuse(*args, **kwargs):
        raise OSError(18, "Invalid cross-device link")

    os.copy_file_range = real if kernel else refuse
    try:
        joiner = dist.Joiner(out, parts_dir, len(bodies), threads=threads)
        indices = list(range(len(bodies)))
        order.shuffle(indices)
        for k, i in enumerate(indices):
            assert not out.exists()  # staged until close
            joiner.done(i)
            placed = min(set(range(len(bodies))) - set(indices[:k + 1]), default=len(bodies))
            assert joiner.ready == placed
        joiner.close()
    finally:
        os.copy_file_range = real
    assert out.read_bytes() == head + b"".join(bodies)
    assert sorted(p.name for p in parts_dir.iterdir()) == []


def test_a_part_without_its_header_fails_the_join_and_leaves_no_output(tmp_path: Path) -> None:
    from pipeline.batchrate import BatchError
    from pipeline.distributed import Joiner, _cleanup

    out = tmp_path / "out.csv"
    parts_dir = _prepare(out, parquet=False)
    (parts_dir / "part-00000.csv").write_bytes(b"not,the,header\r\n1,2,3\r\n")
    joiner = Joiner(out, parts_dir, 1)
    joiner.done(0)
    with pytest.raises(BatchError, match="part-00000.csv: a part of the output does not begin with its header"):
        joiner.close()
    _cleanup(out, parts_dir, parquet=False)
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_while_joining_is_a_message_and_leaves_no_output(tmp_path: Path, cluster: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import os

    from pipeline import distributed as dist
    from pipeline.batchrate import BatchError

    def full(*args) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(dist, "_copy_range", full)
    ws = make_workspace(tmp_path / "ws")
    cdr = asterisk_file(tmp_path / "a.csv")
    out = tmp_path / "x.csv"
    with pytest.raises(BatchError, match=f"--out {out}: No space left on device"):
        dist.distributed_batch_rate([cdr], tariff=ws / "tariffs" / "fr-business.toml", fmt="asterisk", out=out,
                                    site="paris", workspace=ws, scheduler=cluster, chunk_bytes=2000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "ws"]
