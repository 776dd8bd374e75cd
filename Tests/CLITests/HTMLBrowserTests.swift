import Foundation
import XCTest
@testable import Presentation

/// Renders report pages in headless Chromium through scripts/check-html.py: no console errors,
/// and a screenshot shows every chart. Skips (with the reason) when Chromium is not installed.
/// Set CWREPRO_HTML_DEMO_DIR to keep the demo page and its screenshot there.
final class HTMLBrowserTests: CLITestCase {
    var script: URL { CLI.repoRoot.appendingPathComponent("scripts/check-html.py") }

    func requireChromium() throws {
        let found = ["chromium", "chromium-browser", "google-chrome"].contains { name in
            (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":").contains {
                FileManager.default.isExecutableFile(atPath: "\($0)/\(name)")
            }
        }
        if !found { throw XCTSkip("headless-browser check skipped: no chromium on PATH (Debian: apt-get install -y chromium)") }
    }

    func check(_ page: String, screenshot: String? = nil) throws -> CLI.Result {
        try CLI.run([page] + (screenshot.map { ["--screenshot", $0] } ?? []), executable: script)
    }

    func testDemoPageRendersEveryChartWithoutConsoleErrors() throws {
        try requireChromium()
        let page = try write("demo.html", HTMLDemoPage.page().render())
        let shot = path("demo.png")
        let r = try check(page, screenshot: shot)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssert(r.stdout.contains("6 charts"), r.stdout)
        XCTAssert(r.stdout.contains("0 console messages, 0 page errors"), r.stdout)
        for kind in ["line", "heatmap", "histogram", "strip"] { XCTAssert(r.stdout.contains(" \(kind): "), "\(kind) measured: \(r.stdout)") }
        XCTAssert(FileManager.default.fileExists(atPath: shot))
        if let keep = ProcessInfo.processInfo.environment["CWREPRO_HTML_DEMO_DIR"] {
            try FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
            for name in ["demo.html", "demo.png"] {
                let target = URL(fileURLWithPath: keep).appendingPathComponent("html-report-\(name)")
                try? FileManager.default.removeItem(at: target)
                try FileManager.default.copyItem(at: dir.appendingPathComponent(name), to: target)
            }
            print(r.stdout)
        }
    }

    /// The check can fail: a malformed path (Chromium logs an SVG attribute error), a script that
    /// throws, a fetch the CSP blocks, and a chart whose marks are empty are each reported.
    func testCheckCatchesBrokenPages() throws {
        try requireChromium()
        var page = HTMLDemoPage.page().render()
        page = page.replacingOccurrences(of: "<path class=\"series\"", with: "<path class=\"series\" transform=\"scale(oops)\"")
        var r = try check(try write("broken-svg.html", page))
        XCTAssertEqual(r.status, 1, r.stdout)
        XCTAssert(r.stdout.contains("FAIL console"), r.stdout)

        var blank = ReportPage(title: "blank", generator: "test")
        blank.add("Nothing", [.chart(LineChart(title: "empty", xTitle: "step", yTitle: "loss", series: []))])
        r = try check(try write("blank.html", blank.render()))
        XCTAssertEqual(r.status, 1, r.stdout)
        XCTAssert(r.stdout.contains("FAIL chart-1 (line): nothing drawn"), r.stdout)

        let fetching = HTMLDemoPage.page().render().replacingOccurrences(of: "</main>", with: "<img src=\"https://example.com/x.png\" alt=\"\"/></main>")
        r = try check(try write("fetching.html", fetching))
        XCTAssertEqual(r.status, 1, r.stdout)
        XCTAssert(r.stdout.contains("csp") || r.stdout.contains("Refused"), r.stdout)
    }
}
