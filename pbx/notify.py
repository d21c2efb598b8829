"""Alert delivery beyond the console: e-mail (SMTP), webhooks (a JSON POST) and syslog.

`[[alert]] notify = ["monitor", "email:ops@example.com", "webhook:https://hooks.example.com/x", "syslog"]`;
"monitor" (the console) is the default and is always true, the others are deliveries. Settings come from the
`[smtp]` and `[notify]` tables of anatole.toml (parse_settings; the README documents them).

Why it is built this way:
- The writer never waits for a mail server: the delivery rows are written in the writer's own transaction that
  stores the alert (store.notify), so an alert that is stored always has its deliveries; the writer then wakes
  the delivery task through a small bounded channel, and drops the wake-up when the channel is full (the task
  reads what is due from the database anyway).
- The delivery task (Notifier.run, in the daemon's nursery) sends in worker threads, one message at a time, with a
  timeout; a failure is retried with exponential back-off up to `retries` tries, then the delivery is `failed`
  and a JSON log line says so. The target's other due alerts wait with the failed one (one try per back-off step
  against a server that is down). A restart resumes pending deliveries; a delivery marked sent is never sent again
  (a crash in the instant between the server accepting a message and the mark can send that one again: at
  least once, never lost).
- A flood is bounded: at most `max_per_hour` messages per e-mail or webhook target in any hour; the alerts over
  the limit are held and sent as one digest when the hour has passed. Syslog is local and not limited.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import inspect
import ipaddress
import json
import logging
import logging.handlers
import re
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from engine.money import format_amount
from i18n import _, ngettext, pgettext
from store import display
from store import notify as notify_store
from store.db import connect

KINDS = ("monitor", "email", "webhook", "syslog")
LIMITED = ("email", "webhook")  # targets counted against max_per_hour
WAKE_QUEUE = 64  # wake-ups waiting for the delivery task (the writer never waits: more are dropped)
POLL = 60.0  # seconds the task sleeps at most: deliveries made pending by hand (anatole deliveries) go within it
DIGEST_LIST = 200  # alerts listed in one digest (the others are counted)
_EMAIL = re.compile(r"^[^@\s,;<>\"]+@[^@\s,;<>\"]+$")
SMTP_KEYS = {"host", "port", "starttls", "ssl", "username", "password_file", "from", "timeout", "cafile"}
NOTIFY_KEYS = {"max_per_hour", "retries", "retry_after", "retry_max", "timeout", "allow_http", "syslog", "system"}


@dataclass
class SmtpSettings:
    host: str
    port: int = 587
    starttls: bool = True
    ssl: bool = False  # SMTPS (port 465): TLS from the first byte
    username: str = ""
    password_file: Path | None = None  # read at each send: never a password in anatole.toml
    sender: str = ""  # the `from` key
    timeout: float = 30.0
    cafile: Path | None = None  # the CA that signed the server's certificate (an internal CA); None: the system's

    def tls(self) -> ssl.SSLContext:
        """Certificates always checked, against `cafile` or the system's authorities."""
        return ssl.create_default_context(cafile=str(self.cafile) if self.cafile else None)


@dataclass
class Settings:
    smtp: SmtpSettings | None = None
    max_per_hour: int = 10
    retries: int = 10
    backoff: tuple[float, float] = (30.0, 3600.0)  # first retry delay, largest delay (seconds)
    timeout: float = 10.0  # webhook and syslog
    allow_http: bool = False  # webhooks over plain http to other hosts than loopback
    syslog: str = "/dev/log"  # a Unix socket path, or HOST:PORT (UDP)
    system: list[str] = field(default_factory=list)  # targets of the alerts anatole raises itself (refused peers)


class DeliveryError(Exception):
    pass


# --- configuration ------------------------------------------------------------------------------------------------


