"""Progress of long commands (`batch-rate`, `import cdr`, `rate`, `whatif`): a rich bar with rows, rows/s and ETA
on a terminal, nothing when stderr is piped or with --json. The terminal is a rich Console(force_terminal=True)
writing into a buffer, put in place of clitools.progress_console."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from anatole import clitools
from anatole.cli import main

DATA = Path(__file__).parent / "data" / "cdr"
SAMPLES = Path(__file__).parent.parent / "tariffs" / "samples"
CONFIG = ('[[site]]\nname = "paris"\ncountry = "FR"\ntimezone = "Europe/Paris"\noutside_prefix = ""\n'
          'extensions = ["2000-2999"]\ntariff = "tariffs/fr-business.toml"\n\n'
          '[[source]]\nname = "pbx"\nsite = "paris"\nformat = "asterisk"\n')


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """What a terminal would show on stderr."""
    screen = io.StringIO()
    monkeypatch.setattr(clitools, "progress_console",
                        lambda: Console(file=screen, force_terminal=True, width=120, color_system=None))
    return screen


def workspace(root: Path) -> Path:
    (root / "tariffs").mkdir(parents=True)
    for ext in (".toml", ".csv"):
        shutil.copy(SAMPLES / f"fr-business{ext}", root / "tariffs" / f"fr-business{ext}")
    (root / "anatole.toml").write_text(CONFIG)
    return root


def test_the_helper_is_quiet_unless_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(clitools, "progress_console", lambda: Console(file=screen))  # a file: not a terminal
    asked = []
    with clitools.progress("work", lambda: asked.append(1) or 10) as update:
        update(5, rows=5)
    assert screen.getvalue() == "" and asked == []  # not even the total is counted


def test_the_helper_shows_rows_rate_and_eta_on_a_terminal(terminal: io.StringIO) -> None:
    with clitools.progress("rating", 1000) as update:
        update(400, rows=12345)
    shown = terminal.getvalue()
    assert "rating" in shown and "12,345 rows" in shown and "rows/s" in shown and "40%" in shown
    terminal.truncate(0)
    with clitools.progress("rating", 1000, quiet=True) as update:  # --json
        update(400, rows=1)
    assert terminal.getvalue() == ""


def test_batch_rate_shows_progress_on_a_terminal_only(tmp_path: Path, terminal: io.StringIO) -> None:
    args = ["batch-rate", str(DATA / "asterisk-master.csv"), "--tariff", str(SAMPLES / "fr-business.toml"),
            "--format", "asterisk", "--timezone", "Europe/Paris", "--out", str(tmp_path / "out.csv")]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    read = json.loads(result.output)["read"]
    assert terminal.getvalue() == "" and read > 0  # --json: quiet, stdout is JSON
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "batch-rate" in terminal.getvalue() and f"{read:,} rows · " in terminal.getvalue()
    assert "rows/s" not in result.output  # the bar went to the terminal's stderr, not into the summary


def test_batch_rate_piped_shows_no_progress(tmp_path: Path) -> None:
    """CliRunner's stderr is not a terminal: only the summary is written."""
    result = CliRunner().invoke(main, ["batch-rate", str(DATA / "asterisk-master.csv"), "--tariff",
                                       str(SAMPLES / "fr-business.toml"), "--format", "asterisk",
                                       "--out", str(tmp_path / "out.csv")])
    assert result.exit_code == 0 and "rows/s" not in result.output and "call(s)" in result.output


def test_import_rate_and_whatif_show_progress_on_a_terminal(tmp_path: Path, terminal: io.StringIO) -> None:
    ws = workspace(tmp_path / "ws")
    base = ["--workspace", str(ws)]
    steps = [("import cdr", ["import", "cdr", str(DATA / "asterisk-master.csv"), "--source", "pbx"]),
             ("re-rate", ["rate", "--site", "paris"]),
             ("whatif", ["whatif", "--period", "2025-03", "--tariff", str(SAMPLES / "fr-business.toml")])]
    for label, args in steps:
        terminal.truncate(0)
        terminal.seek(0)
        result = CliRunner().invoke(main, [*base, *args, "--json"])
        assert result.exit_code == 0, result.output
        assert terminal.getvalue() == "", label  # --json: quiet
        rows = json.loads(result.output).get("read" if label == "import cdr" else "calls")
        result = CliRunner().invoke(main, [*base, *args])
        assert result.exit_code == 0, result.output
        shown = terminal.getvalue()
        assert label.split()[0] in shown and re.search(r"[1-9][\d,]* rows · [\d,]+ rows/s", shown), (label, shown)
        if label != "re-rate":  # re-rate counts every call of the period it reads, the summary the outgoing ones
            assert f"{rows:,} rows" in shown, (label, shown)
