"""The block scanner reads a line 64 bytes at a time (ingest.cdr._scan.split_line: masks of its quotes, commas and
other bytes): every byte other than printable ASCII, wherever it falls, must still send its line to the row parser,
every line end must still be found, and the fields must be those of a strict CSV reading (split_fields against a
byte-by-byte reference); count_lines counts 16 bytes at a time; raw_blocks (one read per block, then the rest of the
last line) loses no byte; factorize (hashing 8 bytes at a time) numbers values exactly."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.cdr._scan import DISPOSITIONS, count_lines, factorize, scan_asterisk, split_fields
from ingest.cdr.blocks import TAIL_ROOM, raw_blocks

GOOD = (b'"","2001","90155501234","from-internal","""Alice Martin-Dupont"" <2001>","PJSIP/2001-0000002a",'
        b'"PJSIP/trunk-out-0000002b","Dial","PJSIP/0155501234@trunk-out,60","2026-04-01 09:00:00",'
        b'"2026-04-01 09:00:05","2026-04-01 09:01:05",65,60,"ANSWERED","DOCUMENTATION","1775016164.1","","",'
        b'"1775016164.1",1')
AT = GOOD.index(b"Alice")  # a caller name: any printable byte is text there


def test_the_good_line_is_taken():
    s = scan_asterisk(GOOD + b"\n")
    assert s["lines"] == 1 and not s["fallback"][0]


@pytest.mark.parametrize("byte", [0, 9, 11, 12, 27, 31, 127, 128, 0xC3, 0xFF, 32, 33, 65, 126])
def test_a_byte_anywhere_in_a_word(byte):
    printable = 32 <= byte <= 126
    for shift in range(16):  # every position within two 8-byte words, and lines starting at every alignment
        line = GOOD[:AT + shift] + bytes([byte]) + GOOD[AT + shift + 1:]
        for pad in range(8):
            data = b"\n" * pad + line + b"\n" + GOOD + b"\n"
            s = scan_asterisk(data)
            assert s["lines"] == pad + 2
            assert bool(s["fallback"][pad]) is not printable, (byte, shift, pad)
            assert not s["fallback"][pad + 1]
            assert data[s["line_start"][pad + 1]:s["line_end"][pad + 1]] == GOOD


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"])
def test_line_ends_at_every_alignment(end):
    for cut in range(len(GOOD) - 16, len(GOOD) + 1):  # lines of every length mod 8
        line = GOOD[:cut]
        data = (line + end) * 3
        s = scan_asterisk(data)
        assert s["lines"] == 3
        for k in range(3):
            assert data[s["line_start"][k]:s["line_end"][k]] == line


@pytest.mark.parametrize("word", ["ANSWERED", "NO ANSWER", "NOANSWER", "BUSY", "FAILED", "CONGESTION", "answered",
                                  "Busy", "ANSWERE", "ANSWEREDX", "NO ANSWEr", "NO-ANSWER", "BUSYY", "FAILEDS",
                                  "CONGESTIOn", "CONGESTIOM", "FAILEX", "", "ANSWERED "])
def test_disposition_words(word):
    """The scanner takes the upper-case cdr_csv words (compared as whole machine words) with asterisk's codes, and
    leaves every other spelling to the row parser."""
    from ingest.cdr.asterisk import DISPOSITIONS as WORDS

    line = GOOD.replace(b'"ANSWERED"', b'"%s"' % word.encode())
    s = scan_asterisk(line + b"\n")
    if word in WORDS:
        assert not s["fallback"][0] and DISPOSITIONS[s["disposition"][0]] == WORDS[word]
    else:
        assert s["fallback"][0]


