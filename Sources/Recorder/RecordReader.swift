import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

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

/// Read-only access to a `.cwr` record (schemas 1 and 2).
///
/// Opening checks, before SQLite reads anything: that the path is a regular file (a FIFO or a
/// device is refused without opening it for reading), that it starts as an SQLite database, and
/// that its schema is exactly the one cwrepro writes (no other table, view, trigger or index), then
/// the format tag, the schema version and the header checksum. SQLite opens it read-only with
/// `trusted_schema` off and extension loading disabled: nothing in the file is ever executed.
/// A finished record (no `-wal` beside it) is opened with `immutable=1`, so it reads from a
/// read-only directory or mount and no `-shm` is created.
///
/// The first read of steps, evaluations or the checkpoint verifies the whole record once
/// (RecordVerifier: contiguity, every checksum, the chain and the seal) and keeps the result.
public final class RecordReader: @unchecked Sendable {
    public let path: String
    public let meta: [String: String]
    /// The record's schema version (1 or 2).
    public let schemaVersion: Int
    /// Whether another process holds the record's writer lock (a run still going), when opened.
    public let writerActive: Bool
    /// Whether SQLite opened the file with `immutable=1` (a finished, single-file record).
    let openedImmutable: Bool
    let db: DatabaseQueue
    /// SHA-256 of each embedded file (schema 2: checked against the header when opening).
    let artifactSHA: [String: [UInt8]]
    private let cacheLock = NSLock()
    private var cache: VerifiedRecord?

    public init(path: String) throws {
        self.path = path
        let (head, active) = try Self.checkFile(path)
        writerActive = active
        // Rollback-journal files (byte 18 = 1, what a finished record is) and files without a
        // -wal beside them need no -shm: open them immutable, unless a writer is at work.
        let hasWAL = FileManager.default.fileExists(atPath: path + "-wal")
        let immutable = !active && (!hasWAL || head[18] == 1)
        var opened: (DatabaseQueue, Bool)?
        if immutable, let q = try? Self.open(path, immutable: true),
           (try? q.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sqlite_master") }) != nil {
            opened = (q, true)
        }
        if opened == nil {
            do {
                opened = (try Self.open(path, immutable: false), false)
                _ = try opened!.0.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sqlite_master") }
            } catch let e as DatabaseError where e.resultCode == .SQLITE_READONLY {
                // A writer killed mid-transaction leaves a WAL index that only a read-write
                // connection may rebuild (SQLITE_READONLY_RECOVERY). Rebuilding it touches the
                // -shm file only, never the database or the WAL; then open read-only again.
                Self.recoverWALIndex(path)
                do { opened = (try Self.open(path, immutable: false), false) } catch { throw Self.classify(path, error) }
            } catch {
                throw Self.classify(path, error)   // a RecordReadError as it is
            }
        }
        (db, openedImmutable) = opened!
        let meta = try Self.readMeta(db, path)
        self.meta = meta
        guard meta["format"] == RecordSchema.formatTag else {
            throw RecordReadError.notARecord(path, "an SQLite database without the cwrepro format tag")
        }
        guard let schema = Int(meta["schema_version"] ?? ""), let minReader = Int(meta["min_reader_version"] ?? "") else {
            throw RecordReadError.tamperedHeader(path, "its schema version is missing or not a number")
        }
        if minReader > RecordSchema.version {
            throw RecordReadError.newerSchema(path, found: minReader, supported: RecordSchema.version)
        }
        guard schema >= RecordSchema.oldestReadable, schema <= RecordSchema.version, minReader <= schema else {
            throw RecordReadError.tamperedHeader(path, "its schema version \(schema) (readable from \(minReader)) is not one cwrepro writes")
        }
        schemaVersion = schema
        do {
            if schema >= 2 { try db.read { try Self.checkSchema($0, path) } } else { try db.read { try Self.checkSchemaV1($0, path) } }
            artifactSHA = try Self.checkHeader(db, path: path, meta: meta, schema: schema)
        } catch { throw Self.classify(path, error) }
        try checkIntegrity()
    }

