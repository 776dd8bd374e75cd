import Foundation
import GRDB

/// The `.cwr` record format: one SQLite file in WAL mode.
///
/// - `meta(key, value)`: `format` = "cwrepro-record", `schema_version`, `min_reader_version`,
///   `status` (running | complete | failed), `config_given`, `config_resolved`, `config_path`,
///   `semantics`, `environment` (JSON), `cwrepro_version`, `created_at`, `finished_at`, `level`.
/// - `steps`: one row per committed step (`step` -1 is initialisation): epoch, loss (and its
///   float32 bits, which are authoritative: SQLite stores a NaN REAL as NULL), lr, digest, wall time, tensor count and a checksum over the step's rows.
/// - `tensors`: per step, in execution order: name, role, dtype, shape, XXH3 hash, non-finite count.
/// - `tensor_data`: raw bytes of tensors for the steps covered by `record.keepTensors`.
/// - `evaluations`: accuracy and per-class counts, hash of the predictions.
/// - `reduction_orders`: combination orders of parallel reductions (ReductionOrders.swift).
/// - `artifacts`: files the run depends on, embedded (init weights, batch order) so a replay
///   needs nothing but the record.
/// - `checkpoints`: the newest full training state, after `step` (parameters with BatchNorm
///   statistics, optimizer state, data-order position, random stream positions) as an opaque
///   blob written by the engine, with its XXH3 hash; `cwrepro record --resume` continues from it.
///
/// Integrity: each step row carries a checksum over itself and its tensor rows, each evaluation
/// row over itself, each checkpoint over its blob, and `meta.header_checksum` over the immutable
/// header (config, environment, versions) and the embedded artifacts. Readers recompute them, so
/// an edited row is reported as tampering instead of being replayed as truth. (A checksum is
/// not a signature: it catches edits and damage, not a forger who recomputes it; archive the
/// record's SHA-256 next to it for that, see guidelines/.)
public enum RecordSchema {
    /// Version written by this build. Readers refuse records whose `min_reader_version` is higher.
    public static let version = 1
    public static let formatTag = "cwrepro-record"
    /// Seconds a connection waits for another one's lock (a commit, a WAL checkpoint, a reader
    /// opening) before giving up: long enough for any single transaction, short enough to report.
    public static let busyTimeout: TimeInterval = 10

    static func create(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE meta(key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
            CREATE TABLE steps(
                step INTEGER PRIMARY KEY NOT NULL, epoch INTEGER NOT NULL, loss REAL,
                loss_bits INTEGER NOT NULL, lr REAL NOT NULL, digest INTEGER NOT NULL,
                wall_seconds REAL NOT NULL, tensor_count INTEGER NOT NULL, checksum INTEGER NOT NULL);
            CREATE TABLE tensors(
                step INTEGER NOT NULL, seq INTEGER NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL,
                dtype TEXT NOT NULL, shape TEXT NOT NULL, hash INTEGER NOT NULL, nonfinite INTEGER NOT NULL,
                PRIMARY KEY(step, seq)) WITHOUT ROWID;
            CREATE TABLE tensor_data(step INTEGER NOT NULL, seq INTEGER NOT NULL, bytes BLOB NOT NULL,
                PRIMARY KEY(step, seq)) WITHOUT ROWID;
            CREATE TABLE evaluations(
                step INTEGER NOT NULL, epoch INTEGER NOT NULL, split TEXT NOT NULL, correct INTEGER NOT NULL,
                total INTEGER NOT NULL, per_class_correct TEXT NOT NULL, per_class_total TEXT NOT NULL,
                predictions_hash INTEGER NOT NULL, loss REAL, PRIMARY KEY(step, split));
            CREATE TABLE artifacts(name TEXT PRIMARY KEY NOT NULL, bytes BLOB NOT NULL);
            """)
        try createReductionOrders(db)
        try createCheckpoints(db)
        try db.execute(sql: "ALTER TABLE evaluations ADD COLUMN checksum INTEGER")
    }

    static func createCheckpoints(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE IF NOT EXISTS checkpoints(step INTEGER PRIMARY KEY NOT NULL, bytes BLOB NOT NULL, hash INTEGER NOT NULL)
            """)
    }

    /// Meta keys that never change after a record is created; covered by `header_checksum`.
    static let headerKeys = ["format", "schema_version", "min_reader_version", "config_given", "config_resolved",
                             "config_path", "semantics", "level", "environment", "cwrepro_version", "created_at"]

    /// Checksum over the immutable header and every embedded artifact (name and XXH3 of its bytes).
    public static func headerChecksum(meta: [String: String], artifacts: [(name: String, hash: UInt64)]) -> UInt64 {
        var text = ""
        for k in headerKeys { text += "\(k)=\(meta[k]?.utf8.count ?? -1):\(meta[k] ?? "")\n" }
        for a in artifacts.sorted(by: { $0.name < $1.name }) { text += "artifact \(a.name)=\(a.hash)\n" }
        return TensorHash.string(text)
    }

    public static func checksum(_ e: Evaluation) -> UInt64 {
        TensorHash.string("\(e.step)|\(e.epoch)|\(e.split)|\(e.correct)|\(e.total)|\(e.perClassCorrect)|\(e.perClassTotal)|\(e.predictionsHash)|\(e.loss.isNaN ? Float.nan.bitPattern : e.loss.bitPattern)")
    }

    public static func bytesHash(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { TensorHash.bytes($0) }
    }

    /// Checksum over everything a step row and its tensor rows say; recomputed by readers, so a
    /// hash edited by hand is detected as tampering rather than replayed as truth.
    public static func checksum(_ s: StepSummary, _ events: [RecordedEvent]) -> UInt64 {
        var text = "\(s.step)|\(s.epoch)|\(s.loss.bitPattern)|\(s.lr.bitPattern)|\(s.digest)|\(s.tensorCount)\n"
        for e in events {
            text += "\(e.seq)|\(e.name)|\(e.role.rawValue)|\(e.dtype.name)|\(e.shapeText)|\(e.hash)|\(e.nonFinite)\n"
        }
        return TensorHash.string(text)
    }
}

extension DType {
    public init?(name: String) {
        guard let t = [DType.float32, .int32, .uint32, .int64, .float64, .uint8].first(where: { $0.name == name }) else { return nil }
        self = t
    }
}
