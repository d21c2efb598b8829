"""UN/CEFACT Cross Industry Invoice D16B (EN 16931 CII, Factur-X / ZUGFeRD 2.x, XRechnung, French CTC).

One root, `rsm:CrossIndustryInvoice`, for invoices and credit notes alike: the type code decides (381 and the other
credit codes are negated here). The profile is the guideline id (BT-24). MINIMUM and BASIC WL carry no lines.
French sub-lines (`LineStatusReasonCode` DETAIL/GROUP/INFORMATION) are kept with their code so that validation sums
only DETAIL lines and plain lines. ZUGFeRD 1.0 (`CrossIndustryDocument`) is a different schema and is refused by
detection, not here.
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

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
NS = {"rsm": RSM, "ram": RAM, "udt": UDT}
ROOT = f"{{{RSM}}}CrossIndustryInvoice"


def _text(el: ET.Element | None, path: str) -> str | None:
    if el is None:
        return None
    found = el.find(path, NS)
    return found.text.strip() if found is not None and found.text is not None else None


def _date(el: ET.Element | None, path: str, where: str) -> str | None:
    if el is None:
        return None
    found = el.find(path + "/udt:DateTimeString", NS)
    if found is None:
        return None
    return iso_date(found.text, where, path.rsplit("/", 1)[-1], found.get("format", "102"))


def _indicator(ac: ET.Element, where: str) -> bool:
    text = (_text(ac, "ram:ChargeIndicator/udt:Indicator") or "").lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise InvoiceError(f"{where}: " + _(
        "ChargeIndicator/Indicator: {text} is not true or false").format(text=repr(text)))


def _party(p: ET.Element | None) -> Party:
    if p is None:
        return Party()
    return Party(name=_text(p, "ram:Name") or "",
                 id=first([_text(p, "ram:ID"), _text(p, "ram:GlobalID"),
                           _text(p, "ram:SpecifiedLegalOrganization/ram:ID")]),
                 vat=first(_text(t, "ram:ID") for t in p.findall("ram:SpecifiedTaxRegistration", NS)
                           if t.find("ram:ID", NS) is not None and t.find("ram:ID", NS).get("schemeID") == "VA"),
                 address=p.find("ram:PostalTradeAddress", NS) is not None,
                 country=_text(p, "ram:PostalTradeAddress/ram:CountryID") or "")


def parse(root: ET.Element, where: str, fmt: str = "cii") -> Invoice:
    """An Invoice from a parsed CII root."""
    doc = root.find("rsm:ExchangedDocument", NS)
    trans = root.find("rsm:SupplyChainTradeTransaction", NS)
    if doc is None or trans is None:
        raise InvoiceError(f"{where}: " + _("rsm:ExchangedDocument or rsm:SupplyChainTradeTransaction is missing"))
    number = _text(doc, "ram:ID")
    if not number:
        raise InvoiceError(f"{where}: " + _("ExchangedDocument/ID (the invoice number, BT-1) is missing"))
    agreement = trans.find("ram:ApplicableHeaderTradeAgreement", NS)
    settlement = trans.find("ram:ApplicableHeaderTradeSettlement", NS)
    if settlement is None:
        raise InvoiceError(f"{where}: " + _("ram:ApplicableHeaderTradeSettlement is missing"))
    currency = _text(settlement, "ram:InvoiceCurrencyCode")
    if not currency:
        raise InvoiceError(f"{where}: " + _("InvoiceCurrencyCode (BT-5) is missing"))
    type_code = _text(doc, "ram:TypeCode") or "380"
    buyer_el = agreement.find("ram:BuyerTradeParty", NS) if agreement is not None else None
    buyer = _party(buyer_el)
    inv = Invoice(
        format=fmt,
        profile=_text(root, "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID")
        or "",
        number=number, type_code=type_code, kind=document_kind(type_code),
        issue_date=_date(doc, "ram:IssueDateTime", where),
        due_date=_date(settlement, "ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime", where),
        period_start=_date(settlement, "ram:BillingSpecifiedPeriod/ram:StartDateTime", where),
        period_end=_date(settlement, "ram:BillingSpecifiedPeriod/ram:EndDateTime", where),
        currency=currency,
        seller=_party(agreement.find("ram:SellerTradeParty", NS) if agreement is not None else None),
        buyer=buyer,
        account=first([_text(buyer_el, "ram:ID"), _text(agreement, "ram:BuyerReference"), buyer.id, buyer.vat,
                       buyer.name]),
        references=[r for r in (_text(d, "ram:IssuerAssignedID")
                                for d in settlement.findall("ram:InvoiceReferencedDocument", NS)) if r],
    )
    seq = 0
    for n, item in enumerate(trans.findall("ram:IncludedSupplyChainTradeLineItem", NS), 1):
        seq += 1
        inv.charges.append(_line(item, f"{where}: " + _("line item #{number}").format(number=n), seq))
    for n, ac in enumerate(settlement.findall("ram:SpecifiedTradeAllowanceCharge", NS), 1):
        at = f"{where}: " + _("document allowance/charge #{number}").format(number=n)
        is_charge = _indicator(ac, at)
        value = amount(_text(ac, "ram:ActualAmount"), at, "ActualAmount")
        seq += 1
        inv.charges.append(Charge(
            seq=seq, level="document", category="one_time" if is_charge else "discount",
            description=first([_text(ac, "ram:Reason"), _text(ac, "ram:ReasonCode"),
                               "charge" if is_charge else "allowance"]),
            amount=value if is_charge else -value,
            tax_category=_text(ac, "ram:CategoryTradeTax/ram:CategoryCode") or "",
            tax_rate=_text(ac, "ram:CategoryTradeTax/ram:RateApplicablePercent") or ""))
    for n, lc in enumerate(settlement.findall("ram:SpecifiedLogisticsServiceCharge", NS), 1):  # EXTENDED only
        seq += 1
        inv.charges.append(Charge(
            seq=seq, level="document", category="one_time", description=_text(lc, "ram:Description") or "logistics",
            amount=amount(_text(lc, "ram:AppliedAmount"), f"{where}: " + _(
                "logistics charge #{number}").format(number=n), "AppliedAmount"),
            tax_category=_text(lc, "ram:AppliedTradeTax/ram:CategoryCode") or "",
            tax_rate=_text(lc, "ram:AppliedTradeTax/ram:RateApplicablePercent") or ""))
    for n, tax in enumerate(settlement.findall("ram:ApplicableTradeTax", NS), 1):
        at = f"{where}: ApplicableTradeTax #{n}"
        inv.taxes.append(TaxSubtotal(
            category=_text(tax, "ram:CategoryCode") or "", rate=_text(tax, "ram:RateApplicablePercent") or "",
            base=amount(_text(tax, "ram:BasisAmount"), at, "BasisAmount"),
            amount=amount(_text(tax, "ram:CalculatedAmount"), at, "CalculatedAmount"),
            exemption=first([_text(tax, "ram:ExemptionReasonCode"), _text(tax, "ram:ExemptionReason")])))
    inv.totals = _totals(settlement, where, currency)
    if type_code in CREDIT_TYPE_CODES:
        negate(inv)
    return inv


def _totals(settlement: ET.Element, where: str, currency: str) -> Totals:
    s = settlement.find("ram:SpecifiedTradeSettlementHeaderMonetarySummation", NS)
    if s is None:
        raise InvoiceError(f"{where}: " + _(
            "SpecifiedTradeSettlementHeaderMonetarySummation (the totals, BG-22) is missing"))
    at = f"{where}: MonetarySummation"

    def get(name: str) -> int | None:
        return optional_amount(_text(s, f"ram:{name}"), at, name)

    tax = None
    for el in s.findall("ram:TaxTotalAmount", NS):  # BT-110 in the invoice currency; BT-111 in the tax currency
        if el.get("currencyID", currency) == currency:
            tax = (tax or 0) + amount(el.text, at, "TaxTotalAmount")
    return Totals(lines=get("LineTotalAmount"), allowances=get("AllowanceTotalAmount"),
                  charges=get("ChargeTotalAmount"), tax_exclusive=get("TaxBasisTotalAmount"), tax=tax,
                  tax_inclusive=get("GrandTotalAmount"), prepaid=get("TotalPrepaidAmount"),
                  rounding=get("RoundingAmount"), payable=get("DuePayableAmount"))


def _line(item: ET.Element, at: str, seq: int) -> Charge:
    line_id = _text(item, "ram:AssociatedDocumentLineDocument/ram:LineID") or str(seq)
    at = f"{at} (LineID {line_id})"
    st = item.find("ram:SpecifiedLineTradeSettlement", NS)
    if st is None:
        raise InvoiceError(f"{at}: " + _("SpecifiedLineTradeSettlement is missing"))
    net = amount(_text(st, "ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount"), at,
                 "LineTotalAmount")
    allowances = charges = 0
    for ac in st.findall("ram:SpecifiedTradeAllowanceCharge", NS):
        value = amount(_text(ac, "ram:ActualAmount"), at, "allowance/charge ActualAmount")
        if _indicator(ac, at):
            charges += value
        else:
            allowances += value
    service, scheme = "", ""
    for ref in st.findall("ram:AdditionalReferencedDocument", NS):
        if (_text(ref, "ram:TypeCode") or "") == "130" and _text(ref, "ram:IssuerAssignedID"):
            service, scheme = _text(ref, "ram:IssuerAssignedID") or "", _text(ref, "ram:ReferenceTypeCode") or ""
            break
    name = first([_text(item, "ram:SpecifiedTradeProduct/ram:Name"),
                  _text(item, "ram:SpecifiedTradeProduct/ram:Description")])
    text = " ".join(filter(None, [name, _text(item, "ram:SpecifiedTradeProduct/ram:Description")]))
    p_start = _date(st, "ram:BillingSpecifiedPeriod/ram:StartDateTime", at)
    p_end = _date(st, "ram:BillingSpecifiedPeriod/ram:EndDateTime", at)
    agreement = item.find("ram:SpecifiedLineTradeAgreement", NS)
    kind = service_kind(service, scheme)
    qty_el = item.find("ram:SpecifiedLineTradeDelivery/ram:BilledQuantity", NS)
    unit = (qty_el.get("unitCode", "") if qty_el is not None else "").strip()
    classes = [el.text.strip() for el in item.findall(
        "ram:SpecifiedTradeProduct/ram:DesignatedProductClassification/ram:ClassCode", NS)
        if el.text and el.text.strip()]
    return Charge(
        seq=seq, line_id=line_id, level="line", unit=unit,
        category=categorise(text, has_period=bool(p_start or p_end), amount_value=net, unit=unit,
                            classifications=classes),
        service=service.lstrip("+") if kind == "phone" else service, service_kind=kind, description=name,
        period_start=p_start, period_end=p_end,
        quantity=optional_amount(_text(item, "ram:SpecifiedLineTradeDelivery/ram:BilledQuantity"), at,
                                 "BilledQuantity"),
        base_quantity=optional_amount(_text(agreement, "ram:NetPriceProductTradePrice/ram:BasisQuantity"), at,
                                      "NetPriceProductTradePrice/BasisQuantity"),
        unit_price=optional_amount(_text(agreement, "ram:NetPriceProductTradePrice/ram:ChargeAmount"), at,
                                   "NetPriceProductTradePrice/ChargeAmount"),
        allowances=allowances, charges=charges, amount=net,
        tax_category=_text(st, "ram:ApplicableTradeTax/ram:CategoryCode") or "",
        tax_rate=_text(st, "ram:ApplicableTradeTax/ram:RateApplicablePercent") or "",
        status_code=(_text(item, "ram:AssociatedDocumentLineDocument/ram:LineStatusReasonCode") or "").upper())
