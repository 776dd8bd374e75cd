import Engine
import Foundation
import Recorder

/// What a training run ended with: `train`, `record` and `record --resume` alike.
public struct TrainingOutcome: Sendable {
    public var name: String
    /// Training steps in the run (all of them for a resumed one).
    public var steps: Int
    public var seconds: Double
    public var finalLoss: Float
    /// The last evaluation (nil: no training step ran).
    public var final: Evaluation?
    /// The record written (nil for plain training).
    public var record: String?
    /// Tensors the record holds: hashed by this run (`record`), or in all (`record --resume`).
    public var tensors: Int?
    /// Steps this process trained (fewer than `steps` after a resume).
    public var stepsTrained: Int
    /// XXH3-64 tensor hash of the final parameter buffer (layout order, BatchNorm buffers
    /// included): two runs end with the same parameters bit for bit exactly when these agree.
    public var parameterDigest: UInt64
    public var parameterCount: Int
    /// The safetensors file the final parameters were written to.
    public var exported: String?
}

/// Options every training session takes.
public struct TrainingOptions: Sendable {
    /// Write the final parameters to this safetensors file (PyTorch names and layouts).
    public var export: String?
    /// Keep training through NaN or Inf values (else stop at the first with `NonFiniteError`).
    public var allowNonFinite = false
    public init(export: String? = nil, allowNonFinite: Bool = false) { self.export = export; self.allowNonFinite = allowNonFinite }
}

/// `cwrepro train` and `cwrepro record`: a run built from a config (every input read and checked
/// when the session is made, before anything is trained or written), then trained by `run`.
public final class TrainingSession {
    public let config: TrainConfig
    public let options: TrainingOptions
    public let trainer: Trainer
    let recorder: Recorder
    /// Where `run` records (nil: plain training).
    let recording: (path: String, configPath: String, overwrite: Bool)?

    /// Plain training: the same numbers as a recorded run, nothing hashed.
    public init(training config: TrainConfig, options: TrainingOptions = TrainingOptions()) throws {
        self.config = config
        self.options = options
        recorder = .plain(seed: config.seed)
        trainer = try Trainer(config: config, recorder: recorder)
        recording = nil
    }

    /// A recorded run into `output` (created by `run`; an existing file is replaced only with
    /// `overwrite`). `configPath` is stored in the record: relative paths resolve against its directory.
    public init(recording config: TrainConfig, configPath: String, output: String, overwrite: Bool,
                options: TrainingOptions = TrainingOptions()) throws {
        self.config = config
        self.options = options
        recorder = Recorder(seed: config.seed, level: config.record.level)
        trainer = try Trainer(config: config, recorder: recorder)
        recording = (output, URL(fileURLWithPath: configPath).standardizedFileURL.path, overwrite)
    }

    public var totalSteps: Int { trainer.totalSteps }

    public func run(progress: ((StepSummary) -> Void)? = nil) throws -> TrainingOutcome {
        trainer.stopOnNonFinite = !options.allowNonFinite
        guard let recording else {
            let result = try trainer.run(progress: progress)
            return try finish(result, record: nil, tensors: nil, trained: result.steps)
        }
        let header = RecordHeader(
            configGiven: config.given.text, configResolved: config.resolved.text, configPath: recording.configPath,
            semantics: config.semantics.profile.rawValue, level: config.record.level,
            environment: EnvironmentPatch.currentEnvironment(config, data: trainer.data), cwreproVersion: EnvironmentProfile.cwreproVersion)
        let writer = try RecordWriter(path: recording.path, header: header, keepTensors: config.record.keepTensors, overwrite: recording.overwrite,
                                      inputs: [recording.configPath])
        for a in trainer.artifacts { try writer.addArtifact(name: a.name, bytes: a.bytes) }
        let result = try Self.train(trainer, recorder: recorder, into: writer, from: nil, source: recording.path, progress: progress)
        return try finish(result, record: recording.path, tensors: recorder.eventsEnded, trained: result.steps)
    }

