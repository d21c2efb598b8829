"""`anatole web`: the console in a browser (anatole/web.py), and `anatole web user add|list|remove` for its logins.

Each browser session runs `anatole web session --login NAME` (hidden): the console of `anatole ui` with the login as
the user it records (``web:NAME``) in invoice approvals and disputes and in alert acknowledgements.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from rich.markup import escape

from i18n import _
from tui import SCREENS_UI

EXIT_REFUSED = 2  # nothing started: the address or the protection asked for is not safe, or the setup is unusable


def _refuse(message: str) -> None:
    from anatole.clitools import console

    label = escape(_("error:"))
    console(err=True).print(f"[bold red]{label}[/] {escape(message)}", markup=True)
    sys.exit(EXIT_REFUSED)


def _fixed_language(ctx: click.Context, workspace: Path) -> str | None:
    """The language every session uses when one was chosen (--lang, ANATOLE_LANG, [workspace] language); None lets
    each browser's Accept-Language choose, as a terminal's locale does for `anatole ui`."""
    import i18n

    root = ctx.find_root()
    for value in (root.params.get("lang"), os.environ.get("ANATOLE_LANG")):
        if i18n.normalise(value):
            return i18n.normalise(value)
    workspace_language = getattr(i18n, "workspace_language", None)
    return i18n.normalise(workspace_language(workspace)) if workspace_language else None


def session_command(workspace: Path, login: str | None, language: str | None, screen: str = "calls",
                    light: bool = False) -> list[str]:
    """The argv of one browser session's console process (run without a shell; login names are checked to
    letters, digits and . _ @ - anyway)."""
    from anatole.web import check_name

    args = [sys.executable, "-m", "anatole", "--workspace", str(workspace)]
    if language:
        args += ["--lang", language]
    args += ["web", "session", "--screen", screen]
    if light:
        args.append("--light")
    if login is not None:
        args += ["--login", check_name(login)]
    return args


@click.group("web", invoke_without_command=True,
             help=_("The console in a browser: each browser session runs its own console with its login (loopback by "
                    "default; logins with `anatole web user add`)."))
@click.option("--host", default="127.0.0.1", show_default=True,
              help=_("Address to listen on. Anything but loopback needs logins and TLS or --behind-proxy."))
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help=_("TCP port."))
@click.option("--public-url", metavar="URL",
              help=_("The URL browsers use (a reverse proxy's, e.g. https://tem.example.com); default: the address "
                     "each browser reached."))
@click.option("--certfile", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help=_("TLS certificate (PEM, with its chain) to serve HTTPS here."))
@click.option("--keyfile", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help=_("TLS private key (PEM) when it is not in --certfile."))
@click.option("--behind-proxy", is_flag=True,
              help=_("A reverse proxy in front terminates TLS (you assert it): cookies are marked Secure and the "
                     "client address is taken from `X-Forwarded-For`."))
@click.option("--screen", type=click.Choice(list(SCREENS_UI)), default="calls",
              help=_("The screen each console opens first (default: `calls`)."))
@click.option("--light", is_flag=True, help=_("Start with the light theme (t switches)."))
@click.option("--max-sessions", default=16, show_default=True, type=click.IntRange(1, 1000),
              help=_("Consoles open at once (each is a process of about 180 MB)."))
@click.pass_context
def web(ctx: click.Context, host: str, port: int, public_url: str | None, certfile: Path | None,
        keyfile: Path | None, behind_proxy: bool, screen: str, light: bool, max_sessions: int) -> None:
    """The console in a browser: each browser session runs its own console with its login (loopback by default;
    logins with `anatole web user add`)."""
    if ctx.invoked_subcommand is not None:
        return
    from anatole import web as w
    from anatole.clitools import workspace as _workspace

    ws = _workspace(ctx)
    path = w.users_path(ws.path)
    if keyfile is not None and certfile is None:
        _refuse(_("--keyfile needs --certfile"))
    problem = w.private_problem(path)
    if problem:
        _refuse(problem)
    try:
        users = w.load_users(path)
        context = w.tls_context(certfile, keyfile) if certfile else None
    except w.UsersError as exc:
        _refuse(str(exc))
    why = w.refusal(host, logins=bool(users), tls=context is not None, behind_proxy=behind_proxy)
    if why:
        _refuse(why)
    language = _fixed_language(ctx, ws.path)

    def command(login: str | None, session_language: str | None) -> list[str]:
        return session_command(ws.path, login, session_language, screen, light)

    settings = w.Settings(command=command, users_file=path, host=host, port=port, public_url=public_url,
                          ssl_context=context, behind_proxy=behind_proxy, language=language, max_sessions=max_sessions,
                          title=f"anatole · {ws.path.name}")
    who = _("logins required ({n})").format(n=len(users)) if users else _("no logins: this machine's user only")

    def ready(urls: list[str]) -> None:
        for url in urls:
            click.echo(_("anatole web: the console of {workspace} on {url} ({who}); ctrl+c stops it").format(
                workspace=ws.path, url=url, who=who), err=True)
        if public_url:
            click.echo(_("browsers use {url}").format(url=public_url), err=True)

    try:
        w.make_server(settings).serve(ready=ready)
    except OSError as exc:  # the port is taken, the address is not this machine's
        _refuse(_("cannot listen on {host}:{port}: {error}").format(host=host, port=port, error=exc.strerror or exc))


@web.command("session", hidden=True, help=_("One browser session's console (started by `anatole web`)."))
@click.option("--login", help=_("The web login this console acts as (recorded as web:LOGIN)."))
@click.option("--screen", type=click.Choice(list(SCREENS_UI)), default="calls")
@click.option("--light", is_flag=True)
@click.pass_context
def web_session(ctx: click.Context, login: str | None, screen: str, light: bool) -> None:
    """One browser session's console (started by `anatole web`, its terminal is the browser)."""
    from anatole.cli_ui import console_context
    from anatole.clitools import workspace as _workspace
    from anatole.web import UsersError, check_name, die_with_parent
    from tui.app import ConsoleApp

    die_with_parent()
    ws = _workspace(ctx)
    context = console_context(ws)
    if login is not None:
        try:
            context.user = f"web:{check_name(login)}"
        except UsersError as exc:
            _refuse(str(exc))
    ConsoleApp(context, start=screen, light=light).run()


