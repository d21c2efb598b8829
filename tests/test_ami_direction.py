"""The direction of an AMI call in progress comes from the rules that classify its record (the source's channel
patterns, the site's extensions and numbers), not from the context's name; without them it is left blank."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from serve_support import make_workspace

from anatole.cli_serve import build_config
from anatole.config import open_workspace
from pbx.ami import Tracker

SOURCE = """
[[source]]
name = "pbx"
site = "paris"
format = "asterisk-ami"
connect = "127.0.0.1:5038"
username = "anatole"
password = "secret"
"""


class FakeDaemon:
    def __init__(self, config: Any) -> None:
        self.config = config
        self.active: list[Any] = []

    def call_active(self, call: Any) -> None:
        self.active.append(call)

    def call_gone(self, key: str) -> None:
        pass


def _first(daemon: FakeDaemon, channel: str, context: str, caller: str, exten: str, n: int) -> Any:
    tracker = Tracker(daemon, SimpleNamespace(name="pbx", site="paris"))
    linked = f"1741943702.{n}"
    tracker.event("newchannel", {"channel": channel, "context": context, "calleridnum": caller, "exten": exten,
                                 "uniqueid": linked, "linkedid": linked})
    return daemon.active[-1]


def test_direction_from_the_shared_classification(tmp_path: Path) -> None:
    ws = open_workspace(make_workspace(tmp_path, SOURCE))
    config, problems = build_config(ws, log=io.StringIO())
    assert not problems, problems
    daemon = FakeDaemon(config)
    # a custom context name says nothing: the extension's own channel and the numbers do
    out = _first(daemon, "PJSIP/2001-0000002a", "sales", "2001", "90155501234", 1)
    assert (out.direction, out.extension) == ("outgoing", "2001")
    assert _first(daemon, "PJSIP/2001-0000002c", "sales", "2001", "2002", 2).direction == "internal"
    # a short external number from an extension in from-internal is outgoing, not "internal" by its length
    assert _first(daemon, "PJSIP/2001-0000002e", "from-internal", "2001", "93631", 3).direction == "outgoing"
    # a trunk channel (the source's trunk pattern) is incoming, whatever its context
    inc = _first(daemon, "PJSIP/trunk-in-0000002f", "from-internal", "0612345678", "2001", 4)
    assert (inc.direction, inc.extension) == ("incoming", "2001")


def test_no_rules_no_direction() -> None:
    daemon = FakeDaemon(SimpleNamespace(direction=None))
    assert _first(daemon, "PJSIP/2001-0000002a", "from-internal", "2001", "0155501234", 1).direction == ""
    broken = FakeDaemon(SimpleNamespace(direction=lambda *a: 1 / 0))
    assert _first(broken, "PJSIP/2001-0000002a", "from-internal", "2001", "0155501234", 1).direction == ""
