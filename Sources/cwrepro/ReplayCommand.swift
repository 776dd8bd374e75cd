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

    static func describe(_ r: ReplayReport) -> String {
        var lines: [String] = []
        if r.identical {
            lines.append("bit-identical: \(grouped(r.stepsReplayed)) steps, \(grouped(r.tensorsCompared)) tensors")
        } else {
            if r.firstDivergence == nil, let e = r.evaluationMismatches.first {
                lines.append("first divergence in evaluation: \(e)")
            }
            lines += Reports.divergenceLines(r.firstDivergence, draw: r.firstDivergentDraw)
            if let c = Reports.causeLine(r.cause, r.causeDetail) { lines.append(c) }
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