    /// Runs `trainer` into `writer`: checkpoints go into the record, a failure marks it `failed`.
    static func train(_ trainer: Trainer, recorder: Recorder, into writer: RecordWriter, from checkpoint: Checkpoint?, source: String,
                      progress: ((StepSummary) -> Void)?) throws -> RunResult {
        recorder.sink = writer
        trainer.checkpointHandler = { step, bytes in try writer.checkpoint(step: step, bytes: bytes) }
        do {
            let result = try trainer.run(from: checkpoint, source: source, progress: progress)
            try writer.finish()
            return result
        } catch {
            try? writer.finish(.failed(reason: "\(error)"))
            throw error
        }
    }

    /// The outcome, after writing the weights file when asked.
    func finish(_ r: RunResult, record: String?, tensors: Int?, trained: Int) throws -> TrainingOutcome {
        try Self.export(trainer, to: options.export)
        return Self.outcome(trainer, r, record: record, tensors: tensors, trained: trained, exported: options.export)
    }

    static func outcome(_ trainer: Trainer, _ r: RunResult, record: String?, tensors: Int?, trained: Int, exported: String?) -> TrainingOutcome {
        let params = trainer.model.params
        let digest = TensorHash.tensor(dtype: .float32, shape: [params.count],
                                       raw: UnsafeRawBufferPointer(start: params.values, count: params.count * MemoryLayout<Float>.size))
        return TrainingOutcome(name: trainer.config.name, steps: r.steps, seconds: r.seconds, finalLoss: r.finalLoss, final: r.final,
                               record: record, tensors: tensors, stepsTrained: trained, parameterDigest: digest,
                               parameterCount: params.count, exported: exported)
    }

    /// Writes the final parameters (PyTorch names and layouts) when `path` is given.
    static func export(_ trainer: Trainer, to path: String?) throws {
        guard let path else { return }
        try SafeTensors.write(trainer.model.params.snapshot(), metadata: ["format": "pt", "producer": "cwrepro"], to: path)
    }
}

/// `cwrepro record --resume`: continues an interrupted record from its last checkpoint, into the
/// same file; the finished record is bit-identical to an uninterrupted one. Making the session
/// checks the record and rebuilds the run, and discards the steps committed after the
/// checkpoint; `run` trains the rest.
public final class ResumeSession {
    public let path: String
    public let config: TrainConfig
    let resumption: Resumption
    let trainer: Trainer
    let recorder: Recorder
    private(set) var checkpoint: Checkpoint?
    /// Bit-relevant facts of this machine that differ from the recording's (resumed steps may
    /// then not be bit-identical).
    public let environmentChanges: [Change]

    /// The training step the run continues after (nil: from initialisation, no checkpoint yet).
    public var resumesAfterStep: Int? { checkpoint?.step }
    /// Committed steps after the checkpoint, discarded to be trained again.
    public var discardedSteps: Int { resumption.discardedSteps }
    public var totalSteps: Int { trainer.totalSteps }

    /// Reopens the record and rebuilds its run (config, level and embedded files from the record);
    /// the record is untouched until `prepare`.
    public init(path: String, allowNonFinite: Bool = false) throws {
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
        self.config = config
        recorder = Recorder(seed: config.seed, level: config.record.level)
        trainer = try Trainer(config: config, recorder: recorder)
        trainer.stopOnNonFinite = !allowNonFinite
        let recordedEnv = (r.meta["environment"]?.data(using: .utf8)).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: String] } ?? [:]
        environmentChanges = Change.environment(recordedEnv, EnvironmentPatch.currentEnvironment(config, data: trainer.data))
        r.writer.keepTensors = config.record.keepTensors
    }

    /// Reads the last checkpoint and discards the steps committed after it (`resumesAfterStep`
    /// and `discardedSteps` then say where the run continues).
    public func prepare() throws {
        checkpoint = try resumption.checkpoint.map { try Checkpoint.decode($0.bytes, source: path) }
        try resumption.discardAfterCheckpoint()
    }

    public func run(progress: ((StepSummary) -> Void)? = nil) throws -> TrainingOutcome {
        let result = try TrainingSession.train(trainer, recorder: recorder, into: resumption.writer, from: checkpoint, source: path, progress: progress)
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
