import Foundation
import XCTest
import Engine
@testable import Presentation
import Recorder
@testable import Replayer

/// How a study is shown (`cwrepro sweep` / `study collect` text, `cwrepro report study/`), on
/// summaries made in process from made-up trial results: what the table and the explanation
/// lines say must agree with `summary.json`.
final class StudyRenderingTests: RecordingTestCase {
    /// A sweep over two configs (or one) with `objective`, two points (`lr=0.1`, `lr=0.01`), `seeds` seeds.
    func manifest(sides: Int = 2, objective: String, seeds: Int) throws -> (SweepPlan, StudyManifest) {
        try Data(StudyTests.config.utf8).write(to: dir.appendingPathComponent("a.json"))
        try Data(StudyTests.config.replacingOccurrences(of: "\"tiny\"", with: "\"tiny-b\"").utf8).write(to: dir.appendingPathComponent("b.json"))
        let configs = sides == 2 ? #""a": "a.json", "b": "b.json""# : #""base": "a.json""#
        let path = dir.appendingPathComponent("sweep.json").path
        try Data("""
            {\(configs), "space": {"optimizer.lr": {"grid": [0.1, 0.01]}}, "seeds": \(seeds), "objective": "\(objective)"}
            """.utf8).write(to: URL(fileURLWithPath: path))
        let plan = try SweepPlan.make(try SweepSpec.load(path: path))
        return (plan, try StudyManifest(plan: plan, sweep: .object([:])))
    }

    /// Complete trials with `accuracy[side][point][seed]`; B's digests differ by seed, A's do not.
    func results(_ plan: SweepPlan, _ accuracy: [StudySide: [[Double]]]) -> [TrialResult] {
        plan.trials.map { t in
            let seedIndex = plan.seeds.firstIndex(of: t.seed)!
            let acc = accuracy[t.side]![t.point][seedIndex]
            return TrialResult(trial: t.trial, id: t.id, point: t.values, side: t.side, sideName: t.side.rawValue, seed: t.seed, record: t.record,
                               status: .complete, failure: nil, digest: t.side == .a ? "0" : "b\(t.seed)", steps: 3, testAccuracy: acc,
                               correct: nil, total: nil, perClassAccuracy: [acc, 1 - acc], finalLoss: 1, seconds: 0.5)
        }
    }

