"""The canonical carrier invoice every importer produces, whatever the syntax (UBL, CII, Factur-X, X12 811, CSV).

Money is an exact int in units of 10**-8 (engine.money.SCALE), parsed from the file's decimal strings, never via a
float; quantities use the same scale. Dates are ISO strings (YYYY-MM-DD), instants UTC epoch seconds. Signs are
normalised: a credit note (UBL `CreditNote`, CII type 381...) becomes negative amounts here, so that summing the
invoices of an account gives what is owed. A total the document does not state is None (not zero), so that
validation can tell "not given" from "given as 0".
"""

from __future__ import annotations

import msgspec

from i18n import N_

CATEGORIES = ("recurring", "usage", "one_time", "discount", "tax")  # FOCUS-style charge categories
SERVICE_KINDS = ("phone", "sim", "circuit", "account")
LEVELS = ("line", "document")
# UNTDID 1001 codes of documents that credit the buyer: their amounts are credits, stored negative
CREDIT_TYPE_CODES = frozenset({"81", "83", "261", "262", "296", "308", "381", "396", "420", "458", "532"})
# UNTDID 1001 documents that look like invoices but ask for no payment: kept as information, never approved for
# payment; the names are marked for translation (show them with _(name))
NON_PAYABLE_TYPE_CODES = {"751": N_("invoice information for accounting purposes"), "325": N_("proforma invoice"),
                          "130": N_("invoicing data sheet")}
# the payable invoice codes of the EN 16931 code list for BT-3 (380 commercial, 384 corrected, 389 self-billed...)
INVOICE_TYPE_CODES = frozenset({
    "71", "80", "82", "84", "102", "202", "203", "204", "211", "218", "219", "295", "326", "331", "380", "382", "383",
    "384", "385", "386", "387", "388", "389", "390", "393", "394", "395", "456", "457", "527", "553", "575", "623",
    "633", "780", "817", "870", "875", "876", "877", "935"})
KINDS = ("invoice", "credit_note", "information")


def document_kind(type_code: str, credit_root: bool = False) -> str:
    """invoice (to pay), credit_note (a credit: amounts stored negative) or information (751...: never paid)."""
    if credit_root or type_code in CREDIT_TYPE_CODES:
        return "credit_note"
    if type_code in NON_PAYABLE_TYPE_CODES:
        return "information"
    return "invoice"


class InvoiceError(Exception):
    """A file that cannot be read as an invoice: the message names the file, where and what is wrong."""


class Party(msgspec.Struct, kw_only=True):
    name: str = ""
    id: str = ""  # the most specific identifier given (party id, legal id, VAT id)
    vat: str = ""
    address: bool = False  # a postal address is given (BR-08 / BR-10)
    country: str = ""  # its country code (BR-09 / BR-11)


class Charge(msgspec.Struct, kw_only=True):
    """One billed amount: an invoice line, a document-level allowance/charge, or (X12) a tax line."""

    seq: int  # order in the document, from 1
    line_id: str = ""  # the document's own line id (BT-126), HL/IT1 id...
    level: str = "line"  # line | document (document-level allowances and charges)
    category: str = "one_time"  # one of CATEGORIES
    service: str = ""  # phone number (E.164 digits), SIM (ICCID), circuit id; "" for account level
    service_kind: str = "account"  # one of SERVICE_KINDS
    sub_account: str = ""  # X12 HL account / sub-account path, when the format has one
    description: str = ""
    period_start: str | None = None
    period_end: str | None = None
    quantity: int | None = None  # 10**-8 units
    base_quantity: int | None = None  # price base quantity (BT-149), 10**-8 units
    unit_price: int | None = None  # net price per base quantity, 10**-8 units
    allowances: int = 0  # line-level allowances (subtracted in `amount` already)
    charges: int = 0  # line-level charges (added in `amount` already)
    amount: int = 0  # net amount (BT-131), sign-normalised
    tax_category: str = ""
    tax_rate: str = ""  # percent as written, e.g. "20" or "5.5"
    tax: int | None = None  # the tax amount, when the line states it (X12 TXI, CSV)
    status_code: str = ""  # French sub-line code: DETAIL, GROUP, INFORMATION ("" = a plain line)
    unit: str = ""  # UN/ECE Rec 20 unit code of the quantity (MIN, SEC, MON, E34, C62...)


class TaxSubtotal(msgspec.Struct, kw_only=True):
    """One VAT breakdown row (BG-23)."""

    category: str = ""
    rate: str = ""
    base: int = 0
    amount: int = 0
    exemption: str = ""  # VAT exemption reason text or code (BT-120 / BT-121)


class Totals(msgspec.Struct, kw_only=True):
    """The document totals as stated by the file (None: not stated)."""

    lines: int | None = None  # BT-106
    allowances: int | None = None  # BT-107
    charges: int | None = None  # BT-108
    tax_exclusive: int | None = None  # BT-109
    tax: int | None = None  # BT-110
    tax_inclusive: int | None = None  # BT-112
    prepaid: int | None = None  # BT-113
    rounding: int | None = None  # BT-114
    third_party: int | None = None  # BT-X-? Factur-X EXTENDED charges collected for a third party (BT-179 sum)
    payable: int | None = None  # BT-115; X12 TDS01
    # account balance (X12 BAL, carrier statements): previous - payments + adjustments + current = due
    previous_balance: int | None = None
    payments: int | None = None
    adjustments: int | None = None
    current_charges: int | None = None
    amount_due: int | None = None


