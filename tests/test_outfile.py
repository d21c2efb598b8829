"""pipeline.outfile: the bytes on disk are exactly those written, whether O_DIRECT is taken, refused at open or
refused at a write, at every alignment and across the staging buffer's edges."""

from __future__ import annotations

import errno
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pipeline.outfile as outfile
from pipeline.outfile import ALIGN, OutFile


@pytest.fixture
def small_stage(monkeypatch):
    monkeypatch.setattr(outfile, "STAGE", 4 * ALIGN)  # flushes every 16 kB: every path in a few kB of data


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 40_000), max_size=12), st.booleans())
def test_the_bytes_written_are_the_file(tmp_path_factory, sizes, direct):
    outfile.STAGE, stage = 4 * ALIGN, outfile.STAGE
    try:
        path = tmp_path_factory.mktemp("out") / "o.csv"
        path.write_bytes(b"old content, longer than what follows" * 1000)  # emptied at open
        chunks = [bytes([48 + k % 10]) * n for k, n in enumerate(sizes)]
        f = OutFile(path, direct=direct)
        for chunk in chunks:
            f.write(chunk)
        f.close()
        assert path.read_bytes() == b"".join(chunks)
    finally:
        outfile.STAGE = stage


def test_the_file_says_whether_it_writes_around_the_page_cache(tmp_path, small_stage):
    """`direct` is what the open file really does (O_DIRECT set or not), and at close the file is back to the
    usual way for its last bytes."""
    import fcntl

    f = OutFile(tmp_path / "o.csv")
    flags = fcntl.fcntl(f.fd, fcntl.F_GETFL)
    assert bool(flags & getattr(os, "O_DIRECT", 0)) == f.direct
    f.write(b"x" * (10 * ALIGN + 7))
    f.close()
    assert (tmp_path / "o.csv").read_bytes() == b"x" * (10 * ALIGN + 7)


def test_a_write_refused_goes_on_through_the_page_cache(tmp_path, small_stage, monkeypatch):
    real = os.write
    refused = []

    def write(fd, data):
        if not refused and f.direct:
            refused.append(len(data))
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(fd, data)

    monkeypatch.setattr(outfile.os, "write", write)
    monkeypatch.setattr(outfile, "_set_direct", lambda fd, on: on)  # as if O_DIRECT were taken
    f = OutFile(tmp_path / "o.csv")
    data = bytes(range(256)) * 300
    f.write(data[:5000])
    f.write(data[5000:])
    f.close()
    assert refused and not f.direct
    assert (tmp_path / "o.csv").read_bytes() == data


def test_other_errors_are_raised(tmp_path, small_stage, monkeypatch):
    def write(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outfile.os, "write", write)
    f = OutFile(tmp_path / "o.csv")
    with pytest.raises(OSError, match="No space"):
        f.write(b"y" * (5 * ALIGN))
        f.close()


def test_a_view_of_the_stage_held_elsewhere_does_not_stop_close(tmp_path, small_stage):
    """Dask's workers sample their threads' frames: one may keep a view of the stage alive a moment after the
    writer is done with it. close() still closes the file (the stage goes with its last view)."""
    f = OutFile(tmp_path / "o.csv")
    f.write(b"z" * (2 * ALIGN + 5))
    held = memoryview(f.stage) if f.stage is not None else None
    f.close()
    assert (tmp_path / "o.csv").read_bytes() == b"z" * (2 * ALIGN + 5)
    if held is not None:
        held.release()
