import Dispatch

/// Splits independent work over threads. Each chunk writes disjoint outputs, so results are
/// bit-identical for any thread count; nothing here reorders a reduction.
public enum Parallel {
    /// Calls body(range) for `threads` contiguous chunks of 0..<count, in parallel when
    /// threads > 1 and `work` (elements touched) is at least `minWork`; else one call on this thread.
    @inline(__always)
    public static func chunks(_ count: Int, threads: Int, work: Int, minWork: Int = 1 << 15, _ body: (Range<Int>) -> Void) {
        let t = min(threads, count)
        if t <= 1 || work < minWork { body(0..<count); return }
        perform(t) { k in body((count * k / t)..<(count * (k + 1) / t)) }
    }

    /// Calls body(0), ..., body(iterations - 1) concurrently on libdispatch's worker pool (the
    /// calling thread is one of the workers) and returns when all are done.
    ///
    /// The engine's kernels hand raw buffers to their workers, which the compiler cannot prove
    /// disjoint: this is the one place that vouches for them (`UncheckedSendable`). Every caller
    /// must give each iteration its own output range (a chunk of rows, planes or columns) and
    /// share only what no iteration writes.
    public static func perform(_ iterations: Int, _ body: (Int) -> Void) {
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: iterations) { shared.value($0) }
        }
    }
}

/// A value handed to concurrent workers whose safety the caller guarantees (disjoint writes,
/// or a lock of its own); see `Parallel.perform`.
public struct UncheckedSendable<Value>: @unchecked Sendable {
    public let value: Value
    public init(_ value: Value) { self.value = value }
}
