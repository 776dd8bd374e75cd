import Engine
import Foundation
import Recorder

/// One step checked by `verify`: the golden digest against the one just computed.
public struct StepCheck: Codable, Equatable, Sendable {
    public var step: Int
    public var expectedDigest: String
    public var actualDigest: String
    public var expectedLoss: Float?
    public var actualLoss: Float?
    public var seconds: Double
    public var passed: Bool
}

/// Where an evaluation was made: after a training step, on a split ("test").
public struct EvaluationPlace: Codable, Equatable, Hashable, Sendable {
    public var step: Int
    public var split: String
}

/// One evaluation checked by `verify`: the golden's predictions hash against the run's.
public struct EvalCheck: Codable, Equatable, Sendable {
    public var step: Int
    public var split: String
    public var expectedAccuracy: Double
    public var actualAccuracy: Double
    public var expectedPredictions: String
    public var actualPredictions: String
    public var passed: Bool
}

/// The run ended before the golden's last checked step (e.g. fewer epochs).
public struct Shortfall: Equatable, Sendable {
    /// Training steps the run took.
    public var stepsRun: Int
    /// Training steps there were to check.
    public var stepsToCheck: Int
}

/// The outcome of `cwrepro verify`.
public struct VerifyReport: Sendable {
    public var config: String
    public var golden: String
    public var name: String
    /// The level the golden was hashed at; the check hashes at the same level.
    public var level: RecordLevel
    public var goldenConfigHash: String
    public var configHash: String
    /// Resolved-config keys that differ from the golden's header (the change being checked).
    public var configChanges: [Change]
    public var environmentChanges: [Change]
    /// Training steps to check (the init step comes on top).
    public var stepsPlanned: Int
    public var checks: [StepCheck]
    public var firstMismatch: StepCheck?
    /// Evaluations the golden holds within the checked steps (the run's evaluation code is checked too).
    public var evaluations: [EvalCheck]
    /// The golden's evaluations within the matched steps that this run did not make (a changed
    /// config that evaluates at other steps: the weights matched, the predictions were not compared).
    public var evaluationsNotMade: [EvaluationPlace] = []
    /// The first divergent tensor; known when the golden carries tensor hashes (`hashes --tensors`
    /// or a .cwr golden), else nil and `tensorHashes` is false.
    public var firstDivergence: Divergence?
    public var firstDivergentDraw: Divergence?
    public var tensorHashes: Bool
    /// Why the check failed (nil when it passed).
    public var diagnosis: Diagnosis?
    public var shortfall: Shortfall?
    public var seconds: Double
    /// The status of the record the golden was made from (a `.hashes` file says it when not complete).
    public var goldenStatus: RecordStatus
    /// What the check does not cover (nil: a whole finished run, or a prefix chosen with `steps`).
    public var incompleteness: Incompleteness?
    /// The verdict: identical, diverged, or incomplete (accepted or not).
    public var outcome: CheckOutcome
    /// `config` names a record checked as it is (`verify --record`), not a config trained now.
    public var checkedRecord = false

    public var cause: Cause? { diagnosis?.cause }
    /// No difference found in what was checked (see `outcome` for whether that is a pass).
    public var matched: Bool { firstMismatch == nil && shortfall == nil && evaluations.allSatisfy(\.passed) }
    /// The verification passed: nothing differs and it covers a whole finished run (or an
    /// incomplete one was accepted).
    public var passed: Bool { outcome.passed }
    public var firstEvaluationMismatch: EvalCheck? { evaluations.first { !$0.passed } }
    public var stepsChecked: Int { checks.count }
}

/// A verification sink: compares every tensor (when the golden has them) and every step digest
/// as the run produces them, and asks training to stop at the end of the first mismatching step.
final class VerifySink: RecordSink {
    let golden: [Int: StepHashes.Entry]
    let goldenEvals: [String: StepHashes.EvalEntry]
    let lastStep: Int
    let stopAtLastStep: Bool
    private(set) var checks: [StepCheck] = []
    private(set) var evaluations: [EvalCheck] = []
    private(set) var firstMismatch: StepCheck?
    private(set) var first = FirstDivergences()
    private var stop = false
    /// The current step's events matched against the golden's (`EventAlignment`).
    private var alignment: (step: Int, events: EventAlignment)?

    /// Checks init and training steps 0..<steps of `golden`, and its evaluations after them.
    /// `stopAtLastStep`: ask training to stop after the last checked step (false when that is the
    /// run's last step anyway, so its final evaluation runs and is checked).
    init(golden: StepHashes, steps: Int, stopAtLastStep: Bool = true) {
        self.golden = Dictionary(uniqueKeysWithValues: golden.entries.map { ($0.step, $0) })
        goldenEvals = Dictionary(golden.evaluations.map { ("\($0.step)/\($0.split)", $0) }, uniquingKeysWith: { a, _ in a })
        lastStep = steps - 1
        self.stopAtLastStep = stopAtLastStep
    }

