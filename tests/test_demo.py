"""`anatole demo`: the workspace, the generated month of calls, its rating, summary, CSV and rendering."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sys
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import phonenumbers
import pytest
from rich.console import Console

from anatole import demo
from engine import NO_RATE, RATED, STATUS_NAMES, UNANSWERED
from engine.money import parse_money
from tariffs.classify import DEST_TYPES, destination_type
from tariffs.compile import compile_tariff
from tariffs.load import load_tariff

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One full-size demo month, rated, classified and summarised (shared: generating it takes a second)."""
    ws = demo.create_workspace(tmp_path_factory.mktemp("demo") / "ws")
    batch = demo.generate_calls(7)
    rated = demo.rate_calls(ws, batch)
    types = demo.call_types(batch, rated)
    return {"ws": ws, "batch": batch, "rated": rated, "types": types,
            "summary": demo.summarise(batch, rated, types)}


# --- the workspace ------------------------------------------------------------------------------------------


def test_workspace_files_and_tariffs_load(tmp_path: Path) -> None:
    ws = demo.create_workspace(tmp_path / "ws")
    assert (ws / "anatole.toml").read_text(encoding="utf-8").startswith(demo.MARKER)
    conf = tomllib.loads((ws / "anatole.toml").read_text(encoding="utf-8"))
    assert conf["workspace"] == {"currency": "EUR"}
    sites = {s["name"]: s for s in conf["site"]}
    assert list(sites) == ["paris", "london", "new-york"]
    assert sites["paris"] == {
        "name": "paris", "country": "FR", "timezone": "Europe/Paris", "outside_prefix": "0",
        "national_prefix": "0", "international_prefix": "00", "area_code": "", "extensions": ["1000-1999"],
        "tariff": "tariffs/fr-business.toml"}
    assert (sites["london"]["country"], sites["london"]["outside_prefix"], sites["london"]["extensions"]) == \
        ("GB", "9", ["2000-2999"])
    assert (sites["new-york"]["national_prefix"], sites["new-york"]["international_prefix"]) == ("1", "011")
    site_keys = {"name", "country", "timezone", "outside_prefix", "national_prefix", "international_prefix",
                 "area_code", "extensions", "tariff"}
    source_keys = {"name", "site", "format", "listen", "connect", "username", "password"}
    assert all(set(s) == site_keys for s in conf["site"])
    assert {s["site"] for s in conf["source"]} == set(sites)
    assert all(set(s) <= source_keys and ("listen" in s) != ("connect" in s) for s in conf["source"])
    assert conf["alert"] and all(set(a) == {"name", "when", "notify"} for a in conf["alert"])
    currencies = {}
    for s in conf["site"]:
        tariff = load_tariff(ws / s["tariff"])
        assert compile_tariff(tariff).prefixes
        currencies[s["name"]] = tariff.currency
    assert currencies == {"paris": "EUR", "london": "GBP", "new-york": "USD"}
    assert sorted(p.name for p in (ws / "tariffs").iterdir()) == sorted(
        f"{stem}{ext}" for stem in ("fr-business", "uk-business", "us-business") for ext in (".csv", ".toml"))


def test_previous_demo_workspace_is_overwritten(tmp_path: Path) -> None:
    ws = demo.create_workspace(tmp_path / "ws")
    (ws / "anatole.toml").write_text((ws / "anatole.toml").read_text() + "\n# my edit\n", encoding="utf-8")
    (ws / "tariffs" / "fr-business.csv").write_text("broken", encoding="utf-8")
    (ws / "notes.txt").write_text("kept", encoding="utf-8")
    demo.create_workspace(ws)
    assert "# my edit" not in (ws / "anatole.toml").read_text()
    load_tariff(ws / "tariffs" / "fr-business.toml")
    assert (ws / "notes.txt").read_text() == "kept"
    demo.create_workspace(tmp_path / "empty-already")  # a new folder
    (tmp_path / "empty").mkdir()
    demo.create_workspace(tmp_path / "empty")  # an empty one


def test_non_empty_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "report.xlsx").write_bytes(b"data")
    with pytest.raises(demo.DemoError, match="not empty and is not an anatole demo workspace"):
        demo.create_workspace(tmp_path / "mine")
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["report.xlsx"]
    # a real workspace (anatole.toml without the marker) is not a demo one
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "anatole.toml").write_text('[workspace]\ncurrency = "EUR"\n', encoding="utf-8")
    with pytest.raises(demo.DemoError):
        demo.run_demo(tmp_path / "real")
    assert (tmp_path / "real" / "anatole.toml").read_text() == '[workspace]\ncurrency = "EUR"\n'
    (tmp_path / "file").write_text("x")
    with pytest.raises(demo.DemoError, match="not a folder"):
        demo.create_workspace(tmp_path / "file")


# --- the calls ----------------------------------------------------------------------------------------------


