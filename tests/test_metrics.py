"""Monitoring (issue 21): Prometheus metrics scraped over a real socket, and `anatole status` as a Nagios check."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import trio
from click.testing import CliRunner
from serve_support import IPO_LINES, daemon_for, make_workspace, running, send_lines, settle

from anatole.cli import main
from anatole.cli_serve import EXIT_CRITICAL, EXIT_OK, EXIT_UNKNOWN, EXIT_WARNING, health
from anatole.config import ConfigError, parse_config
from pbx import metrics
from pbx.protocol import SourceState, Status

SAMPLE = re.compile(r'^([a-z_]+)(\{([a-z_]+="(?:[^"\\]|\\.)*"(?:,[a-z_]+="(?:[^"\\]|\\.)*")*)\})? (-?[0-9.e+]+)$')

DOWN_SOURCE = """
[[source]]
name = "lyon-ipo"
site = "paris"
format = "avaya-ipo"
connect = "127.0.0.1:9"
"""


async def scrape(port: int, request: bytes = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n") -> tuple[str, str]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(request)
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
    head, _, body = data.decode().partition("\r\n\r\n")
    return head.split("\r\n")[0], body


def parse(text: str) -> dict[str, dict[str, float]]:
    """family -> {labels text: value}; checks the format: HELP and TYPE before each family's samples."""
    families: dict[str, dict[str, float]] = {}
    helped: set[str] = set()
    typed: set[str] = set()
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
        elif line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            assert kind in ("counter", "gauge") and name in helped
            typed.add(name)
        else:
            m = SAMPLE.match(line)
            assert m, line
            assert m.group(1) in typed, line
            families.setdefault(m.group(1), {})[m.group(3) or ""] = float(m.group(4))
    return families


@pytest.mark.trio
async def test_scrape(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    daemon = daemon_for(root, metrics=("127.0.0.1", 0))
    with trio.fail_after(20):
        async with running(daemon):
            port = daemon.metrics_port
            assert port
            await send_lines(daemon.ports["paris-ipo"], IPO_LINES)
            await settle(daemon, len(IPO_LINES))
            status, body = await scrape(port)
            assert status == "HTTP/1.1 200 OK"
            got = parse(body)
            src = 'source="paris-ipo"'
            received = got["anatole_records_received_total"][src]
            calls = got["anatole_calls_stored_total"][src]
            rejects = got["anatole_rejects_total"][src]
            assert received == len(IPO_LINES) and rejects >= 1 and calls >= 1
            assert received == calls + rejects + got["anatole_duplicates_total"][""]  # counts balance
            assert got["anatole_source_up"][src] == 1
            assert got["anatole_journal_backlog"][""] == 0 and got["anatole_writer_errors_total"][""] == 0
            assert 0 <= got["anatole_last_record_age_seconds"][src] < 3600
            assert list(got["anatole_build_info"]) == [f'version="{metrics._version()}"']
            assert "anatole_postings_pending" not in got  # not a hotel
            assert "anatole_alerts_open" in got
            # anything else than GET /metrics
            assert (await scrape(port, b"GET / HTTP/1.1\r\n\r\n"))[0] == "HTTP/1.1 404 Not Found"
            assert (await scrape(port, b"POST /metrics HTTP/1.1\r\n\r\n"))[0] == "HTTP/1.1 405 Method Not Allowed"
            assert (await scrape(port, b"nonsense\r\n\r\n"))[0] == "HTTP/1.1 400 Bad Request"
            huge = b"GET /metrics HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 20000 + b"\r\n\r\n"
            assert (await scrape(port, huge))[0] == "HTTP/1.1 431 Request Header Fields Too Large"


@pytest.mark.trio
async def test_silent_client_is_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "REQUEST_TIME", 0.2)
    root = make_workspace(tmp_path)
    daemon = daemon_for(root, metrics=("127.0.0.1", 0))
    with trio.fail_after(20):
        async with running(daemon):
            stream = await trio.open_tcp_stream("127.0.0.1", daemon.metrics_port)
            async with stream:
                data = await stream.receive_some(1024)  # nothing sent: an error, then the end
                while chunk := await stream.receive_some(1024):
                    data += chunk
            assert data.startswith(b"HTTP/1.1 400")
            assert (await scrape(daemon.metrics_port))[0] == "HTTP/1.1 200 OK"  # still serving


def test_render_escapes_and_postings(tmp_path: Path) -> None:
    from store import hotel

    class Fake:
        states = {'a"b\\c': SourceState(name='a"b\\c', format="mitel", state="reconnecting", since=0)}
        received_by = {'a"b\\c': 3}
        stored_by: dict[str, int] = {}
        rejects_by: dict[str, int] = {}
        last_at = {'a"b\\c': 100.0}
        duplicates = errors = alerts_open = 0
        received, processed, starting = 3, 1, False

    got = parse(metrics.render(Fake(), pending=4, now=130.5))
    assert got["anatole_records_received_total"] == {'source="a\\"b\\\\c"': 3}
    assert got["anatole_source_up"] == {'source="a\\"b\\\\c"': 0}
    assert got["anatole_last_record_age_seconds"] == {'source="a\\"b\\\\c"': 30.5}
    assert got["anatole_journal_backlog"] == {"": 2} and got["anatole_postings_pending"] == {"": 4}
    db = tmp_path / "anatole.db"
    assert metrics.postings_pending(db) is None  # no hotel tables
    hotel.connect(db).close()
    assert metrics.postings_pending(db) == 0


