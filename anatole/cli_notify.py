"""`anatole deliveries`: where the alerts and reports sent by e-mail, webhook or syslog stand (pbx/notify.py,
tem/schedule.py), and `--retry-failed` to try again those given up. Registered in anatole/cli.py."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from anatole import clitools
from i18n import _, pgettext
from store import display

STATES = ("pending", "held", "sent", "failed")


def _state(state: str) -> str:
    """A delivery state as a person reads it (the stored value stays English)."""
    return {"pending": pgettext("delivery state", "pending"), "held": pgettext("delivery state", "held"),
            "sent": pgettext("delivery state", "sent"), "failed": pgettext("delivery state", "failed")}.get(
        state, state)


@click.command("deliveries", help=_("The newest deliveries of alerts and scheduled reports: target, state, tries, "
                                    "last error. Exits 1 when some have failed for good (a check for the "
                                    "monitoring)."))
@click.option("--state", type=click.Choice(STATES), help=_("Only the deliveries in this state."))
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help=_("The newest N deliveries."))
@click.option("--retry-failed", is_flag=True,
              help=_("Make the failed ones pending again (the daemon sends alerts within a minute; reports go at "
                     "the next `report run-due`)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the counts and the deliveries as JSON."))
@click.pass_context
def deliveries(ctx: click.Context, state: str | None, limit: int, retry_failed: bool, as_json: bool) -> None:
    """Where the deliveries stand; exit 1 when some failed for good."""
    from store import notify

    ws = clitools.workspace(ctx)
    store = clitools.store(ws)
    if retry_failed:
        n = notify.retry_failed(store.conn)
        clitools.console().print(_("{count} failed deliveries are pending again").format(count=n), markup=False)
        return
    rows = notify.listing(store.conn, state=state, limit=limit)
    counts = notify.summary(store.conn)
    if as_json:
        clitools.emit_json({"counts": counts, "deliveries": rows})
    else:
        out = clitools.console()
        table = Table("id", _("what"), _("target"), _("state"), _("tries"), _("sent / next try"), _("last error"),
                      box=None)
        for r in rows:
            when = r["sent_at"] if r["state"] == "sent" else (r["next_at"] if r["state"] in ("pending", "held")
                                                               else None)
            at = display.when(when, "UTC", seconds=True, show_zone=False) if when else ""
            what = (_("alert #{id}: {what}").format(id=r["alert_id"], what=r["what"] or "") if r["alert_id"]
                    else _("report {what}").format(what=r["what"] or ""))
            state = _("{state} (digest)").format(state=_state(r["state"])) if r["digest"] else _state(r["state"])
            table.add_row(str(r["id"]), escape(what[:60]), escape(r["target"][:50]), state, str(r["tries"]), at,
                          escape(r["last_error"] or ""))
        out.print(table)
        out.print(", ".join(_("{count} {state}").format(count=counts.get(s, 0), state=_state(s)) for s in STATES),
                  markup=False)
    raise SystemExit(clitools.EXIT_INPUT if counts.get("failed") else 0)
