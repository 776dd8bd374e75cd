import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
@testable import Presentation

/// The HTML report primitives: structure (the page and every SVG parse as XML), escaping of
/// user-provided strings, the number of series, points, bars and cells, ticks, and page size.
final class HTMLReportTests: XCTestCase {
    func parse(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> XMLDocument {
        do { return try XMLDocument(xmlString: text, options: []) } catch {
            XCTFail("not well-formed XML: \(error)", file: file, line: line)
            throw error
        }
    }

    /// Elements named `name` (any namespace) under `node`.
    func elements(_ name: String, in node: XMLNode) throws -> [XMLElement] {
        var found: [XMLElement] = []
        func walk(_ n: XMLNode) {
            for child in n.children ?? [] {
                if let e = child as? XMLElement, (e.localName ?? e.name) == name { found.append(e) }
                walk(child)
            }
        }
        walk(node)
        return found
    }

    func attribute(_ e: XMLElement, _ name: String) -> String? {
        (e.attributes ?? []).first { ($0.localName ?? $0.name) == name }?.stringValue
    }

    func testDemoPageParsesAsXMLWithEveryChart() throws {
        let html = HTMLDemoPage.page().render()
        let doc = try parse(html)
        let svgs = try elements("svg", in: doc)
        XCTAssertEqual(svgs.map { attribute($0, "data-kind") ?? "?" }, ["line", "line", "heatmap", "histogram", "strip", "strip"])
        XCTAssertEqual(Set(svgs.compactMap { attribute($0, "id") }).count, svgs.count, "chart ids are unique")
        for svg in svgs {
            // Each chart parses on its own (it can be saved as an .svg file) and is labelled for screen readers.
            _ = try parse(svg.xmlString)
            let id = try XCTUnwrap(attribute(svg, "id"))
            XCTAssertEqual(attribute(svg, "role"), "img")
            XCTAssertEqual(attribute(svg, "aria-labelledby"), "\(id)-title \(id)-desc")
            let children = (svg.children ?? []).compactMap { $0 as? XMLElement }
            XCTAssertEqual(children.first?.localName, "title")
            XCTAssertEqual(children.dropFirst().first?.localName, "desc")
            XCTAssertFalse(children[1].stringValue?.isEmpty ?? true)
            XCTAssertFalse(try elements("g", in: svg).filter { attribute($0, "class") == "marks" }.isEmpty, "\(id) has a marks group")
        }
        XCTAssertEqual(try elements("table", in: doc).count, 1)
        XCTAssertEqual(try elements("section", in: doc).count, 3)
    }

    func testPageIsSelfContained() throws {
        let html = HTMLDemoPage.page().render()
        for forbidden in ["<script", "<link", "<img", "<iframe", "src=", "@import", "@font-face", "href=\"http", "url(http"] {
            XCTAssertFalse(html.lowercased().contains(forbidden), "page contains \(forbidden)")
        }
        // The only absolute URLs are the XML namespace names (never fetched).
        let urls = html.components(separatedBy: "http://").dropFirst().map { "http://" + $0.prefix(while: { $0 != "\"" }) }
        XCTAssertFalse(html.contains("https://"))
        XCTAssertEqual(Set(urls), ["http://www.w3.org/1999/xhtml", "http://www.w3.org/2000/svg"])
        XCTAssert(html.contains("Content-Security-Policy\" content=\"default-src 'none'"))
    }

    func testUserStringsAreEscapedEverywhere() throws {
        let name = HTMLDemoPage.hostileName
        let html = HTMLDemoPage.page().render()
        XCTAssertFalse(html.contains("<script"), "a raw <script> from a record name")
        XCTAssert(html.contains("&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; &amp; &#39;friends&#39;"))
        let doc = try parse(html)
        XCTAssert(try elements("script", in: doc).isEmpty)
        // The name arrives as text, intact, in the page title, a legend, a heat-map row, a table cell.
        XCTAssertEqual(try elements("title", in: doc).first?.stringValue, "Report: \(name)")
        let texts = try elements("text", in: doc).compactMap(\.stringValue)
        XCTAssert(texts.contains { $0.contains(name) }, "legend or row label shows the name")
        XCTAssert(try elements("td", in: doc).contains { $0.stringValue == name })
        // Control characters XML forbids are replaced, so the page still parses.
        var page = ReportPage(title: "bad\u{0}name\u{1B}[31m", generator: "test")
        page.add("s", [.paragraph("x\u{7}y")])
        XCTAssert(try parse(page.render()).rootElement() != nil)
        XCTAssertEqual(HTMLText.escape("a\u{0}b"), "a\u{FFFD}b")
    }

    func testLineChartSeriesPointsBreaksAndMarker() throws {
        let chart = LineChart(title: "loss", xTitle: "step", yTitle: "loss",
                              series: [.init(name: "a", values: [1, 0.8, 0.6, .nan, 0.5, 0.4]),
                                       .init(name: "b", x: [0, 2, 4], y: [1.1, 0.7, 0.3])],
                              markers: [.init(x: 3, label: "first divergence: step 3")])
        let svg = try parse(chart.svg(id: "c"))
        let paths = try elements("path", in: svg).filter { attribute($0, "class") == "series" }
        XCTAssertEqual(paths.count, 2)
        XCTAssertEqual(paths.map { attribute($0, "data-points") }, ["6", "3"])
        let d = try XCTUnwrap(attribute(paths[0], "d"))
        XCTAssertEqual(d.filter { $0 == "M" }.count, 2, "the NaN breaks the line: \(d)")
        XCTAssertEqual(d.filter { $0 == "L" }.count, 3, "5 finite points in 2 pieces: \(d)")
        XCTAssertEqual(try elements("circle", in: svg).count, 8, "few points: each drawn")
        XCTAssert(try elements("text", in: svg).contains { $0.stringValue == "a (1 non-finite not drawn)" })
        let marker = try XCTUnwrap(try elements("g", in: svg).first { attribute($0, "class") == "marker" })
        XCTAssertEqual(try elements("title", in: marker).first?.stringValue, "first divergence: step 3")
    }

    func testLongCurveIsThinnedButKeepsItsSpike() throws {
        var values = (0..<100_000).map { 1 + 0.001 * sin(Double($0)) }
        values[61_234] = 5  // one spike
        let chart = LineChart(title: "loss", xTitle: "step", yTitle: "loss", series: [.init(name: "long", values: values)])
        let text = chart.svg(id: "c")
        XCTAssertLessThan(text.utf8.count, 60_000, "thinned to a few points per pixel column")
        let svg = try parse(text)
        let d = try XCTUnwrap(try elements("path", in: svg).first.flatMap { attribute($0, "d") })
        let ys = d.split(whereSeparator: { $0 == "M" || $0 == "L" }).compactMap { Double($0.split(separator: " ")[1]) }
        // The y axis ends at 5 (the spike); the spike's point is drawn at that tick's height.
        let tick5 = try XCTUnwrap(try elements("text", in: svg).first { $0.stringValue == "5" })
        XCTAssertEqual(ys.min(), try XCTUnwrap(attribute(tick5, "y").flatMap(Double.init)) - 4, "the spike survives thinning")
    }

    func testNiceTicks() {
        let linear = AxisScale(kind: .linear, values: [0.13, 0.87], range: (0, 100))
        XCTAssertEqual(linear.ticks.map(\.label), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        XCTAssertEqual(linear.position(0.5), 50)
        XCTAssertEqual(AxisScale(kind: .linear, values: [0, 300], range: (0, 1), targetTicks: 8).ticks.map(\.label),
                       ["0", "100", "200", "300"])
        XCTAssertEqual(AxisScale(kind: .linear, values: [0, 37], range: (0, 1), targetTicks: 8).ticks.map(\.label),
                       ["0", "10", "20", "30", "40"])
        XCTAssertEqual(AxisScale(kind: .linear, values: [-0.031, 0.12], range: (0, 1)).ticks.map(\.label),
                       ["-0.05", "0.00", "0.05", "0.10", "0.15"])
        XCTAssertEqual(AxisScale(kind: .linear, values: [2e-7, 9e-7], range: (0, 1)).ticks.first?.label, "2e-07")
        XCTAssertEqual(AxisScale(kind: .linear, values: [2e-7, 9e-7], range: (0, 1)).ticks.last?.label, "1e-06")
        let log = AxisScale(kind: .log, values: [0.0007, 0.1, -1, 0], range: (0, 1))
        XCTAssertEqual(log.ticks.map(\.label), ["1e-4", "0.001", "0.01", "0.1"])
        XCTAssertNil(log.position(0), "no position for 0 on a log scale")
        XCTAssertEqual(AxisScale(kind: .log, values: [1, 40], range: (0, 1)).ticks.map(\.label), ["1", "2", "5", "10", "20", "50", "100"])
        XCTAssertEqual(AxisScale(kind: .log, values: [1, 1e12], range: (0, 1)).ticks.map(\.label), ["1", "1000", "1e6", "1e9", "1e12"])
        XCTAssertEqual(AxisScale.nice(0.37, round: true), 0.5)
        XCTAssertEqual(AxisScale.nice(0.37, round: false), 0.5)
        XCTAssertEqual(AxisScale.nice(1.2, round: true), 1)
        XCTAssertEqual(AxisScale.nice(1.2, round: false), 2)
    }

    func testHistogramBinsCountEveryValue() throws {
        let gaps = HTMLDemoPage.trials().map(\.gap)
        let h = Histogram(title: "gaps", xTitle: "gap", values: gaps + [.nan])
        let (edges, counts) = h.binned()
        XCTAssertEqual(counts.reduce(0, +), gaps.count, "NaN left out, every finite value in a bin")
        XCTAssertEqual(edges.count, counts.count + 1)
        let width = edges[1] - edges[0]
        XCTAssertEqual(AxisScale.nice(width, round: true), width, accuracy: 1e-15)
        let svg = try parse(h.svg(id: "h"))
        let bars = try elements("rect", in: svg).filter { attribute($0, "class") == "bar" }
        XCTAssertEqual(bars.count, counts.count)
        XCTAssertEqual(bars.compactMap { attribute($0, "data-count").flatMap(Int.init) }, counts)
        XCTAssertEqual(Histogram(title: "one", xTitle: "x", values: [3, 3, 3]).binned().counts, [3])
        XCTAssertEqual(Histogram(title: "fixed", xTitle: "x", values: (0..<100).map(Double.init), bins: 10).binned().counts, Array(repeating: 10, count: 10))
    }

    func testStripPlotPointsAndMeans() throws {
        let trials = HTMLDemoPage.trials()
        let numeric = StripPlot(title: "gap vs lr", xTitle: "lr", yTitle: "gap",
                                points: trials.map { .init(x: .value($0.lr), y: $0.gap, group: $0.batch == 16 ? 0 : 1, label: "t") },
                                groups: ["16", "other"], logX: true, referenceY: 0)
        var svg = try parse(numeric.svg(id: "s"))
        XCTAssertEqual(try elements("circle", in: svg).filter { attribute($0, "class") == "point" }.count, trials.count)
        XCTAssertEqual(try elements("g", in: svg).filter { attribute($0, "class") == "mean" }.count, 5 * 2, "a mean per lr and group")
        XCTAssertEqual(try elements("line", in: svg).filter { attribute($0, "class") == "reference" }.count, 1)
        XCTAssert(try elements("text", in: svg).contains { $0.stringValue == "0.01" }, "log x ticks")
        let categorical = StripPlot(title: "gap vs batch", xTitle: "batch", yTitle: "gap",
                                    points: trials.map { .init(x: .category(String($0.batch)), y: $0.gap, label: "t") })
        svg = try parse(categorical.svg(id: "s"))
        XCTAssertEqual(categorical.categories, ["16", "32", "64"])
        let circles = try elements("circle", in: svg)
        XCTAssertEqual(circles.count, trials.count)
        // Points of one category spread sideways instead of covering each other.
        let xsOf16 = Set(zip(trials, circles).filter { $0.0.batch == 16 }.compactMap { attribute($0.1, "cx") })
        XCTAssertGreaterThan(xsOf16.count, 5)
    }

    func testHeatMapCellsLegendAndMarkedCell() throws {
        let map = HeatMap(title: "ulps", rows: HTMLDemoPage.tensors, columns: Array(0..<HTMLDemoPage.steps), values: HTMLDemoPage.ulps(),
                          marked: (row: 2, column: 37, label: "first divergence: 3.weight at step 37"))
        let svg = try parse(map.svg(id: "h"))
        let marks = try XCTUnwrap(try elements("g", in: svg).first { attribute($0, "class") == "marks" })
        let paths = try elements("path", in: marks)
        // One path per colour level in use (identical = -1, then 0..<32).
        XCTAssertLessThanOrEqual(paths.count, HeatMap.levels + 1)
        XCTAssertEqual(paths.first.flatMap { attribute($0, "data-level") }, "-1")
        XCTAssertEqual(paths.first.flatMap { attribute($0, "fill") }, Palette.identical)
        // Every row starts identical: one run per row before the divergence, so the identical
        // path has at least one subpath per row.
        let identicalRuns = (paths.first.flatMap { attribute($0, "d") } ?? "").filter { $0 == "M" }.count
        XCTAssertGreaterThanOrEqual(identicalRuns, HTMLDemoPage.tensors.count)
        let tips = try elements("rect", in: try XCTUnwrap(try elements("g", in: svg).first { attribute($0, "class") == "row-tips" }))
        XCTAssertEqual(tips.count, HTMLDemoPage.tensors.count)
        XCTAssertEqual(try elements("title", in: tips[0]).first?.stringValue?.hasPrefix("1.weight: identical at steps 0-41; differs from step 42, up to "), true)
        let marked = try XCTUnwrap(try elements("g", in: svg).first { attribute($0, "class") == "marked" })
        XCTAssertEqual(try elements("title", in: marked).first?.stringValue, "first divergence: 3.weight at step 37")
        XCTAssertEqual(try elements("linearGradient", in: svg).map { attribute($0, "id") }, ["h-scale"])
        XCTAssertEqual(Palette.viridis(0), "#440154")
        XCTAssertEqual(Palette.viridis(1), "#fde725")
        XCTAssertEqual(Palette.viridis(0.5), "#21908c")
    }

    func testHeatMapLevelsAndMissingCells() throws {
        // 3 steps, no binning: identical, 10 ulp, no value / 1e6 ulp, NaN (top level), 0.
        let map = HeatMap(title: "small", rows: ["a", "b"], columns: [0, 1, 2], values: [[0, 10, nil], [1e6, .nan, 0]])
        XCTAssertEqual(map.level(0, logTop: 6), -1)
        XCTAssertEqual(map.level(10, logTop: 6), 5)  // log10(10) / 6 * 32 = 5.3
        XCTAssertEqual(map.level(1e6, logTop: 6), 31)
        XCTAssertEqual(map.level(.nan, logTop: 6), 31)
        XCTAssertNil(map.level(nil, logTop: 6))
        let svg = try parse(map.svg(id: "s"))
        let paths = try elements("path", in: svg).filter { attribute($0, "class") == "cells" }
        XCTAssertEqual(paths.compactMap { attribute($0, "data-level") }, ["-1", "5", "31"])
        let subpaths = paths.map { (attribute($0, "d") ?? "").filter { $0 == "M" }.count }
        XCTAssertEqual(subpaths, [2, 1, 1], "the missing cell is not drawn; 1e6 and NaN share the top level (one run)")
        XCTAssertEqual(map.rowSummary(0), "a: identical at steps 0-0; differs from step 1, up to 10 ulp (step 1); 1 step without a value")
        XCTAssertEqual(map.rowSummary(1), "b: differs from step 0, up to 1e+06 ulp (step 0)")
        // An empty map is a sentence, not a crash.
        let empty = try parse(HeatMap(title: "none", rows: [], columns: [], values: []).svg(id: "e"))
        XCTAssert(try elements("text", in: empty).contains { $0.stringValue == "no tensors or steps to show" })
    }

    func testTypicalPageSize() throws {
        let html = HTMLDemoPage.page().render()
        let bytes = html.utf8.count
        let doc = try parse(html)
        let charts = try elements("svg", in: doc).map { "\(attribute($0, "data-kind") ?? "?") \($0.xmlString.utf8.count / 1000) KB" }
        print("demo page: \(bytes) bytes; charts: \(charts.joined(separator: ", "))")
        XCTAssertLessThan(bytes, 150_000)
        XCTAssertEqual(HTMLDemoPage.page().render(), html, "the same report gives the same bytes")
    }

    /// Sizes at the scale of real runs: a 40-tensor x 2,000-step ulp map and two 100,000-step loss curves.
    func testLargeRunsStaySmall() throws {
        var noise = HTMLDemoPage.Noise(state: 5)
        let rows = (0..<40).map { "layer\($0 / 4).\(["weight", "bias", "grad", "state"][$0 % 4])" }
        let values: [[Double?]] = rows.indices.map { r in (0..<2_000).map { s in s < 500 + r * 10 ? 0 : pow(10, Double(s - 500) / 200 + 2 * noise.next()) } }
        let map = HeatMap(title: "ulps", rows: rows, columns: Array(0..<2_000), values: values, marked: (row: 0, column: 500, label: "first"))
        let mapBytes = map.svg(id: "m").utf8.count
        let curves = LineChart(title: "loss", xTitle: "step", yTitle: "loss", series: (0..<2).map { k in
            .init(name: "side \(k)", values: (0..<100_000).map { 2 * exp(-Double($0) / 20_000) + 0.05 * noise.next() + Double(k) * 0.01 })
        }, logY: true)
        let curveBytes = curves.svg(id: "c").utf8.count
        print("40 x 2,000 heat map: \(mapBytes / 1000) KB; two 100,000-step curves: \(curveBytes / 1000) KB")
        XCTAssertLessThan(mapBytes, 200_000)
        XCTAssertLessThan(curveBytes, 120_000)
    }
}
