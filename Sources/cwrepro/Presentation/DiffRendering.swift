import Foundation
import Recorder
import Replayer

/// `cwrepro diff`: the report as text, Markdown and JSON.
extension RunDiffReport {
    var stepsText: String {
        "\(stepsA) / \(stepsB) training steps, level \(levels[0].rawValue) / \(levels[1].rawValue); \(divergentSteps) of \(stepsCompared) compared steps differ"
    }

    /// "the runs are bit-identical", "the runs differ", or why nothing differing is not a pass.
    var resultText: String {
        switch outcome {
        case .identical: return "the runs are bit-identical"
        case .diverged: return "the runs differ"
        case .incomplete(let gap), .acceptedIncomplete(let gap):
            let side = incompleteRecord?.rawValue ?? "A"
            let accepted = outcome.passed ? " (accepted with --allow-incomplete)" : ""
            if gap == .noTrainingSteps { return "nothing to compare: no training step is in both records" }
            return "nothing differs in what both records hold, but in \(side) \(RunStateText.recordState(gap))\(accepted)"
        }
    }

    var criteriaRows: [[String]] { criteria.map { [$0.name.rawValue, $0.verdict.rawValue.uppercased(), $0.value, $0.detail] } }

    public var humanText: String {
        var lines = ["A = \(a)", "B = \(b)", ""]
        if let keys = configKeys {
            lines.append("config: \(configChanges.count) of \(keys.count) keys differ (* = changed)")
            lines += keys.map { "  \($0.changed ? "*" : " ") \($0.key): \($0.a ?? "(absent)")" + ($0.changed ? " -> \($0.b ?? "(absent)")" : "") }
        } else {
            lines.append(configChanges.isEmpty ? "config: identical" : "config: \(configChanges.count) key\(configChanges.count == 1 ? "" : "s") differ\(configChanges.count == 1 ? "s" : "")")
            lines += configChanges.map { "  " + DivergenceText.change($0) }
        }
        lines.append(environmentChanges.isEmpty ? "environment: identical" : "environment: \(environmentChanges.count) facts differ")
        lines += environmentChanges.map { "  \($0.key): \($0.a ?? "(absent)") -> \($0.b ?? "(absent)")\($0.bitRelevant ? "  (can change bits)" : "")" }
        lines.append("steps: \(stepsText)")
        if let s = firstDivergentStep {
            if firstDivergence == nil && firstDivergentDraw == nil {
                lines.append("first divergence \(DivergenceText.at(s)): only one run has this step")
            } else {
                lines += DivergenceText.lines(firstDivergence, draw: firstDivergentDraw, sides: .diff)
            }
            if let c = DivergenceText.causeLine(diagnosis) { lines.append(c) }
        } else {
            lines.append("no divergent step: every shared step has the same digest")
        }
        lines += ["", "reproducibility criteria (Chen et al., ICSE 2022):"]
        lines.append(Text.table(["criterion", "verdict", "value", "detail"], criteriaRows).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        lines += ["", "result: " + resultText]
        return lines.joined(separator: "\n")
    }

    public var markdown: String {
        let icon: [Verdict: String] = [.pass: "✅ pass", .warn: "⚠️ warn", .fail: "❌ fail"]
        let verdict = RunStateText.markdownVerdict(outcome, pass: "✅ bit-identical", differ: "runs differ", accepted: "incomplete run")
        var out = "### cwrepro diff: \(verdict)\n\nA = `\(a)`, B = `\(b)`\n\n"
        out += Text.markdownTable(["criterion", "verdict", "value", "detail"], criteria.map { [$0.name.rawValue, icon[$0.verdict]!, $0.value, $0.detail] }) + "\n\n"
        var rows: [[String]] = [["steps", stepsText]]
        if let gap = incompleteness, outcome != .diverged { rows.append(["coverage", RunStateText.recordState(gap)]) }
        if let s = firstDivergentStep {
            rows.append(["first divergent step", stepLabel(s)])
            if let d = firstDivergence { rows.append(["first divergent tensor", "`\(d.name)` (\(DivergenceText.role(d.role, step: d.step)))"]) }
            if let d = firstDivergentDraw { rows.append(["evidence", "\(d.role.rawValue) `\(d.name)` differs"]) }
            if let c = DivergenceText.causeCell(diagnosis) { rows.append(["cause", c]) }
        }
        rows.append(["config changes", configChanges.isEmpty ? "none" : configChanges.map { "`\(DivergenceText.change($0))`" }.joined(separator: "<br>")])
        rows.append(["environment changes", environmentChanges.isEmpty ? "none" : environmentChanges.map { "\($0.key): \($0.a ?? "-") → \($0.b ?? "-")" }.joined(separator: "<br>")])
        out += Text.markdownTable(["", ""], rows) + "\n"
        if let keys = configKeys {
            out += "\n" + Text.markdownTable(["key", "A", "B"], keys.map { [($0.changed ? "**\($0.key)**" : $0.key), $0.a ?? "", $0.b ?? ""] }) + "\n"
        }
        return out
    }

    public var json: String {
        var o = JSONDocument()
        o.set("a", a)
        o.set("b", b)
        o.set("configChanges", configChanges.map(DivergenceText.change))
        o.set("configKeys", configKeys)
        o.set("environmentChanges", environmentChanges)
        o.set("levels", levels.map(\.rawValue))
        o.set("stepsA", stepsA)
        o.set("stepsB", stepsB)
        o.set("statusA", statusA.name)
        o.set("statusB", statusB.name)
        o.set("stepsCompared", stepsCompared)
        o.set("divergentSteps", divergentSteps)
        o.set("firstDivergentStep", firstDivergentStep)
        o.set("firstDivergence", firstDivergence)
        o.set("firstDivergentDraw", firstDivergentDraw)
        DivergenceText.setCause(diagnosis, in: &o)
        o.set("outcome", RunStateText.name(outcome))
        o.set("incompleteness", incompleteness.map(RunStateText.name))
        o.set("criteria", criteria.map { c -> JSONDocument in
            var d = JSONDocument()
            d.set("name", c.name.rawValue)
            d.set("verdict", c.verdict.rawValue)
            d.set("value", c.value)
            d.set("detail", c.detail)
            return d
        })
        return jsonText(o)
    }
}

/// A criterion's measured value ("+0.28 pp", "identical") and what it rests on.
extension Criterion {
    public var value: String {
        switch finding {
        case .noParameterHashes, .noTestEvaluation, .noCommonStep: return "unknown"
        case .weights(let differing, let a, let b):
            return verdict == .pass ? "identical" : "\(max(differing.count, abs(a - b))) of \(max(a, b)) differ"
        case .predictions: return verdict == .pass ? "identical" : "differ"
        case .perClass(let deltas):
            let worst = deltas.indices.max { abs(deltas[$0]) < abs(deltas[$1]) }
            let w = worst.map { abs(deltas[$0]) } ?? 0
            return w == 0 ? "none" : worst.map { "max \(Text.pp(deltas[$0])) (class \($0))" } ?? "-"
        case .accuracy(let a, let b): return Text.pp(b.accuracy - a.accuracy)
        case .loss(_, let rel, _, _): return String(format: "%.3g relative", rel)
        }
    }

