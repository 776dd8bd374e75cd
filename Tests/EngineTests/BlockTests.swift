import XCTest
@testable import Engine
import Recorder

/// BatchNorm, dropout, residual and concat blocks: finite-difference gradients, known answers for
/// the running statistics and eval mode, parameter naming and activation recording order.
final class BlockTests: XCTestCase {
    func layers(_ json: String) throws -> [JSON] {
        guard case .array(let a) = try JSON.parse(Array(json.utf8), source: "test") else { fatalError() }
        return a
    }

    /// A BatchNorm with non-trivial gamma and beta, so their gradients are exercised.
    func batchNorm(_ shape: [Int], params: ParameterStore, ctx: Context) -> BatchNorm {
        let bn = BatchNorm(name: "1", shape: shape, momentum: 0.1, epsilon: 1e-5, unbiased: true, params: params)
        bn.initialize(ctx)
        let g = GradCheck.random([shape[0]], seed: 3).data, b = GradCheck.random([shape[0]], seed: 4).data
        for c in 0..<shape[0] { ctx.w(bn.wOff)[c] = 1 + 0.5 * g[c]; ctx.w(bn.bOff)[c] = b[c] }
        return bn
    }

    func testBatchNormGradient2DAnd4DBothReductionOrders() {
        for mode in [ReductionMode.sequential, .pairwise] {
            for (shape, input) in [([3], [6, 3]), ([2, 3, 2], [3, 2, 3, 2])] {
                let params = ParameterStore()
                let ctx = Context(recorder: .plain(seed: 1), params: params, semantics: Semantics(profile: .pytorch), reduction: mode)
                let bn = batchNorm(shape, params: params, ctx: ctx)
                var gc = GradCheck(ctx)
                gc.h = 5e-3
                gc.check(bn, input: GradCheck.random(input, seed: 9, scale: 2))
            }
        }
    }

    func testBatchNormRunningStatsKnownAnswerUnderBothVarianceModes() {
        // Channel 0: 1, 2, 3, 4 -> mean 2.5, sum of squares 5 -> biased var 1.25, unbiased 5/3.
        // Channel 1: 0, 0, 2, 2 -> mean 1, sum of squares 4 -> biased 1, unbiased 4/3.
        let x = Tensor(shape: [4, 2], data: [1, 0, 2, 0, 3, 2, 4, 2])
        for (unbiased, v0, v1) in [(true, 5.0 / 3, 4.0 / 3), (false, 1.25, 1.0)] {
            let params = ParameterStore()
            let ctx = Context(recorder: .plain(seed: 1), params: params, semantics: Semantics(profile: .pytorch))
            let bn = BatchNorm(name: "0", shape: [2], momentum: 0.1, epsilon: 1e-5, unbiased: unbiased, params: params)
            bn.initialize(ctx)
            let y = bn.forward(x, ctx)
            XCTAssertEqual(ctx.w(bn.meanOff)[0], Float(0.1 * 2.5), accuracy: 1e-7)
            XCTAssertEqual(ctx.w(bn.meanOff)[1], Float(0.1 * 1.0), accuracy: 1e-7)
            XCTAssertEqual(ctx.w(bn.varOff)[0], Float(0.9 + 0.1 * v0), accuracy: 1e-6, "unbiased \(unbiased)")
            XCTAssertEqual(ctx.w(bn.varOff)[1], Float(0.9 + 0.1 * v1), accuracy: 1e-6, "unbiased \(unbiased)")
            // Normalisation always uses the biased batch variance.
            XCTAssertEqual(y.data[0], Float((1 - 2.5) / (1.25 + 1e-5).squareRoot()), accuracy: 1e-6)
            XCTAssertEqual(y.data[5], Float((2 - 1.0) / (1.0 + 1e-5).squareRoot()), accuracy: 1e-6)
            // A second batch moves the statistics again: r = 0.9 r + 0.1 batch.
            _ = bn.forward(x, ctx)
            XCTAssertEqual(ctx.w(bn.meanOff)[0], Float(0.9 * 0.25 + 0.1 * 2.5), accuracy: 1e-6)
        }
    }

