"""Front desk (hotel): every room with its status, guest and running charges, updated as calls end; the selected
room's folio (cost and charged price of each call, posting state); check-in and check-out by hand; the late-charge
list; an alert line for calls from vacant rooms; the PMS link's state and its posting queue.

The rooms, stays and charges come from the store (store/hotel.py, read in thread workers); the daemon's socket
says when to read again (a finished call, an alert) and how the PMS link is doing (the `pms:fias` source).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Input, Static
from textual.worker import get_current_worker

from i18n import N_, _, ngettext, pgettext
from pbx.protocol import Alert, FinishedCall, SourceUpdate
from store import display
from store import hotel as db
from tui.context import zoneinfo
from tui.data import duration_text, money
from tui.keybar import KeyBar
from tui.live import Batch, Connected, Disconnected, Event, LiveClient
from tui.table import Column, LocalTable, Money, Row, table_commands

PMS_LINK = "pms:fias"
BILLABLE = ("queued", "posted", "folio", "rejected")
# the folio's state column, short enough for 80 columns; the legend under the folio says what each one means
STATE_SHORT = {"queued": pgettext("charge state", "queued"), "posted": pgettext("charge state", "posted"),
               "rejected": pgettext("charge state", "REFUSED"), "folio": pgettext("charge state", "folio"),
               "free": pgettext("charge state", "free"), "vacant": pgettext("charge state", "vacant"),
               "unpriced": pgettext("charge state", "no price"), "merged": pgettext("charge state", "merged"),
               "failed": pgettext("charge state", "FAILED")}
LEGEND = _("queued: waits for the PMS · posted: on the PMS folio · folio: print it · ! late")
QUEUE_STATES = {"pending": pgettext("posting", "pending"), "sent": pgettext("posting", "sent"),
                "unconfirmed": pgettext("posting", "unconfirmed"), "cancelled": pgettext("posting", "cancelled"),
                "ok": pgettext("posting", "ok"), "rejected": pgettext("posting", "rejected")}
ROOM_STATUS = {"occupied": pgettext("room", "occupied"), "vacant": pgettext("room", "vacant")}
GUEST_WIDTH = 12  # the rooms list's guest column: with the room's charges in 40 columns
ROOM_COLUMNS = ("room", "status", "guest", "charges", "calls", "unposted", "ext")
FOLIO_COLUMNS = ("time", "number", "charge", "state", "dur", "cost", "destination")
LATE_COLUMNS = ("room", "charge", "why", "start", "number", "guest")
LABELS = {"room": N_("room"), "status": N_("status"), "guest": N_("guest"), "charges": N_("charges"),
          "calls": N_("calls"), "unposted": N_("unposted"), "ext": N_("ext"), "time": N_("time"),
          "number": N_("number"), "charge": N_("charge"), "state": N_("state"), "dur": N_("dur"),
          "cost": N_("cost"), "destination": N_("destination"), "why": N_("why"), "start": N_("start")}
TABLE_NAMES = {"rooms": N_("Rooms"), "folio": N_("Folio"), "late": N_("Late charges")}


def label(key: str) -> str:
    """A desk column's heading in the language (a room's status and charges are words of their own in French)."""
    if key == "status":
        return pgettext("room", "status")
    if key == "charges":
        return pgettext("room", "charges")
    if key == "room":
        return pgettext("room", "room")  # short: the rooms list has 40 columns at 80
    return _(LABELS[key])


def why(c: dict[str, Any]) -> str:
    """Why a charge is on the late-charge list, in the clerk's words: the stored reason (vacant room, merged,
    after check-out, failed: ...), else what its state says."""
    parts = [c["reason"]] if c.get("reason") else []
    if not parts:
        if c["status"] == "rejected":
            parts.append(_("refused by the PMS ({answer})").format(answer=c.get("answer") or _("no answer code")))
        elif c["status"] == "unpriced":
            parts.append(_("no price: settle by hand"))
        elif c["status"] == "failed":
            parts.append(_("failed: could not be charged"))
        elif c.get("late"):
            parts.append(_("ended after check-out"))
    if c.get("flagged"):
        parts.append(_("sent twice, unconfirmed: check the PMS folio"))
    return "; ".join(parts) or STATE_SHORT.get(c["status"], c["status"])


def _hhmm(epoch: int, zone: str, now: float) -> str:
    """A folio time: `14:05` today in the hotel's zone (the folio's title names the zone), else the day without its
    year and the time (`12-05 10:29`, `05/12 10:29` in French), so that the charge stays in view at 80 columns; the
    line under the folio has the call's full date, time and zone."""
    text = display.clock(epoch, zone, now, seconds=False).rsplit(" ", 1)[0]
    if " " not in text:
        return text
    try:
        day = re.sub(r"[-/. ]?%Y[-/. ]?", "", display.date_pattern())
        return dt.datetime.fromtimestamp(epoch, zoneinfo(zone)).strftime(f"{day} %H:%M")
    except (OverflowError, OSError, ValueError, KeyError):
        return text


