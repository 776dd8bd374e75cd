import Engine
import Foundation
import Recorder
import Replayer

/// `cwrepro explain`: the report as tables, Markdown and JSON.
extension ExplainReport {
    static func pct(_ x: Double) -> String { String(format: "%.2f%%", 100 * x) }
    static func pp(_ x: Double) -> String { String(format: "%+.2f pp", 100 * x) }
    static func signed(_ x: Double) -> String { String(format: "%+.4f", x) }
    static func p(_ x: Double) -> String { x >= 0.001 ? String(format: "%.3f", x) : String(format: "%.1e", x) }

    /// `-58.33 pp [-61.20, -55.46]`: a difference of accuracies, its interval clipped to the
    /// possible [-100, +100] points (over 2 or 3 seeds a t interval reaches past it; --json keeps it whole).
    static func ppInterval(_ e: Estimate) -> String {
        String(format: "%+.2f pp ", 100 * e.mean) + StudyText.interval(e.interval, signed: true)
    }

    static func lossInterval(_ e: Estimate) -> String {
        String(format: "%+.4f [%+.4f, %+.4f]", e.mean, e.interval.low, e.interval.high)
    }

    static func share(_ value: Double?, _ status: ShareStatus) -> String {
        switch status {
        case .measured: value.map(pct) ?? "-"
        case .aboveRange: "> " + pct(shareRange.upperBound)
        case .belowRange: "< " + pct(shareRange.lowerBound)
        case .gapNotSignificant, .noEffect: "-"
        }
    }

    static func divergence(_ step: Int?, _ tensor: String?, _ role: TensorRole?) -> String {
        guard let step, let tensor else { return "none (bit-identical)" }
        return "\(step == initStep ? "init" : "step \(step)"): \(tensor) (\(role.map { DivergenceText.role($0, step: step) } ?? ""))"
    }

    static func value(_ j: JSON?) -> String { j?.text ?? "(absent)" }

    static func sourceName(_ s: SeedSources.Source) -> String {
        switch s {
        case .initialisation: "initialisation"
        case .dataOrder: "data order"
        case .dropout: "dropout"
        case .augmentation: "augmentation"
        case .syntheticData: "the synthetic data"
        }
    }

    var seedRange: String {
        seeds.count > 1 ? "\(seeds[0]) to \(seeds[seeds.count - 1])" : seeds.map(String.init).joined()
    }

    // MARK: the two sides

    static let sideHeader = ["side", "config", "mean test accuracy", "sd", "min", "max", "distinct runs", "the seeds draw"]

    func sideRow(_ label: String, _ s: Side) -> [String] {
        [label, s.name, Self.pct(s.summary.mean), String(format: "%.2f pp", 100 * s.summary.standardDeviation),
         Self.pct(s.summary.min), Self.pct(s.summary.max), "\(s.distinctRuns)/\(s.accuracy.count)",
         s.seedSources.varies.isEmpty ? "nothing" : s.seedSources.varies.map(Self.sourceName).joined(separator: ", ")]
    }

    var sideRows: [[String]] { [sideRow("A", a), sideRow("B", b)] }

    /// Pinned and unpinned sources, one line per side that has any.
    var pinLines: [String] {
        var lines: [String] = []
        for (label, s) in [("A", a), ("B", b)] {
            if !s.unpinned.isEmpty {
                lines.append("\(label): --unpin handed to the seed what \(s.unpinned.joined(separator: ", ")) fixed")
            }
            if !s.seedSources.pinned.isEmpty {
                lines.append("\(label) pins " + s.seedSources.pinned.map { "\(Self.sourceName($0.source)) (\($0.key))" }.joined(separator: ", ") +
                             ": the seeds do not vary it (--unpin hands it to the seed)")
            }
        }
        return lines
    }

    // MARK: the gap

    var gapLines: [String] {
        let c = gap.comparison
        var lines = [
            String(format: "gap B - A in test accuracy: %+.2f pp, %d%% CI ", 100 * gap.mean, Int((100 * confidence).rounded()))
                + StudyText.interval(gap.interval, signed: true)
                + (gap.interval.low < -1 || gap.interval.high > 1 ? " pp (clipped to the possible range)" : " pp")
                + String(format: "; Welch t = %.2f (df %.1f), p = %@",
                         c.difference.test.statistic, c.difference.degreesOfFreedom, Self.p(gap.pValue)),
            "Mann-Whitney U = \(String(format: "%g", c.rank.statistic)), p = \(Self.p(c.rank.pValue)) (\(c.rank.pValue < 1 - confidence ? "one side tends to be higher" : "no side tends to be higher")); "
                + (c.spread.map { s in
                    "Levene W = \(String(format: "%.2f", s.statistic)), p = \(Self.p(s.pValue)) (\(s.pValue < 1 - confidence ? "the seed spreads differ" : "seed spreads alike"))"
                } ?? "Levene's test not computed (it needs 3 seeds a side: with 2, each side's deviations from its median are equal)"),
        ]
        if let l = lossGap {
            lines.append(String(format: "final training loss B - A: %+.4f, %d%% CI [%+.4f, %+.4f], Welch p = %@",
                                l.mean, Int((100 * confidence).rounded()), l.interval.low, l.interval.high, Self.p(l.pValue)))
        }
        return lines
    }

