import COpenBLAS
import Foundation
import Recorder

/// What cwrepro sets for the whole process, in one place: the only process-wide state the engine
/// changes. Everything else travels in values (`Context`, `GEMM`, `TrainConfig`).
///
/// OpenBLAS keeps two settings per process, and both change result bits:
///
/// - **Its kernels (the core type).** OpenBLAS picks a kernel family when the library loads, from
///   the CPU or from `OPENBLAS_CORETYPE`; a running process cannot change it. To run on a record's
///   kernels the command line re-executes itself with `OPENBLAS_CORETYPE` set (`reexec(coreType:)`,
///   once: `reexecMarker` stops a loop), and child processes that must load other kernels (the
///   probes of `cwrepro env`) start with `childEnvironment(coreType:)`. Both check first that this
///   CPU runs the kernels asked for (`OpenBLASCore`), and `startUp` checks the binary's own
///   instructions (`checkRequestedCoreType`: a user's `OPENBLAS_CORETYPE`): the only doors to other
///   kernels, each with the check in front, so a wrong core type is an error (exit 4), never SIGILL.
/// - **Its thread count** (`openblas_set_num_threads`). A training run holds the count it needs for
///   its whole duration (`withOpenBLAS(threads:_:)`, taken by `Trainer.run`). Runs on one thread
///   share the process (`explain` trains such runs concurrently); a run on more threads has OpenBLAS
///   to itself until it ends, and its parallel reductions switch OpenBLAS to one thread while their
///   workers run (`withOpenBLASOnOneThread`). The count is not restored when a run ends: the next
///   run sets its own. Nothing else in cwrepro calls `openblas_set_num_threads`.
///
/// A re-exec hands over the inputs already read from pipes (`ReexecInputs`: a pipe is read once).
///
/// It also knows this process's own executable (`executable`), which the re-exec and every worker
/// or probe process run.
public enum ProcessConfiguration {
    // MARK: OpenBLAS kernels

    /// Set in a re-executed process to the core the parent had loaded ("Haswell"): says that the
    /// re-exec happened, and prevents a second one when the asked-for core does not load.
    public static let reexecMarker = "CWREPRO_REEXEC_FROM_CORE"

    /// The core type to re-execute with so that OpenBLAS loads `recorded`, or nil: no core
    /// recorded, already loaded, or this process is itself the re-exec (`environment` holds the
    /// marker).
    public static func coreTypeToRequest(recorded: String?,
                                         environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard environment[reexecMarker] == nil, let core = recorded, !core.isEmpty,
              core.lowercased() != BLAS.coreName.lowercased() else { return nil }
        return core
    }

    /// Replaces this process with the same command line under `OPENBLAS_CORETYPE=coreType`
    /// (OpenBLAS reads it only when the library loads), to run on the kernels a record or golden
    /// (`source`) was made with. Inputs already read from a pipe (`--golden /dev/stdin`) go along
    /// (`ReexecInputs`): the new process could not read them again. Throws `UnsupportedCPUError`
    /// when this CPU cannot run the kernels (never a re-exec into SIGILL), `InputError` when a
    /// pipe's bytes cannot be handed over; returns only when the exec failed.
    public static func reexec(coreType: String, source: String) throws {
        try OpenBLASCore.checkRecorded(coreType, source: source)
        let inputs = try ReexecInputs.handOver()
        setenv("OPENBLAS_CORETYPE", coreType, 1)
        setenv(reexecMarker, BLAS.coreName, 1)
        execv(executable.path, CommandLine.unsafeArgv)
        ReexecInputs.withdraw(inputs)   // the exec failed: this process reads what it kept
    }

    /// What a re-exec achieved, seen from the re-executed process.
    public enum ReexecOutcome: Sendable, Equatable {
        /// This process was not re-executed.
        case notReexecuted
        /// OpenBLAS now runs the asked-for kernels.
        case patched(from: String, to: String, requested: String)
        /// OpenBLAS did not load the asked-for core (the CPU or the library lacks those kernels).
        case notHonoured(requested: String, loaded: String)
    }

