/// Confidence intervals of a mean and of a difference of two means (Student t), with the
/// matching t tests.
extension Statistics {
    /// The confidence interval of the mean of `xs` at `level` (default 0.95):
    /// `m +- t_{(1+level)/2, n-1} * s / sqrt(n)`, with `m` the mean, `s` the sample standard
    /// deviation (n - 1) and `t` the Student t quantile with n - 1 degrees of freedom.
    /// Assumes independent draws whose mean is close to normal (true for accuracies over seeds
    /// unless n is tiny and the distribution very skewed). Needs n >= 2; a sample of equal
    /// values gives the degenerate interval `[m, m]`. scipy: `stats.t.interval(level, n-1, m, s/sqrt(n))`.
    public static func meanInterval(_ xs: [Double], level: Double = 0.95) throws -> Interval {
        try check(xs, "mean interval", needed: 2)
        try check(level: level)
        let m = try mean(xs), s = try standardDeviation(xs)
        let half = StudentT(degreesOfFreedom: Double(xs.count - 1)).quantile((1 + level) / 2) * s / Double(xs.count).squareRoot()
        return Interval(low: m - half, high: m + half, level: level)
    }

    /// The one-sample t test of "the mean of `xs` is `mu`" (default 0), two-sided:
    /// `t = (m - mu) / (s / sqrt n)` against Student t with n - 1 degrees of freedom. Needs n >= 2.
    /// Equal values: `t = +-inf` and p = 0 unless `m == mu` (t = 0, p = 1).
    /// scipy: `stats.ttest_1samp(xs, mu)`.
    public static func oneSampleT(_ xs: [Double], mu: Double = 0) throws -> TestResult {
        try check(xs, "one-sample t test", needed: 2)
        let m = try mean(xs), se = try standardDeviation(xs) / Double(xs.count).squareRoot()
        return tTest(difference: m - mu, standardError: se, degreesOfFreedom: Double(xs.count - 1), method: .studentT)
    }

    /// The difference of means `mean(b) - mean(a)` with Welch's confidence interval at `level`
    /// (default 0.95) and Welch's two-sided t test of equal means.
    ///
    /// - Standard error: `se = sqrt(s_a^2 / n_a + s_b^2 / n_b)` (sample variances, n - 1).
    /// - Degrees of freedom (Welch-Satterthwaite):
    ///   `df = se^4 / ((s_a^2/n_a)^2 / (n_a - 1) + (s_b^2/n_b)^2 / (n_b - 1))`.
    /// - Interval: `d +- t_{(1+level)/2, df} * se`; test: `t = d / se`, `p = 2 P(T_df > |t|)`.
    ///
    /// Assumes two independent samples with near-normal means; does not assume equal variances
    /// (the reason to prefer it to Student's pooled test when the two sides' seed spreads differ).
    /// Needs n >= 2 on each side. When both samples are constant (`se = 0`) the interval is
    /// `[d, d]`, df is `n_a + n_b - 2`, and p is 1 if `d = 0`, else 0 (scipy returns NaN there).
    /// scipy: `stats.ttest_ind(b, a, equal_var=False)` and its `.confidence_interval(level)`.
    public static func welch(_ a: [Double], _ b: [Double], level: Double = 0.95) throws -> MeanDifference {
        try check(a, "Welch's test (sample a)", needed: 2)
        try check(b, "Welch's test (sample b)", needed: 2)
        try check(level: level)
        let na = Double(a.count), nb = Double(b.count)
        let va = try variance(a) / na, vb = try variance(b) / nb
        let d = try mean(b) - mean(a)
        let se = (va + vb).squareRoot()
        let df = se == 0 ? na + nb - 2 : (va + vb) * (va + vb) / (va * va / (na - 1) + vb * vb / (nb - 1))
        let half = StudentT(degreesOfFreedom: df).quantile((1 + level) / 2) * se
        return MeanDifference(difference: d, standardError: se, degreesOfFreedom: df,
                              interval: Interval(low: d - half, high: d + half, level: level),
                              test: tTest(difference: d, standardError: se, degreesOfFreedom: df, method: .welchT))
    }

    /// `t = difference / se`, two-sided p from Student t (the degenerate `se = 0` as documented above).
    static func tTest(difference d: Double, standardError se: Double, degreesOfFreedom df: Double, method: TestMethod) -> TestResult {
        if se == 0 {
            return TestResult(statistic: d == 0 ? 0 : d > 0 ? .infinity : -.infinity, pValue: d == 0 ? 1 : 0, method: method)
        }
        let t = d / se
        return TestResult(statistic: t, pValue: min(1, 2 * StudentT(degreesOfFreedom: df).sf(abs(t))), method: method)
    }
}
