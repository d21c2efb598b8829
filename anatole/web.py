"""`anatole web`: the Textual console served to browsers by textual-serve, with logins in front of it.

Why textual-serve: it is the Textual project's own server, so the browser shows exactly the console `anatole ui`
runs (no second UI). Each browser connection (its websocket) starts one console process; this module decides who
may open one and with which login, and hands that login to the process so that what it records (invoice approvals
and disputes, alert acknowledgements) names the person, as ``web:NAME``.

Security model (README, "The console in a browser"):

- Loopback (127.0.0.1, ::1, localhost) by default. Any other address is refused unless logins exist AND the
  passwords cannot cross the network in clear: TLS here (--certfile/--keyfile) or a reverse proxy that terminates
  TLS (--behind-proxy, the operator's assertion).
- Logins live in ``<workspace>/web-users.toml`` (mode 0600, refused when others can read it) as salted scrypt hashes;
  a password is checked by deriving its hash and comparing in constant time (hmac.compare_digest), and an unknown
  name costs the same scrypt as a known one. Failed logins are throttled per client address.
- A login form (not HTTP Basic: Basic has no logout, browsers resend the password with every request and cache it
  for the whole browser session) sets a random session cookie: HttpOnly, SameSite=Strict, Secure under TLS. Sessions
  end after SESSION_HOURS, on logout, or when the login is removed from the file (its open consoles are closed).
- Loopback without any login is the OS user's own console (as `anatole ui`): then only a loopback Host header is
  served (DNS rebinding) and the websocket must come from this server's own page (Origin), so that another web
  site open in the same browser cannot drive the console.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import html
import ipaddress
import json
import logging
import os
import re
import secrets
import shlex
import signal
import ssl
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from i18n import _

USERS_FILE = "web-users.toml"
COOKIE = "anatole_session"
SESSION_HOURS = 12
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}\Z")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
FAILURES_ALLOWED = 5  # failed logins per client address within FAILURE_WINDOW seconds, then 429 until it passes
FAILURE_WINDOW = 300.0
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1  # 16 MiB and ~50 ms per check on one core (OWASP's minimum for scrypt)
SHUTDOWN_SECONDS = 5.0  # open consoles are asked to quit, then closed
WATCH_SECONDS = 2.0  # how often the users file is looked at for removed logins

log = logging.getLogger("anatole.web")


class UsersError(Exception):
    """The users file cannot be read or written; the message names the file and what is wrong."""


# --- the users file ------------------------------------------------------------------------------------------------


def users_path(workspace: Path) -> Path:
    return Path(workspace) / USERS_FILE


def check_name(name: str) -> str:
    """The login name, or UsersError: letters, digits and . _ @ - (so that it is safe in a command line, a TOML key
    and a record's `by`), 1 to 64 characters, starting with a letter or digit."""
    if not NAME_RE.match(name or ""):
        raise UsersError(_("login name {name!r}: use 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a "
                           "letter or digit").format(name=name))
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UsersError(_("the password is too short: at least {n} characters").format(n=MIN_PASSWORD))
    if len(password) > MAX_PASSWORD:
        raise UsersError(_("the password is too long: at most {n} characters").format(n=MAX_PASSWORD))
    return password


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64): the parameters travel with the hash, so they can be raised later."""
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


_DUMMY = hash_password("not a password", b"\0" * 16)  # an unknown name is checked against this: same time


def verify_password(password: str, record: str) -> bool:
    """Whether `password` derives the stored hash; the comparison is constant-time. A malformed record is False."""
    try:
        scheme, n, r, p, salt, digest = record.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        derived = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt, validate=True), n=int(n),
                                 r=int(r), p=int(p), dklen=len(expected), maxmem=64 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(derived, expected)


def load_users(path: Path) -> dict[str, dict[str, str]]:
    """name -> {"password": scrypt record, "added": ISO time}; {} when the file does not exist."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsersError(_("{file}: cannot be read: {error}").format(file=path, error=exc)) from None
    users = data.get("users", {})
    if not isinstance(users, dict):
        raise UsersError(_("{file}: [users] must be a table").format(file=path))
    out: dict[str, dict[str, str]] = {}
    for name, entry in users.items():
        if not (NAME_RE.match(name) and isinstance(entry, dict) and isinstance(entry.get("password"), str)):
            raise UsersError(_("{file}: users.{name}: a login needs a password = \"scrypt$...\" (made by "
                               "`anatole web user add`)").format(file=path, name=name))
        out[name] = {"password": entry["password"], "added": str(entry.get("added", ""))}
    return out


