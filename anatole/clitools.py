"""What every command module shares: the console, failing with a message, JSON output, opening the workspace and
its store, reading --from/--to, loading a tariff. Command modules import these, never `anatole.cli` (which imports
them)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import sys
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.markup import escape

from i18n import _

EXIT_INPUT = 1  # bad input: a file, a key or a value the user can fix


def console(err: bool = False) -> Console:
    piped = not err and not sys.stdout.isatty()  # tables written to a pipe or a file are not squeezed to 80 columns
    return Console(stderr=err, highlight=False, soft_wrap=err or piped, width=160 if piped else None)


COUNT = click.IntRange(0, 2**63 - 1)  # --limit and other counts: what SQLite's LIMIT takes (a negative one was none)


def fail(message: str) -> None:
    console(err=True).print("[bold red]" + _("error:") + "[/] " + escape(message), markup=True)
    sys.exit(EXIT_INPUT)


class Group(click.Group):
    """The command group: a database that another program keeps locked past the limit ends any command with a
    message naming the programs that hold it (exit 1), never with a traceback or a bare "database is locked".
    The global options go anywhere: `anatole demo --workspace DIR` is `anatole --workspace DIR demo`, and
    `anatole --json calls` is `anatole calls --json` (where the command has --json) -- see `global_args`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:
            args = global_args(self, ctx, args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        from store.db import StoreError, is_busy, locked_message
        from tariffs.errors import TariffError

        try:
            return super().invoke(ctx)
        except (StoreError, TariffError) as exc:  # busy past the limit, a damaged or foreign database file, a site's
            fail(str(exc))  # tariff that cannot be used: said, not a traceback
        except OverflowError as exc:  # an id or --limit past SQLite's 64-bit integers
            if "SQLite INTEGER" not in str(exc):
                raise
            fail(_("a number given is too large (at most {limit})").format(limit=2**63 - 1))
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and is_busy(exc):
                fail(locked_message(str(_db_path(ctx)), "command", None))
            if not any(text in str(exc) for text in DAMAGED):
                raise
            fail(_("{path} is not an anatole database: {error}").format(path=_db_path(ctx), error=exc))


DAMAGED = ("file is not a database", "database disk image is malformed")  # SQLite's words for a damaged file


GLOBAL_VALUE = ("--workspace", "-w", "--lang")  # the main group's options with a value: accepted after the command


def global_args(group: click.Group, ctx: click.Context, args: list[str]) -> list[str]:
    """The command line with the global options where click expects them: --workspace/-w found after the command
    moves before it (unless the command has its own --workspace, as `serve` does), --json found before the command
    moves after it (when the command has --json; otherwise click's "no such option" stays). Nothing after `--`
    moves."""
    head: list[str] = []
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "--":  # the options before the command
        head.append(args[i])
        if args[i] in GLOBAL_VALUE and i + 1 < len(args):
            head.append(args[i + 1])
            i += 1
        i += 1
    rest = args[i:]
    leaf: click.Command = group
    for word in rest:  # follow the command names down to the command that runs
        if word == "--" or not isinstance(leaf, click.Group):
            break
        if word.startswith("-"):
            continue
        sub = leaf.get_command(ctx, word)
        if sub is None:
            break
        leaf = sub
    if leaf is group:
        return args
    own = {o for p in leaf.params for o in (*p.opts, *p.secondary_opts)}
    moved: list[str] = []
    kept: list[str] = []
    i = 0
    while i < len(rest):
        word = rest[i]
        if word == "--":
            kept.extend(rest[i:])
            break
        name = word.split("=", 1)[0] if word.startswith("--") else word[:2]
        if name in GLOBAL_VALUE and name not in own:
            if word in GLOBAL_VALUE:  # `--workspace DIR`, `-w DIR`
                moved.extend(rest[i:i + 2])
                i += 2
                continue
            moved.append(word)  # `--workspace=DIR`, `-wDIR`
            i += 1
            continue
        kept.append(word)
        i += 1
    if "--json" in head and "--json" in own:
        head.remove("--json")
        at = kept.index("--") if "--" in kept else len(kept)
        kept.insert(at, "--json")
    return head + moved + kept


def _db_path(ctx: click.Context) -> Any:
    from anatole.config import workspace_path

    return workspace_path((ctx.obj or {}).get("workspace")) / "anatole.db"


def count(n: int) -> str:
    """A count as a person reads it in the language: ``1,234`` in English, ``1 234`` in French (Babel, the
    locale of store.display). Never raises."""
    try:
        from babel.numbers import format_decimal

        from store import display

        return format_decimal(int(n), locale=display.locale())
    except Exception:
        return f"{n:,}"


def number(text: str) -> str:
    """An exact decimal string of a detail view ("0.1200", "≈0.0123456789", "1234.5") in the language's style, every
    digit kept (``0,1200`` in French); text that is not a number is returned as it is."""
    from decimal import Decimal, InvalidOperation

    prefix = "≈" if text.startswith("≈") else ""
    body = text[len(prefix):]
    try:
        value = Decimal(body)
        if not value.is_finite():
            return text
        from babel.numbers import format_decimal

        from store import display

        places = max(0, -int(value.as_tuple().exponent))
        pattern = "#,##0" + ("." + "0" * places if places else "")
        return prefix + format_decimal(value, format=pattern, locale=display.locale(), decimal_quantization=False)
    except (InvalidOperation, ValueError, ImportError):
        return text


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, ensure_ascii=False))


