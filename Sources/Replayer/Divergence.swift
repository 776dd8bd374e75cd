import Recorder

/// How the values of a divergent tensor differ, when the record kept them (`record.keepTensors`).
/// Ulp distances are taken only between values of the same sign: across zero they count every
/// float in between (billions for a small change such as -1e-9 -> 1e-9) and say nothing about
/// rounding; such elements are counted in `signChanges` instead.
public struct ValueDiff: Codable, Equatable, Sendable {
    public var maxAbsDiff: Double
    /// The largest ulp distance among differing elements of the same sign (0 when there is none).
    public var maxULP: UInt64
    public var differing: Int
    public var count: Int
    /// Differing elements whose signs differ (or where one side is NaN): not counted in `maxULP`.
    public var signChanges: Int

    /// Compares two float32 buffers; nil when they are not float32 of the same size.
    public static func compare(expected: [UInt8], actual: [UInt8]) -> ValueDiff? {
        guard expected.count == actual.count, expected.count % 4 == 0 else { return nil }
        var d = ValueDiff(maxAbsDiff: 0, maxULP: 0, differing: 0, count: expected.count / 4, signChanges: 0)
        expected.withUnsafeBytes { e in actual.withUnsafeBytes { a in
            let ef = e.bindMemory(to: Float.self), af = a.bindMemory(to: Float.self)
            for i in 0..<ef.count where ef[i].bitPattern != af[i].bitPattern {
                d.differing += 1
                let abs = Double(Swift.abs(ef[i] - af[i]))
                if abs.isNaN || abs > d.maxAbsDiff { d.maxAbsDiff = abs.isNaN ? .infinity : abs }
                if ef[i].sign != af[i].sign || ef[i].isNaN || af[i].isNaN {
                    d.signChanges += 1
                } else {
                    d.maxULP = max(d.maxULP, ulpDistance(ef[i], af[i]))
                }
            }
        } }
        return d
    }

    /// Distance in representable float32 values (sign-magnitude mapped to a monotone integer line).
    public static func ulpDistance(_ a: Float, _ b: Float) -> UInt64 {
        func key(_ x: Float) -> Int64 {
            let bits = Int64(x.bitPattern)
            return bits & 0x8000_0000 != 0 ? -(bits & 0x7FFF_FFFF) : bits
        }
        let d = key(a) - key(b)
        return UInt64(d < 0 ? -d : d)
    }
}

/// One event that differs between what was expected (a record, a golden, run A) and what was
/// produced (a replay, a run, run B).
public struct Divergence: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable {
        /// Same tensor, different bits.
        case hash
        /// A different tensor at this position (name, role, dtype or shape differ).
        case structure
        /// The replay produced fewer events than the record.
        case missing
        /// The replay produced more events than the record.
        case extra
    }
    public var step: Int
    public var seq: Int
    public var name: String
    public var role: TensorRole
    public var kind: Kind
    public var expectedHash: String?
    public var actualHash: String?
    public var expectedShape: [Int]?
    public var actualShape: [Int]?
    /// The expected event's name and role, when a structure mismatch found another tensor there.
    public var expectedName: String?
    public var values: ValueDiff?

    public init(step: Int, seq: Int, name: String, role: TensorRole, kind: Kind, expectedHash: String? = nil, actualHash: String? = nil,
                expectedShape: [Int]? = nil, actualShape: [Int]? = nil, expectedName: String? = nil, values: ValueDiff? = nil) {
        self.step = step; self.seq = seq; self.name = name; self.role = role; self.kind = kind
        self.expectedHash = expectedHash; self.actualHash = actualHash; self.expectedShape = expectedShape
        self.actualShape = actualShape; self.expectedName = expectedName; self.values = values
    }

    /// How `actual` differs from `expected` at the same position of a step, or nil when both name
    /// the same tensor with the same bits. `expected` nil: the actual run has an extra event.
    public static func between(expected x: RecordedEvent?, actual e: RecordedEvent) -> Divergence? {
        guard let x else {
            return Divergence(step: e.step, seq: e.seq, name: e.name, role: e.role, kind: .extra, actualHash: hex64(e.hash), actualShape: e.shape)
        }
        if x.name != e.name || x.role != e.role || x.dtype != e.dtype || x.shape != e.shape {
            return Divergence(step: e.step, seq: e.seq, name: e.name, role: e.role, kind: .structure,
                              expectedHash: hex64(x.hash), actualHash: hex64(e.hash), expectedShape: x.shape,
                              actualShape: e.shape, expectedName: x.name == e.name ? nil : "\(x.name) (\(x.role.rawValue))")
        }
        if x.hash != e.hash {
            return Divergence(step: e.step, seq: e.seq, name: e.name, role: e.role, kind: .hash,
                              expectedHash: hex64(x.hash), actualHash: hex64(e.hash), expectedShape: x.shape, actualShape: e.shape)
        }
        return nil
    }

    /// An event the expected side has and the actual side does not.
    public static func missing(_ x: RecordedEvent) -> Divergence {
        Divergence(step: x.step, seq: x.seq, name: x.name, role: x.role, kind: .missing, expectedHash: hex64(x.hash), expectedShape: x.shape)
    }

    /// Draws and data orders are evidence for a cause; every other role is a computed tensor.
    public var isDrawOrOrder: Bool { role == .draw || role == .order }
}

