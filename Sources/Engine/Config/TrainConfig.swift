import Foundation
import Recorder

/// A train.json (v1), parsed and checked: every default filled in, every unknown key or value
/// refused with its JSON path. `resolved` is the complete config as JSON, stored in records.
///
/// Each section lists its keys once (`keys`: name, type, default, range); parsing and the
/// resolved form both derive from that list (ConfigKey.swift). A new setting is a field of its
/// section and one line in the section's `keys`.
public struct TrainConfig {
    public var given: JSON
    /// Relative paths in the config resolve against this directory (the config file's own).
    public var baseDirectory: String
    public var name: String
    public var seed: UInt64
    public var semantics: Semantics
    public var data: DataConfig
    public var model: ModelConfig
    public var loss: LossConfig
    public var optimizer: OptimizerConfig
    public var schedule: ScheduleConfig?
    public var training: TrainingConfig
    public var determinism: DeterminismConfig
    public var record: RecordConfig
    /// Files embedded in a record (name as written in the config -> bytes); used instead of the
    /// file system when replaying, so a replay needs nothing but the record.
    public var embedded: [String: [UInt8]] = [:]
    /// The file the config was read from (for `file:line:column` in errors; nil when rebuilt from a record).
    public var source: ConfigSource?
    /// Where data files are now (`DataLocation`): identity unless a replay points elsewhere.
    public var dataLocation = DataLocation()

    /// The model's layers, presets expanded (`model.layers`).
    public var layers: [JSON] {
        get { model.layers }
        set { model.layers = newValue }
    }
    /// `model.init`: initial weights (safetensors), relative to the config's directory.
    public var initPath: String? {
        get { model.initPath }
        set { model.initPath = newValue }
    }

    /// `data`: a built-in dataset or a file source, batching and order.
    public struct DataConfig: Equatable, ConfigSection {
        public var dataset: String?
        public var source: JSON?
        public var batchSize: Int
        public var shuffle: Bool
        /// Seed of the shuffling stream (`data/shuffle/epoch-<e>`); nil = the run seed. Set it to vary
        /// the data order alone, with initialisation and other draws fixed (or the reverse).
        public var shuffleSeed: UInt64?
        public var order: String?
        public var dropLast: Bool
        public var augment: JSON?
        public var normalize: JSON?
        /// The synthetic dataset's keys (`shape`, `classes`, `trainSize`, `testSize`), with `dataset: "synthetic"`.
        public var synthetic: JSON?
        /// `"dataset": "safetensors"`: the file and its settings (`path`, `classes`, `scale`).
        public var safetensors: SafeTensorsDataset?

        /// The keys of `"dataset": "safetensors"`, beside the others in `data` (SafeTensorsData.swift).
        public struct SafeTensorsDataset: Equatable, Sendable {
            /// The file, as written (relative to the config's directory).
            public var path: String
            /// `classes` (2...100,000); nil: the largest label + 1.
            public var classes: Int?
            /// Multiplier of U8 images (required for them, refused for F32 ones); nil: none.
            public var scale: Double?

            static func read(_ o: ConfigObject) throws -> SafeTensorsDataset {
                guard let path = try o.string("path"), !path.isEmpty else {
                    throw InputError("data.path: missing; \"dataset\": \"safetensors\" reads the file data.path (train.images, train.labels, test.images, test.labels)")
                }
                let scale = try o.double("scale")
                if let s = scale, !(s > 0 && s.isFinite) {
                    throw InputError("data.scale: \(s) must be a positive number (the multiplier of U8 pixels)")
                }
                return SafeTensorsDataset(path: path, classes: try o.int("classes", range: 2...100_000), scale: scale)
            }

            var resolved: [(String, JSON)] {
                [("path", .string(path))] + (classes.map { [("classes", .number(Double($0)))] } ?? []) + (scale.map { [("scale", .number($0))] } ?? [])
            }
        }

        static let syntheticKeys = ["shape", "classes", "trainSize", "testSize"]

        static var unread: DataConfig {
            DataConfig(dataset: nil, source: nil, batchSize: 0, shuffle: false, shuffleSeed: nil, order: nil, dropLast: false,
                       augment: nil, normalize: nil, synthetic: nil, safetensors: nil)
        }

