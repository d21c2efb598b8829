"""Mobile lines: each line with its plan, its usage of the month against the plan's allowances (home and EU
roaming draw on them; world roaming is billed apart), the billed roaming and usage, and the suggested plan with
its monthly saving from the latest right-sizing (`anatole mobile rightsize`, which the store keeps: the plan
catalogues are read by `tem`, a sibling of `tui`, so the screen shows the stored result). Read-only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from engine.money import divide_round
from i18n import _, ngettext
from store import display
from store.mobile import MobileStore, MobileStoreError
from tui.data import ComponentReader, StoreError
from tui.keybar import KeyBar
from tui.table import Column, LocalTable, Money, Row, screen_keys, table_commands

MB = 10**6
# what was billed and what a better plan saves come first: in view at 80 columns; usage and carrier after (→)
COLUMNS = (Column("line", _("line")), Column("plan", _("plan")), Column("billed", _("billed")),
           Column("suggested", _("suggested")), Column("saving", _("saving/month")), Column("voice", _("voice min")),
           Column("sms", "SMS/MMS"), Column("data", _("data MB")), Column("roaming", _("roaming")),
           Column("carrier", _("carrier")))


class MobileReader(ComponentReader):
    """The screen's read access to the mobile component (worker threads; one connection under a lock)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, MobileStore, MobileStoreError)

    def month(self, month: str | None) -> tuple[list[str], str | None, list[dict[str, Any]], dict[str, Any]]:
        """(months with usage, the month shown, its per-line rows, the stored right-sizing by line)."""
        def read(m: MobileStore) -> tuple[list[str], str | None, list[dict[str, Any]], dict[str, Any]]:
            months = m.months()
            shown = month if month in months else (months[-1] if months else None)
            rows = m.monthly(shown, shown) if shown else []
            return months, shown, rows, m.rightsized()
        return self._guard(read)


def line_rows(rows: list[dict[str, Any]], sized: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per line: home+EU volumes (what the allowances cover), world volumes, billed amounts."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        e = out.setdefault(r["line"], {"line": r["line"], "carrier": r["carrier"], "currency": r["currency"],
                                       "voice": 0, "sms": 0, "data": 0, "roaming": 0, "billed": 0})
        if r["zone"] != "world":  # world roaming is billed apart, never from the allowances
            e["sms" if r["kind"] == "mms" else r["kind"]] += r["volume"]
        e["billed"] += r["amount"]
        if r["zone"] != "home":
            e["roaming"] += r["amount"]
    for e in out.values():
        e["sized"] = sized.get(e["line"])
    return sorted(out.values(), key=lambda e: (-((e["sized"] or {}).get("saving") or 0), e["line"]))


def _against(used: int, allowance: int | None) -> Text:
    """'312/500' in red when over the allowance; '312/unl.'; '312' when the plan is unknown."""
    if allowance is None:
        return Text(str(used))
    if allowance < 0:
        return Text(_("{used}/unl.").format(used=used))
    return Text(f"{used}/{allowance}", style="bold red" if used > allowance else "")


