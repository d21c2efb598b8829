# Columnar reads from SQLite into numpy, and bulk binds of Python rows, in C: no Python object per value.
#
# Built without sqlite3.h and without linking -lsqlite3: the few prototypes are declared here and the functions are
# looked up at import in the SQLite library that Python's own `_sqlite3` module uses (one copy of SQLite in the
# process: two copies would drop each other's POSIX file locks). When they cannot be found, AVAILABLE is False,
# REASON says why, and every function raises Unavailable so that callers take their Python path.

from cpython.exc cimport PyErr_CheckSignals
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.long cimport PyLong_AsLongLong
from cpython.mem cimport PyMem_Calloc, PyMem_Free
from cpython.object cimport PyObject
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdint cimport int64_t
from libc.string cimport memcpy, memset

import os
import sqlite3
import sys

cdef extern from *:
    """
    #include <stdlib.h>
    #include <string.h>
    #include <stdint.h>
    typedef struct sqlite3 sqlite3;
    typedef struct sqlite3_stmt sqlite3_stmt;
    typedef long long an_i64;
    typedef void (*an_destructor)(void*);
    #define AN_TRANSIENT ((an_destructor)-1)

    /* the functions used, in the order of API_NAMES (filled by an_set from the addresses found at import) */
    typedef struct {
        int (*open_v2)(const char*, sqlite3**, int, const char*);
        int (*close_v2)(sqlite3*);
        int (*busy_timeout)(sqlite3*, int);
        int (*prepare_v2)(sqlite3*, const char*, int, sqlite3_stmt**, const char**);
        int (*step)(sqlite3_stmt*);
        int (*finalize)(sqlite3_stmt*);
        int (*reset)(sqlite3_stmt*);
        int (*clear_bindings)(sqlite3_stmt*);
        int (*column_count)(sqlite3_stmt*);
        int (*column_type)(sqlite3_stmt*, int);
        an_i64 (*column_int64)(sqlite3_stmt*, int);
        const unsigned char* (*column_text)(sqlite3_stmt*, int);
        const void* (*column_blob)(sqlite3_stmt*, int);
        int (*column_bytes)(sqlite3_stmt*, int);
        const char* (*column_name)(sqlite3_stmt*, int);
        int (*bind_parameter_count)(sqlite3_stmt*);
        int (*bind_int64)(sqlite3_stmt*, int, an_i64);
        int (*bind_double)(sqlite3_stmt*, int, double);
        int (*bind_text)(sqlite3_stmt*, int, const char*, int, an_destructor);
        int (*bind_blob)(sqlite3_stmt*, int, const void*, int, an_destructor);
        int (*bind_null)(sqlite3_stmt*, int);
        const char* (*errmsg)(sqlite3*);
        const char* (*errstr)(int);
        const char* (*db_filename)(sqlite3*, const char*);
        const char* (*libversion)(void);
        int (*extended_errcode)(sqlite3*);
        int (*get_autocommit)(sqlite3*);
    } an_api_t;
    static an_api_t an_api;
    #define AN_API_COUNT ((int)(sizeof(an_api_t) / sizeof(void*)))
    static void an_set(int i, size_t addr) { ((void**)&an_api)[i] = (void*)addr; }

    /* interned byte strings: first-seen order, open addressing on FNV-1a */
    typedef struct {
        char *arena; size_t used, cap;
        size_t *off; int *len; uint64_t *hash; int n, ncap;
        int *table; size_t mask;
    } an_intern;

    static uint64_t an_fnv(const char *s, int len) {
        uint64_t h = 14695981039346656037ULL ^ (uint64_t)len;
        for (int i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
        return h;
    }
    static void an_intern_free(an_intern *t) {
        free(t->arena); free(t->off); free(t->len); free(t->hash); free(t->table);
        memset(t, 0, sizeof(*t));
    }
    static int an_intern_init(an_intern *t) {
        memset(t, 0, sizeof(*t));
        t->mask = 1023;
        t->table = (int*)malloc((t->mask + 1) * sizeof(int));
        if (!t->table) return -1;
        memset(t->table, 0xff, (t->mask + 1) * sizeof(int));
        return 0;
    }
    static int an_intern_rehash(an_intern *t) {
        size_t mask = t->mask * 2 + 1;
        int *table = (int*)malloc((mask + 1) * sizeof(int));
        if (!table) return -1;
        memset(table, 0xff, (mask + 1) * sizeof(int));
        for (int k = 0; k < t->n; k++) {
            size_t i = (size_t)t->hash[k] & mask;
            while (table[i] >= 0) i = (i + 1) & mask;
            table[i] = k;
        }
        free(t->table); t->table = table; t->mask = mask;
        return 0;
    }
    /* the code of s (added when new); -1 when out of memory or past 2**31 - 2 values */
    static int an_intern_get(an_intern *t, const char *s, int len) {
        uint64_t h = an_fnv(s, len);
        size_t i = (size_t)h & t->mask;
        int k;
        while ((k = t->table[i]) >= 0) {
            if (t->hash[k] == h && t->len[k] == len && memcmp(t->arena + t->off[k], s, (size_t)len) == 0) return k;
            i = (i + 1) & t->mask;
        }
        if (t->n >= 0x7ffffffe) return -1;
        if (t->n == t->ncap) {
            int ncap = t->ncap ? t->ncap * 2 : 256;
            size_t *off = (size_t*)realloc(t->off, ncap * sizeof(size_t));
            if (off) t->off = off;
            int *ln = (int*)realloc(t->len, ncap * sizeof(int));
            if (ln) t->len = ln;
            uint64_t *hs = (uint64_t*)realloc(t->hash, ncap * sizeof(uint64_t));
            if (hs) t->hash = hs;
            if (!off || !ln || !hs) return -1;
            t->ncap = ncap;
        }
        if (t->used + (size_t)len > t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 4096;
            while (cap < t->used + (size_t)len) cap *= 2;
            char *a = (char*)realloc(t->arena, cap);
            if (!a) return -1;
            t->arena = a; t->cap = cap;
        }
        if (len) memcpy(t->arena + t->used, s, (size_t)len);
        k = t->n++;
        t->off[k] = t->used; t->len[k] = len; t->hash[k] = h;
        t->used += (size_t)len;
        t->table[i] = k;
        if ((size_t)t->n * 2 > t->mask && an_intern_rehash(t) < 0) return -1;
        return k;
    }
    """
    ctypedef struct an_db "sqlite3"
    ctypedef struct an_stmt "sqlite3_stmt"
    ctypedef long long an_i64
    ctypedef void (*an_destructor)(void*)
    an_destructor AN_TRANSIENT
    ctypedef struct an_api_t:
        int (*open_v2)(const char*, an_db**, int, const char*) nogil
        int (*close_v2)(an_db*) nogil
        int (*busy_timeout)(an_db*, int) nogil
        int (*prepare_v2)(an_db*, const char*, int, an_stmt**, const char**) nogil
        int (*step)(an_stmt*) nogil
        int (*finalize)(an_stmt*) nogil
        int (*reset)(an_stmt*) nogil
        int (*clear_bindings)(an_stmt*) nogil
        int (*column_count)(an_stmt*) nogil
        int (*column_type)(an_stmt*, int) nogil
        an_i64 (*column_int64)(an_stmt*, int) nogil
        const unsigned char* (*column_text)(an_stmt*, int) nogil
        const void* (*column_blob)(an_stmt*, int) nogil
        int (*column_bytes)(an_stmt*, int) nogil
        const char* (*column_name)(an_stmt*, int) nogil
        int (*bind_parameter_count)(an_stmt*) nogil
        int (*bind_int64)(an_stmt*, int, an_i64) nogil
        int (*bind_double)(an_stmt*, int, double) nogil
        int (*bind_text)(an_stmt*, int, const char*, int, an_destructor) nogil
        int (*bind_blob)(an_stmt*, int, const void*, int, an_destructor) nogil
        int (*bind_null)(an_stmt*, int) nogil
        const char* (*errmsg)(an_db*) nogil
        const char* (*errstr)(int) nogil
        const char* (*db_filename)(an_db*, const char*) nogil
        const char* (*libversion)() nogil
        int (*extended_errcode)(an_db*) nogil
        int (*get_autocommit)(an_db*) nogil
    an_api_t an_api
    int AN_API_COUNT
    void an_set(int i, size_t addr)
    ctypedef struct an_intern:
        char* arena
        size_t* off
        int* len
        int n
    int an_intern_init(an_intern* t) nogil
    void an_intern_free(an_intern* t) nogil
    int an_intern_get(an_intern* t, const char* s, int len) nogil


