import Foundation

/// Where and how much two runs differ: rows are tensors, columns are steps, the colour is the
/// relative error in ulps on a log scale (viridis from 1 ulp to the largest value), a light grey
/// for bit-identical cells (0 ulp) and white for cells with no value; one cell (the first
/// divergence) can be outlined and labelled. Wide maps are binned: each column then shows the
/// largest value of the steps it covers.
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
        let bins = bins()
        let labelChars = min(28, rows.map(\.count).max() ?? 4)
        let left = 16 + Double(labelChars) * ChartFrame.charWidth
        let cellHeight = max(4, min(16, 420 / Double(max(1, rows.count))))
        let plot = Rect(x: left, y: 34, width: width - left - 16, height: cellHeight * Double(rows.count))
        let cellWidth = plot.width / Double(max(1, bins.count))
        let height = plot.maxY + 96
        let top = values.joined().compactMap { $0 }.filter(\.isFinite).max() ?? 1
        let logTop = max(1, log10(max(top, 10)))
        func color(_ v: Double?) -> String {
            guard let v, v.isFinite else { return v == nil ? Palette.missing : Palette.viridis(1) }
            return v <= 0 ? Palette.identical : Palette.viridis(log10(max(v, 1)) / logTop)
        }

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
        // Cells: runs of equal colour in a row are one rectangle (a run of identical steps is one element).
        svg.open("g", [("class", "marks"), ("shape-rendering", "crispEdges")])
        for r in rows.indices {
            var b = 0
            while b < bins.count {
                let c = color(value(row: r, bin: bins[b]))
                var e = b + 1
                while e < bins.count && color(value(row: r, bin: bins[e])) == c { e += 1 }
                let first = columns[bins[b].lowerBound], last = columns[bins[e - 1].upperBound - 1]
                let vals = (b..<e).compactMap { value(row: r, bin: bins[$0]) }
                let what = vals.isEmpty ? "no value" : vals.max()! <= 0 ? "identical" : "up to \(HTMLText.number(vals.max()!)) \(unit)"
                let span = first == last ? "\(columnTitle) \(first)" : "\(columnTitle)s \(first)-\(last)"
                svg.rect(Rect(x: plot.x + cellWidth * Double(b), y: plot.y + cellHeight * Double(r), width: cellWidth * Double(e - b), height: cellHeight),
                         [("fill", c)], title: "\(rows[r]), \(span): \(what)")
                b = e
            }
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
