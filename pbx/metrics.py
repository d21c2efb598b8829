"""Prometheus metrics of the daemon: `GET /metrics` on an optional loopback port, in the text exposition format.

Written by hand (a few lines, no dependency): HELP and TYPE lines, then one sample per line. The server is as small
as it can be: one request per connection, the request line and headers bounded (8 KiB, 5 s), GET /metrics only
(404 for another path, 405 for another method), at most MAX_CLIENTS scrapes at once. It is started in the daemon's
nursery (pbx/daemon.py) before the journal replay, so a scrape sees a daemon that is still starting.

The values are the daemon's own counters since it started (Prometheus handles the reset at a restart), the source
states, the open alerts, the journal backlog, and for a hotel the PMS postings not yet confirmed (a cheap count in
the store on a read-only connection, only when a scrape asks).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from importlib import metadata
from typing import Any

import trio

MAX_REQUEST = 8192  # bytes of request line and headers
REQUEST_TIME = 5.0  # seconds for a client to send them
MAX_CLIENTS = 16  # scrapes served at once; more are closed at once
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _version() -> str:
    try:
        return metadata.version("anatole")
    except metadata.PackageNotFoundError:  # pragma: no cover  (running from a tree that is not installed)
        return "unknown"


def _label(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(round(float(value), 3))


class Exposition:
    """The text format: families in order, each with its HELP and TYPE lines before its samples."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> None:
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for labels, value in samples:
            text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            self.lines.append(f"{name}{{{text}}} {_number(value)}" if text else f"{name} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def postings_pending(db_path: Any) -> int | None:
    """PMS postings queued or awaiting the PMS's answer; None when the workspace has no hotel (no such table)."""
    from store.hotel import TODO, posting_counts

    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return None
    try:
        counts = posting_counts(conn)
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return sum(counts.get(state, 0) for state in TODO)


def render(daemon: Any, pending: int | None = None, now: float | None = None) -> str:
    """The exposition of `daemon`'s state (a pbx.daemon.Daemon)."""
    from pbx.daemon import UP_STATES

    now = time.time() if now is None else now
    sources = list(daemon.states)
    out = Exposition()
    out.family("anatole_records_received_total", "counter", "Records received from the source since the daemon "
               "started.", [({"source": s}, daemon.received_by.get(s, 0)) for s in sources])
    out.family("anatole_calls_stored_total", "counter", "New calls stored since the daemon started.",
               [({"source": s}, daemon.stored_by.get(s, 0)) for s in sources])
    out.family("anatole_rejects_total", "counter", "Records stored as rejects (with their reason) since the daemon "
               "started.", [({"source": s}, daemon.rejects_by.get(s, 0)) for s in sources])
    out.family("anatole_duplicates_total", "counter", "Records received again and stored once.",
               [({}, daemon.duplicates)])
    out.family("anatole_source_up", "gauge", "1 when the source (or link) is listening or connected, else 0.",
               [({"source": s}, int(st.state in UP_STATES)) for s, st in daemon.states.items()])
    out.family("anatole_alerts_open", "gauge", "Alerts not acknowledged.", [({}, daemon.alerts_open)])
    out.family("anatole_journal_backlog", "gauge", "Records received and not yet stored.",
               [({}, max(0, daemon.received - daemon.processed))])
    if pending is not None:
        out.family("anatole_postings_pending", "gauge", "Hotel PMS postings queued or awaiting the PMS's answer.",
                   [({}, pending)])
    out.family("anatole_writer_errors_total", "counter", "Records whose parsing, rating, storing, alert rule or "
               "extension step failed (see the log).", [({}, daemon.errors)])
    out.family("anatole_last_record_age_seconds", "gauge", "Seconds since the source last sent records (absent "
               "until it has, since the daemon started).",
               [({"source": s}, max(0.0, now - daemon.last_at[s])) for s in sources if s in daemon.last_at])
    out.family("anatole_starting", "gauge", "1 while the daemon stores what the last run left in the journal.",
               [({}, int(daemon.starting))])
    out.family("anatole_build_info", "gauge", "The anatole version that runs.", [({"version": _version()}, 1)])
    return out.text()


async def open_listener(host: str, port: int) -> trio.SocketListener:
    """Bind the metrics port (raises OSError with the address when it cannot)."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    for extra in listeners[1:]:
        await extra.aclose()
    return listeners[0]


async def serve(daemon: Any, listener: trio.SocketListener) -> None:
    """Answer scrapes until cancelled."""
    slots = trio.Semaphore(MAX_CLIENTS)

    async def handler(stream: trio.SocketStream) -> None:
        if slots.value == 0:
            await stream.aclose()
            return
        async with slots:
            await _answer(daemon, stream)

    await trio.serve_listeners(handler, [listener])


async def _answer(daemon: Any, stream: trio.SocketStream) -> None:
    async with stream:
        head = b""
        with trio.move_on_after(REQUEST_TIME):
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                while b"\r\n\r\n" not in head and b"\n\n" not in head and len(head) <= MAX_REQUEST:
                    data = await stream.receive_some(4096)
                    if not data:
                        break
                    head += data
        line = head.split(b"\n", 1)[0].strip().decode("latin-1")
        parts = line.split()
        if len(head) > MAX_REQUEST:
            status, body = "431 Request Header Fields Too Large", "request too large\n"
        elif len(parts) != 3 or not parts[2].startswith("HTTP/"):
            status, body = "400 Bad Request", "bad request\n"
        elif parts[0] not in ("GET", "HEAD"):
            status, body = "405 Method Not Allowed", "GET /metrics only\n"
        elif parts[1].split("?", 1)[0] != "/metrics":
            status, body = "404 Not Found", "GET /metrics only\n"
        else:
            pending = await trio.to_thread.run_sync(postings_pending, daemon.config.db_path) \
                if daemon.config.extensions else None
            status, body = "200 OK", render(daemon, pending)
        data = body.encode()
        reply = (f"HTTP/1.1 {status}\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {len(data)}\r\n"
                 "Connection: close\r\n\r\n").encode() + (b"" if parts[:1] == ["HEAD"] else data)
        with trio.move_on_after(REQUEST_TIME), contextlib.suppress(trio.BrokenResourceError,
                                                                   trio.ClosedResourceError):
            await stream.send_all(reply)
            if not status.startswith("200"):  # the client may still be sending: read what it sends (bounded) so
                await stream.send_eof()       # that closing does not reset the connection before it reads ours
                left = 65536
                while left > 0 and (data := await stream.receive_some(4096)):
                    left -= len(data)
