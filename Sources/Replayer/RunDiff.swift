import Engine
import Foundation
import Recorder

/// How a comparison criterion came out: identical (pass), within its tolerance (warn), beyond it (fail).
public enum Verdict: String, Codable, Sendable {
    case pass, warn, fail
}

/// One reproducibility criterion between two runs (after Chen et al., "Towards Training
/// Reproducible Deep Learning Models", ICSE 2022: a training process is reproducible when its
/// models are bit-identical, or when their predictions and per-class results are the same).
public struct Criterion: Equatable, Sendable {
    public enum Name: String, Sendable, CaseIterable {
        case finalWeights = "bit-identical final weights"
        case testPredictions = "identical test predictions"
        case perClassAccuracy = "per-class accuracy deltas"
        case overallAccuracy = "overall accuracy delta"
        case lossDelta = "per-step loss max delta"
    }

    /// What was measured.
    public enum Finding: Equatable, Sendable {
        /// A record has no parameter hashes.
        case noParameterHashes
        /// The final parameter tensors: `differing` by name (A's names), out of `total`.
        case weights(differing: [String], countA: Int, countB: Int)
        /// The last test evaluations' predictions hashes.
        case predictions(a: UInt64, b: UInt64, samples: Int)
        /// Per-class accuracy, B minus A.
        case perClass(deltas: [Double])
        /// The last test evaluations.
        case accuracy(a: Evaluation, b: Evaluation)
        /// A record has no test evaluation.
        case noTestEvaluation(record: String)
        /// The largest relative loss difference over the steps both ran, at `step`.
        case loss(step: Int, relative: Double, a: Float, b: Float)
        /// No training step in common.
        case noCommonStep
    }

    public var name: Name
    public var verdict: Verdict
    public var finding: Finding
}

/// One config key in both runs (for `diff --all`).
public struct KeyComparison: Codable, Sendable, Equatable {
    public var key: String
    public var a: String?
    public var b: String?
    public var changed: Bool
}

/// One environment fact that differs; `bitRelevant` when it can change result bits.
public struct EnvironmentChange: Codable, Sendable, Equatable {
    public var key: String
    public var a: String?
    public var b: String?
    public var bitRelevant: Bool
}

/// What `cwrepro diff A.cwr B.cwr` finds, from the two records alone (nothing re-executed).
public struct RunDiffReport: Sendable {
    public var a: String
    public var b: String
    /// Changed resolved-config keys.
    public var configChanges: [Change]
    /// Every key, with `all`.
    public var configKeys: [KeyComparison]?
    /// Environment keys that differ.
    public var environmentChanges: [EnvironmentChange]
    public var levels: [RecordLevel]
    public var stepsA: Int
    public var stepsB: Int
    /// Training steps compared digest by digest (the init step included), and how many differ.
    public var stepsCompared: Int
    public var divergentSteps: Int
    public var firstDivergentStep: Int?
    public var firstDivergence: Divergence?
    public var firstDivergentDraw: Divergence?
    public var diagnosis: Diagnosis?
    public var criteria: [Criterion]
    /// What each record says about its run (finished, killed, still being written, failed).
    public var statusA: RecordStatus
    public var statusB: RecordStatus
    /// A record that is not a whole finished run (A's first), and which.
    public var incompleteness: Incompleteness?
    public var incompleteRecord: ComparedSide?
    /// Identical, diverged, or incomplete (accepted or not): the exit code.
    public var outcome: CheckOutcome = .identical

    public var cause: Cause? { diagnosis?.cause }
    public var identical: Bool { firstDivergentStep == nil && criteria.allSatisfy { $0.verdict == .pass } }

    /// Nothing differs but what a record that did not finish cannot have: a divergent step or a
    /// criterion that fails, or warns for another reason than a missing test evaluation.
    var differsBeyondItsEnd: Bool {
        firstDivergentStep != nil || criteria.contains { c in
            if case .noTestEvaluation = c.finding { return false }
            return c.verdict != .pass
        }
    }
}

public enum RunDiff {
    /// Bounds between warn and fail. Zero difference passes; up to the bound warns; beyond fails.
    public struct Tolerances: Sendable {
        /// Accuracy (overall and per class), absolute: 0.01 = one percentage point.
        public var accuracy: Double = 0.01
        /// Per-step loss, relative to the larger of the two: 1e-3.
        public var loss: Double = 1e-3
        public init(accuracy: Double = 0.01, loss: Double = 1e-3) { self.accuracy = accuracy; self.loss = loss }
    }

