"""What the console needs to know about its workspace, as plain data.

`anatole` builds it from the workspace (anatole.toml); `tui` must not import `anatole` (it sits above us), so the
screens only see this. Tests build one by hand, with a fixed clock so that snapshots are stable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from pbx.protocol import SOCKET_NAME


@dataclass(frozen=True)
class SiteInfo:
    name: str
    timezone: str
    tariff: Path | None = None


@dataclass
class ConsoleContext:
    workspace: Path
    sites: dict[str, SiteInfo] = field(default_factory=dict)
    tariffs: dict[str, Path] = field(default_factory=dict)  # file name (as stored in calls.tariff) -> path
    currency: str = "EUR"
    user: str = "operator"  # who acknowledges alerts
    clock: Callable[[], float] = time.time
    retry_seconds: float = 5.0  # between attempts to reach the daemon
    flash: bool = True  # open alerts blink; off in snapshot tests
    keep: int = 500  # finished calls kept on the live screen
    db_path: Path | None = None
    socket_path: Path | None = None

    def __post_init__(self) -> None:
        self.workspace = Path(self.workspace)
        if self.db_path is None:
            self.db_path = self.workspace / "anatole.db"
        if self.socket_path is None:
            self.socket_path = self.workspace / SOCKET_NAME

    def zone(self, site: str | None = None) -> str:
        """The site's IANA zone; without a site, the first site's (or UTC)."""
        if site and site in self.sites:
            return self.sites[site].timezone
        return next(iter(self.sites.values())).timezone if self.sites else "UTC"

    def shown(self, path: Path | None) -> str:
        """A path as the user should read it: relative to the workspace when inside it."""
        if path is None:
            return ""
        try:
            return str(Path(path).relative_to(self.workspace))
        except ValueError:
            return str(path)


@lru_cache(maxsize=64)
def zoneinfo(name: str) -> ZoneInfo:
    return ZoneInfo(name)
