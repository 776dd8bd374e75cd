import Engine
import Recorder

/// What a study keeps of `explain --seeds` at one point: the part of an `ExplainReport` that the
/// summary and the report page show. It is Codable (unlike `ExplainReport`, which is Encodable
/// only), so a study caches it in `explanations/<key>.json` and reads it back on the next
/// collect; `summary.json`'s `explanations[].explain` is this value's JSON.
///
/// Accuracies are fractions (0.1 = 10 points); the gap and every effect are B - A (or the variant
/// of A minus A), over `seeds`.
public struct StudyExplanation: Codable, Sendable, Equatable {
    /// The test-accuracy gap B - A: the difference of the means with Welch's interval and p-value.
    public struct Gap: Codable, Sendable, Equatable {
        public var mean: Double
        public var interval: Interval
        /// Welch's two-sided p-value.
        public var pValue: Double
        /// p below 1 - confidence (the interval excludes 0).
        public var significant: Bool

        /// `{mean, ci95: [low, high], pValue, significant}`, as `explain --json`'s gap writes them.
        enum CodingKeys: String, CodingKey { case mean, ci95, pValue, significant }

        public init(mean: Double, interval: Interval, pValue: Double, significant: Bool) {
            self.mean = mean; self.interval = interval; self.pValue = pValue; self.significant = significant
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            mean = try c.decode(Double.self, forKey: .mean)
            let ci = try c.decode([Double].self, forKey: .ci95)
            guard ci.count == 2 else { throw DecodingError.dataCorruptedError(forKey: .ci95, in: c, debugDescription: "expected [low, high]") }
            interval = Interval(low: ci[0], high: ci[1], level: 0.95)
            pValue = try c.decode(Double.self, forKey: .pValue)
            significant = try c.decode(Bool.self, forKey: .significant)
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(mean, forKey: .mean)
            try c.encode([interval.low, interval.high], forKey: .ci95)
            try c.encode(pValue, forKey: .pValue)
            try c.encode(significant, forKey: .significant)
        }
    }

    /// One difference between A and B, applied to A alone.
    public struct Knob: Codable, Sendable, Equatable {
        public var knob: String
        public var kind: Explain.Item.Kind
        /// The value in A and in B (nil: absent from that side's config).
        public var a: JSON?
        public var b: JSON?
        /// On the first seed; nil when the variant is bit-identical to A.
        public var firstDivergentStep: Int?
        public var firstDivergentTensor: String?
        /// Test accuracy of the variant minus A's, per seed, with its mean and paired interval
        /// (nil when the variant is bit-identical to A).
        public var accuracyEffect: ExplainReport.Estimate?
        /// `accuracyEffect.mean / gap.mean`, clamped to `ExplainReport.shareRange` (nil unless the gap is significant).
        public var gapShare: Double?
        public var gapShareStatus: ExplainReport.ShareStatus
        public var inMinimalSet: Bool
    }

    /// The seeds both sides ran under.
    public var seeds: [UInt64]
    /// Confidence level of every interval (0.95).
    public var confidence: Double
    public var gap: Gap
    public var verdict: ExplainReport.Verdict
    /// A 1-minimal set of differences that reproduces the gap (empty unless the gap is significant).
    public var minimalSet: [String]
    /// The minimal set's effect over the gap, clamped to `ExplainReport.shareRange`.
    public var explainedShare: Double?
    public var explainedShareStatus: ExplainReport.ShareStatus
    /// B's first divergent tensor against A on the first seed (nil: bit-identical).
    public var firstDivergence: ExplainReport.FirstDivergence?
    /// Every difference, knobs first.
    public var knobs: [Knob]

    public init(_ r: ExplainReport) {
        seeds = r.seeds
        confidence = r.confidence
        gap = Gap(mean: r.gap.mean, interval: r.gap.interval, pValue: r.gap.pValue, significant: r.gap.significant)
        verdict = r.verdict
        minimalSet = r.minimalSet
        explainedShare = r.explainedShare
        explainedShareStatus = r.explainedShareStatus
        firstDivergence = r.firstDivergence
        knobs = r.knobs.map {
            Knob(knob: $0.knob, kind: $0.kind, a: $0.a, b: $0.b, firstDivergentStep: $0.firstDivergentStep,
                 firstDivergentTensor: $0.firstDivergentTensor, accuracyEffect: $0.accuracyEffect, gapShare: $0.gapShare,
                 gapShareStatus: $0.gapShareStatus, inMinimalSet: r.minimalSet.contains($0.knob))
        }
    }
}
