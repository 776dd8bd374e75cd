/// Two samples of one measurement compared the way Pham et al. (ASE 2020) compare training
/// variance: the difference of means with its interval, a rank test and a variance test. The
/// shape of `explain --seeds` (accuracy of side A and side B over seeds) and of a study's points.
public struct TwoSampleComparison: Codable, Sendable, Equatable {
    public var a: SampleSummary
    public var b: SampleSummary
    /// `mean(b) - mean(a)` with Welch's interval and t test.
    public var difference: MeanDifference
    /// Mann-Whitney U (two-sided): does one side tend to be larger?
    public var rank: TestResult
    /// Levene's test (median centre): do the spreads differ? nil with fewer than 3 values on a
    /// side: two values deviate equally from their median, so the test divides rounding noise
    /// by rounding noise (W of 1e28 or inf from two seeds a side).
    public var spread: TestResult?
    /// The difference is significant at `1 - interval.level`: Welch's p-value below it, which is
    /// the same statement as "the interval excludes 0", so the two never contradict each other.
    public var significant: Bool
}

extension Statistics {
    /// Compares `b` against `a` (each at least 2 finite values): summaries, Welch's difference of
    /// means at `level` (default 0.95), Mann-Whitney U and Levene's test. `significant` follows
    /// Welch's test at `alpha = 1 - level`; the rank and variance tests are reported beside it, not
    /// combined with it (a reader sees when they disagree). With few seeds (fewer than ~5 a side)
    /// no test has much power: "not significant" then means "not shown", not "no gap".
    public static func compare(_ a: [Double], _ b: [Double], level: Double = 0.95) throws -> TwoSampleComparison {
        let difference = try welch(a, b, level: level)
        return TwoSampleComparison(a: try summary(a), b: try summary(b), difference: difference,
                                   rank: try mannWhitneyU(a, b), spread: a.count >= 3 && b.count >= 3 ? try levene([a, b]) : nil,
                                   significant: difference.test.pValue < 1 - level)
    }
}
