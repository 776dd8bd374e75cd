import Engine
import Foundation
import Recorder
import Replayer

/// `cwrepro report study/`: the study as one self-contained HTML page: the distribution of the
/// gaps, the gap against each swept key, the points with their intervals, the explanations.
extension StudyCollection {
    /// One trial pair: both sides at one point with one seed.
    struct Pair {
        var point: StudyPoint
        var seed: UInt64
        var a: Double
        var b: Double?
        /// B - A (nil for a one-sided study).
        var gap: Double? { b.map { $0 - a } }
    }

    /// The complete trials, paired by point and seed (A alone in a one-sided study).
    var pairs: [Pair] {
        let byKey = Dictionary(grouping: results.filter { $0.status == .complete && $0.testAccuracy != nil }) {
            "\(JSON.object($0.point).text) \($0.seed)"
        }
        return summary.points.flatMap { p in
            manifest.seeds.compactMap { seed -> Pair? in
                let trials = byKey["\(JSON.object(p.point.values).text) \(seed)"] ?? []
                guard let a = trials.first(where: { $0.side == .a })?.testAccuracy else { return nil }
                let b = trials.first(where: { $0.side == .b })?.testAccuracy
                if manifest.sides.count == 2 && b == nil { return nil }
                return Pair(point: p.point, seed: seed, a: a, b: b)
            }
        }
    }

    public func htmlPage(generator: String) -> String {
        let s = summary
        let names = s.names
        var page = ReportPage(title: "Study \(s.name)",
                              subtitle: s.sides.map { "\($0.side.rawValue.uppercased()) \($0.name)" }.joined(separator: " vs ") + ", \(s.points.count) points x \(s.seeds.count) seeds",
                              generator: generator)
        var facts: [(String, String)] = [
            ("objective", s.objective == .gap ? "accuracy gap B - A" : "accuracy spread over seeds"),
            ("sides", s.sides.map { "\($0.side.rawValue.uppercased()): \($0.name) (\($0.config)\($0.profile.map { ", profile \($0)" } ?? ""))" }.joined(separator: "; ")),
            ("search", "\(manifest.search) over \(s.keys.joined(separator: ", "))"),
            ("seeds", s.seeds.map(String.init).joined(separator: ", ")),
            ("trials", "\(s.planned) planned: \(s.complete) complete, \(s.failed) stopped at a non-finite value, \(s.missing) missing"),
            ("training time", "\(Text.duration(s.seconds.min)) to \(Text.duration(s.seconds.max)) per run, \(Text.duration(s.seconds.mean * Double(s.complete + s.failed))) in all"),
        ]
        facts.append(("sweep file", manifest.sweepFile))
        var intro: [ReportPage.Block] = [.facts(facts)]
        if s.objective == .gap {
            let significant = s.points.filter { $0.gap?.significant ?? false }.count
            if s.seeds.count < 2 {
                intro.append(.note("One seed per point: no interval or test separates a gap from seed noise. Give \"seeds\": 4 or more.", .warning))
            } else if significant == 0 {
                intro.append(.note("No point's gap is significant (Welch's test, p < 0.05, \(s.seeds.count) seeds a side): every gap here is within seed noise.", .warning))
            } else {
                intro.append(.note("\(significant) of \(s.points.count) points have a gap significant at p < 0.05 (Welch's test, \(s.seeds.count) seeds a side); they are highlighted in the table.", .info))
            }
        }
        if s.objective == .variance { intro.append(.paragraph(s.varianceNote[s.varianceNote.startIndex].uppercased() + s.varianceNote.dropFirst() + ".")) }
        page.add("Study", intro)
        page.add(s.objective == .gap ? "Gaps" : "Spread", distributionBlocks(names))
        page.add("Points", [.table(pointTable(names))])
        if s.objective == .gap { page.add("Largest gaps explained", explanationBlocks(names)) }
        return page.render()
    }

