"""`anatole hotel ...`: the front desk on the command line (rooms, check-in and check-out by hand, a room's folio,
the late-charge list, the PMS posting queue), and the daemon's hotel extensions (`daemon_extensions`, used by
`anatole serve`): guest charges for every stored call from a room, and the FIAS link when `[pms]` is set.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from typing import Any
from zoneinfo import ZoneInfo

import click

from anatole.clitools import COUNT, in_call_years
from anatole.clitools import console as _console
from anatole.clitools import emit_json as _emit_json
from anatole.clitools import fail as _fail
from anatole.clitools import whole as _whole
from anatole.clitools import workspace as _workspace
from engine.money import format_exact, format_money
from i18n import _, pgettext
from store import display

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup


def overlapping_sources(ws: Any) -> set[str]:
    """The workspace's sources whose PBX writes overlapping legs of one call (the daemon merges them, and the
    hotel charges such a call once)."""
    from ingest.cdr import UnknownFormat, parser
    from pbx.daemon import LIVE_PARSE_FORMAT

    out = set()
    for source in ws.sources.values():
        try:
            module = parser(LIVE_PARSE_FORMAT.get(source.format, source.format))
        except UnknownFormat:
            continue
        if getattr(module, "LEGS", "overlapping") == "overlapping":
            out.add(source.name)
    return out


def hotel_hook(ws: Any, guest_price: Any = None) -> Any:
    """The hook that charges guest calls (and re-attributes them when a stay changes in the past)."""
    from hotel.live import HotelHook

    site = ws.sites.get(ws.hotel.site)
    return HotelHook(ws.hotel, currency=ws.currency, guest_price=guest_price,
                     outside_prefix=site.dialplan.outside_prefix if site else "",
                     timezone=site.timezone if site else "UTC", overlapping=overlapping_sources(ws))


def daemon_extensions(ws: Any, problems: list[str]) -> list[Any]:
    """The daemon's hotel add-ons (pbx.daemon.Extension): the charging hook, and the PMS link when configured."""
    from tariffs.errors import TariffError

    cfg = ws.hotel
    if not cfg.rooms:
        problems.append(_("anatole.toml [hotel]: no [[room]] (nor rooms_csv): no extension is a guest room"))
    site = ws.sites.get(cfg.site)
    guest_price = None
    if cfg.guest_tariff is not None and site is not None:
        try:
            ws.tariff(cfg.guest_tariff)
        except TariffError as exc:
            problems += [f"[hotel] guest_tariff {cfg.guest_tariff}: {p}" for p in exc.problems]

        def guest_price(calls: list[dict[str, Any]]) -> list[int | None]:
            from ingest.dialplan import Number
            from pipeline.cdrimport import price_calls

            priced = price_calls(ws, site, [(c["trunk"] or "", Number(c["number_kind"], c["number"]), c["start"],
                                             c["billable"], c["direction"]) for c in calls],
                                 tariff_path=cfg.guest_tariff)
            return [p[6] for p in priced]

    hook = hotel_hook(ws, guest_price)
    extensions: list[Any] = [hook]
    if cfg.pms is not None and site is not None:
        from pbx.fias import FiasLink

        extensions.append(FiasLink(cfg.pms, ws.db_path, timezone=site.timezone,
                                   rooms={r.number for r in cfg.rooms}, reattribute=hook.reattribute))
    return extensions


# --- helpers ------------------------------------------------------------------------------------------------------


def _hotel(ctx: click.Context) -> tuple[Any, Any, ZoneInfo]:
    """The workspace (which must be a hotel), a connection to its store with the room map synced, the hotel's zone."""
    from store import StoreError
    from store import hotel as db

    ws = _workspace(ctx)
    if ws.hotel is None:
        _fail(_("this workspace is not a hotel: add [hotel] and [[room]] tables to anatole.toml (see the README, "
                "\"Hotel front desk\")"))
    try:
        from store import open_store

        open_store(ws.db_path).close()  # creates the database and the calls tables when new
        conn = db.connect(ws.db_path, report=lambda line: click.echo(
            _("schema upgrade repaired: {line}").format(line=line), err=True))
        db.sync_rooms(conn, [(r.number, r.extension, r.class_of_service) for r in ws.hotel.rooms])
    except StoreError as exc:
        _fail(str(exc))
    site = ws.sites.get(ws.hotel.site)
    return ws, conn, ZoneInfo(site.timezone if site else "UTC")


