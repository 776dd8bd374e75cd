import XCTest
@testable import Engine
import Recorder

/// Finite-difference checks of conv2d and pooling backward passes, for every padding form and
/// both `padding.same` rules, and the resolved padding each rule produces.
final class ConvGradientTests: XCTestCase {
    /// Builds one layer through the factory (the path users take), so padding parsing is covered too.
    func build(_ spec: [String: JSON], input: [Int], semantics: String = "pytorch") throws -> (Layer, ParameterStore, GradCheck) {
        let params = ParameterStore()
        let layer = try LayerFactory.build(.object(spec), name: "1", path: "model.layers[1]", inputShape: input, params: params,
                                           semantics: Semantics(profile: Semantics.Profile(rawValue: semantics)!))
        let gc = GradCheck(params: params, semantics: semantics)
        layer.initialize(gc.ctx)
        return (layer, params, gc)
    }

    func conv(_ filters: Int, _ kernel: JSON, stride: Int = 1, padding: JSON, bias: Bool = true) -> [String: JSON] {
        ["type": .string("conv2d"), "filters": .number(Double(filters)), "kernel": kernel, "stride": .number(Double(stride)),
         "padding": padding, "bias": .bool(bias)]
    }

    func padding(of layer: Layer) -> JSON? { layer.spec["padding"] }
    func pad(_ p: [Int]) -> JSON { .array(p.map { .number(Double($0)) }) }

    func testConvIntPaddingStride1() throws {
        let (l, _, gc) = try build(conv(3, .number(3), padding: .number(1)), input: [2, 5, 4])
        XCTAssertEqual(l.outputShape, [3, 5, 4])
        gc.check(l, input: GradCheck.random([2, 2, 5, 4]))
    }

    func testConvValidNoBiasNonSquareKernel() throws {
        let (l, params, gc) = try build(conv(2, .array([.number(2), .number(3)]), padding: .string("valid"), bias: false), input: [3, 5, 6])
        XCTAssertEqual(l.outputShape, [2, 4, 4])
        XCTAssertEqual(params.entries.map(\.name), ["1.weight"])
        XCTAssertEqual(params.entries[0].shape, [2, 3, 2, 3])
        gc.check(l, input: GradCheck.random([2, 3, 5, 6]))
    }

    /// "same" with stride 2 on an even input: the two rules pad differently; both are checked.
    func testConvSameStride2BothRules() throws {
        // Odd kernel 3 on 6x6, stride 2: out 3. symmetric: 1 + 1; tensorflow: total max(2*2+3-6, 0) = 1 -> 0 + 1.
        // Even kernel 4 on 7x7, stride 2: out 4. symmetric: 1 + 2; tensorflow: total 3*2+4-7 = 3 -> 1 + 2.
        let expected: [(kernel: Int, input: Int, sem: String, pad: [Int])] = [
            (3, 6, "pytorch", [1, 1, 1, 1]), (3, 6, "keras", [0, 1, 0, 1]),
            (4, 7, "pytorch", [1, 2, 1, 2]), (4, 7, "keras", [1, 2, 1, 2]),
            (2, 6, "pytorch", [0, 1, 0, 1]), (2, 6, "keras", [0, 0, 0, 0]),
        ]
        for e in expected {
            let (l, _, gc) = try build(conv(2, .number(Double(e.kernel)), stride: 2, padding: .string("same")),
                                       input: [2, e.input, e.input], semantics: e.sem)
            XCTAssertEqual(padding(of: l), pad(e.pad), "k\(e.kernel) on \(e.input) under \(e.sem)")
            XCTAssertEqual(l.outputShape, [2, (e.input + 1) / 2, (e.input + 1) / 2])
            gc.check(l, input: GradCheck.random([2, 2, e.input, e.input], seed: UInt64(e.kernel)))
        }
    }

    func testConvSameStride1EvenKernelAgreesAcrossRules() throws {
        for sem in ["pytorch", "keras"] {
            let (l, _, gc) = try build(conv(2, .number(2), padding: .string("same")), input: [1, 5, 5], semantics: sem)
            XCTAssertEqual(padding(of: l), pad([0, 1, 0, 1]))
            gc.check(l, input: GradCheck.random([2, 1, 5, 5]))
        }
    }

    func testConvExplicitAsymmetricPaddingStride2() throws {
        let (l, _, gc) = try build(conv(3, .number(3), stride: 2, padding: pad([0, 2, 1, 0])), input: [2, 6, 5])
        XCTAssertEqual(l.outputShape, [3, 3, 2])
        gc.check(l, input: GradCheck.random([2, 2, 6, 5]))
    }

    func testConvPointwiseFastPathAndReferenceGEMM() throws {
        let params = ParameterStore()
        let layer = try LayerFactory.build(.object(conv(4, .number(1), padding: .number(0))), name: "0", path: "p", inputShape: [3, 2, 3],
                                           params: params, semantics: Semantics(profile: .keras))
        let ctx = Context(recorder: .plain(seed: 5), params: params, semantics: Semantics(profile: .keras), gemm: .reference,
                          reduction: .pairwise)
        layer.initialize(ctx)
        GradCheck(ctx).check(layer, input: GradCheck.random([3, 3, 2, 3]))
    }

