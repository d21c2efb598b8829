"""Alert delivery (pbx/notify.py) against real servers on 127.0.0.1: an alert reaches e-mail, a webhook and syslog
once; a mail server down then up gets it after a retry; a delivery pending at a restart is sent once by the next
run; a flood is cut at the hourly limit and the rest comes as one digest; the configuration's errors name the rule
and the entry."""

from __future__ import annotations

import io
import json
import socket
import sqlite3
import ssl
from pathlib import Path

import pytest
import trio
from mail_support import HookServer, SMTPServer, SyslogSocket, free_port, self_signed
from serve_support import daemon_for, ipo_line, make_workspace, running, send_lines, settle

from anatole.config import ConfigError, open_workspace
from pbx.alerts import parse_rules
from pbx.notify import AlertDelivery, DeliveryError, Settings, SmtpSettings, post_json, send_alert
from store.live import LiveStore


def _config(smtp_port: int, targets: list[str], syslog: int = 9) -> str:
    return f"""
[smtp]
host = "127.0.0.1"
port = {smtp_port}
starttls = false
from = "anatole@example.com"

[notify]
retry_after = 0.05
retry_max = 0.2
syslog = "127.0.0.1:{syslog}"

[[alert]]
name = "expensive"
when = "cost > 0.01"
notify = {json.dumps(targets)}
"""


def _deliveries(root: Path) -> list[tuple]:
    conn = sqlite3.connect(root / "anatole.db")
    try:
        return conn.execute("SELECT alert_id, target, state, tries, last_error FROM deliveries ORDER BY id").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


async def _until(check, what: str) -> None:  # noqa: ANN001
    while not check():
        await trio.sleep(0.02)


@pytest.mark.trio
async def test_an_alert_reaches_mail_webhook_and_syslog_once(tmp_path: Path) -> None:
    smtp, hook, syslog = SMTPServer(), HookServer(), SyslogSocket()
    try:
        root = make_workspace(tmp_path, extra=_config(smtp.port, [
            "monitor", "email:ops@example.com", f"webhook:http://127.0.0.1:{hook.port}/anatole?token=s3cret",
            "syslog"], syslog.port))
        log = io.StringIO()
        daemon = daemon_for(root, log=log)
        with trio.fail_after(20):
            async with running(daemon):
                await send_lines(daemon.ports["paris-ipo"], [ipo_line(0, seconds=300)])
                await _until(lambda: len(smtp.messages) >= 1 and len(hook.posts) >= 1 and len(syslog.read()) >= 1,
                             "first alert")
                # a second alert: once it has arrived everywhere, the first one cannot still be on its way
                await send_lines(daemon.ports["paris-ipo"], [ipo_line(1, seconds=300)])
                await _until(lambda: len(smtp.messages) >= 2 and len(hook.posts) >= 2 and len(syslog.read()) >= 2,
                             "second alert")
                await settle(daemon, 2)
        assert len(smtp.messages) == 2 and len(hook.posts) == 2 and len(syslog.lines) == 2
        rcpt, msg = smtp.messages[0]
        assert rcpt == ["ops@example.com"] and msg["From"] == "anatole@example.com"
        assert "warning #1: expensive" in msg["Subject"] and "EUR" in msg.get_content()
        assert [m["X-Anatole-Alert"] for _, m in smtp.messages] == ["1", "2"]
        path, ctype, body = hook.posts[0]
        sent = json.loads(body)
        assert path == "/anatole?token=s3cret" and ctype == "application/json"
        assert sent["rule"] == "expensive" and sent["currency"] == "EUR" and isinstance(sent["amount"], str)
        assert {json.loads(b)["id"] for _, _, b in hook.posts} == {1, 2}
        assert b"anatole: alert warning: expensive" in syslog.lines[0]
        rows = _deliveries(root)
        assert len(rows) == 6 and {r[2] for r in rows} == {"sent"} and {r[3] for r in rows} == {1}
        assert "s3cret" not in log.getvalue()  # a webhook's token is not logged
    finally:
        smtp.close()
        hook.close()
        syslog.close()