def test_deterministic_for_a_seed() -> None:
    a, b, c = demo.generate_calls(3, scale=0.2), demo.generate_calls(3, scale=0.2), demo.generate_calls(4, scale=0.2)
    for name in ("site", "extension", "number", "start", "duration"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert len(a) != len(c) or not np.array_equal(a.number, c.number)


def test_volume_shape_and_types(month: dict) -> None:
    b: demo.CallBatch = month["batch"]
    assert 60_000 <= len(b) <= 120_000
    assert b.number.dtype == np.dtype("S15") and b.start.dtype == np.int64 and b.duration.dtype == np.int32
    per_site = np.bincount(b.site, minlength=3)
    assert per_site[0] > per_site[1] > per_site[2] > 0  # Paris 250 people, London 150, New York 100
    for si, site in enumerate(demo.SITES):
        ext = b.extension[b.site == si]
        lo, hi = site.extension_range
        assert lo <= ext.min() and ext.max() <= hi
        assert 0.95 * site.people <= len(np.unique(ext)) <= site.people  # a rare caller may not call at all
        counts = np.sort(np.bincount(ext - lo))[::-1]
        assert counts[: site.people // 10].sum() > 0.25 * counts.sum()  # some people call far more
    first = int(dt.datetime(2026, 10, 1, tzinfo=ZoneInfo("Pacific/Kiritimati")).timestamp())
    last = int(dt.datetime(2026, 11, 1, tzinfo=ZoneInfo("Pacific/Honolulu")).timestamp())
    assert first <= b.start.min() and b.start.max() < last
    assert np.all(np.diff(b.start) >= 0)
    unanswered = (b.duration == 0).mean()
    assert 0.12 <= unanswered <= 0.22
    talk = b.duration[b.duration > 0]
    assert 60 <= np.median(talk) <= 130 and talk.max() > 3600 and talk.max() <= 7200


def test_business_hours_in_local_time(month: dict) -> None:
    b: demo.CallBatch = month["batch"]
    for si, site in enumerate(demo.SITES):
        zone = ZoneInfo(site.timezone)
        local = [dt.datetime.fromtimestamp(int(t), zone) for t in b.start[b.site == si][::7]]
        office = sum(1 for t in local if t.weekday() < 5 and 8 <= t.hour < 19) / len(local)
        weekend = sum(1 for t in local if t.weekday() >= 5) / len(local)
        lunch = Counter(t.hour for t in local if t.weekday() < 5)
        assert office > 0.9 and 0.003 < weekend < 0.06
        assert lunch[min(site.lunch)] < 0.7 * lunch[10]


def test_destination_mix(month: dict) -> None:
    b, types = month["batch"], month["types"]
    europe = b.site != 2  # NANP mobiles are FIXED_LINE_OR_MOBILE: New York's mobiles count as national
    share = {t: float((types[europe] == t).mean()) for t in DEST_TYPES}
    assert 0.38 <= share["local/national"] <= 0.60
    assert 0.22 <= share["mobile"] <= 0.40
    assert 0.10 <= share["international"] <= 0.22
    assert 0.015 <= share["toll-free"] <= 0.05
    assert 0.003 <= share["premium"] <= 0.02
    everywhere = {t: float((types == t).mean()) for t in DEST_TYPES}
    assert 0.0003 <= everywhere["high-risk"] <= 0.005
    assert 0.002 <= everywhere["unrated"] <= 0.01
    assert 0.10 <= everywhere["international"] <= 0.22


def test_numbers_are_possible(month: dict) -> None:
    b, rated = month["batch"], month["rated"]
    rng = np.random.default_rng(0)
    # numbers that some tariff row matches (the unmatched ones include retired calling codes)
    sample = rng.choice(np.flatnonzero(rated.prefix_matched), 800, replace=False)
    regions: Counter = Counter()
    valid = 0
    for i in sample:
        digits = b.number[i].decode()
        number = phonenumbers.parse("+" + digits)
        assert phonenumbers.is_possible_number(number), digits
        regions[phonenumbers.region_code_for_number(number)] += 1
        valid += phonenumbers.is_valid_number(number)
    assert valid >= 0.98 * len(sample)  # not only the right length: real ranges
    assert {"FR", "GB", "US"} <= set(regions) and len(regions) >= 10
    # unrated calls go to ranges the sample tariffs do not list, some of them still possible numbers
    unrated = np.unique(b.number[~rated.prefix_matched])
    assert any(phonenumbers.is_possible_number(phonenumbers.parse("+" + u.decode()))
               for u in unrated if u.startswith((b"33", b"44")))


# --- classification -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("country", "number", "expected"), [
    ("FR", "33612345678", "mobile"),
    ("FR", "33142345678", "local/national"),
    ("FR", "33912345678", "local/national"),  # 09: VoIP, charged as national
    ("FR", "33800123456", "toll-free"),
    ("FR", "33891123456", "premium"),
    ("FR", "33810123456", "premium"),  # shared cost
    ("FR", "4930123456", "international"),
    ("FR", "447400123456", "international"),
    ("GB", "447400123456", "mobile"),
    ("GB", "442079460000", "local/national"),
    ("GB", "448001234567", "toll-free"),
    ("GB", "449012345678", "premium"),
    ("GB", "441534123456", "local/national"),  # Jersey: a Crown dependency, +44
    ("US", "12127363100", "local/national"),
    ("US", "18002345678", "toll-free"),
    ("US", "19002345678", "premium"),
    ("US", "15062345678", "international"),  # Canada shares +1
    ("US", "18765551234", "high-risk"),  # Jamaica looks domestic
    ("FR", "18765551234", "high-risk"),
    ("GB", "881612345678", "high-risk"),  # Iridium
    ("GB", "5351234567", "high-risk"),  # Cuba
    ("FR", "886212345678", "international"),  # Taiwan is not satellite
    ("US", "8713123456789", "high-risk"),  # retired Inmarsat code
    ("US", "2891234567", "international"),  # unassigned calling code
])
def test_destination_type(country: str, number: str, expected: str) -> None:
    assert destination_type([number], country).tolist() == [expected]