class CallDetail(msgspec.Struct, kw_only=True):
    """One call as the carrier billed it (X12 TCD, CSV detail): what reconciliation matches to rated CDRs."""

    seq: int
    service: str  # the billed line (calling number / SIM)
    start: int  # UTC epoch seconds
    duration: int  # seconds
    dialled: str  # called number as the carrier gives it (E.164 digits when it can be told)
    amount: int  # 10**-8 units, sign-normalised
    description: str = ""


class Invoice(msgspec.Struct, kw_only=True):
    format: str  # ubl | cii | facturx | x12-811 | csv:<profile>
    profile: str = ""  # CustomizationID / guideline id / X12 version / profile name
    number: str
    type_code: str = "380"
    credit: bool = False  # a credit note: amounts were negated on import
    kind: str = "invoice"  # one of KINDS (document_kind of the type code)
    issue_date: str | None = None
    due_date: str | None = None
    period_start: str | None = None
    period_end: str | None = None
    currency: str
    seller: Party = msgspec.field(default_factory=Party)  # the carrier
    buyer: Party = msgspec.field(default_factory=Party)
    account: str = ""  # the billing account number (BAN) at the carrier
    references: list[str] = msgspec.field(default_factory=list)  # invoices this one corrects or credits (BT-25)
    charges: list[Charge] = msgspec.field(default_factory=list)
    taxes: list[TaxSubtotal] = msgspec.field(default_factory=list)
    totals: Totals = msgspec.field(default_factory=Totals)
    calls: list[CallDetail] = msgspec.field(default_factory=list)
    notes: list[str] = msgspec.field(default_factory=list)  # what the parser noticed (format warnings)
    format_errors: list[str] = msgspec.field(default_factory=list)  # carrier errors found while parsing (X12 N2)
    # the official schema (XSD) check: "" not run, "passed", "failed", "unavailable: <why>"; xsd_errors its messages
    xsd: str = ""
    xsd_errors: list[str] = msgspec.field(default_factory=list)

    @property
    def carrier(self) -> str:
        """Who bills: the seller's identifier, else its name."""
        return self.seller.id or self.seller.vat or self.seller.name


def negate(inv: Invoice) -> None:
    """Turn a credit document's positive amounts into our negative ones (in place)."""
    for c in inv.charges:
        c.amount, c.allowances, c.charges = -c.amount, -c.allowances, -c.charges
        if c.tax is not None:
            c.tax = -c.tax
        if c.quantity is not None:
            c.quantity = -c.quantity
    for t in inv.taxes:
        t.base, t.amount = -t.base, -t.amount
    for call in inv.calls:
        call.amount = -call.amount
    for name in Totals.__struct_fields__:
        value = getattr(inv.totals, name)
        if value is not None:
            setattr(inv.totals, name, -value)
    inv.credit = True
    inv.kind = "credit_note"


def service_kind(value: str, scheme: str = "") -> str:
    """Guess what a service identifier is: an ICCID (19-20 digits, 89...), a phone number, or a circuit id."""
    s = scheme.upper()
    if s in ("ICCID", "SIM", "ICC"):
        return "sim"
    if s in ("MSISDN", "TN", "PHONE", "E164"):
        return "phone"
    if s in ("CIRCUIT", "CKT", "CIR"):
        return "circuit"
    if not value:
        return "account"
    digits = value.lstrip("+").replace(" ", "")
    if digits.isdigit() and digits.isascii():
        if len(digits) in (19, 20) and digits.startswith("89"):
            return "sim"
        if 6 <= len(digits) <= 15:
            return "phone"
    return "circuit"


PROFILE_LEVELS = ("minimum", "basicwl", "basic", "en16931", "extended")


def profile_level(fmt: str, profile: str) -> str:
    """The EN 16931 / Factur-X level an XML invoice claims (BT-24): minimum, basicwl, basic, en16931 (also
    Peppol, XRechnung and plain UBL/CII EN 16931) or extended; "" for formats outside EN 16931 (X12, CSV)."""
    if fmt not in ("ubl", "cii", "facturx"):
        return ""
    p = profile.lower()
    if "minimum" in p:
        return "minimum"
    if "basicwl" in p or "basic-wl" in p or "basic_wl" in p:
        return "basicwl"
    if "extended" in p:
        return "extended"
    if "basic" in p:
        return "basic"
    return "en16931"


def xsd_level(fmt: str, profile: str) -> str:
    """The official CII schema to check against: the profile's level, or the French CTC extended schema (D22B)."""
    level = profile_level(fmt, profile)
    return "extended-ctc-fr" if level == "extended" and "ctc-fr" in profile.lower() else level
