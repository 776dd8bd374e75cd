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
            failed) unless --allow-nonfinite. A write failure (a full disk, a file-size limit) exits 2 and \
            leaves the record unsealed: --resume continues it.
            --resume continues on the recorded OpenBLAS kernels (re-executing like replay; exit 4 when this \
            CPU cannot run them) and refuses data files that changed (their fingerprints), other \
            bit-relevant differences of the machine, and a record that does not verify (an edited checkpoint).
            """)

    @Argument(help: "The train.json config (omit with --resume; its format: docs/config.md in the cwrepro repository).")
    var config: String?

    @OptionGroup var changes: ConfigChanges

    @Option(help: ArgumentHelp("Write the final parameters to a safetensors file (PyTorch names and layouts).", valueName: "file"))
    var export: String?

    @Option(name: [.short, .customLong("output")], help: "The record to write (default: run.cwr).")
    var output: String?

    @Flag(help: "Replace the output files (the record, the --export file) if they exist: only regular files that are none of the inputs.")
    var force = false

    @Option(help: ArgumentHelp("Record level: params, grads or activations (default: the config's record.level).", valueName: "level"))
    var level: RecordLevel?

    @Option(help: ArgumentHelp("Continue an interrupted record from its last checkpoint.", valueName: "record"))
    var resume: String?

    @Option(name: .customLong("data-dir"), help: ArgumentHelp("With --resume: where the run's data files are now, if they moved: DIR (the config's directory is now DIR) or OLD=NEW (an absolute path prefix); repeatable. The record's fingerprints still check the content.", valueName: "dir"))
    var dataDirs: [String] = []

    @Flag(name: .customLong("allow-nonfinite"), help: "Keep training through NaN or Inf values (they are still counted per tensor).")
    var allowNonFinite = false

    @OptionGroup var resources: ResourceOptions

    /// Usage errors exit 2 like other bad input (the documented code), not ArgumentParser's 64.
    func checkUsage() throws {
        if resume != nil {
            guard config == nil, changes.sets.isEmpty, level == nil, !force, output == nil, export == nil else {
                throw InputError("--resume takes its config, level and output from the record; give no config, --set, --level, --output, --export or --force")
            }
        } else if config == nil {
            throw InputError("give a config (cwrepro record train.json) or --resume <record>")
        } else if !dataDirs.isEmpty {
            throw InputError("--data-dir goes with --resume (a new record reads its data where its config says)")
        }
    }

    func run() throws {
        try guarded(outputs: export.map { [$0: "--export"] } ?? [:]) {
            try checkUsage()
            try resources.apply()
            if let resume { return try resumeRun(resume) }
            // --level is a config change like --set, so the stored config says the level it ran at.
            let level = self.level.map { [ConfigAssignment(path: ["record", "level"], value: .string($0.rawValue))] } ?? []
            let config = try TrainConfig.File(path: self.config!).config(applying: changes.assignments() + level)
            // Every input is read and checked before the record file is created (the export file too).
            let session = try TrainingSession(recording: config, configPath: self.config!, output: output ?? "run.cwr", overwrite: force,
                                              options: TrainingOptions(export: export, replaceExport: force, inputs: [self.config!],
                                                                       allowNonFinite: allowNonFinite))
            let target = output ?? "run.cwr"
            // Only a record that --force will replace (a regular file, no input): a directory, a
            // device or a FIFO is refused when the record is created, with no note before it.
            if force && (try? OutputFile.check(target, force: true, inputs: [self.config!])) == true {
                eprint("note: recording into \(target).partial; it replaces \(target) when the run finishes (if the run is killed, \(target) stays as it was and `cwrepro record --resume \(target).partial` continues the new one)")
            }
            defer { warnIfNotOneFile(session.walRemains) }
            let outcome = try Progress(total: session.totalSteps, label: "record").running { try session.run(progress: $0.update) }
            printText(outcome.recordedText)
        }
    }

    /// `--resume`: the config, level and embedded files come from the record; the run continues
    /// after its last checkpoint into the same file.
    func resumeRun(_ path: String) throws {
        let location = try dataDirs.reduce(DataLocation()) { try $0.adding($1) }
        let session: ResumeSession
        do {
            // Like replay: continue on the recorded OpenBLAS kernels (they round differently).
            if let core = try ResumeSession.coreTypeToRequest(path: path) {
                try ProcessConfiguration.reexec(coreType: core, source: path)   // never into SIGILL; returns only if exec failed
            }
            session = try ResumeSession(path: path, options: .init(allowNonFinite: allowNonFinite, dataLocation: location))
        } catch let e as UnsupportedCPUError {
            eprint("error: \(e)")
            eprint("hint: a record is continued only on the kernels it was recorded with: resume it on a CPU that has them; "
                   + "`cwrepro replay \(path) --allow-incomplete --no-patch` compares its committed steps here")
            throw Exit.unsupportedCPU
        } catch let e as RecordReadError where e.isTampering {
            eprint("error: \(e)")
            eprint("hint: --resume extends only a record that verifies (an edited checkpoint would continue a run that is not the recorded one): record the run again from its config")
            throw Exit.unreadableRecord
        }
        session.environmentNotes.forEach(eprint)
        try session.prepare()
        eprint(session.resumingText)
        defer { warnIfNotOneFile(session.walRemains) }
        let outcome = try Progress(total: session.totalSteps, label: "record").running { try session.run(progress: $0.update) }
        printText(outcome.resumedText)
    }
}

/// Says so when readers kept a finished record from being one file: it is sealed and valid,
/// with `-wal` and `-shm` beside it (guideline 06, "A finished record is one file").
func warnIfNotOneFile(_ remains: RecordWALRemains?) {
    if let remains { eprint("warning: \(remains)") }
}

extension RecordLevel: ExpressibleByArgument {}
