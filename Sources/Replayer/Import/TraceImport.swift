import Engine
import Foundation
import Recorder
#if canImport(Glibc)
import Glibc
#endif

/// What `cwrepro import` wrote.
public struct ImportReport: Sendable {
    public var trace: String
    public var record: String
    public var name: String
    public var framework: Trace.Framework
    /// The framework as the trace's environment names it (`torch 2.13.0+cpu`).
    public var frameworkDescription: String
    public var level: RecordLevel
    /// Training steps (initialisation excluded).
    public var steps: Int
    public var tensors: Int
    /// Tensors whose values the record keeps (the trace's `keepTensors`).
    public var keptTensors: Int
    public var evaluations: Int
    public var status: Trace.Status
    /// The gzip stream ended without its trailer (a killed writer); its whole steps were imported.
    public var truncatedGzip: Bool
    /// The trace names the model as cwrepro layers: its record compares tensor by tensor with
    /// cwrepro's record of the same model.
    public var hasLayers: Bool
    /// The record's detached digest (`sha256:...`, docs/record-format.md 5.5).
    public var sealDigest: String?
    public var seconds: Double
}

/// `cwrepro import run.trace -o run.cwr`: checks a trace (`TraceReader`) and writes it as a sealed
/// record through `RecordWriter`, so every reading command works on a real framework's run. The
/// record is written beside the output and renamed into place only when it is finished: a bad
/// trace or a failed write leaves nothing (and no existing record is lost).
///
/// How a trace maps to a record (docs/record-format.md, "Imported records"):
/// - steps one to one; step -1 is `init` (loss 0, lr 0); the loss from `lossBits`, the learning
///   rate rounded to Float32; digests, tensor hashes and statistics as written (all recomputed and
///   checked); values as the record's kept tensor bytes;
/// - evaluations as the record's evaluations, and their predictions as embedded files
///   `predictions/after-<step>/<split>` (int32 little-endian), so `compare` can count agreement;
/// - `config_given` the header line, `config_resolved` a train.json-shaped description
///   (`name`, `seed`, `model.layers`, `optimizer`, `record`, and `imported`: the framework, the
///   model's class and parameters, the optimizer's class, state names and hyperparameters);
/// - `semantics` the framework's name, `environment` the trace's, with `trace.created`;
/// - status `complete`; a trace closed by an exception or without its end line is sealed
///   `failed`, with the reason.
public enum TraceImport {
    /// Reads and checks `tracePath`, then writes the record to `output` (an existing file is
    /// replaced only with `overwrite`, and never when it is the trace).
    public static func run(trace tracePath: String, output: String, overwrite: Bool) throws -> ImportReport {
        let start = Date()
        // Check the output first: a long trace is not read to fail on a name.
        try OutputFile.check(output, force: overwrite, inputs: [tracePath])
        let trace = try TraceReader.read(path: tracePath)
        return try write(trace, to: output, overwrite: overwrite, started: start)
    }

    /// Writes a checked trace as a record at `output`.
    public static func write(_ trace: Trace, to output: String, overwrite: Bool, started: Date = Date()) throws -> ImportReport {
        let inputs = [trace.path]
        try OutputFile.check(output, force: overwrite, inputs: inputs)
        let tmp = OutputFile.temporaryName(for: output)
        func removeTemporary() { for suffix in ["", "-wal", "-shm"] { unlink(tmp + suffix) } }
        removeTemporary()
        do {
            let writer = try RecordWriter(path: tmp, header: header(trace), keepTensors: 0)
            do {
                try fill(writer, from: trace)
            } catch {
                try? writer.finish(.failed(reason: "import failed: \(error)"))
                throw error
            }
            try writer.finish(status(trace))
            try OutputFile.commit(tmp, to: output, force: overwrite, inputs: inputs)
        } catch {
            removeTemporary()
            throw error
        }
        let reader = try RecordReader(path: output)
        return ImportReport(
            trace: trace.path, record: output, name: trace.header.name, framework: trace.header.framework,
            frameworkDescription: frameworkDescription(trace), level: trace.header.level, steps: trace.steps.count - 1,
            tensors: trace.tensorCount, keptTensors: trace.steps.reduce(0) { $0 + $1.events.filter { $0.payload != nil }.count },
            evaluations: trace.evaluations.count, status: trace.status, truncatedGzip: trace.truncatedGzip,
            hasLayers: trace.header.model.layers != nil, sealDigest: try reader.sealDigest(), seconds: Date().timeIntervalSince(started))
    }

