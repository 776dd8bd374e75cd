import Foundation
import XCTest

/// `cwrepro semantics` and `cwrepro explain` through the binary.
final class ExplainCLITests: CLITestCase {
    func example(_ name: String) -> String { CLI.repoRoot.appendingPathComponent("examples/\(name)").path }

    func json(_ r: CLI.Result) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout + r.stderr)
    }

    /// Every knob is listed with both profiles' values, and the porting guideline documents exactly these.
    func testSemanticsListsEveryDocumentedKnob() throws {
        let r = try CLI.run(["semantics", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let rows = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        let names = rows.compactMap { $0["knob"] as? String }
        XCTAssertEqual(names.count, rows.count)
        for row in rows {
            XCTAssertNotNil(row["pytorch"], "\(row)"); XCTAssertNotNil(row["keras"], "\(row)")
            XCTAssertFalse((row["summary"] as? String ?? "").isEmpty)
            XCTAssertFalse((row["source"] as? String ?? "").isEmpty)
        }
        let guide = try String(contentsOf: CLI.repoRoot.appendingPathComponent("guidelines/04-porting-between-frameworks.md"), encoding: .utf8)
        let knobSection = guide.components(separatedBy: "\n## The knobs\n").last!.components(separatedBy: "\n## ").first!
        let documented = knobSection.split(separator: "\n").filter { $0.hasPrefix("| `") }
            .map { $0.split(separator: "`")[1] }.map(String.init)
        XCTAssertEqual(Set(documented), Set(names))
        for k in ["adam.epsilonMode", "batchnorm.momentum", "init.kernel", "sgd.momentumMode", "padding.same"] {
            XCTAssertTrue(names.contains(k), k)
        }
        let text = try CLI.run(["semantics"])
        for k in names { XCTAssertTrue(text.stdout.contains(k), k) }
        XCTAssertTrue(text.stdout.contains("corrected") && text.stdout.contains("glorotUniform"), text.stdout)
    }

    /// Identical configs: no divergence, an empty minimal set, nothing unexplained.
    func testExplainIdenticalConfigs() throws {
        let r = try CLI.run(["explain", example("mlp-digits.json"), example("mlp-digits.json"), "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let o = try json(r)
        XCTAssertTrue(o["firstDivergence"] is NSNull, "\(o["firstDivergence"] ?? "-")")
        XCTAssertEqual(o["minimalSet"] as? [String], [])
        XCTAssertEqual(o["knobs"] as? [Any] as? [NSObject], [])
        XCTAssertEqual(o["unexplainedShare"] as? Double, 0)
        let a = try XCTUnwrap(o["a"] as? [String: Any]), b = try XCTUnwrap(o["b"] as? [String: Any])
        XCTAssertEqual(a["testAccuracy"] as? Double, b["testAccuracy"] as? Double)
        XCTAssertEqual(a["finalLoss"] as? Double, b["finalLoss"] as? Double)
        let text = try CLI.run(["explain", example("mlp-digits.json"), example("mlp-digits.json")])
        XCTAssertTrue(text.stdout.contains("first divergence of B from A (same draws): none (bit-identical)"), text.stdout)
    }

    /// The MLP example under both profiles: the JSON has the documented keys, and the first
    /// divergence is at initialisation (the profiles initialise differently from the same draws).
    func testExplainProfilesJSONKeys() throws {
        let r = try CLI.run(["explain", example("mlp-digits.json"), "--profiles", "pytorch,keras", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let o = try json(r)
        for k in ["a", "b", "bOwnDraws", "firstDivergence", "knobs", "minimalSet", "unexplainedShare"] { XCTAssertNotNil(o[k], k) }
        for side in ["a", "b"] {
            let s = try XCTUnwrap(o[side] as? [String: Any])
            XCTAssertNotNil(s["testAccuracy"] as? Double); XCTAssertNotNil(s["finalLoss"] as? Double)
        }
        let first = try XCTUnwrap(o["firstDivergence"] as? [String: Any])
        XCTAssertEqual(first["step"] as? Int, -1)
        XCTAssertEqual(first["tensor"] as? String, "1.weight")
        XCTAssertEqual(first["role"] as? String, "param")
        let knobs = try XCTUnwrap(o["knobs"] as? [[String: Any]])
        for k in knobs {
            for key in ["knob", "a", "b", "firstDivergentStep", "firstDivergentTensor", "accuracyDelta", "lossDelta"] {
                XCTAssertTrue(k.keys.contains(key), "\(key) in \(k)")
            }
        }
        let kernel = try XCTUnwrap(knobs.first { $0["knob"] as? String == "init.kernel" })
        XCTAssertEqual(kernel["a"] as? String, "pytorch")
        XCTAssertEqual(kernel["b"] as? String, "glorotUniform")
        XCTAssertEqual(kernel["firstDivergentStep"] as? Int, -1)
        let md = try CLI.run(["explain", example("mlp-digits.json"), "--profiles", "pytorch,keras", "--md"])
        XCTAssertTrue(md.stdout.contains("| init.kernel | \"pytorch\" | \"glorotUniform\" | init: 1.weight (param, initial value) |"), md.stdout)
    }

    /// The CrossedWires pair of examples/: a BatchNorm CNN with Adam (epsilon 0.01) under the two
    /// profiles. Keras's BatchNorm momentum leaves the running statistics near their initial values
    /// after 100 steps, and its Adam epsilon placement takes larger steps: explain names both.
    func testExplainAttributesTheCrossedWiresGap() throws {
        let r = try CLI.run(["explain", example("crossedwires-cnn-pytorch.json"), example("crossedwires-cnn-keras.json"), "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let o = try json(r)
        let a = try XCTUnwrap((o["a"] as? [String: Any])?["testAccuracy"] as? Double)
        let b = try XCTUnwrap((o["b"] as? [String: Any])?["testAccuracy"] as? Double)
        XCTAssertGreaterThan(a - b, 0.3, "the profiles reach clearly different accuracy: \(a) vs \(b)")
        let minimal = try XCTUnwrap(o["minimalSet"] as? [String])
        XCTAssertTrue(minimal.contains("batchnorm.momentum"), "\(minimal)")
        XCTAssertLessThanOrEqual(minimal.count, 3, "\(minimal)")
        XCTAssertLessThanOrEqual(abs(try XCTUnwrap(o["unexplainedShare"] as? Double)), 0.1 + 1e-9)
        let knobs = try XCTUnwrap(o["knobs"] as? [[String: Any]])
        let momentum = try XCTUnwrap(knobs.first { $0["knob"] as? String == "batchnorm.momentum" })
        XCTAssertEqual(momentum["firstDivergentStep"] as? Int, 0)
        XCTAssertEqual(momentum["firstDivergentTensor"] as? String, "1.running_mean")
        XCTAssertEqual(momentum["lossDelta"] as? Double, 0, "running statistics do not enter the training loss")
        let padding = try XCTUnwrap(knobs.first { $0["knob"] as? String == "padding.same" })
        XCTAssertTrue(padding["firstDivergentStep"] is NSNull, "3x3 stride-1 'same' padding is symmetric in both frameworks")
        let first = try XCTUnwrap(o["firstDivergence"] as? [String: Any])
        XCTAssertEqual(first["step"] as? Int, -1)
        XCTAssertEqual(first["tensor"] as? String, "0.weight")
    }

    /// `--record` keeps A's record, which replays bit for bit.
    func testExplainRecordsAReplayably() throws {
        let r = try CLI.run(["explain", example("mlp-digits.json"), "--profiles", "pytorch,keras", "--record", path("a.cwr")])
        XCTAssertEqual(r.status, 0, r.stderr)
        let replay = try CLI.run(["replay", path("a.cwr")])
        XCTAssertEqual(replay.status, 0, replay.stdout + replay.stderr)
        XCTAssertTrue(replay.stdout.hasPrefix("bit-identical"), replay.stdout)
        let show = try CLI.run(["show", path("a.cwr"), "--json"])
        XCTAssertTrue(show.stdout.contains("\"activations\""), "recorded at explain's hash level")
    }

    func testHelpNamesTheOptions() throws {
        let r = try CLI.run(["explain", "--help"])
        for s in ["--profiles", "--threshold", "--level", "--jobs", "--record", "--json", "--md", "A's random draws"] {
            XCTAssertTrue(r.stdout.contains(s), "\(s) in: \(r.stdout)")
        }
        let sem = try CLI.run(["semantics", "--help"])
        XCTAssertTrue(sem.stdout.contains("overrides") && sem.stdout.contains("--verbose"), sem.stdout)
    }

    func testExplainBadUsageExits2() throws {
        XCTAssertEqual(try CLI.run(["explain", example("mlp-digits.json")]).status, 2)
        let r = try CLI.run(["explain", example("mlp-digits.json"), "--profiles", "pytorch,tensorflow"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("expected two of pytorch, keras"), r.stderr)
        XCTAssertEqual(try CLI.run(["explain", path("missing.json"), example("mlp-digits.json")]).status, 2)
    }
}
