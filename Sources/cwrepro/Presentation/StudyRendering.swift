import Engine
import Foundation
import Recorder
import Replayer

/// `cwrepro sweep` and `cwrepro study collect`: what ran, the per-point table, `summary.json`.
enum StudyText {
    /// Short names of swept keys: the shortest dotted suffix that no other key shares
    /// (`optimizer.lr` -> `lr`; `model.layers.1.units` and `model.layers.3.units` keep `1.units`, `3.units`).
    static func shortNames(_ keys: [String]) -> [String: String] {
        var out: [String: String] = [:]
        for k in keys {
            let parts = k.split(separator: ".").map(String.init)
            var n = 1
            while n < parts.count {
                let suffix = parts.suffix(n).joined(separator: ".")
                if !keys.contains(where: { $0 != k && ($0 == suffix || $0.hasSuffix("." + suffix)) }) { break }
                n += 1
            }
            out[k] = parts.suffix(n).joined(separator: ".")
        }
        return out
    }

    /// "lr=0.01 batchSize=16".
    static func point(_ values: [String: JSON], names: [String: String]) -> String {
        values.keys.sorted().map { "\(names[$0] ?? $0)=\(SweepPlan.valueText(values[$0]!))" }.joined(separator: " ")
    }

    /// "76.11%".
    static func accuracy(_ x: Double) -> String { String(format: "%.2f%%", 100 * x) }

    /// "[72.03, 80.19]" in percent (accuracy) or points (a gap), clipped to what the quantity can
    /// be (`bounds`): a t interval over few seeds can reach past 0% or 100%; summary.json keeps it whole.
    /// `signed` writes each end with its sign ("[-2.00, +12.00]"), as the explanations' gaps and effects read.
    static func interval(_ i: Interval?, bounds: ClosedRange<Double> = -1...1, signed: Bool = false) -> String {
        guard let i else { return "-" }
        return String(format: signed ? "[%+.2f, %+.2f]" : "[%.2f, %.2f]",
                      100 * max(bounds.lowerBound, i.low), 100 * min(bounds.upperBound, i.high))
    }

    /// "0.0012", "<0.0001".
    static func pValue(_ p: Double?) -> String {
        guard let p else { return "-" }
        return p < 0.0001 ? "<0.0001" : String(format: "%.4f", p)
    }
}

extension SweepOutcome {
    public var humanText: String {
        var lines: [String] = []
        let where_ = shard == .whole ? "" : " (shard \(shard))"
        var what = "\(planned) trial\(planned == 1 ? "" : "s")\(where_): \(ran) run now"
        if resumed > 0 { what += " (\(resumed) left unfinished by a killed sweep)" }
        what += ", \(skipped) finished before"
        lines.append("sweep \(name): \(what), in \(Text.duration(seconds)) -> \(directory)")
        if !runningElsewhere.isEmpty {
            lines.append("\(runningElsewhere.count) trial\(runningElsewhere.count == 1 ? " is" : "s are") still being recorded by another process after waiting for it (the same shard running twice?): left alone; run the sweep again when it has finished")
        }
        for f in failures.prefix(10) {
            if let t = f.trial {
                lines.append("trial \(t.trial) (side \(t.side.rawValue), seed \(t.seed), \(t.record)) failed: \(f.message)")
            } else {
                lines.append("a trial failed: \(f.message)")
            }
        }
        if failures.count > 10 { lines.append("... and \(failures.count - 10) more failed trials") }
        if let collected {
            lines.append("")
            lines.append(collected.humanText)
        } else if shard != .whole && failures.isEmpty {
            lines.append("when every shard has finished: cwrepro study collect \(directory)")
        }
        return lines.joined(separator: "\n")
    }
}

extension StudyCollection {
    public var humanText: String {
        var lines: [String] = []
        if copied > 0 { lines.append("copied \(copied) finished record\(copied == 1 ? "" : "s") from the other directories") }
        if !missing.isEmpty {
            let shards = Set(missing.map(\.trial))
            lines.append("\(missing.count) of \(manifest.trials.count) trials have no finished record yet (e.g. trial \(shards.min()!), \(missing[0].record)); the summary covers the others")
        }
        lines.append(summary.humanText)
        return lines.joined(separator: "\n")
    }
}

extension StudySummary {
    var names: [String: String] { StudyText.shortNames(keys) }

    /// A variance study's column titles: each side's accuracy range over the seeds, then each
    /// side's widest class range, then each side's distinct digests ("A accuracy range", "B accuracy
    /// range", ...; without the side for a one-sided study). The cells are in `sides` order.
    var varianceHeaders: [String] {
        ["accuracy range", "widest class range", "distinct digests"].flatMap { column in
            sides.map { sides.count == 1 ? column : "\($0.side.rawValue.uppercased()) \(column)" }
        }
    }

