import Foundation
import Recorder

/// Summation order of the engine's own reductions (`determinism.reduction`). Default `sequential`.
/// - `sequential`: index order, one accumulator (a weight gradient over the batch is one GEMM).
/// - `pairwise`: recursive halving down to blocks of 8 (like numpy): more accurate for long sums,
///   a different rounding.
/// - `parallel`: a reduction over the batch is split into `Reduce.parallelChunks` chunks of rows;
///   `determinism.threads` workers take chunks from a shared counter, each chunk's partial sum goes
///   into its own buffer, and the partials are combined in the order the chunks *completed*. That
///   order is genuinely nondeterministic (as atomics on a GPU or a thread pool in a framework); it
///   goes through the recorder (`Recorder.reductionOrder`, site `reduce/<what>/step-<n>`), so a
///   recorded parallel run replays bit for bit. Sums inside one sample (plane sums) stay sequential.
public enum ReductionMode: String, Sendable, CaseIterable { case sequential, pairwise, parallel }

/// Fixed-order sums. `parallel` is summed as `sequential` here: only reductions over the batch
/// (`BatchReduction`) are split across threads.
public enum Reduce {
    /// Chunks a parallel reduction splits the batch into (fewer when the batch is smaller). Fixed,
    /// not the thread count: the partial sums, and so the bits under a recorded order, do not
    /// depend on how many threads compute them.
    public static let parallelChunks = 8

    /// Sums `count` values at `p` with stride `stride` in the given order.
    @inline(__always)
    public static func sum(_ p: UnsafePointer<Float>, count: Int, stride: Int = 1, mode: ReductionMode) -> Float {
        switch mode {
        case .sequential, .parallel:
            var acc: Float = 0
            var i = 0
            while i < count { acc += p[i &* stride]; i &+= 1 }
            return acc
        case .pairwise:
            if count <= 8 {
                var acc: Float = 0
                for i in 0..<count { acc += p[i &* stride] }
                return acc
            }
            let half = count / 2
            return sum(p, count: half, stride: stride, mode: mode) + sum(p + half &* stride, count: count - half, stride: stride, mode: mode)
        }
    }

    /// out[j] += sum over rows i of m[i, j] for an [rows, cols] row-major matrix (bias gradients).
    /// Each column is summed from 0 in row order (`sequential`) or pairwise, then added to out[j].
    public static func columnSums(_ m: UnsafePointer<Float>, rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>, mode: ReductionMode) {
        switch mode {
        case .sequential, .parallel:
            // Row by row: each column's sum is in row order, and the loop vectorises across columns.
            var acc = [Float](repeating: 0, count: cols)
            acc.withUnsafeMutableBufferPointer { a in
                for i in 0..<rows {
                    let row = m + i &* cols
                    for j in 0..<cols { a[j] += row[j] }
                }
                for j in 0..<cols { out[j] += a[j] }
            }
        case .pairwise:
            for j in 0..<cols { out[j] += sum(m + j, count: rows, stride: cols, mode: mode) }
        }
    }
}

/// One reduction over the rows of a batch at a named site (`reduce/1.weight/step-3`): a weight or
/// bias gradient, a batch statistic, the loss mean. Get one from `Context.batchReduction(_:)`.
public struct BatchReduction {
    public var mode: ReductionMode
    /// Workers of a `parallel` reduction.
    public var threads: Int
    public var site: String
    /// Orders the partial sums of a `parallel` reduction (nil: the observed completion order).
    public var recorder: Recorder?
    /// The GEMM for an `add` closure of `accumulate` (one thread in `parallel` mode, whose workers
    /// are the parallelism).
    public var gemm: GEMM

    public init(mode: ReductionMode, threads: Int = 1, site: String = "", recorder: Recorder? = nil, gemm: GEMM = GEMM(.openblas)) {
        self.mode = mode; self.threads = max(1, threads); self.site = site; self.recorder = recorder
        self.gemm = mode == .parallel ? gemm.oneThread : gemm
    }

    /// In index order, one thread, nothing recorded (evaluation, tests).
    public static var sequential: BatchReduction { BatchReduction(mode: .sequential) }

