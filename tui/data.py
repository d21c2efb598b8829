"""Data access for the screens: the store (read side) and the tariffs. Plain Python, no Textual: every call here
is blocking and runs in a worker thread; the screens get the results as messages.

Two connections: one for pages and single calls (fast, keyset queries), one for totals (a scan that can take
seconds on a big store) which a newer request interrupts, so that typing a filter never waits on an old count.
"""

from __future__ import annotations

import csv
import datetime as dt
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from engine.money import SCALE, format_exact, format_money
from engine.reference import Reference
from i18n import _, pgettext
from store import display
from store.db import Store, StoreError, open_existing
from store.explain import explain_import
from tariffs.compile import CompiledTariff, compile_tariff
from tariffs.errors import TariffError
from tariffs.load import load_tariff
from tariffs.model import ALWAYS, day_from_number
from tui.context import ConsoleContext
from tui.filters import CallFilter

PAGE = 100

__all__ = ["PAGE", "ComponentReader", "Reader", "StoreError", "TariffBook", "money", "local_time", "safe_cell"]


class Reader:
    """The console's read access to the store (thread-safe: each connection has its lock)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._pages: Store | None = None
        self._totals: Store | None = None
        self._page_lock = threading.RLock()
        self._totals_lock = threading.RLock()
        self._totals_generation = 0

    def open(self) -> None:
        """Raises StoreError (missing, locked, newer schema) with a message for the user."""
        with self._page_lock:
            if self._pages is None:
                self._pages = open_existing(self.path)
        with self._totals_lock:
            if self._totals is None:
                self._totals = open_existing(self.path)

    def close(self) -> None:
        for store in (self._pages, self._totals):
            if store is not None:
                store.conn.interrupt()
        with self._page_lock, self._totals_lock:
            for store in (self._pages, self._totals):
                if store is not None:
                    store.close()
            self._pages = self._totals = None

    def _store(self) -> Store:
        if self._pages is None:
            self.open()
        assert self._pages is not None
        return self._pages

    def page(self, flt: CallFilter, *, order: str = "start_desc", after: tuple[Any, int] | None = None,
             before: tuple[Any, int] | None = None, limit: int = PAGE) -> list[dict[str, Any]]:
        with self._page_lock:
            return self._guard(lambda: self._store().calls_page(order=order, after=after, before=before,
                                                                 limit=limit, **flt.store_args()))

    def totals(self, flt: CallFilter) -> dict[str, Any] | None:
        """Totals of the filter, or None when a newer request interrupted this one."""
        self._totals_generation += 1
        mine = self._totals_generation
        if self._totals is not None:
            self._totals.conn.interrupt()  # thread-safe: stops the count in progress, if any
        with self._totals_lock:
            if mine != self._totals_generation:
                return None
            if self._totals is None:
                self._totals = open_existing(self.path)
            try:
                return self._totals.calls_totals(**flt.store_args())
            except sqlite3.OperationalError as exc:
                if "interrupted" in str(exc):
                    return None
                raise StoreError(_("cannot read the database: {error}").format(error=exc)) from None

    def call(self, call_id: int) -> dict[str, Any] | None:
        with self._page_lock:
            return self._guard(lambda: self._store().call(call_id))

    def rejects(self, limit: int = 500) -> list[dict[str, Any]]:
        with self._page_lock:
            return self._guard(lambda: self._store().rejects_page(limit=limit))

    def imports(self, limit: int = 200) -> list[dict[str, Any]]:
        with self._page_lock:
            return self._guard(lambda: self._store().imports(limit=limit))

    def explain(self, import_id: int) -> dict[str, Any] | None:
        """What one import stored and what to fix (store.explain, as `anatole imports explain ID`)."""
        with self._page_lock:
            return self._guard(lambda: explain_import(self._store(), import_id))

    def export(self, target: Path, flt: CallFilter, order: str, ctx: ConsoleContext) -> int:
        """Every call of the view (not only the page shown) to CSV, formulas neutralised; returns the count."""
        count = 0
        target = Path(target)
        tmp = target.with_name(target.name + ".part")
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(EXPORT_FIELDS)
            after = None
            while True:
                rows = self.page(flt, order=order, after=after, limit=5000)
                for row in rows:
                    writer.writerow([safe_cell(v) for v in export_row(row, ctx)])
                count += len(rows)
                if len(rows) < 5000:
                    break
                after = (rows[-1]["sort_key"], rows[-1]["id"])
        tmp.replace(target)
        return count

    @staticmethod
    def _guard(fn: Any) -> Any:
        with store_errors():
            return fn()


@contextmanager
def store_errors() -> Iterator[None]:
    """Database trouble (locked, unreadable) as a StoreError whose message the screen shows."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        text = str(exc)
        if "locked" in text or "busy" in text:
            raise StoreError(_("the database is locked by another program: try again in a moment")) from None
        raise StoreError(_("cannot read the database: {error}").format(error=text)) from None


