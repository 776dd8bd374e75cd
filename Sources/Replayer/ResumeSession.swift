import Engine
import Foundation
import Recorder

/// `cwrepro record --resume`: continues an interrupted record from its last checkpoint, into the
/// same file; the finished record is bit-identical to an uninterrupted one. Making the session
/// checks the record and rebuilds the run, refuses what could not continue bit for bit (changed
/// data, an environment that cannot be patched: `ResumeRefusal`), and leaves the record untouched;
/// `prepare` discards the steps committed after the checkpoint; `run` trains the rest.
///
/// The recorded OpenBLAS core is matched like a replay's: the command line re-executes on it
/// first (`coreTypeToRequest(path:)`, then `ProcessConfiguration.reexec`, which refuses a core
/// this CPU cannot run), and the run holds the recorded OpenBLAS thread count.
public final class ResumeSession {
    public struct Options: Sendable {
        /// Keep training through NaN or Inf values.
        public var allowNonFinite = false
        /// Where the run's data files are now, if they moved (their fingerprints still decide).
        public var dataLocation = DataLocation()
        public init(allowNonFinite: Bool = false, dataLocation: DataLocation = DataLocation()) {
            self.allowNonFinite = allowNonFinite; self.dataLocation = dataLocation
        }
    }

    public let path: String
    public let config: TrainConfig
    let resumption: Resumption
    let trainer: Trainer
    let recorder: Recorder
    private(set) var checkpoint: Checkpoint?
    /// Differences from the recording's machine that were patched (the OpenBLAS core by the
    /// re-exec, its thread count).
    public let patches: [EnvironmentPatch.Patch]
    /// Facts that differ but cannot change the resumed steps' bits (the CPU's flags with the same
    /// kernels; BLAS facts for a run on the reference GEMM).
    public let harmlessChanges: [Change]

    /// The training step the run continues after (nil: from initialisation, no checkpoint yet).
    public var resumesAfterStep: Int? { checkpoint?.step }
    /// Committed steps after the checkpoint, discarded to be trained again.
    public var discardedSteps: Int { resumption.discardedSteps }
    public var totalSteps: Int { trainer.totalSteps }
    /// Set by `run` when readers kept the finished record from being one file (it is sealed and
    /// valid; the caller says what remains beside it).
    public private(set) var walRemains: RecordWALRemains?

    /// The OpenBLAS core type to re-execute with before resuming `path` (nil: none needed, the run
    /// uses the reference GEMM, the record is not `running`, or this process is the re-exec).
    public static func coreTypeToRequest(path: String) throws -> String? {
        let reader = try RecordReader(path: path)
        guard reader.status == .running else { return nil }
        return EnvironmentPatch.coreTypeToRequest(reader)
    }

