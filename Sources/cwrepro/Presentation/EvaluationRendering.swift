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
        d.setModel(name: name, config: config, weights: weights, semantics: semantics.rawValue, parameters: parameters)
        d.set("split", e.split)
        d.setScores(e)
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

extension JSONDocument {
    /// A trained model as `evaluate --json` and `models compare --json` name it: `name`, `config`,
    /// `weights`, `semantics`, `parameters`.
    mutating func setModel(name: String, config: String, weights: String, semantics: String, parameters: Int) {
        set("name", name)
        set("config", config)
        set("weights", weights)
        set("semantics", semantics)
        set("parameters", parameters)
    }

    /// An evaluation's scores: `accuracy`, `correct`, `total`, `loss`, `predictionsHash` (hex, as
    /// `show --json` prints a record's evaluations), `perClassAccuracy`.
    mutating func setScores(_ e: Evaluation) {
        set("accuracy", e.accuracy)
        set("correct", e.correct)
        set("total", e.total)
        set("loss", e.loss)
        set("predictionsHash", hex64(e.predictionsHash))
        set("perClassAccuracy", e.perClassAccuracy)
    }
}