def pms_text(state: str, detail: str | None) -> str:
    """The PMS link's state for the header: `PMS alive`, `PMS down (refused)`."""
    if detail and state != "alive":
        return _("PMS {state} ({detail})").format(state=state, detail=detail)
    return _("PMS {state}").format(state=state)


def link_text(reason: str) -> str:
    """The daemon's state for the header: `daemon: not running` when there is no socket or nobody listens."""
    # tui.live's reasons, in the language of this process
    if reason in (_("no daemon running (no socket)"), _("no daemon running (socket refused)")) \
            or reason.startswith("no daemon running"):
        return _("daemon: not running")
    return _("daemon: unreachable ({reason})").format(reason=reason)


class Loaded(Message):
    def __init__(self, rooms: list[dict[str, Any]], late: list[dict[str, Any]], counts: dict[str, int],
                 error: str = "") -> None:
        super().__init__()
        self.rooms, self.late, self.counts, self.error = rooms, late, counts, error


class FolioLoaded(Message):
    def __init__(self, room: str, stay: dict[str, Any] | None, charges: list[dict[str, Any]]) -> None:
        super().__init__()
        self.room, self.stay, self.charges = room, stay, charges


class DeskEvent(Message):
    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class Done(Message):
    """A check-in or check-out finished (error: why it could not be done)."""

    def __init__(self, text: str, error: bool = False) -> None:
        super().__init__()
        self.text, self.error = text, error


def _money(value: int | None, currency: str | None) -> Any:
    """A charge or cost as a sort value: Money (within its currency), blank when there is none."""
    return "" if value is None else Money(int(value), currency or "")


class DeskTable(LocalTable):
    """The desk's lists with the keys of every console list (sort, filter by cell, columns, export), kept out of
    the footer so that check-in and check-out stay in it at 80 columns (`?` lists them).

    Its columns widen to rows added before its first layout: textual 8.2 measures them on idle but kept the lines
    rendered at the headers' widths (the late-charge "why" showed as "ref", the status as "occupi"). After each
    measure, its rendered lines are dropped (private API, kept to this one place)."""

    BINDINGS = [Binding(b.key, b.action, b.description, show=False, key_display=b.key_display)
                for b in LocalTable.BINDINGS]

    async def _on_idle(self, event: Any) -> None:
        measure = self._require_update_dimensions
        await super()._on_idle(event)
        if measure:
            self._clear_caches()
            self.refresh()

    def show(self, rows: list[Row]) -> None:
        """set_rows only when what is shown changed: the reload every 2 s neither flickers nor moves the cursor."""
        def shown(rs: list[Row]) -> list[tuple[str, list[str]]]:
            return [(r.key, [str(v) for v in r.cells.values()]) for r in rs]

        if shown(rows) != shown(self.rows_all) or not self.columns:
            self.set_rows(rows)


