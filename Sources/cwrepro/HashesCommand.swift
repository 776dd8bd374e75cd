import ArgumentParser
import Foundation
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
            divergent tensor, not only the step.
            """)

    @Argument(help: "The record (.cwr).")
    var record: String

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Write to this file (default: standard output).", valueName: "file"))
    var output: String?

    @Flag(help: "Also write every step's tensor hashes (lets verify name the first divergent tensor).")
    var tensors = false

    func run() throws {
        try guarded {
            let reader = try RecordReader(path: record)
            if !reader.isComplete {
                eprint("note: \(record) is incomplete (status \(reader.status)); writing its committed steps")
            }
            let text = try StepHashes.from(reader, tensors: tensors).text
            guard let output else { printText(text, terminator: ""); return }
            do { try Data(text.utf8).write(to: URL(fileURLWithPath: output)) } catch {
                throw InputError("cannot write \(output): \(error.localizedDescription)")
            }
            eprint("wrote \(output)")
        }
    }
}
