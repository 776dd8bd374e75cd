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
        try check(a, "bootstrap (sample a)", needed: 1)
        try check(b, "bootstrap (sample b)", needed: 1)
        try check(level: level)
        guard resamples >= 2 else { throw StatisticsError.invalidArgument("the bootstrap needs at least 2 resamples, got \(resamples)") }
        var differences = [Double](repeating: 0, count: resamples)
        for r in 0..<resamples {
            differences[r] = resampledMean(b, &generator) - resampledMean(a, &generator)
        }
        let q = try quantiles(differences, [(1 - level) / 2, (1 + level) / 2])
        return Interval(low: q[0], high: q[1], level: level)
    }

    /// `bootstrapMeanDifference` with a fresh `SplitMix64(seed: seed)`.
    public static func bootstrapMeanDifference(_ a: [Double], _ b: [Double], resamples: Int = 10_000,
                                               level: Double = 0.95, seed: UInt64) throws -> Interval {
        var generator = SplitMix64(seed: seed)
        return try bootstrapMeanDifference(a, b, resamples: resamples, level: level, generator: &generator)
    }

    /// The mean of `xs.count` values drawn from `xs` with replacement.
    static func resampledMean(_ xs: [Double], _ generator: inout some RandomNumberGenerator) -> Double {
        var sum = 0.0
        for _ in xs.indices { sum += xs[uniformIndex(below: xs.count, using: &generator)] }
        return sum / Double(xs.count)
    }
}
