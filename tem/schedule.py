"""Scheduled reports: `[[schedule]]` tables of anatole.toml say which report, how often, in which format, to which
folder and for whom; `run_due` produces every report that is due and records each file in the store.

A monthly schedule produces the report of the previous month once (due on the 1st); a weekly or daily one
produces the report of the month to date when its last file is at least 7 days (or 1 day) old. Recipients are
recorded with each file and, when anatole.toml has an [smtp] table, each gets the file by mail (mail_reports): one
delivery record per recipient (store/notify.py), marked sent once the server took it (never sent twice), tried
again by the next run-due when it failed, given up after [notify] retries runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from i18n import _, ngettext
from store import display

FREQUENCIES = {"daily": 1, "weekly": 7, "monthly": 0}
FORMATS = ("csv", "xlsx", "pdf")
SCHEDULE_KEYS = {"name", "report", "frequency", "format", "folder", "recipients"}


@dataclass
class Schedule:
    name: str
    report: str
    frequency: str = "monthly"
    format: str = "pdf"
    folder: str = "reports"
    recipients: list[str] = field(default_factory=list)


def parse_schedules(raw: Any, where: str, add: Any) -> list[Schedule]:
    """Validate the [[schedule]] tables; `add(at, key, message)` records each problem (unknown keys too)."""
    from tem.reports import REPORTS

    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        add(where, "schedule", _("must be an array of tables ([[schedule]])"))
        return []
    out, names = [], set()
    for n, r in enumerate(raw, 1):
        at = f"{where} [[schedule]] #{n}"
        for key in sorted(set(r) - SCHEDULE_KEYS):
            add(at, key, _("unknown key (expected one of: {keys})").format(keys=", ".join(sorted(SCHEDULE_KEYS))))
        name = r.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[\w.-]+", name):
            add(at, "name", _("{value}: required, letters, digits, '.', '_' or '-' (it names the files)").format(
                value=repr(name)))
            name = f"schedule-{n}"
        elif name in names:
            add(at, "name", _("schedule {name} is defined twice").format(name=repr(name)))
        names.add(name)
        report = r.get("report")
        if report not in REPORTS:
            add(at, "report", _("{value} is not a report (one of: {names})").format(value=repr(report),
                                                                                     names=", ".join(REPORTS)))
        freq = r.get("frequency", "monthly")
        if freq not in FREQUENCIES:
            add(at, "frequency", _("{value} must be one of: {choices}").format(value=repr(freq),
                                                                                choices=", ".join(FREQUENCIES)))
        fmt = r.get("format", "pdf")
        if fmt not in FORMATS:
            add(at, "format", _("{value} must be one of: {choices}").format(value=repr(fmt),
                                                                             choices=", ".join(FORMATS)))
        folder = r.get("folder", "reports")
        if not isinstance(folder, str) or not folder:
            add(at, "folder", _("{value} must be a folder (relative to the workspace)").format(value=repr(folder)))
            folder = "reports"
        recipients = r.get("recipients", [])
        if not isinstance(recipients, list) or not all(isinstance(x, str) and "@" in x for x in recipients):
            add(at, "recipients", _("{value} must be a list of e-mail addresses").format(value=repr(recipients)))
            recipients = []
        out.append(Schedule(str(name), str(report), str(freq), str(fmt), folder, list(recipients)))
    return out


def previous_month(today: dt.date) -> str:
    first = today.replace(day=1) - dt.timedelta(days=1)
    return first.strftime("%Y-%m")


def due(schedule: Schedule, last: dict[str, Any] | None, now: dt.datetime) -> str | None:
    """The period to produce now, or None when nothing is due."""
    if schedule.frequency == "monthly":
        period = previous_month(now.date())
        return None if last is not None and last["period"] >= period else period
    if last is not None and now.timestamp() - last["produced_at"] < FREQUENCIES[schedule.frequency] * 86400:
        return None
    return now.strftime("%Y-%m")


def run_due(ws: Any, q: Any, produce: Any, *, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Produce every due report: `produce(report, period, fmt, path)` writes one file. Each file is recorded (with
    its hash and recipients) once written; a report that fails is reported and the others still run."""
    now = now or dt.datetime.now(dt.timezone.utc)
    results = []
    for s in ws.schedules:
        period = due(s, q.last_report(s.name), now)
        if period is None:
            results.append({"schedule": s.name, "due": False})
            continue
        folder = Path(ws.path) / s.folder
        path = folder / f"{s.name}-{period}-{now.strftime('%Y%m%dT%H%M%S')}.{s.format}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            produce(s.report, period, s.format, path)
        except Exception as exc:  # one failing report must not stop the others; its reason is shown
            results.append({"schedule": s.name, "due": True, "period": period, "error": str(exc)})
            continue
        data = path.read_bytes()
        run = q.record_report(s.name, s.report, period, s.format, str(path), hashlib.sha256(data).hexdigest(),
                              len(data), ",".join(s.recipients))
        results.append({"schedule": s.name, "due": True, "period": period, "file": str(path), "run": run,
                        "recipients": s.recipients})
    return results


