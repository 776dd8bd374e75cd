import Foundation
import Recorder

/// Batch normalisation over the channel axis, as torch.nn.BatchNorm1d ([N, C]) and
/// BatchNorm2d ([N, C, H, W]). Statistics of channel c run over its M = N*H*W values.
///
/// Train mode (`ctx.training`):
///   mean = sum(x) / M;  var = sum((x - mean)^2) / M         (two passes, biased, for normalising)
///   invstd = 1 / sqrt(var + eps)
///   y = fma(x, alpha, beta'),  alpha = gamma * invstd,  beta' = beta - mean * alpha   (torch's
///       order, not (x - mean) * invstd * gamma + beta)
///   running_mean = (1 - m) running_mean + m mean
///   running_var  = (1 - m) running_var  + m var_r,   var_r = sum((x-mean)^2) / (M - 1) (`unbiased`,
///       PyTorch) or / M (`biased`, Keras); M = 1 uses / 1 (torch refuses M = 1).
/// Eval mode: the same affine map with mean = running_mean, invstd = 1 / sqrt(running_var + eps).
/// Backward (train mode; torch's batch_norm_cpu_backward):
///   dbeta = sum(dy);  dgamma = sum(dy * (x - mean)) * invstd
///   dx = (dy - dbeta / M - (x - mean) * dgamma * invstd / M) * invstd * gamma
///
/// Defaults come from the semantics knobs `batchnorm.momentum` (weight of the new batch: PyTorch 0.1,
/// Keras 0.01 = Keras momentum 0.99), `batchnorm.epsilon` (1e-5 / 1e-3) and
/// `batchnorm.runningVariance` (unbiased / biased); `spec` records the values used.
///
/// Arithmetic follows torch 2.13's CPU kernels, so the forward pass is bit-identical to torch
/// (BatchNormReferenceTests): in `sequential` reduction mode the per-channel sums run in index order
/// (n, then h, w), accumulated in Float64 for [N, C, H, W] (batch_norm_cpu_collect_stats_contiguous_impl:
/// acc_type<float> is double) and in Float32 for [N, C] (torch routes NC input through its
/// channels-last kernel, which sums in float); the mean is rounded to Float32 before the second
/// pass and (x - mean)^2 is formed in Float32; invstd is computed in Float64 in train mode and in
/// Float32 in eval mode; the running-stat update uses a Float32 momentum; y is one fused
/// multiply-add (GCC contracts torch's vectorised x * alpha + beta). `pairwise` gathers each channel
/// and sums with `Reduce.sum(.pairwise)` in Float32. `parallel` sums each chunk of samples in Float32
/// and combines the chunks in the recorded completion order (sites `reduce/<name>.mean|var|bias|weight/step-<n>`). Backward: per-sample plane sums through
/// `Reduce` (Float32), accumulated over samples in Float64 as torch does; torch's plane sums use
/// SIMD lanes of CPU-dependent width, so backward agrees with torch to about 1e-5, not bit for bit.
///
/// Parameters (PyTorch state_dict names): `<name>.weight` (gamma, init 1), `<name>.bias` (beta,
/// init 0), buffers `<name>.running_mean` (0) and `<name>.running_var` (1), not trainable.
public final class BatchNorm: Layer {
    public let name: String
    public let channels: Int
    /// Elements per channel per sample: H*W, or 1 for [N, C].
    public let plane: Int
    public let momentum: Double
    public let epsilon: Double
    public let unbiased: Bool
    public let outputShape: [Int]
    let wOff: Int, bOff: Int, meanOff: Int, varOff: Int
    // Saved by a train-mode forward for backward.
    private var input = Tensor(zeros: [0])
    private var savedMean: [Float] = []
    private var savedInvstd: [Float] = []

    public init(name: String, shape: [Int], momentum: Double, epsilon: Double, unbiased: Bool, params: ParameterStore) {
        precondition(shape.count == 1 || shape.count == 3)
        self.name = name
        channels = shape[0]
        plane = shape.dropFirst().reduce(1, *)
        self.momentum = momentum; self.epsilon = epsilon; self.unbiased = unbiased
        outputShape = shape
        wOff = params.add("\(name).weight", shape: [channels])
        bOff = params.add("\(name).bias", shape: [channels])
        meanOff = params.add("\(name).running_mean", shape: [channels], trainable: false)
        varOff = params.add("\(name).running_var", shape: [channels], trainable: false)
    }

