import Engine
import Recorder

/// What `cwrepro explain` found (`--json` prints this; keys are part of the interface).
public struct ExplainReport: Codable, Sendable {
    public struct Run: Codable, Sendable {
        public var testAccuracy: Double
        public var correct: Int
        public var total: Int
        public var finalLoss: Double
        /// The seed the run used.
        public var seed: UInt64?
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
    public struct KnobEffect: Codable, Sendable {
        public var knob: String
        /// `knob` (a semantics knob) or `config` (another config value, dotted path).
        public var kind: Explain.Item.Kind
        public var a: JSON?
        public var b: JSON?
        /// nil when A with this difference is bit-identical to A.
        public var firstDivergentStep: Int?
        public var firstDivergentTensor: String?
        public var firstDivergentRole: TensorRole?
        public var testAccuracy: Double
        public var finalLoss: Double
        /// This variant minus A.
        public var accuracyDelta: Double
        public var lossDelta: Double
        /// The share of the A-B gap this difference alone reproduces (nil when there is no gap).
        public var gapShare: Double?

        enum CodingKeys: String, CodingKey {
            case knob, kind, a, b, firstDivergentStep, firstDivergentTensor, firstDivergentRole, testAccuracy, finalLoss,
                 accuracyDelta, lossDelta, gapShare
        }

        /// Absent values are written as null, so every key is always present.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(knob, forKey: .knob); try c.encode(kind, forKey: .kind)
            try c.encode(a ?? .null, forKey: .a); try c.encode(b ?? .null, forKey: .b)
            try c.encode(firstDivergentStep, forKey: .firstDivergentStep)
            try c.encode(firstDivergentTensor, forKey: .firstDivergentTensor)
            try c.encode(firstDivergentRole, forKey: .firstDivergentRole)
            try c.encode(testAccuracy, forKey: .testAccuracy); try c.encode(finalLoss, forKey: .finalLoss)
            try c.encode(accuracyDelta, forKey: .accuracyDelta); try c.encode(lossDelta, forKey: .lossDelta)
            try c.encode(gapShare, forKey: .gapShare)
        }
    }

    /// A, and B trained with A's random draws and data order.
    public var a: Run
    public var b: Run
    /// B with its own draws: how much a gap randomness alone makes.
    public var bOwnDraws: Run
    public var aName: String
    public var bName: String
    /// B's first divergent tensor against A (nil: B is bit-identical to A).
    public var firstDivergence: FirstDivergence?
    public var knobs: [KnobEffect]
    public var minimalSet: [String]
    /// What the gap is measured in.
    public enum GapMetric: String, Codable, Sendable {
        case testAccuracy
        /// When A and B reach the same accuracy.
        case finalLoss
    }
    /// `testAccuracy`, or `finalLoss` when A and B reach the same accuracy.
    public var gapMetric: GapMetric
    /// B minus A in `gapMetric`.
    public var gap: Double
    public var explainedShare: Double
    public var unexplainedShare: Double
    public var threshold: Double
    public var level: RecordLevel
    public var runs: Int
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case a, b, bOwnDraws, aName, bName, firstDivergence, knobs, minimalSet, gapMetric, gap, explainedShare,
             unexplainedShare, threshold, level, runs, seconds
    }

    /// `firstDivergence` is written as null when B is bit-identical to A.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(a, forKey: .a); try c.encode(b, forKey: .b); try c.encode(bOwnDraws, forKey: .bOwnDraws)
        try c.encode(aName, forKey: .aName); try c.encode(bName, forKey: .bName)
        try c.encode(firstDivergence, forKey: .firstDivergence)
        try c.encode(knobs, forKey: .knobs); try c.encode(minimalSet, forKey: .minimalSet)
        try c.encode(gapMetric, forKey: .gapMetric); try c.encode(gap, forKey: .gap)
        try c.encode(explainedShare, forKey: .explainedShare); try c.encode(unexplainedShare, forKey: .unexplainedShare)
        try c.encode(threshold, forKey: .threshold); try c.encode(level, forKey: .level)
        try c.encode(runs, forKey: .runs); try c.encode(seconds, forKey: .seconds)
    }
}
