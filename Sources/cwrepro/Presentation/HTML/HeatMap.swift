import Foundation

/// Where and how much two runs differ: rows are tensors, columns are steps, the colour is the
/// relative error in ulps on a log scale (viridis from 1 ulp to the largest value, in 32 levels),
/// a light grey for bit-identical cells (0 ulp) and white for cells with no value; one cell (the
/// first divergence) can be outlined and labelled. Wide maps are binned: each column then shows
/// the largest value of the steps it covers. Hovering a row shows its summary (first differing
/// step, largest difference and where).
struct HeatMap: Chart {
    var title: String
    /// Row names (tensor names such as "3.weight").
    var rows: [String]
    /// Column values (training steps), increasing.
    var columns: [Int]
    /// `values[row][column]`: the difference in ulps, nil where there is none to show.
    var values: [[Double?]]
    /// The outlined cell: (row, column) indices into `rows` and `columns`, and its label.
    var marked: (row: Int, column: Int, label: String)? = nil
    var columnTitle = "step"
    var unit = "ulp"
    var width = 760.0
    /// At most this many columns are drawn; more steps are binned (max per bin).
    var maxColumns = 160

    var summary: String {
        let finite = values.joined().compactMap { $0 }.filter(\.isFinite)
        let nonzero = finite.filter { $0 > 0 }.count
        let mark = marked.map { " Marked: \($0.label)." } ?? ""
        return "Heat map of \(rows.count) tensors by \(columns.count) \(columnTitle)s: \(HTMLText.count(nonzero)) of \(HTMLText.count(finite.count)) cells differ"
            + (finite.isEmpty ? "." : ", by up to \(HTMLText.number(finite.max()!)) \(unit).") + mark
    }

    /// Column bins: ranges of column indices, at most `maxColumns` of them.
    func bins() -> [Range<Int>] {
        let n = columns.count, k = max(1, min(n, maxColumns))
        return (0..<k).map { b in (b * n / k)..<((b + 1) * n / k) }
    }

    /// The largest value over `bin` in `row` (nil if none).
    func value(row: Int, bin: Range<Int>) -> Double? {
        bin.compactMap { values[row].indices.contains($0) ? values[row][$0] : nil }.max()
    }

