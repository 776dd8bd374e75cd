import ArgumentParser
import Engine
import Foundation
import Recorder
import Replayer

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print what a record holds: run, resolved config, environment, steps, evaluations.")

    @Argument(help: "The record (.cwr).")
    var record: String

    @Flag(help: "Print everything as JSON.")
    var json = false

    @Flag(help: "List every step (default: the first and last 5).")
    var allSteps = false

    @Flag(help: "Print the model's layers (presets expanded, blocks with their children): name, type, output shape, parameters.")
    var layers = false

    struct StepOut: Encodable { let step: Int; let epoch: Int; let loss: Float; let lr: Float; let digest: String; let wallSeconds: Double; let tensors: Int }
    struct EvalOut: Encodable {
        let step: Int; let epoch: Int; let split: String; let accuracy: Double; let correct: Int; let total: Int
        let perClassAccuracy: [Double]; let predictionsHash: String; let loss: Float
    }
    struct Out: Encodable {
        let record: String; let status: String; let schemaVersion: String; let createdAt: String; let finishedAt: String?
        let semantics: String; let level: String; let config: JSON; let resolvedConfig: JSON
        let environment: [String: String]; let steps: [StepOut]; let evaluations: [EvalOut]; let artifacts: [String]
    }

    func run() throws {
        try guarded {
            let r = try RecordReader(path: record)
            try r.verify()   // a tampered or damaged record is reported, never shown as truth
            if layers { try showLayers(r); return }
            let steps = try r.steps()
            let evals = try r.evaluations()
            let out = Out(
                record: record, status: r.status.name, schemaVersion: r.meta["schema_version"] ?? "?", createdAt: r.meta["created_at"] ?? "?",
                finishedAt: r.meta["finished_at"], semantics: r.meta["semantics"] ?? "?", level: r.level.rawValue,
                config: try JSON.parse(Array(r.configGiven.utf8), source: record),
                resolvedConfig: try JSON.parse(Array(r.configResolved.utf8), source: record),
                environment: r.environment,
                steps: steps.map { StepOut(step: $0.step, epoch: $0.epoch, loss: $0.loss, lr: $0.lr, digest: hex64($0.digest), wallSeconds: $0.wallSeconds, tensors: $0.tensorCount) },
                evaluations: evals.map { EvalOut(step: $0.step, epoch: $0.epoch, split: $0.split, accuracy: $0.accuracy, correct: $0.correct,
                                                 total: $0.total, perClassAccuracy: $0.perClassAccuracy, predictionsHash: hex64($0.predictionsHash), loss: $0.loss) },
                artifacts: try r.artifactNames())
            if json { print(jsonText(out)); return }
            let train = steps.filter { $0.step >= 0 }
            let name = out.resolvedConfig["name"].map { if case .string(let s) = $0 { s } else { "?" } } ?? "?"
            print("record   \(record) (\(out.status); schema \(out.schemaVersion))")
            print("run      \(name): \(train.count) steps, \(grouped(steps.reduce(0) { $0 + $1.tensorCount })) tensors, level \(out.level), semantics \(out.semantics)")
            print("created  \(out.createdAt)" + (out.finishedAt.map { ", finished \($0)" } ?? ""))
            let env = out.environment
            print("machine  \(env["cpu.model"] ?? "?"); \(env["os"] ?? "?"); OpenBLAS \(env["blas.core"] ?? "?") x\(env["blas.threads"] ?? "?") threads; swift \(env["swift"] ?? "?")")
            if !out.artifacts.isEmpty { print("embedded \(out.artifacts.joined(separator: ", "))") }
            print("")
            print("step   epoch  loss        lr          digest")
            let shown = allSteps || steps.count <= 12 ? steps : Array(steps.prefix(6)) + Array(steps.suffix(5))
            for (i, s) in shown.enumerated() {
                if !allSteps && steps.count > 12 && i == 6 { print("...") }
                print("\(stepLabel(s.step).padding(toLength: 6, withPad: " ", startingAt: 0)) \(String(s.epoch).padding(toLength: 6, withPad: " ", startingAt: 0)) \(s.step < 0 ? "-         " : String(format: "%-10.6f", s.loss))  \(s.step < 0 ? "-         " : String(format: "%-10.6g", s.lr))  \(hex64(s.digest))")
            }
            // Loss curve (training steps only).
            let plot = LossPlot.render(train.map(\.loss))
            if !plot.isEmpty {
                print("")
                print("loss curve (\(train.count) steps\(train.count > 60 ? ", each column the mean of \(String(format: "%.1f", Double(train.count) / 60)) steps" : ""))")
                plot.forEach { print("  " + $0) }
            }
            if !evals.isEmpty {
                print("")
                print("evaluation after step  split  accuracy  correct   loss     predictions")
                for e in evals {
                    print("\(String(e.step).padding(toLength: 22, withPad: " ", startingAt: 0)) \(e.split.padding(toLength: 6, withPad: " ", startingAt: 0)) \(fmt(e.accuracy))    \("\(e.correct)/\(e.total)".padding(toLength: 9, withPad: " ", startingAt: 0)) \(fmt(Double(e.loss)))   \(hex64(e.predictionsHash))")
                }
                print("")
                print("per-class accuracy")
                print(LossPlot.perClassTable(evals))
            }
        }
    }
}

extension ShowCommand {
    /// `--layers`: rebuilds the model of the record's resolved config (the input shape from the
    /// recorded `batch.x`) and prints `Model.summaryTable`, or the rows as JSON with `--json`.
    func showLayers(_ r: RecordReader) throws {
        let resolved = try JSON.parse(Array(r.configResolved.utf8), source: record)
        guard case .array(let specs)? = resolved["model"]?["layers"] else {
            throw RecordReadError.corrupt(record, "the resolved config has no model.layers")
        }
        var semantics = Semantics(profile: resolved["semantics"].flatMap { if case .string(let s) = $0 { s } else { nil } } ?? "pytorch")
        if case .object(let knobs)? = resolved["knobs"] { try semantics.apply(knobs, path: "knobs") }
        guard let x = try (r.steps().map(\.step).filter { $0 >= 0 }.first).flatMap({ try r.events(step: $0).first { $0.name == "batch.x" } }) else {
            throw InputError("\(record): no training step recorded, so the input shape is unknown")
        }
        let model = try Model(layers: specs, inputShape: Array(x.shape.dropFirst()), semantics: semantics)
        if json { print(jsonText(model.summary)) } else { model.summaryTable.forEach { print($0) } }
    }
}