    func testBatchNormEvalModeUsesRunningStatsAndLeavesThemAlone() {
        let params = ParameterStore()
        let ctx = Context(recorder: .plain(seed: 1), params: params, semantics: Semantics(profile: .keras))
        let bn = BatchNorm(name: "0", shape: [2, 1, 2], momentum: 0.01, epsilon: 1e-3, unbiased: false, params: params)
        bn.initialize(ctx)
        let (rm, rv, w, b): ([Float], [Float], [Float], [Float]) = ([0.5, -1], [4, 0.25], [2, 3], [0.1, -0.2])
        for c in 0..<2 { ctx.w(bn.meanOff)[c] = rm[c]; ctx.w(bn.varOff)[c] = rv[c]; ctx.w(bn.wOff)[c] = w[c]; ctx.w(bn.bOff)[c] = b[c] }
        ctx.training = false
        let x = Tensor(shape: [1, 2, 1, 2], data: [1.5, -0.5, 0, 2])
        let y = bn.forward(x, ctx)
        for i in 0..<4 {
            let c = i / 2
            let want = (Double(x.data[i]) - Double(rm[c])) / (Double(rv[c]) + 1e-3).squareRoot() * Double(w[c]) + Double(b[c])
            XCTAssertEqual(Double(y.data[i]), want, accuracy: 2e-7 * max(1, abs(want)), "element \(i)")
        }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: ctx.w(bn.meanOff), count: 2)), rm)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: ctx.w(bn.varOff), count: 2)), rv)
    }

    func testBatchNormDefaultsComeFromTheSemanticsAndAreRecordedInTheSpec() throws {
        for (profile, m, e, rv) in [("pytorch", 0.1, 1e-5, "unbiased"), ("keras", 0.01, 1e-3, "biased")] {
            let model = try Model(layers: layers(#"[{"type": "batchnorm"}]"#), inputShape: [4], semantics: Semantics(profile: Semantics.Profile(rawValue: profile)!))
            XCTAssertEqual(model.layerSpecs[0], .object(["type": .string("batchnorm"), "momentum": .number(m), "epsilon": .number(e),
                                                          "runningVariance": .string(rv)]))
            XCTAssertEqual(model.params.entries.map(\.name), ["0.weight", "0.bias", "0.running_mean", "0.running_var"])
            XCTAssertEqual(model.params.entries.map(\.trainable), [true, true, false, false])
        }
    }

    func testDropoutGradientWithAFixedMaskAndItsDrawSite() {
        let params = ParameterStore()
        let gc = GradCheck(params: params)
        let d = Dropout(name: "4", rate: 0.3, shape: [10])
        let u = GradCheck.random([2, 10], seed: 5).data.map { ($0 + 1) / 2 }
        gc.check(FixedMaskDropout(d, u), input: GradCheck.random([2, 10]))
        // Kept elements are scaled by 1/(1 - rate), dropped ones are 0; the mask is the recorder's
        // draw at dropout/<name>/step-<n>.
        let ctx = gc.ctx
        ctx.step = 17
        let x = Tensor(shape: [4, 10], data: [Float](repeating: 1, count: 40))
        let y = d.forward(x, ctx)
        let draws = Recorder.plain(seed: 7).uniform(site: "dropout/4/step-17", count: 40)
        XCTAssertEqual(y.data, draws.map { $0 >= 0.3 ? 1 / Float(0.7) : 0 })
        ctx.training = false
        XCTAssertEqual(d.forward(x, ctx), x)
    }

    func checkModel(_ json: String, input: [Int], file: StaticString = #filePath, line: UInt = #line) throws -> Model {
        let model = try Model(layers: layers(json), inputShape: Array(input.dropFirst()))
        var gc = GradCheck(params: model.params)
        gc.h = 5e-3
        model.initialize(gc.ctx)
        gc.check(ModelAsLayer(model), input: GradCheck.random(input, seed: 2), file: file, line: line)
        return model
    }

    func testResidualWithIdentityShortcutGradient() throws {
        let m = try checkModel(#"[{"type": "dense", "units": 4}, {"type": "residual", "body": [{"type": "dense", "units": 4}, {"type": "tanh"}, {"type": "dense", "units": 4}]}, {"type": "tanh"}]"#, input: [3, 5])
        XCTAssertEqual(m.params.entries.map(\.name), ["0.weight", "0.bias", "1.body.0.weight", "1.body.0.bias", "1.body.2.weight", "1.body.2.bias"])
    }

    func testResidualWithConvProjectionShortcutGradient() throws {
        let m = try checkModel("""
            [{"type": "residual",
              "body": [{"type": "conv2d", "filters": 3, "kernel": 3, "stride": 2, "padding": 1, "bias": false},
                       {"type": "batchnorm"}, {"type": "tanh"},
                       {"type": "conv2d", "filters": 3, "kernel": 3, "padding": 1, "bias": false}, {"type": "batchnorm"}],
              "shortcut": [{"type": "conv2d", "filters": 3, "kernel": 1, "stride": 2, "bias": false}, {"type": "batchnorm"}]},
             {"type": "tanh"}]
            """, input: [2, 2, 4, 4])
        XCTAssertEqual(m.outputShape, [3, 2, 2])
        XCTAssertEqual(m.params.entries.map(\.name).filter { $0.hasPrefix("0.shortcut") },
                       ["0.shortcut.0.weight", "0.shortcut.1.weight", "0.shortcut.1.bias", "0.shortcut.1.running_mean", "0.shortcut.1.running_var"])
    }

    func testConcatBlockGradientOnImagesAndVectors() throws {
        let m = try checkModel(#"[{"type": "concat", "body": [{"type": "batchnorm"}, {"type": "tanh"}, {"type": "conv2d", "filters": 2, "kernel": 3, "padding": 1}]}, {"type": "tanh"}]"#,
                               input: [2, 3, 3, 3])
        XCTAssertEqual(m.outputShape, [5, 3, 3])
        let flat = try checkModel(#"[{"type": "concat", "body": [{"type": "dense", "units": 2}, {"type": "tanh"}]}, {"type": "dense", "units": 3}]"#, input: [3, 4])
        XCTAssertEqual(flat.body.layers[0].outputShape, [6])
    }

    func testConcatForwardPutsTheInputFirst() throws {
        let model = try Model(layers: layers(#"[{"type": "concat", "body": [{"type": "dense", "units": 1, "bias": false}]}]"#), inputShape: [2])
        let ctx = Context(recorder: .plain(seed: 1), params: model.params, semantics: Semantics(profile: .pytorch))
        model.params.values[0] = 2; model.params.values[1] = -1
        XCTAssertEqual(model.forward(Tensor(shape: [1, 2], data: [3, 5]), ctx).data, [3, 5, 1])
    }

    func testBlocksRecordEveryNestedActivationInExecutionOrder() throws {
        let model = try Model(layers: layers("""
            [{"type": "dense", "units": 3}, {"type": "residual", "body": [{"type": "dense", "units": 3}, {"type": "relu"}],
              "shortcut": [{"type": "dense", "units": 3}]}, {"type": "concat", "body": [{"type": "tanh"}]}]
            """), inputShape: [2])
        let sink = NameSink()
        let rec = Recorder(seed: 1, level: .activations, sink: sink)
        let ctx = Context(recorder: rec, params: model.params, semantics: Semantics(profile: .pytorch))
        model.initialize(ctx)
        sink.names = []
        let y = model.forward(GradCheck.random([2, 2]), ctx)
        model.backward(y, ctx)
        XCTAssertEqual(sink.names, [
            "0.output", "1.body.0.output", "1.body.1.output", "1.shortcut.0.output", "1.output", "2.body.0.output", "2.output",
            "2.body.0.grad_input", "2.grad_input", "1.shortcut.0.grad_input", "1.body.1.grad_input", "1.body.0.grad_input",
            "1.grad_input", "0.grad_input"])
    }

    func testBlockShapeErrorsNameTheJSONPath() {
        XCTAssertThrowsError(try Model(layers: layers(#"[{"type": "residual", "body": [{"type": "dense", "units": 3}]}]"#), inputShape: [2])) { e in
            XCTAssertTrue("\(e)".contains("model.layers[0]: body outputs [3] but the shortcut gives [2]"), "\(e)")
        }
        XCTAssertThrowsError(try Model(layers: layers(#"[{"type": "residual", "body": [{"type": "dense", "unit": 3}]}]"#), inputShape: [2])) { e in
            XCTAssertTrue("\(e)".contains("model.layers[0].body[0].units"), "\(e)")
        }
        XCTAssertThrowsError(try Model(layers: layers(#"[{"type": "concat", "body": []}]"#), inputShape: [2])) { e in
            XCTAssertTrue("\(e)".contains("model.layers[0].body: missing or empty"), "\(e)")
        }
    }
}

/// Dropout with a given mask source, so finite differences see the same mask every call.
final class FixedMaskDropout: Layer {
    let d: Dropout, u: [Float]
    init(_ d: Dropout, _ u: [Float]) { self.d = d; self.u = u }
    var name: String { d.name }
    var spec: JSON { d.spec }
    var outputShape: [Int] { d.outputShape }
    func forward(_ x: Tensor, _ ctx: Context) -> Tensor { d.forward(x, uniforms: u) }
    func backward(_ dy: Tensor, _ ctx: Context) -> Tensor { d.backward(dy, ctx) }
}

/// Collects the names of activation events.
final class NameSink: RecordSink {
    var names: [String] = []
    func wantsPayload(step: Int) -> Bool { false }
    func event(_ e: RecordedEvent) { if e.role == .activation { names.append(e.name) } }
    func endStep(_ summary: StepSummary, events: [RecordedEvent]) throws {}
    func evaluation(_ e: Evaluation) throws {}
    var shouldStop: Bool { false }
}
