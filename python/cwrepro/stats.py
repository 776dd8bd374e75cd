"""Per-tensor statistics, exactly as cwrepro records store them (docs/record-format.md section 2,
docs/trace-format.md section 3; Sources/Recorder/TensorStats.swift and Sources/CTensorStats).

- `nonfinite`: the number of NaN and +-Inf elements (0 for integer tensors).
- Over the finite elements only, each converted exactly to Float64: `min`, `max`,
  `mean` = sum / n_finite, `l2` = sqrt(sum of x*x) (each square rounded to Float64 before it is
  added; no fused multiply-add).
- Summation order (cwrepro's, so the bits agree): element i (row-major index, non-finite
  elements counting as +0.0) is added into accumulator i mod 16; the 16 accumulators start at
  +0.0 and are combined pairwise at the end: acc[j] += acc[j + w] for w = 8, 4, 2, 1 (j < w).
- When no element is finite (an empty tensor, or all NaN/Inf) `min`, `max`, `mean` and `l2`
  are None (JSON null). A zero `min` or `max` is +0.0 (never -0.0).

Integer tensors: the same over their values.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

__all__ = ["TensorStats", "statistics", "LANES"]

#: Accumulators of the sums (cwrepro's blocked order).
LANES = 16


@dataclass(frozen=True)
class TensorStats:
    nonfinite: int
    min: Optional[float]
    max: Optional[float]
    mean: Optional[float]
    l2: Optional[float]

    def to_json(self) -> dict:
        return {"nonfinite": self.nonfinite, "min": self.min, "max": self.max, "mean": self.mean, "l2": self.l2}


def _combine(s: list, q: list) -> Tuple[float, float]:
    w = LANES // 2
    while w >= 1:
        for j in range(w):
            s[j] += s[j + w]
            q[j] += q[j + w]
        w //= 2
    return s[0], q[0]


#: Rows of 16 elements converted to Float64 at a time (bounded memory, buffers that stay in cache).
_CHUNK_ROWS = 4096
_buffers = threading.local()


def _chunk_buffers() -> Tuple[np.ndarray, np.ndarray]:
    """Two [_CHUNK_ROWS + 1, 16] Float64 buffers per thread, reused (fresh ones cost page faults)."""
    b = getattr(_buffers, "pair", None)
    if b is None:
        b = _buffers.pair = (np.empty((_CHUNK_ROWS + 1, LANES)), np.empty((_CHUNK_ROWS + 1, LANES)))
    return b


def _lane_sums(a: np.ndarray, finite: Optional[np.ndarray]) -> Tuple[float, float]:
    """(sum, sum of squares) of a 1-D numeric array in cwrepro's order: element i (as Float64;
    +0.0 where `finite` is False) into lane i mod 16, each lane sequential from +0.0, the lanes
    combined pairwise."""
    n = a.size
    if n <= 64:  # Python floats are IEEE binary64: the same additions, without numpy's call overhead
        x = a.astype(np.float64)
        if finite is not None:
            x[~finite] = 0.0
        s, q = [0.0] * LANES, [0.0] * LANES
        for i, v in enumerate(x.tolist()):
            s[i & 15] += v
            q[i & 15] += v * v
        return _combine(s, q)
    rows = n // LANES
    acc_s, acc_q = np.zeros(LANES), np.zeros(LANES)
    buf_s, buf_q = _chunk_buffers()
    for start in range(0, rows, _CHUNK_ROWS):
        r = min(_CHUNK_ROWS, rows - start)
        bs, bq = buf_s[:r + 1], buf_q[:r + 1]
        # Row 0 holds the lanes so far: a reduction over axis 0 of a C-contiguous [rows, 16] array
        # adds the rows one after another into the 16 column accumulators (numpy sums pairwise
        # only along the contiguous axis), so each lane continues sequentially.
        bs[0], bq[0] = acc_s, acc_q
        np.copyto(bs[1:], a[start * LANES:(start + r) * LANES].reshape(r, LANES), casting="unsafe")
        if finite is not None:
            bad = ~finite[start * LANES:(start + r) * LANES].reshape(r, LANES)
            if bad.any():
                bs[1:][bad] = 0.0
        np.multiply(bs[1:], bs[1:], out=bq[1:])
        acc_s, acc_q = np.add.reduce(bs, axis=0), np.add.reduce(bq, axis=0)
    if rows * LANES < n:  # the last partial row: its elements go last into lanes 0, 1, ...
        tail = a[rows * LANES:].astype(np.float64)
        if finite is not None:
            tail[~finite[rows * LANES:]] = 0.0
        acc_s[:tail.size] += tail
        acc_q[:tail.size] += tail * tail
    return _combine(acc_s.tolist(), acc_q.tolist())


def statistics(array: np.ndarray) -> TensorStats:
    """Statistics of a tensor (float32, float64 or an integer type), as defined above."""
    a = np.asarray(array).reshape(-1)
    if a.dtype.kind not in "fiub":
        raise TypeError(f"statistics: unsupported numpy dtype {a.dtype}")
    finite = None
    nonfinite = 0
    if a.dtype.kind == "f":
        finite = np.isfinite(a)
        nonfinite = int(a.size - np.count_nonzero(finite))
        if nonfinite == 0:
            finite = None
    n = a.size - nonfinite
    if n == 0:
        return TensorStats(nonfinite, None, None, None, None)
    values = a[finite] if finite is not None else a
    lo, hi = float(values.min()) + 0.0, float(values.max()) + 0.0
    if a.dtype.itemsize > 4:  # float64 and int64 sums can overflow (to +-Inf; the mean may be NaN)
        with np.errstate(over="ignore", invalid="ignore"):
            total, squares = _lane_sums(a, finite)
    else:
        total, squares = _lane_sums(a, finite)
    mean, l2 = total / n, math.sqrt(squares) if squares == squares else float("nan")
    return TensorStats(nonfinite, lo, hi, None if math.isnan(mean) else mean, None if math.isnan(l2) else l2)
