import Foundation
import GRDB

/// A `steps` row as stored, read by column index (RawRows).
struct StoredStepRow {
    var summary: StepSummary
    var checksum: UInt64
    /// The `loss` column (NULL: nil).
    var lossColumn: Double?

    /// The columns read, in this order (schema 2 adds `link`, column 9).
    static func columns(schema: Int) -> String {
        "step, epoch, loss, loss_bits, lr, digest, wall_seconds, tensor_count, checksum" + (schema >= 2 ? ", link" : "")
    }

    /// Reads the current row of `r` (selected with `columns`).
    init(_ r: RawRows) throws {
        summary = StepSummary(step: try r.int(0, "step"), epoch: try r.int(1, "epoch"),
                              loss: Float(bitPattern: UInt32(truncatingIfNeeded: try r.int(3, "loss_bits"))),
                              lr: Float(try r.double(4, "lr")), digest: UInt64(bitPattern: Int64(try r.int(5, "digest"))),
                              wallSeconds: try r.double(6, "wall_seconds"), tensorCount: try r.int(7, "tensor_count"))
        checksum = UInt64(bitPattern: Int64(try r.int(8, "checksum")))
        lossColumn = try r.doubleOrNil(2, "loss")
    }

    /// The `loss` column repeats `loss_bits` for people reading the file with sqlite3; it must say
    /// the same (NULL for a NaN loss).
    func checkLossColumn(_ path: String) throws {
        let same = summary.loss.isNaN ? lossColumn == nil : lossColumn == Double(summary.loss)
        guard same else { throw RecordReadError.tampered(path, step: summary.step, detail: "its loss column does not match its loss bits") }
    }
}

/// A `tensors` row as stored, its texts borrowed from SQLite (valid until the next row): what the
/// step checks hash, without building a `RecordedEvent` (a String and an array per row).
struct StoredTensorRow {
    var step: Int
    var seq: Int
    var name: UnsafeBufferPointer<UInt8>
    var role: TensorRole
    var dtype: DType
    /// The `shape` column's text, e.g. `[32,1,8,8]`.
    var shape: UnsafeBufferPointer<UInt8>
    var hash: UInt64
    var stats: TensorStats

    /// The columns read, in this order (schema 2 adds the statistics, columns 8 to 11).
    static func columns(schema: Int) -> String {
        "step, seq, name, role, dtype, shape, hash, nonfinite" + (schema >= 2 ? ", min, max, mean, l2" : "")
    }

}

extension StoredTensorRow {
    /// Reads the current row of `r` (selected with `columns`).
    init(_ r: RawRows, schema: Int) throws {
        step = try r.int(0, "step")
        guard let role = TensorRole(utf8: try r.text(3, "role")), let dtype = DType(utf8: try r.text(4, "dtype")) else {
            throw RecordReadError.corrupt(r.path, "unknown role or dtype in step \(stepLabel(step))")
        }
        self.role = role
        self.dtype = dtype
        let nonFinite = try r.int(7, "nonfinite")
        stats = schema >= 2
            ? TensorStats(nonFinite: nonFinite, min: try r.doubleOrNil(8, "min"), max: try r.doubleOrNil(9, "max"),
                          mean: try r.doubleOrNil(10, "mean"), l2: try r.doubleOrNil(11, "l2"))
            : TensorStats(nonFinite: nonFinite)
        seq = try r.int(1, "seq")
        name = try r.text(2, "name")
        shape = try r.text(5, "shape")
        hash = UInt64(bitPattern: Int64(try r.int(6, "hash")))
    }

    /// The row as an event (its own copies of the texts).
    var event: RecordedEvent {
        RecordedEvent(step: step, seq: seq, name: String(decoding: name, as: UTF8.self), role: role, dtype: dtype,
                      shape: RecordReader.dims(shape), hash: hash, stats: stats)
    }
}

/// What a step's rows are checked against, built row by row as they are read: the checksum text
/// (schema 2: the chain's step text, RecordChain; schema 1: RecordSchema.checksum's text), the
/// step digest's input (TensorHash.digest), the row count, whether the rows are numbered 0, 1, ...
/// and the first reduction whose order is not kept. One value serves every step of a record.
struct StepCheck {
    let schema: Int
    let path: String
    private(set) var text = RecordText(capacity: 4096)
    private var digestInput: [UInt8] = []
    private var count = 0
    private var numbered = true
    private var reductionWithoutOrder: String?

    init(schema: Int, path: String) {
        self.schema = schema
        self.path = path
        digestInput.reserveCapacity(1024)
    }

    /// Starts the text of step `s`.
    mutating func begin(_ s: StepSummary) {
        if schema >= 2 { RecordChain.appendStepHeader(s, into: &text) } else { RecordSchema.appendStepHeaderV1(s, into: &text) }
        digestInput.removeAll(keepingCapacity: true)
        count = 0
        numbered = true
        reductionWithoutOrder = nil
    }

    /// Adds the next tensor row; `kept` is the SHA-256 of its kept bytes or reduction order (schema 2).
    mutating func add(_ row: StoredTensorRow, kept: RecordChain.Link?) {
        if schema >= 2 {
            RecordChain.appendEventLine(seq: row.seq, name: row.name, role: row.role, dtype: row.dtype, shape: row.shape,
                                        hash: row.hash, stats: row.stats, kept: kept, into: &text)
            if row.role == .reduction && kept == nil && reductionWithoutOrder == nil { reductionWithoutOrder = String(decoding: row.name, as: UTF8.self) }
        } else {
            RecordSchema.appendEventLineV1(seq: row.seq, name: row.name, role: row.role, dtype: row.dtype, shape: row.shape,
                                           hash: row.hash, nonFinite: row.stats.nonFinite, into: &text)
        }
        TensorHash.appendDigestEntry(name: row.name, role: row.role.rawValue, hash: row.hash, to: &digestInput)
        if row.seq != count { numbered = false }
        count += 1
    }

    /// Checks the step against its row: the stored checksum, then the digest, row count and
    /// numbering, then that every reduction's order is kept (schema 2).
    func check(_ s: StepSummary, stored: UInt64) throws {
        let computed = text.bytes.withUnsafeBytes { TensorHash.bytes($0) }
        guard computed == stored else { throw RecordReadError.tampered(path, step: s.step, detail: "stored checksum \(hex64(stored))") }
        let digest = digestInput.withUnsafeBytes { TensorHash.bytes($0) }
        guard digest == s.digest, count == s.tensorCount, numbered else {
            throw RecordReadError.tampered(path, step: s.step, detail: "the step digest does not match its tensor hashes")
        }
        if let missing = reductionWithoutOrder {
            throw RecordReadError.tampered(path, step: s.step, detail: "the reduction order of \(missing) is missing")
        }
    }
}

extension TensorRole {
    /// The role whose raw value is `utf8`, without making a String.
    init?(utf8: UnsafeBufferPointer<UInt8>) {
        for role in Self.allCases {
            var name = role.rawValue
            if name.withUTF8({ $0.elementsEqual(utf8) }) {
                self = role
                return
            }
        }
        return nil
    }
}

extension DType {
    /// The dtype whose `name` is `utf8`.
    init?(utf8: UnsafeBufferPointer<UInt8>) {
        for t in [DType.float32, .int32, .uint32, .int64, .float64, .uint8] where t.name.utf8.elementsEqual(utf8) {
            self = t
            return
        }
        return nil
    }
}
