import Foundation
import XCTest

/// Messages that misled or could be abused (issue 11's list): each one as a user meets it.
final class MessagesCLITests: CLITestCase {
    let small = """
        {"name": "msg", "seed": 3, "data": {"dataset": "digits", "batchSize": 32},
         "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 16}, {"type": "relu"}, {"type": "dense", "units": 10}]},
         "optimizer": {"type": "sgd", "lr": 0.1}, "training": {"maxSteps": 3}, "record": {"keepTensors": 2}, "determinism": {"threads": 1}}
        """

    func testUlpsAreCountedOnlyWhereSignsAgree() throws {
        let cfg = try write("c.json", small)
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", path("r.cwr")]).status, 0)
        // Another seed: every weight differs, about half of them across zero.
        let r = try CLI.run(["replay", path("r.cwr"), "--until-diverge", "--set", "seed=4"])
        XCTAssertEqual(r.status, 1)
        let line = try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.hasPrefix("  values: ") }, r.stdout)
        XCTAssertTrue(line.contains(" ulp where signs agree; "), String(line))
        XCTAssertTrue(line.hasSuffix(" cross zero"), String(line))
        let ulps = try XCTUnwrap(Int(line.components(separatedBy: "max ").last!.split(separator: " ").first!))
        XCTAssertLessThan(ulps, 1 << 31, "same-sign distances only: \(line)")
    }

    func testShowJSONGivesTheInitialisationRowNoLossAndNoLearningRate() throws {
        let cfg = try write("c.json", small)
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", path("r.cwr")]).status, 0)
        let r = try CLI.run(["show", path("r.cwr"), "--json"])
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let steps = try XCTUnwrap(obj["steps"] as? [[String: Any]])
        XCTAssertEqual(steps.first?["step"] as? Int, -1)
        XCTAssertTrue(steps.first?["loss"] is NSNull, "\(steps.first ?? [:])")
        XCTAssertTrue(steps.first?["lr"] is NSNull)
        XCTAssertNotNil(steps.dropFirst().first?["loss"] as? Double)
    }

    func testTerminalEscapesInARecordNeverReachTheTerminalRaw() throws {
        let cfg = try write("c.json", small.replacingOccurrences(of: "\"name\": \"msg\"", with: #""name": "evil\u001b]0;owned\u0007\u001b[2J\u202e""#))
        let rec = try CLI.run(["record", cfg, "-o", path("r.cwr")])
        XCTAssertEqual(rec.status, 0, rec.stderr)
        for args in [["show", path("r.cwr")], ["show", path("r.cwr"), "--md"], ["replay", path("r.cwr")], ["hashes", path("r.cwr")]] {
            let r = try CLI.run(args)
            XCTAssertFalse(r.stdout.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 || $0.value == 0x202E }, args.joined(separator: " "))
        }
        let show = try CLI.run(["show", path("r.cwr")])
        XCTAssertTrue(show.stdout.contains(#"evil\u001b]0;owned\u0007\u001b[2J\u202e"#), show.stdout)
    }

    func testAMistypedCommandGetsDidYouMean() throws {
        let r = try CLI.run(["reply", "run.cwr"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.hasPrefix("error: unknown command \"reply\" (did you mean \"replay\"?); the commands are: record, replay, "), r.stderr)
    }

    func testAConfigGivenAsTheGoldenIsNamedAndNeverAdvisedToBeOverwritten() throws {
        let cfg = try write("c.json", small)
        let r = try CLI.run(["verify", cfg, "--golden", cfg])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("is JSON (a train.json config?), not a golden step-hash file"), r.stderr)
        XCTAssertFalse(r.stderr.contains("-o \(cfg)"), r.stderr)
        let text = try write("notes.txt", "hello\n")
        let t = try CLI.run(["verify", cfg, "--golden", text])
        XCTAssertTrue(t.stderr.contains("not a cwrepro step-hash file"), t.stderr)
        XCTAssertFalse(t.stderr.contains("-o \(text)"), t.stderr)
    }

    func testHelpPointsToTheConfigReference() throws {
        XCTAssertTrue(try CLI.run(["--help"]).stdout.contains("docs/config.md"))
        for command in ["record", "train", "verify", "variance"] {
            XCTAssertTrue(try CLI.run([command, "--help"]).stdout.contains("docs/config.md"), command)
        }
    }
}
