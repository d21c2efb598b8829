import numpy as np

RADIX: tuple[int, ...]

def fact_codes(
    buf: bytes | bytearray, rows: np.ndarray, o_inv: np.ndarray, t_inv: np.ndarray, l_inv: np.ndarray,
    c_inv: np.ndarray, d_inv: np.ndarray, dial_kind: np.ndarray, o_cls: np.ndarray, t_cls: np.ndarray,
    t_start: np.ndarray, t_len: np.ndarray, t_dp: np.ndarray, low_code: np.ndarray, low_dp: np.ndarray,
    caller_kind: np.ndarray, dialled_kind: np.ndarray, t_off: np.ndarray, d_off: np.ndarray, d_len: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]: ...
def apply_decisions(
    rows: np.ndarray, inverse: np.ndarray, direction_of: np.ndarray, rule_of: np.ndarray, service_of: np.ndarray,
    extension_of: np.ndarray, trunk_of: np.ndarray, called_of: np.ndarray, off: np.ndarray, ln: np.ndarray,
    cols: np.ndarray, o_inv: np.ndarray, t_inv: np.ndarray, o_start: np.ndarray, o_len: np.ndarray,
    t_start: np.ndarray, t_len: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
def pick_numbers(
    rows: np.ndarray, direction: np.ndarray, d_inv: np.ndarray, c_inv: np.ndarray, o_inv: np.ndarray, c_base: int,
    o_base: int, kind: np.ndarray, c_len: np.ndarray, same: np.ndarray, external: int, incoming: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
def statuses(
    direction: np.ndarray, service: np.ndarray, number: np.ndarray, kind: np.ndarray, by_direction: np.ndarray,
    by_kind: np.ndarray, internal_call: int, service_status: int,
) -> np.ndarray: ...
