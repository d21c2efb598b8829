"""`anatole demo --hotel`: a small hotel to try the front desk with -- twelve rooms on one Paris site, a PMS link
to a simulator on 127.0.0.1 (`anatole hotel simulate-pms`, run beside `anatole serve`), and a day of guest calls.

The day is the one before `now` in Paris. Guests check in and out by hand (as a front desk without its PMS would),
the rooms' calls are written as the PBX writes them (an IP Office SMDR file in cdr/), imported as `anatole import
cdr` does, then charged by the same hook the daemon runs (hotel.live.HotelHook). The day is made to hold what a
front desk meets: a call that ended after its guest checked out (a late charge), calls from a vacant room, and
charges waiting for the PMS (queued until the daemon's link posts them).
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from anatole import pbxfiles
from anatole.demo.calls import CDR_FOLDER, MARKER, DemoError, check_folder
from i18n import _

ZONE = "Europe/Paris"
PMS_PORT = 5010
PBX_PORT = 5020
ROOMS = [(str(n), str(2000 + n)) for n in (101, 102, 103, 104, 105, 106, 201, 202, 203, 204, 205, 206)]
# (room, guest, reservation, check-in hour the day before, check-out hour of the day or None)
GUESTS = [
    ("101", "Martin, Alice", "880101", 15, None),
    ("102", "Keller, Bruno", "880102", 16, None),
    ("103", "Okafor, Chidi", "880103", 14, 9.5),  # leaves at 09:30 while on the phone: a late charge
    ("104", "Rossi, Giulia", "880104", 18, None),
    ("105", "Nakamura, Ken", "880105", 20, 11.0),
    ("201", "Dubois, Claire", "880201", 15, None),
    ("202", "Smith, John", "880202", 17, None),
    ("204", "García, Lucía", "880204", 19, None),
]
VACANT_CALLER = "206"  # nobody checked in: its calls raise the vacant-room alert
NUMBERS = ["33142685300", "33612345678", "33491234567", "442079460000", "14155550100", "393471234567",
           "4930123456", "34912345678", "81312345678", "33800123456"]


def workspace_toml() -> str:
    out = [
        MARKER,
        "# Written by `anatole demo --hotel`: a hotel of twelve rooms. Running the demo again on this folder",
        "# overwrites this file and the tariffs; delete the first line to keep your changes.",
        "",
        "[workspace]",
        'currency = "EUR"',
        "",
        "[[site]]",
        'name = "hotel"',
        'country = "FR"',
        f'timezone = "{ZONE}"',
        'outside_prefix = "0"',
        'national_prefix = "0"',
        'international_prefix = "00"',
        'extensions = ["2000-2999"]',
        'tariff = "tariffs/fr-business.toml"',
        "",
        "[[source]]",
        'name = "hotel-ipo"',
        'site = "hotel"',
        'format = "avaya-ipo"',
        f'listen = "127.0.0.1:{PBX_PORT}"',
        "",
        "[hotel]",
        'markup_percent = "50"',
        'surcharge = "0.30"',
        'minimum = "0.50"',
        'tax_percent = "10"',
        'rounding = "up"',
        "",
        "# the PMS: `anatole hotel simulate-pms` plays one on this port (run it beside `anatole serve`)",
        "[pms]",
        'protocol = "fias"',
        f'connect = "127.0.0.1:{PMS_PORT}"',
    ]
    for room, ext in ROOMS:
        out += ["", "[[room]]", f'number = "{room}"', f'extension = "{ext}"']
    return "\n".join(out) + "\n"


def create_workspace(path: Path) -> Path:
    """The hotel's folder: anatole.toml and the French sample tariff (same rules as the plain demo's folder)."""
    path = Path(path)
    check_folder(path)
    try:
        (path / "tariffs").mkdir(parents=True, exist_ok=True)
        samples = importlib.resources.files("tariffs.samples")
        for ext in (".toml", ".csv"):
            (path / "tariffs" / f"fr-business{ext}").write_bytes(samples.joinpath("fr-business" + ext).read_bytes())
        (path / "anatole.toml").write_text(workspace_toml(), encoding="utf-8")
        for suffix in ("", "-wal", "-shm"):  # a previous run's store
            Path(f"{path / 'anatole.db'}{suffix}").unlink(missing_ok=True)
    except OSError as exc:
        raise DemoError(_("cannot create the demo workspace in {folder}: {problem}").format(
            folder=path, problem=exc.strerror or exc)) from None
    return path


def day_calls(day: dt.date, seed: int) -> tuple[pbxfiles.PbxCalls, dict[str, int]]:
    """The rooms' outgoing calls of `day` (Paris), and the times of the stays (epoch seconds by name)."""
    rng = np.random.default_rng(seed)
    zone = ZoneInfo(ZONE)

    def at(hours: float, days: int = 0) -> int:
        base = dt.datetime.combine(day + dt.timedelta(days=days), dt.time(0), zone)
        return int((base + dt.timedelta(hours=hours)).timestamp())

    ext, other, start, talk = [], [], [], []
    for room, _guest, _res, _in_hour, out_hour in GUESTS:
        last = out_hour if out_hour is not None else 23.0
        for _call in range(int(rng.integers(1, 5))):
            h = float(rng.uniform(7.0, last - 0.5))
            ext.append(2000 + int(room))
            other.append(NUMBERS[int(rng.integers(len(NUMBERS)))])
            start.append(at(h))
            talk.append(int(rng.integers(40, 900)))
    for room, hours, minutes, number in (("103", 9 + 20 / 60, 25, "442079460000"),  # 103 leaves at 09:30
                                         ("105", 10 + 50 / 60, 18, "14155550100")):  # 105 at 11:00
        ext.append(2000 + int(room))  # on the phone when the guest is checked out: a late charge
        other.append(number)
        start.append(at(hours))
        talk.append(minutes * 60)
    for h in (2.25, 3.5):  # the empty room 206 calls out at night
        ext.append(2000 + int(VACANT_CALLER))
        other.append("33612345678")
        start.append(at(h))
        talk.append(int(rng.integers(60, 300)))
    n = len(ext)
    calls = pbxfiles.PbxCalls(
        direction=np.full(n, pbxfiles.OUTGOING, np.int8), extension=np.array(ext, np.int32),
        other=np.array(other, "S15"), start=np.array(start, np.int64), ring=np.full(n, 6, np.int32),
        talk=np.array(talk, np.int32), outcome=np.full(n, pbxfiles.ANSWERED, np.int8), account=np.full(n, "", "U8"),
        transfer=np.zeros(n, np.int32), transfer_talk=np.zeros(n, np.int32), seed=seed)
    times = {f"in:{g[0]}": at(g[3], -1) for g in GUESTS}
    times.update({f"out:{g[0]}": at(g[4]) for g in GUESTS if g[4] is not None})
    return calls, times


