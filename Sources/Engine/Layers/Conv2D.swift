import Recorder

/// 2-D convolution (cross-correlation, as torch.nn.Conv2d), NCHW, weight (O, I, kh, kw), dilation 1:
///   y[n, o, oh, ow] = b[o] + sum_{c,i,j} W[o, c, i, j] * x[n, c, oh*sh - top + i, ow*sw - left + j]
/// (zero outside the input). Init: `init.kernel` / `init.bias` with fan_in = I*kh*kw, fan_out = O*kh*kw.
///
/// Forward: samples in groups of G (G*P ~ `groupColumns`, P = outH*outW, so small maps still give
/// the GEMM a wide matrix): col = [im2col(x_n) side by side], [I*kh*kw, G*P]; Y = W x col,
/// scattered to NCHW (G = 1 writes straight into the output). A 1x1, stride-1, unpadded
/// convolution reads x as its own col.
///
/// Backward, three functions, per group recomputing col instead of keeping it (memory stays O(group)):
/// - `weightGradient`: dW^T = sum over groups, in batch order, of col dY^T (the faster GEMM
///   orientation), added to the weight gradient once;
/// - `inputGradient`: dx = the transposed convolution of dy (`transposedGeometry`, stride 1: one
///   GEMM with k = O*kh*kw), else dcol = W^T dY and dx = col2im(dcol);
/// - `biasGradient`: db = sums of dy over samples and positions (order fixed per `ctx.reduction`).
/// In `parallel` reduction mode dW and db are batch reductions instead: chunks of samples on
/// worker threads, combined in the completion order the recorder records (sites
/// `reduce/<name>.weight/step-<n>`, `reduce/<name>.bias/step-<n>`).
///
/// The grouping changes only which GEMM computes which block, never the k-order within an output
/// of the reference GEMM; with OpenBLAS the bits depend on the GEMM shapes, as always. On the
/// reference GEMM there is no im2col matrix: a stride-1 forward (and the transposed convolution
/// of dx) and every weight gradient are direct convolutions of padded samples (`ReferenceConv`),
/// a stride-2 forward reads im2col while packing (`ReferenceGEMM.Operand.im2col`): the same
/// products in the same order, so the same bits as the grouped im2col path.
public final class Conv2D: Layer {
    public let name: String
    public let geometry: Window2D
    public let filters: Int
    public let hasBias: Bool
    let wOff: Int, bOff: Int
    public var outputShape: [Int] { [filters, geometry.outH, geometry.outW] }
    private var input = Tensor(zeros: [0])
    /// Per-layer scratch, reused across steps: im2col, dcol / GEMM staging, grouped dy, bias partial
    /// sums, flipped weights, dW^T.
    private let col = Scratch(), dcol = Scratch(), gathered = Scratch(), partial = Scratch(), flipped = Scratch(), weightGrad = Scratch()

    public init(name: String, geometry: Window2D, filters: Int, bias: Bool, params: ParameterStore) {
        self.name = name; self.geometry = geometry; self.filters = filters; hasBias = bias
        wOff = params.add("\(name).weight", shape: [filters, geometry.channels, geometry.kh, geometry.kw])
        bOff = bias ? params.add("\(name).bias", shape: [filters]) : -1
    }

    public var spec: JSON {
        .object(["type": .string("conv2d"), "filters": .number(Double(filters)), "kernel": geometry.kernelJSON,
                 "stride": geometry.strideJSON, "padding": geometry.paddingJSON, "bias": .bool(hasBias)])
    }

    public func initialize(_ ctx: Context) {
        let k = geometry.kh * geometry.kw
        Init.kernel(ctx, name: "\(name).weight", offset: wOff, count: filters * geometry.patch,
                    fanIn: geometry.patch, fanOut: filters * k)
        if hasBias { Init.bias(ctx, name: "\(name).bias", offset: bOff, count: filters, fanIn: geometry.patch) }
    }

    /// Target GEMM width (columns of col) when grouping samples.
    static let groupColumns = 256

