"""Mobile usage detail: the per-SIM records (voice, SMS, MMS, data) carriers send with or beside the invoice.

Pure parsers, bytes -> canonical `UsageRecord`s plus `UsageReject`s with their reasons (no I/O, no database):
`csv_profile` reads carrier CSV files through an `[mobile_csv.NAME]` profile of anatole.toml; `from_invoice` takes
the usage lines an EN 16931 invoice (UBL, CII, CSV detail) already carries when they name a line.
"""

from ingest.usage.model import KINDS, ZONES, UsageBatch, UsageError, UsageRecord, UsageReject

__all__ = ["KINDS", "ZONES", "UsageBatch", "UsageError", "UsageRecord", "UsageReject"]
