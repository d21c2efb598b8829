# A hint to fetch memory ahead of its use, for loops over a block's rows whose reads jump through an 8 MB block
# (each row's field is a new cache line: without the hint, each costs a trip to memory).
cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define anatole_prefetch(p) __builtin_prefetch(p)
    #else
    #define anatole_prefetch(p) ((void)(p))
    #endif
    """
    void anatole_prefetch(const void* p) nogil
