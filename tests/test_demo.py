"""`anatole demo`: the workspace, the generated month of calls, its rating, the PBX files it writes, their import
into the store, the summary from the store and its rendering."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import sys
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import phonenumbers
import pytest
from click.testing import CliRunner
from rich.console import Console

from anatole import pbxfiles
from anatole.cli import main
from anatole.config import open_workspace
from anatole.demo import calls as demo
from engine import NO_RATE, RATED, STATUS_NAMES, UNANSWERED
from engine.money import parse_money
from ingest.cdr import detect
from ingest.dialplan import DialPlan
from store import display, open_store
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
    assert (sites["new-york"]["national_prefix"], sites["new-york"]["international_prefix"],
            sites["new-york"]["area_code"]) == ("1", "011", "212")
    site_keys = {"name", "country", "timezone", "outside_prefix", "national_prefix", "international_prefix",
                 "area_code", "extensions", "tariff"}
    assert all(set(s) == site_keys for s in conf["site"])
    assert {s["site"]: (s["name"], s["format"]) for s in conf["source"]} == {
        "paris": ("paris-ipo", "avaya-ipo"), "london": ("london-cucm", "cucm"),
        "new-york": ("new-york-asterisk", "asterisk")}
    assert all(set(s) <= {"name", "site", "format", "listen", "allow"} for s in conf["source"])
    assert all("allow" in s for s in conf["source"] if "listen" in s)  # a listener names who may connect
    loaded = open_workspace(ws)  # the file passes the workspace's own validation
    assert {n: s.dialplan.outside_prefix for n, s in loaded.sites.items()} == {"paris": "0", "london": "9",
                                                                                  "new-york": "9"}
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
    assert 15_000 <= len(b) <= 40_000  # the import path's speed sets the size (run_demo in a few seconds)
    assert b.number.dtype == np.dtype("S15") and b.start.dtype == np.int64 and b.duration.dtype == np.int32
    per_site = np.bincount(b.site, minlength=3)
    assert per_site[0] > per_site[1] > per_site[2] > 0  # Paris 80 people, London 48, New York 32
    for si, site in enumerate(demo.SITES):
        ext = b.extension[b.site == si]
        lo, hi = site.extension_range
        assert lo <= ext.min() and ext.max() <= hi
        assert 0.95 * site.people <= len(np.unique(ext)) <= site.people  # a rare caller may not call at all
        counts = np.sort(np.bincount(ext - lo))[::-1]
        assert counts[: site.people // 5].sum() > 0.4 * counts.sum()  # some people call far more
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
    # the total in the currency's decimals (half-even), grouped; the summary's JSON keeps it exact
    assert display.from_text(month["summary"]["cost"]["EUR"], "EUR", code=False) in text


# --- the PBX files and their import ---------------------------------------------------------------------------

FILES = {"paris": ("paris-ipo-2026-10.txt", "avaya-ipo", "paris-ipo"),
         "london": ("london-cucm-2026-10.csv", "cucm", "london-cucm"),
         "new-york": ("new-york-Master.csv", "asterisk", "new-york-asterisk")}


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`run_demo` with the `month` fixture's seed: PBX files written, imported into the store, summarised from it."""
    path = tmp_path_factory.mktemp("run") / "ws"
    summary = demo.run_demo(path, seed=7)
    ws = open_workspace(path)
    store = open_store(ws.db_path)
    try:
        rows = list(store.calls())
        stored, stored_rated, _ = demo.stored_batch(store, ws)
    finally:
        store.close()
    return {"path": path, "ws": ws, "summary": summary, "rows": rows, "stored": stored, "stored_rated": stored_rated}


