import Foundation
import GRDB
import XCTest

/// `record --resume`: a recording killed (SIGKILL) at random points and resumed each time ends
/// bit-identical, step for step, to a recording that was never interrupted; a record being
/// written cannot be opened by a second writer.
final class ResumeCLITests: CLITestCase {
    /// ~2,880 steps of a small MLP with momentum (optimizer state matters), shuffled epochs
    /// (the data-order position matters) and a checkpoint every 50 steps.
    static let config = """
        {"name": "resume", "seed": 11, "data": {"dataset": "digits", "batchSize": 8},
         "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 48}, {"type": "relu"}, {"type": "dense", "units": 10}]},
         "optimizer": {"type": "sgd", "lr": 0.05, "momentum": 0.9}, "schedule": {"stepSize": 15, "gamma": 0.5},
         "training": {"epochs": 16}, "record": {"checkpointEvery": 50}}
        """

    struct Summary: Equatable { let status: String; let digests: [String]; let losses: [Double]; let evaluations: String }

    func summary(_ record: String) throws -> Summary {
        let r = try CLI.run(["show", record, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let steps = try XCTUnwrap(o["steps"] as? [[String: Any]])
        let evals = try JSONSerialization.data(withJSONObject: o["evaluations"] ?? [], options: [.sortedKeys])
        return Summary(status: o["status"] as? String ?? "?", digests: steps.map { $0["digest"] as? String ?? "?" },
                       losses: steps.map { $0["loss"] as? Double ?? .nan }, evaluations: String(decoding: evals, as: UTF8.self))
    }

    func status(_ record: String) throws -> (String, Int)? {
        guard FileManager.default.fileExists(atPath: record) else { return nil }
        let r = try CLI.run(["show", record, "--json"])
        guard r.status == 0, let o = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else { return nil }
        return (o["status"] as? String ?? "?", (o["steps"] as? [Any])?.count ?? 0)
    }

    /// Committed training steps, read directly (cheap enough to poll); nil before the schema exists.
    func committedSteps(_ path: String) -> Int? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(0.25)
        guard let db = try? DatabaseQueue(path: path, configuration: config) else { return nil }
        defer { try? db.close() }
        return try? db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM steps WHERE step >= 0") }
    }

    func testKilledAtRandomPointsAndResumedIsBitIdentical() throws {
        let cfg = try write("resume.json", Self.config)
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", path("full.cwr")]).status, 0)
        let full = try summary(path("full.cwr"))
        let total = 2880
        XCTAssertEqual(full.digests.count, total + 1)

        // Seeded kill points (SplitMix64), so a failure can be rerun with the same kills. Each is
        // a number of committed steps (100-400 beyond the last count), not a delay, so it lands
        // inside the run however fast or loaded the machine is. Steps become visible in group
        // commits of up to a few hundred, so a kill can land later than its point; three kills
        // cannot reach the end of the 2,880 steps, a fourth may find the run finished.
        var state: UInt64 = 0x5EED_0007
        func uniform() -> Double {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) * 0x1p-53
        }
        let killed = path("killed.cwr")
        var committedAtKill: [Int] = []
        for _ in 0..<4 {
            // A kill before the record's schema was committed leaves no record: start again.
            let before = committedSteps(killed)
            let args = before == nil ? ["record", cfg, "-o", killed, "--force"] : ["record", "--resume", killed]
            let target = (before ?? 0) + 100 + Int(300 * uniform())
            let errors = dir.appendingPathComponent("stderr.txt")
            let p = try CLI.start(args, stderr: errors)
            let deadline = Date().addingTimeInterval(120)
            var seen = before ?? 0
            while p.isRunning, seen < target, Date() < deadline {
                usleep(5_000)
                seen = committedSteps(killed) ?? seen   // a busy moment keeps the last count
            }
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            if p.terminationReason == .exit {
                let message = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
                XCTAssertEqual(p.terminationStatus, 0, "a run ended before its kill point \(target): \(message)")
            }
            let (status, steps) = try XCTUnwrap(try status(killed))
            if status == "complete" { break }
            XCTAssertEqual(status, "running")
            committedAtKill.append(steps - 1)
        }
        XCTAssertGreaterThanOrEqual(committedAtKill.count, 3, "kills interrupted real runs (committed steps at each kill: \(committedAtKill))")
        if try status(killed)?.0 == "running" {
            let last = try CLI.run(["record", "--resume", killed])
            XCTAssertEqual(last.status, 0, last.stderr)
            XCTAssertTrue(last.stdout.contains("\(total) in all"), last.stdout)
        }

        let resumed = try summary(killed)
        XCTAssertEqual(resumed.status, "complete")
        XCTAssertEqual(resumed.digests.count, full.digests.count)
        let firstDiff = zip(resumed.digests, full.digests).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        XCTAssertNil(firstDiff, "first differing step row: \(firstDiff ?? -1) (kills at \(committedAtKill) committed steps)")
        XCTAssertEqual(resumed.losses.map(\.bitPattern), full.losses.map(\.bitPattern))
        XCTAssertEqual(resumed.evaluations, full.evaluations)
    }

