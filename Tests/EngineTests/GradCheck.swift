import XCTest
@testable import Engine
import Recorder

/// Finite-difference gradient checks. The scalar objective is L = sum_i r_i * f(x)_i with fixed
/// random weights r, accumulated in Float64 so the check measures the op, not the summation.
/// Central differences with step h; an element passes when
/// |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|).
struct GradCheck {
    let ctx: Context
    var h: Float = 1e-2
    var rtol: Double = 2e-2
    var atol: Double = 2e-3

    init(_ ctx: Context) { self.ctx = ctx }

    init(params: ParameterStore, semantics: String = "pytorch", seed: UInt64 = 7) {
        self.init(Context(recorder: .plain(seed: seed), params: params, semantics: Semantics(profile: Semantics.Profile(rawValue: semantics)!)))
    }

    static func random(_ shape: [Int], seed: UInt64 = 1, site: String = "x", scale: Float = 1) -> Tensor {
        var s = RandomStream(seed: seed, site: site)
        var d = [Float](repeating: 0, count: shape.reduce(1, *))
        d.withUnsafeMutableBufferPointer { s.uniform(into: $0) }
        return Tensor(shape: shape, data: d.map { ($0 * 2 - 1) * scale })
    }

    func objective(_ y: Tensor, _ r: [Float]) -> Double {
        zip(y.data, r).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    }

    /// Checks d/dx and d/dparams of `forward` against `backward` for a layer.
    func check(_ layer: Layer, input: Tensor, file: StaticString = #filePath, line: UInt = #line) {
        let y0 = layer.forward(input, ctx)
        let r = GradCheck.random(y0.shape, seed: 99, site: "r").data
        ctx.params.zeroGrads()
        _ = layer.forward(input, ctx)
        let dx = layer.backward(Tensor(shape: y0.shape, data: r), ctx)
        let analyticParams = Array(UnsafeBufferPointer(start: ctx.params.grads, count: ctx.params.count))

        func numeric(_ bump: (Float) -> Void) -> Double {
            bump(h); let up = objective(layer.forward(input, ctx), r)
            bump(-2 * h); let down = objective(layer.forward(input, ctx), r)
            bump(h)
            return (up - down) / (2 * Double(h))
        }
        for i in input.data.indices {
            let up = objective(layer.forward(bumped(input, i, h), ctx), r)
            let down = objective(layer.forward(bumped(input, i, -h), ctx), r)
            assertClose(Double(dx.data[i]), (up - down) / (2 * Double(h)), "\(layer.name) d/dx[\(i)]", file: file, line: line)
        }
        for e in ctx.params.entries where e.trainable {
            for i in 0..<e.count {
                let p = ctx.params.values + e.offset + i
                let num = numeric { d in p.pointee += d }
                assertClose(Double(analyticParams[e.offset + i]), num, "\(e.name)[\(i)]", file: file, line: line)
            }
        }
    }

    func bumped(_ t: Tensor, _ i: Int, _ d: Float) -> Tensor {
        var t = t
        t.data[i] += d
        return t
    }

    func assertClose(_ a: Double, _ n: Double, _ what: String, file: StaticString, line: UInt) {
        let ok = abs(a - n) <= atol + rtol * max(abs(a), abs(n))
        XCTAssertTrue(ok, "\(what): analytic \(a) vs numeric \(n)", file: file, line: line)
    }
}
