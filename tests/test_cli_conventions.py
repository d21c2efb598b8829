"""Global options anywhere on the line: `--workspace`/`-w` after the command, `--json` before it (where the command
has --json), with one implementation (anatole.clitools.Group) -- the habit of users of git, kubectl and docker."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from serve_support import make_workspace

from anatole.cli import main
from anatole.clitools import global_args


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("conv"), sources="")


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("line", [
    ["--workspace", "{ws}", "rejects", "--json"],  # the usual place
    ["rejects", "--json", "--workspace", "{ws}"],
    ["rejects", "--workspace", "{ws}", "--json"],
    ["rejects", "-w", "{ws}", "--json"],
    ["rejects", "--workspace={ws}", "--json"],
    ["--json", "rejects", "-w", "{ws}"],  # --json before the command
])
def test_rejects_with_the_workspace_anywhere(ws: Path, line: list[str]) -> None:
    """The workspace is found (exit 0) and --json took effect: one JSON line per reject, none here, where the
    table would say "0 reject(s)"."""
    result = run(*[w.replace("{ws}", str(ws)) for w in line])
    assert result.exit_code == 0, result.output
    assert result.output == ""
    assert "0 reject(s)" in run("rejects", "-w", str(ws)).output


def test_workspace_after_a_subcommand_of_a_group(ws: Path) -> None:
    result = run("imports", "list", "-w", str(ws))
    assert result.exit_code == 0, result.output
    assert "anatole.toml" not in result.output


def test_the_workspace_after_the_command_is_the_one_used(tmp_path: Path) -> None:
    """A folder without anatole.toml named after the command: the error names that folder, not the default."""
    empty = tmp_path / "not-a-workspace"
    empty.mkdir()
    result = CliRunner().invoke(main, ["calls", "--workspace", str(empty)])
    assert result.exit_code == 1
    assert "not-a-workspace" in result.output and "anatole.toml" in result.output


def test_demo_accepts_the_workspace_after_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Path] = []

    def fake_run_demo(path: Path, seed: int) -> dict:
        seen.append(Path(path))
        raise __import__("anatole.demo", fromlist=["DemoError"]).DemoError("stop here")

    monkeypatch.setattr("anatole.demo.run_demo", fake_run_demo)
    result = CliRunner().invoke(main, ["demo", "--workspace", str(tmp_path / "d")])
    assert result.exit_code == 1 and "stop here" in result.output
    assert seen == [tmp_path / "d"]


def test_a_command_with_its_own_workspace_keeps_it() -> None:
    """`serve`, `status`, `alerts` and `service print` have their own --workspace: it is left to them."""
    ctx = click.Context(main)
    assert global_args(main, ctx, ["status", "-w", "X", "--json"]) == ["status", "-w", "X", "--json"]
    assert global_args(main, ctx, ["service", "print", "serve", "--workspace", "X"]) == \
        ["service", "print", "serve", "--workspace", "X"]


def test_rewriting_rules() -> None:
    ctx = click.Context(main)
    assert global_args(main, ctx, ["calls", "--csv", "-w", "X"]) == ["-w", "X", "calls", "--csv"]
    assert global_args(main, ctx, ["calls", "-wX"]) == ["-wX", "calls"]
    assert global_args(main, ctx, ["-w", "X", "calls"]) == ["-w", "X", "calls"]  # already in place
    assert global_args(main, ctx, ["--json", "calls", "--", "-w"]) == ["calls", "--json", "--", "-w"]
    assert global_args(main, ctx, ["--json", "tariff", "check", "f"]) == ["tariff", "check", "f", "--json"]
    # a command without --json: left alone, so click says "no such option"
    assert global_args(main, ctx, ["--json", "ui"]) == ["--json", "ui"]
    assert global_args(main, ctx, ["--version"]) == ["--version"]


def test_json_before_a_command_without_it_is_refused() -> None:
    result = CliRunner().invoke(main, ["--json", "ui"])
    assert result.exit_code == 2 and "--json" in result.output
