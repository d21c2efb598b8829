"""Front desk (hotel): every room with its status, guest and running charges, updated as calls end; the selected
room's folio (cost and charged price of each call, posting state); check-in and check-out by hand; the late-charge
list; an alert line for calls from vacant rooms; the PMS link's state and its posting queue.

The rooms, stays and charges come from the store (store/hotel.py, read in thread workers); the daemon's socket
says when to read again (a finished call, an alert) and how the PMS link is doing (the `pms:fias` source).
"""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Static
from textual.worker import get_current_worker

from pbx.protocol import Alert, FinishedCall, SourceUpdate
from store import hotel as db
from tui.data import local_time, money
from tui.live import Batch, Connected, Disconnected, Event, LiveClient

PMS_LINK = "pms:fias"


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


class CheckinDialog(ModalScreen[tuple[str, str] | None]):
    """Guest name and reservation for a check-in by hand; enter confirms, escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, room: str) -> None:
        super().__init__()
        self.room = room

    def compose(self) -> ComposeResult:
        with Vertical(id="checkin-dialog"):
            yield Static(f"Check in room {self.room}", classes="title")
            yield Input(placeholder="guest name", id="checkin-guest", classes="line-input")
            yield Input(placeholder="reservation number (optional)", id="checkin-reservation", classes="line-input")
            yield Static("enter: check in · escape: cancel", classes="message", id="checkin-hint")

    def on_mount(self) -> None:
        self.query_one("#checkin-guest", Input).focus()

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        guest = self.query_one("#checkin-guest", Input).value.strip()
        if event.input.id == "checkin-guest" and guest:
            self.query_one("#checkin-reservation", Input).focus()
            return
        if not guest:
            self.query_one("#checkin-hint", Static).update(Text("a guest name is needed", style="bold red"))
            return
        self.dismiss((guest, self.query_one("#checkin-reservation", Input).value.strip()))

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmDialog(ModalScreen[bool]):
    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Static(self.question, classes="title")
            yield Static("y: yes · n: no", classes="message")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class FrontDeskScreen(Screen):
    CSS_PATH = "frontdesk.tcss"
    BINDINGS = [
        Binding("i", "checkin", "Check in", id="frontdesk-checkin"),
        Binding("o", "checkout", "Check out", id="frontdesk-checkout"),
        Binding("g", "focus_rooms", "Rooms", id="frontdesk-rooms"),
        Binding("l", "focus_late", "Late charges", id="frontdesk-late"),
        Binding("r", "reload", "Reload", id="frontdesk-reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rooms: list[dict[str, Any]] = []
        self.selected: str | None = None
        self.link = "no daemon"
        self.counts: dict[str, int] = {}
        self.client: LiveClient | None = None
        self.alerts: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static("Front desk", classes="title", id="desk-status")
        with Horizontal(id="desk-top"):
            yield DataTable(id="rooms", cursor_type="row", zebra_stripes=True)
            with Vertical(id="folio-pane"):
                yield Static("Folio", classes="title", id="folio-title")
                yield DataTable(id="folio", cursor_type="row", zebra_stripes=True)
                yield Static("", classes="totals", id="folio-total")
        yield Static("Late charges", classes="title", id="late-title")
        yield DataTable(id="late", cursor_type="row", zebra_stripes=True)
        yield Static("", classes="message", id="desk-message")
        yield Footer()

    def on_mount(self) -> None:
        rooms = self.query_one("#rooms", DataTable)
        for key in ("room", "ext", "status", "guest", "calls", "charges", "unposted"):
            rooms.add_column(key, key=key)
        folio = self.query_one("#folio", DataTable)
        for key in ("start", "number", "destination", "dur", "cost", "charge", "state"):
            folio.add_column(key, key=key)
        late = self.query_one("#late", DataTable)
        for key in ("room", "guest", "start", "number", "charge", "why"):
            late.add_column(key, key=key)
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
            self.post_message(Loaded([], [], {}, f"cannot read the hotel tables: {exc}"))
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
        self.post_message(Done(f"room {room} checked in: {guest}, reservation {reservation}"))

    @work(thread=True, group="desk-action")
    def _checkout(self, room: str) -> None:
        conn = self._conn()
        try:
            left = db.checkout(conn, room, int(self.app.ctx.clock()))
            charges = db.folio(conn, left["id"]) if left else []
        finally:
            conn.close()
        if left is None:
            self.post_message(Done(f"room {room} has no guest checked in", error=True))
            return
        total = sum(c["charge"] or 0 for c in charges if c["status"] in ("queued", "posted", "folio", "rejected"))
        self.post_message(Done(f"room {room} checked out: {left['guest']}, {len(charges)} call(s), total "
                               f"{money(total, self.app.ctx.currency)}"))

    # --- results ------------------------------------------------------------------------------------------------

    def on_loaded(self, message: Loaded) -> None:
        if message.error:
            self._say(message.error, error=True)
            return
        self.rooms, self.counts = message.rooms, message.counts
        table = self.query_one("#rooms", DataTable)
        keys = [r["room"] for r in message.rooms]
        currency = self.app.ctx.currency
        with self.app.batch_update():
            if [str(k.value) for k in table.rows] != keys:
                table.clear()
                for r in message.rooms:
                    table.add_row(*self._room_cells(r, currency), key=r["room"])
            else:
                for r in message.rooms:
                    for col, value in zip(("room", "ext", "status", "guest", "calls", "charges", "unposted"),
                                          self._room_cells(r, currency)):
                        if str(table.get_cell(r["room"], col)) != str(value):
                            table.update_cell(r["room"], col, value)
            late = self.query_one("#late", DataTable)
            late.clear()
            zone = self.app.ctx.zone()
            for c in message.late:
                why = c["reason"] or ""
                if c.get("flagged"):
                    why = (why + "; " if why else "") + "sent twice, unconfirmed"
                late.add_row(c["room"], c["guest"] or "", local_time(c["start"], zone), c["number"] or c["dialled"]
                             or "", money(c["charge"]), why, key=str(c["call_id"]))
        self.query_one("#late-title", Static).update(f"Late charges: {len(message.late)}")
        if not message.rooms:
            self._say("no rooms: add [[room]] tables to anatole.toml, then run `anatole serve` or `anatole hotel "
                      "rooms` once")
        if self.selected is None and message.rooms:
            self.selected = message.rooms[0]["room"]
        if self.selected is not None:
            self._load_folio(self.selected)
        self._show_status()

    @staticmethod
    def _room_cells(r: dict[str, Any], currency: str) -> list[Any]:
        status = Text(r["status"], style="bold" if r["status"] == "occupied" else "dim")
        if r["vacant_calls"] and r["stay_id"] is None:
            status = Text(f"vacant! {r['vacant_calls']} call(s)", style="bold red")
        return [r["room"], r["extension"], status, r["guest"] or "", str(r["calls"] or ""),
                money(r["charges"]) if r["stay_id"] is not None else "", str(r["unposted"] or "")]

    def on_folio_loaded(self, message: FolioLoaded) -> None:
        if message.room != self.selected:
            return
        zone = self.app.ctx.zone()
        stay = message.stay
        title = f"Folio: room {message.room}"
        if stay is not None:
            title += f" — {stay['guest']}, reservation {stay['reservation']}, since {local_time(stay['checkin'], zone)}"
            if stay["checkout"] is not None:
                title += f", left {local_time(stay['checkout'], zone)}"
        self.query_one("#folio-title", Static).update(title)
        table = self.query_one("#folio", DataTable)
        table.clear()
        for c in message.charges:
            state = c["status"] + (f" {c['answer']}" if c.get("answer") and c["status"] == "rejected" else "")
            if c["late"]:
                state += " late"
            table.add_row(local_time(c["start"], zone, seconds=True), c["number"] or c["dialled"] or "",
                          c["destination"] or "", f"{c['duration'] // 60}:{c['duration'] % 60:02d}",
                          money(c["cost"]), money(c["charge"]), state, key=str(c["call_id"]))
        billable = [c for c in message.charges if c["status"] in ("queued", "posted", "folio", "rejected")
                    and c["stay_id"] is not None]
        total = sum(c["charge"] or 0 for c in billable)
        cost = sum(c["cost"] or 0 for c in billable)
        self.query_one("#folio-total", Static).update(
            f"{len(billable)} call(s) · charged {money(total, self.app.ctx.currency)} · cost {money(cost)}")

    def on_desk_event(self, message: DeskEvent) -> None:
        event = message.event
        if isinstance(event, Connected):
            for s in event.hello.sources:
                if s.name == PMS_LINK:
                    self.link = f"PMS {s.state}" + (f" ({s.detail})" if s.detail and s.state != "alive" else "")
            if not any(s.name == PMS_LINK for s in event.hello.sources):
                self.link = "daemon running, no PMS link"
            self._show_status()
        elif isinstance(event, Disconnected):
            self.link = f"no daemon ({event.reason})"
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
                    s = m.source
                    self.link = f"PMS {s.state}" + (f" ({s.detail})" if s.detail and s.state != "alive" else "")
                    reload = True
            if reload:
                self._load()
            self._show_status()

    def on_done(self, message: Done) -> None:
        self._say(message.text, error=message.error)
        self._load()

    def _say(self, text: str, error: bool = False) -> None:
        line = self.query_one("#desk-message", Static)
        line.update(Text(text))
        line.set_class(error, "error")

    def _show_status(self) -> None:
        occupied = sum(r["status"] == "occupied" for r in self.rooms)
        queue = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()) if k not in ("ok", "rejected"))
        self.query_one("#desk-status", Static).update(
            f"Front desk · {len(self.rooms)} rooms, {occupied} occupied · {self.link} · posting queue: "
            f"{queue or 'empty'}")

    # --- actions ------------------------------------------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#rooms")
    def room_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value != self.selected:
            self.selected = str(event.row_key.value)
            self._load_folio(self.selected)

    def _room(self) -> dict[str, Any] | None:
        return next((r for r in self.rooms if r["room"] == self.selected), None)

    def action_checkin(self) -> None:
        room = self._room()
        if room is None:
            return
        if room["status"] == "occupied":
            self._say(f"room {room['room']} is occupied by {room['guest']}: check it out first", error=True)
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
            self._say(f"room {room['room']} has no guest checked in", error=True)
            return

        def done(yes: bool | None) -> None:
            if yes:
                self._checkout(room["room"])

        self.app.push_screen(ConfirmDialog(f"Check out room {room['room']} ({room['guest']})?"), done)

    def action_reload(self) -> None:
        self._load()

    def action_focus_rooms(self) -> None:
        self.query_one("#rooms", DataTable).focus()

    def action_focus_late(self) -> None:
        self.query_one("#late", DataTable).focus()
