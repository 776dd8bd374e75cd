/// Why a record cannot be read or trusted. The command line maps every case to exit code 3; each
/// message says what the file is and what to do.
public enum RecordReadError: Error, CustomStringConvertible, Equatable {
    case notFound(String)
    case notARecord(String, String)
    /// Another kind of file a user may mistake for a record (a config, a golden): the message says
    /// which command takes it.
    case otherFile(String, GivenFile)
    /// The record needs a reader of at least schema `needs`; this build reads up to `supported`.
    case newerSchema(String, found: Int, supported: Int)
    case corrupt(String, String)
    case truncated(String, String)
    /// The rows of one step (or what hangs on it: its evaluations, kept bytes, checkpoint) do not
    /// match their checksum or chain link.
    case tampered(String, step: Int, detail: String)
    /// The header (config, environment, versions, embedded files) does not match its checksum.
    case tamperedHeader(String, String)
    /// The record as a whole does not hold together: a missing or extra row, a missing checksum,
    /// a broken seal, schema objects cwrepro never writes.
    case tamperedRecord(String, String)
    case locked(String)

    public var description: String {
        switch self {
        case .notFound(let p): "no record at \(p): check the path (records are written by `cwrepro record`)"
        case .notARecord(let p, let why): "\(p) is not a cwrepro record (\(why))"
        case .otherFile(let p, .config): "\(p) is a config (JSON), not a record: record it first with `cwrepro record \(p)`"
        case .otherFile(let p, .stepHashes):
            "\(p) is a golden step-hash file, not a record: check a config against it with `cwrepro verify CONFIG --golden \(p)`"
        case .newerSchema(let p, let found, let supported):
            "\(p) was written by a newer cwrepro (record schema \(found)); this one reads up to schema \(supported): upgrade cwrepro to read it"
        case .corrupt(let p, let why): "\(p) is a corrupt cwrepro record: \(why)"
        case .truncated(let p, let why): "\(p) is truncated: \(why) (an interrupted copy? a killed run is readable, a cut file is not)"
        case .tampered(let p, let step, let detail):
            "\(p) has been tampered with: the rows of step \(stepLabel(step)) do not match their checksum (\(detail)); do not trust this record"
        case .tamperedHeader(let p, let detail), .tamperedRecord(let p, let detail):
            "\(p) has been tampered with: \(detail); do not trust this record"
        case .locked(let p):
            "\(p) is being written by another cwrepro process (it holds the record's lock); wait for it to finish or stop it first"
        }
    }

    /// Files given where a record was expected that cwrepro knows.
    public enum GivenFile: Equatable, Sendable {
        /// A JSON document (a train.json config).
        case config
        /// A golden written by `cwrepro hashes`.
        case stepHashes
    }

    /// True for the cases that mean the file was changed after it was written (not damaged, not foreign).
    public var isTampering: Bool {
        switch self {
        case .tampered, .tamperedHeader, .tamperedRecord: true
        default: false
        }
    }
}

/// What a record of schema 1 (written before the chain and seal) cannot prove; `RecordReader`
/// reads such records with these limits (`RecordReader.integrity`).
public enum LegacyLimit: String, CaseIterable, Sendable {
    case trailingStepsOrEvaluations = "deleted trailing steps or evaluations"
    case evaluationWithoutChecksum = "an evaluation whose checksum is NULL"
    case keptTensorValues = "edited kept tensor values"
    case statusAndFailure = "an edited status or failure text"
    case checkpointStep = "an edited checkpoint step"
    case headerWithoutChecksum = "a header whose checksum was deleted"
    case wallTimes = "edited wall times"
}

/// How much a record's integrity checks prove (after `RecordReader.verify()` passed).
public enum RecordIntegrity: Equatable, Sendable {
    /// A finished schema 2 record: every row is covered by the chain and the seal. `digest` is the
    /// detached digest of the seal (`sha256:<hex>`).
    case sealed(digest: String)
    /// A schema 2 record still running or killed: every row up to the last committed step is
    /// chained, but rows after it (trailing steps, the last evaluations) could have been deleted
    /// without a trace, as a kill would have left them.
    case unsealed
    /// A schema 1 record: rows are checksummed one by one, nothing detects the listed changes.
    case legacy([LegacyLimit])
}
