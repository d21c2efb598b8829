"""Carrier usage detail CSV files read through an `[mobile_csv.NAME]` profile of anatole.toml.

Like the invoice CSV profiles (ingest.invoice.csv_detail) a profile says which column holds which field and how
values are written; unlike an invoice, a usage file is not stored whole or not at all: each bad row becomes a
reject naming its line and column, and the rest is kept (read = records + rejects). A file that cannot be read at
all (encoding, a named column missing from the header, an invalid profile) raises UsageError.

Volumes become exact integers: voice seconds (hh:mm:ss, seconds or decimal minutes, a fraction of a second rounded
up), messages, bytes (a decimal volume in kB/MB/GB... times the unit, a fraction of a byte rounded up: "up" is the
named rounding of every volume). The zone comes from a zone column through `zone_map`, else from a country column
(ISO 3166 alpha-2) against `home_country`: the EU/EEA countries are "eu", others "world".
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
from typing import Any
from zoneinfo import ZoneInfo

from engine.money import SCALE, MoneyError, divide_round, parse_money
from i18n import _
from ingest import csvprofile
from ingest.usage.model import KINDS, ZONES, UsageBatch, UsageError, UsageRecord, UsageReject

COLUMN_KEYS = ("line", "iccid", "kind", "destination", "apn", "volume", "duration", "messages", "data", "zone",
               "country", "start", "date", "time", "amount", "account", "invoice", "plan")
OPTION_KEYS = {"carrier", "currency", "delimiter", "encoding", "skip_lines", "decimal", "sign", "start_format",
               "date_format", "time_format", "timezone", "duration_format", "data_unit", "kind_map", "zone_map",
               "home_country", "country_code", "national_prefix"}
PROFILE_KEYS = set(COLUMN_KEYS) | OPTION_KEYS
DURATION_FORMATS = csvprofile.DURATION_FORMATS
DATA_UNITS = {"B": 1, "kB": 1000, "KB": 1000, "KiB": 1024, "MB": 10**6, "MiB": 2**20, "GB": 10**9, "GiB": 2**30}
# EU member states plus the EEA countries that "roam like at home" applies to
EU_EEA = frozenset({"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "IE", "IT", "LV",
                    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO"})


def validate_profile(profile: dict[str, Any], where: str) -> list[str]:
    """Every problem of a [mobile_csv.NAME] profile, each naming the key (empty if fine)."""
    out = csvprofile.check_common(profile, where, keys=PROFILE_KEYS, column_keys=COLUMN_KEYS,
                                  required=("carrier", "currency", "line", "kind"))
    if not any(k in profile for k in ("volume", "duration", "messages", "data")):
        out.append(f"{where}: " + _("volume: required (or duration / messages / data columns)"))
    if "start" not in profile and "date" not in profile:
        out.append(f"{where}: " + _("start: required (a date-time column, or date and time columns)"))
    if profile.get("data_unit", "B") not in DATA_UNITS:
        out.append(f"{where}: " + _(
            "data_unit: {value} must be one of {names}").format(
            value=repr(profile.get('data_unit')), names=', '.join(DATA_UNITS)))
    if "home_country" in profile and not re.fullmatch(r"[A-Z]{2}", str(profile["home_country"])):
        out.append(f"{where}: " + _(
            "home_country: {value} must be an ISO 3166 code (e.g. FR)").format(value=repr(profile['home_country'])))
    if "country" in profile and "home_country" not in profile:
        out.append(f"{where}: " + _("home_country: required with a country column (to tell home from roaming)"))
    if "country_code" in profile and not re.fullmatch(r"[1-9]\d{0,2}", str(profile["country_code"])):
        out.append(f"{where}: " + _(
            "country_code: {value} must be the calling code digits (e.g. 33)").format(
            value=repr(profile['country_code'])))
    for key, allowed in (("kind_map", KINDS), ("zone_map", ZONES)):
        table = profile.get(key, {})
        if not isinstance(table, dict):
            out.append(f"{where}: " + _(
                "{key}: must be a table (carrier value = {names})").format(key=key, names='/'.join(allowed)))
            continue
        for raw, value in table.items():
            if value not in allowed:
                out.append(f"{where}: " + _(
                    "{key}.{raw}: {value} is not one of {names}").format(
                    key=key, raw=raw, value=repr(value), names=', '.join(allowed)))
    return out


def header_matches(data: bytes, profile: dict[str, Any]) -> bool:
    """Does the file's header row hold every column the profile names? (content-based detection)"""
    return csvprofile.header_matches(data, profile, COLUMN_KEYS)


