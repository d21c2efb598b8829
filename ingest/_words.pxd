# 8 bytes at a time: the zero-byte test and the index of a word's lowest set bit, for the scanner's and the writer's
# searches through text (a comma, a quote, a line end).
from libc.stdint cimport uint64_t

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
