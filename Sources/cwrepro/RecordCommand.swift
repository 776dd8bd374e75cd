import ArgumentParser
import Engine
import Foundation
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

    @Argument(help: "The train.json config (omit with --resume).")
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
            let output = self.output ?? "run.cwr"
            // --level is a config change like --set, so the stored config says the level it ran at.
            let config = try loadConfig(path: self.config!, sets: changes.sets + (level.map { ["record.level=\($0.rawValue)"] } ?? []))
            try TrainOptions.checkExport(export)
            let recorder = Recorder(seed: config.seed, level: config.record.level)
            // Every input is read and checked before the record file is created.
            let trainer = try Trainer(config: config, recorder: recorder)
            let header = RecordHeader(
                configGiven: config.given.text, configResolved: config.resolved.text,
                configPath: URL(fileURLWithPath: self.config!).standardizedFileURL.path,
                semantics: config.semantics.profile, level: config.record.level,
                environment: ReplaySession.currentEnvironment(config, data: trainer.data), cwreproVersion: EnvironmentProfile.cwreproVersion)
            let writer = try RecordWriter(path: output, header: header, keepTensors: config.record.keepTensors, overwrite: force,
                                          inputs: [self.config!])
            if writer.writingPath != writer.path {
                eprint("note: recording into \(writer.writingPath); it replaces \(output) when the run finishes (if the run is killed, \(output) stays as it was and `cwrepro record --resume \(writer.writingPath)` continues the new one)")
            }
            for a in trainer.artifacts { try writer.addArtifact(name: a.name, bytes: a.bytes) }
            let (result, tensors) = try train(trainer, recorder: recorder, writer: writer, from: nil, path: output)
            print("recorded \(config.name): \(result.steps) steps, \(grouped(tensors)) tensors in \(fmt(result.seconds, 3)) s -> \(output)")
            print("final loss \(fmt(Double(result.finalLoss))); " + (result.final.map(describe) ?? "no evaluation"))
            try TrainOptions.exportWeights(trainer, to: export)
        }
    }

    /// Runs the trainer into `writer`: checkpoints go into the record, a failure marks it `failed`.
    /// Returns the result and the number of tensors hashed by this run.
    func train(_ trainer: Trainer, recorder: Recorder, writer: RecordWriter, from checkpoint: Checkpoint?,
               path: String) throws -> (RunResult, Int) {
        recorder.sink = writer
        trainer.stopOnNonFinite = !allowNonFinite
        trainer.checkpointHandler = { step, bytes in try writer.checkpoint(step: step, bytes: bytes) }
        let progress = Progress(total: trainer.totalSteps, label: "record")
        do {
            let result = try trainer.run(from: checkpoint, source: path, progress: progress.update)
            progress.finish()
            try writer.finish()
            return (result, recorder.eventsEnded)
        } catch {
            progress.finish()
            try? writer.finish(.failed(reason: "\(error)"))
            throw error
        }
    }

    /// `--resume`: the config, level and embedded files come from the record; the run continues
    /// after its last checkpoint into the same file.
    func resumeRun(_ path: String) throws {
        let r = try RecordWriter.resume(path: path)
        var config: TrainConfig
        do {
            let given = try JSON.parse(Array((r.meta["config_given"] ?? "").utf8), source: "\(path) (recorded config)")
            let dir = URL(fileURLWithPath: r.meta["config_path"] ?? "").deletingLastPathComponent().path
            config = try TrainConfig.parse(given, baseDirectory: dir)
        } catch let e as InputError {
            throw RecordReadError.corrupt(path, "its config no longer parses (\(e.message))")
        }
        config.embedded = r.artifacts
        if let l = r.meta["level"].flatMap(RecordLevel.init(rawValue:)) { config.record.level = l }
        guard config.resolved.text == r.meta["config_resolved"] else {
            let recorded = (try? JSON.parse(Array((r.meta["config_resolved"] ?? "").utf8), source: path)) ?? .null
            let changes = ConfigDiff.changes(recorded, config.resolved)
            throw InputError("\(path): this cwrepro resolves the recorded config differently (\(changes.prefix(3).joined(separator: "; "))); the resumed steps could not be bit-identical: record again with this build")
        }
        let recorder = Recorder(seed: config.seed, level: config.record.level)
        let trainer = try Trainer(config: config, recorder: recorder)
        // Compared after `Trainer.init` has applied the config's thread count (as `record` does
        // before writing the header): before it, OpenBLAS still runs its start-up thread count.
        let recordedEnv = (r.meta["environment"]?.data(using: .utf8)).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: String] } ?? [:]
        let envChanges = ConfigDiff.environment(recordedEnv, ReplaySession.currentEnvironment(config, data: trainer.data))
        if !envChanges.isEmpty {
            eprint("warning: the environment differs from the recording's (\(envChanges.joined(separator: "; "))); resumed steps may not be bit-identical")
        }
        r.writer.keepTensors = config.record.keepTensors
        let checkpoint = try r.checkpoint.map { try Checkpoint.decode($0.bytes, source: path) }
        let from = checkpoint.map { "after step \($0.step)" } ?? "initialisation (no checkpoint yet)"
        try r.discardAfterCheckpoint()
        eprint("resuming \(path) from \(from); \(r.discardedSteps) later committed step\(r.discardedSteps == 1 ? "" : "s") discarded")
        let (result, _) = try train(trainer, recorder: recorder, writer: r.writer, from: checkpoint, path: path)
        let tensors = try RecordReader(path: path).steps().reduce(0) { $0 + $1.tensorCount }
        let done = result.steps - (checkpoint.map { $0.step + 1 } ?? 0)
        print("resumed \(config.name): \(done) more steps, \(result.steps) in all, \(grouped(tensors)) tensors -> \(path)")
        print("final loss \(fmt(Double(result.finalLoss))); " + (result.final.map(describe) ?? "no evaluation"))
    }
}

extension RecordLevel: ExpressibleByArgument {}