def save_users(path: Path, users: dict[str, dict[str, str]]) -> None:
    """Write the file whole, private from its first byte (mode 0600), and swap it in atomically."""
    path = Path(path)
    lines = ["# anatole web logins: salted scrypt hashes, managed with `anatole web user add|list|remove`.",
             "# Keep this file private (mode 0600): anatole web refuses to start when others can read it.", "",
             "[users]"]
    for name in sorted(users):
        entry = users[name]
        lines.append(f"{json.dumps(name)} = {{ password = {json.dumps(entry['password'])}, "
                     f"added = {json.dumps(entry.get('added', ''))} }}")
    text = "\n".join(lines) + "\n"
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise UsersError(_("{file}: cannot be written: {error}").format(file=path, error=exc)) from None


def add_user(path: Path, name: str, password: str) -> bool:
    """Add a login or change its password; True when it is new."""
    check_name(name)
    check_password(password)
    users = load_users(path)
    new = name not in users
    added = users.get(name, {}).get("added") or dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    users[name] = {"password": hash_password(password), "added": added}
    save_users(path, users)
    return new


def remove_user(path: Path, name: str) -> bool:
    """Remove a login; False when there was none by that name."""
    users = load_users(path)
    if name not in users:
        return False
    del users[name]
    save_users(path, users)
    return True


def private_problem(path: Path) -> str | None:
    """Why the users file may not be used (readable or writable by others than its owner), or None."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return _("{file}: {error}").format(file=path, error=exc)
    if mode & 0o077:
        return _("{file} can be read or written by others (mode {mode:o}): run `chmod 600 {file}`").format(
            file=path, mode=mode)
    return None


# --- where it may listen -------------------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and the name localhost; any other name or address (0.0.0.0, ::, a LAN address) is not."""
    host = host.strip().strip("[]")
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refusal(host: str, *, logins: bool, tls: bool, behind_proxy: bool) -> str | None:
    """Why `anatole web` may not listen on `host` as configured, or None."""
    if behind_proxy and not logins:
        return _("--behind-proxy without any login: whoever reaches the proxy would get the console. Add a login "
                 "first (`anatole web user add NAME`)")
    if is_loopback(host):
        return None
    if not logins:
        return _("{host} is not a loopback address: anyone who can reach it would get the console. Add a login "
                 "first (`anatole web user add NAME`), and serve it over TLS (--certfile/--keyfile) or behind a "
                 "reverse proxy that terminates TLS (--behind-proxy)").format(host=host)
    if not (tls or behind_proxy):
        return _("{host} is not a loopback address and the connection is not encrypted: passwords would cross the "
                 "network in clear. Give --certfile and --keyfile, or --behind-proxy when a reverse proxy on this "
                 "machine terminates TLS").format(host=host)
    return None