class ComponentReader:
    """Read access to one store component (invoices, inventory...) from worker threads: one connection, opened on
    first use, guarded by a lock; the component's own errors become StoreErrors."""

    def __init__(self, path: Path, component: Callable[[sqlite3.Connection], Any], error: type[Exception]) -> None:
        self.path = Path(path)
        self._component_of, self._error = component, error
        self._store: Store | None = None
        self._component: Any = None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
            self._store = self._component = None

    def _open(self) -> Any:
        if self._component is None:
            self._store = open_existing(self.path)
            try:
                self._component = self._component_of(self._store.conn)
            except self._error as exc:
                self._store.close()
                self._store = None
                raise StoreError(str(exc)) from None
        return self._component

    def _guard(self, fn: Callable[[Any], Any]) -> Any:
        """fn(component) under the lock; any database trouble becomes a StoreError for the screen."""
        with self._lock, store_errors():
            return fn(self._open())


EXPORT_FIELDS = ("id", "start_local", "start_utc", "site", "source", "direction", "extension", "caller", "dialled",
                 "number", "disposition", "billable_seconds", "billed_seconds", "destination", "prefix", "band",
                 "cost", "currency", "status", "tariff")


def export_row(row: dict[str, Any], ctx: ConsoleContext) -> list[Any]:
    cost = row["cost"]
    return [row["id"], local_time(row["start"], ctx.zone(row["site"]), seconds=True, show_zone=False),
            dt.datetime.fromtimestamp(row["start"], dt.timezone.utc).isoformat().replace("+00:00", "Z"),
            row["site"], row["source"], row["direction"], row["extension"], row["caller"], row["dialled"],
            row["number"], row["disposition"], row["billable"], row["billed_seconds"], row["destination"],
            row["prefix"], row["band"],
            (format_exact(cost) if row["billed"] else "0.00") if cost is not None else None,
            row["currency"], row["status"] if row["billed"] else "merged", row["tariff"]]


def safe_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in exported text: store.cells.neutralise, the one neutraliser."""
    from store.cells import neutralise

    return neutralise(value)


def money(value: int | None, currency: str | None = None, *, exact: bool = False) -> str:
    """Lists and totals: the currency's decimals, grouped, with the currency (store.display); exact=True for details."""
    return display.money(value, currency, exact=exact)


def fraction_text(value: Fraction) -> str:
    """An exact amount (a Fraction of 10**-8 units); '≈' marks one cut at 12 decimals."""
    if value.denominator == 1:
        return format_exact(value.numerator)
    approx = (Decimal(value.numerator) / Decimal(value.denominator) / SCALE).quantize(Decimal("1e-12"))
    return f"≈{approx.normalize():f}"


def local_time(epoch: int | None, zone: str, *, seconds: bool = False, show_zone: bool = True) -> str:
    """``2026-10-31 14:05 CET``: the one date-time style (store.display.when); exports pass show_zone=False."""
    return display.when(epoch, zone, seconds=seconds, show_zone=show_zone)


def short_time(epoch: int, zone: str, now: float) -> str:
    """``14:05:03 CET`` for today in the zone, the full date-time before: the live stream's column."""
    return display.clock(epoch, zone, now)


def zone_name(epoch: int | None, zone: str) -> str:
    """The zone's abbreviation at that instant (``CET``, ``CEST``, ``BST``), as local_time shows it."""
    if epoch is None:
        return ""
    try:
        from tui.context import zoneinfo

        return dt.datetime.fromtimestamp(float(epoch), zoneinfo(zone)).tzname() or "UTC"
    except Exception:
        return "UTC"


def direction_label(direction: str | None) -> str:
    """The short direction a list shows (``out``, ``in``, ``int``, ``tr``), in the user's language; the filter
    word (`dir:out`) stays the English one."""
    labels = {"outgoing": pgettext("direction", "out"), "incoming": pgettext("direction", "in"),
              "internal": pgettext("direction", "int"), "transit": pgettext("direction", "tr")}
    return labels.get(direction or "", direction or "")


