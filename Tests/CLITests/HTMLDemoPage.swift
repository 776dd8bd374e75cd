import Foundation
@testable import Presentation

/// A report page with every chart primitive, from synthetic data shaped like cwrepro's (two loss
/// curves that part at a divergence, a step learning-rate schedule, a tensor x step ulp map, a
/// study's gaps), for the structure tests and the headless-browser check.
enum HTMLDemoPage {
    /// A record name no page may execute.
    static let hostileName = "<script>alert(\"pwned\")</script> & 'friends'"

    /// A small deterministic generator (a 64-bit LCG, Knuth's MMIX constants) for noise.
    struct Noise {
        var state: UInt64
        mutating func next() -> Double {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Double(state >> 11) / Double(1 << 53)
        }
    }

    static let steps = 300, divergence = 37

    static func lossCurves() -> [LineChart.Series] {
        var noise = Noise(state: 7)
        let a = (0..<steps).map { s in 2.3 * exp(-Double(s) / 60) + 0.12 + 0.03 * noise.next() }
        let b = a.enumerated().map { s, v in s < divergence ? v : v * (1 + 0.25 * (1 - exp(-Double(s - divergence) / 40))) + 0.02 * noise.next() }
        return [LineChart.Series(name: "pytorch: \(hostileName)", values: a), LineChart.Series(name: "keras", values: b)]
    }

    static func learningRate() -> LineChart.Series {
        LineChart.Series(name: "learning rate", values: (0..<steps).map { 0.1 * pow(0.1, Double($0 / 100)) })
    }

    static let tensors = ["1.weight", "1.bias", "3.weight", "3.bias", "3.running_mean", "3.running_var",
                          "6.weight", "6.bias", "9.weight", "9.bias", "loss", hostileName]

    /// ulps per tensor and step: 0 before the divergence (3.weight at step 37, the others after), growing, a few missing.
    static func ulps() -> [[Double?]] {
        var noise = Noise(state: 11)
        return tensors.indices.map { r in
            (0..<steps).map { s -> Double? in
                if r == 4 && s % 50 == 49 { return nil }
                let start = r == 2 ? divergence : divergence + 1 + abs(r - 2) * 2  // 3.weight first, the others after
                guard s >= start else { return 0 }
                return pow(10, min(9, Double(s - start) / 25 + 2 * noise.next()))
            }
        }
    }

    struct Trial { var lr: Double; var batch: Int; var seed: Int; var gap: Double }

    static func trials() -> [Trial] {
        var noise = Noise(state: 3)
        var out: [Trial] = []
        for lr in [0.001, 0.003, 0.01, 0.03, 0.1] {
            for batch in [16, 32, 64] {
                for seed in 0..<4 {
                    let effect = lr >= 0.03 ? 0.08 * log10(lr / 0.01) * Double(batch) / 32 : 0
                    out.append(Trial(lr: lr, batch: batch, seed: seed, gap: effect + 0.02 * (noise.next() - 0.5) * 2))
                }
            }
        }
        return out
    }

    static func page() -> ReportPage {
        var page = ReportPage(title: "Report: \(hostileName)", subtitle: "synthetic data: every chart primitive", generator: "cwrepro test")
        let trials = trials()
        page.add("Run", [
            .facts([("record", "\(hostileName).cwr"), ("steps", String(steps)), ("first divergence", "step \(divergence), 3.weight")]),
            .charts([
                LineChart(title: "Training loss", xTitle: "step", yTitle: "loss", series: lossCurves(),
                          markers: [.init(x: Double(divergence), label: "first divergence: step \(divergence)")], width: 560),
                LineChart(title: "Learning rate", xTitle: "step", yTitle: "lr", series: [learningRate()], logY: true, width: 560),
            ]),
        ])
        page.add("Divergence", [
            .chart(HeatMap(title: "Relative error by tensor and step", rows: tensors, columns: Array(0..<steps), values: ulps(),
                           marked: (row: 2, column: divergence, label: "first divergence: 3.weight at step \(divergence)"))),
        ])
        page.add("Study", [
            .note("The gap is within seed noise for lr <= 0.01 (p > 0.05): nothing is attributed there.", .warning),
            .charts([
                Histogram(title: "Accuracy gap B - A over trials", xTitle: "gap (B - A)", values: trials.map(\.gap),
                          markers: [.init(x: 0, label: "no gap")], width: 560),
                StripPlot(title: "Gap against learning rate", xTitle: "optimizer.lr", yTitle: "gap (B - A)",
                          points: trials.map { .init(x: .value($0.lr), y: $0.gap, group: [16, 32, 64].firstIndex(of: $0.batch)!,
                                                     label: "lr=\($0.lr) batch=\($0.batch) seed=\($0.seed): gap \(HTMLText.number($0.gap))") },
                          groups: ["batch 16", "batch 32", "batch 64"], logX: true, referenceY: 0, width: 560),
                StripPlot(title: "Gap against batch size", xTitle: "data.batchSize", yTitle: "gap (B - A)",
                          points: trials.map { .init(x: .category("batch \($0.batch)"), y: $0.gap, label: "seed \($0.seed)") },
                          referenceY: 0, width: 560),
            ]),
            .table(HTMLTable(caption: "Largest gaps", headers: ["lr", "batch", "seed", "gap", "note"], numeric: [0, 1, 2, 3],
                             rows: trials.sorted { $0.gap > $1.gap }.prefix(5).map { [HTMLText.number($0.lr), String($0.batch), String($0.seed), HTMLText.number($0.gap), hostileName] },
                             highlighted: [0])),
        ])
        return page
    }
}
