"""`anatole bench`: the suite at a tiny size, the capacity plan's arithmetic, runs saved and compared."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from anatole import bench
from anatole.cli import main
from store.bench import BenchStore

TINY = {"rate_calls": 20_000, "rate_prefixes": 2_000, "python_sample": 2_000, "ingest_rows": 3_000,
        "import_rows": 2_000, "sqlite_rows": 2_000, "recon_lines": 5_000, "live_records": 200,
        "live_connections": 1, "live_rate": 100, "live_seconds": 0.5, "repeat": 1}


def figures(**areas: dict) -> dict:
    return {"machine": {"cores": 4}, **areas}


def test_plan_small_office_suffices(tmp_path: Path) -> None:
    got = bench.plan(figures(live={"records_per_s": 1000.0}, ingest={"batch_rows_per_s": 50_000.0},
                             store={"bytes_per_call": 700}, recon={"engine_lines_per_s": 1e6}),
                     bench.Profile(extensions=100, calls_per_extension_per_day=20, busy_hour_share=0.15,
                                   retention_months=12, sites=1), disk_path=tmp_path)
    assert got["calls_per_day"] == 2000 and got["calls_per_month"] == round(2000 * 365.25 / 12)
    assert got["busy_hour_calls_per_s"] == pytest.approx(2000 * 0.15 / 3600, rel=1e-3)
    checks = {c["check"]: c for c in got["checks"]}
    assert checks["live collection"]["headroom"] == pytest.approx(1000 / (2000 * 0.15 / 3600), rel=1e-3)
    assert checks["batch re-rating (a month)"]["workers_needed"] == 1
    assert got["suffices"] is True and got["add"] == []


def test_plan_large_operator_needs_workers_and_disk(tmp_path: Path) -> None:
    profile = bench.Profile(extensions=200_000, calls_per_extension_per_day=30, busy_hour_share=0.2,
                            retention_months=10**6, sites=40, rerate_hours=1)
    got = bench.plan(figures(live={"records_per_s": 3000.0}, ingest={"batch_rows_per_s": 10_000.0},
                             store={"bytes_per_call": 700}), profile, disk_path=tmp_path)
    checks = {c["check"]: c for c in got["checks"]}
    month = 200_000 * 30 * 365.25 / 12
    assert checks["batch re-rating (a month)"]["workers_needed"] == math.ceil(month / 10_000 / (3600 * 0.8)) == 7
    assert not checks["live collection"]["ok"] and not checks["storage"]["ok"]
    assert got["suffices"] is False
    assert "re-rating: 7 Dask workers in all (`anatole batch-rate --scheduler ...`): this machine gives 3, add 1 " \
           "machine(s) of 4 cores like it" in got["add"]
    assert "live collection: split the sites over 2 collectors like this one (`anatole serve` on each, with its " \
           "sites' sources)" in got["add"]
    assert any(a.startswith("storage: ") and "GB more disk" in a for a in got["add"])


def test_plan_without_figures_says_so(tmp_path: Path) -> None:
    got = bench.plan(figures(live={"skipped": "x"}), bench.Profile(), disk_path=tmp_path)
    assert got["checks"] == [] and got["suffices"] is None


def test_store_saves_and_reads_runs(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.db")
    runs = BenchStore(conn)
    a = runs.save(at=1, host="h", size="quick", cores=2, cpu="c", seconds=5.0, figures={"rate": {"x": 1}}, plan=None)
    b = runs.save(at=2, host="h", size="quick", cores=2, cpu="c", seconds=6.0, figures={"rate": {"x": 2}}, plan={})
    BenchStore(conn)  # migrating again changes nothing
    assert [r["id"] for r in runs.runs()] == [b, a] and runs.runs(limit=1)[0]["id"] == b
    assert runs.run(a)["figures"] == {"rate": {"x": 1}} and runs.run(a)["plan"] is None
    assert runs.run(999) is None


def workspace(tmp_path: Path) -> Path:
    (tmp_path / "anatole.toml").write_text("[workspace]\ncurrency = \"EUR\"\n")
    return tmp_path


def test_bench_runs_saves_and_compares(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(bench.SIZES, "quick", TINY)
    ws = workspace(tmp_path)
    args = ["--workspace", str(ws), "bench", "--quick", "--only", "rate", "--only", "ingest", "--only", "store",
            "--only", "recon", "--extensions", "50", "--retention-months", "6"]
    first = CliRunner().invoke(main, [*args, "--json", "--output", str(tmp_path / "run.json")])
    assert first.exit_code == 0, first.output
    got = json.loads(first.stdout)
    assert got == json.loads((tmp_path / "run.json").read_text())
    f = got["figures"]
    assert f["rate"]["calls"] == 20_000 and f["rate"]["engine_calls_per_s"] > 0 and f["rate"]["vs_python_dict"] > 0
    assert f["ingest"]["rows"] == 3_000 and f["ingest"]["rejected"] == 0
    assert f["ingest"].get("pyarrow_seconds", 0) > 0 or f["ingest"]["pyarrow"].startswith("skipped")
    assert f["store"]["calls"] == 2_000 and 100 < f["store"]["bytes_per_call"] < 10_000
    assert f["recon"]["lines_per_side"] == 5_000 and "live" not in f
    assert f["machine"]["cores"] >= 1 and len(f["machine"]["load_average_after"]) == 3
    assert got["plan"]["profile"]["extensions"] == 50 and {c["check"] for c in got["plan"]["checks"]} == {
        "live collection", "batch re-rating (a month)", "storage", "reconciliation (a month)"}
    second = CliRunner().invoke(main, args)  # the table and the plan
    assert second.exit_code == 0, second.output
    out = second.stdout
    assert "Capacity plan" in out and "engine, 1 thread" in out and "Saved as run 2" in out
    compare = CliRunner().invoke(main, ["--workspace", str(ws), "bench", "compare", "--json"])
    assert compare.exit_code == 0, compare.output
    rows = {r["figure"]: r for r in json.loads(compare.output)["figures"]}
    assert rows["rate.calls"]["b_over_a"] == 1.0 and rows["store.bytes_per_call"]["a"] == f["store"]["bytes_per_call"]
    table = CliRunner().invoke(main, ["--workspace", str(ws), "bench", "compare", "1", "2"])
    assert table.exit_code == 0 and "ingest.batch_rows_per_s" in table.output
    listing = CliRunner().invoke(main, ["--workspace", str(ws), "bench", "runs", "--json"])
    assert [r["id"] for r in json.loads(listing.output)] == [2, 1]


def test_bench_compare_needs_two_runs(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    result = CliRunner().invoke(main, ["--workspace", str(ws), "bench", "compare"])
    assert result.exit_code == 1 and "fewer than two saved runs" in result.output
    result = CliRunner().invoke(main, ["--workspace", str(ws), "bench", "compare", "3", "4"])
    assert result.exit_code == 1 and "no benchmark run 3" in result.output
    result = CliRunner().invoke(main, ["--workspace", str(ws), "bench", "--busy-hour-share", "2"])
    assert result.exit_code == 1 and "--busy-hour-share" in result.output


def test_a_broken_area_does_not_stop_the_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(n: dict, work: Path) -> dict:
        raise RuntimeError("boom")

    monkeypatch.setitem(bench.BENCHES, "rate", broken)
    monkeypatch.setitem(bench.SIZES, "quick", TINY)
    got = bench.run_suite("quick", ("rate", "recon"), workdir=tmp_path)
    assert got["rate"]["skipped"].startswith("failed: RuntimeError: boom") and got["recon"]["engine_seconds"] > 0
    assert list(tmp_path.iterdir()) == []  # the work folder is removed
