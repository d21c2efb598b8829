# The columnar fast path of tariffs/load.py: a CSV rate deck read straight into numpy columns.
#
# `scan` splits the deck's bytes into records and fields exactly as Python's csv.reader (default dialect, non-strict)
# does on io.StringIO(text, newline=""): the same state machine, the same line numbers, quotes and doubled quotes
# removed. Field contents are written over the deck's own buffer (in place) and named by their bounds: no Python
# object per row. The per-column kernels take a cell only when the reference rules can be applied here exactly
# (plain ASCII digits, plain amounts); any other cell gets status FALLBACK and tariffs/load.py hands it to the same
# Python conversion as the reference loader, which gives the value or the exact error message. Money is summed
# from its digits as integers (units of 10**-8): no float, no rounding.

from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcmp, memcpy
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.ref cimport Py_INCREF
from cpython.unicode cimport PyUnicode_DecodeUTF8


cdef extern from "Python.h":
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void* PyUnicode_DATA(object text)

import mmap

import numpy as np

DEF START_RECORD = 0
DEF START_FIELD = 1
DEF IN_FIELD = 2
DEF IN_QUOTED_FIELD = 3
DEF QUOTE_IN_QUOTED_FIELD = 4
DEF EAT_CRNL = 5
DEF EOL = -2

DEF C_EMPTY = 1
DEF C_FALLBACK = 2
OK = 0
EMPTY = C_EMPTY
FALLBACK = C_FALLBACK


HUGE_PAGE = 2 << 20
_ADVICE = getattr(mmap, "MADV_HUGEPAGE", None)


