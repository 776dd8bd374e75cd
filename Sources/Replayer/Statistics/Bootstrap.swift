extension Statistics {
    /// The bootstrap confidence interval of `mean(b) - mean(a)`, percentile method (Efron and
    /// Tibshirani 1993, ch. 13): `resamples` times (default 10,000), draw `n_a` values from `a` and
    /// `n_b` from `b` with replacement, independently, and take the difference of their means;
    /// the interval is the type-7 `(1 - level)/2` and `(1 + level)/2` quantiles of those
    /// differences (level default 0.95).
    ///
    /// Assumes independent observations within and between the samples; makes no normality
    /// assumption, but undercovers for small samples: in a simulation here (normal data, 2,000
    /// data sets, 2,000 resamples each) a nominal 95% interval covered the true difference 81% of
    /// the time with 3 values a side, 88% with 5, 92% with 10 and 93.5% with 20. Prefer `welch`
    /// for a handful of seeds and use the bootstrap as a check. Deterministic for a given
    /// generator state: per resample, b's indices then a's are drawn with
    /// `uniformIndex(below:using:)`, so the interval is a function of the data and the generator
    /// alone (`SplitMix64` for a documented stream; any `RandomNumberGenerator` works). Needs at
    /// least one value a side and `resamples >= 2`.
    /// scipy (different generator, same estimator):
    /// `stats.bootstrap((b, a), lambda y, x: y.mean() - x.mean(), method="percentile")`.
    public static func bootstrapMeanDifference(_ a: [Double], _ b: [Double], resamples: Int = 10_000,
                                               level: Double = 0.95, generator: inout some RandomNumberGenerator) throws -> Interval {
        try bootstrap(a, b, resamples: resamples, level: level, generator: &generator) { x, y in
            compensatedSum(y) / Double(y.count) - compensatedSum(x) / Double(x.count)
        }
    }

    /// The percentile bootstrap interval of any two-sample `statistic(a*, b*)` (a ratio of medians
    /// of latencies, a difference of standard deviations...): `resamples` times, resample `a` and
    /// `b` with replacement (b's indices, then a's), evaluate the statistic; the interval is the
    /// type-7 `(1 - level)/2` and `(1 + level)/2` quantiles of the values. Same assumptions and
    /// small-sample caveat as `bootstrapMeanDifference`. Non-finite statistic values are an error.
    public static func bootstrap(_ a: [Double], _ b: [Double], resamples: Int = 10_000, level: Double = 0.95,
                                 generator: inout some RandomNumberGenerator,
                                 statistic: ([Double], [Double]) -> Double) throws -> Interval {
        try check(a, "bootstrap (sample a)", needed: 1)
        try check(b, "bootstrap (sample b)", needed: 1)
        try check(level: level)
        guard resamples >= 2 else { throw StatisticsError.invalidArgument("the bootstrap needs at least 2 resamples, got \(resamples)") }
        var values = [Double](repeating: 0, count: resamples)
        var x = a, y = b
        for r in 0..<resamples {
            resample(b, into: &y, &generator)
            resample(a, into: &x, &generator)
            values[r] = statistic(x, y)
        }
        let q = try quantiles(values, [(1 - level) / 2, (1 + level) / 2])
        return Interval(low: q[0], high: q[1], level: level)
    }

    /// `bootstrapMeanDifference` with a fresh `SplitMix64(seed: seed)`.
    public static func bootstrapMeanDifference(_ a: [Double], _ b: [Double], resamples: Int = 10_000,
                                               level: Double = 0.95, seed: UInt64) throws -> Interval {
        var generator = SplitMix64(seed: seed)
        return try bootstrapMeanDifference(a, b, resamples: resamples, level: level, generator: &generator)
    }

    /// Fills `out` (of `xs.count` values) with draws from `xs` with replacement.
    static func resample(_ xs: [Double], into out: inout [Double], _ generator: inout some RandomNumberGenerator) {
        for i in xs.indices { out[i] = xs[uniformIndex(below: xs.count, using: &generator)] }
    }
}