class CheckinDialog(ModalScreen[tuple[str, str] | None]):
    """Guest name and reservation for a check-in by hand; enter confirms, escape cancels."""

    BINDINGS = [Binding("escape", "cancel", _("Cancel"))]

    def __init__(self, room: str) -> None:
        super().__init__()
        self.room = room

    def compose(self) -> ComposeResult:
        with Vertical(id="checkin-dialog"):
            yield Static(_("Check in room {room}").format(room=self.room), classes="title")
            yield Input(placeholder=_("guest name"), id="checkin-guest", classes="line-input")
            yield Input(placeholder=_("reservation number (optional)"), id="checkin-reservation",
                        classes="line-input")
            yield Static(_("enter: check in · escape: cancel"), classes="message", id="checkin-hint")

    def on_mount(self) -> None:
        self.query_one("#checkin-guest", Input).focus()

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        guest = self.query_one("#checkin-guest", Input).value.strip()
        if event.input.id == "checkin-guest" and guest:
            self.query_one("#checkin-reservation", Input).focus()
            return
        if not guest:
            self.query_one("#checkin-hint", Static).update(Text(_("a guest name is needed"), style="bold red"))
            return
        self.dismiss((guest, self.query_one("#checkin-reservation", Input).value.strip()))

    def action_cancel(self) -> None:
        self.dismiss(None)


class CheckoutReady(Message):
    """What a check-out will leave: the folio's totals per currency, charges not yet posted, refused ones."""

    def __init__(self, room: str, guest: str, calls: int, totals: dict[str, int], unposted: int,
                 refused: int) -> None:
        super().__init__()
        self.room, self.guest, self.calls, self.totals, self.unposted, self.refused = \
            room, guest, calls, totals, unposted, refused


