import Engine
import Foundation
import Recorder
import Replayer

/// `cwrepro report run.cwr` and `cwrepro report A.cwr B.cwr`: one self-contained HTML page (see
/// `ReportPage`) per record or pair of records.
extension RecordOverview {
    /// The run's facts: what, where, how.
    var facts: [(String, String)] {
        let env = environment
        return [("record", path), ("status", RunStateText.recordState(status, writerActive: writerActive)), ("run", "\(name): \(Text.grouped(trainingSteps.count)) steps, \(Text.grouped(tensorCount)) tensors hashed at level \(level.rawValue)"),
                ("semantics", semantics), ("created", createdAt + (finishedAt.map { ", finished \($0)" } ?? "")),
                ("machine", "\(env["cpu.model"] ?? "?"); \(env["os"] ?? "?"); OpenBLAS \(env["blas.core"] ?? "?") x\(env["blas.threads"] ?? "?") threads")]
    }

    /// Loss per training step.
    func lossSeries(_ name: String) -> LineChart.Series {
        let train = trainingSteps
        return LineChart.Series(name: name, x: train.map { Double($0.step) }, y: train.map { Double($0.loss) })
    }

    func lrSeries(_ name: String) -> LineChart.Series {
        let train = trainingSteps
        return LineChart.Series(name: name, x: train.map { Double($0.step) }, y: train.map { Double($0.lr) })
    }

    /// Whether the losses span enough decades to read better on a log axis.
    static func wantsLogScale(_ values: [Double]) -> Bool {
        let positive = values.filter { $0.isFinite && $0 > 0 }
        guard let lo = positive.min(), let hi = positive.max(), positive.count == values.filter(\.isFinite).count else { return false }
        return hi / lo >= 30
    }

    /// The learning rate, when every training step had the same one (no chart then).
    var constantLR: Double? {
        let rates = Set(trainingSteps.map(\.lr))
        return rates.count == 1 ? Double(rates.first!) : nil
    }

    var evaluationTable: HTMLTable {
        HTMLTable(caption: "Evaluations", headers: ["after step", "split", "accuracy", "correct", "loss", "predictions hash"], numeric: [0, 2, 3, 4],
                  rows: evaluations.map { [String($0.step), $0.split, Text.percent($0.accuracy), "\($0.correct)/\($0.total)", HTMLText.number(Double($0.loss)), hex64($0.predictionsHash)] })
    }

    var perClassTable: HTMLTable? {
        guard let last = evaluations.last(where: { $0.split == "test" }) ?? evaluations.last else { return nil }
        let rows = last.perClassAccuracy.enumerated().map { k, a in [String(k), Text.percent(a), "\(last.perClassCorrect[k])/\(last.perClassTotal[k])"] }
        return HTMLTable(caption: "Per-class accuracy (\(last.split), after step \(last.step))", headers: ["class", "accuracy", "correct"], numeric: [0, 1, 2], rows: rows)
    }

    /// The page of one record: loss and learning-rate curves, the evaluations (accuracy over
    /// training when there are several), per-class accuracy.
    public func htmlPage(generator: String) -> String {
        var page = ReportPage(title: "Run \(name)", subtitle: "cwrepro record \(path)", generator: generator)
        page.add("Run", [.facts(facts)])
        let loss = lossSeries("loss")
        var curves: [Block] = []
        if trainingSteps.isEmpty {
            curves.append(.note("The record holds no training step.", .warning))
        } else {
            var charts: [any Chart] = [LineChart(title: "Training loss", xTitle: "step", yTitle: "loss", series: [loss], logY: Self.wantsLogScale(loss.y), width: 600)]
            if let lr = constantLR {
                curves.append(.facts([("learning rate", "\(HTMLText.number(lr)) at every step")]))
            } else {
                charts.append(LineChart(title: "Learning rate", xTitle: "step", yTitle: "learning rate", series: [lrSeries("learning rate")],
                                        logY: Self.wantsLogScale(lrSeries("").y), width: 600))
            }
            curves.append(.charts(charts))
        }
        page.add("Training", curves)
        var evals: [Block] = []
        let byAccuracy = Dictionary(grouping: evaluations, by: \.split)
        if evaluations.count >= 2 {
            let series = byAccuracy.keys.sorted().map { split in
                LineChart.Series(name: "\(split) accuracy", x: byAccuracy[split]!.map { Double($0.step) }, y: byAccuracy[split]!.map(\.accuracy))
            }
            evals.append(.chart(LineChart(title: "Accuracy at each evaluation", xTitle: "step", yTitle: "accuracy", series: series, width: 600)))
        }
        if evaluations.isEmpty { evals.append(.paragraph("The record holds no evaluation.")) } else { evals.append(.table(evaluationTable)) }
        if let t = perClassTable { evals.append(.table(t)) }
        page.add("Evaluations", evals)
        return page.render()
    }

    typealias Block = ReportPage.Block
}

