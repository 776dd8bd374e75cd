import Foundation
import Recorder

/// The human, Markdown, JUnit and GitHub-annotation forms of a verify report.
extension VerifyReport {
    var checkedText: String {
        "\(checks.count) of \(stepsPlanned + 1) steps (init + \(stepsPlanned) training steps)" +
            (evaluations.isEmpty ? "" : " and \(evaluations.count) evaluation\(evaluations.count == 1 ? "" : "s")")
    }

    /// One line saying what failed, for annotations and JUnit messages.
    public var headline: String {
        if let m = firstMismatch {
            var s = "\(name): step \(stepLabel(m.step)) differs from the golden \(golden)"
            if let d = firstDivergence { s += "; first divergent tensor \(d.name) (\(Reports.roleText(d.role, step: d.step)))" }
            if let c = cause { s += "; cause: \(c.rawValue)" + (causeDetail.map { " (\($0))" } ?? "") }
            return s
        }
        if let shortfall { return "\(name): \(shortfall)" }
        if let e = firstEvaluationMismatch { return "\(name): \(e.text)" }
        return "\(name): \(checkedText) match the golden \(golden)"
    }

    /// Like `replay --until-diverge`: the step, the tensor, the evidence and the cause.
    public var humanText: String {
        var lines: [String] = []
        lines.append("verify \(name) against \(golden) (level \(level))")
        if let m = firstMismatch {
            lines.append("FAIL: step \(stepLabel(m.step)) differs from the golden (\(checks.count) steps checked; stopped at the first mismatch)")
            lines.append("  step digest expected \(m.expectedDigest), actual \(m.actualDigest)" +
                         (m.step == initStep ? "" : "; loss expected \(Reports.loss(m.expectedLoss)), actual \(Reports.loss(m.actualLoss))"))
            if tensorHashes {
                lines += Reports.divergenceLines(firstDivergence, draw: firstDivergentDraw, sides: .verify)
            } else {
                lines.append("  the golden holds step digests only: write it with `cwrepro hashes --tensors` (or pass the .cwr as --golden) to name the tensor")
            }
            if let c = Reports.causeLine(cause, causeDetail) { lines.append(c) }
        } else if let shortfall {
            lines.append("FAIL: \(shortfall)")
        } else if let e = firstEvaluationMismatch {
            lines.append("FAIL: \(e.text)")
            if let d = causeDetail { lines.append("  \(d)") }
        } else {
            lines.append("PASS: \(checkedText) identical to the golden, in \(Reports.duration(seconds))")
        }
        if configHash != goldenConfigHash {
            lines.append("note: the config differs from the golden's (config hash \(goldenConfigHash) -> \(configHash))" +
                         (configChanges.isEmpty ? "" : ": " + configChanges.joined(separator: ", ")))
        }
        if !environmentChanges.isEmpty { lines.append("note: the machine differs from the golden's: " + environmentChanges.joined(separator: "; ")) }
        return lines.joined(separator: "\n")
    }

    /// For a CI step summary (`>> $GITHUB_STEP_SUMMARY`).
    public var markdown: String {
        var out = "### cwrepro verify: \(passed ? "✅ passed" : "❌ failed") — \(name)\n\n"
        var rows: [[String]] = [
            ["golden", "`\(golden)` (level \(level))"],
            ["config", "`\(config)`" + (configHash == goldenConfigHash ? " (same config hash as the golden)" : " (config hash \(goldenConfigHash) → \(configHash))")],
            ["steps checked", checkedText],
        ]
        if let m = firstMismatch {
            rows.append(["first mismatch", "step \(stepLabel(m.step)): digest `\(m.actualDigest)`, golden `\(m.expectedDigest)`"])
            if m.step != initStep { rows.append(["loss at that step", "\(Reports.loss(m.actualLoss)) (golden \(Reports.loss(m.expectedLoss)))"]) }
            if let d = firstDivergence {
                rows.append(["first divergent tensor", "`\(d.name)` (\(Reports.roleText(d.role, step: d.step)))"])
            } else if !tensorHashes {
                rows.append(["first divergent tensor", "unknown: the golden holds step digests only (`cwrepro hashes --tensors`)"])
            }
            if let d = firstDivergentDraw { rows.append(["evidence", "\(d.role) `\(d.name)` differs"]) }
            if let c = cause { rows.append(["cause", c.rawValue + (causeDetail.map { ": \($0)" } ?? "")]) }
        }
        if let shortfall { rows.append(["shortfall", shortfall]) }
        if let e = firstEvaluationMismatch { rows.append(["evaluation", e.text]) }
        if !configChanges.isEmpty { rows.append(["config changes", configChanges.map { "`\($0)`" }.joined(separator: "<br>")]) }
        if !environmentChanges.isEmpty { rows.append(["environment changes", environmentChanges.joined(separator: "<br>")]) }
        out += Reports.markdownTable(["", ""], rows) + "\n"
        let tail = Array(checks.suffix(5))
        if !tail.isEmpty {
            out += "\n<details><summary>last \(tail.count) steps checked</summary>\n\n"
            out += Reports.markdownTable(["step", "loss", "golden loss", "digest", "golden digest", "result"], tail.map {
                [stepLabel($0.step), Reports.loss($0.actualLoss), Reports.loss($0.expectedLoss), "`\($0.actualDigest)`",
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
                            failure: e.passed ? nil : (e.text, humanText))
        }
        if let shortfall { cases.append(JUnitSuite.Case(name: "steps", className: cls, seconds: 0, failure: (shortfall, humanText))) }
        return JUnitSuite(name: "cwrepro verify \(name)", cases: cases)
    }
}