@pytest.mark.parametrize("block_bytes", [1, 7, 64, 300, 1 << 20])
@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"])
def test_raw_blocks_keep_every_byte_and_line(block_bytes, end):
    data = b"".join(GOOD[:40 + k] + end for k in range(50)) + b"last line, no end"
    got = list(raw_blocks(io.BytesIO(data), block_bytes))
    assert b"".join(bytes(b) for b, _, _ in got) == data
    first = 1
    for buf, line, lines in got:
        text = bytes(buf)
        assert line == first and lines == count_lines(buf)
        if end != b"\r":  # a block ends after a line feed (or at the end of the file): no line is cut
            assert text.endswith(b"\n") or buf is got[-1][0]
        first += text.count(end) + (0 if text.endswith(end) else 1)


def test_raw_blocks_last_line_longer_than_the_room_kept():
    """A block's last line longer than the room kept past the block (TAIL_ROOM) grows the buffer: nothing lost."""
    long = b"x" * (3 * TAIL_ROOM) + b"\n"
    data = GOOD + b"\n" + long + GOOD + b"\n"
    got = list(raw_blocks(io.BytesIO(data), len(GOOD) + 10))
    assert [bytes(b) for b, _, _ in got] == [GOOD + b"\n" + long, GOOD + b"\n"]
    assert [(line, lines) for _, line, lines in got] == [(1, 2), (3, 1)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=20) | st.sampled_from([b"", b"\0", b"\0\0", b"12345678", b"123456789",
                                                         b"1234567\0", b"\x80" * 9]), max_size=60),
       st.integers(0, 3))
def test_factorize_numbers_values_in_order_of_first_appearance(values, gap):
    """factorize (8-byte hashing, int32 slots) against a dict: exact whatever the bytes, lengths and collisions."""
    buf = b""
    off, ln = [], []
    for v in values:
        buf += b"x" * gap
        off.append(len(buf))
        ln.append(len(v))
        buf += v
    rows = np.arange(len(values), dtype=np.int64)[::-1].copy()  # any order of rows
    ids, first = factorize(buf or b"\0", np.array(off, np.int64), np.array(ln, np.int32), rows)
    seen: dict[bytes, int] = {}
    expected = [seen.setdefault(values[r], len(seen)) for r in rows.tolist()]
    assert ids.tolist() == expected
    assert [values[rows[f]] for f in first.tolist()] == list(seen)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=12).filter(lambda v: b"\0" not in v), min_size=1, max_size=20),
       st.lists(st.integers(-1, 19), max_size=30))
def test_write_csv_fixed_column_as_the_csv_module(entries, picks):
    """A FIXED column (a block's numbers as their 'S' array, no table made) writes what csv.writer writes."""
    import csv
    import io as _io

    from ingest._slices import FIXED, INT, write_csv

    table = np.array(entries, "S")
    idx = np.array([k if k < len(entries) else -1 for k in picks], np.int32)
    n = np.arange(len(idx), dtype=np.int64)
    got = bytes(write_csv(b"\0", n, [(INT, n), (FIXED, idx, table), (INT, n)]))
    text = _io.StringIO()
    csv.writer(text).writerows([[i, entries[k].decode("latin-1") if k >= 0 else "", i]
                                for i, k in enumerate(idx.tolist())])
    assert got == text.getvalue().encode("latin-1")


