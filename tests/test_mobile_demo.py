"""The demo's mobile fleet: three carriers' usage files in their own layouts, imported with nothing rejected;
the planted wrong plans, unused lines, roaming and billed-although-included usage found; the same on a re-run."""

from __future__ import annotations

from pathlib import Path

from anatole.demo import calls as demo
from anatole.demo import mobile as demomobile
from engine.money import parse_money


def test_demo_fleet_is_right_sized_and_audited(tmp_path: Path) -> None:
    ws = demo.create_workspace(tmp_path / "ws")
    s = demomobile.run_in_workspace(ws, "2026-10", 7)
    assert s["lines"] == sum(c.lines for c in demomobile.CARRIERS)
    assert all(i["rejected"] == 0 and i["read"] > 0 for i in s["imports"])
    assert s["records"] == sum(i["read"] for i in s["imports"])
    wrong = {r["line"]: (r["plan"], r["best_plan"]) for r in s["wrong_plan"]}
    for c in demomobile.CARRIERS:
        for i, (user, large) in demomobile.PLANTED[c.site].items():
            line = str(c.first + i)
            if user == "heavy" and not large:
                assert wrong[line] == (c.small, c.large), line
            if user == "light" and large:
                assert wrong[line] == (c.large, c.small), line
    assert set(s["saving"]) == {"EUR", "GBP", "USD"} and all(parse_money(v) > 0 for v in s["saving"].values())
    f = s["findings"]
    assert f["ZERO-USE"]["findings"] == sum(u == "unused" for p in demomobile.PLANTED.values()
                                            for u, _ in p.values())
    assert f["ZERO-USE"]["at_stake"] == {"EUR": "43.00", "GBP": "12.00", "USD": "30.00"}  # their monthly fees
    assert f["ALERT-ROAMING"]["findings"] == 1 and "GBP" in f["ALERT-ROAMING"]["at_stake"]
    usage, _ = demomobile.generate("2026-10", 7)
    site, i = demomobile.BILLED_INCLUDED
    c = next(c for c in demomobile.CARRIERS if c.site == site)
    planted = [r for r in usage[site] if r["line"] == str(c.first + i) and r["amount"]]
    assert planted and all(r["kind"] == "voice" and r["amount"] == 20 * 10**6 for r in planted)  # 0.20 each
    assert f["OVERAGE-INCLUDED"] == {"findings": 1, "at_stake": {"EUR": f"{len(planted) * 20 // 100}."
                                                                        f"{len(planted) * 20 % 100:02d}"}}
    assert demomobile.run_in_workspace(ws, "2026-10", 7) == s  # a second run imports duplicates only
