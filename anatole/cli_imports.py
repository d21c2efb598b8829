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

from anatole.clitools import COUNT, console, emit_json, fail, store, workspace
from i18n import _
from store import display


def _when(epoch: int | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat().replace("+00:00", "Z")


@click.group(help=_("CDR imports made so far, and what each one stored (`imports explain ID`)."))
def imports() -> None:
    """Past CDR imports."""


@imports.command("list", help=_("The imports, newest first: id, when, source, file, format and counts (read = calls "
                                "+ rejected + duplicates)."))
@click.option("--limit", type=COUNT, default=50, show_default=True,
              help=_("The most recent N imports (0: all)."))
@click.option("--json", "as_json", is_flag=True, help=_("One JSON object per line per import."))
@click.pass_context
def imports_list(ctx: click.Context, limit: int, as_json: bool) -> None:
    """The imports, newest first."""
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
    table = Table("id", _("started (UTC)"), _("source"), _("file"), _("format"), _("read"), _("calls"),
                  _("rejected"), _("dupl."), _("skipped"), box=None, pad_edge=False)
    for r in rows:
        table.add_row(str(r["id"]), display.when(r["started"], "UTC", show_zone=False), r["source"],
                      Path(r["file"]).name, r["format"], str(r["read"]), str(r["calls"]), str(r["rejected"]),
                      str(r["duplicates"]), str(r["skipped"]))
    console().print(table)
    console().print(_("{count} import(s); `anatole imports explain ID` explains one").format(count=len(rows)))


@imports.command("explain", help=_("What one import stored: share of calls with an extension, directions, "
                                   "statuses, the rules that decided the direction, the most common unpriced "
                                   "numbers, and warnings saying what to set in anatole.toml."))
@click.argument("import_id", type=int)
@click.option("--json", "as_json", is_flag=True, help=_("Print one JSON object."))
@click.pass_context
def imports_explain(ctx: click.Context, import_id: int, as_json: bool) -> None:
    """What one import stored (store.explain)."""
    from store.explain import explain_import, text_lines

    st = store(workspace(ctx))
    try:
        explained = explain_import(st, import_id)
    finally:
        st.close()
    if explained is None:
        fail(_("no import with id {id} (`anatole imports list` lists them)").format(id=import_id))
    if as_json:
        emit_json(explained)
        return
    imp = explained["import"]
    out = console()
    counts = dict(id=imp["id"], file=imp["file"], format=imp["format"], source=imp["source"],
                  sites=", ".join(explained["sites"]), read=imp["read"], calls=imp["calls"],
                  rejected=imp["rejected"], duplicates=imp["duplicates"])
    if explained["sites"]:
        head = _("import {id}: {file} ({format}, source {source}, site {sites}): read {read} · calls {calls} · "
                 "rejected {rejected} · duplicates {duplicates}").format(**counts)
    else:
        head = _("import {id}: {file} ({format}, source {source}): read {read} · calls {calls} · rejected "
                 "{rejected} · duplicates {duplicates}").format(**counts)
    out.print(head, markup=False)
    for line in text_lines(explained):
        out.print(f"  {line}", markup=False, soft_wrap=True)
