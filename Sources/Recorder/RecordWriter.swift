import Foundation
import GRDB

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

/// A recording session's sink: hashes arrive from the training thread and are committed in the
/// background (CommitQueue), each step atomically with its tensor rows, chained to the step before
/// (RecordChain). A killed run leaves a readable record up to its last committed step (at most
/// `commitDelay` behind the training), status `running`. `finish` seals the record and leaves it
/// as one file; the file policy (in place, or beside an existing target and renamed) is RecordFile's.
///
/// Thread use: `endStep`, `evaluation` and `checkpoint` from one training thread; the chain state
/// below is touched only by commits, which run one at a time on the commit queue, and by `finish`
/// after the queue is flushed.
public final class RecordWriter: RecordSink, @unchecked Sendable {
    /// The path the finished record has.
    public var path: String { file.target }
    /// The path being written: `path`, or `path.partial` while an existing record is being replaced.
    public var writingPath: String { file.writing }
    /// Raw tensor bytes kept for init and the first `keepTensors - 1` steps (0: none, -1: all).
    public var keepTensors: Int

    let db: DatabaseQueue
    private let file: RecordFile
    private let inputs: [String]
    private let commits = CommitQueue(delay: commitDelay)
    /// How long the writer lets steps accumulate before committing them. A commit per step (a
    /// WAL append, page writes and the writer thread waking on the second of two cores) cost
    /// about as much as a 24 µs training step of a small model; batching 2 ms of steps into
    /// one transaction made that negligible, but still committed every step of a model whose
    /// steps take milliseconds: the MNIST CNN at two threads (8 ms steps) spent 1.9% of the
    /// process's CPU samples on the writer at 2 ms, 1.0% at 50 ms (the rest is the rows
    /// themselves). A kill loses at most this much training.
    static let commitDelay: DispatchTimeInterval = .milliseconds(50)
    /// How long `finish` keeps trying to leave the record as one file while other connections hold
    /// it open: `RecordSchema.busyTimeout`, the time every connection already waits for another's
    /// lock. Readers (`show`, `seal`, `hashes` of a running record) hold it only while they read;
    /// one that holds it longer (a `replay` of the running record) is not momentary, and the
    /// record is then left sealed in WAL mode (`RecordWALRemains`). Tests shorten it.
    var singleFileWait: TimeInterval = RecordSchema.busyTimeout
    /// The pause between two attempts to switch the WAL off: a reader process opens, reads and
    /// closes the record in milliseconds.
    static let singleFileRetryPause: useconds_t = 5_000

    /// The immutable meta rows, covered by `meta.header_checksum` and the chain's anchor.
    private let headerMeta: [String: String]
    private var artifactSHA: [String: [UInt8]] = [:]
    // Chain state (see the type's thread note).
    private var lastLink: [UInt8]?
    private var lastStep: Int?
    private var stepCount = 0
    /// Evaluations after `lastStep`: the next step's link covers them, or the seal.
    private var unlinkedEvaluations: [Evaluation] = []
    private var checkpointLink: [UInt8]?
    /// Scratch text for step texts and shape columns, reused by every commit.
    private var text = RecordText()
    private var shapeText = RecordText(capacity: 64)

    /// Creates a record at `path` and writes its header.
    /// - Parameters:
    ///   - keepTensors: keep raw tensor bytes for initialisation and the first `keepTensors - 1`
    ///     training steps (0: none; -1: all).
    ///   - overwrite: replace an existing record (a regular file, none of `inputs`): the new one is
    ///     written beside it as `<path>.partial` and renamed over it when `finish` succeeds.
    ///   - inputs: the files this run reads (config, data): never replaced.
    /// - Throws: `OutputError` when the file exists (without `overwrite`), is not a regular file, is an
    ///   input or cannot be created; `RecordReadError.locked` when another process is writing it;
    ///   `RecordCreateFailure` when the file was created but its header could not be written (the
    ///   file is removed again).
    public convenience init(path: String, header: RecordHeader, keepTensors: Int = 0, overwrite: Bool = false, inputs: [String] = []) throws {
        try self.init(path: path, makeHeader: { header }, keepTensors: keepTensors, overwrite: overwrite, inputs: inputs)
    }

