"""The workspace: a folder with `anatole.toml` (settings) and `anatole.db` (the store).

`anatole.toml` is validated fully when a workspace is opened: every problem is reported with the key, the value
and what is wrong (see ../shared/CONFIG.md for the agreed keys; the README documents ours).
"""

from __future__ import annotations

import codecs
import ipaddress
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

import i18n
from i18n import _
from ingest.cdr import MODULES
from ingest.cdr.classify import DEFAULT_RULES, INTERNAL_CHANNELS, TRUNK_CHANNELS, ChannelRules, compile_patterns
from ingest.dialplan import DialPlan, parse_ranges
from pipeline.workspace import DB_NAME, LIVE_FORMATS, ConfigError, IPNetwork, Site, Source, register_opener  # noqa: F401
from pipeline.workspace import Workspace as PipelineWorkspace
from tariffs.errors import Collector, Problem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_NAME = "anatole.toml"
TOP_KEYS = {"workspace", "site", "source", "alert", "csv", "invoice_csv", "allocation", "schedule", "reports",
            "hotel", "room", "pms", "mobile_csv", "mobile", "serve", "smtp", "notify"}
SITE_KEYS = {"name", "country", "timezone", "outside_prefix", "national_prefix", "international_prefix", "area_code",
             "extensions", "tariff", "trunk_tariffs", "business_hours", "trunk_lines", "hunt_groups"}
SOURCE_KEYS = {"name", "site", "format", "listen", "connect", "username", "password", "strip_outside_prefix",
               "timezone", "encoding", "profile", "allow", "trunk_channels", "internal_channels",
               "phone_prefixes", "voicemail_prefixes"}
ALERT_KEYS = {"name", "when", "notify", "sites", "extensions"}


@dataclass
class ServeSettings:
    """[serve]: `metrics = "127.0.0.1:9464"` serves Prometheus metrics there (loopback only, unless
    `metrics_remote = true`: the figures say how busy the PBX is and which sources are down)."""

    metrics: tuple[str, int] | None = None
    metrics_remote: bool = False


def metrics_address(value: Any, remote: bool, at: str, errs: Collector) -> tuple[str, int] | None:
    """HOST:PORT of the metrics endpoint ([serve] metrics, `anatole serve --metrics`), loopback unless `remote`."""
    from pbx.peers import is_loopback

    host, _colon, port = str(value).rpartition(":")
    host = host.strip("[]")
    if not isinstance(value, str) or not host or not port.isdigit() or int(port) > 65535:
        errs.add(at, "metrics", _("{value} is not HOST:PORT (e.g. \"127.0.0.1:9464\")").format(value=repr(value)))
        return None
    if not remote and not is_loopback(host):
        errs.add(at, "metrics", _("{value} is reachable from other machines: use 127.0.0.1 (and a reverse proxy or "
                                  "an SSH tunnel), or set metrics_remote = true").format(value=repr(value)))
        return None
    return host, int(port)


def _serve(raw: dict, at: str, errs: Collector) -> ServeSettings:
    for key in sorted(set(raw) - {"metrics", "metrics_remote"}):
        errs.add(at, key, _("unknown key (expected one of: {keys})").format(keys="metrics, metrics_remote"))
    remote = raw.get("metrics_remote", False)
    if not isinstance(remote, bool):
        errs.add(at, "metrics_remote", _("{value} is not true or false").format(value=repr(remote)))
        remote = False
    address = metrics_address(raw["metrics"], remote, at, errs) if "metrics" in raw else None
    return ServeSettings(metrics=address, metrics_remote=remote)


