# Text a word at a time, for the scanner's, the writer's and the classification's passes over a block: the
# zero-byte test and the index of a word's lowest set bit (searches for a comma, a quote, a line end), byte
# strings compared 8 bytes at a time, and with SSE2 a line's masks 64 bytes at a time and its line feeds counted.
from libc.stdint cimport int64_t, uint8_t, uint64_t
from libc.string cimport memcpy

cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define anatole_ctz64(x) __builtin_ctzll(x)
    #else
    static int anatole_ctz64(unsigned long long x) { int n = 0; while (!(x & 1)) { x >>= 1; n++; } return n; }
    #endif
    """
    int anatole_ctz64(uint64_t x) nogil


cdef inline uint64_t zero_bytes(uint64_t w) noexcept nogil:
    """The high bit of each zero byte of w, exact up to and including the first zero byte (what a search needs:
    the lowest set bit is the first zero byte; w ^ (c repeated) finds the bytes equal to c)."""
    return (w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL


cdef inline bint same_bytes(const uint8_t* p, const uint8_t* q, int64_t n) noexcept nogil:
    """p[:n] == q[:n], 8 bytes at a time (short slices: no library call)."""
    cdef uint64_t u, v
    cdef int64_t i = 0
    while i + 8 <= n:
        memcpy(&u, p + i, 8)
        memcpy(&v, q + i, 8)
        if u != v:
            return False
        i += 8
    while i < n:
        if p[i] != q[i]:
            return False
        i += 1
    return True


cdef extern from *:
    """
    #include <stdint.h>
    #if defined(__SSE2__) || defined(_M_X64)
    #include <emmintrin.h>
    #endif
    /* Bit i of each mask: byte p[i] is '"' (quotes), ',' (commas), outside printable ASCII 32..126 (odd: line ends,
       other control bytes, DEL, non-ASCII). SSE2, the x86-64 baseline, 16 bytes a step; elsewhere byte by byte. */
    static inline void anatole_masks64(const unsigned char* p, uint64_t* quotes, uint64_t* commas, uint64_t* odd) {
        uint64_t q = 0, c = 0, o = 0;
    #if defined(__SSE2__) || defined(_M_X64)
        const __m128i dq = _mm_set1_epi8('"'), cm = _mm_set1_epi8(','), lo = _mm_set1_epi8(32), hi = _mm_set1_epi8(126);
        for (int k = 0; k < 4; k++) {
            __m128i v = _mm_loadu_si128((const __m128i*)(p + 16 * k));
            q |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, dq)) << (16 * k);
            c |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, cm)) << (16 * k);
            /* signed bytes: 128..255 are negative, below 32 */
            o |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmplt_epi8(v, lo), _mm_cmpgt_epi8(v, hi)))
                 << (16 * k);
        }
    #else
        for (int k = 0; k < 64; k++) {
            q |= (uint64_t)(p[k] == '"') << k;
            c |= (uint64_t)(p[k] == ',') << k;
            o |= (uint64_t)(p[k] < 32 || p[k] > 126) << k;
        }
    #endif
        *quotes = q;
        *commas = c;
        *odd = o;
    }
    /* Line feeds in p[0:n]; *cr set when a CR is among the bytes too. SSE2: each 16 bytes compared and added
       into byte counters, summed every 255 steps (psadbw); elsewhere byte by byte. */
    static inline int64_t anatole_count_lf(const unsigned char* p, int64_t n, int* cr) {
        int64_t count = 0, i = 0;
        int seen = 0;
    #if defined(__SSE2__) || defined(_M_X64)
        const __m128i lf = _mm_set1_epi8(10), ret = _mm_set1_epi8(13), zero = _mm_setzero_si128();
        __m128i any = zero;
        while (i + 16 <= n) {
            __m128i acc = zero;
            int64_t stop = i + 16 * 255 <= n ? i + 16 * 255 : n - ((n - i) & 15);
            for (; i < stop; i += 16) {
                __m128i v = _mm_loadu_si128((const __m128i*)(p + i));
                acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(v, lf));
                any = _mm_or_si128(any, _mm_cmpeq_epi8(v, ret));
            }
            __m128i sums = _mm_sad_epu8(acc, zero);
            count += _mm_cvtsi128_si32(sums) + _mm_cvtsi128_si32(_mm_unpackhi_epi64(sums, sums));
        }
        seen = _mm_movemask_epi8(any) != 0;
    #endif
        for (; i < n; i++) {
            count += p[i] == 10;
            seen |= p[i] == 13;
        }
        *cr = seen;
        return count;
    }
    """
    int64_t anatole_count_lf(const uint8_t* p, int64_t n, int* cr) nogil
    void anatole_masks64(const uint8_t* p, uint64_t* quotes, uint64_t* commas, uint64_t* odd) nogil
