import XCTest
@testable import Engine

/// The step arena: after the first training step a step allocates no tensor buffer and never
/// copies a pooled buffer that someone still holds (which would cost what the reuse saves).
final class TensorPoolTests: XCTestCase {
    func trainer(_ model: String) throws -> Trainer {
        let text = #"{"seed": 3, "data": {"dataset": "synthetic", "shape": [3, 12, 12], "classes": 4, "trainSize": 48, "testSize": 8, "batchSize": 16}, "model": \#(model), "optimizer": {"type": "sgd", "lr": 0.05, "momentum": 0.9}}"#
        let config = try TrainConfig.parse(JSON.parse(Array(text.utf8), source: "t"), baseDirectory: "/")
        return try Trainer(config: config, recorder: .plain(seed: config.seed))
    }

    func assertSteadyState(_ model: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let t = try trainer(model)
        t.model.initialize(t.ctx)
        _ = t.trainStep(Array(0..<16), step: 0, lr: 0.05)
        let pool = t.ctx.pool, allocated = pool.allocations
        XCTAssertGreaterThan(allocated, 0, file: file, line: line)
        for s in 1...3 { _ = t.trainStep(Array((16 * (s % 3))..<(16 * (s % 3) + 16)), step: s, lr: 0.05) }
        XCTAssertEqual(pool.allocations, allocated, "steps after the first allocate no tensor buffer", file: file, line: line)
        XCTAssertEqual(pool.copies, 0, "no pooled buffer is written while still held", file: file, line: line)
    }

    func testCNNStepsReuseTheirBuffers() throws {
        try assertSteadyState(#"{"layers": [{"type": "conv2d", "filters": 4, "kernel": 3, "padding": 1}, {"type": "batchnorm"}, {"type": "relu"}, {"type": "maxpool", "size": 2}, {"type": "dropout", "rate": 0.2}, {"type": "flatten"}, {"type": "dense", "units": 4}]}"#)
    }

    func testResidualAndConcatStepsReuseTheirBuffers() throws {
        try assertSteadyState(#"{"architecture": {"name": "resnet", "depth": 8, "width": 0.25}}"#)
        try assertSteadyState(#"{"architecture": {"name": "densenet", "depth": 10, "width": 0.25}}"#)
    }

    func testRecycledBufferStillHeldIsCopiedNotChanged() {
        let pool = TensorPool()
        let a = pool.tensor([4]) { p in for i in 0..<4 { p[i] = Float(i) } }
        pool.recycle(a)
        let b = pool.tensor([4]) { p in p.update(repeating: 9, count: 4) }
        XCTAssertEqual(a.data, [0, 1, 2, 3], "the holder's values are untouched")
        XCTAssertEqual(b.data, [9, 9, 9, 9])
        XCTAssertEqual(pool.copies, 1)
    }
}