    /// Creates a record whose header is made once the file is open (`makeHeader` runs after the
    /// file, its lock and its WAL exist: a caller computing part of the header on another thread,
    /// such as the data's fingerprints, has that time to do so).
    ///
    /// The file exists from the moment its lock is taken. When anything after that fails (SQLite
    /// cannot open it or write its header: a full disk, a file-size limit; `makeHeader` throws),
    /// the writer removes the file again and throws `RecordCreateFailure`: a failed creation leaves
    /// no empty record behind to block the next `record -o` to the same path, and, when replacing,
    /// no `.partial` beside the old record, which stays as it was.
    public init(path: String, makeHeader: () throws -> RecordHeader, keepTensors: Int = 0, overwrite: Bool = false, inputs: [String] = []) throws {
        let file = try RecordFile.create(path: path, replace: overwrite, inputs: inputs)
        self.file = file
        self.inputs = inputs
        self.keepTensors = keepTensors
        do {
            (db, headerMeta) = try Self.createHeader(at: file.writing, makeHeader)
        } catch {
            file.discard()
            throw RecordCreateFailure(path: file.writing, detail: "\(error)")
        }
        commits.setCommitter { [weak self] rows in try self?.commit(rows) }
    }

    /// Opens the new file at `path` in WAL mode and commits its schema and header rows; returns
    /// the connection and the header's meta rows.
    private static func createHeader(at path: String, _ makeHeader: () throws -> RecordHeader) throws -> (DatabaseQueue, [String: String]) {
        let db = try Self.open(path)
        let header = try makeHeader()
        let env = String(decoding: try JSONSerialization.data(withJSONObject: header.environment, options: [.sortedKeys]), as: UTF8.self)
        let meta: [(String, String)] = [
            ("format", RecordSchema.formatTag), ("schema_version", String(RecordSchema.version)),
            ("min_reader_version", String(RecordSchema.version)), ("config_given", header.configGiven),
            ("config_resolved", header.configResolved), ("config_path", header.configPath),
            ("semantics", header.semantics), ("level", header.level.rawValue), ("environment", env),
            ("cwrepro_version", header.cwreproVersion), ("created_at", timestamp()),
        ]
        let headerMeta = Dictionary(meta) { a, _ in a }
        try db.write { db in
            try RecordSchema.create(db)
            for (k, v) in meta { try SQLiteRows.setMeta(db, k, v) }
            try SQLiteRows.setMeta(db, "status", RecordStatus.running.name)
            try writeHeaderChecksum(db, headerMeta: headerMeta, artifactSHA: [:])
        }
        return (db, headerMeta)
    }

    /// Reopens a verified, running record to continue it after `state` (RecordWriter.resume).
    init(resuming path: String, lock: RecordLock, state: ResumeState) throws {
        file = RecordFile.resuming(path: path, lock: lock)
        inputs = []
        keepTensors = 0
        db = try Self.open(path)
        headerMeta = state.headerMeta
        artifactSHA = state.artifactSHA
        lastLink = state.lastLink
        lastStep = state.lastStep
        stepCount = state.stepCount
        unlinkedEvaluations = state.unlinkedEvaluations
        checkpointLink = state.checkpointLink
        commits.setCommitter { [weak self] rows in try self?.commit(rows) }
    }

    /// Loads and initialises, on a background thread, what creating and writing a record uses for
    /// the first time in a process (SQLite and GRDB, the Swift runtime's metadata and conformance
    /// caches for their types, Foundation's JSON and date formatting) by writing a header and a
    /// step into an in-memory database. (A second creation in one process took 2.3 ms against
    /// 5.5-5.8 ms for the first; with this warm-up a one-step recorded run ended 1.3 ms sooner on
    /// average: docs/performance.md.) Call it when a record will be written and the calling thread has other work first (a
    /// recorded run loading its data).
    public static func prepareInBackground() {
        DispatchQueue.global(qos: .userInitiated).async {
            let env = try? JSONSerialization.data(withJSONObject: ["k": "v"], options: [.sortedKeys])
            let meta: [(String, String)] = [("created_at", timestamp()), ("environment", String(decoding: env ?? Data(), as: UTF8.self))]
            guard let db = try? DatabaseQueue() else { return }
            try? db.write { db in
                try RecordSchema.create(db)
                for (k, v) in meta { try SQLiteRows.setMeta(db, k, v) }
                let summary = StepSummary(step: initStep, epoch: 0, loss: 0, lr: 0, digest: 0, wallSeconds: 0, tensorCount: 1)
                try SQLiteRows.insertStep(db, summary, checksum: 0, link: [])
                var text = RecordText(capacity: 64)
                try SQLiteRows.insertTensor(db, RecordedEvent(step: initStep, seq: 0, name: "w", role: .param, dtype: .float32, shape: [1],
                                                              hash: 0, stats: TensorStats(nonFinite: 0)), text: &text)
            }
        }
    }

