import GRDB

/// The `.cwr` record format: one SQLite file in WAL mode.
///
/// - `meta(key, value)`: `format` = "cwrepro-record", `schema_version`, `min_reader_version`,
///   `status` (running | complete | failed), `config_given`, `config_resolved`, `config_path`,
///   `semantics`, `environment` (JSON), `cwrepro_version`, `created_at`, `finished_at`, `level`.
/// - `steps`: one row per committed step (`step` -1 is initialisation): epoch, loss (and its
///   float32 bits), lr, digest, wall time, tensor count and a checksum over the step's rows.
/// - `tensors`: per step, in execution order: name, role, dtype, shape, XXH3 hash, non-finite count.
/// - `tensor_data`: raw bytes of tensors for the steps covered by `record.keepTensors`.
/// - `evaluations`: accuracy and per-class counts, hash of the predictions.
/// - `reduction_orders`: combination orders of parallel reductions (ReductionOrders.swift).
/// - `artifacts`: files the run depends on, embedded (init weights, batch order) so a replay
///   needs nothing but the record.
public enum RecordSchema {
    /// Version written by this build. Readers refuse records whose `min_reader_version` is higher.
    public static let version = 1
    public static let formatTag = "cwrepro-record"

    static func create(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE meta(key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
            CREATE TABLE steps(
                step INTEGER PRIMARY KEY NOT NULL, epoch INTEGER NOT NULL, loss REAL NOT NULL,
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
                predictions_hash INTEGER NOT NULL, loss REAL NOT NULL, PRIMARY KEY(step, split));
            CREATE TABLE artifacts(name TEXT PRIMARY KEY NOT NULL, bytes BLOB NOT NULL);
            """)
        try createReductionOrders(db)
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
