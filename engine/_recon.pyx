"""The reconciliation kernel: matches a carrier's call detail to rated CDRs, one to one, in one sort-and-sweep pass.

The rule (engine.recon_reference, the plain-Python oracle, implements the same; README "Reconciliation"):

* A *candidate* pair is an invoice line i and a CDR j with the same number key, |start_i - start_j| <= tol_start
  and |duration_i - duration_j| <= tol_duration.
* Candidates are taken greedily, nearest first: in increasing order of the key (|dstart|, |dduration|, |damount|,
  i, j); a candidate is accepted when neither of its lines is matched yet. The key is a total order, so the result
  does not depend on the input order or on the sort used.
* A matched pair is `cost_mismatch` when |amount_i - amount_j| > tol_amount, else `exact` when the starts and the
  durations are equal, else `near`. Unmatched invoice lines are `only_invoice`, unmatched CDRs `only_cdr`.

How it runs: both sides are radix-sorted by (number, start) (LSD, 11-bit digits; passes whose digit is the same
for every line are skipped, and a side already in (number, start) or start order skips the passes it does not
need); then one merged sweep in (number, start) order cuts each number's lines into clusters where consecutive
starts are at most tol_start apart. No candidate crosses a cut, so greedy-by-key is decided per cluster: a
cluster of one invoice line and one CDR (the common case) is a direct check; a larger one lists its candidates and
sorts them by the key. Everything after the allocations runs without the GIL. Money is int64 in 10**-8 units;
totals are summed in 128 bits, so they are exact whatever the sizes.
"""

from libc.stdint cimport int8_t, int32_t, int64_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, qsort, realloc
from libc.string cimport memset
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

import numpy as np

cimport numpy as cnp

cnp.import_array()

cdef enum:
    EXACT = 0
    NEAR = 1
    COST_MISMATCH = 2
    ONLY_INVOICE = 3
    ONLY_CDR = 4
    N_CLASSES = 5
    DIGIT_BITS = 11
    BUCKETS = 2048  # 1 << DIGIT_BITS
    MAX_PASSES = 9  # 3 for a 32-bit start, 6 for a 64-bit number

cdef int64_t C_MAX_AMOUNT = 4611686018427387904  # 2**62

CLASS_NAMES = ("exact", "near", "cost_mismatch", "only_invoice", "only_cdr")
MAX_LINES = 2**31 - 1
MAX_AMOUNT = 2**62  # |amount| bound: differences then fit in int64
MAX_SPAN = 2**32 - 1  # latest start - earliest start, seconds (136 years)

ctypedef struct Rec:  # one line as sorted: number and start relative to the minimum of both sides
    uint64_t num
    uint32_t t
    uint32_t idx

ctypedef struct Cand:  # a candidate pair of a cluster: its greedy key, then the pair's positions in the cluster
    uint64_t dt
    uint64_t dd
    uint64_t da
    uint32_t i
    uint32_t j
    uint32_t p
    uint32_t q

ctypedef struct Aux:  # what the sweep needs of a line besides its key, gathered into sorted order
    int64_t amt
    int32_t dur
    int32_t pad

ctypedef struct Out:  # where the sweep writes: per side, one packed int64 per line in input order, and the totals
    int64_t* pa
    int64_t* pb
    Acc* sums
    int64_t* counts
    int64_t tol_amount

ctypedef struct Acc:  # a signed 128-bit sum: hi * 2**64 + lo
    int64_t hi
    uint64_t lo


cdef inline double now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


cdef inline void acc_add(Acc* a, int64_t v) noexcept nogil:
    cdef uint64_t u = <uint64_t>v
    a.lo += u
    if a.lo < u:
        a.hi += 1
    if v < 0:
        a.hi -= 1


cdef inline uint64_t absdiff(int64_t x, int64_t y) noexcept nogil:
    return <uint64_t>(x - y) if x >= y else <uint64_t>(y - x)


cdef int cmp_cand(const void* pa, const void* pb) noexcept nogil:
    cdef const Cand* a = <const Cand*>pa
    cdef const Cand* b = <const Cand*>pb
    if a.dt != b.dt:
        return -1 if a.dt < b.dt else 1
    if a.dd != b.dd:
        return -1 if a.dd < b.dd else 1
    if a.da != b.da:
        return -1 if a.da < b.da else 1
    if a.i != b.i:
        return -1 if a.i < b.i else 1
    if a.j != b.j:
        return -1 if a.j < b.j else 1
    return 0


cdef inline int bits_of(uint64_t x) noexcept nogil:
    cdef int b = 0
    while x:
        b += 1
        x >>= 1
    return b


