import Foundation
import GRDB

/// The `.cwr` record format, schema 2 (docs/record-format.md is the full description): one SQLite
/// file, in WAL mode while it is written and a single rollback-journal file once finished.
///
/// - `meta(key, value)`: the header (`headerKeys`), `header_checksum`, `status` (running | complete
///   | failed), `failure`, `finished_at` and, once finished, `seal`.
/// - `steps`: one row per committed step (`step` -1 is initialisation, then 0, 1, ... without
///   holes): epoch, loss (its float32 bits are authoritative: SQLite stores a NaN REAL as NULL),
///   lr, digest, wall time, tensor count, `checksum` (XXH3-64 of the step text) and `link` (the
///   SHA-256 chain link, RecordChain.swift).
/// - `tensors`: per step, in execution order: name, role, dtype, shape, XXH3 hash, non-finite
///   count and the statistics min, max, mean, l2 (TensorStats).
/// - `tensor_data`: raw bytes of tensors for the steps covered by `record.keepTensors`, with their SHA-256.
/// - `evaluations`: accuracy and per-class counts, hash of the predictions, `checksum`.
/// - `reduction_orders`: combination orders of parallel reductions, with their SHA-256.
/// - `artifacts`: files the run depends on, embedded (init weights, batch order).
/// - `checkpoints`: the newest training state (an opaque blob from the engine) after `step`, its
///   XXH3 `hash` and its `link` (bound to the chain link of its step).
///
/// Integrity: the header is anchored in the chain; each step's link covers the previous link, the
/// step and tensor rows with their statistics, the SHA-256 of kept bytes and reduction orders, and
/// the evaluations after the previous step; a finished record ends with a seal over the chain
/// head, the counts, the last evaluations, the checkpoint, the status and the failure text. It is
/// a checksum chain, not a signature (guidelines/06-trustworthy-records.md).
public enum RecordSchema {
    /// Version written by this build; readers read versions 1 and 2.
    public static let version = 2
    /// Oldest version this build reads.
    public static let oldestReadable = 1
    public static let formatTag = "cwrepro-record"
    /// Seconds a connection waits for another one's lock (a commit, a WAL checkpoint, a reader
    /// opening) before giving up: long enough for any single transaction, short enough to report.
    public static let busyTimeout: TimeInterval = 10

    /// The schema 2 tables, exactly as created: a reader compares `sqlite_master` with them.
    static let statements = [
        "CREATE TABLE meta(key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)",
        """
        CREATE TABLE steps(step INTEGER PRIMARY KEY NOT NULL, epoch INTEGER NOT NULL, loss REAL, loss_bits INTEGER NOT NULL, \
        lr REAL NOT NULL, digest INTEGER NOT NULL, wall_seconds REAL NOT NULL, tensor_count INTEGER NOT NULL, \
        checksum INTEGER NOT NULL, link BLOB NOT NULL)
        """,
        """
        CREATE TABLE tensors(step INTEGER NOT NULL, seq INTEGER NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL, \
        dtype TEXT NOT NULL, shape TEXT NOT NULL, hash INTEGER NOT NULL, nonfinite INTEGER NOT NULL, \
        min REAL, max REAL, mean REAL, l2 REAL, PRIMARY KEY(step, seq)) WITHOUT ROWID
        """,
        """
        CREATE TABLE tensor_data(step INTEGER NOT NULL, seq INTEGER NOT NULL, bytes BLOB NOT NULL, sha256 BLOB NOT NULL, \
        PRIMARY KEY(step, seq)) WITHOUT ROWID
        """,
        """
        CREATE TABLE evaluations(step INTEGER NOT NULL, epoch INTEGER NOT NULL, split TEXT NOT NULL, correct INTEGER NOT NULL, \
        total INTEGER NOT NULL, per_class_correct TEXT NOT NULL, per_class_total TEXT NOT NULL, \
        predictions_hash INTEGER NOT NULL, loss REAL, checksum INTEGER NOT NULL, PRIMARY KEY(step, split))
        """,
        "CREATE TABLE artifacts(name TEXT PRIMARY KEY NOT NULL, bytes BLOB NOT NULL)",
        """
        CREATE TABLE reduction_orders(step INTEGER NOT NULL, seq INTEGER NOT NULL, site TEXT NOT NULL, bytes BLOB NOT NULL, \
        sha256 BLOB NOT NULL, PRIMARY KEY(step, seq)) WITHOUT ROWID
        """,
        "CREATE TABLE checkpoints(step INTEGER PRIMARY KEY NOT NULL, bytes BLOB NOT NULL, hash INTEGER NOT NULL, link BLOB NOT NULL)",
    ]

    static func create(_ db: Database) throws {
        for s in statements { try db.execute(sql: s) }
    }

    /// One row of `sqlite_master` (the root page left out: it differs between files).
    struct SchemaObject: Hashable, Sendable, Comparable {
        var type: String, name: String, table: String, sql: String?
        static func < (a: Self, b: Self) -> Bool { (a.type, a.name) < (b.type, b.name) }
        var label: String { "\(type) \(name)" }
    }

    /// What `sqlite_master` of a schema 2 record holds: the tables above and SQLite's automatic
    /// primary-key indexes, found by creating them in memory.
    static let expectedObjects: Set<SchemaObject> = {
        guard let db = try? DatabaseQueue(),
              let objects = try? db.write({ db -> Set<SchemaObject> in
                  try create(db)
                  return try objects(db)
              }) else { return [] }
        return objects
    }()

