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
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from engine.durations import parse_duration
from engine.money import parse_money
from i18n import N_, _, ngettext
from store import display
from tariffs.errors import TariffError
from tui.context import zoneinfo
from tui.data import TariffEntry, quote, quote_text, rate_rows
from tui.keybar import KeyBar
from tui.table import Column, LocalTable, Money, Row, table_commands

RATE_LIMIT = 500
WIDE = 100  # columns from which the tariff list stays beside the rates


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


# the destination last: its whole name in what is left, the price in view at 80 columns
RATE_COLUMNS = ("prefix", "band", "from", "price", "unit", "incr", "effective", "destination")
RATE_LABELS = {"prefix": N_("prefix"), "band": N_("band"), "from": N_("from"), "unit": N_("unit"),
               "incr": N_("incr"), "effective": N_("effective"), "destination": N_("destination")}


def rate_columns(currency: str) -> list[Column]:
    """The rate table's columns; the price column names the tariff's currency."""
    return [Column(k, _("{currency}/unit").format(currency=currency) if k == "price" else _(RATE_LABELS[k]))
            for k in RATE_COLUMNS]


class TariffsScreen(Screen):
    CSS_PATH = "tariffs.tcss"
    BINDINGS = [
        Binding("slash", "search", _("Prefix search"), key_display="/"),
        Binding("n", "quote", _("Quote a number")),
        Binding("s", "quote_site", _("Quote site")),
        Binding("l", "list", _("Tariff list")),
        Binding("escape", "leave_input", _("Back to the rates"), show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[TariffEntry] = []
        self.current: TariffEntry | None = None
        self.info_text = ""  # the tariff's summary (see _show_info)
        self.quote_site: str | None = None  # numbers typed in the quote box are as dialled at this site

    def compose(self) -> ComposeResult:
        yield Static(_("Tariffs"), classes="title")
        with Horizontal():
            yield OptionList(id="tariff-list")
            with Vertical(id="tariff-main"):
                yield Static("", id="tariff-info")
                yield Input(placeholder=_("/ prefix search: digits"), id="rate-search", classes="line-input",
                            restrict=r"\+?[0-9]*")
                ctx = self.app.ctx
                yield LocalTable(rate_columns(""), name_for_export="rates", workspace=lambda: ctx.workspace,
                                 clock=ctx.clock, id="rates")
                yield Input(placeholder=self._quote_placeholder(), id="quote-input", classes="line-input")
                yield Static("", id="quote-result", classes="message")
        yield KeyBar()

    def on_mount(self) -> None:
        self.entries = self.app.tariffs.entries()
        options = self.query_one("#tariff-list", OptionList)
        for e in self.entries:
            options.add_option(Option(Text(e.label + ("\n  " + ", ".join(e.sites) if e.sites else "")), id=e.label))
        if not self.entries:
            self.query_one("#tariff-info", Static).update(
                Text(_("no tariffs: name one per [[site]] in anatole.toml (tariff = \"tariffs/….toml\")"),
                     style="bold"))
            return
        options.highlighted = 0
        if self.app.size.width >= WIDE:
            options.focus()
        else:
            self.query_one("#rates", LocalTable).focus()
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def on_descendant_focus(self) -> None:
        self._fit()

    def _fit(self) -> None:
        """Below WIDE columns the tariff list shows only while it has the focus (`l`): the rates get the width."""
        options = self.query_one("#tariff-list", OptionList)
        options.display = self.app.size.width >= WIDE or options.has_focus or not self.entries

    @on(OptionList.OptionHighlighted, "#tariff-list")
    def picked(self, event: OptionList.OptionHighlighted) -> None:
        entry = self.entries[event.option_index]
        if entry != self.current:
            self.current = entry
            dialling = [s for s in entry.sites if self._dialplan(s) is not None]
            if dialling and self.quote_site not in dialling:
                self._set_quote_site(dialling[0])
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
        table = self.query_one("#rates", LocalTable)
        if message.error or message.summary is None:
            table.set_rows([])
            self.info_text = ""
            info.update(Text(_("{tariff} is not valid:").format(tariff=message.entry.label) + f"\n{message.error}",
                             style="bold red"))
            return
        s = message.summary
        versions = ", ".join(s["versions"]) if s["versions"] else _("one version (always)")
        shown = _("{shown} of {matching}").format(shown=len(message.rates), matching=message.matching) \
            if len(message.rates) < message.matching else str(message.matching)
        rounding = _("rounded {mode} to {decimals} dp").format(mode=s["mode"], decimals=s["decimals"])
        if s["increment_decimals"] is not None:
            rounding = _("rounded {mode} to {decimals} dp, increments to {increments} dp").format(
                mode=s["mode"], decimals=s["decimals"], increments=s["increment_decimals"])
        rates = _("rates matching {search}: {shown}").format(search=message.search, shown=shown) if message.search \
            else _("rates: {shown}").format(shown=shown)
        self.info_text = "\n".join([
            " · ".join([s["name"], self.app.ctx.shown(message.entry.path),
                        _("{currency}, prices exact").format(currency=s["currency"]), s["timezone"]]),
            " · ".join([rounding, _("bands {names}").format(names=", ".join(s["band_names"]) or _("none"))]),
            " · ".join([ngettext("{n} prefix", "{n} prefixes", s["prefixes"]).format(n=s["prefixes"]),
                        ngettext("{n} rate", "{n} rates", s["rates"]).format(n=s["rates"]),
                        _("versions from: {versions}").format(versions=versions)]),
            rates])
        self._show_info()
        columns = rate_columns(s["currency"])
        if [c.label for c in columns] != [c.label for c in table.all_columns]:
            table.all_columns, table.sort, table.filters, table.hidden = columns, None, {}, set()
        rows = [Row(f"r{i}", {"prefix": r["prefix"] or _("(any)"), "band": r["band"], "from": str(r["from"]),
                              "price": Text(display.from_text(r["price"], s["currency"], exact=True, code=False),
                                            justify="right"), "unit": str(r["unit"]),
                              "incr": str(r["increment"]), "effective": r["effective_from"],
                              "destination": r["destination"]},
                    {"prefix": r["prefix"], "from": r["from"], "price": Money(parse_money(r["price"]), s["currency"]),
                     "unit": r["unit"], "incr": r["increment"]})
                for i, r in enumerate(message.rates)]
        with self.app.batch_update():
            table.set_rows(rows)

    def action_search(self) -> None:
        self.query_one("#rate-search", Input).focus()

    def action_quote(self) -> None:
        self.query_one("#quote-input", Input).focus()

    def action_quote_site(self) -> None:
        """The next site whose dial plan reads the quote box's numbers, then none (E.164 only)."""
        sites = [name for name in self.app.ctx.sites if self._dialplan(name) is not None]
        if not sites:
            self.notify(_("no site with a dial plan: type numbers in E.164 (+33612345678)"))
            return
        order = [*sites, None]
        self._set_quote_site(order[(order.index(self.quote_site) + 1) % len(order)])
        self.query_one("#quote-input", Input).focus()

    def _set_quote_site(self, site: str | None) -> None:
        self.quote_site = site
        if self.is_mounted:
            self.query_one("#quote-input", Input).placeholder = self._quote_placeholder()

    def _quote_placeholder(self) -> str:
        if self.quote_site:
            return _("n quote: NUMBER as dialled at {site} (s: site) [90s|2m|1m30s] [YYYY-MM-DDTHH:MM]").format(
                site=self.quote_site)
        return _("n quote: NUMBER E.164 (s: a site's dialling) [90s|2m|1m30s] [YYYY-MM-DDTHH:MM]")

    def _dialplan(self, site: str | None) -> Any:
        info = self.app.ctx.sites.get(site) if site else None
        return info.dialplan if info is not None else None

    def action_list(self) -> None:
        options = self.query_one("#tariff-list", OptionList)
        options.display = True
        options.focus()

    def action_leave_input(self) -> None:
        self.query_one("#rates", LocalTable).focus()

    @on(Input.Changed, "#rate-search")
    def search_changed(self, event: Input.Changed) -> None:
        if self.current is not None:
            self._load(self.current, event.value.lstrip("+"))

    @on(Input.Submitted, "#rate-search")
    def search_done(self) -> None:
        self.query_one("#rates", LocalTable).focus()

    @on(Input.Submitted, "#quote-input")
    def quote_submitted(self, event: Input.Submitted) -> None:
        if self.current is None:
            self._quote_message(_("no tariff selected"), True)
            return
        self._quote(self.current, event.value, self.quote_site)

    @work(thread=True, exclusive=True, group="quote")
    def _quote(self, entry: TariffEntry, text: str, site: str | None) -> None:
        try:
            compiled = self.app.tariffs.compiled(entry.path)
        except TariffError as exc:
            self.post_message(Quoted(exc.render(), True))
            return
        try:
            digits, seconds, start = parse_quote(text, compiled.tariff.timezone, self.app.ctx.clock(),
                                                 self._dialplan(site), site)
        except ValueError as exc:
            self.post_message(Quoted(str(exc), True))
            return
        q = quote(compiled, digits, start, seconds)
        typed = text.split()[0]
        dialled = _("{typed} at {site} = +{digits}").format(typed=typed, site=site, digits=digits) + "\n" \
            if site and typed.lstrip("+") != digits else ""
        self.post_message(Quoted(dialled + quote_text(q), q["status"] != "rated"))

    @on(LocalTable.Changed, "#rates")
    def rates_changed(self, event: LocalTable.Changed) -> None:
        self._show_info()

    def _show_info(self) -> None:
        """The tariff's summary, and what the rate table shows while a filter or a sort is on."""
        if not self.info_text:
            return
        table = self.query_one("#rates", LocalTable)
        view = " · " + _("shown: {what}").format(what=table.summary()) if table.filters or table.sort else ""
        self.query_one("#tariff-info", Static).update(Text(self.info_text + view))

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        """(title, help, callback) for the app's command palette: the quote and the rate table's keys."""
        table = self.query_one("#rates", LocalTable)
        return [(_("Tariffs: quote a number…"), _("What a call would cost, with its breakdown (n)"),
                 self.action_quote),
                (_("Tariffs: prefix search…"), _("The rates of a prefix (/)"), self.action_search),
                *table_commands(table, _("Rates"))]

    def on_quoted(self, message: Quoted) -> None:
        self._quote_message(message.text, message.error)

    def _quote_message(self, text: str, error: bool) -> None:
        widget = self.query_one("#quote-result", Static)
        widget.update(Text(text))
        widget.set_class(error, "error")


def parse_quote(text: str, zone: str, now: float, dialplan: Any = None, site: str | None = None
                ) -> tuple[str, int, int]:
    """'NUMBER [DURATION] [START]' -> (E.164 digits, seconds, UTC instant); ValueError says what is wrong.
    NUMBER is as dialled at the site when a dial plan is given (ingest.dialplan.DialPlan: 0612345678 at a French
    site is 33612345678), else E.164; DURATION (90, 90s, 2m, 1m30s, 1h, 1:30) defaults to 60 s, START (ISO, local
    to the tariff unless it has an offset) to now."""
    words = text.split()
    if not words:
        raise ValueError(_("type a number, then optionally the seconds and the start (e.g. +33612345678 120 "
                           "2026-11-26T09:30)"))
    if dialplan is not None and not words[0].startswith("+"):
        got = dialplan.normalise(words[0], as_dialled=True)
        if got.kind != "external" or not got.e164:
            if site:
                raise ValueError(_("{number} dialled at {site} is {kind} ({rule}), not a number a tariff rates").format(
                    number=repr(words[0]), site=site, kind=got.kind, rule=got.rule))
            raise ValueError(_("{number} dialled at this site is {kind} ({rule}), not a number a tariff rates").format(
                number=repr(words[0]), kind=got.kind, rule=got.rule))
        number = got.e164
    else:
        number = re.sub(r"[().-]", "", words[0]).removeprefix("+")
    if not number or not (number.isascii() and number.isdigit()):
        raise ValueError(_("{word} is not a number (E.164 digits, optionally with +)").format(word=repr(words[0])))
    seconds = 60
    start = int(now)
    rest = words[1:]
    if rest and re.fullmatch(r"\d[^-]*", rest[0]):  # a duration (a start is a date: YYYY-MM-DD...)
        try:
            seconds = parse_duration(rest.pop(0))
        except ValueError as exc:
            raise ValueError(_("{problem}; then optionally the start (YYYY-MM-DDTHH:MM)").format(problem=exc)) from None
    if rest:
        word = rest.pop(0)
        try:
            when = dt.datetime.fromisoformat(word.replace("Z", "+00:00"))
        except ValueError:
            if word.isdigit():
                raise ValueError(_("{word} is not a start time (YYYY-MM-DDTHH:MM, local to the tariff); write the "
                                   "number without spaces").format(word=repr(word))) from None
            raise ValueError(_("{word} is not a start time (YYYY-MM-DDTHH:MM, local to the tariff)").format(
                word=repr(word))) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=zoneinfo(zone))
        start = int(when.timestamp())
    if rest:
        raise ValueError(_("unexpected {word}: give NUMBER [SECONDS] [START]").format(word=repr(rest[0])))
    return number, seconds, start
