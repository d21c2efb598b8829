# Block scanners: the columnar fast paths of ingest/cdr/asterisk.py (cdr_csv Master.csv) and ingest/cdr/cucm.py.
#
# One pass over a block of bytes finds the lines, splits them and applies the same field rules as the format's row
# parser, writing numbers into arrays and strings as (offset, length) slices of the block. A line is taken only
# when every rule can be applied here exactly; any other line (blank, header, doubled quotes, non-ASCII or control
# bytes, unusual layouts, impossible times, values out of range, anything that would get a note) is marked
# `fallback`, and the caller gives it to the row parser, which produces the record, reject or skip with its exact
# reason. Asterisk local times come out as naive epoch seconds; the caller turns them into UTC (and sends times in
# a DST fold or gap to the row parser).

from libc.string cimport memchr, memcpy, memset
from libc.stdint cimport INT64_MAX, INT64_MIN, int8_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t

from engine._prefetch cimport anatole_prefetch
from ingest._words cimport anatole_count_lf, anatole_ctz64, anatole_masks64, same_bytes, zero_bytes

import numpy as np

# direction codes ("" = 0: the dial plan decides)
DIRECTIONS = ("", "outgoing", "incoming", "internal", "transit")
# disposition codes
DISPOSITIONS = ("answered", "no_answer", "busy", "failed")
# string slices, in this order
SLICES = ("dialled", "called", "caller", "extension", "trunk", "account", "native_id", "leg", "group", "raw",
          # Asterisk facts (ingest.cdr.model.Facts), from which pipeline.columnar decides extension, trunk, called
          "origin", "target", "app", "context", "dial_tech", "dial_peer", "dial_number")

DEF MAXF = 22
DEF MAXC = 512  # fields of a CUCM line, at most
DEF NSL = 17
DEF MAX_SECONDS = 7 * 86400
cdef int64_t NONE = INT64_MIN

cdef enum:
    S_DIALLED, S_CALLED, S_CALLER, S_EXTENSION, S_TRUNK, S_ACCOUNT, S_NATIVE, S_LEG, S_GROUP, S_RAW, \
        S_ORIGIN, S_TARGET, S_APP, S_CONTEXT, S_DTECH, S_DPEER, S_DNUM


cdef inline bint lower_eq(const uint8_t* p, Py_ssize_t n, const char* word, Py_ssize_t m) noexcept nogil:
    cdef Py_ssize_t i
    cdef uint8_t c
    if n != m:
        return False
    for i in range(n):
        c = p[i]
        if 65 <= c <= 90:
            c += 32
        if c != <uint8_t>word[i]:
            return False
    return True


cdef inline bint is_word(uint8_t c) noexcept nogil:
    return (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122) or c == 95


cdef inline bint starts_word_ci(const uint8_t* p, Py_ssize_t n, const char* word, Py_ssize_t m) noexcept nogil:
    """p starts with `word` (lowercase) case-insensitively, followed by a word boundary."""
    if n < m or not lower_eq(p, m, word, m):
        return False
    return n == m or not is_word(p[m])


cdef inline bint contains_ci(const uint8_t* p, Py_ssize_t n, const char* word, Py_ssize_t m,
                             bint boundary) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n - m + 1):
        if lower_eq(p + i, m, word, m) and (not boundary or i == 0 or not is_word(p[i - 1])):
            return True
    return False


cdef inline bint is_service(const uint8_t* p, Py_ssize_t n) noexcept nogil:
    # dialplan special extensions s h t i o a e
    return n == 1 and (p[0] == 115 or p[0] == 104 or p[0] == 116 or p[0] == 105 or p[0] == 111 or p[0] == 97
                       or p[0] == 101)


cdef inline bint same(const uint8_t* b, int64_t o1, int32_t n1, int64_t o2, int32_t n2) noexcept nogil:
    cdef int32_t i
    if n1 != n2:
        return False
    for i in range(n1):
        if b[o1 + i] != b[o2 + i]:
            return False
    return True


cdef inline void peer(const uint8_t* b, int64_t s, int64_t e, int64_t* ps, int64_t* pe) noexcept nogil:
    """asterisk.peer: `PJSIP/trunk-out-0000002b` -> `trunk-out`; empty when there is no '/'."""
    cdef int64_t i = s, j, k
    while i < e and b[i] != 47:  # '/'
        i += 1
    if i >= e:
        ps[0] = s
        pe[0] = s
        return
    i += 1
    j = e
    k = j  # drop a `;\d+` suffix
    while k > i and 48 <= b[k - 1] <= 57:
        k -= 1
    if i < k < j and b[k - 1] == 59:  # ';'
        j = k - 1
    # rpartition('-'): base and hex suffix both non-empty
    k = j
    while k > i and b[k - 1] != 45:  # '-'
        k -= 1
    if k > i + 1 and k < j:
        ps[0] = i
        pe[0] = k - 1
        for s in range(k, j):
            if not ((48 <= b[s] <= 57) or (65 <= b[s] <= 70) or (97 <= b[s] <= 102)):
                ps[0] = i
                pe[0] = j
                return
        return
    ps[0] = i
    pe[0] = j


cdef inline int64_t find2(const uint8_t* b, int64_t p, int64_t end, int64_t limit, uint8_t c1,
                          uint8_t c2) noexcept nogil:
    """The first c1 or c2 in b[p:end], or end; 8 bytes at a time while b can be read that far (`limit`)."""
    cdef uint64_t w, m, w1 = 0x0101010101010101ULL * c1, w2 = 0x0101010101010101ULL * c2
    while p < end and p + 8 <= limit:
        memcpy(&w, b + p, 8)
        m = zero_bytes(w ^ w1) | zero_bytes(w ^ w2)
        if m:
            p += anatole_ctz64(m) >> 3
            return p if p < end else end
        p += 8
    while p < end and b[p] != c1 and b[p] != c2:
        p += 1
    return p if p < end else end  # a word may have taken p past the end


cdef uint8_t HEX[256]  # 1 for a hex digit
for _c in range(256):
    HEX[_c] = 1 if chr(_c) in "0123456789abcdefABCDEF" else 0


cdef inline void channel_base(const uint8_t* b, int64_t limit, int64_t s, int64_t e, int64_t* bs,
                              int64_t* be) noexcept nogil:
    """classify.channel_base: the channel without its per-call suffix (`SIP/100-0000001a` -> `SIP/100`). The usual
    channel (`TECH/peer-` and 8 hex digits, the '/' before the peer) without peer()'s byte loops; `limit`: the
    bytes of b (read 8 at a time up to there)."""
    cdef int64_t ps, pe
    cdef const uint8_t* h
    if e - s >= 11 and b[e - 9] == 45:
        h = b + e - 8
        if HEX[h[0]] & HEX[h[1]] & HEX[h[2]] & HEX[h[3]] & HEX[h[4]] & HEX[h[5]] & HEX[h[6]] & HEX[h[7]] and \
                find2(b, s, e, limit, 47, 47) < e - 10:
            bs[0] = s
            be[0] = e - 9
            return
    peer(b, s, e, &ps, &pe)
    bs[0] = s
    be[0] = pe if ps > s else e  # no '/': the channel as written