def tls_context(certfile: Path, keyfile: Path | None) -> ssl.SSLContext:
    """A server TLS context (TLS 1.2 at least); ssl errors name the file."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(certfile), str(keyfile) if keyfile else None)
    except (OSError, ssl.SSLError) as exc:
        raise UsersError(_("TLS certificate {cert}: {error}").format(cert=certfile, error=exc)) from None
    return context


# --- the browser's language ----------------------------------------------------------------------------------------


def browser_language(accept: str) -> str | None:
    """The first language of an Accept-Language header that we have (by q value), or None."""
    import i18n

    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept.split(",")[:20]):
        tag, _sep, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        ranked.append((-q, i, tag.strip()))
    for q, _i, tag in sorted(ranked):
        found = i18n.normalise(tag)
        if found and q < 0:
            return found
    return None


# --- the server ----------------------------------------------------------------------------------------------------


@dataclass
class Session:
    login: str
    expires: float
    sockets: set[Any] = field(default_factory=set)


@dataclass
class Settings:
    """What `anatole web` was asked for. `command(login, language)` is the argv of one console process (run
    without a shell): login None means the OS user's own console (loopback, no logins); language None the server's
    default."""

    command: Callable[[str | None, str | None], list[str]]
    users_file: Path
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    ssl_context: ssl.SSLContext | None = None
    behind_proxy: bool = False
    language: str | None = None  # fixed by --lang, ANATOLE_LANG or [workspace] language; else the browser's
    max_sessions: int = 16
    title: str = "anatole"


def make_server(settings: Settings) -> Any:
    """The textual-serve Server with our logins in front (imported here: only `anatole web` needs aiohttp)."""
    from aiohttp import web
    from textual_serve.server import Server

    ConsoleService = _console_service()

    class ConsoleServer(Server):
        """textual-serve's Server: its page and its one-process-per-websocket service, behind our guard (logins,
        Host and Origin checks) and with the login and language passed to each console's command."""

        def __init__(self) -> None:
            super().__init__("anatole", host=settings.host, port=settings.port, title=settings.title,
                             public_url=settings.public_url)
            self.settings = settings
            self.loopback = is_loopback(settings.host)
            self.sessions: dict[str, Session] = {}  # sha256(cookie) -> session: a lookup never compares secrets
            self.failures: dict[str, list[float]] = {}
            self.consoles = 0
            self.sockets: set[Any] = set()  # every open console's websocket, to close them at shutdown
            self.processes: set[Any] = set()  # every console process not yet reaped
            self.stopping: set[asyncio.Task[None]] = set()
            self.checks = asyncio.Semaphore(2)  # scrypt checks at once (16 MiB each)
            self._users: dict[str, dict[str, str]] | None = {}
            self._users_seen: Any = None
            self._watcher: asyncio.Task[None] | None = None

        # -- logins --
        def read_users(self) -> dict[str, dict[str, str]] | None:
            """The users file, read again when it changed; None when it cannot be used (unreadable, readable by
            others, malformed): then no login passes and loopback is not open either (fail closed)."""
            try:
                st = os.stat(settings.users_file)
                seen: Any = (st.st_mtime_ns, st.st_size, st.st_mode)
            except FileNotFoundError:
                seen = None
            except OSError:
                return None
            if seen != self._users_seen:
                problem = private_problem(settings.users_file)
                try:
                    if problem:
                        raise UsersError(problem)
                    self._users = load_users(settings.users_file)
                except UsersError as exc:
                    log.error("%s", exc)
                    self._users = None
                self._users_seen = seen
            return self._users

        def users(self) -> dict[str, dict[str, str]]:
            return self.read_users() or {}

        def open_mode(self) -> bool:
            """Loopback with no login at all: the OS user's own console, as `anatole ui`. Never on another address,
            whatever happens to the users file while it runs."""
            return self.loopback and not settings.behind_proxy and self.read_users() == {}

        def session_of(self, request: Any) -> Session | None:
            token = request.cookies.get(COOKIE)
            if not token:
                return None
            key = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
            session = self.sessions.get(key)
            if session is None:
                return None
            if session.expires < time.time() or session.login not in self.users():
                self.sessions.pop(key, None)
                return None
            return session

        def secure(self, request: Any) -> bool:
            return self.scheme(request) == "https"

        def scheme(self, request: Any) -> str:
            if settings.public_url:
                return urlsplit(settings.public_url).scheme or "http"
            if settings.behind_proxy:
                return request.headers.get("X-Forwarded-Proto", "https").split(",")[0].strip() or "https"
            return request.scheme

        def base_url(self, request: Any) -> str:
            """Where the browser reached us: --public-url, else the request's own scheme and Host."""
            if settings.public_url:
                return settings.public_url.rstrip("/")
            return f"{self.scheme(request)}://{request.host}"

        def client(self, request: Any) -> str:
            if settings.behind_proxy:  # the proxy is the peer: its X-Forwarded-For's last entry is the client
                forwarded = request.headers.get("X-Forwarded-For", "")
                if forwarded:
                    return forwarded.split(",")[-1].strip()
            return request.remote or "?"

        def same_origin(self, request: Any) -> bool:
            """A browser names the page that opened a websocket or posted a form (Origin): it must be ours."""
            origin = request.headers.get("Origin")
            if origin is None:
                return True  # not a browser (curl, a test): nothing to ride on
            allowed = {self.base_url(request).lower(), f"{request.scheme}://{request.host}".lower()}
            return origin.rstrip("/").lower() in allowed

        def language(self, request: Any) -> str | None:
            return settings.language or browser_language(request.headers.get("Accept-Language", ""))

        # -- the aiohttp application --
        async def _make_app(self) -> Any:
            app = await super()._make_app()

            @web.middleware
            async def guard(request: Any, handler: Any) -> Any:
                try:
                    return self.headers(await self.guard(request, handler))
                except web.HTTPException as exc:  # redirects are raised (aiohttp 3.x deprecates returning them)
                    raise self.headers(exc) from None

            app.middlewares.append(guard)
            app.router.add_get("/login", self.handle_login_page)
            app.router.add_post("/login", self.handle_login)
            app.router.add_get("/logout", self.handle_logout_page)
            app.router.add_post("/logout", self.handle_logout)
            app.on_startup.append(self._start_watch)
            app.on_cleanup.append(self._stop_watch)
            app.on_cleanup.append(self._reap)
            return app

        async def on_startup(self, app: Any) -> None:
            """textual-serve prints its logo here; `anatole web` says where it listens instead."""

        async def on_shutdown(self, app: Any) -> None:
            """Close every console's websocket: each handler then asks its console process to quit (aiohttp would
            otherwise wait for open websockets until its shutdown timeout)."""
            for ws in list(self.sockets):
                with contextlib.suppress(Exception):
                    await ws.close(code=1001, message=b"server shutdown")

        async def _reap(self, app: Any) -> None:
            """After the handlers: the consoles still stopping get SHUTDOWN_SECONDS, then are killed. None outlives
            the server (a console does not exit when its stdin closes)."""
            if self.stopping:
                await asyncio.wait(set(self.stopping), timeout=SHUTDOWN_SECONDS)
            for process in list(self.processes):
                await _kill(process)

        async def _start_watch(self, app: Any) -> None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

        async def _stop_watch(self, app: Any) -> None:
            if self._watcher is not None:
                self._watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._watcher

        async def _watch(self) -> None:
            """Close the consoles of a login removed from the file while they are open."""
            while True:
                await asyncio.sleep(WATCH_SECONDS)
                users = self.users()
                for key, session in list(self.sessions.items()):
                    if session.login not in users or session.expires < time.time():
                        self.sessions.pop(key, None)
                        for ws in list(session.sockets):
                            with contextlib.suppress(Exception):
                                await ws.close()

        def headers(self, response: Any) -> Any:
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Referrer-Policy", "same-origin")
            return response

        async def guard(self, request: Any, handler: Any) -> Any:
            """Every request: open mode only from a loopback name, otherwise a live session (but the login page)."""
            if self.open_mode():  # a proxy in front (it says whom it forwards for) would open it to its clients
                proxied = any(h in request.headers for h in ("X-Forwarded-For", "Forwarded", "X-Real-IP"))
                if proxied or not is_loopback(urlsplit(f"//{request.host}").hostname or ""):
                    return web.Response(status=421, text=_("without logins this console answers on loopback names "
                                                           "only, not through a proxy"))
                request["login"] = None
            elif request.path not in ("/login", "/logout"):
                session = self.session_of(request)
                if session is None:
                    if request.path == "/ws" or request.method != "GET":
                        return web.Response(status=401, text=_("log in first"))
                    raise web.HTTPSeeOther("/login")
                request["login"] = session.login
                request["session"] = session
            return await handler(request)

        def page(self, request: Any, title: str, body: str, status: int = 200) -> Any:
            lang = self.language(request) or "en"
            text = (f"<!DOCTYPE html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
                    "</title><meta name=\"viewport\" content=\"width=device-width\"><style>body{background:#0c181f;"
                    "color:#eee;font-family:monospace;display:flex;justify-content:center;margin-top:10vh}"
                    "form{display:grid;gap:.6em;min-width:18em}input,button{font:inherit;padding:.4em}"
                    ".error{color:#f77}</style></head><body>" + body + "</body></html>")
            response = web.Response(text=text, content_type="text/html", status=status)
            response.headers["Cache-Control"] = "no-store"
            response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; " \
                                                          "form-action 'self'; frame-ancestors 'none'"
            return response

        def login_form(self, request: Any, error: str = "", status: int = 200) -> Any:
            _ = _translator(self.language(request))
            name, password, button = (html.escape(_("Login")), html.escape(_("Password")), html.escape(_("Log in")))
            body = ("<form method=\"post\" action=\"/login\"><h1>anatole</h1>"
                    + (f"<p class=\"error\">{html.escape(error)}</p>" if error else "")
                    + f"<label>{name}<br><input name=\"name\" autocomplete=\"username\" autofocus required></label>"
                    f"<label>{password}<br><input name=\"password\" type=\"password\" "
                    f"autocomplete=\"current-password\" required></label>"
                    f"<button type=\"submit\">{button}</button></form>")
            return self.page(request, _("anatole: log in"), body, status)

        async def handle_login_page(self, request: Any) -> Any:
            if self.open_mode():
                raise web.HTTPSeeOther("/")
            return self.login_form(request)

        async def handle_login(self, request: Any) -> Any:
            _ = _translator(self.language(request))
            if self.open_mode():
                raise web.HTTPSeeOther("/")
            if not self.same_origin(request):
                return web.Response(status=403, text=_("the form was not posted from this server's page"))
            client = self.client(request)
            now = time.monotonic()
            if len(self.failures) > 10_000:  # bounded memory: forget the addresses whose window has passed
                self.failures = {c: ts for c, ts in self.failures.items() if ts and now - ts[-1] < FAILURE_WINDOW}
            recent = [t for t in self.failures.get(client, []) if now - t < FAILURE_WINDOW]
            self.failures[client] = recent
            if len(recent) >= FAILURES_ALLOWED:
                return self.login_form(request, _("too many failed logins: wait a few minutes"), 429)
            form = await request.post()
            name = str(form.get("name", ""))[:64]
            password = str(form.get("password", ""))[:MAX_PASSWORD]
            record = self.users().get(name, {}).get("password", _DUMMY)
            async with self.checks:
                ok = await asyncio.get_running_loop().run_in_executor(None, verify_password, password, record)
            if not ok or name not in self.users():
                recent.append(now)
                log.warning("failed login for %r from %s", name, client)
                return self.login_form(request, _("wrong login or password"), 401)
            self.failures.pop(client, None)
            token = secrets.token_urlsafe(32)
            self.sessions[hashlib.sha256(token.encode()).hexdigest()] = Session(name, time.time()
                                                                                 + SESSION_HOURS * 3600)
            log.info("login %r from %s", name, client)
            response = web.HTTPSeeOther("/")
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=self.secure(request),
                                path="/")
            raise response

        async def handle_logout_page(self, request: Any) -> Any:
            _ = _translator(self.language(request))
            button = html.escape(_("Log out"))
            body = (f"<form method=\"post\" action=\"/logout\"><h1>anatole</h1>"
                    f"<button type=\"submit\">{button}</button></form>")
            return self.page(request, _("anatole: log out"), body)

        async def handle_logout(self, request: Any) -> Any:
            if not self.same_origin(request):
                return web.Response(status=403)
            session = self.session_of(request)
            if session is not None:
                self.sessions = {k: s for k, s in self.sessions.items() if s is not session}
                for ws in list(session.sockets):
                    with contextlib.suppress(Exception):
                        await ws.close()
            response = web.HTTPSeeOther("/login")
            response.del_cookie(COOKIE, path="/")
            raise response

        async def handle_index(self, request: Any) -> Any:
            """textual-serve's page, with URLs built from where the browser reached us (a proxy's name, TLS)."""
            import aiohttp_jinja2

            base = self.base_url(request)
            ws = ("wss:" if base.startswith("https") else "ws:") + base.split(":", 1)[1] + "/ws"
            context = {"font_size": _int(request.query.get("fontsize", "16"), 16), "app_websocket_url": ws,
                       "config": {"static": {"url": f"{base}/static/"}}, "application": {"name": settings.title}}
            page = aiohttp_jinja2.render_string("app_index.html", request, context)
            # the template asks Google Fonts for Roboto Mono: the browser would tell Google who opens the console;
            # textual-serve ships the font, so it comes from here
            font = (f"<style>@font-face {{font-family: 'Roboto Mono'; src: url('{base}/static/fonts/"
                    "RobotoMono-VariableFont_wght.ttf');}</style>")
            page = re.sub(r"<link[^>]*fonts\.googleapis\.com[^>]*>", font, page, count=1)
            response = web.Response(text=page, content_type="text/html")
            response.headers["Cache-Control"] = "no-store"
            return response

        async def handle_websocket(self, request: Any) -> Any:
            """One console process per websocket, started with the session's login (textual-serve's own handler,
            plus the login, the Origin check and a bound on how many run at once)."""
            _ = _translator(self.language(request))
            if not self.same_origin(request):
                return web.Response(status=403, text=_("the console was not opened from this server's page"))
            if self.consoles >= settings.max_sessions:
                return web.Response(status=503, text=_("too many consoles open ({n}): close one and try again").format(
                    n=settings.max_sessions))
            login = request.get("login")
            session: Session | None = request.get("session")
            websocket = web.WebSocketResponse(heartbeat=15)
            width = _int(request.query.get("width", "80"), 80)
            height = _int(request.query.get("height", "24"), 24)
            service = None
            self.consoles += 1
            self.sockets.add(websocket)
            if session is not None:
                session.sockets.add(websocket)
            try:
                await websocket.prepare(request)
                service = ConsoleService(settings.command(login, self.language(request)),
                                         write_bytes=websocket.send_bytes, write_str=websocket.send_str,
                                         close=websocket.close, download_manager=self.download_manager)
                log.info("console opened for %s from %s", login or "(this machine's user)", self.client(request))
                await service.start(width, height)
                self.processes.add(service._process)
                ended = getattr(service, "_task", None)  # the process's output task: it ends when the process does
                if ended is not None:  # a console that dies (not only one that quits) closes its websocket too,
                    ended.add_done_callback(lambda _task: asyncio.ensure_future(websocket.close()))  # "Session ended"
                await self._process_messages(websocket, service)
            except asyncio.CancelledError:
                await websocket.close()
            except Exception as error:  # one console's failure never stops the server
                log.exception(error)
            finally:
                self.consoles -= 1
                self.sockets.discard(websocket)
                if session is not None:
                    session.sockets.discard(websocket)
                if service is not None:  # in a task of its own: a handler cancelled at shutdown still reaps it
                    stopping = asyncio.ensure_future(self._stop(service))
                    self.stopping.add(stopping)
                    stopping.add_done_callback(self.stopping.discard)
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.shield(stopping)
            return websocket

        async def _stop(self, service: Any) -> None:
            """Ask a console process to quit; kill it (its process group) when it has not within SHUTDOWN_SECONDS.
            textual-serve leaves its stdin open and never waits for it: both done here."""
            process = service._process
            with contextlib.suppress(Exception):  # the timeout, or a process already gone
                await asyncio.wait_for(service.stop(), SHUTDOWN_SECONDS)
            if process is not None and process.returncode is None:  # its output has ended: it exits in a moment
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(process.wait(), 1)
            if process is not None:
                await _kill(process)
                self.processes.discard(process)

        def serve(self, debug: bool = False, ready: Callable[[list[str]], None] | None = None) -> None:
            """Listen (TLS when given) until SIGINT or SIGTERM (systemd), then close the consoles within
            SHUTDOWN_SECONDS. `ready` gets the URLs actually bound (--port 0: a free port) once it listens."""
            self.debug = debug
            self.initialize_logging()
            asyncio.run(self.run(ready))

        async def run(self, ready: Callable[[list[str]], None] | None = None) -> None:
            import signal

            runner = web.AppRunner(await self._make_app(), access_log=None, handle_signals=False,
                                   shutdown_timeout=SHUTDOWN_SECONDS)
            await runner.setup()
            try:
                await web.TCPSite(runner, settings.host, settings.port, ssl_context=settings.ssl_context).start()
                scheme = "https" if settings.ssl_context else "http"
                urls = [f"{scheme}://{f'[{a[0]}]' if ':' in a[0] else a[0]}:{a[1]}" for a in runner.addresses]
                if ready is not None:
                    ready(urls)
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    with contextlib.suppress(NotImplementedError):
                        loop.add_signal_handler(sig, stop.set)
                await stop.wait()
            finally:
                await runner.cleanup()

    return ConsoleServer()


