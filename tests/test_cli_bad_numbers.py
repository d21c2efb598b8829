"""Ids and counts past SQLite's 64-bit integers, and negative counts, are messages (exit 1 or click's 2), never an
OverflowError or a "datatype mismatch" traceback; a negative --limit no longer lists everything."""

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