TIMES = st.integers(0, 10**6) | st.integers(-10**10, 5 * 10**9)  # mostly a few hundred hours, some out of range


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(TIMES, st.none() | TIMES, st.booleans()), max_size=40), st.sets(st.integers(0, 40)))
def test_local_times_to_utc_as_numpy(lines, gaps):
    """local_hours, hours_present and to_utc against numpy: times out of range and hours without one offset (here:
    hour % 41 in `gaps`) send their line to the row parser; the others move by their hour's offset."""
    from ingest.cdr._scan import hours_present, local_hours, to_utc

    none = np.iinfo(np.int64).min
    start = np.array([s for s, _, _ in lines], np.int64)
    answer = np.array([none if a is None else a for _, a, _ in lines], np.int64)
    fallback = np.array([f for _, _, f in lines], np.uint8)
    want_start, want_answer, want_fallback = start.copy(), answer.copy(), fallback.astype(bool)

    def offset_of(hour: int) -> int | None:
        return None if hour % 41 in gaps else (hour % 7 - 3) * 3600

    answered = answer != none
    want_fallback |= (start < 0) | (start >= 4_102_444_800) | (answered & ((answer < 0) | (answer >= 4_102_444_800)))
    for k in range(len(lines)):
        if not want_fallback[k]:
            hours = [start[k] // 3600] + ([answer[k] // 3600] if answered[k] else [])
            if any(offset_of(int(h)) is None for h in hours):
                want_fallback[k] = True
            else:
                want_start[k] -= offset_of(int(hours[0]))
                if answered[k]:
                    want_answer[k] -= offset_of(int(hours[1]))
    want_start[want_fallback] = none
    want_answer[want_fallback] = none
    low, high = local_hours(start, answer, fallback, 0, 4_102_444_800)
    present = hours_present(start, answer, fallback, low, high - low + 1)
    offset = np.zeros(high - low + 1, np.int64)
    known = np.zeros(high - low + 1, np.uint8)
    for at in np.flatnonzero(present).tolist():
        if offset_of(low + at) is not None:
            offset[at], known[at] = offset_of(low + at), 1
    to_utc(start, answer, fallback, offset, known, low)
    assert fallback.astype(bool).tolist() == want_fallback.tolist()
    assert start.tolist() == want_start.tolist() and answer.tolist() == want_answer.tolist()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=8) |
                st.sampled_from(["Curaçao", "Côte d'Ivoire, mobile", 'say "hi"', "a\r\nb", "€", "😀", ""]),
                max_size=30))
def test_joined_text_table_as_one_cell_per_entry(values):
    """pipeline.batchrate._joined (the writer's text tables, made with numpy once per run) against the entries
    written one by one as the csv module quotes them: same bytes, starts in bytes."""
    from pipeline.batchrate import _cell, _joined

    text, starts = _joined(values)
    cells = [_cell(v) for v in values]
    assert text == b"".join(cells)
    assert starts.tolist() == np.concatenate([[0], np.cumsum([len(c) for c in cells])]).astype(np.int64).tolist()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=20) | st.sampled_from([b"a,b", b'"', b"12345678,", b"1234567\r", b"\n" * 9,
                                                         b"x" * 15 + b'"', b""]), min_size=1, max_size=40),
       st.integers(0, 9), st.booleans())
def test_write_csv_slice_column_as_the_csv_module(values, gap, tail):
    """A SLICE column (read 8 bytes at a time where the buffer allows, a comma, quote, CR or LF anywhere in a word
    quoting the field) writes what csv.writer writes, from a strided column of a (lines, 2) array as the block's
    own slice arrays are, up to the last byte of the buffer (`tail`: no byte after the last slice)."""
    import csv
    import io as _io

    from ingest._slices import INT, SLICE, write_csv

    buf = b""
    off = np.zeros((len(values), 2), np.int64)
    ln = np.zeros((len(values), 2), np.int32)
    for k, v in enumerate(values):
        buf += b"," * gap
        off[k, 1], ln[k, 1] = len(buf), len(v)
        buf += v
    if not tail:
        buf += b"\0" * 9
    n = np.arange(len(values), dtype=np.int64)
    got = bytes(write_csv(buf or b"\0", n[::-1].copy(), [(SLICE, off[:, 1], ln[:, 1]), (INT, n)]))
    text = _io.StringIO()
    csv.writer(text).writerows([[values[i].decode("latin-1"), i] for i in reversed(range(len(values)))])
    assert got == text.getvalue().encode("latin-1")