    public var detail: String {
        switch finding {
        case .noParameterHashes: return "a record has no parameter hashes"
        case .weights(let differing, let a, _):
            return verdict == .pass ? "all \(a) parameter tensors have the same hash"
                : "differing: " + differing.prefix(6).joined(separator: ", ") + (differing.count > 6 ? ", ..." : "")
        case .predictions(let a, let b, let samples): return "predictions hash \(hex64(a)) / \(hex64(b)) on \(samples) test samples"
        case .perClass(let deltas):
            let listed = deltas.enumerated().filter { $0.element != 0 }.map { "\($0.offset): \(Text.pp($0.element))" }.joined(separator: ", ")
            return listed.isEmpty ? "every class identical" : listed
        case .accuracy(let a, let b):
            return "\(Text.acc(a.accuracy)) (\(a.correct)/\(a.total)) -> \(Text.acc(b.accuracy)) (\(b.correct)/\(b.total)) after steps \(a.step) / \(b.step)"
        case .noTestEvaluation(let record): return "\(record) has no test evaluation (an incomplete run?)"
        case .loss(let step, let rel, let a, let b):
            return rel == 0 ? "every shared step has bit-identical loss" : "largest at step \(step): \(Text.loss(a)) vs \(Text.loss(b))"
        case .noCommonStep: return "no training step in common"
        }
    }
}