    var verdictLine: String {
        switch verdict {
        case .noDifferences:
            return "verdict: A and B differ in nothing that changes training; nothing to explain"
        case .withinNoise:
            let sd = max(a.summary.standardDeviation, b.summary.standardDeviation)
            return "verdict: the gap is within seed noise (its interval contains 0; the seed alone moves accuracy with a standard deviation of " +
                String(format: "%.2f pp", 100 * sd) + "): nothing is attributed and the minimal set is empty. " +
                "The effects below are each difference's own, for information; a share of a gap that is not shown to exist would be noise over noise"
        case .gap:
            var s = "verdict: the gap is larger than seed noise (its interval excludes 0): attributed below"
            if let f = gap.precisionFactor, f > 2 {
                s += String(format: ". The interval's ends are a factor %.1f apart, so each share of the gap is uncertain by as much: read the effects in points", f)
            }
            return s
        }
    }

    // MARK: the differences

    /// Differences that change at least one bit of A's run (the others are listed on one line).
    var effective: [KnobEffect] { knobs.filter { $0.firstDivergentStep != nil } }
    var inert: [String] { knobs.filter { $0.firstDivergentStep == nil }.map(\.knob) }

    var knobRows: [[String]] {
        effective.map { k in
            [k.knob + (k.kind == .config ? " (config)" : ""), Self.value(k.a), Self.value(k.b),
             Self.divergence(k.firstDivergentStep, k.firstDivergentTensor, k.firstDivergentRole),
             k.accuracyEffect.map(Self.ppInterval) ?? "-", k.lossEffect.map(Self.lossInterval) ?? "-",
             Self.share(k.gapShare, k.gapShareStatus), minimalSet.contains(k.knob) ? "yes" : ""]
        }
    }

    var knobHeader: [String] {
        ["difference (A -> B)", "A", "B", "first divergence (seed \(seeds.first ?? 0), A with only this flipped)",
         "accuracy effect [\(Int((100 * confidence).rounded()))% CI]", "loss effect", "share of gap", "minimal set"]
    }

    var conclusion: [String] {
        var lines: [String] = []
        if verdict == .gap, let e = minimalSetEffect, let u = unexplained {
            let set = minimalSet.isEmpty ? "(none)" : minimalSet.joined(separator: ", ")
            lines.append("minimal set reproducing the gap to within \(Self.pct(1 - threshold)): \(set)")
            lines.append("  A with it: \(Self.ppInterval(e)) = \(Self.share(explainedShare, explainedShareStatus)) of the gap; " +
                         "unexplained (B - A with it): \(Self.ppInterval(u))" +
                         (u.excludesZero ? " (beyond seed noise: the other differences add this much)" : " (within seed noise)"))
            if knobs.contains(where: { $0.gapShareStatus == .aboveRange || $0.gapShareStatus == .belowRange }) {
                lines.append("  shares are shown within \(Self.pct(Self.shareRange.lowerBound)) to \(Self.pct(Self.shareRange.upperBound)): a difference beyond that interacts with others (its effect in points says how far)")
            }
            let interacting = inert.filter(minimalSet.contains)
            if !interacting.isEmpty {
                lines.append("  \(interacting.joined(separator: ", ")): no effect alone, needed with the others: the set without \(interacting.count == 1 ? "it" : "any of them") does not reproduce the gap (an interaction, e.g. an optimizer setting that only the other optimizer reads)")
            }
        }
        if !inert.isEmpty {
            lines.append("no effect (A with the difference alone is bit-identical on seed \(seeds.first ?? 0); not run again): " + inert.joined(separator: ", "))
        }
        lines.append("first divergence of B from A (seed \(seeds.first ?? 0), same draws): " +
                     Self.divergence(firstDivergence?.step, firstDivergence?.tensor, firstDivergence?.role) +
                     (firstDivergence.map { $0.causedBy.isEmpty ? "" : "; the same first divergence as A with only " + $0.causedBy.joined(separator: " or ") + " flipped" } ?? ""))
        lines.append("\(runs) training runs in \(String(format: "%.1f", seconds)) s (hash level \(level.rawValue) on seed \(seeds.first ?? 0), plain on the others)")
        return lines
    }

    // MARK: fidelity