def test_write_csv_big_table_column_as_the_entries():
    """A TABLE column bigger than the cache (a tariff's destinations: prefetched ahead, copied 8 bytes at a time)
    writes each row's entry, the last entry and -1 (empty) included."""
    from ingest._slices import TABLE, write_csv

    entries = [f"destination {k}".encode() * (1 + k % 3) for k in range(5000)]
    starts = np.zeros(len(entries) + 1, np.int64)
    np.cumsum([len(e) for e in entries], out=starts[1:])
    rng = np.random.default_rng(7)
    idx = rng.integers(-1, len(entries), 3000).astype(np.int32)
    idx[:4] = [len(entries) - 1, -1, 0, max(range(len(entries)), key=lambda k: len(entries[k]))]
    rows = np.arange(len(idx), dtype=np.int64)
    want = b"".join((entries[k] if k >= 0 else b"") + b"\r\n" for k in idx.tolist())
    assert bytes(write_csv(b"\0", rows, [(TABLE, idx, (b"".join(entries), starts))])) == want
    # the longest entry given with the table (as pipeline.batchrate's tables carry it): the same bytes; given too
    # short, an error rather than a write past the buffer reckoned with it
    widest = max(map(len, entries))
    assert bytes(write_csv(b"\0", rows, [(TABLE, idx, (b"".join(entries), starts, widest))])) == want
    with pytest.raises(ValueError, match="longer than the longest entry given"):
        write_csv(b"\0", rows, [(TABLE, idx, (b"".join(entries), starts, widest - 1))])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 299), min_size=1, max_size=400), st.lists(st.integers(0, 3), min_size=1))
def test_fact_ids_number_values_in_order_of_first_appearance(origins, apps):
    """The scanner's fact ids (its own hash table, grown from 16 slots as values come, hits compared with copies of
    the values) number equal channels and application tuples alike and different ones apart, as a dict does."""
    lines, want_o, want_a = [], {}, {}
    for k, o in enumerate(origins):
        a = apps[k % len(apps)]
        lines.append(GOOD.replace(b"PJSIP/2001-0000002a", b"PJSIP/%d-0000002a" % (1000 + o * 7))
                     .replace(b'"Dial"', b'"Dial%s"' % (b"x" * a)))
    s = scan_asterisk(b"\n".join(lines) + b"\n")
    assert not s["fallback"].any()
    ids = s["fact_ids"]
    expected_o = [want_o.setdefault(o, len(want_o)) for o in origins]
    expected_a = [want_a.setdefault(apps[k % len(apps)], len(want_a)) for k in range(len(origins))]
    assert ids[:, 0].tolist() == expected_o
    assert ids[:, 2].tolist() == expected_a
    assert s["fact_first"][0].tolist() == [origins.index(o) for o in want_o]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.binary(max_size=12) | st.sampled_from([b"", b"PJSIP/2001", b"PJSIP/2002"]),
                         max_size=300), min_size=1, max_size=4))
def test_interner_ids_last_from_block_to_block(blocks):
    """ingest._slices.Interner numbers values as a dict does, across calls (blocks), growing its table and arena as
    values come; values() gives back the new ones."""
    from ingest._slices import Interner

    interner, seen = Interner(), {}
    for values in blocks:
        buf = b"".join(values)
        off = np.cumsum([0] + [len(v) for v in values[:-1]]).astype(np.int64) if values else np.zeros(0, np.int64)
        ln = np.array([len(v) for v in values], np.int32)
        before = len(seen)
        ids = interner.ids(buf or b"\0", off, ln, np.arange(len(values), dtype=np.int64))
        assert ids.tolist() == [seen.setdefault(v, len(seen)) for v in values]
        assert len(interner) == len(seen)
        assert interner.values(before) == [v.decode("utf-8", "surrogateescape") for v in list(seen)[before:]]


def test_interner_grows_and_keeps_every_id():
    """Past 512 values the table doubles and every id is placed again: values seen before keep their ids."""
    from ingest._slices import Interner

    interner = Interner()
    for block in range(4):
        values = [b"SIP/%d" % k for k in range(block * 300, block * 300 + 600)]  # half new, half seen
        buf = b"".join(values)
        off = np.cumsum([0] + [len(v) for v in values[:-1]]).astype(np.int64)
        ids = interner.ids(buf, off, np.array([len(v) for v in values], np.int32),
                           np.arange(len(values), dtype=np.int64))
        assert ids.tolist() == list(range(block * 300, block * 300 + 600))
    assert len(interner) == 1500 and interner.values(1498) == ["SIP/1498", "SIP/1499"]


