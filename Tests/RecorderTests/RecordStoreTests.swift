import Foundation
import GRDB
import XCTest
@testable import Recorder

final class RecordStoreTests: RecordDirectoryTestCase {
    func header() -> RecordHeader {
        RecordHeader(configGiven: "{\"seed\":1}", configResolved: "{\"seed\":1}", configPath: "/x/train.json", semantics: "pytorch",
                     level: .grads, environment: ["blas.core": "Haswell"], cwreproVersion: "test")
    }

    /// Records `steps` steps of a few tensors through a Recorder into `path`.
    @discardableResult
    func writeRun(_ path: String, steps: Int, finish: Bool = true, keep: Int = 0) throws -> [StepSummary] {
        let writer = try RecordWriter(path: path, header: header(), keepTensors: keep)
        let rec = Recorder(seed: 5, sink: writer)
        _ = rec.uniform(site: "init/w", count: 4)
        rec.record(name: "w", role: .param, shape: [4], floats: [1, 2, 3, 4])
        var out = [try rec.endStep(loss: 0, lr: 0, nextStep: 0, nextEpoch: 0)]
        for s in 0..<steps {
            rec.record(name: "loss", role: .loss, shape: [], floats: [Float(s)])
            rec.record(name: "w", role: .param, shape: [4], floats: [Float(s), 1, .nan, .infinity])
            out.append(try rec.endStep(loss: Float(s) * 0.5, lr: 0.1, nextStep: s + 1, nextEpoch: 0))
        }
        try rec.evaluation(Evaluation(step: steps - 1, epoch: 0, split: "test", correct: 3, total: 4, perClassCorrect: [1, 2],
                                      perClassTotal: [2, 2], predictionsHash: 77, loss: 0.25))
        if finish { try writer.finish() } else { try writer.flush() }
        return out
    }

    func testRoundTrip() throws {
        let path = dir.appendingPathComponent("run.cwr").path
        let written = try writeRun(path, steps: 5, keep: 2)
        let r = try RecordReader(path: path)
        XCTAssertTrue(r.isComplete)
        XCTAssertEqual(r.level, .grads)
        XCTAssertEqual(r.environment["blas.core"], "Haswell")
        let steps = try r.steps()
        XCTAssertEqual(steps.map(\.step), [-1, 0, 1, 2, 3, 4])
        XCTAssertEqual(steps.map(\.digest), written.map(\.digest))
        XCTAssertEqual(steps[3].loss, 1.0)
        let e = try r.events(step: 2)
        XCTAssertEqual(e.map(\.name), ["loss", "w"])
        XCTAssertEqual(e[1].nonFinite, 2, "NaN and Inf are counted")
        XCTAssertEqual(try r.events(step: initStep).map(\.role), [.draw, .param])
        XCTAssertNotNil(try r.payload(step: initStep, seq: 1), "keepTensors 2 keeps init and step 0")
        XCTAssertNotNil(try r.payload(step: 0, seq: 1))
        XCTAssertNil(try r.payload(step: 1, seq: 1))
        XCTAssertEqual(try r.evaluations().first?.accuracy, 0.75)
    }

    func testUnfinishedRunIsReadableAndMarkedIncomplete() throws {
        let path = dir.appendingPathComponent("killed.cwr").path
        try writeRun(path, steps: 3, finish: false)
        let r = try RecordReader(path: path)
        XCTAssertFalse(r.isComplete)
        XCTAssertEqual(r.status, .running)
        XCTAssertEqual(try r.steps().count, 4)
    }

    func testRefusesToOverwrite() throws {
        let path = dir.appendingPathComponent("run.cwr").path
        try writeRun(path, steps: 1)
        XCTAssertThrowsError(try RecordWriter(path: path, header: header())) { e in
            XCTAssertTrue("\(e)".contains("already exists"), "\(e)")
        }
        XCTAssertEqual(try RecordReader(path: path).steps().count, 2, "the existing record is untouched")
    }

    func testTamperedHashIsReportedAsTampering() throws {
        let path = dir.appendingPathComponent("run.cwr").path
        try writeRun(path, steps: 3)
        let db = try DatabaseQueue(path: path)
        try db.write { try $0.execute(sql: "UPDATE tensors SET hash = hash + 1 WHERE step = 1 AND seq = 1") }
        try db.close()
        let r = try RecordReader(path: path)
        XCTAssertNoThrow(try r.events(step: 0))
        XCTAssertThrowsError(try r.events(step: 1)) { e in
            guard case RecordReadError.tampered(_, let step, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(step, 1)
        }
    }

    func testForeignAndBrokenFilesAreToldApart() throws {
        let notFound = dir.appendingPathComponent("nope.cwr").path
        XCTAssertThrowsError(try RecordReader(path: notFound)) { XCTAssertEqual($0 as? RecordReadError, .notFound(notFound)) }

        let text = dir.appendingPathComponent("text.cwr").path
        try Data("hello, not a database".utf8).write(to: URL(fileURLWithPath: text))
        XCTAssertThrowsError(try RecordReader(path: text)) { e in
            guard case RecordReadError.notARecord = e else { return XCTFail("\(e)") }
        }

        let foreign = dir.appendingPathComponent("foreign.sqlite").path
        let db = try DatabaseQueue(path: foreign)
        try db.write { try $0.execute(sql: "CREATE TABLE people(name TEXT)") }
        try db.close()
        XCTAssertThrowsError(try RecordReader(path: foreign)) { e in
            guard case RecordReadError.notARecord(_, let why) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(why.contains("without cwrepro"))
        }

        let newer = dir.appendingPathComponent("newer.cwr").path
        try writeRun(newer, steps: 1)
        let ndb = try DatabaseQueue(path: newer)
        try ndb.write { try $0.execute(sql: "UPDATE meta SET value = '99' WHERE key IN ('schema_version', 'min_reader_version')") }
        try ndb.close()
        XCTAssertThrowsError(try RecordReader(path: newer)) { XCTAssertEqual($0 as? RecordReadError, .newerSchema(newer, found: 99, supported: RecordSchema.version)) }

        let cut = dir.appendingPathComponent("cut.cwr").path
        try writeRun(cut, steps: 50)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: cut))
        try bytes.prefix(bytes.count / 2 + 100).write(to: URL(fileURLWithPath: cut))
        XCTAssertThrowsError(try RecordReader(path: cut).steps()) { e in
            guard case RecordReadError.truncated = e else { return XCTFail("expected truncated, got \(e)") }
        }
    }
}