    /// Samples per group for a batch of n at output plane size p.
    static func groupSize(_ n: Int, _ g: Window2D) -> Int {
        g.isPointwise ? 1 : max(1, min(n, groupColumns / g.outPlane))
    }

    /// Below this many multiply-adds (O*K*P*n) a convolution's groups run on the calling thread.
    static let parallelMinWork = 1 << 20

    /// The im2col scratch a layer's workers may hold between them (each worker has its own block):
    /// on many threads, fewer workers than threads rather than one block per thread. The bits do
    /// not depend on how many workers run.
    static let workerScratchBytes = 1 << 26

    /// Workers for the groups of a convolution with `groups` groups, `work` multiply-adds and a
    /// per-worker block of `blockFloats`.
    static func workers(groups: Int, work: Int, threads: Int, blockFloats: Int) -> Int {
        guard threads > 1, work >= parallelMinWork else { return 1 }
        return max(1, min(threads, groups, workerScratchBytes / max(1, blockFloats &* 4)))
    }

    /// Calls body(samples, worker) for the groups of `group` samples of a batch of `n`: once over
    /// all samples (worker 0) when `workers` is 1; else each of `workers` workers takes a contiguous
    /// run of whole groups. On a run of `threads` > 1, OpenBLAS is on one thread meanwhile (also for
    /// a convolution too small to share out). The groups and the GEMM of each are those of the
    /// one-thread run, each GEMM a whole call on one thread, so the result is bit-identical for any
    /// thread count, on every OpenBLAS core (a GEMM split between threads is not: its edge tiles
    /// move, and several cores' edge kernels round differently).
    static func overGroups(n: Int, group: Int, workers: Int, threads: Int, _ body: (Range<Int>, Int) -> Void) {
        guard threads > 1 else { body(0..<n, 0); return }
        let groups = (n + group - 1) / group
        ProcessConfiguration.withOpenBLASOnOneThread {
            guard workers > 1 else { body(0..<n, 0); return }
            Parallel.perform(workers) { w in
                let lo = groups * w / workers * group, hi = min(n, groups * (w + 1) / workers * group)
                if lo < hi { body(lo..<hi, w) }
            }
        }
    }

    /// y[n, o, :] = b[o] + w[o, :] x im2col(x[n]) for every sample: the convolution of `n` samples
    /// of geometry `g` with weights `w` ([o, g.patch]), in groups of `groupSize` samples; with
    /// `threads` > 1 the groups are shared out between workers (`overGroups`).
    static func convolve(_ x: UnsafePointer<Float>, n: Int, _ g: Window2D, weights w: UnsafePointer<Float>, outChannels o: Int,
                         bias b: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>, col: Scratch, tmp: Scratch,
                         gemm: GEMM, threads: Int) {
        let k = g.patch, p = g.outPlane
        if gemm.mode == .reference, g.sh == 1, g.sw == 1 {
            ReferenceConv.forward(x, n: n, g, weights: w, outChannels: o, bias: b, into: y, threads: gemm.threads)
            return
        }
        if gemm.mode == .reference {
            // One product over the batch: the im2col matrix read straight from x while packing, the
            // result written straight into NCHW with the bias (acc + b, as in the grouped path).
            ReferenceGEMM.product(m: o, n: n * p, k: k, a: .strided(w, rows: .init(k), cols: .init(1)),
                                  b: .im2col(x, g, sampleStride: g.channels * g.inPlane), beta: 0, c: y,
                                  rows: .init(p), cols: .init(1, block: p, blockStride: o * p), bias: b, threads: gemm.threads)
            return
        }
        let group = groupSize(n, g)
        let workers = workers(groups: (n + group - 1) / group, work: o * k * p * n, threads: threads, blockFloats: k * group * p)
        let cbufs = g.isPointwise ? nil : col.buffers(k * group * p, slots: workers)
        let tbufs = group > 1 ? tmp.buffers(o * group * p, slots: workers) : nil
        overGroups(n: n, group: group, workers: workers, threads: threads) { samples, wk in
            convolveGroups(x, samples: samples, group: group, g, weights: w, outChannels: o, bias: b, into: y,
                           col: cbufs?[wk], tmp: tbufs?[wk], gemm: gemm.oneThread, threads: workers > 1 ? 1 : threads)
        }
    }

