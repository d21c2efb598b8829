"""The hotel model: rooms mapped to extensions, the guest charge rules and the PMS link settings, read from
anatole.toml (`[hotel]`, `[[room]]`, `[pms]`; rooms may also come from a CSV file), validated fully.

Guest price (all money exact, engine.money units of 10**-8):

    net   = max(base x (1 + markup_percent / 100) + surcharge, minimum)
    price = net x (1 + tax_percent / 100), rounded once to `decimals` by the named `rounding`

`base` is the call's cost (the site's tariff), or its price under `guest_tariff` when one is set. Free calls
(emergency numbers, toll-free numbers, `free_numbers`, zero price) are kept on the folio at 0 and never posted.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import phonenumbers

from engine.money import DECIMALS, ROUNDING_MODES, SCALE, MoneyError, divide_round, parse_money
from i18n import _
from ingest.dialplan import parse_ranges

HOTEL_KEYS = {"site", "rooms_csv", "admin_extensions", "markup_percent", "surcharge", "minimum", "tax_percent",
              "decimals", "rounding", "free_numbers", "free_toll_free", "guest_tariff", "post_late", "vacant_alert"}
ROOM_KEYS = {"number", "extension", "class_of_service"}
PMS_KEYS = {"protocol", "connect", "lrc", "encoding", "posting", "interface", "mode", "timeout", "keepalive",
            "start_wait", "retry"}
HUNDRED = 100 * SCALE

Add = Callable[[str, "str | None", str], None]


@dataclass(frozen=True)
class Room:
    number: str
    extension: str
    class_of_service: int | None = None


@dataclass(frozen=True)
class ChargeRules:
    """How a guest call is priced. Percentages and amounts in 10**-8 units."""

    markup: int = 0
    surcharge: int = 0
    minimum: int = 0
    tax: int = 0
    decimals: int = 2
    rounding: str = "half_up"

    def price(self, base: int) -> int:
        """The guest price of a call whose base price is `base`, rounded once to the currency's minor unit."""
        net = Fraction(base * (HUNDRED + self.markup), HUNDRED) + self.surcharge
        net = max(net, Fraction(self.minimum))
        gross = net * Fraction(HUNDRED + self.tax, HUNDRED)
        quantum = 10 ** (DECIMALS - self.decimals)
        return divide_round(gross.numerator, gross.denominator * quantum, self.rounding) * quantum

    def minor_units(self, amount: int) -> int:
        """An amount (rounded to `decimals`) as the PMS wants it: an integer count of minor units (FIAS TA)."""
        return amount // 10 ** (DECIMALS - self.decimals)


@dataclass(frozen=True)
class PmsConfig:
    protocol: str
    connect: str
    lrc: bool = False  # the LRC byte after ETX: serial links only, by default
    encoding: str = "cp850"
    posting: str = "C"  # C: we price (TA); T: the PMS prices from DU + DD
    interface: str = "CA"  # FIAS interface family in LD: CA call accounting, PB PBX
    mode: str = "room"  # room-based, or guest-based (G# sent with each posting)
    timeout: float = 30.0  # seconds to wait for a PA or an LA
    keepalive: float = 300.0  # seconds between LS keep-alives
    start_wait: float = 3.0  # seconds to wait for the PMS's LS after connecting before sending LD ourselves
    retry: float = 30.0  # seconds before resending a posting answered RY


@dataclass
class HotelConfig:
    site: str
    rooms: list[Room] = field(default_factory=list)
    admin: list[tuple[str, str]] = field(default_factory=list)
    rules: ChargeRules = field(default_factory=ChargeRules)
    free_numbers: tuple[str, ...] = ()
    free_toll_free: bool = True
    guest_tariff: Path | None = None
    post_late: bool = True
    vacant_alert: bool = True
    pms: PmsConfig | None = None

    @functools.cached_property
    def by_extension(self) -> dict[str, Room]:
        return {r.extension: r for r in self.rooms}

    def room(self, number: str) -> Room | None:
        return next((r for r in self.rooms if r.number == number), None)

    def is_free(self, number: str | None, dialled: str | None, status: str | None) -> str:
        """Why a call is free ("" when it is not): emergency, toll-free or a listed number."""
        if status == "emergency":
            return _("emergency number")
        digits = re.sub(r"\D", "", dialled or "")
        for free in self.free_numbers:
            if (number and number.startswith(free)) or digits == free:
                return _("free number {number}").format(number=free)
        if self.free_toll_free and number and _toll_free(number):
            return _("toll-free number")
        return ""


