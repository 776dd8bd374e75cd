import ArgumentParser
import Engine
import Foundation
import Recorder

struct RecordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Train from a config and record every draw, order and tensor hash into a .cwr file.")

    @OptionGroup var options: TrainOptions

    @Option(name: [.short, .customLong("output")], help: "The record to write.")
    var output = "run.cwr"

    @Flag(help: "Replace the output file if it exists.")
    var force = false

    @Option(help: ArgumentHelp("Record level: params, grads or activations (default: the config's record.level).", valueName: "level"))
    var level: RecordLevel?

    func run() throws {
        try guarded {
            var config = try options.load()
            if let level { config.record.level = level }
            let recorder = Recorder(seed: config.seed, level: config.record.level)
            // Every input is read and checked before the record file is created.
            let trainer = try Trainer(config: config, recorder: recorder)
            let header = RecordHeader(
                configGiven: config.given.text, configResolved: config.resolved.text,
                configPath: URL(fileURLWithPath: options.config).standardizedFileURL.path,
                semantics: config.semantics.profile, level: config.record.level,
                environment: ReplaySupport.environment(config), cwreproVersion: EnvironmentProfile.cwreproVersion)
            let writer = try RecordWriter(path: output, header: header, keepTensors: config.record.keepTensors, overwrite: force)
            for a in trainer.artifacts { try writer.addArtifact(name: a.name, bytes: a.bytes) }
            recorder.sink = writer
            let progress = Progress(total: trainer.totalSteps, label: "record")
            let result: RunResult
            do {
                result = try trainer.run(progress: progress.update)
                try writer.finish()
            } catch {
                progress.finish()
                try? writer.finish(status: "failed", reason: "\(error)")
                throw error
            }
            progress.finish()
            let tensors = try RecordReader(path: output).steps().reduce(0) { $0 + $1.tensorCount }
            print("recorded \(config.name): \(result.steps) steps, \(grouped(tensors)) tensors in \(fmt(result.seconds, 3)) s -> \(output)")
            print("final loss \(fmt(Double(result.finalLoss))); " + (result.final.map(describe) ?? "no evaluation"))
            try options.exportWeights(trainer)
        }
    }
}

extension RecordLevel: ExpressibleByArgument {}

import Replayer
enum ReplaySupport {
    static func environment(_ config: TrainConfig) -> [String: String] { ReplaySession.currentEnvironment(config) }
}
