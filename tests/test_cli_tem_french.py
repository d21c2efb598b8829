"""The hotel and invoice commands in French (issue 19): what a person reads is French, amounts and days follow the
language (store.display), machine output (--json) is the same in both languages, and errors are French too.

French runs in a subprocess: click help texts and labels are translated when the modules are imported, and this
process imported them in English. The workspaces are filled in English here (what an English run stored stays as it
is: stored texts keep the language of the process that wrote them)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from click.testing import CliRunner
from serve_support import hotel_config, make_workspace

from anatole.cli import main

INVOICES = Path(__file__).parent / "data" / "invoices"
FRENCH_DAY = re.compile(r"\b\d\d/\d\d/\d{4}\b")

RUN_MANY = """
import json, sys
import i18n
i18n.use(sys.argv[1])
from click.testing import CliRunner
from anatole.cli import main
out = []
for args in json.loads(sys.argv[2]):
    result = CliRunner().invoke(main, args)
    out.append([result.exit_code, result.output])
print(json.dumps(out))
"""


def run_in(language: str, root: Path, *commands: list[str]) -> list[tuple[int, str]]:
    """Each command's (exit code, output) in `language`, all in one fresh process."""
    env = {**os.environ, "COLUMNS": "160"}
    env.pop("ANATOLE_LANG", None)
    done = subprocess.run([sys.executable, "-c", RUN_MANY, language,
                           json.dumps([["--workspace", str(root), *c] for c in commands])],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return [(code, out.replace("\xa0", " ").replace("\u202f", " ")) for code, out in json.loads(done.stdout)]


def english(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--workspace", str(root), *args])
    return result.exit_code, result.output


def test_hotel_front_desk_in_french(tmp_path: Path) -> None:
    root = make_workspace(tmp_path, extra=hotel_config())
    at = (dt.datetime.now(ZoneInfo("Europe/Paris")) - dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S")
    code, out = english(root, "hotel", "checkin", "214", "--guest", "Martin, Alice", "--reservation", "880123",
                        "--at", at)
    assert code == 0 and "room 214 checked in" in out
    rooms, folio, unknown, postings, rooms_json, rooms_json_fr = run_in(
        "fr", root, ["hotel", "rooms"], ["hotel", "folio", "214"], ["hotel", "checkin", "999", "--guest", "X"],
        ["hotel", "postings"], ["hotel", "rooms", "--json"], ["hotel", "rooms", "--json"])
    assert rooms[0] == 0 and "chambre" in rooms[1] and "occupée" in rooms[1] and "libre" in rooms[1]
    assert FRENCH_DAY.search(rooms[1]), rooms[1]
    assert "2 chambres, 1 occupées ; imputations : aucun" in rooms[1]
    assert folio[0] == 0 and "réservation 880123" in folio[1] and "0,00 €" in folio[1]
    assert unknown[0] == 1 and "la chambre '999' n'est pas dans le plan des chambres" in unknown[1]
    assert "Traceback" not in unknown[1]
    assert postings[0] == 0 and "aucune imputation" in postings[1] and "file : vide" in postings[1]
    (_code, en_json), = run_in("en", root, ["hotel", "rooms", "--json"])
    assert json.loads(rooms_json[1]) == json.loads(en_json) == json.loads(rooms_json_fr[1])  # machine output


def test_invoices_in_french(tmp_path: Path) -> None:
    (tmp_path / "anatole.toml").write_text('[workspace]\ncurrency = "EUR"\n\n'
                                           + (INVOICES / "orange-detail.toml").read_text(encoding="utf-8"))
    for name in ("ubl-telecom.xml", "x12-811-acme.edi"):
        shutil.copy(INVOICES / name, tmp_path / name)
    (tmp_path / "bad.xml").write_text("not an invoice")
    code, out = english(tmp_path, "import", "invoice", str(tmp_path / "ubl-telecom.xml"),
                        str(tmp_path / "x12-811-acme.edi"))
    assert code == 0, out
    listing, show, audit, bad, as_json = run_in(
        "fr", tmp_path, ["invoice", "list"], ["invoice", "show", "1"], ["invoice", "audit"],
        ["import", "invoice", str(tmp_path / "bad.xml")], ["invoice", "list", "--json"])
    assert listing[0] == 0 and "2 facture(s)" in listing[1]
    assert "78,30 €" in listing[1] and "88,67 $US" in listing[1]  # the locale's money, each currency its own
    assert "02/04/2025" in listing[1] and "validée" in listing[1] and "validated" not in listing[1]
    assert show[0] == 0 and "facture ubl TEL-2025-03-0001" in show[1] and "à payer 78,30" in show[1]
    assert "TVA : " in show[1] and "émise le 02/04/2025" in show[1]
    assert audit[0] == 0 and "2 facture(s) auditée(s) : 0 constat(s), rien en jeu" in audit[1]
    assert bad[0] == 1 and "(rien n'est enregistré)" in bad[1] and "Traceback" not in bad[1]
    code, en_json = english(tmp_path, "invoice", "list", "--json")
    assert [json.loads(x) for x in as_json[1].splitlines()] == [json.loads(x) for x in en_json.splitlines()]
    assert '"payable": "78.30"' in en_json  # exact and plain in both languages


def test_help_of_the_tem_commands_is_french(tmp_path: Path) -> None:
    """Every option of these commands has a French help (click shows nothing for an option without one)."""
    commands = (["hotel", "postings"], ["reconcile"], ["deliveries"], ["invoice", "audit"], ["whatif"])
    for command, (code, text) in zip(commands, run_in("fr", tmp_path, *[[*c, "--help"] for c in commands]),
                                     strict=True):
        assert code == 0, text
        options = text.split("Options:", 1)[1]
        assert "Affiche ce message et quitte." in options
        for line in options.splitlines():
            if line.strip().startswith("--") and "  " in line.strip():
                help_text = line.strip().split("  ", 1)[1].strip()
                assert help_text and not re.search(r"\b(the|of|and|to)\b", help_text), (command, line)
