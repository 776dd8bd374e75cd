import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest

/// hashes, verify, diff, variance and show, end to end through the binary (issue 6's done-means).
final class CIToolsCLITests: CLITestCase {
    static let small = """
        {"name": "small", "seed": 7, "data": {"dataset": "digits", "batchSize": 32},
         "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 16}, {"type": "relu"}, {"type": "dense", "units": 10}]},
         "optimizer": {"type": "sgd", "lr": 0.1, "momentum": 0.9}, "training": {"maxSteps": 8}}
        """
    var example: String { CLI.repoRoot.appendingPathComponent("examples/mlp-digits.json").path }

    /// Records the small config (optionally changed) and returns the record path.
    func record(_ name: String, _ text: String = CIToolsCLITests.small) throws -> String {
        let cfg = try write(name + ".json", text)
        let r = try CLI.run(["record", cfg, "-o", path(name + ".cwr")])
        XCTAssertEqual(r.status, 0, r.stderr)
        return path(name + ".cwr")
    }

    /// A golden cut within its header is a damaged file (exit 2), not a golden without steps (5)
    /// nor a failed check (1); a golden checked out with CRLF endings, or read through a pipe,
    /// verifies; a directory given as the golden is named as one.
    func testDamagedOrOddlyDeliveredGoldens() throws {
        let run = try record("golden")
        XCTAssertEqual(try CLI.run(["hashes", run, "-o", path("steps.hashes")]).status, 0)
        let text = try String(contentsOfFile: path("steps.hashes"), encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let cut = try write("cut.hashes", lines.prefix { !$0.hasPrefix("steps ") }.joined(separator: "\n") + "\n")
        let r = try CLI.run(["verify", path("golden.json"), "--golden", cut])
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains("cut.hashes: no `steps` line; the file is cut or edited"), r.stderr)
        let crlf = try write("crlf.hashes", text.replacingOccurrences(of: "\n", with: "\r\n"))
        let ok = try CLI.run(["verify", path("golden.json"), "--golden", crlf])
        XCTAssertEqual(ok.status, 0, ok.stdout + ok.stderr)
        XCTAssertTrue(ok.stdout.contains("PASS: 9 of 9 steps"), ok.stdout)
        try FileManager.default.createDirectory(atPath: path("gdir"), withIntermediateDirectories: false)
        let d = try CLI.run(["verify", path("golden.json"), "--golden", path("gdir")])
        XCTAssertEqual(d.status, 2, d.stderr)
        XCTAssertTrue(d.stderr.contains("golden file \(path("gdir")) is a directory; give a file"), d.stderr)
        XCTAssertEqual(mkfifo(path("pipe.hashes"), 0o600), 0)
        let pipe = path("pipe.hashes")
        let feeder = Thread { if let h = FileHandle(forWritingAtPath: pipe) { h.write(Data(text.utf8)); try? h.close() } }
        feeder.start()
        let piped = try CLI.run(["verify", path("golden.json"), "--golden", path("pipe.hashes")])
        XCTAssertEqual(piped.status, 0, piped.stdout + piped.stderr)
    }

