"""FreeSWITCH event socket (inbound) client: auth, `event plain`, calls in progress, records from hangups.

Framing: a header block ended by a blank line, then exactly `Content-Length` body bytes when the header says so
(never split a body on blank lines). Plain event bodies are `Header: value` lines with URL-encoded values.
CHANNEL_CREATE makes a call active ("ringing"), CHANNEL_ANSWER makes it "up", CHANNEL_HANGUP_COMPLETE (one per
leg) ends it: its raw body is journaled, then rewritten as the mod_json_cdr document FreeSWITCH would have written
for that leg and parsed by ingest/cdr/freeswitch_json.py, so a live leg and the same leg's JSON CDR file are the
same record. Calls are keyed by Channel-Call-UUID (the a-leg's uuid), legs by Unique-ID.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import unquote

import trio

from i18n import _
from ingest.cdr import Item, ParseContext, Reject, freeswitch_json
from pbx import parsing
from pbx.protocol import ActiveCall

MAX_HEADER = 64 * 1024
MAX_BODY = 1 << 20
LOGIN_TIMEOUT = 15.0  # seconds from connect to the answer to `event plain`
MAX_CALLS = 20_000  # calls in progress tracked; past this the oldest are dropped (a hangup we never saw)
EVENTS = "CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE HEARTBEAT"


class EslError(Exception):
    pass


def headers(text: str, *, decode: bool = False) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            value = value[1:] if value.startswith(" ") else value
            out.setdefault(key.strip(), unquote(value) if decode else value)
    return out


class FrameReader:
    """Bytes in, (headers, body) frames out; bounded: a header block over MAX_HEADER or a body announced over
    MAX_BODY raises EslError, so the buffer never holds more than one of each."""

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, data: bytes) -> list[tuple[dict[str, str], bytes]]:
        self.buffer += data
        out = []
        while True:
            end = self.buffer.find(b"\n\n")
            if end < 0:
                if len(self.buffer) > MAX_HEADER:
                    raise EslError(_("a header block of more than 64 KiB"))
                return out
            head = headers(self.buffer[:end].decode("utf-8", errors="replace"))
            length = head.get("Content-Length", "0").strip()
            if not length.isdigit() or int(length) > MAX_BODY:
                raise EslError(_(
                    "Content-Length {length} is not a size up to {limit}").format(length=repr(length), limit=MAX_BODY))
            size = int(length)
            if len(self.buffer) < end + 2 + size:
                return out
            body = self.buffer[end + 2:end + 2 + size]
            self.buffer = self.buffer[end + 2 + size:]
            if head:
                out.append((head, body))


def hangup_item(text: str, jid: int, ctx: ParseContext) -> Item:
    """A journaled CHANNEL_HANGUP_COMPLETE body -> the item of the JSON CDR document of that leg."""
    f = headers(text, decode=True)
    if f.get("Event-Name") != "CHANNEL_HANGUP_COMPLETE":
        return Reject(line=jid, raw=text, reason="esl: " + _("{event} is not a hangup").format(
        event=repr(f.get("Event-Name", "no Event-Name"))))
    variables = {k[len("variable_"):]: v for k, v in f.items() if k.startswith("variable_")}
    variables.setdefault("uuid", f.get("Unique-ID", ""))
    profile = {"caller_id_number": f.get("Caller-Caller-ID-Number", ""),
               "caller_id_name": f.get("Caller-Caller-ID-Name", ""),
               "destination_number": f.get("Caller-Destination-Number", ""),
               "context": f.get("Caller-Context", ""), "uuid": f.get("Unique-ID", "")}
    times = {"created_time": f.get("Caller-Channel-Created-Time", ""),
             "answered_time": f.get("Caller-Channel-Answered-Time", ""),
             "hangup_time": f.get("Caller-Channel-Hangup-Time", "")}
    doc = {"channel_data": {"direction": f.get("Call-Direction", "")}, "variables": variables,
           "callflow": {"caller_profile": {k: v for k, v in profile.items() if v},
                        "times": {k: v for k, v in times.items() if v}}}
    item = freeswitch_json.build(doc, jid, text, ctx)
    return item


async def session(daemon: Any, src: Any, stream: trio.SocketStream, peer: str) -> None:
    from pbx.daemon import SessionError

    reader = FrameReader()
    state = "auth"
    calls: dict[str, dict[str, Any]] = {}
    conn = f"esl-{id(stream)}"
    login_deadline = trio.current_time() + LOGIN_TIMEOUT
    try:
        while True:
            with trio.move_on_at(login_deadline if state != "events" else float("inf")) as timer:
                data = await stream.receive_some(65536)
            if timer.cancelled_caught:
                raise SessionError("esl: " + _("not logged in and subscribed within {seconds} s").format(
                    seconds=f"{LOGIN_TIMEOUT:g}"))
            if not data:
                return
            try:
                frames = reader.feed(data)
            except EslError as exc:
                raise SessionError(f"esl: {exc}") from None
            for head, body in frames:
                kind = head.get("Content-Type", "")
                if kind == "auth/request":
                    await stream.send_all(f"auth {src.password or ''}\n\n".encode())
                elif kind == "command/reply" and state == "auth":
                    if not head.get("Reply-Text", "").startswith("+OK"):
                        raise SessionError("esl: " + _("authentication refused: {reason}").format(
                            reason=head.get("Reply-Text", "")))
                    state = "subscribe"
                    await stream.send_all(f"event plain {EVENTS}\n\n".encode())
                elif kind == "command/reply" and state == "subscribe":
                    if not head.get("Reply-Text", "").startswith("+OK"):
                        raise SessionError("esl: " + _("event subscription refused: {reason}").format(
                            reason=head.get("Reply-Text", "")))
                    state = "events"
                elif kind == "text/disconnect-notice":
                    return
                elif kind == "text/event-plain":
                    text = body.decode("utf-8", errors="replace")
                    await _event(daemon, src, conn, calls, text)
    finally:
        for key in list(calls):
            daemon.call_gone(key)


async def _event(daemon: Any, src: Any, conn: str, calls: dict[str, dict[str, Any]], text: str) -> None:
    f = headers(text, decode=True)
    name = f.get("Event-Name", "")
    call_id = f.get("Channel-Call-UUID") or f.get("Unique-ID", "")
    key = f"{src.name}:{call_id}"
    if name == "CHANNEL_HANGUP_COMPLETE":
        await daemon.submit(src.name, conn, [(parsing.ESL, text.encode())])
        call = calls.get(key)
        if call is not None:
            call["legs"].discard(f.get("Unique-ID", ""))
            if not call["legs"]:
                del calls[key]
                daemon.call_gone(key)
        return
    if name == "CHANNEL_CREATE":
        call = calls.get(key)
        if call is None:
            if len(calls) >= MAX_CALLS:  # bounded: forget the oldest (its hangup was lost)
                oldest = next(iter(calls))
                del calls[oldest]
                daemon.call_gone(oldest)
            created = f.get("Caller-Channel-Created-Time", "")
            start = int(created) // 1_000_000 if created.isdigit() and int(created) else int(time.time())
            fs_dir = f.get("Call-Direction", "")
            call = calls[key] = {"legs": set(), "start": start, "state": "ringing", "answer": None,
                                 "caller": f.get("Caller-Caller-ID-Number", ""),
                                 "dialled": f.get("Caller-Destination-Number", ""),
                                 "direction": "incoming" if fs_dir == "inbound" and f.get("variable_sip_gateway_name")
                                 else ""}
        call["legs"].add(f.get("Unique-ID", ""))
    elif name == "CHANNEL_ANSWER":
        call = calls.get(key)
        if call is None or call["state"] == "up":
            return
        call["state"], call["answer"] = "up", int(time.time())
    else:
        return
    daemon.call_active(ActiveCall(key=key, source=src.name, site=src.site, start=call["start"], state=call["state"],
                                  direction=call["direction"], extension=call["caller"], caller=call["caller"],
                                  dialled=call["dialled"], answer=call["answer"]))
