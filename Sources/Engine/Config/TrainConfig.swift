import Foundation
import Recorder

/// A train.json (v1), parsed and checked: every default filled in, every unknown key refused
/// with its JSON path. `resolved` is the complete config as JSON, stored in records.
public struct TrainConfig {
    public var given: JSON
    /// Relative paths in the config resolve against this directory (the config file's own).
    public var baseDirectory: String
    public var name: String
    public var seed: UInt64
    public var semantics: Semantics
    public var data: DataConfig
    public var layers: [JSON]
    public var initPath: String?
    public var loss: LossConfig
    public var optimizer: OptimizerConfig
    public var schedule: ScheduleConfig?
    public var training: TrainingConfig
    public var determinism: DeterminismConfig
    public var record: RecordConfig
    /// Files embedded in a record (name as written in the config -> bytes); used instead of the
    /// file system when replaying, so a replay needs nothing but the record.
    public var embedded: [String: [UInt8]] = [:]

    public struct DataConfig: Equatable {
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
        public var synthetic: JSON?
        /// The safetensors dataset's keys (`path`, `classes`, `scale`), with `dataset: "safetensors"`.
        public var safetensors: JSON?
    }
    public struct LossConfig: Equatable { public var labelSmoothing: Float }
    public struct OptimizerConfig: Equatable {
        public var type: String
        public var lr: Float
        public var momentum: Float
        public var nesterov: Bool
        public var weightDecay: Float
        public var beta1: Float
        public var beta2: Float
        public var epsilon: Float
        public var rho: Float
    }
    public struct ScheduleConfig: Equatable { public var stepSize: Int; public var gamma: Float }
    public struct TrainingConfig: Equatable { public var epochs: Int; public var maxSteps: Int? }
    public struct DeterminismConfig: Equatable { public var threads: Int; public var gemm: String; public var reduction: String }
    public struct RecordConfig: Equatable { public var level: RecordLevel; public var keepTensors: Int; public var checkpointEvery: Int }

    /// Reads and checks a config file.
    public static func load(path: String) throws -> TrainConfig {
        let data = try readFile(path, what: "config file")
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return try parse(JSON.parse(Array(data), source: path), baseDirectory: dir)
    }

