"""Type stubs for the compiled rating kernel (engine/_rate.pyx)."""

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

MIN_SLICE: int  # the fewest calls given a thread of their own by threads=N
MODES: dict[str, int]
SOURCE_KEYS: tuple[str, ...]
FAST_DTYPE: np.dtype[Any]
HOT_DTYPE: np.dtype[Any]
SCHEME_DTYPE: np.dtype[Any]
EFF_LIMIT: int
SCHEME_LIMIT: int  # schemes kept (at most 65,535; tests lower it)
KSCHEME_DTYPE: np.dtype[Any]  # a Scheme as the kernel reads it (64 bytes)
HOT16_DTYPE: np.dtype[Any]  # what rate_simple reads of a HotRec (16 bytes)
IREC_DTYPE: np.dtype[Any]  # an interval's prefix, the rate of a band column and its HOT16 (24 bytes)
SINCE_LIMIT: int  # distinct effective dates a HOT16 can index (at most 65,536; tests lower it)
MAGIC_SHIFT: int  # 40: n // inc == (n * magic(inc)) >> MAGIC_SHIFT for n < 2**21
MAX_MAGIC_INC: int  # increments the reciprocals divide exactly (2**18 excluded)
HUGE_PAGE: int
USE_HUGE_PAGES: bool  # tables of 2 MiB and more in mappings of their own, for huge pages (tests turn it off)

class RateTables:
    key_len: int
    top_digits: int
    n_bands: int
    mode: int
    anchor_zero: int
    split: int
    n_prefixes: int
    n_rates: int
    denom: int
    quantum: int
    inc_quantum: int
    def __init__(self, tables: Mapping[str, Any]) -> None: ...
    def __reduce__(self) -> tuple[type[RateTables], tuple[dict[str, Any]]]: ...  # pickled as its arrays
    def rate(
        self,
        digits: npt.NDArray[np.bytes_],
        start: npt.NDArray[np.int64],
        duration: npt.NDArray[np.int32],
        out: dict[str, np.ndarray] | None = None,
        threads: int = 1,
    ) -> dict[str, np.ndarray]: ...
    def rate_keys(
        self,
        keys: npt.NDArray[np.uint64],
        start: npt.NDArray[np.int64],
        duration: npt.NDArray[np.int32],
        out: dict[str, np.ndarray] | None = None,
        threads: int = 1,
    ) -> dict[str, np.ndarray]: ...
    def keys_slice(
        self,
        keys: npt.NDArray[np.uint64],
        start: npt.NDArray[np.int64],
        duration: npt.NDArray[np.int32],
        out: dict[str, np.ndarray],
        parts: Any,
        lo: int,
        hi: int,
    ) -> None: ...
    def digits_slice(
        self,
        arr: npt.NDArray[np.bytes_],
        start: npt.NDArray[np.int64],
        duration: npt.NDArray[np.int32],
        out: dict[str, np.ndarray],
        parts: Any,
        lo: int,
        hi: int,
    ) -> None: ...
    def kernel_bytes(self) -> dict[str, int]: ...
    def rate_baseline(
        self,
        digits: npt.NDArray[np.bytes_],
        start: npt.NDArray[np.int64],
        duration: npt.NDArray[np.int32],
        out: dict[str, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]: ...

def number_keys(
    digits: npt.NDArray[np.bytes_], out: npt.NDArray[np.uint64] | None = None
) -> npt.NDArray[np.uint64]: ...
def aligned(a: np.ndarray) -> np.ndarray: ...  # a copy on a 64-byte boundary (2 MiB, huge pages, from 2 MiB up)
def aligned_empty(n: int, dtype: Any) -> np.ndarray: ...  # placed as aligned() places its copies
def magic(inc: Any) -> Any: ...  # ceil(2**40 / inc), per increment
def kernel_schemes(schemes: np.ndarray, denom: int, anchor_zero: bool) -> np.ndarray: ...  # KSCHEME_DTYPE
def first_bits_table(starts: np.ndarray, bits: int) -> np.ndarray: ...  # int32, 2**bits + 1 entries
def resolved_rates(
    band_rate: npt.NDArray[np.int32], parent: npt.NDArray[np.int32], cols: int
) -> npt.NDArray[np.int32]: ...  # (n_prefixes, cols): each column's rate, ancestors resolved (-1: none)
def interval_records(
    iv_prefix: npt.NDArray[np.int32], res: npt.NDArray[np.int32], h16: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray: ...  # IREC_DTYPE, one per interval and band column
def compact_records(hot: np.ndarray, simple: npt.ArrayLike | None = None, denom: int = 1, limit: int | None = None
                    ) -> tuple[np.ndarray, npt.NDArray[np.int64]]: ...  # (HOT16_DTYPE, dates)
def rounding_offset(divisor: int, mode: int) -> tuple[int, int]: ...  # (add, tie) of rate_simple's rounding
def fast_records(rate_rec: np.ndarray, slot_rec: np.ndarray) -> np.ndarray: ...
def factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...  # (ranks int64, distinct ascending)
def hot_records(fast: np.ndarray, simple: bool) -> tuple[np.ndarray, np.ndarray]: ...  # (HOT_DTYPE, SCHEME_DTYPE)
def reciprocal(divisor: int) -> tuple[int, int]: ...
def floor_div_by_multiplying(n: int, divisor: int) -> int: ...
def build_intervals(
    lo: npt.NDArray[np.uint64], hi: npt.NDArray[np.uint64], order: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int32], npt.NDArray[np.int32]]: ...
