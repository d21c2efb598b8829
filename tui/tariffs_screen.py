"""Tariffs: the workspace's tariffs, their settings and versions, the rates with a prefix search, and a quote box:
what would this number cost (with the breakdown by band, slot and increment)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from tariffs.errors import TariffError
from tui.context import zoneinfo
from tui.data import TariffEntry, quote, quote_text, rate_rows

RATE_LIMIT = 500


class TariffLoaded(Message):
    def __init__(self, entry: TariffEntry, summary: dict[str, Any] | None, rates: list[dict[str, Any]],
                 matching: int, search: str, error: str = "") -> None:
        super().__init__()
        self.entry, self.summary, self.rates, self.matching, self.search, self.error = \
            entry, summary, rates, matching, search, error


class Quoted(Message):
    def __init__(self, text: str, error: bool) -> None:
        super().__init__()
        self.text, self.error = text, error


class TariffsScreen(Screen):
    CSS_PATH = "tariffs.tcss"
    BINDINGS = [
        Binding("slash", "search", "Prefix search", key_display="/"),
        Binding("c", "quote", "Quote a number"),
        Binding("l", "list", "Tariff list"),
        Binding("escape", "leave_input", "Back to the rates", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[TariffEntry] = []
        self.current: TariffEntry | None = None

    def compose(self) -> ComposeResult:
        yield Static("Tariffs", classes="title")
        with Horizontal():
            yield OptionList(id="tariff-list")
            with Vertical(id="tariff-main"):
                yield Static("", id="tariff-info")
                yield Input(placeholder="/ prefix search: digits", id="rate-search", classes="line-input",
                            restrict=r"\+?[0-9]*")
                yield DataTable(id="rates", cursor_type="row", zebra_stripes=True)
                yield Input(placeholder="c quote: NUMBER [SECONDS] [YYYY-MM-DDTHH:MM]", id="quote-input",
                            classes="line-input")
                yield Static("", id="quote-result", classes="message")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#rates", DataTable)
        table.add_columns("prefix", "destination", "band", "from", "price", "unit", "incr", "effective")
        self.entries = self.app.tariffs.entries()
        options = self.query_one("#tariff-list", OptionList)
        for e in self.entries:
            options.add_option(Option(Text(e.label + ("\n  " + ", ".join(e.sites) if e.sites else "")), id=e.label))
        if not self.entries:
            self.query_one("#tariff-info", Static).update(
                Text("no tariffs: name one per [[site]] in anatole.toml (tariff = \"tariffs/….toml\")", style="bold"))
            return
        options.highlighted = 0
        options.focus()

    @on(OptionList.OptionHighlighted, "#tariff-list")
    def picked(self, event: OptionList.OptionHighlighted) -> None:
        entry = self.entries[event.option_index]
        if entry != self.current:
            self.current = entry
            self._load(entry, self.query_one("#rate-search", Input).value.lstrip("+"))

    @work(thread=True, exclusive=True, group="tariff")
    def _load(self, entry: TariffEntry, search: str) -> None:
        try:
            summary = self.app.tariffs.summary(entry)
            rates, matching = rate_rows(self.app.tariffs.compiled(entry.path), search or None, RATE_LIMIT)
        except TariffError as exc:
            self.post_message(TariffLoaded(entry, None, [], 0, search, exc.render()))
            return
        except OSError as exc:
            self.post_message(TariffLoaded(entry, None, [], 0, search, f"{entry.path}: {exc.strerror or exc}"))
            return
        self.post_message(TariffLoaded(entry, summary, rates, matching, search))

    def on_tariff_loaded(self, message: TariffLoaded) -> None:
        if message.entry != self.current:
            return
        info = self.query_one("#tariff-info", Static)
        table = self.query_one("#rates", DataTable)
        table.clear()
        if message.error or message.summary is None:
            info.update(Text(f"{message.entry.label} is not valid:\n{message.error}", style="bold red"))
            return
        s = message.summary
        inc = f", increments to {s['increment_decimals']} dp" if s["increment_decimals"] is not None else ""
        versions = ", ".join(s["versions"]) if s["versions"] else "one version (always)"
        shown = f"{len(message.rates)} of {message.matching}" if len(message.rates) < message.matching \
            else str(message.matching)
        search = f" matching {message.search}" if message.search else ""
        info.update(Text(
            f"{s['name']} · {self.app.ctx.shown(message.entry.path)} · {s['currency']} · {s['timezone']}\n"
            f"rounded {s['mode']} to {s['decimals']} dp{inc} · bands {', '.join(s['band_names']) or 'none'}\n"
            f"{s['prefixes']} prefixes · {s['rates']} rates · versions from: {versions}\n"
            f"rates{search}: {shown}"))
        with self.app.batch_update():
            for r in message.rates:
                table.add_row(r["prefix"] or "(any)", r["destination"][:24], r["band"], str(r["from"]),
                              Text(r["price"], justify="right"), str(r["unit"]), str(r["increment"]),
                              r["effective_from"])

    def action_search(self) -> None:
        self.query_one("#rate-search", Input).focus()

    def action_quote(self) -> None:
        self.query_one("#quote-input", Input).focus()

    def action_list(self) -> None:
        self.query_one("#tariff-list", OptionList).focus()

    def action_leave_input(self) -> None:
        self.query_one("#rates", DataTable).focus()

    @on(Input.Changed, "#rate-search")
    def search_changed(self, event: Input.Changed) -> None:
        if self.current is not None:
            self._load(self.current, event.value.lstrip("+"))

    @on(Input.Submitted, "#rate-search")
    def search_done(self) -> None:
        self.query_one("#rates", DataTable).focus()

    @on(Input.Submitted, "#quote-input")
    def quote_submitted(self, event: Input.Submitted) -> None:
        if self.current is None:
            self._quote_message("no tariff selected", True)
            return
        self._quote(self.current, event.value)

    @work(thread=True, exclusive=True, group="quote")
    def _quote(self, entry: TariffEntry, text: str) -> None:
        try:
            compiled = self.app.tariffs.compiled(entry.path)
        except TariffError as exc:
            self.post_message(Quoted(exc.render(), True))
            return
        try:
            digits, seconds, start = parse_quote(text, compiled.tariff.timezone, self.app.ctx.clock())
        except ValueError as exc:
            self.post_message(Quoted(str(exc), True))
            return
        q = quote(compiled, digits, start, seconds)
        self.post_message(Quoted(quote_text(q), q["status"] != "rated"))

    def on_quoted(self, message: Quoted) -> None:
        self._quote_message(message.text, message.error)

    def _quote_message(self, text: str, error: bool) -> None:
        widget = self.query_one("#quote-result", Static)
        widget.update(Text(text))
        widget.set_class(error, "error")


def parse_quote(text: str, zone: str, now: float) -> tuple[str, int, int]:
    """'NUMBER [SECONDS] [START]' -> (E.164 digits, seconds, UTC instant); ValueError says what is wrong.
    SECONDS defaults to 60, START (ISO, local to the tariff unless it has an offset) to now."""
    words = text.split()
    if not words:
        raise ValueError("type a number, then optionally the seconds and the start (e.g. +33612345678 120 "
                         "2026-11-26T09:30)")
    number = re.sub(r"[().-]", "", words[0]).removeprefix("+")
    if not number or not (number.isascii() and number.isdigit()):
        raise ValueError(f"{words[0]!r} is not a number (E.164 digits, optionally with +)")
    seconds = 60
    start = int(now)
    rest = words[1:]
    if rest and re.fullmatch(r"\d+", rest[0]):
        seconds = int(rest.pop(0))
    elif rest and re.fullmatch(r"\d+:\d{2}", rest[0]):
        m, s = rest.pop(0).split(":")
        seconds = int(m) * 60 + int(s)
    if rest:
        word = rest.pop(0)
        try:
            when = dt.datetime.fromisoformat(word.replace("Z", "+00:00"))
        except ValueError:
            hint = "; write the number without spaces" if word.isdigit() else ""
            raise ValueError(f"{word!r} is not a start time (YYYY-MM-DDTHH:MM, local to the tariff){hint}") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=zoneinfo(zone))
        start = int(when.timestamp())
    if rest:
        raise ValueError(f"unexpected {rest[0]!r}: give NUMBER [SECONDS] [START]")
    return number, seconds, start
