# cython: language_level=3
"""The compiled dial plan: ingest.dialplan.DialPlan.normalise over a block of strings in one nogil loop, from tables
built once per site (ingest.dialplan.compile_plan). Rows the tables cannot decide (non-ASCII bytes, a country code
phonenumbers does not know, a national number its trunk-prefix pattern matches, a pattern the DFA compiler does not
support...) are flagged; the caller hands those rows to the Python DialPlan, so results are always identical."""

import numpy as np

from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy

from engine._prefetch cimport anatole_prefetch

# kind codes: ingest.dialplan.KINDS order
DEF K_EXTERNAL = 0
DEF K_INTERNAL = 1
DEF K_SERVICE = 2
DEF K_EMERGENCY = 3
DEF K_INVALID = 4
# rule codes: ingest.dialplan.RULES order
DEF R_POSSIBLE = 0
DEF R_EMPTY = 1
DEF R_PLUS = 2
DEF R_CODE = 3
DEF R_EMERGENCY = 4
DEF R_EXTENSION = 5
DEF R_INTERNATIONAL = 6
DEF R_NATIONAL = 7
DEF R_LOCAL = 8
DEF R_SHORT = 9
DEF R_TOO_SHORT = 10
DEF R_UNKNOWN_CC = 14
DEF FALLBACK = -1
DEF UNSUPPORTED = -2
DEF NOT_READY = -3
DEF MAXTEXT = 64

DEF W = 20
WIDTH = W  # bytes of an E.164 result (digits without '+'); longer results are left to the Python plan


cdef class Tables:
    """A site's dial plan as flat arrays (see ingest.dialplan.compile_plan for what each holds)."""

    cdef bytes outside, national, international, area, cc
    cdef bytes ext_lo, ext_hi
    cdef int n_ext
    cdef int32_t[::1] ext_len
    cdef int32_t[::1] dfa
    cdef uint8_t[::1] accept
    cdef int32_t emergency, short_general, short_code, site_npp, site_idd
    cdef uint32_t short_general_lengths, short_code_lengths
    cdef bint short_ok, no_plan, npp_literal
    cdef bytes npp_lits
    cdef int32_t[::1] npp_lit_len
    cdef int32_t main_general
    cdef uint32_t strip_lengths
    cdef int16_t[::1] cc_index
    cdef int32_t[::1] cc_npp
    cdef int8_t[:, ::1] reason
    cdef int maxn

    def __init__(self, bytes outside, bytes national, bytes international, bytes area, bytes cc,
                 bytes ext_lo, bytes ext_hi, int32_t[::1] ext_len, int32_t[::1] dfa, uint8_t[::1] accept,
                 int emergency, int short_general, int short_code, unsigned int short_general_lengths,
                 unsigned int short_code_lengths, bint short_ok, int site_npp, int site_idd,
                 int16_t[::1] cc_index, int32_t[::1] cc_npp, int8_t[:, ::1] reason, bint no_plan,
                 bint npp_literal, bytes npp_lits, int32_t[::1] npp_lit_len, int main_general,
                 unsigned int strip_lengths):
        self.outside, self.national, self.international, self.area, self.cc = outside, national, international, \
            area, cc
        self.ext_lo, self.ext_hi, self.ext_len, self.n_ext = ext_lo, ext_hi, ext_len, ext_len.shape[0]
        self.dfa, self.accept = dfa, accept
        self.emergency, self.short_general, self.short_code = emergency, short_general, short_code
        self.short_general_lengths, self.short_code_lengths = short_general_lengths, short_code_lengths
        self.short_ok, self.site_npp, self.site_idd = short_ok, site_npp, site_idd
        self.cc_index, self.cc_npp, self.reason, self.maxn = cc_index, cc_npp, reason, reason.shape[1] - 1
        self.no_plan = no_plan
        self.npp_literal, self.npp_lits, self.npp_lit_len = npp_literal, npp_lits, npp_lit_len
        self.main_general, self.strip_lengths = main_general, strip_lengths

    def __reduce__(self):
        """Pickled as the arguments it was built from (the arrays copied out of their memoryviews), so that a site's
        compiled plan travels to Dask workers as it is."""
        return Tables, (self.outside, self.national, self.international, self.area, self.cc, self.ext_lo,
                        self.ext_hi, np.asarray(self.ext_len), np.asarray(self.dfa), np.asarray(self.accept),
                        self.emergency, self.short_general, self.short_code, self.short_general_lengths,
                        self.short_code_lengths, self.short_ok, self.site_npp, self.site_idd,
                        np.asarray(self.cc_index), np.asarray(self.cc_npp), np.asarray(self.reason), self.no_plan,
                        self.npp_literal, self.npp_lits, np.asarray(self.npp_lit_len), self.main_general,
                        self.strip_lengths)


