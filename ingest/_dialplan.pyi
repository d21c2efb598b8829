"""Types of the compiled dial plan (ingest/_dialplan.pyx)."""

import numpy as np

WIDTH: int

class Tables:
    def __init__(self, outside: bytes, national: bytes, international: bytes, area: bytes, cc: bytes,
                 ext_lo: bytes, ext_hi: bytes, ext_len: np.ndarray, dfa: np.ndarray, accept: np.ndarray,
                 emergency: int, short_general: int, short_code: int, short_general_lengths: int,
                 short_code_lengths: int, short_ok: bool, site_npp: int, site_idd: int, cc_index: np.ndarray,
                 cc_npp: np.ndarray, reason: np.ndarray, no_plan: bool, npp_literal: bool, npp_lits: bytes,
                 npp_lit_len: np.ndarray, main_general: int, strip_lengths: int) -> None: ...
    def __reduce__(self) -> tuple[type[Tables], tuple[object, ...]]: ...  # pickled as its arguments

def normalise_slices(tables: Tables, buf: np.ndarray, off: np.ndarray, ln: np.ndarray, rows: np.ndarray,
                     as_dialled: bool, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