extension RecordPairReport {
    /// The page of two records: both loss curves with the first divergent step marked, the
    /// divergence heat map, the reproducibility criteria and the config and environment differences.
    public func htmlPage(generator: String) -> String {
        var page = ReportPage(title: "\(a.name) vs \(b.name)", subtitle: "cwrepro report \(a.path) \(b.path)", generator: generator)
        var verdict: String
        if let step = diff.firstDivergentStep, let d = diff.firstDivergence {
            verdict = "The runs diverge first at \(step < 0 ? "initialisation" : "step \(step)"), tensor \(d.name) (\(d.role.rawValue))"
            if let cause = DivergenceText.causeCell(diff.diagnosis) { verdict += "; cause: \(cause)" }
        } else if let step = diff.firstDivergentStep {
            verdict = "The runs agree on every step both ran; one stops at step \(step)"
        } else {
            verdict = "The runs are bit-identical over \(Text.grouped(diff.stepsCompared)) steps"
        }
        page.add("Runs", [
            .paragraph(verdict + "."),
            .table(HTMLTable(headers: ["", "A", "B"], rows: zip(a.facts, b.facts).map { [$0.0, $0.1, $1.1] })),
        ])
        var markers: [LineChart.Marker] = []
        if let s = diff.firstDivergentStep, s >= 0 { markers.append(.init(x: Double(s), label: "first divergence: step \(s)")) }
        let lossA = a.lossSeries("A: \(a.name)"), lossB = b.lossSeries("B: \(b.name)")
        var charts: [any Chart] = [LineChart(title: "Training loss", xTitle: "step", yTitle: "loss", series: [lossA, lossB],
                                             logY: RecordOverview.wantsLogScale(lossA.y + lossB.y), markers: markers, width: 600)]
        var lossBlocks: [Block] = []
        if let lr = a.constantLR, b.constantLR == lr {
            lossBlocks.append(.facts([("learning rate", "\(HTMLText.number(lr)) at every step of both runs")]))
        } else {
            charts.append(LineChart(title: "Learning rate", xTitle: "step", yTitle: "learning rate", series: [a.lrSeries("A"), b.lrSeries("B")],
                                    logY: RecordOverview.wantsLogScale(a.lrSeries("").y + b.lrSeries("").y), markers: markers, width: 600))
        }
        page.add("Loss", [.charts(charts)] + lossBlocks)
        page.add("Divergence", divergenceBlocks)
        page.add("Criteria", [.table(HTMLTable(caption: "Reproducibility criteria (Chen et al., ICSE 2022)", headers: ["criterion", "verdict", "value", "detail"],
                                               rows: diff.criteria.map { [$0.name.rawValue, $0.verdict.rawValue, $0.value, $0.detail] },
                                               highlighted: Set(diff.criteria.indices.filter { diff.criteria[$0].verdict == .fail })))])
        var changes: [Block] = []
        if diff.configChanges.isEmpty { changes.append(.paragraph("The resolved configs are identical.")) } else {
            changes.append(.table(HTMLTable(caption: "Config differences", headers: ["key", "A", "B"],
                                            rows: diff.configChanges.map { [$0.key, $0.old ?? "-", $0.new ?? "-"] })))
        }
        if !diff.environmentChanges.isEmpty {
            changes.append(.table(HTMLTable(caption: "Environment differences (highlighted: can change result bits)", headers: ["key", "A", "B"],
                                            rows: diff.environmentChanges.map { [$0.key, $0.a ?? "-", $0.b ?? "-"] },
                                            highlighted: Set(diff.environmentChanges.indices.filter { diff.environmentChanges[$0].bitRelevant }))))
        }
        page.add("Differences", changes)
        return page.render()
    }

    typealias Block = ReportPage.Block

    var divergenceBlocks: [Block] {
        let m = map
        let count = { (x: DivergenceMap.Measure) in m.measures[x] ?? 0 }
        var text = "Each cell is the relative error of B against A in float32 ulps, |a - b| / max(|a|, |b|) / 2^-23, for one tensor at one step: "
        text += "grey where the hashes are equal (bit-identical); the loss row from the stored float32 losses"
        text += count(.values) > 0 ? "; \(Text.grouped(count(.values))) cells from the tensor values both records kept (the largest error over the elements)" : ""
        text += count(.statistics) > 0 ? "; \(Text.grouped(count(.statistics))) cells from the tensors' recorded statistics (the largest error among min, max, mean and L2 norm: a summary, which can understate an elementwise difference)" : ""
        text += ". Columns are the \(m.steps.count) of \(Text.grouped(m.commonSteps)) steps both records hold\(m.steps.count < m.commonSteps ? " (evenly spaced)" : "")."
        var blocks: [Block] = [.paragraph(text)]
        if count(.unmeasured) > 0 {
            blocks.append(.note("\(Text.grouped(count(.unmeasured))) cells differ in their hashes but neither kept values nor statistics measure by how much: they are white (no value). Record with record.keepTensors to keep values (schema-2 records, from this cwrepro on, carry per-tensor statistics that measure every cell).", .info))
        }
        let marked = m.first.map { f in (row: f.row, column: f.column,
                                         label: "first divergence: \(m.rows[f.row].name) at \(m.steps[f.column] < 0 ? "init" : "step \(m.steps[f.column])")") }
        blocks.append(.chart(HeatMap(title: "Relative error by tensor and step", rows: m.rows.map { $0.role == .loss ? "loss" : "\($0.name) (\($0.role.rawValue))" },
                                     columns: m.steps, values: m.cells, marked: marked, width: 1200)))
        return blocks
    }
}