cdef Rec* radix_sort(Rec* a, Rec* tmp, Py_ssize_t n, const int64_t* num, const int64_t* start, int64_t num_base,
                     int64_t t_base, int t_bits, int num_bits, uint64_t* hist, int* passes_run) noexcept nogil:
    """Fill records from the columns and sort them by (num, t), stably; returns the buffer holding the result."""
    cdef int t_passes = (t_bits + DIGIT_BITS - 1) // DIGIT_BITS
    cdef int n_passes = (num_bits + DIGIT_BITS - 1) // DIGIT_BITS
    cdef int total = t_passes + n_passes
    cdef Py_ssize_t k
    cdef int p, first
    cdef uint64_t key, d, run, c
    cdef bint by_key = True, by_t = True
    cdef Rec r, prev
    cdef Rec* src = a
    cdef Rec* dst = tmp
    cdef Rec* swap
    cdef uint64_t* h
    memset(hist, 0, MAX_PASSES * BUCKETS * sizeof(uint64_t))
    for k in range(n):
        r.num = <uint64_t>num[k] - <uint64_t>num_base
        r.t = <uint32_t>(start[k] - t_base)
        r.idx = <uint32_t>k
        a[k] = r
        if k:
            if r.t < prev.t:
                by_t = False
            if r.num < prev.num or (r.num == prev.num and r.t < prev.t):
                by_key = False
        prev = r
        for p in range(t_passes):
            hist[p * BUCKETS + ((r.t >> (p * DIGIT_BITS)) & (BUCKETS - 1))] += 1
        for p in range(n_passes):
            hist[(t_passes + p) * BUCKETS + ((r.num >> (p * DIGIT_BITS)) & (BUCKETS - 1))] += 1
    passes_run[0] = 0
    if by_key or n < 2:
        return a
    first = t_passes if by_t else 0  # a side in start order needs only the stable passes on the number
    for p in range(first, total):
        h = &hist[p * BUCKETS]
        if p < t_passes:
            d = (src[0].t >> (p * DIGIT_BITS)) & (BUCKETS - 1)
        else:
            d = (src[0].num >> ((p - t_passes) * DIGIT_BITS)) & (BUCKETS - 1)
        if h[d] == <uint64_t>n:
            continue  # every line has this digit: the pass would not move anything
        run = 0
        for d in range(BUCKETS):  # counts -> first position of each digit
            c = h[d]
            h[d] = run
            run += c
        if p < t_passes:
            for k in range(n):
                d = (src[k].t >> (p * DIGIT_BITS)) & (BUCKETS - 1)
                dst[h[d]] = src[k]
                h[d] += 1
        else:
            for k in range(n):
                d = (src[k].num >> ((p - t_passes) * DIGIT_BITS)) & (BUCKETS - 1)
                dst[h[d]] = src[k]
                h[d] += 1
        swap = src
        src = dst
        dst = swap
        passes_run[0] += 1
    return src


