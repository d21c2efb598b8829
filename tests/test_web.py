"""`anatole web`: who may open the console in a browser, and with which login.

Without a browser: the bind rules (loopback only, unless logins AND TLS or --behind-proxy), the users file, the
login form and the session cookie against a real aiohttp server on 127.0.0.1 port 0 with real HTTP requests and a
real websocket, and the login reaching the console process. With a browser: headless Chromium driven by selenium
opens `anatole web` (the real command, in a subprocess) on a demo workspace, logs in, reads the console.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from serve_support import make_workspace

from anatole import web
from anatole.cli import main
from anatole.cli_web import session_command

PASSWORD = "correct horse"


def invoke(*args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(main, list(args), input=input)


# --- where it may listen ---------------------------------------------------------------------------------------------


def test_only_loopback_is_open_and_anything_else_needs_logins_and_encryption() -> None:
    for host in ("127.0.0.1", "127.0.0.5", "::1", "[::1]", "localhost"):
        assert web.refusal(host, logins=False, tls=False, behind_proxy=False) is None, host
    assert "--behind-proxy without any login" in web.refusal("127.0.0.1", logins=False, tls=False, behind_proxy=True)
    assert web.refusal("127.0.0.1", logins=True, tls=False, behind_proxy=True) is None
    for host in ("0.0.0.0", "::", "192.0.2.10", "tem.example.com", "127.0.0.1.example.com"):
        assert "user add" in web.refusal(host, logins=False, tls=True, behind_proxy=True), host
        assert "in clear" in web.refusal(host, logins=True, tls=False, behind_proxy=False), host
        assert web.refusal(host, logins=True, tls=True, behind_proxy=False) is None
        assert web.refusal(host, logins=True, tls=False, behind_proxy=True) is None


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Fails the test if `anatole web` gets as far as building its server."""
    started: list[Any] = []
    monkeypatch.setattr(web, "make_server", lambda settings: started.append(settings) or pytest.fail("started"))
    return started


def test_a_public_address_is_refused_without_protection(tmp_path: Path, no_server: list[Any]) -> None:
    root = make_workspace(tmp_path / "ws")
    result = invoke("-w", str(root), "web", "--host", "0.0.0.0")
    assert result.exit_code == 2, result.output
    assert "0.0.0.0 is not a loopback address" in result.output and "anatole web user add" in result.output
    assert "Traceback" not in result.output
    assert invoke("-w", str(root), "web", "user", "add", "alice", "--password-stdin",
                  input=PASSWORD + "\n").exit_code == 0
    result = invoke("-w", str(root), "web", "--host", "0.0.0.0")  # a login, but passwords in clear
    assert result.exit_code == 2 and "--certfile" in result.output and "--behind-proxy" in result.output
    result = invoke("-w", str(root), "web", "--host", "192.0.2.1", "--keyfile", str(root / "anatole.toml"))
    assert result.exit_code == 2 and "--keyfile needs --certfile" in result.output
    os.chmod(web.users_path(root), 0o644)  # others could read the hashes: refused even on loopback
    result = invoke("-w", str(root), "web")
    assert result.exit_code == 2 and "chmod 600" in result.output
    assert no_server == []


# --- the users file --------------------------------------------------------------------------------------------------


