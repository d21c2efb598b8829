"""The canonical mobile usage record.

Volumes are exact integers in the kind's own unit: seconds (voice), messages (sms, mms), bytes (data). Money is an
int in units of 10**-8 (engine.money.SCALE), parsed from decimal strings, never via a float. `start` is UTC epoch
seconds; `day` the local date (the carrier's time zone) that decides the month a record belongs to.
"""

from __future__ import annotations

import msgspec

KINDS = ("voice", "sms", "mms", "data")
ZONES = ("home", "eu", "world")  # home network, EU/EEA roaming ("roam like at home"), rest of the world
UNITS = {"voice": "seconds", "sms": "messages", "mms": "messages", "data": "bytes"}


class UsageError(Exception):
    """A file that cannot be read at all (encoding, header, profile): the message names the file and what."""


class UsageRecord(msgspec.Struct, kw_only=True):
    line: str  # the MSISDN as E.164 digits, or the ICCID when the file gives only the SIM
    iccid: str = ""
    kind: str  # one of KINDS
    destination: str = ""  # the number called / messaged (digits), or the APN of a data session
    volume: int  # seconds, messages or bytes (see UNITS)
    zone: str = "home"  # one of ZONES
    start: int  # UTC epoch seconds
    day: str  # local date, YYYY-MM-DD
    amount: int = 0  # billed amount, 10**-8 units (0: included in the plan)
    currency: str
    carrier: str
    account: str = ""
    invoice: str = ""
    plan: str = ""  # the line's plan as the file names it, when it does
    src_line: int = 0  # line number in the file (1-based), for the record's provenance


class UsageReject(msgspec.Struct, kw_only=True):
    line: int  # line number in the file
    field: str  # the column (or key) at fault
    reason: str
    raw: str = ""


class UsageBatch(msgspec.Struct, kw_only=True):
    """What one file gave: every data row is a record or a reject (read = records + rejects)."""

    records: list[UsageRecord] = msgspec.field(default_factory=list)
    rejects: list[UsageReject] = msgspec.field(default_factory=list)
    read: int = 0
    carrier: str = ""
    format: str = ""
    notes: list[str] = msgspec.field(default_factory=list)
