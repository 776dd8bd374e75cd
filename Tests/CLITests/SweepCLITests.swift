import Foundation
import GRDB
import XCTest

/// `cwrepro sweep` and `cwrepro study collect` end to end: a small study (2 points x 2 seeds x
/// 2 sides = 8 trials on the digits data) run by the local executor, by Ray on a local Ray
/// instance, and in two shards merged by `study collect`, with identical records; a sweep killed
/// with SIGKILL and run again finishes only the missing trials; bad input exits 2.
final class SweepCLITests: CLITestCase {
    /// The MLP of the tour under both profiles, 40 steps.
    /// mlp-digits trains 2 epochs of 45 steps: `epochs` more make room for `steps` above 90.
    func sweepFile(name: String = "small", steps: Int = 40, epochs: Int = 2, extra: String = "") throws -> String {
        try write("\(name).json", """
            {"name": "\(name)", "base": "\(CLI.repoRoot.path)/examples/mlp-digits.json", "profiles": ["pytorch", "keras"],
             "set": {"training.maxSteps": \(steps), "training.epochs": \(epochs)},
             "space": {"optimizer.lr": {"grid": [0.1, 0.03]}},
             "seeds": 2, "objective": "gap"\(extra)}
            """)
    }

    /// trials.jsonl as (id -> line).
    func trials(_ study: String) throws -> [String: [String: Any]] {
        let text = try String(contentsOfFile: study + "/trials.jsonl", encoding: .utf8)
        var out: [String: [String: Any]] = [:]
        for line in text.split(separator: "\n") {
            let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            out[try XCTUnwrap(o["id"] as? String)] = o
        }
        return out
    }

    func digests(_ study: String) throws -> [String: String] { try trials(study).mapValues { $0["digest"] as? String ?? "?" } }