    /// Compares two records. Two records that agree in every step both hold are `identical` only
    /// when both are finished runs; when one was killed, is still being written or failed, the
    /// outcome is incomplete (exit 5), or accepted with `allowIncomplete`.
    public static func compare(_ pathA: String, _ pathB: String, all: Bool = false, tolerances: Tolerances = .init(),
                               allowIncomplete: Bool = false) throws -> RunDiffReport {
        let ra = try RecordReader(path: pathA), rb = try RecordReader(path: pathB)
        let ca = try RecordedConfig.resolved(ra), cb = try RecordedConfig.resolved(rb)
        let changes = Change.between(ca, cb)
        var keys: [KeyComparison]?
        if all {
            let fa = Dictionary(Change.leaves(ca).map { ($0.key, $0.value) }, uniquingKeysWith: { x, _ in x })
            let fb = Dictionary(Change.leaves(cb).map { ($0.key, $0.value) }, uniquingKeysWith: { x, _ in x })
            keys = Set(fa.keys).union(fb.keys).sorted().map { KeyComparison(key: $0, a: fa[$0], b: fb[$0], changed: fa[$0] != fb[$0]) }
        }
        let ea = ra.environment, eb = rb.environment
        let envChanges = Set(ea.keys).union(eb.keys).sorted().compactMap { k in
            ea[k] == eb[k] ? nil : EnvironmentChange(key: k, a: ea[k], b: eb[k], bitRelevant: EnvironmentProfile.bitRelevantKeys.contains(k))
        }
        // Both records are verified in full (every checksum, the chain, the seal) before anything
        // is compared: side by side, one per core. A failure is thrown by the calls that follow, A's first.
        DispatchQueue.concurrentPerform(iterations: 2) { i in _ = try? (i == 0 ? ra : rb).steps() }
        let sa = try ra.steps(), sb = try rb.steps()
        var report = RunDiffReport(
            a: pathA, b: pathB, configChanges: changes, configKeys: keys, environmentChanges: envChanges,
            levels: [ra.level, rb.level], stepsA: sa.filter { $0.step >= 0 }.count,
            stepsB: sb.filter { $0.step >= 0 }.count, stepsCompared: 0, divergentSteps: 0, firstDivergentStep: nil,
            firstDivergence: nil, firstDivergentDraw: nil, diagnosis: nil, criteria: [], statusA: ra.status, statusB: rb.status)
        let coverage = RecordPairCoverage(ra, sa, rb, sb)
        try findDivergence(ra, rb, sa, sb, lastShared: coverage.lastSharedStep, into: &report)
        if report.firstDivergentStep != nil {
            // The same diagnosis as a replay, from the same evidence.
            report.diagnosis = .diagnose(Evidence(
                first: FirstDivergences(tensor: report.firstDivergence, draw: report.firstDivergentDraw), configChanges: changes,
                environmentChanges: envChanges.filter(\.bitRelevant).map { Change(key: $0.key, old: $0.a, new: $0.b) },
                openblas: RecordedConfig.usesOpenBLAS(ra) || RecordedConfig.usesOpenBLAS(rb)))
        }
        report.criteria = try criteria(ra, rb, sa, sb, tolerances, upTo: coverage.lastSharedStep ?? Int.max)
        if coverage.trainingStepsShared == 0 {
            report.incompleteness = .noTrainingSteps
        } else if let gap = coverage.gap {
            (report.incompleteRecord, report.incompleteness) = gap
        }
        // Without a gap any warning counts (as before); with one, only what its end cannot explain.
        let differs = report.differsBeyondItsEnd || (report.incompleteness == nil && !report.identical)
        report.outcome = .of(differs: differs, gap: report.incompleteness, acceptIncomplete: allowIncomplete)
        return report
    }

    /// The first step whose tensors differ and, within it, the first divergent tensor (and draw).
    /// Same level: step digests decide; different levels: the tensors of the roles both hashed.
    /// `lastShared`: set when the shorter record did not finish: one run going on past it is no divergence.
    static func findDivergence(_ ra: RecordReader, _ rb: RecordReader, _ sa: [StepRow], _ sb: [StepRow], lastShared: Int?,
                               into r: inout RunDiffReport) throws {
        let level = min(ra.level, rb.level), sameLevel = ra.level == rb.level
        func events(_ reader: RecordReader, _ step: Int) throws -> [RecordedEvent] {
            let all = try reader.events(step: step)
            guard !sameLevel else { return all }
            return all.filter { level.includes($0.role) }.enumerated().map { i, e in var e = e; e.seq = i; return e }
        }
        let byStepB = Dictionary(uniqueKeysWithValues: sb.map { ($0.step, $0) })
        for s in sa {
            guard let t = byStepB[s.step] else { continue }
            r.stepsCompared += 1
            let differs: Bool
            if sameLevel { differs = s.digest != t.digest } else {
                differs = try events(ra, s.step).map { "\($0.name) \($0.hash)" } != events(rb, s.step).map { "\($0.name) \($0.hash)" }
            }
            guard differs else { continue }
            r.divergentSteps += 1
            if r.firstDivergentStep == nil {
                r.firstDivergentStep = s.step
                let ea = try events(ra, s.step), eb = try events(rb, s.step)
                var c = FirstDivergences.compare(expected: ea, actual: eb)
                // A's event at B's position only when the alignment did not shift them (EventAlignment).
                if var d = c.tensor, d.kind == .hash, ea.indices.contains(d.seq), ea[d.seq].name == d.name,
                   let pa = try ra.payload(step: d.step, seq: d.seq),
                   let pb = try rb.payload(step: d.step, seq: d.seq), eb[d.seq].dtype == .float32 {
                    d.values = ValueDiff.compare(expected: pa, actual: pb)
                    c.tensor = d
                }
                r.firstDivergence = c.tensor
                r.firstDivergentDraw = c.draw
            }
        }
        // All shared steps agree but one run is longer (and the shorter one finished there): the
        // first step only one side has.
        if r.firstDivergentStep == nil, sa.count != sb.count, lastShared == nil {
            r.firstDivergentStep = min(sa.last?.step ?? initStep, sb.last?.step ?? initStep) + 1
        }
    }

