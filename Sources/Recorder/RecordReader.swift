import Foundation
import GRDB

/// Why a record cannot be read. The command line maps every case to exit code 3; each message
/// says what the file is and what to do.
public enum RecordReadError: Error, CustomStringConvertible, Equatable {
    case notFound(String)
    case notARecord(String, String)
    case newerSchema(String, found: Int, supported: Int)
    case corrupt(String, String)
    case truncated(String, String)
    case tampered(String, step: Int, detail: String)

    public var description: String {
        switch self {
        case .notFound(let p): "no record at \(p): check the path (records are written by `cwrepro record`)"
        case .notARecord(let p, let why): "\(p) is not a cwrepro record (\(why))"
        case .newerSchema(let p, let found, let supported):
            "\(p) was written with record schema \(found), this cwrepro reads up to \(supported): upgrade cwrepro to read it"
        case .corrupt(let p, let why): "\(p) is a corrupt cwrepro record: \(why)"
        case .truncated(let p, let why): "\(p) is truncated: \(why) (an interrupted copy? a killed run is readable, a cut file is not)"
        case .tampered(let p, let step, let detail):
            "\(p) has been tampered with: the rows of step \(stepLabel(step)) do not match their checksum (\(detail)); do not trust this record"
        }
    }
}

/// One committed step as stored.
public struct StepRow: Equatable, Sendable {
    public var step: Int
    public var epoch: Int
    public var loss: Float
    public var lr: Float
    public var digest: UInt64
    public var wallSeconds: Double
    public var tensorCount: Int
}

/// Read-only access to a `.cwr` record. Opens SQLite read-only with `trusted_schema` off and no
/// extension loading: nothing in the file is ever executed.
public final class RecordReader {
    public let path: String
    private let db: DatabaseQueue
    public let meta: [String: String]

