"""`anatole archive export | drop | list` and what-if over archived months, on real SQLite files and real Parquet
files: the archive reads back as the store's calls (types, NULLs, exact money), a drop happens only with a verified
archive of exactly the calls, and what-if gives the same totals before and after (in one process and on a local
Dask cluster of two worker processes)."""

from __future__ import annotations

import builtins
import datetime as dt
import json
import socket
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from anatole.cli import main
from engine.money import parse_money
from store import CALL_COLUMNS, open_store

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

SAMPLES = Path(__file__).resolve().parent.parent / "tariffs" / "samples"
CONFIG = """
[workspace]
currency = "EUR"

[[site]]
name = "paris"
country = "FR"
timezone = "Europe/Paris"
outside_prefix = "0"
extensions = ["1000-1999"]

[[site]]
name = "nyc"
country = "US"
timezone = "America/New_York"
outside_prefix = "9"
extensions = ["2000-2999"]
"""
NUMBERS = ["33145678901", "33612345678", "442071234567", "12125550100", "4930123456", "33800123456"]


def at(day: str, hour: int, zone: str) -> int:
    return int(dt.datetime.fromisoformat(f"{day}T{hour:02d}:00").replace(tzinfo=ZoneInfo(zone)).timestamp())


def call(site: str, start: int, k: int, **values: Any) -> tuple:
    row = {c: None for c in CALL_COLUMNS}
    row.update(source=f"{site}-pbx", site=site, start=start, native_id=f"{site}-{start}-{k}", leg="", grp="",
               duration=60 + k, billable=(37 * k) % 400, direction="outgoing", disposition="answered",
               number_kind="external", billed=1, status="rated", number=NUMBERS[k % 6],
               currency="EUR" if site == "paris" else "USD", cost=12_345_678 * k + 1, raw=f"raw line {k} é",
               extension=("1001" if site == "paris" else "2001") if k % 5 else None)
    row.update(values)
    return tuple(row[c] for c in CALL_COLUMNS)


def calls() -> list[tuple]:
    """Two sites in two zones: February's end, March, April's start (in each site's time and across the other's
    month boundary), a merged leg, a call with no cost, an incoming call."""
    rows = []
    for k in range(40):
        rows.append(call("paris", at("2025-03-01", 0, "Europe/Paris") + k * 60_000, k))
        rows.append(call("nyc", at("2025-03-01", 0, "America/New_York") + k * 60_000, k))
    rows += [call("paris", at("2025-04-01", 2, "Europe/Paris"), 100),  # in nyc's March (the what-if window)
             call("nyc", at("2025-02-28", 20, "America/New_York"), 101),  # in Paris's March
             call("paris", at("2025-02-27", 12, "Europe/Paris"), 102),
             call("paris", at("2025-03-05", 12, "Europe/Paris"), 103, billed=0, native_id="merged"),
             call("paris", at("2025-03-06", 12, "Europe/Paris"), 104, cost=None, status="no_rate", currency=None),
             call("nyc", at("2025-03-07", 12, "America/New_York"), 105, direction="incoming")]
    return rows


def build(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "anatole.toml").write_text(CONFIG)
    store = open_store(path / "anatole.db")
    store.insert_calls(calls())
    store.close()
    return path


