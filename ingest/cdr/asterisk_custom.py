"""Asterisk cdr_custom: CSV whose columns come from the site's cdr_custom.conf template.

Without a profile the stock 19-column sample template is assumed; a site with its own template passes the field
names in order as ctx.profile["columns"] (plain names such as "clid", or as written in the template, such as
"${CDR(start)}"; unknown names are carried but ignored). The fields mean what they mean in cdr_csv, so the record
is built by the cdr_csv code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from i18n import _
from ingest.cdr.asterisk import (
    AMAFLAGS,
    DISPOSITIONS,
    FIELDS,
    CsvError,
    build_record,
    is_date,
    is_header,
    parse_template,
    score,
    split_csv,
    template_spec,
)
from ingest.cdr.model import Item, ParseContext, head_lines

NAME = "asterisk-custom"

STOCK = ["clid", "src", "dst", "dcontext", "channel", "dstchannel", "lastapp", "lastdata", "start", "answer", "end",
         "duration", "billsec", "disposition", "amaflags", "accountcode", "uniqueid", "userfield", "sequence"]

_TEMPLATE_NAME = re.compile(r"^\$?\{?\s*(?:CDR\()?\s*([A-Za-z_]+)\s*(?:,[^)]*)?\)?\s*\}?$")


def columns(profile: dict[str, Any]) -> list[str]:
    """The template's field names, normalised (`${CDR(start,u)}` -> `start`); raises ValueError when unusable."""
    spec = template_spec(profile, _("Asterisk CDR field names"))
    if spec is None:
        return STOCK
    out = []
    for i, s in enumerate(spec):
        m = _TEMPLATE_NAME.match(s.strip())
        name = m.group(1).lower() if m else ""
        out.append(name if name in FIELDS else f"_{i}")  # unknown: carried, not interpreted
    if "start" not in out:
        raise ValueError("profile: " + _("'columns' has no start field"))
    return out


def parse(stream: BinaryIO, ctx: ParseContext) -> Iterator[Item]:
    """Each line of a cdr_custom file: a CallRecord, a Reject with its reason, or Skipped (blank, header)."""

    def record(fields: dict[str, str], number: int, text: str) -> Item:
        known = {name: value for name, value in fields.items() if not name.startswith("_")}
        return build_record(known, number, text, ctx, allow_epoch=True)

    yield from parse_template(stream, ctx, columns, FIELDS, record)


def stock_shape(cells: list[tuple[str, bool]]) -> bool:
    """The stock sample: 19 columns, clid first, dates at 9-11, quoted numbers, amaflags at 15, bare sequence."""
    if len(cells) != 19:
        return False
    v = [c for c, _unused in cells]
    if not (is_date(v[8]) and (v[9] == "" or is_date(v[9])) and is_date(v[10])):
        return False
    if not (v[11].isdigit() and v[12].isdigit()) or v[13].upper() not in DISPOSITIONS or v[13].isdigit():
        return False
    return v[14] in AMAFLAGS and v[18].isdigit() and not cells[18][1]


def template_shape(cells: list[tuple[str, bool]]) -> bool:
    """Some custom template: an Asterisk date, a disposition word and an amaflags word somewhere."""
    v = [c for c, _unused in cells]
    return (any(is_date(x) for x in v) and any(x in DISPOSITIONS and not x.isdigit() for x in v)
            and any(x in AMAFLAGS for x in v))


def sniff(head: bytes) -> int:
    """The stock 19-column shape scores high; another template with Asterisk words scores 50 (a profile is
    needed anyway); anything else 0."""
    try:
        stock = other = considered = 0
        for text in head_lines(head):
            try:
                cells = split_csv(text)
            except CsvError:
                considered += 1
                continue
            if is_header([v for v, _unused in cells], FIELDS):
                continue
            considered += 1
            if stock_shape(cells):
                stock += 1
            elif template_shape(cells):
                other += 1
        if stock:
            return score(stock, considered)
        return min(50, score(other, considered))
    except Exception:  # sniffing garbage answers 0, never raises
        return 0