def note_pms(ws: Any) -> str:
    return _(" (a PMS is configured: its own check-ins and check-outs still apply)") if ws.hotel.pms else ""


def _when(text: str | None, zone: ZoneInfo, option: str) -> int:
    if text is None:
        return int(time.time())
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        _fail(_("{option} {value} is not a date and time (ISO 8601, e.g. 2025-03-14T10:15)").format(
            option=option, value=repr(text)))
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    return in_call_years(int(when.timestamp()), option, text)


def _local(when: int | None, zone: ZoneInfo) -> str:
    """The machine form (JSON): ISO date and time in the hotel's zone."""
    return dt.datetime.fromtimestamp(when, zone).strftime("%Y-%m-%d %H:%M") if when is not None else ""


def _shown(when: int | None, zone: ZoneInfo) -> str:
    """What a person reads: the date in the language's style (2025-03-14 14:05, 14/03/2025 14:05)."""
    return display.when(when, zone.key, show_zone=False) if when is not None else ""


def _money(value: int | None, decimals: int) -> str:
    """The machine form (JSON): the hotel's decimals, or exact when the value has more."""
    if value is None:
        return ""
    return format_money(value, decimals) if value % 10 ** (8 - decimals) == 0 else format_exact(value)


def _amount(value: int | None, currency: str) -> str:
    """What a person reads: exact (never a hidden decimal), grouped in the language's style, as on the folio."""
    return display.amount(value, currency, exact=True) if value is not None else ""


def _room_status(status: str) -> str:
    return {"occupied": pgettext("room status", "occupied"), "vacant": pgettext("room status", "vacant")}.get(
        status, status)


def _charge_state(status: str) -> str:
    return {"queued": pgettext("charge state", "queued"), "posted": pgettext("charge state", "posted"),
            "rejected": pgettext("charge state", "rejected"), "folio": pgettext("charge state", "folio"),
            "free": pgettext("charge state", "free"), "vacant": pgettext("charge state", "vacant"),
            "unpriced": pgettext("charge state", "unpriced"), "merged": pgettext("charge state", "merged"),
            "failed": pgettext("charge state", "failed")}.get(status, status)


def _origin(origin: str) -> str:
    """Who opened a stay: by hand (the CLI, the console) or the PMS link."""
    return {"manual": pgettext("stay origin", "manual"), "fias": pgettext("stay origin", "fias")}.get(origin, origin)


def _posting_state(state: str) -> str:
    return {"pending": pgettext("posting state", "pending"), "sent": pgettext("posting state", "sent"),
            "unconfirmed": pgettext("posting state", "unconfirmed"), "ok": pgettext("posting state", "ok"),
            "rejected": pgettext("posting state", "rejected"),
            "cancelled": pgettext("posting state", "cancelled")}.get(state, state)


def _queue(counts: dict[str, int]) -> str:
    """The posting queue's counts per state: ``ok 3, pending 1``."""
    return ", ".join(_("{state} {count}").format(state=_posting_state(k), count=v) for k, v in sorted(counts.items()))


def _room_or_fail(ws: Any, room: str) -> None:
    if ws.hotel.room(room) is None:
        known = ", ".join(r.number for r in ws.hotel.rooms[:20])
        _fail(_("room {room} is not in the room map ([[room]] in anatole.toml; rooms: {known})").format(
            room=repr(room), known=known or _("none")))


