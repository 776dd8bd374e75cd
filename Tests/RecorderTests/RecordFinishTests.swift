import Foundation
import GRDB
import XCTest
@testable import Recorder

/// `RecordWriter.finish` leaves a finished record as one file (guideline 06, "A finished record is
/// one file") even when a reader has it open at that moment, as `show` or `seal` of a running
/// record do: SQLite refuses to switch the WAL off while another connection has the file open,
/// and `finish` retries until the reader is gone. A reader that stays past the writer's wait
/// leaves a sealed, valid record in WAL mode, and `finish` says so (`RecordWALRemains`).
final class RecordFinishTests: RecordDirectoryTestCase {
    func header() -> RecordHeader {
        RecordHeader(configGiven: "{\"seed\":1}", configResolved: "{\"seed\":1}", configPath: "/x/train.json", semantics: "pytorch",
                     level: .grads, environment: ["blas.core": "Haswell"], cwreproVersion: "test")
    }

    /// A record at `path` with init and `steps` training steps committed, not finished.
    func runningRecord(_ path: String, steps: Int = 3, overwrite: Bool = false) throws -> RecordWriter {
        let writer = try RecordWriter(path: path, header: header(), overwrite: overwrite)
        let rec = Recorder(seed: 5, sink: writer)
        rec.record(name: "w", role: .param, shape: [4], floats: [1, 2, 3, 4])
        _ = try rec.endStep(loss: 0, lr: 0, nextStep: 0, nextEpoch: 0)
        for s in 0..<steps {
            rec.record(name: "w", role: .param, shape: [4], floats: [Float(s), 1, 2, 3])
            _ = try rec.endStep(loss: Float(s), lr: 0.1, nextStep: s + 1, nextEpoch: 0)
        }
        try writer.flush()
        return writer
    }

    /// A reader of the running record on another thread: it opens `path` as `show` does
    /// (RecordReader), keeps it open for `seconds` (the first half inside a read transaction when
    /// `transaction`, which holds off the checkpoint; the rest idle, as a reader between reads,
    /// which holds off the switch out of WAL mode) and closes it. Returns once the reader holds
    /// the file; wait on the group for it to close.
    func holdOpen(_ path: String, for seconds: Double, transaction: Bool) -> DispatchGroup {
        let opened = DispatchSemaphore(value: 0), closed = DispatchGroup()
        closed.enter()
        Thread.detachNewThread {
            defer { closed.leave() }
            do {
                let reader = try RecordReader(path: path)
                XCTAssertTrue(reader.writerActive)
                XCTAssertEqual(try reader.steps().count, 4, "the committed steps")
                if transaction {
                    try reader.db.read { db in
                        // The first read takes the snapshot (a deferred transaction has none before it).
                        _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM steps")
                        opened.signal()
                        Thread.sleep(forTimeInterval: seconds / 2)
                    }
                    Thread.sleep(forTimeInterval: seconds / 2)
                } else {
                    opened.signal()
                    Thread.sleep(forTimeInterval: seconds)
                }
                try reader.db.close()
            } catch {
                XCTFail("the reader: \(error)")
                opened.signal()
            }
        }
        opened.wait()
        return closed
    }

