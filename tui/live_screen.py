"""Live: what the daemon (`anatole serve`) sees now — calls in progress, the stream of finished calls with their
cost, rolling counters with sparklines, and alerts that blink until someone acknowledges them.

The socket is read by `tui.live.LiveClient` in a thread worker; each recv's messages arrive here as one LiveEvent
and are applied in one batch_update. Rows are keyed (active calls by their key, finished calls by store id,
alerts by id) and updated in place, cell by cell, only where a value changed. Without a daemon the screen says so,
shows the latest calls from the store, and keeps trying to connect.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from typing import Any
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Input, Sparkline, Static
from textual.worker import get_current_worker

from i18n import _, ngettext, pgettext
from pbx.protocol import (
    Acknowledge,
    ActiveCall,
    Alert,
    AlertAcknowledged,
    CallGone,
    Counters,
    Error,
    FinishedCall,
    Hello,
    Skipped,
    SourceUpdate,
    Status,
    StatusRequest,
)
from store import display
from tui.data import StoreError, direction_label, direction_word, duration_text, short_time
from tui.filters import CallFilter, FilterError, help_text, parse_filter
from tui.keybar import KeyBar
from tui.live import Batch, Connected, Disconnected, Event, LiveClient

SLACK = 500  # finished rows beyond `keep` before the table is trimmed (one rebuild per SLACK calls, not per call)
SEVERITY_STYLE = {"critical": "bold red", "warning": "bold yellow", "info": "cyan"}
LIVE_FORMATS = ("asterisk-ami", "freeswitch-esl")  # sources that report calls in progress; the others (SMDR,
# CDR files) report a call when it ends
UP_STATES = ("listening", "connected")
STATUS_EVERY = 5.0  # seconds between StatusRequests (rejects, per-source counts) while connected
ALERT_ROWS = (6, 10, 16)  # the alerts pane's heights (live.tcss), cycled by "+" (z maximises it)


def severity_label(severity: str, short: bool = False) -> str:
    """An alert's severity in the user's language; `short`: the alerts table's four letters."""
    if short:
        labels = {"critical": pgettext("severity, short", "crit"), "warning": pgettext("severity, short", "warn"),
                  "info": pgettext("severity, short", "info")}
        return labels.get(severity, severity[:4])
    labels = {"critical": pgettext("severity", "critical"), "warning": pgettext("severity", "warning"),
              "info": pgettext("severity", "info")}
    return labels.get(severity, severity)


def state_label(state: str) -> str:
    """A source's or a call in progress's state (protocol codes) in the user's language."""
    labels = {"listening": pgettext("state", "listening"), "connected": pgettext("state", "connected"),
              "connecting": pgettext("state", "connecting"), "reconnecting": pgettext("state", "reconnecting"),
              "down": pgettext("state", "down"), "ringing": pgettext("state", "ringing"),
              "up": pgettext("state", "up"), "held": pgettext("state", "held")}
    return labels.get(state, state)


class StoreCounters(Message):
    """Today's and this hour's figures read from the store (no daemon, or the daemon gone)."""

    def __init__(self, counters: Counters | None, error: str = "") -> None:
        super().__init__()
        self.counters, self.error = counters, error


class LiveEvent(Message):
    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class HistoryLoaded(Message):
    def __init__(self, calls: list[FinishedCall], error: str = "") -> None:
        super().__init__()
        self.calls, self.error = calls, error


class FinishedTable(DataTable):
    """The finished calls: on its newest row it stays there when its height changes (a pane above it grows, the
    terminal is resized), instead of keeping the scroll offset it had."""

    def on_resize(self, event: events.Resize) -> None:
        if self.row_count and self.cursor_row >= self.row_count - 1:
            self.call_after_refresh(self.scroll_end, animate=False)