@functools.lru_cache(maxsize=50_000)
def _toll_free(e164: str) -> bool:
    try:
        parsed = phonenumbers.parse("+" + e164)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.TOLL_FREE


def parse_config(doc: dict[str, Any], root: Path, where: str, add: Add, sites: dict[str, Any]) -> HotelConfig | None:
    """[hotel], [[room]] and [pms] from anatole.toml; None when the workspace is not a hotel (none of them).
    Every problem goes to `add(at, key, message)`."""
    raw_hotel, raw_rooms, raw_pms = doc.get("hotel"), doc.get("room"), doc.get("pms")
    if raw_hotel is None and raw_rooms is None and raw_pms is None:
        return None
    hotel = raw_hotel if isinstance(raw_hotel, dict) else {}
    if raw_hotel is not None and not isinstance(raw_hotel, dict):
        add(where, "hotel", _("must be a table ([hotel])"))
    at = f"{where} [hotel]"
    for key in sorted(set(hotel) - HOTEL_KEYS):
        add(at, key, _("unknown key (expected one of: {keys})").format(keys=", ".join(sorted(HOTEL_KEYS))))
    site = hotel.get("site")
    if site is None:
        if len(sites) == 1:
            site = next(iter(sites))
        else:
            add(at, "site", _("required when there are several sites ({sites})").format(
                sites=", ".join(sites) or _("none")))
            site = ""
    elif not isinstance(site, str) or site not in sites:
        add(at, "site", _("{site}: no [[site]] of that name (sites: {sites})").format(
            site=repr(site), sites=", ".join(sites) or _("none")))
        site = ""
    cfg = HotelConfig(site=site)
    cfg.rules = _rules(hotel, at, add)
    cfg.admin = _ranges(hotel, "admin_extensions", at, add)
    free = hotel.get("free_numbers", [])
    if not isinstance(free, list) or not all(isinstance(x, str) and x.isdigit() for x in free):
        add(at, "free_numbers", _("{value} must be a list of digit strings (E.164 prefixes such as \"33800\", or "
                                  "numbers as dialled such as \"9\" for the reception)").format(value=repr(free)))
    else:
        cfg.free_numbers = tuple(free)
    for key in ("free_toll_free", "post_late", "vacant_alert"):
        if key in hotel:
            if isinstance(hotel[key], bool):
                setattr(cfg, key, hotel[key])
            else:
                add(at, key, _("{value} is not true or false").format(value=repr(hotel[key])))
    if "guest_tariff" in hotel:
        value = hotel["guest_tariff"]
        path = root / value if isinstance(value, str) and value else None
        if path is None or not path.exists():
            add(at, "guest_tariff", _("{value}: no such tariff file (paths are relative to the workspace)").format(
                value=repr(value)))
        else:
            cfg.guest_tariff = path
    rooms: list[Room] = []
    if raw_rooms is not None:
        if not isinstance(raw_rooms, list) or not all(isinstance(r, dict) for r in raw_rooms):
            add(where, "room", _("must be an array of tables ([[room]])"))
        else:
            for n, raw in enumerate(raw_rooms, 1):
                room = _room(raw, f"{where} [[room]] #{n}", add)
                if room is not None:
                    rooms.append(room)
    if "rooms_csv" in hotel:
        rooms += _rooms_csv(hotel["rooms_csv"], root, at, add)
    seen_room: dict[str, str] = {}
    seen_ext: dict[str, str] = {}
    for room in rooms:
        if room.number in seen_room:
            add(at, "room", _("room {room} is mapped twice (extensions {first} and {second})").format(
                room=room.number, first=seen_room[room.number], second=room.extension))
        if room.extension in seen_ext:
            add(at, "room", _("extension {extension} is mapped to rooms {first} and {second}").format(
                extension=room.extension, first=seen_ext[room.extension], second=room.number))
        if any(len(room.extension) == len(lo) and lo <= room.extension <= hi for lo, hi in cfg.admin):
            add(at, "admin_extensions", _("extension {extension} of room {room} is also listed as an admin "
                                          "extension").format(extension=room.extension, room=room.number))
        seen_room[room.number] = room.extension
        seen_ext[room.extension] = room.number
    cfg.rooms = rooms
    if raw_pms is not None:
        if not isinstance(raw_pms, dict):
            add(where, "pms", _("must be a table ([pms])"))
        else:
            cfg.pms = _pms(raw_pms, f"{where} [pms]", add)
    return cfg