        static var keys: [ConfigKey<DataConfig>] {
            [ConfigKey("dataset", read: { o, s, _ in s.dataset = try o.choice("dataset", ["digits", "synthetic", "safetensors"]) },
                       resolved: { s in s.dataset.map { [("dataset", .string($0))] } ?? [] }),
             ConfigKey("source", read: { o, s, _ in
                 s.source = o.raw("source")
                 if s.dataset == nil && s.source == nil { throw InputError("data: give \"dataset\" (digits, synthetic or safetensors) or \"source\" (idx, cifar10, csv)") }
                 if s.dataset != nil && s.source != nil { throw InputError("data: give either \"dataset\" or \"source\", not both") }
             }, resolved: { s in s.source.map { [("source", $0)] } ?? [] }),
             .int("batchSize", \.batchSize, default: 32, range: 1...1_000_000),
             .bool("shuffle", \.shuffle, default: true),
             // Resolved only when given: records without it keep their resolved config (and config hash).
             .seed("shuffleSeed", \.shuffleSeed),
             .string("order", \.order),
             .bool("dropLast", \.dropLast, default: false),
             .raw("augment", \.augment),
             .raw("normalize", \.normalize),
             // The synthetic dataset's own keys sit in `data` beside the others.
             ConfigKey("synthetic", read: { o, s, _ in
                 guard s.dataset == "synthetic" else { return }
                 s.synthetic = .object(o.values.filter { syntheticKeys.contains($0.key) })
                 for k in syntheticKeys { _ = o.raw(k) }
             }, resolved: { s in
                 guard case .object(let keys)? = s.synthetic else { return [] }
                 return keys.map { ($0.key, $0.value) }
             }),
             // The safetensors dataset's keys too.
             ConfigKey("safetensors", read: { o, s, _ in
                 guard s.dataset == "safetensors" else { return }
                 s.safetensors = try SafeTensorsDataset.read(o)
             }, resolved: { s in s.safetensors?.resolved ?? [] })]
        }
    }

    /// `model`: the layer list, or a preset expanded into one, and optional initial weights.
    public struct ModelConfig: Equatable, ConfigSection {
        public var layers: [JSON]
        public var initPath: String?

        static var unread: ModelConfig { ModelConfig(layers: [], initPath: nil) }

        static var keys: [ConfigKey<ModelConfig>] {
            [ConfigKey("layers", read: { o, s, _ in
                // Exactly one of `layers` and `architecture` (a preset, expanded here: Architectures.swift).
                guard o.has("layers") != o.has("architecture") else {
                    throw InputError("model: give exactly one of \"layers\" (a list of layers) or \"architecture\" (a preset: \(Architectures.names.joined(separator: ", ")))")
                }
                s.layers = try o.raw("architecture").map { try Architectures.expand($0, path: "model.architecture") } ?? o.array("layers") ?? []
                if s.layers.isEmpty { throw InputError("model.layers: empty; give at least one layer") }
            }, resolved: { [("layers", .array($0.layers))] }),
             ConfigKey("init", read: { o, s, _ in s.initPath = try o.string("init") },
                       resolved: { s in s.initPath.map { [("init", .string($0))] } ?? [] })]
        }
    }

    /// `loss`: cross-entropy with optional label smoothing.
    public struct LossConfig: Equatable, ConfigSection {
        public enum Kind: String, CaseIterable, Sendable { case crossEntropy }
        public var type: Kind
        public var labelSmoothing: Float

        public init(type: Kind = .crossEntropy, labelSmoothing: Float) { self.type = type; self.labelSmoothing = labelSmoothing }

        static var unread: LossConfig { LossConfig(labelSmoothing: 0) }

        static var keys: [ConfigKey<LossConfig>] {
            [.choice("type", \.type, default: .crossEntropy),
             .float("labelSmoothing", \.labelSmoothing, default: { _, _ in 0 }, check: { v, path in
                 guard (0..<1).contains(v) else { throw InputError("\(path): \(v) must be in [0, 1)") }
             })]
        }
    }

    /// `optimizer`: SGD, Adam or RMSprop and their hyperparameters. Defaults not given come from
    /// the semantics knobs (`sgd.lr`, `adam.epsilon`, `rmsprop.*`).
    public struct OptimizerConfig: Equatable, ConfigSection {
        public enum Kind: String, CaseIterable, Sendable { case sgd, adam, rmsprop }
        public var type: Kind
        public var lr: Float
        public var momentum: Float
        public var nesterov: Bool
        public var weightDecay: Float
        public var beta1: Float
        public var beta2: Float
        public var epsilon: Float
        public var rho: Float

