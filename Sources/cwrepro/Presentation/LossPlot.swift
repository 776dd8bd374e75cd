import Foundation
import Recorder

/// Text renderings of a run's curves and evaluations, for `show`.
public enum LossPlot {
    /// An ASCII plot of `losses` (one value per training step): `width` columns, each the mean of
    /// its steps (non-finite values skipped), `height` rows from the minimum to the maximum, with
    /// the extremes labelled on the y axis and the first and last step on the x axis.
    public static func render(_ losses: [Float], width: Int = 60, height: Int = 8) -> [String] {
        guard !losses.isEmpty, width > 0, height > 1 else { return [] }
        let cols = min(width, losses.count)
        let values: [Double?] = (0..<cols).map { c in
            let lo = c * losses.count / cols, hi = max(lo + 1, (c + 1) * losses.count / cols)
            let xs = losses[lo..<hi].filter(\.isFinite).map(Double.init)
            return xs.isEmpty ? nil : xs.reduce(0, +) / Double(xs.count)
        }
        let finite = values.compactMap { $0 }
        guard let top = finite.max(), let bottom = finite.min() else { return ["(no finite loss to plot)"] }
        let span = top - bottom
        var grid = Array(repeating: Array(repeating: Character(" "), count: cols), count: height)
        for (c, v) in values.enumerated() {
            guard let v else { grid[0][c] = "!"; continue }  // a column of NaN/Inf
            let r = span == 0 ? height - 1 : Int(((top - v) / span * Double(height - 1)).rounded())
            grid[r][c] = "*"
        }
        let labels = [String(format: "%.4g", top), String(format: "%.4g", bottom)]
        let lw = labels.map(\.count).max()!
        var out: [String] = []
        for (r, row) in grid.enumerated() {
            let label = r == 0 ? labels[0] : r == height - 1 ? labels[1] : ""
            let line = String(repeating: " ", count: lw - label.count) + label + " |" + String(row)
            out.append(String(line.reversed().drop { $0 == " " }.reversed()))
        }
        out.append(String(repeating: " ", count: lw) + " +" + String(repeating: "-", count: cols))
        let last = String(losses.count - 1)
        out.append(String(repeating: " ", count: lw + 2) + "0" + String(repeating: " ", count: max(1, cols - 1 - last.count)) + last)
        return out
    }

    /// Per-class accuracy of every evaluation: one row per evaluation, one column per class.
    public static func perClassTable(_ evals: [Evaluation]) -> String {
        let classes = evals.map(\.perClassAccuracy.count).max() ?? 0
        let rows = evals.map { e in
            [String(e.step), e.split] + (0..<classes).map { k in k < e.perClassAccuracy.count ? String(format: "%.3f", e.perClassAccuracy[k]) : "-" }
        }
        return Text.table(["after step", "split"] + (0..<classes).map { "class \($0)" }, rows)
    }
}
