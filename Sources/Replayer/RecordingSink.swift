import Foundation
import Recorder

/// Writing a record failed while recording: a full disk, a file-size limit, an I/O error (SQLite
/// reports them as error 13 "database or disk is full", 10 "disk I/O error", ...). The record
/// keeps every step committed before the failure and is left unsealed (status running), as a
/// kill would leave it, so `record --resume` continues it once the cause is removed.
public struct RecordingWriteFailure: Error, Equatable, Sendable {
    /// The file being written: the record, or `<record>.partial` when it replaces one.
    public var record: String
    /// What failed, as SQLite or the system says it.
    public var detail: String
    /// False when the record's header could not be written: nothing was recorded (the file was removed).
    public var resumable: Bool

    public init(record: String, detail: String, resumable: Bool) {
        self.record = record; self.detail = detail; self.resumable = resumable
    }
}

/// A training session's record writer, as the recorder's sink: it forwards every row and turns a
/// failure to write into `RecordingWriteFailure`, naming the file. (`RecordWriteError`, rows out
/// of order, is a bug in the caller and passes through.)
final class RecordingSink: RecordSink {
    let writer: RecordWriter
    /// What `finish` left beside the sealed record when readers kept it from being one file.
    private(set) var walRemains: RecordWALRemains?

    init(_ writer: RecordWriter) { self.writer = writer }

    /// A new record (`RecordWriter.init`). A failure after the file was created (its header could
    /// not be written) is not resumable: the writer removed the file, nothing was recorded.
    static func create(path: String, header: () throws -> RecordHeader, keepTensors: Int, overwrite: Bool, inputs: [String]) throws -> RecordingSink {
        do {
            return RecordingSink(try RecordWriter(path: path, makeHeader: header, keepTensors: keepTensors, overwrite: overwrite, inputs: inputs))
        } catch let e as RecordCreateFailure {
            throw RecordingWriteFailure(record: e.path, detail: e.detail, resumable: false)
        }
    }

    /// The underlying error's text, without the `OutputError` prefix that names the file again.
    static func detail(_ error: Error) -> String {
        if case .io(_, let why)? = error as? OutputError { return why }
        return "\(error)"
    }

    private func writing<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as RecordWriteError { throw e } catch let e as RecordingWriteFailure { throw e } catch {
            throw RecordingWriteFailure(record: writer.writingPath, detail: Self.detail(error), resumable: true)
        }
    }

    /// Embeds the run's files (init weights, batch order) before the first step.
    func embed(_ artifacts: [(name: String, bytes: [UInt8])]) throws {
        try writing { for a in artifacts { try writer.addArtifact(name: a.name, bytes: a.bytes) } }
    }

    func checkpoint(step: Int, bytes: [UInt8]) throws { try writing { try writer.checkpoint(step: step, bytes: bytes) } }

    /// Commits every queued row, then seals the record with `status`. A write failure before the
    /// seal leaves the record unsealed and resumable (`RecordingWriteFailure`); a record readers
    /// kept in WAL mode is kept in `walRemains`.
    func finish(_ status: RecordStatus) throws {
        if status == .complete { try writing { try writer.flush() } }
        walRemains = try writing { try writer.finish(status) }
    }

    // RecordSink

    func wantsPayload(step: Int) -> Bool { writer.wantsPayload(step: step) }
    func event(_ e: RecordedEvent) {}
    var shouldStop: Bool { false }
    func endStep(_ summary: StepSummary, events: [RecordedEvent]) throws { try writing { try writer.endStep(summary, events: events) } }
    func evaluation(_ e: Evaluation) throws { try writing { try writer.evaluation(e) } }
}