    public var spec: JSON {
        .object(["type": .string("batchnorm"), "momentum": .number(momentum), "epsilon": .number(epsilon),
                 "runningVariance": .string(unbiased ? "unbiased" : "biased")])
    }

    public func initialize(_ ctx: Context) {
        Init.constant(ctx, offset: wOff, count: channels, value: 1)
        Init.constant(ctx, offset: bOff, count: channels, value: 0)
        Init.constant(ctx, offset: meanOff, count: channels, value: 0)
        Init.constant(ctx, offset: varOff, count: channels, value: 1)
    }

    /// Per channel, the sum over the batch of v = x (`mean` nil) or of v = (x - mean[c])^2 (formed
    /// in Float32), in index order (n, then h*w), each a Float64 chain from 0 when plane > 1 and a
    /// Float32 chain when plane == 1 (torch's kernels; see the type's note). `sequential` and
    /// `parallel` mode (`parallel` splits only batch reductions): `FixedOrderSums.channels`, which
    /// runs the channels' chains side by side, the same additions in the same order; `pairwise`:
    /// each channel gathered and summed pairwise in Float32.
    private func channelSums(_ x: UnsafePointer<Float>, n: Int, mean: UnsafePointer<Float>?, ctx: Context) -> [Double] {
        let channels = self.channels, plane = self.plane, stride = channels &* plane
        var out = [Double](repeating: 0, count: channels)
        out.withUnsafeMutableBufferPointer { o in
            let out = o.baseAddress!
            switch ctx.reduction {
            case .sequential, .parallel, .chunked:
                if plane > 1 {
                    FixedOrderSums.channels(x, samples: n, channels: channels, plane: plane, mean: mean, into: out, threads: ctx.threads)
                } else {
                    FixedOrderSums.columns(x, rows: n, columns: channels, mean: mean, into: out)
                }
            case .pairwise:
                var scratch = [Float](repeating: 0, count: n &* plane)
                scratch.withUnsafeMutableBufferPointer { sp in
                    let q = sp.baseAddress!
                    for c in 0..<channels {
                        let mu = mean?[c] ?? 0
                        for s in 0..<n {
                            let p = x + (s &* stride &+ c &* plane), d = q + s &* plane
                            if mean == nil { d.update(from: p, count: plane) } else { for i in 0..<plane { d[i] = (p[i] - mu) * (p[i] - mu) } }
                        }
                        out[c] = Double(Reduce.sum(q, count: n &* plane, mode: .pairwise))
                    }
                }
            }
        }
        return out
    }

    /// Every channel's batch sum of x (`mean` nil) or of (x - mean)^2: `channelSums`, or in
    /// `parallel` mode one batch reduction at site `reduce/<name>.<what>/step-<n>` whose chunks
    /// sum their samples' planes in Float32 (combined in the recorded completion order).
    private func batchSums(_ x: UnsafePointer<Float>, n: Int, ctx: Context, what: String, mean: [Float]?) -> [Double] {
        guard ctx.reduction == .parallel else {
            guard let mean else { return channelSums(x, n: n, mean: nil, ctx: ctx) }
            return mean.withUnsafeBufferPointer { channelSums(x, n: n, mean: $0.baseAddress!, ctx: ctx) }
        }
        var sums = [Float](repeating: 0, count: channels)
        let stride = channels &* plane, plane = self.plane, channels = self.channels
        sums.withUnsafeMutableBufferPointer { out in
            ctx.batchReduction("\(name).\(what)").accumulate(rows: n, width: channels, into: out.baseAddress!) { r, dst in
                for s in r {
                    for c in 0..<channels {
                        let p = x + (s &* stride &+ c &* plane)
                        var acc: Float = 0
                        if let mean {
                            let mu = mean[c]
                            for i in 0..<plane { acc += (p[i] - mu) * (p[i] - mu) }
                        } else {
                            for i in 0..<plane { acc += p[i] }
                        }
                        dst[c] += acc
                    }
                }
            }
        }
        return sums.map(Double.init)
    }