    /// What a variance study's columns mean, and what it ranks by (`PointSummary.objective`: with
    /// two sides, the larger range, as summary.json's `largestGaps[].accuracyRange`).
    var varianceNote: String {
        let ranked = sides.count == 2 ? ", per side; points ranked by the larger of A's and B's (summary.json largestGaps[].accuracyRange)" : ""
        return "accuracy range = highest minus lowest test accuracy over the seeds\(ranked); distinct digests = different final-step digests among the runs (1: they trained bit-identically)"
    }

    /// The per-point table: the points in ranking order (largest objective first), at most `limit`.
    func table(limit: Int = 25) -> String {
        let names = self.names
        let order = ranking + points.indices.filter { !ranking.contains($0) }
        var rows: [[String]] = []
        for i in order.prefix(limit) {
            let p = points[i]
            var row = [String(p.point.index), StudyText.point(p.point.values, names: names)]
            for s in p.sides {
                let acc = s.accuracy.map { StudyText.accuracy($0.mean) } ?? "-"
                row.append(s.interval == nil ? acc : "\(acc) \(StudyText.interval(s.interval, bounds: 0...1))")
            }
            switch objective {
            case .gap:
                if let g = p.gap {
                    row.append(Text.pp(g.mean) + (g.interval.map { " \(StudyText.interval($0))" } ?? ""))
                    row.append(StudyText.pValue(g.pValue) + (g.significant ? " *" : ""))
                    row.append(g.widestClass.map { "\($0): \(Text.pp(g.perClass[$0]))" } ?? "-")
                } else {
                    row += ["-", "-", "-"]
                }
            case .variance:
                row += p.sides.map(\.accuracyRangeText)
                row += p.sides.map { s in s.widestClass.map { String(format: "%d: %.2f pp", $0.cls, 100 * $0.spread.range) } ?? "-" }
                row += p.sides.map(\.digestsText)
            }
            row.append(String(format: "%.2f-%.2f s", p.sides.map(\.seconds.min).min() ?? 0, p.sides.map(\.seconds.max).max() ?? 0))
            let failed = p.sides.map(\.failed).reduce(0, +)
            row.append(failed == 0 ? "" : "\(failed) failed")
            rows.append(row)
        }
        var header = ["#", "point"] + sides.map { "\($0.side.rawValue.uppercased()) \($0.name) [95% CI]" }
        switch objective {
        case .gap: header += ["gap B-A [95% CI]", "p (Welch)", "widest class gap"]
        case .variance: header += varianceHeaders
        }
        header += ["train time", ""]
        return Text.table(header, rows)
    }

    public var humanText: String {
        var lines: [String] = []
        let seedText = seeds.count == 1 ? "1 seed" : "\(seeds.count) seeds"
        let sideText = sides.map { "\($0.side.rawValue.uppercased()) \($0.name)" }.joined(separator: " vs ")
        lines.append("study \(name): \(points.count) point\(points.count == 1 ? "" : "s") x \(seedText) x \(sides.count == 1 ? "1 side" : "2 sides") (\(sideText)); \(complete) complete, \(failed) failed, \(missing) missing trials")
        lines.append("")
        lines.append(table())
        if points.count > 25 { lines.append("(the 25 points with the largest \(objective == .gap ? "gaps" : "accuracy ranges") of \(points.count); summary.json has them all)") }
        lines.append("")
        if objective == .gap {
            let significant = points.filter { $0.gap?.significant ?? false }.count
            lines.append("gap = test accuracy of B minus A (mean over seeds), 95% Welch interval (intervals clipped to the possible range); * p < 0.05 (\(significant) of \(points.count) points)" + (seeds.count < 2 ? "; one seed: no intervals" : ""))
        } else {
            lines.append(varianceNote)
        }
        lines.append("training time per run: \(Text.duration(seconds.min)) to \(Text.duration(seconds.max)) (mean \(Text.duration(seconds.mean)))")
        for e in explanations {
            let r = e.report
            lines.append("explained point \(e.point.index) (\(StudyText.point(e.point.values, names: names))): \(r.summaryText)")
        }
        return lines.joined(separator: "\n")
    }

    /// `summary.json`.
    public var json: String { jsonText(document) }

