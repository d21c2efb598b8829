# A hint to fetch memory ahead of its use: for loops whose reads jump (the engine's table lookups, a block's rows
# read after the scan, each a new line of an 8 MB block): without it, each waits for a trip to memory.
cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define anatole_prefetch(p) __builtin_prefetch(p)
    #else
    #define anatole_prefetch(p) ((void)(p))
    #endif
    """
    void anatole_prefetch(const void* p) nogil
