"""The header of a CSV file read through a column-mapping profile: one reader for `[invoice_csv.NAME]`
(ingest.invoice.csv_detail) and `[mobile_csv.NAME]` (ingest.usage.csv_profile) profiles.

A profile names the file's columns (`amount = "Montant HT"`), its `encoding` (default utf-8, a BOM is dropped),
`delimiter` (default ",") and `skip_lines` before the header row. Each importer keeps its own keys, checks and row
reading; what is the same for both is here: detecting a file by its header, and opening it on its first data row
with every mapped column found (or an error naming the line and the column).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any


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
        raise error(f"{where}: not {encoding} text (byte {exc.start}); set encoding in [{section}]") from None
    skip = int(profile.get("skip_lines", 0))
    reader = csv.reader(io.StringIO(text), delimiter=profile.get("delimiter", ","))
    try:
        for _ in range(skip):
            next(reader)
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise error(f"{where}: empty file (no header row)") from None
    except csv.Error as exc:
        raise error(f"{where}: line {reader.line_num}: {exc}") from None
    cols: dict[str, int] = {}
    for key in column_keys:
        if key in profile:
            if profile[key] not in header:
                raise error(f"{where}: line {skip + 1}: column {profile[key]!r} (for {key}) is not in the header "
                            f"({', '.join(header)})")
            cols[key] = header.index(profile[key])
    return reader, header, cols