def direction_word(direction: str | None) -> str:
    """The direction spelled out (``incoming``), in the user's language."""
    labels = {"outgoing": pgettext("direction", "outgoing"), "incoming": pgettext("direction", "incoming"),
              "internal": pgettext("direction", "internal"), "transit": pgettext("direction", "transit")}
    return labels.get(direction or "", direction or "")


# One character per status, for the status column of a narrow terminal (htop's S column): language-neutral, the
# legend is in the help screen (STATUS_LEGEND) and the detail view spells the status out.
STATUS_GLYPHS = {"rated": "✓", "no_rate": "?", "no_tariff": "⊘", "unanswered": "–", "incoming": "·",
                 "internal": "·", "transit": "·", "service": "○", "emergency": "!", "invalid": "✗"}


def status_glyph(status: str | None) -> str:
    return STATUS_GLYPHS.get(status or "", (status or " ")[:1])


def status_legend() -> list[tuple[str, str]]:
    """(glyph, meaning) for the help screen."""
    return [("✓", status_label("rated")), ("?", _("no rate for the number (no_rate)")),
            ("⊘", _("no tariff for the site (no_tariff)")), ("–", status_label("unanswered")),
            ("·", _("not charged: incoming, internal, transit")), ("○", _("service number")),
            ("!", _("emergency number")), ("✗", _("invalid record"))]


def duration_text(seconds: int | None) -> str:
    if seconds is None:
        return ""
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


# --- tariffs ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TariffEntry:
    label: str  # the file name, as calls.tariff stores it
    path: Path
    sites: tuple[str, ...]


class TariffBook:
    """The workspace's tariffs, compiled on first use (compiling a large deck takes a moment: call in a worker)."""

    def __init__(self, ctx: ConsoleContext) -> None:
        self.ctx = ctx
        self._compiled: dict[Path, CompiledTariff] = {}
        self._lock = threading.Lock()

    def entries(self) -> list[TariffEntry]:
        out = []
        for label, path in sorted(self.ctx.tariffs.items()):
            sites = tuple(s.name for s in self.ctx.sites.values() if s.tariff is not None and
                          Path(s.tariff) == Path(path))
            out.append(TariffEntry(label, Path(path), sites))
        return out

    def compiled(self, path: Path) -> CompiledTariff:
        """Raises TariffError (its render() lists every problem)."""
        with self._lock:
            if path not in self._compiled:
                self._compiled[path] = compile_tariff(load_tariff(path))
            return self._compiled[path]

    def for_call(self, row: dict[str, Any]) -> CompiledTariff | None:
        """The tariff that priced a stored call (calls.tariff is its file name), if still in the workspace."""
        name = row.get("tariff")
        path = self.ctx.tariffs.get(name) if name else None
        if path is None:
            return None
        try:
            return self.compiled(path)
        except TariffError:
            return None

    def summary(self, entry: TariffEntry) -> dict[str, Any]:
        c = self.compiled(entry.path)
        t = c.tariff
        versions = sorted({day_from_number(int(d)).isoformat() for d in set(t.rows.effective_from.tolist())
                           if d != ALWAYS})
        return {"name": t.name, "description": t.description, "currency": t.currency, "timezone": t.timezone,
                "decimals": t.decimals, "mode": t.mode, "increment_decimals": t.increment_decimals,
                "anchor": t.anchor, "split": t.split, "band_names": [b.name for b in t.bands], "versions": versions,
                **c.stats}


def rate_rows(c: CompiledTariff, search: str | None, limit: int = 500) -> tuple[list[dict[str, Any]], int]:
    """Deck rows in rate order, those related to `search` digits (prefix of it, or it a prefix of them); the first
    `limit` and how many match. The same rows as `anatole tariff show --search`."""
    t, rows = c.tariff, c.tariff.rows
    lo = c.arrays["rate_slot_lo"]
    out: list[dict[str, Any]] = []
    matching = 0
    for rate in range(len(c.rate_row)):
        prefix = c.prefixes[int(c.rate_prefix[rate])]
        if search and not (prefix.startswith(search) or search.startswith(prefix)):
            continue
        first = int(c.rate_row[rate])
        for k in range(int(lo[rate]), int(lo[rate + 1])):
            matching += 1
            if len(out) >= limit:
                continue
            row = int(c.slot_row[k])
            eff = int(rows.effective_from[row])
            out.append({
                "prefix": prefix, "destination": rows.destinations[int(rows.destination[first])],
                "band": t.band_name(int(rows.band[row])), "from": int(rows.slot_from[row]),
                "price": format_exact(int(rows.price[row])), "unit": int(rows.unit[row]),
                "increment": int(rows.increment[row]),
                "connect_fee": format_exact(int(rows.connect_fee[first])),
                "effective_from": day_from_number(eff).isoformat() if eff != ALWAYS else "",
            })
    return out, matching


