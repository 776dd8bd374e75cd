/// The statistics `explain --seeds` reports: the gap between the two sides over seeds (Welch's
/// interval and test, Mann-Whitney U, Levene, from `Statistics.compare`), and paired estimates
/// (a knob's effect, the minimal set's, what is left unexplained) as a mean over seeds with its
/// Student t interval (`Statistics.meanInterval`).
extension ExplainReport {
    /// The mean of per-seed values with its confidence interval: `mean +- t_{(1+level)/2, n-1} * s / sqrt(n)`.
    /// Per-seed values are differences of two runs on the same seed (a variant of A minus A), so
    /// the interval is a paired one: seed noise that both runs share cancels.
    public struct Estimate: Codable, Sendable, Equatable {
        public var mean: Double
        /// `ci95` in JSON: `[low, high]` (at the report's `confidence`, 0.95 unless changed).
        public var interval: Interval
        /// The per-seed values, in seed order.
        public var values: [Double]

        enum CodingKeys: String, CodingKey { case mean, ci95, values }

        public init(mean: Double, interval: Interval, values: [Double]) {
            self.mean = mean; self.interval = interval; self.values = values
        }

        /// From per-seed values (at least two, finite).
        public init(_ values: [Double], level: Double) throws {
            self.init(mean: try Statistics.mean(values), interval: try Statistics.meanInterval(values, level: level), values: values)
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            mean = try c.decode(Double.self, forKey: .mean)
            let ci = try c.decode([Double].self, forKey: .ci95)
            interval = Interval(low: ci.first ?? .nan, high: ci.last ?? .nan, level: 0.95)
            values = try c.decode([Double].self, forKey: .values)
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(mean, forKey: .mean)
            try c.encode([interval.low, interval.high], forKey: .ci95)
            try c.encode(values, forKey: .values)
        }

        /// The interval excludes 0.
        public var excludesZero: Bool { interval.low > 0 || interval.high < 0 }
    }

    /// The gap B - A over seeds, as Pham et al. (ASE 2020) compare two training setups: the
    /// difference of the means with Welch's interval and t test (`significant`: p below
    /// 1 - confidence, the same statement as "the interval excludes 0"), Mann-Whitney U (does one
    /// side tend to be higher?) and Levene's test (do the spreads differ?).
    public struct Gap: Encodable, Sendable, Equatable {
        public var comparison: TwoSampleComparison

        public init(_ comparison: TwoSampleComparison) { self.comparison = comparison }

        /// `mean(B) - mean(A)`.
        public var mean: Double { comparison.difference.difference }
        public var interval: Interval { comparison.difference.interval }
        /// Welch's two-sided p-value.
        public var pValue: Double { comparison.difference.test.pValue }
        public var significant: Bool { comparison.significant }

        enum CodingKeys: String, CodingKey {
            case mean, ci95, pValue, significant, standardError, degreesOfFreedom, test, rank, spread
        }

        /// `{mean, ci95: [low, high], pValue, significant, standardError, degreesOfFreedom, test,
        /// rank: {statistic, pValue, method}, spread: {statistic, pValue, method}}`.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(mean, forKey: .mean)
            try c.encode([interval.low, interval.high], forKey: .ci95)
            try c.encode(pValue, forKey: .pValue)
            try c.encode(significant, forKey: .significant)
            try c.encode(comparison.difference.standardError, forKey: .standardError)
            try c.encode(comparison.difference.degreesOfFreedom, forKey: .degreesOfFreedom)
            try c.encode(comparison.difference.test.method, forKey: .test)
            try c.encode(comparison.rank, forKey: .rank)
            try c.encode(comparison.spread, forKey: .spread)
        }

        /// How far apart the interval's ends are, as a factor (`|far end| / |near end|`), when the
        /// gap is significant: a share of the gap is uncertain by as much. nil when not significant.
        public var precisionFactor: Double? {
            guard significant else { return nil }
            let lo = min(abs(interval.low), abs(interval.high)), hi = max(abs(interval.low), abs(interval.high))
            return lo > 0 ? hi / lo : nil
        }
    }

    /// Whether a share of the gap means something, and whether it was clamped.
    public enum ShareStatus: String, Codable, Sendable {
        /// effect / gap, within `shareRange`.
        case measured
        /// The effect alone is more than `shareRange.upperBound` times the gap (reported as that bound).
        case aboveRange = "above-range"
        /// The effect alone opposes the gap by more than `-shareRange.lowerBound` times it (reported as the bound).
        case belowRange = "below-range"
        /// The gap is within seed noise: a share of it would be noise divided by noise.
        case gapNotSignificant = "gap-not-significant"
        /// A difference that leaves A bit-identical: it has no effect to share.
        case noEffect = "no-effect"
    }

    /// Shares are reported within [-100%, +200%]: a single difference whose effect is larger
    /// (in either direction) interacts with others, and its effect in points says by how much.
    public static let shareRange: ClosedRange<Double> = -1...2

    /// `effect / gap` clamped to `shareRange`, with its status; nil when the gap is not significant.
    static func share(_ effect: Double, of gap: Gap) -> (Double?, ShareStatus) {
        guard gap.significant, gap.mean != 0 else { return (nil, .gapNotSignificant) }
        let s = effect / gap.mean
        if s > shareRange.upperBound { return (shareRange.upperBound, .aboveRange) }
        if s < shareRange.lowerBound { return (shareRange.lowerBound, .belowRange) }
        return (s, .measured)
    }
}