def match(const int64_t[::1] inv_number, const int64_t[::1] inv_start, const int32_t[::1] inv_duration,
          const int64_t[::1] inv_amount, const int64_t[::1] cdr_number, const int64_t[::1] cdr_start,
          const int32_t[::1] cdr_duration, const int64_t[::1] cdr_amount, int64_t tol_start, int64_t tol_duration,
          int64_t tol_amount):
    """Match invoice lines to CDRs (see the module docstring for the rule). Returns a dict of arrays and totals:
    `inv_class`/`cdr_class` (int8, CLASS_NAMES codes), `inv_match`/`cdr_match` (int64 index of the partner, -1
    for none), `totals` {class: {count, invoice, cdr, over, under}} as Python ints (over/under: sums of the
    positive and negative parts of invoice - cdr per line, a missing side counting 0), and `stats` (sort passes
    run, clusters, clusters of more than one line per side, candidates listed in those, seconds per phase)."""
    cdef Py_ssize_t na = inv_number.shape[0], nb = cdr_number.shape[0]
    if inv_start.shape[0] != na or inv_duration.shape[0] != na or inv_amount.shape[0] != na:
        raise ValueError("the invoice columns must have the same length")
    if cdr_start.shape[0] != nb or cdr_duration.shape[0] != nb or cdr_amount.shape[0] != nb:
        raise ValueError("the CDR columns must have the same length")
    if na > MAX_LINES or nb > MAX_LINES:
        raise ValueError(f"at most {MAX_LINES} lines per side")
    if tol_start < 0 or tol_duration < 0 or tol_amount < 0:
        raise ValueError("tolerances must be >= 0")
    cdef Py_ssize_t k
    cdef int64_t t_min = 0, t_max = 0, n_min = 0, n_max = 0
    cdef int bad = 0
    with nogil:
        bad = _check(inv_start, inv_duration, inv_amount, inv_number, &t_min, &t_max, &n_min, &n_max, na > 0)
        if not bad:
            bad = _check(cdr_start, cdr_duration, cdr_amount, cdr_number, &t_min, &t_max, &n_min, &n_max,
                         na == 0 and nb > 0)
    if bad == 1:
        raise ValueError("a duration is negative")
    if bad == 2:
        raise ValueError(f"an amount is beyond +/-{MAX_AMOUNT} units")
    if <uint64_t>(t_max - t_min) > <uint64_t>MAX_SPAN:  # (a difference of two int64 fits in uint64)
        raise ValueError(f"the starts span more than {MAX_SPAN} seconds")
    cdef int t_bits = bits_of(<uint64_t>(t_max - t_min))
    cdef int num_bits = bits_of(<uint64_t>n_max - <uint64_t>n_min)

    # per side, one int64 per line in input order: partner index << 3 | class (split below)
    packed_a = np.empty(na, np.int64)
    packed_b = np.empty(nb, np.int64)
    cdef int64_t[::1] pka = packed_a
    cdef int64_t[::1] pkb = packed_b
    # three record buffers: A's lines, B's lines, and a scratch one; A's result may end in the scratch buffer, and
    # then A's own buffer (as large) is B's scratch
    buf_a = np.empty(max(na, nb, 1) * sizeof(Rec), np.uint8)
    buf_b = np.empty(max(nb, 1) * sizeof(Rec), np.uint8)
    buf_t = np.empty(max(na, nb, 1) * sizeof(Rec), np.uint8)
    hist_buf = np.empty(MAX_PASSES * BUCKETS, np.uint64)
    aux_a = np.empty(max(na, 1) * sizeof(Aux), np.uint8)  # input order; then, in buf_t's place, sorted order
    aux_b = np.empty(max(nb, 1) * sizeof(Aux), np.uint8)
    sorted_a = np.empty(max(na, 1) * sizeof(Aux), np.uint8)
    sorted_b = np.empty(max(nb, 1) * sizeof(Aux), np.uint8)
    cdef unsigned char[::1] va = buf_a
    cdef unsigned char[::1] vb = buf_b
    cdef unsigned char[::1] vt = buf_t
    cdef unsigned char[::1] vxa = aux_a
    cdef unsigned char[::1] vxb = aux_b
    cdef unsigned char[::1] vsa = sorted_a
    cdef unsigned char[::1] vsb = sorted_b
    cdef uint64_t[::1] hv = hist_buf
    cdef Rec* ra
    cdef Rec* rb
    cdef Rec* tmp = <Rec*>&vt[0]
    cdef int passes_a = 0, passes_b = 0
    cdef uint64_t T = <uint64_t>tol_start, D = <uint64_t>tol_duration
    cdef Acc sums[N_CLASSES * 4]  # per class: invoice, cdr, over, under
    cdef int64_t counts[N_CLASSES]
    cdef int64_t clusters = 0, big_clusters = 0, candidates = 0
    cdef int failed = 0
    cdef double t0, t1, t2, t3, t4
    cdef Out out
    memset(sums, 0, sizeof(sums))
    memset(counts, 0, sizeof(counts))
    out.pa = &pka[0] if na else NULL
    out.pb = &pkb[0] if nb else NULL
    out.sums = sums
    out.counts = counts
    out.tol_amount = tol_amount
    with nogil:
        t0 = now()
        ra = radix_sort(<Rec*>&va[0], tmp, na, &inv_number[0] if na else NULL, &inv_start[0] if na else NULL,
                        n_min, t_min, t_bits, num_bits, &hv[0], &passes_a)
        if ra == tmp:
            tmp = <Rec*>&va[0]
        t1 = now()
        rb = radix_sort(<Rec*>&vb[0], tmp, nb, &cdr_number[0] if nb else NULL, &cdr_start[0] if nb else NULL,
                        n_min, t_min, t_bits, num_bits, &hv[0], &passes_b)
        t2 = now()
        _gather(ra, na, inv_duration, inv_amount, <Aux*>&vxa[0], <Aux*>&vsa[0])
        _gather(rb, nb, cdr_duration, cdr_amount, <Aux*>&vxb[0], <Aux*>&vsb[0])
        t3 = now()
        failed = _sweep(ra, na, rb, nb, <const Aux*>&vsa[0], <const Aux*>&vsb[0], T, D, &out, &clusters,
                        &big_clusters, &candidates)
        t4 = now()
    if failed:
        raise MemoryError("no memory for the candidates of a cluster")
    totals = {}
    for k in range(N_CLASSES):
        totals[CLASS_NAMES[k]] = {
            "count": counts[k],
            "invoice": _int128(sums[k * 4 + 0]),
            "cdr": _int128(sums[k * 4 + 1]),
            "over": _int128(sums[k * 4 + 2]),
            "under": _int128(sums[k * 4 + 3]),
        }
    return {
        "inv_class": (packed_a & 7).astype(np.int8),
        "inv_match": packed_a >> 3,
        "cdr_class": (packed_b & 7).astype(np.int8),
        "cdr_match": packed_b >> 3,
        "totals": totals,
        "stats": {"sort_passes": passes_a + passes_b, "clusters": clusters, "multi_clusters": big_clusters,
                  "candidates": candidates,
                  "seconds": {"sort_invoice": t1 - t0, "sort_cdr": t2 - t1, "gather": t3 - t2, "sweep": t4 - t3}},
    }


