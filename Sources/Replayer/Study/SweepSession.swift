import Engine
import Foundation
import Recorder

/// What a sweep is doing, for a progress display.
public enum SweepProgress: Sendable {
    /// `total` trials to run now (of `planned` in this shard; the others are finished already).
    case starting(total: Int, planned: Int)
    /// One more trial ended (`done` of `total`).
    case trialEnded(done: Int, total: Int, trial: PlannedTrial, run: TrialRun)
    /// Ray Tune finished training one more point (`done` of at most `total`).
    case pointEnded(done: Int, total: Int, outcome: PointOutcome)
    /// Explaining the gap at a point (`index` of `count`).
    case explaining(point: StudyPoint, index: Int, count: Int)
}

/// A trial whose process failed: bad input, a crash, a kill (not a non-finite stop, which is a result).
public struct TrialFailure: Sendable {
    /// The trial (nil when only the executor knows which: a Tune point's trial).
    public var trial: PlannedTrial?
    /// The reason, from the process's standard error.
    public var message: String
}

/// What `cwrepro sweep` did.
public struct SweepOutcome: Sendable {
    public var name: String
    public var directory: String
    public var shard: Shard
    /// Trials in this shard (all shards: the whole study).
    public var planned: Int
    /// Found finished and not run again.
    public var skipped: Int
    /// Run now (killed trials run again included).
    public var ran: Int
    /// Of `ran`: trials whose records a killed sweep had left unfinished.
    public var resumed: Int
    /// Records another process was still writing when the wait for them ran out: left alone.
    public var runningElsewhere: [PlannedTrial]
    /// Trials whose process failed (bad input, a crash, a kill): the reason from its standard error.
    public var failures: [TrialFailure]
    /// The finished trials of this shard.
    public var results: [TrialResult]
    public var seconds: Double
    /// The whole study's summary, when this run finished the study (an unsharded sweep).
    public var collected: StudyCollection?
}

/// `cwrepro sweep`: plans the trials of a sweep file into a study directory, runs the trials of one
/// shard that have no finished record (every trial a `cwrepro record` process, through an
/// executor), and, for an unsharded sweep, collects the study (`StudyCollection`).
public final class SweepSession: @unchecked Sendable {
    public let spec: SweepSpec
    public let plan: SweepPlan
    public let study: StudyDirectory
    public let manifest: StudyManifest
    public let shard: Shard
    /// Held while the session lives: no other sweep runs this shard's trials meanwhile.
    let lock: StudyLock

    /// Plans the sweep (every trial config built and checked), takes the study's locks (another
    /// sweep of the same trials running: `StudyError.busy`) and writes, or checks, the study's plan.
    /// `memoryLimit`: the limit the trials will run under when it is known (the local executor's
    /// machine), so that a trial over it is refused with the plan.
    public init(sweepFile: String, directory: String, shard: Shard, memoryLimit: MemoryLimit? = nil) throws {
        spec = try SweepSpec.load(path: sweepFile)
        plan = try SweepPlan.make(spec, memoryLimit: memoryLimit)
        study = StudyDirectory(directory)
        try study.create()
        lock = try StudyLock(study, shard: shard)
        let sweepJSON = try JSON.parse(Array(try readFile(sweepFile, what: "sweep file")), source: sweepFile)
        manifest = try StudyManifest(plan: plan, sweep: sweepJSON)
        try study.adopt(manifest)
        self.shard = shard
    }

    /// Whether Ray Tune chooses the points (the trials are then planned as it proposes them).
    public var isTuneSearch: Bool { if case .tune = spec.search { true } else { false } }

