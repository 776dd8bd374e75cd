import Foundation
import XCTest
@testable import Engine
import Recorder

/// Parallel batch reductions and the reference GEMM.
final class ReductionTests: XCTestCase {
    func values(_ count: Int, site: String) -> [Float] {
        Recorder.plain(seed: 11).normal(site: site, count: count)
    }

    /// Replays a fixed order for every site: what a replay sink does.
    final class FixedOrder: RecordSink {
        let order: [Int]
        var sites: [String] = []
        init(_ order: [Int]) { self.order = order }
        func wantsPayload(step: Int) -> Bool { false }
        func event(_ e: RecordedEvent) { sites.append(e.name) }
        func endStep(_ summary: StepSummary, events: [RecordedEvent]) throws {}
        func evaluation(_ e: Evaluation) throws {}
        var shouldStop: Bool { false }
        func recordedReductionOrder(step: Int, seq: Int, site: String) -> [Int]? { order }
    }

    func testParallelColumnSumsCombineChunksInTheRecorderOrder() {
        let rows = 37, cols = 5
        let m = values(rows * cols, site: "m")
        let order = [7, 3, 0, 6, 1, 5, 2, 4]
        let sink = FixedOrder(order)
        let r = BatchReduction(mode: .parallel, threads: 3, site: "reduce/b/step-0", recorder: Recorder(seed: 1, level: .params, sink: sink))
        var out = [Float](repeating: 0, count: cols)
        m.withUnsafeBufferPointer { mp in out.withUnsafeMutableBufferPointer { r.columnSums(mp.baseAddress!, rows: rows, cols: cols, into: $0.baseAddress!) } }
        // Expected: chunk c covers rows c*37/8 ..< (c+1)*37/8, each summed in row order from 0,
        // then out += partial[o] for o in order.
        var expected = [Float](repeating: 0, count: cols)
        for c in order {
            for j in 0..<cols {
                var acc: Float = 0
                for i in (c * rows / 8)..<((c + 1) * rows / 8) { acc += m[i * cols + j] }
                expected[j] += acc
            }
        }
        XCTAssertEqual(out.map(\.bitPattern), expected.map(\.bitPattern))
        XCTAssertEqual(sink.sites, ["reduce/b/step-0"])
    }

    func testParallelOrderIsTheObservedCompletionOrderAndAPermutation() {
        for threads in [1, 2, 4] {
            let completed = ParallelChunks.run(chunks: 8, threads: threads) { _, _ in }
            XCTAssertEqual(completed.sorted(), Array(0..<8), "threads \(threads)")
            if threads == 1 { XCTAssertEqual(completed, Array(0..<8)) }
        }
    }

    func testSequentialBatchReductionIsOneCallOverAllRows() {
        var calls: [Range<Int>] = []
        var out: Float = 0
        BatchReduction.sequential.accumulate(rows: 10, width: 1, into: &out) { r, dst in calls.append(r); dst.pointee += 1 }
        XCTAssertEqual(calls, [0..<10])
        let v = values(1000, site: "v")
        let seq = v.withUnsafeBufferPointer { BatchReduction.sequential.sum($0.baseAddress!, count: 1000) }
        var acc: Float = 0
        for x in v { acc += x }
        XCTAssertEqual(seq.bitPattern, acc.bitPattern)
    }

    /// Different combination orders give different bits: the nondeterminism is real.
    func testCombinationOrderChangesTheBits() {
        let v = values(4096, site: "loss")
        var sums = Set<UInt32>()
        for order in [Array(0..<8), Array((0..<8).reversed()), [3, 1, 4, 0, 5, 2, 6, 7], [6, 2, 7, 1, 0, 4, 3, 5]] {
            let r = BatchReduction(mode: .parallel, threads: 2, site: "reduce/loss/step-0",
                                   recorder: Recorder(seed: 1, level: .params, sink: FixedOrder(order)))
            sums.insert(v.withUnsafeBufferPointer { r.sum($0.baseAddress!, count: v.count) }.bitPattern)
        }
        XCTAssertGreaterThan(sums.count, 1)
    }

