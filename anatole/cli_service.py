"""`anatole service print NAME`: the systemd units that run anatole as a service (README "Running it in production").

The units are generated here, not shipped as files under deploy/: each one needs the absolute path of the anatole
program and of the workspace, which only the machine knows, and a generated unit cannot drift from the commands it
runs (the tests check both the text and, where systemd is installed, `systemd-analyze verify`). `UNITS` maps a name
to a function giving the unit files; adding one (the nightly backup) is one function and one entry.

Every service runs as a dedicated user (`anatole`), sees the file system read-only except its workspace
(ProtectSystem=strict, ReadWritePaths=), has no capabilities, only the usual system calls and the socket families
it needs, and a umask of 0007: the workspace files are the group's, so an operator in the group `anatole` can run
`anatole monitor` (the daemon's socket is made mode 0660) and read the store.
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click

from anatole.clitools import fail as _fail
from i18n import _

DEFAULT_WORKSPACE = Path("/var/lib/anatole")
WEB_ADDRESS = ("127.0.0.1", 8700)  # `anatole web --host 127.0.0.1 --port 8700` (issue 19)
UNSAFE = re.compile(r"[\s\"'\\$;`]|[\x00-\x1f\x7f]")  # what a unit file would need quoting for: refused


@dataclass(frozen=True)
class Target:
    """Where and as whom the units run: `exec` is the anatole command (one or more words), `workspace` absolute."""

    exec: tuple[str, ...]
    workspace: Path
    user: str = "anatole"
    group: str = "anatole"

    def command(self, *args: str) -> str:
        """An ExecStart= line's value: the program, the global --workspace, then the command's arguments."""
        return " ".join(_escape(w) for w in (*self.exec, "--workspace", str(self.workspace), *args))


def _escape(word: str) -> str:
    return word.replace("%", "%%")  # systemd's specifiers


def hardening(target: Target) -> str:
    """The [Service] lines every anatole unit shares: who, where, and what it may not do."""
    ws = _escape(str(target.workspace))
    home = any(target.workspace.is_relative_to(p) for p in (Path("/home"), Path("/root"), Path("/run/user")))
    return f"""User={target.user}
Group={target.group}
WorkingDirectory={ws}
Environment=ANATOLE_WORKSPACE={ws}
Environment=PYTHONUNBUFFERED=1
# files made mode 0660/0770: the group {target.group} (operators) may read the store and use the daemon's socket
UMask=0007
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths={ws}
{"ProtectHome=read-only" if home else "ProtectHome=yes"}
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
CapabilityBoundingSet=
AmbientCapabilities=
"""


def serve_unit(target: Target) -> list[tuple[str, str]]:
    return [("anatole.service", f"""# anatole.service: the live collection daemon (`anatole service print serve`)
[Unit]
Description=anatole live call collection (SMDR, AMI, ESL, PMS link)
After=network-online.target
Wants=network-online.target
# a daemon that keeps failing (a bad anatole.toml) is stopped after 5 starts in 10 minutes: see journalctl
StartLimitIntervalSec=600
StartLimitBurst=5

[Service]
# READY=1 once the journal is replayed and every source listens; STATUS= lines for systemctl status
Type=notify
NotifyAccess=main
ExecStart={target.command("serve")}
Restart=on-failure
RestartSec=5s
# a long journal replay asks for more time itself (EXTEND_TIMEOUT_USEC)
TimeoutStartSec=120s
# SIGTERM: the daemon stores what it received within 10 s, then exits
TimeoutStopSec=30s
KillMode=mixed
WatchdogSec=60s
{hardening(target)}# a [[source]] listening on a port below 1024 needs, instead of the two lines above:
#   CapabilityBoundingSet=CAP_NET_BIND_SERVICE
#   AmbientCapabilities=CAP_NET_BIND_SERVICE

[Install]
WantedBy=multi-user.target
""")]


def web_unit(target: Target) -> list[tuple[str, str]]:
    host, port = WEB_ADDRESS
    return [("anatole-web.service", f"""# anatole-web.service: the web console (the `anatole web` command, issue 19)
[Unit]
Description=anatole web console
After=network.target anatole.service
StartLimitIntervalSec=600
StartLimitBurst=5

[Service]
Type=exec
ExecStart={target.command("web", "--host", host, "--port", str(port))}
Restart=on-failure
RestartSec=5s
TimeoutStopSec=15s
{hardening(target)}
[Install]
WantedBy=multi-user.target
""")]


def reports_units(target: Target) -> list[tuple[str, str]]:
    return [("anatole-reports.service", f"""# anatole-reports.service: the scheduled reports that are due
[Unit]
Description=anatole scheduled reports ([[schedule]] in anatole.toml)
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
ExecStart={target.command("report", "run-due")}
TimeoutStartSec=1h
Nice=10
{hardening(target)}"""), ("anatole-reports.timer", """# anatole-reports.timer: the reports' service hourly
[Unit]
Description=anatole scheduled reports, hourly

