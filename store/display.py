"""Money and time on screen: the one formatting module for the CLI, the console and report display columns.

Why here: store/ is importable by every core package and by tui/, while engine/ must stay free of our imports and of
Babel (it is pure computation). Exports and storage keep exact amounts (engine.money.format_exact); this module only
decides how an amount or an instant *looks*:

- lists, totals, charts: the currency's CLDR decimals (Babel), rounded half-even, grouping separators, and the
  currency code always attached: ``1,234.57 EUR``, ``1,500 JPY``, ``0.125 BHD``;
- details: ``money(..., exact=True)`` keeps every significant decimal (at least the currency's), still grouped;
- totals are kept per currency and never added across currencies;
- times: ``2026-10-31 14:05 CET`` (four-digit year, the site's zone, the zone's abbreviation), ``2 min ago``.

Nothing here raises on a legitimate amount: any int (int64 and beyond) with any currency code formats.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import i18n
from engine.money import DECIMALS, SCALE, currency_decimals, divide_round, format_amount, format_exact, parse_money
from i18n import _, pgettext

DISPLAY_ROUNDING = "half_even"  # named: a displayed amount is rounded to the nearest, ties to even
_locale: str | None = None  # None: the language's (i18n.babel_locale: en, or fr_FR for French)
_reader: ContextVar[str | None] = ContextVar("display_reader_locale", default=None)  # see in_locale


def set_locale(name: str | None) -> None:
    """Use a CLDR locale for grouping, decimal separators and the date style; None follows the language (``en``
    formats ``1,234.56`` and ``2026-12-06``, ``fr_FR`` ``1 234,56`` and ``06/12/2026``). An unknown one is ignored."""
    global _locale
    if name:
        try:
            from babel import Locale

            Locale.parse(name)
        except Exception:  # unknown locale: keep the current one, formatting must never fail
            return
    _locale = name or None


def locale() -> str:
    """The CLDR locale numbers and dates are shown in now."""
    return _reader.get() or _locale or i18n.babel_locale()


@contextmanager
def in_locale(name: str | None) -> Iterator[None]:
    """Format for one reader in another locale inside the block (a guest's folio in the guest's language): a
    context variable, so other threads and tasks keep theirs. None changes nothing."""
    token = _reader.set(name) if name else None
    try:
        yield
    finally:
        if token is not None:
            _reader.reset(token)


@lru_cache(maxsize=256)
def decimals_for(currency: str | None) -> int:
    """The currency's CLDR decimals (Babel); ISO 4217's table when Babel does not know it; 2 when empty."""
    code = (currency or "").strip().upper()
    if not code:
        return 2
    try:
        from babel.numbers import get_currency_precision

        return max(0, min(int(get_currency_precision(code)), DECIMALS))
    except Exception:
        return currency_decimals(code)


def round_display(value: int, currency: str | None) -> int:
    """value (units of 10**-8) rounded half-even to the currency's display decimals, still in units of 10**-8."""
    quantum = 10 ** (DECIMALS - decimals_for(currency))
    return divide_round(int(value), quantum, DISPLAY_ROUNDING) * quantum


@lru_cache(maxsize=64)
def _pattern(places: int) -> str:
    return "#,##0" + ("." + "0" * places if places else "")


def _grouped(value: int, places: int) -> str:
    """units of 10**-8 with exactly `places` decimals (value already rounded to them), grouped for the locale."""
    number = Decimal(int(value)) / SCALE
    try:
        from babel.numbers import format_decimal

        return format_decimal(number, format=_pattern(places), locale=locale(), decimal_quantization=True)
    except Exception:
        return format_amount(int(value), places)


def amount(value: int | None, currency: str | None = None, *, exact: bool = False) -> str:
    """The number alone (no currency): for table cells whose column already names the currency."""
    if value is None:
        return ""
    try:
        value = int(value)
        if exact:
            frac = f"{abs(value) % SCALE:0{DECIMALS}d}".rstrip("0")
            return _grouped(value, max(len(frac), decimals_for(currency)))
        return _grouped(round_display(value, currency), decimals_for(currency))
    except Exception:  # never raise on screen
        return format_amount(int(value)) if isinstance(value, int) else str(value)


def money(value: int | None, currency: str | None = None, *, exact: bool = False) -> str:
    """``1,234.57 EUR``: the currency's decimals (half-even), grouped, with the currency; exact=True keeps every
    significant decimal (details). None is an empty cell."""
    if value is None:
        return ""
    code = (currency or "").strip().upper()
    if code and locale().split("_")[0] != "en":
        styled = _localised(value, code, exact)
        if styled:
            return styled
    text = amount(value, currency, exact=exact)
    return f"{text} {code}" if code else text


