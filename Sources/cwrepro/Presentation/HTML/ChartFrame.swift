/// A chart of a report page: an inline `<svg>` with a title, an accessible description and its marks.
protocol Chart {
    var title: String { get }
    /// One or two sentences saying what the chart shows (the SVG's `<desc>`, read by screen readers).
    var summary: String { get }
    /// The chart as one `<svg>` element. `id` must be unique on the page (ARIA references and
    /// gradient/pattern ids derive from it).
    func svg(id: String) -> String
}

/// One entry of a chart legend.
struct LegendEntry {
    enum Swatch { case line(dash: String?), dot, box }
    var name: String
    var color: String
    var swatch: Swatch
}

/// The parts every chart draws the same way: the `<svg>` root with its title and description,
/// the legend, the plot area's axes with ticks and grid lines, event markers.
enum ChartFrame {
    static let fontFamily = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', Arial, sans-serif"
    /// Approximate width of one character of 12 px text (layout estimates only).
    static let charWidth = 6.6

    /// Opens the root element and writes the title text; close with `svg.close("svg")`.
    static func begin(id: String, kind: String, width: Double, height: Double, title: String, summary: String,
                      attributes: [(String, String)] = []) -> SVGWriter {
        var svg = SVGWriter()
        svg.open("svg", [("xmlns", "http://www.w3.org/2000/svg"), ("id", id), ("class", "chart"), ("data-kind", kind),
                         ("width", HTMLText.coordinate(width)), ("height", HTMLText.coordinate(height)),
                         ("viewBox", "0 0 \(HTMLText.coordinate(width)) \(HTMLText.coordinate(height))"),
                         ("role", "img"), ("aria-labelledby", "\(id)-title \(id)-desc"),
                         ("font-family", fontFamily), ("font-size", "12"), ("fill", Palette.text)] + attributes)
        svg.element("title", [("id", "\(id)-title")], content: title)
        svg.element("desc", [("id", "\(id)-desc")], content: summary)
        svg.label(title, x: 8, y: 18, [("font-size", "14"), ("font-weight", "600")])
        return svg
    }

    /// The plot area for a chart of `width` x `height` whose legend takes `legendHeight` and whose
    /// y tick labels are at most `yLabelChars` characters.
    static func plotArea(width: Double, height: Double, legendHeight: Double, yLabelChars: Int, hasXTitle: Bool = true) -> Rect {
        let left = 30 + Double(max(yLabelChars, 2)) * charWidth
        let top = 30 + legendHeight
        let bottom = hasXTitle ? 44.0 : 26.0
        return Rect(x: left, y: top, width: max(40, width - left - 14), height: max(40, height - top - bottom))
    }

    /// How many rows `entries` take when laid out left to right within `width`.
    static func legendRows(_ entries: [LegendEntry], width: Double) -> Int {
        guard !entries.isEmpty else { return 0 }
        var rows = 1, x = 0.0
        for e in entries {
            let w = entryWidth(e)
            if x > 0 && x + w > width { rows += 1; x = 0 }
            x += w
        }
        return rows
    }

    static func entryWidth(_ e: LegendEntry) -> Double { 30 + Double(e.name.count) * charWidth + 14 }

    /// Draws the legend from (x, y) (the top-left corner), rows 16 px apart, as a `<g class="legend">`.
    static func legend(_ svg: inout SVGWriter, _ entries: [LegendEntry], x: Double, y: Double, width: Double) {
        guard !entries.isEmpty else { return }
        svg.open("g", [("class", "legend")])
        var cx = 0.0, cy = y
        for e in entries {
            let w = entryWidth(e)
            if cx > 0 && cx + w > width { cx = 0; cy += 16 }
            let sx = x + cx, mid = cy + 8
            switch e.swatch {
            case .line(let dash):
                var attrs = [("stroke", e.color), ("stroke-width", "2.5")]
                if let dash { attrs.append(("stroke-dasharray", dash)) }
                svg.line(sx, mid, sx + 24, mid, attrs)
            case .dot:
                svg.element("circle", [("cx", HTMLText.coordinate(sx + 12)), ("cy", HTMLText.coordinate(mid)), ("r", "4"), ("fill", e.color)])
            case .box:
                svg.rect(Rect(x: sx + 6, y: mid - 6, width: 12, height: 12), [("fill", e.color)])
            }
            svg.label(e.name, x: sx + 30, y: mid + 4)
            cx += w
        }
        svg.close("g")
    }

    /// Grid lines, axis lines, ticks, tick labels and axis titles around `plot`. A nil `x` leaves
    /// the x axis to the caller (categorical axes).
    static func axes(_ svg: inout SVGWriter, plot: Rect, x: AxisScale?, y: AxisScale, xTitle: String, yTitle: String) {
        svg.open("g", [("class", "axes"), ("font-size", "11")])
        for t in y.ticks {
            guard let py = y.position(t.value) else { continue }
            svg.line(plot.x, py, plot.maxX, py, [("stroke", Palette.grid)])
            svg.line(plot.x - 4, py, plot.x, py, [("stroke", Palette.axis)])
            svg.label(t.label, x: plot.x - 7, y: py + 4, anchor: "end")
        }
        if let x {
            for t in x.ticks {
                guard let px = x.position(t.value) else { continue }
                svg.line(px, plot.y, px, plot.maxY, [("stroke", Palette.grid)])
                svg.line(px, plot.maxY, px, plot.maxY + 4, [("stroke", Palette.axis)])
                svg.label(t.label, x: px, y: plot.maxY + 16, anchor: "middle")
            }
        }
        svg.line(plot.x, plot.maxY, plot.maxX, plot.maxY, [("stroke", Palette.axis)])
        svg.line(plot.x, plot.y, plot.x, plot.maxY, [("stroke", Palette.axis)])
        if !xTitle.isEmpty { svg.label(xTitle, x: plot.x + plot.width / 2, y: plot.maxY + 34, anchor: "middle", [("font-size", "12")]) }
        if !yTitle.isEmpty {
            let cx = 12.0, cy = plot.y + plot.height / 2
            svg.label(yTitle, x: cx, y: cy, anchor: "middle",
                      [("font-size", "12"), ("transform", "rotate(-90 \(HTMLText.coordinate(cx)) \(HTMLText.coordinate(cy)))")])
        }
        svg.close("g")
    }

    /// A vertical event marker at position `px`: a dashed line across the plot and its label at the
    /// top, with a `<title>` naming the event.
    static func marker(_ svg: inout SVGWriter, px: Double, plot: Rect, label: String) {
        svg.open("g", [("class", "marker")])
        svg.element("title", [], content: label)
        svg.line(px, plot.y, px, plot.maxY, [("stroke", Palette.marker), ("stroke-width", "1.5"), ("stroke-dasharray", "5 3")])
        let anchor = px > plot.x + plot.width * 0.7 ? "end" : "start"
        svg.label(label, x: px + (anchor == "end" ? -4 : 4), y: plot.y + 12, anchor: anchor, [("fill", Palette.marker), ("font-size", "11")])
        svg.close("g")
    }

    /// The longest tick label of `scale`, in characters.
    static func labelChars(_ scale: AxisScale) -> Int { scale.ticks.map(\.label.count).max() ?? 1 }
}
