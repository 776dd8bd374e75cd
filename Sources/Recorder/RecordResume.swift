import Foundation
import GRDB

/// The chain state a resumed writer continues from.
struct ResumeState {
    var headerMeta: [String: String]
    var artifactSHA: [String: [UInt8]]
    var lastLink: [UInt8]?
    var lastStep: Int?
    var stepCount: Int
    var unlinkedEvaluations: [Evaluation]
    var checkpointLink: [UInt8]?
}

/// An interrupted record reopened for writing by a resume.
public struct Resumption {
    /// Writes the rest of the run into the same file (holds the file's lock); call
    /// `discardAfterCheckpoint()` first, so that the chain ends at the checkpoint.
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

    /// Deletes every row committed after the checkpoint (all of them without one). Call once the
    /// run is rebuilt and about to continue: until then the record is untouched. The chain then
    /// ends at the checkpoint's step, and the writer continues it from there.
    public func discardAfterCheckpoint() throws {
        let keepAfter = checkpoint?.step ?? (initStep - 1)
        try writer.db.write { db in
            for table in ["steps", "tensors", "tensor_data", "evaluations", "reduction_orders", "checkpoints"] {
                try db.execute(sql: "DELETE FROM \(table) WHERE step > ?", arguments: [keepAfter])
            }
        }
    }
}

extension RecordWriter {
    /// Reopens an incomplete record: takes its lock, checks that it is intact (its schema exactly,
    /// header, every committed step, the chain and the checkpoint) and still `running`, and returns
    /// a writer that continues after the last checkpoint (see `discardAfterCheckpoint`). Only a
    /// schema 2 record can be resumed (this build cannot extend a schema 1 record's checksums).
    public static func resume(path: String) throws -> Resumption {
        // Check what the path is (a regular file, not a FIFO) before opening it for the lock.
        _ = try RecordReader.checkFile(path)
        let lock = try RecordLock(path: path, create: false)
        // The writer was killed: let SQLite rebuild the WAL index before the read-only checks.
        RecordReader.recoverWALIndex(path)
        let reader = try RecordReader(path: path)
        switch reader.status {
        case .running: break
        case .complete: throw ResumeError.complete(path)
        case .failed(let reason): throw ResumeError.failed(path, reason)
        }
        guard reader.schemaVersion == RecordSchema.version else { throw ResumeError.olderSchema(path, reader.schemaVersion) }
        try reader.verify()
        let verified = try reader.verified()
        let checkpoint = verified.checkpoint
        var artifacts: [String: [UInt8]] = [:]
        for name in try reader.artifactNames() { artifacts[name] = try reader.artifact(name) }
        let keepAfter = checkpoint?.step ?? (initStep - 1)
        let state = try reader.read { db -> ResumeState in
            let link = try Data.fetchOne(db, sql: "SELECT link FROM steps WHERE step = ?", arguments: [keepAfter]).map(Array.init)
            let checkpointLink = try Data.fetchOne(db, sql: "SELECT link FROM checkpoints WHERE step = ?", arguments: [keepAfter]).map(Array.init)
            return ResumeState(headerMeta: reader.meta.filter { RecordSchema.headerKeys.contains($0.key) }, artifactSHA: reader.artifactSHA,
                               lastLink: link, lastStep: checkpoint?.step, stepCount: verified.steps.filter { $0.step <= keepAfter }.count,
                               unlinkedEvaluations: verified.evaluations.filter { $0.step == keepAfter && checkpoint != nil },
                               checkpointLink: checkpointLink)
        }
        let writer = try RecordWriter(resuming: path, lock: lock, state: state)
        let discarded = verified.steps.filter { $0.step > keepAfter && $0.step >= 0 }.count
        return Resumption(writer: writer, meta: reader.meta, checkpoint: checkpoint, discardedSteps: discarded, artifacts: artifacts)
    }
}

/// Why a record cannot be resumed (the record is readable; resuming it makes no sense).
public enum ResumeError: Error, CustomStringConvertible, Equatable {
    case complete(String)
    case failed(String, String)
    case olderSchema(String, Int)

    public var description: String {
        switch self {
        case .complete(let p): "\(p) is complete; there is nothing to resume (replay it, or record again)"
        case .failed(let p, let reason): "\(p) failed (\(reason)); resuming would fail the same way: record again"
        case .olderSchema(let p, let v): "\(p) is a record of schema \(v), written by an older cwrepro; only schema \(RecordSchema.version) records can be resumed: record again"
        }
    }
}
