import Engine
import Foundation
import Recorder

/// Why two records cannot be compared as asked.
public enum CompareError: Error, Equatable, Sendable {
    /// A value comparison needs per-tensor statistics, which schema 1 records lack.
    case noStatistics(path: String)
}

/// `cwrepro compare`: two records (any origin) step by step and tensor by tensor. Records of one
/// implementation (both cwrepro's, or both from the same framework) are compared bit for bit, as
/// `replay` and `diff` do; records of two implementations (real torch against cwrepro's pytorch
/// profile, torch against Keras) by their statistics within the rounding envelope
/// (`ToleranceModel`), with the chaotic drift (`Drift`) and the noise-dominated tensors
/// (`NoiseDominated`) told apart from differences in the math. docs/compare.md has the rules.
public enum RecordComparison {
    public struct Options: Sendable {
        /// Replaces the envelope's computed bounds (a relative error, e.g. 1e-5).
        public var rtol: Double?
        /// Compare by value even two records of one implementation (their bits are still compared).
        public var values: Bool
        /// Accept a record of a run that did not finish when nothing differs in what both hold.
        public var allowIncomplete: Bool
        public init(rtol: Double? = nil, values: Bool = false, allowIncomplete: Bool = false) {
            self.rtol = rtol; self.values = values; self.allowIncomplete = allowIncomplete
        }
    }

    public static func compare(_ ra: RecordReader, _ rb: RecordReader, options: Options = Options()) throws -> CompareReport {
        let oa = RecordOrigin.of(ra), ob = RecordOrigin.of(rb)
        let mode: CompareReport.Mode = oa.implementation == ob.implementation && !options.values ? .bits : .values
        let valuesCompared = ra.schemaVersion >= 2 && rb.schemaVersion >= 2
        if mode == .values && !valuesCompared { throw CompareError.noStatistics(path: ra.schemaVersion < 2 ? ra.path : rb.path) }
        let sa = try ra.steps(), sb = try rb.steps()
        let rowsB = Dictionary(uniqueKeysWithValues: sb.map { ($0.step, $0) })
        let shared = sa.filter { rowsB[$0.step] != nil }

        // Events of both records at each shared step, read once.
        var eventsA: [Int: [RecordedEvent]] = [:], eventsB: [Int: [RecordedEvent]] = [:]
        for s in shared { eventsA[s.step] = try ra.events(step: s.step); eventsB[s.step] = try rb.events(step: s.step) }
        let terms = shared.lazy.compactMap { eventsA[$0.step]!.first { $0.name == "batch.x" && $0.role == .batch } }.first
            .map { $0.shape.reduce(1, *) } ?? 1
        let tolerance = ToleranceModel(terms: terms, rtol: options.rtol)

        let (configChanges, environmentChanges) = try changes(ra, rb, sameImplementation: oa.implementation == ob.implementation)
        var report = CompareReport(
            a: side(ra, oa, sa), b: side(rb, ob, sb), mode: mode, verdict: .identical, firstDivergence: nil, bitDivergence: nil,
            firstDivergentDraw: nil, diagnosis: nil, tolerance: tolerance, valuesCompared: valuesCompared, firstExcursion: nil, divergence: nil, drift: nil,
            steps: [], series: [], noiseDominated: [], onlyInA: [], onlyInB: [], evaluations: [], configChanges: configChanges,
            environmentChanges: environmentChanges)

        let coverage = RecordPairCoverage(ra, sa, rb, sb)
        if mode == .bits {
            try findBitDivergence(ra, rb, shared, rowsB, sa, sb, eventsA, eventsB, lastShared: coverage.lastSharedStep, into: &report)
        } else {
            try findBitDivergenceByName(ra, rb, shared, eventsA, eventsB, into: &report)
        }
        if report.bitDivergence != nil || report.firstDivergentDraw != nil {
            report.diagnosis = .diagnose(Evidence(first: FirstDivergences(tensor: report.bitDivergence, draw: report.firstDivergentDraw),
                                                  configChanges: configChanges.filter { $0.key != "name" },
                                                  environmentChanges: environmentChanges))
        }
        if valuesCompared {
            var values = ValueComparison(tolerance: tolerance)
            for s in shared { values.add(step: s, rowsB[s.step]!, eventsA[s.step]!, eventsB[s.step]!) }
            values.finish(into: &report)
        } else {
            report.onlyInA = onlyIn(shared.map { eventsA[$0.step]! }, shared.map { eventsB[$0.step]! })
            report.onlyInB = onlyIn(shared.map { eventsB[$0.step]! }, shared.map { eventsA[$0.step]! })
        }
        report.evaluations = try evaluations(ra, rb)

        // A length difference counts unless the shorter run did not finish (it stopped there).
        let bitsDiffer = report.bitDivergence != nil || report.firstDivergentDraw != nil || (sa.count != sb.count && coverage.lastSharedStep == nil)
        let predictionsDiffer = report.evaluations.contains { !$0.predictionsIdentical }
        if !bitsDiffer && !predictionsDiffer {
            report.verdict = .identical
        } else if mode == .bits {
            report.verdict = .diverged
            report.firstDivergence = (report.bitDivergence ?? report.firstDivergentDraw).map { .init(step: $0.step, tensor: $0.name, role: $0.role) }
        } else if let d = report.divergence {
            report.verdict = .diverged
            report.firstDivergence = .init(step: d.step, tensor: d.name, role: d.role)
        } else {
            report.verdict = .withinTolerance
        }
        if coverage.trainingStepsShared == 0 {
            report.incompleteness = .noTrainingSteps
        } else if let gap = coverage.gap {
            (report.incompleteRecord, report.incompleteness) = gap
        }
        report.outcome = .of(differs: report.verdict == .diverged, gap: report.incompleteness, acceptIncomplete: options.allowIncomplete)
        return report
    }

