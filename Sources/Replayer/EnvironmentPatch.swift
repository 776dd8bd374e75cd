import Engine
import Foundation
import Recorder

/// Profile-and-patch: before a replay, compare this machine with the record's environment and
/// change what can be changed so the replay runs on the recorded kernels.
///
/// - OpenBLAS core type (`blas.core`): read by OpenBLAS when the library loads, so it cannot be
///   changed in a running process. The command line re-executes itself with OPENBLAS_CORETYPE set
///   (`coreTypeToRequest`, then `reexecOutcome` in the new process).
/// - OpenBLAS thread count (`blas.threads`): set directly (`patchThreads`).
/// - Everything else (CPU flags, BLAS version, libc, Swift, cwrepro): reported, not patchable.
/// Only records whose GEMM is `openblas` need the BLAS patches: the reference GEMM gives the same
/// bits on any core type and thread count.
public enum EnvironmentPatch {
    /// Set in the re-executed process to the core the parent had ("Haswell"): says the re-exec
    /// happened (and prevents a loop when the asked-for core does not load).
    public static let markerVariable = ProcessConfiguration.reexecMarker

    /// Whether the recorded run's GEMM was OpenBLAS (true when the record does not say).
    public static func usesOpenBLAS(_ reader: RecordReader) -> Bool {
        guard let resolved = try? JSON.parse(Array(reader.configResolved.utf8), source: reader.path),
              case .object(let det)? = resolved["determinism"], case .string(let gemm)? = det["gemm"] else { return true }
        return gemm == GEMMMode.openblas.rawValue
    }

    /// The OpenBLAS core type this process should be restarted with to match the record, or nil
    /// (same core, reference GEMM, no core in the record, or already re-executed once).
    public static func coreTypeToRequest(_ reader: RecordReader) -> String? {
        coreTypeToRequest(recorded: reader.environment, openblas: usesOpenBLAS(reader))
    }

    public static func coreTypeToRequest(recorded: [String: String], openblas: Bool,
                                         environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard openblas else { return nil }
        return ProcessConfiguration.coreTypeToRequest(recorded: recorded["blas.core"], environment: environment)
    }

    /// In a re-executed process: what the re-exec achieved, as a line for the user.
    public static func reexecOutcome(environment: [String: String] = ProcessInfo.processInfo.environment) -> (patch: String?, warning: String?) {
        switch ProcessConfiguration.reexecOutcome(environment: environment) {
        case .notReexecuted: return (nil, nil)
        case .patched(let from, let to, let asked): return ("OpenBLAS core \(from) -> \(to) (re-executed with OPENBLAS_CORETYPE=\(asked))", nil)
        case .notHonoured(let asked, let loaded):
            return (nil, "cannot patch the OpenBLAS core: the record used \(asked), and with OPENBLAS_CORETYPE=\(asked) this machine's OpenBLAS loads \(loaded) (the CPU or the library lacks those kernels)")
        }
    }

    /// Runs `trainer` on the recorded OpenBLAS thread count when it differs (unless the replay
    /// changes `determinism.threads` on purpose). Returns the patch made, if any.
    public static func patchThreads(recorded: [String: String], configChanges: [String], trainer: Trainer) -> String? {
        guard let want = recorded["blas.threads"].flatMap(Int.init),
              !configChanges.contains(where: { $0.hasPrefix("determinism.threads:") }) else { return nil }
        let was = ProcessConfiguration.withOpenBLAS(threads: trainer.openBLASThreads) { ProcessConfiguration.openBLASThreads }
        guard want != was else { return nil }
        trainer.openBLASThreads = want
        return "OpenBLAS threads \(was) -> \(want)"
    }

    /// Environment differences that can change the bits of this run (BLAS facts do not matter
    /// to a run on the reference GEMM).
    public static func relevant(_ changes: [String], openblas: Bool) -> [String] {
        openblas ? changes : changes.filter { !$0.hasPrefix("blas.") }
    }
}