@dataclass
class Workspace(PipelineWorkspace):
    """The whole workspace: the pipelines' part (pipeline/workspace.py, below the CLI: path, sites, sources,
    csv_profiles, compiled tariffs; Site, Source, ConfigError are re-exported from there) and the rest."""

    currency: str = "EUR"
    locale: str | None = None  # [workspace] locale: number and date style on screen; None: the language's
    language: str | None = None  # [workspace] language: en or fr (i18n.choose: after --lang and ANATOLE_LANG)
    invoice_profiles: dict[str, dict[str, Any]] = field(default_factory=dict)  # [invoice_csv.NAME]: carrier CSV
    alerts: list[dict[str, Any]] = field(default_factory=list)
    allocation: Any = None  # tem.allocation.AllocationConfig ([allocation])
    schedules: list[Any] = field(default_factory=list)  # tem.schedule.Schedule ([[schedule]])
    report_settings: Any = None  # tem.reports.ReportSettings ([reports])
    hotel: Any = None  # hotel.model.HotelConfig ([hotel], [[room]], [pms]); None: not a hotel
    mobile_profiles: dict[str, dict[str, Any]] = field(default_factory=dict)  # [mobile_csv.NAME]: usage CSV
    mobile: Any = None  # tem.mobile.MobileSettings ([mobile])
    serve: ServeSettings = field(default_factory=lambda: ServeSettings())  # [serve]: the daemon's own endpoints
    delivery: Any = None  # pbx.notify.Settings ([smtp], [notify]): alerts and reports by e-mail, webhook, syslog


def workspace_path(option: Path | str | None) -> Path:
    """--workspace, else ANATOLE_WORKSPACE, else the current folder."""
    return Path(option or os.environ.get("ANATOLE_WORKSPACE") or Path.cwd())


def _known_locale(name: str) -> bool:
    """A CLDR locale Babel has data for (fr_FR, fr-FR, de_CH); what store.display formats numbers with."""
    try:
        from babel import Locale

        Locale.parse(name.replace("-", "_"))
        return True
    except Exception:  # babel.core.UnknownLocaleError, ValueError on a malformed name
        return False


def open_workspace(path: Path | str, *, require_config: bool = True) -> Workspace:
    path = Path(path)
    file = path / CONFIG_NAME
    if not file.exists():
        if require_config:
            raise ConfigError([Problem(str(file), None, _("no such file: create it (see the README) or give "
                                                         "--workspace DIR; `anatole demo` makes an example"))])
        return Workspace(path)
    try:
        doc = tomllib.loads(file.read_text(encoding="utf-8-sig"))
    except OSError as exc:  # a folder of that name, no permission
        raise ConfigError([Problem(str(file), None, _("cannot be read: {error}").format(
            error=exc.strerror or exc))]) from None
    except UnicodeDecodeError as exc:
        problem = _("not UTF-8 text (byte {byte})").format(byte=exc.start)
        raise ConfigError([Problem(str(file), None, problem)]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem(str(file), None, _("invalid TOML: {problem}").format(problem=exc))]) from None
    ws = parse_config(doc, path, str(file))
    from store import display

    display.set_locale(ws.locale)  # the CLI and the console format through store.display: one setting for both
    return ws


register_opener(open_workspace)  # Dask workers re-open a workspace with it (pipeline.distributed)