def _money(raw: dict, key: str, at: str, add: Add, *, percent: bool = False) -> int:
    value = raw.get(key, "0")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        add(at, key, _("{value} must be a decimal string such as \"0.50\" (money is never a float)").format(
            value=repr(value)))
        return 0
    try:
        amount = parse_money(str(value))
    except MoneyError as exc:
        add(at, key, str(exc))
        return 0
    if amount < 0 or (percent and amount > 1000 * SCALE):
        add(at, key, (_("{value} must be between 0 and 1000") if percent else _("{value} must be zero or more")
                      ).format(value=repr(value)))
        return 0
    return amount


def _rules(hotel: dict, at: str, add: Add) -> ChargeRules:
    decimals = hotel.get("decimals", 2)
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 4:
        add(at, "decimals", _("{value} must be 0 to 4 (the currency's minor unit: 2 for EUR, 0 for JPY)").format(
            value=repr(decimals)))
        decimals = 2
    rounding = hotel.get("rounding", "half_up")
    if rounding not in ROUNDING_MODES:
        add(at, "rounding", _("{value} is not one of {modes}").format(value=repr(rounding),
                                                                     modes=", ".join(ROUNDING_MODES)))
        rounding = "half_up"
    rules = ChargeRules(markup=_money(hotel, "markup_percent", at, add, percent=True),
                        surcharge=_money(hotel, "surcharge", at, add), minimum=_money(hotel, "minimum", at, add),
                        tax=_money(hotel, "tax_percent", at, add, percent=True), decimals=decimals, rounding=rounding)
    quantum = 10 ** (DECIMALS - decimals)
    for key in ("surcharge", "minimum"):
        if getattr(rules, key) % quantum:
            add(at, key, _("{value} has more decimals than the currency's {decimals}").format(
                value=repr(hotel.get(key)), decimals=decimals))
    return rules


def _ranges(raw: dict, key: str, at: str, add: Add) -> list[tuple[str, str]]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        add(at, key, _("must be a list of ranges like [\"2900-2999\", \"2000\"]"))
        return []
    try:
        return parse_ranges([str(x) for x in value])
    except ValueError as exc:
        add(at, key, str(exc))
        return []


def _digits_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    return value if isinstance(value, str) else None


def _room(raw: dict, at: str, add: Add) -> Room | None:
    for key in sorted(set(raw) - ROOM_KEYS):
        add(at, key, _("unknown key (expected one of: {keys})").format(keys=", ".join(sorted(ROOM_KEYS))))
    number = _digits_text(raw.get("number"))
    extension = _digits_text(raw.get("extension"))
    ok = True
    if not number or not re.fullmatch(r"[A-Za-z0-9]{1,8}", number):
        add(at, "number", _("{value} must be a room number of 1 to 8 letters or digits (FIAS RN)").format(
            value=repr(raw.get("number"))))
        ok = False
    if not extension or not extension.isdigit():
        add(at, "extension", _("{value} must be an extension (digits)").format(value=repr(raw.get("extension"))))
        ok = False
    cos = raw.get("class_of_service")
    if cos is not None and (isinstance(cos, bool) or cos not in (0, 1, 2, 3)):
        add(at, "class_of_service", _("{value} must be 0 (internal only), 1 (local), 2 (national) or 3 "
                                      "(unrestricted)").format(value=repr(cos)))
        ok = False
    return Room(number, extension, cos) if ok else None  # type: ignore[arg-type]