    /// The embedded file holding the predictions of an evaluation after `step` on `split`.
    public static func predictionsArtifact(step: Int, split: String) -> String { "predictions/after-\(stepLabel(step))/\(split)" }

    /// Artifacts, then every step with the evaluations that follow it.
    static func fill(_ writer: RecordWriter, from trace: Trace) throws {
        for e in trace.evaluations {
            let bytes = e.predictions.withUnsafeBytes { Array($0) }
            try writer.addArtifact(name: predictionsArtifact(step: e.evaluation.step, split: e.evaluation.split), bytes: bytes)
        }
        let evaluations = Dictionary(grouping: trace.evaluations.map(\.evaluation), by: \.step)
        for s in trace.steps {
            let summary = StepSummary(step: s.step, epoch: s.epoch, loss: s.loss ?? 0, lr: s.lr.map(Float.init) ?? 0, digest: s.digest,
                                      wallSeconds: s.wallSeconds, tensorCount: s.events.count)
            try writer.endStep(summary, events: s.events)
            for e in evaluations[s.step] ?? [] { try writer.evaluation(e) }
        }
    }

    static func status(_ trace: Trace) -> RecordStatus {
        let last = trace.steps.last.map { stepLabel($0.step) } ?? "init"
        switch trace.status {
        case .complete: return .complete
        case .failed(let why): return .failed(reason: "the captured run failed: \(why)")
        case .incomplete:
            return .failed(reason: "incomplete trace: it has no end line (the capturing process stopped after step \(last)\(trace.truncatedGzip ? "; its gzip stream is cut" : ""))")
        }
    }

    static func frameworkDescription(_ t: Trace) -> String {
        t.header.environment["framework"] ?? "\(t.header.framework.name) \(t.header.framework.version)"
    }

    static func header(_ t: Trace) -> RecordHeader {
        var env = t.header.environment
        env["framework"] = frameworkDescription(t)
        env["trace.created"] = t.header.created
        env["trace.format"] = "\(Trace.formatTag) \(Trace.version)"
        return RecordHeader(configGiven: t.header.json.text, configResolved: resolvedConfig(t).text,
                            configPath: URL(fileURLWithPath: t.path).standardizedFileURL.path, semantics: t.header.framework.name,
                            level: t.header.level, environment: env, cwreproVersion: EnvironmentProfile.cwreproVersion)
    }

    /// The imported record's resolved config: a train.json-shaped description of the run (what
    /// `diff` compares key by key), with the trace's own facts under `imported`.
    static func resolvedConfig(_ t: Trace) -> JSON {
        let h = t.header
        var o: [String: JSON] = ["name": .string(h.name)]
        if let seed = h.seed { o["seed"] = .number(Double(seed)) }
        if let layers = h.model.layers { o["model"] = .object(["layers": layers]) }
        if let config = h.optimizer?.config { o["optimizer"] = config }
        o["record"] = .object(["level": .string(h.level.rawValue), "keepTensors": .number(Double(h.keepTensors))])
        var model: [String: JSON] = [
            "class": .string(h.model.className),
            "parameters": .array(h.model.parameters.map {
                .object(["name": .string($0.name), "shape": .array($0.shape.map { .number(Double($0)) }), "trainable": .bool($0.trainable)])
            }),
        ]
        if let note = h.model.note { model["note"] = .string(note) }
        var imported: [String: JSON] = ["framework": .string(h.framework.name), "model": .object(model)]
        if let opt = h.optimizer {
            imported["optimizer"] = .object(["class": .string(opt.className), "stateNames": .array(opt.stateNames.map(JSON.string)),
                                             "hyperparameters": opt.hyperparameters])
        }
        o[RecordOrigin.importedKey] = .object(imported)
        return .object(o)
    }
}