        public init(type: Kind, lr: Float, momentum: Float, nesterov: Bool, weightDecay: Float, beta1: Float, beta2: Float,
                    epsilon: Float, rho: Float) {
            self.type = type; self.lr = lr; self.momentum = momentum; self.nesterov = nesterov; self.weightDecay = weightDecay
            self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon; self.rho = rho
        }

        static var unread: OptimizerConfig {
            OptimizerConfig(type: .sgd, lr: 0, momentum: 0, nesterov: false, weightDecay: 0, beta1: 0, beta2: 0, epsilon: 0, rho: 0)
        }

        /// A non-negative hyperparameter (`below1`: also below 1).
        static func hyperparameter(_ name: String, _ field: WritableKeyPath<OptimizerConfig, Float>, below1: Bool = false,
                                   default d: @escaping (OptimizerConfig, KnobSettings) -> Double) -> ConfigKey<OptimizerConfig> {
            .float(name, field, default: d, check: { v, path in
                guard v >= 0, !below1 || v < 1 else {
                    throw InputError("\(path): \(v) is out of range; expected \(below1 ? "0 <= value < 1" : "a non-negative number")")
                }
            })
        }

        static var keys: [ConfigKey<OptimizerConfig>] {
            [.choice("type", \.type, default: .sgd),
             hyperparameter("lr", \.lr) { s, k in
                 switch s.type {
                 case .sgd: k.sgdLR
                 case .adam: 1e-3
                 case .rmsprop: k.rmspropLR
                 }
             },
             hyperparameter("momentum", \.momentum, below1: true) { _, _ in 0 },
             .bool("nesterov", \.nesterov, default: false),
             hyperparameter("weightDecay", \.weightDecay) { _, _ in 0 },
             hyperparameter("beta1", \.beta1, below1: true) { _, _ in 0.9 },
             hyperparameter("beta2", \.beta2, below1: true) { _, _ in 0.999 },
             hyperparameter("epsilon", \.epsilon) { s, k in s.type == .rmsprop ? k.rmspropEpsilon : k.adamEpsilon },
             hyperparameter("rho", \.rho, below1: true) { _, k in k.rmspropRho }]
        }

        func check(path: String) throws {
            if nesterov && momentum == 0 { throw InputError("\(path).nesterov: needs a momentum > 0") }
        }
    }

    /// `schedule`: a step schedule, lr * gamma^floor(t / stepSize) (`schedule.unit` says what t counts).
    public struct ScheduleConfig: Equatable, ConfigSection {
        public enum Kind: String, CaseIterable, Sendable { case step }
        public var type: Kind = .step
        public var stepSize: Int
        public var gamma: Float

        public init(stepSize: Int, gamma: Float) { self.stepSize = stepSize; self.gamma = gamma }

        static var unread: ScheduleConfig { ScheduleConfig(stepSize: 0, gamma: 0) }

        static var keys: [ConfigKey<ScheduleConfig>] {
            [.choice("type", \.type, default: .step),
             .float("gamma", \.gamma, default: { _, _ in 0.1 }, check: { v, path in
                 guard v > 0, v.isFinite else { throw InputError("\(path): \(v) must be a positive number (lr is multiplied by gamma every stepSize)") }
             }),
             .int("stepSize", \.stepSize, default: 10, range: 1...Int.max)]
        }
    }

    /// `training`: how long to train.
    public struct TrainingConfig: Equatable, ConfigSection {
        public var epochs: Int
        public var maxSteps: Int?

        public init(epochs: Int, maxSteps: Int?) { self.epochs = epochs; self.maxSteps = maxSteps }

        static var unread: TrainingConfig { TrainingConfig(epochs: 0, maxSteps: nil) }

        static var keys: [ConfigKey<TrainingConfig>] {
            [.int("epochs", \.epochs, default: 1, range: 1...100_000),
             .int("maxSteps", \.maxSteps, range: 1...Int.max)]
        }
    }

