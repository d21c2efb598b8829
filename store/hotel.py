"""The hotel's tables (component "hotel", its own migrations): rooms, stays, guest charges and the PMS posting queue.

- `hotel_rooms` mirrors the room map of anatole.toml (room number <-> extension), rewritten at each daemon start.
- `hotel_stays`: one row per stay of a reservation in a room; `checkout` is NULL while the guest is in. A room move
  closes the stay in the old room (`moved_to`) and opens one in the new room with the same reservation.
- `hotel_charges`: one row per stored outgoing guest call (key: the call id), with its cost and the guest price
  (money in 10**-8 units, engine.money), the stay it belongs to (occupancy at call start) and what became of it.
- `hotel_postings`: the durable queue of PS records. `seq` is the posting sequence (FIAS P#): assigned once, when the
  charge is queued, so a resend after a dropped link or a crash carries the same P#. `call_id` is UNIQUE: a call is
  queued once, however often its record is replayed.

Writes made inside the daemon's batch transaction (charges, postings) do not commit; the others commit themselves.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from i18n import _
from store import schema
from store.db import StoreError, write_transaction
from store.db import connect as connect_store

MIGRATIONS: list[str] = [
    """
    CREATE TABLE hotel_rooms (
        number TEXT PRIMARY KEY, extension TEXT NOT NULL UNIQUE, class_of_service INTEGER
    );
    CREATE TABLE hotel_stays (
        id INTEGER PRIMARY KEY, room TEXT NOT NULL, reservation TEXT NOT NULL, guest TEXT NOT NULL DEFAULT '',
        language TEXT NOT NULL DEFAULT '', class_of_service INTEGER, checkin INTEGER NOT NULL, checkout INTEGER,
        moved_to TEXT, moved_from TEXT, origin TEXT NOT NULL
    );
    CREATE INDEX hotel_stays_room ON hotel_stays (room, checkin);
    CREATE INDEX hotel_stays_open ON hotel_stays (room) WHERE checkout IS NULL;
    CREATE INDEX hotel_stays_reservation ON hotel_stays (reservation);
    CREATE TABLE hotel_charges (
        call_id INTEGER PRIMARY KEY, room TEXT NOT NULL, extension TEXT NOT NULL, stay_id INTEGER,
        reservation TEXT, guest TEXT, start INTEGER NOT NULL, duration INTEGER NOT NULL, dialled TEXT, number TEXT,
        destination TEXT, cost INTEGER, charge INTEGER, currency TEXT, status TEXT NOT NULL,
        late INTEGER NOT NULL DEFAULT 0, reason TEXT, posting INTEGER, created INTEGER NOT NULL
    );
    CREATE INDEX hotel_charges_stay ON hotel_charges (stay_id);
    CREATE INDEX hotel_charges_room ON hotel_charges (room, start);
    CREATE TABLE hotel_postings (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, call_id INTEGER NOT NULL, room TEXT NOT NULL, reservation TEXT,
        amount INTEGER NOT NULL, digits TEXT NOT NULL, duration INTEGER NOT NULL, start INTEGER NOT NULL,
        state TEXT NOT NULL, answer TEXT, answer_text TEXT, attempts INTEGER NOT NULL DEFAULT 0,
        flagged INTEGER NOT NULL DEFAULT 0, not_before INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL,
        sent_at INTEGER, answered_at INTEGER, replaces INTEGER
    );
    CREATE UNIQUE INDEX hotel_postings_call ON hotel_postings (call_id) WHERE replaces IS NULL;
    CREATE INDEX hotel_postings_todo ON hotel_postings (seq) WHERE state IN ('pending', 'unconfirmed');
    """,
    # 2 (issue 13): one open stay per room, enforced. Rooms with several open stays (a check-in by hand racing
    # the PMS's) keep the latest (check-in time, then id); the others are closed at its check-in, each noted in
    # hotel_repairs. One live charge per call group (overlapping legs of one call from a room): call_group.
    """
    CREATE TABLE hotel_repairs (
        id INTEGER PRIMARY KEY, at INTEGER NOT NULL, kind TEXT NOT NULL, room TEXT, stay_id INTEGER,
        kept_stay_id INTEGER, closed_at INTEGER, detail TEXT NOT NULL
    );
    INSERT INTO hotel_repairs (at, kind, room, stay_id, kept_stay_id, closed_at, detail)
    SELECT CAST(strftime('%s', 'now') AS INTEGER), 'duplicate open stay', s.room, s.id, k.id, k.checkin,
           'room ' || s.room || ': stay ' || s.id || ' (reservation ' || s.reservation || ', ' || s.guest
           || ') was open beside stay ' || k.id || ' (reservation ' || k.reservation || ', ' || k.guest
           || '): closed at the later check-in'
      FROM hotel_stays s JOIN hotel_stays k ON k.id = (
           SELECT x.id FROM hotel_stays x WHERE x.room = s.room AND x.checkout IS NULL
            ORDER BY x.checkin DESC, x.id DESC LIMIT 1)
     WHERE s.checkout IS NULL AND s.id != k.id
     ORDER BY s.room, s.id;
    UPDATE hotel_stays SET checkout = (SELECT r.closed_at FROM hotel_repairs r WHERE r.stay_id = hotel_stays.id
                                         AND r.kind = 'duplicate open stay')
     WHERE id IN (SELECT stay_id FROM hotel_repairs WHERE kind = 'duplicate open stay');
    DROP INDEX hotel_stays_open;
    CREATE UNIQUE INDEX hotel_stays_open ON hotel_stays (room) WHERE checkout IS NULL;
    ALTER TABLE hotel_charges ADD COLUMN call_group TEXT;
    CREATE UNIQUE INDEX hotel_charges_group ON hotel_charges (call_group) WHERE call_group IS NOT NULL;
    """,
]

# posting states: pending (queued, not sent) -> sent (PS written, PA awaited) -> ok | rejected; a PA that never came
# (timeout, dropped link, crash) -> unconfirmed: resent with the same P# and flagged for the front desk. A pending
# posting whose charge no longer belongs to a guest (a late check-out, a longer leg of the same call) -> cancelled.
TODO = ("pending", "unconfirmed")
# charge statuses
QUEUED, POSTED, REJECTED, FOLIO, FREE, VACANT, UNPRICED = ("queued", "posted", "rejected", "folio", "free",
                                                           "vacant", "unpriced")
MERGED = "merged"  # another leg of the same call carries the charge
FAILED = "failed"  # the call could not be charged (an error, named in reason): on the late-charge list
CHARGE_COLUMNS = ("call_id", "room", "extension", "stay_id", "reservation", "guest", "start", "duration", "dialled",
                  "number", "destination", "cost", "charge", "currency", "status", "late", "reason", "posting",
                  "created", "call_group")
POSTING_COLUMNS = ("seq", "call_id", "room", "reservation", "amount", "digits", "duration", "start", "state",
                   "answer", "answer_text", "attempts", "flagged", "not_before", "created", "sent_at",
                   "answered_at", "replaces")
STAY_COLUMNS = ("id", "room", "reservation", "guest", "language", "class_of_service", "checkin", "checkout",
                "moved_to", "moved_from", "origin")


class HotelError(Exception):
    """A front-desk action that cannot be done as asked (a room that is not in the map, a room already occupied)."""


class RoomOccupied(HotelError):
    """The room already has an open stay (of another reservation): `stay` is that stay."""

    def __init__(self, room: str, stay: dict[str, Any]) -> None:
        self.room, self.stay = room, stay
        since = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(stay["checkin"]))
        if stay["guest"]:
            text = _("room {room} already has an open stay for {guest} (reservation {reservation}) since {since}: "
                     "check it out first")
        else:
            text = _("room {room} already has an open stay for a guest (reservation {reservation}) since {since}: "
                     "check it out first")
        super().__init__(text.format(room=room, guest=stay["guest"], reservation=stay["reservation"], since=since))


@contextlib.contextmanager
def write(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """All the statements inside, or none: store.db.write_transaction (BEGIN IMMEDIATE, retried while the daemon's
    writer holds the lock, StoreBusy past the limit), so a check-in by hand never fails half-way with "database is
    locked". Inside a transaction already open on `conn` (the daemon's batch) it is part of that one."""
    with write_transaction(conn, what="hotel"):
        yield conn


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Bring the hotel tables up to date; returns what a migration had to repair (one line each), for the log."""
    try:
        before = schema.version(conn, "hotel")
        schema.migrate(conn, "hotel", MIGRATIONS)
    except schema.SchemaError as exc:
        raise StoreError(str(exc)) from None
    if before >= 2:
        return []
    return [r[0] for r in conn.execute("SELECT detail FROM hotel_repairs WHERE kind = 'duplicate open stay' "
                                       "ORDER BY id")]


def connect(path: Path | str, *, report: Callable[[str], Any] | None = None) -> sqlite3.Connection:
    """A connection of its own (the PMS link, the CLI), migrated, WAL, waiting on the daemon's writer. `report`
    receives each repair a migration made (duplicate open stays it closed)."""
    conn = connect_store(path, timeout=30, check_same_thread=False)
    for line in migrate(conn):
        if report is not None:
            report(line)
    return conn


def repairs(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """What migrations repaired (the duplicate open stays they closed), oldest first."""
    return _dicts(conn.execute("SELECT * FROM hotel_repairs ORDER BY id"))


def _dicts(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur]


# --- rooms -----------------------------------------------------------------------------------------------------


def sync_rooms(conn: sqlite3.Connection, rooms: Iterable[tuple[str, str, int | None]]) -> None:
    """Replace the room map with (number, extension, class of service) rows from the configuration."""
    with write(conn):
        conn.execute("DELETE FROM hotel_rooms")
        conn.executemany("INSERT INTO hotel_rooms (number, extension, class_of_service) VALUES (?, ?, ?)", rooms)


def rooms(conn: sqlite3.Connection) -> dict[str, str]:
    """room number -> extension."""
    return dict(conn.execute("SELECT number, extension FROM hotel_rooms"))


# --- stays -----------------------------------------------------------------------------------------------------


def open_stay(conn: sqlite3.Connection, room: str) -> dict[str, Any] | None:
    got = _dicts(conn.execute(f"SELECT {', '.join(STAY_COLUMNS)} FROM hotel_stays WHERE room = ? AND checkout IS NULL "
                              "ORDER BY checkin DESC, id DESC LIMIT 1", (room,)))
    return got[0] if got else None


def stay_at(conn: sqlite3.Connection, room: str, when: int) -> dict[str, Any] | None:
    """The stay occupying `room` at instant `when` (a call is charged to the occupancy at its start)."""
    got = _dicts(conn.execute(
        f"SELECT {', '.join(STAY_COLUMNS)} FROM hotel_stays WHERE room = ? AND checkin <= ? "
        "AND (checkout IS NULL OR checkout > ?) ORDER BY checkin DESC, id DESC LIMIT 1", (room, when, when)))
    return got[0] if got else None


def stay(conn: sqlite3.Connection, stay_id: int) -> dict[str, Any] | None:
    got = _dicts(conn.execute(f"SELECT {', '.join(STAY_COLUMNS)} FROM hotel_stays WHERE id = ?", (stay_id,)))
    return got[0] if got else None


def last_stay(conn: sqlite3.Connection, room: str, reservation: str | None = None) -> dict[str, Any] | None:
    sql = f"SELECT {', '.join(STAY_COLUMNS)} FROM hotel_stays WHERE room = ?"
    args: list[Any] = [room]
    if reservation:
        sql += " AND reservation = ?"
        args.append(reservation)
    got = _dicts(conn.execute(sql + " ORDER BY checkin DESC, id DESC LIMIT 1", args))
    return got[0] if got else None


def previous_checkout(conn: sqlite3.Connection, room: str, but: int | None = None) -> int | None:
    """When the last closed stay of `room` (other than stay `but`) ended: a late check-in cannot begin earlier."""
    row = conn.execute("SELECT MAX(checkout) FROM hotel_stays WHERE room = ? AND checkout IS NOT NULL AND id != ?",
                       (room, but if but is not None else -1)).fetchone()
    return row[0] if row and row[0] is not None else None


def checkin(conn: sqlite3.Connection, room: str, reservation: str, guest: str, at: int, origin: str, *,
            language: str = "", class_of_service: int | None = None, moved_from: str | None = None,
            replace: bool = True) -> tuple[int, dict[str, Any] | None]:
    """Open a stay beginning at `at`; returns (stay id, the stay it closed or None). One transaction (BEGIN
    IMMEDIATE: a check-in by hand and the PMS's are serialised), and the schema allows one open stay per room.

    The same reservation checked in again updates its stay (a PMS resends GI), and moves its check-in earlier when
    `at` is earlier (a GI that reached us late). Another reservation in an occupied room closes the old stay first
    when `replace` (the PMS is the truth), else raises RoomOccupied (a clerk must check the room out first). A stay
    never begins before the room's previous stay ended, nor closes one before it began: `at` is raised to that."""
    with write(conn):
        current = open_stay(conn, room)
        closed = None
        if current is not None:
            if current["reservation"] == reservation:
                floor = previous_checkout(conn, room, current["id"]) or 0
                checkin_at = max(min(at, current["checkin"]), floor, 0)
                conn.execute("UPDATE hotel_stays SET guest = ?, language = ?, class_of_service = "
                             "COALESCE(?, class_of_service), checkin = MIN(checkin, ?) WHERE id = ?",
                             (guest or current["guest"], language or current["language"], class_of_service,
                              checkin_at, current["id"]))
                return current["id"], None
            if not replace:
                raise RoomOccupied(room, current)
            at = max(at, current["checkin"])
            conn.execute("UPDATE hotel_stays SET checkout = ? WHERE id = ?", (at, current["id"]))
            closed = {**current, "checkout": at}
        else:
            at = max(at, previous_checkout(conn, room) or 0)
        try:
            cur = conn.execute(
                "INSERT INTO hotel_stays (room, reservation, guest, language, class_of_service, checkin, moved_from, "
                "origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (room, reservation, guest, language, class_of_service, at, moved_from, origin))
        except sqlite3.IntegrityError:  # the unique open-stay index: another writer got there first
            other = open_stay(conn, room)
            if other is None:
                raise
            raise RoomOccupied(room, other) from None
        return int(cur.lastrowid), closed


def checkout(conn: sqlite3.Connection, room: str, at: int, reservation: str | None = None,
             moved_to: str | None = None) -> dict[str, Any] | None:
    """Close the open stay of `room` (of that reservation when given) at `at` (not before it began); None when
    there is none to close."""
    with write(conn):
        current = open_stay(conn, room)
        if current is None or (reservation and current["reservation"] != reservation):
            return None
        at = max(at, current["checkin"])
        conn.execute("UPDATE hotel_stays SET checkout = ?, moved_to = ? WHERE id = ?", (at, moved_to, current["id"]))
        current["checkout"] = at
        current["moved_to"] = moved_to
        return current


def move(conn: sqlite3.Connection, old: str, new: str, reservation: str, guest: str, at: int, origin: str
         ) -> tuple[int, int]:
    """A room move, in one transaction: close the stay in `old`, open one in `new` for the same reservation, and
    re-point the postings not yet sent to the new room. Returns (new stay id, postings re-pointed)."""
    with write(conn):
        left = checkout(conn, old, at, reservation or None, moved_to=new)
        if left is not None:
            guest = guest or left["guest"]
            reservation = reservation or left["reservation"]
        stay_id, _closed = checkin(conn, new, reservation, guest, at, origin, moved_from=old,
                             language=left["language"] if left else "")
        cur = conn.execute("UPDATE hotel_postings SET room = ? WHERE room = ? AND reservation = ? AND state = "
                           "'pending'", (new, old, reservation))
        return stay_id, cur.rowcount


def open_stays(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """room -> its open stay."""
    return {r["room"]: r for r in _dicts(conn.execute(
        f"SELECT {', '.join(STAY_COLUMNS)} FROM hotel_stays WHERE checkout IS NULL ORDER BY checkin, id"))}


def open_stay_of(conn: sqlite3.Connection, reservation: str) -> dict[str, Any] | None:
    got = _dicts(conn.execute(f"SELECT {', '.join(STAY_COLUMNS)} FROM hotel_stays WHERE reservation = ? "
                              "AND checkout IS NULL ORDER BY checkin DESC LIMIT 1", (reservation,)))
    return got[0] if got else None


# --- charges and postings (inside the daemon's batch transaction: no commit here) ---------------------------------


def insert_charge(conn: sqlite3.Connection, row: dict[str, Any]) -> bool:
    """Store one guest charge (CHARGE_COLUMNS keys); False when the call was already charged (a replay)."""
    cur = conn.execute(f"INSERT OR IGNORE INTO hotel_charges ({', '.join(CHARGE_COLUMNS)}) "
                       f"VALUES ({', '.join('?' * len(CHARGE_COLUMNS))})", [row.get(k) for k in CHARGE_COLUMNS])
    return cur.rowcount > 0


def charged(conn: sqlite3.Connection, call_id: int) -> bool:
    return conn.execute("SELECT 1 FROM hotel_charges WHERE call_id = ?", (call_id,)).fetchone() is not None


def overlapping_legs(conn: sqlite3.Connection, call: dict[str, Any]) -> list[dict[str, Any]]:
    """The stored legs of `call`'s call group (same source and group) from the same extension to the same number,
    answered and overlapping it in time, itself included: as store.db merge_overlapping_legs sees them (parallel
    ringing, Local channels, a leg per trunk attempt), they are one call."""
    if not call.get("grp") or not call.get("number"):
        return []
    begin = call.get("answer") or call["start"]
    return _dicts(conn.execute(
        "SELECT id, billable, COALESCE(answer, start) AS began FROM calls WHERE source = ? AND grp = ? AND number = ? "
        "AND extension = ? AND direction = 'outgoing' AND billable > 0 AND COALESCE(answer, start) < ? "
        "AND ? < COALESCE(answer, start) + billable ORDER BY id",
        (call["source"], call["grp"], call["number"], call["extension"], begin + call["billable"], begin)))


def group_charge(conn: sqlite3.Connection, key: str) -> dict[str, Any] | None:
    """The charge that carries call group `key`, with its posting's state."""
    got = _dicts(conn.execute("SELECT c.*, p.state AS posting_state FROM hotel_charges c LEFT JOIN hotel_postings p "
                              "ON p.seq = c.posting WHERE c.call_group = ?", (key,)))
    return got[0] if got else None


CHANGEABLE = {"stay_id", "reservation", "guest", "status", "late", "reason", "call_group", "posting"}


def update_charge(conn: sqlite3.Connection, call_id: int, **fields: Any) -> None:
    """Change a stored charge (re-attributed to another stay, merged into another leg, flagged)."""
    unknown = set(fields) - CHANGEABLE
    if unknown:
        raise ValueError(f"not a changeable charge column: {sorted(unknown)}")
    sets = ", ".join(f"{k} = ?" for k in fields)
    conn.execute(f"UPDATE hotel_charges SET {sets} WHERE call_id = ?", [*fields.values(), call_id])


def cancel_posting(conn: sqlite3.Connection, seq: int) -> bool:
    """A posting not yet sent that must not go (its call no longer belongs to a guest): cancelled. False when it
    was already sent (then it cannot be taken back)."""
    return conn.execute("UPDATE hotel_postings SET state = 'cancelled' WHERE seq = ? AND state = 'pending'",
                        (seq,)).rowcount > 0


def queue_posting(conn: sqlite3.Connection, call_id: int, room: str, reservation: str | None, amount: int,
                  digits: str, duration: int, start: int, now: int) -> int:
    """Queue the call's posting, or its cancelled or pending one again for this room and reservation (a call
    re-attributed by a late check-in keeps one P#); returns its sequence."""
    row = conn.execute("SELECT seq, state FROM hotel_postings WHERE call_id = ? AND replaces IS NULL",
                       (call_id,)).fetchone()
    if row is None:
        return enqueue_posting(conn, call_id, room, reservation, amount, digits, duration, start, now)
    seq, state = row
    if state not in ("pending", "cancelled"):
        return int(seq)  # already with the PMS: the caller flags it instead
    conn.execute("UPDATE hotel_postings SET state = 'pending', room = ?, reservation = ?, amount = ?, "
                 "not_before = 0 WHERE seq = ?", (room, reservation, amount, seq))
    conn.execute("UPDATE hotel_charges SET posting = ?, status = ? WHERE call_id = ?", (seq, QUEUED, call_id))
    return int(seq)


def enqueue_posting(conn: sqlite3.Connection, call_id: int, room: str, reservation: str | None, amount: int,
                    digits: str, duration: int, start: int, now: int, replaces: int | None = None) -> int:
    """Queue a PS for a charge; returns its sequence (P#) and links the charge to it."""
    cur = conn.execute(
        "INSERT INTO hotel_postings (call_id, room, reservation, amount, digits, duration, start, state, created, "
        "replaces) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
        (call_id, room, reservation, amount, digits, duration, start, now, replaces))
    seq = int(cur.lastrowid)
    conn.execute("UPDATE hotel_charges SET posting = ?, status = ? WHERE call_id = ?", (seq, QUEUED, call_id))
    return seq


# --- the PMS link's side of the queue (its own connection; each call commits) ------------------------------------


def sent_to_unconfirmed(conn: sqlite3.Connection) -> int:
    """At start: postings left 'sent' (written, no PA recorded: we stopped or crashed meanwhile) are unconfirmed."""
    with write(conn):
        return conn.execute("UPDATE hotel_postings SET state = 'unconfirmed', flagged = 1 WHERE state = 'sent'"
                            ).rowcount


def next_posting(conn: sqlite3.Connection, now: int) -> dict[str, Any] | None:
    """The oldest posting to send (in sequence order; one waiting for a retry time blocks those after it, so the
    PMS sees charges in order)."""
    got = _dicts(conn.execute(f"SELECT {', '.join(POSTING_COLUMNS)} FROM hotel_postings WHERE state IN "
                              "('pending', 'unconfirmed') ORDER BY seq LIMIT 1"))
    if not got:
        return None
    return got[0] if got[0]["not_before"] <= now else None


def earliest_retry(conn: sqlite3.Connection) -> int | None:
    row = conn.execute("SELECT MIN(not_before) FROM hotel_postings WHERE state IN ('pending', 'unconfirmed')"
                       ).fetchone()
    return row[0] if row and row[0] is not None else None


def mark_sent(conn: sqlite3.Connection, seq: int, at: int) -> bool:
    """The PS is about to be written; False when the posting no longer waits to be sent (a PA crossed our
    timeout and was applied meanwhile)."""
    with write(conn):
        return conn.execute("UPDATE hotel_postings SET state = 'sent', sent_at = ?, attempts = attempts + 1 "
                            "WHERE seq = ? AND state IN ('pending', 'unconfirmed')", (at, seq)).rowcount > 0


def mark_unconfirmed(conn: sqlite3.Connection, seq: int) -> None:
    with write(conn):
        conn.execute("UPDATE hotel_postings SET state = 'unconfirmed', flagged = 1 WHERE seq = ? AND state = 'sent'",
                     (seq,))


def mark_retry(conn: sqlite3.Connection, seq: int, answer: str, text: str, at: int, not_before: int) -> None:
    """RY (retry later) or NA (night audit): back to pending with the same P# (only a posting awaiting an
    answer: a repeated RY cannot re-queue a posting already answered OK)."""
    with write(conn):
        conn.execute("UPDATE hotel_postings SET state = 'pending', answer = ?, answer_text = ?, answered_at = ?, "
                     "not_before = ? WHERE seq = ? AND state IN ('sent', 'unconfirmed')",
                     (answer, text, at, not_before, seq))


def awaiting_answer(conn: sqlite3.Connection, seq: int) -> dict[str, Any] | None:
    """The posting with this sequence when it awaits a PA (sent, or unconfirmed); None otherwise."""
    got = _dicts(conn.execute(f"SELECT {', '.join(POSTING_COLUMNS)} FROM hotel_postings WHERE seq = ? AND state "
                              "IN ('sent', 'unconfirmed')", (seq,)))
    return got[0] if got else None


def mark_answer(conn: sqlite3.Connection, seq: int, answer: str, text: str, at: int) -> dict[str, Any] | None:
    """A final PA: OK -> posted, anything else -> rejected (the charge goes on the late-charge list). Returns the
    posting, or None when no posting awaits an answer with this P# (a stray or repeated PA)."""
    with write(conn):
        got = _dicts(conn.execute(f"SELECT {', '.join(POSTING_COLUMNS)} FROM hotel_postings WHERE seq = ? AND state "
                                  "IN ('sent', 'unconfirmed')", (seq,)))
        if not got:
            return None
        ok = answer == "OK"
        conn.execute("UPDATE hotel_postings SET state = ?, answer = ?, answer_text = ?, answered_at = ? WHERE seq = ?",
                     ("ok" if ok else "rejected", answer, text, at, seq))
        conn.execute("UPDATE hotel_charges SET status = ?, reason = ? WHERE call_id = ? AND posting = ?",
                     (POSTED if ok else REJECTED, None if ok else f"PMS answered {answer}" + (f": {text}" if text
                                                                                          else ""),
                      got[0]["call_id"], seq))
        return got[0]


def repost(conn: sqlite3.Connection, old: dict[str, Any], room: str, reservation: str, now: int) -> int:
    """Queue a rejected posting again to another room (the guest moved): a new P#, linked to the old one."""
    with write(conn):
        return enqueue_posting(conn, old["call_id"], room, reservation, old["amount"], old["digits"],
                               old["duration"], old["start"], now, replaces=old["seq"])


def posting_counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {str(s): int(n) for s, n in conn.execute("SELECT state, COUNT(*) FROM hotel_postings GROUP BY state")}


def postings(conn: sqlite3.Connection, *, state: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    sql = f"SELECT {', '.join(POSTING_COLUMNS)} FROM hotel_postings"
    args: tuple[Any, ...] = ()
    if state:
        sql, args = sql + " WHERE state = ?", (state,)
    return _dicts(conn.execute(sql + f" ORDER BY seq DESC LIMIT {int(limit)}", args))


# --- front-desk reads --------------------------------------------------------------------------------------------


def rooms_overview(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every mapped room: its extension, guest (open stay), calls and charges of the stay, postings not yet
    answered, in room order (numeric rooms numerically)."""
    rows = _dicts(conn.execute("""
        SELECT r.number AS room, r.extension, s.id AS stay_id, s.reservation, s.guest, s.checkin,
               (SELECT COUNT(*) FROM hotel_charges c WHERE c.stay_id = s.id) AS calls,
               (SELECT COALESCE(SUM(c.charge), 0) FROM hotel_charges c WHERE c.stay_id = s.id
                 AND c.status IN ('queued', 'posted', 'folio', 'rejected')) AS charges,
               (SELECT COUNT(*) FROM hotel_charges c WHERE c.room = r.number AND c.status = 'vacant'
                 AND c.start >= COALESCE((SELECT MAX(checkout) FROM hotel_stays x WHERE x.room = r.number), 0))
                 AS vacant_calls,
               (SELECT COUNT(*) FROM hotel_postings p WHERE p.room = r.number AND p.state IN
                 ('pending', 'sent', 'unconfirmed')) AS unposted
          FROM hotel_rooms r LEFT JOIN hotel_stays s ON s.room = r.number AND s.checkout IS NULL"""))
    for r in rows:
        r["status"] = "occupied" if r["stay_id"] is not None else "vacant"
    rows.sort(key=lambda r: (not r["room"].isdigit(), int(r["room"]) if r["room"].isdigit() else 0, r["room"]))
    return rows


def folio(conn: sqlite3.Connection, stay_id: int) -> list[dict[str, Any]]:
    """The charges of one stay, oldest first, with their posting's state and answer."""
    return _dicts(conn.execute(
        "SELECT c.*, p.state AS posting_state, p.answer, p.flagged FROM hotel_charges c "
        "LEFT JOIN hotel_postings p ON p.seq = c.posting WHERE c.stay_id = ? ORDER BY c.start, c.call_id",
        (stay_id,)))


def room_charges(conn: sqlite3.Connection, room: str, since: int, until: int | None = None) -> list[dict[str, Any]]:
    """Calls from a room in a period, whatever their stay (the vacant-room calls of a room included)."""
    return _dicts(conn.execute(
        "SELECT c.*, p.state AS posting_state, p.answer, p.flagged FROM hotel_charges c "
        "LEFT JOIN hotel_postings p ON p.seq = c.posting WHERE c.room = ? AND c.start >= ? AND c.start < ? "
        "ORDER BY c.start, c.call_id", (room, since, until if until is not None else 2**62)))


def late_charges(conn: sqlite3.Connection, limit: int = 1000) -> list[dict[str, Any]]:
    """Charges the front desk must settle by hand: calls that ended after the guest checked out, postings the PMS
    refused, calls that could not be priced; newest first."""
    return _dicts(conn.execute(
        "SELECT c.*, p.state AS posting_state, p.answer, p.flagged FROM hotel_charges c "
        "LEFT JOIN hotel_postings p ON p.seq = c.posting "
        "WHERE (c.late = 1 AND c.status != 'free') OR c.status IN ('rejected', 'unpriced') OR p.flagged = 1 "
        f"ORDER BY c.start DESC, c.call_id DESC LIMIT {int(limit)}"))


def vacant_calls(conn: sqlite3.Connection, limit: int = 200) -> list[dict[str, Any]]:
    return _dicts(conn.execute(f"SELECT * FROM hotel_charges WHERE status = 'vacant' ORDER BY start DESC "
                               f"LIMIT {int(limit)}"))


def charges_of(conn: sqlite3.Connection, call_ids: Sequence[int]) -> list[dict[str, Any]]:
    marks = ", ".join("?" * len(call_ids))
    return _dicts(conn.execute(f"SELECT * FROM hotel_charges WHERE call_id IN ({marks}) ORDER BY call_id",
                               list(call_ids))) if call_ids else []


def now() -> int:
    return int(time.time())