def _localised(value: int, code: str, exact: bool) -> str | None:
    """The locale's own money style from CLDR (``1 234,57 €``, ``12,50 $US``) with our decimals; None when the
    locale's pattern is one we cannot widen (then ``1 234,57 EUR``)."""
    try:
        from babel.numbers import format_currency

        value = int(value)
        places = decimals_for(code)
        if exact:
            places = max(len(f"{abs(value) % SCALE:0{DECIMALS}d}".rstrip("0")), places)
        else:
            value = round_display(value, code)
        pattern = _currency_pattern(locale(), places)
        if pattern is None:
            return None
        return format_currency(Decimal(value) / SCALE, code, format=pattern, locale=locale(), currency_digits=False,
                               decimal_quantization=True)
    except Exception:
        return None


@lru_cache(maxsize=64)
def _currency_pattern(name: str, places: int) -> str | None:
    """The locale's standard currency pattern with `places` decimals; None when it has no ``0.00`` to widen."""
    from babel import Locale

    standard = Locale.parse(name).currency_formats["standard"].pattern.split(";")[0]
    if "0.00" not in standard:
        return None
    return standard.replace("0.00", "0" + ("." + "0" * places if places else ""), 1)


def from_text(text: str | None, currency: str | None = None, *, exact: bool = False, code: bool = True) -> str:
    """An exact decimal string (a JSON summary's ``"1234.5678"``) shown like money(): the currency's decimals,
    grouped, with the currency unless code=False (a column that names it). Text that is not an amount is kept."""
    if text is None or text == "":
        return ""
    try:
        value = parse_money(str(text))
    except Exception:
        return str(text)
    return money(value, currency, exact=exact) if code else amount(value, currency, exact=exact)


def decimal_marks(text: str) -> str:
    """Every decimal number inside `text` (``0.08/60s``, ``≈0.0466``) with the locale's decimal mark, every digit
    kept: exact figures in a sentence for a French reader (``0,08/60s``). English text comes back unchanged."""
    try:
        from babel.numbers import get_decimal_symbol

        mark = get_decimal_symbol(locale())
    except Exception:
        return text
    return text if mark == "." else _DECIMAL.sub(lambda m: m.group(1) + mark + m.group(2), text)


_DECIMAL = re.compile(r"(\d)\.(\d)")


def plain(value: int | None) -> str | None:
    """The exact machine form (JSON, CSV, exports): every significant decimal, no grouping, no currency."""
    return None if value is None else format_exact(int(value))


def add_total(totals: dict[str, int], value: int | None, currency: str | None) -> None:
    """Add one amount to per-currency totals (a missing currency is kept under "")."""
    if value is not None:
        key = (currency or "").upper()
        totals[key] = totals.get(key, 0) + int(value)


def totals_by_currency(rows: Iterable[Mapping[str, Any]], value: str = "cost", currency: str = "currency",
                       ) -> dict[str, int]:
    """Per-currency sums of rows[value]; never one sum across currencies."""
    out: dict[str, int] = {}
    for r in rows:
        add_total(out, r.get(value), r.get(currency))
    return out


def totals(by_currency: Mapping[str, int], *, exact: bool = False, empty: str = "—", sep: str = " · ") -> str:
    """``1,234.57 EUR · 1,500 JPY``: one figure per currency, sorted by currency, never added together."""
    parts = [money(v, c, exact=exact) for c, v in sorted(by_currency.items())]
    return sep.join(parts) or empty


def cost_sort_key(value: int | None, currency: str | None) -> tuple[str, int]:
    """Sort by cost within currency: the workspace has no exchange rates, so currencies are grouped first."""
    return ((currency or "").upper(), -(value or 0))


# --- time ---------------------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _zone(name: str | None) -> dt.tzinfo:
    try:
        return ZoneInfo(name) if name else dt.timezone.utc
    except Exception:
        return dt.timezone.utc


def when(epoch: float | None, zone: str | None = None, *, seconds: bool = False, show_zone: bool = True) -> str:
    """``2026-10-31 14:05 CET``: four-digit year, the instant in `zone` (a site's), the zone's abbreviation."""
    if epoch is None:
        return ""
    try:
        t = dt.datetime.fromtimestamp(float(epoch), _zone(zone))
    except (OverflowError, OSError, ValueError):
        return str(epoch)
    text = t.strftime(f"{date_pattern()} %H:%M:%S" if seconds else f"{date_pattern()} %H:%M")
    return f"{text} {t.tzname() or 'UTC'}" if show_zone else text


def day(value: dt.date | None) -> str:
    """A calendar day in the locale's style with a four-digit year: ``2026-12-06`` (en), ``06/12/2026`` (fr_FR)."""
    return "" if value is None else value.strftime(date_pattern())


def iso_day(text: str | None) -> str:
    """An ISO day as the store keeps it (``2026-10-31``) in the language's style (``31/10/2026``); text that is not
    a day is shown as it is."""
    if not text:
        return ""
    try:
        return day(dt.date.fromisoformat(text))
    except ValueError:
        return text


