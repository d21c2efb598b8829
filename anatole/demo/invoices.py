"""The demo's carrier invoices: a month of bills for the calls the demo imported, with planted errors that the
audit and the reconciliation must find.

Two carriers bill the made-up company for the demo's month (`run_demo` calls `run` after the PBX files are
imported), each in its own format, written as real files in `<workspace>/invoices/`:

- Paris: *Lutèce Télécom* sends a UBL 2.1 invoice (EN 16931, as French e-invoicing requires): a monthly rental per
  line, the month's usage per kind of destination (the rated calls summed, rounded half_up to the cent: UBL
  carries no call detail), VAT at 20 % and document totals that add up.
- New York: *Hudson Communications* sends a carrier CSV detail file (read through the `[invoice_csv.hudson-detail]`
  profile the demo writes into anatole.toml): monthly rentals, one row per call with its exact price (the tariff
  keeps 4 decimals, so the calls are billed to 4 decimals), and the New York sales taxes.

Why these two: the UBL invoice is the legal document of a French carrier but has no per-call detail; a CSV detail
file carries the calls with exact amounts. An X12 811 states its total in cents (TDS is N2) while the calls cost
fractions of a cent, so its total could not be both exact and valid.

The invoices are generated from the rated calls *in the store* (`store.recon.calls_for_reconciliation`: outgoing,
answered, carrying their own cost): each answered call that the tariff rates is billed at its rated cost and at its
answer time; calls without a rate (ranges the carrier does not serve) are not billed. Then the errors are planted:

- Paris, duplicate charge: the DID block rental is billed twice (audit DUPLICATE-CHARGE; and, against the demo's
  inventory, CONTRACT-FEE: the trunk's rentals exceed its contract's monthly fee by that much);
- Paris, cancelled line: the rental of an alarm line cancelled at the end of the previous month is still billed
  (audit LINE-INACTIVE: the demo's inventory, `anatole.demo.inventory`, loaded before the invoices are audited,
  ends the line on the last day of the previous month);
- New York, rate overcharge: every call to a UK fixed number is billed at the UK *mobile* row of the contract
  tariff (audit RATE-MISMATCH re-rating the call detail; reconciliation: cost mismatch);
- New York, calls never made: nine calls the PBX never placed, at the contract price (reconciliation: only on the
  invoice).

`run` imports both files as a user does (`tem.workflow.import_file`, what `anatole import invoice` runs), audits
each invoice with its site's tariff (`tem.audit.audit`, as `anatole invoice audit --tariff`), reconciles the
New York call detail with the rated calls (as `anatole reconcile --site new-york`) and returns what was found:
each planted error with its money at stake and the product's findings that match it, every other finding with
the reason it is expected, and anything unexplained (there should be none).
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import io
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

import numpy as np

from engine.money import SCALE, divide_round, format_exact, format_money, parse_money, round_money
from i18n import N_, _
from ingest.invoice import InvoiceError
from store import display
from store.invoices import open_invoices
from store.recon import calls_for_reconciliation
from tem.audit import audit
from tem.reconcile import (
    CLASS_NAMES,
    ONLY_CDR,
    Tolerances,
    calls_from_columns,
    detail_from_columns,
    period_of_dates,
    reconcile,
)
from tem.workflow import import_file

if TYPE_CHECKING:
    from rich.console import Console

    from anatole.config import Workspace
    from store.db import Store

INVOICE_FOLDER = "invoices"
PROFILE = "hudson-detail"
CENT = SCALE // 100


class DemoInvoiceError(Exception):
    """The demo's invoices cannot be written or imported: the message says why."""


@dataclass(frozen=True)
class Line:
    """A carrier line (or a service on it) billed monthly."""

    service: str  # E.164 digits
    description: str
    monthly: str  # decimal, the carrier's currency


@dataclass(frozen=True)
class Carrier:
    site: str
    name: str
    id: str
    vat: str
    account: str
    currency: str
    lines: tuple[Line, ...]
    trunk: str  # the line the calls are billed on


# Fictional numbers: ARCEP's 01 99 00 range and the NANP 555-01xx range are reserved for fiction.
LUTECE = Carrier(
    site="paris", name="Lutèce Télécom SAS", id="999000001", vat="FR45999000001", account="LT-0042-7781",
    currency="EUR", trunk="33199000100",
    lines=(Line("33199000100", "Abonnement trunk SIP 30 canaux", "180.00"),
           Line("33199000100", "Abonnement tranche de 100 SDA", "20.00"),
           Line("33199000150", "Abonnement ligne analogique (fax)", "29.90"),
           Line("33199000151", "Abonnement ligne analogique (ascenseur)", "29.90")))
