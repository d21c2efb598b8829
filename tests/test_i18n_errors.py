"""Reject reasons and errors of the lower layers in French (issue 19): the human text follows the language of the
process, the machine code before the first ': ' does not (the import explanation groups rejects by it, the daemon
tests for 'line: '), and English stays exactly as it was."""

from __future__ import annotations

import io

import pytest

from ingest.cdr import asterisk, generic_csv, mitel
from ingest.cdr.model import ParseContext, Reject
from pbx import parsing
from store import invoices as istore
from tariffs.errors import Problem, TariffError

BAD_DATE = (b'"","100","200","default","","SIP/100","","Dial","","2025-13-01 10:00:00","","2025-01-01 10:00:00",'
            b'"5","3","ANSWERED","DOCUMENTATION"\n')


def reasons(data: bytes) -> list[str]:
    return [it.reason for it in asterisk.parse(io.BytesIO(data), ParseContext()) if isinstance(it, Reject)]


def test_english_reasons_unchanged() -> None:
    assert reasons(BAD_DATE + b'"a","b\n') == [
        "start: '2025-13-01 10:00:00' is not a date 'YYYY-MM-DD HH:MM:SS'",
        "csv: column 2: unterminated quoted string (truncated line?)"]


def test_french_reasons_keep_their_code(french: None) -> None:
    got = reasons(BAD_DATE + b'"a","b\n' + b'"1","2"\n')
    assert got == ["start: '2025-13-01 10:00:00' n'est pas une date 'YYYY-MM-DD HH:MM:SS'",
                   "csv: colonne 2 : guillemet non refermé (ligne tronquée ?)",
                   "columns: 2 champs, cdr_csv en a de 16 à 21"]


def test_french_live_line_reasons_start_with_line(french: None) -> None:
    """The daemon keeps framer rejects per receipt by testing reason.startswith('line: '): true in French too."""
    parsers = parsing.SourceParsers("asterisk", ParseContext())
    got = parsers.parse(None, [(7, 0, parsing.PARTIAL, b'"half a line')])
    (jid, item), = got
    assert jid == 7 and isinstance(item, Reject)
    assert item.reason == "line: connexion fermée au milieu de la ligne"


def test_french_profile_problems(french: None) -> None:
    problems = generic_csv.validate_profile({"start": 0, "header": 3}, "csv.x")
    assert problems[0] == "csv.x.header = 3: doit valoir true ou false"
    assert "csv.x.start = 0: les numéros de colonne commencent à 1" in problems


def test_french_mitel_skipped_stays_not_a_record(french: None) -> None:
    """pipeline.formatcheck counts Skipped lines whose `what` starts with 'not a record' as rejects."""
    items = list(mitel.parse(io.BytesIO(b"hello there, not a call\n"), ParseContext()))
    assert items[0].what.startswith("not a record") and "ni date ni heure" in items[0].what


def test_tariff_problems_plural_english() -> None:
    many = [Problem(f"fr.csv:{i}", "price", "x") for i in range(TariffError.MAX_SHOWN + 2)]
    assert TariffError(many).render().splitlines()[-1] == "... and 2 more problems"


def test_tariff_problems_plural_french(french: None) -> None:
    many = [Problem(f"fr.csv:{i}", "price", "x") for i in range(TariffError.MAX_SHOWN + 2)]
    assert TariffError(many).render().splitlines()[-1] == "... et 2 autres problèmes"
    assert TariffError(many[:-1]).render().splitlines()[-1] == "... et 1 autre problème"


def test_french_invoice_verdict(french: None) -> None:
    said = istore.verdict("invalid", [("BR-CO-15", False, "error"), ("BR-01", True, "error")])
    assert said == "invalide : 1 contrôles sur 2 en échec (BR-CO-15)"


def test_money_errors_of_the_engine_in_french(french: None) -> None:
    """engine.money speaks English (the engine imports nothing of ours): the callers say it in the user's language."""
    from engine.money import MoneyError, parse_money
    from tariffs.errors import money_problem

    with pytest.raises(MoneyError) as bad:
        parse_money("1,5")
    assert money_problem(bad.value) == "'1,5' n'est pas un nombre décimal"
    with pytest.raises(MoneyError) as bad:
        parse_money("0.123456789")
    assert money_problem(bad.value) == "'0.123456789' a plus de 8 décimales"
