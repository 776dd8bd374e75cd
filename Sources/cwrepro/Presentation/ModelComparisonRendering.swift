import Foundation
import Recorder
import Replayer

/// `cwrepro models compare`: the report as text, Markdown and JSON (the HTML page is in
/// ModelComparisonPage.swift).
extension ModelComparisonReport {
    /// Aligned rows with at least one difference, each with its differences, in layer order.
    var differingRows: [(row: AlignedLayer, differences: [ArchitectureDifference])] {
        architecture.rows.compactMap { r in
            let ds = architecture.differences.filter { $0.layerA == r.a?.name && $0.layerB == r.b?.name }
            return ds.isEmpty ? nil : (r, ds)
        }
    }

    static let rowsShown = 30

    func describe(_ m: ComparedModel) -> String {
        "\(m.config) (weights \(m.weights); \(m.name), semantics \(m.semantics.rawValue), \(Text.grouped(m.parameters)) parameters)"
    }

    var architectureHeadline: String {
        let a = architecture
        let count = a.differences.count, rows = differingRows.count
        let head = count == 0 ? "architecture: identical (\(a.rows.count) layers aligned, every attribute equal)"
            : "architecture: \(count) difference\(count == 1 ? "" : "s") in \(rows) of \(a.rows.count) aligned layers"
        return head + "; parameters \(Text.grouped(a.parametersA)) / \(Text.grouped(a.parametersB)); "
            + (a.weightsInterchangeable ? "every parameter name and shape equal (weights load across)" : "weights do not load across (parameter names or shapes differ)")
    }

    func differenceLine(_ row: AlignedLayer, _ ds: [ArchitectureDifference]) -> [String] {
        [ModelText.layers(row.a?.name, row.b?.name), (row.a ?? row.b)!.kind.rawValue, ds.map(ModelText.difference).joined(separator: "; "),
         ds.allSatisfy(\.keepsParameterShapes) ? "yes" : "no"]
    }