def test_users_are_salted_scrypt_hashes_in_a_private_file(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws")
    path = web.users_path(root)
    result = invoke("-w", str(root), "web", "user", "add", "alice", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0 and "login alice added" in result.output, result.output
    assert invoke("-w", str(root), "web", "user", "add", "bob.m@example", "--password-stdin",
                  input="another one\n").exit_code == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert PASSWORD not in text and "another one" not in text
    users = web.load_users(path)
    assert sorted(users) == ["alice", "bob.m@example"]
    a = users["alice"]["password"]
    assert a.startswith("scrypt$16384$8$1$") and web.verify_password(PASSWORD, a)
    assert not web.verify_password(PASSWORD + " ", a) and not web.verify_password("", a)
    assert not web.verify_password(PASSWORD, "scrypt$bad") and not web.verify_password(PASSWORD, "md5$x$y$z$a$b")
    assert a.split("$")[4] != web.hash_password(PASSWORD).split("$")[4]  # a new salt every time
    listed = json.loads(invoke("-w", str(root), "web", "user", "list", "--json").output)
    assert [u["name"] for u in listed] == ["alice", "bob.m@example"] and "password" not in listed[0]
    # a new password for alice: the old one stops working; the other login is untouched
    result = invoke("-w", str(root), "web", "user", "add", "alice", "--password-stdin", input="new password\n")
    assert "password of alice changed" in result.output
    users = web.load_users(path)
    assert web.verify_password("new password", users["alice"]["password"])
    assert not web.verify_password(PASSWORD, users["alice"]["password"])
    assert users["bob.m@example"]["password"] == web.load_users(path)["bob.m@example"]["password"]
    # refused: a mistyped confirmation, a short password, a name that is not a plain word, removing nobody
    result = invoke("-w", str(root), "web", "user", "add", "carol", input=f"{PASSWORD}\nsomething else\n" * 3)
    assert result.exit_code != 0 and "carol" not in web.load_users(path)
    result = invoke("-w", str(root), "web", "user", "add", "carol", "--password-stdin", input="short\n")
    assert result.exit_code == 1 and "at least 8 characters" in result.output
    result = invoke("-w", str(root), "web", "user", "add", "c; rm -rf /", "--password-stdin", input=PASSWORD)
    assert result.exit_code == 1 and "login name" in result.output
    assert invoke("-w", str(root), "web", "user", "remove", "alice").exit_code == 0
    result = invoke("-w", str(root), "web", "user", "remove", "alice")
    assert result.exit_code == 1 and "no login alice" in result.output
    assert sorted(web.load_users(path)) == ["bob.m@example"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("[users]\nalice = 3\n")
    result = invoke("-w", str(root), "web", "user", "list")
    assert result.exit_code == 1 and "users.alice" in result.output and "Traceback" not in result.output


# --- the server: logins, cookies, origins, the login handed to the console process ------------------------------------

# Stands for the console: speaks textual-serve's prelude, sends its own command line as one data packet, and ends
# when asked to quit (or when its stdin closes).
FAKE_CONSOLE = """
import json, sys
out = sys.stdout.buffer
out.write(b"__GANGLION__\\n")
payload = json.dumps(sys.argv[1:]).encode()
out.write(b"D" + len(payload).to_bytes(4, "big") + payload)
out.flush()
while True:
    chunk = sys.stdin.buffer.read1(65536)
    if not chunk or b'"quit"' in chunk:
        break
"""


def fake_command(login: str | None, language: str | None) -> list[str]:
    return [sys.executable, "-c", FAKE_CONSOLE, login or "", language or ""]


@contextlib.asynccontextmanager
async def serving(root: Path, host: str = "127.0.0.1", **options: Any) -> AsyncIterator[tuple[Any, str]]:
    """The real `anatole web` server (anatole.web.make_server) on 127.0.0.1, a free port."""
    from aiohttp import web as aioweb

    options.setdefault("command", fake_command)
    settings = web.Settings(users_file=web.users_path(root), host=host, port=0, **options)
    server = web.make_server(settings)
    runner = aioweb.AppRunner(await server._make_app(), access_log=None, shutdown_timeout=2)
    await runner.setup()
    try:
        await aioweb.TCPSite(runner, "127.0.0.1", 0, ssl_context=settings.ssl_context).start()
        scheme = "https" if settings.ssl_context else "http"
        yield server, f"{scheme}://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def client(**options: Any) -> Any:
    import aiohttp

    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), **options)  # unsafe: cookies of an IP


async def login(session: Any, base: str, name: str, password: str) -> Any:
    async with session.post(f"{base}/login", data={"name": name, "password": password},
                            allow_redirects=False) as response:
        await response.read()
        return response


async def console_says(session: Any, base: str, **options: Any) -> list[str]:
    """Open a console over the websocket and return what its process said (its command line)."""
    import aiohttp

    async with session.ws_connect(f"{base}/ws?width=80&height=24", **options) as ws:
        while True:
            message = await ws.receive(timeout=10)
            if message.type == aiohttp.WSMsgType.BINARY:
                return json.loads(message.data)
            assert message.type == aiohttp.WSMsgType.TEXT, message


def add(root: Path, name: str = "alice", password: str = PASSWORD) -> None:
    web.add_user(web.users_path(root), name, password)


def run(coro: Any) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, 30)

    return asyncio.run(bounded())


