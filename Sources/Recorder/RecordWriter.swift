import Foundation
import GRDB
import GRDBSQLite

/// Facts written once, when a record is created.
public struct RecordHeader: Sendable {
    public var configGiven: String
    public var configResolved: String
    public var configPath: String
    public var semantics: String
    public var level: RecordLevel
    public var environment: [String: String]
    public var cwreproVersion: String
    public init(configGiven: String, configResolved: String, configPath: String, semantics: String,
                level: RecordLevel, environment: [String: String], cwreproVersion: String) {
        self.configGiven = configGiven; self.configResolved = configResolved; self.configPath = configPath
        self.semantics = semantics; self.level = level; self.environment = environment
        self.cwreproVersion = cwreproVersion
    }
}

/// A recording session's sink: hashes arrive from the training thread, and a background writer
/// commits them, each step atomically (a step's rows are in one transaction). The writer commits
/// at most once per `commitDelay`: steps queued meanwhile (or while it is behind) are committed
/// together in one transaction (group commit). Every step is still all-or-nothing, and training
/// never waits for the disk. A killed run leaves a readable record up to its last committed step
/// (at most `commitDelay` behind the training), status `running`.
public final class RecordWriter: RecordSink {
    public let path: String
    let db: DatabaseQueue
    private let queue = DispatchQueue(label: "cwrepro.record-writer")
    /// How long the writer lets steps accumulate before committing them. A commit per step (a
    /// WAL append, page writes and the writer thread waking on the second of two cores) cost
    /// about as much as a 24 µs training step of a small model; batching 2 ms of steps into
    /// one transaction makes it negligible, and a kill loses at most this much training. (Longer
    /// delays batch no better and leave more to commit when `finish()` waits: 5 ms measured slower.)
    static let commitDelay: DispatchTimeInterval = .milliseconds(2)
    private let lock = NSLock()
    private var pending: [(StepSummary, [RecordedEvent])] = []
    private var pendingEvals: [Evaluation] = []
    private var pendingCheckpoints: [(step: Int, bytes: [UInt8])] = []
    private let fileLock: RecordLock
    /// The immutable meta rows and artifact hashes, covered by `meta.header_checksum`.
    private let headerMeta: [String: String]
    private var artifactHashes: [String: UInt64] = [:]
    private var scheduled = false
    /// Scratch text for checksums and shape columns, reused by every drain (drains run one at a
    /// time on `queue`).
    private var text = RecordText()
    private var failure: Error?
    /// Raw tensor bytes kept for init and the first `keepTensors - 1` steps (0: none, -1: all).
    public var keepTensors: Int

