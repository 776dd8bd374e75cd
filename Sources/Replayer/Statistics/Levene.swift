extension Statistics {
    /// Levene's test of equal variances with the median as centre (Brown and Forsythe, 1974;
    /// scipy's default `center="median"`), robust to non-normal data.
    ///
    /// With `k` groups, `N` values in all, `Z_ij = |Y_ij - median_i|`, `Zbar_i` the mean of
    /// group i's `Z` and `Zbar` the mean of all `Z`:
    /// `W = (N - k) / (k - 1) * sum_i n_i (Zbar_i - Zbar)^2 / sum_i sum_j (Z_ij - Zbar_i)^2`,
    /// and `p = P(F_{k-1, N-k} > W)`.
    ///
    /// Assumes independent observations. Needs at least two groups, each with at least one
    /// value, and `N > k`. When no group varies around its own centre (the denominator is 0),
    /// `W = 0`, p = 1 if the groups' mean deviations are also equal, else `W = inf`, p = 0
    /// (scipy returns NaN for 0/0). scipy: `stats.levene(*groups)`.
    public static func levene(_ groups: [[Double]]) throws -> TestResult {
        guard groups.count >= 2 else { throw StatisticsError.tooFewValues(what: "Levene's test (groups)", needed: 2, got: groups.count) }
        for (i, g) in groups.enumerated() { try check(g, "Levene's test (group \(i))", needed: 1) }
        let k = Double(groups.count)
        let total = groups.reduce(0) { $0 + $1.count }
        guard total > groups.count else {
            throw StatisticsError.tooFewValues(what: "Levene's test (values in all groups, more than the number of groups)", needed: groups.count + 1, got: total)
        }
        let deviations = try groups.map { g -> [Double] in
            let centre = try median(g)
            return g.map { abs($0 - centre) }
        }
        let groupMeans = deviations.map { compensatedSum($0) / Double($0.count) }
        let grandMean = compensatedSum(deviations.flatMap { $0 }) / Double(total)
        let between = compensatedSum(zip(deviations, groupMeans).map { Double($0.count) * ($1 - grandMean) * ($1 - grandMean) })
        let within = compensatedSum(zip(deviations, groupMeans).flatMap { z, m in z.map { ($0 - m) * ($0 - m) } })
        let n = Double(total)
        let w: Double
        if within == 0 {
            w = between == 0 ? 0 : .infinity
        } else {
            w = (n - k) / (k - 1) * between / within
        }
        return TestResult(statistic: w, pValue: FDistribution(d1: k - 1, d2: n - k).sf(w), method: .leveneMedian)
    }
}
