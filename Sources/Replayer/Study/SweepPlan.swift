import Engine
import Foundation
import Recorder

/// One side of a study: A or B (a variance study has A only).
public enum StudySide: String, Codable, Sendable, CaseIterable, Comparable {
    case a, b
    public static func < (x: Self, y: Self) -> Bool { x.rawValue < y.rawValue }
}

/// One config change of a trial, in the order applied (the child's `--set key=value`).
public struct ConfigChange: Codable, Sendable, Equatable {
    public var key: String
    public var value: JSON
    public init(key: String, value: JSON) { self.key = key; self.value = value }
}

/// One point of the search space: the swept keys and their values.
public struct StudyPoint: Codable, Sendable, Equatable {
    /// Position in the plan (the order the search produced the points).
    public var index: Int
    public var values: [String: JSON]
}

/// One trial: one side's config at one point with one seed, recorded into its own file.
///
/// `id` is XXH3-64 of the trial's resolved config (every default filled in: `TrainConfig.resolved`),
/// so it names what is trained, not where, when or by which executor or shard: the same trial
/// always has the same id and record file, and a finished record is found again on a re-run.
public struct PlannedTrial: Codable, Sendable, Equatable {
    /// Number in the plan (grid and random searches: fixed by the sweep file).
    public var trial: Int
    public var id: String
    public var point: Int
    public var values: [String: JSON]
    public var side: StudySide
    public var seed: UInt64
    /// The side's config file (absolute path).
    public var config: String
    /// Applied to `config` in order: the fixed changes, the point's values, the seed, the profile.
    public var changes: [ConfigChange]
    /// The record, relative to the study directory (`runs/<side>-s<seed>-<id>.cwr`).
    public var record: String
}

/// A side as the study names it.
public struct StudySideInfo: Codable, Sendable, Equatable {
    public var side: StudySide
    /// The config's name, or the profile's for a profile pair.
    public var name: String
    public var config: String
    /// The profile a profile pair sets (nil: the config's own).
    public var profile: String?
}

/// The trials of a sweep: points (grid or random search, or proposed one at a time by Ray Tune),
/// times seeds, times sides. Every trial config is built and checked when planned, so bad input
/// is reported before anything trains.
public struct SweepPlan: Sendable {
    public var spec: SweepSpec
    public var sides: [StudySideInfo]
    public var seeds: [UInt64]
    public var points: [StudyPoint]
    public var trials: [PlannedTrial]
    /// The point each trial id belongs to (ids are unique in a plan).
    private var pointOfTrial: [String: Int] = [:]
    /// The memory limit the trials will run under, when known (the local executor: this
    /// machine's): a trial over it is refused when planned, as `record` would refuse it.
    public var memoryLimit: MemoryLimit?

    /// Significant digits kept of numbers drawn by a random search (readable points; a point is
    /// the same trial whether typed or drawn).
    public static let drawnDigits = 4

    /// The plan of a grid or random search (for a Tune search: no points yet, see `trials(at:)`).
    public static func make(_ spec: SweepSpec, memoryLimit: MemoryLimit? = nil) throws -> SweepPlan {
        var plan = try SweepPlan(spec: spec)
        plan.memoryLimit = memoryLimit
        switch spec.search {
        case .grid:
            for values in grid(spec.space) { try plan.add(values) }
        case .random(let n, let seed):
            for values in random(spec.space, count: n, seed: seed) where !plan.points.contains(where: { $0.values == values }) {
                try plan.add(values)
            }
        case .tune:
            break
        }
        return plan
    }

    /// The sides and seeds, checked (each side's config is read and built once).
    init(spec: SweepSpec) throws {
        self.spec = spec
        switch spec.sides {
        case .pair(let a, let b):
            let ca = try TrainConfig.load(path: a), cb = try TrainConfig.load(path: b)
            sides = [StudySideInfo(side: .a, name: ca.name, config: a), StudySideInfo(side: .b, name: cb.name, config: b)]
        case .profiles(let base, let pa, let pb):
            _ = try TrainConfig.load(path: base)
            sides = [StudySideInfo(side: .a, name: pa.rawValue, config: base, profile: pa.rawValue),
                     StudySideInfo(side: .b, name: pb.rawValue, config: base, profile: pb.rawValue)]
        case .single(let base):
            sides = [StudySideInfo(side: .a, name: try TrainConfig.load(path: base).name, config: base)]
        }
        switch spec.seeds {
        case .list(let l): seeds = l
        case .count(let n):
            let first = try TrainConfig.load(path: sides[0].config).seed
            seeds = (0..<UInt64(n)).map { first &+ $0 }
        }
        points = []
        trials = []
    }

