import Foundation
import Recorder
import Replayer

/// `cwrepro models compare --json`. The contract: `architecture.differences` (a list, empty when
/// none), `a.accuracy`, `b.accuracy`, `disagreement` (fraction of inputs), `mcnemarPValue`,
/// `latency.ratio`, `firstDivergentLayer` (null when every layer agrees); everything else the
/// report holds beside them.
extension ModelComparisonReport {
    public var json: String {
        var d = JSONDocument()
        d.set("a", side(a, behaviour.a))
        d.set("b", side(b, behaviour.b))
        d.set("equivalent", equivalent)
        d.set("architecture", architectureDocument)
        let h = behaviour
        d.set("split", h.split.rawValue)
        d.set("accuracyDifference", h.accuracyDifference)
        d.set("disagreement", h.disagreement)
        d.set("disagreements", h.disagreements)
        d.set("inputsIdentical", h.inputsIdentical)
        d.set("mcnemarPValue", h.mcNemar.pValue)
        var m = JSONDocument()
        m.set("pValue", h.mcNemar.pValue)
        m.set("statistic", h.mcNemar.statistic)
        m.set("method", h.mcNemar.method.rawValue)
        m.set("bothRight", h.paired.both)
        m.set("onlyARight", h.paired.onlyA)
        m.set("onlyBRight", h.paired.onlyB)
        m.set("bothWrong", h.paired.neither)
        d.set("mcnemar", m)
        d.set("perClass", h.perClass.map(classDocument))
        d.set("mostDisagreeing", h.mostDisagreeing.map(\.label))
        d.set("topDisagreements", h.topPairs.map { ["a": $0.a, "b": $0.b, "count": $0.count] })
        d.set("latency", latencyDocument)
        d.setNull("firstDivergentLayer", localisation.firstDivergent.map(agreementDocument))
        d.set("localisation", localisationDocument)
        return jsonText(d)
    }

    func side(_ m: ComparedModel, _ e: Evaluation) -> JSONDocument {
        var d = JSONDocument()
        d.setModel(name: m.name, config: m.config, weights: m.weights, semantics: m.semantics.rawValue, parameters: m.parameters)
        d.setScores(e)
        return d
    }

    func classDocument(_ c: ClassComparison) -> JSONDocument {
        var d = JSONDocument()
        d.set("class", c.label)
        d.set("samples", c.total)
        d.set("accuracyA", c.accuracyA)
        d.set("accuracyB", c.accuracyB)
        d.set("difference", c.difference)
        d.set("disagreements", c.disagreements)
        d.set("disagreementRate", c.disagreementRate)
        return d
    }

    var architectureDocument: JSONDocument {
        let a = architecture
        var d = JSONDocument()
        d.set("identical", a.identical)
        d.set("parametersA", a.parametersA)
        d.set("parametersB", a.parametersB)
        d.set("weightsInterchangeable", a.weightsInterchangeable)
        d.set("differences", a.differences.map(differenceDocument))
        d.set("strideMoves", a.strideMoves.map(strideMoveDocument))
        d.set("attributeChanges", a.attributeChanges.map { c -> JSONDocument in
            var x = JSONDocument()
            x.set("attribute", c.attribute.rawValue)
            x.set("layerKind", c.layerKind.rawValue)
            x.setNull("a", c.valueA.map(AttributeJSON.init))
            x.setNull("b", c.valueB.map(AttributeJSON.init))
            x.set("layers", c.layers)
            return x
        })
        d.set("layers", a.rows.map { r -> JSONDocument in
            var row = JSONDocument()
            row.setNull("a", r.a.map(layerDocument))
            row.setNull("b", r.b.map(layerDocument))
            return row
        })
        return d
    }