    static func objects(_ db: Database) throws -> Set<SchemaObject> {
        Set(try Row.fetchAll(db, sql: "SELECT type, name, tbl_name, sql FROM sqlite_master").map {
            SchemaObject(type: $0["type"] as String? ?? "?", name: $0["name"] as String? ?? "?",
                         table: $0["tbl_name"] as String? ?? "?", sql: $0["sql"] as String?)
        })
    }

    /// Tables a schema 1 record may hold (older builds wrote fewer of them); no views, triggers or
    /// other indexes than SQLite's automatic ones.
    static let version1Tables: Set<String> = ["meta", "steps", "tensors", "tensor_data", "evaluations", "artifacts",
                                              "reduction_orders", "checkpoints"]

    /// Meta keys that never change after a record is created; covered by `header_checksum` and
    /// anchoring the chain.
    static let headerKeys = ["format", "schema_version", "min_reader_version", "config_given", "config_resolved",
                             "config_path", "semantics", "level", "environment", "cwrepro_version", "created_at"]

    /// Every meta key a schema 2 record may hold.
    static let metaKeys = Set(headerKeys + ["header_checksum", "status", "failure", "finished_at", "seal"])

    /// Schema 1 header checksum: over the header and every embedded artifact (name and XXH3 of its bytes).
    static func headerChecksumV1(meta: [String: String], artifacts: [(name: String, hash: UInt64)]) -> UInt64 {
        var text = ""
        for k in headerKeys { text += "\(k)=\(meta[k]?.utf8.count ?? -1):\(meta[k] ?? "")\n" }
        for a in artifacts.sorted(by: { $0.name < $1.name }) { text += "artifact \(a.name)=\(a.hash)\n" }
        return TensorHash.string(text)
    }

    /// Schema 2 header text: per header key `key=<UTF-8 length>:value\n`, then per artifact in
    /// byte order of its name `artifact <length>:name=<SHA-256 hex>\n`. `header_checksum` is its
    /// XXH3-64; the chain's anchor its SHA-256 (RecordChain.anchor).
    static func headerText(meta: [String: String], artifacts: [(name: String, sha256: [UInt8])]) -> [UInt8] {
        var text = RecordText()
        for k in headerKeys {
            let v = meta[k] ?? ""
            text.append(k); text.append(0x3D); text.append(v.utf8.count); text.append(0x3A); text.append(v); text.append(0x0A)
        }
        for a in artifacts.sorted(by: { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }) {
            text.append("artifact "); text.appendCounted(a.name); text.append(0x3D); text.appendHex(a.sha256); text.append(0x0A)
        }
        return text.bytes
    }

    /// Schema 1 evaluation checksum.
    static func checksumV1(_ e: Evaluation) -> UInt64 {
        TensorHash.string("\(e.step)|\(e.epoch)|\(e.split)|\(e.correct)|\(e.total)|\(e.perClassCorrect)|\(e.perClassTotal)|\(e.predictionsHash)|\(e.loss.isNaN ? Float.nan.bitPattern : e.loss.bitPattern)")
    }

    public static func bytesHash(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { TensorHash.bytes($0) }
    }

    /// Schema 1 step checksum over a step row and its tensor rows; recomputed by readers of
    /// schema 1 records. Hashed text: `step|epoch|loss bits|lr bits|digest|tensor count\n`, then per
    /// event `seq|name|role|dtype|[shape]|hash|nonfinite\n` (integers in decimal).
    public static func checksum(_ s: StepSummary, _ events: [RecordedEvent]) -> UInt64 {
        var text = RecordText()
        return checksum(s, events, text: &text)
    }

    /// `checksum(_:_:)` building its text in `text` (reset first).
    static func checksum(_ s: StepSummary, _ events: [RecordedEvent], text: inout RecordText) -> UInt64 {
        let bar: UInt8 = 0x7C, newline: UInt8 = 0x0A
        appendStepHeaderV1(s, into: &text)
        for e in events {
            text.append(e.seq); text.append(bar); text.append(e.name); text.append(bar)
            text.append(e.role.rawValue); text.append(bar); text.append(e.dtype.name); text.append(bar)
            text.appendShape(e.shape); text.append(bar); text.append(e.hash); text.append(bar)
            text.append(e.nonFinite); text.append(newline)
        }
        return text.bytes.withUnsafeBytes { TensorHash.bytes($0) }
    }

    /// Resets `text` to the first line of the schema 1 checksum text.
    static func appendStepHeaderV1(_ s: StepSummary, into text: inout RecordText) {
        let bar: UInt8 = 0x7C
        text.reset()
        text.append(s.step); text.append(bar); text.append(s.epoch); text.append(bar)
        text.append(UInt64(s.loss.bitPattern)); text.append(bar); text.append(UInt64(s.lr.bitPattern)); text.append(bar)
        text.append(s.digest); text.append(bar); text.append(s.tensorCount); text.append(UInt8(0x0A))
    }

    /// One event's line of the schema 1 checksum text from a stored row (name and shape as stored).
    static func appendEventLineV1(seq: Int, name: UnsafeBufferPointer<UInt8>, role: TensorRole, dtype: DType,
                                  shape: UnsafeBufferPointer<UInt8>, hash: UInt64, nonFinite: Int, into text: inout RecordText) {
        let bar: UInt8 = 0x7C
        text.append(seq); text.append(bar); text.append(name); text.append(bar)
        text.append(role.rawValue); text.append(bar); text.append(dtype.name); text.append(bar)
        text.append(shape); text.append(bar); text.append(hash); text.append(bar)
        text.append(nonFinite); text.append(UInt8(0x0A))
    }
}

extension DType {
    public init?(name: String) {
        guard let t = [DType.float32, .int32, .uint32, .int64, .float64, .uint8].first(where: { $0.name == name }) else { return nil }
        self = t
    }
}
