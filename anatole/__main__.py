"""The `anatole` program: choose the language first, then load the commands.

Why a separate entry: click help texts and console labels are translated when their modules are imported, so the
language (--lang, ANATOLE_LANG, [workspace] language, the locale) must be known before `anatole.cli` is imported.
"""

from __future__ import annotations

import os
import sys

# anatole does no floating-point linear algebra: without this, numpy's OpenBLAS starts a thread per core at import
# and they spin for a while, taking CPU from the rating threads (2-4 % of a batch on a 2-core machine)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import i18n  # noqa: E402  (after the environment above: nothing of ours imports numpy before it is set)


def main() -> None:
    i18n.use(i18n.prescan(sys.argv[1:]))
    from anatole.cli import main as cli

    cli(prog_name="anatole")


if __name__ == "__main__":
    main()