    /// Distinct values spaced 0.05 apart, shuffled: finite differences of h = 0.01 never change the argmax.
    func separated(_ shape: [Int], seed: UInt64 = 3) -> Tensor {
        let n = shape.reduce(1, *)
        var s = RandomStream(seed: seed, site: "perm")
        let perm = s.permutation(n)
        return Tensor(shape: shape, data: perm.map { Float($0) * 0.05 - Float(n) * 0.025 })
    }

    func pool(_ type: String, size: Int, stride: Int? = nil, padding: JSON, countIncludePad: Bool? = nil) -> [String: JSON] {
        var o: [String: JSON] = ["type": .string(type), "size": .number(Double(size)), "padding": padding]
        if let stride { o["stride"] = .number(Double(stride)) }
        if let countIncludePad { o["countIncludePad"] = .bool(countIncludePad) }
        return o
    }

    func testMaxPoolPaddedStride2() throws {
        let (l, _, gc) = try build(pool("maxpool", size: 3, stride: 2, padding: .number(1)), input: [2, 7, 6])
        XCTAssertEqual(l.outputShape, [2, 4, 3])
        gc.check(l, input: separated([2, 2, 7, 6]))
    }

    func testMaxPoolSameBothRulesAndDefaultStride() throws {
        for sem in ["pytorch", "keras"] {
            let (l, _, gc) = try build(pool("maxpool", size: 2, padding: .string("same")), input: [1, 5, 5], semantics: sem)
            XCTAssertEqual(l.spec["stride"], pad([2, 2]))
            XCTAssertEqual(padding(of: l), pad(sem == "keras" ? [0, 1, 0, 1] : [0, 1, 0, 1]))
            gc.check(l, input: separated([2, 1, 5, 5]))
        }
    }

    func testAvgPoolBothCountModes() throws {
        for include in [true, false] {
            let (l, _, gc) = try build(pool("avgpool", size: 3, stride: 2, padding: .number(1), countIncludePad: include), input: [2, 5, 6])
            XCTAssertEqual(l.outputShape, [2, 3, 3])
            gc.check(l, input: GradCheck.random([2, 2, 5, 6]))
        }
    }

    func testAvgPoolSameDefaultsToValidCount() throws {
        let (l, _, gc) = try build(pool("avgpool", size: 3, stride: 2, padding: .string("same")), input: [1, 6, 6], semantics: "keras")
        XCTAssertEqual(l.spec["countIncludePad"], .bool(false))
        XCTAssertEqual(padding(of: l), pad([0, 1, 0, 1]))
        // The bottom-right window holds 2x2 inputs and 1 padding row/col: its mean is over 4 values.
        var x = Tensor(zeros: [1, 1, 6, 6])
        x.data[4 * 6 + 4] = 4; x.data[4 * 6 + 5] = 8; x.data[5 * 6 + 4] = 12; x.data[5 * 6 + 5] = 16
        XCTAssertEqual(l.forward(x, gc.ctx).data.last, 10)
        gc.check(l, input: GradCheck.random([2, 1, 6, 6]))
    }

    func testGlobalAvgPool() throws {
        let (l, _, gc) = try build(["type": .string("globalavgpool")], input: [3, 4, 5])
        XCTAssertEqual(l.outputShape, [3])
        gc.check(l, input: GradCheck.random([2, 3, 4, 5]))
    }

    func testWholeCNNGradient() throws {
        let specs: [JSON] = [
            .object(conv(3, .number(3), padding: .number(1))), .object(["type": .string("tanh")]),
            .object(pool("avgpool", size: 2, padding: .number(0))),
            .object(conv(4, .number(3), stride: 2, padding: .string("same"), bias: false)),
            .object(pool("avgpool", size: 2, stride: 1, padding: .string("valid"))),
            .object(["type": .string("globalavgpool")]), .object(["type": .string("dense"), "units": .number(3)]),
        ]
        let model = try Model(layers: specs, inputShape: [2, 8, 8], semantics: Semantics(profile: .keras))
        XCTAssertEqual(model.outputShape, [3])
        // Pooling by average here: a weight bump moves every position of a channel, so a max over
        // near-equal values could switch its argmax (maxpool is checked on well-separated inputs above).
        let gc = GradCheck(params: model.params, semantics: "keras")
        model.initialize(gc.ctx)
        gc.check(ModelAsLayer(model), input: GradCheck.random([2, 2, 8, 8], seed: 9))
    }
}

