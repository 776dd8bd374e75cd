import Foundation  // libm: log, exp

/// The usual numbers of one sample (latencies, accuracies over seeds), for tables and JSON.
public struct SampleSummary: Codable, Sendable, Equatable {
    public var count: Int
    public var mean: Double
    /// Sample standard deviation (n - 1); 0 for a single value.
    public var standardDeviation: Double
    public var min: Double
    /// Type-7 quantiles (see `Statistics.quantile`).
    public var q25: Double
    public var median: Double
    public var q75: Double
    public var p95: Double
    public var max: Double
}

/// The ratio of paired positive measurements `b_i / a_i` (latency of B over A, measured
/// interleaved), as a geometric mean with its interval.
public struct RatioEstimate: Codable, Sendable, Equatable {
    /// `exp(mean(log(b_i / a_i)))`: the geometric mean of the ratios.
    public var ratio: Double
    /// The interval of that ratio: the t interval of the mean log ratio, exponentiated.
    public var interval: Interval
    /// The pairs' ratios summarised (their spread).
    public var ratios: SampleSummary
}

extension Statistics {
    /// Count, mean, sample standard deviation (0 when n = 1), min, the 0.25, 0.5, 0.75 and 0.95
    /// type-7 quantiles, max. Needs n >= 1, finite values.
    public static func summary(_ xs: [Double]) throws -> SampleSummary {
        try check(xs, "summary", needed: 1)
        let q = try quantiles(xs, [0, 0.25, 0.5, 0.75, 0.95, 1])
        return SampleSummary(count: xs.count, mean: try mean(xs), standardDeviation: xs.count > 1 ? try standardDeviation(xs) : 0,
                             min: q[0], q25: q[1], median: q[2], q75: q[3], p95: q[4], max: q[5])
    }

    /// The ratio of paired positive measurements (B over A, pair by pair): with `r_i = log(b_i / a_i)`,
    /// the estimate is `exp(mean(r))` and the interval is `exp` of `meanInterval(r, level)`, Student
    /// t with n - 1 degrees of freedom (default level 0.95). Pairing removes the drift both share
    /// (a machine getting busier), and logs make "B is 2x slower" and "A is 2x faster" symmetric.
    /// Assumes the log ratios are independent and near-normal in their mean; an interval that
    /// contains 1 means no detectable difference. Needs n >= 2 pairs of positive finite values.
    /// scipy: `r = np.log(b / a); np.exp(stats.t.interval(level, n - 1, r.mean(), stats.sem(r)))`.
    public static func pairedRatio(_ a: [Double], _ b: [Double], level: Double = 0.95) throws -> RatioEstimate {
        try check(a, "paired ratio (a)", needed: 2)
        try check(b, "paired ratio (b)", needed: 2)
        guard a.count == b.count else { throw StatisticsError.invalidArgument("paired ratio needs as many a as b values: \(a.count) vs \(b.count)") }
        if let i = a.indices.first(where: { a[$0] <= 0 || b[$0] <= 0 }) {
            throw StatisticsError.invalidArgument("paired ratio needs positive values; pair \(i) is (\(a[i]), \(b[i]))")
        }
        let logs = zip(a, b).map { log($0.1 / $0.0) }
        let i = try meanInterval(logs, level: level)
        return RatioEstimate(ratio: exp(try mean(logs)), interval: Interval(low: exp(i.low), high: exp(i.high), level: level),
                             ratios: try summary(zip(a, b).map { $0.1 / $0.0 }))
    }
}
