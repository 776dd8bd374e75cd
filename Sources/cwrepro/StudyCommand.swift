import ArgumentParser
import Engine
import Foundation
import Presentation
import Recorder
import Replayer

struct StudyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "study",
        abstract: "Work with a study directory written by cwrepro sweep.",
        subcommands: [StudyCollectCommand.self, StudyPointCommand.self])
}

struct StudyCollectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collect",
        abstract: "Merge the shards of a study: trials.jsonl from every finished record, summary.json, the largest gaps explained.",
        discussion: """
            Shards that wrote into the same directory (a shared file system) need no more; give the \
            directories of shards that ran elsewhere after the study's, and their finished records are \
            copied in. Exit 0 when every planned trial has a finished record, 1 when some are missing \
            (the summary covers the others), 2 on bad input.
            """)

    @Argument(help: "The study directory.")
    var study: String

    @Argument(help: "Copies of the same study written elsewhere (shards without a shared file system).")
    var others: [String] = []

    @Option(help: "Training runs at a time for the explanations (default: the number of cores).")
    var jobs: Int?

    @Flag(name: .customLong("no-explain"), help: "Do not explain the largest gaps.")
    var noExplain = false

    @Flag(help: "Print the summary as JSON (also written to study/summary.json).")
    var json = false

    func run() throws {
        var collected: StudyCollection?
        try guarded {
            if let jobs, jobs < 1 { throw InputError("--jobs \(jobs): give at least 1") }
            let directory = StudyDirectory(study)
            let progress = Progress(total: 0, label: "collect", unit: "points")
            let explain = noExplain ? nil : StudyCollection.ExplainOptions(parallel: jobs ?? ProcessInfo.processInfo.activeProcessorCount)
            collected = try progress.running { p in
                try StudyCollection.collect(directory, from: others.map(StudyDirectory.init), explain: explain,
                                            progress: SweepCommand.progressHandler(p))
            }
            try SweepCommand.writeSummary(collected!, to: directory)
        }
        guard let collected else { return }
        print(json ? collected.summary.json : collected.humanText)
        if !collected.missing.isEmpty { throw Exit.failed }
    }
}

/// What a Ray Tune trial runs: one proposed point of a study, its trials recorded here.
struct StudyPointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "point", abstract: "Train one point of a study (what a Ray Tune trial runs); prints the outcome as JSON.",
        shouldDisplay: false)

    @Argument(help: "The study directory.")
    var study: String

    @Option(help: "The point: a JSON object of the swept keys and their values.")
    var point: String

    @Option(help: "Trials at a time.")
    var jobs = 1

    func run() throws {
        var outcome: PointOutcome?
        try guarded {
            guard case .object(let values) = try JSON.parse(Array(point.utf8), source: "--point") else {
                throw InputError("--point: expected a JSON object of the swept keys, e.g. {\"optimizer.lr\": 0.01}")
            }
            let directory = StudyDirectory(study)
            let spec = try SweepSpec.parse(try directory.readManifest().sweep, path: try directory.readManifest().sweepFile)
            outcome = try TunePointSession.run(study: directory, values: values,
                                               executor: LocalExecutor(jobs: jobs, arguments: SweepCommand.trialArguments(spec.nonFinite)))
        }
        guard let outcome else { return }
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try e.encode(outcome), as: UTF8.self))
    }
}