cdef object _int128(Acc a):
    return int(a.hi) * 2**64 + int(a.lo)


cdef int _check(const int64_t[::1] start, const int32_t[::1] duration, const int64_t[::1] amount,
                const int64_t[::1] number, int64_t* t_min, int64_t* t_max, int64_t* n_min, int64_t* n_max,
                bint init) noexcept nogil:
    """Validate one side and widen the ranges of starts and numbers; 1: a negative duration, 2: an amount too big."""
    cdef Py_ssize_t k, n = start.shape[0]
    cdef int64_t lim = C_MAX_AMOUNT
    if n and init:
        t_min[0] = t_max[0] = start[0]
        n_min[0] = n_max[0] = number[0]
    for k in range(n):
        if duration[k] < 0:
            return 1
        if amount[k] > lim or amount[k] < -lim:
            return 2
        if start[k] < t_min[0]:
            t_min[0] = start[k]
        if start[k] > t_max[0]:
            t_max[0] = start[k]
        if number[k] < n_min[0]:
            n_min[0] = number[k]
        if number[k] > n_max[0]:
            n_max[0] = number[k]
    return 0


cdef void _gather(const Rec* r, Py_ssize_t n, const int32_t[::1] dur, const int64_t[::1] amt, Aux* aux,
                  Aux* out) noexcept nogil:
    """Duration and amount into sorted order: first side by side in input order (a sequential pass), then one
    16-byte read per line; the loads are independent, so the CPU overlaps their cache misses."""
    cdef Py_ssize_t k
    for k in range(n):
        aux[k].amt = amt[k]
        aux[k].dur = dur[k]
    for k in range(n):
        out[k] = aux[r[k].idx]


cdef inline void _emit(Out* o, const Rec* ra, const Rec* rb, const Aux* xa, const Aux* xb, Py_ssize_t p,
                       Py_ssize_t q) noexcept nogil:
    """Record the outcome of invoice line p (sorted position; q < 0: unmatched) or, with p < 0, of CDR q alone."""
    cdef int c
    cdef int64_t diff
    cdef uint32_t i, j
    if p < 0:  # a CDR nobody billed
        j = rb[q].idx
        o.pb[j] = -8 | ONLY_CDR
        o.counts[ONLY_CDR] += 1
        acc_add(&o.sums[ONLY_CDR * 4 + 1], xb[q].amt)
        if xb[q].amt < 0:
            acc_add(&o.sums[ONLY_CDR * 4 + 2], -xb[q].amt)
        elif xb[q].amt > 0:
            acc_add(&o.sums[ONLY_CDR * 4 + 3], xb[q].amt)
        return
    i = ra[p].idx
    if q < 0:
        c = ONLY_INVOICE
        diff = xa[p].amt
        o.pa[i] = -8 | ONLY_INVOICE
    else:
        j = rb[q].idx
        diff = xa[p].amt - xb[q].amt
        if diff > o.tol_amount or -diff > o.tol_amount:
            c = COST_MISMATCH
        elif ra[p].t == rb[q].t and xa[p].dur == xb[q].dur:
            c = EXACT
        else:
            c = NEAR
        o.pa[i] = (<int64_t>j << 3) | c
        o.pb[j] = (<int64_t>i << 3) | c
        acc_add(&o.sums[c * 4 + 1], xb[q].amt)
    o.counts[c] += 1
    acc_add(&o.sums[c * 4 + 0], xa[p].amt)
    if diff > 0:
        acc_add(&o.sums[c * 4 + 2], diff)
    elif diff < 0:
        acc_add(&o.sums[c * 4 + 3], -diff)


