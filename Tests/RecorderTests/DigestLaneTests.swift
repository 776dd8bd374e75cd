import Foundation
import XCTest
@testable import Recorder

/// Tensors hashed on the recorder's second core (`Recorder.recordLater`, `reserve`/`ready`): the
/// same events, in the same order, with the same hashes and statistics, as recorded at once.
final class DigestLaneTests: XCTestCase {
    /// Keeps every event in the order the sink is given them.
    final class Collecting: RecordSink {
        var delivered: [RecordedEvent] = []
        var steps: [StepSummary] = []
        func wantsPayload(step: Int) -> Bool { false }
        func event(_ e: RecordedEvent) { delivered.append(e) }
        func endStep(_ summary: StepSummary, events: [RecordedEvent]) throws { steps.append(summary) }
        func evaluation(_ e: Evaluation) throws {}
        var shouldStop: Bool { false }
    }

    /// Normal values scaled by 2^-32 ... 2^31, so that Float64 sums round and their order shows.
    func tensor(_ seed: UInt64, _ count: Int) -> [Float] {
        var rng = RandomStream(seed: seed, site: "lane")
        var v = [Float](repeating: 0, count: count)
        v.withUnsafeMutableBufferPointer { rng.normal(into: $0) }
        for i in v.indices { v[i] *= Float(sign: .plus, exponent: i % 64 - 32, significand: 1) }
        return v
    }

    func testLaterAndReservedRecordsEqualImmediateOnes() throws {
        let a = tensor(1, 70_000), b = tensor(2, 33), c0 = tensor(3, 5_000), c1 = tensor(4, 5_000)
        var c = c0   // written after its place is reserved, like a parameter the optimizer updates
        let late = Collecting(), now = Collecting()
        let r1 = Recorder(seed: 1, level: .grads, sink: late), r2 = Recorder(seed: 1, level: .grads, sink: now)
        for step in 0..<3 {
            r1.record(name: "x", role: .batch, shape: [33], floats: b)
            a.withUnsafeBufferPointer { r1.recordLater(name: "g", role: .grad, shape: [70_000], floats: $0) }
            try c.withUnsafeMutableBufferPointer { p in
                let place = r1.reserve(name: "w", role: .param, shape: [5_000], floats: UnsafeBufferPointer(p))
                XCTAssertEqual(late.delivered.count, 4 * step + 1, "x at once; nothing after a pending tensor until the step ends")
                for i in p.indices { p[i] = c1[i] }
                r1.ready(place)
                r1.record(name: "loss", role: .loss, shape: [], floats: [Float(step)])
                _ = try r1.endStep(loss: 0, lr: 0.1, nextStep: step + 1, nextEpoch: 0)
            }
            c = c0

            r2.record(name: "x", role: .batch, shape: [33], floats: b)
            r2.record(name: "g", role: .grad, shape: [70_000], floats: a)
            r2.record(name: "w", role: .param, shape: [5_000], floats: c1)
            r2.record(name: "loss", role: .loss, shape: [], floats: [Float(step)])
            _ = try r2.endStep(loss: 0, lr: 0.1, nextStep: step + 1, nextEpoch: 0)
        }
        XCTAssertEqual(late.delivered, now.delivered)
        XCTAssertEqual(late.delivered.map(\.name), Array(repeating: ["x", "g", "w", "loss"], count: 3).flatMap { $0 })
        XCTAssertEqual(late.steps.map(\.digest), now.steps.map(\.digest))
    }

    func testCurrentEventsWaitsForPendingTensors() {
        let a = tensor(5, 10_000)
        let r = Recorder(seed: 1, level: .grads)
        a.withUnsafeBufferPointer { r.recordLater(name: "g", role: .grad, shape: [10_000], floats: $0) }
        let e = r.currentEvents
        XCTAssertEqual(e.count, 1)
        XCTAssertEqual(e[0].hash, TensorHash.floats(a, shape: [10_000]))
        XCTAssertEqual(e[0].stats, a.withUnsafeBufferPointer { TensorStats(floats: $0) })
    }

