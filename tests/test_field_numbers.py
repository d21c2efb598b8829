"""Numbers from the field (issue 14): impossible numbers are `invalid` and never priced, the number as sent wins
only when it is a possible number, short and emergency numbers stay services and emergencies. The dial plan
(ingest.dialplan) and the call's classification (pipeline.cdrimport.classify) on the cases that real files showed,
then an Asterisk file with them through every import path.

Site Paris: FR, outside line 0, national prefix 0, international 00, extensions 1000-1999 (tests/field_support.py:
+33 at 0.20 per started minute, +44 0.10, +447 0.30)."""

from __future__ import annotations

from pathlib import Path

import pytest
from field_support import every_path, make_workspace, money

from anatole.config import open_workspace
from ingest.cdr import CallRecord
from pipeline.cdrimport import classify


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("field-numbers"))


def classified(workspace: Path, site: str, dialled: str, called: str = "", direction: str = "outgoing"
               ) -> tuple[str, str, str | None]:
    ws = open_workspace(workspace)
    s = ws.sites[site]
    src = next(iter(ws.sources.values()))  # strip_outside_prefix unset: the dial plan's defaults
    rec = CallRecord(line=1, native_id="1", start=1775034000, direction=direction, extension="1001" if site !=
                     "london" else "201", caller="1001", dialled=dialled, called=called)
    d, n = classify(s, src, rec)
    return d, n.kind, n.e164


@pytest.mark.parametrize(("site", "dialled", "called", "kind", "e164"), [
    # the number as sent keeps the outside-line 0 (the Dial string is ${EXTEN}): +0447... is impossible, so the
    # dialled digits decide: outside line 0, then 00 44 7911 123456
    ("paris", "000447911123456", "000447911123456", "external", "447911123456"),
    ("paris", "000447911123456", "", "external", "447911123456"),
    # 0 (outside line) then 01 55 66 77 88: +1 55667788 is too short for North America, so not that
    ("paris", "00155667788", "00155667788", "external", "33155667788"),
    ("paris", "00155667788", "0155667788", "external", "33155667788"),  # the Dial string stripped the 0: agrees
    # the number as sent wins when it is possible (digit manipulation on the way out)
    ("paris", "01234", "0155667788", "external", "33155667788"),
    # impossible numbers: invalid, whatever was sent
    ("paris", "0608966", "", "invalid", None),  # 6 digits in France
    ("paris", "608966", "608966", "invalid", None),
    ("london", "901", "01", "invalid", None),  # IP Office: 9, then 01, and the user hung up
    ("london", "9608966", "608966", "invalid", None),
    # short numbers and emergency numbers keep their kind
    ("paris", "03631", "", "service", None),
    ("paris", "0118218", "118218", "service", None),
    ("london", "9118118", "118118", "service", None),
    ("paris", "015", "15", "emergency", None),
    ("paris", "0112", "112", "emergency", None),
    ("london", "9999", "999", "emergency", None),
    ("sanjose", "9911", "911", "emergency", None),
])
def test_the_number_that_is_priced(workspace: Path, site: str, dialled: str, called: str, kind: str,
                                   e164: str | None) -> None:
    assert classified(workspace, site, dialled, called)[1:] == (kind, e164)


def test_an_extension_range_does_not_hide_an_emergency_number(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    text = (root / "anatole.toml").read_text().replace('extensions = ["200-299"]', 'extensions = ["100-999"]')
    (root / "anatole.toml").write_text(text)
    assert classified(root, "london", "999")[1:] == ("emergency", None)
    assert classified(root, "london", "250")[:2] == ("internal", "internal")


def quoted(*cells: str) -> str:
    return ",".join('"' + c.replace('"', '""') + '"' for c in cells)


def row(dst: str, dial: str, seconds: int, unique: str) -> str:
    """An answered Asterisk cdr_csv call from extension 1001 on a plain dialplan (context `default`)."""
    start, answer, end = "2026-04-01 10:00:00", "2026-04-01 10:00:05", f"2026-04-01 10:{(5 + seconds) // 60:02d}:" \
        f"{(5 + seconds) % 60:02d}"
    return (quoted("", "1001", dst, "default", '"Alice" <1001>', "PJSIP/1001-00000001",
                   "PJSIP/trunk-00000002", "Dial", f"PJSIP/{dial}@trunk,60", start, answer, end)
            + f",{seconds + 5},{seconds}," + quoted("ANSWERED", "DOCUMENTATION", unique, ""))


def test_an_asterisk_file_with_these_numbers_through_every_path(workspace: Path) -> None:
    lines = [
        row("000447911123456", "000447911123456", 61, "1.1"),  # 2 min to a UK mobile: 0.60
        row("00155667788", "00155667788", 30, "1.2"),  # 1 min to Paris: 0.20
        row("0608966", "608966", 20, "1.3"),  # impossible: not priced
        row("03631", "3631", 40, "1.4"),  # a short service number
    ]
    path = workspace / "Master.csv"
    path.write_text("\n".join(lines) + "\n")
    rows = every_path(workspace, path, "asterisk", "paris")
    got = {line: r[3:] for line, r in rows.items()}
    assert got == {1: ("447911123456", "rated", money("0.60")), 2: ("33155667788", "rated", money("0.20")),
                   3: (None, "invalid", None), 4: (None, "service", None)}
    assert {r[2] for r in rows.values()} == {"outgoing"} and {r[1] for r in rows.values()} == {"1001"}