    /// The files of the test directory, sorted.
    func files() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() }

    /// Bytes 18 and 19 of the SQLite header: 1 1 for a rollback journal, 2 2 for WAL.
    func journalBytes(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path)).prefix(20).suffix(2))
    }

    /// SQLite's journal mode of `path`, read without changing anything.
    func journalMode(_ path: String) throws -> String {
        var config = Configuration()
        config.readonly = true
        let q = try DatabaseQueue(path: path, configuration: config)
        defer { try? q.close() }
        return try q.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") ?? "" }
    }

    /// The finished record reads as one sealed, verified file.
    func assertSealedAndValid(_ path: String, steps: Int = 4, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try RecordReader(path: path)
        XCTAssertNoThrow(try r.verify(), file: file, line: line)
        XCTAssertTrue(r.isComplete, file: file, line: line)
        XCTAssertNotNil(try r.sealDigest(), file: file, line: line)
        XCTAssertEqual(try r.steps().count, steps, file: file, line: line)
    }

    /// Before the fix, the switch failed at once and was skipped: `run.cwr-wal` and `-shm` stayed,
    /// header bytes 02 02. Now `finish` waits for the reader (0.5 s) and the record is one file.
    func testFinishWaitsForAReaderInsideATransaction() throws {
        let path = path("run.cwr")
        let writer = try runningRecord(path)
        let closed = holdOpen(path, for: 0.5, transaction: true)
        let start = Date()
        XCTAssertNil(try writer.finish())
        XCTAssertGreaterThan(Date().timeIntervalSince(start), 0.3, "finish waited for the reader")
        closed.wait()
        XCTAssertEqual(try files(), ["run.cwr"], "no -wal or -shm")
        XCTAssertEqual(try journalBytes(path), [1, 1])
        XCTAssertEqual(try journalMode(path), "delete")
        try assertSealedAndValid(path)
        XCTAssertTrue(try RecordReader(path: path).openedImmutable, "read as a finished record")
    }

    func testFinishWaitsForAReaderThatOnlyHasTheFileOpen() throws {
        let path = path("run.cwr")
        let writer = try runningRecord(path)
        let closed = holdOpen(path, for: 0.5, transaction: false)
        XCTAssertNil(try writer.finish())
        closed.wait()
        XCTAssertEqual(try files(), ["run.cwr"])
        XCTAssertEqual(try journalBytes(path), [1, 1])
        try assertSealedAndValid(path)
    }

    /// A reader that stays past the wait: the record is sealed and valid in WAL mode, and `finish`
    /// says what remains (with the reader's transaction open, the last rows are still in the WAL;
    /// with the file only open, the WAL was folded into the record first).
    func testAReaderPastTheWaitLeavesASealedRecordAndSaysSo() throws {
        for transaction in [true, false] {
            let path = path("run-\(transaction).cwr")
            let writer = try runningRecord(path)
            writer.singleFileWait = 0.3
            let closed = holdOpen(path, for: 2, transaction: transaction)
            let remains = try XCTUnwrap(try writer.finish())
            XCTAssertEqual(remains.path, path)
            XCTAssertEqual(remains.folded, !transaction)
            XCTAssertGreaterThanOrEqual(remains.waited, 0.3)
            XCTAssertEqual(remains.detail, "database is locked")
            XCTAssertTrue("\(remains)".contains("\(path) is sealed, but other processes kept it open"), "\(remains)")
            XCTAssertTrue(FileManager.default.fileExists(atPath: path + "-wal"))
            XCTAssertEqual(try journalBytes(path), [2, 2])
            try assertSealedAndValid(path)
            closed.wait()
            try assertSealedAndValid(path)
        }
    }

    /// Replacing a record (`record -o run.cwr --force`) while a reader holds the new one's
    /// `.partial`: the -wal holding its last rows moves with it, so the renamed record is whole.
    func testAReplacedRecordKeptInWALModeMovesWithItsWAL() throws {
        let path = path("run.cwr")
        try runningRecord(path, steps: 1).finish()
        let writer = try runningRecord(path, overwrite: true)
        XCTAssertEqual(writer.writingPath, path + ".partial")
        writer.singleFileWait = 0.3
        let closed = holdOpen(writer.writingPath, for: 2, transaction: true)
        let remains = try XCTUnwrap(try writer.finish())
        XCTAssertFalse(remains.folded)
        XCTAssertEqual(try files(), ["run.cwr", "run.cwr-shm", "run.cwr-wal"])
        try assertSealedAndValid(path)
        closed.wait()
        try assertSealedAndValid(path)
    }
}