    /// The histogram and one strip plot per swept key.
    func distributionBlocks(_ names: [String: String]) -> [ReportPage.Block] {
        let s = summary, pairs = self.pairs
        let gapStudy = s.objective == .gap
        let significant = Set(s.points.filter { $0.gap?.significant ?? false }.map(\.point.index))
        let yTitle = gapStudy ? "gap B - A" : "test accuracy"
        var charts: [any Chart] = []
        if gapStudy {
            let gaps = pairs.compactMap(\.gap)
            let mean = gaps.isEmpty ? 0 : gaps.reduce(0, +) / Double(gaps.count)
            charts.append(Histogram(title: "Accuracy gap B - A, per point and seed", xTitle: "gap B - A (test accuracy)", values: gaps,
                                    markers: [.init(x: 0, label: "no gap"), .init(x: mean, label: "mean \(Text.pp(mean))")], width: 600))
        } else {
            // One histogram per side: a two-sided study ranks by the larger range, but each side spreads on its own.
            for (k, side) in s.sides.enumerated() {
                let ranges = s.points.compactMap { $0.sides[k].accuracy.map { $0.max - $0.min } }
                let whose = s.sides.count == 1 ? "" : ": \(side.side.rawValue.uppercased()) \(side.name)"
                charts.append(Histogram(title: "Accuracy range over seeds, per point\(whose)", xTitle: "max - min test accuracy", values: ranges, width: 600))
            }
        }
        // A gap study marks the significant points; a two-sided variance study tells the sides apart.
        let groups = gapStudy ? (significant.isEmpty ? [] : ["significant point (p < 0.05)", "not significant"])
            : (s.sides.count == 2 ? s.sides.map { "\($0.side.rawValue.uppercased()) \($0.name)" } : [])
        for key in s.keys {
            // Few distinct values (a grid) read best as categories in increasing order; many (a
            // random search) on a numeric axis, logarithmic when they span 30x or more.
            func number(_ v: JSON?) -> Double? { if case .number(let d)? = v { d } else { nil } }
            let sorted = pairs.sorted { (number($0.point.values[key]) ?? 0) < (number($1.point.values[key]) ?? 0) }
            let numbers = sorted.compactMap { number($0.point.values[key]) }
            let numeric = numbers.count == sorted.count && Set(numbers).count > 6
            let logX = numeric && numbers.allSatisfy { $0 > 0 } && (numbers.max()! / numbers.min()! >= 30)
            let points = sorted.flatMap { p -> [StripPlot.Point] in
                let v = p.point.values[key] ?? .null
                let x: StripPlot.X = numeric ? .value({ if case .number(let d) = v { d } else { 0 } }()) : .category(SweepPlan.valueText(v))
                let at = "\(StudyText.point(p.point.values, names: names)) seed \(p.seed)"
                if gapStudy {
                    return [StripPlot.Point(x: x, y: p.gap ?? 0, group: groups.isEmpty || significant.contains(p.point.index) ? 0 : 1,
                                            label: "\(at): gap \(Text.pp(p.gap ?? 0))")]
                }
                guard let b = p.b else { return [StripPlot.Point(x: x, y: p.a, label: "\(at): accuracy \(StudyText.accuracy(p.a))")] }
                return [StripPlot.Point(x: x, y: p.a, group: 0, label: "\(at): A accuracy \(StudyText.accuracy(p.a))"),
                        StripPlot.Point(x: x, y: b, group: 1, label: "\(at): B accuracy \(StudyText.accuracy(b))")]
            }
            charts.append(StripPlot(title: "\(gapStudy ? "Gap" : "Accuracy") against \(key)", xTitle: key, yTitle: yTitle, points: points,
                                    groups: groups, logX: logX,
                                    referenceY: gapStudy ? 0 : nil, width: 600))
        }
        return [.charts(charts)]
    }

