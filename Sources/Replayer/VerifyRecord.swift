import Engine
import Foundation
import Recorder

/// `cwrepro verify --record run.cwr --golden steps.hashes`: checks a record of any origin (cwrepro's,
/// or imported from a real PyTorch or Keras run) against a golden without training: its steps go
/// through the same `VerifySink` as a training run's, so the report, its renderings (text, JSON,
/// Markdown, JUnit, annotations) and the exit codes are `verify`'s.
///
/// A record at a higher level than the golden is checked at the golden's: its step digests are
/// recomputed over the roles the golden hashed. One at a lower level cannot be checked.
public enum RecordVerification {
    public static func run(record path: String, golden: StepHashes, goldenPath: String, steps: Int? = nil,
                           allowIncomplete: Bool = false) throws -> VerifyReport {
        let start = Date()
        let reader = try RecordReader(path: path)
        let available = golden.trainingSteps, n = steps ?? available
        guard n >= 0, n <= available else { throw VerifyError.stepsOutOfRange(requested: n, available: available, golden: goldenPath) }
        guard reader.level >= golden.level else {
            throw InputError("\(path) was recorded at level \(reader.level.rawValue), the golden \(goldenPath) at level \(golden.level.rawValue): a record can be checked only against a golden of its level or below; record or capture at level \(golden.level.rawValue), or write the golden from a record at level \(reader.level.rawValue)")
        }
        let rows = try reader.steps()
        let trainingSteps = rows.filter { $0.step >= 0 }.count
        let sink = VerifySink(golden: golden, steps: n, stopAtLastStep: n < trainingSteps)
        let evaluations = Dictionary(grouping: try reader.evaluations(), by: \.step)
        for row in rows {
            var events = try reader.events(step: row.step)
            var digest = row.digest
            if reader.level != golden.level {
                events = events.filter { golden.level.includes($0.role) }.enumerated().map { i, e in var e = e; e.seq = i; return e }
                digest = TensorHash.digest(events.map { ($0.name, $0.role.rawValue, $0.hash) })
            }
            for e in events { sink.event(e) }
            try sink.endStep(StepSummary(step: row.step, epoch: row.epoch, loss: row.loss, lr: row.lr, digest: digest,
                                         wallSeconds: row.wallSeconds, tensorCount: events.count), events: events)
            // As training does: the step's evaluations come after it, unless the check stops here
            // (a training run evaluates before stopping only where the golden asks it to).
            let stop = sink.shouldStop
            if !stop || sink.evaluatesBeforeStopping { for e in evaluations[row.step] ?? [] { try sink.evaluation(e) } }
            if stop { break }
        }

        let resolved = try RecordedConfig.resolved(reader)
        let configChanges = Change.between(golden.config, Change.leaves(resolved))
        let envChanges = Change.environment(golden.environment, reader.environment)
        var name = golden.name
        if case .string(let s)? = resolved["name"] { name = s }
        var report = VerifyReport(
            config: path, golden: goldenPath, name: name, level: golden.level, goldenConfigHash: hex64(golden.configHash),
            configHash: hex64(StepHashes.configHash(resolved)), configChanges: configChanges, environmentChanges: envChanges,
            stepsPlanned: n, checks: sink.checks, firstMismatch: sink.firstMismatch, evaluations: sink.evaluations,
            firstDivergence: sink.first.tensor, firstDivergentDraw: sink.first.draw, tensorHashes: golden.hasTensors, diagnosis: nil,
            shortfall: nil, seconds: Date().timeIntervalSince(start),
            goldenStatus: golden.status, incompleteness: nil, outcome: .identical)
        report.checkedRecord = true
        report.conclude(golden: golden, checkedRecord: (reader.status, reader.writerActive), acceptIncomplete: allowIncomplete) {
            .diagnose(Evidence(first: sink.first, configChanges: configChanges.filter { $0.key != "name" }, environmentChanges: envChanges))
        }
        return report
    }
}