API_NAMES = ("open_v2", "close_v2", "busy_timeout", "prepare_v2", "step", "finalize", "reset", "clear_bindings",
             "column_count", "column_type", "column_int64", "column_text", "column_blob", "column_bytes",
             "column_name", "bind_parameter_count", "bind_int64", "bind_double", "bind_text", "bind_blob",
             "bind_null", "errmsg", "errstr", "db_filename", "libversion", "extended_errcode", "get_autocommit")

# SQLite's constants (stable C API values)
cdef enum:
    SQLITE_OK = 0
    SQLITE_CONSTRAINT = 19
    SQLITE_ROW = 100
    SQLITE_DONE = 101
    SQLITE_INTEGER = 1
    SQLITE_FLOAT = 2
    SQLITE_TEXT = 3
    SQLITE_BLOB = 4
    SQLITE_NULL = 5
    SQLITE_OPEN_READONLY = 0x1
    SQLITE_OPEN_NOMUTEX = 0x8000

# column kinds
cdef enum:
    K_I8, K_I4, K_I2, K_I1, K_BYTES, K_CAT

# errors found while stepping without the GIL
cdef enum:
    E_NONE, E_SQLITE, E_NULL, E_LONG, E_RANGE, E_TYPE, E_MEMORY

cdef const char* EMPTY = ""
cdef Py_ssize_t ROWS_PER_PASS = 65_536  # rows stepped between two looks at signals (Ctrl-C) with the GIL


