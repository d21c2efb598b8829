"""`anatole service print` (issue 21): the systemd units, by content and, where systemd is installed, verified by
`systemd-analyze verify` (which reads them as systemd would: unknown keys, bad values, a missing program)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from anatole.cli import main
from anatole.cli_service import UNITS

PROGRAM = str(Path(sys.executable).with_name("anatole"))  # the venv's anatole script, beside its python


def _print(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["service", "print", *args])
    return result.exit_code, result.output


def _keys(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def test_daemon_unit(tmp_path: Path) -> None:
    code, text = _print("serve", "--workspace", "/srv/anatole", "--exec", "/opt/anatole/bin/anatole")
    assert code == 0, text
    keys = _keys(text)
    assert keys["Type"] == ["notify"] and keys["Restart"] == ["on-failure"] and keys["RestartSec"] == ["5s"]
    assert keys["StartLimitBurst"] == ["5"] and keys["StartLimitIntervalSec"] == ["600"]
    assert keys["ExecStart"] == ["/opt/anatole/bin/anatole --workspace /srv/anatole serve"]
    assert keys["User"] == ["anatole"] and keys["Group"] == ["anatole"] and keys["UMask"] == ["0007"]
    assert keys["ProtectSystem"] == ["strict"] and keys["ReadWritePaths"] == ["/srv/anatole"]
    assert keys["NoNewPrivileges"] == ["yes"] and keys["PrivateTmp"] == ["yes"] and keys["ProtectHome"] == ["yes"]
    assert keys["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
    assert keys["CapabilityBoundingSet"] == [""] and keys["SystemCallFilter"] == ["@system-service"]
    assert keys["WatchdogSec"] == ["60s"] and keys["WantedBy"] == ["multi-user.target"]
    assert "group anatole (operators)" in text


def test_web_and_reports_units() -> None:
    code, text = _print("web", "--workspace", "/srv/a", "--exec", "/usr/bin/anatole", "--user", "tem")
    assert code == 0, text
    keys = _keys(text)
    assert keys["ExecStart"] == ["/usr/bin/anatole --workspace /srv/a web --host 127.0.0.1 --port 8700"]
    assert keys["User"] == ["tem"] and keys["Group"] == ["tem"]
    code, text = _print("reports", "--workspace", "/srv/a", "--exec", "/usr/bin/anatole")
    assert code == 0, text
    service, timer = text.split("\n# anatole-reports.timer")
    assert _keys(service)["ExecStart"] == ["/usr/bin/anatole --workspace /srv/a report run-due"]
    assert _keys(service)["Type"] == ["oneshot"]
    assert _keys(timer)["OnCalendar"] == ["hourly"] and _keys(timer)["Persistent"] == ["true"]
    assert _keys(timer)["Unit"] == ["anatole-reports.service"]


def test_the_report_command_exists() -> None:
    """The timer runs `anatole report run-due`: the command must be there by that name."""
    result = CliRunner().invoke(main, ["report", "run-due", "--help"])
    assert result.exit_code == 0, result.output


def test_defaults_and_refusals(tmp_path: Path) -> None:
    code, text = _print("serve", "--workspace", "/home/ops/ws")
    assert code == 0, text
    keys = _keys(text)
    assert keys["ProtectHome"] == ["read-only"]  # the workspace is under /home: readable, and writable by path
    assert Path(keys["ExecStart"][0].split()[0]).is_absolute()
    code, text = _print("serve", "--workspace", "/srv/with 50%")
    assert code == 1 and "spaces" in text
    code, text = _print("serve", "--workspace", "/srv/x", "--exec", "anatole")
    assert code == 1 and "absolute path" in text
    code, text = _print("serve", "--workspace", "/srv/x", "--user", "Bad User")
    assert code == 1 and "not a valid user" in text
    code, text = _print("serve", "--workspace", "/srv/100%", "--exec", "/usr/bin/anatole")
    assert code == 0 and "ReadWritePaths=/srv/100%%" in text  # systemd's specifier character escaped


def test_write_to_a_folder(tmp_path: Path) -> None:
    code, text = _print("reports", "--workspace", "/srv/a", "--dir", str(tmp_path / "units"))
    assert code == 0, text
    assert sorted(p.name for p in (tmp_path / "units").iterdir()) == ["anatole-reports.service",
                                                                     "anatole-reports.timer"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (apt-get install systemd): units checked by content only")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    folder = tmp_path / "units"
    for name in UNITS:
        code, text = _print(name, "--workspace", str(tmp_path / "ws"), "--exec", PROGRAM, "--dir", str(folder))
        assert code == 0, text
    files = sorted(str(p) for p in folder.iterdir())
    run = subprocess.run(["systemd-analyze", "verify", "--man=no", *files], capture_output=True, text=True,
                         cwd=folder, timeout=60)
    ours = [line for line in (run.stdout + run.stderr).splitlines() if str(folder) in line or "anatole" in line]
    assert run.returncode == 0 and not ours, run.stdout + run.stderr


def test_a_folder_that_cannot_be_written_is_a_message(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    result = CliRunner().invoke(main, ["service", "print", "serve", "--dir", str(tmp_path / "file" / "units")])
    assert result.exit_code == 1, (result.output, result.exception)
    assert f"--dir {tmp_path / 'file' / 'units'}: cannot be written (Not a directory)" in result.output