cdef struct Plan:
    const char* op
    int op_n
    const char* np_
    int np_n
    const char* ip
    int ip_n
    const char* area
    int area_n
    const char* cc
    int cc_n
    const char* ext_lo
    const char* ext_hi
    const int32_t* ext_len
    int n_ext
    const int32_t* dfa
    const uint8_t* accept
    int32_t emergency, short_general, short_code, site_npp, site_idd
    uint32_t short_general_lengths, short_code_lengths
    bint short_ok, no_plan, npp_literal
    const char* npp_lits
    const int32_t* npp_lit_len
    int n_lit
    int32_t main_general
    uint32_t strip_lengths
    const int16_t* cc_index
    uint8_t* wanted
    const int32_t* cc_npp
    const int8_t* reason
    int maxn


cdef inline bint at_end(const Plan* p, int32_t st) noexcept nogil:
    """The state accepts at the end of the input (as it is, or after a `$`: column 10)."""
    if p.accept[st]:
        return True
    st = p.dfa[st * 11 + 10]
    return st >= 0 and p.accept[st] != 0


cdef inline bint fullmatch(const Plan* p, int32_t start, const char* s, int n) noexcept nogil:
    cdef int32_t st = start
    cdef int i
    if st < 0:
        return False
    for i in range(n):
        st = p.dfa[st * 11 + (s[i] - 48)]
        if st < 0:
            return False
    return at_end(p, st)


cdef inline bint prefix_match(const Plan* p, int32_t start, const char* s, int n) noexcept nogil:
    """re.match: some prefix of s (the empty one included) is accepted."""
    cdef int32_t st = start
    cdef int i
    if st < 0:
        return False
    for i in range(n):
        if p.accept[st]:
            return True
        st = p.dfa[st * 11 + (s[i] - 48)]
        if st < 0:
            return False
    return at_end(p, st)


cdef inline int compare(const char* a, const char* b, int n) noexcept nogil:
    """memcmp's sign for the few bytes of a prefix or an extension, without a call into libc per number."""
    cdef int i
    for i in range(n):
        if a[i] != b[i]:
            return -1 if <uint8_t>a[i] < <uint8_t>b[i] else 1
    return 0


cdef inline bint starts(const char* s, int n, const char* pre, int pre_n) noexcept nogil:
    return pre_n <= n and compare(s, pre, pre_n) == 0


cdef int impossible(const Plan* p, const char* e, int n) noexcept nogil:
    """ingest.dialplan._impossible as a rule code (R_POSSIBLE when possible), FALLBACK where the tables cannot tell."""
    cdef int i, v = 0, ccl = 0, ci = -1, national
    cdef int32_t npp
    if n == 0 or e[0] == 48:
        return 13  # no country code
    for i in range(3 if n > 3 else n):
        v = v * 10 + (e[i] - 48)
        if p.cc_index[v] >= 0:
            ci = p.cc_index[v]
            ccl = i + 1
            break
    if ci < 0:
        return FALLBACK  # phonenumbers parses such numbers each time
    national = n - ccl
    npp = p.cc_npp[ci]
    if npp == NOT_READY:
        p.wanted[ci] = 1  # the caller adds the country code's rows to the tables
        return FALLBACK
    if npp == UNSUPPORTED:
        return FALLBACK
    if npp >= 0 and prefix_match(p, npp, e + ccl, national):
        return FALLBACK  # parsing may strip a national prefix: not a matter of length alone
    if national > p.maxn:
        return FALLBACK
    return p.reason[ci * (p.maxn + 1) + national]


cdef inline int emergency(const Plan* p, const char* s, int n) noexcept nogil:
    """1 emergency, 0 not, FALLBACK unknown."""
    if n > 6:
        return 0
    if p.emergency == UNSUPPORTED:
        return FALLBACK
    return fullmatch(p, p.emergency, s, n)


