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

/// The outcome of `cwrepro verify`.
public struct VerifyReport: Codable, Sendable {
    public var config: String
    public var golden: String
    public var name: String
    /// The level the golden was hashed at; the check hashes at the same level.
    public var level: String
    public var goldenConfigHash: String
    public var configHash: String
    /// Resolved-config keys that differ from the golden's header (the change being checked).
    public var configChanges: [String]
    public var environmentChanges: [String]
    /// Training steps to check (the init step comes on top).
    public var stepsPlanned: Int
    public var checks: [StepCheck]
    public var firstMismatch: StepCheck?
    /// Evaluations the golden holds within the checked steps (the run's evaluation code is checked too).
    public var evaluations: [EvalCheck]
    /// The first divergent tensor; known when the golden carries tensor hashes (`hashes --tensors`
    /// or a .cwr golden), else nil and `tensorHashes` is false.
    public var firstDivergence: Divergence?
    public var firstDivergentDraw: Divergence?
    public var tensorHashes: Bool
    public var cause: Cause?
    public var causeDetail: String?
    /// Set when the run ended before the golden's last step (e.g. fewer epochs).
    public var shortfall: String?
    public var seconds: Double

    public var passed: Bool { firstMismatch == nil && shortfall == nil && evaluations.allSatisfy(\.passed) }
    public var firstEvaluationMismatch: EvalCheck? { evaluations.first { !$0.passed } }
    public var stepsChecked: Int { checks.count }
}

/// A verification sink: compares every tensor (when the golden has them) and every step digest
/// as the run produces them, and asks training to stop at the end of the first mismatching step.
public final class VerifySink: RecordSink {
    let golden: [Int: StepHashes.Entry]
    let goldenEvals: [String: StepHashes.EvalEntry]
    let lastStep: Int
    let stopAtLastStep: Bool
    private(set) var checks: [StepCheck] = []
    private(set) var evaluations: [EvalCheck] = []
    private(set) var firstMismatch: StepCheck?
    private(set) var comparison = StepComparison()
    private var stop = false

    /// Checks init and training steps 0..<steps of `golden`, and its evaluations after them.
    /// `stopAtLastStep`: ask training to stop after the last checked step (false when that is the
    /// run's last step anyway, so its final evaluation runs and is checked).
    public init(golden: StepHashes, steps: Int, stopAtLastStep: Bool = true) {
        self.golden = Dictionary(uniqueKeysWithValues: golden.entries.map { ($0.step, $0) })
        goldenEvals = Dictionary(golden.evaluations.map { ("\($0.step)/\($0.split)", $0) }, uniquingKeysWith: { a, _ in a })
        lastStep = steps - 1
        self.stopAtLastStep = stopAtLastStep
    }

    public var shouldStop: Bool { stop }
    public func wantsPayload(step: Int) -> Bool { false }

    public func event(_ e: RecordedEvent) {
        guard firstMismatch == nil, e.step <= lastStep, let expected = golden[e.step]?.tensors else { return }
        if let d = Divergence.between(expected: e.seq < expected.count ? expected[e.seq] : nil, actual: e) { comparison.note(d) }
    }

    public func endStep(_ s: StepSummary, events: [RecordedEvent]) throws {
        guard s.step <= lastStep, let g = golden[s.step] else { stop = true; return }
        let ok = g.digest == s.digest
        let check = StepCheck(step: s.step, expectedDigest: hex64(g.digest), actualDigest: hex64(s.digest),
                              expectedLoss: s.step == initStep ? nil : g.loss, actualLoss: s.step == initStep ? nil : s.loss,
                              seconds: s.wallSeconds, passed: ok)
        checks.append(check)
        if !ok {
            if let t = g.tensors, comparison.firstTensor == nil, events.count < t.count { comparison.note(.missing(t[events.count])) }
            firstMismatch = check
            stop = true
        }
        if s.step == lastStep && stopAtLastStep { stop = true }
    }

    public func evaluation(_ e: Evaluation) throws {
        guard e.step <= lastStep, let g = goldenEvals["\(e.step)/\(e.split)"] else { return }
        let ok = g.predictionsHash == e.predictionsHash && g.total == e.total
        evaluations.append(EvalCheck(step: e.step, split: e.split, expectedAccuracy: g.total == 0 ? 0 : Double(g.correct) / Double(g.total),
                                     actualAccuracy: e.accuracy, expectedPredictions: hex64(g.predictionsHash),
                                     actualPredictions: hex64(e.predictionsHash), passed: ok))
        if !ok { stop = true }
    }
}

