"""The import arrows between our packages point down (DESIGN.md, Architecture; issue 16 item 7).

Every module of our packages is read as an AST (no import is run) and each `import`, `from ... import` (at the top,
inside functions, under TYPE_CHECKING: a lazy import is still an arrow) and `importlib.import_module("...")` /
`__import__("...")` with a literal name is checked against the rules below; the .pyx sources by their import lines.
A failure names the module, the line and the rule it breaks.

    anatole    the CLI shell: may import everything
    tui        never anatole, pipeline, tem, trio, or pbx other than pbx.protocol (the subscriber protocol)
    pbx        never anatole, tui, pipeline; pbx.protocol imports no trio (tui reads it)
    pipeline   import, batch-rate, re-rate, Dask: never anatole, tui, pbx
    tem        never anatole, tui, pipeline
    hotel      never anatole, tui, pbx, pipeline, tem
    store, ingest, tariffs   never anatole, tui, pbx, tem, pipeline, hotel
    engine     none of ours (i18n neither)
    i18n       none of ours (every package but engine may import it)
    textual    only anatole and tui; trio only anatole and pbx
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("anatole", "engine", "tariffs", "ingest", "store", "pbx", "tui", "tem", "hotel", "pipeline", "i18n")
LOW = ("anatole", "tui", "pbx", "tem", "pipeline", "hotel")  # what store, ingest and tariffs never import

# package -> {forbidden top-level name: why}
RULES: dict[str, dict[str, str]] = {
    "anatole": {},
    "tui": {"anatole": "tui never imports anatole", "pipeline": "tui never imports pipeline",
            "tem": "tui never imports tem (it reads the store)",
            "trio": "tui never imports trio (Textual runs on asyncio)",
            "pbx": "tui imports only pbx.protocol of pbx"},
    "pbx": {"anatole": "pbx never imports anatole", "tui": "pbx never imports tui",
            "pipeline": "pbx never imports pipeline (the CLI passes it what it needs)"},
    "pipeline": {"anatole": "pipeline never imports anatole (it is below the CLI)", "tui": "pipeline never imports tui",
                 "pbx": "pipeline never imports pbx"},
    "tem": {"anatole": "tem never imports anatole", "tui": "tem never imports tui",
            "pipeline": "tem never imports pipeline"},
    "hotel": {name: f"hotel never imports {name}" for name in ("anatole", "tui", "pbx", "pipeline", "tem")},
    "engine": {name: "engine imports nothing of ours" for name in OURS if name != "engine"},
    "i18n": {name: "i18n imports nothing of ours" for name in OURS if name != "i18n"},
}
for _core in ("store", "ingest", "tariffs"):
    RULES[_core] = {name: f"{_core} never imports {name}" for name in LOW}
for _pkg, _rules in RULES.items():
    if _pkg not in ("anatole", "tui"):
        _rules.setdefault("textual", f"{_pkg} never imports textual (only anatole and tui do)")
    if _pkg not in ("anatole", "pbx"):
        _rules.setdefault("trio", f"{_pkg} never imports trio (only anatole and pbx do)")
ALLOWED = {("tui", "pbx.protocol")}  # (package, module) exceptions to the rules above
PBX_PROTOCOL_BANS = {"trio": "pbx.protocol imports no trio (tui imports it)"}

PYX_IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+c?import|c?import\s+([\w.]+))")


def imports_of(source: str, filename: str = "<module>") -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import of a Python module; relative imports are skipped (they stay
    inside the package)."""
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if "." in node.module:
                yield node.lineno, node.module
            else:  # `from pbx import daemon` imports pbx.daemon
                for alias in node.names:
                    yield node.lineno, f"{node.module}.{alias.name}"
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Name) and node.func.id == "__import__")
                   or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module"))):
            yield node.lineno, node.args[0].value


def pyx_imports(source: str) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(source.splitlines(), start=1):
        found = PYX_IMPORT.match(line)
        if found:
            yield number, found.group(1) or found.group(2)


