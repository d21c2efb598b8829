"""`anatole serve`, `anatole status`, `anatole alerts`: the live collection daemon and what it reports.

This module is the wiring `pbx/` may not do itself (nothing imports `anatole`): it turns the workspace into a
`pbx.daemon.DaemonConfig`, with the batch importer's `call_rows` (dial plan, classification, engine rating) as the
daemon's rating function, so that a live call and the same call imported from a file are stored identically.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from anatole.clitools import COUNT
from anatole.clitools import console as _console
from anatole.clitools import emit_json as _emit_json
from anatole.clitools import fail as _fail
from anatole.clitools import store as _store
from anatole.clitools import workspace as _workspace
from anatole.config import Workspace
from i18n import _

# `anatole status` exit codes, as a Nagios/Icinga plugin's (README "Monitoring"): the check's state
EXIT_OK = 0
EXIT_WARNING = 1  # a source down, journal backlog over --backlog, failures in the last hour
EXIT_CRITICAL = 2  # every source down, or still replaying the journal after --starting seconds
EXIT_UNKNOWN = 3  # no daemon answers (as `systemctl status` for a stopped unit)
EXIT_NOT_RUNNING = EXIT_UNKNOWN
STATES = {EXIT_OK: "OK", EXIT_WARNING: "WARNING", EXIT_CRITICAL: "CRITICAL", EXIT_UNKNOWN: "UNKNOWN"}
BACKLOG_WARNING = 10_000  # records received and not yet stored
STARTING_CRITICAL = 600  # seconds of journal replay before it is an emergency


def build_config(ws: Workspace, *, log: Any = None) -> tuple[Any, list[str]]:
    """The daemon's configuration, or the problems that prevent it (each naming the key or file)."""
    from pbx.alerts import SiteInfo, parse_rules
    from pbx.daemon import DaemonConfig
    from pipeline.cdrimport import call_rows, live_direction
    from tariffs.errors import TariffError

    problems: list[str] = []
    rules, rule_problems = parse_rules(ws.alerts, str(ws.path / "anatole.toml"))
    problems += [str(p) for p in rule_problems]
    live = [s for s in ws.sources.values() if s.listen or s.connect]
    for src in ws.sources.values():
        if src.format in ("asterisk-ami", "freeswitch-esl") and not src.connect:
            problems.append(_("anatole.toml [[source]] {source}: connect: required for a {format} source (HOST:PORT "
                              "of the PBX's manager / event socket)").format(source=repr(src.name), format=src.format))
        if src.format == "freeswitch-esl" and not src.password:
            problems.append(_("anatole.toml [[source]] {source}: password: required for freeswitch-esl (the event "
                              "socket password; do not keep the default ClueCon)").format(source=repr(src.name)))
        if src.format == "asterisk-ami" and not (src.username and src.password):
            problems.append(_("anatole.toml [[source]] {source}: username, password: required for asterisk-ami")
                            .format(source=repr(src.name)))
    if not live:
        problems.append(_("anatole.toml: no [[source]] has listen or connect: nothing to serve"))
    for site in ws.sites.values():
        for path in {site.tariff, *site.trunk_tariffs.values()} - {None}:
            try:
                ws.tariff(path)  # type: ignore[arg-type]
            except TariffError as exc:
                problems += [_("site {site} tariff {file}: {problem}").format(site=repr(site.name), file=path,
                                                                              problem=p) for p in exc.problems]

    def rate(source: str, records: list) -> list[tuple]:
        src = ws.sources[source]
        return call_rows(ws, src, ws.sites[src.site], records, None)

    def direction(source: str, facts: Any, caller: str, dialled: str) -> str:
        src = ws.sources[source]
        return live_direction(ws.sites[src.site], src, facts, caller, dialled)

    sites = {s.name: SiteInfo(timezone=s.timezone, country_code=s.dialplan.country_code) for s in ws.sites.values()}
    config = DaemonConfig(workspace=ws.path, db_path=ws.db_path, sources=live, rate=rate, rules=rules, sites=sites,
                          currency=ws.currency, log=log, metrics=ws.serve.metrics,
                          delivery=ws.delivery, direction=direction)
    if ws.hotel is not None:  # the hotel: guest charges, and the PMS link (anatole/cli_hotel.py)
        from anatole.cli_hotel import daemon_extensions

        config.extensions += daemon_extensions(ws, problems)
    return config, problems


