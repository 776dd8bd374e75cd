import Engine
import Foundation
import Recorder

/// `cwrepro explain A B`: why two configs train differently, and whether they do beyond seed noise.
///
/// 1. Both sides run under the same `seeds` seeds: A's seed and the next ones (B's own seed is
///    not used). Draws are Philox streams keyed by (seed, site), so on one seed both sides see
///    the same underlying uniforms and data order; across seeds the initial weights, the batch
///    order and the dropout masks all change (what a config pins instead, `model.init` or
///    `data.order`, is reported, and `unpin` hands it back to the seed).
/// 2. The gap is B's test accuracy minus A's over the seeds: the difference of the means with
///    Welch's 95% interval and test, Mann-Whitney U and Levene's test (`Statistics.compare`, as
///    Pham et al. compare training setups). If the interval contains 0 the gap is within seed
///    noise: nothing is attributed and the minimal set is empty.
/// 3. On the first seed, A is trained with every tensor hashed (at `level`), and B and A with
///    each difference (a semantics knob, or another config value) are compared with it: B's
///    first divergent step and tensor, and each difference's. A difference that leaves A
///    bit-identical is not run again.
/// 4. Each other difference is applied to A alone on every seed: its effect (variant - A, per
///    seed) as a mean with its paired t interval, and its share of the gap (clamped to
///    `ExplainReport.shareRange`; none when the gap is not significant).
/// 5. When the gap is significant, delta debugging (Zeller's ddmin) over the differences,
///    started from the shortest prefix (in order of single effect) that already reproduces the
///    gap, finds a 1-minimal set whose application to A reproduces the gap's mean over the seeds
///    to within 1 - `threshold`; its effect and what it leaves unexplained, each with its interval.
public enum Explain {
    /// The default number of seeds: with 8 a side, Welch's 95% interval is about +-1.07 seed
    /// standard deviations wide (t = 2.14 at 14 degrees of freedom, times sqrt(2/8)), so a gap
    /// of about 1.5 standard deviations is found 80% of the time; Mann-Whitney's exact test
    /// applies (no ties), and 16 runs a side-pair split evenly over 2 cores.
    public static let defaultSeeds = 8
    /// The most seeds a side trains under (as `sweep` allows): each is at least two runs.
    public static let maxSeeds = 10_000

    /// What `run` is doing, for a progress display.
    public enum Progress: Sendable {
        /// Training each config as written, to compare with its real run.
        case checkingFidelity(name: String)
        /// Training both sides on every seed (A on the first with every tensor hashed).
        case trainingSides(seeds: Int)
        /// Training B and each difference on the first seed, compared with A.
        case comparingDifferences(differences: Int)
        /// Training each difference that changes A on the other seeds.
        case measuringEffects(differences: Int, seeds: Int)
        /// Delta debugging tries A with this set of differences applied, on every seed.
        case tryingMinimalSet([String])
    }

    public struct Options: Sendable {
        /// Seeds per side (at least 2).
        public var seeds = Explain.defaultSeeds
        /// Hand the initial weights and the batch order back to the seed (`Explain.unpinned`).
        public var unpin = false
        /// The minimal set must reproduce between `threshold` and 2 - `threshold` of the gap.
        public var threshold = 0.9
        /// Confidence level of every interval.
        public var confidence = 0.95
        /// Hash level of the first seed's comparisons: `activations` names the first divergent layer output.
        public var level: RecordLevel = .activations
        /// Runs at a time (training runs are independent; 1 = sequential).
        public var parallel = max(1, ProcessInfo.processInfo.activeProcessorCount)
        /// Also write A's record on the first seed here (replayable with `cwrepro replay`), replacing an existing file.
        public var recordA: String?
        /// Traces of the real runs A and B were exported from: each config, as written, is first
        /// checked against its trace (`Fidelity.check`).
        public var traceA: String?
        public var traceB: String?
        /// Relative loss tolerance of the fidelity check.
        public var fidelityRTol = Fidelity.defaultRTol
        public var progress: (@Sendable (Progress) -> Void)?
        public init() {}
    }