def parse_config(doc: dict[str, Any], path: Path, where: str = CONFIG_NAME) -> Workspace:
    errs = Collector()
    for key in sorted(set(doc) - TOP_KEYS):
        errs.add(where, key, _("unknown key (expected one of: {keys})").format(keys=", ".join(sorted(TOP_KEYS))))
    ws = Workspace(path)
    top = _table(doc, "workspace", where, errs)
    for key in sorted(set(top) - {"currency", "locale", "language"}):
        errs.add(f"{where} [workspace]", key, _("unknown key (expected: {keys})").format(
            keys="currency, locale, language"))
    ws.currency = str(top.get("currency", "EUR"))
    if not re.fullmatch(r"[A-Z]{3}", ws.currency):
        errs.add(f"{where} [workspace]", "currency", _("{value} is not an ISO 4217 code (e.g. EUR)").format(
            value=repr(ws.currency)))
    if "locale" in top:
        ws.locale = str(top["locale"]).replace("-", "_")
        if not _known_locale(ws.locale):
            errs.add(f"{where} [workspace]", "locale", _("{value} is not a locale Babel knows (e.g. en, fr_FR, "
                                                         "de_CH)").format(value=repr(top["locale"])))
            ws.locale = None
    if "language" in top:
        ws.language = i18n.normalise(str(top["language"]))
        if ws.language is None:
            errs.add(f"{where} [workspace]", "language", _("{value} is not a language anatole speaks (expected one "
                                                           "of: {languages})").format(
                value=repr(top["language"]), languages=", ".join(i18n.LANGUAGES)))

    for name, profile in _table(doc, "invoice_csv", where, errs).items():
        from ingest.invoice.csv_detail import validate_profile as validate_invoice_profile

        if not isinstance(profile, dict):
            errs.add(f"{where} [invoice_csv]", name, _("must be a table ([invoice_csv.NAME])"))
            continue
        for message in validate_invoice_profile(profile, f"invoice_csv.{name}"):
            errs.add(where, None, message)
        ws.invoice_profiles[name] = profile

    profiles = _table(doc, "csv", where, errs)
    for name, profile in profiles.items():
        if not isinstance(profile, dict):
            errs.add(f"{where} [csv]", name, _("must be a table ([csv.NAME])"))
            continue
        from ingest.cdr import generic_csv

        for message in generic_csv.validate_profile(profile, f"csv.{name}"):
            errs.add(where, None, message)
        ws.csv_profiles[name] = profile

    for n, raw in enumerate(_array(doc, "site", where, errs), 1):
        site = _site(raw, path, f"{where} [[site]] #{n}", errs)
        if site is not None:
            if site.name in ws.sites:
                errs.add(f"{where} [[site]] #{n}", "name", _("site {site} is defined twice").format(
                    site=repr(site.name)))
            ws.sites[site.name] = site
    for n, raw in enumerate(_array(doc, "source", where, errs), 1):
        source = _source(raw, ws, f"{where} [[source]] #{n}", errs)
        if source is not None:
            if source.name in ws.sources:
                errs.add(f"{where} [[source]] #{n}", "name", _("source {source} is defined twice").format(
                    source=repr(source.name)))
            ws.sources[source.name] = source
    for n, raw in enumerate(_array(doc, "alert", where, errs), 1):
        at = f"{where} [[alert]] #{n}"
        for key in sorted(set(raw) - ALERT_KEYS):
            errs.add(at, key, _("unknown key (expected one of: {keys})").format(keys=", ".join(sorted(ALERT_KEYS))))
        if not isinstance(raw.get("name"), str) or not raw.get("name"):
            errs.add(at, "name", _("required: a name for the alert"))
        if not isinstance(raw.get("when"), str) or not raw.get("when"):
            errs.add(at, "when", _("required: a condition such as 'cost > 5'"))
        sites = raw.get("sites", [])
        for site in sites if isinstance(sites, list) else []:  # a typo made a rule that never fires
            if isinstance(site, str) and site not in ws.sites:
                errs.add(at, "sites", _("no [[site]] named {site} (sites: {sites})").format(
                    site=repr(site), sites=", ".join(ws.sites) or _("none")))
        ws.alerts.append(raw)
    from tem import allocation, reports, schedule  # noqa: PLC0415  (inventory, allocation, reports: tem/)

    ws.allocation = allocation.parse_config(doc.get("allocation", {}), where, errs.add)
    ws.report_settings = reports.parse_settings(doc.get("reports", {}), where, errs.add)
    ws.schedules = schedule.parse_schedules(doc.get("schedule", []), where, errs.add)
    from hotel import model as hotel_model  # noqa: PLC0415

    ws.hotel = hotel_model.parse_config(doc, path, where, errs.add, ws.sites)
    from tem import mobile  # noqa: PLC0415  (mobile usage profiles and settings)

    ws.mobile_profiles = mobile.validate_profiles(doc.get("mobile_csv", {}), where, errs.add)
    ws.mobile = mobile.parse_settings(doc.get("mobile", {}), path, where, errs.add)
    ws.serve = _serve(_table(doc, "serve", where, errs), f"{where} [serve]", errs)
    from pbx import notify  # noqa: PLC0415  ([smtp], [notify]: deliveries of alerts and scheduled reports)

    ws.delivery = notify.parse_settings(doc, path, where, errs.add)
    notify.check_targets(ws.alerts, ws.delivery, where, errs.add)
    if errs.problems:
        raise ConfigError(errs.problems)
    return ws


def _table(doc: dict, key: str, where: str, errs: Collector) -> dict:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        errs.add(where, key, _("must be a table"))
        return {}
    return value


