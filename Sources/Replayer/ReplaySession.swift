import Engine
import Foundation
import Recorder

/// An evaluation whose predictions differ between the record and the replay.
public struct EvaluationMismatch: Equatable, Sendable {
    public var step: Int
    public var split: String
    public var recordedAccuracy: Double
    public var replayedAccuracy: Double
}

/// A replay and its record that hold different numbers of training steps (a `--set` changed
/// `training.maxSteps`, `training.epochs`, the data or the batch size): every shared step can be
/// bit-identical, and still the runs differ from the first step only one of them has.
public struct RunLengthDivergence: Equatable, Sendable {
    public enum Holder: String, Sendable { case record, replay }
    /// The first training step only one of them has.
    public var step: Int
    /// Which one has it: the record (the replay ended before it) or the replay (it went on past
    /// the end of a finished record).
    public var onlyIn: Holder
    public init(step: Int, onlyIn: Holder) { self.step = step; self.onlyIn = onlyIn }
}

/// The outcome of a replay.
public struct ReplayReport: Sendable {
    public var record: String
    /// The record's status (`complete`, `running`: killed or still being written, `failed`).
    public var recordStatus: RecordStatus
    /// Another process was writing the record when it was opened (a run still going).
    public var writerActive: Bool
    /// What the replay does not cover (nil: every step of a finished run was compared).
    public var incompleteness: Incompleteness?
    /// The verdict: identical, diverged, or incomplete (accepted or not).
    public var outcome: CheckOutcome
    public var stepsReplayed: Int
    public var stepsRecorded: Int
    public var tensorsCompared: Int
    public var divergentSteps: [Int]
    /// The first divergent tensor in execution order (draws and orders excluded).
    public var firstDivergence: Divergence?
    /// The first divergent event of any kind, when it is a draw or an order (the evidence for the cause).
    public var firstDivergentDraw: Divergence?
    /// Why it diverged (nil when bit-identical).
    public var diagnosis: Diagnosis?
    /// Resolved-config keys the replay changed (`sets`).
    public var configChanges: [Change]
    /// Bit-relevant environment facts that differ from the record's.
    public var environmentChanges: [Change]
    public var evaluationMismatches: [EvaluationMismatch]
    /// The runs differ in length (nil when the replay covered the record's steps and no more).
    public var lengthDivergence: RunLengthDivergence?
    public var stoppedAtFirstDivergence: Bool
    /// Environment differences patched before replaying.
    public var patches: [EnvironmentPatch.Patch]
    /// Differences that could not be patched, and requests that were not honoured.
    public var environmentWarnings: [EnvironmentPatch.Warning]
    /// Replayed as-is, without patching.
    public var patchingDisabled: Bool
    /// The run's GEMM was OpenBLAS (BLAS facts can change its bits).
    public var openblas: Bool

    public var cause: Cause? { diagnosis?.cause }
    /// No difference found in what was compared (see `outcome` for whether that is a pass).
    public var identical: Bool {
        firstDivergence == nil && firstDivergentDraw == nil && divergentSteps.isEmpty && evaluationMismatches.isEmpty && lengthDivergence == nil
    }
    public var recordComplete: Bool { recordStatus == .complete }
}

/// Re-executes a recorded run from the record alone (its config, embedded files and seed) and
/// compares every hash as it is produced.
public final class ReplaySession {
    public struct Options: Sendable {
        /// Changes to the recorded config: replay with one thing changed.
        public var changes: [ConfigAssignment] = []
        /// Stop at the end of the first step with a divergent event.
        public var untilDiverge = false
        /// Match the recorded OpenBLAS core type (by re-executing: `coreTypeToRequest`) and thread count.
        public var patch = true
        /// Where the recorded run's data files are now, when they moved (their content is still
        /// checked against the record's fingerprints).
        public var dataLocation = DataLocation()
        /// Accept a record that is not a finished run (killed, still running, failed) when what
        /// it holds replays identically (`CheckOutcome.acceptedIncomplete`).
        public var allowIncomplete = false
        public init(changes: [ConfigAssignment] = [], untilDiverge: Bool = false, patch: Bool = true, dataLocation: DataLocation = DataLocation(),
                    allowIncomplete: Bool = false) {
            self.changes = changes; self.untilDiverge = untilDiverge; self.patch = patch; self.dataLocation = dataLocation
            self.allowIncomplete = allowIncomplete
        }
    }

    public let path: String
    public var options: Options
    public let reader: RecordReader

    /// Opens the record (a record that cannot be read throws `RecordReadError`; an imported one,
    /// `ImportedRecordError`: cwrepro cannot re-execute a real framework's run).
    public init(path: String, options: Options = Options()) throws {
        self.path = path
        self.options = options
        reader = try RecordReader(path: path)
        try ImportedRecordError.refuse(reader, "replay")
    }

    /// The OpenBLAS core type to re-execute this process with before replaying (nil: none needed,
    /// patching off, or this process is the re-exec).
    public var coreTypeToRequest: String? { options.patch ? EnvironmentPatch.coreTypeToRequest(reader) : nil }

