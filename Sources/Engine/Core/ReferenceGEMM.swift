import Foundation

/// cwrepro's own GEMM with a fixed k-order (`determinism.gemm: reference`):
///   c[i,j] = alpha * acc + beta * c[i,j]   (c[i,j] = alpha * acc when beta = 0)
///   acc = (...((0 + a[i,0]*b[0,j]) + a[i,1]*b[1,j]) + ...) + a[i,k-1]*b[k-1,j]
/// in Float32, each product rounded before it is added (no fused multiply-add). Every output
/// element is this one sequence whatever the machine, SIMD width or thread count: the kernel
/// vectorises across j (columns) and threads split panels of columns, neither of which touches the k-order.
/// So results are bit-identical everywhere; speed is several times below OpenBLAS (no fused
/// multiply-add, no k-blocking; `cwrepro env` measures both).
public enum ReferenceGEMM {
    /// Products smaller than this many multiply-adds run on one thread.
    static let parallelThreshold = 1 << 18
    /// Micro-tile: 4 rows x 16 columns of C held in eight 8-lane registers over the whole k loop.
    static let tileRows = 4, tileCols = 16

    /// `threads` workers (1: this thread) each take every `threads`-th panel of 16 columns.
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int = 1) {
        if m == 0 || n == 0 { return }
        // op(A)[i, q] = a[i*sa + q*sq]; op(B)[q, j] = b[q*sbq + j*sbj].
        let sa = transA ? 1 : lda, sq = transA ? lda : 1
        let sbq = transB ? 1 : ldb, sbj = transB ? ldb : 1
        let panels = (n + tileCols - 1) / tileCols
        let workers = m &* n &* k < parallelThreshold ? 1 : max(1, min(threads, panels))
        // Each worker takes every `workers`-th panel of 16 columns: packs op(B)[:, panel] into a
        // contiguous [k, 16] buffer (zero-padded), then sweeps all rows of A over it.
        func run(_ w: Int) {
            let panel = UnsafeMutablePointer<Float>.allocate(capacity: max(1, k) &* tileCols)
            defer { panel.deallocate() }
            var tile = [Float](repeating: 0, count: tileRows &* tileCols)
            var pj = w
            while pj < panels {
                let j0 = pj &* tileCols, nb = min(tileCols, n &- j0)
                for q in 0..<k {
                    let dst = panel + q &* tileCols, src = b + (q &* sbq &+ j0 &* sbj)
                    for j in 0..<tileCols { dst[j] = j < nb ? src[j &* sbj] : 0 }
                }
                var i0 = 0
                while i0 < m {
                    let rows = min(tileRows, m &- i0)
                    tile.withUnsafeMutableBufferPointer { t in
                        kernel(rows: rows, k: k, a: a + i0 &* sa, sa: sa, sq: sq, panel: panel, out: t.baseAddress!)
                        for r in 0..<rows {
                            let out = c + ((i0 &+ r) &* ldc &+ j0), acc = t.baseAddress! + r &* tileCols
                            if beta == 0 {
                                for j in 0..<nb { out[j] = alpha * acc[j] }
                            } else {
                                for j in 0..<nb { out[j] = alpha * acc[j] + beta * out[j] }
                            }
                        }
                    }
                    i0 &+= tileRows
                }
                pj &+= workers
            }
        }
        if workers == 1 { run(0) } else { Parallel.perform(workers) { run($0) } }
    }

    /// out[r, 0..<16] = sum over q in order of op(A)[r, q] * panel[q, 0..<16], r < 4. Each lane
    /// is one output element: acc = acc + x * y, a rounded product then a rounded sum.
    @inline(__always)
    static func kernel(rows: Int, k: Int, a: UnsafePointer<Float>, sa: Int, sq: Int,
                       panel: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
        // Rows past the end read row 0 (valid memory); their results are not stored.
        let a0 = a, a1 = rows > 1 ? a + sa : a, a2 = rows > 2 ? a + 2 &* sa : a, a3 = rows > 3 ? a + 3 &* sa : a
        var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
        var c20 = SIMD8<Float>(), c21 = SIMD8<Float>(), c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
        let raw = UnsafeRawPointer(panel)
        var q = 0
        while q < k {
            let y0 = raw.loadUnaligned(fromByteOffset: q &* 64, as: SIMD8<Float>.self)
            let y1 = raw.loadUnaligned(fromByteOffset: q &* 64 &+ 32, as: SIMD8<Float>.self)
            let o = q &* sq
            let x0 = SIMD8<Float>(repeating: a0[o]), x1 = SIMD8<Float>(repeating: a1[o])
            c00 = c00 + x0 * y0; c01 = c01 + x0 * y1
            c10 = c10 + x1 * y0; c11 = c11 + x1 * y1
            let x2 = SIMD8<Float>(repeating: a2[o]), x3 = SIMD8<Float>(repeating: a3[o])
            c20 = c20 + x2 * y0; c21 = c21 + x2 * y1
            c30 = c30 + x3 * y0; c31 = c31 + x3 * y1
            q &+= 1
        }
        let w = UnsafeMutableRawPointer(out)
        for (r, (lo, hi)) in [(c00, c01), (c10, c11), (c20, c21), (c30, c31)].enumerated() {
            w.storeBytes(of: lo, toByteOffset: r &* 64, as: SIMD8<Float>.self)
            w.storeBytes(of: hi, toByteOffset: r &* 64 &+ 32, as: SIMD8<Float>.self)
        }
    }

    /// The definition, one output element at a time (the oracle the fast kernel is tested against).
    public static func naive(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let sa = transA ? lda : 1, sb = transB ? 1 : ldb
        for i in 0..<m {
            let ai = transA ? a + i : a + i &* lda
            for j in 0..<n {
                let bj = transB ? b + j &* ldb : b + j
                var acc: Float = 0
                for p in 0..<k { acc = acc + ai[p &* sa] * bj[p &* sb] }
                let out = c + (i &* ldc &+ j)
                out.pointee = beta == 0 ? alpha * acc : alpha * acc + beta * out.pointee
            }
        }
    }
}