    func testGoldenVerifiesAndAOneKnobChangeFailsAtTheRightStep() throws {
        let run = try record("golden")
        let hashes = try CLI.run(["hashes", run, "-o", path("steps.hashes")])
        XCTAssertEqual(hashes.status, 0, hashes.stderr)
        let text = try String(contentsOfFile: path("steps.hashes"), encoding: .utf8)
        XCTAssertTrue(text.contains("format cwrepro-hashes 1\n"), text)
        XCTAssertEqual(text.split(separator: "\n").filter { $0.first.map { "0123456789".contains($0) } ?? false }.count, 8, text)

        let ok = try CLI.run(["verify", path("golden.json"), "--golden", path("steps.hashes")])
        XCTAssertEqual(ok.status, 0, ok.stdout + ok.stderr)
        XCTAssertTrue(ok.stdout.contains("PASS: 9 of 9 steps"), ok.stdout)

        // One knob: the learning rate. The first update (step 0) differs; init still matches.
        let changed = try write("changed.json", Self.small.replacingOccurrences(of: "\"lr\": 0.1", with: "\"lr\": 0.05"))
        let fail = try CLI.run(["verify", changed, "--golden", path("steps.hashes"), "--junit", path("junit.xml")],
                               env: ["GITHUB_ACTIONS": "true"])
        XCTAssertEqual(fail.status, 1, fail.stdout + fail.stderr)
        XCTAssertTrue(fail.stdout.contains("FAIL: step 0 differs from the golden"), fail.stdout)
        XCTAssertTrue(fail.stdout.contains("cause: config changed (optimizer.lr: 0.1 -> 0.05)"), fail.stdout)
        XCTAssertTrue(fail.stdout.contains("::error title=cwrepro verify::small: step 0 differs"), fail.stdout)

        // Valid JUnit XML: one test case per step checked, the failing one carries the report.
        let doc = try XMLDocument(contentsOf: URL(fileURLWithPath: path("junit.xml")), options: [])
        let cases = try doc.nodes(forXPath: "/testsuites/testsuite/testcase")
        XCTAssertEqual(cases.count, 2)
        let failures = try doc.nodes(forXPath: "//testcase/failure")
        XCTAssertEqual(failures.count, 1)
        XCTAssertEqual((failures.first?.parent as? XMLElement)?.attribute(forName: "name")?.stringValue, "step 0")
        XCTAssertTrue(failures.first?.stringValue?.contains("optimizer.lr: 0.1 -> 0.05") ?? false)
        XCTAssertEqual(doc.rootElement()?.attribute(forName: "failures")?.stringValue, "1")

        let md = try CLI.run(["verify", changed, "--golden", path("steps.hashes"), "--md"])
        XCTAssertEqual(md.status, 1)
        XCTAssertTrue(md.stdout.hasPrefix("### cwrepro verify: ❌ failed — small"), md.stdout)
        XCTAssertTrue(md.stdout.contains("| first mismatch | step 0:"), md.stdout)
        XCTAssertTrue(md.stdout.contains("| cause | config changed: optimizer.lr: 0.1 -> 0.05 |"), md.stdout)

        let json = try CLI.run(["verify", changed, "--golden", path("steps.hashes"), "--json"])
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((obj["firstMismatch"] as? [String: Any])?["step"] as? Int, 0)
        XCTAssertEqual((obj["checks"] as? [Any])?.count, 2)
    }