def test_run_demo_writes_the_three_pbx_files(imported: dict) -> None:
    cdr = imported["path"] / "cdr"
    assert sorted(p.name for p in cdr.iterdir()) == sorted(f[0] for f in FILES.values())
    assert not (imported["path"] / "demo-calls.csv").exists()  # `anatole calls --csv` lists the stored calls
    # IP Office SMDR: CR LF, 34 fields, local YYYY/MM/DD start, Call IDs from 1000000
    ipo = (cdr / FILES["paris"][0]).read_bytes()
    assert ipo.endswith(b"\r\n") and ipo.count(b"\n") == ipo.count(b"\r\n") == ipo.count(b"\r")
    lines = ipo.decode().split("\r\n")[:-1]
    assert all(line.count(",") == 33 for line in lines)
    assert all(line[4] == "/" and line[10] == " " for line in lines)
    assert min(int(line.split(",")[9]) for line in lines) == 1_000_000
    # CUCM: quoted names, unquoted types, then 133-column end records
    cucm = (cdr / FILES["london"][0]).read_text().splitlines()
    names = cucm[0].split(",")
    assert len(names) == 133 and names[0] == '"cdrRecordType"' and cucm[1].startswith("INTEGER,INTEGER,")
    assert all(line.startswith("1,") for line in cucm[2:])
    # Asterisk Master.csv: 21 columns, outgoing calls dialled with the outside-line prefix 9

    with open(cdr / FILES["new-york"][0], newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert {len(r) for r in rows} == {21}
    assert {r[3] for r in rows} == {"from-internal", "from-trunk"}
    assert all(r[2].startswith("9") for r in rows if r[6].startswith("PJSIP/trunk-out-"))


@pytest.mark.parametrize("site", list(FILES))
def test_each_file_is_detected_and_imports_without_rejects(imported: dict, site: str) -> None:
    name, fmt, source = FILES[site]
    path = imported["path"] / "cdr" / name
    assert detect(path.read_bytes()[:64 * 1024])[0] == fmt
    result = next(r for r in imported["summary"]["imports"] if r["file"] == name)
    assert (result["format"], result["detected"], result["source"], result["site"]) == (fmt, True, source, site)
    assert result["read"] == result["calls"] + result["rejected"] + result["duplicates"]
    assert result["rejected"] == 0 and result["duplicates"] == 0 and result["calls"] > 1000
    assert result["skipped"] == (2 if fmt == "cucm" else 0)  # the CUCM header lines
    assert result["read"] + result["skipped"] == path.read_bytes().count(b"\n")  # one record per line


def test_importing_the_files_again_adds_nothing(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    summary = demo.run_demo(ws, seed=11, scale=0.1)
    stored = sum(r["calls"] for r in summary["imports"])
    result = CliRunner().invoke(main, ["--workspace", str(ws), "import", "cdr", str(ws / "cdr"), "--json"])
    assert result.exit_code == 0, result.output
    again = [json.loads(line) for line in result.output.splitlines()]
    assert sorted(r["format"] for r in again) == ["asterisk", "avaya-ipo", "cucm"]
    for r in again:
        assert r["detected"] and r["read"] > 0
        assert r["duplicates"] == r["read"] and r["calls"] == 0 and r["rejected"] == 0
    store = open_store(ws / "anatole.db")
    assert store.count("calls") == stored == sum(sum(t.values()) for t in summary["traffic"].values())
    store.close()
    # the demo again on its own workspace: a new store, the same result
    assert demo.run_demo(ws, seed=11, scale=0.1) == summary


def test_stored_costs_are_the_engines_rating_of_the_generated_calls(imported: dict, month: dict) -> None:
    """The dial plan round-trips (the stored number is the generated E.164) and each stored outgoing call is rated
    as the engine rates the generated call."""
    b, rated = month["batch"], month["rated"]
    sb, sr = imported["stored"], imported["stored_rated"]
    assert sb.sites == b.sites and len(sb) == len(b)
    i = np.lexsort((b.duration, b.number, b.extension, b.start, b.site))
    j = np.lexsort((sb.duration, sb.number, sb.extension, sb.start, sb.site))
    for name in ("site", "extension", "number", "start", "duration"):
        assert np.array_equal(getattr(b, name)[i], getattr(sb, name)[j]), name
    assert np.array_equal(rated.status[i], sr.status[j])
    assert np.array_equal(rated.cost[i], sr.cost[j])
    ok = rated.status[i] == RATED
    assert ok.sum() > 0.8 * len(b)
    assert np.array_equal(rated.billed[i][ok], sr.billed[j][ok])
    assert np.array_equal(rated.destination[i][ok], sr.destination[j][ok])
    assert sr.currency == rated.currency and sr.decimals == rated.decimals
    # the digits in the store are those a user dialled: outside-line prefix first
    sites = {s.name: s for s in demo.SITES}
    for row in imported["rows"]:
        if row["direction"] == "outgoing":
            site = sites[row["site"]]
            assert row["dialled"] == pbxfiles.dialled_number(row["number"], site), row
            assert row["number_kind"] == "external"


def test_directions_of_the_stored_calls(imported: dict, month: dict) -> None:
    rows = imported["rows"]
    for si, site in enumerate(demo.SITES):
        calls = demo.pbx_calls(month["batch"], si, 7)
        mine = [r for r in rows if r["site"] == site.name]
        assert {r["source"] for r in mine} == {FILES[site.name][2]}
        by_dir: dict[str, list[dict]] = {}
        for r in mine:
            by_dir.setdefault(r["direction"], []).append(r)
        assert set(by_dir) == {"outgoing", "incoming", "internal"}
        out, inc, internal = (calls.direction == k for k in (pbxfiles.OUTGOING, pbxfiles.INCOMING,
                                                              pbxfiles.INTERNAL))
        assert len(by_dir["outgoing"]) == out.sum() == (month["batch"].site == si).sum()
        # incoming: the caller's number in E.164; a transferred call is two legs (IPO, CUCM) or one (Asterisk)
        transferred = calls.transfer > 0
        two_legs = FILES[site.name][1] != "asterisk"
        callers = Counter(calls.other[inc].astype(str).tolist())
        answerers = Counter(calls.extension[inc].astype(str).tolist())
        if two_legs:
            callers.update(calls.other[transferred].astype(str).tolist())
            answerers.update(calls.transfer[transferred].astype(str).tolist())
        assert Counter(r["number"] for r in by_dir["incoming"]) == callers
        assert Counter(r["extension"] for r in by_dir["incoming"]) == answerers
        assert {r["status"] for r in by_dir["incoming"]} == {"incoming"}
        if two_legs:
            groups = Counter(r["grp"] for r in by_dir["incoming"])
            assert sum(1 for n in groups.values() if n == 2) == transferred.sum() > 0
        # internal: extension to extension, never priced
        assert Counter((r["extension"], r["dialled"]) for r in by_dir["internal"]) == Counter(
            zip(calls.extension[internal].astype(str).tolist(), calls.other[internal].astype(str).tolist()))
        assert {(r["status"], r["number_kind"], r["cost"]) for r in by_dir["internal"]} == {
            ("internal", "internal", None)}
        assert {r["status"] for r in by_dir["outgoing"]} == {"rated", "no_rate", "unanswered"}
        # answered or not as generated; talk time as generated
        assert sum(r["billable"] for r in by_dir["incoming"]) == int(
            calls.talk[inc].sum() + calls.transfer_talk[inc].sum())
        assert sum(r["disposition"] == "answered" for r in by_dir["outgoing"]) == int(
            (calls.talk[out] > 0).sum())


def test_summary_from_the_store_adds_up(imported: dict, month: dict) -> None:
    summary = imported["summary"]
    assert json.loads(json.dumps(summary)) == summary
    assert set(summary) - set(month["summary"]) == {"workspace", "seed", "traffic", "imports", "invoices",
                                                    "inventory", "allocation", "mobile"}
    # the store's summary is the in-memory one: same calls, costs, types, unrated calls and top destinations
    assert {k: v for k, v in summary.items() if k in month["summary"]} == month["summary"]
    traffic = summary["traffic"]
    assert list(traffic) == list(demo.SITE_NAMES)
    assert [traffic[s["name"]]["outgoing"] for s in summary["sites"]] == [s["calls"] for s in summary["sites"]]
    assert sum(t["outgoing"] for t in traffic.values()) == summary["calls"]
    assert sum(sum(t.values()) for t in traffic.values()) == len(imported["rows"]) == sum(
        r["calls"] for r in summary["imports"])
    costs: Counter = Counter()
    for r in imported["rows"]:
        if r["direction"] == "outgoing" and r["cost"] is not None:
            costs[r["currency"]] += r["cost"]
    assert dict(costs) == {c: parse_money(v) for c, v in summary["cost"].items()}


def test_render_with_the_imports_fits_80_columns(imported: dict) -> None:
    out = io.StringIO()
    demo.render_summary(imported["summary"], Console(file=out, width=80, force_terminal=False, color_system=None))
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "Imported from the PBX files" in text and "incoming" in text
    for name, fmt, _ in FILES.values():
        assert name in text and fmt in text
    assert "calls --csv" in " ".join(text.split())  # the path may wrap the line


# --- pbxfiles -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("site", "number", "dialled", "sent", "cli"), [
    ("paris", "33142345678", "00142345678", "0142345678", "0142345678"),
    ("paris", "33612345678", "00612345678", "0612345678", "0612345678"),
    ("paris", "442079460000", "000442079460000", "00442079460000", "00442079460000"),
    ("paris", "8713123456789", "0008713123456789", "008713123456789", "008713123456789"),
    ("london", "442079460000", "902079460000", "02079460000", "02079460000"),
    ("london", "33142345678", "90033142345678", "0033142345678", "0033142345678"),
    ("new-york", "12125551234", "95551234", "5551234", "2125551234"),  # area code 212: dialled as a local number
    ("new-york", "16465551234", "916465551234", "16465551234", "6465551234"),
    ("new-york", "18765551234", "918765551234", "18765551234", "8765551234"),  # Jamaica is NANP
    ("new-york", "442079460000", "9011442079460000", "011442079460000", "011442079460000"),
])
def test_numbers_as_the_pbx_records_them_round_trip(site: str, number: str, dialled: str, sent: str,
                                                    cli: str) -> None:
    s = next(x for x in demo.SITES if x.name == site)
    assert (pbxfiles.dialled_number(number, s), pbxfiles.sent_number(number, s), pbxfiles.caller_id(number, s)) == (
        dialled, sent, cli)
    lo, hi = s.extension_range
    plan = DialPlan(s.country, s.outside_prefix, s.national_prefix, s.international_prefix, s.area_code,
                    [(str(lo), str(hi))])
    assert plan.normalise(dialled, as_dialled=True).e164 == number
    assert plan.normalise(sent, as_dialled=False).e164 == number
    assert plan.normalise(cli, as_dialled=False).e164 == number


