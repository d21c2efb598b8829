"""Alert rules: the `when` language and its errors, each kind evaluated, and alerts end to end (stored, published,
acknowledged by a subscriber, listed by `anatole alerts`)."""

from __future__ import annotations

import json
import os
import pwd
from pathlib import Path

import pytest
import trio
from click.testing import CliRunner
from serve_support import Client, daemon_for, ipo_line, make_workspace, running, send_lines, settle

from anatole.cli import main
from engine.money import SCALE
from pbx.alerts import Evaluator, SiteInfo, parse_rules
from pbx.protocol import Acknowledge, Alert, AlertAcknowledged

PARIS = {"paris": SiteInfo("Europe/Paris", "33")}


def _call(n: int = 1, **over: object) -> dict:
    row = {"id": n, "site": "paris", "extension": "2001", "direction": "outgoing", "cost": 2 * SCALE,
           "currency": "EUR", "start": 1741946400, "answer": 1741946400 + 100 * n, "billable": 60, "duration": 65,
           "billed": 1, "number": "33155501234", "dialled": "90155501234"}
    row.update(over)
    return row


@pytest.mark.parametrize("when, key, words", [
    ("cost > lots", "when", "not an amount"),
    ("cost < 5", "when", "not a condition"),
    ("destination in premium, moon", "when", "'moon'"),
    ("international outside 19:00-08:00", "when", "start before end"),
    ("international outside 08:00-19:00 mon-xyz", "when", "mon..sun"),
])
def test_bad_conditions_name_the_key_and_value(when: str, key: str, words: str) -> None:
    rules, problems = parse_rules([{"name": "r", "when": when}])
    assert not rules and len(problems) == 1
    assert problems[0].key == key and words in problems[0].message and "[[alert]] #1" in problems[0].where


def test_bad_filters() -> None:
    _, problems = parse_rules([{"name": "r", "when": "cost > 1", "extensions": ["12-1"]},
                               {"name": "s", "when": "cost > 1", "notify": ["email"]}])
    assert [p.key for p in problems] == ["extensions", "notify"]


