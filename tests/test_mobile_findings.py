"""Mobile findings: unused lines, roaming spikes, usage after cancellation, overage on included usage, and the
threshold alerts raised at import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from anatole.cli import main
from anatole.config import open_workspace
from engine.money import SCALE
from store import open_store
from store.inventory import open_inventory
from store.mobile import open_mobile
from tem.inventory import import_file as import_inventory
from tem.mobile import run_findings

DATA = Path(__file__).parent / "data" / "mobile"
CENT = SCALE // 100
PROFILE = """
[mobile_csv.gen]
carrier = "Orange Business"
currency = "EUR"
line = "msisdn"
kind = "kind"
destination = "destination"
zone = "zone"
start = "start"
start_format = "iso"
volume = "volume"
amount = "amount"
plan = "plan"

[mobile]
plans = ["orange-plans.toml"]
zero_use_days = 60
roaming_alert = "30.00"
"""
ROWS = [  # msisdn, plan, kind, destination, zone, start, volume, amount
    ("33600000001", "PRO-5", "voice", "33140000000", "eu", "2026-08-10T10:00:00Z", 600, "2.00"),
    ("33600000001", "PRO-5", "voice", "33140000000", "eu", "2026-09-10T10:00:00Z", 600, "2.00"),
    ("33600000001", "PRO-5", "data", "internet", "eu", "2026-10-10T10:00:00Z", 10**9, "40.00"),
    ("33600000001", "PRO-5", "voice", "33140000000", "home", "2026-10-31T10:00:00Z", 60, "0.00"),
    ("33600000002", "PRO-5", "voice", "33140000000", "home", "2026-08-01T10:00:00Z", 60, "0.00"),
    ("33600000003", "PRO-20", "sms", "33611111111", "home", "2026-10-05T10:00:00Z", 1, "0.10"),
    ("33600000003", "PRO-20", "sms", "447700900123", "home", "2026-10-05T11:00:00Z", 1, "0.50"),
    ("33600000004", "PRO-5", "voice", "33140000000", "home", "2026-10-10T10:00:00Z", 60, "0.00"),
    ("33600000004", "PRO-5", "voice", "33140000000", "home", "2026-10-20T10:00:00Z", 60, "1.00"),
    ("33600000005", "PRO-5", "data", "internet", "home", "2026-10-02T10:00:00Z", 4000 * 10**6, "0.00"),
    ("33600000005", "PRO-5", "data", "internet", "home", "2026-10-03T10:00:00Z", 2000 * 10**6, "10.00"),
]


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    for f in ("orange-plans.toml", "orange-plans.csv"):
        (tmp_path / f).write_bytes((DATA / f).read_bytes())
    (tmp_path / "anatole.toml").write_text(PROFILE, encoding="utf-8")
    lines = ["msisdn,plan,kind,destination,zone,start,volume,amount"] + [",".join(map(str, r)) for r in ROWS]
    (tmp_path / "usage.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "lines.csv").write_text(
        "service,name,carrier,account,from,to\n"
        "+33600000004,Leaver,Orange Business,ACC-1,2021-01-01,2026-10-16\n"
        "+33600000006,Spare SIM,Orange Business,ACC-1,2021-01-01,\n", encoding="utf-8")
    w = open_workspace(tmp_path)
    store = open_store(w.db_path)
    _, batch = import_inventory(open_inventory(store.conn), tmp_path / "lines.csv", "line", apply_it=True,
                                accept=True, partial=True)
    assert batch is not None
    return tmp_path


def test_findings_with_money_at_stake(ws: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["--workspace", str(ws), "mobile", "import", "--json", str(ws / "usage.csv")])
    assert res.exit_code == 0, res.output
    imported = json.loads(res.output)[0]
    assert (imported["read"], imported["stored"], imported["rejected"]) == (11, 11, 0)
    # the threshold alert is raised as the usage arrives: 40.00 of roaming in October > 30.00
    assert [(a["rule"], a["line"], a["month"]) for a in imported["alerts"]] == \
        [("ALERT-ROAMING", "33600000001", "2026-10")]
    w = open_workspace(ws)
    m = open_mobile(open_store(w.db_path).conn)
    first = run_findings(w, m)
    found = {(f["rule"], f["line"]): f for f in first}
    spike = found[("ROAMING-SPIKE", "33600000001")]
    assert (spike["month"], spike["at_stake"]) == ("2026-10", 38 * SCALE)  # 40.00 against 2.00 usual
    zero = found[("ZERO-USE", "33600000002")]
    assert zero["at_stake"] == 14 * SCALE and "2026-08-01" in zero["message"]  # PRO-5's fee since July 2026
    assert found[("ZERO-USE", "33600000006")]["actual"] == "last use never"  # an inventory SIM never used
    assert ("ZERO-USE", "33600000004") not in found  # cancelled: not an unused line
    after = found[("AFTER-CANCEL", "33600000004")]
    assert after["at_stake"] == 1 * SCALE and "2026-10-15" in after["message"]
    over = found[("OVERAGE-INCLUDED", "33600000003")]
    assert over["at_stake"] == 10 * CENT  # the SMS abroad (0.50) is not included in the plan
    assert ("OVERAGE-INCLUDED", "33600000005") not in found  # billed after the 5000 MB were used up
    assert ("ALERT-ROAMING", "33600000001") in found
    # EU roaming is "roam like at home": calls home and data billed while the allowance still included them
    assert {f["month"] for f in first if f["rule"] == "OVERAGE-INCLUDED" and f["line"] == "33600000001"} == \
        {"2026-08", "2026-09", "2026-10"}
    again = run_findings(w, m)  # a second run replaces, never doubles
    assert sorted((f["rule"], f["line"], f["month"]) for f in again) == \
        sorted((f["rule"], f["line"], f["month"]) for f in first)
    assert len(first) == 10
    res = runner.invoke(main, ["--workspace", str(ws), "mobile", "findings"])
    assert res.exit_code == 0 and "ROAMING-SPIKE" in res.output and "38.00" in res.output


def test_the_invoice_audit_repeats_the_mobile_findings_of_its_lines(ws: Path) -> None:
    from store.invoices import open_invoices
    from tem.audit import audit
    from tem.workflow import import_file as import_invoice

    w = open_workspace(ws)
    store = open_store(w.db_path)
    istore = open_invoices(store.conn)
    ubl = (DATA.parent / "invoices" / "ubl-telecom.xml").read_text(encoding="utf-8")
    ubl = ubl.replace("2025-03", "2026-10").replace("+33612345678", "+33600000003").replace(
        '<cbc:ID schemeID="ICCID">8933150319012345678</cbc:ID>', '<cbc:ID schemeID="MSISDN">+33600000002</cbc:ID>')
    (ws / "invoice.xml").write_text(ubl, encoding="utf-8")
    import_invoice(istore, ws / "invoice.xml")
    (iid,) = [row[0] for row in istore.conn.execute("SELECT id FROM invoices")]
    assert not [f for f in audit(istore, [iid])[iid] if f.rule.startswith("MOBILE-")]  # no mobile usage yet
    m = open_mobile(store.conn)
    res = CliRunner().invoke(main, ["--workspace", str(ws), "mobile", "import", str(ws / "usage.csv")])
    assert res.exit_code == 0, res.output
    run_findings(w, m)
    mobile = {(f.rule, f.line): f for f in audit(istore, [iid])[iid] if f.rule.startswith("MOBILE-")}
    assert set(mobile) == {("MOBILE-OVERAGE-INCLUDED", "33600000003"), ("MOBILE-ZERO-USE", "33600000002")}
    assert mobile[("MOBILE-OVERAGE-INCLUDED", "33600000003")].at_stake == 10 * CENT
    assert mobile[("MOBILE-OVERAGE-INCLUDED", "33600000003")].severity == "error"
    assert (mobile[("MOBILE-ZERO-USE", "33600000002")].at_stake, mobile[("MOBILE-ZERO-USE", "33600000002")].severity) \
        == (14 * SCALE, "warning")
