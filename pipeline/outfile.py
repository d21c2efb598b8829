"""Big output files written around the page cache (O_DIRECT, on Linux), where the file system allows it.

batch-rate's CSV output is about as big as its input: hundreds of megabytes to gigabytes. Written the usual way,
every 4 kB page of it is first allocated and filled in the kernel's page cache; on a virtual machine that first
touch of fresh memory costs microseconds a page (measured on the development VM: 0.2-0.7 s of CPU for a 400 MB
output, a quarter of the run). With O_DIRECT the disk reads the bytes from a buffer of our own that is used again
and again. O_DIRECT needs aligned buffers, sizes and offsets: the bytes are gathered in an aligned staging buffer
and written a whole number of blocks at a time; the last part, of any size, goes through the page cache at close.
Where O_DIRECT is refused (tmpfs, another system, a write that fails with EINVAL), the file is written the usual
way from where it had got to: the bytes on disk are the same either way.
"""

from __future__ import annotations

import errno
import mmap
import os
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # not on Windows: the usual way there
    fcntl = None  # type: ignore[assignment]

ALIGN = 4096  # the block size O_DIRECT writes in (a larger logical block fails with EINVAL: then the usual way)
STAGE = 4 << 20  # bytes gathered before a direct write


def _set_direct(fd: int, on: bool) -> bool:
    """Turn O_DIRECT on or off for an open file; False where the system or the file system does not have it."""
    direct = getattr(os, "O_DIRECT", 0)
    if not direct or fcntl is None:
        return False
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, (flags | direct) if on else (flags & ~direct))
    except OSError:
        return False
    return on


class OutFile:
    """A new file (created or emptied) written in order, as `open(path, "wb")` would, but around the page cache
    when the file system allows it (see the module docstring)."""

    def __init__(self, path: Path, direct: bool = True) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        self.direct = direct and _set_direct(self.fd, True)
        self.stage = mmap.mmap(-1, STAGE) if self.direct else None  # page-aligned, reused
        self.used = 0  # bytes waiting in the stage

    def write(self, data: Any) -> None:
        view = memoryview(data).cast("B")
        if self.stage is None:
            self._write(view)
            return
        while len(view):
            k = min(len(view), STAGE - self.used)
            self.stage[self.used:self.used + k] = view[:k]
            self.used += k
            view = view[k:]
            if self.used == STAGE:
                self._flush(STAGE)

    def close(self) -> None:
        try:
            if self.stage is not None:
                whole = self.used - self.used % ALIGN
                if whole:
                    self._flush(whole)
                _set_direct(self.fd, False)  # the last part is of any size
                self.direct = False
                if self.used:
                    self._write(memoryview(self.stage)[:self.used])
                self.used = 0
        finally:
            # dropped, not closed: a view of it may still be held elsewhere for a moment (a traceback, a sampling
            # profiler's frame, as Dask's workers keep): the mapping goes with the last one
            self.stage = None
            os.close(self.fd)

    def _flush(self, n: int) -> None:
        """Write the stage's first n bytes (a multiple of ALIGN), directly while the system takes it, and keep the
        rest at the stage's start."""
        assert self.stage is not None
        stage = memoryview(self.stage)
        self._write(stage[:n])
        rest = self.used - n
        if rest:
            stage[:rest] = stage[n:self.used]
        self.used = rest

    def _write(self, view: memoryview) -> None:
        done = 0
        while done < len(view):
            try:
                got = os.write(self.fd, view[done:])  # in order: each write where the one before ended
            except OSError as exc:
                if not self.direct or exc.errno != errno.EINVAL:
                    raise
                self.direct = _set_direct(self.fd, False)  # refused: the same bytes through the page cache
                continue
            done += got
            if self.direct and got % ALIGN:  # an odd partial write: the rest would be misaligned
                self.direct = _set_direct(self.fd, False)
