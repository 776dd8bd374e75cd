import ArgumentParser
import Engine
import Foundation
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

    @Argument(help: "The train.json config.")
    var config: String

    @OptionGroup var changes: ConfigChanges

    @Option(help: "Number of runs.")
    var runs = 5

    @Option(help: "What varies between runs: seed, order, impl or none.")
    var vary: VarySource

    /// Optional so the help says "the number of cores" rather than this machine's count.
    @Option(help: "Runs at a time, each in its own process (default: the number of cores).")
    var jobs: Int?

    var jobCount: Int { jobs ?? ProcessInfo.processInfo.activeProcessorCount }

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Flag(help: "Print the report as Markdown.")
    var md = false

    @Option(help: .hidden)
    var worker: Int?

    /// Usage errors exit 2 like other bad input (the documented code), not ArgumentParser's 64.
    func checkUsage() throws {
        if runs < 1 { throw InputError("--runs \(runs): give at least 1 run") }
        if let jobs, jobs < 1 { throw InputError("--jobs \(jobs): give at least 1") }
        if json && md { throw InputError("give at most one of --json and --md") }
    }

    var cores: Int { ProcessInfo.processInfo.activeProcessorCount }

    func run() throws {
        var report: VarianceReport?
        try guarded {
            try checkUsage()
            let base = try loadConfig(path: config, sets: changes.sets)
            if let worker {
                let (cfg, label) = try Variance.variant(base, vary: vary, index: worker, cores: cores)
                let enc = JSONEncoder()
                print(String(decoding: try enc.encode(Variance.run(cfg, index: worker, variant: label)), as: UTF8.self))
                return
            }
            // Every variant is built (and so checked), and the data and files read once, before
            // any worker is started: bad input is reported once, with exit code 2.
            for i in 0..<runs { _ = try Variance.variant(base, vary: vary, index: i, cores: cores) }
            _ = try Trainer(config: base, recorder: .plain(seed: base.seed))
            let results = try spawnWorkers()
            report = Variance.summarize(name: base.name, vary: vary, jobs: min(jobCount, runs), runs: results)
        }
        guard let report else { return }
        print(json ? jsonText(report) : md ? report.markdown : report.humanText)
        if vary == .none && report.bitIdenticalToFirst != report.runs.count { throw ExitCode(1) }
    }

    /// Runs `cwrepro variance ... --worker i` for every run, at most `jobs` at a time.
    func spawnWorkers() throws -> [VarianceRun] {
        let exe = ProcessConfiguration.executable
        let outcomes = Outcomes(), slots = DispatchSemaphore(value: jobCount), group = DispatchGroup()
        let progress = Progress(total: runs, label: "variance")
        progress.advance(done: 0, detail: "runs")
        for i in 0..<runs {
            let args = ["variance", config, "--vary", vary.rawValue, "--runs", String(runs), "--worker", String(i)]
                + changes.sets.flatMap { ["--set", $0] }
            DispatchQueue.global().async(group: group) {
                slots.wait()
                defer { slots.signal() }
                let outcome = Result { try Self.runWorker(exe, args, run: i + 1) }
                outcomes.add(outcome) { progress.advance(done: $0, detail: "runs") }
            }
        }
        group.wait()
        progress.finish()
        if let f = outcomes.failures.first { throw InputError(f) }
        return outcomes.results
    }

    /// One worker process: its standard output is the run as JSON.
    static func runWorker(_ exe: URL, _ args: [String], run: Int) throws -> VarianceRun {
        let p = Process()
        p.executableURL = exe
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Drain stderr on another thread so a chatty worker cannot fill the pipe and block.
        let stderr = Outcomes.Bytes()
        let reader = Thread { stderr.data = err.fileHandleForReading.readDataToEndOfFile(); stderr.done.signal() }
        reader.start()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        stderr.done.wait()
        guard p.terminationStatus == 0 else {
            let msg = String(decoding: stderr.data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw InputError("run \(run) exited with status \(p.terminationStatus): \(msg)")
        }
        return try JSONDecoder().decode(VarianceRun.self, from: data)
    }
}

/// Results of worker processes, collected from several threads.
final class Outcomes: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var results: [VarianceRun] = []
    private(set) var failures: [String] = []

    /// Adds one outcome, then calls `finished` with how many runs have finished (under the lock,
    /// so progress lines do not interleave).
    func add(_ r: Result<VarianceRun, Error>, finished: (Int) -> Void) {
        lock.lock(); defer { lock.unlock() }
        switch r {
        case .success(let run): results.append(run)
        case .failure(let e): failures.append("\(e)")
        }
        finished(results.count + failures.count)
    }

    final class Bytes: @unchecked Sendable {
        var data = Data()
        let done = DispatchSemaphore(value: 0)
    }
}

extension VarySource: ExpressibleByArgument {}
