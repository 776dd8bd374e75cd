import Engine
import Recorder

/// Two layer lists side by side: `a` and `b` both set when the alignment paired them, one of
/// them nil for a layer the other model lacks.
public struct AlignedLayer: Equatable, Sendable {
    public var a: LayerDescription?
    public var b: LayerDescription?
}

/// What differs between two paired layers (or that a layer has no counterpart).
public enum DifferenceKind: Equatable, Sendable {
    /// A layer of A with no counterpart in B, and the reverse.
    case onlyInA, onlyInB
    /// The paired layers have different state-dict names (weights do not load by name).
    case name
    case inputShape, outputShape
    case attribute(LayerAttribute)
    /// Trainable parameters of the layer itself.
    case parameterCount
    /// A parameter or buffer ("weight", "running_var") whose shape differs or that one side lacks.
    case parameterShape(String)
}

/// One named difference between the architectures.
public struct ArchitectureDifference: Equatable, Sendable {
    /// The layers' names (nil on the side without the layer).
    public var layerA: String?
    public var layerB: String?
    /// The kind of the layer (of A when both exist).
    public var layerKind: LayerKind
    public var kind: DifferenceKind
    /// The value on each side (nil: absent there).
    public var valueA: AttributeValue?
    public var valueB: AttributeValue?
    /// The layers' parameters and buffers have the same names and shapes on both sides (or the
    /// layer has none): loading one model's weights into the other cannot reveal this difference.
    public var keepsParameterShapes: Bool
}

/// A downsampling stride that sits on a different layer of a paired residual block: ResNet v1
/// (the first 1x1 convolution of a bottleneck) against v1.5 (its 3x3 convolution).
public struct StrideMove: Equatable, Sendable {
    public var blockA: String
    public var blockB: String
    /// The layer that strides in each (`nil`: the block does not stride there).
    public var layerA: String?
    public var layerB: String?
    /// Their kernels ([kh, kw]) and strides ([sh, sw]).
    public var kernelA: [Int]?
    public var kernelB: [Int]?
    public var strideA: [Int]?
    public var strideB: [Int]?
    /// Every parameter of the two blocks has the same name and shape.
    public var keepsParameterShapes: Bool
}

/// One attribute changed the same way in several layers of one kind ("bias false -> true in 31
/// conv2d layers"): the differences of kind `.attribute` grouped.
public struct AttributeChange: Equatable, Sendable {
    public var attribute: LayerAttribute
    public var layerKind: LayerKind
    public var valueA: AttributeValue?
    public var valueB: AttributeValue?
    /// The layers (A's names), in layer order.
    public var layers: [String]
}

/// The architectures of two models compared: the aligned layer lists, every difference, the
/// stride moves, parameter counts, and whether one model's weights load into the other.
public struct ArchitectureComparison: Equatable, Sendable {
    public var rows: [AlignedLayer]
    public var differences: [ArchitectureDifference]
    public var strideMoves: [StrideMove]
    /// The attribute differences grouped by (attribute, kind, values), in order of first appearance.
    public var attributeChanges: [AttributeChange]
    /// Trainable parameters in all.
    public var parametersA: Int
    public var parametersB: Int
    /// Every parameter and buffer has the same name and shape in both models: A's weights load
    /// into B and back (which says nothing of whether they compute the same function).
    public var weightsInterchangeable: Bool

    public var identical: Bool { differences.isEmpty }
}