    /// `convolve` for the samples in `samples` (whole groups of `group` from its start).
    private static func convolveGroups(_ x: UnsafePointer<Float>, samples: Range<Int>, group: Int, _ g: Window2D,
                                       weights w: UnsafePointer<Float>, outChannels o: Int, bias b: UnsafePointer<Float>?,
                                       into y: UnsafeMutablePointer<Float>, col cbuf: UnsafeMutablePointer<Float>?,
                                       tmp tbuf: UnsafeMutablePointer<Float>?, gemm: GEMM, threads: Int) {
        let k = g.patch, p = g.outPlane
        var s0 = samples.lowerBound
        while s0 < samples.upperBound {
            let gs = min(group, samples.upperBound - s0), ld = gs * p
            let a = Conv2D.groupedCol(x, s0: s0, count: gs, g, into: cbuf, threads: threads)
            let ys = y + s0 &* o &* p
            if let tbuf, gs > 1 {
                gemm.sgemm(transA: false, transB: false, m: o, n: ld, k: k, a: w, lda: k, b: a, ldb: ld, beta: 0, c: tbuf, ldc: ld)
                // tbuf[f, t*P + q] -> y[s0 + t, f, q] (+ b[f])
                for t in 0..<gs {
                    for f in 0..<o {
                        let src = tbuf + (f &* ld &+ t &* p), dst = ys + (t &* o &+ f) &* p
                        let bias = b?[f] ?? 0
                        var q = 0
                        while q < p { dst[q] = src[q] + bias; q &+= 1 }
                    }
                }
            } else {
                if let b { for f in 0..<o { (ys + f &* p).update(repeating: b[f], count: p) } }
                gemm.sgemm(transA: false, transB: false, m: o, n: p, k: k, a: w, lda: k, b: a, ldb: p,
                           beta: b == nil ? 0 : 1, c: ys, ldc: p)
            }
            s0 += gs
        }
    }

    public func forward(_ x: Tensor, _ ctx: Context) -> Tensor {
        let g = geometry
        precondition(x.sampleSize == g.channels * g.inPlane, "\(name): expected input [\(g.channels), \(g.inH), \(g.inW)], got \(x.shape)")
        if ctx.training { input = x }
        return x.data.withUnsafeBufferPointer { xp in
            Tensor.uninitialized([x.batch, filters, g.outH, g.outW]) { y in
                Conv2D.convolve(xp.baseAddress!, n: x.batch, g, weights: ctx.w(wOff), outChannels: filters,
                                bias: hasBias ? ctx.w(bOff) : nil, into: y, col: col, tmp: dcol, gemm: ctx.gemm, threads: ctx.threads)
            }
        }
    }

    /// For stride 1 with padding below the kernel on every side, dx is itself a convolution: of dy
    /// (padded kh-1-top, kh-1-bottom, kw-1-left, kw-1-right) with Wt[c, o, i, j] = W[o, c, kh-1-i, kw-1-j].
    /// One GEMM with k = O*kh*kw instead of W^T dY (k = O) plus col2im.
    var transposedGeometry: Window2D? {
        let g = geometry
        guard g.sh == 1, g.sw == 1, !g.isPointwise, g.top < g.kh, g.bottom < g.kh, g.left < g.kw, g.right < g.kw else { return nil }
        return Window2D(channels: filters, inH: g.outH, inW: g.outW, kh: g.kh, kw: g.kw, top: g.kh - 1 - g.top,
                        bottom: g.kh - 1 - g.bottom, left: g.kw - 1 - g.left, right: g.kw - 1 - g.right)
    }

