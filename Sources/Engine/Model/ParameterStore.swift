/// All parameters of a model in one contiguous Float32 buffer with a named layout, PyTorch
/// state_dict order and names (`1.weight`, `1.bias`, `3.body.0.running_mean`). Gradients live in
/// a second buffer with the same layout, and optimizer state in buffers of the same layout too
/// (llm.c style): an optimizer step is one loop over flat memory.
public final class ParameterStore {
    public struct Entry: Equatable, Sendable {
        public let name: String
        public let shape: [Int]
        public let offset: Int
        public var count: Int { shape.reduce(1, *) }
        /// False for buffers such as BatchNorm running statistics (saved, never optimized).
        public let trainable: Bool
    }

    public private(set) var entries: [Entry] = []
    public private(set) var count = 0
    public private(set) var values: UnsafeMutablePointer<Float>
    public private(set) var grads: UnsafeMutablePointer<Float>
    private var capacity = 0
    /// `trainableNames(suffix:)` results by suffix, dropped whenever an entry is added.
    private var suffixedNames: [String: [String]] = [:]

    /// False for a store that only lays out entries (the memory estimate's dry build of a model):
    /// `add` allocates nothing, and `values` / `grads` must not be used.
    public let allocates: Bool

    public init(allocating: Bool = true) {
        allocates = allocating
        values = .allocate(capacity: 1)
        grads = .allocate(capacity: 1)
    }

    /// The indices of the trainable entries, largest first (ties in layout order): the order in
    /// which optimizers update them, so that the largest are handed to the recorder's hashing
    /// thread first and the update of the others overlaps their hashing. Elementwise updates give
    /// the same bits in any order.
    public var trainableLargestFirst: [Int] {
        if let order = largestFirst { return order }
        let order = entries.indices.filter { entries[$0].trainable }.sorted { (entries[$0].count, -$0) > (entries[$1].count, -$1) }
        largestFirst = order
        return order
    }
    private var largestFirst: [Int]?

    /// `"<name>.<suffix>"` for every trainable entry, in layout order (optimizer-state tensor names
    /// such as `1.weight.exp_avg`). Cached per suffix: the names are fixed once the model is built,
    /// and interpolating them at every recorded step cost a String allocation per tensor.
    public func trainableNames(suffix: String) -> [String] {
        if let names = suffixedNames[suffix] { return names }
        let names = entries.filter(\.trainable).map { "\($0.name).\(suffix)" }
        suffixedNames[suffix] = names
        return names
    }

    deinit {
        values.deallocate()
        grads.deallocate()
    }

    /// Appends a parameter; returns its offset. Limit: 2^31 elements in all.
    @discardableResult
    public func add(_ name: String, shape: [Int], trainable: Bool = true) -> Int {
        let offset = count
        suffixedNames = [:]
        largestFirst = nil
        entries.append(Entry(name: name, shape: shape, offset: offset, trainable: trainable))
        count += shape.reduce(1, *)
        if allocates && count > capacity {
            let newCap = max(count, capacity * 2)
            let v = UnsafeMutablePointer<Float>.allocate(capacity: newCap), g = UnsafeMutablePointer<Float>.allocate(capacity: newCap)
            v.initialize(repeating: 0, count: newCap); g.initialize(repeating: 0, count: newCap)
            v.update(from: values, count: offset); g.update(from: grads, count: offset)
            values.deallocate(); grads.deallocate()
            values = v; grads = g; capacity = newCap
        }
        return offset
    }

    public func entry(_ name: String) -> Entry? { entries.first { $0.name == name } }

    public var trainableCount: Int { entries.filter(\.trainable).reduce(0) { $0 + $1.count } }

    public func zeroGrads() { grads.update(repeating: 0, count: count) }

    public func values(of e: Entry) -> UnsafeMutableBufferPointer<Float> { .init(start: values + e.offset, count: e.count) }
    public func grads(of e: Entry) -> UnsafeMutableBufferPointer<Float> { .init(start: grads + e.offset, count: e.count) }

    /// A copy of every parameter: (name, shape, values) in layout order (for safetensors export).
    public func snapshot() -> [(name: String, shape: [Int], data: [Float])] {
        entries.map { ($0.name, $0.shape, Array(values(of: $0))) }
    }
}
