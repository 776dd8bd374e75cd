import Foundation
import GRDB
import XCTest
@testable import Recorder

/// `Recorder.reductionOrder`: the observed order is recorded (role `reduction`, values stored),
/// a sink that holds a recorded order imposes it, and an edited stored order is detected.
final class ReductionOrderTests: RecordDirectoryTestCase {
    /// Records two steps with one reduction order each; returns the record path.
    func writeRun(orders: [[Int]]) throws -> String {
        let path = dir.appendingPathComponent("orders.cwr").path
        let writer = try RecordWriter(path: path, header: RecordHeader(
            configGiven: "{}", configResolved: "{}", configPath: "/x/train.json", semantics: "pytorch",
            level: .params, environment: [:], cwreproVersion: "test"))
        let rec = Recorder(seed: 1, level: .params, sink: writer)
        try rec.endStep(loss: 0, lr: 0, nextStep: 0, nextEpoch: 0)
        for (s, o) in orders.enumerated() {
            rec.record(name: "loss", role: .loss, shape: [], floats: [1])
            XCTAssertEqual(rec.reductionOrder(site: "reduce/loss/step-\(s)", observed: o), o, "recording returns the observed order")
            try rec.endStep(loss: 1, lr: 0.1, nextStep: s + 1, nextEpoch: 0)
        }
        try writer.finish()
        return path
    }

    /// Replays a record's orders, like the replay sink does.
    final class OrderSource: RecordSink {
        let reader: RecordReader
        init(_ reader: RecordReader) { self.reader = reader }
        func wantsPayload(step: Int) -> Bool { false }
        func event(_ e: RecordedEvent) {}
        func endStep(_ summary: StepSummary, events: [RecordedEvent]) throws {}
        func evaluation(_ e: Evaluation) throws {}
        var shouldStop: Bool { false }
        func recordedReductionOrder(step: Int, seq: Int, site: String) -> [Int]? {
            guard let o = try? reader.reductionOrders(step: step, events: reader.events(step: step))[seq], o.site == site else { return nil }
            return o.order
        }
    }

    func testObservedOrderIsRecordedAndImposedOnReplay() throws {
        let path = try writeRun(orders: [[2, 0, 3, 1], [1, 0]])
        let reader = try RecordReader(path: path)
        let step0 = try reader.events(step: 0)
        XCTAssertEqual(step0.map(\.role), [.loss, .reduction])
        XCTAssertEqual(step0[1].name, "reduce/loss/step-0")
        XCTAssertEqual(step0[1].shape, [4])
        XCTAssertEqual(try reader.reductionOrders(step: 0, events: step0)[1]?.order, [2, 0, 3, 1])
        XCTAssertEqual(try reader.reductionOrders(step: 1, events: reader.events(step: 1))[1]?.order, [1, 0])

        // Replaying: whatever order the threads finish in, the recorded one is used and hashes the same.
        let rec = Recorder(seed: 1, level: .params, sink: OrderSource(reader))
        try rec.endStep(loss: 0, lr: 0, nextStep: 0, nextEpoch: 0)
        rec.record(name: "loss", role: .loss, shape: [], floats: [1])
        XCTAssertEqual(rec.reductionOrder(site: "reduce/loss/step-0", observed: [0, 1, 2, 3]), [2, 0, 3, 1])
        let replayed = try rec.endStep(loss: 1, lr: 0.1, nextStep: 1, nextEpoch: 0)
        XCTAssertEqual(replayed.digest, try reader.steps()[1].digest)
        // A different site at that position, or a different chunk count, is not imposed.
        rec.record(name: "loss", role: .loss, shape: [], floats: [1])
        XCTAssertEqual(rec.reductionOrder(site: "reduce/other/step-1", observed: [0, 1]), [0, 1])
    }

    func testPlainTrainingUsesTheObservedOrderAndRecordsNothing() {
        let rec = Recorder.plain(seed: 1)
        XCTAssertEqual(rec.reductionOrder(site: "reduce/loss/step-0", observed: [1, 0, 2]), [1, 0, 2])
        XCTAssertEqual(rec.tensorCount, 0)
    }

    func testEditedOrderIsReportedAsTampering() throws {
        let path = try writeRun(orders: [[2, 0, 3, 1]])
        let db = try DatabaseQueue(path: path)
        let swapped = Data([0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0])
        try db.write { try $0.execute(sql: "UPDATE reduction_orders SET bytes = ? WHERE step = 0", arguments: [swapped]) }
        try db.close()
        let reader = try RecordReader(path: path)
        XCTAssertThrowsError(try reader.reductionOrders(step: 0, events: reader.events(step: 0))) { e in
            guard case RecordReadError.tampered(_, let step, _)? = e as? RecordReadError else { return XCTFail("\(e)") }
            XCTAssertEqual(step, 0)
        }
    }
}