    /// Adds a point and its trials (seeds x sides); returns the point.
    @discardableResult
    mutating func add(_ values: [String: JSON]) throws -> StudyPoint {
        let point = StudyPoint(index: points.count, values: values)
        let new = try makeTrials(point, firstNumber: trials.count)
        // Two points whose values resolve to one config (0.3 and 0.30000000000000004) would
        // be one trial recorded twice into one file.
        for t in new {
            if let other = pointOfTrial[t.id] {
                throw InputError("\(spec.path): points \(Self.label(points[other].values)) and \(Self.label(values)) train the same config "
                    + "(trial id \(t.id), side \(t.side.rawValue), seed \(t.seed)): their values resolve to the same run; remove one of them")
            }
            pointOfTrial[t.id] = point.index
        }
        points.append(point)
        trials += new
        return point
    }

    /// The trials of one point (Ray Tune proposes points one by one): numbered from `firstNumber`.
    public func makeTrials(_ point: StudyPoint, firstNumber: Int) throws -> [PlannedTrial] {
        var out: [PlannedTrial] = []
        let files = try Dictionary(uniqueKeysWithValues: Set(sides.map(\.config)).map { ($0, try TrainConfig.File(path: $0)) })
        for seed in seeds {
            for side in sides {
                var changes = spec.fixed.map { ConfigChange(key: $0.key, value: $0.value) }
                changes += point.values.keys.sorted().map { ConfigChange(key: $0, value: point.values[$0]!) }
                changes.append(ConfigChange(key: "seed", value: .number(Double(seed))))
                if let p = side.profile { changes.append(ConfigChange(key: "semantics", value: .string(p))) }
                if let level = spec.level { changes.append(ConfigChange(key: "record.level", value: .string(level.rawValue))) }
                let config: TrainConfig
                do {
                    config = try files[side.config]!.config(applying: changes.map(\.assignment))
                    // What `record` would refuse before training (layer keys and sizes, the data's
                    // headers, the batch): once per point and side, as a seed changes none of it.
                    if seed == seeds.first {
                        let estimate = try Trainer.preflight(config)
                        try memoryLimit?.check(estimate)
                    }
                } catch let e as InputError {
                    throw InputError("\(spec.path): point \(Self.label(point.values)), side \(side.side.rawValue) (\(side.name)), seed \(seed): \(e.message)")
                }
                let id = Self.id(config)
                out.append(PlannedTrial(trial: firstNumber + out.count, id: id, point: point.index, values: point.values, side: side.side,
                                        seed: seed, config: side.config, changes: changes,
                                        record: "runs/\(side.side.rawValue)-s\(seed)-\(id).cwr"))
            }
        }
        return out
    }

    /// XXH3-64 (hex) of a config's resolved text: the identity of what a trial trains.
    public static func id(_ config: TrainConfig) -> String { id(resolvedText: config.resolved.text) }

    public static func id(resolvedText: String) -> String {
        let bytes = Array(resolvedText.utf8)
        return hex64(bytes.withUnsafeBytes { TensorHash.bytes($0) })
    }

    /// "lr=0.01 batchSize=16": the point's values by the last component of each key.
    public static func label(_ values: [String: JSON]) -> String {
        values.keys.sorted().map { "\($0)=\(valueText(values[$0]!))" }.joined(separator: " ")
    }

    /// A value as a person reads it: strings without quotes, numbers in JSON's shortest form.
    public static func valueText(_ v: JSON) -> String {
        if case .string(let s) = v { return s }
        return v.text
    }

    /// Every combination of the dimensions' values (sorted keys; the last key varies fastest).
    static func grid(_ space: [SweepSpec.Dimension]) -> [[String: JSON]] {
        var out: [[String: JSON]] = [[:]]
        for d in space {
            let values = d.domain.values ?? []
            out = out.flatMap { partial in values.map { v in var p = partial; p[d.key] = v; return p } }
        }
        return out
    }

    /// `count` draws of the choice and continuous dimensions (SplitMix64 seeded with `seed`, the
    /// dimensions in key order, numbers rounded to `drawnDigits` significant digits), each
    /// combined with every combination of the grid dimensions (Ray Tune's `num_samples`).
    static func random(_ space: [SweepSpec.Dimension], count: Int, seed: UInt64) -> [[String: JSON]] {
        var generator = SplitMix64(seed: seed)
        let grids = space.filter { if case .grid = $0.domain { true } else { false } }
        let drawn = space.filter { if case .grid = $0.domain { false } else { true } }
        var out: [[String: JSON]] = []
        for _ in 0..<count {
            var sample: [String: JSON] = [:]
            for d in drawn {
                switch d.domain {
                case .choice(let values), .grid(let values):
                    sample[d.key] = values[Statistics.uniformIndex(below: values.count, using: &generator)]
                case .uniform(let lo, let hi):
                    sample[d.key] = .number(rounded(lo + unit(&generator) * (hi - lo), within: lo...hi))
                case .logUniform(let lo, let hi):
                    sample[d.key] = .number(rounded(exp(log(lo) + unit(&generator) * (log(hi) - log(lo))), within: lo...hi))
                }
            }
            for combination in grid(grids) { out.append(sample.merging(combination) { x, _ in x }) }
        }
        return out
    }

