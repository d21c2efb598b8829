"""[[alert]] rules on mobile usage (roaming volume and cost, data volume): parsed with the daemon's rules, raised by
the import into the daemon's alerts table with their deliveries, once per rule, line and month."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from anatole.cli import main
from anatole.config import open_workspace
from engine.money import SCALE
from pbx.alerts import Evaluator, parse_rules, usage_alerts
from store import open_store
from store.live import list_alerts
from store.mobile import open_mobile
from tem.mobile import import_file

DATA = Path(__file__).parent / "data" / "mobile"

RULES = """
[[alert]]
name = "roaming-data"
when = "roaming > 100 MB"
notify = ["monitor", "webhook:https://hooks.example.com/tem"]

[[alert]]
name = "roaming-cost"
when = "roaming cost >= 35.50"

[[alert]]
name = "big-data"
when = "data > 1 GB"
notify = ["webhook:https://hooks.example.com/tem"]
"""


def test_rules_parse_with_clear_errors() -> None:
    rules, problems = parse_rules([{"name": "a", "when": "Roaming > 50 MB"}, {"name": "b", "when": "data > 10 GB"},
                                   {"name": "c", "when": "roaming cost > 20"}])
    assert not problems
    assert [(r.kind, r.threshold, r.money) for r in rules] == [
        ("roaming", 50 * 10**6, False), ("data", 10 * 10**9, False), ("roaming", 20 * SCALE, True)]
    _, problems = parse_rules([{"name": "d", "when": "data > 10"}, {"name": "e", "when": "data > 10 parsecs"},
                               {"name": "f", "when": "roaming cost > lots"},
                               {"name": "g", "when": "roaming > 1 MB", "sites": ["paris"]}])
    text = "\n".join(str(p) for p in problems)
    assert "#1: when: 'data > 10': a volume needs its unit: B, KB, MB, GB or TB" in text
    assert "#2: when: 'data > 10 parsecs': a volume needs its unit" in text
    assert "#3: when: 'roaming cost > lots': 'lots' is not an amount" in text
    assert "#4: sites: a roaming rule watches every mobile line" in text
    # the daemon's evaluator ignores them (usage is not a call)
    assert Evaluator(rules, {}).rules == []


def test_usage_alerts_threshold_and_message() -> None:
    rules, _ = parse_rules([{"name": "r", "when": "roaming > 1 MB"}, {"name": "d", "when": "data >= 2 MB"}])
    totals = {("336", "2026-10"): {"roaming_bytes": 1_000_000, "roaming_cost": 0, "data_bytes": 2_000_000,
                                   "currency": "EUR"},
              ("337", "2026-10"): {"roaming_bytes": 1_000_001, "roaming_cost": 0, "data_bytes": 5, "currency": "EUR"}}
    got = usage_alerts(rules, totals, 1000)
    assert [(a["rule"], a["extension"], a["dedup"]) for a in got] == [("r", "337", "r:roaming:337:2026-10"),
                                                                      ("d", "336", "d:data:336:2026-10")]
    assert got[0]["message"] == "r: line 337: 1.0 MB of roaming data in 2026-10 (over 1.0 MB)"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    (tmp_path / "anatole.toml").write_text((DATA / "profiles.toml").read_text(encoding="utf-8") + RULES,
                                           encoding="utf-8")
    shutil.copy(DATA / "fr-detail-2026-10.csv", tmp_path / "fr.csv")
    return tmp_path


def test_import_raises_stored_alerts_with_deliveries_once(ws: Path) -> None:
    w = open_workspace(ws)
    rules, problems = parse_rules(w.alerts)
    assert not problems
    store = open_store(w.db_path)
    m = open_mobile(store.conn)
    r = import_file(m, ws / "fr.csv", profiles=w.mobile_profiles, rules=rules, delivery=w.delivery)
    # 33612345678: 102,400 KiB of roaming data billed 35.50, 626,688 KiB of data in all (under 1 GB)
    assert sorted((a["rule"], a["extension"]) for a in r["raised"]) == [("roaming-cost", "33612345678"),
                                                                        ("roaming-data", "33612345678")]
    stored = {a["rule"]: a for a in list_alerts(store)}
    assert set(stored) == {"roaming-cost", "roaming-data"}
    assert stored["roaming-cost"]["amount"] == 3550 * SCALE // 100 and stored["roaming-cost"]["currency"] == "EUR"
    assert stored["roaming-data"]["kind"] == "roaming" and stored["roaming-data"]["severity"] == "warning"
    deliveries = store.conn.execute("SELECT alert_id, target, state FROM deliveries").fetchall()
    assert deliveries == [(stored["roaming-data"]["id"], "webhook:https://hooks.example.com/tem", "pending")]
    again = import_file(m, ws / "fr.csv", profiles=w.mobile_profiles, rules=rules, delivery=w.delivery)
    assert again["raised"] == []
    assert len(list(list_alerts(store))) == 2
    assert store.conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0] == 1


def test_cli_import_and_alerts_list(ws: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["--workspace", str(ws), "mobile", "import", str(ws / "fr.csv")])
    assert res.exit_code == 0, res.output
    assert "roaming-data: line 33612345678: 104.8 MB of roaming data in 2026-10 (over 100.0 MB)" in res.output
    res = runner.invoke(main, ["--workspace", str(ws), "alerts", "--json"])
    assert res.exit_code == 0, res.output
    assert {a["rule"] for a in json.loads(res.output)} == {"roaming-data", "roaming-cost"}
    (ws / "anatole.toml").write_text((ws / "anatole.toml").read_text() + '\n[[alert]]\nname = "x"\n'
                                     'when = "data > 5 furlongs"\n', encoding="utf-8")
    res = runner.invoke(main, ["--workspace", str(ws), "mobile", "import", str(ws / "fr.csv")])
    assert res.exit_code != 0 and "a volume needs its unit" in res.output and "Traceback" not in res.output


@pytest.mark.trio
async def test_a_running_daemon_publishes_the_import_alerts_to_the_console(tmp_path: Path) -> None:
    """The console's alert list is the daemon's stream: alerts a mobile import stored reach it (and the open count)
    at the daemon's next look; its own alerts are not published twice."""
    import trio
    from serve_support import Client, daemon_for, ipo_line, make_workspace, running, send_lines

    from pbx.protocol import Alert

    root = make_workspace(tmp_path, extra=(DATA / "profiles.toml").read_text(encoding="utf-8") + RULES
                          + '\n[[alert]]\nname = "expensive"\nwhen = "cost > 0.01"\n')
    shutil.copy(DATA / "fr-detail-2026-10.csv", root / "fr.csv")
    w = open_workspace(root)
    rules, _ = parse_rules(w.alerts)
    with trio.fail_after(20):
        async with running(daemon_for(root, alerts_poll=0.05)) as daemon:
            client = await Client.connect(root / "anatole.sock", ["alerts"])
            await send_lines(daemon.ports["paris-ipo"], [ipo_line(1, seconds=300)])  # the daemon's own alert

            def mobile_import() -> dict:
                store = open_store(w.db_path)
                try:
                    return import_file(open_mobile(store.conn), root / "fr.csv", profiles=w.mobile_profiles,
                                       rules=rules, delivery=w.delivery)
                finally:
                    store.close()

            raised = await trio.to_thread.run_sync(mobile_import)
            assert len(raised["raised"]) == 2
            got = await client.wait_for(Alert, 3)
            assert sorted(a.rule for a in got) == ["expensive", "roaming-cost", "roaming-data"]
            while daemon.alerts_open < 3:
                await trio.sleep(0.01)
            await send_lines(daemon.ports["paris-ipo"], [ipo_line(2, seconds=300)])
            later = await client.wait_for(Alert)
            assert later[0].rule == "expensive" and later[0].id not in {a.id for a in got}  # nothing twice
            await client.aclose()