class Unavailable(RuntimeError):
    """The C path cannot be used here (no SQLite functions found, an in-memory database, an open write transaction,
    an unknown connection layout): take the Python path."""


def _find_api() -> tuple[list[int], str]:
    """Addresses of the API functions in the SQLite library `_sqlite3` is linked to, or ([], why not)."""
    if os.environ.get("ANATOLE_NO_FAST_SQLITE"):
        return [], "disabled by ANATOLE_NO_FAST_SQLITE"
    import ctypes

    try:
        import _sqlite3
    except ImportError as exc:
        return [], f"no _sqlite3 module: {exc}"
    candidates = []
    path = getattr(_sqlite3, "__file__", None)
    if path:
        candidates.append(path)  # dlsym on its handle searches the libraries it is linked to
    if sys.platform == "win32":
        candidates.append("sqlite3.dll")  # the copy _sqlite3.pyd already loaded
    errors = []
    for cand in candidates:
        try:
            lib = ctypes.CDLL(cand)
            addrs = [ctypes.cast(getattr(lib, "sqlite3_" + name), ctypes.c_void_p).value for name in API_NAMES]
        except (OSError, AttributeError) as exc:
            errors.append(f"{cand}: {exc}")
            continue
        if any(not a for a in addrs):
            errors.append(f"{cand}: a NULL address")
            continue
        version = ctypes.cast(addrs[API_NAMES.index("libversion")], ctypes.CFUNCTYPE(ctypes.c_char_p))()
        if version.decode() != sqlite3.sqlite_version:
            errors.append(f"{cand}: SQLite {version.decode()} is not Python's {sqlite3.sqlite_version}")
            continue
        return addrs, ""
    return [], "; ".join(errors) or "no library to look in"


