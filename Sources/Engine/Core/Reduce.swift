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
/// - `chunked`: the same fixed chunks of rows as `parallel`, each summed in index order (a
///   convolution's weight gradient: its groups of samples chained as in `sequential`), the partials
///   added in chunk order 0, 1, 2, ...: deterministic, nothing to record, and **the same bits for
///   any thread count** while the chunks run on `determinism.threads` workers. A dense layer's
///   products (output, input gradient, weight gradient) run in fixed blocks of output columns
///   instead (`Context.columnBlocks`: no partial sums, each element's k-order sum whole).
///   Reductions that `sequential` already computes in parallel without changing a bit
///   (BatchNorm's per-channel chains) stay as in `sequential`. A rounding of its own: off by
///   default in both profiles, for the runs that need multi-core speed and results that do not
///   depend on the core count.
public enum ReductionMode: String, Sendable, CaseIterable {
    case sequential, pairwise, parallel, chunked

    /// Whether reductions over the batch run as `BatchReduction` chunks (`parallel`, `chunked`).
    public var splitsBatch: Bool { self == .parallel || self == .chunked }
}

/// Fixed-order sums. `parallel` and `chunked` are summed as `sequential` here: only reductions
/// over the batch (`BatchReduction`) are split across threads.
public enum Reduce {
    /// Chunks a parallel reduction splits the batch into (fewer when the batch is smaller). Fixed,
    /// not the thread count: the partial sums, and so the bits under a recorded order, do not
    /// depend on how many threads compute them.
    public static let parallelChunks = 8

