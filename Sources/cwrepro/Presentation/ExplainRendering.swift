import Engine
import Foundation
import Recorder
import Replayer

/// `cwrepro explain`: the report as tables, Markdown and JSON.
extension ExplainReport {
    static func pct(_ x: Double) -> String { String(format: "%.2f%%", 100 * x) }
    static func pp(_ x: Double) -> String { String(format: "%+.2f pp", 100 * x) }
    static func num(_ x: Double) -> String { String(format: "%.6f", x) }
    static func signed(_ x: Double) -> String { String(format: "%+.6f", x) }

    static func divergence(_ step: Int?, _ tensor: String?, _ role: TensorRole?) -> String {
        guard let step, let tensor else { return "none (bit-identical)" }
        return "\(step == initStep ? "init" : "step \(step)"): \(tensor) (\(role.map { DivergenceText.role($0, step: step) } ?? ""))"
    }

    static func value(_ j: JSON?) -> String { j?.text ?? "(absent)" }

    var runRows: [[String]] {
        [["A (\(aName))", Self.pct(a.testAccuracy), "\(a.correct)/\(a.total)", Self.num(a.finalLoss), "\(a.seed ?? 0)"],
         ["B (\(bName)) with A's draws", Self.pct(b.testAccuracy), "\(b.correct)/\(b.total)", Self.num(b.finalLoss), "\(b.seed ?? 0)"],
         ["B with its own draws", Self.pct(bOwnDraws.testAccuracy), "\(bOwnDraws.correct)/\(bOwnDraws.total)",
          Self.num(bOwnDraws.finalLoss), "\(bOwnDraws.seed ?? 0)"]]
    }

    /// Differences that change at least one bit of A's run (the others are listed on one line).
    var effective: [KnobEffect] { knobs.filter { $0.firstDivergentStep != nil } }
    var inert: [String] { knobs.filter { $0.firstDivergentStep == nil }.map(\.knob) }

    var knobRows: [[String]] {
        effective.map { k in
            [k.knob + (k.kind == .config ? " (config)" : ""), Self.value(k.a), Self.value(k.b),
             Self.divergence(k.firstDivergentStep, k.firstDivergentTensor, k.firstDivergentRole),
             Self.pp(k.accuracyDelta), Self.signed(k.lossDelta), k.gapShare.map(Self.pct) ?? "-",
             minimalSet.contains(k.knob) ? "yes" : ""]
        }
    }

    static let runHeader = ["run", "test accuracy", "correct", "final loss", "seed"]
    static let knobHeader = ["difference (A -> B)", "A", "B", "first divergence (A with only this flipped)",
                             "accuracy change", "loss change", "share of gap", "minimal set"]

    var conclusion: [String] {
        var lines: [String] = []
        lines.append("first divergence of B from A (same draws): " +
                     Self.divergence(firstDivergence?.step, firstDivergence?.tensor, firstDivergence?.role) +
                     (firstDivergence.map { $0.causedBy.isEmpty ? "" : "; the same first divergence as A with only " + $0.causedBy.joined(separator: " or ") + " flipped" } ?? ""))
        let metric = gapMetric == .testAccuracy ? "test accuracy" : "final loss (the accuracies are equal)"
        let gapText = gapMetric == .testAccuracy ? Self.pp(gap) : Self.signed(gap)
        if knobs.isEmpty {
            lines.append("no differences between A and B: nothing to explain")
        } else if gap == 0 {
            lines.append("no gap in \(metric): minimal set empty")
        } else {
            let set = minimalSet.isEmpty ? "(none)" : minimalSet.joined(separator: ", ")
            lines.append("gap B - A in \(metric): \(gapText); minimal set reproducing it to within \(Self.pct(1 - threshold)): \(set)")
            lines.append("the minimal set reproduces \(Self.pct(explainedShare)) of the gap; unexplained \(Self.pct(unexplainedShare))" +
                         (unexplainedShare < 0 ? " (the set overshoots)" : ""))
        }
        if !inert.isEmpty {
            lines.append("no effect on this run (A with the difference alone is bit-identical): " + inert.joined(separator: ", "))
        }
        let noise = bOwnDraws.testAccuracy - b.testAccuracy
        lines.append("randomness: B with its own draws (seed \(bOwnDraws.seed ?? 0)) vs B with A's draws: \(Self.pp(noise)) accuracy")
        lines.append("\(runs) training runs in \(String(format: "%.1f", seconds)) s (hash level \(level.rawValue))")
        return lines
    }

    public var humanText: String {
        var out = Text.table(Self.runHeader, runRows) + "\n"
        if !effective.isEmpty { out += "\n" + Text.table(Self.knobHeader, knobRows) + "\n" }
        out += "\n" + conclusion.joined(separator: "\n")
        return out
    }

    public var markdown: String {
        var out = "## cwrepro explain: \(aName) vs \(bName)\n\n" + Text.markdownTable(Self.runHeader, runRows) + "\n"
        if !effective.isEmpty { out += "\n" + Text.markdownTable(Self.knobHeader, knobRows) + "\n" }
        out += "\n" + conclusion.map { "- \($0)" }.joined(separator: "\n") + "\n"
        return out
    }

    public var json: String { jsonText(self) }
}

extension Explain.Progress {
    /// A progress line for a terminal.
    public var text: String {
        switch self {
        case .trainingA(let name): "training A (\(name))"
        case .trainingVariants(let n): "training B with A's draws, B with its own draws, and \(n) single-difference variants"
        case .tryingMinimalSet(let names): "minimal set: trying {\(names.joined(separator: ", "))}"
        }
    }
}