cdef inline bint is_extension(const Plan* p, const char* s, int n) noexcept nogil:
    cdef int k, at = 0, w
    for k in range(p.n_ext):
        w = p.ext_len[k]
        if w == n and compare(s, p.ext_lo + at, w) >= 0 and compare(s, p.ext_hi + at, w) <= 0:
            return True
        at += w
    return False


cdef int short_number(const Plan* p, const char* d, int m) noexcept nogil:
    """ingest.dialplan._short_number: 1, 0 or FALLBACK. phonenumbers.parse(d, region) then takes the digits as the
    national number, less a national prefix where its parsing pattern is plain digits ("0", "0|180020": one
    alternative at most can start the digits) and the rest has a possible length (and the digits are not a
    national number as they are while the rest is not); an international prefix or the country code at the start,
    or another kind of national-prefix pattern: the Python plan decides."""
    cdef int k, at = 0, w
    cdef const char* nsn = d
    cdef int nn = m
    if not p.short_ok:
        return FALLBACK
    if m < 2:
        return 0  # not a viable number: parse raises
    if p.site_idd >= 0 and prefix_match(p, p.site_idd, d, m):
        return FALLBACK
    if starts(d, m, p.cc, p.cc_n):
        return FALLBACK
    if p.site_npp >= 0 and prefix_match(p, p.site_npp, d, m):
        if not p.npp_literal or p.main_general == UNSUPPORTED:
            return FALLBACK
        w = -1
        for k in range(p.n_lit):
            if starts(d, m, p.npp_lits + at, p.npp_lit_len[k]):
                w = p.npp_lit_len[k]
                break
            at += p.npp_lit_len[k]
        if w < 0:
            return FALLBACK
        if not (fullmatch(p, p.main_general, d, m) and not fullmatch(p, p.main_general, d + w, m - w)) \
                and (p.strip_lengths >> (m - w)) & 1:
            nsn, nn = d + w, m - w
    if nn < 2:
        return 0  # parse raises: too short after the national prefix
    if not (p.short_general_lengths >> nn) & 1 or not fullmatch(p, p.short_general, nsn, nn):
        return 0
    if not (p.short_code_lengths >> nn) & 1 or not fullmatch(p, p.short_code, nsn, nn):
        return 0
    return 1


cdef inline int put(char* e, int at, const char* s, int n) noexcept nogil:
    if at + n > MAXTEXT:
        return -1
    memcpy(e + at, s, n)
    return at + n


cdef int checked(const Plan* p, const char* d, int m, char* out, int* out_n, int8_t* kind, int16_t* rule
                 ) noexcept nogil:
    """DialPlan._checked (with _external): 0 done, FALLBACK undecided."""
    cdef char e[MAXTEXT + 8]
    cdef int n, why, why2, r, s
    cdef int known = FALLBACK  # impossible(e[:n]) when worked out already (never FALLBACK then)
    if p.ip_n and starts(d, m, p.ip, p.ip_n):
        if m - p.ip_n < 3:
            kind[0], rule[0] = K_INVALID, R_TOO_SHORT
            return 0
        n = put(e, 0, d + p.ip_n, m - p.ip_n)
        r = R_INTERNATIONAL
    elif p.np_n and starts(d, m, p.np_, p.np_n):
        n = put(e, 0, p.cc, p.cc_n)
        n = put(e, n, d + p.np_n, m - p.np_n) if n >= 0 else -1
        r = R_NATIONAL
    else:
        n = put(e, 0, p.cc, p.cc_n)
        n = put(e, n, p.area, p.area_n) if n >= 0 else -1
        n = put(e, n, d, m) if n >= 0 else -1
        r = R_LOCAL
        if n >= 0 and p.area_n:
            why = known = impossible(p, e, n)
            if why == FALLBACK:
                return FALLBACK
            if why != R_POSSIBLE:  # not possible as local: with its area code already, without a prefix?
                n = put(e, 0, p.cc, p.cc_n)
                n = put(e, n, d, m) if n >= 0 else -1
                if n < 0:
                    return FALLBACK
                why2 = known = impossible(p, e, n)
                if why2 == FALLBACK:
                    return FALLBACK
                if why2 == R_POSSIBLE:
                    r = R_NATIONAL
                else:
                    n = put(e, 0, p.cc, p.cc_n)
                    n = put(e, n, p.area, p.area_n)
                    n = put(e, n, d, m)
                    known = why
    if n < 0 or n > W:
        return FALLBACK
    if not p.no_plan:
        why = known if known != FALLBACK else impossible(p, e, n)
        if why == FALLBACK:
            return FALLBACK
        if why != R_POSSIBLE and why != R_UNKNOWN_CC:
            if m <= 8:
                s = short_number(p, d, m)
                if s == FALLBACK:
                    return FALLBACK
                if s:
                    kind[0], rule[0] = K_SERVICE, R_SHORT
                    return 0
            kind[0], rule[0] = K_INVALID, why
            return 0
    memcpy(out, e, n)
    out_n[0] = n
    kind[0], rule[0] = K_EXTERNAL, r
    return 0


