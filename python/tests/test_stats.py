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


def reference_sums(values):
    """cwrepro's order written out as loops: element i into lane i mod 16, lanes combined pairwise."""
    s, q = [0.0] * 16, [0.0] * 16
    for i, v in enumerate(values):
        d = float(v) if math.isfinite(v) else 0.0
        s[i % 16] += d
        q[i % 16] += d * d
    w = 8
    while w >= 1:
        for j in range(w):
            s[j] += s[j + w]
            q[j] += q[j + w]
        w //= 2
    return s[0], q[0]


def test_sums_follow_cwrepros_16_lane_order_bit_for_bit():
    rng = np.random.default_rng(5)
    for n in (1, 15, 16, 17, 33, 1000, 4099):
        a = (rng.standard_normal(n) * 10.0 ** rng.integers(-8, 8, n)).astype(np.float32)
        if n > 16:
            a[rng.integers(0, n, n // 50)] = np.nan
        total, squares = reference_sums(a)
        s = statistics(a)
        finite = int(np.isfinite(a).sum())
        assert s.mean == total / finite and s.l2 == math.sqrt(squares), n


def test_the_order_matters_and_is_not_sequential_or_pairwise():
    # 1e16 then ones: in 16 lanes the ones accumulate apart from 1e16 and survive; a single
    # sequential accumulator drops each of them (ulp(1e16) = 2).
    a = np.array([1e16] + [1.0] * 1000, np.float32)
    seq = 0.0
    for v in a.astype(np.float64):
        seq += v
    s = statistics(a)
    assert s.mean == reference_sums(a)[0] / a.size
    assert s.mean != seq / a.size


def test_zero_is_positive():
    s = statistics(np.array([-0.0, -0.0], np.float32))
    assert math.copysign(1, s.min) == 1 and math.copysign(1, s.max) == 1 and math.copysign(1, s.mean) == 1