cdef int _sweep(const Rec* ra, Py_ssize_t na, const Rec* rb, Py_ssize_t nb, const Aux* xa, const Aux* xb,
                uint64_t T, uint64_t D, Out* o, int64_t* clusters, int64_t* big, int64_t* ncand) noexcept nogil:
    """Walk both sorted sides in (number, start) order, cut each number's lines into clusters at gaps > T, match
    each cluster and record every line's outcome. Returns 1 when out of memory."""
    cdef Py_ssize_t ia = 0, ib = 0, a0, b0, p, q, qlo, m
    cdef uint64_t num, last, t
    cdef bint take_a, take_b, use_a
    cdef uint64_t dd
    cdef Cand* cand = NULL
    cdef int32_t* part = NULL  # a cluster's partners: invoice lines first, then CDRs (positions in the cluster)
    cdef Py_ssize_t cap = 0, nc, part_cap = 0, size_a, size_b
    cdef void* grown
    while ia < na or ib < nb:
        if ia < na and (ib >= nb or ra[ia].num <= rb[ib].num):
            num = ra[ia].num
        else:
            num = rb[ib].num
        a0 = ia
        b0 = ib
        last = 0
        while True:
            take_a = ia < na and ra[ia].num == num
            take_b = ib < nb and rb[ib].num == num
            if take_a and take_b:
                use_a = ra[ia].t <= rb[ib].t
            elif take_a or take_b:
                use_a = take_a
            else:
                break
            t = ra[ia].t if use_a else rb[ib].t
            if (ia > a0 or ib > b0) and t - last > T:
                break
            last = t
            if use_a:
                ia += 1
            else:
                ib += 1
        clusters[0] += 1
        size_a = ia - a0
        size_b = ib - b0
        if size_a == 1 and size_b == 1:  # the common case: one line each, within T by construction
            if absdiff(xa[a0].dur, xb[b0].dur) <= D:
                _emit(o, ra, rb, xa, xb, a0, b0)
            else:
                _emit(o, ra, rb, xa, xb, a0, -1)
                _emit(o, ra, rb, xa, xb, -1, b0)
            continue
        if size_a == 0 or size_b == 0:  # one side only: nothing to match
            for p in range(a0, ia):
                _emit(o, ra, rb, xa, xb, p, -1)
            for q in range(b0, ib):
                _emit(o, ra, rb, xa, xb, -1, q)
            continue
        big[0] += 1
        if size_a + size_b > part_cap:
            part_cap = 2 * (size_a + size_b)
            grown = realloc(part, part_cap * sizeof(int32_t))
            if grown == NULL:
                free(part)
                free(cand)
                return 1
            part = <int32_t*>grown
        for m in range(size_a + size_b):
            part[m] = -1
        nc = 0
        qlo = b0
        for p in range(a0, ia):
            while qlo < ib and <uint64_t>rb[qlo].t + T < <uint64_t>ra[p].t:
                qlo += 1
            q = qlo
            while q < ib and <uint64_t>rb[q].t <= <uint64_t>ra[p].t + T:
                dd = absdiff(xa[p].dur, xb[q].dur)
                if dd <= D:
                    if nc == cap:
                        cap = cap * 2 if cap else 64
                        grown = realloc(cand, cap * sizeof(Cand))
                        if grown == NULL:
                            free(part)
                            free(cand)
                            return 1
                        cand = <Cand*>grown
                    cand[nc].dt = absdiff(ra[p].t, rb[q].t)
                    cand[nc].dd = dd
                    cand[nc].da = absdiff(xa[p].amt, xb[q].amt)
                    cand[nc].i = ra[p].idx
                    cand[nc].j = rb[q].idx
                    cand[nc].p = <uint32_t>(p - a0)
                    cand[nc].q = <uint32_t>(q - b0)
                    nc += 1
                q += 1
        ncand[0] += nc
        if nc > 1:
            qsort(cand, nc, sizeof(Cand), cmp_cand)
        for m in range(nc):
            if part[cand[m].p] < 0 and part[size_a + cand[m].q] < 0:
                part[cand[m].p] = <int32_t>cand[m].q
                part[size_a + cand[m].q] = <int32_t>cand[m].p
        for p in range(size_a):
            _emit(o, ra, rb, xa, xb, a0 + p, b0 + part[p] if part[p] >= 0 else -1)
        for q in range(size_b):
            if part[size_a + q] < 0:
                _emit(o, ra, rb, xa, xb, -1, b0 + q)
    free(part)
    free(cand)
    return 0
