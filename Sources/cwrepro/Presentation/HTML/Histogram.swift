import Foundation
import Replayer

/// The distribution of one set of values (accuracy gaps over a study's trials): bars of counts
/// over bins of a nice width, with optional event markers (a zero gap, a mean).
struct Histogram: Chart {
    var title: String
    var xTitle: String
    var values: [Double]
    /// Bin count; nil chooses a width by the Freedman-Diaconis rule `2 IQR / n^(1/3)` (Sturges'
    /// `ceil(log2 n) + 1` bins when the IQR is 0), rounded to a nice number, at most 60 bins.
    var bins: Int? = nil
    var markers: [LineChart.Marker] = []
    var width = 640.0
    var height = 300.0

    /// Bin edges (`count + 1`, nice multiples of the width) and the count in each bin (`[low, high)`,
    /// the last bin closed). Non-finite values are left out.
    func binned() -> (edges: [Double], counts: [Int]) {
        let xs = values.filter(\.isFinite)
        guard let lo = xs.min(), let hi = xs.max() else { return ([0, 1], [0]) }
        if lo == hi { return ([lo - 0.5, lo + 0.5], [xs.count]) }
        var widthOfBin: Double
        if let bins {
            widthOfBin = AxisScale.nice((hi - lo) / Double(max(1, bins)), round: true)
        } else {
            let q = (try? Statistics.quantiles(xs, [0.25, 0.75])) ?? [lo, hi]
            let fd = 2 * (q[1] - q[0]) / pow(Double(xs.count), 1.0 / 3)
            let sturges = (hi - lo) / (log2(Double(xs.count)).rounded(.up) + 1)
            widthOfBin = AxisScale.nice(fd > 0 ? fd : sturges, round: true)
        }
        while (hi - lo) / widthOfBin > 60 { widthOfBin = AxisScale.nice(widthOfBin * 2, round: true) }
        let start = (lo / widthOfBin).rounded(.down) * widthOfBin
        let count = max(1, Int(((hi - start) / widthOfBin).rounded(.down)) + 1)
        let edges = (0...count).map { start + Double($0) * widthOfBin }
        var counts = [Int](repeating: 0, count: count)
        for x in xs { counts[min(count - 1, max(0, Int(((x - start) / widthOfBin).rounded(.down))))] += 1 }
        return (edges, counts)
    }

    var summary: String {
        let xs = values.filter(\.isFinite)
        let range = xs.isEmpty ? "no finite values" : "from \(HTMLText.number(xs.min()!)) to \(HTMLText.number(xs.max()!))"
        return "Histogram of \(HTMLText.count(xs.count)) values of \(xTitle), \(range), in \(binned().counts.count) bins."
    }

    func svg(id: String) -> String {
        let (edges, counts) = binned()
        let probe = AxisScale(kind: .linear, values: counts.map(Double.init) + [1], range: (0, 1), includeZero: true)
        let plot = ChartFrame.plotArea(width: width, height: height, legendHeight: 0, yLabelChars: ChartFrame.labelChars(probe))
        let xs = AxisScale(kind: .linear, values: edges + markers.map(\.x), range: (plot.x, plot.maxX), targetTicks: 8)
        var ys = AxisScale(kind: .linear, values: counts.map(Double.init) + [1], range: (plot.maxY, plot.y), includeZero: true)
        if ys.ticks.count > 1, ys.ticks[1].value - ys.ticks[0].value < 1 {  // counts: whole-number ticks
            ys = AxisScale(kind: .linear, values: [0, Double(max(2, counts.max() ?? 1))], range: (plot.maxY, plot.y), targetTicks: 3)
        }
        var svg = ChartFrame.begin(id: id, kind: "histogram", width: width, height: height, title: title, summary: summary,
                                   attributes: [("data-bins", String(counts.count))])
        ChartFrame.axes(&svg, plot: plot, x: xs, y: ys, xTitle: xTitle, yTitle: "count")
        svg.open("g", [("class", "marks")])
        for (i, c) in counts.enumerated() {
            guard let x0 = xs.position(edges[i]), let x1 = xs.position(edges[i + 1]), let y0 = ys.position(Double(c)), let base = ys.position(0) else { continue }
            let closing = i == counts.count - 1 ? "]" : ")"
            svg.rect(Rect(x: x0 + 0.5, y: y0, width: max(0.5, x1 - x0 - 1), height: base - y0),
                     [("class", "bar"), ("fill", Palette.color(0)), ("fill-opacity", "0.85"), ("data-count", String(c))],
                     title: "[\(HTMLText.number(edges[i])), \(HTMLText.number(edges[i + 1]))\(closing): \(c)")
        }
        svg.close("g")
        for m in markers { if let px = xs.clampedPosition(m.x) { ChartFrame.marker(&svg, px: px, plot: plot, label: m.label) } }
        svg.close("svg")
        return svg.text
    }
}
