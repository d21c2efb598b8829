"""Asterisk Manager Interface client: login, calls in progress from channel events, records from `Cdr` events.

Packets are `Key: Value` lines ended by a blank line (keys matched case-insensitively; a value may hold colons).
A call is keyed by `Linkedid`: it is active from the first `Newchannel` of an unseen Linkedid (ActiveCall
"ringing"), "up" on `DialEnd` ANSWER or `Newstate` Up of a second channel, and gone when every channel of it has
sent `Hangup` (CallGone). The billing record is the `Cdr` event (cdr_manager): its raw packet is journaled, then
rewritten as the cdr_csv Master.csv line Asterisk would have written and parsed by ingest/cdr/asterisk.py, so a
live call and the same call read from Master.csv are the same record. A `Ping` keeps the session alive.
"""

from __future__ import annotations

import itertools
from typing import Any

import trio

from i18n import _
from ingest.cdr import Item, ParseContext, Reject
from ingest.cdr.classify import channel_base
from ingest.cdr.model import Facts
from pbx import parsing
from pbx.protocol import ActiveCall

MAX_PACKET = 64 * 1024
MAX_BANNER = 4096  # "Asterisk Call Manager/x.y.z" is about 30 bytes
LOGIN_TIMEOUT = 15.0  # seconds for the banner, and again for the answer to Login
MAX_CALLS = 20_000  # calls in progress tracked; past this the oldest are dropped (a Hangup we never saw)
PING_EVERY = 30.0
CDR_COLUMNS = (("accountcode", "s"), ("source", "s"), ("destination", "s"), ("destinationcontext", "s"),
               ("callerid", "s"), ("channel", "s"), ("destinationchannel", "s"), ("lastapplication", "s"),
               ("lastdata", "s"), ("starttime", "s"), ("answertime", "t"), ("endtime", "s"), ("duration", "n"),
               ("billableseconds", "n"), ("disposition", "s"), ("amaflags", "s"), ("uniqueid", "s"),
               ("userfield", "s"), ("peeraccount", "s"), ("linkedid", "s"), ("sequence", "n"))


class AmiError(Exception):
    pass


