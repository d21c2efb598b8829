"""ingest.cdr.blocks.file_blocks reads a whole file around the page cache (O_DIRECT) in aligned reads, each block
the rest of the line the block before left, then whole lines: every byte and line must come out once, in order,
numbered as raw_blocks numbers them, whether the system takes O_DIRECT, refuses it at open, or refuses a read."""

from __future__ import annotations

import errno
import io
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.cdr._scan import count_lines
from ingest.cdr.blocks import ALIGN, HEAD, file_blocks, raw_blocks

LINE = b'"","2001","90155501234","from-internal","PJSIP/2001-0000002a","Dial","2026-04-01 09:00:00",65,60'


def check(data: bytes, got: list[tuple[bytearray, int, int]]) -> None:
    """The blocks are the file, cut after line feeds only, numbered on from 1 as raw_blocks numbers its blocks."""
    assert b"".join(bytes(b) for b, _, _ in got) == data
    first = 1
    for k, (buf, line, lines) in enumerate(got):
        assert buf and line == first and lines == count_lines(buf)
        assert bytes(buf).endswith(b"\n") or k == len(got) - 1
        first += lines
    whole = [(line, lines) for _, line, lines in raw_blocks(io.BytesIO(data), 1 << 30)]
    assert first - 1 == (whole[0][1] if whole else 0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3 * ALIGN), st.sampled_from([b"\n", b"\r\n", b"\r", b""])), max_size=40),
       st.sampled_from([1, 2, 3]), st.booleans())
def test_every_byte_and_line_once(tmp_path_factory, lines, aligns, direct):
    data = b"".join((LINE * (1 + n // len(LINE)))[:n] + end for n, end in lines)
    path = tmp_path_factory.mktemp("fb") / "cdr.csv"
    path.write_bytes(data)
    with pytest.MonkeyPatch.context() as mp:
        if not direct:
            mp.delattr(os, "O_DIRECT", raising=False)
        check(data, list(file_blocks(path, aligns * ALIGN)))


@pytest.mark.parametrize("size", [0, ALIGN, 2 * ALIGN, 2 * ALIGN + 1])
def test_sizes_on_and_around_the_reads(tmp_path, size):
    """Empty, exactly one or two reads long (the last read then returns nothing), one byte more."""
    data = ((LINE + b"\n") * (size // len(LINE) + 1))[:size]
    path = tmp_path / "cdr.csv"
    path.write_bytes(data)
    got = list(file_blocks(path, ALIGN))
    check(data, got)
    assert (got == []) == (size == 0)


def test_a_line_longer_than_the_room_before_a_block(tmp_path):
    """A line longer than HEAD (and than a read) is joined from several reads: nothing lost, no line cut."""
    long = b"x" * (HEAD + 3 * ALIGN + 5) + b"\n"
    data = LINE + b"\n" + long + LINE + b"\n" + long + LINE
    path = tmp_path / "cdr.csv"
    path.write_bytes(data)
    got = list(file_blocks(path, ALIGN))
    check(data, got)
    assert sum(bytes(b).count(long) for b, _, _ in got) == 2  # each one whole, in one block


def test_o_direct_refused_by_a_read(tmp_path, monkeypatch):
    """A file system that opens with O_DIRECT but fails a read with EINVAL: the same reads through the page cache,
    from where it had got to."""
    data = b"".join(LINE[: 40 + k % 50] + b"\n" for k in range(400))
    path = tmp_path / "cdr.csv"
    path.write_bytes(data)
    opened: list[int] = []
    real_open, real_preadv = os.open, os.preadv
    direct = getattr(os, "O_DIRECT", 0)

    def fake_open(p, flags, *args):
        fd = real_open(p, flags & ~direct, *args)  # whatever tmp_path takes: the refusal is the test's
        if fd in opened:  # the number of a file closed since
            opened.remove(fd)
        if flags & direct:
            opened.append(fd)
        return fd

    calls = []

    def fake_preadv(fd, buffers, offset):
        calls.append(fd in opened)
        if fd in opened and offset >= 2 * ALIGN:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_preadv(fd, buffers, offset)

    monkeypatch.setattr(os, "O_DIRECT", direct or 0o40000, raising=False)
    direct = os.O_DIRECT
    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(os, "preadv", fake_preadv)
    check(data, list(file_blocks(path, ALIGN)))
    assert calls[0] and not calls[-1]  # began direct, went on through the page cache


def test_other_read_errors_are_raised(tmp_path, monkeypatch):
    path = tmp_path / "cdr.csv"
    path.write_bytes(LINE + b"\n")

    def broken(fd, buffers, offset):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "preadv", broken)
    with pytest.raises(OSError, match="Input/output"):
        list(file_blocks(path, ALIGN))


def test_block_bytes_must_be_whole_aligned_reads(tmp_path):
    path = tmp_path / "cdr.csv"
    path.write_bytes(LINE)
    for bad in (0, ALIGN + 1):
        with pytest.raises(ValueError, match="multiple"):
            list(file_blocks(path, bad))


def test_without_preadv_as_a_stream(tmp_path, monkeypatch):
    """Systems without os.preadv (Windows) read the file as raw_blocks reads a stream."""
    data = b"".join(LINE[: 30 + k % 60] + b"\r\n" for k in range(300))
    path = tmp_path / "cdr.csv"
    path.write_bytes(data)
    monkeypatch.delattr(os, "preadv")
    got = list(file_blocks(path, ALIGN))
    check(data, got)
    want = raw_blocks(io.BytesIO(data), ALIGN)
    assert [(bytes(b), f, n) for b, f, n in got] == [(bytes(b), f, n) for b, f, n in want]