HUDSON = Carrier(
    site="new-york", name="Hudson Communications", id="Hudson Communications", vat="", account="HC-212-0093",
    currency="USD", trunk="12125550100",
    lines=(Line("12125550100", "SIP trunk, 23 call paths", "345.00"),
           Line("12125550100", "DID block, 100 numbers", "25.00"),
           Line("12125550110", "Business line (fax)", "42.50"),
           Line("12125550111", "Business line (elevator)", "42.50")))
# The planted errors' facts (see the module docstring).
DUPLICATED = LUTECE.lines[1]
CANCELLED = Line("33199000199", "Abonnement ligne analogique (alarme)", "29.90")
OVERCHARGED_PREFIX = "44"  # UK numbers ...
OVERCHARGED_EXCEPT = "447"  # ... that are not mobiles, billed at the mobile row:
WRONG_ROW = "4474"  # the number is rated as if it started with this (a UK mobile prefix of the tariff)
PHANTOM_CALLS = 9
VAT_RATE = "20"  # percent, France, standard rate (category S)
NY_TAXES = (("NY State sales tax", "4"), ("NYC local sales tax and MCTD surcharge", "4.875"))  # percent
PARIS_USAGE = {  # the Paris invoice's usage lines (French wording: "appels" = calls), see paris_usage_kind
    "mobile": "Appels vers mobiles",
    "special": "Appels vers numéros spéciaux",
    "national": "Appels vers fixes nationaux",
    "international": "Appels internationaux",
}


def profile_toml() -> list[str]:
    """The `[invoice_csv.hudson-detail]` profile for anatole.toml: how the New York carrier's CSV reads."""
    return [
        "",
        f"[invoice_csv.{PROFILE}]  # the New York carrier's detail file (see invoices/)",
        f'carrier = "{HUDSON.name}"',
        f'currency = "{HUDSON.currency}"',
        'invoice = "Invoice Number"',
        'account = "Account Number"',
        'issue_date = "Bill Date"',
        'service = "Service Number"',
        'category = "Charge Type"',
        'description = "Description"',
        'period_start = "From"',
        'period_end = "To"',
        'start = "Call Date"',
        'duration = "Seconds"',
        'dialled = "Called Number"',
        'amount = "Amount"',
        'date_format = "%m/%d/%Y"',
        'start_format = "%m/%d/%Y %H:%M:%S"',
        'timezone = "America/New_York"',
        "",
        f"[invoice_csv.{PROFILE}.category_map]",
        'MRC = "recurring"',
        'USAGE = "usage"',
        'TAX = "tax"',
        "",
    ]