cdef inline bint dial_target(const uint8_t* b, int64_t limit, int64_t as_, int64_t ae, int64_t ds, int64_t de,
                             int64_t* ts, int64_t* te, int64_t* ns, int64_t* ne, int64_t* vs,
                             int64_t* ve) noexcept nogil:
    """asterisk.dial_target: (tech, number, peer) slices of `Dial(TECH/number@peer,...)` or `TECH/peer/number`
    (`limit`: the bytes of b, read 8 at a time up to there)."""
    cdef int64_t i, t, g1s, g1e, g2s
    ts[0] = te[0] = ns[0] = ne[0] = vs[0] = ve[0] = 0
    if not lower_eq(b + as_, ae - as_, b"dial", 4):
        return False
    t = find2(b, ds, de, limit, 44, 38)  # the first argument ends at a comma
    if t < de and b[t] == 38:  # '&' in it: several targets
        return False
    while ds < t and b[ds] == 32:
        ds += 1
    while t > ds and b[t - 1] == 32:
        t -= 1
    i = ds
    while i < t and is_word(b[i]):
        i += 1
    if i == ds or i >= t or b[i] != 47:
        return False
    g1s = i + 1
    # TECH/number@peer: number without '@/&,', then '@', then a peer without '/&,'
    i = find2(b, g1s, t, limit, 64, 47)  # (no comma before t)
    if i < t and b[i] == 64 and i > g1s:
        g1e = i
        g2s = i + 1
        if t > g2s and find2(b, g2s, t, limit, 47, 47) == t:
            ns[0], ne[0], vs[0], ve[0] = g1s, g1e, g2s, t
            ts[0], te[0] = ds, g1s - 1
            return True
    # TECH/peer/number
    i = find2(b, g1s, t, limit, 47, 47)
    if i < t and i > g1s:
        g1e = i
        g2s = i + 1
        if find2(b, g2s, t, limit, 47, 47) < t:
            return False
        if t > g2s:
            ns[0], ne[0], vs[0], ve[0] = g2s, t, g1s, g1e
            ts[0], te[0] = ds, g1s - 1
            return True
    return False


cdef inline int64_t days_from_civil(int64_t y, int64_t m, int64_t d) noexcept nogil:
    cdef int64_t era, yoe, doy, doe
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


cdef inline int two(const uint8_t* p) noexcept nogil:
    if not (48 <= p[0] <= 57 and 48 <= p[1] <= 57):
        return -1
    return (p[0] - 48) * 10 + (p[1] - 48)


ctypedef struct DateCache:  # the last date local_time read (most lines of a block share it): its text, its days
    uint64_t head  # "YYYY-MM-"
    uint16_t tail  # "DD"
    int64_t days  # days since 1970-01-01, or NONE when nothing is kept


cdef inline int64_t local_time(const uint8_t* p, int64_t n, DateCache* last) noexcept nogil:
    """`YYYY-MM-DD HH:MM:SS` -> naive epoch seconds; NONE when it is anything else. The date of the previous call
    (`last`) is not checked and counted again."""
    cdef int y1, y2, mo, d, h, mi, s, dim
    cdef uint64_t head
    cdef uint16_t tail
    cdef int64_t days
    if n != 19 or p[4] != 45 or p[7] != 45 or p[10] != 32 or p[13] != 58 or p[16] != 58:
        return NONE
    h = two(p + 11)
    mi = two(p + 14)
    s = two(p + 17)
    if h < 0 or h > 23 or mi < 0 or mi > 59 or s < 0 or s > 59:
        return NONE
    memcpy(&head, p, 8)
    memcpy(&tail, p + 8, 2)
    if last.days != NONE and head == last.head and tail == last.tail:
        return last.days * 86400 + h * 3600 + mi * 60 + s
    y1 = two(p)
    y2 = two(p + 2)
    mo = two(p + 5)
    d = two(p + 8)
    if y1 < 0 or y2 < 0 or mo < 1 or mo > 12 or d < 1:
        return NONE
    y1 = y1 * 100 + y2
    if y1 < 1:
        return NONE
    if mo == 2:
        dim = 29 if (y1 % 4 == 0 and (y1 % 100 != 0 or y1 % 400 == 0)) else 28
    elif mo == 4 or mo == 6 or mo == 9 or mo == 11:
        dim = 30
    else:
        dim = 31
    if d > dim:
        return NONE
    days = days_from_civil(y1, mo, d)
    last.head, last.tail, last.days = head, tail, days
    return days * 86400 + h * 3600 + mi * 60 + s


cdef inline int32_t seconds(const uint8_t* p, int64_t n) noexcept nogil:
    cdef int64_t v = 0, i
    if n < 1 or n > 9:
        return -1
    for i in range(n):
        if not 48 <= p[i] <= 57:
            return -1
        v = v * 10 + p[i] - 48
    return <int32_t>v if v <= MAX_SECONDS else -1


# the disposition words as the machine loads them (their first 8 bytes; the last bytes of the longer ones)
cdef uint64_t W_ANSWERED, W_NOANSWER, W_NO_ANSWE, W_CONGESTI
cdef uint32_t W_BUSY, W_FAIL
cdef uint16_t W_ED, W_ON
memcpy(&W_ANSWERED, b"ANSWERED", 8)
memcpy(&W_NOANSWER, b"NOANSWER", 8)
memcpy(&W_NO_ANSWE, b"NO ANSWE", 8)
memcpy(&W_CONGESTI, b"CONGESTI", 8)
memcpy(&W_BUSY, b"BUSY", 4)
memcpy(&W_FAIL, b"FAIL", 4)
memcpy(&W_ED, b"ED", 2)
memcpy(&W_ON, b"ON", 2)


cdef inline int8_t disposition(const uint8_t* p, int64_t n) noexcept nogil:
    """The code of an upper-case cdr_csv disposition word (other spellings go to the row parser): the word compared
    as one or two loads (the same as asterisk's case-insensitive comparison of a word without lower-case letters)."""
    cdef uint64_t w
    cdef uint32_t v
    cdef uint16_t h
    if 8 <= n <= 10:
        memcpy(&w, p, 8)
        if n == 8:
            return 0 if w == W_ANSWERED else 1 if w == W_NOANSWER else -1
        if n == 9:
            return 1 if w == W_NO_ANSWE and p[8] == 82 else -1  # 'R'
        memcpy(&h, p + 8, 2)
        return 3 if w == W_CONGESTI and h == W_ON else -1
    if n == 4 or n == 6:
        memcpy(&v, p, 4)
        if n == 4:
            return 2 if v == W_BUSY else -1
        memcpy(&h, p + 4, 2)
        return 3 if v == W_FAIL and h == W_ED else -1
    return -1