    func svg(id: String) -> String {
        precondition(values.count == rows.count, "heat map: \(values.count) value rows for \(rows.count) row names")
        guard !rows.isEmpty, !columns.isEmpty else {  // nothing to map: say so instead of an empty frame
            var svg = ChartFrame.begin(id: id, kind: "heatmap", width: width, height: 60, title: title, summary: "No tensors or steps to show.")
            svg.label("no tensors or steps to show", x: 8, y: 44, [("fill", Palette.axis)])
            svg.close("svg")
            return svg.text
        }
        let bins = bins()
        let labelChars = min(28, rows.map(\.count).max() ?? 4)
        let left = 16 + Double(labelChars) * ChartFrame.charWidth
        let cellHeight = max(4, min(16, 420 / Double(max(1, rows.count))))
        let plot = Rect(x: left, y: 34, width: width - left - 16, height: cellHeight * Double(rows.count))
        let cellWidth = plot.width / Double(max(1, bins.count))
        let height = plot.maxY + 96
        let top = values.joined().compactMap { $0 }.filter(\.isFinite).max() ?? 1
        let logTop = max(1, log10(max(top, 10)))
        var svg = ChartFrame.begin(id: id, kind: "heatmap", width: width, height: height, title: title, summary: summary,
                                   attributes: [("data-rows", String(rows.count)), ("data-columns", String(columns.count))])
        // Row labels (every row when they fit, else every k-th).
        let every = Int((11 / cellHeight).rounded(.up))
        svg.open("g", [("class", "rows"), ("font-size", cellHeight >= 11 ? "11" : "9")])
        for (r, name) in rows.enumerated() where r % every == 0 {
            svg.element("text", [("x", HTMLText.coordinate(plot.x - 6)), ("y", HTMLText.coordinate(plot.y + cellHeight * (Double(r) + 0.5) + 3.5)),
                                 ("text-anchor", "end")], title: name, content: StripPlot.shorten(name, to: labelChars))
        }
        svg.close("g")
        // Cells: one path per colour level (runs of a level within a row are one subpath), so a
        // map of thousands of cells stays tens of kilobytes; each row has a tooltip summarising it.
        var shapes: [Int: String] = [:]
        for r in rows.indices {
            var b = 0
            while b < bins.count {
                let l = level(value(row: r, bin: bins[b]), logTop: logTop)
                var e = b + 1
                while e < bins.count && level(value(row: r, bin: bins[e]), logTop: logTop) == l { e += 1 }
                if let l {
                    shapes[l, default: ""] += "M\(HTMLText.coordinate(plot.x + cellWidth * Double(b))) \(HTMLText.coordinate(plot.y + cellHeight * Double(r)))"
                        + "h\(HTMLText.coordinate(cellWidth * Double(e - b)))v\(HTMLText.coordinate(cellHeight))h\(HTMLText.coordinate(-cellWidth * Double(e - b)))z"
                }
                b = e
            }
        }
        svg.open("g", [("class", "marks"), ("shape-rendering", "crispEdges")])
        for (l, d) in shapes.sorted(by: { $0.key < $1.key }) {
            svg.element("path", [("class", "cells"), ("data-level", String(l)), ("fill", color(level: l)), ("d", d)])
        }
        svg.close("g")
        svg.open("g", [("class", "row-tips"), ("fill", "#000"), ("fill-opacity", "0")])
        for r in rows.indices {
            svg.rect(Rect(x: plot.x, y: plot.y + cellHeight * Double(r), width: plot.width, height: cellHeight), title: rowSummary(r))
        }
        svg.close("g")
        svg.rect(plot, [("fill", "none"), ("stroke", Palette.axis)])
        // Column axis: nice step ticks placed at the bin holding that step.
        let stepScale = AxisScale(kind: .linear, values: columns.map(Double.init), range: (0, 1), targetTicks: 8)
        svg.open("g", [("class", "axes"), ("font-size", "11")])
        for t in stepScale.ticks {
            guard let b = bins.firstIndex(where: { columns[$0.lowerBound] <= Int(t.value) && Int(t.value) <= columns[$0.upperBound - 1] }) else { continue }
            let px = plot.x + cellWidth * (Double(b) + 0.5)
            svg.line(px, plot.maxY, px, plot.maxY + 4, [("stroke", Palette.axis)])
            svg.label(t.label, x: px, y: plot.maxY + 16, anchor: "middle")
        }
        svg.label(columnTitle, x: plot.x + plot.width / 2, y: plot.maxY + 32, anchor: "middle", [("font-size", "12")])
        svg.close("g")
        if let m = marked, rows.indices.contains(m.row), let b = bins.firstIndex(where: { $0.contains(m.column) }) {
            let cell = Rect(x: plot.x + cellWidth * Double(b), y: plot.y + cellHeight * Double(m.row), width: cellWidth, height: cellHeight)
            svg.open("g", [("class", "marked")])
            svg.element("title", [], content: m.label)
            svg.rect(Rect(x: cell.x - 2, y: cell.y - 2, width: cell.width + 4, height: cell.height + 4),
                     [("fill", "none"), ("stroke", "#ffffff"), ("stroke-width", "3")])
            svg.rect(Rect(x: cell.x - 2, y: cell.y - 2, width: cell.width + 4, height: cell.height + 4),
                     [("fill", "none"), ("stroke", Palette.marker), ("stroke-width", "2")])
            let anchor = cell.x > plot.x + plot.width * 0.6 ? "end" : "start"
            svg.label(m.label, x: anchor == "end" ? cell.maxX : cell.x, y: plot.y - 6, anchor: anchor, [("fill", Palette.marker), ("font-size", "11")])
            svg.line(cell.x + cell.width / 2, plot.y - 4, cell.x + cell.width / 2, cell.y - 2, [("stroke", Palette.marker)])
            svg.close("g")
        }
        legend(&svg, id: id, x: plot.x, y: plot.maxY + 46, logTop: logTop)
        svg.close("svg")
        return svg.text
    }

