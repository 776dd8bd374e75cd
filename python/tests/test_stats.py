"""Per-tensor statistics (cwrepro.stats), against their definition."""

import math

import numpy as np

from cwrepro.stats import statistics


def test_finite_values():
    s = statistics(np.array([[1.0, -2.0], [3.0, 0.5]], np.float32))
    assert (s.nonfinite, s.min, s.max) == (0, -2.0, 3.0)
    assert s.mean == 2.5 / 4
    assert s.l2 == math.sqrt(1 + 4 + 9 + 0.25)


def test_nonfinite_elements_are_counted_and_left_out():
    s = statistics(np.array([np.nan, 1.0, np.inf, -np.inf, -3.0], np.float32))
    assert s.nonfinite == 3
    assert (s.min, s.max, s.mean, s.l2) == (-3.0, 1.0, -1.0, math.sqrt(10.0))


def test_nothing_finite_gives_nulls():
    for a in (np.zeros((0,), np.float32), np.zeros((2, 0), np.float32), np.array([np.nan, np.inf], np.float32)):
        s = statistics(a)
        assert (s.min, s.max, s.mean, s.l2) == (None, None, None, None)
        assert s.to_json()["mean"] is None
    assert statistics(np.array([np.nan, np.inf], np.float32)).nonfinite == 2


def test_integers_and_scalars():
    s = statistics(np.array([3, 1, 4], np.int32))
    assert (s.nonfinite, s.min, s.max, s.mean, s.l2) == (0, 1.0, 4.0, 8 / 3, math.sqrt(26))
    s = statistics(np.array(2.5, np.float32))
    assert (s.min, s.max, s.mean, s.l2) == (2.5, 2.5, 2.5, 2.5)


def test_sum_is_sequential_in_float64_not_pairwise():
    # 1e16 + 1 + 1 + ... : a sequential Float64 sum drops every 1 (ulp(1e16) = 2), a pairwise
    # one keeps some; the definition is sequential, so the mean is exactly 1e16 / n.
    a = np.array([1e16] + [1.0] * 1000, np.float64).astype(np.float32)
    x = a.astype(np.float64)
    seq = 0.0
    for v in x:
        seq += v
    s = statistics(a)
    assert s.mean == seq / x.size
    sq = 0.0
    for v in x:
        sq += v * v
    assert s.l2 == math.sqrt(sq)


def test_zero_is_positive():
    s = statistics(np.array([-0.0, -0.0], np.float32))
    assert math.copysign(1, s.min) == 1 and math.copysign(1, s.max) == 1 and math.copysign(1, s.mean) == 1