    var shouldStop: Bool { stop }
    /// Set when the run stops at the last checked step and the golden evaluated there.
    private(set) var evaluatesBeforeStopping = false
    func wantsPayload(step: Int) -> Bool { false }

    func event(_ e: RecordedEvent) {
        guard firstMismatch == nil, e.step <= lastStep, let expected = golden[e.step]?.tensors else { return }
        if alignment?.step != e.step { alignment = (e.step, EventAlignment(expected)) }
        for d in alignment!.events.match(e).divergences { first.note(d) }
    }

    func endStep(_ s: StepSummary, events: [RecordedEvent]) throws {
        guard s.step <= lastStep, let g = golden[s.step] else { stop = true; return }
        let ok = g.digest == s.digest
        let check = StepCheck(step: s.step, expectedDigest: hex64(g.digest), actualDigest: hex64(s.digest),
                              expectedLoss: s.step == initStep ? nil : g.loss, actualLoss: s.step == initStep ? nil : s.loss,
                              seconds: s.wallSeconds, passed: ok)
        checks.append(check)
        if !ok {
            if let t = g.tensors, first.tensor == nil, let d = EventAlignment.firstUnmatched(alignment, step: s.step, expected: t) { first.note(d) }
            firstMismatch = check
            stop = true
        }
        if s.step == lastStep && stopAtLastStep && !stop {
            stop = true
            evaluatesBeforeStopping = goldenEvals.values.contains { $0.step == lastStep }
        }
    }

    func evaluation(_ e: Evaluation) throws {
        guard e.step <= lastStep, let g = goldenEvals["\(e.step)/\(e.split)"] else { return }
        let ok = g.predictionsHash == e.predictionsHash && g.total == e.total
        evaluations.append(EvalCheck(step: e.step, split: e.split, expectedAccuracy: g.total == 0 ? 0 : Double(g.correct) / Double(g.total),
                                     actualAccuracy: e.accuracy, expectedPredictions: hex64(g.predictionsHash),
                                     actualPredictions: hex64(e.predictionsHash), passed: ok))
        if !ok { stop = true }
    }
}

/// Why a verification cannot start.
public enum VerifyError: Error, Equatable, Sendable {
    /// More training steps asked for than the golden holds.
    case stepsOutOfRange(requested: Int, available: Int, golden: String)
}

/// `cwrepro verify`: trains a config at the golden's record level and compares it step by step
/// with the golden, stopping at the first mismatch, on the golden's OpenBLAS core type.
public final class VerifySession {
    public struct Options: Sendable {
        /// Training steps to check (nil: all of the golden's).
        public var steps: Int?
        /// Run on the golden's OpenBLAS core type (`coreTypeToRequest`).
        public var patch = true
        /// Accept a golden of a run that did not finish (killed, failed) when its steps match.
        public var allowIncomplete = false
        public init(steps: Int? = nil, patch: Bool = true, allowIncomplete: Bool = false) {
            self.steps = steps; self.patch = patch; self.allowIncomplete = allowIncomplete
        }
    }

    public let config: TrainConfig
    public let configPath: String
    public let golden: StepHashes
    public let goldenPath: String
    public let options: Options

    public init(config: TrainConfig, configPath: String, golden: StepHashes, goldenPath: String, options: Options = Options()) {
        self.config = config; self.configPath = configPath; self.golden = golden; self.goldenPath = goldenPath; self.options = options
    }

    /// Loads the config (then applies `changes`) and the golden (a `.hashes` file or a `.cwr` record).
    public convenience init(configPath: String, changes: [ConfigAssignment] = [], goldenPath: String, options: Options = Options()) throws {
        let config = try TrainConfig.File(path: configPath).config(applying: changes)
        self.init(config: config, configPath: configPath, golden: try StepHashes.load(path: goldenPath), goldenPath: goldenPath, options: options)
    }

    /// The OpenBLAS core type to re-execute with so that the run uses the golden's kernels (they
    /// round differently): nil when not needed, patching is off, or this process is the re-exec.
    public var coreTypeToRequest: String? {
        options.patch ? EnvironmentPatch.coreTypeToRequest(recorded: golden.environment, openblas: config.determinism.gemm == .openblas) : nil
    }

    /// What a re-exec achieved (in the re-executed process).
    public var reexecOutcome: (patches: [EnvironmentPatch.Patch], warnings: [EnvironmentPatch.Warning]) { EnvironmentPatch.reexecOutcome() }

    /// Training steps the verification checks.
    public var stepsToCheck: Int { options.steps ?? golden.trainingSteps }

