"""Mobile lines: usage import, settings, the lines view, right-sizing and findings (see tem.mobile_plans for the
plan catalogue and the bulk evaluation).

Import: a carrier usage CSV (read with the `[mobile_csv.NAME]` profile whose header it has, or the one named) or an
invoice (UBL, CII, Factur-X, X12, invoice CSV: its usage lines that name a line) becomes usage records and rejects,
stored in one transaction with counts that balance (read = stored + rejected + duplicates). Re-importing a file
stores nothing new. Thresholds of `[mobile]` (roaming amount, data volume per line and month) are checked as the
usage arrives: a line over one gets an ALERT-ROAMING / ALERT-DATA finding, printed by the import.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.money import MoneyError, parse_money
from ingest.usage.model import UsageBatch, UsageError

MB = 10**6


class MobileError(Exception):
    """A file or setting the user must fix: the message names it."""


@dataclass
class MobileSettings:
    """The `[mobile]` table of anatole.toml."""

    plans: list[Path] = field(default_factory=list)  # plan catalogues (TOML, see tem.mobile_plans)
    months: int = 3  # right-sizing looks at the last N months with usage
    zero_use_days: int = 60  # ZERO-USE: no usage for this many days up to the latest usage day
    roaming_alert: int | None = None  # ALERT-ROAMING: billed roaming per line and month above this (10**-8)
    data_alert_mb: int | None = None  # ALERT-DATA: data per line and month above this many MB (10**6 bytes)
    spike_factor: int = 3  # ROAMING-SPIKE: a month's roaming over this times the line's previous monthly average


SETTING_KEYS = {"plans", "months", "zero_use_days", "roaming_alert", "data_alert_mb", "spike_factor"}


def parse_settings(raw: Any, root: Path, where: str, add: Callable[..., None]) -> MobileSettings:
    """[mobile] settings, each problem reported through `add(where, key, message)`."""
    s = MobileSettings()
    if not isinstance(raw, dict):
        add(where, "mobile", "must be a table ([mobile])")
        return s
    at = f"{where} [mobile]"
    for key in sorted(set(raw) - SETTING_KEYS):
        add(at, key, f"unknown key (expected one of: {', '.join(sorted(SETTING_KEYS))})")
    plans = raw.get("plans", [])
    if isinstance(plans, str):
        plans = [plans]
    if not isinstance(plans, list) or not all(isinstance(p, str) for p in plans):
        add(at, "plans", "must be a path or a list of paths to plan catalogues (TOML)")
    else:
        s.plans = [(root / p) for p in plans]
    for key in ("months", "zero_use_days", "data_alert_mb", "spike_factor"):
        if key in raw:
            v = raw[key]
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                add(at, key, f"{v!r} must be a whole number >= 1")
            else:
                setattr(s, key, v)
    if "roaming_alert" in raw:
        try:
            s.roaming_alert = parse_money(str(raw["roaming_alert"]))
            if s.roaming_alert < 0:
                raise MoneyError("negative")
        except MoneyError:
            add(at, "roaming_alert", f"{raw['roaming_alert']!r} must be an amount (e.g. \"50.00\")")
    return s


def validate_profiles(doc: Any, where: str, add: Callable[..., None]) -> dict[str, dict[str, Any]]:
    """The [mobile_csv.NAME] profiles, each checked."""
    from ingest.usage.csv_profile import validate_profile

    out: dict[str, dict[str, Any]] = {}
    if not isinstance(doc, dict):
        add(where, "mobile_csv", "must be a table of profiles ([mobile_csv.NAME])")
        return out
    for name, profile in doc.items():
        if not isinstance(profile, dict):
            add(f"{where} [mobile_csv]", name, "must be a table ([mobile_csv.NAME])")
            continue
        for message in validate_profile(profile, f"mobile_csv.{name}"):
            add(where, None, message)
        out[name] = profile
    return out


# --- import ---------------------------------------------------------------------------------------------------


def read_file(data: bytes, where: str, *, profiles: dict[str, dict[str, Any]], profile: str | None = None,
              invoice_profiles: dict[str, dict[str, Any]] | None = None) -> UsageBatch:
    """The usage batch of one file: a [mobile_csv] profile's CSV, or an invoice's usage lines."""
    from ingest.invoice import InvoiceError, read_invoices
    from ingest.usage import csv_profile
    from ingest.usage.invoice_lines import from_invoice

    if profile is not None:
        if profile not in profiles:
            raise MobileError(f"{where}: no [mobile_csv.{profile}] profile in anatole.toml "
                              f"(have: {', '.join(sorted(profiles)) or 'none'})")
        return _csv(data, where, profile, profiles[profile])
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        raise MobileError(f"{where}: empty file")
    if not (head.startswith((b"<", b"%PDF", b"ISA", b"ST*"))):
        matches = [n for n, p in profiles.items() if csv_profile.header_matches(data, p)]
        if len(matches) == 1:
            return _csv(data, where, matches[0], profiles[matches[0]])
        if len(matches) > 1:
            raise MobileError(f"{where}: the header fits several [mobile_csv] profiles ({', '.join(sorted(matches))})"
                              ": name one with --profile")
    try:
        _, invoices = read_invoices(data, where, profiles=invoice_profiles or {}, stem=Path(where).stem)
    except InvoiceError as exc:
        raise MobileError(f"{exc} (nor a usage CSV whose header fits a [mobile_csv.NAME] profile)") from None
    out = UsageBatch(format="invoice")
    for inv in invoices:
        b = from_invoice(inv, where)
        out.records += b.records
        out.rejects += b.rejects
        out.read += b.read
        out.carrier, out.format = b.carrier, b.format
    if not out.read:
        out.notes.append("the invoice carries no usage line that names a line: nothing to import")
    return out


def _csv(data: bytes, where: str, name: str, profile: dict[str, Any]) -> UsageBatch:
    from ingest.usage import csv_profile

    try:
        return csv_profile.parse(data, where, name, profile)
    except UsageError as exc:
        raise MobileError(str(exc)) from None


def import_file(mstore: Any, path: Path, *, profiles: dict[str, dict[str, Any]], profile: str | None = None,
                invoice_profiles: dict[str, dict[str, Any]] | None = None,
                settings: MobileSettings | None = None) -> dict[str, Any]:
    """Read and store one file; returns its counts, rejects and the threshold alerts it raised."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MobileError(f"{path}: cannot be read ({exc.strerror})") from None
    batch = read_file(data, str(path), profiles=profiles, profile=profile, invoice_profiles=invoice_profiles)
    records = [{k: getattr(r, k) for k in r.__struct_fields__} for r in batch.records]
    rejects = [{"line": j.line, "field": j.field, "reason": j.reason, "raw": j.raw} for j in batch.rejects]
    plans = {(r.line, r.carrier, r.account, r.plan) for r in batch.records if r.plan}
    counts = mstore.save_import(file=str(path), sha256=hashlib.sha256(data).hexdigest(), fmt=batch.format,
                                carrier=batch.carrier, read=batch.read, records=records, rejects=rejects,
                                plans=sorted(plans))
    alerts = threshold_alerts(mstore, {(r.line, r.day[:7]) for r in batch.records}, settings or MobileSettings())
    if alerts:
        mstore.add_findings(alerts)
    return {"file": str(path), "format": batch.format, "carrier": batch.carrier, **counts,
            "rejects": rejects, "alerts": alerts, "notes": batch.notes}


