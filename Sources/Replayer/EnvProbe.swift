import Engine
import Foundation
import Recorder

/// `cwrepro env`: this machine's nondeterminism profile, and an sgemm probe over OpenBLAS core
/// types and thread counts that finds which settings change result bits.
public enum EnvProbe {
    /// The probe of one OpenBLAS core type, run in a child process started with it.
    public struct CoreProbe: Codable, Equatable, Sendable {
        public var requested: String
        /// The core OpenBLAS loaded (differs from `requested` when the core type is unavailable).
        public var loaded: String
        public var results: [BLASProbe.Result]

        /// Whether OpenBLAS loaded the core asked for.
        public var available: Bool { loaded.lowercased() == requested.lowercased() }
    }

    /// One conclusion of the probe.
    public enum Finding: Equatable, Sendable {
        /// The core OpenBLAS picks by itself, and the one this process runs (`requested`: OPENBLAS_CORETYPE).
        case cores(auto: String, here: String, requested: String?)
        /// OpenBLAS silently loads another core instead of this one.
        case unavailable(requested: String, loaded: String)
        /// 1 vs `threads` threads change the bits of `core` at these sizes.
        case threadsChangeBits(core: String, threads: Int, sizes: [Int])
        /// 1 vs `threads` threads give the same bits on these cores.
        case threadsKeepBits(threads: Int, cores: [String])
        /// Each other core against this process's, on `threads` threads: which differ (and at
        /// which sizes) and which give the same bits.
        case againstHere(here: String, threads: Int, differ: [CoreSizes], same: [String])
        /// The reference GEMM across thread counts (`changedSizes` empty: the same bits).
        case reference(threads: Int, changedSizes: [Int])
        /// Speed at the largest size on `threads` threads, in GFLOP/s.
        case speed(size: Int, threads: Int, reference: Double, openblas: [CoreSpeed])
    }

    public struct CoreSizes: Equatable, Sendable { public var core: String; public var sizes: [Int] }
    public struct CoreSpeed: Equatable, Sendable { public var core: String; public var gflops: Double }

    /// What `cwrepro env` found.
    public struct Report: Sendable {
        /// This process's environment profile (what a record stores).
        public var profile: [String: String]
        /// The core OpenBLAS picks without OPENBLAS_CORETYPE.
        public var autoCore: String
        /// Thread counts probed (empty: no probe).
        public var threads: [Int]
        public var sizes: [Int]
        /// The probe without OPENBLAS_CORETYPE.
        public var auto: [BLASProbe.Result]
        public var cores: [CoreProbe]
        public var reference: [BLASProbe.Result]
        /// The instruction set of the reference GEMM's kernels here ("avx512", "avx2", "portable"):
        /// they all give the same bits; it tells which speed the table shows.
        public var referenceKernels: String
        public var findings: [Finding]
        /// A core type asked for with OPENBLAS_CORETYPE that OpenBLAS did not load.
        public var coreTypeFallback: BLAS.CoreTypeFallback?
    }

    /// This process's profile (the OpenBLAS thread count in force).
    public static func profile() -> [String: String] {
        EnvironmentProfile.current(extra: ProcessConfiguration.openBLASEnvironment(threads: nil))
    }

    /// The profile alone, without probing.
    public static func profileOnly() -> Report {
        Report(profile: profile(), autoCore: BLAS.coreName, threads: [], sizes: [], auto: [], cores: [], reference: [],
               referenceKernels: ReferenceGEMM.kernelName, findings: [],
               coreTypeFallback: BLAS.coreTypeFallback)
    }

