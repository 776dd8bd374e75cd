import XCTest
@testable import Engine
import Recorder

/// Finite-difference checks of every op's backward against its forward.
final class LayerGradientTests: XCTestCase {
    func testDenseWithBias() {
        let params = ParameterStore()
        let layer = Dense(name: "1", inFeatures: 5, units: 4, bias: true, params: params)
        let gc = GradCheck(params: params)
        layer.initialize(gc.ctx)
        gc.check(layer, input: GradCheck.random([3, 5]))
    }

    func testDenseWithoutBiasReferenceGEMM() {
        let params = ParameterStore()
        let layer = Dense(name: "0", inFeatures: 6, units: 3, bias: false, params: params)
        let ctx = Context(recorder: .plain(seed: 3), params: params, semantics: Semantics(profile: .keras), gemm: .reference)
        layer.initialize(ctx)
        GradCheck(ctx).check(layer, input: GradCheck.random([2, 6]))
    }

    func testActivations() {
        for kind in Activation.Kind.allCases {
            let params = ParameterStore()
            let gc = GradCheck(params: params)
            // Keep relu inputs away from the kink at 0, where the derivative is undefined.
            var x = GradCheck.random([2, 7], seed: 5)
            if kind == .relu { x.data = x.data.map { abs($0) < 0.05 ? $0 + 0.1 : $0 } }
            gc.check(Activation(name: "2", kind: kind, shape: [7]), input: x)
        }
    }

    func testFlattenIsARowMajorReshape() {
        let params = ParameterStore()
        let gc = GradCheck(params: params)
        let layer = Flatten(name: "0", inputShape: [2, 3, 2])
        let x = GradCheck.random([2, 2, 3, 2])
        XCTAssertEqual(layer.forward(x, gc.ctx).shape, [2, 12])
        XCTAssertEqual(layer.forward(x, gc.ctx).data, x.data)
        gc.check(layer, input: x)
    }

    func testCrossEntropyGradient() {
        for smoothing: Float in [0, 0.1] {
            let logits = GradCheck.random([4, 5], seed: 11, scale: 3)
            let labels: [Int32] = [0, 3, 4, 1]
            let (_, grad, _) = CrossEntropy.forwardBackward(logits: logits, labels: labels, smoothing: smoothing, reduction: .sequential)
            let h: Float = 1e-2
            for i in logits.data.indices {
                var up = logits, down = logits
                up.data[i] += h; down.data[i] -= h
                let lu = CrossEntropy.forwardBackward(logits: up, labels: labels, smoothing: smoothing, reduction: .sequential).loss
                let ld = CrossEntropy.forwardBackward(logits: down, labels: labels, smoothing: smoothing, reduction: .sequential).loss
                let num = (Double(lu) - Double(ld)) / (2 * Double(h))
                XCTAssertEqual(Double(grad.data[i]), num, accuracy: 2e-3 + 2e-2 * abs(num), "smoothing \(smoothing) d/dlogit[\(i)]")
            }
        }
    }

    func testCrossEntropyKnownValue() {
        // Uniform logits: loss = log(C) regardless of the label; with smoothing too.
        let logits = Tensor(shape: [2, 4], data: [Float](repeating: 0.5, count: 8))
        for s: Float in [0, 0.2] {
            let l = CrossEntropy.forwardBackward(logits: logits, labels: [1, 2], smoothing: s, reduction: .sequential).loss
            XCTAssertEqual(l, Float(log(4.0)), accuracy: 1e-6)
        }
    }

    func testWholeMLPGradient() throws {
        let model = try Model(layers: [.object(["type": .string("flatten")]), .object(["type": .string("dense"), "units": .number(6)]),
                                       .object(["type": .string("tanh")]), .object(["type": .string("dense"), "units": .number(3)])],
                              inputShape: [1, 2, 2])
        let gc = GradCheck(params: model.params)
        model.initialize(gc.ctx)
        gc.check(ModelAsLayer(model), input: GradCheck.random([3, 1, 2, 2]))
    }
}

/// Lets GradCheck drive a whole model.
final class ModelAsLayer: Layer {
    let model: Model
    init(_ m: Model) { model = m }
    var name: String { "model" }
    var spec: JSON { .null }
    var outputShape: [Int] { model.outputShape }
    func forward(_ x: Tensor, _ ctx: Context) -> Tensor { model.forward(x, ctx) }
    func backward(_ dy: Tensor, _ ctx: Context) -> Tensor { model.backward(dy, ctx) }
}

