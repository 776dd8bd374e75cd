/// Where a recorded run stands, as the record's `meta.status` (and `meta.failure`) say.
public enum RecordStatus: Equatable, Sendable, CustomStringConvertible {
    /// Still being written, or killed before it finished (`RecordReader.writerActive` tells which).
    case running
    /// Finished every step and sealed.
    case complete
    /// Stopped early (a non-finite value, a write error) and sealed; `reason` says why.
    case failed(reason: String)

    /// The stored word: `running`, `complete` or `failed`.
    public var name: String {
        switch self {
        case .running: "running"
        case .complete: "complete"
        case .failed: "failed"
        }
    }

    public var description: String { name }

    /// Whether the run ended (complete or failed): only an ended run carries a seal.
    public var isFinished: Bool { self != .running }

    /// The failure text of a failed run.
    public var failure: String? {
        if case .failed(let reason) = self { return reason }
        return nil
    }
}
