"""The demo company's mobile fleet: a month of per-SIM usage detail from three mobile carriers, two plans per
carrier, and a few lines on the wrong plan, so that `anatole demo` shows what right-sizing saves.

Written as real files in `<workspace>/mobile/`, in each carrier's own layout (read through the `[mobile_csv.*]`
profiles this module writes into anatole.toml):

- Paris: *Lutèce Mobile* (EUR) sends a French "détail des consommations" (Windows-1252, ";", decimal commas,
  Ko), plans PRO-5 and PRO-50;
- London: *Thames Mobile* (GBP) sends itemised billing (a country code per row, seconds and kB columns), plans
  BIZ-S and BIZ-L;
- New York: *Hudson Wireless* (USD) sends a normalised export (ISO 8601 instants, bytes), plans NY-5 and NY-UNL.

Each line has a user profile (light, normal, heavy) that draws its calls, messages and data; the carrier bills
what goes past the line's allowances (per record, rounded half_up to the cent) and roaming outside the EU. The
planted facts: heavy users on the small plans and light users on the large ones (right-sizing saves), lines that
are paid for but never used (ZERO-USE), a London line roaming in the US (ALERT-ROAMING at import), and one Paris
line billed for calls its unlimited plan includes (OVERAGE-INCLUDED). Fictional numbers only: ARCEP's 06 39 98,
Ofcom's 07700 900xxx and the NANP 555-01xx ranges are reserved for fiction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from rich.console import Console
from rich.table import Table

from engine.money import SCALE, divide_round, format_amount, parse_money
from i18n import N_, _, ngettext
from store import display

FOLDER = "mobile"
MB = 10**6
CENT = SCALE // 100
ROAMING_ALERT = "50.00"


class DemoMobileError(Exception):
    pass


@dataclass(frozen=True)
class Carrier:
    site: str
    name: str
    currency: str
    account: str
    profile: str
    timezone: str
    first: int  # first line number (E.164 digits as an int)
    lines: int
    small: str
    large: str
    plans: tuple[tuple[str, ...], ...]  # rows of the plans CSV (without the header)


PLAN_HEADER = ("code,name,monthly_fee,minutes,sms,data_mb,pooled,voice_rate,sms_rate,data_rate,world_voice_rate,"
               "world_sms_rate,world_data_rate,valid_from,valid_to")
CARRIERS = (
    Carrier("paris", "Lutèce Mobile", "EUR", "LM-0042-1", "lutece-mobile", "Europe/Paris", 33639980100, 30,
            "PRO-5", "PRO-50",
            (("PRO-5", "Pro 5 Go", "14.00", "120", "unlimited", "5000", "false", "0.20", "0.10", "0.01", "1.50",
              "0.50", "0.35", "2024-01-01", ""),
             ("PRO-50", "Pro 50 Go", "29.00", "unlimited", "unlimited", "50000", "false", "0", "0", "0.005",
              "1.20", "0.40", "0.30", "2024-01-01", ""))),
    Carrier("london", "Thames Mobile", "GBP", "TM-55501", "thames-itemised", "Europe/London", 447700900100, 18,
            "BIZ-S", "BIZ-L",
            (("BIZ-S", "Business S", "12.00", "300", "unlimited", "3000", "false", "0.25", "0.12", "0.02", "1.80",
              "0.45", "0.50", "2024-01-01", ""),
             ("BIZ-L", "Business L", "24.00", "unlimited", "unlimited", "40000", "false", "0", "0", "0.01", "1.50",
              "0.40", "0.40", "2024-01-01", ""))),
    Carrier("new-york", "Hudson Wireless", "USD", "HW-212-77", "hudson-wireless", "America/New_York", 12125550130,
            12, "NY-5", "NY-UNL",
            (("NY-5", "Business 5 GB", "30.00", "unlimited", "unlimited", "5000", "false", "0", "0", "0.015",
              "2.00", "0.50", "2.00", "2024-01-01", ""),
             ("NY-UNL", "Business Unlimited", "45.00", "unlimited", "unlimited", "unlimited", "false", "0", "0", "0",
              "1.00", "0.25", "1.00", "2024-01-01", ""))),
)
# user profiles: calls (count, mean seconds), messages, data sessions (count, mean MB)
PROFILES = {"light": ((20, 80), 6, (6, 50)), "normal": ((40, 150), 15, (12, 200)),
            "heavy": ((110, 300), 30, (30, 300))}
# per carrier: line index -> (profile, on the large plan?); unlisted lines are "normal" on the small plan
PLANTED = {
    "paris": {0: ("heavy", False), 1: ("heavy", False), 2: ("heavy", False), 3: ("light", True), 4: ("light", True),
              5: ("light", True), 6: ("light", True), 7: ("heavy", True), 8: ("unused", False), 9: ("unused", True)},
    "london": {0: ("light", True), 1: ("light", True), 2: ("heavy", False), 3: ("normal", False),
               4: ("unused", False)},
    "new-york": {0: ("heavy", False), 1: ("heavy", False), 2: ("light", True), 3: ("unused", False)},
}
EU_TRIPS = {("paris", 10): "DE", ("paris", 11): "ES", ("london", 5): "FR"}  # lines that spend days in the EU
WORLD_TRIP = ("london", 3)  # a London line in the US for a week: data at the world rate
BILLED_INCLUDED = ("paris", 7)  # a heavy user on PRO-50 (unlimited calls) billed 0.20 for a few calls anyway


def profile_toml() -> list[str]:
    """The three usage profiles and the [mobile] settings for anatole.toml."""
    return [
        "",
        "# Mobile usage detail of the three mobile carriers (see mobile/), and the plan catalogues",
        "[mobile]",
        'plans = ["mobile/lutece-mobile-plans.toml", "mobile/thames-mobile-plans.toml", '
        '"mobile/hudson-wireless-plans.toml"]',
        "months = 1",
        "zero_use_days = 30",
        f'roaming_alert = "{ROAMING_ALERT}"',
        "",
        "[mobile_csv.lutece-mobile]",
        'carrier = "Lutèce Mobile"', 'currency = "EUR"', 'encoding = "cp1252"', 'delimiter = ";"', 'decimal = ","',
        'account = "Compte"', 'line = "Numéro"', 'plan = "Forfait"', 'date = "Date"', 'time = "Heure"',
        'date_format = "%d/%m/%Y"', 'timezone = "Europe/Paris"', 'kind = "Type"', 'destination = "Correspondant"',
        'zone = "Zone"', 'volume = "Durée/Volume"', 'duration_format = "hh:mm:ss"', 'data_unit = "KiB"',
        'amount = "Montant HT"', 'country_code = "33"',
        "",
        "[mobile_csv.lutece-mobile.kind_map]",
        '"Appel voix" = "voice"', '"SMS" = "sms"', '"Internet mobile" = "data"',
        "",
        "[mobile_csv.lutece-mobile.zone_map]",
        '"France" = "home"', '"Europe" = "eu"', '"Monde" = "world"',
        "",
        "[mobile_csv.thames-itemised]",
        'carrier = "Thames Mobile"', 'currency = "GBP"', 'account = "Account Number"', 'line = "Mobile Number"',
        'plan = "Tariff"', 'date = "Call Date"', 'time = "Call Time"', 'date_format = "%d/%m/%Y"',
        'timezone = "Europe/London"', 'kind = "Call Type"', 'destination = "Number Called"', 'country = "Country"',
        'home_country = "GB"', 'duration = "Duration (secs)"', 'data = "Data (KB)"', 'data_unit = "kB"',
        'amount = "Cost (GBP)"', 'country_code = "44"',
        "",
        "[mobile_csv.thames-itemised.kind_map]",
        '"Voice" = "voice"', '"Text" = "sms"', '"Data" = "data"',
        "",
        "[mobile_csv.hudson-wireless]",
        'carrier = "Hudson Wireless"', 'currency = "USD"', 'account = "account"', 'line = "msisdn"',
        'plan = "plan"', 'kind = "kind"', 'destination = "destination"', 'apn = "apn"', 'zone = "zone"',
        'timezone = "America/New_York"  # the local day decides the month',
        'start = "start"', 'start_format = "iso"', 'volume = "volume"', 'amount = "amount"',
        "",
    ]


def _plan_files(folder: Path) -> None:
    for c in CARRIERS:
        stem = c.profile.split("-")[0] + "-" + ("mobile" if c.site != "new-york" else "wireless")
        (folder / f"{stem}-plans.toml").write_text(
            f"# {c.name}'s business plans (invented prices)\ncarrier = \"{c.name}\"\ncontract = \"{c.account}\"\n"
            f"currency = \"{c.currency}\"\nrounding = {{ decimals = 2, mode = \"half_up\" }}\n"
            f"plans = \"{stem}-plans.csv\"\n", encoding="utf-8")
        (folder / f"{stem}-plans.csv").write_text(
            PLAN_HEADER + "\n" + "".join(",".join(row) + "\n" for row in c.plans), encoding="utf-8")


def _rates(c: Carrier, code: str) -> dict[str, Any]:
    row = next(r for r in c.plans if r[0] == code)

    def allow(v: str, unit: int) -> int:
        return -1 if v == "unlimited" else int(v) * unit

    return {"minutes": allow(row[3], 60), "sms": allow(row[4], 1), "data": allow(row[5], MB),
            "rates": [parse_money(x) for x in row[7:13]]}


def _bill(plan: dict[str, Any], used: dict[str, int], kind: str, volume: int, zone: str) -> int:
    """What the carrier bills for one record (half_up to the cent): world roaming in full, else the part past
    the allowance (started minutes, started MB, messages)."""
    k = {"voice": 0, "sms": 1, "data": 2}[kind]
    unit = (60, 1, MB)[k]
    if zone == "world":
        units = -(-volume // unit)
        return divide_round(units * plan["rates"][3 + k], CENT, "half_up") * CENT
    allowance = plan[("minutes", "sms", "data")[k]]
    before = used[kind]
    used[kind] += volume
    if allowance < 0 or used[kind] <= allowance:
        return 0
    over = used[kind] - max(before, allowance)
    return divide_round(-(-over // unit) * plan["rates"][k], CENT, "half_up") * CENT


def generate(month: str, seed: int) -> tuple[dict[str, list[dict[str, Any]]], list[tuple[str, str, str, str]]]:
    """Each carrier's usage records (oldest first) and the fleet's line list (line, carrier, account, plan)."""
    rng = np.random.default_rng(seed + 2000)
    year, mon = int(month[:4]), int(month[5:7])
    days = (dt.date(year + mon // 12, mon % 12 + 1, 1) - dt.date(year, mon, 1)).days
    usage: dict[str, list[dict[str, Any]]] = {}
    fleet = []
    for c in CARRIERS:
        zone_tz = ZoneInfo(c.timezone)
        records = []
        for i in range(c.lines):
            line = str(c.first + i)
            kind_of_user, large = PLANTED[c.site].get(i, ("normal", False))
            plan_code = c.large if large else c.small
            fleet.append((line, c.name, c.account, plan_code))
            if kind_of_user == "unused":
                continue
            (calls, mean_s), sms, (sessions, mean_mb) = PROFILES[kind_of_user]
            events = []
            for _event in range(int(rng.poisson(calls))):
                events.append(("voice", max(1, int(rng.exponential(mean_s))), c.first + int(rng.integers(0, 500))))
            for _event in range(int(rng.poisson(sms))):
                events.append(("sms", 1, c.first + int(rng.integers(0, 500))))
            for _event in range(int(rng.poisson(sessions))):
                events.append(("data", max(1024, int(rng.exponential(mean_mb) * MB)), 0))
            starts = np.sort(rng.integers(0, days * 86400, len(events)))
            order = rng.permutation(len(events))
            plan = _rates(c, plan_code)
            used = {"voice": 0, "sms": 0, "data": 0}
            trip = EU_TRIPS.get((c.site, i))
            for n, (k, volume, dest) in enumerate(events[j] for j in order):
                local = dt.datetime(year, mon, 1, tzinfo=zone_tz) + dt.timedelta(seconds=int(starts[n]))
                local = local.astimezone(zone_tz)
                zone = "eu" if trip and 10 <= local.day <= 14 else "home"
                amount = _bill(plan, used, k, volume, zone)
                if (c.site, i) == BILLED_INCLUDED and k == "voice" and n % 25 == 0:
                    amount = 20 * CENT  # the planted error: calls billed although PRO-50 includes them
                records.append({"line": line, "plan": plan_code, "kind": k, "volume": volume, "zone": zone,
                                "country": trip if zone == "eu" else "", "dest": str(dest), "local": local,
                                "amount": amount})
            if (c.site, i) == WORLD_TRIP:
                for d in range(7):
                    local = dt.datetime(year, mon, 20 + d, 15, 0, tzinfo=zone_tz)
                    volume = (20 + 5 * d) * MB
                    records.append({"line": line, "plan": plan_code, "kind": "data", "volume": volume,
                                    "zone": "world", "country": "US", "dest": "", "local": local,
                                    "amount": _bill(plan, used, "data", volume, "world")})
        records.sort(key=lambda r: (r["local"], r["line"]))
        usage[c.site] = records
    return usage, fleet


def _money(v: int, comma: bool = False) -> str:
    text = format_amount(v, 2)
    return text.replace(".", ",") if comma else text


def write_files(folder: Path, month: str, seed: int) -> tuple[list[Path], Path]:
    """The plan catalogues, the fleet's line list and each carrier's usage file for `month`."""
    folder.mkdir(parents=True, exist_ok=True)
    _plan_files(folder)
    usage, fleet = generate(month, seed)
    fleet_file = folder / "fleet.csv"
    fleet_file.write_text("line,carrier,account,plan\n" + "".join(f"+{a},{b},{c},{d}\n" for a, b, c, d in fleet),
                          encoding="utf-8")
    files = []
    paris = [";".join(("Compte", "Numéro", "Forfait", "Date", "Heure", "Type", "Correspondant", "Zone",
                       "Durée/Volume", "Montant HT"))]
    zones = {"home": "France", "eu": "Europe", "world": "Monde"}
    kinds = {"voice": "Appel voix", "sms": "SMS", "data": "Internet mobile"}
    for r in usage["paris"]:
        national = "0" + r["line"][2:]
        nat = f"{national[:2]} {national[2:4]} {national[4:6]} {national[6:8]} {national[8:]}"
        dest = "0" + r["dest"][2:] if r["kind"] != "data" else "lutece.mobi"
        vol = (f"{r['volume'] // 3600:02d}:{r['volume'] % 3600 // 60:02d}:{r['volume'] % 60:02d}"
               if r["kind"] == "voice" else str(-(-r["volume"] // 1024)) if r["kind"] == "data" else "1")
        paris.append(";".join(("LM-0042-1", nat, r["plan"], r["local"].strftime("%d/%m/%Y"),
                               r["local"].strftime("%H:%M:%S"), kinds[r["kind"]], dest, zones[r["zone"]], vol,
                               _money(r["amount"], comma=True))))
    files.append(folder / f"lutece-mobile-{month}.csv")
    files[-1].write_bytes(("\r\n".join(paris) + "\r\n").encode("cp1252"))
    london = ["Account Number,Mobile Number,Tariff,Call Date,Call Time,Call Type,Number Called,Country,"
              "Duration (secs),Data (KB),Cost (GBP)"]
    for r in usage["london"]:
        national = "0" + r["line"][2:]
        dest = "0" + r["dest"][2:] if r["kind"] != "data" else ""
        london.append(",".join((
            "TM-55501", f"{national[:5]} {national[5:]}", r["plan"], r["local"].strftime("%d/%m/%Y"),
            r["local"].strftime("%H:%M:%S"), {"voice": "Voice", "sms": "Text", "data": "Data"}[r["kind"]], dest,
            r["country"] or "GB", str(r["volume"]) if r["kind"] == "voice" else "",
            format_amount(r["volume"] * SCALE // 1000) if r["kind"] == "data" else "", _money(r["amount"]))))
    files.append(folder / f"thames-itemised-{month}.csv")
    files[-1].write_text("\n".join(london) + "\n", encoding="utf-8")
    ny = ["account,msisdn,plan,kind,destination,apn,zone,start,volume,amount"]
    for r in usage["new-york"]:
        ny.append(",".join(("HW-212-77", "+" + r["line"], r["plan"], r["kind"],
                            "+" + r["dest"] if r["kind"] != "data" else "", "hudson.net" if r["kind"] == "data"
                            else "", r["zone"], r["local"].isoformat(), str(r["volume"]), _money(r["amount"]))))
    files.append(folder / f"hudson-wireless-{month}.csv")
    files[-1].write_text("\n".join(ny) + "\n", encoding="utf-8")
    return files, fleet_file


def run_in_workspace(path: Path, month: str, seed: int) -> dict[str, Any]:
    """Write the fleet's files, import them as `anatole mobile assign|import` would, run the findings and the
    right-sizing; the summary (from the store: the same on a second run over the same workspace)."""
    from anatole.config import ConfigError, open_workspace
    from store import open_store
    from store.mobile import open_mobile
    from tem.mobile import MobileError, assign_file, import_file, rightsize, run_findings

    try:
        ws = open_workspace(path)
    except ConfigError as exc:
        raise DemoMobileError(_("the demo workspace does not load:\n{problem}").format(problem=exc)) from None
    try:
        files, fleet_file = write_files(Path(path) / FOLDER, month, seed)
    except OSError as exc:
        raise DemoMobileError(_("cannot write the demo's mobile files: {problem}").format(
            problem=exc.strerror or exc)) from None
    store = open_store(ws.db_path)
    try:
        m = open_mobile(store.conn)
        assign_file(m, fleet_file)
        imports = []
        for f in files:
            r = import_file(m, f, profiles=ws.mobile_profiles, settings=ws.mobile)
            imports.append({"file": f.name, "read": r["read"], "rejected": r["rejected"]})
        findings = run_findings(ws, m)
        sized = rightsize(ws, m, last_month=month)
        lines = len(m.lines())
        records = m.count()
    except MobileError as exc:
        raise DemoMobileError(str(exc)) from None
    finally:
        store.close()
    by_rule: dict[str, dict[str, Any]] = {}
    for f in findings:
        e = by_rule.setdefault(f["rule"], {"findings": 0, "at_stake": {}})
        e["findings"] += 1
        if f["currency"]:
            e["at_stake"][f["currency"]] = e["at_stake"].get(f["currency"], 0) + f["at_stake"]
    wrong = [{k: r[k] for k in ("line", "carrier", "plan", "current_cost", "best_plan", "best_cost", "saving",
                                "currency")} for r in sized["lines"] if r.get("saving_value", 0) > 0]
    return {"workspace": str(path), "month": month, "lines": lines, "records": records, "imports": imports,
            "wrong_plan": wrong, "saving": sized["saving_total"],
            "findings": {rule: {"findings": e["findings"],
                                "at_stake": {c: format_amount(v) for c, v in sorted(e["at_stake"].items())}}
                         for rule, e in sorted(by_rule.items())}}


def render(summary: dict[str, Any], console: Console) -> None:
    """The mobile part of the demo summary: the lines on the wrong plan, the saving, the findings."""
    from anatole.demo.text import count, month_title

    t = Table(title=_("Mobile lines on the wrong plan, {month} ({lines} lines, {records} usage records)").format(
        month=month_title(summary["month"]), lines=count(summary["lines"]), records=count(summary["records"])),
        title_justify="left")
    for col in (N_("Line"), N_("Carrier"), N_("Plan"), N_("Cost"), N_("Better plan"), N_("Cost then"), N_("Saving")):
        t.add_column(_(col), justify="right" if col in ("Cost", "Cost then", "Saving") else "left", no_wrap=True)
    for r in summary["wrong_plan"]:
        cur = r["currency"]
        t.add_row("+" + r["line"], r["carrier"], r["plan"], display.from_text(r["current_cost"], cur), r["best_plan"],
                  display.from_text(r["best_cost"], cur), display.from_text(r["saving"], cur))
    console.print(t)
    saving = ", ".join(display.from_text(v, c) for c, v in sorted(summary["saving"].items()))
    console.print(_("Right-sizing saves {saving} a month.").format(saving=saving) if saving
                  else _("Right-sizing saves nothing this month."))
    for rule, e in summary["findings"].items():
        stake = ", ".join(display.from_text(v, c) for c, v in e["at_stake"].items())
        n = e["findings"]
        if stake:
            text = ngettext("{rule}: {count} finding, {stake} at stake", "{rule}: {count} findings, {stake} at stake",
                            n).format(rule=rule, count=count(n), stake=stake)
        else:
            text = ngettext("{rule}: {count} finding", "{rule}: {count} findings", n).format(rule=rule, count=count(n))
        console.print(f"  {text}")
    lead, ws = _("Try:"), summary["workspace"]
    console.print(f"{lead} anatole -w {ws} mobile rightsize")
    console.print(f"{' ' * len(lead)} anatole -w {ws} mobile findings")
    console.print(f"{' ' * len(lead)} anatole -w {ws} ui   # " + _("then 9: mobile lines"))