    /// In a re-executed process: whether the asked-for core loaded.
    public static func reexecOutcome(environment: [String: String] = ProcessInfo.processInfo.environment) -> ReexecOutcome {
        guard let from = environment[reexecMarker] else { return .notReexecuted }
        let asked = environment["OPENBLAS_CORETYPE"] ?? "?"
        if asked.lowercased() == BLAS.coreName.lowercased() { return .patched(from: from, to: BLAS.coreName, requested: asked) }
        return .notHonoured(requested: asked, loaded: BLAS.coreName)
    }

    /// The environment for a child process of this executable: this one's, with
    /// `OPENBLAS_CORETYPE=coreType`, or without `OPENBLAS_CORETYPE` (OpenBLAS's own choice) when nil.
    /// Throws `UnsupportedCPUError` when this CPU cannot run `coreType`'s kernels.
    public static func childEnvironment(coreType: String?) throws -> [String: String] {
        if let coreType { try OpenBLASCore.checkRequested(requested: coreType) }
        var env = ProcessInfo.processInfo.environment
        if let coreType { env["OPENBLAS_CORETYPE"] = coreType } else { env.removeValue(forKey: "OPENBLAS_CORETYPE") }
        return env
    }

    /// This process's executable: what a re-exec and every worker or probe process run.
    public static var executable: URL {
        #if os(Linux)
        URL(fileURLWithPath: "/proc/self/exe")
        #else
        URL(fileURLWithPath: Bundle.main.executablePath ?? CommandLine.arguments[0])
        #endif
    }

    // MARK: Start-up

    /// What every cwrepro process checks before it computes: that this CPU runs the binary (AVX2
    /// and FMA; `CPUFeatures.checkBinary`, compiled for any x86-64). Under `CWREPRO_CPU_FLAGS` (a
    /// simulated older CPU) OpenBLAS has still picked its kernels from the real CPU: when those
    /// cannot run on the simulated one, the process re-executes itself with the core type OpenBLAS
    /// would pick there, so the simulation covers the kernels too. Returns that core type when
    /// the re-exec failed (nil otherwise); throws `UnsupportedCPUError`.
    /// A process re-executed by `reexec` takes over the inputs it was handed (`ReexecInputs`).
    public static func startUp() throws -> String? {
        let cpu = CPUFeatures.current
        try cpu.checkBinary()
        guard cpu.restricted, BLAS.requestedCoreType == nil, case .missing = OpenBLASCore.support(BLAS.coreName, on: cpu),
              let core = OpenBLASCore.autoChoice(on: cpu) else {
            ReexecInputs.adopt()
            return nil
        }
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv(executable.path, CommandLine.unsafeArgv)
        ReexecInputs.adopt()
        return core
    }

    /// Checks the core type `OPENBLAS_CORETYPE` selected (OpenBLAS loaded it already; its kernels run
    /// at the first matrix product): throws `UnsupportedCPUError` when this CPU cannot run them.
    public static func checkRequestedCoreType() throws { try OpenBLASCore.checkRequested() }

    // MARK: OpenBLAS threads

    /// The thread count OpenBLAS runs with now.
    public static var openBLASThreads: Int { Int(openblas_get_num_threads()) }

    /// Runs `body` with OpenBLAS on `threads` threads, held for the whole of `body` (see the type's
    /// documentation: shared between runs on one thread, exclusive otherwise; waits until it can be
    /// had). Nested calls on the same thread must ask for the count already held.
    public static func withOpenBLAS<T>(threads: Int, _ body: () throws -> T) rethrows -> T {
        let n = max(1, threads)
        if let held = heldByThisThread {
            precondition(held == n, "a run on \(n) OpenBLAS threads inside one on \(held): one thread count per run")
            return try body()
        }
        lease.acquire(n, exclusive: n > 1)
        heldByThisThread = n
        defer { heldByThisThread = nil; lease.release(restoring: nil) }
        return try body()
    }

