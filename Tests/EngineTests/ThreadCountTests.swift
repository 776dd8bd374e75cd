import Foundation
import XCTest
@testable import Engine
import Recorder

/// What a run's bits may and may not depend on when it runs on more threads: a convolution never
/// (its groups of samples are shared out whole, each GEMM the one-thread call; its weight
/// gradient's chain is one-thread calls); `chunked` reductions never (fixed chunks, added in chunk
/// order, dense layers in fixed column blocks). Only `sequential`/`pairwise` dense layers big
/// enough for OpenBLAS's threads, and `parallel`'s completion order, do.
final class ThreadCountTests: XCTestCase {
    func conv(_ g: Window2D, filters: Int, params: ParameterStore) -> Conv2D {
        Conv2D(name: "0", geometry: g, filters: filters, bias: true, params: params)
    }

    /// y and dx of 3x3 stride 1 (the transposed-convolution path), 3x3 stride 2 (col2im), 1x1, a
    /// small map grouped several samples to a GEMM, and a single sample (one group: nothing to
    /// share out, but GEMMs that OpenBLAS would split between its own threads), with OpenBLAS and
    /// the reference GEMM, on 1, 2 and 3 threads: the same bits, on whatever kernels OpenBLAS
    /// picked on this CPU.
    func testConvolutionForwardAndInputGradientDoNotDependOnTheThreadCount() {
        let cases: [(Window2D, filters: Int, n: Int)] = [
            (Window2D(channels: 8, inH: 16, inW: 16, kh: 3, kw: 3, top: 1, bottom: 1, left: 1, right: 1), 16, 24),
            (Window2D(channels: 8, inH: 17, inW: 16, kh: 3, kw: 3, sh: 2, sw: 2, top: 1, bottom: 1, left: 0, right: 1), 24, 24),
            (Window2D(channels: 16, inH: 12, inW: 12, kh: 1, kw: 1, top: 0, bottom: 0, left: 0, right: 0), 32, 24),
            (Window2D(channels: 32, inH: 6, inW: 6, kh: 3, kw: 3, top: 1, bottom: 1, left: 1, right: 1), 32, 24),
            (Window2D(channels: 16, inH: 32, inW: 32, kh: 3, kw: 3, top: 1, bottom: 1, left: 1, right: 1), 16, 1),
        ]
        for (g, filters, n) in cases {
            let work = filters * g.patch * g.outPlane * n
            XCTAssertGreaterThanOrEqual(work, Conv2D.parallelMinWork, "\(g): big enough to run on several threads")
            let x = GradCheck.random([n, g.channels, g.inH, g.inW], seed: 5)
            let dy = GradCheck.random([n, filters, g.outH, g.outW], seed: 6)
            for mode in GEMMMode.allCases {
                var results: [[UInt32]] = []
                for threads in [1, 2, 3] {
                    let params = ParameterStore()
                    let layer = conv(g, filters: filters, params: params)
                    let ctx = Context(recorder: .plain(seed: 2), params: params, semantics: Semantics(profile: .pytorch),
                                      gemm: mode, reduction: .sequential, threads: threads)
                    layer.initialize(ctx)
                    // As a training run: OpenBLAS on the run's thread count.
                    let (y, dx) = ProcessConfiguration.withOpenBLAS(threads: threads) {
                        (layer.forward(x, ctx), layer.inputGradient(dy, ctx))
                    }
                    results.append((y.data + dx.data).map(\.bitPattern))
                }
                XCTAssertEqual(results[0], results[1], "\(g) \(mode) 1 vs 2 threads")
                XCTAssertEqual(results[0], results[2], "\(g) \(mode) 1 vs 3 threads")
            }
        }
    }

    /// `chunked` combines the chunks in index order and records nothing.
    func testChunkedColumnSumsAddTheChunksInIndexOrder() {
        let rows = 37, cols = 5
        let m = Recorder.plain(seed: 11).normal(site: "m", count: rows * cols)
        let sink = ReductionTests.FixedOrder(Array(0..<8))   // records the sites it sees; chunked asks for no order
        for threads in [1, 3] {
            let r = BatchReduction(mode: .chunked, threads: threads, site: "reduce/b/step-0", recorder: Recorder(seed: 1, level: .params, sink: sink))
            var out = [Float](repeating: 0, count: cols)
            m.withUnsafeBufferPointer { mp in out.withUnsafeMutableBufferPointer { r.columnSums(mp.baseAddress!, rows: rows, cols: cols, into: $0.baseAddress!) } }
            var expected = [Float](repeating: 0, count: cols)
            for c in 0..<8 {
                for j in 0..<cols {
                    var acc: Float = 0
                    for i in (c * rows / 8)..<((c + 1) * rows / 8) { acc += m[i * cols + j] }
                    expected[j] += acc
                }
            }
            XCTAssertEqual(out.map(\.bitPattern), expected.map(\.bitPattern), "threads \(threads)")
        }
        XCTAssertEqual(sink.sites, [], "a chunked reduction has no order to record")
    }

