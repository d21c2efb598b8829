"""`anatole imports`: the CDR imports made so far (file, format, counts) and the explanation of one of them.

The explanation (store.explain) is computed from the store by import id, so an import of last year is explained
as well as the one just made, the same way `import cdr --explain` and the console's imports view show it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click
from rich.table import Table

from anatole.clitools import console, emit_json, fail, store, workspace


def _when(epoch: int | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat().replace("+00:00", "Z")


@click.group()
def imports() -> None:
    """CDR imports made so far, and what each one stored (`imports explain ID`)."""


@imports.command("list")
@click.option("--limit", type=int, default=50, show_default=True, help="The most recent N imports (0: all).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per import.")
@click.pass_context
def imports_list(ctx: click.Context, limit: int, as_json: bool) -> None:
    """The imports, newest first: id, when, source, file, format and counts (read = calls + rejected +
    duplicates)."""
    st = store(workspace(ctx))
    try:
        rows = st.imports(limit or None)
    finally:
        st.close()
    if as_json:
        for r in rows:
            click.echo(json.dumps({**r, "started": _when(r["started"]), "finished": _when(r["finished"])},
                                  ensure_ascii=False))
        return
    table = Table("id", "started (UTC)", "source", "file", "format", "read", "calls", "rejected", "dupl.",
                  "skipped", box=None, pad_edge=False)
    for r in rows:
        table.add_row(str(r["id"]), (_when(r["started"]) or "")[:16].replace("T", " "), r["source"],
                      Path(r["file"]).name, r["format"], str(r["read"]), str(r["calls"]), str(r["rejected"]),
                      str(r["duplicates"]), str(r["skipped"]))
    console().print(table)
    console().print(f"{len(rows)} import(s); `anatole imports explain ID` explains one")


@imports.command("explain")
@click.argument("import_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def imports_explain(ctx: click.Context, import_id: int, as_json: bool) -> None:
    """What one import stored: share of calls with an extension, directions, statuses, the rules that decided the
    direction, the most common unpriced numbers, and warnings saying what to set in anatole.toml."""
    from store.explain import explain_import, text_lines

    st = store(workspace(ctx))
    try:
        explained = explain_import(st, import_id)
    finally:
        st.close()
    if explained is None:
        fail(f"no import with id {import_id} (`anatole imports list` lists them)")
    if as_json:
        emit_json(explained)
        return
    imp = explained["import"]
    out = console()
    out.print(f"import {imp['id']}: {imp['file']} ({imp['format']}, source {imp['source']}"
              + (f", site {', '.join(explained['sites'])}" if explained["sites"] else "") + f"): read {imp['read']} · "
              f"calls {imp['calls']} · rejected {imp['rejected']} · duplicates {imp['duplicates']}", markup=False)
    for line in text_lines(explained):
        out.print(f"  {line}", markup=False, soft_wrap=True)
