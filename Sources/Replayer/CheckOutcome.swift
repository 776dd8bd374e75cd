import Recorder

/// Why a replay or a verification that found no difference still does not vouch for a whole run.
public enum Incompleteness: Equatable, Sendable {
    /// No training step was compared: a record or golden without training steps (initialisation
    /// only), or `verify --steps 0`. A check that compares nothing cannot fail, so it never passes.
    case noTrainingSteps
    /// The recorded run did not finish: its writer was killed (`stillRunning` false) or is still
    /// writing it. Only its committed steps exist; its end is unknown (no seal).
    case unfinished(stillRunning: Bool)
    /// The recorded run stopped early and was sealed `failed`; `reason` is its stored failure
    /// text (a non-finite value, ...). The steps up to the failure are all there is.
    case failedRun(reason: String)

    /// Whether a user may accept it (`--allow-incomplete`): anything but comparing nothing.
    public var acceptable: Bool { self != .noTrainingSteps }

    /// What the record (or golden) says about its run, and how many training steps were compared.
    /// Comparing no training step comes first: it is never acceptable.
    public static func of(status: RecordStatus, writerActive: Bool, trainingStepsCompared: Int) -> Incompleteness? {
        if trainingStepsCompared == 0 { return .noTrainingSteps }
        switch status {
        case .complete: return nil
        case .running: return .unfinished(stillRunning: writerActive)
        case .failed(let reason): return .failedRun(reason: reason)
        }
    }
}

/// The verdict of a replay or a verification (the command line maps each to its exit code).
public enum CheckOutcome: Equatable, Sendable {
    /// Every step of a finished run compared, and none differs.
    case identical
    /// Something differs (a tensor, a step digest, an evaluation, the run's length).
    case diverged
    /// Nothing differs in what was compared, but that is not a whole finished run.
    case incomplete(Incompleteness)
    /// The same, accepted on request (`--allow-incomplete`): what there is matches.
    case acceptedIncomplete(Incompleteness)

    /// The outcome of a comparison that found a difference or not (`differs`), over a run with
    /// `gap` (nil: a whole finished run), when incomplete runs are accepted or not.
    public static func of(differs: Bool, gap: Incompleteness?, acceptIncomplete: Bool) -> CheckOutcome {
        if differs { return .diverged }
        guard let gap else { return .identical }
        return acceptIncomplete && gap.acceptable ? .acceptedIncomplete(gap) : .incomplete(gap)
    }

    /// Whether the check passed (identical, or an incomplete run accepted on request).
    public var passed: Bool {
        switch self {
        case .identical, .acceptedIncomplete: true
        case .diverged, .incomplete: false
        }
    }
}

/// Which of two compared records (`diff`, `compare`): A or B.
public enum ComparedSide: String, Sendable, Codable {
    case a = "A", b = "B"
}

/// What two compared records hold in common when one did not finish (`diff`, `compare`).
public struct RecordPairCoverage: Sendable {
    /// The first record (A's first) that is not a whole finished run, and why (nil also when no
    /// training step is shared: `trainingStepsShared` says so).
    public var gap: (side: ComparedSide, incompleteness: Incompleteness)?
    /// When the records differ in length and the shorter one did not finish: the last step
    /// both hold (their comparison ends there: a killed run stopping is no divergence).
    public var lastSharedStep: Int?

    /// Training steps both records hold.
    public var trainingStepsShared: Int

    /// `sa`/`sb`: each record's steps in order.
    public init(_ ra: RecordReader, _ sa: [StepRow], _ rb: RecordReader, _ sb: [StepRow]) {
        let inB = Set(sb.map(\.step))
        trainingStepsShared = sa.filter { $0.step >= 0 && inB.contains($0.step) }.count
        if trainingStepsShared == 0 {
            gap = nil
        } else if let g = Incompleteness.of(status: ra.status, writerActive: ra.writerActive, trainingStepsCompared: trainingStepsShared) {
            gap = (.a, g)
        } else if let g = Incompleteness.of(status: rb.status, writerActive: rb.writerActive, trainingStepsCompared: trainingStepsShared) {
            gap = (.b, g)
        }
        let (shorter, reader) = sa.count < sb.count ? (sa, ra) : (sb, rb)
        if sa.count != sb.count, reader.status != .complete || reader.writerActive { lastSharedStep = shorter.last?.step ?? initStep }
    }
}