    /// Colour levels of the map: -1 for identical cells (0 ulp), 0 ..< `levels` for differences on
    /// the log scale from 1 ulp to 10^logTop (non-finite differences take the top level), nil for
    /// no value (drawn as the white background).
    static let levels = 32

    func level(_ v: Double?, logTop: Double) -> Int? {
        guard let v else { return nil }
        guard v.isFinite else { return Self.levels - 1 }
        if v <= 0 { return -1 }
        return min(Self.levels - 1, Int(log10(max(v, 1)) / logTop * Double(Self.levels)))
    }

    func color(level: Int) -> String {
        level < 0 ? Palette.identical : Palette.viridis((Double(level) + 0.5) / Double(Self.levels))
    }

    /// "3.weight: identical at steps 0-36; differs from step 37, up to 1.2e+09 ulp (step 280); 6 steps without a value".
    func rowSummary(_ r: Int) -> String {
        let row = values[r]
        var parts: [String] = []
        let firstDiff = row.firstIndex { ($0 ?? 0) > 0 || ($0.map { !$0.isFinite } ?? false) }
        if let f = firstDiff {
            if f > 0 { parts.append("identical at \(columnTitle)s \(columns[0])-\(columns[f - 1])") }
            let worst = row.indices.max { (row[$0] ?? -1) < (row[$1] ?? -1) }!
            parts.append("differs from \(columnTitle) \(columns[f]), up to \(HTMLText.number(row[worst] ?? 0)) \(unit) (\(columnTitle) \(columns[worst]))")
        } else if row.contains(where: { $0 != nil }) {
            parts.append("identical at every \(columnTitle)")
        }
        let missing = row.filter { $0 == nil }.count
        if missing > 0 { parts.append("\(missing) \(columnTitle)\(missing == 1 ? "" : "s") without a value") }
        return "\(rows[r]): " + parts.joined(separator: "; ")
    }

    /// The colour legend: a viridis bar from 1 ulp to 10^logTop with power-of-ten ticks, and
    /// swatches for "identical" and "no value".
    func legend(_ svg: inout SVGWriter, id: String, x: Double, y: Double, logTop: Double) {
        let barWidth = min(260.0, width - x - 230)
        svg.open("g", [("class", "legend"), ("font-size", "11")])
        svg.open("defs")
        svg.open("linearGradient", [("id", "\(id)-scale"), ("x1", "0"), ("x2", "1"), ("y1", "0"), ("y2", "0")])
        for i in 0...8 { svg.element("stop", [("offset", HTMLText.number(Double(i) / 8)), ("stop-color", Palette.viridis(Double(i) / 8))]) }
        svg.close("linearGradient")
        svg.close("defs")
        svg.label("relative error (\(unit), log scale)", x: x, y: y - 4)
        svg.rect(Rect(x: x, y: y, width: barWidth, height: 10), [("fill", "url(#\(id)-scale)")])
        let every = max(1, Int((logTop / 6).rounded(.up)))
        for e in stride(from: 0, through: Int(logTop.rounded(.down)), by: every) {
            let px = x + barWidth * Double(e) / logTop
            svg.line(px, y + 10, px, y + 14, [("stroke", Palette.axis)])
            svg.label(AxisScale.powerOfTen(e), x: px, y: y + 25, anchor: "middle")
        }
        var sx = x + barWidth + 24
        for (name, fill) in [("identical (0 \(unit))", Palette.identical), ("no value", Palette.missing)] {
            svg.rect(Rect(x: sx, y: y, width: 12, height: 10), [("fill", fill), ("stroke", Palette.axis)])
            svg.label(name, x: sx + 16, y: y + 9)
            sx += 30 + Double(name.count) * ChartFrame.charWidth
        }
        svg.close("g")
    }
}
