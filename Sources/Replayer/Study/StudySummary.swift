import Engine
import Foundation
import Recorder

/// One side's results at one point, over its seeds.
public struct SideSummary: Sendable, Equatable {
    public var side: StudySide
    public var name: String
    /// Finished trials (complete or failed).
    public var runs: Int
    /// Trials stopped at a non-finite value (no accuracy).
    public var failed: Int
    /// Test accuracy over the complete runs (nil: none).
    public var accuracy: SampleSummary?
    /// The 95% Student t interval of the mean accuracy (nil: fewer than two complete runs).
    public var interval: Interval?
    /// Mean test accuracy of each class over the complete runs.
    public var perClassMean: [Double]
    /// The class whose test accuracy varies most between seeds.
    public var widestClass: ClassSpread?
    /// Training time per run (seconds).
    public var seconds: Spread
    /// Distinct final step digests (1: every seed trained bit-identically).
    public var distinctDigests: Int
}

/// The accuracy gap B - A at one point.
public struct GapSummary: Sendable, Equatable {
    /// mean(B) - mean(A), as a fraction (0.1 = 10 points).
    public var mean: Double
    /// Welch's test, Mann-Whitney U and Levene's test (nil: fewer than two complete runs a side).
    public var comparison: TwoSampleComparison?
    /// Mean per-class accuracy of B minus A's, per class.
    public var perClass: [Double]
    /// The class whose gap is largest in magnitude.
    public var widestClass: Int?

    public var interval: Interval? { comparison?.difference.interval }
    public var pValue: Double? { comparison?.difference.test.pValue }
    public var significant: Bool { comparison?.significant ?? false }
}

/// One point of a study: the swept values, each side's results, the gap.
public struct PointSummary: Sendable, Equatable {
    public var point: StudyPoint
    public var sides: [SideSummary]
    /// Nil for a one-sided (variance) study, or when a side has no complete run.
    public var gap: GapSummary?

    /// The number a search ranks points by: |gap| for a gap study, the accuracy range over seeds
    /// for a variance study (nil when there is none).
    public func objective(_ o: SweepSpec.Objective) -> Double? {
        switch o {
        case .gap: return gap.map { abs($0.mean) }
        case .variance: return sides.compactMap { $0.accuracy.map { $0.max - $0.min } }.max()
        }
    }
}

/// The explanation of the gap at one point (`cwrepro explain --seeds` of the two sides' configs there).
public struct PointExplanation: Sendable {
    public var point: StudyPoint
    public var report: StudyExplanation
}

/// A study's results: per point, each side's accuracy and the gap with their intervals, the
/// per-class and training-time spreads; the points ranked by the objective; the explanations.
public struct StudySummary: Sendable {
    public var name: String
    public var objective: SweepSpec.Objective
    public var sides: [StudySideInfo]
    public var seeds: [UInt64]
    /// Swept keys, sorted.
    public var keys: [String]
    public var planned: Int
    public var complete: Int
    public var failed: Int
    /// Planned trials with no finished record.
    public var missing: Int
    public var points: [PointSummary]
    /// Indices into `points`, by decreasing objective (|gap|, or the accuracy range over seeds).
    public var ranking: [Int]
    /// Training time of every finished trial.
    public var seconds: Spread
    public var explanations: [PointExplanation]

    /// Summarises `results` (finished trials) of a study planned as `manifest`.
    public static func make(_ manifest: StudyManifest, results: [TrialResult], level: Double = 0.95) -> StudySummary {
        let keys = Set(manifest.points.flatMap(\.values.keys)).sorted()
        let byPoint = Dictionary(grouping: results) { JSON.object($0.point).text }
        let points = manifest.points.map { point -> PointSummary in
            let mine = byPoint[JSON.object(point.values).text] ?? []
            let sides = manifest.sides.map { info in side(info, mine.filter { $0.side == info.side }) }
            return PointSummary(point: point, sides: sides, gap: sides.count == 2 ? gap(mine, level: level) : nil)
        }
        let ranking = points.indices.filter { points[$0].objective(manifest.objective) != nil }.sorted {
            let x = points[$0].objective(manifest.objective)!, y = points[$1].objective(manifest.objective)!
            return x != y ? x > y : $0 < $1
        }
        return StudySummary(
            name: manifest.name, objective: manifest.objective, sides: manifest.sides, seeds: manifest.seeds, keys: keys,
            planned: manifest.trials.count, complete: results.filter { $0.status == .complete }.count,
            failed: results.filter { $0.status == .failed }.count,
            missing: max(0, manifest.trials.count - results.count), points: points, ranking: ranking,
            seconds: Spread(results.map(\.seconds)), explanations: [])
    }

    static func side(_ info: StudySideInfo, _ runs: [TrialResult]) -> SideSummary {
        let complete = runs.filter { $0.status == .complete && $0.testAccuracy != nil }
        let accuracies = complete.map { $0.testAccuracy! }
        let classes = complete.compactMap(\.perClassAccuracy).map(\.count).min() ?? 0
        let perClass = (0..<classes).map { k in Spread(complete.compactMap { $0.perClassAccuracy?[k] }) }
        let widest = perClass.indices.max { perClass[$0].range < perClass[$1].range }
        return SideSummary(
            side: info.side, name: info.name, runs: runs.count, failed: runs.filter { $0.status == .failed }.count,
            accuracy: try? Statistics.summary(accuracies),
            interval: accuracies.count >= 2 ? try? Statistics.meanInterval(accuracies) : nil,
            perClassMean: perClass.map(\.mean), widestClass: widest.map { ClassSpread(cls: $0, spread: perClass[$0]) },
            seconds: Spread(runs.map(\.seconds)), distinctDigests: Set(runs.map(\.digest)).count)
    }

    static func gap(_ runs: [TrialResult], level: Double) -> GapSummary? {
        func accuracies(_ s: StudySide) -> [Double] {
            runs.filter { $0.side == s && $0.status == .complete }.sorted { $0.seed < $1.seed }.compactMap(\.testAccuracy)
        }
        let a = accuracies(.a), b = accuracies(.b)
        guard !a.isEmpty, !b.isEmpty else { return nil }
        func perClass(_ s: StudySide) -> [[Double]] {
            runs.filter { $0.side == s && $0.status == .complete }.compactMap(\.perClassAccuracy)
        }
        let pa = perClass(.a), pb = perClass(.b)
        let classes = (pa + pb).map(\.count).min() ?? 0
        func classMean(_ rows: [[Double]], _ k: Int) -> Double {
            rows.reduce(0.0) { $0 + $1[k] } / Double(rows.count)
        }
        let classGaps: [Double] = (0..<classes).map { k in classMean(pb, k) - classMean(pa, k) }
        let meanA: Double = a.reduce(0, +) / Double(a.count), meanB: Double = b.reduce(0, +) / Double(b.count)
        let mean = meanB - meanA
        return GapSummary(mean: mean, comparison: a.count >= 2 && b.count >= 2 ? try? Statistics.compare(a, b, level: level) : nil,
                          perClass: classGaps, widestClass: classGaps.indices.max { abs(classGaps[$0]) < abs(classGaps[$1]) })
    }

    /// The points of the ranking's first `k`.
    public func top(_ k: Int) -> [PointSummary] { ranking.prefix(k).map { points[$0] } }
}
