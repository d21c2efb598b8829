"""The compiled tariff (engine RateTables) and the compiled dial plan (ingest._dialplan.Tables) survive a pickle:
a Dask driver ships them once to each worker (pipeline.distributed.shipment), so the unpickled tables must rate
and normalise every call exactly as the originals do."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine._rate import RateTables
from ingest._dialplan import Tables, normalise_slices
from ingest.dialplan import DialPlan
from tariffs.load import compiled_tariff

SAMPLES = Path(__file__).parent.parent / "tariffs" / "samples"
TARIFFS = {name: compiled_tariff(SAMPLES / f"{name}.toml") for name in ("fr-business", "uk-business", "us-business")}
UNPICKLED = {name: pickle.loads(pickle.dumps(t, protocol=5)) for name, t in TARIFFS.items()}
PLANS = {  # the samples' countries, as sites set them up
    "FR": DialPlan("FR", outside_prefix="0", national_prefix="0", international_prefix="00",
                   extensions=[("2000", "2999")]),
    "GB": DialPlan("GB", outside_prefix="9", national_prefix="0", international_prefix="00", area_code="20",
                   extensions=[("300", "399")]),
    "US": DialPlan("US", outside_prefix="9", national_prefix="1", international_prefix="011", area_code="212",
                   extensions=[("4000", "4999")]),
}
WARM = ["0033142345678", "00441632960000", "0112125551234", "0049301234567", "0081312345678", "112", "999", "911",
        "0800123456", "2001", "+33612345678", "0612345678"]

digit_strings = st.one_of(
    st.text("0123456789", max_size=18),
    st.tuples(st.sampled_from(["33", "44", "1", "49", "881", "0", "00", "011", "9", "+"]),
              st.text("0123456789", min_size=0, max_size=13)).map("".join),
)


def test_rate_tables_pickle_as_their_arrays() -> None:
    """The pickle carries the compiled arrays once (shared with CompiledTariff.arrays), and rebuilds the rest."""
    t = TARIFFS["fr-business"]
    again = pickle.loads(pickle.dumps(t.tables))
    assert isinstance(again, RateTables)
    assert (again.key_len, again.n_prefixes, again.n_rates, again.denom, again.mode) == \
        (t.tables.key_len, t.tables.n_prefixes, t.tables.n_rates, t.tables.denom, t.tables.mode)
    alone, both = len(pickle.dumps(t.arrays, protocol=5)), len(pickle.dumps((t.arrays, t.tables), protocol=5))
    assert both < alone * 1.5  # the tables' arrays are the same objects: not pickled twice


@settings(max_examples=150, deadline=None)
@given(calls=st.lists(st.tuples(digit_strings, st.integers(1_600_000_000, 1_900_000_000), st.integers(0, 20_000)),
                      min_size=1, max_size=60),
       name=st.sampled_from(sorted(TARIFFS)))
def test_unpickled_tariff_rates_as_the_original(calls, name) -> None:
    digits = np.array([d.encode() for d, _, _ in calls], dtype="S")
    starts = np.array([s for _, s, _ in calls], np.int64)
    durations = np.array([d for _, _, d in calls], np.int32)
    want = TARIFFS[name].tables.rate(digits, starts, durations)
    got = UNPICKLED[name].tables.rate(digits, starts, durations)
    assert want.keys() == got.keys()
    for key in want:
        assert np.array_equal(want[key], got[key]), key


def _slices(values: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    encoded = [v.encode() for v in values]
    lengths = np.fromiter(map(len, encoded), np.int32, len(encoded))
    offsets = np.zeros(len(encoded), np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    return np.frombuffer(b"".join(encoded) or b"\0", np.uint8), offsets, lengths, np.arange(len(values), dtype=np.int64)


@pytest.mark.parametrize("country", sorted(PLANS))
def test_dial_plan_tables_pickle(country: str) -> None:
    plan = PLANS[country]
    plan.normalise_all(WARM)  # the countries of these numbers get their rows: the tables pickled hold them
    tables = plan.compiled.tables
    again = pickle.loads(pickle.dumps(tables))
    assert isinstance(again, Tables) and again is not tables
    assert pickle.dumps(again) == pickle.dumps(tables)  # the same arguments out as in


@settings(max_examples=150, deadline=None)
@given(values=st.lists(digit_strings, min_size=1, max_size=60), country=st.sampled_from(sorted(PLANS)),
       as_dialled=st.booleans())
def test_unpickled_dial_plan_normalises_as_the_original(values, country, as_dialled) -> None:
    """The compiled pass itself (kind, rule, E.164, undecided rows, and the countries it asks for) is the same with
    the unpickled tables; and a pickled DialPlan gives normalise()'s answers."""
    plan = PLANS[country]
    plan.normalise_all(WARM)
    tables = plan.compiled.tables
    again = pickle.loads(pickle.dumps(tables))
    buf, off, ln, rows = _slices(values)
    wanted_a, wanted_b = (np.zeros(len(plan.compiled.cc_npp), np.uint8) for _ in range(2))
    a = normalise_slices(tables, buf, off, ln, rows, as_dialled, wanted_a)
    b = normalise_slices(again, buf, off, ln, rows, as_dialled, wanted_b)
    for x, y in zip(a, b):
        assert np.array_equal(x, y)
    assert np.array_equal(wanted_a, wanted_b)
    shipped = pickle.loads(pickle.dumps(plan))
    assert list(shipped.normalise_all(values, as_dialled=as_dialled)) == \
        [plan.normalise(v, as_dialled=as_dialled) for v in values]
