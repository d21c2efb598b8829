"""Catalog upkeep with Babel: extract the messages from the code, add the missing ones to a part, check the French.

    python -m i18n.tools add PART PATH...   # messages of PATH (files or folders) not yet in any part → PART.po
    python -m i18n.tools check [PART...]    # untranslated, fuzzy, placeholder mismatches, obsolete entries
    python -m i18n.tools prune PART         # drop PART's entries no code uses any more

Why parts: several people translate at once, each in their own file; at run time they are one catalog.
`tests/test_i18n_catalog.py` runs `check` over the whole tree.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.pofile import read_po, write_po

from i18n import LOCALE_DIR

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("anatole", "pipeline", "tui", "store", "tem", "ingest", "tariffs", "pbx", "hotel", "i18n")
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None}
NOT_OURS = {"click"}  # parts that translate a library's own messages, not our code's
PLURAL_FORMS = {"fr": "nplurals=2; plural=(n > 1);"}  # gettext's French rule: 0 and 1 are singular
Key = tuple[str | None, str]  # (context, msgid); a plural's msgid is its singular


def python_files(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*.py") if "build" not in f.parts))
        elif p.suffix == ".py":
            out.append(p)
    return out


def extract(paths: Iterable[str | Path]) -> dict[Key, dict]:
    """Every message the code marks: key → {"id": msgid or (singular, plural), "where": [(file, line)]}.
    Babel's extractor, plus the calls inside f-strings (`f"[red]{_('Error')}[/]"`), which Babel does not see on
    Python 3.11 (an f-string is one token there)."""
    found: dict[Key, dict] = {}
    for file in python_files(paths):
        where = str(file.relative_to(ROOT) if file.is_relative_to(ROOT) else file)
        messages = [(line, msgid, context) for line, msgid, _comments, context in extract_from_file(
            "python", str(file), keywords=KEYWORDS, strip_comment_tags=True)]
        messages += _in_fstrings(file)
        for line, msgid, context in messages:
            if not msgid or (isinstance(msgid, tuple) and not msgid[0]):
                continue
            key = (context, msgid[0] if isinstance(msgid, tuple) else msgid)
            entry = found.setdefault(key, {"id": msgid, "where": []})
            if (where, line) not in entry["where"]:
                entry["where"].append((where, line))
    return found


_ARGS = {"_": (None, 0, 1), "N_": (None, 0, 1), "gettext": (None, 0, 1), "ngettext": (None, 0, 2),
         "pgettext": (0, 1, 1), "npgettext": (0, 1, 2)}  # context position, first message position, messages


def _in_fstrings(file: Path) -> list[tuple[int, str | tuple[str, str], str | None]]:
    """Marked calls with literal arguments inside f-strings, as (line, msgid, context)."""
    import ast

    try:
        tree = ast.parse(file.read_bytes())
    except SyntaxError:
        return []
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.JoinedStr):
            continue
        for call in ast.walk(node):
            if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name) or call.func.id not in _ARGS:
                continue
            ctx_at, first, count = _ARGS[call.func.id]
            args = call.args
            texts = args[first:first + count]
            if len(texts) != count or not all(isinstance(a, ast.Constant) and isinstance(a.value, str)
                                              for a in texts):
                continue
            context = args[ctx_at].value if ctx_at is not None and isinstance(args[ctx_at], ast.Constant) else None
            msgid = texts[0].value if count == 1 else (texts[0].value, texts[1].value)
            out.append((call.lineno, msgid, context))
    return out


def part_path(part: str, language: str = "fr") -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{part}.po"


def read_part(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=path.parent.parent.name)


def write_part(path: Path, catalog: Catalog) -> None:
    import io

    buf = io.BytesIO()
    write_po(buf, catalog, width=0, sort_output=False, include_previous=False)
    text = re.sub(r'"Plural-Forms: [^"]*"', lambda _m: '"Plural-Forms: ' + PLURAL_FORMS.get(catalog.locale_identifier
                  or "", "nplurals=2; plural=(n != 1);") + '\\n"', buf.getvalue().decode("utf-8"), count=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def parts(language: str = "fr") -> dict[str, Catalog]:
    return {p.stem: read_part(p) for p in sorted((LOCALE_DIR / language / "LC_MESSAGES").glob("*.po"))}


def translated_keys(catalogs: dict[str, Catalog]) -> dict[Key, tuple[str, object]]:
    out: dict[Key, tuple[str, object]] = {}
    for name, cat in catalogs.items():
        for m in cat:
            if m.id:
                key = (m.context, m.id[0] if isinstance(m.id, tuple) else m.id)
                out.setdefault(key, (name, m))
    return out


def add(part: str, paths: list[str], language: str = "fr") -> int:
    """Append PATH's messages that no part has yet to PART (empty translations, to fill in); returns how many."""
    path = part_path(part, language)
    cat = read_part(path) if path.exists() else Catalog(locale=language, project="anatole",
                                                        charset="utf-8", fuzzy=False)
    known = translated_keys(parts(language))
    added = 0
    for key, entry in extract(paths).items():
        if key in known or cat.get(entry["id"] if isinstance(entry["id"], str) else entry["id"][0],
                                   context=key[0]) is not None:
            continue
        cat.add(entry["id"], string="" if isinstance(entry["id"], str) else ("", ""),
                locations=entry["where"][:3], context=key[0])
        added += 1
    write_part(path, cat)
    return added


