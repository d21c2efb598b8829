"""Languages: English (the source) and French, through gettext catalogs compiled with Babel.

Why a package of its own: every package but engine/ speaks to users (CLI, console, reports, folios, alerts,
reject reasons), so the one place that says which language is in use must sit below them all and import nothing
of ours.

Rules for code that speaks to users:

- ``from i18n import _`` and ``_("Calls")``; with values, ``_("{count} calls rated").format(count=n)``. Never
  ``_(f"...")`` (Babel extracts literals only) and never build a sentence from pieces: one message per sentence.
- ``ngettext("{n} call", "{n} calls", n).format(n=n)`` for plurals; ``pgettext("state", "Open")`` where the same
  English word needs two French translations.
- ``N_("...")`` marks a literal that is translated later with ``_(value)`` (a table of labels built at import).
- Text for one reader in a known language (a guest's folio in the language the PMS sent) goes through
  ``translations("fr").gettext(...)``.
- Exports keep machine names (JSON keys, CSV header ids for re-import) unless the issue says otherwise; what a person
  reads is translated.

The French lives in ``i18n/locale/fr/LC_MESSAGES/<part>.po``: one part per area (cli, console, reports, ...), so that
several people can translate at once; at run time the parts are one catalog. ``.mo`` files are compiled from the
``.po`` with Babel on first use (next to the ``.po`` when writable, else in the user's cache, else in memory).
``tests/test_i18n_catalog.py`` extracts every message from the code and fails on one without French.

The language is chosen once, before the modules that translate at import time are imported:
``--lang``, then ``ANATOLE_LANG``, then ``[workspace] language`` in anatole.toml, then the locale (LC_ALL,
LC_MESSAGES, LANG); English when none names a language we have (see :func:`choose`).
"""

from __future__ import annotations

import gettext as _gettext
import io
import os
import tempfile
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

__all__ = ["LANGUAGES", "N_", "_", "babel_locale", "choose", "current", "ngettext", "npgettext", "pgettext",
           "translations", "use"]

LANGUAGES = ("en", "fr")  # English is the source language: its catalog is the code itself
SOURCE = "en"
LOCALE_DIR = Path(__file__).parent / "locale"
_BABEL_LOCALES = {"en": "en", "fr": "fr_FR"}  # numbers, money and dates when [workspace] locale does not say

_current = SOURCE
_active: _gettext.NullTranslations = _gettext.NullTranslations()


def N_(message: str) -> str:
    """Marks a literal for extraction only; translate it where it is shown, with ``_(value)``."""
    return message


def _(message: str) -> str:
    """The message in the current language (the English itself when there is no translation)."""
    return _active.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _active.ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return _active.pgettext(context, message)


def npgettext(context: str, singular: str, plural: str, n: int) -> str:
    return _active.npgettext(context, singular, plural, n)


def current() -> str:
    """The language in use: ``en`` or ``fr``."""
    return _current


def babel_locale(language: str | None = None) -> str:
    """The CLDR locale that formats numbers and dates for a language (``fr`` → ``fr_FR``)."""
    return _BABEL_LOCALES.get(language or _current, "en")


def normalise(name: str | None) -> str | None:
    """``fr``, ``fr_FR.UTF-8``, ``FR-ca``, ``French`` → ``fr``; None for anything we have no catalog for."""
    if not name:
        return None
    text = str(name).strip().lower()
    if text in ("c", "posix"):
        return None
    for sep in (".", "@", "_", "-", ":"):
        text = text.split(sep, 1)[0]
    text = {"english": "en", "french": "fr", "francais": "fr", "français": "fr"}.get(text, text)
    return text if text in LANGUAGES else None


def choose(option: str | None = None, environ: Mapping[str, str] | None = None,
           workspace: str | None = None) -> str:
    """--lang, then ANATOLE_LANG, then [workspace] language, then the locale (LANGUAGE's first entry, LC_ALL,
    LC_MESSAGES, LANG); English when none of them names a language we have."""
    env = os.environ if environ is None else environ
    for value in (option, env.get("ANATOLE_LANG"), workspace):
        found = normalise(value)
        if found:
            return found
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var)
        if value:  # the first variable set decides, as gettext does; LANGUAGE is a colon-separated list
            return normalise(value.split(":", 1)[0]) or SOURCE
    return SOURCE


def use(language: str) -> None:
    """Switch the process to `language` (``en`` or ``fr``): our messages and click's own ("Usage:", "Error:").
    Messages translated at import time keep the language they were imported in: choose before importing."""
    global _current, _active
    found = normalise(language) or SOURCE
    _current = found
    _active = translations(found)
    _use_for_click(found)


