import Foundation
import Recorder
import Replayer

/// `cwrepro replay`: the report as text, Markdown and JSON.
extension ReplayReport {
    public var humanText: String {
        var lines: [String] = patches.map { "patched: " + DivergenceText.patch($0) } + environmentWarnings.map { "warning: " + DivergenceText.warning($0) }
        if identical {
            lines.append("bit-identical: \(Text.count(stepsReplayed, "step")), \(Text.count(tensorsCompared, "tensor"))")
        } else {
            if firstDivergence == nil, let e = evaluationMismatches.first {
                lines.append("first divergence in evaluation: \(Self.text(e))")
            }
            lines += DivergenceText.lines(firstDivergence, draw: firstDivergentDraw)
            if let c = DivergenceText.causeLine(diagnosis) { lines.append(c) }
            if stoppedAtFirstDivergence {
                lines.append("stopped at the first divergent step (--until-diverge)")
            } else {
                lines.append("diverged: \(Text.grouped(divergentSteps.count)) of \(Text.grouped(stepsReplayed)) steps differ" +
                             (divergentSteps.first.map { ", from \(stepLabel($0))" } ?? ""))
            }
        }
        if !environmentChanges.isEmpty { lines.append("environment differs: " + environmentChanges.map(DivergenceText.change).joined(separator: "; ")) }
        if !recordComplete { lines.append("note: the record is incomplete; \(stepsRecorded) committed steps compared") }
        return lines.joined(separator: "\n")
    }

    /// A verdict line, a table of the facts, the text report in a code block.
    public var markdown: String {
        var rows = [["record", "`\(record)`\(recordComplete ? "" : " (incomplete)")"],
                    ["steps replayed", "\(Text.grouped(stepsReplayed)) of \(Text.grouped(stepsRecorded))"],
                    ["tensors compared", Text.grouped(tensorsCompared)]]
        if let d = firstDivergence {
            rows.append(["first divergent tensor", "`\(d.name)` (\(DivergenceText.role(d.role, step: d.step))) \(DivergenceText.at(d.step))"])
        }
        if let c = DivergenceText.causeCell(diagnosis) { rows.append(["cause", c]) }
        if !configChanges.isEmpty { rows.append(["config changes", configChanges.map { "`\(DivergenceText.change($0))`" }.joined(separator: ", ")]) }
        if !environmentChanges.isEmpty { rows.append(["environment changes", environmentChanges.map { "`\(DivergenceText.change($0))`" }.joined(separator: ", ")]) }
        let verdict = identical ? "**bit-identical**" : "**diverged**"
        return "### cwrepro replay: \(verdict)\n\n" + Text.markdownTable(["fact", "value"], rows) + "\n\n```\n" + humanText + "\n```"
    }

    public var json: String {
        var o = JSONDocument()
        o.set("record", record)
        o.set("recordComplete", recordComplete)
        o.set("stepsReplayed", stepsReplayed)
        o.set("stepsRecorded", stepsRecorded)
        o.set("tensorsCompared", tensorsCompared)
        o.set("divergentSteps", divergentSteps)
        o.set("firstDivergence", firstDivergence)
        o.set("firstDivergentDraw", firstDivergentDraw)
        DivergenceText.setCause(diagnosis, in: &o)
        o.set("configChanges", configChanges.map(DivergenceText.change))
        o.set("environmentChanges", environmentChanges.map(DivergenceText.change))
        o.set("evaluationMismatches", evaluationMismatches.map(Self.text))
        o.set("stoppedAtFirstDivergence", stoppedAtFirstDivergence)
        o.set("patches", patches.map(DivergenceText.patch))
        o.set("environmentWarnings", environmentWarnings.map(DivergenceText.warning))
        o.set("patchingDisabled", patchingDisabled)
        o.set("openblas", openblas)
        return jsonText(o)
    }

    /// "test predictions after step 89: accuracy 0.8889 recorded, 0.8861 replayed".
    static func text(_ e: EvaluationMismatch) -> String {
        "\(e.split) predictions after step \(e.step): accuracy \(Text.acc(e.recordedAccuracy)) recorded, \(Text.acc(e.replayedAccuracy)) replayed"
    }
}