cdef inline uint64_t prefix_xor(uint64_t x) noexcept nogil:
    """Bit i set when bits 0..i of x hold an odd number of ones: with x the quotes, the bytes inside quotes."""
    x ^= x << 1
    x ^= x << 2
    x ^= x << 4
    x ^= x << 8
    x ^= x << 16
    x ^= x << 32
    return x


cdef inline int upto3(uint64_t m) noexcept nogil:
    """The number of bits set in m, 3 for 3 or more (a field's quotes: none, its two, or more); no branch (the
    fields of a line alternate between none and two)."""
    cdef uint64_t m1 = m & (m - 1)
    return (m != 0) + (m1 != 0) + ((m1 & (m1 - 1)) != 0)


cdef inline bint put_field(const uint8_t* b, int64_t s, int64_t e, int quotes, int nf, int64_t* fs, int64_t* fe,
                           uint64_t* doubled) noexcept nogil:
    """Field nf is b[s:e] with `quotes` quotes (at least that many when more than 2): bare (none) or "quoted" (its first and last byte,
    and inside only doubled ones); False for anything else (a quote in a bare field, text after a closing quote)."""
    cdef int64_t k
    if quotes == 0:
        fs[nf] = s
        fe[nf] = e
        return True
    if quotes < 2 or e - s < 2 or b[s] != 34 or b[e - 1] != 34:
        return False
    if quotes > 2:  # a quote inside: each must be doubled
        k = s + 1
        while k < e - 1:
            if b[k] == 34:
                if k + 1 < e - 1 and b[k + 1] == 34:
                    k += 2
                    continue
                return False
            k += 1
        doubled[0] |= (<uint64_t>1) << (nf if nf < 63 else 63)
    fs[nf] = s + 1
    fe[nf] = e - 1
    return True


cdef inline int split_line(const uint8_t* b, int64_t pos, int64_t n, int64_t* fs, int64_t* fe, int maxf,
                           uint64_t* doubled, Py_ssize_t* line_end, Py_ssize_t* next_line) noexcept nogil:
    """Find the line starting at pos and split it as CSV, 64 bytes at a time (anatole_masks64: where the quotes,
    commas and bytes other than printable ASCII are; a comma outside quotes ends a field): the fields as [fs, fe)
    ("quoted" ones without their quotes) and their number; -1 when the line is empty, holds a byte other than
    printable ASCII (the row parser decodes and reports it) or is not plain CSV (a quote in a bare field, text
    after a closing quote, an open quote, more than maxf fields). The line ends at the first CR or LF (line_end;
    the next line at next_line: after CR LF, LF or CR). `doubled`: bit k set when field k (bit 63: any from 63 on)
    holds a doubled quote."""
    cdef uint8_t tail[64]
    cdef const uint8_t* p
    cdef int64_t base = pos, s = pos, end
    cdef uint64_t quotes, commas, odd, inside = 0, carry = 0, was = 0, sep, below, m
    cdef int nf = 0, count = 0, i, stop, j
    cdef bint good = True
    doubled[0] = 0
    while True:
        if base + 64 <= n:
            p = b + base
        else:  # the block's last bytes, in a copy padded with line feeds (the end of the block ends a line)
            memset(tail, 10, 64)
            if n > base:
                memcpy(tail, b + base, n - base)
            p = tail
        anatole_masks64(p, &quotes, &commas, &odd)
        stop = 64
        m = odd
        while m:  # a CR or LF ends the line; any other such byte is not printable ASCII
            j = anatole_ctz64(m)
            if p[j] == 10 or p[j] == 13:
                stop = j
                break
            good = False
            m &= m - 1
        if good:
            if stop < 64:
                below = ((<uint64_t>1) << stop) - 1
                quotes &= below
                commas &= below
            was = carry
            inside = prefix_xor(quotes) ^ carry
            sep = commas & ~inside
            while sep:
                i = anatole_ctz64(sep)
                below = ((<uint64_t>1) << i) - 1
                count += upto3(quotes & below)
                quotes &= ~below
                if nf >= maxf or not put_field(b, s, base + i, count, nf, fs, fe, doubled):
                    good = False
                    break
                nf += 1
                count = 0
                s = base + i + 1
                sep &= sep - 1
            count += upto3(quotes)
            carry = 0 - (inside >> 63)
        if stop < 64:
            end = base + stop
            break
        base += 64
    if end > n:
        end = n
    line_end[0] = end
    next_line[0] = end
    if end < n:
        next_line[0] = end + (2 if (b[end] == 13 and end + 1 < n and b[end + 1] == 10) else 1)
    if not good or end == pos:
        return -1
    # the last field: the quotes must be closed at the line's end
    if ((inside >> (stop - 1)) & 1 if stop > 0 else was & 1) or nf >= maxf or \
            not put_field(b, s, end, count, nf, fs, fe, doubled):
        return -1
    return nf + 1


def split_fields(const uint8_t[::1] buf, Py_ssize_t pos=0, int maxf=MAXC):
    """split_line on the line of buf starting at pos, for tests and tools: (fields as (start, end) pairs, or None
    when the scanner would leave the line to the row parser; the line's end; the next line's start; the doubled
    bits)."""
    cdef int64_t fs[MAXC]
    cdef int64_t fe[MAXC]
    cdef uint64_t doubled = 0
    cdef Py_ssize_t end = 0, nxt = 0
    cdef int nf
    if not 0 <= pos < buf.shape[0] or not 0 < maxf <= MAXC:
        raise ValueError("split_fields: pos out of the buffer or maxf out of 1..MAXC")
    nf = split_line(&buf[0], pos, buf.shape[0], fs, fe, maxf, &doubled, &end, &nxt)
    fields = [(fs[k], fe[k]) for k in range(nf)] if nf > 0 else None
    return fields, end, nxt, doubled


def _outputs(Py_ssize_t n, bint zeroed=True) -> dict:
    """The arrays a scanner fills, one row per line (see scan_asterisk). `zeroed`: the slices too (6 MB a block,
    1.5 % of a batch's time); else the scanner writes every slice of each row, zero for the lines it leaves."""
    make = np.zeros if zeroed else np.empty
    return {"line_start": np.zeros(n, np.int64), "line_end": np.zeros(n, np.int64), "fallback": np.ones(n, np.bool_),
            "start": np.zeros(n, np.int64), "answer": np.zeros(n, np.int64), "duration": np.zeros(n, np.int32),
            "billable": np.zeros(n, np.int32), "disposition": np.zeros(n, np.int8),
            "direction": np.zeros(n, np.int8), "off": make((n, NSL), np.int64), "len": make((n, NSL), np.int32),
            "lines": n}


cdef inline void no_slices(int64_t* off, int32_t* ln, Py_ssize_t row) noexcept nogil:
    """A line left to the row parser: its slices zero, as _outputs(zeroed=True) gives them."""
    memset(off + row * NSL, 0, NSL * sizeof(int64_t))
    memset(ln + row * NSL, 0, NSL * sizeof(int32_t))


