import Recorder

/// 2-D convolution (cross-correlation, as torch.nn.Conv2d), NCHW, weight (O, I, kh, kw), dilation 1:
///   y[n, o, oh, ow] = b[o] + sum_{c,i,j} W[o, c, i, j] * x[n, c, oh*sh - top + i, ow*sw - left + j]
/// (zero outside the input). Per sample: col = im2col(x_n) [I*kh*kw, outH*outW] and
/// y_n = W[O, I*kh*kw] x col, one GEMM written straight into the NCHW output.
/// Backward per sample: dW += dy_n col^T (GEMM, samples accumulated in batch order; in `parallel`
/// reduction mode, chunks of samples on worker threads, site `reduce/<name>.weight/step-<n>`),
/// dx_n = col2im(W^T dy_n); db[o] = sum over samples (site `reduce/<name>.bias/step-<n>`) of the
/// per-sample plane sums of dy, both levels in the configured reduction order. A 1x1, stride-1, unpadded convolution skips im2col.
/// Init: `init.kernel` / `init.bias` with fan_in = I*kh*kw, fan_out = O*kh*kw.
public final class Conv2D: Layer {
    public let name: String
    public let geometry: Window2D
    public let filters: Int
    public let hasBias: Bool
    let wOff: Int, bOff: Int
    public var outputShape: [Int] { [filters, geometry.outH, geometry.outW] }
    private var input = Tensor(zeros: [0])
    private let col = Scratch(), dcol = Scratch(), partial = Scratch()

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

    public func forward(_ x: Tensor, _ ctx: Context) -> Tensor {
        let g = geometry, n = x.batch, o = filters, k = g.patch, p = g.outPlane
        precondition(x.sampleSize == g.channels * g.inPlane, "\(name): expected input [\(g.channels), \(g.inH), \(g.inW)], got \(x.shape)")
        if ctx.training { input = x }
        let w = ctx.w(wOff), b = hasBias ? ctx.w(bOff) : nil
        let cbuf = g.isPointwise ? nil : col.buffer(k * p)
        return Tensor.uninitialized([n, o, g.outH, g.outW]) { y in
            x.data.withUnsafeBufferPointer { xp in
                for s in 0..<n {
                    let xs = xp.baseAddress! + s &* g.channels &* g.inPlane, ys = y + s &* o &* p
                    let a: UnsafePointer<Float>
                    if let cbuf { Im2col.forward(xs, g, into: cbuf); a = UnsafePointer(cbuf) } else { a = xs }
                    if let b { for f in 0..<o { (ys + f &* p).update(repeating: b[f], count: p) } }
                    BLAS.sgemm(ctx.gemm, transA: false, transB: false, m: o, n: p, k: k, a: w, lda: k, b: a, ldb: p,
                               beta: b == nil ? 0 : 1, c: ys, ldc: p)
                }
            }
        }
    }

    public func backward(_ dy: Tensor, _ ctx: Context) -> Tensor {
        let g = geometry, n = dy.batch, o = filters, k = g.patch, p = g.outPlane, inSize = g.channels * g.inPlane
        let w = ctx.w(wOff), gw = ctx.g(wOff)
        let cbuf = g.isPointwise ? nil : col.buffer(k * p)
        let dbuf = g.isPointwise ? nil : dcol.buffer(k * p)
        var dx = Tensor(zeros: [n, g.channels, g.inH, g.inW])
        let parallel = ctx.reduction == .parallel
        dy.data.withUnsafeBufferPointer { dyp in
            input.data.withUnsafeBufferPointer { xp in
                dx.data.withUnsafeMutableBufferPointer { dxp in
                    for s in 0..<n {
                        let dys = dyp.baseAddress! + s &* o &* p, xs = xp.baseAddress! + s &* inSize
                        let dxs = dxp.baseAddress! + s &* inSize
                        if !parallel {
                            // dW[O, K] += dy_s[O, P] col_s[K, P]^T
                            let a: UnsafePointer<Float>
                            if let cbuf { Im2col.forward(xs, g, into: cbuf); a = UnsafePointer(cbuf) } else { a = xs }
                            BLAS.sgemm(ctx.gemm, transA: false, transB: true, m: o, n: k, k: p, a: dys, lda: p, b: a, ldb: p,
                                       beta: 1, c: gw, ldc: k)
                        }
                        // dcol[K, P] = W^T dy_s, then col2im (straight into dx for a pointwise conv).
                        BLAS.sgemm(ctx.gemm, transA: true, transB: false, m: k, n: p, k: o, a: w, lda: k, b: dys, ldb: p,
                                   beta: 0, c: dbuf ?? dxs, ldc: p)
                        if let dbuf { Im2col.backward(dbuf, g, into: dxs) }
                    }
                }
                if parallel {
                    // The same per-sample GEMMs, chunks of samples on worker threads (each with its own
                    // im2col buffer), partial dW combined in the recorded completion order.
                    let dy0 = dyp.baseAddress!, x0 = xp.baseAddress!
                    ctx.batchReduction("\(name).weight").accumulate(rows: n, width: o * k, into: gw) { r, dst in
                        let own = g.isPointwise ? nil : UnsafeMutablePointer<Float>.allocate(capacity: k * p)
                        defer { own?.deallocate() }
                        for s in r {
                            let xs = x0 + s &* inSize
                            let a: UnsafePointer<Float>
                            if let own { Im2col.forward(xs, g, into: own); a = UnsafePointer(own) } else { a = xs }
                            BLAS.sgemm(ctx.gemm, transA: false, transB: true, m: o, n: k, k: p, a: dy0 + s &* o &* p, lda: p,
                                       b: a, ldb: p, beta: 1, c: dst, ldc: k)
                        }
                    }
                }
            }
            if hasBias {
                // db[o] += sum_s (sum_p dy[s, o, p]): per-sample plane sums (in `ctx.reduction` order),
                // then a batch reduction over samples.
                let part = partial.buffer(n * o)
                for s in 0..<n {
                    for f in 0..<o { part[s &* o &+ f] = Reduce.sum(dyp.baseAddress! + (s &* o &+ f) &* p, count: p, mode: ctx.reduction) }
                }
                ctx.batchReduction("\(name).bias").columnSums(part, rows: n, cols: o, into: ctx.g(bOff))
            }
        }
        return dx
    }
}