def run(ws: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--workspace", str(ws), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def whatif(ws: Path, *extra: str) -> dict[str, Any]:
    code, out = run(ws, "whatif", "--period", "2025-03", "--tariff", str(SAMPLES / "fr-business.toml"),
                    "--tariff", str(SAMPLES / "uk-business.toml"), "--json", *extra)
    assert code == 0, out
    return json.loads(out)


def store_rows(ws: Path, site: str, start: int, end: int) -> list[dict[str, Any]]:
    store = open_store(ws / "anatole.db")
    rows = list(store.calls(start=start, end=end, site=site))
    store.close()
    return rows


def count(ws: Path) -> int:
    store = open_store(ws / "anatole.db")
    n = store.count("calls")
    store.close()
    return n


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return build(tmp_path / "ws")


def test_export_reads_back_as_the_store_then_drop_keeps_whatif_totals(ws: Path) -> None:
    before = whatif(ws)
    assert before["calls"] > 80 and parse_money(before["candidates"][0]["total"]) > 0
    march = (at("2025-03-01", 0, "Europe/Paris"), at("2025-04-01", 0, "Europe/Paris"))
    expected = store_rows(ws, "paris", *march)
    code, out = run(ws, "archive", "export", "--month", "2025-03", "--json")
    assert code == 0, out
    made = {a["site"]: a for a in json.loads(out)["archives"]}
    file = ws / "archive" / "calls" / "month=2025-03" / "part-paris.parquet"
    assert made["paris"]["file"] == str(file) and made["paris"]["rows"] == len(expected) == 42
    paris_cost = sum(r["cost"] for r in expected if r["cost"] is not None)
    assert made["paris"]["sums"] == {"": "0", "EUR": str(paris_cost)}
    # every column, its type, its NULLs and exact money; in (start, id) order
    table = pq.read_table(file)
    assert table.column_names == [c for c in table.column_names if c != "month"]
    names = [r[1] for r in open_store(ws / "anatole.db").conn.execute("PRAGMA table_info(calls)")]
    assert table.column_names == names
    for name in ("id", "start", "cost", "billable", "billed", "import_id"):
        assert table.schema.field(name).type == pa.int64()
    assert table.schema.field("raw").type == pa.string()
    assert table.to_pylist() == expected
    # the hive layout: the whole archive reads as one dataset with the month as a column
    import pyarrow.dataset as ds

    dataset = ds.dataset(ws / "archive" / "calls", format="parquet", partitioning="hive").to_table()
    assert dataset.num_rows == made["paris"]["rows"] + made["nyc"]["rows"]
    assert set(dataset.column("month").to_pylist()) == {"2025-03"}

    code, out = run(ws, "archive", "export", "--month", "2025-04")
    assert code == 0 and "paris 2025-04: 1 call(s), 12.34567801 EUR" in out
    assert "nyc 2025-04: no calls in the store" in out, out
    total = count(ws)
    code, out = run(ws, "archive", "drop", "--month", "2025-03", "--yes")
    assert code == 0 and "paris 2025-03: 42 call(s) removed from the store" in out, out
    code, out = run(ws, "archive", "drop", "--month", "2025-04", "--site", "paris", "--yes", "--json")
    assert code == 0 and json.loads(out)["dropped"][0]["dropped"] == 1
    assert count(ws) == total - 42 - made["nyc"]["rows"] - 1
    assert store_rows(ws, "paris", *march) == []
    after = whatif(ws)
    assert after == before  # the archived partitions read back: the same totals, to the last unit
    code, out = run(ws, "whatif", "--period", "2025-03", "--tariff", str(SAMPLES / "fr-business.toml"))
    assert code == 0 and "3 archived month partition(s) read" in out, out
    code, out = run(ws, "archive", "list", "--json")
    listed = json.loads(out)
    assert [(a["month"], a["site"], a["in_store"], bool(a["dropped_at"])) for a in listed] == [
        ("2025-03", "nyc", 0, True), ("2025-03", "paris", 0, True), ("2025-04", "paris", 0, True)]
    code, out = run(ws, "archive", "drop", "--month", "2025-03", "--yes")
    assert code == 0 and "nothing to drop" in out


def test_late_calls_after_a_drop_are_counted_once(tmp_path: Path) -> None:
    """A month dropped, then a late call of that month imported: what-if reads both, like a store that kept all;
    exporting again writes a second file for the late calls only."""
    plain, archived = build(tmp_path / "a"), build(tmp_path / "b")
    for args in (("export", "--month", "2025-03"), ("drop", "--month", "2025-03", "--yes")):
        code, out = run(archived, "archive", *args)
        assert code == 0, out
    late = call("paris", at("2025-03-15", 9, "Europe/Paris"), 7, native_id="late")
    for ws in (plain, archived):
        store = open_store(ws / "anatole.db")
        assert store.insert_calls([late]) == 1
        store.close()
    assert whatif(archived) == whatif(plain)
    code, out = run(archived, "archive", "list")
    assert "2025-03 paris: 42 call(s)" in out and "1 call(s) of the month in the store now" in out, out
    code, out = run(archived, "archive", "export", "--month", "2025-03", "--site", "paris", "--json")
    second = json.loads(out)["archives"][0]
    assert code == 0 and second["rows"] == 1 and second["file"].endswith("part-paris.2.parquet")
    code, out = run(archived, "archive", "drop", "--month", "2025-03", "--site", "paris", "--yes")
    assert code == 0, out
    assert whatif(archived) == whatif(plain)


def test_drop_refused_without_an_archive(ws: Path) -> None:
    total = count(ws)
    code, out = run(ws, "archive", "drop", "--month", "2025-03", "--yes")
    assert code == 1 and "no archive of them" in out and "archive export --month 2025-03" in out, out
    code, out = run(ws, "archive", "export", "--month", "2025-03", "--site", "paris")
    assert code == 0, out
    code, out = run(ws, "archive", "drop", "--month", "2025-03", "--yes")  # nyc has no archive: nothing dropped
    assert code == 1 and "nyc 2025-03" in out and "nothing dropped" in out, out
    assert count(ws) == total


def test_drop_refused_with_a_tampered_file_or_changed_calls(ws: Path) -> None:
    total = count(ws)
    code, out = run(ws, "archive", "export", "--month", "2025-03", "--site", "paris", "--json")
    file = Path(json.loads(out)["archives"][0]["file"])
    good = file.read_bytes()
    file.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    code, out = run(ws, "archive", "drop", "--month", "2025-03", "--site", "paris", "--yes")
    assert code == 1 and "changed since it was written" in out, out
    file.unlink()
    code, out = run(ws, "archive", "drop", "--month", "2025-03", "--site", "paris", "--yes")
    assert code == 1 and "is missing" in out, out
    file.write_bytes(good)
    store = open_store(ws / "anatole.db")  # a re-rate after the export: the archive is no longer these calls
    with store.conn:
        store.conn.execute("UPDATE calls SET cost = cost + 1 WHERE id = (SELECT MIN(id) FROM calls WHERE "
                           "site = 'paris' AND start >= ?)", (at("2025-03-01", 0, "Europe/Paris"),))
    store.close()
    code, out = run(ws, "archive", "drop", "--month", "2025-03", "--site", "paris", "--yes")
    assert code == 1 and "changed since the archive was written" in out, out
    assert count(ws) == total
    code, out = run(ws, "archive", "export", "--month", "2025-03", "--site", "paris")  # again: replaces the file
    assert code == 0 and "part-paris.parquet" in out, out
    code, out = run(ws, "archive", "drop", "--month", "2025-03", "--site", "paris", "--yes")
    assert code == 0, out
    code, out = run(ws, "archive", "list", "--json")
    assert [a["site"] for a in json.loads(out)] == ["paris"]


def test_a_month_with_no_calls(ws: Path) -> None:
    code, out = run(ws, "archive", "export", "--month", "2025-06")
    assert code == 0 and "paris 2025-06: no calls in the store, nothing archived" in out, out
    assert not (ws / "archive" / "calls" / "month=2025-06").exists()
    code, out = run(ws, "archive", "drop", "--month", "2025-06", "--yes")
    assert code == 0 and "nothing to drop" in out, out
    code, out = run(ws, "archive", "list")
    assert code == 0 and "no archives" in out
    code, out = run(ws, "archive", "export", "--month", "2025-13")
    assert code == 1 and "--month '2025-13' is not a month" in out, out
    for month in ("9999-12", "0000-01"):  # the next month, or the local midnight, would be out of Python's years
        code, out = run(ws, "archive", "export", "--month", month)
        assert code == 1 and f"--month '{month}': give a month of the years 1970 to 2099" in out, out
    code, out = run(ws, "archive", "export", "--month", "2025-03", "--site", "lyon")
    assert code == 1 and "--site lyon" in out, out


def test_a_value_of_another_type_stops_the_export_naming_the_call(ws: Path) -> None:
    store = open_store(ws / "anatole.db")
    with store.conn:
        bad = store.conn.execute("SELECT id FROM calls WHERE site = 'paris' AND start >= ?",
                                 (at("2025-04-01", 0, "Europe/Paris"),)).fetchone()[0]
        store.conn.execute("UPDATE calls SET billed_seconds = 'sixty' WHERE id = ?", (bad,))
    store.close()
    code, out = run(ws, "archive", "export", "--month", "2025-04", "--site", "paris")
    assert code == 1 and f"call id {bad}: column billed_seconds holds 'sixty'" in out, out
    assert list((ws / "archive" / "calls" / "month=2025-04").iterdir()) == []  # no partial or hidden file left
    asked = CliRunner().invoke(main, ["--workspace", str(ws), "archive", "drop", "--month", "2025-03"], input="n\n")
    assert asked.exit_code == 1 and "nothing dropped" in asked.output, asked.output  # asked, and answered no


def test_parts_merged_equal_one_set() -> None:
    """totals() of any split of the calls, merge()d and report()ed, is compare() of them all."""
    import numpy as np

    from tariffs.load import compiled_tariff
    from tem import whatif as wi

    rng = np.random.default_rng(7)
    n = 3000
    cols = {"site": rng.integers(-1, 2, n).astype(np.int16),
            "number": np.array([NUMBERS[k].encode() for k in rng.integers(0, 6, n)], dtype="S18"),
            "start": at("2025-03-01", 0, "UTC") + rng.integers(0, 86400 * 30, n),
            "seconds": rng.integers(0, 900, n).astype(np.int32), "cost": rng.integers(0, 10**9, n),
            "currency": rng.integers(0, 2, n).astype(np.int16), "currencies": np.array(["", "EUR"], dtype=object)}
    tariffs = [(p.name, compiled_tariff(p)) for p in (SAMPLES / "fr-business.toml", SAMPLES / "us-business.toml")]
    sites, countries = ["paris", "nyc"], {"paris": "FR", "nyc": "US"}
    whole = wi.compare(cols, sites, countries, tariffs)
    cut = np.sort(rng.integers(0, n, 3))
    parts = [{k: (v[a:b] if k != "currencies" else v) for k, v in cols.items()}
             for a, b in zip([0, *cut], [*cut, n])]
    assert wi.report(wi.merge([wi.totals(p, sites, countries, tariffs) for p in parts[::-1]]), sites) == whole
    assert json.dumps(wi.report(wi.merge([wi.totals(p, sites, countries, tariffs) for p in parts]), sites)) == \
        json.dumps(whole)  # the same keys in the same order too


def test_pyarrow_missing_is_a_clear_error(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = builtins.__import__

    def no_pyarrow(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pyarrow" or name.startswith("pyarrow."):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    for args in (("export", "--month", "2025-03"), ("drop", "--month", "2025-03", "--yes")):
        code, out = run(ws, "archive", *args)
        assert code == 1 and "pip install 'anatole[archive]'" in out, out
    assert not (ws / "archive").exists()


def test_whatif_needs_the_dropped_months_files(ws: Path) -> None:
    for args in (("export", "--month", "2025-03", "--site", "paris"),
                 ("drop", "--month", "2025-03", "--site", "paris", "--yes")):
        code, out = run(ws, "archive", *args)
        assert code == 0, out
    (ws / "archive" / "calls" / "month=2025-03" / "part-paris.parquet").unlink()
    code, out = run(ws, "whatif", "--period", "2025-03", "--tariff", str(SAMPLES / "fr-business.toml"))
    assert code == 1 and "part-paris.parquet is missing" in out, out


def test_whatif_on_dask_workers_equals_one_process(tmp_path: Path) -> None:
    """One task per archived partition on a local cluster of 2 worker processes (its start is most of this
    test's few seconds), the rest of the period from the store: the same totals as one process."""
    distributed = pytest.importorskip("distributed")
    plain, archived = build(tmp_path / "a"), build(tmp_path / "b")
    code, out = run(archived, "archive", "export", "--month", "2025-03")
    assert code == 0, out
    code, out = run(archived, "archive", "drop", "--month", "2025-03", "--site", "paris", "--yes")
    assert code == 0, out  # paris from its partition, nyc from the store
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=40) as cluster:
        address = cluster.scheduler_address
        assert whatif(archived, "--scheduler", address) == whatif(plain)
        assert whatif(archived, "--scheduler", address, "--site", "paris") == whatif(plain, "--site", "paris")
        (archived / "archive" / "calls" / "month=2025-03" / "part-paris.parquet").unlink()
        code, out = run(archived, "whatif", "--period", "2025-03", "--tariff", str(SAMPLES / "fr-business.toml"),
                        "--scheduler", address)
        assert code == 1 and "part-paris.parquet is missing" in out, out
        assert f"{socket.gethostname()}: the archive" in out  # raised by the task, on a worker
    code, out = run(archived, "whatif", "--period", "2025-03", "--tariff", str(SAMPLES / "fr-business.toml"),
                    "--workers", "0")
    assert code == 1 and "--workers 0" in out, out


def test_export_to_another_folder_while_archived_is_refused(ws: Path, tmp_path: Path) -> None:
    """A month archived and not dropped is exported again in its place: --to elsewhere was ignored, and the run
    said it had written there. Now refused, naming where the archive is; without --to it is replaced as before."""
    code, out = run(ws, "archive", "export", "--month", "2025-03", "--site", "paris")
    assert code == 0, out
    elsewhere = tmp_path / "elsewhere"
    code, out = run(ws, "archive", "export", "--month", "2025-03", "--site", "paris", "--to", str(elsewhere))
    assert code == 1 and "paris 2025-03 is archived at" in out and "export it again without --to" in out, out
    assert not elsewhere.exists()
    code, out = run(ws, "archive", "export", "--month", "2025-03", "--site", "paris")
    assert code == 0, out