def _charge_json(c: dict[str, Any], zone: ZoneInfo, decimals: int) -> dict[str, Any]:
    return {"call_id": c["call_id"], "room": c["room"], "extension": c["extension"],
            "reservation": c["reservation"], "guest": c["guest"], "start": _local(c["start"], zone),
            "duration": c["duration"], "dialled": c["dialled"], "number": c["number"],
            "destination": c["destination"], "cost": format_exact(c["cost"]) if c["cost"] is not None else None,
            "charge": _money(c["charge"], decimals) if c["charge"] is not None else None, "currency": c["currency"],
            "status": c["status"], "late": bool(c["late"]), "reason": c["reason"], "posting": c.get("posting"),
            "posting_state": c.get("posting_state"), "answer": c.get("answer"), "flagged": bool(c.get("flagged"))}


def _charges_table(title: str, rows: list[dict[str, Any]], zone: ZoneInfo, currency: str, *, room: bool = False
                   ) -> Any:
    from rich.table import Table

    table = Table(*([_("room")] if room else []), _("start"), _("number"), _("destination"),
                  pgettext("duration, short", "dur."), _("cost"), _("charge"), _("status"), "P#", _("note"),
                  title=title)
    _whole(table, _("cost"), _("charge"))
    for c in rows:
        state = _charge_state(c["status"])
        if c.get("answer") and c["status"] == "rejected":
            state = _("{state} ({answer})").format(state=state, answer=c["answer"])
        note = c["reason"] or ""
        if c.get("flagged"):
            note = (note + "; " if note else "") + _("sent twice (unconfirmed)")
        table.add_row(*([c["room"]] if room else []), _shown(c["start"], zone), c["number"] or c["dialled"] or "",
                      c["destination"] or "", f"{c['duration'] // 60}:{c['duration'] % 60:02d}",
                      _amount(c["cost"], c.get("currency") or currency), _amount(c["charge"], c.get("currency")
                                                                                  or currency), state,
                      str(c.get("posting") or ""), note)
    return table


# --- commands -----------------------------------------------------------------------------------------------------


@click.group("hotel", help=_("The hotel front desk: rooms, check-in/check-out by hand, folios, late charges, PMS "
                              "postings."))
def hotel() -> None:
    """The hotel front desk on the command line."""


