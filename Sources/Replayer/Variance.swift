import Engine
import Foundation
import Recorder

/// The one source of variation a variance study changes between runs.
public enum VarySource: String, Codable, Sendable, CaseIterable {
    /// Initialisation and every draw (`seed`), with the data order fixed (`data.shuffleSeed`).
    case seed
    /// The data order only (`data.shuffleSeed`), with initialisation and draws fixed.
    case order
    /// The implementation: reduction order (`determinism.reduction`) and BLAS threads
    /// (`determinism.threads`, 1...cores), with seed and order fixed.
    case impl
    /// Nothing: the runs must come out bit-identical.
    case none
}

/// Why a study cannot vary what it was asked to.
public enum VarianceError: Error, Equatable, Sendable {
    /// Varying the data order of a config whose order does not shuffle (data.shuffle false or data.order given).
    case noShuffledOrder
}

/// One run of a study: what was varied and what came out.
public struct VarianceRun: Codable, Sendable, Equatable {
    public var index: Int
    /// The config values this run set, as `key=value` pairs: "seed=1235", "threads=2 reduction=pairwise"
    /// ("as given" for run 0 of `none`).
    public var variant: String
    public var steps: Int
    public var accuracy: Double
    public var perClassAccuracy: [Double]
    public var finalLoss: Float
    public var losses: [Float]
    public var seconds: Double
    /// XXH3-64 over every step digest (level `params`): equal for bit-identical runs.
    public var runDigest: String
    /// XXH3-64 over the final parameter hashes.
    public var weightsDigest: String
}

/// min, max, mean, sample standard deviation (n-1) and range of a set of numbers.
public struct Spread: Codable, Sendable, Equatable {
    public var min: Double
    public var max: Double
    public var mean: Double
    public var std: Double
    public var range: Double

    public init(_ xs: [Double]) {
        min = xs.min() ?? 0
        max = xs.max() ?? 0
        range = max - min
        mean = xs.isEmpty ? 0 : xs.reduce(0, +) / Double(xs.count)
        let m = mean
        std = xs.count < 2 ? 0 : (xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count - 1)).squareRoot()
    }
}

/// The spread of one class's test accuracy over the runs.
public struct ClassSpread: Codable, Sendable, Equatable {
    public var cls: Int
    public var spread: Spread
}

/// What a study reports.
public struct VarianceReport: Codable, Sendable {
    public var name: String
    public var vary: VarySource
    public var jobs: Int
    public var runs: [VarianceRun]
    public var accuracy: Spread
    /// The class whose test accuracy varies most between runs.
    public var largestClassRange: ClassSpread?
    public var seconds: Spread
    /// Loss-curve spread: the largest max-min of the loss at one step, where, and the mean over steps.
    public var lossSpreadMax: Double
    public var lossSpreadMaxStep: Int
    public var lossSpreadMean: Double
    public var finalLoss: Spread
    /// Runs whose every step digest equals the first run's (the first included).
    public var bitIdenticalToFirst: Int
    /// Distinct outcomes (distinct run digests).
    public var distinctOutcomes: Int
}

/// Collects step digests and the final parameter hashes; keeps no record.
final class DigestSink: RecordSink {
    var digests: [UInt64] = []
    var lastParams: [(String, String, UInt64)] = []
    func wantsPayload(step: Int) -> Bool { false }
    func event(_ e: RecordedEvent) {}
    func endStep(_ s: StepSummary, events: [RecordedEvent]) throws {
        digests.append(s.digest)
        lastParams = events.filter { $0.role == .param }.map { ($0.name, $0.role.rawValue, $0.hash) }
    }
    func evaluation(_ e: Evaluation) throws {}
    var shouldStop: Bool { false }
}

public enum Variance {
    /// The config of run `index` (0-based; run 0 is the config as given, except that `seed`
    /// pins the data order to the base seed) and a label of what it changed.
    public static func variant(_ base: TrainConfig, vary: VarySource, index: Int, cores: Int) throws -> (TrainConfig, String) {
        var given = base.given
        var label: String
        switch vary {
        case .none:
            label = "as given"
        case .seed:
            let seed = base.seed + UInt64(index)
            try given.set(path: ["seed"], to: .number(Double(seed)))
            try given.set(path: ["data", "shuffleSeed"], to: .number(Double(base.data.shuffleSeed ?? base.seed)))
            label = "seed=\(seed)"
        case .order:
            guard base.data.shuffle, base.data.order == nil else { throw VarianceError.noShuffledOrder }
            let s = (base.data.shuffleSeed ?? base.seed) + UInt64(index)
            try given.set(path: ["data", "shuffleSeed"], to: .number(Double(s)))
            label = "shuffleSeed=\(s)"
        case .impl:
            let combos = try implementations(base, cores: cores)
            let (threads, reduction) = combos[index % combos.count]
            try given.set(path: ["determinism", "threads"], to: .number(Double(threads)))
            try given.set(path: ["determinism", "reduction"], to: .string(reduction.rawValue))
            label = "threads=\(threads) reduction=\(reduction.rawValue)"
        }
        var config = try TrainConfig.parse(given, baseDirectory: base.baseDirectory)
        config.embedded = base.embedded
        return (config, label)
    }