    /// The fast reference GEMM is the definition bit for bit (every transpose, ragged sizes,
    /// alpha/beta), on 1 and 3 threads.
    func testReferenceGEMMMatchesTheDefinitionOnAnyThreadCount() {
        for (m, n, k) in [(1, 1, 1), (5, 7, 3), (67, 300, 129), (130, 9, 70)] {
            for transA in [false, true] {
                for transB in [false, true] {
                    let a = values(m * k, site: "a\(m)"), b = values(k * n, site: "b\(n)"), c0 = values(m * n, site: "c\(m)")
                    let lda = transA ? m : k, ldb = transB ? k : n
                    var want = c0
                    a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in want.withUnsafeMutableBufferPointer { cp in
                        ReferenceGEMM.naive(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: ap.baseAddress!, lda: lda,
                                            b: bp.baseAddress!, ldb: ldb, beta: 1, c: cp.baseAddress!, ldc: n)
                    } } }
                    for t in [1, 3] {
                        var got = c0
                        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in got.withUnsafeMutableBufferPointer { cp in
                            ReferenceGEMM.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: ap.baseAddress!, lda: lda,
                                                b: bp.baseAddress!, ldb: ldb, beta: 1, c: cp.baseAddress!, ldc: n, threads: t)
                        } } }
                        XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), "m\(m) n\(n) k\(k) tA \(transA) tB \(transB) threads \(t)")
                    }
                }
            }
        }
    }
}

/// Layers whose batch sums run as parallel or chunked reductions: finite-difference gradient
/// checks on such a context (2 workers, 8 chunks), and agreement with the sequential gradients.
final class ParallelLayerGradientTests: XCTestCase {
    func context(_ params: ParameterStore, _ mode: ReductionMode) -> Context {
        let ctx = Context(recorder: .plain(seed: 3), params: params, semantics: Semantics(profile: .pytorch), gemm: .reference,
                          reduction: mode, threads: 2)
        ctx.step = 4
        return ctx
    }

    /// Gradient check in parallel and in chunked mode; then sequential and split gradients agree to rounding.
    func check(_ make: (ParameterStore) -> Layer, input: Tensor, file: StaticString = #filePath, line: UInt = #line) {
        for mode in [ReductionMode.parallel, .chunked] { check(make, input: input, mode: mode, file: file, line: line) }
    }

    func check(_ make: (ParameterStore) -> Layer, input: Tensor, mode: ReductionMode, file: StaticString, line: UInt) {
        let params = ParameterStore()
        let layer = make(params)
        let par = context(params, mode)
        layer.initialize(par)
        GradCheck(par).check(layer, input: input, file: file, line: line)

        func grads(_ ctx: Context) -> [Float] {
            params.zeroGrads()
            let y = layer.forward(input, ctx)
            _ = layer.backward(GradCheck.random(y.shape, seed: 4, site: "dy"), ctx)
            return Array(UnsafeBufferPointer(start: params.grads, count: params.count))
        }
        let p = grads(par), s = grads(context(params, .sequential))
        for (i, (a, b)) in zip(p, s).enumerated() {
            XCTAssertEqual(a, b, accuracy: 1e-5 * max(1, abs(b)), "\(mode) \(layer.name) grad[\(i)]", file: file, line: line)
        }
    }

    func testDense() {
        check({ Dense(name: "1", inFeatures: 5, units: 4, bias: true, params: $0) }, input: GradCheck.random([11, 5]))
    }

    func testConv2D() {
        let g = Window2D(channels: 2, inH: 5, inW: 5, kh: 3, kw: 3, top: 1, bottom: 1, left: 1, right: 1)
        check({ Conv2D(name: "0", geometry: g, filters: 3, bias: true, params: $0) }, input: GradCheck.random([9, 2, 5, 5]))
    }

    func testBatchNorm() {
        check({ BatchNorm(name: "2", shape: [3, 2, 2], momentum: 0.1, epsilon: 1e-5, unbiased: true, params: $0) },
              input: GradCheck.random([10, 3, 2, 2]))
    }
}