def parse_target(text: Any) -> str:
    """A notify entry, normalised; raises ValueError with what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(_("{text} is not a target: monitor, email:ADDRESS, webhook:URL or syslog").format(
            text=repr(text)))
    text = text.strip()
    kind, _sep, value = text.partition(":")
    kind = kind.lower()
    if kind in ("monitor", "syslog") and not value:
        return kind
    if kind == "email":
        if not _EMAIL.match(value.strip()):
            raise ValueError(_("{text}: {value} is not an e-mail address (email:ops@example.com)").format(
                text=repr(text), value=repr(value)))
        return f"email:{value.strip()}"
    if kind == "webhook":
        url = urllib.parse.urlsplit(value.strip())
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(_("{text}: {value} is not an http(s) URL (webhook:https://hooks.example.com/x)").format(
                text=repr(text), value=repr(value)))
        return f"webhook:{value.strip()}"
    raise ValueError(_("{text} is not a target: monitor, email:ADDRESS, webhook:URL or syslog").format(
        text=repr(text)))


def is_loopback_url(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_settings(doc: dict[str, Any], root: Path, where: str, add: Callable[[str, str | None, str], None]
                   ) -> Settings:
    """The [smtp] and [notify] tables; `add(at, key, message)` records each problem."""
    settings = Settings()
    smtp = doc.get("smtp")
    if smtp is not None:
        at = f"{where} [smtp]"
        if not isinstance(smtp, dict):
            add(where, "smtp", _("must be a table ([smtp])"))
        else:
            for key in sorted(set(smtp) - SMTP_KEYS):
                keys = ", ".join(sorted(SMTP_KEYS))
                add(at, key, _("unknown key (expected one of: {keys}) (put the password in a file readable by the "
                               "service only: password_file)").format(keys=keys) if key == "password" else
                    _("unknown key (expected one of: {keys})").format(keys=keys))
            host = smtp.get("host")
            if not isinstance(host, str) or not host:
                add(at, "host", _("required: the mail server's name or address"))
                host = ""
            use_ssl = _bool(smtp, "ssl", False, at, add)
            port = smtp.get("port", 465 if use_ssl else 587)
            if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
                add(at, "port", _("{port} is not a TCP port").format(port=repr(port)))
                port = 587
            sender = smtp.get("from")
            if not isinstance(sender, str) or not _EMAIL.match(sender.rpartition("<")[2].rstrip(">").strip()):
                add(at, "from", _("{sender}: required, the sender's address (e.g. anatole@example.com)").format(
                    sender=repr(sender)))
                sender = ""
            username = smtp.get("username", "")
            if not isinstance(username, str):
                add(at, "username", _("{value} is not a string").format(value=repr(username)))
                username = ""
            pw = smtp.get("password_file")
            password_file = None
            if pw is not None:
                if not isinstance(pw, str) or not pw:
                    add(at, "password_file", _("{value} is not a path").format(value=repr(pw)))
                else:
                    password_file = Path(pw) if Path(pw).is_absolute() else root / pw
            if username and password_file is None:
                add(at, "password_file", _("required with username: a file holding the password (mode 0600)"))
            cafile = smtp.get("cafile")
            if cafile is not None and (not isinstance(cafile, str) or not cafile):
                add(at, "cafile", _("{value} is not a path").format(value=repr(cafile)))
                cafile = None
            settings.smtp = SmtpSettings(host, port, _bool(smtp, "starttls", not use_ssl, at, add), use_ssl,
                                         username, password_file, sender, _number(smtp, "timeout", 30.0, at, add),
                                         (root / cafile) if cafile else None)
    raw = doc.get("notify", {})
    at = f"{where} [notify]"
    if not isinstance(raw, dict):
        add(where, "notify", _("must be a table ([notify])"))
        raw = {}
    for key in sorted(set(raw) - NOTIFY_KEYS):
        add(at, key, _("unknown key (expected one of: {keys})").format(keys=", ".join(sorted(NOTIFY_KEYS))))
    for key in ("max_per_hour", "retries"):
        value = raw.get(key, getattr(settings, key))
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            add(at, key, _("{value} must be a whole number, 1 or more").format(value=repr(value)))
        else:
            setattr(settings, key, value)
    settings.backoff = (_number(raw, "retry_after", settings.backoff[0], at, add),
                        _number(raw, "retry_max", settings.backoff[1], at, add))
    settings.timeout = _number(raw, "timeout", settings.timeout, at, add)
    settings.allow_http = _bool(raw, "allow_http", False, at, add)
    address = raw.get("syslog", settings.syslog)
    if not isinstance(address, str) or not (address.startswith("/") or re.fullmatch(r"[\w.\-\[\]:]+:\d{1,5}",
                                                                                      address)):
        add(at, "syslog", _("{value}: a Unix socket path (/dev/log) or HOST:PORT (UDP)").format(value=repr(address)))
    else:
        settings.syslog = address
    system = raw.get("system", [])
    if not isinstance(system, list):
        add(at, "system", _("{value} must be a list of targets").format(value=repr(system)))
        system = []
    for entry in system:
        try:
            target = parse_target(entry)
        except ValueError as exc:
            add(at, "system", str(exc))
            continue
        if target != "monitor":
            settings.system.append(target)
    return settings


def check_targets(alerts: list[dict[str, Any]], settings: Settings, where: str,
                  add: Callable[[str, str | None, str], None]) -> None:
    """What the targets of the [[alert]] tables (and [notify] system) need: [smtp] for e-mail; https (or a loopback
    http) for webhooks unless allow_http. Malformed entries are left to pbx.alerts.parse_rules."""
    places = [(f"{where} [[alert]] #{n}", t) for n, a in enumerate(alerts, 1)
              for t in (a.get("notify") if isinstance(a.get("notify"), list) else [])]
    places += [(f"{where} [notify]", t) for t in settings.system]
    for at, entry in places:
        try:
            target = parse_target(entry)
        except ValueError:
            continue
        if target.startswith("email:") and settings.smtp is None:
            add(at, "notify", _("{entry}: e-mail needs an [smtp] table (host, port, from...)").format(
                entry=repr(entry)))
        if target.startswith("webhook:"):
            url = target[8:]
            if url.startswith("http:") and not settings.allow_http and not is_loopback_url(url):
                add(at, "notify", _("{entry}: plain http to another machine sends the alert readable on the "
                                    "network: use https (or [notify] allow_http = true)").format(entry=repr(entry)))


def _bool(raw: dict, key: str, default: bool, at: str, add: Callable) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        add(at, key, _("{value} is not true or false").format(value=repr(value)))
        return default
    return value


def _number(raw: dict, key: str, default: float, at: str, add: Callable) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        add(at, key, _("{value} must be a number of seconds above 0").format(value=repr(value)))
        return default
    return float(value)


# --- senders (blocking: run in worker threads) -----------------------------------------------------------------


def send_mail(smtp: SmtpSettings | None, msg: EmailMessage) -> None:
    """Send one message with the standard library's SMTP client (STARTTLS or SMTPS, login when configured)."""
    if smtp is None:
        raise DeliveryError(_("no [smtp] table in anatole.toml"))
    if not msg["From"]:
        msg["From"] = smtp.sender
    try:
        if smtp.ssl:
            client: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=smtp.tls())
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        with client:
            if smtp.starttls and not smtp.ssl:
                client.starttls(context=smtp.tls())
            if smtp.username:
                client.login(smtp.username, _password(smtp))
            refused = client.send_message(msg)
            if refused:
                raise DeliveryError(_("the server refused {addresses}").format(addresses=", ".join(refused)))
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"SMTP {smtp.host}:{smtp.port}: {type(exc).__name__}: {exc}") from None


