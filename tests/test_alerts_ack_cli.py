"""`anatole alerts --ack ID` against a running daemon: the acknowledgement goes over the daemon's socket (the
acknowledger is the socket peer's user, as for the console); exit codes for done, already done, unknown, no daemon."""

from __future__ import annotations

import json
import os
import pwd
from pathlib import Path

import pytest
import trio
from click.testing import CliRunner, Result
from serve_support import Client, daemon_for, make_workspace, running

from anatole.cli import main
from pbx.protocol import AlertAcknowledged
from store import open_store
from store.live import insert_alerts, list_alerts
from store.live import migrate as live_migrate


def _seed(root: Path) -> int:
    """One open alert in the workspace's store, as a mobile import or an earlier daemon run leaves it."""
    store = open_store(root / "anatole.db")
    live_migrate(store.conn)
    with store.conn:
        (aid,) = insert_alerts(store.conn, [{"rule": "roaming", "kind": "roaming", "at": 1_760_000_000,
                                             "message": "roaming: line 33612345678: 104.8 MB", "severity": "warning",
                                             "extension": "33612345678", "dedup": "roaming:x"}])
    store.close()
    assert aid is not None
    return aid


def _ack(root: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--workspace", str(root), "alerts", *args])


@pytest.mark.trio
async def test_ack_through_the_running_daemon(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    aid = _seed(root)
    me = pwd.getpwuid(os.getuid()).pw_name
    with trio.fail_after(30):
        async with running(daemon_for(root)):
            watcher = await Client.connect(root / "anatole.sock", ["alerts"])
            res = await trio.to_thread.run_sync(_ack, root, "--ack", str(aid))
            assert res.exit_code == 0, res.output
            assert f"alert #{aid} acknowledged by {me}" in res.output
            # the console (any subscriber) hears of it as of the console's own acknowledgements
            got = (await watcher.wait_for(AlertAcknowledged))[0]
            assert (got.id, got.by) == (aid, me)
            await watcher.aclose()
            again = await trio.to_thread.run_sync(_ack, root, "--ack", str(aid), "--json")
            assert again.exit_code == 0, again.output
            data = json.loads(again.output)
            assert data["acknowledged"] and data["acknowledged_by"] == me and "already" in data["message"]
            unknown = await trio.to_thread.run_sync(_ack, root, "--ack", str(aid + 100))
            assert unknown.exit_code == 1 and f"no alert #{aid + 100}" in unknown.output
    store = open_store(root / "anatole.db")
    assert [(r["id"], r["acknowledged_by"]) for r in list_alerts(store)] == [(aid, me)]
    store.close()


def test_ack_without_a_daemon_says_so(tmp_path: Path) -> None:
    root = make_workspace(tmp_path)
    aid = _seed(root)
    res = _ack(root, "--ack", str(aid))
    assert res.exit_code == 3 and "no daemon is running" in res.output and "Traceback" not in res.output
    store = open_store(root / "anatole.db")
    assert next(iter(list_alerts(store)))["acknowledged_by"] is None
    store.close()