class _RowError(Exception):
    def __init__(self, column: str, reason: str):
        super().__init__(reason)
        self.column, self.reason = column, reason


def parse(data: bytes, where: str, name: str, profile: dict[str, Any]) -> UsageBatch:
    """The usage records and rejects of one carrier CSV file read with profile `name`."""
    problems = validate_profile(profile, f"mobile_csv.{name}")
    if problems:
        raise UsageError(f"{where}: " + _(
            "profile {name} is not valid: {value}").format(name=repr(name), value=problems[0]))
    reader, header, cols = csvprofile.open_rows(data, where, f"mobile_csv.{name}", profile, COLUMN_KEYS, UsageError)
    ctx = _Context(profile)
    batch = UsageBatch(carrier=profile["carrier"], format=f"csv:{name}")
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # a broken quote: the rest of the file cannot be split into rows
            batch.read += 1
            batch.rejects.append(UsageReject(line=reader.line_num, field="(row)", reason=f"CSV: {exc}"))
            break
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        batch.read += 1
        raw = profile.get("delimiter", ",").join(row)
        if len(row) < len(header):
            row = row + [""] * (len(header) - len(row))
        try:
            batch.records.append(ctx.record({k: row[i].strip() for k, i in cols.items()}, line))
        except _RowError as exc:
            column = profile.get(exc.column, exc.column)
            batch.rejects.append(UsageReject(line=line, field=str(column),
                                             reason=f"{where}: " + _("line {line}: {column}: {reason}").format(
                                                 line=line, column=column, reason=exc.reason), raw=raw))
    return batch


