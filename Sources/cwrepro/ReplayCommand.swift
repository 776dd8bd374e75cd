import ArgumentParser
import Engine
import Foundation
import Recorder
import Replayer

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Re-execute a recorded run from the record alone and compare every hash.",
        discussion: "Exit 0 when bit-identical, 1 on divergence, 3 when the record cannot be read.")

    @Argument(help: "The record (.cwr).")
    var record: String

    @Flag(help: "Stop at the first divergent step and report its first divergent tensor.")
    var untilDiverge = false

    @Option(name: .customLong("set"), help: ArgumentHelp("Replay with one thing changed: key=value, a dotted JSON path into the config (repeatable).", valueName: "key=value"))
    var sets: [String] = []

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() throws {
        var report: ReplayReport?
        try guarded {
            let reader = try RecordReader(path: record)
            let total = (try reader.steps().filter { $0.step >= 0 }.count)
            if !reader.isComplete && !json {
                eprint("note: \(record) is incomplete (status \(reader.status): the run was killed or is still going); replaying its \(total) committed steps")
            }
            let progress = Progress(total: total, label: "replay")
            report = try ReplaySession.replay(path: record, sets: sets, untilDiverge: untilDiverge, progress: progress.update)
            progress.finish()
        }
        guard let report else { return }
        if json { print(jsonText(report)) } else { print(Self.describe(report)) }
        if !report.identical { throw ExitCode(1) }
    }

    static func roleText(_ role: String, step: Int) -> String {
        switch role {
        case "param": step == initStep ? "param, initial value" : "param, after update"
        case "grad": "gradient"
        case "optimizer-state": "optimizer state"
        default: role
        }
    }

    static func describe(_ r: ReplayReport) -> String {
        var lines: [String] = []
        if r.identical {
            lines.append("bit-identical: \(grouped(r.stepsReplayed)) steps, \(grouped(r.tensorsCompared)) tensors")
        } else {
            if let d = r.firstDivergence {
                let at = d.step == initStep ? "at initialization" : "at step \(d.step)"
                lines.append("first divergence \(at), tensor \(d.name) (\(roleText(d.role, step: d.step)))")
                switch d.kind {
                case .hash: lines.append("  expected hash \(d.expectedHash ?? "-"), actual \(d.actualHash ?? "-")")
                case .structure:
                    lines.append("  expected \(d.expectedName ?? d.name) with shape \(d.expectedShape ?? []), got shape \(d.actualShape ?? []) (hashes \(d.expectedHash ?? "-") / \(d.actualHash ?? "-"))")
                case .missing: lines.append("  the replay produced fewer tensors than the record")
                case .extra: lines.append("  the replay produced more tensors than the record")
                }
                if let v = d.values {
                    lines.append("  values: \(grouped(v.differing)) of \(grouped(v.count)) elements differ; max |diff| \(String(format: "%.3g", v.maxAbsDiff)), max \(v.maxULP) ulp")
                }
            } else if let e = r.evaluationMismatches.first {
                lines.append("first divergence in evaluation: \(e)")
            }
            if let d = r.firstDivergentDraw {
                lines.append("  evidence: \(d.role) \(d.name) at \(d.stepText) differs (expected \(d.expectedHash ?? "-"), actual \(d.actualHash ?? "-"))")
            }
            if let c = r.cause { lines.append("  cause: \(c.rawValue)\(r.causeDetail.map { " (\($0))" } ?? "")") }
            if r.stoppedAtFirstDivergence {
                lines.append("stopped at the first divergent step (--until-diverge)")
            } else {
                lines.append("diverged: \(grouped(r.divergentSteps.count)) of \(grouped(r.stepsReplayed)) steps differ" +
                             (r.divergentSteps.first.map { ", from \(stepLabel($0))" } ?? ""))
            }
        }
        if !r.environmentChanges.isEmpty { lines.append("environment differs: " + r.environmentChanges.joined(separator: "; ")) }
        if !r.recordComplete { lines.append("note: the record is incomplete; \(r.stepsRecorded) committed steps compared") }
        return lines.joined(separator: "\n")
    }
}
