import Foundation
import GRDB
import XCTest
@testable import Recorder

/// Checksums on every kind of row, the writer's lock, damaged values that must not trap, and
/// reopening an interrupted record.
final class RecordIntegrityTests: RecordDirectoryTestCase {
    func header() -> RecordHeader {
        RecordHeader(configGiven: "{\"seed\":1}", configResolved: "{\"seed\":1}", configPath: "/x/train.json", semantics: "pytorch",
                     level: .grads, environment: ["blas.core": "Haswell"], cwreproVersion: "test")
    }

    /// `steps` steps with a checkpoint after each even step; finished unless `finish` is false.
    func writeRun(_ path: String, steps: Int, finish: Bool = true) throws -> RecordWriter {
        let writer = try RecordWriter(path: path, header: header())
        try writer.addArtifact(name: "order.json", bytes: Array("{\"batches\": [[0]]}".utf8))
        let rec = Recorder(seed: 5, sink: writer)
        rec.record(name: "w", role: .param, shape: [2], floats: [1, 2])
        try rec.endStep(loss: 0, lr: 0, nextStep: 0, nextEpoch: 0)
        for s in 0..<steps {
            rec.record(name: "w", role: .param, shape: [2], floats: [Float(s), 2])
            try rec.endStep(loss: Float(s), lr: 0.1, nextStep: s + 1, nextEpoch: 0)
            try rec.evaluation(Evaluation(step: s, epoch: 0, split: "test", correct: s, total: 9, perClassCorrect: [s],
                                          perClassTotal: [9], predictionsHash: UInt64(s), loss: 0.5))
            if s % 2 == 0 { try writer.checkpoint(step: s, bytes: [UInt8](repeating: UInt8(s), count: 16)) }
        }
        if finish { try writer.finish() } else { try writer.flush() }
        return writer
    }

    func edit(_ path: String, _ sql: String) throws {
        let db = try DatabaseQueue(path: path)
        try db.write { try $0.execute(sql: sql) }
        try db.close()
    }

