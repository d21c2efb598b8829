"""Tariff problems: every one names where (file and line, or key) and what is wrong."""

from __future__ import annotations

import re
from dataclasses import dataclass

from i18n import _, ngettext


@dataclass(frozen=True)
class Problem:
    where: str  # "fr.csv:12", "fr.toml", "fr.toml [[band]] #2"
    key: str | None  # the column or key at fault, when there is one
    message: str

    def __str__(self) -> str:
        key = f" {self.key}:" if self.key else ""
        return f"{self.where}:{key} {self.message}"


class TariffError(Exception):
    """A tariff that cannot be used. Carries every problem found (up to a limit), not just the first."""

    MAX_SHOWN = 25

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(self.render())

    @classmethod
    def single(cls, where: str, key: str | None, message: str) -> TariffError:
        return cls([Problem(where, key, message)])

    def render(self) -> str:
        shown = [str(p) for p in self.problems[: self.MAX_SHOWN]]
        more = len(self.problems) - len(shown)
        if more > 0:
            shown.append(ngettext("... and {count} more problem", "... and {count} more problems", more).format(
                count=more))
        return "\n".join(shown)


class Collector:
    """Gathers problems while loading so that a user sees them all at once."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, where: str, key: str | None, message: str) -> None:
        self.problems.append(Problem(where, key, message))

    def raise_if_any(self) -> None:
        if self.problems:
            raise TariffError(self.problems)


_MONEY_PROBLEM = re.compile(r"(?s)(.*) (?:(is not a decimal number)|has more than (\d+) decimals|(is too large))")


def money_problem(exc: Exception) -> str:
    """engine.money's error (English: the engine imports nothing of ours) in the user's language."""
    m = _MONEY_PROBLEM.fullmatch(str(exc))
    if m is None:
        return str(exc)
    if m.group(2):
        return _("{value} is not a decimal number").format(value=m.group(1))
    if m.group(3):
        return _("{value} has more than {count} decimals").format(value=m.group(1), count=m.group(3))
    return _("{value} is too large").format(value=m.group(1))
