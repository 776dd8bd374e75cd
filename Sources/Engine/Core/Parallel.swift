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
        DispatchQueue.concurrentPerform(iterations: t) { k in
            body((count * k / t)..<(count * (k + 1) / t))
        }
    }
}