def quote(c: CompiledTariff, digits: str, start: int, duration: int) -> dict[str, Any]:
    """What a call costs with this tariff, and why: the engine's result, explained part by part by the reference
    implementation (the same as `anatole tariff quote`)."""
    t = c.tariff
    info = c.describe(c.rate([digits], [start], [duration]), 0)
    explain = Reference(t).quote(digits, start, duration)
    bands: list[str] = []
    for part in explain.parts:
        name = t.bands[part.band].name if part.band >= 0 else None
        if name and (not bands or bands[-1] != name):
            bands.append(name)
    out = {**info, "number": digits, "start_local": local_time(start, t.timezone, seconds=True, show_zone=False),
           "timezone": t.timezone, "duration": duration, "bands": bands, "currency": t.currency,
           "decimals": t.decimals, "mode": t.mode, "increment_decimals": t.increment_decimals,
           "cost_text": format_money(info["cost"], t.decimals) if info["status"] == "rated" else "",
           "connect_fee": format_exact(explain.rate.connect_fee) if explain.rate is not None else "",
           "unrounded": fraction_text(explain.unrounded) if explain.rate is not None else "",
           "parts": [{"band": t.bands[p.band].name if p.band >= 0 else "*", "prefix": p.rate.prefix,
                      "slot_from": p.slot.start, "from": p.begin, "to": p.end, "increments": p.increments,
                      "increment": p.slot.increment, "price": f"{format_exact(p.slot.price)}/{p.slot.unit}s",
                      "amount": fraction_text(p.cost)} for p in explain.parts]}
    return out


def quote_text(q: dict[str, Any]) -> str:
    """A quote as a few lines of Rich markup-free text."""
    if q["status"] == "invalid":
        return _("{number}: the duration is out of range (0 to 604800 s)").format(number=q["number"])
    if q["status"] == "no_rate":
        if q["prefix"] is None:
            return _("{number}: no rate — no prefix of the tariff matches it").format(number=q["number"])
        return _("{number}: no rate — prefix {prefix} has no rate in force at {start}").format(
            number=q["number"], prefix=q["prefix"], start=q["start_local"])
    none, anyp = _("(none)"), _("(any)")
    lines = [_("{number} → {destination} (prefix {prefix}) · band {bands}").format(
                 number=q["number"], destination=q["destination"], prefix=q["prefix"] or anyp,
                 bands=" → ".join(q["bands"]) or none),
             _("start {start} {zone} · {duration} s billed {billed} s · cost {cost} (exact {exact} {currency})").format(
                 start=q["start_local"], zone=q["timezone"], duration=q["duration"], billed=q["billed_seconds"],
                 cost=display.money(q["cost"], q["currency"]), exact=display.decimal_marks(q["cost_text"]),
                 currency=q["currency"])]
    for p in q["parts"]:
        lines.append("  " + _("{band} {prefix} {start}–{end} s  {count} × {increment} s at {price} = {amount}").format(
            band=f"{p['band']:<10}", prefix=f"{p['prefix'] or anyp:<8}", start=f"{p['from']:>5}",
            end=f"{p['to']:<5}", count=p["increments"], increment=p["increment"],
            price=display.decimal_marks(p["price"]), amount=display.decimal_marks(p["amount"])))
    inc = (_("each increment rounded half_up to {decimals} decimals").format(decimals=q["increment_decimals"])
           if q["increment_decimals"] is not None else _("exact until the call is rounded"))
    if q["connect_fee"] not in ("", "0.00"):
        last = _("connect fee {fee} · unrounded {unrounded} · rounded {mode} to {decimals} decimals ({how})")
    else:
        last = _("unrounded {unrounded} · rounded {mode} to {decimals} decimals ({how})")
    lines.append("  " + last.format(fee=display.decimal_marks(q["connect_fee"]),
                                    unrounded=display.decimal_marks(q["unrounded"]), mode=q["mode"],
                                    decimals=q["decimals"], how=inc))
    return "\n".join(lines)


status_label = display.call_status  # the console's name for it