    /// A two-sided variance study where B's seeds spread more than A's: the text table and the
    /// report's table show each side's accuracy range, widest class range and distinct digests,
    /// and the first row is the point summary.json ranks first, by the larger of the two ranges.
    func testTwoSidedVarianceStudyShowsBothSides() throws {
        let (plan, manifest) = try manifest(objective: "variance", seeds: 3)
        // Point 0: A spreads 2 points, B 10; point 1: A 3, B 1. Ranked by the larger: point 0 (10), point 1 (3).
        let accuracy: [StudySide: [[Double]]] = [.a: [[0.80, 0.81, 0.82], [0.50, 0.53, 0.51]],
                                                 .b: [[0.60, 0.70, 0.65], [0.55, 0.56, 0.555]]]
        let s = StudySummary.make(manifest, results: results(plan, accuracy))
        XCTAssertEqual(s.objective, .variance)
        XCTAssertEqual(s.ranking, [0, 1])
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(s.json.utf8)) as? [String: Any])
        let largest = try XCTUnwrap(json["largestGaps"] as? [[String: Any]])
        XCTAssertEqual(try XCTUnwrap(largest[0]["accuracyRange"] as? Double), 0.10, accuracy: 1e-9, "B's range ranks point 0")

        let text = s.humanText
        let lines = text.split(separator: "\n").map(String.init)
        let header = try XCTUnwrap(lines.first { $0.hasPrefix("#") }, text)
        for column in ["A accuracy range", "B accuracy range", "A widest class range", "B widest class range", "A distinct digests", "B distinct digests"] {
            XCTAssert(header.contains(column), "\(column) in \(header)")
        }
        let row0 = try XCTUnwrap(lines.first { $0.contains("lr=0.1 ") }, text)
        let row1 = try XCTUnwrap(lines.first { $0.contains("lr=0.01 ") }, text)
        XCTAssertLessThan(lines.firstIndex(of: row0)!, lines.firstIndex(of: row1)!, "point 0 (B's 10-point range) first")
        for cell in ["2.00 pp", "10.00 pp", "0: 2.00 pp", "0: 10.00 pp", "1 of 3", "3 of 3"] {
            XCTAssert(row0.contains(cell), "\(cell) in \(row0)")
        }
        for cell in ["3.00 pp", "1.00 pp", "1 of 3", "3 of 3"] {
            XCTAssert(row1.contains(cell), "\(cell) in \(row1)")
        }
        XCTAssert(text.contains("ranked by the larger of A's and B's"), text)

        // The report page's table: the same cells, per side.
        let collection = StudyCollection(manifest: manifest, results: results(plan, accuracy), missing: [], copied: 0, summary: s)
        let table = collection.pointTable(s.names)
        let titles = table.columns.map(\.title)
        for column in ["A accuracy range", "B accuracy range", "A widest class range", "B widest class range", "A distinct digests", "B distinct digests"] {
            XCTAssert(titles.contains(column), "\(column) in \(titles)")
        }
        XCTAssertEqual(table.rows[0][0], "0")
        for cell in ["2.00 pp", "10.00 pp", "class 0: 2.00 pp", "class 0: 10.00 pp", "1 of 3", "3 of 3"] {
            XCTAssert(table.rows[0].contains(cell), "\(cell) in \(table.rows[0])")
        }
        XCTAssertEqual(table.rows.map(\.count), [titles.count, titles.count])
        // The spread histograms: one per side.
        let charts = collection.distributionBlocks(s.names)
        guard case .charts(let c)? = charts.first else { return XCTFail("no charts") }
        let histograms = c.compactMap { $0 as? Histogram }
        XCTAssertEqual(histograms.count, 2, "A's ranges, then B's")
        for (h, expected) in zip(histograms, [[0.02, 0.03], [0.10, 0.01]]) {
            XCTAssertEqual(h.values.count, 2)
            for (x, y) in zip(h.values, expected) { XCTAssertEqual(x, y, accuracy: 1e-9) }
        }
        let strips = c.compactMap { $0 as? StripPlot }
        XCTAssertEqual(strips.first?.points.count, 12, "both sides' accuracies, per point and seed")
    }

    /// A one-sided variance study keeps its columns unprefixed.
    func testOneSidedVarianceStudyTable() throws {
        let (plan, manifest) = try manifest(sides: 1, objective: "variance", seeds: 3)
        let s = StudySummary.make(manifest, results: results(plan, [.a: [[0.80, 0.81, 0.82], [0.50, 0.53, 0.51]]]))
        let text = s.humanText
        let header = try XCTUnwrap(text.split(separator: "\n").first { $0.hasPrefix("#") }, text)
        XCTAssert(header.contains("accuracy range") && !header.contains("A accuracy range"), String(header))
        let row = try XCTUnwrap(text.split(separator: "\n").first { $0.contains("lr=0.01 ") }, text)
        XCTAssert(row.contains("3.00 pp") && row.contains("1 of 3"), String(row))
    }

    /// An explanation over 2 seeds has a t interval far wider than an accuracy gap can be: the
    /// "explained point" line and the report page clip it to [-100, +100] points, as the table does
    /// (its footnote says so); summary.json keeps it whole.
    func testExplainedGapIntervalsAreClippedToThePossibleRange() throws {
        let (plan, manifest) = try manifest(objective: "gap", seeds: 2)
        let accuracy: [StudySide: [[Double]]] = [.a: [[0.10, 0.90], [0.50, 0.52]], .b: [[0.60, 0.80], [0.51, 0.53]]]
        var s = StudySummary.make(manifest, results: results(plan, accuracy))
        let wide = Interval(low: -1.5636, high: 1.9663, level: 0.95)
        var e = try JSONDecoder().decode(StudyExplanation.self, from: Data("""
            {"seeds": [1, 2], "confidence": 0.95, "gap": {"mean": 0.2014, "ci95": [-1.5636, 1.9663], "pValue": 0.4, "significant": false},
             "verdict": "within-noise", "minimalSet": [], "explainedShareStatus": "gap-not-significant", "knobs": []}
            """.utf8))
        e.knobs = [StudyExplanation.Knob(knob: "optimizer.lr", kind: .config, a: .number(0.1), b: .number(0.01), firstDivergentStep: 0,
                                         firstDivergentTensor: "1.weight", accuracyEffect: .init(mean: -0.3, interval: Interval(low: -1.2, high: 0.6, level: 0.95), values: [-0.1, -0.5]),
                                         gapShare: nil, gapShareStatus: .gapNotSignificant, inMinimalSet: false)]
        s.explanations = [PointExplanation(point: s.points[0].point, report: e)]

        let text = s.humanText
        let line = try XCTUnwrap(text.split(separator: "\n").first { $0.hasPrefix("explained point 0") }, text)
        XCTAssert(line.contains("gap +20.14 pp [-100.00, +100.00]"), String(line))
        XCTAssertFalse(line.contains("156.36") || line.contains("196.63"), String(line))
        XCTAssert(text.contains("intervals clipped to the possible range"), text)

        // summary.json keeps the interval whole.
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(s.json.utf8)) as? [String: Any])
        let explained = try XCTUnwrap((json["explanations"] as? [[String: Any]])?.first?["explain"] as? [String: Any])
        XCTAssertEqual((explained["gap"] as? [String: Any])?["ci95"] as? [Double], [wide.low, wide.high])

        // The report page: the explanation's gap and each difference's effect, clipped alike.
        let collection = StudyCollection(manifest: manifest, results: results(plan, accuracy), missing: [], copied: 0, summary: s)
        let page = collection.htmlPage(generator: "test")
        XCTAssert(page.contains("+20.14 pp [-100.00, +100.00]"), "the explained gap")
        XCTAssert(page.contains("-30.00 pp [-100.00, +60.00]"), "the difference's effect")
        XCTAssertFalse(page.contains("156.36") || page.contains("196.63") || page.contains("-120.00"))
        // An interval inside the range is shown as it is.
        XCTAssertEqual(StudyExplanation.gapText(.init(mean: 0.05, interval: Interval(low: -0.02, high: 0.12, level: 0.95), pValue: 0.1, significant: false)),
                       "+5.00 pp [-2.00, +12.00] (p 0.1000)")
    }
}
