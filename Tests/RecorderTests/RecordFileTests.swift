import Foundation
import GRDB
import XCTest
@testable import Recorder

/// Single-file records, read without writing, outputs that never clobber, and schema 1 records.
final class RecordFileTests: RecordDirectoryTestCase {
    func files() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() }
    func bytes(_ p: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: p)) }

    // MARK: single file

    func testAFinishedRecordIsOneFileAndReadingWritesNothing() throws {
        try SealedRecordTests.writeRun(path("run.cwr"))
        XCTAssertEqual(try files(), ["run.cwr"], "no -wal or -shm beside a finished record")
        let before = try bytes(path("run.cwr"))
        XCTAssertEqual(before[18], 1, "rollback-journal mode (byte 18 of the header)")
        let r = try RecordReader(path: path("run.cwr"))
        XCTAssertTrue(r.openedImmutable)
        try SealedRecordTests.readEverything(path("run.cwr"))
        XCTAssertEqual(try files(), ["run.cwr"], "reading created no -wal or -shm")
        XCTAssertEqual(try bytes(path("run.cwr")), before, "reading changed no byte")
    }

    func testARunningRecordIsReadWhileItIsWritten() throws {
        let w = try SealedRecordTests.writeRun(path("run.cwr"), finish: nil)
        let r = try RecordReader(path: path("run.cwr"))
        XCTAssertFalse(r.openedImmutable, "a record with a -wal is opened through SQLite's locks")
        XCTAssertTrue(r.writerActive)
        XCTAssertEqual(try r.steps().count, 6)
        try w.finish()
        XCTAssertFalse(try RecordReader(path: path("run.cwr")).writerActive)
    }

    // MARK: outputs

    func testOutputFileNeverClobbers() throws {
        let target = path("out.hashes")
        try OutputFile.write(Array("one".utf8), to: target, force: false)
        XCTAssertThrowsError(try OutputFile.write(Array("two".utf8), to: target, force: false)) { XCTAssertEqual($0 as? OutputError, .exists(target)) }
        XCTAssertEqual(try String(contentsOfFile: target, encoding: .utf8), "one")
        try OutputFile.write(Array("two".utf8), to: target, force: true)
        XCTAssertEqual(try String(contentsOfFile: target, encoding: .utf8), "two")
        XCTAssertEqual(try files(), ["out.hashes"], "no temporary file is left behind")
    }

    func testForceReplacesOnlyARegularFileThatIsNoInput() throws {
        try FileManager.default.createDirectory(atPath: path("sub"), withIntermediateDirectories: false)
        XCTAssertThrowsError(try OutputFile.check(path("sub"), force: true)) { XCTAssertEqual($0 as? OutputError, .notRegular(path("sub"), kind: .directory)) }
        XCTAssertEqual(mkfifo(path("fifo"), 0o644), 0)
        XCTAssertThrowsError(try OutputFile.check(path("fifo"), force: true)) { XCTAssertEqual($0 as? OutputError, .notRegular(path("fifo"), kind: .fifo)) }
        XCTAssertThrowsError(try OutputFile.check("/dev/null", force: true)) { XCTAssertEqual($0 as? OutputError, .notRegular("/dev/null", kind: .device)) }
        try Data("{}".utf8).write(to: URL(fileURLWithPath: path("config.json")))
        XCTAssertEqual(link(path("config.json"), path("alias.json")), 0)
        XCTAssertThrowsError(try OutputFile.write([1], to: path("alias.json"), force: true, inputs: [path("config.json")])) {
            XCTAssertEqual($0 as? OutputError, .isInput(path("alias.json"), input: path("config.json")))
        }
        XCTAssertThrowsError(try OutputFile.write([1], to: path("config.json"), force: true, inputs: [path("config.json")])) {
            XCTAssertTrue("\($0)".contains("is an input of this command"), "\($0)")
        }
        XCTAssertEqual(try String(contentsOfFile: path("config.json"), encoding: .utf8), "{}")
        XCTAssertThrowsError(try OutputFile.write([1], to: path("nowhere/x"), force: false)) {
            XCTAssertEqual($0 as? OutputError, .parentMissing(path("nowhere/x"), parent: path("nowhere")))
        }
    }

    /// Replacing a record: written beside it, renamed on finish. A writer dropped before finishing
    /// (as a kill leaves it) leaves the old record intact and the new one resumable as `.partial`.
    func testReplacingARecordKeepsTheOldOneUntilTheNewOneIsFinished() throws {
        let target = path("run.cwr")
        try SealedRecordTests.writeRun(target, steps: 2)
        let old = try bytes(target)
        do {
            let w = try RecordWriter(path: target, header: SealedRecordTests.header(), overwrite: true, inputs: [])
            XCTAssertEqual(w.writingPath, target + ".partial")
            let rec = Recorder(seed: 1, sink: w)
            try rec.endStep(loss: 0, lr: 0, nextStep: 0, nextEpoch: 0)
            try w.flush()
        }
        XCTAssertEqual(try bytes(target), old, "the old record is intact")
        XCTAssertEqual(try RecordReader(path: target + ".partial").steps().count, 1, "the partial record is readable")
        XCTAssertThrowsError(try RecordWriter(path: target, header: SealedRecordTests.header(), overwrite: true)) {
            XCTAssertEqual($0 as? OutputError, .partialExists(target + ".partial", target: target))
        }
        try FileManager.default.removeItem(atPath: target + ".partial")
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: target + ".partial" + suffix) }
        let w = try RecordWriter(path: target, header: SealedRecordTests.header(), overwrite: true)
        try Recorder(seed: 1, sink: w).endStep(loss: 0, lr: 0, nextStep: 0, nextEpoch: 0)
        try w.finish()
        XCTAssertEqual(try files(), ["run.cwr"])
        XCTAssertEqual(try RecordReader(path: target).steps().count, 1, "replaced")
    }

    func testARecordIsNeverWrittenOverAnInputOrADevice() throws {
        try Data("{}".utf8).write(to: URL(fileURLWithPath: path("train.json")))
        XCTAssertThrowsError(try RecordWriter(path: path("train.json"), header: SealedRecordTests.header(), overwrite: true, inputs: [path("train.json")])) {
            XCTAssertEqual($0 as? OutputError, .isInput(path("train.json"), input: path("train.json")))
        }
        XCTAssertThrowsError(try RecordWriter(path: "/dev/null", header: SealedRecordTests.header(), overwrite: true)) {
            XCTAssertEqual($0 as? OutputError, .notRegular("/dev/null", kind: .device))
        }
        XCTAssertEqual(try String(contentsOfFile: path("train.json"), encoding: .utf8), "{}")
    }

    // MARK: schema 1

    /// A schema 1 record, written as the previous build wrote it (its tables and checksums).
    func writeVersion1(_ p: String, steps: Int) throws {
        let db = try DatabaseQueue(path: p)
        try db.write { db in
            try db.execute(sql: """
                CREATE TABLE meta(key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
                CREATE TABLE steps(step INTEGER PRIMARY KEY NOT NULL, epoch INTEGER NOT NULL, loss REAL, loss_bits INTEGER NOT NULL,
                    lr REAL NOT NULL, digest INTEGER NOT NULL, wall_seconds REAL NOT NULL, tensor_count INTEGER NOT NULL, checksum INTEGER NOT NULL);
                CREATE TABLE tensors(step INTEGER NOT NULL, seq INTEGER NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL, dtype TEXT NOT NULL,
                    shape TEXT NOT NULL, hash INTEGER NOT NULL, nonfinite INTEGER NOT NULL, PRIMARY KEY(step, seq)) WITHOUT ROWID;
                CREATE TABLE tensor_data(step INTEGER NOT NULL, seq INTEGER NOT NULL, bytes BLOB NOT NULL, PRIMARY KEY(step, seq)) WITHOUT ROWID;
                CREATE TABLE evaluations(step INTEGER NOT NULL, epoch INTEGER NOT NULL, split TEXT NOT NULL, correct INTEGER NOT NULL,
                    total INTEGER NOT NULL, per_class_correct TEXT NOT NULL, per_class_total TEXT NOT NULL, predictions_hash INTEGER NOT NULL,
                    loss REAL, PRIMARY KEY(step, split));
                CREATE TABLE artifacts(name TEXT PRIMARY KEY NOT NULL, bytes BLOB NOT NULL);
                ALTER TABLE evaluations ADD COLUMN checksum INTEGER;
                """)
            var meta = ["format": "cwrepro-record", "schema_version": "1", "min_reader_version": "1", "status": "complete",
                        "config_given": "{}", "config_resolved": "{}", "config_path": "/x.json", "semantics": "pytorch",
                        "level": "params", "environment": "{}", "cwrepro_version": "0.1.0", "created_at": "2026-11-23T22:39:35Z"]
            meta["header_checksum"] = hex64(RecordSchema.headerChecksumV1(meta: meta, artifacts: []))
            for (k, v) in meta { try db.execute(sql: "INSERT INTO meta VALUES (?, ?)", arguments: [k, v]) }
            for s in initStep..<steps {
                let w: [Float] = [Float(s), 1]
                let e = RecordedEvent(step: s, seq: 0, name: "w", role: .param, dtype: .float32, shape: [2],
                                      hash: TensorHash.floats(w, shape: [2]), nonFinite: 0)
                let summary = StepSummary(step: s, epoch: 0, loss: Float(s), lr: 0.1, digest: TensorHash.digest([("w", "param", e.hash)]),
                                          wallSeconds: 0.001, tensorCount: 1)
                try db.execute(sql: "INSERT INTO steps VALUES (?, 0, ?, ?, ?, ?, 0.001, 1, ?)", arguments: [
                    s, Double(summary.loss), Int64(summary.loss.bitPattern), Double(summary.lr), Int64(bitPattern: summary.digest),
                    Int64(bitPattern: RecordSchema.checksum(summary, [e]))])
                try db.execute(sql: "INSERT INTO tensors VALUES (?, 0, 'w', 'param', 'f32', '[2]', ?, 0)", arguments: [s, Int64(bitPattern: e.hash)])
            }
            let ev = Evaluation(step: steps - 1, epoch: 0, split: "test", correct: 1, total: 2, perClassCorrect: [1], perClassTotal: [2],
                                predictionsHash: 7, loss: 0.5)
            try db.execute(sql: "INSERT INTO evaluations VALUES (?, 0, 'test', 1, 2, '1', '2', 7, 0.5, ?)",
                           arguments: [ev.step, Int64(bitPattern: RecordSchema.checksumV1(ev))])
        }
        try db.close()
    }

    func testSchemaOneRecordsAreReadWithTheirLimitsNamed() throws {
        let p = path("v1.cwr")
        try writeVersion1(p, steps: 4)
        let r = try RecordReader(path: p)
        XCTAssertEqual(r.schemaVersion, 1)
        XCTAssertNoThrow(try r.verify())
        XCTAssertEqual(try r.steps().map(\.step), [-1, 0, 1, 2, 3])
        XCTAssertEqual(try r.integrity(), .legacy(LegacyLimit.allCases))
        XCTAssertNil(try r.sealDigest())
        XCTAssertEqual(try r.events(step: 2).first?.stats, TensorStats(nonFinite: 0), "schema 1 records hold no statistics")
        XCTAssertThrowsError(try RecordWriter.resume(path: p)) { XCTAssertTrue("\($0)".contains("is complete"), "\($0)") }
    }

    func testSchemaOneGainsContiguityButCannotProveItsEnd() throws {
        let hole = path("hole.cwr")
        try writeVersion1(hole, steps: 4)
        try SealedRecordTests.edit(hole, "DELETE FROM steps WHERE step = 1; DELETE FROM tensors WHERE step = 1")
        XCTAssertThrowsError(try RecordReader(path: hole).verify()) { XCTAssertTrue("\($0)".contains("step 1 is missing"), "\($0)") }
        let cut = path("cut.cwr")
        try writeVersion1(cut, steps: 4)
        try SealedRecordTests.edit(cut, "DELETE FROM steps WHERE step = 3; DELETE FROM tensors WHERE step = 3; DELETE FROM evaluations")
        // The limit a schema 1 record has (LegacyLimit.trailingStepsOrEvaluations): this passes.
        XCTAssertEqual(try RecordReader(path: cut).steps().count, 4)
        try SealedRecordTests.edit(cut, "CREATE TRIGGER t AFTER DELETE ON steps BEGIN SELECT 1; END")
        XCTAssertThrowsError(try RecordReader(path: cut)) { XCTAssertTrue("\($0)".contains("it holds trigger t"), "\($0)") }
    }
}
