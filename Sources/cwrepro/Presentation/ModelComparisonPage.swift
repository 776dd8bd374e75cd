import Foundation
import Recorder
import Replayer

/// `cwrepro models compare --html FILE`: one self-contained page (the HTML toolkit's
/// `ReportPage`): the verdict, the architecture differences, behaviour, latency per pass, and the
/// relative error of every paired layer with the first divergence marked.
extension ModelComparisonReport {
    public func html(generator: String) -> String {
        var page = ReportPage(title: "Model comparison: \(a.name) vs \(b.name)", subtitle: "A = \(a.config), B = \(b.config)", generator: generator)
        page.add("Verdict", [
            .note(equivalent ? "The models are equivalent: same architecture, same predictions, every layer within tolerance."
                  : "The models differ: " + verdictReasons.joined(separator: "; ") + ".", equivalent ? .info : .warning),
            .facts([
                ("A", describe(a)), ("B", describe(b)),
                ("accuracy", "A \(Text.acc(behaviour.a.accuracy)), B \(Text.acc(behaviour.b.accuracy)), B - A \(Text.pp(behaviour.accuracyDifference))"),
                ("McNemar p", "\(ModelText.p(behaviour.mcNemar.pValue)) (\(behaviour.mcNemar.method.rawValue))"),
                ("disagreement", "\(Text.percent(behaviour.disagreement)) (\(behaviour.disagreements) of \(behaviour.a.total))"),
                ("latency ratio B / A", "\(Text.fixed(latency.ratio.ratio, 3)) [\(Text.fixed(latency.ratio.interval.low, 3)), \(Text.fixed(latency.ratio.interval.high, 3))] (geometric mean); median \(Text.fixed(latency.medianRatio, 3)) [\(Text.fixed(latency.medianRatioInterval.low, 3)), \(Text.fixed(latency.medianRatioInterval.high, 3))]"),
                ("where they part", localisationHeadline),
            ]),
        ])
        var arch: [ReportPage.Block] = [.paragraph(architectureHeadline)]
        arch += architecture.strideMoves.map { .note("Stride moved: " + ModelText.strideMove($0), .warning) }
        if !architecture.attributeChanges.isEmpty {
            arch.append(.table(HTMLTable(caption: "Attributes changed", headers: ["attribute", "layer kind", "A", "B", "layers"], numeric: [4],
                                         rows: architecture.attributeChanges.map {
                                             [$0.attribute.rawValue, $0.layerKind.rawValue, ModelText.value($0.valueA, $0.attribute),
                                              ModelText.value($0.valueB, $0.attribute), String($0.layers.count)]
                                         })))
        }
        let rows = differingRows
        if !rows.isEmpty {
            arch.append(.table(HTMLTable(caption: "Layers that differ", headers: ["layer", "kind", "differences", "parameter shapes equal"],
                                         rows: rows.map { differenceLine($0.row, $0.differences) })))
        }
        page.add("Architecture", arch)
        page.add("Behaviour", [
            .paragraph(behaviourLines.joined(separator: " ")),
            .table(HTMLTable(caption: "Per-class accuracy", headers: Self.perClassHeader, numeric: [1, 2, 3, 4, 5], rows: perClassRows,
                             highlighted: Set(behaviour.perClass.indices.filter { behaviour.perClass[$0].disagreements > 0 }))),
        ])
        page.add("Latency", [
            .paragraph(latencyLines.joined(separator: " ")),
            .chart(LineChart(title: "Seconds per forward pass, in the order measured", xTitle: "timed pass", yTitle: "seconds",
                             series: [.init(name: "A: \(a.name)", values: latency.a.seconds), .init(name: "B: \(b.name)", values: latency.b.seconds)])),
        ])
        page.add("Where they part", localisationBlocks)
        return page.render()
    }

    var verdictReasons: [String] {
        var r: [String] = []
        if !architecture.identical { r.append("\(architecture.differences.count) architecture differences") }
        if behaviour.disagreements > 0 { r.append("\(behaviour.disagreements) predictions disagree") }
        if let f = localisation.firstDivergent { r.append("outputs part at \(ModelText.layers(f.layerA, f.layerB))") }
        return r
    }

    var localisationBlocks: [ReportPage.Block] {
        let layers = localisation.layers
        let first = layers.firstIndex { !$0.withinTolerance }
        func relative(_ v: Double, _ l: LayerAgreement) -> Double { l.scale > 0 ? v / l.scale : 0 }
        let x = layers.indices.map(Double.init)
        let chart = LineChart(
            title: "Relative error of each paired layer's output, in execution order", xTitle: "layer (execution order)", yTitle: "relative to max |A|",
            series: [.init(name: "|A - B|", x: x, y: layers.map { $0.relativeError ?? .nan }),
                     .init(name: "tolerance", x: x, y: layers.map { relative($0.tolerance, $0) }),
                     .init(name: "A's rounding noise", x: x, y: layers.map { relative($0.noise, $0) })],
            logY: true, markers: first.map { [.init(x: Double($0), label: "first divergence: \(layers[$0].layerA)")] } ?? [])
        var blocks: [ReportPage.Block] = [.paragraph(localisationHeadline)]
        if localisation.identicalEverywhere {
            blocks.append(.note("Every paired layer gives bit-identical outputs: there is no error to plot.", .info))
        } else {
            blocks.append(.chart(chart))
        }
        blocks.append(.table(HTMLTable(caption: "Every paired layer (\(localisation.samples) samples)", headers: Self.localisationHeader,
                                       numeric: [3, 4, 5, 6], rows: layers.map(Self.localisationRow), highlighted: first.map { [$0] } ?? [])))
        return blocks
    }
}
