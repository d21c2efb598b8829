"""Mobile usage import: the three fixture profiles, invoice usage lines, counts, rejects, idempotence, money."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from anatole.cli import main
from anatole.config import ConfigError, open_workspace
from engine.money import SCALE
from ingest.invoice import read_invoices
from ingest.usage import csv_profile
from ingest.usage.invoice_lines import from_invoice
from store import open_store
from store.mobile import open_mobile
from tem.mobile import MobileError, import_file

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DATA = Path(__file__).parent / "data" / "mobile"
PROFILES = tomllib.loads((DATA / "profiles.toml").read_text(encoding="utf-8"))["mobile_csv"]


def _parse(name: str, file: str):
    return csv_profile.parse((DATA / file).read_bytes(), file, name, PROFILES[name])


def test_profiles_are_valid_and_detected() -> None:
    for name, file in (("fr-detail", "fr-detail-2026-10.csv"), ("uk-itemised", "uk-itemised-2026-10.csv"),
                       ("generic", "generic-2026-10.csv")):
        assert csv_profile.validate_profile(PROFILES[name], name) == []
        hits = [n for n, p in PROFILES.items() if csv_profile.header_matches((DATA / file).read_bytes(), p)]
        assert hits == [name]


def test_french_detail_file() -> None:
    b = _parse("fr-detail", "fr-detail-2026-10.csv")
    assert (b.read, len(b.records), len(b.rejects)) == (10, 7, 3)
    first = b.records[0]
    assert (first.line, first.kind, first.destination, first.volume, first.zone, first.day, first.plan) == \
        ("33612345678", "voice", "33142123456", 150, "home", "2026-10-01", "PRO-5")
    assert first.start == 1790838900  # 09:15 Paris (CEST) = 07:15 UTC
    data = b.records[2]
    assert (data.kind, data.destination, data.volume) == ("data", "orange.fr", 524288 * 1024)  # Ko = 1024 bytes
    world = b.records[4]
    assert (world.zone, world.amount) == ("world", 3550 * SCALE // 100)  # "35,50" exact
    reasons = {j.line: (j.field, j.reason) for j in b.rejects}
    assert reasons[9][0] == "Date" and "31/02/2026" in reasons[9][1] and "line 9" in reasons[9][1]
    assert reasons[10][0] == "Type" and "'Fax'" in reasons[10][1]
    assert reasons[11][0] == "Montant HT" and "1.2x" in reasons[11][1]
    assert all(j.raw for j in b.rejects)


def test_uk_itemised_file() -> None:
    b = _parse("uk-itemised", "uk-itemised-2026-10.csv")
    assert (b.read, len(b.records), len(b.rejects)) == (7, 5, 2)
    voice, text, roam_eu, roam_world, mms = b.records
    assert (voice.line, voice.iccid, voice.destination, voice.volume) == \
        ("447700900123", "8944100000000000012", "442079460000", 125)
    assert (text.kind, text.volume) == ("sms", 1)  # a message row without a count is one message
    assert (roam_eu.zone, roam_eu.volume, roam_eu.amount) == ("eu", 20480500, 2 * SCALE)  # 20480.5 kB exact
    assert (roam_world.zone, roam_world.amount) == ("world", 6 * SCALE)
    assert (mms.kind, mms.amount, mms.currency) == ("mms", 35 * SCALE // 100, "GBP")
    assert {j.field for j in b.rejects} == {"Country", "Mobile Number"}


def test_generic_file_and_rounding_named_up() -> None:
    b = _parse("generic", "generic-2026-10.csv")
    assert (b.read, len(b.records), len(b.rejects)) == (7, 5, 2)
    assert b.records[-1].line == "89330000000000000099"  # only the ICCID: it is the line
    p = dict(PROFILES["uk-itemised"])
    ctx = csv_profile._Context(p)
    assert ctx.volume("data", {"data": "0.0001"}) == 1  # a fraction of a byte rounds up
    p2 = {**p, "duration_format": "minutes"}
    assert csv_profile._Context(p2).volume("voice", {"duration": "1.001"}) == 61  # 60.06 s rounds up


def test_profile_errors_are_named() -> None:
    bad = {**PROFILES["generic"], "data_unit": "MO", "zone_map": {"x": "moon"}, "colour": "red"}
    problems = csv_profile.validate_profile(bad, "mobile_csv.bad")
    assert any("data_unit" in p for p in problems)
    assert any("zone_map.x" in p for p in problems)
    assert any("colour: unknown key" in p for p in problems)
    with pytest.raises(ConfigError) as exc:
        from anatole.config import parse_config

        parse_config({"mobile_csv": {"bad": bad}, "mobile": {"months": 0}}, Path("."))
    text = str(exc.value)
    assert "data_unit" in text and "months" in text


def test_invoice_usage_lines() -> None:
    where = "ubl-telecom.xml"
    _, invs = read_invoices((DATA.parent / "invoices" / where).read_bytes(), where)
    b = from_invoice(invs[0], where)
    assert b.read == len(b.records) + len(b.rejects) >= 1
    voice = [r for r in b.records if r.kind == "voice"]
    assert voice and voice[0].line == "33612345678" and voice[0].volume == 2550  # 42.5 MIN
    assert voice[0].amount == 425 * SCALE // 100 and voice[0].day == "2025-03-01"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    (tmp_path / "anatole.toml").write_text((DATA / "profiles.toml").read_text(encoding="utf-8") +
                                           '\n[mobile]\nroaming_alert = "20.00"\ndata_alert_mb = 400\n',
                                           encoding="utf-8")
    for f in DATA.glob("*.csv"):
        shutil.copy(f, tmp_path / f.name)
    return tmp_path


def test_import_balances_is_idempotent_and_raises_alerts(ws: Path) -> None:
    w = open_workspace(ws)
    store = open_store(w.db_path)
    m = open_mobile(store.conn)
    r = import_file(m, ws / "fr-detail-2026-10.csv", profiles=w.mobile_profiles, settings=w.mobile)
    assert (r["read"], r["stored"], r["rejected"], r["duplicates"]) == (10, 7, 3, 0)  # identical MMS: both kept
    assert {(a["rule"], a["line"]) for a in r["alerts"]} == {("ALERT-ROAMING", "33612345678"),
                                                             ("ALERT-DATA", "33612345678")}
    again = import_file(m, ws / "fr-detail-2026-10.csv", profiles=w.mobile_profiles, settings=w.mobile)
    assert (again["read"], again["stored"], again["rejected"], again["duplicates"]) == (10, 0, 3, 7)
    assert m.count() == 7 and len(m.rejects()) == 3
    assert len(m.findings()) == 2  # the alerts are not doubled
    assert sum(u["amount"] for u in m.usage()) == (3550 + 30 + 30) * SCALE // 100
    assert {(x["line"], x["plan"]) for x in m.lines()} == {("33612345678", "PRO-5"), ("33698765432", "PRO-20")}
    with pytest.raises(MobileError, match="no \\[mobile_csv.nope\\]"):
        import_file(m, ws / "fr-detail-2026-10.csv", profiles=w.mobile_profiles, profile="nope")


def test_cli_import(ws: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["--workspace", str(ws), "mobile", "import", str(ws / "uk-itemised-2026-10.csv"),
                               str(ws / "generic-2026-10.csv")])
    assert res.exit_code == 0, res.output
    assert "read 7 = stored 5 + rejected 2 + duplicates 0" in res.output
    assert "Country: 'USA'" in res.output
    (ws / "junk.csv").write_text("a,b\n1,2\n")
    res = runner.invoke(main, ["--workspace", str(ws), "mobile", "import", str(ws / "junk.csv")])
    assert res.exit_code == 1 and "junk.csv" in res.output and "Traceback" not in res.output


def test_date_time_fast_path_agrees_with_strptime() -> None:
    ctx = csv_profile._Context(PROFILES["fr-detail"])
    for date, time in (("01/10/2026", "09:15:00"), ("25/10/2026", "02:30:00"), ("31/12/2026", "23:59:59"),
                       ("29/03/2026", "2:5:9")):
        got = ctx.when({"date": date, "time": time})
        import datetime as dt
        from zoneinfo import ZoneInfo

        want = dt.datetime.strptime(f"{date} {time}", "%d/%m/%Y %H:%M:%S").replace(tzinfo=ZoneInfo("Europe/Paris"))
        assert got == (int(want.timestamp()), want.date().isoformat())
    for date, time in (("01/10/2026", "25:00:00"), ("32/10/2026", "10:00:00"), ("01/10/2026", "10:00"),
                       ("01/10/2026", "1O:00:00")):
        with pytest.raises(csv_profile._RowError):
            ctx.when({"date": date, "time": time})


def test_invoice_file_through_the_import(ws: Path) -> None:
    w = open_workspace(ws)
    m = open_mobile(open_store(w.db_path).conn)
    ubl = DATA.parent / "invoices" / "ubl-telecom.xml"
    r = import_file(m, ubl, profiles=w.mobile_profiles, invoice_profiles=w.invoice_profiles)
    assert r["format"] == "invoice:ubl" and r["read"] == r["stored"] + r["rejected"] + r["duplicates"] >= 1
    assert import_file(m, ubl, profiles=w.mobile_profiles)["stored"] == 0  # idempotent


def test_assign_line_list(ws: Path) -> None:
    runner = CliRunner()
    (ws / "fleet.csv").write_text("Line,Carrier,Plan,Account\n+33 6 12 34 56 78,Orange Business,PRO-20,ACC-1\n")
    res = runner.invoke(main, ["--workspace", str(ws), "mobile", "assign", str(ws / "fleet.csv")])
    assert res.exit_code == 0 and "1 line(s)" in res.output
    w = open_workspace(ws)
    assert open_mobile(open_store(w.db_path).conn).lines() == [
        {"line": "33612345678", "carrier": "Orange Business", "account": "ACC-1", "plan": "PRO-20"}]
    (ws / "bad.csv").write_text("line,carrier,plan\nnot-a-number,X,Y\n")
    res = runner.invoke(main, ["--workspace", str(ws), "mobile", "assign", str(ws / "bad.csv")])
    assert res.exit_code == 1 and "bad.csv: line 2: line: 'not-a-number'" in res.output.replace("\n", "")
