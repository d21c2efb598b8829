"""Loading tariffs: every bad input is refused with its file, line or key and what is wrong."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from tariffs.compile import compile_tariff
from tariffs.errors import TariffError
from tariffs.load import load_tariff

HEAD = 'name = "t"\ncurrency = "EUR"\ntimezone = "Europe/Paris"\n'
BANDS = '[[band]]\nname = "peak"\nstart = "08:00"\n[[band]]\nname = "offpeak"\nstart = "00:00"\n'


def write(tmp_path: Path, toml: str, csv: str | None = None) -> Path:
    if csv is not None:
        (tmp_path / "deck.csv").write_text(csv)
        toml = f'deck = "deck.csv"\n{toml}'
    path = tmp_path / "t.toml"
    path.write_text(HEAD + toml)
    return path


def problems(path: Path) -> str:
    with pytest.raises(TariffError) as info:
        compile_tariff(load_tariff(path))
    return str(info.value)


CSV_CASES = [
    ("prefix,destination,price,colour\n33,F,0.1,red\n", "deck.csv:1: colour: unknown column"),
    ("prefix,destination\n33,F\n", "deck.csv:1: price: required column is missing"),
    ("prefix,destination,price\n33,F,0.1x\n", "deck.csv:2: price: '0.1x' is not a decimal number"),
    ("prefix,destination,price\n33,F,-0.1\n", "deck.csv:2: price: '-0.1' is negative"),
    ("prefix,destination,price\n33,F,0.123456789\n", "deck.csv:2: price: '0.123456789' has more than 8 decimals"),
    ("prefix,destination,price,increment\n33,F,0.1,0\n", "deck.csv:2: increment: 0 is out of range 1..86400"),
    ("prefix,destination,price,unit\n33,F,0.1,6s\n", "deck.csv:2: unit: '6s' is not a whole number of seconds"),
    ("prefix,destination,price\n+33,F,0.1\n", "deck.csv:2: prefix: '+33' must be digits only (write E.164"),
    ("prefix,destination,price\n33A,F,0.1\n", "deck.csv:2: prefix: '33A' must be digits only"),
    ("prefix,destination,price\n1234567890123456789,F,0.1\n", "is longer than 18 digits"),
    ("prefix,destination,price\n33,,0.1\n", "deck.csv:2: destination: required value is empty"),
    ("prefix,destination,price\n33,F\n", "deck.csv:2: expected 3 fields"),
    ("prefix,destination,price,band\n33,F,0.1,night\n", "deck.csv:2: band: unknown band 'night'"),
    ("prefix,destination,price\n33,F,0.1\n33,F,0.2\n",
     "deck.csv:3: duplicate row: prefix '33', band '*', from 0 and effective_from are the same as at"),
    ("prefix,destination,price,from\n33,F,0.1,30\n", "deck.csv:2: from: prefix '33' band '*': the first slot starts"),
    ("prefix,destination,price,from\n33,F,0.1,0\n33,G,0.1,30\n", "deck.csv:3: destination: differs from the rate"),
    ("prefix,destination,price,from,connect_fee\n33,F,0.1,0,0.1\n33,F,0.1,30,0.2\n",
     "deck.csv:3: connect_fee: differs from the rate's first slot"),
    ("prefix,destination,price,min_cost,max_cost\n33,F,0.1,2,1\n", "deck.csv:2: min_cost: is greater than max_cost"),
    ("prefix,destination,price,effective_from\n33,F,0.1,2026-13-01\n",
     "deck.csv:2: effective_from: '2026-13-01' is not a date"),
    ("", "deck.csv: the rate deck is empty"),
    ("prefix,destination,price\n\"33,F,0.1\n", "deck.csv"),
]


@pytest.mark.parametrize(("csv", "message"), CSV_CASES)
def test_bad_deck(tmp_path: Path, csv: str, message: str) -> None:
    assert message in problems(write(tmp_path, BANDS, csv))


TOML_CASES = [
    ('colour = "red"\n', "t.toml: colour: unknown key"),
    ('[rounding]\nmode = "nearest"\n', "t.toml [rounding]: mode: 'nearest' is not one of up, down, half_up, half_even"),
    ("[rounding]\ndecimals = 9\n", "t.toml [rounding]: decimals: 9 is out of range 0..8"),
    ('[billing]\nanchor = "start"\n', "t.toml [billing]: anchor: 'start' is not 'slot' or 'zero'"),
    ('[billing]\nsplit = "yes"\n', "t.toml [billing]: split: 'yes' is not true or false"),
    ('[[band]]\nname = "x"\nstart = "25:00"\n', "t.toml [[band]] #1: start: '25:00' is not a time of day"),
    ('[[band]]\nname = "x"\nstart = "08:00"\ndays = ["mo"]\n', "t.toml [[band]] #1: days: 'mo' is not a day name"),
    ('[[band]]\nname = "x"\nstart = "08:00"\ndates = ["02-30"]\n', "dates: '02-30' is not a date"),
    ('[[band]]\nname = "x"\nstart = "08:00"\n[[band]]\nname = "x"\nstart = "09:00"\n', "band 'x' is defined twice"),
    ('[[band]]\nname = "a"\nstart = "08:00"\n[[band]]\nname = "b"\nstart = "08:00"\ndays = ["mon"]\n'
     '[[rate]]\nprefix = "1"\ndestination = "x"\nprice = "1"\n',
     "bands 'a' and 'b' both start at 08:00 with weight 10 on mon"),
    ("[[rate]]\nprefix = 33\ndestination = 'F'\nprice = 0.1\ncolour = 1\n", "t.toml [[rate]] #1: colour: unknown key"),
    ("[[rate]]\nprefix = '33'\ndestination = 'F'\nprice = -1\n", "t.toml [[rate]] #1: price: '-1' is negative"),
    ("", "t.toml: deck: the tariff has no rates"),
    ("name = 'twice'\n", "invalid TOML"),
]


@pytest.mark.parametrize(("toml", "message"), TOML_CASES)
def test_bad_settings(tmp_path: Path, toml: str, message: str) -> None:
    assert message in problems(write(tmp_path, toml))


def test_bad_header_values(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text('name = "t"\ncurrency = "euro"\ntimezone = "Mars/Olympus"\n[[rate]]\nprefix="1"\n'
                    'destination="x"\nprice="1"\n')
    text = problems(path)
    assert "currency: 'euro' is not an ISO 4217 code" in text
    assert "timezone: 'Mars/Olympus' is not an IANA time zone" in text


def test_missing_files(tmp_path: Path) -> None:
    assert "cannot read" in problems(tmp_path / "nope.toml")
    assert "deck.csv: cannot read the rate deck" in problems(write(tmp_path, 'deck = "deck.csv"\n'))


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    text = problems(write(tmp_path, "", "prefix,destination,price\nx,F,1\ny,F,2\nz,F,-3\n"))
    assert text.count("must be digits only") == 3 and "deck.csv:4: price: '-3' is negative" in text


def test_inline_rates_decimals_are_exact(tmp_path: Path) -> None:
    """TOML numbers are read as exact decimals, never through a float."""
    t = load_tariff(write(tmp_path, "[[rate]]\nprefix = '1'\ndestination = 'x'\nprice = 0.10000001\n"))
    assert int(t.rows.price[0]) == 10_000_001


def test_large_deck_loads_in_seconds(tmp_path: Path) -> None:
    """A 200,000-row deck loads and compiles (the benchmark measures 1,000,000 rows; no timing asserted here)."""
    rng = np.random.default_rng(1)
    prefixes = np.unique(rng.integers(10**5, 10**9, 200_000))
    lines = ["prefix,destination,price,increment"] + [f"{p},D{p % 97},0.0{p % 9},6" for p in prefixes]
    (tmp_path / "deck.csv").write_text("\n".join(lines) + "\n")
    began = time.perf_counter()
    c = compile_tariff(load_tariff(write(tmp_path, 'deck = "deck.csv"\n')))
    assert c.stats["prefixes"] == len(prefixes)
    assert time.perf_counter() - began >= 0  # the figure is printed by benchmarks/bench_rate.py
