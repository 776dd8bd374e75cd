import XCTest
@testable import Engine

/// The reference GEMM's C kernels and direct convolutions are its definition, bit for bit: every
/// instruction-set variant this CPU runs (AVX-512, AVX2, portable), both orientations of a
/// product, k split into blocks, blocked views, any thread count; and a convolution read straight
/// from zero-padded samples gives the bits of the definition applied to the im2col matrix.
final class ReferenceKernelTests: XCTestCase {
    /// Pseudo-random values in [-1, 1) with a few exact zeros and large magnitudes mixed in.
    func values(_ count: Int, seed: UInt64) -> [Float] {
        var s = seed &* 6364136223846793005 &+ 1442695040888963407
        return (0..<count).map { i in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            let v = Float(Int64(bitPattern: s >> 11) % 2_000_000) / 1_000_000
            return i % 97 == 0 ? 0 : i % 89 == 0 ? v * 1e4 : v
        }
    }

    /// Runs body once per kernel variant this CPU runs, then restores the process's choice.
    func forEachKernelVariant(_ body: (String) -> Void) {
        ReferenceGEMM.useKernelsOfThisCPU()   // the process's own choice is made first, never after ours
        let chosen = ReferenceGEMM.selectKernels(-1)
        defer { ReferenceGEMM.selectKernels(chosen) }
        var seen = Set<Int>()
        for isa in [0, 1, 2] where ReferenceGEMM.selectKernels(isa) == isa && seen.insert(isa).inserted {
            body(ReferenceGEMM.kernelName)
        }
        XCTAssertTrue(seen.contains(0), "the portable kernels run everywhere")
    }

