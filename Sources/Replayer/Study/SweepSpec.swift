import Engine
import Foundation
import Recorder

/// A sweep file (`cwrepro sweep sweep.json`), parsed strictly: unknown keys, wrong types and
/// impossible values are errors naming the JSON path and `file:line:column` (docs/sweep.md).
///
/// ```json
/// {"name": "lr-batch", "a": "a.json", "b": "b.json",
///  "space": {"optimizer.lr": {"grid": [0.1, 0.01]}, "data.batchSize": {"grid": [16, 32]}},
///  "search": {"type": "grid"}, "seeds": 2, "objective": "gap"}
/// ```
///
/// Sides: `a` and `b` (two configs), `base` and `profiles` (one config under two semantics
/// profiles), or `base` alone (one side: objective `variance`). Every trial is one side's config
/// with the fixed changes (`set`), the point's values and the seed applied, in that order.
public struct SweepSpec: Sendable {
    /// Which configs the trials train.
    public enum Sides: Sendable, Equatable {
        /// Two configs, A and B (absolute paths).
        case pair(a: String, b: String)
        /// One config under two semantics profiles (A's first).
        case profiles(base: String, a: Semantics.Profile, b: Semantics.Profile)
        /// One config (a variance study).
        case single(base: String)

        /// How many sides: 2, or 1 for a variance study.
        public var count: Int { if case .single = self { 1 } else { 2 } }
    }

    /// The values one swept key takes.
    public enum Domain: Sendable, Equatable {
        /// Every value, in every search (Ray Tune's `grid_search`).
        case grid([JSON])
        /// One of the values, drawn uniformly (random search); every value in a grid search.
        case choice([JSON])
        /// A number drawn uniformly from `[low, high]` (random search only).
        case uniform(Double, Double)
        /// A number whose logarithm is drawn uniformly from `[log low, log high]` (random search only).
        case logUniform(Double, Double)

        /// The values a grid enumerates (nil for the continuous domains).
        public var values: [JSON]? {
            switch self {
            case .grid(let v), .choice(let v): v
            case .uniform, .logUniform: nil
            }
        }
    }

    /// One swept config key (dotted, as `--set` takes it: `optimizer.lr`, `model.layers.1.units`).
    public struct Dimension: Sendable, Equatable {
        public var key: String
        public var domain: Domain
    }

    /// Ray Tune search algorithms a sweep can ask for (`search.algorithm`); each but `random` needs
    /// its own Python package next to `ray[tune]`.
    public enum TuneAlgorithm: String, Sendable, CaseIterable, Codable {
        /// Tune's `BasicVariantGenerator`: grid dimensions expanded, the others drawn at random.
        case random
        /// `OptunaSearch` (Tree-structured Parzen Estimator), package `optuna`.
        case optuna
        /// `HyperOptSearch` (TPE), package `hyperopt`.
        case hyperopt
        /// `BayesOptSearch` (Gaussian process; continuous dimensions only), package `bayesian-optimization`.
        case bayesopt
    }

    /// How the points are chosen.
    public enum Search: Sendable, Equatable {
        /// Every combination of the dimensions' values (keys in sorted order, the last varying fastest).
        case grid
        /// `trials` draws from the continuous and choice dimensions (SplitMix64 seeded with `seed`),
        /// each combined with every combination of the grid dimensions, as Ray Tune's `num_samples`.
        case random(trials: Int, seed: UInt64)
        /// Ray Tune proposes `trials` points with `algorithm`, maximising the objective
        /// (`--executor ray` only).
        case tune(algorithm: TuneAlgorithm, trials: Int, seed: UInt64)
    }

    /// What the study measures and the Tune search maximises.
    public enum Objective: String, Sendable, CaseIterable, Codable {
        /// The test-accuracy gap B - A at each point (searches maximise its magnitude).
        case gap
        /// The spread of test accuracy over the seeds at each point (searches maximise its range).
        case variance
    }

    /// What a trial does when training meets NaN or Inf.
    public enum NonFinite: String, Sendable, CaseIterable, Codable {
        /// The run stops and its record is marked failed; the trial counts as failed (no accuracy).
        case stop
        /// The run trains on (`record --allow-nonfinite`); its accuracy counts like any other.
        case `continue`
    }

    /// The seeds every point trains each side with.
    public enum Seeds: Sendable, Equatable {
        /// `n` seeds: A's config seed, +1, ... (`"seeds": 4`).
        case count(Int)
        /// These seeds (`"seeds": [1, 2, 3]`).
        case list([UInt64])

        /// How many seeds each point trains each side with.
        public var size: Int {
            switch self {
            case .count(let n): n
            case .list(let l): l.count
            }
        }
    }

