"""FIAS framing and records (pbx/fias.py): STX/ETX, the optional LRC, any split of reads, garbage, record fields in
any order, the PS we send."""

from __future__ import annotations

import contextlib
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx.fias import (
    Deframer,
    FrameError,
    RecordError,
    build,
    frame,
    hhmmss,
    lrc,
    p_number,
    parse_record,
    posting_record,
)


def test_lrc_matches_the_worked_examples() -> None:
    # hotel-fias.md section 1: XOR of everything after STX up to and including ETX
    assert lrc(b"PS|RN214|PTC|TA345|DA250314|TI101502|DU000232|DD0155501234|P#42|") == 0x4E
    assert lrc(b"LS|DA250314|TI101500|") == 0x7C  # '|': the check byte may be a separator, never scan for it
    assert frame("LS|DA250314|TI101500|", use_lrc=True) == b"\x02LS|DA250314|TI101500|\x03|"


def test_lrc_byte_equal_to_stx_or_etx_is_read_as_the_check_byte() -> None:
    found = set()
    for a in range(65, 91):  # records whose LRC is STX, then ETX
        text = f"PS|CT{chr(a)}A|"
        want = lrc(text.encode())
        if want in (0x02, 0x03):
            found.add(want)
            data = frame(text, use_lrc=True) + frame("LA|", use_lrc=True)
            assert Deframer(use_lrc=True).feed(data) == [text.encode(), b"LA|"]
    assert found == {0x02, 0x03}


def test_wrong_lrc_garbage_and_cut_frames_are_reported_and_skipped() -> None:
    d = Deframer(use_lrc=True)
    good = frame("LA|DA250314|TI091501|", use_lrc=True)
    bad = bytearray(frame("PA|ASOK|P#1|", use_lrc=True))
    bad[-1] ^= 0xFF
    out = d.feed(b"noise\r\n" + bytes(bad) + b"\x02GI|RN2" + good)
    errors = [x for x in out if isinstance(x, FrameError)]
    assert [x for x in out if not isinstance(x, FrameError)] == [b"LA|DA250314|TI091501|"]
    reasons = " / ".join(e.reason for e in errors)
    assert "outside any frame" in reasons and "wrong LRC" in reasons and "new STX" in reasons


def test_overlong_frame_is_dropped_and_the_stream_resyncs() -> None:
    d = Deframer()
    out = d.feed(b"\x02" + b"A" * 10_000)
    assert len(out) == 1 and isinstance(out[0], FrameError)
    assert d.feed(frame("LA|")) == [b"LA|"]


@given(st.lists(st.text(st.characters(min_codepoint=32, max_codepoint=126, exclude_characters="|"), max_size=30),
                max_size=8),
       st.booleans(), st.data())
def test_any_records_survive_any_split_of_reads(values: list[str], use_lrc: bool, data: st.DataObject) -> None:
    records = [build("PS", [("RN", v), ("P#", str(i))]) for i, v in enumerate(values)]
    stream = b"".join(frame(r, use_lrc=use_lrc) for r in records)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    d = Deframer(use_lrc=use_lrc)
    got: list[bytes | FrameError] = []
    last = 0
    for cut in [*cuts, len(stream)]:
        got += d.feed(stream[last:cut])
        last = cut
    assert got == [r.encode() for r in records]
    assert [parse_record(g).get("RN") for g in got] == [v for v in values]  # type: ignore[arg-type]


@given(st.binary(max_size=300))
def test_garbage_never_raises(data: bytes) -> None:
    for use_lrc in (False, True):
        for item in Deframer(use_lrc=use_lrc).feed(data):
            if not isinstance(item, FrameError):
                with contextlib.suppress(RecordError):
                    parse_record(item)


def test_fields_in_any_order_and_bad_records() -> None:
    a = parse_record(b"GI|RN214|G#880123|GNMartin, Alice|GLFR|GSN|")
    b = parse_record(b"GI|GSN|GLFR|GNMartin, Alice|G#880123|RN214|")
    assert a == b and a.get("GN") == "Martin, Alice" and a.get("G#") == "880123"
    assert parse_record(b"LA|").fields == {}
    for bad in (b"", b"x|RN1|", b"GIX|RN1|", b"GI|R|"):
        with pytest.raises(RecordError):
            parse_record(bad)


def test_free_text_loses_separators_and_control_characters() -> None:
    assert build("GC", [("GN", "A|B\x01C")]) == "GC|GNA BC|"


def test_posting_record_for_direct_charge_and_pms_priced_modes() -> None:
    post = {"seq": 42, "room": "214", "reservation": "880123", "amount": 345, "digits": "0155501234",
            "duration": 152, "start": 1741943702}  # 2025-03-14 10:15:02 Paris
    zone = ZoneInfo("Europe/Paris")
    assert posting_record(post, posting="C", mode="room", zone=zone) == \
        "PS|RN214|PTC|TA345|DA250314|TI101502|DU000232|DD0155501234|P#42|"
    t = parse_record(posting_record(post, posting="T", mode="guest", zone=zone).encode())
    assert "TA" not in t.fields and t.get("PT") == "T" and t.get("G#") == "880123" and t.get("DU") == "000232"
    assert hhmmss(3725) == "010205" and p_number(99_999_999) == 99_999_999 and p_number(100_000_000) == 1
