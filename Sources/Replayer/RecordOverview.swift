import Engine
import Recorder

/// What a record holds (`cwrepro show`), read and checked: a tampered or damaged record is
/// reported (`RecordReadError`), never shown as truth. `integrity` says what the checks prove.
public struct RecordOverview: Sendable {
    public var path: String
    public var status: RecordStatus
    /// Another process was writing the record when it was opened (the run is still going).
    public var writerActive: Bool
    /// What the record's checks prove: sealed (with its detached digest), unsealed, legacy.
    public var integrity: RecordIntegrity
    public var schemaVersion: String
    public var createdAt: String
    public var finishedAt: String?
    public var semantics: String
    public var level: RecordLevel
    /// The config as given, and resolved (every default filled in).
    public var config: JSON
    public var resolvedConfig: JSON
    public var environment: [String: String]
    public var steps: [StepRow]
    public var evaluations: [Evaluation]
    /// Files embedded in the record (initial weights, batch order).
    public var artifacts: [String]

    /// The run's name (from the resolved config).
    public var name: String { if case .string(let s)? = resolvedConfig["name"] { s } else { "?" } }
    /// Training steps (the init step excluded).
    public var trainingSteps: [StepRow] { steps.filter { $0.step >= 0 } }
    public var tensorCount: Int { steps.reduce(0) { $0 + $1.tensorCount } }

    public static func load(path: String) throws -> RecordOverview {
        let r = try RecordReader(path: path)
        try r.verify()
        return RecordOverview(
            path: path, status: r.status, writerActive: r.writerActive, integrity: try r.integrity(), schemaVersion: r.meta["schema_version"] ?? "?", createdAt: r.meta["created_at"] ?? "?",
            finishedAt: r.meta["finished_at"], semantics: r.meta["semantics"] ?? "?", level: r.level,
            config: try JSON.parse(Array(r.configGiven.utf8), source: path), resolvedConfig: try JSON.parse(Array(r.configResolved.utf8), source: path),
            environment: r.environment, steps: try r.steps(), evaluations: try r.evaluations(), artifacts: try r.artifactNames())
    }

    /// The recorded model's layers (presets expanded, blocks with their children), rebuilt from
    /// the resolved config, with the input shape of the first recorded batch.
    public struct Layers: Sendable {
        public var inputShape: [Int]
        public var rows: [LayerSummary]
        public var trainableParameters: Int
        /// Non-trainable buffers (BatchNorm running statistics).
        public var buffers: Int
    }

    public static func layers(path: String) throws -> Layers {
        let r = try RecordReader(path: path)
        try r.verify()
        let model = try RecordedConfig.model(r)
        return Layers(inputShape: model.inputShape, rows: model.summary, trainableParameters: model.params.trainableCount,
                      buffers: model.params.count - model.params.trainableCount)
    }
}
