"""The demo's inventory and the month's allocation: who pays for what in the made-up company.

`load` writes the inventory as the CSV files a company would export (`<workspace>/inventory/`) and imports each
with `tem.inventory.import_file` and apply, the path of `anatole inventory import FILE --apply`:

- `cost-centres.csv`: a small hierarchy (the company; Sales and Operations each split Europe / Americas; Finance;
  IT and telecom), with budgets and a GL account;
- `contracts.csv`: the two carriers' contracts with their monthly fee per line (a trunk's rental and its DID block
  are one fee), so the audit can compare the recurring charges with them;
- `people.csv`: one person per extension that calls out (the extensions are the calls' own), in the departments of
  their site; one of them, the busiest caller of Paris Operations, moves to Sales Europe on the 16th, so their
  month's calls are split at that date;
- `lines.csv`: the lines and services the invoices bill, each with its carrier, account, contract, site and the
  cost centre that pays for it; the Paris alarm line ends on the last day of the previous month (cancelled), which
  is how the audit finds the rental still billed for it (LINE-INACTIVE).

`allocate` then runs the month's allocation as `anatole allocate` does (`tem.allocation.allocate`, the run stored)
with the `[allocation]` of the demo's anatole.toml (`allocation_toml`): exchange rates for the three currencies and
one rule for the New York sales taxes, which no line carries. It checks, independently of the allocation, that
the cost centres plus the unassigned bucket add up exactly, to the 10**-8 unit, to the invoices' charges plus the
billed rated calls of the month, in each currency and converted. The one cost left unassigned is the rental billed
on the cancelled line: it is disputed, not anybody's cost.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from anatole.demo.invoices import CANCELLED, HUDSON, LUTECE, Carrier
from engine.money import SCALE, format_exact, parse_money
from i18n import N_, _
from store import display
from store.inventory import open_inventory
from store.invoices import open_invoices
from store.reports import open_queries
from tem.allocation import AllocationError, local_midnight, month_bounds
from tem.allocation import allocate as allocate_costs
from tem.inventory import InventoryError, import_file

if TYPE_CHECKING:
    from rich.console import Console

    from anatole.config import Workspace
    from anatole.demo.calls import CallBatch
    from store.db import Store

INVENTORY_FOLDER = "inventory"
ACTOR = "anatole demo"
EXCHANGE_RATES = {"GBP": "1.15", "USD": "0.92"}  # EUR per unit: indicative, exact decimals
NOT_COSTS = ("GROUP", "INFORMATION")  # status codes of headings and information lines

# (code, name, parent, monthly budget in EUR, GL account); the names are written in the language of the process
# that creates the demo (a French demo company names its cost centres in French), the codes never change
COST_CENTRES = (
    ("CORP", "Anatole Demo SA", "", "", "6260"),
    ("SALES", N_("Sales"), "CORP", "", ""),
    ("SALES-EU", N_("Sales Europe"), "SALES", "2500.00", ""),
    ("SALES-US", N_("Sales Americas"), "SALES", "1200.00", ""),
    ("OPS", N_("Operations"), "CORP", "", ""),
    ("OPS-EU", N_("Operations Europe"), "OPS", "1800.00", ""),
    ("OPS-US", N_("Operations Americas"), "OPS", "600.00", ""),
    ("FIN", N_("Finance and administration"), "CORP", "400.00", "6261"),
    ("IT", N_("IT and telecom"), "CORP", "1500.00", "6262"),
)
# the departments of each site's people, in proportion (the extensions are dealt out in this pattern)
DEPARTMENTS = {
    "paris": ("SALES-EU", "OPS-EU", "SALES-EU", "OPS-EU", "FIN", "OPS-EU", "SALES-EU", "IT"),
    "london": ("SALES-EU", "OPS-EU", "SALES-EU"),
    "new-york": ("SALES-US", "OPS-US", "SALES-US"),
}
MOVE = ("paris", "OPS-EU", "SALES-EU", 16)  # site, from, to, day of the month
FIRST_NAMES = ("Camille", "Louis", "Chloé", "Hugo", "Inès", "Oliver", "Amelia", "Jack", "Isla", "Noah", "Emma",
               "Liam", "Sofia", "Mateo", "Priya", "Arjun", "Mei", "Kenji", "Fatima", "Omar", "Lena", "Jonas",
               "Giulia", "Marco", "Ana", "Diego", "Zoé", "Nathan", "Aïcha", "Samuel", "Ingrid", "Lars")
LAST_NAMES = ("Martin", "Bernard", "Dubois", "Lefèvre", "Moreau", "Smith", "Jones", "Taylor", "Brown", "Wilson",
              "Garcia", "Rossi", "Müller", "Kowalski", "Novak", "Silva", "Chen", "Tanaka", "Patel", "Haddad",
              "O'Brien", "Nguyen", "Johansson", "Costa", "Fischer", "Dupont", "Kaur", "Ivanova", "Okafor", "Levy")
# who pays for each carrier line, and its name in the inventory
LINE_HOLDERS = {
    "33199000100": ("IT", "Paris SIP trunk and DID block"),
    "33199000150": ("FIN", "Paris fax line"),
    "33199000151": ("OPS-EU", "Paris lift emergency line"),
    CANCELLED.service: ("OPS-EU", "Paris alarm line (cancelled)"),
    "12125550100": ("IT", "New York SIP trunk and DID block"),
    "12125550110": ("FIN", "New York fax line"),
    "12125550111": ("OPS-US", "New York elevator line"),
}
INSTALLED = "2021-03-01"  # when the lines, contracts and people start


class DemoInventoryError(Exception):
    """The demo's inventory or allocation cannot be made: the message says why."""


