import CGEMM

/// Convolutions on the reference GEMM (`determinism.gemm: reference`) without an im2col matrix:
/// each sample is copied into zero-padded planes and the kernels (Sources/CGEMM/cw_conv.c)
/// broadcast its values straight from there against 16 output channels at a time. Every output
/// element is the same products summed in the same order as `ReferenceGEMM` on the im2col matrix,
/// so the bits are those of the grouped im2col path, on every CPU and thread count.
enum ReferenceConv {
    /// Below this many multiply-adds a call stays on one thread.
    static let parallelMinWork = 1 << 20

    /// y[s] = W x im2col(x[s]) (+ b) for `n` samples, stride 1 (`Window2D.sh == sw == 1`); workers
    /// take contiguous runs of samples.
    static func forward(_ x: UnsafePointer<Float>, n: Int, _ g: Window2D, weights w: UnsafePointer<Float>, outChannels o: Int,
                        bias b: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>, threads: Int) {
        precondition(g.sh == 1 && g.sw == 1, "the direct forward convolution is stride 1")
        ReferenceGEMM.useKernelsOfThisCPU()
        var cw = g.cWindow(sampleStride: g.channels * g.inPlane)
        let k = g.patch, inSize = g.channels * g.inPlane, outSize = o * g.outPlane
        let off = UnsafeMutablePointer<Int32>.allocate(capacity: k)
        defer { off.deallocate() }
        cw_conv_offsets(&cw, off)
        let wt = UnsafeMutablePointer<Float>.allocate(capacity: cw_conv_weights_floats(Int32(k), Int32(o)))
        defer { wt.deallocate() }
        cw_conv_pack_weights(w, Int32(o), Int32(k), wt)
        let padded = cw_conv_padded_floats(&cw)
        let workers = o * k * g.outPlane * n < parallelMinWork ? 1 : max(1, min(threads, n))
        let pads = UnsafeMutablePointer<Float>.allocate(capacity: padded * workers)
        defer { pads.deallocate() }
        let cwin = cw
        let run = { (wk: Int) in
            var cw = cwin
            let pad = pads + padded * wk
            for s in (n * wk / workers)..<(n * (wk + 1) / workers) {
                cw_conv_pad(&cw, x + s &* inSize, pad)
                cw_conv_forward(&cw, pad, off, wt, Int32(o), b, y + s &* outSize)
            }
        }
        if workers == 1 { run(0) } else { Parallel.perform(workers, run) }
    }

    /// Floats of `weightGradient`'s two scratch buffers per worker, for groups of `group` samples:
    /// the group's zero-padded copies and its dy transposed ([positions, O rounded up to 16]).
    static func weightScratch(_ g: Window2D, outChannels o: Int, group: Int) -> (padded: Int, dy: Int) {
        var cw = g.cWindow(sampleStride: g.channels * g.inPlane)
        return (cw_conv_padded_floats(&cw) * group, cw_conv_dy_floats(Int32(g.outPlane * group), Int32(o)))
    }

    /// dW^T[K, O] = the weight gradient's chain over the samples in `samples` (`Conv2D.weightChain`):
    /// per group of `group` samples from its start, in order, the sum over the group's positions
    /// of col dY^T, the first group's written and each next one's added (the reference GEMM with
    /// beta 0, then 1). Any stride. Workers take contiguous runs of 12 (AVX-512) or 6 (AVX2) rows
    /// of dW^T through every group, so each row's chain is the one-thread chain; each worker pads
    /// the group and transposes its dy itself, into its own `scratch` (`weightScratch`), where
    /// they stay in its cache (copying is cheap next to the products).
    static func weightGradient(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, samples: Range<Int>, group: Int, _ g: Window2D,
                               outChannels o: Int, into dwt: UnsafeMutablePointer<Float>,
                               scratch: [(padded: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>)], threads: Int) {
        ReferenceGEMM.useKernelsOfThisCPU()
        var cw = g.cWindow(sampleStride: g.channels * g.inPlane)
        let k = g.patch, p = g.outPlane, inSize = g.channels * g.inPlane, count = samples.count
        guard count > 0 else { return }
        let off = UnsafeMutablePointer<Int32>.allocate(capacity: k)
        defer { off.deallocate() }
        cw_conv_offsets(&cw, off)
        let padded = cw_conv_padded_floats(&cw), dyPer = cw_conv_dy_floats(Int32(p), Int32(o))
        let workers = o * k * p * count < parallelMinWork ? 1 : max(1, min(threads, scratch.count, Int(cw_conv_lane_tiles(Int32(k)))))
        let cwin = cw
        let run = { (wk: Int) in
            var cw = cwin
            let (pads, dyt) = scratch[wk]
            var t0 = 0
            while t0 < count {
                let gs = min(group, count - t0)
                for t in 0..<gs {
                    let s = samples.lowerBound + t0 + t
                    cw_conv_pad(&cw, x + s &* inSize, pads + padded &* t)
                    cw_conv_pack_dy(dy + s &* o &* p, 1, Int32(o), Int32(p), dyt + dyPer &* t)
                }
                cw_conv_weight_grad(&cw, Int32(gs), pads, off, dyt, Int32(o), t0 > 0 ? 1 : 0, dwt, Int32(wk), Int32(workers))
                t0 += gs
            }
        }
        if workers == 1 { run(0) } else { Parallel.perform(workers, run) }
    }
}

extension Window2D {
    /// The C description of this window over samples `sampleStride` floats apart. The kernels
    /// index a padded sample with 32-bit offsets, so one must hold under 2^31 floats (8 GB).
    func cWindow(sampleStride: Int) -> cw_window {
        let padded = channels * (max(top + inH, (outH - 1) * sh + kh) * max(left + inW, (outW - 1) * sw + kw))
        precondition(padded < Int(Int32.max) - 64, "a padded sample of \(padded) floats is over the reference GEMM's 2^31-float limit")
        return cw_window(channels: Int32(channels), in_h: Int32(inH), in_w: Int32(inW), kh: Int32(kh), kw: Int32(kw), sh: Int32(sh),
                         sw: Int32(sw), top: Int32(top), left: Int32(left), out_h: Int32(outH), out_w: Int32(outW),
                         sample_stride: sampleStride)
    }
}
