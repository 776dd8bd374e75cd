import Engine
import Foundation
import Recorder

/// pass / warn / fail.
public enum Verdict: String, Codable, Sendable {
    case pass, warn, fail
}

/// One reproducibility criterion between two runs (after Chen et al., "Towards Training
/// Reproducible Deep Learning Models", ICSE 2022: a training process is reproducible when its
/// models are bit-identical, or when their predictions and per-class results are the same).
public struct Criterion: Codable, Sendable, Equatable {
    public var name: String
    public var verdict: Verdict
    /// The measured value, e.g. "+0.28 pp" or "identical".
    public var value: String
    public var detail: String
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
public struct RunDiffReport: Codable, Sendable {
    public var a: String
    public var b: String
    /// Changed resolved-config keys, "path: a -> b".
    public var configChanges: [String]
    /// Every key, with `--all`.
    public var configKeys: [KeyComparison]?
    /// Environment keys that differ.
    public var environmentChanges: [EnvironmentChange]
    public var levels: [String]
    public var stepsA: Int
    public var stepsB: Int
    /// Training steps compared digest by digest (the init step included), and how many differ.
    public var stepsCompared: Int
    public var divergentSteps: Int
    public var firstDivergentStep: Int?
    public var firstDivergence: Divergence?
    public var firstDivergentDraw: Divergence?
    public var cause: Cause?
    public var causeDetail: String?
    public var criteria: [Criterion]

    public var identical: Bool { firstDivergentStep == nil && criteria.allSatisfy { $0.verdict == .pass } }
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

    public static func compare(_ pathA: String, _ pathB: String, all: Bool = false, tolerances: Tolerances = .init()) throws -> RunDiffReport {
        let ra = try RecordReader(path: pathA), rb = try RecordReader(path: pathB)
        let ca = try JSON.parse(Array(ra.configResolved.utf8), source: "\(pathA) (resolved config)")
        let cb = try JSON.parse(Array(rb.configResolved.utf8), source: "\(pathB) (resolved config)")
        let changes = ConfigDiff.changes(ca, cb)
        var keys: [KeyComparison]?
        if all {
            let fa = Dictionary(ConfigDiff.flatten(ca), uniquingKeysWith: { x, _ in x })
            let fb = Dictionary(ConfigDiff.flatten(cb), uniquingKeysWith: { x, _ in x })
            keys = Set(fa.keys).union(fb.keys).sorted().map { KeyComparison(key: $0, a: fa[$0], b: fb[$0], changed: fa[$0] != fb[$0]) }
        }
        let ea = ra.environment, eb = rb.environment
        let envChanges = Set(ea.keys).union(eb.keys).sorted().compactMap { k in
            ea[k] == eb[k] ? nil : EnvironmentChange(key: k, a: ea[k], b: eb[k], bitRelevant: EnvironmentProfile.bitRelevantKeys.contains(k))
        }
        let sa = try ra.steps(), sb = try rb.steps()
        var report = RunDiffReport(
            a: pathA, b: pathB, configChanges: changes, configKeys: keys, environmentChanges: envChanges,
            levels: [ra.level.rawValue, rb.level.rawValue], stepsA: sa.filter { $0.step >= 0 }.count,
            stepsB: sb.filter { $0.step >= 0 }.count, stepsCompared: 0, divergentSteps: 0, firstDivergentStep: nil,
            firstDivergence: nil, firstDivergentDraw: nil, cause: nil, causeDetail: nil, criteria: [])
        try findDivergence(ra, rb, sa, sb, into: &report)
        if report.firstDivergentStep != nil {
            let asReplay = ReplayReport(
                record: pathA, recordComplete: true, stepsReplayed: report.stepsCompared, stepsRecorded: report.stepsA,
                tensorsCompared: 0, divergentSteps: report.firstDivergentStep.map { [$0] } ?? [],
                firstDivergence: report.firstDivergence, firstDivergentDraw: report.firstDivergentDraw, cause: nil,
                causeDetail: nil, configChanges: changes,
                environmentChanges: envChanges.filter(\.bitRelevant).map { "\($0.key): \($0.a ?? "(absent)") -> \($0.b ?? "(absent)")" },
                evaluationMismatches: [], stoppedAtFirstDivergence: true)
            (report.cause, report.causeDetail) = ReplaySession.diagnose(asReplay)
        }
        report.criteria = try criteria(ra, rb, sa, sb, tolerances)
        return report
    }

