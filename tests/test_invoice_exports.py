"""One neutraliser (store.cells.neutralise) for every spreadsheet cell that came from outside, and each export that
uses it: the invoices' FOCUS CSV, the GL CSV, reports (CSV/XLSX, in test_reports.py too) and the calls CSV of the
CLI and the console."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from anatole.cli import main
from engine.money import parse_money
from store.cells import neutralise

DATA = Path(__file__).parent / "data" / "invoices"
CONFIG = '[workspace]\ncurrency = "EUR"\n'
HOSTILE = ["=HYPERLINK(\"http://evil\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1+1", "\n=1+1"]


@pytest.mark.parametrize("text", HOSTILE)
def test_formula_looking_text_gets_an_apostrophe(text: str) -> None:
    assert neutralise(text) == "'" + text


def test_a_carriage_return_cannot_start_a_row() -> None:
    assert neutralise("\r=1+1") == "'\n=1+1"
    assert neutralise("ok\r=1+1") == "ok\n=1+1"  # the writer quotes it: one cell, no new row
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([neutralise("x\r=cmd"), "2"])
    assert list(csv.reader(io.StringIO(out.getvalue(), newline=""))) == [["x\n=cmd", "2"]]


@pytest.mark.parametrize("value", ["-12.50", "0", "42", "-3", "plain", "a=b", "", 7, -7, 1.5])
def test_numbers_and_plain_text_are_left_alone(value: object) -> None:
    assert neutralise(value) == value


def test_none_and_phone_numbers() -> None:
    assert neutralise(None) == ""
    assert neutralise("+33612345678") == "'+33612345678"  # shown with its '+', not as a number


def test_every_copy_is_the_one_neutraliser() -> None:
    from anatole.cli import _safe_cell
    from tem.reports import safe_text
    from tui.data import safe_cell

    for text in [*HOSTILE, "-12.50", "plain", None]:
        assert _safe_cell(text) == safe_cell(text) == neutralise(text)
        if text is not None:
            assert safe_text(text) == neutralise(text)


def test_focus_export_neutralises_every_carrier_field(tmp_path: Path) -> None:
    (tmp_path / "anatole.toml").write_text(CONFIG)
    text = (DATA / "ubl-telecom.xml").read_text()
    for old, new in (("<cbc:ID>TEL-2025-03-0001</cbc:ID>", "<cbc:ID>=1+1</cbc:ID>"),
                     ("<cbc:ID>BAN-778899</cbc:ID>", "<cbc:ID>@SUM(A1)</cbc:ID>"),
                     ("<cbc:ID>FR-TELCO-1</cbc:ID>", "<cbc:ID>-cmd</cbc:ID>"),
                     ("<cbc:Name>Forfait Pro 20Go</cbc:Name>", "<cbc:Name>=HYPERLINK(1)</cbc:Name>")):
        assert old in text
        text = text.replace(old, new, 1)
    (tmp_path / "evil.xml").write_text(text)
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(main, ["--workspace", str(tmp_path), *args])
        return result.exit_code, result.output

    code, out = run("import", "invoice", "--json", str(tmp_path / "evil.xml"))
    assert code == 0, out and json.loads(out)["status"] == "valid"
    assert run("invoice", "approve", "1")[0] == 0
    code, out = run("invoice", "export", "1", "--out", str(tmp_path / "focus.csv"))
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO((tmp_path / "focus.csv").read_text())))
    assert {r["InvoiceId"] for r in rows} == {"'=1+1"}
    assert {r["BillingAccountId"] for r in rows} == {"'@SUM(A1)"}
    assert {r["x_Carrier"] for r in rows} == {"'-cmd"}
    assert "'=HYPERLINK(1)" in {r["ChargeDescription"] for r in rows}
    assert all(r["x_ServiceId"] == "" or r["x_ServiceId"].isdigit() for r in rows)
    # our own numbers keep their sign: the document allowance is a negative amount, written as a number
    costs = [r["BilledCost"] for r in rows]
    assert any(c.startswith("-") for c in costs) and not any(c.startswith("'") for c in costs)
    assert sum(parse_money(c) for c in costs) == parse_money("65.25")


def test_gl_export_neutralises_names_but_not_amounts() -> None:
    from tem.allocation import AllocationConfig, gl_csv

    cfg = AllocationConfig(gl_columns=("account", "cost_centre", "cost_centre_name", "amount", "currency"))
    lines = [{"account": "6260", "cost_centre": "=CC1", "cost_centre_name": "@evil", "amount": "-12.50",
              "currency": "EUR"},
             {"account": "6260", "cost_centre": "CC2", "cost_centre_name": "Sales", "amount": "20.00",
              "currency": "EUR"}]
    rows = list(csv.reader(io.StringIO(gl_csv(lines, cfg)), delimiter=cfg.gl_delimiter))
    assert rows[1] == ["6260", "'=CC1", "'@evil", "-12.50", "EUR"]
    assert rows[2] == ["6260", "CC2", "Sales", "20.00", "EUR"]


def test_reports_neutralise_tab_and_cr_too(tmp_path: Path) -> None:
    from tem.reports import Report, to_csv

    report = Report("x", "X", "2025-03", [("who", "text"), ("amount", "money")],
                    [["\t=1+1", -5 * 10**8], ["\r@x", 0], ["-4", 1]])
    rows = list(csv.reader(io.StringIO(to_csv(report), newline="")))
    assert [r[0] for r in rows[1:]] == ["'\t=1+1", "'\n@x", "-4"]
    assert rows[1][1] == "-5.00"


def test_no_other_copy_of_the_neutraliser() -> None:
    root = Path(__file__).resolve().parent.parent
    copies = []
    for package in ("anatole", "tem", "tui", "store", "ingest", "pbx", "hotel"):
        for path in (root / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if '("=", "+", "-", "@"' in text and path.name != "cells.py":
                copies.append(str(path.relative_to(root)))
    assert not copies, copies