    public static func run(a given: TrainConfig, b givenB: TrainConfig, options: Options = Options()) throws -> ExplainReport {
        let start = Date()
        try ExplainError.checkSeeds(options.seeds)
        let fidelity = try checkFidelity(given, givenB, options)
        var (a, b) = (given, givenB)
        var unpinnedA: [String] = [], unpinnedB: [String] = []
        if options.unpin {
            (a, unpinnedA) = try unpinned(a)
            (b, unpinnedB) = try unpinned(b)
        }
        let sourcesA = SeedSources(a), sourcesB = SeedSources(b)
        guard sourcesA.seedMatters || sourcesB.seedMatters else { throw ExplainError.seedsVaryNothing(a: sourcesA.pinned, b: sourcesB.pinned) }

        let seeds = (0..<options.seeds).map { a.seed &+ UInt64($0) }
        let level = options.level
        let diffs = items(a, b)
        // Every variant config is built (and so checked) before anything trains.
        let singles = try diffs.map { try variant(a, [$0]) }
        // Runs on more than one thread would only wait for each other (each holds OpenBLAS alone).
        let width = options.parallel <= 1 || ([a, b] + singles).contains { $0.determinism.threads > 1 } ? 1 : options.parallel
        var runs = fidelity.runs

        // 1. Both sides on every seed; A on the first seed hashed, as the reference.
        options.progress?(.trainingSides(seeds: seeds.count))
        let trace = TraceSink()
        let others = Array(seeds.dropFirst())
        let sideJobs: [(TrainConfig, UInt64, Bool)] = [(a, seeds[0], true)] + others.map { (a, $0, false) } + others.map { (b, $0, false) }
        let sideOutcomes = try parallelMap(sideJobs, width: width) { job in
            job.2 ? try train(job.0, seed: job.1, level: level, reference: nil, trace: trace, recordPath: options.recordA)
                : try train(job.0, seed: job.1, level: .params, reference: nil)
        }
        runs += sideJobs.count
        let reference = trace.steps

        // 2. B and each difference alone on the first seed, compared with A's hashes.
        options.progress?(.comparingDifferences(differences: diffs.count))
        let firstJobs = [b] + singles
        let firstOutcomes = try parallelMap(firstJobs, width: width) { try train($0, seed: seeds[0], level: level, reference: reference) }
        runs += firstJobs.count
        let outA = [sideOutcomes[0]] + sideOutcomes[1..<seeds.count]
        let outB = [firstOutcomes[0]] + sideOutcomes[seeds.count...]

        // 3. Each difference that changes A, on the other seeds.
        let effective = diffs.indices.filter { firstOutcomes[$0 + 1].first != nil }
        options.progress?(.measuringEffects(differences: effective.count, seeds: others.count))
        let effectJobs = effective.flatMap { i in others.map { (singles[i], $0) } }
        let effectOutcomes = try parallelMap(effectJobs, width: width) { try train($0.0, seed: $0.1, level: .params, reference: nil) }
        runs += effectJobs.count
        var perSeed: [Int: [Outcome]] = [:]
        for (k, i) in effective.enumerated() {
            perSeed[i] = [firstOutcomes[i + 1]] + effectOutcomes[(k * others.count)..<((k + 1) * others.count)]
        }

        // The gap and each difference's effect.
        let accA = outA.map(\.accuracy), accB = outB.map(\.accuracy)
        let sideA = try side(a, outA, sourcesA, unpinnedA), sideB = try side(b, outB, sourcesB, unpinnedB)
        if sideA.distinctRuns == 1 && sideB.distinctRuns == 1 && seeds.count > 1 {
            throw ExplainError.seedsChangedNothing(seeds: seeds.count)
        }
        let gap = ExplainReport.Gap(try Statistics.compare(accA, accB, level: options.confidence))
        let lossesFinite = (outA + outB).allSatisfy { $0.finalLoss.isFinite }
        let lossGap = lossesFinite
            ? ExplainReport.Gap(try Statistics.compare(outA.map { Double($0.finalLoss) }, outB.map { Double($0.finalLoss) }, level: options.confidence))
            : nil
        func accuracyEffect(_ os: [Outcome]) throws -> ExplainReport.Estimate {
            try ExplainReport.Estimate(zip(os, outA).map { $0.accuracy - $1.accuracy }, level: options.confidence)
        }
        func lossEffect(_ os: [Outcome]) throws -> ExplainReport.Estimate? {
            guard (os + outA).allSatisfy({ $0.finalLoss.isFinite }) else { return nil }
            return try ExplainReport.Estimate(zip(os, outA).map { Double($0.finalLoss) - Double($1.finalLoss) }, level: options.confidence)
        }
        let effects: [ExplainReport.KnobEffect] = try diffs.enumerated().map { i, d in
            let o = firstOutcomes[i + 1]
            let acc = try perSeed[i].map(accuracyEffect)
            let (share, status) = acc.map { ExplainReport.share($0.mean, of: gap) } ?? (nil, .noEffect)
            return ExplainReport.KnobEffect(
                knob: d.name, kind: d.kind, a: d.a, b: d.b, firstDivergentStep: o.first?.step,
                firstDivergentTensor: o.first?.name, firstDivergentRole: o.first?.role,
                accuracyEffect: acc, lossEffect: try perSeed[i].flatMap(lossEffect),
                gapShare: acc == nil ? nil : share, gapShareStatus: acc == nil ? .noEffect : status)
        }

        // 4. The minimal set, when there is a gap to explain.
        let verdict: ExplainReport.Verdict = diffs.isEmpty ? .noDifferences : gap.significant ? .gap : .withinNoise
        var minimal: [Item] = []
        var minimalEffect: ExplainReport.Estimate?, unexplained: ExplainReport.Estimate?
        var explained: (Double?, ExplainReport.ShareStatus) = (nil, .gapNotSignificant)
        if verdict == .gap {
            var cache: [[String]: [Outcome]] = [[]: outA, diffs.map(\.name).sorted(): outB]
            for (i, os) in perSeed { cache[[diffs[i].name]] = os }
            for i in diffs.indices where perSeed[i] == nil { cache[[diffs[i].name]] = outA }  // bit-identical to A on the first seed
            func meanEffect(_ os: [Outcome]) -> Double { zip(os, outA).reduce(0) { $0 + $1.0.accuracy - $1.1.accuracy } / Double(os.count) }
            func reproduces(_ os: [Outcome]) -> Bool { abs(meanEffect(os) / gap.mean - 1) <= 1 - options.threshold + 1e-12 }
            func test(_ subset: [Item]) throws -> Bool {
                let key = subset.map(\.name).sorted()
                if let os = cache[key] { return reproduces(os) }
                options.progress?(.tryingMinimalSet(key))
                let config = try variant(a, subset)
                let os = try parallelMap(seeds, width: width) { try train(config, seed: $0, level: .params, reference: nil) }
                runs += seeds.count
                cache[key] = os
                return reproduces(os)
            }
            let closeness = diffs.indices.map { i in perSeed[i].map { abs(1 - meanEffect($0) / gap.mean) } ?? .infinity }
            minimal = try DeltaDebugging.minimal(diffs, closeness: closeness, name: \.name, test)
            let os = cache[minimal.map(\.name).sorted()]!
            minimalEffect = try accuracyEffect(os)
            unexplained = try ExplainReport.Estimate(zip(outB, os).map { $0.accuracy - $1.accuracy }, level: options.confidence)
            explained = ExplainReport.share(minimalEffect!.mean, of: gap)
        }

        return ExplainReport(
            aName: a.name, bName: b.name, seeds: seeds, confidence: options.confidence, a: sideA, b: sideB,
            gap: gap, lossGap: lossGap, verdict: verdict,
            firstDivergence: outB[0].first.map { d in
                .init(step: d.step, tensor: d.name, role: d.role,
                      causedBy: diffs.indices.filter { firstOutcomes[$0 + 1].first.map { ($0.step, $0.name, $0.role) == (d.step, d.name, d.role) } ?? false }
                          .map { diffs[$0].name })
            },
            knobs: effects, minimalSet: minimal.map(\.name), minimalSetEffect: minimalEffect, unexplained: unexplained,
            explainedShare: explained.0, explainedShareStatus: explained.1, threshold: options.threshold, level: level,
            fidelity: fidelity.report, runs: runs, seconds: Date().timeIntervalSince(start))
    }

