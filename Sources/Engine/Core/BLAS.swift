import COpenBLAS
import Foundation

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

    /// Thread count for subsequent calls: OpenBLAS's, and the reference GEMM's (which splits rows
    /// across threads without changing any element's summation order).
    public static func setThreads(_ n: Int) {
        openblas_set_num_threads(Int32(n))
        ReferenceGEMM.threads = max(1, n)
    }
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// Runs `body` with GEMMs on one thread each (the callers are the parallelism, e.g. the workers
    /// of a parallel reduction: threads inside threads would oversubscribe the cores), then
    /// restores the thread count. OpenBLAS's own results do not depend on who calls it.
    public static func singleThreaded<T>(_ body: () throws -> T) rethrows -> T {
        let saved = threads, savedReference = ReferenceGEMM.threads
        guard saved > 1 || savedReference > 1 else { return try body() }
        openblas_set_num_threads(1)
        ReferenceGEMM.threads = 1
        defer { openblas_set_num_threads(Int32(saved)); ReferenceGEMM.threads = savedReference }
        return try body()
    }
    /// The kernel family OpenBLAS picked at load time (`OPENBLAS_CORETYPE` overrides it, read only
    /// when the library loads: changing it needs a new process).
    public static var coreName: String { String(cString: openblas_get_corename()) }
    /// `openblas_get_config()`, e.g. "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64".
    public static var rawConfig: String { String(cString: openblas_get_config()).trimmingCharacters(in: .whitespaces) }
    /// The build configuration without the core name (which `coreName` reports on its own).
    public static var config: String {
        let core = coreName
        return rawConfig.split(separator: " ").filter { $0 != core }.joined(separator: " ")
    }
    /// "0.3.21", from the config string.
    public static var version: String {
        let words = rawConfig.split(separator: " ")
        guard let i = words.firstIndex(of: "OpenBLAS"), i + 1 < words.count else { return "unknown" }
        return String(words[i + 1])
    }

    /// The core type asked for with `OPENBLAS_CORETYPE`, if any.
    public static var requestedCoreType: String? {
        ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Set when `OPENBLAS_CORETYPE` asked for a core that OpenBLAS did not load (a misspelled or
    /// unsupported name falls back silently): "asked for Skylakx, OpenBLAS loaded Cooperlake".
    public static var coreTypeFallback: String? {
        guard let asked = requestedCoreType, asked.lowercased() != coreName.lowercased() else { return nil }
        return "OPENBLAS_CORETYPE=\(asked) was not honoured: OpenBLAS loaded \(coreName) (a misspelled or unsupported core type falls back silently)"
    }

    /// BLAS facts for the environment profile of a record.
    public static var environment: [String: String] {
        var env = ["blas.library": "openblas", "blas.version": version, "blas.core": coreName, "blas.config": config,
                   "blas.threads": String(threads)]
        env["blas.coretype.requested"] = requestedCoreType ?? "(auto)"
        return env
    }
}
