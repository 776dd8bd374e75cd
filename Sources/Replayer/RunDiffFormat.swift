import Foundation
import Recorder

/// The human and Markdown forms of a run diff.
extension RunDiffReport {
    var stepsText: String {
        "\(stepsA) / \(stepsB) training steps, level \(levels[0]) / \(levels[1]); \(divergentSteps) of \(stepsCompared) compared steps differ"
    }

    var criteriaRows: [[String]] { criteria.map { [$0.name, $0.verdict.rawValue.uppercased(), $0.value, $0.detail] } }

    public var humanText: String {
        var lines = ["A = \(a)", "B = \(b)", ""]
        if let keys = configKeys {
            lines.append("config: \(configChanges.count) of \(keys.count) keys differ (* = changed)")
            lines += keys.map { "  \($0.changed ? "*" : " ") \($0.key): \($0.a ?? "(absent)")" + ($0.changed ? " -> \($0.b ?? "(absent)")" : "") }
        } else {
            lines.append(configChanges.isEmpty ? "config: identical" : "config: \(configChanges.count) key\(configChanges.count == 1 ? "" : "s") differ\(configChanges.count == 1 ? "s" : "")")
            lines += configChanges.map { "  \($0)" }
        }
        lines.append(environmentChanges.isEmpty ? "environment: identical" : "environment: \(environmentChanges.count) facts differ")
        lines += environmentChanges.map { "  \($0.key): \($0.a ?? "(absent)") -> \($0.b ?? "(absent)")\($0.bitRelevant ? "  (can change bits)" : "")" }
        lines.append("steps: \(stepsText)")
        if let s = firstDivergentStep {
            if firstDivergence == nil && firstDivergentDraw == nil {
                lines.append("first divergence \(Reports.at(s)): only one run has this step")
            } else {
                lines += Reports.divergenceLines(firstDivergence, draw: firstDivergentDraw, sides: .diff)
            }
            if let c = Reports.causeLine(cause, causeDetail) { lines.append(c) }
        } else {
            lines.append("no divergent step: every shared step has the same digest")
        }
        lines += ["", "reproducibility criteria (Chen et al., ICSE 2022):"]
        lines.append(Reports.textTable(["criterion", "verdict", "value", "detail"], criteriaRows).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        lines += ["", identical ? "result: the runs are bit-identical" : "result: the runs differ"]
        return lines.joined(separator: "\n")
    }

    public var markdown: String {
        let icon: [Verdict: String] = [.pass: "✅ pass", .warn: "⚠️ warn", .fail: "❌ fail"]
        var out = "### cwrepro diff: \(identical ? "✅ bit-identical" : "runs differ")\n\nA = `\(a)`, B = `\(b)`\n\n"
        out += Reports.markdownTable(["criterion", "verdict", "value", "detail"], criteria.map { [$0.name, icon[$0.verdict]!, $0.value, $0.detail] }) + "\n\n"
        var rows: [[String]] = [["steps", stepsText]]
        if let s = firstDivergentStep {
            rows.append(["first divergent step", stepLabel(s)])
            if let d = firstDivergence { rows.append(["first divergent tensor", "`\(d.name)` (\(Reports.roleText(d.role, step: d.step)))"]) }
            if let d = firstDivergentDraw { rows.append(["evidence", "\(d.role) `\(d.name)` differs"]) }
            if let c = cause { rows.append(["cause", c.rawValue + (causeDetail.map { ": \($0)" } ?? "")]) }
        }
        rows.append(["config changes", configChanges.isEmpty ? "none" : configChanges.map { "`\($0)`" }.joined(separator: "<br>")])
        rows.append(["environment changes", environmentChanges.isEmpty ? "none" : environmentChanges.map { "\($0.key): \($0.a ?? "-") → \($0.b ?? "-")" }.joined(separator: "<br>")])
        out += Reports.markdownTable(["", ""], rows) + "\n"
        if let keys = configKeys {
            out += "\n" + Reports.markdownTable(["key", "A", "B"], keys.map { [($0.changed ? "**\($0.key)**" : $0.key), $0.a ?? "", $0.b ?? ""] }) + "\n"
        }
        return out
    }
}
