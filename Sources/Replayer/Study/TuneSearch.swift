import Engine
import Foundation
import Recorder

/// A point Ray Tune proposed, with its trials (`points/<key>.json`).
public struct TunePoint: Codable, Sendable {
    public var values: [String: JSON]
    public var trials: [PlannedTrial]
}

/// What the Ray Tune driver needs to search a study's space (`executor/tune-<pid>.json`): the
/// space in the sweep's terms, the algorithm, the number of samples, and how to train one point
/// (`binary` with `pointArguments` followed by the point as JSON, which prints a `PointOutcome`).
public struct TuneTask: Codable, Sendable {
    public struct Dimension: Codable, Sendable {
        public var key: String
        /// grid, choice, uniform or logUniform.
        public var kind: String
        public var values: [JSON]?
        public var low: Double?
        public var high: Double?
    }

    public var format = "cwrepro-tune-task"
    public var version = 1
    public var name: String
    public var binary: String
    public var directory: String
    public var environment: [String: String]
    public var pointArguments: [String]
    public var space: [Dimension]
    public var algorithm: SweepSpec.TuneAlgorithm
    /// Tune's `num_samples` (each combined with every grid combination).
    public var samples: Int
    public var seed: UInt64
    /// What the search maximises (`PointOutcome.objective`).
    public var objective: SweepSpec.Objective

    public init(spec: SweepSpec, binary: String, pointArguments: [String]) {
        name = spec.name
        self.binary = binary
        directory = FileManager.default.currentDirectoryPath
        environment = StudyEnvironment.trial
        self.pointArguments = pointArguments
        space = spec.space.map { d in
            switch d.domain {
            case .grid(let v): Dimension(key: d.key, kind: "grid", values: v)
            case .choice(let v): Dimension(key: d.key, kind: "choice", values: v)
            case .uniform(let lo, let hi): Dimension(key: d.key, kind: "uniform", low: lo, high: hi)
            case .logUniform(let lo, let hi): Dimension(key: d.key, kind: "logUniform", low: lo, high: hi)
            }
        }
        if case .tune(let algorithm, let n, let seed) = spec.search {
            self.algorithm = algorithm; samples = n; self.seed = seed
        } else {
            algorithm = .random; samples = 1; seed = 0
        }
        objective = spec.objective
    }
}

/// What training one proposed point gave (the line `cwrepro study point` prints for Ray Tune).
public struct PointOutcome: Codable, Sendable {
    public var point: [String: JSON]
    /// |gap| (gap study) or the accuracy range over seeds (variance study); nil when no side
    /// finished with an accuracy (every trial failed).
    public var objective: Double?
    /// B - A (gap study).
    public var gap: Double?
    public var trials: Int
    /// Trials run now (the others were finished before).
    public var ran: Int
    public var failed: Int
    /// Trials whose process failed (not a non-finite stop).
    public var errors: [String]
}

/// One point of a Tune search: planned into the study (`points/<key>.json`), its unfinished
/// trials run by `executor`, and its objective computed from the records.
public enum TunePointSession {
    /// Trials of the point whose records another process is writing (the same point proposed
    /// twice) are waited for, at most `wait` seconds.
    public static func run(study: StudyDirectory, values given: [String: JSON], executor: TrialExecutor, wait: Double = 600) throws -> PointOutcome {
        let manifest = try study.readManifest()
        let spec = try SweepSpec.parse(manifest.sweep, path: manifest.sweepFile)
        let values = try normalized(given, spec: spec)
        let plan = try SweepPlan(spec: spec)
        let point = StudyPoint(index: 0, values: values)
        let trials = try plan.makeTrials(point, firstNumber: 0)
        let key = SweepPlan.id(resolvedText: trials.map(\.id).joined(separator: "\n"))
        try study.write(try StudyDirectory.encoder.encode(TunePoint(values: values, trials: trials)), to: "points/\(key).json")
        var pending: [PlannedTrial] = []
        for t in trials {
            switch t.state(in: study, sideName: manifest.sideName(t.side)) {
            case .finished, .running: continue
            case .interrupted, .stale: study.removeRecord(t.record); pending.append(t)
            case .absent: pending.append(t)
            }
        }
        let errors = ErrorList()
        try executor.run(pending, in: study) { trial, run in
            guard !run.ranToItsEnd else { return }
            // Not an error when another process (Ray Tune proposing the same point twice) holds
            // or finished the record: it is waited for below, or read.
            switch trial.state(in: study, sideName: manifest.sideName(trial.side)) {
            case .running, .finished: return
            default: errors.add("trial \(trial.side.rawValue) seed \(trial.seed): \(run.ending): \(run.stderr)")
            }
        }
        // Records another process is writing: their results are this point's too.
        let deadline = Date().addingTimeInterval(wait)
        while Date() < deadline, trials.contains(where: { RecordFileLock.isHeld(study.path($0.record)) }) {
            Thread.sleep(forTimeInterval: 0.5)
        }
        let results = trials.compactMap { t -> TrialResult? in
            if case .finished(let r) = t.state(in: study, sideName: manifest.sideName(t.side)) { return r }
            return nil
        }
        var local = manifest
        local.points = [point]
        local.trials = trials
        let summary = StudySummary.make(local, results: results).points[0]
        return PointOutcome(point: values, objective: summary.objective(spec.objective), gap: summary.gap?.mean, trials: trials.count,
                            ran: pending.count, failed: results.filter { $0.status == .failed }.count, errors: errors.all)
    }

