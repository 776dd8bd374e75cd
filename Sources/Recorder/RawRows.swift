import Foundation
import GRDB
import GRDBSQLite

/// A SELECT on one of GRDB's cached statements, stepped through SQLite's C API and read by column
/// index, with the same checks as RowDecoding: a column of another storage class than expected is
/// `RecordReadError.corrupt`, never a trap or a silent conversion.
///
/// Why not GRDB's `Row`: reading a record verifies every tensor row, and `Row`'s per-column name
/// lookup (lower-cased, hashed), `DatabaseValue` boxing and per-query statement preparation cost
/// about 4 µs a row: 1.7 s for the 405,608 rows of a 27,000-step record, twenty times what SQLite
/// itself spends. Texts and blobs are borrowed from SQLite's buffers: valid until the next `step()`.
struct RawRows {
    let statement: Statement
    let path: String
    var stmt: OpaquePointer { statement.sqliteStatement }

    /// Prepares (once per connection) `sql` and binds `arguments` (integers) to its parameters.
    init(_ db: Database, _ sql: String, path: String, arguments: [Int] = []) throws {
        statement = try db.cachedStatement(sql: sql)
        self.path = path
        sqlite3_reset(statement.sqliteStatement)
        sqlite3_clear_bindings(statement.sqliteStatement)
        for (i, a) in arguments.enumerated() { sqlite3_bind_int64(statement.sqliteStatement, Int32(i + 1), Int64(a)) }
    }

    /// Moves to the next row: true when there is one. SQLite's errors are thrown as GRDB's
    /// `DatabaseError` (RecordReader.classify names them).
    func step() throws -> Bool {
        switch sqlite3_step(stmt) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: sqlite3_reset(stmt); return false
        case let rc:
            let message = String(cString: sqlite3_errmsg(sqlite3_db_handle(stmt)))
            sqlite3_reset(stmt)
            throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: message, sql: statement.sql)
        }
    }

    /// Ends the query early (the statement is reused by the next `RawRows` on it).
    func finish() { sqlite3_reset(stmt) }

    private func mismatch(_ i: Int32, _ column: String, _ expected: String) -> RecordReadError {
        .corrupt(path, "column \(column) holds \(DatabaseValue(sqliteStatement: stmt, index: i).description), expected \(expected)")
    }

    func int(_ i: Int32, _ column: String) throws -> Int {
        guard sqlite3_column_type(stmt, i) == SQLITE_INTEGER else { throw mismatch(i, column, "an integer") }
        return Int(sqlite3_column_int64(stmt, i))
    }

    func double(_ i: Int32, _ column: String) throws -> Double {
        switch sqlite3_column_type(stmt, i) {
        case SQLITE_FLOAT: return sqlite3_column_double(stmt, i)
        case SQLITE_INTEGER: return Double(sqlite3_column_int64(stmt, i))
        default: throw mismatch(i, column, "a number")
        }
    }

    func isNull(_ i: Int32) -> Bool { sqlite3_column_type(stmt, i) == SQLITE_NULL }

    func doubleOrNil(_ i: Int32, _ column: String) throws -> Double? { isNull(i) ? nil : try double(i, column) }

    /// The UTF-8 bytes of a text column (all of them: a NUL inside is kept).
    func text(_ i: Int32, _ column: String) throws -> UnsafeBufferPointer<UInt8> {
        guard sqlite3_column_type(stmt, i) == SQLITE_TEXT else { throw mismatch(i, column, "text") }
        guard let p = sqlite3_column_text(stmt, i) else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: p, count: Int(sqlite3_column_bytes(stmt, i)))
    }

    func string(_ i: Int32, _ column: String) throws -> String { String(decoding: try text(i, column), as: UTF8.self) }

    func blob(_ i: Int32, _ column: String) throws -> UnsafeRawBufferPointer {
        guard sqlite3_column_type(stmt, i) == SQLITE_BLOB else { throw mismatch(i, column, "bytes") }
        return UnsafeRawBufferPointer(start: sqlite3_column_blob(stmt, i), count: Int(sqlite3_column_bytes(stmt, i)))
    }
}
