"""Asterisk AMI and FreeSWITCH ESL clients against small simulated servers on 127.0.0.1: login, calls in progress
from their first event, the finished call rated and published; a refused login backs off."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from serve_support import Client, daemon_for, make_workspace, running

from pbx.protocol import ActiveCall, CallGone, FinishedCall
from store import open_store

pytestmark = pytest.mark.trio

AMI_EVENTS = [
    "Event: Newchannel\r\nChannel: PJSIP/2001-0000002a\r\nChannelState: 4\r\nCallerIDNum: 2001\r\n"
    "Exten: 0155501234\r\nContext: from-internal\r\nUniqueid: 1741943702.84\r\nLinkedid: 1741943702.84\r\n",
    "Event: Newchannel\r\nChannel: PJSIP/trunk-out-0000002b\r\nUniqueid: 1741943702.85\r\n"
    "Linkedid: 1741943702.84\r\n",
    "Event: DialBegin\r\nChannel: PJSIP/2001-0000002a\r\nUniqueid: 1741943702.84\r\nLinkedid: 1741943702.84\r\n"
    "DestUniqueid: 1741943702.85\r\nDialString: 0155501234@trunk-out\r\n",
    "Event: DialEnd\r\nChannel: PJSIP/2001-0000002a\r\nUniqueid: 1741943702.84\r\nLinkedid: 1741943702.84\r\n"
    "DialStatus: ANSWER\r\n",
    "Event: Hangup\r\nUniqueid: 1741943702.85\r\nLinkedid: 1741943702.84\r\nCause: 16\r\n",
    "Event: Hangup\r\nUniqueid: 1741943702.84\r\nLinkedid: 1741943702.84\r\nCause: 16\r\n",
    "Event: Cdr\r\nPrivilege: cdr,all\r\nAccountCode: \r\nSource: 2001\r\nDestination: 0155501234\r\n"
    "DestinationContext: from-internal\r\nCallerID: \"Alice Martin\" <2001>\r\nChannel: PJSIP/2001-0000002a\r\n"
    "DestinationChannel: PJSIP/trunk-out-0000002b\r\nLastApplication: Dial\r\n"
    "LastData: PJSIP/0155501234@trunk-out,60\r\nStartTime: 2025-03-14 10:15:02\r\nAnswerTime: 2025-03-14 10:15:09\r\n"
    "EndTime: 2025-03-14 10:17:41\r\nDuration: 159\r\nBillableSeconds: 152\r\nDisposition: ANSWERED\r\n"
    "AMAFlags: DOCUMENTATION\r\nUniqueID: 1741943702.84\r\nUserField: \r\n",
]


async def _read_until(stream: trio.SocketStream, marker: bytes) -> bytes:
    got = b""
    while marker not in got:
        data = await stream.receive_some(4096)
        if not data:
            raise EOFError(got)
        got += data
    return got


async def _ami_server(listener: trio.SocketListener, secret: str, gate: trio.Event) -> None:
    stream = await listener.accept()
    async with stream:
        await stream.send_all(b"Asterisk Call Manager/9.0.0\r\n")
        login = await _read_until(stream, b"\r\n\r\n")
        assert b"Action: Login" in login and b"Events: call,cdr" in login
        if f"Secret: {secret}".encode() not in login:
            await stream.send_all(b"Response: Error\r\nActionID: 1\r\nMessage: Authentication failed\r\n\r\n")
            return
        await stream.send_all(b"Response: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\n")
        await gate.wait()
        for event in AMI_EVENTS:
            await stream.send_all(event.encode() + b"\r\n")
        await trio.sleep_forever()


def _source(fmt: str, port: int, password: str) -> str:
    return f"""
[[source]]
name = "pbx"
site = "paris"
format = "{fmt}"
connect = "127.0.0.1:{port}"
username = "anatole"
password = "{password}"

