"""The catalog and the choice of language (issue 19): every message the code marks has French with the same
{fields}; messages are literals; --lang beats ANATOLE_LANG beats [workspace] language beats the locale."""

from __future__ import annotations

import ast
import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

import i18n
from anatole.config import ConfigError, parse_config
from i18n.tools import ROOT, SOURCES, fields, problems, python_files
from store import display

MARKERS = {"_", "N_", "ngettext", "pgettext", "npgettext", "gettext"}


def test_every_message_has_french() -> None:
    found = problems("fr")
    assert not found, f"{len(found)} catalog problem(s) (python -m i18n.tools check):\n" + "\n".join(found[:60])


def test_messages_are_literals() -> None:
    """Babel extracts literals only: `_(f"...")`, `_("a" + b)` or `_(name)` would never be translated."""
    bad = []
    for file in python_files([ROOT / s for s in SOURCES if s != "i18n"]):  # i18n/ defines the functions
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name not in MARKERS or name == "_" and not isinstance(node.func, ast.Name):
                continue
            texts = node.args[1:] if name in ("pgettext", "npgettext") else node.args
            texts = texts[:2] if name in ("ngettext", "npgettext") else texts[:1]
            for arg in texts:
                if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                    if name == "_" and isinstance(arg, ast.Name | ast.Attribute | ast.Subscript | ast.Call):
                        continue  # _(value): a label marked elsewhere with N_()
                    bad.append(f"{file.relative_to(ROOT)}:{node.lineno}: {name}() of a {type(arg).__name__}")
                elif "{}" in arg.value or "%s" in arg.value:
                    bad.append(f"{file.relative_to(ROOT)}:{node.lineno}: unnamed field in {arg.value!r}")
    assert not bad, "\n".join(bad)


def test_underscore_is_never_a_throwaway_name() -> None:
    """`a, _ = pair` in a module that translates makes `_` a string in that scope, and `_("...")` crashes there at
    run time, on the line that was meant to report a problem."""
    bad = []
    for file in python_files([ROOT / s for s in SOURCES if s != "i18n"]):
        tree = ast.parse(file.read_text(encoding="utf-8"))
        if not any(isinstance(n, ast.ImportFrom) and n.module == "i18n" and any(a.name == "_" for a in n.names)
                   for n in ast.walk(tree)):
            continue
        chosen = set()  # `_ = translator(language)`: a deliberate `_` in another language (a reader's own)
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                func = node.value.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if "translat" in name or name == "gettext":
                    chosen.update(id(t) for t in node.targets)
        for node in ast.walk(tree):
            stored = isinstance(node, ast.Name) and node.id == "_" and isinstance(node.ctx, ast.Store) \
                and id(node) not in chosen
            if stored or isinstance(node, ast.arg) and node.arg == "_":
                bad.append(f"{file.relative_to(ROOT)}:{node.lineno}: `_` bound as a variable")
    assert not bad, "\n".join(sorted(set(bad)))


def test_fields() -> None:
    assert fields("{n} calls in {site}, {{literal}}") == {"n", "site"}


@pytest.mark.parametrize(("option", "env", "workspace", "expected"), [
    ("fr", {"ANATOLE_LANG": "en", "LANG": "en_GB.UTF-8"}, "en", "fr"),
    (None, {"ANATOLE_LANG": "fr", "LANG": "en_GB.UTF-8"}, "en", "fr"),
    (None, {"LANG": "en_GB.UTF-8"}, "fr", "fr"),
    (None, {"LANG": "fr_FR.UTF-8"}, None, "fr"),
    (None, {"LANGUAGE": "fr:en", "LANG": "en_US.UTF-8"}, None, "fr"),
    (None, {"LC_ALL": "C.UTF-8", "LANG": "fr_FR.UTF-8"}, None, "en"),  # the first variable set decides
    (None, {"ANATOLE_LANG": "de"}, None, "en"),  # a language we do not have: English
    (None, {}, None, "en"),
])
def test_choose(option, env, workspace, expected) -> None:
    assert i18n.choose(option, env, workspace) == expected