def reference_split(data: bytes, pos: int, maxf: int) -> tuple[list[tuple[int, int]] | None, int, int, int]:
    """What split_line must give, byte by byte: the line ends at the first CR or LF; it is taken when not empty,
    all printable ASCII and plain CSV ("quoted" fields with only doubled quotes inside, bare ones without quotes),
    with at most maxf fields."""
    n = len(data)
    end = pos
    while end < n and data[end] not in (10, 13):
        end += 1
    nxt = end + (2 if data[end:end + 2] == b"\r\n" else 1) if end < n else n
    line = data[pos:end]
    if not line or any(not 32 <= c <= 126 for c in line):
        return None, end, nxt, 0
    fields, doubled, p = [], 0, pos
    while True:
        if len(fields) == maxf:
            return None, end, nxt, 0
        if p < end and data[p] == 34:
            s = p = p + 1
            while True:
                while p < end and data[p] != 34:
                    p += 1
                if p + 1 < end and data[p + 1] == 34:
                    doubled |= 1 << min(len(fields), 63)
                    p += 2
                    continue
                break
            if p >= end:
                return None, end, nxt, 0
            fields.append((s, p))
            p += 1
            if p < end and data[p] != 44:
                return None, end, nxt, 0
        else:
            s = p
            while p < end and data[p] not in (34, 44):
                p += 1
            if p < end and data[p] == 34:
                return None, end, nxt, 0
            fields.append((s, p))
        if p >= end:
            return fields, end, nxt, doubled
        p += 1
        if p == end:
            if len(fields) == maxf:
                return None, end, nxt, 0
            fields.append((end, end))
            return fields, end, nxt, doubled


PIECES = [b'"', b'""', b",", b'","', b"a", b"abcdefgh", b"x" * 70, b"\r", b"\n", b"\r\n", b"\t", b"\x7f", b"\xc3\xa9",
          b" ", b'"a""b"', b'"a,b"']


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 70), st.lists(st.sampled_from(PIECES), max_size=40), st.binary(max_size=70),
       st.sampled_from([3, 22, 512]))
def test_split_fields_as_the_byte_by_byte_reference(lead, pieces, after, maxf):
    """Lines of quotes, commas, line ends and odd bytes at every alignment of the 64-byte steps, the block ending
    anywhere: the same fields, line end, next line and doubled bits as the reference."""
    data = b"z" * lead + b"".join(pieces) + after
    if lead >= len(data):
        return
    fields, end, nxt, doubled = split_fields(data, lead, maxf)
    want = reference_split(data, lead, maxf)
    assert (fields, end, nxt, doubled if fields is not None else 0) == want


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([b"a", b"\n", b"\r", b"\r\n", b"x" * 300, b"y" * 4100]), max_size=30))
def test_count_lines_as_the_lines_read(pieces):
    """count_lines (16 bytes at a time, its counters summed every 255 steps) against the lines counted one by one."""
    data = b"".join(pieces)
    lines = data.count(b"\n") + sum(1 for i, c in enumerate(data) if c == 13 and data[i + 1:i + 2] != b"\n")
    assert count_lines(data) == lines + (1 if data and data[-1] not in (10, 13) else 0)


@given(st.lists(st.integers(-(2**63) + 1, 2**63 - 1) | st.sampled_from([0, 9, 10, 99, 100, -1, -10, -100]),
                max_size=50))
def test_write_csv_int_column_as_str(values):
    """INT columns, two digits a step: every int64 but NONE (which is an empty field) as str() writes it."""
    from ingest._slices import INT, write_csv

    got = bytes(write_csv(b"", np.arange(len(values), dtype=np.int64), [(INT, np.array(values, np.int64))]))
    assert got == b"".join(str(v).encode() + b"\r\n" for v in values)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["PJSIP", "/", "-", ";", "0", "7", "a", "F", "x", "@", "0000002a", "-0000002a",
                                 "-0000002a;1"]), max_size=8))