    public init(path: String) throws {
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else { throw RecordReadError.notFound(path) }
        guard let fh = FileHandle(forReadingAtPath: path) else { throw RecordReadError.notFound(path) }
        let head = (try? fh.read(upToCount: 100)) ?? Data()
        try? fh.close()
        guard head.count >= 16, String(decoding: head.prefix(15), as: UTF8.self) == "SQLite format 3" else {
            throw RecordReadError.notARecord(path, head.isEmpty ? "the file is empty" : "not an SQLite database")
        }
        var config = Configuration()
        config.readonly = true
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA trusted_schema = OFF")
        }
        do {
            db = try DatabaseQueue(path: path, configuration: config)
            meta = try db.read { db in
                guard try db.tableExists("meta") else { throw RecordReadError.notARecord(path, "an SQLite database without cwrepro's tables") }
                return try Dictionary(uniqueKeysWithValues: Row.fetchAll(db, sql: "SELECT key, value FROM meta").map {
                    (($0["key"] as String?) ?? "", ($0["value"] as String?) ?? "")
                })
            }
        } catch let e as RecordReadError {
            throw e
        } catch {
            throw Self.classify(path, error)
        }
        guard meta["format"] == RecordSchema.formatTag else {
            throw RecordReadError.notARecord(path, "an SQLite database without the cwrepro format tag")
        }
        let minReader = Int(meta["min_reader_version"] ?? "") ?? Int.max
        let schema = Int(meta["schema_version"] ?? "") ?? Int.max
        if minReader > RecordSchema.version {
            throw RecordReadError.newerSchema(path, found: schema, supported: RecordSchema.version)
        }
        try checkIntegrity()
    }

    static func classify(_ path: String, _ error: Error) -> RecordReadError {
        let text = "\(error)"
        if text.contains("malformed") || text.contains("SQLITE_CORRUPT") {
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            if size % 512 != 0 { return .truncated(path, "\(size) bytes is not a whole number of database pages") }
            return .corrupt(path, "SQLite reports the database image is malformed")
        }
        if text.contains("not a database") || text.contains("SQLITE_NOTADB") {
            return .notARecord(path, "not an SQLite database")
        }
        return .corrupt(path, text)
    }

    /// Detects a cut file: SQLite's page count times page size must fit in the file.
    private func checkIntegrity() throws {
        do {
            let (pages, pageSize) = try db.read { db in
                (try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0, try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 0)
            }
            let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            let walExists = FileManager.default.fileExists(atPath: path + "-wal")
            if !walExists && pages * pageSize > size {
                throw RecordReadError.truncated(path, "the database declares \(pages * pageSize) bytes, the file has \(size)")
            }
        } catch let e as RecordReadError { throw e } catch { throw Self.classify(path, error) }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try db.read(body) } catch let e as RecordReadError { throw e } catch { throw Self.classify(path, error) }
    }

    /// `complete` when the run finished; `running` for a run that was killed (or is still going).
    public var status: String { meta["status"] ?? "unknown" }
    public var isComplete: Bool { status == "complete" }
    public var configGiven: String { meta["config_given"] ?? "{}" }
    public var configResolved: String { meta["config_resolved"] ?? "{}" }
    public var configPath: String { meta["config_path"] ?? "" }
    public var level: RecordLevel { RecordLevel(rawValue: meta["level"] ?? "") ?? .grads }
    public var environment: [String: String] {
        guard let d = meta["environment"]?.data(using: .utf8),
              let o = try? JSONSerialization.jsonObject(with: d) as? [String: String] else { return [:] }
        return o
    }

    public func steps() throws -> [StepRow] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM steps ORDER BY step").map { r in
                StepRow(step: r["step"], epoch: r["epoch"], loss: Float(bitPattern: UInt32(truncatingIfNeeded: r["loss_bits"] as Int64)),
                        lr: Float(r["lr"] as Double), digest: UInt64(bitPattern: r["digest"]),
                        wallSeconds: r["wall_seconds"], tensorCount: r["tensor_count"])
            }
        }
    }

    /// The events of `step` in execution order, checked against the step's checksum.
    public func events(step: Int) throws -> [RecordedEvent] {
        try read { db in
            let events = try Row.fetchAll(db, sql: "SELECT * FROM tensors WHERE step = ? ORDER BY seq", arguments: [step]).map { r in
                try Self.event(r, path: path)
            }
            guard let s = try Row.fetchOne(db, sql: "SELECT * FROM steps WHERE step = ?", arguments: [step]) else { return events }
            let summary = StepSummary(step: s["step"], epoch: s["epoch"],
                                      loss: Float(bitPattern: UInt32(truncatingIfNeeded: s["loss_bits"] as Int64)),
                                      lr: Float(s["lr"] as Double), digest: UInt64(bitPattern: s["digest"]),
                                      wallSeconds: s["wall_seconds"], tensorCount: s["tensor_count"])
            let stored = UInt64(bitPattern: s["checksum"])
            if RecordSchema.checksum(summary, events) != stored {
                throw RecordReadError.tampered(path, step: step, detail: "stored checksum \(hex64(stored))")
            }
            let digest = TensorHash.digest(events.map { ($0.name, $0.role.rawValue, $0.hash) })
            if digest != summary.digest || events.count != summary.tensorCount {
                throw RecordReadError.tampered(path, step: step, detail: "the step digest does not match its tensor hashes")
            }
            return events
        }
    }

    static func event(_ r: Row, path: String) throws -> RecordedEvent {
        guard let role = TensorRole(rawValue: r["role"]), let dtype = DType(name: r["dtype"]) else {
            throw RecordReadError.corrupt(path, "unknown role or dtype in step \(r["step"] as Int)")
        }
        let shapeText: String = r["shape"]
        let dims = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).split(separator: ",").compactMap { Int($0) }
        return RecordedEvent(step: r["step"], seq: r["seq"], name: r["name"], role: role, dtype: dtype, shape: dims,
                             hash: UInt64(bitPattern: r["hash"]), nonFinite: r["nonfinite"])
    }

    /// Raw bytes of a tensor kept by `record.keepTensors`, if any.
    public func payload(step: Int, seq: Int) throws -> [UInt8]? {
        try read { db in
            try Data.fetchOne(db, sql: "SELECT bytes FROM tensor_data WHERE step = ? AND seq = ?", arguments: [step, seq]).map { Array($0) }
        }
    }

    /// Steps for which `tensor_data` holds raw tensor bytes.
    public func stepsWithPayload() throws -> Set<Int> {
        try read { db in Set(try Int.fetchAll(db, sql: "SELECT DISTINCT step FROM tensor_data")) }
    }

    public func evaluations() throws -> [Evaluation] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM evaluations ORDER BY step, split").map { r in
                let ints = { (s: String) in s.split(separator: ",").compactMap { Int($0) } }
                return Evaluation(step: r["step"], epoch: r["epoch"], split: r["split"], correct: r["correct"], total: r["total"],
                                  perClassCorrect: ints(r["per_class_correct"]), perClassTotal: ints(r["per_class_total"]),
                                  predictionsHash: UInt64(bitPattern: r["predictions_hash"]), loss: Float(r["loss"] as Double))
            }
        }
    }

    public func artifact(_ name: String) throws -> [UInt8]? {
        try read { db in try Data.fetchOne(db, sql: "SELECT bytes FROM artifacts WHERE name = ?", arguments: [name]).map { Array($0) } }
    }

    public func artifactNames() throws -> [String] {
        try read { db in try String.fetchAll(db, sql: "SELECT name FROM artifacts ORDER BY name") }
    }
}
