"""`anatole deliveries`: where the alerts and reports sent by e-mail, webhook or syslog stand (pbx/notify.py,
tem/schedule.py), and `--retry-failed` to try again those given up. Registered in anatole/cli.py."""

from __future__ import annotations

import datetime as dt

import click
from rich.markup import escape
from rich.table import Table

from anatole import clitools

STATES = ("pending", "held", "sent", "failed")


@click.command("deliveries")
@click.option("--state", type=click.Choice(STATES), help="Only the deliveries in this state.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--retry-failed", is_flag=True,
              help="Make the failed ones pending again (the daemon sends alerts within a minute; reports go at the "
                   "next `report run-due`).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def deliveries(ctx: click.Context, state: str | None, limit: int, retry_failed: bool, as_json: bool) -> None:
    """The newest deliveries of alerts and scheduled reports: target, state, tries, last error. Exits 1 when some
    have failed for good (a check for the monitoring)."""
    from store import notify

    ws = clitools.workspace(ctx)
    store = clitools.store(ws)
    if retry_failed:
        n = notify.retry_failed(store.conn)
        clitools.console().print(f"{n} failed deliveries are pending again", markup=False)
        return
    rows = notify.listing(store.conn, state=state, limit=limit)
    counts = notify.summary(store.conn)
    if as_json:
        clitools.emit_json({"counts": counts, "deliveries": rows})
    else:
        out = clitools.console()
        table = Table("id", "what", "target", "state", "tries", "sent / next try", "last error", box=None)
        for r in rows:
            when = r["sent_at"] if r["state"] == "sent" else (r["next_at"] if r["state"] in ("pending", "held")
                                                               else None)
            at = dt.datetime.fromtimestamp(when, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if when else ""
            what = (f"alert #{r['alert_id']}: " if r["alert_id"] else "report ") + (r["what"] or "")
            table.add_row(str(r["id"]), escape(what[:60]), escape(r["target"][:50]), r["state"]
                          + (" (digest)" if r["digest"] else ""), str(r["tries"]), at, escape(r["last_error"] or ""))
        out.print(table)
        out.print(", ".join(f"{counts.get(s, 0)} {s}" for s in STATES), markup=False)
    raise SystemExit(clitools.EXIT_INPUT if counts.get("failed") else 0)