    func testEveryVariantAndOrientationIsTheDefinition() {
        // (m, n, k): small m and large n is computed transposed; k > 256 runs in k-blocks; k = 0.
        let shapes = [(1, 1, 1), (5, 7, 3), (16, 700, 20), (67, 300, 600), (130, 9, 70), (13, 17, 0), (40, 33, 257)]
        forEachKernelVariant { kernels in
            for (m, n, k) in shapes {
                for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
                    let a = values(m * k, seed: 1), b = values(k * n, seed: 2), c0 = values(m * n, seed: 3)
                    let lda = transA ? m : k, ldb = transB ? k : n
                    for beta: Float in [0, 1] {
                        var want = c0
                        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in want.withUnsafeMutableBufferPointer { cp in
                            ReferenceGEMM.naive(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: ap.baseAddress!, lda: lda,
                                                b: bp.baseAddress!, ldb: ldb, beta: beta, c: cp.baseAddress!, ldc: n)
                        } } }
                        for threads in [1, 3] {
                            var got = c0
                            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in got.withUnsafeMutableBufferPointer { cp in
                                ReferenceGEMM.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: ap.baseAddress!,
                                                    lda: lda, b: bp.baseAddress!, ldb: ldb, beta: beta, c: cp.baseAddress!, ldc: n,
                                                    threads: threads)
                            } } }
                            XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern),
                                           "\(kernels): m\(m) n\(n) k\(k) tA \(transA) tB \(transB) beta \(beta) threads \(threads)")
                        }
                    }
                }
            }
        }
    }

    /// A blocked output and operand (samples side by side) and a row bias: c[i, j] = acc + bias[i].
    func testBlockedViewsAndBias() {
        let (m, k, p, samples) = (5, 9, 6, 3), n = p * samples
        let a = values(m * k, seed: 4), bias = values(m, seed: 5)
        let b = values(samples * k * p, seed: 6)   // [sample, k, p]: column j of B is (j / p, j % p)
        forEachKernelVariant { kernels in
            var got = [Float](repeating: .nan, count: samples * m * p)   // [sample, m, p]
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in bias.withUnsafeBufferPointer { biasp in
                got.withUnsafeMutableBufferPointer { cp in
                    ReferenceGEMM.product(m: m, n: n, k: k, a: .strided(ap.baseAddress!, rows: .init(k), cols: .init(1)),
                                          b: .strided(bp.baseAddress!, rows: .init(p), cols: .init(1, block: p, blockStride: k * p)),
                                          beta: 0, c: cp.baseAddress!, rows: .init(p), cols: .init(1, block: p, blockStride: m * p),
                                          bias: biasp.baseAddress!)
                }
            } } }
            for s in 0..<samples {
                for i in 0..<m {
                    for q in 0..<p {
                        var acc: Float = 0
                        for r in 0..<k { acc = acc + a[i * k + r] * b[(s * k + r) * p + q] }
                        let want = acc + bias[i]   // alpha 1: 1 * acc is acc exactly
                        XCTAssertEqual(got[(s * m + i) * p + q].bitPattern, want.bitPattern, "\(kernels): sample \(s) row \(i) col \(q)")
                    }
                }
            }
        }
    }

    struct Geometry { var channels, inH, inW, kh, kw, sh, sw, top, bottom, left, right, filters: Int }

    static let geometries = [
        Geometry(channels: 3, inH: 9, inW: 11, kh: 3, kw: 3, sh: 1, sw: 1, top: 1, bottom: 1, left: 1, right: 1, filters: 16),
        Geometry(channels: 1, inH: 7, inW: 5, kh: 3, kw: 2, sh: 1, sw: 1, top: 1, bottom: 1, left: 0, right: 1, filters: 5),
        Geometry(channels: 17, inH: 8, inW: 8, kh: 3, kw: 3, sh: 2, sw: 2, top: 1, bottom: 0, left: 2, right: 1, filters: 33),
        Geometry(channels: 4, inH: 6, inW: 7, kh: 1, kw: 1, sh: 1, sw: 1, top: 0, bottom: 0, left: 0, right: 0, filters: 19),
        Geometry(channels: 2, inH: 12, inW: 10, kh: 5, kw: 5, sh: 1, sw: 2, top: 2, bottom: 2, left: 2, right: 2, filters: 7),
        Geometry(channels: 6, inH: 3, inW: 3, kh: 2, kw: 3, sh: 1, sw: 1, top: 0, bottom: 0, left: 1, right: 1, filters: 32),
        // Edge shapes: a 1x1 output, a kernel wider than the input (padding makes it fit), stride 3
        // over a kernel of 2 (columns skipped), one channel and one filter.
        Geometry(channels: 2, inH: 1, inW: 1, kh: 1, kw: 1, sh: 1, sw: 1, top: 0, bottom: 0, left: 0, right: 0, filters: 3),
        Geometry(channels: 1, inH: 4, inW: 2, kh: 3, kw: 5, sh: 1, sw: 1, top: 1, bottom: 1, left: 2, right: 2, filters: 1),
        Geometry(channels: 3, inH: 10, inW: 11, kh: 2, kw: 2, sh: 3, sw: 3, top: 0, bottom: 1, left: 1, right: 0, filters: 17),
        // k = 81: the direct forward's k-blocks (72 steps) end in a partial one; 12 x 13 outputs
        // span several chunks of position tiles, the last one partial; 20 filters end in a partial
        // block of 16.
        Geometry(channels: 9, inH: 12, inW: 13, kh: 3, kw: 3, sh: 1, sw: 1, top: 1, bottom: 1, left: 1, right: 1, filters: 20),
        // Large enough (over 2^20 multiply-adds) for the workers to split it.
        Geometry(channels: 16, inH: 16, inW: 16, kh: 3, kw: 3, sh: 1, sw: 1, top: 1, bottom: 1, left: 1, right: 1, filters: 48),
    ]

    func window(_ c: Geometry) -> Window2D {
        Window2D(channels: c.channels, inH: c.inH, inW: c.inW, kh: c.kh, kw: c.kw, sh: c.sh, sw: c.sw,
                 top: c.top, bottom: c.bottom, left: c.left, right: c.right)
    }

    /// The definition: im2col of each sample, then the reference GEMM's element sequence.
    func im2col(_ x: [Float], sample s: Int, _ g: Window2D) -> [Float] {
        var col = [Float](repeating: 0, count: g.patch * g.outPlane)
        x.withUnsafeBufferPointer { xp in col.withUnsafeMutableBufferPointer { cp in
            Im2col.forward(xp.baseAddress! + s * g.channels * g.inPlane, g, into: cp.baseAddress!, ld: g.outPlane)
        } }
        return col
    }

    func testDirectForwardIsTheIm2colDefinition() {
        let n = 3
        for c in Self.geometries {
            let g = window(c), k = g.patch, p = g.outPlane, o = c.filters
            let x = values(n * g.channels * g.inPlane, seed: 7), w = values(o * k, seed: 8), b = values(o, seed: 9)
            var want = [Float](repeating: 0, count: n * o * p)
            for s in 0..<n {
                let col = im2col(x, sample: s, g)
                for f in 0..<o {
                    for q in 0..<p {
                        var acc: Float = 0
                        for r in 0..<k { acc = acc + w[f * k + r] * col[r * p + q] }
                        want[(s * o + f) * p + q] = acc + b[f]
                    }
                }
            }
            forEachKernelVariant { kernels in
                for threads in [1, 2] {
                    var got = [Float](repeating: .nan, count: n * o * p)
                    x.withUnsafeBufferPointer { xp in w.withUnsafeBufferPointer { wp in b.withUnsafeBufferPointer { bp in
                        got.withUnsafeMutableBufferPointer { yp in
                            Conv2D.convolve(xp.baseAddress!, n: n, g, weights: wp.baseAddress!, outChannels: o, bias: bp.baseAddress!,
                                            into: yp.baseAddress!, col: Scratch(), tmp: Scratch(), gemm: GEMM(.reference, threads: threads),
                                            threads: threads)
                        }
                    } } }
                    XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), "\(kernels) \(c) threads \(threads)")
                }
            }
        }
    }

    func testDirectWeightGradientIsTheGroupedIm2colDefinition() {
        let n = 5, group = 2
        for c in Self.geometries {
            let g = window(c), k = g.patch, p = g.outPlane, o = c.filters
            let x = values(n * g.channels * g.inPlane, seed: 10), dy = values(n * o * p, seed: 11)
            // dW^T[r, f]: per group, acc over the group's positions in order; the first group
            // written, each next one added (beta 1: acc + c).
            var want = [Float](repeating: 0, count: k * o)
            var s0 = 0
            while s0 < n {
                let gs = min(group, n - s0)
                let cols = (s0..<(s0 + gs)).map { im2col(x, sample: $0, g) }
                for r in 0..<k {
                    for f in 0..<o {
                        var acc: Float = 0
                        for t in 0..<gs { for q in 0..<p { acc = acc + cols[t][r * p + q] * dy[((s0 + t) * o + f) * p + q] } }
                        want[r * o + f] = s0 == 0 ? acc : acc + want[r * o + f]
                    }
                }
                s0 += gs
            }
            forEachKernelVariant { kernels in
                for threads in [1, 3] {
                    let (pf, df) = ReferenceConv.weightScratch(g, outChannels: o, group: group)
                    let scratch = (0..<threads).map { _ in
                        (padded: UnsafeMutablePointer<Float>.allocate(capacity: pf), dy: UnsafeMutablePointer<Float>.allocate(capacity: df))
                    }
                    defer { for s in scratch { s.padded.deallocate(); s.dy.deallocate() } }
                    var got = [Float](repeating: .nan, count: k * o)
                    x.withUnsafeBufferPointer { xp in dy.withUnsafeBufferPointer { dp in got.withUnsafeMutableBufferPointer { gp in
                        ReferenceConv.weightGradient(x: xp.baseAddress!, dy: dp.baseAddress!, samples: 0..<n, group: group, g, outChannels: o,
                                                     into: gp.baseAddress!, scratch: scratch, threads: threads)
                    } } }
                    XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), "\(kernels) \(c) threads \(threads)")
                }
            }
        }
    }
}