    /// A run that goes on past the golden's last step (`--set training.maxSteps` larger) stops
    /// there and still makes and compares the golden's evaluation after it; an evaluation the
    /// golden holds where this run does not evaluate is named in a note, not passed over.
    func testTheGoldensEvaluationsAreComparedOrNamed() throws {
        let run = try record("golden")
        XCTAssertEqual(try CLI.run(["hashes", run, "-o", path("steps.hashes")]).status, 0)
        let longer = try CLI.run(["verify", path("golden.json"), "--golden", path("steps.hashes"), "--set", "training.maxSteps=12"])
        XCTAssertEqual(longer.status, 0, longer.stdout + longer.stderr)
        XCTAssertTrue(longer.stdout.contains("PASS: 9 of 9 steps (init + 8 training steps) and 1 evaluation identical"), longer.stdout)
        // A wrong accuracy in the golden's evaluation after step 7 is caught the same way.
        let text = try String(contentsOfFile: path("steps.hashes"), encoding: .utf8)
        let evalLine = try XCTUnwrap(text.split(separator: "\n").first { $0.hasPrefix("eval 7 test ") })
        let edited = try write("edited.hashes", text.replacingOccurrences(of: String(evalLine), with: "eval 7 test 1/360 0000000000000001"))
        let wrong = try CLI.run(["verify", path("golden.json"), "--golden", edited, "--set", "training.maxSteps=12"])
        XCTAssertEqual(wrong.status, 1, wrong.stdout + wrong.stderr)
        XCTAssertTrue(wrong.stdout.contains("FAIL: test predictions after step 7 differ"), wrong.stdout)
        // An evaluation after step 3, where this run does not evaluate.
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.insert("eval 3 test 100/360 0000000000000002", at: try XCTUnwrap(lines.firstIndex { $0.hasPrefix("4 ") }))
        let extra = try write("extra.hashes", lines.joined(separator: "\n"))
        let noted = try CLI.run(["verify", path("golden.json"), "--golden", extra])
        XCTAssertEqual(noted.status, 0, noted.stdout + noted.stderr)
        XCTAssertTrue(noted.stdout.contains("note: the golden's evaluation (test after step 3) not compared: this run does not evaluate there (the weights matched)"), noted.stdout)
        let json = try CLI.run(["verify", path("golden.json"), "--golden", extra, "--json"])
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((obj["evaluationsNotMade"] as? [[String: Any]])?.first?["step"] as? Int, 3)
        let md = try CLI.run(["verify", path("golden.json"), "--golden", extra, "--md"])
        XCTAssertTrue(md.stdout.contains("| evaluations not compared | the golden's evaluation (test after step 3) not compared"), md.stdout)

        // verify --record of a longer record: it evaluated only at its own end (step 11), so the
        // golden's evaluations after steps 3 and 7 are named as not compared.
        let cfg12 = try write("longer.json", Self.small.replacingOccurrences(of: "\"maxSteps\": 8", with: "\"maxSteps\": 12"))
        XCTAssertEqual(try CLI.run(["record", cfg12, "-o", path("longer.cwr")]).status, 0)
        let recordExtra = try CLI.run(["verify", "--record", path("longer.cwr"), "--golden", extra])
        XCTAssertEqual(recordExtra.status, 0, recordExtra.stdout + recordExtra.stderr)
        XCTAssertTrue(recordExtra.stdout.contains("note: the golden's evaluations (test after step 3, test after step 7) not compared: the record holds no evaluation there"), recordExtra.stdout)
    }