    /// A uniform double in [0, 1): the top 53 bits of a draw.
    static func unit(_ g: inout SplitMix64) -> Double { Double(g.next() >> 11) * 0x1p-53 }

    /// `x` to `drawnDigits` significant digits, kept within the range.
    static func rounded(_ x: Double, within range: ClosedRange<Double>) -> Double {
        let r = Double(String(format: "%.\(drawnDigits)g", x)) ?? x
        return min(range.upperBound, max(range.lowerBound, r))
    }

    /// The trials of shard `shard` (trials numbered `i` with `i mod count == index - 1`).
    public func trials(in shard: Shard) -> [PlannedTrial] { trials.filter { shard.contains($0.trial) } }
}

extension ConfigChange {
    var assignment: ConfigAssignment { ConfigAssignment(path: key.split(separator: ".").map(String.init), value: value) }
}

/// One slice of a study's trials: `index` of `count` (1-based, as Slurm's array and `--shard I/N`).
public struct Shard: Codable, Sendable, Equatable, CustomStringConvertible {
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) { self.index = index; self.count = count }

    public static let whole = Shard(index: 1, count: 1)

    public func contains(_ trial: Int) -> Bool { trial % count == index - 1 }

    public var description: String { "\(index)/\(count)" }

    /// Why a shard cannot be read.
    public enum ParseError: Error, Equatable, Sendable {
        /// Not `I/N` with 1 <= I <= N.
        case malformed(String)
        /// No numbers given and none of the scheduler variables set.
        case noEnvironment
        /// A scheduler variable that is not a number in range.
        case badVariable(name: String, value: String)
    }

    /// `I/N` (1-based).
    public static func parse(_ text: String) throws -> Shard {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, (1...n).contains(i) else {
            throw ParseError.malformed(text)
        }
        return Shard(index: i, count: n)
    }

    /// The shard a scheduler gives this process (`--shard auto`): a Slurm job array's
    /// `SLURM_ARRAY_TASK_ID` less `SLURM_ARRAY_TASK_MIN` (so `--array=0-3` and `--array=1-4` both
    /// work; a contiguous array) of `SLURM_ARRAY_TASK_COUNT`, or a Kubernetes Indexed Job's
    /// `JOB_COMPLETION_INDEX` (0-based) of `CWREPRO_SHARD_COUNT` (the Job's `completions`, which
    /// Kubernetes does not put in the environment: set it in the Job's spec).
    public static func fromEnvironment(_ env: [String: String]) throws -> Shard {
        func number(_ name: String) throws -> Int? {
            guard let v = env[name] else { return nil }
            guard let n = Int(v.trimmingCharacters(in: .whitespaces)) else { throw ParseError.badVariable(name: name, value: v) }
            return n
        }
        if let id = try number("SLURM_ARRAY_TASK_ID") {
            guard let count = try number("SLURM_ARRAY_TASK_COUNT"), count >= 1 else {
                throw ParseError.badVariable(name: "SLURM_ARRAY_TASK_COUNT", value: env["SLURM_ARRAY_TASK_COUNT"] ?? "(unset)")
            }
            let index = id - (try number("SLURM_ARRAY_TASK_MIN") ?? 0)
            guard (0..<count).contains(index) else { throw ParseError.badVariable(name: "SLURM_ARRAY_TASK_ID", value: String(id)) }
            return Shard(index: index + 1, count: count)
        }
        if let index = try number("JOB_COMPLETION_INDEX") {
            guard let count = try number("CWREPRO_SHARD_COUNT"), count >= 1 else {
                throw ParseError.badVariable(name: "CWREPRO_SHARD_COUNT", value: env["CWREPRO_SHARD_COUNT"] ?? "(unset)")
            }
            guard (0..<count).contains(index) else { throw ParseError.badVariable(name: "JOB_COMPLETION_INDEX", value: String(index)) }
            return Shard(index: index + 1, count: count)
        }
        throw ParseError.noEnvironment
    }
}
