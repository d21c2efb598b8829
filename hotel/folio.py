"""A stay's folio as text, in the guest's language.

Why here: the folio is what the front desk prints and hands to a guest at check-out, so it follows the guest's
language when the PMS sent one with the check-in (FIAS ``GL``, kept with the stay in ``hotel_stays.language``), and
the hotel's otherwise. The hotel's language is the workspace's (the process language): a hotel runs anatole in
its own language, and the FIAS reference names no separate hotel language.

The CLI and the console lay the folio out (a rich table, a DataTable); this module decides its words, money and
dates: every message goes through the guest's catalog (``i18n.translations(language)``) and every amount and date
through ``store.display`` in the guest's locale (``display.in_locale``), so a French guest's folio reads
``1 234,57 €`` and ``06/12/2026 14:05`` in an English process, and the reverse.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import i18n
from store import display

# FIAS GL values seen in the field and in public interfaces: two-letter codes (FR, EA for English, GE, IT, SP ...),
# one-letter ones (F, E) and ISO 639 names; anything we have no catalog for falls back to the hotel's language
_FIAS_LANGUAGES = {
    "fr": "fr", "f": "fr", "fra": "fr", "fre": "fr", "french": "fr", "francais": "fr", "français": "fr",
    "en": "en", "ea": "en", "e": "en", "eng": "en", "english": "en", "gb": "en", "us": "en", "uk": "en",
}
BILLABLE = ("queued", "posted", "folio", "rejected")  # the charges a guest pays (free and merged legs are shown at 0)


def guest_language(code: str | None, hotel: str | None = None) -> str:
    """Our language for a FIAS ``GL`` value (``FR``, ``F``, ``fr_FR`` → ``fr``; ``EA``, ``E``, ``EN`` → ``en``); the
    hotel's language (default: the process language) for an empty or unknown value (``GE``, ``IT`` ...)."""
    fallback = i18n.normalise(hotel) or i18n.current()
    text = (code or "").strip().lower()
    if not text:
        return fallback
    found = _FIAS_LANGUAGES.get(text) or i18n.normalise(text)
    return found if found in i18n.LANGUAGES else fallback


@dataclass
class Folio:
    """A folio's texts, ready to lay out: a heading, a table (title, columns, rows) and the total line."""

    language: str
    heading: str
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    total: str = ""


def _duration(seconds: int | None) -> str:
    seconds = int(seconds or 0)
    return f"{seconds // 60}:{seconds % 60:02d}"


def render(stay: Mapping[str, Any], charges: Sequence[Mapping[str, Any]], *, currency: str,
           zone: str | None = None, language: str | None = None, hotel_language: str | None = None) -> Folio:
    """The folio of `stay` (a ``hotel_stays`` row) with its `charges` (``store.hotel.folio``), in `language`, else the
    guest's (the stay's FIAS ``GL``), else the hotel's; money exact (never a hidden decimal), per currency."""
    lang = i18n.normalise(language) or guest_language(stay.get("language"), hotel_language)
    t = i18n.translations(lang)
    _, pgettext = t.gettext, t.pgettext
    with display.in_locale(i18n.babel_locale(lang)):
        def when(epoch: int | None) -> str:
            return display.when(epoch, zone, show_zone=False)

        if stay.get("checkout"):
            heading = _("room {room}: {guest}, reservation {reservation}, from {checkin} to {checkout}").format(
                room=stay["room"], guest=stay.get("guest") or "", reservation=stay.get("reservation") or "",
                checkin=when(stay.get("checkin")), checkout=when(stay["checkout"]))
        else:
            heading = _("room {room}: {guest}, reservation {reservation}, from {checkin} (in the room)").format(
                room=stay["room"], guest=stay.get("guest") or "", reservation=stay.get("reservation") or "",
                checkin=when(stay.get("checkin")))
        states = {"queued": pgettext("charge state", "queued"), "posted": pgettext("charge state", "posted"),
                  "rejected": pgettext("charge state", "rejected"), "folio": pgettext("charge state", "folio"),
                  "free": pgettext("charge state", "free"), "vacant": pgettext("charge state", "vacant"),
                  "unpriced": pgettext("charge state", "unpriced"), "merged": pgettext("charge state", "merged"),
                  "failed": pgettext("charge state", "failed")}
        columns = [_("start"), _("number"), _("destination"), pgettext("duration, short", "dur."), _("cost"),
                   _("charge"), _("status"), "P#", _("note")]
        rows = []
        for c in charges:
            state = states.get(c["status"], c["status"])
            if c.get("answer") and c["status"] == "rejected":
                state = _("{state} ({answer})").format(state=state, answer=c["answer"])
            note = c.get("reason") or ""
            if c.get("flagged"):
                note = (note + "; " if note else "") + _("sent twice (unconfirmed)")
            rows.append([when(c.get("start")), c.get("number") or c.get("dialled") or "", c.get("destination") or "",
                         _duration(c.get("duration")),
                         display.amount(c["cost"], c.get("currency") or currency, exact=True)
                         if c.get("cost") is not None else "",
                         display.amount(c["charge"], c.get("currency") or currency, exact=True)
                         if c.get("charge") is not None else "",
                         state, str(c["posting"]) if c.get("posting") is not None else "", note])
        zero = display.money(0, currency, exact=True)
        line = _("total {total}, of which posted to the PMS {posted}").format(
            total=display.totals(_sum(charges, BILLABLE, currency), exact=True, empty=zero),
            posted=display.totals(_sum(charges, ("posted",), currency), exact=True, empty=zero))
        return Folio(lang, heading, _("folio"), columns, rows, line)


def _sum(charges: Iterable[Mapping[str, Any]], states: Sequence[str], currency: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in charges:
        if c["status"] in states and c.get("charge") is not None:
            display.add_total(out, c["charge"], c.get("currency") or currency)
    return out