    /// Sums `count` values at `p` with stride `stride` in the given order.
    @inline(__always)
    public static func sum(_ p: UnsafePointer<Float>, count: Int, stride: Int = 1, mode: ReductionMode) -> Float {
        switch mode {
        case .sequential, .parallel, .chunked:
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
        case .sequential, .parallel, .chunked:
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
        self.gemm = mode.splitsBatch ? gemm.oneThread : gemm
    }

    /// In index order, one thread, nothing recorded (evaluation, tests).
    public static var sequential: BatchReduction { BatchReduction(mode: .sequential) }

    /// out[0..<width] += the sum over rows 0..<rows of their contributions. `add(range, dst)` must
    /// add the contribution of the rows in `range` to dst[0..<width] (e.g. a GEMM with beta 1; in
    /// `parallel` and `chunked` mode it runs on a worker: its GEMMs use `gemm`, which is then
    /// one-threaded). `sequential` and `pairwise`: one call over all rows, straight into `out`.
    /// `parallel` and `chunked`: one call per chunk into a zeroed private buffer, on `threads`
    /// workers; then out += partial[o_0]; out += partial[o_1]; ... in the order o the recorder
    /// returns for `site` (`parallel`) or in chunk order (`chunked`).
    public func accumulate(rows: Int, width: Int, into out: UnsafeMutablePointer<Float>,
                           _ add: (Range<Int>, UnsafeMutablePointer<Float>) -> Void) {
        accumulate(rows: rows, width: width, into: out) { r, dst, _ in add(r, dst) }
    }

    /// Workers an `accumulate` over `rows` rows runs on (the `worker` argument of its `add` is
    /// below this): for per-worker scratch prepared before the call.
    public func workers(rows: Int) -> Int { mode.splitsBatch ? max(1, min(threads, rows, Reduce.parallelChunks)) : 1 }

    /// `accumulate` whose `add(range, dst, worker)` also gets the index of the worker running it
    /// (0..<`workers(rows:)`), for scratch of its own.
    public func accumulate(rows: Int, width: Int, into out: UnsafeMutablePointer<Float>,
                           _ add: (Range<Int>, UnsafeMutablePointer<Float>, Int) -> Void) {
        guard mode.splitsBatch, rows > 0 else { add(0..<rows, out, 0); return }
        let chunks = min(rows, Reduce.parallelChunks)
        // calloc: large blocks come as fresh zero pages, zeroed once by the kernel instead of twice.
        guard let raw = calloc(chunks &* width, MemoryLayout<Float>.stride) else { fatalError("out of memory") }
        defer { free(raw) }
        let partials = raw.bindMemory(to: Float.self, capacity: chunks &* width)
        let completed = ProcessConfiguration.withOpenBLASOnOneThread {
            ParallelChunks.run(chunks: chunks, threads: threads) { c, worker in
                add((c &* rows / chunks)..<((c &+ 1) &* rows / chunks), partials + c &* width, worker)
            }
        }
        let order = mode == .chunked ? Array(0..<chunks) : recorder?.reductionOrder(site: site, observed: completed) ?? completed
        for c in order {
            let p = partials + c &* width
            var j = 0
            while j < width { out[j] += p[j]; j &+= 1 }
        }
    }

    /// The sum of `count` values (a loss over the batch).
    public func sum(_ p: UnsafePointer<Float>, count: Int) -> Float {
        guard mode.splitsBatch else { return Reduce.sum(p, count: count, mode: mode) }
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
        guard mode.splitsBatch else { return Reduce.columnSums(m, rows: rows, cols: cols, into: out, mode: mode) }
        accumulate(rows: rows, width: cols, into: out) { r, dst in
            Reduce.columnSums(m + r.lowerBound &* cols, rows: r.count, cols: cols, into: dst, mode: .sequential)
        }
    }
}

extension Context {
    /// Calls body(columns, gemm) for the output columns 0..<count of a product (a dense layer's
    /// output, input gradient or weight-gradient rows). In `chunked` mode: once per fixed block of
    /// columns (count / 256 blocks, 1 to `Reduce.parallelChunks`: set by the shape alone; fewer,
    /// wider blocks repack the shared operand less often), on `threads` workers with OpenBLAS on
    /// one thread, so each GEMM is a whole call of a shape that does not depend on the thread
    /// count. Otherwise: once over all columns with the run's GEMM (OpenBLAS's own threads).
    /// Every output element keeps its full k-order sum either way.
    public func columnBlocks(_ count: Int, _ body: (Range<Int>, GEMM) -> Void) {
        guard reduction == .chunked else { body(0..<count, gemm); return }
        let blocks = max(1, min(Reduce.parallelChunks, count / 256)), one = gemm.oneThread
        ProcessConfiguration.withOpenBLASOnOneThread {
            _ = ParallelChunks.run(chunks: blocks, threads: threads) { b, _ in body((b &* count / blocks)..<((b &+ 1) &* count / blocks), one) }
        }
    }

    /// The reduction over the batch for `what` (a parameter name, `loss`, `2.mean`) at the current
    /// step: site `reduce/<what>/step-<n>`, in the run's reduction mode and thread count.
    public func batchReduction(_ what: String) -> BatchReduction {
        BatchReduction(mode: reduction, threads: threads, site: "reduce/\(what)/step-\(step)", recorder: recorder, gemm: gemm)
    }
}

/// Runs `chunks` work items on `threads` workers that take the next item from a shared counter,
/// and returns the items in the order they completed: the nondeterministic part of a parallel
/// reduction, observed, never simulated. Workers are the engine's thread pool (`Parallel.perform`);
/// the calling thread is one of them, and takes every chunk itself when the pool's thread is late.
enum ParallelChunks {
    /// Calls body(chunk, worker) for every chunk; worker in 0..<min(threads, chunks).
    static func run(chunks: Int, threads: Int, _ body: (Int, Int) -> Void) -> [Int] {
        let state = State(chunks: chunks)
        let workers = min(threads, chunks)
        if workers <= 1 {
            for c in 0..<chunks { body(c, 0); state.completed.append(c) }
            return state.completed
        }
        Parallel.perform(workers) { w in
            while let c = state.next() {
                body(c, w)
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
