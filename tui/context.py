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
from typing import Any
from zoneinfo import ZoneInfo

from pbx.protocol import SOCKET_NAME


@dataclass(frozen=True)
class SiteInfo:
    name: str
    timezone: str
    tariff: Path | None = None
    dialplan: Any = field(default=None, compare=False, repr=False)  # ingest.dialplan.DialPlan: quotes as dialled


class ActionError(Exception):
    """An action the workspace refused (an invoice in the wrong state, a missing reason...): the message is for
    the user and is shown on screen as is."""


@dataclass(frozen=True)
class InvoiceActions:
    """What the Invoices screen does beyond reading the store. The workflow and the reconciliation live in `tem`, a
    sibling of `tui` (neither imports the other), so `anatole` wires these to tem.workflow and tem.reconcile. Each
    is blocking (call it in a worker thread) and raises ActionError with a message for the user.

    approve(invoice_id, actor, reason); dispute(invoice_id, actor, reason, finding_ids, amount or None for the
    findings' money at stake) -> dispute id; reconcile(invoice_id, site=None, trunks=(), ask=True) ->
    tem.reconcile's summary() as plain data, None when the invoice has no call detail, or {"choose": [{"site",
    "trunk", "calls"}...]} when the period spans several sites/trunks and none was given (ask=False: all of them)."""

    approve: Callable[[int, str, str], None]
    dispute: Callable[[int, str, str, list[int], int | None], int]
    reconcile: Callable[..., dict[str, Any] | None]


@dataclass(frozen=True)
class InventoryActions:
    """What the Inventory screen needs of tem.inventory (the screen reads the items from store.inventory itself):
    preview(csv path, file kind as `anatole inventory import --kind` names it, effective date or None, partial) ->
    tem.inventory.Preview.as_json() plus "blocking" (problems that cannot be accepted). Nothing is written.
    Blocking; raises ActionError with a message for the user."""

    kinds: tuple[str, ...]  # the file kinds: people, cost-centres, ...
    preview: Callable[[Path, str, str | None, bool], dict[str, Any]]


@dataclass(frozen=True)
class ReportActions:
    """The reports tem.reports offers, as plain data and callables (blocking; they raise ActionError).
    latest() -> the latest month with data (YYYY-MM) or None; build(name, period) -> {"name", "title", "period",
    "columns": [(heading, type)], "rows": [[text]], "chart": (category column, value column) or None, "notes"};
    export(name, period, format, path) writes the report as csv, xlsx or pdf."""

    reports: dict[str, str]  # name -> title
    formats: tuple[str, ...]
    latest: Callable[[], str | None]
    build: Callable[[str, str], dict[str, Any]]
    export: Callable[[str, str, str, Path], None]


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
    invoices: InvoiceActions | None = None  # None: the Invoices screen is read-only
    inventory: InventoryActions | None = None  # None: no import preview
    reports: ReportActions | None = None  # None: the Reports screen cannot build reports
    hotel_site: str | None = None  # the [hotel] site: the front desk's times are in its zone

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