@pytest.mark.trio
async def test_server_down_then_up_and_a_restart_with_a_pending_delivery(tmp_path: Path) -> None:
    port = free_port()
    root = make_workspace(tmp_path, extra=_config(port, ["email:ops@example.com"]))
    smtp: SMTPServer | None = None
    try:
        with trio.fail_after(30):
            daemon = daemon_for(root)
            async with running(daemon):
                # the mail server is down: the alert is stored, its delivery fails and is retried
                await send_lines(daemon.ports["paris-ipo"], [ipo_line(0, seconds=300)])
                await _until(lambda: any(r[3] >= 2 for r in _deliveries(root)), "two failed tries")
                assert _deliveries(root)[0][2] == "pending" and "SMTP 127.0.0.1" in _deliveries(root)[0][4]
                smtp = SMTPServer(port)  # up: the next retry delivers it
                await _until(lambda: len(smtp.messages) == 1, "delivered after a retry")
                await _until(lambda: _deliveries(root)[0][2] == "sent", "marked sent")
                smtp.close()
                smtp = None
                # down again; a second alert waits, and the daemon stops with it pending
                await send_lines(daemon.ports["paris-ipo"], [ipo_line(1, seconds=300)])
                await _until(lambda: len(_deliveries(root)) == 2 and _deliveries(root)[1][3] >= 1, "failed try")
            assert [r[2] for r in _deliveries(root)] == ["sent", "pending"]
            smtp = SMTPServer(port)
            daemon = daemon_for(root)
            async with running(daemon):  # the restart sends the pending one, and not the one already sent
                await _until(lambda: len(smtp.messages) == 1, "pending delivery resumed")
                await send_lines(daemon.ports["paris-ipo"], [ipo_line(2, seconds=300)])
                await _until(lambda: len(smtp.messages) == 2, "a third alert")
                await _until(lambda: [r[2] for r in _deliveries(root)] == ["sent"] * 3, "all sent")
        assert [m["X-Anatole-Alert"] for _, m in smtp.messages] == ["2", "3"]  # alert 1 was not sent again
    finally:
        if smtp is not None:
            smtp.close()


@pytest.mark.trio
async def test_a_mail_server_that_hangs_does_not_hold_up_the_stop(tmp_path: Path) -> None:
    hole = socket.socket()  # accepts connections (the kernel's backlog) and never answers
    hole.bind(("127.0.0.1", 0))
    hole.listen(8)
    try:
        root = make_workspace(tmp_path, extra=_config(hole.getsockname()[1], ["email:ops@example.com"])
                              .replace("starttls = false", "starttls = false\ntimeout = 120"))
        with trio.fail_after(20):  # far below the 120 s the SMTP client would wait
            daemon = daemon_for(root)
            async with running(daemon):
                await send_lines(daemon.ports["paris-ipo"], [ipo_line(0, seconds=300)])
                await _until(lambda: daemon.delivery.in_flight == 1, "sending")
        assert [r[2] for r in _deliveries(root)] == ["pending"]  # sent by the next start
    finally:
        hole.close()


def _alerts(live: LiveStore, delivery: AlertDelivery, n: int, first: int = 0) -> None:
    live.begin()
    alerts = [{"rule": "expensive", "kind": "cost", "at": 1741946400 + i, "message": f"expensive: call {i}",
               "severity": "warning", "site": "paris", "extension": "2001", "call_id": None, "amount": None,
               "currency": "", "dedup": f"t:{i}"} for i in range(first, first + n)]
    delivery.schedule(live.conn, list(zip(alerts, live.insert_alerts(alerts))))
    live.commit()


