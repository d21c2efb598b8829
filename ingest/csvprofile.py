"""The header of a CSV file read through a column-mapping profile: one reader for `[invoice_csv.NAME]`
(ingest.invoice.csv_detail) and `[mobile_csv.NAME]` (ingest.usage.csv_profile) profiles.

A profile names the file's columns (`amount = "Montant HT"`), its `encoding` (default utf-8, a BOM is dropped),
`delimiter` (default ",") and `skip_lines` before the header row. Each importer keeps its own keys, checks and row
reading; what is the same for both is here: the checks of the settings they share, detecting a file by its header,
and opening it on its first data row with every mapped column found (or an error naming the line and the column).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from i18n import _

DURATION_FORMATS = ("seconds", "minutes", "hh:mm:ss")


def check_common(profile: dict[str, Any], where: str, *, keys: Iterable[str], column_keys: Iterable[str],
                 required: Iterable[str]) -> list[str]:
    """The problems of the settings both kinds of profile share, each naming the key: unknown keys, `required`
    non-empty strings, column names, currency, delimiter, decimal, sign, duration_format, skip_lines, encoding and
    timezone (empty if fine). Each importer adds the checks of its own keys."""
    known = set(keys)
    out = [f"{where}: {key}: " + _("unknown key (expected one of: {keys})").format(keys=", ".join(sorted(known)))
           for key in sorted(set(profile) - known)]
    for key in required:
        if not isinstance(profile.get(key), str) or not profile.get(key):
            out.append(f"{where}: {key}: " + _("required (a non-empty string)"))
    for key in column_keys:
        if key in profile and not isinstance(profile[key], str):
            out.append(f"{where}: {key}: " + _(
                "{value} must be a column name (a string)").format(value=repr(profile[key])))
    if isinstance(profile.get("currency"), str) and not re.fullmatch(r"[A-Z]{3}", profile["currency"]):
        out.append(f"{where}: currency: " + _("{value} is not an ISO 4217 code (e.g. EUR)").format(
            value=repr(profile["currency"])))
    delim = profile.get("delimiter", ",")
    if not isinstance(delim, str) or len(delim) != 1 or delim in "\"\r\n":
        out.append(f"{where}: delimiter: " + _(
            "{value} must be one character (e.g. \",\" or \";\")").format(value=repr(delim)))
    if profile.get("decimal", ".") not in (".", ","):
        out.append(f"{where}: decimal: " + _(
            "{value} must be \".\" or \",\"").format(value=repr(profile.get("decimal"))))
    if profile.get("sign", "as_is") not in ("as_is", "negate"):
        out.append(f"{where}: sign: " + _(
            "{value} must be \"as_is\" or \"negate\"").format(value=repr(profile.get("sign"))))
    if profile.get("duration_format", "seconds") not in DURATION_FORMATS:
        out.append(f"{where}: duration_format: " + _("{value} must be one of {values}").format(
            value=repr(profile.get("duration_format")), values=", ".join(DURATION_FORMATS)))
    skip = profile.get("skip_lines", 0)
    if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
        out.append(f"{where}: skip_lines: " + _("{value} must be a whole number >= 0").format(value=repr(skip)))
    if "encoding" in profile:
        try:
            known_encoding = isinstance(profile["encoding"], str) and "".encode(profile["encoding"]) == b""
        except LookupError:
            known_encoding = False
        if not known_encoding:
            out.append(f"{where}: encoding: " + _("{value} is not a known text encoding").format(
                value=repr(profile["encoding"])))
    if "timezone" in profile:
        try:
            ZoneInfo(str(profile["timezone"]))
        except (ZoneInfoNotFoundError, ValueError):
            out.append(f"{where}: timezone: " + _("{value} is not an IANA time zone").format(
                value=repr(profile["timezone"])))
    return out


def header_matches(data: bytes, profile: dict[str, Any], column_keys: Iterable[str]) -> bool:
    """Does the file's header row hold every column the profile names? (content-based detection)"""
    try:
        text = data[:65536].decode(profile.get("encoding", "utf-8"), errors="replace").lstrip("\ufeff")
        lines = text.splitlines()[int(profile.get("skip_lines", 0)):]
        header = next(csv.reader([lines[0]], delimiter=profile.get("delimiter", ","))) if lines else []
    except (csv.Error, LookupError, ValueError, StopIteration):
        return False
    names = {h.strip() for h in header}
    return bool(names) and all(profile[k] in names for k in column_keys if isinstance(profile.get(k), str))


def open_rows(data: bytes, where: str, section: str, profile: dict[str, Any], column_keys: Iterable[str],
              error: type[Exception]) -> tuple[Any, list[str], dict[str, int]]:
    """(csv reader on the first data row, the header's names, the index of each mapped column) of a file read with
    the profile `[section]` (e.g. "mobile_csv.fr-detail"); `error(message)` is raised when the file is not text of
    the profile's encoding, has no header row, or lacks a mapped column."""
    encoding = str(profile.get("encoding", "utf-8"))
    try:
        text = data.decode(encoding).lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise error(f"{where}: " + _("not {encoding} text (byte {byte}); set encoding in [{section}]").format(
            encoding=encoding, byte=exc.start, section=section)) from None
    skip = int(profile.get("skip_lines", 0))
    reader = csv.reader(io.StringIO(text), delimiter=profile.get("delimiter", ","))
    try:
        for _skipped in range(skip):
            next(reader)
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise error(f"{where}: " + _("empty file (no header row)")) from None
    except csv.Error as exc:
        raise error(f"{where}: " + _("line {line}: {error}").format(line=reader.line_num, error=exc)) from None
    cols: dict[str, int] = {}
    for key in column_keys:
        if key in profile:
            if profile[key] not in header:
                raise error(f"{where}: " + _("line {line}: column {column} (for {key}) is not in the header "
                                             "({header})").format(line=skip + 1, column=repr(profile[key]), key=key,
                                                                   header=", ".join(header)))
            cols[key] = header.index(profile[key])
    return reader, header, cols
