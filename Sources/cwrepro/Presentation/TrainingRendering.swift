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
    /// A warning when this machine differs from the recording's in bit-relevant facts.
    public var environmentWarning: String? {
        environmentChanges.isEmpty ? nil
            : "warning: the environment differs from the recording's (\(environmentChanges.map(DivergenceText.change).joined(separator: "; "))); resumed steps may not be bit-identical"
    }

    /// Where the run continues from (after `prepare`).
    public var resumingText: String {
        let from = resumesAfterStep.map { "after step \($0)" } ?? "initialisation (no checkpoint yet)"
        return "resuming \(path) from \(from); \(discardedSteps) later committed step\(discardedSteps == 1 ? "" : "s") discarded"
    }
}