def _init() -> tuple[bool, str]:
    if getattr(sqlite3, "threadsafety", 1) == 0:
        return False, "SQLite is built single-threaded (SQLITE_THREADSAFE=0): reads without the GIL are not safe"
    addrs, why = _find_api()
    if not addrs:
        return False, why
    if len(addrs) != AN_API_COUNT:
        return False, "API table size mismatch"
    for i, a in enumerate(addrs):
        an_set(i, <size_t>a)
    return True, ""


AVAILABLE, REASON = _init()


def _need() -> None:
    if not AVAILABLE:
        raise Unavailable(f"SQLite C functions not found ({REASON})")


cdef str _msg(const char* s):
    return s.decode("utf-8", "replace") if s != NULL else "unknown error"


cdef object _error(an_db* db, int rc, str what):
    """The sqlite3 exception Python's own module raises for this result code."""
    msg = _msg(an_api.errmsg(db)) if db != NULL else _msg(an_api.errstr(rc))
    cls = sqlite3.IntegrityError if (rc & 0xff) == SQLITE_CONSTRAINT else sqlite3.OperationalError
    return cls(f"{what}: {msg}")


cdef int _bind(an_stmt* stmt, int i, object v) except -1:
    """Bind one Python value (int, float, str, bytes-like, None) to parameter i (1-based)."""
    cdef bytes b
    cdef const unsigned char[::1] view
    cdef int rc
    if v is None:
        rc = an_api.bind_null(stmt, i)
    elif isinstance(v, int):
        rc = an_api.bind_int64(stmt, i, <an_i64>v)  # OverflowError past int64, as Python's module
    elif isinstance(v, float):
        rc = an_api.bind_double(stmt, i, <double>v)
    elif isinstance(v, str):
        b = (<str>v).encode("utf-8")
        rc = an_api.bind_text(stmt, i, <const char*>b, <int>len(b), AN_TRANSIENT)
    elif isinstance(v, (bytes, bytearray, memoryview)):
        view = memoryview(v).cast("B")
        rc = an_api.bind_blob(stmt, i, <const void*>(&view[0] if view.shape[0] else <const unsigned char*>""),
                              <int>view.shape[0], AN_TRANSIENT)
    else:
        raise sqlite3.ProgrammingError(f"parameter {i}: type {type(v).__name__} is not supported")
    if rc != SQLITE_OK:
        raise sqlite3.OperationalError(f"parameter {i}: {_msg(an_api.errstr(rc))}")
    return 0


cdef int _bind_all(an_stmt* stmt, object args) except -1:
    cdef int n = an_api.bind_parameter_count(stmt)
    if len(args) != n:
        raise sqlite3.ProgrammingError(f"Incorrect number of bindings supplied. The current statement uses {n}, "
                                       f"and there are {len(args)} supplied.")
    for i, v in enumerate(args):
        _bind(stmt, i + 1, v)
    return 0


cdef struct Col:
    int kind
    int width        # bytes per value (the item size; the text width for K_BYTES)
    char* data
    int nullable
    int cut          # K_BYTES: text longer than the width is cut (asked for by name), else an error
    an_i64 fill_int
    const char* fill_ptr
    int fill_len
    an_i64 lo, hi
    an_intern* cat
    int fill_code    # K_CAT: the code of the fill value, -1 until a NULL is met


cdef struct Run:
    an_db* db
    an_stmt* stmt
    Col* cols
    int ncols
    Py_ssize_t n       # rows written
    int err, err_col, err_len, rc
    int done


