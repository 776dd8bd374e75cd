import Foundation
import XCTest

/// Training stops at the first non-finite loss, gradient or parameter with a report naming the
/// step and the first non-finite tensor in execution order (exit 1, record marked failed);
/// `--allow-nonfinite` trains on. `train` (no hashing) checks the same values directly.
final class NonFiniteCLITests: CLITestCase {
    /// lr 1e12: the first update makes the weights huge; at step 2 the logits overflow and the
    /// loss is NaN.
    static let exploding = """
        {"name": "nan", "seed": 3, "data": {"dataset": "digits", "batchSize": 32},
         "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 32}, {"type": "relu"}, {"type": "dense", "units": 10}]},
         "optimizer": {"type": "sgd", "lr": 1e12}, "training": {"maxSteps": 30}}
        """

    func testRecordStopsAtTheFirstNonFiniteLossAndMarksTheRecordFailed() throws {
        let cfg = try write("nan.json", Self.exploding)
        let r = try CLI.run(["record", cfg, "-o", path("nan.cwr")])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("error: step 2: loss is NaN; first non-finite tensor in execution order: loss (loss), 1 of 1 elements"), r.stderr)
        let show = try CLI.run(["show", path("nan.cwr"), "--json"])
        XCTAssertEqual(show.status, 0, show.stderr)
        let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(o["status"] as? String, "failed")
        XCTAssertEqual((o["steps"] as? [Any])?.count, 4, "init and steps 0, 1, 2: the failing step is kept as evidence")

        // At the activations level the first non-finite tensor is a layer output, before the loss.
        let act = try CLI.run(["record", cfg, "-o", path("act.cwr"), "--level", "activations"])
        XCTAssertEqual(act.status, 1)
        XCTAssertTrue(act.stderr.contains("step 2: loss is NaN; first non-finite tensor in execution order: 3.output (activation), 320 of 320 elements"), act.stderr)
    }

    func testAllowNonFiniteTrainsOnAndCountsThem() throws {
        let cfg = try write("nan.json", Self.exploding)
        let r = try CLI.run(["record", cfg, "-o", path("nan.cwr"), "--allow-nonfinite"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("recorded nan: 30 steps"), r.stdout)
        XCTAssertTrue(r.stdout.contains("final loss nan"), r.stdout)
        let replay = try CLI.run(["replay", path("nan.cwr")])
        XCTAssertEqual(replay.status, 0, replay.stdout + replay.stderr)
    }

    func testPlainTrainChecksTheSameValues() throws {
        let cfg = try write("nan.json", Self.exploding)
        let r = try CLI.run(["train", cfg])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("error: step 2: loss is NaN; first non-finite tensor in execution order: loss (loss)"), r.stderr)
        XCTAssertEqual(try CLI.run(["train", cfg, "--allow-nonfinite"]).status, 0)
    }
}