    /// The criteria over each run's steps up to `limit` (the last step both hold when the shorter
    /// run did not finish: what both hold is compared, not where one stopped).
    static func criteria(_ ra: RecordReader, _ rb: RecordReader, _ sa: [StepRow], _ sb: [StepRow], _ tol: Tolerances,
                         upTo limit: Int) throws -> [Criterion] {
        var out: [Criterion] = []
        // 1. Final weights: the parameter hashes of each run's last step.
        func finalParams(_ r: RecordReader, _ steps: [StepRow]) throws -> [RecordedEvent] {
            guard let last = steps.last(where: { $0.step <= limit }) else { return [] }
            return try r.events(step: last.step).filter { $0.role == .param }
        }
        let pa = try finalParams(ra, sa), pb = try finalParams(rb, sb)
        let differ = zip(pa, pb).filter { $0.name != $1.name || $0.hash != $1.hash }.map(\.0.name)
        if pa.isEmpty || pb.isEmpty {
            out.append(Criterion(name: .finalWeights, verdict: .warn, finding: .noParameterHashes))
        } else {
            out.append(Criterion(name: .finalWeights, verdict: differ.isEmpty && pa.count == pb.count ? .pass : .fail,
                                 finding: .weights(differing: differ, countA: pa.count, countB: pb.count)))
        }
        // 2-4. The last test evaluation of each run.
        let xa = try ra.evaluations().last { $0.split == "test" && $0.step <= limit }
        let xb = try rb.evaluations().last { $0.split == "test" && $0.step <= limit }
        if let xa, let xb {
            let same = xa.predictionsHash == xb.predictionsHash && xa.total == xb.total
            out.append(Criterion(name: .testPredictions, verdict: same ? .pass : .fail,
                                 finding: .predictions(a: xa.predictionsHash, b: xb.predictionsHash, samples: xa.total)))
            let deltas = zip(xa.perClassAccuracy, xb.perClassAccuracy).map { $1 - $0 }
            let worst = deltas.map(abs).max() ?? 0
            out.append(Criterion(name: .perClassAccuracy, verdict: verdict(worst, tol.accuracy), finding: .perClass(deltas: deltas)))
            out.append(Criterion(name: .overallAccuracy, verdict: verdict(abs(xb.accuracy - xa.accuracy), tol.accuracy),
                                 finding: .accuracy(a: xa, b: xb)))
        } else {
            for n in [Criterion.Name.testPredictions, .perClassAccuracy, .overallAccuracy] {
                out.append(Criterion(name: n, verdict: .warn, finding: .noTestEvaluation(record: xa == nil ? ra.path : rb.path)))
            }
        }
        // 5. Per-step loss: the largest relative difference over the steps both ran.
        let lb = Dictionary(uniqueKeysWithValues: sb.filter { $0.step >= 0 }.map { ($0.step, $0.loss) })
        var worst: (step: Int, rel: Double, a: Float, b: Float)?
        for s in sa where s.step >= 0 {
            guard let l = lb[s.step] else { continue }
            let diff = abs(Double(s.loss) - Double(l)), scale = max(abs(Double(s.loss)), abs(Double(l)), .leastNormalMagnitude)
            let rel = s.loss.bitPattern == l.bitPattern ? 0 : (diff.isNaN ? .infinity : diff / scale)
            if rel > (worst?.rel ?? -1) { worst = (s.step, rel, s.loss, l) }
        }
        if let w = worst {
            out.append(Criterion(name: .lossDelta, verdict: verdict(w.rel, tol.loss), finding: .loss(step: w.step, relative: w.rel, a: w.a, b: w.b)))
        } else {
            out.append(Criterion(name: .lossDelta, verdict: .warn, finding: .noCommonStep))
        }
        return out
    }

    static func verdict(_ x: Double, _ bound: Double) -> Verdict { x == 0 ? .pass : x <= bound ? .warn : .fail }
}
