"""The daemon hook that charges guest calls: each outgoing call stored from a room's extension becomes a folio charge
(cost and guest price, the stay occupying the room when the call started) and, with a PMS, a queued posting, in the
same transaction that stores the call. So a charge exists if and only if its call does, and a replayed record (a
crash, a PBX resending its buffer) is charged once.

It plugs into `pbx.daemon.DaemonConfig.extensions` (the `stored` and `run` methods of that protocol) and needs no
trio: the PMS link that sends the queue is `pbx/fias.py`.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from engine.money import format_money
from hotel.model import HotelConfig
from store import hotel as db

GuestPrice = Callable[[list[dict[str, Any]]], list["int | None"]]


class HotelHook:
    """Charges guest calls inside the daemon's writer transaction (see the module docstring)."""

    def __init__(self, config: HotelConfig, *, currency: str, guest_price: GuestPrice | None = None,
                 outside_prefix: str = "", timezone: str = "UTC", log: Callable[..., None] | None = None) -> None:
        self.config = config
        self.outside_prefix = outside_prefix
        self.zone = ZoneInfo(timezone)
        self.currency = currency
        self.guest_price = guest_price  # the calls' prices under [hotel] guest_tariff, when set
        self.log = log or (lambda event, **fields: None)
        self.post = config.pms is not None
        self.charged = 0

    async def run(self, daemon: Any, *, task_status: Any) -> None:
        """Nothing runs in the background: take the daemon's log and the room map, then return."""
        self.log = daemon.log
        conn = db.connect(daemon.config.db_path)
        try:
            db.sync_rooms(conn, [(r.number, r.extension, r.class_of_service) for r in self.config.rooms])
        finally:
            conn.close()
        task_status.started()

    def stored(self, conn: sqlite3.Connection, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Charge the guest calls among `calls` (store rows with their id); returns the alerts to raise (calls
        from vacant rooms). Inside the batch transaction: a fault here is logged and rolled back to a savepoint,
        it never keeps the calls themselves from being stored."""
        rooms = self.config.by_extension
        guest = [c for c in calls if c.get("extension") in rooms and c["site"] == self.config.site
                 and c["direction"] == "outgoing" and c["billable"] > 0 and c["status"] != "service"]
        if not guest:
            return []
        prices = self.guest_price(guest) if self.guest_price is not None else [c["cost"] for c in guest]
        alerts: list[dict[str, Any]] = []
        now = int(time.time())
        conn.execute("SAVEPOINT hotel")
        try:
            for call, base in zip(guest, prices):
                alert = self._charge(conn, call, base, now)
                if alert is not None:
                    alerts.append(alert)
            conn.execute("RELEASE hotel")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK TO hotel")
            conn.execute("RELEASE hotel")
            self.log("error", where="hotel", error=f"{type(exc).__name__}: {exc}",
                     calls=[c["id"] for c in guest], detail="guest charges not stored for these calls")
            return []
        return alerts

    def digits(self, dialled: str | None, number: str | None) -> str:
        """The digits as the guest dialled them without the outside-line prefix (FIAS DD: unformatted, at most
        20): the prefix is dropped when what follows it is the number that was rated."""
        digits = re.sub(r"\D", "", dialled or "") or (number or "")
        op = self.outside_prefix
        if op and number and digits.startswith(op) and number.endswith(digits[len(op):].lstrip("0") or "-"):
            digits = digits[len(op):]
        return digits[:20]

    def _charge(self, conn: sqlite3.Connection, call: dict[str, Any], base: int | None, now: int
                ) -> dict[str, Any] | None:
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
            reason = f"no price: the call's rating status is {call['status']}"
        else:
            charge = cfg.rules.price(int(base))
            status = db.FREE if charge == 0 else (db.QUEUED if self.post else db.FOLIO)
            if charge == 0:
                reason = "zero price"
        if stay is None and status != db.FREE:
            status, reason = db.VACANT, "no guest checked in when the call started"
        elif late:
            reason = f"ended after check-out ({_hhmm(stay['checkout'], self.zone)})"
        row = {"call_id": call["id"], "room": room.number, "extension": call["extension"],
               "stay_id": stay["id"] if stay else None, "reservation": stay["reservation"] if stay else None,
               "guest": stay["guest"] if stay else None, "start": call["start"], "duration": call["billable"],
               "dialled": call["dialled"], "number": call["number"], "destination": call["destination"],
               "cost": call["cost"], "charge": charge, "currency": call["currency"] or self.currency,
               "status": status, "late": int(late), "reason": reason, "posting": None, "created": now}
        if not db.insert_charge(conn, row):
            return None  # charged before (a replayed record)
        self.charged += 1
        if status == db.QUEUED and (cfg.post_late or not late):
            digits = self.digits(call["dialled"], call["number"])
            db.enqueue_posting(conn, call["id"], room.number, stay["reservation"] if stay else None,
                               cfg.rules.minor_units(charge or 0), digits, call["billable"], call["start"], now)
        elif status == db.QUEUED:
            conn.execute("UPDATE hotel_charges SET status = ? WHERE call_id = ?", (db.FOLIO, call["id"]))
        if status == db.VACANT and cfg.vacant_alert:
            amount = f" ({format_money(call['cost'], 8).rstrip('0').rstrip('.')} {call['currency']})" \
                if call["cost"] is not None else ""
            return {"rule": "vacant room", "kind": "hotel", "at": call["start"],
                    "message": f"vacant room: room {room.number} (extension {call['extension']}) called "
                               f"{call['number'] or call['dialled']}{amount} with no guest checked in",
                    "severity": "critical", "site": call["site"], "extension": call["extension"],
                    "call_id": call["id"], "amount": call["cost"], "currency": call["currency"] or "",
                    "dedup": f"hotel-vacant:{call['id']}"}
        return None


def _hhmm(when: int, zone: ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(when, zone).strftime("%Y-%m-%d %H:%M")