    /// The sweep file (absolute path); relative config paths resolve against its directory.
    public var path: String
    public var name: String
    public var sides: Sides
    /// Changes applied to every trial before the point's values (`"set": {"training.maxSteps": 50}`).
    public var fixed: [(key: String, value: JSON)]
    /// Swept keys, sorted by key.
    public var space: [Dimension]
    public var search: Search
    public var seeds: Seeds
    public var objective: Objective
    /// How many of the largest gaps to explain (`explain.top`, default 3; 0: none).
    public var explainTop: Int
    /// Seeds per side for each explanation (`explain.seeds`, at least 2; nil: `Explain.defaultSeeds`, 8).
    public var explainSeeds: Int?
    public var nonFinite: NonFinite
    /// The record level of every trial (nil: each config's `record.level`).
    public var level: RecordLevel?

    public static let keys = ["name", "a", "b", "base", "profiles", "set", "space", "search", "seeds", "objective", "explain",
                              "onNonFinite", "level"]

    /// Reads and checks a sweep file.
    public static func load(path: String) throws -> SweepSpec {
        let bytes = Array(try readFile(path, what: "sweep file"))
        let (json, source) = try ConfigSource.parse(bytes, name: path)
        return try source.reading { try parse(json, path: URL(fileURLWithPath: path).standardizedFileURL.path) }
    }

    /// Checks a parsed sweep file; `path` is where it was read from (relative configs resolve
    /// against its directory).
    public static func parse(_ json: JSON, path: String) throws -> SweepSpec {
        let root = try ConfigObject(json, path: "")
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        func file(_ key: String) throws -> String? {
            guard let p = try root.string(key) else { return nil }
            guard !p.isEmpty else { throw root.error(key, "expected a config file path, found an empty string") }
            return URL(fileURLWithPath: p, relativeTo: directory).standardizedFileURL.path
        }
        let name = try root.string("name") ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        guard !name.isEmpty, !name.contains("/") else { throw root.error("name", "expected a non-empty name without \"/\"") }

        let a = try file("a"), b = try file("b"), base = try file("base")
        let profiles = try root.array("profiles")
        let sides: Sides
        switch (a, b, base, profiles) {
        case let (a?, b?, nil, nil):
            sides = .pair(a: a, b: b)
        case let (nil, nil, base?, profiles?):
            guard profiles.count == 2 else {
                throw root.error("profiles", "expected two profiles, A's first (e.g. [\"pytorch\", \"keras\"]), found \(profiles.count)")
            }
            let p = try profiles.enumerated().map { i, v -> Semantics.Profile in
                guard case .string(let s) = v, let profile = Semantics.Profile(rawValue: s) else {
                    throw InputError("\(ConfigSource.current?.prefix(for: JSONPath.element("profiles", i)) ?? "")profiles[\(i)]: expected one of \(Semantics.profiles.joined(separator: ", "))")
                }
                return profile
            }
            guard p[0] != p[1] else { throw root.error("profiles", "the two profiles are the same (\(p[0].rawValue)): give two different ones") }
            sides = .profiles(base: base, a: p[0], b: p[1])
        case let (nil, nil, base?, nil):
            sides = .single(base: base)
        case (_?, nil, _, _), (nil, _?, _, _):
            throw root.error(nil, "\(a == nil ? "a" : "b"): missing; give both \"a\" and \"b\" (two configs), or \"base\" with \"profiles\"")
        case (_?, _?, _?, _), (_?, _?, _, _?):
            throw root.error("base", "give either \"a\" and \"b\", or \"base\" (with \"profiles\" for two sides), not both")
        case (nil, nil, nil, _):
            throw root.error(nil, "missing the configs: give \"a\" and \"b\" (two configs), \"base\" and \"profiles\" (one config under two profiles), or \"base\" alone (objective variance)")
        }

        let fixed = try root.object("set").map { o in
            try o.values.keys.sorted().map { k -> (key: String, value: JSON) in
                try checkKey(k, in: o)
                return (k, o.raw(k)!)
            }
        } ?? []

        guard let spaceObject = try root.object("space") else {
            throw root.error(nil, "missing \"space\": the config keys to sweep, e.g. {\"optimizer.lr\": {\"grid\": [0.1, 0.01]}}")
        }
        let space = try spaceObject.values.keys.sorted().map { key -> Dimension in
            try checkKey(key, in: spaceObject)
            if fixed.contains(where: { $0.key == key }) {
                throw spaceObject.error(key, "\(key) is both swept and fixed in \"set\": remove one", atKey: true)
            }
            return Dimension(key: key, domain: try domain(spaceObject.object(key)!))
        }
        guard !space.isEmpty else { throw spaceObject.error(nil, "no keys to sweep: give at least one, e.g. {\"optimizer.lr\": {\"grid\": [0.1, 0.01]}}") }
        try spaceObject.finish()

        let search = try readSearch(root.object("search"), space: space)
        let seeds = try readSeeds(root)
        try checkTrialCount(search, space, seeds: seeds.size, sides: sides.count, in: root)
        let objectiveName = try root.choice("objective", Objective.allCases.map(\.rawValue), default: nil)
        let objective: Objective
        switch (objectiveName.flatMap(Objective.init(rawValue:)), sides) {
        case (nil, .single): objective = .variance
        case (nil, _): objective = .gap
        case (.gap?, .single): throw root.error("objective", "a gap needs two sides: give \"a\" and \"b\", or \"base\" with \"profiles\"")
        case (let o?, _): objective = o
        }
        var explainTop = 3, explainSeeds: Int?
        if let e = try root.object("explain") {
            explainTop = try e.int("top", default: 3, range: 0...100)
            explainSeeds = try e.int("seeds", range: 2...1000)
            try e.finish()
        }
        if case .single = sides { explainTop = 0 }
        let nonFinite = NonFinite(rawValue: try root.choice("onNonFinite", NonFinite.allCases.map(\.rawValue), default: "stop")!)!
        let level = try root.choice("level", RecordLevel.allCases.map(\.rawValue)).flatMap(RecordLevel.init(rawValue:))
        try root.finish()
        return SweepSpec(path: path, name: name, sides: sides, fixed: fixed, space: space, search: search, seeds: seeds,
                         objective: objective, explainTop: explainTop, explainSeeds: explainSeeds, nonFinite: nonFinite, level: level)
    }