public enum Verify {
    /// Trains `config` for `steps` training steps (default: all of the golden's) at the golden's
    /// record level and compares step by step, stopping at the first mismatch.
    public static func run(config given: TrainConfig, configPath: String, goldenPath: String, steps: Int? = nil,
                           progress: ((StepSummary) -> Void)? = nil) throws -> VerifyReport {
        try run(config: given, configPath: configPath, golden: StepHashes.load(path: goldenPath), goldenPath: goldenPath,
                steps: steps, progress: progress)
    }

    /// The same with the golden already loaded (`goldenPath` names it in the report).
    public static func run(config given: TrainConfig, configPath: String, golden: StepHashes, goldenPath: String,
                           steps: Int? = nil, progress: ((StepSummary) -> Void)? = nil) throws -> VerifyReport {
        let available = golden.trainingSteps
        let n = steps ?? available
        guard n >= 0, n <= available else {
            throw InputError("--steps \(n): the golden \(goldenPath) has \(available) steps; give at most \(available)")
        }
        var config = given
        config.record.level = golden.level
        let recorder = Recorder(seed: config.seed, level: golden.level)
        let trainer = try Trainer(config: config, recorder: recorder)
        let sink = VerifySink(golden: golden, steps: n, stopAtLastStep: n < trainer.totalSteps)
        recorder.sink = sink
        let result = try trainer.run(progress: progress)

        let resolved = config.resolved
        let goldenConfig = Dictionary(golden.config.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        let current = Dictionary(ConfigDiff.flatten(resolved), uniquingKeysWith: { a, _ in a })
        let configChanges = Set(goldenConfig.keys).union(current.keys).sorted().compactMap { k -> String? in
            goldenConfig[k] == current[k] ? nil : "\(k): \(goldenConfig[k] ?? "(absent)") -> \(current[k] ?? "(absent)")"
        }
        let env = ReplaySession.currentEnvironment(config)
        var report = VerifyReport(
            config: configPath, golden: goldenPath, name: config.name, level: golden.level.rawValue,
            goldenConfigHash: hex64(golden.configHash), configHash: hex64(StepHashes.configHash(resolved)),
            configChanges: configChanges, environmentChanges: ConfigDiff.environment(golden.environment, env),
            stepsPlanned: n, checks: sink.checks, firstMismatch: sink.firstMismatch, evaluations: sink.evaluations,
            firstDivergence: sink.comparison.firstTensor, firstDivergentDraw: sink.comparison.firstDraw,
            tensorHashes: golden.hasTensors, cause: nil, causeDetail: nil, shortfall: nil, seconds: result.seconds)
        if report.firstMismatch == nil && report.checks.count < n + 1 {
            report.shortfall = "the run ended after \(max(0, report.checks.count - 1)) steps; the golden has \(n) to check"
        }
        if !report.passed {
            // The same diagnosis as a replay, from the same evidence.
            let asReplay = ReplayReport(
                record: goldenPath, recordComplete: true, stepsReplayed: report.checks.count, stepsRecorded: n,
                tensorsCompared: 0, divergentSteps: report.firstMismatch.map { [$0.step] } ?? [],
                firstDivergence: report.firstDivergence, firstDivergentDraw: report.firstDivergentDraw, cause: nil,
                causeDetail: nil, configChanges: configChanges, environmentChanges: report.environmentChanges,
                evaluationMismatches: (report.shortfall.map { [$0] } ?? []) + report.evaluations.filter { !$0.passed }.map(\.text),
                stoppedAtFirstDivergence: true)
            (report.cause, report.causeDetail) = ReplaySession.diagnose(asReplay)
            if report.firstMismatch == nil && report.shortfall == nil {
                // Every step matched: the weights are the golden's, so the evaluation itself changed.
                (report.cause, report.causeDetail) = (nil, "every checked step matches the golden: the evaluation itself changed (evaluation code or test data)")
            }
        }
        return report
    }
}

extension EvalCheck {
    /// "test predictions after step 89 differ: accuracy 0.8889 in the golden, 0.8861 now".
    public var text: String {
        "\(split) predictions after step \(step) differ: accuracy \(Reports.acc(expectedAccuracy)) in the golden, \(Reports.acc(actualAccuracy)) now (predictions hash \(expectedPredictions) / \(actualPredictions))"
    }
}
