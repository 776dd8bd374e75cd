import Engine
import Recorder

/// How layer outputs are compared.
///
/// A paired layer's outputs a (model A) and b (model B) on the same batch agree when
///   max_i |a_i - b_i| <= tolerance = max(noiseFactor * noise, floorUlps * ulp(scale)),
/// with scale = max_i |a_i| (the layer's magnitude; ulp is Float32's spacing there) and
/// noise = max_i |a_i - a'_i|, where a' is A's own output recomputed with every GEMM and every
/// reduction in another summation order (OpenBLAS <-> the reference GEMM, sequential <-> pairwise
/// sums): the rounding noise that A's computation carries at that layer and magnitude, measured
/// rather than guessed, and grown through the layers before it as real rounding grows. Outputs
/// of different shapes never agree. (CRADLE, Pham et al. ICSE 2019, localises with a per-layer
/// distance and a fixed threshold; this threshold follows the magnitude and the depth.)
public struct LocalisationOptions: Equatable, Sendable {
    /// Samples in the batch (the first ones of the split).
    public var batchSize: Int
    public var noiseFactor: Double
    public var floorUlps: Double

    public init(batchSize: Int = 32, noiseFactor: Double = 8, floorUlps: Double = 16) {
        self.batchSize = batchSize; self.noiseFactor = noiseFactor; self.floorUlps = floorUlps
    }
}

/// One paired layer's outputs compared.
public struct LayerAgreement: Equatable, Sendable {
    public var layerA: String
    public var layerB: String
    public var kind: LayerKind
    /// Per-sample output shapes.
    public var shapeA: [Int]
    public var shapeB: [Int]
    /// max |a - b| (nil when the shapes differ) and the number of elements that differ at all.
    public var maxAbsDifference: Double?
    public var differingElements: Int
    /// max |a|.
    public var scale: Double
    /// A's rounding noise at this layer (see `LocalisationOptions`).
    public var noise: Double
    public var tolerance: Double

    public var sameShape: Bool { shapeA == shapeB }
    public var identical: Bool { sameShape && differingElements == 0 }
    public var withinTolerance: Bool { maxAbsDifference.map { $0 <= tolerance } ?? false }
    /// max |a - b| / max |a| (nil when the shapes differ; infinity when A is all zero and B is not).
    public var relativeError: Double? {
        maxAbsDifference.map { d in d == 0 ? 0 : scale > 0 ? d / scale : .infinity }
    }
}

/// Where two models part on one batch: every paired layer's outputs compared, in A's execution
/// order (a block's children before the block).
public struct LayerLocalisation: Equatable, Sendable {
    public var samples: Int
    public var options: LocalisationOptions
    public var layers: [LayerAgreement]

    /// The first layer, in execution order, whose outputs leave tolerance (nil: every layer agrees).
    public var firstDivergent: LayerAgreement? { layers.first { !$0.withinTolerance } }
    /// Every paired layer gave bit-identical outputs.
    public var identicalEverywhere: Bool { layers.allSatisfy(\.identical) }
}

extension LayerLocalisation {
    static func compare(_ ma: TrainedModel, _ mb: TrainedModel, rows: [AlignedLayer], split: EvaluationSplit,
                        options: LocalisationOptions) -> LayerLocalisation {
        let n = min(options.batchSize, ma.dataset(split).count, mb.dataset(split).count)
        let xa = ma.batch(split, count: n).x, xb = mb.batch(split, count: n).x
        let outA = ma.layerOutputs(xa, ma.ownContext)
        let d = ma.config.determinism
        let probe = ma.context(gemm: d.gemm == .openblas ? .reference : .openblas, reduction: d.reduction == .pairwise ? .sequential : .pairwise)
        let noisy = Dictionary(ma.layerOutputs(xa, probe).map { ($0.name, $0.output) }, uniquingKeysWith: { a, _ in a })
        let outB = Dictionary(mb.layerOutputs(xb, mb.ownContext).map { ($0.name, $0.output) }, uniquingKeysWith: { a, _ in a })
        var partner: [String: (name: String, kind: LayerKind)] = [:]
        for r in rows { if let a = r.a, let b = r.b { partner[a.name] = (b.name, a.kind) } }
        let layers = outA.compactMap { name, a -> LayerAgreement? in
            guard let p = partner[name], let b = outB[p.name] else { return nil }
            return agreement(name, a, p.name, b, kind: p.kind, noisy: noisy[name], options: options)
        }
        return LayerLocalisation(samples: n, options: options, layers: layers)
    }

    static func agreement(_ nameA: String, _ a: Tensor, _ nameB: String, _ b: Tensor, kind: LayerKind, noisy: Tensor?,
                          options: LocalisationOptions) -> LayerAgreement {
        var scale: Float = 0, noise: Float = 0
        for v in a.data { scale = max(scale, abs(v)) }
        if let noisy, noisy.shape == a.shape {
            for (x, y) in zip(a.data, noisy.data) { noise = max(noise, abs(x - y)) }
        }
        let tolerance = max(options.noiseFactor * Double(noise), options.floorUlps * Double(scale.ulp))
        var maxDiff: Double? = nil, differing = a.count
        if a.shape == b.shape {
            var m: Float = 0
            differing = 0
            for (x, y) in zip(a.data, b.data) where x.bitPattern != y.bitPattern {
                differing += 1
                let e = abs(x - y)
                m = e.isNaN ? .infinity : max(m, e)
            }
            maxDiff = Double(m)
        }
        return LayerAgreement(layerA: nameA, layerB: nameB, kind: kind, shapeA: Array(a.shape.dropFirst()), shapeB: Array(b.shape.dropFirst()),
                              maxAbsDifference: maxDiff, differingElements: differing, scale: Double(scale), noise: Double(noise),
                              tolerance: tolerance)
    }
}
