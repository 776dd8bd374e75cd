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


def _lane_sums(x: np.ndarray) -> Tuple[float, float]:
    """(sum, sum of squares) of the Float64 vector x in cwrepro's order: x[i] into lane i mod 16,
    each lane sequential from +0.0, lanes combined pairwise."""
    pad = (-x.size) % LANES
    rows = np.concatenate([np.zeros(LANES), x, np.zeros(pad)]).reshape(-1, LANES)
    # cumsum along axis 0 adds row by row, one lane per column: the sequential per-lane sum
    # (the leading row of +0.0 is each lane's starting value; trailing +0.0 change nothing).
    s = np.cumsum(rows, axis=0)[-1].copy()
    q = np.cumsum(rows * rows, axis=0)[-1].copy()
    w = LANES // 2
    while w >= 1:
        s[:w] += s[w:2 * w]
        q[:w] += q[w:2 * w]
        w //= 2
    return float(s[0]), float(q[0])


def statistics(array: np.ndarray) -> TensorStats:
    """Statistics of a tensor (float32, float64 or an integer type), as defined above."""
    a = np.asarray(array).reshape(-1)
    if a.dtype.kind == "f":
        finite = np.isfinite(a)
        nonfinite = int(a.size - np.count_nonzero(finite))
        x = np.where(finite, a, 0).astype(np.float64)
        values = a[finite] if nonfinite else a
    elif a.dtype.kind in "iub":
        nonfinite = 0
        x = a.astype(np.float64)
        values = a
    else:
        raise TypeError(f"statistics: unsupported numpy dtype {a.dtype}")
    n = a.size - nonfinite
    if n == 0:
        return TensorStats(nonfinite, None, None, None, None)
    with np.errstate(over="ignore", invalid="ignore"):
        total, squares = _lane_sums(x)
    mean, l2 = total / n, math.sqrt(squares) if squares == squares else float("nan")
    return TensorStats(nonfinite, float(values.min()) + 0.0, float(values.max()) + 0.0,
                       None if math.isnan(mean) else mean, None if math.isnan(l2) else l2)