class ConfirmDialog(ModalScreen[bool]):
    BINDINGS = [Binding("y", "answer(True)", _("Yes")), Binding("n,escape", "answer(False)", _("No"))]

    def __init__(self, question: str, detail: str = "") -> None:
        super().__init__()
        self.question, self.detail = question, detail

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Static(self.question, classes="title")
            if self.detail:
                yield Static(self.detail, id="confirm-detail")
            yield Static(_("y: yes · n: no"), classes="message")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class FrontDeskScreen(Screen):
    CSS_PATH = "frontdesk.tcss"
    BINDINGS = [
        Binding("i", "checkin", _("Check in"), id="frontdesk-checkin"),
        Binding("o", "checkout", _("Check out"), id="frontdesk-checkout"),
        Binding("m", "focus_rooms", _("Rooms"), id="frontdesk-rooms"),
        Binding("l", "focus_late", _("Late charges"), id="frontdesk-late"),
        Binding("r", "reload", _("Reload"), id="frontdesk-reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rooms: list[dict[str, Any]] = []
        self.selected: str | None = None
        self.link = _("daemon: connecting")
        self.charges: dict[str, dict[str, Any]] = {}  # the selected room's folio, by call id
        self.counts: dict[str, int] = {}
        self.client: LiveClient | None = None
        self.alerts: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(_("Front desk"), classes="title", id="desk-status")
        with Horizontal(id="desk-top"):
            yield self._table(ROOM_COLUMNS, "rooms")
            with Vertical(id="folio-pane"):
                yield Static(_("Folio"), classes="title", id="folio-title")
                yield self._table(FOLIO_COLUMNS, "folio")
                yield Static("", id="folio-detail")
                yield Static("", classes="totals", id="folio-total")
        yield Static(_("Late charges"), classes="title", id="late-title")
        yield self._table(LATE_COLUMNS, "late")
        yield Static("", classes="message", id="desk-message")
        yield KeyBar()

    def _table(self, keys: tuple[str, ...], name: str) -> DeskTable:
        # the columns a clerk needs first come first: at 80 columns the charge and its state stay in view
        ctx = self.app.ctx
        return DeskTable([Column(k, label(k)) for k in keys], name_for_export=name, workspace=lambda: ctx.workspace,
                         clock=ctx.clock, id=name)

    def on_mount(self) -> None:
        rooms = self.query_one("#rooms", DeskTable)
        rooms.refresh_view()  # the headers before the first rows
        self.query_one("#folio", DeskTable).refresh_view()
        self.query_one("#late", DeskTable).refresh_view()
        rooms.focus()
        self._load()
        ctx = self.app.ctx
        self.client = LiveClient(ctx.socket_path, topics=("calls", "alerts", "sources"), retry=ctx.retry_seconds,
                                 coalesce=0.1)
        self._listen(self.client)
        self.set_interval(2.0, self._load)  # posting answers arrive without a call ending

    def on_unmount(self) -> None:
        if self.client is not None:
            self.client.stop()

    # --- workers ----------------------------------------------------------------------------------------------

    def _conn(self) -> Any:
        return db.connect(self.app.ctx.db_path)

    @work(thread=True, exclusive=True, group="desk-load")
    def _load(self) -> None:
        try:
            conn = self._conn()
            try:
                rooms, late, counts = db.rooms_overview(conn), db.late_charges(conn, 200), db.posting_counts(conn)
            finally:
                conn.close()
        except Exception as exc:  # a missing or locked database: say so, keep the screen
            self.post_message(Loaded([], [], {}, _("cannot read the hotel tables: {problem}").format(problem=exc)))
            return
        self.post_message(Loaded(rooms, late, counts))

    @work(thread=True, exclusive=True, group="desk-folio")
    def _load_folio(self, room: str) -> None:
        try:
            conn = self._conn()
            try:
                stay = db.open_stay(conn, room) or db.last_stay(conn, room)
                charges = db.folio(conn, stay["id"]) if stay else []
                if stay is None or stay["checkout"] is not None:  # vacant: what was dialled since the last stay
                    since = stay["checkout"] if stay else 0
                    charges += [c for c in db.room_charges(conn, room, since) if c["stay_id"] is None]
            finally:
                conn.close()
        except Exception:
            return
        self.post_message(FolioLoaded(room, stay, charges))

    @work(thread=True, group="desk-listen")
    def _listen(self, client: LiveClient) -> None:
        worker = get_current_worker()

        def post(event: Event) -> None:
            if not worker.is_cancelled:
                self.post_message(DeskEvent(event))

        client.run(post)

    @work(thread=True, group="desk-action")
    def _checkin(self, room: str, guest: str, reservation: str) -> None:
        now = int(self.app.ctx.clock())
        reservation = reservation or time.strftime("%y%m%d%H%M", time.localtime(now)) + room[-2:]
        try:
            conn = self._conn()
            try:
                db.checkin(conn, room, reservation, guest, now, "manual", replace=False)
            finally:
                conn.close()
        except db.HotelError as exc:
            self.post_message(Done(str(exc), error=True))
            return
        self.post_message(Done(_("room {room} checked in: {guest}, reservation {reservation}").format(
            room=room, guest=guest, reservation=reservation)))

    @work(thread=True, group="desk-action")
    def _prepare_checkout(self, room: str, guest: str) -> None:
        """Read the open stay's folio for the confirmation: totals per currency, charges not posted yet."""
        try:
            conn = self._conn()
            try:
                stay = db.open_stay(conn, room)
                charges = db.folio(conn, stay["id"]) if stay else []
            finally:
                conn.close()
        except Exception as exc:
            self.post_message(Done(_("cannot read room {room}'s folio: {problem}").format(room=room, problem=exc),
                                   error=True))
            return
        billable = [c for c in charges if c["status"] in BILLABLE]
        totals = display.totals_by_currency(billable, "charge")
        unposted = sum(c["status"] == "queued" for c in billable)
        refused = sum(c["status"] == "rejected" for c in billable)
        self.post_message(CheckoutReady(room, guest, len(billable), totals, unposted, refused))

    @work(thread=True, group="desk-action")
    def _checkout(self, room: str) -> None:
        conn = self._conn()
        try:
            left = db.checkout(conn, room, int(self.app.ctx.clock()))
            charges = db.folio(conn, left["id"]) if left else []
        finally:
            conn.close()
        if left is None:
            self.post_message(Done(_("room {room} has no guest checked in").format(room=room), error=True))
            return
        total = display.totals_by_currency([c for c in charges if c["status"] in BILLABLE], "charge")
        self.post_message(Done(ngettext("room {room} checked out: {guest}, {n} call, total {total}",
                                        "room {room} checked out: {guest}, {n} calls, total {total}",
                                        len(charges)).format(room=room, guest=left["guest"], n=len(charges),
                                                             total=display.totals(total, empty=_("nothing")))))

    # --- results ------------------------------------------------------------------------------------------------

    def on_loaded(self, message: Loaded) -> None:
        if message.error:
            self._say(message.error, error=True)
            return
        self.rooms, self.counts = message.rooms, message.counts
        currency = self.app.ctx.currency
        zone = self._zone()
        now = self.app.ctx.clock()
        rooms = [Row(r["room"], dict(zip(ROOM_COLUMNS, self._room_cells(r, currency))),
                     {"charges": _money(r["charges"], currency) if r["stay_id"] is not None else "",
                      "calls": r["calls"] or 0, "unposted": r["unposted"] or 0}) for r in message.rooms]
        late = [Row(str(c["call_id"]), dict(zip(LATE_COLUMNS, [c["room"], money(c["charge"], c["currency"]), why(c),
                                                             display.clock(c["start"], zone, now, seconds=False),
                                                             c["number"] or c["dialled"] or "", c["guest"] or ""])),
                    {"charge": _money(c["charge"], c["currency"]), "start": c["start"]}) for c in message.late]
        with self.app.batch_update():
            self.query_one("#rooms", DeskTable).show(rooms)
            self.query_one("#late", DeskTable).show(late)
        self.query_one("#late-title", Static).update(_("Late charges: {n}").format(n=len(message.late)))
        if not message.rooms:
            self._say(_("no rooms: add [[room]] tables to anatole.toml, then run `anatole serve` or `anatole hotel "
                        "rooms` once"))
        if self.selected is None and message.rooms:
            self.selected = message.rooms[0]["room"]
        if self.selected is not None:
            self._load_folio(self.selected)
        self._show_status()

    @staticmethod
    def _room_cells(r: dict[str, Any], currency: str) -> list[Any]:
        status = Text(ROOM_STATUS.get(r["status"], r["status"]), style="bold" if r["status"] == "occupied" else "dim")
        calls = str(r["calls"] or "")
        if r["vacant_calls"] and r["stay_id"] is None:  # calls from an empty room: the count in red
            status = Text(ROOM_STATUS["vacant"] + "!", style="bold red")
            calls = Text(str(r["vacant_calls"]), style="bold red")
        guest = r["guest"] or ""
        guest = guest if len(guest) <= GUEST_WIDTH else guest[:GUEST_WIDTH - 1] + "…"  # whole in the folio's title
        return [r["room"], status, guest, money(r["charges"], currency) if r["stay_id"] is not None
                else "", calls, str(r["unposted"] or ""), r["extension"]]

    def _zone(self) -> str:
        """The hotel's site's zone (check-in, check-out and call times)."""
        return self.app.ctx.zone(self.app.ctx.hotel_site)

    def on_folio_loaded(self, message: FolioLoaded) -> None:
        if message.room != self.selected:
            return
        zone = self._zone()
        now = self.app.ctx.clock()
        stay = message.stay
        parts = [message.room]
        if stay is not None:
            parts += [stay["guest"], _("in {time}").format(time=display.clock(stay["checkin"], zone, now,
                                                                               seconds=False))]
            if stay["checkout"] is not None:
                parts.append(_("out {time}").format(time=display.clock(stay["checkout"], zone, now, seconds=False)))
        title = " · ".join(parts)
        self.query_one("#folio-title", Static).update(Text(title))
        table = self.query_one("#folio", DeskTable)
        self.charges = {str(c["call_id"]): c for c in message.charges}
        rows = []
        for c in message.charges:
            state = STATE_SHORT.get(c["status"], c["status"]) + ("!" if c["late"] else "")
            style = "bold red" if c["status"] in ("rejected", "failed", "unpriced") or c["late"] else ""
            cells = [_hhmm(c["start"], zone, now), c["number"] or c["dialled"] or "",
                     Text(money(c["charge"], c["currency"]), justify="right"), Text(state, style=style),
                     duration_text(c["duration"]), money(c["cost"], c["currency"]), c["destination"] or ""]
            rows.append(Row(str(c["call_id"]), dict(zip(FOLIO_COLUMNS, cells)),
                            {"time": c["start"], "charge": _money(c["charge"], c["currency"]),
                             "dur": c["duration"], "cost": _money(c["cost"], c["currency"])}))
        table.show(rows)
        billable = [c for c in message.charges if c["status"] in BILLABLE and c["stay_id"] is not None]
        charged = display.totals_by_currency(billable, "charge")
        cost = display.totals_by_currency(billable, "cost")
        parts = [ngettext("{n} call", "{n} calls", len(billable)).format(n=len(billable)),
                 _("charged {amounts}").format(amounts=display.totals(charged)),
                 _("cost {amounts}").format(amounts=display.totals(cost))]
        if stay is not None:
            parts.append(_("res. {reservation}").format(reservation=stay["reservation"]))
        self.query_one("#folio-total", Static).update(Text(" · ".join(parts) + f"\n{LEGEND}"))
        current = table.current_row()
        self._show_detail(current.key if current is not None else None)

    def on_desk_event(self, message: DeskEvent) -> None:
        event = message.event
        if isinstance(event, Connected):
            for s in event.hello.sources:
                if s.name == PMS_LINK:
                    self.link = pms_text(s.state, s.detail)
            if not any(s.name == PMS_LINK for s in event.hello.sources):
                self.link = _("daemon: running, no PMS link")
            self._show_status()
        elif isinstance(event, Disconnected):
            self.link = link_text(event.reason)
            self._show_status()
        elif isinstance(event, Batch):
            reload = False
            for m in event.messages:
                if isinstance(m, FinishedCall):
                    reload = True
                elif isinstance(m, Alert) and m.kind == "hotel":
                    reload = True
                    self.alerts.append(m.message)
                    self._say(m.message, error=True)
                    self.app.bell()
                elif isinstance(m, SourceUpdate) and m.source.name == PMS_LINK:
                    self.link = pms_text(m.source.state, m.source.detail)
                    reload = True
            if reload:
                self._load()
            self._show_status()

    def on_checkout_ready(self, message: CheckoutReady) -> None:
        lines = [ngettext("{n} call charged · total {total}", "{n} calls charged · total {total}",
                          message.calls).format(n=message.calls,
                                                total=display.totals(message.totals, empty=_("nothing")))]
        if message.unposted:
            lines.append(ngettext(
                "{n} charge not posted to the PMS yet: after check-out the PMS may refuse it (it then goes to the "
                "late-charge list): collect it at the desk",
                "{n} charges not posted to the PMS yet: after check-out the PMS may refuse them (they then go to the "
                "late-charge list): collect them at the desk", message.unposted).format(n=message.unposted))
        else:
            lines.append(_("every charge is posted"))
        if message.refused:
            lines.append(ngettext("{n} charge refused by the PMS: settle by hand",
                                  "{n} charges refused by the PMS: settle by hand",
                                  message.refused).format(n=message.refused))

        def done(yes: bool | None) -> None:
            if yes:
                self._checkout(message.room)

        self.app.push_screen(ConfirmDialog(_("Check out room {room} ({guest})?").format(room=message.room,
                                                                                        guest=message.guest),
                                           "\n".join(lines)), done)

    @on(DataTable.CellHighlighted, "#folio")
    def charge_highlighted(self, event: DataTable.CellHighlighted) -> None:
        self._show_detail(event.cell_key.row_key.value)

    def _show_detail(self, key: str | None) -> None:
        """The highlighted charge in full on one line: what does not fit in the folio's columns at 80."""
        detail = self.query_one("#folio-detail", Static)
        c = self.charges.get(key) if key is not None else None
        if c is None:
            detail.update("")
            return
        parts = [display.when(c["start"], self._zone(), seconds=True), c["destination"] or "?",
                 duration_text(c["duration"]), _("cost {amount}").format(amount=money(c["cost"], c["currency"])),
                 _("charge {amount}").format(amount=money(c["charge"], c["currency"])),
                 STATE_SHORT.get(c["status"], c["status"])]
        if c.get("posting"):
            state = c.get("posting_state") or ""
            parts[-1] += f" · P#{c['posting']} {QUEUE_STATES.get(state, state)}".rstrip()
        if c.get("reason") or c["late"] or c["status"] in ("rejected", "failed"):
            parts.append(why(c))
        detail.update(Text(" · ".join(parts)))

    def on_done(self, message: Done) -> None:
        self._say(message.text, error=message.error)
        self._load()

    def _say(self, text: str, error: bool = False) -> None:
        line = self.query_one("#desk-message", Static)
        line.update(Text(text))
        line.set_class(error, "error")

    def _show_status(self) -> None:
        occupied = sum(r["status"] == "occupied" for r in self.rooms)
        queue = ", ".join(f"{QUEUE_STATES.get(k, k)} {v}" for k, v in sorted(self.counts.items())
                          if k not in ("ok", "rejected"))
        rooms = ngettext("{n} room, {occupied} occupied", "{n} rooms, {occupied} occupied",
                         len(self.rooms)).format(n=len(self.rooms), occupied=occupied)
        self.query_one("#desk-status", Static).update(
            Text(" · ".join([_("Front desk"), rooms, self.link,
                             _("queue: {queue}").format(queue=queue or _("empty"))])))

    # --- actions ------------------------------------------------------------------------------------------------

    @on(DataTable.CellHighlighted, "#rooms")
    def room_highlighted(self, event: DataTable.CellHighlighted) -> None:
        key = event.cell_key.row_key.value
        if key is not None and key != self.selected:
            self.selected = str(key)
            self._load_folio(self.selected)

    def _room(self) -> dict[str, Any] | None:
        return next((r for r in self.rooms if r["room"] == self.selected), None)

    def action_checkin(self) -> None:
        room = self._room()
        if room is None:
            return
        if room["status"] == "occupied":
            self._say(_("room {room} is occupied by {guest}: check it out first").format(room=room["room"],
                                                                                         guest=room["guest"]),
                      error=True)
            return

        def done(result: tuple[str, str] | None) -> None:
            if result is not None:
                self._checkin(room["room"], *result)

        self.app.push_screen(CheckinDialog(room["room"]), done)

    def action_checkout(self) -> None:
        room = self._room()
        if room is None:
            return
        if room["status"] != "occupied":
            self._say(_("room {room} has no guest checked in").format(room=room["room"]), error=True)
            return

        self._prepare_checkout(room["room"], room["guest"])

    def action_reload(self) -> None:
        self._load()

    def action_focus_rooms(self) -> None:
        self.query_one("#rooms", DeskTable).focus()

    def action_focus_late(self) -> None:
        self.query_one("#late", DeskTable).focus()

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        """(title, help, callback) for the app's command palette: check-in and out, the keys of the list in focus."""
        table = self.focused if isinstance(self.focused, DeskTable) else self.query_one("#rooms", DeskTable)
        name = _(TABLE_NAMES.get(table.export_name, table.export_name))
        out: list[tuple[str, str, Any]] = [
            (_("Front desk: check the selected room in…"), _("Guest and reservation, by hand (i)"),
             self.action_checkin),
            (_("Front desk: check the selected room out…"), _("Shows the folio's total first (o)"),
             self.action_checkout),
        ]
        return out + table_commands(table, name)