[Timer]
OnCalendar=hourly
RandomizedDelaySec=5min
# a run missed while the machine was off happens at the next boot
Persistent=true
Unit=anatole-reports.service

[Install]
WantedBy=timers.target
""")]


def backup_units(target: Target) -> list[tuple[str, str]]:
    return [("anatole-backup.service", f"""# anatole-backup.service: an online, verified backup of the database
[Unit]
Description=anatole nightly backup (anatole backup: SQLite backup API, integrity_check, 14 kept)

[Service]
Type=oneshot
# into <workspace>/backups; for another disk add --to DIR here and a line ReadWritePaths=DIR below
ExecStart={target.command("backup", "--keep", "14")}
TimeoutStartSec=2h
Nice=10
IOSchedulingClass=idle
{hardening(target)}"""), ("anatole-backup.timer", """# anatole-backup.timer: the backup nightly
[Unit]
Description=anatole nightly backup

[Timer]
OnCalendar=*-*-* 02:30:00
RandomizedDelaySec=15min
# a backup missed while the machine was off is taken at the next boot
Persistent=true
Unit=anatole-backup.service

[Install]
WantedBy=timers.target
""")]


UNITS: dict[str, Callable[[Target], list[tuple[str, str]]]] = {
    "serve": serve_unit,
    "web": web_unit,
    "reports": reports_units,
    "backup": backup_units,
}


def default_exec() -> tuple[str, ...]:
    """The anatole program that runs now: its script when started as `anatole`, else the one on PATH, else this
    Python with `-m anatole.cli`."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "anatole" and argv0.is_file():
        return (str(argv0.absolute()),)
    found = shutil.which("anatole")
    if found:
        return (str(Path(found).absolute()),)
    return (sys.executable, "-m", "anatole.cli")


def target_problems(target: Target) -> list[str]:
    """What makes the units unusable (relative paths, characters a unit file would need quoting for)."""
    problems = []
    if not Path(target.exec[0]).is_absolute():
        problems.append(_("--exec {value}: give the absolute path of the anatole program").format(
            value=repr(target.exec[0])))
    if not target.workspace.is_absolute():
        problems.append(_("--workspace {value}: give an absolute path").format(value=repr(str(target.workspace))))
    for label, word in [("--exec", w) for w in target.exec] + [("--workspace", str(target.workspace))]:
        if UNSAFE.search(word):
            problems.append(_("{option} {value}: spaces, quotes, '$', ';' and backslashes are not supported in a "
                              "unit file here: use a path without them (a symbolic link will do)").format(
                option=label, value=repr(word)))
    for label, name in (("--user", target.user), ("--group", target.group)):
        if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", name):
            problems.append(_("{option} {value}: not a valid user or group name").format(option=label,
                                                                                         value=repr(name)))
    return problems


@click.group("service", help=_("systemd units that run anatole as a service (README \"Running it in production\")."))
def service() -> None:
    """systemd units that run anatole as a service (README "Running it in production")."""


@service.command("print", help=_(
    "Print the unit(s) of NAME: serve (the daemon), web (the web console), reports (service and hourly timer for "
    "`anatole report run-due`), backup (service and nightly timer for `anatole backup`)."))
@click.argument("name", type=click.Choice(sorted(UNITS)))
@click.option("--workspace", "-w", "workspace", type=click.Path(file_okay=False, path_type=Path),
              help=_("The workspace the service uses (default: the global --workspace, else {folder}).").format(
                  folder=DEFAULT_WORKSPACE))
@click.option("--user", default="anatole", show_default=True, help=_("The user the service runs as."))
@click.option("--group", help=_("Its group, the operators' group too (default: the user's name)."))
@click.option("--exec", "program", metavar="PATH", help=_("The anatole program (default: the one running now)."))
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path),
              help=_("Write the unit files into this folder (e.g. /etc/systemd/system) instead of printing them."))
@click.pass_context
def print_cmd(ctx: click.Context, name: str, workspace: Path | None, user: str, group: str | None,
              program: str | None, folder: Path | None) -> None:
    """Print the unit(s) of NAME: serve (the daemon), web (the web console), reports (service and hourly timer
    for `anatole report run-due`), backup (service and nightly timer for `anatole backup`)."""
    chosen = workspace or (ctx.obj or {}).get("workspace") or DEFAULT_WORKSPACE
    target = Target(exec=(program,) if program else default_exec(), workspace=Path(chosen).absolute(),
                    user=user, group=group or user)
    problems = target_problems(target)
    if problems:
        _fail("; ".join(problems))
    files = UNITS[name](target)
    if folder is None:
        for n, (_filename, text) in enumerate(files):
            click.echo(("\n" if n else "") + text, nl=False)
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for filename, text in files:
            (folder / filename).write_text(text, encoding="utf-8")
            click.echo(str(folder / filename))
    except OSError as exc:
        _fail(_("--dir {folder}: cannot be written ({error})").format(folder=folder, error=exc.strerror or exc))
