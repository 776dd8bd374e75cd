import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest

/// `cwrepro report` end to end: the page of a record, of two records and of a study (with an
/// explained gap) are single self-contained files that parse as XML, hold the charts the issue
/// names, and render in headless Chromium without console errors with every chart inked.
/// Set CWREPRO_HTML_DEMO_DIR to keep the pages and their screenshots there.
final class ReportCLITests: CLITestCase {
    func chartKinds(_ page: String) throws -> [String] {
        let doc = try XMLDocument(xmlString: try String(contentsOfFile: page, encoding: .utf8), options: [])
        return try doc.nodes(forXPath: "//*[local-name()='svg']/@data-kind").compactMap(\.stringValue)
    }

    func checkInBrowser(_ page: String, charts: Int) throws {
        let found = ["chromium", "chromium-browser", "google-chrome"].contains { name in
            (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(name)") }
        }
        guard found else { return print("headless-browser check skipped: no chromium on PATH (Debian: apt-get install -y chromium)") }
        let shot = page.replacingOccurrences(of: ".html", with: ".png")
        let r = try CLI.run([page, "--screenshot", shot], executable: CLI.repoRoot.appendingPathComponent("scripts/check-html.py"))
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssert(r.stdout.contains("\(charts) charts") && r.stdout.contains("0 console messages, 0 page errors"), r.stdout)
        if let keep = ProcessInfo.processInfo.environment["CWREPRO_HTML_DEMO_DIR"] {
            try FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
            for file in [page, shot] {
                let target = URL(fileURLWithPath: keep).appendingPathComponent("report-" + URL(fileURLWithPath: file).lastPathComponent)
                try? FileManager.default.removeItem(at: target)
                try FileManager.default.copyItem(atPath: file, toPath: target.path)
            }
        }
    }

    func testRecordAndComparisonPages() throws {
        let config = try write("m.json", """
            {"name": "m", "seed": 5, "data": {"dataset": "digits", "batchSize": 32},
             "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 16}, {"type": "relu"}, {"type": "dense", "units": 10}]},
             "optimizer": {"type": "sgd", "lr": 0.1, "momentum": 0.9}, "schedule": {"type": "step", "stepSize": 1, "gamma": 0.5},
             "training": {"epochs": 2, "maxSteps": 60}, "record": {"level": "grads", "keepTensors": 10}}
            """)
        XCTAssertEqual(try CLI.run(["record", config, "-o", path("a.cwr")]).status, 0)
        XCTAssertEqual(try CLI.run(["record", config, "-o", path("b.cwr"), "--set", "optimizer.momentum=0.8"]).status, 0)
        var r = try CLI.run(["report", path("a.cwr")])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssert(r.stdout.hasPrefix("wrote \(path("a.html"))"), r.stdout)
        XCTAssertEqual(try chartKinds(path("a.html")), ["line", "line", "line"], "loss, learning rate (a step schedule), accuracy per evaluation")
        let single = try String(contentsOfFile: path("a.html"), encoding: .utf8)
        XCTAssert(single.contains("Per-class accuracy") && single.contains("Evaluations"))
        try checkInBrowser(path("a.html"), charts: 3)

        r = try CLI.run(["report", path("a.cwr"), path("b.cwr"), "-o", path("ab.html")])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try chartKinds(path("ab.html")), ["line", "line", "heatmap"])
        let pair = try String(contentsOfFile: path("ab.html"), encoding: .utf8)
        XCTAssert(pair.contains("The runs diverge first at step 1, tensor 1.weight (param); cause: config changed: optimizer.momentum: 0.9 -&gt; 0.8"), pair)
        XCTAssert(pair.contains("first divergence: 1.weight at step 1"), "the first divergent cell is outlined and labelled")
        XCTAssert(pair.contains("cells from the tensor values both records kept"), "the page says what the colours measure")
        for forbidden in ["<script", "<link", "<img", "src=", "href=\"http"] { XCTAssertFalse(pair.lowercased().contains(forbidden), forbidden) }
        try checkInBrowser(path("ab.html"), charts: 3)

        r = try CLI.run(["report", path("a.cwr"), "-o", path("a.cwr")])
        XCTAssertEqual(r.status, 2)
        XCTAssert(r.stderr.contains("is an input"), r.stderr)
    }

    /// The study page: the gap histogram, the gap against the swept key, the points and the
    /// largest gap explained (the sweep explains it: explain.top 1).
    func testStudyPage() throws {
        let sweep = try write("sweep.json", """
            {"name": "study-page", "base": "\(CLI.repoRoot.path)/examples/crossedwires-cnn-pytorch.json", "profiles": ["pytorch", "keras"],
             "set": {"training.maxSteps": 30, "record.level": "params"},
             "space": {"optimizer.lr": {"grid": [0.01, 0.003]}}, "seeds": 2, "explain": {"top": 1, "seeds": 3}}
            """)
        var r = try CLI.run(["sweep", sweep, "-o", path("study"), "--jobs", "2"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssert(r.stdout.contains("explained point") && r.stdout.contains("over 3 seeds"), r.stdout)
        func explanation() throws -> [String: Any] {
            let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("study/summary.json")))) as? [String: Any])
            let explanations = try XCTUnwrap(summary["explanations"] as? [[String: Any]])
            XCTAssertEqual(explanations.count, 1)
            return try XCTUnwrap(explanations[0]["explain"] as? [String: Any])
        }
        let explain = try explanation()
        XCTAssertNotNil(explain["minimalSet"] as? [String])
        XCTAssertEqual((explain["seeds"] as? [Any])?.count, 3, "explain.seeds of the sweep file")
        let gap = try XCTUnwrap(explain["gap"] as? [String: Any])
        XCTAssertEqual((gap["ci95"] as? [Double])?.count, 2)
        XCTAssertNotNil(gap["pValue"] as? Double)
        XCTAssertFalse((explain["knobs"] as? [Any] ?? []).isEmpty)
        // A cache file that does not decode is recomputed, not trusted or fatal.
        let cacheDir = path("study/explanations")
        let cached = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: cacheDir).first { $0.hasSuffix(".json") })
        try Data(#"{"gap": 0.1}"#.utf8).write(to: URL(fileURLWithPath: cacheDir + "/" + cached))
        r = try CLI.run(["study", "collect", path("study"), "--jobs", "2"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual((try explanation()["gap"] as? [String: Any])?["mean"] as? Double, gap["mean"] as? Double, "recomputed bit for bit")

        r = try CLI.run(["report", path("study")])
        XCTAssertEqual(r.status, 0, r.stderr)
        let page = path("study/report.html")
        XCTAssertEqual(try chartKinds(page), ["histogram", "strip"])
        let text = try String(contentsOfFile: page, encoding: .utf8)
        XCTAssert(text.contains("Largest gaps explained") && text.contains("Each difference applied to A alone") && text.contains("batchnorm.momentum")
                  && text.contains("accuracy effect [95% interval]") && text.contains("(95% Welch interval)"), text)
        try checkInBrowser(page, charts: 2)
    }
}