@pytest.fixture(scope="module")
def small() -> dict:
    batch = demo.generate_calls(3, scale=0.05)
    return {si: demo.pbx_calls(batch, si, 3) for si in range(len(demo.SITES))}


@pytest.mark.parametrize(("si", "writer"), [(0, pbxfiles.write_ipo_smdr), (1, pbxfiles.write_cucm),
                                            (2, pbxfiles.write_asterisk_csv)])
def test_writers_are_deterministic(tmp_path: Path, small: dict, si: int, writer) -> None:
    site = demo.SITES[si]
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert writer(a, small[si], site) == writer(b, small[si], site) > 0
    assert a.read_bytes() == b.read_bytes()
    other = demo.pbx_calls(demo.generate_calls(3, scale=0.05), si, 4)  # same calls, another seed for the ids
    writer(c, other, site)
    assert c.read_bytes() != a.read_bytes()


def test_ipo_lines(tmp_path: Path, small: dict) -> None:
    calls, site = small[0], demo.SITES[0]
    pbxfiles.write_ipo_smdr(tmp_path / "smdr.txt", calls, site)
    fields = [line.split(",") for line in (tmp_path / "smdr.txt").read_bytes().decode().split("\r\n")[:-1]]
    assert len(fields) == len(calls) + int((calls.transfer > 0).sum())
    by_id: dict[str, list[list[str]]] = {}
    for f in fields:
        by_id.setdefault(f[9], []).append(f)
    assert sorted(int(k) for k in by_id) == list(range(1_000_000, 1_000_000 + len(calls)))
    two = [segs for segs in by_id.values() if len(segs) == 2]
    assert len(two) == int((calls.transfer > 0).sum()) > 0
    for first, second in two:  # a transfer: the same start and Call ID, continuation 1 then 0
        assert first[0] == second[0] and (first[10], second[10]) == ("1", "0") and first[4] == second[4] == "I"
        assert first[11] != second[11] and first[13] == second[13] == "T9001"
    out = [f for f in fields if f[4] == "O" and f[8] == "0"]
    assert all(f[6] == "0" + f[5] and f[11] == "E" + f[3] and f[13] == "T9001" for f in out)
    assert any(f[7] for f in out) and all(f[7] in ("", *demo.ACCOUNT_CODES) for f in out)
    internal = [f for f in fields if f[8] == "1"]
    assert internal and all(f[4] == "O" and f[13] == "E" + f[5] for f in internal)
    zone = ZoneInfo(site.timezone)
    first = min(dt.datetime.strptime(f[0], "%Y/%m/%d %H:%M:%S").replace(tzinfo=zone).timestamp() for f in fields)
    assert first == calls.start.min()


