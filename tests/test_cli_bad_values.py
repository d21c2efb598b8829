"""Ids and counts past SQLite's 64-bit integers, negative counts and filters that cannot match are messages (exit 1,
or click's 2), never an OverflowError or a "datatype mismatch" traceback, nor an empty list that looks like no data;
a negative --limit no longer lists everything."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from anatole.cli import main

HUGE = str(10**23)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    (tmp_path / "anatole.toml").write_text('[workspace]\ncurrency = "EUR"\n')
    return tmp_path


@pytest.mark.parametrize("args", [["invoice", "show", HUGE], ["imports", "explain", HUGE], ["alerts", "--ack", HUGE],
                                  ["reconcile", HUGE]])
def test_an_id_too_large_is_a_message(ws: Path, args: list[str]) -> None:
    result = CliRunner().invoke(main, ["--workspace", str(ws), *args])
    assert result.exit_code == 1, (result.output, result.exception)
    assert "a number given is too large (at most 9223372036854775807)" in result.output


@pytest.mark.parametrize("command", [["calls"], ["rejects"], ["imports", "list"], ["alerts"], ["inventory", "history"],
                                     ["hotel", "postings"]])
@pytest.mark.parametrize("limit", [HUGE, "-5"])
def test_a_limit_out_of_range_is_refused(ws: Path, command: list[str], limit: str) -> None:
    result = CliRunner().invoke(main, ["--workspace", str(ws), *command, "--limit", limit])
    assert result.exit_code == 2 and "Invalid value for '--limit'" in result.output, (result.output, result.exception)


def test_filters_that_can_match_nothing_are_said(ws: Path) -> None:
    """An unknown --status or --site, or --from not before --to, is a message: before, each listed nothing and
    exited 0, as if there were no such calls (and `rate` said "re-rated 0")."""
    base = ["--workspace", str(ws)]
    cases = [(["calls", "--status", "bogus"], "--status 'bogus' is not one of: rated, no_rate"),
             (["calls", "--site", "nowhere"], "no site 'nowhere' in"),
             (["calls", "--from", "2026-02-01", "--to", "2026-01-01"], "--from 2026-02-01 is not before --to"),
             (["rate", "--site", "nowhere"], "no [[site]] named 'nowhere'"),
             (["rate", "--from", "2026-02-01", "--to", "2026-02-01"], "is not before --to 2026-02-01")]
    for args, said in cases:
        result = CliRunner().invoke(main, [*base, *args])
        assert result.exit_code == 1 and said in result.output, (args, result.output, result.exception)
    assert CliRunner().invoke(main, [*base, "calls", "--status", "rated"]).exit_code == 0


@pytest.mark.parametrize("what", ["cdr", "invoice"])
def test_importing_an_empty_folder_is_said(ws: Path, what: str) -> None:
    (ws / "empty").mkdir()
    result = CliRunner().invoke(main, ["--workspace", str(ws), "import", what, str(ws / "empty")])
    assert result.exit_code == 1 and f"{ws / 'empty'}: no files in this folder" in result.output, result.output