    /// (threads, reduction) combinations for `--vary impl`, the config's own first: threads
    /// 1...cores times every reduction mode this build accepts.
    public static func implementations(_ base: TrainConfig, cores: Int) throws -> [(Int, ReductionMode)] {
        let modes = ReductionMode.allCases.filter { mode in
            var g = base.given
            guard (try? g.set(path: ["determinism", "reduction"], to: .string(mode.rawValue))) != nil else { return false }
            return (try? TrainConfig.parse(g, baseDirectory: base.baseDirectory)) != nil
        }
        var combos: [(Int, ReductionMode)] = [(base.determinism.threads, base.determinism.reduction)]
        for m in modes { for t in 1...max(1, cores) where !combos.contains(where: { $0 == (t, m) }) { combos.append((t, m)) } }
        return combos
    }

    /// Trains one run (hashing at level `params` for the bit-identity check; no record).
    public static func run(_ config: TrainConfig, index: Int, variant: String) throws -> VarianceRun {
        let sink = DigestSink()
        let recorder = Recorder(seed: config.seed, level: .params, sink: sink)
        let trainer = try Trainer(config: config, recorder: recorder)
        let r = try trainer.run()
        guard let e = r.evaluations.last(where: { $0.split == "test" }) else {
            throw InputError("\(config.name): the run has no test evaluation")
        }
        return VarianceRun(index: index, variant: variant, steps: r.steps, accuracy: e.accuracy, perClassAccuracy: e.perClassAccuracy,
                           finalLoss: r.finalLoss, losses: r.losses, seconds: r.seconds,
                           runDigest: hex64(TensorHash.digest(sink.digests.enumerated().map { (String($0), "step", $1) })),
                           weightsDigest: hex64(TensorHash.digest(sink.lastParams)))
    }

    public static func summarize(name: String, vary: VarySource, jobs: Int, runs: [VarianceRun]) -> VarianceReport {
        let runs = runs.sorted { $0.index < $1.index }
        let classes = runs.map(\.perClassAccuracy.count).min() ?? 0
        let perClass = (0..<classes).map { k in Spread(runs.map { $0.perClassAccuracy[k] }) }
        let widest = perClass.indices.max { perClass[$0].range < perClass[$1].range }
        let steps = runs.map(\.losses.count).min() ?? 0
        let spreads = (0..<steps).map { t in Spread(runs.map { Double($0.losses[t]) }).range }
        let maxStep = spreads.indices.max { spreads[$0] < spreads[$1] } ?? 0
        let first = runs.first?.runDigest
        return VarianceReport(
            name: name, vary: vary, jobs: jobs, runs: runs, accuracy: Spread(runs.map(\.accuracy)),
            largestClassRange: widest.map { ClassSpread(cls: $0, spread: perClass[$0]) }, seconds: Spread(runs.map(\.seconds)),
            lossSpreadMax: spreads.isEmpty ? 0 : spreads[maxStep], lossSpreadMaxStep: maxStep,
            lossSpreadMean: spreads.isEmpty ? 0 : spreads.reduce(0, +) / Double(spreads.count),
            finalLoss: Spread(runs.map { Double($0.finalLoss) }),
            bitIdenticalToFirst: runs.filter { $0.runDigest == first }.count, distinctOutcomes: Set(runs.map(\.runDigest)).count)
    }
}

/// `cwrepro variance`: N runs of one config varying one source of nondeterminism, each in its own
/// worker process (at most `jobs` at a time), summarised as spreads.
public final class VarianceStudy {
    public let base: TrainConfig
    public let vary: VarySource
    public let runs: Int
    public let jobs: Int
    /// Cores of this machine (the thread counts `impl` varies over).
    public let cores = ProcessInfo.processInfo.activeProcessorCount

    public init(base: TrainConfig, vary: VarySource, runs: Int, jobs: Int) {
        self.base = base; self.vary = vary; self.runs = runs; self.jobs = jobs
    }

    /// Builds (and so checks) every variant and reads the data and files once: bad input is
    /// reported once, before any worker starts.
    public func check() throws {
        for i in 0..<runs { _ = try Variance.variant(base, vary: vary, index: i, cores: cores) }
        _ = try Trainer(config: base, recorder: .plain(seed: base.seed))
    }

    /// Run `index`, in this process (what a worker does).
    public func run(index: Int) throws -> VarianceRun {
        let (config, label) = try Variance.variant(base, vary: vary, index: index, cores: cores)
        return try Variance.run(config, index: index, variant: label)
    }

    /// Every run in a worker process whose command line is `worker(index)` (its standard output
    /// is the run as JSON), at most `jobs` at a time; `finished(n)` after each. The first failing
    /// run (by index) is the error.
    public func run(worker: @escaping @Sendable (Int) -> [String], finished: (@Sendable (Int) -> Void)? = nil) throws -> VarianceReport {
        let results = ChildProcess.pool(runs, width: jobs, finished: finished) { i in
            let out = try ChildProcess(arguments: worker(i)).run()
            guard out.status == 0 else { throw InputError("run \(i + 1) ended with \(out.ending): \(out.stderrText)") }
            return try JSONDecoder().decode(VarianceRun.self, from: out.stdout)
        }
        return Variance.summarize(name: base.name, vary: vary, jobs: min(jobs, runs), runs: try results.map { try $0.get() })
    }
}
