"""Per-tensor summary statistics, as cwrepro records store them (docs/trace-format.md).

- `nonfinite`: the number of NaN and +-Inf elements (0 for integer tensors).
- Over the finite elements only, each converted exactly to Float64 and accumulated
  sequentially in row-major index order (element 0 first, one accumulator starting at +0.0):
  `min`, `max`, `mean` = sum / n_finite, `l2` = sqrt(sum of x*x) (each square rounded to
  Float64 before it is added; no fused multiply-add).
- When no element is finite (an empty tensor, or all NaN/Inf) `min`, `max`, `mean` and `l2`
  are None (JSON null).

Integer tensors: the same over their values (all finite). A zero `min` or `max` is +0.0 (never
-0.0), as is a zero sum (the accumulator starts at +0.0, and x + -x is +0.0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

__all__ = ["TensorStats", "statistics"]


@dataclass(frozen=True)
class TensorStats:
    nonfinite: int
    min: Optional[float]
    max: Optional[float]
    mean: Optional[float]
    l2: Optional[float]

    def to_json(self) -> dict:
        return {"nonfinite": self.nonfinite, "min": self.min, "max": self.max, "mean": self.mean, "l2": self.l2}


def _sequential_sum(x: np.ndarray) -> float:
    """Sum in index order with one Float64 accumulator (numpy's `sum` is pairwise: not the same bits)."""
    if x.size == 0:
        return 0.0
    return float(np.cumsum(x, dtype=np.float64)[-1])


def statistics(array: np.ndarray) -> TensorStats:
    """Statistics of a canonical tensor (float32 or an integer type), as defined above."""
    a = np.asarray(array).reshape(-1)
    if a.dtype.kind == "f":
        finite_mask = np.isfinite(a)
        nonfinite = int(a.size - np.count_nonzero(finite_mask))
        x = a[finite_mask].astype(np.float64) if nonfinite else a.astype(np.float64)
    elif a.dtype.kind in "iub":
        nonfinite = 0
        x = a.astype(np.float64)
    else:
        raise TypeError(f"statistics: unsupported numpy dtype {a.dtype}")
    n = x.size
    if n == 0:
        return TensorStats(nonfinite, None, None, None, None)
    total = _sequential_sum(x) + 0.0
    squares = _sequential_sum(x * x)
    return TensorStats(nonfinite, float(x.min()) + 0.0, float(x.max()) + 0.0, total / n, math.sqrt(squares))
