"""Mobile lines: usage import, settings, the lines view, right-sizing and findings (see tem.mobile_plans for the
plan catalogue and the bulk evaluation).

Import: a carrier usage CSV (read with the `[mobile_csv.NAME]` profile whose header it has, or the one named) or an
invoice (UBL, CII, Factur-X, X12, invoice CSV: its usage lines that name a line) becomes usage records and rejects,
stored in one transaction with counts that balance (read = stored + rejected + duplicates). Re-importing a file
stores nothing new. Thresholds of `[mobile]` (roaming amount, data volume per line and month) are checked as the
usage arrives: a line over one gets an ALERT-ROAMING / ALERT-DATA finding, printed by the import. The `[[alert]]`
rules of the mobile kinds (`roaming > 50 MB`, `roaming cost > 20`, `data > 10 GB`: pbx.alerts) raise real alerts
at the same moment: stored in the alerts table the daemon uses (`anatole alerts`, the console), once per rule, line
and month, with their deliveries (e-mail, webhook, syslog) in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.money import MoneyError, divide_round, format_amount, parse_money
from i18n import _
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
        add(where, "mobile", _("must be a table ([mobile])"))
        return s
    at = f"{where} [mobile]"
    for key in sorted(set(raw) - SETTING_KEYS):
        add(at, key, _("unknown key (expected one of: {keys})").format(keys=", ".join(sorted(SETTING_KEYS))))
    plans = raw.get("plans", [])
    if isinstance(plans, str):
        plans = [plans]
    if not isinstance(plans, list) or not all(isinstance(p, str) for p in plans):
        add(at, "plans", _("must be a path or a list of paths to plan catalogues (TOML)"))
    else:
        s.plans = [(root / p) for p in plans]
    for key in ("months", "zero_use_days", "data_alert_mb", "spike_factor"):
        if key in raw:
            v = raw[key]
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                add(at, key, _("{value} must be a whole number >= 1").format(value=repr(v)))
            elif key == "months" and v > 36:  # as `mobile rightsize --months` (1..36)
                add(at, key, _("{value}: at most 36 months").format(value=repr(v)))
            else:
                setattr(s, key, v)
    if "roaming_alert" in raw:
        try:
            s.roaming_alert = parse_money(str(raw["roaming_alert"]))
            if s.roaming_alert < 0:
                raise MoneyError("negative")
        except MoneyError:
            add(at, "roaming_alert", _("{value} must be an amount (e.g. \"50.00\")").format(
                value=repr(raw["roaming_alert"])))
    return s


def validate_profiles(doc: Any, where: str, add: Callable[..., None]) -> dict[str, dict[str, Any]]:
    """The [mobile_csv.NAME] profiles, each checked."""
    from ingest.usage.csv_profile import validate_profile

    out: dict[str, dict[str, Any]] = {}
    if not isinstance(doc, dict):
        add(where, "mobile_csv", _("must be a table of profiles ([mobile_csv.NAME])"))
        return out
    for name, profile in doc.items():
        if not isinstance(profile, dict):
            add(f"{where} [mobile_csv]", name, _("must be a table ([mobile_csv.NAME])"))
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
            raise MobileError(_("{where}: no [mobile_csv.{profile}] profile in anatole.toml (have: {names})").format(
                where=where, profile=profile, names=", ".join(sorted(profiles)) or _("none")))
        return _csv(data, where, profile, profiles[profile])
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        raise MobileError(_("{where}: empty file").format(where=where))
    if not (head.startswith((b"<", b"%PDF", b"ISA", b"ST*"))):
        matches = [n for n, p in profiles.items() if csv_profile.header_matches(data, p)]
        if len(matches) == 1:
            return _csv(data, where, matches[0], profiles[matches[0]])
        if len(matches) > 1:
            raise MobileError(_("{where}: the header fits several [mobile_csv] profiles ({names}): name one with "
                                "--profile").format(where=where, names=", ".join(sorted(matches))))
    try:
        _fmt, invoices = read_invoices(data, where, profiles=invoice_profiles or {}, stem=Path(where).stem)
    except InvoiceError as exc:
        raise MobileError(_("{error} (nor a usage CSV whose header fits a [mobile_csv.NAME] profile)").format(
            error=exc)) from None
    out = UsageBatch(format="invoice")
    for inv in invoices:
        b = from_invoice(inv, where)
        out.records += b.records
        out.rejects += b.rejects
        out.read += b.read
        out.carrier, out.format = b.carrier, b.format
    if not out.read:
        out.notes.append(_("the invoice carries no usage line that names a line: nothing to import"))
    return out


def _csv(data: bytes, where: str, name: str, profile: dict[str, Any]) -> UsageBatch:
    from ingest.usage import csv_profile

    try:
        return csv_profile.parse(data, where, name, profile)
    except UsageError as exc:
        raise MobileError(str(exc)) from None


def import_file(mstore: Any, path: Path, *, profiles: dict[str, dict[str, Any]], profile: str | None = None,
                invoice_profiles: dict[str, dict[str, Any]] | None = None,
                settings: MobileSettings | None = None, rules: list[Any] | None = None,
                delivery: Any = None) -> dict[str, Any]:
    """Read and store one file; returns its counts, rejects, the threshold findings (`alerts`) and the [[alert]]
    alerts it raised (`raised`: new ones only). `rules`: pbx.alerts rules (those of the mobile kinds are used);
    `delivery`: pbx.notify.Settings (its [notify] system list), for the deliveries."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MobileError(_("{path}: cannot be read ({error})").format(path=path, error=exc.strerror)) from None
    batch = read_file(data, str(path), profiles=profiles, profile=profile, invoice_profiles=invoice_profiles)
    records = [{k: getattr(r, k) for k in r.__struct_fields__} for r in batch.records]
    rejects = [{"line": j.line, "field": j.field, "reason": j.reason, "raw": j.raw} for j in batch.rejects]
    plans = {(r.line, r.carrier, r.account, r.plan) for r in batch.records if r.plan}
    counts = mstore.save_import(file=str(path), sha256=hashlib.sha256(data).hexdigest(), fmt=batch.format,
                                carrier=batch.carrier, read=batch.read, records=records, rejects=rejects,
                                plans=sorted(plans))
    touched = {(r.line, r.day[:7]) for r in batch.records}
    s = settings or MobileSettings()
    usage_rules = [r for r in rules or [] if r.kind in ("roaming", "data")]
    totals = month_totals(mstore, touched) if touched and (
        usage_rules or s.roaming_alert is not None or s.data_alert_mb is not None) else {}
    alerts = threshold_alerts(totals, s)
    if alerts:
        mstore.add_findings(alerts)
    raised = raise_alerts(mstore, usage_rules, totals, delivery) if usage_rules else []
    return {"file": str(path), "format": batch.format, "carrier": batch.carrier, **counts,
            "rejects": rejects, "alerts": alerts, "raised": raised, "notes": batch.notes}