cdef inline bint noise(uint8_t c) noexcept nogil:
    """Python's [\\s().\\-/] on an ASCII character."""
    return (9 <= c <= 13) or (28 <= c <= 32) or c == 40 or c == 41 or c == 46 or c == 45 or c == 47


cdef inline bint all_digits(const uint8_t* raw, int raw_n, char* t) noexcept nogil:
    """Whether raw[:raw_n] is all ASCII digits (what most numbers are), copied to t 8 bytes at a time if so; raw
    may be read, and t written, up to 8 bytes past raw_n (the caller checked). A byte is a digit when adding 0x46
    does not reach 0x80, subtracting 0x30 does not go below 0, and its own high bit is clear (exact per byte: a
    carry or borrow only follows a byte already found wrong)."""
    cdef int i = 0
    cdef uint64_t w, keep
    while i < raw_n:
        memcpy(&w, raw + i, 8)
        if raw_n - i < 8:  # bytes past the string: made digits for the test
            keep = ((<uint64_t>1) << (8 * (raw_n - i))) - 1
            w = (w & keep) | (0x3030303030303030ULL & ~keep)
        if ((w + 0x4646464646464646ULL) | (w - 0x3030303030303030ULL) | w) & 0x8080808080808080ULL:
            return False
        memcpy(t + i, &w, 8)
        i += 8
    return True


cdef int one(const Plan* p, const uint8_t* raw, int raw_n, bint as_dialled, bint wide, char* out, int* out_n,
             int8_t* kind, int16_t* rule) noexcept nogil:
    """DialPlan._normalise of one string: 0 done, FALLBACK undecided. `wide`: raw may be read 8 bytes past raw_n."""
    cdef char t[MAXTEXT + 8]
    cdef int n = 0, i, j, em
    cdef uint8_t c
    cdef bint digits = wide and raw_n <= MAXTEXT and all_digits(raw, raw_n, t)
    if digits:  # what most numbers are: no '#', no '+', nothing but digits to check below
        n = raw_n
    else:
        for i in range(raw_n):
            c = raw[i]
            if c >= 128:
                return FALLBACK
            if noise(c):
                continue
            if n == MAXTEXT:
                return FALLBACK
            t[n] = <char>c
            n += 1
    # a '#' terminator: text[:-1].lstrip('+') is all digits (and not empty)
    if not digits and n >= 2 and t[n - 1] == 35:
        j = 0
        while j < n - 1 and t[j] == 43:
            j += 1
        if j < n - 1:
            i = j
            while i < n - 1 and 48 <= t[i] <= 57:
                i += 1
            if i == n - 1:
                n -= 1
    if n == 0:
        kind[0], rule[0] = K_INVALID, R_EMPTY
        return 0
    if not digits and t[0] == 43:  # '+'
        if n == 1:
            kind[0], rule[0] = K_SERVICE, R_PLUS
            return 0
        for i in range(1, n):
            if not (48 <= t[i] <= 57):
                kind[0], rule[0] = K_SERVICE, R_PLUS
                return 0
        j = impossible(p, t + 1, n - 1)
        if j == FALLBACK:
            return FALLBACK
        if j == R_POSSIBLE or j == R_UNKNOWN_CC:
            if n - 1 > W:
                return FALLBACK
            memcpy(out, t + 1, n - 1)
            out_n[0] = n - 1
            kind[0], rule[0] = K_EXTERNAL, R_PLUS
        else:
            kind[0], rule[0] = K_INVALID, j
        return 0
    for i in range(0 if digits else n):
        if not (48 <= t[i] <= 57):
            kind[0], rule[0] = K_SERVICE, R_CODE
            return 0
    em = emergency(p, t, n)
    if em == FALLBACK:
        return FALLBACK
    if em:
        kind[0], rule[0] = K_EMERGENCY, R_EMERGENCY
        return 0
    if is_extension(p, t, n):
        kind[0], rule[0] = K_INTERNAL, R_EXTENSION
        return 0
    if as_dialled and p.op_n and n > p.op_n and starts(t, n, p.op, p.op_n):
        em = emergency(p, t + p.op_n, n - p.op_n)
        if em == FALLBACK:
            return FALLBACK
        if em:
            kind[0], rule[0] = K_EMERGENCY, R_EMERGENCY
            return 0
        return checked(p, t + p.op_n, n - p.op_n, out, out_n, kind, rule)
    return checked(p, t, n, out, out_n, kind, rule)