def test_each_kind_fires_only_over_its_threshold() -> None:
    rules, problems = parse_rules([
        {"name": "cost", "when": "cost > 1.5"},
        {"name": "long", "when": "duration >= 1h"},
        {"name": "fraud", "when": "destination in premium, satellite, 1900"},
        {"name": "night", "when": "international outside 08:00-19:00 mon-fri"},
        {"name": "busy", "when": "calls per hour > 2", "extensions": ["2000-2099"]},
        {"name": "spend", "when": "cost per hour > 5"},
        {"name": "burst", "when": "concurrent > 2", "sites": ["paris"]},
    ])
    assert not problems
    ev = Evaluator(rules, PARIS)
    kinds = lambda alerts: sorted(a["rule"] for a in alerts)  # noqa: E731
    assert kinds(ev.call(_call(1))) == ["cost"]  # 2.00 > 1.50, a Friday 11:00 in Paris, national
    assert kinds(ev.call(_call(2, cost=SCALE + SCALE // 2))) == []  # 1.50 is not over 1.50
    assert kinds(ev.call(_call(3, cost=0, duration=3600))) == ["busy", "long"]  # third call of 2001 this hour
    sat = ev.call(_call(5, cost=0, number="881612345678", extension="2400"))
    assert "fraud" in kinds(sat) and any("satellite" in a["message"] for a in sat)
    night = ev.call(_call(6, cost=0, number="4420794600000", start=1741993200, answer=1741993200,
                          extension="2500"))  # 00:00 Saturday in Paris
    assert kinds(night) == ["night"]
    listed = ev.call(_call(7, cost=0, number="19005550100", extension="2600"))
    assert kinds(listed) == ["fraud"]
    # spend: the hour's cost goes over 5.00 once (one alert per extension and hour)
    ev2 = Evaluator([r for r in rules if r.name == "spend"], PARIS)
    fired = [ev2.call(_call(10 + i, extension="2700")) for i in range(4)]
    assert [len(f) for f in fired] == [0, 0, 1, 0] and fired[2][0]["amount"] == 6 * SCALE
    # burst: three outgoing calls talking at the same moment
    ev3 = Evaluator([r for r in rules if r.name == "burst"], PARIS)
    got = [ev3.call(_call(20 + i, answer=1741946405 + i, billable=600)) for i in range(3)]
    assert [len(g) for g in got] == [0, 0, 1]
    assert ev3.active("paris", 3, 1741946400)[0]["kind"] == "concurrent"
    assert ev3.active("paris", 2, 1741946400) == []


def test_incoming_and_unrated_calls_do_not_trip_outgoing_rules() -> None:
    rules, _ = parse_rules([{"name": "fraud", "when": "destination in satellite"},
                            {"name": "cost", "when": "cost > 0"}])
    ev = Evaluator(rules, PARIS)
    assert ev.call(_call(1, direction="incoming", number="881612345678", cost=None)) == []
    assert ev.call(_call(2, cost=5 * SCALE, billed=0)) == []  # a leg whose cost another leg carries


ALERTS = """
[[alert]]
name = "expensive"
when = "cost > 0.01"

[[alert]]
name = "chatty"
when = "calls per hour > 2"
"""


@pytest.mark.trio
async def test_alerts_stored_published_acknowledged_and_listed(tmp_path: Path) -> None:
    root = make_workspace(tmp_path, extra=ALERTS)
    daemon = daemon_for(root)
    with trio.fail_after(20):
        async with running(daemon):
            client = await Client.connect(root / "anatole.sock", ["alerts"])
            await send_lines(daemon.ports["paris-ipo"], [ipo_line(i, seconds=300) for i in range(3)])
            alerts = await client.wait_for(Alert, 4)  # 3 expensive calls + 1 chatty extension
            await settle(daemon, 3)
            assert sorted(a.rule for a in alerts) == ["chatty", "expensive", "expensive", "expensive"]
            first = alerts[0]
            await client.send(Acknowledge(alert=first.id, by="alice"))
            ack = (await client.wait_for(AlertAcknowledged))[0]
            me = pwd.getpwuid(os.getuid()).pw_name  # the socket peer's user, not the name the client sent
            assert (ack.id, ack.by) == (first.id, me)
            await client.aclose()
        # the same records again (a PBX replay): no second alert
        daemon = daemon_for(root)
        async with running(daemon):
            await send_lines(daemon.ports["paris-ipo"], [ipo_line(i, seconds=300) for i in range(3)])
            await settle(daemon, 3)
    result = CliRunner().invoke(main, ["--workspace", str(root), "alerts", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == 4
    acked = [r for r in rows if r["acknowledged_by"]]
    assert [(r["id"], r["acknowledged_by"]) for r in acked] == [(first.id, me)]
    assert all(r["currency"] == "EUR" and r["amount"] > 0 for r in rows if r["rule"] == "expensive")
    result = CliRunner().invoke(main, ["--workspace", str(root), "alerts", "--open"])
    assert result.exit_code == 0 and "chatty" in result.output


@pytest.mark.trio
async def test_rate_windows_survive_a_restart(tmp_path: Path) -> None:
    # 2 calls this hour, a restart, a 3rd call: "calls per hour > 2" fires (the window came back from the store),
    # and after another restart a 4th call raises nothing more (one alert per extension and hour)
    from test_serve_counters import _line

    root = make_workspace(tmp_path, extra='\n[[alert]]\nname = "chatty"\nwhen = "calls per hour > 2"\n')
    lines = [_line(i, "Europe/Paris", "2001", "0155501234", 60 + i) for i in range(4)]
    with trio.fail_after(30):
        for sent in ([lines[0], lines[1]], [lines[2]], [lines[3]]):
            daemon = daemon_for(root)
            async with running(daemon):
                await send_lines(daemon.ports["paris-ipo"], sent)
                await settle(daemon, len(sent))
    result = CliRunner().invoke(main, ["--workspace", str(root), "alerts", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["rule"] for r in rows] == ["chatty"] and "3 calls in one hour" in rows[0]["message"]
