import XCTest
@testable import Engine
import Recorder

/// Each optimizer against its formula evaluated in Float64 on a few steps with changing
/// gradients. Float32 rounding makes the two differ by a few ulp, not more.
final class OptimizerTests: XCTestCase {
    func config(_ type: String, lr: Float = 0.1, momentum: Float = 0, nesterov: Bool = false, wd: Float = 0,
                eps: Float = 1e-8, rho: Float = 0.9) -> TrainConfig.OptimizerConfig {
        .init(type: .init(rawValue: type)!, lr: lr, momentum: momentum, nesterov: nesterov, weightDecay: wd,
              beta1: 0.9, beta2: 0.999, epsilon: eps, rho: rho)
    }

    /// Runs `steps` updates of a 3-parameter store whose gradient at step t is g(t, w).
    func run(_ opt: Optimizer, steps: Int, lr: (Int) -> Float = { _ in 0.1 }) -> [Float] {
        let store = ParameterStore()
        store.add("w", shape: [3])
        let w0: [Float] = [0.5, -1.25, 2.0]
        store.values.update(from: w0, count: 3)
        for t in 0..<steps {
            for i in 0..<3 { store.grads[i] = Self.grad(t, i, store.values[i]) }
            opt.step(store, lr: lr(t))
        }
        return Array(UnsafeBufferPointer(start: store.values, count: 3))
    }

    static func grad(_ t: Int, _ i: Int, _ w: Float) -> Float { Float(i + 1) * 0.3 * w - 0.2 * Float(t % 3) + 0.05 }
    static func grad(_ t: Int, _ i: Int, _ w: Double) -> Double { Double(Float(i + 1) * 0.3) * w - Double(Float(0.2) * Float(t % 3)) + 0.05 }

    func assertClose(_ a: [Float], _ b: [Double], rel: Double = 2e-6, _ what: String, line: UInt = #line) {
        for (x, y) in zip(a, b) {
            XCTAssertLessThanOrEqual(abs(Double(x) - y), rel * max(1, abs(y)), "\(what): \(a) vs \(b)", line: line)
        }
    }

    /// Optimizers visit the trainable entries largest first (the recorder hashes those while the
    /// rest are updated) and report each entry once, after its update.
    func testEntriesAreUpdatedLargestFirstAndReportedOnce() {
        let store = ParameterStore()
        store.add("a", shape: [2])
        store.add("b", shape: [5])
        store.add("stats", shape: [9], trainable: false)
        store.add("c", shape: [5])
        store.add("d", shape: [1])
        XCTAssertEqual(store.trainableLargestFirst, [1, 3, 0, 4])
        for i in 0..<store.count { store.grads[i] = 1 }
        for type in ["sgd", "adam", "rmsprop"] {
            let opt = Optimizers.make(config(type, momentum: 0.9), semantics: Semantics(profile: .pytorch), count: store.count)
            var seen: [Int] = []
            let before = Array(UnsafeBufferPointer(start: store.values, count: store.count))
            opt.step(store, lr: 0.1) { k in
                seen.append(k)
                let e = store.entries[k]
                XCTAssertNotEqual(store.values[e.offset], before[e.offset], "\(type): entry \(e.name) written before it is reported")
            }
            XCTAssertEqual(seen, [1, 3, 0, 4], type)
            XCTAssertEqual(store.values[7], before[7], "\(type): a buffer that is not trained is left alone")
        }
    }

    func testSGDMomentumNesterovCoupledWeightDecayPyTorch() {
        let c = config("sgd", momentum: 0.9, nesterov: true, wd: 0.01)
        let got = run(Optimizers.make(c, semantics: Semantics(profile: .pytorch), count: 3), steps: 6)
        var w = [0.5, -1.25, 2.0], buf = [0.0, 0, 0]
        for t in 0..<6 {
            for i in 0..<3 {
                var g = Self.grad(t, i, w[i]) + 0.01 * w[i]
                buf[i] = t == 0 ? g : 0.9 * buf[i] + g
                g = g + 0.9 * buf[i]
                w[i] -= 0.1 * g
            }
        }
        assertClose(got, w, "torch SGD nesterov + weight decay")
    }

