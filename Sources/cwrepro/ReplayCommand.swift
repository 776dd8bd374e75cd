import ArgumentParser
import Engine
import Foundation
import Recorder
import Replayer

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Re-execute a recorded run from the record alone and compare every hash.",
        discussion: """
            Before replaying, the machine is compared with the record's environment. What can be patched \
            is, and said: the OpenBLAS core type (by re-executing with OPENBLAS_CORETYPE set, which OpenBLAS \
            reads only when it loads) and its thread count. Other differences are reported, and named as \
            the likely cause when the replay diverges. --no-patch replays as-is.
            Exit 0 when bit-identical, 1 on divergence, 3 when the record cannot be read, 4 when this CPU cannot run the record's OpenBLAS kernels (--no-patch replays on this CPU's own).
            """)

    @Argument(help: "The record (.cwr).")
    var record: String

    @Flag(help: "Stop at the first divergent step and report its first divergent tensor.")
    var untilDiverge = false

    @Option(name: .customLong("set"), help: ArgumentHelp("Replay with one thing changed: key=value, a dotted JSON path into the config (repeatable).", valueName: "key=value"))
    var sets: [String] = []

    @Flag(help: "Replay on this machine's BLAS core type and thread count as they are (no re-exec, no patching).")
    var noPatch = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Flag(help: "Print the report as Markdown (for a CI step summary or an issue).")
    var md = false

    func validate() throws {
        if json && md { throw ValidationError("give at most one of --json and --md") }
    }

    func run() throws {
        var report: ReplayReport?
        try guarded {
            let reader = try RecordReader(path: record)
            // Before anything else is said or done: the process may be replaced.
            if !noPatch, let core = EnvironmentPatch.coreTypeToRequest(reader) {
                try OpenBLASCore.checkRecorded(core, source: record)   // never re-exec into SIGILL
                Self.reexec(coreType: core)   // returns only if exec failed
                eprint("warning: could not re-execute with OPENBLAS_CORETYPE=\(core); replaying on \(BLAS.coreName)")
            }
            let total = (try reader.steps().filter { $0.step >= 0 }.count)
            if !reader.isComplete && !json {
                eprint("note: \(record) is incomplete (status \(reader.status): the run was killed or is still going); replaying its \(total) committed steps")
            }
            let outcome = EnvironmentPatch.reexecOutcome()
            let progress = Progress(total: total, label: "replay")
            report = try ReplaySession.replay(path: record, sets: sets, untilDiverge: untilDiverge, patch: !noPatch,
                                              patches: outcome.patch.map { [$0] } ?? [], warnings: outcome.warning.map { [$0] } ?? [],
                                              progress: progress.update)
            progress.finish()
        }
        guard let report else { return }
        if json { print(jsonText(report)) } else if md { print(Self.markdown(report)) } else { print(Self.describe(report)) }
        if !report.identical { throw ExitCode(1) }
    }

    /// Replaces this process with the same command under OPENBLAS_CORETYPE=`coreType` (OpenBLAS
    /// reads it only when the library loads). A marker variable stops a second re-exec.
    static func reexec(coreType: String) {
        setenv("OPENBLAS_CORETYPE", coreType, 1)
        setenv(EnvironmentPatch.markerVariable, BLAS.coreName, 1)
        #if os(Linux)
        let exe = "/proc/self/exe"
        #else
        let exe = Bundle.main.executablePath ?? CommandLine.arguments[0]
        #endif
        execv(exe, CommandLine.unsafeArgv)
    }

    /// The report as Markdown: a verdict line, a table of the facts, the human report in a code block.
    static func markdown(_ r: ReplayReport) -> String {
        var rows = [["record", "`\(r.record)`\(r.recordComplete ? "" : " (incomplete)")"],
                    ["steps replayed", "\(grouped(r.stepsReplayed)) of \(grouped(r.stepsRecorded))"],
                    ["tensors compared", grouped(r.tensorsCompared)]]
        if let d = r.firstDivergence {
            rows.append(["first divergent tensor", "`\(d.name)` (\(Reports.roleText(d.role, step: d.step))) \(Reports.at(d.step))"])
        }
        if let c = r.cause { rows.append(["cause", c.rawValue + (r.causeDetail.map { ": \($0)" } ?? "")]) }
        if !r.configChanges.isEmpty { rows.append(["config changes", r.configChanges.map { "`\($0)`" }.joined(separator: ", ")]) }
        if !r.environmentChanges.isEmpty { rows.append(["environment changes", r.environmentChanges.map { "`\($0)`" }.joined(separator: ", ")]) }
        let verdict = r.identical ? "**bit-identical**" : "**diverged**"
        return "### cwrepro replay: \(verdict)\n\n" + Reports.markdownTable(["fact", "value"], rows) + "\n\n```\n" + describe(r) + "\n```"
    }

    static func describe(_ r: ReplayReport) -> String {
        var lines: [String] = r.patches.map { "patched: \($0)" } + r.environmentWarnings.map { "warning: \($0)" }
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