extension ArchitectureComparison {
    /// Aligns the expanded layer lists of `a` and `b` and names every difference.
    public static func compare(_ a: Model, _ b: Model) -> ArchitectureComparison {
        let rows = align(LayerDescription.describe(a), LayerDescription.describe(b))
        let differences = rows.flatMap(differences(of:))
        let strideMoves = rows.compactMap { r -> StrideMove? in
            guard let x = r.a, let y = r.b, x.kind == .residual, y.kind == .residual, x.value(.strideAt) != y.value(.strideAt) else { return nil }
            return strideMove(x, y, rows: rows)
        }
        let shapesA = a.params.entries.map { "\($0.name) \($0.shape)" }, shapesB = b.params.entries.map { "\($0.name) \($0.shape)" }
        var changes: [AttributeChange] = []
        for d in differences {
            guard case .attribute(let at) = d.kind else { continue }
            if let i = changes.firstIndex(where: { $0.attribute == at && $0.layerKind == d.layerKind && $0.valueA == d.valueA && $0.valueB == d.valueB }) {
                changes[i].layers.append(d.layerA ?? d.layerB ?? "")
            } else {
                changes.append(AttributeChange(attribute: at, layerKind: d.layerKind, valueA: d.valueA, valueB: d.valueB, layers: [d.layerA ?? d.layerB ?? ""]))
            }
        }
        return ArchitectureComparison(rows: rows, differences: differences, strideMoves: strideMoves, attributeChanges: changes,
                                      parametersA: a.params.trainableCount, parametersB: b.params.trainableCount,
                                      weightsInterchangeable: Set(shapesA) == Set(shapesB) && shapesA.count == shapesB.count)
    }

    /// Needleman-Wunsch over the two pre-order lists: only layers of one kind pair (score 4, +2
    /// for the same name, +1 each for the same output shape and nesting depth), a layer left
    /// unpaired costs 2. The common prefix and suffix of identical (name, kind) pairs are paired
    /// first, so identical models and local differences align in linear time.
    static func align(_ a: [LayerDescription], _ b: [LayerDescription]) -> [AlignedLayer] {
        func same(_ x: LayerDescription, _ y: LayerDescription) -> Bool { x.name == y.name && x.kind == y.kind }
        var head = 0
        while head < a.count, head < b.count, same(a[head], b[head]) { head += 1 }
        var tail = 0
        while tail < a.count - head, tail < b.count - head, same(a[a.count - 1 - tail], b[b.count - 1 - tail]) { tail += 1 }
        let ma = Array(a[head..<(a.count - tail)]), mb = Array(b[head..<(b.count - tail)])
        let middle = alignDP(ma, mb)
        return zip(a.prefix(head), b.prefix(head)).map { AlignedLayer(a: $0, b: $1) } + middle
            + zip(a.suffix(tail), b.suffix(tail)).map { AlignedLayer(a: $0, b: $1) }
    }

    static func alignDP(_ a: [LayerDescription], _ b: [LayerDescription]) -> [AlignedLayer] {
        let n = a.count, m = b.count, gap: Int32 = -2, none = Int32.min / 2
        func match(_ i: Int, _ j: Int) -> Int32 {
            let x = a[i], y = b[j]
            guard x.kind == y.kind else { return none }
            return 4 + (x.name == y.name ? 2 : 0) + (x.outputShape == y.outputShape ? 1 : 0) + (x.depth == y.depth ? 1 : 0)
        }
        var score = [Int32](repeating: 0, count: (n + 1) * (m + 1))
        let w = m + 1
        for i in 0...n { score[i * w] = Int32(i) * gap }
        for j in 0...m { score[j] = Int32(j) * gap }
        if n > 0 && m > 0 {
            for i in 1...n {
                for j in 1...m {
                    score[i * w + j] = max(score[(i - 1) * w + j - 1] + match(i - 1, j - 1), score[(i - 1) * w + j] + gap, score[i * w + j - 1] + gap)
                }
            }
        }
        var rows: [AlignedLayer] = []
        var i = n, j = m
        while i > 0 || j > 0 {
            if i > 0, j > 0, score[i * w + j] == score[(i - 1) * w + j - 1] + match(i - 1, j - 1) {
                rows.append(AlignedLayer(a: a[i - 1], b: b[j - 1])); i -= 1; j -= 1
            } else if i > 0, score[i * w + j] == score[(i - 1) * w + j] + gap {
                rows.append(AlignedLayer(a: a[i - 1], b: nil)); i -= 1
            } else {
                rows.append(AlignedLayer(a: nil, b: b[j - 1])); j -= 1
            }
        }
        return rows.reversed()
    }