@pytest.mark.trio
async def test_a_flood_is_cut_at_the_hourly_limit_then_one_digest(tmp_path: Path) -> None:
    smtp = SMTPServer()
    db = tmp_path / "anatole.db"
    live = LiveStore(db)
    logged: list[tuple[str, dict]] = []
    settings = Settings(smtp=SmtpSettings("127.0.0.1", smtp.port, starttls=False, sender="a@example.com"),
                        max_per_hour=2)
    delivery = AlertDelivery(settings, [("expensive", ["monitor", "email:ops@example.com"])], db,
                             lambda event, **f: logged.append((event, f)))
    delivery.open()
    try:
        with trio.fail_after(15):
            _alerts(live, delivery, 5)
            await delivery.deliver_due()
            await delivery.deliver_due()  # nothing more within the hour
            assert len(smtp.messages) == 2
            assert sorted(r[2] for r in _deliveries(tmp_path)) == ["held"] * 3 + ["sent"] * 2
            assert any(e == "notify-held" and f["alerts"] == 3 for e, f in logged)
            # the hour passes: the three held alerts go as one digest
            conn = sqlite3.connect(db)
            conn.execute("UPDATE notify_log SET at = at - 3601")
            conn.execute("UPDATE deliveries SET next_at = 0 WHERE state = 'held'")
            conn.commit()
            conn.close()
            await delivery.deliver_due()
            await delivery.deliver_due()
        assert len(smtp.messages) == 3
        digest = smtp.messages[2][1]
        assert "3 alerts" in digest["Subject"] and digest.get_content().count("expensive: call") == 3
        rows = _deliveries(tmp_path)
        assert [r[2] for r in rows] == ["sent"] * 5
    finally:
        delivery.close()
        live.close()
        smtp.close()


@pytest.mark.trio
async def test_retries_end_in_failed_with_a_log_line(tmp_path: Path) -> None:
    db = tmp_path / "anatole.db"
    live = LiveStore(db)
    logged: list[tuple[str, dict]] = []
    settings = Settings(smtp=SmtpSettings("127.0.0.1", free_port(), starttls=False, sender="a@example.com",
                                          timeout=2), retries=2, backoff=(0.01, 0.01))
    delivery = AlertDelivery(settings, [("expensive", ["email:ops@example.com"])], db,
                             lambda event, **f: logged.append((event, f)))
    delivery.open()
    try:
        with trio.fail_after(15):
            _alerts(live, delivery, 3)
            await delivery.deliver_due()
            # one try for the server that is down; the target's other alerts wait for the same retry, uncounted
            assert [r[2:4] for r in _deliveries(tmp_path)] == [("pending", 1), ("pending", 0), ("pending", 0)]
            conn = sqlite3.connect(db)
            assert len({r[0] for r in conn.execute("SELECT next_at FROM deliveries")}) == 1
            conn.close()
            while _deliveries(tmp_path)[0][2] != "failed":
                await trio.sleep(0.02)
                await delivery.deliver_due()
        assert [r[2:4] for r in _deliveries(tmp_path)] == [("failed", 2), ("pending", 1), ("pending", 0)]
        failed = [f for e, f in logged if e == "notify-failed"]
        assert len(failed) == 1 and failed[0]["alerts"] == [1] and "SMTP" in failed[0]["error"]
    finally:
        delivery.close()
        live.close()


def test_which_alerts_get_which_deliveries(tmp_path: Path) -> None:
    db = tmp_path / "anatole.db"
    live = LiveStore(db)
    delivery = AlertDelivery(Settings(system=["syslog"]), [("a", ["monitor", "syslog"]), ("a", ["email:x@example.com"]),
                                                           ("quiet", ["monitor"])], db, lambda *a, **k: None)
    delivery.open()
    try:
        live.begin()
        rows = [{"rule": rule, "kind": "cost", "at": 1, "message": rule, "severity": "warning", "dedup": rule}
                for rule in ("a", "quiet", "unknown source")]
        ids = live.insert_alerts(rows)
        assert delivery.schedule(live.conn, list(zip(rows, ids))) == 3
        assert delivery.schedule(live.conn, list(zip(rows, live.insert_alerts(rows)))) == 0  # stored already
        live.commit()
        got = [(r[0], r[1]) for r in _deliveries(tmp_path)]
        # rule "a" (two tables of one name): both lists; "quiet": the console only; anatole's own: [notify] system
        assert got == [(1, "syslog"), (1, "email:x@example.com"), (3, "syslog")]
    finally:
        delivery.close()
        live.close()


