"""UBL 2.1 invoices and credit notes (EN 16931, Peppol BIS Billing 3.0, French CTC UBL).

Roots `Invoice` (lines `InvoiceLine`, `InvoicedQuantity`) and `CreditNote` (lines `CreditNoteLine`,
`CreditedQuantity`; positive amounts meaning credit, negated here). `ChargeIndicator` accepts true/false/1/0 (an
xs:boolean; a CEN example writes 0/1). The service a line bills is its invoiced object identifier (BT-128: a line
`DocumentReference` with DocumentTypeCode 130), whose schemeID tells a phone number from a SIM or circuit.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: N817

from i18n import _
from ingest.invoice.common import amount, categorise, first, iso_date, optional_amount
from ingest.invoice.model import (
    CREDIT_TYPE_CODES,
    Charge,
    Invoice,
    InvoiceError,
    Party,
    TaxSubtotal,
    Totals,
    document_kind,
    negate,
    service_kind,
)

NS_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
NS_CREDIT = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
NS = {"cac": CAC, "cbc": CBC}
ROOTS = {f"{{{NS_INVOICE}}}Invoice", f"{{{NS_CREDIT}}}CreditNote"}


def _text(el: ET.Element | None, path: str) -> str | None:
    if el is None:
        return None
    found = el.find(path, NS)
    return found.text.strip() if found is not None and found.text is not None else None


def _bool(text: str | None, where: str) -> bool:
    value = (text or "").strip().lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise InvoiceError(f"{where}: " + _("ChargeIndicator: {text} is not true/false/1/0").format(text=repr(text)))


def _party(el: ET.Element | None) -> Party:
    if el is None:
        return Party()
    p = el.find("cac:Party", NS)
    return Party(
        name=first([_text(p, "cac:PartyLegalEntity/cbc:RegistrationName"), _text(p, "cac:PartyName/cbc:Name")]),
        id=first([_text(p, "cac:PartyIdentification/cbc:ID"), _text(p, "cac:PartyLegalEntity/cbc:CompanyID"),
                  _text(p, "cbc:EndpointID")]),
        vat=first([_text(p, "cac:PartyTaxScheme/cbc:CompanyID")]),
        address=p is not None and p.find("cac:PostalAddress", NS) is not None,
        country=_text(p, "cac:PostalAddress/cac:Country/cbc:IdentificationCode") or "",
    )


def parse(root: ET.Element, where: str) -> Invoice:
    """An Invoice from a parsed UBL root (Invoice or CreditNote)."""
    credit_root = root.tag == f"{{{NS_CREDIT}}}CreditNote"
    kind = "CreditNote" if credit_root else "Invoice"
    number = _text(root, "cbc:ID")
    if not number:
        raise InvoiceError(f"{where}: " + _("cbc:ID (the invoice number, BT-1) is missing"))
    currency = _text(root, "cbc:DocumentCurrencyCode")
    if not currency:
        raise InvoiceError(f"{where}: " + _("cbc:DocumentCurrencyCode (BT-5) is missing"))
    type_code = _text(root, "cbc:CreditNoteTypeCode" if credit_root else "cbc:InvoiceTypeCode") or \
        ("381" if credit_root else "380")
    supplier, customer = root.find("cac:AccountingSupplierParty", NS), root.find("cac:AccountingCustomerParty", NS)
    buyer = _party(customer)
    inv = Invoice(
        format="ubl", profile=_text(root, "cbc:CustomizationID") or "", number=number, type_code=type_code,
        kind=document_kind(type_code, credit_root),
        issue_date=iso_date(_text(root, "cbc:IssueDate"), where, "cbc:IssueDate"),
        due_date=iso_date(_text(root, "cbc:DueDate"), where, "cbc:DueDate"),
        period_start=iso_date(_text(root, "cac:InvoicePeriod/cbc:StartDate"), where, "InvoicePeriod/StartDate"),
        period_end=iso_date(_text(root, "cac:InvoicePeriod/cbc:EndDate"), where, "InvoicePeriod/EndDate"),
        currency=currency, seller=_party(supplier), buyer=buyer,
        account=first([_text(customer, "cac:Party/cac:PartyIdentification/cbc:ID"), _text(root, "cbc:BuyerReference"),
                       buyer.id, buyer.vat, buyer.name]),
        references=[r for r in (_text(b, "cac:InvoiceDocumentReference/cbc:ID")
                                for b in root.findall("cac:BillingReference", NS)) if r],
    )
    seq = 0
    line_tag = "cac:CreditNoteLine" if credit_root else "cac:InvoiceLine"
    qty_tag = "cbc:CreditedQuantity" if credit_root else "cbc:InvoicedQuantity"
    for n, line in enumerate(root.findall(line_tag, NS), 1):
        at = f"{where}: {kind}Line #{n}"
        seq += 1
        inv.charges.append(_line(line, at, seq, qty_tag))
    for n, ac in enumerate(root.findall("cac:AllowanceCharge", NS), 1):
        at = f"{where}: document AllowanceCharge #{n}"
        is_charge = _bool(_text(ac, "cbc:ChargeIndicator"), at)
        value = amount(_text(ac, "cbc:Amount"), at, "Amount")
        reason = first([_text(ac, "cbc:AllowanceChargeReason"), _text(ac, "cbc:AllowanceChargeReasonCode")])
        seq += 1
        inv.charges.append(Charge(
            seq=seq, level="document", category="one_time" if is_charge else "discount",
            description=reason or ("charge" if is_charge else "allowance"),
            amount=value if is_charge else -value,
            tax_category=_text(ac, "cac:TaxCategory/cbc:ID") or "",
            tax_rate=_text(ac, "cac:TaxCategory/cbc:Percent") or ""))
    for tt in root.findall("cac:TaxTotal", NS):
        for n, sub in enumerate(tt.findall("cac:TaxSubtotal", NS), 1):
            at = f"{where}: TaxSubtotal #{n}"
            inv.taxes.append(TaxSubtotal(
                category=_text(sub, "cac:TaxCategory/cbc:ID") or "",
                rate=_text(sub, "cac:TaxCategory/cbc:Percent") or "",
                base=amount(_text(sub, "cbc:TaxableAmount"), at, "TaxableAmount"),
                amount=amount(_text(sub, "cbc:TaxAmount"), at, "TaxAmount"),
                exemption=first([_text(sub, "cac:TaxCategory/cbc:TaxExemptionReasonCode"),
                                 _text(sub, "cac:TaxCategory/cbc:TaxExemptionReason")])))
    inv.totals = _totals(root, where, currency)
    tax_currency_amounts = {id(tt.find("cbc:TaxAmount", NS)) for tt in root.findall("cac:TaxTotal", NS)}
    for el in root.iter():
        cur = el.get("currencyID")
        if cur is not None and cur != currency and id(el) not in tax_currency_amounts:
            local = el.tag.rsplit("}", 1)[-1]
            inv.format_errors.append(f"{where}: " + _(
                "{local} is in {cur}, not the invoice currency {currency}").format(
                local=local, cur=cur, currency=currency))
            break
    if type_code in CREDIT_TYPE_CODES or credit_root:
        negate(inv)
    return inv


def _totals(root: ET.Element, where: str, currency: str) -> Totals:
    lmt = root.find("cac:LegalMonetaryTotal", NS)
    if lmt is None:
        raise InvoiceError(f"{where}: " + _("cac:LegalMonetaryTotal (the document totals, BG-22) is missing"))
    at = f"{where}: LegalMonetaryTotal"

    def get(name: str) -> int | None:
        return optional_amount(_text(lmt, f"cbc:{name}"), at, name)

    # BT-110 is the TaxTotal in the document currency (a second TaxTotal may be in the tax currency, BT-111)
    tax = None
    for tt in root.findall("cac:TaxTotal", NS):
        el = tt.find("cbc:TaxAmount", NS)
        if el is not None and el.get("currencyID", currency) == currency:
            tax = (tax or 0) + amount(el.text, f"{where}: TaxTotal", "TaxAmount")
    return Totals(lines=get("LineExtensionAmount"), allowances=get("AllowanceTotalAmount"),
                  charges=get("ChargeTotalAmount"), tax_exclusive=get("TaxExclusiveAmount"), tax=tax,
                  tax_inclusive=get("TaxInclusiveAmount"), prepaid=get("PrepaidAmount"),
                  rounding=get("PayableRoundingAmount"), payable=get("PayableAmount"))


def _line(line: ET.Element, at: str, seq: int, qty_tag: str) -> Charge:
    line_id = _text(line, "cbc:ID") or str(seq)
    at = f"{at} (ID {line_id})"
    net = amount(_text(line, "cbc:LineExtensionAmount"), at, "LineExtensionAmount")
    allowances = charges = 0
    for ac in line.findall("cac:AllowanceCharge", NS):
        value = amount(_text(ac, "cbc:Amount"), at, "AllowanceCharge/Amount")
        if _bool(_text(ac, "cbc:ChargeIndicator"), at):
            charges += value
        else:
            allowances += value
    service, scheme = "", ""
    for ref in line.findall("cac:DocumentReference", NS):
        if (_text(ref, "cbc:DocumentTypeCode") or "130") == "130":
            el = ref.find("cbc:ID", NS)
            if el is not None and el.text and el.text.strip():
                service, scheme = el.text.strip(), el.get("schemeID", "")
                break
    name = first([_text(line, "cac:Item/cbc:Name"), _text(line, "cac:Item/cbc:Description")])
    p_start = iso_date(_text(line, "cac:InvoicePeriod/cbc:StartDate"), at, "InvoicePeriod/StartDate")
    p_end = iso_date(_text(line, "cac:InvoicePeriod/cbc:EndDate"), at, "InvoicePeriod/EndDate")
    text = " ".join(filter(None, [name, _text(line, "cac:Item/cbc:Description"), _text(line, "cbc:Note")]))
    qty_el = line.find(qty_tag, NS)
    unit = (qty_el.get("unitCode", "") if qty_el is not None else "").strip()
    classes = [el.text.strip() for el in line.findall("cac:Item/cac:CommodityClassification/cbc:ItemClassificationCode",
                                                      NS) if el.text and el.text.strip()]
    return Charge(
        seq=seq, line_id=line_id, level="line", unit=unit,
        category=categorise(text, has_period=bool(p_start or p_end), amount_value=net, unit=unit,
                            classifications=classes),
        service=service.lstrip("+") if service_kind(service, scheme) == "phone" else service,
        service_kind=service_kind(service, scheme), description=name,
        period_start=p_start, period_end=p_end,
        quantity=optional_amount(_text(line, qty_tag), at, qty_tag.split(":")[1]),
        base_quantity=optional_amount(_text(line, "cac:Price/cbc:BaseQuantity"), at, "Price/BaseQuantity"),
        unit_price=optional_amount(_text(line, "cac:Price/cbc:PriceAmount"), at, "Price/PriceAmount"),
        allowances=allowances, charges=charges, amount=net,
        tax_category=_text(line, "cac:Item/cac:ClassifiedTaxCategory/cbc:ID") or "",
        tax_rate=_text(line, "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent") or "")