    /// An evaluation that differs before the golden's last step fails as that evaluation (the
    /// check stops there), not as a run that ended short with a guessed cause.
    func testAnEvaluationMismatchMidRunIsNamed() throws {
        let cfg = try write("fifty.json", Self.small.replacingOccurrences(of: "\"maxSteps\": 8", with: "\"maxSteps\": 50"))
        XCTAssertEqual(try CLI.run(["record", cfg, "-o", path("fifty.cwr")]).status, 0)
        XCTAssertEqual(try CLI.run(["hashes", path("fifty.cwr"), "-o", path("fifty.hashes")]).status, 0)
        let text = try String(contentsOfFile: path("fifty.hashes"), encoding: .utf8)
        let line = try XCTUnwrap(text.split(separator: "\n").first { $0.hasPrefix("eval 44 test ") })
        let edited = try write("e44.hashes", text.replacingOccurrences(of: String(line), with: "eval 44 test 1/360 0000000000000001"))
        for args in [["verify", cfg, "--golden", edited], ["verify", "--record", path("fifty.cwr"), "--golden", edited]] {
            let r = try CLI.run(args)
            XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
            XCTAssertTrue(r.stdout.contains("FAIL: test predictions after step 44 differ"), r.stdout)
            XCTAssertFalse(r.stdout.contains("the run ended"), r.stdout)
            let j = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try CLI.run(args + ["--json"]).stdout.utf8)) as? [String: Any])
            XCTAssertNil(j["shortfall"])
            XCTAssert((j["causeDetail"] as? String)?.contains("the evaluation itself changed") ?? false, "\(j["causeDetail"] ?? "none")")
        }
        // A 45-step golden (its one evaluation after step 44, the epoch's end) against the 50-step
        // record: verify --record compares that evaluation at the golden's last step too.
        let cfg45 = try write("fortyfive.json", Self.small.replacingOccurrences(of: "\"maxSteps\": 8", with: "\"maxSteps\": 45"))
        XCTAssertEqual(try CLI.run(["record", cfg45, "-o", path("g45.cwr")]).status, 0)
        XCTAssertEqual(try CLI.run(["hashes", path("g45.cwr"), "-o", path("g45.hashes")]).status, 0)
        let g45 = try String(contentsOfFile: path("g45.hashes"), encoding: .utf8)
        let ok = try CLI.run(["verify", "--record", path("fifty.cwr"), "--golden", path("g45.hashes")])
        XCTAssertEqual(ok.status, 0, ok.stdout + ok.stderr)
        XCTAssertTrue(ok.stdout.contains("PASS: 46 of 46 steps (init + 45 training steps) and 1 evaluation identical"), ok.stdout)
        let line45 = try XCTUnwrap(g45.split(separator: "\n").first { $0.hasPrefix("eval 44 test ") })
        let bad45 = try write("bad45.hashes", g45.replacingOccurrences(of: String(line45), with: "eval 44 test 1/360 0000000000000001"))
        let wrong = try CLI.run(["verify", "--record", path("fifty.cwr"), "--golden", bad45])
        XCTAssertEqual(wrong.status, 1, wrong.stdout + wrong.stderr)
        XCTAssertTrue(wrong.stdout.contains("FAIL: test predictions after step 44 differ"), wrong.stdout)
    }

    func testTensorHashesNameTheFirstDivergentTensor() throws {
        let run = try record("golden")
        XCTAssertEqual(try CLI.run(["hashes", run, "--tensors", "-o", path("t.hashes")]).status, 0)
        let changed = try write("changed.json", Self.small.replacingOccurrences(of: "\"lr\": 0.1", with: "\"lr\": 0.05"))
        for golden in [path("t.hashes"), run] {
            let r = try CLI.run(["verify", changed, "--golden", golden, "--steps", "3"])
            XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
            XCTAssertTrue(r.stdout.contains("first divergence at step 0, tensor 1.weight (param, after update)"), r.stdout)
        }
    }

    func testCommittedExampleGoldenVerifiesOnThisMachine() throws {
        let golden = CLI.repoRoot.appendingPathComponent("examples/mlp-digits.hashes").path
        let r = try CLI.run(["verify", example, "--golden", golden])
        XCTAssertEqual(r.status, 0, """
            examples/mlp-digits.hashes no longer verifies: training numerics changed. If intended, regenerate it with \
            `cwrepro record examples/mlp-digits.json -o run.cwr && cwrepro hashes run.cwr --tensors -o examples/mlp-digits.hashes`.
            \(r.stdout)\(r.stderr)
            """)
    }

    func testBadGoldenIsBadInput() throws {
        let cfg = try write("c.json", Self.small)
        try write("bad.hashes", "step loss\n")
        let r = try CLI.run(["verify", cfg, "--golden", path("bad.hashes")])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("bad.hashes:1:"), r.stderr)
        let missing = try CLI.run(["verify", cfg, "--golden", path("none.hashes")])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("golden file not found"), missing.stderr)
        // A damaged .cwr golden is an unreadable record (exit 3), not a hashes file to regenerate.
        try write("damaged.cwr", "not a database")
        let damaged = try CLI.run(["verify", cfg, "--golden", path("damaged.cwr")])
        XCTAssertEqual(damaged.status, 3, damaged.stderr)
        XCTAssertTrue(damaged.stderr.contains("damaged.cwr is not a cwrepro record (not an SQLite database)"), damaged.stderr)
    }

    func testDiffShowsExactlyTheChangedKeyTheFirstDivergentStepAndTheCriteria() throws {
        let a = try record("a"), same = try record("same")
        let b = try record("b", Self.small.replacingOccurrences(of: "\"lr\": 0.1", with: "\"lr\": 0.05"))

        let identical = try CLI.run(["diff", a, same])
        XCTAssertEqual(identical.status, 0, identical.stdout + identical.stderr)
        XCTAssertTrue(identical.stdout.contains("config: identical"), identical.stdout)
        XCTAssertEqual(identical.stdout.components(separatedBy: "  PASS  ").count - 1, 5, identical.stdout)
        XCTAssertTrue(identical.stdout.contains("result: the runs are bit-identical"), identical.stdout)

        let diff = try CLI.run(["diff", a, b])
        XCTAssertEqual(diff.status, 1)
        XCTAssertTrue(diff.stdout.contains("config: 1 key differs\n  optimizer.lr: 0.1 -> 0.05\nenvironment: identical"), diff.stdout)
        XCTAssertTrue(diff.stdout.contains("first divergence at step 0, tensor 1.weight (param, after update)"), diff.stdout)
        XCTAssertTrue(diff.stdout.contains("bit-identical final weights  FAIL"), diff.stdout)

        let json = try CLI.run(["diff", a, b, "--json"])
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(obj["configChanges"] as? [String], ["optimizer.lr: 0.1 -> 0.05"])
        XCTAssertEqual(obj["firstDivergentStep"] as? Int, 0)
        let criteria = try XCTUnwrap(obj["criteria"] as? [[String: Any]])
        XCTAssertEqual(criteria.map { $0["name"] as? String }, ["bit-identical final weights", "identical test predictions",
                                                               "per-class accuracy deltas", "overall accuracy delta", "per-step loss max delta"])
        XCTAssertTrue(criteria.allSatisfy { ["pass", "warn", "fail"].contains($0["verdict"] as? String ?? "") })

        let md = try CLI.run(["diff", a, b, "--md"])
        XCTAssertTrue(md.stdout.contains("| bit-identical final weights | ❌ fail |"), md.stdout)
    }

    func testVaryNoneGivesBitIdenticalRunsAndVarySeedSpreadsAccuracy() throws {
        let cfg = try write("c.json", Self.small)
        let none = try CLI.run(["variance", cfg, "--runs", "3", "--vary", "none"])
        XCTAssertEqual(none.status, 0, none.stdout + none.stderr)
        XCTAssertTrue(none.stdout.contains("3 of 3 runs identical to run 1; 1 distinct outcome"), none.stdout)

        let seed = try CLI.run(["variance", example, "--runs", "5", "--vary", "seed", "--json"])
        XCTAssertEqual(seed.status, 0, seed.stderr)
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(seed.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((obj["runs"] as? [Any])?.count, 5)
        let range = try XCTUnwrap((obj["accuracy"] as? [String: Any])?["range"] as? Double)
        XCTAssertGreaterThan(range, 0)
        XCTAssertEqual(obj["distinctOutcomes"] as? Int, 5)
    }

    func testShowHasTheLossCurveAndTheEvaluationTable() throws {
        let run = try record("a")
        let show = try CLI.run(["show", run])
        XCTAssertEqual(show.status, 0, show.stderr)
        XCTAssertTrue(show.stdout.contains("loss curve (8 steps)"), show.stdout)
        XCTAssertTrue(show.stdout.contains("per-class accuracy\nafter step  split  class 0"), show.stdout)
    }

    func testHelpListsTheCommandsAndHidesTheWorkerFlag() throws {
        let top = try CLI.run(["--help"])
        for c in ["hashes", "verify", "diff", "variance"] {
            XCTAssertTrue(top.stdout.contains("\n  \(c) "), "\(c) missing from: \(top.stdout)")
        }
        let variance = try CLI.run(["variance", "--help"])
        XCTAssertTrue(variance.stdout.contains("--vary <vary>"), variance.stdout)
        XCTAssertFalse(variance.stdout.contains("--worker"), variance.stdout)
        let usage = try CLI.run(["diff", "a.cwr", "b.cwr", "--json", "--md"])
        XCTAssertEqual(usage.status, 2)
        XCTAssertTrue(usage.stderr.contains("give at most one of --json and --md"), usage.stderr)
    }
}