class LiveScreen(Screen):
    CSS_PATH = "live.tcss"
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]  # live.tcss: at 24 rows the finished calls stay in view
    BINDINGS = [
        Binding("slash", "filter", _("Filter"), key_display="/"),
        Binding("p", "pause", _("Pause/resume")),
        Binding("a", "acknowledge", _("Acknowledge alert")),
        Binding("z", "zoom_alerts", _("Maximise alerts")),
        Binding("plus", "grow_alerts", _("Alerts taller"), key_display="+", show=False),
        Binding("tab", "app.focus_next", _("Next table"), show=False),
        Binding("escape", "leave_filter", _("Back to the tables"), show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.client: LiveClient | None = None
        self.connected: Hello | None = None
        self.status_text = _("connecting…")
        self.filter = CallFilter()
        self.active: dict[str, ActiveCall] = {}
        self.active_cells: dict[str, tuple[Any, ...]] = {}
        self.finished: deque[FinishedCall] = deque()
        self.finished_shown = 0
        self.alerts: dict[int, Alert] = {}
        self.counters: Counters | None = None
        self.per_minute: deque[float] = deque(maxlen=60)
        self.cost_hour: deque[float] = deque(maxlen=60)
        self.paused = False
        self.held: deque[FinishedCall] = deque()
        self.held_count = 0
        self.processed = 0  # finished calls applied (the benchmark reads it)
        self.flash_on = False
        self.history_error = ""
        self.keep = 500
        self.status: Status | None = None  # the daemon's last Status (rejects, per-source counts)
        self.gone_since: float | None = None  # when the daemon went away: the figures shown are frozen since
        self.store_counters: Counters | None = None  # from the store while there is no daemon
        self.alert_order: list[int] = []  # alert ids as shown: open first, then newest first
        self.alert_rows = 0  # index in ALERT_ROWS

    def compose(self) -> ComposeResult:
        yield Static(_("Live"), classes="title", id="live-title")
        yield Static("", id="live-status", classes="message")
        keys = help_text(("site", "ext", "dir", "dest", "num", "min"))
        yield Input(placeholder=_("/ filter: {keys}").format(keys=keys), id="live-filter", classes="line-input")
        yield Static("", id="live-counters")
        with Horizontal(id="sparks"):
            yield Static(_("calls/min"), classes="spark-label")
            yield Sparkline([], id="spark-calls")
            yield Static(_("cost/hour"), classes="spark-label", id="spark-cost-label")
            yield Sparkline([], id="spark-cost")
        yield Static("", id="live-sources")
        yield DataTable(id="alerts", cursor_type="row")
        yield Static("", id="alert-detail")
        yield Static("", id="active-note")
        yield DataTable(id="active", cursor_type="row")
        yield FinishedTable(id="finished", cursor_type="row", zebra_stripes=True)
        yield KeyBar()

    def on_mount(self) -> None:
        ctx = self.app.ctx
        self.keep = ctx.keep
        # the breakpoint's class now, not at the first Resize: a later layout change would leave the finished
        # table scrolled short of its newest row
        self.set_class(self.app.size.height < self.VERTICAL_BREAKPOINTS[1][0], "-short")
        self.set_class(self.app.size.height >= self.VERTICAL_BREAKPOINTS[1][0], "-tall")
        alerts = self.query_one("#alerts", DataTable)
        alerts_columns = {"time": _("time"), "sev": _("sev"), "state": _("state"), "alert": _("alert"),
                          "message": _("message")}
        for key, label in alerts_columns.items():  # state before the message: always in view
            alerts.add_column(label, key=key)
        active = self.query_one("#active", DataTable)
        active_columns = {"since": _("since"), "site": _("site"), "ext": _("ext"), "dir": _("dir"),
                          "number": _("number"), "state": _("state"), "elapsed": _("elapsed")}
        for key, label in active_columns.items():
            active.add_column(label, key=key)
        finished = self.query_one("#finished", DataTable)
        finished_columns = {"ended": _("ended"), "site": _("site"), "ext": _("ext"), "dir": _("dir"),
                            "number": _("number"), "dur": _("dur"), "cost": _("cost"),
                            "destination": _("destination")}
        for key, label in finished_columns.items():
            finished.add_column(label, key=key)
        finished.focus()
        self._show_counters()
        self._show_status()
        self._show_alert_detail()
        self._history()
        self._read_store_counters()
        self.client = LiveClient(ctx.socket_path, retry=ctx.retry_seconds)
        self._listen(self.client)
        self.set_interval(1.0, self._tick)
        self.set_interval(STATUS_EVERY, self._ask_status)
        if ctx.flash:
            self.set_interval(0.5, self._flash)

    def on_unmount(self) -> None:
        if self.client is not None:
            self.client.stop()

    # --- workers --------------------------------------------------------------------------------------------

    @work(thread=True, group="live-socket")
    def _listen(self, client: LiveClient) -> None:
        worker = get_current_worker()

        def post(event: Event) -> None:
            if not worker.is_cancelled:
                self.post_message(LiveEvent(event))

        client.run(post)

    @work(thread=True, exclusive=True, group="live-history")
    def _history(self) -> None:
        try:
            rows = self.app.reader.page(CallFilter(), order="start_desc", limit=self.keep)
        except StoreError as exc:
            self.post_message(HistoryLoaded([], str(exc)))
            return
        calls = [FinishedCall(id=r["id"], source=r["source"], site=r["site"], start=r["start"],
                              duration=r["duration"], billable=r["billable"], direction=r["direction"],
                              disposition=r["disposition"], status=r["status"], extension=r["extension"] or "",
                              caller=r["caller"] or "", dialled=r["dialled"] or "", number=r["number"] or "",
                              destination=r["destination"] or "", band=r["band"] or "",
                              cost=r["cost"] if r["billed"] else (0 if r["cost"] is not None else None),
                              currency=r["currency"] or "") for r in reversed(rows)]
        self.post_message(HistoryLoaded(calls))

    @work(thread=True, exclusive=True, group="live-store-counters")
    def _read_store_counters(self) -> None:
        """Today (each site's local midnight) and this hour, per site and currency, from the store."""
        ctx = self.app.ctx
        now = int(ctx.clock())
        hour = now - now % 3600
        today: dict[str, dict[str, int]] = {}
        this_hour: dict[str, dict[str, int]] = {}
        calls = 0
        try:
            for site in ctx.sites or {}:
                local = dt.datetime.fromtimestamp(now, ZoneInfo(ctx.zone(site)))
                midnight = int(local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())
                day = self.app.reader.totals(CallFilter(start=midnight, site=site))
                last = self.app.reader.totals(CallFilter(start=hour, site=site))
                if day is None or last is None:
                    return  # interrupted by a newer count: that one will report
                calls += day["calls"]
                today[site], this_hour[site] = dict(day["cost"]), dict(last["cost"])
        except (StoreError, FilterError) as exc:
            self.post_message(StoreCounters(None, str(exc)))
            return
        self.post_message(StoreCounters(Counters(at=now, active=0, calls_last_minute=0, calls_today=calls,
                                                 costs_today=today, costs_this_hour=this_hour)))

    def on_store_counters(self, message: StoreCounters) -> None:
        if message.counters is not None:
            self.store_counters = message.counters
            self._show_counters()

    def _ask_status(self) -> None:
        if self.client is not None and self.connected is not None:
            self._send_status_request()

    @work(thread=True, group="live-send")
    def _send_status_request(self) -> None:
        if self.client is not None:
            self.client.send(StatusRequest())

    def on_history_loaded(self, message: HistoryLoaded) -> None:
        if message.error:
            self.history_error = message.error
            self._show_status()
            return
        self.history_error = ""
        known = {c.id for c in self.finished}
        merged = [c for c in message.calls if c.id not in known] + list(self.finished)
        self.finished = deque(merged[-self.keep:])
        self._rebuild_finished()
        self._show_status()

    # --- events from the daemon ---------------------------------------------------------------------------

    def on_live_event(self, message: LiveEvent) -> None:
        event = message.event
        if isinstance(event, Connected):
            self.connected = event.hello
            self.gone_since = None
            self._show_status()
            self._show_counters()
            self._send_status_request()
        elif isinstance(event, Disconnected):
            was = self.connected is not None
            self.connected = None
            self.status_text = event.reason
            if was:
                self.gone_since = self.app.ctx.clock()
            self._show_status()
            self._show_counters()
            if was:
                self._history()  # what happened while we were away is in the store
                self._read_store_counters()
        elif isinstance(event, Batch):
            self._apply(event.messages)

    def _apply(self, messages: list[Any]) -> None:
        finished: list[FinishedCall] = []
        with self.app.batch_update():
            for m in messages:
                if isinstance(m, ActiveCall):
                    self.active[m.key] = m
                    self._show_active(m)
                elif isinstance(m, CallGone):
                    self._drop_active(m.key)
                elif isinstance(m, FinishedCall):
                    if m.key:
                        self._drop_active(m.key)
                    finished.append(m)
                elif isinstance(m, Alert):
                    self.alerts[m.id] = m
                    self._show_alert(m)
                elif isinstance(m, AlertAcknowledged):
                    old = self.alerts.get(m.id)
                    if old is not None:
                        self.alerts[m.id] = Alert(**{**_fields(old), "acknowledged_by": m.by,
                                                     "acknowledged_at": m.at})
                        self._show_alert(self.alerts[m.id])
                elif isinstance(m, Counters):
                    self.counters = m
                    self.per_minute.append(float(m.calls_last_minute))
                    hourly = _costs(m, "hour")  # the sparkline follows one currency: the workspace's
                    self.cost_hour.append(float(sum(v.get(m.currency, 0) for v in hourly.values())))
                    self._show_counters()
                elif isinstance(m, Hello):
                    self.connected = m
                    self._show_status()
                elif isinstance(m, Status):
                    self.status = m
                    if m.sources and self.connected is not None:
                        self.connected = Hello(**{**_fields(self.connected), "sources": list(m.sources)})
                    self._show_status()
                    self._show_counters()
                elif isinstance(m, SourceUpdate) and self.connected is not None:
                    others = [x for x in self.connected.sources if x.name != m.source.name]
                    self.connected = Hello(**{**_fields(self.connected), "sources": [*others, m.source]})
                    self._show_status()
                elif isinstance(m, Skipped):
                    self.notify(ngettext("the daemon dropped {count} {topic} message for this console: reloading "
                                         "from the store",
                                         "the daemon dropped {count} {topic} messages for this console: reloading "
                                         "from the store", m.count).format(count=m.count, topic=m.topic),
                                severity="warning")
                    if m.topic == "calls":
                        self._history()
                elif isinstance(m, Error):
                    self.notify(_("daemon: {message}").format(message=m.message), severity="error")
            if finished:
                self._add_finished(finished)

    # --- active calls -------------------------------------------------------------------------------------

    def _active_cells(self, a: ActiveCall) -> tuple[Any, ...]:
        ctx = self.app.ctx
        elapsed = max(0, int(ctx.clock()) - a.start)
        return (short_time(a.start, ctx.zone(a.site), ctx.clock()), a.site, a.extension,
                direction_label(a.direction), a.number or a.dialled or a.caller, state_label(a.state),
                duration_text(elapsed))

    def _show_active(self, a: ActiveCall) -> None:
        table = self.query_one("#active", DataTable)
        visible = self.filter.matches(site=a.site, extension=a.extension, direction=a.direction,
                                      number=a.number or a.dialled)
        cells = self._active_cells(a)
        old = self.active_cells.get(a.key)
        if not visible:
            if old is not None:
                self._drop_row(table, a.key)
            return
        if old is None:
            table.add_row(*cells, key=a.key)
        else:
            for column, before, after in zip(table.columns, old, cells):
                if before != after:
                    table.update_cell(a.key, column, after)
        self.active_cells[a.key] = cells

    def _drop_active(self, key: str) -> None:
        self.active.pop(key, None)
        if key in self.active_cells:
            self._drop_row(self.query_one("#active", DataTable), key)

    def _drop_row(self, table: DataTable, key: str) -> None:
        self.active_cells.pop(key, None)
        if key in table.rows:
            table.remove_row(key)

    def _tick(self) -> None:
        """Once a second: the elapsed time of calls in progress (only that cell changes)."""
        with self.app.batch_update():
            for a in list(self.active.values()):
                if a.key in self.active_cells:
                    self._show_active(a)

    # --- finished calls -----------------------------------------------------------------------------------

    def _add_finished(self, calls: list[FinishedCall]) -> None:
        if self.paused:
            self.held.extend(calls)
            self.held_count += len(calls)
            while len(self.held) > self.keep:
                self.held.popleft()
            self._show_status()
            return
        for c in calls:
            self.finished.append(c)
        while len(self.finished) > self.keep:
            self.finished.popleft()
        table = self.query_one("#finished", DataTable)
        follow = table.row_count == 0 or table.cursor_row >= table.row_count - 1
        if self.finished_shown + len(calls) > self.keep + SLACK:
            self._rebuild_finished()
        else:
            for c in calls[-self.keep:]:
                if self._visible(c):
                    self._add_finished_row(table, c)
        self.processed += len(calls)
        if follow and table.row_count:
            table.move_cursor(row=table.row_count - 1, animate=False)

    def _visible(self, c: FinishedCall) -> bool:
        return self.filter.matches(site=c.site, extension=c.extension, direction=c.direction,
                                   number=c.number or c.dialled, destination=c.destination, start=c.start,
                                   cost=c.cost, status=c.status)

    def _add_finished_row(self, table: DataTable, c: FinishedCall) -> None:
        key = str(c.id)
        if key in table.rows:
            return
        ctx = self.app.ctx
        ended = short_time(c.start + c.duration, ctx.zone(c.site), ctx.clock())  # the call's site's zone, shown
        cost = display.money(c.cost, c.currency) if c.cost is not None else ""
        table.add_row(ended, c.site, c.extension, direction_label(c.direction),
                      c.number or c.dialled or c.caller, Text(duration_text(c.billable), justify="right"),
                      Text(cost, justify="right"), (c.destination or f"({direction_word(c.direction)})")[:24],
                      key=key)
        self.finished_shown += 1

    def _rebuild_finished(self) -> None:
        table = self.query_one("#finished", DataTable)
        with self.app.batch_update():
            table.clear()
            self.finished_shown = 0
            for c in self.finished:
                if self._visible(c):
                    self._add_finished_row(table, c)
            if table.row_count:
                table.move_cursor(row=table.row_count - 1, animate=False)

    # --- alerts -------------------------------------------------------------------------------------------

    def _alert_cells(self, a: Alert) -> tuple[Any, ...]:
        ctx = self.app.ctx
        state = _("ack {by}").format(by=a.acknowledged_by) if a.acknowledged_by else pgettext("alert", "OPEN")
        return (short_time(a.at, ctx.zone(a.site or self.filter.site), ctx.clock()),
                Text(severity_label(a.severity, short=True), style=SEVERITY_STYLE.get(a.severity, "")),
                Text(state, style="" if a.acknowledged_by else "bold reverse"), a.rule, a.message)

    def _show_alert(self, a: Alert) -> None:
        """Open alerts first, then newest first: rows are updated in place while the order holds, else re-laid."""
        table = self.query_one("#alerts", DataTable)
        order = [x.id for x in sorted(self.alerts.values(),
                                      key=lambda x: (bool(x.acknowledged_by), -x.at, -x.id))]
        key = str(a.id)
        if order == self.alert_order and key in table.rows:
            for column, value in zip(("time", "sev", "state", "alert", "message"), self._alert_cells(a)):
                if str(table.get_cell(key, column)) != str(value):
                    table.update_cell(key, column, value)
        else:
            current = None
            if table.row_count:
                current = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
            table.clear()
            for i in order:
                table.add_row(*self._alert_cells(self.alerts[i]), key=str(i))
            self.alert_order = order
            if current is not None and current in table.rows:
                table.move_cursor(row=table.get_row_index(current), animate=False)
        self._show_alert_detail()
        self._show_counters()

    def _highlighted_alert(self) -> Alert | None:
        table = self.query_one("#alerts", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return self.alerts.get(int(key)) if key is not None else None

    def _show_alert_detail(self) -> None:
        """The highlighted alert in full (its message is never cut here), with when, in the site's zone."""
        widget = self.query_one("#alert-detail", Static)
        a = self._highlighted_alert()
        if a is None:
            widget.update(Text(_("no alerts") if not self.alerts else "", style="dim"))
            return
        ctx = self.app.ctx
        state = (_("acknowledged by {by}").format(by=a.acknowledged_by) if a.acknowledged_by
                 else pgettext("alert", "OPEN"))
        text = Text(f"#{a.id} ", style="bold")
        text.append(severity_label(a.severity), style=SEVERITY_STYLE.get(a.severity, ""))
        where = ""
        if a.site and a.extension:
            where = _(" · {site} ext {ext}").format(site=a.site, ext=a.extension)
        elif a.site:
            where = f" · {a.site}"
        elif a.extension:
            where = _(" ext {ext}").format(ext=a.extension)
        text.append(f" · {state} · {a.rule} · {display.when(a.at, ctx.zone(a.site or None))} "
                    f"({display.ago(a.at, ctx.clock())})" + where + f"\n{a.message}")
        widget.update(text)

    @on(DataTable.RowHighlighted, "#alerts")
    def _alert_highlighted(self) -> None:
        self._show_alert_detail()

    def action_zoom_alerts(self) -> None:
        """z: the alerts pane takes the screen (z again: back); the other tables are hidden meanwhile."""
        self.toggle_class("alerts-max")
        if self.has_class("alerts-max"):
            self.query_one("#alerts", DataTable).focus()

    def action_grow_alerts(self) -> None:
        """+: the alerts pane taller, then back to its first height."""
        table = self.query_one("#alerts", DataTable)
        table.remove_class(f"rows-{ALERT_ROWS[self.alert_rows]}")
        self.alert_rows = (self.alert_rows + 1) % len(ALERT_ROWS)
        table.add_class(f"rows-{ALERT_ROWS[self.alert_rows]}")

    def open_alerts(self) -> list[Alert]:
        return [a for a in self.alerts.values() if not a.acknowledged_by]

    def _flash(self) -> None:
        self.flash_on = not self.flash_on and bool(self.open_alerts())
        self.query_one("#alerts", DataTable).set_class(self.flash_on, "flash")

    def action_acknowledge(self) -> None:
        alert = self._highlighted_alert()
        if alert is None or alert.acknowledged_by:
            opened = self.open_alerts()
            alert = opened[0] if opened else None
        if alert is None:
            self.notify(_("no open alert to acknowledge"), timeout=2)
            return
        if self.client is None or self.connected is None:
            self.notify(_("not connected to the daemon: cannot acknowledge now"), severity="warning")
            return
        self._send(Acknowledge(alert=alert.id, by=self.app.ctx.user))

    @work(thread=True, group="live-send")
    def _send(self, message: Acknowledge) -> None:
        assert self.client is not None
        if not self.client.send(message):
            self.app.call_from_thread(self.notify, _("the daemon is gone: the acknowledgement was not sent"),
                                      severity="warning")

    # --- status and counters ------------------------------------------------------------------------------

    def _show_status(self) -> None:
        ctx = self.app.ctx
        widget = self.query_one("#live-status", Static)
        paused = (" · " + _("PAUSED ({count} new)").format(count=self.held_count)) if self.paused else ""
        error = self.history_error
        retry = _number(ctx.retry_seconds)
        if self.connected is not None:
            h = self.connected
            text = Text("● " + _("connected to the daemon (pid {pid}, up since {since})").format(
                pid=h.pid, since=display.when(h.started, ctx.zone())) + paused, style="green")
        elif self.gone_since is not None:
            text = Text("○ " + _("daemon gone since {since} ({why}) — figures frozen; retrying every {seconds} s")
                        .format(since=display.clock(self.gone_since, ctx.zone(), ctx.clock(), seconds=False),
                                why=self.status_text, seconds=retry) + paused, style="bold red")
        else:
            text = Text("○ " + _("{why} at {socket}: showing the latest calls from the store; retrying every "
                                 "{seconds} s").format(why=self.status_text, socket=ctx.shown(ctx.socket_path),
                                                       seconds=retry) + paused, style="yellow")
        if error:
            text.append(f"\n{error}", style="bold red")
        widget.update(text)
        self._show_sources()

    def _show_sources(self) -> None:
        """Each source by name, up or down (and why), and whether it can show calls in progress."""
        sources = self.connected.sources if self.connected is not None else []
        widget = self.query_one("#live-sources", Static)
        note = self.query_one("#active-note", Static)
        active = self.query_one("#active", DataTable)
        if not sources:
            widget.update(Text(_("sources: unknown (no daemon)") if self.connected is None else _("sources: none"),
                               style="dim"))
            note.display, active.display = False, True
            return
        text = Text(_("sources:") + " ")
        for i, s in enumerate(sorted(sources, key=lambda x: x.name)):
            if i:
                text.append(" · ")
            up = s.state in UP_STATES
            text.append(f"{'●' if up else '○'} {s.name}", style="green" if up else "bold red")
            since = display.clock(s.since, self.app.ctx.zone(), self.app.ctx.clock(), seconds=False)
            if up:
                text.append(" " + pgettext("source", "up"))
            elif s.detail:
                text.append(" " + _("{state} ({detail}) since {since}").format(state=state_label(s.state),
                                                                               detail=s.detail, since=since))
            else:
                text.append(" " + _("{state} since {since}").format(state=state_label(s.state), since=since))
        widget.update(text)
        live = [s for s in sources if s.format in LIVE_FORMATS]
        if not live:  # nothing could ever fill the table: say why instead of an empty frame
            note.update(Text(_("calls in progress: not shown — these sources (SMDR/CDR) report calls when they end"),
                             style="dim"))
            note.display, active.display = True, False
        else:
            others = [s.name for s in sources if s.format not in LIVE_FORMATS]
            names = ", ".join(s.name for s in live)
            if others:
                line = _("calls in progress from {names}; {others} report calls when they end (SMDR)").format(
                    names=names, others=", ".join(others))
            else:
                line = _("calls in progress from {names}").format(names=names)
            note.update(Text(line, style="dim"))
            note.display, active.display = True, True

    def _show_counters(self) -> None:
        c = self.counters
        widget = self.query_one("#live-counters", Static)
        opened = len(self.open_alerts())
        # since the daemon started
        rejects = (" · " + _("rejects {n}").format(n=self.status.stored_rejects)) if self.status else ""
        if self.connected is None and self.store_counters is not None and (c is None or self.gone_since is None
                                                                             or self.store_counters.at > c.at):
            s = self.store_counters
            gone = self.gone_since is not None
            prefix = Text((_("daemon gone — from the store:") if gone else _("no daemon:")) + " ",
                          style="bold red" if gone else "yellow")
            prefix.append(ngettext("today {n} call · alerts open {open}", "today {n} calls · alerts open {open}",
                                   s.calls_today).format(n=s.calls_today, open=opened) + "\n"
                          + _("cost today {today} · this hour {hour} (from the store)").format(
                              today=_costs_text(_costs(s, "today")), hour=_costs_text(_costs(s, "hour"))), style="")
            widget.update(prefix)
        elif c is None:
            widget.update(Text(_("active {active} · no counters yet · alerts open {open}").format(
                active=len(self.active), open=opened) + rejects))
        else:
            today, hour = _costs_text(_costs(c, "today")), _costs_text(_costs(c, "hour"))
            text = Text()
            if self.connected is None and self.gone_since is not None:
                text.append(_("FROZEN at {at} ({ago})").format(
                    at=display.clock(c.at, self.app.ctx.zone(), self.app.ctx.clock()),
                    ago=display.ago(c.at, self.app.ctx.clock())) + " · ", style="bold red")
            text.append(_("active {active} · calls/min {per_minute} · today {today} · alerts open {open}").format(
                            active=c.active, per_minute=c.calls_last_minute, today=c.calls_today,
                            open=max(opened, c.alerts_open)) + rejects + "\n"
                        + _("cost today {today} · this hour {hour}").format(today=today, hour=hour))
            widget.update(text)
            if c.currency:
                self.query_one("#spark-cost-label", Static).update(_("{currency}/hour").format(currency=c.currency))
        self.query_one("#spark-calls", Sparkline).data = list(self.per_minute)
        self.query_one("#spark-cost", Sparkline).data = list(self.cost_hour)

    # --- actions ------------------------------------------------------------------------------------------

    def action_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused:
            held = list(self.held)
            self.held.clear()
            self.held_count = 0
            with self.app.batch_update():
                self._add_finished(held)
        self._show_status()

    def action_filter(self) -> None:
        self.query_one("#live-filter", Input).focus()

    def action_leave_filter(self) -> None:
        self.query_one("#finished", DataTable).focus()

    @on(Input.Submitted, "#live-filter")
    def apply_filter(self, event: Input.Submitted) -> None:
        ctx = self.app.ctx
        try:
            flt = parse_filter(event.value, zone_of=ctx.zone, sites=ctx.sites)
        except FilterError as exc:
            self.query_one("#live-status", Static).update(Text(str(exc), style="bold red"))
            return
        self.filter = flt
        self._show_status()
        with self.app.batch_update():
            active = self.query_one("#active", DataTable)
            active.clear()
            self.active_cells.clear()
            for a in self.active.values():
                self._show_active(a)
            self._rebuild_finished()
        self.query_one("#finished", DataTable).focus()


def _costs(c: Counters, which: str) -> dict[str, dict[str, int]]:
    """Site -> currency -> amount; from a version 1 daemon (one amount per site, in `currency`) as well."""
    costs = c.costs_today if which == "today" else c.costs_this_hour
    if costs:
        return costs
    old = c.cost_today if which == "today" else c.cost_this_hour
    return {site: {c.currency: v} for site, v in old.items()}


def _costs_text(costs: dict[str, dict[str, int]]) -> str:
    """Each site's totals, each currency on its own with its own decimals: never one sum of two currencies."""
    sep = pgettext("list separator", "; ")  # French typography: " ; "
    return sep.join(f"{site} {display.totals(v, sep=', ')}" for site, v in sorted(costs.items())
                    if any(v.values())) or pgettext("cost", "none")


def _number(value: float) -> str:
    """A number of seconds as the language writes it (``0.2``, ``0,2``)."""
    try:
        from babel.numbers import format_decimal

        return format_decimal(value, locale=display.locale())
    except Exception:  # never raise on screen
        return f"{value:g}"


def _fields(struct: Any) -> dict[str, Any]:
    return {name: getattr(struct, name) for name in struct.__struct_fields__}
