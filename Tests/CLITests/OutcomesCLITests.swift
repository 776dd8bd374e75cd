import Foundation
import GRDB
import XCTest

/// Honest exit codes: a replay or verification that finds no difference but does not cover a
/// whole finished run (a killed or failed record, a golden made from one, no training step) is not
/// a pass: exit 5 with its own verdict, 0 only with --allow-incomplete (never for nothing
/// compared). `seal` prints and checks the detached digest; `show` states the integrity.
final class OutcomesCLITests: CLITestCase {
    override class func tearDown() { BadInputCLITests.tearDown() }

    /// ~36,000 steps: long enough to kill at any committed step.
    static let long = """
        {"name": "long", "seed": 3, "data": {"dataset": "digits", "batchSize": 8},
         "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 64}, {"type": "relu"}, {"type": "dense", "units": 10}]},
         "optimizer": {"type": "sgd", "lr": 0.05}, "training": {"epochs": 200}, "record": {"checkpointEvery": 50}}
        """

    func json(_ s: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any])
    }

    func testAKilledRecordIsIncompleteUnlessAllowed() throws {
        let cfg = try write("long.json", Self.long)
        let rec = path("killed.cwr")
        try recordAndKill(cfg, into: rec, after: 100)
        let r = try checkRow("replay of a killed record (committed steps all bit-identical)", ["replay", rec], exit: 5,
                             message: "incomplete: ")
        XCTAssertTrue(r.stdout.contains("bit-identical, but the run was killed before it finished, so its end is unknown: not a whole run"), r.stdout)
        XCTAssertTrue(r.stderr.contains("was killed before it finished (status running, no seal)"), r.stderr)
        XCTAssertFalse(r.stderr.contains("still going"), "a killed run is named killed: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("hint: --allow-incomplete"), r.stderr)

        let allowed = try CLI.run(["replay", rec, "--allow-incomplete"])
        XCTAssertEqual(allowed.status, 0, allowed.stdout + allowed.stderr)
        XCTAssertTrue(allowed.stdout.hasPrefix("bit-identical as far as the record goes: "), allowed.stdout)

        let j = try json(try CLI.run(["replay", rec, "--json"]).stdout)
        XCTAssertEqual(j["outcome"] as? String, "incomplete")
        XCTAssertEqual(j["incompleteness"] as? String, "killed")
        XCTAssertEqual(j["recordStatus"] as? String, "running")

        // A golden made from it says so, and verify against it is incomplete too.
        let hashes = try CLI.run(["hashes", rec, "-o", path("killed.hashes")])
        XCTAssertEqual(hashes.status, 0, hashes.stderr)
        XCTAssertTrue(try String(contentsOfFile: path("killed.hashes"), encoding: .utf8).contains("\nstatus running\n"))
        let steps = try XCTUnwrap(Self.committedSteps(rec))
        try checkRow("verify against a golden made from a killed record", ["verify", cfg, "--golden", path("killed.hashes")], exit: 5,
                     message: "INCOMPLETE: \(steps + 1) of \(steps + 1) steps")
        XCTAssertEqual(try CLI.run(["verify", cfg, "--golden", path("killed.hashes"), "--allow-incomplete"]).status, 0)
        // A prefix chosen with --steps is whole as asked.
        XCTAssertEqual(try CLI.run(["verify", cfg, "--golden", path("killed.hashes"), "--steps", "10"]).status, 0)

        // diff of the killed record with itself: nothing differs, but it is not a whole run.
        try checkRow("diff of a killed record with itself", ["diff", rec, rec], exit: 5,
                     message: "result: nothing differs in what both records hold, but in A the run was killed before it finished")
        XCTAssertEqual(try json(try CLI.run(["diff", rec, rec, "--json"]).stdout)["incompleteness"] as? String, "killed")
        XCTAssertEqual(try CLI.run(["diff", rec, rec, "--allow-incomplete"]).status, 0)
        // verify --record of the killed record against a finished longer run's golden: incomplete
        // where it stops (exit 5), not a run that ended short (exit 1).
        XCTAssertEqual(try CLI.run(["record", cfg, "--set", "training.maxSteps=\(steps + 50)", "-o", path("full.cwr")]).status, 0)
        XCTAssertEqual(try CLI.run(["hashes", path("full.cwr"), "-o", path("full.hashes")]).status, 0)
        let vr = try CLI.run(["verify", "--record", rec, "--golden", path("full.hashes")])
        XCTAssertEqual(vr.status, 5, vr.stdout + vr.stderr)
        XCTAssertTrue(vr.stdout.contains("INCOMPLETE: \(steps + 1) of \(steps + 51) steps"), vr.stdout)
        XCTAssertFalse(vr.stdout.contains("the run ended"), vr.stdout)

        let show = try CLI.run(["show", rec])
        XCTAssertEqual(show.status, 0, show.stderr)
        XCTAssertTrue(show.stdout.contains("integrity unsealed: the run was killed before it finished"), show.stdout)
        try checkRow("seal of a killed record", ["seal", rec], exit: 5, message: "has no seal: it is a run killed before it finished")
    }

    func testAFailedRecordIsNotAPass() throws {
        let cfg = try write("nan.json", NonFiniteCLITests.exploding)
        let rec = path("nan.cwr")
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", rec]).status, 1)
        let r = try checkRow("replay of a failed record (stopped on NaN)", ["replay", rec], exit: 5,
                             message: "the recorded run failed (it stopped: step 2: loss is NaN")
        XCTAssertTrue(r.stderr.contains("is a failed run (it stopped: step 2: loss is NaN"), r.stderr)
        XCTAssertFalse(r.stderr.contains("killed") || r.stderr.contains("still going"), "a failed run is named failed: \(r.stderr)")
        XCTAssertEqual(try CLI.run(["replay", rec, "--allow-incomplete"]).status, 0)
        let diff = try CLI.run(["diff", rec, rec])
        XCTAssertEqual(diff.status, 5, diff.stdout + diff.stderr)
        XCTAssertTrue(diff.stdout.contains("but in A the recorded run failed (it stopped: step 2: loss is NaN"), diff.stdout)

        XCTAssertEqual(try CLI.run(["hashes", rec, "-o", path("nan.hashes")]).status, 0)
        XCTAssertTrue(try String(contentsOfFile: path("nan.hashes"), encoding: .utf8).contains("\nstatus failed step 2: loss is NaN"))
        let v = try CLI.run(["verify", cfg, "--golden", path("nan.hashes"), "--json"])
        XCTAssertEqual(v.status, 5, v.stdout + v.stderr)
        XCTAssertEqual(try json(v.stdout)["outcome"] as? String, "incomplete")
        XCTAssertEqual(try json(v.stdout)["goldenStatus"] as? String, "failed")
        XCTAssertEqual(try CLI.run(["verify", cfg, "--golden", path("nan.hashes"), "--allow-incomplete"]).status, 0)

        let show = try CLI.run(["show", rec])
        XCTAssertTrue(show.stdout.contains("state    a failed run (it stopped: step 2: loss is NaN"), show.stdout)
        XCTAssertTrue(show.stdout.contains("integrity sealed, digest sha256:"), show.stdout)

        // Resuming it is refused, with the hint that was lost (record again, --allow-nonfinite).
        let resume = try checkRow("`--resume` of a failed record", ["record", "--resume", rec], exit: 2,
                                  message: "resuming would fail the same way")
        XCTAssertTrue(resume.stderr.contains("with --allow-nonfinite if training through NaN or Inf is intended"), resume.stderr)
    }

    /// Checking no training step compares nothing: never a pass, even with --allow-incomplete.
    func testNothingToCompareIsNeverAPass() throws {
        let cfg = try write("good.json", BadInputCLITests.good)
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", path("g.cwr")]).status, 0)
        XCTAssertEqual(try CLI.run(["hashes", path("g.cwr"), "-o", path("g.hashes")]).status, 0)
        try checkRow("verify --steps 0 (no training step checked)", ["verify", cfg, "--golden", path("g.hashes"), "--steps", "0"], exit: 5,
                     message: "NOTHING TO COMPARE: 1 of 1 steps (init + 0 training steps) identical to the golden, but no training step was checked")
        XCTAssertEqual(try CLI.run(["verify", cfg, "--golden", path("g.hashes"), "--steps", "0", "--allow-incomplete"]).status, 5)
        XCTAssertEqual(try CLI.run(["verify", cfg, "--golden", path("g.hashes")]).status, 0, "the whole golden passes")
    }

    func testSealPrintsAndChecksTheDetachedDigest() throws {
        let cfg = try write("good.json", BadInputCLITests.good)
        let rec = path("g.cwr")
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", rec]).status, 0)
        let seal = try CLI.run(["seal", rec])
        XCTAssertEqual(seal.status, 0, seal.stderr)
        let digest = seal.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(digest.hasPrefix("sha256:") && digest.count == 71, digest)
        XCTAssertTrue(try CLI.run(["show", rec]).stdout.contains("integrity sealed, digest \(digest)"))
        XCTAssertEqual(try json(try CLI.run(["show", rec, "--json"]).stdout)["integrity"] as? [String: String],
                       ["state": "sealed", "digest": digest])

        let ok = try CLI.run(["seal", rec, "--check", digest.uppercased().replacingOccurrences(of: "SHA256:", with: "")])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertEqual(ok.stdout, "\(rec): OK \(digest)\n")
        // The same run recorded again: other timestamps, so another digest.
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", path("h.cwr")]).status, 0)
        let other = try CLI.run(["seal", path("h.cwr")]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertNotEqual(other, digest)
        try checkRow("seal --check with another record's digest", ["seal", path("h.cwr"), "--check", digest], exit: 1,
                     message: "MISMATCH: its seal digest is \(other), expected \(digest)")
        try checkRow("seal --check with a malformed digest", ["seal", rec, "--check", "sha256:12"], exit: 2,
                     message: "\"sha256:12\" is not a seal digest")

        // A tampered record has no digest worth printing: exit 3.
        let db = try DatabaseQueue(path: rec)
        try db.write { try $0.execute(sql: "UPDATE steps SET wall_seconds = wall_seconds + 1 WHERE step = 1") }
        try db.close()
        let tampered = try CLI.run(["seal", rec])
        XCTAssertEqual(tampered.status, 3, tampered.stdout + tampered.stderr)
        XCTAssertTrue(tampered.stdout.isEmpty, tampered.stdout)
    }
}
