import Foundation
import GRDB

/// An interrupted record reopened for writing by `cwrepro record --resume`.
public struct Resumption {
    /// Writes the rest of the run into the same file (holds the file's lock).
    public let writer: RecordWriter
    /// The record as it stood when reopened (config, level, environment).
    public let meta: [String: String]
    /// The last checkpoint: training continues after `step`. Nil when the run was killed before
    /// its first checkpoint: everything is recorded again from initialisation.
    public let checkpoint: (step: Int, bytes: [UInt8])?
    /// Committed training steps discarded because they came after the last checkpoint.
    public let discardedSteps: Int
    /// The embedded files (init weights, batch order), name -> bytes.
    public let artifacts: [String: [UInt8]]

    /// Deletes every row committed after the checkpoint (all of them without one), in every table
    /// keyed by step. Call once the run is rebuilt and about to continue: until then the record
    /// is untouched.
    public func discardAfterCheckpoint() throws {
        let keepAfter = checkpoint?.step ?? (initStep - 1)
        try writer.db.write { db in
            try RecordSchema.createCheckpoints(db)
            for table in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'") {
                let columns = try Row.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?)", arguments: [table]).map { try RecordReader.text($0, "name", writer.path) }
                guard columns.contains("step") else { continue }
                try db.execute(sql: "DELETE FROM \"\(table)\" WHERE step > ?", arguments: [keepAfter])
            }
        }
    }
}

extension RecordWriter {
    /// Reopens an incomplete record: takes its lock, checks that it is intact (header, config,
    /// every committed step and the checkpoint against their checksums) and still `running`, and
    /// returns a writer that continues after the last checkpoint (see `discardAfterCheckpoint`).
    public static func resume(path: String) throws -> Resumption {
        guard FileManager.default.fileExists(atPath: path) else { throw RecordReadError.notFound(path) }
        let lock = try RecordLock(path: path, create: false)
        // The writer was killed: let SQLite rebuild the WAL index before the read-only checks.
        RecordReader.recoverWALIndex(path)
        let reader = try RecordReader(path: path)
        switch reader.status {
        case "running": break
        case "complete": throw InputError("\(path) is complete; there is nothing to resume (replay it, or record again)")
        case "failed":
            throw InputError("\(path) failed (\(reader.meta["failure"] ?? "no reason recorded")); resuming would fail the same way: record again, with --allow-nonfinite if that is intended")
        default: throw RecordReadError.corrupt(path, "unknown status \"\(reader.status)\"")
        }
        try reader.verify()
        let checkpoint = try reader.lastCheckpoint()
        let meta = reader.meta
        var artifacts: [String: [UInt8]] = [:]
        for name in try reader.artifactNames() { artifacts[name] = try reader.artifact(name) }
        let writer = try RecordWriter(resuming: path, lock: lock, keepTensors: 0)
        let keepAfter = checkpoint?.step ?? (initStep - 1)
        let discarded = try writer.db.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM steps WHERE step > ? AND step >= 0", arguments: [keepAfter]) ?? 0
        }
        return Resumption(writer: writer, meta: meta, checkpoint: checkpoint, discardedSteps: discarded, artifacts: artifacts)
    }
}
