import ArgumentParser
import Engine
import Foundation
import Presentation
import Recorder
import Replayer

/// Where a study's trials run.
enum ExecutorKind: String, ExpressibleByArgument, CaseIterable {
    case local, ray
}

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run a study: many recorded trials over a search space, two sides and several seeds, summarised with intervals.",
        discussion: """
            The sweep file (docs/sweep.md) names two configs (a, b), or one config and two semantics \
            profiles (base, profiles), or one config (base, objective variance); a search space over \
            config keys (grid, or random with choice/uniform/logUniform and a seed, or a Ray Tune \
            search algorithm); the seeds per point and the objective (gap or variance). Every trial is \
            a `cwrepro record` process writing a sealed record to study/runs/, and a line of \
            study/trials.jsonl. A trial's id hashes its resolved config, so its record is the same \
            whichever executor or shard ran it.
            Re-running a sweep skips trials whose records are finished and runs again those a killed \
            sweep left unfinished. --shard I/N runs every N-th trial (Slurm arrays, Kubernetes Indexed \
            Jobs: --shard auto); `cwrepro study collect` then merges the shards. An unsharded sweep \
            writes study/summary.json (per point each side's accuracy and the gap with 95% intervals \
            and p-values, per-class and training-time spreads, the largest gaps) and explains the \
            largest gaps (`cwrepro explain`).
            Exit 0 when every trial of this shard finished (a trial stopped at a NaN or Inf finished: \
            its failed record is a result, counted in the summary), 1 when a trial could not run to its \
            end (an error or a kill: run the sweep again to retry it), 2 on bad input.
            """)

    @Argument(help: "The sweep file (JSON).")
    var sweep: String

    @Option(name: [.short, .customLong("output")], help: "The study directory (created; re-running resumes it).")
    var output = "study"

    @Option(help: "Where trials run: local (a process pool on this machine) or ray (Ray tasks through the Python package's cwrepro.ray).")
    var executor: ExecutorKind = .local

    /// Optional so the help says "the number of cores" rather than this machine's count.
    @Option(help: "Trials at a time (local: processes; ray without --address: CPUs of the local Ray instance). Default: the number of cores.")
    var jobs: Int?

    @Option(help: ArgumentHelp("The Ray cluster to submit to (ray executor; default: start a local Ray instance).", valueName: "address"))
    var address: String?

    @Option(help: ArgumentHelp("The Python with ray and the cwrepro package (ray executor; default: $CWREPRO_PYTHON, else python3).", valueName: "python"))
    var python: String?

    @Option(help: ArgumentHelp("Run one slice of the trials: I/N (1-based), or auto (SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX and CWREPRO_SHARD_COUNT).", valueName: "I/N"))
    var shard: String?

    @Flag(name: .customLong("no-explain"), help: "Do not explain the largest gaps.")
    var noExplain = false

    @Flag(help: "Print the study summary as JSON (also written to study/summary.json).")
    var json = false

    func checkUsage() throws -> Shard {
        if let jobs, jobs < 1 { throw InputError("--jobs \(jobs): give at least 1") }
        if address != nil && executor != .ray { throw InputError("--address is for --executor ray") }
        if python != nil && executor != .ray { throw InputError("--python is for --executor ray") }
        return try Self.shard(shard)
    }

    /// `--shard I/N`, `--shard auto` (the scheduler's variables), or the whole study.
    static func shard(_ text: String?) throws -> Shard {
        guard let text else { return .whole }
        do {
            return text == "auto" ? try Shard.fromEnvironment(ProcessInfo.processInfo.environment) : try Shard.parse(text)
        } catch let e as Shard.ParseError {
            switch e {
            case .malformed(let t): throw InputError("--shard \(t): expected I/N with 1 <= I <= N (e.g. --shard 2/4), or auto")
            case .noEnvironment: throw InputError("--shard auto: none of SLURM_ARRAY_TASK_ID (a Slurm job array) or JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) is set; give --shard I/N")
            case .badVariable(let name, let value): throw InputError("--shard auto: \(name)=\(value) is not a usable shard number (for a Kubernetes Indexed Job, set CWREPRO_SHARD_COUNT to the Job's completions)")
            }
        }
    }

    func run() throws {
        var outcome: SweepOutcome?
        try guarded {
            let shard = try checkUsage()
            let jobs = self.jobs ?? ProcessInfo.processInfo.activeProcessorCount
            // Local trials run under this machine's memory limit: a trial over it is refused with the plan.
            let session = try SweepSession(sweepFile: sweep, directory: output, shard: shard,
                                           memoryLimit: executor == .local ? MemoryLimit.process() : nil)
            let trialArguments = Self.trialArguments(session.spec.nonFinite)
            let progress = Progress(total: 0, label: "sweep", unit: session.isTuneSearch ? "points" : "trials")
            let explain = noExplain ? nil : StudyCollection.ExplainOptions(parallel: jobs)
            let report = Self.progressHandler(progress)
            if session.isTuneSearch {
                guard executor == .ray else {
                    throw InputError("\(sweep): search type tune chooses points with Ray Tune: give --executor ray (or search type grid or random)")
                }
                let ray = RayDriver(python: python, address: address, jobs: jobs)
                outcome = try progress.running { _ in try ray.tune(session, explain: explain, progress: report) }
            } else {
                let executor: TrialExecutor = self.executor == .local
                    ? LocalExecutor(jobs: jobs, arguments: trialArguments)
                    : RayDriver(python: python, address: address, jobs: jobs).executor(arguments: trialArguments)
                outcome = try progress.running { _ in try session.run(executor: executor, explain: explain, progress: report) }
            }
            if let collected = outcome?.collected { try Self.writeSummary(collected, to: session.study) }
        }
        guard let outcome else { return }
        if json, let collected = outcome.collected { print(collected.summary.json) } else { print(outcome.humanText) }
        if !outcome.failures.isEmpty { throw Exit.failed }
    }

    /// The `cwrepro record` command line of a trial.
    static func trialArguments(_ nonFinite: SweepSpec.NonFinite) -> TrialArguments {
        { trial, record in
            ["record", trial.config] + trial.changes.flatMap { ["--set", "\($0.key)=\($0.value.text)"] } + ["-o", record]
                + (nonFinite == .continue ? ["--allow-nonfinite"] : [])
        }
    }

    /// Sweep progress on stderr: one unit per trial, a note per explanation.
    static func progressHandler(_ progress: Progress) -> @Sendable (SweepProgress) -> Void {
        { event in
            switch event {
            case .starting(let total, _):
                progress.setTotal(total)
            case .trialEnded(let done, let total, let t, let run):
                progress.setTotal(total)
                let status = !run.ranToItsEnd ? ", \(run.ending)" : run.status == 0 ? "" : ", stopped at a non-finite value"
                progress.advance(done: done, detail: "trial \(t.trial) (\(t.side.rawValue), seed \(t.seed)\(status))")
            case .pointEnded(let done, _, let o):
                let value = o.objective.map { String(format: "objective %.4f", $0) } ?? "no objective (every trial failed)"
                progress.advance(done: done, detail: "point \(SweepPlan.label(o.point)): \(value)")
            case .explaining(let point, let i, let n):
                progress.note("explaining the gap at point \(point.index) (\(i) of \(n))")
            }
        }
    }

    /// `summary.json` beside `trials.jsonl`.
    static func writeSummary(_ collected: StudyCollection, to study: StudyDirectory) throws {
        try study.write(Data((collected.summary.json + "\n").utf8), to: "summary.json")
    }
}