/// The contiguous "shifted" im2col/col2im (stride 1, width-preserving padding) against the general path.
final class Im2colPathTests: XCTestCase {
    func testShiftedPathMatchesGeneral() {
        let cases: [Window2D] = [
            Window2D(channels: 2, inH: 5, inW: 6, kh: 3, kw: 3, top: 1, bottom: 1, left: 1, right: 1),
            Window2D(channels: 1, inH: 7, inW: 7, kh: 4, kw: 4, top: 1, bottom: 2, left: 1, right: 2),
            Window2D(channels: 2, inH: 4, inW: 5, kh: 1, kw: 3, top: 0, bottom: 0, left: 1, right: 1),
            Window2D(channels: 1, inH: 6, inW: 4, kh: 3, kw: 5, top: 2, bottom: 0, left: 2, right: 2),
            Window2D(channels: 1, inH: 2, inW: 3, kh: 5, kw: 3, top: 3, bottom: 3, left: 0, right: 2),
        ]
        for (n, g) in cases.enumerated() {
            XCTAssertTrue(g.isShiftable)
            let x = GradCheck.random([g.channels * g.inPlane], seed: UInt64(n)).data
            let size = g.patch * g.outPlane
            var a = [Float](repeating: .nan, count: size), b = [Float](repeating: .nan, count: size)
            x.withUnsafeBufferPointer { xp in
                a.withUnsafeMutableBufferPointer { Im2col.forwardShifted(xp.baseAddress!, g, into: $0.baseAddress!, ld: g.outPlane) }
                b.withUnsafeMutableBufferPointer { Im2col.forwardGeneral(xp.baseAddress!, g, into: $0.baseAddress!, ld: g.outPlane) }
            }
            XCTAssertEqual(a, b, "im2col case \(n)")
            var dcol = GradCheck.random([size], seed: 40 + UInt64(n)).data
            var da = [Float](repeating: 0, count: x.count), db = da
            dcol.withUnsafeMutableBufferPointer { d in
                db.withUnsafeMutableBufferPointer { Im2col.backwardGeneral(d.baseAddress!, g, ld: g.outPlane, into: $0.baseAddress!) }
                da.withUnsafeMutableBufferPointer { Im2col.backwardShifted(d.baseAddress!, g, ld: g.outPlane, into: $0.baseAddress!) }
            }
            XCTAssertEqual(da, db, "col2im case \(n)")
        }
    }

    /// Channel-parallel im2col/col2im gives the same bits as one thread (each chunk owns its rows).
    func testThreadedMatchesSingleThread() {
        for g in [Window2D(channels: 10, inH: 20, inW: 20, kh: 3, kw: 3, top: 1, bottom: 1, left: 1, right: 1),
                  Window2D(channels: 10, inH: 41, inW: 40, kh: 3, kw: 3, sh: 2, sw: 2, top: 0, bottom: 1, left: 0, right: 1)] {
            let x = GradCheck.random([g.channels * g.inPlane], seed: 4).data
            let size = g.patch * g.outPlane
            XCTAssertGreaterThanOrEqual(size, Im2col.parallelThreshold)
            var a = [Float](repeating: .nan, count: size), b = a
            x.withUnsafeBufferPointer { xp in
                a.withUnsafeMutableBufferPointer { Im2col.forward(xp.baseAddress!, g, into: $0.baseAddress!, ld: g.outPlane, threads: 1) }
                b.withUnsafeMutableBufferPointer { Im2col.forward(xp.baseAddress!, g, into: $0.baseAddress!, ld: g.outPlane, threads: 3) }
            }
            XCTAssertEqual(a, b)
            var d1 = GradCheck.random([size], seed: 8).data, d2 = d1
            var dx1 = [Float](repeating: 0, count: x.count), dx2 = dx1
            d1.withUnsafeMutableBufferPointer { d in
                dx1.withUnsafeMutableBufferPointer { Im2col.backward(d.baseAddress!, g, ld: g.outPlane, into: $0.baseAddress!, threads: 1) }
            }
            d2.withUnsafeMutableBufferPointer { d in
                dx2.withUnsafeMutableBufferPointer { Im2col.backward(d.baseAddress!, g, ld: g.outPlane, into: $0.baseAddress!, threads: 2) }
            }
            XCTAssertEqual(dx1.map(\.bitPattern), dx2.map(\.bitPattern))
        }
    }

    /// Pooling split over planes gives the same bits with 1 and 2 threads.
    func testThreadedPoolingMatchesSingleThread() throws {
        let x = GradCheck.random([2, 8, 48, 48], seed: 12)
        let dyShape = [2, 8, 24, 24]
        let dy = GradCheck.random(dyShape, seed: 13)
        for spec in [#"{"type": "maxpool", "size": 2}"#, #"{"type": "maxpool", "size": 3, "stride": 2, "padding": "same"}"#,
                     #"{"type": "avgpool", "size": 3, "stride": 2, "padding": "same"}"#] {
            var results: [[UInt32]] = []
            for threads in [1, 2] {
                let params = ParameterStore()
                let layer = try LayerFactory.build(try JSON.parse(Array(spec.utf8), source: "t"), name: "0", path: "p", inputShape: [8, 48, 48],
                                                   params: params, semantics: Semantics(profile: .keras))
                let ctx = Context(recorder: .plain(seed: 1), params: params, semantics: Semantics(profile: .keras), threads: threads)
                let y = layer.forward(x, ctx)
                XCTAssertEqual(y.shape, dyShape)
                results.append((y.data + layer.backward(dy, ctx).data).map(\.bitPattern))
            }
            XCTAssertEqual(results[0], results[1], spec)
        }
    }
}
