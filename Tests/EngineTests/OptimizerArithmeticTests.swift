import XCTest
@testable import Engine
import Recorder

/// `optimizer.arithmetic` changes rounding only: for every optimizer and formula knob, the torch
/// and keras arithmetic agree to a few Float32 ulps over a few steps, and differ in bits.
final class OptimizerArithmeticTests: XCTestCase {
    func config(_ type: String) -> TrainConfig.OptimizerConfig {
        .init(type: .init(rawValue: type)!, lr: 0.01, momentum: type == "sgd" ? 0.9 : 0, nesterov: false, weightDecay: 0.01,
              beta1: 0.9, beta2: 0.999, epsilon: 1e-3, rho: 0.9)
    }

    /// 40 updates of a 64-parameter store with a gradient that depends on the weights.
    func run(_ type: String, _ knobs: [String: String]) throws -> [Float] {
        var s = Semantics(profile: .pytorch)
        try s.apply(knobs.mapValues(JSON.string))
        let opt = Optimizers.make(config(type), semantics: s, count: 64)
        let store = ParameterStore()
        store.add("w", shape: [64])
        for i in 0..<64 { store.values[i] = Float(i % 7) * 0.25 - 0.7 }
        for t in 0..<40 {
            for i in 0..<64 { store.grads[i] = 0.3 * store.values[i] * Float(i % 5 + 1) - 0.05 * Float((t + i) % 3) }
            opt.step(store, lr: t < 20 ? 0.01 : 0.001)
        }
        return Array(UnsafeBufferPointer(start: store.values, count: 64))
    }

    func testArithmeticIsRoundingOnly() throws {
        let cases: [(String, [String: String])] = [
            ("adam", ["adam.epsilonMode": "corrected"]), ("adam", ["adam.epsilonMode": "hat"]),
            ("adam", ["adam.epsilonMode": "hat", "weightDecay.mode": "decoupled"]),
            ("rmsprop", ["rmsprop.epsilonMode": "outside"]), ("rmsprop", ["rmsprop.epsilonMode": "inside"]),
            ("sgd", [:]),
        ]
        for (type, knobs) in cases {
            let torch = try run(type, knobs.merging(["optimizer.arithmetic": "torch"]) { a, _ in a })
            let keras = try run(type, knobs.merging(["optimizer.arithmetic": "keras"]) { a, _ in a })
            XCTAssertNotEqual(torch, keras, "\(type) \(knobs): the two arithmetics round differently somewhere")
            for (x, y) in zip(torch, keras) {
                XCTAssertLessThanOrEqual(abs(x - y), 2e-6 * max(1, abs(x)), "\(type) \(knobs): \(x) vs \(y)")
            }
        }
    }

    /// The formula knobs, in contrast, change the trajectory well beyond rounding.
    func testFormulaKnobsAreNotRounding() throws {
        for (type, knob, a, b) in [("adam", "adam.epsilonMode", "corrected", "hat"),
                                   ("rmsprop", "rmsprop.epsilonMode", "outside", "inside"),
                                   ("sgd", "sgd.momentumMode", "pytorch", "keras")] {
            let x = try run(type, [knob: a]), y = try run(type, [knob: b])
            let worst = zip(x, y).map { abs($0 - $1) }.max()!
            XCTAssertGreaterThan(worst, 1e-4, "\(knob): \(a) vs \(b)")
        }
    }
}
