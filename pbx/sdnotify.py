"""The systemd notification protocol (sd_notify(3)), without libsystemd: one datagram per message to $NOTIFY_SOCKET.

A unit of `Type=notify` is "started" when the daemon says READY=1 (after the journal replay, with every source
listening), shows the last STATUS= line in `systemctl status`, and, with `WatchdogSec=`, is restarted when
WATCHDOG=1 stops arriving (sent at half the interval by `Notifier.due`). Outside systemd ($NOTIFY_SOCKET unset)
every call does nothing. Sending never blocks and never raises: a notification lost is not worth a daemon.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping


def socket_address(value: str) -> str | bytes | None:
    """$NOTIFY_SOCKET as `socket.connect` takes it: a path, or an abstract name ('@name' -> b'\\0name')."""
    if not value:
        return None
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None  # vsock and other forms: not supported (systemd gives a path or an abstract name to services)


class Notifier:
    """Messages to the service manager. `enabled` is False when not run by systemd (then `send` does nothing)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = socket_address(env.get("NOTIFY_SOCKET", ""))
        self.watchdog: float | None = None  # seconds between two WATCHDOG=1, half systemd's interval
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog = int(usec) / 2e6
        self.sent: list[str] = []  # the last messages sent (a few), for the log and for tests

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *lines: str) -> bool:
        """Send `lines` (KEY=VALUE each) as one datagram; True when the manager took it."""
        if self.address is None or not lines:
            return False
        text = "\n".join(line.replace("\n", " ") for line in lines)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.connect(self.address)
            sock.send(text.encode("utf-8", "replace"))
        except OSError:
            return False
        finally:
            sock.close()
        self.sent = (self.sent + list(lines))[-16:]
        return True

    def ready(self, status: str = "") -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def stopping(self, status: str = "") -> bool:
        return self.send("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def ping(self) -> bool:
        """WATCHDOG=1, when systemd asked for it."""
        return self.watchdog is not None and self.send("WATCHDOG=1")

    def extend_start(self, seconds: float) -> bool:
        """Still starting (a long journal replay): push systemd's start timeout `seconds` further."""
        return self.send(f"EXTEND_TIMEOUT_USEC={int(seconds * 1e6)}")


PRIORITY = {"critical": 2, "error": 3, "warning": 4, "info": 6}  # syslog priorities of our log levels


def journal_prefix(stream: object, environ: Mapping[str, str] | None = None) -> Callable[[str], str]:
    """For a log stream: `level -> "<N>"` when the stream is journald's (systemd sets $JOURNAL_STREAM to its device
    and inode), so that journald files each line at its priority (`journalctl -p warning`) and strips the prefix
    (`-o cat` shows the JSON alone); else `level -> ""`."""
    env = os.environ if environ is None else environ
    want = env.get("JOURNAL_STREAM", "")
    try:
        st = os.fstat(stream.fileno())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return lambda level: ""
    if not want or want != f"{st.st_dev}:{st.st_ino}":
        return lambda level: ""
    return lambda level: f"<{PRIORITY.get(level, 6)}>"
