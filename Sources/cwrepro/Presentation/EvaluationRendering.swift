import Foundation
import Recorder
import Replayer

/// `cwrepro evaluate`: the report as text and JSON.
extension EvaluationReport {
    public var humanText: String {
        let e = evaluation
        var lines = [
            "evaluate \(name): config \(config), weights \(weights)",
            "\(Text.grouped(parameters)) parameters, semantics \(semantics.rawValue)",
            "\(e.split) accuracy \(Text.acc(e.accuracy)) (\(e.correct)/\(e.total)), loss \(Text.loss(e.loss)), predictions \(hex64(e.predictionsHash))",
            "",
            "per-class accuracy:",
        ]
        let rows = e.perClassAccuracy.indices.map { c in
            [String(c), Text.acc(e.perClassAccuracy[c]), "\(e.perClassCorrect[c])/\(e.perClassTotal[c])"]
        }
        lines += Text.table(["class", "accuracy", "correct"], rows).split(separator: "\n").map { "  " + $0 }
        lines += ["", "confusion matrix (rows: true class, columns: predicted):"]
        let classes = confusion.indices
        lines += Text.table(["true\\pred"] + classes.map(String.init), classes.map { t in [String(t)] + confusion[t].map(String.init) })
            .split(separator: "\n").map { "  " + $0 }
        lines += ["", "latency: \(ModelText.latencySetting(latency))",
                  "  \(ModelText.latency(latency)); \(ModelText.seconds(latency.medianPerSample)) per sample"]
        return lines.joined(separator: "\n")
    }

    /// The JSON form: `accuracy`, `correct`, `total`, `loss`, `predictionsHash` (hex, as `show
    /// --json` prints a record's evaluations), per-class figures, `confusion` and `latency`.
    public var json: String {
        let e = evaluation
        var d = JSONDocument()
        d.set("name", name)
        d.set("config", config)
        d.set("weights", weights)
        d.set("semantics", semantics.rawValue)
        d.set("parameters", parameters)
        d.set("split", e.split)
        d.set("accuracy", e.accuracy)
        d.set("correct", e.correct)
        d.set("total", e.total)
        d.set("loss", e.loss)
        d.set("predictionsHash", hex64(e.predictionsHash))
        d.set("perClassAccuracy", e.perClassAccuracy)
        d.set("perClassCorrect", e.perClassCorrect)
        d.set("perClassTotal", e.perClassTotal)
        d.set("confusion", confusion)
        d.set("latency", LatencyJSON.document(latency))
        return jsonText(d)
    }
}

/// A latency measurement in JSON: the setting, the summary in seconds, and every timed pass.
enum LatencyJSON {
    static func document(_ m: LatencyMeasurement, passes: Bool = true) -> JSONDocument {
        var d = JSONDocument()
        d.set("batchSize", m.batchSize)
        d.set("threads", m.threads)
        d.set("warmup", m.warmup)
        d.set("timed", m.summary.count)
        d.set("medianSeconds", m.medianSeconds)
        d.set("p95Seconds", m.summary.p95)
        d.set("q25Seconds", m.summary.q25)
        d.set("q75Seconds", m.summary.q75)
        d.set("minSeconds", m.summary.min)
        d.set("maxSeconds", m.summary.max)
        d.set("meanSeconds", m.summary.mean)
        d.set("standardDeviationSeconds", m.summary.standardDeviation)
        d.set("relativeSpread", m.relativeSpread)
        d.set("medianSecondsPerSample", m.medianPerSample)
        if passes { d.set("seconds", m.seconds) }
        return d
    }
}
