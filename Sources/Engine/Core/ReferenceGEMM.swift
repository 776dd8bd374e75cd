import Foundation

/// cwrepro's own GEMM with a fixed k-order (`determinism.gemm: reference`):
///   c[i,j] = alpha * acc + beta * c[i,j]   (c[i,j] = alpha * acc when beta = 0)
///   acc = (...((0 + a[i,0]*b[0,j]) + a[i,1]*b[1,j]) + ...) + a[i,k-1]*b[k-1,j]
/// in Float32, each product rounded before it is added (no fused multiply-add). Every output
/// element is this one sequence whatever the machine, SIMD width or thread count: the kernel
/// vectorises across j (columns) and threads split rows, neither of which touches the k-order.
/// So results are bit-identical everywhere; speed is a few times below OpenBLAS (see `cwrepro env`).
public enum ReferenceGEMM {
    /// Worker threads (set with `BLAS.setThreads`). Rows are split between them.
    nonisolated(unsafe) public static var threads = 1

    /// Products smaller than this many multiply-adds run on one thread.
    static let parallelThreshold = 1 << 18
    /// Columns per block: 4 accumulator rows of this width stay in L1.
    static let columnBlock = 256

    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        // op(B) as a row-major [k, n] matrix: B itself, or B^T packed once (O(kn), against O(mnk)).
        var packed: UnsafeMutablePointer<Float>?
        if transB {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(1, k &* n))
            for j in 0..<n { for q in 0..<k { p[q &* n &+ j] = b[j &* ldb &+ q] } }
            packed = p
        }
        defer { packed?.deallocate() }
        let bp = UnsafePointer(packed) ?? b, ldbp = transB ? n : ldb
        // op(A)[i, q] = a[i*sa + q*sq].
        let sa = transA ? 1 : lda, sq = transA ? lda : 1
        let rowBlocks = (m + 3) / 4
        let workers = m &* n &* k < parallelThreshold ? 1 : min(threads, rowBlocks)
        func run(_ w: Int) {
            let acc = UnsafeMutablePointer<Float>.allocate(capacity: 4 &* columnBlock)
            defer { acc.deallocate() }
            var blk = w
            while blk < rowBlocks {
                let i0 = blk &* 4, rows = min(4, m &- i0)
                var j0 = 0
                while j0 < n {
                    let nb = min(columnBlock, n &- j0)
                    block(rows: rows, nb: nb, k: k, a: a + i0 &* sa, sa: sa, sq: sq, b: bp + j0, ldb: ldbp, acc: acc)
                    for r in 0..<rows {
                        let out = c + ((i0 &+ r) &* ldc &+ j0), s = acc + r &* columnBlock
                        if beta == 0 {
                            for j in 0..<nb { out[j] = alpha * s[j] }
                        } else {
                            for j in 0..<nb { out[j] = alpha * s[j] + beta * out[j] }
                        }
                    }
                    j0 &+= nb
                }
                blk &+= workers
            }
        }
        if workers == 1 { run(0) } else { DispatchQueue.concurrentPerform(iterations: workers) { run($0) } }
    }

    /// acc[r, 0..<nb] = sum over q in order of op(A)[r, q] * B[q, 0..<nb], for `rows` <= 4 rows.
    @inline(__always)
    static func block(rows: Int, nb: Int, k: Int, a: UnsafePointer<Float>, sa: Int, sq: Int,
                      b: UnsafePointer<Float>, ldb: Int, acc: UnsafeMutablePointer<Float>) {
        let c0 = acc, c1 = acc + columnBlock, c2 = acc + 2 &* columnBlock, c3 = acc + 3 &* columnBlock
        c0.update(repeating: 0, count: 4 &* columnBlock)
        if rows == 4 {
            var q = 0
            while q < k {
                let br = b + q &* ldb, aq = a + q &* sq
                let x0 = aq[0], x1 = aq[sa], x2 = aq[2 &* sa], x3 = aq[3 &* sa]
                var j = 0
                while j < nb {
                    let y = br[j]
                    c0[j] = c0[j] + x0 * y
                    c1[j] = c1[j] + x1 * y
                    c2[j] = c2[j] + x2 * y
                    c3[j] = c3[j] + x3 * y
                    j &+= 1
                }
                q &+= 1
            }
        } else {
            for r in 0..<rows {
                let cr = acc + r &* columnBlock, ar = a + r &* sa
                var q = 0
                while q < k {
                    let br = b + q &* ldb, x = ar[q &* sq]
                    var j = 0
                    while j < nb { cr[j] = cr[j] + x * br[j]; j &+= 1 }
                    q &+= 1
                }
            }
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
