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
from textual.widgets import DataTable, Footer, Static

from store.explain import text_lines
from tui.data import StoreError, local_time


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
    text = Text(f"Import {imp['id']}: {Path(imp['file']).name} ({imp['format']}, source {imp['source']}): read "
                f"{imp['read']} · calls {imp['calls']} · rejected {imp['rejected']} · duplicates {imp['duplicates']}\n",
                style="bold")
    lines = text_lines(e)
    for k, line in enumerate(lines):
        text.append(line + ("\n" if k < len(lines) - 1 else ""), style="yellow" if line.startswith("!") else "")
    return text


class RejectsScreen(Screen):
    CSS_PATH = "rejects.tcss"
    BINDINGS = [
        Binding("i", "focus_imports", "Imports"),
        Binding("j", "focus_rejects", "Rejects"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rejects: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        yield Static("Imports", classes="title")
        yield DataTable(id="imports", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="explain-box"):
            yield Static("", id="import-explain")
        yield Static("Rejects", classes="title", id="rejects-title")
        yield DataTable(id="rejects", cursor_type="row", zebra_stripes=True)
        yield Static("", id="reject-raw", classes="message")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#imports", DataTable).add_columns("id", "when", "source", "file", "format", "read", "calls",
                                                          "rejected", "dupl.", "skipped")
        self.query_one("#rejects", DataTable).add_columns("source", "file:line", "reason")
        self.query_one("#rejects", DataTable).focus()
        self._load()

    def action_reload(self) -> None:
        self._load()

    def action_focus_imports(self) -> None:
        self.query_one("#imports", DataTable).focus()

    def action_focus_rejects(self) -> None:
        self.query_one("#rejects", DataTable).focus()

    @work(thread=True, exclusive=True, group="rejects")
    def _load(self) -> None:
        try:
            imports = self.app.reader.imports(200)
            rejects = self.app.reader.rejects(1000)
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
        imports = self.query_one("#imports", DataTable)
        imports.clear()
        for r in message.imports:
            unbalanced = r["read"] != r["calls"] + r["rejected"] + r["duplicates"]
            imports.add_row(str(r["id"]), local_time(r["started"], zone), r["source"], Path(r["file"]).name,
                            r["format"], Text(str(r["read"]), style="bold red" if unbalanced else ""),
                            str(r["calls"]), str(r["rejected"]), str(r["duplicates"]), str(r["skipped"]),
                            key=str(r["id"]))
        if message.imports:
            row = min(max(imports.cursor_row, 0), len(message.imports) - 1)
            self._explain(int(message.imports[row]["id"]))
        else:
            self.query_one("#import-explain", Static).update("no imports yet: `anatole import cdr FILE`")
        self.rejects = message.rejects
        table = self.query_one("#rejects", DataTable)
        table.clear()
        for r in self.rejects:
            table.add_row(r["source"], f"{Path(r['file'] or '?').name}:{r['line']}", r["reason"], key=str(r["id"]))
        more = " (the latest 1000)" if len(self.rejects) >= 1000 else ""
        self.query_one("#rejects-title", Static).update(f"Rejects: {len(self.rejects)}{more}")
        if not self.rejects:
            raw.update("nothing quarantined")

    @on(DataTable.RowHighlighted, "#imports")
    def import_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self._explain(int(event.row_key.value))

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
            panel.update(Text(message.error or f"import {message.import_id} is gone"))
            panel.add_class("error")
            return
        panel.remove_class("error")
        panel.update(explanation_text(message.explained))

    @on(DataTable.RowHighlighted, "#rejects")
    def show_raw(self, event: DataTable.RowHighlighted) -> None:
        if 0 <= event.cursor_row < len(self.rejects):
            r = self.rejects[event.cursor_row]
            text = Text(f"{Path(r['file'] or '?').name}:{r['line']} — {r['reason']}\n", style="bold")
            text.append(r["raw"] or "(no raw text)")
            self.query_one("#reject-raw", Static).update(text)