cdef void _step_rows(Run* r, Py_ssize_t cap) noexcept nogil:
    """Step until `cap` rows are written, the end, or an error (r.err)."""
    cdef int rc, j, t, ln, code
    cdef Col* c
    cdef an_i64 v
    cdef const char* p
    cdef char* dst
    while r.n < cap:
        rc = an_api.step(r.stmt)
        if rc == SQLITE_DONE:
            r.done = 1
            return
        if rc != SQLITE_ROW:
            r.err, r.rc = E_SQLITE, rc
            return
        for j in range(r.ncols):
            c = &r.cols[j]
            t = an_api.column_type(r.stmt, j)
            if c.kind <= K_I1:
                if t == SQLITE_INTEGER:
                    v = an_api.column_int64(r.stmt, j)
                    if v < c.lo or v > c.hi:
                        r.err, r.err_col = E_RANGE, j
                        return
                elif t == SQLITE_NULL and c.nullable:
                    v = c.fill_int
                else:
                    r.err, r.err_col, r.rc = (E_NULL if t == SQLITE_NULL else E_TYPE), j, t
                    return
                if c.kind == K_I8:
                    (<int64_t*>c.data)[r.n] = v
                elif c.kind == K_I4:
                    (<int*>c.data)[r.n] = <int>v
                elif c.kind == K_I2:
                    (<short*>c.data)[r.n] = <short>v
                else:
                    (<signed char*>c.data)[r.n] = <signed char>v
                continue
            if t == SQLITE_TEXT or t == SQLITE_INTEGER:
                p = <const char*>an_api.column_text(r.stmt, j)
                ln = an_api.column_bytes(r.stmt, j)
            elif t == SQLITE_BLOB:
                p = <const char*>an_api.column_blob(r.stmt, j)
                ln = an_api.column_bytes(r.stmt, j)
            elif t == SQLITE_NULL and c.nullable:
                p, ln = NULL, -1
            else:
                r.err, r.err_col, r.rc = (E_NULL if t == SQLITE_NULL else E_TYPE), j, t
                return
            if c.kind == K_BYTES:
                if ln < 0:
                    p, ln = c.fill_ptr, c.fill_len
                if ln > c.width:
                    if not c.cut:
                        r.err, r.err_col, r.err_len = E_LONG, j, ln
                        return
                    ln = c.width
                dst = c.data + r.n * c.width
                if ln > 0:
                    memcpy(dst, p, ln)
                if ln < c.width:
                    memset(dst + ln, 0, c.width - ln)
            else:
                if ln < 0:
                    if c.fill_code < 0:  # the fill is interned when first used
                        c.fill_code = an_intern_get(c.cat, c.fill_ptr if c.fill_len else EMPTY, c.fill_len)
                    code = c.fill_code
                    if code < 0:
                        r.err, r.err_col = E_MEMORY, j
                        return
                else:
                    code = an_intern_get(c.cat, p if p != NULL else EMPTY, ln)
                    if code < 0:
                        r.err, r.err_col = E_MEMORY, j
                        return
                (<int*>c.data)[r.n] = code
        r.n += 1


def _kind(kind: object) -> tuple[int, int, object]:
    """(kind code, width, numpy dtype) of a spec kind: i8/i4/i2/i1 (or their numpy dtypes), S<n>, cat."""
    import numpy as np

    if isinstance(kind, str) and kind == "cat":
        return K_CAT, 4, np.dtype(np.int32)
    dt = np.dtype(kind)
    if dt.kind == "S" and dt.itemsize > 0:
        return K_BYTES, dt.itemsize, dt
    codes = {np.dtype(np.int64): K_I8, np.dtype(np.int32): K_I4, np.dtype(np.int16): K_I2, np.dtype(np.int8): K_I1}
    if dt in codes:
        return codes[dt], dt.itemsize, dt
    raise ValueError(f"column kind {kind!r}: use int64, int32, int16, int8, S<n> (n > 0) or 'cat'")


def database_path(conn: sqlite3.Connection) -> str:
    """The file of a connection's main database; Unavailable for an in-memory or temporary one, or when the
    connection has uncommitted changes (another connection would not see them)."""
    path = ""
    for row in conn.execute("PRAGMA database_list"):
        if row[1] == "main":
            path = row[2] or ""
    if not path:
        raise Unavailable("an in-memory or temporary database cannot be opened a second time")
    if conn.in_transaction:
        raise Unavailable("the connection has uncommitted changes that another connection would not see")
    return path