    /// Runs `body` with OpenBLAS on one thread (the workers of a parallel reduction are the
    /// parallelism: threads inside threads would oversubscribe the cores), then puts back the
    /// count that was in force. OpenBLAS's own results do not depend on which thread calls it.
    /// Never waits: under a shared hold the count is 1 already; under an exclusive one it is the
    /// calling run's to change; with no hold it is taken for `body`.
    public static func withOpenBLASOnOneThread<T>(_ body: () throws -> T) rethrows -> T {
        switch lease.oneThread() {
        case .alreadyOne:
            return try body()
        case .switched(let previous):
            defer { lease.set(previous) }
            return try body()
        case .taken(let previous):
            defer { lease.release(restoring: previous) }
            return try body()
        }
    }

    /// BLAS facts for a record's environment profile, as a run on `threads` OpenBLAS threads sees
    /// them (nil: the count in force now).
    public static func openBLASEnvironment(threads: Int?) -> [String: String] {
        guard let threads else { return BLAS.environment(threads: openBLASThreads) }
        return withOpenBLAS(threads: threads) { BLAS.environment(threads: openBLASThreads) }
    }

    /// Who holds OpenBLAS's thread count. The only mutable state behind this type.
    private static let lease = ThreadLease()

    /// The count this thread holds (nil: none), so that nested holds do not wait for themselves.
    private static var heldByThisThread: Int? {
        get { Thread.current.threadDictionary[heldKey] as? Int }
        set { Thread.current.threadDictionary[heldKey] = newValue }
    }
    private static let heldKey = "cwrepro.openblas.threads"

    /// Shared or exclusive holds on OpenBLAS's thread count.
    private final class ThreadLease: @unchecked Sendable {
        private let condition = NSCondition()
        private var holders = 0
        private var exclusive = false
        private var count = 0

        func acquire(_ n: Int, exclusive wantsExclusive: Bool) {
            condition.lock()
            defer { condition.unlock() }
            // A shared hold joins others on the same count; anything else waits for the last holder.
            while holders > 0 && (wantsExclusive || exclusive || count != n) { condition.wait() }
            if holders == 0 {
                if Int(openblas_get_num_threads()) != n { openblas_set_num_threads(Int32(n)) }
                count = n
                exclusive = wantsExclusive
            }
            holders += 1
        }

        func release(restoring previous: Int?) {
            condition.lock()
            defer { condition.unlock() }
            holders -= 1
            if holders == 0 {
                if let previous, previous != Int(openblas_get_num_threads()) { openblas_set_num_threads(Int32(previous)) }
                exclusive = false
                condition.broadcast()
            }
        }

        enum OneThread { case alreadyOne, switched(previous: Int), taken(previous: Int) }

        /// OpenBLAS on one thread for the caller: as it is (count 1: no hold, or a shared one),
        /// switched under the exclusive hold of the caller's run, or taken exclusively (no hold).
        func oneThread() -> OneThread {
            condition.lock()
            defer { condition.unlock() }
            let now = Int(openblas_get_num_threads())
            if now == 1 { return .alreadyOne }
            if holders > 0 {
                precondition(exclusive, "OpenBLAS on \(now) threads under a shared hold")
                openblas_set_num_threads(1)
                return .switched(previous: now)
            }
            openblas_set_num_threads(1)
            count = 1
            exclusive = true
            holders = 1
            return .taken(previous: now)
        }

        /// Changes the count under an exclusive hold.
        func set(_ n: Int) {
            condition.lock()
            defer { condition.unlock() }
            precondition(exclusive && holders == 1, "OpenBLAS's thread count changed without an exclusive hold")
            openblas_set_num_threads(Int32(n))
        }
    }
}
