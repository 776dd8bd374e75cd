/// The storage of a training step's tensors, reused from step to step (llm.c lays out one
/// activation arena; here each element count has a stack of free buffers, which gives the same
/// effect for a model whose shapes repeat every step): after the first step, a step allocates
/// nothing, so there is no malloc, no page fault on fresh memory from the kernel and no zero fill.
///
/// `tensor(shape) { fill }` hands out a free buffer of that size (or a new one) whose old contents
/// `fill` overwrites; `recycle(t)` gives a tensor's buffer back once its holder is done with it
/// (a layer after backward, a `Sequential` after the next layer has consumed an intermediate).
/// Buffers are Swift arrays, so this is safe whatever is recycled: a buffer that someone still
/// holds is copied when it is written (copy on write), never changed under its holder. Such a
/// copy costs what the reuse saves, so `copies` counts them (tests check that a training step
/// makes none) and `allocations` counts new buffers (none once the step has been seen).
///
/// One pool per `Context`, used by the training thread only (workers of `Parallel` never take
/// or give buffers).
public final class TensorPool {
    /// Buffers allocated since the pool was made.
    public private(set) var allocations = 0
    /// Buffers that were still held elsewhere when written (each a wasted copy).
    public private(set) var copies = 0
    private var free: [Int: [[Float]]] = [:]
    /// Element counts handed out since the last `endStep` (the sizes worth keeping).
    private var used: Set<Int> = []

    public init() {}

    /// A tensor of `shape` whose every element `fill` writes (its contents before are undefined).
    public func tensor(_ shape: [Int], _ fill: (UnsafeMutablePointer<Float>) -> Void) -> Tensor {
        let n = shape.reduce(1, *)
        used.insert(n)
        guard n > 0, var data = free[n]?.popLast() else {
            allocations += 1
            return Tensor(shape: shape, data: [Float](unsafeUninitializedCapacity: n) { buf, count in
                if n > 0 { fill(buf.baseAddress!) }
                count = n
            })
        }
        let before = data.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
        data.withUnsafeMutableBufferPointer { p in
            if UnsafeRawPointer(p.baseAddress) != before { copies += 1 }
            fill(p.baseAddress!)
        }
        return Tensor(shape: shape, data: data)
    }

    /// A tensor of `shape` filled with zeros.
    public func zeros(_ shape: [Int]) -> Tensor {
        tensor(shape) { p in p.update(repeating: 0, count: shape.reduce(1, *)) }
    }

    /// Gives `t`'s buffer back for a later `tensor` of the same size. Recycling a buffer twice,
    /// or one that is still in use, is harmless (see the type's note).
    public func recycle(_ t: Tensor) {
        let n = t.count
        guard n > 0 else { return }
        let p = t.data.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
        var list = free[n] ?? []
        if list.contains(where: { a in a.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) } == p }) { return }
        list.append(t.data)
        free[n] = list
    }

    /// Gives back each of `tensors` whose buffer is not also `keep`'s (a layer's output may
    /// share its input's buffer: flatten, identity).
    public func recycle(_ t: Tensor, unlessSharedWith keep: Tensor) {
        guard !t.sharesStorage(with: keep) else { return }
        recycle(t)
    }

    /// The end of a training step: buffers of sizes this step did not use (an evaluation's, the
    /// last partial batch's) are released, so the pool holds one step's working set.
    public func endStep() {
        for n in free.keys where !used.contains(n) { free[n] = nil }
        used.removeAll(keepingCapacity: true)
    }

    /// Releases every free buffer.
    public func drain() {
        free.removeAll()
        used.removeAll()
    }

    /// Floats held in free buffers.
    public var freeFloats: Int { free.reduce(0) { $0 + $1.key * $1.value.count } }
}

extension Tensor {
    /// True when both tensors' elements live in the same buffer (a reshape, or a copy of the value).
    public func sharesStorage(with other: Tensor) -> Bool {
        guard count > 0, other.count > 0 else { return false }
        let a = data.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
        return a == other.data.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
    }
}
