"""The subscriber protocol's framing: any split of the byte stream gives the same messages; bad frames are errors."""

import contextlib

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx import protocol as p

MESSAGES = [
    p.Hello(version=1, pid=42, started=1_700_000_000, workspace="/ws",
            sources=[p.SourceState("paris-ipo", "avaya-ipo", "listening", 1_700_000_000, received=3)]),
    p.ActiveCall("k1", "paris-ipo", "paris", 1_700_000_010, "up", direction="outgoing", extension="1001",
                 dialled="0612345678", number="33612345678", answer=1_700_000_015),
    p.CallGone("k1"),
    p.FinishedCall(7, "paris-ipo", "paris", 1_700_000_010, 65, 60, "outgoing", "answered", "rated",
                   cost=12_345_000, currency="EUR"),
    p.Alert(3, "expensive call", "cost", 1_700_000_100, "call cost 12.50 EUR", amount=1_250_000_000),
    p.Counters(1_700_000_100, active=2, calls_last_minute=5, calls_today=100, cost_today={"paris": 10**9}),
    p.Counters(1_700_000_100, active=0, calls_last_minute=0, calls_today=3, currency="EUR",
               costs_today={"paris": {"EUR": 10**9, "USD": 98_067_000}}, costs_this_hour={"paris": {"EUR": 1}}),
    p.Status(pid=1, started=1_700_000_000, workspace="/ws", received=10, journaled=10, errors=1),
    p.Subscribe(["calls", "alerts"]),
    p.Acknowledge(3, "operator"),
    p.Skipped("calls", 12),
]


@given(st.lists(st.integers(min_value=1, max_value=64), max_size=50))
def test_any_split_of_the_stream_gives_the_same_messages(cuts):
    stream = b"".join(p.encode(m) for m in MESSAGES)
    reader, out, pos = p.FrameReader(), [], 0
    for size in cuts:
        out += reader.feed(stream[pos:pos + size])
        pos += size
    out += reader.feed(stream[pos:])
    assert out == MESSAGES and reader.pending == 0


def test_the_type_tag_names_the_message():
    body = p.encode(p.CallGone("x"))[4:]
    assert msgspec.msgpack.decode(body) == {"type": "CallGone", "key": "x"}


def test_oversized_frame_is_refused_before_it_is_read():
    with pytest.raises(p.ProtocolError, match="over the"):
        p.FrameReader().feed((p.MAX_FRAME + 1).to_bytes(4, "big") + b"x")


@given(st.binary(max_size=200))
def test_garbage_is_a_protocol_error_not_a_crash(data):
    with contextlib.suppress(p.ProtocolError):  # a protocol error is the answer; anything else fails the test
        p.FrameReader().feed(len(data).to_bytes(4, "big") + data)


class _CountersV1(msgspec.Struct, tag="Counters", frozen=True):
    at: int
    active: int
    calls_last_minute: int
    calls_today: int
    cost_today: dict[str, int] = {}
    cost_this_hour: dict[str, int] = {}
    currency: str = ""
    alerts_open: int = 0


def test_version_2_counters_and_version_1_read_each_other():
    """A v1 client reads a v2 Counters (extra fields ignored, its sums in the workspace currency); a v2 client
    reads a v1 one (the per-currency maps empty)."""
    new = p.Counters(1, 0, 0, 2, cost_today={"paris": 5}, currency="EUR", costs_today={"paris": {"EUR": 5, "USD": 7}})
    old = msgspec.msgpack.decode(p.encode(new)[4:], type=_CountersV1)
    assert old.cost_today == {"paris": 5} and old.currency == "EUR"
    back = p.decode(msgspec.msgpack.encode(_CountersV1(1, 0, 0, 2, cost_today={"paris": 5}, currency="EUR")))
    assert isinstance(back, p.Counters) and back.costs_today == {} and back.cost_today == {"paris": 5}
    assert p.PROTOCOL_VERSION == 2
