import CCPUFeatures

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

    /// Calls body(0), ..., body(iterations - 1) concurrently on the engine's thread pool (the
    /// calling thread is one of the workers; `cw_pool_run` in Sources/CCPUFeatures/work_pool.c)
    /// and returns when all are done. Its threads spin briefly between regions instead of being
    /// woken for each one; a region opened inside another runs on the calling thread, in order.
    ///
    /// The engine's kernels hand raw buffers to their workers, which the compiler cannot prove
    /// disjoint: this is the one place that vouches for them (the closure crosses to the pool's
    /// threads as a raw pointer, unchecked). Every caller must give each iteration its own output
    /// range (a chunk of rows, planes or columns) and share only what no iteration writes.
    public static func perform(_ iterations: Int, _ body: (Int) -> Void) {
        if iterations <= 1 {
            if iterations == 1 { body(0) }
            return
        }
        withoutActuallyEscaping(body) { body in
            var region = body
            withUnsafeMutablePointer(to: &region) { p in
                cw_pool_run(Int64(iterations), { ctx, i in
                    ctx!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(i))
                }, p)
            }
        }
    }
}