@cache
def translations(language: str) -> _gettext.NullTranslations:
    """Every part of `language`'s catalog as one translations object; NullTranslations for English."""
    language = normalise(language) or SOURCE
    if language == SOURCE:
        return _gettext.NullTranslations()
    parts = _compiled_parts(language)
    if not parts:
        return _gettext.NullTranslations()
    first = _gettext.GNUTranslations(io.BytesIO(parts[0][1]))
    for _name, data in parts[1:]:
        first.add_fallback(_gettext.GNUTranslations(io.BytesIO(data)))
    return first


def po_files(language: str) -> list[Path]:
    """The catalog parts of a language, in name order (the order of lookup)."""
    return sorted((LOCALE_DIR / language / "LC_MESSAGES").glob("*.po"))


def _compiled_parts(language: str) -> list[tuple[str, bytes]]:
    return [(po.stem, _mo_bytes(po)) for po in po_files(language)]


def _mo_bytes(po: Path) -> bytes:
    """The compiled catalog of one .po: a fresh .mo beside it or in the cache if there is one, else compiled now
    (and kept for next time where a folder is writable)."""
    stat = po.stat()
    for mo in _mo_candidates(po):
        try:
            if mo.stat().st_mtime_ns >= stat.st_mtime_ns:
                return mo.read_bytes()
        except OSError:
            continue
    data = compile_po(po)
    for mo in _mo_candidates(po):
        try:
            mo.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=mo.parent, prefix=".tmp-", suffix=".mo", delete=False) as f:
                f.write(data)
            os.replace(f.name, mo)  # atomic: parallel first uses never read a half-written file
            break
        except OSError:
            continue
    return data


def _mo_candidates(po: Path) -> list[Path]:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "anatole" / "i18n"
    return [po.with_suffix(".mo"), cache / po.parent.parent.name / f"{po.stem}-{_digest(po)}.mo"]


def _digest(po: Path) -> str:
    import hashlib

    return hashlib.sha256(str(po.resolve()).encode()).hexdigest()[:12]


def compile_po(po: Path) -> bytes:
    """Babel's compiler: fuzzy entries are left out (gettext's rule: a fuzzy translation is not yet a translation)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as f:
        catalog = read_po(f, locale=po.parent.parent.name)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


def _use_for_click(language: str) -> None:
    """click translates its own words ("Usage:", "Error:") through the stdlib's current domain and the
    environment's language: point a "click" domain at our click.po, compiled where gettext can read it."""
    os.environ["LANGUAGE"] = language  # gettext.gettext() reads the language from the environment at each call
    po = LOCALE_DIR / language / "LC_MESSAGES" / "click.po"
    if language == SOURCE or not po.exists():
        return
    data = _mo_bytes(po)
    beside = po.with_suffix(".mo")  # gettext wants <dir>/<lang>/LC_MESSAGES/<domain>.mo: the .po's folder is one
    if beside.exists() and beside.stat().st_mtime_ns >= po.stat().st_mtime_ns:
        root = LOCALE_DIR
    else:
        root = Path(tempfile.mkdtemp(prefix="anatole-i18n-"))
        (root / language / "LC_MESSAGES").mkdir(parents=True)
        (root / language / "LC_MESSAGES" / "click.mo").write_bytes(data)
    _gettext.bindtextdomain("click", str(root))
    _gettext.textdomain("click")


def prescan(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> str:
    """The language of a command line, found before click parses it (help texts are translated when the command
    modules are imported): ``--lang X`` / ``--lang=X`` anywhere before ``--``, then ANATOLE_LANG, then the
    workspace's ``[workspace] language`` (the workspace from --workspace/-w, ANATOLE_WORKSPACE or the current
    folder), then the locale. Anything unreadable is ignored here: click reports a bad --lang, the config loader a
    bad anatole.toml."""
    env = os.environ if environ is None else environ
    option = workspace = None
    args = list(argv)
    for i, word in enumerate(args):
        if word == "--":
            break
        if word == "--lang" and i + 1 < len(args):
            option = args[i + 1]
        elif word.startswith("--lang="):
            option = word.split("=", 1)[1]
        elif word in ("--workspace", "-w") and i + 1 < len(args):
            workspace = args[i + 1]
        elif word.startswith("--workspace="):
            workspace = word.split("=", 1)[1]
    if normalise(option) or normalise(env.get("ANATOLE_LANG")):
        return choose(option, env)
    return choose(option, env, workspace_language(Path(workspace or env.get("ANATOLE_WORKSPACE") or ".")))


def workspace_language(folder: Path) -> str | None:
    """``[workspace] language`` from folder/anatole.toml, or None (no file, unreadable, not set)."""
    try:
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        doc = tomllib.loads((folder / "anatole.toml").read_text(encoding="utf-8-sig"))
        value = doc.get("workspace", {}).get("language")
        return str(value) if value else None
    except Exception:
        return None
