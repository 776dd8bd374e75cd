import Foundation
import Recorder
import Replayer

/// `cwrepro compare`: the report as text, Markdown and JSON (docs/compare.md).
extension CompareReport {
    /// "torch 2.13.0+cpu (imported)" or "cwrepro, pytorch semantics".
    static func describe(_ o: RecordOrigin) -> String {
        switch o {
        case .cwrepro(let semantics): "cwrepro, \(semantics) semantics"
        case .imported(_, let description): "\(description), imported"
        }
    }

    static func sci(_ x: Double) -> String { x.isFinite ? String(format: "%.2g", x) : "inf" }
    static func times(_ x: Double) -> String { x.isFinite ? (x >= 100 ? String(format: "%.0fx", x) : String(format: "%.2gx", x)) : "infinitely far (x inf)" }

    /// "1.weight (param, after update)".
    static func tensor(_ t: TensorComparison) -> String { "\(t.name) (\(DivergenceText.role(t.role, step: t.step)))" }

    /// "0.weight (gradient) at step 42: 21x the envelope (min 4.6e-04 relative)".
    static func excursion(_ t: TensorComparison) -> String {
        "\(tensor(t)) \(DivergenceText.at(t.step)): \(times(t.ratio)) the envelope (\(t.statistic.rawValue) \(sci(t.relativeError)) relative)"
    }

    /// Why a comparison that found no difference is not a pass (or was accepted as one): "but B:
    /// the recorded run failed (...): not a whole run (exit 5; --allow-incomplete accepts it)".
    var coverageText: String? {
        switch outcome {
        case .identical, .diverged: return nil
        case .incomplete(.noTrainingSteps), .acceptedIncomplete(.noTrainingSteps): return "but no training step is in both runs: nothing to compare (exit 5)"
        case .incomplete(let gap):
            return "but in \(incompleteRecord?.rawValue ?? "A") \(RunStateText.recordState(gap)): not a whole run (exit 5; --allow-incomplete accepts what both hold)"
        case .acceptedIncomplete(let gap):
            return "as far as both go: in \(incompleteRecord?.rawValue ?? "A") \(RunStateText.recordState(gap)) (accepted with --allow-incomplete)"
        }
    }

    /// One line saying what was found (the annotation and the Markdown title).
    public var headline: String {
        switch verdict {
        case .identical: return "identical: \(Text.count(steps.count, "step")) bit for bit"
        case .withinTolerance:
            let until = drift.map { " until step \($0.step), then chaotic drift" } ?? ""
            return "every tensor within the rounding envelope\(until)" + (transientExcursions.isEmpty ? "" : " (\(Text.count(transientExcursions.count, "transient excursion")))")
        case .diverged:
            if let d = firstDivergence { return "diverged \(DivergenceText.at(d.step)), tensor \(d.tensor) (\(DivergenceText.role(d.role, step: d.step)))" }
            if let e = evaluations.first(where: { !$0.predictionsIdentical }) { return "diverged: the \(e.split) predictions after step \(e.step) differ" }
            return "diverged: the records differ in length (\(a.steps) and \(b.steps) steps)"
        }
    }