def _array(doc: dict, key: str, where: str, errs: Collector) -> list[dict]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        errs.add(where, key, _("must be an array of tables ([[{key}]])").format(key=key))
        return []
    return value


def _text(raw: dict, key: str, at: str, errs: Collector, default: str | None = None) -> str | None:
    value = raw.get(key, default)
    if value is None:
        errs.add(at, key, _("required key is missing"))
        return None
    if not isinstance(value, str):
        errs.add(at, key, _("{value} is not a string").format(value=repr(value)))
        return None
    return value


def _digits(raw: dict, key: str, at: str, errs: Collector, default: str) -> str:
    value = _text(raw, key, at, errs, default) or ""
    if value and not (value.isdigit() and value.isascii()):
        errs.add(at, key, _("{value} must be digits (or \"\" for none)").format(value=repr(value)))
        return ""
    return value


def _zone(value: str | None, at: str, key: str, errs: Collector) -> str:
    if value:
        try:
            ZoneInfo(value)
            return value
        except (ZoneInfoNotFoundError, ValueError):
            errs.add(at, key, _("{value} is not an IANA time zone (e.g. Europe/Paris)").format(value=repr(value)))
    return "UTC"


def _site(raw: dict, root: Path, at: str, errs: Collector) -> Site | None:
    for key in sorted(set(raw) - SITE_KEYS):
        errs.add(at, key, _("unknown key (expected one of: {keys})").format(keys=", ".join(sorted(SITE_KEYS))))
    name = _text(raw, "name", at, errs)
    country = (_text(raw, "country", at, errs) or "").upper()
    if country and country not in phonenumbers.SUPPORTED_REGIONS:
        errs.add(at, "country", _("{value} is not an ISO 3166 country code with a numbering plan (e.g. FR)").format(
            value=repr(country)))
        country = ""
    timezone = _zone(_text(raw, "timezone", at, errs), at, "timezone", errs)
    national = raw.get("national_prefix")
    if national is None and country:
        national = phonenumbers.PhoneMetadata.metadata_for_region(country).national_prefix or ""
    international = raw.get("international_prefix")
    if international is None and country:
        international = phonenumbers.PhoneMetadata.metadata_for_region(country).preferred_international_prefix \
            or phonenumbers.PhoneMetadata.metadata_for_region(country).international_prefix or "00"
        international = international if str(international).isdigit() else "00"
    try:
        extensions = parse_ranges([str(x) for x in raw.get("extensions", [])]) \
            if isinstance(raw.get("extensions", []), list) else None
    except ValueError as exc:
        errs.add(at, "extensions", str(exc))
        extensions = []
    if extensions is None:
        errs.add(at, "extensions", _("must be a list of ranges like [\"1000-1999\"]"))
        extensions = []
    tariff = None
    if "tariff" in raw:
        tariff = _tariff_path(raw["tariff"], root, at, "tariff", errs)
    trunks = {}
    given = raw.get("trunk_tariffs") or {}
    if not isinstance(given, dict):
        errs.add(at, "trunk_tariffs", _("must be a table of trunk = \"tariff file\""))
        given = {}
    for trunk, file in given.items():
        trunks[trunk] = _tariff_path(file, root, at, f"trunk_tariffs.{trunk}", errs)
    hours, lines, hunts = _site_traffic(raw, at, errs)
    if name is None or not country:
        return None
    plan = DialPlan(country=country,
                    outside_prefix=_digits(raw, "outside_prefix", at, errs, ""),
                    national_prefix=_digits({"national_prefix": national}, "national_prefix", at, errs, ""),
                    international_prefix=_digits({"international_prefix": international}, "international_prefix", at,
                                                 errs, "00"),
                    area_code=_digits(raw, "area_code", at, errs, ""),
                    extensions=extensions)
    return Site(name=name, country=country, timezone=timezone, dialplan=plan, tariff=tariff,
                trunk_tariffs={k: v for k, v in trunks.items() if v is not None}, business_hours=hours,
                trunk_lines=lines, hunt_groups=hunts)


