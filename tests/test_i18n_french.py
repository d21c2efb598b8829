"""French everywhere (issue 19): every `--help`, every console screen and the demo's summary, read in French, must
not show English from our catalog's source language.

Two checks on every text: (1) no message of the catalog whose French differs from its English appears in English;
(2) no common English word (a list of words that are not also French) appears outside code, option names and proper
names. The texts are collected by tests/i18n_walk.py in a subprocess (French must be chosen before the modules are
imported). Run one area with -k: `-k "help and invoice"`, `-k "screen and calls"`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from anatole.cli import main as cli_main
from tui import SCREENS_UI

HERE = Path(__file__).parent
# Words a French text never contains but English text nearly always does. Not here: words French shares (total,
# date, source, destination, message, minute, page, type, code, format, client, site, extension, export, import,
# note, direction, contact, service, mobile, plan, centre, charge, report, usage, dispute, sort, stop, or, but...).
ENGLISH = frozenset("""
the and with from for this that these those which when where what who whose your you are is was were been being
has have had will would should could can cannot not no yes any each every only into onto than then there their
they them its it be by of to at if else also just more less most least some such same other another show shows
shown list lists listed print prints printed see set get make does did done doing how why please try again new
old open opened closed calls call called calling cost costs costly rate rated rates rating number numbers name
names today yesterday tomorrow hour hours day days week weeks month months year years search filter filters
sorted sorting next previous back quit help cancel save saved delete deleted remove removed add added edit
select selected refresh loading waiting wait error errors warning warnings failed fails failure unknown missing
invalid must use used using run runs running stopped start started starts since until between per after before
without out up down left right first last none all amount amounts charged invoice invoices line lines room rooms
guest guests checked check billed billing bill bills incoming outgoing internal unanswered answered busy
rejected rejects reject reason reasons status alert alerts acknowledged acknowledge live finished progress
pending approved disputed findings finding chart saving savings allowance allowances inventory device devices
people person contract contracts center tariff tariffs band bands prefix prefixes quote workspace folder
settings setting keys key column columns row rows screen screens theme command detail details
""".split())  # noqa: SIM905
PROPER = {"Asterisk", "Avaya", "Cisco", "Factur-X", "FreeSWITCH", "Mitel", "Alcatel", "Panasonic", "Teams", "Textual",
          "Babel", "Dask", "Parquet", "Caddy", "Fidelio", "Opera", "Protel", "Excel", "Linux", "GitHub"}


def english_words(text: str) -> list[str]:
    """The lines of `text` with English words, ignoring `code`, 'quoted', option names, paths, commands."""
    found = []
    for line in text.splitlines():
        clean = re.sub(r"^(\s+)[a-z][a-z0-9-]*(?=\s{2,}|$)", r"\1", line)  # a command name in click's listing
        clean = re.sub(r"`[^`]*`|'[^']*'|\"[^\"]*\"", " ", clean)  # code and quoted values
        clean = re.sub(r"anatole(\s+(?:-{1,2}[\w-]+(?:[ =]/\S*)?|[a-z][a-z0-9-]*))*", " ", clean)  # commands, -w DIR
        clean = re.sub(r"(?<![\w])-{1,2}[\w-]+|[\w./-]*[/.][\w./-]+|\[[a-z0-9_|,-]+\]", " ", clean)  # options, paths
        clean = re.sub(r"\b[a-z0-9]+(?:[-_:][a-z0-9]+)+\b|\b\w+/(?!\w)", " ", clean)  # ids (new-york, only_cdr), dir/
        words = re.findall(r"[A-Za-zÀ-ÿ]+(?:'[a-z]+)?", clean)
        bad = [w for w in words if w.lower() in ENGLISH and w not in PROPER and not w.isupper()]
        if bad:
            found.append(f"{line.strip()[:100]!r}: {', '.join(sorted(set(bad)))}")
    return found


def catalog_english() -> list[str]:
    """The catalog's English messages that have a different French, long enough to be unmistakable."""
    from i18n import translations
    from i18n.tools import ROOT, SOURCES, extract

    fr = translations("fr")
    out = []
    for (_context, msgid) in extract([ROOT / s for s in SOURCES]):
        if len(msgid) >= 12 and " " in msgid and "{" not in msgid and fr.gettext(msgid) != msgid:
            out.append(msgid)
    return out