    public static func parse(_ json: JSON, baseDirectory: String) throws -> TrainConfig {
        let root = try ConfigObject(json, path: "")
        _ = try root.int("version", range: 1...1)
        let name = try root.string("name") ?? "run"
        guard let seedValue = try root.double("seed") ?? Optional(0), seedValue >= 0, seedValue == seedValue.rounded(), seedValue < 0x1p53 else {
            throw InputError("seed: expected a non-negative integer below 2^53")
        }
        let profile = try root.choice("semantics", Semantics.profiles, default: "pytorch")!
        var semantics = Semantics(profile: profile)
        if let o = try root.object("overrides") { try semantics.apply(o.values, path: "overrides") }

        guard let d = try root.object("data") else { throw InputError("data: missing; give {\"dataset\": \"digits\"} or a data.source") }
        let dataset = try d.choice("dataset", ["digits", "synthetic", "safetensors"])
        let source = d.raw("source")
        if dataset == nil && source == nil { throw InputError("data: give \"dataset\" (digits, synthetic or safetensors) or \"source\" (idx, cifar10, csv)") }
        if dataset != nil && source != nil { throw InputError("data: give either \"dataset\" or \"source\", not both") }
        let data = DataConfig(
            dataset: dataset, source: source,
            batchSize: try d.int("batchSize", default: 32, range: 1...1_000_000),
            shuffle: try d.bool("shuffle", default: true), shuffleSeed: try optionalSeed(d, "shuffleSeed"),
            order: try d.string("order"),
            dropLast: try d.bool("dropLast", default: false), augment: d.raw("augment"),
            normalize: d.raw("normalize"),
            synthetic: dataset == "synthetic" ? .object(d.values.filter { ["shape", "classes", "trainSize", "testSize"].contains($0.key) }) : nil,
            safetensors: dataset == "safetensors" ? try safetensorsKeys(d) : nil)
        if dataset == "synthetic" { for k in ["shape", "classes", "trainSize", "testSize"] { _ = d.raw(k) } }
        try d.finish()

        guard let m = try root.object("model") else { throw InputError("model: missing; give {\"layers\": [...]} or {\"architecture\": {...}}") }
        // Exactly one of `layers` and `architecture` (a preset, expanded here: Architectures.swift).
        guard m.has("layers") != m.has("architecture") else {
            throw InputError("model: give exactly one of \"layers\" (a list of layers) or \"architecture\" (a preset: \(Architectures.names.joined(separator: ", ")))")
        }
        let layers = try m.raw("architecture").map { try Architectures.expand($0, path: "model.architecture") } ?? m.array("layers") ?? []
        if layers.isEmpty { throw InputError("model.layers: empty; give at least one layer") }
        let initPath = try m.string("init")
        try m.finish()

        var loss = LossConfig(labelSmoothing: 0)
        if let l = try root.object("loss") {
            _ = try l.choice("type", ["crossEntropy"])
            let ls = try l.double("labelSmoothing", default: 0)
            guard (0..<1).contains(ls) else { throw InputError("loss.labelSmoothing: \(ls) must be in [0, 1)") }
            loss.labelSmoothing = Float(ls)
            try l.finish()
        }

        let o = try root.object("optimizer") ?? ConfigObject(.object([:]), path: "optimizer")
        let type = try o.choice("type", ["sgd", "adam", "rmsprop"], default: "sgd")!
        let defaultLR: Double = switch type {
        case "sgd": semantics.double("sgd.lr")
        case "adam": 1e-3
        default: semantics.double("rmsprop.lr")
        }
        func positive(_ key: String, _ dflt: Double, allowZero: Bool = true, below1: Bool = false) throws -> Float {
            let v = try o.double(key, default: dflt)
            guard v >= 0, allowZero || v > 0, !below1 || v < 1 else {
                throw InputError("optimizer.\(key): \(v) is out of range; expected \(below1 ? "0 <= value < 1" : "a non-negative number")")
            }
            return Float(v)
        }
        let optimizer = OptimizerConfig(
            type: type, lr: try positive("lr", defaultLR), momentum: try positive("momentum", 0, below1: true),
            nesterov: try o.bool("nesterov", default: false), weightDecay: try positive("weightDecay", 0),
            beta1: try positive("beta1", 0.9, below1: true), beta2: try positive("beta2", 0.999, below1: true),
            epsilon: try positive("epsilon", semantics.double(type == "rmsprop" ? "rmsprop.epsilon" : "adam.epsilon")),
            rho: try positive("rho", semantics.double("rmsprop.rho"), below1: true))
        if optimizer.nesterov && optimizer.momentum == 0 { throw InputError("optimizer.nesterov: needs a momentum > 0") }
        try o.finish()

        var schedule: ScheduleConfig?
        if let s = try root.object("schedule") {
            _ = try s.choice("type", ["step"], default: "step")
            let gamma = try s.double("gamma", default: 0.1)
            guard gamma > 0, gamma.isFinite else {
                throw InputError("schedule.gamma: \(gamma) must be a positive number (lr is multiplied by gamma every stepSize)")
            }
            schedule = ScheduleConfig(stepSize: try s.int("stepSize", default: 10, range: 1...Int.max), gamma: Float(gamma))
            try s.finish()
        }

        let t = try root.object("training") ?? ConfigObject(.object([:]), path: "training")
        let training = TrainingConfig(epochs: try t.int("epochs", default: 1, range: 1...100_000),
                                      maxSteps: try t.int("maxSteps", range: 1...Int.max))
        try t.finish()

        let det = try root.object("determinism") ?? ConfigObject(.object([:]), path: "determinism")
        let determinism = DeterminismConfig(
            threads: try det.int("threads", default: 1, range: 1...256),
            gemm: try det.choice("gemm", ["openblas", "reference"], default: "openblas")!,
            reduction: try det.choice("reduction", ReductionMode.allCases.map(\.rawValue), default: "sequential")!)
        try det.finish()

        let r = try root.object("record") ?? ConfigObject(.object([:]), path: "record")
        let record = RecordConfig(
            level: RecordLevel(rawValue: try r.choice("level", RecordLevel.allCases.map(\.rawValue), default: "grads")!)!,
            keepTensors: try r.int("keepTensors", default: 0, range: -1...Int.max),
            checkpointEvery: try r.int("checkpointEvery", default: 0, range: 0...Int.max))
        try r.finish()
        try root.finish()

        return TrainConfig(given: json, baseDirectory: baseDirectory, name: name, seed: UInt64(seedValue),
                           semantics: semantics, data: data, layers: layers, initPath: initPath, loss: loss,
                           optimizer: optimizer, schedule: schedule, training: training,
                           determinism: determinism, record: record)
    }

