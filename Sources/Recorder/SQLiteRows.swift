import Foundation
import GRDB
import GRDBSQLite

/// The writer's raw SQLite rows. Step and tensor rows are bound straight through the SQLite C API
/// on GRDB's cached statements: one row per tensor per step made GRDB's `StatementArguments` (an
/// array of existentials per row) and re-preparing the INSERT the writer's main costs.
enum SQLiteRows {
    static func insertStep(_ db: Database, _ s: StepSummary, checksum: UInt64, link: [UInt8]) throws {
        let statement = try db.cachedStatement(sql: """
            INSERT INTO steps(step, epoch, loss, loss_bits, lr, digest, wall_seconds, tensor_count, checksum, link)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let stmt = statement.sqliteStatement
        sqlite3_reset(stmt)
        sqlite3_bind_int64(stmt, 1, Int64(s.step))
        sqlite3_bind_int64(stmt, 2, Int64(s.epoch))
        sqlite3_bind_double(stmt, 3, Double(s.loss))  // NaN is stored as NULL; loss_bits is authoritative
        sqlite3_bind_int64(stmt, 4, Int64(s.loss.bitPattern))
        sqlite3_bind_double(stmt, 5, Double(s.lr))
        sqlite3_bind_int64(stmt, 6, Int64(bitPattern: s.digest))
        sqlite3_bind_double(stmt, 7, s.wallSeconds)
        sqlite3_bind_int64(stmt, 8, Int64(s.tensorCount))
        sqlite3_bind_int64(stmt, 9, Int64(bitPattern: checksum))
        bindBlob(stmt, 10, link)
        try run(db, statement)
    }

    /// One tensor row; `text` is scratch for the shape text.
    static func insertTensor(_ db: Database, _ e: RecordedEvent, text: inout RecordText) throws {
        let statement = try db.cachedStatement(sql: """
            INSERT INTO tensors(step, seq, name, role, dtype, shape, hash, nonfinite, min, max, mean, l2)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let stmt = statement.sqliteStatement
        text.reset()
        text.appendShape(e.shape)
        sqlite3_reset(stmt)
        sqlite3_bind_int64(stmt, 1, Int64(e.step))
        sqlite3_bind_int64(stmt, 2, Int64(e.seq))
        bindText(stmt, 3, e.name)
        bindText(stmt, 4, e.role.rawValue)
        bindText(stmt, 5, e.dtype.name)
        text.bytes.withUnsafeBufferPointer { bindText(stmt, 6, $0) }
        sqlite3_bind_int64(stmt, 7, Int64(bitPattern: e.hash))
        sqlite3_bind_int64(stmt, 8, Int64(e.stats.nonFinite))
        for (i, v) in [e.stats.min, e.stats.max, e.stats.mean, e.stats.l2].enumerated() {
            if let v { sqlite3_bind_double(stmt, Int32(9 + i), v) } else { sqlite3_bind_null(stmt, Int32(9 + i)) }
        }
        try run(db, statement)
    }

    /// The kept bytes of an event: a reduction order (always kept) or a tensor kept by `record.keepTensors`.
    static func insertPayload(_ db: Database, _ e: RecordedEvent, _ bytes: [UInt8], sha256: [UInt8]) throws {
        if e.role == .reduction {
            try db.execute(sql: "INSERT INTO reduction_orders(step, seq, site, bytes, sha256) VALUES (?, ?, ?, ?, ?)",
                           arguments: [e.step, e.seq, e.name, Data(bytes), Data(sha256)])
        } else {
            try db.execute(sql: "INSERT INTO tensor_data(step, seq, bytes, sha256) VALUES (?, ?, ?, ?)",
                           arguments: [e.step, e.seq, Data(bytes), Data(sha256)])
        }
    }

    static func insertEvaluation(_ db: Database, _ e: Evaluation, checksum: UInt64) throws {
        try db.execute(sql: """
            INSERT OR REPLACE INTO evaluations(step, epoch, split, correct, total, per_class_correct, per_class_total,
                predictions_hash, loss, checksum) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [e.step, e.epoch, e.split, e.correct, e.total,
                             e.perClassCorrect.map(String.init).joined(separator: ","),
                             e.perClassTotal.map(String.init).joined(separator: ","),
                             Int64(bitPattern: e.predictionsHash), Double(e.loss), Int64(bitPattern: checksum)])
    }

    /// Replaces the checkpoint (the record keeps only the newest).
    static func replaceCheckpoint(_ db: Database, step: Int, bytes: [UInt8], link: [UInt8]) throws {
        try db.execute(sql: "DELETE FROM checkpoints")
        try db.execute(sql: "INSERT INTO checkpoints(step, bytes, hash, link) VALUES (?, ?, ?, ?)",
                       arguments: [step, Data(bytes), Int64(bitPattern: RecordSchema.bytesHash(bytes)), Data(link)])
    }

    static func setMeta(_ db: Database, _ key: String, _ value: String) throws {
        try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", arguments: [key, value])
    }

    /// Runs an INSERT whose arguments are bound, then resets it; throws SQLite's error.
    private static func run(_ db: Database, _ statement: Statement) throws {
        let rc = sqlite3_step(statement.sqliteStatement)
        sqlite3_reset(statement.sqliteStatement)
        guard rc == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)),
                                sql: statement.sql)
        }
    }

    private static var transient: sqlite3_destructor_type { unsafeBitCast(-1, to: sqlite3_destructor_type.self) }

    private static func bindBlob(_ stmt: OpaquePointer, _ index: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { _ = sqlite3_bind_blob(stmt, index, $0.baseAddress, Int32($0.count), transient) }
    }

    /// Binds UTF-8 text; SQLite copies it (SQLITE_TRANSIENT), so the buffer need not outlive the call.
    private static func bindText(_ stmt: OpaquePointer, _ index: Int32, _ utf8: UnsafeBufferPointer<UInt8>) {
        utf8.withMemoryRebound(to: CChar.self) {
            // A nil base (empty buffer) would bind NULL; an empty name is text "".
            if let base = $0.baseAddress {
                _ = sqlite3_bind_text(stmt, index, base, Int32($0.count), transient)
            } else {
                _ = sqlite3_bind_text(stmt, index, "", 0, transient)
            }
        }
    }

    private static func bindText(_ stmt: OpaquePointer, _ index: Int32, _ s: String) {
        if s.utf8.withContiguousStorageIfAvailable({ bindText(stmt, index, $0) }) == nil {
            Array(s.utf8).withUnsafeBufferPointer { bindText(stmt, index, $0) }
        }
    }
}