    /// Runs this shard's unfinished trials with `executor`. Trials whose records another process
    /// is writing (a killed sweep's trial not yet ended, or the same shard run twice) are waited
    /// for, at most `wait` seconds, then taken as they are.
    public func run(executor: TrialExecutor, explain: StudyCollection.ExplainOptions? = nil, wait: Double = 600,
                    progress: (@Sendable (SweepProgress) -> Void)? = nil) throws -> SweepOutcome {
        let start = Date()
        let mine = plan.trials(in: shard)
        var survey = Survey(study: study, manifest: manifest, trials: mine)
        let skipped = survey.finished.count
        let total = survey.pending.count
        progress?(.starting(total: total, planned: mine.count))
        let state = RunState(total: total)
        var resumed = survey.interrupted
        try run(survey.pending, executor: executor, state: state, progress: progress)
        // Records that were being written when the sweep started, or that another process (a
        // shard of another count, `study point`) began while a trial of this one was starting:
        // once their writers end, run the ones they left unfinished.
        var elsewhere = survey.running + state.takeElsewhere()
        let deadline = Date().addingTimeInterval(wait)
        while !elsewhere.isEmpty && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.5)
            let still = elsewhere.filter { RecordFileLock.isHeld(study.path($0.record)) }
            guard still.count < elsewhere.count else { continue }
            let ended = elsewhere.filter { t in !still.contains(where: { $0.id == t.id }) }
            elsewhere = still
            let again = Survey(study: study, manifest: manifest, trials: ended)
            survey.finished += again.finished
            resumed += again.interrupted
            state.add(total: again.pending.count)
            try run(again.pending, executor: executor, state: state, progress: progress)
            elsewhere += state.takeElsewhere()
        }
        let finished = survey.finished + state.results
        if shard != .whole {
            try study.writeTrials(finished, to: "shards/\(shard.index)-of-\(shard.count).jsonl")
        }
        var outcome = SweepOutcome(name: spec.name, directory: study.root, shard: shard, planned: mine.count, skipped: skipped,
                                   ran: state.started, resumed: resumed, runningElsewhere: elsewhere, failures: state.failures,
                                   results: finished.sorted { $0.trial < $1.trial }, seconds: 0, collected: nil)
        if shard == .whole && state.failures.isEmpty && elsewhere.isEmpty {
            outcome.collected = try StudyCollection.collect(study, explain: explain, progress: progress)
        } else if shard == .whole {
            // Not every trial finished: no summary, but the finished ones are listed.
            try study.writeTrials(finished)
        }
        outcome.seconds = Date().timeIntervalSince(start)
        return outcome
    }

    func run(_ trials: [PlannedTrial], executor: TrialExecutor, state: RunState, progress: (@Sendable (SweepProgress) -> Void)?) throws {
        guard !trials.isEmpty else { return }
        try executor.run(trials, in: study) { trial, run in
            let (n, total) = state.ended(trial, run, study: self.study, sideName: self.manifest.sideName(trial.side))
            progress?(.trialEnded(done: n, total: total, trial: trial, run: run))
        }
    }

    /// Where a set of trials stands; unfinished records of killed runs and stale ones are removed
    /// (their trials are pending).
    struct Survey {
        var finished: [TrialResult] = []
        var pending: [PlannedTrial] = []
        var running: [PlannedTrial] = []
        var interrupted = 0

        init(study: StudyDirectory, manifest: StudyManifest, trials: [PlannedTrial]) {
            for t in trials {
                switch t.state(in: study, sideName: manifest.sideName(t.side)) {
                case .finished(let r): finished.append(r)
                case .running: running.append(t)
                case .interrupted:
                    interrupted += 1
                    study.removeRecord(t.record)
                    pending.append(t)
                case .stale:
                    study.removeRecord(t.record)
                    pending.append(t)
                case .absent: pending.append(t)
                }
            }
        }
    }

    /// Results gathered as trials end (called serially by the executors).
    final class RunState: @unchecked Sendable {
        let lock = NSLock()
        private(set) var total: Int
        var done = 0
        var results: [TrialResult] = []
        var failures: [TrialFailure] = []
        /// Trials whose process failed because another process is writing their record.
        private var elsewhere: [PlannedTrial] = []
        init(total: Int) { self.total = total }

        /// The trials found running elsewhere since the last call.
        func takeElsewhere() -> [PlannedTrial] {
            lock.lock(); defer { lock.unlock() }
            defer { elsewhere = [] }
            return elsewhere
        }

        /// Trials handed to the executor so far.
        var started: Int { lock.lock(); defer { lock.unlock() }; return total }

        func add(total more: Int) { lock.lock(); total += more; lock.unlock() }

        /// Reads the trial's record (status 0, or 1 with a sealed failed record) or notes the
        /// failure; returns how many have ended, and of how many. A trial whose process failed
        /// while its record is finished or being written by another process (one that started
        /// the same trial between this sweep's look at the record and its start: a shard of
        /// another count, `study point`, a second point with the same config) is not a failure:
        /// the finished record is its result, a running one is waited for.
        func ended(_ trial: PlannedTrial, _ run: TrialRun, study: StudyDirectory, sideName: String) -> (Int, Int) {
            var result: TrialResult?, failure: String?, running = false
            let state = trial.state(in: study, sideName: sideName)
            if run.ranToItsEnd {
                switch state {
                case .finished(let r): result = r
                case .stale(let why): failure = "its record cannot be used: \(why)"
                default: failure = run.stderr.isEmpty ? "\(run.ending) without a finished record" : run.stderr
                }
            } else {
                switch state {
                case .finished(let r): result = r
                case .running: running = true
                default: failure = run.stderr.isEmpty ? run.ending : "\(run.ending): \(run.stderr)"
                }
            }
            lock.lock(); defer { lock.unlock() }
            done += 1
            if let result { results.append(result) }
            if let failure { failures.append(TrialFailure(trial: trial, message: failure)) }
            if running { elsewhere.append(trial) }
            return (done, total)
        }
    }
}
