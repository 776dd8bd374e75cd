import Foundation
import Recorder
import Replayer

/// `cwrepro import`: what was written.
extension ImportReport {
    public var humanText: String {
        var lines = ["imported \(name) (\(frameworkDescription)): \(Text.count(steps, "step")), \(Text.count(tensors, "tensor"))"
                     + (keptTensors > 0 ? " (\(Text.grouped(keptTensors)) with values)" : "")
                     + ", \(Text.count(evaluations, "evaluation")), level \(level.rawValue) -> \(record)"]
        switch status {
        case .complete: break
        case .failed(let why): lines.append("note: the captured run failed (\(why)); the record is sealed as failed")
        case .incomplete:
            lines.append("note: the trace has no end line (the capturing process stopped)\(truncatedGzip ? " and its gzip stream is cut" : ""); its \(Text.count(steps, "whole step")) were imported and the record is sealed as failed")
        }
        if !hasLayers {
            lines.append("note: the trace does not name the model as cwrepro layers: the record compares with other captures, not with cwrepro's own records tensor by tensor")
        }
        if let sealDigest { lines.append("sealed \(sealDigest)") }
        return lines.joined(separator: "\n")
    }

    public var json: String {
        var o = JSONDocument()
        o.set("trace", trace)
        o.set("record", record)
        o.set("name", name)
        o.set("framework", ["name": framework.name, "version": framework.version])
        o.set("frameworkDescription", frameworkDescription)
        o.set("level", level.rawValue)
        o.set("steps", steps)
        o.set("tensors", tensors)
        o.set("keptTensors", keptTensors)
        o.set("evaluations", evaluations)
        switch status {
        case .complete: o.set("status", "complete")
        case .failed(let why): o.set("status", "failed"); o.set("failure", why)
        case .incomplete: o.set("status", "incomplete")
        }
        o.set("truncatedGzip", truncatedGzip)
        o.set("hasLayers", hasLayers)
        o.setNull("sealDigest", sealDigest)
        o.set("seconds", seconds)
        return jsonText(o)
    }
}