    func differenceDocument(_ x: ArchitectureDifference) -> JSONDocument {
        var d = JSONDocument()
        d.setNull("layerA", x.layerA)
        d.setNull("layerB", x.layerB)
        d.set("layerKind", x.layerKind.rawValue)
        switch x.kind {
        case .onlyInA: d.set("kind", "onlyInA")
        case .onlyInB: d.set("kind", "onlyInB")
        case .name: d.set("kind", "name")
        case .inputShape: d.set("kind", "inputShape")
        case .outputShape: d.set("kind", "outputShape")
        case .parameterCount: d.set("kind", "parameterCount")
        case .attribute(let at):
            d.set("kind", "attribute")
            d.set("attribute", at.rawValue)
        case .parameterShape(let p):
            d.set("kind", "parameterShape")
            d.set("parameter", p)
        }
        d.setNull("a", x.valueA.map(AttributeJSON.init))
        d.setNull("b", x.valueB.map(AttributeJSON.init))
        d.set("keepsParameterShapes", x.keepsParameterShapes)
        d.set("text", ModelText.difference(x))
        return d
    }

    func strideMoveDocument(_ m: StrideMove) -> JSONDocument {
        var d = JSONDocument()
        d.set("blockA", m.blockA)
        d.set("blockB", m.blockB)
        d.setNull("layerA", m.layerA)
        d.setNull("layerB", m.layerB)
        d.setNull("kernelA", m.kernelA)
        d.setNull("kernelB", m.kernelB)
        d.setNull("strideA", m.strideA)
        d.setNull("strideB", m.strideB)
        d.set("keepsParameterShapes", m.keepsParameterShapes)
        return d
    }

    func layerDocument(_ l: LayerDescription) -> JSONDocument {
        var d = JSONDocument()
        d.set("name", l.name)
        d.set("kind", l.kind.rawValue)
        d.set("depth", l.depth)
        d.set("inputShape", l.inputShape)
        d.set("outputShape", l.outputShape)
        d.set("parameters", l.parameterCount)
        var attributes = JSONDocument()
        for p in l.attributes { attributes.set(p.attribute.rawValue, AttributeJSON(value: p.value)) }
        d.set("attributes", attributes)
        return d
    }

    var latencyDocument: JSONDocument {
        var d = JSONDocument()
        d.set("ratio", latency.ratio.ratio)
        d.set("ratioInterval", latency.ratio.interval)
        d.set("ratioSummary", latency.ratio.ratios)
        d.set("medianRatio", latency.medianRatio)
        d.set("medianRatioInterval", latency.medianRatioInterval)
        d.set("batchSize", latency.a.batchSize)
        d.set("threads", latency.a.threads)
        d.set("warmup", latency.a.warmup)
        d.set("timed", latency.a.summary.count)
        d.set("order", "rounds alternating A B / B A, each timed pass after an untimed pass of the same model")
        d.set("a", LatencyJSON.document(latency.a))
        d.set("b", LatencyJSON.document(latency.b))
        return d
    }

    func agreementDocument(_ l: LayerAgreement) -> JSONDocument {
        var d = JSONDocument()
        d.set("layerA", l.layerA)
        d.set("layerB", l.layerB)
        d.set("kind", l.kind.rawValue)
        d.set("shapeA", l.shapeA)
        d.set("shapeB", l.shapeB)
        d.setNull("maxAbsDifference", l.maxAbsDifference)
        d.setNull("relativeError", l.relativeError)
        d.set("differingElements", l.differingElements)
        d.set("scale", l.scale)
        d.set("noise", l.noise)
        d.set("tolerance", l.tolerance)
        d.set("identical", l.identical)
        d.set("withinTolerance", l.withinTolerance)
        return d
    }

    var localisationDocument: JSONDocument {
        let l = localisation
        var d = JSONDocument()
        d.set("samples", l.samples)
        d.set("noiseFactor", l.options.noiseFactor)
        d.set("floorUlps", l.options.floorUlps)
        d.set("identicalEverywhere", l.identicalEverywhere)
        d.set("layers", l.layers.map(agreementDocument))
        return d
    }
}