    /// The point as the sweep defines it: every swept key present, grid and choice values among
    /// the listed ones, continuous values in range and rounded as a random search rounds them.
    static func normalized(_ values: [String: JSON], spec: SweepSpec) throws -> [String: JSON] {
        var out: [String: JSON] = [:]
        for d in spec.space {
            guard let v = values[d.key] else { throw InputError("the point has no value for \(d.key)") }
            switch d.domain {
            case .grid(let allowed), .choice(let allowed):
                guard let match = allowed.first(where: { $0 == v || $0.text == v.text }) else {
                    throw InputError("the point's \(d.key)=\(v.text) is not one of \(JSON.array(allowed).text)")
                }
                out[d.key] = match
            case .uniform(let lo, let hi), .logUniform(let lo, let hi):
                guard case .number(let x) = v, x >= lo * (1 - 1e-9), x <= hi * (1 + 1e-9) else {
                    throw InputError("the point's \(d.key)=\(v.text) is not a number in [\(lo), \(hi)]")
                }
                out[d.key] = .number(SweepPlan.rounded(x, within: lo...hi))
            }
        }
        if let extra = values.keys.first(where: { out[$0] == nil }) { throw InputError("the point sets \(extra), which the sweep does not sweep") }
        return out
    }

    final class ErrorList: @unchecked Sendable {
        private let lock = NSLock()
        private var items: [String] = []
        func add(_ s: String) { lock.lock(); items.append(s); lock.unlock() }
        var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
    }
}

/// A sweep whose points Ray Tune chooses (`search.type: tune`): the driver (Python's
/// `cwrepro.ray tune`) reads a `TuneTask`, lets the search algorithm propose points, trains each
/// with `cwrepro study point` (which plans it into the study and records its trials), reports the
/// objective back to Tune, and prints each `PointOutcome` as a JSON line. The study is then
/// collected like any other.
public enum TuneSession {
    /// `command(taskFile)`: the driver's program and arguments. `pointArguments`: this
    /// executable's arguments that train one point (the point's JSON is appended).
    public static func run(_ session: SweepSession, name: String = "ray tune", environment: [String: String] = [:],
                           command: (String) -> (executable: String, arguments: [String]), pointArguments: [String],
                           explain: StudyCollection.ExplainOptions?, progress: (@Sendable (SweepProgress) -> Void)?) throws -> SweepOutcome {
        let start = Date()
        let task = TuneTask(spec: session.spec, binary: StudyEnvironment.binaryPath, pointArguments: pointArguments)
        let file = "executor/tune-\(ProcessInfo.processInfo.processIdentifier).json"
        try session.study.write(try StudyDirectory.encoder.encode(task), to: file)
        defer { try? FileManager.default.removeItem(atPath: session.study.path(file)) }
        let grids = task.space.filter { $0.kind == "grid" }.map { $0.values?.count ?? 1 }.reduce(1, *)
        let total = task.samples * grids
        progress?(.starting(total: total, planned: total))
        var outcomes: [PointOutcome] = [], malformed: String?
        let (executable, args) = command(session.study.path(file))
        let out = try ChildProcess(arguments: args, executable: executable, environment: environment).run { line in
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { return }
            guard let o = try? JSONDecoder().decode(PointOutcome.self, from: Data(line.utf8)) else {
                if malformed == nil { malformed = line }
                return
            }
            outcomes.append(o)
            progress?(.pointEnded(done: outcomes.count, total: total, outcome: o))
        }
        guard out.status == 0 else { throw ExecutorError.driverFailed(name: name, ending: out.ending, stderr: out.stderrText) }
        if let malformed { throw ExecutorError.malformedReport(name: name, line: malformed) }
        let errors = outcomes.flatMap(\.errors).map { TrialFailure(trial: nil, message: $0) }
        var outcome = SweepOutcome(name: session.spec.name, directory: session.study.root, shard: .whole,
                                   planned: outcomes.map(\.trials).reduce(0, +), skipped: outcomes.map { $0.trials - $0.ran }.reduce(0, +),
                                   ran: outcomes.map(\.ran).reduce(0, +), resumed: 0, runningElsewhere: [], failures: errors, results: [],
                                   seconds: 0, collected: nil)
        if errors.isEmpty {
            let collected = try StudyCollection.collect(session.study, explain: explain, progress: progress)
            outcome.results = collected.results
            outcome.planned = collected.manifest.trials.count
            outcome.collected = collected
        }
        outcome.seconds = Date().timeIntervalSince(start)
        return outcome
    }
}
