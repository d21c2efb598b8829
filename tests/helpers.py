"""Small builders used by several test modules."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from engine import STATUS_NAMES
from engine.reference import Reference
from tariffs.compile import CompiledTariff, compile_tariff
from tariffs.load import tariff_from_dict


def make_tariff(rates: list[dict[str, Any]], **settings: Any) -> CompiledTariff:
    doc: dict[str, Any] = {"name": "test", "currency": "EUR", "timezone": "Europe/Paris", "rate": rates}
    doc.update(settings)
    return compile_tariff(tariff_from_dict(doc))


def at(text: str, zone: str = "Europe/Paris") -> int:
    """Local ISO time in `zone` -> UTC epoch seconds."""
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp())


def engine_one(c: CompiledTariff, number: str, start: int, duration: int) -> dict[str, Any]:
    return c.describe(c.rate([number], [start], [duration]), 0)


def compare(c: CompiledTariff, numbers: list[str], starts: list[int], durations: list[int]) -> None:
    """Assert that the engine and the reference agree on every field of every call."""
    ref = Reference(c.tariff)
    out = c.rate(numbers, starts, durations)
    for i, (number, start, duration) in enumerate(zip(numbers, starts, durations)):
        q = ref.quote(number, start, duration)
        pid = int(out["prefix"][i])
        rate = int(out["rate"][i])
        got = {
            "status": STATUS_NAMES[int(out["status"][i])],
            "prefix": c.prefixes[pid] if pid >= 0 else None,
            "rate_row": int(c.rate_row[rate]) if rate >= 0 else None,
            "band": int(out["band"][i]),
            "parts": int(out["parts"][i]),
            "billed": int(out["billed"][i]),
            "cost": int(out["cost"][i]),
        }
        want = {
            "status": q.status,
            "prefix": q.prefix,
            "rate_row": q.rate.row if q.rate and q.status == "rated" else None,
            "band": q.band if q.status in ("rated", "no_rate") else -1,
            "parts": q.part_count if q.status == "rated" else 0,
            "billed": q.billed,
            "cost": q.cost,
        }
        assert got == want, f"call {number!r} start={start} duration={duration}: engine {got} != reference {want}"
