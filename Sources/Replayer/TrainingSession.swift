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
    /// Write the final parameters to this safetensors file (PyTorch names and layouts), through
    /// `OutputFile`: a temporary file renamed into place, checked before training starts.
    public var export: String?
    /// Replace an existing `export` file (only a regular file that is none of `inputs`).
    public var replaceExport = false
    /// The files the run reads (its config): never replaced by the export.
    public var inputs: [String] = []
    /// Keep training through NaN or Inf values (else stop at the first with `NonFiniteError`).
    public var allowNonFinite = false
    public init(export: String? = nil, replaceExport: Bool = false, inputs: [String] = [], allowNonFinite: Bool = false) {
        self.export = export; self.replaceExport = replaceExport; self.inputs = inputs; self.allowNonFinite = allowNonFinite
    }
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
        try Self.checkExport(options, record: nil)
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
        try Self.checkExport(options, record: output)
        RecordWriter.prepareInBackground()   // while the data loads
        self.config = config
        self.options = options
        recorder = Recorder(seed: config.seed, level: config.record.level)
        trainer = try Trainer(config: config, recorder: recorder)
        recording = (output, URL(fileURLWithPath: configPath).standardizedFileURL.path, overwrite)
    }

    public var totalSteps: Int { trainer.totalSteps }
    /// Set by `run` when readers kept the finished record from being one file (it is sealed and
    /// valid; the caller says what remains beside it).
    public private(set) var walRemains: RecordWALRemains?

    public func run(progress: ((StepSummary) -> Void)? = nil) throws -> TrainingOutcome {
        trainer.stopOnNonFinite = !options.allowNonFinite
        guard let recording else {
            let result = try trainer.run(progress: progress)
            return try finish(result, record: nil, tensors: nil, trained: result.steps)
        }
        // The data's fingerprints (a hash of every sample: 2 ms for MNIST) while the file is created.
        let data = trainer.data
        let fingerprints = BackgroundValue { data.fingerprint }
        let writer = try RecordingSink.create(path: recording.path, header: {
            RecordHeader(configGiven: config.given.text, configResolved: config.resolved.text, configPath: recording.configPath,
                         semantics: config.semantics.profile.rawValue, level: config.record.level,
                         environment: EnvironmentPatch.currentEnvironment(config, fingerprints: fingerprints.value),
                         cwreproVersion: EnvironmentProfile.cwreproVersion)
        }, keepTensors: config.record.keepTensors, overwrite: recording.overwrite, inputs: [recording.configPath])
        defer { walRemains = writer.walRemains }
        try writer.embed(trainer.artifacts.map { ($0.name, $0.bytes) })
        let result = try Self.train(trainer, recorder: recorder, into: writer, from: nil, source: recording.path, progress: progress)
        return try finish(result, record: recording.path, tensors: recorder.eventsEnded, trained: result.steps)
    }

    /// Runs `trainer` into `writer`: checkpoints go into the record; a non-finite value (or any
    /// other failure of training) seals it `failed`. A write failure (a full disk, a file-size
    /// limit) leaves it as a kill would, unsealed and resumable: `RecordingWriteFailure`.
    static func train(_ trainer: Trainer, recorder: Recorder, into writer: RecordingSink, from checkpoint: Checkpoint?, source: String,
                      progress: ((StepSummary) -> Void)?) throws -> RunResult {
        recorder.sink = writer
        trainer.checkpointHandler = { step, bytes in try writer.checkpoint(step: step, bytes: bytes) }
        let result: RunResult
        do {
            result = try trainer.run(from: checkpoint, source: source, progress: progress)
        } catch let e as RecordingWriteFailure {
            throw e   // the record stays as the failure left it: unsealed, every committed step intact
        } catch {
            try? writer.finish(.failed(reason: "\(error)"))
            throw error
        }
        try writer.finish(.complete)
        return result
    }

    /// The outcome, after writing the weights file when asked.
    func finish(_ r: RunResult, record: String?, tensors: Int?, trained: Int) throws -> TrainingOutcome {
        try Self.export(trainer, options, record: record)
        return Self.outcome(trainer, r, record: record, tensors: tensors, trained: trained, exported: options.export)
    }

    /// Checks the export file as an output before anything is trained (its directory exists; an
    /// existing file only with `replaceExport`, never an input or the record being written).
    static func checkExport(_ options: TrainingOptions, record: String?) throws {
        guard let export = options.export else { return }
        if let record, URL(fileURLWithPath: export).standardizedFileURL == URL(fileURLWithPath: record).standardizedFileURL {
            throw OutputError.isInput(export, input: record)
        }
        try OutputFile.check(export, force: options.replaceExport, inputs: options.inputs + (record.map { [$0] } ?? []))
    }

    static func outcome(_ trainer: Trainer, _ r: RunResult, record: String?, tensors: Int?, trained: Int, exported: String?) -> TrainingOutcome {
        let params = trainer.model.params
        let digest = TensorHash.tensor(dtype: .float32, shape: [params.count],
                                       raw: UnsafeRawBufferPointer(start: params.values, count: params.count * MemoryLayout<Float>.size))
        return TrainingOutcome(name: trainer.config.name, steps: r.steps, seconds: r.seconds, finalLoss: r.finalLoss, final: r.final,
                               record: record, tensors: tensors, stepsTrained: trained, parameterDigest: digest,
                               parameterCount: params.count, exported: exported)
    }

    /// Writes the final parameters (PyTorch names and layouts) when the options name a file:
    /// through a temporary file renamed into place, never over an input or the record.
    static func export(_ trainer: Trainer, _ options: TrainingOptions, record: String?) throws {
        guard let path = options.export else { return }
        let bytes = SafeTensors.encode(trainer.model.params.snapshot(), metadata: ["format": "pt", "producer": "cwrepro"])
        try OutputFile.write(bytes, to: path, force: options.replaceExport, inputs: options.inputs + (record.map { [$0] } ?? []))
    }
}