    /// Now in ISO 8601 UTC (`2026-11-23T22:39:35Z`), through swift-foundation's `ISO8601FormatStyle`
    /// (the ICU-backed `ISO8601DateFormatter` took ~1 ms to create).
    static func timestamp() -> String { Date().formatted(.iso8601) }

    /// Opens the record for writing in WAL mode, synchronous NORMAL (a commit is not flushed to
    /// disk; a checkpoint, the seal's included, is).
    static func open(_ path: String) throws -> DatabaseQueue {
        var config = Configuration()
        config.journalMode = .wal
        // Readers opening the record may hold a lock for a moment: wait, never fail.
        config.busyMode = .timeout(RecordSchema.busyTimeout)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            try db.execute(sql: "PRAGMA trusted_schema = OFF")
        }
        return try DatabaseQueue(path: path, configuration: config)
    }

    private var headerText: [UInt8] { Self.headerText(headerMeta, artifactSHA) }

    private static func headerText(_ meta: [String: String], _ artifactSHA: [String: [UInt8]]) -> [UInt8] {
        RecordSchema.headerText(meta: meta, artifacts: artifactSHA.map { ($0.key, $0.value) })
    }

    private static func writeHeaderChecksum(_ db: Database, headerMeta: [String: String], artifactSHA: [String: [UInt8]]) throws {
        try SQLiteRows.setMeta(db, "header_checksum", hex64(headerText(headerMeta, artifactSHA).withUnsafeBytes { TensorHash.bytes($0) }))
    }

    /// Embeds a file the run depends on. Only before the first step: the header (artifacts
    /// included) anchors the chain.
    public func addArtifact(name: String, bytes: [UInt8]) throws {
        try commits.sync {
            guard lastLink == nil else { throw RecordWriteError.artifactAfterSteps(path, name) }
            artifactSHA[name] = RecordChain.sha256(bytes)
            try db.write { db in
                try db.execute(sql: "INSERT OR REPLACE INTO artifacts(name, bytes) VALUES (?, ?)", arguments: [name, Data(bytes)])
                try Self.writeHeaderChecksum(db, headerMeta: self.headerMeta, artifactSHA: self.artifactSHA)
            }
        }
    }

    /// Queues the training state after `step` (an opaque blob from the engine), replacing the
    /// previous checkpoint. It is committed with or after the step's rows, never before: a record
    /// never holds a checkpoint of a step it does not hold, nor one that skips an evaluation
    /// queued before it.
    public func checkpoint(step: Int, bytes: [UInt8]) throws {
        try commits.enqueue(.checkpoint(step: step, bytes: bytes))
    }

    public func wantsPayload(step: Int) -> Bool { keepTensors < 0 || step + 1 < keepTensors }
    public func event(_ e: RecordedEvent) {}
    public var shouldStop: Bool { false }

    public func endStep(_ summary: StepSummary, events: [RecordedEvent]) throws {
        try commits.enqueue(.step(summary, events))
    }

    public func evaluation(_ e: Evaluation) throws {
        try commits.enqueue(.evaluation(e))
    }

    /// Commits queued rows in one transaction, extending the chain (on the commit queue).
    private func commit(_ rows: [PendingRow]) throws {
        let lastCheckpoint = rows.lastIndex { if case .checkpoint = $0 { true } else { false } }
        var link = lastLink, step = lastStep, count = stepCount, evals = unlinkedEvaluations, ckpt = checkpointLink
        try db.write { db in
            for (i, row) in rows.enumerated() {
                switch row {
                case .step(let s, let events):
                    let expected = step.map { $0 + 1 } ?? initStep
                    guard s.step == expected else { throw RecordWriteError.outOfOrder(path, "step \(stepLabel(s.step)) after \(step.map(stepLabel) ?? "none")") }
                    var kept: [[UInt8]?] = []
                    kept.reserveCapacity(events.count)
                    for e in events { kept.append(e.payload.map { RecordChain.sha256($0) }) }
                    RecordChain.stepText(s, events, kept: { kept[$0] }, into: &text)
                    let checksum = text.bytes.withUnsafeBytes { TensorHash.bytes($0) }
                    let previous = link ?? RecordChain.anchor(headerText: headerText)
                    let newLink = RecordChain.link(previous: previous, stepText: text.bytes, evaluations: evals)
                    try SQLiteRows.insertStep(db, s, checksum: checksum, link: newLink)
                    for (e, sha) in zip(events, kept) {
                        try SQLiteRows.insertTensor(db, e, text: &shapeText)
                        if let p = e.payload, let sha { try SQLiteRows.insertPayload(db, e, p, sha256: sha) }
                    }
                    link = newLink; step = s.step; count += 1; evals = []
                case .evaluation(let e):
                    guard e.step == step else { throw RecordWriteError.outOfOrder(path, "an evaluation after step \(stepLabel(e.step)) arrived after step \(step.map(stepLabel) ?? "none")") }
                    try SQLiteRows.insertEvaluation(db, e, checksum: RecordChain.evaluationChecksum(e))
                    evals.removeAll { $0.split == e.split }
                    evals.append(e)
                case .checkpoint(let s, let bytes):
                    guard i == lastCheckpoint else { continue }   // only the newest is kept
                    guard let stepLink = s == step ? link : try Data.fetchOne(db, sql: "SELECT link FROM steps WHERE step = ?", arguments: [s]).map(Array.init)
                    else { throw RecordWriteError.outOfOrder(path, "a checkpoint after step \(stepLabel(s)), which is not recorded") }
                    let newLink = RecordChain.checkpointLink(step: s, stepLink: stepLink, bytesSHA: RecordChain.sha256(bytes))
                    try SQLiteRows.replaceCheckpoint(db, step: s, bytes: bytes, link: newLink)
                    ckpt = newLink
                }
            }
        }
        lastLink = link; lastStep = step; stepCount = count; unlinkedEvaluations = evals; checkpointLink = ckpt
    }

    /// Waits for every queued row to be committed; rethrows the first write error.
    public func flush() throws { try commits.flush() }

    /// Flushes, marks the record `complete` or `failed`, seals it, leaves it as one file (WAL
    /// checkpointed and switched off) and, when replacing, renames it over the old record; then
    /// releases the lock. A failed run is sealed `failed` even when its last steps could not be
    /// written (the reason says so).
    ///
    /// Returns nil when the record is one file. Other processes reading it (`show`, `seal` of the
    /// running record) keep SQLite from switching the WAL off; `finish` retries for up to
    /// `singleFileWait` and, when they still hold it, returns what remains beside the sealed,
    /// valid record (`RecordWALRemains`) for the caller to say so.
    @discardableResult
    public func finish(_ status: RecordStatus = .complete) throws -> RecordWALRemains? {
        var flushError: Error?
        do { try flush() } catch { flushError = error }
        var status = status
        if let flushError { status = .failed(reason: (status.failure.map { $0 + "; " } ?? "") + "could not write the last steps: \(flushError)") }
        let finishedAt = Self.timestamp()
        try commits.sync {
            try db.write { db in
                let evaluations = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM evaluations") ?? 0
                let seal = RecordChain.Seal(steps: stepCount, lastStep: lastStep, evaluations: evaluations,
                                            head: lastLink ?? RecordChain.anchor(headerText: headerText),
                                            tailEvaluations: unlinkedEvaluations, checkpointLink: checkpointLink,
                                            status: status, finishedAt: finishedAt)
                try SQLiteRows.setMeta(db, "status", status.name)
                try SQLiteRows.setMeta(db, "finished_at", finishedAt)
                if let failure = status.failure { try SQLiteRows.setMeta(db, "failure", failure) }
                try SQLiteRows.setMeta(db, "seal", seal.text)
            }
        }
        let remains = leaveAsOneFile()
        try db.close()
        try file.commit(inputs: inputs)
        file.lock.release()
        if let flushError { throw flushError }
        return remains
    }

    /// Folds the WAL into the database (a truncating checkpoint) and switches journaling to
    /// DELETE, which removes the `-wal` and `-shm` files; then checks that the mode is `delete`.
    /// Another connection with the file open (a reader) makes the switch fail at once with
    /// SQLITE_BUSY, and one inside a read transaction makes the checkpoint wait: both are retried
    /// until `singleFileWait` has passed, with a last attempt at the deadline. Returns nil when the
    /// record is one file, else what remains.
    private func leaveAsOneFile() -> RecordWALRemains? {
        let start = Date()
        let deadline = start.addingTimeInterval(singleFileWait)
        var folded = false
        while true {
            // The checkpoint waits for a reader's transaction at most until the deadline.
            let timeout = max(0, Int(deadline.timeIntervalSinceNow * 1000))
            do {
                try db.writeWithoutTransaction { db in
                    try db.execute(sql: "PRAGMA busy_timeout = \(timeout)")
                    try db.checkpoint(.truncate)
                    folded = true
                    try db.execute(sql: "PRAGMA journal_mode = DELETE")
                    let mode = try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "none"
                    guard mode.lowercased() == "delete" else { throw DatabaseError(resultCode: .SQLITE_BUSY, message: "journal mode is still \(mode)") }
                }
                return nil
            } catch {
                guard Date() < deadline else {
                    return RecordWALRemains(path: path, folded: folded, waited: Date().timeIntervalSince(start), detail: Self.sqliteWords(error))
                }
            }
            usleep(Self.singleFileRetryPause)
        }
    }

    /// SQLite's words for `error` ("database is locked"), without GRDB's statement text.
    static func sqliteWords(_ error: Error) -> String {
        guard let e = error as? DatabaseError else { return "\(error)" }
        return e.message ?? "SQLite error \(e.resultCode.rawValue)"
    }
}

