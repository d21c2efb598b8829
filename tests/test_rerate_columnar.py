"""The columnar re-rate (pipeline.rerate.rerate) gives exactly the row path's results (rerate_rows, price_calls per
call): every call's rating, the rating history, the counts, and a day summary equal to one recomputed from the
calls; on generated calls of every direction and number kind, several sites and tariffs, a trunk's own tariff, a
site without a tariff, one no longer configured, a given tariff, a period and a site. Also: a call re-rated or
deleted by another program between the read of its page and the write; the Dask path (`--workers 2`)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_store_days import expected, stored

import pipeline.rerate as rr
from anatole.cli import main
from anatole.config import Workspace, open_workspace
from store import CALL_COLUMNS, open_store

SAMPLES = Path(__file__).parent.parent / "tariffs" / "samples"
CONFIG = """
[workspace]
currency = "EUR"

[[site]]
name = "paris"
country = "FR"
timezone = "Europe/Paris"
extensions = ["1000-1999"]
tariff = "tariffs/fr-business.toml"
trunk_tariffs = { "T9" = "tariffs/uk-business.toml" }

[[site]]
name = "london"
country = "GB"
timezone = "Europe/London"
extensions = ["2000-2999"]
tariff = "tariffs/uk-business.toml"

[[site]]
name = "berlin"
country = "DE"
timezone = "Europe/Berlin"
extensions = ["4000-4999"]
"""
T0 = int(dt.datetime(2026, 10, 24, 12, 0, tzinfo=dt.timezone.utc).timestamp())  # the weekend Paris leaves summer time
NOW = 1_800_000_000
# rated prefixes of the sample tariffs, mobiles with a minimum, and one no tariff has (no_rate)
NUMBERS = st.tuples(st.sampled_from(["331", "336", "3380", "4420", "447", "1212", "49", "999", "3"]),
                    st.integers(0, 10**10)).map(lambda p: p[0] + str(p[1]))
ROW = st.fixed_dictionaries({
    "site": st.sampled_from(["paris", "paris", "paris", "london", "london", "berlin", "gone"]),
    "start": st.integers(T0 - 86400, T0 + 3 * 86400),
    "billable": st.sampled_from([0, 1, 30, 59, 60, 61, 3599]) | st.integers(0, 7200),
    "direction": st.sampled_from(["outgoing"] * 6 + ["incoming", "internal", "transit"]),
    "kind": st.sampled_from(["external"] * 8 + ["internal", "service", "emergency", "invalid"]),
    "number": NUMBERS | st.none(),
    "trunk": st.sampled_from(["T9", "T1", "", None]),
    "old": st.sampled_from([("unrated", None, None, None, None), ("rated", "fr-business.toml", 1234, "EUR", T0),
                            ("no_rate", "uk-business.toml", None, "GBP", 0), ("rated", "old.toml", 0, "EUR", None)]),
    "billed": st.sampled_from([1, 1, 0]),
})


@pytest.fixture(scope="module")
def root() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp)
        (path / "tariffs").mkdir()
        for name in ("fr", "uk"):
            for ext in (".toml", ".csv"):
                shutil.copy(SAMPLES / f"{name}-business{ext}", path / "tariffs" / f"{name}-business{ext}")
        (path / "anatole.toml").write_text(CONFIG)
        yield path


@pytest.fixture(scope="module")
def ws(root: Path) -> Workspace:
    return open_workspace(root)


def call_row(i: int, r: dict) -> tuple:
    number = r["number"] if r["kind"] == "external" else (r["number"] if r["number"] else None)
    if r["kind"] == "external" and number is None:
        number = "33155501234"  # an external number always has its digits
    status, tariff, cost, currency, rated_at = r["old"]
    values = dict.fromkeys(CALL_COLUMNS)
    values.update(source=f"src-{r['site']}", site=r["site"], native_id=f"n{i}", leg="", grp="", start=r["start"],
                  duration=r["billable"], billable=r["billable"], direction=r["direction"], disposition="answered",
                  extension=str(1000 + i % 7), trunk=r["trunk"], number=number, number_kind=r["kind"],
                  billed=r["billed"], status=status, tariff=tariff, cost=cost, currency=currency, rated_at=rated_at,
                  destination="old" if cost is not None else None, billed_seconds=r["billable"] if cost else None)
    return tuple(values[c] for c in CALL_COLUMNS)


_TEMPLATES: dict[Path, Path] = {}


def make_store(path: Path, ws: Workspace, rows: list[tuple]):  # noqa: ANN201
    """A store with the workspace's sites (copied from one made once: a site's UTC offsets take a while) and
    these calls."""
    template = _TEMPLATES.get(ws.path)
    if template is None:
        template = _TEMPLATES[ws.path] = ws.path / "template.db"
        store = open_store(template)
        for s in ws.sites.values():
            store.upsert_site(s.name, s.country, s.timezone, str(s.tariff) if s.tariff else None)
        store.close()
    shutil.copy(template, path)
    store = open_store(path)
    store.insert_calls(rows)
    return store


def outcome(conn: sqlite3.Connection, times: bool = True) -> tuple:
    """Every call's rating, the history (in any order), and the day summary checked against the calls; `times`
    False: without the instants of the re-rate (two runs a second apart)."""
    when = ", rated_at" if times else ""
    calls = conn.execute("SELECT id, status, tariff, prefix, destination, band, billed_seconds, cost, currency"
                         f"{when} FROM calls ORDER BY id").fetchall()
    history = sorted(conn.execute(f"SELECT call_id, tariff, status, cost, currency{when}{', replaced_at' * times} "
                                  "FROM rating_history").fetchall(), key=repr)
    summary = stored(conn)
    assert summary == expected(conn)
    return calls, history, summary


@contextlib.contextmanager
def small_pages(page: int, batch: int, freeze: bool = True) -> Iterator[None]:
    """Pages and write transactions of a few calls; the clock stopped at NOW (both paths stamp the same)."""
    with mock.patch.object(rr, "PAGE", page), mock.patch.object(rr, "BATCH", batch), \
            mock.patch.object(rr.time, "time", (lambda: NOW) if freeze else rr.time.time):
        yield


def _every_status() -> list[dict]:
    """Calls of every status (rated, no_rate, unanswered, no_tariff, a trunk's tariff, service, emergency, invalid,
    internal, incoming, a site no longer configured), over the night Paris leaves summer time."""
    base = {"site": "paris", "start": T0, "billable": 61, "direction": "outgoing", "kind": "external",
            "number": "33155501234", "trunk": "", "billed": 1, "old": ("unrated", None, None, None, None)}
    changes = [{}, {"number": "99912345"}, {"billable": 0}, {"site": "berlin"}, {"trunk": "T9"},
               {"site": "london", "number": "442071234567"}, {"kind": "service", "number": "3450"},
               {"kind": "emergency", "number": "112"}, {"kind": "invalid", "number": None},
               {"direction": "internal", "kind": "internal", "number": "1002"}, {"direction": "incoming"},
               {"site": "gone"}, {"start": T0 + 13 * 3600 + 1800, "number": "33612345678", "billable": 3599},
               {"old": ("rated", "fr-business.toml", 1234, "EUR", T0)}]
    return [{**base, **c, "start": base["start"] + 600 * k if "start" not in c else c["start"]}
            for k, c in enumerate(changes * 2)]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(rows=_every_status(), page=5, batch=3, period=(None, None), site=None, tariff=None)
@example(rows=_every_status(), page=7, batch=2, period=(T0, T0 + 86400), site="paris", tariff="uk-business.toml")
@given(rows=st.lists(ROW, min_size=0, max_size=60) | st.lists(ROW, min_size=30, max_size=60),
       page=st.integers(1, 12), batch=st.integers(1, 5),
       period=st.sampled_from([(None, None), (T0, T0 + 86400), (T0 + 86400, None)]),
       site=st.sampled_from([None, None, "paris", "gone"]),
       tariff=st.sampled_from([None, "uk-business.toml"]))
def test_columnar_equals_the_row_path(ws: Workspace, root: Path, rows: list[dict], page: int, batch: int,
                                      period: tuple, site: str | None, tariff: str | None) -> None:
    calls = [call_row(i, r) for i, r in enumerate(rows)]
    given_tariff = root / "tariffs" / tariff if tariff else None
    with tempfile.TemporaryDirectory() as tmp, small_pages(page, batch):
        results = []
        for name, fn in (("rows", rr.rerate_rows), ("columns", rr.rerate)):
            store = make_store(Path(tmp) / f"{name}.db", ws, calls)
            counts = []
            for _ in range(2):  # the second finds nothing to change
                progress: list[int] = []
                counts.append(fn(ws, store, start=period[0], end=period[1], site=site, tariff=given_tariff,
                                 progress=progress.append))
                total = store.count_for_rating(start=period[0], end=period[1], site=site)
                assert progress == sorted(progress) and (progress[-1] == total if progress else total == 0)
            assert counts[1]["changed"] == 0
            results.append((counts, outcome(store.conn)))
            store.close()
    assert results[0] == results[1]


def test_a_page_priced_while_another_program_writes(ws: Workspace, tmp_path: Path) -> None:
    """Between the read of a page and its write: a call re-rated by another program (its history row names that
    result), a call already set to the new price (not written again), a call deleted (left out)."""
    rows = [call_row(i, {"site": "paris", "start": T0 + 60 * i, "billable": 90, "direction": "outgoing",
                         "kind": "external", "number": "33155501234", "trunk": "", "billed": 1,
                         "old": ("unrated", None, None, None, None)}) for i in range(6)]
    store = make_store(tmp_path / "anatole.db", ws, rows)
    other = open_store(tmp_path / "anatole.db")
    real = rr.price_columns

    def meanwhile(ws_: Workspace, cols: dict, tariff: Path | None = None) -> dict:
        priced = real(ws_, cols, tariff)
        new = (priced["status"][1], priced["tariff"][1], priced["prefix"][1], priced["destination"][1],
               priced["band"][1], priced["billed_seconds"][1], priced["cost"][1], priced["currency"][1])
        other.update_ratings([("rated", "other.toml", "33", "France", "peak", 90, 7, "EUR", NOW - 5, 1),
                              (*new, NOW - 5, 2)], [])
        other.delete_calls(T0 + 60 * 2, T0 + 60 * 3)
        return priced

    with small_pages(100, 100), mock.patch.object(rr, "price_columns", meanwhile):
        got = rr.rerate(ws, store, start=None, end=None, site=None)
    assert got["changed"] == 4  # 6 read, all changed when read; 2 then set by the other program, 1 deleted
    history = {r[0]: r[1:] for r in store.conn.execute(
        "SELECT call_id, rated_at, tariff, status, cost, currency FROM rating_history")}
    assert sorted(history) == [1, 4, 5, 6]
    assert history[1] == (NOW - 5, "other.toml", "rated", 7, "EUR")
    assert store.conn.execute("SELECT rated_at FROM calls WHERE id = 2").fetchone() == (NOW - 5,)
    assert stored(store.conn) == expected(store.conn)
    # and the row path agrees on what is there now
    again = rr.rerate_rows(ws, store, start=None, end=None, site=None)
    assert again["changed"] == 0 and again["calls"] == 5
    other.close()
    store.close()


def test_rate_on_two_dask_workers_is_the_one_process_result(root: Path, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    ws = open_workspace(root)
    rows = [call_row(i, {"site": ("paris", "london", "berlin")[i % 3], "start": T0 + 97 * i,
                         "billable": (i * 37) % 400, "direction": ("outgoing", "outgoing", "incoming")[i % 3 - 1],
                         "kind": "external" if i % 11 else "service", "number": f"{('336', '4420', '999')[i % 3]}"
                         f"{i:08d}", "trunk": "T9" if i % 4 == 0 else "", "billed": 1,
                         "old": ("unrated", None, None, None, None)}) for i in range(300)]
    outcomes = []
    for name, extra in (("one", []), ("dask", ["--workers", "2"])):
        folder = tmp_path / name
        shutil.copytree(root, folder)
        make_store(folder / "anatole.db", ws, rows).close()
        with small_pages(40, 25, freeze=False):  # Dask needs its clock
            result = CliRunner().invoke(main, ["--workspace", str(folder), "rate", "--json", *extra])
        assert result.exit_code == 0, result.output
        with contextlib.closing(sqlite3.connect(folder / "anatole.db")) as conn:
            outcomes.append((json.loads(result.output), outcome(conn, times=False)))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0]["changed"] > 100


def test_workers_and_scheduler_together_is_refused(root: Path, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    folder = tmp_path / "ws"
    shutil.copytree(root, folder)
    make_store(folder / "anatole.db", open_workspace(folder), []).close()
    result = CliRunner().invoke(main, ["--workspace", str(folder), "rate", "--workers", "2", "--scheduler",
                                       "tcp://127.0.0.1:1"])
    assert result.exit_code == 1 and "either --workers N or --scheduler" in result.output
    assert "Traceback" not in result.output