def _site_traffic(raw: dict, at: str, errs: Collector) -> tuple[Any, dict[str, int], dict[str, list]]:
    """`business_hours = "mon-fri 08:00-18:00"` (or a list of such), `trunk_lines = { "T9001" = 30 }`,
    `hunt_groups = { sales = ["1100-1109"] }`: what the traffic reports need (tem.reports)."""
    from tem.reports import parse_hours  # noqa: PLC0415

    hours = None
    if "business_hours" in raw:
        try:
            hours = parse_hours(raw["business_hours"])
        except ValueError as exc:
            errs.add(at, "business_hours", str(exc))
    lines: dict[str, int] = {}
    value = raw.get("trunk_lines", {})
    if not isinstance(value, dict):
        errs.add(at, "trunk_lines", _("{value} must be a table of trunk = number of lines").format(value=repr(value)))
        value = {}
    for trunk, n in value.items():
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 100_000:
            errs.add(at, f"trunk_lines.{trunk}", _("{value} must be a whole number of lines (1 or more)").format(
                value=repr(n)))
        else:
            lines[str(trunk)] = n
    hunts: dict[str, list] = {}
    value = raw.get("hunt_groups", {})
    if not isinstance(value, dict):
        errs.add(at, "hunt_groups", _("{value} must be a table of name = [extension ranges]").format(value=repr(value)))
        value = {}
    for group, ranges in value.items():
        try:
            if not isinstance(ranges, list) or not ranges:
                raise ValueError(_("{value} must be a list of extension ranges like [\"1100-1109\"]").format(
                    value=repr(ranges)))
            hunts[str(group)] = parse_ranges([str(x) for x in ranges])
        except ValueError as exc:
            errs.add(at, f"hunt_groups.{group}", str(exc))
    return hours, lines, hunts


def _tariff_path(value: Any, root: Path, at: str, key: str, errs: Collector) -> Path | None:
    if not isinstance(value, str) or not value:
        errs.add(at, key, _("{value} is not a path to a tariff file").format(value=repr(value)))
        return None
    path = (root / value) if not Path(value).is_absolute() else Path(value)
    if not path.exists():
        errs.add(at, key, _("{value}: no such file (paths are relative to the workspace)").format(value=repr(value)))
        return None
    return path


def _source(raw: dict, ws: Workspace, at: str, errs: Collector) -> Source | None:
    for key in sorted(set(raw) - SOURCE_KEYS):
        errs.add(at, key, _("unknown key (expected one of: {keys})").format(keys=", ".join(sorted(SOURCE_KEYS))))
    name = _text(raw, "name", at, errs)
    site = _text(raw, "site", at, errs)
    fmt = _text(raw, "format", at, errs)
    if site and site not in ws.sites:
        errs.add(at, "site", _("no [[site]] named {site} (sites: {sites})").format(
            site=repr(site), sites=", ".join(ws.sites) or _("none")))
    profile: dict[str, Any] = {}
    if fmt:
        base, _colon, profile_name = fmt.partition(":")
        if base not in MODULES and fmt not in LIVE_FORMATS:
            errs.add(at, "format", _("{value} is not a known format ({formats})").format(
                value=repr(fmt), formats=", ".join([*sorted(MODULES), "csv:<profile>", *sorted(LIVE_FORMATS)])))
        if base == "csv":
            if profile_name not in ws.csv_profiles:
                errs.add(at, "format", _("{value}: no [csv.{profile}] profile in the file").format(
                    value=repr(fmt), profile=profile_name))
            else:
                profile = ws.csv_profiles[profile_name]
    if "profile" in raw:
        if not isinstance(raw["profile"], str) or raw["profile"] not in ws.csv_profiles:
            errs.add(at, "profile", _("{value}: no such [csv.NAME] profile").format(value=repr(raw["profile"])))
        else:
            profile = ws.csv_profiles[raw["profile"]]
    for key in ("phone_prefixes", "voicemail_prefixes"):  # CUCM device names that are inside (ingest.cdr.cucm)
        if key in raw:
            values = raw[key]
            if fmt != "cucm" or not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
                errs.add(at, key, _("{value}: a list of device name prefixes (e.g. [\"CTI\"]) of a cucm source").format(
                    value=repr(values)))
            else:
                profile = {**profile, key: list(values)}
    if "listen" in raw and "connect" in raw:
        errs.add(at, "listen", _("give listen or connect, not both"))
    for key in ("listen", "connect"):
        if key in raw and not (re.fullmatch(r"[\w.\-:\[\]]+:\d{1,5}", str(raw[key]))
                               and int(str(raw[key]).rpartition(":")[2]) <= 65535):  # 99999 failed at start
            errs.add(at, key, _("{value} is not HOST:PORT").format(value=repr(raw[key])))
    allow = _allow(raw, name, at, errs) if "allow" in raw else None
    rules = _channel_rules(raw, name, at, errs)
    strip = raw.get("strip_outside_prefix")
    if strip is not None and not isinstance(strip, bool):
        errs.add(at, "strip_outside_prefix", _("{value} is not true or false").format(value=repr(strip)))
        strip = None
    zone = raw.get("timezone")
    timezone = _zone(zone, at, "timezone", errs) if zone else (ws.sites[site].timezone if site in ws.sites else "UTC")
    encoding = raw.get("encoding", "utf-8")
    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError):
        errs.add(at, "encoding", _("{value} is not a known encoding (e.g. cp850, latin-1, utf-8)").format(
            value=repr(encoding)))
    if name is None or site is None or fmt is None:
        return None
    return Source(name=name, site=site, format=fmt, timezone=timezone, strip_outside_prefix=strip,
                  encoding=str(encoding), profile=profile, listen=raw.get("listen"),
                  connect=raw.get("connect"), username=raw.get("username"), password=raw.get("password"),
                  allow=allow, channel_rules=rules)


