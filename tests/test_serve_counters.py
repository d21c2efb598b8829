"""Live counters per currency (issue 13 item 9): a site's costs in two currencies, or two sites in two currencies,
are never added; today's and this hour's totals come back from the store after a restart."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import trio
from click.testing import CliRunner
from serve_support import SAMPLES, daemon_for, make_workspace, running, send_lines, settle

from anatole.cli import main

LONDON = """
[[site]]
name = "london"
country = "GB"
timezone = "Europe/London"
outside_prefix = "9"
national_prefix = "0"
international_prefix = "00"
extensions = ["3000-3999"]
tariff = "tariffs/uk-business.toml"

[[source]]
name = "paris-ipo"
site = "paris"
format = "avaya-ipo"
listen = "127.0.0.1:0"

[[source]]
name = "london-ipo"
site = "london"
format = "avaya-ipo"
listen = "127.0.0.1:0"
"""


def _line(n: int, zone: str, ext: str, number: str, seconds: int) -> str:
    """An outgoing IP Office record that started at the top of the current hour (local time of the site)."""
    start = dt.datetime.now(ZoneInfo(zone)).replace(minute=0, second=0, microsecond=0)
    h, rest = divmod(seconds, 3600)
    return (f"{start:%Y/%m/%d %H:%M:%S},{h:02d}:{rest // 60:02d}:{rest % 60:02d},3,{ext},O,{number},9{number},,0,"
            f"{3000000 + n},0,E{ext},User {ext},T9001,Line 1.3,0,0,,,,,,,,,,,,,,10.1.20.5,3301,10.1.20.5,3302")


def _totals(root: Path, since: int) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    with sqlite3.connect(root / "anatole.db") as conn:
        for site, currency, cost in conn.execute(
                "SELECT site, currency, SUM(cost) FROM calls WHERE billed = 1 AND cost > 0 AND start >= ? "
                "GROUP BY site, currency", (since,)):
            out.setdefault(site, {})[currency] = cost
    return out


@pytest.mark.trio
async def test_counters_are_per_currency_and_survive_a_restart(tmp_path: Path) -> None:
    root = make_workspace(tmp_path, sources=LONDON)
    for ext in (".toml", ".csv"):
        shutil.copy(SAMPLES / f"uk-business{ext}", root / "tariffs" / f"uk-business{ext}")
    hour = int(dt.datetime.now(dt.timezone.utc).timestamp()) // 3600
    daemon = daemon_for(root)
    with trio.fail_after(20):
        async with running(daemon):
            await send_lines(daemon.ports["paris-ipo"],
                             [_line(i, "Europe/Paris", "2001", "0155501234", 61 + 7 * i) for i in range(3)])
            await send_lines(daemon.ports["london-ipo"],
                             [_line(10 + i, "Europe/London", "3001", "02079460123", 95 + 11 * i) for i in range(2)])
            await settle(daemon, 5)
            before = daemon.counters()
            status = await trio.to_thread.run_sync(
                lambda: CliRunner().invoke(main, ["--workspace", str(root), "status", "--json"]))
            text = await trio.to_thread.run_sync(
                lambda: CliRunner().invoke(main, ["--workspace", str(root), "status"]))
    expected = _totals(root, hour * 3600 - 86400)
    assert set(expected) == {"paris", "london"} and set(expected["paris"]) == {"EUR"}
    assert set(expected["london"]) == {"GBP"}
    assert before.costs_today == expected and before.calls_today == 5
    assert before.cost_today == {"paris": expected["paris"]["EUR"], "london": 0}  # v1 field: EUR only
    assert json.loads(status.output)["counters"]["costs_today"] == expected
    assert text.exit_code == 0, text.output
    line = next(x for x in text.output.splitlines() if x.startswith("cost today:"))
    assert " EUR" in line and " GBP" in line and "london" in line and "paris" in line
    daemon = daemon_for(root)
    async with running(daemon):
        after = daemon.counters()
    assert after.costs_today == before.costs_today and after.calls_today == 5
    if int(dt.datetime.now(dt.timezone.utc).timestamp()) // 3600 == hour:  # (the hour did not turn meanwhile)
        assert before.costs_this_hour == expected
        assert after.costs_this_hour == expected  # loaded from the store, not 0.00 after a restart