    func testSGDMomentumKerasFormDiffersOnlyAfterAnLRChange() {
        let c = config("sgd", momentum: 0.9)
        let torch = Semantics(profile: .pytorch)
        var keras = torch
        try! keras.apply(["sgd.momentumMode": .string("keras")])
        let constant = { (_: Int) -> Float in 0.1 }
        let a = run(Optimizers.make(c, semantics: torch, count: 3), steps: 5, lr: constant)
        let b = run(Optimizers.make(c, semantics: keras, count: 3), steps: 5, lr: constant)
        assertClose(a, b.map(Double.init), "same lr: the two momentum forms agree up to rounding")
        let drop = { (t: Int) -> Float in t < 2 ? 0.1 : 0.01 }
        let x = run(Optimizers.make(c, semantics: torch, count: 3), steps: 5, lr: drop)
        let y = run(Optimizers.make(c, semantics: keras, count: 3), steps: 5, lr: drop)
        // Keras's velocity carries steps (lr * g) taken at the old rate; torch's buffer carries gradients.
        XCTAssertGreaterThan(abs(x[0] - y[0]), 1e-3, "after an lr drop the forms separate: \(x) vs \(y)")
    }

    func testAdamCorrectedAndHatAgainstFloat64() {
        for hat in [false, true] {
            var s = Semantics(profile: .pytorch)
            if hat { try! s.apply(["adam.epsilonMode": .string("hat")]) }
            let eps: Float = 1e-3   // large, so the two forms differ clearly
            let got = run(Optimizers.make(config("adam", lr: 0.01, eps: eps), semantics: s, count: 3), steps: 5, lr: { _ in 0.01 })
            var w = [0.5, -1.25, 2.0], m = [0.0, 0, 0], v = [0.0, 0, 0]
            let b1 = Double(Float(0.9)), b2 = Double(Float(0.999)), e = Double(eps)
            for t in 1...5 {
                for i in 0..<3 {
                    let g = Self.grad(t - 1, i, w[i])
                    m[i] = b1 * m[i] + (1 - b1) * g
                    v[i] = b2 * v[i] + (1 - b2) * g * g
                    let bc1 = 1 - pow(b1, Double(t)), bc2 = 1 - pow(b2, Double(t))
                    if hat {
                        w[i] -= 0.01 * bc2.squareRoot() / bc1 * m[i] / (v[i].squareRoot() + e)
                    } else {
                        w[i] -= 0.01 * (m[i] / bc1) / ((v[i] / bc2).squareRoot() + e)
                    }
                }
            }
            assertClose(got, w, rel: 1e-5, hat ? "Adam hat (Keras)" : "Adam corrected (torch)")
        }
    }

    func testRMSpropEpsilonOutsideAndInside() {
        for inside in [false, true] {
            var s = Semantics(profile: .pytorch)
            if inside { try! s.apply(["rmsprop.epsilonMode": .string("inside")]) }
            let got = run(Optimizers.make(config("rmsprop", lr: 0.01, eps: 1e-2, rho: 0.9), semantics: s, count: 3), steps: 4,
                          lr: { _ in 0.01 })
            var w = [0.5, -1.25, 2.0], v = [0.0, 0, 0]
            let rho = Double(Float(0.9)), e = Double(Float(1e-2))
            for t in 0..<4 {
                for i in 0..<3 {
                    let g = Self.grad(t, i, w[i])
                    v[i] = rho * v[i] + (1 - rho) * g * g
                    w[i] -= inside ? 0.01 * g / (v[i] + e).squareRoot() : 0.01 * g / (v[i].squareRoot() + e)
                }
            }
            assertClose(got, w, rel: 1e-5, inside ? "RMSprop eps inside (Keras)" : "RMSprop eps outside (torch)")
        }
    }

    func testDecoupledWeightDecayShrinksWeightsBeforeTheUpdate() {
        var s = Semantics(profile: .pytorch)
        try! s.apply(["weightDecay.mode": .string("decoupled")])
        let got = run(Optimizers.make(config("sgd", wd: 0.1), semantics: s, count: 3), steps: 3)
        var w = [0.5, -1.25, 2.0]
        for t in 0..<3 {
            for i in 0..<3 {
                let g = Self.grad(t, i, w[i])   // the gradient is taken before the decay
                w[i] -= w[i] * 0.1 * 0.1
                w[i] -= 0.1 * g
            }
        }
        assertClose(got, w, "decoupled decay")
    }
}
