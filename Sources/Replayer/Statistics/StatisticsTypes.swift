import Foundation  // LocalizedError

/// Typed results of the statistics toolkit (`Statistics`): values, never text. The command line's
/// presentation code renders them; JSON reports carry them as they are (`Codable`).

/// Which computation produced a p-value: the test and, where a test has several, how the null
/// distribution was obtained. Stable raw values, so JSON reports can name the method.
public enum TestMethod: String, Codable, Sendable, CaseIterable {
    /// Welch's unequal-variance t test (Student t with Welch-Satterthwaite degrees of freedom).
    case welchT = "welch-t"
    /// One-sample Student t test (n - 1 degrees of freedom).
    case studentT = "student-t"
    /// Mann-Whitney U, exact null distribution of U (no ties, a sample of at most 8).
    case mannWhitneyExact = "mann-whitney-exact"
    /// Mann-Whitney U, normal approximation with tie correction and continuity correction 1/2.
    case mannWhitneyNormal = "mann-whitney-normal"
    /// Levene's test with the median as centre (Brown-Forsythe), F distribution.
    case leveneMedian = "levene-median"
    /// McNemar's test, exact: a two-sided binomial test of the discordant counts at p = 1/2.
    case mcNemarExact = "mcnemar-exact"
    /// McNemar's test, chi-square with one degree of freedom and Edwards' continuity correction.
    case mcNemarChiSquare = "mcnemar-chi-square"
    /// Exact two-sided binomial test (outcomes no more likely than the one observed).
    case binomialExact = "binomial-exact"
}

/// The outcome of a hypothesis test: the statistic as the method defines it, the two-sided
/// p-value, and the method. `statistic` is `U` of the first sample for Mann-Whitney, `W` for Levene,
/// `t` for t tests, the corrected chi-square for McNemar's approximation and the smaller
/// discordant count for its exact form, the observed proportion k / n for the binomial test.
public struct TestResult: Codable, Sendable, Equatable {
    public var statistic: Double
    public var pValue: Double
    public var method: TestMethod

    public init(statistic: Double, pValue: Double, method: TestMethod) {
        self.statistic = statistic
        self.pValue = pValue
        self.method = method
    }

    /// `pValue < alpha` (default 0.05).
    public func isSignificant(at alpha: Double = 0.05) -> Bool { pValue < alpha }
}

/// A two-sided confidence interval `[low, high]` at confidence `level` (0.95 for 95%).
public struct Interval: Codable, Sendable, Equatable {
    public var low: Double
    public var high: Double
    public var level: Double

    public init(low: Double, high: Double, level: Double) {
        self.low = low
        self.high = high
        self.level = level
    }

    public var width: Double { high - low }
    /// `low <= x <= high`.
    public func contains(_ x: Double) -> Bool { low <= x && x <= high }
}

/// The difference of two means `mean(b) - mean(a)` with Welch's interval and test.
public struct MeanDifference: Codable, Sendable, Equatable {
    /// `mean(b) - mean(a)`.
    public var difference: Double
    /// Standard error `sqrt(s_a^2/n_a + s_b^2/n_b)`.
    public var standardError: Double
    /// Welch-Satterthwaite degrees of freedom (non-integer in general).
    public var degreesOfFreedom: Double
    /// Confidence interval of the difference.
    public var interval: Interval
    /// Welch's t test of "the means are equal" (two-sided).
    public var test: TestResult
}

/// Why a statistic cannot be computed from the values given.
public enum StatisticsError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `what` needs at least `needed` values and got `got`.
    case tooFewValues(what: String, needed: Int, got: Int)
    /// A value is NaN or infinite (`index` in the sample named `what`).
    case nonFinite(what: String, index: Int)
    /// A parameter outside its domain (a level outside (0, 1), a negative count...).
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .tooFewValues(what, needed, got):
            return "\(what) needs at least \(needed) values, got \(got)"
        case let .nonFinite(what, index):
            return "\(what): value \(index) is NaN or infinite"
        case let .invalidArgument(message):
            return message
        }
    }
}

extension StatisticsError: LocalizedError {
    public var errorDescription: String? { description }
}

/// The statistics toolkit: descriptive statistics, intervals, rank, variance and paired tests,
/// the bootstrap. Pure functions of their arguments (randomness only through a generator passed
/// in). Each function's doc comment states its formula, assumptions and defaults; the tests check
/// them against scipy 1.17.
public enum Statistics {
    /// Throws unless `xs` has at least `needed` values, all finite.
    static func check(_ xs: [Double], _ what: String, needed: Int) throws {
        guard xs.count >= needed else { throw StatisticsError.tooFewValues(what: what, needed: needed, got: xs.count) }
        if let i = xs.firstIndex(where: { !$0.isFinite }) { throw StatisticsError.nonFinite(what: what, index: i) }
    }

    /// Throws unless `0 < level < 1`.
    static func check(level: Double) throws {
        guard level > 0, level < 1 else {
            throw StatisticsError.invalidArgument("confidence level must be in (0, 1), got \(level)")
        }
    }
}