    /// `determinism`: threads, GEMM implementation and reduction order.
    public struct DeterminismConfig: Equatable, ConfigSection {
        public var threads: Int
        public var gemm: GEMMMode
        public var reduction: ReductionMode

        public init(threads: Int, gemm: GEMMMode, reduction: ReductionMode) { self.threads = threads; self.gemm = gemm; self.reduction = reduction }

        static var unread: DeterminismConfig { DeterminismConfig(threads: 0, gemm: .openblas, reduction: .sequential) }

        static var keys: [ConfigKey<DeterminismConfig>] {
            [.int("threads", \.threads, default: 1, range: 1...256),
             .choice("gemm", \.gemm, default: .openblas),
             .choice("reduction", \.reduction, default: .sequential)]
        }
    }

    /// `record`: what a recording hashes and keeps.
    public struct RecordConfig: Equatable, ConfigSection {
        public var level: RecordLevel
        public var keepTensors: Int
        public var checkpointEvery: Int

        public init(level: RecordLevel, keepTensors: Int, checkpointEvery: Int) {
            self.level = level; self.keepTensors = keepTensors; self.checkpointEvery = checkpointEvery
        }

        static var unread: RecordConfig { RecordConfig(level: .grads, keepTensors: 0, checkpointEvery: 0) }

        static var keys: [ConfigKey<RecordConfig>] {
            [.choice("level", \.level, default: .grads),
             .int("keepTensors", \.keepTensors, default: 0, range: -1...Int.max),
             .int("checkpointEvery", \.checkpointEvery, default: 0, range: 0...Int.max)]
        }
    }

    /// Reads and checks a config file (strictly: `ConfigSource`); errors name `file:line:column`.
    public static func load(path: String) throws -> TrainConfig { try File(path: path).config() }

    public static func parse(_ json: JSON, baseDirectory: String) throws -> TrainConfig {
        let root = try ConfigObject(json, path: "")
        _ = try root.int("version", range: 1...1)
        let name = try root.string("name") ?? "run"
        let seed = try readSeed(root, "seed") ?? 0
        var semantics = Semantics(profile: Semantics.Profile(rawValue: try root.choice("semantics", Semantics.profiles, default: "pytorch")!)!)
        if let o = try root.object("overrides") { try semantics.apply(o.values, path: "overrides") }

        guard let d = try root.object("data") else { throw InputError("data: missing; give {\"dataset\": \"digits\"} or a data.source") }
        let data = try DataConfig.read(d, path: "data", semantics: semantics)
        guard let m = try root.object("model") else { throw InputError("model: missing; give {\"layers\": [...]} or {\"architecture\": {...}}") }
        let model = try ModelConfig.read(m, path: "model", semantics: semantics)
        let loss = try LossConfig.read(root.object("loss"), path: "loss", semantics: semantics)
        let optimizer = try OptimizerConfig.read(root.object("optimizer"), path: "optimizer", semantics: semantics)
        let schedule = try root.object("schedule").map { try ScheduleConfig.read($0, path: "schedule", semantics: semantics) }
        let training = try TrainingConfig.read(root.object("training"), path: "training", semantics: semantics)
        let determinism = try DeterminismConfig.read(root.object("determinism"), path: "determinism", semantics: semantics)
        let record = try RecordConfig.read(root.object("record"), path: "record", semantics: semantics)
        try root.finish()

        return TrainConfig(given: json, baseDirectory: baseDirectory, name: name, seed: seed, semantics: semantics, data: data,
                           model: model, loss: loss, optimizer: optimizer, schedule: schedule, training: training,
                           determinism: determinism, record: record)
    }

    /// An absolute path for a path given in the config.
    public func resolvePath(_ p: String) -> String {
        dataLocation.resolve(p, baseDirectory: baseDirectory)
    }

    /// The complete config: every default filled in, semantics resolved (`knobs`). Stored in records.
    public var resolved: JSON {
        var root: [String: JSON] = [
            "name": .string(name), "seed": .number(Double(seed)), "semantics": .string(semantics.profile.rawValue),
            "knobs": semantics.json, "data": data.resolved, "model": model.resolved, "loss": loss.resolved,
            "optimizer": optimizer.resolved, "training": training.resolved, "determinism": determinism.resolved,
            "record": record.resolved,
        ]
        if let s = schedule { root["schedule"] = s.resolved }
        return .object(root)
    }
}
