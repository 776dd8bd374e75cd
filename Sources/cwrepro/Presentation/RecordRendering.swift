import Engine
import Foundation
import Recorder
import Replayer

/// `cwrepro show`: what a record holds, as text (header, steps, loss curve, evaluations) or JSON.
extension RecordOverview {
    /// The text view; `allSteps`: every step instead of the first 6 and the last 5.
    public func text(allSteps: Bool) -> String {
        var lines: [String] = []
        let train = trainingSteps
        lines.append("record   \(path) (\(status.name); schema \(schemaVersion))")
        if status != .complete { lines.append("state    \(RunStateText.recordState(status, writerActive: writerActive))") }
        lines.append("integrity \(RunStateText.integrity(integrity, status: status, writerActive: writerActive))")
        lines.append("run      \(name): \(train.count) steps, \(Text.grouped(tensorCount)) tensors, level \(level.rawValue), semantics \(semantics)")
        lines.append("created  \(createdAt)" + (finishedAt.map { ", finished \($0)" } ?? ""))
        let env = environment
        lines.append("machine  \(env["cpu.model"] ?? "?"); \(env["os"] ?? "?"); OpenBLAS \(env["blas.core"] ?? "?") x\(env["blas.threads"] ?? "?") threads; swift \(env["swift"] ?? "?")")
        if !artifacts.isEmpty { lines.append("embedded \(artifacts.joined(separator: ", "))") }
        lines.append("")
        lines.append("step   epoch  loss        lr          digest")
        let shown = allSteps || steps.count <= 12 ? steps : Array(steps.prefix(6)) + Array(steps.suffix(5))
        for (i, s) in shown.enumerated() {
            if !allSteps && steps.count > 12 && i == 6 { lines.append("...") }
            lines.append("\(stepLabel(s.step).padding(toLength: 6, withPad: " ", startingAt: 0)) \(String(s.epoch).padding(toLength: 6, withPad: " ", startingAt: 0)) \(s.step < 0 ? "-         " : String(format: "%-10.6f", s.loss))  \(s.step < 0 ? "-         " : String(format: "%-10.6g", s.lr))  \(hex64(s.digest))")
        }
        // Loss curve (training steps only).
        let plot = LossPlot.render(train.map(\.loss))
        if !plot.isEmpty {
            lines.append("")
            lines.append("loss curve (\(train.count) steps\(train.count > 60 ? ", each column the mean of \(String(format: "%.1f", Double(train.count) / 60)) steps" : ""))")
            lines += plot.map { "  " + $0 }
        }
        if !evaluations.isEmpty {
            lines.append("")
            lines.append("evaluation after step  split  accuracy  correct   loss     predictions")
            for e in evaluations {
                lines.append("\(String(e.step).padding(toLength: 22, withPad: " ", startingAt: 0)) \(e.split.padding(toLength: 6, withPad: " ", startingAt: 0)) \(Text.fixed(e.accuracy))    \("\(e.correct)/\(e.total)".padding(toLength: 9, withPad: " ", startingAt: 0)) \(Text.fixed(Double(e.loss)))   \(hex64(e.predictionsHash))")
            }
            lines.append("")
            lines.append("per-class accuracy")
            lines.append(LossPlot.perClassTable(evaluations))
        }
        return lines.joined(separator: "\n")
    }

    /// One step row; initialisation has no loss and no learning rate: `null`, not 0.
    struct StepOut: Encodable {
        let step: Int; let epoch: Int; let loss: Float?; let lr: Float?; let digest: String; let wallSeconds: Double; let tensors: Int
        enum CodingKeys: String, CodingKey { case step, epoch, loss, lr, digest, wallSeconds, tensors }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(step, forKey: .step); try c.encode(epoch, forKey: .epoch)
            if let loss { try c.encode(loss, forKey: .loss) } else { try c.encodeNil(forKey: .loss) }
            if let lr { try c.encode(lr, forKey: .lr) } else { try c.encodeNil(forKey: .lr) }
            try c.encode(digest, forKey: .digest); try c.encode(wallSeconds, forKey: .wallSeconds); try c.encode(tensors, forKey: .tensors)
        }
    }
    struct EvalOut: Encodable {
        let step: Int; let epoch: Int; let split: String; let accuracy: Double; let correct: Int; let total: Int
        let perClassAccuracy: [Double]; let predictionsHash: String; let loss: Float
    }

    public var json: String {
        var o = JSONDocument()
        o.set("record", path)
        o.set("status", status.name)
        o.set("failure", status.failure)
        o.set("writerActive", writerActive)
        var i = JSONDocument()
        switch integrity {
        case .sealed(let digest): i.set("state", "sealed"); i.set("digest", digest)
        case .unsealed: i.set("state", "unsealed")
        case .legacy(let limits): i.set("state", "legacy"); i.set("cannotShow", limits.map(\.rawValue))
        }
        o.set("integrity", i)
        o.set("schemaVersion", schemaVersion)
        o.set("createdAt", createdAt)
        o.set("finishedAt", finishedAt)
        o.set("semantics", semantics)
        o.set("level", level.rawValue)
        o.set("config", config)
        o.set("resolvedConfig", resolvedConfig)
        o.set("environment", environment)
        o.set("steps", steps.map {
            let training = $0.step != initStep
            return StepOut(step: $0.step, epoch: $0.epoch, loss: training ? $0.loss : nil, lr: training ? $0.lr : nil,
                           digest: hex64($0.digest), wallSeconds: $0.wallSeconds, tensors: $0.tensorCount)
        })
        o.set("evaluations", evaluations.map {
            EvalOut(step: $0.step, epoch: $0.epoch, split: $0.split, accuracy: $0.accuracy, correct: $0.correct, total: $0.total,
                    perClassAccuracy: $0.perClassAccuracy, predictionsHash: hex64($0.predictionsHash), loss: $0.loss)
        })
        o.set("artifacts", artifacts)
        return jsonText(o)
    }
}

/// `cwrepro show --layers`: the model's layers as a table, or the rows as JSON.
extension RecordOverview.Layers {
    /// A table of name, type, output shape and parameters, and the total.
    public var text: String {
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
        func shape(_ s: [Int]) -> String { "[" + s.map(String.init).joined(separator: ", ") + "]" }
        let nameW = max(6, rows.map { $0.name.count + 2 * $0.depth }.max() ?? 0) + 2
        let typeW = max(4, rows.map(\.type.count).max() ?? 0) + 2
        let shapeW = max(12, rows.map { shape($0.outputShape).count }.max() ?? 0) + 2
        var lines = [pad("layer", nameW) + pad("type", typeW) + pad("output shape", shapeW) + lpad("parameters", 12)]
        lines.append(pad("input", nameW) + pad("", typeW) + shape(inputShape))
        for r in rows {
            let indent = String(repeating: "  ", count: r.depth)
            lines.append(pad(indent + r.name, nameW) + pad(r.type, typeW) + pad(shape(r.outputShape), shapeW) + lpad(Text.grouped(r.parameters), 12))
        }
        lines.append("total: \(Text.grouped(trainableParameters)) trainable parameters" + (buffers > 0 ? " (+ \(Text.grouped(buffers)) in buffers: BatchNorm running statistics)" : ""))
        return lines.joined(separator: "\n")
    }

    public var json: String { jsonText(rows) }
}