    public var humanText: String {
        var lines: [String] = []
        lines.append("compare A \(a.path) (\(Self.describe(a.origin)); \(a.name), \(Text.count(a.steps, "step")), level \(a.level.rawValue))")
        lines.append("    and B \(b.path) (\(Self.describe(b.origin)); \(b.name), \(Text.count(b.steps, "step")), level \(b.level.rawValue))")
        switch mode {
        case .bits: lines.append("mode: bits (one implementation, \(a.origin.implementation)): the first tensor whose bits differ decides")
        case .values:
            lines.append("mode: values (\(a.origin.implementation == b.origin.implementation ? "asked for" : "two implementations")): statistics within the rounding envelope " +
                         (tolerance.rtol.map { "--rtol \(Self.sci($0))" } ?? "k eps sqrt(n) = \(Self.sci(tolerance.computed)) relative (k \(Self.sci(tolerance.k)), n \(Text.grouped(tolerance.terms)) = batch.x elements; copies \(Self.sci(tolerance.copied)))"))
        }
        lines.append("verdict: \(verdict.rawValue.uppercased()): \(headline)")
        if let coverage = coverageText { lines.append(coverage) }
        if mode == .bits, let d = bitDivergence {
            lines += DivergenceText.lines(d, draw: firstDivergentDraw, sides: .diff).dropFirst().map { $0 }
            if let c = DivergenceText.causeLine(diagnosis) { lines.append(c) }
        } else if mode == .bits, let d = firstDivergentDraw {
            lines += DivergenceText.lines(nil, draw: d, sides: .diff)
        }
        if mode == .values, let t = divergence {
            lines.append("  \(Self.excursion(t)); envelope \(Self.sci(t.envelope))")
            if let s = steps.first(where: { $0.step == t.step }), t.ratio.isFinite, t.step != initStep, t.role != .batch {
                let next = steps.first { $0.step == t.step + 1 }?.lossRatio ?? 0
                lines.append("  the state at that step: parameters and optimizer state \(Self.times(s.stateRatio)), loss \(Self.times(max(s.lossRatio, next))) the envelope: beyond \(Self.times(tolerance.stateJump)), counted as a difference in the math (rounding amplified within one step, as by Adam's division by a second moment near zero, can also get there: compare with determinism.gemm reference to tell)")
            }
        }
        if valuesCompared { lines += valueLines }
        if mode == .values, let d = bitDivergence {
            lines.append("bits: first difference \(DivergenceText.at(d.step)), \(d.name) (\(DivergenceText.role(d.role, step: d.step)))")
        }
        if !noiseDominated.isEmpty {
            lines.append("noise-dominated, excluded from the verdict (their values are rounding noise in both runs):")
            for n in noiseDominated {
                var s = "  \(n.name) (\(DivergenceText.role(n.role, step: n.fromStep))) from step \(n.fromStep): \(n.reason.rawValue)"
                if n.reason != .gradientAtRoundingFloor { s += " (\(n.source))" }
                if let ra = n.rmsA, let rb = n.rmsB, let f = n.floor { s += ": RMS \(Self.sci(ra)) / \(Self.sci(rb)), floor \(Self.sci(f))" }
                lines.append(s)
            }
        }
        for (label, names) in [("only in A", onlyInA), ("only in B", onlyInB)] where !names.isEmpty {
            lines.append("\(label): " + Self.nameList(names))
        }
        for e in evaluations {
            var s = "evaluation after step \(e.step) (\(e.split)): accuracy \(Text.acc(e.accuracyA)) / \(Text.acc(e.accuracyB)) (\(e.correctA)/\(e.total), \(e.correctB)/\(e.total)); "
            s += e.predictionsIdentical ? "predictions identical" : "predictions differ"
            if let g = e.agreeing, !e.predictionsIdentical { s += " (\(g) of \(e.total) agree, \(Text.percent(e.agreement ?? 0)))" }
            lines.append(s)
        }
        if !configChanges.isEmpty { lines.append("config changes: " + configChanges.map(DivergenceText.change).joined(separator: ", ")) }
        if !environmentChanges.isEmpty { lines.append("environment changes: " + environmentChanges.map(DivergenceText.change).joined(separator: "; ")) }
        if !steps.isEmpty {
            lines.append("")
            lines.append(stepTable(shownSteps.map { $0.map { [$0] } ?? [] }))
        }
        return lines.joined(separator: "\n")
    }

    /// Loss, worst tensor, transient excursions and drift lines (from the statistics).
    var valueLines: [String] {
        var lines: [String] = []
        let limit = drift?.step ?? divergence?.step ?? .max
        let before = steps.filter { $0.step < limit }
        if let w = worstLossBeforeDrift {
            let over = steps.filter { $0.step >= 0 && $0.step < (drift?.step ?? .max) }.count
            lines.append("loss: worst \(Self.sci(w.lossRelative ?? 0)) relative\(w.lossULPs.map { " (\($0) ulp)" } ?? "") at step \(w.step) over \(Text.count(over, "step"))\(drift == nil ? "" : " before the drift")")
        }
        let quiet = before.filter { $0.outside == 0 }
        if let w = quiet.compactMap(\.worst).max(by: { $0.ratio < $1.ratio }) {
            lines.append("tensors: within the envelope at \(quiet.count) of \(Text.count(before.count, "step"))\(limit == .max ? "" : " before step \(limit)"); worst \(Self.times(w.ratio)) (\(Self.tensor(w)) at step \(w.step), \(w.statistic.rawValue))")
        } else if firstExcursion == nil && !steps.isEmpty {
            lines.append("tensors: every one bit-identical")
        }
        if !transientExcursions.isEmpty {
            let big = transientExcursions.max { $0.ratio < $1.ratio }!
            let at = transientExcursions.prefix(6).map { String($0.step) }.joined(separator: ", ") + (transientExcursions.count > 6 ? ", ..." : "")
            lines.append("transient: \(Text.count(transientExcursions.count, "step")) with tensors outside the envelope whose effect did not last (steps \(at); largest \(Self.excursion(big))); the parameters stayed within it")
        }
        if let d = drift {
            lines.append("drift: chaotic from step \(d.step): seeded by \(Self.excursion(d.seed)); the parameters leave the envelope at step \(d.parametersLeave) (\(Self.times(d.parameterRatio)))")
            lines.append("  afterwards: " + (d.lossLeavesEnvelope.map { "the loss leaves its envelope at step \($0); " } ?? "the loss stays within its envelope; ")
                         + "by step \(d.lastStep) the parameters are \(Self.times(d.finalParameterRatio)) the envelope apart, the loss up to \(Self.sci(d.worstLossRelative)) relative")
        }
        return lines
    }