def zeroed(Py_ssize_t nbytes, dtype=np.uint8):
    """A zero-filled 1-d array of nbytes // itemsize items. A large one (1 MB or more) is mapped on its own and
    asks for 2 MB pages (Linux transparent huge pages, `madvise` mode): a first touch of a 4 kB page costs some
    3 us on this VM, and the scanned deck's bounds alone would take 2,000 of them. Small arrays, other systems, or
    a refused mapping: numpy's own."""
    if nbytes < HUGE_PAGE // 2 or _ADVICE is None:
        return np.zeros(nbytes // np.dtype(dtype).itemsize, dtype=dtype)
    size = -(-nbytes // HUGE_PAGE) * HUGE_PAGE
    try:
        region = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        region.madvise(_ADVICE)
    except (OSError, ValueError, AttributeError):
        return np.zeros(nbytes // np.dtype(dtype).itemsize, dtype=dtype)
    return np.frombuffer(region, dtype=dtype, count=nbytes // np.dtype(dtype).itemsize)


cdef inline bint is_space(uint8_t c) noexcept nogil:
    """ASCII characters that str.strip() removes (str.isspace): \\t \\n \\v \\f \\r, \\x1c-\\x1f and space."""
    return c == 32 or 9 <= c <= 13 or 28 <= c <= 31


cdef struct Scan:
    uint8_t* out
    int64_t* fs
    int64_t* rec_lo
    int64_t* rec_line
    Py_ssize_t n_out, n_fields, n_recs, field_chars, line_num
    int state


cdef inline Py_ssize_t copy_run(Scan* S, const uint8_t* src, Py_ssize_t i, Py_ssize_t n, uint8_t stop) noexcept nogil:
    """Copy the run of ordinary characters from src[i] into the field, up to `stop` (',' out of quotes, '"' in
    them) or a line end; the index where it stopped. In locals a byte store cannot alias, so they stay in
    registers."""
    cdef uint8_t* out = S.out
    cdef Py_ssize_t n_out = S.n_out, chars = S.field_chars
    cdef uint8_t c
    while i < n:
        c = src[i]
        if c == stop or c == 10 or c == 13:
            break
        out[n_out] = c
        n_out += 1
        chars += (c & 0xC0) != 0x80
        i += 1
    S.n_out, S.field_chars = n_out, chars
    return i


cdef inline void save_field(Scan* S) noexcept nogil:
    S.n_fields += 1
    S.fs[S.n_fields] = S.n_out  # fields are contiguous: field k is buffer[fs[k]:fs[k+1]]
    S.field_chars = 0


cdef inline void add_char(Scan* S, int ch) noexcept nogil:
    S.out[S.n_out] = <uint8_t>ch
    S.n_out += 1
    if ch < 0x80 or ch >= 0xC0:  # count characters, not UTF-8 continuation bytes
        S.field_chars += 1


cdef inline void end_record(Scan* S) noexcept nogil:
    S.rec_line[S.n_recs] = S.line_num
    S.n_recs += 1
    S.rec_lo[S.n_recs] = S.n_fields


cdef inline void process(Scan* S, int ch) noexcept nogil:
    """One step of csv.reader's state machine (Modules/_csv.c, parse_process_char) for the default dialect."""
    if S.state == START_RECORD:
        if ch == EOL:
            return
        if ch == 10 or ch == 13:
            S.state = EAT_CRNL
            return
        S.state = START_FIELD
    if S.state == START_FIELD:
        if ch == 10 or ch == 13 or ch == EOL:
            save_field(S)
            S.state = START_RECORD if ch == EOL else EAT_CRNL
        elif ch == 34:
            S.state = IN_QUOTED_FIELD
        elif ch == 44:
            save_field(S)
        else:
            add_char(S, ch)
            S.state = IN_FIELD
    elif S.state == IN_FIELD:
        if ch == 10 or ch == 13 or ch == EOL:
            save_field(S)
            S.state = START_RECORD if ch == EOL else EAT_CRNL
        elif ch == 44:
            save_field(S)
            S.state = START_FIELD
        else:
            add_char(S, ch)
    elif S.state == IN_QUOTED_FIELD:
        if ch == EOL:
            pass
        elif ch == 34:
            S.state = QUOTE_IN_QUOTED_FIELD
        else:
            add_char(S, ch)
    elif S.state == QUOTE_IN_QUOTED_FIELD:
        if ch == 34:
            add_char(S, ch)
            S.state = IN_QUOTED_FIELD
        elif ch == 44:
            save_field(S)
            S.state = START_FIELD
        elif ch == 10 or ch == 13 or ch == EOL:
            save_field(S)
            S.state = START_RECORD if ch == EOL else EAT_CRNL
        else:
            add_char(S, ch)
            S.state = IN_FIELD
    elif S.state == EAT_CRNL:
        if ch == EOL:
            S.state = START_RECORD
        # '\n' or '\r': nothing (no other character can follow a line end within one line)


def scan(uint8_t[::1] data, Py_ssize_t begin, Py_ssize_t end, Py_ssize_t field_limit):
    """Split data[begin:end] into CSV records, in place: the fields' contents (quotes removed) are written over
    data from its start (never ahead of what is still to be read). Returns (buffer, bounds, record_lo,
    record_line): buffer is data[:length + 1] with a 0 byte after the contents (data must have room for it), field k
    is buffer[bounds[k]:bounds[k+1]], field 0 is always empty, record r is made of fields record_lo[r]:
    record_lo[r+1] and ends on line record_line[r]. None when a field exceeds `field_limit` characters (the caller
    then uses csv.reader, which reports it; data is then overwritten)."""
    cdef Py_ssize_t n = end, i, max_fields = 2, max_recs = 2, commas = 0, ends = 0
    cdef uint8_t c
    cdef bint line_start = True, too_long = False
    cdef Scan S
    cdef const uint8_t* src
    if not 0 <= begin <= end < data.shape[0]:
        raise ValueError("scan needs 0 <= begin <= end < len(data)")
    src = &data[0]
    with nogil:
        for i in range(begin, n):  # branch-free: the compiler vectorises it
            c = src[i]
            commas += c == 44
            ends += (c == 10) | (c == 13)
    max_recs += ends
    max_fields += commas + ends + max_recs
    fs_np = zeroed((max_fields + 2) * 8, np.int64)
    lo_np = np.zeros(max_recs + 1, dtype=np.int64)
    line_np = np.empty(max_recs, dtype=np.int64)
    cdef int64_t[::1] fs = fs_np, rec_lo = lo_np, rec_line = line_np
    S.out = &data[0]  # written behind the reading position: n_out <= i - begin
    S.fs = &fs[0]
    S.rec_lo = &rec_lo[0]
    S.rec_line = &rec_line[0]
    S.n_out = S.n_recs = S.field_chars = S.line_num = 0
    S.n_fields = 1  # field 0 is an empty field (bounds 0, 0): a column a row lacks points at it
    rec_lo[0] = 1
    S.state = START_RECORD
    with nogil:
        i = begin
        while i < n:
            c = src[i]
            if line_start:
                S.line_num += 1
                line_start = False
            if S.state <= IN_FIELD and c != 10 and c != 13 and (c != 34 or S.state == IN_FIELD):
                # the common cases without the state machine (what `process` does in START_RECORD, START_FIELD and
                # IN_FIELD for a character that is no line end, nor a quote opening a field): a comma ends the
                # field; a run of ordinary characters is copied, in locals that a byte store cannot alias (so that
                # they stay in registers)
                if c == 44:
                    save_field(&S)
                    S.state = START_FIELD
                    i += 1
                    continue
                S.state = IN_FIELD
                i = copy_run(&S, src, i, n, 44)
                if S.field_chars > field_limit:
                    too_long = True
                    break
                continue
            if S.state == IN_QUOTED_FIELD and c != 34 and c != 10 and c != 13:
                # a run inside quotes (a name with a comma): only '"' and line ends (counted) change anything
                i = copy_run(&S, src, i, n, 34)
                if S.field_chars > field_limit:
                    too_long = True
                    break
                continue
            process(&S, c)
            if S.field_chars > field_limit:
                too_long = True
                break
            # io's universal newlines end a line after '\n', after '\r\n', and after a '\r' not followed by '\n'
            if c == 10 or (c == 13 and not (i + 1 < n and data[i + 1] == 10)):
                process(&S, EOL)
                if S.state == START_RECORD:
                    end_record(&S)
                line_start = True
            i += 1
        if not too_long:
            if not line_start:  # the last line has no line end: csv still sees its EOL
                process(&S, EOL)
                if S.state == START_RECORD:
                    end_record(&S)
            if S.state == IN_QUOTED_FIELD:  # data ends inside quotes: non-strict csv returns the record
                save_field(&S)
                end_record(&S)
    if too_long:
        return None
    data[S.n_out] = 0  # the spare byte: an empty field's first byte can be read
    return np.asarray(data)[:S.n_out + 1], fs_np[:S.n_fields + 1], lo_np[:S.n_recs + 1], line_np[:S.n_recs]


cdef inline void cell(const uint8_t[::1] buf, const int64_t[::1] bounds, const int64_t[::1] idx, Py_ssize_t off,
                      Py_ssize_t i, Py_ssize_t* a, Py_ssize_t* b) noexcept nogil:
    """Field idx[i] + off, without its leading and trailing ASCII white space: buf[a:b]."""
    cdef Py_ssize_t lo = bounds[idx[i] + off], hi = bounds[idx[i] + off + 1]
    while lo < hi and is_space(buf[lo]):
        lo += 1
    while hi > lo and is_space(buf[hi - 1]):
        hi -= 1
    a[0] = lo
    b[0] = hi


# Every kernel below takes one column as `idx` and `off`: its cells are the fields idx[i] + off (field numbers into
# `bounds`, as scan returns them), row by row: idx is each record's first field and off the column's position.
# The caller guarantees valid field numbers (no bounds checks here). Cells are stripped of ASCII white space
# first; Unicode white space is left to Python.


def strip(const uint8_t[::1] buf, const int64_t[::1] bounds, const int64_t[::1] idx, Py_ssize_t off):
    """(start, end, edge) of each stripped cell; edge = 1 when it begins or ends with a non-ASCII byte (it may
    hold Unicode white space that str.strip() removes: only Python can tell)."""
    cdef Py_ssize_t n = idx.shape[0], i, a, b
    s2_np = np.empty(n, dtype=np.int64)
    e2_np = np.empty(n, dtype=np.int64)
    edge_np = np.zeros(n, dtype=np.uint8)
    cdef int64_t[::1] s2 = s2_np, e2 = e2_np
    cdef uint8_t[::1] edge = edge_np
    with nogil:
        for i in range(n):
            cell(buf, bounds, idx, off, i, &a, &b)
            s2[i] = a
            e2[i] = b
            if b > a and (buf[a] >= 0x80 or buf[b - 1] >= 0x80):
                edge[i] = 1
    return s2_np, e2_np, edge_np


def records(const uint8_t[::1] buf, const int64_t[::1] bounds, const int64_t[::1] lo):
    """Which scanned records are data, in one pass: (fields per record, status). Status OK: a record to read;
    EMPTY: one to skip as the reference reader does (no field, a first field starting with '#', or a single field
    blank once stripped); FALLBACK: a single field blank but for non-ASCII edges (Python's strip decides)."""
    cdef Py_ssize_t n = lo.shape[0] - 1, r, a, b
    nf_np = np.empty(n, dtype=np.int64)
    st_np = np.zeros(n, dtype=np.uint8)
    cdef int64_t[::1] nf = nf_np
    cdef uint8_t[::1] st = st_np
    with nogil:
        for r in range(n):
            nf[r] = lo[r + 1] - lo[r]
            if nf[r] == 0:
                st[r] = C_EMPTY
                continue
            a, b = bounds[lo[r]], bounds[lo[r] + 1]  # the first field
            if b > a and buf[a] == 35:  # '#': a comment
                st[r] = C_EMPTY
            elif nf[r] == 1:
                while a < b and is_space(buf[a]):
                    a += 1
                while b > a and is_space(buf[b - 1]):
                    b -= 1
                if a == b:
                    st[r] = C_EMPTY
                elif buf[a] >= 0x80 or buf[b - 1] >= 0x80:
                    st[r] = C_FALLBACK
    return nf_np, st_np


def money(const uint8_t[::1] buf, const int64_t[::1] bounds, const int64_t[::1] idx, Py_ssize_t off, int decimals,
          int64_t default=0):
    """Plain amounts (`123`, `1.5`, `.5`, `2.`) in units of 10**-decimals: (values, status). Signs, more than
    `decimals` decimals, more than 10 whole digits and anything else: FALLBACK (engine.money.parse_money decides).
    Exact: digits are accumulated as integers, nothing is rounded. An EMPTY cell's value is `default`."""
    cdef Py_ssize_t n = idx.shape[0], i, j, a, b, whole, frac
    cdef int64_t v, f
    cdef int k
    val_np = np.zeros(n, dtype=np.int64)
    st_np = np.zeros(n, dtype=np.uint8)
    cdef int64_t[::1] val = val_np
    cdef uint8_t[::1] st = st_np
    with nogil:
        for i in range(n):
            cell(buf, bounds, idx, off, i, &a, &b)
            if a == b:
                st[i] = C_EMPTY
                val[i] = default
                continue
            v = 0
            whole = 0
            j = a
            while j < b and 48 <= buf[j] <= 57 and whole <= 10:
                v = v * 10 + (buf[j] - 48)
                whole += 1
                j += 1
            frac = 0
            f = 0
            if j < b and buf[j] == 46:
                j += 1
                while j < b and 48 <= buf[j] <= 57 and frac <= decimals:
                    f = f * 10 + (buf[j] - 48)
                    frac += 1
                    j += 1
            if j != b or whole > 10 or frac > decimals or (whole == 0 and frac == 0):
                st[i] = C_FALLBACK
                continue
            for k in range(decimals - frac):
                f *= 10
            for k in range(decimals):
                v *= 10
            val[i] = v + f
    return val_np, st_np


def whole(const uint8_t[::1] buf, const int64_t[::1] bounds, const int64_t[::1] idx, Py_ssize_t off,
          int64_t lo=0, int64_t hi=-1, int64_t default=0):
    """Whole numbers of ASCII digits (at most 9): (values, status); anything else FALLBACK, and when lo <= hi a
    number outside lo..hi too. An EMPTY cell's value is `default`."""
    cdef Py_ssize_t n = idx.shape[0], i, j, a, b
    cdef int64_t v
    val_np = np.zeros(n, dtype=np.int64)
    st_np = np.zeros(n, dtype=np.uint8)
    cdef int64_t[::1] val = val_np
    cdef uint8_t[::1] st = st_np
    with nogil:
        for i in range(n):
            cell(buf, bounds, idx, off, i, &a, &b)
            if a == b:
                st[i] = C_EMPTY
                val[i] = default
                continue
            if b - a > 9:
                st[i] = C_FALLBACK
                continue
            v = 0
            for j in range(a, b):
                if not 48 <= buf[j] <= 57:
                    st[i] = C_FALLBACK
                    break
                v = v * 10 + (buf[j] - 48)
            val[i] = v
            if st[i] == 0 and lo <= hi and (v < lo or v > hi):
                st[i] = C_FALLBACK
    return val_np, st_np


def digits(const uint8_t[::1] buf, const int64_t[::1] bounds, const int64_t[::1] idx, Py_ssize_t off, int width):
    """Prefixes: ASCII digits, at most `width`, into an 'S<width>' array: (array, status). Empty is OK (the
    catch-all); anything else FALLBACK."""
    cdef Py_ssize_t n = idx.shape[0], i, j, a, b
    arr = zeroed(n * width).view(f"S{width}")  # kept as the tariff's prefix column
    st_np = np.zeros(n, dtype=np.uint8)
    cdef uint8_t[:, ::1] dst = arr.view(np.uint8).reshape(n, width)
    cdef uint8_t[::1] st = st_np
    with nogil:
        for i in range(n):
            cell(buf, bounds, idx, off, i, &a, &b)
            if b - a > width:
                st[i] = C_FALLBACK
                continue
            for j in range(a, b):
                if not 48 <= buf[j] <= 57:
                    st[i] = C_FALLBACK
                    break
                dst[i, j - a] = buf[j]
    return arr, st_np


def unique(const uint8_t[::1] buf, const int64_t[::1] bounds, const int64_t[::1] idx, Py_ssize_t off):
    """Distinct stripped cells by their bytes: (ids in order of first appearance, first row of each id). The hash
    table grows with the distinct cells (a column of a few values stays in a few kB)."""
    cdef Py_ssize_t n = idx.shape[0], i, j, cap = 64, slot, length, a, b, fa, fb, want
    cdef uint64_t h
    cdef int32_t k, n_ids = 0
    ids_np = np.empty(n, dtype=np.int32)
    cdef int32_t[::1] ids = ids_np
    cdef int32_t* table = <int32_t*>malloc(cap * sizeof(int32_t))
    cdef int64_t* first = <int64_t*>malloc(cap // 2 * sizeof(int64_t))  # each id's first row
    cdef uint32_t* hashes = <uint32_t*>malloc(cap // 2 * sizeof(uint32_t))  # compared before the cell's bytes
    cdef bint failed = table == NULL or first == NULL or hashes == NULL
    cdef int64_t[::1] fv
    try:
        with nogil:
            if not failed:
                for slot in range(cap):
                    table[slot] = -1
            i = 0
            while i < n and not failed:
                if 2 * (n_ids + 1) > cap:  # keep the table at most half full
                    # sized for the distinct cells the rows so far foretell (all distinct: 2n at once)
                    want = 2 * cap
                    while want < 2 * n and want < 2 * (n_ids + 1) * (n // max(i, 1)):
                        want *= 2
                    failed = _grow(&table, &first, &hashes, &cap, want, n_ids)
                    continue
                cell(buf, bounds, idx, off, i, &a, &b)
                h = 1469598103934665603ULL
                length = b - a
                for j in range(a, b):
                    h = (h ^ buf[j]) * 1099511628211ULL
                h ^= h >> 29
                slot = <Py_ssize_t>(h & <uint64_t>(cap - 1))
                while True:
                    k = table[slot]
                    if k < 0:
                        table[slot] = n_ids
                        first[n_ids] = i
                        hashes[n_ids] = <uint32_t>h
                        ids[i] = n_ids
                        n_ids += 1
                        break
                    if hashes[k] == <uint32_t>h:
                        cell(buf, bounds, idx, off, first[k], &fa, &fb)
                        if fb - fa == length and memcmp(&buf[fa], &buf[a], length) == 0:
                            ids[i] = k
                            break
                    slot = (slot + 1) & (cap - 1)
                i += 1
        if failed:
            raise MemoryError()
        first_np = np.empty(n_ids, dtype=np.int64)
        fv = first_np
        if n_ids:
            memcpy(&fv[0], first, n_ids * sizeof(int64_t))
        return ids_np, first_np
    finally:
        free(table)
        free(first)
        free(hashes)


cdef bint _grow(int32_t** table, int64_t** first, uint32_t** hashes, Py_ssize_t* cap, Py_ssize_t new_cap,
               int32_t n_ids) noexcept nogil:
    """Enlarge unique's table to new_cap (a power of 2), and its per-id arrays, and place the ids again; true
    when out of memory."""
    cdef Py_ssize_t slot
    cdef int32_t k
    cdef int32_t* t = <int32_t*>malloc(new_cap * sizeof(int32_t))
    cdef int64_t* f = <int64_t*>realloc(first[0], new_cap // 2 * sizeof(int64_t))
    if f != NULL:
        first[0] = f
    cdef uint32_t* hs = <uint32_t*>realloc(hashes[0], new_cap // 2 * sizeof(uint32_t))
    if hs != NULL:
        hashes[0] = hs
    if t == NULL or f == NULL or hs == NULL:
        free(t)
        return True
    for slot in range(new_cap):
        t[slot] = -1
    for k in range(n_ids):
        slot = <Py_ssize_t>(hs[k] & <uint64_t>(new_cap - 1))
        while t[slot] >= 0:
            slot = (slot + 1) & (new_cap - 1)
        t[slot] = k
    free(table[0])
    table[0] = t
    cap[0] = new_cap
    return False


def texts(const uint8_t[::1] buf, const int64_t[::1] bounds, const int64_t[::1] fields):
    """Many cells as str at once (a slice, a copy and a decode from Python would cost three times as much for
    each of 100,000 distinct destinations): the fields, stripped of ASCII white space, decoded. Returns (list of
    str, edge, first_empty): edge as in `strip` (the cell may begin or end with Unicode white space, which only
    Python strips), first_empty the first cell left empty (-1: none)."""
    cdef Py_ssize_t n = fields.shape[0], i, j, a, b, first_empty = -1
    cdef bint ascii
    edge_np = np.zeros(n, dtype=np.uint8)
    cdef uint8_t[::1] edge = edge_np
    out = PyList_New(n)
    for i in range(n):
        cell(buf, bounds, fields, 0, i, &a, &b)
        if b > a and (buf[a] >= 0x80 or buf[b - 1] >= 0x80):
            edge[i] = 1
        if a == b and first_empty < 0:
            first_empty = i
        ascii = True
        for j in range(a, b):
            if buf[j] >= 0x80:
                ascii = False
                break
        if ascii:  # a copy into a new ASCII str: no decoder (a third of the time of each cell)
            text = PyUnicode_New(b - a, 127)
            if b > a:
                memcpy(PyUnicode_DATA(text), &buf[a], b - a)
        else:
            text = PyUnicode_DecodeUTF8(<const char*>&buf[a], b - a, "surrogatepass")
        Py_INCREF(text)  # PyList_SET_ITEM steals a reference
        PyList_SET_ITEM(out, i, text)
    return out, edge_np, first_empty


def band_rate(const int32_t[::1] rate_pid, const int16_t[::1] rate_band, Py_ssize_t n_pref, Py_ssize_t n_bands,
              int all_bands):
    """tariffs.compile._band_rate's table in one pass: for each prefix and band column (0: no band; band b: column
    b + 1), the first rate (in order) of the prefix whose band is that band or `all_bands`; -1 when none."""
    cdef Py_ssize_t n = rate_pid.shape[0], cols = n_bands + 1, r, c
    cdef int b
    table_np = np.full(n_pref * cols, -1, dtype=np.int32)
    cdef int32_t[::1] table = table_np
    for r in range(n):
        if not 0 <= rate_pid[r] < n_pref or not (rate_band[r] == all_bands or -1 <= rate_band[r] < n_bands):
            raise ValueError("a rate's prefix or band is out of range")
    with nogil:
        for r in range(n):
            b = rate_band[r]
            if b == all_bands:
                for c in range(cols):
                    if table[rate_pid[r] * cols + c] < 0:
                        table[rate_pid[r] * cols + c] = <int32_t>r
            elif table[rate_pid[r] * cols + b + 1] < 0:
                table[rate_pid[r] * cols + b + 1] = <int32_t>r
    return table_np


def lengths(const uint8_t[:, ::1] digits):
    """The number of non-zero bytes of each row: the length of each 'S' string (viewed as bytes, one row each)."""
    cdef Py_ssize_t n = digits.shape[0], width = digits.shape[1], i, j, k
    out_np = np.zeros(n, dtype=np.int64)
    cdef int64_t[::1] out = out_np
    with nogil:
        for i in range(n):
            k = 0
            for j in range(width):
                k += digits[i, j] != 0
            out[i] = k
    return out_np


def keys(const uint8_t[:, ::1] digits, Py_ssize_t key_len):
    """Base-11 keys of 'S' strings (viewed as bytes, one row each), truncated or padded to key_len: a 0 byte
    (padding) -> 0, any other byte b -> b - 47 ('0'..'9' -> 1..10). tariffs.compile.digit_keys in one pass."""
    cdef Py_ssize_t n = digits.shape[0], width = digits.shape[1], i, j
    cdef uint64_t k
    out_np = np.zeros(n, dtype=np.uint64)
    cdef uint64_t[::1] out = out_np
    with nogil:
        for i in range(n):
            k = 0
            for j in range(key_len):
                k *= 11
                if j < width and digits[i, j] != 0:
                    k += <uint64_t>digits[i, j] - 47
            out[i] = k
    return out_np


def interleave(uint8_t[:, ::1] out, list fields):
    """Fill a record array (viewed as bytes, one row per record) from columns: `fields` is a list of (byte
    offset, column viewed as bytes (m, size), C-contiguous, rows): record i takes the column's row rows[i] (an
    int64 array, each in 0..m-1), or its row i when rows is None (then m is the number of records). Field by field,
    each with a fixed-size copy; a gathered column needs no array of its own."""
    cdef Py_ssize_t n = out.shape[0], width = out.shape[1], i, f, nf = len(fields), m
    cdef const uint8_t[:, ::1] src
    cdef const int64_t[::1] pick
    cdef uint8_t* base
    cdef uint8_t* dst
    cdef const uint8_t* col
    cdef const int64_t* at
    cdef Py_ssize_t sz
    cdef const uint8_t** ptr = <const uint8_t**>malloc(max(nf, 1) * sizeof(uint8_t*))
    cdef const int64_t** rows = <const int64_t**>malloc(max(nf, 1) * sizeof(int64_t*))
    cdef Py_ssize_t* off = <Py_ssize_t*>malloc(max(nf, 1) * sizeof(Py_ssize_t))
    cdef Py_ssize_t* size = <Py_ssize_t*>malloc(max(nf, 1) * sizeof(Py_ssize_t))
    keep = []
    try:
        if ptr == NULL or rows == NULL or off == NULL or size == NULL:
            raise MemoryError()
        for f in range(nf):
            src = fields[f][1]
            off[f] = fields[f][0]
            size[f] = src.shape[1]
            m = src.shape[0]
            rows[f] = NULL
            if len(fields[f]) > 2 and fields[f][2] is not None:
                pick = fields[f][2]
                if pick.shape[0] != n or (n and (np.min(pick) < 0 or np.max(pick) >= m)):
                    raise ValueError("a column's rows do not fit the records")
                rows[f] = &pick[0] if n else NULL
                keep.append(pick)
            elif m != n:
                raise ValueError("a column does not fit the records")
            if off[f] < 0 or off[f] + size[f] > width:
                raise ValueError("a column does not fit the records")
            ptr[f] = &src[0, 0] if m else NULL
            keep.append(src)
        if n:
            base = &out[0, 0]
            with nogil:
                for f in range(nf):
                    dst = base + off[f]
                    col = ptr[f]
                    at = rows[f]
                    sz = size[f]
                    if at == NULL:
                        if sz == 8:
                            for i in range(n):
                                memcpy(dst + i * width, col + i * 8, 8)
                        elif sz == 4:
                            for i in range(n):
                                memcpy(dst + i * width, col + i * 4, 4)
                        elif sz == 2:
                            for i in range(n):
                                memcpy(dst + i * width, col + i * 2, 2)
                        else:
                            for i in range(n):
                                memcpy(dst + i * width, col + i * sz, sz)
                    elif sz == 8:
                        for i in range(n):
                            memcpy(dst + i * width, col + at[i] * 8, 8)
                    elif sz == 4:
                        for i in range(n):
                            memcpy(dst + i * width, col + at[i] * 4, 4)
                    elif sz == 2:
                        for i in range(n):
                            memcpy(dst + i * width, col + at[i] * 2, 2)
                    else:
                        for i in range(n):
                            memcpy(dst + i * width, col + at[i] * sz, sz)
    finally:
        free(ptr)
        free(rows)
        free(off)
        free(size)
    return out


def utf8_valid(const uint8_t[::1] data, Py_ssize_t end):
    """Whether data[:end] is valid UTF-8 as Python's strict decoder sees it (no overlong forms, no surrogates,
    nothing above U+10FFFF): the rows need no str of the whole deck. Returns -1, or the offset of the first bad
    sequence (the caller then decodes for Python's own message)."""
    if not 0 <= end <= data.shape[0]:
        raise ValueError("end is out of the data")
    if end == 0:
        return -1
    cdef Py_ssize_t bad
    with nogil:
        bad = _utf8_bad(&data[0], end)
    return bad


cdef Py_ssize_t _utf8_bad(const uint8_t* data, Py_ssize_t end) noexcept nogil:
    cdef Py_ssize_t i = 0, k, need
    cdef uint8_t c, lo, hi
    cdef uint64_t word
    while i < end:
        c = data[i]
        if c < 0x80:
            if i + 8 <= end:  # ASCII text: eight bytes a step
                memcpy(&word, data + i, 8)
                if word & 0x8080808080808080ULL == 0:
                    i += 8
                    continue
            i += 1
            continue
        lo, hi = 0x80, 0xBF
        if 0xC2 <= c <= 0xDF:
            need = 1
        elif c == 0xE0:
            need, lo = 2, 0xA0
        elif 0xE1 <= c <= 0xEC or 0xEE <= c <= 0xEF:
            need = 2
        elif c == 0xED:
            need, hi = 2, 0x9F
        elif c == 0xF0:
            need, lo = 3, 0x90
        elif 0xF1 <= c <= 0xF3:
            need = 3
        elif c == 0xF4:
            need, hi = 3, 0x8F
        else:
            return i
        if i + need >= end:  # the sequence is cut by the end
            return i
        if not lo <= data[i + 1] <= hi:
            return i
        for k in range(2, need + 1):
            if not 0x80 <= data[i + k] <= 0xBF:
                return i
        i += need + 1
    return -1
