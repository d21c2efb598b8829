"""The rating core: compiled kernel (`_rate`), fixed-point money, and the pure-Python reference.

Knows nothing of files, databases or screens; imports nothing else of the project.
"""

from engine._rate import RateTables, build_intervals, number_keys

RATED, NO_RATE, UNANSWERED, INVALID = 0, 1, 2, 3
STATUS_NAMES = ("rated", "no_rate", "unanswered", "invalid")
MAX_DURATION = 604_800  # seconds: longer calls are invalid

__all__ = [
    "INVALID",
    "MAX_DURATION",
    "NO_RATE",
    "RATED",
    "STATUS_NAMES",
    "UNANSWERED",
    "RateTables",
    "build_intervals",
    "number_keys",
]