    /// The steps the text shows: the first 3, around the first excursion, the last 2.
    var shownSteps: [StepComparison?] {
        guard steps.count > 12 else { return steps }
        var keep = Set(0..<3).union((steps.count - 2)..<steps.count)
        if let e = firstExcursion, let i = steps.firstIndex(where: { $0.step == e.step }) {
            keep.formUnion(max(0, i - 2)...min(steps.count - 1, i + 2))
        }
        var out: [StepComparison?] = []
        for i in keep.sorted() {
            if let last = out.last, let l = last, let j = steps.firstIndex(of: l), j + 1 < i { out.append(nil) }
            out.append(steps[i])
        }
        return out
    }

    func stepTable(_ rows: [[StepComparison]]) -> String {
        let header = ["step", "loss A", "loss B", "ulp", "relative", "outside", "worst tensor", "x envelope", "params"]
        let body: [[String]] = rows.map { r in
            guard let s = r.first else { return ["...", "", "", "", "", "", "", "", ""] }
            return [stepLabel(s.step), Text.loss(s.lossA), Text.loss(s.lossB), s.lossULPs.map(String.init) ?? (s.step < 0 ? "-" : "sign"),
                    s.lossRelative.map(Self.sci) ?? "-", "\(s.outside)/\(s.compared)",
                    s.worst.map { "\($0.name) (\($0.role.rawValue))" } ?? (s.digestsEqual ? "(bit-identical)" : "-"),
                    Self.sci(s.worstRatio), Self.sci(s.parameterRatio)]
        }
        return Text.table(header, body)
    }

    static func nameList(_ names: [NameCount]) -> String {
        let shown = names.prefix(8).map { "\($0.name) (\($0.role.rawValue)\($0.steps > 1 ? ", \($0.steps) steps" : ""))" }
        return shown.joined(separator: ", ") + (names.count > 8 ? ", and \(names.count - 8) more" : "")
    }

