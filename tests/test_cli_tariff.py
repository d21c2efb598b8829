"""`anatole tariff quote|check|show`: the worked examples of TARIFF-FORMAT.md, through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from serve_support import make_workspace

from anatole.cli import main
from engine.durations import format_duration, parse_duration

DATA = Path(__file__).parent / "data"
SAMPLES = Path(__file__).parent.parent / "tariffs" / "samples"


def quote(tariff: str, number: str, duration: int, start: str = "2026-11-26T10:00") -> dict:
    result = CliRunner().invoke(main, ["tariff", "quote", str(DATA / tariff), "--number", number,
                                       "--start", start, "--duration", str(duration), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize(("tariff", "number", "duration", "billed", "cost"), [
    ("worked-slot.toml", "33112345678", 45, 48, "0.0400"),  # 30/6 at 0.05/min
    ("worked-slot.toml", "33112345678", 20, 30, "0.0250"),
    ("worked-slot.toml", "33212345678", 120, 120, "0.7000"),  # connect 0.40, first minute 0.20, then 0.10/min
    ("worked-increments.toml", "33212345678", 120, 120, "0.7002"),  # 1 s increments of 0.00167
    ("worked-slot.toml", "33312345678", 50, 75, "0.7500"),  # 45/30, anchored at the slot
    ("worked-zero.toml", "33312345678", 50, 60, "0.6000"),  # 45/30, anchored at zero
    ("worked-zero.toml", "33112345678", 45, 48, "0.0400"),  # 30/6 is the same under both anchors
    ("worked-slot.toml", "33112345678", 0, 0, "0.0000"),  # not answered: 0, no connect fee
    ("worked-slot.toml", "33212345678", 0, 0, "0.0000"),
])
def test_worked_examples(tariff: str, number: str, duration: int, billed: int, cost: str) -> None:
    out = quote(tariff, number, duration)
    assert (out["billed_seconds"], out["cost"], out["currency"]) == (billed, cost, "EUR")


def test_split_at_band_change() -> None:
    """rating-semantics §7: 120 s from 07:59 on a weekday = 60 s off-peak + 60 s peak."""
    out = quote("bands-split.toml", "33123456789", 120, start="2026-11-26T07:59:00")
    assert out["cost"] == "0.1200"
    assert out["bands"] == ["offpeak", "peak"]
    assert [p["amount"] for p in out["parts"]] == ["0.02", "0.10"]


def test_format_example_loads_and_quotes() -> None:
    out = quote("format-example.toml", "+33 6 12 34 56 78", 61, start="2026-01-01T12:00")
    assert (out["destination"], out["band"], out["cost"]) == ("France Mobile", "new_year", "0.0000")
    out = quote("format-example.toml", "33612345678", 61, start="2026-11-26T12:00")
    assert (out["band"], out["prefix"], out["cost"]) == ("peak", "336", "0.1019")  # 61 x 0.00167 = 0.10187, up
    out = quote("format-example.toml", "33145678901", 61, start="2026-11-28T12:00")  # a Saturday
    assert (out["destination"], out["band"]) == ("France", "offpeak")


def test_quote_with_offset_and_utc() -> None:
    local = quote("bands-split.toml", "33123456789", 60, start="2026-11-26T07:59:30")
    utc = quote("bands-split.toml", "33123456789", 60, start="2026-11-26T06:59:30Z")
    assert local["start"] == utc["start"] == "2026-11-26T06:59:30Z"
    assert local["cost"] == utc["cost"]


def test_quote_text_output() -> None:
    result = CliRunner().invoke(main, ["tariff", "quote", str(DATA / "bands-split.toml"), "-n", "33123456789",
                                       "-s", "2026-11-26T07:59", "-d", "120"])
    assert result.exit_code == 0, result.output
    assert "offpeak → peak" in result.output
    assert "0.1200 EUR" in result.output


@pytest.mark.parametrize(("number", "message"), [
    ("4412345", "number 4412345 has no rate"),
    ("33-abc", "is not an E.164 number"),
])
def test_quote_refuses(number: str, message: str) -> None:
    result = CliRunner().invoke(main, ["tariff", "quote", str(DATA / "worked-slot.toml"), "-n", number, "-d", "10"])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_quote_bad_start() -> None:
    result = CliRunner().invoke(main, ["tariff", "quote", str(DATA / "worked-slot.toml"), "-n", "331", "-d", "10",
                                       "-s", "yesterday"])
    assert result.exit_code == 1
    assert "--start 'yesterday' is not an ISO 8601" in result.output
    for start in ("0001-01-01T00:00", "9999-12-31T23:00", "2100-01-01T00:00Z"):  # Python's years end, calls' too
        result = CliRunner().invoke(main, ["tariff", "quote", str(DATA / "worked-slot.toml"), "-n", "331", "-d", "10",
                                           "-s", start])
        assert result.exit_code == 1 and f"--start {start!r}: give a time in the years 1970 to 2099" in result.output


@pytest.mark.parametrize("typed", ["604801", "99999999999", "168h1s"])
def test_a_duration_past_a_week_is_refused(typed: str) -> None:
    result = CliRunner().invoke(main, ["tariff", "quote", str(DATA / "worked-slot.toml"), "-n", "33212345678",
                                       "-d", typed])
    assert result.exit_code == 2 and f"{typed!r}: a call lasts 0 to 604800 s" in result.output, result.output


def test_check_and_show_samples() -> None:
    tariffs = sorted(str(p) for p in SAMPLES.glob("*.toml"))
    assert len(tariffs) == 3
    result = CliRunner().invoke(main, ["tariff", "check", *tariffs, "--json"])
    assert result.exit_code == 0, result.output
    assert all(r["ok"] and r["rates"] > 100 for r in json.loads(result.output))
    result = CliRunner().invoke(main, ["tariff", "show", tariffs[0], "--search", "336", "--json"])
    shown = json.loads(result.output)
    assert shown["rates"] and all(r["prefix"].startswith("336") or "336".startswith(r["prefix"])
                                  for r in shown["rates"])


def test_check_reports_every_problem(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("prefix,destination,price,increment\n33,France,-1,60\n+44,UK,0.1,0\n")
    (tmp_path / "bad.toml").write_text('name = "bad"\ncurrency = "EUR"\ntimezone = "Europe/Paris"\n'
                                       'deck = "bad.csv"\n')
    result = CliRunner().invoke(main, ["tariff", "check", str(tmp_path / "bad.toml")])
    assert result.exit_code == 1
    assert "bad.csv:2: price: '-1' is negative" in result.output
    assert "bad.csv:3: prefix: '+44' must be digits only" in result.output
    assert "bad.csv:3: increment: 0 is out of range 1..86400" in result.output
    assert "Traceback" not in result.output


# --- numbers as dialled at a site, durations as typed -----------------------------------------------------------



@pytest.fixture(scope="module")
def site_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("site"), sources="")


def site_quote(ws: Path, *args: str) -> CliRunner:
    return CliRunner().invoke(main, ["-w", str(ws), "tariff", "quote", *args])


@pytest.mark.parametrize("dialled", ["0612345678", "90612345678", "0033612345678", "+33 6 12 34 56 78",
                                     "06 12 34 56 78"])
def test_quote_a_number_as_dialled_at_a_site(site_ws: Path, dialled: str) -> None:
    """`0612345678 60` at a French site is +33612345678 (the site's dial plan), with the site's tariff."""
    result = site_quote(site_ws, "--site", "paris", "-n", dialled, "-d", "60", "-s", "2026-11-26T10:00", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert (out["number"], out["site"], out["dialled"], out["duration"]) == ("33612345678", "paris", dialled, 60)
    assert out["status"] == "rated" and out["currency"] == "EUR"
    same = CliRunner().invoke(main, ["tariff", "quote", str(SAMPLES / "fr-business.toml"), "-n", "33612345678",
                                     "-d", "60", "-s", "2026-11-26T10:00", "--json"])
    assert json.loads(same.output)["cost"] == out["cost"]


def test_site_quote_text_and_refusals(site_ws: Path) -> None:
    result = site_quote(site_ws, "--site", "paris", "-n", "0612345678", "-d", "1m30s", "-s", "2026-11-26T10:00")
    assert result.exit_code == 0, result.output
    assert "0612345678 at paris = +33612345678" in result.output
    result = site_quote(site_ws, "--site", "lyon", "-n", "0612345678", "-d", "60")
    assert result.exit_code == 1 and "no site 'lyon'" in result.output and "paris" in result.output
    result = site_quote(site_ws, "--site", "paris", "-n", "2001", "-d", "60")  # an extension
    assert result.exit_code == 1 and "internal" in result.output
    result = CliRunner().invoke(main, ["tariff", "quote", "-n", "33612345678", "-d", "60"])
    assert result.exit_code == 1 and "--site" in result.output


@pytest.mark.parametrize(("typed", "seconds"), [
    ("90", 90), ("90s", 90), ("2m", 120), ("1m30s", 90), ("1h", 3600), ("1h2m3s", 3723), ("1:30", 90),
    ("1:02:03", 3723), ("0", 0), ("2M", 120),
])
def test_durations_on_the_command_line(typed: str, seconds: int) -> None:
    result = CliRunner().invoke(main, ["tariff", "quote", str(DATA / "worked-slot.toml"), "-n", "33212345678",
                                       "-s", "2026-11-26T10:00", "-d", typed, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["duration"] == seconds


@pytest.mark.parametrize("typed", ["", "abc", "1.5m", "-5", "2m1h", "1:60", "s", "90 s", "1h1h"])
def test_bad_durations_are_refused_clearly(typed: str) -> None:
    result = CliRunner().invoke(main, ["tariff", "quote", str(DATA / "worked-slot.toml"), "-n", "33212345678",
                                       "-d", typed])
    assert result.exit_code == 2
    assert "is not a duration" in result.output and "1m30s" in result.output


@given(st.integers(min_value=0, max_value=10 * 86400))
def test_duration_round_trip(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds
    assert parse_duration(str(seconds)) == seconds
    m, s = divmod(seconds, 60)
    assert parse_duration(f"{m}:{s:02d}") == seconds
    assert parse_duration(f"{seconds}s") == parse_duration(f"{seconds // 60}m{seconds % 60}s") == seconds


@given(st.text(alphabet="0123456789hms: .-x", max_size=8))
def test_duration_parser_never_crashes(text: str) -> None:
    try:
        assert parse_duration(text) >= 0
    except ValueError as exc:
        assert "is not a duration" in str(exc)
