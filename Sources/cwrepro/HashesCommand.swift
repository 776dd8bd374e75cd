import ArgumentParser
import Foundation
import Presentation
import Recorder
import Replayer

struct HashesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hashes",
        abstract: "Write a record's step hashes as a stable, diffable text file to commit (the golden for `verify`).",
        discussion: """
            The file has a header (format, level, config hash, environment summary, the resolved config \
            one key per line) and one line per step: step, loss, float32 loss bits, step digest. With \
            --tensors every step is followed by its tensor hashes, so `verify` can name the first \
            divergent tensor, not only the step. A record that is not complete (killed, failed) gives \
            a golden that says so (a status line). An existing -o file is replaced only with --force.
            """)

    @Argument(help: "The record (.cwr).")
    var record: String

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Write to this file (default: standard output), through a temporary file renamed into place.", valueName: "file"))
    var output: String?

    @Flag(help: "Replace the -o file if it exists (only a regular file that is not the record).")
    var force = false

    @Flag(help: "Also write every step's tensor hashes (lets verify name the first divergent tensor).")
    var tensors = false

    func run() throws {
        try guarded(outputs: output.map { [$0: "-o"] } ?? [:]) {
            let inputs = [record, record + "-wal"]
            if let output { try OutputFile.check(output, force: force, inputs: inputs) }
            let reader = try RecordReader(path: record)
            let hashes = try StepHashes.from(reader, tensors: tensors)
            if !reader.isComplete {
                // The golden says it too (`status`): verify against it is then incomplete (exit 5).
                eprint("note: \(record) is \(RunStateText.recordState(reader.status, writerActive: reader.writerActive)); writing its \(Text.count(hashes.trainingSteps, "committed training step")) (the golden says so: verify against it exits 5 unless --allow-incomplete)")
            }
            guard let output else { printText(hashes.text, terminator: ""); return }
            try OutputFile.write(Array(hashes.text.utf8), to: output, force: force, inputs: inputs)
            eprint("wrote \(output)")
        }
    }
}
