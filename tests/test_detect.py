"""Auto-detection picks the right parser for each format's file, and every file imports with balanced counts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from anatole.cli import main
from ingest.cdr import UnknownFormat, detect

DATA = Path(__file__).parent / "data" / "cdr"
SAMPLES = Path(__file__).parent.parent / "tariffs" / "samples"

FILES = {
    "asterisk-master.csv": "asterisk",
    "asterisk-custom.csv": "asterisk-custom",
    "freeswitch-master.csv": "freeswitch",
    "freeswitch.json": "freeswitch-json",
    "freeswitch-lines.json": "freeswitch-json",
    "cucm-133.csv": "cucm",
    "cucm-headerless-123.csv": "cucm",
    "avaya-ipo.txt": "avaya-ipo",
    "mitel-smdr.txt": "mitel",
    "panasonic-smdr.txt": "panasonic",
    "3cx-cdr.log": "3cx",
}


@pytest.mark.parametrize(("name", "fmt"), sorted(FILES.items()))
def test_detects(name: str, fmt: str) -> None:
    assert detect((DATA / name).read_bytes()[:65536])[0] == fmt


@pytest.mark.parametrize("head", [b"", b"\x00\xff" * 500, b"hello world\n" * 10, b"a,b,c\n1,2,3\n"])
def test_unknown_content_is_refused(head: bytes) -> None:
    with pytest.raises(UnknownFormat, match="give --format"):
        detect(head)


def test_every_format_imports_with_balanced_counts(tmp_path: Path) -> None:
    (tmp_path / "tariffs").mkdir()
    for ext in (".toml", ".csv"):
        shutil.copy(SAMPLES / f"fr-business{ext}", tmp_path / "tariffs" / f"fr-business{ext}")
    (tmp_path / "anatole.toml").write_text(
        '[[site]]\nname = "paris"\ncountry = "FR"\ntimezone = "Europe/Paris"\noutside_prefix = "0"\n'
        'extensions = ["200-299", "2000-2999"]\ntariff = "tariffs/fr-business.toml"\n')
    files = [str(DATA / name) for name in sorted(FILES)]
    result = CliRunner().invoke(main, ["--workspace", str(tmp_path), "import", "cdr", *files, "--json"])
    assert result.exit_code == 0, result.output
    outcomes = [json.loads(line) for line in result.output.splitlines()]
    assert [o["format"] for o in outcomes] == [FILES[n] for n in sorted(FILES)]
    for o in outcomes:
        assert o["read"] == o["calls"] + o["rejected"] + o["duplicates"], o
        assert o["calls"] + o["duplicates"] > 0, o  # some fixtures repeat others (headerless CUCM, JSON lines)
    again = CliRunner().invoke(main, ["--workspace", str(tmp_path), "import", "cdr", *files, "--json"])
    for o in (json.loads(line) for line in again.output.splitlines()):
        assert o["calls"] == 0 and o["duplicates"] + o["rejected"] == o["read"], o
