import XCTest
@testable import Engine
import Recorder

/// Training's backward pass stops at the first layer with parameters and skips its input
/// gradient (`Model.backwardParameters`): the parameter gradients must be those of the whole
/// `backward`, bit for bit.
final class BackwardParametersTests: XCTestCase {
    func gradients(_ layers: String, input: [Int], whole: Bool) throws -> (grads: [UInt32], first: Int) {
        guard case .array(let specs) = try JSON.parse(Array(layers.utf8), source: "t") else { fatalError("a layer list") }
        let model = try Model(layers: specs, inputShape: input)
        let ctx = Context(recorder: .plain(seed: 4), params: model.params, semantics: Semantics(profile: .pytorch))
        model.initialize(ctx)
        let x = GradCheck.random([6] + input, seed: 9)
        let y = model.forward(x, ctx)
        let dy = GradCheck.random(y.shape, seed: 10)
        model.params.zeroGrads()
        if whole { model.backward(dy, ctx) } else { model.backwardParameters(dy, ctx) }
        return (Array(UnsafeBufferPointer(start: model.params.grads, count: model.params.count)).map(\.bitPattern), model.firstWithParameters)
    }

    func testTheSameGradientsAsTheWholeBackwardPass() throws {
        let cases: [(String, [Int], Int)] = [
            (#"[{"type": "flatten"}, {"type": "dense", "units": 7}, {"type": "relu"}, {"type": "dense", "units": 3}]"#, [2, 3, 3], 1),
            (#"[{"type": "conv2d", "filters": 4, "kernel": 3, "padding": 1}, {"type": "relu"}, {"type": "flatten"}, {"type": "dense", "units": 3}]"#, [2, 5, 5], 0),
            (#"[{"type": "maxpool", "size": 2}, {"type": "batchnorm"}, {"type": "flatten"}, {"type": "dense", "units": 3}]"#, [2, 4, 4], 1),
        ]
        for (layers, input, first) in cases {
            let whole = try gradients(layers, input: input, whole: true), skipped = try gradients(layers, input: input, whole: false)
            XCTAssertEqual(skipped.first, first, layers)
            XCTAssertEqual(whole.grads, skipped.grads, layers)
            XCTAssertTrue(whole.grads.contains { $0 != 0 }, layers)
        }
    }
}
