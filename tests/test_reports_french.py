"""Reports for people follow the process language (titles, headings, notes, CSV/XLSX/PDF), while --json keeps the
English column ids (the machine form) and exact amounts; alert texts and mails are written in the daemon's language."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

from test_allocation import build_workspace

import i18n
from pbx import notify
from pbx.alerts import Evaluator, parse_rules
from tem.reports import heading, title


def _anatole(ws: Path, *args: str) -> tuple[int, str]:
    """The CLI in this process (the report's texts are translated as it is built, in the language in use)."""
    from click.testing import CliRunner

    from anatole.cli import main

    result = CliRunner().invoke(main, ["--workspace", str(ws), *args])
    return result.exit_code, result.output


def test_a_french_cost_report_csv_and_xlsx_and_the_json_ids(tmp_path: Path, french: None) -> None:
    ws = build_workspace(tmp_path)
    code, out = _anatole(ws, "report", "cost-by-cost-centre", "--period", "2025-03", "--out", str(ws / "cc.csv"))
    assert code == 0, out
    rows = list(csv.reader(io.StringIO((ws / "cc.csv").read_text(encoding="utf-8"))))
    assert rows[0] == ["centre de coûts", "nom", "appels EUR", "frais EUR", "total EUR"]
    assert rows[-1][0] == "total" and rows[-1][4] == "69.10"  # exact amounts, the total row's marker unchanged
    code, out = _anatole(ws, "report", "cost-by-cost-centre", "--period", "2025-03", "--out", str(ws / "cc.xlsx"))
    assert code == 0, out
    with zipfile.ZipFile(ws / "cc.xlsx") as z:
        book = z.read("xl/workbook.xml").decode()
        strings = z.read("xl/sharedStrings.xml").decode()
    assert 'name="Coûts par centre de coûts"' in book and "centre de coûts" in strings
    code, out = _anatole(ws, "report", "cost-by-cost-centre", "--period", "2025-03", "--json")
    data = json.loads(out)
    assert data["columns"] == ["cost centre", "name", "calls EUR", "charges EUR", "total EUR"]  # machine form
    assert data["title"] == "Coûts par centre de coûts" and data["notes"][0].startswith("non affecté : 0.35 EUR")


def test_headings_and_titles_in_english_and_french(french: None) -> None:
    assert title("trunks") == "Occupation et blocage des faisceaux (Erlang B)"
    assert [heading(h) for h in ("total EUR", "2025-03", "lines for 1 %", "from", "answered %")] == \
        ["total EUR", "2025-03", "lignes pour 1 %", "appelant", "% répondus"]
    i18n.use("en")
    assert title("trunks") == "Trunk occupancy and blocking (Erlang B)" and heading("from") == "from"


def test_alert_texts_and_mail_in_french(french: None) -> None:
    rules, problems = parse_rules([{"name": "cher", "when": "cost > 5"}, {"name": "x", "when": "cost > abc"}])
    assert problems[0].message == "'cost > abc' : 'abc' n'est pas un montant (par exemple 5 ou 2.50)"
    ev = Evaluator(rules, {})
    [alert] = ev.call({"id": 7, "site": "paris", "extension": "1001", "direction": "outgoing",
                            "cost": 1_234_500_000_00, "currency": "EUR", "start": 1_741_946_400, "answer": None,
                            "billable": 60, "duration": 60, "billed": 1, "number": "33155501234",
                            "dialled": "0155501234"})
    assert alert["message"] == "cher : l'appel vers 33155501234 a coûté 1\u202f234,50\u00a0€ (au-delà de 5,00)"
    mail = notify.alert_mail({**alert, "id": 3}, "ops@example.com")
    body = mail.get_content()
    assert mail["Subject"].startswith("[anatole] avertissement n°3 : ")
    assert "montant :" in body and "1\u202f234,50\u00a0€" in body and "14/03/2025 10:00:00 UTC" in body


def test_a_report_on_screen_in_french_numbers_and_money(tmp_path: Path, french: None) -> None:
    from click.testing import CliRunner

    from anatole.cli import main

    ws = build_workspace(tmp_path)
    out = CliRunner().invoke(main, ["--workspace", str(ws), "report", "top-callers", "--period", "2025-03"]).output
    assert "Plus gros appelants — 2025-03" in out and "(aucun)" in out
    row = next(line.split() for line in out.splitlines() if line.split()[:1] == ["1001"])
    assert row == ["1001", "EUR", "3", "3", "3,0", "3,00", "€"]  # minutes with a decimal comma, money in French


def test_finding_texts_in_french_keep_every_decimal(french: None) -> None:
    from tem.audit import _active_text, _said

    assert _said(123_450_000_000) == "1\u202f234,50"
    assert _said(12_345_678) == "0,12345678"  # exact: no decimal hidden
    assert _active_text([{"valid_from": "2026-01-01", "valid_to": None}]) == "active depuis le 2026-01-01"
    i18n.use("en")
    assert _said(123_450_000_000) == "1234.50"


def test_mobile_usage_alert_volumes_in_french(french: None) -> None:
    from pbx.alerts import usage_alerts

    rules, _problems = parse_rules([{"name": "itinérance", "when": "roaming > 1 MB"}])
    [alert] = usage_alerts(rules, {("337", "2026-10"): {"roaming_bytes": 1_550_000, "roaming_cost": 0,
                                                       "data_bytes": 0, "currency": "EUR"}}, 0)
    assert alert["message"] == ("itinérance : ligne 337 : 1,5 Mo de données en itinérance en 2026-10 "
                                "(au-delà de 1,0 Mo)")


def test_a_scheduled_report_mail_in_french(french: None) -> None:
    from tem.schedule import report_mail

    run = {"report": "cost-by-cost-centre", "period": "2025-03", "schedule": "mensuel", "produced_at": 1_741_946_400,
           "format": "csv", "sha256": "ab", "file": "out/x.csv"}
    msg = report_mail(run, "finance@example.com", b"x")
    assert msg["Subject"] == "[anatole] Coûts par centre de coûts, 2025-03 (mensuel)"
    body = next(part for part in msg.iter_parts() if part.get_content_type() == "text/plain").get_content()
    assert body.startswith("Coûts par centre de coûts pour 2025-03, produit le 14/03/2025 10:00 UTC par la "
                           "planification 'mensuel'.\nLe fichier est joint (csv, 1 octet, sha256 ab).")
