"""Mobile plan catalogues, the bulk evaluation (numpy) against the plain Python reference, and right-sizing."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from anatole.cli import main
from engine.money import ROUNDING_MODES, SCALE
from tem.mobile_plans import (
    RATE_KEYS,
    UNLIMITED,
    Plan,
    PlanError,
    evaluate,
    load_catalogue,
    load_catalogues,
    plan_set,
    reference_cost,
)

DATA = Path(__file__).parent / "data" / "mobile"
EUR = SCALE
CENT = SCALE // 100


def test_catalogues_load_with_versions() -> None:
    plans = load_catalogues([DATA / "orange-plans.toml", DATA / "vodafone-plans.toml"])
    assert {(p.carrier, p.code) for p in plans} >= {("Orange Business", "PRO-5"), ("Vodafone UK", "RED-L")}
    pro5 = [p for p in plans if p.code == "PRO-5"]
    assert [(p.valid_from, p.valid_to, p.fee) for p in pro5] == [("2024-01-01", "2026-07-01", 15 * EUR),
                                                                ("2026-07-01", None, 14 * EUR)]
    ps = plan_set(plans, ["2026-06", "2026-07"])
    i = ps.keys.index(("Orange Business", "PRO-5"))
    assert ps.fee[i].tolist() == [15 * EUR, 14 * EUR]  # each month with the version in force
    red = next(p for p in plans if p.code == "RED-L")
    assert (red.minutes, red.mode, red.currency) == (UNLIMITED, "half_even", "GBP")


def test_catalogue_errors_name_file_line_and_key(tmp_path: Path) -> None:
    (tmp_path / "p.toml").write_text('carrier = "X"\ncurrency = "EUR"\nplans = "p.csv"\n'
                                     'rounding = { decimals = 2, mode = "nearest" }\n')
    (tmp_path / "p.csv").write_text(
        "code,name,monthly_fee,minutes,sms,data_mb,valid_from,valid_to\n"
        "A,A,10.00,100,unlimited,1000,2026-01-01,\n"
        "A,A,11.00,100,unlimited,1000,2026-06-01,\n"
        "B,B,1O.00,-5,lots,1000,2026-01-01,2025-01-01\n")
    with pytest.raises(PlanError) as exc:
        load_catalogue(tmp_path / "p.toml")
    text = "\n".join(exc.value.problems)
    assert "rounding.mode: 'nearest'" in text
    assert "p.csv: line 4: monthly_fee: '1O.00' is not a decimal number" in text
    assert "line 4: minutes: '-5'" in text and "line 4: sms: 'lots'" in text
    assert "line 4: valid_to: 2025-01-01 is not after valid_from 2026-01-01" in text
    assert "plan A: version from 2026-01-01 overlaps the version from 2026-06-01" in text


def _plan(fee: int, allow: tuple[int, int, int], rates: tuple[int, ...], decimals: int = 2, mode: str = "half_up",
          pooled: bool = False) -> Plan:
    return Plan(carrier="C", contract="K", currency="EUR", code=f"P{fee}-{allow}-{rates}-{decimals}-{mode}",
                name="p", fee=fee, minutes=allow[0], sms=allow[1], data_mb=allow[2], pooled=pooled, rates=rates,
                valid_from="2020-01-01", valid_to=None, decimals=decimals, mode=mode)


def test_worked_month() -> None:
    # 130 min 1 s at home (121 s over 120 min -> 10 min 1 s over: 11 started minutes x 0.20), 5,000,000,001 bytes
    # (1 byte over 5000 MB: 1 started MB x 0.01), world: 61 s (2 min x 1.50) and 1 byte (1 MB x 0.35)
    p = _plan(15 * EUR, (120, UNLIMITED, 5000), (20 * CENT, 10 * CENT, 1 * CENT, 150 * CENT, 50 * CENT, 35 * CENT))
    usage = (130 * 60 + 1, 999, 5_000_000_001, 61, 0, 1)
    expected = 15 * EUR + 11 * 20 * CENT + 1 * CENT + 2 * 150 * CENT + 35 * CENT
    assert reference_cost(usage, p) == expected
    ps = plan_set([p], ["2026-10"])
    got = evaluate(np.array(usage, np.int64).reshape(6, 1, 1), np.ones(1, np.int64), ps)
    assert got.tolist() == [[[expected]]]


def test_named_rounding_of_a_line_month() -> None:
    # 0.125 EUR per message, 1 message over: 10.125 -> half_up 10.13, half_even 10.12, down 10.12, up 10.13
    for mode, want in (("half_up", 1013), ("half_even", 1012), ("down", 1012), ("up", 1013)):
        p = _plan(10 * EUR, (0, 0, 0), (0, 125 * SCALE // 1000, 0, 0, 0, 0), mode=mode)
        assert reference_cost((0, 1, 0, 0, 0, 0), p) == want * CENT
        got = evaluate(np.array([0, 1, 0, 0, 0, 0], np.int64).reshape(6, 1, 1), np.ones(1, np.int64),
                       plan_set([p], ["2026-10"]))
        assert int(got[0, 0, 0]) == want * CENT, mode


allowances = st.one_of(st.just(UNLIMITED), st.integers(0, 5000))
money = st.integers(0, 5 * EUR)
plans_st = st.builds(
    _plan, fee=st.integers(0, 80 * EUR), allow=st.tuples(allowances, allowances, allowances),
    rates=st.tuples(*[money] * len(RATE_KEYS)), decimals=st.integers(0, 8), mode=st.sampled_from(ROUNDING_MODES),
    pooled=st.booleans())
usage_st = st.tuples(st.integers(0, 400_000), st.integers(0, 5000), st.integers(0, 200 * 10**9),
                     st.integers(0, 40_000), st.integers(0, 500), st.integers(0, 5 * 10**9))


@settings(max_examples=60, deadline=None)
@given(plans=st.lists(plans_st, min_size=1, max_size=4, unique_by=lambda p: p.code),
       rows=st.lists(st.tuples(st.integers(1, 60), st.lists(usage_st, min_size=2, max_size=2)), min_size=1,
                     max_size=5))
def test_bulk_evaluation_matches_the_python_reference(plans: list[Plan], rows: list) -> None:
    months = ["2026-09", "2026-10"]
    usage = np.array([[[u[m][c] for m in range(2)] for _, u in rows] for c in range(6)], np.int64)
    counts = np.array([n for n, _ in rows], np.int64)
    ps = plan_set(plans, months)
    got = evaluate(usage, counts, ps, block=2)  # small blocks: the block edges are exercised too
    for r, (n, u) in enumerate(rows):
        for pi, key in enumerate(ps.keys):
            plan = next(p for p in plans if (p.carrier, p.code) == key)
            for m in range(2):
                assert int(got[r, pi, m]) == reference_cost(u[m], plan, n)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    for f in DATA.iterdir():
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "anatole.toml").write_text(
        (DATA / "profiles.toml").read_text(encoding="utf-8") +
        '\n[mobile]\nplans = ["orange-plans.toml", "vodafone-plans.toml"]\nmonths = 1\n', encoding="utf-8")
    runner = CliRunner()
    res = runner.invoke(main, ["--workspace", str(tmp_path), "mobile", "import",
                               str(tmp_path / "fr-detail-2026-10.csv"), str(tmp_path / "uk-itemised-2026-10.csv")])
    assert res.exit_code == 0, res.output
    return tmp_path


def test_rightsize_lines_and_pools(ws: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["--workspace", str(ws), "mobile", "rightsize", "--all", "--json"])
    assert res.exit_code == 0, res.output
    import json

    out = json.loads(res.output)
    by_line = {r["line"]: r for r in out["lines"]}
    # PRO-20 line: 2 MMS at home, unlimited messages: 25.00 on PRO-20; on PRO-5 14.00 (Oct 2026 version)
    r = by_line["33698765432"]
    assert (r["plan"], r["current_cost"], r["best_plan"], r["best_cost"], r["saving"]) == \
        ("PRO-20", "25.00", "PRO-5", "14.00", "11.00")
    # PRO-5 line: 100 MiB of world data = 104.8576 MB -> 105 started MB x 0.35 = 36.75, + 14.00 on PRO-5
    r = by_line["33612345678"]
    # (PRO-20: 25.00 + 105 x 0.30 = 56.50; PRO-100: 39.00 + 105 x 0.20 = 60.00): it is on the right plan
    assert (r["current_cost"], r["best_plan"], r["best_cost"], r["saving"]) == ("50.75", "PRO-5", "50.75", "0.00")
    assert out["saving_total"]["EUR"] == "11.00"
    pool = next(p for p in out["pools"] if p["carrier"] == "Orange Business")
    assert pool["lines"] == 2 and pool["best_pooled_plan"] == "POOL-SHARE"
    # the pool: 2 x 12.00 with 2 x the allowances; only the world data is billed: 105 started MB x 0.30 = 31.50;
    # against the lines' best individual plans 50.75 + 14.00
    assert (pool["best_pooled_cost"], pool["individual_cost"], pool["pooled_saving"]) == ("55.50", "64.75", "9.25")
    assert by_line["447700900123"]["currency"] == "GBP" and by_line["447700900123"]["best_plan"] in ("RED-S", "RED-L")


def test_cli_lines_and_plans(ws: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["--workspace", str(ws), "mobile", "plans"])
    assert res.exit_code == 0 and "POOL-SHARE" in res.output and "unlimited" in res.output
    res = runner.invoke(main, ["--workspace", str(ws), "mobile", "lines", "--json"])
    assert res.exit_code == 0, res.output
    import json

    view = json.loads(res.output)
    assert view["month"] == "2026-10"
    line = next(x for x in view["lines"] if x["line"] == "33698765432")
    assert (line["plan"], line["sms"], line["suggested"], line["saving"]) == ("PRO-20", "2/unl.", "PRO-5", "11.00")
    res = runner.invoke(main, ["--workspace", str(ws), "mobile", "lines"])
    assert res.exit_code == 0 and "33698765432" in res.output
    for month in ("abc", "2026-13"):  # said, where it showed "no usage" and exited 0
        res = runner.invoke(main, ["--workspace", str(ws), "mobile", "lines", "--month", month])
        assert res.exit_code == 1 and f"--month {month!r} is not a month (YYYY-MM)" in res.output, res.output


def test_rightsize_says_which_lines_it_cannot_price(ws: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["--workspace", str(ws), "mobile", "import", str(ws / "generic-2026-10.csv")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["--workspace", str(ws), "mobile", "rightsize"])
    assert res.exit_code == 0, res.output
    assert "no plan catalogue for Generic Mobile" in res.output.replace("\n", " ")
    res = runner.invoke(main, ["--workspace", str(ws), "mobile", "rightsize", "--last", "2026-13"])
    assert res.exit_code == 1 and "not a month" in res.output


def test_mobile_months_beyond_three_years_is_a_config_problem(tmp_path: Path) -> None:
    from anatole.config import ConfigError, open_workspace

    (tmp_path / "anatole.toml").write_text('[mobile]\nmonths = 1000000\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[mobile\]: months: 1000000: at most 36 months"):
        open_workspace(tmp_path)
    (tmp_path / "anatole.toml").write_text('[mobile]\nmonths = 36\n', encoding="utf-8")
    assert open_workspace(tmp_path).mobile.months == 36


def test_assign_needs_a_plan_of_the_catalogues(ws: Path) -> None:
    runner = CliRunner()
    (ws / "fleet.csv").write_text("line,carrier,plan\n+33 6 12 34 56 78,Orange Business,PRO-2O\n")  # O for 0
    res = runner.invoke(main, ["--workspace", str(ws), "mobile", "assign", str(ws / "fleet.csv")])
    assert res.exit_code == 1, res.output
    assert "line 2: plan 'PRO-2O' of carrier 'Orange Business' is in no catalogue" in res.output.replace("\n", "")
    (ws / "fleet.csv").write_text("line,carrier,plan\n+33 6 12 34 56 78,Orange Business,PRO-20\n")
    res = runner.invoke(main, ["--workspace", str(ws), "mobile", "assign", str(ws / "fleet.csv")])
    assert res.exit_code == 0 and "1 line(s) assigned a plan" in res.output, res.output