@web.group("user", help=_("The logins of `anatole web` (`<workspace>/web-users.toml`, salted scrypt hashes, "
                                "mode 0600)."))
def web_user() -> None:
    """The logins of `anatole web` (<workspace>/web-users.toml, salted scrypt hashes, mode 0600)."""


@web_user.command("add", help=_("Add a login, or change its password (asked twice, or read from standard input)."))
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help=_("Read the password from the first line of standard input."))
@click.pass_context
def web_user_add(ctx: click.Context, name: str, password_stdin: bool) -> None:
    """Add a login, or change its password (asked twice, or read from standard input)."""
    from anatole.clitools import fail
    from anatole.clitools import workspace as _workspace
    from anatole.web import UsersError, add_user, check_name, users_path

    ws = _workspace(ctx)
    try:
        check_name(name)
    except UsersError as exc:
        fail(str(exc))
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(_("Password for {name}").format(name=name), hide_input=True,
                                confirmation_prompt=_("Repeat it"), err=True)
    try:
        new = add_user(users_path(ws.path), name, password)
    except UsersError as exc:
        fail(str(exc))
    click.echo((_("login {name} added") if new else _("password of {name} changed")).format(name=name))


@web_user.command("list", help=_("The logins, with when each was added (never the hashes)."))
@click.option("--json", "as_json", is_flag=True, help=_("Machine-readable output."))
@click.pass_context
def web_user_list(ctx: click.Context, as_json: bool) -> None:
    """The logins, with when each was added (never the hashes)."""
    from anatole.clitools import emit_json, fail
    from anatole.clitools import workspace as _workspace
    from anatole.web import UsersError, load_users, private_problem, users_path

    ws = _workspace(ctx)
    path = users_path(ws.path)
    try:
        users = load_users(path)
    except UsersError as exc:
        fail(str(exc))
    problem = private_problem(path)
    if as_json:
        emit_json([{"name": name, "added": entry["added"]} for name, entry in sorted(users.items())])
    elif not users:
        click.echo(_("no logins: `anatole web` serves loopback only, as this machine's user"))
    else:
        for name, entry in sorted(users.items()):
            click.echo(f"{name}\t{entry['added']}")
    if problem:
        click.echo(_("warning: {problem}").format(problem=problem), err=True)


@web_user.command("remove", help=_("Remove a login; its open consoles are closed within seconds."))
@click.argument("name")
@click.pass_context
def web_user_remove(ctx: click.Context, name: str) -> None:
    """Remove a login; its open consoles are closed within seconds."""
    from anatole.clitools import fail
    from anatole.clitools import workspace as _workspace
    from anatole.web import UsersError, remove_user, users_path

    ws = _workspace(ctx)
    try:
        removed = remove_user(users_path(ws.path), name)
    except UsersError as exc:
        fail(str(exc))
    if not removed:
        fail(_("no login {name}").format(name=name))
    click.echo(_("login {name} removed").format(name=name))
