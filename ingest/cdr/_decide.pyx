# The per-row passes of the columnar path's classification (pipeline.columnar), in Cython without the GIL: two
# blocks are classified at once on two cores, and numpy's masks and gathers held the GIL.
#
# decide_facts works out, once per distinct value, what ingest.cdr.classify.decide needs to know of a block's
# channels, applications and numbers (tables indexed by the scanner's fact ids and the numbers' value ids).
# fact_codes packs each row's facts into one integer code and numbers the distinct codes (a call centre's day has
# a few dozen), Python decides each distinct code once, and apply_decisions gives every row its code's direction,
# rule and service flag and sets its extension, trunk and called slices to the fields the decision names. Then
# pick_numbers chooses the number that matters of each row (classify) and statuses its status before pricing
# (rate_block).

from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t, uint64_t

from engine._prefetch cimport anatole_prefetch
from ingest._words cimport same_bytes

import numpy as np

# the factors of a code, innermost last (fact_codes packs, pipeline.columnar.decide_facts unpacks)
RADIX = (64, 64, 72, 2, 4, 3, 2, 3)  # origin, target, application, target is the Dial peer, caller kind,
# dialled kind, target is the dialled number, Dial number kind

# apply_decisions: the candidate slices of a row's extension and trunk, in pipeline.columnar._CHOICES order
cdef enum:
    NONE_CHOICE, CALLER_CHOICE, DIALLED_CHOICE, ORIGIN_CHOICE, TARGET_CHOICE, DIAL_CHOICE


def fact_codes(const uint8_t[::1] buf, const int64_t[::1] rows, const int64_t[:] o_inv, const int64_t[:] t_inv,
               const int64_t[:] l_inv, const int64_t[::1] c_inv, const int64_t[::1] d_inv,
               const int64_t[::1] dial_kind, const int64_t[::1] o_cls, const int64_t[::1] t_cls,
               const int64_t[::1] t_start, const int32_t[::1] t_len, const int64_t[::1] t_dp,
               const int64_t[::1] low_code, const int64_t[::1] low_dp, const int64_t[::1] caller_kind,
               const int64_t[::1] dialled_kind, const int64_t[:] t_off, const int64_t[:] d_off,
               const int32_t[:] d_len):
    """(inverse, codes): each row's code (RADIX) as an index into `codes`, the distinct codes in order of first
    appearance. Row k is line rows[k]: the fact ids (o_inv, t_inv, l_inv) and the target and dialled slices
    (t_off, d_off, d_len) are indexed by line, the numbers' value ids and Dial number kinds by k. Per id: o_cls,
    t_cls (channel classes), t_start/t_len (the target's peer within the channel), t_dp (the index of the
    target's peer among the Dial peers, -1 none, -2 no peer), low_code/low_dp (the application tuple's classes and
    Dial peer index), caller_kind/dialled_kind (pipeline.columnar.number_kinds). The target is the Dial peer when
    t_dp equals low_dp; it is the dialled number when its peer (not empty) has the dialled bytes."""
    cdef Py_ssize_t n = rows.shape[0], size = 16, k, r, slot, count = 0, i
    cdef int64_t o, t, low, code, tdp, tid
    cdef int32_t ln
    while size < 2 * n:
        size *= 2
    inverse_a = np.empty(n, np.int64)
    codes_a = np.empty(max(n, 1), np.int64)
    table_a = np.full(size, -1, np.int32)  # code index in each slot, -1 free; only a few slots are ever used
    cdef int64_t[::1] inverse = inverse_a, codes = codes_a
    cdef int32_t[::1] table = table_a
    cdef const uint8_t* b = &buf[0] if buf.shape[0] else NULL
    with nogil:
        for k in range(n):
            r = rows[k]
            if k + 8 < n:  # the target and dialled bytes 8 rows on: each row's are in a new line of the block
                anatole_prefetch(b + d_off[rows[k + 8]])
                anatole_prefetch(b + t_off[rows[k + 8]])
            o, t, low = o_inv[r], t_inv[r], l_inv[r]
            tdp = t_dp[t] == low_dp[low]
            ln = t_len[t]
            tid = ln > 0 and ln == d_len[r] and same_bytes(b + t_off[r] + t_start[t], b + d_off[r], ln)
            code = ((((((o_cls[o] * 64 + t_cls[t]) * 72 + low_code[low]) * 2 + tdp) * 4 + caller_kind[c_inv[k]])
                     * 3 + dialled_kind[d_inv[k]]) * 2 + tid) * 3 + dial_kind[k]
            slot = <Py_ssize_t>(((<uint64_t>code * 0x9E3779B97F4A7C15ULL) >> 32) & <uint64_t>(size - 1))
            while True:
                i = table[slot]
                if i < 0:
                    table[slot] = <int32_t>count
                    codes[count] = code
                    inverse[k] = count
                    count += 1
                    break
                if codes[i] == code:
                    inverse[k] = i
                    break
                slot = (slot + 1) & (size - 1)
    return inverse_a, codes_a[:count].copy()


