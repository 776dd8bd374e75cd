import ArgumentParser
import Engine
import Foundation
import Presentation
import Recorder
import Replayer

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train from a config without recording (the same numbers as `record`, no hashing).")

    @OptionGroup var options: TrainOptions

    @Flag(name: .customLong("allow-nonfinite"), help: "Keep training through NaN or Inf values (default: stop at the first, exit 1).")
    var allowNonFinite = false

    func run() throws {
        try guarded(outputs: options.export.map { [$0: "--export"] } ?? [:]) {
            try options.resources.apply()
            let config = try options.load()
            if let w = BLAS.coreTypeFallback { eprint("warning: " + DivergenceText.coreTypeFallback(w)) }
            // The export file is checked before training (a long run must not end in "exists").
            let session = try TrainingSession(training: config, options: TrainingOptions(export: options.export, replaceExport: options.force,
                                                                                         inputs: [options.config], allowNonFinite: allowNonFinite))
            let outcome = try Progress(total: session.totalSteps, label: "train").running { try session.run(progress: $0.update) }
            printText(outcome.trainedText)
        }
    }
}