MIME = {"csv": ("text", "csv"), "pdf": ("application", "pdf"),
        "xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")}


def report_mail(run: dict[str, Any], to: str, data: bytes) -> EmailMessage:
    """The mail that carries one produced report file (the sender is set by whoever sends it)."""
    from tem.reports import title as report_title

    title = report_title(run["report"])
    msg = EmailMessage()
    msg["To"] = to
    msg["Subject"] = _("[anatole] {title}, {period} ({schedule})").format(title=title, period=run["period"],
                                                                          schedule=run["schedule"])
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="anatole")
    produced = display.when(run["produced_at"], "UTC")
    msg.set_content(_("{title} for {period}, produced {produced} by the schedule {schedule}.").format(
        title=title, period=run["period"], produced=produced, schedule=repr(run["schedule"])) + "\n" +
        ngettext("The file is attached ({format}, {size} byte, sha256 {sha256}).",
                 "The file is attached ({format}, {size} bytes, sha256 {sha256}).", len(data)).format(
            format=run["format"], size=len(data), sha256=run["sha256"]) + "\n")
    maintype, subtype = MIME.get(run["format"], ("application", "octet-stream"))
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=Path(run["file"]).name)
    return msg


def mail_reports(conn: Any, results: list[dict[str, Any]], send: Callable[[EmailMessage], None], *,
                 retries: int = 10) -> list[dict[str, Any]]:
    """Record a delivery per recipient of each report just produced, then send every report delivery not yet sent
    (these and the ones an earlier run-due could not send). Each result gets `deliveries`: recipient, state, error.
    A delivery is sent at most once: it is marked sent as soon as the server accepted it."""
    from store import notify

    notify.migrate(conn)
    by_schedule = {r["schedule"]: r for r in results}
    for r in results:
        if r.get("run") and r.get("recipients"):
            notify.add_report_deliveries(conn, r["run"], [f"email:{x}" for x in r["recipients"]])
    out = []
    for d in notify.due(conn, time.time() + 1, reports=True):
        run = notify.report_run(conn, d["report_run"])
        to = d["target"].partition(":")[2]
        error, final = "", False
        if run is None:
            error, final = _("the report run is no longer recorded"), True
        else:
            try:
                data = Path(run["file"]).read_bytes()
            except OSError as exc:
                error, final = f"{run['file']}: {exc.strerror or exc}", True
            else:
                if hashlib.sha256(data).hexdigest() != run["sha256"]:
                    error, final = _("{file} changed since it was produced (sha256 differs): not sent").format(
                        file=run["file"]), True
                else:
                    try:
                        send(report_mail(run, to, data))
                    except Exception as exc:  # the server: kept for the next run-due
                        error = str(exc) or type(exc).__name__
        tries = d["tries"] + 1
        if error:
            last = final or tries >= retries
            notify.retry(conn, [d["id"]], error, None if last else 0.0)
            state = "failed" if last else "pending"
        else:
            notify.sent(conn, [d["id"]], d["target"], time.time())
            state = "sent"
        item = {"to": to, "run": d["report_run"], "state": state, "tries": tries, **({"error": error} if error else {})}
        schedule = run["schedule"] if run else "?"
        if schedule not in by_schedule:
            by_schedule[schedule] = {"schedule": schedule, "due": False}
            results.append(by_schedule[schedule])
        by_schedule[schedule].setdefault("deliveries", []).append(item)
        out.append(item)
    return out
