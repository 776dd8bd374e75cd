import Foundation
import GRDB
import XCTest
@testable import Recorder

/// Schema 2 records: every tampering case of issue 11 is reported as tampering (a typed
/// `RecordReadError`, exit 3 on the command line) with its message; the seal, its digest and
/// resuming keep the chain valid.
///
/// Set `CWREPRO_TAMPER_TABLE=<file>` to write the table of cases and messages for
/// guidelines/06-trustworthy-records.md.
final class SealedRecordTests: RecordDirectoryTestCase {
    nonisolated(unsafe) static var table: [(name: String, test: String, message: String)] = []

    override class func tearDown() {
        guard let out = ProcessInfo.processInfo.environment["CWREPRO_TAMPER_TABLE"], !table.isEmpty else { return }
        var md = "| case | message | test |\n|---|---|---|\n"
        for r in table { md += "| \(r.name) | \(r.message.replacingOccurrences(of: "|", with: "\\|")) | `\(r.test)` |\n" }
        try? Data(md.utf8).write(to: URL(fileURLWithPath: out))
    }

    static func header() -> RecordHeader {
        RecordHeader(configGiven: "{\"seed\":1}", configResolved: "{\"seed\":1}", configPath: "/x/train.json", semantics: "pytorch",
                     level: .grads, environment: ["blas.core": "Haswell"], cwreproVersion: "test")
    }

    /// A record with every kind of row: an artifact, draws, kept tensor bytes (init and step 0),
    /// a reduction order per step, an evaluation after each step, a checkpoint after each even
    /// step. Finished (`.complete`, or the given status) unless `finish` is nil.
    @discardableResult
    static func writeRun(_ path: String, steps: Int = 5, finish: RecordStatus? = .complete) throws -> RecordWriter {
        let writer = try RecordWriter(path: path, header: header(), keepTensors: 2)
        try writer.addArtifact(name: "order.json", bytes: Array("{\"batches\": [[0]]}".utf8))
        let rec = Recorder(seed: 5, sink: writer)
        _ = rec.uniform(site: "init/w", count: 3)
        rec.record(name: "w", role: .param, shape: [2], floats: [1, 2])
        try rec.endStep(loss: 0, lr: 0, nextStep: 0, nextEpoch: 0)
        for s in 0..<steps {
            rec.record(name: "w", role: .param, shape: [2], floats: [Float(s), -2])
            _ = rec.reductionOrder(site: "reduce/w/step-\(s)", observed: [1, 0, 2])
            try rec.endStep(loss: Float(s) + 0.5, lr: 0.1, nextStep: s + 1, nextEpoch: 0)
            try rec.evaluation(Evaluation(step: s, epoch: 0, split: "test", correct: s, total: 9, perClassCorrect: [s],
                                          perClassTotal: [9], predictionsHash: UInt64(s), loss: 0.5))
            if s % 2 == 0 { try writer.checkpoint(step: s, bytes: [UInt8](repeating: UInt8(s), count: 16)) }
        }
        if let finish { try writer.finish(finish) } else { try writer.flush() }
        return writer
    }

    static func edit(_ path: String, _ sql: String) throws {
        let db = try DatabaseQueue(path: path)
        try db.writeWithoutTransaction { try $0.execute(sql: sql) }
        try db.close()
    }

