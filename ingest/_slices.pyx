# String columns as (offset, length) slices of one block of bytes: hashing for unique values, decoding, and the
# CSV writer of rated rows. What the columnar import paths share, so that no per-row Python object is made.

from libc.stdint cimport INT64_MIN, int32_t, int64_t, uint8_t, uint64_t
from cpython.bytearray cimport PyByteArray_FromStringAndSize
from libc.string cimport memcmp, memcpy

from engine._prefetch cimport anatole_prefetch
from ingest._words cimport anatole_ctz64, zero_bytes


cdef extern from "<string.h>" nogil:
    size_t strnlen(const char* s, size_t maxlen)

import numpy as np


cdef int64_t NONE = INT64_MIN
cdef Py_ssize_t AHEAD = 8  # rows ahead whose bytes a loop over a block's rows asks for (anatole_prefetch)

# column kinds of write_csv
cdef enum:
    K_SLICE, K_TABLE, K_INT, K_MONEY, K_TIME, K_FIXED
SLICE, TABLE, INT, MONEY, TIME, FIXED = K_SLICE, K_TABLE, K_INT, K_MONEY, K_TIME, K_FIXED


def hash_slices(const uint8_t[::1] buf, const int64_t[:] off, const int32_t[:] ln, const int64_t[::1] rows):
    """FNV-1a 64 of each row's slice (the length mixed in, so that "" and absent differ from any text)."""
    out = np.empty(rows.shape[0], np.uint64)
    cdef uint64_t[::1] h = out
    cdef const uint8_t* b = &buf[0] if buf.shape[0] else NULL
    cdef Py_ssize_t k, i, r
    cdef uint64_t x
    with nogil:
        for k in range(rows.shape[0]):
            r = rows[k]
            x = 14695981039346656037ULL ^ <uint64_t>ln[r]
            for i in range(ln[r]):
                x = (x ^ b[off[r] + i]) * 1099511628211ULL
            h[k] = x
    return out


def differ(const uint8_t[::1] buf, const int64_t[:] off, const int32_t[:] ln, const int64_t[::1] rows,
           const int64_t[::1] reps):
    """True where rows[k]'s slice is not byte-equal to reps[k]'s (a hash collision)."""
    out = np.zeros(rows.shape[0], np.bool_)
    cdef uint8_t[::1] o = out.view(np.uint8)
    cdef const uint8_t* b = &buf[0] if buf.shape[0] else NULL
    cdef Py_ssize_t k, r, q
    with nogil:
        for k in range(rows.shape[0]):
            r = rows[k]
            q = reps[k]
            if ln[r] != ln[q] or (ln[r] and memcmp(b + off[r], b + off[q], ln[r]) != 0):
                o[k] = 1
    return out


def buffer(Py_ssize_t size) -> bytearray:
    """A bytearray of `size` bytes, not zeroed: for a reader that fills it (raw_blocks' readinto) and then trims it
    to what was read (bytearray(size) would write every byte once more)."""
    if size < 0:
        raise ValueError("buffer: a negative size")
    return PyByteArray_FromStringAndSize(NULL, size)


def equal(const uint8_t[::1] buf, const int64_t[:] off1, const int32_t[:] ln1, const int64_t[:] off2,
          const int32_t[:] ln2):
    """True where slice k of the first set is byte-equal to slice k of the second (aligned arrays): the per-row
    "same value" test of the columnar path, without a Python string or a dict per distinct value."""
    cdef Py_ssize_t n = off1.shape[0], k
    if off2.shape[0] != n or ln1.shape[0] != n or ln2.shape[0] != n:
        raise ValueError("equal: the slice arrays must have the same length")
    out = np.zeros(n, np.bool_)
    cdef uint8_t[::1] o = out.view(np.uint8)
    cdef const uint8_t* b = &buf[0] if buf.shape[0] else NULL
    with nogil:
        for k in range(n):
            if k + AHEAD < n:
                anatole_prefetch(b + off1[k + AHEAD])
                anatole_prefetch(b + off2[k + AHEAD])
            if ln1[k] == ln2[k] and (ln1[k] == 0 or memcmp(b + off1[k], b + off2[k], ln1[k]) == 0):
                o[k] = 1
    return out