    /// dL/dW, dL/db (accumulated into the gradient store) and dL/dx (returned), each from its own
    /// function; the three share nothing but the input and dy (dx needs only dy and the weights).
    public func backward(_ dy: Tensor, _ ctx: Context) -> Tensor {
        backwardParameters(dy, ctx)
        return inputGradient(dy, ctx)
    }

    /// dL/dW and dL/db only (the first layer of a model: its dx is never read). Drops the saved
    /// input (a step's backward is its last use).
    public func backwardParameters(_ dy: Tensor, _ ctx: Context) {
        let n = dy.batch
        dy.data.withUnsafeBufferPointer { dyp in
            input.data.withUnsafeBufferPointer { xp in
                weightGradient(dy: dyp.baseAddress!, x: xp.baseAddress!, n: n, ctx)
            }
            if hasBias { biasGradient(dy: dyp.baseAddress!, n: n, ctx) }
        }
        input = .empty
    }

    /// dW += dL/dW for a batch of `n`.
    /// - `sequential`, `pairwise`: per group of samples, dW^T[K, O] (+)= col dY^T (this orientation
    ///   runs faster in OpenBLAS than dY col^T: m = K rows instead of O), the groups in batch order
    ///   (the first GEMM with beta 0); then dW[o, c] += dW^T[c, o] once. Whole one-thread calls on
    ///   any thread count, so the bits do not depend on it.
    /// - `parallel`: a batch reduction (site `reduce/<name>.weight/step-<n>`): per-sample GEMMs in
    ///   chunks of samples on worker threads, each with its own im2col buffer, the chunks' partial
    ///   sums combined in the recorded completion order.
    /// - `chunked`: the same chunks, each computed as `sequential` computes the batch (groups of
    ///   samples from the chunk's start, dW^T chained over them), transposed into the chunk's
    ///   partial; the partials added in chunk order (the same bits for any thread count).
    /// On the reference GEMM the chain is `ReferenceConv.weightGradient` (the same products and
    /// order, read from padded copies of the samples), its workers splitting the rows of dW^T.
    func weightGradient(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, n: Int, _ ctx: Context) {
        let g = geometry, o = filters, k = g.patch, p = g.outPlane, inSize = g.channels * g.inPlane
        let gw = ctx.g(wOff)
        if ctx.reduction == .chunked {
            let reduction = ctx.batchReduction("\(name).weight"), workers = reduction.workers(rows: n)
            let group = Conv2D.groupSize(n, g)
            let (cf, gf) = chainScratch(group: group, gemm: ctx.gemm.mode)
            let cbufs = cf > 0 ? col.buffers(cf, slots: workers) : nil
            let dygs = gf > 0 ? gathered.buffers(gf, slots: workers) : nil
            let dwts = weightGrad.buffers(k * o, slots: workers)
            reduction.accumulate(rows: n, width: o * k, into: gw) { r, dst, wk in
                let dwt = dwts[wk]
                weightChain(x: x, dy: dy, samples: r, group: group, col: cbufs?[wk], gathered: dygs?[wk], into: dwt,
                            gemm: reduction.gemm, threads: 1)
                for f in 0..<o {
                    let row = dst + f &* k
                    var c = 0
                    while c < k { row[c] = dwt[c &* o &+ f]; c &+= 1 }
                }
            }
            return
        }
        if ctx.reduction == .parallel {
            let reduction = ctx.batchReduction("\(name).weight")
            reduction.accumulate(rows: n, width: o * k, into: gw) { r, dst in
                let own = g.isPointwise ? nil : UnsafeMutablePointer<Float>.allocate(capacity: k * p)
                defer { own?.deallocate() }
                for s in r {
                    let xs = x + s &* inSize
                    let a: UnsafePointer<Float>
                    if let own { Im2col.forward(xs, g, into: own, ld: p); a = UnsafePointer(own) } else { a = xs }
                    reduction.gemm.sgemm(transA: false, transB: true, m: o, n: k, k: p, a: dy + s &* o &* p, lda: p,
                                         b: a, ldb: p, beta: 1, c: dst, ldc: k)
                }
            }
            return
        }
        let group = Conv2D.groupSize(n, g)
        let (cf, gf) = chainScratch(group: group, gemm: ctx.gemm.mode)
        let dwt = weightGrad.buffer(k * o)
        if ctx.gemm.mode == .reference {
            // Workers split the rows of dW^T, each with its own padded group and dy (ReferenceConv).
            let scratch = Array(zip(col.buffers(cf, slots: ctx.threads), gathered.buffers(gf, slots: ctx.threads)))
            ReferenceConv.weightGradient(x: x, dy: dy, samples: 0..<n, group: group, g, outChannels: o, into: dwt, scratch: scratch,
                                         threads: ctx.threads)
        } else {
            let cbuf = cf > 0 ? col.buffer(cf) : nil
            let dyg = gf > 0 ? gathered.buffer(gf) : nil
            func chain() {
                weightChain(x: x, dy: dy, samples: 0..<n, group: group, col: cbuf, gathered: dyg, into: dwt, gemm: ctx.gemm,
                            threads: ctx.threads)
            }
            // On several threads the chain stays whole calls on one OpenBLAS thread (its im2col is split
            // over channels): the same bits as on one thread on every core, and no OpenBLAS workers
            // left spinning beside the engine's (ResNet-20 at 2 threads: 240-248 -> 215 ms a step).
            if ctx.threads > 1 { ProcessConfiguration.withOpenBLASOnOneThread(chain) } else { chain() }
        }
        // dW[o, c] += dW^T[c, o]
        for f in 0..<o {
            let row = gw + f &* k
            var c = 0
            while c < k { row[c] += dwt[c &* o &+ f]; c &+= 1 }
        }
    }