def _password(smtp: SmtpSettings) -> str:
    assert smtp.password_file is not None
    try:
        return smtp.password_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise DeliveryError(f"[smtp] password_file {smtp.password_file}: {exc.strerror or exc}") from None


class _SameOriginRedirect(urllib.request.HTTPRedirectHandler):
    """Follow a 307/308 to the same scheme, host and port only (the POST and its body kept); any other redirect
    is an error: an alert is never sent to a host the configuration did not name."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        old, new = urllib.parse.urlsplit(req.full_url), urllib.parse.urlsplit(newurl)
        if code in (307, 308) and (old.scheme, old.netloc) == (new.scheme, new.netloc):
            return urllib.request.Request(newurl, data=req.data, headers=dict(req.header_items()), method="POST")
        raise DeliveryError(_("webhook {url}: redirected ({code}) to {new}: not followed").format(
            url=req.full_url, code=code, new=newurl))


def post_json(url: str, payload: Any, *, timeout: float = 10.0, allow_http: bool = False) -> int:
    """POST `payload` as JSON; returns the HTTP status (2xx), raises DeliveryError otherwise."""
    if url.startswith("http:") and not allow_http and not is_loopback_url(url):
        raise DeliveryError(_("webhook {url}: plain http to another machine is not allowed ([notify] "
                              "allow_http)").format(url=url))
    opener = urllib.request.build_opener(_SameOriginRedirect)
    data = json.dumps(payload, default=str).encode()
    req = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "anatole"})
    try:
        with opener.open(req, timeout=timeout) as resp:
            resp.read(65536)
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"webhook {url}: HTTP {exc.code} {exc.reason}") from None
    except (OSError, urllib.error.URLError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"webhook {url}: {reason}") from None


# --- messages -----------------------------------------------------------------------------------------------------


def when(at: int) -> str:
    return dt.datetime.fromtimestamp(int(at), dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def payload(alert: dict[str, Any]) -> dict[str, Any]:
    """An alert as JSON (the webhook's body): money as a decimal string, times as epoch seconds and ISO UTC."""
    amount = alert.get("amount")
    return {"id": alert["id"], "rule": alert["rule"], "kind": alert["kind"], "severity": alert["severity"],
            "at": alert["at"], "time": when(alert["at"]), "message": alert["message"], "site": alert["site"] or "",
            "extension": alert["extension"] or "", "call_id": alert["call_id"],
            "amount": None if amount is None else format_amount(int(amount), currency=alert["currency"] or None),
            "currency": alert["currency"] or ""}


def severity(name: str) -> str:
    """A severity as a person reads it (the stored value stays `warning` / `critical`)."""
    return {"warning": pgettext("severity", "warning"), "critical": pgettext("severity", "critical")}.get(name, name)


def _lines(alert: dict[str, Any]) -> str:
    """The body of an alert's mail: labels in the daemon's language, money and time through store.display."""
    p = payload(alert)
    amount = alert.get("amount")
    rows = [(_("time:"), display.when(alert["at"], "UTC", seconds=True)), (_("rule:"), p["rule"])]
    rows += [(label, p[key]) for key, label in (("site", _("site:")), ("extension", _("extension:")),
                                                ("call_id", _("call id:"))) if p[key]]
    if amount is not None:
        rows.append((_("amount:"), display.money(int(amount), p["currency"] or None, exact=True)))
    rows.append((_("alert id:"), _("{id} (acknowledge it in `anatole monitor` or `anatole alerts`)").format(
        id=p["id"])))
    width = max(len(label) for label, _value in rows) + 1
    out = [f"{severity(p['severity']).upper()}: {p['message']}", ""]
    out += [f"{label:<{width}} {value}" for label, value in rows]
    return "\n".join(out)


def alert_mail(alert: dict[str, Any], to: str) -> EmailMessage:
    msg = _mail(to, _("[anatole] {severity} #{id}: {message}").format(
        severity=severity(alert["severity"]), id=alert["id"], message=alert["message"])[:200])
    msg["X-Anatole-Alert"] = str(alert["id"])
    msg.set_content(_lines(alert) + "\n")
    return msg


def digest_mail(alerts: list[dict[str, Any]], total: int, to: str, limit: int) -> EmailMessage:
    msg = _mail(to, ngettext("[anatole] {total} alert (digest: over {limit} messages in an hour)",
                             "[anatole] {total} alerts (digest: over {limit} messages in an hour)",
                             total).format(total=total, limit=limit))
    parts = [ngettext("{total} alert was raised while this address had already received {limit} messages in an "
                      "hour.", "{total} alerts were raised while this address had already received {limit} "
                      "messages in an hour.", total).format(total=total, limit=limit), ""]
    parts += [f"{display.when(a['at'], 'UTC', seconds=True)}  {severity(a['severity']):8}  #{a['id']}  {a['message']}"
              for a in alerts[:DIGEST_LIST]]
    if total > DIGEST_LIST:
        parts.append(_("... and {n} more: `anatole alerts` lists them all").format(n=total - DIGEST_LIST))
    msg.set_content("\n".join(parts) + "\n")
    return msg


def _mail(to: str, subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["To"] = to
    msg["Subject"] = " ".join(subject.split())
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="anatole")
    return msg


def send_alert(settings: Settings, target: str, alert: dict[str, Any]) -> None:
    kind, _sep, value = target.partition(":")
    if kind == "email":
        send_mail(settings.smtp, alert_mail(alert, value))
    elif kind == "webhook":
        post_json(value, payload(alert), timeout=settings.timeout, allow_http=settings.allow_http)
    elif kind == "syslog":
        _syslog(settings, alert["severity"], f"alert {alert['severity']}: {alert['message']} (id {alert['id']})")
    else:
        raise DeliveryError(_("{target} is not a target").format(target=repr(target)))


def _syslog(settings: Settings, severity: str, text: str) -> None:
    errors: list[BaseException] = []

    class Handler(logging.handlers.SysLogHandler):
        def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
            import sys

            errors.append(sys.exc_info()[1] or OSError("syslog"))

    target: Any = settings.syslog
    if not target.startswith("/"):
        host, _sep, port = target.rpartition(":")
        target = (host.strip("[]"), int(port))
    try:
        handler = Handler(address=target, facility=logging.handlers.SysLogHandler.LOG_DAEMON)
    except OSError as exc:
        raise DeliveryError(f"syslog {settings.syslog}: {exc.strerror or exc}") from None
    handler.ident = "anatole: "
    try:
        level = logging.CRITICAL if severity == "critical" else logging.WARNING
        handler.emit(logging.LogRecord("anatole", level, __file__, 0, " ".join(text.split()), None, None))
    finally:
        handler.close()
    if errors:
        raise DeliveryError(f"syslog {settings.syslog}: {errors[0]}")


def send_digest(settings: Settings, target: str, alerts: list[dict[str, Any]], total: int) -> None:
    kind, _sep, value = target.partition(":")
    if kind == "email":
        send_mail(settings.smtp, digest_mail(alerts, total, value, settings.max_per_hour))
    elif kind == "webhook":
        post_json(value, {"digest": True, "count": total, "limit_per_hour": settings.max_per_hour,
                          "alerts": [payload(a) for a in alerts[:DIGEST_LIST]]},
                  timeout=settings.timeout, allow_http=settings.allow_http)
    else:
        raise DeliveryError(_("{target} takes no digest").format(target=repr(target)))


# --- the delivery task ------------------------------------------------------------------------------------------


def rule_targets(targets: Iterable[tuple[str, list[str]]]) -> dict[str, list[str]]:
    """Each [[alert]] name's targets beyond the console, from (rule name, notify list) pairs (two rules of one
    name: both lists)."""
    out: dict[str, list[str]] = {}
    for rule, ts in targets:
        got = out.setdefault(rule, [])
        got += [t for t in ts if t != "monitor" and t not in got]
    return out


def delivery_rows(targets: dict[str, list[str]], system: list[str],
                  alerts: Iterable[tuple[dict[str, Any], int | None]]) -> list[tuple[int, str]]:
    """(alert id, target) of each newly stored alert (id None: stored before) and target of its rule; the alerts
    of anatole itself, whose rule is not an [[alert]], go to [notify] system. The daemon and the mobile import
    both write these rows in the transaction that stores the alerts (store.notify.add_alert_deliveries)."""
    return [(aid, t) for alert, aid in alerts if aid is not None
            for t in targets.get(alert["rule"], system if alert["rule"] not in targets else [])]


class AlertDelivery:
    """Deliveries of the daemon's alerts: rows written by the writer (schedule), sent by run() in the nursery."""

    def __init__(self, settings: Settings | None, targets: Iterable[tuple[str, list[str]]], db_path: Path,
                 log: Callable[..., None]) -> None:
        """`targets`: (rule name, its notify list) of each [[alert]] (two rules of one name: both lists)."""
        import trio

        self.settings = settings or Settings()
        self.targets = rule_targets(targets)
        self.db_path = db_path
        self.log = log
        self.conn: Any = None
        self.sent = self.failed = 0  # messages sent, deliveries failed for good (this run)
        self.in_flight = 0  # messages being sent now (0 or 1)
        self._woken = True  # no delivery scheduled since the last wake-up
        self._wake_send, self._wake_receive = trio.open_memory_channel[int](WAKE_QUEUE)

    @property
    def active(self) -> bool:
        return bool(self.settings.system or any(self.targets.values()))

    def open(self) -> None:
        """Its own connection, and the deliveries table (before the writer's first transaction may use it)."""
        self.conn = connect(self.db_path, timeout=30, check_same_thread=False)
        notify_store.migrate(self.conn)

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None

    def schedule(self, conn: Any, alerts: list[tuple[dict[str, Any], int | None]]) -> int:
        """In the writer's transaction: one pending delivery per new alert and target of its rule (the alerts of
        anatole itself, whose rule is not an [[alert]], go to [notify] system)."""
        rows = delivery_rows(self.targets, self.settings.system, alerts)
        if rows:
            notify_store.add_alert_deliveries(conn, rows)
            self._woken = False
        return len(rows)

    def wake(self) -> None:
        """After the writer's commit of new deliveries: never waits (a full channel means the task has work to do
        already)."""
        import trio

        if self._woken:
            return
        self._woken = True
        with contextlib.suppress(trio.WouldBlock, trio.ClosedResourceError):
            self._wake_send.send_nowait(1)

    async def run(self, *, task_status: Any = None) -> None:
        import trio

        if self.conn is None:
            await trio.to_thread.run_sync(self.open)
        if task_status is not None:
            task_status.started()
        failures = 0
        while True:
            wait = POLL
            try:
                await self.deliver_due()
                nxt = await trio.to_thread.run_sync(notify_store.next_due, self.conn)
                if nxt is not None:
                    wait = max(0.0, nxt - time.time())
                failures = 0
            except Exception as exc:  # the database: log, wait, try again (deliveries stay pending)
                failures += 1
                self.log("error", where="notify", error=f"{type(exc).__name__}: {exc}", attempt=failures)
                wait = min(self.settings.backoff[0] * 2 ** min(failures, 10), self.settings.backoff[1])
            with trio.move_on_after(min(wait, POLL)):
                await self._wake_receive.receive()
                while True:
                    try:
                        self._wake_receive.receive_nowait()
                    except trio.WouldBlock:
                        break

    async def deliver_due(self) -> None:
        """Send every delivery whose time has come, target by target."""
        import trio

        now = time.time()
        rows = await trio.to_thread.run_sync(notify_store.due, self.conn, now)
        if not rows:
            return
        alerts = await trio.to_thread.run_sync(notify_store.alerts, self.conn, [r["alert_id"] for r in rows])
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            groups.setdefault(r["target"], []).append(r)
        for target, group in groups.items():
            await self._target(target, group, alerts)

    async def _target(self, target: str, group: list[dict[str, Any]], alerts: dict[int, dict[str, Any]]) -> None:
        import trio

        missing = [r for r in group if r["alert_id"] not in alerts]
        if missing:
            await self._failed(missing, target, _("the alert is no longer stored"), final=True)
        group = [r for r in group if r["alert_id"] in alerts]
        if not group:
            return
        kind = target.partition(":")[0]
        if kind not in LIMITED:
            await self._send_each(target, group, alerts)
            return
        limit = self.settings.max_per_hour
        now = time.time()
        recent = await trio.to_thread.run_sync(notify_store.sent_since, self.conn, target, now - 3600)
        room = limit - len(recent)
        held = [r for r in group if r["state"] == "held"]
        pending = [r for r in group if r["state"] == "pending"]
        if held:  # the hour has passed for some: one digest of everything waiting
            if room > 0:
                await self._send_digest(target, held + pending, alerts)
            else:
                await trio.to_thread.run_sync(notify_store.hold, self.conn, [r["id"] for r in held + pending],
                                              recent[0] + 3600)
            return
        await self._send_each(target, pending[:max(room, 0)], alerts)
        over = pending[max(room, 0):]
        if over:
            recent = await trio.to_thread.run_sync(notify_store.sent_since, self.conn, target, time.time() - 3600)
            until = (recent[0] if recent else time.time()) + 3600
            await trio.to_thread.run_sync(notify_store.hold, self.conn, [r["id"] for r in over], until)
            self.log("notify-held", target=_public(target), alerts=len(over), limit_per_hour=limit,
                     digest_at=round(until, 3), level="warning")

    async def _send_each(self, target: str, rows: list[dict[str, Any]], alerts: dict[int, dict[str, Any]]) -> None:
        """One message per row, in order; after a failure the target's other rows wait for the same retry time
        (a server that is down or hangs costs one try per back-off step, not one per alert)."""
        import trio

        for n, r in enumerate(rows):
            next_at = await self._send_one(target, r, alerts[r["alert_id"]])
            if next_at is not None:
                rest = [x["id"] for x in rows[n + 1:]]
                if rest:
                    await trio.to_thread.run_sync(notify_store.postpone, self.conn, rest, next_at)
                return

    async def _send_one(self, target: str, row: dict[str, Any], alert: dict[str, Any]) -> float | None:
        """Send; None when sent (or failed for good), else when it is tried again."""
        import trio

        self.in_flight += 1
        try:
            await trio.to_thread.run_sync(send_alert, self.settings, target, alert, **_abandon())
        except Exception as exc:
            return await self._failed([row], target, str(exc) if isinstance(exc, DeliveryError)
                                      else f"{type(exc).__name__}: {exc}")
        finally:
            self.in_flight -= 1
        await trio.to_thread.run_sync(notify_store.sent, self.conn, [row["id"]], target, time.time())
        self.sent += 1
        self.log("notified", target=_public(target), alert=alert["id"], tries=row["tries"] + 1)
        return None

    async def _send_digest(self, target: str, rows: list[dict[str, Any]], alerts: dict[int, dict[str, Any]]) -> None:
        import trio

        listed = [alerts[r["alert_id"]] for r in rows]
        try:
            await trio.to_thread.run_sync(send_digest, self.settings, target, listed, len(listed), **_abandon())
        except Exception as exc:
            await self._failed(rows, target, str(exc) if isinstance(exc, DeliveryError)
                               else f"{type(exc).__name__}: {exc}", state="held")
            return
        await trio.to_thread.run_sync(lambda: notify_store.sent(self.conn, [r["id"] for r in rows], target,
                                                                time.time(), digest=True))
        self.sent += 1
        self.log("notified", target=_public(target), digest=len(rows))

    async def _failed(self, rows: list[dict[str, Any]], target: str, error: str, *, final: bool = False,
                      state: str = "pending") -> float | None:
        """Count a failed try of these rows; returns when they are tried again (None: given up)."""
        import trio

        tries = max(r["tries"] for r in rows) + 1
        last = final or tries >= self.settings.retries
        first, largest = self.settings.backoff
        next_at = None if last else time.time() + min(first * 2 ** (tries - 1), largest)
        await trio.to_thread.run_sync(lambda: notify_store.retry(self.conn, [r["id"] for r in rows], error,
                                                                 next_at, state))
        if last:
            self.failed += len(rows)
            self.log("notify-failed", target=_public(target), alerts=[r["alert_id"] for r in rows], tries=tries,
                     error=error, level="error")
        else:
            self.log("notify-retry", target=_public(target), alerts=[r["alert_id"] for r in rows], tries=tries,
                     error=error, retry_in=round(next_at - time.time(), 3), level="warning")  # type: ignore[operator]
        return next_at


def _public(target: str) -> str:
    """A target as logged: a webhook's query string (often a token) left out."""
    if target.startswith("webhook:"):
        url = urllib.parse.urlsplit(target[8:])
        return f"webhook:{url.scheme}://{url.netloc}{url.path}"
    return target


def _abandon() -> dict[str, bool]:
    """A send in progress is left to finish in its thread when the daemon stops (never holding up the shutdown);
    its delivery is still pending, so the next start sends it (at least once). trio 0.23 renamed the argument."""
    import trio

    params = inspect.signature(trio.to_thread.run_sync).parameters
    return {"abandon_on_cancel": True} if "abandon_on_cancel" in params else {"cancellable": True}