    /// Compares the records at `pathA` and `pathB`.
    public static func compare(_ pathA: String, _ pathB: String, options: Options = Options()) throws -> CompareReport {
        try compare(RecordReader(path: pathA), RecordReader(path: pathB), options: options)
    }

    static func side(_ r: RecordReader, _ origin: RecordOrigin, _ steps: [StepRow]) -> CompareReport.Side {
        var name = "?"
        if let resolved = try? RecordedConfig.resolved(r), case .string(let n)? = resolved["name"] { name = n }
        return .init(path: r.path, origin: origin, name: name, level: r.level, steps: steps.filter { $0.step >= 0 }.count, status: r.status.name)
    }

    /// Config keys that differ (for two implementations only keys both configs have: their
    /// configs describe the run in different terms), and bit-relevant environment facts that differ.
    static func changes(_ ra: RecordReader, _ rb: RecordReader, sameImplementation: Bool) throws -> ([Change], [Change]) {
        var config = Change.between(try RecordedConfig.resolved(ra), try RecordedConfig.resolved(rb))
        if !sameImplementation { config = config.filter { $0.old != nil && $0.new != nil } }
        let ea = EnvironmentProfile.comparable(ra.environment), eb = EnvironmentProfile.comparable(rb.environment)
        let env = EnvironmentProfile.bitRelevantKeys.compactMap { k -> Change? in
            guard ea[k] != eb[k], sameImplementation || (ea[k] != nil && eb[k] != nil) else { return nil }
            return Change(key: k, old: ea[k], new: eb[k])
        }
        return (config, env)
    }

    /// The first tensor whose bits differ, as `replay` finds it: the first shared step whose
    /// digest differs, and in it the first event that differs (records of different levels:
    /// among the roles both hashed). One record longer than the other: the first step only it has.
    static func findBitDivergence(_ ra: RecordReader, _ rb: RecordReader, _ shared: [StepRow], _ rowsB: [Int: StepRow],
                                  _ sa: [StepRow], _ sb: [StepRow], _ eventsA: [Int: [RecordedEvent]], _ eventsB: [Int: [RecordedEvent]],
                                  lastShared: Int?, into r: inout CompareReport) throws {
        let level = min(ra.level, rb.level), sameLevel = ra.level == rb.level
        /// The events of the roles both records hash, renumbered (`seq` is their position in the
        /// returned list); `original` maps it back to the record's own.
        func filtered(_ all: [RecordedEvent]) -> (events: [RecordedEvent], original: [Int]) {
            guard !sameLevel else { return (all, all.map(\.seq)) }
            let kept = all.filter { level.includes($0.role) }
            return (kept.enumerated().map { i, e in var e = e; e.seq = i; return e }, kept.map(\.seq))
        }
        for s in shared {
            let (ea, oa) = filtered(eventsA[s.step]!), (eb, ob) = filtered(eventsB[s.step]!)
            let differs = sameLevel ? s.digest != rowsB[s.step]!.digest
                : ea.map { "\($0.name)\u{0}\($0.role.rawValue)\u{0}\($0.hash)" } != eb.map { "\($0.name)\u{0}\($0.role.rawValue)\u{0}\($0.hash)" }
            guard differs else { continue }
            var c = FirstDivergences.compare(expected: ea, actual: eb)
            // A's event at B's position only when the alignment did not shift them (EventAlignment).
            if var d = c.tensor, d.kind == .hash, ea.indices.contains(d.seq), ea[d.seq].name == d.name,
               let pa = try ra.payload(step: d.step, seq: oa[d.seq]),
               let pb = try rb.payload(step: d.step, seq: ob[d.seq]), eb[d.seq].dtype == .float32 {
                d.values = ValueDiff.compare(expected: pa, actual: pb)
                c.tensor = d
            }
            r.bitDivergence = c.tensor
            r.firstDivergentDraw = c.draw
            return
        }
        // Every shared step agrees; one record goes on: its first extra step (unless the shorter
        // one did not finish: `lastShared` set).
        let longer = sa.count > sb.count ? (ra, sa, true) : (rb, sb, false)
        guard sa.count != sb.count, lastShared == nil, let extra = longer.1.first(where: { s in !(longer.2 ? sb : sa).contains { $0.step == s.step } }) else { return }
        if let first = try longer.0.events(step: extra.step).first {
            r.bitDivergence = longer.2 ? .missing(first) : Divergence.between(expected: nil, actual: first)
        }
    }