def violations(package: str, module: str, imports: Iterator[tuple[int, str]], where: str) -> list[str]:
    """The broken rules of one module (`module`: its dotted name), each naming the file, the line and the rule."""
    rules = RULES[package]
    found = []
    for line, name in imports:
        top = name.split(".")[0]
        allowed = any(package == pkg and (name == mod or name.startswith(mod + ".")) for pkg, mod in ALLOWED)
        if top in rules and not allowed:
            found.append(f"{where}:{line}: imports {name}: {rules[top]}")
        if module == "pbx.protocol" and top in PBX_PROTOCOL_BANS:
            found.append(f"{where}:{line}: imports {name}: {PBX_PROTOCOL_BANS[top]}")
    return found


def modules(package: str) -> Iterator[tuple[Path, str]]:
    for path in sorted((ROOT / package).rglob("*")):
        if path.suffix in (".py", ".pyx") and "__pycache__" not in path.parts:
            rel = path.relative_to(ROOT)
            dotted = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
            yield path, dotted


@pytest.mark.parametrize("package", sorted(RULES))
def test_arrows_point_down(package: str) -> None:
    if not (ROOT / package).is_dir():
        pytest.skip(f"{package}/ is not in this tree yet")
    broken: list[str] = []
    count = 0
    for path, dotted in modules(package):
        source = path.read_text(encoding="utf-8")
        where = str(path.relative_to(ROOT))
        found = pyx_imports(source) if path.suffix == ".pyx" else imports_of(source, where)
        broken += violations(package, dotted, found, where)
        count += 1
    assert count, f"no module found in {package}/"
    assert not broken, "imports against the layering (DESIGN.md):\n" + "\n".join(broken)


def test_the_check_can_fail() -> None:
    """A lazy import of the CLI from the pipeline, a tui import of the daemon and an engine import of i18n are
    each caught with their line; tui's import of pbx.protocol is not."""
    source = "import numpy\n\ndef f():\n    from anatole.config import open_workspace\n"
    assert violations("pipeline", "pipeline.x", imports_of(source), "pipeline/x.py") == [
        "pipeline/x.py:4: imports anatole.config: pipeline never imports anatole (it is below the CLI)"]
    tui = "from pbx.protocol import Hello\nfrom pbx import daemon\n"
    assert violations("tui", "tui.x", imports_of(tui), "tui/x.py") == [
        "tui/x.py:2: imports pbx.daemon: tui imports only pbx.protocol of pbx"]
    assert violations("engine", "engine.x", pyx_imports("from i18n import _\ncimport numpy as cnp\n"),
                      "engine/_x.pyx") == ["engine/_x.pyx:1: imports i18n: engine imports nothing of ours"]
    hidden = "import importlib\nimportlib.import_module('tui.app')\n"
    assert violations("store", "store.x", imports_of(hidden), "store/x.py") == [
        "store/x.py:2: imports tui.app: store never imports tui"]


def test_every_package_has_rules() -> None:
    """A new top-level package of ours gets its rules here (and in pyproject's packages and known-first-party)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    listed = set(re.findall(r'^\s+"(\w+)",?\s*(?:#.*)?$', text.split("packages = [", 1)[1].split("]", 1)[0], re.M))
    assert listed <= set(RULES), f"packages without layering rules: {sorted(listed - set(RULES))}"


def test_every_package_is_installed() -> None:
    """`pip install .` (not editable) ships only the packages pyproject.toml lists: one left out is a
    ModuleNotFoundError on a user's machine while every editable test passes (ingest.usage was)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    root = Path(__file__).resolve().parent.parent
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(init.parent.relative_to(root).parts) for top in OURS for init in (root / top).rglob("__init__.py")
             if "build" not in init.parts}
    assert found - listed == set(), f"packages missing from pyproject.toml [tool.setuptools] packages: {found - listed}"