def packet(text: str) -> dict[str, str]:
    """One packet's headers, keys lower-cased; the first of a repeated key wins."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out.setdefault(key.strip().lower(), value[1:] if value.startswith(" ") else value)
    return out


class PacketReader:
    """Bytes in, packets (raw text) out; bounded: a packet over MAX_PACKET raises AmiError."""

    def __init__(self) -> None:
        self.buffer = b""
        self._cr = False  # the last read ended with CR: its LF may start the next one

    def feed(self, data: bytes) -> list[str]:
        if self._cr:
            data = b"\r" + data
        self._cr = data.endswith(b"\r")
        if self._cr:
            data = data[:-1]
        self.buffer += data.replace(b"\r\n", b"\n")
        out = []
        while True:
            end = self.buffer.find(b"\n\n")
            if end < 0:
                if len(self.buffer) > MAX_PACKET:
                    raise AmiError(_("a packet of more than {limit} bytes").format(limit=MAX_PACKET))
                return out
            text, self.buffer = self.buffer[:end], self.buffer[end + 2:]
            if text.strip():
                out.append(text.decode("utf-8", errors="replace"))


def cdr_item(text: str, jid: int, ctx: ParseContext) -> Item:
    """A journaled Cdr packet -> the item of its cdr_csv line (parsed by the asterisk file parser)."""
    f = packet(text)
    if "event" not in f:
        return Reject(line=jid, raw=text, reason="ami: " + _("not an event packet"))
    cells = []
    for key, kind in CDR_COLUMNS:
        value = f.get(key, "").strip() if kind != "s" else f.get(key, "")
        if kind == "n":
            cells.append(value or "0")
        elif kind == "t":
            cells.append(f'"{value}"' if value.strip() else "")
        else:
            cells.append('"' + value.replace('"', '""') + '"')
    item = parsing.one_line("asterisk", ",".join(cells).encode(), ctx)
    if isinstance(item, Reject):
        return Reject(line=jid, raw=text, reason=item.reason)
    item.raw = text
    return item


async def session(daemon: Any, src: Any, stream: trio.SocketStream, peer: str) -> None:
    """Log in, then follow events until the connection ends (raises SessionError on a refused login)."""
    from pbx.daemon import SessionError

    reader = PacketReader()
    banner = b""
    with trio.move_on_after(LOGIN_TIMEOUT) as timer:
        while b"\n" not in banner:
            if len(banner) >= MAX_BANNER:
                raise SessionError("ami: " + _("no banner line in the first {limit} bytes: {banner}").format(
                    limit=MAX_BANNER, banner=repr(banner[:60])))
            data = await stream.receive_some(MAX_BANNER)
            if not data:
                raise SessionError("ami: " + _("the server closed the connection before its banner"))
            banner += data
    if timer.cancelled_caught:
        raise SessionError("ami: " + _("no banner within {seconds} s").format(seconds=f"{LOGIN_TIMEOUT:g}"))
    first, _nl, rest = banner.partition(b"\n")
    if not first.startswith(b"Asterisk Call Manager"):
        raise SessionError("ami: " + _("unexpected banner {banner}").format(banner=repr(first[:60])))
    ids = itertools.count(1)
    await stream.send_all(_action("Login", next(ids), Username=src.username or "", Secret=src.password or "",
                                  Events="call,cdr"))
    tracker = Tracker(daemon, src)
    pending = reader.feed(rest)
    logged_in = False
    login_deadline = trio.current_time() + LOGIN_TIMEOUT
    conn = f"ami-{id(stream)}"
    async with trio.open_nursery() as nursery:
        while True:
            for text in pending:
                f = packet(text)
                if not logged_in:
                    if "response" not in f:
                        continue
                    if f["response"].lower() != "success":
                        raise SessionError("ami: " + _("login refused: {reason}").format(
                            reason=f.get("message", f["response"])))
                    logged_in = True
                    nursery.start_soon(_pinger, stream, ids)
                    continue
                event = f.get("event", "").lower()
                if event == "cdr":
                    linked = f.get("linkedid") or tracker.linked.get(f.get("uniqueid", ""), "")
                    if linked and "linkedid" not in f:
                        text += f"\nLinkedid: {linked}"
                    await daemon.submit(src.name, conn, [(parsing.AMI, text.encode())])
                elif event:
                    tracker.event(event, f)
            with trio.move_on_at(login_deadline if not logged_in else float("inf")) as timer:
                data = await stream.receive_some(65536)
            if timer.cancelled_caught:
                raise SessionError("ami: " + _(
                    "no answer to Login within {seconds} s").format(seconds=f"{LOGIN_TIMEOUT:g}"))
            if not data:
                tracker.clear()
                nursery.cancel_scope.cancel()
                return
            try:
                pending = reader.feed(data)
            except AmiError as exc:
                raise SessionError(str(exc)) from None


class Tracker:
    """Calls in progress by Linkedid."""

    def __init__(self, daemon: Any, src: Any) -> None:
        self.daemon = daemon
        self.src = src
        self.calls: dict[str, dict[str, Any]] = {}
        self.linked: dict[str, str] = {}  # uniqueid -> linkedid (also for Cdr events without Linkedid)

    def event(self, name: str, f: dict[str, str]) -> None:
        linked = f.get("linkedid", "")
        uid = f.get("uniqueid", "")
        if not linked:
            return
        call = self.calls.get(linked)
        if name == "newchannel":
            if uid:
                if len(self.linked) > 100_000:
                    self.linked.clear()
                self.linked[uid] = linked
            if call is None:
                if len(self.calls) >= MAX_CALLS:  # bounded: forget the oldest (its Hangup was lost)
                    oldest = next(iter(self.calls))
                    del self.calls[oldest]
                    self.daemon.call_gone(f"{self.src.name}:{oldest}")
                exten = f.get("exten", "")
                direction = self._direction(f)
                call = self.calls[linked] = {"channels": set(), "start": int(float(linked.split("-")[-1]))
                                             if _epochish(linked) else 0, "caller": f.get("calleridnum", ""),
                                             "exten": exten, "direction": direction, "state": "ringing",
                                             "answer": None}
                if not call["start"]:
                    import time

                    call["start"] = int(time.time())
            call["channels"].add(uid)
            self._publish(linked, call)
        elif call is None:
            return
        elif name == "dialend" and f.get("dialstatus", "").upper() == "ANSWER" or \
                name == "newstate" and f.get("channelstate") == "6" and uid != linked:
            if call["state"] != "up":
                import time

                call["state"], call["answer"] = "up", int(time.time())
                self._publish(linked, call)
        elif name == "hangup":
            call["channels"].discard(uid)
            if not call["channels"]:
                del self.calls[linked]
                self.daemon.call_gone(f"{self.src.name}:{linked}")

    def _direction(self, f: dict[str, str]) -> str:
        """The direction of a new call by the rules that will classify its record (the source's channel patterns,
        the site's extensions: DaemonConfig.direction), from what the first channel says; "" (shown as not known
        yet) without those rules or when they fail: never a guess from the context name alone."""
        decide = getattr(getattr(self.daemon, "config", None), "direction", None)
        if decide is None:
            return ""
        facts = Facts(origin=channel_base(f.get("channel", "")), context=f.get("context", ""))
        try:
            return decide(self.src.name, facts, f.get("calleridnum", ""), f.get("exten", ""))
        except Exception:  # a display hint only: the call itself is classified when its record arrives
            return ""

    def _publish(self, linked: str, call: dict[str, Any]) -> None:
        self.daemon.call_active(ActiveCall(
            key=f"{self.src.name}:{linked}", source=self.src.name, site=self.src.site, start=call["start"],
            state=call["state"], direction=call["direction"],
            extension=call["caller"] if call["direction"] != "incoming" else call["exten"],
            caller=call["caller"], dialled=call["exten"], answer=call["answer"]))

    def clear(self) -> None:
        for linked in list(self.calls):
            self.daemon.call_gone(f"{self.src.name}:{linked}")
        self.calls.clear()


def _epochish(uid: str) -> bool:
    tail = uid.split("-")[-1]
    head, _dot, frac = tail.partition(".")
    return head.isdigit() and len(head) >= 9 and (not frac or frac.isdigit())


def _action(name: str, action_id: int, **headers: str) -> bytes:
    lines = [f"Action: {name}", f"ActionID: {action_id}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _pinger(stream: trio.SocketStream, ids: Any) -> None:
    while True:
        await trio.sleep(PING_EVERY)
        await stream.send_all(_action("Ping", next(ids)))
