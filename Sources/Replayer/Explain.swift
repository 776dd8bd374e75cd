import Dispatch
import Engine
import Foundation
import Recorder

/// `cwrepro explain A B`: why two configs train differently, with randomness removed as a cause.
///
/// 1. A is trained with every tensor hashed (in memory, at `level`).
/// 2. B is trained **with A's seed**: draws are Philox streams keyed by (seed, site), so B sees
///    A's underlying uniforms and data order exactly (an init bound may differ by knob, the
///    uniforms do not). Its first divergent tensor against A is the first divergence.
/// 3. Each difference between A and B (a semantics knob, or another config value) is applied to A
///    alone: its first divergent step and tensor, and the change in final loss and accuracy.
/// 4. Delta debugging (Zeller's ddmin) over the differences, started from the shortest prefix (in
///    order of single effect) that already reproduces the gap, finds a 1-minimal set whose
///    application to A reproduces the A-B gap to within 1 - `threshold` (default: 90% to 110% of
///    it); 1 minus the share it reproduces is the unexplained share (negative: the set overshoots).
/// 5. B with its own draws (its seed, or A's seed + 1 when they are equal) shows how much of a gap
///    randomness alone would make.
/// The gap is measured in test accuracy; when A and B (with A's draws) reach the same accuracy,
/// in final training loss instead (`gapMetric`).
public enum Explain {
    public struct Options {
        /// The minimal set must reproduce between `threshold` and 2 - `threshold` of the gap.
        public var threshold = 0.9
        /// Hash level of the comparison runs: `activations` names the first divergent layer output.
        public var level: RecordLevel = .activations
        /// Runs at a time (training runs of one config are independent; 1 = sequential).
        public var parallel = max(1, ProcessInfo.processInfo.activeProcessorCount)
        /// Also write A's record here (replayable with `cwrepro replay`), replacing an existing file.
        public var recordA: String?
        public var progress: ((String) -> Void)?
        public init() {}
    }

    /// One difference between A and B that can be applied to A alone.
    public struct Item: Sendable {
        public enum Kind: String, Codable, Sendable { case knob, config }
        public var name: String
        public var kind: Kind
        public var a: JSON?
        public var b: JSON?

        /// A's given config with this difference set to B's value.
        func apply(to given: inout JSON) throws {
            switch kind {
            case .knob:
                // A nested override of the same knob ({"adam": {"epsilonMode": ...}}) would win over the dotted key.
                given = given.removing(path: ["overrides"] + name.split(separator: ".").map(String.init))
                try given.set(path: ["overrides", name], to: b ?? .null)
            case .config:
                let path = name.split(separator: ".").map(String.init)
                if let b { try given.set(path: path, to: b) } else { given = given.removing(path: path) }
            }
        }
    }

    /// Top-level config keys that are not differences in training numerics (or are handled apart:
    /// the seed is replaced by A's, knobs are compared resolved).
    static let notItems: Set<String> = ["version", "name", "seed", "semantics", "overrides", "record"]

    /// The differences between A and B: every knob whose resolved value differs (table order),
    /// then every other given config value that differs (dotted paths, arrays as one value) and
    /// whose resolved value differs too.
    public static func items(_ a: TrainConfig, _ b: TrainConfig) -> [Item] {
        var out = a.semantics.differences(from: b.semantics).map {
            Item(name: $0, kind: .knob, a: a.semantics.values[$0], b: b.semantics.values[$0])
        }
        let fa = leaves(a.given), fb = leaves(b.given)
        // A value written on one side and left to the same default on the other is no difference.
        let ra = leaves(a.resolved), rb = leaves(b.resolved)
        for path in Set(fa.keys).union(fb.keys).sorted() where fa[path] != fb[path] {
            if let x = ra[path], let y = rb[path], x == y { continue }
            out.append(Item(name: path, kind: .config, a: fa[path], b: fb[path]))
        }
        return out
    }

    static func leaves(_ j: JSON, prefix: String = "") -> [String: JSON] {
        guard case .object(let o) = j else { return [prefix: j] }
        var out: [String: JSON] = [:]
        for (k, v) in o where !(prefix.isEmpty && notItems.contains(k)) {
            out.merge(leaves(v, prefix: prefix.isEmpty ? k : "\(prefix).\(k)")) { x, _ in x }
        }
        return out
    }

    /// A config with its semantics profile replaced (`--profiles pytorch,keras`); overrides kept.
    public static func withProfile(_ c: TrainConfig, _ profile: String) throws -> TrainConfig {
        var given = c.given
        try given.set(path: ["semantics"], to: .string(profile))
        var out = try TrainConfig.parse(given, baseDirectory: c.baseDirectory)
        out.embedded = c.embedded
        return out
    }

    /// What one training run ended with.
    struct Outcome {
        var accuracy: Double
        var correct: Int
        var total: Int
        var finalLoss: Float
        var first: Divergence?
        var firstDraw: Divergence?
    }