    /// dL/dx for a batch: the transposed convolution of dy (`transposedGeometry`: one GEMM per
    /// group with k = O*kh*kw, weights flipped), else per group dcol[K, G*P] = W^T dY and
    /// dx = col2im(dcol) (straight into dx for a pointwise convolution).
    func inputGradient(_ dy: Tensor, _ ctx: Context) -> Tensor {
        let g = geometry, n = dy.batch, o = filters, k = g.patch, p = g.outPlane, inSize = g.channels * g.inPlane
        let w = ctx.w(wOff)
        return dy.data.withUnsafeBufferPointer { dyp in
            Tensor.uninitialized([n, g.channels, g.inH, g.inW]) { dxp in
                let d0 = dyp.baseAddress!
                if let gt = transposedGeometry {
                    // Wt[c, (o, i, j)] = W[o, c, kh-1-i, kw-1-j]
                    let kk = g.kh * g.kw, wt = flipped.buffer(o * k)
                    for f in 0..<o {
                        for c in 0..<g.channels {
                            let src = w + (f &* g.channels &+ c) &* kk, dst = wt + (c &* o &+ f) &* kk
                            for q in 0..<kk { dst[q] = src[kk &- 1 &- q] }
                        }
                    }
                    Conv2D.convolve(d0, n: n, gt, weights: wt, outChannels: g.channels, bias: nil, into: dxp,
                                    col: dcol, tmp: gathered, gemm: ctx.gemm, threads: ctx.threads)
                    return
                }
                let group = Conv2D.groupSize(n, g)
                let workers = Conv2D.workers(groups: (n + group - 1) / group, work: o * k * p * n, threads: ctx.threads,
                                             blockFloats: k * group * p)
                let dbufs = g.isPointwise ? nil : dcol.buffers(k * group * p, slots: workers)
                let dygs = group > 1 ? gathered.buffers(o * group * p, slots: workers) : nil
                let gemm = ctx.gemm.oneThread, threads = workers > 1 ? 1 : ctx.threads
                Conv2D.overGroups(n: n, group: group, workers: workers, threads: ctx.threads) { samples, wk in
                    var s0 = samples.lowerBound
                    while s0 < samples.upperBound {
                        let gs = min(group, samples.upperBound - s0), ld = gs * p
                        let dxs = dxp + s0 &* inSize, dbuf = dbufs?[wk]
                        gemm.sgemm(transA: true, transB: false, m: k, n: ld, k: o, a: w, lda: k,
                                   b: Conv2D.groupedDY(d0, s0: s0, count: gs, o: o, p: p, into: dygs?[wk]),
                                   ldb: ld, beta: 0, c: dbuf ?? dxs, ldc: ld)
                        if let dbuf {
                            for t in 0..<gs {
                                Im2col.zero(dxs + t &* inSize, inSize)
                                Im2col.backward(dbuf + t &* p, g, ld: ld, into: dxs + t &* inSize, threads: threads)
                            }
                        }
                        s0 += gs
                    }
                }
            }
        }
    }