    /// Checks what `path` is without blocking on it: a regular file (stat first: opening a FIFO
    /// would wait for a writer), starting as an SQLite database. Returns its first 100 bytes and
    /// whether a writer holds its lock.
    static func checkFile(_ path: String) throws -> ([UInt8], Bool) {
        var st = stat()
        guard stat(path, &st) == 0 else { throw RecordReadError.notFound(path) }
        switch st.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw RecordReadError.notARecord(path, "it is a directory")
        case S_IFIFO: throw RecordReadError.notARecord(path, "it is a FIFO; a record is a regular file")
        case S_IFCHR, S_IFBLK: throw RecordReadError.notARecord(path, "it is a device; a record is a regular file")
        default: throw RecordReadError.notARecord(path, "it is not a regular file")
        }
        let fd = systemOpen(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw RecordReadError.notFound(path) }
        defer { close(fd) }
        var fst = stat()
        guard fstat(fd, &fst) == 0, fst.st_mode & S_IFMT == S_IFREG else { throw RecordReadError.notARecord(path, "it is not a regular file") }
        var head = [UInt8](repeating: 0, count: 100)
        let n = head.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, 100) }
        guard n >= 16, head.prefix(16).elementsEqual(Array("SQLite format 3\0".utf8)) else {
            let text = head.prefix(max(0, n)).drop { [0x20, 0x09, 0x0A, 0x0D, 0xEF, 0xBB, 0xBF].contains($0) }
            if text.first == UInt8(ascii: "{") { throw RecordReadError.otherFile(path, .config) }
            if text.starts(with: Array("# cwrepro step hashes".utf8)) || text.starts(with: Array("format cwrepro-hashes".utf8)) {
                throw RecordReadError.otherFile(path, .stepHashes)
            }
            throw RecordReadError.notARecord(path, n <= 0 ? "the file is empty" : "not an SQLite database")
        }
        guard n == 100 else { throw RecordReadError.truncated(path, "\(n) bytes is shorter than an SQLite header") }
        return (head, RecordLock.isHeld(fd: fd))
    }

    /// Opens `path` read-only with `trusted_schema` off (and `immutable=1` through a URI filename).
    static func open(_ path: String, immutable: Bool) throws -> DatabaseQueue {
        var config = Configuration()
        config.readonly = true
        // A recording process may hold a lock for a moment (a commit, a WAL checkpoint): wait.
        config.busyMode = .timeout(RecordSchema.busyTimeout)
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA trusted_schema = OFF") }
        guard immutable else { return try DatabaseQueue(path: path, configuration: config) }
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "?#%")
        let encoded = absolute.addingPercentEncoding(withAllowedCharacters: allowed) ?? absolute
        return try DatabaseQueue(path: "file:\(encoded)?immutable=1", configuration: config)
    }

    static func readMeta(_ db: DatabaseQueue, _ path: String) throws -> [String: String] {
        do {
            return try db.read { db in
                guard try db.tableExists("meta") else { throw RecordReadError.notARecord(path, "an SQLite database without cwrepro's tables") }
                var meta: [String: String] = [:]
                for r in try Row.fetchAll(db, sql: "SELECT key, value FROM meta") {
                    meta[try Self.text(r, "key", path)] = try Self.text(r, "value", path)
                }
                return meta
            }
        } catch { throw classify(path, error) }
    }

    /// Schema 2: `sqlite_master` must hold exactly the objects cwrepro creates, with their exact
    /// SQL. Read before any table is: a view in place of a table (which could recurse forever or
    /// call functions) or a trigger (which would run during a resume) is refused, never read.
    static func checkSchema(_ db: Database, _ path: String) throws {
        let found = try RecordSchema.objects(db)
        guard found.contains(where: { $0.name == "meta" }) else { throw RecordReadError.notARecord(path, "an SQLite database without cwrepro's tables") }
        let extra = found.subtracting(RecordSchema.expectedObjects).sorted()
        let missing = RecordSchema.expectedObjects.subtracting(found).sorted()
        guard extra.isEmpty && missing.isEmpty else {
            let changed = Set(extra.map(\.name)).intersection(missing.map(\.name))
            var parts: [String] = []
            if !changed.isEmpty { parts.append("changed " + changed.sorted().joined(separator: ", ")) }
            let added = extra.filter { !changed.contains($0.name) }, removed = missing.filter { !changed.contains($0.name) }
            if !added.isEmpty { parts.append("added " + added.map(\.label).joined(separator: ", ")) }
            if !removed.isEmpty { parts.append("removed " + removed.map(\.label).joined(separator: ", ")) }
            throw RecordReadError.tamperedRecord(path, "its schema is not the one cwrepro writes (\(parts.joined(separator: "; ")))")
        }
    }

    /// Schema 1 records were written by several builds with slightly different tables: only the
    /// names are checked (known tables and SQLite's automatic indexes; no view, trigger or other index).
    static func checkSchemaV1(_ db: Database, _ path: String) throws {
        for o in try RecordSchema.objects(db) {
            let ok = o.type == "table" ? RecordSchema.version1Tables.contains(o.name)
                : o.type == "index" && o.name.hasPrefix("sqlite_autoindex_") && o.sql == nil
            guard ok else { throw RecordReadError.tamperedRecord(path, "it holds \(o.label), which cwrepro never writes") }
        }
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

    /// Recomputes `meta.header_checksum` over the immutable header and the embedded artifacts;
    /// returns the artifacts' SHA-256. Schema 2 requires the checksum; schema 1 records written
    /// before it existed have none.
    static func checkHeader(_ db: DatabaseQueue, path: String, meta: [String: String], schema: Int) throws -> [String: [UInt8]] {
        let rows = try db.read { db in
            try Row.fetchAll(db, sql: "SELECT name, bytes FROM artifacts").map { r in (try text(r, "name", path), [UInt8](try blob(r, "bytes", path))) }
        }
        let sha = Dictionary(rows.map { ($0.0, RecordChain.sha256($0.1)) }) { a, _ in a }
        if schema >= 2 {
            let unknown = meta.keys.filter { !RecordSchema.metaKeys.contains($0) }.sorted()
            guard unknown.isEmpty else { throw RecordReadError.tamperedRecord(path, "its meta table holds keys cwrepro never writes (\(unknown.joined(separator: ", ")))") }
            guard let missing = RecordSchema.headerKeys.first(where: { meta[$0] == nil }) ?? (meta["header_checksum"] == nil ? "header_checksum" : nil) else {
                let text = RecordSchema.headerText(meta: meta, artifacts: sha.map { ($0.key, $0.value) })
                guard hex64(text.withUnsafeBytes { TensorHash.bytes($0) }) == meta["header_checksum"] else {
                    throw RecordReadError.tamperedHeader(path, "its header (config, environment or embedded files) does not match the header checksum \(meta["header_checksum"]!)")
                }
                return sha
            }
            throw RecordReadError.tamperedHeader(path, "its header has no \(missing) (a record of schema 2 always has one)")
        }
        if let stored = meta["header_checksum"] {
            let actual = RecordSchema.headerChecksumV1(meta: meta, artifacts: rows.map { ($0.0, RecordSchema.bytesHash($0.1)) })
            guard hex64(actual) == stored else {
                throw RecordReadError.tamperedHeader(path, "its header (config, environment or embedded files) does not match the header checksum \(stored)")
            }
        }
        return sha
    }

    /// What reading `path` failed with, as a `RecordReadError`: one already is returned as it is;
    /// SQLite's "malformed" is `truncated` (a size that is not whole pages) or `corrupt`, its "not
    /// a database" is `notARecord`, anything else `corrupt` with SQLite's words.
    static func classify(_ path: String, _ error: Error) -> RecordReadError {
        if let e = error as? RecordReadError { return e }
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
        } catch { throw Self.classify(path, error) }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try db.read(body) } catch { throw Self.classify(path, error) }
    }

    /// The verified record (RecordVerifier), computed on first use.
    func verified() throws -> VerifiedRecord {
        cacheLock.lock(); defer { cacheLock.unlock() }
        if let cache { return cache }
        let v = try read { db in try RecordVerifier(reader: self, db: db).run() }
        cache = v
        return v
    }

    /// Keeps a verification made elsewhere (`VerifiedSteps`, on a connection of its own) as this
    /// reader's, unless it has one.
    func adopt(_ v: VerifiedRecord) {
        cacheLock.lock(); defer { cacheLock.unlock() }
        if cache == nil { cache = v }
    }

    /// Training step rows as stored (step >= 0), before any verification: a progress bar's total.
    /// `steps()` gives the verified rows.
    public func storedTrainingSteps() throws -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM steps WHERE step >= 0") ?? 0 }
    }

    // MARK: header

    /// `running`, `complete` or `failed` with its reason, as the record says (verified with the seal
    /// by `verify()`).
    public var status: RecordStatus {
        switch meta["status"] {
        case "complete": .complete
        case "failed": .failed(reason: meta["failure"] ?? "no reason recorded")
        default: .running
        }
    }
    public var isComplete: Bool { status == .complete }
    public var configGiven: String { meta["config_given"] ?? "{}" }
    public var configResolved: String { meta["config_resolved"] ?? "{}" }
    public var configPath: String { meta["config_path"] ?? "" }
    public var level: RecordLevel { RecordLevel(rawValue: meta["level"] ?? "") ?? .grads }
    public var environment: [String: String] {
        guard let d = meta["environment"]?.data(using: .utf8),
              let o = try? JSONSerialization.jsonObject(with: d) as? [String: String] else { return [:] }
        return o
    }

    // MARK: verification

    /// Checks SQLite's page structure (`PRAGMA quick_check`) and every row: step contiguity, each
    /// checksum, the chain and the seal (schema 2), evaluations and the checkpoint. Throws the
    /// first problem found.
    public func verify() throws {
        let problem = try read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }.first { $0 != "ok" }
        if let problem { throw RecordReadError.corrupt(path, "SQLite integrity check: \(problem)") }
        _ = try verified()
    }

    /// What this record's checks prove (verifies it first).
    public func integrity() throws -> RecordIntegrity {
        let v = try verified()
        if schemaVersion < 2 { return .legacy(LegacyLimit.allCases) }
        return v.sealText.map { .sealed(digest: RecordChain.digest(sealText: $0)) } ?? .unsealed
    }

    /// The detached digest of a finished record's seal, `sha256:<64 hex>`: SHA-256 of the seal
    /// text, which covers the chain head and so every row. Sign it or commit it next to the code;
    /// a record that verifies and yields the same digest is the record that was signed. Nil for a
    /// record that is not sealed (running, killed, or schema 1).
    public func sealDigest() throws -> String? {
        try verified().sealText.map { RecordChain.digest(sealText: $0) }
    }

    // MARK: rows

    /// Step rows in order (initialisation -1, then 0, 1, ...), verified.
    public func steps() throws -> [StepRow] { try verified().steps }

    public func evaluations() throws -> [Evaluation] { try verified().evaluations }

    /// The newest checkpoint (step, state blob), verified; nil when there is none.
    public func lastCheckpoint() throws -> (step: Int, bytes: [UInt8])? { try verified().checkpoint }

    /// The events of `step` in execution order, checked against the step's checksum (and, once the
    /// record is verified, against the verified checksum).
    public func events(step: Int) throws -> [RecordedEvent] { try events(steps: step...step)[0] }

    /// The events of each step of `steps` (one array per step, empty for a step the record does not
    /// hold), each step checked as `events(step:)` checks it, in one read: a replay reads a window of
    /// steps at a time instead of paying a transaction and three queries per step.
    public func events(steps: ClosedRange<Int>) throws -> [[RecordedEvent]] {
        try read { db in
            let schema = schemaVersion
            let stepRows = try RawRows(db, "SELECT \(StoredStepRow.columns(schema: schema)) FROM steps WHERE step BETWEEN ? AND ? ORDER BY step",
                                       path: path, arguments: [steps.lowerBound, steps.upperBound])
            let tensorRows = try RawRows(db, "SELECT \(StoredTensorRow.columns(schema: schema)) FROM tensors WHERE step BETWEEN ? AND ? ORDER BY step, seq",
                                         path: path, arguments: [steps.lowerBound, steps.upperBound])
            defer { stepRows.finish(); tensorRows.finish() }
            let kept = schema >= 2 ? try RecordVerifier.keptDigests(db, path: path, steps: steps) : [:]
            var out = [[RecordedEvent]](repeating: [], count: steps.count)
            var check = StepCheck(schema: schema, path: path)
            var next = try tensorRows.step() ? try StoredTensorRow(tensorRows, schema: schema) : nil
            while try stepRows.step() {
                let row = try StoredStepRow(stepRows)
                let step = row.summary.step
                check.begin(row.summary)
                var events: [RecordedEvent] = []
                while let e = next, e.step <= step {
                    guard e.step == step else { throw RecordReadError.tampered(path, step: e.step, detail: "tensor rows without a step row") }
                    check.add(e, kept: kept[step]?[e.seq])
                    events.append(e.event)
                    next = try tensorRows.step() ? try StoredTensorRow(tensorRows, schema: schema) : nil
                }
                try check.check(row.summary, stored: row.checksum)
                cacheLock.lock(); let verifiedSum = cache?.checksums[step]; cacheLock.unlock()
                if let verifiedSum, verifiedSum != row.checksum {
                    throw RecordReadError.tampered(path, step: step, detail: "its rows changed after the record was verified")
                }
                out[step - steps.lowerBound] = events
            }
            if let e = next { throw RecordReadError.tampered(path, step: e.step, detail: "tensor rows without a step row") }
            return out
        }
    }

    /// Raw bytes of a tensor kept by `record.keepTensors`, if any, checked against the tensor's
    /// hash (and, schema 2, its SHA-256).
    public func payload(step: Int, seq: Int) throws -> [UInt8]? {
        let row = try read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM tensor_data WHERE step = ? AND seq = ?", arguments: [step, seq])
        }
        guard let row else { return nil }
        let bytes = [UInt8](try Self.blob(row, "bytes", path))
        if schemaVersion >= 2, [UInt8](try Self.blob(row, "sha256", path)) != RecordChain.sha256(bytes) {
            throw RecordReadError.tampered(path, step: step, detail: "the kept bytes of tensor \(seq) do not match their SHA-256")
        }
        guard let e = try events(step: step).first(where: { $0.seq == seq }),
              bytes.withUnsafeBytes({ TensorHash.tensor(dtype: e.dtype, shape: e.shape, raw: $0) }) == e.hash else {
            throw RecordReadError.tampered(path, step: step, detail: "the kept bytes of tensor \(seq) do not match its hash")
        }
        return bytes
    }

    /// Steps for which `tensor_data` holds raw tensor bytes.
    public func stepsWithPayload() throws -> Set<Int> {
        try read { db in Set(try Row.fetchAll(db, sql: "SELECT DISTINCT step FROM tensor_data").map { try Self.int($0, "step", path) }) }
    }

    /// An embedded file, checked against the header (schema 2: its SHA-256).
    public func artifact(_ name: String) throws -> [UInt8]? {
        let bytes = try read { db in
            try Row.fetchOne(db, sql: "SELECT bytes FROM artifacts WHERE name = ?", arguments: [name]).map { [UInt8](try Self.blob($0, "bytes", path)) }
        }
        if let bytes, schemaVersion >= 2, artifactSHA[name] != RecordChain.sha256(bytes) {
            throw RecordReadError.tamperedHeader(path, "the embedded file \(name) changed after the record was opened")
        }
        return bytes
    }

    public func artifactNames() throws -> [String] {
        try read { db in try Row.fetchAll(db, sql: "SELECT name FROM artifacts ORDER BY name").map { try Self.text($0, "name", path) } }
    }
}

#if canImport(Glibc)
private func systemOpen(_ path: String, _ flags: Int32) -> Int32 { Glibc.open(path, flags) }
private func systemRead(_ fd: Int32, _ p: UnsafeMutableRawPointer?, _ n: Int) -> Int { Glibc.read(fd, p, n) }
#else
private func systemOpen(_ path: String, _ flags: Int32) -> Int32 { Darwin.open(path, flags) }
private func systemRead(_ fd: Int32, _ p: UnsafeMutableRawPointer?, _ n: Int) -> Int { Darwin.read(fd, p, n) }
#endif
