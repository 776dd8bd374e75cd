import Foundation
import XCTest
@testable import Engine
import Recorder

/// Known answers from real PyTorch (scripts/conv_fixtures.py, torch 2.13, computed in float64):
/// conv2d and pooling outputs and gradients for given weights, inputs and dy, so layouts (NCHW,
/// weight (O, I, kh, kw)) and padding rules match torch exactly, not only self-consistently.
final class ConvTorchFixtureTests: XCTestCase {
    struct Case: Decodable {
        let name: String, op: String
        let x: [Double], xShape: [Int], y: [Double], yShape: [Int], dy: [Double], dx: [Double]
        let weight: [Double]?, weightShape: [Int]?, bias: [Double]?, dweight: [Double]?, dbias: [Double]?
        let size: [Int]?, stride: [Int], padding: [Int], countIncludePad: Bool?
    }

    func load() throws -> [Case] {
        let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("conv-pool-torch.json")
        struct File: Decodable { let cases: [Case] }
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).cases
    }

    func assertClose(_ a: [Float], _ b: [Double], _ what: String) {
        XCTAssertEqual(a.count, b.count, what)
        let scale = max(1, b.map(abs).max() ?? 1)
        for (i, (u, v)) in zip(a, b).enumerated() where abs(Double(u) - v) > 2e-5 * scale {
            XCTFail("\(what)[\(i)]: cwrepro \(u) vs torch \(v)"); return
        }
    }

    func testMatchesTorch() throws {
        let cases = try load()
        XCTAssertEqual(cases.count, 8)
        for c in cases {
            let ints = { (a: [Int]) in JSON.array(a.map { .number(Double($0)) }) }
            var spec: [String: JSON] = ["type": .string(c.op), "stride": ints(c.stride), "padding": ints(c.padding)]
            if c.op == "conv2d" {
                spec["filters"] = .number(Double(c.weightShape![0])); spec["kernel"] = ints(Array(c.weightShape![2...]))
                spec["bias"] = .bool(c.bias != nil)
            } else {
                spec["size"] = ints(c.size!)
                if let inc = c.countIncludePad, c.op == "avgpool" { spec["countIncludePad"] = .bool(inc) }
            }
            let params = ParameterStore()
            let layer = try LayerFactory.build(.object(spec), name: "0", path: c.name, inputShape: Array(c.xShape.dropFirst()),
                                               params: params, semantics: Semantics(profile: .pytorch))
            let ctx = Context(recorder: .plain(seed: 1), params: params, semantics: Semantics(profile: .pytorch))
            if let w = c.weight { (params.values + params.entry("0.weight")!.offset).update(from: w.map(Float.init), count: w.count) }
            if let b = c.bias { (params.values + params.entry("0.bias")!.offset).update(from: b.map(Float.init), count: b.count) }
            let y = layer.forward(Tensor(shape: c.xShape, data: c.x.map(Float.init)), ctx)
            XCTAssertEqual(y.shape, c.yShape, c.name)
            assertClose(y.data, c.y, "\(c.name) y")
            let dx = layer.backward(Tensor(shape: c.yShape, data: c.dy.map(Float.init)), ctx)
            assertClose(dx.data, c.dx, "\(c.name) dx")
            if let dw = c.dweight { assertClose(Array(params.grads(of: params.entry("0.weight")!)), dw, "\(c.name) dweight") }
            if let db = c.dbias { assertClose(Array(params.grads(of: params.entry("0.bias")!)), db, "\(c.name) dbias") }
        }
    }

    /// A tiny case by hand: a 2x2 all-ones kernel over a 3x3 ramp, padding [0, 1, 0, 1] (TF "same").
    func testHandComputedConvAndPools() throws {
        let params = ParameterStore()
        let sem = Semantics(profile: .keras)
        let conv = try LayerFactory.build(.object(["type": .string("conv2d"), "filters": .number(1), "kernel": .number(2),
                                                   "padding": .string("same"), "bias": .bool(false)]),
                                          name: "0", path: "p", inputShape: [1, 3, 3], params: params, semantics: sem)
        let ctx = Context(recorder: .plain(seed: 1), params: params, semantics: sem)
        params.values.update(repeating: 1, count: 4)
        let x = Tensor(shape: [1, 1, 3, 3], data: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        // Windows anchored at each input, extending down/right into the zero padding.
        XCTAssertEqual(conv.forward(x, ctx).data, [12, 16, 9, 24, 28, 15, 15, 17, 9])
        let maxp = try LayerFactory.build(.object(["type": .string("maxpool"), "size": .number(2), "stride": .number(1), "padding": .string("same")]),
                                          name: "1", path: "p", inputShape: [1, 3, 3], params: params, semantics: sem)
        XCTAssertEqual(maxp.forward(x, ctx).data, [5, 6, 6, 8, 9, 9, 8, 9, 9])
        let avgp = try LayerFactory.build(.object(["type": .string("avgpool"), "size": .number(2), "stride": .number(1), "padding": .string("same")]),
                                          name: "2", path: "p", inputShape: [1, 3, 3], params: params, semantics: sem)
        XCTAssertEqual(avgp.forward(x, ctx).data, [3, 4, 4.5, 6, 7, 7.5, 7.5, 8.5, 9])
        // Ties: the first maximum in scan order receives the gradient (as torch).
        let tie = try LayerFactory.build(.object(["type": .string("maxpool"), "size": .number(2)]), name: "3", path: "p",
                                         inputShape: [1, 2, 2], params: params, semantics: sem)
        _ = tie.forward(Tensor(shape: [1, 1, 2, 2], data: [1, 3, 3, 3]), ctx)
        XCTAssertEqual(tie.backward(Tensor(shape: [1, 1, 1, 1], data: [1]), ctx).data, [0, 1, 0, 0])
    }
}
