import COpenBLAS
import Foundation

/// Matrix products of the engine. `openblas` calls `cblas_sgemm` (results depend on the core
/// type OpenBLAS picked and its thread count); `reference` is cwrepro's own GEMM whose every
/// output element is one sequential k-order dot product: bit-identical on any machine and
/// thread count, and slower. The config's `determinism.gemm`.
public enum GEMMMode: String, Sendable, CaseIterable { case openblas, reference }

/// The GEMM a layer calls (`Context.gemm`): the implementation and its threads.
///
/// `threads` is the reference GEMM's worker count (it splits column panels, never a k-order, so
/// the bits do not depend on it). OpenBLAS runs on the process's thread count, which the training
/// run holds for its duration (`ProcessConfiguration.withOpenBLAS(threads:)`).
public struct GEMM: Sendable, Equatable {
    public var mode: GEMMMode
    public var threads: Int

    public init(_ mode: GEMMMode, threads: Int = 1) { self.mode = mode; self.threads = max(1, threads) }

    /// The same GEMM on one thread: inside the workers of a parallel reduction, which are the
    /// parallelism themselves (see `BatchReduction.accumulate`).
    public var oneThread: GEMM { GEMM(mode, threads: 1) }

    /// C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C, row-major.
    @inline(__always)
    public func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                      b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        switch mode {
        case .openblas:
            cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        case .reference:
            ReferenceGEMM.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                                b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, threads: threads)
        }
    }
}

/// Facts about the OpenBLAS this process loaded. Nothing here changes them: the core type and
/// the thread count are set in `ProcessConfiguration`.
public enum BLAS {
    /// The kernel family OpenBLAS picked at load time (`OPENBLAS_CORETYPE` overrides it, read only
    /// when the library loads: changing it needs a new process, `ProcessConfiguration.reexec`).
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

    /// A core type asked for with `OPENBLAS_CORETYPE` that OpenBLAS did not load (a misspelled or
    /// unsupported name falls back silently).
    public struct CoreTypeFallback: Sendable, Equatable {
        public var requested: String
        public var loaded: String
    }

    /// Set when `OPENBLAS_CORETYPE` asked for a core that OpenBLAS did not load.
    public static var coreTypeFallback: CoreTypeFallback? {
        guard let asked = requestedCoreType, asked.lowercased() != coreName.lowercased() else { return nil }
        return CoreTypeFallback(requested: asked, loaded: coreName)
    }

    /// BLAS facts for the environment profile of a record, with OpenBLAS running `threads` threads.
    static func environment(threads: Int) -> [String: String] {
        var env = ["blas.library": "openblas", "blas.version": version, "blas.core": coreName, "blas.config": config,
                   "blas.threads": String(threads)]
        env["blas.coretype.requested"] = requestedCoreType ?? "(auto)"
        return env
    }
}