def peer_warnings(sources: list[Any]) -> list[str]:
    """A listening source reachable from other machines with no allow list accepts records from anyone there."""
    from pbx.peers import is_loopback

    out = []
    for s in sources:
        if s.listen and s.allow is None and not is_loopback(s.listen.rpartition(":")[0].strip("[]")):
            out.append(_("anatole.toml [[source]] {source}: listen = {listen} accepts records from any machine that "
                         "can reach it; add allow = [\"<the PBX's address>\"] (addresses or networks)").format(
                source=repr(s.name), listen=repr(s.listen)))
    return out


@click.command(help=_("Run the live collection daemon: SMDR listeners and connectors, AMI/ESL clients, real-time "
                      "rating, alerts, and the subscriber socket <workspace>/anatole.sock. Logs are JSON lines on "
                      "stderr; SIGTERM stops it. Under systemd (Type=notify) it says READY=1 once serving "
                      "(`anatole service print serve`)."))
@click.option("--workspace", "-w", "workspace", type=click.Path(file_okay=False, path_type=Path),
              help=_("The workspace folder (as the global --workspace)."))
@click.option("--check", is_flag=True, help=_("Validate anatole.toml, the tariffs and the alert rules, then exit."))
@click.option("--json", "as_json", is_flag=True, help=_("With --check: print the plan as JSON."))
@click.option("--metrics", "metrics", metavar="HOST:PORT",
              help=_("Serve Prometheus metrics there (as [serve] metrics; loopback unless metrics_remote = true)."))