def read_columns(source: object, sql: str, args: object = (), spec: object = (), *,
                 timeout: float = 5.0, cut: object = ()) -> dict:
    """Run one SELECT on a read-only connection of our own and return its columns as numpy arrays.

    `source`: a database file path, or a sqlite3.Connection whose file is read (its committed state).
    `spec`: one (name, kind, fill) per result column, in order. kind: int64/int32/int16/int8 (a value out of the
    type's range is an error), 'S<n>' (text or blob as bytes; longer than n is an error, never a silent cut), or
    'cat' (text as int32 codes in first-seen order, a NULL's fill too; the values, str, come under name + '_values'). fill: what a
    NULL becomes (int; bytes or str), None when a NULL is an error. `cut`: names of 'S<n>' columns whose longer
    text is cut at n bytes, deliberately. SQLite errors are sqlite3 exceptions
    (OperationalError: database is locked, no such table...); bad values are ValueError naming the column and row."""
    _need()
    import numpy as np

    if isinstance(source, sqlite3.Connection):
        path = database_path(source)
    else:
        path = os.fspath(source)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such database file")
    spec = [tuple(s) for s in spec]
    cut = {cut} if isinstance(cut, str) else set(cut)
    names = [s[0] for s in spec]
    if len(set(names)) != len(names):
        raise ValueError(f"column names repeat: {names}")
    cdef Py_ssize_t ncols = len(spec)
    cdef Run r
    memset(&r, 0, sizeof(Run))
    cdef Col* cols = <Col*>PyMem_Calloc(ncols or 1, sizeof(Col))
    if cols == NULL:
        raise MemoryError()
    r.cols, r.ncols = cols, <int>ncols
    arrays: list = []
    fills: list = []  # keeps the fill bytes alive
    cdef Py_ssize_t cap = 4096, j, limit
    cdef int rc
    cdef bytes bpath = os.fsencode(path)
    cdef bytes bsql = sql.encode("utf-8")
    cdef const char* cpath = bpath
    cdef const char* csql = bsql
    cdef int nsql = <int>len(bsql)
    cdef Col* c
    try:
        for j, (name, kind, fill) in enumerate(spec):
            c = &cols[j]
            k, width, dt = _kind(kind)
            c.kind, c.width = k, width
            c.nullable = fill is not None
            c.cut = name in cut
            if k <= K_I1:
                c.lo, c.hi = np.iinfo(dt).min, np.iinfo(dt).max
                if fill is not None:
                    if not (c.lo <= int(fill) <= c.hi):
                        raise ValueError(f"column {name}: fill {fill!r} does not fit {dt}")
                    c.fill_int = int(fill)
            elif fill is not None:
                fb = fill.encode("utf-8") if isinstance(fill, str) else bytes(fill)
                if k == K_BYTES and len(fb) > width:
                    raise ValueError(f"column {name}: fill {fill!r} is longer than {width} bytes")
                fills.append(fb)
                c.fill_ptr, c.fill_len = <const char*>(<bytes>fb), <int>len(fb)
            if k == K_CAT:
                c.cat = <an_intern*>PyMem_Calloc(1, sizeof(an_intern))
                if c.cat == NULL or an_intern_init(c.cat) < 0:
                    raise MemoryError()
                c.fill_code = -1
            arrays.append(np.empty(cap, dtype=dt))
            c.data = <char*><size_t>arrays[j].__array_interface__["data"][0]

        with nogil:
            rc = an_api.open_v2(cpath, &r.db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL)
        if rc != SQLITE_OK:
            raise _error(r.db, rc, f"{path}: cannot open")
        an_api.busy_timeout(r.db, <int>max(0, timeout * 1000))
        with nogil:
            rc = an_api.prepare_v2(r.db, csql, nsql, &r.stmt, NULL)
        if rc != SQLITE_OK:
            raise _error(r.db, rc, f"{path}")
        if r.stmt == NULL:
            raise ValueError("no SQL statement")
        if an_api.column_count(r.stmt) != ncols:
            got = [_msg(an_api.column_name(r.stmt, i)) for i in range(an_api.column_count(r.stmt))]
            raise ValueError(f"the query returns {len(got)} columns {got}, the spec names {ncols}: {names}")
        _bind_all(r.stmt, args if args is not None else ())

        while not r.done:
            if r.n == cap:
                cap = cap * 2
                for j in range(ncols):
                    arrays[j].resize(cap, refcheck=False)
                    cols[j].data = <char*><size_t>arrays[j].__array_interface__["data"][0]
            limit = min(cap, r.n + ROWS_PER_PASS)
            with nogil:
                _step_rows(&r, limit)
            if r.err:
                _raise(&r, spec)
            PyErr_CheckSignals()  # Ctrl-C between passes: raises the handler's exception
        out = {}
        for j in range(ncols):
            arrays[j].resize(r.n, refcheck=False)
            name = spec[j][0]
            out[name] = arrays[j]
            if cols[j].kind == K_CAT:
                t = cols[j].cat
                vals = np.empty(t.n, dtype=object)
                for i in range(t.n):
                    try:
                        vals[i] = t.arena[t.off[i]:t.off[i] + t.len[i]].decode("utf-8")
                    except UnicodeDecodeError as exc:
                        raise ValueError(f"column {name}: text is not UTF-8 ({exc})") from None
                out[name + "_values"] = vals
        return out
    finally:
        if r.stmt != NULL:
            an_api.finalize(r.stmt)
        if r.db != NULL:
            an_api.close_v2(r.db)
        for j in range(ncols):
            if cols[j].cat != NULL:
                an_intern_free(cols[j].cat)
                PyMem_Free(cols[j].cat)
        PyMem_Free(cols)