    var document: JSONDocument {
        var d = JSONDocument()
        d.set("name", name)
        d.set("objective", objective.rawValue)
        d.set("sides", sides)
        d.set("seeds", seeds)
        d.set("keys", keys)
        var t = JSONDocument()
        t.set("planned", planned); t.set("complete", complete); t.set("failed", failed); t.set("missing", missing)
        d.set("trials", t)
        d.set("trainingSeconds", seconds)
        d.set("points", points.map(\.document))
        d.set("largestGaps", ranking.prefix(10).map { i -> JSONDocument in
            var g = JSONDocument()
            g.set("index", points[i].point.index)
            g.set("point", points[i].point.values)
            if let o = points[i].objective(objective) { g.set(objective == .gap ? "absoluteGap" : "accuracyRange", o) }
            if let gap = points[i].gap { g.set("gap", gap.mean); g.setNull("pValue", gap.pValue); g.set("significant", gap.significant) }
            return g
        })
        d.set("explanations", explanations.map { e -> JSONDocument in
            var x = JSONDocument()
            x.set("index", e.point.index)
            x.set("point", e.point.values)
            x.set("explain", e.report)
            return x
        })
        return d
    }
}

extension PointSummary {
    var document: JSONDocument {
        var d = JSONDocument()
        d.set("index", point.index)
        d.set("point", point.values)
        var s = JSONDocument()
        for side in sides { s.set(side.side.rawValue, side.document) }
        d.set("sides", s)
        if let gap {
            var g = JSONDocument()
            g.set("mean", gap.mean)
            g.setNull("ci95", gap.interval.map { [$0.low, $0.high] })
            g.setNull("pValue", gap.pValue)
            g.set("significant", gap.significant)
            g.setNull("rank", gap.comparison?.rank)
            g.setNull("spread", gap.comparison?.spread)
            g.set("perClass", gap.perClass)
            g.setNull("widestClass", gap.widestClass)
            d.set("gap", g)
        }
        return d
    }
}

extension SideSummary {
    /// "2.00 pp": highest minus lowest test accuracy over the seeds ("-": no complete run).
    var accuracyRangeText: String { accuracy.map { String(format: "%.2f pp", 100 * ($0.max - $0.min)) } ?? "-" }

    /// "1 of 4": distinct final-step digests among the side's runs.
    var digestsText: String { "\(distinctDigests) of \(runs)" }

    var document: JSONDocument {
        var d = JSONDocument()
        d.set("name", name)
        d.set("runs", runs)
        d.set("failed", failed)
        d.setNull("accuracy", accuracy)
        d.setNull("ci95", interval.map { [$0.low, $0.high] })
        d.set("perClassMean", perClassMean)
        d.setNull("widestClass", widestClass)
        d.set("seconds", seconds)
        d.set("distinctDigests", distinctDigests)
        return d
    }
}

extension StudyExplanation {
    /// "-31.25 pp [-35.10, -27.40] (p <0.0001) over 8 seeds; minimal set adam.epsilonMode (97.10% of the gap)".
    var summaryText: String {
        var t = "gap \(Self.gapText(gap)) over \(seeds.count) seeds"
        switch verdict {
        case .gap:
            t += minimalSet.isEmpty ? "; no minimal set reproduces it"
                : "; minimal set \(minimalSet.joined(separator: ", ")) (\(shareText(explainedShare, explainedShareStatus)) of the gap)"
        case .withinNoise: t += "; within seed noise, nothing attributed"
        case .noDifferences: t += "; A and B differ in nothing that changes training"
        }
        return t
    }

    /// "-31.25 pp [-35.10, -27.40] (p <0.0001)": mean, 95% Welch interval, p-value. The interval is
    /// clipped to [-100, +100] points as the study table's are (`StudyText.interval`): over 2 or 3
    /// seeds it can reach far past what a gap can be; summary.json keeps it whole.
    static func gapText(_ g: Gap) -> String {
        String(format: "%+.2f pp ", 100 * g.mean) + StudyText.interval(g.interval, signed: true) + " (p \(StudyText.pValue(g.pValue)))"
    }

    /// "+12.50 pp [+10.10, +14.90]": a paired estimate's mean and interval in points (a difference
    /// of accuracies: clipped to [-100, +100] alike).
    static func effectText(_ e: ExplainReport.Estimate?) -> String {
        guard let e else { return "-" }
        return String(format: "%+.2f pp ", 100 * e.mean) + StudyText.interval(e.interval, signed: true)
    }

    /// A share of the gap, or why there is none.
    func shareText(_ value: Double?, _ status: ExplainReport.ShareStatus) -> String {
        switch status {
        case .measured: value.map(Text.percent) ?? "-"
        case .aboveRange: "> " + Text.percent(ExplainReport.shareRange.upperBound)
        case .belowRange: "< " + Text.percent(ExplainReport.shareRange.lowerBound)
        case .gapNotSignificant, .noEffect: "-"
        }
    }
}