    /// Copies a fresh record, applies `sql`, reads it through every path (opening, verify, every
    /// step's events, payloads); expects a tampering error whose message contains `expect`.
    func expectTampering(_ name: String, _ sql: String, expect: String, status: RecordStatus = .complete,
                         function: String = #function, file: StaticString = #filePath, line: UInt = #line) throws {
        let p = path("case-\(Self.table.count)-\(UUID().uuidString.prefix(4)).cwr")
        try Self.writeRun(p, finish: status)
        try Self.edit(p, sql)
        do {
            try Self.readEverything(p)
            XCTFail("\(name): not detected", file: file, line: line)
        } catch let e as RecordReadError {
            XCTAssertTrue(e.isTampering, "\(name): \(e)", file: file, line: line)
            XCTAssertTrue("\(e)".contains(expect), "\(name): expected \"\(expect)\" in \(e)", file: file, line: line)
            Self.table.append((name, function.replacingOccurrences(of: "()", with: ""), "\(e)".replacingOccurrences(of: p, with: "run.cwr")))
        }
        // A replay's way: verified on another thread while the steps are taken (VerifiedSteps).
        do {
            let r = try RecordReader(path: p)
            let steps = try VerifiedSteps(reader: r, aheadSteps: 2)
            while try steps.next() != nil {}
            try steps.finish()
            XCTFail("\(name): not detected when streamed", file: file, line: line)
        } catch let e as RecordReadError {
            XCTAssertTrue(e.isTampering, "\(name), streamed: \(e)", file: file, line: line)
            XCTAssertTrue("\(e)".contains(expect), "\(name), streamed: expected \"\(expect)\" in \(e)", file: file, line: line)
        }
    }

    /// Reads everything a command could read.
    static func readEverything(_ p: String) throws {
        let r = try RecordReader(path: p)
        try r.verify()
        for s in try r.steps() {
            let events = try r.events(step: s.step)
            for e in events { _ = try r.payload(step: s.step, seq: e.seq) }
            _ = try r.reductionOrders(step: s.step, events: events)
        }
        _ = try r.evaluations()
        _ = try r.lastCheckpoint()
        for name in try r.artifactNames() { _ = try r.artifact(name) }
        _ = try r.sealDigest()
    }

    func testAnIntactRecordIsSealedAndVerifies() throws {
        let p = path("run.cwr")
        try Self.writeRun(p)
        let r = try RecordReader(path: p)
        XCTAssertNoThrow(try Self.readEverything(p))
        XCTAssertEqual(r.schemaVersion, 2)
        XCTAssertEqual(r.status, .complete)
        guard case .sealed(let digest) = try r.integrity() else { return XCTFail("not sealed") }
        XCTAssertEqual(digest, try r.sealDigest())
        XCTAssertTrue(digest.hasPrefix("sha256:") && digest.count == 7 + 64, digest)
        XCTAssertEqual(try r.steps().map(\.step), [-1, 0, 1, 2, 3, 4])
        XCTAssertEqual(try r.evaluations().count, 5)
        XCTAssertEqual(try r.lastCheckpoint()?.step, 4)
        XCTAssertTrue(r.meta["seal"]!.hasPrefix("cwrepro-seal-v2\nsteps=6\nlast_step=4\nevaluations=5\n"), r.meta["seal"]!)
        // The digest is a function of the content: a byte-identical copy gives the same digest.
        try FileManager.default.copyItem(atPath: p, toPath: path("copy.cwr"))
        XCTAssertEqual(try RecordReader(path: path("copy.cwr")).sealDigest(), digest)
    }

    func testAFailedRecordIsSealedWithItsReason() throws {
        let p = path("nan.cwr")
        try Self.writeRun(p, finish: .failed(reason: "step 3: loss is NaN"))
        let r = try RecordReader(path: p)
        XCTAssertEqual(r.status, .failed(reason: "step 3: loss is NaN"))
        XCTAssertNotNil(try r.sealDigest())
    }

    func testAnUnfinishedRecordIsUnsealed() throws {
        let p = path("killed.cwr")
        do { try Self.writeRun(p, finish: nil) }
        let r = try RecordReader(path: p)
        XCTAssertEqual(r.status, .running)
        XCTAssertEqual(try r.integrity(), .unsealed)
        XCTAssertNil(try r.sealDigest())
        XCTAssertEqual(try r.steps().count, 6)
    }

    // MARK: the cases of issue 11

    func testDeletedTrailingSteps() throws {
        try expectTampering("trailing steps deleted (`DELETE FROM steps WHERE step >= 3` and their tensors)",
                            "DELETE FROM steps WHERE step >= 3; DELETE FROM tensors WHERE step >= 3; DELETE FROM evaluations WHERE step >= 3; DELETE FROM reduction_orders WHERE step >= 3; DELETE FROM checkpoints WHERE step >= 3",
                            expect: "its seal does not match its rows")
    }