def count_lines(const uint8_t[::1] buf) -> int:
    """Lines in a block (CR LF, LF and CR end a line; a last line without an end counts): the line feeds counted
    16 bytes at a time (anatole_count_lf, at memory speed), then, only if there is a CR, each CR not before a LF."""
    cdef Py_ssize_t n = buf.shape[0], lines = 0
    cdef const uint8_t* b = &buf[0] if n else NULL
    cdef const uint8_t* p = b
    cdef const uint8_t* end = b + n
    cdef int cr = 0
    with nogil:
        if n:
            lines = anatole_count_lf(b, n, &cr)
        while cr and p < end:  # CR: one line each, unless it is the CR of a CR LF
            p = <const uint8_t*>memchr(p, 13, end - p)
            if p == NULL:
                break
            if p + 1 >= end or p[1] != 10:
                lines += 1
            p += 1
    if n and buf[n - 1] != 10 and buf[n - 1] != 13:
        lines += 1
    return lines


cdef inline uint64_t mix(const uint8_t* p, int64_t n, uint64_t x) noexcept nogil:
    """Hash n bytes into x, 8 at a time (a table key, not a fingerprint: equal hashes are compared byte for byte)."""
    cdef uint64_t w
    cdef int64_t i = 0
    x = (x ^ <uint64_t>n) * 0x9E3779B97F4A7C15ULL
    while i + 8 <= n:
        memcpy(&w, p + i, 8)
        x = (x ^ w) * 0x9E3779B97F4A7C15ULL
        x ^= x >> 29
        i += 8
    if i < n:
        if n >= 8:  # the tail as the last 8 bytes, those already mixed shifted out
            memcpy(&w, p + n - 8, 8)
            w >>= 8 * (8 - (n - i))
        else:
            w = 0
            while i < n:  # a short value, a byte at a time (a memcpy of a variable size is a library call)
                w = (w << 8) | p[i]
                i += 1
        x = (x ^ w) * 0x9E3779B97F4A7C15ULL
        x ^= x >> 29
    return x


cdef inline bint same_slices(const uint8_t* b, const int64_t* off, const int32_t* ln, Py_ssize_t r1, Py_ssize_t r2,
                             int k0, int k1) noexcept nogil:
    cdef int k
    for k in range(k0, k1):
        if ln[r1 * NSL + k] != ln[r2 * NSL + k] or \
                not same_bytes(b + off[r1 * NSL + k], b + off[r2 * NSL + k], ln[r1 * NSL + k]):
            return False
    return True


ctypedef struct Interner:  # distinct values of a block's lines (see intern)
    int32_t* table  # slot -> id, -1 free: `size` slots in use of the array, grown as ids come
    Py_ssize_t size
    uint64_t* hashes  # per id
    int64_t* first  # per id: the first line with the value
    int64_t* at  # per id: where its copy starts in `arena`
    uint8_t* arena  # each id's slices, each as (int32 length, bytes)
    int64_t used  # bytes of arena used
    int64_t count  # ids


cdef inline void place(Interner* t, int64_t v) noexcept nogil:
    cdef Py_ssize_t slot = <Py_ssize_t>(t.hashes[v] & <uint64_t>(t.size - 1))
    while t.table[slot] >= 0:
        slot = (slot + 1) & (t.size - 1)
    t.table[slot] = <int32_t>v


cdef inline bint same_copy(const uint8_t* b, const int64_t* off, const int32_t* ln, Py_ssize_t row, int k0, int k1,
                           const uint8_t* copy) noexcept nogil:
    cdef int k
    cdef int32_t n
    for k in range(k0, k1):
        memcpy(&n, copy, 4)
        if n != ln[row * NSL + k] or not same_bytes(copy + 4, b + off[row * NSL + k], n):
            return False
        copy += 4 + n
    return True


cdef inline int64_t intern(const uint8_t* b, const int64_t* off, const int32_t* ln, Py_ssize_t row, int k0,
                           int k1, Interner* t) noexcept nogil:
    """(off and ln: the (lines, NSL) slice arrays.) The id of row's string slices k0..k1-1 (taken together) in an
    open-addressing table: the rows with the same bytes get the same id (numbered in order of first appearance;
    first[id] is that row). Exact: a hash hit is compared byte for byte with a copy of the id's value, kept with
    the others in a small arena (the first line itself is far in the block: a cache miss). The table starts small
    and doubles at half full: a block has few distinct channels, so it stays in the cache."""
    cdef uint64_t x = 14695981039346656037ULL
    cdef int k
    cdef Py_ssize_t slot
    cdef int64_t v
    cdef int32_t n
    for k in range(k0, k1):
        x = mix(b + off[row * NSL + k], ln[row * NSL + k], x)
    x ^= x >> 33  # spread the high bits into the slot's low ones
    x *= 0xFF51AFD7ED558CCDULL
    x ^= x >> 33
    slot = <Py_ssize_t>(x & <uint64_t>(t.size - 1))
    while True:
        v = t.table[slot]
        if v < 0:
            break
        if t.hashes[v] == x and same_copy(b, off, ln, row, k0, k1, t.arena + t.at[v]):
            return v
        slot = (slot + 1) & (t.size - 1)
    v = t.count
    t.count += 1
    t.hashes[v] = x
    t.first[v] = row
    t.at[v] = t.used
    for k in range(k0, k1):
        n = ln[row * NSL + k]
        memcpy(t.arena + t.used, &n, 4)
        memcpy(t.arena + t.used + 4, b + off[row * NSL + k], n)
        t.used += 4 + n
    if 2 * t.count > t.size:  # grow: every id placed again by its hash
        t.size *= 2
        for slot in range(t.size):
            t.table[slot] = -1
        for k in range(t.count):
            place(t, k)
    else:
        t.table[slot] = <int32_t>v
    return v