/// A finished record that is not one file: other processes kept it open (readers of the running
/// record) for the whole of the writer's wait after the run ended, so SQLite could not switch its
/// write-ahead log off and `-wal` and `-shm` files remain beside it. The record is sealed and
/// reads, verifies and replays as it is; only guideline 06's "one file" is missing. `finish`
/// returns it (nothing failed); the command line prints it as a warning.
public struct RecordWALRemains: Equatable, Sendable, CustomStringConvertible {
    /// The finished record.
    public var path: String
    /// Whether the WAL was folded into the record file (the `-wal` is then empty and the file
    /// alone holds every row); false: the last rows are only in `<path>-wal`.
    public var folded: Bool
    /// Seconds the writer tried.
    public var waited: TimeInterval
    /// Why the last attempt failed, as SQLite says it.
    public var detail: String

    public init(path: String, folded: Bool, waited: TimeInterval, detail: String) {
        self.path = path; self.folded = folded; self.waited = waited; self.detail = detail
    }

    public var description: String {
        let held = "\(path) is sealed, but other processes kept it open for \(String(format: "%.1f", waited)) s after the run ended, "
            + "so its write-ahead log could not be switched off (\(detail))"
        let remains = folded
            ? "\(path)-wal (empty) and \(path)-shm remain beside it; \(path) alone holds every row"
            : "its last rows are still in \(path)-wal: keep \(path)-wal and \(path)-shm with it when you copy or move it"
        return "\(held); \(remains). Once nothing reads it, `sqlite3 \(path) 'PRAGMA journal_mode=DELETE'` makes it one file"
    }
}

/// A record whose file was created but could not be initialised (SQLite could not open it or write
/// its header: a full disk, a file-size limit, an I/O error). The writer removed the file again:
/// nothing was recorded, and an old record being replaced is untouched.
public struct RecordCreateFailure: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file that was created and removed: the record, or `<record>.partial` when replacing.
    public var path: String
    /// What failed, as SQLite or the system says it.
    public var detail: String
    public init(path: String, detail: String) { self.path = path; self.detail = detail }
    public var description: String { "cannot create the record \(path): \(detail); nothing was recorded" }
}

/// A record writer used out of order (a bug in the caller, not in the user's input).
public enum RecordWriteError: Error, CustomStringConvertible, Equatable {
    case outOfOrder(String, String)
    case artifactAfterSteps(String, String)

    public var description: String {
        switch self {
        case .outOfOrder(let p, let what): "\(p): rows arrived out of order (\(what)); the record is left as it was"
        case .artifactAfterSteps(let p, let name): "\(p): the file \(name) was embedded after the first step; embed files before training"
        }
    }
}
