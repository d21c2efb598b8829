"""Collects what a person reads, in one language, for tests/test_i18n_french.py (run as a subprocess).

Why a subprocess: click help texts and console labels are translated when their modules are imported, and the test
process has imported them in English already. Prints one JSON object: {name: text}.

    python tests/i18n_walk.py fr help
    python tests/i18n_walk.py fr screens WORKSPACE HOTEL_WORKSPACE
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from html import unescape

import i18n


def help_texts() -> dict[str, str]:
    import click
    from click.testing import CliRunner

    from anatole.cli import main

    out: dict[str, str] = {}
    runner = CliRunner()

    def walk(cmd: click.Command, path: list[str]) -> None:
        result = runner.invoke(main, [*path, "--help"], prog_name="anatole", catch_exceptions=False)
        out[" ".join(path) or "anatole"] = result.output
        if isinstance(cmd, click.Group):
            for name in sorted(cmd.commands):
                walk(cmd.commands[name], [*path, name])

    walk(main, [])
    return out


def svg_text(svg: str) -> str:
    """The lines of a Textual screenshot: <text> pieces grouped by their y, in x order."""
    lines: dict[float, list[tuple[float, str]]] = {}
    for x, y, body in re.findall(r'<text[^>]*\bx="([\d.]+)"[^>]*\by="([\d.]+)"[^>]*>(.*?)</text>', svg, re.S):
        lines.setdefault(float(y), []).append((float(x), unescape(re.sub(r"<[^>]+>", "", body))))
    return "\n".join("".join(t for _x, t in sorted(parts)).replace("\xa0", " ").rstrip()
                     for _y, parts in sorted(lines.items()))


async def screen_texts(workspace: str, hotel: str) -> dict[str, str]:
    from anatole.cli_ui import console_context
    from anatole.config import open_workspace
    from tui import SCREENS_UI
    from tui.app import ConsoleApp

    out: dict[str, str] = {}
    for name in SCREENS_UI:
        ws = open_workspace(hotel if name == "frontdesk" else workspace)
        app = ConsoleApp(console_context(ws), start=name)
        async with app.run_test(size=(120, 40)) as pilot:
            for _ in range(30):  # the screens load in workers: let them land
                await pilot.pause(0.1)
            out[name] = svg_text(app.export_screenshot())
            if name == "calls":
                await pilot.press("question_mark")
                for _ in range(5):
                    await pilot.pause(0.1)
                out["help"] = svg_text(app.export_screenshot())
    return out


def main(argv: list[str]) -> None:
    i18n.use(argv[0])
    texts = help_texts() if argv[1] == "help" else asyncio.run(screen_texts(argv[2], argv[3]))
    print(json.dumps(texts, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1:])
