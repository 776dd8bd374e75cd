import Foundation
import Replayer

/// `cwrepro variance`: the study as a table and summary, Markdown and JSON.
extension VarianceReport {
    static let what: [VarySource: String] = [
        .seed: "seed: initialisation and draws vary, data order fixed",
        .order: "data order only: initialisation and draws fixed",
        .impl: "implementation: reduction order and BLAS threads vary, seed and order fixed",
        .none: "nothing: the runs must be bit-identical",
    ]

    var runRows: [[String]] {
        runs.map { [String($0.index + 1), $0.variant, Text.acc($0.accuracy), Text.loss($0.finalLoss), Text.duration($0.seconds), $0.runDigest] }
    }

    var summaryRows: [[String]] {
        func s(_ x: Spread, _ f: (Double) -> String) -> String {
            "min \(f(x.min))  max \(f(x.max))  mean \(f(x.mean))  std \(f(x.std))  range \(f(x.range))"
        }
        let pct = { (x: Double) in String(format: "%.2f%%", x * 100) }
        var rows = [["test accuracy", s(accuracy, pct)]]
        if let c = largestClassRange, c.spread.range == 0 {
            rows.append(["largest per-class range", "none: every class has the same accuracy in every run"])
        } else if let c = largestClassRange {
            rows.append(["largest per-class range", "class \(c.cls): \(pct(c.spread.min)) .. \(pct(c.spread.max)) (range \(pct(c.spread.range)))"])
        }
        rows.append(["training time", "min \(Text.duration(seconds.min))  max \(Text.duration(seconds.max))  range \(Text.duration(seconds.range))"])
        rows.append(["loss-curve spread", "max \(String(format: "%.4g", lossSpreadMax)) at step \(lossSpreadMaxStep); mean over steps \(String(format: "%.4g", lossSpreadMean)); final loss \(s(finalLoss) { String(format: "%.4g", $0) })"])
        rows.append(["bit-identical", "\(bitIdenticalToFirst) of \(runs.count) runs identical to run 1; \(distinctOutcomes) distinct outcome\(distinctOutcomes == 1 ? "" : "s")"])
        return rows
    }

    public var humanText: String {
        var lines = ["variance of \(name): \(runs.count) run\(runs.count == 1 ? "" : "s") varying \(Self.what[vary]!) (\(jobs) process\(jobs == 1 ? "" : "es") at a time)", ""]
        lines.append(Text.table(["run", "variant", "accuracy", "final loss", "time", "run digest"], runRows))
        lines.append("")
        lines.append(Text.table(["", ""], summaryRows).split(separator: "\n").dropFirst().joined(separator: "\n"))
        return lines.joined(separator: "\n")
    }

    public var markdown: String {
        var out = "### cwrepro variance: \(name), \(runs.count) runs, vary \(vary.rawValue)\n\n\(Self.what[vary]!).\n\n"
        out += Text.markdownTable(["", ""], summaryRows) + "\n\n"
        out += Text.markdownTable(["run", "variant", "accuracy", "final loss", "time", "run digest"], runRows.map { r in
            r.enumerated().map { $0.offset == 5 ? "`\($0.element)`" : $0.element }
        }) + "\n"
        return out
    }

    public var json: String { jsonText(self) }
}