    /// One side's runs summarised.
    static func side(_ c: TrainConfig, _ os: [Outcome], _ sources: SeedSources, _ unpinned: [String]) throws -> ExplainReport.Side {
        let acc = os.map(\.accuracy)
        return ExplainReport.Side(name: c.name, accuracy: acc, correct: os.map(\.correct), total: os.first?.total ?? 0,
                                  finalLoss: os.map { Double($0.finalLoss) }, summary: try Statistics.summary(acc),
                                  distinctRuns: Set(os.map(\.identity)).count, seedSources: sources, unpinned: unpinned)
    }

    /// Each config, as written, against the trace of its real run (both at once when both are given).
    static func checkFidelity(_ a: TrainConfig, _ b: TrainConfig, _ options: Options) throws -> (report: ExplainReport.FidelitySides?, runs: Int) {
        let jobs = [(a, options.traceA), (b, options.traceB)].compactMap { c, t in t.map { (c, $0) } }
        guard !jobs.isEmpty else { return (nil, 0) }
        for (c, _) in jobs { options.progress?(.checkingFidelity(name: c.name)) }
        let reports = try parallelMap(jobs, width: jobs.contains { $0.0.determinism.threads > 1 } ? 1 : options.parallel) {
            try Fidelity.check(config: $0.0, trace: $0.1, rtol: options.fidelityRTol)
        }
        var k = 0
        func next(_ t: String?) -> FidelityReport? { guard t != nil else { return nil }; k += 1; return reports[k - 1] }
        let ra = next(options.traceA), rb = next(options.traceB)
        return (ExplainReport.FidelitySides(a: ra, b: rb), jobs.count)
    }
}

/// Why `explain` cannot measure seed noise (the command line words these with its options).
public enum ExplainError: Error, Equatable, Sendable {
    /// Fewer than 2 seeds: no interval can be computed.
    case tooFewSeeds(Int)
    /// More than `Explain.maxSeeds` seeds (the sweep's limit too).
    case tooManySeeds(Int)
    /// Neither config lets the seed draw anything: each pins these sources.
    case seedsVaryNothing(a: [SeedSources.Pin], b: [SeedSources.Pin])
    /// Every run of both sides was bit-identical across the seeds.
    case seedsChangedNothing(seeds: Int)
}

extension ExplainError {
    /// Throws unless 2 <= `seeds` <= `Explain.maxSeeds`.
    public static func checkSeeds(_ seeds: Int) throws {
        if seeds < 2 { throw ExplainError.tooFewSeeds(seeds) }
        if seeds > Explain.maxSeeds { throw ExplainError.tooManySeeds(seeds) }
    }
}
