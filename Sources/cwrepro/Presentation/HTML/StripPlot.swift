/// Points of y against a categorical or numeric x (the accuracy gap against a swept
/// hyperparameter, one point per trial and seed), coloured by group, with optional per-x means
/// and a horizontal reference line (gap 0). Categorical points are spread sideways by a fixed
/// pattern (no randomness: the same data give the same page).
struct StripPlot: Chart {
    enum X: Equatable {
        case category(String)
        case value(Double)
    }

    struct Point {
        var x: X
        var y: Double
        /// Index into `groups` (colour and legend).
        var group: Int = 0
        /// The tooltip, e.g. "lr=0.01 batch=32 seed=2: gap 0.031".
        var label: String
    }

    var title: String
    var xTitle: String
    var yTitle: String
    var points: [Point]
    var groups: [String] = []
    /// A log10 x axis for numeric x (learning rates, epsilons).
    var logX = false
    /// A dashed horizontal line at this y (0 for a gap), if any.
    var referenceY: Double? = nil
    /// A short bar at the mean of each group at each x.
    var showMeans = true
    var width = 640.0
    var height = 320.0

    /// The categories in order of first appearance.
    var categories: [String] {
        var seen: [String] = []
        for p in points { if case .category(let c) = p.x, !seen.contains(c) { seen.append(c) } }
        return seen
    }

    var isCategorical: Bool { points.contains { if case .category = $0.x { return true } else { return false } } }

    var summary: String {
        let xs = isCategorical ? "categories \(categories.joined(separator: ", "))" : "\(xTitle)\(logX ? " (log scale)" : "")"
        return "Strip plot of \(HTMLText.count(points.count)) points of \(yTitle) against \(xs)" + (groups.count > 1 ? ", by \(groups.joined(separator: ", "))." : ".")
    }

    func svg(id: String) -> String {
        let legend = groups.count > 1 ? groups.enumerated().map { LegendEntry(name: $1, color: Palette.color($0), swatch: .dot) } : []
        let legendHeight = Double(ChartFrame.legendRows(legend, width: width - 16)) * 16
        let ysValues = points.map(\.y) + (referenceY.map { [$0] } ?? [])
        let probe = AxisScale(kind: .linear, values: ysValues, range: (0, 1))
        let plot = ChartFrame.plotArea(width: width, height: height, legendHeight: legendHeight, yLabelChars: ChartFrame.labelChars(probe))
        let ys = AxisScale(kind: .linear, values: ysValues, range: (plot.maxY, plot.y))
        let cats = categories
        let band = plot.width / Double(max(1, cats.count))
        let numericValues = points.compactMap { p -> Double? in if case .value(let v) = p.x { return v } else { return nil } }
        let xs = isCategorical ? nil : AxisScale(kind: logX ? .log : .linear, values: numericValues, range: (plot.x + 8, plot.maxX - 8), targetTicks: 8)

        // The x position of each point: the category's band centre plus a fixed offset per point
        // of that category (0, +1, -1, +2, -2, ... steps of 3 px, folded within the band), or the
        // numeric scale.
        var seenInCategory: [String: Int] = [:]
        let positions: [Double?] = points.map { p in
            switch p.x {
            case .category(let c):
                let k = seenInCategory[c, default: 0]
                seenInCategory[c] = k + 1
                let centre = plot.x + band * (Double(cats.firstIndex(of: c)!) + 0.5)
                let maxSteps = max(1, Int(band * 0.35 / 3))
                let step = ((k + 1) / 2) % (maxSteps + 1)
                return centre + Double(k % 2 == 0 ? step : -step) * 3
            case .value(let v):
                return xs?.position(v)
            }
        }

        var svg = ChartFrame.begin(id: id, kind: "strip", width: width, height: height, title: title, summary: summary,
                                   attributes: [("data-points", String(points.count))])
        ChartFrame.legend(&svg, legend, x: 8, y: 26, width: width - 16)
        ChartFrame.axes(&svg, plot: plot, x: xs, y: ys, xTitle: xTitle, yTitle: yTitle)
        if isCategorical {
            svg.open("g", [("class", "categories"), ("font-size", "11")])
            for (i, c) in cats.enumerated() {
                let cx = plot.x + band * (Double(i) + 0.5)
                svg.line(cx, plot.maxY, cx, plot.maxY + 4, [("stroke", Palette.axis)])
                svg.element("text", [("x", HTMLText.coordinate(cx)), ("y", HTMLText.coordinate(plot.maxY + 16)), ("text-anchor", "middle")],
                            title: c, content: Self.shorten(c, to: Int(band / ChartFrame.charWidth)))
            }
            svg.close("g")
        }
        if let r = referenceY, let py = ys.position(r) {
            svg.line(plot.x, py, plot.maxX, py, [("class", "reference"), ("stroke", Palette.axis), ("stroke-dasharray", "4 3")])
        }
        svg.open("g", [("class", "marks")])
        for (p, px) in zip(points, positions) {
            guard let px, let py = ys.position(p.y) else { continue }
            svg.element("circle", [("class", "point"), ("cx", HTMLText.coordinate(px)), ("cy", HTMLText.coordinate(py)), ("r", "3.5"),
                                   ("fill", Palette.color(p.group)), ("fill-opacity", "0.75")], title: p.label)
        }
        if showMeans { drawMeans(&svg, positionsOf: { x in
            switch x {
            case .category(let c): return plot.x + band * (Double(cats.firstIndex(of: c)!) + 0.5)
            case .value(let v): return xs?.position(v)
            }
        }, ys: ys, halfWidth: isCategorical ? min(band * 0.35, 24) : 8) }
        svg.close("g")
        svg.close("svg")
        return svg.text
    }

    /// One short horizontal bar per (x, group) at the group's mean y, with the mean and count as its title.
    func drawMeans(_ svg: inout SVGWriter, positionsOf: (X) -> Double?, ys: AxisScale, halfWidth: Double) {
        var keys: [(X, Int)] = []
        var sums: [Int: (Double, Int)] = [:]
        for p in points where p.y.isFinite {
            let k = keys.firstIndex { $0.0 == p.x && $0.1 == p.group } ?? { keys.append((p.x, p.group)); return keys.count - 1 }()
            let s = sums[k, default: (0, 0)]
            sums[k] = (s.0 + p.y, s.1 + 1)
        }
        for (k, key) in keys.enumerated() {
            guard let (sum, n) = sums[k], n > 1, let px = positionsOf(key.0), let py = ys.position(sum / Double(n)) else { continue }
            let name = groups.indices.contains(key.1) && groups.count > 1 ? "\(groups[key.1]) " : ""
            svg.open("g", [("class", "mean")])
            svg.element("title", [], content: "\(name)mean \(HTMLText.number(sum / Double(n))) over \(n) points")
            svg.line(px - halfWidth, py, px + halfWidth, py, [("stroke", Palette.color(key.1)), ("stroke-width", "2.5")])
            svg.close("g")
        }
    }

    /// `s` cut to `n` characters with an ellipsis (the full text stays in the tooltip and the table).
    static func shorten(_ s: String, to n: Int) -> String {
        s.count <= max(n, 4) ? s : String(s.prefix(max(n, 4) - 1)) + "…"
    }
}