def cells(e: dict[str, Any]) -> list[Text | str]:
    s = e["sized"] or {}
    saving = s.get("saving")
    monthly = divide_round(saving, s["months"], "half_up") if saving and s.get("months") else 0
    cur = e["currency"]
    return [e["line"], s.get("plan") or "?", Text(display.money(e["billed"], cur), justify="right"),
            (s.get("best_plan") or "") if monthly > 0 else "",
            Text(display.money(monthly, cur), style="bold green", justify="right") if monthly > 0 else "",
            _against(e["voice"] // 60, s.get("minutes")), _against(e["sms"], s.get("sms")),
            _against(e["data"] // MB, s.get("data_mb")), Text(display.money(e["roaming"], cur), justify="right"),
            e["carrier"]]


def table_row(e: dict[str, Any]) -> Row:
    """The line's cells and what they sort, filter and export by (money exact with its currency, usage as counts)."""
    shown = cells(e)
    s = e["sized"] or {}
    cur = e["currency"]
    saving = s.get("saving")
    monthly = divide_round(saving, s["months"], "half_up") if saving and s.get("months") else 0
    values = {"billed": Money(e["billed"], cur), "roaming": Money(e["roaming"], cur),
              "saving": Money(monthly, cur) if monthly > 0 else None,
              "voice": e["voice"] // 60, "sms": e["sms"], "data": e["data"] // MB}
    return Row(e["line"], dict(zip((c.key for c in COLUMNS), shown, strict=True)), values)


class MobileLoaded(Message):
    def __init__(self, months: list[str], month: str | None, rows: list[dict[str, Any]], error: str = "") -> None:
        super().__init__()
        self.months, self.month, self.rows, self.error = months, month, rows, error


class MobileScreen(Screen):
    CSS_PATH = "mobile.tcss"
    BINDINGS = [
        # one footer entry for both month keys, and reload in the help only: the footer fits 80 columns
        Binding("left_square_bracket", "month(-1)", _("Month"), key_display="[ ]"),
        Binding("right_square_bracket", "month(1)", _("Next month"), key_display="]", show=False),
        Binding("r", "reload", _("Reload"), show=False),
        *screen_keys(),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.reader: MobileReader | None = None
        self.months: list[str] = []
        self.month: str | None = None
        self.rows: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        yield Static(_("Mobile lines"), classes="title", id="mobile-title")
        ctx = self.app.ctx
        yield LocalTable(COLUMNS, name_for_export="mobile-lines", workspace=lambda: ctx.workspace, clock=ctx.clock,
                         id="mobile")
        yield Static("", id="mobile-message", classes="message")
        yield KeyBar()

    def on_mount(self) -> None:
        self.reader = MobileReader(self.app.ctx.db_path)
        self.query_one("#mobile", LocalTable).focus()
        self._load(None)

    def on_unmount(self) -> None:
        if self.reader is not None:
            self.reader.close()

    def action_reload(self) -> None:
        self._load(self.month)

    def table(self) -> LocalTable:
        return self.query_one("#mobile", LocalTable)

    async def action_table(self, action: str) -> None:
        await self.table().run_action(action)

    def action_month(self, step: int) -> None:
        if self.month in self.months:
            i = min(max(self.months.index(self.month) + step, 0), len(self.months) - 1)
            self._load(self.months[i])

    @work(thread=True, exclusive=True, group="mobile")
    def _load(self, month: str | None) -> None:
        assert self.reader is not None
        try:
            months, shown, rows, sized = self.reader.month(month)
        except StoreError as exc:
            self.post_message(MobileLoaded([], None, [], str(exc)))
            return
        self.post_message(MobileLoaded(months, shown, line_rows(rows, sized)))

    def on_mobile_loaded(self, message: MobileLoaded) -> None:
        note = self.query_one("#mobile-message", Static)
        note.set_class(bool(message.error), "error")
        if message.error:
            note.update(Text(message.error))
            return
        self.months, self.month, self.rows = message.months, message.month, message.rows
        self.table().set_rows([table_row(e) for e in self.rows])
        self._title()
        if not self.rows:
            note.update(_("no mobile usage: `anatole mobile import FILE` (see the README, Mobile lines)"))
            return
        savings: dict[str, int] = {}
        sized_at = ""
        for e in self.rows:
            s = e["sized"] or {}
            if s.get("saving") and s.get("months"):
                savings[e["currency"]] = savings.get(e["currency"], 0) + divide_round(s["saving"], s["months"],
                                                                                      "half_up")
                sized_at = f"{s['first_month']}…{s['last_month']}"
        parts = [ngettext("{n} line", "{n} lines", len(self.rows)).format(n=len(self.rows)),
                 _("usage against the plan's allowances (home + EU)")]
        if savings:
            parts.append(_("suggested plans save {amounts} a month (usage of {months}; `anatole mobile rightsize` "
                           "refreshes)").format(amounts=display.totals(savings, sep=", "), months=sized_at))
        else:
            parts.append(_("no saving found (or no right-sizing yet: `anatole mobile rightsize`)"))
        note.update(" · ".join(parts))

    def _title(self) -> None:
        shown = f" · {self.table().summary()}" if self.rows else ""
        title = _("Mobile lines, {month}").format(month=self.month) if self.month else \
            _("Mobile lines, no usage yet")
        self.query_one("#mobile-title", Static).update(title + shown)

    @on(LocalTable.Changed, "#mobile")
    def table_changed(self) -> None:
        self._title()

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        """(title, help, callback) for the app's command palette: the table's keys and the months."""
        table = self.table()
        return [(_("Mobile: previous month"), _("The usage of the month before ([)"), lambda: self.action_month(-1)),
                (_("Mobile: next month"), _("The usage of the month after (])"), lambda: self.action_month(1)),
                *table_commands(table, _("Mobile"), "line")]