    /// Training steps the record holds (committed ones, for an incomplete record), verified: the
    /// whole record is read first unless `run` has verified it.
    public func stepsRecorded() throws -> Int { try reader.steps().filter { $0.step >= 0 }.count }

    /// Training steps as stored, before verification (`run` verifies them as it replays): a
    /// progress bar's total.
    public func stepsToReplay() throws -> Int { try reader.storedTrainingSteps() }

    public var recordComplete: Bool { reader.isComplete }

    /// What the record does not cover before anything is replayed (nil: a finished run with
    /// training steps).
    public func incompleteness() throws -> Incompleteness? {
        Incompleteness.of(status: reader.status, writerActive: reader.writerActive, trainingStepsCompared: try stepsRecorded())
    }

    /// Replays the record (after any re-exec) and compares every event.
    public func run(progress: ((StepSummary) -> Void)? = nil) throws -> ReplayReport {
        var (config, changes) = try RecordedConfig.load(reader, applying: options.changes)
        config.dataLocation = options.dataLocation
        let recordedSteps = try VerifiedSteps(reader: reader)
        defer { recordedSteps.cancel() }
        let sink = try ReplaySink(reader: reader, recorded: recordedSteps, untilDiverge: options.untilDiverge)
        let recorder = Recorder(seed: config.seed, level: reader.level, sink: sink)
        let trainer = try Trainer(config: config, recorder: recorder)
        var (patches, warnings) = EnvironmentPatch.reexecOutcome()
        if options.patch, let p = EnvironmentPatch.patchThreads(recorded: reader.environment, configChanges: changes, trainer: trainer) {
            patches.append(p)
        }
        if let f = BLAS.coreTypeFallback { warnings.append(.coreTypeFallback(f)) }
        let current = EnvironmentPatch.currentEnvironment(config, openBLASThreads: trainer.openBLASThreads, data: trainer.data)
        let envChanges = Change.environment(reader.environment, current)
        _ = try trainer.run(progress: progress)
        try recordedSteps.finish()
        sink.compareEvaluations(try reader.evaluations())
        let recorded = try stepsRecorded()
        let replayed = min(recorder.step, recorded)
        let length = Self.lengthDivergence(replayedTo: recorder.step, planned: trainer.totalSteps, recorded: recorded,
                                           complete: reader.status == .complete, stoppedByDivergence: options.untilDiverge && sink.first.any)
        let gap = Incompleteness.of(status: reader.status, writerActive: reader.writerActive, trainingStepsCompared: replayed)
        var report = ReplayReport(
            record: path, recordStatus: reader.status, writerActive: reader.writerActive, incompleteness: gap, outcome: .identical,
            stepsReplayed: replayed, stepsRecorded: recorded,
            tensorsCompared: sink.compared, divergentSteps: sink.divergentSteps, firstDivergence: sink.first.tensor,
            firstDivergentDraw: sink.first.draw, diagnosis: nil, configChanges: changes, environmentChanges: envChanges,
            evaluationMismatches: sink.evaluationMismatches, lengthDivergence: length,
            stoppedAtFirstDivergence: options.untilDiverge && sink.first.any,
            patches: patches, environmentWarnings: warnings, patchingDisabled: !options.patch, openblas: config.determinism.gemm == .openblas)
        if !report.identical {
            report.diagnosis = .diagnose(Evidence(first: sink.first, configChanges: changes, environmentChanges: envChanges,
                                                  openblas: report.openblas, patchingDisabled: report.patchingDisabled))
        }
        report.outcome = .of(differs: !report.identical, gap: gap, acceptIncomplete: options.allowIncomplete)
        return report
    }

    /// How the replay's length differs from the record's, if it does: it ended (after
    /// `replayedTo` training steps of the `planned` ones) before the record's `recorded` steps
    /// without being stopped by a divergence, or it would go on past a finished record's last
    /// step (the sink stops it there; past a killed run's last committed step the record is only
    /// incomplete, which the outcome says).
    static func lengthDivergence(replayedTo: Int, planned: Int, recorded: Int, complete: Bool,
                                 stoppedByDivergence: Bool) -> RunLengthDivergence? {
        if replayedTo < recorded && !stoppedByDivergence { return RunLengthDivergence(step: replayedTo, onlyIn: .record) }
        // A record without training steps is nothing to compare (`Incompleteness.noTrainingSteps`).
        if complete && recorded > 0 && replayedTo >= recorded && planned > recorded { return RunLengthDivergence(step: recorded, onlyIn: .replay) }
        return nil
    }

    /// Opens and replays `path` in one call (no re-exec: the core type this process runs).
    public static func replay(path: String, changes: [ConfigAssignment] = [], untilDiverge: Bool = false, patch: Bool = true,
                              allowIncomplete: Bool = false, progress: ((StepSummary) -> Void)? = nil) throws -> ReplayReport {
        try ReplaySession(path: path, options: Options(changes: changes, untilDiverge: untilDiverge, patch: patch, allowIncomplete: allowIncomplete))
            .run(progress: progress)
    }
}
