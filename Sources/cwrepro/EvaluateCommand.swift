import ArgumentParser
import Engine
import Foundation
import Presentation
import Recorder
import Replayer

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Score trained weights without training: accuracy, per-class accuracy, loss, predictions hash, confusion matrix, latency.",
        discussion: """
            The weights (safetensors, PyTorch names and layouts, as `train --export` writes them) are \
            --weights or the config's model.init. Evaluation runs as training's evaluations run (batches of \
            256, the config's GEMM, reduction order and threads), so the weights a run exported reproduce \
            the accuracy and predictions hash its record holds for its last evaluation. Latency: --timed \
            forward passes of --batch-size samples after --warmup untimed ones: median, p95 and spread.
            """)

    @Argument(help: "The train.json config.")
    var config: String

    @Option(help: ArgumentHelp("Trained weights (safetensors); default: the config's model.init.", valueName: "file"))
    var weights: String?

    @Option(help: "The split to score: test or train.")
    var split: EvaluationSplit = .test

    @OptionGroup var changes: ConfigChanges

    @OptionGroup var latency: LatencyFlags

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() throws {
        try guarded {
            let report = try wordingModelErrors {
                let model = try ModelArgument(config: config, weights: weights).load(changes: changes.assignments())
                return try EvaluationSession.run(model, split: split, latency: latency.options())
            }
            if json { print(report.json) } else { printText(report.humanText) }
        }
    }
}