def test_cucm_columns_and_records(tmp_path: Path, small: dict) -> None:

    calls, site = small[1], demo.SITES[1]
    pbxfiles.write_cucm(tmp_path / "cdr.csv", calls, site)
    with open(tmp_path / "cdr.csv", newline="") as f:
        rows = list(csv.reader(f))
    names = rows[0]
    # the key positions of cdr-formats.md section 3
    for pos, name in {0: "cdrRecordType", 1: "globalCallID_callManagerId", 2: "globalCallID_callId",
                      3: "origLegCallIdentifier", 4: "dateTimeOrigination", 7: "origIpAddr", 8: "callingPartyNumber",
                      11: "origCause_value", 25: "destLegIdentifier", 28: "destIpAddr",
                      29: "originalCalledPartyNumber", 30: "finalCalledPartyNumber", 33: "destCause_value",
                      47: "dateTimeConnect", 48: "dateTimeDisconnect", 49: "lastRedirectDn", 50: "pkid",
                      55: "duration", 56: "origDeviceName", 57: "destDeviceName", 65: "globalCallId_ClusterID",
                      68: "authCodeDescription", 69: "authorizationLevel", 70: "clientMatterCode",
                      77: "authorizationCodeValue", 79: "outpulsedCalledPartyNumber", 80: "origIpv4v6Addr"}.items():
        assert names[pos] == name
    assert len(set(n.lower() for n in names)) == 133
    assert rows[1][50] == "UNIQUEIDENTIFIER" and rows[1][8] == "VARCHAR(50)" and rows[1][4] == "INTEGER"
    data = [dict(zip(names, r)) for r in rows[2:]]
    assert len(data) == len(calls) + int((calls.transfer > 0).sum())
    assert len({r["pkid"] for r in data}) == len(data)
    out = [r for r in data if r["destDeviceName"] == pbxfiles.CUCM_TRUNK]
    assert len(out) == int((calls.direction == pbxfiles.OUTGOING).sum())
    for r in out:
        assert r["origDeviceName"].startswith("SEP") and len(r["origDeviceName"]) == 15
        assert r["originalCalledPartyNumber"] == r["finalCalledPartyNumber"] == "9" + r["outpulsedCalledPartyNumber"]
        connect, talk = int(r["dateTimeConnect"]), int(r["duration"])
        assert (connect == 0) == (talk == 0)
        assert r["destCause_value"] in (("16",) if connect else ("17", "19"))
        start, end = int(r["dateTimeOrigination"]), int(r["dateTimeDisconnect"])
        assert end == connect + talk if connect else start < end < start + 60  # rang, then gave up
    assert {int(r["dateTimeOrigination"]) for r in out} <= set(calls.start.tolist())
    assert sorted(int(r["duration"]) for r in out) == sorted(calls.talk[calls.direction == pbxfiles.OUTGOING])


