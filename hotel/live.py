"""The daemon hook that charges guest calls: each outgoing call stored from a room's extension becomes a folio charge
(cost and guest price, the stay occupying the room when the call started) and, with a PMS, a queued posting, in the
same transaction that stores the call. So a charge exists if and only if its call does, and a replayed record (a
crash, a PBX resending its buffer) is charged once.

Overlapping legs of one call (one call group, one room extension, the same number: parallel ringing, Local
channels) are charged once, on the longest leg, the one store.db merge_overlapping_legs keeps billed; a unique
`call_group` key on the charges backs it. Each call is charged under its own savepoint: one that cannot be charged
is stored as a `failed` late charge with the reason, never stopping the batch. `reattribute` moves a room's charges
to the right stay when a stay changes in the past (a late GI/GO, a check-in by hand with --at).

It plugs into `pbx.daemon.DaemonConfig.extensions` (the `stored` and `run` methods of that protocol) and needs no
trio: the PMS link that sends the queue is `pbx/fias.py`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import sqlite3
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from hotel.model import HotelConfig
from i18n import _
from store import display
from store import hotel as db

GuestPrice = Callable[[list[dict[str, Any]]], list["int | None"]]


class HotelHook:
    """Charges guest calls inside the daemon's writer transaction (see the module docstring)."""

    def __init__(self, config: HotelConfig, *, currency: str, guest_price: GuestPrice | None = None,
                 outside_prefix: str = "", timezone: str = "UTC", log: Callable[..., None] | None = None,
                 overlapping: set[str] | None = None) -> None:
        self.config = config
        self.outside_prefix = outside_prefix
        self.zone = ZoneInfo(timezone)
        self.currency = currency
        self.guest_price = guest_price  # the calls' prices under [hotel] guest_tariff, when set
        self.log = log or (lambda event, **fields: None)
        self.post = config.pms is not None
        self.overlapping = overlapping  # sources whose legs of one call may overlap (None: every source)
        self.charged = 0
        self.failed = 0

    async def run(self, daemon: Any, *, task_status: Any) -> None:
        """Nothing runs in the background: take the daemon's log and the room map, then return."""
        self.log = daemon.log
        conn = db.connect(daemon.config.db_path,
                          report=lambda line: self.log("hotel", warning=f"schema upgrade repaired: {line}"))
        try:
            db.sync_rooms(conn, [(r.number, r.extension, r.class_of_service) for r in self.config.rooms])
        finally:
            conn.close()
        task_status.started()

    def stored(self, conn: sqlite3.Connection, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Charge the guest calls among `calls` (store rows with their id); returns the alerts to raise (calls
        from vacant rooms). Inside the batch transaction, each call under its own savepoint: a call that cannot be
        charged (any error) is rolled back alone, stored as a `failed` late charge with the reason and logged; it
        never keeps the other calls, or the calls themselves, from being stored."""
        rooms = self.config.by_extension
        guest = [c for c in calls if c.get("extension") in rooms and c.get("site") == self.config.site
                 and c.get("direction") == "outgoing" and (c.get("billable") or 0) > 0
                 and c.get("status") != "service"]
        if not guest:
            return []
        prices = self._prices(guest)
        alerts: list[dict[str, Any]] = []
        now = int(time.time())
        batch = {c["id"] for c in guest}
        for call, base in zip(guest, prices):
            try:
                conn.execute("SAVEPOINT hotel_call")
            except sqlite3.Error as exc:
                self.failed += 1
                self.log("error", where="hotel", call_id=call.get("id"), error=f"{type(exc).__name__}: {exc}",
                         detail="guest charge not stored")
                continue
            try:
                if isinstance(base, Exception):
                    raise base
                alert = self._charge(conn, call, base, now, batch)
                conn.execute("RELEASE hotel_call")
            except Exception as exc:  # noqa: BLE001 - one odd call must not stop the batch
                self._failed(conn, call, exc, now)
                continue
            if alert is not None:
                alerts.append(alert)
        return alerts

    def _prices(self, guest: list[dict[str, Any]]) -> list[Any]:
        """Each call's base price (its cost, or its guest-tariff price); an exception in place of a price that
        could not be had."""
        if self.guest_price is None:
            return [c.get("cost") for c in guest]
        try:
            prices = list(self.guest_price(guest))
            if len(prices) == len(guest):
                return prices
        except Exception:  # noqa: BLE001 - priced one by one below, to find the call at fault
            pass
        out: list[Any] = []
        for c in guest:
            try:
                out.append(self.guest_price([c])[0])
            except Exception as exc:  # noqa: BLE001
                out.append(exc)
        return out

    def _failed(self, conn: sqlite3.Connection, call: dict[str, Any], exc: Exception, now: int) -> None:
        """Roll the call's charge back and list it (late-charge list) with the reason, so the front desk sees it."""
        self.failed += 1
        reason = _("could not be charged: {error}").format(error=f"{type(exc).__name__}: {exc}")[:500]
        self.log("error", where="hotel", call_id=call.get("id"), error=reason, detail="listed as a late charge")
        try:
            conn.execute("ROLLBACK TO hotel_call")
            room = self.config.by_extension[call["extension"]]
            db.insert_charge(conn, {
                "call_id": call["id"], "room": room.number, "extension": call["extension"],
                "start": int(call.get("start") or 0), "duration": int(call.get("billable") or 0),
                "dialled": call.get("dialled"), "number": call.get("number"),
                "destination": call.get("destination"), "cost": call.get("cost"),
                "currency": call.get("currency") or self.currency, "status": db.FAILED, "late": 1,
                "reason": reason, "created": now})
            conn.execute("RELEASE hotel_call")
        except Exception as again:  # noqa: BLE001
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK TO hotel_call")
                conn.execute("RELEASE hotel_call")
            self.log("error", where="hotel", call_id=call.get("id"),
                     error=f"not listed either: {type(again).__name__}: {again}")

    def digits(self, dialled: str | None, number: str | None) -> str:
        """The digits as the guest dialled them without the outside-line prefix (FIAS DD: unformatted, at most
        20): the prefix is dropped when what follows it is the number that was rated."""
        digits = re.sub(r"\D", "", dialled or "") or (number or "")
        op = self.outside_prefix
        if op and number and digits.startswith(op) and number.endswith(digits[len(op):].lstrip("0") or "-"):
            digits = digits[len(op):]
        return digits[:20]

    # --- one call, one charge -------------------------------------------------------------------------------

    def _group(self, conn: sqlite3.Connection, call: dict[str, Any], batch: set[int]) -> tuple[str | None, Any]:
        """(the call group's key, or None; what to do): None (charge it), ("merged", leg id) (another leg of the
        same call carries the charge), ("supersede", charge) (this longer leg takes the charge from a leg charged
        before, not yet sent), ("posted", charge) (a leg of it was already sent to the PMS)."""
        if not call.get("grp") or (self.overlapping is not None and call.get("source") not in self.overlapping):
            return None, None
        legs = db.overlapping_legs(conn, call)
        if len(legs) < 1:
            return None, None
        key = f"{call['source']}|{call['grp']}|{call['number']}|{call['extension']}"
        winner = max(legs, key=lambda leg: (leg["billable"], -leg["id"]))
        if winner["id"] != call["id"] and (winner["id"] in batch or db.charged(conn, winner["id"])):
            return None, ("merged", winner["id"])
        holder = db.group_charge(conn, key)
        if holder is None:
            return key, None
        if holder["call_id"] not in {leg["id"] for leg in legs}:
            return f"{key}|{call['id']}", None  # another call of the same group (no overlap): charged on its own
        if holder["posting_state"] in (None, "pending", "cancelled"):
            return key, ("supersede", holder)
        return None, ("posted", holder)

    def _charge(self, conn: sqlite3.Connection, call: dict[str, Any], base: int | None, now: int,
                batch: set[int] | None = None) -> dict[str, Any] | None:
        if db.charged(conn, call["id"]):
            return None  # charged before (a replayed record)
        cfg = self.config
        room = cfg.by_extension[call["extension"]]
        stay = db.stay_at(conn, room.number, call["start"])
        ended = call["start"] + call["duration"]
        late = stay is not None and stay["checkout"] is not None and ended > stay["checkout"]
        free = cfg.is_free(call["number"], call["dialled"], call["status"])
        reason = None
        if free:
            charge, status, reason = 0, db.FREE, free
        elif base is None:
            charge, status = None, db.UNPRICED
            reason = _("no price: the call's rating status is {status}").format(status=call["status"])
        else:
            charge = cfg.rules.price(int(base))
            status, reason = (db.FREE, _("zero price")) if charge == 0 else (db.QUEUED, None)
        status, reason = self._occupancy(status, reason, stay, late)
        key, action = self._group(conn, call, batch or {call["id"]})
        if action is not None and action[0] == "merged":
            status, charge, reason = db.MERGED, None, _("another leg of call {call} (the same call, overlapping): "
                                                        "charged once, on that leg").format(call=action[1])
        elif action is not None and action[0] == "posted":
            held = action[1]
            status, charge, late = db.MERGED, None, True
            reason = _("a longer leg of call {call}, whose charge was already sent to the PMS (P# {posting}): the "
                       "difference, if any, is not posted").format(call=held["call_id"], posting=held["posting"])
        elif action is not None:  # supersede: the leg charged before gives the charge to this longer one
            held = action[1]
            if held["posting"] is not None:
                db.cancel_posting(conn, held["posting"])
            db.update_charge(conn, held["call_id"], status=db.MERGED, call_group=None,
                             reason=_("another leg of call {call} (the same call, overlapping, longer): charged "
                                      "once, on that leg").format(call=call["id"]))
        row = {"call_id": call["id"], "room": room.number, "extension": call["extension"],
               "stay_id": stay["id"] if stay else None, "reservation": stay["reservation"] if stay else None,
               "guest": stay["guest"] if stay else None, "start": call["start"], "duration": call["billable"],
               "dialled": call["dialled"], "number": call["number"], "destination": call["destination"],
               "cost": call["cost"], "charge": charge, "currency": call["currency"] or self.currency,
               "status": status, "late": int(late), "reason": reason, "posting": None, "created": now,
               "call_group": key if status != db.MERGED else None}
        if not db.insert_charge(conn, row):
            return None  # charged before (a replayed record), or its call group already is
        self.charged += 1
        if status == db.QUEUED:
            digits = self.digits(call["dialled"], call["number"])
            db.enqueue_posting(conn, call["id"], room.number, stay["reservation"] if stay else None,
                               cfg.rules.minor_units(charge or 0), digits, call["billable"], call["start"], now)
        if status == db.VACANT and cfg.vacant_alert:
            number = call["number"] or call["dialled"]
            if call["cost"] is not None:
                message = _("vacant room: room {room} (extension {extension}) called {number} ({cost}) with no guest "
                            "checked in").format(room=room.number, extension=call["extension"], number=number,
                                                 cost=display.money(call["cost"], call["currency"], exact=True))
            else:
                message = _("vacant room: room {room} (extension {extension}) called {number} with no guest checked "
                            "in").format(room=room.number, extension=call["extension"], number=number)
            return {"rule": "vacant room", "kind": "hotel", "at": call["start"], "message": message,
                    "severity": "critical", "site": call["site"], "extension": call["extension"],
                    "call_id": call["id"], "amount": call["cost"], "currency": call["currency"] or "",
                    "dedup": f"hotel-vacant:{key or call['id']}"}
        return None

    def _occupancy(self, status: str, reason: str | None, stay: dict[str, Any] | None, late: bool
                   ) -> tuple[str, str | None]:
        """The status once the stay at call start is known: no guest -> vacant (unless free); a priced call is
        queued for the PMS (folio without one, or when it ended after check-out and post_late is off)."""
        if stay is None:
            return (status, reason) if status == db.FREE else (db.VACANT, _("no guest checked in when the call "
                                                                            "started"))
        if late:
            reason = _("ended after check-out ({when})").format(when=display.when(stay["checkout"], self.zone.key))
        if status == db.QUEUED and not (self.post and (self.config.post_late or not late)):
            status = db.FOLIO
        return status, reason

    # --- stays that changed after their calls were charged --------------------------------------------------

    def reattribute(self, conn: sqlite3.Connection, room: str, since: int, now: int | None = None
                    ) -> dict[str, int]:
        """A stay of `room` changed at `since` (a GI or GO that reached us late with the PMS's own time, a check-in
        by hand in the past, a missing GO): give every charge of the room from `since` on to the stay that occupied
        the room when its call started. A vacant-room call becomes the guest's (queued for the PMS, once: a call
        keeps one posting); a guest's call made after the real check-out is taken off (its posting cancelled).
        A charge already sent to the PMS cannot be moved: it is flagged (late-charge list) with the reason.
        Runs inside the caller's transaction. Returns counts: charged, uncharged, flagged."""
        now = int(time.time()) if now is None else now
        counts = {"charged": 0, "uncharged": 0, "flagged": 0}
        for c in db.room_charges(conn, room, since):
            if c["status"] in (db.MERGED, db.FAILED):
                continue
            stay = db.stay_at(conn, room, c["start"])
            sid = stay["id"] if stay else None
            late = stay is not None and stay["checkout"] is not None and c["start"] + c["duration"] > stay["checkout"]
            if sid == c["stay_id"] and late == bool(c["late"]):
                continue
            state = c["posting_state"]
            if state in ("sent", "unconfirmed", "ok", "rejected"):
                if stay:
                    text = _("sent to the PMS for reservation {reservation} (P# {posting}), but the room was "
                             "reservation {other}'s when the call started (a check-in or check-out that reached us "
                             "late): settle by hand")
                else:
                    text = _("sent to the PMS for reservation {reservation} (P# {posting}), but the room had no guest "
                             "when the call started (a check-in or check-out that reached us late): settle by hand")
                db.update_charge(conn, c["call_id"], late=1, reason=text.format(
                    reservation=c["reservation"], posting=c["posting"], other=stay["reservation"] if stay else ""))
                counts["flagged"] += 1
                continue
            if state == "pending":
                db.cancel_posting(conn, c["posting"])
            if c["status"] == db.FREE or c["charge"] == 0:
                status, reason = db.FREE, c["reason"] if c["status"] == db.FREE else _("zero price")
            elif c["charge"] is None:
                status, reason = db.UNPRICED, _("no price")
            else:
                status, reason = db.QUEUED, None
            status, reason = self._occupancy(status, reason, stay, late)
            db.update_charge(conn, c["call_id"], stay_id=sid, reservation=stay["reservation"] if stay else None,
                             guest=stay["guest"] if stay else None, status=status, late=int(late), reason=reason)
            if status == db.QUEUED:
                assert stay is not None
                db.queue_posting(conn, c["call_id"], room, stay["reservation"], self.config.rules.minor_units(
                    c["charge"]), self.digits(c["dialled"], c["number"]), c["duration"], c["start"], now)
            counts["charged" if stay is not None else "uncharged"] += 1
        if any(counts.values()):
            self.log("hotel", detail=f"room {room}: charges from {_hhmm(since, self.zone)} re-attributed after a "
                                     "stay change", **counts)
        return counts


def _hhmm(when: int, zone: ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(when, zone).strftime("%Y-%m-%d %H:%M")