def month_totals(mstore: Any, touched: set[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (line, month) an import touched: billed roaming (any kind outside the home zone), roaming data bytes,
    data bytes (all zones); every record of the month counts, not only this file's."""
    if not touched:
        return {}
    months = sorted({m for _unused, m in touched})
    totals: dict[tuple[str, str], dict[str, Any]] = {}
    for r in mstore.monthly(months[0], months[-1]):
        key = (r["line"], r["month"])
        if key not in touched:
            continue
        t = totals.setdefault(key, {"roaming": 0, "roaming_bytes": 0, "data": 0, "carrier": r["carrier"],
                                    "currency": r["currency"]})
        if r["zone"] != "home":
            t["roaming"] += r["amount"]
        if r["kind"] == "data":
            t["data"] += r["volume"]
            if r["zone"] != "home":
                t["roaming_bytes"] += r["volume"]
    return totals


def raise_alerts(mstore: Any, rules: list[Any], totals: dict[tuple[str, str], dict[str, Any]],
                 delivery: Any = None) -> list[dict[str, Any]]:
    """The [[alert]] mobile rules over the totals: new alerts stored with their deliveries (one transaction, as
    the daemon does); an alert already stored for that rule, line and month is not raised again."""
    from pbx.alerts import usage_alerts
    from pbx.notify import delivery_rows, rule_targets

    rows = usage_alerts(rules, {k: {"roaming_bytes": t["roaming_bytes"], "roaming_cost": t["roaming"],
                                    "data_bytes": t["data"], "currency": t["currency"]}
                                for k, t in totals.items()}, int(dt.datetime.now(dt.UTC).timestamp()))
    if not rows:
        return []
    targets = rule_targets((r.name, r.notify) for r in rules)
    system = list(getattr(delivery, "system", None) or [])
    stored = mstore.add_alerts(rows, lambda got: delivery_rows(targets, system, got))
    return [{**row, "id": aid} for row, aid in stored if aid is not None]


def threshold_alerts(totals: dict[tuple[str, str], dict[str, Any]], s: MobileSettings) -> list[dict[str, Any]]:
    """ALERT-ROAMING / ALERT-DATA findings for the (line, month) totals over a [mobile] threshold."""
    if s.roaming_alert is None and s.data_alert_mb is None:
        return []
    out = []
    for (line, month), t in sorted(totals.items()):
        if s.roaming_alert is not None and t["roaming"] > s.roaming_alert:
            out.append({"rule": "ALERT-ROAMING", "line": line, "carrier": t["carrier"], "month": month,
                        "expected": f"<= {_money(s.roaming_alert)}", "actual": _money(t["roaming"]),
                        "at_stake": t["roaming"], "currency": t["currency"],
                        "message": _("roaming billed {amount} {currency} in {month}, over the alert threshold "
                                     "{threshold}").format(amount=_said(t["roaming"]), currency=t["currency"],
                                                           month=month, threshold=_said(s.roaming_alert))})
        if s.data_alert_mb is not None and t["data"] > s.data_alert_mb * MB:
            out.append({"rule": "ALERT-DATA", "line": line, "carrier": t["carrier"], "month": month,
                        "expected": f"<= {s.data_alert_mb} MB", "actual": f"{t['data'] // MB} MB", "at_stake": 0,
                        "currency": t["currency"],
                        "message": _("{volume} MB of data in {month}, over the alert threshold {threshold} "
                                     "MB").format(volume=t["data"] // MB, month=month, threshold=s.data_alert_mb)})
    return out


def _money(v: int) -> str:
    return format_amount(v)


def _said(v: int) -> str:
    """An amount inside a finding's text in the writer's locale style (French: 1 234,50); English keeps the plain
    figure of the expected/actual columns."""
    from store import display

    return format_amount(v) if display.locale().split("_")[0] == "en" else display.amount(v, exact=True)


def month_list(last: str, n: int) -> list[str]:
    """The n months (YYYY-MM) ending with `last`, oldest first."""
    y, m = int(last[:4]), int(last[5:7])
    out = []
    for _i in range(n):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return out[::-1]


def today() -> str:
    return dt.date.today().isoformat()


# --- plans, right-sizing and the lines view ----------------------------------------------------------------------


def _plans(ws: Any) -> list[Any]:
    from tem.mobile_plans import PlanError, load_catalogues

    settings = ws.mobile or MobileSettings()
    if not settings.plans:
        raise MobileError(_("no plan catalogue: add [mobile] plans = [\"plans/carrier.toml\"] to anatole.toml"))
    try:
        return load_catalogues(settings.plans)
    except PlanError as exc:
        raise MobileError(_("plan catalogues are not valid:") + "\n  " + "\n  ".join(exc.problems)) from None


def current_plans(mstore: Any) -> dict[str, str]:
    """Each line's plan: as the usage files name it (mobile_lines), else its inventory contract's tariff."""
    plans = {r["line"]: r["plan"] for r in mstore.lines() if r["plan"]}
    try:
        from store.inventory import open_inventory
        from tem.inventory import normalise_service

        inv = open_inventory(mstore.conn)
        contracts = {c["key"]: c.get("tariff") for c in inv.items("contract", at=today())}
        for item in inv.items("line", at=today()):
            key = normalise_service(item["key"])
            tariff = contracts.get(item.get("contract") or "")
            if tariff and key not in plans:
                plans[key] = tariff
    except Exception:  # noqa: BLE001 - the inventory is optional here: without it, the files' plans only
        pass
    return plans


@dataclass
class UsageArrays:
    months: list[str]
    lines: list[str]
    carriers: list[str]
    accounts: list[str]
    currencies: list[str]
    usage: Any  # int64 (6, L, M) in tem.mobile_plans.COMPONENTS order
    billed: Any  # int64 (L, M): the billed usage amounts
    roaming: Any  # int64 (L, M): billed amounts outside home


def usage_arrays(mstore: Any, months: list[str]) -> UsageArrays:
    """Every line with usage in `months`, its usage summed per month into the kernel's components."""
    import numpy as np

    rows = mstore.monthly(months[0], months[-1])
    index: dict[str, int] = {}
    meta: list[tuple[str, str]] = []
    for r in rows:
        if r["line"] not in index:
            index[r["line"]] = len(index)
            meta.append((r["carrier"], r["currency"]))
    accounts = {x["line"]: x["account"] or "" for x in mstore.lines()}
    mi = {m: i for i, m in enumerate(months)}
    usage = np.zeros((6, len(index), len(months)), np.int64)
    billed = np.zeros((len(index), len(months)), np.int64)
    roaming = np.zeros((len(index), len(months)), np.int64)
    comp = {"voice": 0, "sms": 1, "mms": 1, "data": 2}
    for r in rows:
        i, j = index[r["line"]], mi[r["month"]]
        usage[comp[r["kind"]] + (3 if r["zone"] == "world" else 0), i, j] += r["volume"]
        billed[i, j] += r["amount"]
        if r["zone"] != "home":
            roaming[i, j] += r["amount"]
    lines = list(index)
    return UsageArrays(months, lines, [c for c, _unused in meta], [accounts.get(x, "") for x in lines],
                       [c for _unused, c in meta], usage, billed, roaming)


def _last_month(mstore: Any, last_month: str | None, option: str = "--last") -> str:
    if last_month is not None:
        try:
            dt.date.fromisoformat(f"{last_month}-01")
        except ValueError:
            raise MobileError(_("{option} {month} is not a month (YYYY-MM)").format(
                option=option, month=repr(last_month))) from None
        return last_month
    day = mstore.last_day()
    if day is None:
        raise MobileError(_("no mobile usage stored: import usage detail first (anatole mobile import FILE)"))
    return str(day)[:7]


def rightsize(ws: Any, mstore: Any, *, months: int | None = None, last_month: str | None = None,
              save: bool = True) -> dict[str, Any]:
    """Each line's cost over the last N months on its plan and on the cheapest plan of its carrier (same
    currency), the saving; and per pool (carrier + account) the best individual plans against each pooled plan.
    `save`: keep the result in the store (what the console's Mobile screen shows)."""
    import numpy as np

    from tem.mobile_plans import evaluate, plan_set

    settings = ws.mobile or MobileSettings()
    n = months or settings.months
    month_names = month_list(_last_month(mstore, last_month), n)
    plans = _plans(ws)
    ua = usage_arrays(mstore, month_names)
    ps = plan_set(plans, month_names)
    cost = evaluate(ua.usage, np.ones(len(ua.lines), np.int64), ps).sum(axis=2)  # (L, P)
    key_index = {k: i for i, k in enumerate(ps.keys)}
    pooled = np.array([p.pooled for p in ps.plans], bool)
    current = current_plans(mstore)
    out_lines, totals = [], {}
    best_of = np.zeros(len(ua.lines), np.int64)
    masks: dict[tuple[str, str], Any] = {}  # the individual plans a line may move to: its carrier's, same currency
    for i, line in enumerate(ua.lines):
        group = (ua.carriers[i], ua.currencies[i])
        if group not in masks:
            masks[group] = np.array([(p.carrier, p.currency) == group for p in ps.plans], bool) & ~pooled
        ok = masks[group]
        plan = current.get(line, "")
        cur_i = key_index.get((ua.carriers[i], plan))
        row: dict[str, Any] = {"line": line, "carrier": ua.carriers[i], "account": ua.accounts[i], "plan": plan,
                               "currency": ua.currencies[i], "billed_usage": format_amount(int(ua.billed[i].sum())),
                               "current_cost": None, "best_plan": "", "best_cost": "", "saving": None, "_row": i}
        if ok.any():
            masked = np.where(ok, cost[i], np.iinfo(np.int64).max)
            b = int(np.argmin(masked))
            best_of[i] = int(cost[i, b])
            row["best_plan"], row["best_cost"] = ps.keys[b][1], format_amount(int(cost[i, b]))
            if cur_i is not None:
                saving = int(cost[i, cur_i] - cost[i, b])
                row["current_cost"], row["saving"] = format_amount(int(cost[i, cur_i])), format_amount(saving)
                row["saving_value"] = saving
                totals[ua.currencies[i]] = totals.get(ua.currencies[i], 0) + saving
        out_lines.append(row)
    out_lines.sort(key=lambda r: -r.get("saving_value", 0))
    pools = _pools(ua, ps, best_of, month_names)
    if save:
        _save(mstore, out_lines, ps, cost, key_index, month_names)
    for r in out_lines:
        r.pop("_row")
    no_catalogue = sorted({r["carrier"] for r in out_lines if not r["best_plan"]})
    no_plan = sum(1 for r in out_lines if r["best_plan"] and r["current_cost"] is None)
    return {"months": n, "first_month": month_names[0], "last_month": month_names[-1], "lines": out_lines,
            "carriers_without_plans": no_catalogue, "lines_without_current_plan": no_plan,
            "pools": pools, "rounding": _("each line-month rounded to the catalogue's rounding (default 2 decimals "
                                          "half_up)"),
            "saving_total": {c: format_amount(v) for c, v in totals.items()}}


def _save(mstore: Any, rows: list[dict[str, Any]], ps: Any, cost: Any, key_index: dict[tuple[str, str], int],
          months: list[str]) -> None:
    import time

    now = int(time.time())
    out = []
    for r in rows:
        i = key_index.get((r["carrier"], r["plan"]))
        plan = ps.plans[i] if i is not None else None
        b = key_index.get((r["carrier"], r["best_plan"]))
        out.append({"line": r["line"], "carrier": r["carrier"], "currency": r["currency"], "plan": r["plan"],
                    "minutes": plan.minutes if plan else None, "sms": plan.sms if plan else None,
                    "data_mb": plan.data_mb if plan else None, "best_plan": r["best_plan"] or None,
                    "current_cost": None, "best_cost": None, "saving": r.get("saving_value"),
                    "months": len(months), "first_month": months[0], "last_month": months[-1], "at": now})
        if b is not None:
            out[-1]["best_cost"] = int(cost[r["_row"], b])
        if i is not None:
            out[-1]["current_cost"] = int(cost[r["_row"], i])
    mstore.save_rightsize(out)


def _pools(ua: UsageArrays, ps: Any, best_of: Any, months: list[str]) -> list[dict[str, Any]]:
    """Per carrier + account with a pooled plan on offer: its lines' summed usage priced on each pooled plan."""
    import numpy as np

    from tem.mobile_plans import evaluate

    pooled_idx = [i for i, p in enumerate(ps.plans) if p.pooled]
    if not pooled_idx:
        return []
    groups: dict[tuple[str, str, str], list[int]] = {}
    for i in range(len(ua.lines)):
        groups.setdefault((ua.carriers[i], ua.accounts[i], ua.currencies[i]), []).append(i)
    keys = [k for k in sorted(groups) if any(ps.plans[p].carrier == k[0] and ps.plans[p].currency == k[2]
                                             for p in pooled_idx)]
    if not keys:
        return []
    usage = np.stack([ua.usage[:, groups[k], :].sum(axis=1) for k in keys], axis=1)  # (6, G, M)
    counts = np.array([len(groups[k]) for k in keys], np.int64)
    cost = evaluate(usage, counts, ps).sum(axis=2)  # (G, P)
    out = []
    for g, (carrier, account, currency) in enumerate(keys):
        cands = [p for p in pooled_idx if ps.plans[p].carrier == carrier and ps.plans[p].currency == currency]
        b = min(cands, key=lambda p: int(cost[g, p]))
        individual = int(best_of[groups[(carrier, account, currency)]].sum())
        out.append({"carrier": carrier, "account": account, "currency": currency, "lines": int(counts[g]),
                    "individual_cost": format_amount(individual), "best_pooled_plan": ps.keys[b][1],
                    "best_pooled_cost": format_amount(int(cost[g, b])),
                    "pooled_saving": format_amount(max(0, individual - int(cost[g, b])))})
    return out


def lines_view(ws: Any, mstore: Any, month: str | None = None) -> dict[str, Any]:
    """Each line with its plan and its usage of `month` against the plan's allowances, and (when plans are
    configured) the suggested plan and monthly saving over the [mobile] months ending with `month`."""
    from tem.mobile_plans import plan_set

    if month is None and mstore.last_day() is None:  # nothing imported yet: an empty view, not an error
        return {"month": None, "lines": []}
    last = _last_month(mstore, month, "--month")  # a month that is not one: said (it showed "no usage")
    ua = usage_arrays(mstore, [last])
    current = current_plans(mstore)
    plans_by_key: dict[tuple[str, str], Any] = {}
    suggestion: dict[str, dict[str, Any]] = {}
    if (ws.mobile or MobileSettings()).plans:
        plans = _plans(ws)
        ps = plan_set(plans, [last])
        plans_by_key = dict(zip(ps.keys, ps.plans))
        rs = rightsize(ws, mstore, last_month=last, save=False)
        per = rs["months"]
        for r in rs["lines"]:
            if r.get("saving_value"):
                monthly = divide_round(r["saving_value"], per, "half_up")  # the average month, half_up to 10**-8
                suggestion[r["line"]] = {"plan": r["best_plan"], "saving": format_amount(monthly)}
    out = []
    for i, line in enumerate(ua.lines):
        u = ua.usage[:, i, 0]
        plan = plans_by_key.get((ua.carriers[i], current.get(line, "")))
        out.append({
            "line": line, "carrier": ua.carriers[i], "plan": current.get(line, ""), "currency": ua.currencies[i],
            "voice_seconds": int(u[0] + u[3]), "sms_count": int(u[1] + u[4]), "data_bytes": int(u[2] + u[5]),
            "voice": _against(int(u[0]) // 60, plan.minutes if plan else None, "min"),
            "sms": _against(int(u[1]), plan.sms if plan else None, ""),
            "data": _against(int(u[2]) // MB, plan.data_mb if plan else None, "MB"),
            "roaming": format_amount(int(ua.roaming[i, 0])), "billed": format_amount(int(ua.billed[i, 0])),
            "suggested": suggestion.get(line, {}).get("plan"), "saving": suggestion.get(line, {}).get("saving")})
    return {"month": last, "lines": out}


def _against(used: int, allowance: int | None, unit: str) -> str:
    """'312/500 min' (home + EU use against the allowance), '312/unl.' or '312 min' without a known plan."""
    suffix = f" {unit}" if unit else ""
    if allowance is None:
        return f"{used}{suffix}"
    return f"{used}/{'unl.' if allowance < 0 else allowance}{suffix}"


# --- findings ------------------------------------------------------------------------------------------------------

FINDING_RULES = ("ZERO-USE", "ROAMING-SPIKE", "AFTER-CANCEL", "OVERAGE-INCLUDED")
ALERT_RULES = ("ALERT-ROAMING", "ALERT-DATA")
SPIKE_FLOOR = 10 * 10**8  # a roaming spike is at least 10 currency units over the line's usual month
SPIKE_HISTORY = 3  # months before the one checked that make "the usual month"


def run_findings(ws: Any, mstore: Any) -> list[dict[str, Any]]:
    """Run the mobile checks, replace their previous findings, and return every mobile finding (with the
    threshold alerts raised at import), largest money at stake first.

    - ZERO-USE: a line (with usage stored, a plan, or an inventory line of a carrier whose usage is imported) with
      no usage for [mobile] zero_use_days up to the latest usage day; at stake: its plan's monthly fee.
    - ROAMING-SPIKE: a month's billed roaming over spike_factor times the line's average of its previous months
      (up to 3 with usage) and at least 10.00 over it; at stake: the excess over the average.
    - AFTER-CANCEL: usage dated after the line's last day in the inventory (cancelled); at stake: its amount.
    - OVERAGE-INCLUDED: home/EU usage billed while the month's running total of that kind was still within the
      plan's allowance (or the plan includes it without limit); voice and messages only to numbers of the line's
      own country; at stake: the amounts billed.
    """
    settings = ws.mobile or MobileSettings()
    last_day = mstore.last_day()
    if last_day is None:
        return mstore.findings()
    plans_by_key: dict[tuple[str, str], Any] = {}
    if settings.plans:
        from tem.mobile_plans import plan_set

        ps = plan_set(_plans(ws), [last_day[:7]])
        plans_by_key = dict(zip(ps.keys, ps.plans))
    current = current_plans(mstore)
    inventory = _inventory_lines(mstore)
    rows: list[dict[str, Any]] = []
    rows += _zero_use(mstore, settings, last_day, current, plans_by_key, inventory)
    rows += _roaming_spikes(mstore, settings, last_day)
    rows += _after_cancel(mstore, inventory)
    rows += _overage_included(mstore, current, plans_by_key)
    mstore.replace_findings(FINDING_RULES, rows)
    return mstore.findings()


def _inventory_lines(mstore: Any) -> dict[str, list[dict[str, Any]]]:
    """Every version of every inventory line, by normalised service ({} without an inventory)."""
    try:
        from store.inventory import open_inventory
        from tem.inventory import normalise_service

        out: dict[str, list[dict[str, Any]]] = {}
        for item in open_inventory(mstore.conn).items("line"):
            out.setdefault(normalise_service(item["key"]), []).append(item)
        return out
    except Exception:  # noqa: BLE001 - no inventory: the rules that need it find nothing
        return {}


def _zero_use(mstore: Any, s: MobileSettings, last_day: str, current: dict[str, str],
              plans_by_key: dict[tuple[str, str], Any], inventory: dict[str, list[dict[str, Any]]]
              ) -> list[dict[str, Any]]:
    cutoff = (dt.date.fromisoformat(last_day) - dt.timedelta(days=s.zero_use_days)).isoformat()
    last_use = mstore.last_use()
    known = {r["line"]: r for r in mstore.lines()}
    carriers = {r["carrier"] for r in known.values()}
    for key, versions in inventory.items():  # active mobile lines of the inventory never seen in usage
        v = versions[-1]
        if key not in known and v.get("carrier") in carriers and (v["valid_to"] is None or v["valid_to"] > last_day):
            known[key] = {"line": key, "carrier": v["carrier"], "account": v.get("account"), "plan": None}
    out = []
    for line, info in sorted(known.items()):
        used = last_use.get(line)
        if used is not None and used > cutoff:
            continue
        versions = inventory.get(line, [])
        if versions and (versions[0]["valid_from"] > cutoff
                         or (versions[-1]["valid_to"] is not None and versions[-1]["valid_to"] <= last_day)):
            continue  # too new to judge, or already cancelled
        plan = plans_by_key.get((info["carrier"], current.get(line, "")))
        fee = plan.fee if plan is not None else 0
        out.append({"rule": "ZERO-USE", "line": line, "carrier": info["carrier"], "month": last_day[:7],
                    "expected": _("use within {days} days").format(days=s.zero_use_days),
                    "actual": _("last use {day}").format(day=used) if used else _("last use never"),
                    "at_stake": fee, "currency": plan.currency if plan is not None else None,
                    "message": _zero_use_message(used, last_day, plan, fee)})
    return out


def _zero_use_message(used: str | None, last_day: str, plan: Any, fee: int) -> str:
    if plan is None:
        if used:
            return _("no usage since {day} (up to {last}): its plan is unknown; cancel or reassign it").format(
                day=used, last=last_day)
        return _("no usage ever (up to {last}): its plan is unknown; cancel or reassign it").format(last=last_day)
    if used:
        return _("no usage since {day} (up to {last}): plan {plan} costs {fee} {currency} a month; cancel or "
                 "reassign it").format(day=used, last=last_day, plan=plan.code, fee=_said(fee),
                                       currency=plan.currency)
    return _("no usage ever (up to {last}): plan {plan} costs {fee} {currency} a month; cancel or reassign "
             "it").format(last=last_day, plan=plan.code, fee=_said(fee), currency=plan.currency)


def _roaming_spikes(mstore: Any, s: MobileSettings, last_day: str) -> list[dict[str, Any]]:
    months = month_list(last_day[:7], 12)
    per: dict[str, dict[str, int]] = {}
    info: dict[str, tuple[str, str]] = {}
    for r in mstore.monthly(months[0], months[-1]):
        m = per.setdefault(r["line"], {})
        m[r["month"]] = m.get(r["month"], 0) + (r["amount"] if r["zone"] != "home" else 0)
        info[r["line"]] = (r["carrier"], r["currency"])
    out = []
    for line, by_month in sorted(per.items()):
        seen = sorted(by_month)
        for i, month in enumerate(seen):
            history = seen[max(0, i - SPIKE_HISTORY):i]
            if not history:
                continue
            avg = divide_round(sum(by_month[h] for h in history), len(history), "half_up")
            amount = by_month[month]
            if amount > s.spike_factor * avg and amount - avg >= SPIKE_FLOOR:
                carrier, currency = info[line]
                out.append({"rule": "ROAMING-SPIKE", "line": line, "carrier": carrier, "month": month,
                            "expected": _("about {amount}").format(amount=format_amount(avg)),
                            "actual": format_amount(amount), "at_stake": amount - avg, "currency": currency,
                            "message": _("roaming billed {amount} {currency} in {month} against {average} on average "
                                         "over {n} previous month(s)").format(
                                amount=_said(amount), currency=currency, month=month,
                                average=_said(avg), n=len(history))})
    return out


def _after_cancel(mstore: Any, inventory: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    out = []
    for line, versions in sorted(inventory.items()):
        end = max((v["valid_to"] or "9999-12-31") for v in versions)
        if end == "9999-12-31":
            continue
        late = mstore.usage(line=line, first_day=end)
        by_month: dict[str, list[dict[str, Any]]] = {}
        for u in late:
            by_month.setdefault(u["day"][:7], []).append(u)
        for month, recs in sorted(by_month.items()):
            amount = sum(u["amount"] for u in recs)
            out.append({"rule": "AFTER-CANCEL", "line": line, "carrier": recs[0]["carrier"], "month": month,
                        "expected": _("no usage from {day} (cancelled)").format(day=end),
                        "actual": _("{n} record(s)").format(n=len(recs)),
                        "at_stake": amount, "currency": recs[0]["currency"],
                        "message": _("{n} usage record(s) billed {amount} {currency} on days {first}…{last}, after "
                                     "the line's cancellation (last day {end})").format(
                            n=len(recs), amount=_said(amount), currency=recs[0]["currency"],
                            first=recs[0]["day"], last=recs[-1]["day"], end=_day_before(end))})
    return out


def _day_before(day: str) -> str:
    return (dt.date.fromisoformat(day) - dt.timedelta(days=1)).isoformat()


def _country_code(line: str) -> str:
    import phonenumbers

    try:
        return str(phonenumbers.parse("+" + line).country_code)
    except phonenumbers.NumberParseException:
        return ""


def _overage_included(mstore: Any, current: dict[str, str], plans_by_key: dict[tuple[str, str], Any]
                      ) -> list[dict[str, Any]]:
    if not plans_by_key:
        return []
    out = []
    group = {"voice": "voice", "sms": "sms", "mms": "sms", "data": "data"}
    for line, code in sorted(current.items()):
        records = mstore.usage(line=line)
        if not records:
            continue
        plan = plans_by_key.get((records[0]["carrier"], code))
        if plan is None:
            continue
        allowance = {"voice": plan.minutes * 60 if plan.minutes >= 0 else -1, "sms": plan.sms,
                     "data": plan.data_mb * MB if plan.data_mb >= 0 else -1}
        cc = _country_code(line) if line.isdigit() and len(line) <= 15 else ""
        running: dict[tuple[str, str], int] = {}
        flagged: dict[str, list[dict[str, Any]]] = {}
        for u in records:  # oldest first
            if u["zone"] == "world":
                continue
            g = group[u["kind"]]
            key = (u["day"][:7], g)
            running[key] = running.get(key, 0) + u["volume"]
            if u["amount"] <= 0:
                continue
            if g != "data" and not (cc and u["destination"].startswith(cc)):
                continue  # calls and messages abroad are not what the allowance includes
            if allowance[g] < 0 or running[key] <= allowance[g]:
                flagged.setdefault(u["day"][:7], []).append(u)
        for month, recs in sorted(flagged.items()):
            amount = sum(u["amount"] for u in recs)
            kinds = ", ".join(sorted({u["kind"] for u in recs}))
            out.append({"rule": "OVERAGE-INCLUDED", "line": line, "carrier": plan.carrier, "month": month,
                        "expected": _("0.00 (included in the plan)"), "actual": format_amount(amount),
                        "at_stake": amount, "currency": recs[0]["currency"],
                        "message": _("{n} {kinds} record(s) billed {amount} {currency} while plan {plan} still "
                                     "included them").format(n=len(recs), kinds=kinds, amount=_said(amount),
                                                             currency=recs[0]["currency"], plan=plan.code)})
    return out


# --- the carrier's line list ---------------------------------------------------------------------------------------

ASSIGN_COLUMNS = ("line", "carrier", "plan")


def assign_file(mstore: Any, path: Path, ws: Any = None) -> dict[str, Any]:
    """Set each line's carrier, plan (and account) from a CSV line list (columns line, carrier, plan, optional
    account): for lines whose usage files name no plan, and lines with no usage at all (ZERO-USE needs to know
    them). All rows or none: a bad row refuses the file, naming its line. With `ws` and [mobile] plans, a plan must
    be one of the catalogues' (carrier and code): a typo made a line no right-sizing could price."""
    known = {(p.carrier, p.code) for p in _plans(ws)} if ws is not None and (ws.mobile or MobileSettings()).plans \
        else None
    import csv
    import io

    from ingest.usage.csv_profile import _Context

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MobileError(_("{path}: cannot be read ({error})").format(
            path=path, error=getattr(exc, "strerror", None) or exc)) from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in ASSIGN_COLUMNS if c not in header]
    if missing:
        raise MobileError(_("{path}: line 1: missing column(s) {columns} (need line, carrier, plan; account is "
                            "optional)").format(path=path, columns=", ".join(missing)))
    number = _Context({"currency": "XXX", "carrier": ""}).number
    rows = []
    for raw in reader:
        r = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        line = number(r["line"])
        if not (line.isdigit() and 6 <= len(line) <= 22):
            raise MobileError(_("{path}: line {n}: line: {value} is not an MSISDN or ICCID").format(
                path=path, n=reader.line_num, value=repr(r["line"])))
        if not r["carrier"] or not r["plan"]:
            raise MobileError(_("{path}: line {n}: carrier and plan are required").format(path=path,
                                                                                          n=reader.line_num))
        if known is not None and (r["carrier"], r["plan"]) not in known:
            raise MobileError(_("{path}: line {n}: plan {plan} of carrier {carrier} is in no catalogue of [mobile] "
                                "plans").format(path=path, n=reader.line_num, plan=repr(r["plan"]),
                                                carrier=repr(r["carrier"])))
        rows.append((line, r["carrier"], r.get("account", ""), r["plan"]))
    mstore.set_plans(rows)
    return {"file": str(path), "lines": len(rows)}
