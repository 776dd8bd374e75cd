import ArgumentParser
import Foundation
import Presentation
import Recorder
import Replayer

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two records without re-executing: config, environment, first divergent step and tensor, reproducibility criteria.",
        discussion: """
            Criteria (after Chen et al., ICSE 2022), each pass / warn / fail: bit-identical final weights, \
            identical test predictions, per-class accuracy deltas, overall accuracy delta, per-step loss \
            max delta. A zero difference passes, one within the tolerance warns, a larger one fails. \
            Exit 0 when the runs are bit-identical and every criterion passes, 1 otherwise, 3 when a \
            record cannot be read, 5 when nothing differs in what both hold but a record is not a whole \
            finished run (killed, still being recorded, failed; --allow-incomplete accepts it).
            """)

    @Argument(help: "The first record (.cwr).")
    var a: String

    @Argument(help: "The second record (.cwr).")
    var b: String

    @Flag(help: "List every config key, not only the changed ones.")
    var all = false

    @Option(help: "Accuracy difference (absolute, overall and per class) up to which a criterion warns instead of failing.")
    var accuracyTolerance = 0.01

    @Option(help: "Relative per-step loss difference up to which the loss criterion warns instead of failing.")
    var lossTolerance = 1e-3

    @Flag(help: "Accept a record of a run that did not finish (killed, failed): exit 0 when nothing differs in what both hold.")
    var allowIncomplete = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Flag(help: "Print the report as Markdown.")
    var md = false

    /// Usage errors exit 2 like other bad input (the documented code), not ArgumentParser's 64.
    func checkUsage() throws {
        if json && md { throw InputError("give at most one of --json and --md") }
        guard accuracyTolerance >= 0, lossTolerance >= 0, accuracyTolerance.isFinite, lossTolerance.isFinite else {
            throw InputError("--accuracy-tolerance and --loss-tolerance must be finite numbers >= 0")
        }
    }

    func run() throws {
        var report: RunDiffReport?
        try guarded {
            try checkUsage()
            report = try RunDiff.compare(a, b, all: all, tolerances: .init(accuracy: accuracyTolerance, loss: lossTolerance),
                                         allowIncomplete: allowIncomplete)
        }
        guard let report else { return }
        if json { print(report.json) } else { printText(md ? report.markdown : report.humanText) }
        try conclude(report.outcome)
    }
}