    func testDeletedLastStepOnly() throws {
        try expectTampering("last step row deleted", "DELETE FROM steps WHERE step = 4", expect: "tensor rows without a step row")
    }

    func testDeletedMiddleStep() throws {
        try expectTampering("a middle step deleted with its rows",
                            "DELETE FROM steps WHERE step = 2; DELETE FROM tensors WHERE step = 2; DELETE FROM reduction_orders WHERE step = 2",
                            expect: "step 2 is missing")
    }

    func testDeletedEvaluation() throws {
        try expectTampering("an evaluation deleted", "DELETE FROM evaluations WHERE step = 1", expect: "its chain link does not follow")
        try expectTampering("the last evaluation deleted", "DELETE FROM evaluations WHERE step = 4", expect: "its seal does not match")
    }

    func testDeletedSeal() throws {
        try expectTampering("the seal deleted", "DELETE FROM meta WHERE key = 'seal'", expect: "has no seal")
        try expectTampering("the seal deleted and the status set back to running",
                            "DELETE FROM meta WHERE key = 'seal'; UPDATE meta SET value = 'running' WHERE key = 'status'",
                            expect: "says it is running but carries")
    }

    func testDeletedHeaderChecksum() throws {
        try expectTampering("the header checksum deleted", "DELETE FROM meta WHERE key = 'header_checksum'", expect: "its header has no header_checksum")
    }

    /// SQLite refuses NULL in the NOT NULL column, so an attacker must change the schema first:
    /// the schema check refuses the changed table.
    func testNullEvaluationChecksum() throws {
        try expectTampering("an evaluation checksum set to NULL (the column's NOT NULL removed first)", """
            PRAGMA writable_schema = ON;
            UPDATE sqlite_master SET sql = replace(sql, 'checksum INTEGER NOT NULL', 'checksum INTEGER') WHERE name = 'evaluations';
            PRAGMA writable_schema = OFF;
            """, expect: "its schema is not the one cwrepro writes (changed evaluations)")
    }

    func testEditedKeptTensorValues() throws {
        try expectTampering("kept tensor values edited", "UPDATE tensor_data SET bytes = x'0000803f00000041' WHERE step = 0 AND seq = 0",
                            expect: "the kept bytes of tensor 0 do not match their SHA-256")
        try expectTampering("kept tensor values edited with their SHA-256",
                            "UPDATE tensor_data SET bytes = x'0000803f00000041', sha256 = x'\(String(repeating: "00", count: 32))' WHERE step = 0 AND seq = 0",
                            expect: "do not match their SHA-256")
        try expectTampering("kept tensor bytes deleted", "DELETE FROM tensor_data WHERE step = 0", expect: "the rows of step 0 do not match their checksum")
        try expectTampering("kept bytes added for a tensor", "INSERT INTO tensor_data SELECT 3, seq, bytes, sha256 FROM tensor_data WHERE step = 0 AND seq = 0",
                            expect: "the rows of step 3 do not match their checksum")
        try expectTampering("kept bytes added for no tensor", "INSERT INTO tensor_data SELECT 3, 99, bytes, sha256 FROM tensor_data WHERE step = 0 AND seq = 0",
                            expect: "kept tensor bytes or reduction orders of tensors that are not recorded")
    }

    func testEditedStatusAndFailure() throws {
        try expectTampering("status edited (complete -> failed)",
                            "UPDATE meta SET value = 'failed' WHERE key = 'status'; INSERT INTO meta VALUES ('failure', 'x')", expect: "its seal does not match")
        try expectTampering("failure text edited", "UPDATE meta SET value = 'out of memory' WHERE key = 'failure'",
                            expect: "its seal does not match", status: .failed(reason: "step 3: loss is NaN"))
        try expectTampering("failure text deleted", "DELETE FROM meta WHERE key = 'failure'",
                            expect: "its seal does not match", status: .failed(reason: "step 3: loss is NaN"))
        try expectTampering("status set to an unknown word", "UPDATE meta SET value = 'done' WHERE key = 'status'", expect: "is not running, complete or failed")
    }