    func testRolesNotRecordedAtTheLevelAreNotReserved() {
        let r = Recorder(seed: 1, level: .params)
        let g = tensor(6, 16)
        XCTAssertNil(g.withUnsafeBufferPointer { r.reserve(name: "g", role: .grad, shape: [16], floats: $0) })
        XCTAssertNil(g.withUnsafeBufferPointer { Recorder.plain(seed: 1).reserve(name: "w", role: .param, shape: [16], floats: $0) })
        XCTAssertEqual(r.currentEvents.count, 0)
    }

    /// A layer's gradients hashed when its backward pass ends (`prehash`), before their place is
    /// known: the later record of the same bytes takes that result; other bytes, or the same bytes
    /// under another shape, are hashed anew.
    func testPrehashedBytesAreRecordedWithTheirResult() throws {
        let a = tensor(7, 300_000), b = tensor(8, 20)
        let sink = Collecting()
        let r = Recorder(seed: 1, level: .grads, sink: sink)
        a.withUnsafeBufferPointer { r.prehash(shape: [300_000], floats: $0) }
        b.withUnsafeBufferPointer { r.prehash(shape: [4, 5], floats: $0) }
        a.withUnsafeBufferPointer { r.recordLater(name: "a", role: .grad, shape: [300_000], floats: $0) }
        b.withUnsafeBufferPointer { r.recordLater(name: "b", role: .grad, shape: [20], floats: $0) }
        _ = try r.endStep(loss: 0, lr: 0, nextStep: 0, nextEpoch: 0)
        XCTAssertEqual(sink.delivered.map(\.hash), [TensorHash.floats(a, shape: [300_000]), TensorHash.floats(b, shape: [20])])
        XCTAssertEqual(sink.delivered[0].stats, a.withUnsafeBufferPointer { TensorStats(floats: $0) })
    }

    /// With or without the helper thread (one CPU), and whoever takes which unit, the results are
    /// those of `TensorHash` and `TensorStats` on the calling thread, in submission order.
    func testLaneResultsDoNotDependOnTheHelper() {
        var tensors = (0..<9).map { tensor(UInt64(10 + $0), [1, 15, 16, 17, 1_000, 65_536, 3, 100_000, 0][$0]) }
        // Several pieces of 256 KB, a NaN and an infinity in the third: that piece alone takes the
        // masked pass, continuing the lanes of the pieces before it.
        var big = tensor(30, 1_000_003)
        big[140_001] = .nan; big[150_000] = -.infinity
        tensors.append(big)
        for helper in [true, false] {
            let lane = DigestLane(helper: helper)
            defer { lane.stop() }
            for round in 0..<3 {
                let ids = tensors.map { t in t.withUnsafeBytes { lane.submit(dtype: .float32, shape: [t.count], raw: $0) } }
                XCTAssertEqual(ids, Array(0..<tensors.count), "round \(round)")
                let results = lane.finish()
                for (t, r) in zip(tensors, results) {
                    XCTAssertEqual(r.hash, TensorHash.floats(t, shape: [t.count]), "helper \(helper) count \(t.count)")
                    XCTAssertEqual(r.stats, t.withUnsafeBufferPointer { TensorStats(floats: $0) })
                }
            }
            // Not float32: the hash in pieces, the statistics whole, beside it or on their own.
            let labels = (0..<200_003).map { Int32(truncatingIfNeeded: $0 &* 2_654_435_761) }
            for _ in 0..<2 {
                let id = labels.withUnsafeBytes { lane.submit(dtype: .int32, shape: [labels.count], raw: $0) }
                let big = tensors[9].withUnsafeBytes { lane.submit(dtype: .float32, shape: [tensors[9].count], raw: $0) }
                let results = lane.finish()
                XCTAssertEqual(results[id].hash, labels.withUnsafeBytes { TensorHash.tensor(dtype: .int32, shape: [labels.count], raw: $0) })
                XCTAssertEqual(results[id].stats, labels.withUnsafeBytes { TensorStats(dtype: .int32, raw: $0) })
                XCTAssertEqual(results[big].hash, TensorHash.floats(tensors[9], shape: [tensors[9].count]))
            }
        }
    }
}
