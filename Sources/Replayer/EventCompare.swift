import Recorder

extension Divergence {
    /// How `actual` differs from `expected` at the same position of a step, or nil when both name
    /// the same tensor with the same bits. `expected` nil: the actual run has an extra event.
    public static func between(expected x: RecordedEvent?, actual e: RecordedEvent) -> Divergence? {
        guard let x else {
            return Divergence(step: e.step, seq: e.seq, name: e.name, role: e.role.rawValue, kind: .extra,
                              actualHash: hex64(e.hash), actualShape: e.shape)
        }
        if x.name != e.name || x.role != e.role || x.dtype != e.dtype || x.shape != e.shape {
            return Divergence(step: e.step, seq: e.seq, name: e.name, role: e.role.rawValue, kind: .structure,
                              expectedHash: hex64(x.hash), actualHash: hex64(e.hash), expectedShape: x.shape,
                              actualShape: e.shape, expectedName: x.name == e.name ? nil : "\(x.name) (\(x.role.rawValue))")
        }
        if x.hash != e.hash {
            return Divergence(step: e.step, seq: e.seq, name: e.name, role: e.role.rawValue, kind: .hash,
                              expectedHash: hex64(x.hash), actualHash: hex64(e.hash), expectedShape: x.shape, actualShape: e.shape)
        }
        return nil
    }

    /// An event the expected side has and the actual side does not.
    public static func missing(_ x: RecordedEvent) -> Divergence {
        Divergence(step: x.step, seq: x.seq, name: x.name, role: x.role.rawValue, kind: .missing,
                   expectedHash: hex64(x.hash), expectedShape: x.shape)
    }

    /// Draws and data orders are evidence for a cause; every other role is a computed tensor.
    public var isDrawOrOrder: Bool { role == TensorRole.draw.rawValue || role == TensorRole.order.rawValue }
}

/// The first divergent computed tensor and the first divergent draw or order of one step, by
/// position in execution order.
struct StepComparison {
    var firstTensor: Divergence?
    var firstDraw: Divergence?
    var any: Bool { firstTensor != nil || firstDraw != nil }

    mutating func note(_ d: Divergence) {
        if d.isDrawOrOrder { if firstDraw == nil { firstDraw = d } } else if firstTensor == nil { firstTensor = d }
    }

    /// Compares two whole steps (record against record).
    static func compare(expected: [RecordedEvent], actual: [RecordedEvent]) -> StepComparison {
        var c = StepComparison()
        for e in actual {
            if let d = Divergence.between(expected: e.seq < expected.count ? expected[e.seq] : nil, actual: e) { c.note(d) }
            if c.firstTensor != nil { break }
        }
        if c.firstTensor == nil && actual.count < expected.count { c.note(.missing(expected[actual.count])) }
        return c
    }
}