def scan_asterisk(const uint8_t[::1] buf, Py_ssize_t lines=-1):
    """Every line of the block: its span, whether it needs the row parser, and for the others the record's fields.
    `lines`: count_lines(buf) when the caller has it (raw_blocks does).

    Returns a dict of arrays: `line_start`/`line_end` (int64, the line without its end), `fallback` (bool),
    `start`/`answer` (naive local epoch seconds, int64; answer NONE when empty), `duration`/`billable` (int32),
    `disposition`/`direction` (int8 codes, see DISPOSITIONS/DIRECTIONS), and `off` (int64) / `len` (int32) of
    shape (n, len(SLICES)) for the string fields. Also `fact_ids` (int64 (n, 3): the ids of the origin channel,
    the target channel and the (app, context, dial_tech, dial_peer) tuple of each taken line, numbered by value
    within the block, -1 elsewhere) and `fact_first` (three arrays: the line of each id's first appearance), so
    that pipeline.columnar decides once per distinct value without reading the bytes again."""
    out = _outputs(lines if lines >= 0 else count_lines(buf), False)  # every row's slices written below
    cdef Py_ssize_t nlines = out["lines"]
    cdef Py_ssize_t tsize = 1024, k
    while tsize < 4 * nlines:
        tsize *= 2
    ids_a = out["fact_ids"] = np.full((nlines, 3), -1, np.int64)
    # per fact (origin, target, application tuple): the slots (only the first ones used while ids are few), the
    # hashes, first lines and copies of the values; np.empty: pages never used are never touched
    tables_a = np.empty((3, tsize), np.int32)  # a table at most doubles to 4x its ids
    hashes_a = np.empty((3, max(nlines, 1)), np.uint64)
    firsts_a = np.empty((3, max(nlines, 1)), np.int64)
    at_a = np.empty((3, max(nlines, 1)), np.int64)
    arena_a = np.empty((3, buf.shape[0] + 16 * nlines + 64), np.uint8)
    cdef int32_t[:, ::1] tables = tables_a
    cdef int64_t[:, ::1] fids = ids_a, firsts = firsts_a, ats = at_a
    cdef uint64_t[:, ::1] fhashes = hashes_a
    cdef uint8_t[:, ::1] arenas = arena_a
    cdef Interner facts[3]
    for k in range(3):
        tables_a[k, :16] = -1
        facts[k].table, facts[k].size = &tables[k, 0], 16
        facts[k].hashes, facts[k].first, facts[k].at = &fhashes[k, 0], &firsts[k, 0], &ats[k, 0]
        facts[k].arena, facts[k].used, facts[k].count = &arenas[k, 0], 0, 0
    cdef Py_ssize_t last = -1  # the last line taken
    cdef int64_t[::1] ls = out["line_start"], le = out["line_end"], st = out["start"], an = out["answer"]
    cdef uint8_t[::1] fb = out["fallback"].view(np.uint8)
    cdef int32_t[::1] du = out["duration"], bi = out["billable"]
    cdef int8_t[::1] dp = out["disposition"], dr = out["direction"]
    cdef int64_t[:, ::1] off = out["off"]
    cdef int32_t[:, ::1] ln = out["len"]
    cdef const uint8_t* b = &buf[0] if buf.shape[0] else NULL
    cdef Py_ssize_t n = buf.shape[0], pos = 0, row = 0, end, nxt
    cdef int64_t fs[MAXF]
    cdef int64_t fe[MAXF]
    cdef int nf, code
    cdef uint64_t doubled
    cdef int64_t p, s, e, t0, t1, ps, pe, cs, ce, ts, te, ns, ne, vs, ve, dst_s, dst_e
    cdef int32_t dur, bil
    cdef bint ok
    cdef DateCache dates
    dates.days = NONE
    with nogil:
        while pos < n and row < nlines:
            nf = split_line(b, pos, n, fs, fe, MAXF, &doubled, &end, &nxt)
            ls[row] = pos
            le[row] = end
            if nf > 0:
                # the usual layouts; a doubled quote only in the clid (see caller)
                ok = (nf == 16 or nf == 18 or nf == 21) and (doubled & ~(<uint64_t>1 << 4)) == 0
                if ok:
                    t0 = local_time(b + fs[9], fe[9] - fs[9], &dates)
                    if t0 == NONE:
                        ok = False
                if ok:
                    if fe[10] == fs[10]:
                        t1 = NONE
                    else:
                        t1 = local_time(b + fs[10], fe[10] - fs[10], &dates)
                        if t1 == NONE:
                            ok = False
                if ok and fe[11] != fs[11] and local_time(b + fs[11], fe[11] - fs[11], &dates) == NONE:
                    ok = False
                if ok:
                    dur = seconds(b + fs[12], fe[12] - fs[12])
                    bil = seconds(b + fs[13], fe[13] - fs[13])
                    code = disposition(b + fs[14], fe[14] - fs[14])
                    if dur < 0 or bil < 0 or bil > dur or code < 0:
                        ok = False
                if ok:
                    st[row] = t0
                    an[row] = t1
                    du[row] = dur
                    bi[row] = bil
                    dp[row] = <int8_t>code
                    dst_s = fs[2]
                    dst_e = fe[2]
                    # the facts (asterisk.facts); extension, trunk and called are decided from them later
                    dr[row] = 0
                    off[row, S_TRUNK] = ln[row, S_TRUNK] = 0
                    off[row, S_CALLED] = ln[row, S_CALLED] = 0
                    off[row, S_EXTENSION] = ln[row, S_EXTENSION] = 0
                    channel_base(b, n, fs[5], fe[5], &ps, &pe)
                    off[row, S_ORIGIN] = ps
                    ln[row, S_ORIGIN] = <int32_t>(pe - ps)
                    channel_base(b, n, fs[6], fe[6], &ps, &pe)
                    off[row, S_TARGET] = ps
                    ln[row, S_TARGET] = <int32_t>(pe - ps)
                    off[row, S_APP] = fs[7]
                    ln[row, S_APP] = <int32_t>(fe[7] - fs[7])
                    off[row, S_CONTEXT] = fs[3]
                    ln[row, S_CONTEXT] = <int32_t>(fe[3] - fs[3])
                    dial_target(b, n, fs[7], fe[7], fs[8], fe[8], &ts, &te, &ns, &ne, &vs, &ve)
                    off[row, S_DTECH] = ts
                    ln[row, S_DTECH] = <int32_t>(te - ts)
                    off[row, S_DPEER] = vs
                    ln[row, S_DPEER] = <int32_t>(ve - vs)
                    off[row, S_DNUM] = ns
                    ln[row, S_DNUM] = <int32_t>(ne - ns)
                    # caller: the number of `"Name" <num>`, else src, else the clid as written
                    cs, ce = fs[4], fe[4]
                    while ce > cs and b[ce - 1] == 32:
                        ce -= 1
                    s = e = -1
                    if ce > cs and b[ce - 1] == 62:  # '>'
                        p = ce - 1
                        while p > cs and b[p - 1] != 60 and b[p - 1] != 62:
                            p -= 1
                        if p > cs and b[p - 1] == 60:
                            s, e = p, ce - 1
                            while s < e and b[s] == 32:
                                s += 1
                            while e > s and b[e - 1] == 32:
                                e -= 1
                    if s >= 0:
                        for p in range(s, e):
                            if b[p] == 34:  # written doubled: the row parser undoes it
                                ok = False
                    elif fe[1] > fs[1]:
                        s, e = fs[1], fe[1]
                    elif doubled:
                        ok = False
                    else:
                        s, e = fs[4], fe[4]
                        while s < e and b[s] == 32:
                            s += 1
                        while e > s and b[e - 1] == 32:
                            e -= 1
                        while s < e and b[s] == 34:
                            s += 1
                        while e > s and b[e - 1] == 34:
                            e -= 1
                    if not ok:
                        no_slices(&off[0, 0], &ln[0, 0], row)
                        row += 1
                        pos = nxt
                        continue
                    off[row, S_CALLER] = s
                    ln[row, S_CALLER] = <int32_t>(e - s)
                    off[row, S_DIALLED] = dst_s
                    ln[row, S_DIALLED] = <int32_t>(dst_e - dst_s)
                    off[row, S_ACCOUNT] = fs[0]
                    ln[row, S_ACCOUNT] = <int32_t>(fe[0] - fs[0])
                    # ids: uniqueid (18, 21), linkedid and sequence (21)
                    off[row, S_NATIVE] = 0
                    ln[row, S_NATIVE] = 0
                    if nf >= 18:
                        off[row, S_NATIVE] = fs[16]
                        ln[row, S_NATIVE] = <int32_t>(fe[16] - fs[16])
                    if nf == 21 and fe[20] > fs[20]:
                        off[row, S_LEG] = fs[20]
                        ln[row, S_LEG] = <int32_t>(fe[20] - fs[20])
                    else:
                        off[row, S_LEG] = fs[6]
                        ln[row, S_LEG] = <int32_t>(fe[6] - fs[6])
                    if nf == 21 and fe[19] > fs[19]:
                        off[row, S_GROUP] = fs[19]
                        ln[row, S_GROUP] = <int32_t>(fe[19] - fs[19])
                    else:
                        off[row, S_GROUP] = off[row, S_NATIVE]
                        ln[row, S_GROUP] = ln[row, S_NATIVE]
                    off[row, S_RAW] = pos
                    ln[row, S_RAW] = <int32_t>(end - pos)
                    fb[row] = 0
                    fids[row, 0] = intern(b, &off[0, 0], &ln[0, 0], row, S_ORIGIN, S_ORIGIN + 1, &facts[0])
                    fids[row, 1] = intern(b, &off[0, 0], &ln[0, 0], row, S_TARGET, S_TARGET + 1, &facts[1])
                    if last >= 0 and same_slices(b, &off[0, 0], &ln[0, 0], row, last, S_APP, S_DPEER + 1):
                        fids[row, 2] = fids[last, 2]  # most lines repeat the previous one's application, context, trunk
                    else:
                        fids[row, 2] = intern(b, &off[0, 0], &ln[0, 0], row, S_APP, S_DPEER + 1, &facts[2])
                    last = row
            if fb[row]:
                no_slices(&off[0, 0], &ln[0, 0], row)
            row += 1
            pos = nxt
        while row < nlines:  # (none: count_lines counted these lines)
            no_slices(&off[0, 0], &ln[0, 0], row)
            row += 1
    out["fact_first"] = [firsts_a[k, :facts[k].count].copy() for k in range(3)]
    return out