def _channel_rules(raw: dict, name: str | None, at: str, errs: Collector) -> ChannelRules:
    """`trunk_channels` / `internal_channels`: regular expressions searched in channel names (`PJSIP/carrier`,
    `sofia/gateway/gw1`); trunk_channels replaces the defaults (classify.TRUNK_CHANNELS) when given."""
    if "trunk_channels" not in raw and "internal_channels" not in raw:
        return DEFAULT_RULES
    lists = {}
    for key, default in (("trunk_channels", TRUNK_CHANNELS), ("internal_channels", INTERNAL_CHANNELS)):
        patterns, problems = compile_patterns(raw.get(key, list(default)), key)
        for problem in problems:
            errs.add(at, key, _of_source(name, problem.partition(": ")[2]))
        lists[key] = patterns
    return ChannelRules(lists["trunk_channels"], lists["internal_channels"])


def _allow(raw: dict, name: str | None, at: str, errs: Collector) -> list[IPNetwork] | None:
    """`allow = ["10.0.0.5", "192.0.2.0/24", "2001:db8::/32"]`: the peers a listening source accepts, addresses or
    CIDR networks, IPv4 or IPv6 (an IPv4-mapped IPv6 peer matches its IPv4 entry)."""
    value = raw["allow"]
    if "listen" not in raw:
        errs.add(at, "allow", _of_source(name, _("only a listening source (listen = ...) takes an allow list; a "
                                                 "connect source dials out to the address it is given")))
    if not isinstance(value, list) or not value:
        errs.add(at, "allow", _of_source(name, _('{value} is not a non-empty list of addresses or networks (e.g. '
                                                 '["10.0.0.5", "192.0.2.0/24"])').format(value=repr(value))))
        return None
    nets: list[IPNetwork] = []
    for entry in value:
        try:
            if not isinstance(entry, str):
                raise TypeError
            nets.append(ipaddress.ip_network(entry.strip(), strict=True))
        except (ValueError, TypeError) as exc:
            text = _("{value} is not an IPv4/IPv6 address or CIDR network (host bits are set: give the network's "
                     "own address, e.g. 192.0.2.0/24)") if "host bits" in str(exc) else \
                _("{value} is not an IPv4/IPv6 address or CIDR network")
            errs.add(at, "allow", _of_source(name, text.format(value=repr(entry))))
    return nets


def _of_source(name: str | None, problem: str) -> str:
    """A problem of a named [[source]]: "source 'pbx': ..."; the problem alone when the source has no name."""
    return _("source {source}: {problem}").format(source=repr(name), problem=problem) if name else problem
