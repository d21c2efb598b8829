"""Scheduled reports mailed to their recipients (tem.schedule.mail_reports through `anatole report run-due`),
against a real SMTP server on 127.0.0.1: a delivery per recipient, the file attached, a mail server that is down
gets it at the next run-due, and nothing is sent twice."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from mail_support import SMTPServer, free_port
from test_allocation import CONFIG, build_workspace, run


def _schedule(port: int) -> str:
    return f"""
[smtp]
host = "127.0.0.1"
port = {port}
starttls = false
username = "reports"
password_file = "smtp.secret"
from = "reports@example.com"

[[schedule]]
name = "monthly-cc"
report = "cost-by-cost-centre"
frequency = "monthly"
format = "csv"
folder = "out"
recipients = ["finance@example.com", "cfo@example.com"]
"""


def test_reports_are_mailed_once_and_retried_by_the_next_run(tmp_path: Path) -> None:
    port = free_port()
    ws = build_workspace(tmp_path, config=CONFIG + _schedule(port))
    (ws / "smtp.secret").write_text("pa ss\n")  # one line; the newline is not part of it
    # the mail server is down: the file is produced and recorded, both mails wait (exit 1 says so)
    code, out = run(ws, "report", "run-due", "--json")
    assert code == 1, out
    made = json.loads(out)[0]
    assert made["due"] and [d["state"] for d in made["deliveries"]] == ["pending", "pending"]
    assert all("SMTP 127.0.0.1" in d["error"] for d in made["deliveries"])
    smtp = SMTPServer(port)
    try:
        code, out = run(ws, "report", "run-due")  # not due again, but the mails go now
        assert code == 0, out
        assert "monthly-cc: not due" in out and "mailed to finance@example.com" in out and "cfo@example.com" in out
        assert sorted(r[0] for r, _ in smtp.messages) == ["cfo@example.com", "finance@example.com"]
        code, out = run(ws, "report", "run-due")
        assert code == 0 and "mailed" not in out
        assert len(smtp.messages) == 2  # never twice
        assert set(smtp.logins) == {("reports", "pa ss")}
    finally:
        smtp.close()
    msg = smtp.messages[0][1]
    assert msg["From"] == "reports@example.com" and "monthly-cc" in msg["Subject"]
    (attachment,) = list(msg.iter_attachments())
    assert attachment.get_filename() == Path(made["file"]).name
    assert attachment.get_content_type() == "text/csv"
    assert attachment.get_payload(decode=True) == Path(made["file"]).read_bytes()
    conn = sqlite3.connect(ws / "anatole.db")
    rows = conn.execute("SELECT report_run, target, state, tries FROM deliveries ORDER BY id").fetchall()
    conn.close()
    assert rows == [(made["run"], "email:finance@example.com", "sent", 2), (made["run"], "email:cfo@example.com",
                                                                          "sent", 2)]


def test_without_smtp_the_recipients_are_recorded_not_mailed(tmp_path: Path) -> None:
    schedule_only = "[[schedule]]" + _schedule(9).split("[[schedule]]", 1)[1]
    ws = build_workspace(tmp_path, config=CONFIG + schedule_only)
    code, out = run(ws, "report", "run-due")
    assert code == 0, out
    assert "not mailed: no [smtp] table in anatole.toml" in out


def test_given_up_deliveries_are_listed_and_can_be_tried_again(tmp_path: Path) -> None:
    port = free_port()
    ws = build_workspace(tmp_path, config=CONFIG + _schedule(port).replace("[[schedule]]",
                                                                           "[notify]\nretries = 1\n\n[[schedule]]"))
    ws.joinpath("smtp.secret").write_text("x")
    code, out = run(ws, "report", "run-due")
    assert code == 1 and "gave up" in out
    code, out = run(ws, "deliveries", "--json")
    assert code == 1  # some failed for good: a check for the monitoring
    listed = json.loads(out)
    assert listed["counts"] == {"failed": 2} and listed["deliveries"][0]["what"].startswith("monthly-cc ")
    code, out = run(ws, "deliveries", "--retry-failed")
    assert code == 0 and "2 failed deliveries are pending again" in out
    smtp = SMTPServer(port)
    try:
        code, out = run(ws, "report", "run-due")
        assert code == 0 and out.count("mailed to") == 2
    finally:
        smtp.close()
    code, out = run(ws, "deliveries")
    assert code == 0 and "2 sent" in out and "0 failed" in out