    /// The differences of one aligned row, in a fixed order: name, shapes, attributes (in
    /// `LayerAttribute` order), parameter count, parameter shapes.
    static func differences(of row: AlignedLayer) -> [ArchitectureDifference] {
        guard let x = row.a, let y = row.b else {
            let l = (row.a ?? row.b)!
            return [ArchitectureDifference(layerA: row.a?.name, layerB: row.b?.name, layerKind: l.kind, kind: row.a == nil ? .onlyInB : .onlyInA,
                                           valueA: nil, valueB: nil, keepsParameterShapes: l.parameters.isEmpty)]
        }
        let keeps = x.parameters.map { "\($0.name) \($0.shape)" } == y.parameters.map { "\($0.name) \($0.shape)" }
        var out: [ArchitectureDifference] = []
        func add(_ kind: DifferenceKind, _ va: AttributeValue?, _ vb: AttributeValue?) {
            out.append(ArchitectureDifference(layerA: x.name, layerB: y.name, layerKind: x.kind, kind: kind, valueA: va, valueB: vb,
                                              keepsParameterShapes: keeps))
        }
        if x.name != y.name { add(.name, .choice(x.name), .choice(y.name)) }
        if x.inputShape != y.inputShape { add(.inputShape, .ints(x.inputShape), .ints(y.inputShape)) }
        if x.outputShape != y.outputShape { add(.outputShape, .ints(x.outputShape), .ints(y.outputShape)) }
        for attribute in LayerAttribute.allCases {
            let va = x.value(attribute), vb = y.value(attribute)
            if va != vb { add(.attribute(attribute), va, vb) }
        }
        if x.parameterCount != y.parameterCount { add(.parameterCount, .int(x.parameterCount), .int(y.parameterCount)) }
        var names = x.parameters.map(\.name)
        for p in y.parameters where !names.contains(p.name) { names.append(p.name) }
        for name in names {
            let sa = x.parameters.first { $0.name == name }?.shape, sb = y.parameters.first { $0.name == name }?.shape
            if sa != sb { add(.parameterShape(name), sa.map { .ints($0) }, sb.map { .ints($0) }) }
        }
        return out
    }

    /// The stride move between two paired residual blocks whose `strideAt` differs.
    static func strideMove(_ x: LayerDescription, _ y: LayerDescription, rows: [AlignedLayer]) -> StrideMove {
        func layer(_ block: LayerDescription, _ side: KeyPath<AlignedLayer, LayerDescription?>) -> LayerDescription? {
            guard case .choice(let at)? = block.value(.strideAt), at != "none" else { return nil }
            return rows.lazy.compactMap { $0[keyPath: side] }.first { $0.name == "\(block.name).\(at)" }
        }
        func ints(_ v: AttributeValue?) -> [Int]? { if case .ints(let i)? = v { return i }; return nil }
        let la = layer(x, \.a), lb = layer(y, \.b)
        // The blocks' parameters: every row nested under them.
        func params(_ block: String, _ side: KeyPath<AlignedLayer, LayerDescription?>) -> [String] {
            rows.compactMap { $0[keyPath: side] }.filter { $0.name.hasPrefix(block + ".") }
                .flatMap { l in l.parameters.map { "\(l.name).\($0.name) \($0.shape)" } }
        }
        return StrideMove(blockA: x.name, blockB: y.name, layerA: la?.name, layerB: lb?.name,
                          kernelA: ints(la?.value(.kernel)), kernelB: ints(lb?.value(.kernel)),
                          strideA: ints(la?.value(.stride)), strideB: ints(lb?.value(.stride)),
                          keepsParameterShapes: params(x.name, \.a) == params(y.name, \.b))
    }
}