    /// Floats of `weightChain`'s `col` and `gathered` buffers (per worker) for a chain in groups of
    /// `group` samples (0: the buffer is not used).
    func chainScratch(group: Int, gemm: GEMMMode) -> (col: Int, gathered: Int) {
        let g = geometry
        if gemm == .reference {
            let (padded, dy) = ReferenceConv.weightScratch(g, outChannels: filters, group: group)
            return (padded, dy)
        }
        return (g.isPointwise ? 0 : g.patch * group * g.outPlane, group > 1 ? filters * group * g.outPlane : 0)
    }

    /// dW^T[K, O] = the sum over the groups of `group` samples in `samples` (from its start, in batch
    /// order, the first GEMM with beta 0) of col dY^T: the weight gradient's chain, of a whole batch
    /// (`sequential`) or of one chunk (`chunked`). `col` holds a group's im2col (nil: pointwise),
    /// `gathered` its dY (nil: groups of one sample); im2col runs on `threads`.
    func weightChain(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, samples: Range<Int>, group: Int,
                     col cbuf: UnsafeMutablePointer<Float>?, gathered dyg: UnsafeMutablePointer<Float>?,
                     into dwt: UnsafeMutablePointer<Float>, gemm: GEMM, threads: Int) {
        let g = geometry, o = filters, k = g.patch, p = g.outPlane
        if gemm.mode == .reference {
            // The same products, straight from padded copies of x and dy transposed (`chainScratch`).
            guard let cbuf, let dyg else { preconditionFailure("\(name): the reference weight gradient needs its scratch") }
            ReferenceConv.weightGradient(x: x, dy: dy, samples: samples, group: group, g, outChannels: o, into: dwt,
                                         scratch: [(cbuf, dyg)], threads: 1)
            return
        }
        var s0 = samples.lowerBound
        while s0 < samples.upperBound {
            let gs = min(group, samples.upperBound - s0), ld = gs * p
            let a = Conv2D.groupedCol(x, s0: s0, count: gs, g, into: cbuf, threads: threads)
            gemm.sgemm(transA: false, transB: true, m: k, n: o, k: ld, a: a, lda: ld,
                       b: Conv2D.groupedDY(dy, s0: s0, count: gs, o: o, p: p, into: dyg), ldb: ld,
                       beta: s0 == samples.lowerBound ? 0 : 1, c: dwt, ldc: o)
            s0 += gs
        }
    }

    /// col [K, G*P] of the group of `count` samples from `s0`: their im2col matrices side by side in
    /// `cbuf` (im2col on `threads`); x itself for a pointwise convolution (`cbuf` nil).
    static func groupedCol(_ x: UnsafePointer<Float>, s0: Int, count gs: Int, _ g: Window2D,
                           into cbuf: UnsafeMutablePointer<Float>?, threads: Int) -> UnsafePointer<Float> {
        let p = g.outPlane, inSize = g.channels * g.inPlane
        guard let cbuf else { return x + s0 &* inSize }
        for t in 0..<gs { Im2col.forward(x + (s0 + t) &* inSize, g, into: cbuf + t &* p, ld: gs * p, threads: threads) }
        return UnsafePointer(cbuf)
    }

