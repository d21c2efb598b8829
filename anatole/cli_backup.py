"""`anatole backup [--to DIR] [--keep N]` and `anatole restore FILE`: an online, verified copy of the workspace's
database while the daemon runs, and putting one back (store/backup.py does the work). Registered in anatole/cli.py.

Neither needs a valid anatole.toml: a backup must still be possible when the configuration is being repaired.
"""

from __future__ import annotations

from pathlib import Path

import click

from anatole import clitools
from i18n import _


def _root(ctx: click.Context) -> Path:
    from anatole.config import workspace_path

    return workspace_path((ctx.obj or {}).get("workspace"))


@click.command("backup", help=_(
    "Copy the database while anatole runs (SQLite's backup API: one consistent snapshot), check the copy "
    "(integrity_check) and keep anatole.toml beside it: anatole-YYYYMMDDTHHMMSSZ.db and .toml. Exits 1 on any "
    "failure, leaving no partial file under a backup's name."))
@click.option("--to", "folder", type=click.Path(file_okay=False, path_type=Path),
              help=_("The folder of the backups (default: <workspace>/backups). Another disk is better."))
@click.option("--keep", type=click.IntRange(min=1), metavar="N",
              help=_("Then delete the oldest backups of that folder, keeping the N newest (default: keep all)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON."))
@click.pass_context
def backup(ctx: click.Context, folder: Path | None, keep: int | None, as_json: bool) -> None:
    """Copy the database while anatole runs (SQLite's backup API: one consistent snapshot), check the copy
    (integrity_check) and keep anatole.toml beside it: anatole-YYYYMMDDTHHMMSSZ.db and .toml. Exits 1 on any
    failure, leaving no partial file under a backup's name."""
    from anatole.config import CONFIG_NAME, DB_NAME
    from store.backup import BackupError
    from store.backup import backup as take

    root = _root(ctx)
    try:
        info = take(root / DB_NAME, folder or root / "backups", config=root / CONFIG_NAME, keep=keep)
    except (BackupError, OSError) as exc:
        clitools.fail(_("backup failed: {problem}").format(problem=exc))
    if as_json:
        clitools.emit_json(info)
        return
    out = clitools.console()
    out.print(_("{file}: {size} bytes, {calls} calls, integrity ok ({seconds} s)").format(
        file=info["file"], size=clitools.count(info["size"]), calls=clitools.count(info["calls"]),
        seconds=clitools.number(str(info["seconds"]))), markup=False)
    for old in info["removed"]:
        out.print(_("removed {file} (--keep {keep})").format(file=old, keep=keep), markup=False)


@click.command("restore", help=_(
    "Replace the workspace's database by a backup. Refused while the daemon runs or another program has the "
    "database open; the backup is checked first and the current database is kept as "
    "anatole.db.before-restore-<time>."))
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help=_("Do not ask for confirmation."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the result as JSON."))
@click.pass_context
def restore(ctx: click.Context, file: Path, yes: bool, as_json: bool) -> None:
    """Replace the workspace's database by a backup. Refused while the daemon runs or another program has the
    database open; the backup is checked first and the current database is kept as
    anatole.db.before-restore-<time>."""
    from anatole.config import DB_NAME
    from pbx.protocol import SOCKET_NAME
    from store.backup import BackupError
    from store.backup import restore as put_back

    root = _root(ctx)
    if not yes and not click.confirm(_("Replace {database} by {file}?").format(database=root / DB_NAME, file=file),
                                     default=False):
        clitools.fail(_("nothing restored"))
    try:
        info = put_back(file, root / DB_NAME, root / SOCKET_NAME)
    except (BackupError, OSError) as exc:
        clitools.fail(_("restore refused: {problem}").format(problem=exc))
    if as_json:
        clitools.emit_json(info)
        return
    out = clitools.console()
    out.print(_("{database}: restored from {file} ({calls} calls, integrity ok)").format(
        database=info["database"], file=info["restored"], calls=clitools.count(info["calls"])), markup=False)
    if info["previous"]:
        out.print(_("the database it replaced is kept as {file}").format(file=info["previous"]), markup=False)
    out.print(_("anatole.toml was not changed: the backup's copy is beside it (.toml) if you need it"), markup=False)
