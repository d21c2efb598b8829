"""The rating kernel: prices a batch of calls against a compiled tariff in one nogil loop.

Inputs and outputs are flat arrays; the tables come from `tariffs.compile` (see docs/rating.md for the exact
semantics, which `engine.reference` implements in plain Python as the test oracle). No I/O, no Python objects in
the loop, no float on the money path: money is int64 in units of 10**-8.

Numbers become tariff-independent keys once (`number_keys`: 18 base-11 digits, left-aligned, in a uint64), so a
scanner can compute them when it reads the numbers and `RateTables.rate_keys` rate them against any tariff;
`RateTables.rate` does both, a chunk at a time. A batch's bands come from a timeline of band changes built once
per batch for the span of its start times (an hour-indexed grid into it), not from a calendar per call.
"""

from libc.string cimport memset
from libc.stdint cimport intptr_t, int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t

import mmap
from concurrent.futures import ThreadPoolExecutor

import numpy as np

cimport numpy as cnp

cnp.import_array()

# statuses (keep in step with engine/__init__.py) and limits
cdef enum:
    RATED = 0
    NO_RATE = 1
    UNANSWERED = 2
    INVALID = 3
    ALL_BANDS = -1
    NO_BAND = -1
    NONE = -1
    MAX_DURATION = 604800
    SEARCH = -3
    MAX_KEY_DIGITS = 18
    DAY = 86400
    DAY_CACHE = 64  # a power of two
    DEFER = 64  # general-path calls gathered before they are priced together (RateTables.deferred)
    GROUP = 24  # calls looked up together, so that their memory accesses overlap (16, 20 and 32: 3-8 % fewer calls/s)
    BASELINE_GROUP = 32  # rate_baseline's, unchanged
    KEY_DIGITS = 18  # digits of a number key: 11**18 < 2**63
    CHUNK = 2048  # calls whose keys rate() computes at a time, into a buffer on the stack
    HOUR = 3600
    PAD = 8  # keys after the last interval start: a count over 8 keys never reads past the array
    WINDOW_DAYS = 800  # the longest span of start times a batch's band timeline covers
    MAGIC_BITS = 40  # the shift of the increments' reciprocals (KScheme.magic0/1)

cdef int64_t FAR = 4611686018427387904  # 2**62: "no event ahead", and the bound of a call's total

# One record per rate and per slot (array of structs): a call reads one or two cache lines, not one per field.
# The layouts match tariffs.compile.RATE_DTYPE / SLOT_DTYPE (numpy, align=True).
ctypedef struct RateRec:
    int64_t eff
    int64_t connect
    int64_t min_cost
    int64_t max_cost
    int32_t slot_lo
    int32_t slot_hi
    int16_t band

ctypedef struct IvRec:  # an interval of keys: its first key and the longest prefix covering it
    uint64_t start
    int32_t prefix

ctypedef struct SlotRec:
    int64_t price
    int64_t scaled
    int64_t incprice
    int32_t start
    int32_t inc
    int32_t unit

ctypedef struct HotRec:  # what a usual call reads of its rate: 32 bytes, two rates a line
    int64_t eff_scheme  # when the rate is in force (48 bits, << 16) | its Scheme (0: not for rate_simple)
    int64_t connect
    int64_t scaled0  # slot 0 (from 0): price per second over the common denominator
    int64_t scaled1  # slot 1

ctypedef struct Hot16:  # what rate_simple reads of a HotRec, in 16 bytes (compact_records)
    uint32_t connect
    uint32_t scaled0
    uint32_t scaled1
    uint16_t scheme  # 0: the general path (also where a field of the HotRec does not fit here)
    uint16_t since  # when the rate is in force: an index into the table of the deck's effective dates

ctypedef struct IRec:  # an interval's rate for one band column, all a usual call reads after the search (24 bytes)
    int32_t prefix  # the interval's prefix (-1: none)
    int32_t rate  # the rate to try: the prefix's own or the nearest ancestor's (-1: none)
    Hot16 h

ctypedef struct Scheme:  # what many rates share: where slot 1 begins, the increments, the cost bounds
    int64_t min_cost
    int64_t max_cost
    int32_t start1  # 2**31 - 1: no slot 1
    int32_t inc0
    int32_t inc1
    int32_t simple  # 1: rate_simple prices the rate's calls that stay in one band (0 in entry 0 only)

ctypedef struct KScheme:  # a Scheme as the kernel reads it (64 bytes, one line): bounds and divisions precomputed
    int64_t max_scaled  # max_cost * denom (INT64_MAX: none), compared with the scaled total
    int64_t min_cost  # INT64_MIN: none
    uint64_t magic0  # ceil(2**40 / inc0): n // inc0 == (n * magic0) >> 40 for n < 2**21 (increments < 2**18)
    uint64_t magic1
    int32_t start1  # 2**31 - 1: no slot 1
    int32_t inc0
    int32_t inc1
    int32_t simple  # 1: rate_simple prices the rate's calls that stay in one band
    int32_t anchor1  # where slot 1's increments count from: 0 (anchor "zero") or start1
    int32_t pad0
    int64_t pad1

ctypedef struct Timeline:  # a batch's bands: piecewise constant over [w0, w1), UTC
    int64_t w0
    int64_t w1
    const int32_t* grid  # hour h of the window -> the last entry that begins at or before w0 + h * HOUR
    const int64_t* at  # where each entry begins; at[n] = w1
    const int16_t* band
    const int64_t* hours  # hour h: (next change - w0) << 16 | its band, or SEARCH if the band changes within h

ctypedef struct Deferred:  # rate_block's calls for the general path, priced together (RateTables.deferred)
    Py_ssize_t n
    int32_t i[DEFER + GROUP]
    int32_t pid[DEFER + GROUP]
    int32_t rate[DEFER + GROUP]
    int band[DEFER + GROUP]
    int64_t room[DEFER + GROUP]

ctypedef struct Outputs:
    int8_t* status
    int32_t* prefix
    int32_t* rate
    int16_t* band
    uint8_t* parts
    int32_t* billed
    int64_t* cost

MIN_SLICE = 1 << 16  # the fewest calls worth a thread of their own (a module global: tests lower it)

MODES = {"up": 0, "down": 1, "half_up": 2, "half_even": 3}

cdef uint64_t POW11[KEY_DIGITS + 1]
POW11[0] = 1
for _k in range(1, KEY_DIGITS + 1):
    POW11[_k] = POW11[_k - 1] * 11


cdef inline uint64_t number_key(const uint8_t* p, Py_ssize_t width) noexcept nogil:
    """The key of one number: its first 18 digits in base 11 ('0'..'9' -> 1..10, 0 pads), left-aligned, so
    that a prefix's numbers form one range of keys and a number shorter than a prefix falls outside it. 0 for
    an empty number or one with a character other than a digit (an invalid number)."""
    cdef uint64_t key = 0
    cdef Py_ssize_t j
    cdef int n = 0
    cdef uint8_t c
    for j in range(width):
        c = p[j] - 48
        if c > 9:
            if p[j] == 0:
                break
            return 0
        if n < KEY_DIGITS:
            key = key * 11 + c + 1
            n += 1
    if n == 0:
        return 0
    return key * POW11[KEY_DIGITS - n]


def number_keys(digits, out=None):
    """Keys of E.164 numbers ('S<n>' array) for `RateTables.rate_keys`, valid for every tariff: compute them
    once (when the numbers are read) and rate them against as many tariffs as needed. 0 marks an invalid number
    (empty, or a character other than a digit); digits after the 18th are ignored, as by `rate`."""
    arr = np.ascontiguousarray(digits)
    if arr.dtype.kind != "S" or arr.ndim != 1:
        raise TypeError("digits must be a 1-d numpy array of bytes strings (dtype 'S<n>')")
    cdef Py_ssize_t n = arr.shape[0], i, width = arr.dtype.itemsize
    if out is None:
        out = np.empty(n, np.uint64)
    cdef uint64_t[::1] keys = out
    if keys.shape[0] < n:
        raise ValueError("out is too short")
    if width == 0 or n == 0:
        keys[:n] = 0
        return out
    cdef const uint8_t[:, ::1] dv = arr.view(np.uint8).reshape(n, width)
    with nogil:
        for i in range(n):
            keys[i] = number_key(&dv[i, 0], width)
    return out

cdef extern from *:
    """
    /* floor(n / d) for 0 <= n < 2**62 as a multiply by a precomputed reciprocal m and a shift s
       (Granlund & Montgomery 1994, theorem 4.2): a 64-bit idiv costs 40-90 cycles, this about 4. */
    static inline uint64_t anatole_div_magic(uint64_t n, uint64_t m, int s, uint64_t d) {
    #ifdef __SIZEOF_INT128__
        (void)d;
        return (uint64_t)(((unsigned __int128)n * m) >> s);
    #else
        (void)m; (void)s;
        return n / d;
    #endif
    }
    """
    uint64_t anatole_div_magic(uint64_t n, uint64_t m, int s, uint64_t d) nogil

cdef extern from *:
    """
    /* anatole_div_magic for a shift s >= 64, given as s - 64: the high word of the product shifted, without
       the 128-bit shift's test of the shift's width. */
    static inline uint64_t anatole_div_high(uint64_t n, uint64_t m, int s64, uint64_t d) {
    #ifdef __SIZEOF_INT128__
        (void)d;
        return (uint64_t)(((unsigned __int128)n * m) >> 64) >> s64;
    #else
        (void)m; (void)s64;
        return n / d;
    #endif
    }
    """
    uint64_t anatole_div_high(uint64_t n, uint64_t m, int s64, uint64_t d) nogil

from engine._prefetch cimport anatole_prefetch


cdef inline int64_t floor_div(int64_t a, int64_t b) noexcept nogil:
    cdef int64_t q = a / b
    if (a % b != 0) and ((a < 0) != (b < 0)):
        q -= 1
    return q