    /// Reopens the record and rebuilds its run (config, level and embedded files from the record);
    /// the record is untouched until `prepare`.
    public init(path: String, options: Options = Options()) throws {
        self.path = path
        let r = try RecordWriter.resume(path: path)
        resumption = r
        var config: TrainConfig
        do {
            config = try RecordedConfig.parse(given: r.meta["config_given"] ?? "", configPath: r.meta["config_path"] ?? "", source: path)
        } catch let e as InputError {
            throw RecordReadError.corrupt(path, "its config no longer parses (\(e.message))")
        }
        config.embedded = r.artifacts
        if let l = r.meta["level"].flatMap(RecordLevel.init(rawValue:)) { config.record.level = l }
        guard config.resolved.text == r.meta["config_resolved"] else {
            let recorded = (try? JSON.parse(Array((r.meta["config_resolved"] ?? "").utf8), source: path)) ?? .null
            throw ResumeMismatch(path: path, changes: Change.between(recorded, config.resolved))
        }
        config.dataLocation = options.dataLocation
        self.config = config
        recorder = Recorder(seed: config.seed, level: config.record.level)
        trainer = try Trainer(config: config, recorder: recorder)
        trainer.stopOnNonFinite = !options.allowNonFinite
        let recordedEnv = (r.meta["environment"]?.data(using: .utf8)).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: String] } ?? [:]
        let openblas = config.determinism.gemm == .openblas
        var patches = EnvironmentPatch.reexecOutcome().patches
        if openblas, let p = EnvironmentPatch.patchThreads(recorded: recordedEnv, configChanges: [], trainer: trainer) { patches.append(p) }
        self.patches = patches
        let changes = Change.environment(recordedEnv, EnvironmentPatch.currentEnvironment(config, openBLASThreads: trainer.openBLASThreads,
                                                                                           data: trainer.data))
        let verdict = Self.judge(changes, openblas: openblas, path: path, config: config)
        if let refusal = verdict.refusal { throw refusal }
        harmlessChanges = verdict.harmless
        r.writer.keepTensors = config.record.keepTensors
    }

    /// Sorts the differences between the recording's machine and this one (after patching): data
    /// that changed, an OpenBLAS core that did not load, and other bit-relevant facts are refused;
    /// the CPU's flags alone (same kernels) and, on the reference GEMM, BLAS facts are harmless.
    static func judge(_ changes: [Change], openblas: Bool, path: String, config: TrainConfig) -> (refusal: ResumeRefusal?, harmless: [Change]) {
        let data = changes.filter { EnvironmentProfile.dataKeys.contains($0.key) }
        if !data.isEmpty {
            return (.dataChanged(record: path, changes: data, files: DataFile.feeding(data.map(\.key), config)), [])
        }
        let harmless = changes.filter { $0.key == "cpu.flags" || (!openblas && $0.key.hasPrefix("blas.")) }
        let relevant = changes.filter { !harmless.contains($0) }
        if let core = relevant.of("blas.core") {
            return (.coreNotLoaded(record: path, recorded: core.old ?? "?", loaded: core.new ?? "?"), harmless)
        }
        if !relevant.isEmpty { return (.environmentChanged(record: path, changes: relevant), harmless) }
        return (nil, harmless)
    }

    /// Reads the last checkpoint and discards the steps committed after it (`resumesAfterStep`
    /// and `discardedSteps` then say where the run continues).
    public func prepare() throws {
        checkpoint = try resumption.checkpoint.map { try Checkpoint.decode($0.bytes, source: path) }
        try resumption.discardAfterCheckpoint()
    }

    public func run(progress: ((StepSummary) -> Void)? = nil) throws -> TrainingOutcome {
        let sink = RecordingSink(resumption.writer)
        defer { walRemains = sink.walRemains }
        let result = try TrainingSession.train(trainer, recorder: recorder, into: sink, from: checkpoint,
                                               source: path, progress: progress)
        let tensors = try RecordReader(path: path).steps().reduce(0) { $0 + $1.tensorCount }
        let trained = result.steps - (checkpoint.map { $0.step + 1 } ?? 0)
        return TrainingSession.outcome(trainer, result, record: path, tensors: tensors, trained: trained, exported: nil)
    }
}

/// This build resolves a record's config differently from the build that recorded it: resumed
/// steps could not be bit-identical.
public struct ResumeMismatch: Error, Equatable, Sendable {
    public var path: String
    public var changes: [Change]
}

/// Why `record --resume` refuses to continue a record here: the resumed steps could not be
/// bit-identical to an uninterrupted run, so the finished record could never replay. Nothing is
/// changed in the record.
public enum ResumeRefusal: Error, Equatable, Sendable {
    /// The data the run reads differ from the recorded run's (their fingerprints); `files` are
    /// the data files that feed the changed sets, as the config names and resolves them.
    case dataChanged(record: String, changes: [Change], files: [DataFile])
    /// The recorded OpenBLAS core was asked for (a re-exec) and OpenBLAS loaded another.
    case coreNotLoaded(record: String, recorded: String, loaded: String)
    /// Other bit-relevant facts differ and cannot be patched: the OpenBLAS build or version, libc,
    /// the Swift compiler, cwrepro, the architecture.
    case environmentChanged(record: String, changes: [Change])
}

/// A data file a run reads: its config key (`data.source.trainImages`, `data.path`) and its path
/// as resolved (against the config's directory, or where `--data-dir` points).
public struct DataFile: Equatable, Sendable {
    public var key: String
    public var path: String

    /// The files of `config` that feed the data sets named by `dataKeys` (`data.train`,
    /// `data.test`): keys naming "train" or "test" feed that set only; the others (`path`,
    /// `images`, `directory`, a safetensors file) feed both.
    public static func feeding(_ dataKeys: [String], _ config: TrainConfig) -> [DataFile] {
        var files: [DataFile] = []
        if let s = config.data.safetensors { files.append(DataFile(key: "data.path", path: config.resolvePath(s.path))) }
        if case .object(let o)? = config.data.source {
            for k in ["path", "train", "test", "images", "labels", "trainImages", "trainLabels", "testImages", "testLabels", "directory"] {
                if case .string(let p)? = o[k] { files.append(DataFile(key: "data.source.\(k)", path: config.resolvePath(p))) }
            }
        }
        let wanted = Set(dataKeys.map { $0.replacingOccurrences(of: "data.", with: "") })   // "train", "test"
        return files.filter { f in
            let name = f.key.split(separator: ".").last.map { $0.lowercased() } ?? ""
            let only = ["train", "test"].filter { name.contains($0) }
            return only.isEmpty || only.contains(where: wanted.contains)
        }
    }
}
