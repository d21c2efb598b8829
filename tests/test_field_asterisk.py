"""Asterisk and FreeSWITCH field patterns (issue 14): invented records in tests/data/cdr/field/, one per pattern seen
in public captures and vendors' documents (hand-written dialplans whose contexts say nothing, SIP/PJSIP/IAX2/DAHDI/
SCCP/Local channels, calls answered by PBX applications, A2Billing's Dial string, numbers sent with or without the
outside-line digit, ring groups with one row per member, NO ANSWER rows, FreeSWITCH calls answered by the switch),
each with its extension, direction, number, status, cost and direction rule checked by hand. The row path, the
columnar path, batch-rate (both paths), Dask and the live daemon (AMI) give the same calls.

Site Paris (tests/field_support.py): FR, outside line 0, extensions 1000-1999; tariff per started minute: +33 0.20,
+44 0.10, +447 0.30, and (added here for the A2Billing call) +375 0.50.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from field_support import DATA, every_path, make_workspace, money, outgoing_answered_share_with_extension

from ingest.cdr.asterisk import split_csv
from store import open_store

ASTERISK = DATA / "asterisk-paris.csv"
FS_CSV = DATA / "freeswitch-paris.csv"
FS_JSON = DATA / "freeswitch-paris.json"

# line -> (extension, direction, number, status, cost, direction rule)
EXPECTED_ASTERISK = {
    1: ("1001", "outgoing", "33155667788", "rated", money("0.40"), "trunk-pattern"),  # 65 s: 2 min x 0.20
    2: ("1002", "outgoing", "447911123456", "rated", money("0.30"), "trunk-pattern"),  # 0 + 00 44..., not 0447...
    3: ("1003", "outgoing", "375232569865", "rated", money("1.00"), "trunk-pattern"),  # A2Billing: 2 min x 0.50
    4: ("1001", "internal", None, "service", None, "app-internal"),  # echo test 600
    5: ("1002", "internal", None, "service", None, "app-internal"),  # IVR digit 4 (Read)
    6: ("1004", "internal", None, "service", None, "app-internal"),  # voicemail 700 (VoiceMailMain)
    7: ("1001", "internal", None, "service", None, "app-internal"),  # Festival on s
    8: ("1005", "internal", None, "service", None, "app-internal"),  # feature code *43, SCCP phone
    9: ("1003", "internal", None, "service", None, "app-internal"),  # h after Playback
    10: ("1001", "incoming", "33155501234", "incoming", None, "dst-channel-extension"),  # trunk "ovh": no pattern
    11: ("1001", "incoming", "33155502222", "incoming", None, "trunk-pattern"),  # ring group: NO ANSWER member
    12: ("1002", "incoming", "33155502222", "incoming", None, "trunk-pattern"),  # ring group: the member who answered
    13: ("1005", "internal", None, "internal", None, "dst-channel-extension"),  # SCCP to SCCP
    14: ("1001", "internal", None, "internal", None, "dst-channel-extension"),  # queue: member's Local channel
    15: ("1003", "outgoing", "33155502020", "rated", money("0.20"), "trunk-pattern"),  # DAHDI/g0 reaching DAHDI/1-1
    16: ("1004", "outgoing", "33155502020", "unanswered", 0, "trunk-pattern"),  # NO ANSWER through the trunk
    17: ("1004", "outgoing", "33155502020", "unanswered", 0, "trunk-pattern"),  # CONGESTION: Dial string only
    18: ("1001", "internal", None, "internal", None, "dst-channel-extension"),  # context "default"
    19: ("", "incoming", "33155503333", "incoming", None, "trunk-pattern"),  # IVR on s from the trunk
    20: ("1001", "incoming", "33155504444", "incoming", None, "dialplan"),  # voicemail, caller's number external
    21: ("", "transit", None, "transit", None, "trunk-pattern"),  # follow-me: trunk to trunk, never priced
    22: ("1005", "outgoing", "33155502020", "rated", money("0.20"), "trunk-pattern"),  # company caller ID
    23: ("1001", "outgoing", "33155503030", "rated", money("0.20"), "trunk-pattern"),  # Local/1001@...;2 origin
    24: ("1002", "incoming", "33155506666", "incoming", None, "trunk-pattern"),  # IAX2/provider
    25: ("1001", "outgoing", None, "emergency", None, "trunk-pattern"),  # 112
    26: ("1006", "internal", None, "service", None, "app-internal"),  # ConfBridge 800
}
EXPECTED_FS_CSV = {
    1: ("1001", "outgoing", "33155667788", "rated", money("0.40"), "dialplan"),  # default context, 120 s
    2: ("1001", "internal", None, "service", None, "app-internal"),  # 9196 echo: answered, no b-leg
    3: ("1002", "internal", None, "service", None, "app-internal"),  # 9664 music on hold
    4: ("1002", "internal", None, "service", None, "app-internal"),  # *98 voicemail
    5: ("1004", "internal", None, "service", None, "app-internal"),  # 3000 conference
    6: ("1004", "internal", None, "service", None, "app-internal"),  # 5000 IVR demo
    7: ("1002", "incoming", "33155501234", "incoming", None, "context"),  # public context
    8: ("0155500100", "incoming", None, "incoming", None, "context"),  # caller "0": no number (was "86")
    9: ("1001", "internal", None, "internal", None, "dialplan"),  # 1001 -> 1002
    10: ("1005", "outgoing", "33155502020", "unanswered", 0, "dialplan"),  # NO_ANSWER
    11: ("1005", "outgoing", "447911123456", "rated", money("0.60"), "dialplan"),  # 91 s: 2 min x 0.30
    12: ("1006", "outgoing", None, "emergency", None, "dialplan"),  # 112
}
EXPECTED_FS_JSON = {
    1: ("1001", "outgoing", "33155667788", "rated", money("0.40"), "trunk-pattern"),  # bridge to sofia/gateway
    2: ("1001", "outgoing", "33155667788", "rated", money("0.40"), "trunk-pattern"),  # its b-leg (billed once)
    3: ("1002", "internal", None, "service", None, "app-internal"),  # last_app echo
    4: ("1004", "internal", None, "service", None, "app-internal"),  # last_app conference
    5: ("1003", "incoming", None, "incoming", None, "trunk-pattern"),  # caller "0", bridged to phone 1003
    6: ("0155500100", "incoming", "33155507788", "incoming", None, "trunk-pattern"),  # left on voicemail
}
CASES = {"asterisk": (ASTERISK, EXPECTED_ASTERISK), "freeswitch": (FS_CSV, EXPECTED_FS_CSV),
         "freeswitch-json": (FS_JSON, EXPECTED_FS_JSON)}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_workspace(tmp_path_factory.mktemp("field-asterisk"))
    with (root / "tariffs" / "field-gbp.csv").open("a") as f:
        f.write("375,Belarus,all,,0.50,60,60,0,,,\n")
    return root


@pytest.fixture(scope="module")
def results(workspace: Path) -> dict[str, dict[int, tuple]]:
    """Per format: line -> (line, extension, direction, number, status, cost), after every_path checked that the
    row path, the columnar path and batch-rate agree."""
    return {fmt: every_path(workspace, path, fmt, "paris") for fmt, (path, _) in CASES.items()}


def stored_rules(workspace: Path, path: Path, fmt: str) -> dict[int, str]:
    """line -> direction_rule of a fresh import through the columnar path (where the format has one)."""
    import pipeline.cdrimport as cdrimport
    from anatole.config import open_workspace

    db = workspace / f"rules-{fmt}.db"
    db.unlink(missing_ok=True)
    store = open_store(db)
    try:
        cdrimport.import_file(open_workspace(workspace), store, path, fmt=fmt, site="paris")
        return {r["line"]: r["direction_rule"] for r in store.calls()}
    finally:
        store.close()


@pytest.mark.parametrize(("fmt", "line"), [(f, n) for f, (_, e) in CASES.items() for n in sorted(e)])
def test_each_pattern(results: dict[str, dict[int, tuple]], fmt: str, line: int) -> None:
    assert results[fmt][line] == (line, *CASES[fmt][1][line][:5])


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_the_rule_that_decided_each_direction(workspace: Path, fmt: str) -> None:
    path, expected = CASES[fmt]
    assert stored_rules(workspace, path, fmt) == {line: e[5] for line, e in expected.items()}


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_nothing_internal_is_priced_and_outgoing_calls_carry_an_extension(results: dict[str, dict[int, tuple]],
                                                                          fmt: str) -> None:
    rows = results[fmt]
    assert sorted(rows) == sorted(CASES[fmt][1])  # every line is a call: nothing rejected
    assert not [r for r in rows.values() if r[2] in ("internal", "incoming", "transit") and r[5] is not None]
    assert not [r for r in rows.values() if r[4] == "service" and r[5] is not None]
    answered = {line for line, r in rows.items() if r[4] in ("rated", "emergency", "no_rate", "invalid")}
    assert outgoing_answered_share_with_extension(rows, answered) >= 0.99


def test_a_source_trunk_pattern_takes_precedence(workspace: Path, tmp_path: Path) -> None:
    """`trunk_channels` names the site's own trunks: the "ovh" peer of line 10 becomes a trunk (rule trunk-pattern),
    and a call between two SIP peers the patterns call internal stays internal whatever the numbers."""
    import pipeline.cdrimport as cdrimport
    from anatole.config import open_workspace

    toml = (workspace / "anatole.toml").read_text() + (
        '\n[[source]]\nname = "paris-pbx"\nsite = "paris"\nformat = "asterisk"\n'
        'trunk_channels = ["^PJSIP/ovh$", "^(SIP|PJSIP)/trunk$", "^IAX2/(trunk|provider)$"]\n'
        'internal_channels = ["^SCCP/"]\n')
    root = tmp_path / "ws"
    root.mkdir()
    (root / "tariffs").symlink_to(workspace / "tariffs")
    (root / "anatole.toml").write_text(toml)
    store = open_store(root / "anatole.db")
    try:
        cdrimport.import_file(open_workspace(root), store, ASTERISK, source="paris-pbx")
        rows = {r["line"]: r for r in store.calls()}
    finally:
        store.close()
    assert (rows[10]["direction"], rows[10]["direction_rule"], rows[10]["trunk"]) == ("incoming", "trunk-pattern",
                                                                                    "ovh")
    assert (rows[13]["direction"], rows[13]["direction_rule"]) == ("internal", "internal-pattern")
    assert (rows[1]["status"], rows[1]["cost"]) == ("rated", money("0.40"))


def test_channel_rules_travel_and_default_patterns() -> None:
    """A source's rules pickle (Dask workers); the default trunk patterns name trunks, not phones or Local
    channels into an "outbound" context."""
    import pickle

    from ingest.cdr.classify import DEFAULT_RULES, ChannelRules

    rules = pickle.loads(pickle.dumps(ChannelRules(["^PJSIP/ovh$"], ["^SCCP/"])))
    assert rules.is_trunk("PJSIP/ovh") and not rules.is_trunk("PJSIP/ovh2") and rules.is_internal("SCCP/1005")
    for trunk in ("SIP/trunk", "PJSIP/carrier_15_1", "IAX2/provider", "SIP/gw1", "sofia/gateway/carrier_fr",
                  "DAHDI/g0", "DAHDI/i1/0155501234", "PJSIP/sip-out"):
        assert DEFAULT_RULES.is_trunk(trunk), trunk
    for phone in ("SIP/1001", "SIP/alice", "Local/0155501234@outbound", "SCCP/1005", "DAHDI/1", "SIP/xgw"):
        assert not DEFAULT_RULES.is_trunk(phone), phone


def test_channel_patterns_are_validated(tmp_path: Path) -> None:
    from anatole.config import ConfigError, open_workspace

    root = make_workspace(tmp_path)
    with (root / "anatole.toml").open("a") as f:
        f.write('\n[[source]]\nname = "x"\nsite = "paris"\nformat = "asterisk"\ntrunk_channels = ["(unclosed"]\n'
                'internal_channels = "SIP/1"\n')
    with pytest.raises(ConfigError) as err:
        open_workspace(root)
    text = str(err.value)
    assert "trunk_channels: source 'x': '(unclosed' is not a regular expression" in text
    assert "internal_channels: source 'x': 'SIP/1' is not a list of regular expressions" in text


def test_dask_gives_the_single_process_output(workspace: Path, tmp_path: Path) -> None:
    """batch-rate on a LocalCluster of one worker (the file cut in parts) writes the single-process bytes."""
    distributed = pytest.importorskip("distributed")
    from anatole.config import open_workspace
    from pipeline.batchrate import batch_rate
    from pipeline.distributed import distributed_batch_rate

    ws = open_workspace(workspace)
    site = ws.sites["paris"]
    batch_rate([ASTERISK], tariff=site.tariff, fmt="asterisk", out=tmp_path / "one.csv", site=site, ws=ws)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=40) as cluster:
        _, facts = distributed_batch_rate([ASTERISK], tariff=site.tariff, fmt="asterisk", out=tmp_path / "dask.csv",
                                          site="paris", workspace=workspace, scheduler=cluster.scheduler_address,
                                          chunk_bytes=2000)
    assert facts["parts"] > 2
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()


# ------------------------------------------------------------------------------------------ the live daemon (AMI)

AMI_NAMES = ("AccountCode", "Source", "Destination", "DestinationContext", "CallerID", "Channel", "DestinationChannel",
             "LastApplication", "LastData", "StartTime", "AnswerTime", "EndTime", "Duration", "BillableSeconds",
             "Disposition", "AMAFlags", "UniqueID", "UserField", "PeerAccount", "LinkedID", "Sequence")


def cdr_events(path: Path) -> list[bytes]:
    """Each Master.csv line as the AMI `Cdr` event cdr_manager sends for it."""
    events = []
    for text in path.read_text(encoding="utf-8").splitlines():
        values = [v for v, _ in split_csv(text)]
        headers = "".join(f"{name}: {value}\r\n" for name, value in zip(AMI_NAMES, values))
        events.append(f"Event: Cdr\r\nPrivilege: cdr,all\r\n{headers}\r\n".encode())
    return events


async def ami_server(listener: trio.SocketListener, events: list[bytes]) -> None:
    stream = await listener.accept()
    async with stream:
        await stream.send_all(b"Asterisk Call Manager/9.0.0\r\n")
        got = b""
        while b"\r\n\r\n" not in got:
            got += await stream.receive_some(4096)
        await stream.send_all(b"Response: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\n")
        for event in events:
            await stream.send_all(event)
        await trio.sleep_forever()


@pytest.mark.trio
async def test_the_live_daemon_stores_the_same_calls(tmp_path: Path) -> None:
    """The Asterisk file's records sent as AMI Cdr events by a simulated Asterisk: the daemon stores the same calls
    (extension, direction, number, status, cost) as the file import."""
    from serve_support import daemon_for, running, settle

    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    root = make_workspace(tmp_path / "live")
    with (root / "tariffs" / "field-gbp.csv").open("a") as f:
        f.write("375,Belarus,all,,0.50,60,60,0,,,\n")
    with (root / "anatole.toml").open("a") as f:
        f.write(f'\n[[source]]\nname = "paris-ami"\nsite = "paris"\nformat = "asterisk-ami"\n'
                f'connect = "127.0.0.1:{port}"\nusername = "anatole"\npassword = "s3cr3t"\n')
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ami_server, listener, cdr_events(ASTERISK))
            async with running(daemon_for(root)) as daemon:
                await settle(daemon, len(EXPECTED_ASTERISK))
            nursery.cancel_scope.cancel()
    store = open_store(root / "anatole.db")
    try:
        live = sorted(((r["extension"], r["direction"], r["number"], r["status"], r["cost"], r["direction_rule"])
                       for r in store.calls()), key=repr)
        assert list(store.rejects()) == []
    finally:
        store.close()
    assert live == sorted(EXPECTED_ASTERISK.values(), key=repr)
