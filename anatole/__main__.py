"""The `anatole` program: choose the language first, then load the commands.

Why a separate entry: click help texts and console labels are translated when their modules are imported, so the
language (--lang, ANATOLE_LANG, [workspace] language, the locale) must be known before `anatole.cli` is imported.
"""

from __future__ import annotations

import sys

import i18n


def main() -> None:
    i18n.use(i18n.prescan(sys.argv[1:]))
    from anatole.cli import main as cli

    cli(prog_name="anatole")


if __name__ == "__main__":
    main()