/// The first divergent computed tensor and the first divergent draw or data order, in execution
/// order: what every comparison keeps (replay, verify, diff and explain all note into one).
public struct FirstDivergences: Equatable, Sendable {
    /// The first divergent tensor of any role but draw and order.
    public var tensor: Divergence?
    /// The first divergent draw or data order (the evidence that randomness or the data differ).
    public var draw: Divergence?

    public init(tensor: Divergence? = nil, draw: Divergence? = nil) { self.tensor = tensor; self.draw = draw }

    public var any: Bool { tensor != nil || draw != nil }

    /// Keeps `d` when it is the first of its kind.
    public mutating func note(_ d: Divergence?) {
        guard let d else { return }
        if d.isDrawOrOrder {
            if draw == nil { draw = d }
        } else if tensor == nil {
            tensor = d
        }
    }

    /// Compares two whole steps (record against record), event by event (`EventAlignment`).
    static func compare(expected: [RecordedEvent], actual: [RecordedEvent]) -> FirstDivergences {
        var c = FirstDivergences()
        var alignment = EventAlignment(expected)
        for e in actual {
            for d in alignment.match(e).divergences { c.note(d) }
            if c.tensor != nil { return c }
        }
        for d in alignment.remaining() { c.note(d) }
        return c
    }
}

/// Matches one step's events, as a run produces them, with the expected events of that step (a
/// record's, a golden's) by name and role in order, so that an event only one side has (a draw a
/// knob removed or added, a reduction order another mode does not make) is reported as missing or
/// extra, instead of shifting every later comparison onto the wrong tensor.
///
/// The next expected event is tried first (the usual case: one comparison per event). An event
/// whose name and role come later among the expected ones skips the expected events before it
/// (each `missing`). One that no later expected event names is `extra` when it is a draw, a data
/// order or a reduction order (events a setting adds), else it takes the next expected event's
/// place (`structure`: a renamed or reshaped tensor).
struct EventAlignment {
    private let expected: [RecordedEvent]
    private var next = 0

    init(_ expected: [RecordedEvent]) { self.expected = expected }

    /// The divergences `actual` shows, in execution order (the expected events it skipped, then
    /// its own, if any), and the expected event it was compared with.
    mutating func match(_ actual: RecordedEvent) -> (divergences: [Divergence], matched: RecordedEvent?) {
        let sameKind = { (x: RecordedEvent) in x.name == actual.name && x.role == actual.role }
        if next < expected.count, sameKind(expected[next]) { return compare(at: next, actual, skipped: []) }
        if let j = expected[min(next, expected.count)...].firstIndex(where: sameKind) {
            return compare(at: j, actual, skipped: expected[next..<j].map(Divergence.missing))
        }
        let added = actual.role == .draw || actual.role == .order || actual.role == .reduction
        guard !added, next < expected.count else { return ([Divergence.between(expected: nil, actual: actual)].compactMap { $0 }, nil) }
        return compare(at: next, actual, skipped: [])
    }

    private mutating func compare(at j: Int, _ actual: RecordedEvent, skipped: [Divergence]) -> (divergences: [Divergence], matched: RecordedEvent?) {
        next = j + 1
        return (skipped + [Divergence.between(expected: expected[j], actual: actual)].compactMap { $0 }, expected[j])
    }

    /// The expected events no produced event matched (at the step's end), each `missing`.
    func remaining() -> [Divergence] { expected[min(next, expected.count)...].map(Divergence.missing) }

    /// At the end of `step`, the first of its `expected` events that no produced event matched:
    /// `alignment` is the sink's alignment of the step in progress (nil, or another step's, when
    /// the step produced no event).
    static func firstUnmatched(_ alignment: (step: Int, events: EventAlignment)?, step: Int, expected: [RecordedEvent]) -> Divergence? {
        guard let alignment, alignment.step == step else { return expected.first.map(Divergence.missing) }
        return alignment.events.remaining().first
    }
}