@click.pass_context
def serve(ctx: click.Context, workspace: Path | None, check: bool, as_json: bool, metrics: str | None) -> None:
    """Run the live collection daemon: SMDR listeners and connectors, AMI/ESL clients, real-time rating, alerts,
    and the subscriber socket <workspace>/anatole.sock. Logs are JSON lines on stderr; SIGTERM stops it. Under
    systemd (Type=notify) it says READY=1 once serving (`anatole service print serve`)."""
    if workspace is not None:
        ctx.obj["workspace"] = workspace
    ws = _workspace(ctx)
    config, problems = build_config(ws)
    if metrics is not None:
        from anatole.config import metrics_address
        from tariffs.errors import Collector

        errs = Collector()
        config.metrics = metrics_address(metrics, ws.serve.metrics_remote, "--metrics", errs)
        problems += [str(p) for p in errs.problems]
    if problems:
        console = _console(err=True)
        console.print("[bold red]" + _("error:") + "[/] " + _("cannot serve:"))
        for p in problems:
            console.print(f"  {p}", markup=False)
        sys.exit(1)
    plan = {"workspace": str(ws.path), "socket": str(ws.path / "anatole.sock"),
            "sources": [{"name": s.name, "format": s.format, "site": s.site,
                         "listen": s.listen, "connect": s.connect,
                         "allow": [str(n.network_address) if n.num_addresses == 1 else str(n) for n in s.allow]
                         if s.allow is not None else None}
                        for s in config.sources],
            "alerts": [{"name": r.name, "kind": r.kind} for r in config.rules],
            "metrics": f"{config.metrics[0]}:{config.metrics[1]}" if config.metrics else None,
            "warnings": peer_warnings(config.sources)}
    if check:
        if as_json:
            _emit_json({"ok": True, **plan})
        else:
            out = _console()
            out.print(_("anatole.toml is valid: {sources} live source(s), {rules} alert rule(s)").format(
                sources=len(plan["sources"]), rules=len(plan["alerts"])))
            for s in plan["sources"]:
                how = _("listen {address}").format(address=s["listen"]) if s["listen"] else \
                    _("connect {address}").format(address=s["connect"])
                if s["allow"]:
                    how += ", " + _("allow {addresses}").format(addresses=", ".join(s["allow"]))
                out.print(f"  {s['name']}: {s['format']} ({s['site']}), {how}", markup=False)
            from rich.markup import escape

            for w in plan["warnings"]:
                out.print("[bold yellow]" + _("warning:") + "[/] " + escape(w), highlight=False)
        return
    store = _store(ws)
    for site in ws.sites.values():
        store.upsert_site(site.name, site.country, site.timezone, str(site.tariff) if site.tariff else None)
    for src in ws.sources.values():
        store.upsert_source(src.name, src.site, src.format)
    store.close()
    import trio

    from pbx.daemon import Daemon, DaemonError

    try:
        trio.run(Daemon(config).run)
    except DaemonError as exc:
        _fail(str(exc))
    except Exception as exc:  # a bug: one JSON line for journald (not a traceback over many entries), exit 1
        import json
        import traceback

        from pbx.sdnotify import journal_prefix

        line = json.dumps({"ts": round(time.time(), 3), "level": "critical", "event": "crashed",
                           "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()})
        sys.stderr.write(journal_prefix(sys.stderr)("critical") + line + "\n")
        sys.exit(1)


def request_status(path: Path, timeout: float = 5.0) -> Any:
    """Ask the daemon listening on `path` for its Status (blocking; no trio needed). None when none runs, or when
    it went away in the middle of the answer (killed, stopping): that is what a status check sees then."""
    from pbx.protocol import Status, StatusRequest, encode

    try:
        return _ask(path, encode(StatusRequest()), lambda m: isinstance(m, Status), timeout)
    except _NoDaemon:
        return None


class _NoDaemon(Exception):
    """No daemon answers on the socket: none runs, or it went away before it answered (killed, stopping)."""


def _ask(path: Path, request: bytes, want: Callable[[Any], bool], timeout: float) -> Any:
    """Send `request` to the daemon's socket (blocking; no trio needed) and return the first message `want` accepts.
    Raises _NoDaemon, OSError for the daemon's Error reply, TimeoutError when nothing came within `timeout`."""
    from pbx.protocol import Error, FrameReader

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise _NoDaemon from None
        reader = FrameReader()
        sock.sendall(request)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                raise _NoDaemon  # the daemon closed the socket without answering: it is gone or going
            for message in reader.feed(data):
                if want(message):
                    return message
                if isinstance(message, Error):
                    raise OSError(_("the daemon refused the request: {problem}").format(problem=message.message))
    except (ConnectionResetError, BrokenPipeError):
        raise _NoDaemon from None  # killed while we asked
    finally:
        sock.close()
    raise TimeoutError(_("{path}: the daemon did not answer within {seconds} s").format(path=path,
                                                                                   seconds=f"{timeout:g}"))


@click.command(help=_("Ask the running daemon for its sources, connection states and counters. The exit code is a "
                      "monitoring check's: 0 OK, 1 WARNING (a source down, a backlog, failures in the last hour), "
                      "2 CRITICAL (every source down, a start that takes too long), 3 UNKNOWN (no daemon answers)."))
@click.option("--workspace", "-w", "workspace", type=click.Path(file_okay=False, path_type=Path),
              help=_("The workspace folder (as the global --workspace)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the status as JSON."))
@click.option("--backlog", type=click.IntRange(min=0), default=BACKLOG_WARNING, show_default=True,
              help=_("WARNING when more records than this wait to be stored."))
@click.option("--starting", "starting_limit", type=click.IntRange(min=0), default=STARTING_CRITICAL,
              show_default=True, help=_("CRITICAL when the daemon still replays its journal after this many seconds."))
@click.pass_context
def status(ctx: click.Context, workspace: Path | None, as_json: bool, backlog: int, starting_limit: int) -> None:
    """Ask the running daemon for its sources, connection states and counters. The exit code is a monitoring
    check's: 0 OK, 1 WARNING (a source down, a backlog, failures in the last hour), 2 CRITICAL (every source down,
    a start that takes too long), 3 UNKNOWN (no daemon answers)."""
    import msgspec

    from anatole.config import workspace_path
    from pbx.protocol import SOCKET_NAME

    path = workspace_path(workspace or ctx.obj["workspace"]) / SOCKET_NAME
    try:
        got = request_status(path)
    except (OSError, TimeoutError) as exc:
        message = _("cannot talk to the daemon: {problem}").format(problem=exc)
        if as_json:
            _emit_json({"running": None, "socket": str(path), "check": "UNKNOWN", "reasons": [message]})
        else:
            _console(err=True).print(_("error:") + " " + message, markup=False)
        sys.exit(EXIT_UNKNOWN)
    if got is None:
        if as_json:
            _emit_json({"running": False, "socket": str(path), "check": "UNKNOWN",
                        "reasons": [_("no daemon is running")]})
        else:
            _console(err=True).print(_("no daemon is running for this workspace (no answer on {path}); start one "
                                       "with `anatole serve`").format(path=path), markup=False)
        sys.exit(EXIT_NOT_RUNNING)
    code, reasons = health(got, backlog=backlog, starting_limit=starting_limit)
    data = msgspec.to_builtins(got)
    if as_json:
        _emit_json({"running": True, **data, "check": STATES[code], "reasons": reasons})
        sys.exit(code)
    from rich.table import Table

    from store import display

    out = _console()
    up = int(time.time()) - got.started
    out.print(_("daemon pid {pid}, up {uptime}, workspace {workspace}").format(
        pid=got.pid, uptime=f"{up // 3600}h{up % 3600 // 60:02d}m", workspace=got.workspace), markup=False)
    if got.starting:
        out.print(_("starting: storing the records a previous run left in the journal ({count} so far); the sources "
                    "start after").format(count=got.replayed), markup=False)
    table = Table(_("source"), _("format"), _("state"), _("since"), _("peer"), _("received"), _("detail"))
    for s in got.sources:
        since = time.strftime(f"{display.date_pattern()} %H:%M:%S", time.localtime(s.since))  # this machine's time
        table.add_row(s.name, s.format, s.state, since, s.peer, str(s.received), s.detail)
    out.print(table)
    c = got.counters
    out.print(_("received {received}, journaled {journaled}, calls {calls}, rejects {rejects}, duplicates "
                "{duplicates}, in flight {pending}, replayed at start {replayed}, errors {errors}").format(
        received=got.received, journaled=got.journaled, calls=got.stored_calls, rejects=got.stored_rejects,
        duplicates=got.duplicates, pending=got.journal_pending, replayed=got.replayed, errors=got.errors),
        markup=False)
    if c is not None:
        out.print(_("active calls {active}, calls last minute {minute}, today {today}, open alerts {alerts}, "
                    "subscribers {subscribers}").format(active=c.active, minute=c.calls_last_minute,
                                                         today=c.calls_today, alerts=c.alerts_open,
                                                         subscribers=got.subscribers), markup=False)
        for label, costs in ((_("cost today: {costs}"), c.costs_today), (_("cost this hour: {costs}"),
                                                                        c.costs_this_hour)):
            text = "; ".join(f"{site} {display.totals(v, sep=', ')}" for site, v in sorted(costs.items())
                             if any(v.values()))
            out.print(label.format(costs=text or _("none")), markup=False)
    out.print(_("check: {state}: {reasons}").format(state=STATES[code], reasons="; ".join(reasons)) if reasons
              else _("check: {state}").format(state=STATES[code]), markup=False)
    sys.exit(code)


def _acknowledge(ws: Workspace, alert: int, as_json: bool) -> None:
    """`anatole alerts --ack ID`: the Acknowledge message over the daemon's socket (the daemon takes the user from
    the socket's peer credentials and writes it), then wait for its AlertAcknowledged."""
    from pbx.protocol import SOCKET_NAME
    from store.live import get_alert

    def done(code: int, message: str, row: dict[str, Any] | None = None) -> None:
        if as_json:
            _emit_json({"alert": alert, "acknowledged": code == 0, "message": message,
                        **({"acknowledged_by": row["acknowledged_by"], "acknowledged_at": row["acknowledged_at"]}
                           if row and row.get("acknowledged_at") else {})})
        else:
            _console(err=code != 0).print(message, markup=False)
        sys.exit(code)

    def known() -> dict[str, Any] | None:
        store = _store(ws)
        try:
            return get_alert(store, alert)
        finally:
            store.close()

    row = known()
    if row is None:
        done(EXIT_WARNING, _("no alert #{id} (see `anatole alerts`)").format(id=alert))
    assert row is not None
    if row["acknowledged_at"] is not None:
        done(EXIT_OK, _("alert #{id} was already acknowledged by {user} on {when}: nothing changed").format(
            id=alert, user=row["acknowledged_by"], when=_alert_time(ws, row, row["acknowledged_at"])), row)
    path = ws.path / SOCKET_NAME
    try:
        got = send_acknowledge(path, alert)
    except (OSError, TimeoutError) as exc:
        done(EXIT_WARNING, _("alert #{id}: cannot talk to the daemon: {problem}").format(id=alert, problem=exc))
    if got is False:
        done(EXIT_NOT_RUNNING, _("no daemon is running for this workspace (no answer on {path}): acknowledgements "
                                 "go through it, which records who sent them; start one with `anatole serve`")
             .format(path=path))
    row = known() or row
    if got is None:
        if row.get("acknowledged_at") is not None:  # someone else was quicker
            done(EXIT_OK, _("alert #{id} was acknowledged by {user} meanwhile: nothing changed").format(
                id=alert, user=row["acknowledged_by"]), row)
        done(EXIT_WARNING, _("alert #{id}: the daemon did not confirm the acknowledgement (see its log)").format(
            id=alert))
    done(EXIT_OK, _("alert #{id} acknowledged by {user}").format(id=alert, user=got.by), row)


def _alert_time(ws: Workspace, row: dict[str, Any], epoch: float) -> str:
    """An alert's instant as the console shows it: store.display.when in its site's zone (else UTC)."""
    from store import display

    site = ws.sites.get(row.get("site") or "")
    return display.when(epoch, site.timezone if site else None)


def send_acknowledge(path: Path, alert: int, timeout: float = 10.0) -> Any:
    """Acknowledge `alert` through the daemon listening on `path` (blocking; no trio needed): its AlertAcknowledged,
    None when the daemon did not confirm within `timeout` (an alert it did not change), False when no daemon runs."""
    import getpass

    from pbx.protocol import Acknowledge, AlertAcknowledged, Subscribe, encode

    try:
        claimed = getpass.getuser()  # only a claim: the daemon writes the socket peer's user
    except (KeyError, OSError):
        claimed = ""
    request = encode(Subscribe(topics=["alerts"])) + encode(Acknowledge(alert=alert, by=claimed))
    try:
        return _ask(path, request, lambda m: isinstance(m, AlertAcknowledged) and m.id == alert, timeout)
    except _NoDaemon:
        return False
    except TimeoutError:
        return None


def health(got: Any, *, backlog: int = BACKLOG_WARNING, starting_limit: int = STARTING_CRITICAL,
           now: float | None = None) -> tuple[int, list[str]]:
    """The monitoring state of a daemon's Status (pbx.protocol.Status) and the reasons for it, worst first."""
    from pbx.daemon import UP_STATES

    now = time.time() if now is None else now
    critical: list[str] = []
    warning: list[str] = []
    if got.starting:
        took = int(now - got.started)
        if took > starting_limit:
            critical.append(_("still storing the journal left by the last run after {seconds} s ({count} so far)")
                            .format(seconds=took, count=got.replayed))
    else:
        down = [s for s in got.sources if s.state not in UP_STATES]
        if got.sources and len(down) == len(got.sources):
            critical.append(_("every source is down: {sources}").format(
                sources=", ".join(f"{s.name} {s.state}" for s in down)))
        elif down:
            warning.append(_("down: {sources}").format(sources=", ".join(
                f"{s.name} {s.state}" + (f" ({s.detail})" if s.detail else "") for s in down)))
    if got.journal_pending > backlog:
        warning.append(_("{count} records wait to be stored (over {limit})").format(count=got.journal_pending,
                                                                                     limit=backlog))
    if got.errors_last_hour:
        warning.append(_("{count} failures in the last hour (see the log)").format(count=got.errors_last_hour))
    if critical:
        return EXIT_CRITICAL, critical + warning
    return (EXIT_WARNING if warning else EXIT_OK), warning


@click.command(help=_("List the alerts raised by the [[alert]] rules (the daemon's, and the mobile usage ones), "
                      "newest first; or acknowledge one with --ack ID."))
@click.option("--workspace", "-w", "workspace", type=click.Path(file_okay=False, path_type=Path),
              help=_("The workspace folder (as the global --workspace)."))
@click.option("--open", "open_only", is_flag=True, help=_("Only alerts not acknowledged."))
@click.option("--limit", type=COUNT, default=100, show_default=True, help=_("At most this many alerts."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the alerts as JSON."))
@click.option("--ack", "ack", type=int, metavar="ID",
              help=_("Acknowledge alert ID through the running daemon (as the console does: the acknowledger is the "
                     "user running this command). Exit 0 acknowledged (or already), 1 no such alert or not "
                     "confirmed, 3 no daemon running."))
@click.pass_context
def alerts(ctx: click.Context, workspace: Path | None, open_only: bool, limit: int, as_json: bool,
           ack: int | None) -> None:
    """List the alerts raised by the [[alert]] rules (the daemon's, and the mobile usage ones), newest first; or
    acknowledge one with --ack ID."""
    from store import display
    from store.live import list_alerts

    if workspace is not None:
        ctx.obj["workspace"] = workspace
    ws = _workspace(ctx)
    if ack is not None:
        _acknowledge(ws, ack, as_json)
        return
    store = _store(ws)
    rows = list(list_alerts(store, open_only=open_only, limit=limit))
    store.close()
    if as_json:
        _emit_json(rows)
        return
    from rich.table import Table

    out = _console()
    columns = (("id", _("id")), ("at", _("at")), ("severity", _("severity")), ("rule", _("rule")),
               ("kind", _("kind")), ("site", _("site")), ("ext", _("ext")), ("call", _("call")),
               ("amount", _("amount")), ("message", _("message")), ("ack", _("ack")))
    if out.width < 120:  # a terminal of 80 columns: what an operator acts on, the message wrapped
        columns = tuple(c for c in columns if c[0] in ("id", "at", "rule", "ext", "amount", "message", "ack"))
    cells = [{"id": str(r["id"]), "at": _alert_time(ws, r, r["at"]), "severity": r["severity"], "rule": r["rule"],
              "kind": r["kind"], "site": r["site"] or "", "ext": r["extension"] or "", "call": str(r["call_id"] or ""),
              "amount": display.money(r["amount"], r["currency"]), "message": r["message"],
              "ack": r["acknowledged_by"] or ""} for r in rows]
    table = Table(box=None, pad_edge=False, padding=(0, 1, 0, 0))
    for key, title in columns:
        keep = key != "message"  # never cut nor wrapped: a narrow terminal wraps the message instead
        table.add_column(title, no_wrap=keep, justify="right" if key == "amount" else "left",
                         min_width=max([len(title), *(len(c[key]) for c in cells)]) if keep else None,
                         ratio=1 if key == "message" else None)
    for c in cells:
        table.add_row(*(c[key] for key, _title in columns))
    out = _console()
    out.print(table if rows else _("no alerts"))
