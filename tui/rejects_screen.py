"""Rejects and imports: the import batches with their counts (read = calls + rejected + duplicates), the
explanation of the highlighted import (store.explain: extensions, directions, statuses, the rules that decided,
unpriced numbers, what to fix), and what was quarantined, where it came from and why, with its raw text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static

from i18n import _, pgettext
from store.explain import text_lines
from tui.data import StoreError, local_time
from tui.keybar import KeyBar
from tui.table import Column, LocalTable, Row, screen_keys, table_commands


class Loaded(Message):
    def __init__(self, imports: list[dict[str, Any]], rejects: list[dict[str, Any]], error: str = "") -> None:
        super().__init__()
        self.imports, self.rejects, self.error = imports, rejects, error


class Explained(Message):
    """The explanation of one import (None: it is gone), or why it could not be read."""

    def __init__(self, import_id: int, explained: dict[str, Any] | None, error: str = "") -> None:
        super().__init__()
        self.import_id, self.explained, self.error = import_id, explained, error


def explanation_text(e: dict[str, Any]) -> Text:
    """store.explain's lines for the screen: the import in bold, warnings in the warning colour."""
    imp = e["import"]
    text = Text(_("Import {id}: {file} ({format}, source {source}): read {read} · calls {calls} · rejected "
                  "{rejected} · duplicates {duplicates}").format(
                    id=imp["id"], file=Path(imp["file"]).name, format=imp["format"], source=imp["source"],
                    read=imp["read"], calls=imp["calls"], rejected=imp["rejected"], duplicates=imp["duplicates"])
                + "\n", style="bold")
    lines = text_lines(e)
    for k, line in enumerate(lines):
        text.append(line + ("\n" if k < len(lines) - 1 else ""), style="yellow" if line.startswith("!") else "")
    return text


IMPORT_COLUMNS = (Column("id", _("id")), Column("when", _("when")), Column("source", _("source")),
                  Column("file", _("file")), Column("format", _("format")), Column("read", _("read")),
                  Column("calls", _("calls")), Column("rejected", pgettext("import count", "rejected")),
                  Column("duplicates", _("dupl.")), Column("skipped", _("skipped")))
REJECT_COLUMNS = (Column("source", _("source")), Column("file", _("file")), Column("line", _("line")),
                  Column("reason", _("reason")))
LIMIT = 1000  # the latest rejects shown (the store keeps them all: `anatole rejects` lists them)


