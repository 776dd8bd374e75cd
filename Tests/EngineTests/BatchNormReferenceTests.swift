import Foundation
import XCTest
@testable import Engine
import Recorder

/// BatchNorm against real PyTorch 2.13 (Fixtures/batchnorm/golden.json, made by make_golden.py
/// there): one train-mode forward and backward, the running-stat update, and an eval forward.
/// The forward pass (batch statistics, running statistics, train and eval outputs) is bit-identical
/// to torch's CPU kernels. The backward sums are not: torch reduces each plane with SIMD lanes whose
/// width depends on the CPU (AVX2: 8, AVX512: 16), so torch itself differs between machines; here
/// they are within 1e-5 of the largest magnitude.
final class BatchNormReferenceTests: XCTestCase {
    struct Case: Decodable {
        let shape: [Int]
        let x, weight, bias, dy, y, running_mean, running_var, dx, dweight, dbias, y_eval: [Float]
    }

    /// Largest distance in float32 ulps between two arrays.
    func ulps(_ a: [Float], _ b: [Float]) -> Int {
        zip(a, b).map { x, y in
            func key(_ v: Float) -> Int { let b = Int(v.bitPattern); return b & 0x8000_0000 != 0 ? -(b & 0x7FFF_FFFF) : b }
            return abs(key(x) - key(y))
        }.max() ?? 0
    }

    func testMatchesPyTorch() throws {
        let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("batchnorm/golden.json")
        let cases = try JSONDecoder().decode([String: Case].self, from: Data(contentsOf: url))
        for (name, t) in cases.sorted(by: { $0.key < $1.key }) {
            let params = ParameterStore()
            let ctx = Context(recorder: .plain(seed: 1), params: params, semantics: Semantics(profile: .pytorch))
            let bn = BatchNorm(name: "0", shape: Array(t.shape.dropFirst()), momentum: 0.1, epsilon: 1e-5, unbiased: true, params: params)
            bn.initialize(ctx)
            let c = t.shape[1]
            ctx.w(bn.wOff).update(from: t.weight, count: c)
            ctx.w(bn.bOff).update(from: t.bias, count: c)
            let y = bn.forward(Tensor(shape: t.shape, data: t.x), ctx)
            let dx = bn.backward(Tensor(shape: t.shape, data: t.dy), ctx)
            ctx.training = false
            let yEval = bn.forward(Tensor(shape: t.shape, data: t.x), ctx)
            let got: [(String, [Float], [Float])] = [
                ("y", y.data, t.y), ("running_mean", Array(UnsafeBufferPointer(start: ctx.w(bn.meanOff), count: c)), t.running_mean),
                ("running_var", Array(UnsafeBufferPointer(start: ctx.w(bn.varOff), count: c)), t.running_var),
                ("y_eval", yEval.data, t.y_eval), ("dx", dx.data, t.dx),
                ("dweight", Array(UnsafeBufferPointer(start: ctx.g(bn.wOff), count: c)), t.dweight),
                ("dbias", Array(UnsafeBufferPointer(start: ctx.g(bn.bOff), count: c)), t.dbias)]
            for (what, a, b) in got {
                if ["dx", "dweight", "dbias"].contains(what) {
                    let scale = b.map(abs).max() ?? 1
                    let err = zip(a, b).map { abs($0 - $1) }.max() ?? 0
                    XCTAssertLessThanOrEqual(err, 1e-5 * scale, "\(name) \(what): max abs diff \(err) (\(ulps(a, b)) ulp)")
                } else {
                    XCTAssertEqual(ulps(a, b), 0, "\(name) \(what) differs from torch")
                }
            }
        }
    }
}
