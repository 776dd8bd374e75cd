import Engine
import Foundation
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
        public var role: String
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
        public var firstDivergentRole: String?
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
    /// `testAccuracy`, or `finalLoss` when A and B reach the same accuracy.
    public var gapMetric: String
    /// B minus A in `gapMetric`.
    public var gap: Double
    public var explainedShare: Double
    public var unexplainedShare: Double
    public var threshold: Double
    public var level: String
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

/// Human and Markdown renderings of an `ExplainReport`.
public enum ExplainFormat {
    static func pct(_ x: Double) -> String { String(format: "%.2f%%", 100 * x) }
    static func pp(_ x: Double) -> String { String(format: "%+.2f pp", 100 * x) }
    static func num(_ x: Double) -> String { String(format: "%.6f", x) }
    static func signed(_ x: Double) -> String { String(format: "%+.6f", x) }

    static func divergence(_ step: Int?, _ tensor: String?, _ role: String?) -> String {
        guard let step, let tensor else { return "none (bit-identical)" }
        return "\(step == initStep ? "init" : "step \(step)"): \(tensor) (\(Reports.roleText(role ?? "", step: step)))"
    }

    static func value(_ j: JSON?) -> String { j?.text ?? "(absent)" }

    static func runRows(_ r: ExplainReport) -> [[String]] {
        [["A (\(r.aName))", pct(r.a.testAccuracy), "\(r.a.correct)/\(r.a.total)", num(r.a.finalLoss), "\(r.a.seed ?? 0)"],
         ["B (\(r.bName)) with A's draws", pct(r.b.testAccuracy), "\(r.b.correct)/\(r.b.total)", num(r.b.finalLoss), "\(r.b.seed ?? 0)"],
         ["B with its own draws", pct(r.bOwnDraws.testAccuracy), "\(r.bOwnDraws.correct)/\(r.bOwnDraws.total)",
          num(r.bOwnDraws.finalLoss), "\(r.bOwnDraws.seed ?? 0)"]]
    }

    /// Differences that change at least one bit of A's run (the others are listed on one line).
    static func effective(_ r: ExplainReport) -> [ExplainReport.KnobEffect] { r.knobs.filter { $0.firstDivergentStep != nil } }
    static func inert(_ r: ExplainReport) -> [String] { r.knobs.filter { $0.firstDivergentStep == nil }.map(\.knob) }

    static func knobRows(_ r: ExplainReport) -> [[String]] {
        effective(r).map { k in
            [k.knob + (k.kind == .config ? " (config)" : ""), value(k.a), value(k.b),
             divergence(k.firstDivergentStep, k.firstDivergentTensor, k.firstDivergentRole),
             pp(k.accuracyDelta), signed(k.lossDelta), k.gapShare.map(pct) ?? "-",
             r.minimalSet.contains(k.knob) ? "yes" : ""]
        }
    }

    static let runHeader = ["run", "test accuracy", "correct", "final loss", "seed"]
    static let knobHeader = ["difference (A -> B)", "A", "B", "first divergence (A with only this flipped)",
                             "accuracy change", "loss change", "share of gap", "minimal set"]

    static func conclusion(_ r: ExplainReport) -> [String] {
        var lines: [String] = []
        lines.append("first divergence of B from A (same draws): " +
                     divergence(r.firstDivergence?.step, r.firstDivergence?.tensor, r.firstDivergence?.role) +
                     (r.firstDivergence.map { $0.causedBy.isEmpty ? "" : "; the same first divergence as A with only " + $0.causedBy.joined(separator: " or ") + " flipped" } ?? ""))
        let metric = r.gapMetric == "testAccuracy" ? "test accuracy" : "final loss (the accuracies are equal)"
        let gapText = r.gapMetric == "testAccuracy" ? pp(r.gap) : signed(r.gap)
        if r.knobs.isEmpty {
            lines.append("no differences between A and B: nothing to explain")
        } else if r.gap == 0 {
            lines.append("no gap in \(metric): minimal set empty")
        } else {
            let set = r.minimalSet.isEmpty ? "(none)" : r.minimalSet.joined(separator: ", ")
            lines.append("gap B - A in \(metric): \(gapText); minimal set reproducing it to within \(pct(1 - r.threshold)): \(set)")
            lines.append("the minimal set reproduces \(pct(r.explainedShare)) of the gap; unexplained \(pct(r.unexplainedShare))" +
                         (r.unexplainedShare < 0 ? " (the set overshoots)" : ""))
        }
        if !inert(r).isEmpty {
            lines.append("no effect on this run (A with the difference alone is bit-identical): " + inert(r).joined(separator: ", "))
        }
        let noise = r.bOwnDraws.testAccuracy - r.b.testAccuracy
        lines.append("randomness: B with its own draws (seed \(r.bOwnDraws.seed ?? 0)) vs B with A's draws: \(pp(noise)) accuracy")
        lines.append("\(r.runs) training runs in \(String(format: "%.1f", r.seconds)) s (hash level \(r.level))")
        return lines
    }

    public static func text(_ r: ExplainReport) -> String {
        var out = Reports.textTable(runHeader, runRows(r)) + "\n"
        if !effective(r).isEmpty { out += "\n" + Reports.textTable(knobHeader, knobRows(r)) + "\n" }
        out += "\n" + conclusion(r).joined(separator: "\n")
        return out
    }

    public static func markdown(_ r: ExplainReport) -> String {
        var out = "## cwrepro explain: \(r.aName) vs \(r.bName)\n\n" + Reports.markdownTable(runHeader, runRows(r)) + "\n"
        if !effective(r).isEmpty { out += "\n" + Reports.markdownTable(knobHeader, knobRows(r)) + "\n" }
        out += "\n" + conclusion(r).map { "- \($0)" }.joined(separator: "\n") + "\n"
        return out
    }
}
