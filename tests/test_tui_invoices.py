"""Invoices screen (Pilot, real SQLite file): the list, one invoice's charges, findings and reconciliation, approve
and dispute recorded with the console's user through the actions `anatole` wires in (tem.workflow), refusals
shown in the dialog; and a snapshot of the list and of the detail on fixed data."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_tui_support import PARIS, RATED_AT, context, run, settle, until, workspace_copy
from textual.widgets import DataTable, Input, OptionList, SelectionList, TabbedContent

from anatole.cli import main
from anatole.cli_ui import invoice_actions
from engine.money import format_exact, parse_money
from store import open_store
from store.invoices import open_invoices
from tui.app import ConsoleApp
from tui.invoices_screen import ApproveDialog, DisputeDialog, InvoiceDetailScreen, InvoicesScreen
from tui.table import LocalTable

DATA = Path(__file__).parent / "data" / "invoices"

PROFILE = (DATA / "orange-detail.toml").read_text(encoding="utf-8")

# stored calls of the fixed workspace (tests/test_tui_support.py) that the carrier's detail bills: two exactly, one
# 0.10 dearer than rated, and one call the PBX never made
BILLED = ((11, "0"), (4, "0"), (19, "0.10"))
PHANTOM = "F-2025-03;ACC-778;+33144556677;Communication;Appel mobile;11/03/2025 09:00:00;00:03:00;33699999999;0,50;0,10"


def _detail_csv(ws: Path) -> str:
    conn = sqlite3.connect(ws / "anatole.db")
    lines = ["Invoice;Account;Line;Type;Description;Date;Duration;Number;Amount;VAT",
             "F-2025-03;ACC-778;+33144556677;Abonnement;Trunk SIP 10 canaux;;;;120,00;24,00",
             "F-2025-03;ACC-778;+33144556677;Remise;Remise fidélité;;;;-10,00;-2,00"]
    for call_id, extra in BILLED:
        number, answer, billable, cost = conn.execute(
            "SELECT number, answer, billable, cost FROM calls WHERE id = ?", (call_id,)).fetchone()
        when = dt.datetime.fromtimestamp(answer, PARIS).strftime("%d/%m/%Y %H:%M:%S")
        amount = format_exact(cost + parse_money(extra)).replace(".", ",")
        h, rest = divmod(billable, 3600)
        lines.append(f"F-2025-03;ACC-778;+33144556677;Communication;Appel;{when};{h:02d}:{rest // 60:02d}:"
                     f"{rest % 60:02d};{number};{amount};0,00")
    conn.close()
    return "\n".join([*lines, PHANTOM]) + "\n"


def invoice_workspace() -> Path:
    """The fixed calls workspace plus three imported invoices: a valid UBL, the same UBL with a wrong payable total
    (invalid, one BR-CO-16 finding), and a carrier CSV with call detail that reconciles against the stored calls.
    Every instant the import wrote is set to a fixed one, so that snapshots are stable."""
    ws = workspace_copy()
    with (ws / "anatole.toml").open("a") as f:
        f.write(PROFILE)
    shutil.copy(DATA / "ubl-telecom.xml", ws / "ubl-telecom.xml")
    bad = (DATA / "ubl-telecom.xml").read_text().replace(">78.30</cbc:PayableAmount>", ">87.30</cbc:PayableAmount>")
    (ws / "ubl-wrong-total.xml").write_text(bad.replace("TEL-2025-03-0001", "TEL-2025-03-0002"))
    (ws / "orange-2025-03.csv").write_text(_detail_csv(ws), encoding="utf-8")
    result = CliRunner().invoke(main, ["--workspace", str(ws), "import", "invoice", "--by", "importer",
                                       str(ws / "ubl-telecom.xml"), str(ws / "ubl-wrong-total.xml"),
                                       str(ws / "orange-2025-03.csv")])
    assert result.exit_code == 0, result.output
    conn = sqlite3.connect(ws / "anatole.db")
    conn.execute("UPDATE invoice_files SET imported_at = ?", (RATED_AT,))
    conn.execute("UPDATE invoices SET imported_at = ?", (RATED_AT,))
    conn.execute("UPDATE invoice_checks SET created_at = ?", (RATED_AT,))
    conn.execute("UPDATE invoice_transitions SET at = ?", (RATED_AT,))
    conn.commit()
    conn.close()
    return ws


@pytest.fixture
def ws() -> Path:
    return invoice_workspace()


def console(ws: Path, **kw: object) -> ConsoleApp:
    ctx = context(ws, invoices=invoice_actions(ws / "anatole.db", "Europe/Paris"), **kw)
    return ConsoleApp(ctx, start="invoices")


def stored(ws: Path, invoice_id: int) -> tuple[dict, list[dict], list[dict]]:
    store = open_store(ws / "anatole.db")
    try:
        istore = open_invoices(store.conn)
        return istore.invoice(invoice_id), istore.transitions(invoice_id), istore.disputes(invoice_id)
    finally:
        store.close()


def cells(table: DataTable, key: str) -> list[str]:
    return [str(c) for c in table.get_row(key)]


def test_list_shows_every_invoice_with_state_and_findings(ws: Path) -> None:
    async def go() -> None:
        app = console(ws)
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, InvoicesScreen)
            table = screen.query_one("#invoices", DataTable)
            assert table.row_count == 3
            assert cells(table, "1") == ["1", "TEL-2025-03-0001", "2025-03", "78.30 EUR", "validated", "",
                                         "Telco SA", "BAN-778899"]
            assert cells(table, "2")[1] == "TEL-2025-03-0002"
            assert cells(table, "2")[2:6] == ["2025-03", "87.30 EUR", "invalid", "1"]
            assert [cells(table, "3")[i] for i in (1, 6, 7)] == ["F-2025-03", "Orange Business", "ACC-778"]
            summary = str(screen.query_one("#invoices-summary").render())
            assert "3 invoices" in summary and "1 invalid" in summary and "1 finding" in summary
            # the filter narrows by words of carrier, account, number, state
            await pilot.press("slash", *"invalid")
            await settle(pilot)
            assert table.row_count == 1 and "2" in table.rows
            assert "1 of 3 invoices" in str(screen.query_one("#invoices-summary").render())
            await pilot.press("escape")
            screen.query_one("#invoices-filter", Input).value = ""
            await settle(pilot)
            assert table.row_count == 3

    run(go())


def test_sort_by_a_column_and_filter_by_a_cell(ws: Path) -> None:
    async def go() -> None:
        app = console(ws)
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(pilot)
            screen = app.screen
            table = screen.query_one("#invoices", LocalTable)
            keys = lambda: [r.key for r in table.view]  # noqa: E731
            assert keys() == ["1", "2", "3"]
            table.move_cursor(column=3)  # payable: 78.30 EUR, 87.30 EUR and the Orange one
            await pilot.press("greater_than_sign")
            await settle(pilot)
            assert "payable▼" in str(table.ordered_columns[3].label)
            eur = [k for k in keys() if screen.by_id[k]["currency"] == "EUR"]
            assert eur.index("2") < eur.index("1")  # 87.30 before 78.30 within EUR
            await pilot.press("less_than_sign")
            await settle(pilot)
            eur = [k for k in keys() if screen.by_id[k]["currency"] == "EUR"]
            assert eur.index("1") < eur.index("2")
            assert "sorted by payable ▲" in str(screen.query_one("#invoices-title").render())
            table.move_cursor(row=keys().index("3"), column=6)  # carrier: Orange Business
            await pilot.press("f")
            await settle(pilot)
            assert keys() == ["3"]
            assert "carrier = Orange Business" in str(screen.query_one("#invoices-title").render())
            assert "1 of 3 invoices" in str(screen.query_one("#invoices-summary").render())
            await pilot.press("enter")  # opens the invoice under the cursor, found by its key
            await settle(pilot)
            assert isinstance(app.screen, InvoiceDetailScreen) and app.screen.invoice_id == 3
            await pilot.press("escape")
            await settle(pilot)
            await pilot.press("F")
            await settle(pilot)
            assert sorted(keys()) == ["1", "2", "3"]

    run(go())


def test_detail_charges_findings_and_reconciliation(ws: Path) -> None:
    async def go() -> None:
        app = console(ws)
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            table = app.screen.query_one("#invoices", DataTable)
            table.move_cursor(row=1)  # the invalid one
            await pilot.press("enter")
            await settle(pilot)
            detail = app.screen
            assert isinstance(detail, InvoiceDetailScreen) and detail.invoice_id == 2
            summary = str(detail.query_one("#inv-summary").render())
            said = re.search(r"invalid: 1 of \d+ checks failed \(BR-CO-16\)[^·]*", summary)
            assert "payable 87.30 EUR" in summary and said \
                and "state invalid (204)" in summary and "VAT S 20%: base 65.25 tax 13.05" in summary
            charges = detail.query_one("#inv-charges", DataTable)
            assert charges.row_count >= 3
            await pilot.press("f")
            assert detail.query_one("#inv-tabs", TabbedContent).active == "checks"
            checks = detail.query_one("#inv-checks", DataTable)
            first = [str(c) for c in checks.get_row_at(0)]
            assert first[1:6] == ["FAIL", "BR-CO-16", "78.30", "87.30", "9.00"]  # the finding comes first
            assert "BR-CO-16" in str(detail.query_one("#inv-check-text").render())
            await pilot.press("m")
            assert "no call detail" in str(detail.query_one("#inv-recon").render())
            await pilot.press("h")
            # the header and the history word the verdict alike
            assert f"received → invalid (204) by importer: {said.group(0).strip()}" in str(
                detail.query_one("#inv-history").render())
            await pilot.press("escape")
            await settle(pilot)
            assert isinstance(app.screen, InvoicesScreen)

            # the carrier CSV with call detail: its period has calls of two sites, so the console asks which one the
            # carrier bills, then reconciles in a worker against that site's stored calls
            table.move_cursor(row=2)
            await pilot.press("enter")
            detail = app.screen
            await until(pilot, lambda: detail.recon_state == "choosing", "the question: which site or trunk")
            await pilot.press("m")
            choice = detail.query_one("#inv-recon-scope", OptionList)
            labels = [str(choice.get_option_at_index(i).prompt) for i in range(choice.option_count)]
            assert labels[0].startswith("site paris") and any(x.startswith("site lyon") for x in labels)
            assert labels[-1].startswith("all sites and trunks")
            assert "which one does" in str(detail.query_one("#inv-recon").render())
            await pilot.press("enter")  # site paris
            await until(pilot, lambda: detail.recon_state == "done", "the reconciliation")
            assert "calls of site paris" in str(detail.query_one("#inv-recon").render())
            s = detail.recon
            assert s is not None
            assert s["invoice_lines"] == 4 and s["matched"] == 3
            assert {k: v["count"] for k, v in s["classes"].items() if k != "only_cdr"} == {
                "exact": 2, "near": 0, "cost_mismatch": 1, "only_invoice": 1}
            assert s["money_at_stake"] == "0.60"  # 0.10 overcharged + 0.50 for a call never made
            await pilot.press("m")
            text = str(detail.query_one("#inv-recon").render())
            assert "money at stake: 0.60 EUR" in text and "cost mismatch" in text

    run(go())


def test_approve_records_the_console_user(ws: Path) -> None:
    async def go() -> None:
        app = console(ws)
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(pilot)
            await pilot.press("a")  # the first invoice, valid: no reason needed
            await settle(pilot)
            dialog = app.screen
            assert isinstance(dialog, ApproveDialog)
            assert "Reason (optional)" in str(dialog.query_one("#approve-hint").render())
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, InvoicesScreen), "the dialog closes")
            table = app.screen.query_one("#invoices", DataTable)
            await until(pilot, lambda: cells(table, "1")[4] == "approved", "the list shows it approved")
            assert "invoice #1 approved by tester" in str(app.screen.query_one("#invoices-message").render())

    run(go())
    inv, transitions, _ = stored(ws, 1)
    assert inv["state"] == "approved" and inv["lifecycle_code"] == "205"
    last = transitions[-1]
    assert (last["from_state"], last["to_state"], last["actor"], last["reason"]) == (
        "validated", "approved", "tester", "approved")


def test_approving_an_invalid_invoice_needs_a_reason(ws: Path) -> None:
    async def go() -> None:
        app = console(ws)
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(pilot)
            app.screen.query_one("#invoices", DataTable).move_cursor(row=1)
            await pilot.press("enter")
            await settle(pilot)
            await pilot.press("a")
            await settle(pilot)
            dialog = app.screen
            assert isinstance(dialog, ApproveDialog)
            assert "A reason is required: it is invalid." in str(dialog.query_one("#approve-hint").render())
            await pilot.press("enter")  # no reason: refused in the dialog, which stays open
            await settle(pilot)
            assert app.screen is dialog and "give a reason" in str(dialog.query_one("#approve-message").render())
            await pilot.press(*"paid: credit note promised")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, InvoiceDetailScreen), "back to the detail")
            detail = app.screen
            await until(pilot, lambda: "state approved" in str(detail.query_one("#inv-summary").render()),
                        "the detail shows it approved")
            assert "invalid → approved (205) by tester: paid: credit note promised" in str(
                detail.query_one("#inv-history").render())
            # an approved invoice cannot be approved again: the workflow's refusal is shown in the dialog
            await pilot.press("a")
            await settle(pilot)
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, ApproveDialog)
            assert "'approved': it cannot become 'approved'" in str(app.screen.query_one("#approve-message").render())
            await pilot.press("escape")
            await settle(pilot)
            assert isinstance(app.screen, InvoiceDetailScreen)

    run(go())
    inv, transitions, _ = stored(ws, 2)
    assert inv["state"] == "approved" and [t["actor"] for t in transitions][-1] == "tester"


def test_dispute_with_reason_findings_and_amount(ws: Path) -> None:
    async def go() -> None:
        app = console(ws)
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            app.screen.query_one("#invoices", DataTable).move_cursor(row=1)
            await pilot.press("d")
            await settle(pilot)
            dialog = app.screen
            assert isinstance(dialog, DisputeDialog)
            findings = dialog.query_one("#dispute-findings", SelectionList)
            assert findings.option_count == 1 and len(findings.selected) == 1
            amount = dialog.query_one("#dispute-amount", Input)
            assert "empty: 9.00 EUR" in amount.placeholder
            await pilot.press("enter")  # no reason yet
            await settle(pilot)
            assert app.screen is dialog
            assert "a dispute needs a reason" in str(dialog.query_one("#dispute-message").render())
            await pilot.press(*"total does not add up")
            await pilot.press("tab", "space")  # the findings list: deselect the only finding
            await settle(pilot)
            assert findings.selected == [] and "empty: 0.00 EUR" in amount.placeholder
            await pilot.press("tab")
            await pilot.press("enter")
            await settle(pilot)
            assert "choose at least one finding" in str(dialog.query_one("#dispute-message").render())
            await pilot.press("shift+tab", "space", "tab", *"9.5x")  # letters are not accepted in the amount
            assert amount.value == "9.5"
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, InvoicesScreen), "the dialog closes")
            table = app.screen.query_one("#invoices", DataTable)
            await until(pilot, lambda: cells(table, "2")[4] == "in_dispute (invalid)", "the list shows it in dispute")
            assert "dispute #1 opened on invoice #2 by tester" in str(
                app.screen.query_one("#invoices-message").render())
            await pilot.press("enter")
            await settle(pilot)
            detail = app.screen
            assert isinstance(detail, InvoiceDetailScreen)
            await pilot.press("f")
            checks = detail.query_one("#inv-checks", DataTable)
            assert str(checks.get_row_at(0)[-1]) == "#1"  # the finding is contested by dispute #1
            history = str(detail.query_one("#inv-history").render())
            assert "dispute #1 (open)" in history and "by tester: total does not add up" in history
            assert "claimed 9.50 EUR" in history

    run(go())
    inv, transitions, disputes = stored(ws, 2)
    assert inv["state"] == "in_dispute" and inv["lifecycle_code"] == "207"
    assert transitions[-1]["actor"] == "tester"
    (d,) = disputes
    assert (d["actor"], d["reason"], d["amount_claimed"], d["status"]) == (
        "tester", "total does not add up", parse_money("9.5"), "open")
    assert len(d["findings"]) == 1


def test_without_actions_the_screen_is_read_only(ws: Path) -> None:
    async def go() -> None:
        app = ConsoleApp(context(ws), start="invoices")
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(pilot)
            assert "read-only" in str(app.screen.query_one("#invoices-message").render())
            await pilot.press("a")
            await settle(pilot)
            assert isinstance(app.screen, InvoicesScreen)
            app.screen.query_one("#invoices", DataTable).move_cursor(row=2)
            await pilot.press("enter")
            await settle(pilot)
            detail = app.screen
            assert isinstance(detail, InvoiceDetailScreen)
            assert "needs the workspace" in str(detail.query_one("#inv-recon").render())
            await pilot.press("d")
            await settle(pilot)
            assert app.screen is detail and "read-only" in str(detail.query_one("#inv-message").render())

    run(go())
    assert stored(ws, 1)[0]["state"] == "validated"


def test_a_missing_database_is_a_message(tmp_path: Path) -> None:
    async def go() -> None:
        app = ConsoleApp(context(tmp_path), start="invoices")
        async with app.run_test(size=(100, 24)) as pilot:
            await settle(pilot)
            line = app.screen.query_one("#invoices-message")
            assert "no database at" in str(line.render()) and line.has_class("error")

    run(go())


def test_snapshot_list(ws: Path, snap_compare) -> None:
    assert snap_compare(console(ws), terminal_size=(100, 24), run_before=settle)


def test_snapshot_detail(ws: Path, snap_compare) -> None:
    async def before(pilot) -> None:
        await settle(pilot)
        pilot.app.screen.query_one("#invoices", DataTable).move_cursor(row=2)
        await pilot.press("enter")
        await until(pilot, lambda: getattr(pilot.app.screen, "recon_state", "") == "choosing", "the site question")
        await pilot.press("m")
        await settle(pilot)

    # the reconciliation asks which site the carrier bills (the period has calls of paris and lyon)
    assert snap_compare(console(ws), terminal_size=(100, 30), run_before=before)


def test_help_lists_the_invoice_keys(ws: Path) -> None:
    from tui.help import HelpScreen, _bindings

    async def go() -> None:
        app = ConsoleApp(context(ws), screens=("invoices",), start="invoices")
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            await pilot.press("question_mark")
            await settle(pilot)
            assert isinstance(app.screen, HelpScreen)
            table = app.screen.query_one(DataTable)
            listed = {(str(table.get_row_at(i)[0]), str(table.get_row_at(i)[2])) for i in range(table.row_count)}
            for title, cls in (("Invoices", InvoicesScreen), ("Invoice detail", InvoiceDetailScreen)):
                for b in _bindings(cls):
                    assert (title, b.description) in listed, (title, b.key)
            assert ("Approve, dispute", "Dispute: toggle a finding") in listed

    run(go())


def test_the_screen_imports_neither_tem_nor_anatole_nor_trio() -> None:
    """tui and tem are siblings: the actions come through ConsoleContext.invoices, not by import."""
    import subprocess
    import sys

    code = ("import sys, tui.invoices_screen; bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('tem', 'anatole', 'trio', 'pbx') and m != 'pbx.protocol' and m != 'pbx'); print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent.parent)
    assert out.stdout.strip() == "[]", out.stdout


def test_an_information_document_is_never_approved_in_the_console(ws: Path) -> None:
    info = (ws / "ubl-telecom.xml").read_text().replace("TEL-2025-03-0001", "TEL-2025-03-0751").replace(
        "<cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>", "<cbc:InvoiceTypeCode>751</cbc:InvoiceTypeCode>")
    (ws / "info.xml").write_text(info)
    result = CliRunner().invoke(main, ["--workspace", str(ws), "import", "invoice", str(ws / "info.xml")])
    assert result.exit_code == 0, result.output

    async def go() -> None:
        app = console(ws)
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(pilot)
            table = app.screen.query_one("#invoices", DataTable)
            assert "info: not payable" in cells(table, "4")[4]
            table.move_cursor(row=3)
            await pilot.press("a")
            await settle(pilot)
            dialog = app.screen
            assert isinstance(dialog, ApproveDialog)
            assert "cannot be approved for payment" in str(dialog.query_one("#approve-hint").render())
            await pilot.press(*"pay it")
            await pilot.press("enter")
            await until(pilot, lambda: "not a payable" in str(dialog.query_one("#approve-message").render()),
                        "the workflow's refusal")
            assert app.screen is dialog

    run(go())
    inv, _, _ = stored(ws, 4)
    assert inv["state"] == "validated" and inv["kind"] == "information"
