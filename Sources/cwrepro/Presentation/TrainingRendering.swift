import Foundation
import Recorder
import Replayer

/// `train`, `record` and `record --resume`: what the run ended with.
extension TrainingOutcome {
    /// "test accuracy 0.9472 (341/360)".
    static func describe(_ e: Evaluation) -> String { "\(e.split) accuracy \(Text.fixed(e.accuracy)) (\(e.correct)/\(e.total))" }

    var finalLine: String { "final loss \(Text.fixed(Double(finalLoss))); " + (final.map(Self.describe) ?? "no evaluation") }
    var weightsLine: [String] { exported.map { ["weights: \($0)"] } ?? [] }

    /// `cwrepro record`.
    public var recordedText: String {
        (["recorded \(name): \(steps) steps, \(Text.grouped(tensors ?? 0)) tensors in \(Text.fixed(seconds, 3)) s -> \(record ?? "?")", finalLine]
            + weightsLine).joined(separator: "\n")
    }

    /// `cwrepro record --resume`.
    public var resumedText: String {
        ["resumed \(name): \(stepsTrained) more steps, \(steps) in all, \(Text.grouped(tensors ?? 0)) tensors -> \(record ?? "?")", finalLine]
            .joined(separator: "\n")
    }

    /// `cwrepro train`.
    public var trainedText: String {
        var lines = ["\(name): \(steps) steps in \(Text.fixed(seconds, 3)) s (\(Text.fixed(Double(steps) / max(seconds, 1e-9), 0)) steps/s); final loss \(Text.fixed(Double(finalLoss)))"]
        if let e = final { lines.append(Self.describe(e)) }
        lines.append("final parameters: digest \(hex64(parameterDigest)) (XXH3-64 of \(Text.grouped(parameterCount)) float32)")
        return (lines + weightsLine).joined(separator: "\n")
    }
}

extension ResumeSession {
    /// Notes on what was patched or differs harmlessly (nil when nothing differs).
    public var environmentNotes: [String] {
        patches.map { "patched: " + DivergenceText.patch($0) }
            + (harmlessChanges.isEmpty ? [] : ["note: the environment differs in facts that do not change this run's bits ("
                + harmlessChanges.map(DivergenceText.change).joined(separator: "; ") + ")"])
    }

    /// Where the run continues from (after `prepare`).
    public var resumingText: String {
        let from = resumesAfterStep.map { "after step \($0)" } ?? "initialisation (no checkpoint yet)"
        return "resuming \(path) from \(from); \(discardedSteps) later committed step\(discardedSteps == 1 ? "" : "s") discarded"
    }
}

extension RecordingWriteFailure {
    /// "cannot write the record run.cwr: SQLite error 13: database or disk is full ...; the steps
    /// committed so far are kept: free space, then `cwrepro record --resume run.cwr` continues it".
    public var message: String {
        guard resumable else {
            return "cannot create the record \(record): \(detail); nothing was recorded (free space or fix the cause, then record again)"
        }
        return "cannot write the record \(record): \(detail); the steps committed so far are kept (the record is unsealed, like a killed run's): "
            + "free space or lift the limit, then `cwrepro record --resume \(record)` continues it"
    }
}

extension ResumeRefusal {
    public var message: String {
        switch self {
        case .dataChanged(let record, let changes, let files):
            let named = files.isEmpty ? "" : "; the data files: " + files.map { "\($0.path) (\($0.key))" }.joined(separator: ", ")
            return "cannot resume \(record): the data differ from the recorded run's (\(changes.map(DivergenceText.change).joined(separator: "; ")))\(named); "
                + "resumed steps would train on other data and the record could never replay: restore the original files "
                + "(or point to them with --data-dir), or record again"
        case .coreNotLoaded(let record, let recorded, let loaded):
            return "cannot resume \(record): it was recorded on OpenBLAS's \(recorded) kernels and OpenBLAS loaded \(loaded) instead; "
                + "resumed steps would not be bit-identical: resume it on a machine whose OpenBLAS has \(recorded) kernels"
        case .environmentChanged(let record, let changes):
            return "cannot resume \(record): this machine differs from the recording's in facts that change result bits and cannot be patched ("
                + changes.map(DivergenceText.change).joined(separator: "; ")
                + "); resumed steps would not be bit-identical: resume it where it was recorded, or record again"
        }
    }
}
