import Foundation
import Recorder
import Replayer

/// `cwrepro verify`: the report as text, Markdown, JSON, JUnit and a GitHub annotation headline.
extension VerifyReport {
    var checkedText: String {
        "\(checks.count) of \(stepsPlanned + 1) steps (init + \(stepsPlanned) training step\(stepsPlanned == 1 ? "" : "s"))" +
            (evaluations.isEmpty ? "" : " and \(evaluations.count) evaluation\(evaluations.count == 1 ? "" : "s")")
    }

    /// "the golden's evaluation (test after step 3) not compared: ...", nil when there is none.
    var evaluationsNotMadeText: String? {
        guard !evaluationsNotMade.isEmpty else { return nil }
        let list = evaluationsNotMade.map { "\($0.split) after step \($0.step)" }.joined(separator: ", ")
        let why = checkedRecord ? "the record holds no evaluation there" : "this run does not evaluate there"
        return "the golden's evaluation\(evaluationsNotMade.count == 1 ? "" : "s") (\(list)) not compared: \(why) (the weights matched)"
    }

    /// One line saying what failed, for annotations and JUnit messages.
    public var headline: String {
        if let m = firstMismatch {
            var s = "\(name): step \(stepLabel(m.step)) differs from the golden \(golden)"
            if let d = firstDivergence { s += "; first divergent tensor \(d.name) (\(DivergenceText.role(d.role, step: d.step)))" }
            if let d = diagnosis, let c = d.cause { s += "; cause: \(c.rawValue) (\(DivergenceText.detail(d)))" }
            return s
        }
        if let shortfall { return "\(name): \(Self.text(shortfall))" }
        if let e = firstEvaluationMismatch { return "\(name): \(Self.text(e))" }
        if let gap = incompleteness, !outcome.passed || gap == .noTrainingSteps { return "\(name): \(Self.text(gap, golden: golden))" }
        return "\(name): \(checkedText) match the golden \(golden)"
    }

    /// Why a check that found no difference is not a pass: "nothing to compare: ...", "incomplete: ...".
    public static func text(_ gap: Incompleteness, golden: String) -> String {
        (gap == .noTrainingSteps ? "nothing to compare: " : "incomplete: ") + clause(gap, golden: golden)
    }

    /// "the golden G was made from a run killed before it finished, so its end is unknown".
    static func clause(_ gap: Incompleteness, golden: String) -> String {
        switch gap {
        case .noTrainingSteps: "no training step was checked against the golden \(golden)"
        case .unfinished(stillRunning: false): "the golden \(golden) was made from a run killed before it finished, so its end is unknown"
        case .unfinished(stillRunning: true): "the golden \(golden) was made from a run still being recorded"
        case .failedRun(let reason): "the golden \(golden) was made from a failed run (it stopped: \(reason))"
        }
    }

    /// Like `replay --until-diverge`: the step, the tensor, the evidence and the cause.
    public var humanText: String {
        var lines: [String] = []
        lines.append("verify \(name) against \(golden) (level \(level.rawValue))")
        if let m = firstMismatch {
            lines.append("FAIL: step \(stepLabel(m.step)) differs from the golden (\(checks.count) steps checked; stopped at the first mismatch)")
            lines.append("  step digest expected \(m.expectedDigest), actual \(m.actualDigest)" +
                         (m.step == initStep ? "" : "; loss expected \(Text.loss(m.expectedLoss)), actual \(Text.loss(m.actualLoss))"))
            if tensorHashes {
                lines += DivergenceText.lines(firstDivergence, draw: firstDivergentDraw, sides: .verify)
            } else {
                lines.append("  the golden holds step digests only: write it with `cwrepro hashes --tensors` (or pass the .cwr as --golden) to name the tensor")
            }
            if let c = DivergenceText.causeLine(diagnosis) { lines.append(c) }
        } else if let shortfall {
            lines.append("FAIL: \(Self.text(shortfall))")
        } else if let e = firstEvaluationMismatch {
            lines.append("FAIL: \(Self.text(e))")
            if let d = diagnosis { lines.append("  \(DivergenceText.detail(d))") }
        } else {
            switch outcome {
            case .incomplete(let gap):
                lines.append("\(gap == .noTrainingSteps ? "NOTHING TO COMPARE" : "INCOMPLETE"): \(checkedText) identical to the golden, but "
                             + Self.clause(gap, golden: golden))
            case .acceptedIncomplete(let gap):
                lines.append("PASS as far as the golden goes: \(checkedText) identical to the golden, in \(Text.duration(seconds)) ("
                             + RunStateText.recordState(gap) + "; accepted with --allow-incomplete)")
            case .identical, .diverged:
                lines.append("PASS: \(checkedText) identical to the golden, in \(Text.duration(seconds))")
            }
        }
        if let notMade = evaluationsNotMadeText { lines.append("note: \(notMade)") }
        if configHash != goldenConfigHash {
            lines.append("note: the config differs from the golden's (config hash \(goldenConfigHash) -> \(configHash))" +
                         (configChanges.isEmpty ? "" : ": " + configChanges.map(DivergenceText.change).joined(separator: ", ")))
        }
        if !environmentChanges.isEmpty {
            lines.append("note: the machine differs from the golden's: " + environmentChanges.map(DivergenceText.change).joined(separator: "; "))
        }
        return lines.joined(separator: "\n")
    }

