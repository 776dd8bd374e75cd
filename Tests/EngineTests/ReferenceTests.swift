import Foundation
import XCTest
@testable import Engine
import Recorder

/// Golden comparisons with traces from real PyTorch 2.13 and Keras 3.15 (copied from
/// shared/reference into Fixtures/reference): same initial weights, same batch order.
final class ReferenceTests: XCTestCase {
    struct Trace: Decodable {
        struct Step: Decodable { let step: Int; let loss: Float; let lossHex: String; let lr: Float }
        let steps: [Step]
        let testAccuracy: Double
        let testPredictions: [Int32]
    }

    static var fixtures: URL { Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("reference") }

    func trace(_ dir: URL, _ file: String) throws -> Trace {
        try JSONDecoder().decode(Trace.self, from: Data(contentsOf: dir.appendingPathComponent(file)))
    }

    /// Trains `config` of a case and returns per-step losses and test predictions.
    func run(_ caseName: String, config: String) throws -> (losses: [Float], lrs: [Float], accuracy: Double, predictions: [Int32], trainer: Trainer) {
        let dir = Self.fixtures.appendingPathComponent(caseName)
        let cfg = try TrainConfig.load(path: dir.appendingPathComponent(config).path)
        let trainer = try Trainer(config: cfg, recorder: .plain(seed: cfg.seed))
        var lrs: [Float] = []
        let result = try trainer.run { lrs.append($0.lr) }
        let (e, preds) = trainer.predict(trainer.data.test, step: result.steps - 1, epoch: 0, split: "test")
        return (result.losses, Array(lrs.dropFirst()), e.accuracy, preds, trainer)
    }

    /// Issue 2, done-means 5: per-step loss within 1e-6 (relative) of real PyTorch at every step.
    func testMLPDigitsSGDMatchesPyTorch() throws {
        let dir = Self.fixtures.appendingPathComponent("mlp-digits-sgd")
        let torch = try trace(dir, "torch.json")
        let ours = try run("mlp-digits-sgd", config: "config-pytorch.json")
        XCTAssertEqual(ours.losses.count, torch.steps.count)
        var worst = 0.0
        for (s, t) in zip(ours.losses, torch.steps) {
            let rel = Double(abs(s - t.loss)) / Double(abs(t.loss))
            worst = max(worst, rel)
            XCTAssertLessThanOrEqual(rel, 1e-6, "step \(t.step): cwrepro \(s) vs torch \(t.loss)")
        }
        print("mlp-digits-sgd vs torch: max relative loss difference \(worst)")
        XCTAssertEqual(ours.accuracy, torch.testAccuracy, accuracy: 1e-12)
        XCTAssertEqual(ours.predictions, torch.testPredictions)
    }
}