def test_logins_a_wrong_password_or_cookie_is_rejected_and_the_login_reaches_the_console(tmp_path: Path) -> None:
    import aiohttp

    root = make_workspace(tmp_path / "ws")
    add(root, "alice")
    add(root, "bob", "bobs password")

    async def scenario() -> None:
        async with serving(root) as (server, base):
            async with client() as anonymous:
                async with anonymous.get(f"{base}/", allow_redirects=False) as r:
                    assert (r.status, r.headers["Location"]) == (303, "/login")
                async with anonymous.get(f"{base}/static/js/textual.js", allow_redirects=False) as r:
                    assert r.status == 303  # nothing but the login page before a login
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await console_says(anonymous, base)
                assert refused.value.status == 401
                async with anonymous.get(f"{base}/login") as r:
                    page = await r.text()
                    assert r.status == 200 and 'type="password"' in page and r.headers["X-Frame-Options"] == "DENY"
                for name, password in (("alice", "wrong password"), ("alice", ""), ("nobody", PASSWORD),
                                       ("bob", PASSWORD)):
                    r = await login(anonymous, base, name, password)
                    assert r.status == 401 and "anatole_session" not in r.cookies, (name, password)
                assert not anonymous.cookie_jar.filter_cookies(base)
            async with client(cookies={"anatole_session": "forged-or-expired"}) as forged:
                async with forged.get(f"{base}/", allow_redirects=False) as r:
                    assert r.status == 303
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await console_says(forged, base)
                assert refused.value.status == 401
            async with client() as alice:
                r = await login(alice, base, "alice", PASSWORD)
                assert r.status == 303 and r.headers["Location"] == "/"
                cookie = r.headers["Set-Cookie"]
                assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie  # plain HTTP
                assert len(r.cookies["anatole_session"].value) >= 40
                async with alice.get(f"{base}/", allow_redirects=False) as page:
                    assert page.status == 200 and "/ws" in await page.text()
                # the console process is started with the session's login, and the browser's language
                said = await console_says(alice, base, headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
                assert said == ["alice", "fr"]
                # another site's page cannot open a console with alice's cookie (cross-site websocket)
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await console_says(alice, base, headers={"Origin": "https://evil.example"})
                assert refused.value.status == 403
                assert await console_says(alice, base, headers={"Origin": base}) == ["alice", ""]
                # removed from the file: the session ends with it
                web.remove_user(web.users_path(root), "alice")
                async with alice.get(f"{base}/", allow_redirects=False) as page:
                    assert page.status == 303
            async with client() as bob:
                assert (await login(bob, base, "bob", "bobs password")).status == 303
                assert (await console_says(bob, base))[0] == "bob"
                async with bob.post(f"{base}/logout", allow_redirects=False) as r:
                    assert r.status == 303
                async with bob.get(f"{base}/", allow_redirects=False) as page:
                    assert page.status == 303

    run(scenario())


def test_removing_a_login_closes_its_open_consoles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import aiohttp

    monkeypatch.setattr(web, "WATCH_SECONDS", 0.05)
    root = make_workspace(tmp_path / "ws")
    add(root, "alice")
    add(root, "bob", "bobs password")

    async def scenario() -> None:
        async with serving(root) as (_, base), client() as alice, client() as bob:
            await login(alice, base, "alice", PASSWORD)
            await login(bob, base, "bob", "bobs password")
            async with alice.ws_connect(f"{base}/ws") as a, bob.ws_connect(f"{base}/ws") as b:
                assert (await a.receive(timeout=10)).type == aiohttp.WSMsgType.BINARY
                assert (await b.receive(timeout=10)).type == aiohttp.WSMsgType.BINARY
                web.remove_user(web.users_path(root), "alice")
                assert (await a.receive(timeout=10)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
                await b.send_str(json.dumps(["ping", "still here"]))  # bob's console is untouched
                assert json.loads((await b.receive(timeout=10)).data) == ["pong", "still here"]

    run(scenario())


def test_failed_logins_are_throttled_per_client(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws")
    add(root)

    async def scenario() -> None:
        async with serving(root) as (_, base), client() as guesser:
            for _i in range(web.FAILURES_ALLOWED):
                assert (await login(guesser, base, "alice", "guess")).status == 401
            r = await login(guesser, base, "alice", PASSWORD)  # even the right one, until the window passes
            assert r.status == 429 and "anatole_session" not in r.cookies

    run(scenario())


def test_loopback_without_logins_is_this_machines_user_only(tmp_path: Path) -> None:
    import aiohttp

    root = make_workspace(tmp_path / "ws")

    async def scenario() -> None:
        async with serving(root) as (_, base), client() as local:
            async with local.get(f"{base}/", allow_redirects=False) as r:
                assert r.status == 200
            assert await console_says(local, base) == ["", ""]  # no login: the OS user's own console
            # a web page whose name was rebound to 127.0.0.1 (DNS rebinding), or another site's websocket
            async with local.get(f"{base}/", headers={"Host": "evil.example:8000"}) as r:
                assert r.status == 421
            # a reverse proxy put in front of a console without logins: refused, it would open it to the proxy's users
            async with local.get(f"{base}/", headers={"X-Forwarded-For": "203.0.113.9"}) as r:
                assert r.status == 421
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await console_says(local, base, headers={"Origin": "http://evil.example"})
            assert refused.value.status == 403
            add(root)  # a login now exists: required on loopback too
            async with local.get(f"{base}/", allow_redirects=False) as r:
                assert r.status == 303
            web.remove_user(web.users_path(root), "alice")  # the file stays, empty: open again
            async with local.get(f"{base}/", allow_redirects=False) as r:
                assert r.status == 200
            web.users_path(root).write_text("not toml [")  # unreadable: closed, not open
            async with local.get(f"{base}/", allow_redirects=False) as r:
                assert r.status == 303

    run(scenario())


def test_a_public_address_stays_closed_when_the_last_login_goes(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws")
    add(root)

    async def scenario() -> None:
        async with serving(root, host="0.0.0.0", behind_proxy=True) as (_, base), client() as anyone:
            web.remove_user(web.users_path(root), "alice")
            async with anyone.get(f"{base}/", allow_redirects=False) as r:
                assert r.status == 303
            assert (await login(anyone, base, "alice", PASSWORD)).status == 401

    run(scenario())


def test_over_tls_the_cookie_is_secure_and_consoles_are_bounded(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl (the command) makes the test certificate")
    root = make_workspace(tmp_path / "ws")
    add(root)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"],
                   check=True, capture_output=True, timeout=30)
    with pytest.raises(web.UsersError, match="TLS certificate"):
        web.tls_context(key, None)  # a key is not a certificate: named, no traceback

    async def scenario() -> None:
        import aiohttp

        async with serving(root, host="0.0.0.0", ssl_context=web.tls_context(cert, key), max_sessions=1) as (
                server, base), client() as alice:
            assert base.startswith("https://")
            async with alice.post(f"{base}/login", data={"name": "alice", "password": PASSWORD},
                                  allow_redirects=False, ssl=False) as r:
                assert r.status == 303
                cookie = r.headers["Set-Cookie"]
                assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
            async with alice.ws_connect(f"{base}/ws", ssl=False) as first:
                assert (await first.receive(timeout=10)).type == aiohttp.WSMsgType.BINARY
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:  # one more than --max-sessions
                    await alice.ws_connect(f"{base}/ws", ssl=False)
                assert refused.value.status == 503
            while server.consoles:  # the first one's handler ends just after its close (bounded by run())
                await asyncio.sleep(0.01)
            assert (await console_says(alice, base, ssl=False))[0] == "alice"  # the first one closed: room again

    run(scenario())


def test_the_session_command_runs_the_console_as_the_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tui.app import ConsoleApp

    root = make_workspace(tmp_path / "ws")
    words = session_command(root, "bob.m@example", "fr", "invoices", light=True)
    assert words[:3] == [sys.executable, "-m", "anatole"]
    assert words[3:] == ["--workspace", str(root), "--lang", "fr", "web", "session", "--screen", "invoices",
                         "--light", "--login", "bob.m@example"]
    assert "--login" not in session_command(root, None, None)
    with pytest.raises(web.UsersError):
        session_command(root, "x; rm -rf ~", None)
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(ConsoleApp, "run", lambda self: seen.append((self.ctx.user, self.first)))
    result = invoke("-w", str(root), "web", "session", "--login", "alice", "--screen", "invoices")
    assert result.exit_code == 0, result.output
    assert seen == [("web:alice", "invoices")]  # what approvals, disputes and alert acknowledgements record
    result = invoke("-w", str(root), "web", "session", "--login", "$(id)")
    assert result.exit_code == 2 and seen == [("web:alice", "invoices")]


@pytest.mark.trio
async def test_an_alert_acknowledged_from_a_web_console_records_the_login(tmp_path: Path) -> None:
    """The console sends Acknowledge(by=ctx.user); the daemon records the kernel's name of the peer, except that
    `anatole web`'s consoles, under the daemon's own account, act for their login (web:NAME)."""
    import pwd

    import trio
    from serve_support import daemon_for, rows, running
    from test_serve_peers import OTHER, _closed_at_once, _connect, _source, _subscribed

    from pbx.protocol import Acknowledge, Alert, AlertAcknowledged

    root = make_workspace(tmp_path, _source('["127.0.0.1"]'))
    daemon = daemon_for(root)
    me = pwd.getpwuid(os.getuid()).pw_name
    with trio.fail_after(20):
        async with running(daemon):
            client = await _subscribed(root)
            for other in (OTHER, "127.0.0.3"):  # two refused peers: two alerts
                await _closed_at_once(await _connect(daemon.ports["paris-ipo"], other))
            first, second = await client.wait_for(Alert, 2)
            await client.send(Acknowledge(alert=first.id, by="web:alice"))
            await client.send(Acknowledge(alert=second.id, by="the-boss"))  # not a web login: the peer's name
            acks = await client.wait_for(AlertAcknowledged, 2)
            assert sorted((a.id, a.by) for a in acks) == sorted([(first.id, "web:alice"), (second.id, me)])
            await client.aclose()
    assert sorted(a["acknowledged_by"] for a in rows(root, "alerts")) == sorted(["web:alice", me])
    log = [json.loads(line) for line in daemon.config.log.getvalue().splitlines()]
    assert [(e["by"], e.get("peer")) for e in log if e["event"] == "acknowledge"] == [("web:alice", me), (me, None)]


def test_a_console_that_dies_closes_its_browser_session(tmp_path: Path) -> None:
    import aiohttp

    root = make_workspace(tmp_path / "ws")
    dies = [sys.executable, "-c", "import sys; sys.stdout.write('__GANGLION__\\n'); sys.exit(3)"]

    async def scenario() -> None:
        async with serving(root, command=lambda login, language: dies) as (server, base), client() as local, \
                local.ws_connect(f"{base}/ws") as ws:
            message = await ws.receive(timeout=10)
            assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
            while server.consoles:
                await asyncio.sleep(0.01)

    run(scenario())


def test_a_language_chosen_for_the_server_wins_over_the_browsers(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws")

    async def scenario() -> None:
        french = {"Accept-Language": "fr-FR,fr;q=0.9"}
        async with serving(root, language="en") as (_, base), client() as local:
            assert await console_says(local, base, headers=french) == ["", "en"]
            add(root)
            async with local.get(f"{base}/login", headers=french) as r:
                assert "Password" in await r.text()
        async with serving(root) as (_, base), client() as local, \
                local.get(f"{base}/login", headers=french) as r:  # no language chosen: the browser's
            assert "Mot de passe" in await r.text()

    run(scenario())


def test_lang_passes_through_to_every_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    import i18n

    no_server: list[Any] = []  # the settings `anatole web` would serve with; nothing listens
    monkeypatch.setattr(web, "make_server", lambda settings: no_server.append(settings) or types.SimpleNamespace(
        serve=lambda ready: None))
    root = make_workspace(tmp_path / "ws")
    monkeypatch.delenv("ANATOLE_LANG", raising=False)
    before = i18n.current()
    try:
        for args in (["--lang", "fr", "-w", str(root), "web"], ["-w", str(root), "web", "--lang", "fr"]):
            no_server.clear()
            assert invoke(*args).exit_code == 0
            (settings,) = no_server
            assert settings.language == "fr"
            words = settings.command("alice", settings.language)
            assert words[words.index("--lang") + 1] == "fr" and words[-2:] == ["--login", "alice"]
    finally:
        i18n.use(before)  # --lang switched this process (as `anatole` does before importing the commands)
    monkeypatch.setenv("ANATOLE_LANG", "en")
    no_server.clear()
    invoke("-w", str(root), "web")
    assert no_server[0].language == "en"


def processes_with(text: str) -> list[int]:
    """The pids whose command line contains `text` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            with contextlib.suppress(OSError):
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def gone(text: str, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while processes_with(text):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc (Linux)")
def test_a_console_process_does_not_outlive_anatole_web_even_killed(tmp_path: Path) -> None:
    """A Textual console does not exit when its stdin closes: `web session` asks the kernel to kill it with its
    parent (die_with_parent), so a `kill -9` of the server leaves no console running."""
    marker = f"console-of-{tmp_path.name}"
    console = f"from anatole.web import die_with_parent; die_with_parent(); import time; time.sleep(60)  # {marker}"
    server = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                               f"subprocess.Popen([sys.executable, '-c', {console!r}]); time.sleep(60)"])
    try:
        deadline = time.monotonic() + 10
        while not processes_with(marker):
            assert time.monotonic() < deadline, "the console never started"
            time.sleep(0.05)
        time.sleep(0.2)  # past die_with_parent
        server.kill()
        server.wait(timeout=10)
        assert gone(marker)
    finally:
        server.kill()
        for pid in processes_with(marker):
            with contextlib.suppress(OSError):
                os.kill(pid, 9)


def test_browser_language() -> None:
    assert web.browser_language("fr-CA,fr;q=0.9,en;q=0.8") == "fr"
    assert web.browser_language("de-DE,de;q=0.9,en-US;q=0.8,fr;q=0.7") == "en"
    assert web.browser_language("en;q=0.2, fr") == "fr"
    assert web.browser_language("de, ja") is None and web.browser_language("") is None


# --- a real browser ---------------------------------------------------------------------------------------------------

CHROMIUM = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Captures the xterm.js Terminal that textual.js creates (`this.terminal = new Terminal(...)` in its console class):
# a setter on Object.prototype sees the assignment, keeps the value as the object's own property and remembers it.
# Installed before any page script runs (CDP Page.addScriptToEvaluateOnNewDocument).
CAPTURE_TERMINAL = """
Object.defineProperty(Object.prototype, 'terminal', {configurable: true, set(value) {
  Object.defineProperty(this, 'terminal', {value: value, writable: true, configurable: true, enumerable: true});
  if (value && value.buffer && this.websocket_url !== undefined) { window.__anatoleTerminal = value; }
}});
"""
# The screen as text, row by row, from xterm.js's own buffer (its public API): the same cells the canvas draws.
READ_SCREEN = """
const t = window.__anatoleTerminal;
if (!t) { return null; }
const b = t.buffer.active, rows = [];
for (let y = 0; y < t.rows; y++) {
  const line = b.getLine(b.viewportY + y);
  rows.push(line ? line.translateToString(true) : '');
}
return rows.join('\\n');
"""
MONEY = re.compile(r"\b\d[\d,]*\.\d{2} (EUR|GBP|USD)\b")


def _chromium() -> tuple[str, str]:
    binary = next((found for name in CHROMIUM if (found := shutil.which(name))), None)
    driver = shutil.which("chromedriver") or next(
        (p for p in ("/usr/lib/chromium/chromedriver", "/usr/bin/chromedriver") if os.path.exists(p)), None)
    if binary is None or driver is None:
        pytest.skip("Chromium or its driver is not installed (Debian: apt-get install chromium chromium-driver; "
                    ".ci/run installs them when it can)")
    return binary, driver


@contextlib.contextmanager
def anatole_web(root: Path) -> Iterator[str]:
    """`anatole web --port 0` in a subprocess; yields its URL (read from what it prints), stops it with SIGTERM."""
    process = subprocess.Popen([sys.executable, "-m", "anatole", "-w", str(root), "--lang", "en", "web", "--port", "0"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stderr], daemon=True).start()
    try:
        deadline = time.monotonic() + 20
        said = []
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"anatole web did not say where it listens: {said}")
            said.append(line)
            found = re.search(r"http://127\.0\.0\.1:\d+", line)
            if found:
                break
        yield found.group(0)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def test_in_a_real_browser_log_in_see_calls_with_money_change_screen_and_approve_as_the_login(
        tmp_path: Path) -> None:
    """Headless Chromium logs in to `anatole web` on a demo workspace, sees the Calls screen with amounts and their
    currency, presses 5 for Invoices, and approves the first invoice: the store records web:alice.

    Reading the terminal: textual.js draws with xterm.js's WebGL or canvas renderer, so the DOM holds no text. The
    test captures the xterm.js Terminal object as textual.js creates it (CAPTURE_TERMINAL, injected before the page's
    scripts) and reads its buffer through xterm.js's public API (`buffer.active.getLine(y).translateToString()`),
    which is exactly what is drawn. Keys go to xterm.js's input textarea, as a person's typing does."""
    pytest.importorskip("selenium", reason="selenium is in the test extra: pip install -e '.[test]'")
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from anatole.demo import run_demo
    from store.db import open_store
    from store.invoices import open_invoices

    binary, driver_path = _chromium()
    root = tmp_path / "demo"
    run_demo(root, seed=3, scale=0.05)
    add(root)
    options = Options()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800",
                     "--lang=en-US", "--disable-extensions"):
        options.add_argument(argument)
    try:
        browser = webdriver.Chrome(options=options, service=Service(driver_path))
    except WebDriverException as exc:
        pytest.skip(f"Chromium cannot be started here: {exc.msg or exc}")
    try:
        browser.set_page_load_timeout(15)
        browser.set_script_timeout(5)
        browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CAPTURE_TERMINAL})

        def screen_with(text: str | re.Pattern[str], seconds: float = 15) -> str:
            deadline = time.monotonic() + seconds
            seen = None
            while time.monotonic() < deadline:
                seen = browser.execute_script(READ_SCREEN)
                if seen and (text.search(seen) if isinstance(text, re.Pattern) else text in seen):
                    return seen
                time.sleep(0.1)
            pytest.fail(f"the console never showed {text!r}; it shows:\n{seen}")

        with anatole_web(root) as url:
            browser.get(url)
            assert browser.current_url.endswith("/login")
            browser.find_element(By.NAME, "name").send_keys("alice")
            browser.find_element(By.NAME, "password").send_keys(PASSWORD)
            browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            calls = screen_with(MONEY)
            assert calls.lstrip().startswith("Calls") and "total" in calls
            keys = browser.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea")
            keys.send_keys("5")
            invoices = screen_with("Invoices")
            assert "validated" in invoices and "Calls" not in invoices.splitlines()[0]
            keys.send_keys("a")
            screen_with("approve as web:alice")
            keys.send_keys("checked with the carrier")
            keys.send_keys(Keys.ENTER)
            screen_with("approved")
            assert processes_with(f"{root}\0--lang\0en\0web\0session")  # the console, as alice
        assert gone(str(root)), "a console process outlived anatole web"  # stopped with the browser still on it
        store = open_store(root / "anatole.db")
        try:
            last = open_invoices(store.conn).transitions(1)[-1]
        finally:
            store.close()
        assert (last["to_state"], last["actor"], last["reason"]) == ("approved", "web:alice",
                                                                      "checked with the carrier")
    finally:
        browser.quit()