    /// For a CI step summary (`>> $GITHUB_STEP_SUMMARY`).
    public var markdown: String {
        let verdict = RunStateText.markdownVerdict(outcome, pass: "✅ passed", differ: "❌ failed", accepted: "incomplete golden")
        var out = "### cwrepro verify: \(verdict) — \(name)\n\n"
        var rows: [[String]] = [
            ["golden", "`\(golden)` (level \(level.rawValue))"],
            [checkedRecord ? "record" : "config", "`\(config)`" + (configHash == goldenConfigHash ? " (same config hash as the golden)" : " (config hash \(goldenConfigHash) → \(configHash))")],
            ["steps checked", checkedText],
        ]
        if let m = firstMismatch {
            rows.append(["first mismatch", "step \(stepLabel(m.step)): digest `\(m.actualDigest)`, golden `\(m.expectedDigest)`"])
            if m.step != initStep { rows.append(["loss at that step", "\(Text.loss(m.actualLoss)) (golden \(Text.loss(m.expectedLoss)))"]) }
            if let d = firstDivergence {
                rows.append(["first divergent tensor", "`\(d.name)` (\(DivergenceText.role(d.role, step: d.step)))"])
            } else if !tensorHashes {
                rows.append(["first divergent tensor", "unknown: the golden holds step digests only (`cwrepro hashes --tensors`)"])
            }
            if let d = firstDivergentDraw { rows.append(["evidence", "\(d.role.rawValue) `\(d.name)` differs"]) }
            if let c = DivergenceText.causeCell(diagnosis) { rows.append(["cause", c]) }
        }
        if let shortfall { rows.append(["shortfall", Self.text(shortfall)]) }
        if let e = firstEvaluationMismatch { rows.append(["evaluation", Self.text(e)]) }
        if let gap = incompleteness { rows.append(["coverage", Self.text(gap, golden: "`\(golden)`")]) }
        if let notMade = evaluationsNotMadeText { rows.append(["evaluations not compared", notMade]) }
        if !configChanges.isEmpty { rows.append(["config changes", configChanges.map { "`\(DivergenceText.change($0))`" }.joined(separator: "<br>")]) }
        if !environmentChanges.isEmpty { rows.append(["environment changes", environmentChanges.map(DivergenceText.change).joined(separator: "<br>")]) }
        out += Text.markdownTable(["", ""], rows) + "\n"
        let tail = Array(checks.suffix(5))
        if !tail.isEmpty {
            out += "\n<details><summary>last \(tail.count) steps checked</summary>\n\n"
            out += Text.markdownTable(["step", "loss", "golden loss", "digest", "golden digest", "result"], tail.map {
                [stepLabel($0.step), Text.loss($0.actualLoss), Text.loss($0.expectedLoss), "`\($0.actualDigest)`",
                 "`\($0.expectedDigest)`", $0.passed ? "✅" : "❌"]
            }) + "\n\n</details>\n"
        }
        return out
    }

    /// One test case per step checked (and one for a shortfall), failures carrying the report.
    public var junit: JUnitSuite {
        let cls = "cwrepro.verify.\(name)"
        var cases = checks.map { c in
            JUnitSuite.Case(name: "step \(stepLabel(c.step))", className: cls, seconds: c.seconds,
                            failure: c.passed ? nil : (headline, humanText))
        }
        cases += evaluations.map { e in
            JUnitSuite.Case(name: "evaluation after step \(e.step) (\(e.split))", className: cls, seconds: 0,
                            failure: e.passed ? nil : (Self.text(e), humanText))
        }
        if let shortfall { cases.append(JUnitSuite.Case(name: "steps", className: cls, seconds: 0, failure: (Self.text(shortfall), humanText))) }
        if case .incomplete(let gap) = outcome {
            cases.append(JUnitSuite.Case(name: "coverage", className: cls, seconds: 0, failure: (Self.text(gap, golden: golden), humanText)))
        }
        return JUnitSuite(name: "cwrepro verify \(name)", cases: cases)
    }

    public var json: String {
        var o = JSONDocument()
        o.set(checkedRecord ? "record" : "config", config)
        o.set("golden", golden)
        o.set("name", name)
        o.set("level", level.rawValue)
        o.set("goldenConfigHash", goldenConfigHash)
        o.set("configHash", configHash)
        o.set("configChanges", configChanges.map(DivergenceText.change))
        o.set("environmentChanges", environmentChanges.map(DivergenceText.change))
        o.set("stepsPlanned", stepsPlanned)
        o.set("checks", checks)
        o.set("firstMismatch", firstMismatch)
        o.set("evaluations", evaluations)
        o.set("evaluationsNotMade", evaluationsNotMade)
        o.set("firstDivergence", firstDivergence)
        o.set("firstDivergentDraw", firstDivergentDraw)
        o.set("tensorHashes", tensorHashes)
        DivergenceText.setCause(diagnosis, in: &o)
        o.set("shortfall", shortfall.map(Self.text))
        o.set("outcome", RunStateText.name(outcome))
        o.set("incompleteness", incompleteness.map(RunStateText.name))
        o.set("goldenStatus", goldenStatus.name)
        o.set("goldenFailure", goldenStatus.failure)
        o.set("passed", passed)
        o.set("seconds", seconds)
        return jsonText(o)
    }

    /// "test predictions after step 89 differ: accuracy 0.8889 in the golden, 0.8861 now (...)".
    public static func text(_ e: EvalCheck) -> String {
        "\(e.split) predictions after step \(e.step) differ: accuracy \(Text.acc(e.expectedAccuracy)) in the golden, \(Text.acc(e.actualAccuracy)) now (predictions hash \(e.expectedPredictions) / \(e.actualPredictions))"
    }

    /// "the run ended after 20 steps; the golden has 26 to check".
    public static func text(_ s: Shortfall) -> String {
        "the run ended after \(s.stepsRun) steps; the golden has \(s.stepsToCheck) to check"
    }
}
