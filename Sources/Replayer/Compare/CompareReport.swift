import Recorder

/// What `cwrepro compare A B` finds (docs/compare.md): for two records of one implementation
/// the bit-level first divergence; for two implementations a comparison within the rounding
/// envelope (`ToleranceModel`), with the first tensor that leaves it, the step from which the
/// runs drift chaotically, the losses step by step, the evaluations, and the tensors only one
/// record has. Pure data: the renderers (text, Markdown, JSON, HTML) only format it.
public struct CompareReport: Sendable {
    public enum Verdict: String, Codable, Sendable {
        /// Every step digest and every evaluation's predictions are equal.
        case identical
        /// Different bits, every tensor within the rounding envelope (until chaotic drift, if any).
        case withinTolerance = "within-tolerance"
        /// Bits differ (one implementation), or a tensor leaves the envelope by more than rounding
        /// can explain (two implementations).
        case diverged
    }

    /// How the two were compared.
    public enum Mode: String, Codable, Sendable {
        /// One implementation: bit for bit (tolerance figures are still given).
        case bits
        /// Two implementations (or `--values`): by statistics within the envelope.
        case values
    }

    /// One record as compared.
    public struct Side: Sendable {
        public var path: String
        public var origin: RecordOrigin
        public var name: String
        public var level: RecordLevel
        /// Training steps (initialisation excluded).
        public var steps: Int
        public var status: String
    }

    /// `{step, tensor, role}`: the contract of `firstDivergence` in the JSON.
    public struct Location: Codable, Equatable, Sendable {
        public var step: Int
        public var tensor: String
        public var role: TensorRole
    }

    public var a: Side
    public var b: Side
    public var mode: Mode
    public var verdict: Verdict
    /// The first divergence that decides the verdict: in `bits` mode the first tensor whose bits
    /// differ; in `values` mode the first tensor outside the envelope that is not the seed of
    /// chaotic drift. Nil when none.
    public var firstDivergence: Location?
    /// The first tensor whose bits differ (in execution order, as `replay` reports it), with
    /// its values when both records kept them; nil when every compared step is bit-identical.
    public var bitDivergence: Divergence?
    public var firstDivergentDraw: Divergence?
    /// Why the bits differ (one implementation: the same diagnosis as `diff` and `replay`).
    public var diagnosis: Diagnosis?
    public var tolerance: ToleranceModel
    /// Whether both records have statistics (schema 2): the value comparison needs them.
    public var valuesCompared: Bool
    /// The first tensor (execution order of A) outside the envelope, whatever it turned out to be.
    public var firstExcursion: TensorComparison?
    /// The first excursion that is a difference in the math (it decides `diverged`).
    public var divergence: TensorComparison?
    /// Where chaotic drift starts: the parameters left the envelope after rounding-seeded excursions.
    public var drift: Drift?
    /// Excursions (the first of each step) before any drift or divergence whose effect did not
    /// last: the parameters stayed within the envelope.
    public var transientExcursions: [TensorComparison] = []
    /// Steps present in both records, each compared.
    public var steps: [StepComparison]
    /// Per tensor (name and role, in A's order), its ratio to the envelope at every compared step
    /// (nil where a record lacks it): a divergence heat map.
    public var series: [TensorSeries]
    /// Tensors whose values are set by rounding noise and so are not comparable (excluded from
    /// the verdict), with why.
    public var noiseDominated: [NoiseDominated]
    public var onlyInA: [NameCount]
    public var onlyInB: [NameCount]
    public var evaluations: [EvaluationComparison]
    /// Resolved-config keys both records have, with different values (all changed keys for one
    /// implementation), and bit-relevant environment facts that differ.
    public var configChanges: [Change]
    public var environmentChanges: [Change]
    /// A record that is not a whole finished run (A's first), and which: its comparison ends where
    /// it stops (a killed or failed run stopping is no divergence).
    public var incompleteness: Incompleteness?
    public var incompleteRecord: ComparedSide?
    /// Identical (or within tolerance), diverged, or incomplete (accepted or not): the exit code.
    public var outcome: CheckOutcome = .identical

    /// The largest relative loss difference before the drift (over all compared steps without one).
    public var worstLossBeforeDrift: StepComparison? {
        let limit = drift?.step ?? Int.max
        return steps.filter { $0.step >= 0 && $0.step < limit && $0.lossRelative != nil }.max { $0.lossRelative! < $1.lossRelative! }
    }
}

/// One tensor of one step, compared by its statistics.
public struct TensorComparison: Codable, Equatable, Sendable {
    public var step: Int
    /// Position in A's step.
    public var seq: Int
    public var name: String
    public var role: TensorRole
    public var elements: Int
    public var statistic: Statistic
    public var relativeError: Double
    public var envelope: Double
    /// relativeError / envelope.
    public var ratio: Double
    /// Excluded from the verdict (`CompareReport.noiseDominated`).
    public var noiseDominated: Bool

    public var outside: Bool { ratio > 1 && !noiseDominated }
}