    public var markdown: String {
        let icon = verdict == .diverged ? "❌" : verdict == .identical ? "✅" : "☑️"
        var out = "### cwrepro compare: \(icon) \(verdict.rawValue) — \(headline)\n\n"
        if let coverage = coverageText { out += "⚠️ \(coverage)\n\n" }
        var rows: [[String]] = [
            ["A", "`\(a.path)` (\(Self.describe(a.origin)); \(Text.count(a.steps, "step")), level \(a.level.rawValue))"],
            ["B", "`\(b.path)` (\(Self.describe(b.origin)); \(Text.count(b.steps, "step")), level \(b.level.rawValue))"],
            ["mode", mode == .bits ? "bits (one implementation)" : "values: envelope \(Self.sci(tolerance.computed)) relative" + (tolerance.rtol == nil ? " (k eps sqrt(n), n = \(tolerance.terms))" : " (--rtol)")],
        ]
        if let d = firstDivergence { rows.append(["first divergence", "step \(stepLabel(d.step)), `\(d.tensor)` (\(DivergenceText.role(d.role, step: d.step)))"]) }
        if let t = divergence, mode == .values { rows.append(["outside the envelope", Self.excursion(t)]) }
        if let c = DivergenceText.causeCell(diagnosis), mode == .bits { rows.append(["cause", c]) }
        if let w = worstLossBeforeDrift { rows.append(["worst loss difference\(drift == nil ? "" : " before the drift")", "\(Self.sci(w.lossRelative ?? 0)) relative at step \(w.step)"]) }
        if let d = drift {
            rows.append(["chaotic drift", "from step \(d.step), seeded by \(Self.excursion(d.seed)); loss up to \(Self.sci(d.worstLossRelative)) afterwards"])
        }
        if !noiseDominated.isEmpty { rows.append(["noise-dominated (excluded)", noiseDominated.map { "`\($0.name)` (\($0.role.rawValue))" }.joined(separator: ", ")]) }
        for e in evaluations {
            rows.append(["\(e.split) after step \(e.step)", "accuracy \(Text.acc(e.accuracyA)) / \(Text.acc(e.accuracyB)); " +
                         (e.predictionsIdentical ? "predictions identical" : "predictions differ" + (e.agreement.map { " (\(Text.percent($0)) agree)" } ?? ""))])
        }
        if !onlyInA.isEmpty { rows.append(["only in A", Self.nameList(onlyInA)]) }
        if !onlyInB.isEmpty { rows.append(["only in B", Self.nameList(onlyInB)]) }
        if !configChanges.isEmpty { rows.append(["config changes", configChanges.map { "`\(DivergenceText.change($0))`" }.joined(separator: "<br>")]) }
        if !environmentChanges.isEmpty { rows.append(["environment changes", environmentChanges.map(DivergenceText.change).joined(separator: "<br>")]) }
        out += Text.markdownTable(["", ""], rows) + "\n"
        if !steps.isEmpty {
            out += "\n<details><summary>\(Text.count(steps.count, "step")) compared</summary>\n\n"
            out += Text.markdownTable(["step", "loss A", "loss B", "ulp", "relative", "outside", "worst tensor", "x envelope", "params"], steps.map { s in
                [stepLabel(s.step), Text.loss(s.lossA), Text.loss(s.lossB), s.lossULPs.map(String.init) ?? "-", s.lossRelative.map(Self.sci) ?? "-",
                 "\(s.outside)/\(s.compared)", s.worst.map { "`\($0.name)` (\($0.role.rawValue))" } ?? "-", Self.sci(s.worstRatio), Self.sci(s.parameterRatio)]
            }) + "\n\n</details>\n"
        }
        return out
    }

    struct SideOut: Encodable {
        let path: String, implementation: String, origin: String, framework: String?, semantics: String?, name: String
        let level: String, steps: Int, status: String
    }

    static func sideOut(_ s: Side) -> SideOut {
        var framework: String?, semantics: String?
        switch s.origin {
        case .cwrepro(let sem): semantics = sem
        case .imported(_, let d): framework = d
        }
        return SideOut(path: s.path, implementation: s.origin.implementation, origin: s.origin.isImported ? "imported" : "cwrepro",
                       framework: framework, semantics: semantics, name: s.name, level: s.level.rawValue, steps: s.steps, status: s.status)
    }

    struct ToleranceOut: Encodable {
        let k: Double, epsilon: Double, terms: Int, computed: Double, copied: Double, rtol: Double?, stateJump: Double
    }

    /// The JSON form (docs/compare.md, "JSON"): `verdict` and `firstDivergence` ({step, tensor,
    /// role} or null) are the contract; everything else describes how they were reached.
    public var json: String {
        var o = JSONDocument()
        o.set("verdict", verdict.rawValue)
        o.setNull("firstDivergence", firstDivergence)
        o.set("outcome", RunStateText.name(outcome))
        o.setNull("incompleteness", incompleteness.map(RunStateText.name))
        o.set("mode", mode.rawValue)
        o.set("headline", headline)
        o.set("a", Self.sideOut(a))
        o.set("b", Self.sideOut(b))
        o.set("tolerance", ToleranceOut(k: tolerance.k, epsilon: ToleranceModel.epsilon, terms: tolerance.terms, computed: tolerance.computed,
                                        copied: tolerance.copied, rtol: tolerance.rtol, stateJump: tolerance.stateJump))
        o.set("valuesCompared", valuesCompared)
        o.setNull("bitDivergence", bitDivergence)
        o.setNull("firstDivergentDraw", firstDivergentDraw)
        DivergenceText.setCause(diagnosis, in: &o)
        o.setNull("firstExcursion", firstExcursion)
        o.setNull("divergence", divergence)
        o.setNull("drift", drift)
        o.set("transientExcursions", transientExcursions)
        o.setNull("worstLossBeforeDrift", worstLossBeforeDrift)
        o.set("steps", steps)
        o.set("tensors", series)
        o.set("noiseDominated", noiseDominated)
        o.set("onlyInA", onlyInA)
        o.set("onlyInB", onlyInB)
        o.set("evaluations", evaluations)
        o.set("configChanges", configChanges.map(DivergenceText.change))
        o.set("environmentChanges", environmentChanges.map(DivergenceText.change))
        return jsonText(o)
    }
}