    /// Trains `config` with `seed`, comparing against `reference` when given, else keeping its
    /// events in `trace` (and writing them to the record `recordPath`) when given.
    static func train(_ config: TrainConfig, seed: UInt64, level: RecordLevel, reference: [Int: [RecordedEvent]]?,
                      trace: TraceSink? = nil, recordPath: String? = nil) throws -> Outcome {
        var config = config
        config.seed = seed
        config.record.level = level
        let compare = reference.map { CompareSink(reference: $0) }
        let sink: RecordSink? = compare ?? trace
        let recorder: Recorder = if let sink { Recorder(seed: seed, level: level, sink: sink) } else { .plain(seed: seed) }
        let trainer = try Trainer(config: config, recorder: recorder)
        var writer: RecordWriter?
        if let recordPath, let trace {
            // The record's config is the one that ran: A's seed and the comparison's hash level.
            var given = config.given
            try given.set(path: ["seed"], to: .number(Double(seed)))
            try given.set(path: ["record", "level"], to: .string(level.rawValue))
            let ran = try TrainConfig.parse(given, baseDirectory: config.baseDirectory)
            let header = RecordHeader(
                configGiven: ran.given.text, configResolved: ran.resolved.text,
                configPath: URL(fileURLWithPath: config.baseDirectory).appendingPathComponent("explain-a.json").path,
                semantics: config.semantics.profile, level: level,
                environment: ReplaySession.currentEnvironment(config), cwreproVersion: EnvironmentProfile.cwreproVersion)
            let w = try RecordWriter(path: recordPath, header: header, keepTensors: 0, overwrite: true)
            for a in trainer.artifacts { try w.addArtifact(name: a.name, bytes: a.bytes) }
            recorder.sink = TeeSink(trace, w)
            writer = w
        }
        let r: RunResult
        do { r = try trainer.run() } catch { try? writer?.finish(.failed(reason: "\(error)")); throw error }
        try writer?.finish()
        compare?.finish(steps: r.steps)
        guard let e = r.final else { throw InputError("\(config.name): the run has no evaluation (no training step ran)") }
        return Outcome(accuracy: e.accuracy, correct: e.correct, total: e.total, finalLoss: r.finalLoss,
                       first: compare?.firstTensor, firstDraw: compare?.firstDraw)
    }

    public static func run(a: TrainConfig, b: TrainConfig, options: Options = Options()) throws -> ExplainReport {
        let start = Date()
        let level = options.level
        let diffs = items(a, b)
        // Every variant config is built (and so checked) before anything trains.
        func variant(_ subset: [Item]) throws -> TrainConfig {
            var given = a.given
            do {
                for item in subset { try item.apply(to: &given) }
                var c = try TrainConfig.parse(given, baseDirectory: a.baseDirectory)
                c.embedded = a.embedded
                return c
            } catch let e as InputError {
                throw InputError("A with \(subset.map(\.name).joined(separator: ", ")) set to B's value is not a valid config: \(e.message)")
            }
        }
        let singles = try diffs.map { try variant([$0]) }

        options.progress?("training A (\(a.name))")
        let trace = TraceSink()
        let oa = try train(a, seed: a.seed, level: level, reference: nil, trace: trace, recordPath: options.recordA)
        let reference = trace.steps
        var runs = 1

        // B with A's draws, B with its own, and each difference alone, in parallel when they can be.
        let ownSeed = b.seed != a.seed ? b.seed : a.seed &+ 1
        var jobs: [(TrainConfig, UInt64, Bool)] = [(b, a.seed, true), (b, ownSeed, false)]
        jobs += singles.map { ($0, a.seed, true) }
        options.progress?("training B with A's draws, B with its own draws, and \(diffs.count) single-difference variants")
        let sequential = options.parallel <= 1 || ([a, b] + singles).contains { $0.determinism.threads > 1 }
        let outcomes = try parallelMap(jobs, width: sequential ? 1 : options.parallel) { job in
            try train(job.0, seed: job.1, level: level, reference: job.2 ? reference : nil)
        }
        runs += jobs.count
        let ob = outcomes[0], own = outcomes[1]

        // The gap to explain: accuracy, or final loss when the accuracies are equal.
        let byAccuracy = ob.accuracy != oa.accuracy
        func metric(_ o: Outcome) -> Double { byAccuracy ? o.accuracy : Double(o.finalLoss) }
        let gap = metric(ob) - metric(oa)
        func share(_ o: Outcome) -> Double { gap == 0 ? 1 : (metric(o) - metric(oa)) / gap }
        func reproduces(_ o: Outcome) -> Bool { abs(share(o) - 1) <= 1 - options.threshold + 1e-12 }

        var cache: [[String]: Outcome] = [:]
        cache[[]] = oa
        cache[diffs.map(\.name).sorted()] = ob
        for (i, d) in diffs.enumerated() { cache[[d.name]] = outcomes[i + 2] }
        func test(_ subset: [Item]) throws -> Bool {
            let key = subset.map(\.name).sorted()
            if let o = cache[key] { return reproduces(o) }
            options.progress?("minimal set: trying {\(key.joined(separator: ", "))}")
            let o = try train(variant(subset), seed: a.seed, level: level, reference: reference)
            runs += 1
            cache[key] = o
            return reproduces(o)
        }
        let minimal = gap == 0 ? [] : try minimalSet(diffs, singleShares: diffs.indices.map { share(outcomes[$0 + 2]) }, test)
        let explained = gap == 0 ? 1 : share(cache[minimal.map(\.name).sorted()]!)

        func summary(_ o: Outcome, seed: UInt64?) -> ExplainReport.Run {
            .init(testAccuracy: o.accuracy, correct: o.correct, total: o.total, finalLoss: Double(o.finalLoss), seed: seed)
        }
        let effects = diffs.enumerated().map { i, d in
            let o = outcomes[i + 2]
            return ExplainReport.KnobEffect(
                knob: d.name, kind: d.kind, a: d.a, b: d.b, firstDivergentStep: o.first?.step,
                firstDivergentTensor: o.first?.name, firstDivergentRole: o.first?.role,
                testAccuracy: o.accuracy, finalLoss: Double(o.finalLoss),
                accuracyDelta: o.accuracy - oa.accuracy, lossDelta: Double(o.finalLoss) - Double(oa.finalLoss),
                gapShare: gap == 0 ? nil : share(o))
        }
        return ExplainReport(
            a: summary(oa, seed: a.seed), b: summary(ob, seed: a.seed), bOwnDraws: summary(own, seed: ownSeed),
            aName: a.name, bName: b.name,
            firstDivergence: ob.first.map { d in
                .init(step: d.step, tensor: d.name, role: d.role,
                      causedBy: diffs.indices.filter { outcomes[$0 + 2].first.map { ($0.step, $0.name, $0.role) == (d.step, d.name, d.role) } ?? false }
                          .map { diffs[$0].name })
            },
            knobs: effects, minimalSet: minimal.map(\.name),
            gapMetric: byAccuracy ? "testAccuracy" : "finalLoss", gap: gap,
            explainedShare: explained, unexplainedShare: 1 - explained, threshold: options.threshold,
            level: level.rawValue, runs: runs, seconds: Date().timeIntervalSince(start))
    }

