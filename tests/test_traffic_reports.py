"""The traffic reports that cost nothing, on hand-built calls in a real SQLite store: incoming calls answered,
missed and abandoned per extension, hunt group and hour (legs of a call folded; ring time to the first answer;
misses outside each site's business hours in its own time zone, across the spring-forward Sunday), internal
who-calls-whom, and trunk occupancy with Erlang B (checked against a direct formula and published tables)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_allocation import run

from anatole.config import ConfigError, open_workspace, parse_config
from store import CALL_COLUMNS, open_store
from store.inventory import open_inventory
from store.reports import open_queries
from tem.reports import REPORTS, Context, _p90, build, erlang_b, lines_needed, parse_hours, to_csv

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
CONFIG = """
[workspace]
currency = "EUR"

[reports]
business_hours = "09:00-18:00"
top = 2

[[site]]
name = "paris"
country = "FR"
timezone = "Europe/Paris"
extensions = ["1000-1999"]
business_hours = "mon-sun 08:00-18:00"
trunk_lines = { T1 = 15, T9 = 4 }
hunt_groups = { sales = ["1100-1109"] }

[[site]]
name = "ny"
country = "US"
timezone = "America/New_York"
extensions = ["3000-3999"]
"""


def at(zone: ZoneInfo, day: str, hm: str = "10:00") -> int:
    return int(dt.datetime.fromisoformat(f"{day}T{hm}").replace(tzinfo=zone).timestamp())


def utc(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).timestamp())


_seq = iter(range(1, 10**6))


def leg(start: int, ext: str, disposition: str = "answered", *, ring: int | None = 0, talk: int = 60,
        direction: str = "incoming", grp: str | None = None, site: str = "paris", trunk: str = "",
        dialled: str = "", duration: int | None = None) -> tuple[Any, ...]:
    """One call row: answered legs ring `ring` seconds (None: no answer time) then talk; others last `duration`."""
    n = next(_seq)
    answered = disposition == "answered"
    answer = start + ring if answered and ring is not None else None
    if not answered:
        talk = 0
    values = {"source": f"{site}-pbx", "site": site, "line": n, "native_id": str(n), "leg": "", "grp": grp or "",
              "start": start, "answer": answer, "duration": duration if duration is not None else (ring or 0) + talk,
              "billable": talk, "direction": direction, "disposition": disposition, "extension": ext, "trunk": trunk,
              "caller": "0155501234" if direction == "incoming" else ext, "dialled": dialled, "called": "",
              "number_kind": "external", "billed": 1, "status": direction}
    return tuple(values.get(c) for c in CALL_COLUMNS)


def calls() -> list[tuple[Any, ...]]:
    p = PARIS
    rows = [
        # 1001: two answered (rings 5 and 12), one rang out (missed), one the caller dropped after 4 s (abandoned)
        leg(at(p, "2025-03-10"), "1001", ring=5),
        leg(at(p, "2025-03-11"), "1001", ring=12),
        leg(at(p, "2025-03-12"), "1001", "no_answer", duration=30),
        leg(at(p, "2025-03-12", "10:30"), "1001", "no_answer", duration=4),
        # 1002: busy (a short busy is missed, not abandoned) and an answered call without an answer time
        leg(at(p, "2025-03-13"), "1002", "busy", duration=2),
        leg(at(p, "2025-03-14", "11:00"), "1002", ring=None),
        # the sales hunt group rang 1100, 1101, 1102 at once; 1101 answered after 8 s: one call, answered by 1101
        leg(at(p, "2025-03-17"), "1100", "no_answer", grp="H1", duration=20),
        leg(at(p, "2025-03-17"), "1101", ring=8, grp="H1"),
        leg(at(p, "2025-03-17"), "1102", "no_answer", grp="H1", duration=8),
        # ... and on Saturday 29 March at 07:30 (before opening) nobody answered: missed after hours
        leg(at(p, "2025-03-29", "07:30"), "1100", "no_answer", grp="H2", duration=25),
        leg(at(p, "2025-03-29", "07:30"), "1101", "no_answer", grp="H2", duration=25),
        # Sunday 30 March, clocks go forward at 01:00 UTC: 06:30 UTC is 08:30 CEST (open), 16:30 UTC is 18:30 CEST
        # (closed); a fixed UTC+1 would say the opposite of both
        leg(utc("2025-03-30T06:30"), "1003", "no_answer", duration=30),
        leg(utc("2025-03-30T16:30"), "1006", "no_answer", duration=30),
        # a call answered by 1004 and transferred to 1005: one call of 1004's, not a hunt
        leg(at(p, "2025-03-18"), "1004", ring=3, grp="T1", talk=57),
        leg(at(p, "2025-03-18") + 60, "1005", ring=2, grp="T1"),
        # two extensions of no configured group rang; 1201 answered after 6 s
        leg(at(p, "2025-03-19"), "1200", "no_answer", grp="H3", duration=15),
        leg(at(p, "2025-03-19"), "1201", ring=6, grp="H3"),
        # the local month: 00:30 on 1 March is in March (23:30 UTC on 28 February), 00:30 on 1 April is not
        leg(at(p, "2025-03-01", "00:30"), "1009", ring=7),
        leg(at(p, "2025-04-01", "00:30"), "1009", ring=7),
        # internal: 1001 -> 1002 three times (two answered), 1002 -> 1001 once, 1003 -> 1001 unanswered
        leg(at(p, "2025-03-10", "14:00"), "1001", direction="internal", dialled="1002", talk=60),
        leg(at(p, "2025-03-11", "14:00"), "1001", direction="internal", dialled="1002", talk=120),
        leg(at(p, "2025-03-12", "14:00"), "1001", "no_answer", direction="internal", dialled="1002", duration=20),
        leg(at(p, "2025-03-12", "15:00"), "1002", direction="internal", dialled="1001", talk=30),
        leg(at(p, "2025-03-12", "16:00"), "1003", "no_answer", direction="internal", dialled="1001", duration=9),
        # New York (EDT since 9 March): Monday 10 March 13:30 UTC is 09:30, open (08:30 in EST would be closed)
        leg(utc("2025-03-10T13:30"), "3001", "no_answer", site="ny", duration=30),
        leg(at(NEW_YORK, "2025-03-15"), "3001", "no_answer", site="ny", duration=30),  # a Saturday
    ]
    # trunk T1: 20 calls of 30 minutes each starting in the 10:00 UTC hour of 5 March: 10 erlangs, all at once
    base = utc("2025-03-05T10:00")
    rows += [leg(base + 10 * i, "1500", ring=0, talk=1800, direction="outgoing", trunk="T1") for i in range(20)]
    # trunk T2 (no lines configured): one call of 6 minutes: 0.1 erlang
    rows.append(leg(utc("2025-03-06T09:00"), "1501", ring=0, talk=360, direction="outgoing", trunk="T2"))
    return rows


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("traffic")
    (path / "anatole.toml").write_text(CONFIG)
    store = open_store(path / "anatole.db")
    store.insert_calls(calls())
    store.close()
    return path


def report(ws: Path, name: str, period: str = "2025-03") -> Any:
    store = open_store(ws / "anatole.db")
    try:
        return build(Context(open_workspace(ws), open_queries(store.conn), open_inventory(store.conn)), name,
                     period)
    finally:
        store.close()


def test_incoming_by_extension(ws: Path) -> None:
    r = report(ws, "incoming")
    rows = {(row[0], row[1]): row[2:] for row in r.rows}
    #                   calls ans missed aband  ans%   avg   p90 after
    assert rows[("paris", "1001")] == [4, 2, 1, 1, "50.0", "8.5", 12, 0]
    assert rows[("paris", "1002")] == [2, 1, 1, 0, "50.0", None, None, 0]  # no answer time: no ring figure
    assert rows[("paris", "1101")] == [1, 1, 0, 0, "100.0", "8.0", 8, 0]
    assert rows[("paris", "1100")] == [1, 0, 1, 0, "0.0", None, None, 1]
    assert rows[("paris", "1003")] == [1, 0, 1, 0, "0.0", None, None, 0]  # 08:30 CEST: open
    assert rows[("paris", "1006")] == [1, 0, 1, 0, "0.0", None, None, 1]  # 18:30 CEST: closed
    assert rows[("paris", "1004")] == [1, 1, 0, 0, "100.0", "3.0", 3, 0]
    assert rows[("paris", "1009")] == [1, 1, 0, 0, "100.0", "7.0", 7, 0]  # 1 April left out
    assert ("paris", "1005") not in rows and ("paris", "1102") not in rows and ("paris", "1200") not in rows
    assert rows[("ny", "3001")] == [2, 0, 2, 0, "0.0", None, None, 1]
    # paris 13 calls + ny 2; every call is exactly one of answered, missed, abandoned
    assert rows[("total", "")] == [15, 7, 7, 1, "46.7", "6.8", 12, 3]
    assert r.rows[-1][0] == "total" and r.rows[0][:2] == ["paris", "1001"]  # busiest first
    assert [row[1] for row in r.rows[1:5]] == ["3001", "1002", "1003", "1006"]  # then by missed, site, extension
    assert "paris: 13 incoming call(s), 7 answered (53.8 %), 5 missed (2 outside business hours), 1 abandoned" \
        in r.notes
    text = to_csv(r)
    assert list(csv.reader(io.StringIO(text)))[1] == ["paris", "1001", "4", "2", "1", "1", "50.0", "8.5", "12",
                                                      "0"]


def test_abandon_threshold_is_a_setting(tmp_path: Path, ws: Path) -> None:
    (tmp_path / "anatole.toml").write_text(CONFIG.replace("top = 2", "top = 2\nabandon_seconds = 31"))
    (tmp_path / "anatole.db").write_bytes((ws / "anatole.db").read_bytes())
    rows = {(row[0], row[1]): row[2:6] for row in report(tmp_path, "incoming").rows}
    # every no-answer call rang at most 30 s: all abandoned now; busy stays missed
    assert rows[("paris", "1001")] == [4, 2, 0, 2] and rows[("paris", "1002")] == [2, 1, 1, 0]


def test_incoming_by_hunt_group(ws: Path) -> None:
    r = report(ws, "incoming-groups")
    assert [row[:3] for row in r.rows] == [["paris", "sales", "1100-1109"], ["paris", "(rang 2)", "1200,1201"]]
    assert r.rows[0][3:] == [2, 1, 1, 0, "50.0", "8.0", 8, 1]
    assert r.rows[1][3:] == [1, 1, 0, 0, "100.0", "6.0", 6, 0]


def test_incoming_by_hour_in_local_time(ws: Path) -> None:
    r = report(ws, "incoming-hours")
    rows = {row[0]: row[1:5] for row in r.rows}
    assert len(r.rows) == 24
    assert rows["10:00"] == [9, 5, 3, 1]  # 1001 x4, 1002 busy, H1, T1, H3, and New York's Saturday at 10:00
    assert rows["08:00"] == [1, 0, 1, 0]  # 08:30 CEST on the Sunday of the change
    assert rows["18:00"] == [1, 0, 1, 0]
    assert rows["09:00"] == [1, 0, 1, 0]  # New York 09:30 EDT
    assert rows["07:00"] == [1, 0, 1, 0] and rows["00:00"] == [1, 1, 0, 0]
    assert sum(row[1] for row in r.rows) == 15


def test_internal_pairs(ws: Path) -> None:
    r = report(ws, "internal")
    # top = 2: the busiest pair, then of the two one-call pairs the one with more minutes
    assert r.rows == [["paris", "1001", "1002", 3, 2, 180], ["paris", "1002", "1001", 1, 1, 30]]
    assert "paris: 5 internal call(s) between 3 pair(s), 3 answered, 3.5 minutes; the top 2 pairs shown" in r.notes


def test_trunks_erlang_b(ws: Path) -> None:
    r = report(ws, "trunks")
    rows = {row[1]: row for row in r.rows}
    assert rows["T1"] == ["paris", "T1", 20, 36000, "2025-03-05 11:00", "10.000", 20, 15, "3.65", 18]
    assert rows["T2"] == ["paris", "T2", 1, 360, "2025-03-06 10:00", "0.100", 1, None, None, 2]
    assert rows["T9"] == ["paris", "T9", 0, 0, "", "0.000", 0, 4, "0.00", 0]  # configured, carried nothing
    assert "no trunk_lines set for: paris/T2" in r.notes and "no traffic on: paris/T9" in r.notes
    # the same busy hour as trunk-usage
    usage = {row[1]: row for row in report(ws, "trunk-usage").rows}
    assert usage["T1"][4:] == ["2025-03-05 11:00", "10.000"]


def test_cli_json_and_files(ws: Path) -> None:
    for name in ("incoming", "incoming-groups", "incoming-hours", "internal", "trunks"):
        assert name in REPORTS
        code, out = run(ws, "report", name, "--period", "2025-03", "--json")
        assert code == 0, out
        assert json.loads(out)["report"] == name
        for fmt in ("csv", "xlsx", "pdf"):
            code, out = run(ws, "report", name, "--period", "2025-03", "--out", str(ws / f"{name}.{fmt}"))
            assert code == 0 and (ws / f"{name}.{fmt}").stat().st_size > 0, out
    code, out = run(ws, "report", "list")
    assert "trunks" in out and "Incoming calls by hunt group" in out
    # a schedule may name them
    wsobj = parse_config({"schedule": [{"name": "t", "report": "trunks", "frequency": "monthly", "format": "pdf"}]},
                         ws)
    assert wsobj.schedules[0].report == "trunks"


def test_a_month_without_calls_is_empty(ws: Path) -> None:
    # February has no call at all; April only the one incoming call of 1 April (no internal or trunk traffic)
    for name in ("incoming", "incoming-groups", "incoming-hours", "internal"):
        assert report(ws, name, "2025-02").rows == [], name
    assert [row[1] for row in report(ws, "incoming", "2025-04").rows] == ["1009", ""]
    assert report(ws, "internal", "2025-04").rows == []
    assert [row[1] for row in report(ws, "trunks", "2025-04").rows] == ["T1", "T9"]  # the lines, idle


def test_off_hours_uses_the_sites_hours(ws: Path) -> None:
    # paris opens every day 08:00-18:00: the outgoing trunk calls at 11:00 and 10:00 on weekdays are inside
    assert report(ws, "off-hours").rows == []


def test_business_hours_syntax() -> None:
    assert parse_hours("mon-fri 08:00-18:00") == (((0, 1, 2, 3, 4), 480, 1080),)
    assert parse_hours(["fri-mon 09:00-24:00", "wed 10:00-11:30"]) == (((0, 4, 5, 6), 540, 1440),
                                                                       ((2,), 600, 690))
    for bad in ("mon-fri", "mon-fri 18:00-08:00", "someday 08:00-09:00", "mon 08:00-24:01", [], 8):
        with pytest.raises(ValueError):
            parse_hours(bad)
    with pytest.raises(ConfigError) as err:
        parse_config({"site": [{"name": "x", "country": "FR", "timezone": "Europe/Paris",
                                "business_hours": "mon-fri 8h-18h", "trunk_lines": {"a": 0},
                                "hunt_groups": {"s": "1100"}}]}, Path("."))
    text = str(err.value)
    assert "business_hours" in text and "trunk_lines.a" in text and "hunt_groups.s" in text


def test_p90_nearest_rank() -> None:
    keys = np.array([0] * 10 + [1] * 11 + [3], dtype=np.int64)
    values = np.array(list(range(10, 0, -1)) + list(range(1, 12)) + [4], dtype=np.int64)
    mean, p90 = _p90(keys, values, 4)
    assert p90.tolist() == [9, 10, -1, 4] and mean[0] == 5.5 and np.isnan(mean[2])


def erlang_b_direct(e: float, m: int) -> float:
    return (e ** m / math.factorial(m)) / sum(e ** k / math.factorial(k) for k in range(m + 1))


@given(st.floats(min_value=0.0, max_value=60.0, allow_nan=False), st.integers(min_value=0, max_value=40))
def test_erlang_b_recurrence_matches_the_formula(e: float, m: int) -> None:
    assert erlang_b(e, m) == pytest.approx(erlang_b_direct(e, m), rel=1e-9, abs=1e-300)


def test_erlang_b_published_values() -> None:
    assert erlang_b(10, 15) == pytest.approx(0.0365, abs=5e-5)
    assert erlang_b(1, 1) == 0.5 and erlang_b(2, 0) == 1.0 and erlang_b(0, 3) == 0.0
    # 1 % grade of service tables: 18 lines carry 10.44 erlangs, 30 lines 20.34, 5 lines 1.36
    assert lines_needed(10.43) == 18 and lines_needed(10.45) == 19
    assert lines_needed(20.33) == 30 and lines_needed(20.35) == 31
    assert lines_needed(1.36) == 5 and lines_needed(1.37) == 6
    assert lines_needed(0) == 0 and lines_needed(10, 0.05) == 15