def threshold_alerts(mstore: Any, touched: set[tuple[str, str]], s: MobileSettings) -> list[dict[str, Any]]:
    """ALERT-ROAMING / ALERT-DATA findings for the (line, month)s an import touched that are over a threshold."""
    if not touched or (s.roaming_alert is None and s.data_alert_mb is None):
        return []
    months = sorted({m for _, m in touched})
    totals: dict[tuple[str, str], dict[str, Any]] = {}
    for r in mstore.monthly(months[0], months[-1]):
        key = (r["line"], r["month"])
        if key not in touched:
            continue
        t = totals.setdefault(key, {"roaming": 0, "data": 0, "carrier": r["carrier"], "currency": r["currency"]})
        if r["zone"] != "home":
            t["roaming"] += r["amount"]
        if r["kind"] == "data":
            t["data"] += r["volume"]
    out = []
    for (line, month), t in sorted(totals.items()):
        if s.roaming_alert is not None and t["roaming"] > s.roaming_alert:
            out.append({"rule": "ALERT-ROAMING", "line": line, "carrier": t["carrier"], "month": month,
                        "expected": f"<= {_money(s.roaming_alert)}", "actual": _money(t["roaming"]),
                        "at_stake": t["roaming"], "currency": t["currency"],
                        "message": f"roaming billed {_money(t['roaming'])} {t['currency']} in {month}, over the "
                                   f"alert threshold {_money(s.roaming_alert)}"})
        if s.data_alert_mb is not None and t["data"] > s.data_alert_mb * MB:
            out.append({"rule": "ALERT-DATA", "line": line, "carrier": t["carrier"], "month": month,
                        "expected": f"<= {s.data_alert_mb} MB", "actual": f"{t['data'] // MB} MB", "at_stake": 0,
                        "currency": t["currency"],
                        "message": f"{t['data'] // MB} MB of data in {month}, over the alert threshold "
                                   f"{s.data_alert_mb} MB"})
    return out


def _money(v: int) -> str:
    from engine.money import format_amount

    return format_amount(v)


def month_list(last: str, n: int) -> list[str]:
    """The n months (YYYY-MM) ending with `last`, oldest first."""
    y, m = int(last[:4]), int(last[5:7])
    out = []
    for _ in range(n):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return out[::-1]


def today() -> str:
    return dt.date.today().isoformat()