[[alert]]
name = "long call"
when = "duration > 2m"
"""


async def test_ami_active_call_then_rated_finished_call(tmp_path: Path) -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    root = make_workspace(tmp_path, _source("asterisk-ami", port, "s3cr3t"))
    gate = trio.Event()
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_ami_server, listener, "s3cr3t", gate)
            async with running(daemon_for(root)) as daemon:
                client = await Client.connect(root / "anatole.sock", ["active", "calls", "alerts"])
                while daemon.states["pbx"].state != "connected":
                    await trio.sleep(0.01)
                gate.set()
                seen: list = []
                while not any(isinstance(m, FinishedCall) for m in seen):
                    seen.append(await client.next())
                await client.aclose()
            nursery.cancel_scope.cancel()
    kinds = [type(m).__name__ for m in seen]
    assert kinds.index("ActiveCall") < kinds.index("CallGone") < kinds.index("FinishedCall")
    states = [m.state for m in seen if isinstance(m, ActiveCall)]
    assert states[0] == "ringing" and "up" in states
    assert all(m.key == "pbx:1741943702.84" for m in seen if isinstance(m, ActiveCall | CallGone))
    done = next(m for m in seen if isinstance(m, FinishedCall))
    assert done.key == "pbx:1741943702.84" and done.direction == "outgoing" and done.billable == 152
    assert done.cost is not None and done.cost > 0 and done.number == "33155501234"
    store = open_store(root / "anatole.db")
    assert [r["native_id"] for r in store.calls()] == ["1741943702.84"]
    store.close()


async def test_ami_refused_login_backs_off(tmp_path: Path) -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    root = make_workspace(tmp_path, _source("asterisk-ami", port, "wrong"))
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_ami_server, listener, "s3cr3t", trio.Event())
            async with running(daemon_for(root)) as daemon:
                while "login refused" not in daemon.states["pbx"].detail:
                    await trio.sleep(0.01)
                assert daemon.states["pbx"].state == "reconnecting"
            nursery.cancel_scope.cancel()


def _esl_event(name: str, extra: str = "") -> bytes:
    body = (f"Event-Name: {name}\nUnique-ID: 6f1c0d2e-3b4a-4c5d-9e8f-0a1b2c3d4e5f\n"
            f"Channel-Call-UUID: 6f1c0d2e-3b4a-4c5d-9e8f-0a1b2c3d4e5f\nCall-Direction: outbound\n"
            f"Caller-Caller-ID-Number: 2001\nCaller-Destination-Number: 0155501234\n"
            f"variable_sip_gateway_name: carrier_a\n{extra}\n").encode()
    return f"Content-Length: {len(body)}\nContent-Type: text/event-plain\n\n".encode() + body


async def _esl_server(listener: trio.SocketListener, gate: trio.Event) -> None:
    stream = await listener.accept()
    async with stream:
        await stream.send_all(b"Content-Type: auth/request\n\n")
        auth = await _read_until(stream, b"\n\n")
        assert auth == b"auth example-pass\n\n"
        await stream.send_all(b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n")
        sub = await _read_until(stream, b"\n\n")
        assert sub.startswith(b"event plain ") and b"CHANNEL_HANGUP_COMPLETE" in sub
        await stream.send_all(b"Content-Type: command/reply\nReply-Text: +OK event listener enabled plain\n\n")
        await gate.wait()
        await stream.send_all(_esl_event("CHANNEL_CREATE"))
        await stream.send_all(_esl_event("CHANNEL_ANSWER"))
        hangup = _esl_event("CHANNEL_HANGUP_COMPLETE", "Hangup-Cause: NORMAL_CLEARING\n"
                            "variable_start_stamp: 2025-03-14%2010%3A15%3A02\n"
                            "variable_answer_stamp: 2025-03-14%2010%3A15%3A09\n"
                            "variable_end_stamp: 2025-03-14%2010%3A17%3A41\n"
                            "variable_duration: 159\nvariable_billsec: 152\nvariable_accountcode: 2001\n")
        await stream.send_all(hangup[:40])  # a frame split across reads
        await trio.sleep(0.05)
        await stream.send_all(hangup[40:])
        await trio.sleep_forever()


async def test_esl_active_call_then_finished_leg_and_alert(tmp_path: Path) -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    root = make_workspace(tmp_path, _source("freeswitch-esl", port, "example-pass"))
    gate = trio.Event()
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_esl_server, listener, gate)
            async with running(daemon_for(root)) as daemon:
                client = await Client.connect(root / "anatole.sock", ["active", "calls", "alerts"])
                while daemon.states["pbx"].state != "connected":
                    await trio.sleep(0.01)
                gate.set()
                seen: list = []
                while len([m for m in seen if type(m).__name__ in ("FinishedCall", "Alert")]) < 2:
                    seen.append(await client.next())
                await client.aclose()
            nursery.cancel_scope.cancel()
    active = [m for m in seen if isinstance(m, ActiveCall)]
    assert [m.state for m in active] == ["ringing", "up"]
    done = next(m for m in seen if isinstance(m, FinishedCall))
    assert done.direction == "outgoing" and done.billable == 152 and done.duration == 159
    assert done.key == active[0].key
    alert = next(m for m in seen if type(m).__name__ == "Alert")
    assert alert.kind == "duration" and alert.call_id == done.id
