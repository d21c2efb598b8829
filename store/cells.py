"""One neutraliser for every spreadsheet cell (CSV or XLSX) whose text came from outside: call records, carrier
invoices, reports, GL lines, exports.

A cell starting with = + - @ (or a tab, carriage return or line feed, which some spreadsheets skip before reading a
formula) would be run as a formula when the file is opened: it gets a leading apostrophe, so it shows as the text it is.
A carriage return inside a cell is made a line feed first: Python's csv module (lineterminator "\n") does not quote a
bare CR, which spreadsheets read as a row break - the next "row" would start with the attacker's formula. A line feed
makes the writer quote the cell; XLSX shows it as a line break.
A plain decimal number, negative or not ("-12.50"), is left alone: it cannot be a formula, and amounts must stay
numbers with their sign. "+33612345678" is neutralised: the apostrophe keeps its "+" on screen. Numeric columns we
format ourselves need no neutralising, but passing them through does no harm. Lives in `store` so that every package
(tem, tui, anatole) can use it.
"""

from __future__ import annotations

import re
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def neutralise(value: Any) -> Any:
    """`value` safe to write as a spreadsheet cell: None -> "", formula-looking text -> "'" + text, else as is."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return value
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    if value[:1] in FORMULA_TRIGGERS and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value