def walk(*args: str) -> dict[str, str]:
    env = {**os.environ, "ANATOLE_LANG": "fr", "COLUMNS": "100"}
    done = subprocess.run([sys.executable, str(HERE / "i18n_walk.py"), "fr", *args], capture_output=True,
                          text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def data_phrases(workspace: Path) -> list[str]:
    """What the customer wrote, which no language setting translates: the tariffs' names, descriptions, band names
    and destination names (the demo's decks are the English sample decks). Removed from a text before the check,
    longest first, as whole phrases (never as single words: "and" in "United States and Canada" stays caught
    anywhere else)."""
    import csv

    phrases: set[str] = set()
    for deck in (workspace / "tariffs").glob("*.csv"):
        with deck.open(encoding="utf-8") as f:
            phrases.update(row["destination"] for row in csv.DictReader(f) if row.get("destination"))
    for toml in (workspace / "tariffs").glob("*.toml"):
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib
        doc = tomllib.loads(toml.read_text(encoding="utf-8"))
        phrases.update(str(doc.get(k, "")) for k in ("name", "description"))
        phrases.update(str(b.get("name", "")) for b in doc.get("band", []))
    return sorted((p for p in phrases if p), key=len, reverse=True)


def without(text: str, phrases: list[str]) -> str:
    for phrase in phrases:
        text = text.replace(phrase, " ")
    return text


def check(name: str, text: str, english: list[str]) -> None:
    problems = english_words(text)
    problems += [f"untranslated message: {m!r}" for m in english if m in text]
    assert not problems, f"{name}: English in French mode:\n" + "\n".join(problems[:40])


@pytest.fixture(scope="module")
def english() -> list[str]:
    return catalog_english()


@pytest.fixture(scope="module")
def helps() -> dict[str, str]:
    return walk("help")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    root = tmp_path_factory.mktemp("fr")
    env = {**os.environ, "ANATOLE_LANG": "fr"}
    calls = subprocess.run([sys.executable, "-m", "anatole", "demo", "-w", str(root / "demo")], capture_output=True,
                           text=True, env=env, timeout=600)
    assert calls.returncode == 0, calls.stderr[-3000:]
    hotel = subprocess.run([sys.executable, "-m", "anatole", "demo", "--hotel", "-w", str(root / "hotel")],
                           capture_output=True, text=True, env=env, timeout=600)
    assert hotel.returncode == 0, hotel.stderr[-3000:]
    return root / "demo", root / "hotel", calls.stdout + "\n" + hotel.stdout


@pytest.fixture(scope="module")
def phrases(demo: tuple[Path, Path, str]) -> list[str]:
    return sorted(set(data_phrases(demo[0]) + data_phrases(demo[1])), key=len, reverse=True)


@pytest.fixture(scope="module")
def screens(demo: tuple[Path, Path, str]) -> dict[str, str]:
    return walk("screens", str(demo[0]), str(demo[1]))


@pytest.mark.parametrize("command", ["anatole", *sorted(cli_main.commands)])
def test_help_in_french(command: str, helps: dict[str, str], english: list[str]) -> None:
    texts = {k: v for k, v in helps.items() if k == command or k.split(" ")[0] == command} if command != "anatole" \
        else {"anatole": helps["anatole"]}
    assert texts, f"no help collected for {command}"
    for name, text in texts.items():
        check(f"anatole {name} --help", text, english)


@pytest.mark.parametrize("screen", [*SCREENS_UI, "help"])
def test_screen_in_french(screen: str, screens: dict[str, str], english: list[str], phrases: list[str]) -> None:
    check(f"screen {screen}", without(screens[screen], phrases), english)


def test_demo_summary_in_french(demo: tuple[Path, Path, str], english: list[str], phrases: list[str]) -> None:
    summary = demo[2]
    check("anatole --lang fr demo", without(summary, phrases), english)
    assert re.search(r"\d[\u202f\xa0 ]\d{3}", summary), "no French grouping (1 234) in the demo summary"
    assert re.search(r"\d,\d\d[\u202f\xa0 ]?€", summary), "no French money (12,34 €) in the demo summary"


def test_the_checker_catches_english() -> None:
    """The detector itself: English is caught, French and code are not."""
    assert english_words("Show the calls of this month")
    assert not english_words("Affiche les appels du mois `anatole calls --from 2026-10` --json [default: 30]")
    assert not english_words("Usage : anatole tariff check [OPTIONS] FILES...")
    assert not english_words("  list    Liste les factures.")  # a subcommand's name in click's listing
    assert english_words("  Liste les factures: list of invoices")