def test_prescan_reads_the_command_line_and_the_workspace(tmp_path: Path) -> None:
    (tmp_path / "anatole.toml").write_text('[workspace]\nlanguage = "fr"\n')
    assert i18n.prescan(["calls", "--lang", "fr"], {}) == "fr"
    assert i18n.prescan(["--lang=fr", "calls"], {"ANATOLE_LANG": "en"}) == "fr"
    assert i18n.prescan(["calls", "-w", str(tmp_path)], {}) == "fr"
    assert i18n.prescan(["calls", "-w", str(tmp_path)], {"ANATOLE_LANG": "en"}) == "en"
    assert i18n.prescan(["calls", "--", "--lang", "fr"], {}) == "en"  # after --: an argument, not the option


def test_workspace_language_is_checked(tmp_path: Path) -> None:
    assert parse_config({"workspace": {"language": "fr"}}, tmp_path).language == "fr"
    with pytest.raises(ConfigError) as err:
        parse_config({"workspace": {"language": "klingon"}}, tmp_path)
    assert "language" in str(err.value) and "klingon" in str(err.value)


def test_french_formats() -> None:
    """1 234,57 € and 06/12/2026: Babel's CLDR data for fr_FR; the English stays 1,234.57 EUR and 2026-12-06."""
    try:
        i18n.use("fr")
        assert display.money(123_456_789_012, "EUR") == "1\u202f234,57\xa0€"
        assert display.money(5 * 10**8, "JPY") == "5\xa0JPY"
        assert display.day(dt.date(2026, 12, 6)) == "06/12/2026"
        assert display.ago(0, 3 * 3600) == "il y a 3 h"
        assert i18n._("{n} min ago") == "il y a {n} min"
        assert display.decimal_marks("1 s at 0.08/60s = ≈0.046666666667") == "1 s at 0,08/60s = ≈0,046666666667"
    finally:
        i18n.use("en")
    assert display.money(123_456_789_012, "EUR") == "1,234.57 EUR"
    assert display.day(dt.date(2026, 12, 6)) == "2026-12-06"
    assert display.ago(0, 3 * 3600) == "3 h ago"
    assert display.decimal_marks("0.08/60s, v1.2") == "0.08/60s, v1.2"


def test_lang_option_and_click_words_in_french(tmp_path: Path) -> None:
    """The program itself: --lang after the command, click's own words (Usage, Error) in French too."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "anatole", "tariff", "check", "--lang", "fr", str(tmp_path / "x")],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode != 0
    assert "Usage" not in done.stderr and "Error" not in done.stderr, done.stderr
    bad = subprocess.run([sys.executable, "-m", "anatole", "--lang", "de", "tariff", "check", "x"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and "--lang" in bad.stderr


def test_compiled_catalog_skips_fuzzy(tmp_path: Path) -> None:
    po = tmp_path / "fr" / "LC_MESSAGES" / "x.po"
    po.parent.mkdir(parents=True)
    po.write_text('msgid ""\nmsgstr "Content-Type: text/plain; charset=utf-8\\n"\n\n'
                  'msgid "Calls"\nmsgstr "Appels"\n\n#, fuzzy\nmsgid "Rates"\nmsgstr "Taux"\n', encoding="utf-8")
    import gettext
    import io

    t = gettext.GNUTranslations(io.BytesIO(i18n.compile_po(po)))
    assert t.gettext("Calls") == "Appels" and t.gettext("Rates") == "Rates"


def test_an_amount_never_breaks_across_lines() -> None:
    """French amounts are joined by no-break spaces (2 407,96 €): Rich and Textual wrap around them, not inside."""
    from rich.console import Console
    from rich.text import Text

    sentence = Text("Approuver la facture pour un total de 2\u202f407,96\xa0€ maintenant ?")
    for width in range(20, 60):
        lines = [str(line) for line in sentence.wrap(Console(), width)]
        assert any("2\u202f407,96\xa0€" in line for line in lines), (width, lines)
    assert [str(x) for x in Text("plain words wrap as before").wrap(Console(), 12)] == ["plain words ", "wrap as ",
                                                                                       "before"]