def call_status(status: str | None) -> str:
    """A call's status as lists show it: the stored code itself in English (what filters take), a word in French
    (the catalog's "call status" context, shared by the CLI and the console)."""
    labels = {"rated": pgettext("call status", "rated"), "no_rate": pgettext("call status", "no_rate"),
              "unanswered": pgettext("call status", "unanswered"), "incoming": pgettext("call status", "incoming"),
              "internal": pgettext("call status", "internal"), "transit": pgettext("call status", "transit"),
              "service": pgettext("call status", "service"), "emergency": pgettext("call status", "emergency"),
              "invalid": pgettext("call status", "invalid"), "no_tariff": pgettext("call status", "no_tariff"),
              "merged": pgettext("call status", "merged")}
    return labels.get(status or "", status or "")


def invoice_state(state: str) -> str:
    """An invoice's workflow state as a person reads it (the stored value stays English)."""
    return {"received": pgettext("invoice state", "received"), "validated": pgettext("invoice state", "validated"),
            "invalid": pgettext("invoice state", "invalid"), "in_dispute": pgettext("invoice state", "in_dispute"),
            "approved": pgettext("invoice state", "approved"), "allocated": pgettext("invoice state", "allocated"),
            "exported": pgettext("invoice state", "exported")}.get(state, state)


def charge_category(category: str) -> str:
    """A charge's FOCUS-style category as a person reads it (the stored value stays English)."""
    return {"recurring": pgettext("charge category", "recurring"), "usage": pgettext("charge category", "usage"),
            "one_time": pgettext("charge category", "one_time"), "discount": pgettext("charge category", "discount"),
            "tax": pgettext("charge category", "tax")}.get(category, category)


def date_pattern() -> str:
    """strftime pattern of a day: ISO for English (sorts, reads everywhere), else the locale's short date from CLDR
    with the year widened to four digits (``dd/MM/y`` → ``%d/%m/%Y``)."""
    return _date_pattern(locale())


@lru_cache(maxsize=16)
def _date_pattern(name: str) -> str:
    if name.split("_")[0] == "en":
        return "%Y-%m-%d"
    try:
        from babel import Locale

        cldr = Locale.parse(name).date_formats["short"].pattern
    except Exception:
        return "%Y-%m-%d"
    out, i = [], 0
    while i < len(cldr):
        ch = cldr[i]
        run = len(cldr[i:]) - len(cldr[i:].lstrip(ch))
        if ch == "y":
            out.append("%Y")
        elif ch == "M":
            out.append("%m")
        elif ch == "d":
            out.append("%d")
        elif ch == "'":
            out.append("")
        else:
            out.append(ch * run)
        i += run
    return "".join(out)


def clock(epoch: float | None, zone: str | None, now: float, *, seconds: bool = True) -> str:
    """``14:05:03 CET`` for today in `zone`, the full date-time before: the live stream's column."""
    if epoch is None:
        return ""
    try:
        tz = _zone(zone)
        t = dt.datetime.fromtimestamp(float(epoch), tz)
        if t.date() != dt.datetime.fromtimestamp(float(now), tz).date():
            return when(epoch, zone)
        return f"{t.strftime('%H:%M:%S' if seconds else '%H:%M')} {t.tzname() or 'UTC'}"
    except (OverflowError, OSError, ValueError):
        return str(epoch)


def ago(epoch: float | None, now: float) -> str:
    """``just now``, ``2 min ago``, ``3 h ago``, ``4 d ago``: how operators read recency."""
    if epoch is None:
        return ""
    delta = int(float(now) - float(epoch))
    if delta < 0:
        return _("in the future")
    if delta < 60:
        return _("just now") if delta < 10 else _("{n} s ago").format(n=delta)
    if delta < 3600:
        return _("{n} min ago").format(n=delta // 60)
    if delta < 86400:
        return _("{n} h ago").format(n=delta // 3600)
    return _("{n} d ago").format(n=delta // 86400)


# --- line breaking ------------------------------------------------------------------------------------------

NO_BREAK = "\u00a0\u2007\u202f"  # no-break, figure and narrow no-break spaces: CLDR's grouping and currency spacing


def keep_amounts_whole() -> None:
    """Rich (and Textual, which wraps with Rich's splitter) break lines at any Unicode space, no-break spaces too, so
    a French ``2 407,96 €`` could end one line with ``2`` and start the next with ``407,96 €``. Teach the splitter
    that these spaces join words, as typography means them to. Called once at import; harmless without Rich."""
    try:
        import rich._wrap as wrap
    except Exception:  # Rich missing or reorganised: amounts may wrap, nothing else changes
        return
    space = f"[^\\S{NO_BREAK}]"
    wrap.re_word = re.compile(f"{space}*(?:[^\\s]|[{NO_BREAK}])+{space}*")


keep_amounts_whole()