def run_hotel_demo(path: Path, seed: int = 7, *, now: float | None = None) -> dict[str, Any]:
    """Create the hotel workspace, its stays and a day of charged guest calls; return what a user needs to know
    (JSON-serialisable)."""
    from anatole.cli_hotel import hotel_hook
    from anatole.config import ConfigError, open_workspace
    from pipeline.cdrimport import CdrImportError, import_file
    from store import hotel as db
    from store import open_store

    path = create_workspace(Path(path))
    zone = ZoneInfo(ZONE)
    today = dt.datetime.fromtimestamp(dt.datetime.now().timestamp() if now is None else now, zone).date()
    day = today - dt.timedelta(days=1)
    calls, times = day_calls(day, seed)
    try:
        ws = open_workspace(path)
    except ConfigError as exc:
        raise DemoError(_("the hotel demo workspace does not load:\n{problem}").format(problem=exc)) from None
    site = ws.sites["hotel"]
    cdr = path / CDR_FOLDER / f"hotel-ipo-{day.isoformat()}.txt"
    cdr.parent.mkdir(exist_ok=True)
    plan = site.dialplan
    pbxfiles.write_ipo_smdr(cdr, calls, SimpleNamespace(  # type: ignore[arg-type]
        name=site.name, country=site.country, timezone=site.timezone, outside_prefix=plan.outside_prefix,
        national_prefix=plan.national_prefix, international_prefix=plan.international_prefix,
        area_code=plan.area_code))
    store = open_store(ws.db_path)
    try:
        conn = db.connect(ws.db_path)
        try:
            db.sync_rooms(conn, [(r.number, r.extension, r.class_of_service) for r in ws.hotel.rooms])
            for room, guest, reservation, _in, out in GUESTS:
                db.checkin(conn, room, reservation, guest, times[f"in:{room}"], "manual")
                if out is not None:
                    db.checkout(conn, room, times[f"out:{room}"])
            try:
                result = import_file(ws, store, cdr)
            except CdrImportError as exc:
                raise DemoError(_("cannot import {file}: {problem}").format(file=cdr, problem=exc)) from None
            stored = list(store.calls(site="hotel"))
            conn.execute("BEGIN IMMEDIATE")
            alerts = hotel_hook(ws).stored(conn, stored)
            conn.commit()
            rooms = db.rooms_overview(conn)
            late = db.late_charges(conn)
        finally:
            conn.close()
    finally:
        store.close()
    return {"workspace": str(path), "seed": seed, "day": day.isoformat(), "file": str(cdr.relative_to(path)),
            "calls": result.as_json(), "rooms": len(rooms), "occupied": sum(r["stay_id"] is not None for r in rooms),
            "guest_calls": sum(r["calls"] or 0 for r in rooms), "late_charges": len(late),
            "vacant_room_calls": len(alerts), "pms": f"127.0.0.1:{PMS_PORT}"}


def render(summary: dict[str, Any], console: Any) -> None:
    """The hotel demo's summary, in the language (counts and the day in its style; JSON keeps the plain form)."""
    from anatole.demo.text import count
    from store import display

    ws = summary["workspace"]
    try:
        day = display.day(dt.date.fromisoformat(summary["day"]))
    except (TypeError, ValueError):
        day = str(summary["day"])
    console.print("[bold]" + _("Hotel demo") + "[/] " + _(
        "in {workspace}: {rooms} rooms, {occupied} occupied, {calls} guest calls on {day}, {late} late charge(s), "
        "{vacant} call(s) from a vacant room").format(
            workspace=ws, rooms=count(summary["rooms"]), occupied=count(summary["occupied"]),
            calls=count(summary["guest_calls"]), day=day, late=count(summary["late_charges"]),
            vacant=count(summary["vacant_room_calls"])))
    console.print(_("Try the front desk:"), markup=False)
    console.print(f"  anatole --workspace {ws} ui                      # " + _("then 6: Front desk"), markup=False)
    console.print(_("With a PMS and the live daemon (two more terminals):"), markup=False)
    console.print(f"  anatole --workspace {ws} hotel simulate-pms       # "
                  + _("a PMS on {address}").format(address=summary["pms"]), markup=False)
    console.print(f"  anatole --workspace {ws} serve                    # " + _("posts the queued charges to it"),
                  markup=False)