cdef int _raise(Run* r, list spec) except -1:
    cdef int j = r.err_col
    row = r.n + 1
    if r.err == E_SQLITE:
        raise _error(r.db, r.rc, "reading")
    name, kind = spec[j][0], spec[j][1]
    if r.err == E_NULL:
        raise ValueError(f"column {name}, row {row}: NULL where a value is required")
    if r.err == E_LONG:
        raise ValueError(f"column {name}, row {row}: {r.err_len} bytes do not fit {kind} (text is never cut)")
    if r.err == E_RANGE:
        raise ValueError(f"column {name}, row {row}: {an_api.column_int64(r.stmt, j)} is out of range for {kind}")
    if r.err == E_TYPE:
        what = {SQLITE_FLOAT: "a real number", SQLITE_TEXT: "text", SQLITE_BLOB: "a blob"}.get(r.rc, "a value")
        raise ValueError(f"column {name}, row {row}: {what} where {kind} is expected")
    raise MemoryError(f"column {name}, row {row}: out of memory")


# --- bulk binds into a Python connection's transaction -------------------------------------------------------

cdef extern from "Python.h":
    bint PyLong_CheckExact(object o)
    bint PyUnicode_CheckExact(object o)
    bint PyBytes_CheckExact(object o)
    bint PyFloat_CheckExact(object o)
    char* PyBytes_AS_STRING(object o)
    Py_ssize_t PyBytes_GET_SIZE(object o)

cdef extern from *:
    """
    #define AN_STATIC ((an_destructor)0)
    """
    an_destructor AN_STATIC


cdef an_db* _handle(conn: sqlite3.Connection) except NULL:
    """The sqlite3* of a Python connection: `sqlite3 *db` follows PyObject_HEAD in CPython 3.8-3.13's
    pysqlite_Connection; checked against the connection's own answer for its file before any use."""
    if sys.implementation.name != "cpython" or not (3, 8) <= sys.version_info[:2] <= (3, 13):
        raise Unavailable(f"no known sqlite3.Connection layout for {sys.implementation.name} "
                          f"{sys.version_info[0]}.{sys.version_info[1]}")
    if not isinstance(conn, sqlite3.Connection):
        raise TypeError("a sqlite3.Connection is needed")
    path = ""
    for row in conn.execute("PRAGMA database_list"):  # also Python's own checks: open, same thread
        if row[1] == "main":
            path = row[2] or ""
    if not path:
        raise Unavailable("an in-memory or temporary database: the handle cannot be checked by its file name")
    cdef an_db* db = (<an_db**>((<char*><PyObject*>conn) + sizeof(PyObject)))[0]
    if db == NULL or (<size_t>db) % sizeof(void*) != 0:
        raise Unavailable("no database handle where CPython keeps it")
    cdef const char* name = an_api.db_filename(db, "main")
    if name == NULL or name.decode("utf-8", "surrogateescape") != path:
        raise Unavailable("the handle found does not name the connection's file")
    return db