class _Context:
    """A profile's settings, prepared once per file."""

    def __init__(self, profile: dict[str, Any]):
        self.p = profile
        self.zone = ZoneInfo(str(profile.get("timezone", "UTC")))
        self.negate = profile.get("sign", "as_is") == "negate"
        self.decimal = profile.get("decimal", ".")
        self.kinds = {str(k).strip().lower(): v for k, v in profile.get("kind_map", {}).items()}
        self.zones = {str(k).strip().lower(): v for k, v in profile.get("zone_map", {}).items()}
        self.cc = str(profile.get("country_code", ""))
        self.national = str(profile.get("national_prefix", "0"))
        self.data_unit = DATA_UNITS[profile.get("data_unit", "B")]
        self._dates: dict[str, dt.date] = {}

    def number(self, text: str) -> str:
        """E.164 digits of a number written internationally (+, 00) or nationally (with country_code)."""
        s = re.sub(r"[\s().-]", "", text)
        if s.startswith("+"):
            return s[1:]
        if s.startswith("00"):
            return s[2:]
        if self.cc and self.national and s.startswith(self.national) and len(s) > 6:
            return self.cc + s[len(self.national):]
        return s

    def decimal_value(self, text: str, key: str) -> int:
        s = text.replace(" ", "").replace("\u00a0", "")
        if self.decimal == ",":
            s = s.replace(".", "").replace(",", ".")
        try:
            return parse_money(s)
        except MoneyError as exc:
            raise _RowError(key, str(exc)) from None

    def record(self, v: dict[str, str], line: int) -> UsageRecord:
        raw_kind = v.get("kind", "")
        kind = raw_kind.lower() if raw_kind.lower() in KINDS else self.kinds.get(raw_kind.lower())
        if kind is None:
            raise _RowError("kind", _(
                "{raw_kind} is not a usage kind (map it in kind_map to {names})").format(
                raw_kind=repr(raw_kind), names='/'.join(KINDS)))
        iccid = v.get("iccid", "").replace(" ", "")
        msisdn = self.number(v.get("line", ""))
        if not msisdn and not iccid:
            raise _RowError("line", _("empty: neither the MSISDN nor the ICCID is given"))
        if msisdn and not (msisdn.isdigit() and 6 <= len(msisdn) <= 15):
            raise _RowError("line", _("{value} is not a phone number (MSISDN)").format(value=repr(v.get('line'))))
        if iccid and not (iccid.isdigit() and 18 <= len(iccid) <= 22):
            raise _RowError("iccid", _("{value} is not an ICCID (18-22 digits)").format(value=repr(v.get('iccid'))))
        volume = self.volume(kind, v)
        amount = 0
        if v.get("amount"):
            amount = self.decimal_value(v["amount"], "amount")
            amount = -amount if self.negate else amount
        start, day = self.when(v)
        if kind == "data":
            destination = (v.get("apn") or v.get("destination", "")).lower()
        else:
            destination = self.number(v.get("destination", ""))
        return UsageRecord(
            line=msisdn or iccid, iccid=iccid, kind=kind, destination=destination, volume=volume,
            zone=self.zone_of(v), start=start, day=day, amount=amount, currency=self.p["currency"],
            carrier=self.p["carrier"], account=v.get("account", ""), invoice=v.get("invoice", ""),
            plan=v.get("plan", ""), src_line=line)

    def volume(self, kind: str, v: dict[str, str]) -> int:
        key = {"voice": "duration", "sms": "messages", "mms": "messages", "data": "data"}[kind]
        if key not in v or not v[key]:
            key = "volume"
        text = v.get(key, "")
        if not text:
            if kind in ("sms", "mms"):
                return 1  # a message row without a count is one message
            raise _RowError(key, _("empty {kind} volume").format(kind=kind))
        if kind == "voice":
            fmt = self.p.get("duration_format", "seconds")
            if fmt == "hh:mm:ss":
                parts = text.split(":")
                if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
                    raise _RowError(key, _("{text} is not a duration (hh:mm:ss)").format(text=repr(text)))
                seconds = 0
                for p in parts:
                    seconds = seconds * 60 + int(p)
                return seconds
            value = self.decimal_value(text, key)
            if value < 0:
                raise _RowError(key, _("{text} is a negative duration").format(text=repr(text)))
            return divide_round(value * (60 if fmt == "minutes" else 1), SCALE, "up")
        value = self.decimal_value(text, key)
        if value < 0:
            raise _RowError(key, _("{text} is a negative volume").format(text=repr(text)))
        if kind == "data":
            return divide_round(value * self.data_unit, SCALE, "up")
        if value % SCALE:
            raise _RowError(key, _("{text} is not a whole number of messages").format(text=repr(text)))
        return value // SCALE

    def when(self, v: dict[str, str]) -> tuple[int, str]:
        if "start" in v:
            text, fmt, key = v["start"], self.p.get("start_format", "%Y-%m-%d %H:%M:%S"), "start"
        else:
            text = f"{v.get('date', '')} {v.get('time', '')}".strip()
            fmt = f"{self.p.get('date_format', '%Y-%m-%d')} {self.p.get('time_format', '%H:%M:%S')}" \
                if v.get("time") else self.p.get("date_format", "%Y-%m-%d")
            key = "date"
        if not text:
            raise _RowError(key, _("empty date"))
        try:
            if fmt == "epoch":
                when = dt.datetime.fromtimestamp(int(text), dt.timezone.utc)
            elif fmt == "iso":
                when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            elif fmt.endswith(" %H:%M:%S") and " " in text:
                when = self._fast(text, fmt)
            else:
                when = dt.datetime.strptime(text, fmt)
        except (ValueError, OverflowError, OSError):
            raise _RowError(key, _("{text} does not match {fmt}").format(text=repr(text), fmt=repr(fmt))) from None
        if when.tzinfo is None:  # local time: its date is the local day
            return int(when.replace(tzinfo=self.zone).timestamp()), when.date().isoformat()
        return int(when.timestamp()), when.astimezone(self.zone).date().isoformat()

    def _fast(self, text: str, fmt: str) -> dt.datetime:
        """strptime's result for "<date> HH:MM:SS", with each distinct date parsed once (a month has 31)."""
        date_text, _sep, time_text = text.rpartition(" ")
        day = self._dates.get(date_text)
        if day is None:
            day = self._dates[date_text] = dt.datetime.strptime(date_text.strip(), fmt[:-9]).date()
        parts = time_text.split(":")
        if len(parts) != 3 or not all(p.isdigit() and 1 <= len(p) <= 2 for p in parts):
            raise ValueError(text)
        return dt.datetime.combine(day, dt.time(int(parts[0]), int(parts[1]), int(parts[2])))

    def zone_of(self, v: dict[str, str]) -> str:
        raw = v.get("zone", "")
        if raw:
            zone = raw.lower() if raw.lower() in ZONES else self.zones.get(raw.lower())
            if zone is None:
                raise _RowError("zone", _(
                    "{raw} is not a zone (map it in zone_map to {names})").format(raw=repr(raw), names='/'.join(ZONES)))
            return zone
        country = v.get("country", "").upper()
        if not country or country == self.p.get("home_country"):
            return "home"
        if not re.fullmatch(r"[A-Z]{2}", country):
            raise _RowError("country", _(
                "{value} is not an ISO 3166 alpha-2 country code").format(value=repr(v.get('country'))))
        return "eu" if country in EU_EEA else "world"


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