def test_asterisk_unanswered_calls(tmp_path: Path, small: dict) -> None:
    calls, site = small[2], demo.SITES[2]
    pbxfiles.write_asterisk_csv(tmp_path / "Master.csv", calls, site)
    lines = (tmp_path / "Master.csv").read_text().splitlines()
    assert len(lines) == len(calls)
    unanswered = [line for line in lines if '"ANSWERED"' not in line]
    assert len(unanswered) == int((calls.outcome != pbxfiles.ANSWERED).sum()) > 0
    for line in unanswered:
        assert re.search(r'",,"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d",\d+,0,"(NO ANSWER|BUSY)","DOCUMENTATION",', line), line
    assert all(re.search(r',"(\d+\.\d+)","","","\1",\d+$', line) for line in lines)  # uniqueid = linkedid


def test_demo_command_plain_or_hotel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`anatole demo` makes the company as before; `--hotel` the hotel instead; --workspace after the command."""
    made: list[tuple[str, Path]] = []

    def fake(kind: str):
        def run(path: Path, seed: int = 7, **_: object) -> dict:
            made.append((kind, Path(path)))
            raise demo.DemoError(f"{kind} stops here")
        return run

    monkeypatch.setattr("anatole.demo.run_demo", fake("company"))
    monkeypatch.setattr("anatole.demo.hotel.run_hotel_demo", fake("hotel"))
    for args in (["demo", "-w", str(tmp_path / "a")], ["demo", "--hotel", "--workspace", str(tmp_path / "b")]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1 and "stops here" in result.output
    assert made == [("company", tmp_path / "a"), ("hotel", tmp_path / "b")]