    /// The most trials a grid or random search may plan (points x seeds x sides), the limit of a
    /// random search's `trials`: the whole plan is built, and every trial's config checked, before
    /// anything runs, so a larger one would spend minutes and gigabytes before its first trial
    /// (a grid of 10^6 points with 1,000 seeds printed nothing for 40 s while its memory grew).
    public static let maxTrials = 1_000_000

    /// Refuses a grid or random search that would plan more than `maxTrials` trials, counted from
    /// the sizes alone before any point is made (overflow-checked): the grid's value counts (for a
    /// random search, its draws times the grid dimensions' value counts, before repeated points are
    /// dropped) times the seeds times the sides. A Tune search proposes its points one at a time.
    static func checkTrialCount(_ search: Search, _ space: [Dimension], seeds: Int, sides: Int, in root: ConfigObject) throws {
        let expanded: [Dimension], draws: Int?
        switch search {
        case .grid: (expanded, draws) = (space, nil)
        case .random(let n, _): (expanded, draws) = (space.filter { if case .grid = $0.domain { true } else { false } }, n)
        case .tune: return
        }
        let counts = expanded.map { $0.domain.values?.count ?? 1 }
        let total = product((draws.map { [$0] } ?? []) + counts + [seeds, sides])
        if let total, total <= maxTrials { return }
        let count = total.map { "\(groupedDigits($0)) trials" } ?? "more than \(groupedDigits(Int.max)) trials"
        let values = expanded.isEmpty ? "" : counts.map(groupedDigits).joined(separator: " x ") + " values of "
            + expanded.map(\.key).joined(separator: ", ") + " x "
        let sizes = "\(values)\(groupedDigits(seeds)) seed\(seeds == 1 ? "" : "s") x \(sides) side\(sides == 1 ? "" : "s")"
        let limit = "over the limit of \(groupedDigits(maxTrials))"
        guard let draws else {
            let largest = zip(expanded, counts).max { $0.1 < $1.1 }!
            throw root.error("space", "the grid makes \(count) (\(sizes)), \(limit); sweep fewer keys or values (\(largest.0.key) has "
                + "\(groupedDigits(largest.1))), give fewer seeds, or draw points at random: \"search\": {\"type\": \"random\", "
                + "\"trials\": 100, \"seed\": 1} with \"choice\" in place of \"grid\"")
        }
        throw root.error("search", "the random search makes up to \(count) (\(groupedDigits(draws)) draws x \(sizes)), \(limit); draw fewer "
            + "trials, give fewer seeds, or turn grid keys into \"choice\" (a grid key multiplies every draw)")
    }

    /// The product of `factors`, nil when it exceeds `Int.max`.
    static func product(_ factors: [Int]) -> Int? {
        var total = 1
        for f in factors {
            let (p, overflow) = total.multipliedReportingOverflow(by: f)
            if overflow { return nil }
            total = p
        }
        return total
    }

    /// Keys the study sets itself: the seed (from `seeds`) and, for profiles, the semantics.
    static let reservedKeys = ["seed", "semantics"]

