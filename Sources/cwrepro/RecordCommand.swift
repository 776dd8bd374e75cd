import ArgumentParser
import Engine
import Foundation
import Presentation
import Recorder
import Replayer

struct RecordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Train from a config and record every draw, order and tensor hash into a .cwr file.",
        discussion: """
            The record keeps the full training state every record.checkpointEvery steps and at the end \
            of each epoch; `cwrepro record --resume run.cwr` continues a killed run from its last \
            checkpoint, and the finished record is bit-identical to an uninterrupted one.
            Training stops at the first non-finite loss, gradient or parameter (exit 1, record marked \
            failed) unless --allow-nonfinite.
            """)

    @Argument(help: "The train.json config (omit with --resume; its format: docs/config.md in the cwrepro repository).")
    var config: String?

    @OptionGroup var changes: ConfigChanges

    @Option(help: ArgumentHelp("Write the final parameters to a safetensors file (PyTorch names and layouts).", valueName: "file"))
    var export: String?

    @Option(name: [.short, .customLong("output")], help: "The record to write (default: run.cwr).")
    var output: String?

    @Flag(help: "Replace the output file if it exists.")
    var force = false

    @Option(help: ArgumentHelp("Record level: params, grads or activations (default: the config's record.level).", valueName: "level"))
    var level: RecordLevel?

    @Option(help: ArgumentHelp("Continue an interrupted record from its last checkpoint.", valueName: "record"))
    var resume: String?

    @Flag(name: .customLong("allow-nonfinite"), help: "Keep training through NaN or Inf values (they are still counted per tensor).")
    var allowNonFinite = false

    /// Usage errors exit 2 like other bad input (the documented code), not ArgumentParser's 64.
    func checkUsage() throws {
        if resume != nil {
            guard config == nil, changes.sets.isEmpty, level == nil, !force, output == nil, export == nil else {
                throw InputError("--resume takes its config, level and output from the record; give no config, --set, --level, --output, --export or --force")
            }
        } else if config == nil {
            throw InputError("give a config (cwrepro record train.json) or --resume <record>")
        }
    }

    func run() throws {
        try guarded {
            try checkUsage()
            if let resume { return try resumeRun(resume) }
            // --level is a config change like --set, so the stored config says the level it ran at.
            let level = self.level.map { [ConfigAssignment(path: ["record", "level"], value: .string($0.rawValue))] } ?? []
            let config = try TrainConfig.File(path: self.config!).config(applying: changes.assignments() + level)
            try TrainOptions.checkExport(export)
            // Every input is read and checked before the record file is created.
            let session = try TrainingSession(recording: config, configPath: self.config!, output: output ?? "run.cwr", overwrite: force,
                                              options: TrainingOptions(export: export, allowNonFinite: allowNonFinite))
            let target = output ?? "run.cwr"
            if force && FileManager.default.fileExists(atPath: target) {
                eprint("note: recording into \(target).partial; it replaces \(target) when the run finishes (if the run is killed, \(target) stays as it was and `cwrepro record --resume \(target).partial` continues the new one)")
            }
            let outcome = try Progress(total: session.totalSteps, label: "record").running { try session.run(progress: $0.update) }
            printText(outcome.recordedText)
        }
    }

    /// `--resume`: the config, level and embedded files come from the record; the run continues
    /// after its last checkpoint into the same file.
    func resumeRun(_ path: String) throws {
        let session = try ResumeSession(path: path, allowNonFinite: allowNonFinite)
        if let w = session.environmentWarning { eprint(w) }
        try session.prepare()
        eprint(session.resumingText)
        let outcome = try Progress(total: session.totalSteps, label: "record").running { try session.run(progress: $0.update) }
        printText(outcome.resumedText)
    }
}

extension RecordLevel: ExpressibleByArgument {}