    /// Creates `path` (refusing to replace an existing file unless `overwrite`) and writes the header.
    /// - Parameter keepTensors: keep raw tensor bytes for initialisation and the first
    ///   `keepTensors - 1` training steps (0: none; -1: all).
    /// - Throws: `InputError` when the file exists (without `overwrite`), is a directory (even with
    ///   `overwrite`) or cannot be created;
    ///   `RecordReadError.locked` when another process is recording into it.
    public init(path: String, header: RecordHeader, keepTensors: Int = 0, overwrite: Bool = false) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDirectory) {
            // --force replaces a record, never a directory (removeItem would delete its whole tree).
            guard !isDirectory.boolValue else {
                throw InputError("\(path) is a directory; give the record a file name, e.g. -o \(path)/run.cwr")
            }
            guard overwrite else {
                throw InputError("\(path) already exists; choose another output with -o, or pass --force to replace it")
            }
            // Never pull a record from under a process that is still writing it.
            let old = try RecordLock(path: path, create: false)
            for suffix in ["", "-wal", "-shm"] { try? fm.removeItem(atPath: path + suffix) }
            old.release()
        }
        self.path = path
        self.keepTensors = keepTensors
        fileLock = try RecordLock(path: path, create: true)
        db = try Self.open(path, creating: true)
        let iso = Self.timestamp()
        let env = String(data: try JSONSerialization.data(withJSONObject: header.environment, options: [.sortedKeys]), encoding: .utf8)!
        let meta: [(String, String)] = [
            ("format", RecordSchema.formatTag), ("schema_version", String(RecordSchema.version)),
            ("min_reader_version", "1"), ("status", "running"), ("config_given", header.configGiven),
            ("config_resolved", header.configResolved), ("config_path", header.configPath),
            ("semantics", header.semantics), ("level", header.level.rawValue), ("environment", env),
            ("cwrepro_version", header.cwreproVersion), ("created_at", iso),
        ]
        headerMeta = Dictionary(meta) { a, _ in a }
        try db.write { db in
            try RecordSchema.create(db)
            for (k, v) in meta { try db.execute(sql: "INSERT INTO meta(key, value) VALUES (?, ?)", arguments: [k, v]) }
            try self.writeHeaderChecksum(db)
        }
    }

    /// Reopens an existing record for `resume` (the lock is already held).
    init(resuming path: String, lock: RecordLock, keepTensors: Int) throws {
        self.path = path
        self.keepTensors = keepTensors
        fileLock = lock
        db = try Self.open(path, creating: false)
        headerMeta = try db.read { db in
            Dictionary(try Row.fetchAll(db, sql: "SELECT key, value FROM meta").map { (try RecordReader.text($0, "key", path), try RecordReader.text($0, "value", path)) }) { a, _ in a }
        }
        artifactHashes = try db.read { db in
            Dictionary(try Row.fetchAll(db, sql: "SELECT name, bytes FROM artifacts").map {
                (try RecordReader.text($0, "name", path), RecordSchema.bytesHash([UInt8](try RecordReader.blob($0, "bytes", path))))
            }) { a, _ in a }
        }
    }

    /// Now in ISO 8601 UTC (`2026-11-23T22:39:35Z`, what `ISO8601DateFormatter` writes), through
    /// swift-foundation's `ISO8601FormatStyle`: the ICU-backed `ISO8601DateFormatter` took ~1 ms
    /// to create, a quarter of a short run's recording cost.
    static func timestamp() -> String { Date().formatted(.iso8601) }

    private static func open(_ path: String, creating: Bool) throws -> DatabaseQueue {
        var config = Configuration()
        config.journalMode = .wal
        // Readers (show, replay) opening the record may hold a lock for a moment: wait, never fail.
        config.busyMode = .timeout(RecordSchema.busyTimeout)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            try db.execute(sql: "PRAGMA trusted_schema = OFF")
        }
        do {
            return try DatabaseQueue(path: path, configuration: config)
        } catch {
            if creating { throw InputError("cannot create record \(path): \(error)") }
            throw RecordReader.classify(path, error)
        }
    }

    private func writeHeaderChecksum(_ db: Database) throws {
        let sum = RecordSchema.headerChecksum(meta: headerMeta, artifacts: artifactHashes.map { ($0.key, $0.value) })
        try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES ('header_checksum', ?)", arguments: [hex64(sum)])
    }

    /// Embeds a file the run depends on.
    public func addArtifact(name: String, bytes: [UInt8]) throws {
        artifactHashes[name] = RecordSchema.bytesHash(bytes)
        try db.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO artifacts(name, bytes) VALUES (?, ?)", arguments: [name, Data(bytes)])
            try self.writeHeaderChecksum(db)
        }
    }

    /// Queues the training state after `step` (an opaque blob from the engine), replacing the
    /// previous checkpoint. It is committed with or after the step's rows, never before: a record
    /// never holds a checkpoint of a step it does not hold, nor one that skips an evaluation
    /// queued before it.
    public func checkpoint(step: Int, bytes: [UInt8]) throws {
        try enqueue { $0.pendingCheckpoints.append((step, bytes)) }
    }

    public func wantsPayload(step: Int) -> Bool { keepTensors < 0 || step + 1 < keepTensors }
    public func event(_ e: RecordedEvent) {}
    public var shouldStop: Bool { false }

    public func endStep(_ summary: StepSummary, events: [RecordedEvent]) throws {
        try enqueue { $0.pending.append((summary, events)) }
    }

    public func evaluation(_ e: Evaluation) throws {
        try enqueue { $0.pendingEvals.append(e) }
    }

    private func enqueue(_ add: (RecordWriter) -> Void) throws {
        lock.lock()
        if let failure { lock.unlock(); throw failure }
        add(self)
        let schedule = !scheduled
        scheduled = true
        lock.unlock()
        // Weak: a writer dropped without `flush()`/`finish()` is released (and its file lock with
        // it) at once, like a killed process, instead of living on until the delayed commit.
        if schedule { queue.asyncAfter(deadline: .now() + Self.commitDelay) { [weak self] in self?.drain() } }
    }

    private func drain() {
        lock.lock()
        let steps = pending, evals = pendingEvals, checkpoints = pendingCheckpoints
        pending = []; pendingEvals = []; pendingCheckpoints = []; scheduled = false
        lock.unlock()
        // A delayed drain finding the queue already emptied by `flush()` has nothing to commit
        // (and the database may be closed by then).
        if steps.isEmpty && evals.isEmpty && checkpoints.isEmpty { return }
        do {
            try db.write { db in
                for (s, events) in steps { try Self.insert(db, s, events, text: &self.text) }
                for e in evals { try Self.insert(db, e) }
                // Only the newest checkpoint is kept (a resume needs no other): the record grows by
                // one model state, not one per checkpoint.
                if let c = checkpoints.last {
                    try db.execute(sql: "DELETE FROM checkpoints")
                    try db.execute(sql: "INSERT INTO checkpoints(step, bytes, hash) VALUES (?, ?, ?)",
                                   arguments: [c.step, Data(c.bytes), Int64(bitPattern: RecordSchema.bytesHash(c.bytes))])
                }
            }
        } catch {
            lock.lock(); failure = failure ?? error; lock.unlock()
        }
    }

    /// Writes one step row and its tensor rows. `text` is the writer's reused scratch buffer
    /// (checksum text, shape texts). Rows are bound straight through the SQLite C API on GRDB's
    /// cached statements: one row per tensor per step made GRDB's `StatementArguments` (an array
    /// of existentials per row) and re-preparing the step INSERT the writer's main costs.
    static func insert(_ db: Database, _ s: StepSummary, _ events: [RecordedEvent], text: inout RecordText) throws {
        let checksum = RecordSchema.checksum(s, events, text: &text)
        let step = try db.cachedStatement(sql: """
            INSERT INTO steps(step, epoch, loss, loss_bits, lr, digest, wall_seconds, tensor_count, checksum)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let stepStmt = step.sqliteStatement
        sqlite3_reset(stepStmt)
        sqlite3_bind_int64(stepStmt, 1, Int64(s.step))
        sqlite3_bind_int64(stepStmt, 2, Int64(s.epoch))
        sqlite3_bind_double(stepStmt, 3, Double(s.loss))  // NaN is stored as NULL; loss_bits is authoritative
        sqlite3_bind_int64(stepStmt, 4, Int64(s.loss.bitPattern))
        sqlite3_bind_double(stepStmt, 5, Double(s.lr))
        sqlite3_bind_int64(stepStmt, 6, Int64(bitPattern: s.digest))
        sqlite3_bind_double(stepStmt, 7, s.wallSeconds)
        sqlite3_bind_int64(stepStmt, 8, Int64(s.tensorCount))
        sqlite3_bind_int64(stepStmt, 9, Int64(bitPattern: checksum))
        try runInsert(db, step)
        let ins = try db.cachedStatement(sql: """
            INSERT INTO tensors(step, seq, name, role, dtype, shape, hash, nonfinite) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let stmt = ins.sqliteStatement
        for e in events {
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
            sqlite3_bind_int64(stmt, 8, Int64(e.nonFinite))
            try runInsert(db, ins)
            if e.role == .reduction {
                try insertReductionOrder(db, e)
            } else if let p = e.payload {
                try db.execute(sql: "INSERT INTO tensor_data(step, seq, bytes) VALUES (?, ?, ?)", arguments: [e.step, e.seq, Data(p)])
            }
        }
    }

    /// Runs an INSERT whose arguments are bound, then resets it; throws SQLite's error.
    private static func runInsert(_ db: Database, _ statement: Statement) throws {
        let rc = sqlite3_step(statement.sqliteStatement)
        sqlite3_reset(statement.sqliteStatement)
        guard rc == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)),
                                sql: statement.sql)
        }
    }

    /// Binds UTF-8 text; SQLite copies it (SQLITE_TRANSIENT), so the buffer need not outlive the call.
    private static func bindText(_ stmt: OpaquePointer, _ index: Int32, _ utf8: UnsafeBufferPointer<UInt8>) {
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
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

    static func insert(_ db: Database, _ e: Evaluation) throws {
        try db.execute(sql: """
            INSERT OR REPLACE INTO evaluations(step, epoch, split, correct, total, per_class_correct, per_class_total,
                predictions_hash, loss, checksum) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [e.step, e.epoch, e.split, e.correct, e.total,
                             e.perClassCorrect.map(String.init).joined(separator: ","),
                             e.perClassTotal.map(String.init).joined(separator: ","),
                             Int64(bitPattern: e.predictionsHash), Double(e.loss), Int64(bitPattern: RecordSchema.checksum(e))])
    }

    /// Waits for every queued step to be committed; rethrows the first write error.
    public func flush() throws {
        // Commits now whatever a delayed drain has not committed yet.
        queue.sync { self.drain() }
        lock.lock(); defer { lock.unlock() }
        if let failure { throw failure }
    }

    /// Flushes and marks the record `complete` (or `failed` with a reason), then releases the
    /// record's lock. A failed run is marked `failed` even when its last steps could not be written.
    public func finish(status: String = "complete", reason: String? = nil) throws {
        var flushError: Error?
        do { try flush() } catch { flushError = error }
        let iso = Self.timestamp()
        let status = flushError == nil ? status : "failed"
        let reason = flushError.map { "\(reason.map { $0 + "; " } ?? "")could not write the last steps: \($0)" } ?? reason
        try db.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES ('status', ?), ('finished_at', ?)", arguments: [status, iso])
            if let reason { try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES ('failure', ?)", arguments: [reason]) }
        }
        try db.writeWithoutTransaction { try $0.checkpoint(.truncate) }
        try db.close()
        fileLock.release()
        if let flushError { throw flushError }
    }
}
