import ArgumentParser
import Engine
import Foundation
import Presentation
import Recorder
import Replayer

struct VarianceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "variance",
        abstract: "Train N runs varying one source of nondeterminism and report how much the results spread.",
        discussion: """
            --vary seed: initialisation and draws (seed, seed+1, ...), data order fixed; order: the data \
            order only (data.shuffleSeed); impl: reduction order and BLAS threads (1...cores), seed and \
            order fixed; none: nothing, so the runs must be bit-identical. Each run is a separate \
            process (at most --jobs at a time). Reports accuracy min/max/mean/std/range, the largest \
            per-class accuracy range, training-time range, loss-curve spread and how many runs are \
            bit-identical. Exit 1 when --vary none gives runs that are not bit-identical.
            """)

    @Argument(help: "The train.json config (its format: docs/config.md in the cwrepro repository).")
    var config: String

    @OptionGroup var changes: ConfigChanges

    /// The most runs a study trains (each a whole training run; the sweep's and explain's seed limit).
    static let maxRuns = 10_000

    @Option(help: "Number of runs (1 to 10000).")
    var runs = 5

    @Option(help: "What varies between runs: seed, order, impl or none.")
    var vary: VarySource

    /// Optional so the help says "the number of cores" rather than this machine's count.
    @Option(help: "Runs at a time, each in its own process (default: the number of cores).")
    var jobs: Int?

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Flag(help: "Print the report as Markdown.")
    var md = false

    @OptionGroup var resources: ResourceOptions

    @Option(help: .hidden)
    var worker: Int?

    /// Usage errors exit 2 like other bad input (the documented code), not ArgumentParser's 64.
    func checkUsage() throws {
        if runs < 1 || runs > Self.maxRuns { throw InputError("--runs \(runs): give 1 to \(Self.maxRuns) runs") }
        if let jobs, jobs < 1 { throw InputError("--jobs \(jobs): give at least 1") }
        if json && md { throw InputError("give at most one of --json and --md") }
    }

    func run() throws {
        var report: VarianceReport?
        try guarded {
            try checkUsage()
            try resources.apply()
            let study = VarianceStudy(base: try TrainConfig.File(path: config).config(applying: changes.assignments()), vary: vary, runs: runs,
                                      jobs: jobs ?? ProcessInfo.processInfo.activeProcessorCount)
            if let worker {
                // A worker: one run, printed as JSON for the parent.
                print(String(decoding: try JSONEncoder().encode(study.run(index: worker)), as: UTF8.self))
                return
            }
            try study.check()
            // Each worker is this command again with --worker i (and this limit: the environment carries it too).
            let args = ["variance", config, "--vary", vary.rawValue, "--runs", String(runs)] + changes.sets.flatMap { ["--set", $0] }
                + (resources.memoryLimit.map { ["--memory-limit", $0] } ?? [])
            let progress = Progress(total: runs, label: "variance", unit: "runs")
            progress.advance(done: 0)
            report = try progress.running { p in
                try study.run(worker: { args + ["--worker", String($0)] }, finished: { p.advance(done: $0) })
            }
        }
        guard let report else { return }
        if json { print(report.json) } else { printText(md ? report.markdown : report.humanText) }
        if vary == .none && report.bitIdenticalToFirst != report.runs.count { throw Exit.failed }
    }
}

extension VarySource: ExpressibleByArgument {}
