import Foundation
import XCTest
import Engine
import Presentation
import Recorder
@testable import Replayer

/// Record and replay of convolutional models with residual blocks, BatchNorm, dropout and
/// augmentation: bit-identical replays, and a BatchNorm knob change found at the right tensor.
final class BlockReplayTests: RecordingTestCase {
    /// A small CIFAR-shaped run: 128 synthetic 3x32x32 samples, 4 steps of 32, crops and flips,
    /// recorded at level `activations`. `model` is the JSON of `"model"`.
    static func config(model: String) -> String {
        """
        {"name": "blocks", "seed": 7,
         "data": {"dataset": "synthetic", "shape": [3, 32, 32], "trainSize": 128, "testSize": 64, "batchSize": 32,
                  "augment": {"randomCrop": {"padding": 4}, "horizontalFlip": true}},
         "model": \(model),
         "optimizer": {"type": "sgd", "lr": 0.05, "momentum": 0.9}, "training": {"epochs": 1},
         "record": {"level": "activations"}}
        """
    }

    static let resnet = config(model: #"{"architecture": {"name": "resnet", "depth": 8, "width": 0.25, "dropout": 0.2}}"#)

    func record(_ json: String, name: String = "run.cwr") throws -> String {
        try recordConfig(json, name: name)
    }

    func testResNetPresetWithAugmentationAndDropoutReplaysBitIdentical() throws {
        let path = try record(Self.resnet)
        let names = try RecordReader(path: path).events(step: 0).map(\.name)
        // Draws of every random consumer, and activations inside the blocks, in execution order.
        for n in ["augment/crop/step-0", "augment/flip/step-0", "dropout/11/step-0", "3.body.1.output", "3.body.4.grad_input",
                  "5.shortcut.1.output", "3.body.1.running_mean"] {
            XCTAssertTrue(names.contains(n), "step 0 has no \(n)")
        }
        XCTAssertLessThan(names.firstIndex(of: "augment/flip/step-0")!, names.firstIndex(of: "batch.x")!)
        XCTAssertLessThan(names.firstIndex(of: "3.body.0.output")!, names.firstIndex(of: "3.output")!)
        let report = try ReplaySession.replay(path: path)
        XCTAssertTrue(report.identical, "\(report)")
        XCTAssertEqual(report.stepsReplayed, 4)
        XCTAssertGreaterThan(report.tensorsCompared, 4 * 100)
    }

    /// Changing the BatchNorm momentum leaves the train-mode forward (batch statistics), the loss,
    /// the gradients and the updated weights of step 0 untouched: the first tensor it changes is a
    /// running mean, recorded with the parameters after the update in layout order. In the preset
    /// that is the stem's BatchNorm, layer 1.
    func testBatchNormMomentumChangeDivergesAtTheStemRunningMean() throws {
        let r = try ReplaySession.replay(path: record(Self.resnet), changes: changes(["overrides.batchnorm.momentum=0.05"]), untilDiverge: true)
        XCTAssertEqual(r.firstDivergence?.step, 0)
        XCTAssertEqual(r.firstDivergence?.name, "1.running_mean")
        XCTAssertEqual(r.firstDivergence?.role.rawValue, "param")
        XCTAssertNil(r.firstDivergentDraw)
        XCTAssertEqual(r.cause, .configChanged)
        XCTAssertTrue(r.configChanges.map(DivergenceText.change).contains("knobs.batchnorm.momentum: 0.1 -> 0.05"), "\(r.configChanges)")
        XCTAssertTrue(r.stoppedAtFirstDivergence)
    }

    /// With a stem without BatchNorm, the first BatchNorm lives in the first residual block's body
    /// (layer 1, body index 1) and the replay points inside the block.
    func testBatchNormMomentumChangeIsFoundInsideTheFirstResidualBlock() throws {
        let model = """
            {"layers": [{"type": "conv2d", "filters": 4, "kernel": 3, "padding": 1, "bias": false},
              {"type": "residual", "body": [{"type": "conv2d", "filters": 4, "kernel": 3, "padding": 1, "bias": false}, {"type": "batchnorm"},
                                            {"type": "relu"}, {"type": "conv2d", "filters": 4, "kernel": 3, "padding": 1, "bias": false},
                                            {"type": "batchnorm"}]},
              {"type": "relu"}, {"type": "globalavgpool"}, {"type": "dense", "units": 10}]}
            """
        let path = try record(Self.config(model: model))
        XCTAssertTrue(try ReplaySession.replay(path: path).identical)
        let r = try ReplaySession.replay(path: path, changes: changes(["overrides.batchnorm.momentum=0.05"]), untilDiverge: true)
        XCTAssertEqual(r.firstDivergence?.step, 0)
        XCTAssertEqual(r.firstDivergence?.name, "1.body.1.running_mean")
        XCTAssertEqual(r.cause, .configChanged)
    }
}