/// One step of both records.
public struct StepComparison: Codable, Equatable, Sendable {
    public var step: Int
    public var lossA: Float?
    public var lossB: Float?
    /// The float32 distance between the losses when their signs agree (nil otherwise).
    public var lossULPs: UInt64?
    /// |a - b| / max(|a|, |b|) (0 when equal).
    public var lossRelative: Double?
    public var digestsEqual: Bool
    /// Tensors both have, and how many of them have equal hashes.
    public var compared: Int
    public var identical: Int
    /// Tensors outside the envelope (noise-dominated ones excluded).
    public var outside: Int
    /// The largest ratio to the envelope (noise-dominated excluded), and its tensor.
    public var worstRatio: Double
    public var worst: TensorComparison?
    /// The largest ratio among the parameters after the step (whether the runs have parted).
    public var parameterRatio: Double
    /// The largest ratio among the parameters and the optimizer state: the training state.
    public var stateRatio: Double
    /// The loss's ratio to the envelope.
    public var lossRatio: Double
}

/// Chaotic drift: from `step` on the two runs are two nearby trajectories that part.
///
/// Excursions (tensors outside the envelope) are classified step by step. An excursion is
/// rounding amplified, not a difference in the math, when the training state stays near rounding
/// at its step: the parameters and optimizer state after the step, the loss of the step and the
/// loss of the next are all within `stateJump` (100) envelopes. A different formula or setting usually moves the
/// parameters at once by far more (a learning rate twice as large: 857 envelopes at step 0 of the digits MLP), but
/// not always (10% apart there: 87, counted as drift; the bits still differ from step 0), and rounding amplified
/// within one step (Adam dividing by a second moment near zero) can jump past 100 (docs/compare.md); a ReLU or max-pool
/// input within rounding of its threshold routes one gradient element differently (measured: a
/// gradient 5-700 envelopes apart while the parameters stay within 1). Drift starts when, after
/// such excursions, the parameters leave the envelope: `step` is the first step of the unbroken
/// run of steps with excursions that leads there, `seed` its first excursion.
public struct Drift: Codable, Equatable, Sendable {
    public var step: Int
    /// The seed: the first tensor outside the envelope at `step`.
    public var seed: TensorComparison
    /// The step at which the parameters leave the envelope, and the state there.
    public var parametersLeave: Int
    public var parameterRatio: Double
    public var lossRatio: Double
    /// The last compared step, and the state there (how far the runs drifted).
    public var lastStep: Int
    public var finalParameterRatio: Double
    /// The first step from `step` on whose loss differs by more than its envelope.
    public var lossLeavesEnvelope: Int?
    /// The largest relative loss difference from `step` on.
    public var worstLossRelative: Double
}

/// A tensor excluded from the verdict because its values are rounding noise in both runs.
public struct NoiseDominated: Codable, Equatable, Sendable {
    public enum Reason: String, Codable, Sendable {
        /// A gradient no larger than the rounding floor of its layer: its true value is (near)
        /// zero (a bias directly before BatchNorm, whose output does not depend on it).
        case gradientAtRoundingFloor = "gradient at the rounding floor"
        /// A parameter or optimizer state updated from such a gradient.
        case updatedFromNoise = "updated from a noise gradient"
        /// BatchNorm's running mean after a layer whose bias is updated from noise (it absorbs that bias).
        case runningMeanAbsorbsNoise = "running mean absorbs a noise-driven bias"
    }
    public var name: String
    public var role: TensorRole
    public var reason: Reason
    /// The first step it is excluded at.
    public var fromStep: Int
    /// The gradient it follows (its own name for `gradientAtRoundingFloor`).
    public var source: String
    /// For gradients: their RMS in A and B and the floor at `fromStep`.
    public var rmsA: Double?
    public var rmsB: Double?
    public var floor: Double?
}

/// A tensor (name and role) one record has in some steps and the other never has there.
public struct NameCount: Codable, Equatable, Sendable {
    public var name: String
    public var role: TensorRole
    /// Steps it appears in (in the record that has it).
    public var steps: Int
}

/// A tensor's ratio to the envelope, step by step (`CompareReport.series`).
public struct TensorSeries: Codable, Equatable, Sendable {
    public var name: String
    public var role: TensorRole
    /// One entry per `CompareReport.steps` element; nil where a record lacks it.
    public var ratios: [Double?]
    public var noiseDominated: Bool
}

/// Evaluations after the same step on the same split.
public struct EvaluationComparison: Codable, Equatable, Sendable {
    public var step: Int
    public var split: String
    public var total: Int
    public var correctA: Int
    public var correctB: Int
    public var accuracyA: Double
    public var accuracyB: Double
    /// Per class, B minus A.
    public var perClassDeltas: [Double]
    /// The predictions hashes are equal.
    public var predictionsIdentical: Bool
    /// Samples predicted alike, when both records hold the predictions (imported traces) or they
    /// are identical; nil when only hashes can be compared.
    public var agreeing: Int?

    public var agreement: Double? { agreeing.map { total == 0 ? 1 : Double($0) / Double(total) } }
}
