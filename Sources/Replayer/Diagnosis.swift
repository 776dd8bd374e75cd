import Engine
import Recorder

/// Why a comparison diverged, from the evidence at the first divergent event.
public enum Cause: String, Codable, Sendable {
    /// A random draw differs (seed or draw site changed).
    case randomDraw = "random draw"
    /// The data order or the batch differs (order, shuffle, batch size, data).
    case dataOrder = "data order"
    /// Draws and batches agree, the config differs: the changed setting altered the numerics.
    case configChanged = "config changed"
    /// Same config, different machine facts (BLAS core, threads, CPU, build).
    case environment
    /// Same config and environment: nondeterministic arithmetic (reduction order, threads).
    case numerics
}

/// What a comparison found, for `diagnose`: the first divergent events and what differs
/// between the two sides' configs and machines.
public struct Evidence: Sendable {
    public var first: FirstDivergences
    public var configChanges: [Change]
    /// Environment facts that differ (bit-relevant ones: `Change.environment`).
    public var environmentChanges: [Change]
    /// The run's GEMM is OpenBLAS (so BLAS facts can change its bits).
    public var openblas: Bool
    /// The comparison ran on this machine's OpenBLAS core as it is (`replay` without patching).
    public var patchingDisabled: Bool
    /// This machine's CPU, to tell whether the recorded core could have been patched in.
    public var cpu: CPUFeatures

    public init(first: FirstDivergences, configChanges: [Change], environmentChanges: [Change], openblas: Bool = true,
                patchingDisabled: Bool = false, cpu: CPUFeatures = .current) {
        self.first = first; self.configChanges = configChanges; self.environmentChanges = environmentChanges
        self.openblas = openblas; self.patchingDisabled = patchingDisabled; self.cpu = cpu
    }

    /// Environment changes that can change the bits of this run (BLAS facts do not matter to a
    /// run on the reference GEMM).
    public var relevantEnvironmentChanges: [Change] {
        openblas ? environmentChanges : environmentChanges.filter { !$0.key.hasPrefix("blas.") }
    }
}

/// The likely cause of a divergence and the facts that point to it.
public struct Diagnosis: Equatable, Sendable {
    public enum Reason: Equatable, Sendable {
        /// The random draws at a site differ.
        case randomDraws(site: String)
        /// The data order at a site differs.
        case dataOrder(site: String)
        /// The data files differ from the recorded run's (their fingerprints); first seen at `firstSeenAt`.
        case dataFiles(changes: [Change], firstSeenAt: String)
        /// The batch differs: in shape (`structure`), or in samples or values.
        case batch(structure: Bool, expectedShape: [Int]?, actualShape: [Int]?)
        /// Only the config differs (`Diagnosis.configChanges`).
        case config
        /// A parallel reduction combined its partial sums in another order (two runs compared:
        /// a replay imposes the recorded order, a second run does not).
        case reductionOrder(site: String)
        /// The machine differs; `core` is the OpenBLAS core change among `changes`, if any.
        case environment(changes: [Change], core: Change?)
        /// Same config, draws, data and environment: nondeterministic arithmetic.
        case arithmetic
        /// Every checked step matched: the evaluation itself changed (verify).
        case evaluation
    }

    public var reason: Reason
    /// Config changes seen beside the reason (the whole story when the reason is `config`).
    public var configChanges: [Change]
    /// The comparison ran without re-executing on the recorded core (`replay` without patching).
    public var patchingDisabled: Bool
    /// When a comparison ran here without patching, the recorded OpenBLAS core differs and this
    /// CPU cannot run it: the features it lacks (patching is then impossible here too).
    public var recordedCoreMissing: [String]?

    public init(reason: Reason, configChanges: [Change] = [], patchingDisabled: Bool = false, recordedCoreMissing: [String]? = nil) {
        self.reason = reason; self.configChanges = configChanges; self.patchingDisabled = patchingDisabled
        self.recordedCoreMissing = recordedCoreMissing
    }

    /// The cause the reason points to (nil for an evaluation that changed on its own).
    public var cause: Cause? {
        switch reason {
        case .randomDraws: .randomDraw
        case .dataOrder, .dataFiles, .batch: .dataOrder
        case .config: .configChanged
        case .reductionOrder, .arithmetic: .numerics
        case .environment: .environment
        case .evaluation: nil
        }
    }

    /// The most specific cause the evidence supports: a divergent draw or order, data files that
    /// changed, a divergent batch, a config change, a parallel reduction's order, an environment
    /// change, else nondeterministic arithmetic. Call it when something diverged.
    public static func diagnose(_ e: Evidence) -> Diagnosis {
        let config = e.configChanges
        if let d = e.first.draw {
            return Diagnosis(reason: d.role == .order ? .dataOrder(site: d.name) : .randomDraws(site: d.name), configChanges: config)
        }
        let data = e.environmentChanges.filter { EnvironmentProfile.dataKeys.contains($0.key) }
        if !data.isEmpty, let d = e.first.tensor {
            return Diagnosis(reason: .dataFiles(changes: data, firstSeenAt: d.name), configChanges: config)
        }
        if let d = e.first.tensor, d.role == .batch {
            return Diagnosis(reason: .batch(structure: d.kind == .structure, expectedShape: d.expectedShape, actualShape: d.actualShape),
                             configChanges: config)
        }
        if !config.isEmpty { return Diagnosis(reason: .config, configChanges: config) }
        if let d = e.first.tensor, d.role == .reduction, d.kind == .hash { return Diagnosis(reason: .reductionOrder(site: d.name)) }
        let env = e.relevantEnvironmentChanges
        if !env.isEmpty {
            let core = env.of("blas.core")
            var missing: [String]?
            if e.patchingDisabled, let recorded = core?.old, case .missing(let m) = OpenBLASCore.support(recorded, on: e.cpu) { missing = m }
            return Diagnosis(reason: .environment(changes: env, core: core), patchingDisabled: e.patchingDisabled, recordedCoreMissing: missing)
        }
        return Diagnosis(reason: .arithmetic)
    }
}