def workspace(ctx: click.Context) -> Any:
    from anatole.config import ConfigError, open_workspace, workspace_path

    try:
        return open_workspace(workspace_path(ctx.obj["workspace"]))
    except ConfigError as exc:
        out = console(err=True)
        out.print("[bold red]" + _("error:") + "[/] " + _("anatole.toml is not valid:"))
        for p in exc.problems:
            out.print(f"  {p}", markup=False)
        sys.exit(EXIT_INPUT)


def store(ws: Any) -> Any:
    from store import StoreError, open_store

    try:
        return open_store(ws.db_path)
    except StoreError as exc:
        fail(str(exc))


def files_in(paths: Any) -> list[Any]:
    """The files to import: each path, a folder as the files under it (sorted); a folder with none is said (it
    imported nothing and exited 0)."""
    files = []
    for path in paths:
        found = sorted(x for x in path.rglob("*") if x.is_file()) if path.is_dir() else [path]
        if not found:
            fail(_("{folder}: no files in this folder").format(folder=path))
        files += found
    return files


def zone(name: str) -> str:
    """--timezone: an IANA zone, or exit saying so (a wrong one otherwise showed as every line of a file rejected)."""
    from zoneinfo import ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        fail(_("--timezone {zone} is not an IANA time zone").format(zone=repr(name)))
    return name


def date(text: str | None, zone: str, option: str) -> int | None:
    """--from/--to: a date or date-time, local to `zone` unless it has an offset."""
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail(_("{option} {value} is not a date (YYYY-MM-DD) or date and time (ISO 8601)").format(option=option,
                                                                                                 value=repr(text)))
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(zone))
    return in_call_years(int(when.timestamp()), option, text, _("{option} {value}: give a date in the years 1970 to "
                                                               "2099"))


def in_call_years(instant: int, option: str, text: str, message: str | None = None) -> int:
    """An instant the user typed, within the years a call can have (ingest.cdr.model), or exit saying so: past
    them Python's dates end and nothing downstream could hold it."""
    from ingest.cdr.model import EARLIEST, LATEST

    if not EARLIEST <= instant < LATEST:
        fail((message or _("{option} {value}: give a time in the years 1970 to 2099")).format(option=option,
                                                                                           value=repr(text)))
    return instant


def tariff(path: str) -> Any:
    """Load and compile a tariff (once per process: tariffs.load.compiled_tariff, shared with the workspace), or
    exit with every problem listed."""
    from tariffs.errors import TariffError
    from tariffs.load import compiled_tariff

    try:
        return compiled_tariff(path)
    except TariffError as exc:
        out = console(err=True)
        out.print("[bold red]" + _("error:") + "[/] " + _("tariff {file} is not valid ({count} problem(s)):").format(
            file=escape(path), count=len(exc.problems)))
        for line in exc.render().splitlines():
            out.print(f"  {line}", markup=False)
        sys.exit(EXIT_INPUT)


# --- progress of long work ------------------------------------------------------------------------------------

Update = Callable[..., None]  # update(done, total=None, rows=None): work done (bytes or rows), rows so far


def progress_console() -> Console:
    """Where progress bars go: stderr (the results stay alone on stdout). Tests replace it with a forced terminal."""
    return console(err=True)


@contextlib.contextmanager
def progress(label: str, total: int | Callable[[], int] | None = None, *, quiet: bool = False) -> Iterator[Update]:
    """A progress bar (rows, rows/s, ETA) on a terminal, for `batch-rate`, `import cdr`, `rate` and `whatif`; nothing
    when stderr is not a terminal (piped, redirected, cron) or `quiet` (--json). Yields update(done, total=None,
    rows=None): `done` of `total` drives the bar and the ETA (bytes of input, or rows); rows are shown as counted
    (done is taken for rows when rows is not given); a callable total is called only when the bar is shown (a
    count query that a pipe does not need). The bar is erased at the end, leaving the command's summary."""
    out = progress_console()
    if quiet or not out.is_terminal:
        yield lambda done, total=None, rows=None: None
        return
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), _rows_column(),
                   TimeRemainingColumn(), console=out, transient=True)
    with bar:
        task = bar.add_task(escape(label), total=total() if callable(total) else total, rows=0)

        def update(done: int, total: int | None = None, rows: int | None = None) -> None:
            bar.update(task, completed=done, rows=done if rows is None else rows,
                       **({"total": total} if total is not None else {}))

        yield update


def _rows_column() -> Any:
    """A rich column: rows so far and rows per second (the bar itself may count bytes)."""
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class Rows(ProgressColumn):
        def render(self, task: Task) -> Text:
            rows = int(task.fields.get("rows") or 0)
            elapsed = task.elapsed or 0.0
            rate = _("{rate} rows/s").format(rate=count(round(rows / elapsed))) if elapsed > 0 else _("- rows/s")
            return Text(_("{rows} rows · {rate}").format(rows=count(rows), rate=rate), style="progress.data.speed")

    return Rows()


def whole(table: Any, *headers: str) -> None:
    """Amounts are never cut nor wrapped in a narrow terminal: the other columns of a Rich table give way first
    (French headers and amounts are longer)."""
    for column in table.columns:
        if column.header in headers:
            column.no_wrap = True
