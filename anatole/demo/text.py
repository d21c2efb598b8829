"""How the demo summaries show counts, months and shares to a person: in the language's style (Babel, the locale
of store.display), so that `anatole --lang fr demo` reads `1 234`, `octobre 2026`, `0,4 %`. The JSON summary keeps
plain numbers."""

from __future__ import annotations

import datetime as dt

from anatole.clitools import count
from i18n import _
from store import display

__all__ = ["count", "headed", "month_title", "percent"]


def headed(label: str, text: str, style: str = "bold") -> str:
    """``[bold]Unrated[/bold]: 96 calls...``: a styled label before a line, with the language's punctuation
    (``Non tarifés : ...`` in French)."""
    return _("{label}: {text}").format(label=f"[{style}]{label}[/{style}]", text=text)


def month_title(period: str) -> str:
    """``2026-10`` → ``October 2026`` (en), ``octobre 2026`` (fr); the period itself when it is not one."""
    try:
        day = dt.date.fromisoformat(period + "-01")
    except ValueError:
        return period
    try:
        from babel.dates import format_date

        return format_date(day, "LLLL y", locale=display.locale())
    except Exception:
        return day.strftime("%B %Y")


def percent(share: float) -> str:
    """A share with one decimal: ``0.4%`` (en), ``0,4 %`` (fr)."""
    try:
        from babel import Locale
        from babel.numbers import format_percent

        pattern = Locale.parse(display.locale()).percent_formats[None].pattern  # "#,##0%", "#,##0\u00a0%"
        return format_percent(share, pattern.replace("0", "0.0", 1), locale=display.locale())
    except Exception:
        return f"{share:.1%}"