    func pointTable(_ names: [String: String]) -> HTMLTable {
        let s = summary
        let order = s.ranking + s.points.indices.filter { !s.ranking.contains($0) }
        var rows: [[String]] = [], highlighted: Set<Int> = []
        for i in order.prefix(60) {
            let p = s.points[i]
            var row = [String(p.point.index), StudyText.point(p.point.values, names: names)]
            for side in p.sides {
                row.append(side.accuracy.map { StudyText.accuracy($0.mean) } ?? "-")
                row.append(StudyText.interval(side.interval, bounds: 0...1))
            }
            if s.objective == .gap {
                row += [p.gap.map { Text.pp($0.mean) } ?? "-", StudyText.interval(p.gap?.interval), StudyText.pValue(p.gap?.pValue),
                        p.gap.flatMap { g in g.widestClass.map { "class \($0): \(Text.pp(g.perClass[$0]))" } } ?? "-"]
                if p.gap?.significant ?? false { highlighted.insert(rows.count) }
            } else {
                row += p.sides.map(\.accuracyRangeText)
                row += p.sides.map { side in side.widestClass.map { "class \($0.cls): \(String(format: "%.2f pp", 100 * $0.spread.range))" } ?? "-" }
                row += p.sides.map(\.digestsText)
            }
            row.append(String(p.sides.map(\.failed).reduce(0, +)))
            rows.append(row)
        }
        var headers = ["#", "point"]
        var numeric: Set<Int> = [0]
        for side in s.sides {
            numeric.insert(headers.count)
            headers += ["\(side.side.rawValue.uppercased()) \(side.name)", "95% CI"]
        }
        if s.objective == .gap {
            numeric.formUnion([headers.count, headers.count + 2])
            headers += ["gap B - A", "95% CI", "p (Welch)", "widest class gap"]
        } else {
            numeric.formUnion(headers.count..<headers.count + s.sides.count)
            headers += s.varianceHeaders
        }
        numeric.insert(headers.count)
        headers.append("failed")
        let caption = (s.points.count > 60 ? "The 60 points with the largest objective (of \(s.points.count))" : "Every point, largest objective first")
            + "; intervals clipped to the possible range"
        return HTMLTable(caption: caption, headers: headers, numeric: numeric, rows: rows, highlighted: highlighted)
    }

    func explanationBlocks(_ names: [String: String]) -> [ReportPage.Block] {
        guard !summary.explanations.isEmpty else {
            return [.paragraph("No gap was explained (sweep --no-explain, a collect before every trial finished, or explain.top 0). `cwrepro study collect` explains the largest gaps.")]
        }
        var blocks: [ReportPage.Block] = []
        for e in summary.explanations {
            let r = e.report
            let point = summary.points.first { $0.point.index == e.point.index }
            var head = "Point \(e.point.index) (\(StudyText.point(e.point.values, names: names)))"
            if let g = point?.gap { head += ": gap \(Text.pp(g.mean)) over \(summary.seeds.count) seed\(summary.seeds.count == 1 ? "" : "s")" + (g.pValue.map { ", p = \(StudyText.pValue($0))" } ?? "") }
            head += ". Explained over \(r.seeds.count) seeds both sides share: test accuracy B - A is \(StudyExplanation.gapText(r.gap)) (95% Welch interval)"
            switch r.verdict {
            case .gap:
                head += r.minimalSet.isEmpty ? "; no minimal set of differences reproduces it."
                    : "; the minimal set \(r.minimalSet.joined(separator: ", ")) reproduces \(r.shareText(r.explainedShare, r.explainedShareStatus)) of it."
            case .withinNoise: head += ": within seed noise, so nothing is attributed."
            case .noDifferences: head += ": A and B differ in nothing that changes training."
            }
            blocks.append(.paragraph(head))
            if let f = r.firstDivergence {
                blocks.append(.paragraph("B first diverges from A at \(f.step < 0 ? "initialisation" : "step \(f.step)"), \(f.tensor) (\(f.role.rawValue))" + (f.causedBy.isEmpty ? "." : ", caused by \(f.causedBy.joined(separator: ", ")).")))
            }
            let rows = r.knobs.map { k -> [String] in
                [k.knob, k.a.map(SweepPlan.valueText) ?? "-", k.b.map(SweepPlan.valueText) ?? "-",
                 k.firstDivergentStep.map { "\($0 < 0 ? "init" : "step \($0)"): \(k.firstDivergentTensor ?? "")" } ?? "identical",
                 StudyExplanation.effectText(k.accuracyEffect), r.shareText(k.gapShare, k.gapShareStatus), k.inMinimalSet ? "yes" : ""]
            }
            blocks.append(.table(HTMLTable(caption: "Each difference applied to A alone (intervals clipped to the possible range)", headers: ["difference", "A", "B", "first divergence", "accuracy effect [95% interval]", "share of gap", "minimal set"],
                                           numeric: [4, 5], rows: rows, highlighted: Set(r.knobs.indices.filter { r.knobs[$0].inMinimalSet }))))
        }
        return blocks
    }
}
