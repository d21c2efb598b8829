"""The Mobile screen on a real store: lines with their plan, usage against the allowances, the suggested plan and
monthly saving from the stored right-sizing; months with [ and ]; a snapshot."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_tui_support import context, run, settle, workspace_copy
from textual.widgets import DataTable, Input, Static

from anatole.config import open_workspace
from store import open_store
from store.mobile import open_mobile
from tem.mobile import import_file, rightsize
from tui.app import ConsoleApp
from tui.mobile_screen import MobileScreen
from tui.table import LocalTable, Money, Row, _sort_value, write_rows

DATA = Path(__file__).parent / "data" / "mobile"
SEPTEMBER = ("Compte;Facture;Numéro;Forfait;Date;Heure;Type;Correspondant;Zone;Durée/Volume;Montant HT\n"
             "ACC-778;F-2026-09;06 98 76 54 32;PRO-20;03/09/2026;11:11:11;SMS;06 11 22 33 44;France;1;0,00\n")


def mobile_workspace() -> Path:
    """The console's fixed workspace plus the French usage fixtures (September, October) and the plan catalogue,
    right-sized over October."""
    ws = workspace_copy()
    for f in ("orange-plans.toml", "orange-plans.csv", "fr-detail-2026-10.csv"):
        shutil.copy(DATA / f, ws / f)
    (ws / "fr-detail-2026-09.csv").write_bytes(SEPTEMBER.encode("cp1252"))
    config = (ws / "anatole.toml").read_text(encoding="utf-8")
    profiles = (DATA / "profiles.toml").read_text(encoding="utf-8")
    (ws / "anatole.toml").write_text(config + "\n" + profiles + '\n[mobile]\nplans = ["orange-plans.toml"]\n'
                                     "months = 1\n", encoding="utf-8")
    w = open_workspace(ws)
    store = open_store(w.db_path)
    m = open_mobile(store.conn)
    for name in ("fr-detail-2026-09.csv", "fr-detail-2026-10.csv"):
        import_file(m, ws / name, profiles=w.mobile_profiles, settings=w.mobile)
    rightsize(w, m)
    store.conn.execute("UPDATE mobile_rightsize SET at = 0")
    store.conn.commit()
    store.close()
    return ws


@pytest.fixture(scope="module")
def ws() -> Path:
    return mobile_workspace()


def cells(screen: MobileScreen) -> dict[str, list[str]]:
    table = screen.query_one("#mobile", DataTable)
    return {str(table.get_row_at(i)[0]): [str(c) for c in table.get_row_at(i)] for i in range(table.row_count)}


def test_lines_plans_usage_and_saving(ws: Path) -> None:
    async def go() -> None:
        app = ConsoleApp(context(ws), start="calls")
        async with app.run_test(size=(140, 30)) as pilot:
            await settle(pilot)
            await pilot.press("9")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, MobileScreen)
            rows = cells(screen)
            assert list(rows) == ["33698765432", "33612345678"]  # the biggest saving first
            pro20 = rows["33698765432"]
            # the plan, billed, the suggested plan and its saving a month, then usage against the allowances
            assert pro20[1:8] == ["PRO-20", "0.60 EUR", "PRO-5", "11.00 EUR", "0/unl.", "2/unl.", "0/20000"]
            pro5 = rows["33612345678"]
            # 2:30 home + 10:00 EU = 12 min of 120; 512 MiB home = 536 MB; world data is billed apart (35.50)
            assert pro5[1:9] == ["PRO-5", "35.50 EUR", "", "", "12/120", "1/unl.", "536/5000", "35.50 EUR"]
            note = str(screen.query_one("#mobile-message", Static).render())
            assert "2 lines" in note and "save 11.00 EUR a month" in note
            assert "2026-10" in str(screen.query_one("#mobile-title", Static).render())
            await pilot.press("left_square_bracket")
            await settle(pilot)
            assert "2026-09" in str(screen.query_one("#mobile-title", Static).render())
            assert list(cells(screen)) == ["33698765432"]
            await pilot.press("question_mark")  # the help lists the screen's keys
            await settle(pilot)
            table = app.screen.query_one("DataTable")
            listed = {(str(table.get_row_at(i)[0]), str(table.get_row_at(i)[2])) for i in range(table.row_count)}
            assert ("Mobile", "Month") in listed and ("Mobile", "Next month") in listed

    run(go())


def test_sort_by_a_column_and_filter_by_a_cell(ws: Path) -> None:
    async def go() -> None:
        app = ConsoleApp(context(ws), start="mobile")
        async with app.run_test(size=(140, 30)) as pilot:
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, MobileScreen)
            table = screen.query_one("#mobile", LocalTable)
            assert list(cells(screen)) == ["33698765432", "33612345678"]
            table.move_cursor(column=2)  # billed
            await pilot.press("less_than_sign")
            await settle(pilot)
            assert list(cells(screen)) == ["33698765432", "33612345678"]  # 0.60 EUR, then 35.50 EUR
            await pilot.press("greater_than_sign")
            await settle(pilot)
            assert list(cells(screen)) == ["33612345678", "33698765432"]
            assert "billed▼" in str(table.ordered_columns[2].label)
            assert "sorted by billed ▼" in str(screen.query_one("#mobile-title", Static).render())
            table.move_cursor(row=1, column=1)  # PRO-20
            await pilot.press("f")
            await settle(pilot)
            assert list(cells(screen)) == ["33698765432"]
            title = str(screen.query_one("#mobile-title", Static).render())
            assert "1 of 2" in title and "plan = PRO-20" in title
            assert cells(screen)["33698765432"][2] == "0.60 EUR"  # money still shown by store.display
            # export exactly the view (filtered, sorted) to a path typed in the dialog
            target = ws / "lines-view.csv"
            await pilot.press("e")
            await settle(pilot)
            field = app.screen.query_one("#export-path", Input)
            assert field.value.startswith(str(ws)) and "mobile-lines-" in field.value
            field.value = str(target)
            await pilot.press("enter")
            await settle(pilot)
            assert app.screen is screen
            lines = target.read_text(encoding="utf-8").splitlines()
            assert lines[0].startswith("line,plan,billed") and len(lines) == 2
            assert lines[1].startswith("33698765432,PRO-20,0.60 EUR,PRO-5,11.00 EUR,0,2,0,0.00 EUR")
            await pilot.press("F")
            await settle(pilot)
            assert len(cells(screen)) == 2

    run(go())


def test_money_sorts_within_its_currency_and_exports_exact(tmp_path: Path) -> None:
    """Never by face value across currencies: grouped by currency (EUR, GBP), each by amount; the export keeps
    every decimal."""
    amounts = (("e1", 5_00000000, "EUR"), ("g1", 1_00000000, "GBP"), ("e2", 1_23456789, "EUR"),
               ("g2", 9_00000000, "GBP"))
    rows = [Row(k, {"a": k}, {"a": Money(v, c)}) for k, v, c in amounts]
    ordered = sorted(rows, key=lambda r: _sort_value(r.value("a")))
    assert [r.key for r in ordered] == ["e2", "e1", "g1", "g2"]
    assert str(rows[2].value("a")) == "1.23456789 EUR"
    target = tmp_path / "view.csv"
    assert write_rows(target, ["a"], [[r.value("a")] for r in ordered]) == 4
    assert target.read_text(encoding="utf-8").splitlines()[1] == "1.23456789 EUR"


def test_an_empty_store_says_what_to_do() -> None:
    async def go() -> None:
        app = ConsoleApp(context(workspace_copy()), start="mobile")
        async with app.run_test(size=(100, 24)) as pilot:
            await settle(pilot)
            note = str(app.screen.query_one("#mobile-message", Static).render())
            assert "anatole mobile import" in note

    run(go())


def test_snapshot(snap_compare) -> None:
    ws = mobile_workspace()

    async def before(pilot) -> None:
        await settle(pilot)

    assert snap_compare(ConsoleApp(context(ws), start="mobile"), terminal_size=(120, 16), run_before=before)
