"""The usage an EN 16931 invoice (UBL, CII, Factur-X) or a carrier CSV invoice already carries.

A usage line (category "usage") that names its line (BT-128 invoiced object: an MSISDN or an ICCID) is a summary
record of that line's usage for the line's (else the invoice's) period: its quantity and unit (UN/ECE Rec 20) give
the kind and volume, its wording the zone. The record is dated at 00:00 UTC on the first day of the period. A usage
line on a line whose unit tells no kind (C62 without SMS/MMS wording, a missing quantity) is rejected with the
reason; lines that name no line are not usage detail and are not read.
"""

from __future__ import annotations

import datetime as dt
import re

from engine.money import SCALE, divide_round
from i18n import _
from ingest.invoice.model import Invoice
from ingest.usage.model import UsageBatch, UsageRecord, UsageReject

SECONDS = {"SEC": 1, "MIN": 60, "HUR": 3600}
BYTES = {"AD": 1, "2P": 1000, "4L": 10**6, "E34": 10**9, "E35": 10**12}
_WORLD = re.compile(r"\b(world|monde|international roaming|hors (ue|europe)|zone ?[2-9]|rest of world)\b", re.I)
_EU = re.compile(r"\b(roaming|itin[ée]rance|ue|eu|europe|eea|eee)\b", re.I)
_MMS = re.compile(r"\bmms\b", re.I)
_SMS = re.compile(r"\b(sms|texts?|messages?)\b", re.I)


def zone_of(text: str) -> str:
    """home, eu or world from a line's wording (roaming words without a world word mean EU roaming)."""
    if _WORLD.search(text):
        return "world"
    if _EU.search(text):
        return "eu"
    return "home"


def from_invoice(inv: Invoice, where: str) -> UsageBatch:
    """The usage records of an invoice's usage lines that name a line."""
    batch = UsageBatch(carrier=inv.carrier, format=f"invoice:{inv.format}")
    for c in inv.charges:
        if c.category != "usage" or c.service_kind not in ("phone", "sim") or not c.service:
            continue
        batch.read += 1
        at = f"{where}: " + _("line {line}").format(line=c.line_id or c.seq)
        unit = c.unit.upper()
        text = c.description
        kind, volume = "", 0
        if c.quantity is None or c.quantity < 0:
            batch.rejects.append(UsageReject(line=c.seq, field="quantity", raw=text,
                                             reason=f"{at}: quantity: " + _(
                                                 "a usage line needs a positive quantity")))
            continue
        if unit in SECONDS:
            kind, volume = "voice", divide_round(c.quantity * SECONDS[unit], SCALE, "up")
        elif unit in BYTES:
            kind, volume = "data", divide_round(c.quantity * BYTES[unit], SCALE, "up")
        elif _MMS.search(text) or _SMS.search(text):
            kind = "mms" if _MMS.search(text) else "sms"
            volume = divide_round(c.quantity, SCALE, "up")
        else:
            batch.rejects.append(UsageReject(
                line=c.seq, field="unitCode", raw=text,
                reason=f"{at}: unitCode: " + _(
                    "{unit} with {text} tells no usage kind (voice: MIN/SEC/HUR; data: AD/2P/4L/E34/E35; SMS/MMS "
                    "named in the item)").format(unit=repr(c.unit or "(none)"), text=repr(text))))
            continue
        day = c.period_start or inv.period_start or inv.issue_date or "1970-01-01"
        start = int(dt.datetime.fromisoformat(day).replace(tzinfo=dt.timezone.utc).timestamp())
        batch.records.append(UsageRecord(
            line=c.service, iccid=c.service if c.service_kind == "sim" else "", kind=kind, volume=volume,
            zone=zone_of(text), start=start, day=day, amount=c.amount, currency=inv.currency, carrier=inv.carrier,
            account=inv.account, invoice=inv.number, src_line=c.seq))
    return batch
