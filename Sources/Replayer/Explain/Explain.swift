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
    /// What `run` is doing, for a progress display.
    public enum Progress: Sendable {
        /// Training A, hashing every tensor.
        case trainingA(name: String)
        /// Training B with A's draws, B with its own, and each difference alone.
        case trainingVariants(differences: Int)
        /// Delta debugging tries A with this set of differences applied.
        case tryingMinimalSet([String])
    }

    public struct Options: Sendable {
        /// The minimal set must reproduce between `threshold` and 2 - `threshold` of the gap.
        public var threshold = 0.9
        /// Hash level of the comparison runs: `activations` names the first divergent layer output.
        public var level: RecordLevel = .activations
        /// Runs at a time (training runs of one config are independent; 1 = sequential).
        public var parallel = max(1, ProcessInfo.processInfo.activeProcessorCount)
        /// Also write A's record here (replayable with `cwrepro replay`), replacing an existing file.
        public var recordA: String?
        public var progress: (@Sendable (Progress) -> Void)?
        public init() {}
    }

    public static func run(a: TrainConfig, b: TrainConfig, options: Options = Options()) throws -> ExplainReport {
        let start = Date()
        let level = options.level
        let diffs = items(a, b)
        // Every variant config is built (and so checked) before anything trains.
        let singles = try diffs.map { try variant(a, [$0]) }

        options.progress?(.trainingA(name: a.name))
        let trace = TraceSink()
        let oa = try train(a, seed: a.seed, level: level, reference: nil, trace: trace, recordPath: options.recordA)
        let reference = trace.steps
        var runs = 1

        // B with A's draws, B with its own, and each difference alone, in parallel when they can be.
        let ownSeed = b.seed != a.seed ? b.seed : a.seed &+ 1
        var jobs: [(TrainConfig, UInt64, Bool)] = [(b, a.seed, true), (b, ownSeed, false)]
        jobs += singles.map { ($0, a.seed, true) }
        options.progress?(.trainingVariants(differences: diffs.count))
        // Runs on more than one thread would only wait for each other (each holds OpenBLAS alone).
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
            options.progress?(.tryingMinimalSet(key))
            let o = try train(variant(a, subset), seed: a.seed, level: level, reference: reference)
            runs += 1
            cache[key] = o
            return reproduces(o)
        }
        let minimal = gap == 0 ? [] : try DeltaDebugging.minimal(diffs, closeness: diffs.indices.map { abs(1 - share(outcomes[$0 + 2])) },
                                                                 name: \.name, test)
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
            gapMetric: byAccuracy ? .testAccuracy : .finalLoss, gap: gap,
            explainedShare: explained, unexplainedShare: 1 - explained, threshold: options.threshold,
            level: level, runs: runs, seconds: Date().timeIntervalSince(start))
    }
}
