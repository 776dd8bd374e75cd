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
    case tamperedHeader(String, String)
    case locked(String)

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
        case .tamperedHeader(let p, let detail):
            "\(p) has been tampered with: \(detail); do not trust this record"
        case .locked(let p):
            "\(p) is being written by another cwrepro process (it holds the record's lock); wait for it to finish or stop it first"
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
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw RecordReadError.notFound(path) }
        guard !isDirectory.boolValue else { throw RecordReadError.notARecord(path, "it is a directory") }
        guard let fh = FileHandle(forReadingAtPath: path) else { throw RecordReadError.notFound(path) }
        let head = (try? fh.read(upToCount: 100)) ?? Data()
        try? fh.close()
        guard head.count >= 16, String(decoding: head.prefix(15), as: UTF8.self) == "SQLite format 3" else {
            throw RecordReadError.notARecord(path, head.isEmpty ? "the file is empty" : "not an SQLite database")
        }
        do {
            (db, meta) = try Self.open(path)
        } catch let e as DatabaseError where e.resultCode == .SQLITE_READONLY {
            // A writer killed mid-transaction leaves a WAL index that only a read-write connection
            // may rebuild (SQLITE_READONLY_RECOVERY). Rebuilding it touches the -shm file only,
            // never the database or the WAL; then open read-only again.
            Self.recoverWALIndex(path)
            do { (db, meta) = try Self.open(path) } catch let e as RecordReadError { throw e } catch { throw Self.classify(path, error) }
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
        try checkHeader()
    }

    /// Opens `path` read-only with `trusted_schema` off and reads its meta table.
    private static func open(_ path: String) throws -> (DatabaseQueue, [String: String]) {
        var config = Configuration()
        config.readonly = true
        // A recording process may hold a lock for a moment (a commit, a WAL checkpoint): wait.
        config.busyMode = .timeout(RecordSchema.busyTimeout)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA trusted_schema = OFF")
        }
        let db = try DatabaseQueue(path: path, configuration: config)
        let meta = try db.read { db in
            guard try db.tableExists("meta") else { throw RecordReadError.notARecord(path, "an SQLite database without cwrepro's tables") }
            return try Dictionary(Row.fetchAll(db, sql: "SELECT key, value FROM meta").map {
                (try Self.text($0, "key", path), try Self.text($0, "value", path))
            }) { a, _ in a }
        }
        return (db, meta)
    }

    /// Lets SQLite rebuild the WAL index of a record whose writer was killed: a read-write
    /// connection that reads one row. Errors are left to the read-only open that follows.
    static func recoverWALIndex(_ path: String) {
        var config = Configuration()
        config.busyMode = .timeout(RecordSchema.busyTimeout)
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA trusted_schema = OFF") }
        guard let q = try? DatabaseQueue(path: path, configuration: config) else { return }
        _ = try? q.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sqlite_master") }
        try? q.close()
    }

    /// Recomputes `meta.header_checksum` over the immutable header and the embedded artifacts.
    private func checkHeader() throws {
        guard let stored = meta["header_checksum"] else { return }   // records written before it existed
        let artifacts = try read { db in
            try Row.fetchAll(db, sql: "SELECT name, bytes FROM artifacts").map { r -> (name: String, hash: UInt64) in
                (try Self.text(r, "name", path), RecordSchema.bytesHash([UInt8](try Self.blob(r, "bytes", path))))
            }
        }
        let actual = RecordSchema.headerChecksum(meta: meta, artifacts: artifacts)
        guard hex64(actual) == stored else {
            throw RecordReadError.tamperedHeader(path, "its header (config, environment or embedded files) does not match the header checksum \(stored)")
        }
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

    /// Step rows in order, each checked against its checksum together with its tensor rows (one
    /// pass over the tensors table): a digest, loss or hash edited by hand is `tampered`.
    public func steps() throws -> [StepRow] {
        try read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM steps ORDER BY step").map {
                (try Self.summary($0, path), UInt64(bitPattern: try Self.int64($0, "checksum", path)))
            }
            let cursor = try Row.fetchCursor(db, sql: "SELECT * FROM tensors ORDER BY step, seq")
            var next = try cursor.next().map { try Self.event($0, path: path) }
            for (summary, stored) in rows {
                var events: [RecordedEvent] = []
                while let e = next, e.step <= summary.step {
                    guard e.step == summary.step else { throw RecordReadError.tampered(path, step: e.step, detail: "tensor rows without a step row") }
                    events.append(e)
                    next = try cursor.next().map { try Self.event($0, path: path) }
                }
                try Self.check(summary, stored: stored, events, path)
            }
            if let e = next { throw RecordReadError.tampered(path, step: e.step, detail: "tensor rows without a step row") }
            return rows.map { s, _ in
                StepRow(step: s.step, epoch: s.epoch, loss: s.loss, lr: s.lr, digest: s.digest, wallSeconds: s.wallSeconds, tensorCount: s.tensorCount)
            }
        }
    }

    static func summary(_ s: Row, _ path: String) throws -> StepSummary {
        StepSummary(step: try int(s, "step", path), epoch: try int(s, "epoch", path),
                    loss: Float(bitPattern: UInt32(truncatingIfNeeded: try int64(s, "loss_bits", path))),
                    lr: Float(try double(s, "lr", path)), digest: UInt64(bitPattern: try int64(s, "digest", path)),
                    wallSeconds: try double(s, "wall_seconds", path), tensorCount: try int(s, "tensor_count", path))
    }

    /// Checks every step, evaluation and checkpoint against its checksum and SQLite's own page
    /// structure (`PRAGMA quick_check`). Throws the first problem found.
    public func verify() throws {
        let problem = try read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }.first { $0 != "ok" }
        if let problem { throw RecordReadError.corrupt(path, "SQLite integrity check: \(problem)") }
        _ = try steps()
        _ = try evaluations()
        _ = try lastCheckpoint()
    }

    /// The newest checkpoint (step, state blob), its hash checked; nil when there is none.
    public func lastCheckpoint() throws -> (step: Int, bytes: [UInt8])? {
        try read { db in
            guard try db.tableExists("checkpoints"),
                  let r = try Row.fetchOne(db, sql: "SELECT * FROM checkpoints ORDER BY step DESC LIMIT 1") else { return nil }
            let step = try Self.int(r, "step", path), bytes = [UInt8](try Self.blob(r, "bytes", path))
            let stored = UInt64(bitPattern: try Self.int64(r, "hash", path))
            guard RecordSchema.bytesHash(bytes) == stored else {
                throw RecordReadError.tampered(path, step: step, detail: "its checkpoint does not match the stored hash \(hex64(stored))")
            }
            guard try Row.fetchOne(db, sql: "SELECT step FROM steps WHERE step = ?", arguments: [step]) != nil else {
                throw RecordReadError.corrupt(path, "a checkpoint after step \(step) but no such step")
            }
            return (step, bytes)
        }
    }

    /// The events of `step` in execution order, checked against the step's checksum.
    public func events(step: Int) throws -> [RecordedEvent] {
        try read { db in
            let events = try Row.fetchAll(db, sql: "SELECT * FROM tensors WHERE step = ? ORDER BY seq", arguments: [step]).map { r in
                try Self.event(r, path: path)
            }
            guard let s = try Row.fetchOne(db, sql: "SELECT * FROM steps WHERE step = ?", arguments: [step]) else {
                if events.isEmpty { return events }
                throw RecordReadError.tampered(path, step: step, detail: "tensor rows without a step row")
            }
            try Self.check(try Self.summary(s, path), stored: UInt64(bitPattern: try Self.int64(s, "checksum", path)), events, path)
            return events
        }
    }

    /// Throws `tampered` unless `events` and the step row match the row's checksum and digest.
    static func check(_ summary: StepSummary, stored: UInt64, _ events: [RecordedEvent], _ path: String) throws {
        if RecordSchema.checksum(summary, events) != stored {
            throw RecordReadError.tampered(path, step: summary.step, detail: "stored checksum \(hex64(stored))")
        }
        let digest = TensorHash.digest(events.map { ($0.name, $0.role.rawValue, $0.hash) })
        if digest != summary.digest || events.count != summary.tensorCount {
            throw RecordReadError.tampered(path, step: summary.step, detail: "the step digest does not match its tensor hashes")
        }
    }

    /// "[32,1,8,8]" -> [32, 1, 8, 8], the text `RecordedEvent.shapeText` writes, in one pass over the
    /// bytes (replay parses every stored shape). Any other text gives dims whose `shapeText` no longer
    /// matches the row checksum, which the step check reports as tampering.
    static func dims(_ text: String) -> [Int] {
        var out: [Int] = []
        var value = 0, inNumber = false
        for b in text.utf8 {
            if b >= 0x30 && b <= 0x39 {
                value = value &* 10 &+ Int(b &- 0x30); inNumber = true
            } else {
                if inNumber { out.append(value) }
                value = 0; inNumber = false
            }
        }
        if inNumber { out.append(value) }
        return out
    }

    static func event(_ r: Row, path: String) throws -> RecordedEvent {
        let step = try int(r, "step", path)
        guard let role = TensorRole(rawValue: try text(r, "role", path)), let dtype = DType(name: try text(r, "dtype", path)) else {
            throw RecordReadError.corrupt(path, "unknown role or dtype in step \(stepLabel(step))")
        }
        return RecordedEvent(step: step, seq: try int(r, "seq", path), name: try text(r, "name", path), role: role, dtype: dtype,
                             shape: dims(try text(r, "shape", path)), hash: UInt64(bitPattern: try int64(r, "hash", path)), nonFinite: try int(r, "nonfinite", path))
    }

    /// Raw bytes of a tensor kept by `record.keepTensors`, if any.
    public func payload(step: Int, seq: Int) throws -> [UInt8]? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT bytes FROM tensor_data WHERE step = ? AND seq = ?", arguments: [step, seq])
                .map { [UInt8](try Self.blob($0, "bytes", path)) }
        }
    }

    /// Steps for which `tensor_data` holds raw tensor bytes.
    public func stepsWithPayload() throws -> Set<Int> {
        try read { db in Set(try Row.fetchAll(db, sql: "SELECT DISTINCT step FROM tensor_data").map { try Self.int($0, "step", path) }) }
    }

    public func evaluations() throws -> [Evaluation] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM evaluations ORDER BY step, split").map { r in
                let ints = { (s: String) in s.split(separator: ",").compactMap { Int($0) } }
                let e = Evaluation(step: try Self.int(r, "step", path), epoch: try Self.int(r, "epoch", path), split: try Self.text(r, "split", path),
                                   correct: try Self.int(r, "correct", path), total: try Self.int(r, "total", path),
                                   perClassCorrect: ints(try Self.text(r, "per_class_correct", path)),
                                   perClassTotal: ints(try Self.text(r, "per_class_total", path)),
                                   predictionsHash: UInt64(bitPattern: try Self.int64(r, "predictions_hash", path)),
                                   loss: try Self.isNull(r, "loss", path) ? .nan : Float(try Self.double(r, "loss", path)))
                // Records written before evaluation checksums existed have no column or NULL.
                if r.hasColumn("checksum"), !(try Self.isNull(r, "checksum", path)) {
                    let stored = UInt64(bitPattern: try Self.int64(r, "checksum", path))
                    if RecordSchema.checksum(e) != stored {
                        throw RecordReadError.tampered(path, step: e.step, detail: "its \(e.split) evaluation row does not match its checksum")
                    }
                }
                return e
            }
        }
    }

    public func artifact(_ name: String) throws -> [UInt8]? {
        try read { db in try Row.fetchOne(db, sql: "SELECT bytes FROM artifacts WHERE name = ?", arguments: [name]).map { [UInt8](try Self.blob($0, "bytes", path)) } }
    }

    public func artifactNames() throws -> [String] {
        try read { db in try Row.fetchAll(db, sql: "SELECT name FROM artifacts ORDER BY name").map { try Self.text($0, "name", path) } }
    }
}
