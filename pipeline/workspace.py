"""What the pipelines read of a workspace: its sites, sources, CSV profiles and compiled tariffs.

`anatole.config` reads and validates `anatole.toml` into a `Workspace` (a subclass of this one with the settings of
the other packages: currency, invoices, allocation, hotel, ...); the pipelines only need this part, so they take it
from here and never import `anatole`. A Dask worker re-opens the workspace with the loader the CLI registered
(`register_opener`), carried by reference in each job.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.cdr.classify import DEFAULT_RULES, ChannelRules
from ingest.dialplan import DialPlan
from tariffs.compile import CompiledTariff
from tariffs.errors import Problem
from tariffs.load import compiled_tariff

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
DB_NAME = "anatole.db"
LIVE_FORMATS = {"asterisk-ami", "freeswitch-esl"}


class ConfigError(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class Site:
    name: str
    country: str
    timezone: str
    dialplan: DialPlan
    tariff: Path | None
    trunk_tariffs: dict[str, Path] = field(default_factory=dict)
    # traffic reports (tem.reports): opening hours, lines per trunk, hunt groups (name -> extension ranges)
    business_hours: Any = None  # tem.reports.Hours; None: the [reports] business_hours and business_days
    trunk_lines: dict[str, int] = field(default_factory=dict)
    hunt_groups: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


@dataclass
class Source:
    name: str
    site: str
    format: str
    timezone: str
    strip_outside_prefix: bool | None = None  # None: the format decides
    encoding: str = "utf-8"
    profile: dict[str, Any] = field(default_factory=dict)
    listen: str | None = None
    connect: str | None = None
    username: str | None = None
    password: str | None = None
    allow: list[IPNetwork] | None = None  # listen: the peers that may connect (None: anyone; see the README)
    # Asterisk/FreeSWITCH direction: regular expressions on channel names (ingest.cdr.classify; README)
    channel_rules: ChannelRules = field(default_factory=lambda: DEFAULT_RULES)


@dataclass
class Workspace:
    """A bare workspace (no anatole.toml: batch-rate without --site) or the pipelines' part of a configured one."""

    path: Path
    sites: dict[str, Site] = field(default_factory=dict)
    sources: dict[str, Source] = field(default_factory=dict)
    csv_profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    _tariffs: dict[Path, CompiledTariff] = field(default_factory=dict, repr=False)

    @property
    def db_path(self) -> Path:
        return self.path / DB_NAME

    def tariff(self, path: Path) -> CompiledTariff:
        """A compiled tariff, loaded once per workspace (raises tariffs.errors.TariffError). The first load goes
        through the process-wide cache (tariffs.load.compiled_tariff), so the CLI's check and the workspace share
        one parse of the deck; a workspace then keeps the version it first saw."""
        path = Path(path)
        if path not in self._tariffs:
            self._tariffs[path] = compiled_tariff(path)
        return self._tariffs[path]

    def tariff_for(self, site: Site, trunk: str = "") -> Path | None:
        return site.trunk_tariffs.get(trunk, site.tariff) if trunk else site.tariff


Opener = Callable[[Path], Workspace]  # a workspace folder -> its Workspace (raises ConfigError)
_OPENER: list[Opener] = []


def register_opener(opener: Opener) -> None:
    """The loader of anatole.toml (anatole.config.open_workspace registers itself on import): the arrow points down,
    the pipelines call it without importing it. A module-level function, so it travels to Dask workers by name."""
    _OPENER[:] = [opener]


def registered_opener() -> Opener | None:
    return _OPENER[0] if _OPENER else None
