import Engine
import Foundation
import Recorder

/// Profile-and-patch: before a replay (or a verification against a golden), compare this
/// machine with the recorded environment and change what can be changed, so the run uses the
/// recorded kernels.
///
/// - OpenBLAS core type (`blas.core`): read by OpenBLAS when the library loads, so it cannot be
///   changed in a running process. The command line re-executes itself with OPENBLAS_CORETYPE set
///   (`coreTypeToRequest`, then `ProcessConfiguration.reexec`), and the re-executed process reports
///   what that achieved (`reexecOutcome`).
/// - OpenBLAS thread count (`blas.threads`): the run holds the recorded count (`patchThreads`).
/// - Everything else (CPU flags, BLAS version, libc, Swift, cwrepro): reported, not patchable.
/// Only runs whose GEMM is `openblas` need the BLAS patches: the reference GEMM gives the same
/// bits on any core type and thread count.
public enum EnvironmentPatch {
    /// A difference that was patched.
    public enum Patch: Equatable, Sendable {
        /// This process was re-executed on the recorded OpenBLAS core.
        case core(from: String, to: String, requested: String)
        /// The run holds the recorded OpenBLAS thread count.
        case threads(from: Int, to: Int)
    }

    /// A difference that could not be patched, or a request that was not honoured.
    public enum Warning: Equatable, Sendable {
        /// The re-exec asked for the recorded core and OpenBLAS loaded another.
        case coreNotPatched(requested: String, loaded: String)
        /// `OPENBLAS_CORETYPE` asked for a core that OpenBLAS did not load.
        case coreTypeFallback(BLAS.CoreTypeFallback)
    }

    /// Set in the re-executed process to the core the parent had ("Haswell").
    public static let markerVariable = ProcessConfiguration.reexecMarker

    /// The OpenBLAS core type this process should be restarted with to match the record, or nil
    /// (same core, reference GEMM, no core in the record, or already re-executed once).
    public static func coreTypeToRequest(_ reader: RecordReader) -> String? {
        coreTypeToRequest(recorded: reader.environment, openblas: RecordedConfig.usesOpenBLAS(reader))
    }

    public static func coreTypeToRequest(recorded: [String: String], openblas: Bool,
                                         environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard openblas else { return nil }
        return ProcessConfiguration.coreTypeToRequest(recorded: recorded["blas.core"], environment: environment)
    }

    /// In a re-executed process: what the re-exec achieved.
    public static func reexecOutcome() -> (patches: [Patch], warnings: [Warning]) {
        switch ProcessConfiguration.reexecOutcome() {
        case .notReexecuted: return ([], [])
        case .patched(let from, let to, let requested): return ([.core(from: from, to: to, requested: requested)], [])
        case .notHonoured(let requested, let loaded): return ([], [.coreNotPatched(requested: requested, loaded: loaded)])
        }
    }

    /// Runs `trainer` on the recorded OpenBLAS thread count when it differs from the one the
    /// config gives (unless the replay changes `determinism.threads` on purpose).
    public static func patchThreads(recorded: [String: String], configChanges: [Change], trainer: Trainer) -> Patch? {
        guard let want = recorded["blas.threads"].flatMap(Int.init), configChanges.of("determinism.threads") == nil else { return nil }
        let was = ProcessConfiguration.withOpenBLAS(threads: trainer.openBLASThreads) { ProcessConfiguration.openBLASThreads }
        guard want != was else { return nil }
        trainer.openBLASThreads = want
        return .threads(from: was, to: want)
    }

    /// This machine's profile as a run of `config` sees it (OpenBLAS on `openBLASThreads`, default
    /// the config's thread count), plus the fingerprint of the loaded `data` when given.
    public static func currentEnvironment(_ config: TrainConfig, openBLASThreads: Int? = nil, data: DataSplit? = nil) -> [String: String] {
        currentEnvironment(config, openBLASThreads: openBLASThreads, fingerprints: data?.fingerprint ?? [:])
    }

    /// The same, with the data's fingerprints (`DataSplit.fingerprint`) computed by the caller.
    static func currentEnvironment(_ config: TrainConfig, openBLASThreads: Int? = nil, fingerprints: [String: String]) -> [String: String] {
        let blas = ProcessConfiguration.openBLASEnvironment(threads: openBLASThreads ?? config.determinism.threads)
        return EnvironmentProfile.current(extra: blas.merging(fingerprints) { a, _ in a })
    }
}
