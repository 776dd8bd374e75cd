import Foundation
import Recorder
import Replayer

/// `cwrepro replay`: the report as text, Markdown and JSON.
extension ReplayReport {
    public var humanText: String {
        var lines: [String] = patches.map { "patched: " + DivergenceText.patch($0) } + environmentWarnings.map { "warning: " + DivergenceText.warning($0) }
        if identical {
            lines.append(verdictLine)
        } else {
            if firstDivergence == nil, let e = evaluationMismatches.first {
                lines.append("first divergence in evaluation: \(Self.text(e))")
            }
            if firstDivergence == nil && firstDivergentDraw == nil && evaluationMismatches.isEmpty, let l = lengthDivergence {
                lines.append("first divergence \(DivergenceText.at(l.step)): \(Self.text(l))")
            }
            lines += DivergenceText.lines(firstDivergence, draw: firstDivergentDraw)
            if let c = DivergenceText.causeLine(diagnosis) { lines.append(c) }
            if stoppedAtFirstDivergence {
                lines.append("stopped at the first divergent step (--until-diverge)")
            } else if divergentSteps.isEmpty, let l = lengthDivergence {
                lines.append("diverged: the \(Text.count(stepsReplayed, "shared step")) \(stepsReplayed == 1 ? "is" : "are") bit-identical; the runs differ in length from step \(l.step)")
            } else {
                // The initialization is a compared step too; counted when it differs.
                let initDiffers = divergentSteps.first == initStep
                lines.append("diverged: \(Text.grouped(divergentSteps.count)) of \(Text.grouped(stepsReplayed + (initDiffers ? 1 : 0))) steps" +
                             (initDiffers ? " (initialization included)" : "") + " differ" + (divergentSteps.first.map { ", from \(stepLabel($0))" } ?? ""))
                // Steps that differ do not say the runs also differ in length (--json's lengthDivergence),
                // unless the length is the first divergence named above.
                if let l = lengthDivergence, !(firstDivergence == nil && firstDivergentDraw == nil && evaluationMismatches.isEmpty) {
                    lines.append("the runs differ in length too: \(Self.text(l))")
                }
            }
        }
        if !environmentChanges.isEmpty { lines.append("environment differs: " + environmentChanges.map(DivergenceText.change).joined(separator: "; ")) }
        if !identical, let gap = incompleteness, gap != .noTrainingSteps {
            lines.append("note: \(RunStateText.recordState(gap)); \(Text.count(stepsRecorded, "committed step")) compared")
        }
        return lines.joined(separator: "\n")
    }

    /// The verdict of a replay that found no difference: a pass only for a whole finished run.
    var verdictLine: String {
        let what = "\(Text.count(stepsReplayed, "step")), \(Text.count(tensorsCompared, "tensor"))"
        switch outcome {
        case .incomplete(.noTrainingSteps), .acceptedIncomplete(.noTrainingSteps):
            return "nothing to compare: the record holds no training step (\(RunStateText.recordState(recordStatus, writerActive: writerActive))); a replay of it proves nothing"
        case .incomplete(let gap):
            return "incomplete: \(what) bit-identical, but \(RunStateText.recordState(gap)): not a whole run"
        case .acceptedIncomplete(let gap):
            return "bit-identical as far as the record goes: \(what) (\(RunStateText.recordState(gap)); accepted with --allow-incomplete)"
        case .identical, .diverged:
            return "bit-identical: \(what)"
        }
    }

    /// A verdict line, a table of the facts, the text report in a code block.
    public var markdown: String {
        var rows = [["record", "`\(record)` (\(RunStateText.recordState(recordStatus, writerActive: writerActive)))"],
                    ["steps replayed", "\(Text.grouped(stepsReplayed)) of \(Text.grouped(stepsRecorded))"],
                    ["tensors compared", Text.grouped(tensorsCompared)]]
        if let d = firstDivergence {
            rows.append(["first divergent tensor", "`\(d.name)` (\(DivergenceText.role(d.role, step: d.step))) \(DivergenceText.at(d.step))"])
        }
        if let l = lengthDivergence { rows.append(["run length", Self.text(l)]) }
        if let c = DivergenceText.causeCell(diagnosis) { rows.append(["cause", c]) }
        if !configChanges.isEmpty { rows.append(["config changes", configChanges.map { "`\(DivergenceText.change($0))`" }.joined(separator: ", ")]) }
        if !environmentChanges.isEmpty { rows.append(["environment changes", environmentChanges.map { "`\(DivergenceText.change($0))`" }.joined(separator: ", ")]) }
        let verdict = switch outcome {
        case .identical: "**bit-identical**"
        case .diverged: "**diverged**"
        case .incomplete(.noTrainingSteps): "**nothing to compare**"
        case .incomplete: "**incomplete**"
        case .acceptedIncomplete: "**bit-identical as far as the record goes**"
        }
        return "### cwrepro replay: \(verdict)\n\n" + Text.markdownTable(["fact", "value"], rows) + "\n\n```\n" + humanText + "\n```"
    }

    public var json: String {
        var o = JSONDocument()
        o.set("record", record)
        o.set("outcome", RunStateText.name(outcome))
        o.set("incompleteness", incompleteness.map(RunStateText.name))
        o.set("recordStatus", recordStatus.name)
        o.set("recordFailure", recordStatus.failure)
        o.set("writerActive", writerActive)
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
        o.setNull("lengthDivergence", lengthDivergence.map { l -> JSONDocument in
            var d = JSONDocument()
            d.set("step", l.step)
            d.set("onlyIn", l.onlyIn.rawValue)
            return d
        })
        o.set("stoppedAtFirstDivergence", stoppedAtFirstDivergence)
        o.set("patches", patches.map(DivergenceText.patch))
        o.set("environmentWarnings", environmentWarnings.map(DivergenceText.warning))
        o.set("patchingDisabled", patchingDisabled)
        o.set("openblas", openblas)
        return jsonText(o)
    }

    /// "only the record has this step (the replay ends after step 9)".
    static func text(_ l: RunLengthDivergence) -> String {
        let end = l.step == 0 ? "before its first training step" : "after step \(l.step - 1)"
        switch l.onlyIn {
        case .record: return "only the record has step \(l.step) (the replay ends \(end))"
        case .replay: return "the replay would go on to step \(l.step), which the record does not have (the record ends \(end))"
        }
    }

    /// "test predictions after step 89: accuracy 0.8889 recorded, 0.8861 replayed".
    static func text(_ e: EvaluationMismatch) -> String {
        "\(e.split) predictions after step \(e.step): accuracy \(Text.acc(e.recordedAccuracy)) recorded, \(Text.acc(e.replayedAccuracy)) replayed"
    }
}
