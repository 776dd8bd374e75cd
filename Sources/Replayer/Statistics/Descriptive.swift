/// Descriptive statistics of a sample `x_1 ... x_n` (finite values; NaN or infinity is an error,
/// never silently skipped).
extension Statistics {
    /// The arithmetic mean `sum(x_i) / n`, summed with Neumaier's compensation (error independent
    /// of n, like numpy's pairwise sum or better). Needs n >= 1.
    public static func mean(_ xs: [Double]) throws -> Double {
        try check(xs, "mean", needed: 1)
        return compensatedSum(xs) / Double(xs.count)
    }

    /// The sample variance `s^2 = sum((x_i - m)^2) / (n - 1)` (Bessel's correction, numpy's
    /// `var(ddof=1)`), two passes with the compensated mean, `m` the mean. Needs n >= 2.
    public static func variance(_ xs: [Double]) throws -> Double {
        try check(xs, "sample variance", needed: 2)
        let m = compensatedSum(xs) / Double(xs.count)
        let squares = compensatedSum(xs.map { ($0 - m) * ($0 - m) })
        let residual = compensatedSum(xs.map { $0 - m })  // rounding left in m (corrected two-pass)
        return max(0, (squares - residual * residual / Double(xs.count)) / Double(xs.count - 1))
    }

    /// The sample standard deviation `s = sqrt(s^2)` with the n - 1 denominator (numpy's
    /// `std(ddof=1)`, scipy's default in its tests). Needs n >= 2.
    public static func standardDeviation(_ xs: [Double]) throws -> Double {
        try variance(xs).squareRoot()
    }

    /// The `p`-quantile, `0 <= p <= 1`, by linear interpolation between order statistics:
    /// Hyndman and Fan's type 7, the default of numpy (`method="linear"`) and R. With the sorted
    /// sample `x_(0) <= ... <= x_(n-1)`, `h = (n - 1) p`, it is
    /// `x_(floor h) + (h - floor h) (x_(floor h + 1) - x_(floor h))`. Needs n >= 1.
    public static func quantile(_ xs: [Double], _ p: Double) throws -> Double {
        try quantiles(xs, [p])[0]
    }

    /// `quantile(xs, p)` for every `p` in `ps`, sorting once.
    public static func quantiles(_ xs: [Double], _ ps: [Double]) throws -> [Double] {
        try check(xs, "quantile", needed: 1)
        if let bad = ps.first(where: { !($0 >= 0 && $0 <= 1) }) {
            throw StatisticsError.invalidArgument("quantile probability must be in [0, 1], got \(bad)")
        }
        let sorted = xs.sorted()
        return ps.map { sortedQuantile(sorted, $0) }
    }

    /// The median: the 0.5-quantile of type 7 (the middle value, or the mean of the two middle
    /// values when n is even). Needs n >= 1.
    public static func median(_ xs: [Double]) throws -> Double {
        try quantile(xs, 0.5)
    }

    /// Type-7 quantile of an already sorted, non-empty sample.
    static func sortedQuantile(_ sorted: [Double], _ p: Double) -> Double {
        let h = Double(sorted.count - 1) * p
        let lo = Int(h.rounded(.down))
        let hi = min(lo + 1, sorted.count - 1)
        let frac = h - Double(lo)
        return frac == 0 ? sorted[lo] : sorted[lo] + frac * (sorted[hi] - sorted[lo])
    }

    /// `sum(xs)` with Neumaier's improved Kahan-Babuska compensation.
    static func compensatedSum(_ xs: [Double]) -> Double {
        var sum = 0.0, c = 0.0
        for x in xs {
            let t = sum + x
            c += abs(sum) >= abs(x) ? (sum - t) + x : (x - t) + sum
            sum = t
        }
        return sum + c
    }
}