    var behaviourLines: [String] {
        let h = behaviour, e = (h.a, h.b)
        var lines = [
            "behaviour on the \(h.split.rawValue) split (\(Text.grouped(e.0.total)) samples; inputs \(h.inputsIdentical ? "bit-identical" : "differ (each model's own preprocessing)")):",
            "  accuracy A \(Text.acc(e.0.accuracy)) (\(e.0.correct)/\(e.0.total)), B \(Text.acc(e.1.accuracy)) (\(e.1.correct)/\(e.1.total)), B - A \(Text.pp(h.accuracyDifference))",
            "  McNemar p = \(ModelText.p(h.mcNemar.pValue)) (\(h.mcNemar.method.rawValue); \(h.paired.onlyA) right only in A, \(h.paired.onlyB) only in B)",
            "  disagreement \(Text.percent(h.disagreement)) (\(h.disagreements) of \(e.0.total) samples predicted differently)",
        ]
        if !h.mostDisagreeing.isEmpty {
            lines.append("  classes that disagree most: " + h.mostDisagreeing.map {
                "\($0.label) (\($0.disagreements) of \($0.total), \(Text.percent($0.disagreementRate)); A \(Text.acc($0.accuracyA)), B \(Text.acc($0.accuracyB)))"
            }.joined(separator: ", "))
            lines.append("  most frequent disagreements: " + h.topPairs.map { "A \($0.a) / B \($0.b) x\($0.count)" }.joined(separator: ", "))
        }
        return lines
    }

    var perClassRows: [[String]] {
        behaviour.perClass.map { [String($0.label), String($0.total), Text.acc($0.accuracyA), Text.acc($0.accuracyB), Text.pp($0.difference), String($0.disagreements)] }
    }
    static let perClassHeader = ["class", "samples", "A", "B", "B - A", "disagree"]

    var latencyLines: [String] {
        let l = latency, r = l.ratio
        return ["latency (\(ModelText.latencySetting(l.a)), in one run, rounds alternating A B / B A, each timed pass after an untimed one of the same model):",
                "  A \(ModelText.latency(l.a))",
                "  B \(ModelText.latency(l.b))",
                "  ratio B / A \(Text.fixed(r.ratio, 3)) (geometric mean of \(r.ratios.count) rounds), \(Text.fixed(r.interval.level * 100, 0))% interval [\(Text.fixed(r.interval.low, 3)), \(Text.fixed(r.interval.high, 3))]"
                    + (r.interval.contains(1) ? " (contains 1: no detectable difference)" : "") + "; median of the rounds' ratios \(Text.fixed(l.medianRatio, 3)) [\(Text.fixed(l.medianRatioInterval.low, 3)), \(Text.fixed(l.medianRatioInterval.high, 3))] (\(Text.fixed(l.medianRatioInterval.level * 100, 1))%, distribution-free)"]
    }

    /// "4.body.0 (conv2d): output shape [16, 4, 4] in A, [16, 8, 8] in B" or with the error.
    static func divergence(_ l: LayerAgreement) -> String {
        let name = ModelText.layers(l.layerA, l.layerB) + " (\(l.kind.rawValue))"
        guard l.sameShape else { return "\(name): output shape \(ModelText.shape(l.shapeA)) in A, \(ModelText.shape(l.shapeB)) in B" }
        return "\(name): max |A - B| \(ModelText.small(l.maxAbsDifference)) (relative \(ModelText.small(l.relativeError))), tolerance \(ModelText.small(l.tolerance)) (A's rounding noise \(ModelText.small(l.noise)))"
    }

    /// The localisation rows shown: up to the first divergent layer (the 8 before it), or all
    /// when none diverges (at most 12).
    var localisationShown: [LayerAgreement] {
        let layers = localisation.layers
        guard let first = layers.firstIndex(where: { !$0.withinTolerance }) else { return Array(layers.suffix(12)) }
        return Array(layers[max(0, first - 8)...first])
    }

    static func localisationRow(_ l: LayerAgreement) -> [String] {
        [ModelText.layers(l.layerA, l.layerB), l.kind.rawValue, l.sameShape ? ModelText.shape(l.shapeA) : "\(ModelText.shape(l.shapeA)) / \(ModelText.shape(l.shapeB))",
         ModelText.small(l.maxAbsDifference), ModelText.small(l.relativeError), ModelText.small(l.noise), ModelText.small(l.tolerance),
         l.identical ? "identical" : l.withinTolerance ? "within" : "DIVERGES"]
    }
    static let localisationHeader = ["layer", "kind", "output", "max |A-B|", "relative", "noise", "tolerance", "verdict"]

    var localisationHeadline: String {
        let l = localisation
        if let f = l.firstDivergent { return "first divergent layer: " + Self.divergence(f) }
        let identical = l.layers.filter(\.identical).count
        return l.identicalEverywhere ? "every paired layer gives bit-identical outputs (\(l.layers.count) of \(l.layers.count))"
            : "every paired layer agrees within tolerance (\(identical) of \(l.layers.count) bit-identical)"
    }

    public var humanText: String {
        var lines = ["A = \(describe(a))", "B = \(describe(b))", "", architectureHeadline]
        for m in architecture.strideMoves { lines.append("  stride moved: " + ModelText.strideMove(m)) }
        if !architecture.attributeChanges.isEmpty {
            lines.append("  attributes: " + architecture.attributeChanges.map(ModelText.change).joined(separator: "; "))
        }
        let rows = differingRows
        if !rows.isEmpty {
            let shown = rows.prefix(Self.rowsShown).map { differenceLine($0.row, $0.differences) }
            lines += Text.table(["layer", "kind", "differences", "parameter shapes equal"], shown).split(separator: "\n").map { "  " + $0 }
            if rows.count > Self.rowsShown { lines.append("  ... \(rows.count - Self.rowsShown) more layers differ (--json lists every difference)") }
        }
        lines += [""] + behaviourLines
        lines += Text.table(Self.perClassHeader, perClassRows).split(separator: "\n").map { "  " + $0 }
        lines += [""] + latencyLines
        lines += ["", "where they part (\(localisation.samples) samples of the \(behaviour.split.rawValue) split; tolerance max(\(ModelText.small(localisation.options.noiseFactor)) x A's rounding noise, \(ModelText.small(localisation.options.floorUlps)) ulp)):",
                  "  " + localisationHeadline]
        lines += Text.table(Self.localisationHeader, localisationShown.map(Self.localisationRow)).split(separator: "\n").map { "  " + $0 }
        lines += ["", equivalent ? "result: the models are equivalent" : "result: the models differ"]
        return lines.joined(separator: "\n")
    }

    public var markdown: String {
        var out = "### cwrepro models compare: \(equivalent ? "✅ equivalent" : "models differ")\n\n"
        out += Text.markdownTable(["", "A", "B"], [
            ["config", "`\(a.config)`", "`\(b.config)`"], ["weights", "`\(a.weights)`", "`\(b.weights)`"],
            ["semantics", a.semantics.rawValue, b.semantics.rawValue],
            ["parameters", Text.grouped(architecture.parametersA), Text.grouped(architecture.parametersB)],
            ["accuracy", "\(Text.acc(behaviour.a.accuracy)) (\(behaviour.a.correct)/\(behaviour.a.total))", "\(Text.acc(behaviour.b.accuracy)) (\(behaviour.b.correct)/\(behaviour.b.total))"],
            ["latency (median)", ModelText.seconds(latency.a.medianSeconds), ModelText.seconds(latency.b.medianSeconds)],
        ]) + "\n\n"
        out += Text.markdownTable(["", ""], [
            ["architecture", architectureHeadline.replacingOccurrences(of: "architecture: ", with: "")],
            ["stride moves", architecture.strideMoves.isEmpty ? "none" : architecture.strideMoves.map(ModelText.strideMove).joined(separator: "<br>")],
            ["attributes", architecture.attributeChanges.isEmpty ? "none" : architecture.attributeChanges.map(ModelText.change).joined(separator: "<br>")],
            ["accuracy B - A", Text.pp(behaviour.accuracyDifference)],
            ["McNemar p", "\(ModelText.p(behaviour.mcNemar.pValue)) (\(behaviour.mcNemar.method.rawValue))"],
            ["disagreement", "\(Text.percent(behaviour.disagreement)) (\(behaviour.disagreements) samples)"],
            ["latency ratio B / A", "\(Text.fixed(latency.ratio.ratio, 3)) [\(Text.fixed(latency.ratio.interval.low, 3)), \(Text.fixed(latency.ratio.interval.high, 3))] (geometric mean); median \(Text.fixed(latency.medianRatio, 3)) [\(Text.fixed(latency.medianRatioInterval.low, 3)), \(Text.fixed(latency.medianRatioInterval.high, 3))]"],
            ["where they part", localisationHeadline],
        ]) + "\n"
        let rows = differingRows
        if !rows.isEmpty {
            out += "\n" + Text.markdownTable(["layer", "kind", "differences", "parameter shapes equal"],
                                             rows.prefix(Self.rowsShown).map { differenceLine($0.row, $0.differences) }) + "\n"
        }
        out += "\n" + Text.markdownTable(Self.perClassHeader, perClassRows) + "\n"
        return out
    }
}