    func expectTampered(_ path: String, _ body: (RecordReader) throws -> Void, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(try RecordReader(path: path)), file: file, line: line) { e in
            switch e as? RecordReadError {
            case .tampered?, .tamperedHeader?: break
            default: XCTFail("expected tampering, got \(e)", file: file, line: line)
            }
        }
    }

    func testEveryKindOfRowIsCovered() throws {
        let p = dir.appendingPathComponent("run.cwr").path
        _ = try writeRun(p, steps: 4)
        XCTAssertNoThrow(try RecordReader(path: p).verify())
        let edits = [
            "UPDATE tensors SET hash = hash + 1 WHERE step = 2",
            "UPDATE steps SET digest = digest + 1 WHERE step = 1",
            "UPDATE steps SET loss_bits = 0 WHERE step = 3",
            "UPDATE evaluations SET correct = 9 WHERE step = 1",
            "UPDATE checkpoints SET bytes = x'00' WHERE step = 2",
            "UPDATE meta SET value = '{\"seed\":2}' WHERE key = 'config_given'",
            "UPDATE meta SET value = '{}' WHERE key = 'environment'",
            "UPDATE artifacts SET bytes = x'7b7d' WHERE name = 'order.json'",
            "DELETE FROM tensors WHERE step = 0",
        ]
        for (i, sql) in edits.enumerated() {
            let copy = dir.appendingPathComponent("edit-\(i).cwr").path
            try FileManager.default.copyItem(atPath: p, toPath: copy)
            try edit(copy, sql)
            expectTampered(copy) { try $0.verify() }
        }
    }

    func testWrongTypedValuesAreCorruptionNotATrap() throws {
        let p = dir.appendingPathComponent("run.cwr").path
        _ = try writeRun(p, steps: 2)
        try edit(p, "UPDATE steps SET digest = 'abc' WHERE step = 1")
        XCTAssertThrowsError(try RecordReader(path: p).steps()) { e in
            guard case RecordReadError.corrupt(_, let why)? = e as? RecordReadError else { return XCTFail("\(e)") }
            XCTAssertTrue(why.contains("column digest holds"), why)
        }
    }

    /// Regression input found by the fuzzer: a flipped byte renamed a column in the schema and
    /// GRDB's row subscript trapped ("column not found"). Schema 2 readers compare the schema
    /// exactly before reading any row, so the renamed column is reported when the record is opened.
    func testARenamedColumnIsCorruptionNotATrap() throws {
        let p = dir.appendingPathComponent("run.cwr").path
        _ = try writeRun(p, steps: 2)
        try edit(p, "ALTER TABLE evaluations RENAME COLUMN per_class_total TO per_class_totaX")
        XCTAssertThrowsError(try RecordReader(path: p).evaluations()) { e in
            XCTAssertEqual(e as? RecordReadError, .tamperedRecord(p, "its schema is not the one cwrepro writes (changed evaluations)"))
        }
    }

    func testASecondWriterGetsALockError() throws {
        let p = dir.appendingPathComponent("run.cwr").path
        let first = try writeRun(p, steps: 2, finish: false)
        XCTAssertThrowsError(try RecordWriter(path: p, header: header(), overwrite: true)) { XCTAssertEqual($0 as? RecordReadError, .locked(p)) }
        XCTAssertThrowsError(try RecordWriter.resume(path: p)) { XCTAssertEqual($0 as? RecordReadError, .locked(p)) }
        XCTAssertEqual(try RecordReader(path: p).steps().count, 3, "readers still read while the run goes on")
        try first.finish()
        XCTAssertThrowsError(try RecordWriter.resume(path: p)) { e in XCTAssertTrue("\(e)".contains("is complete"), "\(e)") }
    }

    func testResumeKeepsRowsUpToTheLastCheckpoint() throws {
        let p = dir.appendingPathComponent("killed.cwr").path
        // Simulate a kill: the writer is dropped without finish; steps 0-4 committed, checkpoints after 0, 2, 4.
        do { _ = try writeRun(p, steps: 6, finish: false) }
        let r = try RecordWriter.resume(path: p)
        XCTAssertEqual(r.checkpoint?.step, 4)
        XCTAssertEqual(r.checkpoint?.bytes, [UInt8](repeating: 4, count: 16))
        XCTAssertEqual(r.discardedSteps, 1, "step 5 came after the last checkpoint")
        XCTAssertEqual(r.artifacts["order.json"].map { String(decoding: $0, as: UTF8.self) }, "{\"batches\": [[0]]}")
        XCTAssertEqual(try RecordReader(path: p).steps().count, 7, "nothing is deleted before discardAfterCheckpoint")
        try r.discardAfterCheckpoint()
        // Continue: step 5 again, then finish.
        let rec = Recorder(seed: 5, sink: r.writer)
        rec.resume(step: 5, epoch: 0, streams: [:])
        rec.record(name: "w", role: .param, shape: [2], floats: [5, 2])
        try rec.endStep(loss: 5, lr: 0.1, nextStep: 6, nextEpoch: 0)
        try r.writer.finish()
        let reader = try RecordReader(path: p)
        XCTAssertNoThrow(try reader.verify())
        XCTAssertTrue(reader.isComplete)
        XCTAssertEqual(try reader.steps().map(\.step), [-1, 0, 1, 2, 3, 4, 5])
        XCTAssertEqual(try reader.evaluations().map(\.step), [0, 1, 2, 3, 4])
    }

    func testRandomStreamsResumeWhereTheyStood() {
        let a = Recorder(seed: 9)
        _ = a.uniform(site: "data/synthetic/train", count: 7)
        let saved = a.streamPositions
        let next = a.uniform(site: "data/synthetic/train", count: 5)
        let b = Recorder(seed: 9)
        b.resume(step: 3, epoch: 0, streams: saved)
        XCTAssertEqual(b.uniform(site: "data/synthetic/train", count: 5), next)
        XCTAssertEqual(b.step, 3)
        let p = a.permutation(site: "data/shuffle/epoch-2", count: 50)
        XCTAssertEqual(b.rederivePermutation(site: "data/shuffle/epoch-2", count: 50), p)
        XCTAssertEqual(b.currentEvents.map(\.name), ["data/synthetic/train"], "rederiving records nothing")
    }

    /// A hostile file that swaps a table for a view calling functions gets an error, not execution:
    /// readers open SQLite read-only with `trusted_schema` off (functions with side effects are
    /// refused inside views and triggers) and extension loading disabled.
    func testReadingNeverExecutesAnythingFromTheFile() throws {
        let p = dir.appendingPathComponent("hostile.cwr").path
        _ = try writeRun(p, steps: 2)
        let marker = dir.appendingPathComponent("executed").path
        try edit(p, """
            ALTER TABLE steps RENAME TO steps_real;
            CREATE VIEW steps AS SELECT step, epoch, loss, loss_bits, lr, digest, wall_seconds, tensor_count, checksum,
                load_extension('\(marker)') AS x, writefile('\(marker)', 'x') AS y FROM steps_real;
            """)
        let before = try Data(contentsOf: URL(fileURLWithPath: p))
        XCTAssertThrowsError(try RecordReader(path: p).steps()) { e in XCTAssertTrue(e is RecordReadError, "\(e)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: p)), before, "a reader never writes to the record")
    }
}
