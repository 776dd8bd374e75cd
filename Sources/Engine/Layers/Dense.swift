import Recorder

/// Fully connected: y = x W^T + b, W of shape (out, in) as torch.nn.Linear.
/// Backward: dW += dy^T x and db += column sums of dy, both over the batch in the configured
/// reduction order (sites `reduce/<name>.weight/step-<n>`, `reduce/<name>.bias/step-<n>`); dx = dy W.
/// y, dx and (in `chunked` mode) dW are one GEMM each, or in `chunked` mode one per fixed block of
/// output columns (`Context.columnBlocks`), each element's sum over k whole.
public final class Dense: Layer {
    public let name: String
    public let inFeatures: Int, outFeatures: Int
    public let hasBias: Bool
    let wOff: Int, bOff: Int
    public var outputShape: [Int] { [outFeatures] }
    private var input = Tensor(zeros: [0])

    public init(name: String, inFeatures: Int, units: Int, bias: Bool, params: ParameterStore) {
        self.name = name
        self.inFeatures = inFeatures; outFeatures = units; hasBias = bias
        wOff = params.add("\(name).weight", shape: [units, inFeatures])
        bOff = bias ? params.add("\(name).bias", shape: [units]) : -1
    }

    public var spec: JSON { .object(["type": .string("dense"), "units": .number(Double(outFeatures)), "bias": .bool(hasBias)]) }

    public func initialize(_ ctx: Context) {
        Init.kernel(ctx, name: "\(name).weight", offset: wOff, count: outFeatures * inFeatures, fanIn: inFeatures, fanOut: outFeatures)
        if hasBias { Init.bias(ctx, name: "\(name).bias", offset: bOff, count: outFeatures, fanIn: inFeatures) }
    }

    public func forward(_ x: Tensor, _ ctx: Context) -> Tensor {
        let n = x.batch
        precondition(x.sampleSize == inFeatures, "\(name): expected \(inFeatures) features, got \(x.sampleSize)")
        if ctx.training { input = x }
        let w = ctx.w(wOff)
        return x.data.withUnsafeBufferPointer { xp in
            Tensor.uninitialized([n, outFeatures]) { c in
                ctx.columnBlocks(outFeatures) { cols, gemm in
                    if hasBias {
                        let b = ctx.w(bOff) + cols.lowerBound
                        for i in 0..<n { (c + (i &* outFeatures &+ cols.lowerBound)).update(from: b, count: cols.count) }
                    }
                    gemm.sgemm(transA: false, transB: true, m: n, n: cols.count, k: inFeatures,
                               a: xp.baseAddress!, lda: inFeatures, b: w + cols.lowerBound &* inFeatures, ldb: inFeatures,
                               beta: hasBias ? 1 : 0, c: c + cols.lowerBound, ldc: outFeatures)
                }
            }
        }
    }

    /// Drops the saved input (a step's backward is its last use).
    public func backward(_ dy: Tensor, _ ctx: Context) -> Tensor { backward(dy, ctx, inputGradient: true) }

    public func backwardParameters(_ dy: Tensor, _ ctx: Context) { _ = backward(dy, ctx, inputGradient: false) }

    /// dW and db, then dx = dy W unless `inputGradient` is false (an empty tensor then).
    func backward(_ dy: Tensor, _ ctx: Context, inputGradient: Bool) -> Tensor {
        let n = dy.batch
        let dx = dy.data.withUnsafeBufferPointer { dyp in
            input.data.withUnsafeBufferPointer { xp in
                // dW[out, in] += dy[rows]^T x[rows], over the batch rows in the configured reduction order.
                let dy0 = dyp.baseAddress!, x0 = xp.baseAddress!
                if ctx.reduction == .chunked {
                    // dW[rows, :] += dy[:, rows]^T x: blocks of dW's rows, each summed over the whole batch.
                    let gw = ctx.g(wOff)
                    ctx.columnBlocks(outFeatures) { rows, gemm in
                        gemm.sgemm(transA: true, transB: false, m: rows.count, n: inFeatures, k: n,
                                   a: dy0 + rows.lowerBound, lda: outFeatures, b: x0, ldb: inFeatures,
                                   beta: 1, c: gw + rows.lowerBound &* inFeatures, ldc: inFeatures)
                    }
                    return
                }
                let reduction = ctx.batchReduction("\(name).weight")
                reduction.accumulate(rows: n, width: outFeatures * inFeatures, into: ctx.g(wOff)) { r, dst in
                    reduction.gemm.sgemm(transA: true, transB: false, m: outFeatures, n: inFeatures, k: r.count,
                                         a: dy0 + r.lowerBound &* outFeatures, lda: outFeatures, b: x0 + r.lowerBound &* inFeatures,
                                         ldb: inFeatures, beta: 1, c: dst, ldc: inFeatures)
                }
            }
            if hasBias { ctx.batchReduction("\(name).bias").columnSums(dyp.baseAddress!, rows: n, cols: outFeatures, into: ctx.g(bOff)) }
            guard inputGradient else { return Tensor.empty }
            // dx = dy W (beta 0: the buffer's old contents are never read).
            return Tensor.uninitialized([n] + input.shape.dropFirst()) { dxp in
                ctx.columnBlocks(inFeatures) { cols, gemm in
                    gemm.sgemm(transA: false, transB: false, m: n, n: cols.count, k: outFeatures,
                               a: dyp.baseAddress!, lda: outFeatures, b: ctx.w(wOff) + cols.lowerBound, ldb: inFeatures,
                               beta: 0, c: dxp + cols.lowerBound, ldc: inFeatures)
                }
            }
        }
        input = .empty
        return dx
    }
}