def apply_decisions(const int64_t[::1] rows, const int64_t[::1] inverse, const int8_t[::1] direction_of,
                    const int8_t[::1] rule_of, const uint8_t[::1] service_of, const int8_t[::1] extension_of,
                    const int8_t[::1] trunk_of, const uint8_t[::1] called_of, int64_t[:, ::1] off,
                    int32_t[:, ::1] ln, const int64_t[::1] cols, const int64_t[:] o_inv, const int64_t[:] t_inv,
                    const int64_t[::1] o_start, const int32_t[::1] o_len, const int64_t[::1] t_start,
                    const int32_t[::1] t_len):
    """(direction, rule, service) of each row from its decision (inverse[k] into the *_of arrays), and its
    extension and trunk slices set to the candidate each names (in pipeline.columnar._CHOICES order: nothing, the caller,
    the dialled number, the origin's or the target's peer, the Dial string's peer), its called slice to the Dial
    number where the decision says so (else nothing). `cols`: the slice columns of off/ln, in this order: caller,
    dialled, origin, target, dial_peer, extension, trunk, called, dial_number."""
    cdef Py_ssize_t n = rows.shape[0], k, r, j, c
    cdef int64_t cand_off[6]
    cdef int32_t cand_len[6]
    cdef int64_t o, t
    cdef Py_ssize_t S_CALLER = cols[0], S_DIALLED = cols[1], S_ORIGIN = cols[2], S_TARGET = cols[3]
    cdef Py_ssize_t S_DPEER = cols[4], S_EXTENSION = cols[5], S_TRUNK = cols[6], S_CALLED = cols[7]
    cdef Py_ssize_t S_DNUM = cols[8]
    direction_a = np.empty(n, np.int8)
    rule_a = np.empty(n, np.int8)
    service_a = np.empty(n, np.bool_)
    cdef int8_t[::1] direction = direction_a, rule = rule_a
    cdef uint8_t[::1] service = service_a.view(np.uint8)
    with nogil:
        for k in range(n):
            r = rows[k]
            j = inverse[k]
            direction[k] = direction_of[j]
            rule[k] = rule_of[j]
            service[k] = service_of[j]
            o, t = o_inv[r], t_inv[r]
            cand_off[NONE_CHOICE], cand_len[NONE_CHOICE] = 0, 0
            cand_off[CALLER_CHOICE], cand_len[CALLER_CHOICE] = off[r, S_CALLER], ln[r, S_CALLER]
            cand_off[DIALLED_CHOICE], cand_len[DIALLED_CHOICE] = off[r, S_DIALLED], ln[r, S_DIALLED]
            cand_off[ORIGIN_CHOICE], cand_len[ORIGIN_CHOICE] = off[r, S_ORIGIN] + o_start[o], o_len[o]
            cand_off[TARGET_CHOICE], cand_len[TARGET_CHOICE] = off[r, S_TARGET] + t_start[t], t_len[t]
            cand_off[DIAL_CHOICE], cand_len[DIAL_CHOICE] = off[r, S_DPEER], ln[r, S_DPEER]
            c = extension_of[j]
            off[r, S_EXTENSION], ln[r, S_EXTENSION] = cand_off[c], cand_len[c]
            c = trunk_of[j]
            off[r, S_TRUNK], ln[r, S_TRUNK] = cand_off[c], cand_len[c]
            if called_of[j]:
                off[r, S_CALLED], ln[r, S_CALLED] = off[r, S_DNUM], ln[r, S_DNUM]
            else:
                off[r, S_CALLED], ln[r, S_CALLED] = 0, 0
    return direction_a, rule_a, service_a


def pick_numbers(const int64_t[::1] rows, const int8_t[::1] direction, const int64_t[::1] d_inv,
                 const int64_t[::1] c_inv, const int64_t[::1] o_inv, Py_ssize_t c_base, Py_ssize_t o_base,
                 const int8_t[::1] kind, const int32_t[:] c_len, const uint8_t[::1] same, int external,
                 int incoming):
    """The number that matters of each row (pipeline.columnar.classify): (number, origin, target kind, origin
    kind). `kind` is the kind of every number (the dialled ones, then the called ones from c_base, then the callers
    from o_base; d_inv, c_inv, o_inv: each row's). The target is the called (sent) number when there is one, it
    is external and it is not the dialled one (`same`), else the dialled number; the origin is the caller; an
    incoming row's number is its origin, any other row's its target. c_len is indexed by line (rows[k])."""
    cdef Py_ssize_t n = rows.shape[0], k
    cdef int32_t target, origin
    number_a = np.empty(n, np.int32)
    origin_a = np.empty(n, np.int32)
    t_kind_a = np.empty(n, np.int8)
    o_kind_a = np.empty(n, np.int8)
    cdef int32_t[::1] number = number_a, origins = origin_a
    cdef int8_t[::1] t_kind = t_kind_a, o_kind = o_kind_a
    with nogil:
        for k in range(n):
            target = <int32_t>(c_base + c_inv[k])
            if c_len[rows[k]] == 0 or kind[target] != external or same[k]:
                target = <int32_t>d_inv[k]
            origin = <int32_t>(o_base + o_inv[k])
            number[k] = origin if direction[k] == incoming else target
            origins[k] = origin
            t_kind[k] = kind[target]
            o_kind[k] = kind[origin]
    return number_a, origin_a, t_kind_a, o_kind_a


def statuses(const int8_t[::1] direction, const uint8_t[::1] service, const int32_t[::1] number,
             const int8_t[::1] kind, const int8_t[::1] by_direction, const int8_t[::1] by_kind, int internal_call,
             int service_status):
    """Each row's status before pricing (pipeline.columnar.rate_block): by_direction[direction] (incoming,
    internal, transit), `service_status` for an internal call answered by a PBX application (`service`), else
    by_kind[kind of its number] (internal, service, emergency, invalid numbers); -1 left: priced (an external
    number)."""
    cdef Py_ssize_t n = direction.shape[0], k
    cdef int8_t s
    status_a = np.empty(n, np.int8)
    cdef int8_t[::1] status = status_a
    with nogil:
        for k in range(n):
            s = by_direction[direction[k]]
            if service[k] and direction[k] == internal_call:
                s = <int8_t>service_status
            if s < 0:
                s = by_kind[kind[number[k]]]
            status[k] = s
    return status_a
