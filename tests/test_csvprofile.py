"""The one profile CSV header reader (ingest.csvprofile) behind [invoice_csv] and [mobile_csv]: the same detection
and the same errors, each naming the file, the line, the column and the profile's section."""

from __future__ import annotations

import pytest

from ingest.invoice import csv_detail
from ingest.invoice.model import InvoiceError
from ingest.usage import csv_profile
from ingest.usage.model import UsageError

INVOICE = {"carrier": "Acme", "currency": "EUR", "amount": "Amount", "service": "Line", "delimiter": ";",
           "skip_lines": 1}
USAGE = {"carrier": "Acme", "currency": "EUR", "line": "Line", "kind": "Type", "start": "Date", "volume": "Volume",
         "amount": "Amount", "start_format": "%Y-%m-%d %H:%M:%S", "delimiter": ";", "skip_lines": 1}


def _parsers():
    return [(lambda data: csv_detail.parse(data, "f.csv", "acme", INVOICE, "f"), InvoiceError, "invoice_csv.acme",
             INVOICE, csv_detail.header_matches),
            (lambda data: csv_profile.parse(data, "f.csv", "acme", USAGE), UsageError, "mobile_csv.acme", USAGE,
             csv_profile.header_matches)]


@pytest.mark.parametrize("n", [0, 1])
def test_same_detection_and_errors(n: int) -> None:
    parse, error, section, profile, matches = _parsers()[n]
    good = "\ufeffTitle line\nLine;Type;Date;Volume;Amount\n".encode()
    assert matches(good, profile)
    assert not matches(b"Title line\nLine;Type\n", profile)
    assert not matches(b"", profile)
    with pytest.raises(error, match=rf"f.csv: not utf-8 text \(byte 0\); set encoding in \[{section}\]"):
        parse(b"\xff\xfe;;")
    with pytest.raises(error, match="f.csv: empty file"):
        parse(b"Title line\n")
    with pytest.raises(error, match=r"f.csv: line 2: column '\w+' \(for \w+\) is not in the "
                                    r"header \(Line, Type\)"):
        parse(b"Title line\nLine;Type\n")


def test_shared_settings_checked_alike() -> None:
    bad = {"delimiter": "::", "decimal": ";", "sign": "flip", "duration_format": "fortnights", "skip_lines": -1,
           "encoding": "klingon", "timezone": "Mars/Olympus", "currency": "euro", "colour": "blue"}
    invoice = csv_detail.validate_profile({**INVOICE, **bad}, "x")
    usage = csv_profile.validate_profile({**USAGE, **bad}, "x")
    for key in ("delimiter", "decimal", "sign", "duration_format", "skip_lines", "encoding", "timezone", "currency",
                "colour"):
        assert [p for p in invoice if p.startswith(f"x: {key}:")][0].split(" (expected")[0] == \
            [p for p in usage if p.startswith(f"x: {key}:")][0].split(" (expected")[0], key
