import Foundation
import XCTest
@testable import Engine
import Recorder

/// A run continued from any of its checkpoints records exactly what the uninterrupted run
/// recorded from there on: parameters with BatchNorm running statistics, Adam's state, the
/// position inside a shuffled epoch, synthetic data regenerated on restart, per-step dropout.
final class ResumeTests: XCTestCase {
    /// Keeps every step summary and every checkpoint blob.
    final class Capture: RecordSink {
        var steps: [StepSummary] = []
        func wantsPayload(step: Int) -> Bool { false }
        func event(_ e: RecordedEvent) {}
        func endStep(_ summary: StepSummary, events: [RecordedEvent]) throws { steps.append(summary) }
        func evaluation(_ e: Evaluation) throws {}
        var shouldStop: Bool { false }
    }

    static let config = """
        {"seed": 21, "data": {"dataset": "synthetic", "shape": [2, 6, 6], "classes": 4, "trainSize": 90, "testSize": 20,
                              "batchSize": 16, "shuffle": true},
         "model": {"layers": [{"type": "conv2d", "filters": 3, "kernel": 3, "padding": 1}, {"type": "batchnorm"}, {"type": "relu"},
                              {"type": "flatten"}, {"type": "dropout", "rate": 0.25}, {"type": "dense", "units": 4}]},
         "optimizer": {"type": "adam", "lr": 0.01}, "training": {"epochs": 3},
         "record": {"level": "activations", "checkpointEvery": 4}}
        """

    func trainer(_ sink: Capture) throws -> Trainer {
        let config = try TrainConfig.parse(JSON.parse(Array(Self.config.utf8), source: "resume.json"), baseDirectory: "/")
        return try Trainer(config: config, recorder: Recorder(seed: config.seed, level: config.record.level, sink: sink))
    }

    func testEveryCheckpointResumesBitIdentical() throws {
        let full = Capture()
        let t = try trainer(full)
        var checkpoints: [(step: Int, bytes: [UInt8])] = []
        t.checkpointHandler = { checkpoints.append(($0, $1)) }
        _ = try t.run()
        XCTAssertEqual(t.stepsPerEpoch, 6)
        // Every 4 steps and at each epoch end (not after the last step): after steps 3, 5, 7, 11, 15.
        XCTAssertEqual(checkpoints.map(\.step), [3, 5, 7, 11, 15])
        XCTAssertTrue(t.model.params.entries.contains { !$0.trainable }, "BatchNorm running statistics are in the store")

        for c in checkpoints {
            let resumed = Capture()
            let r = try trainer(resumed)
            _ = try r.run(from: try Checkpoint.decode(c.bytes, source: "test"))
            let expected = full.steps.filter { $0.step > c.step }
            XCTAssertEqual(resumed.steps.map(\.digest), expected.map(\.digest), "resumed after step \(c.step)")
            XCTAssertEqual(resumed.steps.map(\.step), expected.map(\.step))
            XCTAssertEqual(resumed.steps.map(\.loss.bitPattern), expected.map(\.loss.bitPattern))
        }
    }

    func testACheckpointThatDoesNotFitTheModelIsRefused() throws {
        let t = try trainer(Capture())
        var blob: [UInt8] = []
        t.checkpointHandler = { if blob.isEmpty { blob = $1 } }
        _ = try t.run()
        var c = try Checkpoint.decode(blob, source: "test")
        c.values.removeLast()
        XCTAssertThrowsError(try trainer(Capture()).run(from: c, source: "x.cwr")) { e in
            guard case RecordReadError.corrupt(let p, _)? = e as? RecordReadError else { return XCTFail("\(e)") }
            XCTAssertEqual(p, "x.cwr")
        }
    }
}