    /// The first step whose tensors differ and, within it, the first divergent tensor (and draw).
    /// Same level: step digests decide; different levels: the tensors of the roles both hashed.
    static func findDivergence(_ ra: RecordReader, _ rb: RecordReader, _ sa: [StepRow], _ sb: [StepRow],
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
                var c = StepComparison.compare(expected: ea, actual: eb)
                if var d = c.firstTensor, d.kind == .hash, let pa = try ra.payload(step: d.step, seq: d.seq),
                   let pb = try rb.payload(step: d.step, seq: d.seq), eb[d.seq].dtype == .float32 {
                    d.values = ValueDiff.compare(expected: pa, actual: pb)
                    c.firstTensor = d
                }
                r.firstDivergence = c.firstTensor
                r.firstDivergentDraw = c.firstDraw
            }
        }
        // All shared steps agree but one run is longer: the first step only one side has.
        if r.firstDivergentStep == nil, sa.count != sb.count {
            r.firstDivergentStep = min(sa.last?.step ?? initStep, sb.last?.step ?? initStep) + 1
        }
    }

    static func criteria(_ ra: RecordReader, _ rb: RecordReader, _ sa: [StepRow], _ sb: [StepRow], _ tol: Tolerances) throws -> [Criterion] {
        var out: [Criterion] = []
        // 1. Final weights: the parameter hashes of each run's last step.
        func finalParams(_ r: RecordReader, _ steps: [StepRow]) throws -> [RecordedEvent] {
            guard let last = steps.last else { return [] }
            return try r.events(step: last.step).filter { $0.role == .param }
        }
        let pa = try finalParams(ra, sa), pb = try finalParams(rb, sb)
        let differ = zip(pa, pb).filter { $0.name != $1.name || $0.hash != $1.hash }.map(\.0.name)
        if pa.isEmpty || pb.isEmpty {
            out.append(Criterion(name: "bit-identical final weights", verdict: .warn, value: "unknown", detail: "a record has no parameter hashes"))
        } else if differ.isEmpty && pa.count == pb.count {
            out.append(Criterion(name: "bit-identical final weights", verdict: .pass, value: "identical", detail: "all \(pa.count) parameter tensors have the same hash"))
        } else {
            out.append(Criterion(name: "bit-identical final weights", verdict: .fail, value: "\(max(differ.count, abs(pa.count - pb.count))) of \(max(pa.count, pb.count)) differ",
                                 detail: "differing: " + differ.prefix(6).joined(separator: ", ") + (differ.count > 6 ? ", ..." : "")))
        }
        // 2-4. The last test evaluation of each run.
        let xa = try ra.evaluations().last { $0.split == "test" }, xb = try rb.evaluations().last { $0.split == "test" }
        if let xa, let xb {
            let same = xa.predictionsHash == xb.predictionsHash && xa.total == xb.total
            out.append(Criterion(name: "identical test predictions", verdict: same ? .pass : .fail, value: same ? "identical" : "differ",
                                 detail: "predictions hash \(hex64(xa.predictionsHash)) / \(hex64(xb.predictionsHash)) on \(xa.total) test samples"))
            let deltas = zip(xa.perClassAccuracy, xb.perClassAccuracy).map { $1 - $0 }
            let worst = deltas.indices.max { abs(deltas[$0]) < abs(deltas[$1]) }
            let w = worst.map { abs(deltas[$0]) } ?? 0
            out.append(Criterion(name: "per-class accuracy deltas", verdict: verdict(w, tol.accuracy),
                                 value: w == 0 ? "none" : worst.map { "max \(Reports.pp(deltas[$0])) (class \($0))" } ?? "-",
                                 detail: deltas.enumerated().filter { $0.element != 0 }.map { "\($0.offset): \(Reports.pp($0.element))" }.joined(separator: ", ")
                                    .nonEmpty ?? "every class identical"))
            let d = xb.accuracy - xa.accuracy
            out.append(Criterion(name: "overall accuracy delta", verdict: verdict(abs(d), tol.accuracy), value: Reports.pp(d),
                                 detail: "\(Reports.acc(xa.accuracy)) (\(xa.correct)/\(xa.total)) -> \(Reports.acc(xb.accuracy)) (\(xb.correct)/\(xb.total)) after steps \(xa.step) / \(xb.step)"))
        } else {
            for n in ["identical test predictions", "per-class accuracy deltas", "overall accuracy delta"] {
                out.append(Criterion(name: n, verdict: .warn, value: "unknown", detail: "\(xa == nil ? ra.path : rb.path) has no test evaluation (an incomplete run?)"))
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
            out.append(Criterion(name: "per-step loss max delta", verdict: verdict(w.rel, tol.loss), value: String(format: "%.3g relative", w.rel),
                                 detail: w.rel == 0 ? "every shared step has bit-identical loss" : "largest at step \(w.step): \(Reports.loss(w.a)) vs \(Reports.loss(w.b))"))
        } else {
            out.append(Criterion(name: "per-step loss max delta", verdict: .warn, value: "unknown", detail: "no training step in common"))
        }
        return out
    }

    static func verdict(_ x: Double, _ bound: Double) -> Verdict { x == 0 ? .pass : x <= bound ? .warn : .fail }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}
