"""Telling a lost connection from a bug when a PBX or PMS session ends (an exception group from its nursery)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import trio

from i18n import _

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup


def connection_fault(exc: BaseException, expected: tuple[type[BaseException], ...]) -> str:
    """Why a session ended, for its source's state: a connection fault or one of the session's `expected` errors
    (whose message is the reason). Re-raises `exc` when any part of it is something else: a bug must show."""
    leaves = list(_leaves(exc))
    for leaf in leaves:
        if not isinstance(leaf, (trio.BrokenResourceError, trio.ClosedResourceError, OSError, *expected)):
            raise exc
    first = leaves[0]
    return str(first) if isinstance(first, expected) else _("connection lost: {error}").format(error=first)


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for sub in exc.exceptions:
            yield from _leaves(sub)
    else:
        yield exc
