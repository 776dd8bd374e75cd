import ArgumentParser
import Engine
import Foundation
import Presentation
import Recorder
import Replayer

struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Explain why two configs (or one config under two semantics profiles) train differently, beyond seed noise.",
        discussion: """
            Trains A and B under the same N seeds (--seeds, default \(Explain.defaultSeeds): A's seed and the next \
            ones; B's own seed is not used), so each side's initial weights, batch order and dropout masks vary \
            with the seed and, on one seed, both sides share A's random draws. Reports the test-accuracy gap \
            B - A as a mean with its 95% interval and Welch's p-value, Mann-Whitney U and Levene's test. When \
            the interval contains 0 the gap is within seed noise: nothing is attributed and the minimal set is \
            empty. Otherwise each difference (semantics knob or config value) is applied to A alone on every \
            seed (its effect with an interval, its share of the gap, its first divergent tensor on the first \
            seed), and delta debugging finds a minimal set of differences that reproduces the gap, with what \
            it leaves unexplained. A config that pins its initial weights (model.init) or batch order \
            (data.order) is reported; --unpin hands them to the seed. --trace-a/--trace-b first check that \
            each config, as written, reproduces the real PyTorch or Keras run it was exported from, and warn \
            when it does not.
            Exit 0 on success, 2 on bad usage or input.
            """)

    @Argument(help: "Config A (train.json).")
    var a: String

    @Argument(help: "Config B (train.json); omit it and give --profiles to compare one config under two profiles.")
    var b: String?

    @Option(help: ArgumentHelp("Two semantics profiles for a single config, A's first: pytorch,keras.", valueName: "a,b"))
    var profiles: String?

    @Option(help: ArgumentHelp("Seeds per side (2 to \(Explain.maxSeeds)).", valueName: "n"))
    var seeds = Explain.defaultSeeds

    @Flag(help: "Let the seed draw what a config fixes: remove model.init, data.order and data.shuffleSeed, shuffle every epoch.")
    var unpin = false

    @Option(name: .customLong("trace-a"), help: ArgumentHelp("The trace of the real run A was exported from: check that A reproduces it first.", valueName: "file"))
    var traceA: String?

    @Option(name: .customLong("trace-b"), help: ArgumentHelp("The trace of the real run B was exported from.", valueName: "file"))
    var traceB: String?

    @Option(help: ArgumentHelp("Relative loss tolerance per step of the trace check.", valueName: "r"))
    var rtol = Fidelity.defaultRTol

    @Option(help: "Share of the gap the minimal set must reproduce (0 < t <= 1).")
    var threshold = 0.9

    @Option(help: ArgumentHelp("Hash level of the comparison: params, grads or activations (names the first divergent layer output).", valueName: "level"))
    var level: RecordLevel = .activations

    @Option(help: "Training runs at a time (default: one per core).")
    var jobs: Int?

    @Option(name: .customLong("record"), help: ArgumentHelp("Also write A's record on the first seed to this file, e.g. to replay A later with --set (an existing file only with --force).", valueName: "file"))
    var recordA: String?

    @Flag(help: "Replace the --record file if it exists (never a config or trace given to this command).")
    var force = false

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
        do { try ExplainError.checkSeeds(seeds) } catch let e as ExplainError { throw InputError(e.message) }
        if !(rtol > 0 && rtol.isFinite) { throw InputError("--rtol \(rtol): expected a positive number, e.g. 1e-5") }
        guard let profiles else { return nil }
        let p = profiles.split(separator: ",").map(String.init)
        guard p.count == 2, p.allSatisfy(Semantics.profiles.contains) else {
            throw InputError("--profiles \(profiles): expected two of \(Semantics.profiles.joined(separator: ", ")) separated by a comma, e.g. pytorch,keras")
        }
        return p
    }

    func run() throws {
        var report: ExplainReport?
        try guarded(outputs: recordA.map { [$0: "--record"] } ?? [:]) {
            let pair = try checkUsage()
            let (ca, cb) = try pair.map { try Explain.withProfiles(TrainConfig.load(path: a), $0[0], $0[1]) }
                ?? (TrainConfig.load(path: a), TrainConfig.load(path: b!))
            var options = Explain.Options()
            options.threshold = threshold
            options.level = level
            if let jobs { options.parallel = jobs }
            if let recordA {
                // Checked before hours of training: the file is no input and exists only with --force.
                try OutputFile.check(recordA, force: force, inputs: [a] + [b, traceA, traceB].compactMap { $0 })
            } else if force {
                throw InputError("--force replaces the --record file; give --record FILE too")
            }
            options.recordA = recordA
            options.seeds = seeds
            options.unpin = unpin
            options.traceA = traceA
            options.traceB = traceB
            options.fidelityRTol = rtol
            let progress = Progress(total: 0, label: "explain", unit: "runs")
            options.progress = { progress.note($0.text) }
            do {
                report = try progress.running { _ in try Explain.run(a: ca, b: cb, options: options) }
            } catch let e as ExplainError { throw InputError(e.message) }
        }
        guard let report else { return }
        if json { print(report.json) } else { printText(md ? report.markdown : report.humanText) }
    }
}