    /// A 1-minimal subset of `diffs` that passes `test`: ddmin started from the shortest prefix of the
    /// differences ranked by how close each alone comes to the whole gap (share 1) that passes
    /// (usually a few runs), or from all of them.
    static func minimalSet(_ diffs: [Item], singleShares: [Double], _ test: ([Item]) throws -> Bool) throws -> [Item] {
        let ranked = diffs.indices.sorted { abs(1 - singleShares[$0]) < abs(1 - singleShares[$1]) }.map { diffs[$0] }
        var initial = diffs
        for k in 1..<max(1, ranked.count) where try test(Array(ranked.prefix(k))) {
            initial = Array(ranked.prefix(k))
            break
        }
        return try ddmin(initial, test)
    }

    /// Zeller's ddmin: a 1-minimal subset of `items` for which `test` holds (`test(items)` must hold).
    static func ddmin(_ items: [Item], _ test: ([Item]) throws -> Bool) throws -> [Item] {
        if try test([]) { return [] }
        var c = items, n = 2
        while c.count >= 2 {
            let chunks = split(c, into: n)
            if let hit = try chunks.first(where: { try test($0) }) {
                c = hit; n = 2; continue
            }
            if n > 2, let i = try chunks.indices.first(where: { i in try test(complement(c, chunks[i])) }) {
                c = complement(c, chunks[i]); n = max(n - 1, 2); continue
            }
            if n >= c.count { break }
            n = min(c.count, 2 * n)
        }
        return c
    }

    static func split(_ c: [Item], into n: Int) -> [[Item]] {
        (0..<n).map { i in Array(c[(i * c.count / n)..<((i + 1) * c.count / n)]) }.filter { !$0.isEmpty }
    }

    static func complement(_ c: [Item], _ part: [Item]) -> [Item] {
        let names = Set(part.map(\.name))
        return c.filter { !names.contains($0.name) }
    }

    /// `body` over `xs`, `width` at a time, results in order.
    static func parallelMap<T, R>(_ xs: [T], width: Int, _ body: (T) throws -> R) throws -> [R] {
        if width <= 1 { return try xs.map(body) }
        var results = [Result<R, Error>?](repeating: nil, count: xs.count)
        let lock = NSLock()
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: min(width, xs.count)) { worker in
                var i = worker
                while i < xs.count {
                    let r = Result { try body(xs[i]) }
                    lock.lock(); results[i] = r; lock.unlock()
                    i += width
                }
            }
        }
        return try results.map { try $0!.get() }
    }
}

extension JSON {
    /// This value without the key at `path` (unchanged when absent).
    func removing(path: [String]) -> JSON {
        guard case .object(var o) = self, let k = path.first else { return self }
        if path.count == 1 { o[k] = nil } else if let v = o[k] { o[k] = v.removing(path: Array(path.dropFirst())) }
        return .object(o)
    }
}