    func testEditedCheckpoint() throws {
        try expectTampering("checkpoint step edited", "UPDATE checkpoints SET step = 3", expect: "its checkpoint is not the one taken after this step")
        try expectTampering("checkpoint step edited to a step not recorded", "UPDATE checkpoints SET step = 40", expect: "which is not recorded")
        try expectTampering("checkpoint bytes edited", "UPDATE checkpoints SET bytes = x'00'", expect: "does not match the stored hash")
        try expectTampering("checkpoint deleted", "DELETE FROM checkpoints", expect: "its seal does not match")
    }

    func testEditedRows() throws {
        try expectTampering("a tensor hash edited", "UPDATE tensors SET hash = hash + 1 WHERE step = 2 AND seq = 0", expect: "step 2 do not match their checksum")
        try expectTampering("a tensor statistic edited", "UPDATE tensors SET max = 99 WHERE step = 2 AND seq = 0", expect: "step 2 do not match their checksum")
        try expectTampering("a wall time edited", "UPDATE steps SET wall_seconds = 1 WHERE step = 1", expect: "step 1 do not match their checksum")
        try expectTampering("the loss column edited", "UPDATE steps SET loss = 7 WHERE step = 1", expect: "its loss column does not match")
        try expectTampering("a chain link edited", "UPDATE steps SET link = x'\(String(repeating: "11", count: 32))' WHERE step = 1",
                            expect: "its chain link does not follow")
        try expectTampering("two steps swapped", "UPDATE steps SET step = -100 WHERE step = 1; UPDATE steps SET step = 1 WHERE step = 2; UPDATE steps SET step = 2 WHERE step = -100",
                            expect: "do not match their checksum")
        try expectTampering("an evaluation edited", "UPDATE evaluations SET correct = 8 WHERE step = 1", expect: "evaluation row does not match its checksum")
        try expectTampering("a reduction order deleted", "DELETE FROM reduction_orders WHERE step = 1", expect: "step 1 do not match their checksum")
        try expectTampering("the config edited", "UPDATE meta SET value = '{\"seed\":2}' WHERE key = 'config_given'", expect: "does not match the header checksum")
        try expectTampering("an embedded file edited", "UPDATE artifacts SET bytes = x'7b7d'", expect: "does not match the header checksum")
        try expectTampering("a meta key added", "INSERT INTO meta VALUES ('note', 'x')", expect: "keys cwrepro never writes (note)")
    }

    func testSchemaObjectsAreRefusedBeforeAnyRowIsRead() throws {
        try expectTampering("a trigger added", "CREATE TRIGGER t AFTER DELETE ON steps BEGIN INSERT INTO meta VALUES ('x', 'y'); END",
                            expect: "added trigger t")
        try expectTampering("a table added", "CREATE TABLE extra(x)", expect: "added table extra")
        try expectTampering("an index added", "CREATE INDEX i ON tensors(name)", expect: "added index i")
        try expectTampering("a recursive view in place of the steps table", """
            ALTER TABLE steps RENAME TO steps_real;
            CREATE VIEW steps AS WITH RECURSIVE c(step) AS (SELECT 0 UNION ALL SELECT step + 1 FROM c) SELECT * FROM c;
            """, expect: "its schema is not the one cwrepro writes")
    }

    /// A recursive view used to hang every reader: it is refused when the record is opened, in
    /// well under a second.
    func testARecursiveViewDoesNotHang() throws {
        let p = path("view.cwr")
        try Self.writeRun(p)
        try Self.edit(p, "CREATE VIEW forever AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c")
        let start = Date()
        XCTAssertThrowsError(try Self.readEverything(p)) { XCTAssertTrue(($0 as? RecordReadError)?.isTampering == true, "\($0)") }
        XCTAssertLessThan(Date().timeIntervalSince(start), 2)
    }

