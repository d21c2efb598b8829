"""Call durations as people type them: `90`, `90s`, `2m`, `1m30s`, `1h`, `2:30`, `1:02:03`. One parser for the
command line (`anatole tariff quote --duration`) and the console's quote box, so both accept the same words."""

from __future__ import annotations

import re

_UNITS = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_CLOCK = re.compile(r"(?:(\d+):)?(\d+):([0-5]\d)")
HELP = "seconds (90) or h/m/s (90s, 2m, 1m30s, 1h) or m:ss (1:30)"


def parse_duration(text: str) -> int:
    """Whole seconds from a typed duration; ValueError says what is accepted. Units go largest first, each once
    (`1h2m3s`), case does not matter; a bare number is seconds."""
    word = text.strip().lower()
    if word.isascii() and word.isdigit():
        return int(word)
    clock = _CLOCK.fullmatch(word)
    if clock:
        h, m, s = (int(g) if g else 0 for g in clock.groups())
        return h * 3600 + m * 60 + s
    units = _UNITS.fullmatch(word)
    if word and units and any(units.groups()):
        h, m, s = (int(g) if g else 0 for g in units.groups())
        return h * 3600 + m * 60 + s
    raise ValueError(f"{text!r} is not a duration: {HELP}")


def format_duration(seconds: int) -> str:
    """The shortest unit form (`1h2m3s`, `90` -> `1m30s`, `0s`); parse_duration reads it back."""
    if seconds < 0:
        raise ValueError(f"a duration is not negative: {seconds}")
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    text = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s else "")
    return text or "0s"