def test_metrics_address_settings(tmp_path: Path) -> None:
    assert parse_config({"serve": {"metrics": "127.0.0.1:9464"}}, tmp_path).serve.metrics == ("127.0.0.1", 9464)
    assert parse_config({}, tmp_path).serve.metrics is None
    with pytest.raises(ConfigError, match="reachable from other machines"):
        parse_config({"serve": {"metrics": "0.0.0.0:9464"}}, tmp_path)
    ok = parse_config({"serve": {"metrics": "[::]:9464", "metrics_remote": True}}, tmp_path)
    assert ok.serve.metrics == ("::", 9464)
    with pytest.raises(ConfigError, match="not HOST:PORT"):
        parse_config({"serve": {"metrics": 9464}}, tmp_path)
    root = make_workspace(tmp_path / "ws")
    result = CliRunner().invoke(main, ["serve", "--check", "--json", "--workspace", str(root),
                                       "--metrics", "0.0.0.0:9464"])
    assert result.exit_code == 1 and "--metrics" in result.output
    result = CliRunner().invoke(main, ["serve", "--check", "--json", "--workspace", str(root),
                                       "--metrics", "127.0.0.1:9464"])
    assert result.exit_code == 0 and json.loads(result.output)["metrics"] == "127.0.0.1:9464"


def _status(**fields: object) -> Status:
    up = SourceState(name="a", format="mitel", state="connected", since=0)
    return Status(**{"pid": 1, "started": int(time.time()) - 10, "workspace": "/w", "sources": [up], **fields})


def test_health_states() -> None:
    down = SourceState(name="b", format="mitel", state="reconnecting", since=0, detail="refused")
    up = SourceState(name="a", format="mitel", state="listening", since=0)
    assert health(_status()) == (EXIT_OK, [])
    code, reasons = health(_status(sources=[up, down]))
    assert code == EXIT_WARNING and reasons == ["down: b reconnecting (refused)"]
    assert health(_status(sources=[down]))[0] == EXIT_CRITICAL
    assert health(_status(journal_pending=20_001), backlog=20_000)[0] == EXIT_WARNING
    assert health(_status(journal_pending=20_000), backlog=20_000)[0] == EXIT_OK
    assert health(_status(errors_last_hour=2))[0] == EXIT_WARNING
    starting = _status(starting=True, sources=[down], started=int(time.time()) - 100)
    assert health(starting, starting_limit=600)[0] == EXIT_OK  # sources wait for the replay: not an alarm
    assert health(starting, starting_limit=60)[0] == EXIT_CRITICAL


@pytest.mark.trio
async def test_status_exit_codes(tmp_path: Path) -> None:
    root = make_workspace(tmp_path, extra=DOWN_SOURCE)

    def status(*args: str) -> object:
        return CliRunner().invoke(main, ["--workspace", str(root), "status", *args])

    none = await trio.to_thread.run_sync(lambda: status("--json"))
    assert none.exit_code == EXIT_UNKNOWN and json.loads(none.output)["check"] == "UNKNOWN"
    daemon = daemon_for(root)
    with trio.fail_after(20):
        async with running(daemon):
            while daemon.states["lyon-ipo"].state in ("connecting", "connected"):
                await trio.sleep(0.01)  # nothing listens on port 9: it goes to reconnecting
            got = await trio.to_thread.run_sync(lambda: status("--json"))
            data = json.loads(got.output)
            assert got.exit_code == EXIT_WARNING and data["check"] == "WARNING"
            assert data["reasons"][0].startswith("down: lyon-ipo")
            text = await trio.to_thread.run_sync(status)
            assert text.exit_code == EXIT_WARNING and "check: WARNING: down: lyon-ipo" in text.output


@pytest.mark.trio
async def test_metrics_port_taken_is_a_clear_error(tmp_path: Path) -> None:
    from pbx.daemon import DaemonError

    root = make_workspace(tmp_path, extra='\n[serve]\nmetrics = "127.0.0.1:0"\n')
    taken = trio.socket.socket()
    await taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    daemon = daemon_for(root)
    assert daemon.config.metrics == ("127.0.0.1", 0)  # [serve] metrics reaches the daemon
    daemon.config.metrics = ("127.0.0.1", port)
    with taken, trio.fail_after(20), pytest.raises(DaemonError, match=f"metrics: cannot listen on 127.0.0.1:{port}"):
        await daemon.run(signals=False)
    assert not (root / "anatole.sock").exists()