def _rooms_csv(value: Any, root: Path, at: str, add: Add) -> list[Room]:
    """Rooms from a CSV file with a header: number, extension[, class_of_service]."""
    if not isinstance(value, str) or not value:
        add(at, "rooms_csv", _("{value} is not a path to a CSV file").format(value=repr(value)))
        return []
    path = root / value
    if not path.is_file():
        add(at, "rooms_csv", _("{value}: no such file (paths are relative to the workspace)").format(
            value=repr(value)))
        return []
    out: list[Room] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in reader.fieldnames or []]
            if not {"number", "extension"} <= set(header):
                add(f"{path.name}:1", None, _("the header must have number and extension columns (has "
                                              "{header})").format(header=header))
                return []
            for row in reader:
                row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
                raw: dict[str, Any] = {"number": row.get("number"), "extension": row.get("extension")}
                if row.get("class_of_service"):
                    cos = row["class_of_service"]
                    raw["class_of_service"] = int(cos) if cos.isdigit() else cos
                room = _room(raw, f"{path.name}:{reader.line_num}", add)
                if room is not None:
                    out.append(room)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        add(f"{path.name}", None, _("cannot read: {error}").format(error=exc))
    return out


def _pms(raw: dict, at: str, add: Add) -> PmsConfig | None:
    for key in sorted(set(raw) - PMS_KEYS):
        add(at, key, _("unknown key (expected one of: {keys})").format(keys=", ".join(sorted(PMS_KEYS))))
    ok = True
    protocol = raw.get("protocol")
    if protocol != "fias":
        add(at, "protocol", _("{value}: the supported protocol is \"fias\" (Oracle Hospitality IFC8)").format(
            value=repr(protocol)))
        ok = False
    connect = raw.get("connect")
    if not isinstance(connect, str) or not re.fullmatch(r"[\w.\-:\[\]]+:\d{1,5}", connect):
        add(at, "connect", _("{value} is not HOST:PORT (the PMS interface is the TCP server, we connect)").format(
            value=repr(connect)))
        ok = False
    values: dict[str, Any] = {}
    for key, kind in (("lrc", bool), ("encoding", str), ("posting", str), ("interface", str), ("mode", str)):
        if key in raw:
            if not isinstance(raw[key], kind):
                add(at, key, (_("{value} must be true or false") if kind is bool else
                              _("{value} must be a string")).format(value=repr(raw[key])))
                ok = False
            else:
                values[key] = raw[key]
    if values.get("posting", "C") not in ("C", "T"):
        add(at, "posting", _("{value} must be \"C\" (we send the price) or \"T\" (the PMS prices from duration "
                             "and digits)").format(value=repr(values["posting"])))
        ok = False
    if values.get("interface", "CA") not in ("CA", "PB"):
        add(at, "interface", _("{value} must be \"CA\" (call accounting) or \"PB\" (PBX)").format(
            value=repr(values["interface"])))
        ok = False
    if values.get("mode", "room") not in ("room", "guest"):
        add(at, "mode", _("{value} must be \"room\" or \"guest\"").format(value=repr(values["mode"])))
        ok = False
    if "encoding" in values:
        import codecs

        try:
            codecs.lookup(values["encoding"])
        except LookupError:
            add(at, "encoding", _("{value} is not a known encoding (e.g. cp850, latin-1, utf-8)").format(
                value=repr(values["encoding"])))
            ok = False
    for key, low in (("timeout", 0.05), ("keepalive", 0.05), ("start_wait", 0.0), ("retry", 0.0)):
        if key in raw:
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
                add(at, key, _("{value} must be a number of seconds, at least {low}").format(value=repr(value),
                                                                                           low=f"{low:g}"))
                ok = False
            else:
                values[key] = float(value)
    if not ok:
        return None
    return PmsConfig(protocol=protocol, connect=connect, **values)  # type: ignore[arg-type]