    /// A FIFO given as a record is refused from its file type, never opened for reading (which
    /// would wait for a writer forever). Run on a thread with a deadline so a regression fails
    /// instead of hanging the suite.
    func testAFIFOIsRefusedWithoutHanging() throws {
        let p = path("pipe.cwr")
        XCTAssertEqual(mkfifo(p, 0o644), 0)
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Error?
        Thread.detachNewThread {
            do { _ = try RecordReader(path: p) } catch { result = error }
            done.signal()
        }
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success, "opening a FIFO hung")
        XCTAssertEqual(result as? RecordReadError, .notARecord(p, "it is a FIFO; a record is a regular file"))
        XCTAssertThrowsError(try RecordWriter.resume(path: p)) { XCTAssertEqual($0 as? RecordReadError, .notARecord(p, "it is a FIFO; a record is a regular file")) }
        Self.table.append(("a FIFO given as a record", "testAFIFOIsRefusedWithoutHanging", "\(result!)".replacingOccurrences(of: p, with: "run.cwr")))
    }

    // MARK: resume

    func testResumeKeepsTheChainValid() throws {
        let p = path("killed.cwr")
        do { try Self.writeRun(p, steps: 6, finish: nil) }
        let straight = path("straight.cwr")
        try Self.writeRun(straight, steps: 6)
        let r = try RecordWriter.resume(path: p)
        XCTAssertEqual(r.checkpoint?.step, 4)
        try r.discardAfterCheckpoint()
        // Continue exactly as the run would have: step 5 and its evaluation.
        let rec = Recorder(seed: 5, sink: r.writer)
        rec.resume(step: 5, epoch: 0, streams: [:])
        rec.record(name: "w", role: .param, shape: [2], floats: [5, -2])
        _ = rec.reductionOrder(site: "reduce/w/step-5", observed: [1, 0, 2])
        try rec.endStep(loss: 5.5, lr: 0.1, nextStep: 6, nextEpoch: 0)
        try rec.evaluation(Evaluation(step: 5, epoch: 0, split: "test", correct: 5, total: 9, perClassCorrect: [5],
                                      perClassTotal: [9], predictionsHash: 5, loss: 0.5))
        try r.writer.finish()
        XCTAssertNoThrow(try Self.readEverything(p))
        let resumed = try RecordReader(path: p), original = try RecordReader(path: straight)
        XCTAssertEqual(try resumed.steps().map(\.digest), try original.steps().map(\.digest))
        XCTAssertEqual(try resumed.evaluations(), try original.evaluations())
        XCTAssertNotNil(try resumed.sealDigest())
    }

    func testResumeRefusesAnEditedCheckpoint() throws {
        let p = path("killed.cwr")
        do { try Self.writeRun(p, steps: 6, finish: nil) }
        try Self.edit(p, "UPDATE checkpoints SET step = 2")
        let before = try Data(contentsOf: URL(fileURLWithPath: p))
        XCTAssertThrowsError(try RecordWriter.resume(path: p)) { e in
            guard case .tampered(_, 2, let detail)? = e as? RecordReadError else { return XCTFail("\(e)") }
            XCTAssertTrue(detail.contains("its checkpoint is not the one taken after this step"), detail)
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: p)), before, "nothing was written")
    }

    /// A trigger would run when resume deletes the rows after the checkpoint: the schema check
    /// refuses the record before anything is written.
    func testResumeRefusesARecordWithATrigger() throws {
        let p = path("killed.cwr")
        do { try Self.writeRun(p, steps: 6, finish: nil) }
        try Self.edit(p, "CREATE TRIGGER t AFTER DELETE ON steps BEGIN INSERT INTO meta VALUES ('fired', 'yes'); END")
        XCTAssertThrowsError(try RecordWriter.resume(path: p)) { XCTAssertTrue(($0 as? RecordReadError)?.isTampering == true, "\($0)") }
        let db = try DatabaseQueue(path: p)
        XCTAssertNil(try db.read { try String.fetchOne($0, sql: "SELECT value FROM meta WHERE key = 'fired'") })
        try db.close()
    }
}
