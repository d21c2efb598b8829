"""CDR parsers, one module per PBX format, and the detection that picks one from a file's first bytes."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any, BinaryIO

from i18n import _
from ingest.cdr.model import CallRecord, Item, ParseContext, Reject, Skipped, dated, lines

# --format name -> module in this package (each defines NAME, sniff(head) and parse(stream, ctx))
MODULES = {
    "asterisk": "asterisk",  # cdr_csv Master.csv, 16/17/18/21 columns
    "asterisk-custom": "asterisk_custom",  # cdr_custom with a template (profile) or the stock 19 columns
    "freeswitch": "freeswitch_csv",  # mod_cdr_csv, "example" template or a profile
    "freeswitch-json": "freeswitch_json",  # mod_json_cdr, one document per leg
    "cucm": "cucm",  # Cisco Unified CM flat files, by header name
    "avaya-ipo": "avaya_ipo",  # IP Office SMDR
    "mitel": "mitel",  # MiVoice Business SMDR
    "panasonic": "panasonic",  # KX-TDA/TDE/NS printer-style SMDR
    "3cx": "threecx",  # 3CX CSV
    "csv": "generic_csv",  # any CSV, through a [csv.<profile>] mapping in anatole.toml ("csv:<profile>")
}
SNIFF_BYTES = 64 * 1024


class UnknownFormat(ValueError):
    pass


def parser(name: str) -> Any:
    """The module for a --format name ("csv:<profile>" uses the generic CSV parser), its `parse` giving every
    CallRecord through model.dated (a start outside 1970..2099 becomes a Reject)."""
    key = name.split(":", 1)[0]
    if key not in MODULES:
        raise UnknownFormat(_(
            "unknown format {name} (known: {names}, csv:<profile>)").format(
            name=repr(name), names=', '.join(sorted(MODULES))))
    return _Dated(importlib.import_module(f"ingest.cdr.{MODULES[key]}"))


class _Dated:
    """A format module whose parse checks the dates of what it gives; every other name is the module's."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self.module, name)

    def parse(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[Item]:
        return map(dated, self.module.parse(stream, ctx))


def detect(head: bytes) -> tuple[str, int]:
    """The most likely format of a file starting with `head`, and the score (0..100) it gave itself."""
    best, score = "", 0
    for name in MODULES:
        if name == "csv":
            continue  # the generic parser needs a profile: never guessed
        try:
            s = parser(name).sniff(head)
        except Exception:  # a sniffer must never stop detection; its format is simply not chosen
            s = 0
        if s > score:
            best, score = name, s
    if score < 30:
        raise UnknownFormat(_("cannot tell the format from the content: give --format"))
    return best, score


__all__ = ["MODULES", "CallRecord", "Item", "ParseContext", "Reject", "Skipped", "UnknownFormat", "detect", "lines",
           "parser"]