class RejectsScreen(Screen):
    CSS_PATH = "rejects.tcss"
    BINDINGS = [
        Binding("i", "focus_imports", _("Imports")),
        Binding("j", "focus_rejects", _("Rejects")),
        Binding("r", "reload", _("Reload")),
        *screen_keys(),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rejects: dict[str, dict[str, Any]] = {}

    def _table(self, columns: tuple[Column, ...], name: str, table_id: str) -> LocalTable:
        ctx = self.app.ctx
        return LocalTable(columns, name_for_export=name, workspace=lambda: ctx.workspace, clock=ctx.clock,
                          id=table_id)

    def compose(self) -> ComposeResult:
        yield Static(_("Imports"), classes="title", id="imports-title")
        yield self._table(IMPORT_COLUMNS, "imports", "imports")
        with VerticalScroll(id="explain-box"):
            yield Static("", id="import-explain")
        yield Static(_("Rejects"), classes="title", id="rejects-title")
        yield self._table(REJECT_COLUMNS, "rejects", "rejects")
        yield Static("", id="reject-raw", classes="message")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#rejects", LocalTable).focus()
        self._load()

    def action_reload(self) -> None:
        self._load()

    def table(self) -> LocalTable:
        """The table in focus, or the rejects."""
        return self.focused if isinstance(self.focused, LocalTable) else self.query_one("#rejects", LocalTable)

    async def action_table(self, action: str) -> None:
        await self.table().run_action(action)

    def action_focus_imports(self) -> None:
        self.query_one("#imports", LocalTable).focus()

    def action_focus_rejects(self) -> None:
        self.query_one("#rejects", LocalTable).focus()

    @work(thread=True, exclusive=True, group="rejects")
    def _load(self) -> None:
        try:
            imports = self.app.reader.imports(200)
            rejects = self.app.reader.rejects(LIMIT)
        except StoreError as exc:
            self.post_message(Loaded([], [], str(exc)))
            return
        self.post_message(Loaded(imports, rejects))

    def on_loaded(self, message: Loaded) -> None:
        raw = self.query_one("#reject-raw", Static)
        if message.error:
            raw.update(Text(message.error))
            raw.add_class("error")
            return
        raw.remove_class("error")
        zone = self.app.ctx.zone()
        rows = []
        for r in message.imports:
            unbalanced = r["read"] != r["calls"] + r["rejected"] + r["duplicates"]
            counts = {k: r[k] for k in ("id", "read", "calls", "rejected", "duplicates", "skipped")}
            cells: dict[str, Any] = {k: str(v) for k, v in counts.items()}
            cells.update(when=local_time(r["started"], zone), source=r["source"], file=Path(r["file"]).name,
                         format=r["format"], read=Text(str(r["read"]), style="bold red" if unbalanced else ""))
            rows.append(Row(str(r["id"]), cells, {**counts, "when": r["started"]}))
        self.query_one("#imports", LocalTable).set_rows(rows)
        if not message.imports:
            self.query_one("#import-explain", Static).update(_("no imports yet: `anatole import cdr FILE`"))
        self.rejects = {str(r["id"]): r for r in message.rejects}
        self.query_one("#rejects", LocalTable).set_rows(
            [Row(str(r["id"]), {"source": r["source"], "file": Path(r["file"] or "?").name, "line": str(r["line"]),
                                "reason": r["reason"]}, {"line": r["line"]}) for r in message.rejects])
        if not self.rejects:
            raw.update(_("nothing quarantined"))

    @on(LocalTable.Changed, "#imports")
    def imports_changed(self, event: LocalTable.Changed) -> None:
        self.query_one("#imports-title", Static).update(_("Imports: {summary}").format(summary=event.table.summary()))
        row = event.table.current_row()
        if row is not None:
            self._explain(int(row.key))

    @on(LocalTable.Changed, "#rejects")
    def rejects_changed(self, event: LocalTable.Changed) -> None:
        if len(self.rejects) >= LIMIT:
            title = _("Rejects: {summary} (the latest {limit})").format(summary=event.table.summary(), limit=LIMIT)
        else:
            title = _("Rejects: {summary}").format(summary=event.table.summary())
        self.query_one("#rejects-title", Static).update(title)

    @on(DataTable.CellHighlighted, "#imports")
    def import_highlighted(self, event: DataTable.CellHighlighted) -> None:
        if event.cell_key.row_key.value is not None:
            self._explain(int(event.cell_key.row_key.value))

    @work(thread=True, exclusive=True, group="explain")
    def _explain(self, import_id: int) -> None:
        try:
            explained = self.app.reader.explain(import_id)
        except StoreError as exc:
            self.post_message(Explained(import_id, None, str(exc)))
            return
        self.post_message(Explained(import_id, explained))

    def on_explained(self, message: Explained) -> None:
        panel = self.query_one("#import-explain", Static)
        if message.error or message.explained is None:
            panel.update(Text(message.error or _("import {id} is gone").format(id=message.import_id)))
            panel.add_class("error")
            return
        panel.remove_class("error")
        panel.update(explanation_text(message.explained))

    @on(DataTable.CellHighlighted, "#rejects")
    def show_raw(self, event: DataTable.CellHighlighted) -> None:
        r = self.rejects.get(str(event.cell_key.row_key.value))
        if r is not None:
            text = Text(f"{Path(r['file'] or '?').name}:{r['line']} — {r['reason']}\n", style="bold")
            text.append(r["raw"] or _("(no raw text)"))
            self.query_one("#reject-raw", Static).update(text)

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        """(title, help, callback) for the app's command palette: the keys of the table in focus."""
        table = self.table()
        name = _("Imports") if table.id == "imports" else _("Rejects")
        return table_commands(table, name)
