import Foundation
import Recorder

/// Measures what this process's GEMM does: C = A B for square n x n matrices with fixed inputs
/// (uniform in [-1, 1) from the Philox stream `probe/sgemm/<n>`, seed 0), the XXH3-64 hash of C's
/// bits, and the speed of the fastest repetition. `cwrepro env` runs it in child processes, one per OpenBLAS core type
/// (OPENBLAS_CORETYPE is read when the library loads), and compares the hashes.
public enum BLASProbe {
    public struct Result: Codable, Equatable, Sendable {
        public var gemm: String
        public var core: String
        public var size: Int
        public var threads: Int
        public var hash: String
        public var gflops: Double

        public init(gemm: String, core: String, size: Int, threads: Int, hash: String, gflops: Double) {
            self.gemm = gemm; self.core = core; self.size = size; self.threads = threads; self.hash = hash; self.gflops = gflops
        }
    }

    /// One result per (size, thread count), for `mode`.
    public static func run(_ mode: GEMMMode, sizes: [Int], threads: [Int]) -> [Result] {
        var out: [Result] = []
        let recorder = Recorder.plain(seed: 0)
        for n in sizes {
            let a = recorder.uniform(site: "probe/sgemm/\(n)", count: 2 * n * n, low: -1, high: 1)
            var c = [Float](repeating: 0, count: n * n)
            for t in threads {
                let gemm = GEMM(mode, threads: t)
                let flops = 2.0 * Double(n) * Double(n) * Double(n)
                // Repeat until ~0.2 s (at least twice); the speed is the fastest repetition's (robust
                // to other load on the machine); every repetition must give the same bits.
                var reps = 0, seconds = 0.0, best = Double.infinity, hash: UInt64 = 0
                // OpenBLAS on t threads for the whole timing (set once, outside the timed calls).
                ProcessConfiguration.withOpenBLAS(threads: t) {
                    repeat {
                        let start = DispatchTime.now().uptimeNanoseconds
                        a.withUnsafeBufferPointer { ap in
                            c.withUnsafeMutableBufferPointer { cp in
                                gemm.sgemm(transA: false, transB: false, m: n, n: n, k: n, a: ap.baseAddress!, lda: n,
                                           b: ap.baseAddress! + n * n, ldb: n, beta: 0, c: cp.baseAddress!, ldc: n)
                            }
                        }
                        let t = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                        seconds += t
                        best = min(best, t)
                        let h = c.withUnsafeBytes { TensorHash.tensor(dtype: .float32, shape: [n, n], raw: $0) }
                        if reps == 0 { hash = h } else if h != hash { hash = 0 }   // 0: not even stable run to run
                        reps += 1
                    } while reps < 2 || (seconds < 0.2 && reps < 200)
                }
                out.append(Result(gemm: mode.rawValue, core: mode == .openblas ? BLAS.coreName : "reference", size: n,
                                  threads: t, hash: hash == 0 ? "unstable" : hex64(hash), gflops: flops / best / 1e9))
            }
        }
        return out
    }

    /// OpenBLAS core types worth probing on this CPU: one x86-64 kernel family per instruction-set
    /// generation, those whose kernels the CPU runs (`OpenBLASCore`: asking for others would crash).
    public static func candidateCoreTypes(cpu: CPUFeatures = .current) -> [String] {
        #if arch(x86_64)
        ["Prescott", "Nehalem", "Sandybridge", "Haswell", "Zen", "SkylakeX", "Cooperlake"]
            .filter { OpenBLASCore.support($0, on: cpu) == .runnable }
        #else
        [BLAS.coreName]
        #endif
    }
}