    /// summary.json without the wall-clock fields (the only ones that differ between runs).
    func summaryWithoutTimes(_ study: String) throws -> String {
        func strip(_ v: Any) -> Any {
            if let o = v as? [String: Any] {
                return o.filter { !["seconds", "trainingSeconds"].contains($0.key) }.mapValues(strip)
            }
            if let a = v as? [Any] { return a.map(strip) }
            return v
        }
        let o = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: study + "/summary.json")))
        return String(decoding: try JSONSerialization.data(withJSONObject: strip(o), options: [.sortedKeys, .prettyPrinted]), as: UTF8.self)
    }

    /// The venv Python with ray, and PYTHONPATH for the cwrepro package; nil (skip) when absent.
    func rayEnvironment() throws -> [String: String] {
        let python = CLI.repoRoot.appendingPathComponent(".venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw XCTSkip("Ray executor test skipped: no \(python) (make venv creates it)")
        }
        let probe = try CLI.run(["-c", "import ray; print(ray.__version__)"], executable: URL(fileURLWithPath: python))
        guard probe.status == 0 else { throw XCTSkip("Ray executor test skipped: ray is not importable in \(python): \(probe.stderr.suffix(300))") }
        return ["CWREPRO_PYTHON": python, "PYTHONPATH": CLI.repoRoot.appendingPathComponent("python").path, "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"]
    }

    /// Issue 15, "done means" 1: the same 8 trials' records have identical final digests whether
    /// the local pool, Ray on a local Ray instance, or two shards (one given by the Slurm array
    /// variables) merged by `study collect` ran them; the sharded study's summary equals the local one.
    func testLocalRayAndShardsRecordIdenticalTrials() throws {
        let sweep = try sweepFile()
        let local = path("local")
        var r = try CLI.run(["sweep", sweep, "-o", local, "--jobs", "2", "--no-explain"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssert(r.stdout.contains("sweep small: 8 trials: 8 run now, 0 finished before"), r.stdout)
        XCTAssert(r.stdout.contains("study small: 2 points x 2 seeds x 2 sides (A pytorch vs B keras); 8 complete, 0 failed, 0 missing trials"), r.stdout)
        XCTAssert(r.stdout.contains("gap B-A [95% CI]"), r.stdout)
        let lines = try trials(local)
        XCTAssertEqual(lines.count, 8)
        for (id, line) in lines {
            for key in ["trial", "point", "side", "seed", "record", "digest", "testAccuracy"] { XCTAssertNotNil(line[key], "\(id): \(key)") }
            let record = local + "/" + (line["record"] as! String)
            XCTAssert(FileManager.default.fileExists(atPath: record), record)
            XCTAssert((line["record"] as! String).hasSuffix("-\(id).cwr"))
        }
        XCTAssertEqual(Set(lines.values.map { $0["seed"] as! Int }), [1234, 1235])
        XCTAssertEqual(Set(lines.values.map { $0["side"] as! String }), ["a", "b"])
        XCTAssertEqual(Set(lines.values.map { ($0["point"] as! [String: Double])["optimizer.lr"]! }), [0.1, 0.03])
        // Each trial's record is an ordinary record: it replays bit-identical.
        let one = local + "/" + (lines.values.first!["record"] as! String)
        r = try CLI.run(["replay", one])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssert(r.stdout.contains("bit-identical"), r.stdout)
        // Running it again finds every trial finished.
        r = try CLI.run(["sweep", sweep, "-o", local, "--no-explain"])
        XCTAssert(r.stdout.contains("8 trials: 0 run now, 8 finished before"), r.stdout)

        // Two shards: the first by --shard 1/2, the second by the Slurm array variables, in another directory.
        let sharded = path("sharded"), elsewhere = path("elsewhere")
        r = try CLI.run(["sweep", sweep, "-o", sharded, "--shard", "1/2", "--no-explain"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssert(r.stdout.contains("4 trials (shard 1/2): 4 run now") && r.stdout.contains("cwrepro study collect"), r.stdout)
        r = try CLI.run(["study", "collect", sharded, "--no-explain"])
        XCTAssertEqual(r.status, 1, "half the trials are missing: \(r.stdout)")
        XCTAssert(r.stdout.contains("4 of 8 trials have no finished record yet"), r.stdout)
        r = try CLI.run(["sweep", sweep, "-o", elsewhere, "--shard", "auto", "--no-explain"],
                        env: ["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssert(r.stdout.contains("4 trials (shard 2/2): 4 run now"), r.stdout)
        r = try CLI.run(["study", "collect", sharded, elsewhere, "--no-explain"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssert(r.stdout.contains("copied 4 finished records"), r.stdout)
        XCTAssertEqual(try digests(sharded), try digests(local))
        XCTAssertEqual(try summaryWithoutTimes(sharded), try summaryWithoutTimes(local))

        // Ray: each trial a Ray task on a local Ray instance with 2 CPUs.
        let env = try rayEnvironment()
        let ray = path("ray")
        r = try CLI.run(["sweep", sweep, "-o", ray, "--executor", "ray", "--jobs", "2", "--no-explain"], env: env)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssert(r.stdout.contains("8 trials: 8 run now"), r.stdout)
        XCTAssertEqual(try digests(ray), try digests(local))
        XCTAssertEqual(try summaryWithoutTimes(ray), try summaryWithoutTimes(local))
    }

    /// Status of a record, read directly (cheap to poll): "complete", "running", or nil before it exists.
    func status(_ record: String) -> String? { progress(record)?.status }

    /// Status and committed training steps of a record.
    func progress(_ record: String) -> (status: String, steps: Int)? {
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(0.25)
        guard let db = try? DatabaseQueue(path: record, configuration: config) else { return nil }
        defer { try? db.close() }
        return try? db.read { db in
            guard let s = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'status'") else { return nil }
            return (s, try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM steps WHERE step >= 0") ?? 0)
        }
    }

    func records(_ study: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: study + "/runs")) ?? []).filter { $0.hasSuffix(".cwr") }.map { study + "/runs/" + $0 }
    }

    /// Issue 15, "done means" 3: a sweep killed with SIGKILL while trials run leaves finished
    /// records and unfinished ones; running it again trains only the unfinished and missing
    /// trials (the finished records are not touched), and every record ends bit-identical to a
    /// sweep that was never interrupted.
    func testKilledSweepFinishesOnlyTheMissingTrials() throws {
        // 600 steps (14 epochs of mlp-digits' 45): without the epochs a trial stops at 90 steps, a
        // quarter of a second on an idle machine, and ends before its watcher sees the kill.
        let sweep = try sweepFile(name: "kill", steps: 600, epochs: 14)
        let study = path("killed")
        let log = dir.appendingPathComponent("sweep.log")
        var p = Process()
        // Kill once two trials are finished and another is under way but far from done (5 to 399
        // of its 600 steps committed: at least 201 steps, about 0.4 s on an idle machine, left to
        // train, many times the 0.02 s its watcher needs to notice the kill). A loaded machine can
        // stall this poller past the window: then the sweep ends unkilled, and it is tried again
        // in a new directory (at most three times).
        for _ in 0..<3 {
            try? FileManager.default.removeItem(atPath: study)
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            p = Process()
            p.executableURL = CLI.binary
            p.arguments = ["sweep", sweep, "-o", study, "--jobs", "2", "--no-explain"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = try FileHandle(forWritingTo: log)
            try p.run()
            let deadline = Date().addingTimeInterval(120)
            var killed = false
            while Date() < deadline && p.isRunning {
                let states = records(study).compactMap(progress)
                if states.filter({ $0.status == "complete" }).count >= 2, states.contains(where: { $0.status == "running" && (5..<400).contains($0.steps) }) {
                    kill(p.processIdentifier, SIGKILL)
                    killed = true
                    break
                }
                Thread.sleep(forTimeInterval: 0.02)
            }
            p.waitUntilExit()
            if killed { break }
        }
        let logText = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        XCTAssertEqual(p.terminationReason, .uncaughtSignal, "the sweep was killed, not finished: \(logText)")
        XCTAssertEqual(p.terminationStatus, SIGKILL)
        // The killed sweep's trials end with it (they watch their parent) and leave their records unfinished.
        Thread.sleep(forTimeInterval: 1.5)
        var finishedAtKill: [String: Date] = [:]
        for c in records(study) where status(c) == "complete" {
            finishedAtKill[c] = try FileManager.default.attributesOfItem(atPath: c)[.modificationDate] as? Date
        }
        XCTAssertGreaterThanOrEqual(finishedAtKill.count, 2)
        let unfinished = records(study).filter { status($0) == "running" }
        XCTAssertFalse(unfinished.isEmpty, "a trial was killed mid-run")

        let r = try CLI.run(["sweep", sweep, "-o", study, "--jobs", "2", "--no-explain"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let finished = finishedAtKill.count
        XCTAssert(r.stdout.contains("8 trials: \(8 - finished) run now (\(unfinished.count) left unfinished by a killed sweep), \(finished) finished before"), r.stdout)
        for (record, modified) in finishedAtKill {
            XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: record)[.modificationDate] as? Date, modified, "\(record) was left alone")
        }
        XCTAssertEqual(records(study).map { status($0) }, Array(repeating: "complete", count: 8))

        let clean = path("clean")
        XCTAssertEqual(try CLI.run(["sweep", sweep, "-o", clean, "--jobs", "2", "--no-explain"]).status, 0)
        XCTAssertEqual(try digests(study), try digests(clean))
    }

    /// Two sweeps of the same trials never run at once: while an unsharded sweep runs, a second one
    /// on its directory (whole or a shard) is refused with exit 2 before it touches anything; a
    /// shard started twice is refused, while another shard of the same study runs beside it.
    func testConcurrentSweepsOfOneStudyAreRefused() throws {
        let sweep = try sweepFile(name: "busy", steps: 900, epochs: 21)
        let study = path("busy")
        func start(_ extra: [String]) throws -> Process {
            let p = Process()
            p.executableURL = CLI.binary
            p.arguments = ["sweep", sweep, "-o", study, "--jobs", "1", "--no-explain"] + extra
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            return p
        }
        /// Waits until a sweep holds the lock file `name` of the study (a shared lock cannot be had).
        func waitForLock(_ name: String) {
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                let fd = open(study + "/" + name, O_RDONLY | O_CLOEXEC)
                if fd >= 0 {
                    defer { close(fd) }
                    if flock(fd, LOCK_SH | LOCK_NB) != 0 { return }
                    flock(fd, LOCK_UN)
                }
                Thread.sleep(forTimeInterval: 0.02)
            }
            XCTFail("no sweep took \(name)")
        }
        let whole = try start([])
        waitForLock(".sweep.lock")
        for extra in [[], ["--shard", "2/2"]] {
            let r = try CLI.run(["sweep", sweep, "-o", study, "--no-explain"] + extra)
            XCTAssertEqual(r.status, 2, "\(extra): \(r.stderr)")
            XCTAssert(r.stderr.contains("\(study) is in use by another cwrepro sweep") && r.stderr.contains("finished trials are kept"), r.stderr)
        }
        XCTAssert(whole.isRunning, "the first sweep was left alone")
        kill(whole.processIdentifier, SIGKILL)
        whole.waitUntilExit()

        let first = try start(["--shard", "1/2"])
        waitForLock("shards/.1-of-2.lock")
        let again = try CLI.run(["sweep", sweep, "-o", study, "--no-explain", "--shard", "1/2"])
        XCTAssertEqual(again.status, 2, again.stderr)
        XCTAssert(again.stderr.contains("shard 1/2 of \(study) is already being run by another cwrepro sweep"), again.stderr)
        let wholeNow = try CLI.run(["sweep", sweep, "-o", study, "--no-explain"])
        XCTAssertEqual(wholeNow.status, 2, wholeNow.stderr)
        XCTAssert(wholeNow.stderr.contains("is in use by another cwrepro sweep"), wholeNow.stderr)
        // The other shard runs beside it.
        let second = try CLI.run(["sweep", sweep, "-o", study, "--no-explain", "--shard", "2/2"])
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssert(second.stdout.contains("4 trials (shard 2/2): "), second.stdout)
        first.waitUntilExit()
        XCTAssertEqual(first.terminationStatus, 0)
        let collect = try CLI.run(["study", "collect", study, "--no-explain"])
        XCTAssertEqual(collect.status, 0, collect.stderr)
        XCTAssertEqual(records(study).map { status($0) }, Array(repeating: "complete", count: 8))
    }

    /// A swept value that `record` would refuse (a layer size of 0, a key the layer does not
    /// have, a batch larger than the data with dropLast) is refused when the sweep is planned,
    /// naming the point and side, before any trial runs or a study directory is made. A trial that
    /// fails only once it runs (here: a last layer that does not match the data's 10 classes)
    /// fails the sweep (exit 1) with its reason, and trials.jsonl lists the trials that finished.
    func testSweptValuesAreCheckedWhenPlanned() throws {
        let base = "\(CLI.repoRoot.path)/examples/mlp-digits.json"
        let cases: [(String, String)] = [
            ("\"model.layers.1.units\": {\"grid\": [8, 0]}", "point model.layers.1.units=0, side a (pytorch), seed 1234: model.layers[1].units: 0 must be at least 1"),
            ("\"model.layers.0.units\": {\"grid\": [8]}", "model.layers[0].units: unknown key"),
            ("\"data.batchSize\": {\"grid\": [32, 5000]}", "data.batchSize: 5000 with data.dropLast leaves no full batch"),
            ("\"optimizer.lr\": {\"grid\": [0.3, 0.30000000000000004]}",
             "points optimizer.lr=0.3 and optimizer.lr=0.30000000000000004 train the same config"),
        ]
        for (i, (space, expected)) in cases.enumerated() {
            let sweep = try write("planned\(i).json", """
                {"name": "planned", "base": "\(base)", "profiles": ["pytorch", "keras"], "set": {"training.maxSteps": 3, "data.dropLast": true},
                 "space": {\(space)}, "seeds": 1, "objective": "gap"}
                """)
            let r = try CLI.run(["sweep", sweep, "-o", path("planned\(i)"), "--no-explain"])
            XCTAssertEqual(r.status, 2, r.stderr)
            XCTAssert(r.stderr.contains(expected), "expected: \(expected)\n  got: \(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("planned\(i)")), "nothing is made for a refused plan")
        }
        // A trial over this machine's memory limit is refused with the plan (local executor).
        let huge = try write("huge.json", """
            {"name": "huge", "base": "\(base)", "set": {"training.maxSteps": 3},
             "space": {"model.layers.1.units": {"grid": [16, 20000000]}}, "seeds": 1, "objective": "variance"}
            """)
        let memory = try CLI.run(["sweep", huge, "-o", path("huge"), "--no-explain"], env: ["CWREPRO_MEMORY_LIMIT": "2G"])
        XCTAssertEqual(memory.status, 2, memory.stderr)
        XCTAssert(memory.stderr.contains("point model.layers.1.units=20000000, side a") && memory.stderr.contains("the run needs an estimated"), memory.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("huge")))

        let sweep = try write("classes.json", """
            {"name": "classes", "base": "\(base)", "profiles": ["pytorch", "keras"], "set": {"training.maxSteps": 3},
             "space": {"model.layers.3.units": {"grid": [10, 5]}}, "seeds": 1, "objective": "gap"}
            """)
        let study = path("classes")
        let r = try CLI.run(["sweep", sweep, "-o", study, "--no-explain", "--jobs", "1"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssert(r.stdout.contains("the last layer outputs [5], the data has 10 classes"), r.stdout)
        XCTAssertEqual(try trials(study).count, 2, "the two trials at units=10 finished and are listed")
        XCTAssertFalse(FileManager.default.fileExists(atPath: study + "/summary.json"), "no summary of an unfinished study")
        // A report reads the study without writing into it; a file where the study keeps a
        // directory is named (exit 2), not a raw Foundation error.
        try FileManager.default.removeItem(atPath: study + "/trials.jsonl")
        let report = try CLI.run(["report", study, "-o", path("classes.html")])
        XCTAssertEqual(report.status, 0, report.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: study + "/trials.jsonl"), "report wrote nothing into the study")
        XCTAssert(FileManager.default.createFile(atPath: study + "/shards", contents: Data()))
        let blocked = try CLI.run(["sweep", sweep, "-o", study, "--no-explain", "--shard", "1/2"])
        XCTAssertEqual(blocked.status, 2, blocked.stderr)
        XCTAssert(blocked.stderr.contains("\(study)/shards is a file where the study keeps a directory"), blocked.stderr)
    }

    /// Shards of different counts (1/2 and 1/3 share trials 0 and 6) run side by side: a trial the
    /// other shard is writing is waited for and read, not failed on its existing record.
    func testShardsOfDifferentCountsShareTrials() throws {
        let sweep = try sweepFile(name: "counts", steps: 300, epochs: 7)
        let study = path("counts")
        let other = Process()
        other.executableURL = CLI.binary
        other.arguments = ["sweep", sweep, "-o", study, "--jobs", "1", "--no-explain", "--shard", "1/3"]
        let log = dir.appendingPathComponent("other.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        other.standardOutput = try FileHandle(forWritingTo: log)
        other.standardError = other.standardOutput
        try other.run()
        let r = try CLI.run(["sweep", sweep, "-o", study, "--jobs", "1", "--no-explain", "--shard", "1/2"])
        other.waitUntilExit()
        let otherLog = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual(other.terminationStatus, 0, otherLog)
        XCTAssertFalse((r.stdout + r.stderr + otherLog).contains("already exists"), r.stdout + r.stderr + otherLog)
        XCTAssertEqual(records(study).map { status($0) }.filter { $0 == "complete" }.count, 5, "trials 0, 2, 3, 4, 6")
    }

    /// Long commands print progress lines when stderr is not a terminal (CI logs): every 10% (or
    /// 10 s); quick ones stay quiet unless CWREPRO_PROGRESS=lines.
    func testProgressLinesForLogs() throws {
        let config = CLI.repoRoot.appendingPathComponent("examples/mlp-digits.json").path
        var r = try CLI.run(["record", config, "-o", path("quiet.cwr")])
        XCTAssertEqual(r.status, 0)
        XCTAssertFalse(r.stderr.contains("record:"), "a run under 2 s prints no progress: \(r.stderr)")
        r = try CLI.run(["record", config, "-o", path("lines.cwr")], env: ["CWREPRO_PROGRESS": "lines"])
        XCTAssertEqual(r.status, 0)
        let lines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("record: ") }
        XCTAssertGreaterThanOrEqual(lines.count, 9, r.stderr)
        XCTAssert(lines.contains { $0.hasPrefix("record: 9/90 steps (10%), loss ") && $0.contains("elapsed, about") }, r.stderr)
        XCTAssert(lines.last!.hasPrefix("record: 90/90 steps (100%) in "), r.stderr)
        XCTAssertFalse(r.stderr.contains("\r") || r.stderr.contains("\u{1B}["), "no terminal control sequences in a log")
        r = try CLI.run(["variance", config, "--runs", "3", "--vary", "seed", "--set", "training.maxSteps=10"], env: ["CWREPRO_PROGRESS": "lines"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssert(r.stderr.contains("variance: 3/3 runs (100%) in "), r.stderr)
        r = try CLI.run(["sweep", try sweepFile(steps: 10), "-o", path("s"), "--no-explain"], env: ["CWREPRO_PROGRESS": "lines"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssert(r.stderr.contains("sweep: 8/8 trials (100%) in "), r.stderr)
        XCTAssert(r.stderr.contains("sweep: 1/8 trials (12%), trial "), r.stderr)
        r = try CLI.run(["explain", config, "--profiles", "pytorch,keras"], env: ["CWREPRO_PROGRESS": "lines"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssert(r.stderr.contains("explain: training A and B on 8 seeds"), r.stderr)
        XCTAssert(r.stderr.contains("explain: done in "), r.stderr)
    }

    func testBadInputExits2WithTheReason() throws {
        let sweep = try sweepFile(steps: 5)
        let cases: [([String], [String: String], String)] = [
            (["sweep", path("nope.json")], [:], "sweep file not found: \(path("nope.json"))"),
            (["sweep", try write("bad.json", "{\"base\": \"x.json\",}")], [:], "bad.json:1:"),
            (["sweep", sweep, "--shard", "3/2"], [:], "--shard 3/2: expected I/N with 1 <= I <= N"),
            (["sweep", sweep, "--shard", "auto"], [:], "--shard auto: none of SLURM_ARRAY_TASK_ID"),
            (["sweep", sweep, "--address", "ray://x:10001"], [:], "--address is for --executor ray"),
            (["sweep", sweep, "--jobs", "0"], [:], "--jobs 0: give at least 1"),
            (["sweep", try write("tune.json", """
                {"a": "\(CLI.repoRoot.path)/examples/mlp-digits.json", "b": "\(CLI.repoRoot.path)/examples/mlp-digits.json",
                 "space": {"optimizer.lr": {"uniform": [0.01, 0.1]}}, "search": {"type": "tune", "trials": 2}}
                """), "-o", path("t")], [:], "search type tune chooses points with Ray Tune: give --executor ray"),
            (["study", "collect", dir.path], [:], "is not a study directory (no study.json)"),
            (["report", path("nope.cwr")], [:], "nope.cwr"),
        ]
        for (args, env, expected) in cases {
            let r = try CLI.run(args, env: env)
            XCTAssertEqual(r.status, args[0] == "report" ? 3 : 2, "\(args): \(r.stderr)")
            XCTAssert(r.stderr.contains(expected), "\(args)\n  expected: \(expected)\n  got: \(r.stderr)")
        }
        // A study directory holds one sweep: another sweep file is refused, nothing is touched.
        let study = path("one")
        XCTAssertEqual(try CLI.run(["sweep", sweep, "-o", study, "--no-explain"]).status, 0)
        let other = try sweepFile(name: "other", steps: 6)
        let r = try CLI.run(["sweep", other, "-o", study, "--no-explain"])
        XCTAssertEqual(r.status, 2)
        XCTAssert(r.stderr.contains("holds a study of another sweep") && r.stderr.contains("give another study directory"), r.stderr)
        // --executor ray with a Python that has no ray: the reason, exit 1.
        let noRay = try CLI.run(["sweep", sweep, "-o", path("r"), "--executor", "ray", "--python", "/usr/bin/python3", "--no-explain"],
                                env: ["PYTHONPATH": CLI.repoRoot.appendingPathComponent("python").path])
        XCTAssertEqual(noRay.status, 1, noRay.stderr)
        XCTAssert(noRay.stderr.contains("ray is not installed for /usr/bin/python3") || noRay.stderr.contains("the ray executor failed"), noRay.stderr)
    }
}