def normalise_slices(Tables tables, const uint8_t[::1] buf, const int64_t[:] off, const int32_t[:] ln,
                     const int64_t[::1] rows, bint as_dialled, uint8_t[::1] wanted):
    """(kind int8, rule int16, e164 S20, undecided bool) of the slices buf[off[r]:off[r]+ln[r]] for r in rows;
    the e164 of a non-external row is empty; undecided rows are for the Python plan. wanted[i] is set for each
    country code (index) whose rows the tables do not have yet."""
    cdef Py_ssize_t count = rows.shape[0], k, r, nbuf = buf.shape[0]
    kinds = np.zeros(count, np.int8)
    rules = np.zeros(count, np.int16)
    e164 = np.zeros(count, "S%d" % WIDTH)
    undecided = np.zeros(count, np.bool_)
    cdef int8_t[::1] kv = kinds
    cdef int16_t[::1] rv = rules
    cdef uint8_t[::1] uv = undecided.view(np.uint8)
    cdef uint8_t[::1] ev = e164.view(np.uint8) if count else np.zeros(WIDTH, np.uint8)
    cdef char* eb = <char*>&ev[0]
    cdef const uint8_t* b = &buf[0] if buf.shape[0] else NULL
    cdef int out_n
    cdef Plan p
    p.op, p.op_n = tables.outside, len(tables.outside)
    p.np_, p.np_n = tables.national, len(tables.national)
    p.ip, p.ip_n = tables.international, len(tables.international)
    p.area, p.area_n = tables.area, len(tables.area)
    p.cc, p.cc_n = tables.cc, len(tables.cc)
    p.ext_lo, p.ext_hi = tables.ext_lo, tables.ext_hi
    p.ext_len = &tables.ext_len[0] if tables.n_ext else NULL
    p.n_ext = tables.n_ext
    p.dfa, p.accept = &tables.dfa[0], &tables.accept[0]
    p.emergency, p.short_general, p.short_code = tables.emergency, tables.short_general, tables.short_code
    p.site_npp, p.site_idd = tables.site_npp, tables.site_idd
    p.short_general_lengths, p.short_code_lengths = tables.short_general_lengths, tables.short_code_lengths
    p.short_ok, p.no_plan = tables.short_ok, tables.no_plan
    p.npp_literal, p.npp_lits, p.n_lit = tables.npp_literal, tables.npp_lits, tables.npp_lit_len.shape[0]
    p.npp_lit_len = &tables.npp_lit_len[0] if p.n_lit else NULL
    p.main_general, p.strip_lengths = tables.main_general, tables.strip_lengths
    if wanted.shape[0] < tables.cc_npp.shape[0]:
        raise ValueError("wanted: one byte per country code")
    p.wanted = &wanted[0]
    p.cc_index, p.cc_npp, p.reason, p.maxn = &tables.cc_index[0], &tables.cc_npp[0], &tables.reason[0, 0], \
        tables.maxn
    with nogil:
        for k in range(count):
            r = rows[k]
            if k + 8 < count:  # the string 8 rows on: each row's is a new line of the block, often not cached
                anatole_prefetch(b + off[rows[k + 8]])
            out_n = 0
            if one(&p, b + off[r], ln[r], as_dialled, off[r] + ln[r] + 8 <= nbuf, eb + k * W, &out_n, &kv[k],
                   &rv[k]) == FALLBACK:
                uv[k] = 1
    return kinds, rules, e164, undecided
