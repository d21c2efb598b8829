"""`anatole calls` as text: amounts shown through store.display (currency decimals, grouping, currency attached,
totals per currency), while `--json` keeps the exact amounts."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from test_import_cdr import make_workspace, run

from anatole.config import open_workspace


def _imported(tmp_path: Path) -> Path:
    ws = make_workspace(tmp_path)
    code, out = run(ws, "import", "cdr", str(ws / "smdr.txt"))
    assert code == 0, out
    return ws


def test_text_listing_rounds_to_currency_decimals_and_json_stays_exact(tmp_path: Path) -> None:
    ws = _imported(tmp_path)
    code, out = run(ws, "calls")
    assert code == 0, out
    assert "0.05 EUR" in out and "0.13 EUR" in out  # 0.0507 and 0.1300 EUR: two decimals, half-even
    assert "0.0507" not in out
    assert out.rstrip().endswith("6 call(s), total 0.18 EUR")  # 0.1807 summed exactly, rounded once when shown
    code, out = run(ws, "calls", "--json")
    costs = [json.loads(line)["cost"] for line in out.splitlines()]
    assert "0.0507" in costs and "0.1300" in costs  # exact, unchanged


def test_text_listing_groups_and_never_adds_currencies(tmp_path: Path) -> None:
    ws = _imported(tmp_path)
    conn = sqlite3.connect(open_workspace(ws).db_path)
    ids = [r[0] for r in conn.execute("SELECT rowid FROM calls WHERE cost IS NOT NULL ORDER BY rowid")]
    conn.execute("UPDATE calls SET cost = ?, currency = 'JPY' WHERE rowid = ?", (123_456_700_000_000, ids[0]))
    conn.execute("UPDATE calls SET cost = ? WHERE rowid = ?", (123_456_789, ids[1]))
    conn.commit()
    conn.close()
    code, out = run(ws, "calls")
    assert code == 0, out
    assert "1,234,567 JPY" in out and "1.23 EUR" in out
    assert "total 1.23 EUR, 1,234,567 JPY" in out  # one figure per currency, never one sum


def test_text_listing_shows_dates_in_the_site_zone_with_the_year(tmp_path: Path) -> None:
    """Issue 18: each start as the console shows it (store.display.when): the site's zone, a four-digit year; one
    zone's abbreviation is said once, in the header; --json keeps the UTC instant."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    ws = _imported(tmp_path)
    code, out = run(ws, "calls", "--json")
    starts = [json.loads(line)["start"] for line in out.splitlines()]
    assert starts and all(s.endswith("Z") for s in starts)  # the machine form, unchanged
    code, out = run(ws, "calls")
    assert code == 0, out
    zones = set()
    for start in starts:
        local = dt.datetime.fromisoformat(start.replace("Z", "+00:00")).astimezone(ZoneInfo("Europe/Paris"))
        assert local.strftime("%Y-%m-%d %H:%M") in out, (local, out)
        zones.add(local.tzname())
    assert out.splitlines()[0].startswith(f"start ({'/'.join(sorted(zones))})"), out
    assert "start UTC" not in out


def test_text_listing_of_several_zones_gives_each_start_its_zone(tmp_path: Path) -> None:
    """Calls of sites in different zones: each start in its own site's zone, with its abbreviation."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    ws = _imported(tmp_path)
    toml = ws / "anatole.toml"
    toml.write_text(toml.read_text() + '\n[[site]]\nname = "nyc"\ncountry = "US"\ntimezone = "America/New_York"\n')
    conn = sqlite3.connect(open_workspace(ws).db_path)
    first, start = conn.execute("SELECT rowid, start FROM calls ORDER BY start LIMIT 1").fetchone()
    conn.execute("UPDATE calls SET site = 'nyc' WHERE rowid = ?", (first,))
    conn.commit()
    conn.close()
    code, out = run(ws, "calls")
    assert code == 0, out
    local = dt.datetime.fromtimestamp(start, ZoneInfo("America/New_York"))
    assert local.strftime("%Y-%m-%d %H:%M ") + local.tzname() in out, out  # EDT or EST, beside the time
    assert re.search(r"\d\d:\d\d CES?T\b", out), out  # the Paris calls keep theirs
    assert out.splitlines()[0].split()[0] == "start" and "(" not in out.splitlines()[0]  # no one zone to say once


def test_text_listing_in_french(tmp_path: Path) -> None:
    """`anatole --lang fr calls`: French headers and count, French dates (dd/mm/yyyy in the site's zone) and money
    (0,05 €); run in a subprocess, as the language is chosen before the commands are imported."""
    import os
    import subprocess
    import sys

    ws = _imported(tmp_path)
    env = {**os.environ, "COLUMNS": "120"}
    env.pop("ANATOLE_LANG", None)
    done = subprocess.run([sys.executable, "-m", "anatole", "--lang", "fr", "--workspace", str(ws), "calls"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "numéro" in out and "coût" in out and "6 appel(s), total 0,18\xa0€" in out, out
    assert re.search(r"\b\d\d/\d\d/20\d\d \d\d:\d\d\b", out) and re.match(r"début \(CES?T\)", out), out
    assert "tarifé" in out  # the status in words; --status and --json keep the stored code