    /// out[0..<width] += the sum over rows 0..<rows of their contributions. `add(range, dst)` must
    /// add the contribution of the rows in `range` to dst[0..<width] (e.g. a GEMM with beta 1; in
    /// `parallel` mode it runs on a worker: its GEMMs use `gemm`, which is then one-threaded).
    /// `sequential` and `pairwise`: one call over all rows, straight into `out`. `parallel`: one call
    /// per chunk into a zeroed private buffer, on `threads` workers; then
    /// out += partial[o_0]; out += partial[o_1]; ... in the order o the recorder returns for `site`.
    public func accumulate(rows: Int, width: Int, into out: UnsafeMutablePointer<Float>,
                           _ add: (Range<Int>, UnsafeMutablePointer<Float>) -> Void) {
        guard mode == .parallel, rows > 0 else { add(0..<rows, out); return }
        let chunks = min(rows, Reduce.parallelChunks)
        // calloc: large blocks come as fresh zero pages, zeroed once by the kernel instead of twice.
        guard let raw = calloc(chunks &* width, MemoryLayout<Float>.stride) else { fatalError("out of memory") }
        defer { free(raw) }
        let partials = raw.bindMemory(to: Float.self, capacity: chunks &* width)
        let completed = ProcessConfiguration.withOpenBLASOnOneThread {
            ParallelChunks.run(chunks: chunks, threads: threads) { c in
                add((c &* rows / chunks)..<((c &+ 1) &* rows / chunks), partials + c &* width)
            }
        }
        let order = recorder?.reductionOrder(site: site, observed: completed) ?? completed
        for c in order {
            let p = partials + c &* width
            var j = 0
            while j < width { out[j] += p[j]; j &+= 1 }
        }
    }

    /// The sum of `count` values (a loss over the batch).
    public func sum(_ p: UnsafePointer<Float>, count: Int) -> Float {
        guard mode == .parallel else { return Reduce.sum(p, count: count, mode: mode) }
        var total: Float = 0
        accumulate(rows: count, width: 1, into: &total) { r, dst in
            var acc: Float = 0
            for i in r { acc += p[i] }
            dst.pointee += acc
        }
        return total
    }

    /// out[j] += the sum over rows of m[i, j], an [rows, cols] row-major matrix (bias gradients).
    public func columnSums(_ m: UnsafePointer<Float>, rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>) {
        guard mode == .parallel else { return Reduce.columnSums(m, rows: rows, cols: cols, into: out, mode: mode) }
        accumulate(rows: rows, width: cols, into: out) { r, dst in
            Reduce.columnSums(m + r.lowerBound &* cols, rows: r.count, cols: cols, into: dst, mode: .sequential)
        }
    }
}

extension Context {
    /// The reduction over the batch for `what` (a parameter name, `loss`, `2.mean`) at the current
    /// step: site `reduce/<what>/step-<n>`, in the run's reduction mode and thread count.
    public func batchReduction(_ what: String) -> BatchReduction {
        BatchReduction(mode: reduction, threads: threads, site: "reduce/\(what)/step-\(step)", recorder: recorder, gemm: gemm)
    }
}

/// Runs `chunks` work items on `threads` workers that take the next item from a shared counter,
/// and returns the items in the order they completed: the nondeterministic part of a parallel
/// reduction, observed, never simulated. Workers are libdispatch's persistent pool
/// (`concurrentPerform`); the calling thread is one of them.
enum ParallelChunks {
    static func run(chunks: Int, threads: Int, _ body: (Int) -> Void) -> [Int] {
        let state = State(chunks: chunks)
        let workers = min(threads, chunks)
        if workers <= 1 {
            for c in 0..<chunks { body(c); state.completed.append(c) }
            return state.completed
        }
        Parallel.perform(workers) { _ in
            while let c = state.next() {
                body(c)
                state.finish(c)
            }
        }
        return state.completed
    }

    final class State: @unchecked Sendable {
        private let lock = NSLock()
        private var nextChunk = 0
        let chunks: Int
        var completed: [Int] = []
        init(chunks: Int) { self.chunks = chunks; completed.reserveCapacity(chunks) }

        func next() -> Int? {
            lock.lock(); defer { lock.unlock() }
            guard nextChunk < chunks else { return nil }
            nextChunk += 1
            return nextChunk - 1
        }

        func finish(_ c: Int) {
            lock.lock(); completed.append(c); lock.unlock()
        }
    }
}