    public func run(progress: ((StepSummary) -> Void)? = nil) throws -> VerifyReport {
        let available = golden.trainingSteps, n = stepsToCheck
        guard n >= 0, n <= available else { throw VerifyError.stepsOutOfRange(requested: n, available: available, golden: goldenPath) }
        var config = self.config
        config.record.level = golden.level
        let recorder = Recorder(seed: config.seed, level: golden.level)
        let trainer = try Trainer(config: config, recorder: recorder)
        let sink = VerifySink(golden: golden, steps: n, stopAtLastStep: n < trainer.totalSteps)
        recorder.sink = sink
        let result = try trainer.run(progress: progress)

        let resolved = config.resolved
        let configChanges = Change.between(golden.config, Change.leaves(resolved))
        let envChanges = Change.environment(golden.environment, EnvironmentPatch.currentEnvironment(config))
        var report = VerifyReport(
            config: configPath, golden: goldenPath, name: config.name, level: golden.level,
            goldenConfigHash: hex64(golden.configHash), configHash: hex64(StepHashes.configHash(resolved)),
            configChanges: configChanges, environmentChanges: envChanges, stepsPlanned: n, checks: sink.checks,
            firstMismatch: sink.firstMismatch, evaluations: sink.evaluations, firstDivergence: sink.first.tensor,
            firstDivergentDraw: sink.first.draw, tensorHashes: golden.hasTensors, diagnosis: nil, shortfall: nil, seconds: result.seconds,
            goldenStatus: golden.status, incompleteness: nil, outcome: .identical)
        report.conclude(golden: golden, checkedRecord: nil, acceptIncomplete: options.allowIncomplete) {
            // The same diagnosis as a replay, from the same evidence.
            .diagnose(Evidence(first: sink.first, configChanges: configChanges, environmentChanges: envChanges,
                               openblas: config.determinism.gemm == .openblas, patchingDisabled: !options.patch))
        }
        return report
    }
}

extension VerifyReport {
    /// What every verification concludes from its checks (`checks`, `firstMismatch`,
    /// `evaluations` and `stepsPlanned` set): the golden's evaluations the run did not make; a
    /// shortfall when the run ended before the steps to check without a difference; whether it
    /// covers a whole finished run; the outcome; the diagnosis (`diagnose` for a step that
    /// differs or a short run, `.evaluation` when only an evaluation differs).
    ///
    /// `checkedRecord`: the end of the record `verify --record` reads. A killed or failed record
    /// whose steps all match is incomplete where it stops, not a run that ended short.
    mutating func conclude(golden: StepHashes, checkedRecord: (status: RecordStatus, writerActive: Bool)?, acceptIncomplete: Bool,
                           diagnose: () -> Diagnosis) {
        let n = stepsPlanned, available = golden.trainingSteps
        let nothingDiffers = firstMismatch == nil && firstEvaluationMismatch == nil
        if nothingDiffers, let last = checks.last?.step {
            let made = Set(evaluations.map { EvaluationPlace(step: $0.step, split: $0.split) })
            evaluationsNotMade = golden.evaluations.filter { $0.step <= last }.map { EvaluationPlace(step: $0.step, split: $0.split) }
                .filter { !made.contains($0) }
        }
        let stepsRun = max(0, checks.count - 1)
        let ranShort = nothingDiffers && checks.count < n + 1
        let recordGap = checkedRecord.flatMap { Incompleteness.of(status: $0.status, writerActive: $0.writerActive, trainingStepsCompared: stepsRun) }
        if ranShort && recordGap == nil { shortfall = Shortfall(stepsRun: stepsRun, stepsToCheck: n) }
        // A prefix chosen with `steps` is whole as asked; checking up to the golden's end inherits
        // what the golden's record was, and a checked record's own end counts too.
        incompleteness = n == 0 ? .noTrainingSteps
            : ranShort && recordGap != nil ? recordGap
            : n < available ? nil
            : Incompleteness.of(status: golden.status, writerActive: golden.writerActive, trainingStepsCompared: n) ?? recordGap
        outcome = .of(differs: !matched, gap: incompleteness, acceptIncomplete: acceptIncomplete)
        if !matched {
            // Every step matched: the weights are the golden's, so the evaluation itself changed.
            diagnosis = firstMismatch == nil && shortfall == nil ? Diagnosis(reason: .evaluation) : diagnose()
        }
    }
}

public enum Verify {
    /// Loads the golden at `goldenPath` and verifies `config` against it (no re-exec).
    public static func run(config: TrainConfig, configPath: String, goldenPath: String, steps: Int? = nil, allowIncomplete: Bool = false,
                           progress: ((StepSummary) -> Void)? = nil) throws -> VerifyReport {
        try VerifySession(config: config, configPath: configPath, golden: StepHashes.load(path: goldenPath), goldenPath: goldenPath,
                          options: .init(steps: steps, patch: false, allowIncomplete: allowIncomplete)).run(progress: progress)
    }
}
