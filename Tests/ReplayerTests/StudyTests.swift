import Foundation
import XCTest
import Engine
import Presentation
import Recorder
import Replayer

/// The study's application layer in process: the sweep file's forms and errors, the plan (grid,
/// seeded random draws, content-addressed trial ids), shards, the summary's statistics.
final class StudyTests: RecordingTestCase {
    static let config = """
        {"name": "tiny", "seed": 7, "data": {"dataset": "digits", "batchSize": 32},
         "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]},
         "optimizer": {"type": "sgd", "lr": 0.1}, "training": {"epochs": 1, "maxSteps": 3}}
        """

    /// Writes the config (and a second one) and `sweep` into the test directory; returns the sweep's path.
    func sweepFile(_ sweep: String) throws -> String {
        try Data(Self.config.utf8).write(to: dir.appendingPathComponent("a.json"))
        try Data(Self.config.replacingOccurrences(of: "\"tiny\"", with: "\"tiny-b\"").utf8).write(to: dir.appendingPathComponent("b.json"))
        let path = dir.appendingPathComponent("sweep.json").path
        try Data(sweep.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func error(_ sweep: String) -> String {
        do {
            _ = try SweepSpec.load(path: try sweepFile(sweep))
            return "no error"
        } catch let e as InputError { return e.message } catch { return "\(error)" }
    }

    func testTheIssuesFormsParse() throws {
        var s = try SweepSpec.load(path: try sweepFile("""
            {"name": "lr-batch", "a": "a.json", "b": "b.json",
             "space": {"optimizer.lr": {"grid": [0.1, 0.01]}, "data.batchSize": {"grid": [16, 32]}},
             "search": {"type": "grid"}, "seeds": 2, "objective": "gap"}
            """))
        XCTAssertEqual(s.sides, .pair(a: dir.appendingPathComponent("a.json").standardizedFileURL.path, b: dir.appendingPathComponent("b.json").standardizedFileURL.path))
        XCTAssertEqual(s.space.map(\.key), ["data.batchSize", "optimizer.lr"])
        XCTAssertEqual(s.search, .grid)
        XCTAssertEqual(s.seeds, .count(2))
        XCTAssertEqual(s.objective, .gap)
        XCTAssertEqual(s.explainTop, 3)

        s = try SweepSpec.load(path: try sweepFile("""
            {"base": "a.json", "profiles": ["pytorch", "keras"],
             "space": {"optimizer.lr": {"logUniform": [0.001, 0.1]}, "data.batchSize": {"choice": [16, 32]},
                       "optimizer.momentum": {"uniform": [0.5, 0.9]}},
             "search": {"type": "random", "trials": 5, "seed": 3}, "seeds": [1, 2, 3], "explain": {"top": 1}}
            """))
        XCTAssertEqual(s.name, "sweep")
        XCTAssertEqual(s.sides, .profiles(base: dir.appendingPathComponent("a.json").standardizedFileURL.path, a: .pytorch, b: .keras))
        XCTAssertEqual(s.search, .random(trials: 5, seed: 3))
        XCTAssertEqual(s.seeds, .list([1, 2, 3]))
        XCTAssertEqual(s.space.map(\.domain), [.choice([.number(16), .number(32)]), .logUniform(0.001, 0.1), .uniform(0.5, 0.9)])

        s = try SweepSpec.load(path: try sweepFile("""
            {"base": "a.json", "space": {"optimizer.lr": {"grid": [0.1]}}, "seeds": 4}
            """))
        XCTAssertEqual(s.objective, .variance)
        XCTAssertEqual(s.sideCount, 1)
        XCTAssertEqual(s.explainTop, 0)

        s = try SweepSpec.load(path: try sweepFile("""
            {"a": "a.json", "b": "b.json", "space": {"optimizer.lr": {"uniform": [0.01, 0.1]}},
             "search": {"type": "tune", "algorithm": "optuna", "trials": 12}}
            """))
        XCTAssertEqual(s.search, .tune(algorithm: .optuna, trials: 12, seed: 0))
    }

    /// Every bad sweep file is refused with the place (file:line:column, JSON path) and what to do.
    /// An edited or emptied study.json says what to do, not a decoder's dump.
    func testAnUnreadableStudyPlanSaysWhatToDo() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cwrepro-study-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let study = StudyDirectory(dir.path)
        for (text, why) in [("{bad", "not a study plan (invalid or edited JSON)"), ("", "the file is empty")] {
            try Data(text.utf8).write(to: URL(fileURLWithPath: study.manifestPath))
            XCTAssertThrowsError(try study.readManifest()) {
                XCTAssertEqual("\($0)", "\(study.manifestPath) cannot be read: \(why); restore it, or delete it and run the sweep again "
                               + "(the plan is made again and the finished trials' records are checked and kept), or give another study directory")
            }
        }
    }

    func testBadSweepFilesNameWhatIsWrongAndWhere() {
        let cases: [(String, String)] = [
            ("{\"a\": \"a.json\", \"b\": \"b.json\", \"space\": {\"optimizer.lr\": {\"grid\": [0.1]}}, \"seedz\": 2}",
             "sweep.json:1:76: seedz: unknown key (did you mean \"seeds\"?)"),
            ("{\"a\": \"a.json\", \"space\": {\"optimizer.lr\": {\"grid\": [0.1]}}}", "b: missing; give both \"a\" and \"b\""),
            ("{\"a\": \"a.json\", \"b\": \"b.json\", \"base\": \"a.json\", \"space\": {\"x\": {\"grid\": [1]}}}", "give either \"a\" and \"b\""),
            ("{\"space\": {\"optimizer.lr\": {\"grid\": [0.1]}}}", "missing the configs"),
            ("{\"base\": \"a.json\", \"profiles\": [\"pytorch\", \"pytorch\"], \"space\": {\"optimizer.lr\": {\"grid\": [0.1]}}}", "the two profiles are the same"),
            ("{\"base\": \"a.json\", \"profiles\": [\"pytorch\", \"jax\"], \"space\": {\"optimizer.lr\": {\"grid\": [0.1]}}}", "profiles[1]: expected one of pytorch, keras"),
            ("{\"a\": \"a.json\", \"b\": \"b.json\", \"space\": {}}", "no keys to sweep"),
            ("{\"a\": \"a.json\", \"b\": \"b.json\", \"space\": {\"seed\": {\"grid\": [1, 2]}}}", "space.seed: the study sets the seed of each trial: give \"seeds\" instead"),
            ("{\"a\": \"a.json\", \"b\": \"b.json\", \"space\": {\"optimizer.lr\": {\"grid\": [0.1, 0.1]}}}", "value 1 (0.1) appears twice"),
            ("{\"a\": \"a.json\", \"b\": \"b.json\", \"space\": {\"optimizer.lr\": {\"uniform\": [0.1, 0.01]}}, \"search\": {\"type\": \"random\", \"trials\": 2}}",
             "space.optimizer.lr.uniform: expected low < high"),
            ("{\"a\": \"a.json\", \"b\": \"b.json\", \"space\": {\"optimizer.lr\": {\"logUniform\": [0, 0.1]}}, \"search\": {\"type\": \"random\", \"trials\": 2}}",
             "a log-uniform range must be positive"),
            ("{\"a\": \"a.json\", \"b\": \"b.json\", \"space\": {\"optimizer.lr\": {\"uniform\": [0.01, 0.1]}}}", "a continuous range needs a random search"),
            ("{\"a\": \"a.json\", \"b\": \"b.json\", \"space\": {\"optimizer.lr\": {\"uniform\": [0.01, 0.1]}}, \"search\": {\"type\": \"grid\"}}",
             "a continuous range cannot be a grid"),
            ("{\"a\": \"a.json\", \"b\": \"b.json\", \"space\": {\"optimizer.lr\": {\"grid\": [0.1]}}, \"search\": {\"type\": \"random\"}}", "search.trials: missing"),
            ("{\"a\": \"a.json\", \"b\": \"b.json\", \"space\": {\"optimizer.lr\": {\"grid\": [0.1]}}, \"search\": {\"type\": \"tune\", \"algorithm\": \"skopt\", \"trials\": 3}}",
             "search.algorithm: unknown value \"skopt\"; expected one of random, optuna, hyperopt, bayesopt"),
            ("{\"a\": \"a.json\", \"b\": \"b.json\", \"space\": {\"optimizer.lr\": {\"grid\": [0.1]}}, \"seeds\": 2.0}", "seeds: expected an integer, found 2.0"),
            ("{\"a\": \"a.json\", \"b\": \"b.json\", \"space\": {\"optimizer.lr\": {\"grid\": [0.1]}}, \"seeds\": [1, 1]}", "a seed appears twice"),
            ("{\"base\": \"a.json\", \"space\": {\"optimizer.lr\": {\"grid\": [0.1]}}, \"objective\": \"gap\"}", "a gap needs two sides"),
            ("{\"a\": \"a.json\", \"b\": \"b.json\", \"space\": {\"optimizer.lr\": {\"grid\": [0.1]}}, \"objective\": \"maximize\"}", "objective: unknown value \"maximize\""),
            ("{\"a\": \"a.json\", \"b\": \"b.json\", \"set\": {\"optimizer.lr\": 0.1}, \"space\": {\"optimizer.lr\": {\"grid\": [0.1]}}}", "optimizer.lr is both swept and fixed"),
            ("{\"a\": \"a.json\", \"b\": \"b.json\", \"space\": {\"optimizer..lr\": {\"grid\": [0.1]}}}", "not a dotted config key"),
            ("{\"a\": \"a.json\", \"b\": \"b.json\", \"space\": {\"optimizer.lr\": {\"grid\": [0.1], \"choice\": [1]}}}", "space.optimizer.lr: give one of grid, choice, not 2"),
            ("{\"a\": \"a.json\", \"b\": \"b.json\", \"space\": {\"optimizer.lr\": [0.1, 0.01]}}", "space.optimizer.lr: expected an object, found an array"),
            ("{\"a\": \"a.json\", \"b\": \"b.json\", \"space\": {\"optimizer.lr\": {\"grid\": [0.1]}},}", "sweep.json:1:74: invalid JSON: trailing comma"),
            ("{\"a\": \"a.json\", \"b\": \"b.json\", \"space\": {\"optimizer.lr\": {\"grid\": [0.1]}}, \"explain\": {\"seeds\": 1}}",
             "explain.seeds: 1 is out of range; expected 2...1000"),
        ]
        for (sweep, expected) in cases {
            let message = error(sweep)
            XCTAssert(message.contains(expected), "\(sweep)\n  expected: \(expected)\n  got: \(message)")
        }
    }

    func testMissingConfigAndBadPointValuesAreReportedBeforeAnythingRuns() throws {
        var spec = try SweepSpec.load(path: try sweepFile("""
            {"a": "a.json", "b": "missing.json", "space": {"optimizer.lr": {"grid": [0.1]}}}
            """))
        XCTAssertThrowsError(try SweepPlan.make(spec)) { XCTAssert("\($0)".contains("missing.json"), "\($0)") }
        spec = try SweepSpec.load(path: try sweepFile("""
            {"a": "a.json", "b": "b.json", "space": {"data.batchSize": {"grid": [16, 23.5]}}}
            """))
        XCTAssertThrowsError(try SweepPlan.make(spec)) { e in
            let m = (e as? InputError)?.message ?? "\(e)"
            XCTAssert(m.contains("point data.batchSize=23.5, side a") && m.contains("data.batchSize: expected an integer"), m)
        }
    }

    /// Runs each trial as a shell command (`ChildProcess`), as the local executor runs `record`.
    struct ShellExecutor: TrialExecutor {
        var script: String
        func run(_ trials: [PlannedTrial], in study: StudyDirectory, finished: @escaping @Sendable (PlannedTrial, TrialRun) -> Void) throws {
            for t in trials {
                let out = try ChildProcess(arguments: ["-c", script], executable: "/bin/sh").run()
                finished(t, TrialRun(status: out.status, signal: out.signal, stderr: out.stderrText, seconds: 0))
            }
        }
    }

    /// A child started from the pool's threads (libdispatch's, which block most signals) starts
    /// with no signal blocked: a trial must die of SIGTERM or SIGINT like a `record` run by hand.
    func testChildrenOfThePoolBlockNoSignal() throws {
        let results = ChildProcess.pool(2, width: 2) { _ in
            try ChildProcess(arguments: ["-c", "grep SigBlk /proc/self/status"], executable: "/bin/sh").run()
        }
        for r in results {
            let out = String(decoding: try r.get().stdout, as: UTF8.self)
            XCTAssertEqual(out.trimmingCharacters(in: .whitespacesAndNewlines), "SigBlk:\t0000000000000000")
        }
        let killed = ChildProcess.pool(1, width: 1) { _ in
            try ChildProcess(arguments: ["-c", "kill -TERM $$; sleep 5"], executable: "/bin/sh").run()
        }
        XCTAssertEqual(try killed[0].get().ending, "killed by signal 15 (Terminated)")
    }

    /// A trial killed by a signal is named as one (not "exit status 9"); an exit status is an exit
    /// status, even 137; a trial that exits 0 without writing its record says so.
    func testTrialFailuresNameHowTheProcessEnded() throws {
        let sweep = try sweepFile("""
            {"base": "a.json", "space": {"optimizer.lr": {"grid": [0.1]}}, "objective": "variance", "seeds": 1}
            """)
        let cases = [("kill -9 $$", "killed by signal 9 (Killed)"), ("echo broke >&2; exit 137", "exit status 137: broke"),
                     ("exit 0", "exit status 0 without a finished record")]
        for (i, (script, expected)) in cases.enumerated() {
            let session = try SweepSession(sweepFile: sweep, directory: dir.appendingPathComponent("study\(i)").path, shard: .whole)
            let outcome = try session.run(executor: ShellExecutor(script: script))
            XCTAssertEqual(outcome.failures.map(\.message), [expected])
            XCTAssertNil(outcome.collected, "no summary of a study with a failed trial")
            XCTAssert(FileManager.default.fileExists(atPath: session.study.trialsPath), "trials.jsonl lists the finished trials (none)")
            XCTAssertEqual(try session.study.readTrials(), [])
        }
    }

    func testGridPlanOrderIdsAndRecords() throws {
        let spec = try SweepSpec.load(path: try sweepFile("""
            {"base": "a.json", "profiles": ["pytorch", "keras"],
             "space": {"optimizer.lr": {"grid": [0.1, 0.01]}, "data.batchSize": {"grid": [16, 32]}}, "seeds": 2}
            """))
        let plan = try SweepPlan.make(spec)
        XCTAssertEqual(plan.points.count, 4)
        XCTAssertEqual(plan.points.map { SweepPlan.label($0.values) },
                       ["data.batchSize=16 optimizer.lr=0.1", "data.batchSize=16 optimizer.lr=0.01",
                        "data.batchSize=32 optimizer.lr=0.1", "data.batchSize=32 optimizer.lr=0.01"])
        XCTAssertEqual(plan.seeds, [7, 8], "count seeds start at A's config seed")
        XCTAssertEqual(plan.trials.count, 16)
        XCTAssertEqual(plan.trials.map(\.trial), Array(0..<16))
        XCTAssertEqual(plan.trials.prefix(4).map { "\($0.point) \($0.seed) \($0.side.rawValue)" }, ["0 7 a", "0 7 b", "0 8 a", "0 8 b"])
        XCTAssertEqual(Set(plan.trials.map(\.id)).count, 16, "every trial trains something different")
        let t = plan.trials[1]
        XCTAssertEqual(t.changes.map(\.key), ["data.batchSize", "optimizer.lr", "seed", "semantics"])
        XCTAssertEqual(t.record, "runs/b-s7-\(t.id).cwr")
        // The id is the hash of the resolved config: the same config reached another way has the same id.
        let direct = try TrainConfig.load(path: dir.appendingPathComponent("a.json").path)
            .applying(try changes(["semantics=keras", "seed=7", "data.batchSize=16", "optimizer.lr=0.1"]))
        XCTAssertEqual(SweepPlan.id(direct), t.id)
        XCTAssertEqual(try SweepPlan.make(spec).trials, plan.trials, "planning is deterministic")
    }

    func testRandomSearchIsSeededInRangeAndRounded() throws {
        func plan(seed: Int) throws -> SweepPlan {
            try SweepPlan.make(try SweepSpec.load(path: try sweepFile("""
                {"a": "a.json", "b": "b.json",
                 "space": {"optimizer.lr": {"logUniform": [0.001, 0.5]}, "optimizer.momentum": {"uniform": [0.5, 0.9]},
                           "data.batchSize": {"grid": [16, 32]}},
                 "search": {"type": "random", "trials": 6, "seed": \(seed)}}
                """)))
        }
        let p = try plan(seed: 11)
        XCTAssertEqual(p.points.count, 12, "6 draws x 2 grid values")
        XCTAssertEqual(try plan(seed: 11).points, p.points)
        XCTAssertNotEqual(try plan(seed: 12).points, p.points)
        for point in p.points {
            guard case .number(let lr)? = point.values["optimizer.lr"], case .number(let m)? = point.values["optimizer.momentum"] else {
                return XCTFail("\(point)")
            }
            XCTAssert((0.001...0.5).contains(lr) && (0.5...0.9).contains(m), "\(point)")
            XCTAssertEqual(Double(String(format: "%.4g", lr)), lr, "4 significant digits")
        }
        // The first draw of SplitMix64(11), mapped to the log-uniform range: the plan is fixed by the file.
        var g = SplitMix64(seed: 11)
        let u = Double(g.next() >> 11) * 0x1p-53
        XCTAssertEqual(p.points[0].values["optimizer.lr"], .number(Double(String(format: "%.4g", exp(log(0.001) + u * (log(0.5) - log(0.001)))))!))
        // The lr values spread over the decades (log-uniform), not bunched at the top.
        let lrs = p.points.compactMap { if case .number(let d)? = $0.values["optimizer.lr"] { d } else { nil } }
        XCTAssertGreaterThan(lrs.max()! / lrs.min()!, 5)
    }

    func testShardsPartitionTheTrials() throws {
        let n = 3
        let shards = (1...n).map { Shard(index: $0, count: n) }
        for trial in 0..<20 { XCTAssertEqual(shards.filter { $0.contains(trial) }.count, 1) }
        XCTAssertEqual(try Shard.parse("2/4"), Shard(index: 2, count: 4))
        for bad in ["0/4", "5/4", "2", "a/b", "2/0", "1/2/3"] { XCTAssertThrowsError(try Shard.parse(bad), bad) }
        XCTAssertEqual(try Shard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "4"]), Shard(index: 3, count: 4))
        XCTAssertEqual(try Shard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_COUNT": "4"]), Shard(index: 1, count: 4))
        XCTAssertEqual(try Shard.fromEnvironment(["JOB_COMPLETION_INDEX": "2", "CWREPRO_SHARD_COUNT": "3"]), Shard(index: 3, count: 3))
        XCTAssertThrowsError(try Shard.fromEnvironment([:])) { XCTAssertEqual($0 as? Shard.ParseError, .noEnvironment) }
        XCTAssertThrowsError(try Shard.fromEnvironment(["JOB_COMPLETION_INDEX": "2"])) {
            XCTAssertEqual($0 as? Shard.ParseError, .badVariable(name: "CWREPRO_SHARD_COUNT", value: "(unset)"))
        }
        XCTAssertThrowsError(try Shard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "9", "SLURM_ARRAY_TASK_COUNT": "4"]))
    }

    /// The summary's numbers are the statistics toolkit's on the trials' accuracies.
    /// What a study caches of `explain --seeds`: built from the report, the gap with its interval
    /// and p-value, the verdict, the minimal set and each difference's effect survive a round trip
    /// through the cache file's JSON; a file of another shape does not decode (it is recomputed).
    func testStudyExplanationKeepsWhatTheStudyShowsThroughItsCache() throws {
        let a = try ExplainTests.config(optimizer: #"{"type": "adam", "lr": 0.01}"#, seed: 7)
        let b = try ExplainTests.config(optimizer: #"{"type": "adam", "lr": 0.0001}"#, seed: 99)
        var o = Explain.Options()
        o.parallel = 1
        o.seeds = 3
        let report = try Explain.run(a: a, b: b, options: o)
        let e = StudyExplanation(report)
        XCTAssertEqual(e.seeds, [7, 8, 9])
        XCTAssertEqual(e.verdict, .gap)
        XCTAssertEqual(e.gap.mean, report.gap.mean)
        XCTAssertEqual(e.gap.interval.low, report.gap.interval.low)
        XCTAssertEqual(e.gap.interval.high, report.gap.interval.high)
        XCTAssertEqual(e.gap.pValue, report.gap.pValue)
        XCTAssertTrue(e.gap.significant)
        XCTAssertEqual(e.minimalSet, ["optimizer.lr"])
        XCTAssertEqual(e.explainedShare, report.explainedShare)
        XCTAssertEqual(e.firstDivergence, report.firstDivergence)
        XCTAssertEqual(e.knobs.map(\.knob), ["optimizer.lr"])
        XCTAssertEqual(e.knobs[0].a, .number(0.01))
        XCTAssertEqual(e.knobs[0].b, .number(0.0001))
        XCTAssertEqual(e.knobs[0].accuracyEffect, report.knobs[0].accuracyEffect)
        XCTAssertEqual(e.knobs[0].firstDivergentTensor, "1.weight")
        XCTAssertTrue(e.knobs[0].inMinimalSet)

        let data = try JSONEncoder().encode(e)
        XCTAssertEqual(try JSONDecoder().decode(StudyExplanation.self, from: data), e)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let gap = try XCTUnwrap(json["gap"] as? [String: Any])
        XCTAssertEqual((gap["ci95"] as? [Double])?.count, 2)
        XCTAssertNotNil(gap["pValue"] as? Double)
        // The old cache (explain's single-seed report: the gap a number) is not this value.
        XCTAssertThrowsError(try JSONDecoder().decode(StudyExplanation.self, from: Data(#"{"gap": 0.1, "minimalSet": [], "knobs": []}"#.utf8)))
    }

    func testSummaryStatistics() throws {
        let spec = try SweepSpec.load(path: try sweepFile("""
            {"a": "a.json", "b": "b.json", "space": {"optimizer.lr": {"grid": [0.1, 0.01]}}, "seeds": 3}
            """))
        let plan = try SweepPlan.make(spec)
        let manifest = try StudyManifest(plan: plan, sweep: .object([:]))
        let accuracy: [StudySide: [[Double]]] = [.a: [[0.80, 0.82, 0.81], [0.50, 0.55, 0.60]], .b: [[0.60, 0.62, 0.64], [0.52, 0.56, 0.58]]]
        let results = plan.trials.map { t -> TrialResult in
            let seedIndex = plan.seeds.firstIndex(of: t.seed)!
            let acc = accuracy[t.side]![t.point][seedIndex]
            return TrialResult(trial: t.trial, id: t.id, point: t.values, side: t.side, sideName: t.side.rawValue, seed: t.seed, record: t.record,
                               status: .complete, failure: nil, digest: "0", steps: 3, testAccuracy: acc, correct: nil, total: nil,
                               perClassAccuracy: [acc, 1 - acc], finalLoss: 1, seconds: 0.5 + Double(t.trial) / 100)
        }
        let s = StudySummary.make(manifest, results: results)
        XCTAssertEqual(s.points.count, 2)
        XCTAssertEqual(s.complete, 12)
        XCTAssertEqual(s.missing, 0)
        let p0 = s.points[0]
        let expected = try Statistics.compare(accuracy[.a]![0], accuracy[.b]![0])
        XCTAssertEqual(p0.gap?.comparison, expected)
        XCTAssertEqual(p0.gap!.mean, 0.62 - 0.81, accuracy: 1e-12)
        XCTAssert(p0.gap!.significant, "a 19-point gap with 1-point spreads is significant")
        XCTAssertFalse(s.points[1].gap!.significant)
        XCTAssertEqual(p0.sides[0].interval, try Statistics.meanInterval(accuracy[.a]![0]))
        XCTAssertEqual(p0.gap!.perClass[0], 0.62 - 0.81, accuracy: 1e-12)
        XCTAssertEqual(p0.gap!.perClass[1], 0.81 - 0.62, accuracy: 1e-12)
        XCTAssertEqual(s.ranking, [0, 1], "largest |gap| first")
        // A failed trial counts as failed and leaves the statistics of the others.
        var partial = results
        partial[0].status = .failed
        partial[0].testAccuracy = nil
        let t = StudySummary.make(manifest, results: partial)
        XCTAssertEqual(t.failed, 1)
        XCTAssertEqual(t.points[0].sides[0].accuracy?.count, 2)
        XCTAssertEqual(t.points[0].sides[0].failed, 1)
        // One seed: a gap without interval or test.
        let one = StudySummary.make(manifest, results: results.filter { $0.seed == plan.seeds[0] })
        XCTAssertNil(one.points[0].gap?.comparison)
        XCTAssertEqual(one.points[0].gap!.mean, 0.60 - 0.80, accuracy: 1e-12)
        XCTAssertEqual(one.missing, 8)
        // The JSON summary carries the gap as explain --json does (a fraction, ci95, pValue, significant).
        let json = try JSONSerialization.jsonObject(with: Data(s.json.utf8)) as! [String: Any]
        let points = json["points"] as! [[String: Any]]
        let gap = points[0]["gap"] as! [String: Any]
        XCTAssertEqual(gap["mean"] as! Double, 0.62 - 0.81, accuracy: 1e-12)
        XCTAssertEqual((gap["ci95"] as! [Double]).count, 2)
        XCTAssertEqual(gap["significant"] as? Bool, true)
        XCTAssertNotNil(gap["pValue"] as? Double)
    }

    func testDivergenceMapMeasuresRelativeErrorInUlps() {
        XCTAssertEqual(DivergenceMap.relativeError(1, 1), 0)
        XCTAssertEqual(DivergenceMap.relativeError(1, Double(Float(1).nextUp)), 1, accuracy: 1e-6, "one float32 step at 1 is one ulp")
        XCTAssertEqual(DivergenceMap.relativeError(2, -2), 2 / Double(Float.ulpOfOne), accuracy: 1)
        XCTAssertEqual(DivergenceMap.relativeError(1, .nan), .infinity)
        func bytes(_ xs: [Float]) -> [UInt8] { xs.withUnsafeBytes { Array($0) } }
        XCTAssertEqual(DivergenceMap.relativeError(bytes([1, 2, 4]), bytes([1, 2, 4])), 0)
        XCTAssertEqual(DivergenceMap.relativeError(bytes([1, 2, 4]), bytes([1, Float(2).nextUp.nextUp, 4]))!, 2, accuracy: 1e-6, "two float32 steps at 2 (2^-22 each): 2^-22 relative, two ulps")
        XCTAssertNil(DivergenceMap.relativeError(bytes([1, 2]), bytes([1])))
    }

    /// Two records of the same config, one with a changed momentum: the map is 0 up to the first
    /// divergence, measured from the kept values after it, and the first divergence is marked.
    func testDivergenceMapOfTwoRecords() throws {
        let base = """
            {"name": "m", "seed": 3, "data": {"dataset": "digits", "batchSize": 32},
             "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 16}, {"type": "relu"}, {"type": "dense", "units": 10}]},
             "optimizer": {"type": "sgd", "lr": 0.1, "momentum": MOMENTUM}, "training": {"epochs": 1, "maxSteps": 6},
             "record": {"level": "grads", "keepTensors": 4}}
            """
        let a = try recordConfig(base.replacingOccurrences(of: "MOMENTUM", with: "0.9"), name: "a.cwr", configName: "a.json")
        let b = try recordConfig(base.replacingOccurrences(of: "MOMENTUM", with: "0.8"), name: "b.cwr", configName: "b.json")
        let c = try RecordPairReport.load(a, b)
        let m = c.map
        XCTAssertEqual(m.steps, [initStep, 0, 1, 2, 3, 4, 5])
        XCTAssertEqual(m.rows[0], DivergenceMap.Row(name: "loss", role: .loss))
        XCTAssertEqual(c.diff.firstDivergentStep, 1, "momentum's first step is the plain gradient in both")
        let first = try XCTUnwrap(m.first)
        XCTAssertEqual(m.steps[first.column], 1)
        XCTAssertEqual(m.rows[first.row].name, c.diff.firstDivergence?.name)
        for column in 0..<2 { for row in m.rows.indices { XCTAssert(m.cells[row][column] == nil || m.cells[row][column] == 0, "\(m.rows[row]) step \(m.steps[column])") } }
        XCTAssertGreaterThan(m.cells[first.row][first.column] ?? 0, 0)
        XCTAssertGreaterThan(m.measures[.values] ?? 0, 0, "steps 0-2 kept their values")
        XCTAssertGreaterThan(m.measures[.statistics] ?? 0, 0, "steps 3-5 kept only hashes and statistics (schema 2)")
        XCTAssertEqual(m.measures[.unmeasured] ?? 0, 0, "schema-2 statistics measure every differing tensor")
        XCTAssertGreaterThan(m.cells[0][3] ?? 0, 0, "the loss differs at step 2 (measured from its float32 bits)")
        let page = c.htmlPage(generator: "test")
        XCTAssert(page.contains("data-kind=\"heatmap\"") && page.contains("first divergence: \(m.rows[first.row].name) at step 1"), page)
    }
}
