"""Who may feed a listening source: its allow list, and how refused peers are reported (rate-limited).

A listening source with `allow` (anatole.toml) accepts connections only from those addresses or networks; anyone
else is closed at once, logged, and raises the alert "data from an unknown source". Without a list any peer may
connect, but a connection from another address never pushes off the live one. A peer that retries in a loop must
not flood the log or the alerts table: one alert per (source, peer address) per hour, at most `PEERS_PER_HOUR`
distinct peers alerted per source and hour, and one log line per peer and minute (with the count of refusals since).
Pure logic, no I/O: the daemon calls it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from i18n import _

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
ALERT_EVERY = 3600  # seconds between two alerts about the same peer of the same source
LOG_EVERY = 60  # seconds between two log lines about the same peer of the same source
PEERS_PER_HOUR = 20  # distinct peers alerted per source and hour; the others are logged and counted only
MAX_TRACKED = 4096  # peers remembered; past this the oldest are forgotten


def peer_address(host: str) -> IPAddress | None:
    """The peer's address as `ipaddress` sees it; an IPv4-mapped IPv6 address (a dual-stack listener) is the IPv4
    one, and a scope (`fe80::1%eth0`) is dropped. None when it is not an IP address (a Unix socket)."""
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def allowed(allow: Sequence[Any] | None, addr: IPAddress | None) -> bool:
    """Whether a peer may connect: no list means anyone; with a list, only an address inside one of its networks."""
    if allow is None:
        return True
    return addr is not None and any(addr in net for net in allow)


def is_loopback(host: str) -> bool:
    """A listen host that only this machine can reach ("localhost", 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    addr = peer_address(host.strip("[]"))
    return addr is not None and addr.is_loopback


class RefusalLog:
    """What to do about one more refused connection: alert (rarely), log (now and then), count (always)."""

    def __init__(self) -> None:
        self._alerted: dict[tuple[str, str], float] = {}  # (source, peer) -> when last alerted
        self._logged: dict[tuple[str, str], tuple[float, int]] = {}  # -> (when last logged, refusals since)
        self._hour: dict[str, tuple[int, int]] = {}  # source -> (hour, peers alerted in it)
        self.refused: dict[str, int] = {}  # source -> connections refused since start

    def refuse(self, source: str, peer: str, now: float) -> tuple[bool, int | None]:
        """(raise an alert?, refusals to put in a log line now, or None for no log line)."""
        key = (source, peer)
        self.refused[source] = self.refused.get(source, 0) + 1
        last_log, since = self._logged.get(key, (float("-inf"), 0))
        log: int | None = None
        if now - last_log >= LOG_EVERY:
            log = since + 1
            self._logged[key] = (now, 0)
        else:
            self._logged[key] = (last_log, since + 1)
        alert = False
        if now - self._alerted.get(key, float("-inf")) >= ALERT_EVERY:
            hour = int(now // 3600)
            seen_hour, count = self._hour.get(source, (hour, 0))
            if seen_hour != hour:
                count = 0
            if count < PEERS_PER_HOUR:
                alert = True
                self._alerted[key] = now
                self._hour[source] = (hour, count + 1)
        for table in (self._alerted, self._logged):
            if len(table) > MAX_TRACKED:
                for old in list(table)[:len(table) - MAX_TRACKED // 2]:
                    del table[old]
        return alert, log


def refusal_alert(source: str, site: str, peer: str, reason: str, at: int) -> dict[str, Any]:
    """The alert row (store.live.insert_alerts) for a refused peer; its dedup key makes it one per peer and hour
    even if the daemon restarts within the hour."""
    return {"rule": "unknown source", "kind": "peer", "at": at,
            "message": _("data from an unknown source: {peer} connected to source {source} and was refused "
                         "({reason})").format(peer=peer, source=repr(source), reason=reason),
            "severity": "critical", "site": site, "extension": "", "call_id": None, "amount": None, "currency": "",
            "dedup": f"peer:{source}:{peer}:{at // ALERT_EVERY}"}


__all__ = ["ALERT_EVERY", "RefusalLog", "allowed", "is_loopback", "peer_address", "refusal_alert"]
