import Engine
import Recorder

/// What `cwrepro explain` found (`--json` prints this; keys are part of the interface).
///
/// Accuracies are fractions (0.7611 is 76.11%); a gap or an effect is B - A (or variant - A) in
/// the same unit. Every estimate is over `seeds` (both sides run under the same seeds).
public struct ExplainReport: Encodable, Sendable {
    /// One side's runs, one per seed.
    public struct Side: Encodable, Sendable {
        public var name: String
        /// Test accuracy per seed, in seed order.
        public var accuracy: [Double]
        /// Correct test predictions per seed, of `total`.
        public var correct: [Int]
        public var total: Int
        /// Final training loss per seed.
        public var finalLoss: [Double]
        /// `accuracy` summarised (mean, standard deviation, quantiles).
        public var summary: SampleSummary
        /// Runs that differ from each other (final loss bits or test predictions): 1 means the seeds
        /// changed nothing on this side.
        public var distinctRuns: Int
        /// What the seed draws in this side's config, and what the config pins.
        public var seedSources: SeedSources
        /// Config keys `unpin` removed or changed (`Explain.unpinned`); empty without it.
        public var unpinned: [String]
    }

    public struct FirstDivergence: Codable, Sendable, Equatable {
        /// -1 is initialisation.
        public var step: Int
        public var tensor: String
        public var role: TensorRole
        /// The differences that, flipped alone in A, diverge first at this same tensor: the cause.
        public var causedBy: [String] = []
    }

    /// One difference applied to A alone.
    public struct KnobEffect: Encodable, Sendable {
        public var knob: String
        /// `knob` (a semantics knob) or `config` (another config value, a JSON path).
        public var kind: Explain.Item.Kind
        public var a: JSON?
        public var b: JSON?
        /// On the first seed; nil when A with this difference is bit-identical to A (then it is
        /// not run on the other seeds, and its effects are null).
        public var firstDivergentStep: Int?
        public var firstDivergentTensor: String?
        public var firstDivergentRole: TensorRole?
        /// Test accuracy of the variant minus A's, per seed, with its mean and paired interval.
        public var accuracyEffect: Estimate?
        /// Final training loss of the variant minus A's.
        public var lossEffect: Estimate?
        /// `accuracyEffect.mean / gap.mean`, clamped to `shareRange`; nil unless the gap is significant.
        public var gapShare: Double?
        public var gapShareStatus: ShareStatus

        enum CodingKeys: String, CodingKey {
            case knob, kind, a, b, firstDivergentStep, firstDivergentTensor, firstDivergentRole, accuracyEffect, lossEffect,
                 gapShare, gapShareStatus
        }

        /// Absent values are written as null, so every key is always present.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(knob, forKey: .knob); try c.encode(kind, forKey: .kind)
            try c.encode(a ?? .null, forKey: .a); try c.encode(b ?? .null, forKey: .b)
            try c.encode(firstDivergentStep, forKey: .firstDivergentStep)
            try c.encode(firstDivergentTensor, forKey: .firstDivergentTensor)
            try c.encode(firstDivergentRole, forKey: .firstDivergentRole)
            try c.encode(accuracyEffect, forKey: .accuracyEffect); try c.encode(lossEffect, forKey: .lossEffect)
            try c.encode(gapShare, forKey: .gapShare); try c.encode(gapShareStatus, forKey: .gapShareStatus)
        }
    }

    /// What the comparison concluded.
    public enum Verdict: String, Codable, Sendable {
        /// The accuracy gap is larger than seed noise (its interval excludes 0): attributed.
        case gap
        /// The gap is within seed noise: nothing attributed, the minimal set is empty.
        case withinNoise = "within-noise"
        /// A and B differ in nothing that changes training.
        case noDifferences = "no-differences"
    }

    public var aName: String
    public var bName: String
    /// The seeds both sides ran under: A's seed and the ones after it (B's own seed is not used).
    public var seeds: [UInt64]
    /// Confidence level of every interval (0.95).
    public var confidence: Double
    public var a: Side
    public var b: Side
    /// Test accuracy B - A over the seeds.
    public var gap: Gap
    /// Final training loss B - A over the seeds (nil when a run's loss is not finite).
    public var lossGap: Gap?
    public var verdict: Verdict
    /// B's first divergent tensor against A on the first seed (nil: bit-identical).
    public var firstDivergence: FirstDivergence?
    /// Every difference, knobs first.
    public var knobs: [KnobEffect]
    /// A 1-minimal set of differences that, applied to A, reproduces the gap's mean to within
    /// 1 - `threshold`; empty unless the gap is significant.
    public var minimalSet: [String]
    /// The minimal set applied to A, minus A (per seed).
    public var minimalSetEffect: Estimate?
    /// B minus A with the minimal set applied (per seed): the part of the gap the set leaves.
    public var unexplained: Estimate?
    /// `minimalSetEffect.mean / gap.mean`, clamped to `shareRange`.
    public var explainedShare: Double?
    public var explainedShareStatus: ShareStatus
    public var threshold: Double
    /// Hash level of the first seed's comparisons.
    public var level: RecordLevel
    /// Each exported config against the real run it came from (`--trace-a`, `--trace-b`).
    public var fidelity: FidelitySides?
    public var runs: Int
    public var seconds: Double

    /// The fidelity check of each side that has a trace.
    public struct FidelitySides: Encodable, Sendable {
        public var a: FidelityReport?
        public var b: FidelityReport?

        enum CodingKeys: String, CodingKey { case a, b }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(a, forKey: .a); try c.encode(b, forKey: .b)
        }
    }

    enum CodingKeys: String, CodingKey {
        case aName, bName, seeds, confidence, a, b, gap, lossGap, verdict, firstDivergence, knobs, minimalSet, minimalSetEffect,
             unexplained, explainedShare, explainedShareStatus, shareRange, threshold, level, fidelity, runs, seconds
    }

    /// Absent values are written as null, so every key is always present.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(aName, forKey: .aName); try c.encode(bName, forKey: .bName)
        try c.encode(seeds, forKey: .seeds); try c.encode(confidence, forKey: .confidence)
        try c.encode(a, forKey: .a); try c.encode(b, forKey: .b)
        try c.encode(gap, forKey: .gap); try c.encode(lossGap, forKey: .lossGap)
        try c.encode(verdict, forKey: .verdict)
        try c.encode(firstDivergence, forKey: .firstDivergence)
        try c.encode(knobs, forKey: .knobs); try c.encode(minimalSet, forKey: .minimalSet)
        try c.encode(minimalSetEffect, forKey: .minimalSetEffect); try c.encode(unexplained, forKey: .unexplained)
        try c.encode(explainedShare, forKey: .explainedShare); try c.encode(explainedShareStatus, forKey: .explainedShareStatus)
        try c.encode([Self.shareRange.lowerBound, Self.shareRange.upperBound], forKey: .shareRange)
        try c.encode(threshold, forKey: .threshold); try c.encode(level, forKey: .level)
        try c.encode(fidelity, forKey: .fidelity)
        try c.encode(runs, forKey: .runs); try c.encode(seconds, forKey: .seconds)
    }
}