    /// Two implementations record different sets of tensors (cwrepro's draws and orders, a trace's
    /// none): the first tensor of A, in execution order, whose counterpart in B (same step, name and
    /// role) has other bits. Tensors without a counterpart are listed apart (`onlyInA`/`onlyInB`).
    static func findBitDivergenceByName(_ ra: RecordReader, _ rb: RecordReader, _ shared: [StepRow],
                                        _ eventsA: [Int: [RecordedEvent]], _ eventsB: [Int: [RecordedEvent]], into r: inout CompareReport) throws {
        for s in shared {
            let eb = Dictionary(eventsB[s.step]!.map { ($0.name + "\u{0}" + $0.role.rawValue, $0) }, uniquingKeysWith: { x, _ in x })
            for e in eventsA[s.step]! {
                guard let f = eb[e.name + "\u{0}" + e.role.rawValue], var d = Divergence.between(expected: e, actual: f) else { continue }
                d.seq = e.seq
                if d.kind == .hash, e.dtype == .float32, let pa = try ra.payload(step: s.step, seq: e.seq), let pb = try rb.payload(step: s.step, seq: f.seq) {
                    d.values = ValueDiff.compare(expected: pa, actual: pb)
                }
                r.bitDivergence = d
                return
            }
        }
    }

    /// Tensors (name, role) of `mine` absent from `theirs` at the same steps, with the number of steps.
    static func onlyIn(_ mine: [[RecordedEvent]], _ theirs: [[RecordedEvent]]) -> [NameCount] {
        var counts: [String: NameCount] = [:], order: [String] = []
        for (m, t) in zip(mine, theirs) {
            let keys = Set(t.map { $0.name + "\u{0}" + $0.role.rawValue })
            for e in m where !keys.contains(e.name + "\u{0}" + e.role.rawValue) {
                let k = e.name + "\u{0}" + e.role.rawValue
                if counts[k] == nil { order.append(k); counts[k] = NameCount(name: e.name, role: e.role, steps: 0) }
                counts[k]!.steps += 1
            }
        }
        return order.map { counts[$0]! }
    }

    /// Evaluations after the same step on the same split, with agreement where the predictions are known.
    static func evaluations(_ ra: RecordReader, _ rb: RecordReader) throws -> [EvaluationComparison] {
        let eb = Dictionary(try rb.evaluations().map { ("\($0.step)|\($0.split)", $0) }, uniquingKeysWith: { x, _ in x })
        return try ra.evaluations().compactMap { a -> EvaluationComparison? in
            guard let b = eb["\(a.step)|\(a.split)"], a.total == b.total else { return nil }
            let identical = a.predictionsHash == b.predictionsHash
            var agreeing: Int? = identical ? a.total : nil
            if !identical, let pa = try predictions(ra, a), let pb = try predictions(rb, b), pa.count == pb.count {
                agreeing = zip(pa, pb).filter { $0 == $1 }.count
            }
            return EvaluationComparison(step: a.step, split: a.split, total: a.total, correctA: a.correct, correctB: b.correct,
                                        accuracyA: a.accuracy, accuracyB: b.accuracy,
                                        perClassDeltas: zip(a.perClassAccuracy, b.perClassAccuracy).map { $1 - $0 },
                                        predictionsIdentical: identical, agreeing: agreeing)
        }
    }

    /// The predictions of an evaluation, when the record embeds them (imported records), checked
    /// against the evaluation's predictions hash.
    static func predictions(_ r: RecordReader, _ e: Evaluation) throws -> [Int32]? {
        guard let bytes = try r.artifact(TraceImport.predictionsArtifact(step: e.step, split: e.split)), bytes.count == 4 * e.total,
              bytes.withUnsafeBytes({ TensorHash.tensor(dtype: .int32, shape: [e.total], raw: $0) }) == e.predictionsHash else { return nil }
        return bytes.withUnsafeBytes { Array($0.bindMemory(to: Int32.self)) }
    }
}