def decode(const uint8_t[::1] buf, const int64_t[:] off, const int32_t[:] ln, const int64_t[::1] rows) -> list:
    """The rows' slices as str (the block is ASCII where slices point)."""
    cdef const uint8_t* b = &buf[0] if buf.shape[0] else NULL
    cdef Py_ssize_t k, r
    cdef list out = []
    for k in range(rows.shape[0]):
        r = rows[k]
        out.append((<const char*>(b + off[r]))[:ln[r]].decode("ascii"))
    return out


cdef char DIGITS2[201]  # "00" .. "99": two digits a step
for _k in range(100):
    DIGITS2[2 * _k] = 48 + _k // 10
    DIGITS2[2 * _k + 1] = 48 + _k % 10


cdef inline Py_ssize_t put_int(uint8_t* o, Py_ssize_t p, int64_t v) noexcept nogil:
    cdef uint8_t tmp[24]
    cdef int n = 24, d
    cdef uint64_t u
    if v < 0:
        o[p] = 45
        p += 1
        u = <uint64_t>(-(v + 1)) + 1
    else:
        u = <uint64_t>v
    while u >= 100:  # written from the end, two digits a step
        d = <int>(u % 100)
        u //= 100
        n -= 2
        tmp[n] = DIGITS2[2 * d]
        tmp[n + 1] = DIGITS2[2 * d + 1]
    if u >= 10:
        n -= 2
        tmp[n] = DIGITS2[2 * u]
        tmp[n + 1] = DIGITS2[2 * u + 1]
    else:
        n -= 1
        tmp[n] = <uint8_t>(48 + u)
    memcpy(o + p, tmp + n, 24 - n)
    return p + 24 - n


