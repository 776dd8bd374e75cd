/// Curves over a shared x axis: loss and learning rate per step, accuracy per epoch. Non-finite
/// values (a loss that became NaN) and, on a log scale, non-positive ones break the line and are
/// counted in the legend; event markers (the first divergent step) are dashed vertical lines.
struct LineChart: Chart {
    struct Series {
        var name: String
        var x: [Double]
        var y: [Double]

        init(name: String, x: [Double], y: [Double]) {
            precondition(x.count == y.count, "series \(name): \(x.count) x values for \(y.count) y values")
            self.name = name
            self.x = x
            self.y = y
        }

        /// y against 0, 1, 2, ... (one value per step).
        init(name: String, values: [Double]) { self.init(name: name, x: values.indices.map(Double.init), y: values) }
    }

    /// An event at `x` (e.g. "first divergence: step 37").
    struct Marker {
        var x: Double
        var label: String
    }

    var title: String
    var xTitle: String
    var yTitle: String
    var series: [Series]
    /// A log10 y axis (losses spanning decades, learning-rate schedules).
    var logY = false
    var markers: [Marker] = []
    var width = 640.0
    var height = 320.0
    /// Series longer than this many points per pixel column are thinned (min/max per column).
    static let pointsPerColumn = 4

    var summary: String {
        let names = series.map { "\($0.name) (\(HTMLText.count($0.y.count)) points)" }.joined(separator: ", ")
        let events = markers.map(\.label).joined(separator: "; ")
        return "Line chart of \(yTitle)\(logY ? " (log scale)" : "") against \(xTitle): \(names)." + (events.isEmpty ? "" : " Marked: \(events).")
    }

    func svg(id: String) -> String {
        let legend = series.enumerated().map { i, s -> LegendEntry in
            let hidden = s.y.filter { !$0.isFinite || (logY && $0 <= 0) }.count
            let name = hidden == 0 ? s.name : "\(s.name) (\(HTMLText.count(hidden)) \(logY ? "non-positive or " : "")non-finite not drawn)"
            return LegendEntry(name: name, color: Palette.color(i), swatch: .line(dash: Palette.dash(i)))
        }
        let legendHeight = Double(ChartFrame.legendRows(legend, width: width - 16)) * 16
        let allX = series.flatMap(\.x), allY = series.flatMap(\.y)
        let probe = AxisScale(kind: logY ? .log : .linear, values: allY, range: (0, 1))
        let plot = ChartFrame.plotArea(width: width, height: height, legendHeight: legendHeight, yLabelChars: ChartFrame.labelChars(probe))
        let xs = AxisScale(kind: .linear, values: allX + markers.map(\.x), range: (plot.x, plot.maxX), targetTicks: 8)
        let ys = AxisScale(kind: logY ? .log : .linear, values: allY, range: (plot.maxY, plot.y))

        var svg = ChartFrame.begin(id: id, kind: "line", width: width, height: height, title: title, summary: summary,
                                   attributes: [("data-series", String(series.count))])
        ChartFrame.legend(&svg, legend, x: 8, y: 26, width: width - 16)
        ChartFrame.axes(&svg, plot: plot, x: xs, y: ys, xTitle: xTitle, yTitle: yTitle)
        svg.open("g", [("class", "marks")])
        for (i, s) in series.enumerated() {
            let pts = thin(s, xs, ys, columns: Int(plot.width))
            var attrs = [("class", "series"), ("data-name", s.name), ("data-points", String(s.y.count)),
                         ("fill", "none"), ("stroke", Palette.color(i)), ("stroke-width", "2"), ("stroke-linejoin", "round"),
                         ("d", path(pts))]
            if let dash = Palette.dash(i) { attrs.append(("stroke-dasharray", dash)) }
            let finite = s.y.filter(\.isFinite)
            let range = finite.isEmpty ? "no finite values" : "from \(HTMLText.number(finite.first!)) to \(HTMLText.number(finite.last!)), min \(HTMLText.number(finite.min()!)), max \(HTMLText.number(finite.max()!))"
            svg.element("path", attrs, title: "\(s.name): \(HTMLText.count(s.y.count)) points, \(range)")
            if s.y.count <= 40 {  // few points: show each one, with its value
                for (x, y) in zip(s.x, s.y) {
                    guard let px = xs.position(x), let py = ys.position(y) else { continue }
                    svg.element("circle", [("cx", HTMLText.coordinate(px)), ("cy", HTMLText.coordinate(py)), ("r", "2.5"), ("fill", Palette.color(i))],
                                title: "\(s.name): \(HTMLText.number(x)), \(HTMLText.number(y))")
                }
            }
        }
        svg.close("g")
        for m in markers { if let px = xs.clampedPosition(m.x) { ChartFrame.marker(&svg, px: px, plot: plot, label: m.label) } }
        svg.close("svg")
        return svg.text
    }

    /// The series' drawable points in SVG coordinates, nil where the line breaks. With more than
    /// `pointsPerColumn` points per pixel column it keeps, per column, the first, lowest, highest
    /// and last point, so spikes survive and a 100,000-step curve stays a few kilobytes.
    func thin(_ s: Series, _ xs: AxisScale, _ ys: AxisScale, columns: Int) -> [(Double, Double)?] {
        let all: [(Double, Double)?] = zip(s.x, s.y).map { x, y in
            guard let px = xs.position(x), let py = ys.position(y) else { return nil }
            return (px, py)
        }
        guard all.count > Self.pointsPerColumn * max(1, columns) else { return all }
        var out: [(Double, Double)?] = []
        var bucket: [(Double, Double)] = [], column = Int.min
        func flush() {
            guard let first = bucket.first, let last = bucket.last else { return }
            let lowest = bucket.max { $0.1 < $1.1 }!, highest = bucket.min { $0.1 < $1.1 }!  // y grows downwards
            for p in [first, lowest, highest, last] {
                if let previous = out.last, let q = previous, q == p { continue }
                out.append(p)
            }
            bucket = []
        }
        for p in all {
            guard let p else { flush(); out.append(nil); column = Int.min; continue }
            let c = Int(p.0.rounded(.down))
            if c != column { flush(); column = c }
            bucket.append(p)
        }
        flush()
        return out
    }

    /// An SVG path: "M" at the start and after every break, "L" otherwise.
    func path(_ points: [(Double, Double)?]) -> String {
        var d = "", pen = false
        for p in points {
            guard let (x, y) = p else { pen = false; continue }
            d += (d.isEmpty ? "" : " ") + (pen ? "L" : "M") + HTMLText.coordinate(x) + " " + HTMLText.coordinate(y)
            pen = true
        }
        return d
    }
}