    static func checkKey(_ key: String, in o: ConfigObject) throws {
        if reservedKeys.contains(key) {
            throw o.error(key, key == "seed" ? "the study sets the seed of each trial: give \"seeds\" instead"
                                             : "the study sets the semantics: give \"base\" with \"profiles\", or two configs", atKey: true)
        }
        let parts = key.split(separator: ".", omittingEmptySubsequences: false)
        if parts.contains(where: \.isEmpty) {
            throw o.error(key, "not a dotted config key (e.g. optimizer.lr, model.layers.1.units)", atKey: true)
        }
    }

    static func domain(_ o: ConfigObject) throws -> Domain {
        let kinds = ["grid", "choice", "uniform", "logUniform"].filter(o.has)
        guard kinds.count == 1 else {
            throw o.error(nil, kinds.isEmpty ? "expected one of {\"grid\": [...]}, {\"choice\": [...]}, {\"uniform\": [low, high]}, {\"logUniform\": [low, high]}"
                                             : "give one of \(kinds.joined(separator: ", ")), not \(kinds.count)")
        }
        let kind = kinds[0]
        let values = try o.array(kind)!
        switch kind {
        case "grid", "choice":
            guard !values.isEmpty else { throw o.error(kind, "expected at least one value") }
            for (i, v) in values.enumerated() {
                if case .object = v { throw o.error(kind, "value \(i): expected a number, string, boolean or array, found an object") }
                if case .null = v { throw o.error(kind, "value \(i): expected a number, string, boolean or array, found null") }
            }
            if let i = values.indices.first(where: { i in values[..<i].contains(values[i]) }) {
                throw o.error(kind, "value \(i) (\(values[i].text)) appears twice")
            }
            try o.finish()
            return kind == "grid" ? .grid(values) : .choice(values)
        default:
            let numbers = values.compactMap { v -> Double? in if case .number(let d) = v { d } else { nil } }
            guard values.count == 2, numbers.count == 2 else { throw o.error(kind, "expected [low, high], two numbers") }
            guard numbers[0] < numbers[1] else { throw o.error(kind, "expected low < high, found [\(numbers[0]), \(numbers[1])]") }
            if kind == "logUniform", numbers[0] <= 0 {
                throw o.error(kind, "a log-uniform range must be positive, found low \(numbers[0])")
            }
            try o.finish()
            return kind == "uniform" ? .uniform(numbers[0], numbers[1]) : .logUniform(numbers[0], numbers[1])
        }
    }

    static func readSearch(_ o: ConfigObject?, space: [Dimension]) throws -> Search {
        guard let o else {
            if let d = space.first(where: { $0.domain.values == nil }) {
                throw InputError("space.\(d.key): a continuous range needs a random search: add \"search\": {\"type\": \"random\", \"trials\": 20, \"seed\": 1}")
            }
            return .grid
        }
        let type = try o.choice("type", ["grid", "random", "tune"], default: nil)
        guard let type else { throw o.error("type", "missing; expected grid, random or tune") }
        switch type {
        case "grid":
            try o.finish()
            if let d = space.first(where: { $0.domain.values == nil }) {
                throw InputError("\(ConfigSource.current?.prefix(for: JSONPath.member("space", d.key)) ?? "")space.\(d.key): a continuous range cannot be a grid: give \"grid\" values, or search type random")
            }
            return .grid
        case "random":
            let trials = try o.int("trials", range: 1...1_000_000)
            guard let trials else { throw o.error("trials", "missing: how many random points to draw (e.g. 20)") }
            let seed = try o.int("seed", default: 0, range: 0...Int(Int32.max))
            try o.finish()
            return .random(trials: trials, seed: UInt64(seed))
        default:
            let algorithm = try o.choice("algorithm", TuneAlgorithm.allCases.map(\.rawValue), default: "random")!
            let trials = try o.int("trials", range: 1...1_000_000)
            guard let trials else { throw o.error("trials", "missing: how many points Ray Tune may try (num_samples)") }
            let seed = try o.int("seed", default: 0, range: 0...Int(Int32.max))
            try o.finish()
            return .tune(algorithm: TuneAlgorithm(rawValue: algorithm)!, trials: trials, seed: UInt64(seed))
        }
    }

    static func readSeeds(_ root: ConfigObject) throws -> Seeds {
        guard let v = root.raw("seeds") else { return .count(1) }
        if case .array(let a) = v {
            guard !a.isEmpty else { throw root.error("seeds", "expected at least one seed") }
            let list = try a.enumerated().map { i, s -> UInt64 in
                guard case .number(let d) = s, d >= 0, d == d.rounded(), d < 9e15 else {
                    throw root.error("seeds", "seed \(i): expected a non-negative integer, found \(s.text)")
                }
                return UInt64(d)
            }
            if Set(list).count != list.count { throw root.error("seeds", "a seed appears twice") }
            return .list(list)
        }
        return .count(try root.int("seeds", range: 1...10_000)!)
    }

    /// The side names: "a" and "b", or "a" alone.
    public var sideCount: Int { sides.count }
}