    /// dY [O, G*P] of the group of `count` samples from `s0`: their dy planes side by side in `dyg`
    /// (dy itself for one sample).
    static func groupedDY(_ dy: UnsafePointer<Float>, s0: Int, count gs: Int, o: Int, p: Int,
                          into dyg: UnsafeMutablePointer<Float>?) -> UnsafePointer<Float> {
        let ld = gs * p
        let d = dy + s0 &* o &* p
        guard gs > 1 else { return d }
        guard let dyg else { preconditionFailure("a group of \(gs) samples needs a buffer for its dy") }
        for t in 0..<gs {
            for f in 0..<o { (dyg + (f &* ld &+ t &* p)).update(from: d + (t &* o &+ f) &* p, count: p) }
        }
        return UnsafePointer(dyg)
    }

    /// db += dL/db for a batch of `n`: `biasSums` in `sequential` and `pairwise` mode; `chunked`:
    /// the `sequential` sums of each fixed chunk, added in chunk order; `parallel`: per-sample plane sums, then a batch reduction over the samples (site
    /// `reduce/<name>.bias/step-<n>`).
    func biasGradient(dy: UnsafePointer<Float>, n: Int, _ ctx: Context) {
        guard ctx.reduction.splitsBatch else { return biasSums(dy, n: n, into: ctx.g(bOff), mode: ctx.reduction) }
        let o = filters, p = geometry.outPlane
        if ctx.reduction == .chunked {
            // Each chunk summed as `sequential` sums a batch, the chunks added in chunk order.
            let reduction = ctx.batchReduction("\(name).bias")
            let accs = partial.buffers(p, slots: reduction.workers(rows: n))
            reduction.accumulate(rows: n, width: o, into: ctx.g(bOff)) { r, dst, wk in
                Conv2D.sequentialBiasSums(dy + r.lowerBound &* o &* p, n: r.count, channels: o, plane: p, scratch: accs[wk], into: dst)
            }
            return
        }
        let part = partial.buffer(n * o)
        for s in 0..<n {
            for f in 0..<o { part[s &* o &+ f] = Reduce.sum(dy + (s &* o &+ f) &* p, count: p, mode: .sequential) }
        }
        ctx.batchReduction("\(name).bias").columnSums(part, rows: n, cols: o, into: ctx.g(bOff))
    }

    /// gb[f] += the `sequential` bias sum of `n` samples: per position, the samples in batch order
    /// into `scratch` (`plane` floats), then the positions in index order.
    static func sequentialBiasSums(_ dy: UnsafePointer<Float>, n: Int, channels o: Int, plane p: Int,
                                   scratch acc: UnsafeMutablePointer<Float>, into gb: UnsafeMutablePointer<Float>) {
        for f in 0..<o {
            acc.update(from: dy + f &* p, count: p)
            for s in 1..<max(n, 1) {
                let row = dy + (s &* o &+ f) &* p
                var q = 0
                while q < p { acc[q] += row[q]; q &+= 1 }
            }
            gb[f] += Reduce.sum(acc, count: p, mode: .sequential)
        }
    }

    /// db[o] += sum over samples s and positions q of dy[s, o, q], in a fixed order per mode:
    /// `sequential`: per position, the samples in batch order (elementwise, vectorised), then the
    /// positions in index order; `pairwise`: per sample, a pairwise plane sum, then a pairwise sum
    /// over the samples.
    func biasSums(_ dy: UnsafePointer<Float>, n: Int, into gb: UnsafeMutablePointer<Float>, mode: ReductionMode) {
        let o = filters, p = geometry.outPlane
        switch mode {
        case .sequential:
            Conv2D.sequentialBiasSums(dy, n: n, channels: o, plane: p, scratch: partial.buffer(p), into: gb)
        case .pairwise, .parallel, .chunked:   // `parallel` and `chunked` are batch reductions (`biasGradient`)
            let part = partial.buffer(n)
            for f in 0..<o {
                for s in 0..<n { part[s] = Reduce.sum(dy + (s &* o &+ f) &* p, count: p, mode: mode) }
                gb[f] += Reduce.sum(part, count: n, mode: mode)
            }
        }
    }
}
