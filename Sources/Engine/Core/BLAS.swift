import COpenBLAS

/// Matrix products of the engine. `openblas` calls `cblas_sgemm` (results depend on the core
/// type OpenBLAS picked and its thread count); `reference` is cwrepro's own GEMM whose every
/// output element is one sequential k-order dot product: bit-identical on any machine and
/// thread count, and slower.
public enum GEMMMode: String, Sendable { case openblas, reference }

public enum BLAS {
    /// C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C, row-major.
    @inline(__always)
    public static func sgemm(_ mode: GEMMMode, transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                             alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        switch mode {
        case .openblas:
            cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        case .reference:
            ReferenceGEMM.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                                b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }

    /// OpenBLAS's thread count for subsequent calls.
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }
    public static var threads: Int { Int(openblas_get_num_threads()) }
    /// The kernel family OpenBLAS picked at load time (`OPENBLAS_CORETYPE` overrides it).
    public static var coreName: String { String(cString: openblas_get_corename()) }
    public static var config: String { String(cString: openblas_get_config()).trimmingCharacters(in: .whitespaces) }

    /// BLAS facts for the environment profile of a record.
    public static var environment: [String: String] {
        ["blas.library": "openblas", "blas.core": coreName, "blas.config": config, "blas.threads": String(threads)]
    }
}

/// A plain GEMM with a fixed k-order: c = beta*c + alpha * sum_{p=0}^{k-1} a[i,p]*b[p,j], summed
/// left to right in Float32 with separate multiply and add (no FMA contraction), one output at a
/// time. No threads, no blocking that changes the order: the same bits everywhere.
public enum ReferenceGEMM {
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        // Row i of op(A) with stride sa; column j of op(B) with stride sb.
        let sa = transA ? lda : 1, sb = transB ? 1 : ldb
        for i in 0..<m {
            let ai = transA ? a + i : a + i &* lda
            for j in 0..<n {
                let bj = transB ? b + j &* ldb : b + j
                var acc: Float = 0
                var p = 0
                while p < k {
                    let prod = ai[p &* sa] * bj[p &* sb]
                    acc = acc + prod
                    p &+= 1
                }
                let out = c + (i &* ldc &+ j)
                out.pointee = beta == 0 ? alpha * acc : alpha * acc + beta * out.pointee
            }
        }
    }
}