    /// `data.path` (required), `data.classes` and `data.scale` of `"dataset": "safetensors"`, checked.
    static func safetensorsKeys(_ d: ConfigObject) throws -> JSON {
        guard let path = try d.string("path"), !path.isEmpty else {
            throw InputError("data.path: missing; \"dataset\": \"safetensors\" reads the file data.path (train.images, train.labels, test.images, test.labels)")
        }
        var keys: [String: JSON] = ["path": .string(path)]
        if let k = try d.int("classes", range: 2...100_000) { keys["classes"] = .number(Double(k)) }
        if let s = try d.double("scale") {
            guard s > 0, s.isFinite else { throw InputError("data.scale: \(s) must be a positive number (the multiplier of U8 pixels)") }
            keys["scale"] = .number(s)
        }
        return .object(keys)
    }

    /// An optional seed: a non-negative integer below 2^53.
    static func optionalSeed(_ o: ConfigObject, _ key: String) throws -> UInt64? {
        guard let v = try o.double(key) else { return nil }
        guard v >= 0, v == v.rounded(), v < 0x1p53 else {
            throw InputError("\(o.path.isEmpty ? key : "\(o.path).\(key)"): expected a non-negative integer below 2^53")
        }
        return UInt64(v)
    }

    /// An absolute path for a path given in the config.
    public func resolvePath(_ p: String) -> String {
        p.hasPrefix("/") ? p : URL(fileURLWithPath: baseDirectory).appendingPathComponent(p).standardizedFileURL.path
    }

    /// The complete config: every default filled in, semantics resolved. Stored in records.
    public var resolved: JSON {
        // Float32 settings print as their shortest decimal (0.1, not 0.10000000149011612).
        func n(_ f: Float) -> JSON { .number(Double("\(f)") ?? Double(f)) }
        var data: [String: JSON] = ["batchSize": .number(Double(self.data.batchSize)), "shuffle": .bool(self.data.shuffle),
                                    "dropLast": .bool(self.data.dropLast)]
        if let v = self.data.dataset { data["dataset"] = .string(v) }
        if let v = self.data.source { data["source"] = v }
        if let v = self.data.order { data["order"] = .string(v) }
        // Only when given: records without it keep their resolved config (and config hash).
        if let v = self.data.shuffleSeed { data["shuffleSeed"] = .number(Double(v)) }
        if let v = self.data.augment { data["augment"] = v }
        if let v = self.data.normalize { data["normalize"] = v }
        if case .object(let s)? = self.data.synthetic { for (k, v) in s { data[k] = v } }
        if case .object(let s)? = self.data.safetensors { for (k, v) in s { data[k] = v } }
        var model: [String: JSON] = ["layers": .array(layers)]
        if let p = initPath { model["init"] = .string(p) }
        var root: [String: JSON] = [
            "name": .string(name), "seed": .number(Double(seed)), "semantics": .string(semantics.profile),
            "knobs": semantics.json, "data": .object(data), "model": .object(model),
            "loss": .object(["type": .string("crossEntropy"), "labelSmoothing": n(loss.labelSmoothing)]),
            "optimizer": .object(["type": .string(optimizer.type), "lr": n(optimizer.lr), "momentum": n(optimizer.momentum),
                                  "nesterov": .bool(optimizer.nesterov), "weightDecay": n(optimizer.weightDecay),
                                  "beta1": n(optimizer.beta1), "beta2": n(optimizer.beta2), "epsilon": n(optimizer.epsilon),
                                  "rho": n(optimizer.rho)]),
            "training": .object(["epochs": .number(Double(training.epochs))].merging(training.maxSteps.map { ["maxSteps": .number(Double($0))] } ?? [:]) { a, _ in a }),
            "determinism": .object(["threads": .number(Double(determinism.threads)), "gemm": .string(determinism.gemm),
                                    "reduction": .string(determinism.reduction)]),
            "record": .object(["level": .string(record.level.rawValue), "keepTensors": .number(Double(record.keepTensors)),
                               "checkpointEvery": .number(Double(record.checkpointEvery))]),
        ]
        if let s = schedule { root["schedule"] = .object(["type": .string("step"), "stepSize": .number(Double(s.stepSize)), "gamma": n(s.gamma)]) }
        return .object(root)
    }
}
