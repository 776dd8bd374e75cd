import Foundation
import XCTest
@testable import Engine
import Recorder

/// Golden comparisons with traces from real PyTorch 2.13 and Keras 3.15 (copied from
/// shared/reference into Fixtures/reference): same initial weights, same batch order.
///
/// Every `config-<run>.json` of every case is trained and compared with the trace of the real
/// framework run it describes (`config-pytorch.json` -> `torch.json`, `config-keras.json` ->
/// `keras.json`, `config-<variant>.json` -> `<variant>.json`, final parameters in
/// `<trace>-final.safetensors`). Bounds (issue 4): per-step loss within 1e-5 relative at every
/// step, the same test predictions (hence the same accuracy), final parameters within 1e-5.
final class ReferenceTests: XCTestCase {
    struct Trace: Decodable {
        struct Step: Decodable { let step: Int; let loss: Float; let lossHex: String; let lr: Float }
        let steps: [Step]
        let testAccuracy: Double
        let testPredictions: [Int32]
    }

    static let lossBound = 1e-5
    static let paramBound: Float = 1e-5

    static var fixtures: URL { Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("reference") }

    /// The runs of a case: (config file, trace stem).
    static func runs(_ caseName: String) throws -> [(config: String, trace: String)] {
        let files = try FileManager.default.contentsOfDirectory(atPath: fixtures.appendingPathComponent(caseName).path)
        return files.filter { $0.hasPrefix("config-") && $0.hasSuffix(".json") }.sorted().map { f in
            let run = String(f.dropFirst("config-".count).dropLast(".json".count))
            return (f, run == "pytorch" ? "torch" : run)
        }
    }

    struct Outcome { let losses: [Float]; let lrs: [Float]; let accuracy: Double; let predictions: [Int32]; let params: [SafeTensors.Entry] }

    /// Trains `config` of a case; returns per-step losses and lrs, test predictions, final parameters.
    func train(_ caseName: String, config: String) throws -> Outcome {
        let dir = Self.fixtures.appendingPathComponent(caseName)
        let cfg = try TrainConfig.load(path: dir.appendingPathComponent(config).path)
        let trainer = try Trainer(config: cfg, recorder: .plain(seed: cfg.seed))
        var lrs: [Float] = []
        let result = try trainer.run { lrs.append($0.lr) }
        let (e, preds) = trainer.predict(trainer.data.test, step: result.steps - 1, epoch: 0, split: "test")
        return Outcome(losses: result.losses, lrs: lrs, accuracy: e.accuracy, predictions: preds,
                       params: trainer.model.params.snapshot())
    }

    /// Checks one run against its real-framework trace; returns (max relative loss diff, max |dparam|).
    @discardableResult
    func check(_ caseName: String, config: String, trace stem: String, file: StaticString = #filePath, line: UInt = #line) throws -> (Double, Float) {
        let dir = Self.fixtures.appendingPathComponent(caseName)
        let trace = try JSONDecoder().decode(Trace.self, from: Data(contentsOf: dir.appendingPathComponent("\(stem).json")))
        let ours = try train(caseName, config: config)
        let label = "\(caseName)/\(config) vs \(stem).json"
        XCTAssertEqual(ours.losses.count, trace.steps.count, "\(label): step count", file: file, line: line)
        var worstLoss = 0.0
        for (s, t) in zip(ours.losses, trace.steps) {
            let rel = Double(abs(s - t.loss)) / Double(abs(t.loss))
            worstLoss = max(worstLoss, rel)
            XCTAssertLessThanOrEqual(rel, Self.lossBound, "\(label) step \(t.step): cwrepro \(s) vs \(t.loss)", file: file, line: line)
        }
        for (ours, t) in zip(ours.lrs, trace.steps) {
            XCTAssertEqual(ours, t.lr, "\(label) step \(t.step): learning rate", file: file, line: line)
        }
        XCTAssertEqual(ours.accuracy, trace.testAccuracy, accuracy: 1e-12, "\(label): test accuracy", file: file, line: line)
        XCTAssertEqual(ours.predictions, trace.testPredictions, "\(label): test predictions", file: file, line: line)

        let final = try SafeTensors.read(path: dir.appendingPathComponent("\(stem)-final.safetensors").path)
        let mine = Dictionary(uniqueKeysWithValues: ours.params.map { ($0.name, $0) })
        XCTAssertEqual(Set(final.map(\.name)), Set(mine.keys), "\(label): parameter names", file: file, line: line)
        var worstParam: Float = 0
        for t in final {
            guard let m = mine[t.name] else { continue }
            XCTAssertEqual(m.shape, t.shape, "\(label): \(t.name) shape", file: file, line: line)
            for (a, b) in zip(m.data, t.data) { worstParam = max(worstParam, abs(a - b)) }
        }
        XCTAssertLessThanOrEqual(worstParam, Self.paramBound, "\(label): final parameters", file: file, line: line)
        print("\(label): max relative loss difference \(worstLoss), max |dparam| \(worstParam)")
        return (worstLoss, worstParam)
    }

    func checkCase(_ caseName: String, expectedRuns: Set<String>) throws {
        let runs = try Self.runs(caseName)
        XCTAssertEqual(Set(runs.map(\.trace)), expectedRuns, "\(caseName): runs found in the fixture")
        for r in runs { try check(caseName, config: r.config, trace: r.trace) }
    }

    /// Plain SGD: both frameworks, and the profiles, compute the same function.
    func testMLPDigitsSGD() throws {
        try checkCase("mlp-digits-sgd", expectedRuns: ["torch", "keras"])
    }

    /// Adam with identical hyperparameters: torch's and Keras's epsilon placement differ
    /// (`adam.epsilonMode`); Keras with torch's formula matches torch.
    func testMLPDigitsAdam() throws {
        try checkCase("mlp-digits-adam", expectedRuns: ["torch", "keras", "keras-adam-torchlike"])
    }

    /// SGD momentum with a step schedule: the momentum formulas separate when lr drops (`sgd.momentumMode`).
    func testMLPDigitsMomentumSchedule() throws {
        try checkCase("mlp-digits-momentum-schedule", expectedRuns: ["torch", "keras", "keras-momentum-torchlike"])
    }

    /// The CrossedWires example model (conv, BatchNorm, max-pool, global average pool, Adam with a
    /// large epsilon) against real torch (fixture written by scripts/reference_cnn_torch.py).
    func testCNNDigitsBatchNormAdam() throws {
        try checkCase("cnn-digits-bn-adam", expectedRuns: ["torch"])
    }

    /// The profiles are not trivially equal: on the Adam case the keras profile must be far
    /// from torch's trace (the real frameworks differ by up to 8.96e-4 in loss), so the test
    /// above cannot pass by both profiles computing the same thing.
    func testKerasAdamProfileDiffersFromTorchTrace() throws {
        let dir = Self.fixtures.appendingPathComponent("mlp-digits-adam")
        let torch = try JSONDecoder().decode(Trace.self, from: Data(contentsOf: dir.appendingPathComponent("torch.json")))
        let keras = try train("mlp-digits-adam", config: "config-keras.json")
        let worst = zip(keras.losses, torch.steps).map { Double(abs($0 - $1.loss)) / Double(abs($1.loss)) }.max() ?? 0
        XCTAssertGreaterThan(worst, 1e-4)
    }
}
