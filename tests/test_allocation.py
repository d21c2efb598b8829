"""Allocation end to end on a real SQLite file: calls by the holder of the extension at the call's date, charges by
the holder of the line split by days at a mid-month move, shared charges by rule (percent, headcount), the
unassigned bucket, exact sums, the stored run, chargeback, GL export, invoices marked allocated; and the
largest-remainder split as a property."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from anatole.cli import main
from anatole.config import ConfigError, parse_config
from engine.money import SCALE, parse_money
from store import CALL_COLUMNS, open_store
from store.invoices import open_invoices
from tem.allocation import CENT, split

DATA = Path(__file__).parent / "data" / "invoices"
CONFIG = """
[workspace]
currency = "EUR"

[[site]]
name = "paris"
country = "FR"
timezone = "Europe/Paris"
outside_prefix = "0"
extensions = ["1000-1999"]

[allocation]
gl_account = "6260"
gl_columns = ["account", "cost_centre", "period", "amount", "cost_centre_name"]
gl_delimiter = ";"

[[allocation.rule]]
name = "setup fees"
category = "one_time"
method = "percent"
shares = { SALES = 60, OPS = "40" }

[[allocation.rule]]
name = "discounts"
category = "discount"
method = "headcount"
"""
CENTRES = "code,name,parent,budget,gl_account,from\nHQ,Head office,,,,2025-01-01\n" \
          "SALES,Sales,HQ,100.00,6261,2025-01-01\nOPS,Operations,HQ,50,,2025-01-01\n"
# E1 moves from Sales to Operations on 16 March
PEOPLE = ("Employee ID,Name,Cost Center,Site,Extension,From,To\n"
          "E1,Ann,SALES,paris,1001,2025-01-01,2025-03-16\n"
          "E1,Ann,OPS,paris,1001,2025-03-16,\n"
          "E2,Bob,OPS,paris,1002,2025-01-01,\n")
LINES = ("service,type,carrier,account,site,owner,cost centre\n"
         "+33 6 12 34 56 78,phone,orange,3456,paris,E1,\n"
         "8933150319012345678,sim,orange,3456,paris,,SALES\n")


def call_row(**values: Any) -> tuple:
    row = {c: None for c in CALL_COLUMNS}
    row.update(source="paris-ipo", site="paris", native_id=str(values.get("start")), leg="", grp="", duration=60,
               billable=60, direction="outgoing", disposition="answered", number_kind="external", billed=1,
               status="rated", currency="EUR", number="33145678901")
    row.update(values)
    return tuple(row[c] for c in CALL_COLUMNS)


def paris(day: str, hour: int = 10) -> int:
    import datetime as dt
    from zoneinfo import ZoneInfo

    return int(dt.datetime.fromisoformat(f"{day}T{hour:02d}:00").replace(tzinfo=ZoneInfo("Europe/Paris"))
               .timestamp())


def money(text: str) -> int:
    return parse_money(text)


def run(ws: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--workspace", str(ws), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def build_workspace(path: Path, *, config: str = CONFIG) -> Path:
    """A workspace with cost centres, people, lines, March 2025 calls and the UBL telecom invoice (approved)."""
    (path / "anatole.toml").write_text(config)
    for name, text in (("cc.csv", CENTRES), ("people.csv", PEOPLE), ("lines.csv", LINES)):
        (path / name).write_text(text)
    shutil.copy(DATA / "ubl-telecom.xml", path / "ubl-telecom.xml")
    store = open_store(path / "anatole.db")
    store.insert_calls([
        call_row(start=paris("2025-03-10"), extension="1001", cost=money("1.00")),
        call_row(start=paris("2025-03-20"), extension="1001", cost=money("2.00")),
        call_row(start=paris("2025-03-16", 0) + 60, extension="1001", cost=money("0.0001"), native_id="midnight"),
        call_row(start=paris("2025-03-21"), extension="1002", cost=money("0.4999")),
        call_row(start=paris("2025-03-22"), extension="1999", cost=money("0.25")),
        call_row(start=paris("2025-03-23"), extension=None, cost=money("0.10")),
        call_row(start=paris("2025-03-23"), extension="1002", cost=money("9.00"), billed=0, native_id="merged"),
        call_row(start=paris("2025-03-24"), extension="1002", cost=None, status="no_rate", native_id="norate"),
        call_row(start=paris("2025-04-01", 0) + 30, extension="1002", cost=money("7.00"), native_id="april"),
    ])
    store.close()
    for args in (("inventory", "import", "-k", "cost-centres", str(path / "cc.csv"), "--apply"),
                 ("inventory", "import", str(path / "people.csv"), "--apply"),
                 ("inventory", "import", "-k", "lines", str(path / "lines.csv"), "--apply", "--effective",
                  "2025-01-01"),
                 ("import", "invoice", str(path / "ubl-telecom.xml")),
                 ("invoice", "approve", "1")):
        code, out = run(path, *args)
        assert code == 0, out
    return path


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return build_workspace(tmp_path)


def test_allocate_json_adds_up_to_the_cent(ws: Path) -> None:
    code, out = run(ws, "allocate", "--period", "2025-03", "--json")
    assert code == 0, out
    obj = json.loads(out)
    # calls 3.85 (billed, priced legs of March in Paris time); charges 65.25 (the invoice without VAT)
    assert obj["period"] == "2025-03" and obj["currency"] == "EUR"
    assert obj["total"] == "69.10" and obj["by_source"] == {"calls": "3.85", "charge": "65.25"}
    # SALES: call 1.00, rental 25 * 15/31 -> 12.10, usage 4.25 * 15/31 -> 2.06, SIM 25, setup 60 % of 16, half
    # the discount (one person each); OPS: the rest of Ann's month after her move, Bob, 40 % of setup
    assert obj["by_cost_centre"] == {"OPS": "21.49", "SALES": "47.26"}
    assert obj["unassigned"] == "0.35" and obj["allocated"] == "68.75"
    assert obj["rollup"]["HQ"] == "68.75"
    assert sum(money(v) for v in obj["by_cost_centre"].values()) + money(obj["unassigned"]) == money(obj["total"])
    assert set(obj["unassigned_reasons"]) == {"extension paris/1999 is not in the inventory on 2025-03-16",
                                              "calls of paris with no extension"}
    assert obj["invoices"] == [1] and obj["marked_allocated"] == [1]
    code, out = run(ws, "invoice", "show", "1", "--json")
    assert json.loads(out)["state"] == "allocated"


def test_default_period_is_the_latest_month_with_data(ws: Path) -> None:
    code, out = run(ws, "allocate", "--json", "--dry-run")
    obj = json.loads(out)
    assert code == 0 and obj["period"] == "2025-04" and obj["total"] == "7.00" and obj["run"] is None


def test_chargeback_and_gl_export(ws: Path) -> None:
    run(ws, "allocate", "--period", "2025-03")
    code, out = run(ws, "chargeback", "--period", "2025-03", "--person", "E1", "--json")
    st_ = json.loads(out)
    assert code == 0 and st_["total"] == "32.2501"  # Ann: calls 1.00 + 0.0001 + 2.00, her phone line 25 + 4.25
    assert sum(money(x["amount"]) for x in st_["lines"]) == money(st_["total"])
    code, out = run(ws, "chargeback", "--period", "2025-03", "--cost-centre", "SALES", "--json")
    assert json.loads(out)["total"] == "47.26"
    code, out = run(ws, "chargeback", "--period", "2025-03", "--cost-centre", "UNASSIGNED", "--json")
    assert code == 0 and json.loads(out)["total"] == "0.35"  # in the allocation, not the inventory
    for args, said in [(["--cost-centre", "SALSE"], "no cost centre 'SALSE' in the inventory"),  # a typo: not 0.00
                       (["--person", "E99"], "no person 'E99' in the inventory"),
                       (["--person", "E1", "--cost-centre", "SALES"], "give --cost-centre CODE or --person ID")]:
        code, out = run(ws, "chargeback", "--period", "2025-03", *args)
        assert code == 1 and said in out, (args, out)
    code, out = run(ws, "gl-export", "--period", "2025-03", "--out", str(ws / "gl.csv"))
    assert code == 0, out
    rows = list(csv.reader(io.StringIO((ws / "gl.csv").read_text()), delimiter=";"))
    assert rows[0] == ["account", "cost_centre", "period", "amount", "cost_centre_name"]
    assert rows[1:] == [["6260", "OPS", "2025-03", "21.49", "Operations"],
                        ["6261", "SALES", "2025-03", "47.26", "Sales"],
                        ["6260", "UNASSIGNED", "2025-03", "0.35", ""]]


def test_allocate_currency_is_checked(ws: Path) -> None:
    code, out = run(ws, "allocate", "--period", "2025-03", "--currency", "eur", "--dry-run", "--json")
    assert code == 0 and json.loads(out)["currency"] == "EUR", out  # eur is EUR: it allocated nothing before
    code, out = run(ws, "allocate", "--period", "2025-03", "--currency", "euros")
    assert code == 1 and "--currency 'euros' is not an ISO 4217 code" in out, out
    code, out = run(ws, "allocate", "--period", "2025-03", "--currency", "XYZ")
    assert code == 1 and "no cost in XYZ in 2025-03: nothing to allocate" in out, out


def test_several_currencies_need_rates(tmp_path: Path) -> None:
    ws = build_workspace(tmp_path)
    store = open_store(ws / "anatole.db")
    store.insert_calls([call_row(start=paris("2025-03-12"), extension="1002", cost=money("1.00"), currency="GBP",
                                 native_id="gbp")])
    store.close()
    code, out = run(ws, "allocate", "--period", "2025-03", "--json")
    assert code == 1 and "GBP" in out and "exchange_rates" in out
    code, out = run(ws, "allocate", "--period", "2025-03", "--json", "--currency", "GBP", "--dry-run")
    assert code == 0 and json.loads(out)["by_cost_centre"] == {"OPS": "1.00"}
    (ws / "anatole.toml").write_text(CONFIG.replace('gl_account = "6260"',
                                                    'gl_account = "6260"\nexchange_rates = { GBP = "1.1712" }'))
    code, out = run(ws, "allocate", "--period", "2025-03", "--json")
    obj = json.loads(out)
    assert code == 0 and obj["total"] == "70.2712" and obj["by_cost_centre"]["OPS"] == "22.6612"


def test_allocation_config_is_strict(tmp_path: Path) -> None:
    bad = CONFIG + '\n[[allocation.rule]]\nname = "x"\nmethod = "percent"\nshares = { A = 50 }\ncolour = "red"\n'
    with pytest.raises(ConfigError) as exc:
        parse_config(__import__("tomllib").loads(bad), tmp_path)
    text = str(exc.value)
    assert "colour: unknown key" in text and "add up to 50.00, not 100" in text
    with pytest.raises(ConfigError, match="method"):
        parse_config(__import__("tomllib").loads(CONFIG.replace('method = "headcount"', 'method = "magic"')), tmp_path)


def test_rerun_is_stored_and_statements_use_the_latest(ws: Path) -> None:
    run(ws, "allocate", "--period", "2025-03")
    code, out = run(ws, "allocate", "--period", "2025-03", "--json")
    obj = json.loads(out)
    assert code == 0 and obj["run"] == 2 and obj["marked_allocated"] == []  # already allocated
    store = open_store(ws / "anatole.db")
    assert open_invoices(store.conn).invoice(1)["state"] == "allocated"
    store.close()


@given(st.integers(-10**14, 10**14), st.lists(st.integers(0, 10**9), min_size=1, max_size=12))
def test_split_adds_up_exactly_and_is_fair(amount: int, weights: list[int]) -> None:
    if sum(weights) == 0:
        weights[0] = 1
    parts = split(amount, weights)
    assert sum(parts) == amount
    total = sum(weights)
    for w, p in zip(weights, parts):
        exact = amount * w / total  # float only to bound the error, in units of 10**-8
        assert abs(p - exact) <= CENT + abs(amount) % CENT + 1e-6 * abs(amount)
        if w == 0:
            assert p == 0 or abs(p) < CENT  # only the sub-cent rest, and only to the largest weight
    assert all((p >= 0) == (amount >= 0) or p == 0 for p in parts)


def test_split_examples() -> None:
    assert split(100 * SCALE, [1, 1, 1]) == [3334 * CENT, 3333 * CENT, 3333 * CENT]
    assert split(-10 * CENT, [1, 2]) == [-3 * CENT, -7 * CENT]
    assert split(CENT + 5, [0, 3]) == [0, CENT + 5]
    with pytest.raises(ValueError):
        split(1, [0, 0])
