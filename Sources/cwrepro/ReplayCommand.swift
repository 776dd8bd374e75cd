import ArgumentParser
import Engine
import Foundation
import Presentation
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
            Exit 0 when bit-identical, 1 on divergence, 2 on bad input, 3 when the record cannot be read, 4 when this CPU \
            cannot run the record's OpenBLAS kernels (--no-patch replays on this CPU's own), 5 when nothing differs but the \
            record is not a whole finished run: killed, still being recorded, failed, or without a training step \
            (--allow-incomplete accepts what it holds, except nothing).
            """)

    @Argument(help: "The record (.cwr).")
    var record: String

    @Flag(help: "Stop at the first divergent step and report its first divergent tensor.")
    var untilDiverge = false

    @Option(name: .customLong("set"), help: ArgumentHelp("Replay with one thing changed: key=value, a dotted JSON path into the config (repeatable).", valueName: "key=value"))
    var sets: [String] = []

    @Flag(help: "Replay on this machine's BLAS core type and thread count as they are (no re-exec, no patching).")
    var noPatch = false

    @Option(name: .customLong("data-dir"), help: ArgumentHelp("Where the run's data files are now, if they moved: DIR (the config's directory is now DIR) or OLD=NEW (an absolute path prefix); repeatable. The record's fingerprints still check the content.", valueName: "dir"))
    var dataDirs: [String] = []

    @Flag(help: "Accept a record that is not a finished run (killed, still being recorded, failed): exit 0 when the steps it holds replay bit-identical.")
    var allowIncomplete = false

    @OptionGroup var resources: ResourceOptions

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
            try resources.apply()
            let session = try ReplaySession(path: record)
            let location = try dataDirs.reduce(DataLocation()) { try $0.adding($1) }
            session.options = .init(changes: try sets.map(ConfigAssignment.init(parsing:)), untilDiverge: untilDiverge, patch: !noPatch,
                                    dataLocation: location, allowIncomplete: allowIncomplete)
            // Before anything else is said or done: the process may be replaced.
            if let core = session.coreTypeToRequest {
                try ProcessConfiguration.reexec(coreType: core, source: record)   // never into SIGILL; returns only if exec failed
                eprint("warning: could not re-execute with OPENBLAS_CORETYPE=\(core); replaying on \(BLAS.coreName)")
            }
            let total = try session.stepsToReplay()
            if !json, let note = Self.note(record, session.reader.status, writerActive: session.reader.writerActive, steps: total) {
                eprint(note)
            }
            report = try Progress(total: total, label: "replay").running { try session.run(progress: $0.update) }
        }
        guard let report else { return }
        if json { print(report.json) } else { printText(md ? report.markdown : report.humanText) }
        if case .incomplete(let gap) = report.outcome, gap.acceptable {
            eprint("hint: --allow-incomplete accepts what the record holds (exit 0 when it replays bit-identical)")
        }
        try conclude(report.outcome)
    }

    /// Said before a replay of a record that is not a finished run, from its typed status.
    static func note(_ record: String, _ status: RecordStatus, writerActive: Bool, steps: Int) -> String? {
        switch status {
        case .complete: return nil
        case .running where writerActive:
            return "note: \(record) is still being recorded by another process; replaying the \(Text.count(steps, "step")) committed so far"
        case .running:
            return "note: \(record) was killed before it finished (status running, no seal); replaying its \(Text.count(steps, "committed step")) (`cwrepro record --resume \(record)` finishes it)"
        case .failed(let reason):
            return "note: \(record) is a failed run (it stopped: \(reason)); replaying its \(Text.count(steps, "step")) up to the failure"
        }
    }
}
