import Engine
import Foundation
import Recorder

/// `cwrepro study collect`: every planned trial's finished record (from all shards; records in
/// other copies of the study directory are copied in first), `trials.jsonl` rewritten from them,
/// the summary, and the explanations of the largest gaps. Also the last stage of an unsharded sweep.
public struct StudyCollection: Sendable {
    public var manifest: StudyManifest
    public var results: [TrialResult]
    /// Planned trials with no finished record.
    public var missing: [PlannedTrial]
    /// Records copied in from other directories.
    public var copied: Int
    public var summary: StudySummary

    /// Which gaps to explain, and how.
    public struct ExplainOptions: Sendable {
        /// The largest `top` gaps (nil: the sweep file's `explain.top`).
        public var top: Int?
        /// Training runs at a time.
        public var parallel: Int
        /// Only the explanations made before (`explanations/`): nothing is trained (a report).
        public var cachedOnly: Bool
        public init(top: Int? = nil, parallel: Int, cachedOnly: Bool = false) { self.top = top; self.parallel = parallel; self.cachedOnly = cachedOnly }
    }

    /// Collects `study`, copying finished records from `others` (other copies of the same study:
    /// shards that ran on machines without a shared file system) first. `writeTrials` false
    /// leaves the directory as it is (a report of a study archived read-only).
    public static func collect(_ study: StudyDirectory, from others: [StudyDirectory] = [], explain: ExplainOptions?,
                               writeTrials: Bool = true, progress: (@Sendable (SweepProgress) -> Void)? = nil) throws -> StudyCollection {
        var manifest = try study.readManifest()
        try addTunePoints(study, to: &manifest)
        var copied = 0
        for other in others {
            let theirs = try other.readManifest()
            guard theirs.fingerprint == manifest.fingerprint else {
                throw StudyError.differentSweep(directory: other.root, existing: theirs.sweepFile, given: manifest.sweepFile)
            }
            for t in manifest.trials {
                guard case .finished = t.state(in: other, sideName: manifest.sideName(t.side)) else { continue }
                // Finished here already, or being written by a sweep running now: left alone.
                switch t.state(in: study, sideName: manifest.sideName(t.side)) {
                case .finished, .running: continue
                case .absent, .interrupted, .stale: break
                }
                study.removeRecord(t.record)
                try study.makeDirectory(atPath: study.path("runs"))
                do { try FileManager.default.copyItem(atPath: other.path(t.record), toPath: study.path(t.record)) } catch {
                    throw InputError("cannot copy \(other.path(t.record)) into \(study.path("runs")): \(error.localizedDescription)")
                }
                copied += 1
            }
        }
        var results: [TrialResult] = [], missing: [PlannedTrial] = []
        for t in manifest.trials {
            if case .finished(let r) = t.state(in: study, sideName: manifest.sideName(t.side)) { results.append(r) } else { missing.append(t) }
        }
        if writeTrials { try study.writeTrials(results) }
        var summary = StudySummary.make(manifest, results: results)
        if let explain, missing.isEmpty {
            summary.explanations = try explanations(summary, manifest: manifest, study: study, options: explain, progress: progress)
        }
        return StudyCollection(manifest: manifest, results: results, missing: missing, copied: copied, summary: summary)
    }

    /// A Tune search's points (`points/*.json`, written as Ray Tune proposed them), numbered in
    /// the order of their values so the numbering does not depend on the order they were proposed in.
    static func addTunePoints(_ study: StudyDirectory, to manifest: inout StudyManifest) throws {
        let dir = study.path("points")
        guard manifest.search == "tune", let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        var proposed: [TunePoint] = []
        for name in names.sorted() where name.hasSuffix(".json") && !name.hasPrefix(".") {
            let data = try readFile(dir + "/" + name, what: "study point")
            do { proposed.append(try JSONDecoder().decode(TunePoint.self, from: data)) } catch {
                throw StudyError.unreadablePlan(dir + "/" + name, "\(error)")
            }
        }
        proposed.sort { JSON.object($0.values).text < JSON.object($1.values).text }
        for p in proposed {
            let index = manifest.points.count
            manifest.points.append(StudyPoint(index: index, values: p.values))
            for var t in p.trials.sorted(by: { ($0.seed, $0.side) < ($1.seed, $1.side) }) {
                t.point = index
                t.trial = manifest.trials.count
                manifest.trials.append(t)
            }
        }
    }

    /// Explains the `top` largest gaps (points where both sides finished), caching each in
    /// `explanations/<key>.json` (the key hashes both sides' trial ids at the point's first seed) as a
    /// `StudyExplanation`. Each is `explain --seeds N` of the two sides' configs at the point, N the
    /// sweep file's `explain.seeds` (default `Explain.defaultSeeds`, 8), so the gap is tested against seed noise.
    static func explanations(_ summary: StudySummary, manifest: StudyManifest, study: StudyDirectory, options: ExplainOptions,
                             progress: (@Sendable (SweepProgress) -> Void)?) throws -> [PointExplanation] {
        guard manifest.sides.count == 2, manifest.objective == .gap else { return [] }
        let spec = try SweepSpec.parse(manifest.sweep, path: manifest.sweepFile)
        let top = summary.top(options.top ?? spec.explainTop).filter { $0.gap != nil }
        let seeds = spec.explainSeeds ?? Explain.defaultSeeds
        var out: [PointExplanation] = []
        for (i, p) in top.enumerated() {
            let trials = manifest.trials.filter { $0.point == p.point.index && $0.seed == manifest.seeds[0] }
            guard let ta = trials.first(where: { $0.side == .a }), let tb = trials.first(where: { $0.side == .b }) else { continue }
            let key = SweepPlan.id(resolvedText: ta.id + tb.id)
            let cache = "explanations/\(key).json"
            // A cache file from an older cwrepro, or made with another explain.seeds, does not count: it is recomputed.
            if let data = FileManager.default.contents(atPath: study.path(cache)),
               let cached = try? JSONDecoder().decode(StudyExplanation.self, from: data), cached.seeds.count == seeds {
                out.append(PointExplanation(point: p.point, report: cached))
                continue
            }
            if options.cachedOnly { continue }
            progress?(.explaining(point: p.point, index: i + 1, count: top.count))
            let ca = try TrainConfig.File(path: ta.config).config(applying: ta.changes.map(\.assignment))
            let cb = try TrainConfig.File(path: tb.config).config(applying: tb.changes.map(\.assignment))
            var o = Explain.Options()
            o.parallel = options.parallel
            o.seeds = seeds
            let report = StudyExplanation(try Explain.run(a: ca, b: cb, options: o))
            try study.write(try StudyDirectory.encoder.encode(report), to: cache)
            out.append(PointExplanation(point: p.point, report: report))
        }
        return out
    }
}