    public func forward(_ x: Tensor, _ ctx: Context) -> Tensor {
        let n = x.batch, channels = self.channels, plane = self.plane
        precondition(x.sampleSize == channels * plane, "\(name): expected \(outputShape) per sample, got \(x.shape)")
        var alpha = [Float](repeating: 0, count: channels), shift = [Float](repeating: 0, count: channels)
        let w = ctx.w(wOff), b = ctx.w(bOff), rm = ctx.w(meanOff), rv = ctx.w(varOff)
        if ctx.training {
            let m = n * plane
            var mean = [Float](repeating: 0, count: channels), invstd = mean
            x.data.withUnsafeBufferPointer { xp in
                let xb = xp.baseAddress!
                let sums = batchSums(xb, n: n, ctx: ctx, what: "mean", mean: nil)
                for c in 0..<channels { mean[c] = Float(sums[c] / Double(m)) }
                let squares = batchSums(xb, n: n, ctx: ctx, what: "var", mean: mean)
                for c in 0..<channels {
                    let mu = mean[c]
                    let varSum = Float(squares[c])
                    invstd[c] = Float(1 / (Double(varSum / Float(m)) + epsilon).squareRoot())
                    // torch: momentum cast to float; the unbiased (or biased) variance widened to double.
                    let mf = Float(momentum)
                    let vr = Double(varSum / Float(unbiased ? max(m - 1, 1) : m))
                    rm[c] = mf * mu + (1 - mf) * rm[c]
                    rv[c] = Float(Double(mf) * vr + Double((1 - mf) * rv[c]))
                }
            }
            for c in 0..<channels {
                alpha[c] = invstd[c] * w[c]
                shift[c] = b[c] - mean[c] * alpha[c]
            }
            input = x; savedMean = mean; savedInvstd = invstd
        } else {
            for c in 0..<channels {
                let invstd = 1 / (rv[c] + Float(epsilon)).squareRoot()
                alpha[c] = invstd * w[c]
                shift[c] = b[c] - rm[c] * alpha[c]
            }
        }
        let planes = n * channels
        return x.data.withUnsafeBufferPointer { xp in
            alpha.withUnsafeBufferPointer { ap in
                shift.withUnsafeBufferPointer { sp in
                    Tensor.uninitialized(x.shape) { yp in
                        let xb = xp.baseAddress!
                        // y = fma(x, alpha, shift), plane by plane (sample-major), planes split over threads.
                        Parallel.chunks(planes, threads: ctx.threads, work: x.count, minWork: Elementwise.parallelThreshold) { r in
                            for pl in r {
                                let c = pl % channels, a = ap[c], s = sp[c], o = pl &* plane
                                for i in o..<(o &+ plane) { yp[i] = s.addingProduct(xb[i], a) }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Per channel: sum(dy) and sum((x - mean) * dy) over the batch. Per sample, plane sums in
    /// Float32 (a chain from 0 in index order, or pairwise in `pairwise` mode), accumulated over
    /// samples in Float64 (torch); `sequential` runs them through `FixedOrderSums.gradientPlanes`
    /// (the same chains, side by side; so does `chunked`); in `parallel` mode, batch reductions at
    /// `reduce/<name>.bias/step-<n>` and `reduce/<name>.weight/step-<n>`.
    private func gradientSums(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, n: Int, ctx: Context) -> (sums: [Double], dots: [Double]) {
        let channels = self.channels, plane = self.plane, mean = savedMean
        switch ctx.reduction {
        case .sequential, .chunked:
            var sums = [Double](repeating: 0, count: channels), dots = sums
            sums.withUnsafeMutableBufferPointer { sp in
                dots.withUnsafeMutableBufferPointer { dp in
                    mean.withUnsafeBufferPointer { mp in
                        FixedOrderSums.gradientPlanes(dy: dy, x: x, mean: mp.baseAddress!, samples: n, channels: channels, plane: plane,
                                                      sums: sp.baseAddress!, dots: dp.baseAddress!, threads: ctx.threads)
                    }
                }
            }
            return (sums, dots)
        case .pairwise:
            var sums = [Double](repeating: 0, count: channels), dots = sums
            var scratch = [Float](repeating: 0, count: plane)
            scratch.withUnsafeMutableBufferPointer { sp in
                let q = sp.baseAddress!
                for c in 0..<channels {
                    let mu = mean[c]
                    for s in 0..<n {
                        let o = s &* channels &* plane &+ c &* plane
                        sums[c] += Double(Reduce.sum(dy + o, count: plane, mode: .pairwise))
                        for i in 0..<plane { q[i] = (x[o &+ i] - mu) * dy[o &+ i] }
                        dots[c] += Double(Reduce.sum(q, count: plane, mode: .pairwise))
                    }
                }
            }
            return (sums, dots)
        case .parallel:
            break
        }
        var sums = [Float](repeating: 0, count: channels), dots = sums
        sums.withUnsafeMutableBufferPointer { out in
            ctx.batchReduction("\(name).bias").accumulate(rows: n, width: channels, into: out.baseAddress!) { r, dst in
                for s in r { for c in 0..<channels { dst[c] += Reduce.sum(dy + (s &* channels &+ c) &* plane, count: plane, mode: .sequential) } }
            }
        }
        dots.withUnsafeMutableBufferPointer { out in
            ctx.batchReduction("\(name).weight").accumulate(rows: n, width: channels, into: out.baseAddress!) { r, dst in
                for s in r {
                    for c in 0..<channels {
                        let o = (s &* channels &+ c) &* plane, mu = mean[c]
                        var acc: Float = 0
                        for i in 0..<plane { acc += (x[o &+ i] - mu) * dy[o &+ i] }
                        dst[c] += acc
                    }
                }
            }
        }
        return (sums.map(Double.init), dots.map(Double.init))
    }

    /// Drops the saved input (a step's backward is its last use).
    public func backward(_ dy: Tensor, _ ctx: Context) -> Tensor {
        let n = dy.batch, m = n * plane
        precondition(input.shape == dy.shape, "\(name): backward without a matching train-mode forward")
        let w = ctx.w(wOff), gw = ctx.g(wOff), gb = ctx.g(bOff)
        let channels = self.channels, plane = self.plane
        // Per channel: dx = ((dy - gradMean) + (mean - x) * k) * invstd * w, k and gradMean from the sums.
        var coef = [Float](repeating: 0, count: 4 * channels)
        let dx = dy.data.withUnsafeBufferPointer { dyp in
            input.data.withUnsafeBufferPointer { xp in
                let (sums, dots) = gradientSums(dyp.baseAddress!, xp.baseAddress!, n: n, ctx: ctx)
                for c in 0..<channels {
                    let invstd = savedInvstd[c]
                    let sum = sums[c], dot = dots[c]
                    gb[c] += Float(sum)
                    gw[c] += Float(dot * Double(invstd))
                    coef[4 &* c] = Float(dot) * invstd * invstd / Float(m)
                    coef[4 &* c &+ 1] = Float(sum / Double(m))
                    coef[4 &* c &+ 2] = invstd
                    coef[4 &* c &+ 3] = w[c]
                }
                return savedMean.withUnsafeBufferPointer { mp in
                    coef.withUnsafeBufferPointer { cp in
                        Tensor.uninitialized(dy.shape) { dxp in
                            let d = dyp.baseAddress!, x = xp.baseAddress!
                            Parallel.chunks(n &* channels, threads: ctx.threads, work: dy.count, minWork: Elementwise.parallelThreshold) { r in
                                for pl in r {
                                    let c = pl % channels, o = pl &* plane
                                    let k = cp[4 &* c], gradMean = cp[4 &* c &+ 1], invstd = cp[4 &* c &+ 2], wc = cp[4 &* c &+ 3], mu = mp[c]
                                    for i in o..<(o &+ plane) { dxp[i] = (d[i] - gradMean).addingProduct(mu - x[i], k) * invstd * wc }
                                }
                            }
                        }
                    }
                }
            }
        }
        input = .empty
        return dx
    }
}