async def _kill(process: Any) -> None:
    """Kill a console process and whatever it started (its own session: start_new_session), and reap it."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    if process.stdin is not None:
        process.stdin.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(process.wait(), SHUTDOWN_SECONDS)


def _console_service() -> Any:
    """textual-serve's AppService, starting the console without a shell (argv, no quoting to get wrong) in a session
    of its own, so that stopping it stops all of it."""
    from textual_serve.app_service import AppService

    class ConsoleService(AppService):
        def __init__(self, argv: list[str], **kwargs: Any) -> None:
            super().__init__(shlex.join(argv), **kwargs)
            self.argv = argv

        async def _open_app_process(self, width: int = 80, height: int = 24) -> Any:
            self._process = process = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=self._build_environment(width=width, height=height),
                start_new_session=True)
            self._stdin = process.stdin
            return process

    return ConsoleService


def die_with_parent() -> None:
    """In a console process: be killed when `anatole web` ends, however it ends (Linux PR_SET_PDEATHSIG; a Textual
    app does not exit when its stdin closes). Elsewhere, nothing."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the server was already gone before the request took effect
        os._exit(1)


def _int(text: str, default: int) -> int:
    try:
        return max(1, min(int(text), 1000))
    except ValueError:
        return default


def _translator(language: str | None) -> Callable[[str], str]:
    """Messages in the browser's language (the server's own when it has none of ours)."""
    if language is None:
        return _
    import i18n

    return i18n.translations(language).gettext