cdef int _bind_fast(an_stmt* stmt, int i, object v) except -1:
    """_bind for the common exact types without a copy (SQLITE_STATIC: the row keeps the values alive while its
    statement steps)."""
    cdef const char* p
    cdef Py_ssize_t n
    cdef int rc
    if PyLong_CheckExact(v):
        rc = an_api.bind_int64(stmt, i, PyLong_AsLongLong(v))
    elif PyUnicode_CheckExact(v):
        p = PyUnicode_AsUTF8AndSize(v, &n)
        rc = an_api.bind_text(stmt, i, p, <int>n, AN_STATIC)
    elif v is None:
        rc = an_api.bind_null(stmt, i)
    elif PyBytes_CheckExact(v):
        rc = an_api.bind_blob(stmt, i, PyBytes_AS_STRING(v), <int>PyBytes_GET_SIZE(v), AN_STATIC)
    elif PyFloat_CheckExact(v):
        rc = an_api.bind_double(stmt, i, PyFloat_AS_DOUBLE(v))
    else:
        return _bind(stmt, i, v)
    if rc != SQLITE_OK:
        raise sqlite3.OperationalError(f"parameter {i}: {_msg(an_api.errstr(rc))}")
    return 0


def insert_rows(conn: sqlite3.Connection, sql: str, rows: object) -> int:
    """executemany(sql, rows) with the values bound in C on the connection's own handle, inside its transaction
    (opened as executemany would, when Python's implicit transactions are on): the caller commits. One statement
    of DML; values int, float, str, bytes-like or None. Errors are the sqlite3 exceptions executemany raises
    (IntegrityError for a constraint), the rows before the bad one inserted, as with executemany. Unavailable when
    the handle cannot be found and checked: use executemany. Returns the rows inserted."""
    _need()
    cdef an_db* db = _handle(conn)
    legacy = getattr(conn, "autocommit", -1) == getattr(sqlite3, "LEGACY_TRANSACTION_CONTROL", -1)
    if legacy and conn.isolation_level is not None and not conn.in_transaction:
        conn.execute(f"BEGIN {conn.isolation_level}")  # as executemany: before the first row, even with none
    cdef bytes bsql = sql.encode("utf-8")
    cdef an_stmt* stmt = NULL
    cdef const char* tail = NULL
    cdef int rc, i, nparams
    cdef Py_ssize_t done = 0
    rc = an_api.prepare_v2(db, bsql, <int>len(bsql), &stmt, &tail)
    if rc != SQLITE_OK:
        raise _error(db, rc, "insert_rows")
    try:
        if stmt == NULL:
            raise sqlite3.ProgrammingError("no SQL statement")
        if tail != NULL and (<bytes>tail).strip(b" \t\r\n;"):
            raise sqlite3.ProgrammingError("You can only execute one statement at a time.")
        if an_api.column_count(stmt):
            raise sqlite3.ProgrammingError("insert_rows() runs DML statements that return no rows")
        nparams = an_api.bind_parameter_count(stmt)
        for row in rows:
            # the values stay referenced by `items` until the step: SQLITE_STATIC binds point into them
            items = row if type(row) is tuple or type(row) is list else list(row)
            if len(items) != nparams:
                raise sqlite3.ProgrammingError(f"Incorrect number of bindings supplied. The current statement uses "
                                               f"{nparams}, and there are {len(items)} supplied.")
            for i in range(nparams):
                _bind_fast(stmt, i + 1, items[i])
            rc = an_api.step(stmt)
            if rc != SQLITE_DONE:
                rc = an_api.reset(stmt)  # the statement's error code
                raise _error(db, rc, f"row {done + 1}")
            an_api.reset(stmt)
            done += 1
        return done
    finally:
        an_api.finalize(stmt)
