"""Who may feed a listening source (`allow`), who acknowledged an alert (SO_PEERCRED), and the subscriber socket's
mode: real TCP sockets on 127.0.0.1, with 127.0.0.2 (also loopback on Linux) as the other machine."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import pwd
import stat
from pathlib import Path

import pytest
import trio
from click.testing import CliRunner
from serve_support import Client, daemon_for, ipo_line, make_workspace, rows, running, settle

from anatole.cli import main
from anatole.config import ConfigError, open_workspace
from pbx import daemon as daemon_module
from pbx.peers import RefusalLog, allowed, is_loopback, peer_address
from pbx.protocol import Acknowledge, Alert, AlertAcknowledged, Status, StatusRequest

OTHER = "127.0.0.2"  # an address of this machine that is not 127.0.0.1: "another machine" to the daemon


def _source(allow: str | None = '["127.0.0.1"]', listen: str = "127.0.0.1:0") -> str:
    return f"""
[[source]]
name = "paris-ipo"
site = "paris"
format = "avaya-ipo"
listen = "{listen}"
""" + (f"allow = {allow}\n" if allow is not None else "")


async def _connect(port: int, local: str = "127.0.0.1") -> trio.SocketStream:
    return await trio.open_tcp_stream("127.0.0.1", port, local_address=local)


async def _closed_at_once(stream: trio.SocketStream) -> bool:
    """The daemon closed (or reset) the connection without waiting for anything from us."""
    try:
        return await stream.receive_some(100) == b""
    except trio.BrokenResourceError:
        return True
    finally:
        await stream.aclose()


async def _subscribed(root: Path) -> Client:
    """A client whose subscription to alerts is in force (the daemon answers in order: Status comes after it)."""
    client = await Client.connect(root / "anatole.sock", ["alerts"])
    await client.send(StatusRequest())
    await client.wait_for(Status)
    return client


async def _send(stream: trio.SocketStream, *numbers: int) -> None:
    await stream.send_all(b"".join(ipo_line(n).encode() + b"\r\n" for n in numbers))


@pytest.mark.trio
async def test_unknown_peer_refused_alerted_once_and_live_connection_kept(tmp_path: Path) -> None:
    root = make_workspace(tmp_path, _source('["127.0.0.1"]'))
    daemon = daemon_for(root)
    with trio.fail_after(20):
        async with running(daemon):
            client = await _subscribed(root)
            port = daemon.ports["paris-ipo"]
            live = await _connect(port)
            await _send(live, 1)
            await settle(daemon, 1)
            for _ in range(3):  # the laptop on the hotel network tries, and tries again
                intruder = await _connect(port, OTHER)
                with contextlib.suppress(trio.BrokenResourceError):  # a reset may come before our write
                    await intruder.send_all(ipo_line(99).encode() + b"\r\n")
                assert await _closed_at_once(intruder)
            alert = (await client.wait_for(Alert))[0]
            assert alert.rule == "unknown source" and alert.kind == "peer" and alert.severity == "critical"
            assert "data from an unknown source" in alert.message and OTHER in alert.message
            await _send(live, 2)  # the PBX's own connection was never touched
            await settle(daemon, 2)
            assert daemon.states["paris-ipo"].state == "connected"
            assert daemon._refusals.refused["paris-ipo"] == 3
            await live.aclose()
            await client.aclose()
    calls = rows(root, "calls")
    assert sorted(c["native_id"] for c in calls) == ["2000001", "2000002"]  # nothing of the intruder's
    assert rows(root, "rejects") == []
    alerts = [a for a in rows(root, "alerts") if a["kind"] == "peer"]
    assert len(alerts) == 1  # three refusals, one alert (rate-limited per peer and hour)
    log = [json.loads(line) for line in daemon.config.log.getvalue().splitlines()]
    refused = [e for e in log if e["event"] == "refused"]
    assert len(refused) == 1 and refused[0]["peer"].startswith(OTHER)  # logged, and rate-limited too


@pytest.mark.trio
async def test_without_allow_another_address_cannot_push_off_the_pbx_but_the_pbx_can_reconnect(
        tmp_path: Path) -> None:
    root = make_workspace(tmp_path, _source(None))
    daemon = daemon_for(root)
    with trio.fail_after(20):
        async with running(daemon):
            port = daemon.ports["paris-ipo"]
            first = await _connect(port)
            await _send(first, 1)
            await settle(daemon, 1)
            intruder = await _connect(port, OTHER)
            assert await _closed_at_once(intruder)
            await _send(first, 2)  # still the live connection
            await settle(daemon, 2)
            # the PBX reconnects from its own address (the old socket half-open): the new connection replaces it
            second = await _connect(port)
            await _send(second, 3)
            await settle(daemon, 3)
            assert await _closed_at_once(first)
            assert daemon.states["paris-ipo"].state == "connected"
            await second.aclose()
    assert sorted(c["native_id"] for c in rows(root, "calls")) == ["2000001", "2000002", "2000003"]
    alerts = [a for a in rows(root, "alerts") if a["kind"] == "peer"]
    assert len(alerts) == 1 and "is live" in alerts[0]["message"]


@pytest.mark.trio
async def test_an_allowed_address_may_take_over(tmp_path: Path) -> None:
    root = make_workspace(tmp_path, _source('["127.0.0.1", "127.0.0.2/32"]'))  # the PBX and its standby
    daemon = daemon_for(root)
    with trio.fail_after(20):
        async with running(daemon):
            port = daemon.ports["paris-ipo"]
            primary = await _connect(port)
            await _send(primary, 1)
            await settle(daemon, 1)
            standby = await _connect(port, OTHER)
            await _send(standby, 2)
            await settle(daemon, 2)
            assert await _closed_at_once(primary)
            assert daemon.states["paris-ipo"].peer.startswith(OTHER)
            await standby.aclose()
    assert len(rows(root, "calls")) == 2
    assert not [a for a in rows(root, "alerts") if a["kind"] == "peer"]


@pytest.mark.trio
async def test_acknowledger_is_the_socket_peer_not_the_name_sent(tmp_path: Path) -> None:
    root = make_workspace(tmp_path, _source('["127.0.0.1"]'))
    daemon = daemon_for(root)
    me = pwd.getpwuid(os.getuid()).pw_name
    with trio.fail_after(20):
        async with running(daemon):
            client = await _subscribed(root)
            await _closed_at_once(await _connect(daemon.ports["paris-ipo"], OTHER))
            alert = (await client.wait_for(Alert))[0]
            await client.send(Acknowledge(alert=alert.id, by="the-boss"))  # any group member could claim that
            ack = (await client.wait_for(AlertAcknowledged))[0]
            assert (ack.id, ack.by) == (alert.id, me)
            await client.aclose()
    assert [a["acknowledged_by"] for a in rows(root, "alerts")] == [me]
    log = [json.loads(line) for line in daemon.config.log.getvalue().splitlines()]
    assert [(e["by"], e["claimed"]) for e in log if e["event"] == "acknowledge"] == [(me, "the-boss")]


@pytest.mark.trio
async def test_socket_has_its_mode_before_anyone_can_reach_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    root = make_workspace(tmp_path, _source('["127.0.0.1"]'))
    daemon = daemon_for(root)
    seen: list[tuple[Path, int, bool]] = []
    real_chmod = os.chmod

    def chmod(path: os.PathLike, mode: int, *args: object, **kwargs: object) -> None:
        path = Path(path)
        seen.append((path, stat.S_IMODE(os.stat(path.parent).st_mode), daemon.socket_path.exists()))
        real_chmod(path, mode, *args, **kwargs)

    monkeypatch.setattr(daemon_module.os, "chmod", chmod)
    old = os.umask(0)  # the most permissive umask: the mode must not depend on it
    try:
        with trio.fail_after(20):
            async with running(daemon):
                assert stat.S_IMODE(os.stat(daemon.socket_path).st_mode) == 0o660
                client = await Client.connect(daemon.socket_path)
                await client.send(StatusRequest())
                await client.aclose()
    finally:
        os.umask(old)
    # every chmod happened in a folder only we can enter, before the socket was at its place
    socket_chmods = [s for s in seen if s[0].parent != root]
    assert socket_chmods and all(mode == 0o700 and not placed for _p, mode, placed in socket_chmods)
    assert not list(root.glob(".sock-*"))  # the private folder is gone
    assert not daemon.socket_path.exists()  # removed at stop


def test_check_warns_about_a_listener_open_to_the_network(tmp_path: Path) -> None:
    def check(source: str) -> tuple[str, list[str]]:
        root = make_workspace(tmp_path / str(abs(hash(source))), source)
        out = CliRunner().invoke(main, ["--workspace", str(root), "serve", "--check"])
        assert out.exit_code == 0, out.output
        js = CliRunner().invoke(main, ["--workspace", str(root), "serve", "--check", "--json"])
        return out.output, json.loads(js.output)["warnings"]

    text, warnings = check(_source(None, "0.0.0.0:8808"))
    assert "warning:" in text and "allow" in text and len(warnings) == 1 and "'paris-ipo'" in warnings[0]
    text, warnings = check(_source('["192.0.2.10"]', "0.0.0.0:8808"))
    assert "warning" not in text and warnings == [] and "allow 192.0.2.10" in text
    for loopback in ("127.0.0.1:8808", "localhost:8808", "[::1]:8808"):
        assert check(_source(None, loopback))[1] == []


@pytest.mark.parametrize(("allow", "message"), [
    ('["10.0.0.300"]', "allow: source 'paris-ipo': '10.0.0.300' is not an IPv4/IPv6 address or CIDR network"),
    ('["192.0.2.1/24"]', "'192.0.2.1/24' is not an IPv4/IPv6 address or CIDR network (host bits are set"),
    ('"10.0.0.5"', "'10.0.0.5' is not a non-empty list"),
    ("[]", "[] is not a non-empty list"),
    ("[5]", "5 is not an IPv4/IPv6 address"),
])
def test_bad_allow_entries_are_config_errors(tmp_path: Path, allow: str, message: str) -> None:
    root = make_workspace(tmp_path, _source(allow))
    with pytest.raises(ConfigError) as info:
        open_workspace(root)
    assert message in str(info.value) and "[[source]] #1" in str(info.value)


def test_allow_on_a_connect_source_is_an_error(tmp_path: Path) -> None:
    root = make_workspace(tmp_path, _source('["10.0.0.5"]').replace('listen = "127.0.0.1:0"',
                                                                    'connect = "10.0.0.5:1752"'))
    with pytest.raises(ConfigError, match="only a listening source"):
        open_workspace(root)


def test_allow_lists_parse_ipv4_ipv6_and_networks(tmp_path: Path) -> None:
    root = make_workspace(tmp_path, _source('["10.0.0.5", "192.0.2.0/24", "2001:db8::/32", "::1"]'))
    nets = open_workspace(root).sources["paris-ipo"].allow
    assert nets == [ipaddress.ip_network(n) for n in ("10.0.0.5/32", "192.0.2.0/24", "2001:db8::/32", "::1/128")]
    assert allowed(nets, peer_address("192.0.2.77")) and allowed(nets, peer_address("::ffff:10.0.0.5"))
    assert allowed(nets, peer_address("2001:db8:1::9")) and not allowed(nets, peer_address("10.0.0.6"))
    assert not allowed(nets, peer_address("not-an-address")) and allowed(None, peer_address("203.0.113.1"))
    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("0.0.0.0") and not is_loopback("")


def test_refusals_rate_limited_per_peer_and_source() -> None:
    log = RefusalLog()
    assert log.refuse("a", "10.0.0.9", 0.0) == (True, 1)
    assert log.refuse("a", "10.0.0.9", 10.0) == (False, None)
    assert log.refuse("a", "10.0.0.9", 61.0) == (False, 2)  # a log line a minute, with the count since the last
    assert log.refuse("b", "10.0.0.9", 61.0) == (True, 1)  # another source: its own alert
    assert log.refuse("a", "10.0.0.9", 3601.0)[0] is True  # an hour later: again
    many = [log.refuse("c", f"10.1.0.{i}", 7200.0)[0] for i in range(100)]  # a scan from many addresses
    assert sum(many) == 20 and log.refused["c"] == 100
