import Engine
import Foundation
import Recorder

/// Re-executes a recorded run from the record alone (its config, embedded files and seed) and
/// compares every hash as it is produced.
public enum ReplaySession {
    /// - Parameters:
    ///   - sets: `key=value` changes applied to the recorded config (dotted JSON paths; values parse
    ///     as JSON when they can, else as strings), e.g. `optimizer.lr=0.05`.
    ///   - untilDiverge: stop at the end of the first step with a divergent event.
    ///   - patch: match the recorded OpenBLAS thread count (`--no-patch` turns it off). The core
    ///     type is patched before the process starts (`EnvironmentPatch`); pass what that did in
    ///     `patches` and `warnings` so the report shows it.
    public static func replay(path: String, sets: [String] = [], untilDiverge: Bool = false, patch: Bool = true,
                              patches: [String] = [], warnings: [String] = [],
                              progress: ((StepSummary) -> Void)? = nil) throws -> ReplayReport {
        let reader = try RecordReader(path: path)
        let (config, changes) = try configForReplay(reader, sets: sets)
        let sink = try ReplaySink(reader: reader, untilDiverge: untilDiverge)
        let recorder = Recorder(seed: config.seed, level: reader.level, sink: sink)
        let trainer = try Trainer(config: config, recorder: recorder)
        var patches = patches, warnings = warnings
        if patch, let p = EnvironmentPatch.patchThreads(recorded: reader.environment, configChanges: changes, trainer: trainer) { patches.append(p) }
        if let f = BLAS.coreTypeFallback {
            warnings.append("OPENBLAS_CORETYPE=\(f.requested) was not honoured: OpenBLAS loaded \(f.loaded) (a misspelled or unsupported core type falls back silently)")
        }
        let envChanges = ConfigDiff.environment(reader.environment, currentEnvironment(config, openBLASThreads: trainer.openBLASThreads, data: trainer.data))
        _ = try trainer.run(progress: progress)
        let steps = try reader.steps()
        var report = ReplayReport(
            record: path, recordComplete: reader.isComplete, stepsReplayed: recorder.step,
            stepsRecorded: steps.filter { $0.step >= 0 }.count, tensorsCompared: sink.compared,
            divergentSteps: sink.divergentSteps, firstDivergence: sink.firstTensor, firstDivergentDraw: sink.firstDraw,
            cause: nil, causeDetail: nil, configChanges: changes, environmentChanges: envChanges,
            evaluationMismatches: sink.evaluationMismatches, stoppedAtFirstDivergence: untilDiverge && sink.firstTensor != nil)
        report.stepsReplayed = min(report.stepsReplayed, report.stepsRecorded)
        report.patches = patches
        report.environmentWarnings = warnings
        report.patchingDisabled = !patch
        report.openblas = config.determinism.gemm == .openblas
        (report.cause, report.causeDetail) = diagnose(report)
        return report
    }

    /// The recorded config with `sets` applied, its embedded files attached; and the list of
    /// resolved-config changes the sets made.
    public static func configForReplay(_ reader: RecordReader, sets: [String]) throws -> (TrainConfig, [String]) {
        var given = try JSON.parse(Array(reader.configGiven.utf8), source: "\(reader.path) (recorded config)")
        try given.apply(sets: sets)
        let dir = URL(fileURLWithPath: reader.configPath).deletingLastPathComponent().path
        var config = try TrainConfig.parse(given, baseDirectory: dir)
        for name in try reader.artifactNames() { config.embedded[name] = try reader.artifact(name) }
        let recorded = try JSON.parse(Array(reader.configResolved.utf8), source: "\(reader.path) (resolved config)")
        return (config, ConfigDiff.changes(recorded, config.resolved))
    }

    /// This machine's profile as a run of `config` sees it (OpenBLAS on `openBLASThreads`, default
    /// the config's thread count), plus the fingerprint of the loaded `data` when given.
    public static func currentEnvironment(_ config: TrainConfig, openBLASThreads: Int? = nil, data: DataSplit? = nil) -> [String: String] {
        let blas = ProcessConfiguration.openBLASEnvironment(threads: openBLASThreads ?? config.determinism.threads)
        return EnvironmentProfile.current(extra: blas.merging(data?.fingerprint ?? [:]) { a, _ in a })
    }

    /// Names the likely cause from the evidence, most specific first: a divergent draw or order,
    /// a divergent batch, a config change, a parallel reduction's order, an environment change,
    /// else nondeterministic numerics.
    static func diagnose(_ r: ReplayReport) -> (Cause?, String?) {
        guard !r.identical else { return (nil, nil) }
        let config = r.configChanges.isEmpty ? "" : "; config changed: " + r.configChanges.joined(separator: ", ")
        if let d = r.firstDivergentDraw {
            return d.role == "order" ? (.dataOrder, "the data order at \(d.name) differs\(config)")
                                     : (.randomDraw, "the random draws at site \(d.name) differ\(config)")
        }
        let data = r.environmentChanges.filter { c in EnvironmentProfile.dataKeys.contains { c.hasPrefix($0 + ":") } }
        if !data.isEmpty, let d = r.firstDivergence ?? r.firstDivergentDraw {
            return (.dataOrder, "the data differ from the recorded run's (\(data.joined(separator: "; "))): a data file changed; first seen at \(d.name)\(config)")
        }
        if let d = r.firstDivergence, d.role == "batch" {
            return (.dataOrder, "the batch differs (\(d.kind == .structure ? "shape \(d.expectedShape ?? []) -> \(d.actualShape ?? [])" : "same shape, different samples or values"))\(config)")
        }
        if !r.configChanges.isEmpty {
            return (.configChanged, r.configChanges.joined(separator: ", "))
        }
        if let d = r.firstDivergence, d.role == TensorRole.reduction.rawValue, d.kind == .hash {
            // Two runs compared (diff, verify): a replay imposes the recorded order, a second run does not.
            return (.numerics, "the parallel reduction \(d.name) combined its partial sums in another order (its worker threads finished in another order); a replay of the record imposes the recorded order")
        }
        let env = EnvironmentPatch.relevant(r.environmentChanges, openblas: r.openblas)
        if !env.isEmpty {
            var detail = "the machine differs: " + env.joined(separator: ", ")
            if let core = env.first(where: { $0.hasPrefix("blas.core:") }) {
                let recorded = core.dropFirst("blas.core: ".count).components(separatedBy: " -> ").first ?? "?"
                detail = "the OpenBLAS core differs (\(core)): its kernels round differently" +
                    (env.count > 1 ? "; also " + env.filter { $0 != core }.joined(separator: ", ") : "") +
                    (r.patchingDisabled ? "; replay without --no-patch to re-execute with OPENBLAS_CORETYPE=\(recorded)" : "")
            }
            return (.environment, detail)
        }
        return (.numerics, "same config, draws, data and environment: nondeterministic arithmetic (reduction order or threads)")
    }
}
