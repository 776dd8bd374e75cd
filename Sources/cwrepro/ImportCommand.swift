import ArgumentParser
import Foundation
import Presentation
import Recorder
import Replayer

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Check a trace of a real PyTorch or Keras run and write it as a sealed record.",
        discussion: """
            A trace is what the Python package's captures write (cwrepro.torch.Capture, cwrepro.keras.Capture; \
            format: docs/trace-format.md), gzip-compressed or plain. Every line and field is checked (hashes, \
            digests and statistics recomputed); the first problem is reported with the file, the line and the \
            field (exit 2) and nothing is written. The record reads like any other: show, hashes, diff, \
            compare, verify --record. It cannot be replayed: cwrepro did not compute it.
            """)

    @Argument(help: "The trace (.trace or .trace.gz).")
    var trace: String

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("The record to write (default: the trace's name with .cwr).", valueName: "file"))
    var output: String?

    @Flag(help: "Replace the output file if it exists.")
    var force = false

    @Flag(help: "Print what was written as JSON.")
    var json = false

    /// `run.trace.gz` -> `run.cwr`, beside the trace.
    static func defaultOutput(for trace: String) -> String {
        var base = trace
        for suffix in [".gz", ".trace", ".jsonl"] where base.hasSuffix(suffix) { base = String(base.dropLast(suffix.count)) }
        return base + ".cwr"
    }

    func run() throws {
        try guarded {
            let report = try TraceImport.run(trace: trace, output: output ?? Self.defaultOutput(for: trace), overwrite: force)
            if json { print(report.json) } else { printText(report.humanText) }
        }
    }
}
