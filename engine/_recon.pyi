"""Type stubs for the compiled reconciliation kernel (engine/_recon.pyx)."""

from typing import Any

import numpy as np
import numpy.typing as npt

CLASS_NAMES: tuple[str, str, str, str, str]
MAX_LINES: int
MAX_AMOUNT: int
MAX_SPAN: int

def match(
    inv_number: npt.NDArray[np.int64],
    inv_start: npt.NDArray[np.int64],
    inv_duration: npt.NDArray[np.int32],
    inv_amount: npt.NDArray[np.int64],
    cdr_number: npt.NDArray[np.int64],
    cdr_start: npt.NDArray[np.int64],
    cdr_duration: npt.NDArray[np.int32],
    cdr_amount: npt.NDArray[np.int64],
    tol_start: int,
    tol_duration: int,
    tol_amount: int,
) -> dict[str, Any]: ...