    var fidelityLines: [String] {
        guard let fidelity else { return [] }
        var lines: [String] = []
        for (label, r) in [("A", fidelity.a), ("B", fidelity.b)] {
            guard let r else { continue }
            lines.append("fidelity \(label): \(r.configName) against the \(r.framework) run \"\(r.traceName)\": \(Self.fidelityText(r))")
            if !r.reproduces {
                lines.append("warning: \(label) does not reproduce its real run within tolerance: the explanation below is about cwrepro's emulation of it, not about \(r.framework)")
            }
        }
        return lines
    }

    static func fidelityText(_ r: FidelityReport) -> String {
        var parts = [r.verdict.rawValue]
        if r.traceSteps != r.configSteps {
            parts.append("the trace has \(r.traceSteps) steps, the config trains \(r.configSteps)")
        }
        if let m = r.maxRelativeLossDifference, let s = r.maxRelativeLossDifferenceStep {
            parts.append("\(r.comparedSteps) steps, worst relative loss difference \(m.isFinite ? String(format: "%.2g", m) : "inf") (step \(s)), \(r.identicalLosses) bit-identical")
        }
        if let f = r.firstStepBeyondTolerance { parts.append("beyond \(String(format: "%g", r.rtol)) from step \(f)") }
        switch r.predictionsIdentical {
        case true?: parts.append("test predictions identical (\(r.configCorrect)/\(r.total))")
        case false?: parts.append("test predictions differ (\(r.traceCorrect.map(String.init) ?? "?") vs \(r.configCorrect) of \(r.total) correct)")
        case nil: parts.append("the trace has no test evaluation after its last step")
        }
        return parts.joined(separator: "; ")
    }

    // MARK: the forms

    var header: String {
        "explain: A \(aName) vs B \(bName), \(seeds.count) seeds each (\(seedRange); B's own seed is not used)"
    }

    public var humanText: String {
        var out = (fidelityLines.isEmpty ? "" : fidelityLines.joined(separator: "\n") + "\n\n") + header + "\n"
        out += Text.table(Self.sideHeader, sideRows) + "\n"
        if !pinLines.isEmpty { out += pinLines.joined(separator: "\n") + "\n" }
        out += "\n" + gapLines.joined(separator: "\n") + "\n" + verdictLine + "\n"
        if !effective.isEmpty { out += "\n" + Text.table(knobHeader, knobRows) + "\n" }
        out += "\n" + conclusion.joined(separator: "\n")
        return out
    }

    public var markdown: String {
        var out = "## cwrepro explain: \(aName) vs \(bName)\n\n"
        if !fidelityLines.isEmpty { out += fidelityLines.map { "- \($0)" }.joined(separator: "\n") + "\n\n" }
        out += header + "\n\n" + Text.markdownTable(Self.sideHeader, sideRows) + "\n"
        if !pinLines.isEmpty { out += "\n" + pinLines.map { "- \($0)" }.joined(separator: "\n") + "\n" }
        out += "\n" + (gapLines + [verdictLine]).map { "- \($0)" }.joined(separator: "\n") + "\n"
        if !effective.isEmpty { out += "\n" + Text.markdownTable(knobHeader, knobRows) + "\n" }
        out += "\n" + conclusion.map { "- \($0)" }.joined(separator: "\n") + "\n"
        return out
    }

    public var json: String { jsonText(self) }
}

extension Explain.Progress {
    /// A progress line for a terminal.
    public var text: String {
        switch self {
        case .checkingFidelity(let name): "checking \(name) against its real run"
        case .trainingSides(let n): "training A and B on \(n) seeds"
        case .comparingDifferences(let n): "training B and \(n) single-difference variants on the first seed, compared with A"
        case .measuringEffects(let n, let seeds): "training \(n) effective differences on \(seeds) more seeds"
        case .tryingMinimalSet(let names): "minimal set: trying {\(names.joined(separator: ", "))}"
        }
    }
}

extension ExplainError {
    /// The error worded for the command line, with the options that fix it.
    public var message: String {
        switch self {
        case .tooFewSeeds(let n):
            return "--seeds \(n): give at least 2 (an interval needs two runs a side; the default is \(Explain.defaultSeeds))"
        case .tooManySeeds(let n):
            return "--seeds \(n): give at most \(Explain.maxSeeds) (each seed trains both sides; the default is \(Explain.defaultSeeds))"
        case .seedsVaryNothing(let a, let b):
            func pins(_ p: [SeedSources.Pin]) -> String { p.map(\.key).joined(separator: ", ") }
            return "the seeds would change nothing: A fixes its random draws with \(pins(a)) and B with \(pins(b)) " +
                "(and neither has dropout or augmentation), so every seed gives the same run and seed noise cannot be measured. " +
                "Give --unpin to let the seed draw the initial weights and the batch order (each side's profile initialiser, shuffling every epoch)"
        case .seedsChangedNothing(let n):
            return "all \(n) seeds gave bit-identical runs on both sides, so seed noise cannot be measured; give --unpin if the configs fix their draws"
        }
    }
}
