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

    @Option(name: .customLong("data-dir"), help: ArgumentHelp("Where the run's data files are now, if they moved: DIR (the config's directory is now DIR) or OLD=NEW (an absolute path prefix); repeatable. The record's fingerprints still check the content.", valueName: "dir"))
    var dataDirs: [String] = []

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
            let session = try ReplaySession(path: record)
            let location = try dataDirs.reduce(DataLocation()) { try $0.adding($1) }
            session.options = .init(changes: try sets.map(ConfigAssignment.init(parsing:)), untilDiverge: untilDiverge, patch: !noPatch,
                                    dataLocation: location)
            // Before anything else is said or done: the process may be replaced.
            if let core = session.coreTypeToRequest {
                try ProcessConfiguration.reexec(coreType: core, source: record)   // never into SIGILL; returns only if exec failed
                eprint("warning: could not re-execute with OPENBLAS_CORETYPE=\(core); replaying on \(BLAS.coreName)")
            }
            let total = try session.stepsRecorded()
            if !session.recordComplete && !json {
                eprint("note: \(record) is incomplete (status \(session.reader.status): the run was killed or is still going); replaying its \(total) committed steps")
            }
            report = try Progress(total: total, label: "replay").running { try session.run(progress: $0.update) }
        }
        guard let report else { return }
        if json { print(report.json) } else { printText(md ? report.markdown : report.humanText) }
        if !report.identical { throw ExitCode(1) }
    }
}