    /// Probes sgemm at `sizes` on 1 and all cores' threads: OpenBLAS's own choice and every core
    /// type this CPU can run, each in a child process whose command line is `probe(coreType,
    /// sizes, threads)` (its standard output: the results as JSON), and the reference GEMM here.
    /// `probing(core)` is called before each core type.
    public static func run(sizes: [Int], probe: ([Int], [Int]) -> [String], probing: ((String) -> Void)? = nil) throws -> Report {
        let profile = profile()
        let cpus = ProcessInfo.processInfo.activeProcessorCount
        let threads = cpus > 1 ? [1, cpus] : [1]
        func child(_ coreType: String?) throws -> [BLASProbe.Result] {
            let out = try ChildProcess(arguments: probe(sizes, threads), coreType: coreType).run()
            guard out.status == 0, let results = try? JSONDecoder().decode([BLASProbe.Result].self, from: out.stdout) else {
                throw InputError("the sgemm probe for core type \(coreType ?? "(auto)") failed (\(out.ending))")
            }
            return results
        }
        let auto = try child(nil)
        var cores: [CoreProbe] = []
        for core in BLASProbe.candidateCoreTypes() {
            probing?(core)
            let results = try child(core)
            cores.append(CoreProbe(requested: core, loaded: results.first?.core ?? "?", results: results))
        }
        let reference = BLASProbe.run(.reference, sizes: sizes, threads: threads)
        let autoCore = auto.first?.core ?? BLAS.coreName
        return Report(profile: profile, autoCore: autoCore, threads: threads, sizes: sizes, auto: auto, cores: cores, reference: reference,
                      referenceKernels: ReferenceGEMM.kernelName,
                      findings: findings(auto: auto, cores: cores, reference: reference, threads: threads),
                      coreTypeFallback: BLAS.coreTypeFallback)
    }

    /// Which settings change the bits: the thread count per core type, each core type against
    /// this process's, and the reference GEMM across threads; and its speed.
    static func findings(auto: [BLASProbe.Result], cores: [CoreProbe], reference: [BLASProbe.Result], threads: [Int]) -> [Finding] {
        var out: [Finding] = []
        let autoCore = auto.first?.core ?? "?", here = BLAS.coreName
        func hashes(_ rs: [BLASProbe.Result], threads t: Int) -> [Int: String] {
            Dictionary(rs.filter { $0.threads == t }.map { ($0.size, $0.hash) }) { a, _ in a }
        }
        var available = cores.filter(\.available)
        if !available.contains(where: { $0.loaded == autoCore }) { available.append(CoreProbe(requested: autoCore, loaded: autoCore, results: auto)) }
        out.append(.cores(auto: autoCore, here: here, requested: BLAS.requestedCoreType))
        for c in cores where !available.contains(where: { $0.requested == c.requested }) {
            out.append(.unavailable(requested: c.requested, loaded: c.loaded))
        }
        if let many = threads.last, many > 1 {
            var stable: [String] = []
            for c in available {
                let one = hashes(c.results, threads: 1), n = hashes(c.results, threads: many)
                let changed = one.keys.filter { one[$0] != n[$0] }.sorted()
                if changed.isEmpty { stable.append(c.loaded) } else { out.append(.threadsChangeBits(core: c.loaded, threads: many, sizes: changed)) }
            }
            if !stable.isEmpty { out.append(.threadsKeepBits(threads: many, cores: stable)) }
        }
        if let base = available.first(where: { $0.loaded == here }) {
            for t in threads {
                let b = hashes(base.results, threads: t)
                var same: [String] = [], differ: [CoreSizes] = []
                for c in available where c.loaded != here {
                    let h = hashes(c.results, threads: t)
                    let changed = b.keys.filter { b[$0] != h[$0] }.sorted()
                    if changed.isEmpty { same.append(c.loaded) } else { differ.append(CoreSizes(core: c.loaded, sizes: changed)) }
                }
                out.append(.againstHere(here: here, threads: t, differ: differ, same: same))
            }
        }
        if let many = threads.last {
            let one = hashes(reference, threads: 1), n = hashes(reference, threads: many)
            out.append(.reference(threads: many, changedSizes: one.keys.filter { one[$0] != n[$0] }.sorted()))
            if let big = reference.map(\.size).max(), let r = reference.first(where: { $0.size == big && $0.threads == many }) {
                let speeds = available.compactMap { c in
                    c.results.first { $0.size == big && $0.threads == many }.map { CoreSpeed(core: c.loaded, gflops: $0.gflops) }
                }
                out.append(.speed(size: big, threads: many, reference: r.gflops, openblas: speeds))
            }
        }
        return out
    }
}
