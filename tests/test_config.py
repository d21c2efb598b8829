"""anatole.toml: a valid workspace opens; every bad key or value is named with what is wrong."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from anatole.config import ConfigError, open_workspace

SAMPLES = Path(__file__).parent.parent / "tariffs" / "samples"

GOOD = """
[workspace]
currency = "EUR"

[[site]]
name = "paris"
country = "FR"
timezone = "Europe/Paris"
outside_prefix = "0"
national_prefix = "0"
international_prefix = "00"
extensions = ["1000-1999"]
tariff = "tariffs/fr-business.toml"

[[site]]
name = "new-york"
country = "US"
timezone = "America/New_York"
outside_prefix = "9"
area_code = "212"
extensions = ["3000-3999"]
tariff = "tariffs/us-business.toml"

[[source]]
name = "paris-ipo"
site = "paris"
format = "avaya-ipo"
listen = "0.0.0.0:8808"

[[source]]
name = "ny-ami"
site = "new-york"
format = "asterisk-ami"
connect = "192.0.2.30:5038"
username = "anatole"
password = "secret"

[[alert]]
name = "expensive call"
when = "cost > 5"
notify = ["monitor"]
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "tariffs").mkdir()
    for name in ("fr-business", "us-business"):
        for ext in (".toml", ".csv"):
            shutil.copy(SAMPLES / f"{name}{ext}", tmp_path / "tariffs" / f"{name}{ext}")
    return tmp_path


def test_good_config(workspace: Path) -> None:
    (workspace / "anatole.toml").write_text(GOOD)
    ws = open_workspace(workspace)
    assert set(ws.sites) == {"paris", "new-york"}
    ny = ws.sites["new-york"]
    assert (ny.dialplan.national_prefix, ny.dialplan.international_prefix) == ("1", "011")  # from phonenumbers
    assert ws.sources["paris-ipo"].timezone == "Europe/Paris"  # a source takes its site's zone
    assert ws.tariff(ny.tariff).tariff.currency == "USD"


@pytest.mark.parametrize(("old", "new", "message"), [
    ('currency = "EUR"', 'currency = "euro"', "[workspace]: currency: 'euro' is not an ISO 4217 code"),
    ('country = "FR"', 'country = "XX"', "[[site]] #1: country: 'XX' is not an ISO 3166 country code"),
    ('timezone = "Europe/Paris"', 'timezone = "Paris"', "[[site]] #1: timezone: 'Paris' is not an IANA time zone"),
    ('outside_prefix = "0"', 'outside_prefix = "zero"', "[[site]] #1: outside_prefix: 'zero' must be digits"),
    ('extensions = ["1000-1999"]', 'extensions = ["1000-199"]', "[[site]] #1: extensions: '1000-199' is not"),
    ('tariff = "tariffs/fr-business.toml"', 'tariff = "nope.toml"', "[[site]] #1: tariff: 'nope.toml': no such file"),
    ('site = "paris"', 'site = "lyon"', "[[source]] #1: site: no [[site]] named 'lyon'"),
    ('format = "avaya-ipo"', 'format = "avaya"', "[[source]] #1: format: 'avaya' is not a known format"),
    ('listen = "0.0.0.0:8808"', 'listen = "8808"', "[[source]] #1: listen: '8808' is not HOST:PORT"),
    ('listen = "0.0.0.0:8808"', 'listen = "0.0.0.0:99999"', "[[source]] #1: listen: '0.0.0.0:99999' is not HOST:"),
    ('listen = "0.0.0.0:8808"', 'listen = "0.0.0.0:8808"\nencoding = "klingon"',
     "[[source]] #1: encoding: 'klingon' is not a known encoding"),
    ('listen = "0.0.0.0:8808"', 'listen = "0.0.0.0:8808"\nencoding = 5', "[[source]] #1: encoding: 5 is not a known"),
    ('tariff = "tariffs/fr-business.toml"', 'tariff = "tariffs/fr-business.toml"\ntrunk_tariffs = "x"',
     "[[site]] #1: trunk_tariffs: must be a table of trunk = \"tariff file\""),
    ('when = "cost > 5"', 'colour = "red"', "[[alert]] #1: colour: unknown key"),
    ('when = "cost > 5"', 'when = "cost > 5"\nsites = ["mars"]', "[[alert]] #1: sites: no [[site]] named 'mars'"),
    ("[workspace]", "[workspaces]", "anatole.toml: workspaces: unknown key"),
])
def test_bad_config(workspace: Path, old: str, new: str, message: str) -> None:
    assert old in GOOD
    (workspace / "anatole.toml").write_text(GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        open_workspace(workspace)
    assert message in str(info.value)


def test_missing_and_broken_files(workspace: Path) -> None:
    with pytest.raises(ConfigError, match="anatole.toml: no such file"):
        open_workspace(workspace)
    (workspace / "anatole.toml").write_text("[[site]\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        open_workspace(workspace)
    (workspace / "anatole.toml").unlink()
    (workspace / "anatole.toml").mkdir()
    with pytest.raises(ConfigError, match="anatole.toml: cannot be read: Is a directory"):
        open_workspace(workspace)


def test_csv_profiles(workspace: Path) -> None:
    profile = '\n[csv.export]\nstart = "Start"\ndialled = "To"\nbillable = "Talk"\n'
    source = '\n[[source]]\nname = "csv-feed"\nsite = "paris"\nformat = "csv:export"\n'
    (workspace / "anatole.toml").write_text(GOOD + profile + source)
    ws = open_workspace(workspace)
    assert ws.sources["csv-feed"].profile["dialled"] == "To"
    (workspace / "anatole.toml").write_text(GOOD + profile.replace("dialled", "dialed") + source)
    with pytest.raises(ConfigError) as info:
        open_workspace(workspace)
    assert "csv.export.dialed: unknown key (did you mean 'dialled'?)" in str(info.value)
    (workspace / "anatole.toml").write_text(GOOD + source.replace("csv:export", "csv:other"))
    with pytest.raises(ConfigError, match=r"'csv:other': no \[csv.other\] profile"):
        open_workspace(workspace)