cdef inline int64_t round_quotient(int64_t q, int64_t r, int64_t d, int64_t n, int mode) noexcept nogil:
    """Finish rounding n / d given its floor quotient q and remainder r (0 <= r < d). Comparisons, not branches:
    the remainder is data, the mode is the tariff's."""
    if mode == 1:
        return q
    if mode == 0:
        return q + (r != 0)
    if mode == 2:
        return q + ((2 * r > d) | ((2 * r == d) & (n > 0)))
    return q + ((2 * r > d) | ((2 * r == d) & (q & 1)))


cdef inline int64_t divide_round(int64_t n, int64_t d, int mode) noexcept nogil:
    """n / d rounded to an integer (d > 0): 0 up, 1 down, 2 half_up (ties away from 0), 3 half_even."""
    cdef int64_t q = floor_div(n, d)
    return round_quotient(q, n - q * d, d, n, mode)


SOURCE_KEYS = ("key_len", "top_digits", "n_bands", "mode", "anchor", "split", "denom", "quantum", "inc_quantum",
               "iv_rec", "top_index", "prefix_parent", "prefix_rate_lo", "band_rate", "rate_rec", "slot_rec",
               "day_class", "special_day", "special_sched", "sched_lo", "seg_start", "seg_band", "tz_at", "tz_off")