    /// While one process records, a second writer (`--resume` or `--force` onto the same file)
    /// gets a lock error, exit 3, and the record is not written over.
    func testSecondWriterGetsALockError() throws {
        let cfg = try write("long.json", Self.config.replacingOccurrences(of: "\"epochs\": 16", with: "\"epochs\": 1000"))
        let rec = path("busy.cwr")
        let p = try CLI.start(["record", cfg, "-o", rec])
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }
        let deadline = Date().addingTimeInterval(60)
        var committed = 0
        while Date() < deadline, committed < 2 {
            Thread.sleep(forTimeInterval: 0.2)
            committed = try status(rec)?.1 ?? 0
        }
        XCTAssertGreaterThanOrEqual(committed, 2)
        let second = try CLI.run(["record", "--resume", rec])
        XCTAssertEqual(second.status, 3, second.stderr)
        XCTAssertTrue(second.stderr.contains("is being written by another cwrepro process"), second.stderr)
        let force = try CLI.run(["record", cfg, "-o", rec, "--force"])
        XCTAssertEqual(force.status, 3, force.stderr)
        XCTAssertTrue(force.stderr.contains("is being written by another cwrepro process"), force.stderr)
        XCTAssertTrue(p.isRunning, "the first recording goes on")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertEqual(try status(rec)?.0, "running", "the record is intact and resumable")
    }

    /// The environment check of `--resume` sees the config's thread count (1 here), not the count
    /// OpenBLAS starts with: resuming under OPENBLAS_NUM_THREADS=2 on an unchanged machine warns
    /// about nothing (it used to report "blas.threads: 1 -> 2" on every resume).
    func testResumeOnTheSameMachineDoesNotWarnAboutTheEnvironment() throws {
        let cfg = try write("resume.json", Self.config)
        let rec = path("killed.cwr")
        let p = try CLI.start(["record", cfg, "-o", rec])
        let deadline = Date().addingTimeInterval(60)
        while p.isRunning, (committedSteps(rec) ?? 0) < 120, Date() < deadline { usleep(5_000) }
        guard p.isRunning else { return XCTFail("the run ended (status \(p.terminationStatus)) before it could be killed") }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let resumed = try CLI.run(["record", "--resume", rec], env: ["OPENBLAS_NUM_THREADS": "2"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("resuming"), resumed.stderr)
        XCTAssertFalse(resumed.stderr.contains("environment differs"), resumed.stderr)
    }

    func testResumeRefusesCompleteAndForeignRecords() throws {
        let cfg = try write("short.json", BadInputCLITests.good)
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", path("done.cwr")]).status, 0)
        let done = try CLI.run(["record", "--resume", path("done.cwr")])
        XCTAssertEqual(done.status, 2)
        XCTAssertTrue(done.stderr.contains("is complete; there is nothing to resume"), done.stderr)

        try write("text.cwr", "not a database")
        let text = try CLI.run(["record", "--resume", path("text.cwr")])
        XCTAssertEqual(text.status, 3)
        XCTAssertTrue(text.stderr.contains("is not a cwrepro record"), text.stderr)

        let both = try CLI.run(["record", cfg, "--resume", path("done.cwr")])
        XCTAssertEqual(both.status, 2, both.stderr)
        XCTAssertTrue(both.stderr.contains("--resume takes its config"), both.stderr)
    }
}
