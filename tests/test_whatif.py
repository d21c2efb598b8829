"""What-if on a real workspace: the calls come from one query as numpy columns, each candidate tariff rates them
all (in threaded batches) and the totals match rating the same calls one by one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_allocation import build_workspace, run

from engine import RATED, number_keys
from store import open_store
from store.reports import open_queries
from tariffs.compile import compile_tariff
from tariffs.load import load_tariff
from tem import whatif
from tem.allocation import local_midnight

SAMPLES = Path(__file__).resolve().parent.parent / "tariffs" / "samples"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return build_workspace(tmp_path)


def expected(tariff_file: Path, ws: Path) -> int:
    """The candidate's total, rating each eligible call of March (Paris time) on its own."""
    c = compile_tariff(load_tariff(tariff_file))
    store = open_store(ws / "anatole.db")
    total = 0
    for row in store.calls(start=local_midnight("2025-03-01", "Europe/Paris"),
                           end=local_midnight("2025-04-01", "Europe/Paris"), direction="outgoing"):
        if row["billed"] and row["number_kind"] == "external":
            res = c.rate([row["number"]], [row["start"]], [row["billable"]])
            if res["status"][0] == RATED:
                total += int(res["cost"][0])
    store.close()
    return total


def test_whatif_compares_the_sample_tariffs(ws: Path) -> None:
    fr, uk = SAMPLES / "fr-business.toml", SAMPLES / "uk-business.toml"
    code, out = run(ws, "whatif", "--period", "2025-03", "--tariff", str(fr), "--tariff", str(uk), "--json")
    assert code == 0, out
    obj = json.loads(out)
    assert obj["calls"] == 7  # outgoing, external, billed legs of March: not the merged leg, not April's
    assert obj["current"] == {"EUR": "3.85"}
    fr_obj, uk_obj = obj["candidates"]
    assert fr_obj["currency"] == "EUR" and uk_obj["currency"] == "GBP"
    from engine.money import parse_money

    assert parse_money(fr_obj["total"]) == expected(fr, ws) > 0
    assert parse_money(uk_obj["total"]) == expected(uk, ws) > 0
    assert sum(parse_money(v) for v in fr_obj["by_type"].values()) == parse_money(fr_obj["total"])
    assert fr_obj["by_site"] == {"paris": fr_obj["total"]}
    assert obj["cheapest"] == {"EUR": fr_obj["tariff"], "GBP": uk_obj["tariff"]}
    code, out = run(ws, "whatif", "--period", "2025-03", "--tariff", str(fr))
    assert code == 0 and "cheapest in EUR" in out


def test_bad_tariff_and_site(ws: Path) -> None:
    (ws / "bad.toml").write_text("name = 1\n")
    code, out = run(ws, "whatif", "--period", "2025-03", "--tariff", str(ws / "bad.toml"))
    assert code == 1 and "bad.toml" in out
    code, out = run(ws, "whatif", "--period", "2025-03", "--tariff", str(SAMPLES / "fr-business.toml"),
                    "--site", "lyon")
    assert code == 1 and "lyon" in out


def test_threaded_batches_equal_one_batch(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(ws / "anatole.db")
    cols = open_queries(store.conn).whatif_columns(0, 2**40, ["paris"])
    store.close()
    rng = np.random.default_rng(1)
    n = 5000
    big = {"number": np.repeat(cols["number"], n // len(cols["number"]) + 1)[:n],
           "start": cols["start"][0] + rng.integers(0, 86400 * 30, n),
           "seconds": rng.integers(0, 3600, n).astype(np.int32)}
    c = compile_tariff(load_tariff(SAMPLES / "fr-business.toml"))
    keys = number_keys(big["number"])
    one = whatif.rate_all(c, keys, big["start"], big["seconds"], threads=1)
    monkeypatch.setattr(whatif, "BATCH", 97)
    many = whatif.rate_all(c, keys, big["start"], big["seconds"], threads=2)
    assert np.array_equal(one[0], many[0]) and np.array_equal(one[1], many[1])
    direct = c.tables.rate(big["number"], big["start"], big["seconds"])  # keys once = digits each time
    assert np.array_equal(one[0], direct["cost"]) and np.array_equal(one[1], direct["status"])


def test_the_destination_type_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from tariffs import classify

    monkeypatch.setattr(classify, "CACHE_MAX", 50)
    monkeypatch.setattr(classify, "_CLASS_CACHE", {})
    numbers = np.array([f"3361234{i:04d}".encode() for i in range(400)], dtype="S18")
    first = classify.destination_type(numbers, "FR")
    assert len(classify._CLASS_CACHE) <= 50
    assert list(classify.destination_type(numbers, "FR")) == list(first)  # classified again, the same