cdef class RateTables:
    """A compiled tariff as typed memoryviews; build it with tariffs.compile.compile_tariff()."""

    cdef readonly int key_len, top_digits, n_bands, mode, anchor_zero, split, n_prefixes, n_rates
    cdef readonly int64_t denom, quantum, inc_quantum
    cdef object iv_buf
    cdef const IvRec* ivs
    cdef const int32_t[::1] top_index
    cdef const int32_t[::1] prefix_parent
    cdef const int32_t[::1] prefix_rate_lo
    cdef object rate_buf, slot_buf  # keep the record arrays alive
    cdef const RateRec* rates
    cdef const SlotRec* slots
    cdef const int16_t[::1] day_class
    cdef const int32_t[::1] special_day
    cdef const int16_t[::1] special_sched
    cdef const int32_t[::1] sched_lo
    cdef const int32_t[::1] seg_start
    cdef const int16_t[::1] seg_band
    cdef const int64_t[::1] tz_at
    cdef const int32_t[::1] tz_off
    cdef const int32_t[::1] band_rate
    cdef int band_cols
    cdef uint64_t pow11[MAX_KEY_DIGITS + 1]
    cdef int32_t tz_last
    cdef int64_t final_div  # denom * quantum, the divisor of the call's rounding
    cdef uint64_t final_magic
    cdef int final_shift
    cdef int final_high  # final_shift - 64 (>= 0 but for divisors below 3: then rate_simple takes the other form)
    # rate_simple's rounding as one division: (total + round_add) // final_div, for total below round_limit
    # (the sum then below 2**62, where the reciprocal is exact); round_tie all ones for half_even with an even
    # divisor (an exact tie goes to the even quotient)
    cdef int64_t round_add, round_limit, round_tie
    # a small cache: day number -> its schedule, one word per entry (days * 2**20 + schedule) so that threads
    # rating at once with the same tables never see a day with another day's schedule
    cdef int64_t day_entry[DAY_CACHE]
    # the interval search on number keys: starts scaled to 18 digits, their prefixes, and a first-bits table
    cdef object ivk_buf, top_buf
    cdef const uint64_t* ivk  # interval starts, then PAD copies of 2**64 - 1 (a count may read past the end)
    cdef const uint64_t* grp  # ivk[8 * g]: the first start of each aligned group of 8, padded the same way
    cdef object grp_buf
    cdef const int32_t* top  # first-bits block -> the interval holding its first key
    cdef int top_shift
    cdef int max_segs  # the most segments in one day schedule (bounds a batch's timeline)
    cdef object hot_buf, scheme_buf, khot_buf, ksch_buf, since_buf, irec_buf
    cdef const int64_t* since  # the effective dates that Hot16.since indexes
    cdef const IRec* irec  # per interval, an IRec per band column: row lo * band_cols, column band + 1
    cdef const HotRec* hot  # the HotRecs, then a zero one (index n_rates: no rate)
    cdef const KScheme* schemes
    cdef object source  # what __init__ read of `tables` (the same objects): what a pickle carries

    def __init__(self, tables):
        """`tables`: a mapping of the array and parameter names produced by tariffs.compile."""
        self.source = {k: tables[k] for k in SOURCE_KEYS}
        self.key_len = tables["key_len"]
        self.top_digits = tables["top_digits"]
        self.n_bands = tables["n_bands"]
        self.mode = MODES[tables["mode"]]
        self.anchor_zero = tables["anchor"] == "zero"
        self.split = bool(tables["split"])
        self.denom = tables["denom"]
        self.quantum = tables["quantum"]
        self.inc_quantum = tables["inc_quantum"]
        self.iv_buf = np.ascontiguousarray(tables["iv_rec"])
        if self.iv_buf.dtype.itemsize != sizeof(IvRec):
            raise ValueError("interval record layout differs from the compiled engine's")
        cdef const uint8_t[::1] ib = self.iv_buf.view(np.uint8).reshape(-1)
        self.ivs = <const IvRec*> &ib[0]
        self.top_index = tables["top_index"]
        self.prefix_parent = tables["prefix_parent"]
        self.prefix_rate_lo = tables["prefix_rate_lo"]
        self.band_rate = tables["band_rate"]
        self.band_cols = self.n_bands + 1
        self.rate_buf = np.ascontiguousarray(tables["rate_rec"])
        self.slot_buf = np.ascontiguousarray(tables["slot_rec"])
        if self.rate_buf.dtype.itemsize != sizeof(RateRec) or self.slot_buf.dtype.itemsize != sizeof(SlotRec):
            raise ValueError("rate/slot record layout differs from the compiled engine's")
        cdef const uint8_t[::1] rb = self.rate_buf.view(np.uint8).reshape(-1)
        cdef const uint8_t[::1] sb = self.slot_buf.view(np.uint8).reshape(-1)
        self.rates = <const RateRec*> &rb[0] if rb.shape[0] else NULL
        self.slots = <const SlotRec*> &sb[0] if sb.shape[0] else NULL
        self.day_class = tables["day_class"]
        self.special_day = tables["special_day"]
        self.special_sched = tables["special_sched"]
        self.sched_lo = tables["sched_lo"]
        self.seg_start = tables["seg_start"]
        self.seg_band = tables["seg_band"]
        self.tz_at = tables["tz_at"]
        self.tz_off = tables["tz_off"]
        self.n_prefixes = self.prefix_parent.shape[0]
        self.n_rates = self.rate_buf.shape[0]
        if not 1 <= self.key_len <= MAX_KEY_DIGITS or not 0 <= self.top_digits <= self.key_len:
            raise ValueError("bad key_len/top_digits")
        if self.top_index.shape[0] != 11 ** self.top_digits + 1:
            raise ValueError("top_index has the wrong size")
        self.final_div = int(tables["denom"]) * int(tables["quantum"])
        self.final_magic, self.final_shift = reciprocal(self.final_div)
        self.final_high = self.final_shift - 64
        self.round_add, self.round_tie = rounding_offset(self.final_div, self.mode)
        self.round_limit = FAR - self.round_add
        if self.sched_lo.shape[0] > 1 << 20:
            raise ValueError("more than 2**20 day schedules")
        for i in range(DAY_CACHE):
            self.day_entry[i] = -(2**62)  # >> 20 is no day number
        self.pow11[0] = 1
        for i in range(1, MAX_KEY_DIGITS + 1):
            self.pow11[i] = self.pow11[i - 1] * 11
        # interval starts in the space of 18-digit keys: a key's interval is the one its truncation to key_len
        # digits falls in, since key18 // 11**(18 - key_len) is that truncation
        iv = self.iv_buf
        # (the scale from pow11, exact: `11 ** n` of C ints is a double here, 121 too small for 11**17)
        scale = self.pow11[KEY_DIGITS - self.key_len]
        starts = np.ascontiguousarray(iv["start"], dtype=np.uint64) * np.uint64(scale)
        if starts.shape[0] == 0 or starts[0] != 0:
            raise ValueError("the intervals must start at key 0")
        # a table on the key's first bits narrows each search to a few intervals: about four entries per interval
        # (at most 2**22, 16 MiB), so that most calls find their interval within a window of at most 8 starts
        # (one count) and few need the groups of 8 (two counts); one entry per interval left half of the calls in
        # the denser blocks of the popular country codes (measured: 18% more calls/s on bench_rate's Zipf batch)
        cdef int bits = min(22, max(4, int(starts.shape[0]).bit_length() + 2))
        self.top_shift = 63 - bits
        first = first_bits_table(starts, bits)
        self.top_buf = aligned(first)
        self.ivk_buf = aligned(np.concatenate([starts, np.full(PAD, np.iinfo(np.uint64).max, np.uint64)]))
        self.grp_buf = aligned(np.concatenate([starts[::8], np.full(2 * PAD + 1, np.iinfo(np.uint64).max,
                                                                      np.uint64)]))
        cdef const uint64_t[::1] kv = self.ivk_buf
        cdef const int32_t[::1] tv = self.top_buf
        cdef const uint64_t[::1] gv = self.grp_buf
        self.ivk = &kv[0]
        self.grp = &gv[0]
        self.top = &tv[0]
        self.hot_buf, self.scheme_buf = hot_records(fast_records(self.rate_buf, self.slot_buf),
                                                    self.inc_quantum == 0)
        if self.hot_buf.dtype.itemsize != sizeof(HotRec) or self.scheme_buf.dtype.itemsize != sizeof(Scheme):
            raise ValueError("hot record layout differs from the compiled engine's")
        # the kernel's copies: a zero HotRec after the last (scheme 0: what calls without a usable rate read, so
        # that every call runs the same instructions) and the Schemes with their bounds and divisions precomputed
        self.khot_buf = aligned(np.concatenate([self.hot_buf, np.zeros(1, HOT_DTYPE)]))
        self.ksch_buf = aligned(kernel_schemes(self.scheme_buf, self.denom, self.anchor_zero))
        if self.ksch_buf.dtype.itemsize != sizeof(KScheme):
            raise ValueError("kernel scheme layout differs from the compiled engine's")
        cdef const uint8_t[::1] hb = self.khot_buf.view(np.uint8).reshape(-1)
        cdef const uint8_t[::1] cb = self.ksch_buf.view(np.uint8).reshape(-1)
        self.hot = <const HotRec*> &hb[0]
        self.schemes = <const KScheme*> &cb[0]
        # what a usual call reads after its interval: one IRec (24 bytes) per interval and band column, the
        # rate's prices inlined (no HotRec read: one dependent miss less), so more bytes than the leaf rows and
        # HotRecs they replace (bench_rate: 22 MB for 186,285 intervals of 5 columns, against 4.5 + 8.4 MB)
        ks = self.ksch_buf
        h16, since = compact_records(self.khot_buf, (ks["simple"] != 0) & (ks["max_scaled"] >= 0), self.denom,
                                     self.round_limit)
        self.since_buf = aligned(since)
        res = resolved_rates(np.asarray(self.band_rate), np.asarray(self.prefix_parent), self.band_cols)
        self.irec_buf = interval_records(np.asarray(iv["prefix"], dtype=np.int32), res, h16,
                                         aligned_empty(len(iv) * self.band_cols, IREC_DTYPE))
        if self.irec_buf.dtype.itemsize != sizeof(IRec):
            raise ValueError("interval record layout differs from the compiled engine's")
        cdef const int64_t[::1] sv = self.since_buf
        cdef const uint8_t[::1] irb = self.irec_buf.view(np.uint8).reshape(-1)
        self.since = &sv[0]
        self.irec = <const IRec*> &irb[0]
        lows = np.asarray(self.sched_lo)
        self.max_segs = int(np.diff(lows).max(initial=1))

    def kernel_bytes(self):
        """The bytes of each table the kernel reads per call (first_bits, starts, groups, irecs) and of those
        only the general path reads (hot_records), for a benchmark's memory figures."""
        return {"first_bits": self.top_buf.nbytes, "starts": self.ivk_buf.nbytes, "groups": self.grp_buf.nbytes,
                "irecs": self.irec_buf.nbytes, "hot_records": self.khot_buf.nbytes}

    def __reduce__(self):
        """Pickled as the compiled tariff's arrays and parameters (not the derived search tables, rebuilt on load
        in milliseconds), so that a Dask driver ships one tariff to each worker instead of each worker loading the
        deck. The arrays are the objects tariffs.compile made: a pickle of the whole CompiledTariff holds them once."""
        return RateTables, (self.source,)

    # --- lookups -------------------------------------------------------------------------------------------

    cdef inline bint key_of(self, const uint8_t[:, ::1] digits, Py_ssize_t i, uint64_t* key_out,
                            uint64_t* block_out) noexcept nogil:
        """The base-11 key of number i and its first-digits block; false for an empty or non-digit number."""
        cdef Py_ssize_t j, width = digits.shape[1]
        cdef uint64_t key = 0, block = 0
        cdef int n = 0
        cdef uint8_t c
        for j in range(width):
            c = digits[i, j]
            if c == 0:
                break
            if c < 48 or c > 57:
                return False
            if n < self.key_len:
                key = key * 11 + (c - 47)
                n += 1
                if n == self.top_digits:
                    block = key
        if n == 0:
            return False
        if n < self.top_digits:
            block = key * self.pow11[self.top_digits - n]
        key_out[0] = key * self.pow11[self.key_len - n]
        block_out[0] = block
        return True

    cdef inline int32_t find_rate(self, int32_t pid, int band, int64_t start) noexcept nogil:
        """The rate for this band in force at `start`, at the longest prefix that has one (-1: none)."""
        cdef int32_t r, hi
        cdef const RateRec* rec
        while pid >= 0:
            # the prefix's first rate for this band (latest version first); older versions follow it
            r = self.band_rate[pid * self.band_cols + band + 1]
            if r >= 0:
                hi = self.prefix_rate_lo[pid + 1]
                while r < hi:
                    rec = &self.rates[r]
                    if rec.eff <= start and (rec.band == band or rec.band == ALL_BANDS):
                        return r
                    r += 1
            pid = self.prefix_parent[pid]
        return -1

    cdef inline int32_t tz_index(self, int64_t t) noexcept nogil:
        cdef int32_t lo = self.tz_last, hi = self.tz_at.shape[0] - 1, mid
        # calls of a batch mostly fall in the same daylight-saving period: try the previous answer first
        if self.tz_at[lo] <= t and (lo == hi or t < self.tz_at[lo + 1]):
            return lo
        lo = 0
        while lo < hi:
            mid = (lo + hi + 1) >> 1
            if self.tz_at[mid] <= t:
                lo = mid
            else:
                hi = mid - 1
        self.tz_last = lo
        return lo

    cdef inline int band_at(self, int64_t t, int64_t* change) noexcept nogil:
        """Band active at instant t, and in change[0] the instant of the next possible band change."""
        cdef int32_t zi = self.tz_index(t)
        cdef int64_t local = t + self.tz_off[zi]
        cdef int64_t days = floor_div(local, DAY)
        cdef int64_t tod = local - days * DAY
        cdef int32_t sched, s, s_end
        cdef int64_t next_tod = DAY
        cdef int band = NO_BAND
        cdef int slot = days & (DAY_CACHE - 1)
        cdef int64_t entry = self.day_entry[slot]
        if (entry >> 20) == days:
            sched = <int32_t>(entry & 0xFFFFF)
        else:
            sched = self.schedule_of(days)
            self.day_entry[slot] = days * 1048576 + sched
        s_end = self.sched_lo[sched + 1]
        for s in range(self.sched_lo[sched], s_end):
            if self.seg_start[s] <= tod:
                band = self.seg_band[s]
            else:
                next_tod = self.seg_start[s]
                break
        change[0] = t + (next_tod - tod)
        if zi + 1 < self.tz_at.shape[0] and self.tz_at[zi + 1] < change[0]:
            change[0] = self.tz_at[zi + 1]
        return band

    cdef inline int band_in(self, const Timeline* tl, int64_t t, int64_t* change) noexcept nogil:
        """band_at(t) from the batch's timeline (`change` may then be the window's end, where the band need not
        change: the caller looks again); band_at itself outside the window."""
        cdef int32_t i
        cdef uint64_t off = <uint64_t>(t - tl.w0)
        cdef int64_t e
        if off >= <uint64_t>(tl.w1 - tl.w0):
            return self.band_at(t, change)
        e = tl.hours[off // HOUR]
        if <int16_t>e != SEARCH:
            change[0] = tl.w0 + (e >> 16)
            return <int16_t>e
        i = tl.grid[off // HOUR]
        while tl.at[i + 1] <= t:
            i += 1
        change[0] = tl.at[i + 1]
        return tl.band[i]

    cdef Py_ssize_t fill_timeline(self, int64_t w0, int64_t w1, int32_t* grid, int64_t* at,
                                  int16_t* band, int64_t* hour) noexcept nogil:
        """The band changes over [w0, w1) (equal neighbours merged) and the hour grid into them."""
        cdef int64_t t = w0, change, g
        cdef Py_ssize_t k = 0, i = 0, h, hours = (w1 - w0) // HOUR + 1
        cdef int b, last = -3
        while t < w1:
            b = self.band_at(t, &change)
            if b != last:
                at[k] = t
                band[k] = <int16_t>b
                k += 1
                last = b
            t = change
        at[k] = w1
        for h in range(hours):
            g = w0 + h * HOUR
            while i + 1 < k and at[i + 1] <= g:
                i += 1
            grid[h] = <int32_t>i
            if at[i + 1] >= g + HOUR:
                hour[h] = ((at[i + 1] - w0) << 16) | (<uint16_t>band[i])
            else:
                hour[h] = <uint16_t>SEARCH
        return k

    cdef object timeline(self, const int64_t[::1] start, const int32_t[::1] duration):
        """The arrays of a batch's timeline, (w0, w1, grid, at, band); None without bands or calls. It covers the
        batch's start times and durations, or at most WINDOW_DAYS around their median (calls outside go
        through band_at)."""
        cdef Py_ssize_t n = start.shape[0]
        if self.n_bands == 0 or n == 0:
            return None
        s = np.asarray(start)
        lo = int(s.min())
        hi = int(s.max()) + max(0, min(int(np.asarray(duration).max()), MAX_DURATION)) + 1
        span = WINDOW_DAYS * DAY
        if hi - lo > span:
            sample = np.sort(s[::max(1, n // 1001)])
            lo = int(sample[len(sample) // 2]) - span // 2
            hi = lo + span
        lo = max(lo, -(2**61))
        hi = min(max(hi, lo + 1), 2**61)
        if hi <= lo:
            return None
        hours = (hi - lo) // HOUR + 1
        n_tz = int(np.count_nonzero((np.asarray(self.tz_at) >= lo) & (np.asarray(self.tz_at) < hi)))
        bound = (hours // 24 + 3) * (self.max_segs + 2) + 2 * n_tz + 8
        grid = np.empty(hours + 1, np.int32)
        at = np.empty(bound + 1, np.int64)
        band = np.empty(bound + 1, np.int16)
        hour = np.empty(hours + 1, np.int64)
        cdef int64_t[::1] hv = hour
        cdef int32_t[::1] gv = grid
        cdef int64_t[::1] av = at
        cdef int16_t[::1] bv = band
        cdef int64_t w0 = lo, w1 = hi
        with nogil:
            self.fill_timeline(w0, w1, &gv[0], &av[0], &bv[0], &hv[0])
        return (lo, hi, grid, at, band, hour)

    cdef inline int32_t schedule_of(self, int64_t days) noexcept nogil:
        """The band schedule of a local day: a special date's, or that of its weekday, month and day."""
        cdef int64_t z, era, doe, yoe, doy, mp, md, mo, wd
        cdef int32_t sched = -1, lo = 0, hi = self.special_day.shape[0] - 1, mid
        # civil date from day number (H. Hinnant's algorithm)
        z = days + 719468
        era = floor_div(z, 146097)
        doe = z - era * 146097
        yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
        doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
        mp = (5 * doy + 2) // 153
        md = doy - (153 * mp + 2) // 5 + 1
        mo = mp + 3 if mp < 10 else mp - 9
        wd = days + 3 - floor_div(days + 3, 7) * 7  # 1970-01-01 was a Thursday; monday = 0
        while lo <= hi:
            mid = (lo + hi) >> 1
            if self.special_day[mid] < days:
                lo = mid + 1
            elif self.special_day[mid] > days:
                hi = mid - 1
            else:
                sched = self.special_sched[mid]
                break
        if sched < 0:
            sched = self.day_class[(wd * 12 + mo - 1) * 31 + md - 1]
        return sched

    # --- one call ------------------------------------------------------------------------------------------

    cdef inline void rate_simple(self, int64_t connect, int64_t scaled0, int64_t scaled1, const KScheme* sc,
                                 int64_t duration, int32_t* billed_out, int64_t* cost_out,
                                 bint checked) noexcept nogil:
        """rate_one for a call priced by one rate of at most two slots throughout (one band), with exact
        increments: each slot bills up to the first increment boundary at or after where the call or the slot
        ends. The same instructions for every call (0 <= duration <= MAX_DURATION): a multiply by the
        increment's reciprocal instead of a division or a branch on 1 s increments, slot 1 priced always and
        counted only when the call reaches it, the cost bounds as a min and a max (branches on these were
        mispredicted on most calls of a mixed deck). The rate's fee and prices come from its IRec (or its HotRec
        on the general path), its KScheme from L1. The rounding is folded into the division (rounding_offset):
        no branch on the tariff's mode but one the whole batch takes alike (half_even's ties). `checked`: False
        for an IRec's prices, whose total is known to lie in [0, round_limit) (compact_records), so no test."""
        cdef int64_t limit = duration if duration < sc.start1 else sc.start1
        cdef int64_t p = <int64_t>(((<uint64_t>(limit + sc.inc0 - 1)) * sc.magic0) >> MAGIC_BITS) * sc.inc0
        cdef int64_t dx = duration - sc.anchor1, q, total
        dx = dx if dx > 0 else 0
        q = sc.anchor1 + <int64_t>(((<uint64_t>(dx + sc.inc1 - 1)) * sc.magic1) >> MAGIC_BITS) * sc.inc1
        cdef uint64_t more = -<uint64_t>(p < duration)  # all ones when the call goes on into slot 1
        total = <int64_t>(<uint64_t>connect * <uint64_t>self.denom + <uint64_t>scaled0 * <uint64_t>p
                          + ((<uint64_t>scaled1 * <uint64_t>(q - p)) & more))
        p = q if more else p
        total = total if total < sc.max_scaled else sc.max_scaled
        if checked and not 0 <= total < self.round_limit:
            total = divide_round(total, self.final_div, self.mode) * self.quantum
        else:
            dx = total + self.round_add
            if self.final_high >= 0:
                q = <int64_t>anatole_div_high(<uint64_t>dx, self.final_magic, self.final_high,
                                              <uint64_t>self.final_div)
            else:
                q = <int64_t>anatole_div_magic(<uint64_t>dx, self.final_magic, self.final_shift,
                                               <uint64_t>self.final_div)
            if self.round_tie:
                q -= q & (dx == q * self.final_div)
            total = q * self.quantum
        billed_out[0] = <int32_t>p
        cost_out[0] = total if total > sc.min_cost else sc.min_cost

    cdef inline void rate_one(self, int32_t pid, int64_t start, int64_t duration, int band, int64_t change,
                              const Timeline* tl, int32_t* rate_out, int16_t* band_out, uint8_t* parts_out,
                              int32_t* billed_out, int64_t* cost_out, int8_t* status_out) noexcept nogil:
        """Price one call; `band` and `change` are band_at(start) (NO_BAND and FAR in a tariff without bands)."""
        cdef int64_t p = 0, total = 0, q, band_end = FAR, limit, e, q1, end, a, partial, nfull
        cdef int prev_band = -2, parts = 0
        cdef int32_t rate = -1, first_rate = -1, s, s_hi
        cdef const SlotRec* slot
        cdef int64_t inc
        if self.split:
            band_end = change - start
        while p < duration:
            if p >= band_end:
                band = self.band_in(tl, start + p, &change)
                band_end = change - start
            if band != prev_band:
                rate = self.find_rate(pid, band, start)
                if rate < 0:
                    status_out[0] = NO_RATE
                    rate_out[0] = -1
                    band_out[0] = band if first_rate < 0 else band_out[0]
                    parts_out[0] = 0
                    billed_out[0] = 0
                    cost_out[0] = 0
                    return
                if first_rate < 0:
                    first_rate = rate
                    band_out[0] = band
                    total = self.rates[rate].connect * self.denom
                prev_band = band
                if parts < 255:
                    parts += 1
            s = self.rates[rate].slot_lo
            s_hi = self.rates[rate].slot_hi
            while s + 1 < s_hi and self.slots[s + 1].start <= p:
                s += 1
            slot = &self.slots[s]
            limit = duration
            if band_end < limit:
                limit = band_end
            if s + 1 < s_hi and self.slots[s + 1].start < limit:
                limit = self.slots[s + 1].start
            inc = slot.inc
            a = 0 if self.anchor_zero else slot.start
            # 64-bit divisions are slow: skip them where the answer is known (aligned start, 1 s increments)
            if p == a or inc == 1:
                q1 = p + inc
            else:
                q1 = a + (<int32_t>(p - a) // <int32_t>inc + 1) * inc
            if limit <= q1:
                end = q1
            elif inc == 1:
                end = limit
            else:
                end = q1 + (<int32_t>(limit - q1 + inc - 1) // <int32_t>inc) * inc
            if self.inc_quantum == 0:
                total += slot.scaled * (end - p)
            else:
                partial = q1 - p
                nfull = (end - q1) // inc
                if partial == inc:
                    total += (nfull + 1) * slot.incprice
                else:
                    total += nfull * slot.incprice + divide_round(
                        slot.price * partial, slot.unit * self.inc_quantum, 2) * self.inc_quantum
            p = end
        cdef const RateRec* first = &self.rates[first_rate]
        if first.max_cost != NONE and total > first.max_cost * self.denom:
            total = first.max_cost * self.denom
        if 0 <= total < FAR:  # always, by the tariff compiler's bound: divide by multiplying
            q = <int64_t>anatole_div_magic(<uint64_t>total, self.final_magic, self.final_shift,
                                           <uint64_t>self.final_div)
            total = round_quotient(q, total - q * self.final_div, self.final_div, total, self.mode) * self.quantum
        else:
            total = divide_round(total, self.final_div, self.mode) * self.quantum
        if first.min_cost != NONE and total < first.min_cost:
            total = first.min_cost
        status_out[0] = RATED
        rate_out[0] = first_rate
        parts_out[0] = parts
        billed_out[0] = p
        cost_out[0] = total

    # --- the batch -----------------------------------------------------------------------------------------

    cdef void rate_block(self, const uint64_t* keys, const int64_t* start, const int32_t* duration,
                         Py_ssize_t n, Outputs o, const Timeline* tl) noexcept nogil:
        """Rate n calls given their keys. Calls go in groups whose stages interleave: a call's lookups depend on
        each other, but those of different calls do not, so the processor overlaps their cache misses. A call
        makes three dependent reads in the usual case: the first-bits table, a count over the 8 interval starts
        from there (one or two lines read at once), and its interval's IRec for its band (24 bytes: the prefix,
        the rate and the rate's prices, so no read of the rate's own record; its Scheme, shared by many rates,
        is in L1); a block of more than 8 intervals adds a count over groups of 8 starts, after a few halving
        steps in the densest blocks only. The few calls the IRec cannot price (an older version of the rate in
        force, a call across a band change, a rate for rate_one) are set aside and priced together (deferred)."""
        cdef Py_ssize_t base = 0, m, j, i
        cdef uint64_t k[GROUP]
        cdef int32_t lo[GROUP]
        cdef int32_t ln[GROUP]
        cdef Py_ssize_t cell[GROUP]  # the call's IRec
        cdef int bands[GROUP]
        cdef int64_t room[GROUP]  # from the start to the band's end (FAR: no split)
        cdef int64_t change
        cdef int band
        cdef int32_t wl[GROUP]  # the calls in wide blocks
        cdef Py_ssize_t nw, q
        cdef intptr_t pa
        cdef bint isw
        cdef int32_t longest, half, r, pid
        cdef uint64_t b, kj
        cdef const uint64_t* v
        cdef const uint64_t* u
        cdef int32_t g0, gn
        cdef bint wide
        cdef int64_t d
        # the tables in locals: the outputs' stores (int8 aliases everything) would make the compiler reload them
        cdef const Hot16* c
        cdef const IRec* irec = self.irec
        cdef const IRec* e
        cdef IRec zero  # what the calls not to be rated read: no prefix, no rate, scheme 0
        cdef int cols = self.band_cols
        cdef bint keep
        cdef const int64_t* since = self.since
        cdef const KScheme* sc
        cdef const KScheme* schemes = self.schemes
        cdef bint fast
        cdef int64_t t
        cdef const uint64_t* ivk = self.ivk
        cdef const uint64_t* grp = self.grp
        cdef const int32_t* top = self.top
        cdef int top_shift = self.top_shift
        cdef bint split = self.split, banded = self.n_bands > 0
        cdef const int32_t* band_rate = &self.band_rate[0]
        cdef Deferred df
        df.n = 0
        memset(&zero, 0, sizeof(IRec))
        zero.prefix = -1
        zero.rate = -1
        while base < n:
            m = n - base if n - base < GROUP else GROUP
            longest = 1
            nw = 0
            for j in range(base + m, base + m + GROUP if base + m + GROUP <= n else n):
                anatole_prefetch(&top[keys[j] >> top_shift])  # the next group's first lookups
            for j in range(m):
                k[j] = keys[base + j]
                b = k[j] >> top_shift
                lo[j] = top[b]
                ln[j] = top[b + 1] - lo[j] + 1
                # the window's starts, or a wide block's group starts: chosen by a mask, not a branch (a quarter
                # of bench_rate's calls are in wide blocks, at random), and the wide calls listed for the count
                # over groups below
                isw = ln[j] > 8
                pa = <intptr_t>&ivk[lo[j]]
                pa ^= (pa ^ <intptr_t>&grp[lo[j] >> 3]) & -<intptr_t>isw
                anatole_prefetch(<const char*>pa)
                anatole_prefetch(<const char*>pa + 56 + 8 * isw)  # ivk[lo + 7] or grp[g + 8]
                wl[nw] = <int32_t>j
                nw += isw
                if ln[j] > longest:
                    longest = ln[j]
                # the band meanwhile: it depends on the start time only
                # (for every call, even those that will not be rated: no branch on the duration)
                band = NO_BAND
                change = FAR
                if banded:
                    t = start[base + j]
                    band = self.band_in(tl, t, &change)
                    change = change - t if split else FAR
                bands[j] = band
                room[j] = change
            # The last start <= key, by counting rather than halving: the starts are sorted and padded, and those
            # past the block's end are above the key, so a count over a fixed window needs no bounds. Blocks of
            # at most 8 intervals: one count over the 7 starts after the first (at most two lines, read at once).
            # Denser blocks (the popular country codes): the window of aligned groups of 8 starts is narrowed by
            # halving over the groups' first starts while it is wider than 17 groups (rare), the group found
            # by a count over 16 of its first starts, and the interval by a count over the group's line.
            wide = longest > 8 * 16
            while wide:
                wide = False
                for q in range(nw):
                    j = wl[q]
                    g0 = lo[j] >> 3
                    gn = ((lo[j] + ln[j] - 1) >> 3) - g0 + 1  # groups g0 .. g0 + gn - 1
                    if gn > 17:  # a count over 16 first starts chooses among 17 groups
                        half = gn >> 1
                        if grp[g0 + half] <= k[j]:
                            g0 += half
                            gn -= half
                        else:
                            gn = half
                        lo[j] = g0 << 3
                        ln[j] = gn << 3
                        wide = wide or gn > 17
            for q in range(nw):
                j = wl[q]
                kj = k[j]
                g0 = lo[j] >> 3
                u = &grp[g0]
                g0 += ((u[1] <= kj) + (u[2] <= kj) + (u[3] <= kj) + (u[4] <= kj) + (u[5] <= kj) + (u[6] <= kj)
                       + (u[7] <= kj) + (u[8] <= kj) + (u[9] <= kj) + (u[10] <= kj) + (u[11] <= kj)
                       + (u[12] <= kj) + (u[13] <= kj) + (u[14] <= kj) + (u[15] <= kj) + (u[16] <= kj))
                lo[j] = g0 << 3
                ln[j] = 8
                anatole_prefetch(&ivk[lo[j]])
            for j in range(m):
                v = &ivk[lo[j]]  # a window of one interval counts 0: no branch on the window's width
                kj = k[j]
                lo[j] += ((v[1] <= kj) + (v[2] <= kj) + (v[3] <= kj) + (v[4] <= kj) + (v[5] <= kj)
                          + (v[6] <= kj) + (v[7] <= kj))
                cell[j] = <Py_ssize_t>lo[j] * cols + bands[j] + 1
                anatole_prefetch(&irec[cell[j]])
                anatole_prefetch(<const char*>&irec[cell[j]] + sizeof(IRec) - 1)  # an IRec may cross a line
            # The same instructions for every call: the usual call (its band's rate in force, priced in one band)
            # and the calls not to be rated (priced with the zero record, then masked) alike; the rest (1.5 % of
            # bench_rate's calls) are set aside for the general path, taken DEFER at a time.
            for j in range(m):
                i = base + j
                d = duration[i]
                t = start[i]
                e = &irec[cell[j]]
                pid = e.prefix if k[j] != 0 else -1
                r = e.rate if k[j] != 0 else -1
                # masks, not branches (20 % of the calls are unanswered, at random); a call with a prefix but no
                # rate for its band reads its IRec (scheme 0) and takes the general path, which reports its band
                keep = (pid >= 0) & (<uint32_t>(d - 1) < MAX_DURATION)  # 0 < d <= MAX_DURATION
                e = e if keep else &zero
                c = &e.h
                sc = &schemes[c.scheme]
                fast = (since[c.since] <= t) & (c.scheme != 0) & (d <= room[j])
                if keep and not fast:
                    # the general path, later and with others, so that their lookups overlap (deferred); the
                    # line of the prefix's first rate for the band is asked for now
                    o.prefix[i] = pid
                    df.i[df.n] = <int32_t>i
                    df.pid[df.n] = pid
                    df.band[df.n] = bands[j]
                    df.room[df.n] = room[j]
                    anatole_prefetch(&band_rate[pid * cols + bands[j] + 1])
                    df.n += 1
                    continue
                self.rate_simple(c.connect, c.scaled0, c.scaled1, sc, d if fast else 0, &o.billed[i], &o.cost[i],
                                 False)
                o.prefix[i] = pid
                o.rate[i] = r if fast else -1
                o.band[i] = bands[j] if fast else NO_BAND
                o.parts[i] = fast
                o.status[i] = RATED if fast else (INVALID if (k[j] == 0) | (d < 0) | (d > MAX_DURATION) else
                                                   (UNANSWERED if d == 0 else NO_RATE))
            base += m
            if df.n >= DEFER or (base >= n and df.n > 0):
                self.deferred(&df, start, duration, o, tl)
                df.n = 0

    cdef void deferred(self, Deferred* df, const int64_t* start, const int32_t* duration, Outputs o,
                       const Timeline* tl) noexcept nogil:
        """The calls rate_block set aside for the general path. A call in one band whose rate is an older version
        (not yet in force at the IRec's) or whose IRec could not hold it (scheme 0) gets the version in force,
        priced by rate_simple when it can (rate_one's slot walk cost 6x a usual call); the others go to rate_one.
        Each call makes three dependent reads here (the prefix's first rate for the band, the records up to the
        version in force, its HotRec), mostly cache misses: one call after another, they cost 1.5 % of
        bench_rate's calls a sixth of the kernel's time. In stages over all the calls set aside, each stage asking
        for the lines the next one reads, the misses overlap (+11-13 % calls/s with Zipf destinations, +15 %
        uniform)."""
        cdef Py_ssize_t q, i
        cdef int32_t r
        cdef int64_t d, t
        cdef const HotRec* h
        cdef const KScheme* sc
        cdef int cols = self.band_cols
        for q in range(df.n):
            r = self.band_rate[df.pid[q] * cols + df.band[q] + 1]
            anatole_prefetch(&self.rates[r if r >= 0 else 0])
        for q in range(df.n):
            i = df.i[q]
            r = -2  # rate_one
            if duration[i] <= df.room[q]:
                r = self.find_rate(df.pid[q], df.band[q], start[i])
                anatole_prefetch(&self.hot[r if r >= 0 else self.n_rates])
            df.rate[q] = r
        for q in range(df.n):
            i = df.i[q]
            d = duration[i]
            t = start[i]
            r = df.rate[q]
            if r != -2:
                h = &self.hot[r if r >= 0 else self.n_rates]
                sc = &self.schemes[h.eff_scheme & 0xFFFF]
                if r >= 0 and sc.simple:
                    self.rate_simple(h.connect, h.scaled0, h.scaled1, sc, d, &o.billed[i], &o.cost[i], True)
                    o.rate[i] = r
                    o.band[i] = df.band[q]
                    o.parts[i] = 1
                    o.status[i] = RATED
                    continue
            self.rate_one(df.pid[q], t, d, df.band[q], df.room[q] + t, tl, &o.rate[i], &o.band[i], &o.parts[i],
                          &o.billed[i], &o.cost[i], &o.status[i])

    cdef object outputs(self, out, Py_ssize_t n):
        if out is None:
            out = {
                "status": np.empty(n, np.int8),
                "prefix": np.empty(n, np.int32),
                "rate": np.empty(n, np.int32),
                "band": np.empty(n, np.int16),
                "parts": np.empty(n, np.uint8),
                "billed": np.empty(n, np.int32),
                "cost": np.empty(n, np.int64),
            }
        for name in ("status", "prefix", "rate", "band", "parts", "billed", "cost"):
            if out[name].shape[0] < n:
                raise ValueError("output arrays are too short")
        return out

    def rate(self, digits, const int64_t[::1] start, const int32_t[::1] duration, out=None, int threads=1):
        """Rate a batch. `digits`: numpy bytes array (dtype 'S<n>') of E.164 numbers; `start`: int64 UTC epoch
        seconds; `duration`: int32 billable seconds. Returns a dict of arrays: status int8, prefix int32,
        rate int32, band int16, parts uint8, billed int32, cost int64. `out` may pass such a dict to reuse.
        `threads` > 1 rates contiguous slices of the batch on that many threads at once (the loop runs without
        the GIL; same results)."""
        cdef Py_ssize_t n = start.shape[0]
        arr = np.ascontiguousarray(digits)
        if arr.dtype.kind != "S" or arr.ndim != 1:
            raise TypeError("digits must be a 1-d numpy array of bytes strings (dtype 'S<n>')")
        if arr.shape[0] != n or duration.shape[0] != n:
            raise ValueError("digits, start and duration must have the same length")
        if arr.dtype.itemsize == 0:
            arr = np.zeros(n, dtype="S1")
        out = self.outputs(out, n)
        parts = self.timeline(start, duration)
        self.in_slices(self.digits_slice, (arr, start, duration, out, parts), n, threads)
        return out

    def rate_keys(self, const uint64_t[::1] keys, const int64_t[::1] start, const int32_t[::1] duration,
                  out=None, int threads=1):
        """`rate` for numbers already turned into keys by `number_keys` (the same results, without reading the
        digits again: for numbers rated against several tariffs, or keyed when they were scanned)."""
        cdef Py_ssize_t n = start.shape[0]
        if keys.shape[0] != n or duration.shape[0] != n:
            raise ValueError("keys, start and duration must have the same length")
        out = self.outputs(out, n)
        parts = self.timeline(start, duration)
        self.in_slices(self.keys_slice, (keys, start, duration, out, parts), n, threads)
        return out

    cdef object in_slices(self, fn, tuple args, Py_ssize_t n, int threads):
        """fn(*args, lo, hi) over [0, n): at once on `threads` threads (at least MIN_SLICE calls each), else
        here."""
        if threads < 1:
            raise ValueError("threads must be at least 1")
        k = min(threads, max(1, n // MIN_SLICE))
        if k == 1:
            fn(*args, 0, n)
            return None
        cuts = [n * t // k for t in range(k + 1)]
        with ThreadPoolExecutor(k) as pool:
            done = [pool.submit(fn, *args, cuts[t], cuts[t + 1]) for t in range(k)]
            for f in done:
                f.result()
        return None

    def keys_slice(self, const uint64_t[::1] keys, const int64_t[::1] start, const int32_t[::1] duration, out,
                   parts, Py_ssize_t lo, Py_ssize_t hi):
        """Rate calls lo..hi-1 of a rate_keys batch (the threads' unit of work; `parts`: the batch's timeline)."""
        cdef Outputs o
        cdef Timeline tl
        if hi <= lo:
            return
        o = shifted(self.out_pointers(out), lo)
        keep = timeline_view(parts, &tl)
        with nogil:
            self.rate_block(&keys[lo], &start[lo], &duration[lo], hi - lo, o, &tl)

    def digits_slice(self, arr, const int64_t[::1] start, const int32_t[::1] duration, out, parts,
                     Py_ssize_t lo, Py_ssize_t hi):
        """Rate calls lo..hi-1 of a `rate` batch: their keys a chunk at a time into a buffer on the stack."""
        cdef Py_ssize_t width = arr.dtype.itemsize, c0, i, m
        cdef const uint8_t[:, ::1] dv = arr.view(np.uint8).reshape(arr.shape[0], width)
        cdef Outputs o
        cdef Timeline tl
        cdef uint64_t kbuf[CHUNK]
        if hi <= lo:
            return
        o = self.out_pointers(out)
        keep = timeline_view(parts, &tl)
        with nogil:
            c0 = lo
            while c0 < hi:
                m = hi - c0 if hi - c0 < CHUNK else CHUNK
                for i in range(m):
                    kbuf[i] = number_key(&dv[c0 + i, 0], width)
                self.rate_block(kbuf, &start[c0], &duration[c0], m, shifted(o, c0), &tl)
                c0 += m

    cdef Outputs out_pointers(self, out):
        cdef Outputs o
        cdef int8_t[::1] status = out["status"]
        cdef int32_t[::1] prefix = out["prefix"]
        cdef int32_t[::1] rate = out["rate"]
        cdef int16_t[::1] band = out["band"]
        cdef uint8_t[::1] parts = out["parts"]
        cdef int32_t[::1] billed = out["billed"]
        cdef int64_t[::1] cost = out["cost"]
        if status.shape[0] == 0:
            o.status = NULL
            return o
        o.status = &status[0]
        o.prefix = &prefix[0]
        o.rate = &rate[0]
        o.band = &band[0]
        o.parts = &parts[0]
        o.billed = &billed[0]
        o.cost = &cost[0]
        return o

    def rate_baseline(self, digits, const int64_t[::1] start, const int32_t[::1] duration, out=None):
        """The previous kernel (keys parsed per call, a calendar per call for bands), kept as the benchmark's
        baseline and as a second oracle in tests. Same arguments and results as `rate`."""
        cdef Py_ssize_t n = start.shape[0], i
        cdef Timeline no_tl
        no_tl.w0 = 0
        no_tl.w1 = 0
        arr = np.ascontiguousarray(digits)
        if arr.dtype.kind != "S" or arr.ndim != 1:
            raise TypeError("digits must be a 1-d numpy array of bytes strings (dtype 'S<n>')")
        if arr.shape[0] != n or duration.shape[0] != n:
            raise ValueError("digits, start and duration must have the same length")
        width = max(arr.dtype.itemsize, 1)
        if arr.dtype.itemsize == 0:
            arr = np.zeros(n, dtype="S1")
        cdef const uint8_t[:, ::1] dv = arr.view(np.uint8).reshape(n, width)
        if out is None:
            out = {
                "status": np.empty(n, np.int8),
                "prefix": np.empty(n, np.int32),
                "rate": np.empty(n, np.int32),
                "band": np.empty(n, np.int16),
                "parts": np.empty(n, np.uint8),
                "billed": np.empty(n, np.int32),
                "cost": np.empty(n, np.int64),
            }
        cdef int8_t[::1] status = out["status"]
        cdef int32_t[::1] prefix = out["prefix"]
        cdef int32_t[::1] rate = out["rate"]
        cdef int16_t[::1] band = out["band"]
        cdef uint8_t[::1] parts = out["parts"]
        cdef int32_t[::1] billed = out["billed"]
        cdef int64_t[::1] cost = out["cost"]
        if status.shape[0] < n or cost.shape[0] < n or prefix.shape[0] < n or rate.shape[0] < n \
                or band.shape[0] < n or parts.shape[0] < n or billed.shape[0] < n:
            raise ValueError("output arrays are too short")
        cdef Py_ssize_t base, m, j
        cdef uint64_t keys[BASELINE_GROUP]
        cdef uint64_t block
        cdef int32_t lo[BASELINE_GROUP]
        cdef int32_t hi[BASELINE_GROUP]
        cdef int32_t pids[BASELINE_GROUP]
        cdef int bands[BASELINE_GROUP]
        cdef int64_t changes[BASELINE_GROUP]
        cdef bint valid[BASELINE_GROUP]
        cdef bint searching
        cdef int32_t mid, pid, r
        cdef int64_t d
        with nogil:
            # Calls go in groups whose stages interleave: a call's lookups depend on each other, but those of
            # different calls do not, so the processor overlaps their cache misses.
            base = 0
            while base < n:
                m = n - base if n - base < BASELINE_GROUP else BASELINE_GROUP
                for j in range(m):
                    valid[j] = self.key_of(dv, base + j, &keys[j], &block)
                    lo[j] = self.top_index[block] if valid[j] else 0
                    hi[j] = self.top_index[block + 1] if valid[j] else 0
                searching = True
                while searching:  # the binary searches, one step of each call at a time
                    searching = False
                    for j in range(m):
                        if lo[j] < hi[j]:
                            mid = (lo[j] + hi[j] + 1) >> 1
                            if self.ivs[mid].start <= keys[j]:
                                lo[j] = mid
                            else:
                                hi[j] = mid - 1
                            searching = True
                for j in range(m):
                    pids[j] = self.ivs[lo[j]].prefix if valid[j] else -1
                    bands[j] = NO_BAND
                    changes[j] = FAR
                    if pids[j] >= 0 and 0 < duration[base + j] <= MAX_DURATION:
                        if self.n_bands > 0:
                            bands[j] = self.band_at(start[base + j], &changes[j])
                        anatole_prefetch(&self.band_rate[pids[j] * self.band_cols + bands[j] + 1])
                for j in range(m):
                    if pids[j] >= 0:
                        r = self.band_rate[pids[j] * self.band_cols + bands[j] + 1]
                        if r >= 0:
                            anatole_prefetch(&self.rates[r])
                for j in range(m):
                    i = base + j
                    pid = pids[j]
                    prefix[i] = pid
                    rate[i] = -1
                    band[i] = NO_BAND
                    parts[i] = 0
                    billed[i] = 0
                    cost[i] = 0
                    d = duration[i]
                    if not valid[j] or d < 0 or d > MAX_DURATION:
                        status[i] = INVALID
                    elif d == 0:
                        status[i] = UNANSWERED
                    elif pid < 0:
                        status[i] = NO_RATE
                    else:
                        self.rate_one(pid, start[i], d, bands[j], changes[j], &no_tl, &rate[i], &band[i],
                                      &parts[i], &billed[i], &cost[i], &status[i])
                base += m
        return out


FAST_DTYPE = np.dtype([("eff", np.int64), ("connect", np.int64), ("min_cost", np.int64), ("max_cost", np.int64),
                       ("scaled0", np.int64), ("scaled1", np.int64), ("start1", np.int32), ("inc0", np.int32),
                       ("inc1", np.int32), ("nslots", np.int16), ("band", np.int16)], align=True)


def fast_records(rate_rec, slot_rec):
    """Per rate, its record and its first two slots side by side (FAST_DTYPE; nslots 3 means 3 or more): what
    hot_records splits into a HotRec per rate and the Schemes they share."""
    fast = np.zeros(len(rate_rec), FAST_DTYPE)
    if not len(rate_rec):
        return fast
    lo = rate_rec["slot_lo"].astype(np.int64)
    count = rate_rec["slot_hi"].astype(np.int64) - lo
    second = np.where(count >= 2, lo + 1, lo)
    for name in ("eff", "connect", "min_cost", "max_cost", "band"):
        fast[name] = rate_rec[name]
    fast["scaled0"] = slot_rec["scaled"][lo]
    fast["inc0"] = slot_rec["inc"][lo]
    fast["scaled1"] = np.where(count >= 2, slot_rec["scaled"][second], 0)
    fast["start1"] = np.where(count >= 2, slot_rec["start"][second], 2**31 - 1)
    fast["inc1"] = np.where(count >= 2, slot_rec["inc"][second], 1)
    fast["nslots"] = np.minimum(count, 3)
    return fast


def first_bits_table(starts, bits):
    """Entry b: the index of the last interval start <= b << (63 - bits) (the interval holding the block's first
    key), for b in 0 .. 2**bits, the last entry being the last interval. Counted per block rather than searched:
    the starts before block b, plus those exactly at its first key, minus one."""
    bits = int(bits)  # Python ints: 1 << 59 overflows a C int
    shift = np.uint64(63 - bits)
    nb = 1 << bits
    block = (starts >> shift).astype(np.int64)  # starts < 2**63: block < nb
    before = np.zeros(nb + 1, np.int64)
    np.cumsum(np.bincount(block, minlength=nb)[:nb], out=before[1:])
    at_edge = (starts & np.uint64((1 << (63 - bits)) - 1)) == 0
    first = before + np.bincount(block[at_edge], minlength=nb + 1)[:nb + 1] - 1
    first[nb] = starts.shape[0] - 1
    return first.astype(np.int32)


HOT_DTYPE = np.dtype([("eff_scheme", np.int64), ("connect", np.int64), ("scaled0", np.int64),
                      ("scaled1", np.int64)])
SCHEME_DTYPE = np.dtype([("min_cost", np.int64), ("max_cost", np.int64), ("start1", np.int32), ("inc0", np.int32),
                         ("inc1", np.int32), ("simple", np.int32)])
EFF_LIMIT = 2**47  # a HotRec's eff: 48 bits (earlier: clamped, where no call can be; later: scheme 0)
SCHEME_LIMIT = (1 << 16) - 1  # schemes kept (16 bits; a module global: tests lower it)


def factorize(values):
    """(codes, distinct values in ascending order) of a 1-d integer array, codes[i] the rank of values[i]: by a
    table over the values' range when it is small (the usual case: increments, slot starts, a few cost bounds;
    one pass, no sort), else by np.unique."""
    values = np.asarray(values, dtype=np.int64)
    if values.shape[0] == 0:
        return np.zeros(0, np.int64), values
    lo, hi = int(values.min()), int(values.max())
    if lo == hi:  # one value (no cost bound, one slot, one increment in the whole deck)
        return np.zeros(values.shape[0], np.int64), values[:1].copy()
    if hi - lo < 1 << 20:
        present = np.zeros(hi - lo + 1, bool)
        present[values - lo] = True
        rank = np.cumsum(present) - 1
        return rank[values - lo], np.flatnonzero(present) + lo
    uniq, codes = np.unique(values, return_inverse=True)
    return codes.reshape(-1), uniq


def hot_records(fast, simple):
    """The 32-byte HotRec of each rate and the Schemes they share, from fast_records(): a rate is left to
    rate_one (scheme 0) when it has 3 or more slots, `simple` is false (per-increment rounding), it comes in
    force past 2**47 s, or past the 65,535th distinct scheme. Half the bytes of the previous 64-byte record: more
    of the rates that calls use stay in the CPU's caches (measured on bench_rate: 8.4 MB instead of 16.8 MB for
    262k rates, 10-13% more calls/s with uniform destinations, 2-5% with Zipf)."""
    n = len(fast)
    eff = fast["eff"].astype(np.int64)
    usable = np.flatnonzero((fast["nslots"] <= 2) & (eff < EFF_LIMIT) & bool(simple))
    every = len(usable) == n  # the usual deck: no gather
    ids = np.zeros(n, np.int64)
    # a scheme's number: its fields' ranks combined (mixed radix), then ranked again
    key = np.zeros(len(usable), np.int64)
    radix = 1
    for name in ("min_cost", "max_cost", "start1", "inc0", "inc1"):
        codes, uniq = factorize(fast[name] if every else fast[name][usable])
        if len(uniq) <= 1:
            continue
        if radix * len(uniq) >= 1 << 62:  # never with a real deck: fold the key so far first
            key, _ = factorize(key)
            radix = int(key.max(initial=0)) + 1
        key += codes * radix
        radix *= len(uniq)
    codes, distinct = factorize(key)
    first = np.zeros(len(distinct), np.int64)  # a rate of each scheme, to read the scheme's fields from
    first[codes[::-1]] = usable[::-1]
    kept = min(len(distinct), SCHEME_LIMIT, (1 << 16) - 1)
    ids[usable] = np.where(codes < kept, codes + 1, 0)
    schemes = np.zeros(kept + 1, SCHEME_DTYPE)  # entry 0: simple = 0
    for name in ("min_cost", "max_cost", "start1", "inc0", "inc1"):
        schemes[name][1:] = fast[name][first[:kept]]
    schemes["simple"][1:] = 1
    hot = np.zeros(n, HOT_DTYPE)
    hot["eff_scheme"] = np.clip(eff, -EFF_LIMIT, EFF_LIMIT - 1) * (1 << 16) + ids  # past the limit: scheme 0
    for name in ("connect", "scaled0", "scaled1"):
        hot[name] = fast[name]
    return hot, schemes


HOT16_DTYPE = np.dtype([("connect", np.uint32), ("scaled0", np.uint32), ("scaled1", np.uint32),
                        ("scheme", np.uint16), ("since", np.uint16)])
SINCE_LIMIT = 1 << 16  # distinct effective dates a Hot16 can index (a module global: tests lower it)


def compact_records(hot, simple=None, denom=1, limit=None):
    """The Hot16 of each HotRec (HOT_DTYPE) and the table of effective dates they index (int64, ascending): the
    connect fee and slot prices as 32-bit unsigned integers, the effective date as its rank among the deck's
    distinct dates (a deck has a handful; the table stays in L1). A record whose fee or price is negative or
    2**32 or more, or whose date is past the SINCE_LIMIT-th, gets scheme 0: its calls take the general path,
    which reads the full HotRec, so every value is exact either way. 16 bytes, so that an IRec is 24. With
    `simple` (KScheme.simple per scheme), a rate whose scheme rate_simple cannot price gets scheme 0 too, so that
    the kernel tells the general path's calls by the scheme alone; with `limit`, so does a rate whose calls could
    reach a total (fee * denom + both prices * 2**20, more than a call of MAX_DURATION bills) of `limit` or
    more, so that rate_simple need not test an IRec's total (a conservative test in floats: a rate near the
    limit takes the general path, exact either way)."""
    n = len(hot)
    eff = hot["eff_scheme"] >> 16
    codes, dates = factorize(eff)
    fits = codes < min(SINCE_LIMIT, 1 << 16)
    for name in ("connect", "scaled0", "scaled1"):
        fits &= (hot[name] >= 0) & (hot[name] < 1 << 32)
    if simple is not None:
        fits &= np.asarray(simple)[hot["eff_scheme"] & 0xFFFF] != 0
    if limit is not None:
        most = (hot["connect"].astype(np.float64) * float(denom)
                + (hot["scaled0"].astype(np.float64) + hot["scaled1"].astype(np.float64)) * 2.0**20)
        fits &= most < float(limit) * (1 - 2.0**-30)
    out = np.zeros(n, HOT16_DTYPE)
    out["scheme"] = np.where(fits, hot["eff_scheme"] & 0xFFFF, 0)
    out["since"] = np.where(fits, codes, 0)
    for name in ("connect", "scaled0", "scaled1"):
        out[name] = np.where(fits, hot[name], 0)
    since = np.zeros(max(1, min(len(dates), SINCE_LIMIT, 1 << 16)), np.int64)
    since[:min(len(dates), len(since))] = dates[:len(since)]
    return out, since


KSCHEME_DTYPE = np.dtype([("max_scaled", np.int64), ("min_cost", np.int64), ("magic0", np.uint64),
                          ("magic1", np.uint64), ("start1", np.int32), ("inc0", np.int32), ("inc1", np.int32),
                          ("simple", np.int32), ("anchor1", np.int32), ("pad0", np.int32), ("pad1", np.int64)])
MAGIC_SHIFT = MAGIC_BITS
MAX_MAGIC_INC = 1 << 18  # increments the 40-bit reciprocals divide exactly (a deck's are at most 86,400 s)


def magic(inc):
    """ceil(2**40 / inc) per increment: for 0 <= n < 2**21 and 1 <= inc < 2**18, n // inc == (n * m) >> 40
    (the error n * (m - 2**40 / inc) / 2**40 < n / 2**40 stays below 1 / inc; n * m < 2**61)."""
    inc = np.asarray(inc, dtype=np.int64)
    return ((1 << MAGIC_SHIFT) + inc - 1) // inc


def kernel_schemes(schemes, denom, anchor_zero):
    """The Schemes as the kernel reads them (KSCHEME_DTYPE): max_cost scaled by the denominator, absent bounds as
    the widest int64s (a min/max instead of a branch), the reciprocals of the increments, slot 1's anchor. Entry 0
    (rate_one's calls and the calls without a rate) divides by 1. A scheme whose increments the reciprocals do not
    cover (none from a loaded deck) goes to rate_one."""
    out = np.zeros(len(schemes), KSCHEME_DTYPE)
    big = np.iinfo(np.int64)
    max_cost = schemes["max_cost"].astype(np.int64)
    limit = big.max // int(denom)
    out["max_scaled"] = np.where((max_cost == NONE) | (max_cost > limit), big.max,
                                 np.clip(max_cost, -limit, limit) * int(denom))
    out["min_cost"] = np.where(schemes["min_cost"] == NONE, big.min, schemes["min_cost"])
    ok = ((schemes["inc0"] >= 1) & (schemes["inc0"] < MAX_MAGIC_INC) & (schemes["inc1"] >= 1)
          & (schemes["inc1"] < MAX_MAGIC_INC) & (schemes["simple"] != 0))
    out["simple"] = ok
    out["inc0"] = np.where(ok, schemes["inc0"], 1)
    out["inc1"] = np.where(ok, schemes["inc1"], 1)
    out["start1"] = np.where(ok, schemes["start1"], 2**31 - 1)
    out["magic0"] = magic(out["inc0"])
    out["magic1"] = magic(out["inc1"])
    out["anchor1"] = 0 if anchor_zero else out["start1"]
    return out


HUGE_PAGE = 1 << 21
USE_HUGE_PAGES = True  # a module global: tests turn it off to check the fallback


def aligned(a):
    """A copy of the 1-d array `a` whose data starts on a 64-byte boundary (a cache line), so that a group of 8
    keys is one line. A table of 2 MiB or more gets a mapping of its own, on 2 MiB boundaries, marked for
    transparent huge pages (Linux): the kernel reads a few lines at random in each of its tables per call, and
    with 4 KiB pages most of them missed the TLB (2,048 entries cover 8 MiB; bench_rate's tables take 18 MB).
    numpy asks for huge pages too, but a large array often reuses heap memory freed earlier, already mapped in
    4 KiB pages (measured in a process that had read its calls first: bench_rate's tables had 12 MB of huge pages
    between them; with these mappings all of them, and 9-14 % more calls/s with Zipf destinations)."""
    a = np.ascontiguousarray(a)
    out = aligned_empty(a.shape[0], a.dtype)
    np.copyto(out.view(np.uint8), a.view(np.uint8))  # as bytes: a record array copies field by field
    return out


def aligned_empty(n, dtype):
    """An uninitialised 1-d array of n `dtype`s placed as aligned() places its copies (for a table built in
    place rather than copied)."""
    dtype = np.dtype(dtype)
    nbytes = int(n) * dtype.itemsize
    if USE_HUGE_PAGES and nbytes >= HUGE_PAGE and hasattr(mmap, "MADV_HUGEPAGE"):
        try:
            size = -(-nbytes // HUGE_PAGE) * HUGE_PAGE
            area = mmap.mmap(-1, size + HUGE_PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
            skip = -np.frombuffer(area, np.uint8, 1).ctypes.data % HUGE_PAGE
            area.madvise(mmap.MADV_HUGEPAGE, skip, size)
        except (OSError, ValueError):
            pass
        else:
            return np.frombuffer(area, dtype, n, skip)
    raw = np.empty(nbytes + 64, np.uint8)
    skip = -raw.ctypes.data % 64
    return raw[skip:skip + nbytes].view(dtype)


IREC_DTYPE = np.dtype([("prefix", np.int32), ("rate", np.int32), ("h", HOT16_DTYPE)])


def resolved_rates(band_rate, parent, int cols):
    """Per prefix and band column, the first rate of the nearest prefix, itself or an ancestor, with a rate for
    that column (-1: none), an (n_prefixes, cols) array. That is where find_rate's walk up the parents starts its
    scan, so the kernel takes that rate when it is in force and leaves every other case to the general path."""
    parent = np.asarray(parent, dtype=np.int64)
    n_pref = parent.shape[0]
    res = np.asarray(band_rate, dtype=np.int32).reshape(n_pref, cols)
    if n_pref:
        has = (parent >= 0)[:, None]
        up = np.where(parent >= 0, parent, 0)
        for _ in range(MAX_KEY_DIGITS + 1):  # prefixes nest at most key_len deep
            nxt = np.where((res < 0) & has, res[up], res)
            if np.array_equal(nxt, res):
                break
            res = nxt
    return res


def interval_records(iv_prefix, res, h16, out=None):
    """The IRecs: per interval, one per band column (row-major), each with the interval's prefix (-1: none), the
    column's resolved rate (resolved_rates; -1: none) and that rate's Hot16 (compact_records; zeros, scheme 0,
    without a rate). A call reads the one of its interval and band and nothing else of its rate: its Hot16
    inlined here rather than indexed is one dependent read less for every call, for 24 bytes per interval and
    column (an interval's columns mostly repeat two or three rates: kept apart so that the address is a
    product). `out`: where to write them (aligned_empty), else a new array."""
    cdef const int32_t[::1] ip = np.ascontiguousarray(iv_prefix, dtype=np.int32)
    cdef const int32_t[:, ::1] rv = np.ascontiguousarray(res, dtype=np.int32)
    h = np.ascontiguousarray(h16, HOT16_DTYPE)
    cdef Py_ssize_t n = ip.shape[0], cols = rv.shape[1], i, c, n_rates = h.shape[0]
    if h.dtype.itemsize != sizeof(Hot16) or IREC_DTYPE.itemsize != sizeof(IRec):
        raise ValueError("record layouts differ from the compiled engine's")
    if out is None:
        out = np.empty(n * cols, IREC_DTYPE)
    if out.shape[0] != n * cols or out.dtype != IREC_DTYPE:
        raise ValueError("out must hold an IREC_DTYPE per interval and column")
    if n == 0:
        return out
    cdef uint8_t[::1] ob = out.view(np.uint8)
    cdef const uint8_t[::1] hb = h.view(np.uint8) if n_rates else np.zeros(1, np.uint8)
    cdef IRec* o = <IRec*> &ob[0]
    cdef const Hot16* hp = <const Hot16*> &hb[0]
    cdef int32_t p, r
    with nogil:
        for i in range(n):
            p = ip[i]
            for c in range(cols):
                r = rv[p, c] if p >= 0 else -1
                o.prefix = p
                o.rate = r
                if 0 <= r < n_rates:
                    o.h = hp[r]
                else:
                    memset(&o.h, 0, sizeof(Hot16))
                o += 1
    return out


cdef object timeline_view(parts, Timeline* tl):
    """Point tl at a batch's timeline arrays (RateTables.timeline; None: an empty window, band_at for every
    instant). Returns what keeps the arrays alive."""
    cdef const int32_t[::1] gv
    cdef const int64_t[::1] av
    cdef const int16_t[::1] bv
    cdef const int64_t[::1] hv
    tl.w0 = 0
    tl.w1 = 0
    if parts is not None:
        tl.w0, tl.w1 = parts[0], parts[1]
        gv, av, bv, hv = parts[2], parts[3], parts[4], parts[5]
        tl.hours = &hv[0]
        tl.grid = &gv[0]
        tl.at = &av[0]
        tl.band = &bv[0]
    return parts


cdef inline Outputs shifted(Outputs o, Py_ssize_t k) noexcept nogil:
    o.status += k
    o.prefix += k
    o.rate += k
    o.band += k
    o.parts += k
    o.billed += k
    o.cost += k
    return o


def rounding_offset(divisor, mode):
    """(add, tie) such that a total t >= 0 divided by `divisor` and rounded by `mode` (0 up, 1 down, 2 half_up,
    3 half_even) is q = (t + add) // divisor, less 1 when tie is -1, t + add == q * divisor and q is odd:
    up adds divisor - 1; down nothing; half_up and half_even half the divisor (rounded down: with an odd divisor
    no total is a tie, and a remainder of (divisor + 1) / 2 rounds up as it should); half_even's exact ties
    (t + add a multiple: t's remainder exactly half an even divisor) go back to the even quotient."""
    divisor, mode = int(divisor), int(mode)
    add = (divisor - 1, 0, divisor // 2, divisor // 2)[mode]
    return add, -1 if mode == 3 and divisor % 2 == 0 else 0


def reciprocal(divisor):
    """(m, s) such that n // divisor == (n * m) >> s for every 0 <= n < 2**62 (Granlund-Montgomery)."""
    if not 1 <= divisor < 2**62:
        raise ValueError("divisor out of range")
    shift = 62 + (divisor - 1).bit_length()
    return -(-(2 ** shift) // divisor), shift


def floor_div_by_multiplying(uint64_t n, uint64_t divisor):
    """n // divisor the way the kernel does it (for tests): by the reciprocal when 128-bit products exist."""
    if not 0 <= n < 2**62:
        raise ValueError("n out of range")
    m, shift = reciprocal(divisor)
    return anatole_div_magic(n, m, shift, divisor)


def build_intervals(const uint64_t[::1] lo, const uint64_t[::1] hi, const int64_t[::1] order):
    """Turn laminar prefix ranges [lo, hi] into disjoint intervals labelled with the longest covering prefix.

    `order` sorts the prefixes by (lo ascending, hi descending): a prefix before those it contains. Returns
    (interval starts uint64, interval prefix int32 (-1: none), parent prefix int32 per prefix (-1: none)).
    """
    cdef Py_ssize_t n = order.shape[0], k, top = 0, m = 0
    iv_s = np.empty(2 * n + 1, np.uint64)
    iv_p = np.empty(2 * n + 1, np.int32)
    parent_a = np.full(lo.shape[0], -1, np.int32)
    stack_a = np.empty(n + 1, np.int64)
    cdef uint64_t[::1] s = iv_s
    cdef int32_t[::1] pl = iv_p
    cdef int32_t[::1] parent = parent_a
    cdef int64_t[::1] stack = stack_a
    cdef int64_t i, j
    cdef uint64_t start
    s[0] = 0
    pl[0] = -1
    m = 1
    with nogil:
        for k in range(n + 1):
            # close every open prefix that ends before the next one starts (all of them at the end)
            while top > 0 and (k == n or hi[stack[top - 1]] < lo[order[k]]):
                j = stack[top - 1]
                top -= 1
                start = hi[j] + 1
                i = stack[top - 1] if top > 0 else -1
                m = _emit(s, pl, m, start, <int32_t>i)
            if k == n:
                break
            i = order[k]
            parent[i] = <int32_t>stack[top - 1] if top > 0 else -1
            m = _emit(s, pl, m, lo[i], <int32_t>i)
            stack[top] = i
            top += 1
    return iv_s[:m].copy(), iv_p[:m].copy(), parent_a


cdef inline Py_ssize_t _emit(uint64_t[::1] s, int32_t[::1] pl, Py_ssize_t m, uint64_t start,
                             int32_t label) noexcept nogil:
    if s[m - 1] == start:
        pl[m - 1] = label
        if m >= 2 and pl[m - 2] == label:
            return m - 1
        return m
    if pl[m - 1] == label:
        return m
    s[m] = start
    pl[m] = label
    return m + 1