# ------------------------------------------------------------------------------------------------ local times

def local_hours(const int64_t[::1] start, const int64_t[::1] answer, uint8_t[::1] fallback, int64_t low_bound,
                int64_t high_bound):
    """The span of whole local hours (low, high) of the taken lines' start and answer times (answer NONE: none),
    after sending to the row parser (`fallback`) each line with a time outside [low_bound, high_bound); (0, -1)
    when no line is left."""
    cdef Py_ssize_t n = start.shape[0], k
    cdef int64_t low = INT64_MAX, high = INT64_MIN, h
    with nogil:
        for k in range(n):
            if fallback[k]:
                continue
            if not low_bound <= start[k] < high_bound or \
                    (answer[k] != NONE and not low_bound <= answer[k] < high_bound):
                fallback[k] = 1
                continue
            h = start[k] // 3600
            low = h if h < low else low
            high = h if h > high else high
            if answer[k] != NONE:
                h = answer[k] // 3600
                low = h if h < low else low
                high = h if h > high else high
    if low > high:
        return 0, -1
    return low, high


def hours_present(const int64_t[::1] start, const int64_t[::1] answer, const uint8_t[::1] fallback, int64_t low,
                  Py_ssize_t span):
    """uint8 per hour low..low + span - 1: set when a taken line's start or answer falls in it."""
    present_a = np.zeros(span, np.uint8)
    cdef uint8_t[::1] present = present_a
    cdef Py_ssize_t n = start.shape[0], k
    with nogil:
        for k in range(n):
            if not fallback[k]:
                present[start[k] // 3600 - low] = 1
                if answer[k] != NONE:
                    present[answer[k] // 3600 - low] = 1
    return present_a


def to_utc(int64_t[::1] start, int64_t[::1] answer, uint8_t[::1] fallback, const int64_t[::1] offset,
           const uint8_t[::1] known, int64_t low):
    """Local times to UTC in place, by whole local hours (offset[h - low] seconds, where known[h - low]); a taken
    line with a time in an hour whose offset changes within it (a DST transition) goes to the row parser. The
    times of the row parser's lines become NONE."""
    cdef Py_ssize_t n = start.shape[0], k, i, j
    with nogil:
        for k in range(n):
            if not fallback[k]:
                i = start[k] // 3600 - low
                j = answer[k] // 3600 - low if answer[k] != NONE else i
                if not (known[i] and known[j]):
                    fallback[k] = 1
            if fallback[k]:  # the row parser's line: no time here
                start[k] = answer[k] = NONE
                continue
            start[k] -= offset[i]
            if answer[k] != NONE:
                answer[k] -= offset[j]


# ------------------------------------------------------------------------------------------------ factorize

def factorize(const uint8_t[::1] buf, const int64_t[:] off, const int32_t[:] ln, const int64_t[::1] rows):
    """The distinct byte strings of one string field over `rows`, without sorting: (ids, first) where ids[k] numbers
    rows[k]'s value in order of first appearance and first[i] is the index (into rows) of value i's first row.
    An open-addressing hash table (8 bytes at a time, see mix) whose hits are compared byte for byte: exact,
    O(len(rows)). The columnar path (pipeline.columnar) numbers the channels, numbers and facts of a block with it
    (an outbound call centre's block: tens of thousands of distinct numbers)."""
    cdef Py_ssize_t n = rows.shape[0], size = 16, k, r, slot, count = 0
    while size < 2 * n:
        size *= 2
    ids_a = np.empty(n, np.int64)
    first_a = np.empty(n, np.int64)
    table_a = np.full(size, -1, np.int32)  # value id in each slot, -1 free (int32: half the cache lines)
    hashes_a = np.empty(n, np.uint64)  # hash of each value
    if n >= 2**31:
        raise ValueError("factorize: more than 2**31 rows")
    cdef int64_t[::1] ids = ids_a, first = first_a
    cdef int32_t[::1] table = table_a
    cdef uint64_t[::1] hashes = hashes_a
    cdef const uint8_t* b = &buf[0] if buf.shape[0] else NULL
    cdef uint64_t x
    cdef int64_t v, rr
    with nogil:
        for k in range(n):
            r = rows[k]
            if k + 8 < n:  # the value 8 rows on: each row's is a new line of the block, often not cached
                anatole_prefetch(b + off[rows[k + 8]])
            x = mix(b + off[r], ln[r], 14695981039346656037ULL)
            x ^= x >> 33  # spread the high bits into the slot's low ones
            x *= 0xFF51AFD7ED558CCDULL
            x ^= x >> 33
            slot = <Py_ssize_t>(x & <uint64_t>(size - 1))
            while True:
                v = table[slot]
                if v < 0:
                    table[slot] = <int32_t>count
                    hashes[count] = x
                    first[count] = k
                    ids[k] = count
                    count += 1
                    break
                if hashes[v] == x:
                    rr = rows[first[v]]
                    if ln[rr] == ln[r] and same_bytes(b + off[rr], b + off[r], ln[r]):
                        ids[k] = v
                        break
                slot = (slot + 1) & (size - 1)
    return ids_a, first_a[:count].copy()


# ------------------------------------------------------------------------------------------------ Cisco CUCM

# the columns scan_cucm reads, in this order (ingest.cdr.cucm names; -1 where the header lacks one)
CUCM_COLUMNS = ("cdrRecordType", "globalCallID_callManagerId", "globalCallID_callId", "origLegCallIdentifier",
                "dateTimeOrigination", "callingPartyNumber", "origCause_value", "originalCalledPartyNumber",
                "finalCalledPartyNumber", "destCause_value", "dateTimeConnect", "pkid", "duration",
                "origDeviceName", "destDeviceName", "dateTimeDisconnect", "outpulsedCalledPartyNumber",
                "clientMatterCode", "authCodeDescription", "comment", "lastRedirectDn")
cdef enum:
    C_TYPE, C_CM, C_CALLID, C_LEG, C_ORIG_TIME, C_CALLING, C_ORIG_CAUSE, C_ORIG_CALLED, C_FINAL, C_DEST_CAUSE, \
        C_CONNECT, C_PKID, C_DURATION, C_ORIG_DEV, C_DEST_DEV, C_DISCONNECT, C_OUTPULSED, C_MATTER, C_AUTH, \
        C_COMMENT, C_REDIRECT, NCOL

cdef int64_t MAX_EPOCH = 4102444800  # 2100-01-01, as ingest.cdr.cucm
DEF MAXP = 32


cdef inline bint integer(const uint8_t* p, int64_t n, int64_t* out) noexcept nogil:
    """`-?\\d+` of at most 18 digits."""
    cdef int64_t v = 0, i = 0
    cdef bint neg = False
    if n > 0 and p[0] == 45:
        neg = True
        i = 1
    if n - i < 1 or n - i > 18:
        return False
    while i < n:
        if not 48 <= p[i] <= 57:
            return False
        v = v * 10 + p[i] - 48
        i += 1
    out[0] = -v if neg else v
    return True


def scan_cucm(const uint8_t[::1] buf, Py_ssize_t begin, const int32_t[::1] columns, int header_len,
              list prefixes):
    """The lines of the block from byte `begin`, as scan_asterisk; `columns` gives the position of each of
    CUCM_COLUMNS in the file's header (`header_len` columns), `prefixes` the upper-case device name prefixes of
    phones, and `!`-prefixed ones of devices whose lines go to the row parser (voicemail and analog ports). Lines
    the row parser decides with more rules go to it too: an empty device, a comment (recording markers), a `b...`
    called number (bridge and recorder legs), an extension that is not digits (masked, `+` globalised).
    Also `group` (int64 (n, 2): callManagerId, callId) since the group key is written from both."""
    cdef Py_ssize_t n = buf.shape[0]
    out = _outputs(count_lines(buf[begin:]) if begin < n else 0)
    grp_a = out["group"] = np.zeros((out["lines"], 2), np.int64)
    cdef Py_ssize_t nlines = out["lines"]
    cdef int64_t[::1] ls = out["line_start"], le = out["line_end"], st = out["start"], an = out["answer"]
    cdef uint8_t[::1] fb = out["fallback"].view(np.uint8)
    cdef int32_t[::1] du = out["duration"], bi = out["billable"]
    cdef int8_t[::1] dp = out["disposition"], dr = out["direction"]
    cdef int64_t[:, ::1] off = out["off"], grp = grp_a
    cdef int32_t[:, ::1] ln = out["len"]
    cdef const uint8_t* b = &buf[0] if n else NULL
    cdef int32_t col[NCOL]
    cdef int64_t fs[MAXC]
    cdef int64_t fe[MAXC]
    cdef int64_t cs[NCOL]
    cdef int64_t ce[NCOL]
    # phone prefixes
    cdef bytes joined = b"".join(prefixes)
    cdef const uint8_t* pj = <const uint8_t*><const char*>joined
    cdef int np_ = len(prefixes), k, q
    cdef int64_t p_off[MAXP]
    cdef int64_t p_len[MAXP]
    cdef int64_t acc = 0
    if np_ > MAXP:
        raise ValueError(f"at most {MAXP} phone prefixes")
    for k in range(np_):
        p_off[k] = acc
        p_len[k] = len(prefixes[k])
        acc += p_len[k]
    cdef bint usable = header_len > 0 and header_len <= MAXC and columns.shape[0] == NCOL
    for k in range(NCOL):
        col[k] = columns[k] if usable else -1
        if k < C_DISCONNECT and col[k] < 0:
            usable = False  # a needed column is missing: the row parser says so on every line
    if col[C_DISCONNECT] < 0:
        usable = False  # durations would be derived, with a note: the row parser's job
    cdef Py_ssize_t pos = begin, row = 0, end, nxt
    cdef int nf, direction
    cdef int64_t s, e, cm, callid, t0, t1, bill, disc, dcause, ocause, cause
    cdef uint64_t doubled
    cdef bint ok, orig_phone, dest_phone, m, special
    cdef uint8_t c
    with nogil:
        while pos < n and row < nlines:
            nf = split_line(b, pos, n, fs, fe, MAXC, &doubled, &end, &nxt)
            ls[row] = pos
            le[row] = end
            if usable and nf > 0:
                # a doubled quote or text after a quote: the csv module decides
                ok = nf == header_len and doubled == 0
                if ok:
                    for k in range(NCOL):  # the fields, stripped of spaces ("" where the header lacks it)
                        if col[k] < 0:
                            cs[k] = ce[k] = pos
                        else:
                            s, e = fs[col[k]], fe[col[k]]
                            while s < e and b[s] == 32:
                                s += 1
                            while e > s and b[e - 1] == 32:
                                e -= 1
                            cs[k], ce[k] = s, e
                    # end records only; the rest (start records, CMRs, types, headers) go to the row parser
                    ok = ce[C_TYPE] - cs[C_TYPE] == 1 and b[cs[C_TYPE]] == 49
                if ok:
                    ok = integer(b + cs[C_CM], ce[C_CM] - cs[C_CM], &cm) \
                        and integer(b + cs[C_CALLID], ce[C_CALLID] - cs[C_CALLID], &callid) \
                        and integer(b + cs[C_ORIG_TIME], ce[C_ORIG_TIME] - cs[C_ORIG_TIME], &t0) \
                        and 0 < t0 < MAX_EPOCH \
                        and integer(b + cs[C_CONNECT], ce[C_CONNECT] - cs[C_CONNECT], &t1) \
                        and (t1 == 0 or (t0 <= t1 < MAX_EPOCH)) \
                        and integer(b + cs[C_DURATION], ce[C_DURATION] - cs[C_DURATION], &bill) \
                        and 0 <= bill <= MAX_SECONDS \
                        and integer(b + cs[C_DISCONNECT], ce[C_DISCONNECT] - cs[C_DISCONNECT], &disc) \
                        and t0 <= disc < MAX_EPOCH and disc - t0 <= MAX_SECONDS
                if ok:
                    dcause = ocause = 0
                    if ce[C_DEST_CAUSE] > cs[C_DEST_CAUSE]:
                        ok = integer(b + cs[C_DEST_CAUSE], ce[C_DEST_CAUSE] - cs[C_DEST_CAUSE], &dcause)
                    if ok and ce[C_ORIG_CAUSE] > cs[C_ORIG_CAUSE]:
                        ok = integer(b + cs[C_ORIG_CAUSE], ce[C_ORIG_CAUSE] - cs[C_ORIG_CAUSE], &ocause)
                    # both devices known, or the direction would come with a note; no comment longer than a
                    # character (recording markers); no `b...` number (bridge and recorder legs)
                    ok = ok and ce[C_ORIG_DEV] > cs[C_ORIG_DEV] and ce[C_DEST_DEV] > cs[C_DEST_DEV] \
                        and ce[C_COMMENT] - cs[C_COMMENT] <= 1 \
                        and not (ce[C_ORIG_CALLED] > cs[C_ORIG_CALLED] and (b[cs[C_ORIG_CALLED]] | 32) == 98) \
                        and not (ce[C_FINAL] > cs[C_FINAL] and (b[cs[C_FINAL]] | 32) == 98) \
                        and not (ce[C_CALLING] > cs[C_CALLING] and (b[cs[C_CALLING]] | 32) == 98)
                if ok:
                    st[row] = t0
                    an[row] = t1 if t1 else NONE
                    du[row] = <int32_t>(disc - t0)
                    bi[row] = <int32_t>bill
                    grp[row, 0] = cm
                    grp[row, 1] = callid
                    if t1:
                        dp[row] = 0
                    else:
                        cause = dcause if dcause else ocause
                        if cause == 17 or ocause == 17:
                            dp[row] = 2
                        elif cause == 0 or cause == 16 or cause == 18 or cause == 19:
                            dp[row] = 1
                        else:
                            dp[row] = 3
                    orig_phone = dest_phone = special = False
                    for k in range(np_):
                        s = 1 if pj[p_off[k]] == 33 else 0  # '!': a device whose lines go to the row parser
                        m = ce[C_ORIG_DEV] - cs[C_ORIG_DEV] >= p_len[k] - s
                        q = s
                        while m and q < p_len[k]:
                            c = b[cs[C_ORIG_DEV] + q - s]
                            m = (c - 32 if 97 <= c <= 122 else c) == pj[p_off[k] + q]
                            q += 1
                        if s:
                            special = special or m
                        else:
                            orig_phone = orig_phone or m
                        m = ce[C_DEST_DEV] - cs[C_DEST_DEV] >= p_len[k] - s
                        q = s
                        while m and q < p_len[k]:
                            c = b[cs[C_DEST_DEV] + q - s]
                            m = (c - 32 if 97 <= c <= 122 else c) == pj[p_off[k] + q]
                            q += 1
                        if s:
                            special = special or m
                        else:
                            dest_phone = dest_phone or m
                    if orig_phone and not special:  # masked (noted) or `+` globalised: the row parser's
                        for q in range(cs[C_CALLING], ce[C_CALLING]):
                            if not 48 <= b[q] <= 57:
                                special = True
                                break
                    elif dest_phone and not special and ce[C_FINAL] > cs[C_FINAL] and b[cs[C_FINAL]] == 43:
                        special = True  # a `+` globalised extension
                    elif not orig_phone and not dest_phone and not special:  # trunk to trunk: the redirecting
                        for q in range(cs[C_REDIRECT], ce[C_REDIRECT]):  # extension, digits only here
                            if not 48 <= b[q] <= 57:
                                special = True
                                break
                    if special:
                        row += 1
                        pos = nxt
                        continue
                    off[row, S_TRUNK] = ln[row, S_TRUNK] = 0
                    off[row, S_EXTENSION] = ln[row, S_EXTENSION] = 0
                    if orig_phone:
                        off[row, S_EXTENSION] = cs[C_CALLING]
                        ln[row, S_EXTENSION] = <int32_t>(ce[C_CALLING] - cs[C_CALLING])
                        if dest_phone:
                            direction = 3
                        else:
                            direction = 1
                            off[row, S_TRUNK] = cs[C_DEST_DEV]
                            ln[row, S_TRUNK] = <int32_t>(ce[C_DEST_DEV] - cs[C_DEST_DEV])
                    elif dest_phone:
                        direction = 2
                        off[row, S_TRUNK] = cs[C_ORIG_DEV]
                        ln[row, S_TRUNK] = <int32_t>(ce[C_ORIG_DEV] - cs[C_ORIG_DEV])
                        off[row, S_EXTENSION] = cs[C_FINAL]
                        ln[row, S_EXTENSION] = <int32_t>(ce[C_FINAL] - cs[C_FINAL])
                    else:
                        direction = 4
                        off[row, S_TRUNK] = cs[C_DEST_DEV]
                        ln[row, S_TRUNK] = <int32_t>(ce[C_DEST_DEV] - cs[C_DEST_DEV])
                        off[row, S_EXTENSION] = cs[C_REDIRECT]  # who forwarded or transferred it out
                        ln[row, S_EXTENSION] = <int32_t>(ce[C_REDIRECT] - cs[C_REDIRECT])
                    dr[row] = <int8_t>direction
                    off[row, S_CALLER] = cs[C_CALLING]
                    ln[row, S_CALLER] = <int32_t>(ce[C_CALLING] - cs[C_CALLING])
                    off[row, S_DIALLED] = cs[C_ORIG_CALLED]
                    ln[row, S_DIALLED] = <int32_t>(ce[C_ORIG_CALLED] - cs[C_ORIG_CALLED])
                    k = C_OUTPULSED if ce[C_OUTPULSED] > cs[C_OUTPULSED] else C_FINAL
                    off[row, S_CALLED] = cs[k]
                    ln[row, S_CALLED] = <int32_t>(ce[k] - cs[k])
                    k = C_MATTER if ce[C_MATTER] > cs[C_MATTER] else C_AUTH
                    off[row, S_ACCOUNT] = cs[k]
                    ln[row, S_ACCOUNT] = <int32_t>(ce[k] - cs[k])
                    off[row, S_NATIVE] = cs[C_PKID]
                    ln[row, S_NATIVE] = <int32_t>(ce[C_PKID] - cs[C_PKID])
                    off[row, S_LEG] = cs[C_LEG]
                    ln[row, S_LEG] = <int32_t>(ce[C_LEG] - cs[C_LEG])
                    off[row, S_GROUP] = ln[row, S_GROUP] = 0
                    off[row, S_RAW] = pos
                    ln[row, S_RAW] = <int32_t>(end - pos)
                    fb[row] = 0
            row += 1
            pos = nxt
    return out