def allocation_toml() -> list[str]:
    """The `[allocation]` of the demo's anatole.toml."""
    rates = ", ".join(f'{cur} = "{rate}"' for cur, rate in EXCHANGE_RATES.items())
    return [
        "",
        "[allocation]  # anatole allocate: every cost of a month to the cost centres, in the workspace currency",
        f"exchange_rates = {{ {rates} }}  # EUR per unit",
        "",
        "[[allocation.rule]]  # the New York sales taxes are on no line: shared by the New York call usage",
        'name = "New York sales taxes"',
        f'carrier = "{HUDSON.name}"',
        'category = "tax"',
        'method = "usage"',
        'cost_centres = ["SALES-US", "OPS-US"]',
        "",
    ]


# --- the files ----------------------------------------------------------------------------------------------


def _csv(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return out.getvalue()


CONTRACT_NAMES = {"TRUNK": "SIP trunk and its DID block", "LINE": "Single line"}


def _contracts(carrier: Carrier, prefix: str) -> dict[str, tuple[str, str, int]]:
    """service -> (contract id, name, monthly fee): the fee of a line is what its contract says it costs a month
    (the carrier's rentals on it, before the planted errors); lines at the same price share a contract."""
    fees: dict[str, int] = {}
    for line in (*carrier.lines, *((CANCELLED,) if carrier is LUTECE else ())):
        fees[line.service] = fees.get(line.service, 0) + parse_money(line.monthly)
    out = {}
    for service, fee in fees.items():
        kind = "TRUNK" if service == carrier.trunk else "LINE"
        out[service] = (f"{prefix}-{kind}", CONTRACT_NAMES[kind], fee)
    return out


def _person_name(i: int) -> str:
    return f"{FIRST_NAMES[i % len(FIRST_NAMES)]} {LAST_NAMES[(i * 7 + i // len(FIRST_NAMES)) % len(LAST_NAMES)]}"


def files(batch: CallBatch) -> tuple[dict[str, str], dict[str, Any]]:
    """The four CSV files (kind -> text) for the batch's company and month, and the facts of the move."""
    year, mon = (int(x) for x in batch.month.split("-"))
    first = dt.date(year, mon, 1)
    move_day = dt.date(year, mon, MOVE[3]).isoformat()
    centres = _csv(("code", "name", "parent", "budget", "gl_account", "from"),
                   [(c[0], _(c[1]), *c[2:], INSTALLED) for c in COST_CENTRES])
    contracts, lines = [], []
    for carrier, prefix in ((LUTECE, "LT"), (HUDSON, "HC")):
        by_service = _contracts(carrier, prefix)
        seen = set()
        for service, (code, name, fee) in by_service.items():
            if code not in seen:
                seen.add(code)
                contracts.append((code, name, carrier.name, carrier.account, f"tariffs/{_tariff(carrier)}.toml",
                                  format_exact(fee), 90, INSTALLED))
            holder, label = LINE_HOLDERS[service]
            end = first.isoformat() if service == CANCELLED.service else ""  # cancelled the day before the month
            kind = "trunk" if service == carrier.trunk else "line"
            lines.append(("+" + service, label, kind, carrier.name, carrier.account, code, carrier.site, holder,
                          INSTALLED, end))
    people = []
    move: dict[str, Any] = {}
    counts = _calls_per_extension(batch)
    n = 0
    for si, site in enumerate(batch.sites):
        pattern = DEPARTMENTS.get(site)
        if pattern is None:
            continue
        extensions = sorted(int(e) for e in np.unique(batch.extension[batch.site == si]).tolist() if e >= 0)
        mover = None
        if site == MOVE[0]:
            candidates = [e for i, e in enumerate(extensions) if pattern[i % len(pattern)] == MOVE[1]]
            mover = max(candidates, key=lambda e: (counts.get((si, e), 0), -e)) if candidates else None
        for i, ext in enumerate(extensions):
            pid, name = f"E{ext}", _person_name(n)
            n += 1
            plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
            email = plain.lower().replace(" ", ".").replace("'", "") + "@anatole-demo.example"
            dept = pattern[i % len(pattern)]
            if ext == mover:
                people.append((pid, name, email, dept, site, ext, INSTALLED, move_day))
                people.append((pid, name, email, MOVE[2], site, ext, move_day, ""))
                move = {"person": pid, "name": name, "extension": f"{site}/{ext}", "from": dept, "to": MOVE[2],
                        "date": move_day}
            else:
                people.append((pid, name, email, dept, site, ext, INSTALLED, ""))
    texts = {
        "cost_centre": centres,
        "contract": _csv(("contract", "name", "carrier", "account", "tariff", "monthly_fee", "notice_days", "from"),
                         contracts),
        "person": _csv(("employee_id", "name", "email", "cost_centre", "site", "extension", "from", "to"), people),
        "line": _csv(("service", "name", "type", "carrier", "account", "contract", "site", "cost_centre", "from",
                      "to"), lines),
    }
    return texts, move


def _tariff(carrier: Carrier) -> str:
    return {"paris": "fr-business", "new-york": "us-business"}.get(carrier.site, "")


def _calls_per_extension(batch: CallBatch) -> dict[tuple[int, int], int]:
    keys, counts = np.unique(np.stack([batch.site.astype(np.int64), batch.extension.astype(np.int64)]), axis=1,
                             return_counts=True)
    return {(int(s), int(e)): int(c) for (s, e), c in zip(keys.T.tolist(), counts.tolist())}


FILE_NAMES = {"cost_centre": "cost-centres.csv", "contract": "contracts.csv", "person": "people.csv",
              "line": "lines.csv"}


def load(path: Path, store: Store, batch: CallBatch) -> dict[str, Any]:
    """Write the inventory files in <workspace>/inventory/ and import each (preview, then apply), as a user runs
    `anatole inventory import FILE --kind K --apply`; returns what each import did and the facts of the move."""
    folder = Path(path) / INVENTORY_FOLDER
    texts, move = files(batch)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for kind, text in texts.items():
            (folder / FILE_NAMES[kind]).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DemoInventoryError(_("cannot write the inventory in {folder}: {problem}").format(
            folder=folder, problem=exc.strerror or exc)) from None
    istore = open_inventory(store.conn)
    imports = []
    for kind in ("cost_centre", "contract", "person", "line"):  # cost centres first: the others refer to them
        file = folder / FILE_NAMES[kind]
        try:
            p, batch_id = import_file(istore, file, kind, effective=INSTALLED, apply_it=True, actor=ACTOR)
        except InventoryError as exc:
            raise DemoInventoryError(_("cannot import {file}: {problem}").format(file=file, problem=exc)) from None
        imports.append({"file": file.name, "kind": kind, "rows": p.rows, "adds": len(p.adds),
                        "changes": len(p.changes), "batch": batch_id})
    counts = {k: len({r["key"] for r in istore.items(k)}) for k in ("cost_centre", "person", "extension", "line",
                                                                    "contract")}
    return {"folder": str(folder), "imports": imports, "items": counts, "move": move}


# --- the allocation ------------------------------------------------------------------------------------------


def allocate(ws: Workspace, store: Store, period: str, move: dict[str, Any]) -> dict[str, Any]:
    """Allocate the month as `anatole allocate --period` does (the run is stored), and check independently that
    it adds up exactly to the invoices' charges plus the billed rated calls of the month."""
    zones = {name: s.timezone for name, s in ws.sites.items()}
    istore = open_inventory(store.conn)
    try:
        result = allocate_costs(open_queries(store.conn), istore, period=period, currency=ws.currency, zones=zones,
                                config=ws.allocation)
    except AllocationError as exc:
        raise DemoInventoryError(_("the allocation of {period} failed: {problem}").format(period=period,
                                                                                     problem=exc)) from None
    result.run_id = istore.save_run(period, ACTOR, result.currency,
                                    (result.total, result.total - result.unassigned, result.unassigned),
                                    result.as_json(), result.lines)
    obj = result.as_json()
    check = _check(ws, store, period, result)
    moved = {}
    if move:
        for line in result.lines:
            if line[2] == "calls" and line[1] == move["person"]:
                moved[line[0]] = moved.get(line[0], 0) + line[-1]
    return {
        "workspace": str(ws.path), "period": period, "currency": result.currency, "run": result.run_id,
        "exchange_rates": dict(EXCHANGE_RATES),
        "total": obj["total"], "allocated": obj["allocated"], "unassigned": obj["unassigned"],
        "by_cost_centre": obj["by_cost_centre"], "rollup": obj["rollup"],
        "cost_centres": [{"code": c[0], "name": _(c[1]), "parent": c[2] or None} for c in COST_CENTRES],
        "unassigned_reasons": obj["unassigned_reasons"],
        "check": check,
        "move": {**move, "calls": {k: format_exact(v) for k, v in sorted(moved.items())}} if move else {},
    }


def _check(ws: Workspace, store: Store, period: str, result: Any) -> dict[str, Any]:
    """The month's costs counted apart from the allocation: every charge of every stored invoice (not a duplicate,
    no headings; credit notes negative) and the billed, priced calls of each site's month in its own time zone."""
    first, nxt = month_bounds(period)
    invoices: dict[str, int] = {}
    charges = 0
    istore = open_invoices(store.conn)
    for inv in istore.invoices():
        if inv["duplicate_of"] is not None:
            continue
        start = inv["period_start"] or inv["issue_date"] or ""
        if not first <= start < nxt:
            continue
        for c in istore.charges(inv["id"]):
            if c["status_code"] in NOT_COSTS:
                continue
            charges += 1
            invoices[inv["currency"]] = invoices.get(inv["currency"], 0) + (-c["amount"] if inv["credit"]
                                                                            else c["amount"])
    calls: dict[str, int] = {}
    n_calls = 0
    for name, site in ws.sites.items():
        totals = store.calls_totals(site=name, status="rated", start=local_midnight(first, site.timezone),
                                    end=local_midnight(nxt, site.timezone))
        for cur, cost in totals["cost"].items():
            calls[cur] = calls.get(cur, 0) + cost
        n_calls += totals["calls"]
    currencies = sorted(set(invoices) | set(calls))
    rates = {cur: Fraction(parse_money(r), SCALE) for cur, r in EXCHANGE_RATES.items()}
    rates[ws.currency] = Fraction(1)
    expected = sum(rates[cur] * (invoices.get(cur, 0) + calls.get(cur, 0)) for cur in currencies)
    by_currency = all(result.original.get(cur, 0) == invoices.get(cur, 0) + calls.get(cur, 0) for cur in currencies)
    parts = result.total == (result.total - result.unassigned) + result.unassigned == sum(
        result.by_cost_centre.values()) + result.unassigned
    return {
        "invoice_charges": charges, "calls": n_calls,
        "invoices": {cur: format_exact(v) for cur, v in sorted(invoices.items())},
        "rated_calls": {cur: format_exact(v) for cur, v in sorted(calls.items())},
        "expected_total": format_exact(int(expected)) if expected.denominator == 1 else str(expected),
        "in_each_currency": by_currency,
        "converted": expected == result.total,
        "adds_up": by_currency and expected == result.total and parts,
    }


# --- showing it ------------------------------------------------------------------------------------------------


def _shown(text: str, a: dict[str, Any]) -> str:
    """A table cell in the allocation's currency (the title names it): its decimals, grouped."""
    return display.from_text(text, a["currency"], code=False)


def render(summary: dict[str, Any], console: Console) -> None:
    """The allocation part of the demo summary, 80 columns."""
    from rich import box
    from rich.table import Table

    from anatole.demo.text import count, headed, month_title

    a = summary
    month = month_title(a["period"])
    rates = ", ".join(f"1 {cur} = {display.from_text(str(rate), exact=True, code=False)}"
                      for cur, rate in a["exchange_rates"].items())
    console.print("[bold]" + _("Allocation of {month}").format(month=month) + "[/bold] " + _(
        "(anatole allocate): every cost to a cost centre, in {currency} ({rates})").format(currency=a["currency"],
                                                                                          rates=rates))
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0), pad_edge=False)
    t.add_column(_("Cost centre"), no_wrap=True, overflow="ellipsis", max_width=36)
    t.add_column(_("Direct"), justify="right", no_wrap=True)
    t.add_column(_("With sub-centres"), justify="right", no_wrap=True)
    depth: dict[str, int] = {}
    for c in a["cost_centres"]:
        depth[c["code"]] = depth.get(c["parent"], -1) + 1 if c["parent"] else 0
        t.add_row("  " * depth[c["code"]] + f"{c['code']} {c['name']}",
                  _shown(a["by_cost_centre"].get(c["code"], "0"), a), _shown(a["rollup"].get(c["code"], "0"), a))
    for code, amount in a["by_cost_centre"].items():  # cost centres outside the demo's hierarchy, if any
        if code not in depth:
            t.add_row(code, _shown(amount, a), _shown(a["rollup"].get(code, amount), a))
    t.add_section()
    t.add_row(_("allocated"), _shown(a["allocated"], a), "")
    t.add_row(_("unassigned"), _shown(a["unassigned"], a), "")
    t.add_row(_("total"), _shown(a["total"], a), "", style="bold")
    console.print(t)
    for why, amount in a["unassigned_reasons"].items():
        console.print(_("Unassigned {amount}: {reason}.").format(amount=display.from_text(amount, a["currency"]),
                                                                 reason=why), markup=False)
    if a["move"]:
        m = a["move"]
        parts = [(display.from_text(v, a["currency"]), k) for k, v in m["calls"].items()]
        fields = {"name": m["name"], "person": m["person"], "extension": m["extension"], "old": m["from"],
                  "new": m["to"], "day": _day(m["date"])}
        if len(parts) == 2:
            console.print(_("{name} ({person}, {extension}) moved from {old} to {new} on {day}: their calls of the "
                            "month went {amount} to {centre} and {amount2} to {centre2}.").format(
                amount=parts[0][0], centre=parts[0][1], amount2=parts[1][0], centre2=parts[1][1], **fields),
                markup=False)
        else:
            split = ", ".join(_("{amount} to {centre}").format(amount=v, centre=k) for v, k in parts)
            console.print(_("{name} ({person}, {extension}) moved from {old} to {new} on {day}: their calls of the "
                            "month went {split}.").format(split=split, **fields), markup=False)
    c = a["check"]
    # the check is to the 10⁻⁸ unit: its figures are exact (and the line says so)
    inv = ", ".join(display.from_text(v, k, exact=True) for k, v in c["invoices"].items())
    calls = ", ".join(display.from_text(v, k, exact=True) for k, v in c["rated_calls"].items())
    if c["adds_up"]:
        console.print(headed(_("Exact"), _(
            "allocated + unassigned = the invoices' {charges} charges ({invoices}) + the {calls} rated calls "
            "({amounts}), converted: {total}, exact to the 10⁻⁸ unit.").format(
                charges=count(c["invoice_charges"]), invoices=inv, calls=count(c["calls"]), amounts=calls,
                total=display.from_text(c["expected_total"], a["currency"], exact=True))))
    else:
        console.print(headed(_("Does not add up"), style="bold red", text=_(
            "total {total}, invoices ({invoices}) + rated calls ({amounts}) = {expected}.").format(
                total=display.from_text(a["total"], a["currency"], exact=True), invoices=inv, amounts=calls,
                expected=display.from_text(c["expected_total"], a["currency"], exact=True))))
    console.print(_("Try: {command}").format(command=f"anatole -w {a['workspace']} allocate --period {a['period']}"))


def _day(text: str) -> str:
    """An ISO day of the JSON summary in the language's style (``16/10/2026`` in French)."""
    try:
        return display.day(dt.date.fromisoformat(text))
    except (TypeError, ValueError):
        return str(text)


def _open(path: Path) -> tuple[Workspace, Store]:
    from anatole.config import ConfigError, open_workspace
    from store import open_store

    try:
        ws = open_workspace(path)
    except ConfigError as exc:
        raise DemoInventoryError(_("the demo workspace does not load:\n{problem}").format(problem=exc)) from None
    return ws, open_store(ws.db_path)


def load_in_workspace(path: Path, batch: CallBatch) -> dict[str, Any]:
    """`load` on the demo workspace at `path` (its store holds the imported calls)."""
    _ws, store = _open(path)
    try:
        return load(path, store, batch)
    finally:
        store.close()


def allocate_in_workspace(path: Path, period: str, move: dict[str, Any]) -> dict[str, Any]:
    """`allocate` on the demo workspace at `path`, once its invoices are imported."""
    ws, store = _open(path)
    try:
        return allocate(ws, store, period, move)
    finally:
        store.close()