    /// The parameters after three training steps of `layers` (48 digits a step) with `optimizer`,
    /// `reduction` and `threads`.
    func parameters(layers: String, optimizer: String, reduction: String, threads: Int, seed: Int) throws -> [UInt32] {
        let text = """
            {"seed": \(seed), "data": {"dataset": "digits", "batchSize": 48}, "model": {"layers": \(layers)},
             "optimizer": \(optimizer), "determinism": {"threads": \(threads), "reduction": "\(reduction)"}}
            """
        let config = try TrainConfig.parse(JSON.parse(Array(text.utf8), source: "test"), baseDirectory: "/")
        let trainer = try Trainer(config: config, recorder: .plain(seed: config.seed))
        trainer.withProcessConfigured {
            trainer.model.initialize(trainer.ctx)
            for s in 0..<3 { _ = trainer.trainStep(Array((s * 48)..<((s + 1) * 48)), step: s, lr: config.optimizer.lr) }
        }
        return Array(UnsafeBufferPointer(start: trainer.model.params.values, count: trainer.model.params.count)).map(\.bitPattern)
    }

    /// Convolutions with BatchNorm, a residual block and a strided convolution, then `head`.
    static func convolutional(head: String) -> String {
        """
        [{"type": "conv2d", "filters": 16, "kernel": 3, "padding": 1}, {"type": "batchnorm"}, {"type": "relu"},
         {"type": "residual", "body": [{"type": "conv2d", "filters": 16, "kernel": 3, "padding": 1}, {"type": "batchnorm"}]},
         {"type": "relu"}, {"type": "conv2d", "filters": 32, "kernel": 3, "stride": 2, "padding": 1}, {"type": "relu"}, \(head)]
        """
    }

    /// Three steps of a convolutional network (BatchNorm, a residual block, a strided convolution,
    /// global average pooling and one small dense layer, too small for OpenBLAS's threads) with the
    /// default `sequential` reductions: every convolution's GEMMs are whole one-thread calls on any
    /// thread count, so 1, 2 and 3 threads train the same bits on every OpenBLAS core.
    func testSequentialConvolutionalTrainingDoesNotDependOnTheThreadCount() throws {
        let layers = Self.convolutional(head: #"{"type": "globalavgpool"}, {"type": "dense", "units": 10}"#)
        let sgd = #"{"type": "sgd", "lr": 0.05, "momentum": 0.9}"#
        let one = try parameters(layers: layers, optimizer: sgd, reduction: "sequential", threads: 1, seed: 5)
        XCTAssertEqual(one, try parameters(layers: layers, optimizer: sgd, reduction: "sequential", threads: 2, seed: 5), "sequential: 1 vs 2 threads")
        XCTAssertEqual(one, try parameters(layers: layers, optimizer: sgd, reduction: "sequential", threads: 3, seed: 5), "sequential: 1 vs 3 threads")
    }

    /// Three training steps of the convolutions and dense layers (the first wide enough for two
    /// blocks of columns each way: 512 inputs, 512 units) in `chunked` mode: identical parameters
    /// on 1, 2 and 3 threads, and different from `sequential` (a rounding of its own, which is why
    /// it is a setting and not the default).
    func testChunkedTrainingDoesNotDependOnTheThreadCount() throws {
        let layers = Self.convolutional(head: #"{"type": "flatten"}, {"type": "dense", "units": 512}, {"type": "relu"}, {"type": "dense", "units": 10}"#)
        let adam = #"{"type": "adam", "lr": 0.01}"#
        let one = try parameters(layers: layers, optimizer: adam, reduction: "chunked", threads: 1, seed: 3)
        XCTAssertEqual(one, try parameters(layers: layers, optimizer: adam, reduction: "chunked", threads: 2, seed: 3), "chunked: 1 vs 2 threads")
        XCTAssertEqual(one, try parameters(layers: layers, optimizer: adam, reduction: "chunked", threads: 3, seed: 3), "chunked: 1 vs 3 threads")
        XCTAssertNotEqual(one, try parameters(layers: layers, optimizer: adam, reduction: "sequential", threads: 1, seed: 3),
                          "chunked rounds differently from sequential")
    }
}