def test_channel_base_as_classify(pieces):
    """The scanner's channel base (a fast path for `TECH/peer-` and 8 hex digits, else the byte rules) against
    ingest.cdr.classify.channel_base, on channels built from the pieces that matter."""
    from ingest.cdr._scan import SLICES
    from ingest.cdr.classify import channel_base

    channel = "".join(pieces)
    line = GOOD.replace(b"PJSIP/2001-0000002a", channel.encode())
    s = scan_asterisk(line)
    assert not s["fallback"][0]
    k = SLICES.index("origin")
    got = line[s["off"][0, k]:s["off"][0, k] + s["len"][0, k]].decode()
    assert got == channel_base(channel)


DATES = st.sampled_from(["2026-04-01", "2026-04-02", "2024-02-29", "2026-02-29", "2026-02-30", "2026-13-01",
                         "2026-00-10", "1999-12-31", "0000-01-01", "20x6-04-01", "2026-04-31"])
CLOCKS = st.sampled_from(["00:00:00", "09:30:05", "23:59:59", "24:00:00", "12:60:00", "12:00:61", "1a:00:00"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(DATES, CLOCKS), min_size=1, max_size=12))
def test_local_times_as_datetime(stamps):
    """The scanner's start times, the date of the line before kept (most lines share it), against datetime: the
    same naive seconds, or the line left to the row parser when the date or the time is not a real one."""
    import datetime as dt

    lines = [GOOD.replace(b"2026-04-01 09:00:00", f"{d} {c}".encode()) for d, c in stamps]
    s = scan_asterisk(b"\n".join(lines) + b"\n")
    for k, (d, c) in enumerate(stamps):
        try:
            want = int((dt.datetime.strptime(f"{d} {c}", "%Y-%m-%d %H:%M:%S") - dt.datetime(1970, 1, 1))
                       .total_seconds())
        except ValueError:
            want = None
        taken = not s["fallback"][k]
        assert taken == (want is not None)
        if taken:
            assert s["start"][k] == want


@given(st.lists(st.integers(-62135596800, 253402300799) | st.integers(1775000000, 1775100000) | st.sampled_from(
    [0, -1, 86399, 86400, -86400, -86401]), max_size=40))
def test_write_csv_time_column_as_datetime(values):
    """TIME columns, the day before's date copied (a block's calls share a few days): what datetime writes, before
    1970 too (years 1..9999)."""
    import datetime as dt

    from ingest._slices import TIME, write_csv

    got = bytes(write_csv(b"", np.arange(len(values), dtype=np.int64), [(TIME, np.array(values, np.int64))]))
    want = [(dt.datetime(1, 1, 1) + dt.timedelta(seconds=v + 62135596800)) for v in values]
    assert got == b"".join(w.strftime("%Y-%m-%dT%H:%M:%SZ").rjust(20, "0").encode() + b"\r\n" for w in want)


def test_lines_left_to_the_row_parser_have_no_slices():
    """scan_asterisk writes every slice of each line it takes and zeros those of each line it leaves (its slice
    arrays are not zeroed first): a line that fails early (a byte outside printable ASCII), at its fields (their
    number), at its times, or late (a doubled quote in the caller's number) has only zero slices, in memory that
    held other lines' offsets a moment before."""
    bad = [GOOD.replace(b"Alice", b"Al\x01ce"), GOOD + b',"extra"', GOOD.replace(b"2026-04-01 09:00:00", b"soon"),
           GOOD.replace(b'<2001>"', b'<20""01>"')]
    for _ in range(3):
        filled = scan_asterisk((GOOD + b"\n") * 4000)  # offsets everywhere in the memory the next arrays may reuse
        del filled
        data = b"".join(line + b"\n" for pair in zip([GOOD] * len(bad), bad) for line in pair)
        s = scan_asterisk(data)
        assert s["fallback"].tolist() == [False, True] * len(bad)
        assert not s["off"][1::2].any() and not s["len"][1::2].any()
        assert s["len"][0::2].any(axis=1).all()
