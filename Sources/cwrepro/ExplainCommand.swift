import ArgumentParser
import Engine
import Foundation
import Presentation
import Recorder
import Replayer

struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Explain why two configs (or one config under two semantics profiles) train differently.",
        discussion: """
            Trains A; trains B with A's random draws and data order (so randomness is removed as a \
            cause) and reports B's first divergent step and tensor; applies each difference (semantics \
            knob or config value) to A alone and reports its first divergence and its effect on final \
            loss and test accuracy; finds a minimal set of differences that reproduces most of the gap \
            (delta debugging) and the share left unexplained; and trains B with its own draws, to show \
            how much randomness alone moves accuracy. When B has A's seed, "its own draws" use A's seed + 1.
            Exit 0 on success, 2 on bad usage or input.
            """)

    @Argument(help: "Config A (train.json).")
    var a: String

    @Argument(help: "Config B (train.json); omit it and give --profiles to compare one config under two profiles.")
    var b: String?

    @Option(help: ArgumentHelp("Two semantics profiles for a single config, A's first: pytorch,keras.", valueName: "a,b"))
    var profiles: String?

    @Option(help: "Share of the gap the minimal set must reproduce (0 < t <= 1).")
    var threshold = 0.9

    @Option(help: ArgumentHelp("Hash level of the comparison: params, grads or activations (names the first divergent layer output).", valueName: "level"))
    var level: RecordLevel = .activations

    @Option(help: "Training runs at a time (default: one per core).")
    var jobs: Int?

    @Option(name: .customLong("record"), help: ArgumentHelp("Also write A's record to this file (replaced if it exists), e.g. to replay A later with --set.", valueName: "file"))
    var recordA: String?

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Flag(help: "Print the report as Markdown.")
    var md = false

    /// Usage errors exit 2 (DESIGN.md section 8), so they are InputErrors raised in `run`.
    func checkUsage() throws -> [String]? {
        if json && md { throw InputError("give at most one of --json and --md") }
        if (b == nil) == (profiles == nil) { throw InputError("give two configs, or one config and --profiles pytorch,keras") }
        if !(threshold > 0 && threshold <= 1) { throw InputError("--threshold \(threshold): expected 0 < t <= 1") }
        if let jobs, jobs < 1 { throw InputError("--jobs \(jobs): expected at least 1") }
        guard let profiles else { return nil }
        let p = profiles.split(separator: ",").map(String.init)
        guard p.count == 2, p.allSatisfy(Semantics.profiles.contains) else {
            throw InputError("--profiles \(profiles): expected two of \(Semantics.profiles.joined(separator: ", ")) separated by a comma, e.g. pytorch,keras")
        }
        return p
    }

    func run() throws {
        var report: ExplainReport?
        try guarded {
            let pair = try checkUsage()
            let (ca, cb) = try pair.map { try Explain.withProfiles(TrainConfig.load(path: a), $0[0], $0[1]) }
                ?? (TrainConfig.load(path: a), TrainConfig.load(path: b!))
            var options = Explain.Options()
            options.threshold = threshold
            options.level = level
            if let jobs { options.parallel = jobs }
            options.recordA = recordA
            let progress = Progress(total: 0, label: "explain", unit: "runs")
            options.progress = { progress.note($0.text) }
            report = try progress.running { _ in try Explain.run(a: ca, b: cb, options: options) }
        }
        guard let report else { return }
        if json { print(report.json) } else { printText(md ? report.markdown : report.humanText) }
    }
}