def test_mail_over_starttls_checks_the_certificate(tmp_path: Path) -> None:
    made = self_signed(tmp_path)
    if made is None:
        pytest.skip("no openssl program to make a test certificate")
    cert, key = made
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    smtp = SMTPServer(tls=server_tls)
    try:
        alert = {"id": 7, "rule": "r", "kind": "cost", "severity": "critical", "at": 0, "message": "r: costly",
                 "site": "", "extension": "", "call_id": None, "amount": 150_000_000, "currency": "EUR"}
        trusted = SmtpSettings("127.0.0.1", smtp.port, sender="a@example.com", cafile=cert, timeout=10)
        send_alert(Settings(smtp=trusted), "email:ops@example.com", alert)
        assert smtp.secure == [True] and "1.50 EUR" in smtp.messages[0][1].get_content()
        # the same server, its certificate not trusted (the system's authorities): refused, nothing sent
        with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            send_alert(Settings(smtp=SmtpSettings("127.0.0.1", smtp.port, sender="a@example.com", timeout=10)),
                       "email:ops@example.com", alert)
        assert len(smtp.messages) == 1
    finally:
        smtp.close()


def test_webhook_policy_and_redirects() -> None:
    hook = HookServer()
    try:
        with pytest.raises(DeliveryError, match="plain http"):
            post_json("http://192.0.2.1/x", {"a": 1}, timeout=1)  # refused before any connection
        with pytest.raises(DeliveryError, match="redirected"):
            post_json(f"http://127.0.0.1:{hook.port}/elsewhere", {"a": 1}, timeout=2)
        assert post_json(f"http://127.0.0.1:{hook.port}/same", {"a": 1}, timeout=2) == 204
        assert [(p, json.loads(b)) for p, _, b in hook.posts] == [("/moved", {"a": 1})]
    finally:
        hook.close()


def test_configuration_errors_name_the_rule_and_the_entry(tmp_path: Path) -> None:
    _, problems = parse_rules([{"name": "fraud", "when": "cost > 1", "notify": ["monitor", "pager:0612"]}])
    assert len(problems) == 1 and problems[0].key == "notify"
    assert "'fraud'" in problems[0].message and "'pager:0612'" in problems[0].message
    _, problems = parse_rules([{"name": "f", "when": "cost > 1", "notify": ["email:not an address"]}])
    assert "not an e-mail address" in problems[0].message
    rules, problems = parse_rules([{"name": "f", "when": "cost > 1"}])
    assert not problems and rules[0].notify == ["monitor"]

    def problems_of(extra: str) -> str:
        make_workspace(tmp_path, extra=extra)
        with pytest.raises(ConfigError) as exc:
            open_workspace(tmp_path)
        return str(exc.value)

    text = problems_of('[[alert]]\nname = "a"\nwhen = "cost > 1"\nnotify = ["email:ops@example.com"]\n')
    assert "[[alert]] #1: notify: 'email:ops@example.com': e-mail needs an [smtp] table" in text
    text = problems_of('[[alert]]\nname = "a"\nwhen = "cost > 1"\nnotify = ["webhook:http://192.0.2.1/x"]\n')
    assert "plain http" in text
    text = problems_of('[smtp]\nhost = "mail"\nfrom = "a@example.com"\nusername = "u"\npassword = "secret"\n')
    assert "[smtp]: password: unknown key" in text and "password_file" in text
    make_workspace(tmp_path, extra='[smtp]\nhost = "mail"\nfrom = "a@example.com"\nusername = "u"\n'
                                   'password_file = "smtp.secret"\ncafile = "/etc/ssl/our-ca.pem"\n'
                                   '[notify]\nmax_per_hour = 5\nsystem = ["syslog"]\n')
    ws = open_workspace(tmp_path)
    assert ws.delivery.smtp.password_file == tmp_path / "smtp.secret" and ws.delivery.smtp.port == 587
    assert ws.delivery.smtp.cafile == Path("/etc/ssl/our-ca.pem") and ws.delivery.smtp.starttls
    assert ws.delivery.max_per_hour == 5 and ws.delivery.system == ["syslog"]