cdef inline Py_ssize_t put2(uint8_t* o, Py_ssize_t p, int64_t v) noexcept nogil:
    o[p] = <uint8_t>(48 + v // 10)
    o[p + 1] = <uint8_t>(48 + v % 10)
    return p + 2


ctypedef struct DayCache:  # the last day put_time wrote (a block's calls share a few): its number and its text
    int64_t day  # INT64_MIN: none yet
    uint8_t text[11]  # YYYY-MM-DDT


cdef inline Py_ssize_t put_time(uint8_t* o, Py_ssize_t p, int64_t t, DayCache* last) noexcept nogil:
    """UTC epoch -> YYYY-MM-DDTHH:MM:SSZ (years 1..9999); the date of the day before (`last`) copied, not counted."""
    cdef int64_t days = t // 86400, secs
    cdef int64_t z, era, doe, yoe, y, doy, mp, d, m
    cdef Py_ssize_t q
    if days * 86400 > t:  # C division rounds towards zero: floor for times before 1970
        days -= 1
    secs = t - days * 86400
    if days != last.day:
        z = days + 719468
        era = (z if z >= 0 else z - 146096) // 146097
        doe = z - era * 146097
        yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
        y = yoe + era * 400
        doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
        mp = (5 * doy + 2) // 153
        d = doy - (153 * mp + 2) // 5 + 1
        m = mp + 3 if mp < 10 else mp - 9
        if m <= 2:
            y += 1
        q = put2(last.text, 0, y // 100)
        q = put2(last.text, q, y % 100)
        last.text[q] = 45
        q = put2(last.text, q + 1, m)
        last.text[q] = 45
        q = put2(last.text, q + 1, d)
        last.text[q] = 84
        last.day = days
    memcpy(o + p, last.text, 11)
    p = put2(o, p + 11, secs // 3600)
    o[p] = 58
    p = put2(o, p + 1, (secs // 60) % 60)
    o[p] = 58
    p = put2(o, p + 1, secs % 60)
    o[p] = 90
    return p + 1


cdef inline Py_ssize_t put_money(uint8_t* o, Py_ssize_t p, int64_t v, int decimals) noexcept nogil:
    """engine.money.format_money of a value already rounded to `decimals` (units of 10**-8)."""
    cdef int64_t scale = 100000000, whole, frac, q = 1
    cdef int i
    for i in range(8 - decimals):
        q *= 10
    if v < 0:
        o[p] = 45
        p += 1
        v = -v
    whole = v // scale
    frac = (v % scale) // q
    p = put_int(o, p, whole)
    if decimals:
        o[p] = 46
        p += 1
        q = 1
        for i in range(decimals - 1):
            q *= 10
        for i in range(decimals):
            o[p] = <uint8_t>(48 + (frac // q) % 10)
            p += 1
            q //= 10
    return p


cdef inline Py_ssize_t put_quoted(uint8_t* o, Py_ssize_t p, const uint8_t* t, Py_ssize_t n) noexcept nogil:
    """n bytes as one CSV field as the csv module writes it (QUOTE_MINIMAL: in quotes, quotes doubled, when it holds
    a comma, a quote or a line end)."""
    cdef Py_ssize_t i
    cdef bint quote = False
    for i in range(n):
        if t[i] == 44 or t[i] == 34 or t[i] == 13 or t[i] == 10:
            quote = True
            break
    if not quote:
        memcpy(o + p, t, n)
        return p + n
    o[p] = 34
    p += 1
    for i in range(n):
        o[p] = t[i]
        p += 1
        if t[i] == 34:
            o[p] = 34
            p += 1
    o[p] = 34
    return p + 1


cdef inline Py_ssize_t put_field(uint8_t* o, Py_ssize_t p, const uint8_t* t, Py_ssize_t n, bint wide) noexcept nogil:
    """put_quoted, 8 bytes at a time when `wide` (t may be read, and o written, up to 8 bytes past n): each word is
    checked for a comma, quote, CR or LF while it is copied; a field that holds one is written again by put_quoted."""
    cdef Py_ssize_t i = 0
    cdef uint64_t w, keep
    if not wide:
        return put_quoted(o, p, t, n)
    while i < n:
        memcpy(&w, t + i, 8)
        if n - i < 8:  # bytes past the field: made harmless ('A') for the test
            keep = (1ULL << (8 * (n - i))) - 1
            w = (w & keep) | (0x4141414141414141ULL & ~keep)
        if zero_bytes(w ^ 0x2C2C2C2C2C2C2C2CULL) | zero_bytes(w ^ 0x2222222222222222ULL) \
                | zero_bytes(w ^ 0x0D0D0D0D0D0D0D0DULL) | zero_bytes(w ^ 0x0A0A0A0A0A0A0A0AULL):
            return put_quoted(o, p, t, n)
        memcpy(o + p + i, &w, 8)
        i += 8
    return p + n


cdef inline Py_ssize_t entry_len(const uint8_t* t, Py_ssize_t width, bint wide) noexcept nogil:
    """The bytes of a NUL-padded entry of `width` before its first NUL: 8 at a time when `wide` (t may be read up to
    a whole word past width), else strnlen."""
    cdef Py_ssize_t i = 0
    cdef uint64_t w, m
    if not wide:
        return <Py_ssize_t>strnlen(<const char*>t, width)
    while i < width:
        memcpy(&w, t + i, 8)
        m = zero_bytes(w)
        if m:
            i += anatole_ctz64(m) >> 3
            return i if i < width else width
        i += 8
    return width


cdef inline Py_ssize_t put_bytes(uint8_t* o, Py_ssize_t p, const uint8_t* t, Py_ssize_t n, bint wide) noexcept nogil:
    """memcpy, 8 bytes at a time when `wide` (t may be read, and o written, up to 8 bytes past n)."""
    cdef Py_ssize_t i = 0
    cdef uint64_t w
    if not wide:
        memcpy(o + p, t, n)
        return p + n
    while i < n:
        memcpy(&w, t + i, 8)
        memcpy(o + p + i, &w, 8)
        i += 8
    return p + n


cdef struct Col:
    int kind
    const int64_t* i64  # SLICE offsets, INT/MONEY/TIME values
    const int32_t* i32  # SLICE lengths, TABLE indexes
    Py_ssize_t s64, s32  # SLICE: the strides of i64 and i32 in items (a column of the block's (lines, k) arrays)
    Py_ssize_t limit  # TABLE/FIXED: bytes of text (a read 8 bytes past an entry's end stays below it: wide copy)
    const uint8_t* text  # TABLE: the entries end to end
    const int64_t* starts  # TABLE: entry k is text[starts[k]:starts[k + 1]]
    Py_ssize_t widest  # TABLE: the longest entry (the output's size is reckoned with it)
    int decimals
    Py_ssize_t width  # FIXED: entry k is text[k * width:(k + 1) * width] up to its first NUL


cdef Py_ssize_t column(Col* col, tuple spec, const int64_t[::1] rows, list keep) except -1:
    """Point `col` at a column spec's arrays (kept alive in `keep`); the most bytes its rows may take, quoted."""
    cdef Py_ssize_t nrows = rows.shape[0]
    col.kind = spec[0]
    if spec[0] == SLICE:  # read in place: a column of the block's arrays is strided
        a = np.asarray(spec[1])
        l = np.asarray(spec[2])
        if a.dtype != np.int64 or a.strides[0] % 8:
            a = np.ascontiguousarray(a, np.int64)
        if l.dtype != np.int32 or l.strides[0] % 4:
            l = np.ascontiguousarray(l, np.int32)
        keep += [a, l]
        col.i64 = <const int64_t*><size_t>a.ctypes.data
        col.i32 = <const int32_t*><size_t>l.ctypes.data
        col.s64, col.s32 = a.strides[0] // 8, l.strides[0] // 4
        return 2 * int(l[rows].sum()) + 2 * nrows
    if spec[0] == TABLE:
        a = np.ascontiguousarray(spec[1], np.int32)
        if isinstance(spec[2], tuple):  # (entries end to end, int64 starts[len + 1][, the longest entry's
            # length]): joined once by the caller
            text = spec[2][0]  # read where it is (a tariff's table is megabytes): copied only when empty
            if not isinstance(text, bytes) or not text:
                text = bytes(text) + b"\0"
            starts = np.ascontiguousarray(spec[2][1], np.int64)
            widest = spec[2][2] if len(spec[2]) > 2 else int(np.diff(starts).max(initial=0))
        else:
            text = b"".join(spec[2]) + b"\0"
            starts = np.zeros(len(spec[2]) + 1, np.int64)
            np.cumsum([len(x) for x in spec[2]], out=starts[1:])
            widest = max([len(x) for x in spec[2]] or [0])
        keep += [a, text, starts]
        col.i32 = <const int32_t*><size_t>a.ctypes.data
        col.text = <const uint8_t*><const char*>text
        col.starts = <const int64_t*><size_t>starts.ctypes.data
        col.limit = len(text)
        col.widest = widest
        return widest * nrows
    if spec[0] == FIXED:
        a = np.ascontiguousarray(spec[1], np.int32)
        fixed = np.ascontiguousarray(spec[2])
        if fixed.dtype.kind != "S" or fixed.ndim != 1:
            raise TypeError("FIXED: a 1-d numpy 'S' array")
        col.width = fixed.dtype.itemsize
        if col.width == 0 or len(fixed) == 0:
            fixed = np.zeros(1, "S1")  # nothing to point into: every entry is empty
            col.width = 0
        keep += [a, fixed]
        col.i32 = <const int32_t*><size_t>a.ctypes.data
        col.text = <const uint8_t*><size_t>fixed.ctypes.data
        col.limit = fixed.nbytes
        return (2 * col.width + 2) * nrows
    a = np.ascontiguousarray(spec[1], np.int64)
    keep.append(a)
    col.i64 = <const int64_t*><size_t>a.ctypes.data
    col.decimals = spec[2] if spec[0] == MONEY else 0
    return 32 * nrows


def write_csv(const uint8_t[::1] buf, const int64_t[::1] rows, list columns) -> memoryview:
    """CSV lines (\\r\\n, as the csv module writes) for `rows`, as a memoryview of the buffer they were written in
    (no copy: a block's output is handed to the file as it is), one field per column spec:
    (SLICE, off int64[n], len int32[n]) quoted when it holds a comma or a quote; (TABLE, idx int32[n], list of
    already-quoted bytes, or (bytes, starts[, longest entry's length]) of them joined; idx -1 = empty); (INT, int64[n]; NONE = empty); (MONEY, int64[n], decimals; NONE =
    empty); (TIME, int64[n] UTC epoch); (FIXED, idx int32[n], numpy 'S' array: entry idx up to its first NUL, quoted
like a slice; idx -1 = empty: a block's normalised numbers as they are, no table made). Arrays are indexed by row
number."""
    cdef Py_ssize_t ncol = len(columns), c, k, r, r2, i, size = 0, p = 0, nrows = rows.shape[0]
    cdef const uint8_t* b = &buf[0] if buf.shape[0] else NULL
    cdef Col cols[64]
    cdef Col* col
    cdef int64_t start, stop
    keep = []  # the arrays the pointers point into
    if ncol > 64:
        raise ValueError("at most 64 columns")
    for c in range(ncol):
        size += column(&cols[c], columns[c], rows, keep)
    size += (ncol + 2) * nrows + 8  # + 8: a wide copy writes up to 8 bytes past a field
    cdef Py_ssize_t buflen = buf.shape[0]
    out = PyByteArray_FromStringAndSize(NULL, size)  # not zeroed: every byte up to p is written below
    cdef uint8_t[::1] ob = out
    cdef uint8_t* o = &ob[0] if size else NULL
    cdef int nbig = 0, nslice = 0, nfixed = 0
    cdef int big[64]  # TABLE columns too big for the cache (a tariff's destinations and prefixes): prefetched
    cdef int slices[64]  # SLICE columns: their bytes in the block, prefetched
    cdef int fixed[64]  # FIXED columns bigger than the cache (a block's numbers): their entries, prefetched
    for c in range(ncol):
        if cols[c].kind == K_TABLE and cols[c].limit > 1 << 16:
            big[nbig] = c
            nbig += 1
        elif cols[c].kind == K_SLICE:
            slices[nslice] = c
            nslice += 1
        elif cols[c].kind == K_FIXED and cols[c].limit > 1 << 16:
            fixed[nfixed] = c
            nfixed += 1
    cdef DayCache days
    days.day = INT64_MIN
    cdef bint wrong = False
    with nogil:
        for k in range(nrows):
            r = rows[k]
            if k + 2 * AHEAD < nrows:
                for c in range(nslice):
                    col = &cols[slices[c]]
                    anatole_prefetch(b + col.i64[rows[k + 2 * AHEAD] * col.s64])
                for c in range(nbig):  # the entry AHEAD rows on (its start was asked for AHEAD rows ago)
                    col = &cols[big[c]]
                    if col.i32[rows[k + AHEAD]] >= 0:
                        anatole_prefetch(col.text + col.starts[col.i32[rows[k + AHEAD]]])
                    if col.i32[rows[k + 2 * AHEAD]] >= 0:
                        anatole_prefetch(&col.starts[col.i32[rows[k + 2 * AHEAD]]])
                for c in range(nfixed):  # a block's numbers: the entry 2 * AHEAD rows on
                    col = &cols[fixed[c]]
                    if col.i32[rows[k + 2 * AHEAD]] >= 0:
                        anatole_prefetch(col.text + <Py_ssize_t>col.i32[rows[k + 2 * AHEAD]] * col.width)
            if (k & 7) == 0 and k + 64 < nrows:  # every column's value 64 rows on (a line of each array)
                r2 = rows[k + 64]
                for c in range(ncol):
                    col = &cols[c]
                    if col.kind == K_SLICE:
                        anatole_prefetch(&col.i64[r2 * col.s64])
                        anatole_prefetch(&col.i32[r2 * col.s32])
                    elif col.kind == K_TABLE or col.kind == K_FIXED:
                        anatole_prefetch(&col.i32[r2])
                    else:
                        anatole_prefetch(&col.i64[r2])
            for c in range(ncol):
                if c:
                    o[p] = 44
                    p += 1
                col = &cols[c]
                if col.kind == K_SLICE:
                    start = col.i64[r * col.s64]
                    i = col.i32[r * col.s32]
                    p = put_field(o, p, b + start, i, start + i + 8 <= buflen)
                elif col.kind == K_TABLE:
                    if col.i32[r] >= 0:
                        start = col.starts[col.i32[r]]
                        stop = col.starts[col.i32[r] + 1]
                        if stop - start > col.widest:  # a longest entry given wrong: never past the buffer
                            wrong = True
                            break
                        p = put_bytes(o, p, col.text + start, stop - start, stop + 8 <= col.limit)
                elif col.kind == K_FIXED:
                    if col.i32[r] >= 0 and col.width:
                        start = <Py_ssize_t>col.i32[r] * col.width
                        i = entry_len(col.text + start, col.width, start + col.width + 8 <= col.limit)
                        p = put_field(o, p, col.text + start, i, start + i + 8 <= col.limit)
                elif col.kind == K_INT:
                    if col.i64[r] != NONE:
                        p = put_int(o, p, col.i64[r])
                elif col.kind == K_MONEY:
                    if col.i64[r] != NONE:
                        p = put_money(o, p, col.i64[r], col.decimals)
                else:
                    p = put_time(o, p, col.i64[r], &days)
            if wrong:
                break
            o[p] = 13
            o[p + 1] = 10
            p += 2
    if wrong:
        raise ValueError("write_csv: a TABLE entry is longer than the longest entry given with its table")
    return memoryview(out)[:p]


cdef class Interner:
    """Ids of byte strings that last from block to block: the channels a PBX's lines name are the same few thousand
    all day, so what the columnar path works out per channel in Python is worked out once per run, not once per
    block. Exact: a hash hit is compared with the copy of the value kept in an arena. Not thread-safe (the caller
    holds a lock: `ids` runs with the GIL held but its caller reads what it added)."""

    cdef object table_a, hashes_a, at_a, arena_a
    cdef Py_ssize_t size, count, used

    def __init__(self) -> None:
        self.size = 1024
        self.table_a = np.full(self.size, -1, np.int32)
        self.hashes_a = np.empty(512, np.uint64)
        self.at_a = np.zeros(513, np.int64)  # at[id] .. at[id + 1]: the id's bytes in the arena
        self.arena_a = np.empty(1 << 16, np.uint8)
        self.count = self.used = 0

    def __len__(self) -> int:
        return self.count

    def ids(self, const uint8_t[::1] buf, const int64_t[:] off, const int32_t[:] ln, const int64_t[::1] rows):
        """The id of each row's slice buf[off[r]:off[r] + ln[r]] (int64 array), new values numbered from len()."""
        cdef Py_ssize_t n = rows.shape[0], k, r, slot, size
        cdef int64_t total = 0
        for k in range(n):
            total += ln[rows[k]]
        if self.count + n + 1 > len(self.hashes_a):  # room for every row being new
            grow = max(2 * len(self.hashes_a), self.count + n + 1)
            self.hashes_a = np.resize(self.hashes_a, grow)
            self.at_a = np.resize(self.at_a, grow + 1)
        if self.used + total > len(self.arena_a):
            self.arena_a = np.resize(self.arena_a, max(2 * len(self.arena_a), self.used + total))
        if 2 * (self.count + n) > self.size:  # at most half full: every id placed again
            size = self.size
            while 2 * (self.count + n) > size:
                size *= 2
            self.size = size
            self.table_a = np.full(size, -1, np.int32)
            self.place_all()
        out = np.empty(n, np.int64)
        cdef int64_t[::1] o = out
        cdef int32_t[::1] table = self.table_a
        cdef uint64_t[::1] hashes = self.hashes_a
        cdef int64_t[::1] at = self.at_a
        cdef uint8_t[::1] arena = self.arena_a
        cdef const uint8_t* b = &buf[0] if buf.shape[0] else NULL
        cdef uint64_t x
        cdef int64_t v, q, m
        cdef Py_ssize_t i
        size = self.size
        with nogil:
            for k in range(n):
                r = rows[k]
                m = ln[r]
                x = 14695981039346656037ULL ^ <uint64_t>m
                for i in range(m):
                    x = (x ^ b[off[r] + i]) * 1099511628211ULL
                x ^= x >> 33
                slot = <Py_ssize_t>(x & <uint64_t>(size - 1))
                while True:
                    v = table[slot]
                    if v < 0:
                        v = self.count
                        self.count += 1
                        table[slot] = <int32_t>v
                        hashes[v] = x
                        q = self.used
                        if m:
                            memcpy(&arena[q], b + off[r], m)
                        self.used = q + m
                        at[v + 1] = self.used
                        break
                    if hashes[v] == x and at[v + 1] - at[v] == m and \
                            (m == 0 or memcmp(&arena[at[v]], b + off[r], m) == 0):
                        break
                    slot = (slot + 1) & (size - 1)
                o[k] = v
        return out

    cdef place_all(self):
        cdef int32_t[::1] table = self.table_a
        cdef uint64_t[::1] hashes = self.hashes_a
        cdef Py_ssize_t v, slot
        for v in range(self.count):
            slot = <Py_ssize_t>(hashes[v] & <uint64_t>(self.size - 1))
            while table[slot] >= 0:
                slot = (slot + 1) & (self.size - 1)
            table[slot] = <int32_t>v

    def values(self, Py_ssize_t start=0) -> list:
        """The values of ids start.. as str (UTF-8; a byte that is not: as surrogateescape keeps it)."""
        cdef const int64_t[::1] at = self.at_a
        arena = self.arena_a
        return [arena[at[v]:at[v + 1]].tobytes().decode("utf-8", "surrogateescape") for v in range(start, self.count)]


def strings(const uint8_t[::1] buf, const int64_t[::1] rows, tuple spec):
    """One write_csv column (SLICE, TABLE of entries as they are, FIXED, MONEY or TIME) as an Arrow
    string column: (offsets int32[n + 1], data uint8, valid bool[n]); the values as write_csv writes them but not
    quoted, an empty value null (as pyarrow's CSV reader reads an empty field). Parquet output is built from these
    without going through CSV text."""
    cdef Py_ssize_t n = rows.shape[0], k, r, p = 0, size, w
    cdef const uint8_t* b = &buf[0] if buf.shape[0] else NULL
    cdef Col col
    cdef int64_t start, stop
    keep = []
    if spec[0] not in (SLICE, TABLE, FIXED, MONEY, TIME):
        raise ValueError("strings: a SLICE, TABLE, FIXED, MONEY or TIME column")
    size = column(&col, spec, rows, keep)
    if size >= 2**31:
        raise ValueError("strings: over 2 GiB in one column")
    offsets = np.empty(n + 1, np.int32)
    valid = np.empty(n, np.bool_)
    out = np.empty(size + 8, np.uint8)
    cdef int32_t[::1] ov = offsets
    cdef uint8_t[::1] vv = valid.view(np.uint8)
    cdef uint8_t[::1] dv = out
    cdef uint8_t* o = &dv[0]
    cdef DayCache days
    days.day = INT64_MIN
    with nogil:
        ov[0] = 0
        for k in range(n):
            r = rows[k]
            if col.kind == K_SLICE:
                w = col.i32[r * col.s32]
                memcpy(o + p, b + col.i64[r * col.s64], w)
                p += w
            elif col.kind == K_TABLE:
                if col.i32[r] >= 0:
                    start = col.starts[col.i32[r]]
                    stop = col.starts[col.i32[r] + 1]
                    memcpy(o + p, col.text + start, stop - start)
                    p += stop - start
            elif col.kind == K_FIXED:
                if col.i32[r] >= 0 and col.width:
                    w = entry_len(col.text + <Py_ssize_t>col.i32[r] * col.width, col.width,
                                  <Py_ssize_t>col.i32[r] * col.width + col.width + 8 <= col.limit)
                    memcpy(o + p, col.text + <Py_ssize_t>col.i32[r] * col.width, w)
                    p += w
            elif col.kind == K_MONEY:
                if col.i64[r] != NONE:
                    p = put_money(o, p, col.i64[r], col.decimals)
            else:
                p = put_time(o, p, col.i64[r], &days)
            vv[k] = p > ov[k]
            ov[k + 1] = <int32_t>p
    return offsets, out[:p], valid