def test_destination_type_unrated_and_repeats() -> None:
    numbers = np.array([b"33612345678", b"33806123456", b"33612345678"], dtype="S15")
    status = np.array([RATED, NO_RATE, UNANSWERED], dtype=np.int8)
    assert destination_type(numbers, "FR", status).tolist() == ["mobile", "unrated", "mobile"]


def test_every_call_is_rated_no_rate_or_unanswered(month: dict) -> None:
    b, rated, summary = month["batch"], month["rated"], month["summary"]
    counts = {name: int((rated.status == i).sum()) for i, name in enumerate(STATUS_NAMES)}
    assert counts["invalid"] == 0 and -1 not in rated.status
    assert counts["rated"] + counts["no_rate"] + counts["unanswered"] == len(b) == summary["calls"]
    assert summary["status"] == counts
    assert np.array_equal(rated.status == UNANSWERED, b.duration == 0)
    assert np.all(rated.cost[rated.status != RATED] == 0)
    assert np.all(rated.cost[rated.status == RATED] >= 0)
    assert 0 < counts["no_rate"] < 0.01 * len(b)
    assert summary["unrated"]["calls"] == counts["no_rate"]
    assert sum(r["calls"] for r in summary["unrated"]["reasons"]) == counts["no_rate"]
    assert np.all(rated.destination[rated.status == RATED] != "")
    assert rated.currency == ("EUR", "GBP", "USD")


def test_summary_costs_are_the_sums_of_the_calls(month: dict) -> None:
    b, rated, summary = month["batch"], month["rated"], month["summary"]
    json.dumps(summary)  # JSON-serialisable
    totals = {}
    for si, site in enumerate(summary["sites"]):
        exact = sum(rated.cost[b.site == si].tolist())
        assert exact > 0
        assert parse_money(site["cost"]) == exact
        assert site["calls"] == int((b.site == si).sum())
        totals[site["currency"]] = exact
    assert {c: parse_money(v) for c, v in summary["cost"].items()} == totals
    for cur, total in totals.items():
        assert sum(parse_money(t["cost"][cur]) for t in summary["by_type"]) == total
    assert sum(t["calls"] for t in summary["by_type"]) == len(b)
    assert sum(t["answered"] for t in summary["by_type"]) == summary["answered"] == int((b.duration > 0).sum())
    top = summary["top_destinations"]
    assert len(top) == 5
    for d in top:
        si = demo.SITE_NAMES.index(d["site"])
        mask = (b.site == si) & (rated.destination == d["destination"]) & (rated.status == RATED)
        assert parse_money(d["cost"]) == sum(rated.cost[mask].tolist())
        assert d["calls"] == int(mask.sum())


def test_render_fits_80_columns(month: dict) -> None:
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=False, color_system=None)
    demo.render_summary(month["summary"], console)
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    for heading in ("By site", "By destination type", "Unrated", "Top destinations by cost", "paris (FR)"):
        assert heading in text
    assert month["summary"]["cost"]["EUR"] in text.replace(",", "")  # the total, exact


def test_run_demo_writes_one_csv_row_per_call(tmp_path: Path, month: dict) -> None:
    summary = demo.run_demo(tmp_path / "ws", seed=7)
    assert json.loads(json.dumps(summary)) == summary
    # the same month as the fixture's, piece by piece
    assert {k: v for k, v in summary.items() if k not in ("workspace", "calls_csv", "seed")} == month["summary"]
    with open(tmp_path / "ws" / "demo-calls.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == summary["calls"]
    assert list(rows[0]) == ["site", "extension", "number", "start", "duration", "status", "destination",
                             "billed", "cost", "currency", "type"]
    b, rated = month["batch"], month["rated"]
    for i in (0, len(rows) // 2, len(rows) - 1):
        r = rows[i]
        assert r["number"] == b.number[i].decode() and int(r["duration"]) == b.duration[i]
        start = dt.datetime.strptime(r["start"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
        assert int(start.timestamp()) == b.start[i]
        assert parse_money(r["cost"]) == rated.cost[i] and r["status"] == STATUS_NAMES[rated.status[i]]
    by_currency: Counter = Counter()
    for r in rows:
        by_currency[r["currency"]] += parse_money(r["cost"])
    assert dict(by_currency) == {c: parse_money(v) for c, v in summary["cost"].items()}
    assert Counter(r["status"] for r in rows) == Counter({k: v for k, v in summary["status"].items() if v})
