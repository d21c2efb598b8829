"""A guest's folio is in the guest's language when the PMS sent one (FIAS GL, kept with the stay), else the
hotel's (the process language): a French guest's folio in French in an English process, and the reverse."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

import i18n
from engine.money import parse_money
from hotel.folio import guest_language, render
from store import hotel as db

ZONE = "Europe/Paris"
CHECKIN = 1_765_000_000  # 2025-12-06 06:46:40 in Paris


def _stay(tmp_path: Path, language: str) -> tuple[dict, list[dict]]:
    """A stay checked in through the store with the PMS's GL value, two priced calls (one posted) and a free one."""
    conn = db.connect(tmp_path / "anatole.db")
    try:
        with db.write(conn):
            stay_id, _ = db.checkin(conn, "214", "880123", "Martin, Alice", CHECKIN, "fias", language=language)
        for call_id, (amount, status, posting) in enumerate(
                [("1234.5", "posted", 42), ("2.10", "queued", None), ("0", "free", None)], start=1):
            db.insert_charge(conn, {"call_id": call_id, "room": "214", "extension": "2214", "stay_id": stay_id,
                                    "reservation": "880123", "guest": "Martin, Alice",
                                    "start": CHECKIN + 3600 * call_id, "duration": 125, "dialled": "0155501234",
                                    "number": "33155501234", "destination": "France", "cost": parse_money("0.5"),
                                    "charge": parse_money(amount), "currency": "EUR", "status": status, "late": 0,
                                    "reason": None, "posting": posting, "created": CHECKIN})
        conn.commit()
        return db.stay(conn, stay_id), db.folio(conn, stay_id)
    finally:
        conn.close()


@pytest.mark.parametrize(("code", "expected"), [("FR", "fr"), ("F", "fr"), ("fra", "fr"), ("fr_FR", "fr"),
                                                ("EA", "en"), ("E", "en"), ("EN", "en"), ("GE", "hotel"),
                                                ("", "hotel"), (None, "hotel")])
def test_fias_gl_values_map_to_our_languages_or_the_hotels(code: str | None, expected: str) -> None:
    assert guest_language(code, "fr") == ("fr" if expected == "hotel" else expected)
    assert guest_language(code, "en") == ("en" if expected == "hotel" else expected)


def test_a_french_guests_folio_is_french_in_an_english_process(tmp_path: Path) -> None:
    assert i18n.current() == "en"
    stay, charges = _stay(tmp_path, "FR")
    folio = render(stay, charges, currency="EUR", zone=ZONE)
    assert folio.language == "fr"
    assert folio.heading == "chambre 214 : Martin, Alice, réservation 880123, depuis le 06/12/2025 06:46 (en chambre)"
    assert folio.columns[:3] == ["début", "numéro", "destination"]
    assert [r[6] for r in folio.rows] == ["transmis", "en attente", "gratuit"]
    assert folio.rows[0][0] == "06/12/2025 07:46" and folio.rows[0][5] == "1\u202f234,50"
    # exact money, the guest's locale: 1 234,50 + 2,10 (the free call is not billed)
    assert folio.total == "total 1\u202f236,60\u00a0€, dont transmis au PMS 1\u202f234,50\u00a0€"


def test_an_english_guests_folio_is_english_in_a_french_process(tmp_path: Path, french: None) -> None:
    stay, charges = _stay(tmp_path, "EA")
    folio = render(stay, charges, currency="EUR", zone=ZONE)
    assert folio.language == "en"
    assert folio.heading == "room 214: Martin, Alice, reservation 880123, from 2025-12-06 06:46 (in the room)"
    assert [r[6] for r in folio.rows] == ["posted", "queued", "free"]
    assert folio.total == "total 1,236.60 EUR, of which posted to the PMS 1,234.50 EUR"


def test_without_gl_the_folio_is_in_the_hotels_language(tmp_path: Path, french: None) -> None:
    stay, charges = _stay(tmp_path, "")
    assert render(stay, charges, currency="EUR", zone=ZONE).language == "fr"
    assert render(stay, charges, currency="EUR", zone=ZONE, hotel_language="en").language == "en"
    assert render(stay, charges, currency="EUR", zone=ZONE, language="en").heading.startswith("room 214:")


def test_a_checked_out_stay_names_both_ends_and_an_empty_folio_totals_zero(tmp_path: Path) -> None:
    conn = db.connect(tmp_path / "anatole.db")
    with db.write(conn):
        db.checkin(conn, "305", "1", "Durand", CHECKIN, "fias", language="F")
        left = db.checkout(conn, "305", CHECKIN + 86_400)
    conn.close()
    folio = render(left, [], currency="EUR", zone=ZONE)
    assert folio.heading == ("chambre 305 : Durand, réservation 1, du 06/12/2025 06:46 au 07/12/2025 06:46")
    assert folio.rows == [] and folio.total == "total 0,00\u00a0€, dont transmis au PMS 0,00\u00a0€"
    assert isinstance(conn, sqlite3.Connection)


def test_the_cli_prints_a_french_guests_folio_in_french_and_keeps_json_machine(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from serve_support import hotel_config, make_workspace

    from anatole.cli import main

    root = make_workspace(tmp_path, extra=hotel_config())
    conn = db.connect(root / "anatole.db")
    with db.write(conn):
        db.checkin(conn, "214", "880123", "Martin, Alice", CHECKIN, "fias", language="FR")
    conn.close()
    result = CliRunner().invoke(main, ["--workspace", str(root), "hotel", "folio", "214"])
    assert result.exit_code == 0, result.output
    assert "chambre 214 : Martin, Alice, réservation 880123, depuis le 06/12/2025" in result.output
    assert "total 0,00\u00a0€, dont transmis au PMS 0,00\u00a0€" in result.output
    result = CliRunner().invoke(main, ["--workspace", str(root), "hotel", "folio", "214", "--json"])
    assert json.loads(result.output)["total"] == "0.00"  # the machine form does not follow the guest