# --- dates ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @property
    def first(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    @property
    def last(self) -> dt.date:
        return dt.date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    @property
    def issued(self) -> dt.date:
        return self.last + dt.timedelta(days=3)

    @property
    def before(self) -> dt.date:
        return self.first - dt.timedelta(days=1)


def _month(text: str) -> Month:
    y, m = (int(x) for x in text.split("-"))
    return Month(y, m)


# --- the calls the carriers bill --------------------------------------------------------------------------------


def billable_calls(store: Store, ws: Workspace, site: str, month: Month) -> dict[str, np.ndarray]:
    """The site's stored calls a carrier bills: answered, rated, answered within the month (site's time)."""
    start, end = period_of_dates(month.first.isoformat(), month.last.isoformat(), ws.sites[site].timezone)
    cols = calls_for_reconciliation(store, start=start, end=end, site=site)
    keep = cols["status"] == "rated"
    return {k: v[keep] for k, v in cols.items()}


def _cents(value: int) -> int:
    return round_money(value, 2, "half_up")  # named rounding: the carrier's invoice amounts are in cents


def _percent(base: int, rate: str) -> int:
    """base x rate / 100, rounded half_up to the cent once, from the exact product (a tax, or VAT)."""
    return divide_round(base * parse_money(rate), 100 * SCALE * CENT, "half_up") * CENT


# --- Paris: UBL 2.1 ---------------------------------------------------------------------------------------------


def _x(tag: str, text: str | None = None, children: list[str] | None = None, **attrs: str) -> str:
    a = "".join(f" {k}={quoteattr(v)}" for k, v in attrs.items())
    if children is not None:
        return f"<{tag}{a}>" + "".join(children) + f"</{tag}>"
    return f"<{tag}{a}>{escape(text or '')}</{tag}>"


def _party(name: str, ident: str, vat: str, country: str, city: str, street: str, postcode: str,
           ident_scheme: str = "") -> list[str]:
    idents = [_x("cbc:ID", ident, **({"schemeID": ident_scheme} if ident_scheme else {}))]
    party = [
        _x("cac:PartyIdentification", children=idents),
        _x("cac:PartyName", children=[_x("cbc:Name", name)]),
        _x("cac:PostalAddress", children=[
            _x("cbc:StreetName", street), _x("cbc:CityName", city), _x("cbc:PostalZone", postcode),
            _x("cac:Country", children=[_x("cbc:IdentificationCode", country)])]),
    ]
    if vat:
        party.append(_x("cac:PartyTaxScheme", children=[
            _x("cbc:CompanyID", vat), _x("cac:TaxScheme", children=[_x("cbc:ID", "VAT")])]))
    party.append(_x("cac:PartyLegalEntity", children=[_x("cbc:RegistrationName", name)]))
    return [_x("cac:Party", children=party)]


def paris_usage_kind(number: str) -> str:
    """The usage line of a call from Paris, by its E.164 number: the French numbering plan's 06/07 mobiles, 08
    special numbers (toll-free, shared cost, premium), other French numbers, and the rest of the world."""
    if not number.startswith("33"):
        return "international"
    return "mobile" if number.startswith(("336", "337")) else "special" if number.startswith("338") else "national"


def paris_charges(calls: dict[str, np.ndarray]) -> list[tuple[str, str, int, int, str]]:
    """The Paris invoice's lines: (service, description, quantity, amount, unit) with the planted errors.
    Quantity is 1 month for rentals, the number of calls for usage (the price is then per that many calls)."""
    out = [(line.service, line.description, 1, parse_money(line.monthly), "MON") for line in LUTECE.lines]
    out.insert(2, (DUPLICATED.service, DUPLICATED.description, 1, parse_money(DUPLICATED.monthly), "MON"))
    out.append((CANCELLED.service, CANCELLED.description, 1, parse_money(CANCELLED.monthly), "MON"))
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for number, cost in zip(calls["number"].tolist(), calls["cost"].tolist()):
        kind = paris_usage_kind(number)
        sums[kind][0] += 1
        sums[kind][1] += cost
    for kind, description in PARIS_USAGE.items():
        n, total = sums.get(kind, (0, 0))
        if n:
            out.append((LUTECE.trunk, description, n, _cents(total), "C62"))
    return out


def write_paris_ubl(path: Path, calls: dict[str, np.ndarray], month: Month) -> dict[str, Any]:
    """The Paris carrier's UBL 2.1 invoice; returns its facts (number, totals)."""
    period = [_x("cbc:StartDate", month.first.isoformat()), _x("cbc:EndDate", month.last.isoformat())]
    number = f"LT{month.year}{month.month:02d}-004471"
    lines = []
    charges = paris_charges(calls)
    total = 0
    for i, (service, description, qty, amount, unit) in enumerate(charges, 1):
        total += amount
        lines.append(_x("cac:InvoiceLine", children=[
            _x("cbc:ID", str(i)),
            _x("cbc:InvoicedQuantity", str(qty), unitCode=unit),
            _x("cbc:LineExtensionAmount", format_money(amount), currencyID="EUR"),
            _x("cac:InvoicePeriod", children=period),
            _x("cac:DocumentReference", children=[_x("cbc:ID", "+" + service, schemeID="MSISDN"),
                                                  _x("cbc:DocumentTypeCode", "130")]),
            _x("cac:Item", children=[
                _x("cbc:Name", description),
                _x("cac:ClassifiedTaxCategory", children=[
                    _x("cbc:ID", "S"), _x("cbc:Percent", VAT_RATE),
                    _x("cac:TaxScheme", children=[_x("cbc:ID", "VAT")])])]),
            _x("cac:Price", children=[_x("cbc:PriceAmount", format_money(amount), currencyID="EUR"),
                                      _x("cbc:BaseQuantity", str(qty), unitCode=unit)]),
        ]))
    tax = _percent(total, VAT_RATE)
    eur = {"currencyID": "EUR"}
    doc = [
        _x("cbc:CustomizationID", "urn:cen.eu:en16931:2017"),
        _x("cbc:ProfileID", "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"),
        _x("cbc:ID", number),
        _x("cbc:IssueDate", month.issued.isoformat()),
        _x("cbc:DueDate", (month.issued + dt.timedelta(days=30)).isoformat()),
        _x("cbc:InvoiceTypeCode", "380"),
        _x("cbc:Note", "Facture mensuelle des services de télécommunications"),
        _x("cbc:DocumentCurrencyCode", "EUR"),
        _x("cbc:BuyerReference", LUTECE.account),
        _x("cac:InvoicePeriod", children=period),
        _x("cac:AccountingSupplierParty", children=_party(
            LUTECE.name, LUTECE.id, LUTECE.vat, "FR", "Paris", "12 rue de Lutèce", "75004", ident_scheme="0002")),
        _x("cac:AccountingCustomerParty", children=_party(
            "Anatole Demo SA", LUTECE.account, "FR00999000002", "FR", "Paris", "1 place de l'Exemple", "75002")),
        _x("cac:PaymentMeans", children=[_x("cbc:PaymentMeansCode", "58"),
                                         _x("cac:PayeeFinancialAccount", children=[
                                             _x("cbc:ID", "FR7699999000010000000000185")])]),
        _x("cac:TaxTotal", children=[
            _x("cbc:TaxAmount", format_money(tax), **eur),
            _x("cac:TaxSubtotal", children=[
                _x("cbc:TaxableAmount", format_money(total), **eur), _x("cbc:TaxAmount", format_money(tax), **eur),
                _x("cac:TaxCategory", children=[_x("cbc:ID", "S"), _x("cbc:Percent", VAT_RATE),
                                                _x("cac:TaxScheme", children=[_x("cbc:ID", "VAT")])])])]),
        _x("cac:LegalMonetaryTotal", children=[
            _x("cbc:LineExtensionAmount", format_money(total), **eur),
            _x("cbc:TaxExclusiveAmount", format_money(total), **eur),
            _x("cbc:TaxInclusiveAmount", format_money(total + tax), **eur),
            _x("cbc:PayableAmount", format_money(total + tax), **eur)]),
        *lines,
    ]
    xml = ('<?xml version="1.0" encoding="UTF-8"?>\n'
           '<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" '
           'xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" '
           'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">\n'
           + "\n".join(doc) + "\n</Invoice>\n")
    path.write_text(xml, encoding="utf-8")
    return {"number": number, "lines": total, "tax": tax, "payable": total + tax}


# --- New York: carrier CSV detail ------------------------------------------------------------------------------

CSV_HEADER = ("Invoice Number", "Account Number", "Bill Date", "Service Number", "Charge Type", "Description",
              "From", "To", "Call Date", "Seconds", "Called Number", "Amount")


@dataclass
class PlantedCalls:
    """The New York calls billed wrong: overcharged (billed, contract price) and phantom calls."""

    overcharged: list[tuple[str, int, int, int, int]]  # (number, start, seconds, billed, contract)
    phantom: list[tuple[str, int, int, int]]  # (number, start, seconds, billed)


def new_york_calls(ws: Workspace, calls: dict[str, np.ndarray], month: Month, seed: int
                   ) -> tuple[list[tuple[str, int, int, int, str]], PlantedCalls]:
    """The call detail the New York carrier bills, in time order: (number, start, seconds, amount, description:
    the destination of the tariff row it billed), with the UK fixed-line calls billed at the UK mobile row and
    PHANTOM_CALLS calls the PBX never made."""
    site = ws.sites[HUDSON.site]
    tariff = ws.tariff(site.tariff)
    numbers = calls["number"].tolist()
    starts = calls["start"].tolist()
    seconds = calls["duration"].tolist()
    amounts = calls["cost"].tolist()
    contract = tariff.rate(numbers, starts, seconds)
    described = [tariff.destination(r) if r >= 0 else "" for r in contract["rate"].tolist()]
    wrong = [i for i, n in enumerate(numbers) if n.startswith(OVERCHARGED_PREFIX) and
             not n.startswith(OVERCHARGED_EXCEPT)]
    planted = PlantedCalls([], [])
    if wrong:
        as_mobile = tariff.rate([WRONG_ROW + numbers[i][len(WRONG_ROW):] for i in wrong],
                                [starts[i] for i in wrong], [seconds[i] for i in wrong])
        for k, i in enumerate(wrong):
            billed = int(as_mobile["cost"][k])
            planted.overcharged.append((numbers[i], starts[i], seconds[i], billed, amounts[i]))
            amounts[i] = billed
            described[i] = tariff.destination(int(as_mobile["rate"][k]))
    # calls the PBX never made: fresh numbers (nobody at the site called them), office hours, at the contract price
    rng = np.random.default_rng(seed + 811)
    zone = ZoneInfo(site.timezone)
    known = set(numbers)
    days = [d for d in range(1, month.last.day + 1) if dt.date(month.year, month.month, d).weekday() < 5]
    phantom_numbers, phantom_starts, phantom_seconds = [], [], []
    # (E.164 head, length): Mexico City, Miami, Monterrey, Las Vegas, Mumbai
    heads = (("5255", 12), ("1305", 11), ("5281", 12), ("1702", 11), ("9122", 12))
    while len(phantom_numbers) < PHANTOM_CALLS:
        head, length = heads[len(phantom_numbers) % len(heads)]
        number = head + str(int(rng.integers(2, 10))) + \
            "".join(str(d) for d in rng.integers(0, 10, size=length - len(head) - 1))
        if number in known or number in phantom_numbers:
            continue
        day = int(rng.choice(days))
        local = dt.datetime(month.year, month.month, day, int(rng.integers(9, 18)), int(rng.integers(0, 60)),
                            int(rng.integers(0, 60)), tzinfo=zone)
        phantom_numbers.append(number)
        phantom_starts.append(int(local.timestamp()))
        phantom_seconds.append(int(rng.integers(60, 900)))
    priced = tariff.rate(phantom_numbers, phantom_starts, phantom_seconds)
    for k, number in enumerate(phantom_numbers):
        if tariff.describe(priced, k)["status"] != "rated":
            raise DemoInvoiceError(_("the phantom call to {number} has no rate in {tariff}").format(
                number=number, tariff=site.tariff))
        planted.phantom.append((number, phantom_starts[k], phantom_seconds[k], int(priced["cost"][k])))
        described.append(tariff.destination(int(priced["rate"][k])))
    rows = list(zip(numbers + phantom_numbers, starts + phantom_starts, seconds + phantom_seconds,
                    amounts + [a for *_call, a in planted.phantom], described))
    rows.sort(key=lambda r: (r[1], r[0]))
    return rows, planted


def write_new_york_csv(path: Path, ws: Workspace, calls: dict[str, np.ndarray], month: Month, seed: int
                       ) -> tuple[dict[str, Any], PlantedCalls]:
    """The New York carrier's CSV detail file; returns its facts and the planted calls."""
    zone = ZoneInfo(ws.sites[HUDSON.site].timezone)
    number = f"HC-{month.year}{month.month:02d}-0093"
    issued = month.issued.strftime("%m/%d/%Y")
    first, last = month.first.strftime("%m/%d/%Y"), month.last.strftime("%m/%d/%Y")
    head = [number, HUDSON.account, issued]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(CSV_HEADER)
    total = 0
    for line in HUDSON.lines:
        amount = parse_money(line.monthly)
        total += amount
        w.writerow([*head, "+" + line.service, "MRC", line.description, first, last, "", "", "", format_money(amount)])
    rows, planted = new_york_calls(ws, calls, month, seed)
    for called, start, seconds, amount, destination in rows:
        total += amount
        when = dt.datetime.fromtimestamp(start, zone).strftime("%m/%d/%Y %H:%M:%S")
        w.writerow([*head, "+" + HUDSON.trunk, "USAGE", f"Call to {destination}", "", "", when, str(seconds),
                    "+" + called,
                    format_exact(amount)])
    tax = 0
    for description, rate in NY_TAXES:
        value = _percent(total, rate)
        tax += value
        w.writerow([*head, "", "TAX", f"{description} {rate}%",
                    first, last, "", "", "", format_money(value)])
    path.write_text(out.getvalue(), encoding="utf-8")
    return {"number": number, "lines": total, "tax": tax, "payable": total + tax}, planted


# --- import, audit, reconcile, and what was found --------------------------------------------------------------


def _money(value: int) -> str:
    return format_exact(value)


def run_in_workspace(path: Path, month: str, seed: int) -> dict[str, Any]:
    """`run` on the demo workspace at `path` (its anatole.toml and the store the PBX files were imported into)."""
    from anatole.config import ConfigError, open_workspace
    from store import open_store

    try:
        ws = open_workspace(path)
    except ConfigError as exc:
        raise DemoInvoiceError(_("the demo workspace does not load:\n{problem}").format(problem=exc)) from None
    store = open_store(ws.db_path)
    try:
        return run(path, ws, store, month, seed)
    finally:
        store.close()


def run(path: Path, ws: Workspace, store: Store, month_text: str, seed: int) -> dict[str, Any]:
    """Write the month's invoices in <workspace>/invoices/, import them, audit and reconcile them; the summary."""
    month = _month(month_text)
    folder = Path(path) / INVOICE_FOLDER
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():  # a previous demo run's invoices (the store is new too)
            if old.is_file() and old.name.startswith(("lutece-", "hudson-")):
                old.unlink()
        paris_file = folder / f"lutece-{month_text}.xml"
        ny_file = folder / f"hudson-{month_text}.csv"
        write_paris_ubl(paris_file, billable_calls(store, ws, LUTECE.site, month), month)
        _rows, planted_calls = write_new_york_csv(ny_file, ws, billable_calls(store, ws, HUDSON.site, month), month,
                                               seed)
    except OSError as exc:
        raise DemoInvoiceError(_("cannot write the invoices in {folder}: {problem}").format(
            folder=folder, problem=exc.strerror or exc)) from None
    istore = open_invoices(store.conn)
    files, ids = [], {}
    for site, file in ((LUTECE.site, paris_file), (HUDSON.site, ny_file)):
        try:
            result = import_file(istore, file, profiles=ws.invoice_profiles, timezone=ws.sites[site].timezone,
                                 actor="anatole demo")
        except InvoiceError as exc:
            raise DemoInvoiceError(_("cannot import {file}: {problem}").format(file=file, problem=exc)) from None
        inv = result.invoices[0]
        ids[site] = inv["id"]
        calls = len(istore.call_detail(inv["id"])["start"])
        files.append({"file": file.name, "site": site, "format": result.format, "number": inv["number"],
                      "carrier": inv["carrier_name"] or inv["carrier"], "account": inv["account"],
                      "currency": inv["currency"], "status": inv["status"], "state": inv["state"],
                      "charges": len(istore.charges(inv["id"])), "calls": calls,
                      "totals": {k: inv["totals"][k] for k in ("lines", "tax", "payable")},
                      "not_checked": [n["rule"] for n in inv["not_checked"]]})
    for site, iid in ids.items():  # as `anatole invoice audit ID --tariff` (the call detail is E.164: no --site)
        audit(istore, [iid], tariff=ws.tariff(ws.sites[site].tariff))
    ny_id = ids[HUDSON.site]
    ny_inv = istore.invoice(ny_id)
    tol = Tolerances()
    period = period_of_dates(ny_inv["period_start"], ny_inv["period_end"], ws.sites[HUDSON.site].timezone)
    detail = detail_from_columns(istore.call_detail(ny_id))
    cols = calls_for_reconciliation(store, start=period[0] - tol.start, end=period[1] + tol.start,
                                    site=HUDSON.site)
    recon = reconcile(detail, calls_from_columns(cols), tol, period, ny_inv["currency"])
    summary = {
        "folder": str(folder),
        "files": files,
        "reconciliation": {"invoice": ny_inv["number"], "site": HUDSON.site, **_recon_summary(recon)},
    }
    summary.update(_what_was_found(istore, ids, recon, planted_calls, files, month))
    return summary


def _recon_summary(recon: Any) -> dict[str, Any]:
    s = recon.summary()
    return {"invoice_lines": s["invoice_lines"], "calls": s["calls"], "matched": s["matched"],
            "classes": {k: {"count": v["count"], "invoice": v["invoice"], "cdr": v["cdr"], "over": v["over"]}
                        for k, v in s["classes"].items()},
            "money_at_stake": s["money_at_stake"], "currency": s["currency"]}


def _what_was_found(istore: Any, ids: dict[str, int], recon: Any, planted: PlantedCalls,
                    files: list[dict[str, Any]], month: Month) -> dict[str, Any]:
    """Match the product's findings to the planted errors; list what else it reported, explained or not."""
    number = {f["site"]: f["number"] for f in files}
    failed: dict[str, list[dict[str, Any]]] = {}
    for site, iid in ids.items():
        failed[site] = [c for c in istore.checks(iid) if not c["ok"]]
    used: set[int] = set()

    def take(site: str, rule: str, lines: set[str] | None = None) -> list[dict[str, Any]]:
        got = [c for c in failed[site] if c["rule"] == rule and (lines is None or c["line"] in lines)
               and c["id"] not in used]
        used.update(c["id"] for c in got)
        return got

    def detection(by: str, rule: str, count: int, at_stake: int) -> dict[str, Any]:
        return {"by": by, "rule": rule, "lines": count, "at_stake": _money(at_stake)}

    # reconciliation classes, per billed call
    d = recon.detail
    cls_of = {(str(n), int(s)): int(c) for n, s, c in zip(d.number.tolist(), d.start.tolist(),
                                                          recon.inv_class.tolist())}
    amount_of = {(str(n), int(s)): int(a) for n, s, a in zip(d.number.tolist(), d.start.tolist(),
                                                             d.amount.tolist())}
    recon_seen: Counter = Counter()
    planted_out = []

    # 1. duplicate charge (Paris): the same charge twice; the line's rentals above its contract's fee
    dup = parse_money(DUPLICATED.monthly)
    hits = take("paris", "DUPLICATE-CHARGE", {DUPLICATED.service})
    fee = take("paris", "CONTRACT-FEE", {DUPLICATED.service})
    planted_out.append({
        "error": N_("duplicate charge"), "site": "paris", "invoice": number["paris"], "currency": LUTECE.currency,
        "what": f"{DUPLICATED.description} on +{DUPLICATED.service} billed twice", "lines": 1,
        "at_stake": _money(dup),
        "detections": [detection("audit", "DUPLICATE-CHARGE", len(hits), sum(c["at_stake"] for c in hits)),
                       detection("audit", "CONTRACT-FEE", len(fee), sum(c["at_stake"] for c in fee))]})
    # 2. cancelled line (Paris): billed outside its dates in the inventory
    hits = take("paris", "LINE-INACTIVE", {CANCELLED.service})
    planted_out.append({
        "error": N_("charge on a cancelled line"), "site": "paris", "invoice": number["paris"],
        "currency": LUTECE.currency,
        "what": f"{CANCELLED.description} on +{CANCELLED.service}, cancelled on "
                f"{month.before.isoformat()}, still billed",
        "lines": 1, "at_stake": _money(parse_money(CANCELLED.monthly)),
        "detections": [detection("audit", "LINE-INACTIVE", len(hits), sum(c["at_stake"] for c in hits))]})
    # 3. rate overcharge (New York)
    over_keys = {f"{HUDSON.trunk}→{n}@{s}" for n, s, *_rest in planted.overcharged}
    hits = take("new-york", "RATE-MISMATCH", over_keys)
    over_stake = sum(b - c for *_call, b, c in planted.overcharged)
    mismatch = CLASS_NAMES.index("cost_mismatch")
    rc = [(b, c) for n, s, _dest, b, c in planted.overcharged if cls_of.get((n, s)) == mismatch]
    recon_seen["cost_mismatch"] += len(rc)
    rc_stake = sum(b - c for b, c in rc)
    planted_out.append({
        "error": N_("rate overcharge"), "site": "new-york", "invoice": number["new-york"], "currency": HUDSON.currency,
        "what": "calls to UK fixed lines billed at the UK mobile rate", "lines": len(planted.overcharged),
        "at_stake": _money(over_stake),
        "detections": [detection("audit", "RATE-MISMATCH", len(hits), sum(c["at_stake"] for c in hits)),
                       detection("reconcile", "cost_mismatch", len(rc), rc_stake)]})
    # 4. calls the PBX never made (New York)
    ghost = [(n, s) for n, s, *_rest in planted.phantom if cls_of.get((n, s)) == CLASS_NAMES.index("only_invoice")]
    recon_seen["only_invoice"] += len(ghost)
    planted_out.append({
        "error": N_("calls never made"), "site": "new-york", "invoice": number["new-york"], "currency": HUDSON.currency,
        "what": f"{len(planted.phantom)} calls billed that the PBX never placed",
        "lines": len(planted.phantom), "at_stake": _money(sum(a for *_call, a in planted.phantom)),
        "detections": [detection("reconcile", "only_invoice", len(ghost), sum(amount_of[k] for k in ghost))]})
    for p in planted_out:
        p["found"] = bool(p["detections"]) and all(
            x["lines"] == p["lines"] and x["at_stake"] == p["at_stake"] for x in p["detections"])

    # everything else the product reported
    explained, unexplained = [], []
    only_cdr = (recon.cdr_class == ONLY_CDR) & recon.in_scope
    statuses = Counter(recon.calls.status[only_cdr].tolist())
    if only_cdr.any():
        item = {"source": "reconcile", "rule": "only_cdr", "invoice": number["new-york"],
                "lines": int(only_cdr.sum()), "amount": _money(int(recon.calls.cost[only_cdr].sum()))}
        if set(statuses) == {"no_rate"}:
            explained.append({**item, "why": N_("answered calls the tariff has no rate for (no_rate): the carrier "
                                                "does not bill them and they cost nothing")})
        else:
            unexplained.append({**item, "why": f"statuses {dict(statuses)}"})
    for name in ("near", "cost_mismatch", "only_invoice"):
        count = int(recon.totals[name]["count"]) - recon_seen[name]
        if count:
            unexplained.append({"source": "reconcile", "rule": name, "invoice": number["new-york"], "lines": count})
    for site, checks in failed.items():
        for (rule, severity), group in sorted(Counter((c["rule"], c["severity"]) for c in checks
                                                      if c["id"] not in used).items()):
            rows = [c for c in checks if c["rule"] == rule and c["id"] not in used]
            unexplained.append({"source": rows[0]["source"], "rule": rule, "severity": severity,
                                "invoice": number[site], "lines": group,
                                "amount": _money(sum(c["at_stake"] or 0 for c in rows))})
    return {"planted": planted_out, "explained": explained, "unexplained": unexplained}


# --- showing it ------------------------------------------------------------------------------------------------


def render(summary: dict[str, Any], console: Console) -> None:
    """The invoices part of the demo summary, 80 columns."""
    from rich import box
    from rich.table import Table

    from anatole.demo.text import count, headed

    def table(title: str) -> Table:
        return Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD,
                     show_edge=False, padding=(0, 1, 0, 0), pad_edge=False)

    t = table(_("Carrier invoices ({folder}), imported, audited and reconciled").format(folder=f"{INVOICE_FOLDER}/"))
    for col in (N_("File"), N_("Format"), N_("Status"), N_("Lines"), N_("Calls"), N_("Payable")):
        t.add_column(_(col), justify="left" if col in ("File", "Format", "Status") else "right", no_wrap=True,
                     overflow="ellipsis", max_width=24 if col == "File" else None)
    for f in summary["files"]:
        t.add_row(f["file"], f["format"], _file_status(f["status"]), count(f["charges"] - f["calls"]),
                  count(f["calls"]),
                  display.from_text(f["totals"]["payable"], f["currency"]))
    console.print(t)
    console.print()
    t = table(_("Planted errors"))
    for col in (N_("Error"), N_("Site"), N_("Lines"), N_("At stake"), N_("Found by")):
        t.add_column(_(col), justify="right" if col in ("Lines", "At stake") else "left", overflow="fold",
                     max_width={"Error": 18, "Found by": 24}.get(col), no_wrap=col in ("Site", "At stake"))
    for p in summary["planted"]:
        by = ", ".join(f"{_by(d['by'])} {d['rule']}" for d in p["detections"]) if p["found"] else (
            _("NOT DETECTED") if not p["detections"] else _("MISSED: {detections}").format(detections=", ".join(
                f"{_by(d['by'])} {d['rule']} {d['lines']}" for d in p["detections"])))
        t.add_row(_(p["error"]), p["site"], count(p["lines"]), display.from_text(p["at_stake"], p["currency"]), by)
    console.print(t)
    for p in summary["planted"]:
        if p.get("note"):
            console.print(headed(_(p["error"]), f"{p['note']}."))
    for e in summary["explained"]:
        console.print(_("Also reported, as expected: {lines} {rule} ({source}): {why}.").format(
            lines=count(e["lines"]), rule=e["rule"], source=_by(e["source"]), why=_(e["why"])))
    for e in summary["unexplained"]:
        text = _("{lines} {rule} ({source}) on {invoice}").format(lines=count(e["lines"]), rule=e["rule"],
                                                                  source=_by(e["source"]), invoice=e["invoice"])
        console.print(headed(_("Unexplained"), text, style="bold red"))
    r = summary["reconciliation"]
    console.print()
    ws = Path(summary["folder"]).parent
    lead = _("Try:")
    console.print(f"{lead} anatole -w {ws} invoice list")
    console.print(f"{' ' * len(lead)} anatole -w {ws} reconcile {r['invoice']} --site {r['site']}")


def _by(source: str) -> str:
    """Who found a planted error ("audit", "reconcile": the JSON keeps these words) as a person reads it."""
    return {"audit": _("audit"), "reconcile": _("reconcile")}.get(source, source)


def _file_status(status: str) -> str:
    """An invoice file's validation status ("valid", "invalid": kept in JSON) in the language."""
    return {"valid": _("valid"), "invalid": _("invalid")}.get(status, status)
