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


def _lane_sums(x: np.ndarray) -> Tuple[float, float]:
    """(sum, sum of squares) of the Float64 vector x in cwrepro's order: x[i] into lane i mod 16,
    each lane sequential from +0.0, lanes combined pairwise."""
    n = x.size
    if n <= 64:  # Python floats are IEEE binary64: the same additions, without numpy's call overhead
        s, q = [0.0] * LANES, [0.0] * LANES
        for i, v in enumerate(x.tolist()):
            s[i & 15] += v
            q[i & 15] += v * v
        return _combine(s, q)
    body = n - n % LANES
    if body:
        # A reduction over axis 0 of a C-contiguous [rows, 16] array adds the rows one after
        # another into the 16 column accumulators (numpy sums pairwise only along the contiguous
        # axis): each lane is the sequential sum, starting from `initial` = +0.0.
        rows = x[:body].reshape(-1, LANES)
        lanes = np.add.reduce(rows, axis=0, initial=0.0)
        squares = np.add.reduce(rows * rows, axis=0, initial=0.0)
    else:
        lanes, squares = np.zeros(LANES), np.zeros(LANES)
    if body < n:  # the last partial row: elements body.. go last into lanes 0..
        tail = x[body:]
        lanes[:tail.size] += tail
        squares[:tail.size] += tail * tail
    return _combine(lanes.tolist(), squares.tolist())


def statistics(array: np.ndarray) -> TensorStats:
    """Statistics of a tensor (float32, float64 or an integer type), as defined above."""
    a = np.asarray(array).reshape(-1)
    if a.dtype.kind == "f":
        x = a.astype(np.float64)
        finite = np.isfinite(x)
        nonfinite = int(a.size - np.count_nonzero(finite))
        values = x
        if nonfinite:
            values = x[finite]
            x[~finite] = 0.0
    elif a.dtype.kind in "iub":
        nonfinite = 0
        x = values = a.astype(np.float64)
    else:
        raise TypeError(f"statistics: unsupported numpy dtype {a.dtype}")
    n = a.size - nonfinite
    if n == 0:
        return TensorStats(nonfinite, None, None, None, None)
    if a.dtype.itemsize > 4:  # float64 and int64 sums can overflow (to +-Inf; the mean may be NaN)
        with np.errstate(over="ignore", invalid="ignore"):
            total, squares = _lane_sums(x)
    else:
        total, squares = _lane_sums(x)
    mean, l2 = total / n, math.sqrt(squares) if squares == squares else float("nan")
    return TensorStats(nonfinite, float(values.min()) + 0.0, float(values.max()) + 0.0,
                       None if math.isnan(mean) else mean, None if math.isnan(l2) else l2)