_FIELD = re.compile(r"(?<!\{)\{([^{}]*)\}(?!\})")


def fields(text: str) -> set[str]:
    """The str.format fields of a message: a translation must use exactly the same ones."""
    return set(_FIELD.findall(text))


def problems(language: str = "fr", only: Iterable[str] = ()) -> list[str]:
    """What keeps the catalog from being complete and safe: an untranslated or fuzzy message, a translation whose
    {fields} differ from the English, an entry in our parts that no code uses."""
    catalogs = parts(language)
    code = extract([ROOT / s for s in SOURCES])
    have = translated_keys(catalogs)
    out: list[str] = []
    only = set(only)
    for key, entry in sorted(code.items(), key=lambda kv: kv[1]["where"][0]):
        where = "{}:{}".format(*entry["where"][0])
        hit = have.get(key)
        if hit is None:
            if not only:
                out.append(f"{where}: no French for {key[1]!r}")
            continue
        name, m = hit
        if only and name not in only:
            continue
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        if m.fuzzy or not all(strings):
            out.append(f"{name}.po: {where}: untranslated{' (fuzzy)' if m.fuzzy else ''}: {key[1]!r}")
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        want = set().union(*(fields(i) for i in ids))
        for s in strings:
            if fields(s) != want and not (isinstance(m.id, tuple) and fields(s) <= want):
                out.append(f"{name}.po: {where}: fields {sorted(fields(s))} in the French, {sorted(want)} in "
                           f"the English: {key[1]!r}")
    for name, cat in catalogs.items():
        if name in NOT_OURS or (only and name not in only):
            continue
        for m in cat:
            key = (m.context, m.id[0] if isinstance(m.id, tuple) else m.id) if m.id else None
            if key and key not in code:
                out.append(f"{name}.po: obsolete (no code uses it): {key[1]!r}")
    return out


def prune(part: str, language: str = "fr") -> int:
    path = part_path(part, language)
    cat = read_part(path)
    code = extract([ROOT / s for s in SOURCES])
    gone = [m for m in cat if m.id and (m.context, m.id[0] if isinstance(m.id, tuple) else m.id) not in code]
    for m in gone:
        cat.delete(m.id, context=m.context)
    write_part(path, cat)
    return len(gone)


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "add":
        print(f"{add(argv[1], argv[2:])} message(s) added to {part_path(argv[1])}")
        return 0
    if argv and argv[0] == "check":
        found = problems(only=argv[1:])
        print("\n".join(found) or "catalog complete")
        return 1 if found else 0
    if len(argv) == 2 and argv[0] == "prune":
        print(f"{prune(argv[1])} obsolete message(s) removed from {part_path(argv[1])}")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