@hotel.command("rooms", help=_("Every room: status, guest, calls and running charges of the stay, postings not yet "
                               "answered."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the rooms as JSON."))
@click.pass_context
def rooms(ctx: click.Context, as_json: bool) -> None:
    """Every room and the posting queue."""
    from store import hotel as db

    ws, conn, zone = _hotel(ctx)
    rows = db.rooms_overview(conn)
    counts = db.posting_counts(conn)
    conn.close()
    decimals = ws.hotel.rules.decimals
    if as_json:
        _emit_json({"rooms": [{"room": r["room"], "extension": r["extension"], "status": r["status"],
                               "guest": r["guest"], "reservation": r["reservation"],
                               "since": _local(r["checkin"], zone) or None, "calls": r["calls"],
                               "charges": _money(r["charges"], decimals), "vacant_calls": r["vacant_calls"],
                               "unposted": r["unposted"]} for r in rows],
                    "postings": counts, "currency": ws.currency})
        return
    from rich.table import Table

    table = Table(_("room"), pgettext("extension, short", "ext."), _("status"), _("guest"), _("reservation"),
                  _("since"), _("calls"), _("charges"), _("unposted"), _("vacant calls"))
    _whole(table, _("charges"))
    for r in rows:
        table.add_row(r["room"], r["extension"], _room_status(r["status"]), r["guest"] or "", r["reservation"] or "",
                      _shown(r["checkin"], zone), str(r["calls"] or ""),
                      _amount(r["charges"], ws.currency) if r["stay_id"] is not None else "",
                      str(r["unposted"] or ""), str(r["vacant_calls"] or ""))
    out = _console()
    out.print(table)
    occupied = sum(r["status"] == "occupied" for r in rows)
    out.print(_("{rooms} rooms, {occupied} occupied; postings: {queue} (charges in {currency})").format(
        rooms=len(rows), occupied=occupied, queue=_queue(counts) or _("none"), currency=ws.currency), markup=False)


@hotel.command("checkin", help=_("Check a guest in by hand (when there is no PMS, or it is down): calls from the "
                                 "room are charged to them; with --at in the past, the calls made since then too "
                                 "(they were stored as vacant-room calls)."))
@click.argument("room")
@click.option("--guest", required=True, help=_("The guest's name."))
@click.option("--reservation", help=_("The reservation number (default: one made from the time)."))
@click.option("--at", "at", help=_("When (ISO 8601, the hotel's local time; default: now)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the stay as JSON."))
@click.pass_context
def checkin(ctx: click.Context, room: str, guest: str, reservation: str | None, at: str | None,
            as_json: bool) -> None:
    """Check a guest in by hand; re-attribute the calls made since --at."""
    from store import StoreError
    from store import hotel as db

    if not guest.strip():
        _fail(_("--guest: give the guest's name"))
    ws, conn, zone = _hotel(ctx)
    _room_or_fail(ws, room)
    when = _when(at, zone, "--at")
    reservation = reservation or time.strftime("%y%m%d%H%M", time.localtime(when)) + room[-2:]
    try:
        with db.write(conn):  # BEGIN IMMEDIATE: waits for the daemon's writer, serialised with the PMS's check-ins
            stay_id, _moved = db.checkin(conn, room, reservation, guest, when, "manual", replace=False)
            moved = hotel_hook(ws).reattribute(conn, room, when) if when < time.time() else {}
    except db.RoomOccupied as exc:
        conn.close()
        _fail(_("room {room} already has an open stay for {guest} (reservation {reservation}, origin {origin}) "
                "since {since}: check it out first").format(
            room=room, guest=exc.stay["guest"] or _("a guest"), reservation=exc.stay["reservation"],
            origin=_origin(exc.stay["origin"]), since=_shown(exc.stay["checkin"], zone)))
    except (db.HotelError, StoreError) as exc:
        conn.close()
        _fail(str(exc))
    conn.close()
    if moved.get("charged"):
        note = _("; {count} call(s) made since then charged to the stay").format(count=moved["charged"]) + note_pms(ws)
    else:
        note = note_pms(ws)
    if as_json:
        _emit_json({"room": room, "guest": guest, "reservation": reservation, "stay": stay_id,
                    "checkin": _local(when, zone), "recharged": moved.get("charged", 0)})
        return
    _console().print(_("room {room} checked in: {guest}, reservation {reservation}, at {at}").format(
        room=room, guest=guest, reservation=reservation, at=_shown(when, zone)) + note, markup=False)


@hotel.command("checkout", help=_("Check the room's guest out by hand and print the folio of the stay (calls "
                                  "ending later are late charges; with --at in the past, calls begun after it are "
                                  "taken off the guest)."))
@click.argument("room")
@click.option("--at", "at", help=_("When (ISO 8601, the hotel's local time; default: now)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the folio as JSON."))
@click.pass_context
def checkout(ctx: click.Context, room: str, at: str | None, as_json: bool) -> None:
    """Check the room's guest out by hand and print the folio."""
    from store import StoreError
    from store import hotel as db

    ws, conn, zone = _hotel(ctx)
    _room_or_fail(ws, room)
    when = _when(at, zone, "--at")
    stay = db.open_stay(conn, room)
    if at is not None and stay is not None and when < stay["checkin"]:  # it was moved to the check-in, unsaid
        conn.close()
        _fail(_("--at {at} is before the guest's check-in at {checkin}").format(at=at,
                                                                                checkin=_shown(stay["checkin"], zone)))
    try:
        with db.write(conn):  # the check-out and the charges it takes off the guest (calls after it), together
            left = db.checkout(conn, room, when)
            if left is not None and when < time.time():
                hotel_hook(ws).reattribute(conn, room, left["checkout"])
    except StoreError as exc:
        conn.close()
        _fail(str(exc))
    if left is None:
        conn.close()
        _fail(_("room {room} has no guest checked in").format(room=room))
    charges = db.folio(conn, left["id"])
    conn.close()
    _print_folio(ws, left, charges, zone, as_json)


def _print_folio(ws: Any, stay: dict[str, Any], charges: list[dict[str, Any]], zone: ZoneInfo, as_json: bool) -> None:
    decimals = ws.hotel.rules.decimals
    billable = [c for c in charges if c["status"] in ("queued", "posted", "folio", "rejected")]
    total = sum(c["charge"] or 0 for c in billable)
    posted = sum(c["charge"] or 0 for c in charges if c["status"] == "posted")
    if as_json:
        _emit_json({"room": stay["room"], "guest": stay["guest"], "reservation": stay["reservation"],
                    "checkin": _local(stay["checkin"], zone), "checkout": _local(stay["checkout"], zone) or None,
                    "moved_from": stay["moved_from"], "moved_to": stay["moved_to"],
                    "total": _money(total, decimals), "posted": _money(posted, decimals), "currency": ws.currency,
                    "calls": [_charge_json(c, zone, decimals) for c in charges]})
        return
    from rich.table import Table

    from hotel.folio import render  # the guest's language (FIAS GL), else the hotel's; money in that locale

    folio = render(stay, charges, currency=ws.currency, zone=zone.key)
    out = _console()
    out.print(folio.heading, markup=False)
    table = Table(*folio.columns, title=folio.title)
    _whole(table, folio.columns[4], folio.columns[5])  # cost, charge
    for row in folio.rows:
        table.add_row(*row)
    out.print(table)
    out.print(folio.total, markup=False)


@hotel.command("folio", help=_("A room's folio: the calls of its current (or last) stay, with cost, charged price "
                               "and posting state."))
@click.argument("room")
@click.option("--reservation", help=_("A past stay of that reservation in the room (default: the current or "
                                      "last)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the folio as JSON."))
@click.pass_context
def folio(ctx: click.Context, room: str, reservation: str | None, as_json: bool) -> None:
    """A room's folio."""
    from store import hotel as db

    ws, conn, zone = _hotel(ctx)
    _room_or_fail(ws, room)
    stay = db.open_stay(conn, room) if reservation is None else None
    stay = stay or db.last_stay(conn, room, reservation)
    if stay is None:
        conn.close()
        _fail(_("room {room} has had no guest with reservation {reservation}").format(
            room=room, reservation=reservation) if reservation else _("room {room} has had no guest").format(room=room))
    charges = db.folio(conn, stay["id"])
    conn.close()
    _print_folio(ws, stay, charges, zone, as_json)


@hotel.command("late-charges", help=_("Charges to settle by hand: calls that ended after check-out, postings the "
                                      "PMS refused or never confirmed, calls that could not be priced."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the list as JSON."))
@click.pass_context
def late_charges(ctx: click.Context, as_json: bool) -> None:
    """Charges to settle by hand."""
    from store import hotel as db

    ws, conn, zone = _hotel(ctx)
    rows = db.late_charges(conn)
    conn.close()
    decimals = ws.hotel.rules.decimals
    if as_json:
        _emit_json([_charge_json(c, zone, decimals) for c in rows])
        return
    out = _console()
    out.print(_charges_table(_("late charges"), rows, zone, ws.currency, room=True) if rows
              else _("no late charges"))


@hotel.command("postings", help=_("The PMS posting queue, newest first: P#, room, amount (minor units), state and "
                                  "the PMS's answer."))
@click.option("--state", type=click.Choice(["pending", "sent", "unconfirmed", "ok", "rejected", "cancelled"]),
              help=_("Only the postings in this state."))
@click.option("--limit", type=COUNT, default=100, show_default=True, help=_("The newest N postings."))
@click.option("--json", "as_json", is_flag=True, help=_("Print the postings as JSON."))
@click.pass_context
def postings(ctx: click.Context, state: str | None, limit: int, as_json: bool) -> None:
    """The PMS posting queue."""
    from store import hotel as db

    ws, conn, zone = _hotel(ctx)
    rows = db.postings(conn, state=state, limit=limit)
    counts = db.posting_counts(conn)
    conn.close()
    if as_json:
        _emit_json({"counts": counts, "postings": [{**r, "start": _local(r["start"], zone)} for r in rows]})
        return
    from rich.table import Table

    table = Table("P#", _("room"), _("reservation"), _("amount"), _("call start"), _("digits"), _("state"),
                  _("answer"), _("attempts"))
    _whole(table, _("amount"))
    for r in rows:
        state = _posting_state(r["state"])
        table.add_row(str(r["seq"]), r["room"], r["reservation"] or "", str(r["amount"]), _shown(r["start"], zone),
                      r["digits"], _("{state} (flagged)").format(state=state) if r["flagged"] else state,
                      " ".join(x for x in (r["answer"], r["answer_text"]) if x), str(r["attempts"]))
    out = _console()
    out.print(table if rows else _("no postings"))
    out.print(_("queue: {counts}").format(counts=_queue(counts) or _("empty")), markup=False)



@hotel.command("simulate-pms", help=_("A PMS to try the front desk with: FIAS on 127.0.0.1, each posting answered "
                                      "OK and printed (run it beside `anatole serve`; `anatole demo --hotel` points "
                                      "[pms] at it). Loopback only: never a real hotel's link."))
@click.option("--port", type=click.IntRange(0, 65535), help=_("Port on 127.0.0.1 (default: the one of [pms] "
                                                              "connect, else 5010; 0: any free port)."))
@click.option("--lrc", is_flag=True, help=_("Frames carry an LRC byte (as [pms] lrc = true)."))
@click.option("--seconds", type=click.FloatRange(min=0), help=_("Stop after this long (default: until Ctrl-C)."))
@click.pass_context
def simulate_pms(ctx: click.Context, port: int | None, lrc: bool, seconds: float | None) -> None:
    """A PMS on 127.0.0.1 to try the front desk with."""
    import trio

    from anatole import pmssim

    if port is None:
        port, ws = 5010, None
        try:
            from anatole.config import open_workspace, workspace_path

            ws = open_workspace(workspace_path((ctx.obj or {}).get("workspace")))
        except Exception:  # no workspace here: the default port
            pass
        pms = ws.hotel.pms if ws is not None and ws.hotel is not None else None
        if pms is not None:
            host, _sep, text = pms.connect.rpartition(":")
            if host.strip("[]") not in ("127.0.0.1", "localhost", "::1"):
                _fail(_("[pms] connect = {connect} is not this machine: the simulator only listens on "
                        "127.0.0.1; give --port").format(connect=repr(pms.connect)))
            port, lrc = int(text), lrc or bool(pms.lrc)
    out = _console()
    try:
        sim = trio.run(lambda: pmssim.run(port, lrc=lrc, seconds=seconds,
                                          say=lambda line: out.print(line, markup=False, highlight=False)))
    except (OSError, BaseExceptionGroup) as exc:  # trio's nursery wraps the listener's error (port in use)
        found = exc.subgroup(OSError) if isinstance(exc, BaseExceptionGroup) else exc
        while isinstance(found, BaseExceptionGroup):
            found = found.exceptions[0]
        if found is None:
            raise
        _fail(_("cannot listen on 127.0.0.1:{port}: {error}").format(port=port, error=found.strerror or found))
    except KeyboardInterrupt:
        return
    out.print(_("posted {count} charge(s), {resent} sent again").format(count=len(sim.posted), resent=sim.resent),
              markup=False)


__all__ = ["daemon_extensions", "hotel"]
